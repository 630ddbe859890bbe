/*
 * stealth_png.c -- "stealth PNG info": a generation record hidden in the
 * least significant bits of a PNG's pixels, as the sd-webui-stealth-pnginfo
 * extension (and NovelAI) write it.  The layout, from the extension's
 * writer:
 *
 *   bits = SIGNATURE (15 ASCII bytes) + LENGTH (32 bits, big-endian: the
 *          number of payload BITS) + PAYLOAD (UTF-8 text, or gzip of it
 *          when the signature ends in "comp"), each byte most significant
 *          bit first;
 *   the bits go into the pixels column by column (x outer, y inner): one
 *   per pixel in the alpha channel ("stealth_pnginfo"/"stealth_pngcomp"),
 *   or three per pixel in R, G, B ("stealth_rgbinfo"/"stealth_rgbcomp").
 *
 * Bounds: images over STEALTH_MAX_PIXELS are not searched (the bit planes
 * cost 4 bits a pixel: at most 32 MiB), interlaced images are not searched
 * (the extension's writers save non-interlaced), the signature is checked
 * as soon as the rows holding it are decoded so that an image without one
 * costs only those rows, the length field is checked against the bits the
 * image holds and the 16 MiB text cap, and gzip output is capped at what
 * remains of the image's text budget (META_MAX_TEXT_TOTAL).
 */
#include "interop.h"

#include <spng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define SIG_BITS 120u /* 15 bytes */
#define HDR_BITS 152u /* signature + 32-bit length */

/* A bit plane as decoded: row-major (cheap to fill a row at a time), one
 * bit per pixel (alpha) or three (R, G, B); read in the writer's order,
 * column-major. */
typedef struct plane {
    unsigned char *b;
    uint64_t w, h;
    unsigned per;
} plane;

static int bit(const plane *p, uint64_t i)
{
    uint64_t px = i / p->per, c = i % p->per;
    uint64_t at = ((px % p->h) * p->w + px / p->h) * p->per + c;
    return p->b[at >> 3] >> (7 - (at & 7)) & 1;
}

static void bytes_at(const plane *p, uint64_t from, size_t n, unsigned char *out)
{
    for (size_t k = 0; k < n; k++) {
        unsigned v = 0;
        for (int b = 0; b < 8; b++) v = v << 1 | (unsigned)bit(p, from + 8 * k + (uint64_t)b);
        out[k] = (unsigned char)v;
    }
}

/* Which signature the plane starts with: 1 = plain, 2 = gzip, 0 = none. */
static int sig_kind(const plane *p, const char *plain, const char *comp)
{
    unsigned char s[15];
    bytes_at(p, 0, 15, s);
    return !memcmp(s, plain, 15) ? 1 : !memcmp(s, comp, 15) ? 2 : 0;
}

/* gunzip into at most `max` bytes: 0, -1 damaged, -2 over the cap. */
static int gunzip_capped(const unsigned char *in, size_t n, size_t max, unsigned char **out, size_t *len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + 15) != Z_OK) return -1;
    size_t cap = n * 4 + 256 < max ? n * 4 + 256 : max, got = 0;
    unsigned char *buf = malloc(cap + 1);
    int rc = buf ? Z_OK : Z_MEM_ERROR;
    z.next_in = (unsigned char *)in;
    z.avail_in = (uInt)n; /* n <= META_MAX_TEXT: fits */
    while (rc == Z_OK) {
        if (got == cap) {
            if (cap >= max) break;
            size_t nc = cap * 2 < max ? cap * 2 : max;
            unsigned char *nb = realloc(buf, nc + 1);
            if (!nb) break;
            buf = nb;
            cap = nc;
        }
        z.next_out = buf + got;
        z.avail_out = (uInt)(cap - got);
        rc = inflate(&z, Z_NO_FLUSH);
        got = cap - z.avail_out;
        if (rc == Z_BUF_ERROR && z.avail_in == 0) break; /* truncated */
        if (rc == Z_BUF_ERROR) rc = Z_OK;
    }
    inflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(buf);
        return got >= max ? -2 : -1;
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return 0;
}

static int append(meta_list *out, const char *kw, const char *type, unsigned char *text, size_t len)
{
    if (out->count >= META_MAX_TEXTS) return -1;
    meta_text *n = realloc(out->items, (out->count + 1) * sizeof *n);
    if (!n) return -1;
    out->items = n;
    meta_text *m = &n[out->count++];
    memset(m, 0, sizeof *m);
    snprintf(m->keyword, sizeof m->keyword, "%s", kw);
    snprintf(m->type, sizeof m->type, "%s", type);
    m->text = (char *)text;
    m->len = len;
    m->encoding = "utf-8";
    return 0;
}

