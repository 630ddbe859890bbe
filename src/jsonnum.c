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
 * depth-first walk meets the numbers in the same order. */
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

typedef struct {
    size_t *at; /* indices (in document order) of the number tokens replaced */
    size_t n, cap;
    size_t numbers; /* number tokens seen */
} wide_list;

static int push(wide_list *l, size_t index)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        size_t *a = realloc(l->at, cap * sizeof *a);
        if (!a) return -1;
        l->at = a;
        l->cap = cap;
    }
    l->at[l->n++] = index;
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

/* Scans the text, writing into `copy` (same length; may be NULL for a dry
 * run) the replacements, and listing the replaced number tokens.  Returns
 * the number of replacements, or -1 when out of memory. */
static long scan(const char *t, size_t len, int dialect, char *copy, wide_list *l)
{
    long changes = 0;
    size_t i = 0;
    while (i < len) {
        char c = t[i];
        if (c == '"') {
            for (i++; i < len && t[i] != '"'; i++) {
                if (t[i] != '\\') continue;
                unsigned u, u2;
                if (dialect == RF_JSON_PYTHON && i + 5 < len && t[i + 1] == 'u' && !hexval(t + i + 2, &u) &&
                    u >= 0xD800 && u <= 0xDFFF) {
                    int paired = u <= 0xDBFF && i + 11 < len && t[i + 6] == '\\' && t[i + 7] == 'u' && !hexval(t + i + 8, &u2) &&
                                 u2 >= 0xDC00 && u2 <= 0xDFFF;
                    if (paired) {
                        i += 11;
                        continue;
                    }
                    if (copy) memcpy(copy + i, "\\uFFFD", 6); /* a lone surrogate: U+FFFD in the tree */
                    changes++;
                    i += 5;
                    continue;
                }
                i++; /* the escaped character */
            }
            i++;
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
                while (j < len && (strchr("0123456789+-.eE", t[j]) && t[j])) j++;
                if (!needs_wide(t + i, j - i, dialect)) {
                    l->numbers++;
                    i = j;
                    continue;
                }
            }
            if (copy) {
                copy[i] = '0';
                memset(copy + i + 1, ' ', j - i - 1);
            } else if (push(l, l->numbers)) {
                return -1;
            }
            l->numbers++;
            changes++;
            i = j;
            continue;
        }
        i++;
    }
    return changes;
}

typedef struct {
    const char *text;
    const wide_list *l;
    size_t seen, next;
    const size_t *start; /* byte offset of each replaced token */
    int failed;
} restore_ctx;

static json_t *wide_from_token(const char *t)
{
    size_t n = 0;
    if (*t == '-' && t[1] == 'I') n = 9;
    else if (*t == 'I') n = 8;
    else if (*t == 'N') n = 3;
    else
        while (t[n] && strchr("0123456789-", t[n])) n++;
    return rf_json_wide(t, n);
}

/* Puts the wide numbers in place of the zeros that stand for them. */
static void restore(restore_ctx *c, json_t *parent, void *iter, size_t index, json_t *v)
{
    if (c->failed) return;
    if (json_is_number(v)) {
        size_t k = c->seen++;
        if (c->next < c->l->n && c->l->at[c->next] == k) {
            json_t *w = wide_from_token(c->text + c->start[c->next++]);
            if (!w) {
                c->failed = 1;
                return;
            }
            if (json_is_object(parent)) c->failed |= json_object_iter_set_new(parent, iter, w) != 0;
            else c->failed |= json_array_set_new(parent, index, w) != 0;
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) restore(c, v, NULL, i, json_array_get(v, i));
    } else if (json_is_object(v)) {
        for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it))
            restore(c, v, it, 0, json_object_iter_value(it));
    }
}

/* The byte offset of each replaced token (the copy has '0' + spaces there). */
static int token_starts(const char *t, size_t len, int dialect, size_t **out, size_t count)
{
    size_t *s = malloc((count ? count : 1) * sizeof *s);
    if (!s) return -1;
    size_t n = 0, i = 0;
    while (i < len && n < count) {
        char c = t[i];
        if (c == '"') {
            for (i++; i < len && t[i] != '"'; i++)
                if (t[i] == '\\') i++;
            i++;
            continue;
        }
        if (c == '-' || (c >= '0' && c <= '9') || (dialect == RF_JSON_PYTHON && (c == 'N' || c == 'I'))) {
            size_t j = i;
            if (dialect == RF_JSON_PYTHON && (c == 'N' || c == 'I' || (c == '-' && i + 1 < len && t[i + 1] == 'I'))) {
                const char *word = c == 'N' ? "NaN" : c == 'I' ? "Infinity" : "-Infinity";
                size_t wl = strlen(word);
                if (len - i < wl || memcmp(t + i, word, wl)) {
                    i++;
                    continue;
                }
                s[n++] = i;
                i += wl;
                continue;
            }
            while (j < len && t[j] && strchr("0123456789+-.eE", t[j])) j++;
            if (needs_wide(t + i, j - i, dialect)) s[n++] = i;
            i = j;
            continue;
        }
        i++;
    }
    *out = s;
    return n == count ? 0 : -1;
}

json_t *rf_json_loadb(const char *text, size_t len, size_t flags, int dialect, json_error_t *je)
{
    json_error_t local;
    if (!je) je = &local;
    if (dialect == RF_JSON_PYTHON) flags |= JSON_ALLOW_NUL;
    wide_list l = {0};
    long changes = scan(text, len, dialect, NULL, &l);
    if (changes < 0) {
        free(l.at);
        snprintf(je->text, sizeof je->text, "out of memory");
        return NULL;
    }
    if (changes == 0) {
        free(l.at);
        return json_loadb(text, len, flags, je);
    }
    char *copy = malloc(len ? len : 1);
    size_t *starts = NULL;
    if (!copy || token_starts(text, len, dialect, &starts, l.n)) {
        free(copy);
        free(starts);
        free(l.at);
        snprintf(je->text, sizeof je->text, "out of memory");
        return NULL;
    }
    memcpy(copy, text, len);
    size_t total = l.numbers;
    l.numbers = 0;
    wide_list dummy = {0};
    scan(text, len, dialect, copy, &dummy);
    json_t *v = json_loadb(copy, len, flags | JSON_REJECT_DUPLICATES, je);
    free(copy);
    if (v && l.n) {
        /* The root itself may be the number (JSON_DECODE_ANY). */
        if (json_is_number(v) && l.at[0] == 0) {
            json_decref(v);
            v = wide_from_token(text + starts[0]);
        } else {
            restore_ctx c = {text, &l, 0, 0, starts, 0};
            restore(&c, NULL, NULL, 0, v);
            if (c.failed || c.seen != total || c.next != l.n) {
                /* cannot happen with duplicate keys refused; never hand out a wrong tree */
                json_decref(v);
                v = NULL;
                snprintf(je->text, sizeof je->text, "wide numbers could not be put back (out of memory)");
            }
        }
    }
    free(starts);
    free(l.at);
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
