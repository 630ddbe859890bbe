/*
 * import_more.c -- generators that keep their record as JSON in chunks of
 * their own (learnt from each tool's writer and the public readers):
 *
 *   Stability Matrix  `parameters-json` (its GenerationParameters:
 *                     PositivePrompt, NegativePrompt, Steps, Sampler and
 *                     Scheduler in ComfyUI's names, CfgScale, Seed, Width,
 *                     Height, ModelName, ModelHash, ...) beside A1111 text
 *                     in `parameters` and its project in `smproj`.
 *   TensorArt         `generation_data` (prompt, negativePrompt, width,
 *                     height, seed as a string, steps, cfgScale, clipSkip,
 *                     samplerName, baseModel {modelId, modelFileName, hash},
 *                     models [{type "LORA", modelId, modelFileName,
 *                     weight}]), NUL-padded, beside a ComfyUI `prompt`
 *                     graph whose loaders name models "EMS-<id>-EMS".
 *   Easy Diffusion    one text chunk per field (prompt, negative_prompt,
 *                     seed, use_stable_diffusion_model, sampler_name,
 *                     num_inference_steps, guidance_scale, width, height,
 *                     clip_skip, use_vae_model, ...), or the same as JSON
 *                     (EXIF UserComment); newer versions capitalise the
 *                     keys ("Prompt", "Negative Prompt", "Stable Diffusion
 *                     model", "Guidance Scale", ...).
 *   Hugging Face Space (Gradio + diffusers): `parameters` JSON with prompt,
 *                     negative_prompt, resolution "832 x 1216",
 *                     guidance_scale, num_inference_steps, seed, sampler,
 *                     Model, "Model hash".
 *   Draw Things       XMP (`XML:com.adobe.xmp` iTXt) whose exif:UserComment
 *                     holds JSON: c (prompt), uc (negative), seed, steps,
 *                     scale, sampler, model, size "WxH", strength, lora
 *                     [{file, weight}]; xmp:CreatorTool "Draw Things".
 */
