/*
 * schema.c -- a small JSON Schema validator (the 2020-12 dialect, a subset)
 * and the public schema entry points.
 *
 * Supported keywords:
 *   type (a name or an array of names; "integer" also accepts a real with
 *   zero fraction), properties, required, additionalProperties (boolean or
 *   schema), items (one schema), minItems, maxItems, uniqueItems, minimum,
 *   maximum, exclusiveMinimum, exclusiveMaximum (numbers), minLength,
 *   maxLength (in code points), pattern (POSIX extended regex, unanchored
 *   search; ECMA-262's \uXXXX escapes of ASCII characters are understood,
 *   see posix_pattern), enum, const, $ref ("#" and "#/$defs/NAME" only) and format
 *   ("date-time" only, and only UTC).  Boolean schemas (true / false) are
 *   accepted anywhere a schema is.
 * Annotations, ignored: $schema, $id, $defs, $comment, title, description,
 *   default, examples.
 * Any other keyword makes validation fail with RAIIAF_E_SCHEMA: a keyword the
 * validator silently skipped would let the schema promise a check that never
 * runs.  The whole schema is checked before the instance is looked at, so an
 * unsupported keyword is found even in a branch this instance never reaches.
 *
 * The instance is hostile: its nesting depth is measured first (so every
 * recursion below is bounded), $ref chains are bounded, paths live in a
 * fixed buffer that truncates, and uniqueItems is O(n log n).
 */
#include "internal.h"
#include "format.h"
#include "jsonutil.h"
#include "jsonnum.h"

#include <jansson.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH RF_MAX_JSON_DEPTH /* nested arrays/objects, in the instance and the schema */
#define MAX_REF_DEPTH 64            /* $ref followed on one path: catches cycles */
#define PATH_SIZE 320               /* leaves room in RF_ERRMSG_SIZE for what follows the path */
#define VALUE_SIZE 256              /* longest JSON value quoted in a message */

/* ---- paths ------------------------------------------------------------ */

/* A JSON Pointer built while descending.  When a segment does not fit, the
 * path is cut and printed with "..." so that a huge key cannot overflow
 * anything or push the actual complaint out of the message. */
typedef struct path {
    char s[PATH_SIZE];
    size_t len;
    bool cut;
} path;

typedef struct mark {
    size_t len;
    bool cut;
} mark;

static mark path_mark(const path *p) { return (mark){p->len, p->cut}; }

static void path_reset(path *p, mark m)
{
    p->len = m.len;
    p->cut = m.cut;
    p->s[p->len] = '\0';
}

static void path_putc(path *p, char ch)
{
    if (p->cut)
        return;
    if (p->len + 1 >= sizeof p->s) {
        p->cut = true;
        /* Never end on half a UTF-8 sequence. */
        while (p->len > 0 && ((unsigned char)p->s[p->len - 1] & 0xC0) == 0x80)
            p->len--;
        if (p->len > 0 && ((unsigned char)p->s[p->len - 1] & 0xC0) == 0xC0)
            p->len--;
        p->s[p->len] = '\0';
        return;
    }
    p->s[p->len++] = ch;
    p->s[p->len] = '\0';
}

static void path_puts(path *p, const char *s)
{
    for (; *s && !p->cut; s++)
        path_putc(p, *s);
}

/* Appends "/key" with RFC 6901 escaping.  Control characters are shown as
 * \u00XX so that a message always stays on one line and cannot drive a
 * terminal. */
static void path_key(path *p, const char *key)
{
    path_putc(p, '/');
    for (; *key && !p->cut; key++) {
        unsigned char ch = (unsigned char)*key;
        if (ch == '~') {
            path_puts(p, "~0");
        } else if (ch == '/') {
            path_puts(p, "~1");
        } else if (ch < 0x20 || ch == 0x7F) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", (unsigned)ch);
            path_puts(p, esc);
        } else {
            path_putc(p, (char)ch);
        }
    }
}

static void path_index(path *p, size_t i)
{
    char num[24];
    snprintf(num, sizeof num, "/%zu", i);
    path_puts(p, num);
}

/* The path for a message: the root is "" in RFC 6901, shown as "/". */
static void path_show(const path *p, const char *prefix, char *out, size_t size)
{
    if (p->len == 0 && !p->cut && !*prefix)
        snprintf(out, size, "/");
    else
        snprintf(out, size, "%s%s%s", prefix, p->s, p->cut ? "..." : "");
}

/* ---- quoting values in messages -------------------------------------- */

