/* writer.c -- the streaming format 2 writer.
 *
 * Payload chunks are written in the order they are added; the manifest and
 * footer follow in raiiaf_writer_finish().  Everything goes to a temporary
 * file that is renamed over the destination only when complete. */
#include "codec.h"
#include "jsonnum.h"
#include "recipe.h"
#include "format1.h"
#include "env.h"
#include "fileio.h"
#include "owned.h"
#include "format.h"
#include "jsonutil.h"
#include "jsondump.h"
#include "image_job.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MANIFEST_ZSTD_LEVEL 9
#define TENSOR_ZSTD_LEVEL 1

struct raiiaf_writer {
    rf_err err;
    char *path, *tmp_path;
    int fd;
    int memory;          /* raiiaf_writer_new_memory(): the result goes to mem */
    unsigned char *mem;  /* the finished file, memory writers only */
    size_t mem_size;
    int broken;    /* an I/O error left the temporary file in an unknown state */
    int finished;
    uint64_t pos;  /* bytes written so far; always a multiple of 64 between chunks */
    unsigned nchunks;
    int has_image;
    uint32_t flags; /* RF_FLAG_* of what was written: 2.1 when non-zero */
    json_t *manifest, *meta, *chunks, *tensors;
    /* name -> [SHA-256 of the values, reference depth], for checking
     * what raiiaf_writer_add_tensor_relative() is given (not written) */
    json_t *values;
    struct rf_f1w *f1; /* format 1 output (format1_write.c); NULL for format 2 */
    rf_wenv env; /* the environment record (env_record.c) */
    unsigned threads; /* raiiaf_writer_set_threads(): 2 checks the image's pixels on a second thread */
    rf_image_job image_job; /* that check, collected by raiiaf_writer_finish() */

    struct { /* the tensor between begin and end */
        int active;
        char *name;
        raiiaf_dtype dtype;
        unsigned rank;
        uint64_t shape[RAIIAF_MAX_RANK];
        raiiaf_codec codec;
        double tolerance;
        uint64_t raw_size, received;
        unsigned char *buf; /* whole tensor, for codecs other than raw */
        const unsigned char *src; /* the caller's whole tensor (raiiaf_writer_add_tensor), not copied */
        uint64_t chunk_off; /* raw: where the chunk header goes */
        uint32_t crc;
        rf_sha256 *sha;
    } t;
};

static const unsigned char zeros[RF_ALIGN];

const char *raiiaf_writer_errmsg(const raiiaf_writer *w) { return w ? w->err.msg : "no writer"; }

/* What both constructors share: the handle, the manifest skeleton, and
 * the file header written at the start of w->fd. */
static int writer_init(raiiaf_writer **out, const char *path, int memory)
{
    if (!out) return RAIIAF_E_ARG;
    *out = NULL;
    raiiaf_writer *w = calloc(1, sizeof *w);
    if (!w) return RAIIAF_E_NOMEM;
    *out = w;
    w->fd = -1;
    w->memory = memory;
    w->threads = 1;
    if (!path || !*path) return rf_fail(&w->err, RAIIAF_E_ARG, "no output path given");
    w->path = strdup(path);
    char now[32];
    rf_utc_now(now);
    w->manifest = json_object();
    w->meta = json_object();
    w->chunks = json_array();
    w->tensors = json_array();
    w->values = json_object();
    json_t *model_info = json_pack("{s:s}", "date", now);
    if (!w->path || !w->manifest || !w->meta || !w->chunks || !w->tensors || !w->values || !model_info ||
        json_object_set(w->manifest, "raiiaf_metadata", w->meta) ||
        json_object_set_new(w->meta, "file_info", json_object()) ||
        json_object_set_new(w->meta, "model_info", model_info))
        return rf_fail(&w->err, RAIIAF_E_NOMEM, "out of memory");
    int rc;
    if (memory) {
        rc = rf_anon_file(&w->fd, &w->err);
        if (!rc && !(w->tmp_path = strdup(path))) rc = rf_fail(&w->err, RAIIAF_E_NOMEM, "out of memory");
    } else {
        rc = rf_tmp_create(path, &w->tmp_path, &w->fd, &w->err);
    }
    if (rc) return rc;
    unsigned char h[RF_HEADER_SIZE];
    rf_file_header(h, 0);
    rc = rf_write_all(w->fd, h, sizeof h, w->tmp_path, &w->err);
    if (rc) {
        w->broken = 1;
        return rc;
    }
    w->pos = RF_HEADER_SIZE;
    return RAIIAF_OK;
}

int raiiaf_writer_new(const char *path, raiiaf_writer **out) { return writer_init(out, path, 0); }

int raiiaf_writer_new_memory(raiiaf_writer **out) { return writer_init(out, "(file in memory)", 1); }

int raiiaf_writer_memory(const raiiaf_writer *w, const void **data, size_t *size)
{
    if (!w || !data) return RAIIAF_E_ARG;
    if (!w->memory || !w->finished) {
        *data = NULL;
        if (size) *size = 0;
        return w->memory ? RAIIAF_E_STATE : RAIIAF_E_ARG;
    }
    *data = w->mem;
    if (size) *size = w->mem_size;
    return RAIIAF_OK;
}

/* The finished bytes go to their place: renamed over the path (synced),
 * or read back into memory.  Closes fd. */
static int complete(raiiaf_writer *w, int fd)
{
    if (!w->memory) return rf_commit(fd, w->tmp_path, w->path, &w->err);
    int rc = rf_read_back(fd, &w->mem, &w->mem_size, w->path, &w->err);
    close(fd);
    return rc;
}

void raiiaf_writer_free(raiiaf_writer *w)
{
    if (!w) return;
    rf_image_job_free(&w->image_job);
    if (w->fd >= 0) close(w->fd);
    if (!w->finished && w->tmp_path && !w->memory) unlink(w->tmp_path);
    free(w->mem);
    free(w->path);
    free(w->tmp_path);
    free(w->t.name);
    free(w->t.buf);
    rf_sha256_free(w->t.sha);
    json_decref(w->manifest);
    json_decref(w->meta);
    json_decref(w->chunks);
    json_decref(w->tensors);
    json_decref(w->values);
    rf_f1w_free(w->f1);
    rf_wenv_free(&w->env);
    free(w);
}

/* Common entry check for every call that changes the file. */
static int usable(raiiaf_writer *w, int allow_tensor_open)
{
    if (w->finished) return rf_fail(&w->err, RAIIAF_E_STATE, "the file is already finished");
    if (w->broken || w->fd < 0) return rf_fail(&w->err, RAIIAF_E_STATE, "an earlier error left this writer unusable: start again");
    if (w->t.active && !allow_tensor_open)
        return rf_fail(&w->err, RAIIAF_E_STATE, "tensor \"%s\" is still open: call raiiaf_writer_end_tensor() first", w->t.name);
    rf_err_clear(&w->err);
    return RAIIAF_OK;
}

