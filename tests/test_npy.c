/* test_npy.c -- the CLI's .npy reader and writer (cli/npy.c). */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "raiiaf.h"

#define NPY_DIR RAIIAF_TEST_DATA "/npy"

static const size_t dtype_sizes[] = {0, 2, 2, 4, 8, 1, 1, 2, 2, 4, 4, 8, 8, 1};

/* Assembles a .npy file around a literal header dict: preamble for the
 * given major version, the dict, spaces and '\n' to a multiple of 64, then
 * the data.  Lets a test say exactly what hostile header it means. */
static unsigned char *make_npy(unsigned major, const char *dict, const void *data, size_t n,
                               size_t *len)
{
    size_t pre = major == 1 ? 10 : 12;
    size_t dlen = strlen(dict);
    size_t hlen = dlen + 1;
    hlen += (64 - (pre + hlen) % 64) % 64;
    unsigned char *b = malloc(pre + hlen + n + 1);
    assert_non_null(b);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = 0;
    for (size_t i = 0; i < pre - 8; i++) b[8 + i] = (unsigned char)(hlen >> (8 * i));
    memcpy(b + pre, dict, dlen);
    memset(b + pre + dlen, ' ', hlen - dlen - 1);
    b[pre + hlen - 1] = '\n';
    if (n) memcpy(b + pre + hlen, data, n);
    *len = pre + hlen + n;
    return b;
}

/* Parses a header dict with `n` data bytes; checks code and message. */
static void expect_dict(unsigned major, const char *dict, size_t n, int code, const char *msg)
{
    unsigned char *data = calloc(n ? n : 1, 1);
    assert_non_null(data);
    size_t len;
    unsigned char *b = make_npy(major, dict, data, n, &len);
    raiiaf_array a;
    char err[256];
    int rc = raiiaf_npy_parse(b, len, &a, err, sizeof err);
    free(b);
    free(data);
    if (rc != code || (msg && !strstr(err, msg)))
        fail_msg("dict %s: got %d '%s', want %d '%s'", dict, rc, err, code, msg ? msg : "");
}

static void test_roundtrip_every_dtype_and_rank(void **state)
{
    (void)state;
    uint64_t seed = 1;
    for (int d = RAIIAF_F16; d <= RAIIAF_BOOL; d++) {
        for (unsigned rank = 0; rank <= RAIIAF_MAX_RANK; rank++) {
            for (int with_zero = 0; with_zero <= (rank > 0); with_zero++) {
                uint64_t shape[RAIIAF_MAX_RANK];
                size_t count = 1;
                for (unsigned i = 0; i < rank; i++) {
                    shape[i] = (i % 3) + 1;
                    if (with_zero && i == rank / 2) shape[i] = 0;
                    count *= (size_t)shape[i];
                }
                size_t size = count * dtype_sizes[d];
                unsigned char *data = malloc(size ? size : 1);
                assert_non_null(data);
                for (size_t i = 0; i < size; i++)
                    data[i] = (unsigned char)(d == RAIIAF_BOOL ? tu_rand(&seed) & 1 : tu_rand(&seed));

                unsigned char *file;
                size_t file_size;
                assert_int_equal(raiiaf_npy_build((raiiaf_dtype)d, rank, shape, data, size, &file, &file_size), 0);
                assert_int_equal((file_size - size) % 64, 0);
                assert_int_equal(file[file_size - size - 1], '\n');

                raiiaf_array a;
                char err[256];
                int rc = raiiaf_npy_parse(file, file_size, &a, err, sizeof err);
                if (rc) fail_msg("dtype %d rank %u: %s", d, rank, err);
                assert_int_equal(a.dtype, d);
                assert_int_equal(a.rank, rank);
                for (unsigned i = 0; i < rank; i++) assert_int_equal(a.shape[i], shape[i]);
                assert_int_equal(a.size, size);
                assert_ptr_equal(a.data, file + file_size - size);
                assert_null(a.owned_);
                if (size) assert_memory_equal(a.data, data, size);
                raiiaf_array_free(&a);
                free(file);
                free(data);
            }
        }
    }
}

