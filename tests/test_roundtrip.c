/* test_roundtrip.c -- what the writer promises and the reader gives back:
 * every dtype x codec x rank round trips bit for bit through files and
 * memory, zero-copy access, streaming, zfp tolerance, auto's size bound,
 * images, unknown chunks, manifest fields, atomic replacement and the exact
 * status codes of API misuse. */
#include "testutil.h"
#include "reader_impl.h" /* r->data / r->size: the mapping's range */

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------- */

#define EXPECT_W(w, call, want)                                                                          \
    do {                                                                                                 \
        int rc_ = (call);                                                                                \
        if (rc_ != (want))                                                                               \
            fail_msg("%s:%d: %s gave %d (%s), expected %d: %s", __FILE__, __LINE__, #call, rc_,           \
                     raiiaf_strerror(rc_), (want), raiiaf_writer_errmsg(w));                             \
    } while (0)

#define EXPECT_R(r, call, want)                                                                          \
    do {                                                                                                 \
        int rc_ = (call);                                                                                \
        if (rc_ != (want))                                                                               \
            fail_msg("%s:%d: %s gave %d (%s), expected %d: %s", __FILE__, __LINE__, #call, rc_,           \
                     raiiaf_strerror(rc_), (want), raiiaf_reader_errmsg(r));                             \
    } while (0)

#define EXPECT_MSG(msg, want)                                                                            \
    do {                                                                                                 \
        if (!strstr((msg), (want))) fail_msg("%s:%d: message \"%s\" lacks \"%s\"", __FILE__, __LINE__, (msg), (want)); \
    } while (0)

/* Removes every plain file in dir, then dir itself. */
static void rm_tree(char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                char *p = tu_path(dir, e->d_name);
                unlink(p);
                free(p);
            }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

/* The entries of dir (without . and ..), as "a|b|c" sorted; caller frees. */
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static char *list_dir(const char *dir)
{
    char *names[64];
    size_t n = 0, len = 1;
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            assert_true(n < 64);
            names[n++] = strdup(e->d_name);
            len += strlen(e->d_name) + 1;
        }
    closedir(d);
    qsort(names, n, sizeof names[0], cmp_str);
    char *s = calloc(1, len);
    for (size_t i = 0; i < n; i++) {
        if (i) strcat(s, "|");
        strcat(s, names[i]);
        free(names[i]);
    }
    return s;
}

static size_t count_entries(const char *list)
{
    size_t n = *list ? 1 : 0;
    for (; *list; list++) n += *list == '|';
    return n;
}

/* A 64-byte aligned copy of a buffer, so zero-copy pointers from
 * raiiaf_reader_open_memory() can be checked for absolute alignment. */
static unsigned char *aligned_copy(const void *src, size_t n)
{
    unsigned char *p = aligned_alloc(64, (n + 63) / 64 * 64 + 64);
    assert_non_null(p);
    memcpy(p, src, n);
    return p;
}

static raiiaf_writer *writer_or_fail(const char *path)
{
    raiiaf_writer *w = NULL;
    int rc = raiiaf_writer_new(path, &w);
    if (rc) fail_msg("raiiaf_writer_new(%s): %d %s", path, rc, raiiaf_writer_errmsg(w));
    return w;
}

static void finish_or_fail(raiiaf_writer *w)
{
    EXPECT_W(w, raiiaf_writer_finish(w), RAIIAF_OK);
    raiiaf_writer_free(w);
}

static raiiaf_reader *open_file_or_fail(const char *path, unsigned flags)
{
    raiiaf_reader *r = NULL;
    int rc = raiiaf_reader_open_file(path, flags, &r);
    if (rc) fail_msg("open_file(%s): %d %s", path, rc, raiiaf_reader_errmsg(r));
    return r;
}

static raiiaf_reader *open_mem_or_fail(const void *data, size_t size, unsigned flags)
{
    raiiaf_reader *r = NULL;
    int rc = raiiaf_reader_open_memory(data, size, flags, &r);
    if (rc) fail_msg("open_memory: %d %s", rc, raiiaf_reader_errmsg(r));
    return r;
}

static void verify_ok(raiiaf_reader *r)
{
    EXPECT_R(r, raiiaf_reader_verify(r, NULL, NULL), RAIIAF_OK);
}

/* ---- the dtype x codec x rank matrix ------------------------------------ */

typedef struct {
    unsigned rank;
    uint64_t shape[RAIIAF_MAX_RANK];
} shape_t;

static const shape_t shapes[] = {
    {0, {0}},                        /* scalar */
    {1, {7}},
    {2, {3, 5}},
    {3, {2, 1, 3}},
    {4, {1, 4, 3, 2}},               /* a latent's layout */
    {5, {2, 1, 3, 1, 2}},
    {6, {1, 2, 1, 3, 1, 2}},
    {7, {2, 1, 1, 2, 1, 1, 3}},
    {8, {1, 2, 1, 2, 1, 2, 1, 2}},   /* rank 8, four dimensions > 1 */
    {8, {2, 2, 2, 2, 2, 1, 1, 1}},   /* five dimensions > 1: beyond zfp */
    {3, {4, 0, 2}},                  /* zero elements */
    {1, {0}},
    {8, {1, 1, 1, 1, 1, 1, 1, 0}},
    {4, {1, 1, 1, 1}},               /* all size-1: one element */
    {2, {40, 33}},                   /* large enough for codecs to matter */
};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

static const raiiaf_codec codecs[] = {RAIIAF_CODEC_RAW, RAIIAF_CODEC_ZSTD, RAIIAF_CODEC_ZFP, RAIIAF_CODEC_AUTO};
#define NCODECS 4

static uint64_t count_of(const shape_t *s)
{
    uint64_t n = 1;
    for (unsigned i = 0; i < s->rank; i++) n *= s->shape[i];
    return n;
}

/* What zfp is documented to accept, computed independently of the library. */
static int zfp_expected(raiiaf_dtype d, const shape_t *s)
{
    if (d != RAIIAF_F32 && d != RAIIAF_F64 && d != RAIIAF_I32 && d != RAIIAF_I64) return 0;
    unsigned big = 0;
    for (unsigned i = 0; i < s->rank; i++) {
        if (s->shape[i] == 0) return 0;
        if (s->shape[i] > 1) big++;
    }
    return big <= 4;
}

/* Random bytes for any dtype, with the float values that codecs get wrong
 * most easily planted at the front: NaNs with payloads (quiet, signalling,
 * negative), -0.0, +-inf, the smallest and largest denormals. */
static void fill_random(raiiaf_dtype d, void *buf, uint64_t count, uint64_t *rng)
{
    size_t es = raiiaf_dtype_size(d);
    unsigned char *p = buf;
    for (uint64_t i = 0; i < count * es; i++) p[i] = (unsigned char)(tu_rand(rng) >> 56);
    if (d == RAIIAF_BOOL)
        for (uint64_t i = 0; i < count; i++) p[i] &= 1;
    static const uint16_t sp16[] = {0x7e01, 0x7c01, 0xfe55, 0x8000, 0x7c00, 0xfc00, 0x0001, 0x83ff};
    static const uint16_t spb16[] = {0x7fc1, 0x7f81, 0xffc3, 0x8000, 0x7f80, 0xff80, 0x0001, 0x807f};
    static const uint32_t sp32[] = {0x7fc12345u, 0x7f800001u, 0xffc00001u, 0x80000000u,
                                    0x7f800000u, 0xff800000u, 0x00000001u, 0x807fffffu};
    static const uint64_t sp64[] = {0x7ff8000000012345ull, 0x7ff0000000000001ull, 0xfff8000000000001ull,
                                    0x8000000000000000ull, 0x7ff0000000000000ull, 0xfff0000000000000ull,
                                    0x0000000000000001ull, 0x800fffffffffffffull};
    for (uint64_t i = 0; i < count && i < 8; i++) {
        switch (d) {
        case RAIIAF_F16: memcpy(p + 2 * i, &sp16[i], 2); break;
        case RAIIAF_BF16: memcpy(p + 2 * i, &spb16[i], 2); break;
        case RAIIAF_F32: memcpy(p + 4 * i, &sp32[i], 4); break;
        case RAIIAF_F64: memcpy(p + 8 * i, &sp64[i], 8); break;
        default: break;
        }
    }
}

