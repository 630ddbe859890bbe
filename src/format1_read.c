/* format1_read.c -- reading and verifying format 1 files (the layout the
 * original Python package wrote; docs/SPEC.md Appendix A).
 *
 * Format 1 has no checksums over its structures: only the manifest's
 * SHA-256 of each decoded payload.  So every size and offset is checked
 * against the file and the limits before use, every zstd frame must be
 * exactly one frame with its content size that fills its record, zfp
 * decodes from a padded copy, and every payload handed out has had its
 * digest checked (unless the reader was opened with RAIIAF_READ_NO_DIGEST). */
#include "format1.h"
#include "jsonnum.h"
#include "jsonutil.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

typedef struct rf_f1rec {
    int compressed;
    uint64_t len_header, len_data;
} rf_f1rec;

struct rf_f1 {
    uint32_t manifest_off, manifest_len, record_count, reserved;
    uint64_t header_file_size;
    unsigned flags;
    rf_f1rec *recs;
    long env_chunk; /* -1: none */
    /* decoded on first use, then kept (payload bytes after the inner header) */
    unsigned char *image; /* the whole DATA content, inner header included */
    size_t image_size;
    int image_sha_ok, image_checked;
    rf_image_desc image_desc;
    int image_known; /* rf_image_validate accepted it */
    unsigned char *env;
    size_t env_size;
    int env_sha_ok;
};

int rf_f1_detect(const unsigned char *data, size_t size)
{
    return size >= sizeof RF_FORMAT1_MAGIC && !memcmp(data, RF_FORMAT1_MAGIC, sizeof RF_FORMAT1_MAGIC);
}

void rf_f1_free(struct rf_f1 *f)
{
    if (!f) return;
    free(f->recs);
    free(f->image);
    free(f->env);
    free(f);
}

/* Decodes one zstd frame that must fill src[0..len) exactly and declare its
 * content size (at most max_raw); the result is malloc'd (plus a NUL). */
static int unzstd(raiiaf_reader *r, const unsigned char *src, size_t len, uint64_t max_raw, const char *where,
                  unsigned char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    unsigned long long cs = ZSTD_getFrameContentSize(src, len);
    if (cs == ZSTD_CONTENTSIZE_ERROR)
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "%s: not a zstd frame", where);
    if (cs == ZSTD_CONTENTSIZE_UNKNOWN)
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "%s: zstd frame does not declare its content size", where);
    size_t fl = ZSTD_findFrameCompressedSize(src, len);
    if (ZSTD_isError(fl))
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "%s: zstd frame of %zu bytes is damaged or cut short (%s)", where, len,
                       ZSTD_getErrorName(fl));
    if (fl != len)
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "%s: the zstd frame is %zu bytes, the record gives %zu", where, fl, len);
    if (cs > max_raw || cs > (unsigned long long)len * RF_MAX_EXPANSION)
        return rf_fail(&r->err, RAIIAF_E_LIMIT, "%s: zstd frame of %zu bytes declares %llu decoded bytes (limit %llu)", where, len,
                       cs, (unsigned long long)(max_raw < (uint64_t)len * RF_MAX_EXPANSION ? max_raw : (uint64_t)len * RF_MAX_EXPANSION));
    if (cs >= SIZE_MAX) return rf_fail(&r->err, RAIIAF_E_LIMIT, "%s: too large for this machine", where);
    unsigned char *d = malloc((size_t)cs + 1);
    if (!d) return rf_fail(&r->err, RAIIAF_E_NOMEM, "%s: out of memory for %llu bytes", where, cs);
    size_t got = ZSTD_decompress(d, (size_t)cs, src, len);
    if (ZSTD_isError(got) || got != cs) {
        free(d);
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "%s: zstd frame is damaged (%s)", where,
                       ZSTD_isError(got) ? ZSTD_getErrorName(got) : "wrong decoded size");
    }
    d[cs] = 0;
    *out = d;
    *out_len = (size_t)cs;
    return RAIIAF_OK;
}

/* Checks a 12-byte inner header: type, flags and the length of what follows. */
static int check_inner(raiiaf_reader *r, const unsigned char *p, size_t avail, const char type[4], const char flags[4],
                       uint64_t expect_len, const char *where)
{
    if (avail < RF_F1_INNER_SIZE)
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "%s: %zu bytes cannot hold the 12-byte inner header", where, avail);
    if (memcmp(p, type, 4)) {
        char got[5];
        for (int i = 0; i < 4; i++) got[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
        got[4] = 0;
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "%s: inner header type is \"%s\", expected %.4s", where, got, type);
    }
    if (memcmp(p + 4, flags, 4))
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "%s: inner header flags %02x%02x%02x%02x are not the \"%.3s\" the record says", where,
                       p[4], p[5], p[6], p[7], flags);
    if (rf_le32(p + 8) != expect_len)
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "%s: inner header length %u disagrees with the record's %llu bytes", where,
                       rf_le32(p + 8), (unsigned long long)expect_len);
    return RAIIAF_OK;
}

