/* test_env.c -- the environment record (issue #4): canonical strings and
 * their digests (known answers computed with Python's hashlib), capture on
 * this machine, the NVML path through a stub library (and a real GPU where
 * there is one), the ENVR chunk on write, read and verify, hardware_info,
 * privacy defaults, drift of every kind, and format 1's ENVC records. */
#include "testutil.h"
#include "env.h"
#include "reader_impl.h"
#include "jsondump.h"

#include <dlfcn.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <zstd.h>

#define EXPECT_W(w, call, want)                                                                          \
    do {                                                                                                 \
        int rc_ = (call);                                                                                \
        if (rc_ != (want))                                                                               \
            fail_msg("%s:%d: %s gave %d (%s), expected %d: %s", __FILE__, __LINE__, #call, rc_,           \
                     raiiaf_strerror(rc_), (want), raiiaf_writer_errmsg(w));                             \
    } while (0)

#define EXPECT_R(r, call, want)                                                                          \
    do {                                                                                                 \
        int rc_ = (call);                                                                                \
        if (rc_ != (want))                                                                               \
            fail_msg("%s:%d: %s gave %d (%s), expected %d: %s", __FILE__, __LINE__, #call, rc_,           \
                     raiiaf_strerror(rc_), (want), raiiaf_reader_errmsg(r));                             \
    } while (0)

/* Known answers: hashlib.sha256(s.encode()).hexdigest() */
static const struct {
    const char *canonical, *sha;
} kat[] = {
    {"name=numpy;version=1.24.2", "07393a6d2d5cd69fdb9c2143161843cff029572948ac3c4a3c28f04e0520c620"},
    {"name=os;version=Linux 6.1.0", "c1d896ebad10711379bf6ec52512554064aac3098cac11c515a65f451e4716b8"},
    {"name=gpu;model=NVIDIA H100 80GB HBM3;driver=550.54.15", "34cf2152aabe9a14f4c34d471b070864ace4a806787a4d17696d69eb80d910de"},
    {"name=cuda;version=none", "7dd8a6d3d404960c6f9d281c970d7dff1b1a4b5b4e8beb91d6861019d267349a"},
    {"name=python;version=3.11.2", "19fbff73c36145aa4515e0d802080b2f9a41c64adf44090217f1a5459f70162c"},
};

/* The ENVC record of tests/data/format1/two_latents.raiiaf, as the Python
 * package wrote it (indent 2). */
static const char format1_envc[] =
    "{\n  \"env_version\": 1,\n  \"components\": [\n"
    "    {\n      \"component_id\": \"torch\",\n      \"cononical_str\": \"name=torch;version=1.13.0a0;cuda=None\",\n"
    "      \"component_sha256_digest\": \"aac6758b933bcca32dec5caa5fac44a1dbae5f190e0df084caf5c83efff93a55\"\n    },\n"
    "    {\n      \"component_id\": \"numpy\",\n      \"cononical_str\": \"name=numpy;version=1.24.2\",\n"
    "      \"component_sha256_digest\": \"07393a6d2d5cd69fdb9c2143161843cff029572948ac3c4a3c28f04e0520c620\"\n    },\n"
    "    {\n      \"component_id\": \"python\",\n      \"cononical_str\": \"name=python;version=3.11.2\",\n"
    "      \"component_sha256_digest\": \"19fbff73c36145aa4515e0d802080b2f9a41c64adf44090217f1a5459f70162c\"\n    },\n"
    "    {\n      \"component_id\": \"cuda\",\n      \"cononical_str\": \"name=cuda;version=none\",\n"
    "      \"component_sha256_digest\": \"7dd8a6d3d404960c6f9d281c970d7dff1b1a4b5b4e8beb91d6861019d267349a\"\n    },\n"
    "    {\n      \"component_id\": \"os\",\n      \"cononical_str\": \"name=os;version=Linux 6.18.44-fc-v595\",\n"
    "      \"component_sha256_digest\": \"d11efd253476f0a82f9410fc3eeb105813167cf45befb6e01877ab6f310a8e56\"\n    }\n"
    "  ]\n}";

