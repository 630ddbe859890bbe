/* test_index_remove.c -- raiiaf_index_remove_path(): the rows of one path
 * go from every table (read back with SQLite itself), other rows stay, a
 * path without a row is not an error, it obeys raiiaf_index_begin() /
 * rollback, and read-only handles and NULL paths are refused. */
#include "raiiaf.h"
#include "testutil.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fx {
    char *dir, *db, *a, *b;
} fx;

static void write_file(const char *path, const char *prompt, const char *tags)
{
    raiiaf_writer *w = NULL;
    float lat[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint64_t shape[] = {2, 4};
    assert_int_equal(raiiaf_writer_new(path, &w), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_env(w, RAIIAF_ENV_NONE), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_add_tensor(w, "latent", RAIIAF_F32, 2, shape, lat, sizeof lat, RAIIAF_CODEC_RAW, 0),
                     RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/prompt", prompt), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/tags", tags), RAIIAF_OK);
    assert_int_equal(raiiaf_writer_finish(w), RAIIAF_OK);
    raiiaf_writer_free(w);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    f->dir = tu_tempdir();
    f->db = tu_path(f->dir, "lib.sqlite");
    char *sub = tu_path(f->dir, "files");
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", sub);
    assert_int_equal(system(cmd), 0);
    f->a = tu_path(sub, "a.raiiaf");
    f->b = tu_path(sub, "b.raiiaf");
    write_file(f->a, "a red fox", "[\"x\", \"y\"]");
    write_file(f->b, "a grey cat", "[\"x\"]");
    raiiaf_index *idx = NULL;
    assert_int_equal(raiiaf_index_open(f->db, 0, &idx), RAIIAF_OK);
    raiiaf_index_stats st;
    const char *dirs[] = {sub};
    assert_int_equal(raiiaf_index_run(idx, dirs, 1, &st), RAIIAF_OK);
    assert_int_equal(st.added, 2);
    raiiaf_index_free(idx);
    free(sub);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd)) fprintf(stderr, "cannot remove %s\n", f->dir);
    free(f->a);
    free(f->b);
    free(f->db);
    free(f->dir);
    free(f);
    return 0;
}

/* Rows of `path` in files, tags, tensors and the full-text table, counted
 * by SQLite (-1: no such file row). */
