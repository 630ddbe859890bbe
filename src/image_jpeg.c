/*
 * image_jpeg.c -- knowing a JPEG decodes.
 *
 * libjpeg-turbo decodes every scan's entropy-coded data whatever the output
 * scale, so asking for 1/8 scale checks all of it (Huffman codes, restart
 * markers, coefficient ranges) while the inverse DCT computes one value per
 * 8x8 block.  Warnings count as errors: libjpeg "recovers" from corrupt or
 * truncated data by inventing pixels, and a stored image must be exactly
 * what the generator wrote.
 *
 * Hostile input stays bounded: the canvas is capped before decoding starts,
 * libjpeg's own allocations are capped (progressive images buffer their
 * coefficients: 128 bytes per 8x8 block and component), and the number of
 * scans is capped, since each progressive scan walks the whole buffer.
 */
#include "image_codecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#define JPEG_MAX_MEMORY ((long)512 << 20)
#define JPEG_MAX_SCANS 1000

typedef struct jpeg_guard {
    struct jpeg_error_mgr mgr;
    struct jpeg_progress_mgr progress;
    jmp_buf back;
    char msg[JMSG_LENGTH_MAX];
} jpeg_guard;

static void on_error(j_common_ptr c)
{
    jpeg_guard *g = (jpeg_guard *)c->err;
    c->err->format_message(c, g->msg);
    longjmp(g->back, 1);
}

/* Level -1 is a warning about the data (corrupt, premature end); higher
 * levels are trace messages, which stay silent. */
static void on_message(j_common_ptr c, int level)
{
    if (level < 0) on_error(c);
}

static void on_progress(j_common_ptr c)
{
    j_decompress_ptr d = (j_decompress_ptr)c;
    if (d->input_scan_number > JPEG_MAX_SCANS) {
        jpeg_guard *g = (jpeg_guard *)c->err;
        snprintf(g->msg, sizeof g->msg, "more than %d scans", JPEG_MAX_SCANS);
        longjmp(g->back, 1);
    }
}

int rf_jpeg_check_pixels(const unsigned char *d, size_t size, uint32_t w, uint32_t h, rf_err *e)
{
    if ((uint64_t)w * h * 4 > RF_IMAGE_MAX_DECODED)
        return rf_fail(e, RAIIAF_E_IMAGE, "JPEG: %lux%lu image is over the 1 GiB decoded-size limit", (unsigned long)w,
                       (unsigned long)h);
    struct jpeg_decompress_struct cinfo;
    jpeg_guard g;
    memset(&cinfo, 0, sizeof cinfo);
    memset(&g, 0, sizeof g);
    /* Volatile: read after longjmp. */
    JSAMPROW volatile row = NULL;
    volatile int created = 0;
    cinfo.err = jpeg_std_error(&g.mgr);
    g.mgr.error_exit = on_error;
    g.mgr.emit_message = on_message;
    if (setjmp(g.back)) {
        unsigned long line = created ? (unsigned long)cinfo.output_scanline : 0;
        free(row);
        if (created) jpeg_destroy_decompress(&cinfo);
        return rf_fail(e, RAIIAF_E_IMAGE, "JPEG: does not decode (at output row %lu of the 1/8-scale image): %s", line,
                       g.msg);
    }
    jpeg_create_decompress(&cinfo);
    created = 1;
    cinfo.mem->max_memory_to_use = JPEG_MAX_MEMORY;
    g.progress.progress_monitor = on_progress;
    cinfo.progress = &g.progress;
    jpeg_mem_src(&cinfo, d, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.image_width != w || cinfo.image_height != h) {
        jpeg_destroy_decompress(&cinfo);
        return rf_fail(e, RAIIAF_E_IMAGE, "JPEG: the decoder reads a %ux%u image, the frame header says %lux%lu",
                       (unsigned)cinfo.image_width, (unsigned)cinfo.image_height, (unsigned long)w, (unsigned long)h);
    }
    cinfo.scale_num = 1;
    cinfo.scale_denom = 8;
    cinfo.dct_method = JDCT_IFAST;
    cinfo.do_fancy_upsampling = FALSE;
    cinfo.do_block_smoothing = FALSE;
    jpeg_start_decompress(&cinfo);
    row = malloc((size_t)cinfo.output_width * (size_t)cinfo.output_components + 1);
    if (!row) {
        jpeg_destroy_decompress(&cinfo);
        return rf_fail(e, RAIIAF_E_NOMEM, "JPEG: out of memory for a row");
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW rows[1] = {row};
        jpeg_read_scanlines(&cinfo, rows, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row);
    return RAIIAF_OK;
}
