/* test_schema.c -- the metadata schema and the JSON Schema validator. */
#include "testutil.h"
#include "internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <regex.h>
#include <string.h>

#define SHA_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define SHA_B "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

/* Every field the schema describes, each with a valid value. */
static const char complete_manifest[] =
    "{\"raiiaf_metadata\": {"
    " \"file_info\": {\"magic\": \"raiiaf\", \"version_major\": 2, \"version_minor\": 0,"
    "   \"created\": \"2024-05-01T12:30:00Z\", \"writer\": \"libraiiaf 0.1.0\", \"chunk_count\": 3,"
    "   \"manifest_version\": 2, \"previous_manifest\": {\"offset\": 4096, \"sha256\": \"" SHA_A "\"}},"
    " \"model_info\": {\"model_name\": \"sdxl-base\", \"version\": \"1.0\","
    "   \"date\": \"2024-05-01T12:29:58.123456Z\", \"prompt\": \"a lighthouse at dusk\","
    "   \"negative_prompt\": \"blurry\", \"tags\": [\"landscape\", \"sea\"], \"model_hash\": \"sha256:abc\","
    "   \"adapters\": [{\"name\": \"detail-lora\", \"type\": \"lora\", \"weight\": 0.8, \"hash\": \"x\"}],"
    "   \"generation_settings\": {\"seed\": 42, \"steps\": 30, \"sampler\": \"euler_a\", \"cfg_scale\": 7.5,"
    "     \"scheduler\": \"karras\", \"guidance\": \"cfg\", \"precision\": \"fp16\", \"eta\": 0.0,"
    "     \"deterministic\": true, \"width\": 1024, \"height\": 1024, \"clip_skip\": 2,"
    "     \"denoising_strength\": 1},"
    "   \"hardware_info\": {\"os\": \"Linux\", \"machine_name\": \"box\", \"cpu\": \"x86_64\","
    "     \"framework\": \"PyTorch 2.3\", \"compute_lib\": \"CUDA 12.1\", \"cpu_cores\": 16, \"ram_gb\": 64,"
    "     \"gpu\": [{\"name\": \"H100\", \"memory_gb\": 80, \"driver\": \"550\", \"cuda_version\": \"12.4\"}]}},"
    " \"image\": {\"chunk\": 0, \"format\": \"png\", \"width\": 1024, \"height\": 1024, \"size\": 123456},"
    " \"tensors\": [{\"name\": \"latent\", \"chunk\": 1, \"dtype\": \"float16\", \"shape\": [1, 4, 128, 128],"
    "   \"codec\": \"zfp\", \"zfp_mode\": \"fixed_accuracy\", \"tolerance\": 0.001, \"max_error\": 0.0009},"
    "   {\"name\": \"scalar\", \"chunk\": 2, \"dtype\": \"bool\", \"shape\": [], \"codec\": \"raw\"}],"
    " \"chunks\": ["
    "   {\"index\": 0, \"type\": \"IMAG\", \"offset\": 64, \"codec\": \"raw\", \"stored_size\": 123456,"
    "    \"raw_size\": 123456, \"crc32c\": 4294967295, \"sha256\": \"" SHA_A "\"},"
    "   {\"index\": 1, \"type\": \"TENS\", \"offset\": 123584, \"codec\": \"zfp\", \"stored_size\": 1000,"
    "    \"raw_size\": 131072, \"crc32c\": 0, \"sha256\": \"" SHA_B "\"},"
    "   {\"index\": 2, \"type\": \"x y~\", \"offset\": 124672, \"codec\": \"zstd\", \"stored_size\": 1,"
    "    \"raw_size\": 1, \"crc32c\": 12345, \"sha256\": \"" SHA_B "\"}],"
    " \"extensions\": {\"org.example.tool\": {\"anything\": [1, {\"goes\": null}]}}"
    "}}";

static const char minimal_manifest[] =
    "{\"raiiaf_metadata\": {"
    " \"file_info\": {\"magic\": \"raiiaf\", \"version_major\": 2, \"version_minor\": 0,"
    "   \"created\": \"2024-01-01T00:00:00Z\", \"writer\": \"w\", \"chunk_count\": 0},"
    " \"model_info\": {}, \"tensors\": [], \"chunks\": []}}";

static json_t *parse(const char *text)
{
    json_error_t err;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &err);
    if (!v)
        fail_msg("test JSON does not parse: line %d: %s\n%s", err.line, err.text, text);
    return v;
}

static json_t *load_schema(void)
{
    size_t size;
    unsigned char *text = tu_read_data("../../schema/raiiaf-metadata.schema.json", &size);
    json_error_t err;
    json_t *s = json_loadb((const char *)text, size, JSON_REJECT_DUPLICATES, &err);
    if (!s)
        fail_msg("schema does not parse: line %d: %s", err.line, err.text);
    free(text);
    return s;
}

/* Validates `instance_text` against `schema_text`; checks code and message. */
static void check(const char *schema_text, const char *instance_text, int code, const char *msg)
{
    json_t *schema = parse(schema_text), *inst = parse(instance_text);
    rf_err e;
    rf_err_clear(&e);
    int rc = rf_schema_validate(schema, inst, &e);
    if (rc != code || strcmp(e.msg, msg) != 0)
        fail_msg("schema %s\ninstance %s\ngot %d \"%s\", want %d \"%s\"", schema_text, instance_text, rc, e.msg,
                 code, msg);
    json_decref(schema);
    json_decref(inst);
}

/* Walks a JSON Pointer to the parent of its last segment; returns that
 * parent and leaves the unescaped last segment in `last`. */
static json_t *pointer_parent(json_t *root, const char *pointer, char *last, size_t last_size)
{
    json_t *cur = root;
    const char *p = pointer;
    assert_true(*p == '/');
    for (;;) {
        p++;
        size_t n = 0;
        for (; *p && *p != '/'; p++) {
            char ch = *p;
            if (ch == '~') {
                p++;
                ch = *p == '0' ? '~' : '/';
            }
            assert_true(n + 1 < last_size);
            last[n++] = ch;
        }
        last[n] = '\0';
        if (!*p)
            return cur;
        cur = json_is_array(cur) ? json_array_get(cur, strtoul(last, NULL, 10)) : json_object_get(cur, last);
        assert_non_null(cur);
    }
}