typedef struct {
    char name[64];
    raiiaf_codec asked;
    const shape_t *shape;
    unsigned char *data;
    size_t size;
} added_t;

/* Checks one reader against everything that was added. `base`/`base_size`
 * is the range the reader's bytes live in; `mapped` asks for absolute
 * 64-byte alignment of zero-copy pointers. */
static void check_reader(raiiaf_reader *r, raiiaf_dtype dt, const added_t *add, size_t nadd, int aligned)
{
    assert_int_equal(raiiaf_reader_tensor_count(r), nadd);
    unsigned major = 9, minor = 9;
    raiiaf_reader_format(r, &major, &minor);
    assert_int_equal(major, 2);
    assert_int_equal(minor, 0);
    const unsigned char *lo = r->data, *hi = r->data + r->size;
    for (size_t k = 0; k < nadd; k++) {
        const added_t *a = &add[k];
        size_t idx = 999;
        EXPECT_R(r, raiiaf_reader_find_tensor(r, a->name, &idx), RAIIAF_OK);
        assert_int_equal(idx, k);
        raiiaf_tensor_info ti;
        EXPECT_R(r, raiiaf_reader_tensor_info(r, k, &ti), RAIIAF_OK);
        assert_string_equal(ti.name, a->name);
        assert_int_equal(ti.dtype, dt);
        assert_int_equal(ti.rank, a->shape->rank);
        for (unsigned i = 0; i < ti.rank; i++) assert_int_equal(ti.shape[i], a->shape->shape[i]);
        assert_int_equal(ti.raw_size, a->size);
        assert_true(ti.tolerance == 0 && ti.max_error == 0);
        switch (a->asked) {
        case RAIIAF_CODEC_RAW:
            assert_int_equal(ti.codec, RAIIAF_CODEC_RAW);
            assert_int_equal(ti.stored_size, a->size);
            break;
        case RAIIAF_CODEC_ZSTD:
            assert_int_equal(ti.codec, RAIIAF_CODEC_ZSTD);
            /* Planes zstd cannot shrink are stored: never more than the prefix above raw. */
            assert_true(ti.stored_size <= a->size + RF_PLANES_PREFIX(raiiaf_dtype_size(dt)));
            break;
        case RAIIAF_CODEC_ZFP:
            assert_int_equal(ti.codec, RAIIAF_CODEC_ZFP);
            break;
        default: /* auto: lossless, never larger than raw */
            assert_true(ti.codec == RAIIAF_CODEC_RAW || ti.codec == RAIIAF_CODEC_ZSTD);
            assert_true(ti.stored_size <= a->size);
            if (ti.codec == RAIIAF_CODEC_ZSTD) assert_true(ti.stored_size < a->size);
            break;
        }
        raiiaf_chunk_info ci;
        size_t chunk = r->tensors[k].chunk;
        EXPECT_R(r, raiiaf_reader_chunk_info(r, chunk, &ci), RAIIAF_OK);
        assert_string_equal(ci.type, "TENS");
        assert_int_equal(ci.codec, ti.codec);
        assert_int_equal(ci.stored_size, ti.stored_size);
        assert_int_equal(ci.raw_size, ti.raw_size);
        assert_int_equal(ci.offset % 64, 0);

        unsigned char *dst = malloc(a->size + 1);
        assert_non_null(dst);
        EXPECT_R(r, raiiaf_reader_read_tensor(r, k, dst, a->size), RAIIAF_OK);
        if (a->size && memcmp(dst, a->data, a->size))
            fail_msg("tensor %s (%s, codec %s): decoded bytes differ", a->name, raiiaf_dtype_name(dt), raiiaf_codec_name(ti.codec));
        EXPECT_R(r, raiiaf_reader_read_tensor(r, k, dst, a->size + 1), RAIIAF_E_BUFFER);
        /* Reading twice gives the same bytes (cached checks change nothing). */
        EXPECT_R(r, raiiaf_reader_read_tensor(r, k, dst, a->size), RAIIAF_OK);
        assert_true(a->size == 0 || memcmp(dst, a->data, a->size) == 0);
        free(dst);

        const void *zc = NULL;
        if (ti.codec == RAIIAF_CODEC_RAW) {
            EXPECT_R(r, raiiaf_reader_tensor_data(r, k, &zc), RAIIAF_OK);
            const unsigned char *p = zc;
            assert_ptr_equal(p, r->data + ci.offset + 64);
            assert_true(p >= lo && p + a->size <= hi);
            assert_int_equal((p - lo) % 64, 0);
            if (aligned) assert_int_equal((uintptr_t)p % 64, 0);
            assert_true(a->size == 0 || memcmp(p, a->data, a->size) == 0);
        } else {
            EXPECT_R(r, raiiaf_reader_tensor_data(r, k, &zc), RAIIAF_E_CODEC);
            EXPECT_MSG(raiiaf_reader_errmsg(r), a->name);
            assert_null(zc);
        }
    }
    size_t idx;
    EXPECT_R(r, raiiaf_reader_find_tensor(r, "no such tensor", &idx), RAIIAF_E_NOT_FOUND);
    raiiaf_tensor_info ti;
    EXPECT_R(r, raiiaf_reader_tensor_info(r, nadd, &ti), RAIIAF_E_NOT_FOUND);
    EXPECT_R(r, raiiaf_reader_image(r, NULL, NULL, NULL, NULL, NULL), RAIIAF_E_NOT_FOUND);
}

static unsigned matrix_cases;

static void matrix_for(raiiaf_dtype dt, const char *dir, uint64_t *rng)
{
    char fname[64];
    snprintf(fname, sizeof fname, "m-%s.raiiaf", raiiaf_dtype_name(dt));
    char *path = tu_path(dir, fname);
    raiiaf_writer *w = writer_or_fail(path);
    added_t add[NSHAPES * NCODECS];
    size_t nadd = 0;
    size_t es = raiiaf_dtype_size(dt);
    for (size_t s = 0; s < NSHAPES; s++)
        for (size_t c = 0; c < NCODECS; c++) {
            added_t *a = &add[nadd];
            snprintf(a->name, sizeof a->name, "s%zu-%s", s, raiiaf_codec_name(codecs[c]));
            a->asked = codecs[c];
            a->shape = &shapes[s];
            a->size = (size_t)count_of(&shapes[s]) * es;
            a->data = malloc(a->size + 1);
            fill_random(dt, a->data, count_of(&shapes[s]), rng);
            int want = RAIIAF_OK;
            if (codecs[c] == RAIIAF_CODEC_ZFP) {
                int ok = zfp_expected(dt, &shapes[s]);
                assert_int_equal(!!rf_zfp_supported(dt, shapes[s].rank, shapes[s].shape), ok);
                if (!ok) want = RAIIAF_E_CODEC;
            }
            EXPECT_W(w, raiiaf_writer_add_tensor(w, a->name, dt, shapes[s].rank, shapes[s].shape, a->data, a->size, codecs[c], 0), want);
            if (want == RAIIAF_OK) {
                nadd++;
                matrix_cases++;
            } else {
                EXPECT_MSG(raiiaf_writer_errmsg(w), "zfp");
                free(a->data);
            }
        }
    finish_or_fail(w);

    raiiaf_reader *r = open_file_or_fail(path, 0);
    check_reader(r, dt, add, nadd, 1);
    verify_ok(r);
    raiiaf_reader_free(r);

    size_t n;
    unsigned char *bytes = tu_read_file(path, &n);
    unsigned char *mem = aligned_copy(bytes, n);
    r = open_mem_or_fail(mem, n, 0);
    assert_int_equal(raiiaf_reader_file_size(r), n);
    check_reader(r, dt, add, nadd, 1);
    verify_ok(r);
    raiiaf_reader_free(r);
    r = open_mem_or_fail(mem, n, RAIIAF_READ_NO_DIGEST);
    check_reader(r, dt, add, nadd, 1);
    raiiaf_reader_free(r);
    /* The buffer is only borrowed: the reader never wrote to it. */
    assert_memory_equal(mem, bytes, n);
    free(mem);
    free(bytes);
    for (size_t k = 0; k < nadd; k++) free(add[k].data);
    free(path);
}

