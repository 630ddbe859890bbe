/* codec_planes_xform.c -- the element transforms of codec 1 (SPEC 6.2) fused
 * with the byte-plane split and merge, and the sampled entropy estimate the
 * encoder uses to choose a transform and which planes to store.
 *
 * Transforms (payload byte 1):
 *   0  none: plane[k][i] = byte k of x[i]
 *   1  rotate: each element, read as an E-byte little-endian unsigned
 *      integer, is rotated left by one bit before splitting.  For IEEE floats
 *      this moves the sign bit to bit 0, so the top byte holds the exponent
 *      alone (float32, bfloat16) and the near-random sign joins the
 *      near-random low mantissa.
 *   2  delta: each element is mapped to an order-preserving integer
 *      m = x XOR (sign ? 0x7FF..F : 0) (for IEEE floats, m orders like the
 *      value), predicted from its neighbours along the last two axes,
 *      p = left + above - above_left (row length W from the payload; W = 0:
 *      p = left), and the residual r = m - p (mod 2^bits) is zigzag coded
 *      z = (r << 1) XOR (r >> (bits-1), arithmetic).  Spatially smooth
 *      tensors leave small residuals, so the top planes are mostly zero.
 *
 * The split and merge loops for E = 2 and 4 are written so that GCC and
 * Clang vectorise them at -O2/-O3 (plain shifts, ors and byte stores); an
 * explicit AVX2 version is used for E = 4 when the CPU has AVX2, and the
 * test suite checks it gives the same bytes as the portable loop. */
#include "codec_planes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define RF_HAVE_AVX2_PATH 1
#include <immintrin.h>
#endif

static int simd_disabled = 0;

static inline uint64_t load_le(const unsigned char *p, unsigned E)
{
    uint64_t v = 0;
    for (unsigned k = 0; k < E; k++) v |= (uint64_t)p[k] << (8 * k);
    return v;
}

static inline uint64_t rotl1(uint64_t v, unsigned bits)
{
    uint64_t mask = bits == 64 ? ~(uint64_t)0 : (((uint64_t)1 << bits) - 1);
    return ((v << 1) | (v >> (bits - 1))) & mask;
}

static inline uint64_t rotr1(uint64_t v, unsigned bits)
{
    uint64_t mask = bits == 64 ? ~(uint64_t)0 : (((uint64_t)1 << bits) - 1);
    return ((v >> 1) | (v << (bits - 1))) & mask;
}

/* ---- transform 2: delta ------------------------------------------------- */

static inline uint64_t bits_mask(unsigned bits) { return bits == 64 ? ~(uint64_t)0 : (((uint64_t)1 << bits) - 1); }

/* Order-preserving map of a sign-magnitude pattern (its own inverse). */
static inline uint64_t ord_map(uint64_t x, unsigned bits)
{
    uint64_t top = (uint64_t)1 << (bits - 1);
    return (x & top) ? x ^ (top - 1) : x;
}

static inline uint64_t zigzag(uint64_t r, unsigned bits)
{
    uint64_t m = bits_mask(bits), top = (uint64_t)1 << (bits - 1);
    return ((r << 1) ^ ((r & top) ? m : 0)) & m;
}

static inline uint64_t unzigzag(uint64_t z, unsigned bits)
{
    uint64_t m = bits_mask(bits);
    return ((z >> 1) ^ ((z & 1) ? m : 0)) & m;
}

/* Prediction of element i from the mapped values m[] already known. */
static inline uint64_t predict(const uint64_t *row, const uint64_t *above, size_t x, int first_row, uint64_t mask)
{
    if (first_row) return x ? row[x - 1] : 0;
    if (!x) return above[0];
    return (row[x - 1] + above[x] - above[x - 1]) & mask;
}

/* Split with transform 2.  Works a row at a time on two rows of mapped
 * values (W elements; W = 0 or W >= n: one row of n, left prediction). */
static int delta_split(const unsigned char *src, size_t n, unsigned E, uint32_t W, unsigned char *dst)
{
    unsigned bits = 8 * E;
    uint64_t mask = bits_mask(bits);
    size_t w = (W == 0 || W >= n) ? n : W;
    uint64_t *buf = malloc(2 * (w ? w : 1) * sizeof(uint64_t));
    if (!buf) return -1;
    uint64_t *row = buf, *above = buf + w;
    for (size_t base = 0, r = 0; base < n; base += w, r++) {
        size_t len = n - base < w ? n - base : w;
        for (size_t x = 0; x < len; x++) {
            size_t i = base + x;
            uint64_t m = ord_map(load_le(src + i * E, E), bits);
            uint64_t z = zigzag((m - predict(row, above, x, r == 0, mask)) & mask, bits);
            row[x] = m;
            for (unsigned k = 0; k < E; k++) dst[k * n + i] = (unsigned char)(z >> (8 * k));
        }
        uint64_t *t = row;
        row = above;
        above = t;
    }
    free(buf);
    return 0;
}

