/* open.c -- the checks made when a file is opened: header, footer, the
 * manifest chunk, and the manifest records the reader relies on.  Every
 * size is checked against the file and the limits before it is used. */
#include "reader_impl.h"
#include "format1.h"
#include "recipe.h"
#include "env.h"

#include <stdlib.h>
#include <string.h>

static int check_header(raiiaf_reader *r)
{
    const unsigned char *d = r->data;
    size_t n = r->size;
    if (n > 0 && n < RF_SIGNATURE_SIZE && !memcmp(d, RF_SIGNATURE, n))
        return rf_fail(&r->err, RAIIAF_E_TRUNCATED, "file of %zu bytes ends inside the 12-byte RAIIAF signature", n);
    if (n < RF_SIGNATURE_SIZE || memcmp(d, RF_SIGNATURE, RF_SIGNATURE_SIZE)) {
        if (n >= 7 && d[0] == 0x89 && !memcmp(d + 1, "RAIIAF", 6))
            return rf_fail(&r->err, RAIIAF_E_CORRUPT, "RAIIAF signature damaged at bytes 7-11 (line endings converted by a text-mode transfer?)");
        if (n == 0) return rf_fail(&r->err, RAIIAF_E_NOT_RAIIAF, "empty file: not a RAIIAF file");
        return rf_fail(&r->err, RAIIAF_E_NOT_RAIIAF, "not a RAIIAF file (no signature at offset 0)");
    }
    if (n < RF_HEADER_SIZE) return rf_fail(&r->err, RAIIAF_E_TRUNCATED, "file of %zu bytes ends inside the 64-byte header", n);
    if (!rf_sum_ok(rf_le32(d + 60), rf_crc32c(0, d, 60))) return rf_fail(&r->err, RAIIAF_E_CHECKSUM, "header (offset 0): CRC-32C mismatch");
    r->major = rf_le16(d + 12);
    r->minor = rf_le16(d + 14);
    if (r->major != 2)
        return rf_fail(&r->err, RAIIAF_E_VERSION, "format version %u.%u is not supported (this library reads 2.x)", r->major, r->minor);
    r->header_flags = rf_le32(d + 16);
    if (r->header_flags & ~RF_FLAGS_KNOWN)
        return rf_fail(&r->err, RAIIAF_E_VERSION, "header flags %08x are not known to this library", r->header_flags & ~RF_FLAGS_KNOWN);
    for (unsigned i = 20; i < 60; i++)
        if (d[i]) return rf_fail(&r->err, RAIIAF_E_CORRUPT, "header byte %u (reserved) is not zero", i);
    return RAIIAF_OK;
}

int rf_parse_footer(raiiaf_reader *r, uint64_t at, uint64_t *manifest_off, uint64_t *prev, uint32_t *version)
{
    const unsigned char *f = r->data + at;
    if (memcmp(f, RF_FOOTER_MAGIC, 8))
        return rf_fail(&r->err, RAIIAF_E_TRUNCATED, "no footer at offset %llu (the file is truncated or was not completely written)", (unsigned long long)at);
    if (!rf_sum_ok(rf_le32(f + 60), rf_crc32c(0, f, 60)))
        return rf_fail(&r->err, RAIIAF_E_CHECKSUM, "footer at offset %llu: CRC-32C mismatch", (unsigned long long)at);
    for (unsigned i = 28; i < 60; i++)
        if (f[i]) return rf_fail(&r->err, RAIIAF_E_CORRUPT, "footer at offset %llu: reserved byte %u is not zero", (unsigned long long)at, i);
    *manifest_off = rf_le64(f + 8);
    *prev = rf_le64(f + 16);
    *version = rf_le32(f + 24);
    if (*manifest_off % RF_ALIGN || *manifest_off < RF_HEADER_SIZE || *manifest_off > at - RF_CHUNK_HEADER_SIZE)
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "footer at offset %llu: manifest offset %llu is not a 64-aligned offset before the footer",
                       (unsigned long long)at, (unsigned long long)*manifest_off);
    if (*version < 1 || (*version == 1) != (*prev == 0))
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "footer at offset %llu: manifest version %u disagrees with previous footer offset %llu",
                       (unsigned long long)at, *version, (unsigned long long)*prev);
    if (*prev && (*prev % RF_ALIGN || *prev >= *manifest_off || *prev < RF_HEADER_SIZE))
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "footer at offset %llu: previous footer offset %llu is invalid",
                       (unsigned long long)at, (unsigned long long)*prev);
    return RAIIAF_OK;
}

