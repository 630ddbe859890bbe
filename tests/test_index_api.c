/* test_index_api.c -- the index library API (src/index/): run, search,
 * row JSON round trips, strict refusal of bad rows, a file vanishing
 * mid-run, thread counts giving the same tables, signature states and
 * creation dates, and an index of schema 1 upgraded in place. */
#include "raiiaf.h"
#include "raiiaf_json.h"
#include "testutil.h"

#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NFILES 90
#define BIG_SEED_FILE 7 /* this one's seed is 2^64-1 */

typedef struct fx {
    char *dir, *lib;
} fx;

static char *file_path(const fx *f, int i)
{
    char name[64];
    snprintf(name, sizeof name, "d%d/f%03d.raiiaf", i % 3, i);
    return tu_path(f->lib, name);
}

/* File i: prompt "a fox ..." when i % 3 == 0 else "a cat ...", model
 * "modelA"/"modelB", seed i (2^64-1 for BIG_SEED_FILE), tags "all" and
 * "even" for even i, a 1x4x8x8 float32 latent. */
static void write_file(const char *path, int i)
{
    raiiaf_writer *w = NULL;
    float lat[4 * 8 * 8];
    for (int k = 0; k < 256; k++) lat[k] = (float)(k + i);
    uint64_t shape[] = {1, 4, 8, 8};
    char prompt[64], seed[32];
    snprintf(prompt, sizeof prompt, "a %s picture %d", i % 3 == 0 ? "fox" : "cat", i);
    if (i == BIG_SEED_FILE) snprintf(seed, sizeof seed, "18446744073709551615");
    else snprintf(seed, sizeof seed, "%d", i);
    assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_env(w, RAIIAF_ENV_NONE), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_tensor(w, "latent", RAIIAF_F32, 4, shape, lat, sizeof lat, RAIIAF_CODEC_RAW, 0),
                     RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/prompt", prompt), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/model_name", i % 2 ? "modelA" : "modelB"),
                     RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/generation_settings/seed", seed), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/tags", i % 2 ? "[\"all\"]" : "[\"all\", \"even\"]"),
                     RAIIAF_OK);
    assert_int_equal(raiiaf_writer_finish(w), RAIIAF_OK);
    raiiaf_writer_free(w);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    f->dir = tu_tempdir();
    f->lib = tu_path(f->dir, "lib");
    assert_int_equal(mkdir(f->lib, 0777), 0);
    for (int d = 0; d < 3; d++) {
        char sub[16];
        snprintf(sub, sizeof sub, "d%d", d);
        char *p = tu_path(f->lib, sub);
        assert_int_equal(mkdir(p, 0777), 0);
        free(p);
    }
    for (int i = 0; i < NFILES; i++) {
        char *p = file_path(f, i);
        write_file(p, i);
        free(p);
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f->lib);
    free(f->dir);
    free(f);
    return 0;
}

/* ---- helpers ---- */

typedef struct text {
    char *s;
    size_t n;
} text;

static int collect(void *user, const char *json, size_t len)
{
    text *t = user;
    t->s = realloc(t->s, t->n + len + 2);
    memcpy(t->s + t->n, json, len);
    t->n += len;
    t->s[t->n++] = '\n';
    t->s[t->n] = '\0';
    return 0;
}

/* Every row of the database, all fields but `indexed_at` (the clock). */
static char *dump_db(const char *db, int with_id)
{
    raiiaf_index *idx = NULL;
    assert_int_equal(raiiaf_index_open(db, RAIIAF_INDEX_READONLY, &idx), RAIIAF_OK);
    raiiaf_index_query q = {.limit = -1,
                            .fields = with_id ? "id,path,size,mtime_ns,format,model,model_hash,prompt,negative_prompt,seed,"
                                                "steps,sampler,scheduler,cfg_scale,width,height,image_format,tool,digest,"
                                                "signature,tags,tensors"
                                              : "path,size,mtime_ns,format,model,model_hash,prompt,negative_prompt,seed,steps,"
                                                "sampler,scheduler,cfg_scale,width,height,image_format,tool,digest,"
                                                "signature,tags,tensors"};
    text t = {calloc(1, 1), 0};
    uint64_t n = 0;
    assert_int_equal(raiiaf_index_search(idx, &q, collect, &t, &n), RAIIAF_OK);
    raiiaf_index_free(idx);
    return t.s;
}

