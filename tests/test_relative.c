/* test_relative.c -- tensors stored relative to an earlier one (XOR of the
 * bits, format 2.1 flag 2): denoising trajectories round-trip bit for bit,
 * the relative form is kept only when smaller, chains are bounded, and
 * hostile references are refused. */
#include "testutil.h"
#include "internal.h"
#include "format.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEPS 20
#define H 32
#define W 32
#define N (4 * H * W)

static char *g_dir;
static float *g_traj; /* STEPS x (1,4,H,W) */
static const uint64_t g_shape[4] = {1, 4, H, W};

/* x_t = a_t x0 + s_t noise: smooth x0, fixed noise, DDPM linear schedule. */
static int setup(void **state)
{
    (void)state;
    g_dir = tu_tempdir();
    g_traj = malloc(sizeof(float) * N * STEPS);
    float *x0 = malloc(sizeof(float) * N), *noise = malloc(sizeof(float) * N);
    uint64_t rng = 11;
    for (int c = 0; c < 4; c++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                double u = (double)x / W, v = (double)y / H;
                x0[(c * H + y) * W + x] = (float)(sin(3 * u + c) * cos(2 * v - c) + 0.3 * sin(7 * u * v + c));
            }
    for (int i = 0; i < N; i++) noise[i] = tu_randn(&rng);
    /* a_t for t = 999, 949, ..., 49 (every 50th step, noisiest first) */
    for (int s = 0; s < STEPS; s++) {
        int t = 999 - s * (1000 / STEPS);
        double ab = 1;
        for (int k = 0; k <= t; k++) ab *= 1 - (1e-4 + (0.02 - 1e-4) * k / 999.0);
        for (int i = 0; i < N; i++) g_traj[s * N + i] = (float)(sqrt(ab) * x0[i] + sqrt(1 - ab) * noise[i]);
    }
    free(x0);
    free(noise);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(g_dir);
    free(g_traj);
    return 0;
}

static char *write_traj(const char *file, int relative, size_t *stored_total)
{
    char *path = tu_path(g_dir, file);
    raiiaf_writer *w = NULL;
    assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
    for (int s = 0; s < STEPS; s++) {
        char name[16], prev[16];
        snprintf(name, sizeof name, "step_%02d", s);
        snprintf(prev, sizeof prev, "step_%02d", s - 1);
        if (!relative || s == 0) {
            assert_int_equal(raiiaf_writer_add_tensor(w, name, RAIIAF_F32, 4, g_shape, g_traj + s * N, N * 4, RAIIAF_CODEC_AUTO, 0), RAIIAF_OK);
        } else {
            int as_rel = -1;
            assert_int_equal(raiiaf_writer_add_tensor_relative(w, name, RAIIAF_F32, 4, g_shape, g_traj + s * N, N * 4, prev,
                                                               g_traj + (s - 1) * N, RAIIAF_CODEC_AUTO, &as_rel),
                             RAIIAF_OK);
            assert_int_equal(as_rel, 1);
        }
    }
    assert_int_equal(raiiaf_writer_finish(w), RAIIAF_OK);
    raiiaf_writer_free(w);
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_file(path, 0, &r), RAIIAF_OK);
    *stored_total = 0;
    for (size_t i = 0; i < STEPS; i++) {
        raiiaf_tensor_info ti;
        assert_int_equal(raiiaf_reader_tensor_info(r, i, &ti), RAIIAF_OK);
        *stored_total += (size_t)ti.stored_size;
    }
    raiiaf_reader_free(r);
    return path;
}

