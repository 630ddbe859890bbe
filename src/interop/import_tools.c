/*
 * import_tools.c -- recognising the generator from an image's text records
 * and mapping the JSON-speaking tools: InvokeAI (`invokeai_metadata`),
 * NovelAI (`Comment` + `Software`/`Source`), SwarmUI (`parameters` JSON
 * with sui_image_params), Fooocus and RuinedFooocus (`parameters` JSON).
 * A1111-style text is import_a1111.c, ComfyUI graphs import_comfy.c.
 *
 * Which record wins, in order: SwarmUI / Fooocus JSON `parameters`,
 * A1111 `parameters` text, `invokeai_metadata`, NovelAI `Comment`, a
 * ComfyUI `prompt` graph, then EXIF strings (UserComment holding A1111
 * text or ComfyUI JSON; "prompt:{...}" in Make/Model as ComfyUI's WebP
 * saver writes).
 */
#include "interop.h"
#include "../jsonnum.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *jstr(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static int jnum(json_t *o, const char *k, double *v)
{
    json_t *x = json_object_get(o, k);
    if (json_is_number(x)) {
        *v = json_number_value(x);
        return 0;
    }
    if (json_is_string(x)) {
        char *end;
        *v = strtod(json_string_value(x), &end);
        return *json_string_value(x) && !*end && isfinite(*v) ? 0 : -1;
    }
    return -1;
}

static void set_int(import_result *r, json_t *o, const char *k, const char *field, long long min)
{
    /* exact first: integers and integer strings (Fooocus's seeds) to 2^64-1 */
    if (!imp_set_gs_int_json(r, field, json_object_get(o, k), min, k)) return;
    double v;
    if (jnum(o, k, &v) || v != floor(v) || fabs(v) > 9.2e18) return;
    imp_set_gs_int(r, field, (long long)v, min, k);
}

static void set_num(import_result *r, json_t *o, const char *k, const char *field, double min, double max)
{
    double v;
    if (!jnum(o, k, &v)) imp_set_gs_num(r, field, v, min, max, k);
}

int import_invokeai(json_t *m, import_result *r)
{
    if (!json_is_object(m)) return 0;
    r->tool = "InvokeAI";
    imp_set_str(r, "prompt", jstr(m, "positive_prompt"));
    imp_set_str(r, "negative_prompt", jstr(m, "negative_prompt"));
    set_int(r, m, "seed", "seed", 0);
    set_int(r, m, "steps", "steps", 1);
    set_num(r, m, "cfg_scale", "cfg_scale", 0, INFINITY);
    /* InvokeAI calls its sampler "scheduler" (euler_a, dpmpp_2m_k, ...). */
    imp_set_gs_str(r, "sampler", jstr(m, "scheduler"));
    set_int(r, m, "width", "width", 1);
    set_int(r, m, "height", "height", 1);
    set_int(r, m, "clip_skip", "clip_skip", 1);
    set_num(r, m, "strength", "denoising_strength", 0, 1);
    json_t *model = json_object_get(m, "model");
    imp_set_model(r, jstr(model, "name") ? jstr(model, "name") : jstr(model, "model_name"));
    imp_set_model_hash(r, jstr(model, "hash"));
    json_t *vae = json_object_get(m, "vae");
    if (jstr(vae, "name")) json_object_set_new(r->ext, "vae", json_string(jstr(vae, "name")));
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(m, "loras"), i, l)
    {
        json_t *lm = json_object_get(l, "model");
        if (!lm) lm = json_object_get(l, "lora");
        double w;
        int has = !jnum(l, "weight", &w);
        imp_add_adapter(r, jstr(lm, "name") ? jstr(lm, "name") : jstr(lm, "model_name"), "lora", has, w, jstr(lm, "hash"));
    }
    if (jstr(m, "app_version")) json_object_set_new(r->ext, "tool_version", json_string(jstr(m, "app_version")));
    return 1;
}

int import_novelai(json_t *c, const meta_list *l, import_result *r)
{
    if (!json_is_object(c)) return 0;
    r->tool = "NovelAI";
    imp_set_str(r, "prompt", jstr(c, "prompt"));
    const char *uc = jstr(c, "uc");
    if (!uc) uc = jstr(json_object_get(json_object_get(c, "v4_negative_prompt"), "caption"), "base_caption");
    imp_set_str(r, "negative_prompt", uc);
    set_int(r, c, "seed", "seed", 0);
    set_int(r, c, "steps", "steps", 1);
    set_num(r, c, "scale", "cfg_scale", 0, INFINITY);
    imp_set_gs_str(r, "sampler", jstr(c, "sampler"));
    imp_set_gs_str(r, "scheduler", jstr(c, "noise_schedule"));
    set_int(r, c, "width", "width", 1);
    set_int(r, c, "height", "height", 1);
    set_num(r, c, "strength", "denoising_strength", 0, 1);
    const meta_text *src = meta_find(l, "Source");
    if (src) imp_set_str(r, "model_name", src->text);
    return 1;
}

