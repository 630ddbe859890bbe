/*
 * import_png.c -- the text records an image carries: PNG tEXt/zTXt/iTXt
 * chunks, and EXIF strings (UserComment above all) inside a JPEG's APP1
 * segment or a WebP's EXIF chunk.
 *
 * Input is hostile.  Every length is compared with what remains before it
 * is used (never `pos + len > size`, which can wrap), zlib output is capped
 * at META_MAX_TEXT, at most META_MAX_TEXTS records are kept, and EXIF IFD
 * walks are bounded (at most 2 IFDs, 1000 entries each, no loops).
 */
#include "interop.h"
#include "../internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static uint32_t rd32be(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static uint32_t rd32le(const unsigned char *p)
{
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}

void meta_list_free(meta_list *l)
{
    if (!l) return;
    for (size_t i = 0; i < l->count; i++) {
        free(l->items[i].text);
        free(l->items[i].raw);
        free(l->items[i].language);
        free(l->items[i].translated);
    }
    free(l->items);
    l->items = NULL;
    l->count = 0;
}

const meta_text *meta_find(const meta_list *l, const char *keyword)
{
    for (size_t i = 0; i < l->count; i++)
        if (!strcmp(l->items[i].keyword, keyword)) return &l->items[i];
    return NULL;
}

/* A new zeroed record, or NULL when the list is full or memory ran out. */
static meta_text *meta_push(meta_list *l)
{
    if (l->count >= META_MAX_TEXTS) return NULL;
    meta_text *n = realloc(l->items, (l->count + 1) * sizeof *n);
    if (!n) return NULL;
    l->items = n;
    memset(&n[l->count], 0, sizeof *n);
    return &n[l->count++];
}

/* ---------------------------------------------------------------------- */
/* Text decoding                                                           */
/* ---------------------------------------------------------------------- */

static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) k = 1, cp = c & 0x1F;
        else if ((c & 0xF0) == 0xE0) k = 2, cp = c & 0x0F;
        else if ((c & 0xF8) == 0xF0) k = 3, cp = c & 0x07;
        else return 0;
        if (n - i <= k) return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

static size_t utf8_put(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Bytes as UTF-8 when valid, else Latin-1 converted to UTF-8. */
static char *decode_8bit(const unsigned char *s, size_t n, size_t *len, const char **enc)
{
    if (utf8_valid(s, n)) {
        char *t = malloc(n + 1);
        if (!t) return NULL;
        memcpy(t, s, n);
        t[n] = '\0';
        *len = n;
        *enc = "utf-8";
        return t;
    }
    char *t = malloc(2 * n + 1);
    if (!t) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) o += utf8_put(t + o, s[i]);
    t[o] = '\0';
    *len = o;
    *enc = "latin-1";
    return t;
}

char *exif_usercomment_decode(const unsigned char *v, size_t n, int big_endian, size_t *len, const char **encoding)
{
    if (n >= 8 && !memcmp(v, "UNICODE\0", 8)) {
        const unsigned char *u = v + 8;
        size_t m = (n - 8) / 2;
        /* Which byte order?  Count the code units that read as ASCII
         * (a NUL high byte beside a non-NUL low byte) in each order; the
         * TIFF byte order wins ties. */
        size_t as_be = 0, as_le = 0;
        for (size_t i = 0; i < m; i++) {
            as_be += u[2 * i] == 0 && u[2 * i + 1] != 0 && u[2 * i + 1] < 0x80;
            as_le += u[2 * i + 1] == 0 && u[2 * i] != 0 && u[2 * i] < 0x80;
        }
        int be = as_be == as_le ? big_endian : as_be > as_le;
        /* A byte order mark settles it. */
        if (m && ((u[0] == 0xFE && u[1] == 0xFF) || (u[0] == 0xFF && u[1] == 0xFE))) {
            be = u[0] == 0xFE;
            u += 2;
            m--;
        }
        char *t = malloc(m * 3 + 1);
        if (!t) return NULL;
        size_t o = 0;
        for (size_t i = 0; i < m; i++) {
            uint32_t c = be ? ((uint32_t)u[2 * i] << 8 | u[2 * i + 1]) : ((uint32_t)u[2 * i + 1] << 8 | u[2 * i]);
            if (c >= 0xD800 && c <= 0xDBFF && i + 1 < m) {
                uint32_t d = be ? ((uint32_t)u[2 * i + 2] << 8 | u[2 * i + 3]) : ((uint32_t)u[2 * i + 3] << 8 | u[2 * i + 2]);
                if (d >= 0xDC00 && d <= 0xDFFF) {
                    c = 0x10000 + ((c - 0xD800) << 10) + (d - 0xDC00);
                    i++;
                } else c = 0xFFFD;
            } else if (c >= 0xD800 && c <= 0xDFFF) c = 0xFFFD;
            o += utf8_put(t + o, c);
        }
        /* A trailing NUL terminator (some writers add one) is not text. */
        while (o && t[o - 1] == '\0') o--;
        t[o] = '\0';
        *len = o;
        *encoding = be ? "utf-16be" : "utf-16le";
        return t;
    }
    const unsigned char *s = v;
    size_t m = n;
    if (n >= 8 && (!memcmp(v, "ASCII\0\0\0", 8) || !memcmp(v, "\0\0\0\0\0\0\0\0", 8) || !memcmp(v, "JIS\0\0\0\0\0", 8)))
        s += 8, m -= 8;
    while (m && s[m - 1] == '\0') m--;
    char *t = decode_8bit(s, m, len, encoding);
    if (t && s == v + 8 && !memcmp(v, "ASCII", 5)) *encoding = "ascii";
    return t;
}

