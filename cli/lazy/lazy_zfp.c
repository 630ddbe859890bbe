/* lazy_zfp.c -- zfp, loaded the first time the tool codes a zfp tensor or
 * a format 1 latent (lazy.h).  Debian ships no static libzfp, and it
 * brings libgomp, whose start-up reads the OpenMP settings and the CPU
 * topology on every run.  Each pointer's type is taken from the <zfp.h>
 * prototype, so a mismatch does not compile. */
#include "lazy.h"

#include <pthread.h>
#include <zfp.h>

/* Debian 12's zfp 1.0 has SONAME libzfp.so.1. */
#define ZFP_SONAME "libzfp.so.1"

/* The environment record reads zfp's version string on every run
 * (src/env_capture.c), a variable, not a function, so it cannot wait for
 * the library: it is made from <zfp.h> in zfp's own form ("zfp version
 * 1.0.0 ...", of which the record keeps the number).  Debian's libzfp-dev
 * requires the libzfp1 of exactly its own version, the one loaded below. */
const char *const zfp_version_string = "zfp version " ZFP_VERSION_STRING;

/* The resolved functions: written once under pthread_once, read-only after. */
static struct {
    __typeof__(&stream_open) stream_open;
    __typeof__(&stream_close) stream_close;
    __typeof__(&zfp_stream_open) zfp_stream_open;
    __typeof__(&zfp_stream_close) zfp_stream_close;
    __typeof__(&zfp_stream_compression_mode) zfp_stream_compression_mode;
    __typeof__(&zfp_stream_compressed_size) zfp_stream_compressed_size;
    __typeof__(&zfp_stream_maximum_size) zfp_stream_maximum_size;
    __typeof__(&zfp_stream_rewind) zfp_stream_rewind;
    __typeof__(&zfp_stream_set_bit_stream) zfp_stream_set_bit_stream;
    __typeof__(&zfp_stream_set_reversible) zfp_stream_set_reversible;
    __typeof__(&zfp_stream_set_accuracy) zfp_stream_set_accuracy;
    __typeof__(&zfp_field_alloc) zfp_field_alloc;
    __typeof__(&zfp_field_1d) zfp_field_1d;
    __typeof__(&zfp_field_2d) zfp_field_2d;
    __typeof__(&zfp_field_3d) zfp_field_3d;
    __typeof__(&zfp_field_4d) zfp_field_4d;
    __typeof__(&zfp_field_free) zfp_field_free;
    __typeof__(&zfp_field_dimensionality) zfp_field_dimensionality;
    __typeof__(&zfp_field_set_pointer) zfp_field_set_pointer;
    __typeof__(&zfp_compress) zfp_compress;
    __typeof__(&zfp_decompress) zfp_decompress;
    __typeof__(&zfp_write_header) zfp_write_header;
    __typeof__(&zfp_read_header) zfp_read_header;
    __typeof__(&zfp_stream_flush) zfp_stream_flush;
} real;
static pthread_once_t zfp_once = PTHREAD_ONCE_INIT;

static void zfp_load(void)
{
    void *h = lazy_open(ZFP_SONAME);
    *(void **)&real.stream_open = lazy_sym(h, ZFP_SONAME, "stream_open");
    *(void **)&real.stream_close = lazy_sym(h, ZFP_SONAME, "stream_close");
    *(void **)&real.zfp_stream_open = lazy_sym(h, ZFP_SONAME, "zfp_stream_open");
    *(void **)&real.zfp_stream_close = lazy_sym(h, ZFP_SONAME, "zfp_stream_close");
    *(void **)&real.zfp_stream_compression_mode = lazy_sym(h, ZFP_SONAME, "zfp_stream_compression_mode");
    *(void **)&real.zfp_stream_compressed_size = lazy_sym(h, ZFP_SONAME, "zfp_stream_compressed_size");
    *(void **)&real.zfp_stream_maximum_size = lazy_sym(h, ZFP_SONAME, "zfp_stream_maximum_size");
    *(void **)&real.zfp_stream_rewind = lazy_sym(h, ZFP_SONAME, "zfp_stream_rewind");
    *(void **)&real.zfp_stream_set_bit_stream = lazy_sym(h, ZFP_SONAME, "zfp_stream_set_bit_stream");
    *(void **)&real.zfp_stream_set_reversible = lazy_sym(h, ZFP_SONAME, "zfp_stream_set_reversible");
    *(void **)&real.zfp_stream_set_accuracy = lazy_sym(h, ZFP_SONAME, "zfp_stream_set_accuracy");
    *(void **)&real.zfp_field_alloc = lazy_sym(h, ZFP_SONAME, "zfp_field_alloc");
    *(void **)&real.zfp_field_1d = lazy_sym(h, ZFP_SONAME, "zfp_field_1d");
    *(void **)&real.zfp_field_2d = lazy_sym(h, ZFP_SONAME, "zfp_field_2d");
    *(void **)&real.zfp_field_3d = lazy_sym(h, ZFP_SONAME, "zfp_field_3d");
    *(void **)&real.zfp_field_4d = lazy_sym(h, ZFP_SONAME, "zfp_field_4d");
    *(void **)&real.zfp_field_free = lazy_sym(h, ZFP_SONAME, "zfp_field_free");
    *(void **)&real.zfp_field_dimensionality = lazy_sym(h, ZFP_SONAME, "zfp_field_dimensionality");
    *(void **)&real.zfp_field_set_pointer = lazy_sym(h, ZFP_SONAME, "zfp_field_set_pointer");
    *(void **)&real.zfp_compress = lazy_sym(h, ZFP_SONAME, "zfp_compress");
    *(void **)&real.zfp_decompress = lazy_sym(h, ZFP_SONAME, "zfp_decompress");
    *(void **)&real.zfp_write_header = lazy_sym(h, ZFP_SONAME, "zfp_write_header");
    *(void **)&real.zfp_read_header = lazy_sym(h, ZFP_SONAME, "zfp_read_header");
    *(void **)&real.zfp_stream_flush = lazy_sym(h, ZFP_SONAME, "zfp_stream_flush");
}

