/* test_bounds.c -- bounded work on hostile files (issue 17): JSON that would
 * parse into too many values or too much memory is refused before parsing. */
#include "testutil.h"
#include "codec.h"
#include "format.h"
#include "jsonutil.h"
#include "reader_impl.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXPECT_MSG(msg, want)                                                                                   \
    do {                                                                                                        \
        if (!strstr((msg), (want))) fail_msg("%s:%d: message \"%s\" lacks \"%s\"", __FILE__, __LINE__, (msg), (want)); \
    } while (0)

/* n copies of `unit` between `pre` and `post`; caller frees. */
static char *repeat(const char *pre, const char *unit, size_t n, const char *post, size_t *len)
{
    size_t u = strlen(unit), a = strlen(pre), b = strlen(post);
    char *t = malloc(a + u * n + b + 1);
    assert_non_null(t);
    memcpy(t, pre, a);
    for (size_t i = 0; i < n; i++) memcpy(t + a + i * u, unit, u);
    memcpy(t + a + u * n, post, b + 1);
    *len = a + u * n + b;
    return t;
}

/* ---- item 9: the JSON pre-scan ------------------------------------------ */

static void test_prescan_counts(void **state)
{
    (void)state;
    rf_err e;
    size_t len;
    /* Brackets, colons and commas inside strings (escaped quotes too) are
     * text, not structure: 3 million of them pass. */
    char *t = repeat("[\"", "{[:,\\\"", 3000000 / 3, "\"]", &len);
    assert_int_equal(rf_json_prescan(t, len, "test", &e), RAIIAF_OK);
    free(t);
    /* One value more than the limit is refused, one less passes. */
    t = repeat("[", "0,", RF_MAX_JSON_VALUES - 2, "0]", &len);
    assert_int_equal(rf_json_prescan(t, len, "test", &e), RAIIAF_OK);
    json_t *v;
    assert_int_equal(rf_json_parse(t, len, "test", &v, &e), RAIIAF_OK);
    assert_int_equal(json_array_size(v), RF_MAX_JSON_VALUES - 1);
    json_decref(v);
    free(t);
    t = repeat("[", "0,", RF_MAX_JSON_VALUES - 1, "0]", &len);
    assert_int_equal(rf_json_prescan(t, len, "test", &e), RAIIAF_E_LIMIT);
    EXPECT_MSG(e.msg, "test: JSON text holds more than 2097152 values (limit");
    free(t);
    /* Keys are not values, but members cost memory: objects of 20 members
     * (each ~ 80 + 48 + 48 bytes estimated) reach the memory limit first. */
    t = repeat("[", "{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1,\"g\":1,\"h\":1,\"i\":1,\"j\":1},", 200000, "{}]", &len);
    assert_int_equal(rf_json_prescan(t, len, "env", &e), RAIIAF_E_LIMIT);
    EXPECT_MSG(e.msg, "env: JSON text would need more than 256 MiB once parsed (limit");
    free(t);
    /* The embedded schemas and a real manifest pass. */
    assert_int_equal(rf_json_prescan(rf_schema_json, strlen(rf_schema_json), "schema", &e), RAIIAF_OK);
    /* A trailing backslash inside an unterminated string stays in bounds. */
    assert_int_equal(rf_json_prescan("[\"\\", 3, "t", &e), RAIIAF_OK);
}

/* ---- issue item 4: the reader's budget of decoded bytes ------------------ */

typedef struct {
    unsigned limit, ok, warn;
    char first[512], warning[512];
} seen;

static void collect(void *ctx, int status, const char *msg)
{
    seen *s = ctx;
    if (status == RAIIAF_E_LIMIT && !s->limit++) snprintf(s->first, sizeof s->first, "%s", msg);
    if (status == RAIIAF_OK && !s->warn++) snprintf(s->warning, sizeof s->warning, "%s", msg);
}