static void test_matrix(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    uint64_t rng = 12345;
    for (int d = RAIIAF_F16; d <= RAIIAF_BOOL; d++) matrix_for((raiiaf_dtype)d, dir, &rng);
    /* 13 dtypes x 15 shapes x 4 codecs, less the zfp combinations refused. */
    print_message("matrix: %u tensors round-tripped\n", matrix_cases);
    assert_true(matrix_cases > 13 * NSHAPES * 3);
    rm_tree(dir);
}

/* ---- streaming ---------------------------------------------------------- */

static void test_streaming(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *pa = tu_path(dir, "whole.raiiaf"), *pb = tu_path(dir, "pieces.raiiaf");
    uint64_t rng = 777;
    static const uint64_t shape[3] = {3, 37, 11};
    const size_t count = 3 * 37 * 11;
    static const raiiaf_dtype dts[] = {RAIIAF_F32, RAIIAF_U8, RAIIAF_F64, RAIIAF_I16};
    unsigned char *data[4][4];
    raiiaf_writer *wa = writer_or_fail(pa), *wb = writer_or_fail(pb);
    for (int d = 0; d < 4; d++)
        for (int c = 0; c < NCODECS; c++) {
            raiiaf_codec codec = codecs[c];
            if (codec == RAIIAF_CODEC_ZFP && !zfp_expected(dts[d], &(shape_t){3, {3, 37, 11}})) codec = RAIIAF_CODEC_ZSTD;
            size_t size = count * raiiaf_dtype_size(dts[d]);
            unsigned char *p = data[d][c] = malloc(size);
            /* smooth-ish data so zstd and zfp have something to do */
            for (size_t i = 0; i < size; i++) p[i] = (unsigned char)((i % 7 == 0) ? tu_rand(&rng) : i / 97);
            char name[32];
            snprintf(name, sizeof name, "%s-%d", raiiaf_dtype_name(dts[d]), c);
            EXPECT_W(wa, raiiaf_writer_add_tensor(wa, name, dts[d], 3, shape, p, size, codec, 0), RAIIAF_OK);
            EXPECT_W(wb, raiiaf_writer_begin_tensor(wb, name, dts[d], 3, shape, codec, 0), RAIIAF_OK);
            /* Another call while a tensor is open is out of sequence. */
            EXPECT_W(wb, raiiaf_writer_set_string(wb, "/raiiaf_metadata/model_info/prompt", "x"), RAIIAF_E_STATE);
            EXPECT_MSG(raiiaf_writer_errmsg(wb), "still open");
            EXPECT_W(wb, raiiaf_writer_begin_tensor(wb, "other", dts[d], 3, shape, codec, 0), RAIIAF_E_STATE);
            EXPECT_W(wb, raiiaf_writer_finish(wb), RAIIAF_E_STATE);
            static const size_t pieces[] = {1, 0, 7, 13, 61, 127, 3, 509, 2};
            size_t off = 0, k = 0;
            while (off < size) {
                size_t n = pieces[k++ % 9];
                if (n > size - off) n = size - off;
                EXPECT_W(wb, raiiaf_writer_write_tensor(wb, p + off, n), RAIIAF_OK);
                off += n;
                if (off == size / 2) {
                    /* Ending early is refused and leaves the tensor open. */
                    EXPECT_W(wb, raiiaf_writer_end_tensor(wb), RAIIAF_E_BUFFER);
                    EXPECT_MSG(raiiaf_writer_errmsg(wb), name);
                }
            }
            /* One byte too many is refused without harm. */
            EXPECT_W(wb, raiiaf_writer_write_tensor(wb, p, 1), RAIIAF_E_BUFFER);
            EXPECT_W(wb, raiiaf_writer_end_tensor(wb), RAIIAF_OK);
        }
    EXPECT_W(wb, raiiaf_writer_write_tensor(wb, "x", 1), RAIIAF_E_STATE);
    EXPECT_W(wb, raiiaf_writer_end_tensor(wb), RAIIAF_E_STATE);
    finish_or_fail(wa);
    finish_or_fail(wb);

    size_t na, nb;
    unsigned char *a = tu_read_file(pa, &na), *b = tu_read_file(pb, &nb);
    raiiaf_reader *ra = open_mem_or_fail(a, na, 0), *rb = open_mem_or_fail(b, nb, 0);
    /* Everything before the manifest (which holds the time) is identical. */
    assert_int_equal(ra->manifest_off, rb->manifest_off);
    assert_memory_equal(a, b, (size_t)ra->manifest_off);
    verify_ok(rb);
    for (int d = 0; d < 4; d++)
        for (int c = 0; c < NCODECS; c++) {
            size_t size = count * raiiaf_dtype_size(dts[d]);
            unsigned char *got = malloc(size);
            EXPECT_R(rb, raiiaf_reader_read_tensor(rb, (size_t)(d * NCODECS + c), got, size), RAIIAF_OK);
            assert_memory_equal(got, data[d][c], size);
            free(got);
            free(data[d][c]);
        }
    raiiaf_reader_free(ra);
    raiiaf_reader_free(rb);
    free(a);
    free(b);
    free(pa);
    free(pb);
    rm_tree(dir);
}

/* ---- zfp ----------------------------------------------------------------- */

static void test_zfp_lossy(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *path = tu_path(dir, "zfp.raiiaf");
    static const uint64_t shape[4] = {1, 4, 32, 32};
    const size_t count = 4 * 32 * 32;
    float *f = malloc(count * sizeof *f);
    double *g = malloc(count * sizeof *g);
    for (size_t i = 0; i < count; i++) {
        size_t c = i / 1024, y = (i / 32) % 32, x = i % 32;
        f[i] = (float)(sin(0.21 * x) * cos(0.13 * y) + 0.3 * (double)c);
        g[i] = 100.0 * sin(0.05 * (double)(x + y)) + (double)c;
    }
    const double tol = 1e-3;
    raiiaf_writer *w = writer_or_fail(path);
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "f32", RAIIAF_F32, 4, shape, f, count * 4, RAIIAF_CODEC_ZFP, tol), RAIIAF_OK);
    /* A tolerance with AUTO means zfp too. */
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "f32auto", RAIIAF_F32, 4, shape, f, count * 4, RAIIAF_CODEC_AUTO, tol), RAIIAF_OK);
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "f64", RAIIAF_F64, 4, shape, g, count * 8, RAIIAF_CODEC_ZFP, tol), RAIIAF_OK);
    /* Refusals, each leaving the writer usable. */
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "h", RAIIAF_F16, 4, shape, f, count * 2, RAIIAF_CODEC_ZFP, 0), RAIIAF_E_CODEC);
    EXPECT_MSG(raiiaf_writer_errmsg(w), "float16");
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "h", RAIIAF_F16, 4, shape, f, count * 2, RAIIAF_CODEC_AUTO, tol), RAIIAF_E_CODEC);
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "i", RAIIAF_I32, 4, shape, f, count * 4, RAIIAF_CODEC_ZFP, tol), RAIIAF_E_CODEC);
    EXPECT_MSG(raiiaf_writer_errmsg(w), "int32");
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "r", RAIIAF_F32, 4, shape, f, count * 4, RAIIAF_CODEC_RAW, tol), RAIIAF_E_ARG);
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "z", RAIIAF_F32, 4, shape, f, count * 4, RAIIAF_CODEC_ZSTD, tol), RAIIAF_E_ARG);
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "n", RAIIAF_F32, 4, shape, f, count * 4, RAIIAF_CODEC_ZFP, -1), RAIIAF_E_ARG);
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "n", RAIIAF_F32, 4, shape, f, count * 4, RAIIAF_CODEC_ZFP, NAN), RAIIAF_E_ARG);
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "n", RAIIAF_F32, 4, shape, f, count * 4, RAIIAF_CODEC_ZFP, INFINITY), RAIIAF_E_ARG);
    /* Fixed accuracy cannot code NaN: refused when the data arrives, and
     * (nothing having reached the file) the writer carries on. */
    float keep = f[5];
    f[5] = NAN;
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "nan", RAIIAF_F32, 4, shape, f, count * 4, RAIIAF_CODEC_ZFP, tol), RAIIAF_E_CODEC);
    EXPECT_MSG(raiiaf_writer_errmsg(w), "NaN");
    f[5] = keep;
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "nan", RAIIAF_F32, 4, shape, f, count * 4, RAIIAF_CODEC_ZSTD, 0), RAIIAF_OK);
    finish_or_fail(w);

    raiiaf_reader *r = open_file_or_fail(path, 0);
    assert_int_equal(raiiaf_reader_tensor_count(r), 4);
    for (size_t t = 0; t < 3; t++) {
        raiiaf_tensor_info ti;
        EXPECT_R(r, raiiaf_reader_tensor_info(r, t, &ti), RAIIAF_OK);
        assert_int_equal(ti.codec, RAIIAF_CODEC_ZFP);
        assert_true(ti.tolerance == tol);
        assert_true(ti.stored_size < ti.raw_size / 2);
        size_t es = t == 2 ? 8 : 4;
        assert_int_equal(ti.raw_size, count * es);
        void *got = malloc(count * es);
        EXPECT_R(r, raiiaf_reader_read_tensor(r, t, got, count * es), RAIIAF_OK);
        double maxerr = 0;
        for (size_t i = 0; i < count; i++) {
            double want = es == 4 ? f[i] : g[i], have = es == 4 ? ((float *)got)[i] : ((double *)got)[i];
            double e = fabs(want - have);
            if (!(e <= tol)) fail_msg("%s[%zu]: error %g exceeds tolerance %g", ti.name, i, e, tol);
            if (e > maxerr) maxerr = e;
        }
        /* The recorded max_error is the one measured: exactly what we see. */
        if (ti.max_error != maxerr) fail_msg("%s: recorded max_error %.17g, measured %.17g", ti.name, ti.max_error, maxerr);
        assert_true(maxerr > 0);
        free(got);
        EXPECT_R(r, raiiaf_reader_tensor_data(r, t, &(const void *){NULL}), RAIIAF_E_CODEC);
    }
    /* The manifest records the mode as well. */
    json_t *m = json_loads(raiiaf_reader_manifest(r, NULL), 0, NULL);
    json_t *t0 = json_array_get(json_object_get(json_object_get(m, "raiiaf_metadata"), "tensors"), 0);
    assert_string_equal(json_string_value(json_object_get(t0, "zfp_mode")), "fixed_accuracy");
    assert_true(json_real_value(json_object_get(t0, "tolerance")) == tol);
    json_decref(m);
    verify_ok(r);
    raiiaf_reader_free(r);
    free(f);
    free(g);
    free(path);
    rm_tree(dir);
}

