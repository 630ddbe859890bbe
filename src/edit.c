/* edit.c -- manifest versions and append-only edits (SPEC.md §13):
 * opening an older version by walking the footer chain, falling back to
 * the newest complete version when an append was torn, appending a new
 * manifest, and compacting a file to its newest version. */
#include "reader_impl.h"
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

#define EDIT_ZSTD_LEVEL 9
/* A torn append is at most one manifest, its footer and the small chunks
 * an edit adds (SIGN): the backward scan for a complete version is bounded
 * by this many bytes from the end. */
#define RF_TORN_SCAN_LIMIT ((uint64_t)RF_MAX_MANIFEST_STORED + (4u << 20))

/* json_deep_copy() that notices a copy cut short by an allocation failure
 * (jansson drops the members it could not copy and still succeeds). */
static json_t *deep_copy(const json_t *v)
{
    json_t *c = json_deep_copy(v);
    if (c && !json_equal(c, (json_t *)v)) {
        json_decref(c);
        return NULL;
    }
    return c;
}

json_t *rf_json_copy(const json_t *v) { return deep_copy(v); }

/* ---- opening: torn tails and older versions --------------------------- */

int rf_open_fallback(raiiaf_reader *r, int first_rc)
{
    rf_err saved = r->err;
    uint64_t found = 0;
    int ok = 0;
    if (!first_rc) {
        found = r->size - RF_FOOTER_SIZE;
        ok = 1;
    } else if (first_rc != RAIIAF_E_NOMEM && first_rc != RAIIAF_E_IO) {
        uint64_t top = (r->size - RF_FOOTER_SIZE) / RF_ALIGN * RF_ALIGN;
        uint64_t floor = RF_HEADER_SIZE + RF_CHUNK_HEADER_SIZE;
        if (r->size > RF_TORN_SCAN_LIMIT && r->size - RF_TORN_SCAN_LIMIT > floor) floor = r->size - RF_TORN_SCAN_LIMIT;
        for (uint64_t f = top; f >= floor; f -= RF_ALIGN) {
            if (f + RF_FOOTER_SIZE == r->size) continue; /* the normal open tried it */
            if (memcmp(r->data + f, RF_FOOTER_MAGIC, 8)) continue;
            if (!rf_open_footer(r, f)) {
                found = f;
                ok = 1;
                break;
            }
        }
    }
    if (!ok) {
        rf_reader_reset(r);
        r->err = saved;
        return first_rc;
    }
    r->trailing = r->size - (found + RF_FOOTER_SIZE);
    r->size = (size_t)(found + RF_FOOTER_SIZE);
    r->latest_version = r->manifest_version;
    r->latest_footer = found;
    if (!r->want_version || r->want_version == r->manifest_version) return RAIIAF_OK;
    if (r->want_version > r->manifest_version) {
        uint32_t latest = r->manifest_version;
        rf_reader_reset(r);
        return rf_fail(&r->err, RAIIAF_E_NOT_FOUND, "the file has manifest versions 1 to %u, not %u", latest, r->want_version);
    }
    uint64_t prev = r->prev_footer;
    while (prev) {
        uint64_t moff, pprev;
        uint32_t v;
        int rc = rf_parse_footer(r, prev, &moff, &pprev, &v);
        if (rc) {
            rf_reader_reset(r);
            return rc;
        }
        if (v == r->want_version) {
            rc = rf_open_footer(r, prev);
            if (!rc) r->size = (size_t)(prev + RF_FOOTER_SIZE);
            return rc;
        }
        if (v < r->want_version || (pprev && pprev >= prev)) break;
        prev = pprev;
    }
    rf_reader_reset(r);
    return rf_fail(&r->err, RAIIAF_E_NOT_FOUND, "manifest version %u not found in the footer chain", r->want_version);
}

