/* test_recipe.c -- seed recipes (codec 3, format 2.1): initial noise stored
 * as torch.randn's seed only after an exact match, regenerated and checked
 * against the SHA-256 on every read; hostile recipe files refused.
 * (Bit-exactness against PyTorch itself is tests/cli_noise.py.) */
#include "testutil.h"
#include "codec.h"
#include "format.h"
#include "recipe.h"
#include "noise_torch.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *g_dir;

static int setup(void **state)
{
    (void)state;
    g_dir = tu_tempdir();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(g_dir);
    return 0;
}

static size_t count(unsigned rank, const uint64_t *shape)
{
    size_t n = 1;
    for (unsigned i = 0; i < rank; i++) n *= (size_t)shape[i];
    return n;
}

static void *noise(uint64_t seed, raiiaf_dtype dt, unsigned rank, const uint64_t *shape, const char *kernel, size_t *size)
{
    *size = count(rank, shape) * raiiaf_dtype_size(dt);
    void *p = malloc(*size ? *size : 1);
    assert_non_null(p);
    assert_int_equal(raiiaf_torch_randn(seed, dt, rank, shape, kernel, p, *size), RAIIAF_OK);
    return p;
}

/* Writes one tensor through raiiaf_writer_add_noise_tensor; returns the
 * path and whether a recipe was stored, and the writer's message. */
static char *write_noise(const char *name, const void *data, size_t size, raiiaf_dtype dt, unsigned rank, const uint64_t *shape,
                         uint64_t seed, int *as_recipe, char *msg, size_t cap)
{
    char *path = tu_path(g_dir, name);
    raiiaf_writer *w = NULL;
    assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_noise_tensor(w, "initial_noise", dt, rank, shape, data, size, seed, RAIIAF_CODEC_AUTO, as_recipe),
                     RAIIAF_OK);
    if (msg) snprintf(msg, cap, "%s", raiiaf_writer_errmsg(w));
    assert_int_equal(raiiaf_writer_finish(w), RAIIAF_OK);
    raiiaf_writer_free(w);
    return path;
}

static void expect_read_back(const char *path, const void *data, size_t size, int recipe, uint64_t seed, const char *kernel)
{
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_file(path, 0, &r), RAIIAF_OK);
    raiiaf_tensor_info ti;
    assert_int_equal(raiiaf_reader_tensor_info(r, 0, &ti), RAIIAF_OK);
    assert_int_equal(ti.raw_size, size);
    assert_int_equal(ti.codec == RAIIAF_CODEC_RECIPE, recipe);
    if (recipe) assert_int_equal(ti.stored_size, RF_RECIPE_PAYLOAD);
    void *back = malloc(size ? size : 1);
    assert_int_equal(raiiaf_reader_read_tensor(r, 0, back, size), RAIIAF_OK);
    assert_memory_equal(back, data, size);
    free(back);
    raiiaf_recipe rp;
    if (recipe) {
        assert_int_equal(raiiaf_reader_tensor_recipe(r, 0, &rp), RAIIAF_OK);
        assert_int_equal(rp.seed, seed);
        assert_string_equal(rp.kernel, kernel);
        assert_string_equal(rp.generator, "torch.randn/cpu");
    } else {
        assert_int_equal(raiiaf_reader_tensor_recipe(r, 0, &rp), RAIIAF_E_NOT_FOUND);
    }
    assert_int_equal(raiiaf_reader_verify(r, NULL, NULL), RAIIAF_OK);
    raiiaf_reader_free(r);
    /* The header says 2.1 with flag 1 exactly when a recipe is inside. */
    size_t n;
    unsigned char *f = tu_read_file(path, &n);
    assert_int_equal(rf_le16(f + 14), recipe ? 1 : 0);
    assert_int_equal(rf_le32(f + 16), recipe ? RF_FLAG_RECIPES : 0);
    free(f);
}

/* Every dtype, kernel and size class (< 16, 16, 17, 231, a latent) is
 * recognised and round-trips bit for bit. */