/* ---- open ------------------------------------------------------------- */

static int get_uint(raiiaf_reader *r, json_t *o, const char *key, const char *path, uint64_t max, uint64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/%s: %s", path, key, v ? "must be an integer within range" : "missing");
    *out = (uint64_t)json_integer_value(v);
    return RAIIAF_OK;
}

static int get_str(raiiaf_reader *r, json_t *o, const char *key, const char *path, const char **out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v)) return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/%s: %s", path, key, v ? "must be a string" : "missing");
    *out = json_string_value(v);
    return RAIIAF_OK;
}

static int is_hex64(const char *s)
{
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return s[64] == '\0';
}

/* len_header / len_data: an integer, or null / absent (given as -1). */
static int get_opt_uint(raiiaf_reader *r, json_t *o, const char *key, const char *path, int64_t *out)
{
    json_t *v = json_object_get(o, key);
    *out = -1;
    if (!v || json_is_null(v)) return RAIIAF_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/%s: must be a non-negative integer or null", path, key);
    *out = json_integer_value(v);
    return RAIIAF_OK;
}

static int parse_latent(raiiaf_reader *r, size_t i, json_t *o, const char *path, const char *flags, int compressed,
                        int64_t lh, int64_t ld, uint64_t usize)
{
    rf_rchunk *c = &r->chunks[i];
    rf_rtensor *t = &r->tensors[r->ntensors];
    json_t *extra = json_object_get(o, "extra");
    char epath[96];
    snprintf(epath, sizeof epath, "%s/extra", path);
    const char *dtype = NULL, *key = NULL;
    int rc;
    if ((rc = get_str(r, extra, "dtype", epath, &dtype)) || (rc = get_str(r, extra, "key", epath, &key))) return rc;
    size_t klen = strlen(key);
    if (klen == 0 || klen > RF_MAX_NAME_BYTES)
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/key: a latent name must be 1 to %u bytes", epath, RF_MAX_NAME_BYTES);
    for (size_t k = 0; k < r->ntensors; k++)
        if (!strcmp(r->tensors[k].name, key))
            return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/key: the latent name \"%s\" appears twice", epath, key);
    if (!strcmp(dtype, "float32")) t->dtype = RAIIAF_F32;
    else if (!strcmp(dtype, "float16")) t->dtype = RAIIAF_F16;
    else return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/dtype: unknown dtype \"%s\" (format 1 holds float32 and float16)", epath, dtype);
    const char *want = t->dtype == RAIIAF_F32 ? "F32" : "F16";
    if (strcmp(flags, want))
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/flags: \"%s\" is not a latent dtype flag matching dtype %s (\"%s\")", path,
                       flags, dtype, want);
    json_t *shape = json_object_get(extra, "shape");
    if (!json_is_array(shape) || json_array_size(shape) != 4)
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/shape: must be an array of 4 sizes [N, C, H, W]", epath);
    uint64_t bytes = 2 + 2 * (t->dtype == RAIIAF_F32);
    for (unsigned k = 0; k < 4; k++) {
        json_t *v = json_array_get(shape, k);
        if (!json_is_integer(v) || json_integer_value(v) < 1 || rf_mul_u64(bytes, (uint64_t)json_integer_value(v), &bytes) ||
            bytes > RF_MAX_TENSOR_BYTES)
            return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/shape/%u: must be a positive integer, with the latent under %llu bytes",
                           epath, k, (unsigned long long)RF_MAX_TENSOR_BYTES);
        t->shape[k] = (uint64_t)json_integer_value(v);
    }
    t->rank = 4;
    t->name = key;
    t->chunk = i;
    if (usize != bytes)
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/uncompressed_size: is %llu, shape and dtype make %llu bytes", path,
                       (unsigned long long)usize, (unsigned long long)bytes);
    rf_f1rec *f = &r->f1->recs[i];
    f->compressed = compressed;
    if (lh < 0 || ld < 0)
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s: a LATN record needs len_header and len_data", path);
    f->len_header = (uint64_t)lh;
    f->len_data = (uint64_t)ld;
    uint64_t sum;
    if (rf_add_u64(f->len_header, f->len_data, &sum) || sum != c->stored)
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s: len_header %llu + len_data %llu do not make compressed_size %llu", path,
                       (unsigned long long)f->len_header, (unsigned long long)f->len_data, (unsigned long long)c->stored);
    if (compressed) {
        if (t->dtype != RAIIAF_F32)
            return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s: a compressed (zfp) latent must be float32, not %s", path, dtype);
        if (f->len_header < 1 || f->len_header > RF_F1_MAX_LEN_HEADER || f->len_data < 1)
            return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s: len_header %llu / len_data %llu cannot hold a zstd inner header and a zfp stream",
                           path, (unsigned long long)f->len_header, (unsigned long long)f->len_data);
        for (unsigned k = 0; k < 4; k++)
            if (t->shape[k] > 4096)
                return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/shape/%u: %llu exceeds the 4096 a zfp 4-D header can hold", epath, k,
                               (unsigned long long)t->shape[k]);
        uint64_t bound;
        if (rf_mul_u64(f->len_data, RF_MAX_EXPANSION, &bound) || bytes > bound + RF_ALIGN * 1024)
            return rf_fail(&r->err, RAIIAF_E_LIMIT, "manifest %s: %llu zfp bytes cannot decode to the %llu bytes declared (over %ux expansion)",
                           path, (unsigned long long)f->len_data, (unsigned long long)bytes, RF_MAX_EXPANSION);
        c->codec = RF_CODEC_ZFP;
    } else {
        if (f->len_header != RF_F1_INNER_SIZE || f->len_data != bytes)
            return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s: an uncompressed latent has len_header 12 and len_data %llu, not %llu / %llu",
                           path, (unsigned long long)bytes, (unsigned long long)f->len_header, (unsigned long long)f->len_data);
        c->codec = RF_CODEC_RAW;
    }
    r->ntensors++;
    return RAIIAF_OK;
}

