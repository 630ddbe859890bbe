/*
 * raiiaf_json.h -- exact JSON numbers for programs that read raiiaf manifests
 * with jansson (the raiiaf CLI does).  Optional: include it after <jansson.h>.
 *
 * A manifest integer may be anything from -2^63 to 2^64-1 (SPEC 5.1: a seed
 * is an unsigned 64-bit number), but jansson's json_int_t is a long long, so
 * json_loadb() refuses 2^63..2^64-1 ("too big integer").  These functions
 * parse and write such texts exactly: an integer beyond json_int_t is held in
 * the jansson tree as a "wide number", a JSON_STRING whose bytes are 0xFF
 * followed by the number's decimal text.  0xFF never occurs in UTF-8, so a
 * wide number can never be mistaken for a real string, and jansson's own
 * json_dumps() refuses it (fails) instead of writing it as a string: write
 * trees that may hold one with raiiaf_json_dumps().
 *
 * Since 0.3.0.
 */
#ifndef RAIIAF_JSON_H
#define RAIIAF_JSON_H

#include "raiiaf.h"

#include <jansson.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Room for any integer's text raiiaf_json_integer_text() writes, NUL included. */
#define RAIIAF_JSON_INT_TEXT 24

/* A flag of raiiaf_json_loadb(): also read the JSON that Python's json.dumps
 * writes (format 1 manifests): NaN, Infinity, -Infinity and integers of any
 * size (kept as wide numbers), \u0000 in strings (JSON_ALLOW_NUL) and lone
 * surrogates such as \uD800 (read as U+FFFD).  Since 0.3.0. */
#define RAIIAF_JSON_PYTHON 0x10000

/* json_loadb(text, len, flags, error), except that integers from 2^63 to
 * 2^64-1 are accepted and kept exactly as wide numbers (and, with
 * RAIIAF_JSON_PYTHON in flags, Python's dialect).  When the text holds a wide
 * number, JSON_REJECT_DUPLICATES is implied.  Since 0.3.0. */
RAIIAF_API json_t *raiiaf_json_loadb(const char *text, size_t len, size_t flags, json_error_t *error);

/* The literal text of a wide number ("18446744073709551615", "NaN",
 * "-Infinity"), or NULL when v is not one.  Since 0.3.0. */
RAIIAF_API const char *raiiaf_json_wide_text(const json_t *v);

/* 1 when v is an integer (a JSON_INTEGER or a wide integer), writing its
 * decimal text to out; 0 otherwise.  Since 0.3.0. */
RAIIAF_API int raiiaf_json_integer_text(const json_t *v, char out[RAIIAF_JSON_INT_TEXT]);

/* 1 when v is an integer from 0 to 2^64-1, storing it in *out; 0 otherwise.
 * Since 0.3.0. */
RAIIAF_API int raiiaf_json_uint64(const json_t *v, uint64_t *out);

/* A new JSON value for n: a JSON_INTEGER up to 2^63-1, a wide integer above.
 * NULL when out of memory.  Since 0.3.0. */
RAIIAF_API json_t *raiiaf_json_from_uint64(uint64_t n);

/* json_dumps(v, flags), writing wide numbers as the plain JSON numbers they
 * stand for.  malloc'd; NULL on failure.  Since 0.3.0. */
RAIIAF_API char *raiiaf_json_dumps(const json_t *v, size_t flags);

#ifdef __cplusplus
}
#endif

#endif
