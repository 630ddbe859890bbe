/* test_serve.c -- src/serve/ without HTTP: thumbnails of the real sample
 * images, the latent preview against ComfyUI's published factors, and the
 * API handler over an index made by raiiaf_index_run (as `raiiaf index` does). */
#include "testutil.h"

#include "cli.h"
#include "raiiaf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void thumb_of(const char *name, uint32_t side, uint32_t want_w, uint32_t want_h)
{
    size_t n;
    unsigned char *img = tu_read_data(name, &n);
    uint8_t *rgb = NULL;
    uint32_t w = 0, h = 0;
    char err[256];
    assert_int_equal(raiiaf_thumbnail(img, n, side, &rgb, &w, &h, err, sizeof err), RAIIAF_OK);
    assert_int_equal(w, want_w);
    assert_int_equal(h, want_h);
    /* A real picture: not one flat colour. */
    int varied = 0;
    for (size_t i = 3; i < (size_t)w * h * 3; i++) varied |= rgb[i] != rgb[i % 3];
    assert_true(varied);
    raiiaf_free(rgb);
    free(img);
}

static void test_thumbnails_of_samples(void **state)
{
    (void)state;
    /* The sd-webui samples are 1024x1024 (exiftool -ImageSize says so). */
    thumb_of("sd-webui.png", 64, 64, 64);
    thumb_of("sd-webui.jpg", 100, 100, 100);
    thumb_of("sd-webui.webp", 256, 256, 256);
}

static void test_thumbnail_refuses_garbage(void **state)
{
    (void)state;
    uint8_t *rgb = (uint8_t *)1;
    uint32_t w, h;
    char err[256];
    static const unsigned char gif[] = "GIF89a\1\0\1\0";
    assert_int_equal(raiiaf_thumbnail(gif, sizeof gif, 64, &rgb, &w, &h, err, sizeof err), RAIIAF_E_IMAGE);
    assert_null(rgb);
    assert_non_null(strstr(err, "neither PNG, JPEG nor WebP"));
    static const unsigned char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    assert_int_equal(raiiaf_thumbnail(png, sizeof png, 64, &rgb, &w, &h, err, sizeof err), RAIIAF_E_IMAGE);
    assert_true(!strncmp(err, "PNG:", 4));
    assert_int_equal(raiiaf_thumbnail(png, sizeof png, 0, &rgb, &w, &h, err, sizeof err), RAIIAF_E_ARG);
}

static void test_latent_preview_one_hot(void **state)
{
    (void)state;
    /* SD 1.x channel 3 alone at 1.0: ComfyUI's row (-0.2120, -0.2616,
     * -0.7177), no bias, mapped (v + 1) / 2 * 255 -> 100, 94, 36. */
    float lat[4] = {0, 0, 0, 1.0f};
    uint8_t rgb[3];
    assert_int_equal(raiiaf_latent_preview(lat, 4, 1, 1, "sd1", rgb, 3), RAIIAF_OK);
    assert_int_equal(rgb[0], 100);
    assert_int_equal(rgb[1], 94);
    assert_int_equal(rgb[2], 36);
    /* Zero latent under SDXL is its bias (0.1084, -0.0175, -0.0011): 141, 125, 127. */
    float zero[4] = {0};
    assert_int_equal(raiiaf_latent_preview(zero, 4, 1, 1, "SDXL", rgb, 3), RAIIAF_OK);
    assert_int_equal(rgb[0], 141);
    assert_int_equal(rgb[1], 125);
    assert_int_equal(rgb[2], 127);
    assert_int_equal(raiiaf_latent_preview(zero, 4, 1, 1, "flux", rgb, 3), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_latent_preview(zero, 4, 1, 1, "nope", rgb, 3), RAIIAF_E_NOT_FOUND);
    assert_int_equal(raiiaf_latent_preview(zero, 4, 1, 1, "sd1", rgb, 2), RAIIAF_E_BUFFER);
}

typedef struct api_fixture {
    char *dir, *db;
    float latent[4 * 8 * 8];
} api_fixture;

