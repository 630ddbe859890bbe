/* test_codec_planes.c -- codec 1 (byte planes) transforms (SPEC 6.2): round
 * trips for every element size, transform and row length; the AVX2 and
 * portable split/merge give identical bytes; hand-built payloads decode as
 * the spec says; malformed prefixes are refused.  Also the torch.randn
 * reproduction's fixed values (tests/cli_noise.py checks it against torch). */
#include "testutil.h"

#include "codec.h"
#include "codec_planes.h"
#include "noise_torch.h"
#include "raiiaf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void fill(unsigned char *buf, size_t n, unsigned E, int kind, uint64_t seed)
{
    uint64_t st = seed * 2654435761u + 1;
    size_t count = n / E;
    for (size_t i = 0; i < count; i++) {
        unsigned char *p = buf + i * E;
        if (kind == 0) { /* random bytes */
            for (unsigned k = 0; k < E; k++) p[k] = (unsigned char)tu_rand(&st);
        } else if (kind == 1) { /* gaussian floats (f32 bits; f16/other: top bytes) */
            float f = tu_randn(&st);
            uint32_t u;
            memcpy(&u, &f, 4);
            uint64_t v = E >= 4 ? (uint64_t)u << (8 * (E - 4)) : (u >> (8 * (4 - E)));
            for (unsigned k = 0; k < E; k++) p[k] = (unsigned char)(v >> (8 * k));
        } else if (kind == 2) { /* smooth: a slow sine in floats */
            float f = (float)sin((double)i * 0.01) + (float)(i % 7) * 1e-4f;
            uint32_t u;
            memcpy(&u, &f, 4);
            uint64_t v = E >= 4 ? (uint64_t)u << (8 * (E - 4)) : (u >> (8 * (4 - E)));
            for (unsigned k = 0; k < E; k++) p[k] = (unsigned char)(v >> (8 * k));
        } else { /* constant, with negative zero and extremes mixed in */
            for (unsigned k = 0; k < E; k++) p[k] = (i % 97 == 5) ? 0xFF : (k == E - 1 && i % 13 == 0) ? 0x80 : 0;
        }
    }
}

static void roundtrip(const unsigned char *src, size_t size, unsigned E, uint32_t W)
{
    unsigned char *out = NULL, *back = malloc(size + 1);
    size_t stored = 0;
    rf_err e = {0};
    assert_int_equal(rf_planes_encode_rows(src, size, E, 1, W, &out, &stored, &e), RAIIAF_OK);
    assert_true(stored <= RF_PLANES_PREFIX(E) + size);
    assert_int_equal(rf_planes_decode(out, stored, back, size, E, "test", &e), RAIIAF_OK);
    assert_memory_equal(back, src, size);
    /* Every transform the encoder could pick decodes: force each in turn. */
    rf_planes_tuning saved = rf_planes_tune;
    for (unsigned t = 0; t <= RF_XFORM_MAX; t++) {
        rf_planes_tune.xforms = 1u << t;
        rf_planes_tune.exhaustive = 0;
        unsigned char *o2 = NULL;
        size_t s2 = 0;
        assert_int_equal(rf_planes_encode_rows(src, size, E, 1, W, &o2, &s2, &e), RAIIAF_OK);
        if (E > 1 && size) assert_int_equal(o2[1], t);
        assert_int_equal(rf_planes_decode(o2, s2, back, size, E, "test", &e), RAIIAF_OK);
        assert_memory_equal(back, src, size);
        free(o2);
    }
    rf_planes_tune = saved;
    free(out);
    free(back);
}

static void test_roundtrips(void **state)
{
    (void)state;
    static const size_t counts[] = {0, 1, 2, 7, 8, 9, 15, 16, 17, 100, 1000, 4099, 20000, 70001};
    static const unsigned Es[] = {1, 2, 4, 8, 3};
    for (size_t ei = 0; ei < sizeof Es / sizeof Es[0]; ei++)
        for (size_t ci = 0; ci < sizeof counts / sizeof counts[0]; ci++)
            for (int kind = 0; kind < 4; kind++) {
                unsigned E = Es[ei];
                size_t size = counts[ci] * E;
                unsigned char *buf = malloc(size + 1);
                fill(buf, size, E, kind, ci * 31 + (size_t)kind);
                static const uint32_t Ws[] = {0, 1, 3, 64, 1000000};
                for (size_t wi = 0; wi < 5; wi++) roundtrip(buf, size, E, Ws[wi]);
                free(buf);
            }
}

