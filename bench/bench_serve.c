/*
 * bench_serve.c -- `raiiaf serve` under load on loopback: R rounds of N
 * requests (default 3 x 10000) from C concurrent clients (default 64), a
 * mix of searches (40%), file JSON (30%), thumbnails (20%, the client
 * sends the ETag it saw, as a browser does, so most are 304s) and .npy
 * downloads (10%), each on its own connection.  Prints requests/s (median
 * of the rounds), p50/p99 latency of the median round, errors (any status
 * other than 200/304), and the process's resident memory before the first
 * round and after each (flat = no leak per request).  Then the same kinds
 * of request in this process without HTTP: a long-lived raiiaf_api (index
 * connections kept) against raiiaf_api_handle (one per request), as a ratio.
 *
 *   bench_serve [--requests N] [--clients C] [--rounds R] [--image PNG]
 *
 * The library is 200 files written with the C API (a (1,4,64,64) float32
 * latent and a generation record each; the image from --image, default
 * tests/data/sd-webui.png, so run it from the source tree) in a scratch
 * folder, indexed by raiiaf_index_run.  See docs/PERFORMANCE.md, "Serve".
 */
#include "raiiaf.h"
#include "bench_util.h"
#include "cli.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FILES 200

typedef struct client {
    unsigned port;
    int n, id;
    double *lat;
    int errors;
    char etag[64];
} client;

static int request(unsigned port, const char *path, const char *etag, char *etag_out, int *status)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
        if (fd >= 0) close(fd);
        return -1;
    }
    char req[512];
    /* The Host a browser sends: the server refuses other names (DNS rebinding). */
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n%s%s%s\r\n",
                     path, port, etag ? "If-None-Match: " : "", etag ? etag : "", etag ? "\r\n" : "");
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    static __thread char buf[1 << 16];
    size_t got = 0;
    ssize_t k;
    int head_done = 0;
    *status = 0;
    while ((k = read(fd, buf + (head_done ? 0 : got), sizeof buf - 1 - (head_done ? 0 : got))) > 0) {
        if (!head_done) {
            got += (size_t)k;
            buf[got] = '\0';
            if (strstr(buf, "\r\n\r\n")) {
                head_done = 1;
                sscanf(buf, "HTTP/1.%*d %d", status);
                char *e = strstr(buf, "ETag: ");
                if (e && etag_out) sscanf(e + 6, "%63s", etag_out);
            } else if (got >= sizeof buf - 1) break;
        }
    }
    close(fd);
    return *status ? 0 : -1;
}

static void *run_client(void *arg)
{
    client *c = arg;
    rng r;
    rng_seed(&r, (uint64_t)c->id + 1);
    char path[128];
    for (int i = 0; i < c->n; i++) {
        unsigned kind = (unsigned)(rng_next(&r) % 10), fid = 1 + (unsigned)(rng_next(&r) % FILES);
        const char *etag = NULL;
        if (kind < 4) snprintf(path, sizeof path, "/api/search?q=fox&limit=60&offset=%u", (unsigned)(rng_next(&r) % 100));
        else if (kind < 7) snprintf(path, sizeof path, "/api/file/%u", fid);
        else if (kind < 9) {
            /* One file's thumbnail per client, so the ETag it holds is its own. */
            snprintf(path, sizeof path, "/api/file/%d/thumb", 1 + c->id % FILES);
            etag = c->etag[0] ? c->etag : NULL;
        } else snprintf(path, sizeof path, "/api/file/%u/tensor/latent.npy", fid);
        int st;
        double t0 = now_s();
        int e = request(c->port, path, etag, kind >= 7 && kind < 9 ? c->etag : NULL, &st);
        c->lat[i] = now_s() - t0;
        if (e || (st != 200 && st != 304)) c->errors++;
    }
    return NULL;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) v = atol(line + 6);
    if (f) fclose(f);
    return v;
}

/* Searches and file JSON through the API in this process, no HTTP: a
 * long-lived raiiaf_api (what the server holds: index connections kept
 * between requests) against raiiaf_api_handle (a new API object, so a new
 * connection, per request).  Requests/s of each, median of the rounds. */
static int in_process(const char *db, int rounds)
{
    static const char *const reqs[4][2] = {
        {"/api/search", "q=fox"}, {"/api/search", NULL}, {"/api/search", "seed=7&limit=50"}, {"/api/file/3", NULL}};
    const int per = 2000;
    double kept[20], fresh[20];
    raiiaf_api *api = NULL;
    if (raiiaf_api_open(db, 0, &api)) return 1;
    for (int r = 0; r < rounds; r++) {
        for (int mode = 0; mode < 2; mode++) {
            double t0 = now_s();
            for (int i = 0; i < per; i++) {
                int st = 0;
                const char *type;
                unsigned char *body = NULL;
                size_t n;
                int e = mode ? raiiaf_api_handle(db, reqs[i % 4][0], reqs[i % 4][1], &st, &type, &body, &n)
                             : raiiaf_api_request(api, "GET", reqs[i % 4][0], reqs[i % 4][1], &st, &type, &body, &n);
                raiiaf_free(body);
                if (e || st != 200) return fprintf(stderr, "in-process request %s failed (%d, HTTP %d)\n", reqs[i % 4][0], e, st), 1;
            }
            (mode ? fresh : kept)[r] = per / (now_s() - t0);
        }
    }
    raiiaf_api_free(api);
    double k = median(kept, rounds), f = median(fresh, rounds);
    printf("in-process API, %d requests x %d rounds (searches and file JSON): long-lived raiiaf_api %.0f requests/s, "
           "raiiaf_api_handle (a connection per request) %.0f requests/s: %.2fx\n",
           per, rounds, k, f, k / f);
    return 0;
}

