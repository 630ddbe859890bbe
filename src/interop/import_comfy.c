/*
 * import_comfy.c -- ComfyUI's API graph (the `prompt` text chunk, or the
 * "prompt" member of the JSON some savers put in EXIF): node id ->
 * {"class_type", "inputs"}, an input being a literal or a link
 * [node_id, output_slot].
 *
 * The walk: pick the sampler node (KSampler, KSamplerAdvanced,
 * SamplerCustom, SamplerCustomAdvanced and look-alikes: any node with a
 * seed/noise_seed or steps input and a positive/guider input), preferring
 * one whose latent comes from an empty latent (the base pass rather than a
 * hires pass).  From it: positive/negative links to the text encoders'
 * text (through conditioning combiners and primitive nodes), the model
 * link to the checkpoint loader (through LoRA loaders, collecting
 * lora_name/strength_model), the encoders' clip link to CLIPSetLastLayer
 * (clip skip), the latent link to the size.  Every walk is bounded in depth
 * so hostile graphs with cycles terminate.
 */
#include "interop.h"
#include "../jsonnum.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 24

static json_t *link_target(json_t *g, json_t *v)
{
    if (!json_is_array(v) || json_array_size(v) != 2) return NULL;
    json_t *id = json_array_get(v, 0);
    char key[64];
    if (json_is_string(id)) return json_object_get(g, json_string_value(id));
    if (json_is_integer(id)) {
        snprintf(key, sizeof key, "%lld", (long long)json_integer_value(id));
        return json_object_get(g, key);
    }
    return NULL;
}

static json_t *inputs(json_t *node) { return json_object_get(node, "inputs"); }
static const char *cls(json_t *node)
{
    const char *c = json_string_value(json_object_get(node, "class_type"));
    return c ? c : "";
}

/* The value of input `key` of `node`, looking through the sampler-helper
 * nodes SamplerCustomAdvanced links to (guider, sampler, sigmas, noise). */
static json_t *sampler_input(json_t *g, json_t *node, const char *key, int depth)
{
    json_t *in = inputs(node);
    json_t *v = json_object_get(in, key);
    if (v) return v;
    if (depth > 3) return NULL;
    static const char *const via[] = {"guider", "sampler", "sigmas", "noise"};
    for (size_t k = 0; k < sizeof via / sizeof via[0]; k++) {
        json_t *t = link_target(g, json_object_get(in, via[k]));
        if (t && t != node && (v = sampler_input(g, t, key, depth + 1))) return v;
    }
    return NULL;
}

/* A literal number (a wide one too: seeds up to 2^64-1, jsonnum.h), or a
 * link to a primitive node holding one: the value itself, exact. */
static json_t *resolve_numv(json_t *g, json_t *v, int depth)
{
    if (rf_json_is_num(v)) return v;
    if (depth > MAX_DEPTH) return NULL;
    json_t *t = link_target(g, v);
    if (!t) return NULL;
    static const char *const keys[] = {"value", "seed", "noise_seed", "int", "float", "number", "Value"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        json_t *x = json_object_get(inputs(t), keys[k]);
        json_t *n = x ? resolve_numv(g, x, depth + 1) : NULL;
        if (n) return n;
    }
    return NULL;
}

/* The same as a double (not for seeds: doubles hold integers only to 2^53). */
static int resolve_num(json_t *g, json_t *v, double *out, int depth)
{
    json_t *n = resolve_numv(g, v, depth);
    if (!json_is_number(n)) return -1;
    *out = json_number_value(n);
    return 0;
}

static const char *resolve_str(json_t *g, json_t *v, int depth)
{
    if (rf_json_is_text(v)) return json_string_value(v);
    if (depth > MAX_DEPTH) return NULL;
    json_t *t = link_target(g, v);
    if (!t) return NULL;
    static const char *const keys[] = {"text", "string", "value", "text_g", "prompt", "String", "Text"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        const char *s = resolve_str(g, json_object_get(inputs(t), keys[k]), depth + 1);
        if (s) return s;
    }
    return NULL;
}

/* The prompt text behind a conditioning link: the encoder's text, looking
 * through combiners, ControlNet appliers and similar pass-through nodes. */
static json_t *text_node(json_t *g, json_t *link, const char **text, int depth)
{
    if (depth > MAX_DEPTH) return NULL;
    json_t *t = link_target(g, link);
    if (!t) return NULL;
    json_t *in = inputs(t);
    static const char *const tkeys[] = {"text", "text_g", "prompt", "positive", "text_positive"};
    for (size_t k = 0; k < sizeof tkeys / sizeof tkeys[0]; k++) {
        json_t *x = json_object_get(in, tkeys[k]);
        const char *s = resolve_str(g, x, 0);
        if (s) {
            *text = s;
            return t;
        }
    }
    static const char *const pass[] = {"conditioning", "conditioning_to", "conditioning_1", "conditioning_from",
                                       "positive", "base_cond"};
    for (size_t k = 0; k < sizeof pass / sizeof pass[0]; k++) {
        json_t *r = text_node(g, json_object_get(in, pass[k]), text, depth + 1);
        if (r) return r;
    }
    return NULL;
}

