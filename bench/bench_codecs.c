/*
 * bench_codecs.c -- the lossless tensor codec (codec 1, byte planes) variant
 * by variant: stored/raw ratio and encode/decode speed in GB/s of raw bytes
 * on one core, the median of N runs, for (1,4,128,128) latents: N(0,1)
 * noise in float32, float16 and bfloat16, and smooth fields (a blurred
 * noise like a VAE latent of a photo, and a Brownian sheet).
 *
 *   bench_codecs [--runs N]
 *
 * Variants (rf_planes_tune, src/codec_planes.h):
 *   legacy     transform 0 only, every plane tried with zstd level 1
 *              (the codec before issue #8; the bytes old writers made)
 *   rotate only  transforms 0/1 chosen by sampled entropy, random-looking
 *              planes stored without trying zstd, skewed planes (< 4 bits
 *              per byte) zstd level 1, others Huffman-only zstd
 *   default    transforms 0/1/2 (2 = 2-D delta) chosen by sampled entropy;
 *              planes under 1 bit per byte zstd level 1, others Huffman-only
 *              zstd: what the writer uses
 *   default-portable  the default with the AVX2 split/merge turned off
 * The "entropy" column is the order-0 entropy of the best transform's planes
 * (the limit for coding planes as independent bytes).  See docs/PERFORMANCE.md.
 */
#include "raiiaf.h"
#include "codec.h"
#include "codec_planes.h"
#include "internal.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LAT_C 4
#define LAT_H 128
#define LAT_W 128
#define LAT_N ((size_t)LAT_C * LAT_H * LAT_W)

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "bench_codecs: out of memory\n");
        exit(1);
    }
    return p;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct { uint64_t s[4]; } rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void rng_seed(rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(rng *r)
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
static double rng_unit(rng *r) { return ((double)(rng_next(r) >> 11) + 1.0) * 0x1p-53; }

/* N(0,1) float32 by Box-Muller. */
static void gaussian_f32(float *out, size_t n, uint64_t seed)
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
static void normalise_channels(float *x, size_t C, size_t plane)
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
static void smooth_blur(float *out, uint64_t seed)
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
static void smooth_cumsum(float *out, uint64_t seed)
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

/* ---- float conversions ------------------------------------------------- */

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* IEEE binary32 -> binary16, round to nearest even, with subnormals,
 * overflow to infinity and NaN kept quiet. */
static uint16_t f32_to_f16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t exp = (x >> 23) & 0xffu, man = x & 0x7fffffu;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00u | (man ? 0x200u | (man >> 13) : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 0x1f) return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) {
        if (e < -10) return sign; /* below half the smallest subnormal: rounds to 0 */
        man |= 0x800000u;         /* the implicit bit */
        unsigned shift = (unsigned)(14 - e);
        uint32_t h = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h); /* a carry into bit 10 gives the smallest normal, correctly */
    }
    uint32_t h = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++; /* may carry into the exponent: still right */
    return (uint16_t)(sign | h);
}

/* IEEE binary32 -> bfloat16, round to nearest even (the top 16 bits). */
static uint16_t f32_to_bf16(float f)
{
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u); /* quiet NaN */
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}


typedef struct {
    const char *name;
    unsigned xforms;
    double store_bits;
    int zmode;
    double match_bits;
    int simd;
} variant;

static const variant VARIANTS[] = {
    {"legacy", 0x1, 99.0, 0, 99.0, 1},
    {"rotate only", 0x3, 7.9, 1, 4.0, 1},
    {"default", 0x7, 7.9, 1, 1.0, 1},
    {"default-portable", 0x7, 7.9, 1, 1.0, 0},
};

/* The shipped form (raiiaf_writer_add_tensor_relative, SPEC 9.6): the same
 * trajectory written as files, each step alone vs. relative to the one
 * before; file bytes, and the time to write and to read every step back
 * (median of `runs`), as ratios. */
