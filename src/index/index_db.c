/* index_db.c -- the index database: open (schema of docs/INDEX.md, WAL,
 * busy timeout), messages, transactions. */
#include "index_impl.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SCHEMA_VERSION "2"

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE IF NOT EXISTS files("
    " id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
    " format TEXT, model TEXT, model_hash TEXT, prompt TEXT, negative_prompt TEXT, seed INTEGER, steps INTEGER,"
    " sampler TEXT, scheduler TEXT, cfg_scale REAL, width INTEGER, height INTEGER, image_format TEXT,"
    " tool TEXT, digest TEXT NOT NULL, signature TEXT NOT NULL, indexed_at INTEGER NOT NULL,"
    " signature_key TEXT, created TEXT);"
    "CREATE INDEX IF NOT EXISTS files_model ON files(model);"
    "CREATE INDEX IF NOT EXISTS files_seed ON files(seed);"
    "CREATE TABLE IF NOT EXISTS tags(file_id INTEGER NOT NULL, tag TEXT NOT NULL, PRIMARY KEY(file_id, tag));"
    "CREATE INDEX IF NOT EXISTS tags_tag ON tags(tag);"
    "CREATE TABLE IF NOT EXISTS tensors(file_id INTEGER NOT NULL, name TEXT NOT NULL, dtype TEXT, shape TEXT,"
    " codec TEXT, raw_size INTEGER, stored_size INTEGER, PRIMARY KEY(file_id, name));"
    "CREATE VIRTUAL TABLE IF NOT EXISTS prompts USING fts5(prompt, negative_prompt);"
    "INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', '" SCHEMA_VERSION "');";

int rf_index_fail(raiiaf_index *idx, int status, const char *fmt, ...)
{
    if (idx) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(idx->msg, sizeof idx->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static int busy_code(sqlite3 *db)
{
    int c = sqlite3_errcode(db);
    return c == SQLITE_BUSY || c == SQLITE_LOCKED;
}

/* 1 when the table `files` has the column `name` (0 also when there is no such table). */
static int files_has_column(raiiaf_index *idx, const char *name)
{
    sqlite3_stmt *s = NULL;
    int has = 0;
    if (sqlite3_prepare_v2(idx->db, "SELECT 1 FROM pragma_table_info('files') WHERE name = ?1", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC) == SQLITE_OK)
        has = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_finalize(s);
    return has;
}

/* Schema 1 (before 0.3.0's signature columns) -> 2, in place: the two
 * columns added, and every old row's size set to -1 so the next
 * raiiaf_index_run() reads its file again (its `signature` said "unsigned"
 * for every file).  Nothing to do when the columns are there. */
static int upgrade(raiiaf_index *idx)
{
    if (files_has_column(idx, "signature_key")) return RAIIAF_OK;
    int rc = rf_index_tx_begin(idx);
    if (rc) return rc;
    char *emsg = NULL;
    if (sqlite3_exec(idx->db,
                     "ALTER TABLE files ADD COLUMN signature_key TEXT; ALTER TABLE files ADD COLUMN created TEXT;"
                     " UPDATE files SET size = -1;"
                     " INSERT OR REPLACE INTO meta(key, value) VALUES('schema_version', '" SCHEMA_VERSION "');",
                     NULL, NULL, &emsg) != SQLITE_OK) {
        /* another process upgraded it meanwhile: the columns exist now */
        rc = rf_index_fail(idx, RAIIAF_E_IO, "%s: upgrading the index schema: %s", idx->path,
                           emsg ? emsg : sqlite3_errmsg(idx->db));
        sqlite3_free(emsg);
        sqlite3_exec(idx->db, "ROLLBACK", NULL, NULL, NULL);
        return strstr(idx->msg, "duplicate column") ? RAIIAF_OK : rc;
    }
    return rf_index_tx_commit(idx);
}

/* Switching a new database to WAL and creating the schema can meet another
 * run doing the same; SQLite's busy handler does not cover every such case,
 * so the setup is retried within the same wait. */
static int setup(raiiaf_index *idx)
{
    char *emsg = NULL;
    int rc, busy = 0;
    for (double start = now_s();;) {
        sqlite3_free(emsg);
        emsg = NULL;
        rc = sqlite3_exec(idx->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, NULL);
        if (rc == SQLITE_OK) rc = sqlite3_exec(idx->db, schema_sql, NULL, NULL, &emsg);
        busy = busy_code(idx->db);
        if (rc == SQLITE_OK || !busy || now_s() - start > RF_INDEX_BUSY_MS / 1000.0) break;
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    if (rc == SQLITE_OK) return upgrade(idx);
    rc = rf_index_fail(idx, busy ? RAIIAF_E_BUSY : RAIIAF_E_IO, "%s: %s%s", idx->path, emsg ? emsg : sqlite3_errmsg(idx->db),
                       busy ? " (another raiiaf index?); try again later" : "");
    sqlite3_free(emsg);
    return rc;
}

int raiiaf_index_open(const char *db_path, unsigned flags, raiiaf_index **out)
{
    if (!out) return RAIIAF_E_ARG;
    *out = NULL;
    raiiaf_index *idx = calloc(1, sizeof *idx);
    if (!idx) return RAIIAF_E_NOMEM;
    *out = idx;
    if (!db_path || (flags & ~RAIIAF_INDEX_READONLY))
        return rf_index_fail(idx, RAIIAF_E_ARG, "raiiaf_index_open: %s", db_path ? "unknown flags" : "no database path");
    idx->flags = flags;
    if (!(idx->path = strdup(db_path))) return rf_index_fail(idx, RAIIAF_E_NOMEM, "out of memory");
    if (flags & RAIIAF_INDEX_READONLY) {
        /* SQLite's own message for a missing file says nothing of why. */
        if (access(db_path, R_OK) != 0)
            return rf_index_fail(idx, errno == ENOENT ? RAIIAF_E_NOT_FOUND : RAIIAF_E_IO, "%s: cannot open the database: %s",
                                 db_path, strerror(errno));
        if (sqlite3_open_v2(db_path, &idx->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
            return rf_index_fail(idx, RAIIAF_E_IO, "%s: cannot open the database%s%s", db_path, idx->db ? ": " : "",
                                 idx->db ? sqlite3_errmsg(idx->db) : "");
        sqlite3_busy_timeout(idx->db, 5000);
        /* Read-only cannot upgrade schema 1 in place: say so, rather than
         * let the first query fail with SQLite's "no such column". */
        if (!files_has_column(idx, "path"))
            return rf_index_fail(idx, RAIIAF_E_VERSION, "%s: not a raiiaf index (no table 'files')", db_path);
        if (!files_has_column(idx, "signature_key"))
            return rf_index_fail(idx, RAIIAF_E_VERSION,
                                 "%s: an index of schema 1 (raiiaf 0.3.0), which a read-only open cannot upgrade: run "
                                 "`raiiaf index --db %s FOLDER` once (or open it for writing) to upgrade it to schema " SCHEMA_VERSION,
                                 db_path, db_path);
        return RAIIAF_OK;
    }
    if (sqlite3_open(db_path, &idx->db) != SQLITE_OK)
        return rf_index_fail(idx, RAIIAF_E_IO, "%s: cannot open the database: %s", db_path,
                             idx->db ? sqlite3_errmsg(idx->db) : "out of memory");
    sqlite3_busy_timeout(idx->db, RF_INDEX_BUSY_MS);
    return setup(idx);
}

void raiiaf_index_free(raiiaf_index *idx)
{
    if (!idx) return;
    if (idx->in_txn) sqlite3_exec(idx->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_stmt **s = (sqlite3_stmt **)&idx->S;
    for (size_t i = 0; i < sizeof idx->S / sizeof *s; i++) sqlite3_finalize(s[i]);
    sqlite3_close(idx->db);
    free(idx->path);
    free(idx);
}

const char *raiiaf_index_errmsg(const raiiaf_index *idx) { return idx ? idx->msg : "no index handle"; }

int raiiaf_index_set_threads(raiiaf_index *idx, unsigned threads)
{
    if (!idx) return RAIIAF_E_ARG;
    if (threads > 64) return rf_index_fail(idx, RAIIAF_E_ARG, "threads: expected 0..64, got %u", threads);
    idx->threads = threads;
    return RAIIAF_OK;
}

void raiiaf_index_set_progress(raiiaf_index *idx, raiiaf_index_progress_fn fn, void *user)
{
    if (!idx) return;
    idx->progress = fn;
    idx->progress_user = user;
}

void raiiaf_index_set_problems(raiiaf_index *idx, raiiaf_index_problem_fn fn, void *user)
{
    if (!idx) return;
    idx->problem = fn;
    idx->problem_user = user;
}

unsigned rf_index_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return (unsigned)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

int rf_index_prepare(raiiaf_index *idx)
{
    if (idx->S.find) return RAIIAF_OK;
    static const char *const sql[] = {
        "SELECT id FROM files WHERE path = ?",
        "INSERT INTO files(path, size, mtime_ns, format, model, model_hash, prompt, negative_prompt, seed, steps,"
        " sampler, scheduler, cfg_scale, width, height, image_format, tool, digest, signature, indexed_at,"
        " signature_key, created) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        "DELETE FROM tags WHERE file_id = ?",
        "DELETE FROM tensors WHERE file_id = ?",
        "DELETE FROM prompts WHERE rowid = ?",
        "DELETE FROM files WHERE id = ?",
        "INSERT OR IGNORE INTO tags(file_id, tag) VALUES(?, ?)",
        "INSERT OR REPLACE INTO tensors(file_id, name, dtype, shape, codec, raw_size, stored_size) VALUES(?,?,?,?,?,?,?)",
        "INSERT INTO prompts(rowid, prompt, negative_prompt) VALUES(?, ?, ?)",
    };
    sqlite3_stmt **sp = (sqlite3_stmt **)&idx->S;
    for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++)
        if (sqlite3_prepare_v2(idx->db, sql[i], -1, &sp[i], NULL) != SQLITE_OK) {
            int rc = rf_index_fail(idx, RAIIAF_E_IO, "%s: %s (was it made by raiiaf index?)", idx->path,
                                   sqlite3_errmsg(idx->db));
            for (size_t k = 0; k <= i; k++) {
                sqlite3_finalize(sp[k]);
                sp[k] = NULL;
            }
            return rc;
        }
    return RAIIAF_OK;
}

/* IMMEDIATE takes the write lock at the start, so a second writer waits
 * there (busy timeout) for the first one's batch; a deferred transaction
 * that has read would instead fail at once with "database is locked" when
 * it first writes, as SQLite cannot wait there without risking a deadlock. */
int rf_index_tx_begin(raiiaf_index *idx)
{
    if (sqlite3_exec(idx->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK) return RAIIAF_OK;
    if (busy_code(idx->db))
        return rf_index_fail(idx, RAIIAF_E_BUSY,
                             "%s: another process kept the database locked for %d s (another raiiaf index?); try again later",
                             idx->path, RF_INDEX_BUSY_MS / 1000);
    return rf_index_fail(idx, RAIIAF_E_IO, "%s: cannot start a transaction: %s", idx->path, sqlite3_errmsg(idx->db));
}

int rf_index_tx_commit(raiiaf_index *idx)
{
    char *emsg = NULL;
    if (sqlite3_exec(idx->db, "COMMIT", NULL, NULL, &emsg) == SQLITE_OK) return RAIIAF_OK;
    int rc = rf_index_fail(idx, busy_code(idx->db) ? RAIIAF_E_BUSY : RAIIAF_E_IO, "%s: %s", idx->path,
                           emsg ? emsg : sqlite3_errmsg(idx->db));
    sqlite3_free(emsg);
    return rc;
}

int raiiaf_index_begin(raiiaf_index *idx)
{
    if (!idx || !idx->db) return RAIIAF_E_ARG;
    if (idx->flags & RAIIAF_INDEX_READONLY) return rf_index_fail(idx, RAIIAF_E_STATE, "%s: opened read-only", idx->path);
    if (idx->in_txn) return rf_index_fail(idx, RAIIAF_E_STATE, "a transaction is already open (raiiaf_index_begin)");
    int rc = rf_index_tx_begin(idx);
    if (!rc) idx->in_txn = 1;
    return rc;
}

int raiiaf_index_commit(raiiaf_index *idx)
{
    if (!idx || !idx->db) return RAIIAF_E_ARG;
    if (!idx->in_txn) return rf_index_fail(idx, RAIIAF_E_STATE, "no transaction is open (raiiaf_index_begin)");
    int rc = rf_index_tx_commit(idx);
    if (!rc) idx->in_txn = 0;
    return rc;
}

int raiiaf_index_rollback(raiiaf_index *idx)
{
    if (!idx || !idx->db) return RAIIAF_E_ARG;
    if (!idx->in_txn) return rf_index_fail(idx, RAIIAF_E_STATE, "no transaction is open (raiiaf_index_begin)");
    idx->in_txn = 0;
    if (sqlite3_exec(idx->db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
        return rf_index_fail(idx, RAIIAF_E_IO, "%s: %s", idx->path, sqlite3_errmsg(idx->db));
    return RAIIAF_OK;
}
