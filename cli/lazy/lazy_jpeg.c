/* lazy_jpeg.c -- libjpeg-turbo, loaded the first time the tool decodes a
 * JPEG (checking one, or a thumbnail) (lazy.h).  Loaded rather than linked
 * from libjpeg.a so that the decoder the tool runs on untrusted images is
 * the one Debian's security updates replace.  Each pointer's type is taken
 * from the <jpeglib.h> prototype, so a mismatch does not compile. */
#include "lazy.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <jpeglib.h>

/* Debian 12's libjpeg62-turbo has SONAME libjpeg.so.62. */
#define JPEG_SONAME "libjpeg.so.62"

/* The resolved functions: written once under pthread_once, read-only after
 * (the writer checks images on a second thread). */
static struct {
    __typeof__(&jpeg_std_error) jpeg_std_error;
    __typeof__(&jpeg_CreateDecompress) jpeg_CreateDecompress;
    __typeof__(&jpeg_destroy_decompress) jpeg_destroy_decompress;
    __typeof__(&jpeg_mem_src) jpeg_mem_src;
    __typeof__(&jpeg_read_header) jpeg_read_header;
    __typeof__(&jpeg_start_decompress) jpeg_start_decompress;
    __typeof__(&jpeg_read_scanlines) jpeg_read_scanlines;
    __typeof__(&jpeg_finish_decompress) jpeg_finish_decompress;
} real;
static pthread_once_t jpeg_once = PTHREAD_ONCE_INIT;

static void jpeg_load(void)
{
    void *h = lazy_open(JPEG_SONAME);
    *(void **)&real.jpeg_std_error = lazy_sym(h, JPEG_SONAME, "jpeg_std_error");
    *(void **)&real.jpeg_CreateDecompress = lazy_sym(h, JPEG_SONAME, "jpeg_CreateDecompress");
    *(void **)&real.jpeg_destroy_decompress = lazy_sym(h, JPEG_SONAME, "jpeg_destroy_decompress");
    *(void **)&real.jpeg_mem_src = lazy_sym(h, JPEG_SONAME, "jpeg_mem_src");
    *(void **)&real.jpeg_read_header = lazy_sym(h, JPEG_SONAME, "jpeg_read_header");
    *(void **)&real.jpeg_start_decompress = lazy_sym(h, JPEG_SONAME, "jpeg_start_decompress");
    *(void **)&real.jpeg_read_scanlines = lazy_sym(h, JPEG_SONAME, "jpeg_read_scanlines");
    *(void **)&real.jpeg_finish_decompress = lazy_sym(h, JPEG_SONAME, "jpeg_finish_decompress");
}

static void load(void) { pthread_once(&jpeg_once, jpeg_load); }

struct jpeg_error_mgr *jpeg_std_error(struct jpeg_error_mgr *err)
{
    load();
    return real.jpeg_std_error(err);
}

void jpeg_CreateDecompress(j_decompress_ptr cinfo, int version, size_t structsize)
{
    load();
    real.jpeg_CreateDecompress(cinfo, version, structsize);
}

void jpeg_destroy_decompress(j_decompress_ptr cinfo)
{
    load();
    real.jpeg_destroy_decompress(cinfo);
}

void jpeg_mem_src(j_decompress_ptr cinfo, const unsigned char *inbuffer, unsigned long insize)
{
    load();
    real.jpeg_mem_src(cinfo, inbuffer, insize);
}

int jpeg_read_header(j_decompress_ptr cinfo, boolean require_image)
{
    load();
    return real.jpeg_read_header(cinfo, require_image);
}

boolean jpeg_start_decompress(j_decompress_ptr cinfo)
{
    load();
    return real.jpeg_start_decompress(cinfo);
}

JDIMENSION jpeg_read_scanlines(j_decompress_ptr cinfo, JSAMPARRAY scanlines, JDIMENSION max_lines)
{
    load();
    return real.jpeg_read_scanlines(cinfo, scanlines, max_lines);
}

boolean jpeg_finish_decompress(j_decompress_ptr cinfo)
{
    load();
    return real.jpeg_finish_decompress(cinfo);
}
