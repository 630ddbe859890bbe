/* recipe.h -- codec 3: a tensor stored as the generator call that makes it
 * (SPEC 6.4).  The payload is 32 bytes:
 *
 *    0  2  u16 generator (1: torch.randn on the CPU, MT19937, SPEC 9.5)
 *    2  2  u16 generator_version (1)
 *    4  1  u8 kernel (0 scalar, 1 avx2-fma, 2 avx2; float16/bfloat16: 0)
 *    5  3  reserved, zero
 *    8  8  u64 seed
 *   16 16  reserved, zero
 *
 * dtype and shape are the manifest's; the manifest's SHA-256 of the decoded
 * values is the proof that regeneration reproduced them. */
#ifndef RAIIAF_RECIPE_H
#define RAIIAF_RECIPE_H

#include "internal.h"
#include "format.h"

#define RF_RECIPE_GEN_TORCH_CPU 1u
#define RF_RECIPE_GEN_VERSION 1u

typedef struct rf_recipe {
    unsigned generator, version, kernel; /* on-disk values */
    uint64_t seed;
} rf_recipe;

/* Whether a dtype has a generator (float32, float16, bfloat16). */
int rf_recipe_dtype_ok(raiiaf_dtype dtype);

void rf_recipe_pack(const rf_recipe *rc, unsigned char out[RF_RECIPE_PAYLOAD]);

/* Parses and checks a payload against the tensor's dtype; `where` prefixes
 * messages. */
int rf_recipe_parse(const void *payload, uint64_t stored, raiiaf_dtype dtype, rf_recipe *out, const char *where, rf_err *e);

/* The generator's name as raiiaf_reader_tensor_recipe() reports it. */
const char *rf_recipe_generator_name(unsigned generator);

/* The kernel's name as raiiaf_torch_randn() takes it. */
const char *rf_recipe_kernel_name(unsigned kernel);

/* Regenerates the tensor described by a payload into dst (size bytes). */
int rf_recipe_decode(const void *payload, uint64_t stored, raiiaf_dtype dtype, unsigned rank, const uint64_t *shape,
                     void *dst, size_t size, const char *where, rf_err *e);

/* The SHA-256 (hex) of the tensor a payload describes, regenerated in
 * pieces: memory stays bounded whatever the tensor's size (verify checks a
 * 1 GiB recipe without holding 1 GiB). */
int rf_recipe_digest(const void *payload, uint64_t stored, raiiaf_dtype dtype, unsigned rank, const uint64_t *shape,
                     uint64_t size, char sha[65], const char *where, rf_err *e);

/* Tries every kernel for `dtype` and returns 1 with *out filled when one
 * regenerates `data` exactly; 0 with `why` saying what differed; -1 when
 * memory ran out. */
int rf_recipe_match(const void *data, size_t size, raiiaf_dtype dtype, unsigned rank, const uint64_t *shape,
                    uint64_t seed, rf_recipe *out, char *why, size_t why_cap);

#endif
