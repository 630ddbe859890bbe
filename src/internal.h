/*
 * internal.h -- declarations shared between the library's source files.
 * Nothing here is part of the public API; symbols are hidden from the
 * shared library by -fvisibility=hidden.
 */
#ifndef RAIIAF_INTERNAL_H
#define RAIIAF_INTERNAL_H

#include "raiiaf.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define RF_ERRMSG_SIZE 512

/* The error state every handle carries: the last status and its message. */
typedef struct rf_err {
    int code;
    char msg[RF_ERRMSG_SIZE];
} rf_err;

/* Records `code` with a printf-style message and returns `code`, so that a
 * failure path reads `return rf_fail(e, RAIIAF_E_CORRUPT, "...", ...);`. */
int rf_fail(rf_err *e, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Clears the error state. */
void rf_err_clear(rf_err *e);

/* printf into a caller's message buffer (the public functions that take
 * `char *err, size_t errsize`); does nothing when err is NULL or n is 0. */
void rf_msg(char *err, size_t n, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ---- little-endian access ------------------------------------------- */
static inline uint16_t rf_le16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t rf_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t rf_le64(const unsigned char *p)
{
    return (uint64_t)rf_le32(p) | ((uint64_t)rf_le32(p + 4) << 32);
}
static inline void rf_put16(unsigned char *p, uint16_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static inline void rf_put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static inline void rf_put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Overflow-checked arithmetic: return 0 on success, 1 on overflow. */
static inline int rf_add_u64(uint64_t a, uint64_t b, uint64_t *out) { return __builtin_add_overflow(a, b, out); }
static inline int rf_mul_u64(uint64_t a, uint64_t b, uint64_t *out) { return __builtin_mul_overflow(a, b, out); }

/* ---- checksums (crc32c.c, sha256.c) ---------------------------------- */

/* CRC-32C (Castagnoli), as in iSCSI: start with crc = 0, feed data in any
 * number of pieces, passing the previous result. */
uint32_t rf_crc32c(uint32_t crc, const void *data, size_t size);
/* CRC-32C of A followed by B, from the CRCs of each and B's length. */
uint32_t rf_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);
/* The portable (table) implementation, exposed so tests can compare the
 * hardware path with it. */
uint32_t rf_crc32c_portable(uint32_t crc, const void *data, size_t size);

/* Whether a stored checksum or digest matches the computed one.  Fuzzing
 * builds (as in libspng and zlib) accept any value so the fuzzer reaches
 * the parsers behind the checks instead of stopping at every checksum. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define rf_sum_ok(stored, computed) ((void)(stored), (void)(computed), 1)
#else
#define rf_sum_ok(stored, computed) ((stored) == (computed))
#endif

typedef struct rf_sha256 rf_sha256;
rf_sha256 *rf_sha256_new(void);
void rf_sha256_update(rf_sha256 *s, const void *data, size_t size);
/* Writes 64 lowercase hex digits and a NUL to hex[65]; resets the state. */
void rf_sha256_final_hex(rf_sha256 *s, char hex[65]);
void rf_sha256_free(rf_sha256 *s);
/* One-shot: returns 0, or -1 if memory ran out. */
int rf_sha256_hex(const void *data, size_t size, char hex[65]);

/* ---- images (image.c) ------------------------------------------------- */

typedef struct rf_image_desc {
    const char *format; /* "png", "jpeg" or "webp" (static string) */
    uint32_t width;
    uint32_t height;
} rf_image_desc;

/* Recognises PNG, JPEG or WebP by signature and validates it: the
 * structure (rf_image_probe: PNG every chunk CRC and libspng's chunk rules,
 * JPEG markers, WebP RIFF chunks; fills `out`), then that the image data
 * decodes (rf_image_check_pixels: PNG inflated to exactly the IHDR's size
 * with legal filter types and a matching Adler-32, JPEG decoded by
 * libjpeg-turbo at 1/8 scale, WebP by libwebp, every frame).  Returns
 * RAIIAF_OK or RAIIAF_E_IMAGE with a message naming the format, the byte
 * offset and what is wrong.  Both steps are pure: safe on any thread. */
int rf_image_probe(const void *data, size_t size, rf_image_desc *out, rf_err *e);
int rf_image_check_pixels(const void *data, size_t size, const rf_image_desc *desc, rf_err *e);
int rf_image_validate(const void *data, size_t size, rf_image_desc *out, rf_err *e);
/* writer.c: raiiaf_writer_add_image() for bytes whose pixels the caller
 * has just checked with rf_image_validate() (import does, before it says
 * anything about the records): the structure is probed again, the pixels
 * are not decoded a second time (an 875 KB PNG can inflate to 900 MB). */
int rf_writer_add_checked_image(raiiaf_writer *w, const void *data, size_t size);

/* ---- JSON schema (schema.c) ------------------------------------------- */

struct json_t;
/* Validates `instance` against `schema` (a JSON Schema using the subset of
 * keywords documented in schema.c).  On the first violation returns
 * RAIIAF_E_SCHEMA with the message "JSON_POINTER: what is wrong", e.g.
 * "/raiiaf_metadata/model_info/generation_settings/steps: must be >= 1". */
int rf_schema_validate(const struct json_t *schema, const struct json_t *instance, rf_err *e);

/* The embedded schema text (generated at build time from schema/). */
extern const char rf_schema_json[];

#endif /* RAIIAF_INTERNAL_H */
