/*
 * image_png_check.c -- knowing a PNG decodes without decoding it.
 *
 * A full decode (inflate, unfilter, deinterlace) was 85% of creating a file.
 * Unfiltering and deinterlacing cannot fail once the inflated data has the
 * exact size the IHDR implies and every scanline starts with a filter type
 * 0-4, so the check stops there: libdeflate inflates the concatenated IDAT
 * data in one call, the filter bytes are read straight after, and the
 * Adler-32 is compared.  That is the same guarantee at the speed of inflate.
 *
 * What libspng checks besides the pixels -- the IHDR's legality, the order
 * and syntax of every other chunk (PLTE, tRNS, text, unknown critical
 * chunks, ...) -- stays libspng's: it reads the original up to the first
 * IDAT, and then a copy whose IHDR says 1x1 and whose IDAT run is replaced by
 * one tiny stored block, so it walks every chunk after the image data too
 * without inflating a byte of it.  tests/test_png_check.c shows this accepts
 * and refuses exactly what the full libspng decode does.
 *
 * Memory: the inflated image is held whole (in huge pages where it is large:
 * bigbuf.h) only up to `whole_limit` bytes
 * (64 MiB by default, a 4096x4096 RGBA image); beyond that ISA-L inflates it
 * 256 KiB at a time (about six times zlib's speed on a PNG bomb: issue 17),
 * the filter bytes checked as each piece arrives.
 */
#include "image_codecs.h"
#include "bigbuf.h"

#include <libdeflate.h>
#include <spng.h>
#include <isa-l/igzip_lib.h>

#include <stdlib.h>
#include <string.h>

static const unsigned char png_sig[8] = { 0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A };

/* Caps that keep a hostile header from making libspng allocate without
 * bound.  The dimension cap is far above any generator's output; the real
 * guard is the decoded-size cap, checked before any inflating starts. */
#define PNG_MAX_DIM (1u << 24)
#define PNG_MAX_DECODED ((size_t)1 << 30)
#define PNG_MAX_CHUNK ((size_t)64 << 20)
#define PNG_MAX_CACHE ((size_t)256 << 20)

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

