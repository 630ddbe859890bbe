/* test_realworld.c -- the acceptance check of the format on real generator
 * images: for each image in tests/data with a (1,4,128,128) float32 latent,
 * create -> read gives byte-identical image and bit-identical tensor, verify
 * passes, and 1,000 random single-bit flips each make verify fail while
 * reading never returns data that differs from the original without an
 * error. */
#include "testutil.h"

#include "raiiaf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLIPS 1000
#define LATENT_COUNT (1 * 4 * 128 * 128)

static const char *const images[] = {
    "sd-webui.png", "forge.png", "comfyui.png", "invokeai.png", "novelai-full.png", "swarmui.png",
    "ruined-fooocus.png", "empty.png", "sd-webui.jpg", "comfyui-saveimage-plus.jpg", "sd-webui.webp",
    "comfyui-saveimage-plus.webp",
};

/* Reads the image and tensor; each must fail or equal the original. */
static void check_reads(raiiaf_reader *r, const unsigned char *img, size_t img_size, const float *latent, float *scratch)
{
    const void *data;
    size_t size;
    if (raiiaf_reader_image(r, &data, &size, NULL, NULL, NULL) == RAIIAF_OK) {
        assert_int_equal(size, img_size);
        assert_memory_equal(data, img, img_size);
    }
    size_t idx;
    if (raiiaf_reader_find_tensor(r, "initial_noise", &idx) == RAIIAF_OK &&
        raiiaf_reader_read_tensor(r, idx, scratch, sizeof(float) * LATENT_COUNT) == RAIIAF_OK)
        assert_memory_equal(scratch, latent, sizeof(float) * LATENT_COUNT);
}

static void one_image(const char *name, const char *dir, uint64_t seed)
{
    size_t img_size;
    unsigned char *img = tu_read_data(name, &img_size);
    float *latent = malloc(sizeof(float) * LATENT_COUNT), *scratch = malloc(sizeof(float) * LATENT_COUNT);
    assert_non_null(latent);
    assert_non_null(scratch);
    for (size_t i = 0; i < LATENT_COUNT; i++) latent[i] = tu_randn(&seed);

    char *path = tu_path(dir, "rw.raiiaf");
    uint64_t shape[] = {1, 4, 128, 128};
    raiiaf_writer *w = NULL;
    assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_image(w, img, img_size), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_tensor(w, "initial_noise", RAIIAF_F32, 4, shape, latent,
                                              sizeof(float) * LATENT_COUNT, RAIIAF_CODEC_AUTO, 0), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/prompt", "a cat on a sofa"), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/generation_settings/seed", "42"), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_finish(w), RAIIAF_OK);
    raiiaf_writer_free(w);

    size_t size;
    unsigned char *file = tu_read_file(path, &size);
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_memory(file, size, 0, &r), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_verify(r, NULL, NULL), RAIIAF_OK);
    const void *data;
    size_t got;
    assert_int_equal(raiiaf_reader_image(r, &data, &got, NULL, NULL, NULL), RAIIAF_OK);
    assert_int_equal(got, img_size);
    assert_memory_equal(data, img, img_size);
    size_t idx;
    assert_int_equal(raiiaf_reader_find_tensor(r, "initial_noise", &idx), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_read_tensor(r, idx, scratch, sizeof(float) * LATENT_COUNT), RAIIAF_OK);
    assert_memory_equal(scratch, latent, sizeof(float) * LATENT_COUNT);
    raiiaf_reader_free(r);

    unsigned detected_at_open = 0;
    for (int k = 0; k < FLIPS; k++) {
        uint64_t bit = tu_rand(&seed) % ((uint64_t)size * 8);
        file[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        r = NULL;
        if (raiiaf_reader_open_memory(file, size, 0, &r) != RAIIAF_OK) {
            assert_true(raiiaf_reader_errmsg(r)[0] != '\0');
            detected_at_open++;
        } else {
            if (raiiaf_reader_verify(r, NULL, NULL) == RAIIAF_OK)
                fail_msg("%s: flipping bit %llu (byte %llu) went unnoticed by verify", name,
                         (unsigned long long)(bit % 8), (unsigned long long)(bit / 8));
            raiiaf_reader_free(r);
            r = NULL;
            assert_int_equal(raiiaf_reader_open_memory(file, size, 0, &r), RAIIAF_OK);
            check_reads(r, img, img_size, latent, scratch);
        }
        raiiaf_reader_free(r);
        file[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
    print_message("%-28s %8zu bytes: %d flips detected (%u at open)\n", name, size, FLIPS, detected_at_open);
    free(file);
    free(path);
    free(img);
    free(latent);
    free(scratch);
}

static void test_every_real_image(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    for (size_t i = 0; i < sizeof images / sizeof images[0]; i++) one_image(images[i], dir, 0x5EED0000u + i);
    char *p = tu_path(dir, "rw.raiiaf");
    remove(p);
    remove(dir);
    free(p);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_every_real_image)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
