/*
 * npy.h -- reading and writing numpy .npy files (format versions 1.0, 2.0
 * and 3.0) for the raiiaf CLI, which takes latents in that form.
 *
 * Only plain little-endian C-order arrays of the dtypes RAIIAF stores are
 * accepted; anything else is refused with a message saying what and why.
 *
 * bfloat16 has no numpy dtype.  Arrays of ml_dtypes.bfloat16 (what
 * torch/JAX tensors of bfloat16 become) are saved by numpy with the descr
 * '<V2' (or '|V2' for a plain 2-byte void array), so both are read as
 * RAIIAF_BF16, and RAIIAF_BF16 is written as '<V2'.  In Python, such a file
 * loads as raw 2-byte records: np.load(p).view(ml_dtypes.bfloat16).
 *
 * Messages are written to `err` (errsize bytes, always NUL-terminated when
 * errsize > 0, truncated safely); err may be NULL.  Nothing is printed.
 */
#ifndef RAIIAF_CLI_NPY_H
#define RAIIAF_CLI_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "raiiaf.h"

typedef struct npy_array {
    raiiaf_dtype dtype;
    unsigned rank;                      /* 0..RAIIAF_MAX_RANK */
    uint64_t shape[RAIIAF_MAX_RANK];
    const void *data;                   /* little-endian C-order element bytes */
    size_t size;                        /* bytes of data == product(shape) * dtype size */
    void *owned_;                       /* internal: the buffer to free */
} npy_array;

/* Parses .npy bytes held in memory.  On success out->data points into `buf`
 * (no copy, and not necessarily aligned for the element type: copy it out
 * with memcpy); out->owned_ is NULL.  Errors:
 *   RAIIAF_E_CORRUPT    malformed preamble, header or data
 *   RAIIAF_E_TRUNCATED  the data ends before what the header declares
 *   RAIIAF_E_VERSION    a .npy format version other than 1.0, 2.0, 3.0
 *   RAIIAF_E_ARG        valid numpy content this reader does not take:
 *                       Fortran order, big-endian, object, structured,
 *                       complex, string or datetime dtypes
 *   RAIIAF_E_LIMIT      rank > 8, a header over 1 MiB, absurd sizes */
int npy_parse(const void *buf, size_t len, npy_array *out, char *err, size_t errsize);

/* Reads and parses a file; the message starts with the path.  A missing or
 * unreadable file gives RAIIAF_E_IO with the system's reason; files over
 * 64 GiB give RAIIAF_E_LIMIT.  The data is owned by `out`: free it with
 * npy_free(). */
int npy_read_file(const char *path, npy_array *out, char *err, size_t errsize);

/* Frees what `a` owns and zeroes it.  Accepts NULL and a zeroed struct. */
void npy_free(npy_array *a);

/* Builds a .npy file in a malloc'd buffer (*out, *out_size; caller frees),
 * byte for byte as numpy's np.save() writes it: version 1.0 (2.0 if the
 * header would not fit), the dict {'descr': '<f4', 'fortran_order': False,
 * 'shape': (1, 4, 8, 8), } padded with spaces and a final '\n' so that the
 * data starts at a multiple of 64.  `size` must equal product(shape) times
 * the dtype size.  Returns 0, RAIIAF_E_ARG or RAIIAF_E_NOMEM. */
int npy_build(raiiaf_dtype dtype, unsigned rank, const uint64_t *shape, const void *data,
              size_t size, unsigned char **out, size_t *out_size);

/* Writes a .npy file atomically: the bytes go to a temporary file
 * "PATH.tmp-XXXXXX" in the same folder, which is synced and renamed over
 * `path`, so `path` is replaced whole or not at all; the temporary file is
 * removed on failure.  Returns 0, RAIIAF_E_ARG, or RAIIAF_E_IO with a
 * message naming the path and the system's reason. */
int npy_write_file(const char *path, raiiaf_dtype dtype, unsigned rank, const uint64_t *shape,
                   const void *data, size_t size, char *err, size_t errsize);

#endif