/* ---- auto's size bound --------------------------------------------------- */

static void test_auto_sizes(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *path = tu_path(dir, "auto.raiiaf");
    uint64_t rng = 99;
    static const raiiaf_dtype dts[] = {RAIIAF_U8, RAIIAF_F16, RAIIAF_F32, RAIIAF_F64};
    static const uint64_t small[1] = {4096};
    unsigned char *rnd = malloc(4096 * 8);
    for (size_t i = 0; i < 4096 * 8; i++) rnd[i] = (unsigned char)(tu_rand(&rng) >> 56);
    static const uint64_t lat[4] = {1, 4, 128, 128};
    const size_t lcount = 4 * 128 * 128;
    float *noise = malloc(lcount * sizeof *noise);
    for (size_t i = 0; i < lcount; i++) noise[i] = tu_randn(&rng);

    raiiaf_writer *w = writer_or_fail(path);
    for (int d = 0; d < 4; d++) {
        char name[32];
        snprintf(name, sizeof name, "rand-%s", raiiaf_dtype_name(dts[d]));
        EXPECT_W(w, raiiaf_writer_add_tensor(w, name, dts[d], 1, small, rnd, 4096 * raiiaf_dtype_size(dts[d]), RAIIAF_CODEC_AUTO, 0), RAIIAF_OK);
        snprintf(name, sizeof name, "zstd-%s", raiiaf_dtype_name(dts[d]));
        EXPECT_W(w, raiiaf_writer_add_tensor(w, name, dts[d], 1, small, rnd, 4096 * raiiaf_dtype_size(dts[d]), RAIIAF_CODEC_ZSTD, 0), RAIIAF_OK);
    }
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "noise", RAIIAF_F32, 4, lat, noise, lcount * 4, RAIIAF_CODEC_AUTO, 0), RAIIAF_OK);
    finish_or_fail(w);

    raiiaf_reader *r = open_file_or_fail(path, 0);
    for (size_t t = 0; t < 8; t++) {
        raiiaf_tensor_info ti;
        EXPECT_R(r, raiiaf_reader_tensor_info(r, t, &ti), RAIIAF_OK);
        /* the documented bound: raw + the byte-plane prefix (8 + 16 x 8 = 136) */
        assert_true(ti.stored_size <= ti.raw_size + 136);
        if (t % 2 == 0) {
            /* auto: incompressible data is kept raw, never larger */
            assert_int_equal(ti.codec, RAIIAF_CODEC_RAW);
            assert_int_equal(ti.stored_size, ti.raw_size);
        } else {
            assert_int_equal(ti.codec, RAIIAF_CODEC_ZSTD);
            assert_true(ti.stored_size <= ti.raw_size + RF_PLANES_PREFIX(raiiaf_dtype_size(ti.dtype)));
        }
    }
    raiiaf_tensor_info ti;
    EXPECT_R(r, raiiaf_reader_tensor_info(r, 8, &ti), RAIIAF_OK);
    assert_int_equal(ti.codec, RAIIAF_CODEC_ZSTD);
    double ratio = (double)ti.stored_size / (double)ti.raw_size;
    print_message("f32 gaussian (1,4,128,128) auto: %.4f of raw\n", ratio);
    if (ratio > 0.86) fail_msg("f32 noise stored at %.4f of raw, promised <= 0.86", ratio);
    float *got = malloc(lcount * 4);
    EXPECT_R(r, raiiaf_reader_read_tensor(r, 8, got, lcount * 4), RAIIAF_OK);
    assert_memory_equal(got, noise, lcount * 4);
    free(got);
    verify_ok(r);
    raiiaf_reader_free(r);
    free(rnd);
    free(noise);
    free(path);
    rm_tree(dir);
}

/* ---- images, unknown chunks, manifest fields ----------------------------- */

static void test_images(void **state)
{
    (void)state;
    static const struct { const char *file, *format; } imgs[] = {
        {"sd-webui.png", "png"}, {"sd-webui.jpg", "jpeg"}, {"sd-webui.webp", "webp"}};
    char *dir = tu_tempdir();
    for (int i = 0; i < 3; i++) {
        size_t n;
        unsigned char *img = tu_read_data(imgs[i].file, &n);
        char *path = tu_path(dir, "img.raiiaf");
        raiiaf_writer *w = writer_or_fail(path);
        EXPECT_W(w, raiiaf_writer_set_env(w, RAIIAF_ENV_NONE), RAIIAF_OK); /* the image is chunk 0 of 1 */
        EXPECT_W(w, raiiaf_writer_add_image(w, img, n), RAIIAF_OK);
        EXPECT_W(w, raiiaf_writer_add_image(w, img, n), RAIIAF_E_STATE);
        EXPECT_MSG(raiiaf_writer_errmsg(w), "already holds an image");
        finish_or_fail(w);
        for (int how = 0; how < 2; how++) {
            size_t fn = 0;
            unsigned char *file = NULL;
            raiiaf_reader *r;
            if (how == 0) {
                r = open_file_or_fail(path, 0);
            } else {
                file = tu_read_file(path, &fn);
                r = open_mem_or_fail(file, fn, 0);
            }
            const void *data = NULL;
            size_t size = 0;
            const char *format = NULL;
            uint32_t wd = 0, ht = 0;
            EXPECT_R(r, raiiaf_reader_image(r, &data, &size, &format, &wd, &ht), RAIIAF_OK);
            assert_int_equal(size, n);
            assert_memory_equal(data, img, n);
            assert_string_equal(format, imgs[i].format);
            assert_int_equal(wd, 1024);
            assert_int_equal(ht, 1024);
            assert_true((const unsigned char *)data >= r->data && (const unsigned char *)data + size <= r->data + r->size);
            EXPECT_R(r, raiiaf_reader_image(r, NULL, NULL, NULL, NULL, NULL), RAIIAF_OK);
            assert_int_equal(raiiaf_reader_chunk_count(r), 1);
            raiiaf_chunk_info ci;
            EXPECT_R(r, raiiaf_reader_chunk_info(r, 0, &ci), RAIIAF_OK);
            assert_string_equal(ci.type, "IMAG");
            assert_int_equal(ci.offset, 64);
            assert_int_equal(ci.stored_size, n);
            json_t *m = json_loads(raiiaf_reader_manifest(r, NULL), 0, NULL);
            json_t *im = json_object_get(json_object_get(m, "raiiaf_metadata"), "image");
            assert_string_equal(json_string_value(json_object_get(im, "format")), imgs[i].format);
            assert_int_equal(json_integer_value(json_object_get(im, "size")), n);
            json_decref(m);
            if (how == 1) verify_ok(r);
            raiiaf_reader_free(r);
            free(file);
        }
        free(path);
        free(img);
    }
    rm_tree(dir);
}

