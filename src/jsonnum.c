/* jsonnum.c -- exact JSON numbers beyond jansson's json_int_t ("wide
 * numbers", raiiaf_json.h) and the Python json dialect of format 1.
 *
 * jansson has no hook for numbers: json_int_t is a long long, so 2^63..2^64-1
 * (half of all seeds) is "too big integer", and NaN/Infinity are not JSON at
 * all.  Instead of a parser of our own, a pre-pass finds the number tokens
 * jansson cannot hold, parses a copy of the text in which each is replaced by
 * "0" padded with spaces to the same length (so that jansson's error
 * positions still point into the original), and then puts the wide numbers
 * back in place of those zeros.  Which zeros: the pre-pass counts every
 * number token in document order; jansson keeps object members in insertion
 * order and, with duplicate keys refused, that is document order, so a
 * depth-first walk meets the numbers in the same order.  Lone surrogates
 * (Python's dialect) go the same way: \uFFFD of the same length in the
 * copy, then the string decoded again from the original text as WTF-8. */
#include "jsonnum.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WIDE_MARK '\xff'

const char *rf_json_wide_text(const json_t *v)
{
    if (!json_is_string(v) || json_string_length(v) < 2) return NULL;
    const char *s = json_string_value(v);
    return s[0] == WIDE_MARK ? s + 1 : NULL;
}

const char *raiiaf_json_wide_text(const json_t *v) { return rf_json_wide_text(v); }

json_t *rf_json_wide(const char *lit, size_t n)
{
    char *t = malloc(n + 1);
    if (!t) return NULL;
    t[0] = WIDE_MARK;
    memcpy(t + 1, lit, n);
    json_t *v = json_stringn_nocheck(t, n + 1);
    free(t);
    return v;
}

static int digits_only(const char *s)
{
    if (*s == '-') s++;
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

int rf_json_is_int(const json_t *v)
{
    const char *w = rf_json_wide_text(v);
    return json_is_integer(v) || (w && digits_only(w));
}

int rf_json_is_num(const json_t *v) { return json_is_number(v) || rf_json_wide_text(v); }

int rf_json_is_text(const json_t *v) { return json_is_string(v) && !rf_json_wide_text(v); }

int rf_json_wide_sign(const json_t *v)
{
    const char *w = rf_json_wide_text(v);
    if (!w || !strcmp(w, "NaN")) return 0;
    return w[0] == '-' ? -1 : 1;
}

int rf_json_has_wide(const json_t *v)
{
    if (rf_json_wide_text(v)) return 1;
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) if (rf_json_has_wide(x)) return 1;
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) if (rf_json_has_wide(x)) return 1;
    }
    return 0;
}

static int valid_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i], k = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 9;
        if (k == 9 || i + k >= n + (k ? 0 : 1)) return 0;
        if (k == 2 && c == 0xED && s[i + 1] >= 0xA0) return 0; /* a surrogate */
        for (unsigned j = 1; j <= k; j++)
            if ((s[i + j] & 0xC0) != 0x80) return 0;
        i += k + 1;
    }
    return 1;
}

int rf_json_has_invalid_text(const json_t *v)
{
    if (json_is_string(v)) return !rf_json_wide_text(v) && !valid_utf8((const unsigned char *)json_string_value(v), json_string_length(v));
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) if (rf_json_has_invalid_text(x)) return 1;
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) if (rf_json_has_invalid_text(x)) return 1;
    }
    return 0;
}

/* ---- public helpers ---- */

int raiiaf_json_integer_text(const json_t *v, char out[RAIIAF_JSON_INT_TEXT])
{
    if (json_is_integer(v)) {
        snprintf(out, RAIIAF_JSON_INT_TEXT, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return 1;
    }
    const char *w = rf_json_wide_text(v);
    if (!w || !digits_only(w) || strlen(w) >= RAIIAF_JSON_INT_TEXT) return 0;
    strcpy(out, w);
    return 1;
}

int raiiaf_json_uint64(const json_t *v, uint64_t *out)
{
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0) return 0;
        *out = (uint64_t)json_integer_value(v);
        return 1;
    }
    const char *w = rf_json_wide_text(v);
    if (!w || !digits_only(w) || w[0] == '-' || strlen(w) > 20) return 0;
    uint64_t n = 0;
    for (; *w; w++) {
        unsigned d = (unsigned)(*w - '0');
        if (n > (UINT64_MAX - d) / 10) return 0;
        n = n * 10 + d;
    }
    *out = n;
    return 1;
}