#include "interop.h"
#include "../jsonnum.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* JSON object text (NUL padding and surrounding space allowed), or NULL. */
static json_t *obj_of(const meta_text *t)
{
    if (!t) return NULL;
    size_t n = t->len;
    while (n && (t->text[n - 1] == '\0' || t->text[n - 1] == ' ' || t->text[n - 1] == '\n' || t->text[n - 1] == '\r'))
        n--;
    json_t *j = rf_json_loadb(t->text, n, 0, RF_JSON_STRICT, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* The last path component ("models/sd/x.safetensors" -> "x.safetensors"). */
static const char *base_name(const char *p)
{
    if (!p) return NULL;
    const char *s = strrchr(p, '/'), *b = strrchr(p, '\\');
    if (b && (!s || b > s)) s = b;
    return s ? s + 1 : p;
}

int import_stability_matrix(const meta_list *l, import_result *r)
{
    json_t *p = obj_of(meta_find(l, "parameters-json"));
    if (!p || !json_object_get(p, "PositivePrompt")) {
        json_decref(p);
        return 0;
    }
    r->tool = "Stability Matrix";
    imp_set_str(r, "prompt", imp_jstr(p, "PositivePrompt"));
    imp_set_str(r, "negative_prompt", imp_jstr(p, "NegativePrompt"));
    imp_gs_int(r, p, "Seed", "seed", 0);
    imp_gs_int(r, p, "Steps", "steps", 1);
    imp_gs_num(r, p, "CfgScale", "cfg_scale", 0, INFINITY);
    imp_set_gs_str(r, "sampler", imp_jstr(p, "Sampler"));
    imp_set_gs_str(r, "scheduler", imp_jstr(p, "Scheduler"));
    imp_gs_int(r, p, "Width", "width", 1);
    imp_gs_int(r, p, "Height", "height", 1);
    imp_set_model(r, imp_jstr(p, "ModelName"));
    imp_set_model_hash(r, imp_jstr(p, "ModelHash"));
    static const char *const keep[] = {"ModelVersionId", "ExtraNetworkModelVersionIds", "FrameCount", "Fps",
                                       "MinCfg", "MotionBucketId", "AugmentationLevel"};
    for (size_t k = 0; k < sizeof keep / sizeof keep[0]; k++) {
        json_t *x = json_object_get(p, keep[k]);
        if (x && !json_is_null(x)) imp_unmapped(r, keep[k], json_incref(x));
    }
    json_decref(p);
    json_t *proj = obj_of(meta_find(l, "smproj"));
    if (imp_jstr(proj, "ProjectType"))
        json_object_set_new(r->ext, "project_type", json_string(imp_jstr(proj, "ProjectType")));
    json_decref(proj);
    /* Upscaled / hires sizes live in the A1111 text beside the JSON
     * ("Hires upscale", "Hires resize"); import.c's merge brings them in. */
    return 1;
}

int import_tensorart(const meta_list *l, import_result *r)
{
    json_t *g = obj_of(meta_find(l, "generation_data"));
    if (!g) return 0;
    r->tool = "TensorArt";
    imp_set_str(r, "prompt", imp_jstr(g, "prompt"));
    imp_set_str(r, "negative_prompt", imp_jstr(g, "negativePrompt"));
    imp_gs_int(r, g, "seed", "seed", 0);
    imp_gs_int(r, g, "steps", "steps", 1);
    imp_gs_num(r, g, "cfgScale", "cfg_scale", 0, INFINITY);
    imp_set_gs_str(r, "sampler", imp_jstr(g, "samplerName") ? imp_jstr(g, "samplerName") : imp_jstr(g, "sampler"));
    imp_set_gs_str(r, "scheduler", imp_jstr(g, "scheduleName") ? imp_jstr(g, "scheduleName") : imp_jstr(g, "scheduler"));
    imp_gs_int(r, g, "width", "width", 1);
    imp_gs_int(r, g, "height", "height", 1);
    imp_gs_int(r, g, "clipSkip", "clip_skip", 1);
    imp_gs_num(r, g, "denoisingStrength", "denoising_strength", 0, 1);
    json_t *bm = json_object_get(g, "baseModel");
    const char *name = imp_jstr(bm, "modelFileName");
    imp_set_model(r, name ? name : imp_jstr(bm, "modelName"));
    imp_set_model_hash(r, imp_jstr(bm, "hash"));
    json_t *id = json_object_get(bm, "modelId");
    if (id) json_object_set(r->ext, "model_id", id);
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(g, "models"), i, m)
    {
        const char *type = imp_jstr(m, "type");
        if (type && strcasecmp(type, "LORA") && strcasecmp(type, "LYCORIS")) continue;
        const char *n = imp_jstr(m, "modelFileName") ? imp_jstr(m, "modelFileName") : imp_jstr(m, "modelName");
        double w = 1;
        int has = !imp_jnum(json_object_get(m, "weight"), &w);
        imp_add_adapter(r, n, "lora", has, w, imp_jstr(m, "hash"));
    }
    json_decref(g);
    return 1;
}

/* Easy Diffusion's two spellings of each field. */
static const char *const ED_KEYS[][3] = {
    /* field, snake_case, Capitalised */
    {"prompt", "prompt", "Prompt"},
    {"negative_prompt", "negative_prompt", "Negative Prompt"},
    {"seed", "seed", "Seed"},
    {"model", "use_stable_diffusion_model", "Stable Diffusion model"},
    {"sampler", "sampler_name", "Sampler"},
    {"steps", "num_inference_steps", "Steps"},
    {"cfg", "guidance_scale", "Guidance Scale"},
    {"width", "width", "Width"},
    {"height", "height", "Height"},
    {"clip_skip", "clip_skip", "Clip Skip"},
    {"vae", "use_vae_model", "VAE model"},
    {"strength", "prompt_strength", "Prompt Strength"},
};

static json_t *ed_get(json_t *o, size_t k)
{
    json_t *v = json_object_get(o, ED_KEYS[k][1]);
    return v ? v : json_object_get(o, ED_KEYS[k][2]);
}

static int ed_map(json_t *o, import_result *r)
{
    if (!ed_get(o, 3) || !ed_get(o, 0)) return 0; /* the model path and a prompt */
    r->tool = "Easy Diffusion";
    imp_set_str(r, "prompt", json_string_value(ed_get(o, 0)));
    imp_set_str(r, "negative_prompt", json_string_value(ed_get(o, 1)));
    long long v;
    double d;
    if (ed_get(o, 2)) imp_set_gs_int_json(r, "seed", ed_get(o, 2), 0, ED_KEYS[2][1]);
    imp_set_model(r, base_name(json_string_value(ed_get(o, 3))));
    imp_set_gs_str(r, "sampler", json_string_value(ed_get(o, 4)));
    if (!imp_jint(ed_get(o, 5), &v)) imp_set_gs_int(r, "steps", v, 1, ED_KEYS[5][1]);
    if (!imp_jnum(ed_get(o, 6), &d)) imp_set_gs_num(r, "cfg_scale", d, 0, INFINITY, ED_KEYS[6][1]);
    if (!imp_jint(ed_get(o, 7), &v)) imp_set_gs_int(r, "width", v, 1, ED_KEYS[7][1]);
    if (!imp_jint(ed_get(o, 8), &v)) imp_set_gs_int(r, "height", v, 1, ED_KEYS[8][1]);
    json_t *cs = ed_get(o, 9); /* a boolean in Easy Diffusion: true skips the last layer (clip skip 2) */
    const char *css = json_string_value(cs);
    if (json_is_true(cs) || (css && !strcasecmp(css, "true"))) imp_set_gs_int(r, "clip_skip", 2, 1, ED_KEYS[9][1]);
    else if (!imp_jint(cs, &v) && v >= 1) imp_set_gs_int(r, "clip_skip", v, 1, ED_KEYS[9][1]);
    const char *vae = json_string_value(ed_get(o, 10));
    if (vae && *vae) json_object_set_new(r->ext, "vae", json_string(base_name(vae)));
    json_t *lora = json_object_get(o, "use_lora_model");
    if (json_is_string(lora) && *json_string_value(lora)) {
        double w = 1;
        int has = !imp_jnum(json_object_get(o, "lora_alpha"), &w);
        char *n = strdup(base_name(json_string_value(lora)));
        if (n) {
            char *dot = strrchr(n, '.');
            if (dot && (!strcmp(dot, ".safetensors") || !strcmp(dot, ".ckpt") || !strcmp(dot, ".pt"))) *dot = '\0';
            imp_add_adapter(r, n, "lora", has, w, NULL);
        }
        free(n);
    }
    return 1;
}

int import_easydiffusion_json(json_t *j, import_result *r) { return json_is_object(j) && ed_map(j, r); }

int import_easydiffusion_chunks(const meta_list *l, import_result *r)
{
    if (!meta_find(l, "use_stable_diffusion_model") && !meta_find(l, "Stable Diffusion model")) return 0;
    json_t *o = json_object();
    for (size_t i = 0; i < l->count; i++)
        if (!strncmp(l->items[i].type, "tEXt", 4) || !strcmp(l->items[i].type, "iTXt") || !strcmp(l->items[i].type, "zTXt"))
            json_object_set_new(o, l->items[i].keyword, json_stringn(l->items[i].text, l->items[i].len));
    int ok = ed_map(o, r);
    json_decref(o);
    return ok;
}

int import_hfspace(json_t *j, import_result *r)
{
    if (!json_is_object(j) || !json_object_get(j, "prompt") || !json_object_get(j, "resolution") ||
        !(json_object_get(j, "num_inference_steps") || json_object_get(j, "Model")))
        return 0;
    r->tool = "Hugging Face Space";
    imp_set_str(r, "prompt", imp_jstr(j, "prompt"));
    imp_set_str(r, "negative_prompt", imp_jstr(j, "negative_prompt"));
    imp_gs_int(r, j, "seed", "seed", 0);
    imp_gs_int(r, j, "num_inference_steps", "steps", 1);
    imp_gs_num(r, j, "guidance_scale", "cfg_scale", 0, INFINITY);
    imp_set_gs_str(r, "sampler", imp_jstr(j, "sampler"));
    imp_set_size(r, imp_jstr(j, "resolution"), "resolution");
    imp_set_model(r, imp_jstr(j, "Model"));
    imp_set_model_hash(r, imp_jstr(j, "Model hash"));
    static const char *const keep[] = {"style_preset", "use_upscaler", "quality_tags"};
    for (size_t k = 0; k < sizeof keep / sizeof keep[0]; k++) {
        json_t *x = json_object_get(j, keep[k]);
        if (x && !json_is_null(x)) imp_unmapped(r, keep[k], json_incref(x));
    }
    return 1;
}

/* XML character data -> UTF-8 (the five named entities and &#N; / &#xN;). */
static char *xml_text(const char *s, size_t n)
{
    char *o = malloc(n + 1);
    if (!o) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] != '&') {
            o[k++] = s[i++];
            continue;
        }
        const char *semi = memchr(s + i, ';', n - i < 12 ? n - i : 12);
        if (!semi) {
            o[k++] = s[i++];
            continue;
        }
        size_t el = (size_t)(semi - (s + i)) + 1;
        static const char *const ent[][2] = {{"&quot;", "\""}, {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&apos;", "'"}};
        int done = 0;
        for (size_t e = 0; e < 5 && !done; e++)
            if (strlen(ent[e][0]) == el && !strncmp(s + i, ent[e][0], el)) o[k++] = ent[e][1][0], done = 1;
        if (!done && s[i + 1] == '#') {
            unsigned long cp = s[i + 2] == 'x' || s[i + 2] == 'X' ? strtoul(s + i + 3, NULL, 16) : strtoul(s + i + 2, NULL, 10);
            /* a numeric reference never takes more bytes than its own text */
            if (!cp || cp > 0x10FFFF) { /* not a character: dropped */
            } else if (cp < 0x80) o[k++] = (char)cp;
            else if (cp < 0x800) o[k++] = (char)(0xC0 | cp >> 6), o[k++] = (char)(0x80 | (cp & 63));
            else if (cp < 0x10000) o[k++] = (char)(0xE0 | cp >> 12), o[k++] = (char)(0x80 | ((cp >> 6) & 63)), o[k++] = (char)(0x80 | (cp & 63));
            else if (cp < 0x110000)
                o[k++] = (char)(0xF0 | cp >> 18), o[k++] = (char)(0x80 | ((cp >> 12) & 63)),
                o[k++] = (char)(0x80 | ((cp >> 6) & 63)), o[k++] = (char)(0x80 | (cp & 63));
            done = 1;
        }
        if (!done) {
            memcpy(o + k, s + i, el);
            k += el;
        }
        i += el;
    }
    o[k] = '\0';
    return o;
}

