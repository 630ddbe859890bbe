/* test_format1.c -- format 1 (the original Python package's files):
 * every fixture in tests/data/format1 decodes to exactly its inputs and
 * verifies; files written with raiiaf_writer_set_format(w, 1) from the
 * same inputs match the fixtures chunk by chunk; damaged files never give
 * silently wrong latents or image bytes.
 *
 * The bit-flip test flips one bit in every STRIDE-th byte of each unique
 * latent and image payload (STRIDE from RAIIAF_F1_FLIP_STRIDE, default 251;
 * 1 flips every byte), plus 500 random bits elsewhere in each fixture.
 * RAIIAF_F1_FLIP_SHARD=k/n runs every n-th flip starting at k. */
#include "testutil.h"
#include "half.h"
#include "format1.h"
#include "raiiaf.h"

#include <jansson.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#define F1DIR RAIIAF_TEST_DATA "/format1/"

static const char *const fixtures[] = {"f32_noise_1x4x64x64", "two_latents", "uncompressed", "f16_uncompressed"};
#define NFIX 4

static json_t *fixture_json(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, F1DIR "%s.json", name);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    assert_non_null(j);
    return j;
}

static unsigned char *fixture_file(const char *name, const char *suffix, size_t *size)
{
    char path[512];
    snprintf(path, sizeof path, F1DIR "%s%s", name, suffix);
    return tu_read_file(path, size);
}

/* numpy's float32 -> float16 (round to nearest even): the library's (src/half.c). */
#define f32_to_f16 rf_f32_to_f16

/* The latent exactly as format 1 stores it: the .npy's bytes, or for the
 * float16 fixture their float16 rounding (the package converted them). */
static unsigned char *expected_latent(const char *fix, const char *key, int f16, size_t *size, uint64_t shape[4])
{
    char path[512], err[256];
    snprintf(path, sizeof path, F1DIR "%s.%s.npy", fix, key);
    raiiaf_array a;
    assert_int_equal(raiiaf_npy_read_file(path, &a, err, sizeof err), 0);
    assert_int_equal(a.dtype, RAIIAF_F32);
    assert_int_equal(a.rank, 4);
    for (int i = 0; i < 4; i++) shape[i] = a.shape[i];
    unsigned char *out;
    if (!f16) {
        out = malloc(a.size);
        memcpy(out, a.data, a.size);
        *size = a.size;
    } else {
        size_t n = a.size / 4;
        out = malloc(n * 2);
        for (size_t i = 0; i < n; i++) {
            float f;
            memcpy(&f, (const unsigned char *)a.data + 4 * i, 4);
            uint16_t h = f32_to_f16(f);
            out[2 * i] = (unsigned char)h;
            out[2 * i + 1] = (unsigned char)(h >> 8);
        }
        *size = n * 2;
    }
    raiiaf_array_free(&a);
    return out;
}

typedef struct {
    int problems, warnings;
    char last_warning[512];
} report_count;

static void count_report(void *ctx, int status, const char *msg)
{
    report_count *c = ctx;
    if (status == RAIIAF_OK) {
        assert_true(strncmp(msg, "warning: ", 9) == 0);
        c->warnings++;
        snprintf(c->last_warning, sizeof c->last_warning, "%s", msg);
    } else {
        fprintf(stderr, "unexpected problem: %s\n", msg);
        c->problems++;
    }
}

/* original: a file the Python package wrote (one warning: its stale
 * file_size); env_components: how many the ENVC record holds. */
