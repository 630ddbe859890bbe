/* bench_util.h -- shared pieces of the benchmarks (bench_util.c). */
#ifndef RAIIAF_BENCH_UTIL_H
#define RAIIAF_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* The typical latent the benchmarks measure: (1, 4, 128, 128). */
#define LAT_C 4
#define LAT_H 128
#define LAT_W 128
#define LAT_N ((size_t)LAT_C * LAT_H * LAT_W)

/* Seconds on the monotonic clock. */
double now_s(void);
/* qsort comparison of doubles, and the median of n values (sorts v). */
int cmp_double(const void *a, const void *b);
double median(double *v, int n);
/* malloc that exits the benchmark when memory runs out. */
void *xmalloc(size_t n);
/* A whole file in a buffer from xmalloc, or NULL. */
unsigned char *read_whole(const char *path, size_t *size);

/* xoshiro256** seeded by splitmix64. */
typedef struct { uint64_t s[4]; } rng;
void rng_seed(rng *r, uint64_t seed);
uint64_t rng_next(rng *r);
double rng_unit(rng *r); /* in (0, 1] */

/* n values of N(0, 1) from `seed`. */
void gaussian_f32(float *out, size_t n, uint64_t seed);
/* Each of C planes of `plane` values brought to mean 0, variance 1. */
void normalise_channels(float *x, size_t C, size_t plane);
/* Two kinds of smooth LAT_N latents (blurred noise; cumulative sums). */
void smooth_blur(float *out, uint64_t seed);
void smooth_cumsum(float *out, uint64_t seed);

#endif