/* Checks the manifest chunk at `off`, ending right before `end`, and
 * returns its decoded JSON text (malloc'd, NUL-terminated). */
int rf_load_manifest(raiiaf_reader *r, uint64_t off, uint64_t end, char **text, size_t *len)
{
    const unsigned char *h = r->data + off;
    rf_chunk_fields f;
    unsigned bad = 0;
    int hc = rf_chunk_header_read(h, &f, &bad);
    if (hc == RAIIAF_E_CHECKSUM)
        return rf_fail(&r->err, RAIIAF_E_CHECKSUM, "manifest chunk header at offset %llu: CRC-32C mismatch", (unsigned long long)off);
    if (memcmp(f.type, RF_TYPE_MANIFEST, 4) || f.codec != RF_CODEC_ZSTD)
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "the footer points to offset %llu, which is not a zstd manifest chunk", (unsigned long long)off);
    if (hc)
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest chunk header at offset %llu: reserved byte %u is not zero", (unsigned long long)off, bad);
    uint64_t stored = f.stored, raw = f.raw;
    if (stored > RF_MAX_MANIFEST_STORED || raw > RF_MAX_MANIFEST_RAW)
        return rf_fail(&r->err, RAIIAF_E_LIMIT, "manifest at offset %llu declares %llu bytes stored / %llu decoded (limits %u / %u)",
                       (unsigned long long)off, (unsigned long long)stored, (unsigned long long)raw, RF_MAX_MANIFEST_STORED, RF_MAX_MANIFEST_RAW);
    if (r->in_fallback) {
        /* Charged before the CRC and the decoding it pays for. */
        if (r->fallback_bytes + stored + raw > RF_FALLBACK_MAX_BYTES) {
            r->fallback_spent = 1;
            return rf_fail(&r->err, RAIIAF_E_LIMIT, "manifest at offset %llu: not read, the search for a complete version has read %llu MiB (limit %u MiB)",
                           (unsigned long long)off, (unsigned long long)(r->fallback_bytes >> 20), RF_FALLBACK_MAX_BYTES >> 20);
        }
        r->fallback_bytes += stored + raw;
    }
    uint64_t payload_end = off + RF_CHUNK_HEADER_SIZE + stored;
    char where[64];
    snprintf(where, sizeof where, "manifest at offset %llu", (unsigned long long)off);
    /* Every version read (open, history, verify) counts against the decode
     * budget, weighted for the parse: 30 versions of 60 MiB manifests in a
     * 65 KB file would otherwise cost half a minute of work. */
    int rc = rf_charge_manifest(r, raw, where);
    if (rc) return rc;
    if (rf_align_up(payload_end) != end)
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest at offset %llu: %llu stored bytes do not end at the footer (offset %llu)",
                       (unsigned long long)off, (unsigned long long)stored, (unsigned long long)end);
    const unsigned char *p = h + RF_CHUNK_HEADER_SIZE;
    uint32_t crc = rf_crc32c(0, p, (size_t)stored);
    if (!rf_sum_ok(f.crc, crc))
        return rf_fail(&r->err, RAIIAF_E_CHECKSUM, "manifest at offset %llu: payload CRC-32C mismatch", (unsigned long long)off);
    char *t = malloc((size_t)raw + 1);
    if (!t) return rf_fail(&r->err, RAIIAF_E_NOMEM, "out of memory for a %llu-byte manifest", (unsigned long long)raw);
    rc = rf_planes_decode(p, (size_t)stored, t, (size_t)raw, 1, where, &r->err);
    if (rc) {
        free(t);
        return rc;
    }
    t[raw] = '\0';
    if (strlen(t) != raw) {
        free(t);
        return rf_fail(&r->err, RAIIAF_E_JSON, "%s: NUL byte inside the JSON text", where);
    }
    /* Every caller parses the text next (open, history, verify, the CLI):
     * refuse one that would parse into too much memory here, once. */
    if ((rc = rf_json_prescan(t, (size_t)raw, where, &r->err))) {
        free(t);
        return rc;
    }
    *text = t;
    *len = (size_t)raw;
    return RAIIAF_OK;
}