/* ---------------------------------------------------------------------- */
/* PNG                                                                     */
/* ---------------------------------------------------------------------- */

/* Inflates a zlib stream into at most `max` bytes (at most META_MAX_TEXT):
 * 0, -1 when the stream is damaged, -2 when it would need more.  The work
 * done is bounded by `max`, whatever the stream claims. */
static int inflate_capped(const unsigned char *in, size_t n, size_t max, unsigned char **out, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (max > META_MAX_TEXT) max = META_MAX_TEXT;
    if (inflateInit(&z) != Z_OK) return -1;
    size_t cap = n * 4 + 256, len = 0;
    if (cap > max) cap = max;
    unsigned char *buf = malloc(cap + 1);
    if (!buf) {
        inflateEnd(&z);
        return -1;
    }
    z.next_in = (unsigned char *)in;
    int rc = Z_OK;
    size_t consumed = 0;
    while (rc != Z_STREAM_END) {
        if (len == cap) {
            if (cap >= max) break;
            size_t nc = cap * 2 > max ? max : cap * 2;
            unsigned char *nb = realloc(buf, nc + 1);
            if (!nb) break;
            buf = nb;
            cap = nc;
        }
        size_t chunk_in = n - consumed > (1u << 30) ? (1u << 30) : n - consumed;
        z.next_in = (unsigned char *)in + consumed;
        z.avail_in = (uInt)chunk_in;
        z.next_out = buf + len;
        size_t room = cap - len > (1u << 30) ? (1u << 30) : cap - len;
        z.avail_out = (uInt)room;
        rc = inflate(&z, Z_NO_FLUSH);
        consumed += chunk_in - z.avail_in;
        len += room - z.avail_out;
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) break;
        if (rc == Z_BUF_ERROR && z.avail_in == 0 && consumed == n) break; /* truncated */
    }
    inflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(buf);
        return len >= max ? -2 : -1;
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return 0;
}

/* Inflates a record's text within what is left of the image's budget.
 * A record that runs past it spends the rest: the work done is charged, so
 * the total inflated per image stays bounded however many records try. */
static int inflate_record(const unsigned char *in, size_t n, meta_list *out, unsigned char **text, size_t *len)
{
    size_t left = out->inflated < META_MAX_TEXT_TOTAL ? META_MAX_TEXT_TOTAL - out->inflated : 0;
    int rc = left ? inflate_capped(in, n, left, text, len) : -2;
    if (rc == -2) {
        out->over_budget++;
        out->inflated = META_MAX_TEXT_TOTAL;
    } else if (!rc) {
        out->inflated += *len;
    }
    return rc;
}

