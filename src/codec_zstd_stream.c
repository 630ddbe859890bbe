/* codec_zstd_stream.c -- the byte-plane zstd coder (codec 1, SPEC 6.2) for
 * large tensors, written straight into the file in pieces.
 *
 * The in-memory coder (codec_zstd.c) holds the split planes and the payload
 * beside the tensor: with the writer's own copy, `create` needed 4x a
 * tensor's size (a 1 GiB latent: 4 GB).  Here each plane is made a block of
 * elements at a time (the transform applied to that block; for the delta
 * transform the block starts one row early so its first row has the row
 * above), fed to a zstd stream and written at its place in the file, so
 * memory is the caller's tensor plus a block buffer and zstd's context.  A
 * plane is made once per plane (E passes over the tensor): the split is
 * cheap next to zstd.
 *
 * The plane table comes first in the payload but is known last: it is
 * written over a placeholder at the end, and the payload's CRC-32C is
 * combined from the table's and each plane's.  A plane whose frame would not
 * be smaller than the plane is stored instead, as the in-memory coder does. */
#include "codec.h"
#include "codec_planes.h"
#include "fileio.h"

#include <stdlib.h>
#include <string.h>
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_c_literalCompressionMode */
#include <zstd.h>

/* Elements per block (the buffer holds E planes of a block plus one row). */
#define BLOCK_ELEMS ((size_t)1 << 20)

typedef struct {
    const unsigned char *src;
    size_t n;      /* elements */
    unsigned E, xf;
    uint32_t W;
    size_t rows_w; /* delta: row length (n when one row) */
    unsigned char *buf;
    size_t buf_cap;
    int fd;
    const char *path;
    rf_err *e;
} stream;

/* Plane k of elements [i0, i0 + *m): a pointer to *m bytes.  The block is
 * as long as BLOCK_ELEMS allows (whole rows for the delta transform). */
static const unsigned char *plane_block(stream *s, unsigned k, size_t i0, size_t *m)
{
    size_t len, skip = 0, from = i0;
    if (s->xf != RF_XFORM_DELTA) {
        len = s->n - i0 < BLOCK_ELEMS ? s->n - i0 : BLOCK_ELEMS;
    } else if (s->rows_w == s->n) {
        /* one row, left prediction: start one element early */
        len = s->n - i0 < BLOCK_ELEMS ? s->n - i0 : BLOCK_ELEMS;
        if (i0) skip = 1;
    } else {
        size_t w = s->rows_w, rows = BLOCK_ELEMS / w ? BLOCK_ELEMS / w : 1;
        len = rows * w;
        if (len > s->n - i0) len = s->n - i0;
        if (i0) skip = w; /* the row above */
    }
    from = i0 - skip;
    size_t total = len + skip;
    /* one row of elements before the block: predicted as a first row and
     * dropped; the block's own first row gets the right row above. */
    if (rf_planes_split(s->src + from * s->E, total, s->E, s->xf, s->xf == RF_XFORM_DELTA && s->rows_w != s->n ? s->W : 0,
                        s->buf))
        return NULL;
    *m = len;
    return s->buf + (size_t)k * total + skip;
}

/* Writes plane k stored (its bytes as they are) at off; its CRC in *crc. */
static int store_plane(stream *s, unsigned k, uint64_t off, uint32_t *crc)
{
    *crc = 0;
    for (size_t i = 0; i < s->n;) {
        size_t m;
        const unsigned char *p = plane_block(s, k, i, &m);
        if (!p) return rf_fail(s->e, RAIIAF_E_NOMEM, "zstd planes: out of memory");
        int rc = rf_pwrite_all(s->fd, p, m, off + i, s->path, s->e);
        if (rc) return rc;
        *crc = rf_crc32c(*crc, p, m);
        i += m;
    }
    return RAIIAF_OK;
}

/* Compresses plane k into one frame at off.  *size: the frame's size, or 0
 * when the frame would not be smaller than the plane (nothing useful was
 * written; the caller stores the plane). */