/* No NVML for tests that want a machine-independent capture. */
static void no_nvml(void) { setenv("RAIIAF_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1); }

static raiiaf_env *env_or_fail(void)
{
    raiiaf_env *e = NULL;
    assert_int_equal(raiiaf_env_new(&e), RAIIAF_OK);
    return e;
}

static void add_ok(raiiaf_env *e, const char *id, const char *can)
{
    int rc = raiiaf_env_add_component(e, id, can);
    if (rc) fail_msg("add %s=%s: %s", id, can, raiiaf_env_errmsg(e));
}

/* A file with exactly these components (no capture) and one small tensor. */
static char *write_file(const char *dir, const char *name, const char *const *comps, unsigned flags)
{
    char *path = tu_path(dir, name);
    raiiaf_writer *w = NULL;
    EXPECT_W(w, raiiaf_writer_new(path, &w), RAIIAF_OK);
    EXPECT_W(w, raiiaf_writer_set_env(w, flags), RAIIAF_OK);
    for (size_t i = 0; comps && comps[i]; i += 2) EXPECT_W(w, raiiaf_writer_add_env_component(w, comps[i], comps[i + 1]), RAIIAF_OK);
    static const uint64_t shape[1] = {4};
    const float v[4] = {1, 2, 3, 4};
    EXPECT_W(w, raiiaf_writer_add_tensor(w, "t", RAIIAF_F32, 1, shape, v, sizeof v, RAIIAF_CODEC_RAW, 0), RAIIAF_OK);
    EXPECT_W(w, raiiaf_writer_finish(w), RAIIAF_OK);
    raiiaf_writer_free(w);
    return path;
}

static raiiaf_reader *open_ok(const char *path)
{
    raiiaf_reader *r = NULL;
    int rc = raiiaf_reader_open_file(path, 0, &r);
    if (rc) fail_msg("%s: %s", path, raiiaf_reader_errmsg(r));
    return r;
}

static void rm_dir(char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) print_message("could not remove %s\n", dir);
    free(dir);
}

/* ---- canonical strings and digests --------------------------------------- */

static void test_known_answers(void **state)
{
    (void)state;
    raiiaf_env *e = env_or_fail();
    static const char *const ids[] = {"numpy", "os", "gpu", "cuda", "python"};
    for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) add_ok(e, ids[i], kat[i].canonical);
    assert_int_equal(raiiaf_env_count(e), 5);
    for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        const char *id, *can, *sha;
        int found = 0;
        for (size_t k = 0; k < raiiaf_env_count(e); k++) {
            assert_int_equal(raiiaf_env_component(e, k, &id, &can, &sha), RAIIAF_OK);
            if (!strcmp(id, ids[i])) {
                assert_string_equal(can, kat[i].canonical);
                assert_string_equal(sha, kat[i].sha);
                found = 1;
            }
        }
        assert_true(found);
    }
    /* sorted by id */
    const char *prev = "";
    for (size_t k = 0; k < raiiaf_env_count(e); k++) {
        const char *id;
        raiiaf_env_component(e, k, &id, NULL, NULL);
        assert_true(strcmp(prev, id) < 0);
        prev = id;
    }
    assert_int_equal(raiiaf_env_component(e, 5, NULL, NULL, NULL), RAIIAF_E_NOT_FOUND);
    /* replacing keeps one entry */
    add_ok(e, "numpy", "name=numpy;version=2.0.0");
    assert_int_equal(raiiaf_env_count(e), 5);
    assert_string_equal(raiiaf_env_find(e, "numpy"), "name=numpy;version=2.0.0");
    assert_null(raiiaf_env_find(e, "torch"));
    /* the JSON round trips, digests included */
    const char *j = raiiaf_env_json(e);
    assert_non_null(j);
    raiiaf_env *back = NULL;
    assert_int_equal(raiiaf_env_from_json(j, strlen(j), &back), RAIIAF_OK);
    assert_int_equal(raiiaf_env_count(back), 5);
    assert_string_equal(raiiaf_env_find(back, "os"), kat[1].canonical);
    assert_non_null(strstr(j, kat[2].sha));
    assert_non_null(strstr(j, "\"env_version\": 2"));
    raiiaf_env_free(back);
    raiiaf_env_free(e);
    raiiaf_env_free(NULL);
}

static void test_canonical_rules(void **state)
{
    (void)state;
    static const char *const good[] = {"name=os;version=Linux 6.1.0", "a=", "k=v", "x.y-z_1=caf\xc3\xa9",
                                       "name=cpu;model=Intel(R) Xeon(R) CPU @ 2.20GHz;cores=8"};
    static const char *const bad[] = {"", "name", "=v", "Name=v", "a=b=c", "a=b;", ";a=b", "a=b;a=c", "a=tab\there",
                                      "a=\xff", "a=b;;c=d", "a b=c", "a=new\nline"};
    char msg[256];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (raiiaf_env_check_canonical(good[i], msg, sizeof msg)) fail_msg("\"%s\" refused: %s", good[i], msg);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (raiiaf_env_check_canonical(bad[i], msg, sizeof msg) != RAIIAF_E_ARG) fail_msg("\"%s\" accepted", bad[i]);
        assert_true(strlen(msg) > 0);
    }
    char big[RF_ENV_MAX_CANONICAL + 8];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    big[1] = '=';
    assert_int_equal(raiiaf_env_check_canonical(big, NULL, 0), RAIIAF_E_ARG);
    raiiaf_env *e = env_or_fail();
    assert_int_equal(raiiaf_env_add_component(e, "Bad", "a=b"), RAIIAF_E_ARG);
    assert_non_null(strstr(raiiaf_env_errmsg(e), "component id"));
    assert_int_equal(raiiaf_env_add_component(e, "", "a=b"), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_env_add_component(e, NULL, "a=b"), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_env_add_component(e, "x", "a=b;c"), RAIIAF_E_ARG);
    assert_non_null(strstr(raiiaf_env_errmsg(e), "KEY=VALUE"));
    assert_int_equal(raiiaf_env_add_component(e, "x", "a=b=c"), RAIIAF_E_ARG);
    assert_non_null(strstr(raiiaf_env_errmsg(e), "refused, not escaped"));
    assert_int_equal(raiiaf_env_add_component(NULL, "x", "a=b"), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_env_count(e), 0);
    raiiaf_env_free(e);
}