typedef struct sbuf {
    char s[VALUE_SIZE];
    size_t len;
    bool cut;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->cut)
        return;
    size_t room = sizeof b->s - 4 - b->len; /* keep room for "..." and NUL */
    if (n > room) {
        n = room;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--; /* do not split a UTF-8 sequence */
        b->cut = true;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    if (b->cut) {
        memcpy(b->s + b->len, "...", 3);
        b->len += 3;
    }
    b->s[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static int sb_dump_cb(const char *buf, size_t size, void *data)
{
    sbuf *b = data;
    sb_add(b, buf, size);
    return b->cut ? -1 : 0; /* stop the encoder once the buffer is full */
}

/* Appends a value as compact JSON, so strings come quoted and escaped. */
static void sb_json(sbuf *b, const json_t *v)
{
    json_dump_callback(v, sb_dump_cb, b, JSON_ENCODE_ANY | JSON_COMPACT);
}

/* A number as written in a schema: integers exactly, reals in the shortest
 * form that reads back as the same double. */
static void format_number(const json_t *n, char *out, size_t size)
{
    if (json_is_integer(n)) {
        snprintf(out, size, "%" JSON_INTEGER_FORMAT, json_integer_value(n));
        return;
    }
    double d = json_number_value(n);
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, size, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            return;
    }
}

/* ---- numbers and equality -------------------------------------------- */

static bool real_is_integral(double d)
{
    /* Every double of magnitude >= 2^52 is an integer; below that the cast
     * is in range and exact for integers. */
    if (d >= 4503599627370496.0 || d <= -4503599627370496.0)
        return true;
    return d == (double)(json_int_t)d;
}

static bool is_integral(const json_t *v)
{
    return rf_json_is_int(v) || (json_is_real(v) && real_is_integral(json_real_value(v)));
}

/* Compares an integer with a double exactly: converting a large integer to
 * double would round it and misjudge bounds near 2^53 and beyond. */
static int cmp_int_real(json_int_t i, double d)
{
    if (d >= 9223372036854775808.0)
        return -1;
    if (d < -9223372036854775808.0)
        return 1;
    json_int_t t = (json_int_t)d; /* in range: truncates toward zero */
    if (i != t)
        return i < t ? -1 : 1;
    double frac = d - (double)t; /* exact */
    return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

static int num_cmp(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return (x > y) - (x < y);
    }
    if (json_is_integer(a))
        return cmp_int_real(json_integer_value(a), json_real_value(b));
    if (json_is_integer(b))
        return -cmp_int_real(json_integer_value(b), json_real_value(a));
    double x = json_real_value(a), y = json_real_value(b);
    return (x > y) - (x < y);
}

/* JSON Schema equality: numbers compare by value (1 equals 1.0), objects
 * ignore member order.  Recursion is bounded by the depth check. */
static bool json_same(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return num_cmp(a, b) == 0;
    if (json_typeof(a) != json_typeof(b))
        return false;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    case JSON_ARRAY: {
        size_t n = json_array_size(a);
        if (n != json_array_size(b))
            return false;
        for (size_t i = 0; i < n; i++)
            if (!json_same(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *key;
        json_t *va;
        /* jansson's iterator wants a non-const object; it does not modify it. */
        json_object_foreach((json_t *)a, key, va) {
            const json_t *vb = json_object_get(b, key);
            if (!vb || !json_same(va, vb))
                return false;
        }
        return true;
    }
    default:
        return true; /* true, false, null */
    }
}

static uint64_t hash_mix(uint64_t h, uint64_t x)
{
    h ^= x + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    h *= 0xBF58476D1CE4E5B9ull;
    return h ^ (h >> 31);
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xCBF29CE484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001B3ull;
    }
    return h;
}

/* A hash consistent with json_same(): equal values hash equally. */
static uint64_t json_hash(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        uint64_t sum = 0; /* a sum, because member order does not matter */
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)v, key, val)
            sum += hash_mix(hash_bytes(key, strlen(key)), json_hash(val));
        return hash_mix(1, sum);
    }
    case JSON_ARRAY: {
        uint64_t h = 2;
        for (size_t i = 0; i < json_array_size(v); i++)
            h = hash_mix(h, json_hash(json_array_get(v, i)));
        return h;
    }
    case JSON_STRING:
        return hash_mix(3, hash_bytes(json_string_value(v), json_string_length(v)));
    case JSON_INTEGER:
        return hash_mix(4, (uint64_t)json_integer_value(v));
    case JSON_REAL: {
        double d = json_real_value(v);
        if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 && real_is_integral(d))
            return hash_mix(4, (uint64_t)(json_int_t)d); /* as the equal integer */
        uint64_t bits;
        memcpy(&bits, &d, sizeof bits);
        return hash_mix(5, bits);
    }
    case JSON_TRUE: return 6;
    case JSON_FALSE: return 7;
    default: return 8;
    }
}

/* ---- strings ------------------------------------------------------------ */

/* jansson keeps strings valid UTF-8, so code points are the bytes that are
 * not continuation bytes. */
static size_t utf8_length(const char *s, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += ((unsigned char)s[i] & 0xC0) != 0x80;
    return count;
}

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* RFC 3339 date-time, UTC only: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+00:00).
 * RFC 3339 allows lower-case t and z.  "-00:00" means "offset unknown", so
 * it is not UTC. */
static bool is_utc_date_time(const char *s, size_t n)
{
    if (n < 20)
        return false;
    int year = digits(s, 4), month = digits(s + 5, 2), day = digits(s + 8, 2);
    int hour = digits(s + 11, 2), minute = digits(s + 14, 2), second = digits(s + 17, 2);
    if (year < 0 || s[4] != '-' || month < 0 || s[7] != '-' || day < 0 ||
        (s[10] != 'T' && s[10] != 't') || hour < 0 || s[13] != ':' || minute < 0 ||
        s[16] != ':' || second < 0)
        return false;
    size_t i = 19;
    if (s[i] == '.') {
        size_t start = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return false;
    }
    size_t rest = n - i;
    if (!((rest == 1 && (s[i] == 'Z' || s[i] == 'z')) || (rest == 6 && memcmp(s + i, "+00:00", 6) == 0)))
        return false;
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month < 1 || month > 12 || day < 1 || day > mdays[month - 1])
        return false;
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (month == 2 && day == 29 && !leap)
        return false;
    if (hour > 23 || minute > 59)
        return false;
    /* A leap second is inserted at 23:59:60 UTC, never elsewhere. */
    return second <= 59 || (second == 60 && hour == 23 && minute == 59);
}

