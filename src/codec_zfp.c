/* codec_zfp.c -- zfp for float32/float64/int32/int64 tensors.
 *
 * Size-1 dimensions are dropped before coding: zfp works on blocks of 4^d
 * values, so a (1,4,128,128) latent given as a 4-D field pads every block
 * along N and stores 3-4x raw; as the 3-D field (4,128,128) it compresses.
 * The stream carries zfp's magic and mode header but not its field header:
 * the manifest already records dtype and shape, and zfp's field header
 * cannot express dimensions above 4096 in 4-D. */
#include "codec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zfp.h>

#define HEADER_MASK (ZFP_HEADER_MAGIC | ZFP_HEADER_MODE)

static zfp_type zfp_type_of(raiiaf_dtype d)
{
    switch (d) {
    case RAIIAF_F32: return zfp_type_float;
    case RAIIAF_F64: return zfp_type_double;
    case RAIIAF_I32: return zfp_type_int32;
    case RAIIAF_I64: return zfp_type_int64;
    default: return zfp_type_none;
    }
}

/* Drops size-1 dimensions; returns the zfp dimensionality (1..4) with
 * nx (fastest varying, C order's last axis) first, or 0 if over 4. */
static unsigned squeeze(unsigned rank, const uint64_t *shape, size_t n[4])
{
    unsigned d = 0;
    for (unsigned i = rank; i-- > 0;) {
        if (shape[i] == 1) continue;
        if (d == 4) return 0;
        n[d++] = (size_t)shape[i];
    }
    if (d == 0) n[d++] = 1; /* a scalar or all-ones shape: one value */
    return d;
}

int rf_zfp_supported(raiiaf_dtype dtype, unsigned rank, const uint64_t *shape)
{
    size_t n[4];
    for (unsigned i = 0; i < rank; i++)
        if (shape[i] == 0) return 0; /* nothing to code; raw is exact and free */
    return zfp_type_of(dtype) != zfp_type_none && squeeze(rank, shape, n) != 0;
}

static zfp_field *make_field(void *data, raiiaf_dtype dtype, unsigned rank, const uint64_t *shape)
{
    size_t n[4];
    unsigned d = squeeze(rank, shape, n);
    zfp_type t = zfp_type_of(dtype);
    switch (d) {
    case 1: return zfp_field_1d(data, t, n[0]);
    case 2: return zfp_field_2d(data, t, n[0], n[1]);
    case 3: return zfp_field_3d(data, t, n[0], n[1], n[2]);
    case 4: return zfp_field_4d(data, t, n[0], n[1], n[2], n[3]);
    default: return NULL;
    }
}

static double max_abs_error(const void *a, const void *b, raiiaf_dtype dtype, size_t count)
{
    double m = 0;
    for (size_t i = 0; i < count; i++) {
        double x, y;
        if (dtype == RAIIAF_F32) {
            x = ((const float *)a)[i];
            y = ((const float *)b)[i];
        } else {
            x = ((const double *)a)[i];
            y = ((const double *)b)[i];
        }
        double d = fabs(x - y);
        if (d > m) m = d;
    }
    return m;
}

static int all_finite(const void *a, raiiaf_dtype dtype, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        double x = dtype == RAIIAF_F32 ? ((const float *)a)[i] : ((const double *)a)[i];
        if (!isfinite(x)) return 0;
    }
    return 1;
}