/* The text of the first rdf:li (or the element itself) inside <TAG>...</TAG>. */
static char *xmp_value(const char *x, size_t n, const char *tag)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *end = x + n;
    const char *a = x;
    for (;;) {
        a = memmem(a, (size_t)(end - a), open, strlen(open));
        if (!a) return NULL;
        char c = a[strlen(open)];
        if (c == '>' || c == ' ' || c == '\n' || c == '\t' || c == '\r') break;
        a++;
    }
    const char *gt = memchr(a, '>', (size_t)(end - a));
    if (!gt) return NULL;
    const char *b = memmem(gt, (size_t)(end - gt), close, strlen(close));
    if (!b) return NULL;
    const char *li = memmem(gt, (size_t)(b - gt), "<rdf:li", 7);
    if (li) {
        gt = memchr(li, '>', (size_t)(b - li));
        const char *le = gt ? memmem(gt, (size_t)(b - gt), "</rdf:li>", 9) : NULL;
        if (!le) return NULL;
        b = le;
    }
    return xml_text(gt + 1, (size_t)(b - gt - 1));
}

int import_drawthings(const meta_list *l, import_result *r)
{
    const meta_text *x = meta_find(l, "XML:com.adobe.xmp");
    if (!x) return 0;
    char *tool = xmp_value(x->text, x->len, "xmp:CreatorTool");
    char *uc = xmp_value(x->text, x->len, "exif:UserComment");
    json_t *j = uc ? rf_json_loadb(uc, strlen(uc), 0, RF_JSON_STRICT, NULL) : NULL;
    int ok = json_is_object(j) && (json_object_get(j, "c") || (tool && strstr(tool, "Draw Things")));
    if (ok) {
        r->tool = "Draw Things";
        imp_set_str(r, "prompt", imp_jstr(j, "c"));
        imp_set_str(r, "negative_prompt", imp_jstr(j, "uc"));
        imp_gs_int(r, j, "seed", "seed", 0);
        imp_gs_int(r, j, "steps", "steps", 1);
        imp_gs_num(r, j, "scale", "cfg_scale", 0, INFINITY);
        imp_set_gs_str(r, "sampler", imp_jstr(j, "sampler"));
        imp_set_size(r, imp_jstr(j, "size"), "size");
        double s;
        if (!imp_jnum(json_object_get(j, "strength"), &s) && s < 1) imp_set_gs_num(r, "denoising_strength", s, 0, 1, "strength");
        imp_set_model(r, imp_jstr(j, "model"));
        size_t i;
        json_t *a;
        json_array_foreach(json_object_get(j, "lora"), i, a)
        {
            double w = 1;
            int has = !imp_jnum(json_object_get(a, "weight"), &w);
            char *n = imp_jstr(a, "file") ? strdup(imp_jstr(a, "file")) : NULL;
            if (n) {
                char *dot = strrchr(n, '.');
                if (dot && (!strcmp(dot, ".ckpt") || !strcmp(dot, ".safetensors"))) *dot = '\0';
                imp_add_adapter(r, n, "lora", has, w, NULL);
            }
            free(n);
        }
        json_t *v2 = json_object_get(j, "v2");
        if (v2) imp_unmapped(r, "v2", json_incref(v2));
        if (tool) json_object_set_new(r->ext, "creator_tool", json_string(tool));
    }
    json_decref(j);
    free(uc);
    free(tool);
    return ok;
}
