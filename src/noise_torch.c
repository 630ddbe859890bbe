/* noise_torch.c -- bit-exact reproduction of PyTorch's CPU normal generator:
 *
 *     torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))
 *
 * as PyTorch 1.13 computes it on the CPU (ATen's normal_kernel), so that the
 * initial noise of a diffusion run can be regenerated from its seed and
 * shape and compared bit for bit (SPEC 9.5).  The
 * algorithm, written from the behaviour of ATen (no ATen code):
 *
 *  - Engine: the 32-bit Mersenne Twister mt19937, state[0] = seed mod 2^32,
 *    state[i] = 1812433253 * (state[i-1] ^ (state[i-1] >> 30)) + i.
 *  - A uniform of a type with d significand bits (float 24, half 11,
 *    bfloat16 8) is (u32 & (2^d - 1)) * 2^-d; a double uses two draws
 *    u64 = first << 32 | second and (u64 & (2^53 - 1)) * 2^-53.
 *  - n >= 16 elements: every element first receives a uniform, then each
 *    whole block of 16 is transformed in place pairwise (j, j+8), j < 8:
 *    u1 = 1 - x[j], u2 = x[j+8], r = sqrt(-2 ln u1), t = 2 pi u2,
 *    x[j] = r cos t, x[j+8] = r sin t.  When n is not a multiple of 16 the
 *    last 16 elements receive 16 fresh uniforms and are transformed again.
 *      float32: ATen's AVX2 kernel computes ln, sin and cos with Cephes-style
 *      polynomials (as in avx_mathfun.h, vectorised sse_mathfun), and the
 *      build contracts multiply-adds into FMAs; reproduced here in scalar
 *      code with fmaf() where the compiler fused (RF_TORCH_AVX2_FMA), or
 *      without (RF_TORCH_AVX2), or with the C library's logf/cosf/sinf
 *      (RF_TORCH_SCALAR, ATen's non-vectorised build).
 *      float16 / bfloat16: the same steps in the reduced type: every
 *      intermediate is rounded to the type, functions computed in float.
 *  - n < 16: each element is a double normal (Box-Muller with the second
 *    value cached: u1, u2 doubles, r = sqrt(-2 ln(1 - u2)), t = 2 pi u1,
 *    values r cos t then r sin t), rounded to the type.
 */
#include "noise_torch.h"
#include "half.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- mt19937 ------------------------------------------------------------ */

typedef struct {
    uint32_t s[624];
    unsigned i;
} mt19937;

static void mt_seed(mt19937 *m, uint64_t seed)
{
    m->s[0] = (uint32_t)seed;
    for (unsigned i = 1; i < 624; i++) m->s[i] = 1812433253u * (m->s[i - 1] ^ (m->s[i - 1] >> 30)) + i;
    m->i = 624;
}