/* Appends the zero bytes that bring the file to the next 64-byte boundary. */
static int pad(raiiaf_writer *w)
{
    uint64_t n = rf_align_up(w->pos) - w->pos;
    int rc = rf_write_all(w->fd, zeros, (size_t)n, w->tmp_path, &w->err);
    if (rc) w->broken = 1;
    w->pos += n;
    return rc;
}

/* Records a chunk in the manifest's chunk list. */
static int record_chunk(raiiaf_writer *w, const char type[4], unsigned codec, uint64_t off, uint64_t stored,
                        uint64_t raw, uint32_t crc, const char *sha)
{
    char t[5] = {type[0], type[1], type[2], type[3], 0};
    json_t *rec = json_pack("{s:I,s:s,s:I,s:s,s:I,s:I,s:I,s:s}", "index", (json_int_t)w->nchunks, "type", t,
                            "offset", (json_int_t)off, "codec", raiiaf_codec_name((raiiaf_codec)codec),
                            "stored_size", (json_int_t)stored, "raw_size", (json_int_t)raw, "crc32c",
                            (json_int_t)crc, "sha256", sha);
    if (!rec || json_array_append_new(w->chunks, rec)) return rf_fail(&w->err, RAIIAF_E_NOMEM, "out of memory");
    w->nchunks++;
    return RAIIAF_OK;
}

/* Writes a whole chunk whose payload is in memory. */
static int write_chunk(raiiaf_writer *w, const char type[4], unsigned codec, const void *payload, uint64_t stored,
                       uint64_t raw, const char *sha, int record)
{
    if (w->nchunks >= RF_MAX_CHUNKS) return rf_fail(&w->err, RAIIAF_E_LIMIT, "a file holds at most %u chunks", RF_MAX_CHUNKS);
    unsigned char h[RF_CHUNK_HEADER_SIZE];
    uint32_t crc = rf_crc32c(0, payload, (size_t)stored);
    uint64_t off = w->pos;
    rf_chunk_header(h, type, codec, w->nchunks, stored, raw, crc);
    int rc = rf_write_all(w->fd, h, sizeof h, w->tmp_path, &w->err);
    if (!rc) rc = rf_write_all(w->fd, payload, (size_t)stored, w->tmp_path, &w->err);
    if (rc) {
        w->broken = 1;
        return rc;
    }
    w->pos += RF_CHUNK_HEADER_SIZE + stored;
    rc = pad(w);
    if (rc) return rc;
    return record ? record_chunk(w, type, codec, off, stored, raw, crc, sha) : RAIIAF_OK;
}

static int add_image(raiiaf_writer *w, const void *data, size_t size, int pixels_checked);

int raiiaf_writer_add_image(raiiaf_writer *w, const void *data, size_t size) { return add_image(w, data, size, 0); }

int rf_writer_add_checked_image(raiiaf_writer *w, const void *data, size_t size) { return add_image(w, data, size, 1); }

static int add_image(raiiaf_writer *w, const void *data, size_t size, int pixels_checked)
{
    if (!w) return RAIIAF_E_ARG;
    int rc = usable(w, 0);
    if (rc) return rc;
    if (w->f1) return rf_f1w_add_image(w->f1, data, size, &w->err);
    if (w->has_image) return rf_fail(&w->err, RAIIAF_E_STATE, "the file already holds an image (one per file)");
    if (!data && size) return rf_fail(&w->err, RAIIAF_E_ARG, "image data is NULL");
    rf_image_desc d;
    rc = rf_image_probe(data, size, &d, &w->err);
    if (rc) return rc;
    if (pixels_checked) {
        /* checked by the caller, on these very bytes */
    } else if (w->threads > 1) {
        /* The pixels are checked on a second thread while the caller goes on
         * with the tensors; raiiaf_writer_finish() reports the verdict. */
        if ((rc = rf_image_job_start(&w->image_job, data, size, &d, 1, 1)))
            return rf_fail(&w->err, rc, "%s", w->image_job.err.msg);
    } else if ((rc = rf_image_check_pixels(data, size, &d, &w->err))) {
        return rc;
    }
    char sha[65];
    if (rf_sha256_hex(data, size, sha)) return rf_fail(&w->err, RAIIAF_E_NOMEM, "out of memory");
    unsigned index = w->nchunks;
    rc = write_chunk(w, RF_TYPE_IMAGE, RF_CODEC_RAW, data, size, size, sha, 1);
    if (rc) return rc;
    json_t *img = json_pack("{s:I,s:s,s:I,s:I,s:I}", "chunk", (json_int_t)index, "format", d.format, "width",
                            (json_int_t)d.width, "height", (json_int_t)d.height, "size", (json_int_t)size);
    if (!img || json_object_set_new(w->meta, "image", img)) return rf_fail(&w->err, RAIIAF_E_NOMEM, "out of memory");
    w->has_image = 1;
    return RAIIAF_OK;
}

int raiiaf_writer_set_threads(raiiaf_writer *w, unsigned threads)
{
    if (!w) return RAIIAF_E_ARG;
    if (threads != 1 && threads != 2)
        return rf_fail(&w->err, RAIIAF_E_ARG, "threads must be 1 or 2, not %u", threads);
    w->threads = threads;
    return RAIIAF_OK;
}

int raiiaf_writer_add_chunk(raiiaf_writer *w, const char type[4], const void *data, size_t size)
{
    if (!w) return RAIIAF_E_ARG;
    int rc = usable(w, 0);
    if (rc) return rc;
    if (w->f1) return rf_fail(&w->err, RAIIAF_E_STATE, "format 1 has no place for chunks of other types");
    if (!type) return rf_fail(&w->err, RAIIAF_E_ARG, "chunk type is NULL");
    for (int i = 0; i < 4; i++)
        if (type[i] < 0x20 || type[i] > 0x7e)
            return rf_fail(&w->err, RAIIAF_E_ARG, "chunk type must be four printable ASCII characters");
    if (!memcmp(type, RF_TYPE_IMAGE, 4) || !memcmp(type, RF_TYPE_TENSOR, 4) || !memcmp(type, RF_TYPE_MANIFEST, 4) ||
        !memcmp(type, RF_TYPE_ENV, 4))
        return rf_fail(&w->err, RAIIAF_E_ARG, "chunk type %.4s is defined by the format; use the matching call", type);
    if (!data && size) return rf_fail(&w->err, RAIIAF_E_ARG, "chunk data is NULL");
    char sha[65];
    if (rf_sha256_hex(data, size, sha)) return rf_fail(&w->err, RAIIAF_E_NOMEM, "out of memory");
    return write_chunk(w, type, RF_CODEC_RAW, data, size, size, sha, 1);
}

