/* fuzz_index_row.c -- libFuzzer harness for raiiaf_index_put_row_json()
 * (src/index/index_store.c): any bytes as a row of the index.  A row is
 * either refused (RAIIAF_E_JSON or RAIIAF_E_ARG, nothing stored) or stored
 * as exactly one row of its path that search reads back.  Each input runs
 * in a transaction rolled back afterwards, so the (in-memory) database
 * stays empty.
 * Any crash, leak, sanitizer report or abort is a bug. */
#include "raiiaf.h"
#include "raiiaf_json.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static raiiaf_index *idx;

typedef struct seen {
    size_t rows;
    char path[4200];
} seen;

static int on_row(void *user, const char *json, size_t len)
{
    seen *s = user;
    json_t *o = raiiaf_json_loadb(json, len, 0, NULL);
    if (!o) abort(); /* search writes valid JSON */
    const char *p = json_string_value(json_object_get(o, "path"));
    if (!p || strlen(p) >= sizeof s->path) abort();
    snprintf(s->path, sizeof s->path, "%s", p);
    s->rows++;
    json_decref(o);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!idx && raiiaf_index_open(":memory:", 0, &idx)) abort(); /* SQLite's in-memory database: no files left */
    if (raiiaf_index_begin(idx)) abort();
    int rc = raiiaf_index_put_row_json(idx, (const char *)data, size);
    if (rc != RAIIAF_OK && rc != RAIIAF_E_JSON && rc != RAIIAF_E_ARG) abort();
    if (rc && !raiiaf_index_errmsg(idx)[0]) abort(); /* a refusal says why */
    seen s = {0};
    raiiaf_index_query q = {.limit = -1};
    if (raiiaf_index_search(idx, &q, on_row, &s, NULL)) abort();
    if (s.rows != (rc == RAIIAF_OK ? 1u : 0u)) abort();
    if (rc == RAIIAF_OK) {
        json_t *in = raiiaf_json_loadb((const char *)data, size, 0, NULL);
        if (!in || strcmp(json_string_value(json_object_get(in, "path")), s.path)) abort();
        json_decref(in);
    }
    if (raiiaf_index_rollback(idx)) abort();
    return 0;
}
