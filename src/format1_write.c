/* format1_write.c -- writing format 1 files exactly as the original Python
 * package (raiiaf 1.x) did, so that it and any tool built on it can read
 * them (docs/SPEC.md Appendix A).
 *
 * What is reproduced byte for byte: the 33-byte header, the chunk order
 * (LATN per latent in the order added, DATA, ENVC, META), zstd frames at
 * level 3 with the content size and no checksum (libzstd's defaults for
 * ZSTD_compress; Debian's zstd 1.5.4 reproduces the Python package's frames
 * exactly), zfp reversible streams with zfp's full header for float32 4-D
 * latents, and the manifest's JSON text: keys in the Python package's order,
 * json.dumps(indent=2) formatting with ensure_ascii, floats as Python's
 * repr().  One deliberate difference: file_info.file_size is the true size
 * of the file (the Python package recorded it a few bytes short); since
 * the manifest holds its own size, it is found as a fixed point. */
#include "format1.h"
#include "fileio.h"
#include "jsonnum.h"
#include "jsonutil.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

typedef struct f1_latent {
    char *name;
    raiiaf_dtype dtype;
    uint64_t shape[4];
    unsigned char *data;
    size_t size;
    int compress; /* zfp */
} f1_latent;

struct rf_f1w {
    f1_latent *lat;
    size_t nlat, cap;
    unsigned char *image;
    size_t image_size;
    int has_image;
    char *env;
    size_t env_size;
};

rf_f1w *rf_f1w_new(void) { return calloc(1, sizeof(rf_f1w)); }

void rf_f1w_free(rf_f1w *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->nlat; i++) {
        free(f->lat[i].name);
        free(f->lat[i].data);
    }
    free(f->lat);
    free(f->image);
    free(f->env);
    free(f);
}

void rf_f1_date_now(char buf[40])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    long us = ts.tv_nsec / 1000;
    /* datetime.isoformat() leaves out a zero microsecond part. */
    if (us) snprintf(buf + n, 40 - n, ".%06ld+00:00", us);
    else snprintf(buf + n, 40 - n, "+00:00");
}

/* ---- Python's json.dumps(indent=2) ------------------------------------- */

typedef struct sbuf {
    char *s;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = (b->cap + n + 1) * 2;
        char *p = realloc(b->s, nc);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = nc;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}
static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* repr() of a Python float: the shortest digits that round-trip, fixed
 * notation for exponents -4 <= e < 16, else d.ddde+XX. */
static void py_float(sbuf *b, double v)
{
    if (isnan(v)) {
        sb_str(b, "NaN");
        return;
    }
    if (isinf(v)) {
        sb_str(b, v < 0 ? "-Infinity" : "Infinity");
        return;
    }
    char tmp[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
        if (strtod(tmp, NULL) == v) break;
    }
    /* tmp = [-]d[.ddd]e[+-]XX */
    char digits[24];
    size_t nd = 0;
    const char *p = tmp;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    int exp10 = atoi(p + 1);
    int decpt = exp10 + 1;
    char out[64];
    size_t o = 0;
    if (neg) out[o++] = '-';
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            out[o++] = '0';
            out[o++] = '.';
            for (int i = 0; i < -decpt; i++) out[o++] = '0';
            for (size_t i = 0; i < nd; i++) out[o++] = digits[i];
        } else if ((size_t)decpt < nd) {
            for (size_t i = 0; i < nd; i++) {
                if (i == (size_t)decpt) out[o++] = '.';
                out[o++] = digits[i];
            }
        } else {
            for (size_t i = 0; i < nd; i++) out[o++] = digits[i];
            for (size_t i = nd; i < (size_t)decpt; i++) out[o++] = '0';
            out[o++] = '.';
            out[o++] = '0';
        }
        out[o] = 0;
    } else {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (size_t i = 1; i < nd; i++) out[o++] = digits[i];
        }
        out[o] = 0;
        snprintf(out + o, sizeof out - o, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    }
    sb_str(b, out);
}

