/* half.h -- float32 <-> float16 / bfloat16, bit for bit (half.c). */
#ifndef RAIIAF_HALF_H
#define RAIIAF_HALF_H

#include <stdint.h>
#include <string.h>

/* A float's bits and back (no conversion), for code that works on them. */
static inline uint32_t rf_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float rf_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* IEEE binary32 -> binary16, round to nearest even, with subnormals,
 * overflow to infinity and NaN kept quiet (as numpy and torch convert). */
uint16_t rf_f32_to_f16(float f);
/* binary16 -> binary32, exactly. */
float rf_f16_to_f32(uint16_t h);
/* binary32 -> bfloat16, round to nearest even (the top 16 bits); NaN quiet. */
uint16_t rf_f32_to_bf16(float f);
/* bfloat16 -> binary32, exactly. */
float rf_bf16_to_f32(uint16_t b);

#endif
