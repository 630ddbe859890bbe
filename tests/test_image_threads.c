/* test_image_threads.c -- the image checked on a second thread: by the
 * writer (raiiaf_writer_set_threads) and by verify (raiiaf_reader_set_threads).
 * A bad image must fail the same call every time (add_image with one
 * thread, finish with two, never "sometimes"), leave no file behind, and
 * verify must report the same problems in the same order either way. */
#include "testutil.h"
#include "internal.h"

#include <zlib.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "raiiaf.h"

static uint32_t be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* sd-webui.png with one bit of its first IDAT's data flipped and that
 * chunk's CRC resealed (zlib's crc32): only decoding the pixel data can
 * tell.  The flipped bit is chosen so that the zlib stream is then corrupt. */
static unsigned char *bad_pixels_png(size_t *n)
{
    unsigned char *d = tu_read_data("sd-webui.png", n);
    size_t pos = 8;
    while (memcmp(d + pos + 4, "IDAT", 4)) pos += 12 + be32(d + pos);
    uint32_t len = be32(d + pos);
    for (size_t k = 0; k < 64; k++) d[pos + 8 + len / 2 + k] ^= 0xFF; /* 64 bytes inverted mid-stream */
    uint32_t crc = (uint32_t)crc32(0, d + pos + 4, len + 4);
    unsigned char *c = d + pos + 8 + len;
    c[0] = (unsigned char)(crc >> 24), c[1] = (unsigned char)(crc >> 16), c[2] = (unsigned char)(crc >> 8),
    c[3] = (unsigned char)crc;
    return d;
}

static void add_latent(raiiaf_writer *w)
{
    static float v[4 * 32 * 32];
    uint64_t rng = 7;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) v[i] = tu_randn(&rng);
    const uint64_t shape[4] = {1, 4, 32, 32};
    assert_int_equal(raiiaf_writer_add_tensor(w, "final", RAIIAF_F32, 4, shape, v, sizeof v, RAIIAF_CODEC_AUTO, 0), RAIIAF_OK);
}

static void set_meta(raiiaf_writer *w)
{
    assert_int_equal(raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/model_name", "m"), RAIIAF_OK);
}

static void test_writer_bad_image(void **state)
{
    (void)state;
    size_t n;
    unsigned char *png = bad_pixels_png(&n);
    char *dir = tu_tempdir();
    char *path = tu_path(dir, "out.raiiaf");

    /* One thread: add_image refuses it. */
    raiiaf_writer *w;
    assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_image(w, png, n), RAIIAF_E_IMAGE);
    assert_non_null(strstr(raiiaf_writer_errmsg(w), "PNG: image data"));
    char one[RF_ERRMSG_SIZE];
    snprintf(one, sizeof one, "%s", raiiaf_writer_errmsg(w));
    raiiaf_writer_free(w);

    /* Two threads, ten times: add_image accepts the structure, finish
     * always reports the very same message, and no file appears. */
    for (int k = 0; k < 10; k++) {
        assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
        assert_int_equal(raiiaf_writer_set_threads(w, 2), RAIIAF_OK);
        set_meta(w);
        assert_int_equal(raiiaf_writer_add_image(w, png, n), RAIIAF_OK);
        add_latent(w);
        assert_int_equal(raiiaf_writer_finish(w), RAIIAF_E_IMAGE);
        assert_string_equal(raiiaf_writer_errmsg(w), one);
        assert_int_equal(raiiaf_writer_finish(w), RAIIAF_E_IMAGE); /* and again */
        raiiaf_writer_free(w);
        assert_int_equal(access(path, F_OK), -1);
    }

    /* Freed while the check may still run: nothing leaks (ASan). */
    assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_threads(w, 2), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_image(w, png, n), RAIIAF_OK);
    raiiaf_writer_free(w);

    /* A structural fault is still add_image's, with two threads too. */
    assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_threads(w, 2), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_image(w, png, n - 1), RAIIAF_E_IMAGE);
    assert_non_null(strstr(raiiaf_writer_errmsg(w), "PNG: "));
    assert_int_equal(raiiaf_writer_set_threads(w, 0), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_writer_set_threads(w, 3), RAIIAF_E_ARG);
    raiiaf_writer_free(w);
    assert_int_equal(raiiaf_writer_set_threads(NULL, 2), RAIIAF_E_ARG);

    free(png);
    free(path);
    free(dir);
}

