/* edit.c -- the append-only edit handle (SPEC.md §13): a copy of the
 * newest manifest changed field by field, then appended with a new footer
 * under the writers' lock.  Opening versions is versions.c's (and the torn
 * tail fallback open.c's); whole-file rewrites are rewrite.c's. */
#include "reader_impl.h"
#include "jsonnum.h"
#include "format1.h"
#include "env.h"
#include "jsondump.h"
#include "owned.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


/* ---- append-only edits ------------------------------------------------ */

const char *raiiaf_edit_errmsg(const raiiaf_edit *ed) { return ed ? ed->err.msg : "no edit"; }

int raiiaf_edit_open(const char *path, raiiaf_edit **out)
{
    if (!out) return RAIIAF_E_ARG;
    raiiaf_edit *ed = *out = calloc(1, sizeof *ed);
    if (!ed) return RAIIAF_E_NOMEM;
    ed->lock_fd = -1; /* before any return: raiiaf_edit_free() closes it */
    if (!path) return rf_fail(&ed->err, RAIIAF_E_ARG, "no path given");
    ed->path = strdup(path);
    if (!ed->path) return rf_fail(&ed->err, RAIIAF_E_NOMEM, "out of memory");
    /* The lock comes before the read: the newest version read here is then
     * the one the commit appends to, and trailing bytes are a torn tail of
     * a writer that died, never an append in progress. */
    int rc = rf_lock_file(path, RF_LOCK_APPEND, &ed->lock_fd, &ed->err);
    if (rc) return rc;
    rc = raiiaf_reader_open_file(path, 0, &ed->r);
    if (!ed->r) return rf_fail(&ed->err, RAIIAF_E_NOMEM, "out of memory");
    if (rc) return rf_fail(&ed->err, rc, "%s", ed->r->err.msg);
    if (ed->r->f1)
        return rf_fail(&ed->err, RAIIAF_E_VERSION, "%s: format 1 files cannot be edited in place (raiiaf convert makes format 2)", path);
    if (ed->r->latest_version == UINT32_MAX) return rf_fail(&ed->err, RAIIAF_E_LIMIT, "too many versions");
    ed->manifest = rf_json_copy(ed->r->manifest);
    if (!ed->manifest) return rf_fail(&ed->err, RAIIAF_E_NOMEM, "out of memory");
    return RAIIAF_OK;
}

void raiiaf_edit_free(raiiaf_edit *ed)
{
    if (!ed) return;
    rf_unlock_file(ed->lock_fd);
    free(ed->path);
    raiiaf_reader_free(ed->r);
    json_decref(ed->manifest);
    for (size_t i = 0; i < ed->nextra; i++) free(ed->extra[i].data);
    free(ed->extra);
    free(ed);
}

static int edit_usable(raiiaf_edit *ed)
{
    if (!ed->manifest) return rf_fail(&ed->err, RAIIAF_E_STATE, "the file did not open%s%s", ed->err.msg[0] ? ": " : "", ed->err.msg);
    if (ed->done) return rf_fail(&ed->err, RAIIAF_E_STATE, "the edit was already committed");
    return RAIIAF_OK;
}

int raiiaf_edit_set_json(raiiaf_edit *ed, const char *pointer, const char *json)
{
    if (!ed) return RAIIAF_E_ARG;
    int rc = edit_usable(ed);
    if (rc) return rc;
    if (!pointer || !json) return rf_fail(&ed->err, RAIIAF_E_ARG, "pointer and value must not be NULL");
    if (rf_owned_pointer(pointer)) return rf_fail(&ed->err, RAIIAF_E_ARG, "%s is written by the library and cannot be set", pointer);
    json_error_t je;
    json_t *v = rf_json_loadb(json, strlen(json), JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, RF_JSON_STRICT, &je);
    if (!v) return rf_fail(&ed->err, RAIIAF_E_JSON, "%s: invalid JSON value at column %d: %s", pointer, je.column, je.text);
    if (rf_json_depth(v, RF_MAX_JSON_DEPTH) > RF_MAX_JSON_DEPTH) {
        json_decref(v);
        return rf_fail(&ed->err, RAIIAF_E_LIMIT, "%s: value nested deeper than %u levels", pointer, RF_MAX_JSON_DEPTH);
    }
    return rf_pointer_set(ed->manifest, pointer, v, &ed->err);
}

/* Unescapes one reference token (RFC 6901: ~1 is '/', ~0 is '~'). */
static void unescape_token(char *t)
{
    char *o = t;
    for (char *p = t; *p; p++) {
        if (p[0] == '~' && p[1] == '1') *o++ = '/', p++;
        else if (p[0] == '~' && p[1] == '0') *o++ = '~', p++;
        else *o++ = *p;
    }
    *o = '\0';
}

