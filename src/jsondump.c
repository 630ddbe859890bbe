/* jsondump.c -- the manifest's JSON text: jansson's json_dumps(v,
 * JSON_INDENT(1)) layout byte for byte, except that a real is written in the
 * shortest form that reads back as the same double.
 *
 * jansson writes every real with "%.17g", so the 23.54 of hardware_info's
 * ram_gb (SPEC 19.4: two decimals) came out as 23.539999999999999.  Both
 * texts denote the same double; the short one is what a person and the SPEC
 * expect.  Everything else (key order, indentation, string escapes, integers)
 * is what jansson writes, so a manifest without reals is unchanged. */
#include "jsondump.h"
#include "jsonnum.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} buf;

static void put(buf *b, const char *p, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void puts_(buf *b, const char *p) { put(b, p, strlen(p)); }

static void indent(buf *b, unsigned depth)
{
    put(b, "\n", 1);
    for (unsigned i = 0; i < depth; i++) put(b, " ", 1);
}

/* jansson's dump_string: '"', '\\' and controls escaped, the rest as is. */
static void string(buf *b, const char *s, size_t n)
{
    put(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        put(b, s + run, i - run);
        run = i + 1;
        char seq[8];
        switch (c) {
        case '\\': puts_(b, "\\\\"); break;
        case '"': puts_(b, "\\\""); break;
        case '\b': puts_(b, "\\b"); break;
        case '\f': puts_(b, "\\f"); break;
        case '\n': puts_(b, "\\n"); break;
        case '\r': puts_(b, "\\r"); break;
        case '\t': puts_(b, "\\t"); break;
        default:
            snprintf(seq, sizeof seq, "\\u%04X", c);
            puts_(b, seq);
        }
    }
    put(b, s + run, n - run);
    put(b, "\"", 1);
}

void rf_json_real_text(double v, char out[40])
{
    /* The fewest significant digits that read back as v (17 always do). */
    for (int p = 1; p <= 17; p++) {
        snprintf(out, 40, "%.*g", p, v);
        for (char *c = out; *c; c++)
            if (*c == ',') *c = '.'; /* a locale's decimal comma */
        if (p == 17 || strtod(out, NULL) == v) break;
    }
    /* jansson's jsonp_dtostr: a real always shows '.' or 'e' (so that it
     * reads back as a real), and exponents lose '+' and leading zeros. */
    if (!strchr(out, '.') && !strchr(out, 'e')) strcat(out, ".0");
    char *e = strchr(out, 'e');
    if (e) {
        char *start = e + 1, *end = start + 1;
        if (*start == '-') start++;
        while (*end == '0') end++;
        if (end != start) memmove(start, end, strlen(end) + 1);
    }
}

static void value(buf *b, const json_t *v, unsigned depth)
{
    char num[40];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (!json_object_size(v)) {
            puts_(b, "{}");
            break;
        }
        put(b, "{", 1);
        const char *key;
        json_t *x;
        int first = 1;
        json_object_foreach((json_t *)v, key, x) {
            if (!first) put(b, ",", 1);
            first = 0;
            indent(b, depth + 1);
            string(b, key, strlen(key));
            puts_(b, ": ");
            value(b, x, depth + 1);
        }
        indent(b, depth);
        put(b, "}", 1);
        break;
    }
    case JSON_ARRAY: {
        if (!json_array_size(v)) {
            puts_(b, "[]");
            break;
        }
        put(b, "[", 1);
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            if (i) put(b, ",", 1);
            indent(b, depth + 1);
            value(b, x, depth + 1);
        }
        indent(b, depth);
        put(b, "]", 1);
        break;
    }
    case JSON_STRING:
        if (rf_json_wide_text(v)) puts_(b, rf_json_wide_text(v)); /* a number jansson cannot hold (jsonnum.h) */
        else string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        puts_(b, num);
        break;
    case JSON_REAL:
        rf_json_real_text(json_real_value(v), num);
        puts_(b, num);
        break;
    case JSON_TRUE: puts_(b, "true"); break;
    case JSON_FALSE: puts_(b, "false"); break;
    default: puts_(b, "null"); break;
    }
}

char *rf_json_dump_manifest(const json_t *v)
{
    buf b = {0};
    value(&b, v, 0);
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}
