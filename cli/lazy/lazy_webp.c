/* lazy_webp.c -- libwebp and libwebpdemux, loaded the first time the tool
 * decodes a WebP (checking one, or a thumbnail) (lazy.h).  Loaded rather
 * than linked from libwebp.a so that the decoder the tool runs on untrusted
 * images is the one Debian's security updates replace.  The *Internal entry
 * points are what <webp/decode.h> and <webp/demux.h>'s inline functions
 * call (with the headers' ABI version); each pointer's type is taken from
 * the prototype, so a mismatch does not compile. */
#include "lazy.h"

#include <pthread.h>
#include <webp/decode.h>
#include <webp/demux.h>

/* Debian 12's libwebp 1.2: SONAMEs libwebp.so.7 and libwebpdemux.so.2. */
#define WEBP_SONAME "libwebp.so.7"
#define DEMUX_SONAME "libwebpdemux.so.2"

/* The resolved functions: written once under pthread_once, read-only after
 * (the writer checks images on a second thread). */
static struct {
    __typeof__(&WebPFreeDecBuffer) WebPFreeDecBuffer;
    __typeof__(&WebPGetFeaturesInternal) WebPGetFeaturesInternal;
    __typeof__(&WebPInitDecoderConfigInternal) WebPInitDecoderConfigInternal;
    __typeof__(&WebPDecode) WebPDecode;
    __typeof__(&WebPAnimDecoderOptionsInitInternal) WebPAnimDecoderOptionsInitInternal;
    __typeof__(&WebPAnimDecoderNewInternal) WebPAnimDecoderNewInternal;
    __typeof__(&WebPAnimDecoderGetInfo) WebPAnimDecoderGetInfo;
    __typeof__(&WebPAnimDecoderGetNext) WebPAnimDecoderGetNext;
    __typeof__(&WebPAnimDecoderHasMoreFrames) WebPAnimDecoderHasMoreFrames;
    __typeof__(&WebPAnimDecoderDelete) WebPAnimDecoderDelete;
} real;
static pthread_once_t webp_once = PTHREAD_ONCE_INIT;

static void webp_load(void)
{
    void *h = lazy_open(WEBP_SONAME);
    *(void **)&real.WebPFreeDecBuffer = lazy_sym(h, WEBP_SONAME, "WebPFreeDecBuffer");
    *(void **)&real.WebPGetFeaturesInternal = lazy_sym(h, WEBP_SONAME, "WebPGetFeaturesInternal");
    *(void **)&real.WebPInitDecoderConfigInternal = lazy_sym(h, WEBP_SONAME, "WebPInitDecoderConfigInternal");
    *(void **)&real.WebPDecode = lazy_sym(h, WEBP_SONAME, "WebPDecode");
    void *d = lazy_open(DEMUX_SONAME);
    *(void **)&real.WebPAnimDecoderOptionsInitInternal = lazy_sym(d, DEMUX_SONAME, "WebPAnimDecoderOptionsInitInternal");
    *(void **)&real.WebPAnimDecoderNewInternal = lazy_sym(d, DEMUX_SONAME, "WebPAnimDecoderNewInternal");
    *(void **)&real.WebPAnimDecoderGetInfo = lazy_sym(d, DEMUX_SONAME, "WebPAnimDecoderGetInfo");
    *(void **)&real.WebPAnimDecoderGetNext = lazy_sym(d, DEMUX_SONAME, "WebPAnimDecoderGetNext");
    *(void **)&real.WebPAnimDecoderHasMoreFrames = lazy_sym(d, DEMUX_SONAME, "WebPAnimDecoderHasMoreFrames");
    *(void **)&real.WebPAnimDecoderDelete = lazy_sym(d, DEMUX_SONAME, "WebPAnimDecoderDelete");
}

static void load(void) { pthread_once(&webp_once, webp_load); }

void WebPFreeDecBuffer(WebPDecBuffer *buffer)
{
    load();
    real.WebPFreeDecBuffer(buffer);
}

VP8StatusCode WebPGetFeaturesInternal(const uint8_t *data, size_t data_size, WebPBitstreamFeatures *features, int version)
{
    load();
    return real.WebPGetFeaturesInternal(data, data_size, features, version);
}

int WebPInitDecoderConfigInternal(WebPDecoderConfig *config, int version)
{
    load();
    return real.WebPInitDecoderConfigInternal(config, version);
}

VP8StatusCode WebPDecode(const uint8_t *data, size_t data_size, WebPDecoderConfig *config)
{
    load();
    return real.WebPDecode(data, data_size, config);
}

int WebPAnimDecoderOptionsInitInternal(WebPAnimDecoderOptions *dec_options, int version)
{
    load();
    return real.WebPAnimDecoderOptionsInitInternal(dec_options, version);
}

WebPAnimDecoder *WebPAnimDecoderNewInternal(const WebPData *webp_data, const WebPAnimDecoderOptions *dec_options, int version)
{
    load();
    return real.WebPAnimDecoderNewInternal(webp_data, dec_options, version);
}

int WebPAnimDecoderGetInfo(const WebPAnimDecoder *dec, WebPAnimInfo *info)
{
    load();
    return real.WebPAnimDecoderGetInfo(dec, info);
}

int WebPAnimDecoderGetNext(WebPAnimDecoder *dec, uint8_t **buf, int *timestamp)
{
    load();
    return real.WebPAnimDecoderGetNext(dec, buf, timestamp);
}

int WebPAnimDecoderHasMoreFrames(const WebPAnimDecoder *dec)
{
    load();
    return real.WebPAnimDecoderHasMoreFrames(dec);
}

void WebPAnimDecoderDelete(WebPAnimDecoder *dec)
{
    load();
    real.WebPAnimDecoderDelete(dec);
}