/* A JSON string with ensure_ascii: everything outside ' '..'~' escaped. */
static void py_string(sbuf *b, const char *s, size_t n)
{
    sb_put(b, "\"", 1);
    const unsigned char *u = (const unsigned char *)s, *end = u + n;
    while (u < end) {
        unsigned c = *u;
        char e[16];
        if (c == '"') sb_put(b, "\\\"", 2);
        else if (c == '\\') sb_put(b, "\\\\", 2);
        else if (c == '\n') sb_put(b, "\\n", 2);
        else if (c == '\r') sb_put(b, "\\r", 2);
        else if (c == '\t') sb_put(b, "\\t", 2);
        else if (c == '\b') sb_put(b, "\\b", 2);
        else if (c == '\f') sb_put(b, "\\f", 2);
        else if (c >= 0x20 && c < 0x7f) sb_put(b, (const char *)u, 1);
        else {
            /* Decode one UTF-8 sequence (jansson strings are valid UTF-8). */
            unsigned cp = c, extra = 0;
            if (c >= 0xf0) cp = c & 0x07, extra = 3;
            else if (c >= 0xe0) cp = c & 0x0f, extra = 2;
            else if (c >= 0xc0) cp = c & 0x1f, extra = 1;
            for (unsigned k = 0; k < extra && u + 1 < end; k++) cp = (cp << 6) | (*++u & 0x3f);
            if (cp >= 0x10000) {
                cp -= 0x10000;
                snprintf(e, sizeof e, "\\u%04x\\u%04x", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
            } else {
                snprintf(e, sizeof e, "\\u%04x", cp);
            }
            sb_str(b, e);
        }
        u++;
    }
    sb_put(b, "\"", 1);
}

static void indent(sbuf *b, int level)
{
    sb_put(b, "\n", 1);
    for (int i = 0; i < level; i++) sb_put(b, "  ", 2);
}

static void py_dump(sbuf *b, const json_t *v, int level)
{
    char num[32];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (!json_object_size(v)) {
            sb_str(b, "{}");
            break;
        }
        sb_str(b, "{");
        const char *k;
        json_t *x;
        int first = 1;
        json_object_foreach((json_t *)v, k, x) {
            if (!first) sb_str(b, ",");
            first = 0;
            indent(b, level + 1);
            py_string(b, k, strlen(k));
            sb_str(b, ": ");
            py_dump(b, x, level + 1);
        }
        indent(b, level);
        sb_str(b, "}");
        break;
    }
    case JSON_ARRAY: {
        if (!json_array_size(v)) {
            sb_str(b, "[]");
            break;
        }
        sb_str(b, "[");
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            if (i) sb_str(b, ",");
            indent(b, level + 1);
            py_dump(b, x, level + 1);
        }
        indent(b, level);
        sb_str(b, "]");
        break;
    }
    case JSON_STRING:
        if (rf_json_wide_text(v)) sb_str(b, rf_json_wide_text(v)); /* as Python writes it: 2**64, NaN, Infinity */
        else py_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        sb_str(b, num);
        break;
    case JSON_REAL: py_float(b, json_real_value(v)); break;
    case JSON_TRUE: sb_str(b, "true"); break;
    case JSON_FALSE: sb_str(b, "false"); break;
    default: sb_str(b, "null"); break;
    }
}

char *rf_py_json_dumps(const json_t *v, size_t *len)
{
    sbuf b = {0};
    py_dump(&b, v, 0);
    if (b.oom || !b.s) {
        free(b.s);
        return NULL;
    }
    if (len) *len = b.len;
    return b.s;
}

/* ---- entries ---------------------------------------------------------- */