/* Sets (value_json != NULL) or removes (NULL) the value at `pointer` in the
 * complete manifest, validates it against the real schema and checks the
 * result. */
static void mutate(const char *pointer, const char *value_json, int code, const char *msg)
{
    json_t *schema = load_schema(), *inst = parse(complete_manifest);
    char last[512];
    json_t *parent = pointer_parent(inst, pointer, last, sizeof last);
    if (json_is_array(parent)) {
        size_t i = strtoul(last, NULL, 10);
        if (value_json)
            assert_int_equal(json_array_set_new(parent, i, parse(value_json)), 0);
        else
            assert_int_equal(json_array_remove(parent, i), 0);
    } else if (value_json) {
        assert_int_equal(json_object_set_new(parent, last, parse(value_json)), 0);
    } else {
        assert_int_equal(json_object_del(parent, last), 0);
    }
    rf_err e;
    rf_err_clear(&e);
    int rc = rf_schema_validate(schema, inst, &e);
    if (rc != code || strcmp(e.msg, msg) != 0)
        fail_msg("%s = %s: got %d \"%s\", want %d \"%s\"", pointer, value_json ? value_json : "(removed)", rc,
                 e.msg, code, msg);
    json_decref(schema);
    json_decref(inst);
}

static void invalid(const char *pointer, const char *value_json, const char *msg)
{
    mutate(pointer, value_json, RAIIAF_E_SCHEMA, msg);
}

static void valid(const char *pointer, const char *value_json) { mutate(pointer, value_json, RAIIAF_OK, ""); }

/* ---- the schema file -------------------------------------------------- */

static void test_schema_file(void **state)
{
    (void)state;
    json_t *s = load_schema();
    assert_string_equal(json_string_value(json_object_get(s, "$schema")),
                        "https://json-schema.org/draft/2020-12/schema");
    assert_string_equal(json_string_value(json_object_get(s, "$id")),
                        "https://raiiaf.org/schema/raiiaf-metadata/2.0.json");
    assert_non_null(json_string_value(json_object_get(s, "title")));
    /* Validating anything checks every keyword in the whole schema first. */
    json_t *empty = parse("{}");
    rf_err e;
    rf_err_clear(&e);
    assert_int_equal(rf_schema_validate(s, empty, &e), RAIIAF_E_SCHEMA);
    assert_string_equal(e.msg, "/: missing required property \"raiiaf_metadata\"");
    json_decref(empty);
    json_decref(s);
}

static void test_embedded_matches_file(void **state)
{
    (void)state;
    size_t size;
    unsigned char *text = tu_read_data("../../schema/raiiaf-metadata.schema.json", &size);
    assert_int_equal(strlen(raiiaf_schema_text()), size);
    assert_memory_equal(raiiaf_schema_text(), text, size);
    free(text);
}

static void test_complete_and_minimal_pass(void **state)
{
    (void)state;
    char msg[RF_ERRMSG_SIZE] = "junk";
    assert_int_equal(raiiaf_validate_manifest(complete_manifest, strlen(complete_manifest), msg, sizeof msg),
                     RAIIAF_OK);
    assert_string_equal(msg, "");
    assert_int_equal(raiiaf_validate_manifest(minimal_manifest, strlen(minimal_manifest), msg, sizeof msg),
                     RAIIAF_OK);
    assert_string_equal(msg, "");
    /* Latent only: no image, model_info empty, previous_manifest null. */
    valid("/raiiaf_metadata/image", NULL);
    valid("/raiiaf_metadata/file_info/previous_manifest", "null");
    valid("/raiiaf_metadata/model_info", "{}");
}

static void test_unknown_fields_pass(void **state)
{
    (void)state;
    valid("/future", "1");
    valid("/raiiaf_metadata/future", "{\"x\": [1, 2]}");
    valid("/raiiaf_metadata/file_info/future", "\"x\"");
    valid("/raiiaf_metadata/model_info/future", "null");
    valid("/raiiaf_metadata/model_info/generation_settings/future", "true");
    valid("/raiiaf_metadata/model_info/hardware_info/gpu/0/future", "2");
    valid("/raiiaf_metadata/tensors/0/future", "[]");
    valid("/raiiaf_metadata/chunks/1/future", "{}");
    valid("/raiiaf_metadata/extensions/org.example~1x", "{\"deep\": {\"er\": [null]}}");
}

/* ---- each constraint -------------------------------------------------- */

#define GS "/raiiaf_metadata/model_info/generation_settings"

static void test_numbers(void **state)
{
    (void)state;
    invalid(GS "/steps", "0", GS "/steps: must be >= 1");
    invalid(GS "/seed", "-1", GS "/seed: must be >= 0");
    invalid(GS "/seed", "1.5", GS "/seed: must be an integer");
    invalid(GS "/seed", "\"42\"", GS "/seed: must be an integer");
    valid(GS "/seed", "7.0"); /* a real with zero fraction is an integer */
    valid(GS "/seed", "9223372036854775807");
    invalid(GS "/cfg_scale", "-1", GS "/cfg_scale: must be >= 0");
    invalid(GS "/cfg_scale", "-0.5", GS "/cfg_scale: must be >= 0");
    valid(GS "/cfg_scale", "0");
    invalid(GS "/denoising_strength", "1.0000001", GS "/denoising_strength: must be <= 1");
    valid(GS "/denoising_strength", "0.0");
    invalid(GS "/deterministic", "1", GS "/deterministic: must be a boolean");
    invalid("/raiiaf_metadata/chunks/0/crc32c", "4294967296", "/raiiaf_metadata/chunks/0/crc32c: must be <= 4294967295");
    invalid("/raiiaf_metadata/chunks/0/crc32c", "-1", "/raiiaf_metadata/chunks/0/crc32c: must be >= 0");
    invalid("/raiiaf_metadata/image/width", "0", "/raiiaf_metadata/image/width: must be >= 1");
    invalid("/raiiaf_metadata/file_info/version_major", "3", "/raiiaf_metadata/file_info/version_major: must equal 2");
    valid("/raiiaf_metadata/file_info/version_major", "2.0"); /* equal as numbers */
    invalid("/raiiaf_metadata/file_info/manifest_version", "0",
            "/raiiaf_metadata/file_info/manifest_version: must be >= 1");
}

