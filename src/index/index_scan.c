/* index_scan.c -- raiiaf_index_run(): walk the folders, compare with what
 * the index holds (size and mtime), read new and changed files on worker
 * threads, store them from the calling thread in path order, remove rows
 * of files that are gone.
 *
 * Threads (issue 15): up to 64 workers open and parse files (index_row.c:
 * no database there) into a ring of RING slots; a worker takes job i only
 * once the writer is done with job i - RING, so memory stays bounded
 * however many files there are.  The one SQLite connection is used by the
 * calling thread only, which stores rows in the walk's order, so the
 * tables come out the same whatever the thread count. */
#include "index_impl.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define BATCH 256 /* files per write transaction: another run may take its turn between them */
#define RING 256  /* parsed files waiting for the writer, at most */
#define MAX_DEPTH 64

typedef struct found {
    char *path;
    long long size, mtime_ns;
    long long old_id; /* its row, -1 when none */
} found;

typedef struct walk {
    found *f;
    size_t n, cap;
    int oom;
    raiiaf_index *idx;
} walk;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static void problem(raiiaf_index *idx, const char *path, int status, const char *msg)
{
    if (idx->problem) idx->problem(idx->problem_user, path, status, msg);
}

static int ends_with(const char *s, size_t a, const char *suf)
{
    size_t b = strlen(suf);
    return a >= b && !memcmp(s + a - b, suf, b);
}

static void walk_dir(walk *w, const char *dir, int depth)
{
    if (depth > MAX_DEPTH) return;
    DIR *d = opendir(dir);
    if (!d) {
        char msg[256];
        snprintf(msg, sizeof msg, "cannot read folder: %s", strerror(errno));
        problem(w->idx, dir, RAIIAF_E_IO, msg);
        return;
    }
    size_t dl = strlen(dir);
    struct dirent *e;
    while ((e = readdir(d)) && !w->oom) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        size_t nl = strlen(e->d_name);
        /* d_type spares a stat for every file that is not .raiiaf */
        if (e->d_type != DT_UNKNOWN && e->d_type != DT_DIR && !(e->d_type == DT_REG && ends_with(e->d_name, nl, ".raiiaf")))
            continue;
        char *p = malloc(dl + nl + 2);
        if (!p) {
            w->oom = 1;
            break;
        }
        memcpy(p, dir, dl);
        p[dl] = '/';
        memcpy(p + dl + 1, e->d_name, nl + 1);
        struct stat st;
        if (lstat(p, &st) != 0) {
            free(p);
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            walk_dir(w, p, depth + 1);
            free(p);
        } else if (S_ISREG(st.st_mode) && ends_with(e->d_name, nl, ".raiiaf")) {
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
            w->f[w->n++] = (found){p, (long long)st.st_size,
                                   (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec, -1};
        } else free(p);
    }
    closedir(d);
}

static int cmp_found(const void *a, const void *b) { return strcmp(((const found *)a)->path, ((const found *)b)->path); }

/* ---- the worker pool ---- */

typedef struct slot {
    json_t *row;
    int rc;
    char err[1024];
} slot;

typedef struct pool {
    const found *const *todo; /* the files to read, in order */
    size_t n;
    slot *slots; /* RING of them */
    size_t next;    /* the next job a worker takes */
    size_t written; /* jobs the writer is done with */
    unsigned char *ready;
    int stop;
    pthread_mutex_t mu;
    pthread_cond_t job_ready, slot_free;
} pool;

static void read_job(const found *f, slot *s)
{
    s->err[0] = '\0';
    s->rc = rf_index_row_build(f->path, f->size, f->mtime_ns, &s->row, s->err, sizeof s->err);
}

static void *worker(void *arg)
{
    pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->next < p->n && p->next >= p->written + RING) pthread_cond_wait(&p->slot_free, &p->mu);
        if (p->stop || p->next >= p->n) break;
        size_t i = p->next++;
        pthread_mutex_unlock(&p->mu);
        read_job(p->todo[i], &p->slots[i % RING]);
        pthread_mutex_lock(&p->mu);
        p->ready[i % RING] = 1;
        pthread_cond_broadcast(&p->job_ready);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* ---- the writer ---- */

