/* fileio.c -- atomic file replacement and read-only mapping (POSIX). */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A file replaced keeps its permissions, and its owner and group where the
 * system lets us give them: rewriting a private (0600) file must not make
 * it readable by others.  Best effort, as for any file written by a user
 * who does not own the one replaced. */
static void keep_owner_and_mode(int fd, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return; /* a new file: the umask decides */
    if (fchown(fd, st.st_uid, st.st_gid) != 0 && fchown(fd, (uid_t)-1, st.st_gid) != 0) {
        /* not permitted: the new file is the writer's own */
    }
    /* after fchown, which may clear set-id bits */
    (void)fchmod(fd, st.st_mode & 07777);
}

/* The folder of `path` ("." for a bare name); malloc'd. */
static char *parent_dir(const char *path)
{
    char *dir = strdup(path);
    if (!dir) return NULL;
    char *slash = strrchr(dir, '/');
    if (!slash) {
        free(dir);
        return strdup(".");
    }
    *(slash == dir ? slash + 1 : slash) = '\0';
    return dir;
}

/* The name that links an open file descriptor (linkat, /proc). */
static void proc_fd_path(char out[64], int fd) { snprintf(out, 64, "/proc/self/fd/%d", fd); }

/* On Linux, a file without a name (O_TMPFILE) in the folder of `path`: a
 * writer killed before rf_commit() leaves nothing behind.  -1 where the
 * kernel, the file system or a missing /proc (needed to name it) rule it
 * out; the caller then uses a named temporary file. */
static int unnamed_tmp(const char *path)
{
#ifdef O_TMPFILE
    char *dir = parent_dir(path);
    if (!dir) return -1;
    int f = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
    free(dir);
    if (f < 0) return -1;
    char proc[64];
    proc_fd_path(proc, f);
    if (access(proc, F_OK) != 0) {
        close(f);
        return -1;
    }
    return f;
#else
    (void)path;
    return -1;
#endif
}

int rf_tmp_create(const char *path, char **tmp_path, int *fd, rf_err *e)
{
    size_t n = strlen(path) + 64;
    char *tmp = malloc(n);
    if (!tmp) return rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
    /* O_EXCL with a name unlikely to collide; retried on collision.  Mode
     * 0666 lets the process umask decide, as for any newly created file.
     * An unnamed file gets the name only in rf_commit(), when complete. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int unnamed = unnamed_tmp(path);
    for (unsigned attempt = 0; attempt < 100; attempt++) {
        snprintf(tmp, n, "%s.tmp-%ld-%lx-%u", path, (long)getpid(),
                 (unsigned long)(ts.tv_nsec ^ (long)(uintptr_t)tmp), attempt);
        if (unnamed >= 0) {
            keep_owner_and_mode(unnamed, path);
            *fd = unnamed;
            *tmp_path = tmp;
            return RAIIAF_OK;
        }
        int f = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (f >= 0) {
            keep_owner_and_mode(f, path);
            *fd = f;
            *tmp_path = tmp;
            return RAIIAF_OK;
        }
        if (errno != EEXIST) {
            int err = errno;
            free(tmp);
            return rf_fail(e, RAIIAF_E_IO, "%s: cannot create a temporary file beside it: %s", path, strerror(err));
        }
    }
    free(tmp);
    return rf_fail(e, RAIIAF_E_IO, "%s: cannot find a free temporary file name", path);
}

int rf_write_all(int fd, const void *data, size_t size, const char *path, rf_err *e)
{
    const unsigned char *p = data;
    while (size) {
        ssize_t w = write(fd, p, size > (1u << 30) ? (1u << 30) : size);
        if (w < 0) {
            if (errno == EINTR) continue;
            return rf_fail(e, RAIIAF_E_IO, "%s: write failed: %s", path, strerror(errno));
        }
        p += w;
        size -= (size_t)w;
    }
    return RAIIAF_OK;
}

int rf_pwrite_all(int fd, const void *data, size_t size, uint64_t offset, const char *path, rf_err *e)
{
    const unsigned char *p = data;
    while (size) {
        ssize_t w = pwrite(fd, p, size, (off_t)offset);
        if (w < 0) {
            if (errno == EINTR) continue;
            return rf_fail(e, RAIIAF_E_IO, "%s: write at offset %llu failed: %s", path,
                           (unsigned long long)offset, strerror(errno));
        }
        p += w;
        size -= (size_t)w;
        offset += (uint64_t)w;
    }
    return RAIIAF_OK;
}

static void fsync_parent(const char *path)
{
    /* Makes the rename itself durable.  Failure here cannot be acted on
     * (the data is already in place), so it is not an error. */
    char *dir = parent_dir(path);
    if (!dir) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

int rf_commit(int fd, const char *tmp_path, const char *path, rf_err *e)
{
    if (fsync(fd) != 0) {
        int err = errno;
        close(fd);
        return rf_fail(e, RAIIAF_E_IO, "%s: fsync failed: %s", path, strerror(err));
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_nlink == 0) {
        /* An unnamed file (O_TMPFILE), complete now.  A new destination gets
         * the name directly; an existing one is replaced by a rename from
         * a temporary name, as linkat() cannot replace a file. */
        char proc[64];
        proc_fd_path(proc, fd);
        int linked = linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW);
        if (linked == 0) {
            if (close(fd) != 0) return rf_fail(e, RAIIAF_E_IO, "%s: close failed: %s", path, strerror(errno));
            fsync_parent(path);
            return RAIIAF_OK;
        }
        if (errno != EEXIST || linkat(AT_FDCWD, proc, AT_FDCWD, tmp_path, AT_SYMLINK_FOLLOW) != 0) {
            int err = errno;
            close(fd);
            return rf_fail(e, RAIIAF_E_IO, "%s: cannot name the finished file: %s", path, strerror(err));
        }
    }
    if (close(fd) != 0) return rf_fail(e, RAIIAF_E_IO, "%s: close failed: %s", path, strerror(errno));
    if (rename(tmp_path, path) != 0)
        return rf_fail(e, RAIIAF_E_IO, "%s: cannot rename the finished file into place: %s", path, strerror(errno));
    fsync_parent(path);
    return RAIIAF_OK;
}