static void test_bounds_in_test_schemas(void **state)
{
    (void)state;
    check("{\"exclusiveMinimum\": 0}", "0", RAIIAF_E_SCHEMA, "/: must be > 0");
    check("{\"exclusiveMinimum\": 0}", "1e-300", RAIIAF_OK, "");
    check("{\"exclusiveMaximum\": 1}", "1.0", RAIIAF_E_SCHEMA, "/: must be < 1");
    check("{\"minimum\": 0.5}", "0.25", RAIIAF_E_SCHEMA, "/: must be >= 0.5");
    check("{\"maximum\": 0.1}", "0.2", RAIIAF_E_SCHEMA, "/: must be <= 0.1");
    /* Integer against real bound compared exactly, not through a rounded double. */
    check("{\"maximum\": 9007199254740992.0}", "9007199254740993", RAIIAF_E_SCHEMA,
          "/: must be <= 9007199254740992");
    check("{\"maximum\": 9007199254740992.0}", "9007199254740992", RAIIAF_OK, "");
    check("{\"minimum\": -9.5}", "-9", RAIIAF_OK, "");
    check("{\"minimum\": -9.5}", "-10", RAIIAF_E_SCHEMA, "/: must be >= -9.5");
    /* Bounds ignore non-numbers. */
    check("{\"minimum\": 5}", "\"x\"", RAIIAF_OK, "");
}

static void test_dates(void **state)
{
    (void)state;
    invalid("/raiiaf_metadata/model_info/date", "\"2024-02-30T00:00:00Z\"",
            "/raiiaf_metadata/model_info/date: must be a UTC date-time (RFC 3339, ending in Z): "
            "\"2024-02-30T00:00:00Z\"");
    invalid("/raiiaf_metadata/model_info/date", "\"2024-01-01T00:00:00+02:00\"",
            "/raiiaf_metadata/model_info/date: must be a UTC date-time (RFC 3339, ending in Z): "
            "\"2024-01-01T00:00:00+02:00\"");
    invalid("/raiiaf_metadata/file_info/created", "\"2024-13-01T00:00:00Z\"",
            "/raiiaf_metadata/file_info/created: must be a UTC date-time (RFC 3339, ending in Z): "
            "\"2024-13-01T00:00:00Z\"");
    invalid("/raiiaf_metadata/file_info/created", "20240101",
            "/raiiaf_metadata/file_info/created: must be a string");

    static const char *const good[] = {
        "2024-02-29T12:00:00Z", "2000-02-29T00:00:00Z", "2024-01-01T00:00:00.5+00:00",
        "2024-12-31T23:59:59.123456789Z", "2016-12-31T23:59:60Z", "1970-01-01t00:00:00z",
    };
    static const char *const bad[] = {
        "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2024-04-31T00:00:00Z", "2024-00-10T00:00:00Z",
        "2024-01-00T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T00:60:00Z", "2024-01-01T12:00:60Z",
        "2024-01-01T00:00:00", "2024-01-01 00:00:00Z", "2024-01-01T00:00:00.Z", "2024-01-01T00:00:00-00:00",
        "2024-1-01T00:00:00Z", "2024-01-01T00:00:00ZZ", "2024-01-01", "", "2024-01-01T00:00:00+0000",
        "x024-01-01T00:00:00Z",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char inst[128];
        snprintf(inst, sizeof inst, "\"%s\"", good[i]);
        check("{\"format\": \"date-time\"}", inst, RAIIAF_OK, "");
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char inst[128], msg[256];
        snprintf(inst, sizeof inst, "\"%s\"", bad[i]);
        snprintf(msg, sizeof msg, "/: must be a UTC date-time (RFC 3339, ending in Z): \"%s\"", bad[i]);
        check("{\"format\": \"date-time\"}", inst, RAIIAF_E_SCHEMA, msg);
    }
    /* format only constrains strings. */
    check("{\"format\": \"date-time\"}", "5", RAIIAF_OK, "");
}

static void test_enums_and_const(void **state)
{
    (void)state;
    invalid("/raiiaf_metadata/tensors/0/dtype", "\"float33\"",
            "/raiiaf_metadata/tensors/0/dtype: must be one of: \"float16\", \"bfloat16\", \"float32\", "
            "\"float64\", \"int8\", \"uint8\", \"int16\", \"uint16\", \"int32\", \"uint32\", \"int64\", "
            "\"uint64\", \"bool\"");
    invalid("/raiiaf_metadata/image/format", "\"gif\"",
            "/raiiaf_metadata/image/format: must be one of: \"png\", \"jpeg\", \"webp\"");
    invalid("/raiiaf_metadata/chunks/2/codec", "\"lz4\"",
            "/raiiaf_metadata/chunks/2/codec: must be one of: \"raw\", \"zstd\", \"zfp\", \"recipe\"");
    invalid("/raiiaf_metadata/tensors/0/zfp_mode", "\"lossy\"",
            "/raiiaf_metadata/tensors/0/zfp_mode: must be one of: \"reversible\", \"fixed_accuracy\"");
    invalid("/raiiaf_metadata/file_info/magic", "\"RAIIAF\"", "/raiiaf_metadata/file_info/magic: must equal \"raiiaf\"");
    check("{\"enum\": [1, \"a\", null, {\"k\": [true]}]}", "1.0", RAIIAF_OK, "");
    check("{\"enum\": [1, \"a\", null, {\"k\": [true]}]}", "{\"k\": [true]}", RAIIAF_OK, "");
    check("{\"enum\": [1, \"a\", null, {\"k\": [true]}]}", "{\"k\": [false]}", RAIIAF_E_SCHEMA,
          "/: must be one of: 1, \"a\", null, {\"k\":[true]}");
    check("{\"const\": {\"a\": 1, \"b\": [1, 2]}}", "{\"b\": [1.0, 2], \"a\": 1}", RAIIAF_OK, "");
    check("{\"const\": false}", "0", RAIIAF_E_SCHEMA, "/: must equal false");
}