/* ---- manifest records -------------------------------------------------- */

/* Typed field access that fails with the JSON path of the field. */
static int get_uint(raiiaf_reader *r, json_t *obj, const char *key, const char *path, uint64_t max, uint64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/%s: %s", path, key,
                       v ? "must be an integer within range" : "missing");
    *out = (uint64_t)json_integer_value(v);
    return RAIIAF_OK;
}

static int get_str(raiiaf_reader *r, json_t *obj, const char *key, const char *path, const char **out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/%s: %s", path, key, v ? "must be a string" : "missing");
    *out = json_string_value(v);
    return RAIIAF_OK;
}

static int get_number(json_t *obj, const char *key, double *out)
{
    json_t *v = json_object_get(obj, key);
    *out = json_is_number(v) ? json_number_value(v) : 0;
    return RAIIAF_OK;
}

static int is_hex64(const char *s)
{
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return s[64] == '\0';
}

static int parse_chunks(raiiaf_reader *r, json_t *meta)
{
    json_t *arr = json_object_get(meta, "chunks");
    if (!json_is_array(arr)) return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest /raiiaf_metadata/chunks: must be an array");
    size_t n = json_array_size(arr);
    if (n > RF_MAX_CHUNKS) return rf_fail(&r->err, RAIIAF_E_LIMIT, "manifest lists %zu chunks (limit %u)", n, RF_MAX_CHUNKS);
    r->chunks = calloc(n ? n : 1, sizeof *r->chunks);
    if (!r->chunks) return rf_fail(&r->err, RAIIAF_E_NOMEM, "out of memory");
    r->nchunks = n;
    uint64_t next_free = RF_HEADER_SIZE;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        rf_rchunk *c = &r->chunks[i];
        char path[64];
        snprintf(path, sizeof path, "/raiiaf_metadata/chunks/%zu", i);
        if (!json_is_object(o)) return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s: must be an object", path);
        uint64_t index = 0, crc = 0;
        const char *type = NULL, *codec = NULL, *sha = NULL;
        int rc;
        if ((rc = get_uint(r, o, "index", path, UINT32_MAX, &index)) || (rc = get_str(r, o, "type", path, &type)) ||
            (rc = get_uint(r, o, "offset", path, INT64_MAX, &c->offset)) || (rc = get_str(r, o, "codec", path, &codec)) ||
            (rc = get_uint(r, o, "stored_size", path, INT64_MAX, &c->stored)) ||
            (rc = get_uint(r, o, "raw_size", path, INT64_MAX, &c->raw)) ||
            (rc = get_uint(r, o, "crc32c", path, UINT32_MAX, &crc)) || (rc = get_str(r, o, "sha256", path, &sha)))
            return rc;
        if (index != i) return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/index: is %llu, must be %zu", path, (unsigned long long)index, i);
        int printable = strlen(type) == 4;
        for (int k = 0; printable && k < 4; k++) printable = type[k] >= 0x20 && type[k] <= 0x7e;
        if (!printable)
            return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/type: must be 4 printable ASCII characters", path);
        memcpy(c->type, type, 5);
        raiiaf_codec cd;
        if (raiiaf_codec_from_name(codec, &cd) || cd == RAIIAF_CODEC_AUTO)
            return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/codec: unknown codec \"%s\"", path, codec);
        c->codec = cd;
        c->crc = (uint32_t)crc;
        if (!is_hex64(sha)) return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/sha256: must be 64 lowercase hex digits", path);
        memcpy(c->sha, sha, 65);
        /* Chunks lie in file order, 64-aligned, without overlap, before the manifest. */
        uint64_t end;
        if (c->offset % RF_ALIGN || c->offset < next_free || rf_add_u64(c->offset, RF_CHUNK_HEADER_SIZE, &end) ||
            rf_add_u64(end, c->stored, &end) || end > r->manifest_off)
            return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s: chunk at offset %llu with %llu stored bytes does not fit between offset %llu and the manifest at %llu",
                           path, (unsigned long long)c->offset, (unsigned long long)c->stored, (unsigned long long)next_free,
                           (unsigned long long)r->manifest_off);
        if (c->codec == RF_CODEC_RAW && c->raw != c->stored)
            return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s: raw chunk with stored size %llu and raw size %llu", path,
                           (unsigned long long)c->stored, (unsigned long long)c->raw);
        if (c->codec == RF_CODEC_RECIPE) {
            /* A recipe expands without bound by design, so it has its own
             * limit; and a 2.0 reader must have been stopped by the flag. */
            if (!(r->header_flags & RF_FLAG_RECIPES))
                return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s: codec recipe in a file whose header lacks the recipe flag", path);
            if (strcmp(c->type, RF_TYPE_TENSOR) || c->stored != RF_RECIPE_PAYLOAD)
                return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s: a recipe is a TENS chunk of %u stored bytes", path, RF_RECIPE_PAYLOAD);
            if (c->raw > RF_MAX_RECIPE_BYTES)
                return rf_fail(&r->err, RAIIAF_E_LIMIT, "manifest %s: recipe declares %llu bytes (limit %llu)", path,
                               (unsigned long long)c->raw, (unsigned long long)RF_MAX_RECIPE_BYTES);
            next_free = rf_align_up(end);
            continue;
        }
        uint64_t bound;
        if (c->codec != RF_CODEC_RAW && (rf_mul_u64(c->stored, RF_MAX_EXPANSION, &bound) || c->raw > bound + RF_ALIGN * 1024))
            return rf_fail(&r->err, RAIIAF_E_LIMIT, "manifest %s: %llu stored bytes cannot decode to the %llu bytes declared (over %ux expansion)",
                           path, (unsigned long long)c->stored, (unsigned long long)c->raw, RF_MAX_EXPANSION);
        next_free = rf_align_up(end);
    }
    return RAIIAF_OK;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(((const rf_rtensor *)a)->name, ((const rf_rtensor *)b)->name);
}