/* 20 recipes of 64 KiB each: 32 bytes stored apiece, 1.25 MiB declared. */
static void test_recipes_budget(void **state)
{
    (void)state;
    char *dir = tu_tempdir(), *path = tu_path(dir, "recipes.raiiaf");
    static const uint64_t shape[4] = {1, 4, 64, 64};
    size_t size = 4 * 64 * 64 * sizeof(float);
    float *v = malloc(size);
    assert_non_null(v);
    raiiaf_writer *w = NULL;
    assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
    for (unsigned i = 0; i < 20; i++) {
        char name[16];
        snprintf(name, sizeof name, "noise%02u", i);
        assert_int_equal(raiiaf_torch_randn(100 + i, RAIIAF_F32, 4, shape, NULL, v, size), RAIIAF_OK);
        int as_recipe = 0;
        assert_int_equal(raiiaf_writer_add_noise_tensor(w, name, RAIIAF_F32, 4, shape, v, size, 100 + i, RAIIAF_CODEC_AUTO, &as_recipe),
                         RAIIAF_OK);
        assert_true(as_recipe);
    }
    assert_int_equal(raiiaf_writer_finish(w), RAIIAF_OK);
    raiiaf_writer_free(w);
    /* The default budget (64 MiB + 64 x the file) lets it verify. */
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_file(path, 0, &r), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_verify(r, NULL, NULL), RAIIAF_OK);
    raiiaf_reader_free(r);
    /* A budget of 4.5 recipes: the fifth is refused before it is made,
     * and verify decodes nothing after that. */
    assert_int_equal(raiiaf_reader_open_file(path, 0, &r), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_set_decode_limit(r, r->decoded + size * 9 / 2), RAIIAF_OK);
    seen s = {0};
    assert_int_equal(raiiaf_reader_verify(r, collect, &s), RAIIAF_E_LIMIT);
    assert_int_equal(s.limit, 1);
    EXPECT_MSG(s.first, "(TENS \"noise04\")");
    EXPECT_MSG(s.first, "decoding 65536 more bytes would pass this reader's budget of");
    EXPECT_MSG(s.warning, "warning: 15 more tensors not checked: this reader's budget of decoded bytes is spent");
    /* Reading is bounded by the same budget, over the reader's life. */
    assert_int_equal(raiiaf_reader_read_tensor(r, 0, v, size), RAIIAF_E_LIMIT);
    assert_int_equal(raiiaf_reader_set_decode_limit(r, 0), RAIIAF_OK); /* 0: no limit */
    assert_int_equal(raiiaf_reader_read_tensor(r, 19, v, size), RAIIAF_OK);
    raiiaf_reader_free(r);
    /* Without a report callback verify stops at the first problem. */
    assert_int_equal(raiiaf_reader_open_file(path, 0, &r), RAIIAF_OK);
    uint64_t before = r->decoded;
    assert_int_equal(raiiaf_reader_set_decode_limit(r, before + size / 2), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_verify(r, NULL, NULL), RAIIAF_E_LIMIT);
    EXPECT_MSG(raiiaf_reader_errmsg(r), "(TENS \"noise00\")");
    assert_int_equal(r->decoded, before);
    raiiaf_reader_free(r);
    free(v);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

/* A chain of 32 relative tensors: reading the last one decodes every link,
 * and each link counts. */
static void test_chain_budget(void **state)
{
    (void)state;
    char *dir = tu_tempdir(), *path = tu_path(dir, "chain.raiiaf");
    static const uint64_t shape[1] = {16384};
    size_t size = 16384 * sizeof(float);
    float *a = malloc(size), *b = malloc(size);
    assert_non_null(a);
    assert_non_null(b);
    uint64_t rng = 7;
    for (size_t i = 0; i < 16384; i++) a[i] = tu_randn(&rng);
    raiiaf_writer *w = NULL;
    assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_tensor(w, "step00", RAIIAF_F32, 1, shape, a, size, RAIIAF_CODEC_ZSTD, 0), RAIIAF_OK);
    for (unsigned i = 1; i < 32; i++) {
        char name[16], prev[16];
        snprintf(name, sizeof name, "step%02u", i);
        snprintf(prev, sizeof prev, "step%02u", i - 1);
        memcpy(b, a, size);
        b[i] += 1.0f; /* neighbouring steps differ a little */
        int rel = 0;
        assert_int_equal(raiiaf_writer_add_tensor_relative(w, name, RAIIAF_F32, 1, shape, b, size, prev, a, RAIIAF_CODEC_ZSTD, &rel), RAIIAF_OK);
        assert_true(rel);
        memcpy(a, b, size);
    }
    assert_int_equal(raiiaf_writer_finish(w), RAIIAF_OK);
    raiiaf_writer_free(w);
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_file(path, 0, &r), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_set_decode_limit(r, r->decoded + 16 * size), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_read_tensor(r, 31, b, size), RAIIAF_E_LIMIT);
    EXPECT_MSG(raiiaf_reader_errmsg(r), "would pass this reader's budget of");
    assert_int_equal(raiiaf_reader_set_decode_limit(r, 0), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_read_tensor(r, 31, b, size), RAIIAF_OK);
    assert_memory_equal(a, b, size);
    raiiaf_reader_free(r);
    free(a);
    free(b);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