typedef struct probs {
    int count;
    char last[1024];
    int last_status;
} probs;

static void on_problem(void *user, const char *path, int status, const char *message)
{
    probs *p = user;
    p->count++;
    snprintf(p->last, sizeof p->last, "%s", path);
    p->last_status = status;
}

static void index_dir(const char *db, const char *dir, unsigned threads, raiiaf_index_stats *st, probs *pr)
{
    raiiaf_index *idx = NULL;
    assert_int_equal(raiiaf_index_open(db, 0, &idx), RAIIAF_OK);
    assert_int_equal(raiiaf_index_set_threads(idx, threads), RAIIAF_OK);
    if (pr) raiiaf_index_set_problems(idx, on_problem, pr);
    const char *dirs[] = {dir};
    assert_int_equal(raiiaf_index_run(idx, dirs, 1, st), RAIIAF_OK);
    raiiaf_index_free(idx);
}

static uint64_t count_rows(const char *db, raiiaf_index_query *q, text *out)
{
    raiiaf_index *idx = NULL;
    assert_int_equal(raiiaf_index_open(db, RAIIAF_INDEX_READONLY, &idx), RAIIAF_OK);
    text t = {calloc(1, 1), 0};
    uint64_t n = 0;
    assert_int_equal(raiiaf_index_search(idx, q, collect, &t, &n), RAIIAF_OK);
    raiiaf_index_free(idx);
    if (out) *out = t;
    else free(t.s);
    return n;
}

/* ---- tests ---- */

static void run_then_search(void **state)
{
    fx *f = *state;
    char *db = tu_path(f->dir, "run.sqlite");
    char *bad = tu_path(f->lib, "d0/zz-bad.raiiaf");
    tu_write_file(bad, "not a raiiaf file", 17);
    raiiaf_index_stats st;
    probs pr = {0};
    index_dir(db, f->lib, 2, &st, &pr);
    assert_int_equal(st.seen, NFILES + 1);
    assert_int_equal(st.added, NFILES);
    assert_int_equal(st.failed, 1);
    assert_int_equal(pr.count, 1);
    assert_non_null(strstr(pr.last, "zz-bad.raiiaf"));
    assert_int_equal(pr.last_status, RAIIAF_E_NOT_RAIIAF);

    /* words: prompts "a fox ..." were written for i % 3 == 0 */
    const char *fox[] = {"fox"};
    raiiaf_index_query q = {.words = fox, .nwords = 1, .limit = -1};
    assert_int_equal(count_rows(db, &q, NULL), NFILES / 3);
    /* prefix, model, tags together */
    const char *pre[] = {"fo*"}, *tags[] = {"all", "even"};
    q = (raiiaf_index_query){.words = pre, .nwords = 1, .model = "MODELB", .tags = tags, .ntags = 2, .limit = -1};
    assert_int_equal(count_rows(db, &q, NULL), NFILES / 6); /* i % 6 == 0 */
    /* the seed 2^64-1, exactly */
    text t;
    q = (raiiaf_index_query){.has_seed = 1, .seed = UINT64_MAX, .limit = -1, .fields = "path,seed,tags,tensors"};
    assert_int_equal(count_rows(db, &q, &t), 1);
    json_t *row = raiiaf_json_loadb(t.s, t.n, JSON_DISABLE_EOF_CHECK, NULL);
    assert_non_null(row);
    uint64_t seed = 0;
    assert_true(raiiaf_json_uint64(json_object_get(row, "seed"), &seed));
    assert_true(seed == UINT64_MAX);
    assert_non_null(strstr(json_string_value(json_object_get(row, "path")), "f007.raiiaf"));
    assert_int_equal(json_array_size(json_object_get(row, "tags")), 1);
    json_t *x = json_array_get(json_object_get(row, "tensors"), 0);
    assert_string_equal(json_string_value(json_object_get(x, "name")), "latent");
    assert_string_equal(json_string_value(json_object_get(x, "dtype")), "float32");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(x, "shape"), 3)), 8);
    assert_int_equal(json_object_size(row), 4); /* only the fields asked for */
    json_decref(row);
    free(t.s);
    /* limit, offset, newest first */
    q = (raiiaf_index_query){.limit = 5, .offset = NFILES - 2, .flags = RAIIAF_INDEX_NEWEST_FIRST};
    assert_int_equal(count_rows(db, &q, NULL), 2);

    /* second run: nothing changed; then one file gone, one rewritten */
    index_dir(db, f->lib, 2, &st, NULL);
    assert_int_equal(st.unchanged, NFILES);
    assert_int_equal(st.added + st.updated, 0);
    char *p0 = file_path(f, 0), *p1 = file_path(f, 1);
    assert_int_equal(unlink(p0), 0);
    write_file(p1, 3); /* now a fox */
    unlink(bad);
    index_dir(db, f->lib, 1, &st, NULL);
    assert_int_equal(st.seen, NFILES - 1);
    assert_int_equal(st.removed, 1);
    assert_int_equal(st.updated, 1);
    q = (raiiaf_index_query){.words = fox, .nwords = 1, .limit = -1};
    assert_int_equal(count_rows(db, &q, NULL), NFILES / 3); /* f000 gone, f001 a fox now */

    /* misuse */
    raiiaf_index *ro = NULL;
    assert_int_equal(raiiaf_index_open(db, RAIIAF_INDEX_READONLY, &ro), RAIIAF_OK);
    const char *dirs[] = {f->lib};
    assert_int_equal(raiiaf_index_run(ro, dirs, 1, NULL), RAIIAF_E_STATE);
    q = (raiiaf_index_query){.fields = "path,nope", .limit = -1};
    assert_int_equal(raiiaf_index_search(ro, &q, collect, &t, NULL), RAIIAF_E_ARG);
    assert_non_null(strstr(raiiaf_index_errmsg(ro), "'nope'"));
    raiiaf_index_free(ro);
    char *none = tu_path(f->dir, "none.sqlite");
    assert_int_equal(raiiaf_index_open(none, RAIIAF_INDEX_READONLY, &ro), RAIIAF_E_NOT_FOUND);
    assert_non_null(strstr(raiiaf_index_errmsg(ro), "No such file"));
    raiiaf_index_free(ro);
    assert_int_equal(access(none, F_OK), -1); /* read-only open creates nothing */
    free(none);
    free(p0);
    free(p1);
    free(bad);
    free(db);
}

