/* api.c -- the JSON API of `raiiaf serve`: a request path and raw query
 * string -> HTTP status, content type and body.  No HTTP here (server.c
 * does that), so the whole request parsing is testable and fuzzable alone.
 *
 * Safety: a file is named only by its index id (decimal digits); the path
 * that is opened comes from the index database, never from the URL.  Every
 * error is a JSON object {"error": "..."} with a 4xx/5xx status. */
#include "api_internal.h"
#include "raiiaf_json.h"
#include "index/index_impl.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THUMB_SIDE 256
#define MAX_TENSOR_DL (1u << 30) /* tensors larger than this are not offered decoded */

static const char *image_type(const char *fmt)
{
    if (!fmt) return "application/octet-stream";
    if (!strcmp(fmt, "png")) return "image/png";
    if (!strcmp(fmt, "jpeg")) return "image/jpeg";
    if (!strcmp(fmt, "webp")) return "image/webp";
    return "application/octet-stream";
}

static json_t *file_json(raiiaf_api *api, raiiaf_reader *rd, json_t *row, sqlite3 *db, long long id)
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
    /* The panels of the detail page (each also a sub-resource). */
    json_object_set_new(o, "env", api_env_panel(api, rd));
    json_object_set_new(o, "signature", api_signature_panel(rd));
    json_object_set_new(o, "history", api_history_panel(rd));
    const char *fam = api_manifest_family(rd, 0);
    json_object_set_new(o, "latent_family", fam ? json_string(fam) : json_null());
    return o;
}

/* Reads tensor `name` decoded into a malloc'd buffer. */
static int tensor_bytes(raiiaf_reader *rd, const char *name, raiiaf_tensor_info *ti, void **data, resp *r, int *done)
{
    size_t idx;
    *done = 0;
    if (raiiaf_reader_find_tensor(rd, name, &idx)) return *done = 1, api_error(r, 404, "no tensor named '%s'", name);
    raiiaf_reader_tensor_info(rd, idx, ti);
    if (ti->raw_size > MAX_TENSOR_DL) return *done = 1, api_error(r, 413, "tensor '%s' is too large to serve", name);
    *data = malloc(ti->raw_size ? ti->raw_size : 1);
    if (!*data) return *done = 1, RAIIAF_E_NOMEM;
    int e = raiiaf_reader_read_tensor(rd, idx, *data, ti->raw_size);
    if (e) {
        free(*data);
        *data = NULL;
        return *done = 1, api_error(r, 422, "tensor '%s': %s", name, raiiaf_reader_errmsg(rd));
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
        if ((size_t)(slash - rest) >= sizeof name) return api_error(r, 414, "tensor name too long");
        memcpy(name, rest, (size_t)(slash - rest));
        name[slash - rest] = '\0';
        char fam[32], ch[16];
        int hf = api_query_get(query, "family", fam, sizeof fam), hc = api_query_get(query, "channel", ch, sizeof ch);
        if (hf < 0 || hc < 0) return api_error(r, 400, "malformed query string");
        int e = tensor_bytes(rd, name, &ti, &data, r, &done);
        if (done) return e;
        /* A latent is [1,]C,H,W float32. */
        unsigned rank = ti.rank;
        const uint64_t *sh = ti.shape;
        if (rank == 4 && sh[0] == 1) rank = 3, sh++;
        if (ti.dtype != RAIIAF_F32 || rank != 3 || sh[0] == 0 || sh[0] > 64 || sh[1] > 4096 || sh[2] > 4096) {
            free(data);
            return api_error(r, 422, "tensor '%s' is not a float32 latent [1,]C,H,W", name);
        }
        unsigned c = (unsigned)sh[0];
        uint32_t h = (uint32_t)sh[1], w = (uint32_t)sh[2];
        size_t plane = (size_t)h * w;
        uint8_t *px = malloc(plane * 3);
        if (!px) return free(data), RAIIAF_E_NOMEM;
        if (hc > 0) {
            unsigned long long k;
            if (api_parse_u64(ch, c - 1, &k)) e = -1;
            else e = raiiaf_latent_channel_gray(data, c, h, w, (unsigned)k, px, plane);
        } else {
            /* Asked for, else what the manifest names, else by channel count. */
            const char *f = hf > 0 && fam[0] ? fam : api_manifest_family(rd, c);
            if (!f) f = raiiaf_latent_family_guess(NULL, c);
            e = f ? raiiaf_latent_preview(data, c, h, w, f, px, plane * 3) : RAIIAF_E_NOT_FOUND;
        }
        free(data);
        if (e) {
            free(px);
            return api_error(r, 422, "no preview: %s", hc > 0 ? "channel out of range"
                                                             : "family unknown or its channel count differs");
        }
        unsigned char *png = NULL;
        size_t n = 0;
        e = api_png_encode(px, w, h, hc > 0 ? 1 : 0, &png, &n);
        free(px);
        if (e) return e;
        return api_set_body(r, 200, "image/png", png, n);
    }
    if (!dot || slash || (size_t)(dot - rest) >= sizeof name) return api_error(r, 404, "unknown tensor resource");
    memcpy(name, rest, (size_t)(dot - rest));
    name[dot - rest] = '\0';
    int npy = !strcmp(dot, ".npy"), st = !strcmp(dot, ".safetensors");
    if (!npy && !st) return api_error(r, 404, "tensor downloads are NAME.npy or NAME.safetensors");
    int e = tensor_bytes(rd, name, &ti, &data, r, &done);
    if (done) return e;
    unsigned char *out = NULL;
    size_t n = 0;
    char err[256];
    e = npy ? raiiaf_npy_build(ti.dtype, ti.rank, ti.shape, data, ti.raw_size, &out, &n)
            : raiiaf_safetensors_build(name, ti.dtype, ti.rank, ti.shape, data, ti.raw_size, NULL, &out, &n, err,
                                       sizeof err);
    free(data);
    if (e) return api_error(r, 422, "tensor '%s' cannot be exported: %s", name, raiiaf_strerror(e));
    return api_set_body(r, 200, "application/octet-stream", out, n);
}