/* ---- issue item 5: what recover writes always verifies ------------------- */

typedef struct {
    char log[8192];
} rlog;

static void recover_log(void *ctx, int status, const char *msg)
{
    rlog *l = ctx;
    size_t n = strlen(l->log);
    snprintf(l->log + n, sizeof l->log - n, "%d %s\n", status, msg);
}

static unsigned char *g_base;
static size_t g_base_size;

/* image, "a" (zstd), "b" relative to "a", "c" (raw) */
static void make_base(const char *dir)
{
    char *path = tu_path(dir, "base.raiiaf");
    static const uint64_t shape[4] = {1, 4, 8, 8};
    float a[256], b[256], c[256];
    uint64_t rng = 5;
    for (int i = 0; i < 256; i++) {
        a[i] = tu_randn(&rng);
        b[i] = a[i];
        c[i] = tu_randn(&rng);
    }
    b[3] += 1.0f;
    size_t isize;
    unsigned char *img = tu_read_data("sd-webui.webp", &isize);
    raiiaf_writer *w = NULL;
    int rel = 0;
    assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_image(w, img, isize), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_tensor(w, "a", RAIIAF_F32, 4, shape, a, sizeof a, RAIIAF_CODEC_ZSTD, 0), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_tensor_relative(w, "b", RAIIAF_F32, 4, shape, b, sizeof b, "a", a, RAIIAF_CODEC_ZSTD, &rel), RAIIAF_OK);
    assert_true(rel);
    assert_int_equal(raiiaf_writer_add_tensor(w, "c", RAIIAF_F32, 4, shape, c, sizeof c, RAIIAF_CODEC_RAW, 0), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/prompt", "a lighthouse"), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_finish(w), RAIIAF_OK);
    raiiaf_writer_free(w);
    free(img);
    g_base = tu_read_file(path, &g_base_size);
    unlink(path);
    free(path);
}

static json_t *tensor_rec(json_t *m, size_t i)
{
    return json_array_get(json_object_get(json_object_get(m, "raiiaf_metadata"), "tensors"), i);
}

static void lie_negative_shape(json_t *m, void *ctx)
{
    (void)ctx;
    json_array_set_new(json_object_get(tensor_rec(m, 2), "shape"), 0, json_integer(-1));
}

static void lie_shape_overflow(json_t *m, void *ctx)
{
    (void)ctx;
    json_t *sh = json_object_get(tensor_rec(m, 2), "shape");
    for (size_t k = 0; k < 4; k++) json_array_set_new(sh, k, json_integer((json_int_t)1 << 62));
}

static void lie_reference_loop(json_t *m, void *ctx)
{
    (void)ctx;
    json_object_set_new(tensor_rec(m, 0), "reference", json_string("b")); /* a -> b -> a */
}

static void lie_duplicate_chunk(json_t *m, void *ctx)
{
    (void)ctx;
    json_t *chunks = json_object_get(json_object_get(m, "raiiaf_metadata"), "chunks");
    json_t *dup = json_deep_copy(json_array_get(chunks, 3));
    json_object_set_new(dup, "index", json_integer((json_int_t)json_array_size(chunks)));
    json_array_append_new(chunks, dup);
}

static void lie_bad_model_info(json_t *m, void *ctx)
{
    (void)ctx;
    json_object_set_new(json_object_get(json_object_get(m, "raiiaf_metadata"), "model_info"), "prompt", json_integer(7));
}