static void check_fixture(const char *fix, raiiaf_reader *r, int original, size_t env_components)
{
    json_t *j = fixture_json(fix);
    int f16 = json_is_true(json_object_get(j, "convert_float16"));
    unsigned major, minor;
    raiiaf_reader_format(r, &major, &minor);
    assert_int_equal(major, 1);
    assert_int_equal(minor, 0);
    json_t *keys = json_object_get(j, "latent_keys_in_order");
    assert_int_equal(raiiaf_reader_tensor_count(r), json_array_size(keys));
    for (size_t i = 0; i < json_array_size(keys); i++) {
        const char *key = json_string_value(json_array_get(keys, i));
        size_t idx;
        assert_int_equal(raiiaf_reader_find_tensor(r, key, &idx), RAIIAF_OK);
        assert_int_equal(idx, i);
        raiiaf_tensor_info t;
        assert_int_equal(raiiaf_reader_tensor_info(r, i, &t), RAIIAF_OK);
        assert_string_equal(t.name, key);
        assert_int_equal(t.dtype, f16 ? RAIIAF_F16 : RAIIAF_F32);
        uint64_t shape[4];
        size_t esize;
        unsigned char *want = expected_latent(fix, key, f16, &esize, shape);
        assert_int_equal(t.rank, 4);
        for (int k = 0; k < 4; k++) assert_int_equal(t.shape[k], shape[k]);
        assert_int_equal(t.raw_size, esize);
        unsigned char *got = malloc(esize);
        assert_int_equal(raiiaf_reader_read_tensor(r, i, got, esize), RAIIAF_OK);
        assert_memory_equal(got, want, esize);
        if (!f16) {
            char hex[65];
            rf_sha256_hex(got, esize, hex);
            assert_string_equal(hex, json_string_value(json_object_get(json_object_get(j, "latent_sha256_of_c_order_bytes"), key)));
        }
        free(got);
        free(want);
    }
    size_t isz;
    unsigned char *img = fixture_file(fix, ".img_binary.png", &isz);
    const void *data;
    size_t size;
    const char *format;
    uint32_t w, h;
    assert_int_equal(raiiaf_reader_image(r, &data, &size, &format, &w, &h), RAIIAF_OK);
    assert_int_equal(size, isz);
    assert_memory_equal(data, img, isz);
    assert_string_equal(format, "png");
    assert_int_equal(w, 512);
    assert_int_equal(h, 512);
    free(img);
    /* manifest and environment record */
    size_t mlen;
    const char *m = raiiaf_reader_manifest(r, &mlen);
    assert_non_null(m);
    assert_true(strncmp(m, "{\n  \"raiiaf_metadata\": {\n    \"file_info\": {", 42) == 0);
    json_t *mj = json_loadb(m, mlen, 0, NULL);
    assert_non_null(mj);
    json_t *mi = json_object_get(json_object_get(mj, "raiiaf_metadata"), "model_info");
    assert_string_equal(json_string_value(json_object_get(mi, "model_name")), json_string_value(json_object_get(j, "model_name")));
    assert_string_equal(json_string_value(json_object_get(mi, "prompt")), json_string_value(json_object_get(j, "prompt")));
    assert_true(json_equal(json_object_get(mi, "generation_settings"), json_object_get(j, "generation_settings")));
    assert_true(json_equal(json_object_get(mi, "hardware_info"), json_object_get(j, "hardware_info")));
    json_decref(mj);
    const char *env;
    size_t elen;
    assert_int_equal(raiiaf_reader_env_json(r, &env, &elen), RAIIAF_OK);
    json_t *ej = json_loadb(env, elen, 0, NULL);
    assert_non_null(ej);
    assert_int_equal(json_integer_value(json_object_get(ej, "env_version")), 1);
    assert_int_equal(json_array_size(json_object_get(ej, "components")), env_components);
    json_decref(ej);
    /* chunk list: LATN..., DATA, ENVC */
    size_t nc = raiiaf_reader_chunk_count(r);
    assert_int_equal(nc, json_array_size(keys) + 2);
    raiiaf_chunk_info ci;
    assert_int_equal(raiiaf_reader_chunk_info(r, nc - 2, &ci), RAIIAF_OK);
    assert_string_equal(ci.type, "DATA");
    assert_int_equal(raiiaf_reader_chunk_info(r, nc - 1, &ci), RAIIAF_OK);
    assert_string_equal(ci.type, "ENVC");
    /* verify: sound, with the stale file_size as the only warning */
    report_count c = {0};
    assert_int_equal(raiiaf_reader_verify(r, count_report, &c), RAIIAF_OK);
    assert_int_equal(c.problems, 0);
    assert_int_equal(c.warnings, original);
    if (original) assert_non_null(strstr(c.last_warning, "file_info/file_size"));
    json_decref(j);
}

static void test_fixtures_decode(void **state)
{
    (void)state;
    for (int f = 0; f < NFIX; f++) {
        char path[512];
        snprintf(path, sizeof path, F1DIR "%s.raiiaf", fixtures[f]);
        raiiaf_reader *r;
        int rc = raiiaf_reader_open_file(path, 0, &r);
        if (rc) fprintf(stderr, "%s: %s\n", path, raiiaf_reader_errmsg(r));
        assert_int_equal(rc, RAIIAF_OK);
        check_fixture(fixtures[f], r, 1, 5);
        const void *p;
        assert_int_equal(raiiaf_reader_tensor_data(r, 0, &p), RAIIAF_E_CODEC);
        raiiaf_reader_free(r);
        size_t size;
        unsigned char *d = tu_read_file(path, &size);
        assert_int_equal(raiiaf_reader_open_memory(d, size, 0, &r), RAIIAF_OK);
        check_fixture(fixtures[f], r, 1, 5);
        raiiaf_reader_free(r);
        free(d);
    }
}

/* ---- chunk-by-chunk comparison ----------------------------------------- */

typedef struct {
    unsigned char *d;
    size_t size;
    uint32_t moff, mlen, count;
    json_t *manifest;
    char *mtext;
} f1file;

static void f1_load(f1file *f, unsigned char *d, size_t size)
{
    f->d = d;
    f->size = size;
    assert_true(size > 33 && !memcmp(d, "raiiaf", 6));
    f->moff = rf_le32(d + 9);
    f->mlen = rf_le32(d + 13);
    f->count = rf_le32(d + 17);
    assert_int_equal(rf_le64(d + 21), size);
    unsigned long long cs = ZSTD_getFrameContentSize(d + f->moff, f->mlen);
    char *t = malloc(cs + 1);
    assert_int_equal(ZSTD_decompress(t, cs, d + f->moff, f->mlen), cs);
    t[cs] = 0;
    f->mtext = strdup(t + 12);
    free(t);
    f->manifest = json_loads(f->mtext, 0, NULL);
    assert_non_null(f->manifest);
}