static int verify_reply(raiiaf_api *api, long long id, const char *path, resp *r)
{
    /* Reads every payload the first time: on demand only, never in the grid. */
    int failed = 1, cached = 0;
    char *text = NULL;
    int e = api_verify(api, id, path, &failed, &text, &cached);
    if (e) return api_error(r, e == RAIIAF_E_NOMEM ? 500 : 410, "file %lld cannot be verified now: %s", id,
                            raiiaf_strerror(e));
    json_t *problems = json_loads(text, 0, NULL), *first = json_null();
    free(text);
    if (!problems) return RAIIAF_E_NOMEM;
    size_t i;
    json_t *p;
    json_array_foreach(problems, i, p) { /* warnings have status "ok" and do not fail */
        if (strcmp(json_string_value(json_object_get(p, "status")), raiiaf_strerror(RAIIAF_OK))) {
            json_decref(first);
            first = json_incref(p);
            break;
        }
    }
    return api_json_reply(r, 200, json_pack("{sb so so}", "ok", !failed, "failed_check", first, "problems", problems));
}

static int thumb_reply(raiiaf_api *api, raiiaf_reader *rd, long long id, const char *path, resp *r)
{
    const void *img = NULL;
    size_t n = 0;
    const char *fmt = NULL;
    int e = raiiaf_reader_image(rd, &img, &n, &fmt, NULL, NULL);
    if (e == RAIIAF_E_NOT_FOUND) return api_error(r, 404, "file %lld holds no image", id);
    if (e) return api_error(r, 422, "image: %s", raiiaf_reader_errmsg(rd));
    uint8_t *px = NULL;
    uint32_t w, h;
    char err[256];
    e = raiiaf_thumbnail(img, n, THUMB_SIDE, &px, &w, &h, err, sizeof err);
    if (e) return api_error(r, 422, "thumbnail: %s", err);
    atomic_fetch_add(&api->thumbs_made, 1);
    unsigned char *png = NULL;
    size_t pn = 0;
    e = api_png_encode(px, w, h, 0, &png, &pn);
    raiiaf_free(px);
    if (e) return e;
    api_thumb_store(api, id, path, png, pn);
    return api_set_body(r, 200, "image/png", png, pn);
}

