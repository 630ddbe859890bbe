/* api_internal.h -- what the files of the JSON API (src/serve/api*.c)
 * share: the response being filled, the long-lived API object, and the
 * helpers every endpoint uses.  Not installed. */
#ifndef RF_API_INTERNAL_H
#define RF_API_INTERNAL_H

#include "raiiaf.h"

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define API_MAX_QUERY 4096 /* bytes of query string accepted */
#define API_POOL 8         /* idle query-only index connections kept */

typedef struct resp {
    int *status;
    const char **type;
    unsigned char **body;
    size_t *size;
} resp;

/* What the checks of one file on disk found, cached by id, size and mtime:
 * a file edited or replaced gets a new mtime and is checked again. */
typedef struct api_check {
    long long id, size, mtime_ns;
    int verify_failed; /* 0 ok, 1 failed, -1 not checked yet */
    char *verify_json; /* the /verify answer's "problems" array, JSON text */
} api_check;

struct raiiaf_api {
    char *db;
    char *thumb_dir; /* DB.thumbs: thumbnails cached beside the index */
    unsigned flags;
    pthread_mutex_t mu; /* guards env, env_tried and the check table */
    raiiaf_env *env;    /* this machine, captured on the first drift asked for */
    int env_tried;
    api_check *checks; /* open addressing by id; cap a power of two */
    size_t cap, used;
    /* Query-only connections kept between requests: opening one costs
     * SQLite a parse of the whole schema, most of a small search. */
    pthread_mutex_t pool_mu;
    sqlite3 *idle[API_POOL];
    size_t nidle;
    /* Counters behind /api/stats. */
    atomic_ullong requests, thumbs_made, thumb_cache_hits, verify_runs, verify_cache_hits, edits;
};

/* api_util.c */
int api_set_body(resp *r, int status, const char *type, unsigned char *body, size_t size);
int api_json_reply(resp *r, int status, json_t *j);
int api_error(resp *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int api_query_get(const char *query, const char *key, char *out, size_t cap);
int api_parse_u64(const char *s, unsigned long long max, unsigned long long *v);
int api_file_row(sqlite3 *db, long long id, json_t **row, char **path);
int api_png_encode(const uint8_t *px, uint32_t w, uint32_t h, int gray, unsigned char **out, size_t *n);

/* api_state.c: the connection pool, the cached checks and the thumbnail cache. */
/* A connection to the index that cannot write (PRAGMA query_only, or
 * read-only where the index is not writable; busy timeout 5 s), NULL when
 * it cannot be opened; give it back with api_db_release(). */
sqlite3 *api_db_acquire(raiiaf_api *api);
void api_db_release(raiiaf_api *api, sqlite3 *db);
int api_file_key(const char *path, long long *size, long long *mtime_ns);
int api_verify(raiiaf_api *api, long long id, const char *path, int *failed, char **problems_json, int *cached);
raiiaf_env *api_current_env(raiiaf_api *api);
int api_thumb_cached(raiiaf_api *api, long long id, const char *path, unsigned char **png, size_t *n);
void api_thumb_store(raiiaf_api *api, long long id, const char *path, const unsigned char *png, size_t n);

/* api_panels.c: the detail page's panels. */
json_t *api_env_panel(raiiaf_api *api, raiiaf_reader *rd);
json_t *api_signature_panel(raiiaf_reader *rd);
json_t *api_history_panel(raiiaf_reader *rd);
const char *api_manifest_family(raiiaf_reader *rd, unsigned channels);

/* api_filters.c: the grid's filters that are not plain index columns. */
typedef struct api_filters {
    long long from_ns, to_ns; /* mtime range, -1 when open */
    char sampler[128];
    int want_signed, want_failing;
} api_filters;
int api_filters_parse(const char *query, api_filters *f, resp *r, int *done);
int api_filters_lazy(const api_filters *f);
int api_filters_keep(raiiaf_api *api, const api_filters *f, long long id, const char *path);

/* api_search.c */
int api_search(raiiaf_api *api, sqlite3 *db, const char *query, resp *r);

/* api_edit.c */
int api_edit_tags(raiiaf_api *api, const char *method, long long id, const char *query, resp *r);

#endif
