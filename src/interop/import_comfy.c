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
    /* Only the first of these a node has is followed: trying each in turn
     * would make a hostile graph's walk exponential in its depth. */
    static const char *const keys[] = {"value", "seed", "noise_seed", "int", "float", "number", "Value"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        json_t *x = json_object_get(inputs(t), keys[k]);
        if (x) return resolve_numv(g, x, depth + 1);
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
        json_t *x = json_object_get(inputs(t), keys[k]);
        if (x) return resolve_str(g, x, depth + 1); /* the first present only, as above */
    }
    return NULL;
}

/* Inputs that carry conditioning, not text, when linked. */
static int is_conditioning_key(const char *k) { return !strcmp(k, "positive") || !strcmp(k, "negative"); }

static int is_sampler(json_t *node);
static int is_sampler_like(json_t *node) { return node && is_sampler(node); }

/* The prompt text behind a conditioning link: the encoder's text, looking
 * through combiners, ControlNet appliers and similar pass-through nodes.
 * `negative`: the link is the sampler's negative one, so a node holding
 * both prompts (the Efficiency nodes' loader, ControlNetApplyAdvanced) is
 * read on its negative side.  Only the first link input present is
 * followed, so the walk stays linear on any graph. */
static json_t *text_node(json_t *g, json_t *link, int negative, const char **text, int depth)
{
    if (depth > MAX_DEPTH) return NULL;
    json_t *t = link_target(g, link);
    if (!t) return NULL;
    json_t *in = inputs(t);
    static const char *const pos_keys[] = {"text", "text_g", "t5xxl", "clip_l", "prompt", "positive", "text_positive"};
    static const char *const neg_keys[] = {"negative", "text_negative", "text", "text_g", "t5xxl", "clip_l", "prompt"};
    const char *const *tkeys = negative ? neg_keys : pos_keys;
    for (size_t k = 0; k < 7; k++) {
        json_t *x = json_object_get(in, tkeys[k]);
        if (json_is_array(x) && is_sampler_like(link_target(g, x))) continue;
        const char *s = json_is_string(x) || (json_is_array(x) && !is_conditioning_key(tkeys[k])) ? resolve_str(g, x, 0) : NULL;
        if (s) {
            *text = s;
            return t;
        }
    }
    static const char *const pos_pass[] = {"conditioning", "conditioning_to", "conditioning_1", "conditioning_from",
                                           "positive", "base_cond"};
    static const char *const neg_pass[] = {"negative", "conditioning", "conditioning_to", "conditioning_1",
                                           "conditioning_from", "base_cond"};
    const char *const *pass = negative ? neg_pass : pos_pass;
    for (size_t k = 0; k < 6; k++) {
        json_t *x = json_object_get(in, pass[k]);
        if (json_is_array(x)) return text_node(g, x, negative, text, depth + 1);
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

/* The base pass: a sampler whose latent does not come (through upscales,
 * crops and the like) from another sampler's output. */
static int from_empty_latent(json_t *g, json_t *node)
{
    json_t *t = link_target(g, json_object_get(inputs(node), "latent_image"));
    for (int d = 0; t && d < MAX_DEPTH; d++) {
        if (is_sampler(t)) return 0;
        json_t *in = inputs(t);
        json_t *next = json_object_get(in, "samples");
        if (!next) next = json_object_get(in, "latent");
        if (!next) next = json_object_get(in, "latent_image");
        if (!next) return 1;
        t = link_target(g, next);
    }
    return 1;
}

/* ---------------------------------------------------------------------- */
/* Image size: whatever produces the sampler's latent                      */
/* ---------------------------------------------------------------------- */

/* Size tracing branches (width and height each follow their own link), so
 * it has a depth of its own, small enough that 2^depth stays small. */
#define SIZE_DEPTH 10

static int size_of(json_t *g, json_t *node, long long *w, long long *h, int depth);

/* "1024 x 1024  (square)", "SDXL - 1:1 square 1024x1024", "832x1216" */
static int parse_dims(const char *s, long long *w, long long *h)
{
    for (const char *p = s; p && *p; p++) {
        if (*p < '0' || *p > '9' || (p > s && p[-1] >= '0' && p[-1] <= '9')) continue;
        char *e;
        long long a = strtoll(p, &e, 10);
        while (*e == ' ') e++;
        if (*e != 'x' && *e != 'X' && strncmp(e, "\xc3\x97", 2)) continue;
        e += *e == 'x' || *e == 'X' ? 1 : 2;
        while (*e == ' ') e++;
        char *f;
        long long b = strtoll(e, &f, 10);
        if (f != e && a > 0 && b > 0) {
            *w = a, *h = b;
            return 0;
        }
    }
    return -1;
}

/* A width or height input: a literal, a primitive, or an output of a
 * resolution node (its output 0 is the width, 1 the height, as the
 * Comfyroll and similar aspect-ratio nodes return them). */
static int dim(json_t *g, json_t *v, int want_h, long long *out, int depth)
{
    if (json_is_number(v)) {
        double d = json_number_value(v);
        if (d < 1 || d != floor(d) || d > 1e9) return -1;
        *out = (long long)d;
        return 0;
    }
    if (depth > SIZE_DEPTH || !json_is_array(v)) return -1;
    json_t *t = link_target(g, v);
    if (!t) return -1;
    json_t *slot = json_array_get(v, 1);
    long long w, h;
    if (json_is_integer(slot) && json_integer_value(slot) <= 1 && !size_of(g, t, &w, &h, depth + 1)) {
        *out = json_integer_value(slot) == 1 ? h : w;
        return 0;
    }
    double d;
    if (!resolve_num(g, v, &d, depth + 1) && d >= 1 && d == floor(d) && d < 1e9) {
        *out = (long long)d;
        return 0;
    }
    (void)want_h;
    return -1;
}

/* The pixel size a node's latent (or its width/height outputs) has. */
static int size_of(json_t *g, json_t *t, long long *w, long long *h, int depth)
{
    if (!t || depth > SIZE_DEPTH) return -1;
    json_t *in = inputs(t);
    /* rgthree "SDXL Empty Latent Image": dimensions " 1024 x 1024  (square)" */
    const char *dims = json_string_value(json_object_get(in, "dimensions"));
    if (dims && !parse_dims(dims, w, h)) return 0;
    /* Comfyroll "CR SDXL Aspect Ratio" / "CR Aspect Ratio": a preset unless
     * "custom", then width/height; swap_dimensions "On" swaps. */
    const char *ar = json_string_value(json_object_get(in, "aspect_ratio"));
    int have = 0;
    if (ar && strncmp(ar, "custom", 6) && !parse_dims(ar, w, h)) have = 1;
    if (!have) {
        json_t *sb = json_object_get(in, "scale_by");
        double f;
        if (sb && !resolve_num(g, sb, &f, 0)) {
            /* LatentUpscaleBy: round(latent side * scale) latent pixels of 8 */
            json_t *src = link_target(g, json_object_get(in, "samples"));
            if (size_of(g, src, w, h, depth + 1)) return -1;
            *w = (long long)llround((double)(*w / 8) * f) * 8;
            *h = (long long)llround((double)(*h / 8) * f) * 8;
            return 0;
        }
        if (!dim(g, json_object_get(in, "width"), 0, w, depth) && !dim(g, json_object_get(in, "height"), 1, h, depth))
            have = 1;
        /* the Efficiency nodes' loader makes the latent itself */
        else if (!dim(g, json_object_get(in, "empty_latent_width"), 0, w, depth) &&
                 !dim(g, json_object_get(in, "empty_latent_height"), 1, h, depth))
            have = 1;
    }
    if (have) {
        const char *sw = json_string_value(json_object_get(in, "swap_dimensions"));
        if (sw && !strcmp(sw, "On")) {
            long long x = *w;
            *w = *h, *h = x;
        }
        return 0;
    }
    static const char *const via[] = {"samples", "latent", "latent_image", "empty_latent"};
    for (size_t k = 0; k < sizeof via / sizeof via[0]; k++) {
        json_t *src = link_target(g, json_object_get(in, via[k]));
        if (src) return size_of(g, src, w, h, depth + 1);
    }
    return -1;
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
                /* a loader that also encodes the prompts (the Efficiency
                 * nodes') holds the clip skip as -N */
                double cs;
                json_t *g_s = json_object_get(r->model_info, "generation_settings");
                if (!json_object_get(g_s, "clip_skip") && !resolve_num(g, json_object_get(in, "clip_skip"), &cs, 0) &&
                    cs < 0 && cs >= -64 && cs == floor(cs))
                    imp_set_gs_int(r, "clip_skip", (long long)-cs, 1, "clip_skip");
                return;
            }
        }
        const char *lora = resolve_str(g, json_object_get(in, "lora_name"), 0);
        if (lora) {
            double w = 1;
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

/* ---------------------------------------------------------------------- */
/* Every prompt of the graph                                               */
/* ---------------------------------------------------------------------- */

#define MAX_PROMPT_NODES 64

typedef struct seen {
    json_t *node[MAX_PROMPT_NODES];
    size_t n;
} seen;

static int seen_add(seen *s, json_t *n)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->node[i] == n) return 0;
    if (s->n == MAX_PROMPT_NODES) return 0;
    s->node[s->n++] = n;
    return 1;
}