int raiiaf_edit_remove(raiiaf_edit *ed, const char *pointer)
{
    if (!ed) return RAIIAF_E_ARG;
    int rc = edit_usable(ed);
    if (rc) return rc;
    if (!pointer) return rf_fail(&ed->err, RAIIAF_E_ARG, "no pointer");
    if (rf_owned_pointer(pointer)) return rf_fail(&ed->err, RAIIAF_E_ARG, "%s is written by the library and cannot be removed", pointer);
    char *copy = strdup(pointer);
    if (!copy) return rf_fail(&ed->err, RAIIAF_E_NOMEM, "out of memory");
    json_t *cur = ed->manifest;
    char *tok = copy + 1;
    rc = RAIIAF_OK;
    for (;;) {
        char *slash = strchr(tok, '/');
        if (slash) *slash = '\0';
        unescape_token(tok);
        if (!slash) {
            if (json_is_object(cur) && json_object_get(cur, tok)) json_object_del(cur, tok);
            else if (json_is_array(cur) && *tok && strspn(tok, "0123456789") == strlen(tok) && strtoul(tok, NULL, 10) < json_array_size(cur))
                json_array_remove(cur, strtoul(tok, NULL, 10));
            else rc = rf_fail(&ed->err, RAIIAF_E_NOT_FOUND, "%s: no such field", pointer);
            break;
        }
        if (json_is_object(cur)) cur = json_object_get(cur, tok);
        else if (json_is_array(cur) && *tok && strspn(tok, "0123456789") == strlen(tok)) cur = json_array_get(cur, strtoul(tok, NULL, 10));
        else cur = NULL;
        if (!cur) {
            rc = rf_fail(&ed->err, RAIIAF_E_NOT_FOUND, "%s: no such field", pointer);
            break;
        }
        tok = slash + 1;
    }
    free(copy);
    return rc;
}

static json_t *tags_array(raiiaf_edit *ed, int create)
{
    json_t *meta = json_object_get(ed->manifest, "raiiaf_metadata");
    json_t *mi = json_object_get(meta, "model_info");
    if (!mi && create) {
        mi = json_object();
        if (!mi || json_object_set_new(meta, "model_info", mi)) return NULL;
    }
    if (!json_is_object(mi)) return NULL;
    json_t *tags = json_object_get(mi, "tags");
    if (!tags && create) {
        tags = json_array();
        if (!tags || json_object_set_new(mi, "tags", tags)) return NULL;
    }
    return json_is_array(tags) ? tags : NULL;
}

int raiiaf_edit_add_tag(raiiaf_edit *ed, const char *tag)
{
    if (!ed || !tag) return RAIIAF_E_ARG;
    int rc = edit_usable(ed);
    if (rc) return rc;
    json_t *tags = tags_array(ed, 1);
    if (!tags) return rf_fail(&ed->err, RAIIAF_E_SCHEMA, "/raiiaf_metadata/model_info/tags: is not an array");
    for (size_t i = 0; i < json_array_size(tags); i++)
        if (json_is_string(json_array_get(tags, i)) && !strcmp(json_string_value(json_array_get(tags, i)), tag)) return RAIIAF_OK;
    if (json_array_append_new(tags, json_string(tag))) return rf_fail(&ed->err, RAIIAF_E_ARG, "tag is not valid UTF-8 (or out of memory)");
    return RAIIAF_OK;
}

int raiiaf_edit_remove_tag(raiiaf_edit *ed, const char *tag)
{
    if (!ed || !tag) return RAIIAF_E_ARG;
    int rc = edit_usable(ed);
    if (rc) return rc;
    json_t *tags = tags_array(ed, 0);
    int found = 0;
    for (size_t i = 0; tags && i < json_array_size(tags);) {
        json_t *t = json_array_get(tags, i);
        if (json_is_string(t) && !strcmp(json_string_value(t), tag)) {
            json_array_remove(tags, i);
            found = 1;
        } else {
            i++;
        }
    }
    return found ? RAIIAF_OK : rf_fail(&ed->err, RAIIAF_E_NOT_FOUND, "no tag \"%s\"", tag);
}

