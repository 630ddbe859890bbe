/* test_corrupt.c -- damaged and hostile files: every truncation, every bit
 * flip in the structures (and thousands in the payloads) is refused or
 * caught by verify, never read as wrong data; hand-built files that each
 * tell exactly one lie fail with the right code and a message naming where. */
#include "testutil.h"
#include "codec.h"
#include "format.h"
#include "reader_impl.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXPECT_MSG(msg, want)                                                                                   \
    do {                                                                                                        \
        if (!strstr((msg), (want))) fail_msg("%s:%d: message \"%s\" lacks \"%s\"", __FILE__, __LINE__, (msg), (want)); \
    } while (0)

/* ---- a real file written by the library ---------------------------------- */

#define NT 3
static unsigned char *g_file;
static size_t g_size;
static unsigned char *g_tensor[NT];
static size_t g_tsize[NT];
static unsigned char *g_image;
static size_t g_isize;

static int setup_file(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *path = tu_path(dir, "c.raiiaf");
    g_image = tu_read_data("sd-webui.webp", &g_isize);
    static const uint64_t shape[4] = {1, 4, 8, 8};
    static const raiiaf_codec codecs[NT] = {RAIIAF_CODEC_RAW, RAIIAF_CODEC_ZSTD, RAIIAF_CODEC_ZFP};
    static const char *const names[NT] = {"raw", "zstd", "zfp"};
    uint64_t rng = 2024;
    raiiaf_writer *w = NULL;
    assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_image(w, g_image, g_isize), RAIIAF_OK);
    for (int t = 0; t < NT; t++) {
        g_tsize[t] = 256 * sizeof(float);
        float *f = malloc(g_tsize[t]);
        for (int i = 0; i < 256; i++) f[i] = tu_randn(&rng) * (t == 1 ? 0.01f : 1.0f);
        g_tensor[t] = (unsigned char *)f;
        if (raiiaf_writer_add_tensor(w, names[t], RAIIAF_F32, 4, shape, f, g_tsize[t], codecs[t], 0))
            fail_msg("%s", raiiaf_writer_errmsg(w));
    }
    assert_int_equal(raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/prompt", "a lighthouse"), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_finish(w), RAIIAF_OK);
    raiiaf_writer_free(w);
    g_file = tu_read_file(path, &g_size);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
    return 0;
}

static int teardown_file(void **state)
{
    (void)state;
    free(g_file);
    free(g_image);
    for (int t = 0; t < NT; t++) free(g_tensor[t]);
    return 0;
}

/* Region boundaries of the real file: every chunk header, payload end and
 * padding end, the manifest and the footer. */
static size_t boundaries(uint64_t *out, size_t cap)
{
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_memory(g_file, g_size, 0, &r), RAIIAF_OK);
    size_t n = 0;
    for (size_t i = 0; i < raiiaf_reader_chunk_count(r); i++) {
        raiiaf_chunk_info ci;
        assert_int_equal(raiiaf_reader_chunk_info(r, i, &ci), RAIIAF_OK);
        uint64_t end = ci.offset + 64 + ci.stored_size;
        uint64_t b[] = {ci.offset, ci.offset + 1, ci.offset + 63, ci.offset + 64, ci.offset + 65, end - 1, end, end + 1, rf_align_up(end)};
        for (size_t k = 0; k < sizeof b / sizeof b[0] && n < cap; k++) out[n++] = b[k];
    }
    uint64_t m = r->manifest_off, mend = m + 64 + rf_le64(g_file + m + 16);
    uint64_t b[] = {m, m + 1, m + 63, m + 64, mend - 1, mend, rf_align_up(mend), g_size - 64, g_size - 63, g_size - 8,
                    0, 1, 6, 7, 11, 12, 13, 63, 64, 65, 128, 191, 192, g_size - 1, g_size - 64};
    for (size_t k = 0; k < sizeof b / sizeof b[0] && n < cap; k++) out[n++] = b[k];
    raiiaf_reader_free(r);
    return n;
}

/* The exact verdict the format dictates for a prefix of `len` bytes. */
static void expect_truncated(const unsigned char *data, size_t len)
{
    raiiaf_reader *r = NULL;
    int rc = raiiaf_reader_open_memory(data, len, 0, &r);
    assert_non_null(r);
    const char *msg = raiiaf_reader_errmsg(r);
    int want;
    const char *what;
    if (len == 0) want = RAIIAF_E_NOT_RAIIAF, what = "empty";
    else if (len < 12) want = RAIIAF_E_TRUNCATED, what = "signature";
    else if (len < 64) want = RAIIAF_E_TRUNCATED, what = "header";
    else if (len < 192) want = RAIIAF_E_TRUNCATED, what = "too short";
    else if (len % 64) want = RAIIAF_E_CORRUPT, what = "multiple of 64";
    else want = RAIIAF_E_TRUNCATED, what = "no footer at offset";
    if (rc != want) fail_msg("prefix of %zu bytes: got %d (%s), expected %d", len, rc, msg, want);
    assert_true(strlen(msg) > 0);
    EXPECT_MSG(msg, what);
    /* a failed open leaves nothing readable and verify reports the failure */
    assert_int_equal(raiiaf_reader_tensor_count(r), 0);
    assert_int_equal(raiiaf_reader_verify(r, NULL, NULL), want);
    raiiaf_reader_free(r);
}