static void test_arrays(void **state)
{
    (void)state;
    invalid("/raiiaf_metadata/tensors/0/shape", "[1, 2, 3, 4, 5, 6, 7, 8, 9]",
            "/raiiaf_metadata/tensors/0/shape: must have at most 8 items");
    valid("/raiiaf_metadata/tensors/0/shape", "[1, 2, 3, 4, 5, 6, 7, 8]");
    invalid("/raiiaf_metadata/tensors/0/shape", "[1, 2, -3]", "/raiiaf_metadata/tensors/0/shape/2: must be >= 0");
    invalid("/raiiaf_metadata/tensors/0/shape", "{}", "/raiiaf_metadata/tensors/0/shape: must be an array");
    invalid("/raiiaf_metadata/model_info/tags/1", "5", "/raiiaf_metadata/model_info/tags/1: must be a string");
    invalid("/raiiaf_metadata/model_info/hardware_info/gpu/0/memory_gb", "-8",
            "/raiiaf_metadata/model_info/hardware_info/gpu/0/memory_gb: must be >= 0");
    invalid("/raiiaf_metadata/tensors", "{}", "/raiiaf_metadata/tensors: must be an array");
    check("{\"minItems\": 2}", "[1]", RAIIAF_E_SCHEMA, "/: must have at least 2 items");
    check("{\"minItems\": 1}", "[]", RAIIAF_E_SCHEMA, "/: must have at least 1 item");
    check("{\"maxItems\": 1}", "[1, 2]", RAIIAF_E_SCHEMA, "/: must have at most 1 item");
}

static void test_unique_items(void **state)
{
    (void)state;
    const char *u = "{\"uniqueItems\": true}";
    check(u, "[1, 2, 3, 1.0]", RAIIAF_E_SCHEMA, "/: items 0 and 3 are equal");
    check(u, "[1, 2, 3]", RAIIAF_OK, "");
    check(u, "[]", RAIIAF_OK, "");
    check(u, "[[1], [1.5], \"1\", true, 1, null, false, {}]", RAIIAF_OK, "");
    check(u, "[{\"a\": 1, \"b\": [2]}, 5, {\"b\": [2.0], \"a\": 1}]", RAIIAF_E_SCHEMA, "/: items 0 and 2 are equal");
    /* The first item that repeats an earlier one, and the earliest it repeats. */
    check(u, "[\"a\", \"b\", \"c\", \"b\", \"a\", \"c\"]", RAIIAF_E_SCHEMA, "/: items 1 and 3 are equal");
    check(u, "[0.5, -0.0, 0, 0.5]", RAIIAF_E_SCHEMA, "/: items 1 and 2 are equal");
    check("{\"uniqueItems\": false}", "[1, 1]", RAIIAF_OK, "");
    /* Large arrays stay fast (sorted by hash, not compared pairwise). */
    json_t *schema = parse(u), *big = json_array();
    for (int i = 0; i < 200000; i++)
        json_array_append_new(big, json_integer(i));
    json_array_append_new(big, json_real(199999.0));
    rf_err e;
    rf_err_clear(&e);
    assert_int_equal(rf_schema_validate(schema, big, &e), RAIIAF_E_SCHEMA);
    assert_string_equal(e.msg, "/: items 199999 and 200000 are equal");
    json_decref(schema);
    json_decref(big);
}

static void test_required(void **state)
{
    (void)state;
    invalid("/raiiaf_metadata/chunks", NULL, "/raiiaf_metadata: missing required property \"chunks\"");
    invalid("/raiiaf_metadata/model_info", NULL, "/raiiaf_metadata: missing required property \"model_info\"");
    invalid("/raiiaf_metadata/file_info/writer", NULL,
            "/raiiaf_metadata/file_info: missing required property \"writer\"");
    invalid("/raiiaf_metadata/model_info/adapters/0/name", NULL,
            "/raiiaf_metadata/model_info/adapters/0: missing required property \"name\"");
    invalid("/raiiaf_metadata/model_info/hardware_info/os", NULL,
            "/raiiaf_metadata/model_info/hardware_info: missing required property \"os\"");
    invalid("/raiiaf_metadata/tensors/1/shape", NULL, "/raiiaf_metadata/tensors/1: missing required property \"shape\"");
    invalid("/raiiaf_metadata/chunks/2/crc32c", NULL, "/raiiaf_metadata/chunks/2: missing required property \"crc32c\"");
    invalid("/raiiaf_metadata/image/format", NULL, "/raiiaf_metadata/image: missing required property \"format\"");
    invalid("/raiiaf_metadata/file_info/previous_manifest/sha256", NULL,
            "/raiiaf_metadata/file_info/previous_manifest: missing required property \"sha256\"");
    invalid("/raiiaf_metadata", NULL, "/: missing required property \"raiiaf_metadata\"");
    invalid("/raiiaf_metadata", "[]", "/raiiaf_metadata: must be an object");
}

