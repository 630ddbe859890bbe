/* api.c -- the JSON API of `raiiaf serve`: a request path and raw query
 * string -> HTTP status, content type and body.  No HTTP here (server.c
 * does that), so the whole request parsing is testable and fuzzable alone.
 *
 * Safety: a file is named only by its index id (decimal digits); the path
 * that is opened comes from the index database, never from the URL.  Every
 * error is a JSON object {"error": "..."} with a 4xx/5xx status. */
#include "raiiaf.h"
#include "raiiaf_json.h"
#include "index/index_impl.h"

#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <spng.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_QUERY 4096    /* bytes of query string accepted */
#define MAX_LIMIT 500     /* search results per page */
#define THUMB_SIDE 256
#define MAX_TENSOR_DL (1u << 30) /* tensors larger than this are not offered decoded */

typedef struct resp {
    int *status;
    const char **type;
    unsigned char **body;
    size_t *size;
} resp;

static int set_body(resp *r, int status, const char *type, unsigned char *body, size_t size)
{
    *r->status = status;
    *r->type = type;
    *r->body = body;
    *r->size = size;
    return RAIIAF_OK;
}

static int json_reply(resp *r, int status, json_t *j)
{
    char *s = j ? raiiaf_json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL; /* seeds beyond 2^63 too */
    json_decref(j);
    if (!s) return RAIIAF_E_NOMEM;
    return set_body(r, status, "application/json", (unsigned char *)s, strlen(s));
}

