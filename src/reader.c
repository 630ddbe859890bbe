/* reader.c -- opening format 2 files and reading what they hold.
 *
 * Opening costs two small reads whatever the file size: the footer at the
 * end, then the manifest it points to.  Payloads are checked (CRC-32C
 * always, SHA-256 unless disabled) only when they are read. */
#include "reader_impl.h"
#include "recipe.h"

#include <stdlib.h>
#include <string.h>

const char *raiiaf_reader_errmsg(const raiiaf_reader *r) { return r ? r->err.msg : "no reader"; }

void raiiaf_reader_format(const raiiaf_reader *r, unsigned *major, unsigned *minor)
{
    if (major) *major = r ? r->major : 0;
    if (minor) *minor = r ? r->minor : 0;
}

const char *raiiaf_reader_manifest(const raiiaf_reader *r, size_t *size)
{
    if (size) *size = r && r->manifest_text ? r->manifest_len : 0;
    return r ? r->manifest_text : NULL;
}

uint64_t raiiaf_reader_file_size(const raiiaf_reader *r) { return r ? r->size : 0; }
size_t raiiaf_reader_tensor_count(const raiiaf_reader *r) { return r ? r->ntensors : 0; }
size_t raiiaf_reader_chunk_count(const raiiaf_reader *r) { return r ? r->nchunks : 0; }

void raiiaf_reader_free(raiiaf_reader *r)
{
    if (!r) return;
    if (r->mapped) rf_unmap(r->data, r->map_size);
    free(r->manifest_text);
    json_decref(r->manifest);
    free(r->chunks);
    free(r->tensors);
    free(r->cache);
    if (r->be && r->be->release) r->be->release(r);
    free(r->env_text);
    free(r);
}

static raiiaf_reader *reader_new(unsigned flags)
{
    raiiaf_reader *r = calloc(1, sizeof *r);
    if (r) {
        r->flags = flags;
        r->image_chunk = -1;
    }
    return r;
}

int raiiaf_reader_new(unsigned flags, raiiaf_reader **out)
{
    if (!out) return RAIIAF_E_ARG;
    return (*out = reader_new(flags)) ? RAIIAF_OK : RAIIAF_E_NOMEM;
}

/* A reader made by raiiaf_reader_new() can be opened once. */
static int fresh(raiiaf_reader *r)
{
    if (r->data || r->manifest) return rf_fail(&r->err, RAIIAF_E_STATE, "this reader was already opened: make a new one");
    return RAIIAF_OK;
}

int raiiaf_reader_open(raiiaf_reader *r, const char *path)
{
    if (!r) return RAIIAF_E_ARG;
    int rc = fresh(r);
    if (rc) return rc;
    if (!path) return rf_fail(&r->err, RAIIAF_E_ARG, "no path given");
    if ((rc = rf_map(path, &r->data, &r->size, &r->err))) return rc;
    r->mapped = 1;
    r->map_size = r->size;
    return rf_open_parsed(r);
}

int raiiaf_reader_open_buffer(raiiaf_reader *r, const void *data, size_t size)
{
    if (!r) return RAIIAF_E_ARG;
    int rc = fresh(r);
    if (rc) return rc;
    if (!data && size) return rf_fail(&r->err, RAIIAF_E_ARG, "data is NULL");
    r->data = data;
    r->size = size;
    return rf_open_parsed(r);
}

int raiiaf_reader_open_file(const char *path, unsigned flags, raiiaf_reader **out)
{
    int rc = raiiaf_reader_new(flags, out);
    return rc ? rc : raiiaf_reader_open(*out, path);
}

int raiiaf_reader_open_memory(const void *data, size_t size, unsigned flags, raiiaf_reader **out)
{
    int rc = raiiaf_reader_new(flags, out);
    return rc ? rc : raiiaf_reader_open_buffer(*out, data, size);
}

static int opened(raiiaf_reader *r)
{
    if (!r->manifest) return rf_fail(&r->err, RAIIAF_E_STATE, "the file did not open: %s", r->err.msg[0] ? r->err.msg : "no manifest");
    return RAIIAF_OK;
}

/* The checks every call on tensor `index` starts with. */
static int opened_tensor(raiiaf_reader *r, size_t index)
{
    int rc = opened(r);
    if (rc) return rc;
    if (index >= r->ntensors) return rf_fail(&r->err, RAIIAF_E_NOT_FOUND, "tensor index %zu out of range (%zu tensors)", index, r->ntensors);
    return RAIIAF_OK;
}

