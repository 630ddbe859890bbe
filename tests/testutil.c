/* testutil.c -- helpers shared by the C tests. */
#include "testutil.h"
#include "codec.h"
#include "format.h"

#include <jansson.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

unsigned char *tu_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
    assert_non_null(buf);
    if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) fail_msg("cannot read %s", path);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

unsigned char *tu_read_data(const char *name, size_t *size)
{
    char *p = tu_path(RAIIAF_TEST_DATA, name);
    unsigned char *b = tu_read_file(p, size);
    free(p);
    return b;
}

void tu_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot create %s", path);
    if (size && fwrite(data, 1, size, f) != size) fail_msg("cannot write %s", path);
    if (fclose(f) != 0) fail_msg("cannot close %s", path);
}

char *tu_tempdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/raiiaf-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpl)) fail_msg("mkdtemp failed");
    return strdup(tmpl);
}

char *tu_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

uint64_t tu_rand(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

float tu_randn(uint64_t *s)
{
    double u1 = ((tu_rand(s) >> 11) + 1.0) / 9007199254740993.0;
    double u2 = (tu_rand(s) >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

unsigned char *tu_replace_manifest(const unsigned char *f, size_t size, void (*edit)(json_t *m, void *ctx), void *ctx,
                                   size_t *out_size)
{
    uint64_t moff = rf_le64(f + size - 64 + 8);
    const unsigned char *mh = f + moff;
    size_t stored = (size_t)rf_le64(mh + 16), raw = (size_t)rf_le64(mh + 24);
    char *text = malloc(raw + 1);
    rf_err e;
    assert_non_null(text);
    assert_int_equal(rf_planes_decode(mh + 64, stored, text, raw, 1, "manifest", &e), RAIIAF_OK);
    json_t *m = json_loadb(text, raw, 0, NULL);
    assert_non_null(m);
    free(text);
    if (edit) edit(m, ctx);
    char *nt = json_dumps(m, JSON_INDENT(1));
    json_decref(m);
    assert_non_null(nt);
    unsigned char *p;
    size_t pn;
    assert_int_equal(rf_planes_encode(nt, strlen(nt), 1, 3, &p, &pn, &e), RAIIAF_OK);
    size_t total = (size_t)moff + 64 + (size_t)rf_align_up(pn) + 64;
    unsigned char *o = calloc(1, total);
    assert_non_null(o);
    memcpy(o, f, (size_t)moff);
    rf_chunk_header(o + moff, "MANI", RF_CODEC_ZSTD, (unsigned)rf_le32(mh + 8), pn, strlen(nt), rf_crc32c(0, p, pn));
    memcpy(o + moff + 64, p, pn);
    unsigned char *ft = o + total - 64;
    memcpy(ft, f + size - 64, 64);
    rf_put32(ft + 60, rf_crc32c(0, ft, 60));
    free(nt);
    free(p);
    *out_size = total;
    return o;
}