json_t *raiiaf_json_from_uint64(uint64_t n)
{
    if (n <= (uint64_t)INT64_MAX) return json_integer((json_int_t)n);
    char t[RAIIAF_JSON_INT_TEXT];
    int len = snprintf(t, sizeof t, "%llu", (unsigned long long)n);
    return rf_json_wide(t, (size_t)len);
}

/* ---- parsing ---- */

/* A token of the text that jansson cannot take as it is: a number it cannot
 * hold, or (Python dialect) a string with a lone surrogate.  `order` counts
 * tokens of its kind (numbers; strings, keys included) in document order. */
typedef struct {
    size_t off, len, order;
    int is_string;
} fix;

typedef struct {
    fix *f;
    size_t n, cap;
    size_t numbers, strings; /* tokens of each kind seen */
} fix_list;

static int add_fix(fix_list *l, size_t off, size_t len, size_t order, int is_string)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        fix *a = realloc(l->f, cap * sizeof *a);
        if (!a) return -1;
        l->f = a;
        l->cap = cap;
    }
    l->f[l->n++] = (fix){off, len, order, is_string};
    return 0;
}

/* Decimal digits s[0..n) (no sign) compared with the digits of lim: <0, 0, >0. */
static int cmp_digits(const char *s, size_t n, const char *lim)
{
    size_t m = strlen(lim);
    if (n != m) return n < m ? -1 : 1;
    return memcmp(s, lim, n);
}

/* Whether an integer literal must become a wide number: beyond json_int_t
 * and within the dialect's range. */
static int needs_wide(const char *s, size_t n, int dialect)
{
    int neg = s[0] == '-';
    const char *d = s + neg;
    size_t nd = n - (size_t)neg;
    if (nd == 0 || (d[0] == '0' && nd > 1)) return 0; /* not JSON: jansson says so */
    for (size_t i = 0; i < nd; i++)
        if (d[i] < '0' || d[i] > '9') return 0; /* a real */
    if (neg ? cmp_digits(d, nd, "9223372036854775808") <= 0 : cmp_digits(d, nd, "9223372036854775807") <= 0) return 0;
    if (dialect == RF_JSON_PYTHON) return 1;
    return !neg && cmp_digits(d, nd, "18446744073709551615") <= 0;
}

static int hexval(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + (unsigned)d;
    }
    *out = v;
    return 0;
}

/* At t[i] == '\\' inside a string: 1 when a \uXXXX lone surrogate starts
 * there, 2 when a surrogate pair does, 0 otherwise. */
static int surrogate_at(const char *t, size_t len, size_t i)
{
    unsigned u, u2;
    if (i + 5 >= len || t[i + 1] != 'u' || hexval(t + i + 2, &u) || u < 0xD800 || u > 0xDFFF) return 0;
    if (u <= 0xDBFF && i + 11 < len && t[i + 6] == '\\' && t[i + 7] == 'u' && !hexval(t + i + 8, &u2) && u2 >= 0xDC00 &&
        u2 <= 0xDFFF)
        return 2;
    return 1;
}