static int parse_records(raiiaf_reader *r, json_t *meta)
{
    json_t *arr = json_object_get(meta, "chunks");
    if (!json_is_array(arr)) return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest /raiiaf_metadata/chunks: must be an array");
    size_t n = json_array_size(arr);
    if (n != r->f1->record_count)
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "the header counts %u chunk records, the manifest lists %zu", r->f1->record_count, n);
    /* n <= RF_MAX_CHUNKS: the header's count was checked before parsing. */
    r->chunks = calloc(n ? n : 1, sizeof *r->chunks);
    r->tensors = calloc(n ? n : 1, sizeof *r->tensors);
    r->f1->recs = calloc(n ? n : 1, sizeof *r->f1->recs);
    if (!r->chunks || !r->tensors || !r->f1->recs) return rf_fail(&r->err, RAIIAF_E_NOMEM, "out of memory");
    r->nchunks = n;
    uint64_t next_free = RF_F1_HEADER_SIZE;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        rf_rchunk *c = &r->chunks[i];
        char path[64];
        snprintf(path, sizeof path, "/raiiaf_metadata/chunks/%zu", i);
        if (!json_is_object(o)) return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s: must be an object", path);
        uint64_t index = 0, usize = 0;
        const char *type = NULL, *flags = NULL, *sha = NULL;
        int64_t lh, ld;
        int rc;
        if ((rc = get_uint(r, o, "index", path, UINT32_MAX, &index)) || (rc = get_str(r, o, "type", path, &type)) ||
            (rc = get_str(r, o, "flags", path, &flags)) || (rc = get_uint(r, o, "offset", path, INT64_MAX, &c->offset)) ||
            (rc = get_uint(r, o, "compressed_size", path, INT64_MAX, &c->stored)) ||
            (rc = get_uint(r, o, "uncompressed_size", path, INT64_MAX, &usize)) || (rc = get_str(r, o, "hash", path, &sha)) ||
            (rc = get_opt_uint(r, o, "len_header", path, &lh)) || (rc = get_opt_uint(r, o, "len_data", path, &ld)))
            return rc;
        c->raw = usize;
        if (index != i) return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/index: is %llu, must be %zu", path, (unsigned long long)index, i);
        json_t *comp = json_object_get(o, "compressed");
        if (!json_is_boolean(comp)) return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/compressed: must be true or false", path);
        if (!json_is_object(json_object_get(o, "extra")))
            return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/extra: must be an object", path);
        if (!is_hex64(sha)) return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/hash: must be 64 lowercase hex digits", path);
        memcpy(c->sha, sha, 65);
        uint64_t end;
        if (c->offset < next_free || rf_add_u64(c->offset, c->stored, &end) || end > r->f1->manifest_off)
            return rf_fail(&r->err, RAIIAF_E_CORRUPT,
                           "manifest %s: chunk at offset %llu with %llu bytes does not fit between offset %llu and the manifest at %u", path,
                           (unsigned long long)c->offset, (unsigned long long)c->stored, (unsigned long long)next_free,
                           r->f1->manifest_off);
        next_free = end;
        int is_latn = !strcmp(type, "LATN"), is_data = !strcmp(type, "DATA"), is_envc = !strcmp(type, "ENVC");
        if (!is_latn && !is_data && !is_envc) {
            char t[16];
            snprintf(t, sizeof t, "%s", type);
            return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/type: \"%s\" is not a format 1 chunk type (LATN, DATA, ENVC)", path, t);
        }
        memcpy(c->type, type, 5);
        if (is_latn) {
            if ((rc = parse_latent(r, i, o, path, flags, json_is_true(comp), lh, ld, usize))) return rc;
            continue;
        }
        if (!json_is_true(comp))
            return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/compressed: %s chunks are always zstd-compressed in format 1", path, type);
        if (c->stored < 1) return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s: empty %s chunk", path, type);
        uint64_t bound;
        if (rf_mul_u64(c->stored, RF_MAX_EXPANSION, &bound) || usize + RF_F1_INNER_SIZE > bound)
            return rf_fail(&r->err, RAIIAF_E_LIMIT, "manifest %s: %llu stored bytes cannot decode to the %llu bytes declared (over %ux expansion)",
                           path, (unsigned long long)c->stored, (unsigned long long)usize, RF_MAX_EXPANSION);
        c->codec = RF_CODEC_ZSTD;
        if (is_data) {
            if (r->image_chunk >= 0) return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s: a second DATA (image) chunk", path);
            if (usize > RF_MAX_TENSOR_BYTES) return rf_fail(&r->err, RAIIAF_E_LIMIT, "manifest %s: image of %llu bytes", path, (unsigned long long)usize);
            r->image_chunk = (long)i;
        } else {
            if (r->f1->env_chunk >= 0) return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s: a second ENVC chunk", path);
            if (usize > RF_MAX_MANIFEST_RAW)
                return rf_fail(&r->err, RAIIAF_E_LIMIT, "manifest %s: environment record of %llu bytes (limit %u)", path, (unsigned long long)usize,
                               RF_MAX_MANIFEST_RAW);
            r->f1->env_chunk = (long)i;
        }
    }
    return RAIIAF_OK;
}

