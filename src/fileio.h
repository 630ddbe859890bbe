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

/* Reads a whole regular file into a malloc'd buffer with a NUL after the
 * last byte (for text use); files over `max_size` give RAIIAF_E_LIMIT. */
int rf_read_file(const char *path, uint64_t max_size, unsigned char **data, size_t *size, rf_err *e);

/* Replaces `path` atomically (temporary file beside it, fsync, rename) with
 * `head` followed by `body` (either may be empty), so a header and a large
 * payload need not be joined in memory first. */
int rf_write_file(const char *path, const void *head, size_t head_size, const void *body, size_t body_size, rf_err *e);

#endif
