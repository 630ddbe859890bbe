/* half.c -- the one float32 <-> float16 / bfloat16 conversion of the tree:
 * the noise generator rounds through it, and the benchmarks and tests that
 * make half-precision data use it too. */
#include "half.h"

uint16_t rf_f32_to_f16(float f)
{
    uint32_t x = rf_f32_bits(f);
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

float rf_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1f) return rf_bits_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        if (!man) return rf_bits_f32(sign);
        float v = (float)man * 0x1p-24f; /* exact: a subnormal half is man * 2^-24 */
        return sign ? -v : v;
    }
    return rf_bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

uint16_t rf_f32_to_bf16(float f)
{
    uint32_t x = rf_f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u); /* quiet NaN */
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

float rf_bf16_to_f32(uint16_t b) { return rf_bits_f32((uint32_t)b << 16); }