static void test_truncation(void **state)
{
    (void)state;
    uint64_t b[128];
    size_t n = boundaries(b, 128);
    unsigned cases = 0;
    char *dir = tu_tempdir();
    char *path = tu_path(dir, "t.raiiaf");
    for (size_t i = 0; i < n; i++) {
        if (b[i] >= g_size) continue;
        /* a copy of exactly that length, so ASan sees any read past it */
        unsigned char *copy = malloc(b[i] ? b[i] : 1);
        memcpy(copy, g_file, b[i]);
        expect_truncated(copy, (size_t)b[i]);
        free(copy);
        /* the same through a file mapping */
        tu_write_file(path, g_file, (size_t)b[i]);
        raiiaf_reader *r = NULL;
        int rc = raiiaf_reader_open_file(path, 0, &r);
        assert_true(rc == RAIIAF_E_TRUNCATED || rc == RAIIAF_E_CORRUPT || rc == RAIIAF_E_NOT_RAIIAF);
        assert_true(strlen(raiiaf_reader_errmsg(r)) > 0);
        raiiaf_reader_free(r);
        cases += 2;
    }
    uint64_t rng = 31337;
    for (int i = 0; i < 200; i++) {
        size_t len = (size_t)(tu_rand(&rng) % g_size);
        if (i % 4 == 0) len &= ~(size_t)63; /* keep some multiples of 64 */
        unsigned char *copy = malloc(len ? len : 1);
        memcpy(copy, g_file, len);
        expect_truncated(copy, len);
        free(copy);
        cases++;
    }
    /* Bytes appended after the footer look like an interrupted edit (SPEC
     * §13): the reader opens the last complete version and reports the
     * trailing bytes; verify refuses the file. */
    unsigned char *longer = malloc(g_size + 64);
    memcpy(longer, g_file, g_size);
    memset(longer + g_size, 0, 64);
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_memory(longer, g_size + 64, 0, &r), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_trailing_bytes(r), 64);
    assert_int_equal(raiiaf_reader_verify(r, NULL, NULL), RAIIAF_E_TRUNCATED);
    assert_non_null(strstr(raiiaf_reader_errmsg(r), "64 trailing bytes after the last complete version"));
    raiiaf_reader_free(r);
    r = NULL;
    assert_int_equal(raiiaf_reader_open_memory(longer, g_size + 1, 0, &r), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_trailing_bytes(r), 1);
    assert_int_equal(raiiaf_reader_verify(r, NULL, NULL), RAIIAF_E_TRUNCATED);
    raiiaf_reader_free(r);
    free(longer);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
    print_message("truncation: %u cases\n", cases);
}

/* ---- bit flips ----------------------------------------------------------- */

typedef struct {
    unsigned flips, open_failed, verify_caught, reads_refused;
} flip_stats;

static void one_flip(unsigned char *buf, size_t bit, flip_stats *st)
{
    buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    st->flips++;
    raiiaf_reader *r = NULL;
    int rc = raiiaf_reader_open_memory(buf, g_size, 0, &r);
    if (rc) {
        if (!strlen(raiiaf_reader_errmsg(r))) fail_msg("bit %zu: open failed with %d and no message", bit, rc);
        st->open_failed++;
        raiiaf_reader_free(r);
        buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        return;
    }
    /* Whatever can still be read must be exactly what was written. */
    size_t nt = raiiaf_reader_tensor_count(r);
    for (size_t t = 0; t < nt; t++) {
        raiiaf_tensor_info ti;
        if (raiiaf_reader_tensor_info(r, t, &ti)) continue;
        size_t k;
        for (k = 0; k < NT; k++)
            if (g_tsize[k] == ti.raw_size && !strcmp(ti.name, k == 0 ? "raw" : k == 1 ? "zstd" : "zfp")) break;
        if (k == NT) fail_msg("bit %zu: tensor %zu has a name or size never written (\"%s\")", bit, t, ti.name);
        unsigned char *dst = malloc(ti.raw_size);
        int trc = raiiaf_reader_read_tensor(r, t, dst, (size_t)ti.raw_size);
        if (trc == RAIIAF_OK && memcmp(dst, g_tensor[k], g_tsize[k]))
            fail_msg("bit %zu (byte %zu): tensor \"%s\" read back WRONG DATA without an error", bit, bit / 8, ti.name);
        if (trc) {
            st->reads_refused++;
            assert_true(strlen(raiiaf_reader_errmsg(r)) > 0);
        }
        free(dst);
        const void *zc;
        if (ti.codec == RAIIAF_CODEC_RAW && raiiaf_reader_tensor_data(r, t, &zc) == RAIIAF_OK && memcmp(zc, g_tensor[k], g_tsize[k]))
            fail_msg("bit %zu: zero-copy tensor \"%s\" gave WRONG DATA", bit, ti.name);
    }
    const void *img;
    size_t isize;
    int irc = raiiaf_reader_image(r, &img, &isize, NULL, NULL, NULL);
    if (irc == RAIIAF_OK && (isize != g_isize || memcmp(img, g_image, g_isize)))
        fail_msg("bit %zu: image read back WRONG DATA without an error", bit);
    raiiaf_reader_free(r);

    /* verify, on a fresh reader, must see every flip */
    r = NULL;
    assert_int_equal(raiiaf_reader_open_memory(buf, g_size, 0, &r), RAIIAF_OK);
    int vrc = raiiaf_reader_verify(r, NULL, NULL);
    if (vrc == RAIIAF_OK) fail_msg("bit %zu (byte %zu of %zu): verify found nothing wrong", bit, bit / 8, g_size);
    assert_true(strlen(raiiaf_reader_errmsg(r)) > 0);
    st->verify_caught++;
    raiiaf_reader_free(r);
    buf[bit / 8] ^= (unsigned char)(1u << (bit % 8));
}

static void flip_range(unsigned char *buf, uint64_t from, uint64_t to, flip_stats *st)
{
    for (uint64_t bit = from * 8; bit < to * 8; bit++) one_flip(buf, (size_t)bit, st);
}

static void test_bit_flips(void **state)
{
    (void)state;
    unsigned char *buf = malloc(g_size);
    memcpy(buf, g_file, g_size);
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_memory(g_file, g_size, 0, &r), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_verify(r, NULL, NULL), RAIIAF_OK);
    flip_stats st = {0};
    flip_range(buf, 0, 64, &st);                           /* header */
    for (size_t i = 0; i < raiiaf_reader_chunk_count(r); i++) {
        raiiaf_chunk_info ci;
        assert_int_equal(raiiaf_reader_chunk_info(r, i, &ci), RAIIAF_OK);
        flip_range(buf, ci.offset, ci.offset + 64, &st);   /* every chunk header */
    }
    uint64_t moff = r->manifest_off;
    flip_range(buf, moff, g_size, &st);                    /* manifest chunk, its padding, the footer */
    unsigned structural = st.flips;
    uint64_t rng = 4242;
    for (int i = 0; i < 2000; i++) {                       /* payloads and padding, at random */
        size_t bit = (size_t)(64 * 8 + tu_rand(&rng) % ((moff - 64) * 8));
        one_flip(buf, bit, &st);
    }
    assert_memory_equal(buf, g_file, g_size);
    raiiaf_reader_free(r);
    free(buf);
    print_message("bit flips: %u (%u structural), open refused %u, verify caught %u, reads refused %u\n", st.flips,
                  structural, st.open_failed, st.verify_caught, st.reads_refused);
    assert_int_equal(st.open_failed + st.verify_caught, st.flips);
}

/* ---- hand-built files, each with one lie ---------------------------------- */

typedef struct {
    unsigned char *d;
    size_t n, cap;
} buf_t;

static void b_put(buf_t *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 256;
        b->d = realloc(b->d, b->cap);
        assert_non_null(b->d);
    }
    if (n) memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void b_pad(buf_t *b)
{
    static const unsigned char z[64];
    b_put(b, z, (size_t)(rf_align_up(b->n) - b->n));
}

