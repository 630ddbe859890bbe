/* cmd_index.c -- `raiiaf index`: folders of .raiiaf files -> a SQLite
 * library (schema: docs/INDEX.md), from each file's metadata only (header,
 * footer, manifest: RAIIAF_READ_NO_DIGEST never touches payloads).
 * Incremental: a file whose size and mtime are unchanged is skipped, a file
 * gone from the indexed folders is removed.  Writes go in batches of 256
 * files per transaction. */
#include "cli.h"

#include <jansson.h>
#include "raiiaf_json.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "usage: raiiaf index DIR... --db LIBRARY.sqlite [-q] [--dask SCHEDULER_ADDRESS]\n"
    "\n"
    "Walks the folders recursively and records every .raiiaf file in the SQLite\n"
    "database (created when missing; tables described in docs/INDEX.md): path, size,\n"
    "mtime, format, model, model hash, prompts, seed, steps, sampler, CFG, tags, image\n"
    "size, tensors, the manifest's SHA-256, signature state.  Only metadata is read.\n"
    "Run it again to update: unchanged files (same size and mtime) are skipped, changed\n"
    "ones re-read, deleted ones removed.  A progress bar is drawn when stderr is a terminal.\n"
    "  --db FILE     the database\n"
    "  -q, --quiet   no progress, no per-file messages, no summary\n"
    "  --dask ADDR   read the files on the Dask cluster whose scheduler is at ADDR\n"
    "                (tcp://host:8786): runs raiiaf.dask.main in python3 (RAIIAF_PYTHON\n"
    "                names another interpreter), which needs the raiiaf Python package and\n"
    "                dask.distributed here and on the workers.  Exit status 6 when they\n"
    "                are missing.\n";

#define BATCH 256
#define SCHEMA_VERSION "1"

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE IF NOT EXISTS files("
    " id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
    " format TEXT, model TEXT, model_hash TEXT, prompt TEXT, negative_prompt TEXT, seed INTEGER, steps INTEGER,"
    " sampler TEXT, scheduler TEXT, cfg_scale REAL, width INTEGER, height INTEGER, image_format TEXT,"
    " tool TEXT, digest TEXT NOT NULL, signature TEXT NOT NULL, indexed_at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS files_model ON files(model);"
    "CREATE INDEX IF NOT EXISTS files_seed ON files(seed);"
    "CREATE TABLE IF NOT EXISTS tags(file_id INTEGER NOT NULL, tag TEXT NOT NULL, PRIMARY KEY(file_id, tag));"
    "CREATE INDEX IF NOT EXISTS tags_tag ON tags(tag);"
    "CREATE TABLE IF NOT EXISTS tensors(file_id INTEGER NOT NULL, name TEXT NOT NULL, dtype TEXT, shape TEXT,"
    " codec TEXT, raw_size INTEGER, stored_size INTEGER, PRIMARY KEY(file_id, name));"
    "CREATE VIRTUAL TABLE IF NOT EXISTS prompts USING fts5(prompt, negative_prompt);"
    "INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', '" SCHEMA_VERSION "');";

typedef struct found {
    char *path;
    long long size, mtime_ns;
} found;

typedef struct walk {
    found *f;
    size_t n, cap;
    int oom;
} walk;

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static void walk_dir(walk *w, const char *dir, int depth, int quiet)
{
    if (depth > 64) return;
    DIR *d = opendir(dir);
    if (!d) {
        if (!quiet) cli_err("%s: cannot read folder: %s", dir, strerror(errno));
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) && !w->oom) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        size_t n = strlen(dir) + strlen(e->d_name) + 2;
        char *p = malloc(n);
        if (!p) {
            w->oom = 1;
            break;
        }
        snprintf(p, n, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) != 0) {
            free(p);
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            walk_dir(w, p, depth + 1, quiet);
            free(p);
        } else if (S_ISREG(st.st_mode) && ends_with(e->d_name, ".raiiaf")) {
            if (w->n == w->cap) {
                size_t c = w->cap ? w->cap * 2 : 1024;
                found *nf = realloc(w->f, c * sizeof *nf);
                if (!nf) {
                    w->oom = 1;
                    free(p);
                    break;
                }
                w->f = nf;
                w->cap = c;
            }
            w->f[w->n].path = p;
            w->f[w->n].size = (long long)st.st_size;
            w->f[w->n].mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
            w->n++;
        } else free(p);
    }
    closedir(d);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static void progress(size_t done, size_t total, double t0, int final)
{
    double el = now_s() - t0;
    double rate = el > 0 ? done / el : 0;
    double eta = rate > 0 ? (total - done) / rate : 0;
    int width = 30, fill = total ? (int)((double)done / total * width) : width;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\r[%s] %zu/%zu files  %.0f files/s  ETA %.0fs ", bar, done, total, rate, eta);
    if (final) fputc('\n', stderr);
    fflush(stderr);
}

