/* convert.c -- raiiaf_convert: rewrite a file in format 2 or format 1.
 *
 * Format 1 -> 2 carries every latent (bit for bit, dtype kept), the image
 * (byte for byte), the generation record and the environment record, and
 * keeps the original manifest and ENVC JSON verbatim in
 * /raiiaf_metadata/extensions/org.raiiaf.format1/{manifest,env}, so the
 * conversion loses no information and can be undone: converting that
 * format 2 file back to format 1 takes model_info, the date, each
 * latent's compression and the ENVC text from the verbatim copies.
 *
 * Everything goes through the public reader and writer: this is the same
 * path any program would take, and the writer's checks (schema, image
 * validation, format 1's limits) apply to the result. */
#include "interop.h"
#include "../jsonnum.h"
#include "../format1.h"
#include "../internal.h"
#include "../owned.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F1_EXT "org.raiiaf.format1"

/* A minimal format 2 manifest that satisfies the schema, to test one
 * model_info value at a time with raiiaf_validate_manifest(). */
static int probe(json_t *model_info, char *msg, size_t msg_size)
{
    json_t *m = json_pack("{s:{s:{s:s,s:i,s:i,s:s,s:s,s:i},s:O,s:[],s:[]}}", "raiiaf_metadata", "file_info", "magic", "raiiaf",
                          "version_major", 2, "version_minor", 0, "created", "2000-01-01T00:00:00Z", "writer", "raiiaf convert",
                          "chunk_count", 0, "model_info", model_info, "tensors", "chunks");
    if (!m) return RAIIAF_E_NOMEM;
    char *t = raiiaf_json_dumps(m, JSON_COMPACT);
    json_decref(m);
    if (!t && rf_json_has_invalid_text(model_info)) {
        /* a lone surrogate of Python's (jsonnum.h): no JSON text of format 2 holds it */
        snprintf(msg, msg_size, "a string with a lone surrogate, which is not Unicode text");
        return RAIIAF_E_JSON;
    }
    if (!t) return RAIIAF_E_NOMEM;
    int rc = raiiaf_validate_manifest(t, strlen(t), msg, msg_size);
    free(t);
    return rc;
}

/* Where notes go: the caller's function, with the input's path in front. */
typedef struct notes {
    raiiaf_note_fn fn;
    void *ctx;
    const char *in;
} notes;

static void say(const notes *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const notes *n, const char *fmt, ...)
{
    if (!n->fn) return;
    char msg[768];
    int k = snprintf(msg, sizeof msg, "%s: ", n->in);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + k, sizeof msg - (size_t)k, fmt, ap);
    va_end(ap);
    n->fn(n->ctx, msg);
}

static void note_dropped(const notes *n, const char *path, json_t *v, const char *why)
{
    size_t tl;
    char *t = raiiaf_json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!t) t = rf_py_json_dumps(v, &tl); /* as the format 1 text has it: "\ud800" */
    say(n, "model_info%s = %.200s is not valid in format 2 (%s); kept only in /raiiaf_metadata/extensions/" F1_EXT "/manifest",
        path, t ? t : "?", why);
    free(t);
}

/* Maps a format 1 model_info to format 2: every value the format 2 schema
 * accepts, sub-key by sub-key inside generation_settings and
 * hardware_info.  Returns a new object. */