static void expect_all_steps(const char *path, int relative)
{
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_file(path, 0, &r), RAIIAF_OK);
    float *buf = malloc(N * 4);
    /* out of order on purpose: each read decodes its own chain */
    for (int k = 0; k < STEPS; k++) {
        size_t s = (size_t)((k * 7) % STEPS);
        raiiaf_tensor_info ti;
        assert_int_equal(raiiaf_reader_tensor_info(r, s, &ti), RAIIAF_OK);
        if (relative && s > 0) {
            char prev[16];
            snprintf(prev, sizeof prev, "step_%02zu", s - 1);
            assert_non_null(ti.reference);
            assert_string_equal(ti.reference, prev);
            const void *p;
            assert_int_equal(raiiaf_reader_tensor_data(r, s, &p), RAIIAF_E_CODEC);
        } else {
            assert_null(ti.reference);
        }
        assert_int_equal(raiiaf_reader_read_tensor(r, s, buf, N * 4), RAIIAF_OK);
        assert_memory_equal(buf, g_traj + s * N, N * 4);
    }
    assert_int_equal(raiiaf_reader_verify(r, NULL, NULL), RAIIAF_OK);
    raiiaf_reader_free(r);
    free(buf);
    size_t n;
    unsigned char *f = tu_read_file(path, &n);
    assert_int_equal(rf_le32(f + 16), relative ? RF_FLAG_REFERENCES : 0);
    assert_int_equal(rf_le16(f + 14), relative ? 1 : 0);
    free(f);
}

static void test_trajectory_round_trip_and_smaller(void **state)
{
    (void)state;
    size_t alone, rel;
    char *a = write_traj("alone.raiiaf", 0, &alone);
    char *b = write_traj("rel.raiiaf", 1, &rel);
    expect_all_steps(a, 0);
    expect_all_steps(b, 1);
    print_message("trajectory %d x (1,4,%d,%d) f32: alone %zu bytes, relative %zu (%.3f)\n", STEPS, H, W, alone, rel,
                  (double)rel / (double)alone);
    assert_true(rel < alone * 0.92); /* the reason the mode exists */
    /* compaction keeps the flag and the chain */
    char *c = tu_path(g_dir, "compact.raiiaf"), err[256];
    assert_int_equal(raiiaf_compact(b, c, err, sizeof err), RAIIAF_OK);
    expect_all_steps(c, 1);
    free(a);
    free(b);
    free(c);
}

static void test_kept_only_when_smaller_and_misuse(void **state)
{
    (void)state;
    char *path = tu_path(g_dir, "misuse.raiiaf");
    float *u = malloc(N * 4), *v = malloc(N * 4);
    uint64_t rng = 5;
    for (int i = 0; i < N; i++) {
        u[i] = tu_randn(&rng);
        v[i] = tu_randn(&rng);
    }
    raiiaf_writer *w = NULL;
    assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_tensor(w, "u", RAIIAF_F32, 4, g_shape, u, N * 4, RAIIAF_CODEC_AUTO, 0), RAIIAF_OK);
    int as_rel = -1;
    /* Independent noise: the XOR is no smaller, so v is stored alone. */
    assert_int_equal(raiiaf_writer_add_tensor_relative(w, "v", RAIIAF_F32, 4, g_shape, v, N * 4, "u", u, RAIIAF_CODEC_AUTO, &as_rel),
                     RAIIAF_OK);
    assert_int_equal(as_rel, 0);
    assert_non_null(strstr(raiiaf_writer_errmsg(w), "stored alone"));
    /* Wrong reference values: refused, nothing written. */
    assert_int_equal(raiiaf_writer_add_tensor_relative(w, "x", RAIIAF_F32, 4, g_shape, u, N * 4, "u", v, RAIIAF_CODEC_AUTO, &as_rel),
                     RAIIAF_E_ARG);
    assert_non_null(strstr(raiiaf_writer_errmsg(w), "not the values stored for \"u\""));
    assert_int_equal(raiiaf_writer_add_tensor_relative(w, "x", RAIIAF_F32, 4, g_shape, u, N * 4, "nope", u, RAIIAF_CODEC_AUTO, &as_rel),
                     RAIIAF_E_NOT_FOUND);
    static const uint64_t other[2] = {4, H * W};
    assert_int_equal(raiiaf_writer_add_tensor_relative(w, "x", RAIIAF_F32, 2, other, u, N * 4, "u", u, RAIIAF_CODEC_AUTO, &as_rel),
                     RAIIAF_E_ARG);
    /* A lossy reference cannot be XORed exactly: zfp is stored alone. */
    assert_int_equal(raiiaf_writer_add_tensor_relative(w, "z", RAIIAF_F32, 4, g_shape, u, N * 4, "u", u, RAIIAF_CODEC_ZFP, &as_rel),
                     RAIIAF_OK);
    assert_int_equal(as_rel, 0);
    assert_int_equal(raiiaf_writer_finish(w), RAIIAF_OK);
    raiiaf_writer_free(w);
    size_t n;
    unsigned char *f = tu_read_file(path, &n);
    assert_int_equal(rf_le32(f + 16), 0); /* nothing relative was written: still 2.0 */
    free(f);
    /* what was stored alone reads back as itself, with the codec asked for */
    raiiaf_reader *r = NULL;
    raiiaf_tensor_info ti;
    float *back = malloc(N * 4);
    assert_int_equal(raiiaf_reader_open_file(path, 0, &r), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_tensor_info(r, 1, &ti), RAIIAF_OK);
    assert_string_equal(ti.name, "v");
    assert_null(ti.reference);
    assert_int_equal(ti.codec, RAIIAF_CODEC_ZSTD); /* auto: byte planes beat raw on noise */
    assert_int_equal(raiiaf_reader_read_tensor(r, 1, back, N * 4), RAIIAF_OK);
    assert_memory_equal(back, v, N * 4);
    assert_int_equal(raiiaf_reader_verify(r, NULL, NULL), RAIIAF_OK);
    raiiaf_reader_free(r);
    free(back);
    free(path);
    free(u);
    free(v);
}