int rf_zfp_encode(const void *src, raiiaf_dtype dtype, unsigned rank, const uint64_t *shape, double tolerance,
                  unsigned char **out, size_t *out_size, double *max_error, char decoded_sha[65], rf_err *e)
{
    *out = NULL;
    *out_size = 0;
    *max_error = 0;
    if (!rf_zfp_supported(dtype, rank, shape))
        return rf_fail(e, RAIIAF_E_CODEC, "zfp codes float32, float64, int32 and int64 tensors with at most 4 dimensions of size > 1 (and none of size 0)");
    int lossy = tolerance > 0;
    if (lossy && dtype != RAIIAF_F32 && dtype != RAIIAF_F64)
        return rf_fail(e, RAIIAF_E_CODEC, "zfp: a tolerance needs a float32 or float64 tensor");
    size_t esize = raiiaf_dtype_size(dtype), count = 1;
    for (unsigned i = 0; i < rank; i++) count *= (size_t)shape[i];
    if (lossy && !all_finite(src, dtype, count))
        return rf_fail(e, RAIIAF_E_CODEC, "zfp: fixed-accuracy mode cannot code NaN or infinity");

    int rc = RAIIAF_OK;
    unsigned char *buf = NULL, *check = NULL;
    bitstream *bs = NULL;
    zfp_stream *zs = zfp_stream_open(NULL);
    zfp_field *field = make_field((void *)src, dtype, rank, shape);
    if (!zs || !field) {
        rc = rf_fail(e, RAIIAF_E_NOMEM, "zfp: out of memory");
        goto done;
    }
    if (lossy) zfp_stream_set_accuracy(zs, tolerance);
    else zfp_stream_set_reversible(zs);
    size_t cap = zfp_stream_maximum_size(zs, field);
    buf = malloc(cap);
    if (!buf || !(bs = stream_open(buf, cap))) {
        rc = rf_fail(e, RAIIAF_E_NOMEM, "zfp: out of memory for %zu bytes", cap);
        goto done;
    }
    zfp_stream_set_bit_stream(zs, bs);
    zfp_stream_rewind(zs);
    if (!zfp_write_header(zs, field, HEADER_MASK) || !zfp_compress(zs, field)) {
        rc = rf_fail(e, RAIIAF_E_CODEC, "zfp: compression failed");
        goto done;
    }
    size_t n = zfp_stream_flush(zs), used = zfp_stream_compressed_size(zs);
    (void)n;

    /* Decode what was written: proves reversible mode exact (NaN payloads
     * and all) and measures the real error of fixed-accuracy mode. */
    check = malloc(count * esize + 1);
    if (!check) {
        rc = rf_fail(e, RAIIAF_E_NOMEM, "zfp: out of memory");
        goto done;
    }
    rc = rf_zfp_decode(buf, used, dtype, rank, shape, check, count * esize, "zfp self-check", e);
    if (rc) goto done;
    if (!lossy && memcmp(check, src, count * esize) != 0) {
        rc = rf_fail(e, RAIIAF_E_CODEC, "zfp: reversible mode did not reproduce the tensor bit for bit");
        goto done;
    }
    if (lossy) {
        *max_error = max_abs_error(src, check, dtype, count);
        if (rf_sha256_hex(check, count * esize, decoded_sha)) {
            rc = rf_fail(e, RAIIAF_E_NOMEM, "zfp: out of memory");
            goto done;
        }
    }
    *out = buf;
    *out_size = used;
    buf = NULL;
done:
    free(buf);
    free(check);
    zfp_field_free(field);
    zfp_stream_close(zs);
    stream_close(bs);
    return rc;
}

/* Reads the stream's header (at most ZFP_HEADER_MAX_BITS = 148 bits) from a
 * bounded, zero-padded copy of its first bytes, so a short stream cannot
 * make zfp read past it.  Returns the header's size in bits, 0 if invalid. */
static size_t read_header_bounded(zfp_stream *zs, zfp_field *field, const void *src, size_t stored, unsigned mask)
{
    unsigned char head[32] = {0};
    memcpy(head, src, stored < sizeof head ? stored : sizeof head);
    bitstream *bs = stream_open(head, sizeof head);
    if (!bs) return 0;
    zfp_stream_set_bit_stream(zs, bs);
    zfp_stream_rewind(zs);
    size_t bits = zfp_read_header(zs, field, mask);
    zfp_stream_set_bit_stream(zs, NULL);
    stream_close(bs);
    return bits;
}

/* Decodes into the field's pointer.  zfp's decoder does not bound its reads
 * by the buffer; it reads at most what the worst case for this mode and
 * shape could have written, so it decodes from a zero-padded copy of
 * exactly that size.  *used receives the bytes the decoder consumed. */