/* "reference": the name of an earlier entry of the same dtype and shape;
 * only raw and zstd payloads (bits, not values) can be XOR residuals. */
static int parse_reference(raiiaf_reader *r, json_t *o, size_t i, const char *path)
{
    rf_rtensor *t = &r->tensors[i];
    json_t *v = json_object_get(o, "reference");
    if (!v) return RAIIAF_OK;
    if (!json_is_string(v)) return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/reference: must be a string", path);
    if (!(r->header_flags & RF_FLAG_REFERENCES))
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/reference: in a file whose header lacks the reference flag", path);
    const char *name = json_string_value(v);
    for (size_t k = 0; k < i && !t->has_ref; k++)
        if (!strcmp(r->tensors[k].name, name)) {
            t->has_ref = 1;
            t->ref = k;
        }
    if (!t->has_ref)
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/reference: no earlier tensor is named \"%s\"", path, name);
    const rf_rtensor *b = &r->tensors[t->ref];
    if (b->dtype != t->dtype || b->rank != t->rank || memcmp(b->shape, t->shape, t->rank * sizeof t->shape[0]))
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/reference: \"%s\" has another dtype or shape", path, name);
    unsigned codec = r->chunks[t->chunk].codec;
    if (codec != RF_CODEC_RAW && codec != RF_CODEC_ZSTD)
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/reference: a relative tensor's codec must be raw or zstd, not %s", path,
                       raiiaf_codec_name((raiiaf_codec)codec));
    r->tensors[t->ref].referenced = 1;
    t->depth = b->depth + 1;
    if (t->depth >= RF_MAX_REFERENCE_DEPTH)
        return rf_fail(&r->err, RAIIAF_E_LIMIT, "manifest %s/reference: chain of references longer than %u", path, RF_MAX_REFERENCE_DEPTH);
    return RAIIAF_OK;
}