static int png_text_chunk(const unsigned char *type, const unsigned char *p, size_t n, meta_list *out)
{
    const unsigned char *nul = memchr(p, 0, n < 80 ? n : 80);
    if (!nul || nul == p) return -1; /* keyword 1..79 bytes */
    size_t klen = (size_t)(nul - p);
    const unsigned char *rest = nul + 1;
    size_t rlen = n - klen - 1;
    unsigned char *plain = NULL;
    size_t plen = 0;
    const unsigned char *text;
    size_t tlen;
    char *lang = NULL, *trans = NULL;
    int utf8 = 0;
    if (!memcmp(type, "tEXt", 4)) {
        text = rest;
        tlen = rlen;
    } else if (!memcmp(type, "zTXt", 4)) {
        if (rlen < 1 || rest[0] != 0) return -1;
        if (inflate_record(rest + 1, rlen - 1, out, &plain, &plen)) return -1;
        text = plain;
        tlen = plen;
    } else { /* iTXt */
        if (rlen < 2) return -1;
        int compressed = rest[0];
        if (compressed > 1 || (compressed && rest[1] != 0)) return -1;
        const unsigned char *q = rest + 2, *end = rest + rlen;
        const unsigned char *z1 = memchr(q, 0, (size_t)(end - q));
        if (!z1) return -1;
        const unsigned char *z2 = memchr(z1 + 1, 0, (size_t)(end - z1 - 1));
        if (!z2) return -1;
        lang = z1 > q ? strndup((const char *)q, (size_t)(z1 - q)) : NULL;
        if (z2 > z1 + 1 && utf8_valid(z1 + 1, (size_t)(z2 - z1 - 1)))
            trans = strndup((const char *)z1 + 1, (size_t)(z2 - z1 - 1));
        q = z2 + 1;
        if (compressed) {
            if (inflate_record(q, (size_t)(end - q), out, &plain, &plen)) {
                free(lang);
                free(trans);
                return -1;
            }
            text = plain;
            tlen = plen;
        } else {
            text = q;
            tlen = (size_t)(end - q);
        }
        utf8 = 1;
    }
    meta_text *m = meta_push(out);
    if (!m) {
        free(plain);
        free(lang);
        free(trans);
        return -1;
    }
    memcpy(m->keyword, p, klen);
    m->keyword[klen] = '\0';
    memcpy(m->type, type, 4);
    m->type[4] = '\0';
    m->language = lang;
    m->translated = trans;
    /* iTXt is UTF-8 by definition; invalid bytes fall back to Latin-1 too
     * (encoding says so) rather than losing the record. */
    (void)utf8;
    m->text = decode_8bit(text, tlen, &m->len, &m->encoding);
    free(plain);
    if (!m->text) {
        free(m->language);
        free(m->translated);
        out->count--;
        return -1;
    }
    return 0;
}

static int png_collect(const unsigned char *d, size_t size, meta_list *out, char *err, size_t errsize)
{
    size_t pos = 8;
    int bad = 0;
    while (pos < size) {
        if (size - pos < 12) {
            rf_msg(err, errsize, "PNG: truncated chunk at offset %zu", pos);
            return RAIIAF_E_IMAGE;
        }
        uint32_t n = rd32be(d + pos);
        const unsigned char *type = d + pos + 4;
        if (n > 0x7FFFFFFFu || size - pos - 12 < n) {
            rf_msg(err, errsize, "PNG: chunk at offset %zu declares %u bytes, beyond the file", pos, n);
            return RAIIAF_E_IMAGE;
        }
        const unsigned char *body = d + pos + 8;
        if (!memcmp(type, "tEXt", 4) || !memcmp(type, "zTXt", 4) || !memcmp(type, "iTXt", 4)) {
            if (png_text_chunk(type, body, n, out)) bad++;
        } else if (!memcmp(type, "eXIf", 4)) {
            char e2[16];
            if (exif_collect(body, n, out, e2, sizeof e2)) bad++;
        }
        pos += 12 + (size_t)n;
        if (!memcmp(type, "IEND", 4)) break;
    }
    if (out->over_budget)
        rf_msg(err, errsize, "%u compressed text chunk%s skipped: the image's text would decompress to more than %zu MiB "
               "(%d text chunk%s skipped in all)", out->over_budget, out->over_budget == 1 ? "" : "s",
               (size_t)(META_MAX_TEXT_TOTAL >> 20), bad, bad == 1 ? "" : "s");
    else if (bad)
        rf_msg(err, errsize, "%d text chunk%s could not be decoded and were skipped", bad, bad == 1 ? "" : "s");
    return RAIIAF_OK;
}

