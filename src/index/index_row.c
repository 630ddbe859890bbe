/* index_row.c -- one file's row of the index, built from its header,
 * footer and manifest (RAIIAF_READ_NO_DIGEST never touches payloads).  The
 * one place that decides what a row holds: raiiaf_index_run() and
 * raiiaf_index_row_json() both come here. */
#include "index_impl.h"
#include "internal.h"
#include "reader_impl.h"
#include "raiiaf_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A string from the manifest, or null.  Format 1 manifests may hold \u0000
 * (Python's dialect): the text is cut there, as SQLite's C strings would. */
static json_t *text_or_null(const json_t *v)
{
    const char *s = json_string_value(v);
    return s && !raiiaf_json_wide_text(v) ? json_string(s) : json_null();
}

static json_t *u64_or_null(const json_t *v)
{
    uint64_t u;
    return raiiaf_json_uint64(v, &u) ? raiiaf_json_from_uint64(u) : json_null();
}

static json_t *tensors_of(raiiaf_reader *r)
{
    json_t *a = json_array();
    for (size_t k = 0; a && k < raiiaf_reader_tensor_count(r); k++) {
        raiiaf_tensor_info ti;
        if (raiiaf_reader_tensor_info(r, k, &ti)) continue;
        json_t *shape = json_array();
        for (unsigned d = 0; d < ti.rank; d++) json_array_append_new(shape, raiiaf_json_from_uint64(ti.shape[d]));
        const char *dt = raiiaf_dtype_name(ti.dtype), *cn = raiiaf_codec_name(ti.codec);
        json_t *t = json_object();
        json_object_set_new(t, "name", json_string(ti.name));
        json_object_set_new(t, "dtype", dt ? json_string(dt) : json_null());
        json_object_set_new(t, "shape", shape);
        json_object_set_new(t, "codec", cn ? json_string(cn) : json_null());
        json_object_set_new(t, "raw_size", raiiaf_json_from_uint64(ti.raw_size));
        json_object_set_new(t, "stored_size", raiiaf_json_from_uint64(ti.stored_size));
        json_array_append_new(a, t);
    }
    return a;
}

/* The row of an open reader. */
static json_t *row_of(raiiaf_reader *r, const char *path, long long size, long long mtime_ns)
{
    size_t mlen = 0;
    const char *text = raiiaf_reader_manifest(r, &mlen);
    /* The reader has parsed the manifest already (format 1 in Python's
     * dialect, wide numbers for seeds beyond 2^63): borrow its tree rather
     * than parse the text a second time per file. */
    json_t *m = r->manifest ? json_incref(r->manifest)
                            : text ? raiiaf_json_loadb(text, mlen, RAIIAF_JSON_PYTHON, NULL) : NULL;
    json_t *meta = json_object_get(m, "raiiaf_metadata");
    if (!meta) meta = m; /* format 1 manifests keep model_info at the top */
    json_t *mi = json_object_get(meta, "model_info");
    json_t *g = json_object_get(mi, "generation_settings");
    json_t *img = json_object_get(meta, "image");
    char digest[65] = "", fmt[24];
    rf_sha256_hex(text ? text : "", text ? mlen : 0, digest);
    unsigned major = 0, minor = 0;
    raiiaf_reader_format(r, &major, &minor);
    snprintf(fmt, sizeof fmt, "%u.%u", major, minor);
    json_t *o = json_object(), *v;
    if (!o) {
        json_decref(m);
        return NULL;
    }
    json_object_set_new(o, "path", json_string(path));
    json_object_set_new(o, "size", json_integer(size));
    json_object_set_new(o, "mtime_ns", json_integer(mtime_ns));
    json_object_set_new(o, "format", json_string(fmt));
    json_object_set_new(o, "model", text_or_null(json_object_get(mi, "model_name")));
    json_object_set_new(o, "model_hash", text_or_null(json_object_get(mi, "model_hash")));
    json_object_set_new(o, "prompt", text_or_null(json_object_get(mi, "prompt")));
    json_object_set_new(o, "negative_prompt", text_or_null(json_object_get(mi, "negative_prompt")));
    /* Seeds, steps and sizes are unsigned 64-bit (SPEC 5.1). */
    json_object_set_new(o, "seed", u64_or_null(json_object_get(g, "seed")));
    json_object_set_new(o, "steps", u64_or_null(json_object_get(g, "steps")));
    json_object_set_new(o, "sampler", text_or_null(json_object_get(g, "sampler")));
    json_object_set_new(o, "scheduler", text_or_null(json_object_get(g, "scheduler")));
    v = json_object_get(g, "cfg_scale");
    json_object_set_new(o, "cfg_scale", json_is_number(v) ? json_real(json_number_value(v)) : json_null());
    json_object_set_new(o, "width", u64_or_null(json_object_get(img, "width")));
    json_object_set_new(o, "height", u64_or_null(json_object_get(img, "height")));
    json_object_set_new(o, "image_format", text_or_null(json_object_get(img, "format")));
    json_object_set_new(o, "tool", text_or_null(json_object_get(
                                       json_object_get(json_object_get(meta, "extensions"), "org.raiiaf.import"), "tool")));
    json_object_set_new(o, "digest", json_string(digest));
    /* The newest signature's state (src/sign.c); a check that cannot run
     * (a damaged older version) counts as "invalid", as verify reports it. */
    raiiaf_signature_info si;
    static const char *const sig_names[] = {"none", "valid", "edited", "invalid"};
    int sfail = raiiaf_reader_signature(r, NULL, &si), sst = sfail ? RAIIAF_SIG_INVALID : (int)si.state;
    json_object_set_new(o, "signature", json_string(sig_names[sst >= 0 && sst <= 3 ? sst : 3]));
    json_object_set_new(o, "signature_key", !sfail && si.key_id[0] ? json_string(si.key_id) : json_null());
    /* file_info.created (SPEC 8.3); format 1 files and imports without it
     * fall back to the generation record's date. */
    v = json_object_get(json_object_get(meta, "file_info"), "created");
    if (!json_is_string(v)) v = json_object_get(mi, "date");
    json_object_set_new(o, "created", json_string_length(v) <= 64 ? text_or_null(v) : json_null());
    json_t *tags = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(mi, "tags"), i, t)
    {
        if (json_is_string(t) && !raiiaf_json_wide_text(t)) json_array_append_new(tags, json_string(json_string_value(t)));
    }
    json_object_set_new(o, "tags", tags);
    json_object_set_new(o, "tensors", tensors_of(r));
    json_decref(m);
    return o;
}