static int parse_tensors(raiiaf_reader *r, json_t *meta)
{
    json_t *arr = json_object_get(meta, "tensors");
    if (!json_is_array(arr)) return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest /raiiaf_metadata/tensors: must be an array");
    size_t n = json_array_size(arr);
    if (n > r->nchunks) return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest lists %zu tensors but only %zu chunks", n, r->nchunks);
    r->tensors = calloc(n ? n : 1, sizeof *r->tensors);
    if (!r->tensors) return rf_fail(&r->err, RAIIAF_E_NOMEM, "out of memory");
    r->ntensors = n;
    unsigned char *used = calloc(r->nchunks ? r->nchunks : 1, 1);
    if (!used) return rf_fail(&r->err, RAIIAF_E_NOMEM, "out of memory");
    int rc = RAIIAF_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        json_t *o = json_array_get(arr, i);
        rf_rtensor *t = &r->tensors[i];
        char path[64];
        snprintf(path, sizeof path, "/raiiaf_metadata/tensors/%zu", i);
        const char *dtype = NULL, *codec = NULL;
        uint64_t chunk = 0;
        if (!json_is_object(o)) {
            rc = rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s: must be an object", path);
            break;
        }
        if ((rc = get_str(r, o, "name", path, &t->name)) || (rc = get_str(r, o, "dtype", path, &dtype)) ||
            (rc = get_str(r, o, "codec", path, &codec)) || (rc = get_uint(r, o, "chunk", path, UINT32_MAX, &chunk)))
            break;
        size_t nlen = strlen(t->name);
        if (nlen == 0 || nlen > RF_MAX_NAME_BYTES) {
            rc = rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/name: must be 1 to %u bytes", path, RF_MAX_NAME_BYTES);
            break;
        }
        t->dtype = raiiaf_dtype_from_name(dtype);
        if (!t->dtype || strcmp(dtype, raiiaf_dtype_name(t->dtype))) {
            rc = rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/dtype: unknown dtype \"%s\"", path, dtype);
            break;
        }
        if (chunk >= r->nchunks || strcmp(r->chunks[chunk].type, RF_TYPE_TENSOR) || used[chunk]) {
            rc = rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/chunk: %llu is not an unused TENS chunk", path, (unsigned long long)chunk);
            break;
        }
        used[chunk] = 1;
        t->chunk = (size_t)chunk;
        const rf_rchunk *c = &r->chunks[chunk];
        if (strcmp(codec, raiiaf_codec_name((raiiaf_codec)c->codec))) {
            rc = rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/codec: \"%s\" disagrees with chunk %llu (%s)", path, codec,
                         (unsigned long long)chunk, raiiaf_codec_name((raiiaf_codec)c->codec));
            break;
        }
        json_t *shape = json_object_get(o, "shape");
        if (!json_is_array(shape) || json_array_size(shape) > RAIIAF_MAX_RANK) {
            rc = rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/shape: must be an array of at most %d sizes", path, RAIIAF_MAX_RANK);
            break;
        }
        t->rank = (unsigned)json_array_size(shape);
        uint64_t bytes = raiiaf_dtype_size(t->dtype);
        for (unsigned k = 0; k < t->rank && !rc; k++) {
            json_t *v = json_array_get(shape, k);
            if (!json_is_integer(v) || json_integer_value(v) < 0 || rf_mul_u64(bytes, (uint64_t)json_integer_value(v), &bytes) ||
                bytes > RF_MAX_TENSOR_BYTES)
                rc = rf_fail(&r->err, RAIIAF_E_LIMIT, "manifest %s/shape/%u: must be a non-negative integer, with the tensor under %llu bytes",
                             path, k, (unsigned long long)RF_MAX_TENSOR_BYTES);
            else
                t->shape[k] = (uint64_t)json_integer_value(v);
        }
        if (rc) break;
        if (bytes != c->raw) {
            rc = rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s: shape and dtype make %llu bytes, chunk %llu holds %llu", path,
                         (unsigned long long)bytes, (unsigned long long)chunk, (unsigned long long)c->raw);
            break;
        }
        if (c->codec == RF_CODEC_RECIPE && !rf_recipe_dtype_ok(t->dtype)) {
            rc = rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s: a recipe cannot make %s values", path, dtype);
            break;
        }
        if (c->codec == RF_CODEC_ZFP && !rf_zfp_supported(t->dtype, t->rank, t->shape)) {
            rc = rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s: zfp cannot hold this dtype and shape", path);
            break;
        }
        get_number(o, "tolerance", &t->tolerance);
        get_number(o, "max_error", &t->max_error);
        if ((rc = parse_reference(r, o, i, path))) break;
    }
    free(used);
    if (rc) return rc;
    /* Names are unique: sort a copy and compare neighbours (n log n, so a
     * file listing 65536 tensors does not cost 2^31 comparisons). */
    if (n > 1) {
        rf_rtensor *copy = malloc(n * sizeof *copy);
        if (!copy) return rf_fail(&r->err, RAIIAF_E_NOMEM, "out of memory");
        memcpy(copy, r->tensors, n * sizeof *copy);
        qsort(copy, n, sizeof *copy, cmp_names);
        for (size_t i = 1; i < n && !rc; i++)
            if (!strcmp(copy[i - 1].name, copy[i].name))
                rc = rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest /raiiaf_metadata/tensors: the name \"%s\" appears twice", copy[i].name);
        free(copy);
    }
    return rc;
}