typedef struct run_state {
    raiiaf_index *idx;
    raiiaf_index_stats *st;
    size_t total, done, since_commit;
    double t0, last_draw;
} run_state;

static void tick(run_state *rs, int final)
{
    if (!rs->idx->progress) return;
    double t = now_s();
    if (!final && (t - rs->last_draw < 0.1 || rs->done == rs->total)) return; /* the end is drawn once */
    rs->last_draw = t;
    rs->idx->progress(rs->idx->progress_user, rs->done, rs->total);
}

/* Commits every BATCH files and opens the next write transaction. */
static int maybe_commit(run_state *rs)
{
    if (++rs->since_commit < BATCH) return RAIIAF_OK;
    rs->since_commit = 0;
    int rc = rf_index_tx_commit(rs->idx);
    return rc ? rc : rf_index_tx_begin(rs->idx);
}

/* Stores one read file (or counts its failure); a database failure ends the run. */
static int store_one(run_state *rs, const found *f, slot *s)
{
    raiiaf_index_stats *st = rs->st;
    int rc = RAIIAF_OK;
    if (s->rc) {
        st->failed++;
        if (f->old_id >= 0) {
            rc = rf_index_row_delete(rs->idx, f->old_id);
            st->removed++;
        }
        char msg[1100];
        snprintf(msg, sizeof msg, "skipped: %s", s->err);
        problem(rs->idx, f->path, s->rc, msg);
    } else {
        int replaced = 0;
        rc = rf_index_row_store(rs->idx, s->row, &replaced);
        if (!rc) {
            if (replaced) st->updated++;
            else st->added++;
        } else if (sqlite3_errcode(rs->idx->db) == SQLITE_BUSY || sqlite3_errcode(rs->idx->db) == SQLITE_LOCKED) {
            /* the database's state, not this file's */
            rc = rf_index_fail(rs->idx, RAIIAF_E_BUSY, "%s: the database is locked by another process (another raiiaf"
                               " index?); try again later", rs->idx->path);
        } else
            rf_index_fail(rs->idx, rc, "%s: while indexing %s: database: %s", rs->idx->path, f->path,
                          sqlite3_errmsg(rs->idx->db));
    }
    json_decref(s->row);
    s->row = NULL;
    rs->done++;
    tick(rs, 0);
    return rc ? rc : maybe_commit(rs);
}

static unsigned workers_for(const raiiaf_index *idx, size_t jobs)
{
    unsigned n = idx->threads;
    if (!n) {
        n = rf_index_cpus();
        if (n > 64) n = 64;
        if (jobs < 64) n = 1; /* a handful of files is not worth a thread */
    }
    if (n > jobs) n = jobs ? (unsigned)jobs : 1;
    return n;
}