static void sha256_hex(const void *d, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned len = 0;
    if (!EVP_Digest(d, n, md, &len, EVP_sha256(), NULL) || len != 32) memset(md, 0, sizeof md);
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
}

typedef struct stmts {
    sqlite3_stmt *find, *ins, *del_tags, *del_tens, *del_fts, *del_file, *ins_tag, *ins_tens, *ins_fts;
} stmts;

static void bind_text_or_null(sqlite3_stmt *s, int i, const char *v)
{
    if (v) sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(s, i);
}

static int run(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

static void delete_rows(stmts *S, long long id)
{
    sqlite3_stmt *d[] = {S->del_tags, S->del_tens, S->del_fts, S->del_file};
    for (size_t i = 0; i < 4; i++) {
        sqlite3_bind_int64(d[i], 1, id);
        run(d[i]);
    }
}

/* Reads one file's metadata and writes its rows (replacing `old_id`'s). */
static int index_file(sqlite3 *db, stmts *S, const found *f, long long old_id, char *err, size_t errsize)
{
    raiiaf_reader *r = NULL;
    int rc = raiiaf_reader_open_file(f->path, RAIIAF_READ_NO_DIGEST, &r);
    if (rc) {
        snprintf(err, errsize, "%s", r ? raiiaf_reader_errmsg(r) : "out of memory");
        raiiaf_reader_free(r);
        return -1;
    }
    size_t mlen;
    const char *text = raiiaf_reader_manifest(r, &mlen);
    json_t *m = raiiaf_json_loadb(text, mlen, RAIIAF_JSON_PYTHON, NULL); /* format 1 too; format 2 is plain JSON */
    json_t *meta = json_object_get(m, "raiiaf_metadata");
    if (!meta) meta = m; /* format 1 manifests keep model_info at the top */
    json_t *mi = json_object_get(meta, "model_info");
    json_t *g = json_object_get(mi, "generation_settings");
    json_t *img = json_object_get(meta, "image");
    char digest[65], fmt[16];
    sha256_hex(text, mlen, digest);
    unsigned major, minor;
    raiiaf_reader_format(r, &major, &minor);
    snprintf(fmt, sizeof fmt, "%u.%u", major, minor);
    if (old_id >= 0) delete_rows(S, old_id);
    sqlite3_stmt *s = S->ins;
    sqlite3_bind_text(s, 1, f->path, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, f->size);
    sqlite3_bind_int64(s, 3, f->mtime_ns);
    sqlite3_bind_text(s, 4, fmt, -1, SQLITE_TRANSIENT);
    bind_text_or_null(s, 5, json_string_value(json_object_get(mi, "model_name")));
    bind_text_or_null(s, 6, json_string_value(json_object_get(mi, "model_hash")));
    const char *prompt = json_string_value(json_object_get(mi, "prompt"));
    const char *neg = json_string_value(json_object_get(mi, "negative_prompt"));
    bind_text_or_null(s, 7, prompt);
    bind_text_or_null(s, 8, neg);
    json_t *v;
    /* Seeds, steps and sizes are unsigned 64-bit (SPEC 5.1): their 64 bits go in
     * SQLite's signed integer, so 2^63..2^64-1 read back as n - 2^64 (search
     * converts back). */
    uint64_t u;
    if (raiiaf_json_uint64(json_object_get(g, "seed"), &u)) sqlite3_bind_int64(s, 9, (sqlite3_int64)u);
    if (raiiaf_json_uint64(json_object_get(g, "steps"), &u)) sqlite3_bind_int64(s, 10, (sqlite3_int64)u);
    bind_text_or_null(s, 11, json_string_value(json_object_get(g, "sampler")));
    bind_text_or_null(s, 12, json_string_value(json_object_get(g, "scheduler")));
    if (json_is_number(v = json_object_get(g, "cfg_scale"))) sqlite3_bind_double(s, 13, json_number_value(v));
    if (raiiaf_json_uint64(json_object_get(img, "width"), &u)) sqlite3_bind_int64(s, 14, (sqlite3_int64)u);
    if (raiiaf_json_uint64(json_object_get(img, "height"), &u)) sqlite3_bind_int64(s, 15, (sqlite3_int64)u);
    bind_text_or_null(s, 16, json_string_value(json_object_get(img, "format")));
    bind_text_or_null(s, 17, json_string_value(json_object_get(
                                 json_object_get(json_object_get(meta, "extensions"), "org.raiiaf.import"), "tool")));
    sqlite3_bind_text(s, 18, digest, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 19, "unsigned", -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 20, (long long)time(NULL));
    if (run(s)) {
        snprintf(err, errsize, "database: %s", sqlite3_errmsg(db));
        json_decref(m);
        raiiaf_reader_free(r);
        return -2;
    }
    long long id = sqlite3_last_insert_rowid(db);
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(mi, "tags"), i, t)
    {
        if (!json_is_string(t)) continue;
        sqlite3_bind_int64(S->ins_tag, 1, id);
        sqlite3_bind_text(S->ins_tag, 2, json_string_value(t), -1, SQLITE_TRANSIENT);
        run(S->ins_tag);
    }
    for (size_t k = 0; k < raiiaf_reader_tensor_count(r); k++) {
        raiiaf_tensor_info ti;
        if (raiiaf_reader_tensor_info(r, k, &ti)) continue;
        char shape[256];
        size_t p = 0;
        shape[p++] = '[';
        for (unsigned d = 0; d < ti.rank && p < sizeof shape - 24; d++)
            p += (size_t)snprintf(shape + p, sizeof shape - p, "%s%llu", d ? ", " : "", (unsigned long long)ti.shape[d]);
        shape[p++] = ']';
        shape[p] = '\0';
        sqlite3_stmt *q = S->ins_tens;
        sqlite3_bind_int64(q, 1, id);
        sqlite3_bind_text(q, 2, ti.name, -1, SQLITE_TRANSIENT);
        bind_text_or_null(q, 3, raiiaf_dtype_name(ti.dtype));
        sqlite3_bind_text(q, 4, shape, -1, SQLITE_TRANSIENT);
        bind_text_or_null(q, 5, raiiaf_codec_name(ti.codec));
        sqlite3_bind_int64(q, 6, (long long)ti.raw_size);
        sqlite3_bind_int64(q, 7, (long long)ti.stored_size);
        run(q);
    }
    sqlite3_bind_int64(S->ins_fts, 1, id);
    bind_text_or_null(S->ins_fts, 2, prompt);
    bind_text_or_null(S->ins_fts, 3, neg);
    run(S->ins_fts);
    json_decref(m);
    raiiaf_reader_free(r);
    return 0;
}