static void test_strings(void **state)
{
    (void)state;
    invalid("/raiiaf_metadata/chunks/1/sha256", "\"" "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef" "\"",
            "/raiiaf_metadata/chunks/1/sha256: does not match pattern ^[0-9a-f]{64}$");
    invalid("/raiiaf_metadata/chunks/1/sha256", "\"" SHA_A "0\"",
            "/raiiaf_metadata/chunks/1/sha256: does not match pattern ^[0-9a-f]{64}$");
    invalid("/raiiaf_metadata/file_info/previous_manifest/sha256", "\"abc\"",
            "/raiiaf_metadata/file_info/previous_manifest/sha256: does not match pattern ^[0-9a-f]{64}$");
    invalid("/raiiaf_metadata/chunks/0/type", "\"IMA\"", "/raiiaf_metadata/chunks/0/type: does not match pattern ^[ -~]{4}$");
    invalid("/raiiaf_metadata/chunks/0/type", "\"IM\\tG\"",
            "/raiiaf_metadata/chunks/0/type: does not match pattern ^[ -~]{4}$");
    invalid("/raiiaf_metadata/chunks/0/type", "\"IMAG\\n\"",
            "/raiiaf_metadata/chunks/0/type: does not match pattern ^[ -~]{4}$");
    invalid("/raiiaf_metadata/tensors/0/name", "\"\"", "/raiiaf_metadata/tensors/0/name: must be at least 1 character");
    /* Lengths are in code points: 255 two-byte characters fit, 256 do not. */
    char name[2 * 256 + 3] = "\"";
    for (int i = 0; i < 255; i++)
        strcat(name, "\xc3\xa9");
    strcat(name, "\"");
    valid("/raiiaf_metadata/tensors/0/name", name);
    name[strlen(name) - 1] = '\0';
    strcat(name, "\xc3\xa9\"");
    invalid("/raiiaf_metadata/tensors/0/name", name, "/raiiaf_metadata/tensors/0/name: must be at most 255 characters");
    check("{\"maxLength\": 1}", "\"\xf0\x9f\x98\x80\"", RAIIAF_OK, "");
    check("{\"maxLength\": 1}", "\"ab\"", RAIIAF_E_SCHEMA, "/: must be at most 1 character");
    check("{\"minLength\": 2}", "\"\xf0\x9f\x98\x80\"", RAIIAF_E_SCHEMA, "/: must be at least 2 characters");
    /* pattern searches, unanchored, like JSON Schema. */
    check("{\"pattern\": \"b+\"}", "\"abbbc\"", RAIIAF_OK, "");
    check("{\"pattern\": \"^b\"}", "\"abc\"", RAIIAF_E_SCHEMA, "/: does not match pattern ^b");
}

/* The environment record's canonical-string pattern names control
 * characters with ECMA-262 \u escapes (which other validators and Python
 * read) instead of POSIX's [:cntrl:]; it accepts and refuses exactly the
 * strings the [:cntrl:] pattern did. */
static void test_env_canonical_pattern(void **state)
{
    (void)state;
    size_t size;
    unsigned char *text = tu_read_data("../../schema/raiiaf-env.schema.json", &size);
    json_t *env = json_loadb((const char *)text, size, JSON_REJECT_DUPLICATES, NULL);
    free(text);
    assert_non_null(env);
    json_t *canon = json_object_get(
        json_object_get(json_object_get(json_object_get(json_object_get(env, "properties"), "components"), "items"), "properties"),
        "canonical");
    const char *pat = json_string_value(json_object_get(canon, "pattern"));
    assert_non_null(pat);
    assert_null(strstr(pat, "[:"));
    json_t *now = json_pack("{s:s}", "pattern", pat);
    json_t *old = json_pack("{s:s}", "pattern", "^[a-z0-9_.-]+=[^;=[:cntrl:]]*(;[a-z0-9_.-]+=[^;=[:cntrl:]]*)*$");
    static const char *const ok[] = {"name=os;version=Linux 6.1.0", "a=", "a=b;c=d", "k=\xc3\xa9\xc2\x85", "a=[:cntrl:]", "a=:",
                                     "a=b c", "a=~!", "name=cpu;model=AMD EPYC 9654 96-Core Processor;cores=16", NULL};
    static const char *const bad[] = {"a=b\tc", "a=b\x7f", "a=b;c", "=b", "a=b=c", "a=b;", "A=b", "a=\x1f", "a=\x01", "a=b\n",
                                      "", "a", NULL};
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; (pass ? bad : ok)[i]; i++) {
            const char *str = (pass ? bad : ok)[i];
            json_t *inst = json_string(str);
            assert_non_null(inst);
            for (int k = 0; k < 2; k++) {
                rf_err e;
                rf_err_clear(&e);
                int rc = rf_schema_validate(k ? old : now, inst, &e);
                if (rc != (pass ? RAIIAF_E_SCHEMA : RAIIAF_OK))
                    fail_msg("\"%s\" against the %s pattern: %d %s", str, k ? "[:cntrl:]" : "new", rc, e.msg);
            }
            json_decref(inst);
        }
    /* A string holding NUL never matches either. */
    json_t *nul = json_stringn("a=b\0c", 5);
    rf_err e;
    rf_err_clear(&e);
    assert_int_equal(rf_schema_validate(now, nul, &e), RAIIAF_E_SCHEMA);
    json_decref(nul);
    json_decref(now);
    json_decref(old);
    json_decref(env);
    /* \u escapes: ASCII characters that are not syntax; U+0000 only to
     * start a range; others refused rather than misread. */
    check("{\"pattern\": \"^a\\\\u0062c$\"}", "\"abc\"", RAIIAF_OK, "");
    check("{\"pattern\": \"^[\\\\u0001-\\\\u0003]$\"}", "\"\\u0002\"", RAIIAF_OK, "");
    check("{\"pattern\": \"^a\\\\.c$\"}", "\"abc\"", RAIIAF_E_SCHEMA, "/: does not match pattern ^a\\.c$");
    check("{\"pattern\": \"^a\\\\\\\\u0062$\"}", "\"a\\\\u0062\"", RAIIAF_OK, "");
    check("{\"pattern\": \"\\\\u005d\"}", "\"x\"", RAIIAF_E_SCHEMA,
          "schema pattern \"\\\\u005d\" has a \\u escape this validator does not support at #");
    check("{\"pattern\": \"\\\\u00e9\"}", "\"x\"", RAIIAF_E_SCHEMA,
          "schema pattern \"\\\\u00e9\" has a \\u escape this validator does not support at #");
    check("{\"pattern\": \"[^\\\\u0000]\"}", "\"x\"", RAIIAF_E_SCHEMA,
          "schema pattern \"[^\\\\u0000]\" has a \\u escape this validator does not support at #");
    check("{\"pattern\": \"\\\\u12\"}", "\"x\"", RAIIAF_E_SCHEMA,
          "schema pattern \"\\\\u12\" has a \\u escape this validator does not support at #");
}