/* Format 1 has no relative tensors: stored alone, and said so. */
static void test_format1_stores_alone(void **state)
{
    (void)state;
    char *path = tu_path(g_dir, "f1.raiiaf");
    raiiaf_writer *w = NULL;
    assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_format(w, 1), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_tensor(w, "a", RAIIAF_F32, 4, g_shape, g_traj, N * 4, RAIIAF_CODEC_AUTO, 0), RAIIAF_OK);
    int as_rel = -1;
    assert_int_equal(raiiaf_writer_add_tensor_relative(w, "b", RAIIAF_F32, 4, g_shape, g_traj + N, N * 4, "a", g_traj, RAIIAF_CODEC_AUTO,
                                                       &as_rel),
                     RAIIAF_OK);
    assert_int_equal(as_rel, 0);
    assert_non_null(strstr(raiiaf_writer_errmsg(w), "format 1 has no relative tensors"));
    raiiaf_writer_free(w);
    free(path);
}

/* A chain of 300 identical tensors: the 256th link is stored alone. */
static void test_chain_bounded(void **state)
{
    (void)state;
    char *path = tu_path(g_dir, "chain.raiiaf");
    static const uint64_t shape[1] = {64};
    float x[64];
    for (int i = 0; i < 64; i++) x[i] = (float)i * 0.25f;
    raiiaf_writer *w = NULL;
    assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_tensor(w, "t000", RAIIAF_F32, 1, shape, x, sizeof x, RAIIAF_CODEC_AUTO, 0), RAIIAF_OK);
    int alone = 0;
    for (int i = 1; i < 300; i++) {
        char name[8], prev[8];
        snprintf(name, sizeof name, "t%03d", i);
        snprintf(prev, sizeof prev, "t%03d", i - 1);
        int as_rel = -1;
        assert_int_equal(raiiaf_writer_add_tensor_relative(w, name, RAIIAF_F32, 1, shape, x, sizeof x, prev, x, RAIIAF_CODEC_AUTO, &as_rel),
                         RAIIAF_OK);
        if (!as_rel) {
            alone++;
            assert_int_equal(i, RF_MAX_REFERENCE_DEPTH);
            assert_non_null(strstr(raiiaf_writer_errmsg(w), "longer than 256"));
        }
    }
    assert_int_equal(alone, 1);
    assert_int_equal(raiiaf_writer_finish(w), RAIIAF_OK);
    raiiaf_writer_free(w);
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_file(path, 0, &r), RAIIAF_OK);
    float back[64];
    assert_int_equal(raiiaf_reader_read_tensor(r, 255, back, sizeof back), RAIIAF_OK);
    assert_memory_equal(back, x, sizeof x);
    assert_int_equal(raiiaf_reader_read_tensor(r, 299, back, sizeof back), RAIIAF_OK);
    assert_memory_equal(back, x, sizeof x);
    assert_int_equal(raiiaf_reader_verify(r, NULL, NULL), RAIIAF_OK);
    raiiaf_reader_free(r);
    free(path);
}

