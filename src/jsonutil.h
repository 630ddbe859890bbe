/* jsonutil.h -- JSON Pointer access, deep merge and limits on jansson values. */
#ifndef RAIIAF_JSONUTIL_H
#define RAIIAF_JSONUTIL_H

#include "internal.h"

#include <jansson.h>

/* Sets the value at an RFC 6901 pointer under root, creating missing
 * objects on the way.  Steals `value` (also on failure). */
int rf_pointer_set(json_t *root, const char *pointer, json_t *value, rf_err *e);

/* Merges src into dst: objects key by key, recursively; other values replace. */
int rf_json_merge(json_t *dst, const json_t *src, rf_err *e);

/* Nesting depth of a value (a scalar is 0, [] is 1, [[ ]] is 2). Stops
 * counting past `limit`, returning limit + 1. */
unsigned rf_json_depth(const json_t *v, unsigned limit);

/* Current time as ISO 8601 UTC "YYYY-MM-DDTHH:MM:SSZ". */
void rf_utc_now(char buf[32]);

/* Scans JSON text without building anything and refuses it with
 * RAIIAF_E_LIMIT when it holds more than RF_MAX_JSON_VALUES values or would
 * need more than RF_MAX_JSON_MEMORY bytes once parsed (an estimate from
 * jansson's sizes per object, array, member, string and number).  Call it
 * before json_loadb() on any text that comes from a file. */
int rf_json_prescan(const char *text, size_t size, const char *what, rf_err *e);

/* Parses JSON text (duplicate keys refused) after rf_json_prescan() and
 * checks the depth limit.  `what` names the document in messages
 * ("manifest"). */
int rf_json_parse(const char *text, size_t size, const char *what, json_t **out, rf_err *e);

/* rf_json_parse() in a dialect of jsonnum.h (RF_JSON_PYTHON: format 1's). */
int rf_json_parse_as(const char *text, size_t size, const char *what, int dialect, json_t **out, rf_err *e);

/* json_deep_copy() that notices a copy cut short by an allocation failure
 * (jansson drops the members it could not copy and still succeeds): NULL
 * then. */
json_t *rf_json_copy(const json_t *v);

#endif
