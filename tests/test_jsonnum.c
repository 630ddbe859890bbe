/* test_jsonnum.c -- integers to 2^64-1 exactly (issue 14, defect 1) and the
 * Python json dialect of format 1: parsing, writing, the schema, and a
 * seed's way through writer, manifest, reader, edit and validation.
 *
 * Expected texts are the decimal literals themselves (2^53+1, 2^63-1,
 * 2^64-1 written out), not anything the code under test computed. */
#include "testutil.h"
#include "jsonnum.h"
#include "raiiaf_json.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S53 "9007199254740993"      /* 2^53 + 1: the first integer a double loses */
#define S63 "9223372036854775807"   /* 2^63 - 1: the largest json_int_t */
#define S64 "18446744073709551615"  /* 2^64 - 1: the largest seed */

static char *g_dir;

static int setup(void **state)
{
    (void)state;
    g_dir = tu_tempdir();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(g_dir);
    return 0;
}

static void parses_and_writes_every_seed_exactly(void **state)
{
    (void)state;
    const char *text = "{\"a\":" S53 ",\"b\":" S63 ",\"c\":" S64 ",\"d\":[" S64 ",-1,0.5]}";
    json_error_t je;
    json_t *v = raiiaf_json_loadb(text, strlen(text), 0, &je);
    assert_non_null(v);
    char t[RAIIAF_JSON_INT_TEXT];
    uint64_t u;
    assert_true(json_is_integer(json_object_get(v, "a"))); /* within long long: jansson's own */
    assert_true(raiiaf_json_integer_text(json_object_get(v, "a"), t));
    assert_string_equal(t, S53);
    assert_true(raiiaf_json_integer_text(json_object_get(v, "b"), t));
    assert_string_equal(t, S63);
    json_t *c = json_object_get(v, "c");
    assert_non_null(raiiaf_json_wide_text(c));
    assert_true(raiiaf_json_integer_text(c, t));
    assert_string_equal(t, S64);
    assert_true(raiiaf_json_uint64(c, &u));
    assert_true(u == UINT64_MAX);
    assert_false(raiiaf_json_uint64(json_array_get(json_object_get(v, "d"), 1), &u)); /* -1 */
    char *out = raiiaf_json_dumps(v, JSON_COMPACT);
    assert_non_null(out);
    assert_string_equal(out, text);
    free(out);
    /* jansson itself refuses to write the wide number as a string */
    assert_null(json_dumps(v, JSON_COMPACT));
    json_decref(v);
    json_t *m = raiiaf_json_from_uint64(UINT64_MAX);
    out = raiiaf_json_dumps(m, JSON_ENCODE_ANY);
    assert_string_equal(out, S64);
    free(out);
    json_decref(m);
}

static void refuses_what_no_seed_can_be(void **state)
{
    (void)state;
    json_error_t je;
    /* 2^64 and below -2^63: jansson's own error, at the number's place */
    const char *big = "{\"seed\": 18446744073709551616}";
    assert_null(raiiaf_json_loadb(big, strlen(big), 0, &je));
    assert_int_equal(je.column, 29);
    assert_non_null(strstr(je.text, "too big"));
    const char *neg = "[-9223372036854775809]";
    assert_null(raiiaf_json_loadb(neg, strlen(neg), 0, &je));
    /* NaN is not JSON (only format 1's dialect) */
    assert_null(raiiaf_json_loadb("[NaN]", 5, 0, &je));
    /* an error after a wide number still points into the original text */
    const char *bad = "[" S64 ", x]";
    assert_null(raiiaf_json_loadb(bad, strlen(bad), 0, &je));
    assert_int_equal(je.position, (int)strlen("[" S64 ", x"));
}

static void placeholder_text_in_strings_is_not_confused(void **state)
{
    (void)state;
    /* a string that looks like raiiaf_json_dumps()'s stand-in for a number */
    const char *text = "{\"s\":\"@@rfnum0_0@@ and @@rfnum1_0@@\",\"n\":" S64 "}";
    json_t *v = raiiaf_json_loadb(text, strlen(text), 0, NULL);
    assert_non_null(v);
    char *out = raiiaf_json_dumps(v, JSON_COMPACT);
    assert_non_null(out);
    assert_string_equal(out, text);
    free(out);
    json_decref(v);
}

static void python_dialect(void **state)
{
    (void)state;
    /* what Python's json.dumps writes: NaN, Infinity, -Infinity, 2**64+5,
     * \u0000, a lone surrogate, a surrogate pair */
    const char *text = "{\"a\": NaN, \"b\": Infinity, \"c\": -Infinity, \"d\": 18446744073709551621, "
                       "\"e\": \"x\\u0000y\", \"f\": \"p\\ud800q\", \"g\": \"\\ud83d\\ude00\", \"h\": -36893488147419103232}";
    assert_null(rf_json_loadb(text, strlen(text), 0, RF_JSON_STRICT, NULL));
    json_t *v = rf_json_loadb(text, strlen(text), 0, RF_JSON_PYTHON, NULL);
    assert_non_null(v);
    assert_string_equal(rf_json_wide_text(json_object_get(v, "a")), "NaN");
    assert_string_equal(rf_json_wide_text(json_object_get(v, "b")), "Infinity");
    assert_string_equal(rf_json_wide_text(json_object_get(v, "c")), "-Infinity");
    assert_string_equal(rf_json_wide_text(json_object_get(v, "d")), "18446744073709551621");
    assert_string_equal(rf_json_wide_text(json_object_get(v, "h")), "-36893488147419103232");
    assert_true(rf_json_is_int(json_object_get(v, "d")));
    assert_false(rf_json_is_int(json_object_get(v, "a")));
    assert_true(rf_json_is_num(json_object_get(v, "a")));
    uint64_t u;
    assert_false(raiiaf_json_uint64(json_object_get(v, "d"), &u)); /* beyond 64 bits */
    json_t *e = json_object_get(v, "e");
    assert_int_equal(json_string_length(e), 3);
    assert_memory_equal(json_string_value(e), "x\0y", 3);
    json_t *f = json_object_get(v, "f");
    assert_int_equal(json_string_length(f), 5); /* p, ED A0 80 (WTF-8 of U+D800), q */
    assert_memory_equal(json_string_value(f), "p\xed\xa0\x80q", 5);
    assert_true(rf_json_has_invalid_text(v));
    assert_string_equal(json_string_value(json_object_get(v, "g")), "\xf0\x9f\x98\x80"); /* U+1F600 */
    assert_int_equal(rf_json_wide_sign(json_object_get(v, "a")), 0);
    assert_int_equal(rf_json_wide_sign(json_object_get(v, "c")), -1);
    assert_int_equal(rf_json_wide_sign(json_object_get(v, "d")), 1);
    json_decref(v);
    /* the public flag */
    v = raiiaf_json_loadb("[NaN]", 5, RAIIAF_JSON_PYTHON, NULL);
    assert_non_null(v);
    assert_string_equal(raiiaf_json_wide_text(json_array_get(v, 0)), "NaN");
    json_decref(v);
}