static void test_match_round_trip(void **state)
{
    (void)state;
    static const uint64_t shapes[][4] = {{5}, {16}, {17}, {231}, {1, 4, 64, 64}, {2, 3, 33}};
    static const unsigned ranks[] = {1, 1, 1, 1, 4, 3};
    static const raiiaf_dtype dts[] = {RAIIAF_F32, RAIIAF_F16, RAIIAF_BF16};
    static const char *const kernels[] = {"avx2-fma", "scalar", "avx2"};
    int files = 0;
    for (size_t s = 0; s < sizeof ranks / sizeof ranks[0]; s++)
        for (size_t d = 0; d < 3; d++)
            for (size_t k = 0; k < (dts[d] == RAIIAF_F32 ? 3u : 1u); k++) {
                uint64_t seed = 1000003u * s + 17u * d + k;
                size_t size;
                void *data = noise(seed, dts[d], ranks[s], shapes[s], kernels[k], &size);
                int as_recipe = -1;
                char *path = write_noise("m.raiiaf", data, size, dts[d], ranks[s], shapes[s], seed, &as_recipe, NULL, 0);
                assert_int_equal(as_recipe, 1);
                /* The kernel recorded is the first, in the documented order
                 * avx2-fma, scalar, avx2, that reproduces the data (kernels
                 * agree on < 16 values, and avx2 often equals avx2-fma);
                 * half types have one path, recorded as scalar. */
                const char *want = "scalar";
                for (size_t t = 0; dts[d] == RAIIAF_F32 && t < 3; t++) {
                    size_t sz;
                    void *alt = noise(seed, dts[d], ranks[s], shapes[s], kernels[t], &sz);
                    int same = !memcmp(alt, data, sz);
                    free(alt);
                    if (same) {
                        want = kernels[t];
                        break;
                    }
                }
                if (dts[d] == RAIIAF_F32 && count(ranks[s], shapes[s]) >= 32 && k < 2) assert_string_equal(want, kernels[k]);
                expect_read_back(path, data, size, 1, seed, want);
                free(path);
                free(data);
                files++;
            }
    assert_int_equal(files, 6 * 5);
}

typedef struct {
    unsigned char *buf;
    size_t len, pieces;
} gathered;

static int gather(void *ctx, const void *bytes, size_t size)
{
    gathered *g = ctx;
    memcpy(g->buf + g->len, bytes, size);
    g->len += size;
    g->pieces++;
    return 0;
}

/* The generator in pieces (what verify digests a recipe with, memory
 * bounded) gives exactly the whole generator's bytes: every kind and
 * kernel, counts below 16, multiples of 16 and not, across pieces. */
static void test_stream_equals_whole(void **state)
{
    (void)state;
    const size_t counts[] = {1, 15, 16, 17, 231, RF_TORCH_PIECE, RF_TORCH_PIECE + 16, 2 * RF_TORCH_PIECE + 7, 70001};
    const int paths[] = {RF_TORCH_AVX2_FMA, RF_TORCH_AVX2, RF_TORCH_SCALAR};
    for (int kind = 0; kind < 3; kind++)
        for (size_t pi = 0; pi < 3; pi++) {
            if (kind && paths[pi] != RF_TORCH_SCALAR) continue;
            for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
                size_t n = counts[c], bytes = n * (kind ? 2 : 4);
                unsigned char *whole = malloc(bytes), *parts = malloc(bytes);
                assert_non_null(whole);
                assert_non_null(parts);
                assert_int_equal(rf_torch_randn(77 + n, kind, paths[pi], n, whole), 0);
                gathered g = {parts, 0, 0};
                assert_int_equal(rf_torch_randn_stream(77 + n, kind, paths[pi], n, gather, &g), 0);
                assert_int_equal(g.len, bytes);
                assert_memory_equal(parts, whole, bytes);
                if (n > RF_TORCH_PIECE) assert_true(g.pieces > 1);
                free(whole);
                free(parts);
            }
        }
}

/* One flipped bit anywhere, a wrong seed, an unsupported dtype: the values
 * are stored, and the message says why. */
