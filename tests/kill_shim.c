/* kill_shim.c -- an LD_PRELOAD library for crash and failure injection in
 * the CLI tests (tests/cli_trust.py); nothing in libraiiaf knows about it.
 *
 *   SHIM_KILL_AFTER=N   the Nth write()/pwrite() to a regular file writes
 *                       half its bytes, then the process gets SIGKILL
 *   SHIM_STOP_AFTER=N   the Nth write()/pwrite() to a regular file writes
 *                       half its bytes, then the process stops itself
 *                       (SIGSTOP); after SIGCONT the write returns short and
 *                       the caller writes the rest (tests/cli_concurrency.py)
 *   SHIM_FAIL=KIND:N    the Nth call of KIND fails: write (ENOSPC), fsync
 *                       (EIO), rename (EIO), ftruncate (EIO), malloc (NULL,
 *                       ENOMEM; counted from the shim's constructor on)
 * Built twice: kill_shim, and io_shim (-DSHIM_NO_MALLOC) for sanitizer
 * builds, where ASan must keep the allocator.
 *
 *   SHIM_COUNT=FILE     at exit, writes "writes fsyncs renames mallocs" to FILE */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define SHIM_API __attribute__((visibility("default")))

static long n_write, n_fsync, n_rename, n_malloc, n_trunc;
static long kill_after = -1, stop_after = -1, fail_n = -1;
static char fail_kind[16];
static int inited, armed_malloc;

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

static void init(void)
{
    if (inited) return;
    inited = 1;
    const char *k = getenv("SHIM_KILL_AFTER");
    if (k) kill_after = atol(k);
    const char *s = getenv("SHIM_STOP_AFTER");
    if (s) stop_after = atol(s);
    const char *f = getenv("SHIM_FAIL");
    if (f) {
        const char *c = strchr(f, ':');
        if (c && (size_t)(c - f) < sizeof fail_kind) {
            memcpy(fail_kind, f, (size_t)(c - f));
            fail_kind[c - f] = '\0';
            fail_n = atol(c + 1);
        }
    }
}

static int is_regular(int fd)
{
    struct stat st;
    return fd > 2 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

static int should_fail(const char *kind, long count)
{
    return fail_n > 0 && !strcmp(fail_kind, kind) && count == fail_n;
}

SHIM_API ssize_t write(int fd, const void *buf, size_t n)
{
    static ssize_t (*real)(int, const void *, size_t);
    if (!real) real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    init();
    if (is_regular(fd)) {
        n_write++;
        if (should_fail("write", n_write)) {
            errno = ENOSPC;
            return -1;
        }
        if (kill_after > 0 && n_write == kill_after) {
            if (n > 1) real(fd, buf, n / 2);
            raise(SIGKILL);
        }
        if (stop_after > 0 && n_write == stop_after && n > 1) {
            ssize_t w = real(fd, buf, n / 2);
            raise(SIGSTOP);
            return w;
        }
    }
    return real(fd, buf, n);
}

SHIM_API ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real) real = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    init();
    if (is_regular(fd)) {
        n_write++;
        if (should_fail("write", n_write)) {
            errno = ENOSPC;
            return -1;
        }
        if (kill_after > 0 && n_write == kill_after) {
            if (n > 1) real(fd, buf, n / 2, off);
            raise(SIGKILL);
        }
        if (stop_after > 0 && n_write == stop_after && n > 1) {
            ssize_t w = real(fd, buf, n / 2, off);
            raise(SIGSTOP);
            return w;
        }
    }
    return real(fd, buf, n, off);
}
SHIM_API ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) { return pwrite(fd, buf, n, off); }

SHIM_API int fsync(int fd)
{
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    init();
    n_fsync++;
    if (should_fail("fsync", n_fsync)) {
        errno = EIO;
        return -1;
    }
    return real(fd);
}

SHIM_API int rename(const char *a, const char *b)
{
    static int (*real)(const char *, const char *);
    if (!real) real = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
    init();
    n_rename++;
    if (should_fail("rename", n_rename)) {
        errno = EIO;
        return -1;
    }
    return real(a, b);
}

SHIM_API int ftruncate(int fd, off_t len)
{
    static int (*real)(int, off_t);
    if (!real) real = (int (*)(int, off_t))dlsym(RTLD_NEXT, "ftruncate");
    init();
    n_trunc++;
    if (should_fail("ftruncate", n_trunc)) {
        errno = EIO;
        return -1;
    }
    return real(fd, len);
}

/* OpenSSL 3 does not survive an allocation failure during its lazy
 * initialisation (it later locks a NULL rwlock), and glibc's regcomp()
 * frees twice when an allocation fails inside it: no caller can prevent
 * either, so allocations made by libcrypto and libc themselves are never
 * failed (those by libraiiaf, jansson, zstd, zfp, spng and the CLI are). */
static __thread int in_shim;
static int from_libcrypto(void *ra)
{
    Dl_info di;
    in_shim = 1;
    int r = dladdr(ra, &di) && di.dli_fname && (strstr(di.dli_fname, "libcrypto") || strstr(di.dli_fname, "/libc.so"));
    in_shim = 0;
    return r;
}

__attribute__((unused)) static int alloc_fails_at(void *ra)
{
    if (!armed_malloc || in_shim) return 0;
    if (fail_n > 0 && fail_kind[0] == 'm' && from_libcrypto(ra)) return 0;
    n_malloc++;
    if (fail_n > 0 && fail_kind[0] == 'm' && n_malloc == fail_n) {
        errno = ENOMEM;
        return 1;
    }
    return 0;
}

#ifndef SHIM_NO_MALLOC /* the ASan build's copy leaves allocation to ASan */
#define alloc_fails() alloc_fails_at(__builtin_return_address(0))
SHIM_API void *malloc(size_t n) { return alloc_fails() ? NULL : __libc_malloc(n); }
SHIM_API void *calloc(size_t a, size_t b) { return alloc_fails() ? NULL : __libc_calloc(a, b); }
SHIM_API void *realloc(void *p, size_t n) { return alloc_fails() ? NULL : __libc_realloc(p, n); }
#endif

__attribute__((constructor)) static void arm(void)
{
    init();
    armed_malloc = 1;
}

__attribute__((destructor)) static void report_counts(void)
{
    const char *f = getenv("SHIM_COUNT");
    if (!f) return;
    static ssize_t (*real)(int, const void *, size_t);
    real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    int fd = open(f, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return;
    char buf[128];
    int k = snprintf(buf, sizeof buf, "%ld %ld %ld %ld\n", n_write, n_fsync, n_rename, n_malloc);
    real(fd, buf, (size_t)k);
    close(fd);
}
