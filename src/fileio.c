/* fileio.c -- atomic file replacement and read-only mapping (POSIX). */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int rf_tmp_create(const char *path, char **tmp_path, int *fd, rf_err *e)
{
    size_t n = strlen(path) + 64;
    char *tmp = malloc(n);
    if (!tmp) return rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
    /* O_EXCL with a name unlikely to collide; retried on collision.  Mode
     * 0666 lets the process umask decide, as for any newly created file. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    for (unsigned attempt = 0; attempt < 100; attempt++) {
        snprintf(tmp, n, "%s.tmp-%ld-%lx-%u", path, (long)getpid(),
                 (unsigned long)(ts.tv_nsec ^ (long)(uintptr_t)tmp), attempt);
        int f = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (f >= 0) {
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
    char *dir = strdup(path);
    if (!dir) return;
    char *slash = strrchr(dir, '/');
    const char *d = ".";
    if (slash) {
        *(slash == dir ? slash + 1 : slash) = '\0';
        d = dir;
    }
    int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
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
    if (close(fd) != 0) return rf_fail(e, RAIIAF_E_IO, "%s: close failed: %s", path, strerror(errno));
    if (rename(tmp_path, path) != 0)
        return rf_fail(e, RAIIAF_E_IO, "%s: cannot rename the finished file into place: %s", path, strerror(errno));
    fsync_parent(path);
    return RAIIAF_OK;
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
    if (data && size) munmap((void *)data, size);
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
    /* A replaced file keeps its permissions (a private 0600 file stays
     * private); a new one gets 0666 less the umask. */
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) (void)fchmod(fd, st.st_mode & 07777);
    if (!(rc = rf_write_all(fd, head, head_size, path, e)) && !(rc = rf_write_all(fd, body, body_size, path, e)))
        rc = rf_commit(fd, tmp, path, e);
    else
        close(fd);
    if (rc) unlink(tmp);
    free(tmp);
    return rc;
}