static void b_header(buf_t *b)
{
    unsigned char h[64] = {0};
    memcpy(h, RF_SIGNATURE, RF_SIGNATURE_SIZE);
    rf_put16(h + 12, 2);
    rf_put32(h + 60, rf_crc32c(0, h, 60));
    b_put(b, h, 64);
}

/* A chunk: header declaring `stored`/`raw` (correct CRCs), then `len`
 * payload bytes, then padding.  Returns its offset. */
static uint64_t b_chunk(buf_t *b, const char type[4], unsigned codec, unsigned index, const void *payload, size_t len,
                        uint64_t stored, uint64_t raw)
{
    uint64_t off = b->n;
    unsigned char h[64] = {0};
    memcpy(h, type, 4);
    h[4] = (unsigned char)codec;
    rf_put32(h + 8, index);
    rf_put64(h + 16, stored);
    rf_put64(h + 24, raw);
    rf_put32(h + 32, rf_crc32c(0, payload, len));
    rf_put32(h + 60, rf_crc32c(0, h, 60));
    b_put(b, h, 64);
    b_put(b, payload, len);
    b_pad(b);
    return off;
}

/* The manifest chunk for JSON text (zstd byte planes, one plane). */
static uint64_t b_manifest(buf_t *b, const char *text, size_t len, unsigned index, uint64_t raw_decl)
{
    unsigned char *p;
    size_t n;
    rf_err e;
    assert_int_equal(rf_planes_encode(text, len, 1, 3, &p, &n, &e), RAIIAF_OK);
    uint64_t off = b_chunk(b, "MANI", RF_CODEC_ZSTD, index, p, n, n, raw_decl ? raw_decl : len);
    free(p);
    return off;
}

static void b_footer(buf_t *b, uint64_t moff, uint64_t prev, uint32_t version)
{
    unsigned char f[64] = {0};
    memcpy(f, RF_FOOTER_MAGIC, 8);
    rf_put64(f + 8, moff);
    rf_put64(f + 16, prev);
    rf_put32(f + 24, version);
    rf_put32(f + 60, rf_crc32c(0, f, 60));
    b_put(b, f, 64);
}

/* Re-seals a 64-byte structure after a deliberate edit. */
static void reseal(unsigned char *s) { rf_put32(s + 60, rf_crc32c(0, s, 60)); }

/* The honest content: a raw float32 [2,3], a zstd uint16 [4,4], an unknown
 * raw chunk. */
#define NCH 3
static const float t0[6] = {1.5f, -2, 0, 3.25f, 1e-3f, -0.0f};
static uint16_t t1[16];
static const char xtra[] = "opaque bytes of a later format feature";

typedef struct {
    uint64_t off[NCH];
    uint64_t moff;
    size_t manifest_len;
} layout;

typedef void (*lie_fn)(json_t *manifest, const layout *L);

/* Builds a file; `lie` may edit the manifest JSON, `text` replaces it
 * entirely, `raw_decl` overrides the manifest's declared decoded size. */
static unsigned char *build(lie_fn lie, const char *text, uint64_t raw_decl, size_t *size, layout *L)
{
    for (int i = 0; i < 16; i++) t1[i] = (uint16_t)(i * 3);
    buf_t b = {0};
    layout l = {{0}, 0, 0};
    b_header(&b);
    unsigned char *z;
    size_t zn;
    rf_err e;
    assert_int_equal(rf_planes_encode(t1, sizeof t1, 2, 3, &z, &zn, &e), RAIIAF_OK);
    const void *stored[NCH] = {t0, z, xtra};
    const size_t slen[NCH] = {sizeof t0, zn, sizeof xtra};
    const void *decoded[NCH] = {t0, t1, xtra};
    const size_t dlen[NCH] = {sizeof t0, sizeof t1, sizeof xtra};
    static const char *const types[NCH] = {"TENS", "TENS", "XTRA"};
    static const char *const cname[NCH] = {"raw", "zstd", "raw"};
    json_t *chunks = json_array();
    for (int i = 0; i < NCH; i++) {
        l.off[i] = b_chunk(&b, types[i], i == 1 ? RF_CODEC_ZSTD : RF_CODEC_RAW, (unsigned)i, stored[i], slen[i], slen[i], dlen[i]);
        char sha[65];
        rf_sha256_hex(decoded[i], dlen[i], sha);
        json_array_append_new(chunks, json_pack("{s:i,s:s,s:I,s:s,s:I,s:I,s:I,s:s}", "index", i, "type", types[i], "offset",
                                                (json_int_t)l.off[i], "codec", cname[i], "stored_size", (json_int_t)slen[i],
                                                "raw_size", (json_int_t)dlen[i], "crc32c",
                                                (json_int_t)rf_crc32c(0, stored[i], slen[i]), "sha256", sha));
    }
    free(z);
    json_t *m = json_pack(
        "{s:{s:{s:s,s:i,s:i,s:s,s:s,s:i,s:i,s:n},s:{s:s},s:[{s:s,s:i,s:s,s:[i,i],s:s},{s:s,s:i,s:s,s:[i,i],s:s}],s:o}}",
        "raiiaf_metadata", "file_info", "magic", "raiiaf", "version_major", 2, "version_minor", 0, "created",
        "2024-01-01T00:00:00Z", "writer", "test_corrupt", "chunk_count", NCH, "manifest_version", 1, "previous_manifest",
        "model_info", "prompt", "x", "tensors", "name", "a", "chunk", 0, "dtype", "float32", "shape", 2, 3, "codec", "raw",
        "name", "b", "chunk", 1, "dtype", "uint16", "shape", 4, 4, "codec", "zstd", "chunks", chunks);
    assert_non_null(m);
    if (lie) lie(m, &l);
    char *dumped = json_dumps(m, JSON_INDENT(1));
    json_decref(m);
    const char *t = text ? text : dumped;
    l.manifest_len = strlen(t);
    l.moff = b_manifest(&b, t, l.manifest_len, NCH, raw_decl);
    free(dumped);
    b_footer(&b, l.moff, 0, 1);
    *size = b.n;
    if (L) *L = l;
    return b.d;
}

/* Opens and expects failure `code` with `where` in the message. */
static void expect_open(const unsigned char *d, size_t n, int code, const char *where)
{
    raiiaf_reader *r = NULL;
    int rc = raiiaf_reader_open_memory(d, n, 0, &r);
    assert_non_null(r);
    if (rc != code) fail_msg("expected %d (%s), got %d: %s", code, raiiaf_strerror(code), rc, raiiaf_reader_errmsg(r));
    EXPECT_MSG(raiiaf_reader_errmsg(r), where);
    assert_int_equal(raiiaf_reader_verify(r, NULL, NULL), code);
    raiiaf_reader_free(r);
}

