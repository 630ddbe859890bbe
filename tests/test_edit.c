/* test_edit.c -- append-only edits, versions, torn appends, signatures,
 * compaction and recovery (issue #6), through the library API. */
#include "testutil.h"
#include "format.h"
#include "reader_impl.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char *g_dir;

static char *make_file(const char *name)
{
    char *path = tu_path(g_dir, name);
    size_t isize;
    unsigned char *img = tu_read_data("sd-webui.webp", &isize);
    static const uint64_t shape[2] = {4, 16};
    float f[64];
    uint64_t rng = 7;
    for (int i = 0; i < 64; i++) f[i] = tu_randn(&rng);
    raiiaf_writer *w = NULL;
    assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_image(w, img, isize), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_tensor(w, "lat", RAIIAF_F32, 2, shape, f, sizeof f, RAIIAF_CODEC_ZSTD, 0), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_tensor(w, "raw", RAIIAF_F32, 2, shape, f, sizeof f, RAIIAF_CODEC_RAW, 0), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/prompt", "v1 prompt"), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/tags", "[\"a\",\"b\"]"), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_finish(w), RAIIAF_OK);
    raiiaf_writer_free(w);
    free(img);
    return path;
}

static void edit_prompt(const char *path, const char *prompt)
{
    raiiaf_edit *ed = NULL;
    if (raiiaf_edit_open(path, &ed)) fail_msg("edit_open: %s", raiiaf_edit_errmsg(ed));
    char json[256];
    snprintf(json, sizeof json, "\"%s\"", prompt);
    assert_int_equal(raiiaf_edit_set_json(ed, "/raiiaf_metadata/model_info/prompt", json), RAIIAF_OK);
    if (raiiaf_edit_commit(ed)) fail_msg("commit: %s", raiiaf_edit_errmsg(ed));
    raiiaf_edit_free(ed);
}

static const char *prompt_of(raiiaf_reader *r, char *buf, size_t cap)
{
    size_t len;
    const char *t = raiiaf_reader_manifest(r, &len);
    json_t *m = json_loadb(t, len, 0, NULL);
    const char *p = json_string_value(json_object_get(json_object_get(json_object_get(m, "raiiaf_metadata"), "model_info"), "prompt"));
    snprintf(buf, cap, "%s", p ? p : "");
    json_decref(m);
    return buf;
}

static int verify_ok(const char *path)
{
    raiiaf_reader *r = NULL;
    int rc = raiiaf_reader_open_file(path, 0, &r);
    if (!rc) rc = raiiaf_reader_verify(r, NULL, NULL);
    raiiaf_reader_free(r);
    return rc;
}