static void test_build_rejects_bad_arguments(void **state)
{
    (void)state;
    uint64_t shape[2] = {2, 3};
    float data[6] = {0};
    unsigned char *out = (unsigned char *)"x";
    size_t n = 7;
    assert_int_equal(raiiaf_npy_build(RAIIAF_F32, 2, shape, data, 20, &out, &n), RAIIAF_E_ARG);
    assert_null(out);
    assert_int_equal(n, 0);
    assert_int_equal(raiiaf_npy_build(RAIIAF_DTYPE_INVALID, 2, shape, data, 24, &out, &n), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_npy_build((raiiaf_dtype)99, 2, shape, data, 24, &out, &n), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_npy_build(RAIIAF_F32, 9, shape, data, 24, &out, &n), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_npy_build(RAIIAF_F32, 2, NULL, data, 24, &out, &n), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_npy_build(RAIIAF_F32, 2, shape, NULL, 24, &out, &n), RAIIAF_E_ARG);
    uint64_t huge[2] = {UINT64_C(1) << 62, UINT64_C(1) << 62};
    assert_int_equal(raiiaf_npy_build(RAIIAF_U8, 2, huge, data, 0, &out, &n), RAIIAF_E_ARG);
    /* the exact header numpy writes, for the record */
    uint64_t s4[4] = {1, 4, 8, 8};
    float *z = calloc(256, sizeof *z);
    assert_non_null(z);
    assert_int_equal(raiiaf_npy_build(RAIIAF_F32, 4, s4, z, 1024, &out, &n), 0);
    assert_int_equal(n, 128 + 1024);
    assert_memory_equal(out + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 4, 8, 8), }", 65);
    free(out);
    free(z);
}

/* Real numpy output reads back with the right dtype, shape and values. */
static void test_numpy_fixtures(void **state)
{
    (void)state;
    raiiaf_array a;
    char err[512];

    assert_int_equal(raiiaf_npy_read_file(NPY_DIR "/f32_1x4x8x8_v1.npy", &a, err, sizeof err), 0);
    assert_int_equal(a.dtype, RAIIAF_F32);
    assert_int_equal(a.rank, 4);
    assert_int_equal(a.shape[0], 1);
    assert_int_equal(a.shape[1], 4);
    assert_int_equal(a.shape[2], 8);
    assert_int_equal(a.shape[3], 8);
    assert_int_equal(a.size, 1024);
    assert_non_null(a.owned_);
    for (int i = 0; i < 256; i++) {
        float v;
        memcpy(&v, (const unsigned char *)a.data + 4 * i, 4);
        assert_true(v == (float)i * 0.5f - 3.0f);
    }
    raiiaf_array_free(&a);
    assert_null(a.owned_);

    const char *v23[] = {NPY_DIR "/f32_2x3_v2.npy", NPY_DIR "/f32_2x3_v3.npy"};
    for (int f = 0; f < 2; f++) {
        assert_int_equal(raiiaf_npy_read_file(v23[f], &a, err, sizeof err), 0);
        assert_int_equal(a.dtype, RAIIAF_F32);
        assert_int_equal(a.rank, 2);
        assert_int_equal(a.shape[0], 2);
        assert_int_equal(a.shape[1], 3);
        float v[6];
        assert_int_equal(a.size, sizeof v);
        memcpy(v, a.data, sizeof v);
        for (int i = 0; i < 6; i++) assert_true(v[i] == (float)i);
        raiiaf_array_free(&a);
    }

    assert_int_equal(raiiaf_npy_read_file(NPY_DIR "/f16_5.npy", &a, err, sizeof err), 0);
    assert_int_equal(a.dtype, RAIIAF_F16);
    assert_int_equal(a.rank, 1);
    assert_int_equal(a.shape[0], 5);
    static const unsigned char f16[10] = {0x00, 0x00, 0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0xff, 0x7b};
    assert_int_equal(a.size, 10);
    assert_memory_equal(a.data, f16, 10);
    raiiaf_array_free(&a);

    assert_int_equal(raiiaf_npy_read_file(NPY_DIR "/bool_2x3.npy", &a, err, sizeof err), 0);
    assert_int_equal(a.dtype, RAIIAF_BOOL);
    assert_int_equal(a.rank, 2);
    assert_int_equal(a.size, 6);
    assert_memory_equal(a.data, "\1\0\1\0\0\1", 6);
    raiiaf_array_free(&a);

    assert_int_equal(raiiaf_npy_read_file(NPY_DIR "/i64_scalar.npy", &a, err, sizeof err), 0);
    assert_int_equal(a.dtype, RAIIAF_I64);
    assert_int_equal(a.rank, 0);
    int64_t s;
    assert_int_equal(a.size, 8);
    memcpy(&s, a.data, 8);
    assert_int_equal(s, -42);
    raiiaf_array_free(&a);

    assert_int_equal(raiiaf_npy_read_file(NPY_DIR "/f32_0x3.npy", &a, err, sizeof err), 0);
    assert_int_equal(a.dtype, RAIIAF_F32);
    assert_int_equal(a.rank, 2);
    assert_int_equal(a.shape[0], 0);
    assert_int_equal(a.shape[1], 3);
    assert_int_equal(a.size, 0);
    raiiaf_array_free(&a);

    assert_int_equal(raiiaf_npy_read_file(NPY_DIR "/bf16_v2.npy", &a, err, sizeof err), 0);
    assert_int_equal(a.dtype, RAIIAF_BF16);
    assert_int_equal(a.rank, 1);
    assert_int_equal(a.shape[0], 3);
    assert_int_equal(a.size, 6);
    assert_memory_equal(a.data, "\x80\x3f\x00\x40\x00\xbf", 6);
    raiiaf_array_free(&a);
}

