/* index_store.c -- a row (JSON object) into the tables: checked strictly,
 * then written inside the caller's transaction.  raiiaf_index_run() and
 * raiiaf_index_put_row_json() store through here. */
#include "index_impl.h"
#include "raiiaf_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PATH_BYTES 4096
#define MAX_NAME_BYTES 4096 /* tensor names (the format allows 255) */
#define MAX_TEXT_BYTES (64u << 20) /* a manifest's own bound (SECURITY.md): prompts, tags (unbounded in the schema) */
#define MAX_ROW_BYTES (256u << 20)
#define MAX_ITEMS 1000000 /* tags or tensors of one row */

enum kind { K_PATH, K_INT, K_UINT, K_U64N, K_NUMN, K_TEXTN, K_SHORT, K_DIGEST, K_TAGS, K_TENSORS, K_NAME, K_SHORTN, K_SHAPE, K_U64, K_SIG, K_KEYID, K_TIME };

typedef struct field {
    const char *key;
    enum kind kind;
} field;

/* The keys of a row, in the order raiiaf_index_row_json() writes them. */
static const field row_fields[] = {
    {"path", K_PATH},          {"size", K_UINT},          {"mtime_ns", K_INT},    {"format", K_SHORT},
    {"model", K_TEXTN},        {"model_hash", K_TEXTN},   {"prompt", K_TEXTN},    {"negative_prompt", K_TEXTN},
    {"seed", K_U64N},          {"steps", K_U64N},         {"sampler", K_TEXTN},   {"scheduler", K_TEXTN},
    {"cfg_scale", K_NUMN},     {"width", K_U64N},         {"height", K_U64N},     {"image_format", K_TEXTN},
    {"tool", K_TEXTN},         {"digest", K_DIGEST},      {"signature", K_SIG}, {"signature_key", K_KEYID},
    {"created", K_TIME},       {"tags", K_TAGS},
    {"tensors", K_TENSORS},
};
static const field tensor_fields[] = {
    {"name", K_NAME}, {"dtype", K_SHORTN}, {"shape", K_SHAPE}, {"codec", K_SHORTN}, {"raw_size", K_U64}, {"stored_size", K_U64},
};

/* A real string (a wide number is a JSON_STRING inside, raiiaf_json.h). */
static const char *str_of(const json_t *v) { return json_is_string(v) && !raiiaf_json_wide_text(v) ? json_string_value(v) : NULL; }

static int bad(char *err, size_t errsize, const char *where, const char *what)
{
    snprintf(err, errsize, "%s: %s", where, what);
    return RAIIAF_E_ARG;
}

static int check_text(const json_t *v, size_t max, int nullable, int nonempty, const char *where, char *err, size_t errsize)
{
    if (nullable && json_is_null(v)) return RAIIAF_OK;
    const char *s = str_of(v);
    if (!s) return bad(err, errsize, where, nullable ? "expected a string or null" : "expected a string");
    size_t n = json_string_length(v);
    if (n != strlen(s)) return bad(err, errsize, where, "the string holds a NUL character");
    if (nonempty && !n) return bad(err, errsize, where, "expected a non-empty string");
    if (n > max) {
        char what[96];
        snprintf(what, sizeof what, "string of %zu bytes, longer than the bound of %zu", n, max);
        return bad(err, errsize, where, what);
    }
    return RAIIAF_OK;
}

static int check_object(const json_t *o, const field *fs, size_t nf, const char *where, char *err, size_t errsize);

