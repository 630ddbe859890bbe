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