/* How long a run waits for another one holding the database (ms). */
#define DB_BUSY_MS 30000

/* Opens a write transaction.  IMMEDIATE takes the write lock at the start,
 * so a second `index` waits there (busy timeout) for the first one's
 * batch; a deferred transaction that has read would instead fail at once
 * with "database is locked" when it first writes, as SQLite cannot wait
 * there without risking a deadlock.  An exit status. */
static int begin_write(sqlite3 *db, const char *dbpath)
{
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK) return EXIT_OK;
    int code = sqlite3_errcode(db);
    if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
        cli_err("%s: another process kept the database locked for %d s (another raiiaf index?); try again later", dbpath,
                DB_BUSY_MS / 1000);
        return EXIT_BUSY;
    }
    cli_err("%s: cannot start a transaction: %s", dbpath, sqlite3_errmsg(db));
    return EXIT_SYSTEM;
}

static int cmp_found(const void *a, const void *b) { return strcmp(((const found *)a)->path, ((const found *)b)->path); }

/* Removes the rows of files under the indexed folders that the walk did
 * not find (deleted since); returns how many. */
static unsigned long long remove_gone(sqlite3 *db, stmts *S, const char *const *roots, int ndirs, const walk *w)
{
    unsigned long long removed = 0;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db, "SELECT id, path FROM files WHERE substr(path, 1, length(?1) + 1) = ?1 || '/'", -1, &q,
                           NULL) == SQLITE_OK) {
        for (int k = 0; k < ndirs; k++) {
            long long *ids = NULL;
            size_t nid = 0, cap = 0;
            sqlite3_bind_text(q, 1, roots[k], -1, SQLITE_STATIC);
            while (sqlite3_step(q) == SQLITE_ROW) {
                found key = {(char *)sqlite3_column_text(q, 1), 0, 0};
                if (bsearch(&key, w->f, w->n, sizeof *w->f, cmp_found)) continue;
                if (nid == cap) {
                    cap = cap ? cap * 2 : 64;
                    long long *n2 = realloc(ids, cap * sizeof *n2);
                    if (!n2) break;
                    ids = n2;
                }
                ids[nid++] = sqlite3_column_int64(q, 0);
            }
            sqlite3_reset(q);
            for (size_t j = 0; j < nid; j++) delete_rows(S, ids[j]);
            removed += nid;
            free(ids);
        }
        sqlite3_finalize(q);
    }
    return removed;
}

