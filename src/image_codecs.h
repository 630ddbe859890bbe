/* image_codecs.h -- the per-format image checks behind rf_image_probe() and
 * rf_image_check_pixels() (image.c).  Each takes the whole encoded image
 * and an error to fill with "FORMAT: where: what"; none keeps state between
 * calls, so they may run on any thread.  Another part of the library that
 * needs to know an image decodes (a thumbnailer, say) can call them. */
#ifndef RAIIAF_IMAGE_CODECS_H
#define RAIIAF_IMAGE_CODECS_H

#include "internal.h"

/* PNG (image_png_check.c).  rf_png_probe(): the signature-to-IEND chunk
 * walk with every CRC, the IHDR (through libspng, so legality and the size
 * limits are libspng's), and every chunk other than IDAT through libspng's
 * chunk rules.  rf_png_check_pixels(): the concatenated IDAT zlib stream
 * inflates to exactly the size the IHDR implies (per Adam7 pass when
 * interlaced), every scanline's filter type is 0-4, and the Adler-32
 * matches -- after which unfiltering cannot fail, so this is as strong as
 * a full decode.  Images whose filtered data exceeds `whole_limit` bytes are
 * inflated with zlib in row-sized pieces instead of at once with libdeflate
 * (RF_PNG_WHOLE_LIMIT by default; tests pass other values to exercise both).
 * rf_png_check_pixels() expects rf_png_probe() to have accepted the data. */
#define RF_PNG_WHOLE_LIMIT ((size_t)64 << 20)
int rf_png_probe(const unsigned char *d, size_t size, rf_image_desc *out, rf_err *e);
int rf_png_check_pixels(const unsigned char *d, size_t size, size_t whole_limit, rf_err *e);

/* JPEG (image_jpeg.c): decodes every scan with libjpeg-turbo at 1/8 scale,
 * so all entropy-coded data is decoded and checked while the inverse DCT
 * does 1/64 of its work; refuses on any error or warning (corrupt data
 * that libjpeg would paper over).  `w`, `h`: the frame size the structural
 * check found, which the decoder must agree with. */
int rf_jpeg_check_pixels(const unsigned char *d, size_t size, uint32_t w, uint32_t h, rf_err *e);

/* WebP (image_webp.c): decodes the image with libwebp -- every frame of an
 * animated one, through WebPAnimDecoder -- into a buffer it frees again. */
int rf_webp_check_pixels(const unsigned char *d, size_t size, uint32_t w, uint32_t h, rf_err *e);

/* The largest decoded canvas (width x height x 4 bytes) JPEG and WebP
 * decoding may need; larger images are refused before decoding. */
#define RF_IMAGE_MAX_DECODED ((uint64_t)1 << 30)

#endif