static int decode_bounded(zfp_stream *zs, zfp_field *field, const void *src, size_t stored, unsigned mask,
                          size_t *used, const char *where, rf_err *e)
{
    size_t cap = zfp_stream_maximum_size(zs, field);
    if (cap == 0 || stored > cap)
        return rf_fail(e, RAIIAF_E_CORRUPT, "%s: zfp stream of %zu bytes exceeds the %zu bytes its mode can produce", where, stored, cap);
    cap += 64;
    unsigned char *pad = calloc(1, cap);
    bitstream *bs = pad ? stream_open(pad, cap) : NULL;
    if (!bs) {
        free(pad);
        return rf_fail(e, RAIIAF_E_NOMEM, "%s: zfp: out of memory for %zu bytes", where, cap);
    }
    memcpy(pad, src, stored);
    zfp_stream_set_bit_stream(zs, bs);
    zfp_stream_rewind(zs);
    int rc = RAIIAF_OK;
    if (!zfp_read_header(zs, field, mask)) rc = rf_fail(e, RAIIAF_E_CORRUPT, "%s: zfp stream header is invalid", where);
    else *used = zfp_decompress(zs, field);
    if (!rc && (*used == 0 || *used > stored))
        rc = rf_fail(e, RAIIAF_E_CORRUPT, "%s: zfp stream is damaged (decoder needed %zu bytes, %zu stored)", where, *used, stored);
    zfp_stream_set_bit_stream(zs, NULL);
    stream_close(bs);
    free(pad);
    return rc;
}

int rf_zfp_decode(const void *src, size_t stored, raiiaf_dtype dtype, unsigned rank, const uint64_t *shape,
                  void *dst, size_t raw_size, const char *where, rf_err *e)
{
    if (!rf_zfp_supported(dtype, rank, shape))
        return rf_fail(e, RAIIAF_E_CORRUPT, "%s: zfp cannot hold a %s tensor of this shape", where, raiiaf_dtype_name(dtype));
    (void)raw_size;
    int rc;
    size_t used = 0;
    zfp_stream *zs = zfp_stream_open(NULL);
    zfp_field *field = make_field(dst, dtype, rank, shape);
    if (!zs || !field)
        rc = rf_fail(e, RAIIAF_E_NOMEM, "%s: zfp: out of memory", where);
    else if (!read_header_bounded(zs, field, src, stored, HEADER_MASK))
        rc = rf_fail(e, RAIIAF_E_CORRUPT, "%s: zfp stream header is invalid", where);
    else
        rc = decode_bounded(zs, field, src, stored, HEADER_MASK, &used, where, e);
    zfp_field_free(field);
    zfp_stream_close(zs);
    return rc;
}

/* ---- format 1: full-header 4-D float32 streams ------------------------ */