/* Format 1's ENVC text parses with its own member names and digests. */
static void test_format1_envc_json(void **state)
{
    (void)state;
    raiiaf_env *f1 = NULL;
    int rc = raiiaf_env_from_json(format1_envc, strlen(format1_envc), &f1);
    if (rc) fail_msg("%s", raiiaf_env_errmsg(f1));
    assert_int_equal(raiiaf_env_count(f1), 5);
    assert_string_equal(raiiaf_env_find(f1, "torch"), "name=torch;version=1.13.0a0;cuda=None");
    assert_string_equal(raiiaf_env_find(f1, "os"), "name=os;version=Linux 6.18.44-fc-v595");

    /* compared with a format 2 environment by id and canonical string */
    raiiaf_env *now = env_or_fail();
    add_ok(now, "os", "name=os;version=Linux 6.1.0");
    add_ok(now, "numpy", "name=numpy;version=1.24.2");
    add_ok(now, "python", "name=python;version=3.12.1");
    add_ok(now, "zstd", "name=zstd;version=1.5.4");
    raiiaf_drift *d = NULL;
    assert_int_equal(raiiaf_drift_compare(f1, now, &d), RAIIAF_OK);
    /* cuda (unchecked), os (changed), python (changed), torch (unchecked), zstd (added) */
    assert_int_equal(raiiaf_drift_count(d), 5);
    static const struct {
        const char *id;
        raiiaf_drift_kind kind;
    } want[] = {{"cuda", RAIIAF_DRIFT_UNCHECKED}, {"os", RAIIAF_DRIFT_CHANGED}, {"python", RAIIAF_DRIFT_CHANGED},
                {"torch", RAIIAF_DRIFT_UNCHECKED}, {"zstd", RAIIAF_DRIFT_ADDED}};
    for (size_t i = 0; i < 5; i++) {
        raiiaf_drift_item it;
        assert_int_equal(raiiaf_drift_item_get(d, i, &it), RAIIAF_OK);
        assert_string_equal(it.id, want[i].id);
        assert_int_equal(it.kind, want[i].kind);
    }
    raiiaf_drift_item it;
    raiiaf_drift_item_get(d, 1, &it);
    assert_string_equal(it.file_canonical, "name=os;version=Linux 6.18.44-fc-v595");
    assert_string_equal(it.current_canonical, "name=os;version=Linux 6.1.0");
    assert_int_equal(raiiaf_drift_differences(d), 3);
    raiiaf_drift_free(d);
    raiiaf_env_free(now);
    raiiaf_env_free(f1);

    /* a digest that does not match its string is refused */
    char *t = strdup(format1_envc);
    char *p = strstr(t, "07393a6d");
    p[0] = '1';
    raiiaf_env *bad = NULL;
    assert_int_equal(raiiaf_env_from_json(t, strlen(t), &bad), RAIIAF_E_DIGEST);
    assert_non_null(strstr(raiiaf_env_errmsg(bad), "numpy"));
    raiiaf_env_free(bad);
    free(t);
    static const char *const broken[] = {"[]", "{}", "{\"components\": {}}", "{\"components\": [{\"id\": \"a\"}]}",
                                         "{\"components\": [{\"id\": \"a\", \"canonical\": \"a=b\"}]}", "{"};
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        bad = NULL;
        assert_int_not_equal(raiiaf_env_from_json(broken[i], strlen(broken[i]), &bad), RAIIAF_OK);
        raiiaf_env_free(bad);
    }
    /* the same id twice */
    const char *dup = "{\"env_version\": 2, \"components\": ["
                      "{\"id\": \"a\", \"canonical\": \"a=b\", \"sha256\": \"" /* sha256("a=b") */
                      "0f80ff2f6aed3eb9e4ac5f9b9a6e5a3d5d4e6d0b7d9e3f6e2b8f9c4c1d2e3f40\"}]}";
    bad = NULL;
    assert_int_not_equal(raiiaf_env_from_json(dup, strlen(dup), &bad), RAIIAF_OK);
    raiiaf_env_free(bad);
}

/* The files the Python package wrote: their ENVC through the reader. */
static void test_format1_files(void **state)
{
    (void)state;
    char *path = tu_path(RAIIAF_TEST_DATA, "format1/two_latents.raiiaf");
    if (access(path, R_OK) != 0) {
        free(path);
        print_message("skipped: tests/data/format1/ is not there\n");
        skip();
    }
    raiiaf_reader *r = NULL;
    int rc = raiiaf_reader_open_file(path, 0, &r);
    if (rc == RAIIAF_E_VERSION) {
        raiiaf_reader_free(r);
        free(path);
        print_message("skipped: this build does not read format 1\n");
        skip();
    }
    if (rc) fail_msg("%s: %s", path, raiiaf_reader_errmsg(r));
    const char *text;
    size_t len;
    EXPECT_R(r, raiiaf_reader_env_record(r, &text, &len), RAIIAF_OK);
    assert_non_null(strstr(text, "cononical_str"));
    raiiaf_env *e = NULL;
    EXPECT_R(r, raiiaf_reader_env(r, &e), RAIIAF_OK);
    assert_int_equal(raiiaf_env_count(e), 5);
    assert_string_equal(raiiaf_env_find(e, "numpy"), kat[0].canonical);
    raiiaf_env *now = env_or_fail();
    add_ok(now, "numpy", "name=numpy;version=1.24.2");
    add_ok(now, "os", "name=os;version=Linux 6.18.44-fc-v595");
    raiiaf_drift *d = NULL;
    EXPECT_R(r, raiiaf_reader_drift(r, now, &d), RAIIAF_OK);
    assert_int_equal(raiiaf_drift_differences(d), 0); /* numpy and os agree */
    assert_int_equal(raiiaf_drift_count_kind(d, RAIIAF_DRIFT_UNCHECKED), 3); /* cuda, python, torch */
    raiiaf_drift_free(d);
    raiiaf_env_free(now);
    raiiaf_env_free(e);
    raiiaf_reader_free(r);
    free(path);
}

/* ---- capture ---------------------------------------------------------------- */

static void value_of(const raiiaf_env *e, const char *id, const char *key, char *buf, size_t cap)
{
    const char *can = raiiaf_env_find(e, id);
    if (!can) fail_msg("no component %s", id);
    if (rf_env_value(can, key, buf, cap)) fail_msg("component %s (%s) has no %s", id, can, key);
}