static void test_versions(void **state)
{
    (void)state;
    char *path = make_file("v.raiiaf");
    size_t n1;
    unsigned char *before = tu_read_file(path, &n1);
    edit_prompt(path, "v2 prompt");
    raiiaf_edit *ed = NULL;
    assert_int_equal(raiiaf_edit_open(path, &ed), RAIIAF_OK);
    assert_int_equal(raiiaf_edit_add_tag(ed, "c"), RAIIAF_OK);
    assert_int_equal(raiiaf_edit_remove_tag(ed, "a"), RAIIAF_OK);
    assert_int_equal(raiiaf_edit_remove_tag(ed, "zz"), RAIIAF_E_NOT_FOUND);
    assert_int_equal(raiiaf_edit_set_json(ed, "/raiiaf_metadata/file_info/created", "\"x\""), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_edit_set_json(ed, "/raiiaf_metadata/tensors/0/name", "\"x\""), RAIIAF_E_ARG);
    assert_int_equal(raiiaf_edit_set_json(ed, "/raiiaf_metadata/model_info/seed_note", "{bad"), RAIIAF_E_JSON);
    assert_int_equal(raiiaf_edit_new_version(ed), 3);
    assert_int_equal(raiiaf_edit_commit(ed), RAIIAF_OK);
    raiiaf_edit_free(ed);
    assert_int_equal(verify_ok(path), RAIIAF_OK);

    /* A schema violation is refused before anything is written. */
    size_t n3;
    unsigned char *v3 = tu_read_file(path, &n3);
    assert_int_equal(raiiaf_edit_open(path, &ed), RAIIAF_OK);
    assert_int_equal(raiiaf_edit_set_json(ed, "/raiiaf_metadata/model_info/generation_settings/steps", "-5"), RAIIAF_OK);
    assert_int_equal(raiiaf_edit_commit(ed), RAIIAF_E_SCHEMA);
    raiiaf_edit_free(ed);
    size_t n3b;
    unsigned char *v3b = tu_read_file(path, &n3b);
    assert_int_equal(n3, n3b);
    assert_memory_equal(v3, v3b, n3);
    assert_memory_equal(v3, before, n1); /* payloads and version 1 untouched */

    char buf[64];
    static const char *const prompts[] = {"v1 prompt", "v2 prompt", "v2 prompt"};
    for (uint32_t v = 1; v <= 3; v++) {
        raiiaf_reader *r = NULL;
        assert_int_equal(raiiaf_reader_open_version(path, 0, v, &r), RAIIAF_OK);
        assert_int_equal(raiiaf_reader_manifest_version(r), v);
        assert_int_equal(raiiaf_reader_latest_version(r), 3);
        assert_string_equal(prompt_of(r, buf, sizeof buf), prompts[v - 1]);
        assert_int_equal(raiiaf_reader_verify(r, NULL, NULL), RAIIAF_OK);
        raiiaf_reader_free(r);
    }
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_version(path, 0, 4, &r), RAIIAF_E_NOT_FOUND);
    raiiaf_reader_free(r);
    /* previous_manifest names the real previous manifest */
    r = NULL;
    assert_int_equal(raiiaf_reader_open_file(path, 0, &r), RAIIAF_OK);
    char *t2;
    size_t l2;
    uint64_t o2;
    assert_int_equal(raiiaf_reader_manifest_at(r, 2, &t2, &l2, &o2), RAIIAF_OK);
    char sha[65];
    assert_int_equal(rf_sha256_hex(t2, l2, sha), 0);
    json_t *pm = json_object_get(json_object_get(json_object_get(r->manifest, "raiiaf_metadata"), "file_info"), "previous_manifest");
    assert_int_equal(json_integer_value(json_object_get(pm, "offset")), o2);
    assert_string_equal(json_string_value(json_object_get(pm, "sha256")), sha);
    free(t2);
    raiiaf_reader_free(r);
    free(before);
    free(v3);
    free(v3b);
    unlink(path);
    free(path);
}

/* Every length of a torn append: the previous version stays readable. */
static void test_torn_append(void **state)
{
    (void)state;
    char *path = make_file("t.raiiaf");
    size_t n1;
    unsigned char *old = tu_read_file(path, &n1);
    edit_prompt(path, "new prompt");
    size_t n2;
    unsigned char *neu = tu_read_file(path, &n2);
    char *cut = tu_path(g_dir, "cut.raiiaf");
    char buf[64];
    for (size_t len = n1; len < n2; len++) {
        tu_write_file(cut, neu, len);
        raiiaf_reader *r = NULL;
        assert_int_equal(raiiaf_reader_open_file(cut, 0, &r), RAIIAF_OK);
        assert_int_equal(raiiaf_reader_manifest_version(r), 1);
        assert_int_equal(raiiaf_reader_trailing_bytes(r), len - n1);
        assert_string_equal(prompt_of(r, buf, sizeof buf), "v1 prompt");
        if (len > n1) {
            assert_int_equal(raiiaf_reader_verify(r, NULL, NULL), RAIIAF_E_TRUNCATED);
            assert_non_null(strstr(raiiaf_reader_errmsg(r), "trailing bytes after the last complete version (interrupted edit?)"));
        } else {
            assert_int_equal(raiiaf_reader_verify(r, NULL, NULL), RAIIAF_OK);
        }
        raiiaf_reader_free(r);
        if (len % 97 == 1) { /* the next edit cuts the torn tail first */
            edit_prompt(cut, "after the crash");
            assert_int_equal(verify_ok(cut), RAIIAF_OK);
            r = NULL;
            assert_int_equal(raiiaf_reader_open_file(cut, 0, &r), RAIIAF_OK);
            assert_int_equal(raiiaf_reader_manifest_version(r), 2);
            raiiaf_reader_free(r);
        }
    }
    /* compact drops the torn tail too */
    tu_write_file(cut, neu, n2 - 10);
    char err[600];
    assert_int_equal(raiiaf_compact(cut, NULL, err, sizeof err), RAIIAF_OK);
    assert_int_equal(verify_ok(cut), RAIIAF_OK);
    (void)old;
    free(old);
    free(neu);
    unlink(cut);
    unlink(path);
    free(cut);
    free(path);
}

