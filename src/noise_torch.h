/* noise_torch.h -- PyTorch 1.13 CPU torch.randn, bit for bit (noise_torch.c). */
#ifndef RAIIAF_NOISE_TORCH_H
#define RAIIAF_NOISE_TORCH_H

#include <stddef.h>
#include <stdint.h>

/* float32 block transform flavours of ATen's CPU kernel. */
#define RF_TORCH_AVX2_FMA 0 /* AVX2 build, multiply-adds fused (Debian 12 torch 1.13 on AVX2 CPUs) */
#define RF_TORCH_AVX2 1     /* AVX2 kernel, no FMA contraction */
#define RF_TORCH_SCALAR 2   /* non-vectorised build: C library logf/cosf/sinf */

/* Element count of a shape, SIZE_MAX if it overflows. */
size_t rf_torch_randn_count(unsigned rank, const uint64_t *shape);

/* n values of torch.randn(..., generator=manual_seed(seed)); kind 0 float32
 * (out: n floats), 1 float16, 2 bfloat16 (out: n uint16 bit patterns).
 * 0, or -1 out of memory / bad kind. */
int rf_torch_randn(uint64_t seed, int kind, int path, size_t n, void *out);

/* The same values in order, handed to sink in pieces of at most
 * RF_TORCH_PIECE values (bytes as rf_torch_randn writes them): memory stays
 * bounded whatever n is.  sink returns 0 to go on.  0, or -1 (out of
 * memory, bad kind, or sink's refusal). */
#define RF_TORCH_PIECE ((size_t)1 << 16)
typedef int (*rf_torch_sink)(void *ctx, const void *bytes, size_t size);
int rf_torch_randn_stream(uint64_t seed, int kind, int path, size_t n, rf_torch_sink sink, void *ctx);

#endif