int rf_zfp_decode_full4(const void *src, size_t stored, const size_t n[4], void *dst, size_t raw_size,
                        const char *where, rf_err *e)
{
    int rc = RAIIAF_OK;
    zfp_stream *zs = zfp_stream_open(NULL);
    zfp_field *field = zfp_field_alloc();
    if (!zs || !field) {
        rc = rf_fail(e, RAIIAF_E_NOMEM, "%s: zfp: out of memory", where);
        goto done;
    }
    if (raw_size != n[0] * n[1] * n[2] * n[3] * sizeof(float)) {
        rc = rf_fail(e, RAIIAF_E_BUFFER, "%s: zfp: buffer of %zu bytes for a %zux%zux%zux%zu float32 field", where, raw_size,
                     n[0], n[1], n[2], n[3]);
        goto done;
    }
    size_t hbits = read_header_bounded(zs, field, src, stored, ZFP_HEADER_FULL);
    if (!hbits || stored * 8 < hbits) {
        rc = rf_fail(e, RAIIAF_E_CORRUPT, "%s: zfp stream header is invalid", where);
        goto done;
    }
    size_t fx = field->nx, fy = field->ny, fz = field->nz, fw = field->nw;
    if (field->type != zfp_type_float || zfp_field_dimensionality(field) != 4 || fx != n[0] || fy != n[1] || fz != n[2] || fw != n[3]) {
        const char *t = field->type == zfp_type_float ? "float32" : field->type == zfp_type_double ? "float64" : "integer";
        rc = rf_fail(e, RAIIAF_E_CORRUPT,
                     "%s: the zfp header describes a %u-D %s field (nx=%zu ny=%zu nz=%zu nw=%zu); the manifest's shape [N,C,H,W] needs 4-D float32 nx=%zu ny=%zu nz=%zu nw=%zu",
                     where, zfp_field_dimensionality(field), t, fx, fy, fz, fw, n[0], n[1], n[2], n[3]);
        goto done;
    }
    if (zfp_stream_compression_mode(zs) != zfp_mode_reversible) {
        rc = rf_fail(e, RAIIAF_E_CORRUPT, "%s: zfp stream is not in reversible (lossless) mode", where);
        goto done;
    }
    zfp_field_set_pointer(field, dst);
    size_t used = 0;
    rc = decode_bounded(zs, field, src, stored, ZFP_HEADER_FULL, &used, where, e);
    if (!rc && used != stored)
        rc = rf_fail(e, RAIIAF_E_CORRUPT, "%s: zfp stream ends after %zu of its %zu stored bytes", where, used, stored);
done:
    zfp_field_free(field);
    zfp_stream_close(zs);
    return rc;
}

int rf_zfp_encode_full4(const float *src, const size_t n[4], unsigned char **out, size_t *out_size, rf_err *e)
{
    *out = NULL;
    *out_size = 0;
    for (int i = 0; i < 4; i++)
        if (n[i] < 1 || n[i] > 4096)
            return rf_fail(e, RAIIAF_E_CODEC, "zfp's 4-D header holds dimensions of 1 to 4096; this one is %zu", n[i]);
    int rc = RAIIAF_OK;
    unsigned char *buf = NULL, *check = NULL;
    bitstream *bs = NULL;
    size_t raw = n[0] * n[1] * n[2] * n[3] * sizeof(float);
    zfp_stream *zs = zfp_stream_open(NULL);
    zfp_field *field = zfp_field_4d((void *)src, zfp_type_float, n[0], n[1], n[2], n[3]);
    if (!zs || !field) {
        rc = rf_fail(e, RAIIAF_E_NOMEM, "zfp: out of memory");
        goto done;
    }
    zfp_stream_set_reversible(zs);
    size_t cap = zfp_stream_maximum_size(zs, field);
    buf = malloc(cap);
    if (!buf || !(bs = stream_open(buf, cap))) {
        rc = rf_fail(e, RAIIAF_E_NOMEM, "zfp: out of memory for %zu bytes", cap);
        goto done;
    }
    zfp_stream_set_bit_stream(zs, bs);
    zfp_stream_rewind(zs);
    size_t used;
    /* As the Python package's zfpy.compress_numpy: full header, compress,
     * keep the bytes zfp_compress reports. */
    if (!zfp_write_header(zs, field, ZFP_HEADER_FULL) || !(used = zfp_compress(zs, field))) {
        rc = rf_fail(e, RAIIAF_E_CODEC, "zfp: compression failed");
        goto done;
    }
    check = malloc(raw ? raw : 1);
    if (!check) {
        rc = rf_fail(e, RAIIAF_E_NOMEM, "zfp: out of memory");
        goto done;
    }
    rc = rf_zfp_decode_full4(buf, used, n, check, raw, "zfp self-check", e);
    if (!rc && memcmp(check, src, raw))
        rc = rf_fail(e, RAIIAF_E_CODEC, "zfp: reversible mode did not reproduce the tensor bit for bit");
    if (rc) goto done;
    *out = buf;
    *out_size = used;
    buf = NULL;
done:
    free(buf);
    free(check);
    zfp_field_free(field);
    zfp_stream_close(zs);
    stream_close(bs);
    return rc;
}