static void test_no_match_stores_values(void **state)
{
    (void)state;
    static const uint64_t shape[4] = {1, 4, 32, 32};
    size_t size;
    float *data = noise(42, RAIIAF_F32, 4, shape, NULL, &size);
    size_t n = size / 4;
    static const size_t flips[] = {0, 15, 16, 2047, 4095};
    char msg[512];
    for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
        size_t at = flips[i] < n ? flips[i] : n - 1;
        uint32_t u;
        memcpy(&u, data + at, 4);
        u ^= 1u;
        memcpy(data + at, &u, 4);
        int as_recipe = -1;
        char *path = write_noise("x.raiiaf", data, size, RAIIAF_F32, 4, shape, 42, &as_recipe, msg, sizeof msg);
        assert_int_equal(as_recipe, 0);
        char want[64];
        snprintf(want, sizeof want, "element %zu ", at);
        assert_non_null(strstr(msg, want));
        expect_read_back(path, data, size, 0, 0, NULL);
        u ^= 1u;
        memcpy(data + at, &u, 4);
        free(path);
    }
    int as_recipe = -1;
    char *path = write_noise("s.raiiaf", data, size, RAIIAF_F32, 4, shape, 43, &as_recipe, msg, sizeof msg);
    assert_int_equal(as_recipe, 0);
    assert_non_null(strstr(msg, "torch.randn(seed=43)"));
    free(path);
    /* float64 has no generator. */
    double dd[16] = {0};
    static const uint64_t s16[1] = {16};
    path = tu_path(g_dir, "d.raiiaf");
    raiiaf_writer *w = NULL;
    assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_noise_tensor(w, "n", RAIIAF_F64, 1, s16, dd, sizeof dd, 1, RAIIAF_CODEC_RAW, &as_recipe), RAIIAF_OK);
    assert_int_equal(as_recipe, 0);
    assert_non_null(strstr(raiiaf_writer_errmsg(w), "float64"));
    /* The recipe codec cannot be asked for directly. */
    assert_int_equal(raiiaf_writer_add_tensor(w, "m", RAIIAF_F64, 1, s16, dd, sizeof dd, RAIIAF_CODEC_RECIPE, 0), RAIIAF_E_ARG);
    /* Size mismatch is an error, not a silent fallback. */
    assert_int_equal(raiiaf_writer_add_noise_tensor(w, "k", RAIIAF_F32, 4, shape, data, size - 4, 42, RAIIAF_CODEC_AUTO, &as_recipe),
                     RAIIAF_E_BUFFER);
    assert_int_equal(raiiaf_writer_finish(w), RAIIAF_OK);
    raiiaf_writer_free(w);
    free(path);
    free(data);
}

/* ---- hostile recipe files: patch the payload or header, reseal the CRCs
 * and the manifest's record, and expect the specific refusal. */

typedef void (*patch_fn)(unsigned char *payload, unsigned char *file_header);

typedef struct {
    uint64_t off;
    uint32_t crc;
} crc_fix;

static void set_chunk_crc(json_t *m, void *ctx)
{
    const crc_fix *fx = ctx;
    json_t *chunks = json_object_get(json_object_get(m, "raiiaf_metadata"), "chunks");
    for (size_t i = 0; i < json_array_size(chunks); i++) {
        json_t *c = json_array_get(chunks, i);
        if ((uint64_t)json_integer_value(json_object_get(c, "offset")) == fx->off)
            json_object_set_new(c, "crc32c", json_integer((json_int_t)fx->crc));
    }
}

/* Reseals the chunk at chunk_off, the file header and the manifest's
 * record of the chunk after a deliberate edit. */
static unsigned char *reseal_file(const unsigned char *src, size_t size, uint64_t chunk_off, size_t *out_size)
{
    unsigned char *f = malloc(size);
    memcpy(f, src, size);
    unsigned char *h = f + chunk_off;
    crc_fix fx = {chunk_off, rf_crc32c(0, h + 64, (size_t)rf_le64(h + 16))};
    rf_put32(h + 32, fx.crc);
    rf_put32(h + 60, rf_crc32c(0, h, 60));
    rf_put32(f + 60, rf_crc32c(0, f, 60));
    unsigned char *o = tu_replace_manifest(f, size, set_chunk_crc, &fx, out_size);
    free(f);
    return o;
}