/* verify checks file_info.previous_manifest against the real chain. */
static void test_forged_previous(void **state)
{
    (void)state;
    for (int which = 0; which < 2; which++) {
        char *path = make_file("p.raiiaf");
        raiiaf_edit *ed = NULL;
        assert_int_equal(raiiaf_edit_open(path, &ed), RAIIAF_OK);
        if (which == 0) ed->r->manifest_text[10] ^= 1; /* the recorded SHA-256 will be wrong */
        else ed->r->manifest_off -= 64;                 /* the recorded offset will be wrong */
        assert_int_equal(raiiaf_edit_add_tag(ed, "x"), RAIIAF_OK);
        assert_int_equal(raiiaf_edit_commit(ed), RAIIAF_OK);
        raiiaf_edit_free(ed);
        raiiaf_reader *r = NULL;
        assert_int_equal(raiiaf_reader_open_file(path, 0, &r), RAIIAF_OK);
        assert_int_equal(raiiaf_reader_verify(r, NULL, NULL), which == 0 ? RAIIAF_E_DIGEST : RAIIAF_E_CORRUPT);
        assert_non_null(strstr(raiiaf_reader_errmsg(r), "previous_manifest"));
        raiiaf_reader_free(r);
        unlink(path);
        free(path);
    }
}

static int sig_state(const char *path, const char *pub)
{
    raiiaf_reader *r = NULL;
    raiiaf_signature_info s;
    assert_int_equal(raiiaf_reader_open_file(path, 0, &r), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_signature(r, pub, &s), RAIIAF_OK);
    raiiaf_reader_free(r);
    return (int)s.state;
}

static void test_sign(void **state)
{
    (void)state;
    char *path = make_file("s.raiiaf");
    char *key = tu_path(g_dir, "key"), *key2 = tu_path(g_dir, "key2");
    char pub[600], pub2[600], err[600], id[17];
    snprintf(pub, sizeof pub, "%s.pub", key);
    snprintf(pub2, sizeof pub2, "%s.pub", key2);
    assert_int_equal(raiiaf_keygen(key, err, sizeof err), RAIIAF_OK);
    assert_int_equal(raiiaf_keygen(key2, err, sizeof err), RAIIAF_OK);
    assert_int_not_equal(raiiaf_keygen(key, err, sizeof err), RAIIAF_OK); /* never overwrites */
    struct stat st;
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(sig_state(path, NULL), RAIIAF_SIG_NONE);
    if (raiiaf_sign(path, key, id, err, sizeof err)) fail_msg("sign: %s", err);
    assert_int_equal(strlen(id), 16);
    assert_int_equal(sig_state(path, NULL), RAIIAF_SIG_VALID);
    assert_int_equal(sig_state(path, pub), RAIIAF_SIG_VALID);
    assert_int_equal(sig_state(path, pub2), RAIIAF_SIG_INVALID);
    assert_int_equal(verify_ok(path), RAIIAF_OK);
    edit_prompt(path, "edited after signing");
    assert_int_equal(sig_state(path, pub), RAIIAF_SIG_EDITED);
    assert_int_equal(verify_ok(path), RAIIAF_OK);
    assert_int_equal(raiiaf_sign(path, key, id, err, sizeof err), RAIIAF_OK);
    assert_int_equal(sig_state(path, pub), RAIIAF_SIG_VALID);

    /* The sweep: every bit of the header, of every footer and of every
     * manifest chunk header, one bit of every manifest payload byte (all
     * bits would take minutes under ASan), and random bits of the
     * payloads must fail verify or the signature. */
    size_t n;
    unsigned char *f = tu_read_file(path, &n);
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_memory(f, n, 0, &r), RAIIAF_OK);
    unsigned char *mark = calloc(n, 1); /* 1: structure, 2: payload */
    memset(mark, 0, n);
    for (size_t i = 0; i < 64; i++) mark[i] = 1;
    for (size_t c = 0; c < r->nchunks; c++)
        for (uint64_t i = r->chunks[c].offset; i < r->chunks[c].offset + 64 + r->chunks[c].stored; i++) mark[i] = 2;
    uint64_t foot = r->latest_footer;
    while (foot) { /* footers and their manifests */
        uint64_t moff, prev;
        uint32_t v;
        assert_int_equal(rf_parse_footer(r, foot, &moff, &prev, &v), RAIIAF_OK);
        for (uint64_t i = moff; i < foot + 64; i++) mark[i] = 3; /* manifest payload: one bit per byte */
        for (uint64_t i = moff; i < moff + 64; i++) mark[i] = 1;  /* its chunk header: every bit */
        for (uint64_t i = foot; i < foot + 64; i++) mark[i] = 1;  /* the footer: every bit */
        foot = prev;
    }
    raiiaf_reader_free(r);
    unsigned flips = 0, structural = 0;
    uint64_t rng = 99;
    clock_t t0 = clock();
    for (size_t i = 0; i < n; i++) {
        for (int b = 0; b < 8; b++) {
            int sample = mark[i] == 1 || (mark[i] == 3 && b == (int)(i % 8)) || (mark[i] == 2 && tu_rand(&rng) % 1000 < 3);
            if (!sample) continue;
            f[i] ^= (unsigned char)(1u << b);
            r = NULL;
            int rc = raiiaf_reader_open_memory(f, n, 0, &r);
            if (!rc) rc = raiiaf_reader_verify(r, NULL, NULL);
            if (!rc) {
                raiiaf_signature_info s;
                if (raiiaf_reader_signature(r, pub, &s) == RAIIAF_OK && s.state == RAIIAF_SIG_VALID)
                    fail_msg("flipping bit %d of byte %zu went unnoticed", b, i);
            } else if (!raiiaf_reader_errmsg(r)[0]) {
                fail_msg("flipping bit %d of byte %zu: error %d without a message", b, i, rc);
            }
            raiiaf_reader_free(r);
            f[i] ^= (unsigned char)(1u << b);
            flips++;
            structural += mark[i] != 2;
        }
    }
    print_message("edited+signed sweep: %u flips (%u in header/footers/manifests), %.1f s\n", flips, structural,
                  (double)(clock() - t0) / CLOCKS_PER_SEC);
    free(mark);
    free(f);

    /* compact drops the signature (it covered the old layout) */
    char *c = tu_path(g_dir, "compact.raiiaf");
    assert_int_equal(raiiaf_compact(path, c, err, sizeof err), RAIIAF_OK);
    assert_int_equal(verify_ok(c), RAIIAF_OK);
    assert_int_equal(sig_state(c, NULL), RAIIAF_SIG_NONE);
    r = NULL;
    assert_int_equal(raiiaf_reader_open_file(c, 0, &r), RAIIAF_OK);
    char buf[64];
    assert_string_equal(prompt_of(r, buf, sizeof buf), "edited after signing");
    assert_int_equal(raiiaf_reader_latest_version(r), 1);
    raiiaf_reader_free(r);
    unlink(c);
    free(c);
    unlink(key);
    unlink(key2);
    unlink(pub);
    unlink(pub2);
    unlink(path);
    free(key);
    free(key2);
    free(path);
}