int raiiaf_edit_add_chunk(raiiaf_edit *ed, const char type[4], const void *data, size_t size)
{
    if (!ed || !type || (!data && size)) return RAIIAF_E_ARG;
    int rc = edit_usable(ed);
    if (rc) return rc;
    for (int i = 0; i < 4; i++)
        if (type[i] < 0x21 || type[i] > 0x7e) return rf_fail(&ed->err, RAIIAF_E_ARG, "chunk type must be 4 printable ASCII characters");
    if (!memcmp(type, RF_TYPE_IMAGE, 4) || !memcmp(type, RF_TYPE_TENSOR, 4) || !memcmp(type, RF_TYPE_MANIFEST, 4) ||
        !memcmp(type, RF_TYPE_ENV, 4))
        return rf_fail(&ed->err, RAIIAF_E_ARG, "chunk type %.4s is defined by the format", type);
    if (size > (16u << 20)) return rf_fail(&ed->err, RAIIAF_E_LIMIT, "an appended chunk holds at most 16 MiB");
    edit_chunk *g = realloc(ed->extra, (ed->nextra + 1) * sizeof *g);
    if (!g) return rf_fail(&ed->err, RAIIAF_E_NOMEM, "out of memory");
    ed->extra = g;
    edit_chunk *c = &g[ed->nextra];
    c->data = malloc(size ? size : 1);
    if (!c->data) return rf_fail(&ed->err, RAIIAF_E_NOMEM, "out of memory");
    memcpy(c->type, type, 4);
    c->type[4] = '\0';
    if (size) memcpy(c->data, data, size);
    c->size = size;
    ed->nextra++;
    return RAIIAF_OK;
}

uint32_t raiiaf_edit_new_version(const raiiaf_edit *ed) { return ed && ed->r ? ed->r->latest_version + 1 : 0; }