static json_t *map_model_info(json_t *src, const notes *n)
{
    json_t *out = json_object(), *empty = json_object();
    char msg[512];
    if (!out || !empty) return out;
    int skeleton_ok = probe(empty, msg, sizeof msg) == RAIIAF_OK;
    json_decref(empty);
    const char *k;
    json_t *v;
    json_object_foreach(src, k, v) {
        json_t *one = json_pack("{s:O}", k, v);
        int ok = !skeleton_ok || probe(one, msg, sizeof msg) == RAIIAF_OK;
        json_decref(one);
        if (ok) {
            json_object_set(out, k, v);
            continue;
        }
        char path[300];
        snprintf(path, sizeof path, "/%s", k);
        if (!json_is_object(v) || (strcmp(k, "generation_settings") && strcmp(k, "hardware_info"))) {
            note_dropped(n, path, v, msg);
            continue;
        }
        /* Keep what is valid of the object, key by key. */
        json_t *obj = json_object();
        json_t *os = json_object_get(v, "os");
        int is_hw = !strcmp(k, "hardware_info");
        const char *k2;
        json_t *v2;
        json_object_foreach(v, k2, v2) {
            json_t *trial = json_object();
            if (is_hw && strcmp(k2, "os")) json_object_set_new(trial, "os", json_string(json_is_string(os) ? json_string_value(os) : "unknown"));
            json_object_set(trial, k2, v2);
            json_t *wrap = json_pack("{s:o}", k, trial);
            if (probe(wrap, msg, sizeof msg) == RAIIAF_OK) {
                json_object_set(obj, k2, v2);
            } else {
                snprintf(path, sizeof path, "/%s/%s", k, k2);
                note_dropped(n, path, v2, msg);
            }
            json_decref(wrap);
        }
        json_t *wrap = json_pack("{s:O}", k, obj);
        if (probe(wrap, msg, sizeof msg) == RAIIAF_OK) {
            json_object_set(out, k, obj);
        } else {
            snprintf(path, sizeof path, "/%s", k);
            note_dropped(n, path, obj, msg);
        }
        json_decref(wrap);
        json_decref(obj);
    }
    return out;
}

static int set_model_info(raiiaf_writer *w, json_t *mi, unsigned format)
{
    json_t *m = json_pack("{s:{s:O}}", "raiiaf_metadata", "model_info", mi);
    size_t tl;
    /* format 1 output takes Python's JSON (NaN, lone surrogates): writer.c */
    char *t = !m ? NULL : format == 1 ? rf_py_json_dumps(m, &tl) : raiiaf_json_dumps(m, JSON_COMPACT);
    json_decref(m);
    if (!t) return RAIIAF_E_NOMEM;
    int rc = raiiaf_writer_merge_json(w, t);
    free(t);
    return rc;
}

/* The codec for latent `name` in format 1 output: what the original file
 * used when the verbatim format 1 manifest is known, else AUTO. */
static raiiaf_codec f1_codec_for(json_t *f1_manifest, const char *name)
{
    json_t *chunks = json_object_get(json_object_get(f1_manifest, "raiiaf_metadata"), "chunks");
    size_t i;
    json_t *c;
    json_array_foreach(chunks, i, c) {
        json_t *key = json_object_get(json_object_get(c, "extra"), "key");
        if (json_is_string(key) && !strcmp(json_string_value(key), name))
            return json_is_true(json_object_get(c, "compressed")) ? RAIIAF_CODEC_ZFP : RAIIAF_CODEC_RAW;
    }
    return RAIIAF_CODEC_AUTO;
}

/* Everything of a format 2 source's metadata that the writer does not own
 * (extensions, ...). */
static int carry_unowned(raiiaf_writer *w, json_t *meta)
{
    json_t *rest = json_deep_copy(meta);
    for (size_t k = 0; rest && k < RF_OWNED_COUNT; k++) json_object_del(rest, rf_owned_members[k]);
    if (rest) json_object_del(rest, "model_info"); /* carried on its own, mapped */
    json_t *wrap = rest ? json_pack("{s:o}", "raiiaf_metadata", rest) : NULL;
    char *t = wrap ? raiiaf_json_dumps(wrap, JSON_COMPACT) : NULL;
    json_decref(wrap);
    int rc = t ? raiiaf_writer_merge_json(w, t) : RAIIAF_E_NOMEM;
    free(t);
    return rc;
}

/* The extra fields of a format 1 manifest's image (DATA) record, the
 * package's extra_image: an object, or NULL when none. */
