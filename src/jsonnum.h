/* jsonnum.h -- exact JSON numbers beyond jansson's json_int_t, and the
 * Python json dialect of format 1 manifests (jsonnum.c).  The public side is
 * include/raiiaf_json.h. */
#ifndef RAIIAF_JSONNUM_H
#define RAIIAF_JSONNUM_H

#include "raiiaf_json.h"

#include <stddef.h>

/* Dialects of rf_json_loadb(). */
enum {
    /* Standard JSON; integers up to 2^64-1 (format 2, user input). */
    RF_JSON_STRICT = 0,
    /* Also what Python's json.dumps writes: NaN, Infinity, -Infinity,
     * integers of any size, \u0000 in strings, lone surrogates (held as
     * WTF-8 in string values, U+FFFD in keys).  Format 1 only. */
    RF_JSON_PYTHON = 1
};

/* json_loadb() in a dialect; numbers jansson cannot hold become wide numbers
 * (raiiaf_json.h).  Error positions are those of the original text. */
json_t *rf_json_loadb(const char *text, size_t len, size_t flags, int dialect, json_error_t *je);

/* The literal text of a wide number (digits, NaN, Infinity, -Infinity), or
 * NULL when v is not one. */
const char *rf_json_wide_text(const json_t *v);

/* A wide number holding literal text `lit` (n bytes); NULL when out of memory. */
json_t *rf_json_wide(const char *lit, size_t n);

/* An integer (JSON_INTEGER or wide integer). */
int rf_json_is_int(const json_t *v);

/* A number (JSON_INTEGER, JSON_REAL or any wide number). */
int rf_json_is_num(const json_t *v);

/* A JSON_STRING that is not a wide number. */
int rf_json_is_text(const json_t *v);

/* Where a wide number lies against every double: 1 above them all (a
 * positive wide integer, Infinity), -1 below (a negative one, -Infinity), 0
 * unordered (NaN).  Only meaningful when rf_json_wide_text(v) is not NULL. */
int rf_json_wide_sign(const json_t *v);

/* 1 when the tree under v holds a string that is not valid UTF-8 (a lone
 * surrogate read in the Python dialect, as WTF-8). */
int rf_json_has_invalid_text(const json_t *v);

/* 1 when the tree under v holds a wide number. */
int rf_json_has_wide(const json_t *v);

#endif
