/* index_search.c -- a query over the index -> rows as JSON objects.  The
 * one place that turns the tables back into JSON: `raiiaf search` (through
 * raiiaf_index_search()) and the server's /api/search and /api/file/ID
 * (src/serve/api.c, through rf_index_query() and rf_index_files_row()). */
#include "index_impl.h"
#include "raiiaf_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILES_COLS                                                                                                    \
    "id, path, size, mtime_ns, format, model, model_hash, prompt, negative_prompt, seed, steps, sampler, scheduler," \
    " cfg_scale, width, height, image_format, tool, digest, signature, signature_key, created, indexed_at"

static const char *const all_fields[] = {"id",      "path",    "size",      "mtime_ns",  "format",       "model",
                                         "model_hash", "prompt", "negative_prompt", "seed", "steps",      "sampler",
                                         "scheduler", "cfg_scale", "width",  "height",    "image_format", "tool",
                                         "digest",  "signature", "signature_key", "created", "indexed_at",
                                         "tags",    "tensors"};
#define NFIELDS (sizeof all_fields / sizeof all_fields[0])

json_t *rf_index_files_row(sqlite3_stmt *s)
{
    json_t *o = json_object();
    for (int i = 0; o && i < sqlite3_column_count(s); i++) {
        const char *name = sqlite3_column_name(s, i);
        json_t *v;
        switch (sqlite3_column_type(s, i)) {
        case SQLITE_INTEGER:
            /* The index keeps these as their 64 bits (index_store.c): seeds to 2^64-1. */
            if (!strcmp(name, "seed") || !strcmp(name, "steps") || !strcmp(name, "width") || !strcmp(name, "height"))
                v = raiiaf_json_from_uint64((uint64_t)sqlite3_column_int64(s, i));
            else v = json_integer(sqlite3_column_int64(s, i));
            break;
        case SQLITE_FLOAT: v = json_real(sqlite3_column_double(s, i)); break;
        case SQLITE_TEXT: v = json_string((const char *)sqlite3_column_text(s, i)); break;
        default: v = json_null();
        }
        json_object_set_new(o, name, v ? v : json_null());
    }
    return o;
}

static json_t *tags_with(sqlite3_stmt *qt, long long id)
{
    json_t *a = json_array();
    sqlite3_bind_int64(qt, 1, id);
    while (sqlite3_step(qt) == SQLITE_ROW) json_array_append_new(a, json_string((const char *)sqlite3_column_text(qt, 0)));
    sqlite3_reset(qt);
    return a;
}

json_t *rf_index_tags(sqlite3 *db, long long id)
{
    sqlite3_stmt *s = NULL;
    json_t *a;
    if (sqlite3_prepare_v2(db, "SELECT tag FROM tags WHERE file_id = ? ORDER BY tag", -1, &s, NULL) == SQLITE_OK)
        a = tags_with(s, id);
    else a = json_array();
    sqlite3_finalize(s);
    return a;
}

static json_t *tensors_with(sqlite3_stmt *qx, long long id)
{
    json_t *a = json_array();
    sqlite3_bind_int64(qx, 1, id);
    while (sqlite3_step(qx) == SQLITE_ROW) {
        json_t *x = json_object();
        const char *name = (const char *)sqlite3_column_text(qx, 0), *dt = (const char *)sqlite3_column_text(qx, 1);
        const char *shape_text = (const char *)sqlite3_column_text(qx, 2);
        json_object_set_new(x, "name", name ? json_string(name) : json_null());
        json_object_set_new(x, "dtype", dt ? json_string(dt) : json_null());
        json_t *shape = shape_text ? raiiaf_json_loadb(shape_text, strlen(shape_text), JSON_DECODE_ANY, NULL) : NULL;
        json_object_set_new(x, "shape", shape ? shape : json_null());
        json_array_append_new(a, x);
    }
    sqlite3_reset(qx);
    return a;
}

/* An FTS5 query: each word as a quoted string (so punctuation is literal),
 * a trailing * kept as a prefix match; words are ANDed. */
static char *fts_query(const char *const *words, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++) len += 2 * strlen(words[i]) + 5;
    char *q = malloc(len);
    if (!q) return NULL;
    size_t p = 0;
    for (size_t i = 0; i < n; i++) {
        size_t wl = strlen(words[i]);
        int prefix = wl > 1 && words[i][wl - 1] == '*';
        if (prefix) wl--;
        if (p) q[p++] = ' ';
        q[p++] = '"';
        for (size_t k = 0; k < wl; k++) {
            if (words[i][k] == '"') q[p++] = '"';
            q[p++] = words[i][k];
        }
        q[p++] = '"';
        if (prefix) q[p++] = '*';
    }
    q[p] = '\0';
    return q;
}