static void expect_lie(lie_fn lie, int code, const char *where)
{
    size_t n;
    unsigned char *d = build(lie, NULL, 0, &n, NULL);
    expect_open(d, n, code, where);
    free(d);
}

static void test_builder_is_honest(void **state)
{
    (void)state;
    size_t n;
    layout L;
    unsigned char *d = build(NULL, NULL, 0, &n, &L);
    raiiaf_reader *r = NULL;
    int rc = raiiaf_reader_open_memory(d, n, 0, &r);
    if (rc) fail_msg("the honest file does not open: %s", raiiaf_reader_errmsg(r));
    rc = raiiaf_reader_verify(r, NULL, NULL);
    if (rc) fail_msg("the honest file does not verify: %s", raiiaf_reader_errmsg(r));
    float a[6];
    uint16_t b[16];
    assert_int_equal(raiiaf_reader_read_tensor(r, 0, a, sizeof a), RAIIAF_OK);
    assert_memory_equal(a, t0, sizeof a);
    assert_int_equal(raiiaf_reader_read_tensor(r, 1, b, sizeof b), RAIIAF_OK);
    assert_memory_equal(b, t1, sizeof b);
    assert_int_equal(raiiaf_reader_chunk_count(r), NCH);
    raiiaf_reader_free(r);
    free(d);
}

/* -- lies in the manifest JSON -- */
static void lie_shape_huge(json_t *m, const layout *L)
{
    (void)L;
    json_t *t = json_array_get(json_object_get(json_object_get(m, "raiiaf_metadata"), "tensors"), 0);
    json_object_set_new(t, "shape", json_pack("[I,I,I]", (json_int_t)1000000, (json_int_t)1000000, (json_int_t)1000000));
}
static json_t *chunk_rec(json_t *m, size_t i) { return json_array_get(json_object_get(json_object_get(m, "raiiaf_metadata"), "chunks"), i); }
static json_t *tensor_rec(json_t *m, size_t i) { return json_array_get(json_object_get(json_object_get(m, "raiiaf_metadata"), "tensors"), i); }
static void lie_overlap(json_t *m, const layout *L) { json_object_set_new(chunk_rec(m, 1), "offset", json_integer((json_int_t)L->off[0] + 64)); }
static void lie_past_manifest(json_t *m, const layout *L) { (void)L; json_object_set_new(chunk_rec(m, 2), "stored_size", json_integer(1 << 20)); json_object_set_new(chunk_rec(m, 2), "raw_size", json_integer(1 << 20)); }
static void lie_unaligned(json_t *m, const layout *L) { json_object_set_new(chunk_rec(m, 1), "offset", json_integer((json_int_t)L->off[1] + 8)); }
static void lie_dup_name(json_t *m, const layout *L) { (void)L; json_object_set_new(tensor_rec(m, 1), "name", json_string("a")); }
static void lie_dtype(json_t *m, const layout *L) { (void)L; json_object_set_new(tensor_rec(m, 0), "dtype", json_string("float33")); }
static void lie_dtype_short(json_t *m, const layout *L) { (void)L; json_object_set_new(tensor_rec(m, 0), "dtype", json_string("f32")); }
static void lie_index(json_t *m, const layout *L) { (void)L; json_object_set_new(chunk_rec(m, 1), "index", json_integer(7)); }
static void lie_codec(json_t *m, const layout *L) { (void)L; json_object_set_new(tensor_rec(m, 1), "codec", json_string("raw")); }
static void lie_codec_name(json_t *m, const layout *L) { (void)L; json_object_set_new(chunk_rec(m, 1), "codec", json_string("lz4")); }
static void lie_raw_sizes(json_t *m, const layout *L) { (void)L; json_object_set_new(chunk_rec(m, 0), "raw_size", json_integer(25)); }
static void lie_shape_size(json_t *m, const layout *L) { (void)L; json_object_set_new(tensor_rec(m, 0), "shape", json_pack("[i,i]", 3, 3)); }
static void lie_tensor_chunk(json_t *m, const layout *L) { (void)L; json_object_set_new(tensor_rec(m, 1), "chunk", json_integer(2)); }
static void lie_tensor_chunk_twice(json_t *m, const layout *L) { (void)L; json_object_set_new(tensor_rec(m, 1), "chunk", json_integer(0)); }
static void lie_tensor_chunk_out(json_t *m, const layout *L) { (void)L; json_object_set_new(tensor_rec(m, 1), "chunk", json_integer(99)); }
static void lie_sha_text(json_t *m, const layout *L) { (void)L; json_object_set_new(chunk_rec(m, 0), "sha256", json_string("ABC")); }
static void lie_no_meta(json_t *m, const layout *L) { (void)L; json_object_del(m, "raiiaf_metadata"); json_object_set_new(m, "other", json_object()); }
static void lie_chunks_type(json_t *m, const layout *L) { (void)L; json_object_set_new(json_object_get(m, "raiiaf_metadata"), "chunks", json_string("x")); }
static void lie_shape_negative(json_t *m, const layout *L) { (void)L; json_object_set_new(tensor_rec(m, 0), "shape", json_pack("[i,i]", -2, -3)); }
static void lie_shape_rank9(json_t *m, const layout *L) { (void)L; json_object_set_new(tensor_rec(m, 0), "shape", json_pack("[i,i,i,i,i,i,i,i,i]", 1, 1, 1, 1, 1, 1, 1, 2, 3)); }
static void lie_name_empty(json_t *m, const layout *L) { (void)L; json_object_set_new(tensor_rec(m, 0), "name", json_string("")); }
static void lie_expansion(json_t *m, const layout *L)
{
    (void)L;
    /* a zstd chunk of a few dozen bytes claiming 2^39 decoded bytes, with a
     * tensor shape to match: refused before anything is allocated */
    json_object_set_new(chunk_rec(m, 1), "raw_size", json_integer((json_int_t)1 << 39));
    json_object_set_new(tensor_rec(m, 1), "shape", json_pack("[I,I]", (json_int_t)1 << 20, (json_int_t)1 << 18));
}
static void lie_image_chunk(json_t *m, const layout *L)
{
    (void)L;
    json_object_set_new(json_object_get(m, "raiiaf_metadata"), "image",
                        json_pack("{s:i,s:s,s:i,s:i,s:i}", "chunk", 2, "format", "png", "width", 1, "height", 1, "size", 39));
}