static void test_embedded_nul_never_matches(void **state)
{
    (void)state;
    json_t *schema = parse("{\"pattern\": \"^[0-9a-f]{64}$\"}");
    json_t *inst = json_stringn(SHA_A "\0junk", 69);
    assert_non_null(inst);
    rf_err e;
    rf_err_clear(&e);
    assert_int_equal(rf_schema_validate(schema, inst, &e), RAIIAF_E_SCHEMA);
    assert_string_equal(e.msg, "/: does not match pattern ^[0-9a-f]{64}$");
    json_decref(schema);
    json_decref(inst);
}

/* Patterns of the form "^[SET]{m,n}$" are matched without regcomp
 * (src/schema.c); the reference here is POSIX regexec itself on the same
 * pattern text, over strings on both sides of every bound and edge of
 * every range, and the patterns that must still go to regcomp. */
static void test_simple_patterns_agree_with_regexec(void **state)
{
    (void)state;
    static const char *const pats[] = {
        "^[0-9a-f]{64}$", "^[ -~]{4}$", "^[a-z0-9_.-]{1,64}$", "^[a-z]+$", "^[a-z]*$", "^[ab]$",
        "^[a-]{2,}$", "^[-a]{0,3}$", "^[.^]{1,2}$", "^[^a]{2}$", "^[a-z]{2}x$", "^[[:digit:]]{2}$",
        "[a-z]{2}", "^[a-z]{3,2}$",
    };
    static const char *const strs[] = {
        "", "a", "ab", "abc", "abcd", "zz", "A", "0", "09", "0123", "-", "a-", "--a", "^", ".^", "^.^", "a b",
        "~~~~", " !~}", "\x7f\x7f\x7f\x7f", "\xc3\xa9\xc3\xa9", "abx", "12",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeF",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0",
        "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcd",
        "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcde",
    };
    for (size_t i = 0; i < sizeof pats / sizeof *pats; i++) {
        regex_t re;
        int bad = regcomp(&re, pats[i], REG_EXTENDED | REG_NOSUB);
        json_t *schema = json_pack("{s:s}", "pattern", pats[i]);
        assert_non_null(schema);
        for (size_t k = 0; k < sizeof strs / sizeof *strs; k++) {
            json_t *inst = json_string(strs[k]);
            if (!inst) inst = json_stringn_nocheck(strs[k], strlen(strs[k])); /* not UTF-8: still a string */
            assert_non_null(inst);
            rf_err e;
            rf_err_clear(&e);
            int rc = rf_schema_validate(schema, inst, &e);
            if (bad)
                assert_int_equal(rc, RAIIAF_E_SCHEMA); /* the schema itself is refused */
            else {
                int want = regexec(&re, strs[k], 0, NULL, 0) == 0 ? RAIIAF_OK : RAIIAF_E_SCHEMA;
                if (rc != want) fail_msg("pattern %s, string \"%s\": got %d, regexec says %d", pats[i], strs[k], rc, want);
            }
            json_decref(inst);
        }
        if (!bad) regfree(&re);
        json_decref(schema);
    }
}

static void test_types(void **state)
{
    (void)state;
    invalid("/raiiaf_metadata/file_info/previous_manifest", "\"x\"",
            "/raiiaf_metadata/file_info/previous_manifest: must be one of: object, null");
    invalid("/raiiaf_metadata/model_info/prompt", "null", "/raiiaf_metadata/model_info/prompt: must be a string");
    invalid("/raiiaf_metadata/extensions", "[]", "/raiiaf_metadata/extensions: must be an object");
    invalid("/raiiaf_metadata/model_info/adapters/0/weight", "\"high\"",
            "/raiiaf_metadata/model_info/adapters/0/weight: must be a number");
    check("{\"type\": \"null\"}", "0", RAIIAF_E_SCHEMA, "/: must be null");
    check("{\"type\": [\"integer\", \"string\"]}", "2.5", RAIIAF_E_SCHEMA, "/: must be one of: integer, string");
    check("{\"type\": [\"integer\", \"string\"]}", "\"x\"", RAIIAF_OK, "");
    check("{\"type\": \"number\"}", "3", RAIIAF_OK, "");
    check("{\"type\": \"integer\"}", "1e300", RAIIAF_OK, "");
    check("false", "0", RAIIAF_E_SCHEMA, "/: is not allowed");
    check("true", "0", RAIIAF_OK, "");
}

static void test_pointer_escaping(void **state)
{
    (void)state;
    const char *s = "{\"properties\": {\"a/b\": {\"properties\": {\"c~d\": {\"type\": \"string\"}}}}}";
    check(s, "{\"a/b\": {\"c~d\": 1}}", RAIIAF_E_SCHEMA, "/a~1b/c~0d: must be a string");
    check("{\"additionalProperties\": {\"type\": \"integer\"}}", "{\"~/~\": 1, \"x\\ny\": \"no\"}", RAIIAF_E_SCHEMA,
          "/x\\u000ay: must be an integer");
    check("{\"properties\": {\"\": {\"type\": \"string\"}}}", "{\"\": 1}", RAIIAF_E_SCHEMA, "/: must be a string");
}

static void test_additional_properties(void **state)
{
    (void)state;
    const char *s = "{\"properties\": {\"a\": {}}, \"additionalProperties\": false}";
    check(s, "{\"a\": 1}", RAIIAF_OK, "");
    check(s, "{\"a\": 1, \"b\": 2}", RAIIAF_E_SCHEMA, "/b: is not allowed");
    check("{\"properties\": {\"a\": {\"type\": \"string\"}}, \"additionalProperties\": {\"type\": \"integer\"}}",
          "{\"a\": \"x\", \"b\": 2, \"c\": \"y\"}", RAIIAF_E_SCHEMA, "/c: must be an integer");
}