static int delta_merge(const unsigned char *const *pl, size_t n, unsigned E, uint32_t W, unsigned char *dst)
{
    unsigned bits = 8 * E;
    uint64_t mask = bits_mask(bits);
    size_t w = (W == 0 || W >= n) ? n : W;
    uint64_t *buf = malloc(2 * (w ? w : 1) * sizeof(uint64_t));
    if (!buf) return -1;
    uint64_t *row = buf, *above = buf + w;
    for (size_t base = 0, r = 0; base < n; base += w, r++) {
        size_t len = n - base < w ? n - base : w;
        for (size_t x = 0; x < len; x++) {
            size_t i = base + x;
            uint64_t z = 0;
            for (unsigned k = 0; k < E; k++) z |= (uint64_t)pl[k][i] << (8 * k);
            uint64_t m = (unzigzag(z, bits) + predict(row, above, x, r == 0, mask)) & mask;
            row[x] = m;
            uint64_t v = ord_map(m, bits);
            for (unsigned k = 0; k < E; k++) dst[i * E + k] = (unsigned char)(v >> (8 * k));
        }
        uint64_t *t = row;
        row = above;
        above = t;
    }
    free(buf);
    return 0;
}

/* Fast paths of transform 2 for E = 4 and E = 2: the same arithmetic in
 * uint32_t / uint16_t (mod 2^bits), one row buffer of mapped values. */
#define RF_DELTA_FAST(NAME_S, NAME_M, T, BITS, E_)                                                         \
    static int NAME_S(const unsigned char *src, size_t n, uint32_t W, unsigned char *dst)                \
    {                                                                                                    \
        size_t w = (W == 0 || W >= n) ? n : W;                                                           \
        T *buf = malloc(3 * (w ? w : 1) * sizeof(T));                                                    \
        if (!buf) return -1;                                                                             \
        T *row = buf, *above = buf + w, *tmpz = buf + 2 * w;                                             \
        const T half = (T)(((T)1 << (BITS - 1)) - 1);                                                    \
        for (size_t base = 0, r = 0; base < n; base += w, r++) {                                         \
            size_t len = n - base < w ? n - base : w;                                                    \
            for (size_t x = 0; x < len; x++) {                                                           \
                T v;                                                                                     \
                memcpy(&v, src + (base + x) * E_, E_);                                                   \
                row[x] = (T)(v ^ ((T)(0 - (T)(v >> (BITS - 1))) & half));                                \
            }                                                                                            \
            T *zz = tmpz;                                                                                \
            zz[0] = (T)(row[0] - (r ? above[0] : 0));                                                    \
            if (r)                                                                                       \
                for (size_t x = 1; x < len; x++) zz[x] = (T)(row[x] - row[x - 1] - above[x] + above[x - 1]); \
            else                                                                                         \
                for (size_t x = 1; x < len; x++) zz[x] = (T)(row[x] - row[x - 1]);                       \
            for (size_t x = 0; x < len; x++) {                                                           \
                T d = zz[x];                                                                             \
                T z = (T)((T)(d << 1) ^ (T)(0 - (T)(d >> (BITS - 1))));                                  \
                for (unsigned k = 0; k < E_; k++) dst[k * n + base + x] = (unsigned char)(z >> (8 * k)); \
            }                                                                                            \
            T *t = row;                                                                                  \
            row = above;                                                                                 \
            above = t;                                                                                   \
        }                                                                                                \
        free(buf);                                                                                       \
        return 0;                                                                                        \
    }                                                                                                    \
    static int NAME_M(const unsigned char *const *pl, size_t n, uint32_t W, unsigned char *dst)          \
    {                                                                                                    \
        size_t w = (W == 0 || W >= n) ? n : W;                                                           \
        T *buf = malloc(2 * (w ? w : 1) * sizeof(T));                                                    \
        if (!buf) return -1;                                                                             \
        T *row = buf, *above = buf + w;                                                                  \
        const T half = (T)(((T)1 << (BITS - 1)) - 1);                                                    \
        for (size_t base = 0, r = 0; base < n; base += w, r++) {                                         \
            size_t len = n - base < w ? n - base : w;                                                    \
            /* a[x] = residual + above[x] - above[x-1]; then m = prefix sum of a. */                     \
            for (size_t x = 0; x < len; x++) {                                                           \
                size_t i = base + x;                                                                     \
                T z = 0;                                                                                 \
                for (unsigned k = 0; k < E_; k++) z = (T)(z | (T)((T)pl[k][i] << (8 * k)));              \
                row[x] = (T)((z >> 1) ^ (T)(0 - (T)(z & 1)));                                            \
            }                                                                                            \
            if (r) {                                                                                     \
                row[0] = (T)(row[0] + above[0]);                                                         \
                for (size_t x = 1; x < len; x++) row[x] = (T)(row[x] + above[x] - above[x - 1]);         \
            }                                                                                            \
            T acc = 0;                                                                                   \
            for (size_t x = 0; x < len; x++) row[x] = acc = (T)(acc + row[x]);                          \
            for (size_t x = 0; x < len; x++) {                                                           \
                T m = row[x];                                                                            \
                T v = (T)(m ^ ((T)(0 - (T)(m >> (BITS - 1))) & half));                                    \
                memcpy(dst + (base + x) * E_, &v, E_);                                                   \
            }                                                                                            \
            T *t = row;                                                                                  \
            row = above;                                                                                 \
            above = t;                                                                                   \
        }                                                                                                \
        free(buf);                                                                                       \
        return 0;                                                                                        \
    }

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
RF_DELTA_FAST(delta_split4, delta_merge4, uint32_t, 32, 4)
RF_DELTA_FAST(delta_split2, delta_merge2, uint16_t, 16, 2)
#define RF_DELTA_FAST_OK 1
#endif

