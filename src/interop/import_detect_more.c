/*
 * import_detect_more.c -- the sources import_detect (import_tools.c) does not
 * know, tried after it: Civitai's and NovelAI's JSON in EXIF UserComment,
 * InvokeAI's legacy `sd-metadata` and `Dream` chunks and its
 * `invokeai_graph`, and stealth PNG info records.  And the refinements
 * after it recognised a record: the exact tool and the family.
 */
#include "interop.h"
#include "../jsonnum.h"

#include <string.h>

/* A JSON text record that one of the JSON mappers takes. */
static int json_record(const meta_text *t, const meta_list *l, import_result *r)
{
    json_t *j = imp_json_object(t);
    if (!j) return 0;
    int ok = import_civitai_json(j, r) || import_novelai_exif(j, l, r);
    json_decref(j);
    return ok;
}

int import_detect_more(const meta_list *l, import_result *r)
{
    json_t *j;
    /* InvokeAI 2.x: sd-metadata is the richer of its two records. */
    if ((j = imp_json_object(meta_find(l, "sd-metadata")))) {
        int ok = import_invoke_sdmeta(j, r);
        json_decref(j);
        if (ok) {
            const meta_text *d = meta_find(l, "Dream");
            if (d) json_object_set_new(r->ext, "dream", json_string(d->text));
            return 1;
        }
    }
    const meta_text *dream = meta_find(l, "Dream");
    if (dream && import_invoke_dream(dream->text, r)) return 1;
    if ((j = imp_json_object(meta_find(l, "invokeai_graph")))) {
        int ok = import_invoke_graph(j, r);
        json_decref(j);
        if (ok) return 1;
    }
    for (size_t i = 0; i < l->count; i++) {
        const meta_text *t = &l->items[i];
        if (!strcmp(t->type, "exif-usercomment") && json_record(t, l, r)) return 1;
        if (!strncmp(t->type, "stealth-", 8)) {
            if (json_record(t, l, r)) {
                json_object_set_new(r->ext, "stealth", json_string(t->keyword));
                return 1;
            }
            if (import_a1111(t->text, r)) {
                import_refine(l, r);
                json_object_set_new(r->ext, "stealth", json_string(t->keyword));
                return 1;
            }
        }
    }
    return 0;
}

void import_refine(const meta_list *l, import_result *r)
{
    if (json_object_get(r->ext, "family")) return;
    const char *tool = r->tool ? r->tool : "";
    const char *family = import_family(tool);
    if (family && !strcmp(family, "AUTOMATIC1111")) { /* Forge, reForge, SD.Next, ... too */
        import_civitai_resources(r);
        imp_set_family(r, "AUTOMATIC1111");
    } else if (!strcmp(tool, "NovelAI")) {
        /* The legacy layout: the prompt only in Description. */
        const meta_text *d = meta_find(l, "Description");
        if (!json_object_get(r->model_info, "prompt") && d) imp_set_str(r, "prompt", d->text);
        imp_set_family(r, "NovelAI");
    } else if (!strcmp(tool, "InvokeAI")) {
        imp_set_family(r, "InvokeAI");
    } else if (!strcmp(tool, "ComfyUI")) {
        /* A graph whose checkpoint is an AIR URN ran on Civitai's generator
         * (its JSON without extraMetadata is a plain graph). */
        const char *m = json_string_value(json_object_get(r->model_info, "model_name"));
        if (m && !strncmp(m, "urn:air:", 8)) {
            r->tool = "Civitai";
            imp_set_family(r, "ComfyUI");
        }
    }
}