static void count_lines(void *ctx, int status, const char *msg)
{
    (void)status;
    (void)msg;
    ++*(int *)ctx;
}

static void test_recover(void **state)
{
    (void)state;
    char *path = make_file("r.raiiaf");
    edit_prompt(path, "second");
    size_t n;
    unsigned char *f = tu_read_file(path, &n);
    char *out = tu_path(g_dir, "out.raiiaf"), *bad = tu_path(g_dir, "bad.raiiaf");
    int lines = 0;
    char buf[64];
    /* 1. the newest footer and manifest are destroyed: version 1's records */
    unsigned char *g = malloc(n);
    memcpy(g, f, n);
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_memory(f, n, 0, &r), RAIIAF_OK);
    uint64_t moff = r->manifest_off;
    raiiaf_reader_free(r);
    memset(g + moff + 70, 0xAA, 40);
    memset(g + n - 64, 0, 64);
    tu_write_file(bad, g, n);
    assert_int_equal(raiiaf_recover(bad, out, count_lines, &lines), RAIIAF_OK);
    assert_int_equal(verify_ok(out), RAIIAF_OK);
    r = NULL;
    assert_int_equal(raiiaf_reader_open_file(out, 0, &r), RAIIAF_OK);
    assert_string_equal(prompt_of(r, buf, sizeof buf), "v1 prompt");
    assert_int_equal(raiiaf_reader_tensor_count(r), 2);
    raiiaf_reader_free(r);
    /* 2. every manifest destroyed: the image survives, tensors become unknown chunks */
    memcpy(g, f, n);
    for (size_t i = 64; i + 4 <= n; i += 64)
        if (!memcmp(g + i, "MANI", 4)) memset(g + i + 64, 0x55, 32);
    tu_write_file(bad, g, n);
    assert_int_equal(raiiaf_recover(bad, out, count_lines, &lines), RAIIAF_OK);
    assert_int_equal(verify_ok(out), RAIIAF_OK);
    r = NULL;
    assert_int_equal(raiiaf_reader_open_file(out, 0, &r), RAIIAF_OK);
    const void *img;
    size_t isize;
    assert_int_equal(raiiaf_reader_image(r, &img, &isize, NULL, NULL, NULL), RAIIAF_OK);
    assert_int_equal(raiiaf_reader_tensor_count(r), 0);
    raiiaf_reader_free(r);
    /* 3. nothing salvageable */
    memset(g, 0, n);
    tu_write_file(bad, g, n);
    assert_int_not_equal(raiiaf_recover(bad, out, count_lines, &lines), RAIIAF_OK);
    assert_true(lines > 5);
    free(g);
    free(f);
    unlink(out);
    unlink(bad);
    unlink(path);
    free(out);
    free(bad);
    free(path);
}

