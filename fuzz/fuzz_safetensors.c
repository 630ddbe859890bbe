/* fuzz_safetensors.c -- libFuzzer harness for the .safetensors parser.
 *
 * Any input must be parsed or refused without a crash; a tensor that parses
 * must lie within the input and survive a rebuild: st_build of it, parsed
 * again, gives the same dtype, shape and bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "interop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    raiiaf_array a;
    char err[256];
    const char *want = size && (data[size - 1] & 1) ? "a" : NULL;
    if (raiiaf_safetensors_parse(data, size, want, &a, err, sizeof err) != 0) {
        if (memchr(err, '\0', sizeof err) == NULL) __builtin_trap();
        return 0;
    }
    if (a.rank > RAIIAF_MAX_RANK || (const uint8_t *)a.data < data || a.size > size ||
        (const uint8_t *)a.data + a.size > data + size)
        __builtin_trap();
    unsigned char *b;
    size_t n;
    if (st_build("t", a.dtype, a.rank, a.shape, a.data, a.size, NULL, &b, &n) != 0) __builtin_trap();
    raiiaf_array c;
    if (raiiaf_safetensors_parse(b, n, NULL, &c, err, sizeof err) != 0) __builtin_trap();
    if (c.dtype != a.dtype || c.rank != a.rank || c.size != a.size || memcmp(c.shape, a.shape, sizeof a.shape[0] * a.rank) ||
        (a.size && memcmp(c.data, a.data, a.size)))
        __builtin_trap();
    free(b);
    return 0;
}