static int is_sampler(json_t *node)
{
    json_t *in = inputs(node);
    if (!json_is_object(in)) return 0;
    const char *c = cls(node);
    if (!strcmp(c, "KSampler") || !strcmp(c, "KSamplerAdvanced") || !strcmp(c, "SamplerCustom") ||
        !strcmp(c, "SamplerCustomAdvanced"))
        return 1;
    int seedish = json_object_get(in, "seed") || json_object_get(in, "noise_seed") || json_object_get(in, "noise");
    int condish = json_object_get(in, "positive") || json_object_get(in, "guider");
    return seedish && condish && (json_object_get(in, "steps") || json_object_get(in, "sigmas"));
}

static int from_empty_latent(json_t *g, json_t *node)
{
    json_t *t = link_target(g, json_object_get(inputs(node), "latent_image"));
    return t && strstr(cls(t), "Empty") != NULL;
}

static void walk_model(json_t *g, json_t *link, import_result *r)
{
    for (int depth = 0; depth < MAX_DEPTH; depth++) {
        json_t *t = link_target(g, link);
        if (!t) return;
        json_t *in = inputs(t);
        static const char *const names[] = {"ckpt_name", "unet_name", "model_name", "base_ckpt_name"};
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
            const char *s = resolve_str(g, json_object_get(in, names[k]), 0);
            if (s && strstr(cls(t), "Lora") == NULL) {
                imp_set_model(r, s);
                return;
            }
        }
        const char *lora = resolve_str(g, json_object_get(in, "lora_name"), 0);
        if (lora) {
            double w = 0;
            int has = !resolve_num(g, json_object_get(in, "strength_model"), &w, 0);
            char *base = strdup(lora);
            if (base) {
                char *dot = strrchr(base, '.');
                if (dot && (!strcmp(dot, ".safetensors") || !strcmp(dot, ".pt") || !strcmp(dot, ".ckpt"))) *dot = '\0';
                imp_add_adapter(r, base, "lora", has, w, NULL);
            }
            free(base);
        }
        link = json_object_get(in, "model");
        if (!link) return;
    }
}

static void walk_clip(json_t *g, json_t *link, import_result *r)
{
    for (int depth = 0; depth < MAX_DEPTH; depth++) {
        json_t *t = link_target(g, link);
        if (!t) return;
        double v;
        if (!resolve_num(g, json_object_get(inputs(t), "stop_at_clip_layer"), &v, 0)) {
            if (v < 0 && v >= -64 && v == floor(v)) imp_set_gs_int(r, "clip_skip", (long long)-v, 1, "stop_at_clip_layer");
            return;
        }
        link = json_object_get(inputs(t), "clip");
        if (!link) return;
    }
}

int import_comfy(json_t *g, import_result *r)
{
    if (!json_is_object(g)) return 0;
    json_t *sampler = NULL, *first = NULL;
    const char *id;
    json_t *node;
    json_object_foreach(g, id, node)
    {
        if (!is_sampler(node)) continue;
        if (!first) first = node;
        if (!sampler && from_empty_latent(g, node)) sampler = node;
    }
    if (!sampler) sampler = first;
    if (!sampler) return 0;
    r->tool = "ComfyUI";
    double v;
    json_t *x;
    if ((x = sampler_input(g, sampler, "seed", 0)) || (x = sampler_input(g, sampler, "noise_seed", 0))) {
        imp_set_gs_int_json(r, "seed", resolve_numv(g, x, 0), 0, "seed");
    }
    if ((x = sampler_input(g, sampler, "steps", 0)) && !resolve_num(g, x, &v, 0) && v == floor(v) && fabs(v) < 1e9)
        imp_set_gs_int(r, "steps", (long long)v, 1, "steps");
    if ((x = sampler_input(g, sampler, "cfg", 0)) && !resolve_num(g, x, &v, 0))
        imp_set_gs_num(r, "cfg_scale", v, 0, INFINITY, "cfg");
    imp_set_gs_str(r, "sampler", resolve_str(g, sampler_input(g, sampler, "sampler_name", 0), 0));
    imp_set_gs_str(r, "scheduler", resolve_str(g, sampler_input(g, sampler, "scheduler", 0), 0));
    if ((x = sampler_input(g, sampler, "denoise", 0)) && !resolve_num(g, x, &v, 0) && v != 1.0)
        imp_set_gs_num(r, "denoising_strength", v, 0, 1, "denoise");

    json_t *pos = sampler_input(g, sampler, "positive", 0);
    if (!pos) pos = sampler_input(g, sampler, "conditioning", 0);
    const char *text = NULL;
    json_t *enc = text_node(g, pos, &text, 0);
    if (text) imp_set_str(r, "prompt", text);
    if (enc) walk_clip(g, json_object_get(inputs(enc), "clip"), r);
    text = NULL;
    text_node(g, sampler_input(g, sampler, "negative", 0), &text, 0);
    if (text) imp_set_str(r, "negative_prompt", text);
    walk_model(g, sampler_input(g, sampler, "model", 0), r);

    json_t *lat = link_target(g, json_object_get(inputs(sampler), "latent_image"));
    for (int d = 0; lat && d < 4; d++) {
        json_t *in = inputs(lat);
        if (!resolve_num(g, json_object_get(in, "width"), &v, 0) && v >= 1 && v == floor(v) && v < 1e9) {
            double h;
            if (!resolve_num(g, json_object_get(in, "height"), &h, 0) && h >= 1 && h == floor(h) && h < 1e9) {
                imp_set_gs_int(r, "width", (long long)v, 1, "width");
                imp_set_gs_int(r, "height", (long long)h, 1, "height");
            }
            break;
        }
        lat = link_target(g, json_object_get(in, "samples"));
    }
    return 1;
}