/* The text an encoder node holds itself (not through conditioning). */
static const char *own_text(json_t *g, json_t *node)
{
    static const char *const tkeys[] = {"text", "text_g", "t5xxl", "clip_l", "prompt", "positive", "text_positive"};
    for (size_t k = 0; k < sizeof tkeys / sizeof tkeys[0]; k++) {
        json_t *x = json_object_get(inputs(node), tkeys[k]);
        if (json_is_array(x) && is_conditioning_key(tkeys[k])) continue;
        if (x && !(json_is_array(x) && is_sampler(link_target(g, x)))) {
            const char *s = resolve_str(g, x, 0);
            if (s) return s;
        }
    }
    return NULL;
}

static const char *node_id(json_t *g, json_t *node)
{
    const char *k;
    json_t *v;
    json_object_foreach(g, k, v) if (v == node) return k;
    return "";
}

/* Walks the conditioning behind `link`, appending each encoder met to
 * `out` as {"node", "class", "text", "role"[, "area"]}: regional prompts
 * (ConditioningCombine, ConditioningSetArea, ...) are all kept. */
static void collect(json_t *g, json_t *link, const char *role, json_t *area, seen *s, json_t *out, int depth)
{
    json_t *t = link_target(g, link);
    if (!t || depth > MAX_DEPTH || !seen_add(s, t)) return;
    json_t *in = inputs(t);
    json_t *my_area = area;
    if (json_object_get(in, "x") && json_object_get(in, "width") && !area) {
        my_area = json_object();
        static const char *const ak[] = {"x", "y", "width", "height", "strength"};
        for (size_t k = 0; k < sizeof ak / sizeof ak[0]; k++) {
            double v;
            if (!resolve_num(g, json_object_get(in, ak[k]), &v, 0)) json_object_set_new(my_area, ak[k], json_real(v));
        }
    }
    const char *text = own_text(g, t);
    if (text) {
        json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "node", node_id(g, t), "class", cls(t), "text", text, "role", role);
        if (o && my_area) json_object_set(o, "area", my_area);
        json_array_append_new(out, o);
    }
    const char *k;
    json_t *v;
    json_object_foreach(in, k, v)
    {
        if (!json_is_array(v) || (!strstr(k, "conditioning") && !strstr(k, "cond") && strcmp(k, "positive") &&
                                  strcmp(k, "negative") && strcmp(k, "base_cond")))
            continue;
        collect(g, v, role, my_area, s, out, depth + 1);
    }
    if (my_area != area) json_decref(my_area);
}