static void test_hostile_manifest_records(void **state)
{
    (void)state;
    expect_lie(lie_shape_huge, RAIIAF_E_LIMIT, "/raiiaf_metadata/tensors/0/shape/");
    expect_lie(lie_overlap, RAIIAF_E_CORRUPT, "/raiiaf_metadata/chunks/1: chunk at offset");
    expect_lie(lie_past_manifest, RAIIAF_E_CORRUPT, "/raiiaf_metadata/chunks/2: chunk at offset");
    expect_lie(lie_unaligned, RAIIAF_E_CORRUPT, "/raiiaf_metadata/chunks/1: chunk at offset");
    expect_lie(lie_dup_name, RAIIAF_E_CORRUPT, "the name \"a\" appears twice");
    expect_lie(lie_dtype, RAIIAF_E_CORRUPT, "/raiiaf_metadata/tensors/0/dtype: unknown dtype \"float33\"");
    expect_lie(lie_dtype_short, RAIIAF_E_CORRUPT, "/raiiaf_metadata/tensors/0/dtype");
    expect_lie(lie_index, RAIIAF_E_CORRUPT, "/raiiaf_metadata/chunks/1/index");
    expect_lie(lie_codec, RAIIAF_E_CORRUPT, "/raiiaf_metadata/tensors/1/codec");
    expect_lie(lie_codec_name, RAIIAF_E_CORRUPT, "/raiiaf_metadata/chunks/1/codec: unknown codec \"lz4\"");
    expect_lie(lie_raw_sizes, RAIIAF_E_CORRUPT, "/raiiaf_metadata/chunks/0: raw chunk");
    expect_lie(lie_shape_size, RAIIAF_E_CORRUPT, "/raiiaf_metadata/tensors/0: shape and dtype make 36 bytes");
    expect_lie(lie_tensor_chunk, RAIIAF_E_CORRUPT, "/raiiaf_metadata/tensors/1/chunk");
    expect_lie(lie_tensor_chunk_twice, RAIIAF_E_CORRUPT, "/raiiaf_metadata/tensors/1/chunk");
    expect_lie(lie_tensor_chunk_out, RAIIAF_E_CORRUPT, "/raiiaf_metadata/tensors/1/chunk");
    expect_lie(lie_sha_text, RAIIAF_E_CORRUPT, "/raiiaf_metadata/chunks/0/sha256");
    expect_lie(lie_no_meta, RAIIAF_E_CORRUPT, "/raiiaf_metadata");
    expect_lie(lie_chunks_type, RAIIAF_E_CORRUPT, "/raiiaf_metadata/chunks");
    expect_lie(lie_shape_negative, RAIIAF_E_LIMIT, "/raiiaf_metadata/tensors/0/shape/0");
    expect_lie(lie_shape_rank9, RAIIAF_E_CORRUPT, "/raiiaf_metadata/tensors/0/shape");
    expect_lie(lie_name_empty, RAIIAF_E_CORRUPT, "/raiiaf_metadata/tensors/0/name");
    expect_lie(lie_expansion, RAIIAF_E_LIMIT, "/raiiaf_metadata/chunks/1: ");
    expect_lie(lie_image_chunk, RAIIAF_E_CORRUPT, "/raiiaf_metadata/image/chunk");
}

static void test_hostile_manifest_text(void **state)
{
    (void)state;
    size_t n;
    unsigned char *d = build(NULL, "this is not JSON", 0, &n, NULL);
    expect_open(d, n, RAIIAF_E_JSON, "manifest: invalid JSON at line 1");
    free(d);
    d = build(NULL, "[1, 2, 3]", 0, &n, NULL);
    expect_open(d, n, RAIIAF_E_CORRUPT, "/raiiaf_metadata");
    free(d);
    d = build(NULL, "{\"raiiaf_metadata\": {}, \"raiiaf_metadata\": {}}", 0, &n, NULL);
    expect_open(d, n, RAIIAF_E_JSON, "manifest");
    free(d);

    /* nested 100000 deep: the JSON parser's own depth limit refuses it */
    const size_t depth = 100000;
    char *deep = malloc(2 * depth + 64);
    size_t k = 0;
    k += (size_t)sprintf(deep, "{\"raiiaf_metadata\": {}, \"x\": ");
    for (size_t i = 0; i < depth; i++) deep[k++] = '[';
    for (size_t i = 0; i < depth; i++) deep[k++] = ']';
    deep[k++] = '}';
    deep[k] = 0;
    d = build(NULL, deep, 0, &n, NULL);
    expect_open(d, n, RAIIAF_E_JSON, "manifest: invalid JSON");
    free(d);
    /* 100 deep passes the parser and meets the library's limit of 64 */
    k = (size_t)sprintf(deep, "{\"raiiaf_metadata\": {}, \"x\": ");
    for (size_t i = 0; i < 100; i++) deep[k++] = '[';
    for (size_t i = 0; i < 100; i++) deep[k++] = ']';
    deep[k++] = '}';
    deep[k] = 0;
    d = build(NULL, deep, 0, &n, NULL);
    expect_open(d, n, RAIIAF_E_LIMIT, "manifest: JSON nested deeper than 64");
    free(d);
    free(deep);

    /* a NUL inside the text */
    static const char nul[] = "{\"raiiaf_metadata\": {}}\0 ";
    buf_t b = {0};
    b_header(&b);
    uint64_t moff = b_manifest(&b, nul, sizeof nul - 1, 0, 0);
    b_footer(&b, moff, 0, 1);
    expect_open(b.d, b.n, RAIIAF_E_JSON, "NUL byte");
    free(b.d);
}