int rf_index_row_build(const char *path, long long size, long long mtime_ns, json_t **row, char *err, size_t errsize)
{
    *row = NULL;
    raiiaf_reader *r = NULL;
    int rc = raiiaf_reader_open_file(path, RAIIAF_READ_NO_DIGEST, &r);
    if (rc) {
        snprintf(err, errsize, "%s", r ? raiiaf_reader_errmsg(r) : "out of memory");
        raiiaf_reader_free(r);
        return rc;
    }
    *row = row_of(r, path, size, mtime_ns);
    raiiaf_reader_free(r);
    if (!*row) {
        snprintf(err, errsize, "%s: out of memory", path);
        return RAIIAF_E_NOMEM;
    }
    /* A value a store would refuse (a name over its bound) fails here, so
     * what row_json hands out is always accepted by put_row_json. */
    if ((rc = rf_index_row_check(*row, err, errsize))) {
        json_decref(*row);
        *row = NULL;
    }
    return rc;
}

int raiiaf_index_row_json(const char *path, char **json_out, size_t *len_out, char *err, size_t errsize)
{
    char dummy[1];
    if (!err || !errsize) {
        err = dummy;
        errsize = sizeof dummy;
    }
    err[0] = '\0';
    if (json_out) *json_out = NULL;
    if (len_out) *len_out = 0;
    if (!path || !json_out) {
        snprintf(err, errsize, "raiiaf_index_row_json: %s is NULL", path ? "json_out" : "path");
        return RAIIAF_E_ARG;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errsize, "%s: %s", path, strerror(errno));
        return RAIIAF_E_IO;
    }
    json_t *row = NULL;
    int rc = rf_index_row_build(path, (long long)st.st_size,
                                (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec, &row, err, errsize);
    if (rc) return rc;
    char *text = raiiaf_json_dumps(row, JSON_COMPACT);
    json_decref(row);
    if (!text) {
        snprintf(err, errsize, "%s: out of memory", path);
        return RAIIAF_E_NOMEM;
    }
    *json_out = text;
    if (len_out) *len_out = strlen(text);
    return RAIIAF_OK;
}