/* ext "prompts": every text encoder, those feeding the chosen sampler
 * first with their role ("positive"/"negative"), then the rest ("other":
 * detailers, refiners, unused).  Written when there is more than one
 * prompt per role or any other prompt; model_info/prompt is the first
 * positive, marked "sampler_prompt". */
static void list_prompts(json_t *g, json_t *sampler, import_result *r)
{
    json_t *out = json_array();
    seen s = {.n = 0};
    json_t *pos = sampler_input(g, sampler, "positive", 0);
    if (!pos) pos = sampler_input(g, sampler, "conditioning", 0);
    collect(g, pos, "positive", NULL, &s, out, 0);
    size_t npos = json_array_size(out);
    collect(g, sampler_input(g, sampler, "negative", 0), "negative", NULL, &s, out, 0);
    size_t nneg = json_array_size(out) - npos;
    const char *k;
    json_t *node;
    json_object_foreach(g, k, node)
    {
        const char *c = cls(node);
        if (!strstr(c, "TextEncode") && !strstr(c, "Prompt")) continue;
        const char *text = own_text(g, node);
        if (text && seen_add(&s, node))
            json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:s}", "node", k, "class", c, "text", text, "role", "other"));
    }
    /* the one model_info/prompt holds */
    const char *chosen = json_string_value(json_object_get(r->model_info, "prompt"));
    for (size_t i = 0; chosen && i < npos; i++) {
        json_t *o = json_array_get(out, i);
        if (!strcmp(json_string_value(json_object_get(o, "text")), chosen)) {
            json_object_set_new(o, "sampler_prompt", json_true());
            break;
        }
    }
    if (npos > 1 || nneg > 1 || json_array_size(out) > npos + nneg) json_object_set(r->ext, "prompts", out);
    json_decref(out);
}