static int name_taken(const raiiaf_writer *w, const char *name)
{
    size_t i;
    json_t *t;
    json_array_foreach(w->tensors, i, t)
        if (!strcmp(json_string_value(json_object_get(t, "name")), name)) return 1;
    return 0;
}

/* The checks every new tensor passes, whatever stores it; *raw_size
 * receives its decoded size. */
static int check_new_tensor(raiiaf_writer *w, const char *name, raiiaf_dtype dtype, unsigned rank, const uint64_t *shape,
                            raiiaf_codec codec, double tolerance, uint64_t *raw_size)
{
    int rc;
    if (!name || !*name) return rf_fail(&w->err, RAIIAF_E_ARG, "a tensor needs a non-empty name");
    if (w->f1 && (rc = rf_f1w_check_tensor(w->f1, name, dtype, rank, shape, codec, tolerance, &w->err))) return rc;
    size_t len = strlen(name);
    if (len > RF_MAX_NAME_BYTES) return rf_fail(&w->err, RAIIAF_E_ARG, "tensor name of %zu bytes exceeds %u", len, RF_MAX_NAME_BYTES);
    json_t *probe = json_string(name);
    if (!probe) return rf_fail(&w->err, RAIIAF_E_ARG, "tensor name is not valid UTF-8");
    json_decref(probe);
    if (name_taken(w, name)) return rf_fail(&w->err, RAIIAF_E_EXISTS, "a tensor named \"%s\" already exists", name);
    size_t esize = raiiaf_dtype_size(dtype);
    if (!esize) return rf_fail(&w->err, RAIIAF_E_ARG, "tensor \"%s\": invalid dtype %d", name, (int)dtype);
    if (rank > RAIIAF_MAX_RANK) return rf_fail(&w->err, RAIIAF_E_ARG, "tensor \"%s\": rank %u exceeds %d", name, rank, RAIIAF_MAX_RANK);
    if (rank && !shape) return rf_fail(&w->err, RAIIAF_E_ARG, "tensor \"%s\": shape is NULL", name);
    uint64_t raw = esize;
    for (unsigned i = 0; i < rank; i++)
        if (rf_mul_u64(raw, shape[i], &raw) || raw > RF_MAX_TENSOR_BYTES)
            return rf_fail(&w->err, RAIIAF_E_LIMIT, "tensor \"%s\": shape exceeds the %llu-byte tensor limit", name,
                           (unsigned long long)RF_MAX_TENSOR_BYTES);
    if (!(tolerance >= 0) || isinf(tolerance)) return rf_fail(&w->err, RAIIAF_E_ARG, "tensor \"%s\": tolerance must be a finite number >= 0", name);
    if (codec == RAIIAF_CODEC_RECIPE)
        return rf_fail(&w->err, RAIIAF_E_ARG, "tensor \"%s\": codec recipe is chosen by raiiaf_writer_add_noise_tensor() after an exact match, not asked for", name);
    if (codec != RAIIAF_CODEC_RAW && codec != RAIIAF_CODEC_ZSTD && codec != RAIIAF_CODEC_ZFP && codec != RAIIAF_CODEC_AUTO)
        return rf_fail(&w->err, RAIIAF_E_ARG, "tensor \"%s\": unknown codec %d", name, (int)codec);
    if (tolerance > 0 && codec != RAIIAF_CODEC_ZFP && codec != RAIIAF_CODEC_AUTO)
        return rf_fail(&w->err, RAIIAF_E_ARG, "tensor \"%s\": a tolerance needs the zfp codec (%s is lossless)", name, raiiaf_codec_name(codec));
    if (tolerance > 0 || codec == RAIIAF_CODEC_ZFP) {
        if (!rf_zfp_supported(dtype, rank, shape))
            return rf_fail(&w->err, RAIIAF_E_CODEC, "tensor \"%s\": zfp codes float32, float64, int32 and int64 tensors of at most 4 dimensions of size > 1; this one is %s of rank %u",
                           name, raiiaf_dtype_name(dtype), rank);
        if (tolerance > 0 && dtype != RAIIAF_F32 && dtype != RAIIAF_F64)
            return rf_fail(&w->err, RAIIAF_E_CODEC, "tensor \"%s\": a tolerance needs float32 or float64, not %s", name, raiiaf_dtype_name(dtype));
    }
    if (w->nchunks >= RF_MAX_CHUNKS) return rf_fail(&w->err, RAIIAF_E_LIMIT, "a file holds at most %u chunks", RF_MAX_CHUNKS);
    *raw_size = raw;
    return RAIIAF_OK;
}

/* borrowed: the caller's whole tensor, coded from where it is instead of a
 * copy (format 1 keeps its own copy until finish). */
static int begin_tensor(raiiaf_writer *w, const char *name, raiiaf_dtype dtype, unsigned rank, const uint64_t *shape,
                        raiiaf_codec codec, double tolerance, const void *borrowed)
{
    if (!w) return RAIIAF_E_ARG;
    int rc = usable(w, 0);
    if (rc) return rc;
    uint64_t raw;
    if ((rc = check_new_tensor(w, name, dtype, rank, shape, codec, tolerance, &raw))) return rc;
    memset(&w->t, 0, sizeof w->t);
    w->t.name = strdup(name);
    w->t.sha = rf_sha256_new();
    if (!w->t.name || !w->t.sha) return rf_fail(&w->err, RAIIAF_E_NOMEM, "out of memory");
    w->t.dtype = dtype;
    w->t.rank = rank;
    for (unsigned i = 0; i < rank; i++) w->t.shape[i] = shape[i];
    w->t.codec = tolerance > 0 ? RAIIAF_CODEC_ZFP : codec;
    w->t.tolerance = tolerance;
    w->t.raw_size = raw;
    if (w->t.codec == RAIIAF_CODEC_RAW && !w->f1) {
        /* The header is written last, once the CRC is known. */
        w->t.chunk_off = w->pos;
        unsigned char h[RF_CHUNK_HEADER_SIZE] = {0};
        rc = rf_write_all(w->fd, h, sizeof h, w->tmp_path, &w->err);
        if (rc) {
            w->broken = 1;
            return rc;
        }
        w->pos += RF_CHUNK_HEADER_SIZE;
    } else if (borrowed && !w->f1) {
        w->t.src = borrowed;
    } else {
        if (raw > SIZE_MAX) return rf_fail(&w->err, RAIIAF_E_LIMIT, "tensor \"%s\" too large for memory", name);
        w->t.buf = malloc(raw ? (size_t)raw : 1);
        if (!w->t.buf) return rf_fail(&w->err, RAIIAF_E_NOMEM, "tensor \"%s\": out of memory for %llu bytes", name, (unsigned long long)raw);
    }
    w->t.active = 1;
    return RAIIAF_OK;
}

