/*
 * import.c -- raiiaf_import_*: an image with its generator's record ->
 * metadata for a writer.  The text records are collected (text_records.c),
 * the generator recognised and mapped (import_tools.c and the mappers it
 * calls), and the result kept as one JSON document the caller can read,
 * extend with tags and put into a writer.
 */
#include "interop.h"
#include "../jsonnum.h"
#include "../fileio.h"
#include "../internal.h"

#include <stdlib.h>
#include <string.h>

/* Images larger than this are refused before they are read: the largest
 * PNG/JPEG/WebP a generator writes is far smaller, and the whole file is
 * held in memory. */
#define IMPORT_MAX_IMAGE ((uint64_t)1 << 30)

struct raiiaf_import {
    rf_err err;
    unsigned char *image;
    size_t image_len;
    meta_list records;
    json_t *doc;    /* {"raiiaf_metadata": {"model_info": ..., "extensions": ...}} */
    json_t *notes;  /* array of strings */
    char *doc_text; /* doc as text, made on demand; freed when doc changes */
    const char *tool;
};

/* The record of our own export, if the image carries one: model_info and
 * extensions only; everything else the writer recomputes. */
static json_t *own_record(const meta_list *l)
{
    const meta_text *t = meta_find(l, "raiiaf");
    if (!t) return NULL;
    json_t *m = rf_json_loadb(t->text, t->len, JSON_REJECT_DUPLICATES, RF_JSON_STRICT, NULL);
    json_t *meta = json_object_get(m, "raiiaf_metadata");
    if (!json_is_object(meta)) {
        json_decref(m);
        return NULL;
    }
    json_t *mi = json_object_get(meta, "model_info"), *ext = json_object_get(meta, "extensions");
    json_t *om = json_object();
    json_object_set_new(om, "model_info", json_is_object(mi) ? json_incref(mi) : json_object());
    if (json_is_object(ext)) json_object_set(om, "extensions", ext);
    json_t *out = json_pack("{s:o}", "raiiaf_metadata", om);
    json_decref(m);
    return out;
}

static void note(raiiaf_import *imp, const char *text)
{
    json_array_append_new(imp->notes, json_string(text));
}

/* A PNG without a recognised text record may hide one in its pixels'
 * least significant bits (stealth_png.c): add it and map it. */
static int import_stealth(raiiaf_import *imp, import_result *ir)
{
    if (!imp->records.format || strcmp(imp->records.format, "png")) return 0;
    char msg[256];
    int found = stealth_collect(imp->image, imp->image_len, &imp->records, msg, sizeof msg);
    if (*msg) note(imp, msg);
    return found == 1 && import_detect_more(&imp->records, ir);
}

/* Maps the collected records: our own export restored whole, else the
 * generator's record with every text record kept verbatim. */
static int build_doc(raiiaf_import *imp)
{
    if ((imp->doc = own_record(&imp->records))) {
        imp->tool = "raiiaf";
        return RAIIAF_OK;
    }
    import_result ir;
    import_result_init(&ir);
    int known = import_detect(&imp->records, &ir);
    if (known) import_refine(&imp->records, &ir);
    else known = import_detect_more(&imp->records, &ir) || import_stealth(imp, &ir);
    c2pa_probe(imp->image, imp->image_len, &ir, !known); /* C2PA: recorded always, the tool when nothing else */
    known = known || ir.tool;
    imp->tool = ir.tool;
    if (!known) {
        char msg[256];
        snprintf(msg, sizeof msg, "no generator metadata recognised (%zu text record%s kept verbatim)",
                 imp->records.count, imp->records.count == 1 ? "" : "s");
        note(imp, msg);
    }
    if (ir.tool) json_object_set_new(ir.ext, "tool", json_string(ir.tool));
    if (ir.tool && !json_object_get(ir.ext, "family")) /* a mapper may know better (Civitai, C2PA) */
        json_object_set_new(ir.ext, "family", json_string(import_family(ir.tool)));
    json_object_set_new(ir.ext, "source_format", json_string(imp->records.format));
    json_object_set_new(ir.ext, "chunks", import_chunks_json(&imp->records));
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(ir.ext, "notes"), i, n) note(imp, json_string_value(n));
    imp->doc = json_pack("{s:{s:O,s:{s:O}}}", "raiiaf_metadata", "model_info", ir.model_info, "extensions",
                         "org.raiiaf.import", ir.ext);
    import_result_free(&ir);
    return imp->doc ? RAIIAF_OK : rf_fail(&imp->err, RAIIAF_E_NOMEM, "out of memory");
}

static int import_take(raiiaf_import *imp, unsigned char *data, size_t size)
{
    imp->image = data;
    imp->image_len = size;
    /* The image is checked as the writer will check it before anything is
     * said about its records: a note followed by a refusal told the user
     * about a file that was never written. */
    rf_image_desc d;
    int vrc = rf_image_validate(data, size, &d, &imp->err);
    if (vrc) return vrc;
    char msg[512] = "";
    int rc = meta_collect(data, size, &imp->records, msg, sizeof msg);
    if (rc) return rf_fail(&imp->err, rc, "%s", msg);
    if (*msg) note(imp, msg); /* a damaged record skipped; the image still imports */
    return build_doc(imp);
}