int index_run(const char *const *dirs, int ndirs, const char *dbpath, int show_progress, int quiet, index_stats *st)
{
    memset(st, 0, sizeof *st);
    double t0 = now_s();
    walk w = {0};
    char **roots = calloc((size_t)ndirs, sizeof *roots);
    if (!roots) return EXIT_SYSTEM;
    for (int i = 0; i < ndirs; i++) {
        roots[i] = realpath(dirs[i], NULL);
        if (!roots[i]) {
            cli_err("%s: %s", dirs[i], strerror(errno));
            for (int k = 0; k < i; k++) free(roots[k]);
            free(roots);
            return EXIT_INPUT;
        }
        walk_dir(&w, roots[i], 0, quiet);
    }
    int status = EXIT_OK;
    sqlite3 *db = NULL;
    stmts S = {0};
    if (w.oom) {
        cli_err("out of memory while walking the folders");
        status = EXIT_SYSTEM;
        goto done;
    }
    qsort(w.f, w.n, sizeof *w.f, cmp_found);
    if (sqlite3_open(dbpath, &db) != SQLITE_OK) {
        cli_err("%s: cannot open the database: %s", dbpath, db ? sqlite3_errmsg(db) : "out of memory");
        status = EXIT_SYSTEM;
        goto done;
    }
    sqlite3_busy_timeout(db, DB_BUSY_MS);
    char *emsg = NULL;
    /* Switching a new database to WAL and creating the schema can meet
     * another run doing the same; SQLite's busy handler does not cover
     * every such case, so the setup is retried within the same wait. */
    int setup_rc, busy = 0;
    for (double start = now_s();;) {
        sqlite3_free(emsg);
        emsg = NULL;
        setup_rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, NULL);
        if (setup_rc == SQLITE_OK) setup_rc = sqlite3_exec(db, schema_sql, NULL, NULL, &emsg);
        busy = sqlite3_errcode(db) == SQLITE_BUSY || sqlite3_errcode(db) == SQLITE_LOCKED;
        if (setup_rc == SQLITE_OK || !busy || now_s() - start > DB_BUSY_MS / 1000.0) break;
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    if (setup_rc != SQLITE_OK) {
        cli_err("%s: %s%s", dbpath, emsg ? emsg : sqlite3_errmsg(db), busy ? " (another raiiaf index?); try again later" : "");
        sqlite3_free(emsg);
        status = busy ? EXIT_BUSY : EXIT_SYSTEM;
        goto done;
    }
    static const char *const sql[] = {
        "SELECT id, size, mtime_ns FROM files WHERE path = ?",
        "INSERT INTO files(path, size, mtime_ns, format, model, model_hash, prompt, negative_prompt, seed, steps,"
        " sampler, scheduler, cfg_scale, width, height, image_format, tool, digest, signature, indexed_at)"
        " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        "DELETE FROM tags WHERE file_id = ?",
        "DELETE FROM tensors WHERE file_id = ?",
        "DELETE FROM prompts WHERE rowid = ?",
        "DELETE FROM files WHERE id = ?",
        "INSERT OR IGNORE INTO tags(file_id, tag) VALUES(?, ?)",
        "INSERT OR REPLACE INTO tensors(file_id, name, dtype, shape, codec, raw_size, stored_size) VALUES(?,?,?,?,?,?,?)",
        "INSERT INTO prompts(rowid, prompt, negative_prompt) VALUES(?, ?, ?)",
    };
    sqlite3_stmt **sp[] = {&S.find, &S.ins, &S.del_tags, &S.del_tens, &S.del_fts, &S.del_file, &S.ins_tag, &S.ins_tens, &S.ins_fts};
    for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++)
        if (sqlite3_prepare_v2(db, sql[i], -1, sp[i], NULL) != SQLITE_OK) {
            cli_err("%s: %s", dbpath, sqlite3_errmsg(db));
            status = EXIT_SYSTEM;
            goto done;
        }
    double last_draw = 0;
    if ((status = begin_write(db, dbpath)) != EXIT_OK) goto done;
    for (size_t i = 0; i < w.n; i++) {
        st->seen++;
        long long id = -1, size = -1, mtime = -1;
        sqlite3_bind_text(S.find, 1, w.f[i].path, -1, SQLITE_STATIC);
        if (sqlite3_step(S.find) == SQLITE_ROW) {
            id = sqlite3_column_int64(S.find, 0);
            size = sqlite3_column_int64(S.find, 1);
            mtime = sqlite3_column_int64(S.find, 2);
        }
        sqlite3_reset(S.find);
        if (id >= 0 && size == w.f[i].size && mtime == w.f[i].mtime_ns) {
            st->unchanged++;
        } else {
            char err[1024];
            int r = index_file(db, &S, &w.f[i], id, err, sizeof err);
            if (r == -2) { /* the database failed, not the file */
                cli_err("%s: while indexing %s: %s", dbpath, w.f[i].path, err);
                status = EXIT_SYSTEM;
                break;
            }
            if (r) {
                st->failed++;
                if (id >= 0) {
                    delete_rows(&S, id);
                    st->removed++;
                }
                if (!quiet) {
                    if (show_progress) fputc('\n', stderr);
                    cli_err("%s: skipped: %s", w.f[i].path, err);
                }
            } else if (id >= 0) st->updated++;
            else st->added++;
        }
        if ((i + 1) % BATCH == 0) {
            /* another run may take its turn between batches */
            if (sqlite3_exec(db, "COMMIT", NULL, NULL, &emsg) != SQLITE_OK) {
                cli_err("%s: %s", dbpath, emsg ? emsg : sqlite3_errmsg(db));
                sqlite3_free(emsg);
                status = EXIT_SYSTEM;
                goto done;
            }
            if ((status = begin_write(db, dbpath)) != EXIT_OK) goto done;
        }
        if (show_progress && (now_s() - last_draw > 0.1 || i + 1 == w.n)) {
            progress(i + 1, w.n, t0, 0);
            last_draw = now_s();
        }
    }
    if (show_progress) progress(w.n, w.n, t0, 1);
    if (status == EXIT_OK) st->removed += remove_gone(db, &S, (const char *const *)roots, ndirs, &w);
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, &emsg) != SQLITE_OK) {
        cli_err("%s: %s", dbpath, emsg ? emsg : sqlite3_errmsg(db));
        sqlite3_free(emsg);
        status = EXIT_SYSTEM;
    }