static int rows_of(const char *db, const char *path, int counts[4])
{
    sqlite3 *d = NULL;
    assert_int_equal(sqlite3_open_v2(db, &d, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s = NULL;
    long long id = -1;
    assert_int_equal(sqlite3_prepare_v2(d, "SELECT id FROM files WHERE path = ?", -1, &s, NULL), SQLITE_OK);
    sqlite3_bind_text(s, 1, path, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW) id = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    static const char *const q[] = {"SELECT count(*) FROM files WHERE id = ?", "SELECT count(*) FROM tags WHERE file_id = ?",
                                    "SELECT count(*) FROM tensors WHERE file_id = ?",
                                    "SELECT count(*) FROM prompts WHERE rowid = ?"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(sqlite3_prepare_v2(d, q[i], -1, &s, NULL), SQLITE_OK);
        sqlite3_bind_int64(s, 1, id);
        assert_int_equal(sqlite3_step(s), SQLITE_ROW);
        counts[i] = sqlite3_column_int(s, 0);
        sqlite3_finalize(s);
    }
    sqlite3_close(d);
    return id >= 0 ? 0 : -1;
}

static int count_rows(void *user, const char *json, size_t len)
{
    (void)json;
    (void)len;
    ++*(int *)user;
    return 0;
}

static void removes_one_path_everywhere(void **state)
{
    fx *f = *state;
    int c[4];
    assert_int_equal(rows_of(f->db, f->a, c), 0);
    assert_int_equal(c[0] + c[1] + c[2] + c[3], 1 + 2 + 1 + 1);
    raiiaf_index *idx = NULL;
    assert_int_equal(raiiaf_index_open(f->db, 0, &idx), RAIIAF_OK);
    int removed = -1;
    assert_int_equal(raiiaf_index_remove_path(idx, f->a, &removed), RAIIAF_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(rows_of(f->db, f->a, c), -1);
    assert_int_equal(c[0] + c[1] + c[2] + c[3], 0);
    assert_int_equal(rows_of(f->db, f->b, c), 0); /* the other file keeps all its rows */
    assert_int_equal(c[0] + c[1] + c[2] + c[3], 1 + 1 + 1 + 1);
    /* again, and a path never indexed: nothing there, not an error */
    assert_int_equal(raiiaf_index_remove_path(idx, f->a, &removed), RAIIAF_OK);
    assert_int_equal(removed, 0);
    assert_int_equal(raiiaf_index_remove_path(idx, "/no/such/file.raiiaf", NULL), RAIIAF_OK);
    /* the full-text search no longer finds it */
    raiiaf_index_query q;
    memset(&q, 0, sizeof q);
    const char *words[] = {"fox"};
    q.words = words;
    q.nwords = 1;
    q.limit = -1;
    uint64_t matched = 99;
    int n = 0;
    assert_int_equal(raiiaf_index_search(idx, &q, count_rows, &n, &matched), RAIIAF_OK);
    assert_int_equal(n, 0);
    assert_int_equal(matched, 0);
    raiiaf_index_free(idx);
}

static void follows_transactions(void **state)
{
    fx *f = *state;
    raiiaf_index *idx = NULL;
    assert_int_equal(raiiaf_index_open(f->db, 0, &idx), RAIIAF_OK);
    int removed = 0, c[4];
    assert_int_equal(raiiaf_index_begin(idx), RAIIAF_OK);
    assert_int_equal(raiiaf_index_remove_path(idx, f->b, &removed), RAIIAF_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(raiiaf_index_rollback(idx), RAIIAF_OK);
    assert_int_equal(rows_of(f->db, f->b, c), 0); /* rolled back: still there */
    assert_int_equal(raiiaf_index_begin(idx), RAIIAF_OK);
    assert_int_equal(raiiaf_index_remove_path(idx, f->b, &removed), RAIIAF_OK);
    assert_int_equal(raiiaf_index_commit(idx), RAIIAF_OK);
    assert_int_equal(rows_of(f->db, f->b, c), -1);
    raiiaf_index_query q;
    memset(&q, 0, sizeof q);
    q.limit = -1;
    int n = 0;
    assert_int_equal(raiiaf_index_search(idx, &q, count_rows, &n, NULL), RAIIAF_OK);
    assert_int_equal(n, 1); /* a.raiiaf */
    raiiaf_index_free(idx);
}

static void refusals(void **state)
{
    fx *f = *state;
    raiiaf_index *idx = NULL;
    int removed = 7;
    assert_int_equal(raiiaf_index_remove_path(NULL, f->a, &removed), RAIIAF_E_ARG);
    assert_int_equal(removed, 0);
    assert_int_equal(raiiaf_index_open(f->db, RAIIAF_INDEX_READONLY, &idx), RAIIAF_OK);
    assert_int_equal(raiiaf_index_remove_path(idx, f->a, &removed), RAIIAF_E_STATE);
    assert_non_null(strstr(raiiaf_index_errmsg(idx), "read-only"));
    raiiaf_index_free(idx);
    assert_int_equal(raiiaf_index_open(f->db, 0, &idx), RAIIAF_OK);
    assert_int_equal(raiiaf_index_remove_path(idx, NULL, &removed), RAIIAF_E_ARG);
    assert_non_null(strstr(raiiaf_index_errmsg(idx), "path is NULL"));
    raiiaf_index_free(idx);
    int c[4];
    assert_int_equal(rows_of(f->db, f->a, c), 0); /* nothing was removed */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(removes_one_path_everywhere, setup, teardown),
        cmocka_unit_test_setup_teardown(follows_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(refusals, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
