/* fuzz_reader.c -- libFuzzer harness for the format 2 reader: open from
 * memory, verify, and read every tensor and the image.  Any crash, leak,
 * sanitizer report or hang is a bug; errors are expected. */
#include "raiiaf.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    raiiaf_reader *r = NULL;
    if (raiiaf_reader_open_memory(data, size, 0, &r) == RAIIAF_OK) {
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
    }
    raiiaf_reader_free(r);
    return 0;
}
