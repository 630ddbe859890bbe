/* test_sign_scope.c -- what a signature covers (issue 17 item 8): anything
 * a later version changes, anywhere in the manifest, shows as "edited
 * since"; only versions that add signatures keep it valid. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raiiaf.h"
#include "reader_impl.h" /* the edit handle's manifest, to change what the API refuses */

static char *dir, *key, *pub;

static char *signed_file(const char *name)
{
    char *path = tu_path(dir, name);
    raiiaf_writer *w = NULL;
    assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_env(w, RAIIAF_ENV_NONE), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/prompt", "a cat"), RAIIAF_OK);
    const uint8_t v[4] = {1, 2, 3, 4};
    const uint64_t shape[1] = {4};
    assert_int_equal(raiiaf_writer_add_tensor(w, "t", RAIIAF_U8, 1, shape, v, 4, RAIIAF_CODEC_RAW, 0), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_finish(w), RAIIAF_OK);
    raiiaf_writer_free(w);
    char err[256];
    assert_int_equal(raiiaf_sign(path, key, NULL, err, sizeof err), RAIIAF_OK);
    return path;
}

static raiiaf_sig_state state_of(const char *path, raiiaf_signature_info *info)
{
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_file(path, 0, &r), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_signature(r, pub, info), RAIIAF_OK);
    raiiaf_reader_free(r);
    return info->state;
}

static int setup(void **state)
{
    (void)state;
    dir = tu_tempdir();
    key = tu_path(dir, "k.key");
    char err[256];
    assert_int_equal(raiiaf_keygen(key, err, sizeof err), RAIIAF_OK);
    size_t n = strlen(key) + 5;
    pub = malloc(n);
    snprintf(pub, n, "%s.pub", key);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(pub);
    free(key);
    free(dir);
    return 0;
}

static void test_signatures_only_keep_it_valid(void **state)
{
    (void)state;
    char *path = signed_file("ok.raiiaf");
    raiiaf_signature_info info;
    assert_int_equal(state_of(path, &info), RAIIAF_SIG_VALID);
    char err[256];
    assert_int_equal(raiiaf_sign(path, key, NULL, err, sizeof err), RAIIAF_OK); /* a second signature */
    assert_int_equal(state_of(path, &info), RAIIAF_SIG_VALID);
    free(path);
}

/* An appended version that changes nothing but the bookkeeping (writer,
 * modified, version) and adds no signature: edited. */
static void test_unsigned_version_is_an_edit(void **state)
{
    (void)state;
    char *path = signed_file("empty-edit.raiiaf");
    raiiaf_edit *ed = NULL;
    assert_int_equal(raiiaf_edit_open(path, &ed), RAIIAF_OK);
    assert_int_equal(raiiaf_edit_commit(ed), RAIIAF_OK);
    raiiaf_edit_free(ed);
    raiiaf_signature_info info;
    assert_int_equal(state_of(path, &info), RAIIAF_SIG_EDITED);
    assert_non_null(strstr(info.message, "edited since"));
    free(path);
}

/* Members beside raiiaf_metadata, and file_info members an edit does not
 * write itself, are covered too. */
static void test_every_member_is_covered(void **state)
{
    (void)state;
    static const char *const cases[] = {"top-level", "created", "writer-only"};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char name[64];
        snprintf(name, sizeof name, "%s.raiiaf", cases[c]);
        char *path = signed_file(name);
        raiiaf_edit *ed = NULL;
        assert_int_equal(raiiaf_edit_open(path, &ed), RAIIAF_OK);
        json_t *fi = json_object_get(json_object_get(ed->manifest, "raiiaf_metadata"), "file_info");
        if (c == 0) assert_int_equal(raiiaf_edit_set_json(ed, "/evil", "{\"x\": 1}"), RAIIAF_OK);
        if (c == 1) json_object_set_new(fi, "created", json_string("1999-01-01T00:00:00Z"));
        /* A SIGN chunk record appended too: the step must still be refused
         * when anything else changed. */
        if (c == 2) assert_int_equal(raiiaf_edit_add_chunk(ed, "SIGN", "{}", 2), RAIIAF_OK);
        if (c == 2) json_object_set_new(json_object_get(ed->manifest, "raiiaf_metadata"), "extensions",
                                        json_pack("{s:{s:s}}", "org.evil", "writer", "EvilCorp 9.9"));
        assert_int_equal(raiiaf_edit_commit(ed), RAIIAF_OK);
        raiiaf_edit_free(ed);
        raiiaf_signature_info info;
        raiiaf_reader *r = NULL;
        assert_int_equal(raiiaf_reader_open_file(path, 0, &r), RAIIAF_OK);
        assert_int_equal(raiiaf_reader_signature(r, pub, &info), RAIIAF_OK);
        raiiaf_reader_free(r);
        if (c == 2) {
            /* the newest SIGN chunk is not a signature: invalid, never valid */
            assert_int_not_equal(info.state, RAIIAF_SIG_VALID);
        } else if (info.state != RAIIAF_SIG_EDITED) {
            fail_msg("%s: signature state %d (%s), expected edited", cases[c], info.state, info.message);
        }
        free(path);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signatures_only_keep_it_valid),
        cmocka_unit_test(test_unsigned_version_is_an_edit),
        cmocka_unit_test(test_every_member_is_covered),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
