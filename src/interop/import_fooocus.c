/*
 * import_fooocus.c -- Fooocus and RuinedFooocus records.
 *
 * Fooocus (modules/meta_parser.py) writes PNG `parameters` in one of two
 * schemes, named by the `fooocus_scheme` text chunk beside it:
 *   "fooocus": sorted JSON: prompt, negative_prompt, full_prompt (a list),
 *              steps, resolution "(W, H)", guidance_scale, sampler,
 *              scheduler, seed (a STRING, often above 2^53), base_model,
 *              base_model_hash (full SHA-256), loras [[name, weight, hash]],
 *              lora_combined_N "name : weight", clip_skip, vae, version
 *              "Fooocus v2.5.5", ...
 *   "a1111":   A1111-style text (import_a1111.c reads it; the tool is told
 *              by `Version: Fooocus v...`), its user prompt in `Raw prompt`.
 * RuinedFooocus writes JSON with capitalised Prompt/Negative and
 * "software": "RuinedFooocus".
 */
#include "interop.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void lora(import_result *r, const char *name, json_t *wv, const char *hash)
{
    double w = 1;
    int has = !imp_jnum(wv, &w);
    imp_add_adapter(r, name, "lora", has, w, hash);
}

int import_fooocus(json_t *p, import_result *r)
{
    if (!json_is_object(p)) return 0;
    const char *sw = imp_jstr(p, "software");
    const char *ver = imp_jstr(p, "version");
    int ruined = json_object_get(p, "Prompt") &&
                 (json_object_get(p, "Negative") || json_object_get(p, "base_model_name") || (sw && strstr(sw, "Ruined")));
    int plain = json_object_get(p, "prompt") &&
                (json_object_get(p, "base_model") || json_object_get(p, "guidance_scale") ||
                 (ver && !strncmp(ver, "Fooocus", 7)));
    if (!ruined && !plain) return 0;
    r->tool = sw ? (strstr(sw, "Ruined") ? "RuinedFooocus" : "Fooocus")
                 : ruined || (ver && strstr(ver, "Ruined")) ? "RuinedFooocus" : "Fooocus";
    imp_set_str(r, "prompt", ruined ? imp_jstr(p, "Prompt") : imp_jstr(p, "prompt"));
    imp_set_str(r, "negative_prompt", ruined ? imp_jstr(p, "Negative") : imp_jstr(p, "negative_prompt"));
    json_t *sv = json_object_get(p, "seed");
    if (sv && imp_set_gs_int_json(r, "seed", sv, 0, "seed") && !json_is_null(sv)) imp_unmapped(r, "seed", json_incref(sv));
    imp_gs_int(r, p, "steps", "steps", 1);
    imp_gs_num(r, p, ruined ? "cfg" : "guidance_scale", "cfg_scale", 0, INFINITY);
    imp_set_gs_str(r, "sampler", ruined ? imp_jstr(p, "sampler_name") : imp_jstr(p, "sampler"));
    imp_set_gs_str(r, "scheduler", imp_jstr(p, "scheduler"));
    imp_gs_int(r, p, "width", "width", 1);
    imp_gs_int(r, p, "height", "height", 1);
    imp_set_size(r, imp_jstr(p, "resolution"), "resolution"); /* Fooocus: "(1024, 1024)" */
    imp_gs_int(r, p, "clip_skip", "clip_skip", 1);
    imp_gs_num(r, p, "denoise", "denoising_strength", 0, 1);
    imp_set_model(r, ruined ? imp_jstr(p, "base_model_name") : imp_jstr(p, "base_model"));
    imp_set_model_hash(r, imp_jstr(p, "base_model_hash"));
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(p, "loras"), i, l)
    {
        /* [name, weight, hash] lists or {"name", "weight"} objects */
        if (json_is_array(l))
            lora(r, json_string_value(json_array_get(l, 0)), json_array_get(l, 1), json_string_value(json_array_get(l, 2)));
        else lora(r, imp_jstr(l, "name"), json_object_get(l, "weight"), imp_jstr(l, "hash"));
    }
    if (!json_array_size(json_object_get(p, "loras"))) {
        /* older Fooocus: lora_combined_1 .. _5 as "name : weight" */
        for (int n = 1; n <= 32; n++) {
            char key[32];
            snprintf(key, sizeof key, "lora_combined_%d", n);
            const char *c = imp_jstr(p, key);
            if (!c) continue;
            const char *sep = strstr(c, " : ");
            char *name = strndup(c, sep ? (size_t)(sep - c) : strlen(c));
            json_t *w = sep ? json_string(sep + 3) : NULL;
            lora(r, name, w, NULL);
            json_decref(w);
            free(name);
        }
    }
    if (imp_jstr(p, "vae")) json_object_set_new(r->ext, "vae", json_string(imp_jstr(p, "vae")));
    static const char *const keep[] = {"styles", "performance", "sharpness", "adm_guidance", "refiner_model",
                                       "refiner_switch", "metadata_scheme", "full_prompt", "full_negative_prompt"};
    for (size_t k = 0; k < sizeof keep / sizeof keep[0]; k++) {
        json_t *x = json_object_get(p, keep[k]);
        if (x && !json_is_null(x)) imp_unmapped(r, keep[k], json_incref(x));
    }
    if (ver) json_object_set_new(r->ext, "tool_version", json_string(ver));
    return 1;
}