/* raiiaf_npy_build writes what np.save writes, byte for byte. */
static void test_build_matches_numpy(void **state)
{
    (void)state;
    const char *names[] = {"f32_1x4x8x8_v1.npy", "f16_5.npy", "bool_2x3.npy", "i64_scalar.npy",
                           "f32_0x3.npy"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t len;
        char *rel = tu_path("npy", names[i]);
        unsigned char *want = tu_read_data(rel, &len);
        raiiaf_array a;
        char err[256];
        assert_int_equal(raiiaf_npy_parse(want, len, &a, err, sizeof err), 0);
        unsigned char *got;
        size_t got_len;
        assert_int_equal(raiiaf_npy_build(a.dtype, a.rank, a.shape, a.data, a.size, &got, &got_len), 0);
        if (got_len != len || memcmp(got, want, len) != 0) fail_msg("%s differs from numpy's", names[i]);
        free(got);
        free(want);
        free(rel);
    }
}

static void expect_file_error(const char *name, int code, const char *msg)
{
    char *path = tu_path(NPY_DIR, name);
    raiiaf_array a;
    char err[512];
    int rc = raiiaf_npy_read_file(path, &a, err, sizeof err);
    if (rc != code || !strstr(err, msg) || strncmp(err, path, strlen(path)) != 0)
        fail_msg("%s: got %d '%s', want %d '%s'", name, rc, err, code, msg);
    assert_null(a.owned_);
    raiiaf_array_free(&a);
    free(path);
}

static void test_numpy_fixtures_refused(void **state)
{
    (void)state;
    expect_file_error("fortran.npy", RAIIAF_E_ARG,
                      ": header: Fortran-order arrays are not supported (save with np.ascontiguousarray)");
    expect_file_error("object.npy", RAIIAF_E_ARG, ": header: object arrays ('|O') are not supported");
    expect_file_error("f32_bigendian.npy", RAIIAF_E_ARG, ": header: big-endian dtype '>f4' is not supported");
    expect_file_error("c64.npy", RAIIAF_E_ARG, ": header: unknown dtype '<c8'");
    expect_file_error("no-such-file.npy", RAIIAF_E_IO, "No such file or directory");
    char *dir = tu_path(RAIIAF_TEST_DATA, "npy");
    raiiaf_array a;
    char err[512];
    assert_int_equal(raiiaf_npy_read_file(dir, &a, err, sizeof err), RAIIAF_E_IO);
    assert_non_null(strstr(err, "Is a directory"));
    free(dir);
}