static void trajectory_files(const float *steps, int T, size_t TN, int runs)
{
    static const uint64_t shape[4] = {1, 4, 64, 64};
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char path[2][512];
    size_t bytes[2] = {0, 0};
    double tw[2][64], tr[2][64];
    float *buf = xmalloc(TN * 4);
    if (runs > 64) runs = 64;
    for (int mode = 0; mode < 2; mode++) {
        snprintf(path[mode], sizeof path[mode], "%s/bench_traj_%d_%d.raiiaf", dir, mode, (int)getpid());
        for (int r = 0; r < runs; r++) {
            double t0 = now_s();
            raiiaf_writer *w = NULL;
            if (raiiaf_writer_new(path[mode], &w) || raiiaf_writer_set_env(w, RAIIAF_ENV_NONE)) abort();
            for (int t = 0; t < T; t++) {
                char name[16], prev[16];
                snprintf(name, sizeof name, "step_%02d", t);
                snprintf(prev, sizeof prev, "step_%02d", t - 1);
                const float *x = steps + (size_t)t * TN;
                int rc = mode && t ? raiiaf_writer_add_tensor_relative(w, name, RAIIAF_F32, 4, shape, x, TN * 4, prev, x - TN,
                                                                       RAIIAF_CODEC_AUTO, NULL)
                                   : raiiaf_writer_add_tensor(w, name, RAIIAF_F32, 4, shape, x, TN * 4, RAIIAF_CODEC_AUTO, 0);
                if (rc) abort();
            }
            if (raiiaf_writer_finish(w)) abort();
            raiiaf_writer_free(w);
            double t1 = now_s();
            raiiaf_reader *rd = NULL;
            if (raiiaf_reader_open_file(path[mode], 0, &rd)) abort();
            for (int t = 0; t < T; t++)
                if (raiiaf_reader_read_tensor(rd, (size_t)t, buf, TN * 4) || memcmp(buf, steps + (size_t)t * TN, TN * 4)) abort();
            bytes[mode] = (size_t)raiiaf_reader_file_size(rd);
            raiiaf_reader_free(rd);
            tw[mode][r] = t1 - t0;
            tr[mode][r] = now_s() - t1;
        }
        qsort(tw[mode], (size_t)runs, sizeof(double), cmp_double);
        qsort(tr[mode], (size_t)runs, sizeof(double), cmp_double);
        remove(path[mode]);
    }
    printf("  as files (raiiaf_writer_add_tensor_relative, median of %d):\n", runs);
    printf("    each step alone:          %zu bytes, write %.1f ms, read all %.1f ms\n", bytes[0], tw[0][runs / 2] * 1e3,
           tr[0][runs / 2] * 1e3);
    printf("    relative to previous:     %zu bytes (%.3f of alone), write %.2fx, read all %.2fx the time alone\n", bytes[1],
           (double)bytes[1] / (double)bytes[0], tw[1][runs / 2] / tw[0][runs / 2], tr[1][runs / 2] / tr[0][runs / 2]);
    free(buf);
}

int main(int argc, char **argv)
{
    int runs = 11;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_codecs [--runs N]\n");
            return 2;
        }
    }
    if (runs < 1) runs = 1;
#ifndef NDEBUG
    printf("NOT OPTIMISED (assertions on): do not quote these numbers\n");