/* The writers' lock (SPEC 13.1): a second writer of the file, here in the
 * same process through another open file, is refused with RAIIAF_E_BUSY
 * when it may not wait, and after the first commit sees its version. */
static void test_lock(void **state)
{
    (void)state;
    char *path = make_file("lock.raiiaf");
    assert_int_equal(raiiaf_get_lock_timeout(), RAIIAF_LOCK_TIMEOUT_DEFAULT_MS);
    raiiaf_set_lock_timeout(0);
    raiiaf_edit *a = NULL, *b = NULL;
    assert_int_equal(raiiaf_edit_open(path, &a), RAIIAF_OK);
    assert_int_equal(raiiaf_edit_set_json(a, "/raiiaf_metadata/model_info/prompt", "\"first\""), RAIIAF_OK);
    assert_int_equal(raiiaf_edit_open(path, &b), RAIIAF_E_BUSY);
    assert_non_null(strstr(raiiaf_edit_errmsg(b), "another process is writing to it"));
    raiiaf_edit_free(b);
    char err[600];
    assert_int_equal(raiiaf_compact(path, NULL, err, sizeof err), RAIIAF_E_BUSY);
    assert_int_equal(raiiaf_compact(path, NULL, NULL, 0), RAIIAF_E_BUSY);
    assert_int_equal(raiiaf_edit_commit(a), RAIIAF_OK); /* the commit releases the lock */
    assert_int_equal(raiiaf_edit_open(path, &b), RAIIAF_OK);
    assert_int_equal(raiiaf_edit_new_version(b), 3);
    raiiaf_edit_free(b); /* so does freeing an uncommitted edit */
    raiiaf_edit_free(a);
    /* a short wait that runs out */
    raiiaf_set_lock_timeout(50);
    assert_int_equal(raiiaf_edit_open(path, &a), RAIIAF_OK);
    assert_int_equal(raiiaf_edit_open(path, &b), RAIIAF_E_BUSY);
    raiiaf_edit_free(b);
    raiiaf_edit_free(a);
    raiiaf_set_lock_timeout(RAIIAF_LOCK_TIMEOUT_DEFAULT_MS);
    /* a handle that never got a lock releases none (descriptor 0 stays open) */
    int fd0 = fcntl(0, F_GETFD);
    assert_int_equal(raiiaf_edit_open(NULL, &a), RAIIAF_E_ARG);
    raiiaf_edit_free(a);
    assert_int_equal(fcntl(0, F_GETFD), fd0);
    assert_int_equal(raiiaf_compact(path, NULL, err, sizeof err), RAIIAF_OK);
    raiiaf_reader *r = NULL;
    assert_int_equal(raiiaf_reader_open_file(path, 0, &r), RAIIAF_OK);
    char buf[64];
    assert_string_equal(prompt_of(r, buf, sizeof buf), "first");
    assert_int_equal(raiiaf_reader_latest_version(r), 1);
    raiiaf_reader_free(r);
    assert_int_equal(verify_ok(path), RAIIAF_OK);
    unlink(path);
    free(path);
}

int main(void)
{
    g_dir = tu_tempdir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_torn_append),
        cmocka_unit_test(test_forged_previous),
        cmocka_unit_test(test_sign),
        cmocka_unit_test(test_recover),
        cmocka_unit_test(test_lock),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(g_dir);
    free(g_dir);
    return rc;
}
