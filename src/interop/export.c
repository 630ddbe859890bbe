/* export.c -- raiiaf_export*: the stored image, in its own format and
 * without re-encoding, carrying the generation record where other tools
 * look for it: an A1111-style `parameters` text (PNG tEXt/iTXt, or EXIF
 * UserComment in JPEG and WebP) and, in a PNG, the whole manifest in an
 * iTXt chunk `raiiaf` so that an import restores the full record. */
#include "interop.h"
#include "../jsonnum.h"
#include "../internal.h"
#include "../fileio.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

typedef struct buf {
    unsigned char *p;
    size_t n, cap;
    int oom;
} buf;

static void put(buf *b, const void *d, size_t n)
{
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t c = b->cap ? b->cap : 4096;
        while (c < b->n + n) c *= 2;
        unsigned char *q = realloc(b->p, c);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = c;
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void put32be(buf *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v};
    put(b, x, 4);
}
static void put32le(buf *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
    put(b, x, 4);
}
static uint32_t rd32be(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static uint32_t rd32le(const unsigned char *p)
{
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}

static void png_chunk(buf *b, const char *type, const unsigned char *data, size_t n)
{
    put32be(b, (uint32_t)n);
    put(b, type, 4);
    put(b, data, n);
    uLong crc = crc32(0L, (const Bytef *)type, 4);
    if (n) crc = crc32(crc, data, (uInt)n);
    put32be(b, (uint32_t)crc);
}

/* A tEXt (ASCII text) or uncompressed / compressed iTXt chunk body. */
static int text_chunk(buf *b, const char *keyword, const char *text, int compress)
{
    size_t tl = strlen(text);
    int ascii = !compress;
    for (size_t i = 0; ascii && i < tl; i++)
        if ((unsigned char)text[i] >= 0x80) ascii = 0;
    buf body = {0};
    put(&body, keyword, strlen(keyword) + 1);
    if (ascii) {
        put(&body, text, tl);
        png_chunk(b, "tEXt", body.p, body.n);
    } else {
        unsigned char hdr[4] = {(unsigned char)(compress ? 1 : 0), 0, 0, 0}; /* flag, method, "" lang, "" translated */
        put(&body, hdr, 4);
        if (compress) {
            uLongf zl = compressBound((uLong)tl);
            unsigned char *z = malloc(zl);
            if (!z || compress2(z, &zl, (const Bytef *)text, (uLong)tl, 9) != Z_OK) {
                free(z);
                free(body.p);
                return -1;
            }
            put(&body, z, zl);
            free(z);
        } else put(&body, text, tl);
        png_chunk(b, "iTXt", body.p, body.n);
    }
    int oom = body.oom;
    free(body.p);
    return oom ? -1 : 0;
}

static int drop_png_text(const unsigned char *type, const unsigned char *d, size_t n)
{
    if (memcmp(type, "tEXt", 4) && memcmp(type, "zTXt", 4) && memcmp(type, "iTXt", 4)) return 0;
    /* Fooocus's `fooocus_scheme` names the format of `parameters`
     * ("fooocus" JSON or "a1111" text); the new `parameters` is our A1111
     * text, so a scheme left behind would misdescribe it. */
    return (n >= 11 && !memcmp(d, "parameters\0", 11)) || (n >= 7 && !memcmp(d, "raiiaf\0", 7)) ||
           (n >= 15 && !memcmp(d, "fooocus_scheme\0", 15));
}

static int export_png(const unsigned char *d, size_t size, const char *params, const char *manifest, buf *o,
                      char *err, size_t errsize)
{
    put(o, d, 8);
    size_t pos = 8;
    int inserted = 0;
    while (pos < size) {
        if (size - pos < 12) break;
        uint32_t n = rd32be(d + pos);
        if (size - pos - 12 < n) break;
        const unsigned char *type = d + pos + 4;
        /* The text goes before the first IDAT, where readers that stop at
         * the pixels still see it (and where A1111 writes it). */
        if (!inserted && (!memcmp(type, "IDAT", 4) || !memcmp(type, "IEND", 4))) {
            if (text_chunk(o, "parameters", params, 0) || text_chunk(o, "raiiaf", manifest, 1)) {
                rf_msg(err, errsize, "out of memory");
                return RAIIAF_E_NOMEM;
            }
            inserted = 1;
        }
        if (!memcmp(type, "IEND", 4)) {
            put(o, d + pos, 12 + (size_t)n);
            return o->oom ? RAIIAF_E_NOMEM : RAIIAF_OK;
        }
        if (!drop_png_text(type, d + pos + 8, n)) put(o, d + pos, 12 + (size_t)n);
        pos += 12 + (size_t)n;
    }
    rf_msg(err, errsize, "the stored PNG has no IEND chunk");
    return RAIIAF_E_CORRUPT;
}

static int export_jpeg(const unsigned char *d, size_t size, const char *params, const char *manifest, buf *o,
                       unsigned *flags, char *err, size_t errsize)
{
    size_t tl;
    unsigned char *tiff = exif_build_usercomment(params, manifest, &tl);
    if (tiff && tl + 8 > 65535) {
        /* The manifest does not fit beside the text in one APP1 segment:
         * carry the parameters text alone. */
        free(tiff);
        tiff = exif_build_usercomment(params, NULL, &tl);
        *flags |= RAIIAF_EXPORT_MANIFEST_OMITTED;
    }
    if (!tiff) return RAIIAF_E_NOMEM;
    if (tl + 8 > 65535) {
        rf_msg(err, errsize, "the parameters text needs %zu bytes of EXIF, more than a JPEG APP1 segment holds (65527)", tl);
        free(tiff);
        return RAIIAF_E_LIMIT;
    }
    put(o, d, 2); /* SOI */
    size_t pos = 2;
    int inserted = 0;
    while (pos + 4 <= size && d[pos] == 0xFF) {
        unsigned m = d[pos + 1];
        if (m == 0xDA || m == 0xD9 || m == 0x01 || (m >= 0xD0 && m <= 0xD8) || m == 0xFF) break;
        size_t len = (size_t)d[pos + 2] << 8 | d[pos + 3];
        if (len < 2 || size - pos - 2 < len) break;
        int is_exif = m == 0xE1 && len >= 8 && !memcmp(d + pos + 4, "Exif\0", 5);
        if (!inserted && m != 0xE0) {
            unsigned char hdr[10] = {0xFF, 0xE1, (unsigned char)((tl + 8) >> 8), (unsigned char)(tl + 8), 'E', 'x', 'i', 'f', 0, 0};
            put(o, hdr, 10);
            put(o, tiff, tl);
            inserted = 1;
        }
        if (!is_exif) put(o, d + pos, 2 + len);
        pos += 2 + len;
    }
    if (!inserted) {
        unsigned char hdr[10] = {0xFF, 0xE1, (unsigned char)((tl + 8) >> 8), (unsigned char)(tl + 8), 'E', 'x', 'i', 'f', 0, 0};
        put(o, hdr, 10);
        put(o, tiff, tl);
    }
    put(o, d + pos, size - pos);
    free(tiff);
    return o->oom ? RAIIAF_E_NOMEM : RAIIAF_OK;
}

static int export_webp(const unsigned char *d, size_t size, uint32_t width, uint32_t height, const char *params,
                       const char *manifest, buf *o, char *err, size_t errsize)
{
    size_t tl;
    unsigned char *tiff = exif_build_usercomment(params, manifest, &tl);
    if (!tiff) return RAIIAF_E_NOMEM;
    if (size < 12 || rd32le(d + 4) > size - 8) {
        free(tiff);
        rf_msg(err, errsize, "the stored WebP is damaged");
        return RAIIAF_E_CORRUPT;
    }
    size_t end = (size_t)rd32le(d + 4) + 8;
    put(o, "RIFF\0\0\0\0WEBP", 12);
    size_t pos = 12;
    int has_vp8x = end - pos >= 8 && !memcmp(d + pos, "VP8X", 4);
    if (!has_vp8x) {
        /* A simple-format file: add the extended header the EXIF flag lives in. */
        unsigned char x[18] = {'V', 'P', '8', 'X', 10, 0, 0, 0, 0x08, 0, 0, 0};
        for (size_t p = pos; end - p >= 8;) {
            uint32_t n = rd32le(d + p + 4);
            if (end - p - 8 < n) break;
            if (!memcmp(d + p, "VP8L", 4) && n >= 5 && ((d[p + 8 + 4] >> 4) & 1)) x[8] |= 0x10; /* alpha_is_used */
            p += 8 + (size_t)n + (n & 1);
            if (p > end) break; /* an odd last chunk without its padding byte */
        }
        uint32_t w1 = width - 1, h1 = height - 1;
        x[12] = (unsigned char)w1, x[13] = (unsigned char)(w1 >> 8), x[14] = (unsigned char)(w1 >> 16);
        x[15] = (unsigned char)h1, x[16] = (unsigned char)(h1 >> 8), x[17] = (unsigned char)(h1 >> 16);
        put(o, x, 18);
    }
    while (end - pos >= 8) {
        uint32_t n = rd32le(d + pos + 4);
        if (end - pos - 8 < n) break;
        size_t whole = 8 + (size_t)n + (n & 1);
        if (whole > end - pos) whole = end - pos;
        if (!memcmp(d + pos, "VP8X", 4) && n >= 10) {
            size_t at = o->n;
            put(o, d + pos, whole);
            if (!o->oom) o->p[at + 8] |= 0x08;
        } else if (memcmp(d + pos, "EXIF", 4)) {
            put(o, d + pos, whole);
        }
        pos += whole;
    }
    put(o, "EXIF", 4);
    put32le(o, (uint32_t)tl);
    put(o, tiff, tl);
    if (tl & 1) put(o, "", 1);
    free(tiff);
    if (o->oom) return RAIIAF_E_NOMEM;
    uint32_t riff = (uint32_t)(o->n - 8);
    o->p[4] = (unsigned char)riff, o->p[5] = (unsigned char)(riff >> 8), o->p[6] = (unsigned char)(riff >> 16),
    o->p[7] = (unsigned char)(riff >> 24);
    return RAIIAF_OK;
}

static const char *format_of_extension(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (!dot) return NULL;
    if (!strcasecmp(dot, ".png")) return "png";
    if (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg")) return "jpeg";
    if (!strcasecmp(dot, ".webp")) return "webp";
    return NULL;
}

/* The manifest parsed, for the parameters text. */
static char *parameters_of(raiiaf_reader *r, const char **manifest, char *err, size_t errsize)
{
    size_t mlen;
    *manifest = raiiaf_reader_manifest(r, &mlen);
    json_t *m = rf_json_loadb(*manifest, mlen, 0, RF_JSON_STRICT, NULL);
    int parsed = m != NULL;
    char *params = m ? export_parameters_text(m) : NULL;
    json_decref(m);
    if (!params) rf_msg(err, errsize, "cannot build the parameters text%s", parsed ? " (out of memory)" : ": the manifest is not JSON");
    return params;
}

int raiiaf_export_parameters(raiiaf_reader *r, char **text, char *err, size_t errsize)
{
    const char *manifest;
    if (!r || !text) {
        rf_msg(err, errsize, "raiiaf_export_parameters: invalid argument");
        return RAIIAF_E_ARG;
    }
    *text = parameters_of(r, &manifest, err, errsize);
    return *text ? RAIIAF_OK : RAIIAF_E_NOMEM;
}

int raiiaf_export(raiiaf_reader *r, const char *format, unsigned char **out, size_t *out_size, unsigned *flags,
                  char *err, size_t errsize)
{
    unsigned fl = 0;
    if (flags) *flags = 0;
    if (err && errsize) err[0] = '\0';
    if (!r || !out || !out_size) {
        rf_msg(err, errsize, "raiiaf_export: invalid argument");
        return RAIIAF_E_ARG;
    }
    *out = NULL;
    *out_size = 0;
    const void *img;
    size_t img_len;
    const char *stored;
    uint32_t width, height;
    int rc = raiiaf_reader_image(r, &img, &img_len, &stored, &width, &height);
    if (rc) {
        rf_msg(err, errsize, "%s", raiiaf_reader_errmsg(r));
        return rc;
    }
    if (format && strcmp(format, stored)) {
        rf_msg(err, errsize, "the stored image is %s; export writes it without re-encoding, so it can only be exported as %s",
               stored, stored);
        return RAIIAF_E_ARG;
    }
    if (strcmp(stored, "png") && strcmp(stored, "jpeg") && strcmp(stored, "webp")) {
        rf_msg(err, errsize, "the stored image is not a PNG, JPEG or WebP (%s): there is nowhere to put the record", stored);
        return RAIIAF_E_ARG;
    }
    const char *manifest;
    char *params = parameters_of(r, &manifest, err, errsize);
    if (!params) return RAIIAF_E_NOMEM;
    buf o = {0};
    if (!strcmp(stored, "png")) rc = export_png(img, img_len, params, manifest, &o, err, errsize);
    else if (!strcmp(stored, "jpeg")) rc = export_jpeg(img, img_len, params, manifest, &o, &fl, err, errsize);
    else rc = export_webp(img, img_len, width, height, params, manifest, &o, err, errsize);
    free(params);
    if (!rc && o.oom) rc = RAIIAF_E_NOMEM;
    if (rc) {
        if (rc == RAIIAF_E_NOMEM) rf_msg(err, errsize, "out of memory");
        free(o.p);
        return rc;
    }
    *out = o.p;
    *out_size = o.n;
    if (flags) *flags = fl;
    return RAIIAF_OK;
}

int raiiaf_export_file(raiiaf_reader *r, const char *path, const char *format, unsigned *flags, char *err,
                       size_t errsize)
{
    if (!path) {
        rf_msg(err, errsize, "raiiaf_export_file: no path");
        return RAIIAF_E_ARG;
    }
    if (!format && !(format = format_of_extension(path))) {
        rf_msg(err, errsize, "%s: cannot tell the format from the extension (.png, .jpg, .jpeg, .webp)", path);
        return RAIIAF_E_ARG;
    }
    unsigned char *data;
    size_t size;
    int rc = raiiaf_export(r, format, &data, &size, flags, err, errsize);
    if (rc) return rc;
    rf_err e = {0};
    rc = rf_write_file(path, data, size, NULL, 0, &e);
    if (rc) rf_msg(err, errsize, "%s", e.msg);
    free(data);
    return rc;
}