static void test_unknown_chunk(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *path = tu_path(dir, "x.raiiaf");
    uint64_t rng = 5;
    unsigned char extra[1001];
    for (size_t i = 0; i < sizeof extra; i++) extra[i] = (unsigned char)tu_rand(&rng);
    static const uint64_t shape[1] = {3};
    const uint8_t t[3] = {1, 2, 3};
    raiiaf_writer *w = writer_or_fail(path);
    EXPECT_W(w, raiiaf_writer_set_env(w, RAIIAF_ENV_NONE), RAIIAF_OK); /* exactly the chunks added here */
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "t", RAIIAF_U8, 1, shape, t, 3, RAIIAF_CODEC_RAW, 0), RAIIAF_OK);
    EXPECT_W(w, raiiaf_writer_add_chunk(w, "XTRA", extra, sizeof extra), RAIIAF_OK);
    EXPECT_W(w, raiiaf_writer_add_chunk(w, "x y~", NULL, 0), RAIIAF_OK);
    EXPECT_W(w, raiiaf_writer_add_chunk(w, "TENS", extra, 4), RAIIAF_E_ARG);
    EXPECT_W(w, raiiaf_writer_add_chunk(w, "IMAG", extra, 4), RAIIAF_E_ARG);
    EXPECT_W(w, raiiaf_writer_add_chunk(w, "MANI", extra, 4), RAIIAF_E_ARG);
    EXPECT_W(w, raiiaf_writer_add_chunk(w, "AB\nC", extra, 4), RAIIAF_E_ARG);
    EXPECT_W(w, raiiaf_writer_add_chunk(w, "ABC\x80", extra, 4), RAIIAF_E_ARG);
    EXPECT_W(w, raiiaf_writer_add_chunk(w, NULL, extra, 4), RAIIAF_E_ARG);
    EXPECT_W(w, raiiaf_writer_add_chunk(w, "ABCD", NULL, 4), RAIIAF_E_ARG);
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "u", RAIIAF_U8, 1, shape, t, 3, RAIIAF_CODEC_ZSTD, 0), RAIIAF_OK);
    finish_or_fail(w);

    size_t n;
    unsigned char *file = tu_read_file(path, &n);
    raiiaf_reader *r = open_mem_or_fail(file, n, 0);
    assert_int_equal(raiiaf_reader_chunk_count(r), 4);
    assert_int_equal(raiiaf_reader_tensor_count(r), 2);
    raiiaf_chunk_info ci;
    EXPECT_R(r, raiiaf_reader_chunk_info(r, 1, &ci), RAIIAF_OK);
    assert_string_equal(ci.type, "XTRA");
    assert_int_equal(ci.index, 1);
    assert_int_equal(ci.codec, RAIIAF_CODEC_RAW);
    assert_int_equal(ci.stored_size, sizeof extra);
    assert_int_equal(ci.raw_size, sizeof extra);
    assert_int_equal(ci.offset % 64, 0);
    assert_memory_equal(file + ci.offset, "XTRA", 4);
    assert_memory_equal(file + ci.offset + 64, extra, sizeof extra);
    EXPECT_R(r, raiiaf_reader_chunk_info(r, 2, &ci), RAIIAF_OK);
    assert_string_equal(ci.type, "x y~");
    assert_int_equal(ci.stored_size, 0);
    EXPECT_R(r, raiiaf_reader_chunk_info(r, 4, &ci), RAIIAF_E_NOT_FOUND);
    uint8_t got[3];
    EXPECT_R(r, raiiaf_reader_read_tensor(r, 1, got, 3), RAIIAF_OK);
    assert_memory_equal(got, t, 3);
    verify_ok(r);
    raiiaf_reader_free(r);
    free(file);
    free(path);
    rm_tree(dir);
}

static void test_manifest_fields(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *path = tu_path(dir, "m.raiiaf");
    raiiaf_writer *w = writer_or_fail(path);
    EXPECT_W(w, raiiaf_writer_set_env(w, RAIIAF_ENV_NONE), RAIIAF_OK); /* no chunks at all */
    const char *prompt = "a \"quoted\" prompt \xe2\x98\x83 with\nnewline \\ and tab\t";
    EXPECT_W(w, raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/model_name", "sdxl-base"), RAIIAF_OK);
    EXPECT_W(w, raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/prompt", prompt), RAIIAF_OK);
    EXPECT_W(w, raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/date", "2024-05-01T12:30:00Z"), RAIIAF_OK);
    EXPECT_W(w, raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/generation_settings/steps", "30"), RAIIAF_OK);
    EXPECT_W(w, raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/generation_settings/cfg_scale", "7.5"), RAIIAF_OK);
    EXPECT_W(w, raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/tags", "[\"a\", \"b\"]"), RAIIAF_OK);
    EXPECT_W(w, raiiaf_writer_set_json(w, "/raiiaf_metadata/extensions/org.example~1tool", "{\"k\": [1, null, true]}"), RAIIAF_OK);
    EXPECT_W(w, raiiaf_writer_merge_json(w,
                 "{\"raiiaf_metadata\": {\"model_info\": {\"generation_settings\": {\"seed\": 42, \"future_setting\": \"x\"},"
                 " \"future_field\": {\"nested\": [1, 2.5, null]}}, \"future_section\": {\"y\": 1}},"
                 " \"top_level_future\": \"keep me\"}"),
             RAIIAF_OK);
    finish_or_fail(w);

    raiiaf_reader *r = open_file_or_fail(path, 0);
    size_t len = 0;
    const char *text = raiiaf_reader_manifest(r, &len);
    assert_int_equal(strlen(text), len);
    json_error_t je;
    json_t *m = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!m) fail_msg("manifest is not JSON: %s", je.text);
    json_t *meta = json_object_get(m, "raiiaf_metadata");
    json_t *mi = json_object_get(meta, "model_info");
    json_t *gs = json_object_get(mi, "generation_settings");
    assert_string_equal(json_string_value(json_object_get(mi, "model_name")), "sdxl-base");
    assert_string_equal(json_string_value(json_object_get(mi, "prompt")), prompt);
    assert_string_equal(json_string_value(json_object_get(mi, "date")), "2024-05-01T12:30:00Z");
    assert_int_equal(json_integer_value(json_object_get(gs, "steps")), 30);
    assert_true(json_real_value(json_object_get(gs, "cfg_scale")) == 7.5);
    assert_int_equal(json_integer_value(json_object_get(gs, "seed")), 42);
    assert_string_equal(json_string_value(json_object_get(gs, "future_setting")), "x");
    assert_int_equal(json_array_size(json_object_get(mi, "tags")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(mi, "tags"), 1)), "b");
    json_t *ext = json_object_get(json_object_get(meta, "extensions"), "org.example/tool");
    assert_non_null(ext);
    assert_true(json_is_true(json_array_get(json_object_get(ext, "k"), 2)));
    json_t *ff = json_object_get(json_object_get(mi, "future_field"), "nested");
    assert_true(json_real_value(json_array_get(ff, 1)) == 2.5);
    assert_true(json_is_null(json_array_get(ff, 2)));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(meta, "future_section"), "y")), 1);
    assert_string_equal(json_string_value(json_object_get(m, "top_level_future")), "keep me");
    /* What the library fills. */
    json_t *fi = json_object_get(meta, "file_info");
    assert_string_equal(json_string_value(json_object_get(fi, "magic")), "raiiaf");
    assert_int_equal(json_integer_value(json_object_get(fi, "version_major")), 2);
    assert_int_equal(json_integer_value(json_object_get(fi, "chunk_count")), 0);
    assert_string_equal(json_string_value(json_object_get(fi, "writer")), "libraiiaf " RAIIAF_VERSION_STRING);
    const char *created = json_string_value(json_object_get(fi, "created"));
    assert_non_null(created);
    assert_int_equal(strlen(created), 20);
    assert_int_equal(created[19], 'Z');
    assert_int_equal(json_array_size(json_object_get(meta, "tensors")), 0);
    assert_int_equal(json_array_size(json_object_get(meta, "chunks")), 0);
    json_decref(m);
    assert_int_equal(raiiaf_validate_manifest(text, len, NULL, 0), RAIIAF_OK);
    verify_ok(r);
    raiiaf_reader_free(r);

    /* Without any metadata the writer still records a valid generation date. */
    w = writer_or_fail(path);
    finish_or_fail(w);
    r = open_file_or_fail(path, 0);
    m = json_loads(raiiaf_reader_manifest(r, NULL), 0, NULL);
    const char *date = json_string_value(json_object_get(json_object_get(json_object_get(m, "raiiaf_metadata"), "model_info"), "date"));
    assert_non_null(date);
    assert_int_equal(strlen(date), 20);
    json_decref(m);
    verify_ok(r);
    raiiaf_reader_free(r);
    free(path);
    rm_tree(dir);
}

