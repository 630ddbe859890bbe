/*
 * safetensors.c -- the .safetensors tensor format (huggingface/safetensors
 * docs): an 8-byte little-endian header length N, N bytes of UTF-8 JSON
 *
 *     {"NAME": {"dtype": "F32", "shape": [1, 4, 64, 64],
 *               "data_offsets": [BEGIN, END]}, ...,
 *      "__metadata__": {"key": "value", ...}}
 *
 * (padded with spaces), then the data; offsets are relative to the first
 * byte after the header, little-endian, C order.
 *
 * The parser treats the file as hostile: N must be at most 100 MB and
 * within the file, the JSON is parsed strictly (jansson, duplicate keys
 * refused), every entry's offsets must lie within the data and span
 * exactly product(shape) * dtype size bytes (computed without overflow),
 * dtype names are matched exactly, rank is at most 8.
 */
#include "interop.h"
#include "../jsonnum.h"
#include "../internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fileio.h"

static const struct {
    const char *name;
    raiiaf_dtype dtype;
} st_dtypes[] = {
    {"BOOL", RAIIAF_BOOL}, {"U8", RAIIAF_U8},   {"I8", RAIIAF_I8},     {"I16", RAIIAF_I16}, {"U16", RAIIAF_U16},
    {"F16", RAIIAF_F16},   {"BF16", RAIIAF_BF16}, {"I32", RAIIAF_I32}, {"U32", RAIIAF_U32}, {"F32", RAIIAF_F32},
    {"F64", RAIIAF_F64},   {"I64", RAIIAF_I64}, {"U64", RAIIAF_U64},
};
#define NDT (sizeof st_dtypes / sizeof st_dtypes[0])

const char *st_dtype_name(raiiaf_dtype d)
{
    for (size_t i = 0; i < NDT; i++)
        if (st_dtypes[i].dtype == d) return st_dtypes[i].name;
    return NULL;
}

static raiiaf_dtype st_dtype_parse(const char *s)
{
    for (size_t i = 0; i < NDT; i++)
        if (!strcmp(st_dtypes[i].name, s)) return st_dtypes[i].dtype;
    return RAIIAF_DTYPE_INVALID;
}

