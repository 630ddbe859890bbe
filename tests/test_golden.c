/* test_golden.c -- a committed format 2 file that this library must keep
 * reading, and keep writing byte for byte: an accidental change to the
 * layout, the chunk headers, the codecs' framing or the manifest's text
 * fails here.  tests/golden/README.md says how the files were made.
 *
 * Run with RAIIAF_GOLDEN_WRITE=PATH to write the golden file to PATH
 * instead of testing (that is how tests/golden/small.raiiaf was made). */
#include "testutil.h"
#include "reader_impl.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#ifndef RAIIAF_GOLDEN_DIR
#define RAIIAF_GOLDEN_DIR "tests/golden"
#endif

/* The zstd library that wrote tests/golden/small.raiiaf.  zstd promises
 * that its frames stay readable, not that every version compresses to the
 * same bytes; with another version the zstd chunk is compared decoded. */
#define GOLDEN_ZSTD_VERSION 10504 /* 1.5.4 */

#define LAT_N 256 /* float32 (1,4,8,8) */
#define U8_N 15   /* uint8 (3,5) */

static float lat_value(size_t i) { return (float)((int)(i % 17) - 8) * 0.125f + (float)(i / 64) * 0.5f; }
static uint8_t u8_value(size_t i) { return (uint8_t)(i * 17 + 3); }

static unsigned char *golden(const char *name, size_t *size)
{
    char *p = tu_path(RAIIAF_GOLDEN_DIR, name);
    unsigned char *d = tu_read_file(p, size);
    free(p);
    return d;
}

/* The golden file's content; its fixed metadata leaves only
 * file_info/created to the clock. */
static int make_golden(const char *path, char *err, size_t errsize)
{
    size_t pn;
    unsigned char *png = golden("tiny.png", &pn);
    float lat[LAT_N];
    uint8_t u8[U8_N];
    for (size_t i = 0; i < LAT_N; i++) lat[i] = lat_value(i);
    for (size_t i = 0; i < U8_N; i++) u8[i] = u8_value(i);
    static const uint64_t lat_shape[4] = {1, 4, 8, 8}, u8_shape[2] = {3, 5};
    raiiaf_writer *w = NULL;
    int rc = raiiaf_writer_new(path, &w);
    if (!rc) rc = raiiaf_writer_set_env(w, RAIIAF_ENV_NONE); /* the machine must not change the bytes */
    if (!rc) rc = raiiaf_writer_add_image(w, png, pn);
    if (!rc) rc = raiiaf_writer_add_tensor(w, "mask", RAIIAF_U8, 2, u8_shape, u8, sizeof u8, RAIIAF_CODEC_RAW, 0);
    if (!rc) rc = raiiaf_writer_add_tensor(w, "latent", RAIIAF_F32, 4, lat_shape, lat, sizeof lat, RAIIAF_CODEC_ZSTD, 0);
    if (!rc) rc = raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/model_name", "golden-model");
    if (!rc) rc = raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/version", "1.0");
    if (!rc) rc = raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/date", "2024-05-01T12:30:00Z");
    if (!rc) rc = raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/prompt", "a tiny test image");
    if (!rc) rc = raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/negative_prompt", "blurry");
    if (!rc) rc = raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/tags", "[\"golden\", \"test\"]");
    if (!rc)
        rc = raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/generation_settings",
                                    "{\"seed\": 42, \"steps\": 20, \"sampler\": \"euler\", \"cfg_scale\": 7.5,"
                                    " \"width\": 4, \"height\": 3}");
    if (!rc) rc = raiiaf_writer_merge_json(w, "{\"raiiaf_metadata\": {\"extensions\": {\"org.raiiaf.test\": {\"purpose\": \"golden file\"}}}}");
    if (!rc) rc = raiiaf_writer_finish(w);
    if (rc) snprintf(err, errsize, "%s", raiiaf_writer_errmsg(w));
    raiiaf_writer_free(w);
    free(png);
    return rc;
}

