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

/* Decodes a payload into dst (exactly raw_size bytes).  `elem_size` is the
 * plane count the caller expects (0: accept what the payload says).  `where`
 * prefixes messages ("chunk 2 (TENS \"x\") at offset 640"). */
int rf_planes_decode(const void *src, size_t stored, void *dst, size_t raw_size, unsigned elem_size,
                     const char *where, rf_err *e);

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

#endif