int raiiaf_reader_tensor_info(raiiaf_reader *r, size_t index, raiiaf_tensor_info *info)
{
    if (!r || !info) return RAIIAF_E_ARG;
    int rc = opened_tensor(r, index);
    if (rc) return rc;
    const rf_rtensor *t = &r->tensors[index];
    const rf_rchunk *c = &r->chunks[t->chunk];
    memset(info, 0, sizeof *info);
    info->name = t->name;
    info->dtype = t->dtype;
    info->rank = t->rank;
    memcpy(info->shape, t->shape, sizeof t->shape);
    info->codec = (raiiaf_codec)c->codec;
    info->stored_size = c->stored;
    info->raw_size = c->raw;
    info->tolerance = t->tolerance;
    info->max_error = t->max_error;
    info->reference = t->has_ref ? r->tensors[t->ref].name : NULL;
    return RAIIAF_OK;
}

int raiiaf_reader_find_tensor(raiiaf_reader *r, const char *name, size_t *index)
{
    if (!r || !name || !index) return RAIIAF_E_ARG;
    int rc = opened(r);
    if (rc) return rc;
    for (size_t i = 0; i < r->ntensors; i++)
        if (!strcmp(r->tensors[i].name, name)) {
            *index = i;
            return RAIIAF_OK;
        }
    return rf_fail(&r->err, RAIIAF_E_NOT_FOUND, "no tensor named \"%s\"", name);
}

int raiiaf_reader_chunk_info(raiiaf_reader *r, size_t index, raiiaf_chunk_info *info)
{
    if (!r || !info) return RAIIAF_E_ARG;
    int rc = opened(r);
    if (rc) return rc;
    if (index >= r->nchunks) return rf_fail(&r->err, RAIIAF_E_NOT_FOUND, "chunk index %zu out of range (%zu chunks)", index, r->nchunks);
    const rf_rchunk *c = &r->chunks[index];
    memcpy(info->type, c->type, 5);
    info->index = (unsigned)index;
    info->codec = (raiiaf_codec)c->codec;
    info->offset = c->offset;
    info->stored_size = c->stored;
    info->raw_size = c->raw;
    return RAIIAF_OK;
}

int raiiaf_reader_chunk_data(raiiaf_reader *r, size_t index, const void **data, size_t *size)
{
    if (!r || !data) return RAIIAF_E_ARG;
    int rc = opened(r);
    if (rc) return rc;
    if (r->f1) return rf_fail(&r->err, RAIIAF_E_CODEC, "format 1 chunks are read through the tensor and image calls");
    if (index >= r->nchunks) return rf_fail(&r->err, RAIIAF_E_NOT_FOUND, "chunk index %zu out of range (%zu chunks)", index, r->nchunks);
    const rf_rchunk *c = &r->chunks[index];
    if (c->codec != RF_CODEC_RAW)
        return rf_fail(&r->err, RAIIAF_E_CODEC, "chunk %zu (%s) is stored with codec %s; read it as a tensor", index, c->type,
                       raiiaf_codec_name((raiiaf_codec)c->codec) ? raiiaf_codec_name((raiiaf_codec)c->codec) : "?");
    const unsigned char *p;
    if ((rc = rf_check_raw(r, index, &p, 0))) return rc;
    *data = p;
    if (size) *size = (size_t)c->stored;
    return RAIIAF_OK;
}

int raiiaf_reader_set_decode_limit(raiiaf_reader *r, uint64_t bytes)
{
    if (!r) return RAIIAF_E_ARG;
    r->decode_limit = bytes;
    r->decode_limit_set = 1;
    r->decode_spent = 0;
    return RAIIAF_OK;
}

/* Decodes tensor `index`'s own payload: its values, or for a relative
 * tensor the XOR residual. */
