/* api_search.c -- GET /api/search: the grid's query over the index (FTS5
 * prompt words, model, tag, seed, has latents, and api_filters.c's),
 * newest first, a page at a time. */
#include "api_internal.h"
#include "index/index_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LIMIT 500 /* results per page */

/* The fields of a search result in the web app's grid. */
static const char SEARCH_FIELDS[] = "id,path,model,prompt,seed,steps,sampler,cfg_scale,width,height,image_format,signature,"
                                    "signature_key,created,mtime_ns,tags";

typedef struct page_ctx {
    raiiaf_api *api;
    const api_filters *flt;
    json_t *items;
    unsigned long long limit, offset, kept;
} page_ctx;

/* Receives each row the index query matched.  With the lazy filter (fails
 * verification) the query runs unpaged, and offset and limit count
 * the files that pass, so pages stay whole. */
static int add_row(void *user, json_t *row)
{
    page_ctx *c = user;
    if (api_filters_lazy(c->flt)) {
        if (json_array_size(c->items) >= c->limit) return json_decref(row), 1;
        json_int_t id = json_integer_value(json_object_get(row, "id"));
        const char *path = json_string_value(json_object_get(row, "path"));
        if (!path || !api_filters_keep(c->api, c->flt, (long long)id, path) || c->kept++ < c->offset)
            return json_decref(row), 0;
    }
    json_array_append_new(c->items, row);
    return 0;
}

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
    /* q: words separated by spaces or tabs, all must occur (index_search.c) */
    const char *words[API_MAX_QUERY / 2 + 1];
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
                             .limit = lazy ? -1 : (int64_t)limit, .offset = lazy ? 0 : offset, .fields = SEARCH_FIELDS,
                             .sampler = flt.sampler[0] ? flt.sampler : NULL,
                             .mtime_min_ns = flt.from_ns > 0 ? flt.from_ns : 0, .mtime_max_ns = flt.to_ns > 0 ? flt.to_ns : 0,
                             .signature = flt.want_signed ? "signed" : NULL};
    page_ctx c = {api, &flt, json_array(), limit, offset, 0};
    if (!c.items) return RAIIAF_E_NOMEM;
    char err[768];
    int e = rf_index_query(db, &iq, add_row, &c, NULL, err, sizeof err);
    if (e) {
        json_decref(c.items);
        /* A full-text syntax problem is the user's query, not the server. */
        if (e == RAIIAF_E_ARG) return api_error(r, 400, "search: %s", err);
        if (e == RAIIAF_E_NOMEM) return RAIIAF_E_NOMEM;
        return api_error(r, 500, "index database: %s", err);
    }
    return api_json_reply(r, 200, json_pack("{so sI sI}", "items", c.items, "limit", (json_int_t)limit, "offset",
                                            (json_int_t)offset));
}