static void f1_free(f1file *f)
{
    free(f->d);
    free(f->mtext);
    json_decref(f->manifest);
}

static json_t *records(f1file *f) { return json_object_get(json_object_get(f->manifest, "raiiaf_metadata"), "chunks"); }

/* Replaces the value after "key": up to the next ',' or newline with X. */
static char *normalise(const char *text, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(text, pat);
    assert_non_null(p);
    p += strlen(pat);
    const char *e = p + strcspn(p, ",\n");
    size_t n = strlen(text);
    char *out = malloc(n + 2);
    memcpy(out, text, (size_t)(p - text));
    out[p - text] = 'X';
    strcpy(out + (p - text) + 1, e);
    return out;
}

/* Compares two format 1 files chunk by chunk: every record's bytes equal
 * (ENVC only if same_env, else its structure), the manifest text equal once
 * date and file_size are normalised.  Returns the number of chunks equal. */
static int compare_chunks(f1file *a, f1file *ours, int same_env, int zstd_same)
{
    int equal = 0;
    assert_memory_equal(a->d, ours->d, 9);
    assert_int_equal(a->count, ours->count);
    assert_int_equal(rf_le32(ours->d + 29), 0);
    json_t *ra = records(a), *rb = records(ours);
    assert_int_equal(json_array_size(ra), json_array_size(rb));
    for (size_t i = 0; i < json_array_size(ra); i++) {
        json_t *x = json_array_get(ra, i), *y = json_array_get(rb, i);
        const char *type = json_string_value(json_object_get(x, "type"));
        assert_string_equal(type, json_string_value(json_object_get(y, "type")));
        uint64_t xo = (uint64_t)json_integer_value(json_object_get(x, "offset")), yo = (uint64_t)json_integer_value(json_object_get(y, "offset"));
        uint64_t xs = (uint64_t)json_integer_value(json_object_get(x, "compressed_size")),
                 ys = (uint64_t)json_integer_value(json_object_get(y, "compressed_size"));
        if (!strcmp(type, "ENVC") && !same_env) {
            /* structure: {"env_version": 1, "components": [{component_id, cononical_str, component_sha256_digest}]} */
            unsigned long long cs = ZSTD_getFrameContentSize(ours->d + yo, ys);
            char *t = malloc(cs + 1);
            assert_int_equal(ZSTD_decompress(t, cs, ours->d + yo, ys), cs);
            t[cs] = 0;
            assert_memory_equal(t, "ENVC0000", 8);
            json_t *env = json_loads(t + 12, 0, NULL);
            assert_non_null(env);
            assert_int_equal(json_integer_value(json_object_get(env, "env_version")), 1);
            json_t *c = json_array_get(json_object_get(env, "components"), 0);
            assert_string_equal(json_string_value(json_object_get(c, "component_id")), "os");
            const char *canon = json_string_value(json_object_get(c, "cononical_str"));
            assert_true(strncmp(canon, "name=os;version=", 16) == 0);
            char hex[65];
            rf_sha256_hex(canon, strlen(canon), hex);
            assert_string_equal(hex, json_string_value(json_object_get(c, "component_sha256_digest")));
            /* the same indent=2 layout as the original's */
            assert_true(strncmp(t + 12, "{\n  \"env_version\": 1,\n  \"components\": [\n    {\n      \"component_id\": \"os\",", 70) == 0);
            json_decref(env);
            free(t);
            continue;
        }
        if (zstd_same || !strcmp(type, "LATN")) {
            assert_int_equal(xs, ys);
            /* LATN: the zstd inner-header frame + the zfp stream, or raw. */
            assert_memory_equal(a->d + xo, ours->d + yo, xs);
        } else {
            unsigned long long c1 = ZSTD_getFrameContentSize(a->d + xo, xs), c2 = ZSTD_getFrameContentSize(ours->d + yo, ys);
            assert_int_equal(c1, c2);
            char *t1 = malloc(c1), *t2 = malloc(c2);
            ZSTD_decompress(t1, c1, a->d + xo, xs);
            ZSTD_decompress(t2, c2, ours->d + yo, ys);
            assert_memory_equal(t1, t2, c1);
            free(t1);
            free(t2);
        }
        equal++;
    }
    /* The manifest: same text once date and file_size are set aside (and
     * offsets, which follow from an ENVC of another size). */
    char *x1 = normalise(a->mtext, "date"), *x2 = normalise(x1, "file_size");
    char *y1 = normalise(ours->mtext, "date"), *y2 = normalise(y1, "file_size");
    if (same_env) {
        assert_string_equal(x2, y2);
    } else {
        /* ENVC differs in content: give ours the fixture's ENVC record,
         * date and file_size, and our JSON writer must reproduce the
         * fixture's manifest text exactly. */
        json_t *copy = json_deep_copy(ours->manifest), *cm = json_object_get(copy, "raiiaf_metadata");
        json_t *am = json_object_get(a->manifest, "raiiaf_metadata");
        json_object_set(json_object_get(cm, "model_info"), "date", json_object_get(json_object_get(am, "model_info"), "date"));
        json_object_set(json_object_get(cm, "file_info"), "file_size", json_object_get(json_object_get(am, "file_info"), "file_size"));
        json_t *rc = json_object_get(cm, "chunks");
        size_t last = json_array_size(rc) - 1;
        json_array_set(rc, last, json_array_get(records(a), last));
        size_t n;
        char *t = rf_py_json_dumps(copy, &n);
        assert_string_equal(t, a->mtext);
        free(t);
        json_decref(copy);
    }
    free(x1);
    free(x2);
    free(y1);
    free(y2);
    /* our file_size is right */
    json_t *fs = json_object_get(json_object_get(json_object_get(ours->manifest, "raiiaf_metadata"), "file_info"), "file_size");
    assert_int_equal(json_integer_value(fs), ours->size);
    return equal;
}