static int decode_payload(raiiaf_reader *r, size_t index, void *dst, size_t dst_size, int force_digest)
{
    const rf_rtensor *t = &r->tensors[index];
    const rf_rchunk *c = &r->chunks[t->chunk];
    if (dst_size != c->raw)
        return rf_fail(&r->err, RAIIAF_E_BUFFER, "tensor \"%s\" needs a buffer of %llu bytes, got %zu", t->name,
                       (unsigned long long)c->raw, dst_size);
    char where[400];
    rf_chunk_where(r, t->chunk, where, sizeof where);
    /* Charged before any work: a payload's cost is its declared size, and
     * each link of a reference chain is charged each time it is decoded. */
    int rc = rf_charge_decode(r, c->raw, where);
    if (rc) return rc;
    const unsigned char *p;
    if ((rc = rf_check_chunk(r, t->chunk, &p))) return rc;
    switch (c->codec) {
    case RF_CODEC_RAW:
        if (dst_size) memcpy(dst, p, dst_size);
        break;
    case RF_CODEC_ZSTD:
        rc = rf_planes_decode(p, (size_t)c->stored, dst, dst_size, (unsigned)raiiaf_dtype_size(t->dtype), where, &r->err);
        break;
    case RF_CODEC_ZFP:
        rc = rf_zfp_decode(p, (size_t)c->stored, t->dtype, t->rank, t->shape, dst, dst_size, where, &r->err);
        break;
    case RF_CODEC_RECIPE:
        rc = rf_recipe_decode(p, c->stored, t->dtype, t->rank, t->shape, dst, dst_size, where, &r->err);
        if (rc) return rc;
        /* Regenerated values are only trusted through the digest. */
        rc = rf_check_digest(r, t->chunk, dst, dst_size, 1);
        if (rc == RAIIAF_E_DIGEST)
            rc = rf_fail(&r->err, RAIIAF_E_DIGEST, "%s: regenerated noise does not match the SHA-256 recorded (a different math library, or damage)", where);
        return rc;
    default:
        rc = rf_fail(&r->err, RAIIAF_E_CORRUPT, "%s: unknown codec %u", where, c->codec);
    }
    if (rc) return rc;
    return rf_check_digest(r, t->chunk, dst, dst_size, force_digest);
}

int rf_check_recipe_tensor(raiiaf_reader *r, size_t index)
{
    const rf_rtensor *t = &r->tensors[index];
    const rf_rchunk *c = &r->chunks[t->chunk];
    char where[400];
    rf_chunk_where(r, t->chunk, where, sizeof where);
    int rc = rf_charge_decode(r, c->raw, where);
    if (rc) return rc;
    const unsigned char *p;
    if ((rc = rf_check_chunk(r, t->chunk, &p))) return rc;
    char sha[65];
    if ((rc = rf_recipe_digest(p, c->stored, t->dtype, t->rank, t->shape, c->raw, sha, where, &r->err))) return rc;
    rc = rf_check_digest_hex(r, t->chunk, sha);
    if (rc == RAIIAF_E_DIGEST)
        rc = rf_fail(&r->err, RAIIAF_E_DIGEST, "%s: regenerated noise does not match the SHA-256 recorded (a different math library, or damage)", where);
    return rc;
}

/* Keeps a copy of tensor `index`'s values when a later tensor refers to
 * it.  Best effort: without memory there is simply no cache. */
static void remember(raiiaf_reader *r, size_t index, const void *values, size_t size, int force_digest)
{
    if (!r->tensors[index].referenced) return;
    r->cache_valid = 0;
    if (size > r->cache_cap) {
        unsigned char *p = realloc(r->cache, size);
        if (!p) return;
        r->cache = p;
        r->cache_cap = size;
    }
    if (size) memcpy(r->cache, values, size);
    r->cache_index = index;
    r->cache_valid = 1;
    r->cache_checked = force_digest || !(r->flags & RAIIAF_READ_NO_DIGEST);
}

int rf_decode_tensor(raiiaf_reader *r, size_t index, void *dst, size_t dst_size, int force_digest)
{
    const rf_rtensor *t = &r->tensors[index];
    int rc;
    if (!t->has_ref) {
        rc = decode_payload(r, index, dst, dst_size, force_digest);
        if (!rc) remember(r, index, dst, dst_size, force_digest);
        return rc;
    }
    /* Relative: start from the chain's base (or the cached link nearest
     * the top), then apply each residual on the way back up.  open.c
     * bounded the chain to RF_MAX_REFERENCE_DEPTH. */
    size_t chain[RF_MAX_REFERENCE_DEPTH], n = 0;
    int cached = 0;
    for (size_t k = index;; k = r->tensors[k].ref) {
        chain[n++] = k;
        if (k != index && r->cache_valid && r->cache_index == k && (r->cache_checked || !force_digest)) {
            cached = 1;
            break;
        }
        if (!r->tensors[k].has_ref || n == RF_MAX_REFERENCE_DEPTH) break;
    }
    if (!cached && r->tensors[chain[n - 1]].has_ref)
        return rf_fail(&r->err, RAIIAF_E_LIMIT, "tensor \"%s\": chain of references longer than %u", t->name, RF_MAX_REFERENCE_DEPTH);
    if (cached)
        memcpy(dst, r->cache, dst_size);
    else if ((rc = decode_payload(r, chain[n - 1], dst, dst_size, force_digest)))
        return rc;
    unsigned char *tmp = malloc(dst_size ? dst_size : 1), *d = dst;
    if (!tmp) return rf_fail(&r->err, RAIIAF_E_NOMEM, "tensor \"%s\": out of memory for its reference chain", t->name);
    rc = RAIIAF_OK;
    for (size_t k = n - 1; k-- > 0 && !rc;) {
        rc = decode_payload(r, chain[k], tmp, dst_size, force_digest);
        for (size_t i = 0; !rc && i < dst_size; i++) d[i] ^= tmp[i];
    }
    free(tmp);
    if (!rc) remember(r, index, dst, dst_size, force_digest);
    return rc;
}

