/* fuzz_reader.c -- libFuzzer harness for the format 2 reader: open from
 * memory, verify, and read every tensor and the image.  Any crash, leak,
 * sanitizer report or hang is a bug; errors are expected. */
#include "raiiaf.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
            const void *p;
            raiiaf_reader_tensor_data(r, i, &p);
        }
        const void *img;
        size_t isize;
        raiiaf_reader_image(r, &img, &isize, NULL, NULL, NULL);
        raiiaf_reader_verify(r, NULL, NULL);
        /* multi-version files (edits, signatures): every manifest in the
         * footer chain and the newest signature */
        uint32_t latest = raiiaf_reader_latest_version(r);
        for (uint32_t v = 1; v <= latest && v <= 16; v++) {
            char *text = NULL;
            size_t len;
            uint64_t off;
            if (raiiaf_reader_manifest_at(r, v, &text, &len, &off) == RAIIAF_OK) free(text);
        }
        raiiaf_signature_info s;
        raiiaf_reader_signature(r, NULL, &s);
        (void)raiiaf_reader_trailing_bytes(r);
    }
    raiiaf_reader_free(r);
    return 0;
}
