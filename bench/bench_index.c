/*
 * bench_index.c -- `raiiaf index` throughput: files per second indexing a
 * folder of N small RAIIAF files cold (empty database), then again
 * incrementally (nothing changed), then after touching 1% of the files,
 * with raiiaf_index_set_threads() 1 and then 2, against issue 15's targets.
 *
 *   bench_index [--files N] [--dir FOLDER] [--runs R]
 *
 * The files (default 5000) are written with the C API: a (1,4,8,8) float32
 * latent and a full generation record each (prompt, model, seed, tags), no
 * image, spread over 50 subfolders.  Timings are the median of R runs
 * (default 5), each on a fresh database; the files are in FOLDER (default a
 * scratch folder on /dev/shm, else /tmp), so the numbers measure the index,
 * not the disk.  See docs/PERFORMANCE.md, "Index".
 */
#include "raiiaf.h"
#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


static void make_file(const char *path, int i)
{
    raiiaf_writer *w = NULL;
    float lat[4 * 8 * 8];
    for (int k = 0; k < 256; k++) lat[k] = (float)((i * 31 + k) % 97) / 97.0f;
    uint64_t shape[] = {1, 4, 8, 8};
    char prompt[128], num[32];
    snprintf(prompt, sizeof prompt, "a %s on a %s, picture %d", i % 3 ? "cat" : "dog", i % 2 ? "sofa" : "roof", i);
    int rc = raiiaf_writer_new(path, &w);
    if (!rc) rc = raiiaf_writer_set_env(w, RAIIAF_ENV_NONE);
    if (!rc) rc = raiiaf_writer_add_tensor(w, "final", RAIIAF_F32, 4, shape, lat, sizeof lat, RAIIAF_CODEC_RAW, 0);
    if (!rc) rc = raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/prompt", prompt);
    if (!rc) rc = raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/model_name", i % 2 ? "modelA" : "modelB");
    snprintf(num, sizeof num, "%d", 1000 + i);
    if (!rc) rc = raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/generation_settings/seed", num);
    if (!rc) rc = raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/generation_settings/steps", "20");
    if (!rc) rc = raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/tags", "[\"bench\", \"cat\"]");
    if (!rc) rc = raiiaf_writer_finish(w);
    if (rc) {
        fprintf(stderr, "bench_index: %s: %s\n", path, w ? raiiaf_writer_errmsg(w) : raiiaf_strerror(rc));
        exit(1);
    }
    raiiaf_writer_free(w);
}

/* One raiiaf_index_run() with `threads` parsing threads; 0 on success. */
static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* CPU seconds (all threads) the last run_index() took: unlike wall time,
 * hardly changed by other processes sharing the cores. */
static double last_cpu;

static int run_index(const char *db, const char *const *dirs, unsigned threads, raiiaf_index_stats *st)
{
    double c0 = cpu_s();
    raiiaf_index *idx = NULL;
    int rc = raiiaf_index_open(db, 0, &idx);
    if (!rc) rc = raiiaf_index_set_threads(idx, threads);
    if (!rc) rc = raiiaf_index_run(idx, dirs, 1, st);
    if (rc) fprintf(stderr, "bench_index: %s\n", idx ? raiiaf_index_errmsg(idx) : raiiaf_strerror(rc));
    raiiaf_index_free(idx);
    last_cpu = cpu_s() - c0;
    return rc;
}

int main(int argc, char **argv)
{
    int n = 5000, runs = 5;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--files") && i + 1 < argc) n = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
        else {
            fprintf(stderr, "usage: bench_index [--files N] [--dir FOLDER] [--runs R]\n");
            return 2;
        }
    }
    if (n < 100 || runs < 1) return 2;
    char root[512];
    snprintf(root, sizeof root, "%s/raiiaf-bench-index-XXXXXX", dir ? dir : access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    char lib[600], db[600];
    snprintf(lib, sizeof lib, "%s/lib", root);
    mkdir(lib, 0777);
    double t0 = now_s();
    char **paths = calloc((size_t)n, sizeof *paths);
    for (int i = 0; i < n; i++) {
        char sub[700];
        snprintf(sub, sizeof sub, "%s/d%02d", lib, i % 50);
        mkdir(sub, 0777);
        paths[i] = malloc(800);
        snprintf(paths[i], 800, "%s/f%05d.raiiaf", sub, i);
        make_file(paths[i], i);
    }
    printf("bench_index: %d files written in %.2f s (%s)\n", n, now_s() - t0, root);
    const char *dirs[] = {lib};
    double *cold = calloc((size_t)runs, sizeof *cold), *incr = calloc((size_t)runs, sizeof *incr),
           *touch = calloc((size_t)runs, sizeof *touch), *cold_cpu = calloc((size_t)runs, sizeof *cold_cpu),
           *incr_cpu = calloc((size_t)runs, sizeof *incr_cpu);
    printf("index, %d files, median of %d runs (issue 15 targets: cold >= 40000 files/s on 2 cores,"
           " nothing changed >= 250000 files/s):\n", n, runs);
    static const unsigned thread_counts[] = {1, 2};
    for (size_t tc = 0; tc < 2; tc++) {
        unsigned th = thread_counts[tc];
        for (int r = 0; r < runs; r++) {
            snprintf(db, sizeof db, "%s/lib-%u-%d.sqlite", root, th, r);
            raiiaf_index_stats st;
            if (run_index(db, dirs, th, &st) || st.added != (uint64_t)n) return 1;
            cold[r] = st.seconds;
            cold_cpu[r] = last_cpu;
            if (run_index(db, dirs, th, &st) || st.unchanged != (uint64_t)n) return 1;
            incr[r] = st.seconds;
            incr_cpu[r] = last_cpu;
            for (int i = 0; i < n / 100; i++) make_file(paths[(i * 97 + r) % n], i + r); /* rewritten: new mtime */
            if (run_index(db, dirs, th, &st) || st.updated + st.unchanged != (uint64_t)n) return 1;
            touch[r] = st.seconds;
        }
        qsort(cold, (size_t)runs, sizeof *cold, cmp_double);
        qsort(incr, (size_t)runs, sizeof *incr, cmp_double);
        qsort(touch, (size_t)runs, sizeof *touch, cmp_double);
        qsort(cold_cpu, (size_t)runs, sizeof *cold_cpu, cmp_double);
        qsort(incr_cpu, (size_t)runs, sizeof *incr_cpu, cmp_double);
        double c = cold[runs / 2], i = incr[runs / 2], t = touch[runs / 2];
        printf("  threads=%u  cold (empty database)        %8.3f s  %8.0f files/s%s\n", th, c, n / c,
               n / c >= 40000 ? "" : "  (below 40000)");
        printf("  threads=%u  incremental, nothing changed %8.3f s  %8.0f files/s%s\n", th, i, n / i,
               n / i >= 250000 ? "" : "  (below 250000)");
        printf("  threads=%u  incremental, 1%% rewritten    %8.3f s  %8.0f files/s\n", th, t, n / t);
        printf("  threads=%u  CPU time (all threads): cold %.3f s = %.0f files per CPU-second, nothing changed"
               " %.3f s = %.0f\n", th, cold_cpu[runs / 2], n / cold_cpu[runs / 2], incr_cpu[runs / 2],
               n / incr_cpu[runs / 2]);
    }
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) fprintf(stderr, "bench_index: could not remove %s\n", root);
    for (int k = 0; k < n; k++) free(paths[k]);
    free(paths);
    free(cold);
    free(incr);
    free(touch);
    free(cold_cpu);
    free(incr_cpu);
    return 0;
}