/* String-joining nodes (core StringConcatenate string_a/string_b, WAS
 * "Text Concatenate" text_a..text_d, and look-alikes): the joined text is
 * what the encoder received, so it is worked out once and set as the
 * node's "text" input, where the walks above read it.  A few sweeps settle
 * joins of joins; the text is bounded. */
#define CONCAT_MAX ((size_t)1 << 20)       /* one joined text */
#define CONCAT_TOTAL ((size_t)16 << 20)    /* all joined texts of a graph */

static void join_strings(json_t *g)
{
    static const char *const parts[][4] = {{"string_a", "string_b", "string_c", "string_d"},
                                           {"text_a", "text_b", "text_c", "text_d"},
                                           {"text1", "text2", "text3", "text4"}};
    size_t total = 0;
    for (int sweep = 0; sweep < 3; sweep++) {
        const char *id;
        json_t *node;
        json_object_foreach(g, id, node)
        {
            json_t *in = inputs(node);
            if (!json_is_object(in) || json_object_get(in, "text")) continue;
            for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
                if (!json_object_get(in, parts[p][0]) || !json_object_get(in, parts[p][1])) continue;
                const char *delim = json_string_value(json_object_get(in, "delimiter"));
                if (!delim) delim = "";
                char *buf = NULL;
                size_t n = 0, cap = 0;
                int ok = 1;
                for (size_t k = 0; k < 4 && ok; k++) {
                    json_t *x = json_object_get(in, parts[p][k]);
                    if (!x) continue;
                    const char *t = resolve_str(g, x, 0);
                    if (!t) {
                        ok = 0; /* a part not known yet (a later sweep) or at all */
                        break;
                    }
                    if (!*t) continue;
                    size_t add = strlen(t) + (n ? strlen(delim) : 0);
                    if (n + add + 1 > CONCAT_MAX || total + add > CONCAT_TOTAL) ok = 0;
                    else if (n + add + 1 > cap) {
                        cap = (n + add + 1) * 2;
                        char *q = realloc(buf, cap);
                        if (!q) ok = 0;
                        else buf = q;
                    }
                    if (!ok) break;
                    n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? delim : "", t);
                    total += add;
                }
                if (ok) json_object_set_new(in, "text", json_string(buf ? buf : ""));
                free(buf);
                break;
            }
        }
    }
}

int import_comfy(json_t *g, import_result *r)
{
    if (!json_is_object(g)) return 0;
    join_strings(g);
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
    json_t *enc = text_node(g, pos, 0, &text, 0);
    if (text) imp_set_str(r, "prompt", text);
    if (enc) walk_clip(g, json_object_get(inputs(enc), "clip"), r);

    text = NULL;
    text_node(g, sampler_input(g, sampler, "negative", 0), 1, &text, 0);
    if (text) imp_set_str(r, "negative_prompt", text);
    walk_model(g, sampler_input(g, sampler, "model", 0), r);

    long long w, h;
    if (!size_of(g, link_target(g, json_object_get(inputs(sampler), "latent_image")), &w, &h, 0)) {
        imp_set_gs_int(r, "width", w, 1, "width");
        imp_set_gs_int(r, "height", h, 1, "height");
    }
    list_prompts(g, sampler, r);
    return 1;
}
