/*
 * image.c -- recognising and validating the image a RAIIAF file carries.
 *
 * The image is stored byte for byte as the caller gave it, so it is checked
 * once, here, before it goes in (and again by the verifier).  PNG gets the
 * strictest check because it can: every byte is covered by a chunk CRC and
 * the pixel data is decoded in full.  JPEG and WebP are checked
 * structurally only (segments and chunks fit, a frame header gives the
 * size); decoding them would need codecs the library does not carry.
 *
 * Input is hostile: every length is checked against what remains before it
 * is used, arithmetic is done so that it cannot overflow, and memory stays
 * bounded (one decoded row for PNG, nothing for the others).
 */
#include "internal.h"

#include <spng.h>

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------- */
/* PNG                                                                    */
/* ---------------------------------------------------------------------- */

static const unsigned char png_sig[8] = { 0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A };

/* Caps that keep a hostile header from making libspng allocate without
 * bound.  The dimension cap is far above any generator's output; the real
 * guard is the decoded-size cap, checked before any decoding starts. */
#define PNG_MAX_DIM (1u << 24)
#define PNG_MAX_DECODED ((size_t)1 << 30)
#define PNG_MAX_CHUNK ((size_t)64 << 20)
#define PNG_MAX_CACHE ((size_t)256 << 20)

static uint32_t be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* CRC-32 as PNG and zlib define it (reflected, polynomial 0xEDB88320).  The
 * table lives in the caller's frame rather than in a static so the library
 * keeps no mutable global state; building it costs ~2k operations, nothing
 * next to a decode. */
typedef struct png_crc {
    uint32_t t[256];
} png_crc;

static void png_crc_init(png_crc *c)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t v = n;
        for (int k = 0; k < 8; k++) v = (v & 1) ? 0xEDB88320u ^ (v >> 1) : v >> 1;
        c->t[n] = v;
    }
}

static uint32_t png_crc_calc(const png_crc *c, const unsigned char *p, size_t n)
{
    uint32_t v = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) v = c->t[(v ^ p[i]) & 0xFF] ^ (v >> 8);
    return v ^ 0xFFFFFFFFu;
}