/* ---- portable split ----------------------------------------------------- */

static void split4(const unsigned char *src, size_t n, unsigned xf, unsigned char *dst)
{
    unsigned char *p0 = dst, *p1 = dst + n, *p2 = dst + 2 * n, *p3 = dst + 3 * n;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *q = src + 4 * i;
        uint32_t v = (uint32_t)q[0] | ((uint32_t)q[1] << 8) | ((uint32_t)q[2] << 16) | ((uint32_t)q[3] << 24);
        uint32_t y = v;
        if (xf) y = (y << 1) | (y >> 31);
        p0[i] = (unsigned char)y;
        p1[i] = (unsigned char)(y >> 8);
        p2[i] = (unsigned char)(y >> 16);
        p3[i] = (unsigned char)(y >> 24);
    }
}

static void split2(const unsigned char *src, size_t n, unsigned xf, unsigned char *dst)
{
    unsigned char *p0 = dst, *p1 = dst + n;
    for (size_t i = 0; i < n; i++) {
        unsigned v = (unsigned)src[2 * i] | ((unsigned)src[2 * i + 1] << 8);
        unsigned y = v;
        if (xf) y = ((y << 1) | (y >> 15)) & 0xFFFFu;
        p0[i] = (unsigned char)y;
        p1[i] = (unsigned char)(y >> 8);
    }
}

