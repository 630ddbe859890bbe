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

/* Problems that plain verify reports, for the test below. */
typedef struct {
    int count;
    char first[512];
} seen;

static void collect(void *ctx, int status, const char *message)
{
    seen *s = ctx;
    (void)status;
    if (!s->count++) snprintf(s->first, sizeof s->first, "%s", message);
}

static int verify_file(const char *path, seen *s)
{
    memset(s, 0, sizeof *s);
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_file(path, 0, &r), RAIIAF_OK);
    int rc = raiiaf_reader_verify(r, collect, s);
    raiiaf_reader_free(r);
    return rc;
}

typedef struct {
    const unsigned char *payload;
    size_t size;
} sign_fix;

/* Sets the SIGN chunk's digest and CRC in the manifest to the changed payload's. */
static void reseal_sign(json_t *m, void *ctx)
{
    const sign_fix *f = ctx;
    json_t *chunks = json_object_get(json_object_get(m, "raiiaf_metadata"), "chunks");
    size_t i;
    json_t *c;
    char sha[65];
    assert_int_equal(rf_sha256_hex(f->payload, f->size, sha), 0);
    json_array_foreach(chunks, i, c)
        if (!strcmp(json_string_value(json_object_get(c, "type")), "SIGN")) {
            json_object_set_new(c, "sha256", json_string(sha));
            json_object_set_new(c, "crc32c", json_integer(rf_crc32c(0, f->payload, f->size)));
        }
}

/* Issue 17 item 12: a SIGN chunk whose signature does not verify, with its
 * CRC-32C and SHA-256 recomputed (anyone can), fails plain verify as info
 * shows it invalid; an intact signature and an edit after signing do not. */
static void test_verify_reports_a_bad_signature(void **state)
{
    (void)state;
    char *path = signed_file("bad-sig.raiiaf");
    seen s;
    assert_int_equal(verify_file(path, &s), RAIIAF_OK);
    size_t n;
    unsigned char *f = tu_read_file(path, &n);
    /* The SIGN chunk: its header at a 64-byte boundary, the JSON after it. */
    const char *field = "\"signature\"";
    unsigned char *hit = NULL;
    for (size_t i = 0; i + strlen(field) < n && !hit; i++)
        if (!memcmp(f + i, field, strlen(field))) hit = f + i;
    assert_non_null(hit);
    size_t hoff = (size_t)(hit - f) & ~(size_t)63;
    while (memcmp(f + hoff, "SIGN", 4)) {
        assert_true(hoff >= 64);
        hoff -= 64;
    }
    size_t stored = (size_t)rf_le64(f + hoff + 16);
    unsigned char *q = hit + strlen(field);
    while (*q != '"') q++;
    q++; /* first hex digit of the signature */
    *q = *q == '0' ? '1' : '0';
    rf_chunk_header(f + hoff, "SIGN", RF_CODEC_RAW, (unsigned)rf_le32(f + hoff + 8), stored, stored,
                    rf_crc32c(0, f + hoff + 64, stored));
    sign_fix fix = {f + hoff + 64, stored};
    size_t m;
    unsigned char *g = tu_replace_manifest(f, n, reseal_sign, &fix, &m);
    char *bad = tu_path(dir, "bad-sig2.raiiaf");
    tu_write_file(bad, g, m);
    raiiaf_signature_info info;
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_file(bad, 0, &r), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_signature(r, NULL, &info), RAIIAF_OK);
    raiiaf_reader_free(r);
    assert_int_equal(info.state, RAIIAF_SIG_INVALID);
    assert_int_equal(verify_file(bad, &s), RAIIAF_E_DIGEST);
    assert_int_equal(s.count, 1);
    if (!strstr(s.first, "signature invalid: the Ed25519 signature by key ") || !strstr(s.first, "does not verify"))
        fail_msg("verify said: %s", s.first);
    /* an edit after signing is not damage: plain verify passes */
    raiiaf_edit *ed = NULL;
    assert_int_equal(raiiaf_edit_open(path, &ed), RAIIAF_OK);
    assert_int_equal(raiiaf_edit_add_tag(ed, "later"), RAIIAF_OK);
    assert_int_equal(raiiaf_edit_commit(ed), RAIIAF_OK);
    raiiaf_edit_free(ed);
    assert_int_equal(state_of(path, &info), RAIIAF_SIG_EDITED);
    assert_int_equal(verify_file(path, &s), RAIIAF_OK);
    free(f);
    free(g);
    free(bad);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signatures_only_keep_it_valid),
        cmocka_unit_test(test_unsigned_version_is_an_edit),
        cmocka_unit_test(test_every_member_is_covered),
        cmocka_unit_test(test_verify_reports_a_bad_signature),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
