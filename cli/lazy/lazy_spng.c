/* lazy_spng.c -- libspng, loaded the first time the tool decodes or
 * encodes a PNG with it (lazy.h): the full decode of `verify --decode`,
 * thumbnails, stealth PNG export.  Debian ships no static libspng, and
 * loading it with its zlib at start cost `raiiaf --version` about as much
 * as the whole of a trivial program.  Each pointer's type is taken from
 * the <spng.h> prototype, so a mismatch does not compile. */
#include "lazy.h"

#include <pthread.h>
#include <spng.h>

/* Debian 12's libspng 0.7 has SONAME libspng.so.0. */
#define SPNG_SONAME "libspng.so.0"

/* The resolved functions: written once under pthread_once, read-only after. */
static struct {
    __typeof__(&spng_ctx_free) spng_ctx_free;
    __typeof__(&spng_ctx_new) spng_ctx_new;
    __typeof__(&spng_decode_chunks) spng_decode_chunks;
    __typeof__(&spng_decode_image) spng_decode_image;
    __typeof__(&spng_decode_row) spng_decode_row;
    __typeof__(&spng_decoded_image_size) spng_decoded_image_size;
    __typeof__(&spng_encode_image) spng_encode_image;
    __typeof__(&spng_get_ihdr) spng_get_ihdr;
    __typeof__(&spng_get_png_buffer) spng_get_png_buffer;
    __typeof__(&spng_set_chunk_limits) spng_set_chunk_limits;
    __typeof__(&spng_set_crc_action) spng_set_crc_action;
    __typeof__(&spng_set_ihdr) spng_set_ihdr;
    __typeof__(&spng_set_image_limits) spng_set_image_limits;
    __typeof__(&spng_set_option) spng_set_option;
    __typeof__(&spng_set_png_buffer) spng_set_png_buffer;
    __typeof__(&spng_strerror) spng_strerror;
} real;
static pthread_once_t spng_once = PTHREAD_ONCE_INIT;

static void spng_load(void)
{
    void *h = lazy_open(SPNG_SONAME);
    *(void **)&real.spng_ctx_free = lazy_sym(h, SPNG_SONAME, "spng_ctx_free");
    *(void **)&real.spng_ctx_new = lazy_sym(h, SPNG_SONAME, "spng_ctx_new");
    *(void **)&real.spng_decode_chunks = lazy_sym(h, SPNG_SONAME, "spng_decode_chunks");
    *(void **)&real.spng_decode_image = lazy_sym(h, SPNG_SONAME, "spng_decode_image");
    *(void **)&real.spng_decode_row = lazy_sym(h, SPNG_SONAME, "spng_decode_row");
    *(void **)&real.spng_decoded_image_size = lazy_sym(h, SPNG_SONAME, "spng_decoded_image_size");
    *(void **)&real.spng_encode_image = lazy_sym(h, SPNG_SONAME, "spng_encode_image");
    *(void **)&real.spng_get_ihdr = lazy_sym(h, SPNG_SONAME, "spng_get_ihdr");
    *(void **)&real.spng_get_png_buffer = lazy_sym(h, SPNG_SONAME, "spng_get_png_buffer");
    *(void **)&real.spng_set_chunk_limits = lazy_sym(h, SPNG_SONAME, "spng_set_chunk_limits");
    *(void **)&real.spng_set_crc_action = lazy_sym(h, SPNG_SONAME, "spng_set_crc_action");
    *(void **)&real.spng_set_ihdr = lazy_sym(h, SPNG_SONAME, "spng_set_ihdr");
    *(void **)&real.spng_set_image_limits = lazy_sym(h, SPNG_SONAME, "spng_set_image_limits");
    *(void **)&real.spng_set_option = lazy_sym(h, SPNG_SONAME, "spng_set_option");
    *(void **)&real.spng_set_png_buffer = lazy_sym(h, SPNG_SONAME, "spng_set_png_buffer");
    *(void **)&real.spng_strerror = lazy_sym(h, SPNG_SONAME, "spng_strerror");
}

static void load(void) { pthread_once(&spng_once, spng_load); }

#define LAZY_STR_(x) #x
#define LAZY_STR(x) LAZY_STR_(x)
/* The environment record asks every run for the version (src/env_capture.c),
 * so it is answered from <spng.h> without loading the library: Debian's
 * libspng-dev requires the libspng0 of exactly its own version, the one
 * lazy_open() loads. */
const char *spng_version_string(void)
{
    return LAZY_STR(SPNG_VERSION_MAJOR) "." LAZY_STR(SPNG_VERSION_MINOR) "." LAZY_STR(SPNG_VERSION_PATCH);
}

void spng_ctx_free(spng_ctx *ctx)
{
    load();
    real.spng_ctx_free(ctx);
}

spng_ctx *spng_ctx_new(int flags)
{
    load();
    return real.spng_ctx_new(flags);
}

int spng_decode_chunks(spng_ctx *ctx)
{
    load();
    return real.spng_decode_chunks(ctx);
}

int spng_decode_image(spng_ctx *ctx, void *out, size_t len, int fmt, int flags)
{
    load();
    return real.spng_decode_image(ctx, out, len, fmt, flags);
}

int spng_decode_row(spng_ctx *ctx, void *out, size_t len)
{
    load();
    return real.spng_decode_row(ctx, out, len);
}

int spng_decoded_image_size(spng_ctx *ctx, int fmt, size_t *len)
{
    load();
    return real.spng_decoded_image_size(ctx, fmt, len);
}

int spng_encode_image(spng_ctx *ctx, const void *img, size_t len, int fmt, int flags)
{
    load();
    return real.spng_encode_image(ctx, img, len, fmt, flags);
}

int spng_get_ihdr(spng_ctx *ctx, struct spng_ihdr *ihdr)
{
    load();
    return real.spng_get_ihdr(ctx, ihdr);
}

void *spng_get_png_buffer(spng_ctx *ctx, size_t *len, int *error)
{
    load();
    return real.spng_get_png_buffer(ctx, len, error);
}

int spng_set_chunk_limits(spng_ctx *ctx, size_t chunk_size, size_t cache_size)
{
    load();
    return real.spng_set_chunk_limits(ctx, chunk_size, cache_size);
}

int spng_set_crc_action(spng_ctx *ctx, int critical, int ancillary)
{
    load();
    return real.spng_set_crc_action(ctx, critical, ancillary);
}

int spng_set_ihdr(spng_ctx *ctx, struct spng_ihdr *ihdr)
{
    load();
    return real.spng_set_ihdr(ctx, ihdr);
}

int spng_set_image_limits(spng_ctx *ctx, uint32_t width, uint32_t height)
{
    load();
    return real.spng_set_image_limits(ctx, width, height);
}

int spng_set_option(spng_ctx *ctx, enum spng_option option, int value)
{
    load();
    return real.spng_set_option(ctx, option, value);
}

int spng_set_png_buffer(spng_ctx *ctx, const void *buf, size_t size)
{
    load();
    return real.spng_set_png_buffer(ctx, buf, size);
}

const char *spng_strerror(int err)
{
    load();
    return real.spng_strerror(err);
}