static void row_json_round_trip(void **state)
{
    fx *f = *state;
    char *db1 = tu_path(f->dir, "a.sqlite"), *db2 = tu_path(f->dir, "b.sqlite");
    raiiaf_index_stats st;
    index_dir(db1, f->lib, 2, &st, NULL);
    assert_int_equal(st.added, NFILES);
    raiiaf_index *idx = NULL;
    assert_int_equal(raiiaf_index_open(db2, 0, &idx), RAIIAF_OK);
    assert_int_equal(raiiaf_index_begin(idx), RAIIAF_OK);
    assert_int_equal(raiiaf_index_begin(idx), RAIIAF_E_STATE);
    /* run stores absolute paths (realpath of the folder) */
    char *root = realpath(f->lib, NULL);
    for (int i = NFILES - 1; i >= 0; i--) { /* any order: search sorts */
        char name[64], *p;
        snprintf(name, sizeof name, "d%d/f%03d.raiiaf", i % 3, i);
        p = tu_path(root, name);
        char *json = NULL, err[256];
        size_t len = 0;
        assert_int_equal(raiiaf_index_row_json(p, &json, &len, err, sizeof err), RAIIAF_OK);
        assert_int_equal(len, strlen(json));
        assert_int_equal(raiiaf_index_put_row_json(idx, json, len), RAIIAF_OK);
        if (i == 5) assert_int_equal(raiiaf_index_put_row_json(idx, json, len), RAIIAF_OK); /* replaces */
        raiiaf_free(json);
        free(p);
    }
    assert_int_equal(raiiaf_index_commit(idx), RAIIAF_OK);
    assert_int_equal(raiiaf_index_commit(idx), RAIIAF_E_STATE);
    raiiaf_index_free(idx);
    char *a = dump_db(db1, 0), *b = dump_db(db2, 0);
    assert_string_equal(a, b);
    assert_int_equal(strlen(a) > 1000, 1);
    free(a);
    free(b);
    /* a file that cannot be read: the reader's message, no JSON */
    char *json = (char *)1, err[256];
    char *gone = tu_path(f->dir, "missing.raiiaf");
    assert_int_equal(raiiaf_index_row_json(gone, &json, NULL, err, sizeof err), RAIIAF_E_IO);
    assert_null(json);
    assert_non_null(strstr(err, "missing.raiiaf"));
    assert_int_equal(raiiaf_index_row_json(gone, &json, NULL, NULL, 0), RAIIAF_E_IO); /* no buffer: fine */
    free(gone);
    free(root);
    free(db1);
    free(db2);
}

