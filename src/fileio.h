/* fileio.h -- the POSIX file operations behind atomic writes and mapped reads. */
#ifndef RAIIAF_FILEIO_H
#define RAIIAF_FILEIO_H

#include "internal.h"

/* Creates a new, empty temporary file next to `path` (same folder, so the
 * final rename stays on one file system).  *tmp_path is malloc'd. */
int rf_tmp_create(const char *path, char **tmp_path, int *fd, rf_err *e);

/* Writes all bytes at the current position, retrying short writes and EINTR. */
int rf_write_all(int fd, const void *data, size_t size, const char *path, rf_err *e);

/* Writes all bytes at `offset` without moving the file position. */
int rf_pwrite_all(int fd, const void *data, size_t size, uint64_t offset, const char *path, rf_err *e);

/* fsync, close, rename tmp over path, fsync the folder.  Closes fd always. */
int rf_commit(int fd, const char *tmp_path, const char *path, rf_err *e);

/* Maps a whole file read-only.  An empty file maps to a NULL pointer with
 * size 0.  Release with rf_unmap. */
int rf_map(const char *path, const unsigned char **data, size_t *size, rf_err *e);
void rf_unmap(const unsigned char *data, size_t size);

#endif