int rf_f1w_check_tensor(rf_f1w *f, const char *name, raiiaf_dtype dtype, unsigned rank, const uint64_t *shape,
                        raiiaf_codec codec, double tolerance, rf_err *e)
{
    const char *n = name ? name : "";
    if (dtype != RAIIAF_F32 && dtype != RAIIAF_F16)
        return rf_fail(e, RAIIAF_E_CODEC, "tensor \"%s\": format 1 holds float32 and float16 latents only, not %s", n,
                       raiiaf_dtype_name(dtype) ? raiiaf_dtype_name(dtype) : "this dtype");
    if (rank != 4) return rf_fail(e, RAIIAF_E_CODEC, "tensor \"%s\": format 1 holds 4-D latents (N, C, H, W) only, not rank %u", n, rank);
    for (unsigned i = 0; shape && i < 4; i++)
        if (shape[i] == 0) return rf_fail(e, RAIIAF_E_CODEC, "tensor \"%s\": format 1 cannot hold a dimension of size 0", n);
    if (tolerance > 0) return rf_fail(e, RAIIAF_E_CODEC, "tensor \"%s\": format 1 stores latents losslessly; a tolerance cannot be used", n);
    if (codec == RAIIAF_CODEC_ZSTD) return rf_fail(e, RAIIAF_E_CODEC, "tensor \"%s\": format 1 has no zstd codec for latents (zfp or raw)", n);
    if (codec == RAIIAF_CODEC_ZFP && dtype != RAIIAF_F32)
        return rf_fail(e, RAIIAF_E_CODEC, "tensor \"%s\": format 1 compresses float32 only; float16 is stored uncompressed (codec raw or auto)", n);
    if (codec == RAIIAF_CODEC_ZFP)
        for (unsigned i = 0; shape && i < 4; i++)
            if (shape[i] > 4096)
                return rf_fail(e, RAIIAF_E_CODEC, "tensor \"%s\": dimension %u is %llu; format 1's zfp header holds at most 4096 (use codec raw)", n, i,
                               (unsigned long long)shape[i]);
    for (size_t i = 0; name && i < f->nlat; i++)
        if (!strcmp(f->lat[i].name, name)) return rf_fail(e, RAIIAF_E_EXISTS, "a tensor named \"%s\" already exists", name);
    return RAIIAF_OK;
}

static int finite16(const unsigned char *p, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if ((rf_le16(p + 2 * i) & 0x7c00) == 0x7c00) return 0;
    return 1;
}

static int finite32(const unsigned char *p, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if ((rf_le32(p + 4 * i) & 0x7f800000u) == 0x7f800000u) return 0;
    return 1;
}

int rf_f1w_add_tensor(rf_f1w *f, const char *name, raiiaf_dtype dtype, const uint64_t *shape, unsigned char **data, size_t size,
                      raiiaf_codec codec, rf_err *e)
{
    size_t count = size / raiiaf_dtype_size(dtype);
    if (!(dtype == RAIIAF_F32 ? finite32(*data, count) : finite16(*data, count)))
        return rf_fail(e, RAIIAF_E_CODEC, "tensor \"%s\": format 1 cannot hold NaN or infinity (the Python package refused them)", name);
    if (f->nlat == f->cap) {
        size_t nc = f->cap * 2 + 4;
        f1_latent *p = realloc(f->lat, nc * sizeof *p);
        if (!p) return rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
        f->lat = p;
        f->cap = nc;
    }
    f1_latent *l = &f->lat[f->nlat];
    memset(l, 0, sizeof *l);
    l->name = strdup(name);
    if (!l->name) return rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
    l->dtype = dtype;
    memcpy(l->shape, shape, sizeof l->shape);
    int fits = 1;
    for (int i = 0; i < 4; i++) fits &= shape[i] <= 4096;
    l->compress = dtype == RAIIAF_F32 && (codec == RAIIAF_CODEC_ZFP || (codec == RAIIAF_CODEC_AUTO && fits));
    l->data = *data;
    l->size = size;
    *data = NULL;
    f->nlat++;
    return RAIIAF_OK;
}

int rf_f1w_add_image(rf_f1w *f, const void *data, size_t size, rf_err *e)
{
    if (f->has_image) return rf_fail(e, RAIIAF_E_STATE, "the file already holds an image (one per file)");
    if (!data && size) return rf_fail(e, RAIIAF_E_ARG, "image data is NULL");
    rf_image_desc d;
    int rc = rf_image_validate(data, size, &d, e);
    if (rc) return rc;
    if (size > UINT32_MAX - 64) return rf_fail(e, RAIIAF_E_LIMIT, "format 1 holds images under 4 GiB");
    f->image = malloc(size ? size : 1);
    if (!f->image) return rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
    if (size) memcpy(f->image, data, size);
    f->image_size = size;
    f->has_image = 1;
    return RAIIAF_OK;
}

int rf_f1w_set_env(rf_f1w *f, const char *json, size_t size, rf_err *e)
{
    json_t *v;
    int rc = rf_json_parse_as(json, size, "format 1 environment record", RF_JSON_PYTHON, &v, e);
    if (rc) return rc;
    int ok = json_is_object(v);
    json_decref(v);
    if (!ok) return rf_fail(e, RAIIAF_E_JSON, "format 1 environment record: must be a JSON object");
    char *copy = malloc(size + 1);
    if (!copy) return rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
    memcpy(copy, json, size);
    copy[size] = 0;
    free(f->env);
    f->env = copy;
    f->env_size = size;
    return RAIIAF_OK;
}