/* Every prefix of a file is reported as truncated; each prefix is copied to
 * its own exact-size buffer so the sanitizer catches any over-read. */
static void test_truncation_at_every_byte(void **state)
{
    (void)state;
    const char *names[] = {"npy/f16_5.npy", "npy/f32_2x3_v2.npy", "npy/f32_2x3_v3.npy",
                           "npy/bool_2x3.npy"};
    for (size_t f = 0; f < sizeof names / sizeof names[0]; f++) {
        size_t len;
        unsigned char *full = tu_read_data(names[f], &len);
        for (size_t n = 0; n < len; n++) {
            unsigned char *part = malloc(n ? n : 1);
            assert_non_null(part);
            memcpy(part, full, n);
            raiiaf_array a;
            char err[256] = "";
            int rc = raiiaf_npy_parse(n ? part : NULL, n, &a, err, sizeof err);
            if (rc != RAIIAF_E_TRUNCATED || err[0] == '\0')
                fail_msg("%s cut at %zu: got %d '%s'", names[f], n, rc, err);
            free(part);
        }
        /* and trailing bytes are not silently ignored */
        unsigned char *longer = malloc(len + 12);
        assert_non_null(longer);
        memcpy(longer, full, len);
        memset(longer + len, 0, 12);
        raiiaf_array a;
        char err[256];
        assert_int_equal(raiiaf_npy_parse(longer, len + 12, &a, err, sizeof err), RAIIAF_E_CORRUPT);
        assert_string_equal(err, "data: 12 trailing bytes after the array");
        free(longer);
        free(full);
    }
}