int rf_replace(const char *from, const char *to, rf_err *e)
{
    int fd = open(from, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        keep_owner_and_mode(fd, to);
        close(fd);
    }
    if (rename(from, to) != 0) return rf_fail(e, RAIIAF_E_IO, "%s: cannot rename to %s: %s", from, to, strerror(errno));
    /* Unlike rf_commit's best-effort sync, a caller that names the file
     * itself hears when the rename could not be made durable. */
    char *dir = parent_dir(to);
    if (!dir) return RAIIAF_OK; /* renamed; only the folder sync is skipped */
    int rc = RAIIAF_OK, dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) != 0 && errno != EINVAL) rc = rf_fail(e, RAIIAF_E_IO, "%s: fsync of the folder failed: %s", to, strerror(errno));
        close(dfd);
    }
    free(dir);
    return rc;
}

int rf_map(const char *path, const unsigned char **data, size_t *size, rf_err *e)
{
    *data = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rf_fail(e, RAIIAF_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return rf_fail(e, RAIIAF_E_IO, "%s: cannot stat: %s", path, strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return rf_fail(e, RAIIAF_E_IO, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return RAIIAF_OK;
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return rf_fail(e, RAIIAF_E_LIMIT, "%s: file too large to map", path);
    }
    if ((uint64_t)st.st_size <= RF_MAP_READ_MAX) {
        /* Small files are read: a mapping costs page-table work and, on
         * unmap, a TLB shootdown that stalls every thread of the process
         * (several threads opening many small files, as index does, then
         * run one at a time). */
        size_t n = (size_t)st.st_size, got = 0;
        unsigned char *b = aligned_alloc(64, (n + 63) & ~(size_t)63); /* raw payloads stay 64-byte aligned, as mapped */
        if (!b) {
            close(fd);
            return rf_fail(e, RAIIAF_E_NOMEM, "%s: out of memory for %zu bytes", path, n);
        }
        while (got < n) {
            ssize_t k = pread(fd, b + got, n - got, (off_t)got);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) {
                int err = k < 0 ? errno : 0;
                close(fd);
                free(b);
                return rf_fail(e, RAIIAF_E_IO, "%s: cannot read: %s", path, err ? strerror(err) : "file shrank while read");
            }
            got += (size_t)k;
        }
        close(fd);
        *data = b;
        *size = n;
        return RAIIAF_OK;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd);
    if (m == MAP_FAILED) return rf_fail(e, RAIIAF_E_IO, "%s: cannot map: %s", path, strerror(err));
    *data = m;
    *size = (size_t)st.st_size;
    return RAIIAF_OK;
}

void rf_unmap(const unsigned char *data, size_t size)
{
    if (data && size <= RF_MAP_READ_MAX) free((void *)data); /* read, not mapped (rf_map) */
    else if (data && size) munmap((void *)data, size);
}

int rf_read_file(const char *path, uint64_t max_size, unsigned char **data, size_t *size, rf_err *e)
{
    *data = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rf_fail(e, RAIIAF_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st = {0};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int isdir = S_ISDIR(st.st_mode);
        close(fd);
        /* Regular files only: the size must be known up front to bound memory. */
        return rf_fail(e, RAIIAF_E_IO, "%s: %s", path, isdir ? strerror(EISDIR) : "not a regular file");
    }
    if ((uint64_t)st.st_size > max_size || (uint64_t)st.st_size >= SIZE_MAX) {
        close(fd);
        return rf_fail(e, RAIIAF_E_LIMIT, "%s: %llu bytes, more than the %llu this reader takes", path,
                       (unsigned long long)st.st_size, (unsigned long long)max_size);
    }
    size_t n = (size_t)st.st_size;
    unsigned char *buf = malloc(n + 1);
    if (!buf) {
        close(fd);
        return rf_fail(e, RAIIAF_E_NOMEM, "%s: out of memory for %zu bytes", path, n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got > (1u << 30) ? (1u << 30) : n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int err = errno;
            free(buf);
            close(fd);
            return rf_fail(e, RAIIAF_E_IO, "%s: read failed: %s", path, r < 0 ? strerror(err) : "the file shrank while being read");
        }
        got += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *data = buf;
    *size = n;
    return RAIIAF_OK;
}

int rf_write_file(const char *path, const void *head, size_t head_size, const void *body, size_t body_size, rf_err *e)
{
    char *tmp = NULL;
    int fd = -1;
    int rc = rf_tmp_create(path, &tmp, &fd, e);
    if (rc) return rc;
    if (!(rc = rf_write_all(fd, head, head_size, path, e)) && !(rc = rf_write_all(fd, body, body_size, path, e)))
        rc = rf_commit(fd, tmp, path, e);
    else
        close(fd);
    if (rc) unlink(tmp);
    free(tmp);
    return rc;
}

int raiiaf_write_file(const char *path, const void *data, size_t size, char *err, size_t errsize)
{
    rf_err e = {0};
    int rc = path && (data || !size) ? rf_write_file(path, data, size, NULL, 0, &e)
                                     : rf_fail(&e, RAIIAF_E_ARG, "raiiaf_write_file: no path or no data");
    rf_msg(err, errsize, "%s", rc ? e.msg : "");
    return rc;
}

int rf_anon_file(int *fd, rf_err *e)
{
#ifdef MFD_CLOEXEC
    int f = memfd_create("raiiaf-writer", MFD_CLOEXEC);
    if (f >= 0) {
        *fd = f;
        return RAIIAF_OK;
    }
#endif
    /* No memfd: a file in the temporary folder, unlinked at once. */
    const char *dir = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/raiiaf-writer-XXXXXX", dir && *dir ? dir : "/tmp");
    int g = mkstemp(tmpl);
    if (g < 0) return rf_fail(e, RAIIAF_E_IO, "cannot create a file to write into memory: %s", strerror(errno));
    unlink(tmpl);
    *fd = g;
    return RAIIAF_OK;
}

int rf_read_back(int fd, unsigned char **data, size_t *size, const char *what, rf_err *e)
{
    *data = NULL;
    *size = 0;
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < 0) return rf_fail(e, RAIIAF_E_IO, "%s: cannot find its size: %s", what, strerror(errno));
    if ((uint64_t)end >= SIZE_MAX) return rf_fail(e, RAIIAF_E_LIMIT, "%s: %lld bytes do not fit in memory", what, (long long)end);
    unsigned char *buf = malloc((size_t)end ? (size_t)end : 1);
    if (!buf) return rf_fail(e, RAIIAF_E_NOMEM, "%s: out of memory for %lld bytes", what, (long long)end);
    size_t got = 0;
    while (got < (size_t)end) {
        size_t want = (size_t)end - got > (1u << 30) ? (1u << 30) : (size_t)end - got;
        ssize_t r = pread(fd, buf + got, want, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int err = errno;
            free(buf);
            return rf_fail(e, RAIIAF_E_IO, "%s: read back failed: %s", what, r < 0 ? strerror(err) : "it shrank");
        }
        got += (size_t)r;
    }
    *data = buf;
    *size = got;
    return RAIIAF_OK;
}

/* ---- the writers' lock ------------------------------------------------ */

/* Milliseconds a writer waits for the lock; negative waits for ever.  One
 * setting for the process, as the lock is between processes. */
static atomic_int lock_timeout_ms = RAIIAF_LOCK_TIMEOUT_DEFAULT_MS;

void raiiaf_set_lock_timeout(int milliseconds) { atomic_store(&lock_timeout_ms, milliseconds); }

int raiiaf_get_lock_timeout(void) { return atomic_load(&lock_timeout_ms); }

/* One attempt at the lock on the whole file: 0 taken, 1 held by another
 * open file, -1 an error (errno). */
static int try_lock(int fd, int exclusive, int wait)
{
#ifdef F_OFD_SETLK
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = (short)(exclusive ? F_WRLCK : F_RDLCK);
    fl.l_whence = SEEK_SET; /* l_start = l_len = 0: the whole file, however long it grows */
    for (;;) {
        if (fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) == 0) return 0;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EACCES) return 1;
        if (errno != EINVAL) return -1;
        break; /* a kernel before 3.15: no OFD locks; flock() has the same per-open-file semantics */
    }