int raiiaf_reader_open_version(const char *path, unsigned flags, uint32_t version, raiiaf_reader **out)
{
    if (!out) return RAIIAF_E_ARG;
    raiiaf_reader *r = *out = calloc(1, sizeof *r);
    if (!r) return RAIIAF_E_NOMEM;
    r->flags = flags;
    r->image_chunk = -1;
    r->want_version = version;
    if (!path) return rf_fail(&r->err, RAIIAF_E_ARG, "no path given");
    int rc = rf_map(path, &r->data, &r->size, &r->err);
    if (rc) return rc;
    r->mapped = 1;
    r->map_size = r->size;
    rc = rf_open_parsed(r);
    if (!rc && r->f1 && version > 1) {
        rc = rf_fail(&r->err, RAIIAF_E_NOT_FOUND, "a format 1 file has a single manifest version");
        r->manifest = NULL; /* f1 keeps its own state; mark not open */
    }
    return rc;
}

uint32_t raiiaf_reader_manifest_version(const raiiaf_reader *r)
{
    if (!r) return 0;
    if (r->f1) return 1;
    return r->manifest_version;
}

uint32_t raiiaf_reader_latest_version(const raiiaf_reader *r)
{
    if (!r) return 0;
    if (r->f1) return 1;
    return r->latest_version ? r->latest_version : r->manifest_version;
}

uint64_t raiiaf_reader_trailing_bytes(const raiiaf_reader *r) { return r ? r->trailing : 0; }

int raiiaf_reader_manifest_at(raiiaf_reader *r, uint32_t version, char **json, size_t *size, uint64_t *offset)
{
    if (!r || !json) return RAIIAF_E_ARG;
    *json = NULL;
    if (!r->manifest) return rf_fail(&r->err, RAIIAF_E_STATE, "the file did not open");
    if (r->f1) {
        if (version != 1) return rf_fail(&r->err, RAIIAF_E_NOT_FOUND, "a format 1 file has one manifest version");
        char *t = malloc(r->manifest_len + 1);
        if (!t) return rf_fail(&r->err, RAIIAF_E_NOMEM, "out of memory");
        memcpy(t, r->manifest_text, r->manifest_len + 1);
        *json = t;
        if (size) *size = r->manifest_len;
        if (offset) *offset = 0;
        return RAIIAF_OK;
    }
    uint64_t f = r->latest_footer;
    for (unsigned steps = 0; f; steps++) {
        uint64_t moff, prev;
        uint32_t v;
        int rc = rf_parse_footer(r, f, &moff, &prev, &v);
        if (rc) return rc;
        if (v == version) {
            size_t len;
            rc = rf_load_manifest(r, moff, f, json, &len);
            if (rc) return rc;
            if (size) *size = len;
            if (offset) *offset = moff;
            return RAIIAF_OK;
        }
        if (v < version || (prev && prev >= f)) break;
        f = prev;
    }
    return rf_fail(&r->err, RAIIAF_E_NOT_FOUND, "manifest version %u not found", version);
}

/* ---- comparing manifests (signatures) --------------------------------- */

int rf_same_content(const json_t *a, const json_t *b)
{
    json_t *ma = json_object_get(a, "raiiaf_metadata"), *mb = json_object_get(b, "raiiaf_metadata");
    if (!json_is_object(ma) || !json_is_object(mb)) return 0;
    json_t *ca = deep_copy(ma), *cb = deep_copy(mb);
    int same = 0;
    if (!ca || !cb) goto out;
    json_object_del(ca, "file_info");
    json_object_del(cb, "file_info");
    json_t *xa = json_object_get(ca, "chunks"), *xb = json_object_get(cb, "chunks");
    if (!json_is_array(xa) || !json_is_array(xb) || json_array_size(xb) < json_array_size(xa)) goto out;
    size_t na = json_array_size(xa);
    for (size_t i = 0; i < na; i++)
        if (!json_equal(json_array_get(xa, i), json_array_get(xb, i))) goto out;
    for (size_t i = na; i < json_array_size(xb); i++) {
        json_t *t = json_object_get(json_array_get(xb, i), "type");
        if (!json_is_string(t) || strcmp(json_string_value(t), "SIGN")) goto out;
    }
    json_object_del(ca, "chunks");
    json_object_del(cb, "chunks");
    same = json_equal(ca, cb);
out:
    json_decref(ca);
    json_decref(cb);
    return same;
}