/* ---- the destination is replaced whole or not at all ---------------------- */

/* Whether the folder takes unnamed files (O_TMPFILE), which the writer uses
 * for its temporary file: then no name appears until the file is done. */
static int has_o_tmpfile(const char *dir)
{
#ifdef O_TMPFILE
    int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) return 0;
    close(fd);
    return 1;
#else
    (void)dir;
    return 0;
#endif
}

static void test_atomic(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *path = tu_path(dir, "out.raiiaf");
    static const char old[] = "previous content, must survive";
    tu_write_file(path, old, sizeof old);
    static const uint64_t shape[2] = {16, 16};
    float data[256];
    for (int i = 0; i < 256; i++) data[i] = (float)i;
    size_t wn;
    unsigned char *webp = tu_read_data("sd-webui.webp", &wn);

    /* 1. abandoned: freed without finish */
    raiiaf_writer *w = writer_or_fail(path);
    EXPECT_W(w, raiiaf_writer_add_image(w, webp, wn), RAIIAF_OK);
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "t", RAIIAF_F32, 2, shape, data, sizeof data, RAIIAF_CODEC_RAW, 0), RAIIAF_OK);
    char *ls = list_dir(dir);
    /* the data went to a temporary file beside the destination: an unnamed
     * one where the file system can (nothing to leave behind on a crash) */
    int unnamed = has_o_tmpfile(dir);
    assert_int_equal(count_entries(ls), unnamed ? 1 : 2);
    assert_memory_equal(ls, unnamed ? "out.raiiaf" : "out.raiiaf|", unnamed ? 10 : 11);
    free(ls);
    raiiaf_writer_free(w);
    size_t n;
    unsigned char *now = tu_read_file(path, &n);
    assert_int_equal(n, sizeof old);
    assert_memory_equal(now, old, n);
    free(now);
    ls = list_dir(dir);
    assert_string_equal(ls, "out.raiiaf");
    free(ls);

    /* 2. finish failed (schema), then freed */
    w = writer_or_fail(path);
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "t", RAIIAF_F32, 2, shape, data, sizeof data, RAIIAF_CODEC_ZSTD, 0), RAIIAF_OK);
    EXPECT_W(w, raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/generation_settings/steps", "0"), RAIIAF_OK);
    EXPECT_W(w, raiiaf_writer_finish(w), RAIIAF_E_SCHEMA);
    raiiaf_writer_free(w);
    now = tu_read_file(path, &n);
    assert_int_equal(n, sizeof old);
    assert_memory_equal(now, old, n);
    free(now);
    ls = list_dir(dir);
    assert_string_equal(ls, "out.raiiaf");
    free(ls);

    /* 3. a failed add leaves nothing behind either */
    w = writer_or_fail(path);
    EXPECT_W(w, raiiaf_writer_add_image(w, "not an image", 12), RAIIAF_E_IMAGE);
    raiiaf_writer_free(w);
    ls = list_dir(dir);
    assert_string_equal(ls, "out.raiiaf");
    free(ls);

    /* 4. success replaces it; no temporary file remains */
    w = writer_or_fail(path);
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "t", RAIIAF_F32, 2, shape, data, sizeof data, RAIIAF_CODEC_RAW, 0), RAIIAF_OK);
    finish_or_fail(w);
    ls = list_dir(dir);
    assert_string_equal(ls, "out.raiiaf");
    free(ls);
    raiiaf_reader *r = open_file_or_fail(path, 0);
    verify_ok(r);
    raiiaf_reader_free(r);

    /* 5. two writers to the same path use distinct temporary files */
    raiiaf_writer *w1 = writer_or_fail(path), *w2 = writer_or_fail(path);
    ls = list_dir(dir);
    assert_int_equal(count_entries(ls), unnamed ? 1 : 3);
    free(ls);
    raiiaf_writer_free(w1);
    raiiaf_writer_free(w2);
    ls = list_dir(dir);
    assert_string_equal(ls, "out.raiiaf");
    free(ls);

    free(webp);
    free(path);
    rm_tree(dir);
}

/* ---- API misuse ----------------------------------------------------------- */