/* Writes fixture `fix` again from its inputs with the writer API. */
static char *rebuild(const char *fix, const char *dir, const char *env, size_t env_len)
{
    json_t *j = fixture_json(fix);
    char *out = tu_path(dir, fix);
    raiiaf_writer *w;
    assert_int_equal(raiiaf_writer_new(out, &w), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_format(w, 1), RAIIAF_OK);
    json_t *mi = json_pack("{s:O,s:O,s:O,s:O,s:O,s:O}", "model_name", json_object_get(j, "model_name"), "version",
                           json_object_get(j, "model_version"), "prompt", json_object_get(j, "prompt"), "tags", json_object_get(j, "tags"),
                           "generation_settings", json_object_get(j, "generation_settings"), "hardware_info",
                           json_object_get(j, "hardware_info"));
    json_t *m = json_pack("{s:{s:o}}", "raiiaf_metadata", "model_info", mi);
    char *t = json_dumps(m, JSON_COMPACT);
    assert_int_equal(raiiaf_writer_merge_json(w, t), RAIIAF_OK);
    free(t);
    json_decref(m);
    if (env) assert_int_equal(raiiaf_writer_set_format1_env(w, env, env_len), RAIIAF_OK);
    int f16 = json_is_true(json_object_get(j, "convert_float16")), compress = json_is_true(json_object_get(j, "should_compress"));
    json_t *keys = json_object_get(j, "latent_keys_in_order");
    for (size_t i = 0; i < json_array_size(keys); i++) {
        const char *key = json_string_value(json_array_get(keys, i));
        size_t n;
        uint64_t shape[4];
        unsigned char *lat = expected_latent(fix, key, f16, &n, shape);
        int rc = raiiaf_writer_add_tensor(w, key, f16 ? RAIIAF_F16 : RAIIAF_F32, 4, shape, lat, n,
                                          compress ? RAIIAF_CODEC_AUTO : RAIIAF_CODEC_RAW, 0);
        if (rc) fprintf(stderr, "%s\n", raiiaf_writer_errmsg(w));
        assert_int_equal(rc, RAIIAF_OK);
        free(lat);
    }
    size_t isz;
    unsigned char *img = fixture_file(fix, ".img_binary.png", &isz);
    assert_int_equal(raiiaf_writer_add_image(w, img, isz), RAIIAF_OK);
    free(img);
    int rc = raiiaf_writer_finish(w);
    if (rc) fprintf(stderr, "%s\n", raiiaf_writer_errmsg(w));
    assert_int_equal(rc, RAIIAF_OK);
    raiiaf_writer_free(w);
    json_decref(j);
    return out;
}

static void test_rebuild_fixtures(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    int zstd_same = ZSTD_versionNumber() == 10504; /* 1.5.4, as Debian 12: frames byte for byte */
    int total = 0;
    for (int f = 0; f < NFIX; f++) {
        for (int same_env = 0; same_env < 2; same_env++) {
            size_t size;
            f1file a = {0}, b = {0};
            unsigned char *fd = fixture_file(fixtures[f], ".raiiaf", &size);
            f1_load(&a, fd, size);
            /* the fixture's own ENVC text, so that chunk must match too */
            raiiaf_reader *r;
            assert_int_equal(raiiaf_reader_open_memory(a.d, a.size, 0, &r), RAIIAF_OK);
            const char *env;
            size_t elen;
            assert_int_equal(raiiaf_reader_env_json(r, &env, &elen), RAIIAF_OK);
            char *out = rebuild(fixtures[f], dir, same_env ? env : NULL, elen);
            raiiaf_reader_free(r);
            size_t osize;
            unsigned char *od = tu_read_file(out, &osize);
            f1_load(&b, od, osize);
            int eq = compare_chunks(&a, &b, same_env, zstd_same);
            total += eq;
            /* what we wrote reads back and verifies without any warning */
            assert_int_equal(raiiaf_reader_open_file(out, 0, &r), RAIIAF_OK);
            check_fixture(fixtures[f], r, 0, same_env ? 5 : 1);
            raiiaf_reader_free(r);
            unlink(out);
            free(out);
            f1_free(&a);
            f1_free(&b);
        }
    }
    fprintf(stderr, "format 1 rebuild: %d chunks byte-identical to the fixtures%s\n", total, zstd_same ? "" : " (zstd frames compared decoded)");
    rmdir(dir);
    free(dir);
}