/* ---- writing a whole new file ----------------------------------------- */

static int remap_ref(json_t *obj, const long *map, size_t n, const char *what, rf_err *e)
{
    json_t *c = json_object_get(obj, "chunk");
    if (!json_is_integer(c)) return RAIIAF_OK;
    json_int_t v = json_integer_value(c);
    if (v < 0 || (size_t)v >= n || map[v] < 0) return rf_fail(e, RAIIAF_E_CORRUPT, "%s refers to chunk %lld, which is not kept", what, (long long)v);
    if (json_object_set_new(obj, "chunk", json_integer(map[v]))) return rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
    return RAIIAF_OK;
}

static int validate_and_encode(json_t *manifest, unsigned char **payload, size_t *stored, size_t *raw, char sha[65], rf_err *e)
{
    json_t *schema;
    int rc = rf_json_parse(rf_schema_json, strlen(rf_schema_json), "embedded schema", &schema, e);
    if (rc) return rc;
    rc = rf_schema_validate(schema, manifest, e);
    json_decref(schema);
    if (rc) return rc;
    char *text = rf_json_dump_manifest(manifest); /* numbers as the writer writes them (23.54) */
    if (!text) return rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
    size_t len = strlen(text);
    if (len > RF_MAX_MANIFEST_RAW) {
        free(text);
        return rf_fail(e, RAIIAF_E_LIMIT, "manifest of %zu bytes exceeds the %u-byte limit", len, RF_MAX_MANIFEST_RAW);
    }
    /* jansson can emit damaged text when an allocation fails inside
     * json_dumps(): read it back before it is written anywhere. */
    json_t *back = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    int same = back && json_equal(back, manifest);
    json_decref(back);
    if (!same) {
        free(text);
        return rf_fail(e, RAIIAF_E_NOMEM, "out of memory while writing the manifest");
    }
    rc = rf_planes_encode(text, len, 1, EDIT_ZSTD_LEVEL, payload, stored, e);
    if (!rc && rf_sha256_hex(text, len, sha)) rc = rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
    free(text);
    if (rc) return rc;
    if (*stored > RF_MAX_MANIFEST_STORED) {
        free(*payload);
        *payload = NULL;
        return rf_fail(e, RAIIAF_E_LIMIT, "compressed manifest of %zu bytes exceeds the limit", *stored);
    }
    *raw = len;
    return RAIIAF_OK;
}

static const unsigned char zeros64[64];