/* The record in one plane of `bits` bits; see the file comment. */
static int take(const plane *pl, uint64_t bits, int kind, const char *kw, const char *type, meta_list *out,
                char *note, size_t ns)
{
    unsigned char lb[4];
    if (bits < HDR_BITS) {
        snprintf(note, ns, "stealth PNG info (%s): the image ends inside the header", kw);
        return -1;
    }
    bytes_at(pl, SIG_BITS, 4, lb);
    uint32_t nbits = (uint32_t)lb[0] << 24 | (uint32_t)lb[1] << 16 | (uint32_t)lb[2] << 8 | lb[3];
    if (nbits % 8) {
        snprintf(note, ns, "stealth PNG info (%s): length field %u bits is not a whole number of bytes", kw, nbits);
        return -1;
    }
    if (nbits > bits - HDR_BITS) {
        snprintf(note, ns, "stealth PNG info (%s): length field says %u bits but the image holds %llu after the header",
                 kw, nbits, (unsigned long long)(bits - HDR_BITS));
        return -1;
    }
    size_t n = nbits / 8;
    if (n > META_MAX_TEXT) {
        snprintf(note, ns, "stealth PNG info (%s): %zu bytes exceed the %zu MiB text limit", kw, n,
                 (size_t)(META_MAX_TEXT >> 20));
        return -1;
    }
    unsigned char *payload = malloc(n + 1);
    if (!payload) return -1;
    bytes_at(pl, HDR_BITS, n, payload);
    payload[n] = '\0';
    size_t len = n;
    if (kind == 2) {
        size_t left = out->inflated < META_MAX_TEXT_TOTAL ? META_MAX_TEXT_TOTAL - out->inflated : 0;
        if (left > META_MAX_TEXT) left = META_MAX_TEXT;
        unsigned char *plain = NULL;
        int rc = left ? gunzip_capped(payload, n, left, &plain, &len) : -2;
        free(payload);
        if (rc == -2) {
            out->inflated = META_MAX_TEXT_TOTAL;
            snprintf(note, ns, "stealth PNG info (%s): the gzip payload decompresses to more than the %zu MiB text budget",
                     kw, (size_t)(META_MAX_TEXT_TOTAL >> 20));
            return -1;
        }
        if (rc) {
            snprintf(note, ns, "stealth PNG info (%s): the gzip payload of %zu bytes is damaged", kw, n);
            return -1;
        }
        out->inflated += len;
        payload = plain;
    }
    json_t *check = json_stringn((const char *)payload, len); /* NULL unless valid UTF-8 */
    if (!check) {
        free(payload);
        snprintf(note, ns, "stealth PNG info (%s): the text is not UTF-8", kw);
        return -1;
    }
    json_decref(check);
    if (append(out, kw, type, payload, len)) {
        free(payload);
        return -1;
    }
    return 1;
}

int stealth_collect(const unsigned char *png, size_t size, meta_list *out, char *note, size_t ns)
{
    if (ns) note[0] = '\0';
    spng_ctx *ctx = spng_ctx_new(0);
    if (!ctx) return 0;
    struct spng_ihdr ih;
    int result = 0;
    unsigned char *alpha = NULL, *rgb = NULL, *row = NULL;
    if (spng_set_png_buffer(ctx, png, size) || spng_set_image_limits(ctx, 1u << 20, 1u << 20) ||
        spng_set_chunk_limits(ctx, 1u << 26, 1u << 26) || spng_get_ihdr(ctx, &ih))
        goto done;
    uint64_t w = ih.width, h = ih.height, px = w * h;
    if (px == 0 || ih.interlace_method) goto done;
    if (px > STEALTH_MAX_PIXELS) {
        snprintf(note, ns, "stealth PNG info not searched: %llux%llu image is over the %llu-pixel limit",
                 (unsigned long long)w, (unsigned long long)h, (unsigned long long)STEALTH_MAX_PIXELS);
        goto done;
    }
    int has_alpha = ih.color_type == SPNG_COLOR_TYPE_TRUECOLOR_ALPHA || ih.color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA;
    size_t row_size = (size_t)w * 4;
    row = malloc(row_size);
    rgb = calloc(1, (size_t)((3 * px + 7) / 8));
    alpha = has_alpha ? calloc(1, (size_t)((px + 7) / 8)) : NULL;
    if (!row || !rgb || (has_alpha && !alpha)) goto done;
    plane pa = {alpha, w, h, 1}, prgb = {rgb, w, h, 3};
    if (spng_decode_image(ctx, NULL, 0, SPNG_FMT_RGBA8, SPNG_DECODE_PROGRESSIVE)) goto done;
    /* Rows needed before the signatures can be checked: column 0 holds
     * the first h bits of the alpha plane and 3h of the RGB plane. */
    uint64_t check_at = h >= SIG_BITS ? SIG_BITS : 0;
    int rc = 0;
    for (uint64_t y = 0; y < h; y++) {
        rc = spng_decode_row(ctx, row, row_size);
        if (rc && rc != SPNG_EOI) goto done; /* damaged image data: no record */
        uint64_t i = y * w;
        for (uint64_t x = 0; x < w; x++, i++) {
            const unsigned char *p = row + 4 * x;
            if (alpha && (p[3] & 1)) alpha[i >> 3] |= (unsigned char)(0x80 >> (i & 7));
            for (unsigned c = 0; c < 3; c++) {
                uint64_t j = 3 * i + c;
                if (p[c] & 1) rgb[j >> 3] |= (unsigned char)(0x80 >> (j & 7));
            }
        }
        if (check_at && y + 1 == check_at && !(alpha && sig_kind(&pa, "stealth_pnginfo", "stealth_pngcomp")) &&
            !sig_kind(&prgb, "stealth_rgbinfo", "stealth_rgbcomp"))
            goto done; /* no signature: the rest of the image is not decoded */
        if (rc == SPNG_EOI) break;
    }
    int k;
    if (alpha && px >= SIG_BITS && (k = sig_kind(&pa, "stealth_pnginfo", "stealth_pngcomp")))
        result = take(&pa, px, k, k == 1 ? "stealth_pnginfo" : "stealth_pngcomp", "stealth-alpha", out, note, ns);
    else if (3 * px >= SIG_BITS && (k = sig_kind(&prgb, "stealth_rgbinfo", "stealth_rgbcomp")))
        result = take(&prgb, 3 * px, k, k == 1 ? "stealth_rgbinfo" : "stealth_rgbcomp", "stealth-rgb", out, note, ns);
done:
    free(row);
    free(rgb);
    free(alpha);
    spng_ctx_free(ctx);
    return result;
}
