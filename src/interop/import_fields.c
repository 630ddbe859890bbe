/*
 * import_fields.c -- two helpers the newer source mappers (Civitai,
 * NovelAI EXIF, InvokeAI legacy, stealth PNG info, C2PA) share: the
 * family beside the exact tool, and integers taken exactly (a JSON
 * integer or a decimal string, never through a double, so a seed above
 * 2^53 keeps every digit).
 */
#include "interop.h"

#include <errno.h>
#include <stdlib.h>

void imp_set_family(import_result *r, const char *family)
{
    if (family) json_object_set_new(r->ext, "family", json_string(family));
}

int imp_gs_int_json(import_result *r, json_t *v, const char *field, long long min, const char *src)
{
    long long x;
    if (json_is_integer(v)) x = (long long)json_integer_value(v);
    else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= -9.0e15 && d <= 9.0e15) || d != (double)(long long)d) return -1;
        x = (long long)d;
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        x = strtoll(s, &end, 10);
        if (!*s || *end || errno) return -1;
    } else return -1;
    imp_set_gs_int(r, field, x, min, src);
    return 0;
}
