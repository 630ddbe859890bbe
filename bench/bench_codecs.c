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
#include "bench_util.h"
#include "half.h"
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


/* ---- float conversions ------------------------------------------------- */

/* float32 -> float16 / bfloat16: the library's own (src/half.c). */
#define f32_to_f16 rf_f32_to_f16
#define f32_to_bf16 rf_f32_to_bf16


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