/* ---- the validator -------------------------------------------------- */

typedef struct compiled {
    const json_t *owner; /* the schema object whose "pattern" this is */
    regex_t *re;         /* NULL when the pattern is a simple run (below) */
    /* "^[SET]{m,n}$" and its kin ({m}, {m,}, +, *, none): every byte in
     * `set`, between min and max of them.  Matched directly: glibc's
     * regexec builds a DFA table per state, and "[0-9a-f]{64}" has 64
     * states (a quarter of the page faults of `raiiaf info`). */
    unsigned char set[32];
    size_t min, max;
} compiled;

typedef struct ctx {
    const json_t *root; /* the whole schema, for $ref */
    path at;            /* in the instance; in the schema while checking it */
    compiled *pats;     /* every pattern, compiled once per validation */
    size_t npats, cap;
    rf_err *e;
} ctx;

/* Message building needs large buffers: it is kept out of line so that the
 * buffers do not grow the frames of the recursive functions. */
#if defined(__GNUC__)
#define RF_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define RF_COLD __attribute__((noinline, cold))
#define RF_NOINLINE __attribute__((noinline))
#else
#define RF_PRINTF(a, b)
#define RF_COLD
#define RF_NOINLINE
#endif

/* An instance violation: "POINTER: what". */
static RF_COLD int RF_PRINTF(2, 3) violation(ctx *c, const char *fmt, ...)
{
    char what[RF_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    char where[PATH_SIZE + 4];
    path_show(&c->at, "", where, sizeof where);
    return rf_fail(c->e, RAIIAF_E_SCHEMA, "%s: %s", where, what);
}

/* A fault in the schema itself: "what at #/schema/path". */
static RF_COLD int RF_PRINTF(3, 4) schema_fault(ctx *c, int code, const char *fmt, ...)
{
    char what[RF_ERRMSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    char where[PATH_SIZE + 8];
    path_show(&c->at, "#", where, sizeof where);
    return rf_fail(c->e, code, "%s at %s", what, where);
}

static RF_COLD int fail_depth(ctx *c, const char *prefix)
{
    char where[PATH_SIZE + 8];
    path_show(&c->at, prefix, where, sizeof where);
    return rf_fail(c->e, RAIIAF_E_LIMIT, "%s%s: nesting deeper than %u levels", *prefix ? "schema " : "", where,
                   (unsigned)MAX_DEPTH);
}

/* Fails on nesting deeper than MAX_DEPTH; `depth` counts the containers
 * holding v.  Bounding this first makes every later recursion safe. */
static int check_depth(ctx *c, const json_t *v, unsigned depth, const char *prefix)
{
    if (!json_is_object(v) && !json_is_array(v))
        return RAIIAF_OK;
    if (depth + 1 > MAX_DEPTH)
        return fail_depth(c, prefix);
    int rc = RAIIAF_OK;
    mark m = path_mark(&c->at);
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v) && rc == RAIIAF_OK; i++) {
            path_index(&c->at, i);
            rc = check_depth(c, json_array_get(v, i), depth + 1, prefix);
            path_reset(&c->at, m);
        }
    } else {
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)v, key, val) {
            path_key(&c->at, key);
            rc = check_depth(c, val, depth + 1, prefix);
            path_reset(&c->at, m);
            if (rc != RAIIAF_OK)
                break;
        }
    }
    return rc;
}

/* "#" or "#/$defs/NAME" (NAME with RFC 6901 escapes); NULL otherwise. */
static const json_t *resolve_ref(const json_t *root, const char *ref)
{
    static const char prefix[] = "#/$defs/";
    if (strcmp(ref, "#") == 0)
        return root;
    if (strncmp(ref, prefix, sizeof prefix - 1) != 0)
        return NULL;
    const char *src = ref + sizeof prefix - 1;
    char name[256];
    size_t n = 0;
    for (; *src; src++) {
        char ch = *src;
        if (ch == '/')
            return NULL; /* only direct members of $defs */
        if (ch == '~') {
            src++;
            if (*src == '0')
                ch = '~';
            else if (*src == '1')
                ch = '/';
            else
                return NULL;
        }
        if (n + 1 >= sizeof name)
            return NULL;
        name[n++] = ch;
    }
    name[n] = '\0';
    return json_object_get(json_object_get(root, "$defs"), name);
}

static bool type_name_known(const char *t)
{
    static const char *const names[] = {"null", "boolean", "object", "array", "number", "integer", "string"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(t, names[i]) == 0)
            return true;
    return false;
}