static int check_value(const json_t *v, enum kind k, const char *where, char *err, size_t errsize)
{
    uint64_t u;
    char sub[160];
    size_t i;
    json_t *e;
    switch (k) {
    case K_PATH: return check_text(v, MAX_PATH_BYTES, 0, 1, where, err, errsize);
    case K_NAME: return check_text(v, MAX_NAME_BYTES, 0, 1, where, err, errsize);
    case K_SHORT: return check_text(v, 32, 0, 1, where, err, errsize);
    case K_TIME: return check_text(v, 64, 1, 0, where, err, errsize);
    case K_SHORTN: return check_text(v, 32, 1, 0, where, err, errsize);
    case K_TEXTN: return check_text(v, MAX_TEXT_BYTES, 1, 0, where, err, errsize);
    case K_INT:
        return json_is_integer(v) ? RAIIAF_OK : bad(err, errsize, where, "expected an integer from -2^63 to 2^63-1");
    case K_UINT:
        return json_is_integer(v) && json_integer_value(v) >= 0 ? RAIIAF_OK
                                                                 : bad(err, errsize, where, "expected an integer from 0 to 2^63-1");
    case K_U64N:
        if (json_is_null(v)) return RAIIAF_OK;
        /* fall through */
    case K_U64:
        return raiiaf_json_uint64(v, &u) ? RAIIAF_OK
                                         : bad(err, errsize, where, k == K_U64N ? "expected an integer from 0 to 2^64-1 or null"
                                                                                : "expected an integer from 0 to 2^64-1");
    case K_NUMN:
        return json_is_null(v) || json_is_number(v) ? RAIIAF_OK : bad(err, errsize, where, "expected a number or null");
    case K_SIG: {
        const char *s = str_of(v);
        int ok = s && json_string_length(v) == strlen(s) &&
                 (!strcmp(s, "none") || !strcmp(s, "valid") || !strcmp(s, "edited") || !strcmp(s, "invalid"));
        return ok ? RAIIAF_OK : bad(err, errsize, where, "expected \"none\", \"valid\", \"edited\" or \"invalid\"");
    }
    case K_KEYID: {
        if (json_is_null(v)) return RAIIAF_OK;
        const char *s = str_of(v);
        int ok = s && strlen(s) == 16 && json_string_length(v) == 16;
        for (int c = 0; ok && c < 16; c++) ok = (s[c] >= '0' && s[c] <= '9') || (s[c] >= 'a' && s[c] <= 'f');
        return ok ? RAIIAF_OK : bad(err, errsize, where, "expected 16 lowercase hex digits (a key id) or null");
    }
    case K_DIGEST: {
        const char *s = str_of(v);
        int ok = s && strlen(s) == 64 && json_string_length(v) == 64;
        for (int c = 0; ok && c < 64; c++) ok = (s[c] >= '0' && s[c] <= '9') || (s[c] >= 'a' && s[c] <= 'f');
        return ok ? RAIIAF_OK : bad(err, errsize, where, "expected 64 lowercase hex digits (the manifest's SHA-256)");
    }
    case K_TAGS:
    case K_TENSORS:
    case K_SHAPE:
        if (!json_is_array(v)) return bad(err, errsize, where, "expected an array");
        if (json_array_size(v) > (k == K_SHAPE ? RAIIAF_MAX_RANK : MAX_ITEMS))
            return bad(err, errsize, where, k == K_SHAPE ? "more dimensions than RAIIAF_MAX_RANK" : "more than 1000000 items");
        json_array_foreach(v, i, e)
        {
            snprintf(sub, sizeof sub, "%s/%zu", where, i);
            int rc = k == K_TAGS      ? check_text(e, MAX_TEXT_BYTES, 0, 0, sub, err, errsize)
                     : k == K_SHAPE   ? check_value(e, K_U64, sub, err, errsize)
                                      : check_object(e, tensor_fields, sizeof tensor_fields / sizeof tensor_fields[0], sub, err,
                                                     errsize);
            if (rc) return rc;
        }
        return RAIIAF_OK;
    }
    return bad(err, errsize, where, "internal: unknown kind");
}

static int check_object(const json_t *o, const field *fs, size_t nf, const char *where, char *err, size_t errsize)
{
    char sub[160];
    if (!json_is_object(o)) return bad(err, errsize, where[0] ? where : "/", "expected an object");
    for (size_t i = 0; i < nf; i++) {
        snprintf(sub, sizeof sub, "%s/%s", where, fs[i].key);
        json_t *v = json_object_get(o, fs[i].key);
        if (!v) return bad(err, errsize, sub, "missing");
        int rc = check_value(v, fs[i].kind, sub, err, errsize);
        if (rc) return rc;
    }
    if (json_object_size(o) != nf) {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)o, key, v)
        {
            size_t i = 0;
            while (i < nf && strcmp(fs[i].key, key)) i++;
            if (i == nf) {
                /* the key is the file's text: cut it short in the message */
                snprintf(sub, sizeof sub, "%s/%.64s", where, key);
                return bad(err, errsize, sub, "unknown key");
            }
        }
    }
    return RAIIAF_OK;
}