static void test_hostile_headers(void **state)
{
    (void)state;
    const char *ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    expect_dict(1, ok, 24, 0, NULL);
    expect_dict(3, ok, 24, 0, NULL);
    /* the forms Python allows and numpy could produce */
    expect_dict(1, "{\"shape\":(2,3),\"descr\":\"<f4\",\"fortran_order\":False}", 24, 0, NULL);
    expect_dict(1, " {\n 'fortran_order' : False ,\t'shape' : ( 2 , 3 , ) , 'descr' : '<f4' } ", 24, 0, NULL);
    expect_dict(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }", 24, 0, NULL);
    expect_dict(1, "{'descr': '>i1', 'fortran_order': False, 'shape': (4,), }", 4, 0, NULL);
    expect_dict(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 5, 1), }", 20, 0, NULL);
    expect_dict(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (0, 5, 3), }", 0, 0, NULL);
    expect_dict(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 1099511627776), }", 0, 0, NULL);

    /* sizes */
    expect_dict(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4611686018427387904), }",
                0, RAIIAF_E_LIMIT, "header: shape (4611686018427387904, 4611686018427387904) of float32 is too large");
    expect_dict(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4611686018427387904, 4611686018427387904), }",
                0, RAIIAF_E_LIMIT, "too large");
    expect_dict(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (18446744073709551615,), }", 0,
                RAIIAF_E_TRUNCATED, "data: 0 bytes present, shape (18446744073709551615,) of uint8 needs 18446744073709551615");
    expect_dict(1, "{'descr': '<u2', 'fortran_order': False, 'shape': (18446744073709551615,), }", 0,
                RAIIAF_E_LIMIT, "too large");
    expect_dict(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (18446744073709551616,), }", 0,
                RAIIAF_E_LIMIT, "integer does not fit in 64 bits");
    expect_dict(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", 1,
                RAIIAF_E_LIMIT, "more than 8 dimensions");
    expect_dict(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1), }", 1, 0, NULL);
    expect_dict(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 4, 8, 8), }", 100,
                RAIIAF_E_TRUNCATED, "data: 100 bytes present, shape (1, 4, 8, 8) of float32 needs 1024");

    /* syntax */
    expect_dict(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", 0, RAIIAF_E_CORRUPT,
                "byte 64: header: negative dimension in 'shape'");
    expect_dict(1, "{'descr': '<f4", 24, RAIIAF_E_CORRUPT, "byte 20: header: unterminated string");
    expect_dict(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), \"", 24, RAIIAF_E_CORRUPT,
                "header: unterminated string");
    expect_dict(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'descr': '<f4'}", 24,
                RAIIAF_E_CORRUPT, "byte 68: header: duplicate key 'descr'");
    expect_dict(1, "{'descr': '<f4', 'fortran_order': False}", 4, RAIIAF_E_CORRUPT, "header: missing key 'shape'");
    expect_dict(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", 4, RAIIAF_E_CORRUPT,
                "header: unknown key 'x'");
    expect_dict(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5), }", 20, RAIIAF_E_CORRUPT, "not a tuple");
    expect_dict(1, "{'descr': '<f4', 'fortran_order': False, 'shape': [5], }", 20, RAIIAF_E_CORRUPT,
                "'shape' must be a tuple");
    expect_dict(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,,), }", 20, RAIIAF_E_CORRUPT, "header:");
    expect_dict(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (05,), }", 20, RAIIAF_E_CORRUPT, "leading zeros");
    expect_dict(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5.0,), }", 20, RAIIAF_E_CORRUPT, "malformed integer");
    expect_dict(3, "{'descr': '<f4', 'fortran_order': False, 'shape': (5L,), }", 20, RAIIAF_E_CORRUPT, "malformed integer");
    expect_dict(1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (5,), }", 20, RAIIAF_E_CORRUPT, "True or False");
    expect_dict(1, "{'descr': '<\\x66\\x34', 'fortran_order': False, 'shape': (5,), }", 20, RAIIAF_E_CORRUPT, "escape");
    expect_dict(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), } x", 20, RAIIAF_E_CORRUPT,
                "unexpected text after the dict");
    expect_dict(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), ,}", 20, RAIIAF_E_CORRUPT, "header:");
    expect_dict(1, "{, 'descr': '<f4', 'fortran_order': False, 'shape': (5,)}", 20, RAIIAF_E_CORRUPT, "header:");
    expect_dict(1, "('descr', '<f4')", 20, RAIIAF_E_CORRUPT, "expected '{'");
    expect_dict(1, "", 0, RAIIAF_E_CORRUPT, "expected '{'");
    expect_dict(1, "{'descr': '<f4' 'fortran_order': False, 'shape': (5,)}", 20, RAIIAF_E_CORRUPT, "expected ','");
    expect_dict(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,)}\x01", 20, RAIIAF_E_CORRUPT,
                "unexpected byte 0x01");
    expect_dict(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,)} #", 20, RAIIAF_E_CORRUPT,
                "unexpected character '#'");

    /* dtypes */
    expect_dict(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (5,), }", 20, RAIIAF_E_ARG,
                "structured dtypes");
    expect_dict(1, "{'descr': '=f4', 'fortran_order': False, 'shape': (5,), }", 20, RAIIAF_E_ARG,
                "header: native-order dtype '=f4' is not supported");
    expect_dict(1, "{'descr': '>u8', 'fortran_order': False, 'shape': (5,), }", 40, RAIIAF_E_ARG,
                "header: big-endian dtype '>u8' is not supported");
    expect_dict(1, "{'descr': '<U5', 'fortran_order': False, 'shape': (5,), }", 100, RAIIAF_E_ARG,
                "header: unknown dtype '<U5'");
    expect_dict(1, "{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (5,), }", 40, RAIIAF_E_ARG,
                "header: unknown dtype '<M8[ns]'");
    expect_dict(1, "{'descr': '', 'fortran_order': False, 'shape': (5,), }", 40, RAIIAF_E_ARG,
                "header: unknown dtype ''");
    expect_dict(1, "{'descr': '>\x80\xff', 'fortran_order': False, 'shape': (5,), }", 40, RAIIAF_E_ARG,
                "header: unknown dtype '>\\x80\\xff'");
    expect_dict(1, "{'descr': 'O', 'fortran_order': False, 'shape': (5,), }", 40, RAIIAF_E_ARG, "object arrays");

    /* bool bytes must be 0 or 1 */
    {
        unsigned char data[6] = {0, 1, 1, 0, 2, 1};
        size_t len;
        unsigned char *b = make_npy(1, "{'descr': '|b1', 'fortran_order': False, 'shape': (2, 3), }", data, 6, &len);
        raiiaf_array a;
        char err[256];
        assert_int_equal(raiiaf_npy_parse(b, len, &a, err, sizeof err), RAIIAF_E_CORRUPT);
        assert_non_null(strstr(err, "data: bool element 4 (byte 132) is 2, not 0 or 1"));
        free(b);
    }
}

