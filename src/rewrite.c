/* rewrite.c -- writing a whole new file from an existing one's chunks
 * (compaction, recovery): payload chunks copied verbatim, references
 * renumbered, one new manifest, atomically; and the manifest encoding that
 * edits share (schema check, the writer's number format, zstd planes). */
#include "reader_impl.h"
#include "fileio.h"
#include "jsondump.h"
#include "jsonutil.h"
#include "jsonnum.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The manifest's zstd level for rewrites and edits (the writer uses the same). */
#define EDIT_ZSTD_LEVEL 9

static int remap_ref(json_t *obj, const long *map, size_t n, const char *what, rf_err *e)
{
    json_t *c = json_object_get(obj, "chunk");
    if (!json_is_integer(c)) return RAIIAF_OK;
    json_int_t v = json_integer_value(c);
    if (v < 0 || (size_t)v >= n || map[v] < 0) return rf_fail(e, RAIIAF_E_CORRUPT, "%s refers to chunk %lld, which is not kept", what, (long long)v);
    if (json_object_set_new(obj, "chunk", json_integer(map[v]))) return rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
    return RAIIAF_OK;
}

int rf_manifest_encode(json_t *manifest, unsigned char **payload, size_t *stored, size_t *raw, char sha[65], rf_err *e)
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
    json_t *back = rf_json_loadb(text, len, JSON_REJECT_DUPLICATES, RF_JSON_STRICT, NULL);
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

const unsigned char rf_zeros64[64];

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
        json_t *rec = rf_json_copy(json_array_get(chunks, i));
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
        if (!rc && rf_align_up(end) > end) rc = rf_write_all(fd, rf_zeros64, (size_t)(rf_align_up(end) - end), tmp, e);
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
    if (!rc) rc = rf_manifest_encode(manifest, &payload, &stored, &raw, sha, e);
    if (!rc) {
        unsigned char mh[RF_CHUNK_HEADER_SIZE], f[RF_FOOTER_SIZE];
        rf_chunk_header(mh, RF_TYPE_MANIFEST, RF_CODEC_ZSTD, (unsigned)kept, stored, raw, rf_crc32c(0, payload, stored));
        uint64_t moff = pos, end = pos + RF_CHUNK_HEADER_SIZE + stored;
        rc = rf_write_all(fd, mh, sizeof mh, tmp, e);
        if (!rc) rc = rf_write_all(fd, payload, stored, tmp, e);
        if (!rc && rf_align_up(end) > end) rc = rf_write_all(fd, rf_zeros64, (size_t)(rf_align_up(end) - end), tmp, e);
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
        m = rf_json_copy(r->manifest);
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