enum kw_kind {
    KW_ANNOTATION, /* ignored */
    KW_DEFS,       /* object of schemas */
    KW_TYPE,       /* type name or non-empty array of them */
    KW_PROPERTIES, /* object of schemas */
    KW_STRINGS,    /* array of strings */
    KW_SCHEMA,     /* one schema */
    KW_COUNT,      /* integer >= 0 */
    KW_BOOL,
    KW_NUMBER,
    KW_PATTERN,
    KW_ARRAY,
    KW_ANY,
    KW_REF,
    KW_FORMAT
};

static const struct {
    const char *name;
    enum kw_kind kind;
} keywords[] = {
    {"$schema", KW_ANNOTATION},  {"$id", KW_ANNOTATION},         {"$comment", KW_ANNOTATION},
    {"title", KW_ANNOTATION},    {"description", KW_ANNOTATION}, {"default", KW_ANNOTATION},
    {"examples", KW_ANNOTATION}, {"$defs", KW_DEFS},             {"type", KW_TYPE},
    {"properties", KW_PROPERTIES}, {"required", KW_STRINGS},     {"additionalProperties", KW_SCHEMA},
    {"items", KW_SCHEMA},        {"minItems", KW_COUNT},         {"maxItems", KW_COUNT},
    {"minLength", KW_COUNT},     {"maxLength", KW_COUNT},        {"uniqueItems", KW_BOOL},
    {"minimum", KW_NUMBER},      {"maximum", KW_NUMBER},         {"exclusiveMinimum", KW_NUMBER},
    {"exclusiveMaximum", KW_NUMBER}, {"pattern", KW_PATTERN},    {"enum", KW_ARRAY},
    {"const", KW_ANY},           {"$ref", KW_REF},               {"format", KW_FORMAT},
};

static int check_schema(ctx *c, const json_t *s);

static int hexval(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

/* JSON Schema patterns are ECMA-262 regular expressions, compiled here by
 * POSIX regcomp.  The two agree on the subset the schemas use, except that
 * POSIX has no \uXXXX escape, which a portable schema needs to name control
 * characters ("[^;=\u0000-\u001f\u007f]": POSIX's "[:cntrl:]" is a list of
 * characters to ECMA-262 and Python).  This turns each \uXXXX into the
 * character itself.  Only ASCII characters that are not regex syntax are
 * accepted (a multi-byte character would be several bytes to regcomp in a
 * bracket expression), and U+0000, which cannot appear in a C string, only
 * as the start of a range: "\u0000-X" becomes "\x01-X", which matches the
 * same strings, since a string holding NUL never matches (pattern_matches).
 * Other escapes ("\\", "\.") are left as they are.  Returns the POSIX text
 * (malloc'd), or NULL with *bad set when an escape is not supported. */
static char *posix_pattern(const char *p, int *bad)
{
    size_t n = strlen(p);
    char *out = malloc(n + 1), *o = out;
    *bad = 0;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '\\' || i + 1 >= n) {
            *o++ = p[i];
            continue;
        }
        if (p[i + 1] != 'u') { /* another escape: both characters as they are */
            *o++ = p[i++];
            *o++ = p[i];
            continue;
        }
        int cp = 0;
        for (int k = 2; k < 6; k++) {
            int h = i + (size_t)k < n ? hexval(p[i + (size_t)k]) : -1;
            if (h < 0) {
                cp = -1;
                break;
            }
            cp = cp * 16 + h;
        }
        if (cp < 0 || cp > 0x7f || (cp >= 0x20 && cp < 0x7f && strchr("\\^$.[]|()*+?{}-", cp)) ||
            (cp == 0 && (i + 7 >= n || p[i + 6] != '-'))) {
            *bad = 1;
            free(out);
            return NULL;
        }
        *o++ = cp ? (char)cp : '\x01';
        i += 5;
    }
    *o = '\0';
    return out;
}

/* Reads a count of a bound ({m,n}) at *p: at most RE_DUP_MAX, as regcomp. */
static bool simple_count(const char **p, size_t *out)
{
    const char *q = *p;
    size_t v = 0;
    if (*q < '0' || *q > '9') return false;
    while (*q >= '0' && *q <= '9') {
        v = v * 10 + (size_t)(*q++ - '0');
        if (v > RE_DUP_MAX) return false;
    }
    *p = q;
    *out = v;
    return true;
}

/* Whether the POSIX pattern `t` is "^[SET]Q$": SET of ASCII characters and
 * ranges (no negation, classes, escapes or ']' inside), Q one of {m},
 * {m,}, {m,n}, +, * or none.  For those, POSIX (in any locale: the set is
 * ASCII) and ECMA-262 agree with: every byte of the string in SET, and
 * between min and max bytes.  Anything else is left to regcomp. */
static bool simple_pattern(const char *t, compiled *out)
{
    memset(out->set, 0, sizeof out->set);
    if (*t++ != '^' || *t++ != '[' || *t == '^' || *t == ']') return false;
    while (*t != ']') {
        unsigned char a = (unsigned char)*t, z = a;
        if (!a || a >= 0x80 || a == '\\' || a == '[') return false;
        if (t[1] == '-' && t[2] && t[2] != ']') {
            z = (unsigned char)t[2];
            if (z >= 0x80 || z == '\\' || z == '[' || z < a) return false;
            t += 3;
        } else
            t++;
        for (unsigned ch = a; ch <= z; ch++) out->set[ch >> 3] |= (unsigned char)(1u << (ch & 7));
    }
    t++;
    out->min = out->max = 1;
    if (*t == '+' || *t == '*') {
        out->min = *t == '+';
        out->max = SIZE_MAX;
        t++;
    } else if (*t == '{') {
        t++;
        if (!simple_count(&t, &out->min)) return false;
        out->max = out->min;
        if (*t == ',') {
            t++;
            out->max = SIZE_MAX;
            if (*t != '}' && !simple_count(&t, &out->max)) return false;
        }
        if (*t++ != '}' || out->max < out->min) return false;
    }
    return t[0] == '$' && !t[1];
}