int rf_rewrite(const unsigned char *data, json_t *manifest, const uint64_t *src_off, const unsigned char *keep,
               const char *out_path, rf_err *e)
{
    json_t *meta = json_object_get(manifest, "raiiaf_metadata");
    json_t *chunks = json_object_get(meta, "chunks");
    if (!json_is_array(chunks)) return rf_fail(e, RAIIAF_E_CORRUPT, "manifest has no chunk list");
    size_t n = json_array_size(chunks);
    long *map = malloc((n ? n : 1) * sizeof *map);
    json_t *newchunks = json_array();
    if (!map || !newchunks) {
        free(map);
        json_decref(newchunks);
        return rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
    }
    long kept = 0;
    for (size_t i = 0; i < n; i++) map[i] = keep[i] ? kept++ : -1;
    int rc = RAIIAF_OK;
    json_t *tensors = json_object_get(meta, "tensors");
    for (size_t i = 0; !rc && i < json_array_size(tensors); i++) rc = remap_ref(json_array_get(tensors, i), map, n, "a tensor", e);
    if (!rc && json_is_object(json_object_get(meta, "image"))) rc = remap_ref(json_object_get(meta, "image"), map, n, "the image", e);
    if (!rc && json_is_object(json_object_get(meta, "environment")))
        rc = remap_ref(json_object_get(meta, "environment"), map, n, "the environment record", e);
    char *tmp = NULL;
    int fd = -1;
    if (!rc) rc = rf_tmp_create(out_path, &tmp, &fd, e);
    /* The recipe flag follows the chunks that are kept (SPEC 4). */
    uint32_t flags = 0;
    for (size_t i = 0; i < n; i++) {
        const char *codec = json_string_value(json_object_get(json_array_get(chunks, i), "codec"));
        if (keep[i] && codec && !strcmp(codec, "recipe")) flags |= RF_FLAG_RECIPES;
    }
    json_t *tens = json_object_get(meta, "tensors");
    for (size_t i = 0; i < json_array_size(tens); i++)
        if (json_object_get(json_array_get(tens, i), "reference")) flags |= RF_FLAG_REFERENCES;
    unsigned char h[RF_HEADER_SIZE];
    rf_file_header(h, flags);
    uint64_t pos = 0;
    if (!rc) rc = rf_write_all(fd, h, sizeof h, tmp, e);
    pos = RF_HEADER_SIZE;
    for (size_t i = 0; !rc && i < n; i++) {
        if (!keep[i]) continue;
        json_t *rec = deep_copy(json_array_get(chunks, i));
        if (!rec || json_array_append_new(newchunks, rec)) {
            rc = rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
            break;
        }
        const unsigned char *src = data + src_off[i];
        unsigned char ch[RF_CHUNK_HEADER_SIZE];
        memcpy(ch, src, sizeof ch);
        uint64_t stored = rf_le64(src + 16);
        rf_put32(ch + 8, (uint32_t)map[i]);
        const char *rt = json_string_value(json_object_get(rec, "type"));
        if (rt && strlen(rt) == 4) memcpy(ch, rt, 4); /* recover may retype a chunk (RTNS) */
        rf_put32(ch + 60, rf_crc32c(0, ch, 60));
        if (json_object_set_new(rec, "index", json_integer(map[i])) || json_object_set_new(rec, "offset", json_integer((json_int_t)pos))) {
            rc = rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
            break;
        }
        rc = rf_write_all(fd, ch, sizeof ch, tmp, e);
        if (!rc) rc = rf_write_all(fd, src + RF_CHUNK_HEADER_SIZE, (size_t)stored, tmp, e);
        uint64_t end = pos + RF_CHUNK_HEADER_SIZE + stored;
        if (!rc && rf_align_up(end) > end) rc = rf_write_all(fd, zeros64, (size_t)(rf_align_up(end) - end), tmp, e);
        pos = rf_align_up(end);
    }
    unsigned char *payload = NULL;
    size_t stored = 0, raw = 0;
    char sha[65];
    if (!rc) {
        json_t *fi = json_object_get(meta, "file_info");
        if (!json_is_object(fi) || json_object_set(meta, "chunks", newchunks) ||
            json_object_set_new(fi, "chunk_count", json_integer(kept)) || json_object_set_new(fi, "manifest_version", json_integer(1)) ||
            json_object_set_new(fi, "previous_manifest", json_null()) ||
            json_object_set_new(fi, "version_minor", json_integer(flags ? RF_MINOR_FLAGS : RF_MINOR_PLAIN)))
            rc = rf_fail(e, RAIIAF_E_CORRUPT, "manifest file_info is missing");
    }
    if (!rc) rc = validate_and_encode(manifest, &payload, &stored, &raw, sha, e);
    if (!rc) {
        unsigned char mh[RF_CHUNK_HEADER_SIZE], f[RF_FOOTER_SIZE];
        rf_chunk_header(mh, RF_TYPE_MANIFEST, RF_CODEC_ZSTD, (unsigned)kept, stored, raw, rf_crc32c(0, payload, stored));
        uint64_t moff = pos, end = pos + RF_CHUNK_HEADER_SIZE + stored;
        rc = rf_write_all(fd, mh, sizeof mh, tmp, e);
        if (!rc) rc = rf_write_all(fd, payload, stored, tmp, e);
        if (!rc && rf_align_up(end) > end) rc = rf_write_all(fd, zeros64, (size_t)(rf_align_up(end) - end), tmp, e);
        rf_footer(f, moff, 0, 1);
        if (!rc) rc = rf_write_all(fd, f, sizeof f, tmp, e);
        if (!rc) {
            rc = rf_commit(fd, tmp, out_path, e);
            fd = -1;
        }
    }
    free(payload);
    if (fd >= 0) close(fd);
    if (rc && tmp) unlink(tmp);
    free(tmp);
    free(map);
    json_decref(newchunks);
    return rc;
}