static int api_setup(void **state)
{
    api_fixture *f = calloc(1, sizeof *f);
    f->dir = tu_tempdir();
    uint64_t seed = 42;
    for (size_t i = 0; i < 256; i++) f->latent[i] = tu_randn(&seed);
    size_t n;
    unsigned char *png = tu_read_data("sd-webui.png", &n);
    for (int k = 0; k < 2; k++) {
        char name[32];
        snprintf(name, sizeof name, "f%d.raiiaf", k);
        char *path = tu_path(f->dir, name);
        raiiaf_writer *w;
        assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
        assert_int_equal(raiiaf_writer_add_image(w, png, n), RAIIAF_OK);
        uint64_t shape[3] = {4, 8, 8};
        assert_int_equal(raiiaf_writer_add_tensor(w, "latent", RAIIAF_F32, 3, shape, f->latent, sizeof f->latent,
                                                  RAIIAF_CODEC_AUTO, 0),
                         RAIIAF_OK);
        assert_int_equal(raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/prompt",
                                                  k ? "a lighthouse at dusk" : "a fox in snow"),
                         RAIIAF_OK);
        assert_int_equal(raiiaf_writer_finish(w), RAIIAF_OK);
        raiiaf_writer_free(w);
        free(path);
    }
    free(png);
    f->db = tu_path(f->dir, "lib.sqlite");
    const char *dirs[1] = {f->dir};
    raiiaf_index *idx = NULL;
    raiiaf_index_stats st;
    assert_int_equal(raiiaf_index_open(f->db, 0, &idx), RAIIAF_OK);
    assert_int_equal(raiiaf_index_run(idx, dirs, 1, &st), RAIIAF_OK);
    raiiaf_index_free(idx);
    assert_int_equal((int)st.added, 2);
    *state = f;
    return 0;
}

static int api_teardown(void **state)
{
    api_fixture *f = *state;
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd)) {
    }
    free(f->dir);
    free(f->db);
    free(f);
    return 0;
}

static int call(api_fixture *f, const char *path, const char *query, unsigned char **body, size_t *n,
                const char **type)
{
    int status = 0;
    assert_int_equal(raiiaf_api_handle(f->db, path, query, &status, type, body, n), RAIIAF_OK);
    return status;
}

static json_t *call_json(api_fixture *f, const char *path, const char *query, int want_status)
{
    unsigned char *body;
    size_t n;
    const char *type;
    assert_int_equal(call(f, path, query, &body, &n, &type), want_status);
    assert_string_equal(type, "application/json");
    json_t *j = json_loadb((const char *)body, n, 0, NULL);
    assert_non_null(j);
    raiiaf_free(body);
    if (want_status >= 400) assert_non_null(json_string_value(json_object_get(j, "error")));
    return j;
}

static void test_api_search_and_file(void **state)
{
    api_fixture *f = *state;
    json_t *j = call_json(f, "/api/search", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 2);
    json_decref(j);
    j = call_json(f, "/api/search", "q=lighthouse", 200);
    json_t *items = json_object_get(j, "items");
    assert_int_equal(json_array_size(items), 1);
    long long id = json_integer_value(json_object_get(json_array_get(items, 0), "id"));
    json_decref(j);
    char path[64];
    snprintf(path, sizeof path, "/api/file/%lld", id);
    j = call_json(f, path, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "index"), "prompt")),
                        "a lighthouse at dusk");
    json_decref(j);
    /* The .npy download is what raiiaf_npy_build makes of the data written. */
    snprintf(path, sizeof path, "/api/file/%lld/tensor/latent.npy", id);
    unsigned char *body, *want;
    size_t n, wn;
    const char *type;
    assert_int_equal(call(f, path, NULL, &body, &n, &type), 200);
    uint64_t shape[3] = {4, 8, 8};
    assert_int_equal(raiiaf_npy_build(RAIIAF_F32, 3, shape, f->latent, sizeof f->latent, &want, &wn), RAIIAF_OK);
    assert_int_equal(n, wn);
    assert_memory_equal(body, want, n);
    raiiaf_free(body);
    raiiaf_free(want);
    snprintf(path, sizeof path, "/api/file/%lld/tensor/latent/preview.png", id);
    assert_int_equal(call(f, path, "family=sd1", &body, &n, &type), 200);
    assert_string_equal(type, "image/png");
    assert_memory_equal(body, "\x89PNG", 4);
    raiiaf_free(body);
}

static void test_api_etag(void **state)
{
    api_fixture *f = *state;
    char a[48], b[48], c[48];
    assert_int_equal(raiiaf_api_etag(f->db, "/api/file/1/thumb", NULL, a), RAIIAF_OK);
    assert_int_equal(strlen(a), 42);
    assert_int_equal(a[0], '"');
    assert_int_equal(raiiaf_api_etag(f->db, "/api/file/1/thumb", NULL, b), RAIIAF_OK);
    assert_string_equal(a, b); /* stable */
    assert_int_equal(raiiaf_api_etag(f->db, "/api/file/2/thumb", NULL, c), RAIIAF_OK);
    assert_string_not_equal(a, c); /* another file's */
    assert_int_equal(raiiaf_api_etag(f->db, "/api/file/1/thumb", "x=1", c), RAIIAF_OK);
    assert_string_not_equal(a, c); /* another query's */
    assert_int_equal(raiiaf_api_etag(f->db, "/api/file/999/thumb", NULL, c), RAIIAF_E_NOT_FOUND);
    assert_int_equal(raiiaf_api_etag(f->db, "/api/search", "q=x", c), RAIIAF_E_NOT_FOUND);
}