/* ---------------------------------------------------------------------- */
/* EXIF (TIFF structure)                                                   */
/* ---------------------------------------------------------------------- */

typedef struct tiff {
    const unsigned char *d;
    size_t n;
    int be;
} tiff;

static uint32_t t32(const tiff *t, size_t off) { return t->be ? rd32be(t->d + off) : rd32le(t->d + off); }
static uint16_t t16(const tiff *t, size_t off)
{
    return t->be ? (uint16_t)(t->d[off] << 8 | t->d[off + 1]) : (uint16_t)(t->d[off + 1] << 8 | t->d[off]);
}

static const struct {
    uint16_t tag;
    const char *keyword, *type;
} exif_tags[] = {
    {0x9286, "UserComment", "exif-usercomment"},
    {0x010E, "ImageDescription", "exif-imagedescription"},
    {0x010F, "Make", "exif-make"},
    {0x0110, "Model", "exif-model"},
};

static int exif_ifd(const tiff *t, uint32_t off, meta_list *out, uint32_t *exif_ptr)
{
    if (off < 8 || off > t->n || t->n - off < 2) return -1;
    unsigned count = t16(t, off);
    if (count > 1000 || (t->n - off - 2) / 12 < count) return -1;
    for (unsigned i = 0; i < count; i++) {
        size_t e = off + 2 + (size_t)i * 12;
        uint16_t tag = t16(t, e), type = t16(t, e + 2);
        uint32_t cnt = t32(t, e + 4);
        if (tag == 0x8769 && exif_ptr && (type == 4 || type == 13) && cnt == 1) {
            *exif_ptr = t32(t, e + 8);
            continue;
        }
        if (tag == 0x927C && type == 7 && cnt > 7) { /* MakerNote: our own manifest, "raiiaf\0" + JSON */
            uint32_t vo = t32(t, e + 8);
            if (vo > t->n || t->n - vo < cnt) return -1;
            if (memcmp(t->d + vo, "raiiaf\0", 7)) continue;
            meta_text *m = meta_push(out);
            if (!m) return -1;
            snprintf(m->keyword, sizeof m->keyword, "raiiaf");
            snprintf(m->type, sizeof m->type, "exif-makernote");
            m->text = decode_8bit(t->d + vo + 7, cnt - 7, &m->len, &m->encoding);
            if (!m->text) {
                out->count--;
                return -1;
            }
            continue;
        }
        size_t k;
        for (k = 0; k < sizeof exif_tags / sizeof exif_tags[0]; k++)
            if (exif_tags[k].tag == tag) break;
        if (k == sizeof exif_tags / sizeof exif_tags[0]) continue;
        if (type != 2 && type != 7 && type != 1) continue; /* ASCII, UNDEFINED, BYTE */
        const unsigned char *v;
        if (cnt <= 4) v = t->d + e + 8;
        else {
            uint32_t vo = t32(t, e + 8);
            if (vo > t->n || t->n - vo < cnt) return -1;
            v = t->d + vo;
        }
        meta_text *m = meta_push(out);
        if (!m) return -1;
        snprintf(m->keyword, sizeof m->keyword, "%s", exif_tags[k].keyword);
        snprintf(m->type, sizeof m->type, "%s", exif_tags[k].type);
        m->raw = malloc(cnt ? cnt : 1);
        if (m->raw) {
            memcpy(m->raw, v, cnt);
            m->raw_len = cnt;
        }
        if (tag == 0x9286) m->text = exif_usercomment_decode(v, cnt, t->be, &m->len, &m->encoding);
        else {
            size_t c = cnt;
            while (c && v[c - 1] == '\0') c--;
            m->text = decode_8bit(v, c, &m->len, &m->encoding);
        }
        if (!m->text || !m->raw) {
            free(m->text);
            free(m->raw);
            out->count--;
            return -1;
        }
    }
    return 0;
}

