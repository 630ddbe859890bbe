/* codec_zstd.c -- lossless coding of tensors as byte planes, one zstd frame
 * per plane.  Splitting bytes by significance puts the sign/exponent bytes
 * of floats (low entropy) apart from the mantissa bytes (near random), so
 * zstd's entropy coder sees homogeneous data: f32 noise stores at about 0.85
 * of raw against 0.92 for zstd on the interleaved bytes. */
#include "codec.h"

#include <stdlib.h>
#include <string.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_c_literalCompressionMode (a parameter value; works with the shared library) */
#include <zstd.h>
#include <zstd_errors.h>

#include "codec_planes.h"

rf_planes_tuning rf_planes_tune = {0x7u, 7.9, 1, 1.0, 1};

/* Per-thread zstd contexts and plane scratch, reused across calls: creating
 * a context and faulting in fresh pages for every tensor cost more than
 * coding a (1,4,128,128) latent.  Scratch above 64 MiB is not kept. */
#define RF_SCRATCH_KEEP ((size_t)64 << 20)
static _Thread_local ZSTD_CCtx *tl_cctx;
static _Thread_local ZSTD_DCtx *tl_dctx;
static _Thread_local unsigned char *tl_scratch;
static _Thread_local size_t tl_scratch_cap;

static unsigned char *scratch_get(size_t size)
{
    if (size > RF_SCRATCH_KEEP) return malloc(size);
    if (tl_scratch_cap < size) {
        free(tl_scratch);
        tl_scratch_cap = 0;
        tl_scratch = malloc(size < ((size_t)1 << 20) ? ((size_t)1 << 20) : size);
        if (!tl_scratch) return NULL;
        tl_scratch_cap = size < ((size_t)1 << 20) ? ((size_t)1 << 20) : size;
    }
    return tl_scratch;
}

static void scratch_put(unsigned char *p)
{
    if (p != tl_scratch) free(p);
}

void rf_zstd_thread_release(void)
{
    ZSTD_freeCCtx(tl_cctx);
    ZSTD_freeDCtx(tl_dctx);
    free(tl_scratch);
    tl_cctx = NULL;
    tl_dctx = NULL;
    tl_scratch = NULL;
    tl_scratch_cap = 0;
}

static ZSTD_CCtx *cctx_get(void)
{
    if (!tl_cctx) tl_cctx = ZSTD_createCCtx();
    return tl_cctx;
}

static ZSTD_DCtx *dctx_get(void)
{
    if (!tl_dctx) tl_dctx = ZSTD_createDCtx();
    return tl_dctx;
}

/* Compresses one plane; returns the frame size, or 0 when it does not pay
 * (the caller stores the plane). */
static size_t compress_plane(ZSTD_CCtx *cctx, unsigned char *tmp, size_t bound, const unsigned char *plane, size_t n,
                             int level, int zmode, rf_err *e, int *rc, unsigned k)
{
    size_t c;
    if (zmode == 1) {
        /* Huffman-coded literals: the fast strategy with the longest minimum
         * match and a large acceleration (targetLength) finds almost no
         * matches, except long runs; literals stay entropy coded. */
        ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_strategy, ZSTD_fast);
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, 17);
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_hashLog, 12);
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_minMatch, 7);
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_targetLength, 64);
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_literalCompressionMode, ZSTD_ps_enable);
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
        c = ZSTD_compress2(cctx, tmp, bound, plane, n);
    } else {
        ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
        c = ZSTD_compressCCtx(cctx, tmp, bound, plane, n, level);
    }
    if (ZSTD_isError(c)) {
        if (ZSTD_getErrorCode(c) == ZSTD_error_dstSize_tooSmall) return 0;
        *rc = rf_fail(e, RAIIAF_E_CODEC, "zstd planes: plane %u: %s", k, ZSTD_getErrorName(c));
        return 0;
    }
    return c < n ? c : 0;
}

int rf_planes_encode(const void *src, size_t size, unsigned E, int level, unsigned char **out,
                     size_t *out_size, rf_err *e)
{
    return rf_planes_encode_rows(src, size, E, level, 0, out, out_size, e);
}

