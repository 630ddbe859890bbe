/* test_stream_coder.c -- the byte-plane coder that writes large tensors into
 * the file in pieces (codec_zstd_stream.c, issue 17 item 12): CRC-32C
 * combination equals the CRC of the concatenation; tensors over the
 * streaming size of every element size and transform (each forced in turn,
 * the delta transform with rows shorter and longer than a block, a last
 * partial row and one row), with compressible and random planes, are read
 * back bit for bit and verify; AUTO stores an incompressible tensor raw. */
#include "testutil.h"

#include "codec_planes.h"
#include "internal.h"
#include "raiiaf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void test_crc_combine(void **state)
{
    (void)state;
    uint64_t st = 7;
    unsigned char buf[4096];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)tu_rand(&st);
    const size_t cuts[] = {0, 1, 7, 64, 1000, 4095, 4096};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        size_t a = cuts[c];
        uint32_t whole = rf_crc32c(0, buf, sizeof buf);
        uint32_t ca = rf_crc32c(0, buf, a), cb = rf_crc32c(0, buf + a, sizeof buf - a);
        assert_int_equal(rf_crc32c_combine(ca, cb, sizeof buf - a), whole);
    }
}

/* kind 0: smooth values (delta and top planes compress); 1: random bytes. */
static unsigned char *make(size_t n, unsigned E, int kind, uint64_t seed)
{
    unsigned char *p = malloc(n * E);
    assert_non_null(p);
    uint64_t st = seed;
    for (size_t i = 0; i < n; i++) {
        uint64_t v;
        if (kind) {
            v = tu_rand(&st);
        } else {
            double x = sin((double)i * 0.001) * 1000.0 + (double)(i % 977) * 0.01;
            if (E == 4) {
                float f = (float)x;
                uint32_t u;
                memcpy(&u, &f, 4);
                v = u;
            } else if (E == 8) {
                memcpy(&v, &x, 8);
            } else {
                v = (uint64_t)(int64_t)x;
            }
        }
        for (unsigned k = 0; k < E; k++) p[i * E + k] = (unsigned char)(v >> (8 * k));
    }
    return p;
}

static raiiaf_dtype dtype_of(unsigned E)
{
    return E == 1 ? RAIIAF_U8 : E == 2 ? RAIIAF_I16 : E == 4 ? RAIIAF_F32 : RAIIAF_F64;
}

/* Writes the tensor through raiiaf_writer_add_tensor (and, once, through
 * begin/write/end in pieces), reads it back and verifies the file. */
static void roundtrip(unsigned E, unsigned rank, const uint64_t *shape, int kind, raiiaf_codec codec, int pieces,
                      unsigned *codec_out)
{
    size_t n = 1;
    for (unsigned i = 0; i < rank; i++) n *= (size_t)shape[i];
    unsigned char *data = make(n, E, kind, n + E + (uint64_t)kind);
    raiiaf_writer *w = NULL;
    assert_int_equal(raiiaf_writer_new_memory(&w), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_env(w, RAIIAF_ENV_NONE), RAIIAF_OK);
    if (pieces) {
        assert_int_equal(raiiaf_writer_begin_tensor(w, "t", dtype_of(E), rank, shape, codec, 0), RAIIAF_OK);
        for (size_t off = 0; off < n * E; off += 100003) {
            size_t m = n * E - off < 100003 ? n * E - off : 100003;
            assert_int_equal(raiiaf_writer_write_tensor(w, data + off, m), RAIIAF_OK);
        }
        assert_int_equal(raiiaf_writer_end_tensor(w), RAIIAF_OK);
    } else {
        assert_int_equal(raiiaf_writer_add_tensor(w, "t", dtype_of(E), rank, shape, data, n * E, codec, 0), RAIIAF_OK);
    }
    assert_int_equal(raiiaf_writer_finish(w), RAIIAF_OK);
    const void *file;
    size_t size;
    assert_int_equal(raiiaf_writer_memory(w, &file, &size), RAIIAF_OK);
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_memory(file, size, 0, &r), RAIIAF_OK);
    raiiaf_tensor_info ti;
    assert_int_equal(raiiaf_reader_tensor_info(r, 0, &ti), RAIIAF_OK);
    *codec_out = ti.codec;
    unsigned char *back = malloc(n * E);
    assert_non_null(back);
    assert_int_equal(raiiaf_reader_read_tensor(r, 0, back, n * E), RAIIAF_OK);
    assert_memory_equal(back, data, n * E);
    if (raiiaf_reader_verify(r, NULL, NULL) != RAIIAF_OK) fail_msg("verify: %s", raiiaf_reader_errmsg(r));
    raiiaf_reader_free(r);
    raiiaf_writer_free(w);
    free(back);
    free(data);
}

static void test_every_transform_and_size(void **state)
{
    (void)state;
    rf_planes_tuning saved = rf_planes_tune;
    /* rows of 1000 (blocks of whole rows, a partial last row), rows longer
     * than a block (2^20 + 3 elements), and one row (a 1-D tensor) */
    const uint64_t rows[2] = {1201, 1000}, longrows[2] = {2, (1u << 20) + 3}, one[1] = {(1u << 20) + 77};
    const uint64_t *shapes[3] = {rows, longrows, one};
    const unsigned ranks[3] = {2, 2, 1};
    const unsigned sizes[4] = {1, 2, 4, 8};
    for (unsigned t = 0; t <= RF_XFORM_MAX; t++) {
        rf_planes_tune.xforms = 1u << t;
        for (unsigned s = 0; s < 4; s++)
            for (unsigned sh = 0; sh < 3; sh++) {
                if (sizes[s] == 8 && sh == 1) continue; /* 16 MiB: the others cover it */
                unsigned codec;
                roundtrip(sizes[s], ranks[sh], shapes[sh], 0, RAIIAF_CODEC_ZSTD, 0, &codec);
                assert_int_equal(codec, RAIIAF_CODEC_ZSTD);
            }
    }
    rf_planes_tune = saved;
    unsigned codec;
    /* random planes are stored, not coded; pieces through begin/write/end */
    roundtrip(4, 2, rows, 1, RAIIAF_CODEC_ZSTD, 1, &codec);
    assert_int_equal(codec, RAIIAF_CODEC_ZSTD);
    /* one plane of random bytes: zstd is tried, does not pay, the plane is stored */
    roundtrip(1, 2, rows, 1, RAIIAF_CODEC_ZSTD, 0, &codec);
    assert_int_equal(codec, RAIIAF_CODEC_ZSTD);
    /* AUTO: random bytes do not compress, so the tensor is stored raw */
    roundtrip(1, 2, rows, 1, RAIIAF_CODEC_AUTO, 0, &codec);
    assert_int_equal(codec, RAIIAF_CODEC_RAW);
    roundtrip(4, 2, rows, 0, RAIIAF_CODEC_AUTO, 1, &codec);
    assert_int_equal(codec, RAIIAF_CODEC_ZSTD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc_combine),
        cmocka_unit_test(test_every_transform_and_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