static void test_hostile_sizes(void **state)
{
    (void)state;
    size_t n;
    layout L;
    unsigned char *d = build(NULL, NULL, 0, &n, &L);
    char where[64];
    snprintf(where, sizeof where, "manifest at offset %llu", (unsigned long long)L.moff);

    /* footer pointing outside the file, past the footer, unaligned, at 2^63 */
    static const uint64_t bad_moff[] = {0, 32, 1u << 30, UINT64_C(1) << 63, UINT64_MAX - 63};
    for (size_t i = 0; i < sizeof bad_moff / sizeof bad_moff[0]; i++) {
        unsigned char *c = malloc(n);
        memcpy(c, d, n);
        rf_put64(c + n - 64 + 8, bad_moff[i]);
        reseal(c + n - 64);
        expect_open(c, n, RAIIAF_E_CORRUPT, "manifest offset");
        free(c);
    }
    unsigned char *c = malloc(n);
    memcpy(c, d, n);
    rf_put64(c + n - 64 + 8, L.off[0]); /* a TENS chunk, not the manifest */
    reseal(c + n - 64);
    expect_open(c, n, RAIIAF_E_CORRUPT, "not a zstd manifest chunk");
    memcpy(c, d, n);
    rf_put64(c + n - 64 + 8, n - 64); /* the footer itself */
    reseal(c + n - 64);
    expect_open(c, n, RAIIAF_E_CORRUPT, "manifest offset");
    memcpy(c, d, n);
    rf_put32(c + n - 64 + 24, 2); /* version 2 needs a previous footer */
    reseal(c + n - 64);
    expect_open(c, n, RAIIAF_E_CORRUPT, "manifest version 2");
    memcpy(c, d, n);
    c[n - 64 + 40] = 1; /* reserved */
    reseal(c + n - 64);
    expect_open(c, n, RAIIAF_E_CORRUPT, "reserved byte 40");
    memcpy(c, d, n);
    memcpy(c + n - 64, "RAIIAFfx", 8);
    reseal(c + n - 64);
    char fwhere[64];
    snprintf(fwhere, sizeof fwhere, "no footer at offset %zu", n - 64);
    expect_open(c, n, RAIIAF_E_TRUNCATED, fwhere);

    /* manifest chunk declaring 2^63 and 2^40 stored bytes, and 1 MiB
     * (within the limit, past the footer) */
    static const uint64_t bad_stored[] = {UINT64_C(1) << 63, UINT64_C(1) << 40, UINT64_MAX};
    for (size_t i = 0; i < sizeof bad_stored / sizeof bad_stored[0]; i++) {
        memcpy(c, d, n);
        rf_put64(c + L.moff + 16, bad_stored[i]);
        reseal(c + L.moff);
        expect_open(c, n, RAIIAF_E_LIMIT, where);
    }
    memcpy(c, d, n);
    rf_put64(c + L.moff + 16, 1u << 20);
    reseal(c + L.moff);
    expect_open(c, n, RAIIAF_E_CORRUPT, "do not end at the footer");
    /* declared decoded size over 64 MiB */
    memcpy(c, d, n);
    rf_put64(c + L.moff + 24, (64u << 20) + 1);
    reseal(c + L.moff);
    expect_open(c, n, RAIIAF_E_LIMIT, "decoded");
    /* declared decoded size that disagrees with the frame */
    memcpy(c, d, n);
    rf_put64(c + L.moff + 24, L.manifest_len - 1);
    reseal(c + L.moff);
    expect_open(c, n, RAIIAF_E_CORRUPT, where);
    /* manifest chunk of another type / codec */
    memcpy(c, d, n);
    c[L.moff + 4] = RF_CODEC_RAW;
    reseal(c + L.moff);
    expect_open(c, n, RAIIAF_E_CORRUPT, "not a zstd manifest chunk");
    /* header CRC and payload CRC of the manifest */
    memcpy(c, d, n);
    c[L.moff + 40] ^= 1;
    expect_open(c, n, RAIIAF_E_CHECKSUM, "manifest chunk header at offset");
    memcpy(c, d, n);
    c[L.moff + 64 + 30] ^= 1;
    expect_open(c, n, RAIIAF_E_CHECKSUM, "payload CRC-32C");
    free(c);
    free(d);

    /* a zstd bomb: JSON padded with 65 MiB of spaces (valid JSON), whose
     * real decoded size is over the limit; declared honestly it is refused
     * by the limit, declared small it is refused as a frame mismatch */
    const size_t big = (65u << 20);
    char *bomb = malloc(big + 64);
    size_t h = (size_t)sprintf(bomb, "{\"raiiaf_metadata\": {}");
    memset(bomb + h, ' ', big - h - 1);
    bomb[big - 1] = '}';
    bomb[big] = 0;
    buf_t b = {0};
    b_header(&b);
    uint64_t moff = b_manifest(&b, bomb, big, 0, 0);
    b_footer(&b, moff, 0, 1);
    assert_true(b.n < (1u << 20));
    expect_open(b.d, b.n, RAIIAF_E_LIMIT, "decoded");
    free(b.d);
    b = (buf_t){0};
    b_header(&b);
    moff = b_manifest(&b, bomb, big, 0, 100);
    b_footer(&b, moff, 0, 1);
    expect_open(b.d, b.n, RAIIAF_E_CORRUPT, "not one zstd frame of 100 bytes");
    free(b.d);
    free(bomb);
}

static void test_hostile_headers(void **state)
{
    (void)state;
    size_t n;
    unsigned char *d = build(NULL, NULL, 0, &n, NULL);
    unsigned char *c = malloc(n + 8);

    /* format 1's signature: read by format1_read.c (tests/test_format1.c);
     * here the version byte that follows is 'F' (70), then a bare signature */
    memcpy(c, "raiiaf", 6);
    memcpy(c + 6, d + 6, n - 6);
    expect_open(c, n, RAIIAF_E_VERSION, "format 1");
    expect_open((const unsigned char *)"raiiaf", 6, RAIIAF_E_TRUNCATED, "format 1");
    /* a PNG */
    size_t pn;
    unsigned char *png = tu_read_data("sd-webui.webp", &pn);
    expect_open(png, pn, RAIIAF_E_NOT_RAIIAF, "not a RAIIAF file");
    free(png);
    png = tu_read_data("sd-webui.png", &pn);
    expect_open(png, pn, RAIIAF_E_NOT_RAIIAF, "not a RAIIAF file");
    free(png);
    expect_open((const unsigned char *)"", 0, RAIIAF_E_NOT_RAIIAF, "empty");
    /* text-mode damage: "\r\n" became "\n" (byte 7 removed) */
    memcpy(c, d, 7);
    memcpy(c + 7, d + 8, n - 8);
    expect_open(c, n - 1, RAIIAF_E_CORRUPT, "text-mode");
    /* and "\n" became "\r\n" */
    memcpy(c, d, 8);
    c[8] = '\r';
    memcpy(c + 9, d + 8, n - 8);
    expect_open(c, n + 1, RAIIAF_E_CORRUPT, "text-mode");
    /* version 3, 1.0, unknown flags, reserved bytes, header CRC */
    memcpy(c, d, n);
    rf_put16(c + 12, 3);
    reseal(c);
    expect_open(c, n, RAIIAF_E_VERSION, "format version 3.0");
    memcpy(c, d, n);
    rf_put16(c + 12, 1);
    reseal(c);
    expect_open(c, n, RAIIAF_E_VERSION, "format version 1.0");
    memcpy(c, d, n);
    rf_put32(c + 16, 4);
    reseal(c);
    expect_open(c, n, RAIIAF_E_VERSION, "flags 00000004");
    memcpy(c, d, n);
    c[33] = 1;
    reseal(c);
    expect_open(c, n, RAIIAF_E_CORRUPT, "header byte 33");
    memcpy(c, d, n);
    c[33] = 1;
    expect_open(c, n, RAIIAF_E_CHECKSUM, "header (offset 0)");
    /* a newer minor version is read */
    memcpy(c, d, n);
    rf_put16(c + 14, 7);
    reseal(c);
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_memory(c, n, 0, &r), RAIIAF_OK);
    unsigned major, minor;
    raiiaf_reader_format(r, &major, &minor);
    assert_int_equal(minor, 7);
    raiiaf_reader_free(r);
    free(c);
    free(d);
}

