/* jsondump.h -- the manifest's JSON text (jsondump.c). */
#ifndef RAIIAF_JSONDUMP_H
#define RAIIAF_JSONDUMP_H

#include <jansson.h>

/* json_dumps(v, JSON_INDENT(1)) byte for byte, except that reals are written
 * in the shortest form that reads back as the same double (23.54, not
 * jansson's 23.539999999999999).  malloc'd, NUL-terminated; NULL when out of
 * memory.  Object keys must not contain NUL (jansson's own keys cannot). */
char *rf_json_dump_manifest(const json_t *v);

/* The text of one real as rf_json_dump_manifest writes it. */
void rf_json_real_text(double v, char out[40]);

#endif
