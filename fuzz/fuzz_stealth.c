/* fuzz_stealth.c -- libFuzzer harness for the stealth PNG info reader
 * (src/interop/stealth_png.c) and what maps its records.
 *
 * Two ways in: the input as a whole PNG file (damaged headers, chunks,
 * image data), and the input as the hidden bits themselves -- the first
 * byte picks the signature and plane (alpha or RGB, plain or gzip) and
 * whether the real length field is used, the rest (its first
 * STEALTH_HIDDEN_MAX bytes) becomes the pixels' least significant bits of
 * a PNG built here -- so that the length field, the gzip stream and the
 * text behind a valid signature are explored, not only the signature
 * check.
 *
 * Any input must be handled without a crash, a leak or an over-limit
 * allocation; a record found must be UTF-8 text of its stated length, and
 * a failure must say why in its note. */
#include <spng.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "interop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { STEALTH_HIDDEN_MAX = 8192 };

static void check(const unsigned char *png, size_t n)
{
    meta_list l;
    memset(&l, 0, sizeof l);
    char note[256];
    int rc = stealth_collect(png, n, &l, note, sizeof note);
    if (memchr(note, '\0', sizeof note) == NULL) __builtin_trap();
    if (rc == -1 && !note[0]) __builtin_trap(); /* a damaged record says why */
    if (rc == 1) {
        if (l.count != 1 || strlen(l.items[0].text) > l.items[0].len) __builtin_trap();
        import_result r;
        import_result_init(&r);
        import_detect_more(&l, &r);
        import_result_free(&r);
    }
    meta_list_free(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size);
    if (size < 2) return 0;
    static const char *const sigs[] = {"stealth_pnginfo", "stealth_pngcomp", "stealth_rgbinfo", "stealth_rgbcomp"};
    unsigned mode = data[0] & 3, honest = data[0] & 4;
    const uint8_t *payload = data + 1;
    /* Only the first few KB become hidden bits: the length field, the gzip
     * stream and the text checks are all reached within them, while the
     * PNG built here grows with every byte hidden (64 KB of input was a
     * 2 MB image per run). Longer inputs still go whole through check(). */
    size_t pn = size - 1 > STEALTH_HIDDEN_MAX ? STEALTH_HIDDEN_MAX : size - 1;
    /* signature + length + payload, as bits */
    size_t nbytes = 15 + 4 + pn;
    unsigned char *stream = malloc(nbytes);
    if (!stream) return 0;
    memcpy(stream, sigs[mode], 15);
    uint32_t lb = honest ? (uint32_t)(pn * 8) : (pn >= 4 ? (uint32_t)payload[0] << 24 | (uint32_t)payload[1] << 16 |
                                                                 (uint32_t)payload[2] << 8 | payload[3]
                                                           : 0);
    stream[15] = (unsigned char)(lb >> 24), stream[16] = (unsigned char)(lb >> 16), stream[17] = (unsigned char)(lb >> 8),
    stream[18] = (unsigned char)lb;
    memcpy(stream + 19, payload, pn);
    size_t nbits = nbytes * 8, per = mode < 2 ? 1 : 3;
    uint32_t h = 16, w = (uint32_t)((nbits / per + h - 1) / h);
    unsigned char *img = calloc((size_t)w * h, 4);
    if (!img) {
        free(stream);
        return 0;
    }
    for (size_t i = 0; i < nbits; i++) {
        size_t px = i / per, c = mode < 2 ? 3 : i % per;
        size_t x = px / h, y = px % h;
        unsigned bitv = stream[i >> 3] >> (7 - (i & 7)) & 1;
        img[(y * w + x) * 4 + c] = (unsigned char)(0xFE | bitv);
    }
    free(stream);
    spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    if (ctx) {
        spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
        /* The encoder is scaffolding, not what is tested: stored deflate
         * blocks and no filter search keep it from dominating each run. */
        spng_set_option(ctx, SPNG_IMG_COMPRESSION_LEVEL, 0);
        spng_set_option(ctx, SPNG_FILTER_CHOICE, SPNG_DISABLE_FILTERING);
        struct spng_ihdr ih = {w, h, 8, SPNG_COLOR_TYPE_TRUECOLOR_ALPHA, 0, 0, 0};
        spng_set_ihdr(ctx, &ih);
        if (!spng_encode_image(ctx, img, (size_t)w * h * 4, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE)) {
            size_t n = 0;
            int err = 0;
            unsigned char *png = spng_get_png_buffer(ctx, &n, &err);
            if (png && !err) check(png, n);
            free(png);
        }
        spng_ctx_free(ctx);
    }
    free(img);
    return 0;
}