static void patch_seed(unsigned char *p, unsigned char *h) { (void)h; p[8] ^= 1; }
static void patch_kernel(unsigned char *p, unsigned char *h) { (void)h; p[4] = 0; } /* avx2-fma -> scalar */
static void patch_generator(unsigned char *p, unsigned char *h) { (void)h; p[0] = 2; }
static void patch_version(unsigned char *p, unsigned char *h) { (void)h; p[2] = 9; }
static void patch_bad_kernel(unsigned char *p, unsigned char *h) { (void)h; p[4] = 7; }
static void patch_reserved(unsigned char *p, unsigned char *h) { (void)h; p[20] = 1; }
static void patch_no_flag(unsigned char *p, unsigned char *h) { (void)p; h[16] = 0; }
static void patch_new_flag(unsigned char *p, unsigned char *h) { (void)p; h[16] = 5; }

static void expect_patched(const unsigned char *file, size_t size, uint64_t chunk_off, patch_fn patch, int open_rc, int read_rc,
                           const char *needle)
{
    unsigned char *f = malloc(size);
    memcpy(f, file, size);
    patch(f + chunk_off + 64, f);
    size_t n;
    unsigned char *g = reseal_file(f, size, chunk_off, &n);
    raiiaf_reader *r = NULL;
    int rc = raiiaf_reader_open_memory(g, n, RAIIAF_READ_NO_DIGEST, &r);
    assert_int_equal(rc, open_rc);
    const char *msg = raiiaf_reader_errmsg(r);
    if (!rc) {
        raiiaf_tensor_info ti;
        assert_int_equal(raiiaf_reader_tensor_info(r, 0, &ti), RAIIAF_OK);
        void *buf = malloc((size_t)ti.raw_size);
        /* NO_DIGEST does not switch off the recipe's digest. */
        assert_int_equal(raiiaf_reader_read_tensor(r, 0, buf, (size_t)ti.raw_size), read_rc);
        free(buf);
        msg = raiiaf_reader_errmsg(r);
        assert_int_not_equal(raiiaf_reader_verify(r, NULL, NULL), RAIIAF_OK);
    }
    if (!strstr(msg, needle)) fail_msg("message \"%s\" lacks \"%s\"", msg, needle);
    raiiaf_reader_free(r);
    free(g);
    free(f);
}

static void test_hostile_recipes(void **state)
{
    (void)state;
    static const uint64_t shape[4] = {1, 4, 16, 16};
    size_t size;
    void *data = noise(7, RAIIAF_F32, 4, shape, NULL, &size);
    int as_recipe;
    char *path = write_noise("h.raiiaf", data, size, RAIIAF_F32, 4, shape, 7, &as_recipe, NULL, 0);
    assert_int_equal(as_recipe, 1);
    size_t n;
    unsigned char *file = tu_read_file(path, &n);
    uint64_t off = 64; /* the tensor is the first chunk */
    assert_memory_equal(file + off, "TENS", 4);
    assert_int_equal(file[off + 4], RF_CODEC_RECIPE);
    /* SPEC 6.4's layout: generator 1, version 1, kernel 1 (avx2-fma), seed 7 */
    static const unsigned char want[32] = {1, 0, 1, 0, 1, 0, 0, 0, 7};
    assert_memory_equal(file + off + 64, want, 32);
    expect_patched(file, n, off, patch_seed, RAIIAF_OK, RAIIAF_E_DIGEST, "regenerated noise does not match");
    expect_patched(file, n, off, patch_kernel, RAIIAF_OK, RAIIAF_E_DIGEST, "regenerated noise does not match");
    expect_patched(file, n, off, patch_generator, RAIIAF_OK, RAIIAF_E_VERSION, "recipe generator 2 version 1 is not known");
    expect_patched(file, n, off, patch_version, RAIIAF_OK, RAIIAF_E_VERSION, "version 9");
    expect_patched(file, n, off, patch_bad_kernel, RAIIAF_OK, RAIIAF_E_CORRUPT, "recipe kernel 7");
    expect_patched(file, n, off, patch_reserved, RAIIAF_OK, RAIIAF_E_CORRUPT, "recipe byte 20 (reserved)");
    expect_patched(file, n, off, patch_no_flag, RAIIAF_E_CORRUPT, 0, "lacks the recipe flag");
    expect_patched(file, n, off, patch_new_flag, RAIIAF_E_VERSION, 0, "header flags 00000004");
    /* Unpatched, resealed: still fine (the helper itself is honest). */
    size_t m;
    unsigned char *same = reseal_file(file, n, off, &m);
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_memory(same, m, 0, &r), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_verify(r, NULL, NULL), RAIIAF_OK);
    raiiaf_reader_free(r);
    free(same);
    free(file);
    free(path);
    free(data);
}