int raiiaf_writer_begin_tensor(raiiaf_writer *w, const char *name, raiiaf_dtype dtype, unsigned rank,
                               const uint64_t *shape, raiiaf_codec codec, double tolerance)
{
    return begin_tensor(w, name, dtype, rank, shape, codec, tolerance, NULL);
}

int raiiaf_writer_write_tensor(raiiaf_writer *w, const void *data, size_t size)
{
    if (!w) return RAIIAF_E_ARG;
    int rc = usable(w, 1);
    if (rc) return rc;
    if (!w->t.active) return rf_fail(&w->err, RAIIAF_E_STATE, "no tensor is open: call raiiaf_writer_begin_tensor() first");
    if (!data && size) return rf_fail(&w->err, RAIIAF_E_ARG, "tensor data is NULL");
    if (size > w->t.raw_size - w->t.received)
        return rf_fail(&w->err, RAIIAF_E_BUFFER, "tensor \"%s\": %zu more bytes would exceed its %llu bytes", w->t.name,
                       size, (unsigned long long)w->t.raw_size);
    rf_sha256_update(w->t.sha, data, size);
    if (w->t.codec == RAIIAF_CODEC_RAW && !w->f1) {
        w->t.crc = rf_crc32c(w->t.crc, data, size);
        rc = rf_write_all(w->fd, data, size, w->tmp_path, &w->err);
        if (rc) {
            w->broken = 1;
            return rc;
        }
        w->pos += size;
    } else if (!w->t.src) {
        memcpy(w->t.buf + w->t.received, data, size);
    }
    w->t.received += size;
    return RAIIAF_OK;
}

/* Forgets the open tensor (begin .. end). */
static void drop_tensor(raiiaf_writer *w)
{
    free(w->t.name);
    free(w->t.buf);
    rf_sha256_free(w->t.sha);
    memset(&w->t, 0, sizeof w->t);
}

/* Adds the tensor record to the manifest and remembers its values' digest
 * and reference depth (0: stored alone). */
static int append_tensor(raiiaf_writer *w, json_t *rec, const char *name, const char *values_sha, unsigned depth)
{
    if (!rec || json_array_append_new(w->tensors, rec) ||
        json_object_set_new(w->values, name, json_pack("[s,i]", values_sha, (int)depth)))
        return rf_fail(&w->err, RAIIAF_E_NOMEM, "out of memory");
    return RAIIAF_OK;
}

/* The manifest's record of a tensor (SPEC 8.6), or NULL out of memory. */
static json_t *tensor_record(const char *name, unsigned chunk, raiiaf_dtype dtype, unsigned rank, const uint64_t *shape,
                             unsigned codec)
{
    json_t *dims = json_array();
    for (unsigned i = 0; dims && i < rank; i++) json_array_append_new(dims, json_integer((json_int_t)shape[i]));
    return json_pack("{s:s,s:I,s:s,s:o,s:s}", "name", name, "chunk", (json_int_t)chunk, "dtype", raiiaf_dtype_name(dtype),
                     "shape", dims, "codec", raiiaf_codec_name((raiiaf_codec)codec));
}

/* Codes the gathered tensor; picks the smallest lossless form for AUTO. */
static int encode_tensor(raiiaf_writer *w, unsigned *codec, unsigned char **payload, size_t *stored, double *max_error,
                         char sha[65])
{
    size_t raw = (size_t)w->t.raw_size;
    const unsigned char *src = w->t.src ? w->t.src : w->t.buf;
    *max_error = 0;
    if (w->t.codec == RAIIAF_CODEC_ZFP)
        return rf_zfp_encode(src, w->t.dtype, w->t.rank, w->t.shape, w->t.tolerance, payload, stored, max_error, sha, &w->err);
    int rc = rf_planes_encode_tensor(src, raw, (unsigned)raiiaf_dtype_size(w->t.dtype), TENSOR_ZSTD_LEVEL, w->t.rank,
                                     w->t.shape, payload, stored, &w->err);
    if (rc) return rc;
    *codec = RF_CODEC_ZSTD;
    if (w->t.codec == RAIIAF_CODEC_AUTO && *stored >= raw) {
        /* Incompressible: raw is smaller and mappable. */
        free(*payload);
        *payload = NULL;
        *codec = RF_CODEC_RAW;
        *stored = raw;
    }
    return RAIIAF_OK;
}

/* Tensors above this size are coded in pieces straight into the file
 * (codec_zstd_stream.c); smaller ones in memory, where the smallest of
 * every transform and coder is kept (codec_zstd.c). */
#define STREAM_MIN ((uint64_t)1 << 20)

/* Codes the gathered tensor into the file in pieces: a placeholder chunk
 * header, the payload written by the streaming coder, then the header.
 * AUTO: a payload not smaller than the tensor is replaced by the raw bytes.
 * On an error before anything is recorded the file is cut back to where
 * the chunk began. */
static int stream_tensor(raiiaf_writer *w, unsigned *codec, const char *sha)
{
    const unsigned char *src = w->t.src ? w->t.src : w->t.buf;
    uint64_t hoff = w->pos, raw = w->t.raw_size, stored = 0;
    uint32_t crc = 0;
    unsigned char h[RF_CHUNK_HEADER_SIZE] = {0};
    int rc = rf_write_all(w->fd, h, sizeof h, w->tmp_path, &w->err);
    if (!rc)
        rc = rf_planes_encode_stream(src, (size_t)raw, (unsigned)raiiaf_dtype_size(w->t.dtype), TENSOR_ZSTD_LEVEL, w->t.rank,
                                     w->t.shape, w->fd, hoff + sizeof h, w->tmp_path, &stored, &crc, &w->err);
    *codec = RF_CODEC_ZSTD;
    if (!rc && w->t.codec == RAIIAF_CODEC_AUTO && stored >= raw) {
        /* Incompressible: raw is smaller and mappable. */
        *codec = RF_CODEC_RAW;
        stored = raw;
        crc = rf_crc32c(0, src, (size_t)raw);
        rc = rf_pwrite_all(w->fd, src, (size_t)raw, hoff + sizeof h, w->tmp_path, &w->err);
    }
    if (!rc) {
        rf_chunk_header(h, RF_TYPE_TENSOR, *codec, w->nchunks, stored, raw, crc);
        rc = rf_pwrite_all(w->fd, h, sizeof h, hoff, w->tmp_path, &w->err);
    }
    /* The file ends where the payload ends (a stored plane or the raw
     * bytes may be shorter than what was tried first). */
    uint64_t end = rc ? hoff : hoff + sizeof h + stored;
    if (ftruncate(w->fd, (off_t)end) || lseek(w->fd, (off_t)end, SEEK_SET) < 0) {
        w->broken = 1;
        return rc ? rc : rf_fail(&w->err, RAIIAF_E_IO, "%s: cannot set the file's end: %s", w->tmp_path, strerror(errno));
    }
    w->pos = end;
    if (rc) return rc;
    if ((rc = pad(w))) return rc;
    return record_chunk(w, RF_TYPE_TENSOR, *codec, hoff, stored, raw, crc, sha);
}