void rf_planes_split_portable(const unsigned char *src, size_t n, unsigned E, unsigned xf, unsigned char *dst)
{
    if (E == 4) {
        split4(src, n, xf, dst);
        return;
    }
    if (E == 2) {
        split2(src, n, xf, dst);
        return;
    }
    if (E == 1 && xf == 0) {
        memcpy(dst, src, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t y = load_le(src + i * E, E);
        if (xf) y = rotl1(y, 8 * E);
        for (unsigned k = 0; k < E; k++) dst[k * n + i] = (unsigned char)(y >> (8 * k));
    }
}

void rf_planes_merge_portable(const unsigned char *const *pl, size_t n, unsigned E, unsigned xf, unsigned char *dst)
{
    if (E == 1 && xf == 0) {
        memcpy(dst, pl[0], n);
        return;
    }
    if (E == 4) {
        const unsigned char *p0 = pl[0], *p1 = pl[1], *p2 = pl[2], *p3 = pl[3];
        for (size_t i = 0; i < n; i++) {
            uint32_t y = (uint32_t)p0[i] | ((uint32_t)p1[i] << 8) | ((uint32_t)p2[i] << 16) | ((uint32_t)p3[i] << 24);
            if (xf) y = (y >> 1) | (y << 31);
            unsigned char *d = dst + 4 * i;
            d[0] = (unsigned char)y;
            d[1] = (unsigned char)(y >> 8);
            d[2] = (unsigned char)(y >> 16);
            d[3] = (unsigned char)(y >> 24);
        }
        return;
    }
    if (E == 2) {
        const unsigned char *p0 = pl[0], *p1 = pl[1];
        for (size_t i = 0; i < n; i++) {
            unsigned y = (unsigned)p0[i] | ((unsigned)p1[i] << 8);
            if (xf) y = ((y >> 1) | (y << 15)) & 0xFFFFu;
            dst[2 * i] = (unsigned char)y;
            dst[2 * i + 1] = (unsigned char)(y >> 8);
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t y = 0;
        for (unsigned k = 0; k < E; k++) y |= (uint64_t)pl[k][i] << (8 * k);
        if (xf) y = rotr1(y, 8 * E);
        for (unsigned k = 0; k < E; k++) dst[i * E + k] = (unsigned char)(y >> (8 * k));
    }
}

/* ---- AVX2 (E = 4, transforms 0 and 1) ----------------------------------- */

#ifdef RF_HAVE_AVX2_PATH
__attribute__((target("avx2"))) static void split4_avx2(const unsigned char *src, size_t n, unsigned xf, unsigned char *dst)
{
    unsigned char *p0 = dst, *p1 = dst + n, *p2 = dst + 2 * n, *p3 = dst + 3 * n;
    /* Within each 128-bit lane: gather byte 0 of the 4 elements, then byte 1, ... */
    const __m256i shuf = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,
                                          0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(src + 4 * i));
        if (xf == 1) v = _mm256_or_si256(_mm256_slli_epi32(v, 1), _mm256_srli_epi32(v, 31));
        v = _mm256_shuffle_epi8(v, shuf);       /* lane: b0 x4 | b1 x4 | b2 x4 | b3 x4 */
        v = _mm256_permutevar8x32_epi32(v, perm); /* b0 x8 | b1 x8 | b2 x8 | b3 x8 */
        uint64_t q[4];
        _mm256_storeu_si256((__m256i *)q, v);
        memcpy(p0 + i, &q[0], 8);
        memcpy(p1 + i, &q[1], 8);
        memcpy(p2 + i, &q[2], 8);
        memcpy(p3 + i, &q[3], 8);
    }
    for (; i < n; i++) { /* the tail, as the portable loop does it */
        const unsigned char *q = src + 4 * i;
        uint32_t y = (uint32_t)q[0] | ((uint32_t)q[1] << 8) | ((uint32_t)q[2] << 16) | ((uint32_t)q[3] << 24);
        if (xf) y = (y << 1) | (y >> 31);
        p0[i] = (unsigned char)y;
        p1[i] = (unsigned char)(y >> 8);
        p2[i] = (unsigned char)(y >> 16);
        p3[i] = (unsigned char)(y >> 24);
    }
}

__attribute__((target("avx2"))) static void merge4_avx2(const unsigned char *const *pl, size_t n, unsigned xf, unsigned char *dst)
{
    const unsigned char *p0 = pl[0], *p1 = pl[1], *p2 = pl[2], *p3 = pl[3];
    const __m256i perm = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    const __m256i shuf = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,
                                          0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t q[4];
        memcpy(&q[0], p0 + i, 8);
        memcpy(&q[1], p1 + i, 8);
        memcpy(&q[2], p2 + i, 8);
        memcpy(&q[3], p3 + i, 8);
        __m256i v = _mm256_loadu_si256((const __m256i *)q);  /* b0 x8 | b1 x8 | b2 x8 | b3 x8 */
        v = _mm256_permutevar8x32_epi32(v, perm);             /* lane: b0 x4 | b1 x4 | b2 x4 | b3 x4 */
        v = _mm256_shuffle_epi8(v, shuf);                     /* the 4x4 byte transpose is its own inverse */
        if (xf == 1) v = _mm256_or_si256(_mm256_srli_epi32(v, 1), _mm256_slli_epi32(v, 31));
        _mm256_storeu_si256((__m256i *)(dst + 4 * i), v);
    }
    if (i < n) {
        size_t m = n - i;
        const unsigned char *tail[4] = {p0 + i, p1 + i, p2 + i, p3 + i};
        rf_planes_merge_portable(tail, m, 4, xf, dst + 4 * i);
    }
}

static int cpu_avx2(void)
{
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return cached;
}
#endif