static json_t *f1_image_extra(json_t *f1_manifest)
{
    json_t *chunks = json_object_get(json_object_get(f1_manifest, "raiiaf_metadata"), "chunks");
    size_t i;
    json_t *c;
    json_array_foreach(chunks, i, c) {
        json_t *t = json_object_get(c, "type"), *x = json_object_get(c, "extra");
        if (json_is_string(t) && !strcmp(json_string_value(t), "DATA") && json_is_object(x) && json_object_size(x)) return x;
    }
    return NULL;
}

/* The verbatim format 1 manifest and ENVC text, for a lossless way back;
 * the image record's extra fields also as an object, which format 1 output
 * writes back into that record (format1_write.c). */
static int keep_format1(raiiaf_writer *w, const char *f1_text, size_t f1_len, const char *env_text, size_t env_len,
                        json_t *f1_manifest)
{
    json_t *keep = json_pack("{s:s%}", "manifest", f1_text, f1_len);
    if (keep && env_text) json_object_set_new(keep, "env", json_stringn(env_text, env_len));
    json_t *ie = f1_image_extra(f1_manifest);
    if (keep && ie) json_object_set(keep, "image_extra", ie);
    char *t = keep ? raiiaf_json_dumps(keep, JSON_COMPACT) : NULL;
    json_decref(keep);
    int rc = t ? raiiaf_writer_set_json(w, "/raiiaf_metadata/extensions/" F1_EXT, t) : RAIIAF_E_NOMEM;
    free(t);
    return rc;
}

/* The image, byte for byte.  Format 1 stored any bytes; format 2's image
 * chunk takes PNG, JPEG or WebP only, so other bytes are kept as a chunk
 * of type F1DA. */
static int carry_image(raiiaf_reader *r, raiiaf_writer *w, unsigned format, const notes *n, int *has_image, rf_err *e)
{
    const void *img;
    size_t isize;
    int rc = raiiaf_reader_image(r, &img, &isize, NULL, NULL, NULL);
    if (rc == RAIIAF_E_NOT_FOUND) return RAIIAF_OK;
    if (rc) return rf_fail(e, rc, "%s: %s", n->in, raiiaf_reader_errmsg(r));
    rc = raiiaf_writer_add_image(w, img, isize);
    if (rc == RAIIAF_E_IMAGE && format == 2) {
        say(n, "the image is not a PNG, JPEG or WebP (%s); kept as a chunk of type F1DA", raiiaf_writer_errmsg(w));
        rc = raiiaf_writer_add_chunk(w, "F1DA", img, isize);
    }
    if (rc) return rf_fail(e, rc, "%s: image: %s", n->in, raiiaf_writer_errmsg(w));
    *has_image = 1;
    return RAIIAF_OK;
}

/* Every tensor, decoded with all checks and coded again. */
static int carry_tensors(raiiaf_reader *r, raiiaf_writer *w, const char *out, unsigned format, int codec, json_t *f1m,
                         const notes *n, rf_err *e)
{
    size_t count = raiiaf_reader_tensor_count(r);
    for (size_t i = 0; i < count; i++) {
        raiiaf_tensor_info t;
        int rc = raiiaf_reader_tensor_info(r, i, &t);
        if (rc) return rf_fail(e, rc, "%s: %s", n->in, raiiaf_reader_errmsg(r));
        void *buf = t.raw_size <= SIZE_MAX ? malloc(t.raw_size ? (size_t)t.raw_size : 1) : NULL;
        if (!buf)
            return rf_fail(e, RAIIAF_E_NOMEM, "%s: tensor \"%s\": out of memory for %llu bytes", n->in, t.name,
                           (unsigned long long)t.raw_size);
        if ((rc = raiiaf_reader_read_tensor(r, i, buf, (size_t)t.raw_size))) {
            free(buf);
            return rf_fail(e, rc, "%s: %s", n->in, raiiaf_reader_errmsg(r));
        }
        raiiaf_codec c = codec >= 0 ? (raiiaf_codec)codec : RAIIAF_CODEC_AUTO;
        if (codec < 0 && format == 1 && f1m) c = f1_codec_for(f1m, t.name);
        rc = raiiaf_writer_add_tensor(w, t.name, t.dtype, t.rank, t.shape, buf, (size_t)t.raw_size, c, 0);
        free(buf);
        if (rc) return rf_fail(e, rc, "%s: tensor \"%s\": %s", out, t.name, raiiaf_writer_errmsg(w));
    }
    return RAIIAF_OK;
}