static void test_simd_matches_portable(void **state)
{
    (void)state;
    for (size_t n = 0; n < 300; n += 7) {
        for (unsigned xf = 0; xf <= RF_XFORM_MAX; xf++) {
            size_t size = n * 4;
            unsigned char *src = malloc(size + 1), *a = malloc(size + 1), *b = malloc(size + 1);
            unsigned char *ma = malloc(size + 1), *mb = malloc(size + 1);
            fill(src, size, 4, 1, n + xf);
            rf_planes_set_simd(1);
            assert_int_equal(rf_planes_split(src, n, 4, xf, 16, a), 0);
            rf_planes_set_simd(0);
            assert_int_equal(rf_planes_split(src, n, 4, xf, 16, b), 0);
            assert_memory_equal(a, b, size);
            const unsigned char *pl[4] = {a, a + n, a + 2 * n, a + 3 * n};
            rf_planes_set_simd(1);
            assert_int_equal(rf_planes_merge(pl, n, 4, xf, 16, ma), 0);
            rf_planes_set_simd(0);
            assert_int_equal(rf_planes_merge(pl, n, 4, xf, 16, mb), 0);
            assert_memory_equal(ma, mb, size);
            assert_memory_equal(ma, src, size);
            free(src), free(a), free(b), free(ma), free(mb);
        }
    }
    /* Whole payloads: same bytes with and without SIMD. */
    size_t n = 65536 + 5;
    float *f = malloc(n * 4);
    uint64_t st = 9;
    for (size_t i = 0; i < n; i++) f[i] = tu_randn(&st);
    unsigned char *p1 = NULL, *p2 = NULL;
    size_t s1 = 0, s2 = 0;
    rf_err e = {0};
    rf_planes_set_simd(1);
    assert_int_equal(rf_planes_encode_rows(f, n * 4, 4, 1, 128, &p1, &s1, &e), RAIIAF_OK);
    rf_planes_set_simd(0);
    assert_int_equal(rf_planes_encode_rows(f, n * 4, 4, 1, 128, &p2, &s2, &e), RAIIAF_OK);
    rf_planes_set_simd(1);
    assert_int_equal(s1, s2);
    assert_memory_equal(p1, p2, s1);
    free(p1), free(p2), free(f);
}