static void test_capture_this_machine(void **state)
{
    (void)state;
    no_nvml();
    raiiaf_env *e = NULL;
    assert_int_equal(raiiaf_env_capture(RAIIAF_ENV_DEFAULT, &e), RAIIAF_OK);
    char v[512], want[600];
    struct utsname u;
    assert_int_equal(uname(&u), 0);
    snprintf(want, sizeof want, "name=os;version=%s %s", u.sysname, u.release);
    assert_string_equal(raiiaf_env_find(e, "os"), want);
    value_of(e, "arch", "machine", v, sizeof v);
    assert_string_equal(v, u.machine);
    value_of(e, "cpu", "cores", v, sizeof v);
    assert_int_equal(atol(v), sysconf(_SC_NPROCESSORS_ONLN));
    value_of(e, "cpu", "model", v, sizeof v);
    assert_true(strlen(v) > 0);
    value_of(e, "ram", "bytes", v, sizeof v);
    unsigned long long ram = strtoull(v, NULL, 10);
    unsigned long long phys = (unsigned long long)sysconf(_SC_PHYS_PAGES) * (unsigned long long)sysconf(_SC_PAGESIZE);
    assert_true(ram > (64ull << 20) && ram <= phys + (1ull << 30) && ram >= phys / 2);
    value_of(e, "zstd", "version", v, sizeof v);
    assert_string_equal(v, ZSTD_versionString());
    value_of(e, "jansson", "version", v, sizeof v);
    assert_string_equal(v, jansson_version_str());
    static const char *const libs[] = {"zfp", "openssl", "spng", "libc"};
    for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) {
        value_of(e, libs[i], "version", v, sizeof v);
        if (!(v[0] >= '0' && v[0] <= '9') || !strchr(v, '.')) fail_msg("%s version \"%s\" is not a version", libs[i], v);
    }
    value_of(e, "libraiiaf", "version", v, sizeof v);
    assert_string_equal(v, RAIIAF_VERSION_STRING);
    value_of(e, "libraiiaf", "format", v, sizeof v);
    assert_string_equal(v, "2.1"); /* the newest format this library writes */
    assert_null(raiiaf_env_find(e, "gpu"));
    assert_null(raiiaf_env_find(e, "gpu0"));
    assert_null(raiiaf_env_find(e, "hostname"));
    /* every captured string is valid, and its digest is its SHA-256 */
    for (size_t i = 0; i < raiiaf_env_count(e); i++) {
        const char *id, *can, *sha;
        char msg[256], hex[65];
        raiiaf_env_component(e, i, &id, &can, &sha);
        if (raiiaf_env_check_canonical(can, msg, sizeof msg)) fail_msg("%s: %s", id, msg);
        assert_int_equal(rf_sha256_hex(can, strlen(can), hex), 0);
        assert_string_equal(sha, hex);
        assert_int_equal(strncmp(can, "name=", 5), 0);
    }
    /* the record validates against schema/raiiaf-env.schema.json */
    json_t *schema = json_loads(rf_env_schema_json, 0, NULL), *rec = json_loads(raiiaf_env_json(e), 0, NULL);
    rf_err err = {0};
    assert_non_null(schema);
    assert_non_null(rec);
    if (rf_schema_validate(schema, rec, &err)) fail_msg("%s", err.msg);
    json_decref(schema);
    json_decref(rec);
    raiiaf_env_free(e);
}

static void test_nvml_stub(void **state)
{
    (void)state;
#ifndef RAIIAF_NVML_STUB
    print_message("skipped: the NVML stub library is not built\n");
    skip();
#else
    setenv("RAIIAF_NVML_LIBRARY", RAIIAF_NVML_STUB, 1);
    unsetenv("NVML_STUB_FAIL");
    unsetenv("NVML_STUB_COUNT");
    raiiaf_env *e = NULL;
    assert_int_equal(raiiaf_env_capture(0, &e), RAIIAF_OK);
    assert_string_equal(raiiaf_env_find(e, "gpu"), "name=gpu;model=NVIDIA Stub A100-SXM4-40GB;driver=535.104.05");
    assert_string_equal(raiiaf_env_find(e, "gpu0"),
                        "name=gpu;index=0;model=NVIDIA Stub A100-SXM4-40GB;memory_bytes=42949672960;driver=535.104.05;cuda=12.2");
    assert_string_equal(raiiaf_env_find(e, "gpu1"),
                        "name=gpu;index=1;model=NVIDIA Stub H100 80GB HBM3;memory_bytes=85520809984;driver=535.104.05;cuda=12.2");
    assert_null(raiiaf_env_find(e, "gpu2"));
    raiiaf_env_free(e);

    /* hardware_info from them, in a written file that verifies */
    char *dir = tu_tempdir();
    char *path = write_file(dir, "gpu.raiiaf", NULL, RAIIAF_ENV_DEFAULT);
    raiiaf_reader *r = open_ok(path);
    EXPECT_R(r, raiiaf_reader_verify(r, NULL, NULL), RAIIAF_OK);
    json_t *m = json_loads(raiiaf_reader_manifest(r, NULL), 0, NULL);
    json_t *hw = json_object_get(json_object_get(json_object_get(m, "raiiaf_metadata"), "model_info"), "hardware_info");
    json_t *gpus = json_object_get(hw, "gpu");
    assert_int_equal(json_array_size(gpus), 2);
    json_t *g1 = json_array_get(gpus, 1);
    assert_string_equal(json_string_value(json_object_get(g1, "name")), "NVIDIA Stub H100 80GB HBM3");
    assert_true(json_real_value(json_object_get(g1, "memory_gb")) == 79.65);
    assert_string_equal(json_string_value(json_object_get(g1, "driver")), "535.104.05");
    assert_string_equal(json_string_value(json_object_get(g1, "cuda_version")), "12.2");
    json_decref(m);
    raiiaf_reader_free(r);
    free(path);

    /* a driver that does not initialise, and no device: no component, no error */
    setenv("NVML_STUB_FAIL", "1", 1);
    assert_int_equal(raiiaf_env_capture(0, &e), RAIIAF_OK);
    assert_null(raiiaf_env_find(e, "gpu"));
    assert_non_null(raiiaf_env_find(e, "os"));
    raiiaf_env_free(e);
    unsetenv("NVML_STUB_FAIL");
    setenv("NVML_STUB_COUNT", "0", 1);
    assert_int_equal(raiiaf_env_capture(0, &e), RAIIAF_OK);
    assert_null(raiiaf_env_find(e, "gpu0"));
    raiiaf_env_free(e);
    unsetenv("NVML_STUB_COUNT");
    /* a library without the entry points (this test's own libc) */
    setenv("RAIIAF_NVML_LIBRARY", "libc.so.6", 1);
    assert_int_equal(raiiaf_env_capture(0, &e), RAIIAF_OK);
    assert_null(raiiaf_env_find(e, "gpu"));
    raiiaf_env_free(e);
    no_nvml();
    rm_dir(dir);
#endif
}