/* Chunks of types the format does not interpret (written with
 * raiiaf_writer_add_chunk(): F1DA, XIMG, a newer writer's) are copied as
 * they are; signatures cover the old layout and are dropped, as compaction
 * does; format 1 has no place for any of them.  Each one not carried is
 * named in a note. */
static int carry_other_chunks(raiiaf_reader *r, raiiaf_writer *w, unsigned format, const notes *n, rf_err *e)
{
    size_t nc = raiiaf_reader_chunk_count(r);
    for (size_t i = 0; i < nc; i++) {
        raiiaf_chunk_info ci;
        int rc = raiiaf_reader_chunk_info(r, i, &ci);
        if (rc) return rf_fail(e, rc, "%s: %s", n->in, raiiaf_reader_errmsg(r));
        if (!strcmp(ci.type, "TENS") || !strcmp(ci.type, "IMAG") || !strcmp(ci.type, "ENVR")) continue;
        const void *data = NULL;
        size_t size = 0;
        const char *why = !strcmp(ci.type, "SIGN") ? "a signature covers the old layout"
                          : format == 1            ? "format 1 has no place for it"
                                                   : NULL;
        if (!why && (rc = raiiaf_reader_chunk_data(r, i, &data, &size))) {
            if (rc != RAIIAF_E_CODEC) return rf_fail(e, rc, "%s: %s", n->in, raiiaf_reader_errmsg(r)); /* damaged */
            why = raiiaf_reader_errmsg(r);
        }
        if (why) {
            say(n, "chunk %u of type %s is not carried over (%s)", ci.index, ci.type, why);
            continue;
        }
        if ((rc = raiiaf_writer_add_chunk(w, ci.type, data, size)))
            return rf_fail(e, rc, "%s: chunk %u (%s): %s", n->in, ci.index, ci.type, raiiaf_writer_errmsg(w));
    }
    return RAIIAF_OK;
}