/* {"env_version": 1, "components": [os]} as the Python package wrote it. */
static char *default_env(size_t *len)
{
    struct utsname u;
    char canon[600], hex[65];
    if (uname(&u)) snprintf(canon, sizeof canon, "name=os;version=unknown unknown");
    else snprintf(canon, sizeof canon, "name=os;version=%s %s", u.sysname, u.release);
    if (rf_sha256_hex(canon, strlen(canon), hex)) return NULL;
    json_t *env = json_pack("{s:i,s:[{s:s,s:s,s:s}]}", "env_version", 1, "components", "component_id", "os", "cononical_str", canon,
                            "component_sha256_digest", hex);
    if (!env) return NULL;
    char *t = rf_py_json_dumps(env, len);
    json_decref(env);
    return t;
}

/* ---- assembling the file ---------------------------------------------- */

typedef struct piece {
    unsigned char *bytes; /* owned */
    size_t size;
} piece;

/* A zstd frame of raw blocks (what level "0" means here): content size
 * declared, no checksum, single segment, blocks of at most 128 KiB. */
static int raw_frame(const unsigned char *src, size_t n, piece *out, rf_err *e)
{
    size_t nblocks = n ? (n + (128u << 10) - 1) / (128u << 10) : 1;
    unsigned char *d = malloc(4 + 1 + 8 + 3 * nblocks + n);
    if (!d) return rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
    size_t o = 0;
    rf_put32(d, 0xFD2FB528u);
    o = 4;
    /* Frame header descriptor: FCS 8 bytes (flag 3), single segment. */
    d[o++] = (unsigned char)(3u << 6 | 1u << 5);
    rf_put64(d + o, n);
    o += 8;
    size_t pos = 0;
    for (size_t b = 0; b < nblocks; b++) {
        size_t len = n - pos < (128u << 10) ? n - pos : (128u << 10);
        uint32_t bh = (uint32_t)(len << 3) | (b + 1 == nblocks ? 1u : 0u); /* raw block, last flag */
        d[o++] = (unsigned char)bh;
        d[o++] = (unsigned char)(bh >> 8);
        d[o++] = (unsigned char)(bh >> 16);
        memcpy(d + o, src + pos, len);
        o += len;
        pos += len;
    }
    out->bytes = d;
    out->size = o;
    return RAIIAF_OK;
}

static int zframe_level(ZSTD_CCtx *cctx, const void *inner_type, const void *payload, size_t n, int level, piece *out,
                        rf_err *e);

static int zframe(const void *inner_type, const void *payload, size_t n, piece *out, rf_err *e)
{
    return zframe_level(NULL, inner_type, payload, n, RF_F1_ZSTD_LEVEL, out, e);
}

/* cctx: a context reused across calls (the manifest search compresses a few
 * KiB many times; a fresh context per call costs more than the compression),
 * or NULL.  ZSTD_compressCCtx writes the same frame as ZSTD_compress. */
static int zframe_level(ZSTD_CCtx *cctx, const void *inner_type, const void *payload, size_t n, int level, piece *out,
                        rf_err *e)
{
    size_t total = RF_F1_INNER_SIZE + n;
    unsigned char *src = malloc(total);
    size_t bound = ZSTD_compressBound(total);
    unsigned char *dst = malloc(bound);
    if (!src || !dst) {
        free(src);
        free(dst);
        return rf_fail(e, RAIIAF_E_NOMEM, "out of memory for %zu bytes", total);
    }
    memcpy(src, inner_type, 8);
    rf_put32(src + 8, (uint32_t)n);
    if (n) memcpy(src + RF_F1_INNER_SIZE, payload, n);
    if (level == 0) {
        free(dst);
        int rc = raw_frame(src, total, out, e);
        free(src);
        return rc;
    }
    size_t c = cctx ? ZSTD_compressCCtx(cctx, dst, bound, src, total, level) : ZSTD_compress(dst, bound, src, total, level);
    free(src);
    if (ZSTD_isError(c)) {
        free(dst);
        return rf_fail(e, RAIIAF_E_CODEC, "zstd: %s", ZSTD_getErrorName(c));
    }
    out->bytes = dst;
    out->size = c;
    return RAIIAF_OK;
}