static int api_file(raiiaf_api *api, sqlite3 *db, const char *method, const char *rest, const char *query, resp *r)
{
    char idtxt[24];
    const char *slash = strchr(rest, '/');
    size_t il = slash ? (size_t)(slash - rest) : strlen(rest);
    unsigned long long id;
    if (il == 0 || il >= sizeof idtxt) return api_error(r, 400, "file id: expected decimal digits");
    memcpy(idtxt, rest, il);
    idtxt[il] = '\0';
    if (api_parse_u64(idtxt, (unsigned long long)INT64_MAX, &id)) return api_error(r, 400, "file id: expected decimal digits");
    const char *sub = slash ? slash + 1 : "";
    int reading = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    if (!strcmp(sub, "tags") && !reading) return api_edit_tags(api, method, (long long)id, query, r);
    if (!reading) return api_error(r, 405, "%s: this resource is read-only (GET and HEAD)", method);
    json_t *row = NULL;
    char *path = NULL;
    int f = api_file_row(db, (long long)id, &row, &path);
    if (f < 0) return api_error(r, 500, "index database: %s", sqlite3_errmsg(db));
    if (f > 0) return api_error(r, 404, "no file with id %llu in the index", id);
    int ret;
    unsigned char *png = NULL;
    size_t pn = 0;
    /* A thumbnail made before (this run or an earlier one) is not decoded again. */
    if (!strcmp(sub, "thumb") && !api_thumb_cached(api, (long long)id, path, &png, &pn)) {
        json_decref(row);
        free(path);
        return api_set_body(r, 200, "image/png", png, pn);
    }
    if (!strcmp(sub, "verify")) {
        ret = verify_reply(api, (long long)id, path, r);
        json_decref(row);
        free(path);
        return ret;
    }
    raiiaf_reader *rd = NULL;
    int e = raiiaf_reader_open_file(path, RAIIAF_READ_NO_DIGEST, &rd);
    if (e) {
        json_decref(row);
        raiiaf_reader_free(rd);
        free(path);
        return api_error(r, 410, "file %llu cannot be read now: %s", id, raiiaf_strerror(e));
    }
    if (!slash) {
        ret = api_json_reply(r, 200, file_json(api, rd, row, db, (long long)id));
        row = NULL;
    } else if (!strcmp(sub, "manifest")) {
        size_t n = 0;
        const char *m = raiiaf_reader_manifest(rd, &n);
        unsigned char *copy = m ? malloc(n ? n : 1) : NULL;
        if (copy) memcpy(copy, m, n);
        ret = copy ? api_set_body(r, 200, "application/json", copy, n) : api_error(r, 404, "no manifest");
    } else if (!strcmp(sub, "image")) {
        const void *img = NULL;
        size_t n = 0;
        const char *fmt = NULL;
        e = raiiaf_reader_image(rd, &img, &n, &fmt, NULL, NULL);
        if (e == RAIIAF_E_NOT_FOUND) ret = api_error(r, 404, "file %llu holds no image", id);
        else if (e) ret = api_error(r, 422, "image: %s", raiiaf_reader_errmsg(rd));
        else {
            unsigned char *copy = malloc(n ? n : 1);
            ret = copy ? (memcpy(copy, img, n), api_set_body(r, 200, image_type(fmt), copy, n)) : RAIIAF_E_NOMEM;
        }
    } else if (!strcmp(sub, "thumb")) {
        ret = thumb_reply(api, rd, (long long)id, path, r);
    } else if (!strcmp(sub, "parameters")) {
        char *text = NULL, err[256];
        e = raiiaf_export_parameters(rd, &text, err, sizeof err);
        ret = e ? api_error(r, 422, "parameters: %s", err)
                : api_set_body(r, 200, "text/plain; charset=utf-8", (unsigned char *)text, strlen(text));
    } else if (!strcmp(sub, "env")) {
        ret = api_json_reply(r, 200, api_env_panel(api, rd));
    } else if (!strcmp(sub, "signature")) {
        ret = api_json_reply(r, 200, api_signature_panel(rd));
    } else if (!strcmp(sub, "history")) {
        ret = api_json_reply(r, 200, api_history_panel(rd));
    } else if (!strcmp(sub, "tags")) {
        ret = api_json_reply(r, 200, json_pack("{so}", "tags", rf_index_tags(db, (long long)id)));
    } else if (!strncmp(sub, "tensor/", 7)) {
        ret = api_tensor(rd, sub + 7, query, r);
    } else ret = api_error(r, 404, "unknown file resource");
    json_decref(row);
    free(path);
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
    if (api_parse_u64(idtxt, (unsigned long long)INT64_MAX, &id)) return RAIIAF_E_NOT_FOUND;
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

static int api_stats(raiiaf_api *api, resp *r)
{
    return api_json_reply(r, 200, json_pack("{sI sI sI sI sI sI sb}", "requests", (json_int_t)atomic_load(&api->requests),
                                            "thumbnails_made", (json_int_t)atomic_load(&api->thumbs_made),
                                            "thumbnail_cache_hits", (json_int_t)atomic_load(&api->thumb_cache_hits),
                                            "verifications_run", (json_int_t)atomic_load(&api->verify_runs),
                                            "verify_cache_hits", (json_int_t)atomic_load(&api->verify_cache_hits),
                                            "edits", (json_int_t)atomic_load(&api->edits), "allow_edit",
                                            (api->flags & RAIIAF_API_ALLOW_EDIT) != 0));
}

int raiiaf_api_request(raiiaf_api *api, const char *method, const char *path, const char *query, int *status,
                       const char **content_type, unsigned char **body, size_t *body_size)
{
    if (!api || !method || !path || !status || !content_type || !body || !body_size) return RAIIAF_E_ARG;
    resp r = {status, content_type, body, body_size};
    *body = NULL;
    *body_size = 0;
    atomic_fetch_add(&api->requests, 1);
    if (query && strlen(query) > API_MAX_QUERY)
        return api_error(&r, 414, "query string longer than %d bytes", API_MAX_QUERY);
    if (strlen(path) > 1024) return api_error(&r, 414, "path longer than 1024 bytes");
    if (strncmp(path, "/api/", 5)) return api_error(&r, 404, "not an API path");
    if (strcmp(method, "GET") && strcmp(method, "HEAD") && strcmp(method, "POST") && strcmp(method, "DELETE"))
        return api_error(&r, 405, "%.16s: not a method of this API", method);
    const char *p = path + 5;
    int reading = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    if (!reading && strncmp(p, "file/", 5))
        return api_error(&r, 405, "%s: this resource is read-only (GET and HEAD)", method);
    if (!strcmp(p, "stats")) return api_stats(api, &r);
    sqlite3 *db = api_db_acquire(api);
    if (!db) return api_error(&r, 503, "the index database cannot be opened");
    int ret;
    if (!strcmp(p, "search")) ret = api_search(api, db, query, &r);
    else if (!strncmp(p, "file/", 5)) ret = api_file(api, db, method, p + 5, query, &r);
    else ret = api_error(&r, 404, "unknown API endpoint");
    api_db_release(api, db);
    return ret;
}

int raiiaf_api_handle(const char *db_path, const char *path, const char *query, int *status,
                      const char **content_type, unsigned char **body, size_t *body_size)
{
    if (!db_path || !path || !status || !content_type || !body || !body_size) return RAIIAF_E_ARG;
    raiiaf_api *api = NULL;
    int e = raiiaf_api_open(db_path, 0, &api);
    if (e) return e;
    e = raiiaf_api_request(api, "GET", path, query, status, content_type, body, body_size);
    raiiaf_api_free(api);
    return e;
}