/* ---- hostile references (every CRC resealed, so only the logic can
 * catch them) */

static json_t *tensors_of(json_t *m) { return json_object_get(json_object_get(m, "raiiaf_metadata"), "tensors"); }
static void ref_later(json_t *m, void *c) { (void)c; json_object_set_new(json_array_get(tensors_of(m), 1), "reference", json_string("step_05")); }
static void ref_self(json_t *m, void *c) { (void)c; json_object_set_new(json_array_get(tensors_of(m), 2), "reference", json_string("step_02")); }
static void ref_missing(json_t *m, void *c) { (void)c; json_object_set_new(json_array_get(tensors_of(m), 2), "reference", json_string("zz")); }
static void ref_number(json_t *m, void *c) { (void)c; json_object_set_new(json_array_get(tensors_of(m), 2), "reference", json_integer(1)); }
static void ref_shape(json_t *m, void *c)
{
    (void)c;
    /* the same byte count, another shape */
    json_object_set_new(json_array_get(tensors_of(m), 0), "shape", json_pack("[i,i,i]", 4, H, W));
}

static void expect_open(const unsigned char *file, size_t n, void (*edit)(json_t *, void *), int code, const char *needle)
{
    size_t m;
    unsigned char *g = tu_replace_manifest(file, n, edit, NULL, &m);
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_memory(g, m, 0, &r), code);
    if (!strstr(raiiaf_reader_errmsg(r), needle)) fail_msg("\"%s\" lacks \"%s\"", raiiaf_reader_errmsg(r), needle);
    raiiaf_reader_free(r);
    free(g);
}

static void test_hostile_references(void **state)
{
    (void)state;
    size_t total;
    char *path = write_traj("hostile.raiiaf", 1, &total);
    size_t n;
    unsigned char *file = tu_read_file(path, &n);
    expect_open(file, n, NULL, RAIIAF_OK, "");
    expect_open(file, n, ref_later, RAIIAF_E_CORRUPT, "no earlier tensor is named \"step_05\"");
    expect_open(file, n, ref_self, RAIIAF_E_CORRUPT, "no earlier tensor is named \"step_02\"");
    expect_open(file, n, ref_missing, RAIIAF_E_CORRUPT, "no earlier tensor is named \"zz\"");
    expect_open(file, n, ref_number, RAIIAF_E_CORRUPT, "/reference: must be a string");
    expect_open(file, n, ref_shape, RAIIAF_E_CORRUPT, "has another dtype or shape");
    /* Without the header flag a 2.0 reader would hand out the XOR: refused. */
    unsigned char *noflag = malloc(n);
    memcpy(noflag, file, n);
    noflag[16] = 0;
    rf_put32(noflag + 60, rf_crc32c(0, noflag, 60));
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_memory(noflag, n, 0, &r), RAIIAF_E_CORRUPT);
    assert_non_null(strstr(raiiaf_reader_errmsg(r), "lacks the reference flag"));
    raiiaf_reader_free(r);
    free(noflag);
    /* A damaged middle link: every tensor above it fails, naming that chunk;
     * those below still read. */
    assert_int_equal(raiiaf_reader_open_memory(file, n, 0, &r), RAIIAF_OK);
    raiiaf_chunk_info ci;
    raiiaf_tensor_info ti;
    assert_int_equal(raiiaf_reader_tensor_info(r, 5, &ti), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_chunk_info(r, 5, &ci), RAIIAF_OK);
    raiiaf_reader_free(r);
    unsigned char *bad = malloc(n);
    memcpy(bad, file, n);
    bad[ci.offset + 64 + ci.stored_size / 2] ^= 0x10;
    assert_int_equal(raiiaf_reader_open_memory(bad, n, 0, &r), RAIIAF_OK);
    float *buf = malloc(N * 4);
    char where[64];
    snprintf(where, sizeof where, "at offset %llu", (unsigned long long)ci.offset);
    assert_int_equal(raiiaf_reader_read_tensor(r, 9, buf, N * 4), RAIIAF_E_CHECKSUM);
    assert_non_null(strstr(raiiaf_reader_errmsg(r), where));
    assert_int_equal(raiiaf_reader_read_tensor(r, 4, buf, N * 4), RAIIAF_OK);
    assert_memory_equal(buf, g_traj + 4 * N, N * 4);
    raiiaf_reader_free(r);
    free(buf);
    free(bad);
    free(file);
    free(path);
}