static json_t *record(size_t index, const char *type, const char *flags, uint64_t offset, uint64_t csize, uint64_t usize,
                      const char *hash, json_t *extra, int compressed, json_t *lh, json_t *ld)
{
    json_t *o = json_object();
    if (!o) return NULL;
    json_object_set_new(o, "index", json_integer((json_int_t)index));
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "flags", json_string(flags));
    json_object_set_new(o, "offset", json_integer((json_int_t)offset));
    json_object_set_new(o, "compressed_size", json_integer((json_int_t)csize));
    json_object_set_new(o, "uncompressed_size", json_integer((json_int_t)usize));
    json_object_set_new(o, "hash", json_string(hash));
    json_object_set_new(o, "extra", extra ? extra : json_object());
    json_object_set_new(o, "compressed", json_boolean(compressed));
    json_object_set_new(o, "len_header", lh ? lh : json_null());
    json_object_set_new(o, "len_data", ld ? ld : json_null());
    return o;
}

/* The format 1 model_info from the writer's manifest: the Python package's
 * keys in its order, then any other keys the caller set. */
static int build_model_info(json_t *src, json_t **out, rf_err *e)
{
    static const char *const order[] = {"model_name", "version", "date", "prompt", "tags", "generation_settings", "hardware_info"};
    static const char *const needed[][2] = {{"model_name", "--model"}, {"version", "--model-version"}, {"prompt", "--prompt"}};
    *out = NULL;
    if (!json_is_object(src)) return rf_fail(e, RAIIAF_E_SCHEMA, "format 1 needs /raiiaf_metadata/model_info");
    for (int i = 0; i < 3; i++)
        if (!json_is_string(json_object_get(src, needed[i][0])))
            return rf_fail(e, RAIIAF_E_SCHEMA, "/raiiaf_metadata/model_info/%s: format 1 needs it (a string; %s)", needed[i][0], needed[i][1]);
    json_t *tags = json_object_get(src, "tags");
    if (!json_is_array(tags))
        return rf_fail(e, RAIIAF_E_SCHEMA, "/raiiaf_metadata/model_info/tags: format 1 needs an array of strings (--tag; may be empty)");
    json_t *mi = json_object();
    if (!mi) return rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        json_t *v = json_object_get(src, order[i]);
        if (v) json_object_set(mi, order[i], v);
    }
    const char *k;
    json_t *v;
    json_object_foreach(src, k, v)
        if (!json_object_get(mi, k)) json_object_set(mi, k, v);
    *out = mi;
    return RAIIAF_OK;
}