static void test_writer_misuse(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *path = tu_path(dir, "w.raiiaf");
    static const uint64_t shape[2] = {2, 3};
    const float data[6] = {1, 2, 3, 4, 5, 6};
    raiiaf_writer *w = writer_or_fail(path);

    EXPECT_W(w, raiiaf_writer_add_tensor(w, "a", RAIIAF_F32, 2, shape, data, sizeof data, RAIIAF_CODEC_RAW, 0), RAIIAF_OK);
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "a", RAIIAF_F32, 2, shape, data, sizeof data, RAIIAF_CODEC_ZSTD, 0), RAIIAF_E_EXISTS);
    EXPECT_MSG(raiiaf_writer_errmsg(w), "\"a\"");
    /* wrong sizes, with every codec; the writer stays usable after each */
    for (int c = 0; c < NCODECS; c++) {
        EXPECT_W(w, raiiaf_writer_add_tensor(w, "b", RAIIAF_F32, 2, shape, data, sizeof data - 4, codecs[c], 0), RAIIAF_E_BUFFER);
        EXPECT_MSG(raiiaf_writer_errmsg(w), "20 bytes given");
        EXPECT_W(w, raiiaf_writer_add_tensor(w, "b", RAIIAF_F32, 2, shape, data, sizeof data + 4, codecs[c], 0), RAIIAF_E_BUFFER);
    }
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "b", RAIIAF_F32, 2, shape, data, sizeof data, RAIIAF_CODEC_RAW, 0), RAIIAF_OK);
    /* arguments */
    static const uint64_t shape9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "r9", RAIIAF_F32, 9, shape9, data, 4, RAIIAF_CODEC_RAW, 0), RAIIAF_E_ARG);
    EXPECT_MSG(raiiaf_writer_errmsg(w), "rank 9");
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "", RAIIAF_F32, 2, shape, data, sizeof data, RAIIAF_CODEC_RAW, 0), RAIIAF_E_ARG);
    EXPECT_W(w, raiiaf_writer_add_tensor(w, NULL, RAIIAF_F32, 2, shape, data, sizeof data, RAIIAF_CODEC_RAW, 0), RAIIAF_E_ARG);
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "\xff\xfe", RAIIAF_F32, 2, shape, data, sizeof data, RAIIAF_CODEC_RAW, 0), RAIIAF_E_ARG);
    char longname[257];
    memset(longname, 'n', 256);
    longname[256] = 0;
    EXPECT_W(w, raiiaf_writer_add_tensor(w, longname, RAIIAF_F32, 2, shape, data, sizeof data, RAIIAF_CODEC_RAW, 0), RAIIAF_E_ARG);
    longname[255] = 0; /* 255 bytes is allowed */
    EXPECT_W(w, raiiaf_writer_add_tensor(w, longname, RAIIAF_F32, 2, shape, data, sizeof data, RAIIAF_CODEC_ZSTD, 0), RAIIAF_OK);
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "d", RAIIAF_DTYPE_INVALID, 2, shape, data, sizeof data, RAIIAF_CODEC_RAW, 0), RAIIAF_E_ARG);
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "d", (raiiaf_dtype)14, 2, shape, data, sizeof data, RAIIAF_CODEC_RAW, 0), RAIIAF_E_ARG);
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "d", RAIIAF_F32, 2, NULL, data, sizeof data, RAIIAF_CODEC_RAW, 0), RAIIAF_E_ARG);
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "d", RAIIAF_F32, 2, shape, NULL, sizeof data, RAIIAF_CODEC_RAW, 0), RAIIAF_E_ARG);
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "d", RAIIAF_F32, 2, shape, data, sizeof data, (raiiaf_codec)7, 0), RAIIAF_E_ARG);
    static const uint64_t huge[2] = {UINT64_C(1) << 20, UINT64_C(1) << 19}; /* 2^41 bytes of float32 */
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "d", RAIIAF_F32, 2, huge, data, sizeof data, RAIIAF_CODEC_RAW, 0), RAIIAF_E_LIMIT);
    static const uint64_t wrap[2] = {UINT64_C(1) << 62, 8};
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "d", RAIIAF_U8, 2, wrap, data, sizeof data, RAIIAF_CODEC_RAW, 0), RAIIAF_E_LIMIT);
    /* metadata */
    static const char *const owned[] = {"/raiiaf_metadata/file_info", "/raiiaf_metadata/file_info/created",
                                        "/raiiaf_metadata/chunks", "/raiiaf_metadata/tensors/0/name",
                                        "/raiiaf_metadata/image", "/raiiaf_metadata"};
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) {
        EXPECT_W(w, raiiaf_writer_set_json(w, owned[i], "{}"), RAIIAF_E_ARG);
        EXPECT_MSG(raiiaf_writer_errmsg(w), owned[i]);
        EXPECT_W(w, raiiaf_writer_set_string(w, owned[i], "x"), RAIIAF_E_ARG);
    }
    EXPECT_W(w, raiiaf_writer_merge_json(w, "{\"raiiaf_metadata\": {\"file_info\": {}}}"), RAIIAF_E_ARG);
    EXPECT_W(w, raiiaf_writer_merge_json(w, "{\"raiiaf_metadata\": {\"tensors\": []}}"), RAIIAF_E_ARG);
    EXPECT_W(w, raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/x", "{bad"), RAIIAF_E_JSON);
    EXPECT_MSG(raiiaf_writer_errmsg(w), "/raiiaf_metadata/model_info/x");
    EXPECT_W(w, raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/x", ""), RAIIAF_E_JSON);
    EXPECT_W(w, raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/x", "1 2"), RAIIAF_E_JSON);
    EXPECT_W(w, raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/x", "{\"a\":1,\"a\":2}"), RAIIAF_E_JSON);
    EXPECT_W(w, raiiaf_writer_merge_json(w, "{"), RAIIAF_E_JSON);
    EXPECT_W(w, raiiaf_writer_merge_json(w, "[1]"), RAIIAF_E_JSON);
    EXPECT_W(w, raiiaf_writer_set_json(w, "no/slash", "1"), RAIIAF_E_ARG);
    EXPECT_W(w, raiiaf_writer_set_json(w, NULL, "1"), RAIIAF_E_ARG);
    EXPECT_W(w, raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/x", "\xc3"), RAIIAF_E_ARG);
    /* images */
    EXPECT_W(w, raiiaf_writer_add_image(w, "hello, world", 12), RAIIAF_E_IMAGE);
    EXPECT_W(w, raiiaf_writer_add_image(w, NULL, 0), RAIIAF_E_IMAGE);
    size_t pn;
    unsigned char *png = tu_read_data("sd-webui.webp", &pn);
    EXPECT_W(w, raiiaf_writer_add_image(w, png, pn / 2), RAIIAF_E_IMAGE);
    EXPECT_W(w, raiiaf_writer_add_image(w, png, pn), RAIIAF_OK);
    EXPECT_W(w, raiiaf_writer_add_image(w, png, pn), RAIIAF_E_STATE);
    free(png);
    /* schema, checked at finish; the writer can be corrected and finished */
    EXPECT_W(w, raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/generation_settings/steps", "0"), RAIIAF_OK);
    EXPECT_W(w, raiiaf_writer_finish(w), RAIIAF_E_SCHEMA);
    EXPECT_MSG(raiiaf_writer_errmsg(w), "/raiiaf_metadata/model_info/generation_settings/steps");
    EXPECT_W(w, raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/generation_settings/steps", "25"), RAIIAF_OK);
    EXPECT_W(w, raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/date", "\"yesterday\""), RAIIAF_OK);
    EXPECT_W(w, raiiaf_writer_finish(w), RAIIAF_E_SCHEMA);
    EXPECT_MSG(raiiaf_writer_errmsg(w), "/raiiaf_metadata/model_info/date");
    EXPECT_W(w, raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/date", "2024-01-02T03:04:05Z"), RAIIAF_OK);
    EXPECT_W(w, raiiaf_writer_finish(w), RAIIAF_OK);
    assert_string_equal(raiiaf_writer_errmsg(w), "");
    /* after finish only free is valid */
    EXPECT_W(w, raiiaf_writer_finish(w), RAIIAF_E_STATE);
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "c", RAIIAF_F32, 2, shape, data, sizeof data, RAIIAF_CODEC_RAW, 0), RAIIAF_E_STATE);
    EXPECT_W(w, raiiaf_writer_begin_tensor(w, "c", RAIIAF_F32, 2, shape, RAIIAF_CODEC_RAW, 0), RAIIAF_E_STATE);
    EXPECT_W(w, raiiaf_writer_write_tensor(w, data, 4), RAIIAF_E_STATE);
    EXPECT_W(w, raiiaf_writer_end_tensor(w), RAIIAF_E_STATE);
    EXPECT_W(w, raiiaf_writer_add_image(w, "x", 1), RAIIAF_E_STATE);
    EXPECT_W(w, raiiaf_writer_add_chunk(w, "XTRA", "x", 1), RAIIAF_E_STATE);
    EXPECT_W(w, raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/x", "1"), RAIIAF_E_STATE);
    EXPECT_W(w, raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/x", "1"), RAIIAF_E_STATE);
    EXPECT_W(w, raiiaf_writer_merge_json(w, "{}"), RAIIAF_E_STATE);
    EXPECT_MSG(raiiaf_writer_errmsg(w), "already finished");
    raiiaf_writer_free(w);

    /* What was accepted is all in the file. */
    raiiaf_reader *r = open_file_or_fail(path, 0);
    assert_int_equal(raiiaf_reader_tensor_count(r), 3);
    size_t idx;
    EXPECT_R(r, raiiaf_reader_find_tensor(r, "b", &idx), RAIIAF_OK);
    float got[6];
    EXPECT_R(r, raiiaf_reader_read_tensor(r, idx, got, sizeof got), RAIIAF_OK);
    assert_memory_equal(got, data, sizeof data);
    EXPECT_R(r, raiiaf_reader_find_tensor(r, longname, &idx), RAIIAF_OK);
    EXPECT_R(r, raiiaf_reader_image(r, NULL, NULL, NULL, NULL, NULL), RAIIAF_OK);
    verify_ok(r);
    raiiaf_reader_free(r);

    /* a missing folder */
    char *missing = tu_path(dir, "no/such/dir/x.raiiaf");
    w = NULL;
    assert_int_equal(raiiaf_writer_new(missing, &w), RAIIAF_E_IO);
    assert_non_null(w);
    EXPECT_MSG(raiiaf_writer_errmsg(w), missing);
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "a", RAIIAF_F32, 2, shape, data, sizeof data, RAIIAF_CODEC_RAW, 0), RAIIAF_E_STATE);
    EXPECT_W(w, raiiaf_writer_finish(w), RAIIAF_E_STATE);
    raiiaf_writer_free(w);
    free(missing);
    w = NULL;
    assert_int_equal(raiiaf_writer_new("", &w), RAIIAF_E_ARG);
    raiiaf_writer_free(w);
    w = NULL;
    assert_int_equal(raiiaf_writer_new(NULL, &w), RAIIAF_E_ARG);
    raiiaf_writer_free(w);
    assert_int_equal(raiiaf_writer_new(path, NULL), RAIIAF_E_ARG);

    free(path);
    rm_tree(dir);
}

/* NULL handles and pointers everywhere. */
static void test_null_handles(void **state)
{
    (void)state;
    static const uint64_t shape[1] = {1};
    raiiaf_writer_free(NULL);
    raiiaf_reader_free(NULL);
    assert_non_null(raiiaf_writer_errmsg(NULL));
    assert_non_null(raiiaf_reader_errmsg(NULL));
    assert_int_equal(raiiaf_writer_add_image(NULL, "x", 1), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_writer_add_tensor(NULL, "a", RAIIAF_U8, 1, shape, "x", 1, RAIIAF_CODEC_RAW, 0), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_writer_begin_tensor(NULL, "a", RAIIAF_U8, 1, shape, RAIIAF_CODEC_RAW, 0), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_writer_write_tensor(NULL, "x", 1), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_writer_end_tensor(NULL), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_writer_add_chunk(NULL, "XTRA", "x", 1), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_writer_set_json(NULL, "/a", "1"), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_writer_set_string(NULL, "/a", "1"), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_writer_merge_json(NULL, "{}"), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_writer_finish(NULL), RAIIAF_E_ARG);
    raiiaf_tensor_info ti;
    raiiaf_chunk_info ci;
    size_t idx;
    const void *p;
    assert_int_equal(raiiaf_reader_tensor_count(NULL), 0);
    assert_int_equal(raiiaf_reader_chunk_count(NULL), 0);
    assert_int_equal(raiiaf_reader_file_size(NULL), 0);
    assert_null(raiiaf_reader_manifest(NULL, &idx));
    assert_int_equal(idx, 0);
    unsigned maj = 7, min = 7;
    raiiaf_reader_format(NULL, &maj, &min);
    assert_int_equal(maj, 0);
    assert_int_equal(raiiaf_reader_tensor_info(NULL, 0, &ti), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_reader_find_tensor(NULL, "a", &idx), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_reader_read_tensor(NULL, 0, NULL, 0), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_reader_tensor_data(NULL, 0, &p), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_reader_image(NULL, NULL, NULL, NULL, NULL, NULL), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_reader_chunk_info(NULL, 0, &ci), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_reader_verify(NULL, NULL, NULL), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_reader_open_file("x", 0, NULL), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_reader_open_memory("x", 1, 0, NULL), RAIIAF_E_ARG);

    /* A reader whose open failed keeps its message; access calls refuse. */
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_file("/nonexistent/dir/file.raiiaf", 0, &r), RAIIAF_E_IO);
    assert_non_null(r);
    EXPECT_MSG(raiiaf_reader_errmsg(r), "/nonexistent/dir/file.raiiaf");
    assert_int_equal(raiiaf_reader_tensor_count(r), 0);
    EXPECT_R(r, raiiaf_reader_tensor_info(r, 0, &ti), RAIIAF_E_STATE);
    EXPECT_R(r, raiiaf_reader_image(r, NULL, NULL, NULL, NULL, NULL), RAIIAF_E_STATE);
    raiiaf_reader_free(r);
    r = NULL;
    assert_int_equal(raiiaf_reader_open_memory(NULL, 5, 0, &r), RAIIAF_E_ARG);
    raiiaf_reader_free(r);
    r = NULL;
    assert_int_equal(raiiaf_reader_open_memory(NULL, 0, 0, &r), RAIIAF_E_NOT_RAIIAF);
    raiiaf_reader_free(r);
}

static void test_strerror_and_names(void **state)
{
    (void)state;
    const char *seen[RAIIAF_E_BUSY + 1];
    const char *unknown = raiiaf_strerror(RAIIAF_E_BUSY + 1);
    assert_string_equal(unknown, "unknown error");
    assert_string_equal(raiiaf_strerror(-1), "unknown error");
    assert_string_equal(raiiaf_strerror(1000), "unknown error");
    for (int c = RAIIAF_OK; c <= RAIIAF_E_BUSY; c++) {
        seen[c] = raiiaf_strerror(c);
        assert_non_null(seen[c]);
        assert_true(strlen(seen[c]) > 0);
        assert_string_not_equal(seen[c], unknown);
        for (int k = 0; k < c; k++)
            if (!strcmp(seen[k], seen[c])) fail_msg("codes %d and %d share the text \"%s\"", k, c, seen[c]);
    }
    assert_string_equal(raiiaf_version_string(), RAIIAF_VERSION_STRING);

    static const struct { raiiaf_dtype d; const char *name, *short_name; size_t size; } dt[] = {
        {RAIIAF_F16, "float16", "f16", 2}, {RAIIAF_BF16, "bfloat16", "bf16", 2}, {RAIIAF_F32, "float32", "f32", 4},
        {RAIIAF_F64, "float64", "f64", 8}, {RAIIAF_I8, "int8", "i8", 1},        {RAIIAF_U8, "uint8", "u8", 1},
        {RAIIAF_I16, "int16", "i16", 2},   {RAIIAF_U16, "uint16", "u16", 2},    {RAIIAF_I32, "int32", "i32", 4},
        {RAIIAF_U32, "uint32", "u32", 4},  {RAIIAF_I64, "int64", "i64", 8},     {RAIIAF_U64, "uint64", "u64", 8},
        {RAIIAF_BOOL, "bool", "bool", 1}};
    assert_int_equal(sizeof dt / sizeof dt[0], 13);
    for (size_t i = 0; i < 13; i++) {
        assert_string_equal(raiiaf_dtype_name(dt[i].d), dt[i].name);
        assert_int_equal(raiiaf_dtype_from_name(dt[i].name), dt[i].d);
        assert_int_equal(raiiaf_dtype_from_name(dt[i].short_name), dt[i].d);
        assert_int_equal(raiiaf_dtype_from_name(raiiaf_dtype_name(dt[i].d)), dt[i].d);
        assert_int_equal(raiiaf_dtype_size(dt[i].d), dt[i].size);
    }
    assert_null(raiiaf_dtype_name(RAIIAF_DTYPE_INVALID));
    assert_null(raiiaf_dtype_name((raiiaf_dtype)14));
    assert_null(raiiaf_dtype_name((raiiaf_dtype)-1));
    assert_int_equal(raiiaf_dtype_size(RAIIAF_DTYPE_INVALID), 0);
    assert_int_equal(raiiaf_dtype_size((raiiaf_dtype)99), 0);
    assert_int_equal(raiiaf_dtype_from_name("float33"), RAIIAF_DTYPE_INVALID);
    assert_int_equal(raiiaf_dtype_from_name("Float32"), RAIIAF_DTYPE_INVALID);
    assert_int_equal(raiiaf_dtype_from_name(""), RAIIAF_DTYPE_INVALID);
    assert_int_equal(raiiaf_dtype_from_name(NULL), RAIIAF_DTYPE_INVALID);

    static const raiiaf_codec all[] = {RAIIAF_CODEC_RAW, RAIIAF_CODEC_ZSTD, RAIIAF_CODEC_ZFP, RAIIAF_CODEC_RECIPE, RAIIAF_CODEC_AUTO};
    static const char *const names[] = {"raw", "zstd", "zfp", "recipe", "auto"};
    for (int i = 0; i < 5; i++) {
        assert_string_equal(raiiaf_codec_name(all[i]), names[i]);
        raiiaf_codec c = (raiiaf_codec)77;
        assert_int_equal(raiiaf_codec_from_name(names[i], &c), RAIIAF_OK);
        assert_int_equal(c, all[i]);
    }
    assert_null(raiiaf_codec_name((raiiaf_codec)4));
    raiiaf_codec c = RAIIAF_CODEC_ZFP;
    assert_int_equal(raiiaf_codec_from_name("lz4", &c), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_codec_from_name("RAW", &c), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_codec_from_name(NULL, &c), RAIIAF_E_ARG);
    assert_int_equal(c, RAIIAF_CODEC_ZFP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matrix),
        cmocka_unit_test(test_streaming),
        cmocka_unit_test(test_zfp_lossy),
        cmocka_unit_test(test_auto_sizes),
        cmocka_unit_test(test_images),
        cmocka_unit_test(test_unknown_chunk),
        cmocka_unit_test(test_manifest_fields),
        cmocka_unit_test(test_atomic),
        cmocka_unit_test(test_writer_misuse),
        cmocka_unit_test(test_null_handles),
        cmocka_unit_test(test_strerror_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
