/* recipe.c -- codec 3: seeded noise stored as its generator call.
 *
 * A recipe is only ever written after the generator has reproduced the
 * caller's bytes exactly, and only ever read back through the manifest's
 * SHA-256 of those bytes, so a platform whose math library rounds
 * differently gets a DIGEST error, never different noise. */
#include "recipe.h"
#include "noise_torch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* On-disk kernel byte -> noise_torch.c path. */
static int kernel_path(unsigned kernel)
{
    switch (kernel) {
    case 0: return RF_TORCH_SCALAR;
    case 1: return RF_TORCH_AVX2_FMA;
    case 2: return RF_TORCH_AVX2;
    default: return -1;
    }
}

const char *rf_recipe_kernel_name(unsigned kernel)
{
    static const char *const names[] = {"scalar", "avx2-fma", "avx2"};
    return kernel < 3 ? names[kernel] : "unknown";
}

const char *rf_recipe_generator_name(unsigned generator)
{
    return generator == RF_RECIPE_GEN_TORCH_CPU ? "torch.randn/cpu" : "unknown";
}

static int dtype_kind(raiiaf_dtype dtype)
{
    return dtype == RAIIAF_F32 ? 0 : dtype == RAIIAF_F16 ? 1 : dtype == RAIIAF_BF16 ? 2 : -1;
}

int rf_recipe_dtype_ok(raiiaf_dtype dtype) { return dtype_kind(dtype) >= 0; }

void rf_recipe_pack(const rf_recipe *rc, unsigned char out[RF_RECIPE_PAYLOAD])
{
    memset(out, 0, RF_RECIPE_PAYLOAD);
    rf_put16(out, (uint16_t)rc->generator);
    rf_put16(out + 2, (uint16_t)rc->version);
    out[4] = (unsigned char)rc->kernel;
    rf_put64(out + 8, rc->seed);
}

int rf_recipe_parse(const void *payload, uint64_t stored, raiiaf_dtype dtype, rf_recipe *out, const char *where, rf_err *e)
{
    const unsigned char *p = payload;
    if (stored != RF_RECIPE_PAYLOAD)
        return rf_fail(e, RAIIAF_E_CORRUPT, "%s: recipe payload is %llu bytes, not %u", where, (unsigned long long)stored, RF_RECIPE_PAYLOAD);
    for (unsigned i = 5; i < RF_RECIPE_PAYLOAD; i++)
        if ((i < 8 || i >= 16) && p[i]) return rf_fail(e, RAIIAF_E_CORRUPT, "%s: recipe byte %u (reserved) is not zero", where, i);
    out->generator = rf_le16(p);
    out->version = rf_le16(p + 2);
    out->kernel = p[4];
    out->seed = rf_le64(p + 8);
    if (out->generator != RF_RECIPE_GEN_TORCH_CPU || out->version != RF_RECIPE_GEN_VERSION)
        return rf_fail(e, RAIIAF_E_VERSION, "%s: recipe generator %u version %u is not known to this library (it knows 1 version 1, torch.randn on the CPU)",
                       where, out->generator, out->version);
    int kind = dtype_kind(dtype);
    if (kind < 0) return rf_fail(e, RAIIAF_E_CORRUPT, "%s: a recipe cannot make %s values", where, raiiaf_dtype_name(dtype));
    if (kernel_path(out->kernel) < 0 || (kind != 0 && out->kernel != 0))
        return rf_fail(e, RAIIAF_E_CORRUPT, "%s: recipe kernel %u is not valid for %s", where, out->kernel, raiiaf_dtype_name(dtype));
    return RAIIAF_OK;
}

int rf_recipe_decode(const void *payload, uint64_t stored, raiiaf_dtype dtype, unsigned rank, const uint64_t *shape,
                     void *dst, size_t size, const char *where, rf_err *e)
{
    rf_recipe rc;
    int st = rf_recipe_parse(payload, stored, dtype, &rc, where, e);
    if (st) return st;
    size_t n = rf_torch_randn_count(rank, shape);
    if (n == SIZE_MAX || n * raiiaf_dtype_size(dtype) != size)
        return rf_fail(e, RAIIAF_E_CORRUPT, "%s: recipe shape disagrees with the tensor size", where);
    /* raw_size <= RF_MAX_RECIPE_BYTES was enforced when the file was opened. */
    if (n && rf_torch_randn(rc.seed, dtype_kind(dtype), kernel_path(rc.kernel), n, dst))
        return rf_fail(e, RAIIAF_E_NOMEM, "%s: out of memory regenerating %zu values", where, n);
    return RAIIAF_OK;
}

static int digest_piece(void *ctx, const void *bytes, size_t size)
{
    rf_sha256_update(ctx, bytes, size);
    return 0;
}