static int parse_image(raiiaf_reader *r, json_t *meta)
{
    json_t *img = json_object_get(meta, "image");
    if (!img) return RAIIAF_OK;
    const char *path = "/raiiaf_metadata/image";
    if (!json_is_object(img)) return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s: must be an object", path);
    uint64_t chunk = 0, w = 0, h = 0;
    const char *format = NULL;
    int rc;
    if ((rc = get_uint(r, img, "chunk", path, UINT32_MAX, &chunk)) || (rc = get_str(r, img, "format", path, &format)) ||
        (rc = get_uint(r, img, "width", path, UINT32_MAX, &w)) || (rc = get_uint(r, img, "height", path, UINT32_MAX, &h)))
        return rc;
    if (chunk >= r->nchunks || strcmp(r->chunks[chunk].type, RF_TYPE_IMAGE) || r->chunks[chunk].codec != RF_CODEC_RAW)
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/chunk: %llu is not a raw IMAG chunk", path, (unsigned long long)chunk);
    json_t *size = json_object_get(img, "size");
    if (size && (!json_is_integer(size) || (uint64_t)json_integer_value(size) != r->chunks[chunk].stored))
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/size: disagrees with the %llu bytes of chunk %llu", path,
                       (unsigned long long)r->chunks[chunk].stored, (unsigned long long)chunk);
    static const char *const formats[] = {"png", "jpeg", "webp"};
    r->image_format = NULL;
    for (int i = 0; i < 3; i++)
        if (!strcmp(format, formats[i])) r->image_format = formats[i];
    if (!r->image_format) return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/format: unknown image format \"%s\"", path, format);
    r->image_chunk = (long)chunk;
    r->image_width = (uint32_t)w;
    r->image_height = (uint32_t)h;
    return RAIIAF_OK;
}