int import_swarmui(json_t *p, import_result *r)
{
    json_t *s = json_object_get(p, "sui_image_params");
    if (!json_is_object(s)) return 0;
    r->tool = "SwarmUI";
    imp_set_str(r, "prompt", jstr(s, "prompt"));
    imp_set_str(r, "negative_prompt", jstr(s, "negativeprompt"));
    set_int(r, s, "seed", "seed", 0);
    set_int(r, s, "steps", "steps", 1);
    set_num(r, s, "cfgscale", "cfg_scale", 0, INFINITY);
    imp_set_gs_str(r, "sampler", jstr(s, "sampler"));
    imp_set_gs_str(r, "scheduler", jstr(s, "scheduler"));
    set_int(r, s, "width", "width", 1);
    set_int(r, s, "height", "height", 1);
    set_int(r, s, "clipstopatlayer", "clip_skip", 1);
    set_num(r, s, "initimagecreativity", "denoising_strength", 0, 1);
    imp_set_model(r, jstr(s, "model"));
    if (jstr(s, "vae")) json_object_set_new(r->ext, "vae", json_string(jstr(s, "vae")));
    if (jstr(s, "swarm_version")) json_object_set_new(r->ext, "tool_version", json_string(jstr(s, "swarm_version")));
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(p, "sui_models"), i, m)
    {
        if (!strcmp(jstr(m, "param") ? jstr(m, "param") : "", "model")) imp_set_model_hash(r, jstr(m, "hash"));
    }
    json_t *loras = json_object_get(s, "loras"), *weights = json_object_get(s, "loraweights");
    json_array_foreach(loras, i, m)
    {
        double w = 1;
        json_t *wv = json_array_get(weights, i);
        int has = 0;
        if (json_is_number(wv)) w = json_number_value(wv), has = 1;
        else if (json_is_string(wv)) w = strtod(json_string_value(wv), NULL), has = 1;
        imp_add_adapter(r, json_string_value(m), "lora", has, w, NULL);
    }
    return 1;
}

int import_fooocus(json_t *p, import_result *r)
{
    if (!json_is_object(p)) return 0;
    const char *sw = jstr(p, "software");
    const char *ver = jstr(p, "version");
    int ruined = json_object_get(p, "Prompt") != NULL;
    int plain = json_object_get(p, "prompt") && (json_object_get(p, "base_model") || json_object_get(p, "guidance_scale"));
    if (!ruined && !plain) return 0;
    r->tool = sw ? (strstr(sw, "Ruined") ? "RuinedFooocus" : "Fooocus") : ruined ? "RuinedFooocus" : "Fooocus";
    imp_set_str(r, "prompt", ruined ? jstr(p, "Prompt") : jstr(p, "prompt"));
    imp_set_str(r, "negative_prompt", ruined ? jstr(p, "Negative") : jstr(p, "negative_prompt"));
    set_int(r, p, "seed", "seed", 0);
    set_int(r, p, "steps", "steps", 1);
    set_num(r, p, ruined ? "cfg" : "guidance_scale", "cfg_scale", 0, INFINITY);
    imp_set_gs_str(r, "sampler", ruined ? jstr(p, "sampler_name") : jstr(p, "sampler"));
    imp_set_gs_str(r, "scheduler", jstr(p, "scheduler"));
    set_int(r, p, "width", "width", 1);
    set_int(r, p, "height", "height", 1);
    const char *res = jstr(p, "resolution"); /* Fooocus: "(1024, 1024)" */
    long long w, h;
    if (res && sscanf(res, "(%lld, %lld)", &w, &h) == 2) {
        imp_set_gs_int(r, "width", w, 1, "resolution");
        imp_set_gs_int(r, "height", h, 1, "resolution");
    }
    double cs;
    if (!jnum(p, "clip_skip", &cs) && cs >= 1 && cs == floor(cs)) imp_set_gs_int(r, "clip_skip", (long long)cs, 1, "clip_skip");
    set_num(r, p, "denoise", "denoising_strength", 0, 1);
    imp_set_model(r, ruined ? jstr(p, "base_model_name") : jstr(p, "base_model"));
    imp_set_model_hash(r, jstr(p, "base_model_hash"));
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(p, "loras"), i, l)
    {
        /* [name, weight] pairs or {"name", "weight"} objects */
        const char *n = json_is_array(l) ? json_string_value(json_array_get(l, 0)) : jstr(l, "name");
        json_t *wv = json_is_array(l) ? json_array_get(l, 1) : json_object_get(l, "weight");
        double wt = json_is_number(wv) ? json_number_value(wv) : json_is_string(wv) ? strtod(json_string_value(wv), NULL) : 1;
        imp_add_adapter(r, n, "lora", wv != NULL, wt, NULL);
    }
    if (ver) json_object_set_new(r->ext, "tool_version", json_string(ver));
    return 1;
}