static void test_api_errors(void **state)
{
    api_fixture *f = *state;
    json_decref(call_json(f, "/api/file/12345", NULL, 404));
    json_decref(call_json(f, "/api/file/1x", NULL, 400));
    json_decref(call_json(f, "/api/file/", NULL, 400));
    json_decref(call_json(f, "/api/file/..%2F..%2Fetc%2Fpasswd", NULL, 400));
    json_decref(call_json(f, "/api/file/1/../../etc", NULL, 404));
    json_decref(call_json(f, "/api/file/1/tensor/none.npy", NULL, 404));
    json_decref(call_json(f, "/api/file/1/tensor/latent.exe", NULL, 404));
    json_decref(call_json(f, "/api/search", "limit=100000", 400));
    json_decref(call_json(f, "/api/search", "q=%4", 400));
    json_decref(call_json(f, "/api/search", "q=a%00b", 400));
    json_decref(call_json(f, "/api/nothing", NULL, 404));
    char *big = malloc(10000);
    memset(big, 'a', 9999);
    big[9999] = '\0';
    json_decref(call_json(f, "/api/search", big, 414));
    free(big);
}

static json_t *request_json(raiiaf_api *api, const char *method, const char *path, const char *query, int want)
{
    int status = 0;
    const char *type = NULL;
    unsigned char *body = NULL;
    size_t n = 0;
    assert_int_equal(raiiaf_api_request(api, method, path, query, &status, &type, &body, &n), RAIIAF_OK);
    assert_int_equal(status, want);
    assert_string_equal(type, "application/json");
    json_t *j = json_loadb((const char *)body, n, 0, NULL);
    assert_non_null(j);
    raiiaf_free(body);
    return j;
}

static long long stat_of(raiiaf_api *api, const char *key)
{
    json_t *j = request_json(api, "GET", "/api/stats", NULL, 200);
    long long v = json_integer_value(json_object_get(j, key));
    json_decref(j);
    return v;
}

/* The long-lived API object: edits only with the flag, caches counted. */
static void test_api_object_edits_and_caches(void **state)
{
    api_fixture *f = *state;
    raiiaf_api *ro = NULL, *rw = NULL;
    assert_int_equal(raiiaf_api_open(f->db, 0x80, &ro), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_api_open(f->db, 0, &ro), RAIIAF_OK);
    json_t *j = request_json(ro, "POST", "/api/file/1/tags", "tag=new", 403);
    assert_non_null(strstr(json_string_value(json_object_get(j, "error")), "--allow-edit"));
    json_decref(j);
    json_decref(request_json(ro, "POST", "/api/search", NULL, 405));
    json_decref(request_json(ro, "PUT", "/api/file/1", NULL, 405));
    json_decref(request_json(ro, "DELETE", "/api/file/1/image", NULL, 405));
    /* a search before the edit: the read-only object keeps this connection */
    j = request_json(ro, "GET", "/api/search", "tag=kestrel", 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 0);
    json_decref(j);
    assert_int_equal(raiiaf_api_open(f->db, RAIIAF_API_ALLOW_EDIT, &rw), RAIIAF_OK);
    json_decref(request_json(rw, "POST", "/api/file/1/tags", NULL, 400));
    json_decref(request_json(rw, "POST", "/api/file/999/tags", "tag=x", 404));
    j = request_json(rw, "POST", "/api/file/1/tags", "tag=kestrel", 200);
    assert_int_equal(json_integer_value(json_object_get(j, "version")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "tags"), 0)), "kestrel");
    json_decref(j);
    /* The index row was refreshed: the read-only object finds the tag. */
    j = request_json(ro, "GET", "/api/search", "tag=kestrel", 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
    json_decref(j);
    assert_int_equal(stat_of(rw, "edits"), 1);
    /* Thumbnails: made once, then read from DB.thumbs/ by any object. */
    for (int k = 0; k < 2; k++) {
        int status;
        const char *type;
        unsigned char *body;
        size_t n;
        assert_int_equal(raiiaf_api_request(k ? rw : ro, "GET", "/api/file/2/thumb", NULL, &status, &type, &body, &n),
                         RAIIAF_OK);
        assert_int_equal(status, 200);
        assert_memory_equal(body, "\x89PNG", 4);
        raiiaf_free(body);
    }
    assert_int_equal(stat_of(ro, "thumbnails_made"), 1);
    assert_int_equal(stat_of(rw, "thumbnails_made"), 0);
    assert_int_equal(stat_of(rw, "thumbnail_cache_hits"), 1);
    /* Verification: run once per file state, then cached. */
    for (int k = 0; k < 2; k++) {
        j = request_json(ro, "GET", "/api/file/1/verify", NULL, 200);
        assert_true(json_is_true(json_object_get(j, "ok")));
        assert_true(json_is_null(json_object_get(j, "failed_check")));
        json_decref(j);
    }
    assert_int_equal(stat_of(ro, "verifications_run"), 1);
    assert_int_equal(stat_of(ro, "verify_cache_hits"), 1);
    /* The index deleted and made again (over an empty folder): no kept
     * connection serves the old one's rows. */
    char *empty = tu_path(f->dir, "empty");
    assert_int_equal(mkdir(empty, 0700), 0);
    for (const char *sfx = ""; sfx; sfx = !sfx[0] ? "-wal" : !strcmp(sfx, "-wal") ? "-shm" : NULL) {
        char old[4200];
        snprintf(old, sizeof old, "%s%s", f->db, sfx);
        unlink(old);
    }
    const char *dirs[1] = {empty};
    raiiaf_index *idx = NULL;
    assert_int_equal(raiiaf_index_open(f->db, 0, &idx), RAIIAF_OK);
    assert_int_equal(raiiaf_index_run(idx, dirs, 1, NULL), RAIIAF_OK);
    raiiaf_index_free(idx);
    j = request_json(ro, "GET", "/api/search", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 0);
    json_decref(j);
    free(empty);
    raiiaf_api_free(ro);
    raiiaf_api_free(rw);
}