int exif_collect(const unsigned char *d, size_t n, meta_list *out, char *err, size_t errsize)
{
    tiff t = {d, n, 0};
    if (n < 8 || !((d[0] == 'M' && d[1] == 'M') || (d[0] == 'I' && d[1] == 'I'))) {
        rf_msg(err, errsize, "EXIF: no TIFF header");
        return RAIIAF_E_CORRUPT;
    }
    t.be = d[0] == 'M';
    if (t16(&t, 2) != 42) {
        rf_msg(err, errsize, "EXIF: bad TIFF magic");
        return RAIIAF_E_CORRUPT;
    }
    uint32_t ifd0 = t32(&t, 4), exif = 0;
    if (exif_ifd(&t, ifd0, out, &exif)) {
        rf_msg(err, errsize, "EXIF: IFD0 at %u is damaged", ifd0);
        return RAIIAF_E_CORRUPT;
    }
    if (exif && exif != ifd0 && exif_ifd(&t, exif, out, NULL)) {
        rf_msg(err, errsize, "EXIF: Exif IFD at %u is damaged", exif);
        return RAIIAF_E_CORRUPT;
    }
    return RAIIAF_OK;
}

/* ---------------------------------------------------------------------- */
/* JPEG and WebP containers                                                */
/* ---------------------------------------------------------------------- */

static int jpeg_collect(const unsigned char *d, size_t size, meta_list *out, char *err, size_t errsize)
{
    size_t pos = 2;
    int bad = 0;
    while (pos + 4 <= size) {
        if (d[pos] != 0xFF) break;
        unsigned m = d[pos + 1];
        if (m == 0xFF) {
            pos++;
            continue;
        }
        if (m == 0xD8 || (m >= 0xD0 && m <= 0xD7) || m == 0x01) {
            pos += 2;
            continue;
        }
        if (m == 0xDA || m == 0xD9) break; /* scan data: no more metadata segments */
        size_t len = (size_t)d[pos + 2] << 8 | d[pos + 3];
        if (len < 2 || size - pos - 2 < len) {
            rf_msg(err, errsize, "JPEG: segment at offset %zu runs past the end", pos);
            return RAIIAF_E_IMAGE;
        }
        if (m == 0xE1 && len >= 8 && !memcmp(d + pos + 4, "Exif\0", 5)) {
            char e2[16];
            if (exif_collect(d + pos + 10, len - 8, out, e2, sizeof e2)) bad++;
        }
        pos += 2 + len;
    }
    if (bad) rf_msg(err, errsize, "a damaged EXIF block was skipped");
    return RAIIAF_OK;
}

static int webp_collect(const unsigned char *d, size_t size, meta_list *out, char *err, size_t errsize)
{
    if (size < 12) return RAIIAF_E_IMAGE;
    uint32_t riff = rd32le(d + 4);
    size_t end = riff > size - 8 ? size : (size_t)riff + 8;
    size_t pos = 12;
    int bad = 0;
    if (end < pos) { /* a RIFF size under 4 would make end - pos wrap */
        rf_msg(err, errsize, "WebP: RIFF size %u is smaller than its own header", (unsigned)riff);
        return RAIIAF_E_IMAGE;
    }
    while (end - pos >= 8) {
        uint32_t n = rd32le(d + pos + 4);
        if (end - pos - 8 < n) {
            rf_msg(err, errsize, "WebP: chunk at offset %zu runs past the end", pos);
            return RAIIAF_E_IMAGE;
        }
        if (!memcmp(d + pos, "EXIF", 4)) {
            const unsigned char *p = d + pos + 8;
            size_t m = n;
            if (m >= 6 && !memcmp(p, "Exif\0\0", 6)) p += 6, m -= 6; /* some writers keep the JPEG prefix */
            char e2[16];
            if (exif_collect(p, m, out, e2, sizeof e2)) bad++;
        }
        pos += 8 + (size_t)n + (n & 1);
        if (pos > end) break;
    }
    if (bad) rf_msg(err, errsize, "a damaged EXIF block was skipped");
    return RAIIAF_OK;
}