static void check_content(raiiaf_reader *r)
{
    assert_int_equal(raiiaf_reader_tensor_count(r), 2);
    assert_int_equal(raiiaf_reader_chunk_count(r), 3);
    raiiaf_tensor_info ti;
    assert_int_equal(raiiaf_reader_tensor_info(r, 0, &ti), RAIIAF_OK);
    assert_string_equal(ti.name, "mask");
    assert_int_equal(ti.dtype, RAIIAF_U8);
    assert_int_equal(ti.rank, 2);
    assert_int_equal(ti.shape[0], 3);
    assert_int_equal(ti.shape[1], 5);
    assert_int_equal(ti.codec, RAIIAF_CODEC_RAW);
    uint8_t u8[U8_N];
    assert_int_equal(raiiaf_reader_read_tensor(r, 0, u8, sizeof u8), RAIIAF_OK);
    for (size_t i = 0; i < U8_N; i++) assert_int_equal(u8[i], u8_value(i));
    assert_int_equal(raiiaf_reader_tensor_info(r, 1, &ti), RAIIAF_OK);
    assert_string_equal(ti.name, "latent");
    assert_int_equal(ti.dtype, RAIIAF_F32);
    assert_int_equal(ti.rank, 4);
    assert_int_equal(ti.shape[0], 1);
    assert_int_equal(ti.shape[1], 4);
    assert_int_equal(ti.shape[2], 8);
    assert_int_equal(ti.shape[3], 8);
    assert_int_equal(ti.codec, RAIIAF_CODEC_ZSTD);
    assert_int_equal(ti.raw_size, LAT_N * 4);
    float lat[LAT_N];
    assert_int_equal(raiiaf_reader_read_tensor(r, 1, lat, sizeof lat), RAIIAF_OK);
    for (size_t i = 0; i < LAT_N; i++)
        if (lat[i] != lat_value(i)) fail_msg("latent[%zu] = %g, expected %g", i, lat[i], lat_value(i));
    size_t pn;
    unsigned char *png = golden("tiny.png", &pn);
    const void *img;
    size_t isize;
    const char *format;
    uint32_t w, h;
    assert_int_equal(raiiaf_reader_image(r, &img, &isize, &format, &w, &h), RAIIAF_OK);
    assert_int_equal(isize, pn);
    assert_memory_equal(img, png, pn);
    assert_string_equal(format, "png");
    assert_int_equal(w, 4);
    assert_int_equal(h, 3);
    free(png);
    assert_int_equal(raiiaf_reader_verify(r, NULL, NULL), RAIIAF_OK);
}

/* The golden file reads as recorded. */
static void test_read_golden(void **state)
{
    (void)state;
    char *path = tu_path(RAIIAF_GOLDEN_DIR, "small.raiiaf");
    raiiaf_reader *r = NULL;
    int rc = raiiaf_reader_open_file(path, 0, &r);
    if (rc) fail_msg("%s: %s", path, raiiaf_reader_errmsg(r));
    unsigned major, minor;
    raiiaf_reader_format(r, &major, &minor);
    assert_int_equal(major, 2);
    assert_int_equal(minor, 0);

    /* the manifest text is exactly what `raiiaf info --json` printed when
     * the file was made, less the newline the CLI adds */
    size_t jn, mlen;
    unsigned char *expect = golden("small.info.json", &jn);
    assert_true(jn > 0 && expect[jn - 1] == '\n');
    const char *text = raiiaf_reader_manifest(r, &mlen);
    if (mlen != jn - 1 || memcmp(text, expect, mlen))
        fail_msg("manifest differs from small.info.json:\n%.*s", (int)mlen, text);
    check_content(r);

    /* the chunk layout the format fixes */
    static const struct { const char *type; uint64_t offset; raiiaf_codec codec; } chunks[] = {
        {"IMAG", 64, RAIIAF_CODEC_RAW}, {"TENS", 64 + 64 + 128, RAIIAF_CODEC_RAW}, {"TENS", 64 + 64 + 128 + 64 + 64, RAIIAF_CODEC_ZSTD}};
    for (size_t i = 0; i < 3; i++) {
        raiiaf_chunk_info ci;
        assert_int_equal(raiiaf_reader_chunk_info(r, i, &ci), RAIIAF_OK);
        assert_string_equal(ci.type, chunks[i].type);
        assert_int_equal(ci.offset, chunks[i].offset);
        assert_int_equal(ci.codec, chunks[i].codec);
    }
    raiiaf_reader_free(r);
    free(expect);
    free(path);
}

/* `raiiaf info --json` prints exactly small.info.json (when the CLI is built). */
static void test_cli_info(void **state)
{
    (void)state;
#ifdef RAIIAF_CLI
    if (access(RAIIAF_CLI, X_OK) != 0) {
        print_message("skipped: %s is not built\n", RAIIAF_CLI);
        return;
    }
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "ASAN_OPTIONS=detect_leaks=0 '%s' info --json '%s/small.raiiaf'", RAIIAF_CLI, RAIIAF_GOLDEN_DIR);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    size_t got;
    while ((got = fread(out + n, 1, cap - n, p)) > 0) {
        n += got;
        if (n == cap) out = realloc(out, cap *= 2);
    }
    assert_int_equal(pclose(p), 0);
    size_t jn;
    unsigned char *expect = golden("small.info.json", &jn);
    if (n != jn || memcmp(out, expect, n)) fail_msg("raiiaf info --json differs from small.info.json:\n%.*s", (int)n, out);
    free(expect);
    free(out);