int rf_index_row_check(const json_t *row, char *err, size_t errsize)
{
    return check_object(row, row_fields, sizeof row_fields / sizeof row_fields[0], "", err, errsize);
}

static void bind_text_or_null(sqlite3_stmt *s, int i, const json_t *v)
{
    const char *t = str_of(v);
    if (t) sqlite3_bind_text(s, i, t, (int)json_string_length(v), SQLITE_STATIC);
    else sqlite3_bind_null(s, i);
}

/* Seeds, steps and sizes are unsigned 64-bit: their 64 bits go in SQLite's
 * signed integer, so 2^63..2^64-1 read back as n - 2^64 (search converts
 * back, index_search.c). */
static void bind_u64_or_null(sqlite3_stmt *s, int i, const json_t *v)
{
    uint64_t u;
    if (raiiaf_json_uint64(v, &u)) sqlite3_bind_int64(s, i, (sqlite3_int64)u);
    else sqlite3_bind_null(s, i);
}

static int run(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

static int db_fail(raiiaf_index *idx)
{
    return rf_index_fail(idx, RAIIAF_E_IO, "%s: %s", idx->path, sqlite3_errmsg(idx->db));
}

int rf_index_row_delete(raiiaf_index *idx, long long id)
{
    sqlite3_stmt *d[] = {idx->S.del_tags, idx->S.del_tens, idx->S.del_fts, idx->S.del_file};
    for (size_t i = 0; i < 4; i++) {
        sqlite3_bind_int64(d[i], 1, id);
        if (run(d[i])) return db_fail(idx);
    }
    return RAIIAF_OK;
}

static void shape_text(const json_t *shape, char *out, size_t cap)
{
    size_t p = 0, i;
    json_t *d;
    out[p++] = '[';
    json_array_foreach(shape, i, d)
    {
        uint64_t u = 0;
        raiiaf_json_uint64(d, &u);
        p += (size_t)snprintf(out + p, cap - p, "%s%llu", i ? ", " : "", (unsigned long long)u);
    }
    out[p++] = ']';
    out[p] = '\0';
}

int rf_index_row_store(raiiaf_index *idx, const json_t *row, int *replaced)
{
    rf_index_stmts *S = &idx->S;
    const json_t *path = json_object_get(row, "path");
    long long old = -1;
    sqlite3_bind_text(S->find, 1, json_string_value(path), -1, SQLITE_STATIC);
    int step = sqlite3_step(S->find);
    if (step == SQLITE_ROW) old = sqlite3_column_int64(S->find, 0);
    sqlite3_reset(S->find);
    if (step != SQLITE_ROW && step != SQLITE_DONE) return db_fail(idx);
    if (replaced) *replaced = old >= 0;
    int rc;
    if (old >= 0 && (rc = rf_index_row_delete(idx, old))) return rc;
    sqlite3_stmt *s = S->ins;
    static const char *const text_cols[] = {"model", "model_hash", "prompt", "negative_prompt"};
    bind_text_or_null(s, 1, path);
    sqlite3_bind_int64(s, 2, json_integer_value(json_object_get(row, "size")));
    sqlite3_bind_int64(s, 3, json_integer_value(json_object_get(row, "mtime_ns")));
    bind_text_or_null(s, 4, json_object_get(row, "format"));
    for (int i = 0; i < 4; i++) bind_text_or_null(s, 5 + i, json_object_get(row, text_cols[i]));
    bind_u64_or_null(s, 9, json_object_get(row, "seed"));
    bind_u64_or_null(s, 10, json_object_get(row, "steps"));
    bind_text_or_null(s, 11, json_object_get(row, "sampler"));
    bind_text_or_null(s, 12, json_object_get(row, "scheduler"));
    const json_t *cfg = json_object_get(row, "cfg_scale");
    if (json_is_number(cfg)) sqlite3_bind_double(s, 13, json_number_value(cfg));
    bind_u64_or_null(s, 14, json_object_get(row, "width"));
    bind_u64_or_null(s, 15, json_object_get(row, "height"));
    bind_text_or_null(s, 16, json_object_get(row, "image_format"));
    bind_text_or_null(s, 17, json_object_get(row, "tool"));
    bind_text_or_null(s, 18, json_object_get(row, "digest"));
    bind_text_or_null(s, 19, json_object_get(row, "signature"));
    sqlite3_bind_int64(s, 20, (long long)time(NULL));
    bind_text_or_null(s, 21, json_object_get(row, "signature_key"));
    bind_text_or_null(s, 22, json_object_get(row, "created"));
    if (run(s)) return db_fail(idx);
    long long id = sqlite3_last_insert_rowid(idx->db);
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(row, "tags"), i, t)
    {
        sqlite3_bind_int64(S->ins_tag, 1, id);
        bind_text_or_null(S->ins_tag, 2, t);
        if (run(S->ins_tag)) return db_fail(idx);
    }
    json_array_foreach(json_object_get(row, "tensors"), i, t)
    {
        char shape[RAIIAF_MAX_RANK * 24 + 8];
        shape_text(json_object_get(t, "shape"), shape, sizeof shape);
        sqlite3_stmt *q = S->ins_tens;
        sqlite3_bind_int64(q, 1, id);
        bind_text_or_null(q, 2, json_object_get(t, "name"));
        bind_text_or_null(q, 3, json_object_get(t, "dtype"));
        sqlite3_bind_text(q, 4, shape, -1, SQLITE_TRANSIENT);
        bind_text_or_null(q, 5, json_object_get(t, "codec"));
        bind_u64_or_null(q, 6, json_object_get(t, "raw_size"));
        bind_u64_or_null(q, 7, json_object_get(t, "stored_size"));
        if (run(q)) return db_fail(idx);
    }
    sqlite3_bind_int64(S->ins_fts, 1, id);
    bind_text_or_null(S->ins_fts, 2, json_object_get(row, "prompt"));
    bind_text_or_null(S->ins_fts, 3, json_object_get(row, "negative_prompt"));
    if (run(S->ins_fts)) return db_fail(idx);
    return RAIIAF_OK;
}

