/* fuzz_image.c -- libFuzzer harness for the image checks: rf_image_validate
 * on the raw input (PNG structure and pixel check, JPEG decoded by
 * libjpeg-turbo at 1/8 scale, WebP and animated WebP by libwebp), then, for
 * a PNG, the same bytes with every chunk CRC resealed so the fuzzer reaches
 * the inflate, filter-byte and Adler-32 checks behind the CRCs.
 *
 * Any input must be handled without a crash, a leak or unbounded memory;
 * the one-shot libdeflate path and zlib's row-by-row path must agree on
 * every PNG (both accept or both refuse), and every refusal must name the
 * format. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libdeflate.h>

#include "internal.h"
#include "image_codecs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_message(int rc, const rf_err *e)
{
    if (rc == RAIIAF_OK || rc == RAIIAF_E_NOMEM) return;
    if (rc != RAIIAF_E_IMAGE || (strncmp(e->msg, "PNG: ", 5) && strncmp(e->msg, "JPEG: ", 6) &&
                                 strncmp(e->msg, "WebP: ", 6) && strncmp(e->msg, "not a PNG", 9) &&
                                 strcmp(e->msg, "empty image"))) {
        fprintf(stderr, "unexpected result %d: %s\n", rc, e->msg);
        abort();
    }
}

/* Recomputes the CRC of every chunk whose framing holds. */
static void reseal(unsigned char *d, size_t n)
{
    size_t pos = 8;
    while (n - pos >= 12) {
        uint32_t len = ((uint32_t)d[pos] << 24) | ((uint32_t)d[pos + 1] << 16) | ((uint32_t)d[pos + 2] << 8) | d[pos + 3];
        if (len > n - pos - 12) return;
        uint32_t c = (uint32_t)libdeflate_crc32(0, d + pos + 4, (size_t)len + 4);
        unsigned char *p = d + pos + 8 + len;
        p[0] = (unsigned char)(c >> 24), p[1] = (unsigned char)(c >> 16), p[2] = (unsigned char)(c >> 8);
        p[3] = (unsigned char)c;
        pos += 12 + (size_t)len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rf_image_desc d;
    rf_err e;
    rf_err_clear(&e);
    check_message(rf_image_validate(data, size, &d, &e), &e);

    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    if (size < 8 || memcmp(data, sig, 8)) return 0;
    unsigned char *copy = malloc(size);
    if (!copy) return 0;
    memcpy(copy, data, size);
    reseal(copy, size);
    rf_err_clear(&e);
    int rc = rf_png_probe(copy, size, &d, &e);
    check_message(rc, &e);
    if (rc == RAIIAF_OK) {
        rf_err e2;
        rf_err_clear(&e2);
        int whole = rf_png_check_pixels(copy, size, RF_PNG_WHOLE_LIMIT, &e);
        int rows = rf_png_check_pixels(copy, size, 0, &e2);
        check_message(whole, &e);
        check_message(rows, &e2);
        if ((whole == RAIIAF_OK) != (rows == RAIIAF_OK)) {
            fprintf(stderr, "libdeflate and zlib disagree: whole: %s / rows: %s\n", whole ? e.msg : "ok",
                    rows ? e2.msg : "ok");
            abort();
        }
    }
    free(copy);
    return 0;
}