int raiiaf_writer_end_tensor(raiiaf_writer *w)
{
    if (!w) return RAIIAF_E_ARG;
    int rc = usable(w, 1);
    if (rc) return rc;
    if (!w->t.active) return rf_fail(&w->err, RAIIAF_E_STATE, "no tensor is open");
    if (w->t.received != w->t.raw_size)
        return rf_fail(&w->err, RAIIAF_E_BUFFER, "tensor \"%s\": got %llu bytes, its shape needs %llu", w->t.name,
                       (unsigned long long)w->t.received, (unsigned long long)w->t.raw_size);
    if (w->f1) { /* format 1: kept until finish */
        rc = rf_f1w_add_tensor(w->f1, w->t.name, w->t.dtype, w->t.shape, &w->t.buf, (size_t)w->t.raw_size, w->t.codec, &w->err);
        drop_tensor(w);
        return rc;
    }
    char sha[65];
    rf_sha256_final_hex(w->t.sha, sha);
    unsigned index = w->nchunks, codec = w->t.codec;
    double max_error = 0;
    if (w->t.codec == RAIIAF_CODEC_RAW) {
        unsigned char h[RF_CHUNK_HEADER_SIZE];
        rf_chunk_header(h, RF_TYPE_TENSOR, RF_CODEC_RAW, index, w->t.raw_size, w->t.raw_size, w->t.crc);
        rc = rf_pwrite_all(w->fd, h, sizeof h, w->t.chunk_off, w->tmp_path, &w->err);
        if (rc) w->broken = 1;
        if (!rc) rc = pad(w);
        if (!rc) rc = record_chunk(w, RF_TYPE_TENSOR, RF_CODEC_RAW, w->t.chunk_off, w->t.raw_size, w->t.raw_size, w->t.crc, sha);
    } else if (w->t.codec != RAIIAF_CODEC_ZFP && w->t.raw_size > STREAM_MIN) {
        rc = stream_tensor(w, &codec, sha);
        if (rc && !w->broken) {
            drop_tensor(w); /* taken back: the writer stays usable */
            return rc;
        }
    } else {
        unsigned char *payload = NULL;
        size_t stored = 0;
        rc = encode_tensor(w, &codec, &payload, &stored, &max_error, sha);
        if (rc) {
            /* Nothing reached the file: drop the tensor, keep the writer. */
            drop_tensor(w);
            return rc;
        }
        rc = write_chunk(w, RF_TYPE_TENSOR, codec, payload ? payload : (w->t.src ? w->t.src : w->t.buf), stored,
                         w->t.raw_size, sha, 1);
        free(payload);
    }
    if (rc) {
        w->broken = 1; /* a half-recorded tensor cannot be taken back */
        return rc;
    }
    json_t *rec = tensor_record(w->t.name, index, w->t.dtype, w->t.rank, w->t.shape, codec);
    if (rec && codec == RF_CODEC_ZFP) {
        json_object_set_new(rec, "zfp_mode", json_string(w->t.tolerance > 0 ? "fixed_accuracy" : "reversible"));
        if (w->t.tolerance > 0) {
            json_object_set_new(rec, "tolerance", json_real(w->t.tolerance));
            json_object_set_new(rec, "max_error", json_real(max_error));
        }
    }
    rc = append_tensor(w, rec, w->t.name, sha, 0);
    drop_tensor(w);
    return rc;
}

int raiiaf_writer_add_tensor(raiiaf_writer *w, const char *name, raiiaf_dtype dtype, unsigned rank,
                             const uint64_t *shape, const void *data, size_t size, raiiaf_codec codec, double tolerance)
{
    int rc = begin_tensor(w, name, dtype, rank, shape, codec, tolerance, data);
    if (rc) return rc;
    if (size != w->t.raw_size)
        rc = rf_fail(&w->err, RAIIAF_E_BUFFER, "tensor \"%s\": %zu bytes given, shape and dtype need %llu", name, size,
                     (unsigned long long)w->t.raw_size);
    else if (!data && size)
        rc = rf_fail(&w->err, RAIIAF_E_ARG, "tensor \"%s\": data is NULL", name);
    if (rc) {
        /* Nothing was recorded yet; take back the raw chunk header
         * placeholder so the writer stays usable. */
        if (w->t.codec == RAIIAF_CODEC_RAW && !w->f1) {
            if (ftruncate(w->fd, (off_t)w->t.chunk_off) || lseek(w->fd, (off_t)w->t.chunk_off, SEEK_SET) < 0)
                w->broken = 1;
            else
                w->pos = w->t.chunk_off;
        }
        drop_tensor(w);
        return rc;
    }
    rc = raiiaf_writer_write_tensor(w, data, size);
    if (!rc) rc = raiiaf_writer_end_tensor(w);
    return rc;
}

int raiiaf_writer_set_json(raiiaf_writer *w, const char *pointer, const char *json)
{
    if (!w) return RAIIAF_E_ARG;
    int rc = usable(w, 0);
    if (rc) return rc;
    if (!pointer || !json) return rf_fail(&w->err, RAIIAF_E_ARG, "pointer and value must not be NULL");
    if (rf_owned_pointer(pointer)) return rf_fail(&w->err, RAIIAF_E_ARG, "%s is written by the library and cannot be set", pointer);
    json_t *v;
    json_error_t je;
    v = rf_json_loadb(json, strlen(json), JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, w->f1 ? RF_JSON_PYTHON : RF_JSON_STRICT, &je);
    if (!v) return rf_fail(&w->err, RAIIAF_E_JSON, "%s: invalid JSON value at column %d: %s", pointer, je.column, je.text);
    if (rf_json_depth(v, RF_MAX_JSON_DEPTH) > RF_MAX_JSON_DEPTH) {
        json_decref(v);
        return rf_fail(&w->err, RAIIAF_E_LIMIT, "%s: value nested deeper than %u levels", pointer, RF_MAX_JSON_DEPTH);
    }
    return rf_pointer_set(w->manifest, pointer, v, &w->err);
}

