/* owned.h -- which manifest fields callers may set (owned.c). */
#ifndef RAIIAF_OWNED_H
#define RAIIAF_OWNED_H

#define RF_OWNED_COUNT 5

/* The members of /raiiaf_metadata that the library writes: file_info,
 * chunks, tensors, image, environment. */
extern const char *const rf_owned_members[RF_OWNED_COUNT];

/* 1 when a caller may not set or remove the field at JSON Pointer
 * `pointer`: the whole document, /raiiaf_metadata itself, and the owned
 * members and everything below them. */
int rf_owned_pointer(const char *pointer);

#endif
