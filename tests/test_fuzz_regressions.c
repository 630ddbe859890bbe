/* test_fuzz_regressions.c -- replays every input that ever crashed a fuzz
 * harness (fuzz/regressions/NAME/) and the seed corpora through the normal
 * (checksum-enforcing) build, under the test suite's sanitizers: each must
 * be handled without a crash, and the seeds must still be valid files. */
#include "testutil.h"

#include "interop.h"
#include "raiiaf.h"
#include "raiiaf.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef RAIIAF_SOURCE_DIR
#define RAIIAF_SOURCE_DIR RAIIAF_TEST_DATA "/../.."
#endif

typedef int (*replay_fn)(const unsigned char *data, size_t size);

static int replay_reader(const unsigned char *data, size_t size)
{
    raiiaf_reader *r = NULL;
    int rc = raiiaf_reader_open_memory(data, size, 0, &r);
    if (rc == RAIIAF_OK) {
        for (size_t i = 0; i < raiiaf_reader_tensor_count(r); i++) {
            raiiaf_tensor_info t;
            if (raiiaf_reader_tensor_info(r, i, &t) || t.raw_size > (64u << 20)) continue;
            void *buf = malloc(t.raw_size + 1);
            assert_non_null(buf);
            raiiaf_reader_read_tensor(r, i, buf, (size_t)t.raw_size);
            free(buf);
        }
        rc = raiiaf_reader_verify(r, NULL, NULL);
    }
    assert_true(rc == RAIIAF_OK || raiiaf_reader_errmsg(r)[0] != '\0');
    raiiaf_reader_free(r);
    return rc;
}

static int replay_schema(const unsigned char *data, size_t size)
{
    char msg[256];
    int rc = raiiaf_validate_manifest((const char *)data, size, msg, sizeof msg);
    assert_true(rc == RAIIAF_OK || msg[0] != '\0');
    return rc;
}

static int replay_npy(const unsigned char *data, size_t size)
{
    raiiaf_array a;
    char err[256];
    int rc = raiiaf_npy_parse(data, size, &a, err, sizeof err);
    assert_true(rc == RAIIAF_OK || err[0] != '\0');
    return rc;
}

/* The importer's metadata readers (fuzz_pngtext): any image bytes give a
 * list or a message, never a crash. */
static int replay_pngtext(const unsigned char *data, size_t size)
{
    char err[256];
    meta_list l;
    int rc = meta_collect(data, size, &l, err, sizeof err);
    assert_true(rc == RAIIAF_OK || err[0] != '\0');
    meta_list_free(&l);
    return rc;
}

/* Runs fn over every file in dir; returns how many succeeded (-1: no dir). */
static int replay_dir(const char *dir, replay_fn fn, unsigned *files)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int ok = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *p = tu_path(dir, e->d_name);
        size_t n;
        unsigned char *buf = tu_read_file(p, &n);
        if (fn(buf, n) == RAIIAF_OK) ok++;
        (*files)++;
        free(buf);
        free(p);
    }
    closedir(d);
    return ok;
}

static void replay(const char *harness, replay_fn fn, int seeds_must_pass)
{
    char dir[4096];
    unsigned files = 0, seed_files = 0;
    snprintf(dir, sizeof dir, "%s/fuzz/regressions/%s", RAIIAF_SOURCE_DIR, harness);
    replay_dir(dir, fn, &files);
    snprintf(dir, sizeof dir, "%s/fuzz/corpus/%s", RAIIAF_SOURCE_DIR, harness);
    int ok = replay_dir(dir, fn, &seed_files);
    assert_true(seed_files > 0);
    if (seeds_must_pass) assert_int_equal(ok, (int)seed_files);
    print_message("%s: %u regression inputs, %u seeds (%d valid)\n", harness, files, seed_files, ok);
}

static void test_reader(void **s) { (void)s; replay("fuzz_reader", replay_reader, 1); }
static void test_schema(void **s) { (void)s; replay("fuzz_schema", replay_schema, 1); }
/* The pngtext seeds are real images; a regression input need not be one. */
static void test_pngtext(void **s) { (void)s; replay("fuzz_pngtext", replay_pngtext, 0); }
/* The npy seeds include deliberately invalid files (Fortran order, object). */
static void test_npy(void **s) { (void)s; replay("fuzz_npy", replay_npy, 0); }

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_reader), cmocka_unit_test(test_schema), cmocka_unit_test(test_npy),
                                       cmocka_unit_test(test_pngtext)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
