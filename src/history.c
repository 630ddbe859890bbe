/* history.c -- every manifest version of a file and the fields each one
 * changed (JSON Pointers), as `raiiaf history` prints and `raiiaf serve`
 * shows.  file_info, which every version rewrites, is left out. */
#include "raiiaf.h"
#include "raiiaf_json.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* base + "/" + key, the key escaped as RFC 6901 says. */
static char *join(const char *base, const char *key)
{
    size_t n = strlen(base) + 2 * strlen(key) + 2;
    char *s = malloc(n), *o;
    if (!s) return NULL;
    size_t bl = strlen(base);
    memcpy(s, base, bl);
    o = s + bl;
    *o++ = '/';
    for (; *key; key++) {
        if (*key == '~') *o++ = '~', *o++ = '0';
        else if (*key == '/') *o++ = '~', *o++ = '1';
        else *o++ = *key;
    }
    *o = '\0';
    return s;
}

static const char FILE_INFO[] = "/raiiaf_metadata/file_info";

static int emit(json_t *list, const char *op, const char *path)
{
    if (!strcmp(path, FILE_INFO)) return 0;
    return json_array_append_new(list, json_pack("{ss ss}", "op", op, "path", path[0] ? path : "/"));
}

static int diff(const json_t *a, const json_t *b, const char *path, json_t *list)
{
    if (!strcmp(path, FILE_INFO)) return 0;
    if (!json_is_object(a) || !json_is_object(b))
        return json_equal((json_t *)a, (json_t *)b) ? 0 : emit(list, "changed", path);
    const char *k;
    json_t *v;
    int rc = 0;
    json_object_foreach((json_t *)a, k, v) {
        char *p = join(path, k);
        if (!p) return -1;
        json_t *w = json_object_get(b, k);
        rc = w ? diff(v, w, p, list) : emit(list, "removed", p);
        free(p);
        if (rc) return rc;
    }
    json_object_foreach((json_t *)b, k, v) {
        if (json_object_get(a, k)) continue;
        char *p = join(path, k);
        if (!p) return -1;
        rc = emit(list, "added", p);
        free(p);
        if (rc) return rc;
    }
    return 0;
}

static const char *when(json_t *m)
{
    json_t *fi = json_object_get(json_object_get(m, "raiiaf_metadata"), "file_info");
    const char *t = json_string_value(json_object_get(fi, "modified"));
    return t ? t : json_string_value(json_object_get(fi, "created"));
}

int raiiaf_reader_history(raiiaf_reader *r, char **json, size_t *size)
{
    if (!r || !json) return RAIIAF_E_ARG;
    *json = NULL;
    if (size) *size = 0;
    uint32_t latest = raiiaf_reader_latest_version(r);
    json_t *prev = NULL, *out = json_array();
    int rc = out ? RAIIAF_OK : RAIIAF_E_NOMEM;
    for (uint32_t v = 1; v <= latest && !rc; v++) {
        char *text = NULL;
        size_t len;
        uint64_t off;
        rc = raiiaf_reader_manifest_at(r, v, &text, &len, &off);
        json_t *m = rc ? NULL : raiiaf_json_loadb(text, len, RAIIAF_JSON_PYTHON, NULL); /* format 1 too */
        raiiaf_free(text);
        if (!m) {
            if (!rc) rc = RAIIAF_E_JSON;
            break;
        }
        json_t *changes = json_array();
        if (!changes || (prev && diff(prev, m, "", changes)) ||
            json_array_append_new(out, json_pack("{sI ss? sI so}", "version", (json_int_t)v, "time", when(m), "offset",
                                                 (json_int_t)off, "changes", changes)))
            rc = RAIIAF_E_NOMEM;
        json_decref(prev);
        prev = m;
    }
    json_decref(prev);
    char *s = rc ? NULL : raiiaf_json_dumps(out, JSON_INDENT(2));
    json_decref(out);
    if (!rc && !s) rc = RAIIAF_E_NOMEM;
    if (rc) return rc;
    *json = s;
    if (size) *size = strlen(s);
    return RAIIAF_OK;
}