#endif
    float *noise = xmalloc(LAT_N * 4), *smooth = xmalloc(LAT_N * 4), *vsmooth = xmalloc(LAT_N * 4);
    uint16_t *f16 = xmalloc(LAT_N * 2), *bf16 = xmalloc(LAT_N * 2), *sf16 = xmalloc(LAT_N * 2);
    gaussian_f32(noise, LAT_N, 42);
    smooth_blur(smooth, 7);
    smooth_cumsum(vsmooth, 11);
    for (size_t i = 0; i < LAT_N; i++) {
        f16[i] = f32_to_f16(noise[i]);
        bf16[i] = f32_to_bf16(noise[i]);
        sf16[i] = f32_to_f16(smooth[i]);
    }
    struct {
        const char *name;
        const void *data;
        size_t size;
        unsigned E;
    } sets[] = {
        {"f32 noise", noise, LAT_N * 4, 4},       {"f16 noise", f16, LAT_N * 2, 2},
        {"bf16 noise", bf16, LAT_N * 2, 2},       {"f32 smooth", smooth, LAT_N * 4, 4},
        {"f16 smooth", sf16, LAT_N * 2, 2},       {"f32 very smooth", vsmooth, LAT_N * 4, 4},
    };
    printf("bench_codecs: (1,4,128,128) tensors, median of %d runs, one core\n\n", runs);
    printf("%-16s %-17s %7s %8s %9s %9s\n", "data", "variant", "ratio", "entropy", "enc GB/s", "dec GB/s");
    rf_planes_tuning saved = rf_planes_tune;
    unsigned char *back = xmalloc(LAT_N * 4);
    double *te = xmalloc(sizeof(double) * (size_t)runs), *td = xmalloc(sizeof(double) * (size_t)runs);
    for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++) {
        size_t n = sets[s].size / sets[s].E;
        double bits[8], best = 1e300;
        for (unsigned t = 0; t <= RF_XFORM_MAX; t++) {
            double b = rf_planes_estimate(sets[s].data, n, sets[s].E, t, LAT_W, bits);
            if (b < best) best = b;
        }
        for (size_t v = 0; v < sizeof VARIANTS / sizeof VARIANTS[0]; v++) {
            rf_planes_tune.xforms = VARIANTS[v].xforms;
            rf_planes_tune.store_bits = VARIANTS[v].store_bits;
            rf_planes_tune.zmode = VARIANTS[v].zmode;
            rf_planes_tune.match_bits = VARIANTS[v].match_bits;
            rf_planes_set_simd(VARIANTS[v].simd);
            size_t stored = 0;
            for (int r = -1; r < runs; r++) {
                unsigned char *out = NULL;
                rf_err e = {0};
                /* Repeat each op to get above timer noise (~0.1 ms per op). */
                enum { REP = 8 };
                double t0 = now_s();
                for (int q = 0; q < REP; q++) {
                    free(out);
                    if (rf_planes_encode_rows(sets[s].data, sets[s].size, sets[s].E, 1, LAT_W, &out, &stored, &e)) {
                        fprintf(stderr, "bench_codecs: encode: %s\n", e.msg);
                        return 1;
                    }
                }
                double t1 = now_s();
                for (int q = 0; q < REP; q++)
                    if (rf_planes_decode(out, stored, back, sets[s].size, sets[s].E, "bench", &e)) {
                        fprintf(stderr, "bench_codecs: decode: %s\n", e.msg);
                        return 1;
                    }
                double t2 = now_s();
                if (memcmp(back, sets[s].data, sets[s].size)) {
                    fprintf(stderr, "bench_codecs: %s/%s does not round-trip\n", sets[s].name, VARIANTS[v].name);
                    return 1;
                }
                free(out);
                if (r >= 0) {
                    te[r] = (t1 - t0) / REP;
                    td[r] = (t2 - t1) / REP;
                }
            }
            qsort(te, (size_t)runs, sizeof *te, cmp_double);
            qsort(td, (size_t)runs, sizeof *td, cmp_double);
            double GB = (double)sets[s].size / 1e9;
            printf("%-16s %-17s %7.4f %8.4f %9.2f %9.2f\n", v ? "" : sets[s].name, VARIANTS[v].name,
                   (double)stored / (double)sets[s].size, best / (8.0 * sets[s].E), GB / te[runs / 2], GB / td[runs / 2]);
        }
    }
    rf_planes_tune = saved;
    rf_planes_set_simd(1);

    /* Denoising trajectory (issue #8 item 3): x_t = a_t x0 + s_t noise for 50
     * steps of (1,4,64,64), x0 smooth (the blurred field's first 64x64 of
     * each channel), the noise fixed; a_t = sqrt(abar_t), s_t = sqrt(1-abar_t)
     * with a linear beta schedule (1e-4..0.02 over 1000 steps, 50 of them).
     * Each step coded alone vs. XOR of its bit patterns with the previous
     * step, then the same codec. */
    {
        enum { T = 50, TN = 4 * 64 * 64 };
        float *x0 = xmalloc(TN * 4), *eps = xmalloc(TN * 4), *cur = xmalloc(TN * 4), *prev = xmalloc(TN * 4);
        uint32_t *xr = xmalloc(TN * 4);
        for (int c = 0; c < 4; c++)
            for (int y = 0; y < 64; y++)
                for (int x = 0; x < 64; x++) x0[c * 4096 + y * 64 + x] = smooth[c * LAT_H * LAT_W + y * LAT_W + x];
        gaussian_f32(eps, TN, 99);
        double abar[1000], a = 1;
        for (int i = 0; i < 1000; i++) {
            a *= 1.0 - (1e-4 + (0.02 - 1e-4) * i / 999.0);
            abar[i] = a;
        }
        size_t alone = 0, xored = 0, raw = 0;
        double t_alone = 0, t_xor = 0;
        float *all = xmalloc((size_t)T * TN * 4);
        for (int t = 0; t < T; t++) {
            int step = 999 - t * 20;
            float at = (float)sqrt(abar[step]), st = (float)sqrt(1 - abar[step]);
            for (size_t i = 0; i < TN; i++) cur[i] = at * x0[i] + st * eps[i];
            unsigned char *out = NULL;
            size_t n1 = 0, n2 = 0;
            rf_err e = {0};
            double t0 = now_s();
            rf_planes_encode_rows(cur, TN * 4, 4, 1, 64, &out, &n1, &e);
            double t1 = now_s();
            free(out);
            if (t) {
                for (size_t i = 0; i < TN; i++) {
                    uint32_t u, v;
                    memcpy(&u, &cur[i], 4);
                    memcpy(&v, &prev[i], 4);
                    xr[i] = u ^ v;
                }
                rf_planes_encode_rows(xr, TN * 4, 4, 1, 64, &out, &n2, &e);
                free(out);
            } else {
                n2 = n1;
            }
            double t2 = now_s();
            t_alone += t1 - t0;
            t_xor += t2 - t1;
            alone += n1;
            xored += n2;
            raw += TN * 4;
            memcpy(prev, cur, TN * 4);
            memcpy(all + (size_t)t * TN, cur, TN * 4);
        }
        printf("\ntrajectory: 50 x (1,4,64,64) f32, x_t = a_t x0 + s_t noise (smooth x0, fixed noise)\n");
        printf("  each step alone:            ratio %.4f (%zu bytes)\n", (double)alone / (double)raw, alone);
        printf("  XOR with previous step:     ratio %.4f (%zu bytes)\n", (double)xored / (double)raw, xored);
        (void)t_alone;
        (void)t_xor;
        trajectory_files(all, T, TN, runs);
        free(all);
        free(x0), free(eps), free(cur), free(prev), free(xr);
    }
    free(noise);
    free(smooth);
    free(vsmooth);
    free(f16);
    free(bf16);
    free(sf16);
    free(back);
    free(te);
    free(td);
    return 0;
}
