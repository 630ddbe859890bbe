/*
 * import_civitai.c -- Civitai's two records.
 *
 * Its on-site generator saves JPEGs whose EXIF UserComment is one JSON
 * object: the ComfyUI API graph it ran (node id -> {class_type, inputs};
 * the checkpoint and LoRA loaders named by AIR URNs, in nodes with ids
 * such as "resource-stack"), plus "extra": {"airs": [URN, ...]} and
 * "extraMetadata": "<JSON as a string: prompt, negativePrompt, cfgScale,
 * sampler, steps, seed, width, height, clipSkip, baseModel, resources,
 * transformations>".  The graph's values win (they are what ran);
 * extraMetadata fills what the graph lacks (upscale-only workflows).
 *
 * Its A1111-style text (the Civitai extension, the site's A1111 mode)
 * carries `Civitai resources: [{"type": "checkpoint"|"lora"|"embed",
 * "modelName", "modelVersionName", "modelVersionId", "weight"}, ...]`,
 * from which the model name and the LoRAs come when the text has none.
 */
#include "interop.h"

#include <math.h>
#include <string.h>

static const char *jstr(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static json_t *gs(import_result *r) { return json_object_get(r->model_info, "generation_settings"); }

static void fill_int(import_result *r, json_t *em, const char *k, const char *field, long long min)
{
    if (!json_object_get(gs(r), field)) imp_gs_int(r, em, k, field, min);
}

int import_civitai_json(json_t *j, import_result *r)
{
    if (!json_is_object(j)) return 0;
    json_t *emtext = json_object_get(j, "extraMetadata");
    json_t *airs = json_object_get(json_object_get(j, "extra"), "airs");
    if (!json_is_string(emtext) && !json_is_array(airs) && !json_object_get(j, "resource-stack")) return 0;
    /* The graph alone: the entries that are nodes. */
    json_t *graph = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v) if (json_is_string(json_object_get(v, "class_type"))) json_object_set(graph, k, v);
    int any = json_object_size(graph) && import_comfy(graph, r);
    json_decref(graph);
    json_t *em = json_is_string(emtext) ? json_loads(json_string_value(emtext), 0, NULL) : NULL;
    if (json_is_object(em)) {
        any = 1;
        if (!json_object_get(r->model_info, "prompt")) imp_set_str(r, "prompt", jstr(em, "prompt"));
        if (!json_object_get(r->model_info, "negative_prompt")) imp_set_str(r, "negative_prompt", jstr(em, "negativePrompt"));
        fill_int(r, em, "seed", "seed", 0);
        fill_int(r, em, "steps", "steps", 1);
        fill_int(r, em, "width", "width", 1);
        fill_int(r, em, "height", "height", 1);
        fill_int(r, em, "clipSkip", "clip_skip", 1);
        json_t *cfg = json_object_get(em, "cfgScale");
        if (!json_object_get(gs(r), "cfg_scale") && json_is_number(cfg))
            imp_set_gs_num(r, "cfg_scale", json_number_value(cfg), 0, INFINITY, "cfgScale");
        if (!json_object_get(gs(r), "sampler")) imp_set_gs_str(r, "sampler", jstr(em, "sampler"));
        if (jstr(em, "baseModel")) json_object_set_new(r->ext, "base_model", json_string(jstr(em, "baseModel")));
        json_t *res = json_object_get(em, "resources");
        if (res) json_object_set(r->ext, "civitai_resources", res);
    }
    json_decref(em);
    if (!any) return 0;
    if (json_is_array(airs)) json_object_set(r->ext, "civitai_airs", airs);
    r->tool = "Civitai";
    imp_set_family(r, "ComfyUI");
    return 1;
}

static int has_adapter(import_result *r, const char *name)
{
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(r->model_info, "adapters"), i, a)
    {
        const char *n = jstr(a, "name");
        if (n && !strcmp(n, name)) return 1;
    }
    return 0;
}

void import_civitai_resources(import_result *r)
{
    json_t *un = json_object_get(r->ext, "unmapped");
    const char *text = jstr(un, "Civitai resources");
    if (!text && !json_object_get(un, "Civitai metadata")) return;
    r->tool = "Civitai";
    json_t *list = text ? json_loads(text, 0, NULL) : NULL;
    if (text && !json_is_array(list)) imp_note(r, "Civitai resources is not a JSON array; kept verbatim only");
    /* LoRAs from the list only when the text named none: the list names
     * models by their Civitai titles, the prompt by file names. */
    int had = json_array_size(json_object_get(r->model_info, "adapters")) > 0;
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        const char *type = jstr(e, "type"), *name = jstr(e, "modelName");
        if (!type || !name) continue;
        if (!strcmp(type, "checkpoint")) {
            if (!json_object_get(r->model_info, "model_name")) imp_set_str(r, "model_name", name);
        } else if (!had && (!strcmp(type, "lora") || !strcmp(type, "lycoris")) && !has_adapter(r, name)) {
            json_t *w = json_object_get(e, "weight");
            imp_add_adapter(r, name, "lora", json_is_number(w), json_number_value(w), NULL);
        }
    }
    json_decref(list);
}