done:
    for (size_t i = 0; i < sizeof S / sizeof(sqlite3_stmt *); i++) sqlite3_finalize(((sqlite3_stmt **)&S)[i]);
    sqlite3_close(db);
    for (size_t i = 0; i < w.n; i++) free(w.f[i].path);
    free(w.f);
    for (int i = 0; i < ndirs; i++) free(roots[i]);
    free(roots);
    st->seconds = now_s() - t0;
    return status;
}

int cmd_index(int argc, char **argv)
{
    const char *db = NULL, *dask = NULL;
    int quiet = 0, nd = 0;
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
        else if ((k = cli_opt(argc, argv, &i, "--db", &v))) {
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
    index_stats st;
    int status = index_run(dirs, nd, db, !quiet && isatty(2), quiet, &st);
    if (!quiet && status == EXIT_OK)
        printf("%s: %llu files seen: %llu added, %llu updated, %llu unchanged, %llu removed, %llu unreadable "
               "(%.2f s, %.0f files/s)\n",
               db, st.seen, st.added, st.updated, st.unchanged, st.removed, st.failed, st.seconds,
               st.seconds > 0 ? st.seen / st.seconds : 0.0);
    free(dirs);
    return status == EXIT_OK && st.failed ? EXIT_INPUT : status;
}