/* Lies that only show when a payload is read or verified. */
static void expect_read(const unsigned char *d, size_t n, size_t tensor, int code, const char *where)
{
    raiiaf_reader *r = NULL;
    int rc = raiiaf_reader_open_memory(d, n, 0, &r);
    if (rc) fail_msg("open failed: %s", raiiaf_reader_errmsg(r));
    raiiaf_tensor_info ti;
    assert_int_equal(raiiaf_reader_tensor_info(r, tensor, &ti), RAIIAF_OK);
    unsigned char *dst = malloc(ti.raw_size + 1);
    rc = raiiaf_reader_read_tensor(r, tensor, dst, (size_t)ti.raw_size);
    if (rc != code) fail_msg("read: expected %d, got %d: %s", code, rc, raiiaf_reader_errmsg(r));
    EXPECT_MSG(raiiaf_reader_errmsg(r), where);
    free(dst);
    raiiaf_reader_free(r);
    r = NULL;
    assert_int_equal(raiiaf_reader_open_memory(d, n, 0, &r), RAIIAF_OK);
    rc = raiiaf_reader_verify(r, NULL, NULL);
    if (rc != code) fail_msg("verify: expected %d, got %d: %s", code, rc, raiiaf_reader_errmsg(r));
    raiiaf_reader_free(r);
}

static const char *g_sha_target;
static void lie_sha(json_t *m, const layout *L) { (void)L; json_object_set_new(chunk_rec(m, 0), "sha256", json_string(g_sha_target)); }
static void lie_crc(json_t *m, const layout *L) { (void)L; json_object_set_new(chunk_rec(m, 1), "crc32c", json_integer(12345)); }

static void test_hostile_payloads(void **state)
{
    (void)state;
    size_t n;
    layout L;
    /* a digest that does not match: read fails, except with NO_DIGEST */
    g_sha_target = "0000000000000000000000000000000000000000000000000000000000000000";
    unsigned char *d = build(lie_sha, NULL, 0, &n, &L);
    expect_read(d, n, 0, RAIIAF_E_DIGEST, "chunk 0 (TENS \"a\") at offset 64");
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_memory(d, n, RAIIAF_READ_NO_DIGEST, &r), RAIIAF_OK);
    float a[6];
    assert_int_equal(raiiaf_reader_read_tensor(r, 0, a, sizeof a), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_verify(r, NULL, NULL), RAIIAF_E_DIGEST); /* verify always checks */
    raiiaf_reader_free(r);
    free(d);

    /* the manifest's CRC disagrees with the chunk header */
    d = build(lie_crc, NULL, 0, &n, &L);
    char where[80];
    snprintf(where, sizeof where, "chunk 1 (TENS \"b\") at offset %llu", (unsigned long long)L.off[1]);
    expect_read(d, n, 1, RAIIAF_E_CORRUPT, where);
    free(d);

    /* a payload byte changed */
    d = build(NULL, NULL, 0, &n, &L);
    unsigned char *c = malloc(n);
    memcpy(c, d, n);
    c[L.off[0] + 64] ^= 0x40;
    expect_read(c, n, 0, RAIIAF_E_CHECKSUM, "payload CRC-32C mismatch");

    /* a zstd payload whose plane table lies, with every CRC made right */
    static const struct { size_t at; unsigned char v; const char *msg; } plane_lies[] = {
        {0, 4, "byte planes, the dtype needs 2"},
        {0, 9, "declares 9 byte planes"},
        {3, 1, "reserved byte 3"},
        {8, 7, "unknown mode 7"},
        {15, 1, "non-zero reserved byte"},
        {16 + 7, 0x10, "declares"},
        {23, 0xff, "declares"},
    };
    for (size_t i = 0; i < sizeof plane_lies / sizeof plane_lies[0]; i++) {
        memcpy(c, d, n);
        uint64_t p = L.off[1] + 64;
        c[p + plane_lies[i].at] = plane_lies[i].v;
        uint32_t crc = rf_crc32c(0, c + p, (size_t)rf_le64(c + L.off[1] + 16));
        rf_put32(c + L.off[1] + 32, crc);
        reseal(c + L.off[1]);
        /* the manifest records the old CRC, so rebuild it honestly */
        raiiaf_reader *rr = NULL;
        int rc = raiiaf_reader_open_memory(c, n, 0, &rr);
        assert_int_equal(rc, RAIIAF_OK);
        json_t *m = json_loads(raiiaf_reader_manifest(rr, NULL), 0, NULL);
        raiiaf_reader_free(rr);
        json_object_set_new(chunk_rec(m, 1), "crc32c", json_integer(crc));
        char *text = json_dumps(m, JSON_INDENT(1));
        json_decref(m);
        buf_t b = {0};
        b_put(&b, c, (size_t)L.moff);
        uint64_t moff = b_manifest(&b, text, strlen(text), NCH, 0);
        b_footer(&b, moff, 0, 1);
        free(text);
        expect_read(b.d, b.n, 1, RAIIAF_E_CORRUPT, plane_lies[i].msg);
        free(b.d);
    }
    free(c);
    free(d);

    /* gap: a hole of 64 unlisted bytes between two chunks (verify only) */
    buf_t b = {0};
    b_header(&b);
    static const unsigned char zero64[64];
    b_put(&b, zero64, 64);
    char sha[65];
    rf_sha256_hex(t0, sizeof t0, sha);
    uint64_t off = b_chunk(&b, "TENS", RF_CODEC_RAW, 0, t0, sizeof t0, sizeof t0, sizeof t0);
    char text[1024];
    snprintf(text, sizeof text,
             "{\"raiiaf_metadata\": {\"file_info\": {\"magic\": \"raiiaf\", \"version_major\": 2, \"version_minor\": 0,"
             " \"created\": \"2024-01-01T00:00:00Z\", \"writer\": \"t\", \"chunk_count\": 1, \"manifest_version\": 1},"
             " \"model_info\": {}, \"tensors\": [{\"name\": \"a\", \"chunk\": 0, \"dtype\": \"float32\", \"shape\": [6], \"codec\": \"raw\"}],"
             " \"chunks\": [{\"index\": 0, \"type\": \"TENS\", \"offset\": %llu, \"codec\": \"raw\", \"stored_size\": 24,"
             " \"raw_size\": 24, \"crc32c\": %u, \"sha256\": \"%s\"}]}}",
             (unsigned long long)off, rf_crc32c(0, t0, sizeof t0), sha);
    uint64_t moff = b_manifest(&b, text, strlen(text), 1, 0);
    b_footer(&b, moff, 0, 1);
    r = NULL;
    assert_int_equal(raiiaf_reader_open_memory(b.d, b.n, 0, &r), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_read_tensor(r, 0, a, sizeof a), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_verify(r, NULL, NULL), RAIIAF_E_CORRUPT);
    EXPECT_MSG(raiiaf_reader_errmsg(r), "bytes 64 to 128 belong to no chunk");
    raiiaf_reader_free(r);
    free(b.d);
}

