/* fuzz_serve_api.c -- libFuzzer harness for `raiiaf serve`'s request
 * handling: input is "PATH\nQUERY" (raw, %-encoded, as a browser sends it)
 * given to raiiaf_api_request over a small index made once at start (one
 * file with a 4x8x8 float32 latent, indexed by raiiaf_index_run); a PATH that
 * starts with "POST " or "DELETE " is sent with that method (the API
 * object is read-only: edits must be refused, the file never changes).
 *
 * Every request must get a response with an HTTP status 200..599, and every
 * 4xx/5xx must be a JSON object with an "error" string. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "raiiaf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char db[4096];
static raiiaf_api *api; /* one per run, as the server holds it: its caches are fuzzed too */
static char tmpdir[64];

static void remove_index(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd)) {
    }
}

static void make_index(void)
{
    char dir[] = "/tmp/raiiaf-fuzz-serve-XXXXXX";
    if (!mkdtemp(dir)) abort();
    snprintf(tmpdir, sizeof tmpdir, "%s", dir);
    atexit(remove_index);
    char path[4200];
    snprintf(path, sizeof path, "%s/a.raiiaf", dir);
    float lat[256];
    for (int i = 0; i < 256; i++) lat[i] = (float)(i % 17) / 8.0f - 1.0f;
    uint64_t shape[3] = {4, 8, 8};
    raiiaf_writer *w;
    if (raiiaf_writer_new(path, &w) || raiiaf_writer_add_tensor(w, "latent", RAIIAF_F32, 3, shape, lat, sizeof lat,
                                                                RAIIAF_CODEC_RAW, 0) ||
        raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/prompt", "a fox") || raiiaf_writer_finish(w))
        abort();
    raiiaf_writer_free(w);
    snprintf(db, sizeof db, "%s/lib.sqlite", dir);
    const char *dirs[1] = {dir};
    raiiaf_index *idx = NULL;
    if (raiiaf_index_open(db, 0, &idx) || raiiaf_index_run(idx, dirs, 1, NULL)) abort();
    raiiaf_index_free(idx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!db[0]) {
        make_index();
        if (raiiaf_api_open(db, 0, &api)) abort();
    }
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *nl = strchr(buf, '\n');
    const char *query = NULL;
    if (nl) {
        *nl = '\0';
        query = nl + 1;
    }
    int status = 0;
    const char *type = NULL;
    unsigned char *body = NULL;
    size_t n = 0;
    const char *method = "GET", *path = buf;
    if (!strncmp(buf, "POST ", 5)) method = "POST", path = buf + 5;
    else if (!strncmp(buf, "DELETE ", 7)) method = "DELETE", path = buf + 7;
    int rc = raiiaf_api_request(api, method, path, query, &status, &type, &body, &n);
    if (rc == RAIIAF_OK && strcmp(method, "GET") && status < 400) __builtin_trap(); /* an edit got through */
    if (rc == RAIIAF_OK) {
        if (status < 200 || status > 599 || !type || (!body && n)) __builtin_trap();
        if (status >= 400) {
            json_t *j = json_loadb((const char *)body, n, 0, NULL);
            if (!j || !json_is_string(json_object_get(j, "error"))) __builtin_trap();
            json_decref(j);
        }
    } else if (rc != RAIIAF_E_NOMEM) {
        __builtin_trap();
    }
    raiiaf_free(body);
    free(buf);
    return 0;
}
