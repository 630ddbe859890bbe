/* codec_planes.h -- transforms, split/merge and entropy estimate of the
 * byte-plane codec (codec 1, SPEC 6.2).  See codec_planes_xform.c. */
#ifndef RAIIAF_CODEC_PLANES_H
#define RAIIAF_CODEC_PLANES_H

#include <stddef.h>
#include <stdint.h>

#define RF_XFORM_NONE 0u
#define RF_XFORM_ROTATE 1u
#define RF_XFORM_DELTA 2u
#define RF_XFORM_MAX 2u

/* src: n elements of E bytes; dst: E planes of n bytes, back to back.
 * merge reads plane k from planes[k]. */
/* W: row length for transform 2 (0: one row).  Return 0, or -1 out of memory. */
int rf_planes_split(const unsigned char *src, size_t n, unsigned E, unsigned xf, uint32_t W, unsigned char *dst);
int rf_planes_merge(const unsigned char *const *planes, size_t n, unsigned E, unsigned xf, uint32_t W, unsigned char *dst);
/* The portable loops (what rf_planes_split/merge use without AVX2). */
void rf_planes_split_portable(const unsigned char *src, size_t n, unsigned E, unsigned xf, unsigned char *dst);
void rf_planes_merge_portable(const unsigned char *const *planes, size_t n, unsigned E, unsigned xf, unsigned char *dst);
/* 0 forces the portable loops (tests, benchmarks); 1 (default) allows SIMD. */
void rf_planes_set_simd(int enabled);

/* Sampled order-0 entropy per plane (bits per byte) under transform xf;
 * returns the sum over the planes. */
double rf_planes_estimate(const unsigned char *src, size_t n, unsigned E, unsigned xf, uint32_t W, double bits_per_byte[8]);

/* Encoder tuning (benchmarks): which transforms may be chosen (bit mask,
 * bit t = transform t), the estimated bits per byte at or above which a
 * plane is stored without trying zstd, and how planes are compressed
 * (0: zstd at the caller's level; 1: zstd fast strategy with matches all
 * but disabled, i.e. Huffman-coded literals). */
typedef struct {
    unsigned xforms;
    double store_bits;
    int zmode;
    double match_bits; /* planes estimated below this many bits per byte use zstd's level (matches) */
    int exhaustive;    /* tensors up to 64 KiB: try every transform and plane coder, keep the smallest */
} rf_planes_tuning;
extern rf_planes_tuning rf_planes_tune;

#endif