static void test_long_key_truncated(void **state)
{
    (void)state;
    size_t n = 5000;
    char *key = malloc(n + 1);
    assert_non_null(key);
    memset(key, 'k', n);
    key[n] = '\0';
    json_t *schema = parse("{\"additionalProperties\": {\"additionalProperties\": {\"type\": \"string\"}}}");
    json_t *inst = json_object(), *inner = json_object();
    json_object_set_new(inner, "z", json_integer(1));
    json_object_set_new(inst, key, inner);
    rf_err e;
    rf_err_clear(&e);
    assert_int_equal(rf_schema_validate(schema, inst, &e), RAIIAF_E_SCHEMA);
    assert_true(strlen(e.msg) < sizeof e.msg);
    assert_memory_equal(e.msg, "/kkkkkkkk", 9);
    const char *tail = "...: must be a string";
    assert_string_equal(e.msg + strlen(e.msg) - strlen(tail), tail);
    json_decref(schema);
    json_decref(inst);
    free(key);
}

/* ---- schema faults ---------------------------------------------------- */

static void test_unsupported_keywords(void **state)
{
    (void)state;
    check("{\"properties\": {\"a\": {\"oneOf\": [{}]}}}", "{}", RAIIAF_E_SCHEMA,
          "schema uses unsupported keyword \"oneOf\" at #/properties/a");
    check("{\"allOf\": []}", "1", RAIIAF_E_SCHEMA, "schema uses unsupported keyword \"allOf\" at #");
    check("{\"$defs\": {\"x\": {\"items\": {\"propertyNames\": {}}}}}", "1", RAIIAF_E_SCHEMA,
          "schema uses unsupported keyword \"propertyNames\" at #/$defs/x/items");
    check("{\"additionalProperties\": {\"multipleOf\": 2}}", "1", RAIIAF_E_SCHEMA,
          "schema uses unsupported keyword \"multipleOf\" at #/additionalProperties");
    check("{\"format\": \"email\"}", "1", RAIIAF_E_SCHEMA, "schema uses unsupported format \"email\" at #");
    check("{\"items\": [{}]}", "[]", RAIIAF_E_SCHEMA, "a schema must be an object or a boolean at #/items");
    check("{\"type\": \"float\"}", "1", RAIIAF_E_SCHEMA, "schema keyword \"type\" has an invalid value \"float\" at #");
    check("{\"maxLength\": -1}", "1", RAIIAF_E_SCHEMA, "schema keyword \"maxLength\" has an invalid value -1 at #");
    check("{\"properties\": {\"a\": 5}}", "{}", RAIIAF_E_SCHEMA, "a schema must be an object or a boolean at #/properties/a");
    check("{\"pattern\": \"(\"}", "\"x\"", RAIIAF_E_SCHEMA,
          "schema pattern \"(\" does not compile (Unmatched ( or \\() at #");
    check("{\"$ref\": \"#/definitions/x\"}", "1", RAIIAF_E_SCHEMA,
          "schema $ref \"#/definitions/x\" does not resolve (only \"#\" and \"#/$defs/NAME\" are supported) at #");
    check("{\"$ref\": \"#/$defs/missing\"}", "1", RAIIAF_E_SCHEMA,
          "schema $ref \"#/$defs/missing\" does not resolve (only \"#\" and \"#/$defs/NAME\" are supported) at #");
    check("{\"$ref\": \"other.json\"}", "1", RAIIAF_E_SCHEMA,
          "schema $ref \"other.json\" does not resolve (only \"#\" and \"#/$defs/NAME\" are supported) at #");
    /* Annotations are fine, $defs names with RFC 6901 escapes resolve. */
    check("{\"$schema\": \"x\", \"$id\": \"y\", \"$comment\": \"c\", \"title\": \"t\", \"description\": \"d\","
          " \"default\": 1, \"examples\": [1], \"$defs\": {\"a/b\": {\"type\": \"string\"}},"
          " \"$ref\": \"#/$defs/a~1b\"}",
          "1", RAIIAF_E_SCHEMA, "/: must be a string");
}

static void test_ref_cycles(void **state)
{
    (void)state;
    check("{\"$ref\": \"#\"}", "1", RAIIAF_E_SCHEMA,
          "/: schema $ref \"#\" nests deeper than 64 levels (a $ref cycle?)");
    check("{\"$defs\": {\"a\": {\"$ref\": \"#/$defs/b\"}, \"b\": {\"$ref\": \"#/$defs/a\"}},"
          " \"properties\": {\"x\": {\"$ref\": \"#/$defs/a\"}}}",
          "{\"x\": {}}", RAIIAF_E_SCHEMA, "/x: schema $ref \"#/$defs/a\" nests deeper than 64 levels (a $ref cycle?)");
    /* A recursive schema that descends the instance is fine. */
    const char *tree = "{\"type\": \"object\", \"required\": [\"v\"], \"properties\": {\"v\": {\"type\": \"integer\"},"
                       " \"kids\": {\"type\": \"array\", \"items\": {\"$ref\": \"#\"}}}}";
    check(tree, "{\"v\": 1, \"kids\": [{\"v\": 2, \"kids\": [{\"v\": 3}]}]}", RAIIAF_OK, "");
    check(tree, "{\"v\": 1, \"kids\": [{\"v\": 2, \"kids\": [{\"v\": 3}, {\"v\": \"x\"}]}]}", RAIIAF_E_SCHEMA,
          "/kids/0/kids/1/v: must be an integer");
}

/* ---- limits ------------------------------------------------------------- */

static json_t *nested_arrays(int levels)
{
    json_t *v = json_array();
    for (int i = 1; i < levels; i++) {
        json_t *outer = json_array();
        json_array_append_new(outer, v);
        v = outer;
    }
    return v;
}