static int add_pattern(ctx *c, const json_t *owner, const json_t *pattern)
{
    if (c->npats == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        compiled *p = realloc(c->pats, cap * sizeof *p);
        if (!p)
            return rf_fail(c->e, RAIIAF_E_NOMEM, "out of memory compiling schema patterns");
        c->pats = p;
        c->cap = cap;
    }
    /* regex_t is allocated on its own: POSIX does not promise it may move. */
    regex_t *re = malloc(sizeof *re);
    if (!re)
        return rf_fail(c->e, RAIIAF_E_NOMEM, "out of memory compiling schema patterns");
    int bad = 0;
    char *text = posix_pattern(json_string_value(pattern), &bad);
    if (!text) {
        free(re);
        if (!bad) return rf_fail(c->e, RAIIAF_E_NOMEM, "out of memory compiling schema patterns");
        sbuf q = {0};
        sb_json(&q, pattern);
        return schema_fault(c, RAIIAF_E_SCHEMA, "schema pattern %s has a \\u escape this validator does not support", q.s);
    }
    compiled simple;
    if (simple_pattern(text, &simple)) {
        free(text);
        free(re);
        simple.owner = owner;
        simple.re = NULL;
        c->pats[c->npats++] = simple;
        return RAIIAF_OK;
    }
    int err = regcomp(re, text, REG_EXTENDED | REG_NOSUB);
    free(text);
    if (err != 0) {
        char why[128];
        regerror(err, re, why, sizeof why);
        free(re);
        sbuf q = {0};
        sb_json(&q, pattern);
        return schema_fault(c, RAIIAF_E_SCHEMA, "schema pattern %s does not compile (%s)", q.s, why);
    }
    c->pats[c->npats++] = (compiled){.owner = owner, .re = re};
    return RAIIAF_OK;
}

static int check_keyword(ctx *c, const json_t *s, const char *key, const json_t *val)
{
    sbuf q = {0}; /* the value, quoted, for messages */
    size_t k = 0, nk = sizeof keywords / sizeof keywords[0];
    while (k < nk && strcmp(keywords[k].name, key) != 0)
        k++;
    if (k == nk) {
        sbuf name = {0};
        json_t *str = json_string(key);
        if (str)
            sb_json(&name, str);
        json_decref(str);
        return schema_fault(c, RAIIAF_E_SCHEMA, "schema uses unsupported keyword %s", name.s);
    }
    int rc = RAIIAF_OK;
    mark m = path_mark(&c->at);
    bool ok = true;
    switch (keywords[k].kind) {
    case KW_ANNOTATION:
        break;
    case KW_DEFS:
    case KW_PROPERTIES: {
        if (!json_is_object(val)) {
            ok = false;
            break;
        }
        const char *name;
        json_t *sub;
        json_object_foreach((json_t *)val, name, sub) {
            path_key(&c->at, key);
            path_key(&c->at, name);
            rc = check_schema(c, sub);
            path_reset(&c->at, m);
            if (rc != RAIIAF_OK)
                return rc;
        }
        break;
    }
    case KW_TYPE:
        if (json_is_string(val)) {
            ok = type_name_known(json_string_value(val));
        } else if (json_is_array(val) && json_array_size(val) > 0) {
            for (size_t i = 0; i < json_array_size(val) && ok; i++) {
                const json_t *t = json_array_get(val, i);
                ok = json_is_string(t) && type_name_known(json_string_value(t));
            }
        } else {
            ok = false;
        }
        break;
    case KW_STRINGS:
        ok = json_is_array(val);
        for (size_t i = 0; ok && i < json_array_size(val); i++)
            ok = json_is_string(json_array_get(val, i));
        break;
    case KW_SCHEMA:
        path_key(&c->at, key);
        rc = check_schema(c, val);
        path_reset(&c->at, m);
        break;
    case KW_COUNT:
        ok = json_is_integer(val) && json_integer_value(val) >= 0;
        break;
    case KW_BOOL:
        ok = json_is_boolean(val);
        break;
    case KW_NUMBER:
        ok = json_is_number(val);
        break;
    case KW_PATTERN:
        ok = json_is_string(val);
        if (ok)
            rc = add_pattern(c, s, val);
        break;
    case KW_ARRAY:
        ok = json_is_array(val);
        break;
    case KW_ANY:
        break;
    case KW_REF:
        ok = json_is_string(val);
        if (ok && !resolve_ref(c->root, json_string_value(val))) {
            sb_json(&q, val);
            return schema_fault(c, RAIIAF_E_SCHEMA,
                                "schema $ref %s does not resolve (only \"#\" and \"#/$defs/NAME\" are supported)",
                                q.s);
        }
        break;
    case KW_FORMAT:
        ok = json_is_string(val);
        if (ok && strcmp(json_string_value(val), "date-time") != 0) {
            sb_json(&q, val);
            return schema_fault(c, RAIIAF_E_SCHEMA, "schema uses unsupported format %s", q.s);
        }
        break;
    }
    if (!ok) {
        sb_json(&q, val);
        return schema_fault(c, RAIIAF_E_SCHEMA, "schema keyword \"%s\" has an invalid value %s", key, q.s);
    }
    return rc;
}