/* Puts `row` (changed by the caller) and expects `status` with `where` in the message. */
static void expect_refused(raiiaf_index *idx, json_t *row, int status, const char *where)
{
    char *js = raiiaf_json_dumps(row, JSON_COMPACT);
    assert_non_null(js);
    int rc = raiiaf_index_put_row_json(idx, js, strlen(js));
    if (rc != status || !strstr(raiiaf_index_errmsg(idx), where))
        fail_msg("expected %d naming '%s', got %d: %s", status, where, rc, raiiaf_index_errmsg(idx));
    free(js);
    json_decref(row);
}

static void bad_rows_refused(void **state)
{
    fx *f = *state;
    char *db = tu_path(f->dir, "bad.sqlite"), *p = file_path(f, 4);
    char *good = NULL;
    size_t len = 0;
    assert_int_equal(raiiaf_index_row_json(p, &good, &len, NULL, 0), RAIIAF_OK);
    raiiaf_index *idx = NULL;
    assert_int_equal(raiiaf_index_open(db, 0, &idx), RAIIAF_OK);
#define ROW() raiiaf_json_loadb(good, len, 0, NULL)
    json_t *r;
    r = ROW();
    json_object_set_new(r, "seed", json_string("42"));
    expect_refused(idx, r, RAIIAF_E_ARG, "/seed: expected an integer");
    r = ROW();
    json_object_set_new(r, "seed", json_integer(-1));
    expect_refused(idx, r, RAIIAF_E_ARG, "/seed");
    r = ROW();
    json_object_del(r, "digest");
    expect_refused(idx, r, RAIIAF_E_ARG, "/digest: missing");
    r = ROW();
    json_object_set_new(r, "digest", json_string("abc"));
    expect_refused(idx, r, RAIIAF_E_ARG, "/digest");
    r = ROW();
    json_object_set_new(r, "extra", json_true());
    expect_refused(idx, r, RAIIAF_E_ARG, "/extra: unknown key");
    r = ROW();
    json_object_set_new(r, "size", json_real(1.5));
    expect_refused(idx, r, RAIIAF_E_ARG, "/size");
    r = ROW();
    json_object_set_new(r, "cfg_scale", json_string("7"));
    expect_refused(idx, r, RAIIAF_E_ARG, "/cfg_scale");
    r = ROW();
    json_array_set_new(json_object_get(r, "tags"), 0, json_integer(1));
    expect_refused(idx, r, RAIIAF_E_ARG, "/tags/0: expected a string");
    r = ROW();
    json_array_set_new(json_object_get(json_array_get(json_object_get(r, "tensors"), 0), "shape"), 2, json_integer(-8));
    expect_refused(idx, r, RAIIAF_E_ARG, "/tensors/0/shape/2");
    r = ROW();
    json_object_del(json_array_get(json_object_get(r, "tensors"), 0), "codec");
    expect_refused(idx, r, RAIIAF_E_ARG, "/tensors/0/codec: missing");
    r = ROW();
    json_object_set_new(r, "tensors", json_object());
    expect_refused(idx, r, RAIIAF_E_ARG, "/tensors: expected an array");
    /* huge strings: a path and a tensor name past their 4096-byte bounds */
    char *huge = malloc(5001);
    memset(huge, 'a', 5000);
    huge[0] = '/';
    huge[5000] = '\0';
    r = ROW();
    json_object_set_new(r, "path", json_string(huge));
    expect_refused(idx, r, RAIIAF_E_ARG, "/path: string of 5000 bytes");
    r = ROW();
    json_object_set_new(json_array_get(json_object_get(r, "tensors"), 0), "name", json_string(huge));
    expect_refused(idx, r, RAIIAF_E_ARG, "/tensors/0/name: string of 5000 bytes");
    free(huge);
    /* a NUL inside a string, malformed text, not an object */
    const char *nul = "{\"path\":\"a\\u0000b\"}";
    assert_int_equal(raiiaf_index_put_row_json(idx, nul, strlen(nul)), RAIIAF_E_JSON);
    assert_int_equal(raiiaf_index_put_row_json(idx, good, len - 1), RAIIAF_E_JSON);
    assert_int_equal(raiiaf_index_put_row_json(idx, "[]", 2), RAIIAF_E_ARG);
    assert_non_null(strstr(raiiaf_index_errmsg(idx), "/: expected an object"));
    assert_int_equal(raiiaf_index_put_row_json(idx, NULL, 0), RAIIAF_E_ARG);
    /* nothing of all that was stored; the good row still is */
    raiiaf_index_query q = {.limit = -1};
    assert_int_equal(count_rows(db, &q, NULL), 0);
    assert_int_equal(raiiaf_index_put_row_json(idx, good, len), RAIIAF_OK);
    assert_int_equal(count_rows(db, &q, NULL), 1);
    raiiaf_index_free(idx);
    raiiaf_free(good);
    free(p);
    free(db);
}