/* The real NVML, where the machine has an NVIDIA driver (CI has none). */
static void test_real_gpu(void **state)
{
    (void)state;
    unsetenv("RAIIAF_NVML_LIBRARY");
    void *lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        print_message("skipped: no NVIDIA driver here (libnvidia-ml.so.1 does not load: %s)\n", dlerror());
        no_nvml();
        skip();
    }
    dlclose(lib);
    raiiaf_env *e = NULL;
    assert_int_equal(raiiaf_env_capture(0, &e), RAIIAF_OK);
    const char *g0 = raiiaf_env_find(e, "gpu0");
    if (!g0) {
        print_message("skipped: libnvidia-ml.so.1 loads but reports no GPU\n");
        raiiaf_env_free(e);
        no_nvml();
        skip();
    }
    char v[256];
    print_message("gpu0: %s\n", g0);
    value_of(e, "gpu0", "model", v, sizeof v);
    assert_true(strlen(v) > 0 && strcmp(v, "unknown"));
    value_of(e, "gpu0", "memory_bytes", v, sizeof v);
    assert_true(strtoull(v, NULL, 10) >= (1ull << 30));
    value_of(e, "gpu0", "driver", v, sizeof v);
    assert_true(v[0] >= '0' && v[0] <= '9' && strchr(v, '.'));
    value_of(e, "gpu0", "cuda", v, sizeof v);
    assert_true(v[0] >= '1' && v[0] <= '9' && strchr(v, '.'));
    value_of(e, "gpu", "model", v, sizeof v);
    assert_true(strlen(v) > 0);
    raiiaf_env_free(e);
    no_nvml();
}

/* ---- the ENVR chunk ---------------------------------------------------------- */

static void test_writer_record(void **state)
{
    (void)state;
    no_nvml();
    char *dir = tu_tempdir();
    static const char *const comps[] = {"torch", "name=torch;version=2.3.0;cuda=12.1;cudnn=8902",
                                        "model", "name=model;sha256=ab12", NULL};
    char *path = write_file(dir, "rec.raiiaf", comps, RAIIAF_ENV_NO_CAPTURE);
    raiiaf_reader *r = open_ok(path);
    EXPECT_R(r, raiiaf_reader_verify(r, NULL, NULL), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_chunk_count(r), 2);
    raiiaf_chunk_info ci;
    EXPECT_R(r, raiiaf_reader_chunk_info(r, 1, &ci), RAIIAF_OK);
    assert_string_equal(ci.type, "ENVR");
    assert_int_equal(ci.codec, RAIIAF_CODEC_ZSTD);
    json_t *m = json_loads(raiiaf_reader_manifest(r, NULL), 0, NULL);
    json_t *meta = json_object_get(m, "raiiaf_metadata");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(meta, "environment"), "chunk")), 1);
    /* no os component: no hardware_info */
    assert_null(json_object_get(json_object_get(meta, "model_info"), "hardware_info"));
    json_decref(m);
    const char *text;
    size_t len;
    EXPECT_R(r, raiiaf_reader_env_record(r, &text, &len), RAIIAF_OK);
    assert_int_equal(strlen(text), len);
    assert_int_equal(len, ci.raw_size);
    raiiaf_env *e = NULL;
    EXPECT_R(r, raiiaf_reader_env(r, &e), RAIIAF_OK);
    assert_int_equal(raiiaf_env_count(e), 2);
    assert_string_equal(raiiaf_env_find(e, "torch"), "name=torch;version=2.3.0;cuda=12.1;cudnn=8902");
    raiiaf_env_free(e);
    raiiaf_reader_free(r);

    /* in memory too */
    size_t n;
    unsigned char *file = tu_read_file(path, &n);
    assert_int_equal(raiiaf_reader_open_memory(file, n, 0, &r), RAIIAF_OK);
    EXPECT_R(r, raiiaf_reader_env_record(r, &text, NULL), RAIIAF_OK);
    assert_non_null(strstr(text, "cudnn=8902"));
    raiiaf_reader_free(r);

    /* a flipped bit in the record's payload: reading and verify fail */
    uint64_t payload = ci.offset + 64 + ci.stored_size / 2;
    file[payload] ^= 0x10;
    assert_int_equal(raiiaf_reader_open_memory(file, n, 0, &r), RAIIAF_OK);
    EXPECT_R(r, raiiaf_reader_env_record(r, &text, NULL), RAIIAF_E_CHECKSUM);
    assert_int_not_equal(raiiaf_reader_verify(r, NULL, NULL), RAIIAF_OK);
    assert_non_null(strstr(raiiaf_reader_errmsg(r), "ENVR"));
    raiiaf_reader_free(r);
    free(file);
    free(path);

    /* RAIIAF_ENV_NONE: no chunk, no record */
    path = write_file(dir, "none.raiiaf", NULL, RAIIAF_ENV_NONE);
    r = open_ok(path);
    assert_int_equal(raiiaf_reader_chunk_count(r), 1);
    EXPECT_R(r, raiiaf_reader_env_record(r, &text, &len), RAIIAF_E_NOT_FOUND);
    raiiaf_drift *d = NULL;
    EXPECT_R(r, raiiaf_reader_drift(r, NULL, &d), RAIIAF_E_NOT_FOUND);
    assert_null(d);
    assert_null(strstr(raiiaf_reader_manifest(r, NULL), "environment"));
    EXPECT_R(r, raiiaf_reader_verify(r, NULL, NULL), RAIIAF_OK);
    raiiaf_reader_free(r);
    free(path);

    /* API misuse */
    path = tu_path(dir, "misuse.raiiaf");
    raiiaf_writer *w = NULL;
    EXPECT_W(w, raiiaf_writer_new(path, &w), RAIIAF_OK);
    EXPECT_W(w, raiiaf_writer_add_env_component(w, "torch", "name=torch;version=2"), RAIIAF_OK);
    EXPECT_W(w, raiiaf_writer_add_env_component(w, "torch", "name=torch;version=3"), RAIIAF_E_EXISTS);
    EXPECT_W(w, raiiaf_writer_add_env_component(w, "x", "no-equals"), RAIIAF_E_ARG);
    EXPECT_W(w, raiiaf_writer_add_env_component(w, "X", "a=b"), RAIIAF_E_ARG);
    EXPECT_W(w, raiiaf_writer_set_env(w, RAIIAF_ENV_NONE), RAIIAF_E_STATE);
    EXPECT_W(w, raiiaf_writer_set_env(w, 0x80), RAIIAF_E_ARG);
    EXPECT_W(w, raiiaf_writer_set_env(w, RAIIAF_ENV_NONE | RAIIAF_ENV_INCLUDE_HOSTNAME), RAIIAF_E_ARG);
    EXPECT_W(w, raiiaf_writer_add_chunk(w, "ENVR", "x", 1), RAIIAF_E_ARG);
    EXPECT_W(w, raiiaf_writer_set_json(w, "/raiiaf_metadata/environment", "{\"chunk\": 0}"), RAIIAF_E_ARG);
    EXPECT_W(w, raiiaf_writer_merge_json(w, "{\"raiiaf_metadata\": {\"environment\": {\"chunk\": 0}}}"), RAIIAF_E_ARG);
    /* a caller's component replaces the captured one of the same id */
    EXPECT_W(w, raiiaf_writer_add_env_component(w, "os", "name=os;version=Plan9 4"), RAIIAF_OK);
    EXPECT_W(w, raiiaf_writer_finish(w), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_env_component(w, "y", "a=b"), RAIIAF_E_STATE);
    raiiaf_writer_free(w);
    r = open_ok(path);
    EXPECT_R(r, raiiaf_reader_env(r, &e), RAIIAF_OK);
    assert_string_equal(raiiaf_env_find(e, "os"), "name=os;version=Plan9 4");
    assert_non_null(raiiaf_env_find(e, "zstd"));
    raiiaf_env_free(e);
    json_t *mm = json_loads(raiiaf_reader_manifest(r, NULL), 0, NULL);
    json_t *hw = json_object_get(json_object_get(json_object_get(mm, "raiiaf_metadata"), "model_info"), "hardware_info");
    assert_string_equal(json_string_value(json_object_get(hw, "os")), "Plan9 4");
    json_decref(mm);
    raiiaf_reader_free(r);
    free(path);
    assert_int_equal(raiiaf_writer_set_env(NULL, 0), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_writer_add_env_component(NULL, "a", "a=b"), RAIIAF_E_ARG);
    rm_dir(dir);
}