int raiiaf_writer_set_string(raiiaf_writer *w, const char *pointer, const char *value)
{
    if (!w) return RAIIAF_E_ARG;
    int rc = usable(w, 0);
    if (rc) return rc;
    if (!pointer || !value) return rf_fail(&w->err, RAIIAF_E_ARG, "pointer and value must not be NULL");
    if (rf_owned_pointer(pointer)) return rf_fail(&w->err, RAIIAF_E_ARG, "%s is written by the library and cannot be set", pointer);
    json_t *v = json_string(value);
    if (!v) return rf_fail(&w->err, RAIIAF_E_ARG, "%s: value is not valid UTF-8", pointer);
    return rf_pointer_set(w->manifest, pointer, v, &w->err);
}

int raiiaf_writer_add_tag(raiiaf_writer *w, const char *tag)
{
    if (!w) return RAIIAF_E_ARG;
    int rc = usable(w, 0);
    if (rc) return rc;
    json_t *t = tag ? json_string(tag) : NULL;
    if (!t) return rf_fail(&w->err, RAIIAF_E_ARG, "a tag must be a UTF-8 string");
    json_t *meta = json_object_get(w->manifest, "raiiaf_metadata");
    json_t *mi = json_object_get(meta, "model_info");
    if (!json_is_object(mi)) json_object_set_new(meta, "model_info", mi = json_object());
    json_t *tags = json_object_get(mi, "tags");
    if (!json_is_array(tags)) json_object_set_new(mi, "tags", tags = json_array());
    if (!tags || json_array_append_new(tags, t)) return rf_fail(&w->err, RAIIAF_E_NOMEM, "out of memory");
    return RAIIAF_OK;
}

int raiiaf_writer_merge_json(raiiaf_writer *w, const char *json_object)
{
    if (!w) return RAIIAF_E_ARG;
    int rc = usable(w, 0);
    if (rc) return rc;
    if (!json_object) return rf_fail(&w->err, RAIIAF_E_ARG, "JSON text is NULL");
    json_t *v;
    /* format 1 holds what Python's json wrote (NaN, 2**64, ...): SPEC appendix */
    rc = rf_json_parse_as(json_object, strlen(json_object), "metadata to merge", w->f1 ? RF_JSON_PYTHON : RF_JSON_STRICT, &v,
                          &w->err);
    if (rc) return rc;
    if (!json_is_object(v)) {
        json_decref(v);
        return rf_fail(&w->err, RAIIAF_E_JSON, "metadata to merge must be a JSON object");
    }
    json_t *m = json_object_get(v, "raiiaf_metadata");
    if (m && !json_is_object(m)) {
        json_decref(v);
        return rf_fail(&w->err, RAIIAF_E_SCHEMA, "/raiiaf_metadata: must be an object");
    }
    for (size_t i = 0; m && i < RF_OWNED_COUNT; i++)
        if (json_object_get(m, rf_owned_members[i])) {
            json_decref(v);
            return rf_fail(&w->err, RAIIAF_E_ARG, "/raiiaf_metadata/%s is written by the library and cannot be set",
                           rf_owned_members[i]);
        }
    rc = rf_json_merge(w->manifest, v, &w->err);
    json_decref(v);
    return rc;
}

int raiiaf_writer_set_env(raiiaf_writer *w, unsigned flags)
{
    if (!w) return RAIIAF_E_ARG;
    int rc = usable(w, 0);
    return rc ? rc : rf_wenv_set(&w->env, flags, &w->err);
}

int raiiaf_writer_add_env_component(raiiaf_writer *w, const char *id, const char *canonical)
{
    if (!w) return RAIIAF_E_ARG;
    int rc = usable(w, 0);
    return rc ? rc : rf_wenv_add(&w->env, id, canonical, &w->err);
}

/* The environment record (env_record.c builds it): an ENVR chunk, zstd
 * with one plane like the manifest, named by /raiiaf_metadata/environment. */
static int write_env(raiiaf_writer *w)
{
    char *text;
    size_t len;
    if (w->f1) return RAIIAF_OK; /* format 1 stores its ENVC record itself (format1_write.c) */
    int rc = rf_env_build_record(&w->env, w->manifest, &text, &len, &w->err);
    if (rc || !text) return rc;
    unsigned char *payload = NULL;
    size_t stored = 0;
    char sha[65];
    unsigned index = w->nchunks;
    rc = rf_planes_encode(text, len, 1, MANIFEST_ZSTD_LEVEL, &payload, &stored, &w->err);
    if (!rc && rf_sha256_hex(text, len, sha)) rc = rf_fail(&w->err, RAIIAF_E_NOMEM, "out of memory");
    free(text);
    if (!rc) rc = write_chunk(w, RF_TYPE_ENV, RF_CODEC_ZSTD, payload, stored, len, sha, 1);
    free(payload);
    if (rc) return rc;
    w->env.written = 1;
    return rf_pointer_set(w->manifest, "/raiiaf_metadata/environment", json_pack("{s:I}", "chunk", (json_int_t)index), &w->err);
}

int raiiaf_writer_set_format(raiiaf_writer *w, unsigned major)
{
    if (!w) return RAIIAF_E_ARG;
    int rc = usable(w, 0);
    if (rc) return rc;
    if (major != 1 && major != 2) return rf_fail(&w->err, RAIIAF_E_ARG, "format %u: this library writes formats 1 and 2", major);
    if ((major == 1) == (w->f1 != NULL)) return RAIIAF_OK;
    if (w->nchunks || w->has_image || (w->f1 && major == 2))
        return rf_fail(&w->err, RAIIAF_E_STATE, "the format must be chosen before anything is added");
    if (!(w->f1 = rf_f1w_new())) return rf_fail(&w->err, RAIIAF_E_NOMEM, "out of memory");
    char now[40];
    rf_f1_date_now(now); /* the Python package's form, with microseconds and +00:00 */
    return rf_pointer_set(w->manifest, "/raiiaf_metadata/model_info/date", json_string(now), &w->err);
}

int raiiaf_writer_set_format1_env(raiiaf_writer *w, const char *json, size_t size)
{
    if (!w) return RAIIAF_E_ARG;
    int rc = usable(w, 0);
    if (rc) return rc;
    if (!w->f1) return rf_fail(&w->err, RAIIAF_E_STATE, "a format 1 environment record needs raiiaf_writer_set_format(w, 1) first");
    if (!json) return rf_fail(&w->err, RAIIAF_E_ARG, "JSON text is NULL");
    return rf_f1w_set_env(w->f1, json, size, &w->err);
}

/* Format 1: the whole file is written now from what was buffered. */
static int finish_format1(raiiaf_writer *w)
{
    int rc = rf_f1w_finish(w->f1, w->manifest, w->fd, w->tmp_path, &w->err);
    if (rc) {
        if (rc == RAIIAF_E_IO) w->broken = 1;
        return rc;
    }
    int fd = w->fd;
    w->fd = -1;
    rc = complete(w, fd);
    if (rc) {
        w->broken = 1;
        return rc;
    }
    w->finished = 1;
    return RAIIAF_OK;
}