/* ---- damage ------------------------------------------------------------ */

typedef struct {
    unsigned long flips, failed, identical, manifest_changed;
} flip_stats;

/* Opens the (damaged) buffer and reads chunk `ci` (-1: everything); every
 * latent and the image must either fail or equal what the undamaged file
 * gave.  Never silently wrong data. */
static void read_check(unsigned char *d, size_t size, long ci, unsigned char **lat, size_t *lat_size, size_t nlat,
                       const unsigned char *img, size_t img_size, const char *mtext, flip_stats *st, int do_verify)
{
    raiiaf_reader *r;
    st->flips++;
    int rc = raiiaf_reader_open_memory(d, size, 0, &r);
    if (rc) {
        assert_true(rc != RAIIAF_E_NOMEM && rc != RAIIAF_E_ARG);
        assert_true(raiiaf_reader_errmsg(r)[0] != 0);
        st->failed++;
        raiiaf_reader_free(r);
        return;
    }
    int any_fail = 0;
    size_t n = raiiaf_reader_tensor_count(r);
    if (n != nlat) any_fail = 1; /* (cannot happen without failing at open) */
    for (size_t i = 0; i < n && i < nlat; i++) {
        raiiaf_tensor_info t;
        assert_int_equal(raiiaf_reader_tensor_info(r, i, &t), RAIIAF_OK);
        raiiaf_chunk_info c;
        raiiaf_reader_chunk_info(r, i, &c);
        if (ci >= 0 && (size_t)ci != i) continue;
        if (t.raw_size != lat_size[i]) {
            any_fail = 1;
            continue;
        }
        unsigned char *buf = malloc(t.raw_size);
        rc = raiiaf_reader_read_tensor(r, i, buf, (size_t)t.raw_size);
        if (rc) any_fail = 1;
        else assert_memory_equal(buf, lat[i], lat_size[i]); /* never silently wrong */
        free(buf);
    }
    if (ci < 0 || (size_t)ci == nlat) {
        const void *p;
        size_t s;
        rc = raiiaf_reader_image(r, &p, &s, NULL, NULL, NULL);
        if (rc) any_fail = 1;
        else {
            assert_int_equal(s, img_size);
            assert_memory_equal(p, img, img_size);
        }
    }
    if (ci < 0) {
        const char *e;
        if (raiiaf_reader_env_json(r, &e, NULL)) any_fail = 1;
        size_t ml;
        const char *m = raiiaf_reader_manifest(r, &ml);
        if (strcmp(m, mtext)) st->manifest_changed++;
    }
    if (do_verify && raiiaf_reader_verify(r, NULL, NULL) == RAIIAF_OK && any_fail) fail_msg("verify passed a file that does not read");
    if (any_fail) st->failed++;
    else st->identical++;
    raiiaf_reader_free(r);
}