/* Checks that `s` is a schema using only supported keywords, each with a
 * well-formed value, and compiles its patterns. */
static int check_schema(ctx *c, const json_t *s)
{
    if (json_is_boolean(s))
        return RAIIAF_OK;
    if (!json_is_object(s))
        return schema_fault(c, RAIIAF_E_SCHEMA, "a schema must be an object or a boolean");
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)s, key, val) {
        int rc = check_keyword(c, s, key, val);
        if (rc != RAIIAF_OK)
            return rc;
    }
    return RAIIAF_OK;
}

static const compiled *find_pattern(const ctx *c, const json_t *owner)
{
    for (size_t i = 0; i < c->npats; i++)
        if (c->pats[i].owner == owner)
            return &c->pats[i];
    return NULL;
}

static bool has_type(const json_t *v, const char *t)
{
    if (strcmp(t, "null") == 0) return json_is_null(v);
    if (strcmp(t, "boolean") == 0) return json_is_boolean(v);
    if (strcmp(t, "object") == 0) return json_is_object(v);
    if (strcmp(t, "array") == 0) return json_is_array(v);
    if (strcmp(t, "number") == 0) return rf_json_is_num(v);
    if (strcmp(t, "integer") == 0) return is_integral(v);
    return rf_json_is_text(v);
}

static const char *type_article(const char *t)
{
    if (strcmp(t, "null") == 0) return "";
    return (t[0] == 'a' || t[0] == 'i' || t[0] == 'o') ? "an " : "a ";
}

static RF_NOINLINE int check_type(ctx *c, const json_t *type, const json_t *v)
{
    if (json_is_string(type)) {
        const char *t = json_string_value(type);
        if (has_type(v, t))
            return RAIIAF_OK;
        return violation(c, "must be %s%s", type_article(t), t);
    }
    sbuf list = {0};
    for (size_t i = 0; i < json_array_size(type); i++) {
        const char *t = json_string_value(json_array_get(type, i));
        if (has_type(v, t))
            return RAIIAF_OK;
        if (i)
            sb_str(&list, ", ");
        sb_str(&list, t);
    }
    return violation(c, "must be one of: %s", list.s);
}

static int check_bound(ctx *c, const json_t *s, const json_t *v, const char *kw, const char *op)
{
    const json_t *b = json_object_get(s, kw);
    if (!b)
        return RAIIAF_OK;
    /* A wide number (jsonnum.h) lies beyond every bound a schema can write;
     * NaN violates none, as in Python's jsonschema (format 1's rules). */
    int r = rf_json_wide_text(v) ? rf_json_wide_sign(v) : num_cmp(v, b);
    if (rf_json_wide_text(v) && r == 0)
        return RAIIAF_OK;
    bool ok = op[0] == '>' ? (op[1] ? r >= 0 : r > 0) : (op[1] ? r <= 0 : r < 0);
    if (ok)
        return RAIIAF_OK;
    char num[40];
    format_number(b, num, sizeof num);
    return violation(c, "must be %s %s", op, num);
}

typedef struct hash_index {
    uint64_t h;
    size_t i;
} hash_index;

static int hash_index_cmp(const void *pa, const void *pb)
{
    const hash_index *a = pa, *b = pb;
    if (a->h != b->h)
        return a->h < b->h ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* O(n log n): sort by hash, compare only equal hashes.  Reports the pair a
 * naive scan would: the smallest j with an equal earlier item, and the
 * smallest such i. */
static int check_unique(ctx *c, const json_t *v)
{
    size_t n = json_array_size(v);
    if (n < 2)
        return RAIIAF_OK;
    hash_index *t = n <= SIZE_MAX / sizeof *t ? malloc(n * sizeof *t) : NULL;
    if (!t)
        return rf_fail(c->e, RAIIAF_E_NOMEM, "out of memory checking uniqueItems");
    for (size_t i = 0; i < n; i++)
        t[i] = (hash_index){json_hash(json_array_get(v, i)), i};
    qsort(t, n, sizeof *t, hash_index_cmp);
    size_t best_i = SIZE_MAX, best_j = SIZE_MAX;
    for (size_t a = 0, b; a < n; a = b) {
        for (b = a + 1; b < n && t[b].h == t[a].h; b++)
            ;
        for (size_t k = a + 1; k < b && t[k].i < best_j; k++)
            for (size_t m = a; m < k; m++)
                if (json_same(json_array_get(v, t[m].i), json_array_get(v, t[k].i))) {
                    best_i = t[m].i;
                    best_j = t[k].i;
                    break;
                }
    }
    free(t);
    if (best_j == SIZE_MAX)
        return RAIIAF_OK;
    return violation(c, "items %zu and %zu are equal", best_i, best_j);
}

/* POSIX regexec stops at NUL; letting "<64 hex digits>\0junk" match on its
 * prefix would defeat an anchored pattern, so such strings never match. */
static bool pattern_matches(const compiled *p, const json_t *v)
{
    const char *str = json_string_value(v);
    size_t n = json_string_length(v);
    if (memchr(str, '\0', n))
        return false;
    if (p->re)
        return regexec(p->re, str, 0, NULL, 0) == 0;
    if (n < p->min || n > p->max)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)str[i];
        if (!(p->set[ch >> 3] & (1u << (ch & 7))))
            return false;
    }
    return true;
}

