/* bench_stealth.c -- what searching PNG pixels for stealth PNG info costs
 * an import (src/interop/stealth_png.c).
 *
 * One 2048x2048 RGBA PNG, three ways: with a `parameters` text chunk (the
 * record is found in the text: pixels never decoded), without any record
 * (pixels searched: decoding stops after the 120 rows that would hold the
 * signature), and with a stealth record in its alpha LSBs (every row
 * decoded, bit planes built, the record read).  Median of 7 imports each
 * (raiiaf_import_image on the bytes in memory), ratios to the first.
 *
 *     build/bench_stealth */
#include <spng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "raiiaf.h"

#define SIDE 2048u
#define RUNS 7

static unsigned char *make_png(int text, int stealth, size_t *n)
{
    size_t px = (size_t)SIDE * SIDE;
    unsigned char *img = xmalloc(px * 4);
    for (size_t y = 0; y < SIDE; y++)
        for (size_t x = 0; x < SIDE; x++) {
            unsigned char *p = img + (y * SIDE + x) * 4;
            p[0] = (unsigned char)x, p[1] = (unsigned char)y, p[2] = (unsigned char)(x ^ y), p[3] = 255;
        }
    const char *rec = "a cat\nNegative prompt: dog\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512";
    if (stealth) {
        size_t rl = strlen(rec), nb = 15 + 4 + rl;
        unsigned char *s = xmalloc(nb);
        memcpy(s, "stealth_pnginfo", 15);
        uint32_t bits = (uint32_t)rl * 8;
        s[15] = (unsigned char)(bits >> 24), s[16] = (unsigned char)(bits >> 16), s[17] = (unsigned char)(bits >> 8),
        s[18] = (unsigned char)bits;
        memcpy(s + 19, rec, rl);
        for (size_t i = 0; i < nb * 8; i++) {
            size_t x = i / SIDE, y = i % SIDE;
            img[(y * SIDE + x) * 4 + 3] = (unsigned char)(254 | (s[i >> 3] >> (7 - (i & 7)) & 1));
        }
        free(s);
    }
    spng_ctx *ctx = spng_ctx_new(SPNG_CTX_ENCODER);
    spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
    struct spng_ihdr ih = {SIDE, SIDE, 8, SPNG_COLOR_TYPE_TRUECOLOR_ALPHA, 0, 0, 0};
    spng_set_ihdr(ctx, &ih);
    struct spng_text t;
    memset(&t, 0, sizeof t);
    if (text) {
        snprintf(t.keyword, sizeof t.keyword, "parameters");
        t.type = SPNG_TEXT;
        t.length = strlen(rec);
        t.text = (char *)rec;
        spng_set_text(ctx, &t, 1);
    }
    if (spng_encode_image(ctx, img, px * 4, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE)) {
        fprintf(stderr, "encode failed\n");
        exit(1);
    }
    int err = 0;
    unsigned char *png = spng_get_png_buffer(ctx, n, &err);
    spng_ctx_free(ctx);
    free(img);
    return png;
}

static double time_import(const unsigned char *png, size_t n, const char **tool)
{
    double t[RUNS];
    for (int r = 0; r < RUNS; r++) {
        raiiaf_import *imp = NULL;
        double t0 = now_s();
        if (raiiaf_import_image(png, n, &imp)) {
            fprintf(stderr, "import failed: %s\n", raiiaf_import_errmsg(imp));
            exit(1);
        }
        t[r] = now_s() - t0;
        *tool = raiiaf_import_tool(imp) ? "recognised" : "none";
        raiiaf_import_free(imp);
    }
    return median(t, RUNS);
}

int main(void)
{
    static const char *const names[] = {"parameters text chunk (pixels not searched)",
                                        "no record (pixels searched, 120 rows)",
                                        "stealth record in alpha (every row)"};
    double base = 0;
    printf("%ux%u RGBA PNG, median of %d imports\n", SIDE, SIDE, RUNS);
    for (int k = 0; k < 3; k++) {
        size_t n;
        unsigned char *png = make_png(k == 0, k == 2, &n);
        const char *tool;
        double s = time_import(png, n, &tool);
        if (k == 0) base = s;
        printf("  %-46s %8.2f ms  x%.2f  (%zu bytes, tool %s)\n", names[k], s * 1e3, s / base, n, tool);
        free(png);
    }
    return 0;
}