static void test_bit_flips(void **state)
{
    (void)state;
    const char *s = getenv("RAIIAF_F1_FLIP_STRIDE"), *sh = getenv("RAIIAF_F1_FLIP_SHARD");
    size_t stride = s ? (size_t)strtoul(s, NULL, 10) : 251;
    if (!stride) stride = 1;
    unsigned shard = 0, nshards = 1;
    if (sh) sscanf(sh, "%u/%u", &shard, &nshards);
    flip_stats payload = {0}, elsewhere = {0};
    uint64_t rng = 0x5eed1234abcdULL;
    /* Payload bytes already flipped (identical streams appear in several
     * fixtures: the image everywhere, initial_noise in two). */
    char seen[NFIX * 8][65];
    int nseen = 0;
    unsigned long counter = 0;
    for (int f = 0; f < NFIX; f++) {
        size_t size;
        unsigned char *d = fixture_file(fixtures[f], ".raiiaf", &size);
        raiiaf_reader *r;
        assert_int_equal(raiiaf_reader_open_memory(d, size, 0, &r), RAIIAF_OK);
        size_t nlat = raiiaf_reader_tensor_count(r), lat_size[4];
        unsigned char *lat[4];
        for (size_t i = 0; i < nlat; i++) {
            raiiaf_tensor_info t;
            raiiaf_reader_tensor_info(r, i, &t);
            lat_size[i] = (size_t)t.raw_size;
            lat[i] = malloc(lat_size[i]);
            assert_int_equal(raiiaf_reader_read_tensor(r, i, lat[i], lat_size[i]), RAIIAF_OK);
        }
        const void *ip;
        size_t img_size;
        assert_int_equal(raiiaf_reader_image(r, &ip, &img_size, NULL, NULL, NULL), RAIIAF_OK);
        unsigned char *img = malloc(img_size);
        memcpy(img, ip, img_size);
        char *mtext = strdup(raiiaf_reader_manifest(r, NULL));
        unsigned char *covered = calloc(size, 1);
        memset(covered, 0, 33);
        for (size_t ci = 0; ci <= nlat; ci++) {
            raiiaf_chunk_info c;
            assert_int_equal(raiiaf_reader_chunk_info(r, ci, &c), RAIIAF_OK);
            memset(covered + c.offset, 1, (size_t)c.stored_size);
            char hex[65];
            rf_sha256_hex(d + c.offset, (size_t)c.stored_size, hex);
            int dup = 0;
            for (int k = 0; k < nseen; k++) dup |= !strcmp(seen[k], hex);
            if (dup) continue;
            memcpy(seen[nseen++], hex, 65);
            for (uint64_t b = 0; b < c.stored_size; b += stride) {
                if (counter++ % nshards != shard) continue;
                size_t at = (size_t)(c.offset + b);
                unsigned char bit = (unsigned char)(1u << (b % 8));
                d[at] ^= bit;
                read_check(d, size, (long)ci, lat, lat_size, nlat, img, img_size, mtext, &payload, 0);
                d[at] ^= bit;
            }
        }
        raiiaf_reader_free(r);
        /* 500 random bits anywhere else: header, inner headers, ENVC, META. */
        size_t others = 0;
        for (size_t i = 0; i < size; i++) others += !covered[i];
        for (int k = 0; k < 500; k++) {
            if (counter++ % nshards != shard) continue;
            size_t at;
            do at = (size_t)(tu_rand(&rng) % size);
            while (covered[at] && others);
            unsigned char bit = (unsigned char)(1u << (tu_rand(&rng) % 8));
            d[at] ^= bit;
            read_check(d, size, -1, lat, lat_size, nlat, img, img_size, mtext, &elsewhere, 1);
            d[at] ^= bit;
        }
        /* and truncation at every 997th length */
        for (size_t len = 0; len < size; len += 997) {
            raiiaf_reader *t;
            assert_int_not_equal(raiiaf_reader_open_memory(d, len, 0, &t), RAIIAF_OK);
            raiiaf_reader_free(t);
        }
        for (size_t i = 0; i < nlat; i++) free(lat[i]);
        free(img);
        free(mtext);
        free(covered);
        free(d);
    }
    fprintf(stderr, "format 1 bit flips (stride %zu, shard %u/%u): payload %lu flips: %lu failed, %lu identical; elsewhere %lu flips: %lu failed, %lu identical (manifest text changed silently in %lu: format 1 has no checksum over it)\n",
            stride, shard, nshards, payload.flips, payload.failed, payload.identical, elsewhere.flips, elsewhere.failed, elsewhere.identical,
            elsewhere.manifest_changed);
    assert_int_equal(payload.flips, payload.failed + payload.identical);
}

/* ---- specific errors --------------------------------------------------- */

/* Rewrites a fixture's manifest through `edit` (a raw JSON text
 * replacement) and fixes the header, giving a file whose only fault is
 * the edited field. */
static unsigned char *with_manifest_edit(const char *fix, const char *from, const char *to, size_t *out_size)
{
    size_t size;
    f1file a = {0};
    unsigned char *fd = fixture_file(fix, ".raiiaf", &size);
    f1_load(&a, fd, size);
    char *p = strstr(a.mtext, from);
    assert_non_null(p);
    size_t n = strlen(a.mtext) - strlen(from) + strlen(to);
    char *t = malloc(12 + n + 1);
    memcpy(t, "META0000", 8);
    rf_put32((unsigned char *)t + 8, (uint32_t)n);
    memcpy(t + 12, a.mtext, (size_t)(p - a.mtext));
    strcpy(t + 12 + (p - a.mtext), to);
    strcat(t + 12, p + strlen(from));
    size_t bound = ZSTD_compressBound(12 + n);
    unsigned char *out = malloc(a.moff + bound);
    memcpy(out, a.d, a.moff);
    size_t c = ZSTD_compress(out + a.moff, bound, t, 12 + n, 3);
    rf_put32(out + 13, (uint32_t)c);
    rf_put64(out + 21, a.moff + c);
    *out_size = a.moff + c;
    free(t);
    f1_free(&a);
    return out;
}

static void expect_fail(unsigned char *d, size_t size, int at_open, int code, const char *words)
{
    raiiaf_reader *r;
    int rc = raiiaf_reader_open_memory(d, size, 0, &r);
    if (!at_open) {
        assert_int_equal(rc, RAIIAF_OK);
        unsigned char *buf = malloc(65536);
        rc = raiiaf_reader_read_tensor(r, 0, buf, 65536);
        free(buf);
        char msg[600];
        snprintf(msg, sizeof msg, "%s", raiiaf_reader_errmsg(r));
        int vrc = raiiaf_reader_verify(r, NULL, NULL);
        if (vrc == RAIIAF_OK) fail_msg("verify passed a file whose read failed with %d: %s", rc, msg);
        if (rc != code || !strstr(msg, words)) fail_msg("expected %d with \"%s\", got %d: %s", code, words, rc, msg);
        raiiaf_reader_free(r);
        free(d);
        return;
    }
    if (rc != code || !strstr(raiiaf_reader_errmsg(r), words))
        fail_msg("expected %d with \"%s\", got %d: %s", code, words, rc, raiiaf_reader_errmsg(r));
    raiiaf_reader_free(r);
    free(d);
}