int raiiaf_reader_read_tensor(raiiaf_reader *r, size_t index, void *dst, size_t dst_size)
{
    if (!r || (!dst && dst_size)) return RAIIAF_E_ARG;
    int rc = opened_tensor(r, index);
    if (rc) return rc;
    rf_err_clear(&r->err);
    return r->be->decode_tensor(r, index, dst, dst_size, 0);
}

int raiiaf_reader_tensor_data(raiiaf_reader *r, size_t index, const void **data)
{
    if (!r || !data) return RAIIAF_E_ARG;
    int rc = opened_tensor(r, index);
    return rc ? rc : r->be->tensor_data(r, index, data);
}

int rf_f2_tensor_data(raiiaf_reader *r, size_t index, const void **data)
{
    int rc;
    const rf_rtensor *t = &r->tensors[index];
    const rf_rchunk *c = &r->chunks[t->chunk];
    if (c->codec != RF_CODEC_RAW)
        return rf_fail(&r->err, RAIIAF_E_CODEC, "tensor \"%s\" is stored with codec %s; only raw tensors can be mapped without a copy",
                       t->name, raiiaf_codec_name((raiiaf_codec)c->codec));
    if (t->has_ref)
        return rf_fail(&r->err, RAIIAF_E_CODEC, "tensor \"%s\" is stored relative to \"%s\"; only tensors stored alone can be mapped without a copy",
                       t->name, r->tensors[t->ref].name);
    const unsigned char *p;
    if ((rc = rf_check_raw(r, t->chunk, &p, 0))) return rc;
    *data = p;
    return RAIIAF_OK;
}

int raiiaf_reader_image(raiiaf_reader *r, const void **data, size_t *size, const char **format, uint32_t *width,
                        uint32_t *height)
{
    if (!r) return RAIIAF_E_ARG;
    int rc = opened(r);
    return rc ? rc : r->be->image(r, data, size, format, width, height);
}

int rf_f2_image(raiiaf_reader *r, const void **data, size_t *size, const char **format, uint32_t *width, uint32_t *height)
{
    int rc;
    if (r->image_chunk < 0) return rf_fail(&r->err, RAIIAF_E_NOT_FOUND, "the file holds no image");
    const rf_rchunk *c = &r->chunks[r->image_chunk];
    const unsigned char *p;
    if ((rc = rf_check_raw(r, (size_t)r->image_chunk, &p, 0))) return rc;
    if (data) *data = p;
    if (size) *size = (size_t)c->stored;
    if (format) *format = r->image_format;
    if (width) *width = r->image_width;
    if (height) *height = r->image_height;
    return RAIIAF_OK;
}

int raiiaf_reader_env_json(raiiaf_reader *r, const char **json, size_t *size)
{
    if (!r) return RAIIAF_E_ARG;
    int rc = opened(r);
    return rc ? rc : r->be->env_json(r, json, size);
}

int rf_f2_env_json(raiiaf_reader *r, const char **json, size_t *size)
{
    (void)json, (void)size;
    /* Format 2 keeps its record in the ENVR chunk: raiiaf_reader_env_record (env_read.c). */
    return rf_fail(&r->err, RAIIAF_E_NOT_FOUND, "the file holds no format 1 environment record (ENVC)");
}

int raiiaf_reader_tensor_recipe(raiiaf_reader *r, size_t index, raiiaf_recipe *recipe)
{
    if (!r || !recipe) return RAIIAF_E_ARG;
    int rc = opened_tensor(r, index);
    if (rc) return rc;
    const rf_rtensor *t = &r->tensors[index];
    if (r->f1 || r->chunks[t->chunk].codec != RF_CODEC_RECIPE)
        return rf_fail(&r->err, RAIIAF_E_NOT_FOUND, "tensor \"%s\" stores its values, not a recipe", t->name);
    const unsigned char *p;
    if ((rc = rf_check_chunk(r, t->chunk, &p))) return rc;
    char where[400];
    rf_chunk_where(r, t->chunk, where, sizeof where);
    rf_recipe rp;
    if ((rc = rf_recipe_parse(p, r->chunks[t->chunk].stored, t->dtype, &rp, where, &r->err))) return rc;
    recipe->generator = rf_recipe_generator_name(rp.generator);
    recipe->generator_version = rp.version;
    recipe->kernel = rf_recipe_kernel_name(rp.kernel);
    recipe->seed = rp.seed;
    return RAIIAF_OK;
}