static int zstd_plane(stream *s, ZSTD_CCtx *cctx, unsigned k, int level, int zmode, uint64_t off, uint64_t *size,
                      uint32_t *crc)
{
    ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
    if (zmode == 1) {
        /* the in-memory coder's Huffman-literals setting (codec_zstd.c) */
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_strategy, ZSTD_fast);
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, 17);
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_hashLog, 12);
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_minMatch, 7);
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_targetLength, 64);
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_literalCompressionMode, ZSTD_ps_enable);
    } else {
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
    }
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
    ZSTD_CCtx_setPledgedSrcSize(cctx, s->n); /* the frame declares the plane's size (the reader requires it) */
    size_t out_cap = ZSTD_CStreamOutSize();
    unsigned char *out = malloc(out_cap);
    if (!out) return rf_fail(s->e, RAIIAF_E_NOMEM, "zstd planes: out of memory");
    uint64_t written = 0;
    int rc = RAIIAF_OK, pays = 1;
    *crc = 0;
    for (size_t i = 0; pays && i < s->n;) {
        size_t m;
        const unsigned char *p = plane_block(s, k, i, &m);
        if (!p) {
            rc = rf_fail(s->e, RAIIAF_E_NOMEM, "zstd planes: out of memory");
            break;
        }
        i += m;
        ZSTD_inBuffer in = {p, m, 0};
        ZSTD_EndDirective mode = i == s->n ? ZSTD_e_end : ZSTD_e_continue;
        for (;;) {
            ZSTD_outBuffer o = {out, out_cap, 0};
            size_t left = ZSTD_compressStream2(cctx, &o, &in, mode);
            if (ZSTD_isError(left)) {
                rc = rf_fail(s->e, RAIIAF_E_CODEC, "zstd planes: plane %u: %s", k, ZSTD_getErrorName(left));
                break;
            }
            if (o.pos) {
                if (written + o.pos >= s->n) { /* would not pay: store the plane */
                    pays = 0;
                    break;
                }
                if ((rc = rf_pwrite_all(s->fd, out, o.pos, off + written, s->path, s->e))) break;
                *crc = rf_crc32c(*crc, out, o.pos);
                written += o.pos;
            }
            if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size) break;
        }
        if (rc) break;
    }
    free(out);
    *size = pays ? written : 0;
    return rc;
}

int rf_planes_encode_stream(const void *src, size_t size, unsigned E, int level, unsigned rank, const uint64_t *shape,
                            int fd, uint64_t off, const char *path, uint64_t *stored, uint32_t *crc, rf_err *e)
{
    if (E < 1 || E > 8 || size % E) return rf_fail(e, RAIIAF_E_ARG, "zstd planes: %zu bytes is not a whole number of %u-byte elements", size, E);
    stream s = {src, size / E, E, RF_XFORM_NONE, 0, 0, NULL, 0, fd, path, e};
    if (rank >= 2 && shape[rank - 1] > 1 && shape[rank - 1] <= UINT32_MAX) s.W = (uint32_t)shape[rank - 1];
    /* the transform and which planes to store, as the in-memory coder
     * chooses them (a sampled entropy estimate) */
    double est[8] = {0}, best = 0;
    int have = 0;
    if (E > 1) {
        for (unsigned t = 0; t <= RF_XFORM_MAX; t++) {
            if (!(rf_planes_tune.xforms & (1u << t))) continue;
            double b[8];
            double sum = rf_planes_estimate(src, s.n, E, t, s.W, b);
            if (!have || sum < best * 0.99) {
                have = 1;
                best = sum;
                s.xf = t;
                memcpy(est, b, sizeof est);
            }
        }
    }
    s.rows_w = (s.W == 0 || s.W >= s.n) ? s.n : s.W;
    size_t block = s.xf == RF_XFORM_DELTA && s.rows_w != s.n ? (BLOCK_ELEMS / s.rows_w ? BLOCK_ELEMS / s.rows_w : 1) * s.rows_w + s.rows_w
                                                             : BLOCK_ELEMS + 1;
    s.buf = malloc(block * E);
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    int rc = RAIIAF_OK;
    unsigned char table[RF_PLANES_PREFIX(8)];
    uint32_t crcs[8];
    uint64_t sizes[8], pos = RF_PLANES_PREFIX(E);
    if (!s.buf || !cctx) {
        rc = rf_fail(e, RAIIAF_E_NOMEM, "zstd planes: out of memory for a block of %zu bytes", block * E);
        goto done;
    }
    memset(table, 0, sizeof table);
    table[0] = (unsigned char)E;
    table[1] = (unsigned char)s.xf;
    if (s.xf == RF_XFORM_DELTA) rf_put32(table + 4, s.W);
    if ((rc = rf_pwrite_all(fd, table, RF_PLANES_PREFIX(E), off, path, e))) goto done; /* placeholder */
    for (unsigned k = 0; k < E; k++) {
        unsigned char *rec = table + 8 + 16 * k;
        uint64_t c = 0;
        if (s.n && (E == 1 || est[k] < rf_planes_tune.store_bits)) {
            int zm = (E == 1 || est[k] < rf_planes_tune.match_bits) ? 0 : rf_planes_tune.zmode;
            if ((rc = zstd_plane(&s, cctx, k, level, zm, off + pos, &c, &crcs[k]))) goto done;
        }
        if (c) {
            rec[0] = 1;
        } else {
            rec[0] = 0;
            c = s.n;
            if ((rc = store_plane(&s, k, off + pos, &crcs[k]))) goto done;
        }
        rf_put64(rec + 8, c);
        sizes[k] = c;
        pos += c;
    }
    if ((rc = rf_pwrite_all(fd, table, RF_PLANES_PREFIX(E), off, path, e))) goto done;
    uint32_t total = rf_crc32c(0, table, RF_PLANES_PREFIX(E));
    for (unsigned k = 0; k < E; k++) total = rf_crc32c_combine(total, crcs[k], sizes[k]);
    *stored = pos;
    *crc = total;
done:
    ZSTD_freeCCtx(cctx);
    free(s.buf);
    return rc;
}