/* hardware_info: filled from the capture when the caller gives none, never
 * touched when the caller gives one; always schema-valid. */
static void test_hardware_info(void **state)
{
    (void)state;
    no_nvml();
    char *dir = tu_tempdir();
    char *path = write_file(dir, "hw.raiiaf", NULL, RAIIAF_ENV_DEFAULT);
    raiiaf_reader *r = open_ok(path);
    EXPECT_R(r, raiiaf_reader_verify(r, NULL, NULL), RAIIAF_OK);
    json_t *m = json_loads(raiiaf_reader_manifest(r, NULL), 0, NULL);
    json_t *hw = json_object_get(json_object_get(json_object_get(m, "raiiaf_metadata"), "model_info"), "hardware_info");
    struct utsname u;
    uname(&u);
    char os[600];
    snprintf(os, sizeof os, "%s %s", u.sysname, u.release);
    assert_string_equal(json_string_value(json_object_get(hw, "os")), os);
    assert_int_equal(json_integer_value(json_object_get(hw, "cpu_cores")), sysconf(_SC_NPROCESSORS_ONLN));
    assert_true(json_real_value(json_object_get(hw, "ram_gb")) > 0);
    assert_true(json_is_string(json_object_get(hw, "cpu")));
    assert_null(json_object_get(hw, "gpu"));
    assert_null(json_object_get(hw, "machine_name"));
    json_decref(m);
    raiiaf_reader_free(r);
    free(path);

    path = tu_path(dir, "hw2.raiiaf");
    raiiaf_writer *w = NULL;
    EXPECT_W(w, raiiaf_writer_new(path, &w), RAIIAF_OK);
    EXPECT_W(w, raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/hardware_info", "{\"os\": \"mine\"}"), RAIIAF_OK);
    EXPECT_W(w, raiiaf_writer_finish(w), RAIIAF_OK);
    raiiaf_writer_free(w);
    r = open_ok(path);
    m = json_loads(raiiaf_reader_manifest(r, NULL), 0, NULL);
    hw = json_object_get(json_object_get(json_object_get(m, "raiiaf_metadata"), "model_info"), "hardware_info");
    assert_int_equal(json_object_size(hw), 1);
    assert_string_equal(json_string_value(json_object_get(hw, "os")), "mine");
    json_decref(m);
    raiiaf_reader_free(r);
    free(path);
    rm_dir(dir);
}

/* hardware_info's ram_gb and memory_gb have two decimals in the manifest's
 * text (SPEC 19.4), not jansson's 17 significant digits. */
static void test_hardware_info_decimals(void **state)
{
    (void)state;
    no_nvml();
    char *dir = tu_tempdir();
    /* 25275816591 / 2^30 = 23.5399999996..., 85520809984 / 2^30 = 79.647... */
    static const char *const comps[] = {"ram", "name=ram;bytes=25275816591", "gpu0",
                                        "name=gpu;index=0;model=X;memory_bytes=85520809984;driver=1;cuda=12.4", NULL};
    char *path = write_file(dir, "dec.raiiaf", comps, RAIIAF_ENV_DEFAULT);
    raiiaf_reader *r = open_ok(path);
    const char *text = raiiaf_reader_manifest(r, NULL);
    if (!strstr(text, "\"ram_gb\": 23.54,") && !strstr(text, "\"ram_gb\": 23.54\n")) fail_msg("ram_gb not 23.54 in:\n%s", text);
    if (!strstr(text, "\"memory_gb\": 79.65")) fail_msg("memory_gb not 79.65 in:\n%s", text);
    assert_null(strstr(text, "23.539999"));
    EXPECT_R(r, raiiaf_reader_verify(r, NULL, NULL), RAIIAF_OK);
    raiiaf_reader_free(r);
    free(path);
    rm_dir(dir);
}

/* The manifest's text is jansson's JSON_INDENT(1) layout byte for byte,
 * reals aside; reals are the shortest text that reads back as the same
 * double. */