static int is_letter(unsigned char ch) { return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z'); }

/* Walks every chunk and checks its framing and CRC ourselves, because
 * libspng stops reading once it has the pixels and never looks at what may
 * follow: this is what makes a flipped bit anywhere in the file an error. */
static int png_walk(const unsigned char *d, size_t size, rf_err *e)
{
    png_crc crc;
    png_crc_init(&crc);

    size_t pos = sizeof png_sig;
    int first = 1;
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
        if (png_crc_calc(&crc, type, (size_t)len + 4) != want)
            return rf_fail(e, RAIIAF_E_IMAGE, "PNG: chunk %s at offset %zu: CRC mismatch", name, pos);

        size_t next = pos + 12 + len;
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

static int png_validate(const unsigned char *d, size_t size, rf_image_desc *out, rf_err *e)
{
    int rc = png_walk(d, size, e);
    if (rc != RAIIAF_OK) return rc;

    spng_ctx *ctx = spng_ctx_new(0);
    if (!ctx) return rf_fail(e, RAIIAF_E_NOMEM, "PNG: out of memory creating the decoder");

    unsigned char *row = NULL;
    struct spng_ihdr ihdr;
    size_t img_size = 0;
    int r = spng_set_png_buffer(ctx, d, size);
    if (!r) r = spng_set_image_limits(ctx, PNG_MAX_DIM, PNG_MAX_DIM);
    if (!r) r = spng_set_chunk_limits(ctx, PNG_MAX_CHUNK, PNG_MAX_CACHE);
    if (!r) r = spng_set_crc_action(ctx, SPNG_CRC_ERROR, SPNG_CRC_ERROR);
    if (r) {
        rc = rf_fail(e, RAIIAF_E_IMAGE, "PNG: cannot set up the decoder: %s", spng_strerror(r));
        goto done;
    }

    r = spng_get_ihdr(ctx, &ihdr);
    if (r) {
        rc = rf_fail(e, RAIIAF_E_IMAGE, "PNG: header: %s", spng_strerror(r));
        goto done;
    }
    /* SPNG_FMT_PNG keeps the file's own pixel layout, so nothing is converted
     * and the size checked here is exactly what the decode touches. */
    r = spng_decoded_image_size(ctx, SPNG_FMT_PNG, &img_size);
    if (r) {
        rc = rf_fail(e, RAIIAF_E_IMAGE, "PNG: %lux%lu image: %s", (unsigned long)ihdr.width,
                     (unsigned long)ihdr.height, spng_strerror(r));
        goto done;
    }
    if (img_size > PNG_MAX_DECODED) {
        rc = rf_fail(e, RAIIAF_E_IMAGE, "PNG: %lux%lu image decodes to %zu bytes, over the 1 GiB limit",
                     (unsigned long)ihdr.width, (unsigned long)ihdr.height, img_size);
        goto done;
    }
    if (ihdr.width == 0 || ihdr.height == 0 || img_size % ihdr.height != 0) {
        rc = rf_fail(e, RAIIAF_E_IMAGE, "PNG: unexpected image geometry %lux%lu",
                     (unsigned long)ihdr.width, (unsigned long)ihdr.height);
        goto done;
    }

    /* Decoding row by row keeps memory at one row however large the image. */
    size_t row_size = img_size / ihdr.height;
    row = malloc(row_size);
    if (!row) {
        rc = rf_fail(e, RAIIAF_E_NOMEM, "PNG: out of memory for a %zu-byte row", row_size);
        goto done;
    }
    r = spng_decode_image(ctx, NULL, 0, SPNG_FMT_PNG, SPNG_DECODE_PROGRESSIVE);
    if (r == SPNG_ECHUNK_LIMITS) {
        /* libspng's words ("reached chunk/cache limits") do not say which */
        rc = rf_fail(e, RAIIAF_E_IMAGE, "PNG: a chunk is larger, or a compressed text chunk inflates to more, than %zu MiB, or all together to more than %zu MiB (limits)",
                     PNG_MAX_CHUNK >> 20, PNG_MAX_CACHE >> 20);
        goto done;
    }
    if (r) {
        rc = rf_fail(e, RAIIAF_E_IMAGE, "PNG: image data: %s", spng_strerror(r));
        goto done;
    }
    unsigned long rows = 0;
    do {
        r = spng_decode_row(ctx, row, row_size);
        rows++;
    } while (r == 0);
    if (r != SPNG_EOI) {
        rc = rf_fail(e, RAIIAF_E_IMAGE, "PNG: image data at row %lu of %lu: %s", rows,
                     (unsigned long)ihdr.height, spng_strerror(r));
        goto done;
    }

    /* libspng stops at the last row; make it parse what follows too, so the
     * chunks after IDAT meet its rules (no unknown critical chunk, no
     * misplaced PLTE, well-formed text), not only our CRC walk. */
    r = spng_decode_chunks(ctx);
    if (r) {
        rc = rf_fail(e, RAIIAF_E_IMAGE, "PNG: chunks after the image data: %s", spng_strerror(r));
        goto done;
    }

    out->format = "png";
    out->width = ihdr.width;
    out->height = ihdr.height;
    rc = RAIIAF_OK;
done:
    free(row);
    spng_ctx_free(ctx);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* JPEG                                                                   */
/* ---------------------------------------------------------------------- */

static int jpeg_is_sof(unsigned m)
{
    /* C0..CF are frame headers except DHT (C4), JPG (C8) and DAC (CC). */
    return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
}

/* Skips entropy-coded data starting at `pos`; returns the offset of the
 * 0xFF that begins the next real marker, or `size` if there is none.  Inside
 * the data 0xFF00 is a stuffed byte and RSTn markers belong to the scan. */
static size_t jpeg_skip_scan(const unsigned char *d, size_t pos, size_t size)
{
    while (pos < size) {
        const unsigned char *ff = memchr(d + pos, 0xFF, size - pos);
        if (!ff) return size;
        size_t i = (size_t)(ff - d);
        size_t j = i + 1;
        while (j < size && d[j] == 0xFF) j++; /* fill bytes */
        if (j >= size) return size;
        if (d[j] == 0x00 || (d[j] >= 0xD0 && d[j] <= 0xD7)) {
            pos = j + 1;
            continue;
        }
        return j - 1;
    }
    return size;
}

static int jpeg_validate(const unsigned char *d, size_t size, rf_image_desc *out, rf_err *e)
{
    size_t pos = 2; /* past SOI, checked by the caller */
    int have_sof = 0, have_sos = 0;
    uint32_t width = 0, height = 0;

    while (pos < size) {
        if (d[pos] != 0xFF)
            return rf_fail(e, RAIIAF_E_IMAGE, "JPEG: expected a marker at offset %zu, found byte 0x%02X",
                           pos, d[pos]);
        while (pos + 1 < size && d[pos + 1] == 0xFF) pos++; /* fill bytes */
        if (pos + 1 >= size)
            return rf_fail(e, RAIIAF_E_IMAGE, "JPEG: data ends inside a marker at offset %zu", pos);
        size_t seg = pos;
        unsigned m = d[pos + 1];
        pos += 2;

        if (m == 0xD9) {
            if (!have_sos)
                return rf_fail(e, RAIIAF_E_IMAGE, "JPEG: EOI at offset %zu before any scan (SOS)", seg);
            if (pos != size)
                return rf_fail(e, RAIIAF_E_IMAGE, "JPEG: %zu bytes of trailing data after EOI at offset %zu",
                               size - pos, pos);
            out->format = "jpeg";
            out->width = width;
            out->height = height;
            return RAIIAF_OK;
        }
        if (m == 0x00)
            return rf_fail(e, RAIIAF_E_IMAGE, "JPEG: stray 0xFF00 outside entropy-coded data at offset %zu", seg);
        if (m == 0xD8)
            return rf_fail(e, RAIIAF_E_IMAGE, "JPEG: second SOI at offset %zu", seg);
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue; /* TEM, RSTn: no length */

        if (size - pos < 2)
            return rf_fail(e, RAIIAF_E_IMAGE,
                           "JPEG: truncated segment at offset %zu (marker 0xFF%02X, no room for its length)", seg, m);
        size_t len = ((size_t)d[pos] << 8) | d[pos + 1];
        if (len < 2)
            return rf_fail(e, RAIIAF_E_IMAGE, "JPEG: segment at offset %zu (marker 0xFF%02X) declares length %zu < 2",
                           seg, m, len);
        if (len > size - pos)
            return rf_fail(e, RAIIAF_E_IMAGE,
                           "JPEG: truncated segment at offset %zu (marker 0xFF%02X declares %zu bytes, %zu remain)",
                           seg, m, len, size - pos);
        const unsigned char *p = d + pos; /* p[0..1] is the length itself */

        if (jpeg_is_sof(m)) {
            if (have_sof)
                return rf_fail(e, RAIIAF_E_IMAGE, "JPEG: second frame header 0xFF%02X at offset %zu", m, seg);
            /* P, Y, X, Nf, then three bytes per component. */
            if (len < 8 || p[7] == 0 || len != 8 + 3 * (size_t)p[7])
                return rf_fail(e, RAIIAF_E_IMAGE,
                               "JPEG: frame header 0xFF%02X at offset %zu: length %zu does not fit %u components",
                               m, seg, len, len < 8 ? 0u : (unsigned)p[7]);
            height = ((uint32_t)p[3] << 8) | p[4];
            width = ((uint32_t)p[5] << 8) | p[6];
            /* Height 0 defers it to a DNL marker: legal, rare, and not worth
             * the extra parsing for a store that records the size. */
            if (width == 0 || height == 0)
                return rf_fail(e, RAIIAF_E_IMAGE, "JPEG: frame header 0xFF%02X at offset %zu declares size %lux%lu",
                               m, seg, (unsigned long)width, (unsigned long)height);
            have_sof = 1;
        } else if (m == 0xDA) {
            if (!have_sof)
                return rf_fail(e, RAIIAF_E_IMAGE, "JPEG: SOS at offset %zu before any frame header (SOF)", seg);
            /* Ns, two bytes per component, then Ss, Se, Ah/Al. */
            if (len < 8 || p[2] == 0 || len != 6 + 2 * (size_t)p[2])
                return rf_fail(e, RAIIAF_E_IMAGE, "JPEG: SOS at offset %zu: length %zu does not fit %u components",
                               seg, len, len < 3 ? 0u : (unsigned)p[2]);
            have_sos = 1;
            pos = jpeg_skip_scan(d, pos + len, size);
            if (pos >= size)
                return rf_fail(e, RAIIAF_E_IMAGE, "JPEG: scan after SOS at offset %zu runs to the end without EOI", seg);
            continue;
        }
        pos += len;
    }
    return rf_fail(e, RAIIAF_E_IMAGE, "JPEG: data ends at offset %zu without EOI", size);
}

/* ---------------------------------------------------------------------- */
/* WebP                                                                   */
/* ---------------------------------------------------------------------- */

static uint32_t le24(const unsigned char *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16); }

/* One RIFF chunk: FourCC, payload offset and size.  Payloads are padded to
 * an even length; the pad byte is part of the chunk. */
typedef struct webp_chunk {
    char id[5];
    size_t off;       /* of the chunk header */
    const unsigned char *data;
    size_t size;
} webp_chunk;

/* Reads the chunk at `pos` within [.., end) and advances `pos` past it and
 * its padding. */
static int webp_next(const unsigned char *d, size_t *pos, size_t end, webp_chunk *c, rf_err *e)
{
    size_t p = *pos;
    if (end - p < 8)
        return rf_fail(e, RAIIAF_E_IMAGE, "WebP: truncated chunk header at offset %zu (%zu bytes remain)", p, end - p);
    uint32_t n = rf_le32(d + p + 4);
    for (size_t i = 0; i < 4; i++) {
        unsigned char ch = d[p + i];
        /* FourCCs are printable ASCII; anything else means we lost sync. */
        if (ch < 0x20 || ch > 0x7E)
            return rf_fail(e, RAIIAF_E_IMAGE, "WebP: chunk at offset %zu: FourCC %02X %02X %02X %02X is not printable",
                           p, d[p], d[p + 1], d[p + 2], d[p + 3]);
        c->id[i] = (char)ch;
    }
    c->id[4] = '\0';
    size_t room = end - p - 8;
    if (n > room)
        return rf_fail(e, RAIIAF_E_IMAGE, "WebP: chunk %s at offset %zu: declares %lu bytes, %zu remain",
                       c->id, p, (unsigned long)n, room);
    if ((n & 1) && n == room)
        return rf_fail(e, RAIIAF_E_IMAGE, "WebP: chunk %s at offset %zu: odd size %lu without its padding byte",
                       c->id, p, (unsigned long)n);
    c->off = p;
    c->data = d + p + 8;
    c->size = n;
    *pos = p + 8 + n + (n & 1);
    return RAIIAF_OK;
}

/* Checks the header of a VP8 or VP8L bitstream chunk and returns its size. */
static int webp_bitstream(const webp_chunk *c, uint32_t *w, uint32_t *h, rf_err *e)
{
    const unsigned char *p = c->data;
    if (strcmp(c->id, "VP8 ") == 0) {
        if (c->size < 10)
            return rf_fail(e, RAIIAF_E_IMAGE, "WebP: VP8 chunk at offset %zu: %zu bytes, too short for a frame header",
                           c->off, c->size);
        uint32_t tag = le24(p);
        /* A still image is one key frame (bit 0 clear) that is shown (bit 4);
         * versions above 3 do not exist. */
        if ((tag & 1) || ((tag >> 1) & 7) > 3 || !((tag >> 4) & 1))
            return rf_fail(e, RAIIAF_E_IMAGE, "WebP: VP8 chunk at offset %zu: frame tag %06lX is not a shown key frame",
                           c->off, (unsigned long)tag);
        if ((tag >> 5) > c->size - 10)
            return rf_fail(e, RAIIAF_E_IMAGE,
                           "WebP: VP8 chunk at offset %zu: first partition of %lu bytes exceeds the chunk",
                           c->off, (unsigned long)(tag >> 5));
        if (p[3] != 0x9D || p[4] != 0x01 || p[5] != 0x2A)
            return rf_fail(e, RAIIAF_E_IMAGE, "WebP: VP8 chunk at offset %zu: start code %02X %02X %02X is not 9D 01 2A",
                           c->off, p[3], p[4], p[5]);
        *w = rf_le16(p + 6) & 0x3FFF; /* the top two bits are a scale hint */
        *h = rf_le16(p + 8) & 0x3FFF;
        if (*w == 0 || *h == 0)
            return rf_fail(e, RAIIAF_E_IMAGE, "WebP: VP8 chunk at offset %zu: size %lux%lu",
                           c->off, (unsigned long)*w, (unsigned long)*h);
        return RAIIAF_OK;
    }
    if (strcmp(c->id, "VP8L") == 0) {
        if (c->size < 5)
            return rf_fail(e, RAIIAF_E_IMAGE, "WebP: VP8L chunk at offset %zu: %zu bytes, too short for a header",
                           c->off, c->size);
        if (p[0] != 0x2F)
            return rf_fail(e, RAIIAF_E_IMAGE, "WebP: VP8L chunk at offset %zu: signature 0x%02X is not 0x2F",
                           c->off, p[0]);
        uint32_t bits = rf_le32(p + 1);
        if (bits >> 29)
            return rf_fail(e, RAIIAF_E_IMAGE, "WebP: VP8L chunk at offset %zu: unknown version %lu",
                           c->off, (unsigned long)(bits >> 29));
        *w = (bits & 0x3FFF) + 1;
        *h = ((bits >> 14) & 0x3FFF) + 1;
        return RAIIAF_OK;
    }
    return rf_fail(e, RAIIAF_E_IMAGE, "WebP: chunk %s at offset %zu where VP8 or VP8L image data was expected",
                   c->id, c->off);
}

/* An ANMF frame: position and size, then its own chunks (optional ALPH,
 * then VP8 or VP8L), all of which must lie inside the canvas. */
static int webp_frame(const unsigned char *d, const webp_chunk *c, uint32_t cw, uint32_t ch, rf_err *e)
{
    if (c->size < 16)
        return rf_fail(e, RAIIAF_E_IMAGE, "WebP: ANMF chunk at offset %zu: %zu bytes, too short for a frame header",
                       c->off, c->size);
    uint64_t x = 2 * (uint64_t)le24(c->data), y = 2 * (uint64_t)le24(c->data + 3);
    uint32_t fw = le24(c->data + 6) + 1, fh = le24(c->data + 9) + 1;
    if (x + fw > cw || y + fh > ch)
        return rf_fail(e, RAIIAF_E_IMAGE, "WebP: ANMF chunk at offset %zu: frame %lux%lu at %llu,%llu exceeds the canvas",
                       c->off, (unsigned long)fw, (unsigned long)fh, (unsigned long long)x, (unsigned long long)y);

    size_t base = (size_t)(c->data - d), pos = base + 16, end = base + c->size;
    webp_chunk sub;
    int rc;
    if (pos == end) return rf_fail(e, RAIIAF_E_IMAGE, "WebP: ANMF chunk at offset %zu holds no image data", c->off);
    if ((rc = webp_next(d, &pos, end, &sub, e)) != RAIIAF_OK) return rc;
    if (strcmp(sub.id, "ALPH") == 0) {
        if (pos == end)
            return rf_fail(e, RAIIAF_E_IMAGE, "WebP: ANMF chunk at offset %zu: ALPH without image data", c->off);
        if ((rc = webp_next(d, &pos, end, &sub, e)) != RAIIAF_OK) return rc;
    }
    uint32_t w, h;
    if ((rc = webp_bitstream(&sub, &w, &h, e)) != RAIIAF_OK) return rc;
    if (w != fw || h != fh)
        return rf_fail(e, RAIIAF_E_IMAGE, "WebP: ANMF chunk at offset %zu: frame is %lux%lu but its image is %lux%lu",
                       c->off, (unsigned long)fw, (unsigned long)fh, (unsigned long)w, (unsigned long)h);
    /* Anything after the image inside the frame is unknown; it must still
     * be well-formed chunks. */
    while (pos < end)
        if ((rc = webp_next(d, &pos, end, &sub, e)) != RAIIAF_OK) return rc;
    return RAIIAF_OK;
}

static int webp_validate(const unsigned char *d, size_t size, rf_image_desc *out, rf_err *e)
{
    /* The caller checked "RIFF" and "WEBP", so size >= 12. */
    uint32_t riff = rf_le32(d + 4);
    if ((uint64_t)riff + 8 != (uint64_t)size)
        return rf_fail(e, RAIIAF_E_IMAGE, "WebP: RIFF size %lu (+8 header bytes) disagrees with data size %zu",
                       (unsigned long)riff, size);

    size_t pos = 12;
    webp_chunk c;
    int rc;
    if (pos == size) return rf_fail(e, RAIIAF_E_IMAGE, "WebP: no chunks after the RIFF header");
    if ((rc = webp_next(d, &pos, size, &c, e)) != RAIIAF_OK) return rc;

    uint32_t w = 0, h = 0;
    if (strcmp(c.id, "VP8X") != 0) {
        /* Simple format: the first chunk is the image itself. */
        if ((rc = webp_bitstream(&c, &w, &h, e)) != RAIIAF_OK) return rc;
        while (pos < size)
            if ((rc = webp_next(d, &pos, size, &c, e)) != RAIIAF_OK) return rc;
    } else {
        if (c.size < 10)
            return rf_fail(e, RAIIAF_E_IMAGE, "WebP: VP8X chunk at offset %zu: %zu bytes, 10 needed", c.off, c.size);
        int animated = (c.data[0] & 0x02) != 0;
        w = le24(c.data + 4) + 1;
        h = le24(c.data + 7) + 1;
        if ((uint64_t)w * h > 0xFFFFFFFFu)
            return rf_fail(e, RAIIAF_E_IMAGE, "WebP: VP8X chunk at offset %zu: canvas %lux%lu exceeds 2^32-1 pixels",
                           c.off, (unsigned long)w, (unsigned long)h);
        int have_image = 0, have_anim = 0, frames = 0;
        while (pos < size) {
            if ((rc = webp_next(d, &pos, size, &c, e)) != RAIIAF_OK) return rc;
            if (animated) {
                if (strcmp(c.id, "ANIM") == 0) {
                    if (c.size < 6)
                        return rf_fail(e, RAIIAF_E_IMAGE, "WebP: ANIM chunk at offset %zu: %zu bytes, 6 needed",
                                       c.off, c.size);
                    have_anim = 1;
                } else if (strcmp(c.id, "ANMF") == 0) {
                    if (!have_anim)
                        return rf_fail(e, RAIIAF_E_IMAGE, "WebP: ANMF chunk at offset %zu before ANIM", c.off);
                    if ((rc = webp_frame(d, &c, w, h, e)) != RAIIAF_OK) return rc;
                    frames++;
                }
            } else if (!have_image && (strcmp(c.id, "VP8 ") == 0 || strcmp(c.id, "VP8L") == 0)) {
                uint32_t iw, ih;
                if ((rc = webp_bitstream(&c, &iw, &ih, e)) != RAIIAF_OK) return rc;
                if (iw != w || ih != h)
                    return rf_fail(e, RAIIAF_E_IMAGE,
                                   "WebP: %s chunk at offset %zu: image %lux%lu disagrees with canvas %lux%lu",
                                   c.id, c.off, (unsigned long)iw, (unsigned long)ih, (unsigned long)w,
                                   (unsigned long)h);
                have_image = 1;
            }
        }
        if (animated && frames == 0)
            return rf_fail(e, RAIIAF_E_IMAGE, "WebP: animated image without ANIM and ANMF frames");
        if (!animated && !have_image)
            return rf_fail(e, RAIIAF_E_IMAGE, "WebP: extended image without a VP8 or VP8L chunk");
    }
    out->format = "webp";
    out->width = w;
    out->height = h;
    return RAIIAF_OK;
}

/* ---------------------------------------------------------------------- */

int rf_image_validate(const void *data, size_t size, rf_image_desc *out, rf_err *e)
{
    if (!out || (!data && size))
        return rf_fail(e, RAIIAF_E_ARG, "rf_image_validate: NULL argument");
    if (size == 0) return rf_fail(e, RAIIAF_E_IMAGE, "empty image");
    const unsigned char *d = data;

    if (size >= 8 && memcmp(d, png_sig, 8) == 0) return png_validate(d, size, out, e);
    if (size >= 2 && d[0] == 0xFF && d[1] == 0xD8) return jpeg_validate(d, size, out, e);
    if (size >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0)
        return webp_validate(d, size, out, e);

    /* Name what was found: a truncated or damaged signature is the usual
     * cause, and the first bytes make that plain. */
    char hex[3 * 8 + 1] = "";
    size_t n = size < 8 ? size : 8;
    for (size_t i = 0; i < n; i++) {
        static const char digits[] = "0123456789ABCDEF";
        hex[3 * i] = digits[d[i] >> 4];
        hex[3 * i + 1] = digits[d[i] & 15];
        hex[3 * i + 2] = i + 1 < n ? ' ' : '\0';
    }
    return rf_fail(e, RAIIAF_E_IMAGE, "not a PNG, JPEG or WebP image (first bytes %s)", hex);
}