/* Appends everything in `buf` pieces; on failure cuts the file back. */
int raiiaf_edit_commit(raiiaf_edit *ed)
{
    if (!ed) return RAIIAF_E_ARG;
    int rc = edit_usable(ed);
    if (rc) return rc;
    raiiaf_reader *r = ed->r;
    uint64_t base = r->size; /* end of the newest complete version */
    json_t *meta = json_object_get(ed->manifest, "raiiaf_metadata");
    json_t *chunks = json_object_get(meta, "chunks");
    json_t *fi = json_object_get(meta, "file_info");
    if (!json_is_array(chunks) || !json_is_object(fi)) return rf_fail(&ed->err, RAIIAF_E_CORRUPT, "manifest lacks chunks or file_info");
    if (r->nchunks + ed->nextra >= RF_MAX_CHUNKS) return rf_fail(&ed->err, RAIIAF_E_LIMIT, "a file holds at most %u chunks", RF_MAX_CHUNKS);
    /* Lay out the appended bytes in memory first: nothing is written until
     * the new manifest has passed the schema. */
    uint64_t pos = base;
    size_t total = 0;
    for (size_t i = 0; i < ed->nextra; i++) total += (size_t)rf_align_up(RF_CHUNK_HEADER_SIZE + ed->extra[i].size);
    uint64_t *offs = calloc(ed->nextra + 1, sizeof *offs);
    if (!offs) return rf_fail(&ed->err, RAIIAF_E_NOMEM, "out of memory");
    for (size_t i = 0; i < ed->nextra && !rc; i++) {
        edit_chunk *c = &ed->extra[i];
        char sha[65];
        if (rf_sha256_hex(c->data, c->size, sha)) {
            rc = rf_fail(&ed->err, RAIIAF_E_NOMEM, "out of memory");
            break;
        }
        offs[i] = pos;
        json_t *rec = json_pack("{s:I,s:s,s:I,s:s,s:I,s:I,s:I,s:s}", "index", (json_int_t)(r->nchunks + i), "type", c->type, "offset",
                                (json_int_t)pos, "codec", "raw", "stored_size", (json_int_t)c->size, "raw_size", (json_int_t)c->size,
                                "crc32c", (json_int_t)rf_crc32c(0, c->data, c->size), "sha256", sha);
        if (!rec || json_array_append_new(chunks, rec)) rc = rf_fail(&ed->err, RAIIAF_E_NOMEM, "out of memory");
        pos = rf_align_up(pos + RF_CHUNK_HEADER_SIZE + c->size);
    }
    char oldsha[65], now[32];
    if (!rc && rf_sha256_hex(r->manifest_text, r->manifest_len, oldsha)) rc = rf_fail(&ed->err, RAIIAF_E_NOMEM, "out of memory");
    rf_utc_now(now);
    uint32_t version = r->latest_version + 1;
    if (!rc) {
        json_t *prev = json_pack("{s:I,s:s}", "offset", (json_int_t)r->manifest_off, "sha256", oldsha);
        if (!prev || json_object_set_new(fi, "previous_manifest", prev) || json_object_set_new(fi, "manifest_version", json_integer(version)) ||
            json_object_set_new(fi, "chunk_count", json_integer((json_int_t)json_array_size(chunks))) ||
            json_object_set_new(fi, "modified", json_string(now)) ||
            json_object_set_new(fi, "writer", json_string("libraiiaf " RAIIAF_VERSION_STRING)))
            rc = rf_fail(&ed->err, RAIIAF_E_NOMEM, "out of memory");
    }
    unsigned char *payload = NULL;
    size_t stored = 0, raw = 0;
    char sha[65];
    if (!rc) rc = rf_manifest_encode(ed->manifest, &payload, &stored, &raw, sha, &ed->err);
    if (rc) {
        free(offs);
        /* Leave the handle usable: undo nothing but refuse a second try
         * with half-applied bookkeeping. */
        ed->done = 1;
        rf_unlock_file(ed->lock_fd);
        ed->lock_fd = -1;
        return rc;
    }
    ed->done = 1;
    /* Everything is written through the descriptor that holds the lock
     * (raiiaf_edit_open), so it is the file that was read. */
    int fd = ed->lock_fd;
    const char *path = ed->path;
    /* A torn tail left by an interrupted append goes first.  The lock makes
     * it a writer that died, not one still appending. */
    if (r->trailing && (ftruncate(fd, (off_t)base) != 0 || fsync(fd) != 0)) {
        int err = errno;
        free(offs);
        free(payload);
        rf_unlock_file(ed->lock_fd);
        ed->lock_fd = -1;
        return rf_fail(&ed->err, RAIIAF_E_IO, "%s: cannot cut off the %llu trailing bytes of an interrupted edit: %s", path,
                       (unsigned long long)r->trailing, strerror(err));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size != base)
        rc = rf_fail(&ed->err, RAIIAF_E_STATE, "%s: the file changed since it was opened (by a writer that does not take the lock)", path);
    else if (lseek(fd, (off_t)base, SEEK_SET) < 0)
        rc = rf_fail(&ed->err, RAIIAF_E_IO, "%s: cannot seek to the end: %s", path, strerror(errno));
    int wrote = 0;
    for (size_t i = 0; !rc && i < ed->nextra; i++) {
        edit_chunk *c = &ed->extra[i];
        unsigned char h[RF_CHUNK_HEADER_SIZE];
        rf_chunk_header(h, c->type, RF_CODEC_RAW, (unsigned)(r->nchunks + i), c->size, c->size, rf_crc32c(0, c->data, c->size));
        wrote = 1;
        rc = rf_write_all(fd, h, sizeof h, path, &ed->err);
        if (!rc) rc = rf_write_all(fd, c->data, c->size, path, &ed->err);
        uint64_t end = offs[i] + RF_CHUNK_HEADER_SIZE + c->size;
        if (!rc && rf_align_up(end) > end) rc = rf_write_all(fd, rf_zeros64, (size_t)(rf_align_up(end) - end), path, &ed->err);
    }
    uint64_t moff = pos;
    if (!rc) {
        unsigned char mh[RF_CHUNK_HEADER_SIZE], f[RF_FOOTER_SIZE];
        rf_chunk_header(mh, RF_TYPE_MANIFEST, RF_CODEC_ZSTD, (unsigned)json_array_size(chunks), stored, raw, rf_crc32c(0, payload, stored));
        wrote = 1;
        rc = rf_write_all(fd, mh, sizeof mh, path, &ed->err);
        if (!rc) rc = rf_write_all(fd, payload, stored, path, &ed->err);
        uint64_t end = moff + RF_CHUNK_HEADER_SIZE + stored;
        if (!rc && rf_align_up(end) > end) rc = rf_write_all(fd, rf_zeros64, (size_t)(rf_align_up(end) - end), path, &ed->err);
        rf_footer(f, moff, r->latest_footer, version);
        if (!rc) rc = rf_write_all(fd, f, sizeof f, path, &ed->err);
        if (!rc && fsync(fd) != 0) rc = rf_fail(&ed->err, RAIIAF_E_IO, "%s: fsync failed: %s", path, strerror(errno));
    }
    if (rc && wrote) {
        /* Best effort: cut the partial append off again; a reader falls
         * back to the previous version even when this fails too. */
        if (ftruncate(fd, (off_t)base) == 0) (void)fsync(fd);
    }
    /* Closing drops the lock: the appended version is durable by now. */
    ed->lock_fd = -1;
    if (close(fd) != 0 && !rc) rc = rf_fail(&ed->err, RAIIAF_E_IO, "%s: close failed: %s", path, strerror(errno));
    free(offs);
    free(payload);
    (void)total;
    return rc;
}