static void test_manifest_dump(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "{}",
        "[]",
        "{\"a\": [], \"b\": {}, \"c\": [1, [2, {}], {\"d\": null}], \"e\": true, \"f\": false, \"g\": -9223372036854775807}",
        "{\"s\": \"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f\\u00e9\\u2028\\ud83d\\ude00\", \"k\\n\\u0002\": \"\"}",
        "{\"z\": 1, \"y\": 2, \"x\": {\"w\": [\"v\", 3]}}",
        NULL};
    for (size_t i = 0; docs[i]; i++) {
        json_t *v = json_loads(docs[i], JSON_DECODE_ANY, NULL);
        assert_non_null(v);
        char *a = rf_json_dump_manifest(v), *b = json_dumps(v, JSON_INDENT(1) | JSON_ENCODE_ANY);
        assert_non_null(a);
        assert_string_equal(a, b);
        free(a);
        free(b);
        json_decref(v);
    }
    static const struct {
        double v;
        const char *text;
    } reals[] = {{23.54, "23.54"}, {79.65, "79.65"}, {7.0, "7.0"}, {7.5, "7.5"}, {0.1, "0.1"}, {-0.0, "-0.0"},
                 {1e20, "1e20"}, {1e-5, "1e-5"}, {1.5e-7, "1.5e-7"}, {1e300, "1e300"}, {0.0014379248023033142, "0.0014379248023033142"},
                 {1.0 / 3, "0.3333333333333333"}, {2.0 / 3, "0.6666666666666666"}, {123456789012345678.0, "1.2345678901234568e17"},
                 {4.9406564584124654e-324, "5e-324"}, {1.7976931348623157e308, "1.7976931348623157e308"}};
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) {
        char t[40];
        rf_json_real_text(reals[i].v, t);
        assert_string_equal(t, reals[i].text);
        assert_true(strtod(t, NULL) == reals[i].v);
        json_t *v = json_real(reals[i].v);
        json_t *back = json_loads(t, JSON_DECODE_ANY, NULL);
        assert_true(json_is_real(back) && json_real_value(back) == reals[i].v);
        json_decref(back);
        json_decref(v);
    }
    /* 17 significant digits (jansson's) whenever fewer do not read back. */
    for (unsigned k = 1; k < 2000; k++) {
        double d = k * 0.0137 + 1.0 / k;
        char t[40], j[40];
        rf_json_real_text(d, t);
        assert_true(strtod(t, NULL) == d);
        snprintf(j, sizeof j, "%.17g", d);
        assert_true(strlen(t) <= strlen(j) + 2);
    }
}

/* No host name, user name or home path unless asked for. */
static void test_privacy(void **state)
{
    (void)state;
    no_nvml();
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    const char *user = getenv("USER"), *home = getenv("HOME");
    char *dir = tu_tempdir();
    char *path = write_file(dir, "p.raiiaf", NULL, RAIIAF_ENV_DEFAULT);
    size_t n;
    unsigned char *file = tu_read_file(path, &n);
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_memory(file, n, 0, &r), RAIIAF_OK);
    const char *text;
    EXPECT_R(r, raiiaf_reader_env_record(r, &text, NULL), RAIIAF_OK);
    const char *manifest = raiiaf_reader_manifest(r, NULL);
    /* a host name also found in the canonical strings for other reasons
     * (a one-letter name) would prove nothing: only check telling ones */
    if (strlen(host) >= 4) {
        if (strstr(text, host)) fail_msg("the record holds the host name \"%s\":\n%s", host, text);
        if (strstr(manifest, host)) fail_msg("the manifest holds the host name \"%s\"", host);
    }
    if (user && strlen(user) >= 3 && strstr(text, user)) fail_msg("the record holds the user name \"%s\"", user);
    if (home && strlen(home) > 1 && strstr(text, home)) fail_msg("the record holds the home path \"%s\"", home);
    assert_null(strstr(text, "hostname"));
    assert_null(strstr(text, dir));
    raiiaf_reader_free(r);
    free(file);
    free(path);

    /* asked for: the host name and machine_name */
    path = write_file(dir, "h.raiiaf", NULL, RAIIAF_ENV_INCLUDE_HOSTNAME);
    r = open_ok(path);
    raiiaf_env *e = NULL;
    EXPECT_R(r, raiiaf_reader_env(r, &e), RAIIAF_OK);
    const char *hc = raiiaf_env_find(e, "hostname");
    assert_non_null(hc);
    if (*host && !strpbrk(host, ";=")) {
        char want[300];
        snprintf(want, sizeof want, "name=hostname;value=%s", host);
        assert_string_equal(hc, want);
        assert_non_null(strstr(raiiaf_reader_manifest(r, NULL), "\"machine_name\""));
    }
    /* drift captures the host name only because the file has one */
    raiiaf_drift *d = NULL;
    EXPECT_R(r, raiiaf_reader_drift(r, NULL, &d), RAIIAF_OK);
    assert_int_equal(raiiaf_drift_differences(d), 0);
    assert_int_equal(raiiaf_drift_count(d), 0);
    raiiaf_drift_free(d);
    raiiaf_env_free(e);
    raiiaf_reader_free(r);
    free(path);
    rm_dir(dir);
}

/* ---- drift -------------------------------------------------------------------- */

