/* test_owned_fields.c -- the writer and an edit refuse exactly the same
 * manifest paths (one list, src/owned.c): the fields the library writes
 * itself, and nothing else. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "raiiaf.h"

#include <jansson.h>

static const struct {
    const char *pointer;
    int owned;
} paths[] = {
    {"", 1},
    {"/", 1},
    {"/raiiaf_metadata", 1},
    {"/raiiaf_metadata/", 1},
    {"/raiiaf_metadata/file_info", 1},
    {"/raiiaf_metadata/file_info/writer", 1},
    {"/raiiaf_metadata/chunks", 1},
    {"/raiiaf_metadata/chunks/0", 1},
    {"/raiiaf_metadata/tensors", 1},
    {"/raiiaf_metadata/image", 1},
    {"/raiiaf_metadata/image/width", 1},
    {"/raiiaf_metadata/environment", 1},
    {"/raiiaf_metadata/file_info_notes", 0}, /* a prefix of an owned name is not that name */
    {"/raiiaf_metadata/images", 0},
    {"/raiiaf_metadata/model_info/prompt", 0},
    {"/raiiaf_metadata/extensions/org.example/x", 0},
    {"/raiiaf_metadataX", 0},
    {"/foo", 0}, /* beside raiiaf_metadata: the caller's */
};

static void test_writer_and_edit_agree(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *path = tu_path(dir, "f.raiiaf");
    raiiaf_writer *w = NULL;
    assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_env(w, RAIIAF_ENV_NONE), RAIIAF_OK);
    const uint8_t v[2] = {1, 2};
    const uint64_t shape[1] = {2};
    assert_int_equal(raiiaf_writer_add_tensor(w, "t", RAIIAF_U8, 1, shape, v, 2, RAIIAF_CODEC_RAW, 0), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_finish(w), RAIIAF_OK);
    raiiaf_writer_free(w);

    raiiaf_edit *ed = NULL;
    assert_int_equal(raiiaf_edit_open(path, &ed), RAIIAF_OK);
    char *other = tu_path(dir, "g.raiiaf");
    assert_int_equal(raiiaf_writer_new(other, &w), RAIIAF_OK);
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        int rw = raiiaf_writer_set_json(w, paths[i].pointer, "{}");
        int re = raiiaf_edit_set_json(ed, paths[i].pointer, "{}");
        if (paths[i].owned) {
            if (rw != RAIIAF_E_ARG || re != RAIIAF_E_ARG)
                fail_msg("%s: owned, but the writer gave %d and the edit %d", paths[i].pointer, rw, re);
            assert_non_null(strstr(raiiaf_edit_errmsg(ed), "written by the library"));
            assert_non_null(strstr(raiiaf_writer_errmsg(w), "written by the library"));
            assert_int_equal(raiiaf_edit_remove(ed, paths[i].pointer), RAIIAF_E_ARG);
        } else if (rw != RAIIAF_OK || re != RAIIAF_OK) {
            fail_msg("%s: the caller's, but the writer gave %d (%s) and the edit %d (%s)", paths[i].pointer, rw,
                     raiiaf_writer_errmsg(w), re, raiiaf_edit_errmsg(ed));
        }
    }
    /* merging an owned member is refused the same way */
    assert_int_equal(raiiaf_writer_merge_json(w, "{\"raiiaf_metadata\": {\"chunks\": []}}"), RAIIAF_E_ARG);
    raiiaf_writer_free(w);
    raiiaf_edit_free(ed);
    free(other);
    free(path);
    free(dir);
}

static void test_writer_tags(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *path = tu_path(dir, "t.raiiaf");
    raiiaf_writer *w = NULL;
    assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_env(w, RAIIAF_ENV_NONE), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_tag(w, "cat"), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_tag(w, "quote \" and \\ and \n"), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_tag(w, "\xff not utf-8"), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_writer_add_tag(w, NULL), RAIIAF_E_ARG);
    const uint8_t v[1] = {1};
    const uint64_t shape[1] = {1};
    assert_int_equal(raiiaf_writer_add_tensor(w, "t", RAIIAF_U8, 1, shape, v, 1, RAIIAF_CODEC_RAW, 0), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_finish(w), RAIIAF_OK);
    raiiaf_writer_free(w);
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_file(path, 0, &r), RAIIAF_OK);
    json_t *m = json_loads(raiiaf_reader_manifest(r, NULL), 0, NULL);
    json_t *tags = json_object_get(json_object_get(json_object_get(m, "raiiaf_metadata"), "model_info"), "tags");
    assert_int_equal(json_array_size(tags), 2);
    assert_string_equal(json_string_value(json_array_get(tags, 1)), "quote \" and \\ and \n");
    json_decref(m);
    raiiaf_reader_free(r);
    free(path);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writer_and_edit_agree),
        cmocka_unit_test(test_writer_tags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