int rf_open_parsed(raiiaf_reader *r)
{
    r->cache_valid = 0; /* indexes of another version's tensors */
    if (!r->decode_limit_set) r->decode_limit = raiiaf_decode_limit_default(r->size);
    if (rf_f1_detect(r->data, r->size)) {
        r->be = &rf_format1_backend; /* format1_read.c; its release frees what a failed open left */
        int rc = rf_f1_open(r);
        if (!rc && r->want_version > 1) {
            rc = rf_fail(&r->err, RAIIAF_E_NOT_FOUND, "a format 1 file has a single manifest version");
            r->manifest = NULL; /* f1 keeps its own state; mark not open */
        }
        return rc;
    }
    r->be = &rf_format2_backend;
    int rc = check_header(r);
    if (rc) return rc;
    if (r->size < RF_HEADER_SIZE + RF_CHUNK_HEADER_SIZE + RF_FOOTER_SIZE)
        return rf_fail(&r->err, RAIIAF_E_TRUNCATED, "file of %zu bytes is too short to hold a manifest and footer", r->size);
    if (r->size % RF_ALIGN) {
        rc = rf_fail(&r->err, RAIIAF_E_CORRUPT, "file size %zu is not a multiple of 64: the file was truncated or had bytes appended", r->size);
    } else {
        rc = rf_open_footer(r, r->size - RF_FOOTER_SIZE);
    }
    if (rc || r->want_version) {
        r->in_fallback = 1;
        r->fallback_spent = 0;
        r->fallback_footers = 0;
        r->fallback_bytes = 0;
        rc = rf_open_fallback(r, rc); /* below */
        r->in_fallback = 0;
        if (rc && r->fallback_spent) {
            /* The first failure stays in the message: it is what is wrong
             * with the file; the budget is why no earlier version was found. */
            char first[RF_ERRMSG_SIZE];
            snprintf(first, sizeof first, "%s", r->err.msg);
            rc = rf_fail(&r->err, RAIIAF_E_LIMIT, "%s; the search back for an earlier complete version gave up after %u footers and %llu MiB of manifests (limits %u footers, %u MiB)",
                         first, r->fallback_footers, (unsigned long long)(r->fallback_bytes >> 20), RF_FALLBACK_MAX_FOOTERS,
                         RF_FALLBACK_MAX_BYTES >> 20);
        }
        return rc;
    }
    r->latest_version = r->manifest_version;
    r->latest_footer = r->size - RF_FOOTER_SIZE;
    return RAIIAF_OK;
}

void rf_reader_reset(raiiaf_reader *r)
{
    free(r->manifest_text);
    r->manifest_text = NULL;
    r->manifest_len = 0;
    json_decref(r->manifest);
    r->manifest = NULL;
    free(r->chunks);
    r->chunks = NULL;
    r->nchunks = 0;
    free(r->tensors);
    r->tensors = NULL;
    r->ntensors = 0;
    r->image_chunk = -1;
    r->image_format = NULL;
    r->env_chunk = 0;
}

