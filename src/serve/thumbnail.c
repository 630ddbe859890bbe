/* thumbnail.c -- a stored image (PNG, JPEG or WebP bytes) -> a small RGB8
 * picture for a gallery grid.  JPEG and WebP are decoded already scaled
 * (libjpeg-turbo's DCT scaling by 1/2, 1/4, 1/8; libwebp's scaler), so a
 * large photo never exists at full size in memory; PNG has no such mode
 * and is decoded whole by libspng under a pixel bound, then box-filtered. */
#include "raiiaf.h"

#include <setjmp.h>
#include <spng.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <webp/decode.h>

/* Full-size decodes (PNG, and JPEG before its 1/8 scaling) are refused
 * beyond this: 16384 x 16384 pixels is larger than any generator writes. */
#define THUMB_MAX_DIM 16384u
#define THUMB_MAX_SIDE 4096u

static int fail(char *err, size_t errsize, int rc, const char *fmt, ...)
{
    if (err && errsize) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errsize, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* The target size: the longer side becomes max_side, never enlarged. */
static void fit(uint32_t w, uint32_t h, uint32_t max_side, uint32_t *tw, uint32_t *th)
{
    if (w <= max_side && h <= max_side) {
        *tw = w;
        *th = h;
    } else if (w >= h) {
        *tw = max_side;
        *th = (uint32_t)(((uint64_t)h * max_side + w / 2) / w);
    } else {
        *th = max_side;
        *tw = (uint32_t)(((uint64_t)w * max_side + h / 2) / h);
    }
    if (!*tw) *tw = 1;
    if (!*th) *th = 1;
}

/* Box filter: each output pixel is the mean of the source pixels its
 * footprint covers (whole pixels; exact for integer ratios). */
static uint8_t *box_scale(const uint8_t *src, uint32_t sw, uint32_t sh, uint32_t tw, uint32_t th)
{
    uint8_t *out = malloc((size_t)tw * th * 3);
    if (!out) return NULL;
    for (uint32_t y = 0; y < th; y++) {
        uint32_t y0 = (uint32_t)((uint64_t)y * sh / th), y1 = (uint32_t)((uint64_t)(y + 1) * sh / th);
        if (y1 <= y0) y1 = y0 + 1;
        for (uint32_t x = 0; x < tw; x++) {
            uint32_t x0 = (uint32_t)((uint64_t)x * sw / tw), x1 = (uint32_t)((uint64_t)(x + 1) * sw / tw);
            if (x1 <= x0) x1 = x0 + 1;
            uint64_t acc[3] = {0, 0, 0}, n = (uint64_t)(x1 - x0) * (y1 - y0);
            for (uint32_t yy = y0; yy < y1; yy++) {
                const uint8_t *row = src + ((size_t)yy * sw + x0) * 3;
                for (uint32_t xx = x0; xx < x1; xx++, row += 3) {
                    acc[0] += row[0];
                    acc[1] += row[1];
                    acc[2] += row[2];
                }
            }
            uint8_t *o = out + ((size_t)y * tw + x) * 3;
            for (int c = 0; c < 3; c++) o[c] = (uint8_t)((acc[c] + n / 2) / n);
        }
    }
    return out;
}

static int thumb_png(const void *data, size_t size, uint32_t max_side, uint8_t **rgb, uint32_t *w, uint32_t *h,
                     char *err, size_t errsize)
{
    spng_ctx *ctx = spng_ctx_new(0);
    if (!ctx) return fail(err, errsize, RAIIAF_E_NOMEM, "PNG: out of memory");
    int rc = RAIIAF_OK, r = spng_set_png_buffer(ctx, data, size);
    if (!r) r = spng_set_image_limits(ctx, THUMB_MAX_DIM, THUMB_MAX_DIM);
    if (!r) r = spng_set_chunk_limits(ctx, 64u << 20, 64u << 20);
    struct spng_ihdr ihdr;
    if (!r) r = spng_get_ihdr(ctx, &ihdr);
    size_t full_size = 0;
    /* Alpha is dropped (composited on nothing): the grid shows colour. */
    if (!r) r = spng_decoded_image_size(ctx, SPNG_FMT_RGB8, &full_size);
    if (r) {
        rc = fail(err, errsize, RAIIAF_E_IMAGE, "PNG: %s", spng_strerror(r));
        goto out;
    }
    uint8_t *full = malloc(full_size);
    if (!full) {
        rc = fail(err, errsize, RAIIAF_E_NOMEM, "PNG: cannot hold %zu decoded bytes", full_size);
        goto out;
    }
    r = spng_decode_image(ctx, full, full_size, SPNG_FMT_RGB8, SPNG_DECODE_TRNS);
    if (r) {
        free(full);
        rc = fail(err, errsize, RAIIAF_E_IMAGE, "PNG: pixel data: %s", spng_strerror(r));
        goto out;
    }
    fit(ihdr.width, ihdr.height, max_side, w, h);
    *rgb = box_scale(full, ihdr.width, ihdr.height, *w, *h);
    free(full);
    if (!*rgb) rc = fail(err, errsize, RAIIAF_E_NOMEM, "PNG: out of memory");
out:
    spng_ctx_free(ctx);
    return rc;
}

typedef struct jpeg_fail {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jpeg_fail;

static void jpeg_error_exit(j_common_ptr cinfo)
{
    jpeg_fail *f = (jpeg_fail *)cinfo->err;
    cinfo->err->format_message(cinfo, f->msg);
    longjmp(f->jump, 1);
}

static void jpeg_quiet(j_common_ptr cinfo, int level) { (void)cinfo, (void)level; }

static int thumb_jpeg(const void *data, size_t size, uint32_t max_side, uint8_t **rgb, uint32_t *w, uint32_t *h,
                      char *err, size_t errsize)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_fail jerr;
    /* volatile: modified between setjmp and a possible longjmp. */
    uint8_t *volatile scaled = NULL;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&jerr.mgr);
    jerr.mgr.error_exit = jpeg_error_exit;
    jerr.mgr.emit_message = jpeg_quiet;
    if (setjmp(jerr.jump)) {
        free(scaled);
        jpeg_destroy_decompress(&cinfo);
        return fail(err, errsize, RAIIAF_E_IMAGE, "JPEG: %s", jerr.msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.image_width > THUMB_MAX_DIM * 4 || cinfo.image_height > THUMB_MAX_DIM * 4) {
        jpeg_destroy_decompress(&cinfo);
        return fail(err, errsize, RAIIAF_E_LIMIT, "JPEG: %ux%u is larger than the thumbnailer's bound",
                    cinfo.image_width, cinfo.image_height);
    }
    /* The largest DCT reduction that still leaves at least max_side pixels. */
    uint32_t longer = cinfo.image_width > cinfo.image_height ? cinfo.image_width : cinfo.image_height;
    unsigned denom = 1;
    while (denom < 8 && longer / (denom * 2) >= max_side) denom *= 2;
    cinfo.scale_num = 1;
    cinfo.scale_denom = denom;
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    uint32_t sw = cinfo.output_width, sh = cinfo.output_height;
    if (cinfo.output_components != 3 || (uint64_t)sw * sh > (uint64_t)THUMB_MAX_DIM * THUMB_MAX_DIM) {
        jpeg_destroy_decompress(&cinfo);
        return fail(err, errsize, RAIIAF_E_LIMIT, "JPEG: scaled output %ux%u is too large", sw, sh);
    }
    scaled = malloc((size_t)sw * sh * 3);
    if (!scaled) {
        jpeg_destroy_decompress(&cinfo);
        return fail(err, errsize, RAIIAF_E_NOMEM, "JPEG: out of memory");
    }
    while (cinfo.output_scanline < sh) {
        JSAMPROW row = scaled + (size_t)cinfo.output_scanline * sw * 3;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    fit(sw, sh, max_side, w, h);
    *rgb = box_scale(scaled, sw, sh, *w, *h);
    free(scaled);
    return *rgb ? RAIIAF_OK : fail(err, errsize, RAIIAF_E_NOMEM, "JPEG: out of memory");
}

static int thumb_webp(const void *data, size_t size, uint32_t max_side, uint8_t **rgb, uint32_t *w, uint32_t *h,
                      char *err, size_t errsize)
{
    WebPDecoderConfig cfg;
    if (!WebPInitDecoderConfig(&cfg)) return fail(err, errsize, RAIIAF_E_IMAGE, "WebP: decoder version mismatch");
    if (WebPGetFeatures(data, size, &cfg.input) != VP8_STATUS_OK)
        return fail(err, errsize, RAIIAF_E_IMAGE, "WebP: not a valid WebP header");
    if (cfg.input.has_animation) return fail(err, errsize, RAIIAF_E_IMAGE, "WebP: animated images have no thumbnail");
    fit((uint32_t)cfg.input.width, (uint32_t)cfg.input.height, max_side, w, h);
    /* libwebp scales while decoding: only the thumbnail is ever allocated. */
    cfg.options.use_scaling = 1;
    cfg.options.scaled_width = (int)*w;
    cfg.options.scaled_height = (int)*h;
    cfg.output.colorspace = MODE_RGB;
    cfg.output.is_external_memory = 1;
    size_t n = (size_t)*w * *h * 3;
    uint8_t *out = malloc(n);
    if (!out) return fail(err, errsize, RAIIAF_E_NOMEM, "WebP: out of memory");
    cfg.output.u.RGBA.rgba = out;
    cfg.output.u.RGBA.stride = (int)(*w * 3);
    cfg.output.u.RGBA.size = n;
    VP8StatusCode st = WebPDecode(data, size, &cfg);
    WebPFreeDecBuffer(&cfg.output);
    if (st != VP8_STATUS_OK) {
        free(out);
        return fail(err, errsize, RAIIAF_E_IMAGE, "WebP: decoding failed (status %d)", (int)st);
    }
    *rgb = out;
    return RAIIAF_OK;
}

int raiiaf_thumbnail(const void *image, size_t size, uint32_t max_side, uint8_t **rgb, uint32_t *width,
                     uint32_t *height, char *err, size_t errsize)
{
    if (err && errsize) err[0] = '\0';
    if (!image || !rgb || !width || !height || !max_side || max_side > THUMB_MAX_SIDE)
        return fail(err, errsize, RAIIAF_E_ARG, "thumbnail: bad argument (max_side must be 1..%u)", THUMB_MAX_SIDE);
    *rgb = NULL;
    const uint8_t *b = image;
    if (size >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8))
        return thumb_png(image, size, max_side, rgb, width, height, err, errsize);
    if (size >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
        return thumb_jpeg(image, size, max_side, rgb, width, height, err, errsize);
    if (size >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4))
        return thumb_webp(image, size, max_side, rgb, width, height, err, errsize);
    return fail(err, errsize, RAIIAF_E_IMAGE, "thumbnail: the image is neither PNG, JPEG nor WebP (first bytes)");
}
