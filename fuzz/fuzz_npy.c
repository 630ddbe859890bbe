/* fuzz_npy.c -- libFuzzer harness for the CLI's .npy parser.
 *
 * Any input must be parsed or refused without a crash, and whatever parses
 * must survive a rebuild: raiiaf_npy_build of the parsed array, parsed again,
 * gives the same dtype, shape and bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "raiiaf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    raiiaf_array a;
    char err[256];
    if (raiiaf_npy_parse(data, size, &a, err, sizeof err) != 0) {
        /* messages are always terminated within the buffer */
        if (memchr(err, '\0', sizeof err) == NULL) __builtin_trap();
        return 0;
    }
    if (a.size > size || a.rank > RAIIAF_MAX_RANK) __builtin_trap();

    unsigned char *built;
    size_t built_size;
    if (raiiaf_npy_build(a.dtype, a.rank, a.shape, a.data, a.size, &built, &built_size) != 0)
        __builtin_trap();
    raiiaf_array b;
    if (raiiaf_npy_parse(built, built_size, &b, err, sizeof err) != 0) __builtin_trap();
    if (b.dtype != a.dtype || b.rank != a.rank || b.size != a.size ||
        memcmp(b.shape, a.shape, sizeof a.shape) != 0 ||
        (a.size && memcmp(b.data, a.data, a.size) != 0))
        __builtin_trap();
    raiiaf_array_free(&b);
    raiiaf_array_free(&a);
    free(built);
    return 0;
}