void rf_planes_set_simd(int enabled) { simd_disabled = !enabled; }

int rf_planes_split(const unsigned char *src, size_t n, unsigned E, unsigned xf, uint32_t W, unsigned char *dst)
{
    if (xf == RF_XFORM_DELTA) {
#ifdef RF_DELTA_FAST_OK
        if (E == 4) return delta_split4(src, n, W, dst);
        if (E == 2) return delta_split2(src, n, W, dst);
#endif
        return delta_split(src, n, E, W, dst);
    }
#ifdef RF_HAVE_AVX2_PATH
    if (E == 4 && xf < 2 && !simd_disabled && cpu_avx2()) {
        split4_avx2(src, n, xf, dst);
        return 0;
    }
#endif
    rf_planes_split_portable(src, n, E, xf, dst);
    return 0;
}

int rf_planes_merge(const unsigned char *const *pl, size_t n, unsigned E, unsigned xf, uint32_t W, unsigned char *dst)
{
    if (xf == RF_XFORM_DELTA) {
#ifdef RF_DELTA_FAST_OK
        if (E == 4 && !simd_disabled) return delta_merge4(pl, n, W, dst);
        if (E == 2 && !simd_disabled) return delta_merge2(pl, n, W, dst);
#endif
        return delta_merge(pl, n, E, W, dst);
    }
#ifdef RF_HAVE_AVX2_PATH
    if (E == 4 && xf < 2 && !simd_disabled && cpu_avx2()) {
        merge4_avx2(pl, n, xf, dst);
        return 0;
    }
#endif
    rf_planes_merge_portable(pl, n, E, xf, dst);
    return 0;
}

/* ---- sampled entropy ---------------------------------------------------- */

/* Order-0 entropy in bits of a histogram of `total` samples. */
static double hist_bits(const uint32_t *h, uint32_t total)
{
    if (!total) return 0;
    double bits = 0, lt = log2((double)total);
    for (unsigned s = 0; s < 256; s++)
        if (h[s]) bits += (double)h[s] * (lt - log2((double)h[s]));
    return bits;
}

/* Estimates each plane's entropy in bits per byte under transform xf from
 * a sample: RF_SAMPLE_RUNS runs of RF_SAMPLE_RUN consecutive elements, evenly
 * spaced (for transform 2, each run is coded with its true neighbours when
 * it has them).  Returns the sum over planes. */
#define RF_SAMPLE_RUNS 8
#define RF_SAMPLE_RUN 256
double rf_planes_estimate(const unsigned char *src, size_t n, unsigned E, unsigned xf, uint32_t W, double bits_per_byte[8])
{
    uint32_t h[8][256];
    memset(h, 0, sizeof h);
    uint32_t total = 0;
    size_t runs = RF_SAMPLE_RUNS, run = RF_SAMPLE_RUN;
    if (n <= runs * run) {
        runs = 1;
        run = n;
    }
    unsigned bits = 8 * E;
    uint64_t mask = bits_mask(bits);
    size_t w = (W == 0 || W >= n) ? n : W;
    size_t stride = runs > 1 ? (n - run) / (runs - 1) : 0;
    for (size_t r = 0; r < runs; r++) {
        size_t start = r * stride;
        for (size_t i = start; i < start + run; i++) {
            uint64_t y = load_le(src + i * E, E);
            if (xf == RF_XFORM_ROTATE) {
                y = rotl1(y, bits);
            } else if (xf == RF_XFORM_DELTA) {
                size_t x = i % w;
                uint64_t m = ord_map(y, bits), p;
                if (i < w)
                    p = x ? ord_map(load_le(src + (i - 1) * E, E), bits) : 0;
                else if (!x)
                    p = ord_map(load_le(src + (i - w) * E, E), bits);
                else
                    p = (ord_map(load_le(src + (i - 1) * E, E), bits) + ord_map(load_le(src + (i - w) * E, E), bits) -
                         ord_map(load_le(src + (i - w - 1) * E, E), bits)) & mask;
                y = zigzag((m - p) & mask, bits);
            }
            for (unsigned k = 0; k < E; k++) h[k][(y >> (8 * k)) & 255]++;
        }
        total += (uint32_t)run;
    }
    double sum = 0;
    for (unsigned k = 0; k < E; k++) {
        double b = total ? hist_bits(h[k], total) / total : 8.0;
        bits_per_byte[k] = b;
        sum += b;
    }
    return sum;
}
