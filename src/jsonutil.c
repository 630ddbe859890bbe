/* jsonutil.c -- JSON Pointer access, deep merge and limits on jansson values. */
#include "jsonutil.h"
#include "jsonnum.h"
#include "format.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Copies the next reference token of `p` (after its '/') into tok,
 * unescaping ~1 and ~0; returns the position after it or NULL if invalid. */
static const char *next_token(const char *p, char *tok, size_t cap)
{
    size_t n = 0;
    for (p++; *p && *p != '/'; p++) {
        char c = *p;
        if (c == '~') {
            if (p[1] == '0') c = '~';
            else if (p[1] == '1') c = '/';
            else return NULL;
            p++;
        }
        if (n + 1 >= cap) return NULL;
        tok[n++] = c;
    }
    tok[n] = '\0';
    return p;
}

int rf_pointer_set(json_t *root, const char *pointer, json_t *value, rf_err *e)
{
    if (!value) return rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
    if (!pointer || pointer[0] != '/') {
        json_decref(value);
        return rf_fail(e, RAIIAF_E_ARG, "\"%s\" is not a JSON pointer (it must start with '/')", pointer ? pointer : "(null)");
    }
    json_t *cur = root;
    const char *p = pointer;
    char tok[1024];
    while (*p) {
        const char *next = next_token(p, tok, sizeof tok);
        if (!next) {
            json_decref(value);
            return rf_fail(e, RAIIAF_E_ARG, "%s: invalid JSON pointer (bad ~ escape or a token over 1023 bytes)", pointer);
        }
        if (!json_is_object(cur)) {
            json_decref(value);
            return rf_fail(e, RAIIAF_E_ARG, "%s: \"%.*s\" is not an object", pointer, (int)(p - pointer), pointer);
        }
        if (*next == '\0') return json_object_set_new(cur, tok, value) == 0 ? RAIIAF_OK : rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
        json_t *child = json_object_get(cur, tok);
        if (!child) {
            child = json_object();
            if (!child || json_object_set_new(cur, tok, child) != 0) {
                json_decref(value);
                return rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
            }
        }
        cur = child;
        p = next;
    }
    json_decref(value);
    return rf_fail(e, RAIIAF_E_ARG, "empty JSON pointer");
}

int rf_json_merge(json_t *dst, const json_t *src, rf_err *e)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)src, key, v) {
        json_t *d = json_object_get(dst, key);
        if (json_is_object(d) && json_is_object(v)) {
            int rc = rf_json_merge(d, v, e);
            if (rc) return rc;
        } else if (json_object_set_new(dst, key, json_deep_copy(v)) != 0) {
            return rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
        }
    }
    return RAIIAF_OK;
}

unsigned rf_json_depth(const json_t *v, unsigned limit)
{
    unsigned best = 0;
    if (limit == 0) return json_is_object(v) || json_is_array(v) ? 1 : 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach((json_t *)v, k, c) {
            unsigned d = rf_json_depth(c, limit - 1);
            if (d > best) best = d;
            if (best >= limit) break;
        }
        return best + 1;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *c;
        json_array_foreach(v, i, c) {
            unsigned d = rf_json_depth(c, limit - 1);
            if (d > best) best = d;
            if (best >= limit) break;
        }
        return best + 1;
    }
    return 0;
}

void rf_utc_now(char buf[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Approximate heap bytes jansson spends per item (measured on 64-bit
 * glibc: an empty object 235, an empty array 139, a member beside its
 * value about 70, an integer 43, a string 91 + its length), rounded up. */
#define COST_OBJECT 256u
#define COST_ARRAY 160u
#define COST_MEMBER 80u
#define COST_SCALAR 48u

int rf_json_prescan(const char *text, size_t size, const char *what, rf_err *e)
{
    /* Lexical only: strings (escapes skipped), brackets, ':' (one per
     * object member) and the first byte of every other token.  Malformed
     * text is counted as it comes and left to the parser to refuse. */
    uint64_t tokens = 0, members = 0, mem = 0;
    int in_scalar = 0;
    for (size_t i = 0; i < size; i++) {
        unsigned char c = (unsigned char)text[i];
        switch (c) {
        case '"': {
            size_t start = ++i;
            while (i < size && text[i] != '"') i += text[i] == '\\' ? 2 : 1;
            if (i > size) i = size; /* a '\\' as the last byte */
            tokens++;
            mem += COST_SCALAR + (i - start);
            in_scalar = 0;
            break;
        }
        case '{':
            tokens++;
            mem += COST_OBJECT;
            in_scalar = 0;
            break;
        case '[':
            tokens++;
            mem += COST_ARRAY;
            in_scalar = 0;
            break;
        case ':':
            members++;
            mem += COST_MEMBER;
            in_scalar = 0;
            break;
        case '}': case ']': case ',': case ' ': case '\t': case '\n': case '\r':
            in_scalar = 0;
            break;
        default:
            if (!in_scalar) {
                tokens++;
                mem += COST_SCALAR;
                in_scalar = 1;
            }
        }
        /* A key is a string token but not a value: one per member. */
        uint64_t values = tokens - (members < tokens ? members : tokens);
        if (values > RF_MAX_JSON_VALUES)
            return rf_fail(e, RAIIAF_E_LIMIT, "%s: JSON text holds more than %u values (limit; refused at byte %zu of %zu, before parsing)",
                           what, RF_MAX_JSON_VALUES, i, size);
        if (mem > RF_MAX_JSON_MEMORY)
            return rf_fail(e, RAIIAF_E_LIMIT, "%s: JSON text would need more than %u MiB once parsed (limit; refused at byte %zu of %zu, before parsing)",
                           what, RF_MAX_JSON_MEMORY >> 20, i, size);
    }
    return RAIIAF_OK;
}

int rf_json_parse(const char *text, size_t size, const char *what, json_t **out, rf_err *e)
{
    return rf_json_parse_as(text, size, what, RF_JSON_STRICT, out, e);
}

int rf_json_parse_as(const char *text, size_t size, const char *what, int dialect, json_t **out, rf_err *e)
{
    json_error_t je;
    *out = NULL;
    int rc = rf_json_prescan(text, size, what, e);
    if (rc) return rc;
    json_t *v = rf_json_loadb(text, size, JSON_REJECT_DUPLICATES, dialect, &je);
    if (!v)
        return rf_fail(e, RAIIAF_E_JSON, "%s: invalid JSON at line %d column %d (byte %d): %s", what, je.line,
                       je.column, je.position, je.text);
    if (rf_json_depth(v, RF_MAX_JSON_DEPTH) > RF_MAX_JSON_DEPTH) {
        json_decref(v);
        return rf_fail(e, RAIIAF_E_LIMIT, "%s: JSON nested deeper than %u levels", what, RF_MAX_JSON_DEPTH);
    }
    *out = v;
    return RAIIAF_OK;
}

/* json_deep_copy() that notices a copy cut short by an allocation failure
 * (jansson drops the members it could not copy and still succeeds). */
json_t *rf_json_copy(const json_t *v)
{
    json_t *c = json_deep_copy(v);
    if (c && !json_equal(c, (json_t *)v)) {
        json_decref(c);
        return NULL;
    }
    return c;
}