int rf_planes_encode_tensor(const void *src, size_t size, unsigned E, int level, unsigned rank, const uint64_t *shape,
                            unsigned char **out, size_t *out_size, rf_err *e)
{
    uint32_t W = 0;
    if (rank >= 2 && shape[rank - 1] > 1 && shape[rank - 1] <= UINT32_MAX) W = (uint32_t)shape[rank - 1];
    return rf_planes_encode_rows(src, size, E, level, W, out, out_size, e);
}

/* Codes the planes (already split with transform xf) into res; returns the
 * payload size, 0 on error (rc set).  exhaustive: each plane that is tried
 * is tried both ways (zstd level, Huffman-only) and the smaller kept. */
static size_t code_planes(ZSTD_CCtx *cctx, const unsigned char *planes, size_t n, unsigned E, unsigned xf, uint32_t W,
                          const double *est, int level, int exhaustive, unsigned char *res, unsigned char *tmp,
                          rf_err *e, int *rc)
{
    memset(res, 0, RF_PLANES_PREFIX(E));
    res[0] = (unsigned char)E;
    res[1] = (unsigned char)xf;
    if (xf == RF_XFORM_DELTA) rf_put32(res + 4, W);
    size_t pos = RF_PLANES_PREFIX(E);
    for (unsigned k = 0; k < E; k++) {
        const unsigned char *plane = planes + (size_t)k * n;
        unsigned char *rec = res + 8 + 16 * k;
        size_t c = 0;
        int try_zstd = n && (E == 1 || exhaustive || est[k] < rf_planes_tune.store_bits);
        if (try_zstd) {
            /* Compressed straight into the result with room for n - 1 bytes:
             * a frame that does not fit would not pay, and the plane is stored.
             * Skewed planes (mostly one value: smooth data's top bytes) gain
             * from zstd's matches; others are Huffman coded (zmode 1). */
            int zm = (E == 1 || est[k] < rf_planes_tune.match_bits) ? 0 : rf_planes_tune.zmode;
            c = compress_plane(cctx, res + pos, n - 1, plane, n, level, zm, e, rc, k);
            if (*rc) return 0;
            if (exhaustive && E > 1) {
                size_t c2 = compress_plane(cctx, tmp, c ? c - 1 : n - 1, plane, n, level, !zm, e, rc, k);
                if (*rc) return 0;
                if (c2) {
                    memcpy(res + pos, tmp, c2);
                    c = c2;
                }
            }
        }
        if (c) {
            rec[0] = 1;
            rf_put64(rec + 8, c);
            pos += c;
        } else {
            rec[0] = 0;
            rf_put64(rec + 8, n);
            memcpy(res + pos, plane, n);
            pos += n;
        }
    }
    return pos;
}

/* Up to this size a tensor is coded with every transform and both plane
 * coders, and the smallest payload kept (cheap for small tensors, where the
 * sampled estimate is least reliable). */
#define RF_EXHAUSTIVE_MAX ((size_t)64 << 10)

