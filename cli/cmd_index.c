/* cmd_index.c -- `raiiaf index`: folders of .raiiaf files -> a SQLite
 * library (docs/INDEX.md).  The library does the work (raiiaf_index_run(),
 * src/index/); here: arguments, the progress bar, messages, the summary. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "usage: raiiaf index DIR... --db LIBRARY.sqlite [--threads N] [-q] [--dask SCHEDULER_ADDRESS]\n"
    "\n"
    "Walks the folders recursively and records every .raiiaf file in the SQLite\n"
    "database (created when missing; tables described in docs/INDEX.md): path, size,\n"
    "mtime, format, model, model hash, prompts, seed, steps, sampler, CFG, tags, image\n"
    "size, tensors, the manifest's SHA-256, signature state.  Only metadata is read.\n"
    "Run it again to update: unchanged files (same size and mtime) are skipped, changed\n"
    "ones re-read, deleted ones removed.  A progress bar is drawn when stderr is a terminal.\n"
    "  --db FILE     the database\n"
    "  --threads N   threads reading new and changed files (default 0: one per CPU this\n"
    "                process may use; 1: none besides the writer)\n"
    "  -q, --quiet   no progress, no per-file messages, no summary\n"
    "  --dask ADDR   read the files on the Dask cluster whose scheduler is at ADDR\n"
    "                (tcp://host:8786): runs raiiaf.dask.main in python3 (RAIIAF_PYTHON\n"
    "                names another interpreter), which needs the raiiaf Python package and\n"
    "                dask.distributed here and on the workers.  Exit status 6 when they\n"
    "                are missing.\n";

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

typedef struct ui {
    int bar, quiet;
    double t0;
} ui;

static void progress(void *user, uint64_t done, uint64_t total)
{
    ui *u = user;
    double el = now_s() - u->t0;
    double rate = el > 0 ? done / el : 0;
    double eta = rate > 0 ? (total - done) / rate : 0;
    int width = 30, fill = total ? (int)((double)done / total * width) : width;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\r[%s] %llu/%llu files  %.0f files/s  ETA %.0fs ", bar, (unsigned long long)done,
            (unsigned long long)total, rate, eta);
    if (done == total) fputc('\n', stderr);
    fflush(stderr);
}

static void problem(void *user, const char *path, int status, const char *message)
{
    ui *u = user;
    if (u->quiet) return;
    if (u->bar) fputc('\n', stderr);
    cli_err("%s: %s", path, message);
}

int cli_index_run(const char *const *dirs, int ndirs, const char *db, unsigned threads, int show_progress, int quiet,
                  raiiaf_index_stats *st)
{
    memset(st, 0, sizeof *st);
    raiiaf_index *idx = NULL;
    ui u = {show_progress, quiet, now_s()};
    int e = raiiaf_index_open(db, 0, &idx);
    if (!e) e = raiiaf_index_set_threads(idx, threads);
    if (!e) {
        raiiaf_index_set_problems(idx, problem, &u);
        if (show_progress) raiiaf_index_set_progress(idx, progress, &u);
        e = raiiaf_index_run(idx, dirs, (size_t)ndirs, st);
    }
    if (e) cli_err("%s", idx ? raiiaf_index_errmsg(idx) : "out of memory");
    raiiaf_index_free(idx);
    if (!e) return EXIT_OK;
    return e == RAIIAF_E_BUSY ? EXIT_BUSY : e == RAIIAF_E_NOT_FOUND ? EXIT_INPUT : EXIT_SYSTEM;
}

int cmd_index(int argc, char **argv)
{
    const char *db = NULL, *dask = NULL;
    int quiet = 0, nd = 0;
    unsigned long long threads = 0;
    const char **dirs = calloc((size_t)argc + 1, sizeof *dirs);
    if (!dirs) return EXIT_SYSTEM;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int k;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            free(dirs);
            return EXIT_OK;
        }
        if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) quiet = 1;
        else if ((k = cli_opt(argc, argv, &i, "--threads", &v))) {
            if (k < 0 || cli_parse_u64(v, &threads) || threads > 64) {
                if (k > 0) cli_err("--threads: expected 0..64, got '%s'", v);
                free(dirs);
                return EXIT_USAGE;
            }
        } else if ((k = cli_opt(argc, argv, &i, "--db", &v))) {
            if (k < 0) {
                free(dirs);
                return EXIT_USAGE;
            }
            db = v;
        } else if ((k = cli_opt(argc, argv, &i, "--dask", &v))) { /* cmd_index_dask.c */
            if (k < 0) {
                free(dirs);
                return EXIT_USAGE;
            }
            dask = v;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_err("index: unknown option '%s' (see raiiaf index --help)", argv[i]);
            free(dirs);
            return EXIT_USAGE;
        } else dirs[nd++] = argv[i];
    }
    if (!db || !nd) {
        cli_err("index: %s", !db ? "no database given (--db LIBRARY.sqlite)" : "no folder given");
        free(dirs);
        return EXIT_USAGE;
    }
    if (dask) {
        int rc = index_dask(dask, db, dirs, nd, quiet);
        free(dirs);
        return rc;
    }
    raiiaf_index_stats st;
    int status = cli_index_run(dirs, nd, db, (unsigned)threads, !quiet && isatty(2), quiet, &st);
    if (!quiet && status == EXIT_OK)
        printf("%s: %llu files seen: %llu added, %llu updated, %llu unchanged, %llu removed, %llu unreadable "
               "(%.2f s, %.0f files/s)\n",
               db, (unsigned long long)st.seen, (unsigned long long)st.added, (unsigned long long)st.updated,
               (unsigned long long)st.unchanged, (unsigned long long)st.removed, (unsigned long long)st.failed, st.seconds,
               st.seconds > 0 ? st.seen / st.seconds : 0.0);
    free(dirs);
    return status == EXIT_OK && st.failed ? EXIT_INPUT : status;
}