static void test_hostile_preamble(void **state)
{
    (void)state;
    raiiaf_array a;
    char err[256];
    /* header length 70000 in a 200-byte format 2.0 file */
    unsigned char b[200];
    memset(b, ' ', sizeof b);
    memcpy(b, "\x93NUMPY\x02\x00\x70\x11\x01\x00", 12);
    assert_int_equal(raiiaf_npy_parse(b, sizeof b, &a, err, sizeof err), RAIIAF_E_TRUNCATED);
    assert_string_equal(err, "byte 8: header length 70000 exceeds the file (200 bytes)");
    memcpy(b, "\x93NUMPY\x03\x00\xff\xff\xff\xff", 12);
    assert_int_equal(raiiaf_npy_parse(b, sizeof b, &a, err, sizeof err), RAIIAF_E_TRUNCATED);
    assert_non_null(strstr(err, "header length 4294967295 exceeds the file"));

    memcpy(b, "\x93NUMPY\x04\x00", 8);
    assert_int_equal(raiiaf_npy_parse(b, sizeof b, &a, err, sizeof err), RAIIAF_E_VERSION);
    assert_non_null(strstr(err, "version 4.0 is not supported"));
    memcpy(b, "\x93NUMPY\x01\x01", 8);
    assert_int_equal(raiiaf_npy_parse(b, sizeof b, &a, err, sizeof err), RAIIAF_E_VERSION);
    memcpy(b, "\x93NUMPY\x00\x00", 8);
    assert_int_equal(raiiaf_npy_parse(b, sizeof b, &a, err, sizeof err), RAIIAF_E_VERSION);
    memcpy(b, "PK\x03\x04", 4);
    assert_int_equal(raiiaf_npy_parse(b, sizeof b, &a, err, sizeof err), RAIIAF_E_CORRUPT);
    assert_string_equal(err, "byte 0: not a .npy file (no \\x93NUMPY magic)");
    assert_int_equal(raiiaf_npy_parse(b, 1, &a, err, sizeof err), RAIIAF_E_CORRUPT);

    /* a header over 1 MiB is refused even when the file holds it */
    size_t big = (1u << 20) + 1;
    unsigned char *h = malloc(12 + big);
    assert_non_null(h);
    memset(h, ' ', 12 + big);
    memcpy(h, "\x93NUMPY\x02\x00", 8);
    h[8] = (unsigned char)big;
    h[9] = (unsigned char)(big >> 8);
    h[10] = (unsigned char)(big >> 16);
    h[11] = 0;
    assert_int_equal(raiiaf_npy_parse(h, 12 + big, &a, err, sizeof err), RAIIAF_E_LIMIT);
    assert_non_null(strstr(err, "exceeds the limit of 1 MiB"));
    free(h);

    /* messages are cut to the buffer and stay terminated */
    char small[10];
    memset(small, 'x', sizeof small);
    assert_int_equal(raiiaf_npy_parse(b, sizeof b, &a, small, sizeof small), RAIIAF_E_CORRUPT);
    assert_int_equal(strlen(small), 9);
    assert_int_equal(raiiaf_npy_parse(b, sizeof b, &a, NULL, 0), RAIIAF_E_CORRUPT);
    assert_int_equal(raiiaf_npy_parse(NULL, 5, &a, err, sizeof err), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_npy_parse(b, 5, NULL, err, sizeof err), RAIIAF_E_ARG);
    raiiaf_array_free(NULL);
}

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