/* The progress callback's first call comes after the walk and before any
 * file is opened: the file removed there vanishes between walk and open. */
typedef struct vanish {
    char *path;
    int calls;
} vanish;

static void remove_on_first(void *user, uint64_t done, uint64_t total)
{
    vanish *v = user;
    if (v->calls++ == 0) assert_int_equal(unlink(v->path), 0);
}

static void file_vanishes(void **state)
{
    fx *f = *state;
    for (unsigned threads = 1; threads <= 2; threads++) {
        char name[32];
        snprintf(name, sizeof name, "vanish%u.sqlite", threads);
        char *db = tu_path(f->dir, name);
        vanish v = {file_path(f, 10 + (int)threads), 0};
        raiiaf_index *idx = NULL;
        probs pr = {0};
        raiiaf_index_stats st;
        assert_int_equal(raiiaf_index_open(db, 0, &idx), RAIIAF_OK);
        raiiaf_index_set_threads(idx, threads);
        raiiaf_index_set_progress(idx, remove_on_first, &v);
        raiiaf_index_set_problems(idx, on_problem, &pr);
        const char *dirs[] = {f->lib};
        assert_int_equal(raiiaf_index_run(idx, dirs, 1, &st), RAIIAF_OK);
        raiiaf_index_free(idx);
        assert_true(v.calls >= 2); /* and once at the end */
        assert_int_equal(st.seen, NFILES); /* the walk saw it */
        assert_int_equal(st.failed, 1);
        assert_int_equal(st.added, NFILES - 1);
        assert_int_equal(pr.count, 1);
        assert_non_null(strstr(pr.last, strrchr(v.path, '/') + 1));
        write_file(v.path, 10 + (int)threads); /* back for the other tests */
        free(v.path);
        free(db);
    }
}

static void threads_agree(void **state)
{
    fx *f = *state;
    char *d1 = tu_path(f->dir, "t1.sqlite"), *d2 = tu_path(f->dir, "t2.sqlite"), *d8 = tu_path(f->dir, "t8.sqlite");
    raiiaf_index_stats st;
    index_dir(d1, f->lib, 1, &st, NULL);
    index_dir(d2, f->lib, 2, &st, NULL);
    index_dir(d8, f->lib, 8, &st, NULL);
    assert_int_equal(st.added, NFILES);
    char *a = dump_db(d1, 1), *b = dump_db(d2, 1), *c = dump_db(d8, 1);
    assert_string_equal(a, b); /* ids too: rows are stored in the same order */
    assert_string_equal(a, c);
    raiiaf_index *idx = NULL;
    assert_int_equal(raiiaf_index_open(d1, 0, &idx), RAIIAF_OK);
    assert_int_equal(raiiaf_index_set_threads(idx, 65), RAIIAF_E_ARG);
    raiiaf_index_free(idx);
    free(a);
    free(b);
    free(c);
    free(d1);
    free(d2);
    free(d8);
}

/* The one row (all fields) a query gives. */
static json_t *one_row(const char *db, raiiaf_index_query q)
{
    text t;
    q.limit = -1;
    assert_int_equal(count_rows(db, &q, &t), 1);
    json_t *row = raiiaf_json_loadb(t.s, t.n, JSON_DISABLE_EOF_CHECK, NULL);
    assert_non_null(row);
    free(t.s);
    return row;
}