int rf_f1_open(raiiaf_reader *r)
{
    const unsigned char *d = r->data;
    size_t n = r->size;
    r->f1 = calloc(1, sizeof *r->f1);
    if (!r->f1) return rf_fail(&r->err, RAIIAF_E_NOMEM, "out of memory");
    struct rf_f1 *f = r->f1;
    f->env_chunk = -1;
    r->image_chunk = -1;
    if (n < RF_F1_HEADER_SIZE)
        return rf_fail(&r->err, RAIIAF_E_TRUNCATED, "format 1 file of %zu bytes ends inside its 33-byte header", n);
    r->major = d[6];
    r->minor = d[7];
    f->flags = d[8];
    if (r->major != 1)
        return rf_fail(&r->err, RAIIAF_E_VERSION, "format 1 signature with version %u.%u: this library reads 1.x and 2.x", r->major, r->minor);
    if (f->flags) return rf_fail(&r->err, RAIIAF_E_VERSION, "format 1 header flags %02x are not known to this library", f->flags);
    f->manifest_off = rf_le32(d + 9);
    f->manifest_len = rf_le32(d + 13);
    f->record_count = rf_le32(d + 17);
    f->header_file_size = rf_le64(d + 21);
    f->reserved = rf_le32(d + 29);
    if (f->header_file_size > n)
        return rf_fail(&r->err, RAIIAF_E_TRUNCATED, "format 1 header says the file has %llu bytes, it has %zu: the file is truncated",
                       (unsigned long long)f->header_file_size, n);
    if (f->header_file_size < n)
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "format 1 header says the file has %llu bytes, it has %zu (bytes appended, or the header is damaged)",
                       (unsigned long long)f->header_file_size, n);
    if (f->reserved) return rf_fail(&r->err, RAIIAF_E_CORRUPT, "format 1 header: reserved bytes 29-32 are not zero");
    if (f->record_count > RF_MAX_CHUNKS)
        return rf_fail(&r->err, RAIIAF_E_LIMIT, "format 1 header counts %u chunk records (limit %u)", f->record_count, RF_MAX_CHUNKS);
    if (f->manifest_len > RF_MAX_MANIFEST_STORED)
        return rf_fail(&r->err, RAIIAF_E_LIMIT, "format 1 manifest of %u bytes (limit %u)", f->manifest_len, RF_MAX_MANIFEST_STORED);
    if (f->manifest_off < RF_F1_HEADER_SIZE || (uint64_t)f->manifest_off + f->manifest_len != n)
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "format 1 header: the manifest at offset %u with %u bytes does not end at the end of the file (%zu bytes)",
                       f->manifest_off, f->manifest_len, n);
    char where[96];
    snprintf(where, sizeof where, "manifest (META) at offset %u", f->manifest_off);
    unsigned char *m;
    size_t mlen;
    int rc = unzstd(r, d + f->manifest_off, f->manifest_len, (uint64_t)RF_MAX_MANIFEST_RAW + RF_F1_INNER_SIZE, where, &m, &mlen);
    if (rc) return rc;
    if ((rc = check_inner(r, m, mlen, "META", "0000", mlen >= RF_F1_INNER_SIZE ? mlen - RF_F1_INNER_SIZE : 0, where))) {
        free(m);
        return rc;
    }
    r->manifest_len = mlen - RF_F1_INNER_SIZE;
    memmove(m, m + RF_F1_INNER_SIZE, r->manifest_len + 1); /* with the NUL */
    r->manifest_text = (char *)m;
    if (strlen(r->manifest_text) != r->manifest_len) return rf_fail(&r->err, RAIIAF_E_JSON, "%s: NUL byte inside the JSON text", where);
    json_t *js;
    if ((rc = rf_json_parse_as(r->manifest_text, r->manifest_len, "manifest", RF_JSON_PYTHON, &js, &r->err))) return rc;
    json_t *meta = json_object_get(js, "raiiaf_metadata");
    if (!json_is_object(meta)) {
        json_decref(js);
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest /raiiaf_metadata: missing or not an object");
    }
    r->manifest = js;
    r->manifest_off = f->manifest_off;
    if ((rc = parse_records(r, meta))) {
        r->manifest = NULL;
        json_decref(js);
        return rc;
    }
    rf_err_clear(&r->err);
    return RAIIAF_OK;
}