static void load(void) { pthread_once(&zfp_once, zfp_load); }

bitstream *stream_open(void *buffer, size_t bytes)
{
    load();
    return real.stream_open(buffer, bytes);
}

void stream_close(bitstream *stream)
{
    load();
    real.stream_close(stream);
}

zfp_stream *zfp_stream_open(bitstream *stream)
{
    load();
    return real.zfp_stream_open(stream);
}

void zfp_stream_close(zfp_stream *stream)
{
    load();
    real.zfp_stream_close(stream);
}

zfp_mode zfp_stream_compression_mode(const zfp_stream *stream)
{
    load();
    return real.zfp_stream_compression_mode(stream);
}

size_t zfp_stream_compressed_size(const zfp_stream *stream)
{
    load();
    return real.zfp_stream_compressed_size(stream);
}

size_t zfp_stream_maximum_size(const zfp_stream *stream, const zfp_field *field)
{
    load();
    return real.zfp_stream_maximum_size(stream, field);
}

void zfp_stream_rewind(zfp_stream *stream)
{
    load();
    real.zfp_stream_rewind(stream);
}

void zfp_stream_set_bit_stream(zfp_stream *stream, bitstream *bs)
{
    load();
    real.zfp_stream_set_bit_stream(stream, bs);
}

void zfp_stream_set_reversible(zfp_stream *stream)
{
    load();
    real.zfp_stream_set_reversible(stream);
}

double zfp_stream_set_accuracy(zfp_stream *stream, double tolerance)
{
    load();
    return real.zfp_stream_set_accuracy(stream, tolerance);
}

zfp_field *zfp_field_alloc(void)
{
    load();
    return real.zfp_field_alloc();
}

zfp_field *zfp_field_1d(void *pointer, zfp_type type, size_t nx)
{
    load();
    return real.zfp_field_1d(pointer, type, nx);
}

zfp_field *zfp_field_2d(void *pointer, zfp_type type, size_t nx, size_t ny)
{
    load();
    return real.zfp_field_2d(pointer, type, nx, ny);
}

zfp_field *zfp_field_3d(void *pointer, zfp_type type, size_t nx, size_t ny, size_t nz)
{
    load();
    return real.zfp_field_3d(pointer, type, nx, ny, nz);
}

zfp_field *zfp_field_4d(void *pointer, zfp_type type, size_t nx, size_t ny, size_t nz, size_t nw)
{
    load();
    return real.zfp_field_4d(pointer, type, nx, ny, nz, nw);
}

void zfp_field_free(zfp_field *field)
{
    load();
    real.zfp_field_free(field);
}

uint zfp_field_dimensionality(const zfp_field *field)
{
    load();
    return real.zfp_field_dimensionality(field);
}

void zfp_field_set_pointer(zfp_field *field, void *pointer)
{
    load();
    real.zfp_field_set_pointer(field, pointer);
}

size_t zfp_compress(zfp_stream *stream, const zfp_field *field)
{
    load();
    return real.zfp_compress(stream, field);
}

size_t zfp_decompress(zfp_stream *stream, zfp_field *field)
{
    load();
    return real.zfp_decompress(stream, field);
}

size_t zfp_write_header(zfp_stream *stream, const zfp_field *field, uint mask)
{
    load();
    return real.zfp_write_header(stream, field, mask);
}

size_t zfp_read_header(zfp_stream *stream, zfp_field *field, uint mask)
{
    load();
    return real.zfp_read_header(stream, field, mask);
}

size_t zfp_stream_flush(zfp_stream *stream)
{
    load();
    return real.zfp_stream_flush(stream);
}