static int is_letter(unsigned char ch) { return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z'); }

/* Where the image data lies: the run of consecutive IDAT chunks. */
typedef struct png_layout {
    size_t idat_first; /* offset of the first IDAT chunk; 0: none */
    size_t idat_end;   /* offset just past the last IDAT chunk */
    size_t idat_bytes; /* data bytes in all IDAT chunks together */
    unsigned idat_count;
} png_layout;

/* Walks every chunk and checks its framing and CRC, because libspng stops
 * reading once it has what it needs: this is what makes a flipped bit
 * anywhere in the file an error.  Also finds the IDAT run. */
static int png_walk(const unsigned char *d, size_t size, int check_crc, png_layout *L, rf_err *e)
{
    memset(L, 0, sizeof *L);
    size_t pos = sizeof png_sig;
    int first = 1, prev_idat = 0;
    for (;;) {
        if (pos == size) return rf_fail(e, RAIIAF_E_IMAGE, "PNG: data ends at offset %zu before IEND", pos);
        if (size - pos < 12)
            return rf_fail(e, RAIIAF_E_IMAGE,
                           "PNG: truncated chunk at offset %zu (12 header and CRC bytes needed, %zu remain)",
                           pos, size - pos);

        uint32_t len = be32(d + pos);
        const unsigned char *type = d + pos + 4;
        if (!is_letter(type[0]) || !is_letter(type[1]) || !is_letter(type[2]) || !is_letter(type[3]))
            return rf_fail(e, RAIIAF_E_IMAGE,
                           "PNG: chunk at offset %zu: type bytes %02X %02X %02X %02X are not ASCII letters",
                           pos, type[0], type[1], type[2], type[3]);
        char name[5];
        memcpy(name, type, 4);
        name[4] = '\0';

        if (len > 0x7FFFFFFFu)
            return rf_fail(e, RAIIAF_E_IMAGE, "PNG: chunk %s at offset %zu: length %lu exceeds 2^31-1",
                           name, pos, (unsigned long)len);
        if (len > size - pos - 12)
            return rf_fail(e, RAIIAF_E_IMAGE,
                           "PNG: chunk %s at offset %zu: truncated (declares %lu data bytes, %zu remain)",
                           name, pos, (unsigned long)len, size - pos - 12);
        if (first && (memcmp(name, "IHDR", 4) != 0 || len != 13))
            return rf_fail(e, RAIIAF_E_IMAGE,
                           "PNG: first chunk at offset %zu is %s of %lu bytes, not a 13-byte IHDR",
                           pos, name, (unsigned long)len);

        /* The CRC covers type and data, not the length field. */
        uint32_t want = be32(d + pos + 8 + len);
        if (check_crc && (uint32_t)libdeflate_crc32(0, type, (size_t)len + 4) != want)
            return rf_fail(e, RAIIAF_E_IMAGE, "PNG: chunk %s at offset %zu: CRC mismatch", name, pos);

        size_t next = pos + 12 + len;
        int is_idat = memcmp(name, "IDAT", 4) == 0;
        if (is_idat) {
            if (L->idat_first && !prev_idat)
                return rf_fail(e, RAIIAF_E_IMAGE,
                               "PNG: chunk IDAT at offset %zu: the image data must be one run of consecutive IDAT "
                               "chunks, and another chunk ended the run at offset %zu",
                               pos, L->idat_end);
            if (!L->idat_first) L->idat_first = pos;
            L->idat_end = next;
            L->idat_bytes += len;
            L->idat_count++;
        }
        prev_idat = is_idat;
        if (memcmp(name, "IEND", 4) == 0) {
            if (len != 0)
                return rf_fail(e, RAIIAF_E_IMAGE, "PNG: chunk IEND at offset %zu: has %lu data bytes, must be empty",
                               pos, (unsigned long)len);
            if (next != size)
                return rf_fail(e, RAIIAF_E_IMAGE, "PNG: %zu bytes of trailing data after IEND at offset %zu",
                               size - next, next);
            return RAIIAF_OK;
        }
        first = 0;
        pos = next;
    }
}

static int spng_setup(spng_ctx *ctx, const void *d, size_t size)
{
    int r = spng_set_png_buffer(ctx, d, size);
    if (!r) r = spng_set_image_limits(ctx, PNG_MAX_DIM, PNG_MAX_DIM);
    if (!r) r = spng_set_chunk_limits(ctx, PNG_MAX_CHUNK, PNG_MAX_CACHE);
    if (!r) r = spng_set_crc_action(ctx, SPNG_CRC_ERROR, SPNG_CRC_ERROR);
    return r;
}

static unsigned png_channels(unsigned color_type)
{
    switch (color_type) {
    case 2: return 3;
    case 4: return 2;
    case 6: return 4;
    default: return 1; /* 0 grey, 3 palette */
    }
}

/* The original's header through libspng: legality, the dimension caps and
 * the decoded-size cap, all before anything is inflated. */
static int png_header(const unsigned char *d, size_t size, struct spng_ihdr *ihdr, rf_err *e)
{
    spng_ctx *ctx = spng_ctx_new(0);
    if (!ctx) return rf_fail(e, RAIIAF_E_NOMEM, "PNG: out of memory creating the decoder");
    int rc = RAIIAF_OK;
    size_t img_size = 0;
    int r = spng_setup(ctx, d, size);
    if (r) {
        rc = rf_fail(e, RAIIAF_E_IMAGE, "PNG: cannot set up the decoder: %s", spng_strerror(r));
    } else if ((r = spng_get_ihdr(ctx, ihdr))) {
        rc = rf_fail(e, RAIIAF_E_IMAGE, "PNG: header: %s", spng_strerror(r));
    } else if ((r = spng_decoded_image_size(ctx, SPNG_FMT_PNG, &img_size))) {
        /* SPNG_FMT_PNG keeps the file's own pixel layout: the size is
         * exactly what a decode would produce. */
        rc = rf_fail(e, RAIIAF_E_IMAGE, "PNG: %lux%lu image: %s", (unsigned long)ihdr->width,
                     (unsigned long)ihdr->height, spng_strerror(r));
    } else if (img_size > PNG_MAX_DECODED) {
        rc = rf_fail(e, RAIIAF_E_IMAGE, "PNG: %lux%lu image decodes to %zu bytes, over the 1 GiB limit",
                     (unsigned long)ihdr->width, (unsigned long)ihdr->height, img_size);
    } else if (ihdr->width == 0 || ihdr->height == 0) {
        rc = rf_fail(e, RAIIAF_E_IMAGE, "PNG: unexpected image geometry %lux%lu", (unsigned long)ihdr->width,
                     (unsigned long)ihdr->height);
    }
    spng_ctx_free(ctx);
    return rc;
}

/* Every chunk but IDAT through libspng's rules: a copy of the file whose
 * IHDR says 1x1, not interlaced, and whose IDAT run is one stored zlib block
 * holding that single pixel, decoded and then read to IEND. */
static int png_chunk_rules(const unsigned char *d, size_t size, const png_layout *L, const struct spng_ihdr *ihdr,
                           rf_err *e)
{
    unsigned bits = png_channels(ihdr->color_type) * ihdr->bit_depth;
    unsigned char raw[1 + 8] = {0}; /* filter type 0, one pixel of zeros (palette index 0) */
    size_t nraw = 1 + (bits + 7) / 8;
    unsigned char idat[12 + 2 + 5 + sizeof raw + 4];
    size_t nidat = 0;
    unsigned char *z = idat + 8;
    z[0] = 0x78;
    z[1] = 0x01;        /* zlib header: deflate, 32 KiB window, check bits */
    z[2] = 0x01;        /* the last block, stored */
    z[3] = (unsigned char)nraw;
    z[4] = 0;
    z[5] = (unsigned char)~nraw;
    z[6] = 0xFF;
    memcpy(z + 7, raw, nraw);
    put_be32(z + 7 + nraw, (uint32_t)libdeflate_adler32(1, raw, nraw));
    size_t nz = 7 + nraw + 4;
    put_be32(idat, (uint32_t)nz);
    memcpy(idat + 4, "IDAT", 4);
    put_be32(idat + 8 + nz, (uint32_t)libdeflate_crc32(0, idat + 4, nz + 4));
    nidat = 12 + nz;

    size_t before = L->idat_first, after = size - L->idat_end;
    size_t msize = before + nidat + after;
    unsigned char *m = malloc(msize);
    if (!m) return rf_fail(e, RAIIAF_E_NOMEM, "PNG: out of memory for %zu bytes of chunks", msize);
    memcpy(m, d, before);
    memcpy(m + before, idat, nidat);
    memcpy(m + before + nidat, d + L->idat_end, after);
    /* IHDR: width and height 1 (bytes 16-23), interlace method 0 (byte 28). */
    put_be32(m + 16, 1);
    put_be32(m + 20, 1);
    m[28] = 0;
    put_be32(m + 29, (uint32_t)libdeflate_crc32(0, m + 12, 17));

    int rc = RAIIAF_OK;
    spng_ctx *ctx = spng_ctx_new(0);
    if (!ctx) {
        free(m);
        return rf_fail(e, RAIIAF_E_NOMEM, "PNG: out of memory creating the decoder");
    }
    unsigned char px[64];
    size_t px_size = 0;
    int r = spng_setup(ctx, m, msize);
    if (!r) r = spng_decoded_image_size(ctx, SPNG_FMT_PNG, &px_size);
    if (r) {
        rc = rf_fail(e, RAIIAF_E_IMAGE, "PNG: header: %s", spng_strerror(r));
    } else if (px_size > sizeof px) {
        rc = rf_fail(e, RAIIAF_E_IMAGE, "PNG: unexpected size %zu of one decoded pixel", px_size);
    } else if ((r = spng_decode_image(ctx, px, px_size, SPNG_FMT_PNG, 0)) == SPNG_ECHUNK_LIMITS) {
        /* libspng's words ("reached chunk/cache limits") do not say which */
        rc = rf_fail(e, RAIIAF_E_IMAGE,
                     "PNG: a chunk is larger, or a compressed text chunk inflates to more, than 64 MiB, "
                     "or all together to more than 256 MiB (limits)");
    } else if (r) {
        rc = rf_fail(e, RAIIAF_E_IMAGE, "PNG: chunks before the image data: %s", spng_strerror(r));
    } else if ((r = spng_decode_chunks(ctx))) {
        rc = rf_fail(e, RAIIAF_E_IMAGE, "PNG: chunks after the image data: %s", spng_strerror(r));
    }
    spng_ctx_free(ctx);
    free(m);
    return rc;
}

int rf_png_probe(const unsigned char *d, size_t size, rf_image_desc *out, rf_err *e)
{
    png_layout L;
    int rc = png_walk(d, size, 1, &L, e);
    if (rc) return rc;
    struct spng_ihdr ihdr;
    if ((rc = png_header(d, size, &ihdr, e))) return rc;
    if (!L.idat_first) return rf_fail(e, RAIIAF_E_IMAGE, "PNG: no IDAT chunk: the image has no pixel data");
    if ((rc = png_chunk_rules(d, size, &L, &ihdr, e))) return rc;
    out->format = "png";
    out->width = ihdr.width;
    out->height = ihdr.height;
    return RAIIAF_OK;
}

/* ---------------------------------------------------------------------- */
/* The pixel data                                                          */
/* ---------------------------------------------------------------------- */

/* The scanlines of the image: one pass, or Adam7's seven. */
typedef struct png_geom {
    int npass;
    uint32_t rows[7];
    uint64_t line[7]; /* bytes per scanline, filter byte included; 0: pass empty */
    uint64_t total;   /* inflated bytes the IHDR implies */
    uint64_t widest;
} png_geom;

static void png_geometry(const struct spng_ihdr *h, png_geom *g)
{
    static const uint32_t sx[7] = {0, 4, 0, 2, 0, 1, 0}, sy[7] = {0, 0, 4, 0, 2, 0, 1};
    static const uint32_t dx[7] = {8, 8, 4, 4, 2, 2, 1}, dy[7] = {8, 8, 8, 4, 4, 2, 2};
    uint64_t bits = (uint64_t)png_channels(h->color_type) * h->bit_depth;
    memset(g, 0, sizeof *g);
    g->npass = h->interlace_method ? 7 : 1;
    for (int p = 0; p < g->npass; p++) {
        uint64_t w = h->width, rows = h->height;
        if (h->interlace_method) {
            w = h->width > sx[p] ? (h->width - sx[p] + dx[p] - 1) / dx[p] : 0;
            rows = h->height > sy[p] ? (h->height - sy[p] + dy[p] - 1) / dy[p] : 0;
        }
        if (!w || !rows) continue; /* an empty pass has no scanlines, not even filter bytes */
        g->rows[p] = (uint32_t)rows;
        g->line[p] = 1 + (w * bits + 7) / 8;
        g->total += rows * g->line[p];
        if (g->line[p] > g->widest) g->widest = g->line[p];
    }
}

static int bad_filter(const png_geom *g, int p, uint32_t row, uint64_t at, unsigned f, rf_err *e)
{
    if (g->npass > 1)
        return rf_fail(e, RAIIAF_E_IMAGE,
                       "PNG: image data: scanline %lu of interlace pass %d (inflated offset %llu): filter type %u, "
                       "not 0-4", (unsigned long)row, p + 1, (unsigned long long)at, f);
    return rf_fail(e, RAIIAF_E_IMAGE, "PNG: image data: scanline %lu (inflated offset %llu): filter type %u, not 0-4",
                   (unsigned long)row, (unsigned long long)at, f);
}

/* Checks the filter byte of every scanline of the inflated data. */
static int check_filters(const unsigned char *raw, const png_geom *g, rf_err *e)
{
    uint64_t at = 0;
    for (int p = 0; p < g->npass; p++)
        for (uint32_t y = 0; y < g->rows[p]; y++, at += g->line[p])
            if (raw[at] > 4) return bad_filter(g, p, y, at, raw[at], e);
    return RAIIAF_OK;
}

static int zlib_header(const unsigned char *z, size_t n, size_t at, rf_err *e)
{
    if (n < 2)
        return rf_fail(e, RAIIAF_E_IMAGE, "PNG: IDAT at offset %zu: %zu bytes of image data, too few for a zlib header",
                       at, n);
    unsigned cmf = z[0], flg = z[1];
    if ((cmf & 15) != 8)
        return rf_fail(e, RAIIAF_E_IMAGE, "PNG: IDAT at offset %zu: zlib compression method %u, not 8 (deflate)", at,
                       cmf & 15);
    if ((cmf >> 4) > 7)
        return rf_fail(e, RAIIAF_E_IMAGE, "PNG: IDAT at offset %zu: zlib window size 2^%u exceeds 32 KiB", at,
                       (cmf >> 4) + 8);
    if ((cmf * 256 + flg) % 31)
        return rf_fail(e, RAIIAF_E_IMAGE, "PNG: IDAT at offset %zu: zlib header check bits are wrong (%02X %02X)", at,
                       cmf, flg);
    if (flg & 0x20)
        return rf_fail(e, RAIIAF_E_IMAGE, "PNG: IDAT at offset %zu: zlib stream asks for a preset dictionary", at);
    return RAIIAF_OK;
}

/* The IDAT run as inflate input, one chunk at a time. */
typedef struct idat_feed {
    const unsigned char *d;
    size_t pos, end; /* next chunk; end of the run */
} idat_feed;

static int feed_more(idat_feed *f, struct inflate_state *s)
{
    while (f->pos < f->end) {
        uint32_t len = be32(f->d + f->pos);
        s->next_in = (uint8_t *)(f->d + f->pos + 8);
        s->avail_in = len;
        f->pos += 12 + (size_t)len;
        if (len) return 1;
    }
    return 0;
}

/* What inflate_some stopped on, besides ISA-L's own (negative) errors. */
enum { INF_FULL = 1, INF_END = 2, INF_CUT = 3 };

/* Inflates up to `n` bytes into `out`, setting *got.  Returns INF_FULL when
 * all n came, INF_END when the stream ended first (ISA-L has then checked
 * the Adler-32 too), INF_CUT when the IDAT data ran out first, or ISA-L's
 * error.  isal_inflate() stops only when it has filled the output, used up
 * the input, or finished, so an empty input after a call means "feed". */
static int inflate_some(struct inflate_state *s, idat_feed *f, unsigned char *out, uint32_t n, uint32_t *got)
{
    s->next_out = out;
    s->avail_out = n;
    int rc = INF_FULL;
    for (;;) {
        if (!s->avail_out) break; /* full, whether or not the stream also ended */
        if (s->block_state == ISAL_BLOCK_FINISH) { rc = INF_END; break; }
        if (!s->avail_in && !feed_more(f, s)) {
            /* One last call with no input flushes what ISA-L holds. */
            uint32_t before = s->avail_out;
            int r = isal_inflate(s);
            if (r != ISAL_DECOMP_OK) { rc = r < 0 ? r : ISAL_INVALID_BLOCK; break; }
            if (s->block_state == ISAL_BLOCK_FINISH || !s->avail_out || s->avail_out != before) continue;
            rc = INF_CUT;
            break;
        }
        uint32_t in0 = s->avail_in, out0 = s->avail_out;
        int r = isal_inflate(s);
        if (r != ISAL_DECOMP_OK) { rc = r < 0 ? r : ISAL_INVALID_BLOCK; break; }
        /* Never seen, but a call that moves nothing must not loop forever. */
        if (s->avail_in == in0 && s->avail_out == out0 && s->block_state != ISAL_BLOCK_FINISH) {
            rc = ISAL_INVALID_BLOCK;
            break;
        }
    }
    *got = n - s->avail_out;
    return rc;
}

static const char *isal_reason(int r)
{
    switch (r) {
    case ISAL_INVALID_BLOCK: return "invalid deflate block";
    case ISAL_INVALID_SYMBOL: return "invalid Huffman code or symbol";
    case ISAL_INVALID_LOOKBACK: return "invalid distance too far back";
    case ISAL_INVALID_WRAPPER: return "invalid zlib header";
    case ISAL_UNSUPPORTED_METHOD: return "unsupported compression method";
    default: return "error";
    }
}

/* ISA-L decodes ahead of the output it was given: an error with every
 * byte of the image out (the Adler-32 aside) lies in data after it. */
static int too_much(const png_layout *L, const png_geom *g, const struct spng_ihdr *h, const char *why, rf_err *e)
{
    return rf_fail(e, RAIIAF_E_IMAGE,
                   "PNG: image data: the zlib stream in IDAT at offset %zu inflates to more than the %llu bytes a "
                   "%lux%lu image needs, and the data after them is corrupt (%s)",
                   L->idat_first, (unsigned long long)g->total, (unsigned long)h->width, (unsigned long)h->height,
                   why);
}

/* Large images: ISA-L inflates the stream a fixed-size piece at a time
 * (zlib did it at a sixth of the speed: issue 17), and the filter byte of
 * every scanline is checked as each piece arrives. */
#define STREAM_PIECE ((uint32_t)256 << 10)

static int pixels_streamed(const unsigned char *d, const png_layout *L, const png_geom *g,
                           const struct spng_ihdr *h, rf_err *e)
{
    if (L->idat_bytes < 2) return zlib_header(NULL, L->idat_bytes, L->idat_first, e);
    /* The header may straddle chunks; read its two bytes through the walk. */
    unsigned char hdr[2];
    size_t k = 0;
    for (size_t pos = L->idat_first; pos < L->idat_end && k < 2;) {
        uint32_t len = be32(d + pos);
        for (uint32_t i = 0; i < len && k < 2; i++) hdr[k++] = d[pos + 8 + i];
        pos += 12 + (size_t)len;
    }
    int rc = zlib_header(hdr, 2, L->idat_first, e);
    if (rc) return rc;

    unsigned char *buf = malloc(STREAM_PIECE);
    struct inflate_state *s = malloc(sizeof *s); /* ~100 KiB: not on the stack */
    if (!buf || !s) {
        free(buf);
        free(s);
        return rf_fail(e, RAIIAF_E_NOMEM, "PNG: out of memory for the inflate state");
    }
    isal_inflate_init(s);
    s->crc_flag = ISAL_ZLIB; /* ISA-L reads the zlib header and checks the Adler-32 */
    idat_feed f = {d, L->idat_first, L->idat_end};

    uint64_t done = 0, next_row = 0; /* inflated bytes; offset of the next scanline */
    int p = 0;
    uint32_t y = 0;
    while (p < g->npass && !g->rows[p]) p++;
    while (!rc && done < g->total) {
        uint64_t want = g->total - done;
        uint32_t got = 0;
        int r = inflate_some(s, &f, buf, want < STREAM_PIECE ? (uint32_t)want : STREAM_PIECE, &got);
        /* The rows that came are checked first, whatever stopped the inflate. */
        while (p < g->npass && next_row < done + got) {
            unsigned fb = buf[next_row - done];
            if (fb > 4) {
                rc = bad_filter(g, p, y, next_row, fb, e);
                break;
            }
            next_row += g->line[p]; /* the passes follow one another in the stream */
            if (++y == g->rows[p]) {
                y = 0;
                do p++;
                while (p < g->npass && !g->rows[p]);
            }
        }
        done += got;
        if (rc || r == INF_FULL) continue;
        if (r == INF_END || r == INF_CUT)
            rc = rf_fail(e, RAIIAF_E_IMAGE,
                         "PNG: image data: the zlib stream in IDAT at offset %zu %s after %llu bytes, a %lux%lu "
                         "image needs %llu",
                         L->idat_first, r == INF_END ? "ends" : "is cut off", (unsigned long long)done,
                         (unsigned long)h->width, (unsigned long)h->height, (unsigned long long)g->total);
        else if (r == ISAL_INCORRECT_CHECKSUM)
            rc = rf_fail(e, RAIIAF_E_IMAGE, "PNG: image data: Adler-32 mismatch (zlib stream in IDAT at offset %zu)",
                         L->idat_first);
        else if (done == g->total)
            rc = too_much(L, g, h, isal_reason(r), e);
        else
            rc = rf_fail(e, RAIIAF_E_IMAGE, "PNG: image data: inflating the zlib stream in IDAT at offset %zu: %s",
                         L->idat_first, isal_reason(r));
    }
    if (!rc) {
        /* Every row came: the stream must end here, Adler-32 and all. */
        unsigned char extra;
        uint32_t got = 0;
        int r = inflate_some(s, &f, &extra, 1, &got);
        if (got)
            rc = rf_fail(e, RAIIAF_E_IMAGE,
                         "PNG: image data: the zlib stream in IDAT at offset %zu inflates to more than the %llu bytes "
                         "a %lux%lu image needs",
                         L->idat_first, (unsigned long long)g->total, (unsigned long)h->width,
                         (unsigned long)h->height);
        else if (r == INF_CUT)
            rc = rf_fail(e, RAIIAF_E_IMAGE, "PNG: image data: the zlib stream in IDAT at offset %zu is cut off before its end",
                         L->idat_first);
        else if (r == ISAL_INCORRECT_CHECKSUM)
            rc = rf_fail(e, RAIIAF_E_IMAGE, "PNG: image data: Adler-32 mismatch (zlib stream in IDAT at offset %zu)",
                         L->idat_first);
        else if (r != INF_END)
            rc = too_much(L, g, h, isal_reason(r), e);
    }
    free(s);
    free(buf);
    return rc;
}

/* Fast path: the IDAT data in one piece, inflated at once by libdeflate. */
static int pixels_whole(const unsigned char *d, const unsigned char *z, size_t n, const png_layout *L, const png_geom *g,
                        const struct spng_ihdr *h, rf_err *e)
{
    int rc = zlib_header(z, n, L->idat_first, e);
    if (rc) return rc;
    rf_bigbuf rb;
    unsigned char *raw = rf_bigbuf_alloc(&rb, (size_t)g->total) ? NULL : rb.p;
    struct libdeflate_decompressor *dc = libdeflate_alloc_decompressor();
    if (!raw || !dc) {
        rf_bigbuf_free(&rb);
        if (dc) libdeflate_free_decompressor(dc);
        return rf_fail(e, RAIIAF_E_NOMEM, "PNG: out of memory for %llu bytes of image data",
                       (unsigned long long)g->total);
    }
    size_t used = 0, got = 0;
    enum libdeflate_result r =
        libdeflate_deflate_decompress_ex(dc, z + 2, n - 2, raw, (size_t)g->total, &used, &got);
    libdeflate_free_decompressor(dc);
    if (r == LIBDEFLATE_INSUFFICIENT_SPACE)
        rc = rf_fail(e, RAIIAF_E_IMAGE,
                     "PNG: image data: the zlib stream in IDAT at offset %zu inflates to more than the %llu bytes "
                     "a %lux%lu image needs",
                     L->idat_first, (unsigned long long)g->total, (unsigned long)h->width, (unsigned long)h->height);
    else if (r != LIBDEFLATE_SUCCESS) {
        /* libdeflate does not say what is wrong or where; zlib does.  On
         * this failure path only, inflate again row by row for the message
         * (and refuse even if zlib were to accept what libdeflate did not). */
        rc = pixels_streamed(d, L, g, h, e);
        if (!rc)
            rc = rf_fail(e, RAIIAF_E_IMAGE,
                         "PNG: image data: the deflate data of the zlib stream in IDAT at offset %zu (%zu bytes in %u "
                         "chunks) is corrupt",
                         L->idat_first, n, L->idat_count);
    }
    else if (got != g->total)
        rc = rf_fail(e, RAIIAF_E_IMAGE,
                     "PNG: image data: the zlib stream in IDAT at offset %zu inflates to %zu bytes, a %lux%lu image "
                     "needs %llu",
                     L->idat_first, got, (unsigned long)h->width, (unsigned long)h->height,
                     (unsigned long long)g->total);
    /* The filter bytes while the end of the image is still in cache... and
     * all of them: one byte per row is nothing next to inflating it. */
    if (!rc) rc = check_filters(raw, g, e);
    if (!rc && n - 2 - used < 4)
        rc = rf_fail(e, RAIIAF_E_IMAGE, "PNG: image data: the zlib stream ends without its Adler-32 (%zu of 4 bytes)",
                     n - 2 - used);
    if (!rc) {
        uint32_t want = be32(z + 2 + used), have = (uint32_t)libdeflate_adler32(1, raw, got);
        if (want != have)
            rc = rf_fail(e, RAIIAF_E_IMAGE, "PNG: image data: Adler-32 mismatch (stored %08lx, computed %08lx)",
                         (unsigned long)want, (unsigned long)have);
    }
    rf_bigbuf_free(&rb);
    return rc;
}

int rf_png_check_pixels(const unsigned char *d, size_t size, size_t whole_limit, rf_err *e)
{
    png_layout L;
    struct spng_ihdr h;
    /* The probe accepted the data, so the walk and header cannot fail here;
     * the CRCs are not recomputed (the walk is cheap next to inflating). */
    int rc = png_walk(d, size, 0, &L, e);
    if (!rc) rc = png_header(d, size, &h, e);
    if (!rc && !L.idat_first) rc = rf_fail(e, RAIIAF_E_IMAGE, "PNG: no IDAT chunk: the image has no pixel data");
    if (rc) return rc;
    png_geom g;
    png_geometry(&h, &g);
    if (g.total > whole_limit) return pixels_streamed(d, &L, &g, &h, e);

    if (L.idat_count == 1) return pixels_whole(d, d + L.idat_first + 8, L.idat_bytes, &L, &g, &h, e);
    rf_bigbuf zb;
    unsigned char *z = rf_bigbuf_alloc(&zb, L.idat_bytes) ? NULL : zb.p;
    if (!z) return rf_fail(e, RAIIAF_E_NOMEM, "PNG: out of memory for %zu bytes of image data", L.idat_bytes);
    size_t k = 0;
    for (size_t pos = L.idat_first; pos < L.idat_end;) {
        uint32_t len = be32(d + pos);
        memcpy(z + k, d + pos + 8, len);
        k += len;
        pos += 12 + (size_t)len;
    }
    rc = pixels_whole(d, z, k, &L, &g, &h, e);
    rf_bigbuf_free(&zb);
    return rc;
}