/* ---- payloads --------------------------------------------------------- */

int rf_f1_decode_tensor(raiiaf_reader *r, size_t index, void *dst, size_t dst_size, int force_digest)
{
    const rf_rtensor *t = &r->tensors[index];
    const rf_rchunk *c = &r->chunks[t->chunk];
    const rf_f1rec *f = &r->f1->recs[t->chunk];
    if (dst_size != c->raw)
        return rf_fail(&r->err, RAIIAF_E_BUFFER, "tensor \"%s\" needs a buffer of %llu bytes, got %zu", t->name, (unsigned long long)c->raw,
                       dst_size);
    char where[400];
    rf_chunk_where(r, t->chunk, where, sizeof where);
    const unsigned char *p = r->data + c->offset; /* offset + stored proven inside the file at open */
    const char *flags = t->dtype == RAIIAF_F32 ? "F32" : "F16"; /* with its NUL: "F32\0" */
    int rc = rf_charge_decode(r, c->raw, where); /* the reader's budget of decoded bytes */
    if (rc) return rc;
    if (f->compressed) {
        unsigned char *h;
        size_t hl;
        char hw[440];
        snprintf(hw, sizeof hw, "%s: inner header frame", where);
        if ((rc = unzstd(r, p, (size_t)f->len_header, RF_F1_INNER_SIZE, hw, &h, &hl))) return rc;
        rc = check_inner(r, h, hl, "LATN", flags, c->raw, hw);
        if (!rc && hl != RF_F1_INNER_SIZE) rc = rf_fail(&r->err, RAIIAF_E_CORRUPT, "%s: decodes to %zu bytes, not 12", hw, hl);
        free(h);
        if (rc) return rc;
        size_t nd[4] = {(size_t)t->shape[3], (size_t)t->shape[2], (size_t)t->shape[1], (size_t)t->shape[0]};
        rc = rf_zfp_decode_full4(p + f->len_header, (size_t)f->len_data, nd, dst, dst_size, where, &r->err);
        if (rc) return rc;
    } else {
        if ((rc = check_inner(r, p, RF_F1_INNER_SIZE, "LATN", flags, c->raw, where))) return rc;
        if (dst_size) memcpy(dst, p + RF_F1_INNER_SIZE, dst_size);
    }
    return rf_check_digest(r, t->chunk, dst, dst_size, force_digest);
}