/* file_info.created as the file's own manifest holds it (the reader's text). */
static char *created_of(const char *path)
{
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_file(path, 0, &r), RAIIAF_OK);
    size_t n = 0;
    const char *m = raiiaf_reader_manifest(r, &n);
    json_t *j = json_loadb(m, n, 0, NULL);
    char *c = strdup(json_string_value(json_object_get(json_object_get(json_object_get(j, "raiiaf_metadata"), "file_info"),
                                                       "created")));
    json_decref(j);
    raiiaf_reader_free(r);
    return c;
}

static void signature_states(void **state)
{
    fx *f = *state;
    char *key = tu_path(f->dir, "k.pem"), *db = tu_path(f->dir, "sig.sqlite");
    char *pv = file_path(f, 2), *pe = file_path(f, 4), kid[17] = "", kid2[17] = "", err[256];
    assert_int_equal(raiiaf_keygen(key, err, sizeof err), RAIIAF_OK);
    assert_int_equal(raiiaf_sign(pv, key, kid, err, sizeof err), RAIIAF_OK);
    assert_int_equal(raiiaf_sign(pe, key, kid2, err, sizeof err), RAIIAF_OK);
    assert_string_equal(kid, kid2);
    raiiaf_edit *ed = NULL;
    assert_int_equal(raiiaf_edit_open(pe, &ed), RAIIAF_OK);
    assert_int_equal(raiiaf_edit_add_tag(ed, "later"), RAIIAF_OK);
    assert_int_equal(raiiaf_edit_commit(ed), RAIIAF_OK);
    raiiaf_edit_free(ed);
    raiiaf_index_stats st;
    index_dir(db, f->lib, 2, &st, NULL);
    assert_int_equal(st.added, NFILES);

    json_t *row = one_row(db, (raiiaf_index_query){.signature = "valid"});
    assert_non_null(strstr(json_string_value(json_object_get(row, "path")), "f002.raiiaf"));
    assert_string_equal(json_string_value(json_object_get(row, "signature_key")), kid);
    char *created = created_of(pv);
    assert_string_equal(json_string_value(json_object_get(row, "created")), created);
    free(created);
    json_decref(row);
    row = one_row(db, (raiiaf_index_query){.signature = "edited"});
    assert_non_null(strstr(json_string_value(json_object_get(row, "path")), "f004.raiiaf"));
    assert_string_equal(json_string_value(json_object_get(row, "signature_key")), kid);
    json_decref(row);
    row = one_row(db, (raiiaf_index_query){.has_seed = 1, .seed = 1, .fields = "signature,signature_key,created"});
    assert_string_equal(json_string_value(json_object_get(row, "signature")), "none");
    assert_true(json_is_null(json_object_get(row, "signature_key")));
    assert_true(json_is_string(json_object_get(row, "created")));
    json_decref(row);
    raiiaf_index_query q = {.signature = "none", .limit = -1};
    assert_int_equal(count_rows(db, &q, NULL), NFILES - 2);
    q.signature = "signed";
    assert_int_equal(count_rows(db, &q, NULL), 2);
    q.signature = "invalid";
    assert_int_equal(count_rows(db, &q, NULL), 0);
    raiiaf_index *ro = NULL;
    assert_int_equal(raiiaf_index_open(db, RAIIAF_INDEX_READONLY, &ro), RAIIAF_OK);
    q.signature = "unsigned"; /* verify's word for the index's "none" */
    assert_int_equal(count_rows(db, &q, NULL), NFILES - 2);
    q.signature = "unsgined";
    text t = {0};
    assert_int_equal(raiiaf_index_search(ro, &q, collect, &t, NULL), RAIIAF_E_ARG);
    assert_non_null(strstr(raiiaf_index_errmsg(ro), "signature: expected none, valid"));
    raiiaf_index_free(ro);

    /* the row JSON carries the same values, and put_row_json checks them */
    char *json = NULL;
    size_t len = 0;
    assert_int_equal(raiiaf_index_row_json(pe, &json, &len, err, sizeof err), RAIIAF_OK);
    json_t *r = raiiaf_json_loadb(json, len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(r, "signature")), "edited");
    assert_string_equal(json_string_value(json_object_get(r, "signature_key")), kid);
    raiiaf_index *idx = NULL;
    assert_int_equal(raiiaf_index_open(db, 0, &idx), RAIIAF_OK);
    json_object_set_new(r, "signature", json_string("unsigned"));
    expect_refused(idx, r, RAIIAF_E_ARG, "/signature: expected \"none\"");
    r = raiiaf_json_loadb(json, len, 0, NULL);
    json_object_set_new(r, "signature_key", json_string("XYZ"));
    expect_refused(idx, r, RAIIAF_E_ARG, "/signature_key: expected 16 lowercase hex digits");
    r = raiiaf_json_loadb(json, len, 0, NULL);
    json_object_del(r, "created");
    expect_refused(idx, r, RAIIAF_E_ARG, "/created: missing");
    r = raiiaf_json_loadb(json, len, 0, NULL);
    json_object_set_new(r, "created", json_integer(2024));
    expect_refused(idx, r, RAIIAF_E_ARG, "/created: expected a string or null");
    raiiaf_index_free(idx);
    raiiaf_free(json);
    free(pv);
    free(pe);
    free(key);
    free(db);
}