#endif
    for (;;) {
        if (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB)) == 0) return 0;
        if (errno == EINTR) continue;
        return errno == EWOULDBLOCK ? 1 : -1;
    }
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int rf_lock_file(const char *path, unsigned flags, int *fd, rf_err *e)
{
    *fd = -1;
    int timeout = atomic_load(&lock_timeout_ms);
    int64_t deadline = now_ms() + (timeout > 0 ? timeout : 0);
    long pause_us = 1000;
    for (;;) {
        /* A write lock needs a descriptor open for writing.  A file that is
         * only replaced (compact, recover) may be read-only to us while its
         * folder is writable: a read lock on it still keeps out editors,
         * who could not write to it through this user anyway. */
        int exclusive = 1;
        int f = open(path, O_RDWR | O_CLOEXEC);
        if (f < 0 && !(flags & RF_LOCK_APPEND) && (errno == EACCES || errno == EPERM || errno == EROFS)) {
            f = open(path, O_RDONLY | O_CLOEXEC);
            exclusive = 0;
        }
        if (f < 0) {
            if (errno == ENOENT && (flags & RF_LOCK_IF_EXISTS)) return RAIIAF_OK;
            return rf_fail(e, RAIIAF_E_IO, "%s: cannot open%s: %s", path,
                           (flags & RF_LOCK_APPEND) && errno != ENOENT ? " for writing" : "", strerror(errno));
        }
        /* Polling with a growing pause rather than F_OFD_SETLKW, which
         * cannot time out without a signal, and a library must not use
         * signals.  A writer holds the lock for milliseconds. */
        int got;
        for (;;) {
            got = try_lock(f, exclusive, timeout < 0);
            if (got != 1 || (timeout >= 0 && now_ms() >= deadline)) break;
            struct timespec ts = {0, pause_us * 1000};
            nanosleep(&ts, NULL);
            if (pause_us < 20000) pause_us *= 2;
        }
        if (got < 0) {
            int err = errno;
            close(f);
            return rf_fail(e, RAIIAF_E_IO, "%s: cannot lock: %s", path, strerror(err));
        }
        if (got == 1) {
            close(f);
            if (timeout == 0)
                return rf_fail(e, RAIIAF_E_BUSY, "%s: another process is writing to it (locked; not waiting)", path);
            return rf_fail(e, RAIIAF_E_BUSY, "%s: another process kept it locked for %d.%03d s; try again later", path, timeout / 1000,
                           timeout % 1000);
        }
        /* The lock is on the file that was open; a compact may have renamed
         * a new file over the path meanwhile, and the old one is gone. */
        struct stat a, b;
        if (fstat(f, &a) != 0) {
            int err = errno;
            close(f);
            return rf_fail(e, RAIIAF_E_IO, "%s: cannot stat: %s", path, strerror(err));
        }
        if (stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
            *fd = f;
            return RAIIAF_OK;
        }
        close(f);
        if (timeout >= 0 && now_ms() >= deadline)
            return rf_fail(e, RAIIAF_E_BUSY, "%s: replaced by other writers while waiting for its lock; try again later", path);
    }
}

void rf_unlock_file(int fd)
{
    if (fd >= 0) close(fd);
}
