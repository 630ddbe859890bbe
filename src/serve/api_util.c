/* api_util.c -- what every endpoint of the JSON API uses: replies (JSON,
 * errors as {"error": "..."}), query-string parameters, index rows. */
#include "api_internal.h"
#include "index/index_impl.h"
#include "raiiaf_json.h"

#include <limits.h>
#include <spng.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int api_set_body(resp *r, int status, const char *type, unsigned char *body, size_t size)
{
    *r->status = status;
    *r->type = type;
    *r->body = body;
    *r->size = size;
    return RAIIAF_OK;
}

int api_json_reply(resp *r, int status, json_t *j)
{
    char *s = j ? raiiaf_json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL; /* seeds beyond 2^63 too */
    json_decref(j);
    if (!s) return RAIIAF_E_NOMEM;
    return api_set_body(r, status, "application/json", (unsigned char *)s, strlen(s));
}

int api_error(resp *r, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return api_json_reply(r, status, json_pack("{ss}", "error", msg));
}

/* Percent-decoding; '+' is a space in queries.  NUL bytes and bad escapes
 * refuse the whole parameter (-1). */
static int url_decode(const char *s, size_t n, char *out, size_t cap, int plus_space)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n) return -1;
            int v = 0;
            for (int k = 1; k <= 2; k++) {
                char h = s[i + k];
                v <<= 4;
                if (h >= '0' && h <= '9') v |= h - '0';
                else if (h >= 'a' && h <= 'f') v |= h - 'a' + 10;
                else if (h >= 'A' && h <= 'F') v |= h - 'A' + 10;
                else return -1;
            }
            c = (unsigned char)v;
            i += 2;
        } else if (c == '+' && plus_space) c = ' ';
        if (!c || o + 1 >= cap) return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return (int)o;
}

/* The decoded value of `key` in the raw query, into out (cap bytes):
 * 1 found, 0 absent, -1 malformed. */
int api_query_get(const char *query, const char *key, char *out, size_t cap)
{
    if (!query) return 0;
    size_t kl = strlen(key);
    const char *p = query;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t nl = eq ? (size_t)(eq - p) : len;
        if (nl == kl && !memcmp(p, key, kl)) {
            if (!eq) return out[0] = '\0', 1;
            return url_decode(eq + 1, len - nl - 1, out, cap, 1) < 0 ? -1 : 1;
        }
        p += len + (amp ? 1 : 0);
    }
    return 0;
}

int api_parse_u64(const char *s, unsigned long long max, unsigned long long *v)
{
    if (!*s || strlen(s) > 20) return -1;
    unsigned long long x = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        unsigned d = (unsigned)(*p - '0');
        if (x > (ULLONG_MAX - d) / 10) return -1; /* beyond 2^64-1 */
        x = x * 10 + d;
    }
    if (x > max) return -1;
    *v = x;
    return 0;
}

/* The indexed row of file `id` as JSON, and its path (malloc'd):
 * 0 found, 1 not in the index, -1 the database failed. */
int api_file_row(sqlite3 *db, long long id, json_t **row, char **path)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, "SELECT * FROM files WHERE id = ?", -1, &s, NULL) != SQLITE_OK) return -1;
    sqlite3_bind_int64(s, 1, id);
    int found = sqlite3_step(s) == SQLITE_ROW;
    if (found) {
        if (row) *row = rf_index_files_row(s);
        *path = strdup((const char *)sqlite3_column_text(s, 1));
    }
    sqlite3_finalize(s);
    return found ? 0 : 1;
}

int api_png_encode(const uint8_t *px, uint32_t w, uint32_t h, int gray, unsigned char **out, size_t *n)
{
    spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    if (!ctx) return RAIIAF_E_NOMEM;
    uint8_t ct = gray ? SPNG_COLOR_TYPE_GRAYSCALE : SPNG_COLOR_TYPE_TRUECOLOR;
    struct spng_ihdr ihdr = {.width = w, .height = h, .bit_depth = 8, .color_type = ct};
    spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
    spng_set_ihdr(ctx, &ihdr);
    size_t len = (size_t)w * h * (gray ? 1 : 3);
    int e = spng_encode_image(ctx, px, len, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
    void *buf = e ? NULL : spng_get_png_buffer(ctx, n, &e);
    spng_ctx_free(ctx);
    if (!buf) return RAIIAF_E_NOMEM;
    *out = buf;
    return RAIIAF_OK;
}