static void count_lines(void *ctx, int status, const char *message)
{
    (void)status;
    if (strstr(message, "which was lost")) ++*(int *)ctx;
}

/* Recovery of a file whose chain is broken: links above the damage lose
 * their reference and are kept as unknown chunks, everything else is a
 * valid file again. */
static void test_recover_broken_chain(void **state)
{
    (void)state;
    size_t total;
    char *path = write_traj("rec.raiiaf", 1, &total);
    size_t n;
    unsigned char *file = tu_read_file(path, &n);
    raiiaf_reader *r = NULL;
    raiiaf_chunk_info ci;
    assert_int_equal(raiiaf_reader_open_memory(file, n, 0, &r), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_chunk_info(r, 10, &ci), RAIIAF_OK);
    raiiaf_reader_free(r);
    file[ci.offset + 70] ^= 0x40; /* header CRC of step 10's chunk fails: the chunk is not found */
    char *bad = tu_path(g_dir, "rec-bad.raiiaf"), *out = tu_path(g_dir, "rec-out.raiiaf");
    tu_write_file(bad, file, n);
    int lost = 0;
    assert_int_equal(raiiaf_recover(bad, out, count_lines, &lost), RAIIAF_OK);
    assert_int_equal(lost, STEPS - 11); /* step 11 refers to the lost step 10, 12 to 11 (now unknown), ... */
    assert_int_equal(raiiaf_reader_open_file(out, 0, &r), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_verify(r, NULL, NULL), RAIIAF_OK);
    float *buf = malloc(N * 4);
    size_t idx;
    for (int s = 0; s < 10; s++) {
        char name[16];
        snprintf(name, sizeof name, "step_%02d", s);
        assert_int_equal(raiiaf_reader_find_tensor(r, name, &idx), RAIIAF_OK);
        assert_int_equal(raiiaf_reader_read_tensor(r, idx, buf, N * 4), RAIIAF_OK);
        assert_memory_equal(buf, g_traj + s * N, N * 4);
    }
    for (int s = 10; s < STEPS; s++) {
        char name[16];
        snprintf(name, sizeof name, "step_%02d", s);
        assert_int_equal(raiiaf_reader_find_tensor(r, name, &idx), RAIIAF_E_NOT_FOUND);
    }
    raiiaf_reader_free(r);
    free(buf);
    free(bad);
    free(out);
    free(file);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trajectory_round_trip_and_smaller),
        cmocka_unit_test(test_kept_only_when_smaller_and_misuse),
        cmocka_unit_test(test_chain_bounded),
        cmocka_unit_test(test_format1_stores_alone),
        cmocka_unit_test(test_recover_broken_chain),
        cmocka_unit_test(test_hostile_references),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
