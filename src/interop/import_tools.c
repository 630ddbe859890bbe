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

int import_invokeai(json_t *m, import_result *r)
{
    if (!json_is_object(m)) return 0;
    r->tool = "InvokeAI";
    imp_set_str(r, "prompt", imp_jstr(m, "positive_prompt"));
    imp_set_str(r, "negative_prompt", imp_jstr(m, "negative_prompt"));
    imp_gs_int(r, m, "seed", "seed", 0);
    imp_gs_int(r, m, "steps", "steps", 1);
    imp_gs_num(r, m, "cfg_scale", "cfg_scale", 0, INFINITY);
    /* InvokeAI calls its sampler "scheduler" (euler_a, dpmpp_2m_k, ...). */
    imp_set_gs_str(r, "sampler", imp_jstr(m, "scheduler"));
    imp_gs_int(r, m, "width", "width", 1);
    imp_gs_int(r, m, "height", "height", 1);
    imp_gs_int(r, m, "clip_skip", "clip_skip", 1);
    imp_gs_num(r, m, "strength", "denoising_strength", 0, 1);
    json_t *model = json_object_get(m, "model");
    imp_set_model(r, imp_jstr(model, "name") ? imp_jstr(model, "name") : imp_jstr(model, "model_name"));
    imp_set_model_hash(r, imp_jstr(model, "hash"));
    json_t *vae = json_object_get(m, "vae");
    if (imp_jstr(vae, "name")) json_object_set_new(r->ext, "vae", json_string(imp_jstr(vae, "name")));
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(m, "loras"), i, l)
    {
        json_t *lm = json_object_get(l, "model");
        if (!lm) lm = json_object_get(l, "lora");
        double w;
        int has = !imp_jnum(json_object_get(l, "weight"), &w);
        imp_add_adapter(r, imp_jstr(lm, "name") ? imp_jstr(lm, "name") : imp_jstr(lm, "model_name"), "lora", has, w, imp_jstr(lm, "hash"));
    }
    if (imp_jstr(m, "app_version")) json_object_set_new(r->ext, "tool_version", json_string(imp_jstr(m, "app_version")));
    return 1;
}

int import_novelai(json_t *c, const meta_list *l, import_result *r)
{
    if (!json_is_object(c)) return 0;
    r->tool = "NovelAI";
    imp_set_str(r, "prompt", imp_jstr(c, "prompt"));
    const char *uc = imp_jstr(c, "uc");
    if (!uc) uc = imp_jstr(json_object_get(json_object_get(c, "v4_negative_prompt"), "caption"), "base_caption");
    imp_set_str(r, "negative_prompt", uc);
    imp_gs_int(r, c, "seed", "seed", 0);
    imp_gs_int(r, c, "steps", "steps", 1);
    imp_gs_num(r, c, "scale", "cfg_scale", 0, INFINITY);
    imp_set_gs_str(r, "sampler", imp_jstr(c, "sampler"));
    imp_set_gs_str(r, "scheduler", imp_jstr(c, "noise_schedule"));
    imp_gs_int(r, c, "width", "width", 1);
    imp_gs_int(r, c, "height", "height", 1);
    imp_gs_num(r, c, "strength", "denoising_strength", 0, 1);
    const meta_text *src = meta_find(l, "Source");
    if (src) imp_set_str(r, "model_name", src->text);
    return 1;
}