static uint64_t rd64le(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Checks one tensor entry; fills `a` (data relative to `data`). */
static int st_entry(const char *name, json_t *e, const unsigned char *data, uint64_t data_len, int need_dtype,
                    raiiaf_array *a, char *err, size_t errsize)
{
    if (!json_is_object(e)) {
        rf_msg(err, errsize, "tensor \"%s\": entry is not an object", name);
        return RAIIAF_E_CORRUPT;
    }
    json_t *dt = json_object_get(e, "dtype"), *shape = json_object_get(e, "shape"),
           *offs = json_object_get(e, "data_offsets");
    if (!json_is_string(dt) || !json_is_array(shape) || !json_is_array(offs) || json_array_size(offs) != 2) {
        rf_msg(err, errsize, "tensor \"%s\": needs dtype (string), shape (array) and data_offsets ([begin, end])", name);
        return RAIIAF_E_CORRUPT;
    }
    size_t rank = json_array_size(shape);
    if (rank > RAIIAF_MAX_RANK) {
        rf_msg(err, errsize, "tensor \"%s\": rank %zu exceeds %d", name, rank, RAIIAF_MAX_RANK);
        return RAIIAF_E_LIMIT;
    }
    json_t *b = json_array_get(offs, 0), *en = json_array_get(offs, 1);
    if (!json_is_integer(b) || !json_is_integer(en) || json_integer_value(b) < 0 ||
        json_integer_value(en) < json_integer_value(b) || (uint64_t)json_integer_value(en) > data_len) {
        rf_msg(err, errsize, "tensor \"%s\": data_offsets are not 0 <= begin <= end <= %llu", name,
               (unsigned long long)data_len);
        return RAIIAF_E_CORRUPT;
    }
    raiiaf_dtype d = st_dtype_parse(json_string_value(dt));
    if (d == RAIIAF_DTYPE_INVALID) {
        if (!need_dtype) return RAIIAF_OK; /* not the one asked for: its layout is all that matters */
        rf_msg(err, errsize, "tensor \"%s\": dtype \"%s\" is not one RAIIAF stores (BOOL, U8, I8, I16, U16, F16, "
               "BF16, I32, U32, F32, F64, I64, U64)", name, json_string_value(dt));
        return RAIIAF_E_ARG;
    }
    uint64_t count = 1;
    int overflow = 0;
    for (size_t i = 0; i < rank; i++) {
        json_t *x = json_array_get(shape, i);
        if (!json_is_integer(x) || json_integer_value(x) < 0) {
            rf_msg(err, errsize, "tensor \"%s\": shape[%zu] is not a non-negative integer", name, i);
            return RAIIAF_E_CORRUPT;
        }
        uint64_t v = (uint64_t)json_integer_value(x);
        a->shape[i] = v;
        if (v && count > UINT64_MAX / v) overflow = 1;
        else count *= v;
    }
    uint64_t bytes = 0;
    if (!overflow && count <= UINT64_MAX / raiiaf_dtype_size(d)) bytes = count * raiiaf_dtype_size(d);
    else overflow = 1;
    uint64_t span = (uint64_t)json_integer_value(en) - (uint64_t)json_integer_value(b);
    if (overflow || bytes != span) {
        rf_msg(err, errsize, "tensor \"%s\": data_offsets span %llu bytes, shape and dtype need %s%llu", name,
               (unsigned long long)span, overflow ? "more than " : "", (unsigned long long)(overflow ? UINT64_MAX : bytes));
        return RAIIAF_E_CORRUPT;
    }
    a->dtype = d;
    a->rank = (unsigned)rank;
    a->data = data + json_integer_value(b);
    a->size = (size_t)span;
    a->owned_ = NULL;
    return RAIIAF_OK;
}

/* Checks the length prefix and parses the header: *h is a JSON object
 * whose __metadata__, if any, maps strings to strings; *data and
 * *data_len are the bytes after it. */
static int st_header(const unsigned char *p, size_t len, json_t **h_out, const unsigned char **data,
                     uint64_t *data_len, char *err, size_t errsize)
{
    *h_out = NULL;
    if (len < 8) {
        rf_msg(err, errsize, "safetensors: %zu bytes, shorter than the 8-byte header length", len);
        return RAIIAF_E_TRUNCATED;
    }
    uint64_t n = rd64le(p);
    if (n > ST_MAX_HEADER) {
        rf_msg(err, errsize, "safetensors: header length %llu exceeds the 100 MB limit", (unsigned long long)n);
        return RAIIAF_E_LIMIT;
    }
    if (n > len - 8) {
        rf_msg(err, errsize, "safetensors: header length %llu runs past the end of the file (%zu bytes)",
               (unsigned long long)n, len);
        return RAIIAF_E_TRUNCATED;
    }
    if (n < 2 || p[8] != '{') {
        rf_msg(err, errsize, "safetensors: the header is not a JSON object");
        return RAIIAF_E_CORRUPT;
    }
    json_error_t je;
    json_t *h = json_loadb((const char *)p + 8, (size_t)n, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(h)) {
        rf_msg(err, errsize, "safetensors: header JSON: %s (at byte %d)", h ? "not an object" : je.text, h ? 0 : je.position);
        json_decref(h);
        return RAIIAF_E_CORRUPT;
    }
    json_t *md = json_object_get(h, "__metadata__");
    if (md) {
        const char *k;
        json_t *v;
        int ok = json_is_object(md);
        json_object_foreach(md, k, v) if (!json_is_string(v)) ok = 0;
        if (!ok) {
            rf_msg(err, errsize, "safetensors: __metadata__ must map strings to strings");
            json_decref(h);
            return RAIIAF_E_CORRUPT;
        }
    }
    *h_out = h;
    *data = p + 8 + n;
    *data_len = (uint64_t)(len - 8 - (size_t)n);
    return RAIIAF_OK;
}

int raiiaf_safetensors_parse(const void *buf, size_t len, const char *want, raiiaf_array *out, char *err, size_t errsize)
{
    json_t *h;
    const unsigned char *data;
    uint64_t data_len;
    memset(out, 0, sizeof *out);
    int hrc = st_header(buf, len, &h, &data, &data_len, err, errsize);
    if (hrc) return hrc;
    json_t *md = json_object_get(h, "__metadata__");
    size_t count = json_object_size(h) - (md ? 1 : 0);
    const char *k;
    json_t *v;
    int rc = RAIIAF_OK, found = 0;
    char names[512] = "";
    json_object_foreach(h, k, v)
    {
        if (!strcmp(k, "__metadata__")) continue;
        size_t nl = strlen(names);
        if (nl + strlen(k) + 8 < sizeof names) snprintf(names + nl, sizeof names - nl, "%s%s", nl ? ", " : "", k);
        int mine = want ? !strcmp(k, want) : count == 1;
        raiiaf_array a;
        memset(&a, 0, sizeof a);
        if ((rc = st_entry(k, v, data, data_len, mine, &a, err, errsize))) break;
        if (mine) {
            if (strlen(k) < 1 || strlen(k) > 255) {
                rf_msg(err, errsize, "safetensors: tensor name \"%.40s\" must be 1 to 255 bytes", k);
                rc = RAIIAF_E_ARG;
                break;
            }
            *out = a;
            found = 1;
        }
    }
    if (!rc && !found) {
        if (count == 0) {
            rf_msg(err, errsize, "safetensors: the file holds no tensor");
            rc = RAIIAF_E_NOT_FOUND;
        } else if (want) {
            rf_msg(err, errsize, "safetensors: no tensor named \"%s\" (the file holds: %s)", want, names);
            rc = RAIIAF_E_NOT_FOUND;
        } else {
            rf_msg(err, errsize, "safetensors: the file holds %zu tensors (%s): name one as FILE.safetensors:TENSOR", count, names);
            rc = RAIIAF_E_ARG;
        }
    }
    json_decref(h);
    if (rc) memset(out, 0, sizeof *out);
    return rc;
}

int raiiaf_safetensors_names(const void *buf, size_t len, char **names_json, char *err, size_t errsize)
{
    json_t *h;
    const unsigned char *data;
    uint64_t data_len;
    *names_json = NULL;
    int rc = st_header(buf, len, &h, &data, &data_len, err, errsize);
    if (rc) return rc;
    json_t *names = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(h, k, v)
    {
        if (!strcmp(k, "__metadata__")) continue;
        raiiaf_array a;
        /* Each entry is checked as a read would check it, so a listed name
         * can be read. */
        if ((rc = st_entry(k, v, data, data_len, 0, &a, err, errsize))) break;
        json_array_append_new(names, json_string(k));
    }
    if (!rc && !(*names_json = raiiaf_json_dumps(names, JSON_COMPACT))) rc = RAIIAF_E_NOMEM;
    json_decref(names);
    json_decref(h);
    return rc;
}

int st_build(const char *name, raiiaf_dtype dtype, unsigned rank, const uint64_t *shape, const void *data,
             size_t size, json_t *metadata, unsigned char **out, size_t *out_size)
{
    const char *dn = st_dtype_name(dtype);
    if (!dn || rank > RAIIAF_MAX_RANK || !strcmp(name, "__metadata__")) return RAIIAF_E_ARG;
    json_t *h = json_object();
    if (metadata && json_object_size(metadata)) json_object_set(h, "__metadata__", metadata);
    json_t *e = json_object(), *sh = json_array(), *off = json_array();
    json_object_set_new(e, "dtype", json_string(dn));
    for (unsigned i = 0; i < rank; i++) json_array_append_new(sh, json_integer((json_int_t)shape[i]));
    json_object_set_new(e, "shape", sh);
    json_array_append_new(off, json_integer(0));
    json_array_append_new(off, json_integer((json_int_t)size));
    json_object_set_new(e, "data_offsets", off);
    json_object_set_new(h, name, e);
    char *text = raiiaf_json_dumps(h, JSON_COMPACT);
    json_decref(h);
    if (!text) return RAIIAF_E_NOMEM;
    size_t n = strlen(text), padded = (n + 7) / 8 * 8;
    unsigned char *b = malloc(8 + padded + size + 1);
    if (!b) {
        free(text);
        return RAIIAF_E_NOMEM;
    }
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(b + 8, text, n);
    memset(b + 8 + n, ' ', padded - n);
    if (size) memcpy(b + 8 + padded, data, size);
    free(text);
    *out = b;
    *out_size = 8 + padded + size;
    return RAIIAF_OK;
}

int raiiaf_safetensors_build(const char *name, raiiaf_dtype dtype, unsigned rank, const uint64_t *shape,
                             const void *data, size_t size, const char *metadata_json, unsigned char **out,
                             size_t *out_size, char *err, size_t errsize)
{
    *out = NULL;
    *out_size = 0;
    if (!name || (rank && !shape) || (size && !data)) {
        rf_msg(err, errsize, "safetensors: invalid argument");
        return RAIIAF_E_ARG;
    }
    uint64_t count = 1;
    for (unsigned i = 0; i < rank && i < RAIIAF_MAX_RANK; i++)
        if (rf_mul_u64(count, shape[i], &count)) count = UINT64_MAX;
    size_t es = raiiaf_dtype_size(dtype);
    if (!es || rank > RAIIAF_MAX_RANK || count > SIZE_MAX / es || count * es != size) {
        rf_msg(err, errsize, "safetensors: %zu bytes do not hold a %s tensor of that shape", size,
               raiiaf_dtype_name(dtype) ? raiiaf_dtype_name(dtype) : "(invalid dtype)");
        return RAIIAF_E_ARG;
    }
    json_t *md = NULL;
    if (metadata_json) {
        json_error_t je;
        md = rf_json_loadb(metadata_json, strlen(metadata_json), JSON_REJECT_DUPLICATES, RF_JSON_STRICT, &je);
        int ok = json_is_object(md);
        const char *k;
        json_t *v;
        json_object_foreach(md, k, v) if (!json_is_string(v)) ok = 0;
        if (!ok) {
            rf_msg(err, errsize, "safetensors: metadata must be a JSON object of strings%s%s", md ? "" : ": ",
                   md ? "" : je.text);
            json_decref(md);
            return md ? RAIIAF_E_ARG : RAIIAF_E_JSON;
        }
    }
    int rc = st_build(name, dtype, rank, shape, data, size, md, out, out_size);
    json_decref(md);
    if (rc) rf_msg(err, errsize, "safetensors: cannot build \"%.60s\": %s", name,
                   rc == RAIIAF_E_ARG ? "the name __metadata__ is reserved" : raiiaf_strerror(rc));
    return rc;
}

json_t *st_metadata_from_manifest(const char *manifest, size_t len)
{
    json_t *md = json_object();
    json_object_set_new(md, "raiiaf.manifest", json_stringn(manifest, len));
    json_t *m = rf_json_loadb(manifest, len, 0, RF_JSON_STRICT, NULL);
    json_t *mi = json_object_get(json_object_get(m, "raiiaf_metadata"), "model_info");
    json_t *g = json_object_get(mi, "generation_settings");
    static const char *const top[][2] = {{"model_name", "raiiaf.model"},     {"model_hash", "raiiaf.model_hash"},
                                         {"prompt", "raiiaf.prompt"},        {"negative_prompt", "raiiaf.negative_prompt"}};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++) {
        const char *s = json_string_value(json_object_get(mi, top[i][0]));
        if (s) json_object_set_new(md, top[i][1], json_string(s));
    }
    const char *k;
    json_t *v;
    json_object_foreach(g, k, v)
    {
        char key[128];
        snprintf(key, sizeof key, "raiiaf.%s", k);
        char *t = rf_json_is_text(v) ? strdup(json_string_value(v)) : raiiaf_json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        if (t) json_object_set_new(md, key, json_string(t));
        free(t);
    }
    json_decref(m);
    return md;
}