int raiiaf_writer_finish(raiiaf_writer *w)
{
    if (!w) return RAIIAF_E_ARG;
    int rc = usable(w, 0);
    if (rc) return rc;
    if (w->f1) return finish_format1(w);
    /* The image's verdict, if its pixels were checked on a second thread:
     * always here, so a bad image fails the same call however the threads
     * ran. */
    if ((rc = rf_image_job_wait(&w->image_job))) return rf_fail(&w->err, rc, "%s", w->image_job.err.msg);
    char now[32];
    rf_utc_now(now);
    if ((rc = write_env(w))) return rc; /* the ENVR chunk, before file_info counts the chunks */
    unsigned minor = w->flags ? RF_MINOR_FLAGS : RF_MINOR_PLAIN;
    json_t *fi = json_pack("{s:s,s:i,s:i,s:s,s:s,s:I,s:i,s:n}", "magic", "raiiaf", "version_major", RAIIAF_FORMAT_MAJOR,
                           "version_minor", (int)minor, "created", now, "writer",
                           "libraiiaf " RAIIAF_VERSION_STRING, "chunk_count", (json_int_t)w->nchunks,
                           "manifest_version", 1, "previous_manifest");
    if (!fi || json_object_set_new(w->meta, "file_info", fi) || json_object_set(w->meta, "tensors", w->tensors) ||
        json_object_set(w->meta, "chunks", w->chunks))
        return rf_fail(&w->err, RAIIAF_E_NOMEM, "out of memory");
    json_t *schema;
    rc = rf_json_parse(rf_schema_json, strlen(rf_schema_json), "embedded schema", &schema, &w->err);
    if (rc) return rc;
    rc = rf_schema_validate(schema, w->manifest, &w->err);
    json_decref(schema);
    if (rc) return rc;

    char *text = rf_json_dump_manifest(w->manifest); /* reals in their shortest form: 23.54 */
    if (!text) return rf_fail(&w->err, RAIIAF_E_NOMEM, "out of memory");
    size_t len = strlen(text);
    if (len > RF_MAX_MANIFEST_RAW) {
        free(text);
        return rf_fail(&w->err, RAIIAF_E_LIMIT, "manifest of %zu bytes exceeds the %u-byte limit", len, RF_MAX_MANIFEST_RAW);
    }
    unsigned char *payload = NULL;
    size_t stored = 0;
    rc = rf_planes_encode(text, len, 1, MANIFEST_ZSTD_LEVEL, &payload, &stored, &w->err);
    char sha[65];
    if (!rc && rf_sha256_hex(text, len, sha)) rc = rf_fail(&w->err, RAIIAF_E_NOMEM, "out of memory");
    free(text);
    if (rc) return rc;
    if (stored > RF_MAX_MANIFEST_STORED) {
        free(payload);
        return rf_fail(&w->err, RAIIAF_E_LIMIT, "compressed manifest of %zu bytes exceeds the limit", stored);
    }
    uint64_t moff = w->pos;
    rc = write_chunk(w, RF_TYPE_MANIFEST, RF_CODEC_ZSTD, payload, stored, len, sha, 0);
    free(payload);
    if (rc) return rc;
    unsigned char f[RF_FOOTER_SIZE];
    rf_footer(f, moff, 0, 1);
    rc = rf_write_all(w->fd, f, sizeof f, w->tmp_path, &w->err);
    if (rc) {
        w->broken = 1;
        return rc;
    }
    if (w->flags) {
        /* Readers of 2.0 must refuse what they cannot decode correctly,
         * so the header written first is completed with the flags now. */
        unsigned char h[RF_HEADER_SIZE];
        rf_file_header(h, w->flags);
        rc = rf_pwrite_all(w->fd, h, sizeof h, 0, w->tmp_path, &w->err);
        if (rc) {
            w->broken = 1;
            return rc;
        }
    }
    int fd = w->fd;
    w->fd = -1;
    rc = complete(w, fd);
    if (rc) {
        w->broken = 1;
        return rc;
    }
    w->finished = 1;
    return RAIIAF_OK;
}

/* The checks of a whole lossless tensor given in one buffer. */
static int check_whole_tensor(raiiaf_writer *w, const char *name, raiiaf_dtype dtype, unsigned rank, const uint64_t *shape,
                              const void *data, size_t size, raiiaf_codec codec, uint64_t *raw)
{
    int rc = usable(w, 0);
    if (rc || (rc = check_new_tensor(w, name, dtype, rank, shape, codec, 0, raw))) return rc;
    if (size != *raw)
        return rf_fail(&w->err, RAIIAF_E_BUFFER, "tensor \"%s\": %zu bytes given, shape and dtype need %llu", name, size,
                       (unsigned long long)*raw);
    if (!data && size) return rf_fail(&w->err, RAIIAF_E_ARG, "tensor \"%s\": data is NULL", name);
    return RAIIAF_OK;
}

int raiiaf_writer_add_noise_tensor(raiiaf_writer *w, const char *name, raiiaf_dtype dtype, unsigned rank,
                                   const uint64_t *shape, const void *data, size_t size, uint64_t seed,
                                   raiiaf_codec codec, int *as_recipe)
{
    if (as_recipe) *as_recipe = 0;
    if (!w) return RAIIAF_E_ARG;
    uint64_t raw;
    int rc = check_whole_tensor(w, name, dtype, rank, shape, data, size, codec, &raw);
    if (rc) return rc;
    char why[300] = "";
    rf_recipe recipe;
    int match = 0;
    if (w->f1)
        snprintf(why, sizeof why, "format 1 has no recipes");
    else if ((match = rf_recipe_match(data, size, dtype, rank, shape, seed, &recipe, why, sizeof why)) < 0)
        return rf_fail(&w->err, RAIIAF_E_NOMEM, "tensor \"%s\": out of memory regenerating the noise", name);
    if (!match) {
        rc = raiiaf_writer_add_tensor(w, name, dtype, rank, shape, data, size, codec, 0);
        if (!rc) rf_fail(&w->err, RAIIAF_OK, "tensor \"%s\" stored as values: %s", name, why);
        return rc;
    }
    /* The digest is of the values, as for every tensor: readers check
     * the regenerated bytes against it. */
    char sha[65];
    if (rf_sha256_hex(data, size, sha)) return rf_fail(&w->err, RAIIAF_E_NOMEM, "out of memory");
    unsigned char payload[RF_RECIPE_PAYLOAD];
    rf_recipe_pack(&recipe, payload);
    unsigned index = w->nchunks;
    if ((rc = write_chunk(w, RF_TYPE_TENSOR, RF_CODEC_RECIPE, payload, sizeof payload, raw, sha, 1))) {
        w->broken = 1;
        return rc;
    }
    if ((rc = append_tensor(w, tensor_record(name, index, dtype, rank, shape, RF_CODEC_RECIPE), name, sha, 0))) {
        w->broken = 1;
        return rc;
    }
    w->flags |= RF_FLAG_RECIPES;
    if (as_recipe) *as_recipe = 1;
    return RAIIAF_OK;
}