static void test_specific_errors(void **state)
{
    (void)state;
    size_t n, size;
    unsigned char *d;
    d = with_manifest_edit("two_latents", "\"offset\": 247392", "\"offset\": 9999999", &n);
    expect_fail(d, n, 1, RAIIAF_E_CORRUPT, "does not fit");
    d = with_manifest_edit("two_latents", "\"len_header\": 21", "\"len_header\": 22", &n);
    expect_fail(d, n, 1, RAIIAF_E_CORRUPT, "len_header 22");
    d = with_manifest_edit("uncompressed", "\"len_data\": 65536", "\"len_data\": 65535", &n);
    expect_fail(d, n, 1, RAIIAF_E_CORRUPT, "len_data");
    d = with_manifest_edit("two_latents", "\"dtype\": \"float32\"", "\"dtype\": \"int8\"", &n);
    expect_fail(d, n, 1, RAIIAF_E_CORRUPT, "unknown dtype \"int8\"");
    d = with_manifest_edit("two_latents", "\"flags\": \"F32\"", "\"flags\": \"F64\"", &n);
    expect_fail(d, n, 1, RAIIAF_E_CORRUPT, "\"F64\" is not a latent dtype flag");
    d = with_manifest_edit("two_latents", "\"type\": \"DATA\"", "\"type\": \"XTRA\"", &n);
    expect_fail(d, n, 1, RAIIAF_E_CORRUPT, "not a format 1 chunk type");
    /* same byte count, another shape: the zfp header disagrees */
    d = with_manifest_edit("f32_noise_1x4x64x64", "            64,\n            64\n", "            32,\n            128\n", &n);
    expect_fail(d, n, 0,
                RAIIAF_E_CORRUPT, "the zfp header describes");
    /* Bit flips in the zfp stream.  Many change only values that zfp
     * decodes for the padding of its 4x4x4x4 blocks (N = 1 is padded to 4)
     * and throws away: those read back identical.  The first that changes
     * the latent must be caught by its SHA-256. */
    d = fixture_file("f32_noise_1x4x64x64", ".raiiaf", &size);
    int caught = 0;
    for (size_t at = 33 + 21 + 5000; !caught && at < 33 + 21 + 6000; at++) {
        d[at] ^= 0x10;
        raiiaf_reader *r;
        assert_int_equal(raiiaf_reader_open_memory(d, size, 0, &r), RAIIAF_OK);
        unsigned char *buf = malloc(65536);
        int rc = raiiaf_reader_read_tensor(r, 0, buf, 65536);
        if (rc) {
            assert_true(rc == RAIIAF_E_DIGEST || rc == RAIIAF_E_CORRUPT);
            assert_non_null(strstr(raiiaf_reader_errmsg(r), "chunk 0 (LATN \"initial_noise\") at offset 33"));
            caught = 1;
        }
        free(buf);
        raiiaf_reader_free(r);
        d[at] ^= 0x10;
    }
    assert_true(caught);
    free(d);
    /* the zfp header: its dimensions */
    d = fixture_file("f32_noise_1x4x64x64", ".raiiaf", &size);
    d[33 + 21 + 6] ^= 0x04;
    expect_fail(d, size, 0, RAIIAF_E_CORRUPT, "zfp");
    /* the image (stored in raw zstd blocks: the flip reaches the bytes) */
    d = fixture_file("uncompressed", ".raiiaf", &size);
    d[65581 + 300000] ^= 0x01;
    {
        raiiaf_reader *r;
        assert_int_equal(raiiaf_reader_open_memory(d, size, 0, &r), RAIIAF_OK);
        assert_int_equal(raiiaf_reader_image(r, NULL, NULL, NULL, NULL, NULL), RAIIAF_E_DIGEST);
        assert_non_null(strstr(raiiaf_reader_errmsg(r), "chunk 1 (DATA) at offset 65581: SHA-256"));
        raiiaf_reader_free(r);
        free(d);
    }
    /* uncompressed latent bytes */
    d = fixture_file("uncompressed", ".raiiaf", &size);
    d[33 + 12 + 999] ^= 0x80;
    expect_fail(d, size, 0, RAIIAF_E_DIGEST, "SHA-256 of the decoded content");
    d = fixture_file("f32_noise_1x4x64x64", ".raiiaf", &size);
    expect_fail(d, size - 1, 1, RAIIAF_E_TRUNCATED, "truncated");
    d = fixture_file("f32_noise_1x4x64x64", ".raiiaf", &size);
    d[9] ^= 1; /* manifest offset */
    expect_fail(d, size, 1, RAIIAF_E_CORRUPT, "does not end at the end of the file");
    d = fixture_file("f32_noise_1x4x64x64", ".raiiaf", &size);
    d[20] = 0xff; /* record count */
    expect_fail(d, size, 1, RAIIAF_E_LIMIT, "chunk records");
    d = fixture_file("f32_noise_1x4x64x64", ".raiiaf", &size);
    d[6] = 3;
    expect_fail(d, size, 1, RAIIAF_E_VERSION, "version 3.0");
}

/* ---- writer refusals --------------------------------------------------- */