int rf_recipe_digest(const void *payload, uint64_t stored, raiiaf_dtype dtype, unsigned rank, const uint64_t *shape,
                     uint64_t size, char sha[65], const char *where, rf_err *e)
{
    rf_recipe rc;
    int st = rf_recipe_parse(payload, stored, dtype, &rc, where, e);
    if (st) return st;
    size_t n = rf_torch_randn_count(rank, shape);
    if (n == SIZE_MAX || (uint64_t)n * raiiaf_dtype_size(dtype) != size)
        return rf_fail(e, RAIIAF_E_CORRUPT, "%s: recipe shape disagrees with the tensor size", where);
    rf_sha256 *s = rf_sha256_new();
    if (!s || rf_torch_randn_stream(rc.seed, dtype_kind(dtype), kernel_path(rc.kernel), n, digest_piece, s)) {
        rf_sha256_free(s);
        return rf_fail(e, RAIIAF_E_NOMEM, "%s: out of memory regenerating %zu values", where, n);
    }
    rf_sha256_final_hex(s, sha);
    rf_sha256_free(s);
    return RAIIAF_OK;
}

/* Index of the first element that differs, or n. */
static size_t first_difference(const unsigned char *a, const unsigned char *b, size_t n, size_t esize)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(a + i * esize, b + i * esize, esize)) return i;
    return n;
}

static unsigned long long element_bits(const unsigned char *p, size_t esize)
{
    return esize == 4 ? rf_le32(p) : rf_le16(p);
}

int rf_recipe_match(const void *data, size_t size, raiiaf_dtype dtype, unsigned rank, const uint64_t *shape,
                    uint64_t seed, rf_recipe *out, char *why, size_t why_cap)
{
    int kind = dtype_kind(dtype);
    if (kind < 0) {
        snprintf(why, why_cap, "no noise generator makes %s values (float32, float16 and bfloat16 only)", raiiaf_dtype_name(dtype));
        return 0;
    }
    size_t esize = raiiaf_dtype_size(dtype), n = rf_torch_randn_count(rank, shape);
    if (n == SIZE_MAX || n * esize != size) {
        snprintf(why, why_cap, "the data size does not match the shape");
        return 0;
    }
    if (!n) {
        snprintf(why, why_cap, "the tensor is empty");
        return 0;
    }
    if (size > RF_MAX_RECIPE_BYTES) {
        snprintf(why, why_cap, "%zu bytes exceed the %llu-byte limit of a recipe", size, (unsigned long long)RF_MAX_RECIPE_BYTES);
        return 0;
    }
    /* float32: Debian's and PyPI's torch use the AVX2+FMA kernel on current
     * x86-64 CPUs, so it is tried first; half types have one path. */
    static const unsigned f32_kernels[] = {1, 0, 2}, half_kernels[] = {0};
    const unsigned *kernels = kind == 0 ? f32_kernels : half_kernels;
    size_t nk = kind == 0 ? 3 : 1;
    unsigned char *gen = malloc(size);
    if (!gen) return -1;
    const unsigned char *d = data;
    size_t best_diff = 0;
    unsigned best_kernel = kernels[0];
    for (size_t k = 0; k < nk; k++) {
        int path = kernel_path(kernels[k]);
        /* With n >= 32, the first 16 outputs are exactly the 16-element
         * tensor's: a wrong seed or kernel is found without generating all. */
        size_t probe = n >= 32 ? 16 : n;
        if (rf_torch_randn(seed, kind, path, probe, gen)) {
            free(gen);
            return -1;
        }
        size_t diff = first_difference(d, gen, probe, esize);
        if (diff == probe && probe < n) {
            if (rf_torch_randn(seed, kind, path, n, gen)) {
                free(gen);
                return -1;
            }
            diff = first_difference(d, gen, n, esize);
        }
        if (diff == n) {
            free(gen);
            out->generator = RF_RECIPE_GEN_TORCH_CPU;
            out->version = RF_RECIPE_GEN_VERSION;
            out->kernel = kernels[k];
            out->seed = seed;
            return 1;
        }
        if (k == 0 || diff > best_diff) {
            best_diff = diff;
            best_kernel = kernels[k];
            snprintf(why, why_cap, "element %zu is 0x%0*llx but torch.randn(seed=%llu) gives 0x%0*llx", diff, (int)esize * 2,
                     element_bits(d + diff * esize, esize), (unsigned long long)seed, (int)esize * 2,
                     element_bits(gen + diff * esize, esize));
        }
    }
    size_t len = strlen(why);
    if (len < why_cap)
        snprintf(why + len, why_cap - len, " (kernel %s%s)", rf_recipe_kernel_name(best_kernel),
                 nk > 1 ? "; kernels avx2-fma, scalar and avx2 tried" : "");
    free(gen);
    return 0;
}