/* JSON text that is an object, or NULL. */
static json_t *parse_obj(const meta_text *t)
{
    if (!t) return NULL;
    const char *s = t->text;
    while (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t') s++;
    if (*s != '{') return NULL;
    json_t *j = rf_json_loadb(t->text, t->len, 0, RF_JSON_STRICT, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* A JSON value that looks like a ComfyUI API graph. */
static int is_comfy_graph(json_t *g)
{
    const char *k;
    json_t *n;
    int any = 0;
    json_object_foreach(g, k, n)
    {
        if (!json_is_string(json_object_get(n, "class_type"))) return 0;
        any = 1;
    }
    return any;
}

int import_detect(const meta_list *l, import_result *r)
{
    const meta_text *params = meta_find(l, "parameters");
    json_t *j = parse_obj(params);
    if (j) {
        int ok = import_swarmui(j, r) || import_fooocus(j, r);
        json_decref(j);
        if (ok) return 1;
    }
    if (params && import_a1111(params->text, r)) return 1;
    if ((j = parse_obj(meta_find(l, "invokeai_metadata")))) {
        int ok = import_invokeai(j, r);
        json_decref(j);
        if (ok) return 1;
    }
    const meta_text *sw = meta_find(l, "Software");
    if ((j = parse_obj(meta_find(l, "Comment")))) {
        int ok = (sw && strstr(sw->text, "NovelAI")) || json_object_get(j, "uc") || json_object_get(j, "v4_prompt")
                     ? import_novelai(j, l, r)
                     : 0;
        json_decref(j);
        if (ok) return 1;
    }
    if ((j = parse_obj(meta_find(l, "prompt")))) {
        int ok = is_comfy_graph(j) && import_comfy(j, r);
        json_decref(j);
        if (ok) return 1;
    }
    /* EXIF strings */
    for (size_t i = 0; i < l->count; i++) {
        const meta_text *t = &l->items[i];
        if (strncmp(t->type, "exif-", 5)) continue;
        const char *s = t->text;
        if (!strncasecmp(s, "prompt:", 7)) s += 7;
        while (*s == ' ' || *s == '\n') s++;
        if (*s == '{') {
            json_t *x = rf_json_loadb(s, strlen(s), 0, RF_JSON_STRICT, NULL);
            if (!json_is_object(x)) {
                json_decref(x);
                continue;
            }
            json_t *g = json_object_get(x, "prompt");
            if (json_is_string(g)) g = NULL;
            int ok = 0;
            if (json_is_object(g) && is_comfy_graph(g)) ok = import_comfy(g, r);
            else if (is_comfy_graph(x)) ok = import_comfy(x, r);
            else ok = import_swarmui(x, r) || import_fooocus(x, r);
            json_decref(x);
            if (ok) return 1;
        } else if (!strcmp(t->type, "exif-usercomment") && import_a1111(t->text, r)) {
            return 1;
        }
    }
    return 0;
}

static char *base64(const unsigned char *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = malloc((n + 2) / 3 * 4 + 1);
    if (!o) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        o[k++] = tab[v >> 18];
        o[k++] = tab[(v >> 12) & 63];
        o[k++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        o[k++] = i + 2 < n ? tab[v & 63] : '=';
    }
    o[k] = '\0';
    return o;
}

json_t *import_chunks_json(const meta_list *l)
{
    json_t *a = json_array();
    for (size_t i = 0; i < l->count; i++) {
        const meta_text *t = &l->items[i];
        json_t *o = json_object();
        json_object_set_new(o, "keyword", json_string(t->keyword));
        json_object_set_new(o, "type", json_string(t->type));
        if (memchr(t->text, '\0', t->len)) {
            /* NUL cannot travel in a manifest string: the decoded text's
             * bytes go as base64 instead. */
            char *b = base64((const unsigned char *)t->text, t->len);
            json_object_set_new(o, "text_base64", json_string(b ? b : ""));
            free(b);
        } else {
            json_object_set_new(o, "text", json_stringn(t->text, t->len));
        }
        json_object_set_new(o, "encoding", json_string(t->encoding));
        if (t->language) json_object_set_new(o, "language", json_string(t->language));
        if (t->translated) json_object_set_new(o, "translated_keyword", json_string(t->translated));
        if (t->raw) {
            char *b = base64(t->raw, t->raw_len);
            json_object_set_new(o, "raw_base64", json_string(b ? b : ""));
            free(b);
        }
        json_array_append_new(a, o);
    }
    return a;
}