static int validate(ctx *c, const json_t *s, const json_t *v, unsigned refs);
static RF_COLD int fail_values(ctx *c, const char *lead, const json_t *values, bool one);

static int check_string(ctx *c, const json_t *s, const json_t *v)
{
    const json_t *kw;
    size_t n = json_string_length(v);
    const char *str = json_string_value(v);
    if ((kw = json_object_get(s, "minLength"))) {
        json_int_t min = json_integer_value(kw);
        if ((json_int_t)utf8_length(str, n) < min)
            return violation(c, "must be at least %" JSON_INTEGER_FORMAT " character%s", min, min == 1 ? "" : "s");
    }
    if ((kw = json_object_get(s, "maxLength"))) {
        json_int_t max = json_integer_value(kw);
        /* The byte count bounds the code point count: skip the scan when it can. */
        if (n > (size_t)max && (json_int_t)utf8_length(str, n) > max)
            return violation(c, "must be at most %" JSON_INTEGER_FORMAT " character%s", max, max == 1 ? "" : "s");
    }
    if ((kw = json_object_get(s, "pattern"))) {
        const compiled *re = find_pattern(c, s);
        if (!re)
            return violation(c, "schema pattern was not prepared"); /* cannot happen */
        if (!pattern_matches(re, v))
            return violation(c, "does not match pattern %s", json_string_value(kw));
    }
    if ((kw = json_object_get(s, "format")) && !is_utc_date_time(str, n))
        return fail_values(c, "must be a UTC date-time (RFC 3339, ending in Z): ", v, true);
    return RAIIAF_OK;
}

static int check_array(ctx *c, const json_t *s, const json_t *v, unsigned refs)
{
    const json_t *kw;
    size_t n = json_array_size(v);
    if ((kw = json_object_get(s, "minItems")) && n < (uint64_t)json_integer_value(kw)) {
        json_int_t min = json_integer_value(kw);
        return violation(c, "must have at least %" JSON_INTEGER_FORMAT " item%s", min, min == 1 ? "" : "s");
    }
    if ((kw = json_object_get(s, "maxItems")) && n > (uint64_t)json_integer_value(kw)) {
        json_int_t max = json_integer_value(kw);
        return violation(c, "must have at most %" JSON_INTEGER_FORMAT " item%s", max, max == 1 ? "" : "s");
    }
    if (json_is_true(json_object_get(s, "uniqueItems"))) {
        int rc = check_unique(c, v);
        if (rc != RAIIAF_OK)
            return rc;
    }
    if ((kw = json_object_get(s, "items"))) {
        mark m = path_mark(&c->at);
        for (size_t i = 0; i < n; i++) {
            path_index(&c->at, i);
            int rc = validate(c, kw, json_array_get(v, i), refs);
            path_reset(&c->at, m);
            if (rc != RAIIAF_OK)
                return rc;
        }
    }
    return RAIIAF_OK;
}

static int check_object(ctx *c, const json_t *s, const json_t *v, unsigned refs)
{
    const json_t *required = json_object_get(s, "required");
    for (size_t i = 0; i < json_array_size(required); i++) {
        const json_t *name = json_array_get(required, i);
        if (!json_object_get(v, json_string_value(name)))
            return fail_values(c, "missing required property ", name, true);
    }
    const json_t *props = json_object_get(s, "properties");
    const json_t *extra = json_object_get(s, "additionalProperties");
    if (!props && !extra)
        return RAIIAF_OK;
    /* Walk the instance, not the schema, so the first violation reported
     * follows the order of the manifest text. */
    mark m = path_mark(&c->at);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val) {
        const json_t *sub = props ? json_object_get(props, key) : NULL;
        if (!sub)
            sub = extra;
        if (!sub)
            continue;
        path_key(&c->at, key);
        int rc = validate(c, sub, val, refs);
        path_reset(&c->at, m);
        if (rc != RAIIAF_OK)
            return rc;
    }
    return RAIIAF_OK;
}

/* "must equal X" / "must be one of: X, Y" with the values as JSON. */
static RF_COLD int fail_values(ctx *c, const char *lead, const json_t *values, bool one)
{
    sbuf q = {0};
    if (one) {
        sb_json(&q, values);
    } else {
        for (size_t i = 0; i < json_array_size(values); i++) {
            if (i)
                sb_str(&q, ", ");
            sb_json(&q, json_array_get(values, i));
        }
    }
    return violation(c, "%s%s", lead, q.s);
}

static RF_COLD int fail_ref(ctx *c, const json_t *ref, const char *why)
{
    sbuf q = {0};
    sb_json(&q, ref);
    char where[PATH_SIZE + 4];
    path_show(&c->at, "", where, sizeof where);
    return rf_fail(c->e, RAIIAF_E_SCHEMA, "%s: schema $ref %s %s", where, q.s, why);
}