/* q->fields as indices into all_fields; 0 or -1 (unknown name in err). */
static int parse_fields(const char *spec, int *out, size_t *n, char *err, size_t errsize)
{
    *n = 0;
    if (!spec) {
        for (size_t i = 0; i < NFIELDS; i++) out[(*n)++] = (int)i;
        return 0;
    }
    const char *p = spec;
    for (;;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        size_t i = 0;
        while (i < NFIELDS && !(strlen(all_fields[i]) == l && !memcmp(all_fields[i], p, l))) i++;
        if (i == NFIELDS || *n == 2 * NFIELDS) {
            snprintf(err, errsize, "fields: unknown field '%.*s' (known: id, path, size, mtime_ns, format, model, model_hash,"
                     " prompt, negative_prompt, seed, steps, sampler, scheduler, cfg_scale, width, height, image_format,"
                     " tool, digest, signature, signature_key, created, indexed_at, tags, tensors)", (int)(l > 64 ? 64 : l), p);
            return -1;
        }
        out[(*n)++] = (int)i;
        if (!c) return 0;
        p = c + 1;
    }
}

int rf_index_query(sqlite3 *db, const raiiaf_index_query *q, rf_index_json_fn fn, void *user, uint64_t *matched, char *err,
                   size_t errsize)
{
    int fields[2 * NFIELDS];
    size_t nf;
    uint64_t count = 0;
    if (matched) *matched = 0;
    if (!q || !fn || (q->nwords && !q->words) || (q->ntags && !q->tags)) {
        snprintf(err, errsize, "search: bad arguments");
        return RAIIAF_E_ARG;
    }
    if (parse_fields(q->fields, fields, &nf, err, errsize)) return RAIIAF_E_ARG;
    for (size_t k = 0; k < q->nwords; k++)
        if (!q->words[k]) return snprintf(err, errsize, "search: word %zu is NULL", k), RAIIAF_E_ARG;
    for (size_t k = 0; k < q->ntags; k++)
        if (!q->tags[k]) return snprintf(err, errsize, "search: tag %zu is NULL", k), RAIIAF_E_ARG;
    if (q->ntags > 1000 || q->nwords > 1000) return snprintf(err, errsize, "search: more than 1000 words or tags"), RAIIAF_E_ARG;
    const char *sig = q->signature;
    /* "unsigned" is what verify and the Python Signature call the index's "none" */
    if (sig && !strcmp(sig, "unsigned")) sig = "none";
    if (sig && strcmp(sig, "none") && strcmp(sig, "valid") && strcmp(sig, "edited") && strcmp(sig, "invalid") &&
        strcmp(sig, "signed"))
        return snprintf(err, errsize, "signature: expected none, valid, edited, invalid or signed, got '%.64s'", sig),
               RAIIAF_E_ARG;
    size_t sl = 1024 + q->ntags * 96;
    char *sql = malloc(sl), *fts = q->nwords ? fts_query(q->words, q->nwords) : NULL;
    sqlite3_stmt *s = NULL, *qt = NULL, *qx = NULL;
    int rc = RAIIAF_OK;
    if (!sql || (q->nwords && !fts)) {
        snprintf(err, errsize, "out of memory");
        rc = RAIIAF_E_NOMEM;
        goto done;
    }
    int p = snprintf(sql, sl, "SELECT " FILES_COLS " FROM files f WHERE 1");
    if (q->nwords) p += snprintf(sql + p, sl - (size_t)p, " AND id IN (SELECT rowid FROM prompts WHERE prompts MATCH :fts)");
    if (q->model) p += snprintf(sql + p, sl - (size_t)p, " AND instr(lower(model), lower(:model)) > 0");
    if (q->has_seed) p += snprintf(sql + p, sl - (size_t)p, " AND seed = :seed");
    if (q->sampler) p += snprintf(sql + p, sl - (size_t)p, " AND lower(sampler) = lower(:sampler)");
    /* "signed": any signature at all (rows of schema 1 say "unsigned": not signed) */
    if (sig) p += snprintf(sql + p, sl - (size_t)p, "%s", strcmp(sig, "signed") ? " AND signature = :sig"
                                                          : " AND signature IN ('valid', 'edited', 'invalid')");
    if (q->mtime_min_ns) p += snprintf(sql + p, sl - (size_t)p, " AND mtime_ns >= :mtmin");
    if (q->mtime_max_ns) p += snprintf(sql + p, sl - (size_t)p, " AND mtime_ns <= :mtmax");
    for (size_t k = 0; k < q->ntags; k++)
        p += snprintf(sql + p, sl - (size_t)p, " AND EXISTS(SELECT 1 FROM tags t WHERE t.file_id = f.id AND t.tag = ?%zu)",
                      100 + k);
    if (q->flags & RAIIAF_INDEX_HAS_TENSORS) p += snprintf(sql + p, sl - (size_t)p, " AND id IN (SELECT file_id FROM tensors)");
    snprintf(sql + p, sl - (size_t)p, "%s LIMIT :limit OFFSET :offset",
             q->flags & RAIIAF_INDEX_NEWEST_FIRST ? " ORDER BY mtime_ns DESC, id DESC" : " ORDER BY path");
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT tag FROM tags WHERE file_id = ? ORDER BY tag", -1, &qt, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT name, dtype, shape FROM tensors WHERE file_id = ? ORDER BY name", -1, &qx, NULL) !=
            SQLITE_OK) {
        snprintf(err, errsize, "%s (was it made by raiiaf index?)", sqlite3_errmsg(db));
        rc = RAIIAF_E_IO;
        goto done;
    }
    if (fts) sqlite3_bind_text(s, sqlite3_bind_parameter_index(s, ":fts"), fts, -1, SQLITE_STATIC);
    if (q->model) sqlite3_bind_text(s, sqlite3_bind_parameter_index(s, ":model"), q->model, -1, SQLITE_STATIC);
    /* stored as its 64 bits (index_store.c) */
    if (q->has_seed) sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":seed"), (sqlite3_int64)q->seed);
    if (q->sampler) sqlite3_bind_text(s, sqlite3_bind_parameter_index(s, ":sampler"), q->sampler, -1, SQLITE_STATIC);
    if (sig && strcmp(sig, "signed")) sqlite3_bind_text(s, sqlite3_bind_parameter_index(s, ":sig"), sig, -1, SQLITE_STATIC);
    if (q->mtime_min_ns) sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":mtmin"), q->mtime_min_ns);
    if (q->mtime_max_ns) sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":mtmax"), q->mtime_max_ns);
    for (size_t k = 0; k < q->ntags; k++) sqlite3_bind_text(s, (int)(100 + k), q->tags[k], -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":limit"), q->limit < 0 ? -1 : (sqlite3_int64)q->limit);
    sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":offset"),
                       q->offset > (uint64_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)q->offset);
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *full = rf_index_files_row(s), *o = json_object();
        long long id = sqlite3_column_int64(s, 0);
        for (size_t k = 0; full && o && k < nf; k++) {
            const char *name = all_fields[fields[k]];
            json_t *v = !strcmp(name, "tags")      ? tags_with(qt, id)
                        : !strcmp(name, "tensors") ? tensors_with(qx, id)
                                                   : json_incref(json_object_get(full, name));
            json_object_set_new(o, name, v ? v : json_null());
        }
        json_decref(full);
        if (!o) {
            snprintf(err, errsize, "out of memory");
            rc = RAIIAF_E_NOMEM;
            goto done;
        }
        count++;
        if (fn(user, o)) break;
    }
    if (step != SQLITE_DONE && step != SQLITE_ROW) {
        /* A full-text syntax problem is the query's, not the database's. */
        snprintf(err, errsize, "%s", sqlite3_errmsg(db));
        rc = sqlite3_errcode(db) == SQLITE_ERROR ? RAIIAF_E_ARG : RAIIAF_E_IO;
    }