static void test_deep_nesting(void **state)
{
    (void)state;
    json_t *schema = parse("{}");
    rf_err e;

    json_t *ok = nested_arrays(64);
    rf_err_clear(&e);
    assert_int_equal(rf_schema_validate(schema, ok, &e), RAIIAF_OK);
    json_decref(ok);

    json_t *deep = nested_arrays(65);
    rf_err_clear(&e);
    assert_int_equal(rf_schema_validate(schema, deep, &e), RAIIAF_E_LIMIT);
    char want[512] = "";
    for (int i = 0; i < 64; i++)
        strcat(want, "/0");
    strcat(want, ": nesting deeper than 64 levels");
    assert_string_equal(e.msg, want);
    json_decref(deep);

    json_t *very = nested_arrays(1000);
    rf_err_clear(&e);
    assert_int_equal(rf_schema_validate(schema, very, &e), RAIIAF_E_LIMIT);
    assert_string_equal(e.msg, want);
    json_decref(very);
    json_decref(schema);

    /* Through the public entry point, inside an otherwise valid manifest. */
    size_t n = 1000;
    char *text = malloc(2 * n + 64);
    assert_non_null(text);
    strcpy(text, "{\"x\": ");
    memset(text + 6, '[', n);
    memset(text + 6 + n, ']', n);
    strcpy(text + 6 + 2 * n, "}");
    char msg[RF_ERRMSG_SIZE];
    assert_int_equal(raiiaf_validate_manifest(text, strlen(text), msg, sizeof msg), RAIIAF_E_LIMIT);
    assert_memory_equal(msg, "/x/0/0/0", 8);
    free(text);

    /* A deep schema is refused too, naming where in the schema. */
    json_t *sch = nested_arrays(70), *one = json_integer(1);
    json_t *wrapped = json_pack("{s:o}", "examples", sch);
    rf_err_clear(&e);
    assert_int_equal(rf_schema_validate(wrapped, one, &e), RAIIAF_E_LIMIT);
    strcpy(want, "schema #/examples");
    for (int i = 0; i < 63; i++)
        strcat(want, "/0");
    strcat(want, ": nesting deeper than 64 levels");
    assert_string_equal(e.msg, want);
    json_decref(wrapped);
    json_decref(one);
}

/* ---- the public entry point ------------------------------------------- */

static void test_validate_manifest(void **state)
{
    (void)state;
    char msg[RF_ERRMSG_SIZE];
    const char *bad = "{\"raiiaf_metadata\": {\n  \"file_info\": }}";
    assert_int_equal(raiiaf_validate_manifest(bad, strlen(bad), msg, sizeof msg), RAIIAF_E_JSON);
    assert_string_equal(msg, "line 2 column 16: unexpected token near '}'");
    assert_int_equal(raiiaf_validate_manifest(bad, strlen(bad), NULL, 0), RAIIAF_E_JSON);
    assert_int_equal(raiiaf_validate_manifest(bad, strlen(bad), NULL, 100), RAIIAF_E_JSON);

    char tiny[8];
    memset(tiny, 'X', sizeof tiny);
    assert_int_equal(raiiaf_validate_manifest(bad, strlen(bad), tiny, sizeof tiny), RAIIAF_E_JSON);
    assert_string_equal(tiny, "line 2 ");
    char one = 'X';
    assert_int_equal(raiiaf_validate_manifest(bad, strlen(bad), &one, 1), RAIIAF_E_JSON);
    assert_int_equal(one, '\0');
    one = 'X';
    assert_int_equal(raiiaf_validate_manifest(bad, strlen(bad), &one, 0), RAIIAF_E_JSON);
    assert_int_equal(one, 'X');

    const char *dup = "{\"a\": 1, \"a\": 2}";
    assert_int_equal(raiiaf_validate_manifest(dup, strlen(dup), msg, sizeof msg), RAIIAF_E_JSON);
    assert_string_equal(msg, "line 1 column 12: duplicate object key near '\"a\"'");

    assert_int_equal(raiiaf_validate_manifest("", 0, msg, sizeof msg), RAIIAF_E_JSON);
    assert_int_equal(raiiaf_validate_manifest(NULL, 0, msg, sizeof msg), RAIIAF_E_JSON);
    assert_int_equal(raiiaf_validate_manifest(NULL, 5, msg, sizeof msg), RAIIAF_E_ARG);
    /* The size is honoured: what follows it is not read. */
    assert_int_equal(raiiaf_validate_manifest(minimal_manifest, strlen(minimal_manifest) - 1, msg, sizeof msg),
                     RAIIAF_E_JSON);

    const char *steps = "{\"raiiaf_metadata\": {\"file_info\": {\"magic\": \"raiiaf\", \"version_major\": 2,"
                        " \"version_minor\": 0, \"created\": \"2024-01-01T00:00:00Z\", \"writer\": \"w\","
                        " \"chunk_count\": 0}, \"model_info\": {\"generation_settings\": {\"steps\": 0}},"
                        " \"tensors\": [], \"chunks\": []}}";
    assert_int_equal(raiiaf_validate_manifest(steps, strlen(steps), msg, sizeof msg), RAIIAF_E_SCHEMA);
    assert_string_equal(msg, "/raiiaf_metadata/model_info/generation_settings/steps: must be >= 1");
    char small[20];
    assert_int_equal(raiiaf_validate_manifest(steps, strlen(steps), small, sizeof small), RAIIAF_E_SCHEMA);
    assert_string_equal(small, "/raiiaf_metadata/mo");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_file),
        cmocka_unit_test(test_embedded_matches_file),
        cmocka_unit_test(test_complete_and_minimal_pass),
        cmocka_unit_test(test_unknown_fields_pass),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_bounds_in_test_schemas),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_enums_and_const),
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_unique_items),
        cmocka_unit_test(test_required),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_embedded_nul_never_matches),
        cmocka_unit_test(test_simple_patterns_agree_with_regexec),
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_pointer_escaping),
        cmocka_unit_test(test_additional_properties),
        cmocka_unit_test(test_long_key_truncated),
        cmocka_unit_test(test_unsupported_keywords),
        cmocka_unit_test(test_ref_cycles),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_validate_manifest),
        cmocka_unit_test(test_env_canonical_pattern),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