static int read_and_store(run_state *rs, const found *const *todo, size_t n)
{
    unsigned nw = workers_for(rs->idx, n);
    if (nw <= 1) {
        slot s;
        for (size_t i = 0; i < n; i++) {
            read_job(todo[i], &s);
            int rc = store_one(rs, todo[i], &s);
            if (rc) return rc;
        }
        return RAIIAF_OK;
    }
    pool P = {.todo = todo, .n = n};
    P.slots = calloc(RING, sizeof *P.slots);
    P.ready = calloc(RING, 1);
    pthread_t th[64];
    unsigned started = 0;
    int rc = RAIIAF_OK;
    if (!P.slots || !P.ready) {
        free(P.slots);
        free(P.ready);
        return rf_index_fail(rs->idx, RAIIAF_E_NOMEM, "out of memory");
    }
    pthread_mutex_init(&P.mu, NULL);
    pthread_cond_init(&P.job_ready, NULL);
    pthread_cond_init(&P.slot_free, NULL);
    for (unsigned k = 0; k < nw; k++)
        if (pthread_create(&th[started], NULL, worker, &P) == 0) started++;
    if (!started) rc = rf_index_fail(rs->idx, RAIIAF_E_NOMEM, "cannot start a worker thread");
    for (size_t i = 0; i < n && !rc; i++) {
        pthread_mutex_lock(&P.mu);
        while (!P.ready[i % RING]) pthread_cond_wait(&P.job_ready, &P.mu);
        pthread_mutex_unlock(&P.mu);
        rc = store_one(rs, todo[i], &P.slots[i % RING]);
        pthread_mutex_lock(&P.mu);
        P.ready[i % RING] = 0;
        P.written = i + 1;
        pthread_cond_broadcast(&P.slot_free);
        pthread_mutex_unlock(&P.mu);
    }
    pthread_mutex_lock(&P.mu);
    P.stop = 1;
    pthread_cond_broadcast(&P.slot_free);
    pthread_mutex_unlock(&P.mu);
    for (unsigned k = 0; k < started; k++) pthread_join(th[k], NULL);
    /* rows read ahead of a failed write */
    for (size_t k = 0; k < RING; k++) json_decref(P.slots[k].row);
    pthread_mutex_destroy(&P.mu);
    pthread_cond_destroy(&P.job_ready);
    pthread_cond_destroy(&P.slot_free);
    free(P.slots);
    free(P.ready);
    return rc;
}

/* 1 when `path` lies under one of the roots. */
static int under_roots(const char *path, char *const *roots, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        size_t l = strlen(roots[k]);
        if (!strncmp(path, roots[k], l) && path[l] == '/') return 1;
    }
    return 0;
}

/* Matches the walk (sorted) against the rows (read in path order, the same
 * byte order): sets old_id of files that have a row, lists the files to
 * read (new or changed) in todo, and the ids of rows under the roots whose
 * file is gone in *gone. */
static int compare(raiiaf_index *idx, walk *w, char *const *roots, size_t nroots, const found ***todo, size_t *ntodo,
                   long long **gone, size_t *ngone, raiiaf_index_stats *st)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(idx->db, "SELECT id, path, size, mtime_ns FROM files ORDER BY path", -1, &q, NULL) != SQLITE_OK)
        return rf_index_fail(idx, RAIIAF_E_IO, "%s: %s (was it made by raiiaf index?)", idx->path, sqlite3_errmsg(idx->db));
    *todo = malloc((w->n ? w->n : 1) * sizeof **todo);
    size_t gcap = 64, i = 0;
    *gone = malloc(gcap * sizeof **gone);
    *ntodo = *ngone = 0;
    if (!*todo || !*gone) {
        sqlite3_finalize(q);
        return rf_index_fail(idx, RAIIAF_E_NOMEM, "out of memory");
    }
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *p = (const char *)sqlite3_column_text(q, 1);
        if (!p) continue;
        int c = 1;
        while (i < w->n && (c = strcmp(w->f[i].path, p)) < 0) (*todo)[(*ntodo)++] = &w->f[i++];
        if (c == 0) {
            found *f = &w->f[i++];
            f->old_id = sqlite3_column_int64(q, 0);
            if (f->size == sqlite3_column_int64(q, 2) && f->mtime_ns == sqlite3_column_int64(q, 3)) st->unchanged++;
            else (*todo)[(*ntodo)++] = f;
        } else if (under_roots(p, roots, nroots)) {
            if (*ngone == gcap) {
                long long *g = realloc(*gone, (gcap *= 2) * sizeof *g);
                if (!g) {
                    sqlite3_finalize(q);
                    return rf_index_fail(idx, RAIIAF_E_NOMEM, "out of memory");
                }
                *gone = g;
            }
            (*gone)[(*ngone)++] = sqlite3_column_int64(q, 0);
        }
    }
    while (i < w->n) (*todo)[(*ntodo)++] = &w->f[i++];
    if (rc != SQLITE_DONE) rc = rf_index_fail(idx, RAIIAF_E_IO, "%s: %s", idx->path, sqlite3_errmsg(idx->db));
    else rc = RAIIAF_OK;
    sqlite3_finalize(q);
    return rc;
}