int raiiaf_index_put_row_json(raiiaf_index *idx, const char *json, size_t len)
{
    if (!idx || !idx->db) return RAIIAF_E_ARG;
    if (!json) return rf_index_fail(idx, RAIIAF_E_ARG, "raiiaf_index_put_row_json: json is NULL");
    if (idx->flags & RAIIAF_INDEX_READONLY) return rf_index_fail(idx, RAIIAF_E_STATE, "%s: opened read-only", idx->path);
    if (len > MAX_ROW_BYTES) return rf_index_fail(idx, RAIIAF_E_ARG, "row JSON of %zu bytes, longer than 256 MiB", len);
    json_error_t je;
    json_t *row = raiiaf_json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!row) return rf_index_fail(idx, RAIIAF_E_JSON, "row JSON, line %d column %d: %s", je.line, je.column, je.text);
    char err[512];
    int rc = rf_index_row_check(row, err, sizeof err);
    if (rc) rc = rf_index_fail(idx, rc, "row JSON %s", err);
    if (!rc) rc = rf_index_prepare(idx);
    if (!rc && !idx->in_txn) rc = rf_index_tx_begin(idx);
    if (!rc) {
        rc = rf_index_row_store(idx, row, NULL);
        if (!idx->in_txn) {
            if (rc) sqlite3_exec(idx->db, "ROLLBACK", NULL, NULL, NULL);
            else rc = rf_index_tx_commit(idx);
        }
    }
    json_decref(row);
    return rc;
}
