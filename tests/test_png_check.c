/* test_png_check.c -- the PNG check without a full decode (image_png_check.c)
 * accepts and refuses exactly what the check it replaces did: every chunk
 * CRC by a walk of the file, then a full row-by-row decode with libspng and
 * libspng reading every chunk to IEND.  That reference is written out here
 * (ref_accepts) and both must agree on:
 *   - every PNG fixture of tests/data;
 *   - PNGs built here with zlib for every colour type and bit depth,
 *     interlaced and not, odd sizes, IDAT split over several chunks;
 *   - every truncation of the zlib stream (chunk CRCs resealed) and of
 *     the whole file, every bit flip in the IDAT data of a few of them,
 *     bad filter types, IHDR sizes off by one, too much or too little
 *     inflated data, data after the zlib stream, IDAT runs interrupted.
 * The new check runs twice each time: whole (libdeflate) and with the
 * whole-image limit at 0, so the path that inflates in pieces (ISA-L) is
 * held to it too; test_large_images takes that path at the default limit. */
#include "testutil.h"
#include "internal.h"
#include "image_codecs.h"

#include <spng.h>
#include <zlib.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char png_sig[8] = { 0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A };

static uint32_t be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* ---- the reference: CRC walk + full libspng decode --------------------- */

static int letters(const unsigned char *t)
{
    for (int i = 0; i < 4; i++)
        if (!((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z'))) return 0;
    return 1;
}

static int ref_walk(const unsigned char *d, size_t n)
{
    if (n < 8 || memcmp(d, png_sig, 8)) return 0;
    size_t pos = 8;
    int first = 1;
    for (;;) {
        if (n - pos < 12) return 0;
        uint32_t len = be32(d + pos);
        if (!letters(d + pos + 4) || len > 0x7FFFFFFFu || len > n - pos - 12) return 0;
        if (first && (memcmp(d + pos + 4, "IHDR", 4) || len != 13)) return 0;
        if (crc32(0, d + pos + 4, len + 4) != be32(d + pos + 8 + len)) return 0;
        size_t next = pos + 12 + len;
        if (!memcmp(d + pos + 4, "IEND", 4)) return len == 0 && next == n;
        first = 0;
        pos = next;
    }
}

static int ref_accepts(const unsigned char *d, size_t n)
{
    if (!ref_walk(d, n)) return 0;
    spng_ctx *ctx = spng_ctx_new(0);
    assert_non_null(ctx);
    struct spng_ihdr ihdr;
    size_t img = 0;
    unsigned char *row = NULL;
    int ok = 0;
    if (spng_set_png_buffer(ctx, d, n) || spng_set_image_limits(ctx, 1u << 24, 1u << 24) ||
        spng_set_chunk_limits(ctx, (size_t)64 << 20, (size_t)256 << 20) ||
        spng_set_crc_action(ctx, SPNG_CRC_ERROR, SPNG_CRC_ERROR))
        goto done;
    if (spng_get_ihdr(ctx, &ihdr) || spng_decoded_image_size(ctx, SPNG_FMT_PNG, &img)) goto done;
    if (img > ((size_t)1 << 30) || !ihdr.height || img % ihdr.height) goto done;
    row = malloc(img / ihdr.height);
    assert_non_null(row);
    if (spng_decode_image(ctx, NULL, 0, SPNG_FMT_PNG, SPNG_DECODE_PROGRESSIVE)) goto done;
    int r;
    do r = spng_decode_row(ctx, row, img / ihdr.height);
    while (r == 0);
    if (r != SPNG_EOI) goto done;
    ok = spng_decode_chunks(ctx) == 0;
done:
    free(row);
    spng_ctx_free(ctx);
    return ok;
}

/* ---- the comparison --------------------------------------------------- */

typedef struct tally {
    unsigned cases, accepted, mismatches, stricter;
} tally;

/* The new check is deliberately stricter than libspng in one way, which
 * docs/SPEC.md states: the zlib stream must inflate to exactly the size the
 * IHDR implies and end with its Adler-32.  libspng stops reading once it
 * has the last row, so it accepts a stream with data beyond the image or
 * cut off after the pixels, before (or inside) the Adler-32.  Where libspng
 * accepts and the new check refuses for exactly these reasons, the case is
 * counted as stricter, not as a mismatch; any other disagreement, and any
 * case the new check accepts and libspng refuses, fails the test. */
static int stricter_reason(const char *msg)
{
    return strstr(msg, "inflates to more than") || strstr(msg, "without its Adler-32") ||
           strstr(msg, "is cut off before its end") || strstr(msg, "Adler-32 mismatch");
}

static int new_accepts(const unsigned char *d, size_t n, size_t whole_limit, char *msg, size_t msz)
{
    rf_err e;
    rf_err_clear(&e);
    rf_image_desc desc;
    int rc = n >= 8 && !memcmp(d, png_sig, 8) ? rf_png_probe(d, n, &desc, &e)
                                              : rf_fail(&e, RAIIAF_E_IMAGE, "PNG: (no signature: not for this check)");
    if (!rc) rc = rf_png_check_pixels(d, n, whole_limit, &e);
    snprintf(msg, msz, "%s", rc ? e.msg : "ok");
    if (rc && rc != RAIIAF_E_IMAGE) fail_msg("unexpected error code %d: %s", rc, e.msg);
    if (rc && strncmp(e.msg, "PNG: ", 5)) fail_msg("message does not name the format: %s", e.msg);
    return rc == RAIIAF_OK;
}

static void compare(tally *t, const unsigned char *d, size_t n, const char *what)
{
    char m1[RF_ERRMSG_SIZE], m2[RF_ERRMSG_SIZE];
    int ref = ref_accepts(d, n);
    int whole = new_accepts(d, n, RF_PNG_WHOLE_LIMIT, m1, sizeof m1);
    int rows = new_accepts(d, n, 0, m2, sizeof m2);
    t->cases++;
    t->accepted += ref;
    if (ref && !whole && !rows && stricter_reason(m1) && stricter_reason(m2)) {
        t->stricter++;
        return;
    }
    if (ref != whole || ref != rows) {
        if (t->mismatches++ < 20)
            fprintf(stderr, "MISMATCH %s (%zu bytes): libspng %s, whole: %s, rows: %s\n", what, n,
                    ref ? "accepts" : "refuses", m1, m2);
    }
}

/* ---- PNGs built with zlib --------------------------------------------- */

typedef struct spec {
    unsigned ct, depth, interlace;
    uint32_t w, h;
} spec;

static unsigned channels(unsigned ct) { return ct == 2 ? 3 : ct == 4 ? 2 : ct == 6 ? 4 : 1; }

/* The filtered image data: each scanline a random filter type 0-4 and
 * random bytes (any bytes unfilter to some image). */
static unsigned char *make_raw(const spec *s, uint64_t *rng, size_t *n)
{
    static const uint32_t sx[7] = {0, 4, 0, 2, 0, 1, 0}, sy[7] = {0, 0, 4, 0, 2, 0, 1};
    static const uint32_t dx[7] = {8, 8, 4, 4, 2, 2, 1}, dy[7] = {8, 8, 8, 4, 4, 2, 2};
    size_t bits = (size_t)channels(s->ct) * s->depth, cap = 0;
    unsigned char *raw = malloc(((size_t)s->w * bits / 8 + 2) * s->h * 2 + 64);
    assert_non_null(raw);
    int passes = s->interlace ? 7 : 1;
    for (int p = 0; p < passes; p++) {
        size_t w = s->w, h = s->h;
        if (s->interlace) {
            w = s->w > sx[p] ? (s->w - sx[p] + dx[p] - 1) / dx[p] : 0;
            h = s->h > sy[p] ? (s->h - sy[p] + dy[p] - 1) / dy[p] : 0;
        }
        if (!w || !h) continue;
        size_t line = 1 + (w * bits + 7) / 8;
        for (size_t y = 0; y < h; y++) {
            raw[cap] = (unsigned char)(tu_rand(rng) % 5);
            for (size_t i = 1; i < line; i++) raw[cap + i] = (unsigned char)tu_rand(rng);
            /* palette indexes must stay below the palette's 2 entries... of
             * a 1-bit depth; deeper palette images get a 256-entry PLTE */
            cap += line;
        }
    }
    *n = cap;
    return raw;
}

static unsigned char *zlib_of(const unsigned char *raw, size_t n, size_t *zn)
{
    uLongf cap = compressBound(n) + 16;
    unsigned char *z = malloc(cap);
    assert_non_null(z);
    assert_int_equal(compress2(z, &cap, raw, n, 6), Z_OK);
    *zn = cap;
    return z;
}

typedef struct pngbuf {
    unsigned char *d;
    size_t n, cap;
} pngbuf;

static void put_chunk(pngbuf *b, const char *type, const void *data, size_t len)
{
    if (b->n + len + 12 > b->cap) {
        b->cap = (b->n + len + 12) * 2;
        b->d = realloc(b->d, b->cap);
        assert_non_null(b->d);
    }
    unsigned char *p = b->d + b->n;
    put_be32(p, (uint32_t)len);
    memcpy(p + 4, type, 4);
    if (len) memcpy(p + 8, data, len);
    put_be32(p + 8 + len, (uint32_t)crc32(0, p + 4, (uInt)len + 4));
    b->n += 12 + len;
}

/* Layout options for build(). */
enum {
    L_TEXT_AFTER = 1,     /* a tEXt chunk after the image data */
    L_TEXT_BETWEEN = 2,   /* a tEXt chunk between the first and the other IDATs */
    L_EMPTY_IDAT = 4,     /* an empty IDAT chunk after the others */
    L_TRNS = 8,           /* a tRNS chunk (palette images) */
    L_IDAT_BEFORE_PLTE = 16,
    L_NO_IDAT = 32,
};

/* A whole PNG: IHDR (w, h as given, which may disagree with the data on
 * purpose), PLTE for palette images, the zlib stream split over `nidat`
 * IDAT chunks, IEND. */
static pngbuf build(const spec *s, uint32_t w, uint32_t h, const unsigned char *z, size_t zn, unsigned nidat,
                    unsigned layout)
{
    pngbuf b = {NULL, 0, 0};
    b.cap = zn + 2048;
    b.d = malloc(b.cap);
    assert_non_null(b.d);
    memcpy(b.d, png_sig, 8);
    b.n = 8;
    unsigned char ihdr[13];
    put_be32(ihdr, w);
    put_be32(ihdr + 4, h);
    ihdr[8] = (unsigned char)s->depth;
    ihdr[9] = (unsigned char)s->ct;
    ihdr[10] = ihdr[11] = 0;
    ihdr[12] = (unsigned char)s->interlace;
    put_chunk(&b, "IHDR", ihdr, 13);
    size_t per = nidat > 1 ? zn / nidat : zn;
    size_t off = 0;
    if (s->ct == 3) {
        unsigned char plte[3 * 256];
        for (int i = 0; i < 3 * 256; i++) plte[i] = (unsigned char)i;
        size_t entries = (size_t)1 << s->depth;
        if (layout & L_IDAT_BEFORE_PLTE) {
            put_chunk(&b, "IDAT", z, zn);
            off = zn;
        }
        put_chunk(&b, "PLTE", plte, 3 * entries);
        if (layout & L_TRNS) put_chunk(&b, "tRNS", "\x00\x80", 2);
    }
    if (!(layout & L_NO_IDAT)) {
        for (unsigned k = 0; off < zn || k == 0; k++) {
            size_t len = k + 1 == nidat || per == 0 ? zn - off : per;
            put_chunk(&b, "IDAT", z + off, len);
            off += len;
            if (k == 0 && (layout & L_TEXT_BETWEEN)) put_chunk(&b, "tEXt", "k\0v", 3);
            if (off >= zn) break;
        }
        if (layout & L_EMPTY_IDAT) put_chunk(&b, "IDAT", NULL, 0);
    }
    if (layout & L_TEXT_AFTER) put_chunk(&b, "tEXt", "parameters\0a cat", 16);
    put_chunk(&b, "IEND", NULL, 0);
    return b;
}

static const spec all_specs[] = {
    {0, 1, 0, 13, 7}, {0, 2, 0, 13, 7}, {0, 4, 1, 13, 7}, {0, 8, 0, 13, 7}, {0, 16, 1, 13, 7},
    {2, 8, 0, 13, 7}, {2, 16, 1, 13, 7}, {3, 1, 1, 13, 7}, {3, 2, 0, 13, 7}, {3, 4, 1, 13, 7},
    {3, 8, 0, 13, 7}, {4, 8, 1, 13, 7}, {4, 16, 0, 13, 7}, {6, 8, 1, 13, 7}, {6, 16, 0, 13, 7},
    {2, 8, 1, 1, 1},  {6, 8, 1, 3, 9},  {0, 1, 1, 2, 2},  {3, 8, 1, 9, 3},  {6, 16, 1, 17, 17},
};
#define NSPECS (sizeof all_specs / sizeof all_specs[0])

static void finish(const tally *t, const char *what)
{
    fprintf(stderr, "%s: %u cases, %u accepted by libspng, %u refused only by the exact-size/Adler-32 rule, %u mismatches\n",
            what, t->cases, t->accepted, t->stricter, t->mismatches);
    assert_int_equal(t->mismatches, 0);
    assert_true(t->accepted > 0 && t->accepted < t->cases);
}

static void test_built_images(void **state)
{
    (void)state;
    tally t = {0};
    uint64_t rng = 1;
    char what[128];
    for (size_t i = 0; i < NSPECS; i++) {
        const spec *s = &all_specs[i];
        size_t rn, zn;
        unsigned char *raw = make_raw(s, &rng, &rn);
        unsigned char *z = zlib_of(raw, rn, &zn);
        for (unsigned nidat = 1; nidat <= 3; nidat += 2)
            for (unsigned layout = 0; layout <= (L_TEXT_AFTER | L_TEXT_BETWEEN | L_EMPTY_IDAT | L_TRNS); layout++) {
                if ((layout & L_TRNS) && s->ct != 3) continue;
                pngbuf b = build(s, s->w, s->h, z, zn, nidat, layout);
                snprintf(what, sizeof what, "spec %zu, %u IDATs, layout %u", i, nidat, layout);
                compare(&t, b.d, b.n, what);
                free(b.d);
            }
        unsigned odd[] = {L_IDAT_BEFORE_PLTE, L_NO_IDAT};
        for (size_t k = 0; k < 2; k++) {
            pngbuf b = build(s, s->w, s->h, z, zn, 1, odd[k]);
            snprintf(what, sizeof what, "spec %zu, layout %u", i, odd[k]);
            compare(&t, b.d, b.n, what);
            free(b.d);
        }
        free(z);
        free(raw);
    }
    finish(&t, "built images and layouts");
}

/* Every length of the zlib stream from 0 to whole, CRCs resealed. */
static void test_zlib_truncations(void **state)
{
    (void)state;
    tally t = {0};
    uint64_t rng = 2;
    char what[128];
    for (size_t i = 0; i < NSPECS; i++) {
        const spec *s = &all_specs[i];
        size_t rn, zn;
        unsigned char *raw = make_raw(s, &rng, &rn);
        unsigned char *z = zlib_of(raw, rn, &zn);
        for (size_t cut = 0; cut <= zn; cut++) {
            pngbuf b = build(s, s->w, s->h, z, cut, 1 + (unsigned)(cut % 3), 0);
            snprintf(what, sizeof what, "spec %zu, zlib stream cut to %zu of %zu", i, cut, zn);
            compare(&t, b.d, b.n, what);
            free(b.d);
        }
        free(z);
        free(raw);
    }
    finish(&t, "zlib stream truncations");
}

/* Every length of two whole files. */
static void test_file_truncations(void **state)
{
    (void)state;
    tally t = {0};
    uint64_t rng = 3;
    char what[128];
    size_t pick[] = {3, 16};
    for (size_t k = 0; k < 2; k++) {
        const spec *s = &all_specs[pick[k]];
        size_t rn, zn;
        unsigned char *raw = make_raw(s, &rng, &rn);
        unsigned char *z = zlib_of(raw, rn, &zn);
        pngbuf b = build(s, s->w, s->h, z, zn, 2, L_TEXT_AFTER);
        for (size_t cut = 0; cut <= b.n; cut++) {
            snprintf(what, sizeof what, "spec %zu, file cut to %zu of %zu", pick[k], cut, b.n);
            compare(&t, b.d, cut, what);
        }
        free(b.d);
        free(z);
        free(raw);
    }
    finish(&t, "file truncations");
}

/* Every bit of the zlib stream of four images flipped in turn (CRCs
 * resealed, so only the pixel data check can see it), and 64 random flips
 * in each of the others. */
static void test_idat_bit_flips(void **state)
{
    (void)state;
    tally t = {0};
    uint64_t rng = 4;
    char what[128];
    for (size_t i = 0; i < NSPECS; i++) {
        const spec *s = &all_specs[i];
        size_t rn, zn;
        unsigned char *raw = make_raw(s, &rng, &rn);
        unsigned char *z = zlib_of(raw, rn, &zn);
        int every = i == 0 || i == 7 || i == 13 || i == 16;
        size_t flips = every ? zn * 8 : 64;
        for (size_t f = 0; f < flips; f++) {
            size_t bit = every ? f : (size_t)(tu_rand(&rng) % (zn * 8));
            z[bit / 8] ^= (unsigned char)(1u << (bit % 8));
            pngbuf b = build(s, s->w, s->h, z, zn, 1, 0);
            z[bit / 8] ^= (unsigned char)(1u << (bit % 8));
            snprintf(what, sizeof what, "spec %zu, zlib bit %zu flipped", i, bit);
            compare(&t, b.d, b.n, what);
            free(b.d);
        }
        free(z);
        free(raw);
    }
    finish(&t, "IDAT bit flips");
}

/* Bad filter types, IHDR sizes off by one, too much or too little data,
 * bytes after the zlib stream, zlib headers libspng refuses. */
static void test_wrong_data(void **state)
{
    (void)state;
    tally t = {0};
    uint64_t rng = 5;
    char what[160];
    for (size_t i = 0; i < NSPECS; i++) {
        const spec *s = &all_specs[i];
        size_t rn, zn;
        unsigned char *raw = make_raw(s, &rng, &rn);
        unsigned char *z;
        pngbuf b;

        /* A filter type of 5, 6, 128, 255 in the first, a middle, the last row. */
        static const unsigned bad[] = {5, 6, 128, 255};
        size_t rows_at[3] = {0, 0, 0};
        {
            /* find scanline starts: the first is 0; the last is the final
             * line of the last pass; the middle any one found by walking */
            size_t line0 = 0, last = 0, count = 0, mid = 0;
            static const uint32_t sx[7] = {0, 4, 0, 2, 0, 1, 0}, sy[7] = {0, 0, 4, 0, 2, 0, 1};
            static const uint32_t dx[7] = {8, 8, 4, 4, 2, 2, 1}, dy[7] = {8, 8, 8, 4, 4, 2, 2};
            size_t bits = (size_t)channels(s->ct) * s->depth, pos = 0;
            for (int p = 0; p < (s->interlace ? 7 : 1); p++) {
                size_t w = s->w, h = s->h;
                if (s->interlace) {
                    w = s->w > sx[p] ? (s->w - sx[p] + dx[p] - 1) / dx[p] : 0;
                    h = s->h > sy[p] ? (s->h - sy[p] + dy[p] - 1) / dy[p] : 0;
                }
                if (!w || !h) continue;
                for (size_t y = 0; y < h; y++) {
                    if (count++ == 3) mid = pos;
                    last = pos;
                    pos += 1 + (w * bits + 7) / 8;
                }
            }
            rows_at[0] = line0;
            rows_at[1] = mid;
            rows_at[2] = last;
        }
        for (size_t r = 0; r < 3; r++)
            for (size_t k = 0; k < 4; k++) {
                unsigned char keep = raw[rows_at[r]];
                raw[rows_at[r]] = (unsigned char)bad[k];
                size_t zn2;
                z = zlib_of(raw, rn, &zn2);
                raw[rows_at[r]] = keep;
                b = build(s, s->w, s->h, z, zn2, 1, 0);
                snprintf(what, sizeof what, "spec %zu, filter type %u at inflated offset %zu", i, bad[k], rows_at[r]);
                compare(&t, b.d, b.n, what);
                free(b.d);
                free(z);
            }

        /* IHDR width and height off by one either way. */
        z = zlib_of(raw, rn, &zn);
        for (int dw = -1; dw <= 1; dw++)
            for (int dh = -1; dh <= 1; dh++) {
                b = build(s, (uint32_t)((int)s->w + dw), (uint32_t)((int)s->h + dh), z, zn, 1, 0);
                snprintf(what, sizeof what, "spec %zu, IHDR size %+d,%+d", i, dw, dh);
                compare(&t, b.d, b.n, what);
                free(b.d);
            }

        /* Bytes after the zlib stream, in its IDAT or in one more. */
        unsigned char *z2 = malloc(zn + 8);
        assert_non_null(z2);
        memcpy(z2, z, zn);
        memset(z2 + zn, 0, 8);
        for (size_t extra = 1; extra <= 8; extra += 3) {
            b = build(s, s->w, s->h, z2, zn + extra, 1, 0);
            snprintf(what, sizeof what, "spec %zu, %zu bytes after the zlib stream", i, extra);
            compare(&t, b.d, b.n, what);
            free(b.d);
        }
        /* The Adler-32 wrong, then missing. */
        z2[zn - 1] ^= 1;
        b = build(s, s->w, s->h, z2, zn, 1, 0);
        snprintf(what, sizeof what, "spec %zu, Adler-32 wrong", i);
        compare(&t, b.d, b.n, what);
        free(b.d);
        for (size_t cut = 1; cut <= 4; cut++) {
            b = build(s, s->w, s->h, z, zn - cut, 1, 0);
            snprintf(what, sizeof what, "spec %zu, Adler-32 cut by %zu", i, cut);
            compare(&t, b.d, b.n, what);
            free(b.d);
        }
        /* zlib headers: window 64 KiB (CINFO 8), a preset dictionary, check bits. */
        static const unsigned char hdrs[][2] = {{0x88, 0x98}, {0x78, 0xBB}, {0x78, 0x9D}, {0x79, 0x9C}, {0x78, 0x01}};
        for (size_t k = 0; k < sizeof hdrs / sizeof hdrs[0]; k++) {
            memcpy(z2, z, zn);
            memcpy(z2, hdrs[k], 2);
            b = build(s, s->w, s->h, z2, zn, 1, 0);
            snprintf(what, sizeof what, "spec %zu, zlib header %02X %02X", i, hdrs[k][0], hdrs[k][1]);
            compare(&t, b.d, b.n, what);
            free(b.d);
        }
        free(z2);
        free(z);

        /* One byte too many or too few inflated. */
        for (int delta = -1; delta <= 1; delta += 2) {
            unsigned char *r2 = malloc(rn + 1);
            assert_non_null(r2);
            memcpy(r2, raw, rn);
            r2[rn] = 0;
            size_t zn2;
            z = zlib_of(r2, (size_t)((long)rn + delta), &zn2);
            b = build(s, s->w, s->h, z, zn2, 2, 0);
            snprintf(what, sizeof what, "spec %zu, %+d inflated bytes", i, delta);
            compare(&t, b.d, b.n, what);
            free(b.d);
            free(z);
            free(r2);
        }
        free(raw);
    }
    finish(&t, "wrong data");
}

/* The generators' PNGs of tests/data: accepted, and a few resealed flips
 * in the first IDAT of each refused exactly when libspng refuses. */
static void test_fixtures(void **state)
{
    (void)state;
    static const char *const files[] = {"comfyui.png", "empty.png", "forge.png", "invokeai.png",
                                        "novelai-full.png", "ruined-fooocus.png", "sd-webui.png", "swarmui.png"};
    tally t = {0};
    uint64_t rng = 6;
    char what[160];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        size_t n;
        unsigned char *d = tu_read_data(files[i], &n);
        char m[RF_ERRMSG_SIZE];
        if (!new_accepts(d, n, RF_PNG_WHOLE_LIMIT, m, sizeof m)) fail_msg("%s: %s", files[i], m);
        compare(&t, d, n, files[i]);
        /* the first IDAT chunk */
        size_t pos = 8;
        while (memcmp(d + pos + 4, "IDAT", 4)) pos += 12 + be32(d + pos);
        uint32_t len = be32(d + pos);
        for (int f = 0; f < 3; f++) {
            size_t bit = (size_t)(tu_rand(&rng) % ((uint64_t)len * 8));
            d[pos + 8 + bit / 8] ^= (unsigned char)(1u << (bit % 8));
            uint32_t keep = be32(d + pos + 8 + len);
            put_be32(d + pos + 8 + len, (uint32_t)crc32(0, d + pos + 4, len + 4));
            snprintf(what, sizeof what, "%s, IDAT bit %zu flipped", files[i], bit);
            compare(&t, d, n, what);
            d[pos + 8 + bit / 8] ^= (unsigned char)(1u << (bit % 8));
            put_be32(d + pos + 8 + len, keep);
        }
        free(d);
    }
    fprintf(stderr, "fixtures: %u cases, %u accepted, %u mismatches\n", t.cases, t.accepted, t.mismatches);
    assert_int_equal(t.mismatches, 0);
}

/* Images over the whole-image limit, which the check inflates in pieces
 * (ISA-L) at the default limit too: an 8192x8192 grey image (64 MiB and
 * 8192 filter bytes inflated) whose rows cycle through filter types 0-4,
 * a few with random bytes; the same with filter type 5 on a late row; its
 * zlib stream cut in the middle and inside the Adler-32; its Adler-32
 * wrong.  libspng's full decode is the reference for each. */
static void test_large_images(void **state)
{
    (void)state;
    tally t = {0};
    uint64_t rng = 6;
    const spec s = {0, 8, 0, 8192, 8192};
    size_t line = 1 + s.w, rn = line * s.h;
    assert_true(rn > RF_PNG_WHOLE_LIMIT);
    unsigned char *raw = calloc(rn, 1);
    assert_non_null(raw);
    for (uint32_t y = 0; y < s.h; y++) {
        raw[y * line] = (unsigned char)(y % 5);
        if (y % 64 == 0)
            for (size_t x = 1; x < line; x++) raw[y * line + x] = (unsigned char)tu_rand(&rng);
    }
    char m[RF_ERRMSG_SIZE];
    for (int bad = 0; bad <= 1; bad++) {
        if (bad) raw[8000 * line] = 5;
        size_t zn;
        unsigned char *z = zlib_of(raw, rn, &zn);
        pngbuf b = build(&s, s.w, s.h, z, zn, 3, 0);
        compare(&t, b.d, b.n, bad ? "8192x8192, filter type 5 on row 8000" : "8192x8192");
        assert_int_equal(new_accepts(b.d, b.n, RF_PNG_WHOLE_LIMIT, m, sizeof m), !bad);
        if (bad) assert_non_null(strstr(m, "scanline 8000 "));
        free(b.d);
        if (!bad) {
            size_t cuts[] = {zn / 2, zn - 2};
            for (size_t k = 0; k < 2; k++) {
                b = build(&s, s.w, s.h, z, cuts[k], 2, 0);
                compare(&t, b.d, b.n, k ? "8192x8192, zlib stream cut inside its Adler-32" : "8192x8192, zlib stream cut in half");
                assert_false(new_accepts(b.d, b.n, RF_PNG_WHOLE_LIMIT, m, sizeof m));
                free(b.d);
            }
            z[zn - 1] ^= 1;
            b = build(&s, s.w, s.h, z, zn, 1, 0);
            compare(&t, b.d, b.n, "8192x8192, Adler-32 wrong");
            assert_false(new_accepts(b.d, b.n, RF_PNG_WHOLE_LIMIT, m, sizeof m));
            assert_non_null(strstr(m, "Adler-32 mismatch"));
            free(b.d);
        }
        free(z);
    }
    free(raw);
    finish(&t, "large images");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_built_images),   cmocka_unit_test(test_zlib_truncations),
        cmocka_unit_test(test_file_truncations), cmocka_unit_test(test_idat_bit_flips),
        cmocka_unit_test(test_wrong_data),     cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_large_images),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
