/* api_state.c -- what the JSON API keeps between requests: this machine's
 * environment (captured once, for drift), the verification state of
 * each file (cached by id, size and mtime: an edited or replaced
 * file is checked again), and thumbnails cached on disk in DB.thumbs/
 * beside the index database, never beside the originals. */
#include "api_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

int raiiaf_api_open(const char *db_path, unsigned flags, raiiaf_api **out)
{
    if (!db_path || !out || (flags & ~RAIIAF_API_ALLOW_EDIT)) return RAIIAF_E_ARG;
    *out = NULL;
    raiiaf_api *a = calloc(1, sizeof *a);
    if (!a) return RAIIAF_E_NOMEM;
    size_t n = strlen(db_path);
    a->db = strdup(db_path);
    a->thumb_dir = malloc(n + 8);
    int mu = !a->db || !a->thumb_dir ? -1 : pthread_mutex_init(&a->mu, NULL);
    if (mu || pthread_mutex_init(&a->pool_mu, NULL)) {
        if (!mu) pthread_mutex_destroy(&a->mu);
        free(a->db);
        free(a->thumb_dir);
        free(a);
        return RAIIAF_E_NOMEM;
    }
    snprintf(a->thumb_dir, n + 8, "%s.thumbs", db_path);
    a->flags = flags;
    *out = a;
    return RAIIAF_OK;
}

void raiiaf_api_free(raiiaf_api *a)
{
    if (!a) return;
    for (size_t i = 0; i < a->cap; i++) free(a->checks[i].verify_json);
    free(a->checks);
    raiiaf_env_free(a->env);
    for (size_t i = 0; i < a->nidle; i++) sqlite3_close(a->idle[i]);
    pthread_mutex_destroy(&a->pool_mu);
    pthread_mutex_destroy(&a->mu);
    free(a->db);
    free(a->thumb_dir);
    free(a);
}

sqlite3 *api_db_acquire(raiiaf_api *a)
{
    for (;;) {
        sqlite3 *db = NULL;
        pthread_mutex_lock(&a->pool_mu);
        if (a->nidle) db = a->idle[--a->nidle];
        pthread_mutex_unlock(&a->pool_mu);
        if (!db) break;
        /* An index deleted or renamed and made again must not be served
         * from a connection to the old file. */
        int moved = 1;
        if (sqlite3_file_control(db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK && !moved) return db;
        sqlite3_close(db);
    }
    /* Read-write but query-only where the database is writable: a
     * read-only connection to a WAL database whose -shm file is gone (the
     * last writer closed) cannot trust a shared wal-index and parses the
     * schema again at every transaction, most of a small search's time. */
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(a->db, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA query_only = 1", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        db = NULL;
        if (sqlite3_open_v2(a->db, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
            sqlite3_close(db);
            return NULL;
        }
    }
    sqlite3_busy_timeout(db, 5000);
    return db;
}

void api_db_release(raiiaf_api *a, sqlite3 *db)
{
    if (!db) return;
    /* Only a connection with no transaction open and no statement
     * running goes back (FTS5 keeps statements of its own prepared). */
    int clean = sqlite3_get_autocommit(db);
    for (sqlite3_stmt *s = sqlite3_next_stmt(db, NULL); s && clean; s = sqlite3_next_stmt(db, s))
        if (sqlite3_stmt_busy(s)) clean = 0;
    pthread_mutex_lock(&a->pool_mu);
    if (clean && a->nidle < API_POOL) {
        a->idle[a->nidle++] = db;
        db = NULL;
    }
    pthread_mutex_unlock(&a->pool_mu);
    sqlite3_close(db);
}

int api_file_key(const char *path, long long *size, long long *mtime_ns)
{
    struct stat st;
    if (stat(path, &st)) return -1;
    *size = (long long)st.st_size;
    *mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    return 0;
}

raiiaf_env *api_current_env(raiiaf_api *a)
{
    pthread_mutex_lock(&a->mu);
    if (!a->env_tried) {
        a->env_tried = 1;
        if (raiiaf_env_capture(RAIIAF_ENV_DEFAULT, &a->env)) {
            raiiaf_env_free(a->env);
            a->env = NULL;
        }
    }
    raiiaf_env *e = a->env; /* never changed once captured: usable unlocked */
    pthread_mutex_unlock(&a->mu);
    return e;
}

/* The slot for id (under the lock): its entry, or the empty slot to fill. */
static api_check *slot(raiiaf_api *a, long long id)
{
    size_t mask = a->cap - 1, i = (size_t)((unsigned long long)id * 0x9E3779B97F4A7C15ULL >> 20) & mask;
    while (a->checks[i].id && a->checks[i].id != id) i = (i + 1) & mask;
    return &a->checks[i];
}

static int grow(raiiaf_api *a)
{
    if (a->cap && (a->used + 1) * 2 <= a->cap) return 0;
    size_t ncap = a->cap ? a->cap * 2 : 64;
    api_check *old = a->checks, *nt = calloc(ncap, sizeof *nt);
    if (!nt) return -1;
    size_t ocap = a->cap;
    a->checks = nt;
    a->cap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].id) *slot(a, old[i].id) = old[i];
    free(old);
    return 0;
}