int raiiaf_compact(const char *path, const char *out, char *err, size_t err_size)
{
    if (!path) return RAIIAF_E_ARG;
    rf_err e = {0, ""};
    /* The file replaced is locked before the source is read (they are the
     * same file without `out`): an edit that got the lock first is then
     * part of what is compacted, and one that waits sees the new file. */
    int lock_fd = -1;
    int rc = rf_lock_file(out ? out : path, RF_LOCK_IF_EXISTS, &lock_fd, &e);
    if (rc) {
        if (err && err_size) snprintf(err, err_size, "%s", e.msg);
        return rc;
    }
    raiiaf_reader *r = NULL;
    rc = raiiaf_reader_open_file(path, 0, &r);
    if (!r) {
        rf_unlock_file(lock_fd);
        return RAIIAF_E_NOMEM;
    }
    if (!rc && r->f1) rc = rf_fail(&e, RAIIAF_E_VERSION, "%s: format 1 files have a single version (raiiaf convert makes format 2)", path);
    else if (rc) rf_fail(&e, rc, "%s", r->err.msg);
    uint64_t *off = NULL;
    unsigned char *keep = NULL;
    json_t *m = NULL;
    if (!rc) {
        off = malloc((r->nchunks + 1) * sizeof *off);
        keep = malloc(r->nchunks + 1);
        m = deep_copy(r->manifest);
        if (!off || !keep || !m) rc = rf_fail(&e, RAIIAF_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; !rc && i < r->nchunks; i++) {
        const unsigned char *p;
        rc = rf_check_chunk(r, i, &p);
        if (rc) rf_fail(&e, rc, "%s", r->err.msg);
        off[i] = r->chunks[i].offset;
        keep[i] = strcmp(r->chunks[i].type, "SIGN") != 0;
    }
    if (!rc) rc = rf_rewrite(r->data, m, off, keep, out ? out : path, &e);
    rf_unlock_file(lock_fd);
    json_decref(m);
    free(off);
    free(keep);
    raiiaf_reader_free(r);
    if (err && err_size) snprintf(err, err_size, "%s", e.msg);
    return rc;
}

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
    ed->manifest = deep_copy(ed->r->manifest);
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
    json_t *v = json_loads(json, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
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
    if (!rc) rc = validate_and_encode(ed->manifest, &payload, &stored, &raw, sha, &ed->err);
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
        if (!rc && rf_align_up(end) > end) rc = rf_write_all(fd, zeros64, (size_t)(rf_align_up(end) - end), path, &ed->err);
    }
    uint64_t moff = pos;
    if (!rc) {
        unsigned char mh[RF_CHUNK_HEADER_SIZE], f[RF_FOOTER_SIZE];
        rf_chunk_header(mh, RF_TYPE_MANIFEST, RF_CODEC_ZSTD, (unsigned)json_array_size(chunks), stored, raw, rf_crc32c(0, payload, stored));
        wrote = 1;
        rc = rf_write_all(fd, mh, sizeof mh, path, &ed->err);
        if (!rc) rc = rf_write_all(fd, payload, stored, path, &ed->err);
        uint64_t end = moff + RF_CHUNK_HEADER_SIZE + stored;
        if (!rc && rf_align_up(end) > end) rc = rf_write_all(fd, zeros64, (size_t)(rf_align_up(end) - end), path, &ed->err);
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