static json_t *manifest_of(raiiaf_reader *r)
{
    size_t len;
    const char *t = raiiaf_reader_manifest(r, &len);
    return raiiaf_json_loadb(t, len, 0, NULL);
}

static const char *gs_text(json_t *m, const char *key, char out[RAIIAF_JSON_INT_TEXT])
{
    json_t *g = json_object_get(json_object_get(json_object_get(m, "raiiaf_metadata"), "model_info"), "generation_settings");
    return raiiaf_json_integer_text(json_object_get(g, key), out) ? out : "(not an integer)";
}

static void seeds_through_writer_reader_and_edit(void **state)
{
    (void)state;
    static const char *const seeds[] = {S53, S63, S64};
    for (int k = 0; k < 3; k++) {
        char name[32], t[RAIIAF_JSON_INT_TEXT];
        snprintf(name, sizeof name, "seed%d.raiiaf", k);
        char *path = tu_path(g_dir, name);
        raiiaf_writer *w = NULL;
        assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
        assert_int_equal(raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/generation_settings/seed", seeds[k]), RAIIAF_OK);
        assert_int_equal(raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/generation_settings/steps", seeds[k]), RAIIAF_OK);
        if (raiiaf_writer_finish(w)) fail_msg("finish: %s", raiiaf_writer_errmsg(w));
        raiiaf_writer_free(w);

        raiiaf_reader *r = NULL;
        assert_int_equal(raiiaf_reader_open_file(path, 0, &r), RAIIAF_OK);
        size_t len;
        const char *text = raiiaf_reader_manifest(r, &len);
        char want[64];
        snprintf(want, sizeof want, "\"seed\": %s", seeds[k]);
        assert_non_null(strstr(text, want)); /* a plain JSON integer in the manifest text */
        char msg[256];
        assert_int_equal(raiiaf_validate_manifest(text, len, msg, sizeof msg), RAIIAF_OK);
        assert_int_equal(raiiaf_reader_verify(r, NULL, NULL), RAIIAF_OK);
        json_t *m = manifest_of(r);
        assert_string_equal(gs_text(m, "seed", t), seeds[k]);
        assert_string_equal(gs_text(m, "steps", t), seeds[k]);
        json_decref(m);
        raiiaf_reader_free(r);

        /* edit: the seed moves to the next one, the steps stay exact */
        raiiaf_edit *ed = NULL;
        assert_int_equal(raiiaf_edit_open(path, &ed), RAIIAF_OK);
        assert_int_equal(raiiaf_edit_set_json(ed, "/raiiaf_metadata/model_info/generation_settings/seed", seeds[(k + 1) % 3]), RAIIAF_OK);
        if (raiiaf_edit_commit(ed)) fail_msg("commit: %s", raiiaf_edit_errmsg(ed));
        raiiaf_edit_free(ed);
        assert_int_equal(raiiaf_reader_open_file(path, 0, &r), RAIIAF_OK);
        m = manifest_of(r);
        assert_string_equal(gs_text(m, "seed", t), seeds[(k + 1) % 3]);
        assert_string_equal(gs_text(m, "steps", t), seeds[k]);
        json_decref(m);
        assert_int_equal(raiiaf_reader_verify(r, NULL, NULL), RAIIAF_OK);
        raiiaf_reader_free(r);
        free(path);
    }
}

static void schema_types_of_wide_numbers(void **state)
{
    (void)state;
    char *path = tu_path(g_dir, "bad.raiiaf");
    raiiaf_writer *w = NULL;
    assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
    /* a wide number is a number, never a string */
    assert_int_equal(raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/prompt", S64), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_finish(w), RAIIAF_E_SCHEMA);
    assert_non_null(strstr(raiiaf_writer_errmsg(w), "/raiiaf_metadata/model_info/prompt"));
    raiiaf_writer_free(w);
    /* and 2^64 is no JSON the library takes */
    assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/generation_settings/seed", "18446744073709551616"),
                     RAIIAF_E_JSON);
    raiiaf_writer_free(w);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_and_writes_every_seed_exactly),
        cmocka_unit_test(refuses_what_no_seed_can_be),
        cmocka_unit_test(placeholder_text_in_strings_is_not_confused),
        cmocka_unit_test(python_dialect),
        cmocka_unit_test(seeds_through_writer_reader_and_edit),
        cmocka_unit_test(schema_types_of_wide_numbers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