int raiiaf_writer_add_tensor_relative(raiiaf_writer *w, const char *name, raiiaf_dtype dtype, unsigned rank,
                                      const uint64_t *shape, const void *data, size_t size, const char *reference,
                                      const void *reference_data, raiiaf_codec codec, int *as_relative)
{
    if (as_relative) *as_relative = 0;
    if (!w) return RAIIAF_E_ARG;
    uint64_t raw;
    int rc = check_whole_tensor(w, name, dtype, rank, shape, data, size, codec, &raw);
    if (rc) return rc;
    if (!reference_data && size) return rf_fail(&w->err, RAIIAF_E_ARG, "tensor \"%s\": reference data is NULL", name);
    if (!reference) return rf_fail(&w->err, RAIIAF_E_ARG, "tensor \"%s\": no reference named", name);
    if (w->f1) { /* the format 1 writer keeps no tensor records to refer to */
        rc = raiiaf_writer_add_tensor(w, name, dtype, rank, shape, data, size, codec, 0);
        if (!rc) rf_fail(&w->err, RAIIAF_OK, "tensor \"%s\" stored alone: format 1 has no relative tensors", name);
        return rc;
    }
    json_t *ref = NULL, *t;
    size_t i;
    json_array_foreach(w->tensors, i, t)
        if (!strcmp(json_string_value(json_object_get(t, "name")), reference)) ref = t;
    if (!ref) return rf_fail(&w->err, RAIIAF_E_NOT_FOUND, "tensor \"%s\": no earlier tensor named \"%s\" to be relative to", name, reference);
    json_t *dims = json_array();
    for (unsigned k = 0; dims && k < rank; k++) json_array_append_new(dims, json_integer((json_int_t)shape[k]));
    int same = dims && json_equal(dims, json_object_get(ref, "shape")) &&
               !strcmp(json_string_value(json_object_get(ref, "dtype")), raiiaf_dtype_name(dtype));
    json_decref(dims);
    if (!same) return rf_fail(&w->err, RAIIAF_E_ARG, "tensor \"%s\": reference \"%s\" has another dtype or shape", name, reference);
    /* A wrong reference_data would decode to wrong values with every digest
     * intact, so it is proven to be what the file holds. */
    json_t *known = json_object_get(w->values, reference);
    char sha[65], rsha[65];
    if (rf_sha256_hex(reference_data, size, rsha) || rf_sha256_hex(data, size, sha))
        return rf_fail(&w->err, RAIIAF_E_NOMEM, "out of memory");
    if (strcmp(rsha, json_string_value(json_array_get(known, 0))))
        return rf_fail(&w->err, RAIIAF_E_ARG, "tensor \"%s\": reference_data is not the values stored for \"%s\"", name, reference);
    unsigned depth = (unsigned)json_integer_value(json_array_get(known, 1)) + 1;

    char why[300] = "";
    unsigned char *residual = NULL, *coded = NULL, *alone = NULL;
    size_t coded_size = 0, alone_size = size;
    if (codec == RAIIAF_CODEC_ZFP)
        snprintf(why, sizeof why, "zfp codes values, not bit differences");
    else if (depth >= RF_MAX_REFERENCE_DEPTH)
        snprintf(why, sizeof why, "its reference chain would be longer than %u", RF_MAX_REFERENCE_DEPTH);
    else {
        residual = malloc(size ? size : 1);
        if (!residual) return rf_fail(&w->err, RAIIAF_E_NOMEM, "tensor \"%s\": out of memory", name);
        const unsigned char *a = data, *b = reference_data;
        for (size_t k = 0; k < size; k++) residual[k] = a[k] ^ b[k];
        unsigned esize = (unsigned)raiiaf_dtype_size(dtype);
        rc = rf_planes_encode_tensor(residual, size, esize, TENSOR_ZSTD_LEVEL, rank, shape, &coded, &coded_size, &w->err);
        if (!rc && codec != RAIIAF_CODEC_RAW)
            rc = rf_planes_encode_tensor(data, size, esize, TENSOR_ZSTD_LEVEL, rank, shape, &alone, &alone_size, &w->err);
        if (!rc && codec == RAIIAF_CODEC_AUTO && alone_size >= size) { /* as encode_tensor: raw when not smaller */
            free(alone);
            alone = NULL;
            alone_size = size;
        }
        if (!rc && coded_size >= alone_size)
            snprintf(why, sizeof why, "relative to \"%s\" it takes %zu bytes, alone %zu", reference, coded_size, alone_size);
    }
    if (rc || (why[0] && !residual)) { /* nothing coded yet (zfp, chain too long), or an error */
        free(residual);
        free(coded);
        free(alone);
        if (rc) return rc;
        rc = raiiaf_writer_add_tensor(w, name, dtype, rank, shape, data, size, codec, 0);
        if (!rc) rf_fail(&w->err, RAIIAF_OK, "tensor \"%s\" stored alone: %s", name, why);
        return rc;
    }
    /* Store whichever form won, with what was already coded.  A chunk's
     * digest is of its decoded payload: the values, or the XOR residual. */
    int relative = !why[0];
    unsigned chunk_codec = relative || alone ? RF_CODEC_ZSTD : RF_CODEC_RAW;
    char csha[65];
    if (!relative)
        memcpy(csha, sha, sizeof csha);
    else if (rf_sha256_hex(residual, size, csha))
        rc = rf_fail(&w->err, RAIIAF_E_NOMEM, "out of memory");
    free(residual);
    unsigned index = w->nchunks;
    if (!rc)
        rc = write_chunk(w, RF_TYPE_TENSOR, chunk_codec, relative ? coded : alone ? alone : (const unsigned char *)data,
                         relative ? coded_size : alone_size, raw, csha, 1);
    free(coded);
    free(alone);
    if (rc) {
        w->broken = 1;
        return rc;
    }
    json_t *rec = tensor_record(name, index, dtype, rank, shape, chunk_codec);
    if (rec && relative && json_object_set_new(rec, "reference", json_string(reference))) {
        json_decref(rec);
        rec = NULL;
    }
    if ((rc = append_tensor(w, rec, name, sha, relative ? depth : 0))) {
        w->broken = 1;
        return rc;
    }
    if (!relative) return rf_fail(&w->err, RAIIAF_OK, "tensor \"%s\" stored alone: %s", name, why);
    w->flags |= RF_FLAG_REFERENCES;
    if (as_relative) *as_relative = 1;
    return RAIIAF_OK;
}