int rf_planes_encode_rows(const void *src, size_t size, unsigned E, int level, uint32_t W, unsigned char **out,
                          size_t *out_size, rf_err *e)
{
    *out = NULL;
    *out_size = 0;
    if (E < 1 || E > 8 || size % E) return rf_fail(e, RAIIAF_E_ARG, "zstd planes: %zu bytes is not a whole number of %u-byte elements", size, E);
    size_t n = size / E;
    size_t bound = ZSTD_compressBound(n);
    if (ZSTD_isError(bound)) return rf_fail(e, RAIIAF_E_LIMIT, "zstd planes: plane of %zu bytes too large for zstd", n);
    /* Worst case every plane is stored: prefix + size. */
    size_t cap = RF_PLANES_PREFIX(E) + size;
    int exhaustive = E > 1 && size <= RF_EXHAUSTIVE_MAX && rf_planes_tune.exhaustive;
    /* Exhaustive: two payload buffers (best so far, candidate), each with n
     * bytes of room after it for the second coder's trial frame. */
    unsigned char *res = malloc(exhaustive ? cap + n + 1 : (cap ? cap : 1));
    unsigned char *alt = exhaustive ? malloc(cap + n + 1) : NULL;
    unsigned char *planes = scratch_get(size ? size : 1);
    ZSTD_CCtx *cctx = cctx_get();
    int rc = RAIIAF_OK;
    size_t pos = 0;
    if (!res || !planes || !cctx || (exhaustive && !alt)) {
        rc = rf_fail(e, RAIIAF_E_NOMEM, "zstd planes: out of memory for %zu bytes", size);
        goto done;
    }
    /* Multi-byte elements (tensors): choose the transform whose planes have
     * the lowest sampled entropy, and store planes that look random without
     * running zstd on them (small tensors: try everything, keep the
     * smallest).  Single-byte content (manifest, text) is coded as it always
     * was: transform 0, every plane tried with zstd at `level`. */
    unsigned xf = RF_XFORM_NONE;
    double est[8] = {0, 0, 0, 0, 0, 0, 0, 0}, best = 0;
    int have = 0;
    if (exhaustive) {
        for (unsigned t = 0; t <= RF_XFORM_MAX; t++) {
            if (!(rf_planes_tune.xforms & (1u << t))) continue;
            double b[8];
            rf_planes_estimate(src, n, E, t, W, b);
            if (rf_planes_split(src, n, E, t, W, planes)) {
                rc = rf_fail(e, RAIIAF_E_NOMEM, "zstd planes: out of memory for %zu bytes", size);
                goto done;
            }
            size_t p2 = code_planes(cctx, planes, n, E, t, W, b, level, 1, alt, alt + cap, e, &rc);
            if (rc) goto done;
            if (!have || p2 < pos) {
                unsigned char *sw = res;
                have = 1;
                pos = p2;
                res = alt;
                alt = sw;
            }
        }
        goto finish;
    }
    if (E > 1 && n) {
        for (unsigned t = 0; t <= RF_XFORM_MAX; t++) {
            if (!(rf_planes_tune.xforms & (1u << t))) continue;
            double b[8];
            double sum = rf_planes_estimate(src, n, E, t, W, b);
            /* A later transform must beat the one before by 1% to be chosen. */
            if (!have || sum < best * 0.99) {
                have = 1;
                best = sum;
                xf = t;
                memcpy(est, b, sizeof est);
            }
        }
    }
    if (rf_planes_split(src, n, E, xf, W, planes)) {
        rc = rf_fail(e, RAIIAF_E_NOMEM, "zstd planes: out of memory for %zu bytes", size);
        goto done;
    }
    pos = code_planes(cctx, planes, n, E, xf, W, est, level, 0, res, NULL, e, &rc);
    if (rc) goto done;
finish:
    *out = res;
    *out_size = pos;
    res = NULL;
done:
    free(res);
    free(alt);
    if (planes) scratch_put(planes);
    return rc;
}