int rf_f1w_finish(rf_f1w *f, json_t *manifest, int fd, const char *tmp_path, rf_err *e)
{
    int rc = RAIIAF_OK;
    size_t nrec = f->nlat + (size_t)f->has_image + 1;
    piece *pieces = calloc(2 * f->nlat + 3, sizeof *pieces); /* LATN: 2 pieces each */
    size_t np = 0;
    json_t *chunks = json_array(), *mi = NULL, *root = NULL, *schema = NULL;
    char *env_text = NULL, *mtext = NULL;
    unsigned char *mframe = NULL;
    ZSTD_CCtx *cctx = NULL;
    if (!pieces || !chunks) {
        rc = rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
        goto done;
    }
    if ((rc = build_model_info(json_object_get(json_object_get(manifest, "raiiaf_metadata"), "model_info"), &mi, e))) goto done;

    uint64_t off = RF_F1_HEADER_SIZE;
    size_t idx = 0;
    for (size_t i = 0; i < f->nlat; i++, idx++) {
        f1_latent *l = &f->lat[i];
        char hex[65];
        if (rf_sha256_hex(l->data, l->size, hex)) {
            rc = rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
            goto done;
        }
        const char *flags = l->dtype == RAIIAF_F32 ? "F32" : "F16";
        unsigned char inner[RF_F1_INNER_SIZE];
        memcpy(inner, "LATN", 4);
        memcpy(inner + 4, flags, 4); /* with its NUL */
        rf_put32(inner + 8, (uint32_t)l->size);
        uint64_t lh, ld;
        if (l->compress) {
            /* A zstd frame around the inner header alone (its length field
             * is the raw size), then the zfp stream. */
            piece h;
            size_t bound = ZSTD_compressBound(RF_F1_INNER_SIZE);
            h.bytes = malloc(bound);
            if (!h.bytes) {
                rc = rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
                goto done;
            }
            h.size = ZSTD_compress(h.bytes, bound, inner, RF_F1_INNER_SIZE, RF_F1_ZSTD_LEVEL);
            if (ZSTD_isError(h.size)) {
                free(h.bytes);
                rc = rf_fail(e, RAIIAF_E_CODEC, "zstd: %s", ZSTD_getErrorName(h.size));
                goto done;
            }
            pieces[np++] = h;
            size_t n4[4] = {(size_t)l->shape[3], (size_t)l->shape[2], (size_t)l->shape[1], (size_t)l->shape[0]};
            piece z;
            if ((rc = rf_zfp_encode_full4((const float *)l->data, n4, &z.bytes, &z.size, e))) {
                char msg[RF_ERRMSG_SIZE];
                snprintf(msg, sizeof msg, "%s", e->msg);
                rc = rf_fail(e, rc, "tensor \"%s\": %s", l->name, msg);
                goto done;
            }
            pieces[np++] = z;
            lh = h.size;
            ld = z.size;
        } else {
            piece p = {malloc(RF_F1_INNER_SIZE + l->size), RF_F1_INNER_SIZE + l->size};
            if (!p.bytes) {
                rc = rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
                goto done;
            }
            memcpy(p.bytes, inner, RF_F1_INNER_SIZE);
            memcpy(p.bytes + RF_F1_INNER_SIZE, l->data, l->size);
            pieces[np++] = p;
            lh = RF_F1_INNER_SIZE;
            ld = l->size;
        }
        json_t *shape = json_pack("[IIII]", (json_int_t)l->shape[0], (json_int_t)l->shape[1], (json_int_t)l->shape[2], (json_int_t)l->shape[3]);
        json_t *extra = json_pack("{s:o,s:s,s:s}", "shape", shape, "dtype", raiiaf_dtype_name(l->dtype), "key", l->name);
        json_t *rec = record(idx, "LATN", flags, off, lh + ld, l->size, hex, extra, l->compress, json_integer((json_int_t)lh),
                             json_integer((json_int_t)ld));
        if (!rec || json_array_append_new(chunks, rec)) {
            rc = rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
            goto done;
        }
        off += lh + ld;
    }
    size_t env_len = 0;
    if (f->env) {
        env_text = strdup(f->env);
        env_len = f->env_size;
    } else {
        env_text = default_env(&env_len);
    }
    if (!env_text) {
        rc = rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
        goto done;
    }
    for (int k = 0; k < 2; k++) {
        const void *payload = k == 0 ? (const void *)f->image : env_text;
        size_t n = k == 0 ? f->image_size : env_len;
        if (k == 0 && !f->has_image) continue;
        piece p;
        if ((rc = zframe(k == 0 ? "DATA0000" : "ENVC0000", payload, n, &p, e))) goto done;
        pieces[np++] = p;
        char hex[65];
        if (rf_sha256_hex(payload, n, hex)) {
            rc = rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
            goto done;
        }
        /* The image record's own fields (the package's extra_image), kept by
         * convert in the extension org.raiiaf.format1 (SPEC, format 1 appendix). */
        json_t *ie = json_object_get(json_object_get(json_object_get(json_object_get(manifest, "raiiaf_metadata"), "extensions"),
                                                     "org.raiiaf.format1"),
                                     "image_extra");
        json_t *extra = k == 0 && json_is_object(ie) ? rf_json_copy(ie) : NULL;
        json_t *rec = record(idx++, k == 0 ? "DATA" : "ENVC", "0000", off, p.size, n, hex, extra, 1, NULL, NULL);
        if (!rec || json_array_append_new(chunks, rec)) {
            rc = rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
            goto done;
        }
        off += p.size;
    }
    uint64_t chunks_end = off;

    /* The manifest, with file_size the true size of the file it ends. */
    json_t *fi = json_pack("{s:s,s:i,s:i,s:I,s:I}", "magic", "raiiaf", "version_major", 1, "version_minor", 0, "file_size",
                           (json_int_t)0, "chunk_count", (json_int_t)nrec);
    root = json_pack("{s:{s:o,s:O,s:O}}", "raiiaf_metadata", "file_info", fi, "model_info", mi, "chunks", chunks);
    if (!root) {
        rc = rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
        goto done;
    }
    fi = json_object_get(json_object_get(root, "raiiaf_metadata"), "file_info");
    if ((rc = rf_json_parse(rf_schema_format1_json, strlen(rf_schema_format1_json), "embedded format 1 schema", &schema, e))) goto done;
    if ((rc = rf_schema_validate(schema, root, e))) {
        char msg[RF_ERRMSG_SIZE];
        snprintf(msg, sizeof msg, "%s", e->msg);
        rc = rf_fail(e, rc, "%s (format 1 rules)", msg);
        goto done;
    }
    /* file_size is the size of the file the manifest ends, so the manifest
     * depends on its own compressed size: look for a fixed point.  At
     * zstd level 3 (the Python package's) the size moves by a few bytes
     * with the digits, so there may be none; then other levels are tried
     * (any level decodes the same), and last a frame of raw blocks, whose
     * size only grows with the text.  The levels stop at 9: above it zstd
     * switches to its slow optimal parsers, which cost more per try than
     * the whole rest of the write, while the raw frame always ends the
     * search (issue 15: format 1 writes must not be slower than the
     * original's).  One compression context serves every try. */
    static const int levels[] = {RF_F1_ZSTD_LEVEL, 1, 2, 4, 5, 6, 7, 8, 9, 0};
    cctx = ZSTD_createCCtx();
    if (!cctx) {
        rc = rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
        goto done;
    }
    size_t mlen = 0, flen = 0;
    uint64_t total = 0;
    int found = 0;
    for (size_t li = 0; li < sizeof levels / sizeof levels[0] && !found; li++) {
        uint64_t guess = chunks_end + 1024;
        for (int iter = 0; iter < 8 + 65 && !found; iter++) {
            /* A few rounds of iteration, then every size near the last guess. */
            uint64_t g = iter < 8 ? guess : guess - 32 + (uint64_t)(iter - 8);
            json_object_set_new(fi, "file_size", json_integer((json_int_t)g));
            free(mtext);
            free(mframe);
            mframe = NULL;
            mtext = rf_py_json_dumps(root, &mlen);
            if (!mtext) {
                rc = rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
                goto done;
            }
            if (mlen > RF_MAX_MANIFEST_RAW) {
                rc = rf_fail(e, RAIIAF_E_LIMIT, "manifest of %zu bytes exceeds the %u-byte limit", mlen, RF_MAX_MANIFEST_RAW);
                goto done;
            }
            piece m;
            if ((rc = zframe_level(cctx, "META0000", mtext, mlen, levels[li], &m, e))) goto done;
            mframe = m.bytes;
            flen = m.size;
            total = chunks_end + flen;
            if (total == g) found = 1;
            else if (iter < 8) guess = total;
        }
    }
    if (!found) {
        rc = rf_fail(e, RAIIAF_E_CODEC, "could not find a manifest whose file_size is the size of the file it ends");
        goto done;
    }
    if (total > UINT32_MAX) {
        rc = rf_fail(e, RAIIAF_E_LIMIT, "format 1 files hold at most 4 GiB (its header has 32-bit offsets); this one would be %llu bytes",
                     (unsigned long long)total);
        goto done;
    }
    unsigned char h[RF_F1_HEADER_SIZE] = {0};
    memcpy(h, RF_FORMAT1_MAGIC, 6);
    h[6] = 1;
    h[7] = 0;
    h[8] = 0;
    rf_put32(h + 9, (uint32_t)chunks_end);
    rf_put32(h + 13, (uint32_t)flen);
    rf_put32(h + 17, (uint32_t)nrec);
    rf_put64(h + 21, total);
    rf_put32(h + 29, 0);
    if (ftruncate(fd, 0) || lseek(fd, 0, SEEK_SET) < 0) {
        rc = rf_fail(e, RAIIAF_E_IO, "%s: cannot rewind: %s", tmp_path, strerror(errno));
        goto done;
    }
    if ((rc = rf_write_all(fd, h, sizeof h, tmp_path, e))) goto done;
    for (size_t i = 0; i < np; i++)
        if ((rc = rf_write_all(fd, pieces[i].bytes, pieces[i].size, tmp_path, e))) goto done;
    rc = rf_write_all(fd, mframe, flen, tmp_path, e);
done:
    ZSTD_freeCCtx(cctx);
    for (size_t i = 0; pieces && i < np; i++) free(pieces[i].bytes);
    free(pieces);
    free(env_text);
    free(mtext);
    free(mframe);
    json_decref(schema);
    json_decref(root);
    json_decref(chunks);
    json_decref(mi);
    return rc;
}
