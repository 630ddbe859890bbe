/* index_impl.h -- what the files of src/index/ share: the handle, its
 * prepared statements, and the row as a jansson tree.
 *
 *   index_db.c      open, schema, busy waits, transactions, messages
 *   index_row.c     a file's reader -> its row (a JSON object)
 *   index_store.c   a row -> the tables (checked strictly first)
 *   index_scan.c    the walk, the worker threads, raiiaf_index_run()
 *   index_search.c  a query -> rows as JSON (also used by src/serve/api.c)
 *   index_remove.c  raiiaf_index_remove_path(): one path's rows dropped
 */
#ifndef RAIIAF_INDEX_IMPL_H
#define RAIIAF_INDEX_IMPL_H

#include "raiiaf.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdarg.h>

/* How long a writer waits for another one holding the database (ms). */
#define RF_INDEX_BUSY_MS 30000

typedef struct rf_index_stmts {
    sqlite3_stmt *find, *ins, *del_tags, *del_tens, *del_fts, *del_file, *ins_tag, *ins_tens, *ins_fts;
} rf_index_stmts;

struct raiiaf_index {
    sqlite3 *db;
    char *path;
    unsigned flags;
    int in_txn;      /* raiiaf_index_begin() opened one */
    unsigned threads; /* 0: the CPUs this process may use */
    raiiaf_index_progress_fn progress;
    void *progress_user;
    raiiaf_index_problem_fn problem;
    void *problem_user;
    rf_index_stmts S; /* prepared on first write */
    char msg[1024];
};

/* Sets the handle's message (printf-style) and returns `status`. */
int rf_index_fail(raiiaf_index *idx, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The writer statements, prepared once; RAIIAF_E_IO (message set) on failure. */
int rf_index_prepare(raiiaf_index *idx);
/* BEGIN IMMEDIATE / COMMIT with the library's busy wording. */
int rf_index_tx_begin(raiiaf_index *idx);
int rf_index_tx_commit(raiiaf_index *idx);
/* The CPUs this process may run on (at least 1). */
unsigned rf_index_cpus(void);

/* Builds the row of the file at `path` whose stat gave size and mtime_ns
 * (a JSON object, the keys of raiiaf_index_row_json()).  Safe on any
 * thread: no database.  On failure a RAIIAF_E_* code and a message. */
int rf_index_row_build(const char *path, long long size, long long mtime_ns, json_t **row, char *err, size_t errsize);

/* Checks a row strictly (raiiaf_index_put_row_json()'s rules); RAIIAF_OK
 * or RAIIAF_E_ARG with the JSON path in err. */
int rf_index_row_check(const json_t *row, char *err, size_t errsize);
/* Stores a checked row, replacing any row of the same path, inside the
 * caller's transaction.  *replaced (may be NULL) says whether one existed.
 * RAIIAF_E_IO (message on the handle) when the database fails. */
int rf_index_row_store(raiiaf_index *idx, const json_t *row, int *replaced);
/* Deletes the rows of file `id` (all four tables). */
int rf_index_row_delete(raiiaf_index *idx, long long id);

/* Runs a query over an open connection; fn gets each row as a JSON
 * object (the caller's to keep: it takes the reference).  fn returning
 * non-zero stops.  RAIIAF_E_ARG (bad field, refused full-text query) or
 * RAIIAF_E_IO, with a message in err. */
typedef int (*rf_index_json_fn)(void *user, json_t *row);
int rf_index_query(sqlite3 *db, const raiiaf_index_query *q, rf_index_json_fn fn, void *user, uint64_t *matched, char *err,
                   size_t errsize);
/* A row of `files` (any columns, by their names) as a JSON object; seed,
 * steps, width and height as the unsigned 64-bit numbers they stand for. */
json_t *rf_index_files_row(sqlite3_stmt *s);
/* The sorted tags of file `id`. */
json_t *rf_index_tags(sqlite3 *db, long long id);

#endif