static void test_drift_kinds(void **state)
{
    (void)state;
    no_nvml();
    char *dir = tu_tempdir();
    static const char *const comps[] = {
        "os", "name=os;version=Linux 6.1.0",
        "gpu0", "name=gpu;index=0;model=NVIDIA H100 80GB HBM3;memory_bytes=85520809984;driver=550.54.15;cuda=12.4",
        "gpu", "name=gpu;model=NVIDIA H100 80GB HBM3;driver=550.54.15",
        "zstd", "name=zstd;version=1.5.4",
        "torch", "name=torch;version=2.3.0;cuda=12.1",
        "numpy", "name=numpy;version=1.24.2",
        NULL};
    char *path = write_file(dir, "d.raiiaf", comps, RAIIAF_ENV_NO_CAPTURE);
    raiiaf_reader *r = open_ok(path);

    /* the same environment: nothing differs */
    raiiaf_env *same = env_or_fail();
    for (size_t i = 0; comps[i]; i += 2) add_ok(same, comps[i], comps[i + 1]);
    raiiaf_drift *d = NULL;
    EXPECT_R(r, raiiaf_reader_drift(r, same, &d), RAIIAF_OK);
    assert_int_equal(raiiaf_drift_count(d), 0);
    assert_int_equal(raiiaf_drift_differences(d), 0);
    raiiaf_drift_item it;
    assert_int_equal(raiiaf_drift_item_get(d, 0, &it), RAIIAF_E_NOT_FOUND);
    raiiaf_drift_free(d);
    raiiaf_env_free(same);

    /* changed os and numpy, added arch and gpu1, removed gpu and gpu0 (no
     * GPU now), torch unchecked (not visible), zstd the same */
    raiiaf_env *now = env_or_fail();
    add_ok(now, "zstd", "name=zstd;version=1.5.4");
    add_ok(now, "os", "name=os;version=Linux 6.2.0");
    add_ok(now, "numpy", "name=numpy;version=2.0.0");
    add_ok(now, "arch", "name=arch;machine=x86_64");
    add_ok(now, "gpu1", "name=gpu;index=1;model=X");
    EXPECT_R(r, raiiaf_reader_drift(r, now, &d), RAIIAF_OK);
    static const struct {
        const char *id;
        raiiaf_drift_kind kind;
        const char *file, *current;
    } want[] = {
        {"arch", RAIIAF_DRIFT_ADDED, NULL, "name=arch;machine=x86_64"},
        {"gpu", RAIIAF_DRIFT_REMOVED, "name=gpu;model=NVIDIA H100 80GB HBM3;driver=550.54.15", NULL},
        {"gpu0", RAIIAF_DRIFT_REMOVED, "name=gpu;index=0;model=NVIDIA H100 80GB HBM3;memory_bytes=85520809984;driver=550.54.15;cuda=12.4", NULL},
        {"gpu1", RAIIAF_DRIFT_ADDED, NULL, "name=gpu;index=1;model=X"},
        {"numpy", RAIIAF_DRIFT_CHANGED, "name=numpy;version=1.24.2", "name=numpy;version=2.0.0"},
        {"os", RAIIAF_DRIFT_CHANGED, "name=os;version=Linux 6.1.0", "name=os;version=Linux 6.2.0"},
        {"torch", RAIIAF_DRIFT_UNCHECKED, "name=torch;version=2.3.0;cuda=12.1", NULL},
    };
    assert_int_equal(raiiaf_drift_count(d), sizeof want / sizeof want[0]);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_int_equal(raiiaf_drift_item_get(d, i, &it), RAIIAF_OK);
        assert_string_equal(it.id, want[i].id);
        assert_int_equal(it.kind, want[i].kind);
        if (want[i].file) assert_string_equal(it.file_canonical, want[i].file);
        else assert_null(it.file_canonical);
        if (want[i].current) assert_string_equal(it.current_canonical, want[i].current);
        else assert_null(it.current_canonical);
    }
    assert_int_equal(raiiaf_drift_count_kind(d, RAIIAF_DRIFT_CHANGED), 2);
    assert_int_equal(raiiaf_drift_count_kind(d, RAIIAF_DRIFT_ADDED), 2);
    assert_int_equal(raiiaf_drift_count_kind(d, RAIIAF_DRIFT_REMOVED), 2);
    assert_int_equal(raiiaf_drift_count_kind(d, RAIIAF_DRIFT_UNCHECKED), 1);
    assert_int_equal(raiiaf_drift_differences(d), 6);
    /* the report outlives both environments */
    raiiaf_env_free(now);
    raiiaf_reader_free(r);
    assert_int_equal(raiiaf_drift_item_get(d, 6, &it), RAIIAF_OK);
    assert_string_equal(it.file_canonical, "name=torch;version=2.3.0;cuda=12.1");
    raiiaf_drift_free(d);
    raiiaf_drift_free(NULL);

    /* against this machine: the file's os differs from any real one
     * unless this is that kernel */
    r = open_ok(path);
    EXPECT_R(r, raiiaf_reader_drift(r, NULL, &d), RAIIAF_OK);
    assert_true(raiiaf_drift_count_kind(d, RAIIAF_DRIFT_ADDED) >= 5); /* cpu, ram, libraiiaf, ... */
    raiiaf_drift_free(d);
    raiiaf_reader_free(r);

    /* a file written here with a full capture agrees with this machine */
    free(path);
    path = write_file(dir, "here.raiiaf", NULL, RAIIAF_ENV_DEFAULT);
    r = open_ok(path);
    EXPECT_R(r, raiiaf_reader_drift(r, NULL, &d), RAIIAF_OK);
    if (raiiaf_drift_count(d)) {
        raiiaf_drift_item_get(d, 0, &it);
        fail_msg("drift right after writing: %s %s -> %s", it.id, it.file_canonical ? it.file_canonical : "-",
                 it.current_canonical ? it.current_canonical : "-");
    }
    raiiaf_drift_free(d);
    raiiaf_reader_free(r);
    free(path);

    assert_int_equal(raiiaf_drift_compare(NULL, NULL, &d), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_reader_drift(NULL, NULL, &d), RAIIAF_E_ARG);
    rm_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers),   cmocka_unit_test(test_canonical_rules),
        cmocka_unit_test(test_format1_envc_json), cmocka_unit_test(test_format1_files),
        cmocka_unit_test(test_capture_this_machine), cmocka_unit_test(test_nvml_stub),
        cmocka_unit_test(test_real_gpu),        cmocka_unit_test(test_writer_record),
        cmocka_unit_test(test_hardware_info),   cmocka_unit_test(test_hardware_info_decimals),
        cmocka_unit_test(test_manifest_dump),   cmocka_unit_test(test_privacy),
        cmocka_unit_test(test_drift_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