static uint32_t mt_next(mt19937 *m)
{
    if (m->i >= 624) {
        for (unsigned k = 0; k < 624; k++) {
            uint32_t y = (m->s[k] & 0x80000000u) | (m->s[(k + 1) % 624] & 0x7fffffffu);
            m->s[k] = m->s[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1) ? 0x9908b0dfu : 0);
        }
        m->i = 0;
    }
    uint32_t y = m->s[m->i++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

/* ---- reduced types ------------------------------------------------------ */

/* Bits of floats and half-precision rounding: half.h / half.c, shared
 * with the rest of the tree. */

/* Rounds a float to the working type (kind 0 float, 1 half, 2 bfloat16). */
static float rnd(float f, int kind)
{
    if (kind == 1) return rf_f16_to_f32(rf_f32_to_f16(f));
    if (kind == 2) return rf_bf16_to_f32(rf_f32_to_bf16(f));
    return f;
}

/* double -> type, as C++ converts: double -> float, then float -> type. */
static float rnd_d(double d, int kind) { return rnd((float)d, kind); }

/* ---- Cephes-style log, sin, cos in float (the AVX2 kernel's) ------------ */

/* fused: multiply-add with one rounding (what the FMA build computes),
 * else two roundings.  Written so that the compiler cannot contract the
 * unfused form (volatile-free: the product is stored to a float first and
 * this file is compiled with -ffp-contract=off). */
static inline float madd(float a, float b, float c, int fused)
{
    if (fused) return fmaf(a, b, c);
    float p = a * b;
    return p + c;
}

static float cephes_logf(float x, int fused)
{
    /* x in (0, 1] here: no invalid or denormal handling needed, but kept
     * equivalent for x >= smallest normal. */
    if (x < 0x1p-126f) x = 0x1p-126f;
    uint32_t u = rf_f32_bits(x);
    float e = (float)((int32_t)(u >> 23) - 0x7f);
    x = rf_bits_f32((u & ~0x7f800000u) | rf_f32_bits(0.5f));
    e = e + 1.0f;
    int lt = x < 0.707106781186547524f;
    float tmp = lt ? x : 0.0f;
    x = x - 1.0f;
    e = e - (lt ? 1.0f : 0.0f);
    x = x + tmp;
    float z = x * x;
    float y = 7.0376836292E-2f;
    y = madd(y, x, -1.1514610310E-1f, fused);
    y = madd(y, x, 1.1676998740E-1f, fused);
    y = madd(y, x, -1.2420140846E-1f, fused);
    y = madd(y, x, +1.4249322787E-1f, fused);
    y = madd(y, x, -1.6668057665E-1f, fused);
    y = madd(y, x, +2.0000714765E-1f, fused);
    y = madd(y, x, -2.4999993993E-1f, fused);
    y = madd(y, x, +3.3333331174E-1f, fused);
    y = y * x;
    /* y = y*z + e*q1: the first product fused, the second rounded. */
    {
        float t = e * -2.12194440e-4f;
        y = madd(y, z, t, fused);
    }
    /* y = y - z*0.5 */
    y = fused ? fmaf(-z, 0.5f, y) : y - z * 0.5f;
    /* x = (x + y) + e*q2 */
    x = x + y;
    x = madd(e, 0.693359375f, x, fused);
    return x;
}

static void cephes_sincosf(float xin, float *s, float *c, int fused)
{
    uint32_t sign_sin = rf_f32_bits(xin) & 0x80000000u;
    float x = rf_bits_f32(rf_f32_bits(xin) & 0x7fffffffu);
    float y = x * 1.27323954473516f;
    int32_t j = (int32_t)y; /* truncation (cvttps) */
    j = (j + 1) & ~1;
    y = (float)j;
    uint32_t swap_sin = ((uint32_t)(j & 4)) << 29;
    int poly = (j & 2) == 0; /* mask: first polynomial selects cos for the sine */
    int32_t j4 = j - 2;
    uint32_t sign_cos = ((uint32_t)(~j4 & 4)) << 29;
    x = madd(y, -0.78515625f, x, fused);
    x = madd(y, -2.4187564849853515625e-4f, x, fused);
    x = madd(y, -3.77489497744594108e-8f, x, fused);
    sign_sin ^= swap_sin;
    float z = x * x;
    float yc = 2.443315711809948E-005f;
    yc = madd(yc, z, -1.388731625493765E-003f, fused);
    yc = madd(yc, z, 4.166664568298827E-002f, fused);
    yc = yc * z;
    {
        float h = z * 0.5f;
        yc = fused ? fmaf(yc, z, -h) : yc * z - h;
    }
    yc = yc + 1.0f;
    float ys = -1.9515295891E-4f;
    ys = madd(ys, z, 8.3321608736E-3f, fused);
    ys = madd(ys, z, -1.6666654611E-1f, fused);
    ys = ys * z;
    ys = madd(ys, x, x, fused);
    /* ysin2 = poly ? ys : 0; ysin1 = poly ? 0 : yc */
    float ysin2 = poly ? ys : 0.0f, ysin1 = poly ? 0.0f : yc;
    float y2 = ys - ysin2, y1 = yc - ysin1;
    float sn = ysin1 + ysin2, cs = y1 + y2;
    *s = rf_bits_f32(rf_f32_bits(sn) ^ sign_sin);
    *c = rf_bits_f32(rf_f32_bits(cs) ^ sign_cos);
}

/* ---- the generator ------------------------------------------------------ */

static float uniform_bits(mt19937 *m, unsigned digits)
{
    uint32_t v = mt_next(m) & ((1u << digits) - 1);
    return (float)v * (1.0f / (float)(1u << digits));
}

static void fill16(float *d, int kind, int path)
{
    if (kind == 0 && (path == RF_TORCH_AVX2_FMA || path == RF_TORCH_AVX2)) {
        int fused = path == RF_TORCH_AVX2_FMA;
        const float two_pi = (float)(2.0 * 3.14159265358979323846);
        for (int j = 0; j < 8; j++) {
            float u1 = 1.0f - d[j], u2 = d[j + 8];
            float r = sqrtf(-2.0f * cephes_logf(u1, fused));
            float t = two_pi * u2;
            float s, c;
            cephes_sincosf(t, &s, &c, fused);
            d[j] = r * c + 0.0f;
            d[j + 8] = r * s + 0.0f;
        }
        return;
    }
    /* ATen's scalar normal_fill_16 in the tensor's type; functions of a
     * half value are computed in float, and every assignment to the type
     * rounds.  For bfloat16 the function results are rounded too
     * (c10's std:: overloads for BFloat16 return BFloat16). */
    for (int j = 0; j < 8; j++) {
        float u1 = rnd(1.0f - d[j], kind), u2 = d[j + 8];
        float lg = logf(u1);
        if (kind == 2) lg = rnd(lg, kind);
        float m2 = -2.0f * lg;
        if (kind == 2) m2 = rnd(m2, kind);
        float r = sqrtf(m2);
        r = rnd(r, kind);
        float t = rnd_d(2.0 * 3.14159265358979323846 * (double)u2, kind);
        float c = cosf(t), s = sinf(t);
        if (kind == 2) {
            c = rnd(c, kind);
            s = rnd(s, kind);
            d[j] = rnd(rnd(rnd(r * c, kind) * 1.0f, kind) + 0.0f, kind);
            d[j + 8] = rnd(rnd(rnd(r * s, kind) * 1.0f, kind) + 0.0f, kind);
        } else {
            d[j] = rnd(r * c * 1.0f + 0.0f, kind);
            d[j + 8] = rnd(r * s * 1.0f + 0.0f, kind);
        }
    }
}

static double uniform_double(mt19937 *m)
{
    uint64_t hi = mt_next(m), lo = mt_next(m);
    uint64_t v = ((hi << 32) | lo) & ((UINT64_C(1) << 53) - 1);
    return (double)v * 0x1p-53;
}

size_t rf_torch_randn_count(unsigned rank, const uint64_t *shape)
{
    size_t n = 1;
    for (unsigned i = 0; i < rank; i++) {
        if (shape[i] && n > SIZE_MAX / 8 / shape[i]) return SIZE_MAX;
        n *= (size_t)shape[i];
    }
    return n;
}

int rf_torch_randn(uint64_t seed, int kind, int path, size_t n, void *out)
{
    if (kind < 0 || kind > 2) return -1;
    mt19937 *m = malloc(sizeof *m);
    if (!m) return -1;
    mt_seed(m, seed);
    float *f = kind == 0 ? (float *)out : (n >= 16 ? malloc(n * sizeof(float)) : NULL);
    if (n >= 16 && !f) {
        free(m);
        return -1;
    }
    if (n >= 16) {
        unsigned digits = kind == 0 ? 24 : kind == 1 ? 11 : 8;
        for (size_t i = 0; i < n; i++) f[i] = uniform_bits(m, digits);
        for (size_t i = 0; i + 16 <= n; i += 16) fill16(f + i, kind, path);
        if (n % 16) {
            float *t = f + n - 16;
            for (int i = 0; i < 16; i++) t[i] = uniform_bits(m, digits);
            fill16(t, kind, path);
        }
        if (kind) {
            uint16_t *o = out;
            for (size_t i = 0; i < n; i++) o[i] = kind == 1 ? rf_f32_to_f16(f[i]) : rf_f32_to_bf16(f[i]);
            free(f);
        }
    } else {
        int have = 0;
        double cached = 0;
        for (size_t i = 0; i < n; i++) {
            double v;
            if (have) {
                v = cached;
                have = 0;
            } else {
                double u1 = uniform_double(m), u2 = uniform_double(m);
                double r = sqrt(-2.0 * log(1.0 - u2));
                double t = 2.0 * 3.14159265358979323846 * u1;
                cached = r * sin(t);
                have = 1;
                v = r * cos(t);
            }
            v = v + 0.0; /* torch returns v * std + mean: a -0 becomes +0 */
            if (kind == 0)
                ((float *)out)[i] = (float)v;
            else if (kind == 1)
                ((uint16_t *)out)[i] = rf_f32_to_f16((float)v);
            else
                ((uint16_t *)out)[i] = rf_f32_to_bf16((float)v);
        }
    }
    free(m);
    return 0;
}

/* The same values handed to sink in pieces of at most RF_TORCH_PIECE
 * values, in order, so a reader can digest a recipe's tensor without holding
 * it.  ATen draws all n uniforms first, transforms them 16 at a time in
 * place, and, when n is not a multiple of 16, transforms 16 fresh uniforms
 * into the last 16 values: here each piece of uniforms is drawn and
 * transformed as it comes, the last 16 values are held back until the
 * fresh ones are drawn.  Below 16 values there is nothing to stream. */
int rf_torch_randn_stream(uint64_t seed, int kind, int path, size_t n, rf_torch_sink sink, void *ctx)
{
    if (kind < 0 || kind > 2) return -1;
    size_t esize = kind == 0 ? 4 : 2;
    if (n < 16) {
        unsigned char small[16 * 4];
        if (rf_torch_randn(seed, kind, path, n, small)) return -1;
        return n ? sink(ctx, small, n * esize) : 0;
    }
    mt19937 *m = malloc(sizeof *m);
    float *f = malloc((RF_TORCH_PIECE + 16) * sizeof(float));
    uint16_t *h = kind ? malloc((RF_TORCH_PIECE + 16) * sizeof(uint16_t)) : NULL;
    int rc = 0;
    if (!m || !f || (kind && !h)) {
        rc = -1;
        goto done;
    }
    mt_seed(m, seed);
    unsigned digits = kind == 0 ? 24 : kind == 1 ? 11 : 8;
    size_t full = n - n % 16;             /* values made by 16-blocks */
    size_t keep = n % 16 ? n - 16 : n;    /* values final before the tail */
    for (size_t i0 = 0; i0 < n && !rc;) {
        size_t len = n - i0 < RF_TORCH_PIECE ? n - i0 : RF_TORCH_PIECE; /* RF_TORCH_PIECE is a multiple of 16 */
        for (size_t i = 0; i < len; i++) f[i] = uniform_bits(m, digits);
        for (size_t i = 0; i + 16 <= len && i0 + i + 16 <= full; i += 16) fill16(f + i, kind, path);
        size_t out = i0 >= keep ? 0 : (keep - i0 < len ? keep - i0 : len);
        if (out) {
            if (kind) {
                for (size_t i = 0; i < out; i++) h[i] = kind == 1 ? rf_f32_to_f16(f[i]) : rf_f32_to_bf16(f[i]);
                rc = sink(ctx, h, out * 2);
            } else {
                rc = sink(ctx, f, out * 4);
            }
        }
        i0 += len;
    }
    if (!rc && n % 16) {
        float t[16];
        for (int i = 0; i < 16; i++) t[i] = uniform_bits(m, digits);
        fill16(t, kind, path);
        if (kind) {
            for (int i = 0; i < 16; i++) h[i] = kind == 1 ? rf_f32_to_f16(t[i]) : rf_f32_to_bf16(t[i]);
            rc = sink(ctx, h, 32);
        } else {
            rc = sink(ctx, t, 64);
        }
    }
done:
    free(m);
    free(f);
    free(h);
    return rc ? -1 : 0;
}

/* ---- public API --------------------------------------------------------- */

#include "raiiaf.h"

RAIIAF_API int raiiaf_torch_randn(uint64_t seed, raiiaf_dtype dtype, unsigned rank, const uint64_t *shape,
                                  const char *kernel, void *out, size_t out_size)
{
    int kind = dtype == RAIIAF_F32 ? 0 : dtype == RAIIAF_F16 ? 1 : dtype == RAIIAF_BF16 ? 2 : -1;
    int path = -1;
    if (!kernel || !strcmp(kernel, "avx2-fma"))
        path = RF_TORCH_AVX2_FMA;
    else if (!strcmp(kernel, "avx2"))
        path = RF_TORCH_AVX2;
    else if (!strcmp(kernel, "scalar"))
        path = RF_TORCH_SCALAR;
    if (kind < 0 || path < 0 || (rank && !shape) || rank > 8 || (!out && out_size)) return RAIIAF_E_ARG;
    size_t n = rf_torch_randn_count(rank, shape);
    if (n == SIZE_MAX || n * (kind ? 2 : 4) != out_size) return RAIIAF_E_ARG;
    if (!n) return RAIIAF_OK;
    return rf_torch_randn(seed, kind, path, n, out) ? RAIIAF_E_NOMEM : RAIIAF_OK;
}