static void test_write_file(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *path = tu_path(dir, "out.npy");
    uint64_t shape[3] = {2, 3, 4};
    float v[24];
    for (int i = 0; i < 24; i++) v[i] = (float)i * 0.25f;
    char err[512];
    assert_int_equal(raiiaf_npy_write_file(path, RAIIAF_F32, 3, shape, v, sizeof v, err, sizeof err), 0);
    assert_int_equal(count_entries(dir), 1);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    mode_t mask = umask(0); /* single-threaded test: reading the umask this way is fine here */
    umask(mask);
    assert_int_equal(st.st_mode & 0777, 0666 & ~mask); /* not mkstemp's 0600 */

    raiiaf_array a;
    assert_int_equal(raiiaf_npy_read_file(path, &a, err, sizeof err), 0);
    assert_int_equal(a.dtype, RAIIAF_F32);
    assert_int_equal(a.rank, 3);
    assert_int_equal(a.size, sizeof v);
    assert_memory_equal(a.data, v, sizeof v);
    raiiaf_array_free(&a);

    /* replacing an existing file keeps its mode */
    assert_int_equal(chmod(path, 0640), 0);
    uint64_t s1 = 3;
    assert_int_equal(raiiaf_npy_write_file(path, RAIIAF_U8, 1, &s1, "\1\2\3", 3, err, sizeof err), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    assert_int_equal(raiiaf_npy_read_file(path, &a, err, sizeof err), 0);
    assert_int_equal(a.dtype, RAIIAF_U8);
    assert_memory_equal(a.data, "\1\2\3", 3);
    raiiaf_array_free(&a);
    assert_int_equal(count_entries(dir), 1);

    /* a missing folder */
    char *missing = tu_path(dir, "nope/out.npy");
    assert_int_equal(raiiaf_npy_write_file(missing, RAIIAF_U8, 1, &s1, "\1\2\3", 3, err, sizeof err), RAIIAF_E_IO);
    assert_non_null(strstr(err, missing));
    assert_non_null(strstr(err, "No such file or directory"));

    /* the temporary file is made, then the rename fails: it must go */
    char *sub = tu_path(dir, "subdir");
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(raiiaf_npy_write_file(sub, RAIIAF_U8, 1, &s1, "\1\2\3", 3, err, sizeof err), RAIIAF_E_IO);
    assert_non_null(strstr(err, "cannot rename the finished file into place"));
    assert_int_equal(count_entries(dir), 2);

    /* a folder that cannot be written (root ignores the mode bits) */
    char *ro = tu_path(dir, "ro");
    assert_int_equal(mkdir(ro, 0555), 0);
    char *ro_file = tu_path(ro, "out.npy");
    if (geteuid() != 0) {
        assert_int_equal(raiiaf_npy_write_file(ro_file, RAIIAF_U8, 1, &s1, "\1\2\3", 3, err, sizeof err), RAIIAF_E_IO);
        assert_non_null(strstr(err, "Permission denied"));
        assert_int_equal(count_entries(ro), 0);
    }

    /* arguments */
    assert_int_equal(raiiaf_npy_write_file(path, RAIIAF_U8, 1, &s1, "\1\2", 2, err, sizeof err), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_npy_write_file(NULL, RAIIAF_U8, 1, &s1, "\1\2\3", 3, err, sizeof err), RAIIAF_E_ARG);

    rmdir(ro);
    rmdir(sub);
    unlink(path);
    rmdir(dir);
    free(ro_file);
    free(ro);
    free(sub);
    free(missing);
    free(path);
    free(dir);
}

/* numpy itself loads what we write, and np.save would write the same bytes. */
static void test_numpy_loads_our_files(void **state)
{
    (void)state;
    if (system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
        print_message("python3 with numpy not available: skipping the numpy cross-check\n");
        skip();
    }
    char *dir = tu_tempdir();
    char err[512];
    char *p;

    p = tu_path(dir, "f32.npy");
    uint64_t s3[3] = {2, 3, 4};
    float f[24];
    for (int i = 0; i < 24; i++) f[i] = (float)i * 0.25f - 1.0f;
    assert_int_equal(raiiaf_npy_write_file(p, RAIIAF_F32, 3, s3, f, sizeof f, err, sizeof err), 0);
    free(p);

    p = tu_path(dir, "i16.npy");
    uint64_t s1 = 5;
    int16_t i16[5] = {-32768, -1, 0, 1, 32767};
    assert_int_equal(raiiaf_npy_write_file(p, RAIIAF_I16, 1, &s1, i16, sizeof i16, err, sizeof err), 0);
    free(p);

    p = tu_path(dir, "bool.npy");
    uint64_t s2[2] = {2, 2};
    assert_int_equal(raiiaf_npy_write_file(p, RAIIAF_BOOL, 2, s2, "\1\0\0\1", 4, err, sizeof err), 0);
    free(p);

    p = tu_path(dir, "u64.npy");
    uint64_t u = UINT64_MAX;
    assert_int_equal(raiiaf_npy_write_file(p, RAIIAF_U64, 0, NULL, &u, 8, err, sizeof err), 0);
    free(p);

    p = tu_path(dir, "f64_empty.npy");
    uint64_t s0[3] = {3, 0, 2};
    assert_int_equal(raiiaf_npy_write_file(p, RAIIAF_F64, 3, s0, NULL, 0, err, sizeof err), 0);
    free(p);

    p = tu_path(dir, "bf16.npy");
    uint64_t sb = 3;
    assert_int_equal(raiiaf_npy_write_file(p, RAIIAF_BF16, 1, &sb, "\x80\x3f\x00\x40\x00\xbf", 6, err, sizeof err), 0);
    free(p);

    static const char script[] =
        "import io, sys, numpy as np\n"
        "d = sys.argv[1]\n"
        "want = {\n"
        "  'f32': np.arange(24, dtype=np.float32).reshape(2, 3, 4) * np.float32(0.25) - np.float32(1),\n"
        "  'i16': np.array([-32768, -1, 0, 1, 32767], dtype=np.int16),\n"
        "  'bool': np.array([[True, False], [False, True]]),\n"
        "  'u64': np.array(2**64 - 1, dtype=np.uint64),\n"
        "  'f64_empty': np.zeros((3, 0, 2)),\n"
        "}\n"
        "for name, w in want.items():\n"
        "    a = np.load(d + '/' + name + '.npy')\n"
        "    assert a.dtype == w.dtype and a.shape == w.shape and (a == w).all(), name\n"
        "    b = io.BytesIO(); np.save(b, w)\n"
        "    assert b.getvalue() == open(d + '/' + name + '.npy', 'rb').read(), name + ' bytes'\n"
        "a = np.load(d + '/bf16.npy')\n"
        "assert a.dtype == np.dtype('V2') and a.shape == (3,), a.dtype\n"
        "assert (a.view('<u2') == [0x3f80, 0x4000, 0xbf00]).all()\n";
    char *script_path = tu_path(dir, "check.py");
    tu_write_file(script_path, script, sizeof script - 1);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s'", script_path, dir);
    assert_int_equal(system(cmd), 0);

    const char *names[] = {"f32.npy", "i16.npy", "bool.npy", "u64.npy", "f64_empty.npy", "bf16.npy", "check.py"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        p = tu_path(dir, names[i]);
        unlink(p);
        free(p);
    }
    rmdir(dir);
    free(script_path);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_every_dtype_and_rank),
        cmocka_unit_test(test_build_rejects_bad_arguments),
        cmocka_unit_test(test_numpy_fixtures),
        cmocka_unit_test(test_build_matches_numpy),
        cmocka_unit_test(test_numpy_fixtures_refused),
        cmocka_unit_test(test_truncation_at_every_byte),
        cmocka_unit_test(test_hostile_headers),
        cmocka_unit_test(test_hostile_preamble),
        cmocka_unit_test(test_write_file),
        cmocka_unit_test(test_numpy_loads_our_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