/* Applies schema `s` to instance value `v`.  `refs` counts the $refs
 * followed to get here, so that a $ref cycle ends in an error. */
static int validate(ctx *c, const json_t *s, const json_t *v, unsigned refs)
{
    if (json_is_true(s))
        return RAIIAF_OK;
    if (json_is_false(s))
        return violation(c, "is not allowed");
    const json_t *kw;
    int rc;
    if ((kw = json_object_get(s, "$ref"))) {
        if (refs >= MAX_REF_DEPTH)
            return fail_ref(c, kw, "nests deeper than 64 levels (a $ref cycle?)");
        const json_t *target = resolve_ref(c->root, json_string_value(kw));
        if (!target)
            return fail_ref(c, kw, "does not resolve"); /* check_schema rules this out */
        if ((rc = validate(c, target, v, refs + 1)) != RAIIAF_OK)
            return rc;
    }
    if ((kw = json_object_get(s, "type")) && (rc = check_type(c, kw, v)) != RAIIAF_OK)
        return rc;
    if ((kw = json_object_get(s, "const")) && !json_same(kw, v))
        return fail_values(c, "must equal ", kw, true);
    if ((kw = json_object_get(s, "enum"))) {
        size_t n = json_array_size(kw), i = 0;
        while (i < n && !json_same(json_array_get(kw, i), v))
            i++;
        if (i == n)
            return fail_values(c, "must be one of: ", kw, false);
    }
    if (rf_json_is_num(v)) {
        if ((rc = check_bound(c, s, v, "minimum", ">=")) != RAIIAF_OK ||
            (rc = check_bound(c, s, v, "exclusiveMinimum", ">")) != RAIIAF_OK ||
            (rc = check_bound(c, s, v, "maximum", "<=")) != RAIIAF_OK ||
            (rc = check_bound(c, s, v, "exclusiveMaximum", "<")) != RAIIAF_OK)
            return rc;
    } else if (json_is_string(v)) {
        return check_string(c, s, v);
    } else if (json_is_array(v)) {
        return check_array(c, s, v, refs);
    } else if (json_is_object(v)) {
        return check_object(c, s, v, refs);
    }
    return RAIIAF_OK;
}

int rf_schema_validate(const struct json_t *schema, const struct json_t *instance, rf_err *e)
{
    if (!schema || !instance)
        return rf_fail(e, RAIIAF_E_ARG, "schema validation needs a schema and an instance");
    ctx c = {.root = schema, .e = e};
    int rc = check_depth(&c, schema, 0, "#");
    if (rc == RAIIAF_OK)
        rc = check_schema(&c, schema);
    path_reset(&c.at, (mark){0, false});
    if (rc == RAIIAF_OK)
        rc = check_depth(&c, instance, 0, "");
    if (rc == RAIIAF_OK)
        rc = validate(&c, schema, instance, 0);
    for (size_t i = 0; i < c.npats; i++) {
        if (!c.pats[i].re) continue; /* a simple run: nothing compiled */
        regfree(c.pats[i].re);
        free(c.pats[i].re);
    }
    free(c.pats);
    return rc;
}

/* ---- public entry points ---------------------------------------------- */

RAIIAF_API const char *raiiaf_schema_text(void) { return rf_schema_json; }

/* Copies `src` into `dst`, cut at a UTF-8 character boundary if needed. */
static void copy_message(char *dst, size_t size, const char *src)
{
    if (!dst || size == 0)
        return;
    size_t n = strlen(src);
    if (n >= size) {
        n = size - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

RAIIAF_API int raiiaf_validate_manifest(const char *json, size_t size, char *msg, size_t msg_size)
{
    rf_err e;
    rf_err_clear(&e);
    json_error_t jerr;
    int rc;
    if (!json && size) {
        rc = rf_fail(&e, RAIIAF_E_ARG, "no JSON text given");
    } else if (size > RF_MAX_MANIFEST_RAW) {
        rc = rf_fail(&e, RAIIAF_E_LIMIT, "manifest of %zu bytes exceeds the limit of %u", size,
                     (unsigned)RF_MAX_MANIFEST_RAW);
    } else if ((rc = rf_json_prescan(json ? json : "", size, "manifest", &e)) != RAIIAF_OK) {
        /* refused before parsing: too many values for the memory limit */
    } else {
        json_t *instance = rf_json_loadb(json ? json : "", size, JSON_REJECT_DUPLICATES, RF_JSON_STRICT, &jerr);
        if (!instance) {
            rc = rf_fail(&e, RAIIAF_E_JSON, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        } else {
            json_t *schema = json_loads(rf_schema_json, JSON_REJECT_DUPLICATES, &jerr);
            if (!schema)
                rc = rf_fail(&e, RAIIAF_E_SCHEMA, "the embedded schema does not parse: line %d column %d: %s",
                             jerr.line, jerr.column, jerr.text);
            else
                rc = rf_schema_validate(schema, instance, &e);
            json_decref(schema);
            json_decref(instance);
        }
    }
    copy_message(msg, msg_size, rc == RAIIAF_OK ? "" : e.msg);
    return rc;
}
