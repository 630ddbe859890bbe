/* api_edit.c -- POST / DELETE /api/file/ID/tags?tag=T: a tag added or
 * removed through the library's append-only edit (a new manifest version
 * appended; payloads untouched), then the file's index row refreshed (its
 * tags, size, mtime and manifest digest) so the grid, search and ETags see
 * the edit at once.  Only with RAIIAF_API_ALLOW_EDIT; the HTTP layer
 * (server.c) also requires the per-session token and a same-origin
 * request. */
#include "api_internal.h"
#include "raiiaf_json.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TAG 256

/* The index row of file id made to match the file on disk after an edit.
 * NULL on success, else what failed. */
static const char *refresh_row(const char *db_path, long long id, const char *path, json_t **tags_out)
{
    raiiaf_reader *rd = NULL;
    if (raiiaf_reader_open_file(path, RAIIAF_READ_NO_DIGEST, &rd)) {
        raiiaf_reader_free(rd);
        return "the edited file cannot be read back";
    }
    size_t n = 0;
    const char *text = raiiaf_reader_manifest(rd, &n);
    unsigned char md[32];
    unsigned mdl = 0;
    char digest[65];
    EVP_Digest(text, n, md, &mdl, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++) snprintf(digest + 2 * i, 3, "%02x", md[i]);
    json_t *m = raiiaf_json_loadb(text, n, 0, NULL);
    raiiaf_reader_free(rd);
    json_t *tags = json_object_get(json_object_get(json_object_get(m, "raiiaf_metadata"), "model_info"), "tags");
    long long size, mtime;
    const char *why = NULL;
    sqlite3 *db = NULL;
    if (api_file_key(path, &size, &mtime)) why = "the edited file cannot be found";
    else if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
        why = "the index database cannot be opened for writing";
    if (!why) {
        sqlite3_busy_timeout(db, 10000); /* a `raiiaf index` run commits in batches */
        sqlite3_stmt *up = NULL, *del = NULL, *ins = NULL;
        int ok = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK &&
                 sqlite3_prepare_v2(db, "UPDATE files SET size = ?, mtime_ns = ?, digest = ? WHERE id = ?", -1, &up,
                                    NULL) == SQLITE_OK &&
                 sqlite3_prepare_v2(db, "DELETE FROM tags WHERE file_id = ?", -1, &del, NULL) == SQLITE_OK &&
                 sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO tags(file_id, tag) VALUES(?, ?)", -1, &ins, NULL) ==
                     SQLITE_OK;
        if (ok) {
            sqlite3_bind_int64(up, 1, size);
            sqlite3_bind_int64(up, 2, mtime);
            sqlite3_bind_text(up, 3, digest, -1, SQLITE_STATIC);
            sqlite3_bind_int64(up, 4, id);
            sqlite3_bind_int64(del, 1, id);
            ok = sqlite3_step(up) == SQLITE_DONE && sqlite3_step(del) == SQLITE_DONE;
        }
        size_t i;
        json_t *t;
        json_array_foreach(tags, i, t) {
            if (!ok) break;
            if (!json_is_string(t)) continue;
            sqlite3_reset(ins);
            sqlite3_bind_int64(ins, 1, id);
            sqlite3_bind_text(ins, 2, json_string_value(t), -1, SQLITE_TRANSIENT);
            ok = sqlite3_step(ins) == SQLITE_DONE;
        }
        sqlite3_finalize(up);
        sqlite3_finalize(del);
        sqlite3_finalize(ins);
        if (ok && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
            *tags_out = json_array();
            json_array_foreach(tags, i, t) if (json_is_string(t)) json_array_append(*tags_out, t);
        } else {
            why = "the index row could not be updated (the database is busy or read-only); run raiiaf index";
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        }
    }
    sqlite3_close(db);
    json_decref(m);
    return why;
}

int api_edit_tags(raiiaf_api *api, const char *method, long long id, const char *query, resp *r)
{
    int add = !strcmp(method, "POST");
    if (!add && strcmp(method, "DELETE")) return api_error(r, 405, "tags: POST adds a tag, DELETE removes one");
    if (!(api->flags & RAIIAF_API_ALLOW_EDIT))
        return api_error(r, 403, "read-only server: tags can be edited only when raiiaf serve runs with --allow-edit");
    char tag[MAX_TAG + 1];
    int ht = api_query_get(query, "tag", tag, sizeof tag);
    if (ht < 0) return api_error(r, 400, "tag: bad %%-escape, NUL byte or longer than %d bytes", MAX_TAG);
    if (ht == 0 || !tag[0]) return api_error(r, 400, "tag: missing (POST /api/file/ID/tags?tag=NAME)");
    sqlite3 *db = api_db_acquire(api);
    if (!db) return api_error(r, 503, "the index database cannot be opened");
    char *path = NULL;
    int f = api_file_row(db, id, NULL, &path);
    int ret = f < 0 ? api_error(r, 500, "index database: %s", sqlite3_errmsg(db)) : 0;
    api_db_release(api, db);
    if (f) {
        free(path);
        return f < 0 ? ret : api_error(r, 404, "no file with id %lld in the index", id);
    }
    raiiaf_edit *ed = NULL;
    int e = raiiaf_edit_open(path, &ed);
    if (!e) e = add ? raiiaf_edit_add_tag(ed, tag) : raiiaf_edit_remove_tag(ed, tag);
    uint32_t version = ed ? raiiaf_edit_new_version(ed) : 0;
    if (!e) e = raiiaf_edit_commit(ed);
    if (e) {
        int st = e == RAIIAF_E_NOT_FOUND ? 404 : e == RAIIAF_E_BUSY ? 409 : e == RAIIAF_E_NOMEM ? 500 : 422;
        ret = api_error(r, st, "edit of file %lld: %s", id, ed ? raiiaf_edit_errmsg(ed) : raiiaf_strerror(e));
        raiiaf_edit_free(ed);
        free(path);
        return ret;
    }
    raiiaf_edit_free(ed);
    atomic_fetch_add(&api->edits, 1);
    json_t *tags = NULL;
    const char *why = refresh_row(api->db, id, path, &tags);
    free(path);
    if (why) return api_error(r, 500, "the file was edited (version %u), but %s", version, why);
    return api_json_reply(r, 200, json_pack("{sI sI so}", "id", (json_int_t)id, "version", (json_int_t)version, "tags", tags));
}