static int error_reply(resp *r, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return json_reply(r, status, json_pack("{ss}", "error", msg));
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
static int query_get(const char *query, const char *key, char *out, size_t cap)
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

static int parse_u64(const char *s, unsigned long long max, unsigned long long *v)
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

typedef struct items_ctx {
    json_t *items;
} items_ctx;

static int add_item(void *user, json_t *row)
{
    json_array_append_new(((items_ctx *)user)->items, row);
    return 0;
}

/* The fields of a search result in the web app's grid. */
static const char SEARCH_FIELDS[] = "id,path,model,prompt,seed,steps,sampler,cfg_scale,width,height,image_format,signature,"
                                    "mtime_ns,tags";

static int api_search(sqlite3 *db, const char *query, resp *r)
{
    char q[MAX_QUERY], model[256], tag[256], seed[32], lim[16], off[16], latents[8];
    int hq = query_get(query, "q", q, sizeof q), hm = query_get(query, "model", model, sizeof model);
    int ht = query_get(query, "tag", tag, sizeof tag), hs = query_get(query, "seed", seed, sizeof seed);
    int hl = query_get(query, "limit", lim, sizeof lim), ho = query_get(query, "offset", off, sizeof off);
    int hx = query_get(query, "has_latents", latents, sizeof latents);
    if (hq < 0 || hm < 0 || ht < 0 || hs < 0 || hl < 0 || ho < 0 || hx < 0)
        return error_reply(r, 400, "malformed query string (bad %%-escape, NUL byte or value too long)");
    unsigned long long limit = 60, offset = 0, seedv = 0;
    if (hl > 0 && parse_u64(lim, MAX_LIMIT, &limit)) return error_reply(r, 400, "limit: expected 0..%d", MAX_LIMIT);
    if (ho > 0 && parse_u64(off, 1000000000ULL, &offset)) return error_reply(r, 400, "offset: expected a non-negative integer");
    if (hs > 0 && parse_u64(seed, (unsigned long long)UINT64_MAX, &seedv))
        return error_reply(r, 400, "seed: expected a non-negative integer");
    /* q: words separated by spaces or tabs, all must occur (index_search.c) */
    const char *words[MAX_QUERY / 2 + 1];
    size_t nw = 0;
    for (char *p = hq > 0 ? q : NULL; p && *p;) {
        while (*p == ' ' || *p == '\t') *p++ = '\0';
        if (!*p) break;
        words[nw++] = p;
        while (*p && *p != ' ' && *p != '\t') p++;
    }
    const char *tags[1] = {tag};
    raiiaf_index_query iq = {.words = words, .nwords = nw, .model = hm > 0 && model[0] ? model : NULL,
                             .has_seed = hs > 0, .seed = seedv, .tags = tags, .ntags = ht > 0 && tag[0] ? 1 : 0,
                             .flags = RAIIAF_INDEX_NEWEST_FIRST | (hx > 0 && !strcmp(latents, "1") ? RAIIAF_INDEX_HAS_TENSORS : 0),
                             .limit = (int64_t)limit, .offset = offset, .fields = SEARCH_FIELDS};
    items_ctx c = {json_array()};
    char err[768];
    int e = rf_index_query(db, &iq, add_item, &c, NULL, err, sizeof err);
    if (e) {
        json_decref(c.items);
        /* A full-text syntax problem is the user's query, not the server. */
        if (e == RAIIAF_E_ARG) return error_reply(r, 400, "search: %s", err);
        if (e == RAIIAF_E_NOMEM) return RAIIAF_E_NOMEM;
        return error_reply(r, 500, "index database: %s", err);
    }
    return json_reply(r, 200, json_pack("{so sI sI}", "items", c.items, "limit", (json_int_t)limit, "offset",
                                        (json_int_t)offset));
}

/* The indexed row of file `id` as JSON, and its path (malloc'd). */
static int file_row(sqlite3 *db, long long id, json_t **row, char **path)
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

static int png_encode(const uint8_t *px, uint32_t w, uint32_t h, uint8_t color_type, unsigned char **out, size_t *n)
{
    spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    if (!ctx) return RAIIAF_E_NOMEM;
    struct spng_ihdr ihdr = {.width = w, .height = h, .bit_depth = 8, .color_type = color_type};
    spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
    spng_set_ihdr(ctx, &ihdr);
    size_t len = (size_t)w * h * (color_type == SPNG_COLOR_TYPE_GRAYSCALE ? 1 : 3);
    int e = spng_encode_image(ctx, px, len, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
    void *buf = e ? NULL : spng_get_png_buffer(ctx, n, &e);
    spng_ctx_free(ctx);
    if (!buf) return RAIIAF_E_NOMEM;
    *out = buf;
    return RAIIAF_OK;
}

static const char *image_type(const char *fmt)
{
    if (!fmt) return "application/octet-stream";
    if (!strcmp(fmt, "png")) return "image/png";
    if (!strcmp(fmt, "jpeg")) return "image/jpeg";
    if (!strcmp(fmt, "webp")) return "image/webp";
    return "application/octet-stream";
}

static json_t *file_json(raiiaf_reader *rd, json_t *row, sqlite3 *db, long long id)
{
    json_t *o = json_object();
    json_object_set_new(o, "index", row);
    json_object_set_new(o, "tags", rf_index_tags(db, id));
    size_t msz = 0;
    const char *m = raiiaf_reader_manifest(rd, &msz);
    json_t *man = m ? json_loadb(m, msz, 0, NULL) : NULL;
    json_object_set_new(o, "manifest", man ? man : json_null());
    unsigned major = 0, minor = 0;
    raiiaf_reader_format(rd, &major, &minor);
    json_object_set_new(o, "format", json_sprintf("%u.%u", major, minor));
    json_object_set_new(o, "version", json_integer(raiiaf_reader_manifest_version(rd)));
    json_t *ts = json_array();
    for (size_t i = 0; i < raiiaf_reader_tensor_count(rd); i++) {
        raiiaf_tensor_info ti;
        if (raiiaf_reader_tensor_info(rd, i, &ti)) continue;
        json_t *shape = json_array();
        for (unsigned k = 0; k < ti.rank; k++) json_array_append_new(shape, json_integer((json_int_t)ti.shape[k]));
        json_t *t = json_pack("{ss ss so ss sI sI}", "name", ti.name, "dtype", raiiaf_dtype_name(ti.dtype), "shape",
                              shape, "codec", raiiaf_codec_name(ti.codec), "stored_size", (json_int_t)ti.stored_size,
                              "raw_size", (json_int_t)ti.raw_size);
        if (ti.reference) json_object_set_new(t, "reference", json_string(ti.reference));
        raiiaf_recipe rec;
        if (!raiiaf_reader_tensor_recipe(rd, i, &rec))
            json_object_set_new(t, "recipe", json_pack("{ss sI ss}", "generator", rec.generator, "seed",
                                                       (json_int_t)rec.seed, "kernel", rec.kernel));
        json_array_append_new(ts, t);
    }
    json_object_set_new(o, "tensors", ts);
    return o;
}

static void collect_problem(void *ctx, int status, const char *message)
{
    json_array_append_new(ctx, json_pack("{ss ss}", "status", raiiaf_strerror(status), "message", message));
}

/* Reads tensor `name` decoded into a malloc'd buffer. */
static int tensor_bytes(raiiaf_reader *rd, const char *name, raiiaf_tensor_info *ti, void **data, resp *r, int *done)
{
    size_t idx;
    *done = 0;
    if (raiiaf_reader_find_tensor(rd, name, &idx)) return *done = 1, error_reply(r, 404, "no tensor named '%s'", name);
    raiiaf_reader_tensor_info(rd, idx, ti);
    if (ti->raw_size > MAX_TENSOR_DL) return *done = 1, error_reply(r, 413, "tensor '%s' is too large to serve", name);
    *data = malloc(ti->raw_size ? ti->raw_size : 1);
    if (!*data) return *done = 1, RAIIAF_E_NOMEM;
    int e = raiiaf_reader_read_tensor(rd, idx, *data, ti->raw_size);
    if (e) {
        free(*data);
        *data = NULL;
        return *done = 1, error_reply(r, 422, "tensor '%s': %s", name, raiiaf_reader_errmsg(rd));
    }
    return RAIIAF_OK;
}

static int api_tensor(raiiaf_reader *rd, const char *rest, const char *query, resp *r)
{
    char name[512];
    const char *dot = strrchr(rest, '.');
    const char *slash = strchr(rest, '/');
    raiiaf_tensor_info ti;
    void *data = NULL;
    int done;
    if (slash && !strcmp(slash, "/preview.png")) {
        if ((size_t)(slash - rest) >= sizeof name) return error_reply(r, 414, "tensor name too long");
        memcpy(name, rest, (size_t)(slash - rest));
        name[slash - rest] = '\0';
        char fam[32], ch[16];
        int hf = query_get(query, "family", fam, sizeof fam), hc = query_get(query, "channel", ch, sizeof ch);
        if (hf < 0 || hc < 0) return error_reply(r, 400, "malformed query string");
        int e = tensor_bytes(rd, name, &ti, &data, r, &done);
        if (done) return e;
        /* A latent is [1,]C,H,W float32. */
        unsigned rank = ti.rank;
        const uint64_t *sh = ti.shape;
        if (rank == 4 && sh[0] == 1) rank = 3, sh++;
        if (ti.dtype != RAIIAF_F32 || rank != 3 || sh[0] == 0 || sh[0] > 64 || sh[1] > 4096 || sh[2] > 4096) {
            free(data);
            return error_reply(r, 422, "tensor '%s' is not a float32 latent [1,]C,H,W", name);
        }
        unsigned c = (unsigned)sh[0];
        uint32_t h = (uint32_t)sh[1], w = (uint32_t)sh[2];
        size_t plane = (size_t)h * w;
        uint8_t *px = malloc(plane * 3);
        if (!px) return free(data), RAIIAF_E_NOMEM;
        if (hc > 0) {
            unsigned long long k;
            if (parse_u64(ch, c - 1, &k)) e = -1;
            else e = raiiaf_latent_channel_gray(data, c, h, w, (unsigned)k, px, plane);
        } else {
            const char *f = hf > 0 && fam[0] ? fam : raiiaf_latent_family_guess(NULL, c);
            e = f ? raiiaf_latent_preview(data, c, h, w, f, px, plane * 3) : RAIIAF_E_NOT_FOUND;
        }
        free(data);
        if (e) {
            free(px);
            return error_reply(r, 422, "no preview: %s", hc > 0 ? "channel out of range"
                                                             : "family unknown or its channel count differs");
        }
        unsigned char *png = NULL;
        size_t n = 0;
        e = png_encode(px, w, h, hc > 0 ? SPNG_COLOR_TYPE_GRAYSCALE : SPNG_COLOR_TYPE_TRUECOLOR, &png, &n);
        free(px);
        if (e) return e;
        return set_body(r, 200, "image/png", png, n);
    }
    if (!dot || slash || (size_t)(dot - rest) >= sizeof name) return error_reply(r, 404, "unknown tensor resource");
    memcpy(name, rest, (size_t)(dot - rest));
    name[dot - rest] = '\0';
    int npy = !strcmp(dot, ".npy"), st = !strcmp(dot, ".safetensors");
    if (!npy && !st) return error_reply(r, 404, "tensor downloads are NAME.npy or NAME.safetensors");
    int e = tensor_bytes(rd, name, &ti, &data, r, &done);
    if (done) return e;
    unsigned char *out = NULL;
    size_t n = 0;
    char err[256];
    e = npy ? raiiaf_npy_build(ti.dtype, ti.rank, ti.shape, data, ti.raw_size, &out, &n)
            : raiiaf_safetensors_build(name, ti.dtype, ti.rank, ti.shape, data, ti.raw_size, NULL, &out, &n, err,
                                       sizeof err);
    free(data);
    if (e) return error_reply(r, 422, "tensor '%s' cannot be exported: %s", name, raiiaf_strerror(e));
    return set_body(r, 200, "application/octet-stream", out, n);
}

static int api_file(sqlite3 *db, const char *rest, const char *query, resp *r)
{
    char idtxt[24];
    const char *slash = strchr(rest, '/');
    size_t il = slash ? (size_t)(slash - rest) : strlen(rest);
    unsigned long long id;
    if (il == 0 || il >= sizeof idtxt) return error_reply(r, 400, "file id: expected decimal digits");
    memcpy(idtxt, rest, il);
    idtxt[il] = '\0';
    if (parse_u64(idtxt, (unsigned long long)INT64_MAX, &id)) return error_reply(r, 400, "file id: expected decimal digits");
    json_t *row = NULL;
    char *path = NULL;
    int f = file_row(db, (long long)id, &row, &path);
    if (f < 0) return error_reply(r, 500, "index database: %s", sqlite3_errmsg(db));
    if (f > 0) return error_reply(r, 404, "no file with id %llu in the index", id);
    raiiaf_reader *rd = NULL;
    int e = raiiaf_reader_open_file(path, RAIIAF_READ_NO_DIGEST, &rd);
    free(path);
    if (e) {
        json_decref(row);
        raiiaf_reader_free(rd);
        return error_reply(r, 410, "file %llu cannot be read now: %s", id, raiiaf_strerror(e));
    }
    const char *sub = slash ? slash + 1 : "";
    int ret;
    if (!slash) {
        ret = json_reply(r, 200, file_json(rd, row, db, (long long)id));
        row = NULL;
    } else if (!strcmp(sub, "manifest")) {
        size_t n = 0;
        const char *m = raiiaf_reader_manifest(rd, &n);
        unsigned char *copy = m ? malloc(n ? n : 1) : NULL;
        if (copy) memcpy(copy, m, n);
        ret = copy ? set_body(r, 200, "application/json", copy, n) : error_reply(r, 404, "no manifest");
    } else if (!strcmp(sub, "image") || !strcmp(sub, "thumb")) {
        const void *img = NULL;
        size_t n = 0;
        const char *fmt = NULL;
        e = raiiaf_reader_image(rd, &img, &n, &fmt, NULL, NULL);
        if (e == RAIIAF_E_NOT_FOUND) ret = error_reply(r, 404, "file %llu holds no image", id);
        else if (e) ret = error_reply(r, 422, "image: %s", raiiaf_reader_errmsg(rd));
        else if (sub[0] == 'i') {
            unsigned char *copy = malloc(n ? n : 1);
            ret = copy ? (memcpy(copy, img, n), set_body(r, 200, image_type(fmt), copy, n)) : RAIIAF_E_NOMEM;
        } else {
            uint8_t *px = NULL;
            uint32_t w, h;
            char err[256];
            e = raiiaf_thumbnail(img, n, THUMB_SIDE, &px, &w, &h, err, sizeof err);
            if (e) ret = error_reply(r, 422, "thumbnail: %s", err);
            else {
                unsigned char *png = NULL;
                size_t pn = 0;
                ret = png_encode(px, w, h, SPNG_COLOR_TYPE_TRUECOLOR, &png, &pn);
                if (!ret) ret = set_body(r, 200, "image/png", png, pn);
            }
            raiiaf_free(px);
        }
    } else if (!strcmp(sub, "parameters")) {
        char *text = NULL, err[256];
        e = raiiaf_export_parameters(rd, &text, err, sizeof err);
        ret = e ? error_reply(r, 422, "parameters: %s", err)
                : set_body(r, 200, "text/plain; charset=utf-8", (unsigned char *)text, strlen(text));
    } else if (!strcmp(sub, "verify")) {
        /* Reads every payload: on demand only, never in the grid. */
        json_t *problems = json_array();
        e = raiiaf_reader_verify(rd, collect_problem, problems);
        ret = json_reply(r, 200, json_pack("{sb so}", "ok", e == RAIIAF_OK, "problems", problems));
    } else if (!strncmp(sub, "tensor/", 7)) {
        ret = api_tensor(rd, sub + 7, query, r);
    } else ret = error_reply(r, 404, "unknown file resource");
    json_decref(row);
    raiiaf_reader_free(rd);
    return ret;
}

int raiiaf_api_etag(const char *db_path, const char *path, const char *query, char etag[48])
{
    if (!db_path || !path || !etag) return RAIIAF_E_ARG;
    etag[0] = '\0';
    unsigned long long id;
    char idtxt[24];
    if (strncmp(path, "/api/file/", 10)) return RAIIAF_E_NOT_FOUND;
    const char *rest = path + 10, *slash = strchr(rest, '/');
    size_t il = slash ? (size_t)(slash - rest) : strlen(rest);
    if (il == 0 || il >= sizeof idtxt) return RAIIAF_E_NOT_FOUND;
    memcpy(idtxt, rest, il);
    idtxt[il] = '\0';
    if (parse_u64(idtxt, (unsigned long long)INT64_MAX, &id)) return RAIIAF_E_NOT_FOUND;
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int rc = RAIIAF_E_NOT_FOUND;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT digest, size, mtime_ns FROM files WHERE id = ?", -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, (sqlite3_int64)id);
        if (sqlite3_step(s) == SQLITE_ROW) {
            /* The manifest's SHA-256 covers every payload's digest, and an
             * edit appends a new manifest: same digest, same bytes served. */
            char key[2048];
            int n = snprintf(key, sizeof key, "%s|%lld|%lld|%s?%s", (const char *)sqlite3_column_text(s, 0),
                             (long long)sqlite3_column_int64(s, 1), (long long)sqlite3_column_int64(s, 2), path,
                             query ? query : "");
            if (n > 0 && (size_t)n < sizeof key) {
                unsigned char md[32];
                unsigned mdl = 0;
                EVP_Digest(key, (size_t)n, md, &mdl, EVP_sha256(), NULL);
                etag[0] = '"';
                for (int i = 0; i < 20; i++) snprintf(etag + 1 + 2 * i, 3, "%02x", md[i]);
                etag[41] = '"';
                etag[42] = '\0';
                rc = RAIIAF_OK;
            }
        }
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return rc;
}

int raiiaf_api_handle(const char *db_path, const char *path, const char *query, int *status,
                      const char **content_type, unsigned char **body, size_t *body_size)
{
    if (!db_path || !path || !status || !content_type || !body || !body_size) return RAIIAF_E_ARG;
    resp r = {status, content_type, body, body_size};
    *body = NULL;
    *body_size = 0;
    if (query && strlen(query) > MAX_QUERY) return error_reply(&r, 414, "query string longer than %d bytes", MAX_QUERY);
    if (strlen(path) > 1024) return error_reply(&r, 414, "path longer than 1024 bytes");
    if (strncmp(path, "/api/", 5)) return error_reply(&r, 404, "not an API path");
    const char *p = path + 5;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return error_reply(&r, 503, "the index database cannot be opened");
    }
    sqlite3_busy_timeout(db, 5000);
    int ret;
    if (!strcmp(p, "search")) ret = api_search(db, query, &r);
    else if (!strncmp(p, "file/", 5)) ret = api_file(db, p + 5, query, &r);
    else ret = error_reply(&r, 404, "unknown API endpoint");
    sqlite3_close(db);
    return ret;
}