/* An index written before the signature columns (schema 1: the files
 * table without signature_key and created, "unsigned" everywhere) is
 * upgraded when opened for writing; the next run reads every file again. */
static void old_schema_upgraded(void **state)
{
    fx *f = *state;
    char *db = tu_path(f->dir, "old.sqlite"), *pv = file_path(f, 2), *key = tu_path(f->dir, "k1.pem"), err[256];
    assert_int_equal(raiiaf_keygen(key, err, sizeof err), RAIIAF_OK);
    assert_int_equal(raiiaf_sign(pv, key, NULL, err, sizeof err), RAIIAF_OK);
    raiiaf_index_stats st;
    index_dir(db, f->lib, 2, &st, NULL);
    /* make it schema 1 as 0.3.0's first index wrote it */
    sqlite3 *s = NULL;
    assert_int_equal(sqlite3_open(db, &s), SQLITE_OK);
    assert_int_equal(sqlite3_exec(s, "ALTER TABLE files DROP COLUMN signature_key; ALTER TABLE files DROP COLUMN created;"
                                     " UPDATE files SET signature = 'unsigned';"
                                     " UPDATE meta SET value = '1' WHERE key = 'schema_version';",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(s);
    /* read-only cannot upgrade it: refused at open, saying how to upgrade */
    raiiaf_index *ro = NULL;
    assert_int_equal(raiiaf_index_open(db, RAIIAF_INDEX_READONLY, &ro), RAIIAF_E_VERSION);
    assert_non_null(strstr(raiiaf_index_errmsg(ro), "schema 1"));
    assert_non_null(strstr(raiiaf_index_errmsg(ro), "raiiaf index --db"));
    raiiaf_index_free(ro);
    /* a SQLite database of something else is not taken for an index */
    char *other = tu_path(f->dir, "other.sqlite");
    assert_int_equal(sqlite3_open(other, &s), SQLITE_OK);
    assert_int_equal(sqlite3_exec(s, "CREATE TABLE t(x);", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(s);
    assert_int_equal(raiiaf_index_open(other, RAIIAF_INDEX_READONLY, &ro), RAIIAF_E_VERSION);
    assert_non_null(strstr(raiiaf_index_errmsg(ro), "not a raiiaf index"));
    raiiaf_index_free(ro);
    free(other);
    index_dir(db, f->lib, 1, &st, NULL);
    assert_int_equal(st.updated, NFILES); /* every old row read again */
    json_t *row = one_row(db, (raiiaf_index_query){.signature = "valid"});
    assert_non_null(strstr(json_string_value(json_object_get(row, "path")), "f002.raiiaf"));
    json_decref(row);
    index_dir(db, f->lib, 1, &st, NULL);
    assert_int_equal(st.unchanged, NFILES); /* once */
    assert_int_equal(sqlite3_open(db, &s), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(s, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "2");
    sqlite3_finalize(q);
    sqlite3_close(s);
    free(pv);
    free(key);
    free(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(run_then_search, setup, teardown),
        cmocka_unit_test_setup_teardown(row_json_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_rows_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(file_vanishes, setup, teardown),
        cmocka_unit_test_setup_teardown(threads_agree, setup, teardown),
        cmocka_unit_test_setup_teardown(signature_states, setup, teardown),
        cmocka_unit_test_setup_teardown(old_schema_upgraded, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
