/* util.c -- helpers shared by the raiiaf commands. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The length of a valid UTF-8 sequence at s (1-4; the shortest form, no
 * surrogates), or 0. */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80) return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0)) return 0;
        return 3;
    }
    if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
        if ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90)) return 0;
        return 4;
    }
    return 0;
}

static const char *safe_text(const char *s, size_t n, int indent)
{
    /* A ring of results, so several may appear in one printf; each is
     * freed when its slot comes round again. */
    static char *ring[8];
    static unsigned next;
    if (!s) return NULL;
    size_t pad = indent > 0 ? (size_t)indent : 0;
    /* worst case: every byte a 4-byte \xHH, or a newline and its indent */
    size_t cap = n * (4 > pad + 1 ? 4 : pad + 1) + 1;
    char *out = malloc(cap), *o = out;
    if (!out) return "(out of memory)";
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) { /* a NUL inside (format 1's \u0000) shows as \x00 */
        size_t k = utf8_len(p);
        if (k > (size_t)(end - p)) k = 0;
        uint32_t c = k == 2 ? (uint32_t)(p[0] & 0x1F) << 6 | (p[1] & 0x3F)
                   : k == 3 ? (uint32_t)(p[0] & 0x0F) << 12 | (uint32_t)(p[1] & 0x3F) << 6 | (p[2] & 0x3F)
                            : p[0];
        if (*p == '\n' && indent >= 0) {
            *o++ = '\n';
            memset(o, ' ', pad);
            o += pad;
            p++;
        } else if (k == 0 || (k == 1 && ((*p < 0x20 && *p != '\t') || *p == 0x7f))) {
            o += sprintf(o, "\\x%02x", *p);
            p++;
        } else if ((k == 2 && c >= 0x80 && c <= 0x9f) || (k == 3 && ((c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069)))) {
            o += sprintf(o, "\\u%04x", (unsigned)c); /* 6 bytes for 2 or 3: within the cap */
            p += k;
        } else {
            memcpy(o, p, k);
            o += k;
            p += k;
        }
    }
    *o = '\0';
    free(ring[next]);
    ring[next] = out;
    next = (next + 1) % 8;
    return out;
}

const char *cli_safe(const char *s) { return s ? safe_text(s, strlen(s), -1) : NULL; }

const char *cli_safe_lines(const char *s, int indent) { return s ? safe_text(s, strlen(s), indent < 0 ? 0 : indent) : NULL; }

const char *cli_safe_lines_n(const char *s, size_t n, int indent) { return safe_text(s, n, indent < 0 ? 0 : indent); }

void cli_err(const char *fmt, ...)
{
    /* Messages quote file content (names, keys, library messages): made
     * safe like any other human-readable output. */
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    /* Commands put the file name before a library message, and the library
     * names the file itself in some (cannot open, cannot write): say it
     * once, not "x.raiiaf: x.raiiaf: cannot open". */
    const char *msg = buf;
    for (const char *sep = strstr(buf, ": "); sep; sep = strstr(sep + 2, ": ")) {
        size_t k = (size_t)(sep - buf);
        if (!strncmp(sep + 2, buf, k) && sep[2 + k] == ':') {
            msg = sep + 2;
            break;
        }
    }
    fprintf(stderr, "raiiaf: %s\n", cli_safe(msg));
}

int cli_exit_for_input(int status)
{
    switch (status) {
    case RAIIAF_OK: return EXIT_OK;
    case RAIIAF_E_NOMEM: return EXIT_SYSTEM;
    default: return EXIT_INPUT;
    }
}

int cli_exit_for_output(int status)
{
    switch (status) {
    case RAIIAF_OK: return EXIT_OK;
    case RAIIAF_E_IO:
    case RAIIAF_E_NOMEM: return EXIT_SYSTEM;
    default: return EXIT_INPUT;
    }
}