/* Lists the tokens to fix.  -1 when out of memory. */
static int scan(const char *t, size_t len, int dialect, fix_list *l)
{
    size_t i = 0;
    while (i < len) {
        char c = t[i];
        if (c == '"') {
            size_t start = i;
            int lone = 0;
            for (i++; i < len && t[i] != '"'; i++) {
                if (t[i] != '\\') continue;
                int s = dialect == RF_JSON_PYTHON ? surrogate_at(t, len, i) : 0;
                if (s == 1) lone = 1;
                i += s == 2 ? 11 : s == 1 ? 5 : 1;
            }
            i++;
            if (lone && add_fix(l, start, (i < len ? i : len) - start, l->strings, 1)) return -1;
            l->strings++;
            continue;
        }
        if (c == '-' || (c >= '0' && c <= '9') || (dialect == RF_JSON_PYTHON && (c == 'N' || c == 'I'))) {
            size_t j = i;
            if (dialect == RF_JSON_PYTHON && (c == 'N' || c == 'I' || (c == '-' && i + 1 < len && t[i + 1] == 'I'))) {
                const char *word = c == 'N' ? "NaN" : c == 'I' ? "Infinity" : "-Infinity";
                size_t wl = strlen(word);
                if (len - i < wl || memcmp(t + i, word, wl)) {
                    i++; /* not a number: jansson reports it */
                    continue;
                }
                j = i + wl;
            } else {
                while (j < len && t[j] && strchr("0123456789+-.eE", t[j])) j++;
                if (!needs_wide(t + i, j - i, dialect)) {
                    l->numbers++;
                    i = j;
                    continue;
                }
            }
            if (add_fix(l, i, j - i, l->numbers, 0)) return -1;
            l->numbers++;
            i = j;
            continue;
        }
        i++;
    }
    return 0;
}

static void put_utf8(char **d, unsigned cp)
{
    unsigned char *o = (unsigned char *)*d;
    if (cp < 0x80) *o++ = (unsigned char)cp;
    else if (cp < 0x800) *o++ = (unsigned char)(0xC0 | cp >> 6), *o++ = (unsigned char)(0x80 | (cp & 0x3F));
    else if (cp < 0x10000)
        *o++ = (unsigned char)(0xE0 | cp >> 12), *o++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)),
        *o++ = (unsigned char)(0x80 | (cp & 0x3F));
    else
        *o++ = (unsigned char)(0xF0 | cp >> 18), *o++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3F)),
        *o++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)), *o++ = (unsigned char)(0x80 | (cp & 0x3F));
    *d = (char *)o;
}

/* A string token (quotes included) that jansson has already accepted with
 * its lone surrogates replaced, decoded with each lone surrogate as its
 * three WTF-8 bytes: what Python holds, and what format1_write.c writes back
 * as the same \uXXXX escape.  Such a string is not valid UTF-8, so jansson's
 * own json_dumps() and a format 2 manifest refuse it. */
static json_t *wtf8_string(const char *t, size_t n)
{
    char *out = malloc(n + 1), *d = out;
    if (!out) return NULL;
    for (size_t i = 1; i + 1 < n; i++) {
        if (t[i] != '\\') {
            *d++ = t[i];
            continue;
        }
        char e = t[++i];
        unsigned u = 0, u2 = 0;
        switch (e) {
        case 'b': *d++ = '\b'; break;
        case 'f': *d++ = '\f'; break;
        case 'n': *d++ = '\n'; break;
        case 'r': *d++ = '\r'; break;
        case 't': *d++ = '\t'; break;
        case 'u':
            hexval(t + i + 1, &u); /* jansson checked the escapes */
            i += 4;
            if (u >= 0xD800 && u <= 0xDBFF && i + 6 < n && t[i + 1] == '\\' && t[i + 2] == 'u' && !hexval(t + i + 3, &u2) &&
                u2 >= 0xDC00 && u2 <= 0xDFFF) {
                u = 0x10000 + ((u - 0xD800) << 10) + (u2 - 0xDC00);
                i += 6;
            }
            put_utf8(&d, u);
            break;
        default: *d++ = e; /* " \ / */
        }
    }
    json_t *v = json_stringn_nocheck(out, (size_t)(d - out));
    free(out);
    return v;
}

static json_t *wide_from_token(const char *t, size_t n) { return rf_json_wide(t, n); }

typedef struct {
    const char *text;
    const fix_list *l;
    size_t numbers, strings; /* seen in the walk */
    size_t next;             /* the next fix to apply (fixes are in document order) */
    int failed;
} restore_ctx;