/* raiiaf_reader_history: each version with the JSON Pointers it changed. */
static void test_reader_history(void **state)
{
    api_fixture *f = *state;
    char *path = tu_path(f->dir, "f0.raiiaf");
    raiiaf_edit *ed = NULL;
    assert_int_equal(raiiaf_edit_open(path, &ed), RAIIAF_OK);
    assert_int_equal(raiiaf_edit_set_json(ed, "/raiiaf_metadata/model_info/prompt", "\"a/b~c\""), RAIIAF_OK);
    assert_int_equal(raiiaf_edit_set_json(ed, "/raiiaf_metadata/extensions", "{\"a\": 1}"), RAIIAF_OK);
    assert_int_equal(raiiaf_edit_commit(ed), RAIIAF_OK);
    raiiaf_edit_free(ed);
    assert_int_equal(raiiaf_edit_open(path, &ed), RAIIAF_OK);
    assert_int_equal(raiiaf_edit_set_json(ed, "/raiiaf_metadata/extensions/x~1y~0z", "2"), RAIIAF_OK);
    assert_int_equal(raiiaf_edit_commit(ed), RAIIAF_OK);
    raiiaf_edit_free(ed);
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_file(path, 0, &r), RAIIAF_OK);
    char *text = NULL;
    size_t n = 0;
    assert_int_equal(raiiaf_reader_history(r, &text, &n), RAIIAF_OK);
    json_t *h = json_loadb(text, n, 0, NULL);
    assert_non_null(h);
    assert_int_equal(json_array_size(h), 3);
    assert_int_equal(json_array_size(json_object_get(json_array_get(h, 0), "changes")), 0);
    /* file_info, rewritten by every version, is left out. */
    json_t *want = json_pack("[{ss ss} {ss ss}]", "op", "changed", "path", "/raiiaf_metadata/model_info/prompt", "op",
                             "added", "path", "/raiiaf_metadata/extensions");
    assert_true(json_equal(json_object_get(json_array_get(h, 1), "changes"), want));
    json_decref(want);
    /* RFC 6901: '/' is ~1 and '~' is ~0 inside a key. */
    want = json_pack("[{ss ss}]", "op", "added", "path", "/raiiaf_metadata/extensions/x~1y~0z");
    assert_true(json_equal(json_object_get(json_array_get(h, 2), "changes"), want));
    json_decref(want);
    json_decref(h);
    raiiaf_free(text);
    raiiaf_reader_free(r);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thumbnails_of_samples),
        cmocka_unit_test(test_thumbnail_refuses_garbage),
        cmocka_unit_test(test_latent_preview_one_hot),
        cmocka_unit_test_setup_teardown(test_api_search_and_file, api_setup, api_teardown),
        cmocka_unit_test_setup_teardown(test_api_errors, api_setup, api_teardown),
        cmocka_unit_test_setup_teardown(test_api_etag, api_setup, api_teardown),
        cmocka_unit_test_setup_teardown(test_api_object_edits_and_caches, api_setup, api_teardown),
        cmocka_unit_test_setup_teardown(test_reader_history, api_setup, api_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
