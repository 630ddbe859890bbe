/* bench_util.c -- what the benchmarks share: a monotonic clock, medians,
 * allocation that exits on failure, and the deterministic data they
 * measure (a seeded xoshiro256** PRNG, Gaussian noise, smooth latents), so
 * every run on every machine measures the same bytes. */
#include "bench_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "bench: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

unsigned char *read_whole(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *d = xmalloc((size_t)n);
    if (n < 0 || fread(d, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(d);
        return NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return d;
}

/* ---- deterministic data ------------------------------------------------ */


static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void rng_seed(rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return res;
}

/* Uniform in (0, 1], 53 bits. */
double rng_unit(rng *r) { return ((double)(rng_next(r) >> 11) + 1.0) * 0x1p-53; }

/* N(0,1) float32 by Box-Muller. */
void gaussian_f32(float *out, size_t n, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed);
    const double two_pi = 6.283185307179586476925286766559;
    for (size_t i = 0; i < n; i += 2) {
        double u1 = rng_unit(&r), u2 = rng_unit(&r);
        double m = sqrt(-2.0 * log(u1));
        out[i] = (float)(m * cos(two_pi * u2));
        if (i + 1 < n) out[i + 1] = (float)(m * sin(two_pi * u2));
    }
}

/* Scales each of the C planes of h*w values to mean 0, variance 1. */
void normalise_channels(float *x, size_t C, size_t plane)
{
    for (size_t c = 0; c < C; c++) {
        float *p = x + c * plane;
        double s = 0, s2 = 0;
        for (size_t i = 0; i < plane; i++) s += p[i];
        double mean = s / (double)plane;
        for (size_t i = 0; i < plane; i++) s2 += (p[i] - mean) * (p[i] - mean);
        double sd = sqrt(s2 / (double)plane);
        for (size_t i = 0; i < plane; i++) p[i] = (float)((p[i] - mean) / sd);
    }
}

/* "Smooth": white noise low-pass filtered by a separable Gaussian blur of
 * sigma 2 latent pixels (kernel radius 6, periodic edges) over each 128x128
 * channel, then scaled to unit variance.  Neighbouring values correlate
 * (about 0.94 one pixel apart), roughly like a VAE latent of a photo. */
void smooth_blur(float *out, uint64_t seed)
{
    enum { R = 6 };
    double k[2 * R + 1], ks = 0;
    for (int i = -R; i <= R; i++) ks += (k[i + R] = exp(-(double)(i * i) / (2.0 * 2.0 * 2.0)));
    for (int i = 0; i <= 2 * R; i++) k[i] /= ks;
    float *noise = xmalloc(LAT_N * sizeof(float));
    double *tmp = xmalloc((size_t)LAT_H * LAT_W * sizeof(double));
    gaussian_f32(noise, LAT_N, seed);
    for (size_t c = 0; c < LAT_C; c++) {
        const float *src = noise + c * LAT_H * LAT_W;
        float *dst = out + c * LAT_H * LAT_W;
        for (int y = 0; y < LAT_H; y++)
            for (int x = 0; x < LAT_W; x++) {
                double a = 0;
                for (int i = -R; i <= R; i++) a += k[i + R] * src[y * LAT_W + ((x + i + LAT_W) % LAT_W)];
                tmp[y * LAT_W + x] = a;
            }
        for (int y = 0; y < LAT_H; y++)
            for (int x = 0; x < LAT_W; x++) {
                double a = 0;
                for (int i = -R; i <= R; i++) a += k[i + R] * tmp[((y + i + LAT_H) % LAT_H) * LAT_W + x];
                dst[y * LAT_W + x] = (float)a;
            }
    }
    normalise_channels(out, LAT_C, (size_t)LAT_H * LAT_W);
    free(noise);
    free(tmp);
}

/* "Very smooth": the 2-D cumulative sum of white noise over each channel (a
 * Brownian sheet), scaled to unit variance: a field with almost no fine
 * detail, the easy end of the range. */
void smooth_cumsum(float *out, uint64_t seed)
{
    float *noise = xmalloc(LAT_N * sizeof(float));
    double *acc = xmalloc((size_t)LAT_H * LAT_W * sizeof(double));
    gaussian_f32(noise, LAT_N, seed);
    for (size_t c = 0; c < LAT_C; c++) {
        const float *src = noise + c * LAT_H * LAT_W;
        for (int y = 0; y < LAT_H; y++)
            for (int x = 0; x < LAT_W; x++) {
                double a = src[y * LAT_W + x];
                if (x) a += acc[y * LAT_W + x - 1];
                if (y) a += acc[(y - 1) * LAT_W + x];
                if (x && y) a -= acc[(y - 1) * LAT_W + x - 1];
                acc[y * LAT_W + x] = a;
            }
        for (size_t i = 0; i < (size_t)LAT_H * LAT_W; i++) out[c * LAT_H * LAT_W + i] = (float)acc[i];
    }
    normalise_channels(out, LAT_C, (size_t)LAT_H * LAT_W);
    free(noise);
    free(acc);
}
