/*
 * c2pa.c -- C2PA manifest stores (Content Credentials: ChatGPT / DALL-E,
 * Gemini, Adobe Firefly, cameras), read only to say that one is there and
 * which claim generator made it.  They carry no generation settings.
 *
 * Where the store lives: a PNG `caBX` chunk, a WebP `C2PA` chunk (both the
 * JUMBF superbox as is), or JPEG APP11 segments ("JP", a 2-byte box
 * instance, a 4-byte sequence number, then the JUMBF bytes; segments after
 * the first repeat the superbox's 8-byte LBox/TBox header, which is
 * dropped so the pieces join).
 *
 * No CBOR library: the claim is CBOR inside the JUMBF, and the claim
 * generator is found by its encoded key -- the text string
 * "claim_generator" (header 0x6F) followed by a text value (0x60-0x77,
 * 0x78 n, 0x79 nn), or "claim_generator_info" (header 0x74) whose first
 * "name" text follows within 512 bytes.  Every read is checked against the
 * store's end; a store is at most C2PA_MAX_STORE bytes; the last claim in
 * the store is the active manifest's (ingredients' claims come first).
 */
#include "interop.h"

#include <stdlib.h>
#include <string.h>

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A CBOR text string at p (bounded by end): its bytes and length. */
static int cbor_text(const unsigned char *p, const unsigned char *end, const unsigned char **s, size_t *n)
{
    if (p >= end) return -1;
    unsigned h = *p++;
    size_t len;
    if (h >= 0x60 && h <= 0x77) len = h - 0x60;
    else if (h == 0x78 && end - p >= 1) len = *p++;
    else if (h == 0x79 && end - p >= 2) len = (size_t)p[0] << 8 | p[1], p += 2;
    else return -1;
    if ((size_t)(end - p) < len) return -1;
    *s = p;
    *n = len;
    return 0;
}

static const unsigned char *find_last(const unsigned char *d, size_t n, const char *key, size_t kn)
{
    const unsigned char *hit = NULL;
    for (size_t i = 0; n >= kn && i <= n - kn; i++)
        if (d[i] == (unsigned char)key[0] && !memcmp(d + i, key, kn)) hit = d + i;
    return hit;
}

char *c2pa_claim_generator(const unsigned char *store, size_t n, int *from_info)
{
    const unsigned char *end = store + n, *s;
    size_t len;
    *from_info = 0;
    const unsigned char *k = find_last(store, n, "\x6f" "claim_generator", 16);
    if (k && !cbor_text(k + 16, end, &s, &len) && len) return strndup((const char *)s, len);
    k = find_last(store, n, "\x74" "claim_generator_info", 21);
    if (!k) return NULL;
    *from_info = 1;
    const unsigned char *from = k + 21, *lim = (size_t)(end - from) > 512 ? from + 512 : end;
    for (const unsigned char *p = from; lim - p >= 5; p++)
        if (!memcmp(p, "\x64name", 5) && !cbor_text(p + 5, end, &s, &len) && len) return strndup((const char *)s, len);
    return NULL;
}

