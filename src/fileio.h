/* fileio.h -- the POSIX file operations behind atomic writes and mapped reads. */
#ifndef RAIIAF_FILEIO_H
#define RAIIAF_FILEIO_H

#include "internal.h"

/* Creates a new, empty temporary file next to `path` (same folder, so the
 * final rename stays on one file system): on Linux an unnamed one
 * (O_TMPFILE), named only by rf_commit() when complete, so a writer killed
 * before that leaves nothing; elsewhere, or where the file system lacks
 * O_TMPFILE, a file named *tmp_path.  When `path` exists, the
 * temporary file gets its mode (and owner and group where permitted), so
 * that replacing it keeps them.  *tmp_path is malloc'd. */
int rf_tmp_create(const char *path, char **tmp_path, int *fd, rf_err *e);

/* Writes all bytes at the current position, retrying short writes and EINTR. */
int rf_write_all(int fd, const void *data, size_t size, const char *path, rf_err *e);

/* Writes all bytes at `offset` without moving the file position. */
int rf_pwrite_all(int fd, const void *data, size_t size, uint64_t offset, const char *path, rf_err *e);

/* fsync, close, rename tmp over path, fsync the folder.  Closes fd always.
 * An unnamed temporary file is named here: linked at `path` when that is
 * free, else linked at tmp_path and renamed over `path`.  On failure the
 * caller unlinks tmp_path (which may not exist). */
int rf_commit(int fd, const char *tmp_path, const char *path, rf_err *e);

/* Renames the finished, synced file `from` over `to`, giving it the mode,
 * owner and group of the file it replaces, then syncs the folder (its
 * failure is an error here).  For writers that must name the new file
 * before it replaces the old one (recover verifies it first). */
int rf_replace(const char *from, const char *to, rf_err *e);

/* Maps a whole file read-only.  An empty file maps to a NULL pointer with
 * size 0.  Release with rf_unmap. */
int rf_map(const char *path, const unsigned char **data, size_t *size, rf_err *e);
void rf_unmap(const unsigned char *data, size_t size);
/* Files of at most this many bytes are read into memory by rf_map instead
 * of mapped (rf_unmap frees them): cheaper for small files, and it does not
 * serialise threads on the process's page tables. */
#define RF_MAP_READ_MAX (64u << 10)

/* Reads a whole regular file into a malloc'd buffer with a NUL after the
 * last byte (for text use); files over `max_size` give RAIIAF_E_LIMIT. */
int rf_read_file(const char *path, uint64_t max_size, unsigned char **data, size_t *size, rf_err *e);

/* Replaces `path` atomically (temporary file beside it, fsync, rename) with
 * `head` followed by `body` (either may be empty), so a header and a large
 * payload need not be joined in memory first. */
int rf_write_file(const char *path, const void *head, size_t head_size, const void *body, size_t body_size, rf_err *e);

/* An anonymous file (memfd, else an unlinked temporary file) for a writer
 * whose result goes to memory: the writers' code stays one path. */
int rf_anon_file(int *fd, rf_err *e);

/* Reads the whole of `fd` (from offset 0) into a malloc'd buffer. */
int rf_read_back(int fd, unsigned char **data, size_t *size, const char *what, rf_err *e);

/* ---- the writers' lock ------------------------------------------------
 * Every writer that appends to or replaces an existing file (edit, sign,
 * compact, recover over its input) holds an advisory lock on that file
 * from reading its newest version until the new bytes are durable, so a
 * second writer waits and then reads what the first wrote instead of
 * taking its append in progress for a torn tail.  Readers take no lock:
 * they already fall back to the newest complete version.  The lock is an
 * OFD lock (flock() where the kernel has none), tied to the open file, so
 * closing other descriptors of the same file does not drop it, and it goes
 * away with the process (kill -9 included). */
enum {
    RF_LOCK_APPEND = 1,   /* the caller writes through *fd: open it for writing */
    RF_LOCK_IF_EXISTS = 2 /* a missing file is not an error: *fd = -1, RAIIAF_OK */
};

/* Opens `path` and takes the writers' lock on it, waiting as long as
 * raiiaf_set_lock_timeout() allows.  When the path was replaced (by a
 * compact) while waiting, locks the file it names now.  RAIIAF_E_BUSY when
 * another writer held the lock for the whole wait; RAIIAF_E_IO when the
 * file cannot be opened.  Release with rf_unlock_file(). */
int rf_lock_file(const char *path, unsigned flags, int *fd, rf_err *e);

/* Drops the lock by closing the descriptor; -1 is ignored. */
void rf_unlock_file(int fd);

#endif