int raiiaf_index_run(raiiaf_index *idx, const char *const *dirs, size_t ndirs, raiiaf_index_stats *st)
{
    raiiaf_index_stats dummy;
    if (!st) st = &dummy;
    memset(st, 0, sizeof *st);
    if (!idx || !idx->db || (!dirs && ndirs)) return rf_index_fail(idx, RAIIAF_E_ARG, "raiiaf_index_run: bad arguments");
    if (idx->flags & RAIIAF_INDEX_READONLY) return rf_index_fail(idx, RAIIAF_E_STATE, "%s: opened read-only", idx->path);
    if (idx->in_txn) return rf_index_fail(idx, RAIIAF_E_STATE, "raiiaf_index_run inside raiiaf_index_begin()");
    idx->msg[0] = '\0';
    run_state rs = {.idx = idx, .st = st, .t0 = now_s()};
    walk w = {.idx = idx};
    const found **todo = NULL;
    long long *gone = NULL;
    size_t ntodo = 0, ngone = 0, nroots = 0;
    int rc = RAIIAF_OK, in_tx = 0;
    char **roots = calloc(ndirs ? ndirs : 1, sizeof *roots);
    if (!roots) return rf_index_fail(idx, RAIIAF_E_NOMEM, "out of memory");
    for (; nroots < ndirs; nroots++) {
        if (!dirs[nroots] || !(roots[nroots] = realpath(dirs[nroots], NULL))) {
            rc = rf_index_fail(idx, RAIIAF_E_NOT_FOUND, "%s: cannot open the folder: %s", dirs[nroots] ? dirs[nroots] : "(null)",
                               dirs[nroots] ? strerror(errno) : "no folder");
            goto done;
        }
    }
    for (size_t k = 0; k < nroots; k++) walk_dir(&w, roots[k], 0);
    if (w.oom) {
        rc = rf_index_fail(idx, RAIIAF_E_NOMEM, "out of memory while walking the folders");
        goto done;
    }
    if (w.n) qsort(w.f, w.n, sizeof *w.f, cmp_found); /* w.f is NULL for an empty tree */
    /* the same file under two roots given (a folder and its parent) once */
    size_t u = 0;
    for (size_t k = 0; k < w.n; k++) {
        if (u && !strcmp(w.f[u - 1].path, w.f[k].path)) free(w.f[k].path);
        else w.f[u++] = w.f[k];
    }
    w.n = u;
    st->seen = w.n;
    rs.total = w.n;
    if ((rc = rf_index_prepare(idx)) || (rc = compare(idx, &w, roots, nroots, &todo, &ntodo, &gone, &ngone, st))) goto done;
    rs.done = (size_t)st->unchanged;
    tick(&rs, 0);
    if (ntodo || ngone) {
        if ((rc = rf_index_tx_begin(idx))) goto done;
        in_tx = 1;
        if ((rc = read_and_store(&rs, todo, ntodo))) goto done;
        for (size_t k = 0; k < ngone; k++)
            if ((rc = rf_index_row_delete(idx, gone[k]))) goto done;
        st->removed += ngone;
        in_tx = 0;
        if ((rc = rf_index_tx_commit(idx))) goto done;
    }
    tick(&rs, 1);
done:
    if (in_tx) sqlite3_exec(idx->db, "ROLLBACK", NULL, NULL, NULL);
    for (size_t k = 0; k < w.n; k++) free(w.f[k].path);
    free(w.f);
    free(todo);
    free(gone);
    for (size_t k = 0; k < nroots; k++) free(roots[k]);
    free(roots);
    st->seconds = now_s() - rs.t0;
    return rc;
}