/* The fix for the current token of a kind, if it is the next one. */
static const fix *due(restore_ctx *c, int is_string, size_t order)
{
    if (c->next < c->l->n && c->l->f[c->next].is_string == is_string && c->l->f[c->next].order == order)
        return &c->l->f[c->next++];
    return NULL;
}

/* Puts the wide numbers in place of the zeros that stand for them, and the
 * WTF-8 strings in place of their U+FFFD stand-ins.  A key with a lone
 * surrogate keeps U+FFFD (jansson keys are C strings). */
static void restore(restore_ctx *c, json_t *parent, void *iter, size_t index, json_t *v)
{
    if (c->failed) return;
    const fix *f = NULL;
    if (json_is_number(v)) f = due(c, 0, c->numbers++);
    else if (json_is_string(v)) f = due(c, 1, c->strings++);
    if (f) {
        json_t *w = f->is_string ? wtf8_string(c->text + f->off, f->len) : wide_from_token(c->text + f->off, f->len);
        if (!w) {
            c->failed = 1;
            return;
        }
        if (!parent) {
            c->failed = 1; /* the root: handled by the caller */
            json_decref(w);
        } else if (json_is_object(parent)) {
            c->failed |= json_object_iter_set_new(parent, iter, w) != 0;
        } else {
            c->failed |= json_array_set_new(parent, index, w) != 0;
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) restore(c, v, NULL, i, json_array_get(v, i));
    } else if (json_is_object(v)) {
        for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it)) {
            if (due(c, 1, c->strings++)) {
                /* a key with a lone surrogate: left as U+FFFD */
            }
            restore(c, v, it, 0, json_object_iter_value(it));
        }
    }
}

json_t *rf_json_loadb(const char *text, size_t len, size_t flags, int dialect, json_error_t *je)
{
    json_error_t local;
    if (!je) je = &local;
    if (dialect == RF_JSON_PYTHON) flags |= JSON_ALLOW_NUL;
    fix_list l = {0};
    if (scan(text, len, dialect, &l)) {
        free(l.f);
        snprintf(je->text, sizeof je->text, "out of memory");
        return NULL;
    }
    if (l.n == 0) return json_loadb(text, len, flags, je);
    char *copy = malloc(len ? len : 1);
    if (!copy) {
        free(l.f);
        snprintf(je->text, sizeof je->text, "out of memory");
        return NULL;
    }
    memcpy(copy, text, len);
    /* Same-length stand-ins, so that jansson's error positions hold. */
    for (size_t k = 0; k < l.n; k++) {
        const fix *f = &l.f[k];
        if (!f->is_string) {
            copy[f->off] = '0';
            memset(copy + f->off + 1, ' ', f->len - 1);
            continue;
        }
        for (size_t i = f->off + 1; i + 1 < f->off + f->len; i++) {
            if (copy[i] != '\\') continue;
            int s = surrogate_at(text, len, i);
            if (s == 1) memcpy(copy + i, "\\uFFFD", 6);
            i += s == 2 ? 11 : s == 1 ? 5 : 1;
        }
    }
    json_t *v = json_loadb(copy, len, flags | JSON_REJECT_DUPLICATES, je);
    free(copy);
    if (v) {
        const fix *f0 = &l.f[0];
        if (!json_is_object(v) && !json_is_array(v)) { /* the root itself (JSON_DECODE_ANY) */
            json_decref(v);
            v = f0->is_string ? wtf8_string(text + f0->off, f0->len) : wide_from_token(text + f0->off, f0->len);
        } else {
            restore_ctx c = {text, &l, 0, 0, 0, 0};
            restore(&c, NULL, NULL, 0, v);
            if (c.failed || c.numbers != l.numbers || c.next != l.n) {
                /* cannot happen with duplicate keys refused; never hand out a wrong tree */
                json_decref(v);
                v = NULL;
                snprintf(je->text, sizeof je->text, "numbers beyond jansson's range could not be put back (out of memory)");
            }
        }
    }
    free(l.f);
    return v;
}

