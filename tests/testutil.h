/* testutil.h -- small helpers shared by the C tests. */
#ifndef RAIIAF_TESTUTIL_H
#define RAIIAF_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#ifndef RAIIAF_TEST_DATA
#define RAIIAF_TEST_DATA "tests/data"
#endif

/* Reads a whole file; fails the test if it cannot.  Caller frees. */
unsigned char *tu_read_file(const char *path, size_t *size);
/* Reads tests/data/NAME. */
unsigned char *tu_read_data(const char *name, size_t *size);
/* Writes a whole file; fails the test if it cannot. */
void tu_write_file(const char *path, const void *data, size_t size);
/* A fresh empty directory under $TMPDIR (or /tmp) for this test; caller frees the string. */
char *tu_tempdir(void);
/* Joins dir and name into a static-free malloc'd path; caller frees. */
char *tu_path(const char *dir, const char *name);
/* Deterministic pseudo-random numbers (xorshift64*), for reproducible tests. */
uint64_t tu_rand(uint64_t *state);
/* Standard normal deviate from tu_rand (Box-Muller), as float. */
float tu_randn(uint64_t *state);

/* Rewrites the newest manifest of a single-version format 2 file: decodes
 * it, lets `edit` change the JSON (may be NULL), re-encodes it in place of
 * the old one with a new footer (CRCs resealed).  Returns the new file;
 * caller frees.  For building hostile files whose CRCs all hold. */
typedef struct json_t json_t;
unsigned char *tu_replace_manifest(const unsigned char *file, size_t size, void (*edit)(json_t *m, void *ctx), void *ctx,
                                   size_t *out_size);

#endif