static void test_recover_output_verifies(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    make_base(dir);
    struct {
        void (*edit)(json_t *, void *);
        const char *want; /* in the report */
    } cases[] = {
        {lie_negative_shape, "its shape has a negative or overflowing size: kept as an unknown chunk RTNS"},
        {lie_shape_overflow, "its shape has a negative or overflowing size: kept as an unknown chunk RTNS"},
        {lie_reference_loop, "tensor \"a\" is stored relative to \"b\", which was lost (or comes after it): kept as an unknown chunk RTNS"},
        {lie_duplicate_chunk, "warning: rewriting with that manifest failed: the file it makes does not verify"},
        {lie_bad_model_info, "rebuilding without model_info and extensions"},
    };
    char *in = tu_path(dir, "lying.raiiaf"), *out = tu_path(dir, "out.raiiaf");
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        size_t n;
        unsigned char *f = tu_replace_manifest(g_base, g_base_size, cases[k].edit, NULL, &n);
        tu_write_file(in, f, n);
        free(f);
        unlink(out);
        rlog l = {""};
        int rc = raiiaf_recover(in, out, recover_log, &l);
        if (rc) fail_msg("case %zu: recover failed: %s", k, l.log);
        EXPECT_MSG(l.log, cases[k].want);
        EXPECT_MSG(l.log, "wrote ");
        raiiaf_reader *r = NULL;
        rc = raiiaf_reader_open_file(out, 0, &r);
        if (!rc) rc = raiiaf_reader_verify(r, NULL, NULL);
        if (rc) fail_msg("case %zu: the recovered file does not verify: %s\n%s", k, raiiaf_reader_errmsg(r), l.log);
        /* the image and the tensors that can be described survive */
        if (raiiaf_reader_image(r, NULL, NULL, NULL, NULL, NULL) || raiiaf_reader_tensor_count(r) < 1)
            fail_msg("case %zu: the image or every tensor was lost:\n%s", k, l.log);
        raiiaf_reader_free(r);
        /* no candidate left beside it */
        char cand[4200];
        snprintf(cand, sizeof cand, "%s.recover-%ld", out, (long)getpid());
        assert_int_equal(access(cand, F_OK), -1);
    }
    unlink(in);
    unlink(out);
    rmdir(dir);
    free(in);
    free(out);
    free(dir);
    free(g_base);
}

/* The default budget's value, and the step open of an older version:
 * the version and the budget are set before anything is read. */
static void test_default_budget_and_version_steps(void **state)
{
    (void)state;
    assert_int_equal(raiiaf_decode_limit_default(0), UINT64_C(64) << 20);
    assert_int_equal(raiiaf_decode_limit_default(1000), (UINT64_C(64) << 20) + 64000);
    assert_int_equal(raiiaf_decode_limit_default(UINT64_MAX / 8), UINT64_MAX); /* saturates */
    char *dir = tu_tempdir(), *path = tu_path(dir, "v.raiiaf");
    static const uint64_t shape[1] = {16};
    float v[16] = {0};
    raiiaf_writer *w = NULL;
    assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_tensor(w, "x", RAIIAF_F32, 1, shape, v, sizeof v, RAIIAF_CODEC_RAW, 0.0), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_finish(w), RAIIAF_OK);
    raiiaf_writer_free(w);
    raiiaf_edit *ed = NULL;
    assert_int_equal(raiiaf_edit_open(path, &ed), RAIIAF_OK);
    assert_int_equal(raiiaf_edit_add_tag(ed, "second"), RAIIAF_OK);
    assert_int_equal(raiiaf_edit_commit(ed), RAIIAF_OK);
    raiiaf_edit_free(ed);
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_new(0, &r), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_set_version(r, 1), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_open(r, path), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_manifest_version(r), 1);
    assert_int_equal(raiiaf_reader_latest_version(r), 2);
    assert_int_equal(raiiaf_reader_set_version(r, 2), RAIIAF_E_STATE); /* once open */
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(r->decode_limit, raiiaf_decode_limit_default((uint64_t)st.st_size)); /* of the whole file */
    raiiaf_reader_free(r);
    /* a budget too small for the newest manifest's text: refused at open */
    assert_int_equal(raiiaf_reader_new(0, &r), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_set_decode_limit(r, 64), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_open(r, path), RAIIAF_E_LIMIT);
    EXPECT_MSG(raiiaf_reader_errmsg(r), "bytes of JSON text (counted 4 times: parsing costs more than decoding) would pass this reader's budget of 64 decoded bytes");
    raiiaf_reader_free(r);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prescan_counts),
        cmocka_unit_test(test_recipes_budget),
        cmocka_unit_test(test_chain_budget),
        cmocka_unit_test(test_recover_output_verifies),
        cmocka_unit_test(test_default_budget_and_version_steps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