/* The store's bytes (malloc'd) and the container it came from. */
static unsigned char *find_store(const unsigned char *d, size_t size, size_t *n, const char **where)
{
    unsigned char *buf = NULL;
    *n = 0;
    if (size >= 8 && !memcmp(d, "\x89PNG\r\n\x1a\n", 8)) {
        for (size_t pos = 8; size - pos >= 12;) {
            uint32_t len = be32(d + pos);
            if (len > size - pos - 12) break;
            if (!memcmp(d + pos + 4, "caBX", 4) && len <= C2PA_MAX_STORE) {
                *where = "png caBX";
                *n = len;
                buf = malloc(len ? len : 1);
                if (buf) memcpy(buf, d + pos + 8, len);
                return buf;
            }
            if (!memcmp(d + pos + 4, "IEND", 4)) break;
            pos += 12 + (size_t)len;
        }
    } else if (size >= 12 && !memcmp(d, "RIFF", 4) && !memcmp(d + 8, "WEBP", 4)) {
        for (size_t pos = 12; size - pos >= 8;) {
            uint32_t len = (uint32_t)d[pos + 4] | (uint32_t)d[pos + 5] << 8 | (uint32_t)d[pos + 6] << 16 | (uint32_t)d[pos + 7] << 24;
            if (len > size - pos - 8) break;
            if (!memcmp(d + pos, "C2PA", 4) && len <= C2PA_MAX_STORE) {
                *where = "webp C2PA";
                *n = len;
                buf = malloc(len ? len : 1);
                if (buf) memcpy(buf, d + pos + 8, len);
                return buf;
            }
            pos += 8 + (size_t)len + (len & 1);
            if (pos > size) break; /* an odd last chunk without its padding byte */
        }
    } else if (size >= 4 && d[0] == 0xFF && d[1] == 0xD8) {
        size_t got = 0;
        for (size_t pos = 2; size - pos >= 4 && d[pos] == 0xFF;) {
            unsigned m = d[pos + 1];
            if (m == 0xDA || m == 0xD9) break;
            if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7) || m == 0xFF) {
                pos += m == 0xFF ? 1 : 2;
                continue;
            }
            size_t len = (size_t)d[pos + 2] << 8 | d[pos + 3];
            if (len < 2 || size - pos - 2 < len) break;
            const unsigned char *seg = d + pos + 4;
            size_t sl = len - 2;
            if (m == 0xEB && sl >= 8 && seg[0] == 'J' && seg[1] == 'P') {
                uint32_t z = be32(seg + 4);
                const unsigned char *body = seg + 8;
                size_t bl = sl - 8;
                if (z > 1 && got) { /* continuation: the repeated LBox/TBox go */
                    if (bl < 8) break;
                    body += 8;
                    bl -= 8;
                }
                if (bl > C2PA_MAX_STORE - got) break;
                unsigned char *nb = realloc(buf, got + bl + 1);
                if (!nb) break;
                buf = nb;
                memcpy(buf + got, body, bl);
                got += bl;
                *where = "jpeg APP11";
            }
            pos += 2 + len;
        }
        *n = got;
        return buf;
    }
    return NULL;
}

int c2pa_probe(const unsigned char *data, size_t size, import_result *r, int set_tool)
{
    size_t n;
    const char *where = NULL;
    unsigned char *store = find_store(data, size, &n, &where);
    if (!store || !where) {
        free(store);
        return 0;
    }
    /* A JUMBF superbox whose description box is labelled "c2pa". */
    int is_c2pa = n >= 8 && !memcmp(store + 4, "jumb", 4) && find_last(store, n < 64 ? n : 64, "c2pa", 4);
    int info = 0;
    char *gen = is_c2pa ? c2pa_claim_generator(store, n, &info) : NULL;
    free(store);
    if (!is_c2pa) return 0;
    json_t *o = json_pack("{s:s,s:I}", "container", where, "bytes", (json_int_t)n);
    if (gen) json_object_set_new(o, "claim_generator", json_string(gen));
    if (gen && set_tool) {
        /* claim_generator "Adobe_Firefly/1.0 c2pa-rs/0.25" -> "Adobe_Firefly",
         * the product; claim_generator_info's name is the product already */
        size_t k = info ? strlen(gen) : strcspn(gen, " /");
        json_object_set_new(o, "tool", json_stringn(gen, k ? k : strlen(gen)));
    }
    json_object_set_new(r->ext, "c2pa", o);
    if (set_tool) {
        const char *t = json_string_value(json_object_get(o, "tool"));
        r->tool = t ? t : "C2PA";
        imp_set_family(r, "C2PA");
        imp_note(r, "C2PA manifest store in %s (read only: it holds no generation settings)", where);
    }
    free(gen);
    return 1;
}