int raiiaf_convert(const char *in, const char *out, unsigned format, int codec, raiiaf_note_fn note_fn, void *ctx,
                   size_t *tensors, int *has_image, char *err, size_t errsize)
{
    rf_err e = {0};
    notes n = {note_fn, ctx, in};
    raiiaf_reader *r = NULL;
    raiiaf_writer *w = NULL;
    json_t *src = NULL, *f1m = NULL, *mi = NULL;
    const char *f1_text = NULL, *env_text = NULL;
    size_t f1_len = 0, env_len = 0;
    int image = 0, rc;
    if (tensors) *tensors = 0;
    if (has_image) *has_image = 0;
    if (!in || !out || (format != 1 && format != 2) || codec > RAIIAF_CODEC_AUTO ||
        (codec >= 0 && raiiaf_codec_name((raiiaf_codec)codec) == NULL)) {
        rc = rf_fail(&e, RAIIAF_E_ARG, "raiiaf_convert: needs an input, an output, format 1 or 2 and a codec or -1");
        goto done;
    }
    if ((rc = raiiaf_reader_open_file(in, 0, &r))) {
        rf_fail(&e, rc, "%s: %s", in, r ? raiiaf_reader_errmsg(r) : "out of memory");
        goto done;
    }
    unsigned major, minor;
    raiiaf_reader_format(r, &major, &minor);
    size_t mlen;
    const char *mtext = raiiaf_reader_manifest(r, &mlen);
    src = rf_json_loadb(mtext, mlen, 0, major == 1 ? RF_JSON_PYTHON : RF_JSON_STRICT, NULL);
    json_t *ext = json_object_get(json_object_get(json_object_get(src, "raiiaf_metadata"), "extensions"), F1_EXT);
    if (major == 1) {
        f1_text = mtext;
        f1_len = mlen;
        rc = raiiaf_reader_env_json(r, &env_text, &env_len);
        if (rc && rc != RAIIAF_E_NOT_FOUND) {
            rf_fail(&e, rc, "%s: %s", in, raiiaf_reader_errmsg(r));
            goto done;
        }
        if (rc) env_text = NULL;
    } else {
        json_t *m = json_object_get(ext, "manifest"), *v = json_object_get(ext, "env");
        if (json_is_string(m)) f1_text = json_string_value(m), f1_len = json_string_length(m);
        if (json_is_string(v)) env_text = json_string_value(v), env_len = json_string_length(v);
    }
    if (f1_text && !(f1m = rf_json_loadb(f1_text, f1_len, 0, RF_JSON_PYTHON, NULL))) {
        rc = rf_fail(&e, RAIIAF_E_JSON, "%s: the format 1 manifest kept in the file is not valid JSON", in);
        goto done;
    }

    rc = raiiaf_writer_new(out, &w);
    if (!rc && format == 1) rc = raiiaf_writer_set_format(w, 1);
    if (rc) {
        rf_fail(&e, rc, "%s", w ? raiiaf_writer_errmsg(w) : "out of memory");
        goto done;
    }
    /* The generation record. */
    json_t *src_mi = json_object_get(json_object_get(f1m ? f1m : src, "raiiaf_metadata"), "model_info");
    if (json_is_object(src_mi)) {
        mi = format == 2 && major == 1 ? map_model_info(src_mi, &n) : json_incref(src_mi);
        if (!mi) rc = RAIIAF_E_NOMEM;
        else rc = set_model_info(w, mi, format);
        if (rc) {
            rf_fail(&e, rc, "%s: model_info: %s", in, mi ? raiiaf_writer_errmsg(w) : "out of memory");
            goto done;
        }
    }
    json_t *meta = json_object_get(src, "raiiaf_metadata");
    if (format == 2 && major == 2 && json_is_object(meta)) rc = carry_unowned(w, meta);
    else if (format == 2 && major == 1) rc = keep_format1(w, f1_text, f1_len, env_text, env_len, f1m);
    else if (format == 1 && env_text) rc = raiiaf_writer_set_format1_env(w, env_text, env_len);
    if (!rc && format == 1) { /* the image record's extra fields, back in place */
        json_t *ie = f1_image_extra(f1m);
        if (!ie) ie = json_object_get(ext, "image_extra");
        char *t = json_is_object(ie) ? rf_py_json_dumps(ie, &(size_t){0}) : NULL;
        if (json_is_object(ie) && !t) rc = RAIIAF_E_NOMEM;
        else if (t) rc = raiiaf_writer_set_json(w, "/raiiaf_metadata/extensions/" F1_EXT "/image_extra", t);
        free(t);
    }
    if (rc) {
        rf_fail(&e, rc, "%s: %s", in, raiiaf_writer_errmsg(w));
        goto done;
    }
    if ((rc = carry_image(r, w, format, &n, &image, &e)) || (rc = carry_tensors(r, w, out, format, codec, f1m, &n, &e)))
        goto done;
    if (major == 2 && (rc = carry_other_chunks(r, w, format, &n, &e))) goto done;
    if ((rc = raiiaf_writer_finish(w))) {
        rf_fail(&e, rc, "%s: %s", out, raiiaf_writer_errmsg(w));
        goto done;
    }
    if (tensors) *tensors = raiiaf_reader_tensor_count(r);
    if (has_image) *has_image = image;
done:
    if (rc) rf_msg(err, errsize, "%s", e.msg);
    else rf_msg(err, errsize, "%s", "");
    json_decref(mi);
    json_decref(f1m);
    json_decref(src);
    raiiaf_writer_free(w);
    raiiaf_reader_free(r);
    return rc;
}
