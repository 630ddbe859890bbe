/* test_bounds.c -- bounded work on hostile files (issue 17): JSON that would
 * parse into too many values or too much memory is refused before parsing. */
#include "testutil.h"
#include "codec.h"
#include "format.h"
#include "jsonutil.h"
#include "reader_impl.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXPECT_MSG(msg, want)                                                                                   \
    do {                                                                                                        \
        if (!strstr((msg), (want))) fail_msg("%s:%d: message \"%s\" lacks \"%s\"", __FILE__, __LINE__, (msg), (want)); \
    } while (0)

/* n copies of `unit` between `pre` and `post`; caller frees. */
static char *repeat(const char *pre, const char *unit, size_t n, const char *post, size_t *len)
{
    size_t u = strlen(unit), a = strlen(pre), b = strlen(post);
    char *t = malloc(a + u * n + b + 1);
    assert_non_null(t);
    memcpy(t, pre, a);
    for (size_t i = 0; i < n; i++) memcpy(t + a + i * u, unit, u);
    memcpy(t + a + u * n, post, b + 1);
    *len = a + u * n + b;
    return t;
}

/* ---- item 9: the JSON pre-scan ------------------------------------------ */

static void test_prescan_counts(void **state)
{
    (void)state;
    rf_err e;
    size_t len;
    /* Brackets, colons and commas inside strings (escaped quotes too) are
     * text, not structure: 3 million of them pass. */
    char *t = repeat("[\"", "{[:,\\\"", 3000000 / 3, "\"]", &len);
    assert_int_equal(rf_json_prescan(t, len, "test", &e), RAIIAF_OK);
    free(t);
    /* One value more than the limit is refused, one less passes. */
    t = repeat("[", "0,", RF_MAX_JSON_VALUES - 2, "0]", &len);
    assert_int_equal(rf_json_prescan(t, len, "test", &e), RAIIAF_OK);
    json_t *v;
    assert_int_equal(rf_json_parse(t, len, "test", &v, &e), RAIIAF_OK);
    assert_int_equal(json_array_size(v), RF_MAX_JSON_VALUES - 1);
    json_decref(v);
    free(t);
    t = repeat("[", "0,", RF_MAX_JSON_VALUES - 1, "0]", &len);
    assert_int_equal(rf_json_prescan(t, len, "test", &e), RAIIAF_E_LIMIT);
    EXPECT_MSG(e.msg, "test: JSON text holds more than 2097152 values (limit");
    free(t);
    /* Keys are not values, but members cost memory: objects of 20 members
     * (each ~ 80 + 48 + 48 bytes estimated) reach the memory limit first. */
    t = repeat("[", "{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1,\"g\":1,\"h\":1,\"i\":1,\"j\":1},", 200000, "{}]", &len);
    assert_int_equal(rf_json_prescan(t, len, "env", &e), RAIIAF_E_LIMIT);
    EXPECT_MSG(e.msg, "env: JSON text would need more than 256 MiB once parsed (limit");
    free(t);
    /* The embedded schemas and a real manifest pass. */
    assert_int_equal(rf_json_prescan(rf_schema_json, strlen(rf_schema_json), "schema", &e), RAIIAF_OK);
    /* A trailing backslash inside an unterminated string stays in bounds. */
    assert_int_equal(rf_json_prescan("[\"\\", 3, "t", &e), RAIIAF_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prescan_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