int import_swarmui(json_t *p, import_result *r)
{
    json_t *s = json_object_get(p, "sui_image_params");
    if (!json_is_object(s)) return 0;
    r->tool = "SwarmUI";
    imp_set_str(r, "prompt", imp_jstr(s, "prompt"));
    imp_set_str(r, "negative_prompt", imp_jstr(s, "negativeprompt"));
    imp_gs_int(r, s, "seed", "seed", 0);
    imp_gs_int(r, s, "steps", "steps", 1);
    imp_gs_num(r, s, "cfgscale", "cfg_scale", 0, INFINITY);
    imp_set_gs_str(r, "sampler", imp_jstr(s, "sampler"));
    imp_set_gs_str(r, "scheduler", imp_jstr(s, "scheduler"));
    imp_gs_int(r, s, "width", "width", 1);
    imp_gs_int(r, s, "height", "height", 1);
    imp_gs_int(r, s, "clipstopatlayer", "clip_skip", 1);
    imp_gs_num(r, s, "initimagecreativity", "denoising_strength", 0, 1);
    imp_set_model(r, imp_jstr(s, "model"));
    if (imp_jstr(s, "vae")) json_object_set_new(r->ext, "vae", json_string(imp_jstr(s, "vae")));
    if (imp_jstr(s, "swarm_version")) json_object_set_new(r->ext, "tool_version", json_string(imp_jstr(s, "swarm_version")));
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(p, "sui_models"), i, m)
    {
        if (!strcmp(imp_jstr(m, "param") ? imp_jstr(m, "param") : "", "model")) imp_set_model_hash(r, imp_jstr(m, "hash"));
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

/* ---------------------------------------------------------------------- */
/* Which record wins                                                       */
/* ---------------------------------------------------------------------- */

/* A file often carries several records of one image: a ComfyUI saver node
 * writes its own A1111-style `parameters` beside the `prompt` graph (with
 * "unknown" placeholders where its inputs were not wired), SwarmUI its
 * JSON beside the graph, Stability Matrix JSON beside A1111 text.  Each is
 * imported; the most exact wins, by rank:
 *   RANK_OWN    the generator's own structured record (SwarmUI, Fooocus,
 *               InvokeAI, NovelAI, Stability Matrix, TensorArt, Easy
 *               Diffusion, HF Space, Draw Things JSON)
 *   RANK_GRAPH  a ComfyUI graph: the values that actually ran
 *   RANK_TEXT   A1111-style text, written from whatever the saver was given
 * Fields the winner lacks are filled from the others in rank order (each
 * filled field is listed in ext "filled_from"); every record stays verbatim
 * in "chunks" anyway. */
enum { RANK_OWN = 10, RANK_GRAPH = 20, RANK_TEXT = 30 };

#define MAX_CANDS 16

typedef struct cand {
    import_result r;
    int rank;
    const char *record; /* keyword of the record it came from */
} cand;

typedef struct cands {
    cand c[MAX_CANDS];
    size_t n;
} cands;

/* Runs one importer into a fresh result; keeps it when it recognised
 * something. */
static cand *cand_new(cands *cs)
{
    if (cs->n == MAX_CANDS) return NULL;
    cand *c = &cs->c[cs->n];
    import_result_init(&c->r);
    return c;
}

static void cand_keep(cands *cs, cand *c, int rank, const char *record, int ok)
{
    if (ok && c->r.tool) {
        c->rank = rank;
        c->record = record;
        cs->n++;
    } else {
        import_result_free(&c->r);
    }
}

/* The parameters chunk as JSON: SwarmUI, Fooocus, a HF Space, Easy Diffusion. */
static int json_tools(json_t *j, import_result *r)
{
    /* the most particular shapes first: Fooocus's test is the loosest */
    return import_easydiffusion_json(j, r) || import_hfspace(j, r) || import_swarmui(j, r) || import_fooocus(j, r);
}

static void try_json(cands *cs, const meta_list *l, const char *keyword, int rank,
                     int (*fn)(json_t *, import_result *))
{
    json_t *j = imp_json_object(meta_find(l, keyword));
    if (!j) return;
    cand *c = cand_new(cs);
    if (c) cand_keep(cs, c, rank, keyword, fn(j, &c->r));
    json_decref(j);
}

static void try_list(cands *cs, const meta_list *l, const char *record, int rank,
                     int (*fn)(const meta_list *, import_result *))
{
    cand *c = cand_new(cs);
    if (c) cand_keep(cs, c, rank, record, fn(l, &c->r));
}

static int comfy_graph(json_t *j, import_result *r) { return is_comfy_graph(j) && import_comfy(j, r); }

/* Only the editor's workflow (no `prompt` graph): converted, then read as
 * a graph. */
static int comfy_workflow(json_t *j, import_result *r)
{
    json_t *g = comfy_workflow_to_api(j);
    int ok = g && import_comfy(g, r);
    json_decref(g);
    if (ok) json_object_set_new(r->ext, "from_workflow", json_true());
    return ok;
}

static void try_novelai(cands *cs, const meta_list *l)
{
    json_t *j = imp_json_object(meta_find(l, "Comment"));
    if (!j) return;
    const meta_text *sw = meta_find(l, "Software");
    int is = (sw && strstr(sw->text, "NovelAI")) || json_object_get(j, "uc") || json_object_get(j, "v4_prompt");
    cand *c = is ? cand_new(cs) : NULL;
    if (c) cand_keep(cs, c, RANK_OWN, "Comment", import_novelai(j, l, &c->r));
    json_decref(j);
}

/* EXIF strings: UserComment holding A1111 text or JSON (ComfyUI savers
 * write {"prompt": graph, "workflow": ...}; "prompt:{...}" in Make/Model is
 * ComfyUI's own WebP saver). */
static void try_exif(cands *cs, const meta_list *l)
{
    for (size_t i = 0; i < l->count; i++) {
        const meta_text *t = &l->items[i];
        if (strncmp(t->type, "exif-", 5)) continue;
        const char *s = t->text;
        if (!strncasecmp(s, "prompt:", 7)) s += 7;
        while (*s == ' ' || *s == '\n') s++;
        cand *c = cand_new(cs);
        if (!c) return;
        if (*s == '{') {
            json_t *x = rf_json_loadb(s, strlen(s), 0, RF_JSON_STRICT, NULL);
            json_t *g = json_object_get(x, "prompt");
            int ok = 0, rank = RANK_OWN;
            if (!json_is_object(x)) ok = 0;
            else if (json_is_object(g) && is_comfy_graph(g)) ok = import_comfy(g, &c->r), rank = RANK_GRAPH;
            else if (is_comfy_graph(x)) ok = import_comfy(x, &c->r), rank = RANK_GRAPH;
            else ok = json_tools(x, &c->r);
            json_decref(x);
            cand_keep(cs, c, rank, t->keyword, ok);
        } else {
            cand_keep(cs, c, RANK_TEXT, t->keyword, !strcmp(t->type, "exif-usercomment") && import_a1111(t->text, &c->r));
        }
    }
}

/* A saver's placeholder for an input it was not given. */
static int placeholder(json_t *v)
{
    const char *s = json_string_value(v);
    return s && (!*s || !strcasecmp(s, "unknown") || !strcasecmp(s, "undefined") || !strcasecmp(s, "none"));
}

/* Whether two records disagree on what both say about the prompts or the
 * settings: then the other one describes something else (a placeholder, a
 * later pass) and nothing is taken from it.  Model names are not compared:
 * TensorArt's graph names its models by id ("EMS-123-EMS"). */
static int disagree(json_t *a, json_t *b)
{
    static const char *const mk[] = {"prompt", "negative_prompt"};
    for (size_t k = 0; k < 2; k++) {
        json_t *x = json_object_get(a, mk[k]), *y = json_object_get(b, mk[k]);
        if (x && y && !json_equal(x, y)) return 1;
    }
    json_t *ga = json_object_get(a, "generation_settings"), *gb = json_object_get(b, "generation_settings");
    const char *k;
    json_t *x;
    json_object_foreach(ga, k, x)
    {
        json_t *y = json_object_get(gb, k);
        if (!y) continue;
        if (json_is_number(x) && json_is_number(y) ? json_number_value(x) != json_number_value(y) : !json_equal(x, y))
            return 1;
    }
    return 0;
}

/* Members of `from` that `to` lacks, copied; each noted in `filled`. */
static void fill(json_t *to, json_t *from, const char *prefix, const char *record, json_t *filled)
{
    const char *k;
    json_t *v;
    json_object_foreach(from, k, v)
    {
        if (json_object_get(to, k) || placeholder(v)) continue;
        json_object_set(to, k, v);
        char path[128];
        snprintf(path, sizeof path, "%s%s", prefix, k);
        json_object_set_new(filled, path, json_string(record));
    }
}

int import_detect(const meta_list *l, import_result *r)
{
    cands cs = {.n = 0};
    try_json(&cs, l, "parameters", RANK_OWN, json_tools);
    try_list(&cs, l, "parameters-json", RANK_OWN, import_stability_matrix);
    try_list(&cs, l, "generation_data", RANK_OWN, import_tensorart);
    try_json(&cs, l, "invokeai_metadata", RANK_OWN, import_invokeai);
    try_novelai(&cs, l);
    try_list(&cs, l, "use_stable_diffusion_model", RANK_OWN, import_easydiffusion_chunks);
    try_list(&cs, l, "XML:com.adobe.xmp", RANK_OWN, import_drawthings);
    try_json(&cs, l, "prompt", RANK_GRAPH, comfy_graph);
    if (!meta_find(l, "prompt")) try_json(&cs, l, "workflow", RANK_GRAPH, comfy_workflow);
    const meta_text *params = meta_find(l, "parameters");
    if (params) {
        cand *c = cand_new(&cs);
        if (c) cand_keep(&cs, c, RANK_TEXT, "parameters", import_a1111(params->text, &c->r));
    }
    try_exif(&cs, l);
    if (!cs.n) return 0;

    /* the winner: lowest rank, the first listed among equals */
    size_t best = 0;
    for (size_t i = 1; i < cs.n; i++)
        if (cs.c[i].rank < cs.c[best].rank) best = i;
    import_result_free(r);
    *r = cs.c[best].r;
    json_object_set_new(r->ext, "record", json_string(cs.c[best].record));
    json_t *others = json_array(), *filled = json_object();
    for (int rank = RANK_OWN; rank <= RANK_TEXT; rank += 10) {
        for (size_t i = 0; i < cs.n; i++) {
            cand *c = &cs.c[i];
            if (i == best || c->rank != rank) continue;
            json_array_append_new(others, json_pack("{s:s,s:s}", "record", c->record, "tool", c->r.tool));
            /* Hires/upscale details and the VAE, which the winner may not
             * carry (Stability Matrix keeps hires sizes only in its text,
             * whose sampler is spelt differently from its JSON's). */
            static const char *const ext_keys[] = {"hires", "vae", "vae_hash"};
            for (size_t k = 0; k < sizeof ext_keys / sizeof ext_keys[0]; k++) {
                json_t *v = json_object_get(c->r.ext, ext_keys[k]);
                if (v && !placeholder(v) && !json_object_get(r->ext, ext_keys[k])) json_object_set(r->ext, ext_keys[k], v);
            }
            if (disagree(r->model_info, c->r.model_info)) continue;
            json_t *gs_to = json_object_get(r->model_info, "generation_settings");
            json_t *gs_from = json_object_get(c->r.model_info, "generation_settings");
            if (gs_from && !gs_to) {
                json_object_set_new(r->model_info, "generation_settings", gs_to = json_object());
            }
            if (gs_from) fill(gs_to, gs_from, "generation_settings/", c->record, filled);
            fill(r->model_info, c->r.model_info, "", c->record, filled);
        }
    }
    for (size_t i = 0; i < cs.n; i++)
        if (i != best) import_result_free(&cs.c[i].r);
    if (json_array_size(others)) json_object_set(r->ext, "other_records", others);
    if (json_object_size(filled)) json_object_set(r->ext, "filled_from", filled);
    json_decref(others);
    json_decref(filled);
    return 1;
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