int rf_planes_decode(const void *srcv, size_t stored, void *dstv, size_t raw_size, unsigned want_E,
                     const char *where, rf_err *e)
{
    const unsigned char *src = srcv;
    unsigned char *dst = dstv;
    if (stored < 8) return rf_fail(e, RAIIAF_E_CORRUPT, "%s: zstd payload of %zu bytes is shorter than its 8-byte prefix", where, stored);
    unsigned E = src[0];
    if (E < 1 || E > RF_MAX_PLANES) return rf_fail(e, RAIIAF_E_CORRUPT, "%s: zstd payload declares %u byte planes (1..8 allowed)", where, E);
    if (want_E && E != want_E) return rf_fail(e, RAIIAF_E_CORRUPT, "%s: zstd payload has %u byte planes, the dtype needs %u", where, E, want_E);
    unsigned xf = src[1];
    if (xf > RF_XFORM_MAX) return rf_fail(e, RAIIAF_E_CORRUPT, "%s: zstd payload has unknown transform %u", where, xf);
    for (unsigned i = 2; i < (xf == RF_XFORM_DELTA ? 4u : 8u); i++)
        if (src[i]) return rf_fail(e, RAIIAF_E_CORRUPT, "%s: zstd payload reserved byte %u is not zero", where, i);
    uint32_t W = xf == RF_XFORM_DELTA ? rf_le32(src + 4) : 0;
    if (raw_size % E) return rf_fail(e, RAIIAF_E_CORRUPT, "%s: raw size %zu is not a multiple of %u planes", where, raw_size, E);
    if (stored < RF_PLANES_PREFIX(E)) return rf_fail(e, RAIIAF_E_TRUNCATED, "%s: zstd payload of %zu bytes ends inside its plane table", where, stored);
    size_t n = raw_size / E;
    size_t pos = RF_PLANES_PREFIX(E);
    /* Plane k decodes into buf + k*n, or is read in place when stored.  With
     * one plane and no transform, the plane is the content: decode into dst. */
    int direct = (E == 1 && xf == 0);
    unsigned char *buf = direct ? NULL : scratch_get(raw_size ? raw_size : 1);
    const unsigned char *pl[8];
    ZSTD_DCtx *dctx = dctx_get();
    int rc = RAIIAF_OK;
    if ((!direct && !buf) || !dctx) {
        rc = rf_fail(e, RAIIAF_E_NOMEM, "%s: out of memory decoding %zu bytes", where, raw_size);
        goto done;
    }
    for (unsigned k = 0; k < E; k++) {
        const unsigned char *rec = src + 8 + 16 * k;
        uint64_t psize = rf_le64(rec + 8);
        for (unsigned i = 1; i < 8; i++)
            if (rec[i]) {
                rc = rf_fail(e, RAIIAF_E_CORRUPT, "%s: plane %u record has a non-zero reserved byte", where, k);
                goto done;
            }
        if (psize > stored - pos) {
            rc = rf_fail(e, RAIIAF_E_CORRUPT, "%s: plane %u declares %llu bytes, only %zu remain in the payload",
                         where, k, (unsigned long long)psize, stored - pos);
            goto done;
        }
        unsigned char *target = direct ? dst : buf + (size_t)k * n;
        if (rec[0] == 0) {
            if (psize != n) {
                rc = rf_fail(e, RAIIAF_E_CORRUPT, "%s: stored plane %u has %llu bytes, expected %zu", where, k, (unsigned long long)psize, n);
                goto done;
            }
            if (direct)
                memcpy(target, src + pos, n);
            pl[k] = src + pos;
        } else if (rec[0] == 1) {
            /* The frame must fill the plane exactly and use exactly psize bytes:
             * anything else is corruption, not something to tolerate. */
            unsigned long long fcs = ZSTD_getFrameContentSize(src + pos, (size_t)psize);
            size_t fsize = ZSTD_findFrameCompressedSize(src + pos, (size_t)psize);
            if (fcs != n || ZSTD_isError(fsize) || fsize != psize) {
                rc = rf_fail(e, RAIIAF_E_CORRUPT, "%s: plane %u is not one zstd frame of %zu bytes", where, k, n);
                goto done;
            }
            size_t got = ZSTD_decompressDCtx(dctx, target, n, src + pos, (size_t)psize);
            if (ZSTD_isError(got) || got != n) {
                rc = rf_fail(e, RAIIAF_E_CORRUPT, "%s: plane %u: zstd: %s", where, k,
                             ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short output");
                goto done;
            }
            pl[k] = target;
        } else {
            rc = rf_fail(e, RAIIAF_E_CORRUPT, "%s: plane %u has unknown mode %u", where, k, rec[0]);
            goto done;
        }
        pos += (size_t)psize;
    }
    if (pos != stored) {
        rc = rf_fail(e, RAIIAF_E_CORRUPT, "%s: %zu unused bytes after the last plane", where, stored - pos);
        goto done;
    }
    if (!direct && rf_planes_merge(pl, n, E, xf, W, dst))
        rc = rf_fail(e, RAIIAF_E_NOMEM, "%s: out of memory decoding %zu bytes", where, raw_size);
done:
    if (buf) scratch_put(buf);
    return rc;
}