#else
    print_message("skipped: RAIIAF_CLI not defined\n");
#endif
}

/* Replaces the string value of the first "key": "..." in text with the one
 * in `from`, so two manifests can be compared apart from that field. */
static void adopt_value(char *text, const char *from, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": \"", key);
    char *a = strstr(text, pat);
    const char *b = strstr(from, pat);
    assert_non_null(a);
    assert_non_null(b);
    a += strlen(pat);
    b += strlen(pat);
    size_t la = strcspn(a, "\""), lb = strcspn(b, "\"");
    assert_int_equal(la, lb); /* same length: an ISO date, a version string */
    memcpy(a, b, la);
}

/* Writing the same content again gives the same bytes. */
static void test_rewrite_matches(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *path = tu_path(dir, "again.raiiaf");
    char err[512];
    if (make_golden(path, err, sizeof err)) fail_msg("writing: %s", err);
    size_t gn, an;
    unsigned char *g = golden("small.raiiaf", &gn);
    unsigned char *a = tu_read_file(path, &an);
    raiiaf_reader *rg = NULL, *ra = NULL;
    assert_int_equal(raiiaf_reader_open_memory(g, gn, 0, &rg), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_open_memory(a, an, 0, &ra), RAIIAF_OK);
    check_content(ra);

    /* Everything before the manifest: header, image, tensors, padding. */
    uint64_t cut = rg->manifest_off;
    raiiaf_chunk_info zc;
    assert_int_equal(raiiaf_reader_chunk_info(rg, 2, &zc), RAIIAF_OK);
    if (ZSTD_versionNumber() != GOLDEN_ZSTD_VERSION) {
        print_message("zstd %u wrote the golden file, this is %u: comparing the zstd chunk decoded\n",
                      GOLDEN_ZSTD_VERSION, ZSTD_versionNumber());
        cut = zc.offset;
    } else {
        assert_int_equal(ra->manifest_off, rg->manifest_off);
    }
    for (uint64_t i = 0; i < cut; i++)
        if (a[i] != g[i]) fail_msg("byte %llu differs from the golden file (0x%02x, golden 0x%02x)", (unsigned long long)i, a[i], g[i]);
    /* the zstd chunk's header agrees except for sizes and CRCs */
    assert_memory_equal(a + zc.offset, g + zc.offset, 16);

    /* The manifest text is the same apart from the time of writing (and the
     * writer's version string, which a release may change). */
    size_t mg, ma;
    const char *tg = raiiaf_reader_manifest(rg, &mg);
    char *ta = strdup(raiiaf_reader_manifest(ra, &ma));
    adopt_value(ta, tg, "created");
    adopt_value(ta, tg, "writer");
    if (ZSTD_versionNumber() == GOLDEN_ZSTD_VERSION) {
        if (ma != mg || memcmp(ta, tg, mg)) fail_msg("manifest text changed:\n%s\n---- golden:\n%s", ta, tg);
    } else {
        /* sizes, CRCs and offsets of the zstd chunk may differ; compare
         * the rest of the manifest as JSON */
        json_t *jg = json_loads(tg, 0, NULL), *ja = json_loads(ta, 0, NULL);
        json_t *cg = json_object_get(json_object_get(jg, "raiiaf_metadata"), "chunks");
        json_t *ca = json_object_get(json_object_get(ja, "raiiaf_metadata"), "chunks");
        json_t *zg = json_array_get(cg, 2), *za = json_array_get(ca, 2);
        json_object_del(zg, "stored_size");
        json_object_del(za, "stored_size");
        json_object_del(zg, "crc32c");
        json_object_del(za, "crc32c");
        assert_true(json_equal(jg, ja));
        json_decref(jg);
        json_decref(ja);
    }
    free(ta);
    /* the footer holds no time: identical */
    assert_memory_equal(a + an - 64 + 16, g + gn - 64 + 16, 44);
    if (ZSTD_versionNumber() == GOLDEN_ZSTD_VERSION) assert_memory_equal(a + an - 64, g + gn - 64, 64);

    raiiaf_reader_free(rg);
    raiiaf_reader_free(ra);
    free(g);
    free(a);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

int main(void)
{
    const char *out = getenv("RAIIAF_GOLDEN_WRITE");
    if (out && *out) {
        char err[512];
        if (make_golden(out, err, sizeof err)) {
            fprintf(stderr, "test_golden: %s\n", err);
            return 1;
        }
        fprintf(stderr, "test_golden: wrote %s (zstd %u)\n", out, ZSTD_versionNumber());
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_golden),
        cmocka_unit_test(test_cli_info),
        cmocka_unit_test(test_rewrite_matches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