/* ".safetensors" at the end, or ".safetensors:TENSOR": returns the length
 * of the file part (0 when not a safetensors path). */
static size_t st_path(const char *path, const char **tensor)
{
    size_t n = strlen(path);
    *tensor = NULL;
    if (n >= 12 && !strcasecmp(path + n - 12, ".safetensors")) return n;
    const char *p = NULL, *q = path;
    while ((q = strstr(q, ".safetensors:"))) p = q++;
    if (!p) return 0;
    *tensor = p + 13;
    return (size_t)(p - path) + 12;
}

int raiiaf_tensor_file_read(const char *path, raiiaf_array *out, char *err, size_t errsize)
{
    const char *tensor;
    memset(out, 0, sizeof *out);
    if (!path) {
        rf_msg(err, errsize, "raiiaf_tensor_file_read: no path");
        return RAIIAF_E_ARG;
    }
    size_t fl = st_path(path, &tensor);
    if (!fl) return raiiaf_npy_read_file(path, out, err, errsize);
    char *file = strndup(path, fl);
    if (!file) return RAIIAF_E_NOMEM;
    unsigned char *buf;
    size_t n;
    rf_err e = {0};
    int rc = rf_read_file(file, UINT64_MAX, &buf, &n, &e);
    if (rc) rf_msg(err, errsize, "%s", e.msg);
    else {
        char e2[768];
        rc = raiiaf_safetensors_parse(buf, n, tensor && *tensor ? tensor : NULL, out, e2, sizeof e2);
        if (rc) {
            rf_msg(err, errsize, "%s: %s", file, e2);
            free(buf);
        } else out->owned_ = buf;
    }
    free(file);
    return rc;
}