done:
    if (matched) *matched = count;
    sqlite3_finalize(s);
    sqlite3_finalize(qt);
    sqlite3_finalize(qx);
    free(fts);
    free(sql);
    return rc;
}

typedef struct text_ctx {
    raiiaf_index_row_fn fn;
    void *user;
    int failed;
} text_ctx;

static int to_text(void *user, json_t *row)
{
    text_ctx *c = user;
    char *t = raiiaf_json_dumps(row, JSON_COMPACT);
    json_decref(row);
    if (!t) {
        c->failed = 1;
        return 1;
    }
    int stop = c->fn(c->user, t, strlen(t));
    free(t);
    return stop;
}

int raiiaf_index_search(raiiaf_index *idx, const raiiaf_index_query *q, raiiaf_index_row_fn fn, void *user, uint64_t *matched)
{
    if (matched) *matched = 0;
    if (!idx || !idx->db) return RAIIAF_E_ARG;
    if (!q || !fn) return rf_index_fail(idx, RAIIAF_E_ARG, "raiiaf_index_search: %s is NULL", q ? "fn" : "q");
    text_ctx c = {fn, user, 0};
    char err[768];
    int rc = rf_index_query(idx->db, q, to_text, &c, matched, err, sizeof err);
    if (!rc && c.failed) return rf_index_fail(idx, RAIIAF_E_NOMEM, "out of memory");
    if (rc) return rf_index_fail(idx, rc, "%s: %s", idx->path, err);
    idx->msg[0] = '\0';
    return RAIIAF_OK;
}