int cli_exit_for_update(int status, const char *input, const char *input2)
{
    switch (status) {
    case RAIIAF_OK: return EXIT_OK;
    case RAIIAF_E_BUSY: return EXIT_BUSY;
    case RAIIAF_E_NOMEM: return EXIT_SYSTEM;
    case RAIIAF_E_IO:
        /* The library reports both failures as RAIIAF_E_IO: tell an input
         * that cannot be read from a failed write by looking at it. */
        if ((input && access(input, R_OK) != 0) || (input2 && access(input2, R_OK) != 0)) return EXIT_INPUT;
        return EXIT_SYSTEM;
    default: return EXIT_INPUT;
    }
}

int cli_read_file(const char *path, unsigned char **data, size_t *size, char *err, size_t errsize)
{
    *data = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errsize, "%s: cannot open: %s", path, strerror(errno));
        return RAIIAF_E_IO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errsize, "%s: not a regular file", path);
        close(fd);
        return RAIIAF_E_IO;
    }
    size_t n = (size_t)st.st_size;
    unsigned char *buf = malloc(n + 1);
    if (!buf) {
        snprintf(err, errsize, "%s: out of memory for %zu bytes", path, n);
        close(fd);
        return RAIIAF_E_NOMEM;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            snprintf(err, errsize, "%s: read failed: %s", path, r < 0 ? strerror(errno) : "file shrank while reading");
            free(buf);
            close(fd);
            return RAIIAF_E_IO;
        }
        got += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *data = buf;
    *size = n;
    return RAIIAF_OK;
}

int cli_write_file(const char *path, const void *data, size_t size, char *err, size_t errsize)
{
    return raiiaf_write_file(path, data, size, err, errsize);
}

int cli_opt(int argc, char **argv, int *i, const char *name, const char **value)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n)) return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != '\0') return 0;
    if (*i + 1 >= argc) {
        cli_err("%s needs a value", name);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

int cli_parse_u64(const char *s, unsigned long long *out)
{
    if (!s || !*s || *s == '-' || *s == '+') return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

int cli_parse_double(const char *s, double *out)
{
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

int cli_parse_size(const char *s, unsigned long long *out)
{
    if (!s || !*s || *s == '-' || *s == '+') return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s) return -1;
    static const char units[] = "KMGT";
    unsigned shift = 0;
    if (*end) {
        const char *u = strchr(units, *end >= 'a' && *end <= 'z' ? *end - 32 : *end);
        if (!u) return -1;
        shift = 10u * (unsigned)(u - units + 1);
        end++;
        if (!strcmp(end, "iB") || !strcmp(end, "B")) end += strlen(end);
        if (*end) return -1;
        if (v > (~0ULL >> shift)) return -1;
    }
    *out = v << shift;
    return 0;
}

int cli_decode_init(cli_decode *d)
{
    d->set = 0;
    d->bytes = 0;
    const char *v = getenv("RAIIAF_MAX_DECODE");
    if (!v || !*v) return 0;
    if (cli_parse_size(v, &d->bytes)) {
        cli_err("RAIIAF_MAX_DECODE: '%s' is not a size in bytes (a number, optionally with K, M, G or T; 0: no limit)", v);
        return -1;
    }
    d->set = 1;
    return 0;
}

int cli_opt_max_decode(int argc, char **argv, int *i, cli_decode *d)
{
    const char *v;
    int k = cli_opt(argc, argv, i, "--max-decode", &v);
    if (k <= 0) return k;
    if (cli_parse_size(v, &d->bytes)) {
        cli_err("--max-decode: '%s' is not a size in bytes (a number, optionally with K, M, G or T; 0: no limit)", v);
        return -1;
    }
    d->set = 1;
    return 1;
}

int cli_reader_open(const char *path, unsigned flags, uint32_t version, const cli_decode *d, raiiaf_reader **out)
{
    int rc = raiiaf_reader_new(flags, out);
    if (rc) return rc;
    if (version) rc = raiiaf_reader_set_version(*out, version);
    if (!rc && d && d->set) rc = raiiaf_reader_set_decode_limit(*out, d->bytes);
    return rc ? rc : raiiaf_reader_open(*out, path);
}
