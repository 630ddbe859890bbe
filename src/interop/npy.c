/*
 * npy.c -- numpy .npy reader and writer (public API: raiiaf_npy_* in raiiaf.h).
 *
 * The format (numpy/lib/format.py, NEP 1): the magic "\x93NUMPY", a major
 * and a minor version byte, the header length (u16 LE for 1.0, u32 LE for
 * 2.0 and 3.0), then the header: a Python dict literal with the keys
 * 'descr', 'fortran_order' and 'shape', padded with spaces and ending in
 * '\n' (latin-1 for 1.0/2.0, UTF-8 for 3.0).  The element bytes follow.
 *
 * The header is untrusted text, so it is read by a small strict tokenizer
 * and parser for exactly the literals numpy writes, never evaluated.
 */
#include "interop.h"
#include "../fileio.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_MAX_HEADER (1u << 20)
#define NPY_MAX_FILE (UINT64_C(64) << 30)
#define NPY_ALIGN 64
/* numpy pads the header so the first axis can later grow in place
 * (GROWTH_AXIS_MAX_DIGITS in format.py); copying that makes our files
 * byte-identical to np.save(). */
#define NPY_GROWTH_DIGITS 21
/* The largest header raiiaf_npy_build can produce: the dict (~60 bytes), a shape
 * of 8 twenty-digit numbers (~180), growth room (21), padding (64) and the
 * preamble (12) fit comfortably. */
#define NPY_BUILD_HEADER_CAP 512

/* descr <-> dtype.  The first entry for each dtype is the one written.
 * 1-byte types have no byte order, so every prefix is accepted for them.
 * bfloat16: see npy.h ('<V2' written, '<V2' and '|V2' read). */
static const struct {
    const char *descr;
    raiiaf_dtype dtype;
} descr_table[] = {
    {"<f2", RAIIAF_F16}, {"<V2", RAIIAF_BF16}, {"|V2", RAIIAF_BF16},
    {"<f4", RAIIAF_F32}, {"<f8", RAIIAF_F64},
    {"|i1", RAIIAF_I8},  {"<i1", RAIIAF_I8},   {">i1", RAIIAF_I8},  {"i1", RAIIAF_I8},
    {"|u1", RAIIAF_U8},  {"<u1", RAIIAF_U8},   {">u1", RAIIAF_U8},  {"u1", RAIIAF_U8},
    {"<i2", RAIIAF_I16}, {"<u2", RAIIAF_U16},  {"<i4", RAIIAF_I32}, {"<u4", RAIIAF_U32},
    {"<i8", RAIIAF_I64}, {"<u8", RAIIAF_U64},
    {"|b1", RAIIAF_BOOL}, {"<b1", RAIIAF_BOOL}, {">b1", RAIIAF_BOOL}, {"b1", RAIIAF_BOOL},
};

static const char *dtype_name(raiiaf_dtype d)
{
    const char *n = raiiaf_dtype_name(d);
    return n ? n : "invalid dtype";
}

static raiiaf_dtype descr_lookup(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < sizeof descr_table / sizeof descr_table[0]; i++)
        if (strlen(descr_table[i].descr) == n && memcmp(descr_table[i].descr, s, n) == 0)
            return descr_table[i].dtype;
    return RAIIAF_DTYPE_INVALID;
}