int rf_open_footer(raiiaf_reader *r, uint64_t footer)
{
    int rc;
    rf_reader_reset(r);
    if ((rc = rf_parse_footer(r, footer, &r->manifest_off, &r->prev_footer, &r->manifest_version))) return rc;
    if (r->in_fallback && r->fallback_footers >= RF_FALLBACK_MAX_FOOTERS) {
        r->fallback_spent = 1;
        return rf_fail(&r->err, RAIIAF_E_LIMIT, "footer at offset %llu: not tried, the search for a complete version has tried %u (limit)",
                       (unsigned long long)footer, RF_FALLBACK_MAX_FOOTERS);
    }
    r->fallback_footers += r->in_fallback;
    if ((rc = rf_load_manifest(r, r->manifest_off, footer, &r->manifest_text, &r->manifest_len))) return rc;
    json_t *m;
    if ((rc = rf_json_parse(r->manifest_text, r->manifest_len, "manifest", &m, &r->err))) return rc;
    json_t *meta = json_object_get(m, "raiiaf_metadata");
    if (!json_is_object(meta)) {
        json_decref(m);
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest /raiiaf_metadata: missing or not an object");
    }
    r->manifest = m;
    if ((rc = parse_chunks(r, meta)) || (rc = parse_tensors(r, meta)) || (rc = parse_image(r, meta)) ||
        (rc = rf_env_open_check(r, meta))) {
        r->manifest = NULL; /* "not open": access calls refuse */
        json_decref(m);
        return rc;
    }
    rf_err_clear(&r->err);
    return RAIIAF_OK;
}

/* ---- the fallback: torn tails and older versions (SPEC §11 step 9) ------ */

/* A torn append is at most one manifest, its footer and the small chunks
 * an edit adds (SIGN): the backward scan for a complete version is bounded
 * by this many bytes from the end. */
#define RF_TORN_SCAN_LIMIT ((uint64_t)RF_MAX_MANIFEST_STORED + (4u << 20))


int rf_open_fallback(raiiaf_reader *r, int first_rc)
{
    rf_err saved = r->err;
    uint64_t found = 0;
    int ok = 0;
    if (!first_rc) {
        found = r->size - RF_FOOTER_SIZE;
        ok = 1;
    } else if (first_rc != RAIIAF_E_NOMEM && first_rc != RAIIAF_E_IO) {
        uint64_t top = (r->size - RF_FOOTER_SIZE) / RF_ALIGN * RF_ALIGN;
        uint64_t floor = RF_HEADER_SIZE + RF_CHUNK_HEADER_SIZE;
        if (r->size > RF_TORN_SCAN_LIMIT && r->size - RF_TORN_SCAN_LIMIT > floor) floor = r->size - RF_TORN_SCAN_LIMIT;
        for (uint64_t f = top; f >= floor; f -= RF_ALIGN) {
            if (f + RF_FOOTER_SIZE == r->size) continue; /* the normal open tried it */
            if (memcmp(r->data + f, RF_FOOTER_MAGIC, 8)) continue;
            if (!rf_open_footer(r, f)) {
                found = f;
                ok = 1;
                break;
            }
        }
    }
    if (!ok) {
        rf_reader_reset(r);
        r->err = saved;
        return first_rc;
    }
    r->trailing = r->size - (found + RF_FOOTER_SIZE);
    r->size = (size_t)(found + RF_FOOTER_SIZE);
    r->latest_version = r->manifest_version;
    r->latest_footer = found;
    if (!r->want_version || r->want_version == r->manifest_version) return RAIIAF_OK;
    if (r->want_version > r->manifest_version) {
        uint32_t latest = r->manifest_version;
        rf_reader_reset(r);
        return rf_fail(&r->err, RAIIAF_E_NOT_FOUND, "the file has manifest versions 1 to %u, not %u", latest, r->want_version);
    }
    uint64_t prev = r->prev_footer;
    while (prev) {
        uint64_t moff, pprev;
        uint32_t v;
        int rc = rf_parse_footer(r, prev, &moff, &pprev, &v);
        if (rc) {
            rf_reader_reset(r);
            return rc;
        }
        if (v == r->want_version) {
            rc = rf_open_footer(r, prev);
            if (!rc) r->size = (size_t)(prev + RF_FOOTER_SIZE);
            return rc;
        }
        if (v < r->want_version || (pprev && pprev >= prev)) break;
        prev = pprev;
    }
    rf_reader_reset(r);
    return rf_fail(&r->err, RAIIAF_E_NOT_FOUND, "manifest version %u not found in the footer chain", r->want_version);
}
