/* codec.h -- the tensor codecs: byte-plane zstd and zfp.  Raw needs no code. */
#ifndef RAIIAF_CODEC_H
#define RAIIAF_CODEC_H

#include "internal.h"
#include "format.h"

/* ---- zstd byte planes (codec 1) -------------------------------------
 * Payload: u8 plane count E (1..8) · 7 zero bytes · E plane records of
 * 16 bytes {u8 mode (0 stored, 1 zstd frame) · 7 zero bytes · u64 size} ·
 * the E planes in order.  Plane k holds byte k of every element. */
#define RF_PLANES_PREFIX(E) (8u + 16u * (E))

/* Encodes `size` bytes of E-byte elements (size % E == 0) into a malloc'd
 * payload.  Planes that zstd cannot shrink are stored as they are, so the
 * result is never more than RF_PLANES_PREFIX(E) bytes above `size`. */
int rf_planes_encode(const void *src, size_t size, unsigned elem_size, int level,
                     unsigned char **out, size_t *out_size, rf_err *e);

/* The same for a tensor: the last axis's length is the row length of the
 * delta transform's 2-D prediction (SPEC 6.2). */
int rf_planes_encode_tensor(const void *src, size_t size, unsigned elem_size, int level, unsigned rank,
                            const uint64_t *shape, unsigned char **out, size_t *out_size, rf_err *e);
/* W: row length for transform 2 (0: none). */
int rf_planes_encode_rows(const void *src, size_t size, unsigned elem_size, int level, uint32_t W,
                          unsigned char **out, size_t *out_size, rf_err *e);

/* The same coding for a large tensor, written into the file at `off` in
 * pieces (codec_zstd_stream.c): memory stays the tensor plus a block buffer
 * and zstd's context.  *stored and *crc receive the payload's size and
 * CRC-32C; nothing is written past off + RF_PLANES_PREFIX(E) + size. */
int rf_planes_encode_stream(const void *src, size_t size, unsigned elem_size, int level, unsigned rank,
                            const uint64_t *shape, int fd, uint64_t off, const char *path, uint64_t *stored,
                            uint32_t *crc, rf_err *e);

/* Decodes a payload into dst (exactly raw_size bytes).  `elem_size` is the
 * plane count the caller expects (0: accept what the payload says).  `where`
 * prefixes messages ("chunk 2 (TENS \"x\") at offset 640"). */
int rf_planes_decode(const void *src, size_t stored, void *dst, size_t raw_size, unsigned elem_size,
                     const char *where, rf_err *e);

/* Frees the calling thread's cached zstd contexts and plane scratch
 * (codec_zstd.c keeps them per thread).  A thread the library starts and
 * ends itself calls this before it returns, or they leak at its exit. */
void rf_zstd_thread_release(void);

/* ---- zfp (codec 2) --------------------------------------------------- */

/* Whether zfp can code this dtype/shape (float32, float64, int32, int64;
 * at most 4 dimensions once size-1 dimensions are dropped). */
int rf_zfp_supported(raiiaf_dtype dtype, unsigned rank, const uint64_t *shape);

/* tolerance 0: reversible (lossless, checked bit for bit after coding);
 * tolerance > 0: fixed accuracy, *max_error receives the largest absolute
 * error measured and decoded_sha the SHA-256 of what a reader will decode
 * (the manifest's digest is of decoded content).  Output is malloc'd. */
int rf_zfp_encode(const void *src, raiiaf_dtype dtype, unsigned rank, const uint64_t *shape,
                  double tolerance, unsigned char **out, size_t *out_size, double *max_error,
                  char decoded_sha[65], rf_err *e);

/* Decodes into dst (the tensor's raw size).  zfp reads no byte outside the
 * payload: the stream is copied into a buffer padded to zfp's own worst-case
 * size for the declared shape before decoding. */
int rf_zfp_decode(const void *src, size_t stored, raiiaf_dtype dtype, unsigned rank, const uint64_t *shape,
                  void *dst, size_t raw_size, const char *where, rf_err *e);

/* ---- zfp streams of format 1 (the Python package's layout) -----------
 * zfp's full header (magic, field metadata, mode) followed by a 4-D float32
 * field with n[0] = nx (fastest, W), n[1] = ny (H), n[2] = nz (C),
 * n[3] = nw (N), reversible mode.  The header's 12 bits per dimension
 * limit each to 4096. */
int rf_zfp_encode_full4(const float *src, const size_t n[4], unsigned char **out, size_t *out_size, rf_err *e);

/* Decodes such a stream into dst (raw_size bytes), checking that its header
 * describes exactly this field in reversible mode.  Reads no byte outside
 * src[0..stored): decoding runs on a zero-padded copy sized by
 * zfp_stream_maximum_size, and a stream whose decoder needs more or fewer
 * bytes than stored is refused. */
int rf_zfp_decode_full4(const void *src, size_t stored, const size_t n[4], void *dst, size_t raw_size,
                        const char *where, rf_err *e);

#endif