json_t *raiiaf_json_loadb(const char *text, size_t len, size_t flags, json_error_t *error)
{
    int dialect = (flags & RAIIAF_JSON_PYTHON) ? RF_JSON_PYTHON : RF_JSON_STRICT;
    return rf_json_loadb(text, len, flags & ~(size_t)RAIIAF_JSON_PYTHON, dialect, error);
}

/* ---- writing ---- */

/* Replaces every wide number under *v (a private copy) with a placeholder
 * string "@@rfnumN_K@@", remembering the K-th literal. */
static int mark(json_t *parent, void *iter, size_t index, json_t *v, unsigned nonce, json_t ***lits, size_t *n,
                size_t *cap)
{
    const char *w = rf_json_wide_text(v);
    if (w) {
        if (*n == *cap) {
            size_t c = *cap ? 2 * *cap : 8;
            json_t **a = realloc(*lits, c * sizeof *a);
            if (!a) return -1;
            *lits = a;
            *cap = c;
        }
        (*lits)[*n] = v;
        char ph[64];
        snprintf(ph, sizeof ph, "@@rfnum%u_%zu@@", nonce, (*n)++);
        json_t *s = json_string(ph);
        if (!s) return -1;
        json_incref(v); /* keeps the literal alive while the placeholder replaces it */
        if (json_is_object(parent) ? json_object_iter_set_new(parent, iter, s) : json_array_set_new(parent, index, s)) {
            json_decref(v);
            (*n)--;
            return -1;
        }
        return 0;
    }
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (mark(v, NULL, i, json_array_get(v, i), nonce, lits, n, cap)) return -1;
    } else if (json_is_object(v)) {
        for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it))
            if (mark(v, it, 0, json_object_iter_value(it), nonce, lits, n, cap)) return -1;
    }
    return 0;
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

char *raiiaf_json_dumps(const json_t *v, size_t flags)
{
    if (!rf_json_has_wide(v)) return json_dumps(v, flags);
    const char *w = rf_json_wide_text(v);
    if (w) return (flags & JSON_ENCODE_ANY) ? strdup(w) : NULL;
    /* Placeholders whose prefix the output holds exactly once per wide
     * number: a string of the caller's that happens to contain it makes the
     * count differ, and the next nonce is tried. */
    for (unsigned nonce = 0; nonce < 16; nonce++) {
        json_t *copy = json_deep_copy(v);
        json_t **lits = NULL;
        size_t n = 0, cap = 0;
        if (!copy || mark(NULL, NULL, 0, copy, nonce, &lits, &n, &cap)) {
            for (size_t k = 0; k < n; k++) json_decref(lits[k]);
            json_decref(copy);
            free(lits);
            return NULL;
        }
        char *out = json_dumps(copy, flags);
        char prefix[32];
        snprintf(prefix, sizeof prefix, "@@rfnum%u_", nonce);
        char *res = NULL;
        if (out && count_of(out, prefix) == n) {
            size_t extra = 0;
            for (size_t k = 0; k < n; k++) extra += strlen(rf_json_wide_text(lits[k]));
            res = malloc(strlen(out) + extra + 1);
            if (res) {
                char *d = res;
                const char *p = out;
                for (size_t k = 0; k < n; k++) {
                    char ph[64];
                    snprintf(ph, sizeof ph, "\"@@rfnum%u_%zu@@\"", nonce, k);
                    const char *q = strstr(p, ph);
                    if (!q) break; /* cannot happen: each was counted */
                    memcpy(d, p, (size_t)(q - p));
                    d += q - p;
                    const char *lit = rf_json_wide_text(lits[k]);
                    strcpy(d, lit);
                    d += strlen(lit);
                    p = q + strlen(ph);
                }
                strcpy(d, p);
            }
        }
        int collided = out && count_of(out, prefix) != n;
        free(out);
        for (size_t k = 0; k < n; k++) json_decref(lits[k]); /* increfed by mark() */
        free(lits);
        json_decref(copy);
        if (!collided) return res;
        free(res);
    }
    return NULL;
}
