/* fuzz_format1.c -- libFuzzer harness for the format 1 reader (files of the
 * original Python package): open from memory, read every tensor, the image
 * and the environment record, verify.  Inputs that do not start with the
 * format 1 signature get it, so every run exercises format1_read.c.  Any
 * crash, leak, sanitizer report or hang is a bug; errors are expected. */
#include "raiiaf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = NULL;
    if (size < 6 || memcmp(data, "raiiaf", 6)) {
        copy = malloc(size + 6);
        if (!copy) return 0;
        memcpy(copy, "raiiaf", 6);
        if (size) memcpy(copy + 6, data, size);
        data = copy;
        size += 6;
    }
    /* A budget of 64 MiB decoded bytes instead of the default 1 GiB + 64x:
     * the budget's refusal path is what a hostile file should reach, and a
     * run that decodes a 1 GiB recipe on a slow machine passes libFuzzer's
     * per-input timeout and memory limit without being a bug. */
    raiiaf_reader *r = NULL;
    if (raiiaf_reader_new(0, &r) == RAIIAF_OK && raiiaf_reader_set_decode_limit(r, (uint64_t)64 << 20) == RAIIAF_OK &&
        raiiaf_reader_open_buffer(r, data, size) == RAIIAF_OK) {
        size_t n = raiiaf_reader_tensor_count(r);
        for (size_t i = 0; i < n; i++) {
            raiiaf_tensor_info t;
            if (raiiaf_reader_tensor_info(r, i, &t) || t.raw_size > (64u << 20)) continue;
            void *buf = malloc(t.raw_size ? (size_t)t.raw_size : 1);
            if (buf) raiiaf_reader_read_tensor(r, i, buf, (size_t)t.raw_size);
            free(buf);
        }
        const void *img;
        size_t isize;
        const char *format;
        uint32_t w, h;
        raiiaf_reader_image(r, &img, &isize, &format, &w, &h);
        const char *env;
        size_t elen;
        raiiaf_reader_env_json(r, &env, &elen);
        raiiaf_reader_verify(r, NULL, NULL);
    }
    raiiaf_reader_free(r);
    free(copy);
    return 0;
}