/* Good images of each format through a two-thread writer, then verify
 * with one and two threads. */
static void test_writer_good_images(void **state)
{
    (void)state;
    static const char *const files[] = {"sd-webui.png", "sd-webui.jpg", "sd-webui.webp"};
    for (size_t i = 0; i < 3; i++) {
        size_t n;
        unsigned char *img = tu_read_data(files[i], &n);
        raiiaf_writer *w;
        assert_int_equal(raiiaf_writer_new_memory(&w), RAIIAF_OK);
        assert_int_equal(raiiaf_writer_set_threads(w, 2), RAIIAF_OK);
        set_meta(w);
        assert_int_equal(raiiaf_writer_add_image(w, img, n), RAIIAF_OK);
        add_latent(w);
        if (raiiaf_writer_finish(w)) fail_msg("%s: %s", files[i], raiiaf_writer_errmsg(w));
        const void *data;
        size_t size;
        assert_int_equal(raiiaf_writer_memory(w, &data, &size), RAIIAF_OK);
        for (unsigned t = 1; t <= 2; t++) {
            raiiaf_reader *r;
            assert_int_equal(raiiaf_reader_open_memory(data, size, 0, &r), RAIIAF_OK);
            assert_int_equal(raiiaf_reader_set_threads(r, t), RAIIAF_OK);
            assert_int_equal(raiiaf_reader_verify(r, NULL, NULL), RAIIAF_OK);
            assert_int_equal(raiiaf_reader_set_threads(r, 5), RAIIAF_E_ARG);
            raiiaf_reader_free(r);
        }
        raiiaf_writer_free(w);
        free(img);
    }
}

typedef struct reports {
    char text[4096];
} reports;

static void collect(void *ctx, int status, const char *message)
{
    reports *r = ctx;
    size_t used = strlen(r->text);
    snprintf(r->text + used, sizeof r->text - used, "%d %s\n", status, message);
}

/* A file whose image and tensor are both damaged: the same reports, in the
 * same order, with one thread and with two. */
static void test_verify_same_reports(void **state)
{
    (void)state;
    size_t n;
    unsigned char *img = tu_read_data("sd-webui.png", &n);
    raiiaf_writer *w;
    assert_int_equal(raiiaf_writer_new_memory(&w), RAIIAF_OK);
    set_meta(w);
    assert_int_equal(raiiaf_writer_add_image(w, img, n), RAIIAF_OK);
    add_latent(w);
    assert_int_equal(raiiaf_writer_finish(w), RAIIAF_OK);
    const void *data;
    size_t size;
    assert_int_equal(raiiaf_writer_memory(w, &data, &size), RAIIAF_OK);
    unsigned char *copy = malloc(size);
    assert_non_null(copy);
    memcpy(copy, data, size);
    /* The image chunk starts at 64 (after the header); its payload at 128.
     * Damage the image's middle and the tensor, which follows the image. */
    copy[128 + n / 2] ^= 0x10;
    copy[128 + n + 200] ^= 0x10;
    reports rep[2];
    for (unsigned t = 1; t <= 2; t++) {
        memset(&rep[t - 1], 0, sizeof rep[t - 1]);
        raiiaf_reader *r;
        assert_int_equal(raiiaf_reader_open_memory(copy, size, 0, &r), RAIIAF_OK);
        assert_int_equal(raiiaf_reader_set_threads(r, t), RAIIAF_OK);
        assert_int_not_equal(raiiaf_reader_verify(r, collect, &rep[t - 1]), RAIIAF_OK);
        raiiaf_reader_free(r);
    }
    assert_non_null(strstr(rep[0].text, "IMAG"));
    assert_string_equal(rep[0].text, rep[1].text);
    free(copy);
    raiiaf_writer_free(w);
    free(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writer_bad_image),
        cmocka_unit_test(test_writer_good_images),
        cmocka_unit_test(test_verify_same_reports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