/* The cached entry of file id as it is on disk now, made (unchecked) when
 * missing or stale; NULL when memory ran out.  Under the lock. */
static api_check *entry(raiiaf_api *a, long long id, long long size, long long mtime)
{
    if (id <= 0) return NULL;
    if (grow(a)) return NULL;
    api_check *c = slot(a, id);
    if (!c->id) a->used++;
    else if (c->size == size && c->mtime_ns == mtime) return c;
    free(c->verify_json);
    *c = (api_check){.id = id, .size = size, .mtime_ns = mtime, .verify_failed = -1};
    return c;
}

static void collect_problem(void *ctx, int status, const char *message)
{
    json_array_append_new(ctx, json_pack("{ss ss}", "status", raiiaf_strerror(status), "message", message));
}

int api_verify(raiiaf_api *a, long long id, const char *path, int *failed, char **problems_json, int *cached)
{
    long long size, mtime;
    if (problems_json) *problems_json = NULL;
    *cached = 0;
    if (api_file_key(path, &size, &mtime)) return RAIIAF_E_IO;
    pthread_mutex_lock(&a->mu);
    api_check *c = entry(a, id, size, mtime);
    int known = c && c->verify_failed >= 0 && c->verify_json;
    if (known) {
        *failed = c->verify_failed;
        if (problems_json && !(*problems_json = strdup(c->verify_json))) known = 0;
    }
    pthread_mutex_unlock(&a->mu);
    if (known) {
        atomic_fetch_add(&a->verify_cache_hits, 1);
        *cached = 1;
        return RAIIAF_OK;
    }
    /* Reads every payload: outside the lock, so other requests go on. */
    atomic_fetch_add(&a->verify_runs, 1);
    raiiaf_reader *rd = NULL;
    json_t *problems = json_array();
    int e = raiiaf_reader_open_file(path, 0, &rd);
    if (e) json_array_append_new(problems, json_pack("{ss ss}", "status", raiiaf_strerror(e), "message",
                                                     rd ? raiiaf_reader_errmsg(rd) : "out of memory"));
    else e = raiiaf_reader_verify(rd, collect_problem, problems);
    raiiaf_reader_free(rd);
    char *text = json_dumps(problems, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(problems);
    if (!text) return RAIIAF_E_NOMEM;
    *failed = e != RAIIAF_OK;
    pthread_mutex_lock(&a->mu);
    if ((c = entry(a, id, size, mtime))) {
        free(c->verify_json);
        c->verify_json = strdup(text);
        c->verify_failed = *failed;
    }
    pthread_mutex_unlock(&a->mu);
    if (problems_json) *problems_json = text;
    else free(text);
    return RAIIAF_OK;
}

/* DB.thumbs/ID/SIZE-MTIME.png: the name changes whenever the file does;
 * `folder` (may be NULL) gets DB.thumbs/ID. */
static int thumb_path(raiiaf_api *a, long long id, const char *path, char *out, size_t cap, char *folder)
{
    long long size, mtime;
    if (api_file_key(path, &size, &mtime)) return -1;
    int n = snprintf(out, cap, "%s/%lld/%lld-%lld.png", a->thumb_dir, id, size, mtime);
    if (folder) snprintf(folder, cap, "%s/%lld", a->thumb_dir, id);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

#define THUMB_CACHE_MAX (4u << 20) /* a 256-pixel PNG is far smaller; a larger file is not ours */

int api_thumb_cached(raiiaf_api *a, long long id, const char *path, unsigned char **png, size_t *n)
{
    char p[4200];
    if (thumb_path(a, id, path, p, sizeof p, NULL)) return -1;
    FILE *f = fopen(p, "rb");
    if (!f) return -1;
    unsigned char *buf = NULL;
    struct stat st;
    int ok = !fstat(fileno(f), &st) && st.st_size > 8 && (unsigned long long)st.st_size <= THUMB_CACHE_MAX &&
             (buf = malloc((size_t)st.st_size)) && fread(buf, 1, (size_t)st.st_size, f) == (size_t)st.st_size &&
             !memcmp(buf, "\x89PNG\r\n\x1a\n", 8);
    fclose(f);
    if (!ok) {
        free(buf);
        return -1;
    }
    atomic_fetch_add(&a->thumb_cache_hits, 1);
    *png = buf;
    *n = (size_t)st.st_size;
    return 0;
}

void api_thumb_store(raiiaf_api *a, long long id, const char *path, const unsigned char *png, size_t n)
{
    char p[4200], folder[4200], err[256];
    if (thumb_path(a, id, path, p, sizeof p, folder)) return;
    /* A cache: a folder that cannot be made (read-only place) only costs speed. */
    if (mkdir(a->thumb_dir, 0700) && errno != EEXIST) return;
    if (mkdir(folder, 0700) && errno != EEXIST) return;
    if (raiiaf_write_file(p, png, n, err, sizeof err)) return;
    /* The file's older thumbnails (before an edit or a replacement) go: one
     * per file is kept, not one per version. */
    const char *mine = strrchr(p, '/') + 1;
    DIR *d = opendir(folder);
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (de->d_name[0] != '.' && strcmp(de->d_name, mine)) unlinkat(dirfd(d), de->d_name, 0);
    if (d) closedir(d);
}
