/* api_search.c -- GET /api/search: the grid's query over the index (FTS5
 * prompt words, model, tag, seed, has latents, and api_filters.c's),
 * newest first, a page at a time. */
#include "api_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LIMIT 500 /* results per page */

/* FTS5 query: each word quoted (punctuation literal), ANDed. */
static char *fts_of(const char *q)
{
    size_t n = strlen(q);
    char *out = malloc(3 * n + 3);
    if (!out) return NULL;
    size_t o = 0;
    const char *p = q;
    while (*p) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        if (o) out[o++] = ' ';
        out[o++] = '"';
        for (; *p && *p != ' ' && *p != '\t'; p++) {
            if (*p == '"') out[o++] = '"';
            out[o++] = *p;
        }
        out[o++] = '"';
    }
    out[o] = '\0';
    return out;
}

static const char *SEARCH_COLS = "SELECT id, path, model, prompt, seed, steps, sampler, cfg_scale, width, height,"
                                 " image_format, signature, mtime_ns FROM files WHERE 1";

int api_search(raiiaf_api *api, sqlite3 *db, const char *query, resp *r)
{
    char q[API_MAX_QUERY], model[256], tag[256], seed[32], lim[16], off[16], latents[8];
    int hq = api_query_get(query, "q", q, sizeof q), hm = api_query_get(query, "model", model, sizeof model);
    int ht = api_query_get(query, "tag", tag, sizeof tag), hs = api_query_get(query, "seed", seed, sizeof seed);
    int hl = api_query_get(query, "limit", lim, sizeof lim), ho = api_query_get(query, "offset", off, sizeof off);
    int hx = api_query_get(query, "has_latents", latents, sizeof latents);
    if (hq < 0 || hm < 0 || ht < 0 || hs < 0 || hl < 0 || ho < 0 || hx < 0)
        return api_error(r, 400, "malformed query string (bad %%-escape, NUL byte or value too long)");
    unsigned long long limit = 60, offset = 0, seedv = 0;
    if (hl > 0 && api_parse_u64(lim, MAX_LIMIT, &limit)) return api_error(r, 400, "limit: expected 0..%d", MAX_LIMIT);
    if (ho > 0 && api_parse_u64(off, 1000000000ULL, &offset))
        return api_error(r, 400, "offset: expected a non-negative integer");
    if (hs > 0 && api_parse_u64(seed, (unsigned long long)UINT64_MAX, &seedv))
        return api_error(r, 400, "seed: expected a non-negative integer");
    api_filters flt;
    int done, fe = api_filters_parse(query, &flt, r, &done);
    if (done) return fe;
    int lazy = api_filters_lazy(&flt);
    char *fts = hq > 0 ? fts_of(q) : NULL;
    if (hq > 0 && !fts) return RAIIAF_E_NOMEM;
    int use_fts = fts && fts[0];
    char sql[1536], extra[256];
    api_filters_sql(&flt, extra, sizeof extra);
    snprintf(sql, sizeof sql, "%s%s%s%s%s%s%s ORDER BY mtime_ns DESC, id DESC%s", SEARCH_COLS,
             use_fts ? " AND id IN (SELECT rowid FROM prompts WHERE prompts MATCH :fts)" : "",
             hm > 0 && model[0] ? " AND instr(lower(model), lower(:model)) > 0" : "",
             ht > 0 && tag[0] ? " AND id IN (SELECT file_id FROM tags WHERE tag = :tag)" : "",
             hs > 0 ? " AND seed = :seed" : "",
             hx > 0 && !strcmp(latents, "1") ? " AND id IN (SELECT file_id FROM tensors)" : "", extra,
             lazy ? "" : " LIMIT :lim OFFSET :off");
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        free(fts);
        return api_error(r, 500, "index database: %s", sqlite3_errmsg(db));
    }
    if (use_fts) sqlite3_bind_text(s, sqlite3_bind_parameter_index(s, ":fts"), fts, -1, SQLITE_TRANSIENT);
    if (hm > 0 && model[0]) sqlite3_bind_text(s, sqlite3_bind_parameter_index(s, ":model"), model, -1, SQLITE_TRANSIENT);
    if (ht > 0 && tag[0]) sqlite3_bind_text(s, sqlite3_bind_parameter_index(s, ":tag"), tag, -1, SQLITE_TRANSIENT);
    if (hs > 0) sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":seed"), (sqlite3_int64)(uint64_t)seedv);
    api_filters_bind(&flt, s);
    if (!lazy) {
        sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":lim"), (sqlite3_int64)limit);
        sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":off"), (sqlite3_int64)offset);
    }
    free(fts);
    json_t *items = json_array();
    int rc;
    unsigned long long kept = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (lazy) {
            /* Offset and limit count the files that pass, so pages stay whole. */
            if (json_array_size(items) >= limit) break;
            if (!api_filters_keep(api, &flt, sqlite3_column_int64(s, 0), (const char *)sqlite3_column_text(s, 1)))
                continue;
            if (kept++ < offset) continue;
        }
        json_t *o = api_row_object(s);
        json_object_set_new(o, "tags", api_tags_of(db, sqlite3_column_int64(s, 0)));
        json_array_append_new(items, o);
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        /* An FTS syntax problem is the user's query, not the server. */
        json_decref(items);
        int st = sqlite3_errcode(db) == SQLITE_ERROR ? 400 : 500;
        int ret = api_error(r, st, "search: %s", sqlite3_errmsg(db));
        sqlite3_finalize(s);
        return ret;
    }
    sqlite3_finalize(s);
    return api_json_reply(r, 200, json_pack("{so sI sI}", "items", items, "limit", (json_int_t)limit, "offset",
                                            (json_int_t)offset));
}