int rf_f1_tensor_data(raiiaf_reader *r, size_t index, const void **data)
{
    (void)data;
    return rf_fail(&r->err, RAIIAF_E_CODEC, "tensor \"%s\" is in a format 1 file, which stores nothing aligned for use in place: use raiiaf_reader_read_tensor()",
                   r->tensors[index].name);
}

/* Decodes a DATA or ENVC chunk: its frame, inner header and (unless
 * skipped) digest.  *out holds inner header + payload. */
static int load_zstd_chunk(raiiaf_reader *r, size_t ci, const char *type, unsigned char **out, size_t *out_len)
{
    const rf_rchunk *c = &r->chunks[ci];
    char where[400];
    rf_chunk_where(r, ci, where, sizeof where);
    int rc = unzstd(r, r->data + c->offset, (size_t)c->stored, c->raw + RF_F1_INNER_SIZE, where, out, out_len);
    if (!rc) rc = check_inner(r, *out, *out_len, type, "0000", c->raw, where);
    if (!rc && *out_len != c->raw + RF_F1_INNER_SIZE)
        rc = rf_fail(&r->err, RAIIAF_E_CORRUPT, "%s: decodes to %zu bytes, the record says %llu + 12", where, *out_len,
                     (unsigned long long)c->raw);
    if (rc) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

/* Decodes the image (once) and checks its digest; `describe` also finds
 * its format and size (a full validation, so only when asked). */
static int load_image(raiiaf_reader *r, int force, int describe)
{
    struct rf_f1 *f = r->f1;
    size_t ci = (size_t)r->image_chunk;
    int rc;
    if (!f->image) {
        if ((rc = load_zstd_chunk(r, ci, "DATA", &f->image, &f->image_size))) return rc;
        f->image_size -= RF_F1_INNER_SIZE;
    }
    if (!f->image_sha_ok && (force || !(r->flags & RAIIAF_READ_NO_DIGEST))) {
        if ((rc = rf_check_digest(r, ci, f->image + RF_F1_INNER_SIZE, f->image_size, 1))) return rc;
        f->image_sha_ok = 1;
    }
    if (describe && !f->image_checked) {
        rf_err tmp = {0};
        f->image_known = rf_image_validate(f->image + RF_F1_INNER_SIZE, f->image_size, &f->image_desc, &tmp) == RAIIAF_OK;
        f->image_checked = 1;
    }
    return RAIIAF_OK;
}

int rf_f1_image(raiiaf_reader *r, const void **data, size_t *size, const char **format, uint32_t *width, uint32_t *height)
{
    if (r->image_chunk < 0) return rf_fail(&r->err, RAIIAF_E_NOT_FOUND, "the file holds no image");
    int rc = load_image(r, 0, format || width || height);
    if (rc) return rc;
    struct rf_f1 *f = r->f1;
    if (data) *data = f->image + RF_F1_INNER_SIZE;
    if (size) *size = f->image_size;
    if (format) *format = f->image_known ? f->image_desc.format : "bin";
    if (width) *width = f->image_known ? f->image_desc.width : 0;
    if (height) *height = f->image_known ? f->image_desc.height : 0;
    return RAIIAF_OK;
}

static int load_env(raiiaf_reader *r, int force)
{
    struct rf_f1 *f = r->f1;
    size_t ci = (size_t)f->env_chunk;
    int rc;
    if (!f->env) {
        if ((rc = load_zstd_chunk(r, ci, "ENVC", &f->env, &f->env_size))) return rc;
        f->env_size -= RF_F1_INNER_SIZE;
    }
    if (!f->env_sha_ok && (force || !(r->flags & RAIIAF_READ_NO_DIGEST))) {
        if ((rc = rf_check_digest(r, ci, f->env + RF_F1_INNER_SIZE, f->env_size, 1))) return rc;
        f->env_sha_ok = 1;
    }
    return RAIIAF_OK;
}

int rf_f1_env_json(raiiaf_reader *r, const char **json, size_t *size)
{
    struct rf_f1 *f = r->f1;
    if (f->env_chunk < 0) return rf_fail(&r->err, RAIIAF_E_NOT_FOUND, "the file holds no environment record (ENVC)");
    int rc = load_env(r, 0);
    if (rc) return rc;
    /* f->env is NUL-terminated by unzstd. */
    const char *text = (const char *)f->env + RF_F1_INNER_SIZE;
    if (strlen(text) != f->env_size) return rf_fail(&r->err, RAIIAF_E_JSON, "environment record (ENVC): NUL byte inside the JSON text");
    if (json) *json = text;
    if (size) *size = f->env_size;
    return RAIIAF_OK;
}

/* ---- verify ----------------------------------------------------------- */

typedef struct {
    raiiaf_reader *r;
    raiiaf_problem_fn report;
    void *ctx;
    int first;
    char first_msg[RF_ERRMSG_SIZE];
} problems;

static void note(problems *p, int code)
{
    if (!code) return;
    if (!p->first) {
        p->first = code;
        memcpy(p->first_msg, p->r->err.msg, sizeof p->first_msg);
    }
    if (p->report) p->report(p->ctx, code, p->r->err.msg);
}

static void warn(problems *p, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void warn(problems *p, const char *fmt, ...)
{
    char msg[RF_ERRMSG_SIZE];
    int k = snprintf(msg, sizeof msg, "warning: ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + k, sizeof msg - (size_t)k, fmt, ap);
    va_end(ap);
    if (p->report) p->report(p->ctx, RAIIAF_OK, msg);
}

static void check_env_record(problems *p, const char *text, size_t len)
{
    raiiaf_reader *r = p->r;
    json_t *env;
    char where[400];
    rf_chunk_where(r, (size_t)r->f1->env_chunk, where, sizeof where);
    int rc = rf_json_parse_as(text, len, "environment record (ENVC)", RF_JSON_PYTHON, &env, &r->err);
    if (rc) {
        note(p, rc);
        return;
    }
    json_t *comps = json_object_get(env, "components");
    if (!json_is_object(env) || !json_is_integer(json_object_get(env, "env_version")) || !json_is_array(comps)) {
        note(p, rf_fail(&r->err, RAIIAF_E_CORRUPT, "%s: the environment record needs env_version (integer) and components (array)", where));
        json_decref(env);
        return;
    }
    size_t i;
    json_t *c;
    json_array_foreach(comps, i, c) {
        json_t *s = json_object_get(c, "cononical_str"), *h = json_object_get(c, "component_sha256_digest");
        if (!json_is_string(s) || !json_is_string(h)) {
            note(p, rf_fail(&r->err, RAIIAF_E_CORRUPT, "%s: environment component %zu lacks cononical_str or component_sha256_digest", where, i));
            continue;
        }
        char hex[65];
        if (rf_sha256_hex(json_string_value(s), json_string_length(s), hex)) {
            note(p, rf_fail(&r->err, RAIIAF_E_NOMEM, "out of memory"));
            break;
        }
        if (!rf_sum_ok(strcmp(hex, json_string_value(h)), 0))
            note(p, rf_fail(&r->err, RAIIAF_E_DIGEST, "%s: environment component %zu: SHA-256 of cononical_str does not match its component_sha256_digest",
                            where, i));
    }
    json_decref(env);
}

static void check_manifest(problems *p)
{
    raiiaf_reader *r = p->r;
    struct rf_f1 *f = r->f1;
    json_t *schema;
    int rc = rf_json_parse(rf_schema_format1_json, strlen(rf_schema_format1_json), "embedded format 1 schema", &schema, &r->err);
    if (rc) {
        note(p, rc);
        return;
    }
    rc = rf_schema_validate(schema, r->manifest, &r->err);
    json_decref(schema);
    if (rc) {
        char msg[RF_ERRMSG_SIZE];
        snprintf(msg, sizeof msg, "%s", r->err.msg);
        note(p, rf_fail(&r->err, rc, "manifest %s (format 1 rules)", msg));
    }
    json_t *fi = json_object_get(json_object_get(r->manifest, "raiiaf_metadata"), "file_info");
    if (!json_is_object(fi)) return;
    static const char *const keys[] = {"version_major", "version_minor", "chunk_count"};
    uint64_t want[] = {r->major, r->minor, f->record_count};
    for (int k = 0; k < 3; k++) {
        json_t *v = json_object_get(fi, keys[k]);
        if (json_is_integer(v) && (uint64_t)json_integer_value(v) != want[k])
            note(p, rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest /raiiaf_metadata/file_info/%s: is %lld, the header says %llu", keys[k],
                            (long long)json_integer_value(v), (unsigned long long)want[k]));
    }
    json_t *magic = json_object_get(fi, "magic");
    if (json_is_string(magic) && strcmp(json_string_value(magic), "raiiaf"))
        note(p, rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest /raiiaf_metadata/file_info/magic: is not \"raiiaf\""));
    json_t *fs = json_object_get(fi, "file_size");
    if (json_is_integer(fs) && (uint64_t)json_integer_value(fs) != f->header_file_size) {
        /* The Python package recorded it a few bytes short; a larger value
         * was never written by it, and the message must say which it is. */
        long long got = (long long)json_integer_value(fs);
        unsigned long long have = f->header_file_size;
        if (got >= 0 && (unsigned long long)got < have)
            warn(p, "manifest /raiiaf_metadata/file_info/file_size is %lld, %llu bytes less than the file's %llu (the Python package recorded it a few bytes short; the header's value is used)",
                 got, have - (unsigned long long)got, have);
        else if (got >= 0)
            warn(p, "manifest /raiiaf_metadata/file_info/file_size is %lld, %llu bytes more than the file's %llu (the header's value is used)",
                 got, (unsigned long long)got - have, have);
        else
            warn(p, "manifest /raiiaf_metadata/file_info/file_size is %lld, negative; the file has %llu bytes (the header's value is used)", got, have);
    }
}

int rf_f1_verify(raiiaf_reader *r, raiiaf_problem_fn report, void *ctx)
{
    problems p = {r, report, ctx, 0, ""};
    struct rf_f1 *f = r->f1;
    rf_err_clear(&r->err);
    /* Layout: records back to back from the header to the manifest. */
    uint64_t pos = RF_F1_HEADER_SIZE;
    for (size_t i = 0; i < r->nchunks; i++) {
        const rf_rchunk *c = &r->chunks[i];
        if (c->offset != pos)
            note(&p, rf_fail(&r->err, RAIIAF_E_CORRUPT, "bytes %llu to %llu belong to no chunk listed in the manifest", (unsigned long long)pos,
                             (unsigned long long)c->offset));
        pos = c->offset + c->stored;
    }
    if (pos != f->manifest_off)
        note(&p, rf_fail(&r->err, RAIIAF_E_CORRUPT, "bytes %llu to %u belong to no chunk listed in the manifest", (unsigned long long)pos,
                         f->manifest_off));
    /* Payloads: decode each, compare its SHA-256. */
    for (size_t i = 0; i < r->ntensors; i++) {
        const rf_rchunk *c = &r->chunks[r->tensors[i].chunk];
        void *buf = c->raw <= SIZE_MAX ? malloc(c->raw ? (size_t)c->raw : 1) : NULL;
        if (!buf) {
            note(&p, rf_fail(&r->err, RAIIAF_E_NOMEM, "tensor \"%s\": out of memory for %llu bytes", r->tensors[i].name, (unsigned long long)c->raw));
            continue;
        }
        note(&p, rf_f1_decode_tensor(r, i, buf, (size_t)c->raw, 1));
        free(buf);
    }
    for (size_t ci = 0; ci < r->nchunks; ci++) {
        const char *fl = json_string_value(json_object_get(json_array_get(json_object_get(json_object_get(r->manifest, "raiiaf_metadata"), "chunks"), ci), "flags"));
        if (strcmp(r->chunks[ci].type, "LATN") && fl && strcmp(fl, "0000")) {
            char where[400];
            rf_chunk_where(r, ci, where, sizeof where);
            note(&p, rf_fail(&r->err, RAIIAF_E_CORRUPT, "%s: flags must be \"0000\"", where));
        }
    }
    if (r->image_chunk >= 0) {
        int rc = load_image(r, 1, 1);
        note(&p, rc);
        if (!rc && !f->image_known) {
            rf_err tmp = {0};
            rf_image_desc d;
            rf_image_validate(f->image + RF_F1_INNER_SIZE, f->image_size, &d, &tmp);
            warn(&p, "the image's SHA-256 matches, but it is not an image this library can check (format 1 stored any bytes): %s", tmp.msg);
        }
    }
    if (f->env_chunk >= 0) {
        int rc = load_env(r, 1);
        note(&p, rc);
        if (!rc) check_env_record(&p, (const char *)f->env + RF_F1_INNER_SIZE, f->env_size);
    }
    check_manifest(&p);
    if (p.first) rf_fail(&r->err, p.first, "%s", p.first_msg);
    else rf_err_clear(&r->err);
    return p.first;
}

static void release1(raiiaf_reader *r)
{
    rf_f1_free(r->f1);
    r->f1 = NULL;
}

const rf_backend rf_format1_backend = {
    .decode_tensor = rf_f1_decode_tensor,
    .tensor_data = rf_f1_tensor_data,
    .image = rf_f1_image,
    .env_json = rf_f1_env_json,
    .verify = rf_f1_verify,
    .release = release1,
};