int raiiaf_tensor_file_write(raiiaf_reader *r, const char *path, const char *name, raiiaf_dtype dtype, unsigned rank,
                             const uint64_t *shape, const void *data, size_t size, char *err, size_t errsize)
{
    const char *tensor;
    if (!path || !name) {
        rf_msg(err, errsize, "raiiaf_tensor_file_write: no path or name");
        return RAIIAF_E_ARG;
    }
    if (!st_path(path, &tensor) || tensor) return raiiaf_npy_write_file(path, dtype, rank, shape, data, size, err, errsize);
    size_t mlen = 0;
    const char *manifest = r ? raiiaf_reader_manifest(r, &mlen) : NULL;
    json_t *md = manifest ? st_metadata_from_manifest(manifest, mlen) : NULL;
    unsigned char *b;
    size_t bn;
    int rc = st_build(name, dtype, rank, shape, data, size, md, &b, &bn);
    json_decref(md);
    if (rc) {
        rf_msg(err, errsize, "%s: cannot build a safetensors file (%s)", path, raiiaf_strerror(rc));
        return rc;
    }
    rf_err e = {0};
    rc = rf_write_file(path, b, bn, NULL, 0, &e);
    if (rc) rf_msg(err, errsize, "%s", e.msg);
    free(b);
    return rc;
}