/* zfp payloads with valid CRCs but garbage inside never crash the decoder. */
static void test_hostile_zfp(void **state)
{
    (void)state;
    static const uint64_t shape[4] = {1, 4, 8, 8};
    uint64_t rng = 77;
    float f[256];
    for (int i = 0; i < 256; i++) f[i] = tu_randn(&rng);
    unsigned char *z;
    size_t zn;
    double me;
    char sha[65];
    rf_err e;
    assert_int_equal(rf_zfp_encode(f, RAIIAF_F32, 4, shape, 0, &z, &zn, &me, sha, &e), RAIIAF_OK);
    unsigned char *junk = malloc(4096);
    unsigned refused = 0;
    for (int trial = 0; trial < 60; trial++) {
        size_t len = 1 + (size_t)(tu_rand(&rng) % 4095);
        for (size_t i = 0; i < len; i++) junk[i] = (unsigned char)tu_rand(&rng);
        /* a third keep the real stream header so the decoder gets past it */
        if (trial % 3 == 0) memcpy(junk, z, len < 8 ? len : 8);
        /* an exact-size heap copy, so ASan sees any read past the payload */
        unsigned char *in = malloc(len);
        memcpy(in, junk, len);
        float out[256];
        int rc = rf_zfp_decode(in, len, RAIIAF_F32, 4, shape, out, sizeof out, "junk", &e);
        if (rc) {
            assert_int_equal(rc, RAIIAF_E_CORRUPT);
            EXPECT_MSG(e.msg, "junk: zfp");
            refused++;
        }
        free(in);
    }
    /* the real stream cut short */
    for (size_t cut = 1; cut < zn; cut += zn / 16 + 1) {
        unsigned char *in = malloc(cut);
        memcpy(in, z, cut);
        float out[256];
        int rc = rf_zfp_decode(in, cut, RAIIAF_F32, 4, shape, out, sizeof out, "cut", &e);
        if (rc != RAIIAF_E_CORRUPT) fail_msg("zfp stream cut to %zu of %zu bytes: got %d", cut, zn, rc);
        free(in);
    }
    free(z);
    free(junk);
    print_message("zfp junk: %u of 60 refused, the rest decoded without harm\n", refused);
}

/* ---- large raw payloads: CRC-32C and SHA-256 computed on two threads ---- */

static void set_image_sha(json_t *m, void *ctx)
{
    (void)ctx;
    json_t *c = json_array_get(json_object_get(json_object_get(m, "raiiaf_metadata"), "chunks"), 0);
    json_object_set_new(c, "sha256", json_string("0000000000000000000000000000000000000000000000000000000000000000"));
}

static void expect_image(const unsigned char *f, size_t n, unsigned flags, int code, const char *want)
{
    raiiaf_reader *r = NULL;
    const void *img;
    size_t isize;
    assert_int_equal(raiiaf_reader_open_memory(f, n, flags, &r), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_image(r, &img, &isize, NULL, NULL, NULL), code);
    if (code) EXPECT_MSG(raiiaf_reader_errmsg(r), want);
    /* verify always checks both sums, whatever the flags */
    assert_int_equal(raiiaf_reader_verify(r, NULL, NULL), code ? code : RAIIAF_OK);
    raiiaf_reader_free(r);
}

static void test_large_payload_sums(void **state)
{
    (void)state;
    size_t isize;
    unsigned char *img = tu_read_data("comfyui.png", &isize); /* 2 MB: over the two-thread threshold */
    char *dir = tu_tempdir(), *path = tu_path(dir, "big.raiiaf");
    raiiaf_writer *w = NULL;
    assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_env(w, RAIIAF_ENV_NONE), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_image(w, img, isize), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_finish(w), RAIIAF_OK);
    raiiaf_writer_free(w);
    size_t n;
    unsigned char *f = tu_read_file(path, &n);
    expect_image(f, n, 0, RAIIAF_OK, "");
    /* a flipped payload bit: CRC-32C, even when the SHA-256 is skipped */
    f[128 + isize - 3] ^= 4;
    expect_image(f, n, 0, RAIIAF_E_CHECKSUM, "chunk 0 (IMAG) at offset 64: payload CRC-32C mismatch");
    expect_image(f, n, RAIIAF_READ_NO_DIGEST, RAIIAF_E_CHECKSUM, "payload CRC-32C mismatch");
    f[128 + isize - 3] ^= 4;
    /* a wrong digest with every CRC right: SHA-256 */
    size_t m;
    unsigned char *g = tu_replace_manifest(f, n, set_image_sha, NULL, &m);
    expect_image(g, m, 0, RAIIAF_E_DIGEST, "chunk 0 (IMAG) at offset 64: SHA-256 of the decoded content does not match");
    raiiaf_reader *r = NULL;
    const void *p;
    assert_int_equal(raiiaf_reader_open_memory(g, m, RAIIAF_READ_NO_DIGEST, &r), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_image(r, &p, &isize, NULL, NULL, NULL), RAIIAF_OK); /* digest skipped as asked */
    assert_memory_equal(p, img, isize);
    raiiaf_reader_free(r);
    free(g);
    free(f);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
    free(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_bit_flips),
        cmocka_unit_test(test_builder_is_honest),
        cmocka_unit_test(test_hostile_manifest_records),
        cmocka_unit_test(test_hostile_manifest_text),
        cmocka_unit_test(test_hostile_sizes),
        cmocka_unit_test(test_hostile_headers),
        cmocka_unit_test(test_hostile_payloads),
        cmocka_unit_test(test_hostile_zfp),
        cmocka_unit_test(test_large_payload_sums),
    };
    return cmocka_run_group_tests(tests, setup_file, teardown_file);
}
