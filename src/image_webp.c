/*
 * image_webp.c -- knowing a WebP decodes.
 *
 * libwebp decodes the whole bitstream: a still image (VP8 lossy with an
 * optional ALPH, or VP8L lossless) through WebPDecode, an animation frame by
 * frame through WebPAnimDecoder, which also composes each frame onto the
 * canvas as a viewer would.  The canvas is capped before decoding starts, so
 * a hostile header cannot make it allocate without bound.
 */
#include "image_codecs.h"

#include <webp/decode.h>
#include <webp/demux.h>

#include <string.h>

static const char *vp8_status(VP8StatusCode s)
{
    switch (s) {
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
    case VP8_STATUS_SUSPENDED: return "suspended";
    case VP8_STATUS_USER_ABORT: return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "not enough data (truncated)";
    default: return "unknown error";
    }
}

static int webp_still(const unsigned char *d, size_t size, uint32_t w, uint32_t h, rf_err *e)
{
    WebPDecoderConfig config;
    if (!WebPInitDecoderConfig(&config)) return rf_fail(e, RAIIAF_E_IMAGE, "WebP: libwebp version mismatch");
    VP8StatusCode s = WebPGetFeatures(d, size, &config.input);
    if (s != VP8_STATUS_OK) return rf_fail(e, RAIIAF_E_IMAGE, "WebP: header: %s", vp8_status(s));
    if ((uint32_t)config.input.width != w || (uint32_t)config.input.height != h)
        return rf_fail(e, RAIIAF_E_IMAGE, "WebP: the decoder reads a %dx%d image, the chunks say %lux%lu",
                       config.input.width, config.input.height, (unsigned long)w, (unsigned long)h);
    /* Every byte of the bitstream is decoded whatever the output size, so
     * the output is 1/8 scale: no full-size buffer to allocate and fault
     * in.  Lossy data decodes to YUV natively (asking for it skips the
     * colour conversion), lossless data to ARGB (BGRA in memory). */
    config.output.colorspace =
        config.input.format == 2 ? MODE_BGRA : (config.input.has_alpha ? MODE_YUVA : MODE_YUV);
    config.options.use_scaling = 1;
    config.options.scaled_width = config.input.width >= 8 ? config.input.width / 8 : 1;
    config.options.scaled_height = config.input.height >= 8 ? config.input.height / 8 : 1;
    s = WebPDecode(d, size, &config);
    WebPFreeDecBuffer(&config.output);
    if (s != VP8_STATUS_OK) return rf_fail(e, RAIIAF_E_IMAGE, "WebP: image data does not decode: %s", vp8_status(s));
    return RAIIAF_OK;
}

static int webp_animation(const unsigned char *d, size_t size, uint32_t w, uint32_t h, rf_err *e)
{
    WebPData data = {d, size};
    WebPAnimDecoderOptions opt;
    if (!WebPAnimDecoderOptionsInit(&opt)) return rf_fail(e, RAIIAF_E_IMAGE, "WebP: libwebp version mismatch");
    opt.color_mode = MODE_RGBA;
    opt.use_threads = 0;
    WebPAnimDecoder *dec = WebPAnimDecoderNew(&data, &opt);
    if (!dec) return rf_fail(e, RAIIAF_E_IMAGE, "WebP: the animation's container does not parse (libwebp demux)");
    WebPAnimInfo info;
    int rc = RAIIAF_OK;
    if (!WebPAnimDecoderGetInfo(dec, &info)) {
        rc = rf_fail(e, RAIIAF_E_IMAGE, "WebP: cannot read the animation's header");
    } else if (info.canvas_width != w || info.canvas_height != h) {
        rc = rf_fail(e, RAIIAF_E_IMAGE, "WebP: the decoder reads a %lux%lu canvas, the chunks say %lux%lu",
                     (unsigned long)info.canvas_width, (unsigned long)info.canvas_height, (unsigned long)w,
                     (unsigned long)h);
    } else {
        unsigned frame = 0;
        while (!rc && WebPAnimDecoderHasMoreFrames(dec)) {
            uint8_t *buf;
            int ts;
            if (!WebPAnimDecoderGetNext(dec, &buf, &ts))
                rc = rf_fail(e, RAIIAF_E_IMAGE, "WebP: frame %u of %lu does not decode", frame + 1,
                             (unsigned long)info.frame_count);
            frame++;
        }
        if (!rc && frame != info.frame_count)
            rc = rf_fail(e, RAIIAF_E_IMAGE, "WebP: %u frames decoded, the animation has %lu", frame,
                         (unsigned long)info.frame_count);
    }
    WebPAnimDecoderDelete(dec);
    return rc;
}

int rf_webp_check_pixels(const unsigned char *d, size_t size, uint32_t w, uint32_t h, rf_err *e)
{
    /* The animation's decoder keeps two canvases. */
    if ((uint64_t)w * h * 8 > RF_IMAGE_MAX_DECODED)
        return rf_fail(e, RAIIAF_E_IMAGE, "WebP: %lux%lu image is over the 1 GiB decoded-size limit", (unsigned long)w,
                       (unsigned long)h);
    WebPBitstreamFeatures f;
    VP8StatusCode s = WebPGetFeatures(d, size, &f);
    if (s != VP8_STATUS_OK) return rf_fail(e, RAIIAF_E_IMAGE, "WebP: header: %s", vp8_status(s));
    return f.has_animation ? webp_animation(d, size, w, h, e) : webp_still(d, size, w, h, e);
}