/* Edits keep the header flag; compaction keeps it while a recipe remains. */
static void test_edit_and_compact_keep_flag(void **state)
{
    (void)state;
    static const uint64_t shape[2] = {8, 64};
    size_t size;
    void *data = noise(99, RAIIAF_BF16, 2, shape, NULL, &size);
    int as_recipe;
    char *path = write_noise("e.raiiaf", data, size, RAIIAF_BF16, 2, shape, 99, &as_recipe, NULL, 0);
    assert_int_equal(as_recipe, 1);
    raiiaf_edit *ed = NULL;
    assert_int_equal(raiiaf_edit_open(path, &ed), RAIIAF_OK);
    assert_int_equal(raiiaf_edit_set_json(ed, "/raiiaf_metadata/model_info/prompt", "\"edited\""), RAIIAF_OK);
    assert_int_equal(raiiaf_edit_commit(ed), RAIIAF_OK);
    raiiaf_edit_free(ed);
    expect_read_back(path, data, size, 1, 99, "scalar");
    char *out = tu_path(g_dir, "c.raiiaf"), err[256];
    assert_int_equal(raiiaf_compact(path, out, err, sizeof err), RAIIAF_OK);
    expect_read_back(out, data, size, 1, 99, "scalar");
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_file(out, 0, &r), RAIIAF_OK);
    assert_non_null(strstr(raiiaf_reader_manifest(r, NULL), "\"version_minor\": 1"));
    raiiaf_reader_free(r);
    free(out);
    free(path);
    free(data);
}

static void ignore_line(void *ctx, int status, const char *message)
{
    (void)ctx, (void)status, (void)message;
}

/* Recovery keeps a recipe tensor (its record survives) and the header flag. */
static void test_recover_keeps_recipe(void **state)
{
    (void)state;
    static const uint64_t shape[4] = {1, 4, 16, 16};
    size_t size, isize;
    void *data = noise(11, RAIIAF_F16, 4, shape, NULL, &size);
    unsigned char *img = tu_read_data("sd-webui.webp", &isize);
    char *path = tu_path(g_dir, "r.raiiaf"), *bad = tu_path(g_dir, "r-bad.raiiaf"), *out = tu_path(g_dir, "r-out.raiiaf");
    raiiaf_writer *w = NULL;
    int as_recipe = 0;
    assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_image(w, img, isize), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_noise_tensor(w, "initial_noise", RAIIAF_F16, 4, shape, data, size, 11, RAIIAF_CODEC_AUTO, &as_recipe),
                     RAIIAF_OK);
    assert_int_equal(as_recipe, 1);
    assert_int_equal(raiiaf_writer_finish(w), RAIIAF_OK);
    raiiaf_writer_free(w);
    size_t n;
    unsigned char *f = tu_read_file(path, &n);
    f[64 + 64 + isize / 2] ^= 1; /* inside the image payload */
    tu_write_file(bad, f, n);
    assert_int_equal(raiiaf_recover(bad, out, ignore_line, NULL), RAIIAF_OK);
    expect_read_back(out, data, size, 1, 11, "scalar");
    free(f);
    free(img);
    free(data);
    free(path);
    free(bad);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_round_trip),
        cmocka_unit_test(test_stream_equals_whole),
        cmocka_unit_test(test_no_match_stores_values),
        cmocka_unit_test(test_hostile_recipes),
        cmocka_unit_test(test_edit_and_compact_keep_flag),
        cmocka_unit_test(test_recover_keeps_recipe),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