int meta_collect(const unsigned char *data, size_t size, meta_list *out, char *err, size_t errsize)
{
    memset(out, 0, sizeof *out);
    if (err && errsize) err[0] = '\0';
    if (size >= 8 && !memcmp(data, "\x89PNG\r\n\x1a\n", 8)) {
        out->format = "png";
        return png_collect(data, size, out, err, errsize);
    }
    if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) {
        out->format = "jpeg";
        return jpeg_collect(data, size, out, err, errsize);
    }
    if (size >= 12 && !memcmp(data, "RIFF", 4) && !memcmp(data + 8, "WEBP", 4)) {
        out->format = "webp";
        return webp_collect(data, size, out, err, errsize);
    }
    rf_msg(err, errsize, "not a PNG, JPEG or WebP image");
    return RAIIAF_E_IMAGE;
}

/* ---------------------------------------------------------------------- */
/* Building EXIF                                                           */
/* ---------------------------------------------------------------------- */

static void w16be(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}
static void w32be(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (24 - 8 * i));
}

unsigned char *exif_build_usercomment(const char *text, const char *manifest, size_t *size)
{
    /* UTF-8 -> UTF-16BE (invalid bytes become U+FFFD).  Big-endian in a
     * big-endian ("MM") TIFF: piexif, which AUTOMATIC1111 writes and reads
     * UserComment with, always takes UNICODE text as UTF-16BE whatever the
     * TIFF order, and exiftool takes it in the TIFF order; both agree here. */
    size_t n = strlen(text);
    unsigned char *u = malloc(n * 4 + 8);
    if (!u) return NULL;
    memcpy(u, "UNICODE\0", 8);
    size_t o = 8;
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < n;) {
        uint32_t cp = s[i];
        size_t k = cp < 0x80 ? 0 : (cp & 0xE0) == 0xC0 ? 1 : (cp & 0xF0) == 0xE0 ? 2 : (cp & 0xF8) == 0xF0 ? 3 : 9;
        if (k == 9 || n - i <= k) {
            cp = 0xFFFD;
            i++;
        } else {
            if (k) cp &= 0x3F >> k;
            for (size_t j = 1; j <= k; j++) cp = (cp << 6) | (s[i + j] & 0x3F);
            i += k + 1;
        }
        if (cp >= 0x10000) {
            cp -= 0x10000;
            w16be(u + o, 0xD800 + (cp >> 10));
            w16be(u + o + 2, 0xDC00 + (cp & 0x3FF));
            o += 4;
        } else {
            w16be(u + o, cp);
            o += 2;
        }
    }
    /* TIFF: header 8, IFD0 (1 entry: ExifIFD pointer) 2+12+4 = 18 at 8,
     * Exif IFD at 26: [MakerNote 0x927C,] UserComment 0x9286 (entries in
     * tag order), then the values. */
    size_t ml = manifest ? strlen(manifest) + 7 : 0;
    unsigned ne = manifest ? 3 : 2;
    size_t vals = 26 + 2 + 12 * (size_t)ne + 4;
    size_t total = vals + ml + (ml & 1) + o;
    unsigned char *t = calloc(1, total);
    if (!t) {
        free(u);
        return NULL;
    }
    memcpy(t, "MM\0*", 4);
    w32be(t + 4, 8);
    w16be(t + 8, 1);
    w16be(t + 10, 0x8769);
    w16be(t + 12, 4);
    w32be(t + 14, 1);
    w32be(t + 18, 26);
    w32be(t + 22, 0);
    w16be(t + 26, ne);
    size_t e = 28, at = vals;
    w16be(t + e, 0x9000); /* ExifVersion "0232", required by the Exif spec */
    w16be(t + e + 2, 7);
    w32be(t + e + 4, 4);
    memcpy(t + e + 8, "0232", 4);
    e += 12;
    if (manifest) {
        w16be(t + e, 0x927C);
        w16be(t + e + 2, 7);
        w32be(t + e + 4, (uint32_t)ml);
        w32be(t + e + 8, (uint32_t)at);
        memcpy(t + at, "raiiaf\0", 7);
        memcpy(t + at + 7, manifest, ml - 7);
        at += ml + (ml & 1); /* values start on a word boundary */
        e += 12;
    }
    w16be(t + e, 0x9286);
    w16be(t + e + 2, 7);
    w32be(t + e + 4, (uint32_t)o);
    w32be(t + e + 8, (uint32_t)at);
    w32be(t + e + 12, 0);
    memcpy(t + at, u, o);
    free(u);
    *size = total;
    return t;
}
