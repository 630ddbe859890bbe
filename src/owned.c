/* owned.c -- the one list of manifest fields the library writes itself.
 *
 * The writer, the edit handle and conversion all ask here, so a path that
 * one of them refuses is refused by all (they once kept three lists that
 * drifted apart).  Callers' own fields live under /raiiaf_metadata: the
 * generation record in model_info, anything else in extensions; members
 * beside raiiaf_metadata are the caller's too (a later format version may
 * define some, and readers keep them). */
#include "owned.h"

#include <string.h>

const char *const rf_owned_members[RF_OWNED_COUNT] = {"file_info", "chunks", "tensors", "image", "environment"};

int rf_owned_pointer(const char *pointer)
{
    static const char root[] = "/raiiaf_metadata";
    const size_t rn = sizeof root - 1;
    if (!pointer || !pointer[0] || !strcmp(pointer, "/")) return 1; /* the whole document */
    if (strncmp(pointer, root, rn) || (pointer[rn] != '/' && pointer[rn] != '\0')) return 0; /* beside raiiaf_metadata */
    if (!pointer[rn] || !pointer[rn + 1]) return 1; /* /raiiaf_metadata itself */
    const char *member = pointer + rn + 1;
    for (size_t i = 0; i < RF_OWNED_COUNT; i++) {
        size_t n = strlen(rf_owned_members[i]);
        if (!strncmp(member, rf_owned_members[i], n) && (member[n] == '\0' || member[n] == '/')) return 1;
    }
    return 0;
}