static const char *descr_of(raiiaf_dtype d)
{
    for (size_t i = 0; i < sizeof descr_table / sizeof descr_table[0]; i++)
        if (descr_table[i].dtype == d) return descr_table[i].descr;
    return NULL;
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int fail(char *err, size_t errsize, int code, const char *fmt, ...)
{
    if (err && errsize) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errsize, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* Copies untrusted header text into dst for a message: printable ASCII as
 * is, anything else as \xNN, cut short with "..." so a hostile header
 * cannot flood the message. */
static void show(char *dst, size_t dstsize, const unsigned char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (o + 8 >= dstsize) {
            memcpy(dst + o, "...", 4);
            return;
        }
        if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\')
            dst[o++] = (char)s[i];
        else
            o += (size_t)snprintf(dst + o, dstsize - o, "\\x%02x", s[i]);
    }
    dst[o] = '\0';
}

/* "(1, 4, 8, 8)", "(5,)" or "()", as Python's repr of a tuple. */
static void format_shape(char *dst, size_t dstsize, unsigned rank, const uint64_t *shape)
{
    size_t o = (size_t)snprintf(dst, dstsize, "(");
    for (unsigned i = 0; i < rank && o < dstsize; i++)
        o += (size_t)snprintf(dst + o, dstsize - o, "%s%llu", i ? ", " : "",
                              (unsigned long long)shape[i]);
    if (o < dstsize) snprintf(dst + o, dstsize - o, rank == 1 ? ",)" : ")");
}

/* Size in bytes of an array, or false when it does not fit in 64 bits.
 * Zero-length axes make the array empty, but the other axes must still
 * multiply without overflow so no consumer computing partial products
 * can overflow either. */
static bool array_bytes(unsigned rank, const uint64_t *shape, size_t itemsize, uint64_t *bytes)
{
    uint64_t count = 1;
    bool empty = false;
    for (unsigned i = 0; i < rank; i++) {
        if (shape[i] == 0) {
            empty = true;
            continue;
        }
        if (count > UINT64_MAX / shape[i]) return false;
        count *= shape[i];
    }
    if (count > UINT64_MAX / itemsize) return false;
    *bytes = empty ? 0 : count * itemsize;
    return true;
}

/* ---------------------------------------------------------------------- */
/* Header tokenizer and parser                                             */
/* ---------------------------------------------------------------------- */

enum tok_kind {
    T_END, T_LBRACE, T_RBRACE, T_LPAREN, T_RPAREN, T_LBRACKET, T_COLON, T_COMMA,
    T_MINUS, T_STRING, T_INT, T_NAME
};

typedef struct tok {
    enum tok_kind kind;
    size_t pos;                 /* offset in the file, for messages */
    const unsigned char *s;     /* T_STRING: the content without quotes; T_NAME: the name */
    size_t n;
    uint64_t value;             /* T_INT */
} tok;

typedef struct lexer {
    const unsigned char *p;     /* the header */
    size_t n;
    size_t i;
    size_t base;                /* file offset of p[0] */
    bool long_suffix;           /* accept Python 2's "3L" (format 1.0/2.0 files) */
    char *err;
    size_t errsize;
} lexer;

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static bool is_name_char(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int lex_fail(lexer *lx, size_t i, int code, const char *what)
{
    return fail(lx->err, lx->errsize, code, "byte %zu: header: %s", lx->base + i, what);
}

static int lex_next(lexer *lx, tok *t)
{
    while (lx->i < lx->n && is_space(lx->p[lx->i])) lx->i++;
    size_t start = lx->i;
    t->pos = lx->base + start;
    t->s = lx->p + start;
    t->n = 0;
    t->value = 0;
    if (start == lx->n) {
        t->kind = T_END;
        return 0;
    }
    unsigned char c = lx->p[start];
    switch (c) {
    case '{': t->kind = T_LBRACE; lx->i++; return 0;
    case '}': t->kind = T_RBRACE; lx->i++; return 0;
    case '(': t->kind = T_LPAREN; lx->i++; return 0;
    case ')': t->kind = T_RPAREN; lx->i++; return 0;
    case '[': t->kind = T_LBRACKET; lx->i++; return 0;
    case ':': t->kind = T_COLON; lx->i++; return 0;
    case ',': t->kind = T_COMMA; lx->i++; return 0;
    case '-': t->kind = T_MINUS; lx->i++; return 0;
    default: break;
    }
    if (c == '\'' || c == '"') {
        size_t i = start + 1;
        for (;; i++) {
            if (i == lx->n || lx->p[i] == '\n')
                return lex_fail(lx, start, RAIIAF_E_CORRUPT, "unterminated string");
            if (lx->p[i] == c) break;
            /* numpy never writes escapes; refusing them keeps strings literal */
            if (lx->p[i] == '\\')
                return lex_fail(lx, i, RAIIAF_E_CORRUPT, "escape sequences in strings are not supported");
            if (lx->p[i] < 0x20 || lx->p[i] == 0x7f)
                return lex_fail(lx, i, RAIIAF_E_CORRUPT, "control character in a string");
        }
        t->kind = T_STRING;
        t->s = lx->p + start + 1;
        t->n = i - start - 1;
        lx->i = i + 1;
        return 0;
    }
    if (is_digit(c)) {
        size_t i = start;
        uint64_t v = 0;
        for (; i < lx->n && is_digit(lx->p[i]); i++) {
            unsigned d = (unsigned)(lx->p[i] - '0');
            if (v > (UINT64_MAX - d) / 10)
                return lex_fail(lx, start, RAIIAF_E_LIMIT, "integer does not fit in 64 bits");
            v = v * 10 + d;
        }
        /* Python 3 itself rejects "007" */
        if (c == '0' && i - start > 1)
            return lex_fail(lx, start, RAIIAF_E_CORRUPT, "integer with leading zeros");
        if (lx->long_suffix && i < lx->n && (lx->p[i] == 'L' || lx->p[i] == 'l')) i++;
        if (i < lx->n && (is_name_char(lx->p[i]) || lx->p[i] == '.'))
            return lex_fail(lx, start, RAIIAF_E_CORRUPT, "malformed integer");
        t->kind = T_INT;
        t->value = v;
        t->n = i - start;
        lx->i = i;
        return 0;
    }
    if (is_name_char(c)) {
        size_t i = start;
        while (i < lx->n && is_name_char(lx->p[i])) i++;
        t->kind = T_NAME;
        t->n = i - start;
        lx->i = i;
        return 0;
    }
    char what[64];
    if (c >= 0x20 && c < 0x7f)
        snprintf(what, sizeof what, "unexpected character '%c'", c);
    else
        snprintf(what, sizeof what, "unexpected byte 0x%02x", c);
    return lex_fail(lx, start, RAIIAF_E_CORRUPT, what);
}

static bool tok_is(const tok *t, enum tok_kind k, const char *s)
{
    return t->kind == k && strlen(s) == t->n && memcmp(t->s, s, t->n) == 0;
}

/* What the dict said, before it is checked for meaning. */
typedef struct header {
    const unsigned char *descr;
    size_t descr_len;
    bool fortran;
    unsigned rank;
    uint64_t shape[RAIIAF_MAX_RANK];
} header;

static int parse_shape(lexer *lx, header *h)
{
    tok t;
    int rc = lex_next(lx, &t);
    if (rc) return rc;
    if (t.kind != T_LPAREN)
        return lex_fail(lx, t.pos - lx->base, RAIIAF_E_CORRUPT, "'shape' must be a tuple");
    bool comma = false;
    for (;;) {
        if ((rc = lex_next(lx, &t))) return rc;
        if (t.kind == T_RPAREN) break;
        if (t.kind == T_MINUS)
            return lex_fail(lx, t.pos - lx->base, RAIIAF_E_CORRUPT, "negative dimension in 'shape'");
        if (t.kind != T_INT)
            return lex_fail(lx, t.pos - lx->base, RAIIAF_E_CORRUPT,
                            "'shape' must hold non-negative integers");
        if (h->rank == RAIIAF_MAX_RANK)
            return lex_fail(lx, t.pos - lx->base, RAIIAF_E_LIMIT,
                            "'shape' has more than 8 dimensions (the RAIIAF limit)");
        h->shape[h->rank++] = t.value;
        if ((rc = lex_next(lx, &t))) return rc;
        if (t.kind == T_RPAREN) break;
        if (t.kind != T_COMMA)
            return lex_fail(lx, t.pos - lx->base, RAIIAF_E_CORRUPT, "expected ',' or ')' in 'shape'");
        comma = true;
    }
    /* "(5)" is the integer 5 in Python, not a tuple */
    if (h->rank == 1 && !comma)
        return lex_fail(lx, t.pos - lx->base, RAIIAF_E_CORRUPT,
                        "'shape' (n) is not a tuple; a 1-d shape is written (n,)");
    return 0;
}

static int parse_header(lexer *lx, header *h)
{
    static const char *const keys[3] = {"descr", "fortran_order", "shape"};
    bool seen[3] = {false, false, false};
    tok t;
    int rc = lex_next(lx, &t);
    if (rc) return rc;
    if (t.kind != T_LBRACE)
        return lex_fail(lx, t.pos - lx->base, RAIIAF_E_CORRUPT, "expected '{' (a dict literal)");
    for (;;) {
        if ((rc = lex_next(lx, &t))) return rc;
        if (t.kind == T_RBRACE) break;
        if (t.kind != T_STRING)
            return lex_fail(lx, t.pos - lx->base, RAIIAF_E_CORRUPT, "expected a quoted key or '}'");
        size_t key_pos = t.pos - lx->base;
        int k = -1;
        for (int i = 0; i < 3; i++)
            if (tok_is(&t, T_STRING, keys[i])) k = i;
        char what[160], shown[96];
        if (k < 0) {
            show(shown, sizeof shown, t.s, t.n);
            snprintf(what, sizeof what, "unknown key '%s'", shown);
            return lex_fail(lx, key_pos, RAIIAF_E_CORRUPT, what);
        }
        if (seen[k]) {
            snprintf(what, sizeof what, "duplicate key '%s'", keys[k]);
            return lex_fail(lx, key_pos, RAIIAF_E_CORRUPT, what);
        }
        seen[k] = true;
        if ((rc = lex_next(lx, &t))) return rc;
        if (t.kind != T_COLON)
            return lex_fail(lx, t.pos - lx->base, RAIIAF_E_CORRUPT, "expected ':' after a key");
        if (k == 0) {
            if ((rc = lex_next(lx, &t))) return rc;
            if (t.kind == T_LBRACKET)
                return lex_fail(lx, t.pos - lx->base, RAIIAF_E_ARG,
                                "structured dtypes (a list 'descr') are not supported");
            if (t.kind != T_STRING)
                return lex_fail(lx, t.pos - lx->base, RAIIAF_E_CORRUPT, "'descr' must be a string");
            h->descr = t.s;
            h->descr_len = t.n;
        } else if (k == 1) {
            if ((rc = lex_next(lx, &t))) return rc;
            if (tok_is(&t, T_NAME, "True"))
                h->fortran = true;
            else if (tok_is(&t, T_NAME, "False"))
                h->fortran = false;
            else
                return lex_fail(lx, t.pos - lx->base, RAIIAF_E_CORRUPT,
                                "'fortran_order' must be True or False");
        } else if ((rc = parse_shape(lx, h))) {
            return rc;
        }
        if ((rc = lex_next(lx, &t))) return rc;
        if (t.kind == T_RBRACE) break;
        if (t.kind != T_COMMA)
            return lex_fail(lx, t.pos - lx->base, RAIIAF_E_CORRUPT, "expected ',' or '}' after a value");
    }
    if ((rc = lex_next(lx, &t))) return rc;
    if (t.kind != T_END)
        return lex_fail(lx, t.pos - lx->base, RAIIAF_E_CORRUPT, "unexpected text after the dict");
    for (int i = 0; i < 3; i++)
        if (!seen[i])
            return fail(lx->err, lx->errsize, RAIIAF_E_CORRUPT, "header: missing key '%s'", keys[i]);
    return 0;
}

/* Why a descr is refused, for the message. */
static int descr_fail(const header *h, char *err, size_t errsize)
{
    char shown[96];
    show(shown, sizeof shown, h->descr, h->descr_len);
    const unsigned char *d = h->descr;
    size_t n = h->descr_len;
    bool has_order = n > 0 && (d[0] == '<' || d[0] == '>' || d[0] == '|' || d[0] == '=');
    const unsigned char *kind = has_order ? d + 1 : d;
    if (has_order ? n >= 2 : n >= 1) {
        if (kind[0] == 'O')
            return fail(err, errsize, RAIIAF_E_ARG,
                        "header: object arrays ('%s') are not supported", shown);
        if (d[0] == '>' || d[0] == '=') {
            /* a type we would take in little-endian order */
            unsigned char le[16];
            if (n <= sizeof le) {
                memcpy(le, d, n);
                le[0] = '<';
                if (descr_lookup(le, n) != RAIIAF_DTYPE_INVALID)
                    return fail(err, errsize, RAIIAF_E_ARG,
                                "header: %s dtype '%s' is not supported (convert with "
                                "a.astype(a.dtype.newbyteorder('<')))",
                                d[0] == '>' ? "big-endian" : "native-order", shown);
            }
        }
    }
    return fail(err, errsize, RAIIAF_E_ARG, "header: unknown dtype '%s'", shown);
}

int raiiaf_npy_parse(const void *buf, size_t len, raiiaf_array *out, char *err, size_t errsize)
{
    if (err && errsize) err[0] = '\0';
    if (!out || (!buf && len)) return fail(err, errsize, RAIIAF_E_ARG, "raiiaf_npy_parse: invalid argument");
    memset(out, 0, sizeof *out);
    const unsigned char *p = buf;

    size_t m = len < NPY_MAGIC_LEN ? len : NPY_MAGIC_LEN;
    if (m && memcmp(p, NPY_MAGIC, m) != 0)
        return fail(err, errsize, RAIIAF_E_CORRUPT, "byte 0: not a .npy file (no \\x93NUMPY magic)");
    if (len < 8)
        return fail(err, errsize, RAIIAF_E_TRUNCATED,
                    "byte %zu: the file ends inside the .npy preamble", len);
    unsigned major = p[6], minor = p[7];
    if (major < 1 || major > 3 || minor != 0)
        return fail(err, errsize, RAIIAF_E_VERSION,
                    "byte 6: .npy format version %u.%u is not supported (1.0, 2.0 and 3.0 are)",
                    major, minor);
    size_t start = major == 1 ? 10 : 12;
    if (len < start)
        return fail(err, errsize, RAIIAF_E_TRUNCATED,
                    "byte %zu: the file ends inside the .npy header length", len);
    uint32_t hlen = (uint32_t)p[8] | (uint32_t)p[9] << 8;
    if (major > 1) hlen |= (uint32_t)p[10] << 16 | (uint32_t)p[11] << 24;
    if (hlen > len - start)
        return fail(err, errsize, RAIIAF_E_TRUNCATED,
                    "byte 8: header length %lu exceeds the file (%zu bytes)", (unsigned long)hlen, len);
    if (hlen > NPY_MAX_HEADER)
        return fail(err, errsize, RAIIAF_E_LIMIT,
                    "byte 8: header length %lu exceeds the limit of 1 MiB", (unsigned long)hlen);

    header h;
    memset(&h, 0, sizeof h);
    lexer lx = {p + start, hlen, 0, start, major < 3, err, errsize};
    int rc = parse_header(&lx, &h);
    if (rc) return rc;

    raiiaf_dtype dtype = descr_lookup(h.descr, h.descr_len);
    if (dtype == RAIIAF_DTYPE_INVALID) return descr_fail(&h, err, errsize);

    /* With at most one axis longer than 1 (or no elements) Fortran and C
     * order lay out the same bytes, so only real transposes are refused. */
    unsigned long_axes = 0;
    bool empty = false;
    for (unsigned i = 0; i < h.rank; i++) {
        long_axes += h.shape[i] > 1;
        empty |= h.shape[i] == 0;
    }
    if (h.fortran && long_axes > 1 && !empty)
        return fail(err, errsize, RAIIAF_E_ARG,
                    "header: Fortran-order arrays are not supported (save with np.ascontiguousarray)");

    char shape_text[256];
    format_shape(shape_text, sizeof shape_text, h.rank, h.shape);
    size_t itemsize = raiiaf_dtype_size(dtype);
    uint64_t need;
    if (!array_bytes(h.rank, h.shape, itemsize, &need))
        return fail(err, errsize, RAIIAF_E_LIMIT,
                    "header: shape %s of %s is too large (over 2^64 bytes)", shape_text,
                    dtype_name(dtype));
    size_t data_start = start + hlen;
    size_t avail = len - data_start;
    if (need > avail)
        return fail(err, errsize, RAIIAF_E_TRUNCATED,
                    "data: %zu bytes present, shape %s of %s needs %llu", avail, shape_text,
                    dtype_name(dtype), (unsigned long long)need);
    if (need < avail)
        return fail(err, errsize, RAIIAF_E_CORRUPT, "data: %zu trailing bytes after the array",
                    (size_t)(avail - need));
    if (dtype == RAIIAF_BOOL) {
        for (size_t i = 0; i < avail; i++)
            if (p[data_start + i] > 1)
                return fail(err, errsize, RAIIAF_E_CORRUPT,
                            "data: bool element %zu (byte %zu) is %u, not 0 or 1", i,
                            data_start + i, p[data_start + i]);
    }

    out->dtype = dtype;
    out->rank = h.rank;
    memcpy(out->shape, h.shape, sizeof h.shape);
    out->data = p + data_start;
    out->size = avail;
    return 0;
}

void raiiaf_array_free(raiiaf_array *a)
{
    if (!a) return;
    free(a->owned_);
    memset(a, 0, sizeof *a);
}

int raiiaf_npy_read_file(const char *path, raiiaf_array *out, char *err, size_t errsize)
{
    if (err && errsize) err[0] = '\0';
    if (!path || !out) return fail(err, errsize, RAIIAF_E_ARG, "raiiaf_npy_read_file: invalid argument");
    memset(out, 0, sizeof *out);
    unsigned char *buf;
    size_t size;
    rf_err e = {0};
    int rc = rf_read_file(path, NPY_MAX_FILE, &buf, &size, &e);
    if (rc == RAIIAF_E_LIMIT)
        return fail(err, errsize, rc, "%s: exceeds the 64 GiB limit for .npy files", path);
    if (rc) return fail(err, errsize, rc, "%s", e.msg);
    char msg[512];
    rc = raiiaf_npy_parse(buf, size, out, msg, sizeof msg);
    if (rc) {
        free(buf);
        return fail(err, errsize, rc, "%s: %s", path, msg);
    }
    out->owned_ = buf;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Writing                                                                 */
/* ---------------------------------------------------------------------- */

/* Puts the preamble and header, exactly as numpy's _write_array_header
 * does, into hdr (NPY_BUILD_HEADER_CAP bytes). */
static int build_header(raiiaf_dtype dtype, unsigned rank, const uint64_t *shape, const void *data,
                        size_t size, unsigned char *hdr, size_t *hdr_len)
{
    const char *descr = descr_of(dtype);
    size_t itemsize = raiiaf_dtype_size(dtype);
    uint64_t need;
    if (!descr || !itemsize || rank > RAIIAF_MAX_RANK || (rank && !shape) || (size && !data) ||
        !array_bytes(rank, shape, itemsize, &need) || need != size)
        return RAIIAF_E_ARG;

    char shape_text[256];
    format_shape(shape_text, sizeof shape_text, rank, shape);
    char dict[400];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                     descr, shape_text);
    if (n < 0 || (size_t)n >= sizeof dict) return RAIIAF_E_ARG;
    size_t dlen = (size_t)n;
    if (rank > 0) {
        char first[24];
        int digits = snprintf(first, sizeof first, "%llu", (unsigned long long)shape[0]);
        size_t growth = NPY_GROWTH_DIGITS - (size_t)digits;
        memset(dict + dlen, ' ', growth);
        dlen += growth;
    }
    /* numpy: hlen counts the final '\n'; padlen is 1..64, never 0 */
    size_t preamble = 10;
    size_t padlen = NPY_ALIGN - (preamble + dlen + 1) % NPY_ALIGN;
    unsigned major = 1;
    if (dlen + 1 + padlen > 65535) {
        /* unreachable with rank <= 8, kept to follow numpy's rule */
        preamble = 12;
        padlen = NPY_ALIGN - (preamble + dlen + 1) % NPY_ALIGN;
        major = 2;
    }
    size_t hlen = dlen + padlen + 1;
    if (preamble + hlen > NPY_BUILD_HEADER_CAP) return RAIIAF_E_ARG;
    memcpy(hdr, NPY_MAGIC, NPY_MAGIC_LEN);
    hdr[6] = (unsigned char)major;
    hdr[7] = 0;
    hdr[8] = (unsigned char)(hlen & 0xff);
    hdr[9] = (unsigned char)(hlen >> 8 & 0xff);
    if (major > 1) {
        hdr[10] = (unsigned char)(hlen >> 16 & 0xff);
        hdr[11] = (unsigned char)(hlen >> 24 & 0xff);
    }
    memcpy(hdr + preamble, dict, dlen);
    memset(hdr + preamble + dlen, ' ', padlen);
    hdr[preamble + hlen - 1] = '\n';
    *hdr_len = preamble + hlen;
    return 0;
}

int raiiaf_npy_build(raiiaf_dtype dtype, unsigned rank, const uint64_t *shape, const void *data,
              size_t size, unsigned char **out, size_t *out_size)
{
    if (!out || !out_size) return RAIIAF_E_ARG;
    *out = NULL;
    *out_size = 0;
    unsigned char hdr[NPY_BUILD_HEADER_CAP];
    size_t hlen;
    int rc = build_header(dtype, rank, shape, data, size, hdr, &hlen);
    if (rc) return rc;
    if (size > SIZE_MAX - hlen) return RAIIAF_E_ARG;
    unsigned char *b = malloc(hlen + size);
    if (!b) return RAIIAF_E_NOMEM;
    memcpy(b, hdr, hlen);
    if (size) memcpy(b + hlen, data, size);
    *out = b;
    *out_size = hlen + size;
    return 0;
}

int raiiaf_npy_write_file(const char *path, raiiaf_dtype dtype, unsigned rank, const uint64_t *shape,
                   const void *data, size_t size, char *err, size_t errsize)
{
    if (err && errsize) err[0] = '\0';
    if (!path || !*path) return fail(err, errsize, RAIIAF_E_ARG, "raiiaf_npy_write_file: no path");
    unsigned char hdr[NPY_BUILD_HEADER_CAP];
    size_t hlen;
    if (build_header(dtype, rank, shape, data, size, hdr, &hlen))
        return fail(err, errsize, RAIIAF_E_ARG,
                    "%s: invalid array (dtype, rank or a size that does not match the shape)", path);

    rf_err e = {0};
    int rc = rf_write_file(path, hdr, hlen, data, size, &e);
    return rc ? fail(err, errsize, rc, "%s", e.msg) : 0;
}