int main(int argc, char **argv)
{
    int n = 10000, nc = 64, rounds = 3;
    const char *image = "tests/data/sd-webui.png";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--requests")) n = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--clients")) nc = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--rounds")) rounds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--image")) image = argv[i + 1];
    }
    if (n < nc || nc < 1 || rounds < 1 || rounds > 20) return fprintf(stderr, "bad arguments\n"), 2;
    size_t isz;
    unsigned char *img = read_whole(image, &isz);
    if (!img) return fprintf(stderr, "%s: cannot read (run from the source tree or give --image)\n", image), 2;
    char dir[] = "/tmp/raiiaf-bench-serve-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    float *lat = xmalloc(4 * 64 * 64 * sizeof *lat);
    for (int i = 0; i < FILES; i++) {
        char path[256], prompt[64];
        snprintf(path, sizeof path, "%s/f%03d.raiiaf", dir, i);
        snprintf(prompt, sizeof prompt, "a %s in snow, picture %d", i % 2 ? "fox" : "hare", i);
        gaussian_f32(lat, 4 * 64 * 64, (uint64_t)i);
        uint64_t shape[4] = {1, 4, 64, 64};
        raiiaf_writer *w;
        if (raiiaf_writer_new(path, &w) || raiiaf_writer_add_image(w, img, isz) ||
            raiiaf_writer_add_tensor(w, "latent", RAIIAF_F32, 4, shape, lat, 4 * 64 * 64 * sizeof *lat,
                                     RAIIAF_CODEC_AUTO, 0) ||
            raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/prompt", prompt) || raiiaf_writer_finish(w))
            return fprintf(stderr, "writing %s failed\n", path), 1;
        raiiaf_writer_free(w);
    }
    char db[300];
    snprintf(db, sizeof db, "%s/lib.sqlite", dir);
    const char *dirs[1] = {dir};
    raiiaf_index *idx = NULL;
    if (raiiaf_index_open(db, 0, &idx) || raiiaf_index_run(idx, dirs, 1, NULL)) return 1;
    raiiaf_index_free(idx);
    raiiaf_server *srv;
    char err[256];
    if (raiiaf_server_start(db, "127.0.0.1", 0, 4, &srv, err, sizeof err)) return fprintf(stderr, "%s\n", err), 1;
    unsigned port = raiiaf_server_port(srv);
    double *rps = xmalloc(sizeof(double) * (size_t)rounds);
    double *all = xmalloc(sizeof(double) * (size_t)n * (size_t)rounds);
    int errors = 0;
    printf("bench_serve: %d files, %d requests x %d rounds, %d clients, 4 server threads\n", FILES, n, rounds, nc);
    printf("before: RSS %ld KiB (server started, no request yet)\n", rss_kib());
    for (int r = 0; r < rounds; r++) {
        client *cs = calloc((size_t)nc, sizeof *cs);
        pthread_t *th = calloc((size_t)nc, sizeof *th);
        int per = n / nc;
        double t0 = now_s();
        for (int i = 0; i < nc; i++) {
            cs[i] = (client){.port = port, .n = per, .id = i, .lat = all + (size_t)r * n + (size_t)i * per};
            pthread_create(&th[i], NULL, run_client, &cs[i]);
        }
        for (int i = 0; i < nc; i++) {
            pthread_join(th[i], NULL);
            errors += cs[i].errors;
        }
        double dt = now_s() - t0;
        rps[r] = per * nc / dt;
        printf("round %d: %.0f requests/s, errors %d, RSS %ld KiB\n", r + 1, rps[r], errors, rss_kib());
        free(cs);
        free(th);
    }
    int per_round = (n / nc) * nc;
    double *lr = xmalloc(sizeof(double) * (size_t)per_round);
    memcpy(lr, all + (size_t)(rounds / 2) * n, sizeof(double) * (size_t)per_round);
    qsort(lr, (size_t)per_round, sizeof *lr, cmp_double);
    printf("median %.0f requests/s; latency p50 %.2f ms, p99 %.2f ms; errors %d\n", median(rps, rounds),
           lr[per_round / 2] * 1e3, lr[(size_t)(per_round * 0.99)] * 1e3, errors);
    raiiaf_server_stop(srv);
    if (in_process(db, rounds)) errors++;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) return 1;
    return errors != 0;
}