static raiiaf_import *import_new(void)
{
    raiiaf_import *imp = calloc(1, sizeof *imp);
    if (imp && !(imp->notes = json_array())) {
        free(imp);
        imp = NULL;
    }
    return imp;
}

int raiiaf_import_image(const void *data, size_t size, raiiaf_import **out)
{
    if (!out) return RAIIAF_E_ARG;
    raiiaf_import *imp = *out = import_new();
    if (!imp) return RAIIAF_E_NOMEM;
    if (!data && size) return rf_fail(&imp->err, RAIIAF_E_ARG, "raiiaf_import_image: no data");
    if ((uint64_t)size > IMPORT_MAX_IMAGE)
        return rf_fail(&imp->err, RAIIAF_E_LIMIT, "image of %zu bytes exceeds the 1 GiB import limit", size);
    unsigned char *copy = malloc(size ? size : 1);
    if (!copy) return rf_fail(&imp->err, RAIIAF_E_NOMEM, "out of memory for %zu bytes", size);
    if (size) memcpy(copy, data, size);
    return import_take(imp, copy, size);
}

int raiiaf_import_image_file(const char *path, raiiaf_import **out)
{
    if (!out) return RAIIAF_E_ARG;
    raiiaf_import *imp = *out = import_new();
    if (!imp) return RAIIAF_E_NOMEM;
    if (!path) return rf_fail(&imp->err, RAIIAF_E_ARG, "raiiaf_import_image_file: no path");
    unsigned char *data;
    size_t size;
    int rc = rf_read_file(path, IMPORT_MAX_IMAGE, &data, &size, &imp->err);
    if (rc) return rc;
    return import_take(imp, data, size);
}

void raiiaf_import_free(raiiaf_import *imp)
{
    if (!imp) return;
    free(imp->image);
    meta_list_free(&imp->records);
    json_decref(imp->doc);
    json_decref(imp->notes);
    free(imp->doc_text);
    free(imp);
}

const char *raiiaf_import_errmsg(const raiiaf_import *imp) { return imp ? imp->err.msg : ""; }

const char *raiiaf_import_tool(const raiiaf_import *imp) { return imp ? imp->tool : NULL; }

const char *raiiaf_import_format(const raiiaf_import *imp) { return imp ? imp->records.format : NULL; }

const char *raiiaf_import_metadata(raiiaf_import *imp, size_t *size)
{
    if (size) *size = 0;
    if (!imp || !imp->doc) return NULL;
    if (!imp->doc_text) imp->doc_text = raiiaf_json_dumps(imp->doc, JSON_COMPACT);
    if (imp->doc_text && size) *size = strlen(imp->doc_text);
    return imp->doc_text;
}

static json_t *model_info(const raiiaf_import *imp)
{
    return json_object_get(json_object_get(imp->doc, "raiiaf_metadata"), "model_info");
}

size_t raiiaf_import_field_count(const raiiaf_import *imp)
{
    if (!imp) return 0;
    json_t *mi = model_info(imp), *gs = json_object_get(mi, "generation_settings");
    return json_object_size(mi) + json_object_size(gs) - (gs ? 1 : 0);
}

size_t raiiaf_import_record_count(const raiiaf_import *imp) { return imp ? imp->records.count : 0; }

size_t raiiaf_import_note_count(const raiiaf_import *imp) { return imp ? json_array_size(imp->notes) : 0; }

const char *raiiaf_import_note(const raiiaf_import *imp, size_t index)
{
    return imp ? json_string_value(json_array_get(imp->notes, index)) : NULL;
}

int raiiaf_import_add_tag(raiiaf_import *imp, const char *tag)
{
    if (!imp) return RAIIAF_E_ARG;
    if (!imp->doc) return rf_fail(&imp->err, RAIIAF_E_STATE, "the import failed; nothing to tag");
    json_t *t = tag ? json_string(tag) : NULL;
    if (!t) return rf_fail(&imp->err, RAIIAF_E_ARG, "a tag must be a UTF-8 string");
    json_t *mi = model_info(imp), *tags = json_object_get(mi, "tags");
    if (!json_is_array(tags)) json_object_set_new(mi, "tags", tags = json_array());
    if (json_array_append_new(tags, t)) return rf_fail(&imp->err, RAIIAF_E_NOMEM, "out of memory");
    free(imp->doc_text);
    imp->doc_text = NULL;
    return RAIIAF_OK;
}

int raiiaf_import_to_writer(raiiaf_import *imp, raiiaf_writer *w)
{
    if (!imp || !w) return RAIIAF_E_ARG;
    if (!imp->doc) return rf_fail(&imp->err, RAIIAF_E_STATE, "the import failed; nothing to write");
    const char *text = raiiaf_import_metadata(imp, NULL);
    if (!text) return rf_fail(&imp->err, RAIIAF_E_NOMEM, "out of memory");
    int rc = raiiaf_writer_merge_json(w, text);
    /* import_take() validated these bytes whole (pixels included): the
     * writer checks their structure only, not the pixels a second time. */
    if (!rc) rc = rf_writer_add_checked_image(w, imp->image, imp->image_len);
    if (rc) rf_fail(&imp->err, rc, "%s", raiiaf_writer_errmsg(w));
    return rc;
}