static void test_writer_rules(void **state)
{
    (void)state;
    char *dir = tu_tempdir(), *out = tu_path(dir, "x.raiiaf");
    raiiaf_writer *w;
    float z[16] = {0};
    uint64_t s3[3] = {1, 4, 4}, s4[4] = {1, 1, 4, 4};
    assert_int_equal(raiiaf_writer_new(out, &w), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_format1_env(w, "{}", 2), RAIIAF_E_STATE); /* format 2 writer */
    assert_int_equal(raiiaf_writer_set_format(w, 3), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_writer_set_format(w, 1), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_tensor(w, "a", RAIIAF_F32, 3, s3, z, sizeof z, RAIIAF_CODEC_AUTO, 0), RAIIAF_E_CODEC);
    assert_non_null(strstr(raiiaf_writer_errmsg(w), "4-D"));
    assert_int_equal(raiiaf_writer_add_tensor(w, "a", RAIIAF_I32, 4, s4, z, sizeof z, RAIIAF_CODEC_AUTO, 0), RAIIAF_E_CODEC);
    assert_int_equal(raiiaf_writer_add_tensor(w, "a", RAIIAF_F32, 4, s4, z, sizeof z, RAIIAF_CODEC_ZSTD, 0), RAIIAF_E_CODEC);
    assert_int_equal(raiiaf_writer_add_tensor(w, "a", RAIIAF_F32, 4, s4, z, sizeof z, RAIIAF_CODEC_ZFP, 0.1), RAIIAF_E_CODEC);
    assert_int_equal(raiiaf_writer_add_tensor(w, "a", RAIIAF_F16, 4, s4, z, 32, RAIIAF_CODEC_ZFP, 0), RAIIAF_E_CODEC);
    z[3] = INFINITY;
    assert_int_equal(raiiaf_writer_add_tensor(w, "a", RAIIAF_F32, 4, s4, z, sizeof z, RAIIAF_CODEC_AUTO, 0), RAIIAF_E_CODEC);
    z[3] = 1.5f;
    assert_int_equal(raiiaf_writer_add_tensor(w, "a", RAIIAF_F32, 4, s4, z, sizeof z, RAIIAF_CODEC_AUTO, 0), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_tensor(w, "a", RAIIAF_F32, 4, s4, z, sizeof z, RAIIAF_CODEC_AUTO, 0), RAIIAF_E_EXISTS);
    assert_int_equal(raiiaf_writer_set_format(w, 2), RAIIAF_E_STATE);
    assert_int_equal(raiiaf_writer_add_chunk(w, "XTRA", "x", 1), RAIIAF_E_STATE);
    /* model_info is required */
    assert_int_equal(raiiaf_writer_finish(w), RAIIAF_E_SCHEMA);
    assert_non_null(strstr(raiiaf_writer_errmsg(w), "model_name"));
    assert_int_equal(raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/model_name", "m\xc3\xa9"), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/version", "1"), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/prompt", "a \"cat\" \xf0\x9f\x90\x88\n"), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_finish(w), RAIIAF_E_SCHEMA);
    assert_non_null(strstr(raiiaf_writer_errmsg(w), "tags"));
    assert_int_equal(raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/tags", "[]"), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/generation_settings", "{\"seed\": 1}"), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_finish(w), RAIIAF_E_SCHEMA); /* steps, sampler required by format 1's rules */
    assert_int_equal(raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/generation_settings",
                                            "{\"seed\": 1, \"steps\": 2, \"sampler\": \"x\", \"cfg_scale\": 1e-05, \"eta\": 1e+16}"),
                     RAIIAF_OK);
    int rc = raiiaf_writer_finish(w);
    if (rc) fprintf(stderr, "%s\n", raiiaf_writer_errmsg(w));
    assert_int_equal(rc, RAIIAF_OK);
    raiiaf_writer_free(w);
    raiiaf_reader *r;
    assert_int_equal(raiiaf_reader_open_file(out, 0, &r), RAIIAF_OK);
    const char *m = raiiaf_reader_manifest(r, NULL);
    /* ensure_ascii escapes, surrogate pairs, Python float repr */
    assert_non_null(strstr(m, "\"model_name\": \"m\\u00e9\""));
    assert_non_null(strstr(m, "\"prompt\": \"a \\\"cat\\\" \\ud83d\\udc08\\n\""));
    assert_non_null(strstr(m, "\"cfg_scale\": 1e-05"));
    assert_non_null(strstr(m, "\"eta\": 1e+16"));
    assert_non_null(strstr(m, "\"tags\": []"));
    float back[16];
    assert_int_equal(raiiaf_reader_read_tensor(r, 0, back, sizeof back), RAIIAF_OK);
    assert_memory_equal(back, z, sizeof z);
    report_count c = {0};
    assert_int_equal(raiiaf_reader_verify(r, count_report, &c), RAIIAF_OK);
    assert_int_equal(c.warnings + c.problems, 0);
    raiiaf_reader_free(r);
    unlink(out);
    rmdir(dir);
    free(out);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures_decode), cmocka_unit_test(test_rebuild_fixtures), cmocka_unit_test(test_specific_errors),
        cmocka_unit_test(test_writer_rules),    cmocka_unit_test(test_bit_flips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