/* Payloads built by hand from SPEC 6.2, all planes stored (mode 0). */
static void test_spec_examples(void **state)
{
    (void)state;
    rf_err e = {0};
    /* Transform 1, E = 2, elements 0x8001, 0x4000: rotl1 -> 0x0003, 0x8000.
     * plane 0 = {03, 00}, plane 1 = {00, 80}. */
    unsigned char p[8 + 32 + 4] = {2, 1};
    p[8] = 0, rf_put64(p + 16, 2);
    p[24] = 0, rf_put64(p + 32, 2);
    p[40] = 0x03, p[41] = 0x00, p[42] = 0x00, p[43] = 0x80;
    unsigned char out[4];
    assert_int_equal(rf_planes_decode(p, sizeof p, out, 4, 2, "t", &e), RAIIAF_OK);
    static const unsigned char want1[4] = {0x01, 0x80, 0x00, 0x40};
    assert_memory_equal(out, want1, 4);

    /* Transform 2, E = 2, W = 2, a 2x2 of float16-like patterns
     * 0x3C00 (1.0), 0x3C01, 0xBC00 (-1.0), 0x3C00.
     * ord map: 0x3C00, 0x3C01, 0xBC00 ^ 0x7FFF = 0xC3FF, 0x3C00.
     * predictions: 0, left 0x3C00, above 0x3C00, left+above-ul = 0xC3FF+0x3C01-0x3C00 = 0xC400.
     * residuals: 0x3C00, 0x0001, 0x87FF, 0x3C00-0xC400 = 0x7800 (mod 2^16).
     * zigzag: 0x7800, 0x0002, 0x87FF is negative -> (0x0FFE ^ 0xFFFF) = 0xF001, 0xF000. */
    unsigned char q[8 + 32 + 8] = {2, 2};
    rf_put32(q + 4, 2);
    q[8] = 0, rf_put64(q + 16, 4);
    q[24] = 0, rf_put64(q + 32, 4);
    static const uint16_t z[4] = {0x7800, 0x0002, 0xF001, 0xF000};
    for (int i = 0; i < 4; i++) q[40 + i] = (unsigned char)z[i], q[44 + i] = (unsigned char)(z[i] >> 8);
    unsigned char out2[8];
    assert_int_equal(rf_planes_decode(q, sizeof q, out2, 8, 2, "t", &e), RAIIAF_OK);
    static const unsigned char want2[8] = {0x00, 0x3C, 0x01, 0x3C, 0x00, 0xBC, 0x00, 0x3C};
    assert_memory_equal(out2, want2, 8);
    /* ...and the encoder, forced to transform 2, writes exactly those planes. */
    rf_planes_tuning saved = rf_planes_tune;
    rf_planes_tune.xforms = 4;
    rf_planes_tune.exhaustive = 0;
    rf_planes_tune.store_bits = 0; /* store every plane */
    unsigned char *enc = NULL;
    size_t es = 0;
    assert_int_equal(rf_planes_encode_rows(want2, 8, 2, 1, 2, &enc, &es, &e), RAIIAF_OK);
    rf_planes_tune = saved;
    assert_int_equal(es, sizeof q);
    assert_memory_equal(enc, q, sizeof q);
    free(enc);

    /* Refused: unknown transform, non-zero bytes 2..3, W with transform 1. */
    unsigned char bad[sizeof q];
    memcpy(bad, p, sizeof p);
    bad[1] = 3;
    assert_int_equal(rf_planes_decode(bad, sizeof bad, out, 4, 2, "t", &e), RAIIAF_E_CORRUPT);
    memcpy(bad, p, sizeof p);
    bad[2] = 1;
    assert_int_equal(rf_planes_decode(bad, sizeof bad, out, 4, 2, "t", &e), RAIIAF_E_CORRUPT);
    memcpy(bad, p, sizeof p);
    bad[5] = 1;
    assert_int_equal(rf_planes_decode(bad, sizeof bad, out, 4, 2, "t", &e), RAIIAF_E_CORRUPT);
    memcpy(bad, q, sizeof q);
    bad[3] = 1;
    assert_int_equal(rf_planes_decode(bad, sizeof q, out2, 8, 2, "t", &e), RAIIAF_E_CORRUPT);
}

/* Values from PyTorch 1.13 (Debian 12), torch.randn(..., generator=manual_seed(42)). */
static void test_torch_randn_known(void **state)
{
    (void)state;
    uint64_t shape3[1] = {3};
    float v[3];
    assert_int_equal(raiiaf_torch_randn(42, RAIIAF_F32, 1, shape3, NULL, v, sizeof v), RAIIAF_OK);
    /* torch.randn(3): tensor([0.3367, 0.1288, 0.2345]) */
    assert_true(fabsf(v[0] - 0.3367f) < 1e-4f && fabsf(v[1] - 0.1288f) < 1e-4f && fabsf(v[2] - 0.2345f) < 1e-4f);
    uint64_t shape[4] = {1, 4, 8, 8};
    float a[256], b[256];
    assert_int_equal(raiiaf_torch_randn(42, RAIIAF_F32, 4, shape, "avx2-fma", a, sizeof a), RAIIAF_OK);
    assert_int_equal(raiiaf_torch_randn(42, RAIIAF_F32, 4, shape, NULL, b, sizeof b), RAIIAF_OK);
    assert_memory_equal(a, b, sizeof a);
    assert_int_equal(raiiaf_torch_randn(42, RAIIAF_F32, 4, shape, "scalar", b, sizeof b), RAIIAF_OK);
    assert_memory_not_equal(a, b, sizeof a);
    assert_int_equal(raiiaf_torch_randn(42, RAIIAF_F32, 4, shape, "neon", b, sizeof b), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_torch_randn(42, RAIIAF_F32, 4, shape, NULL, b, sizeof b - 4), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_torch_randn(42, RAIIAF_I32, 4, shape, NULL, b, sizeof b), RAIIAF_E_ARG);
    double s = 0, s2 = 0;
    for (int i = 0; i < 256; i++) s += a[i], s2 += (double)a[i] * a[i];
    assert_true(fabs(s / 256) < 0.25 && fabs(s2 / 256 - 1) < 0.3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrips),
        cmocka_unit_test(test_simd_matches_portable),
        cmocka_unit_test(test_spec_examples),
        cmocka_unit_test(test_torch_randn_known),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
