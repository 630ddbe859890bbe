/*
 * import_comfy_workflow.c -- a ComfyUI `workflow` (the editor's format:
 * nodes with positional widgets_values, a links table, subgraphs under
 * definitions.subgraphs) turned into the API graph import_comfy() reads,
 * for images that carry the workflow but no `prompt` graph.
 *
 * Links are [id, origin_id, origin_slot, target_id, target_slot, type]
 * arrays (or {id, origin_id, ...} objects, as inside subgraphs).  A
 * subgraph instance is a node whose type is a subgraph's id; its inner
 * nodes become "INSTANCE:INNER" (the ids ComfyUI gives them when it
 * flattens the graph to run it); inside, origin -10 is the instance's input
 * of that slot and target -20 its output.  Widget values are named by the
 * node's inputs that carry a "widget" (the current editor lists them all, in
 * order); for older workflows the core nodes' widget order is known here.
 * A "control_after_generate" value ("fixed", "randomize", ...) follows a
 * seed and is skipped.  Everything is bounded: nesting depth, nodes, and
 * each link lookup.
 */
#include "interop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WF_MAX_DEPTH 8
#define WF_MAX_NODES 4096

typedef struct scope {
    json_t *nodes, *links, *defs;
    char prefix[160];
    json_t *inst;              /* the instance node in the parent scope (NULL at top) */
    const struct scope *parent;
    int depth;
    size_t *work; /* link entries still allowed to be looked at, all scopes together */
} scope;

/* A hostile workflow (huge link tables, subgraphs instancing each other)
 * must not make the conversion slow: it stops when this much is spent. */
#define WF_MAX_WORK ((size_t)4 << 20)

static long long num(json_t *v) { return json_is_integer(v) ? (long long)json_integer_value(v) : -999999; }

/* origin/target of a link given as an array or an object */
static int link_parts(json_t *lk, long long *id, long long *on, long long *os, long long *tn, long long *ts)
{
    if (json_is_array(lk) && json_array_size(lk) >= 5) {
        *id = num(json_array_get(lk, 0)), *on = num(json_array_get(lk, 1)), *os = num(json_array_get(lk, 2));
        *tn = num(json_array_get(lk, 3)), *ts = num(json_array_get(lk, 4));
        return 0;
    }
    if (json_is_object(lk)) {
        *id = num(json_object_get(lk, "id")), *on = num(json_object_get(lk, "origin_id"));
        *os = num(json_object_get(lk, "origin_slot")), *tn = num(json_object_get(lk, "target_id"));
        *ts = num(json_object_get(lk, "target_slot"));
        return 0;
    }
    return -1;
}

static json_t *node_by_id(json_t *nodes, long long id)
{
    size_t i;
    json_t *n;
    json_array_foreach(nodes, i, n) if (num(json_object_get(n, "id")) == id) return n;
    return NULL;
}

static json_t *subgraph_of(json_t *defs, json_t *node)
{
    const char *type = json_string_value(json_object_get(node, "type"));
    size_t i;
    json_t *sg;
    if (!type) return NULL;
    json_array_foreach(json_object_get(defs, "subgraphs"), i, sg)
    {
        const char *id = json_string_value(json_object_get(sg, "id"));
        if (id && !strcmp(id, type)) return sg;
    }
    return NULL;
}

static void inner_scope(const scope *sc, json_t *inst, json_t *sg, scope *out)
{
    out->nodes = json_object_get(sg, "nodes");
    out->links = json_object_get(sg, "links");
    out->defs = sc->defs;
    int n = snprintf(out->prefix, sizeof out->prefix, "%s%lld:", sc->prefix, num(json_object_get(inst, "id")));
    out->inst = inst;
    out->parent = sc;
    /* an id too long for the prefix ends the descent like too deep a nesting */
    out->depth = n < 0 || (size_t)n >= sizeof out->prefix ? WF_MAX_DEPTH + 1 : sc->depth + 1;
    out->work = sc->work;
}

/* Where the value arriving over link `link_id` in scope `sc` comes from:
 * a node id (flattened) and its output slot.  0 on success. */
static int origin_of(const scope *sc, long long link_id, char *id, size_t idsize, long long *slot, int hops)
{
    if (hops > 64 || sc->depth > WF_MAX_DEPTH) return -1;
    size_t i;
    json_t *lk;
    json_array_foreach(sc->links, i, lk)
    {
        if (!*sc->work) return -1;
        --*sc->work;
        long long lid, on, os, tn, ts;
        if (link_parts(lk, &lid, &on, &os, &tn, &ts) || lid != link_id) continue;
        if (on == -10) { /* the subgraph's input `os`: follow the instance's input outside */
            if (!sc->parent || !sc->inst) return -1;
            json_t *in = json_array_get(json_object_get(sc->inst, "inputs"), (size_t)os);
            json_t *outer = json_object_get(in, "link");
            if (!json_is_integer(outer)) return -1;
            return origin_of(sc->parent, json_integer_value(outer), id, idsize, slot, hops + 1);
        }
        json_t *n = node_by_id(sc->nodes, on);
        json_t *sg = n ? subgraph_of(sc->defs, n) : NULL;
        if (sg) { /* an instance's output `os`: what feeds the subgraph's output inside */
            scope in;
            inner_scope(sc, n, sg, &in);
            if (in.depth > WF_MAX_DEPTH) return -1;
            size_t k;
            json_t *ilk;
            json_array_foreach(in.links, k, ilk)
            {
                if (!*sc->work) return -1;
                --*sc->work;
                long long a, b, c, d, e;
                if (!link_parts(ilk, &a, &b, &c, &d, &e) && d == -20 && e == os)
                    return origin_of(&in, a, id, idsize, slot, hops + 1);
            }
            return -1;
        }
        snprintf(id, idsize, "%s%lld", sc->prefix, on);
        *slot = os;
        return 0;
    }
    return -1;
}

/* Widget names of core nodes, for workflows whose inputs do not list them. */
static const char *const *known_widgets(const char *type)
{
    static const char *const ks[] = {"seed", "steps", "cfg", "sampler_name", "scheduler", "denoise", NULL};
    static const char *const ksa[] = {"add_noise", "noise_seed", "steps", "cfg", "sampler_name", "scheduler",
                                      "start_at_step", "end_at_step", "return_with_leftover_noise", NULL};
    static const char *const text[] = {"text", NULL};
    static const char *const ckpt[] = {"ckpt_name", NULL};
    static const char *const empty[] = {"width", "height", "batch_size", NULL};
    static const char *const lora[] = {"lora_name", "strength_model", "strength_clip", NULL};
    static const char *const clip[] = {"stop_at_clip_layer", NULL};
    static const char *const upby[] = {"upscale_method", "scale_by", NULL};
    static const char *const up[] = {"upscale_method", "width", "height", "crop", NULL};
    static const char *const area[] = {"width", "height", "x", "y", "strength", NULL};
    static const char *const prim[] = {"value", NULL};
    static const char *const unet[] = {"unet_name", "weight_dtype", NULL};
    static const char *const noise[] = {"noise_seed", NULL};
    static const char *const bsched[] = {"scheduler", "steps", "denoise", NULL};
    static const char *const ksel[] = {"sampler_name", NULL};
    static const char *const guider[] = {"cfg", NULL};
    static const struct {
        const char *type;
        const char *const *w;
    } t[] = {{"KSampler", ks},          {"KSamplerAdvanced", ksa}, {"CLIPTextEncode", text},
             {"CheckpointLoaderSimple", ckpt}, {"EmptyLatentImage", empty}, {"EmptySD3LatentImage", empty},
             {"LoraLoader", lora},      {"CLIPSetLastLayer", clip}, {"LatentUpscaleBy", upby},
             {"LatentUpscale", up},     {"ConditioningSetArea", area}, {"PrimitiveNode", prim},
             {"UNETLoader", unet},      {"RandomNoise", noise},    {"BasicScheduler", bsched},
             {"KSamplerSelect", ksel},  {"CFGGuider", guider}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(t[i].type, type)) return t[i].w;
    return NULL;
}

static int is_control(json_t *v)
{
    const char *s = json_string_value(v);
    return s && (!strcmp(s, "fixed") || !strcmp(s, "randomize") || !strcmp(s, "increment") || !strcmp(s, "decrement"));
}

static void emit(const scope *sc, json_t *api, size_t *count);

static void emit_node(const scope *sc, json_t *n, json_t *api, size_t *count)
{
    const char *type = json_string_value(json_object_get(n, "type"));
    long long mode = num(json_object_get(n, "mode"));
    if (!type || mode == 2 || mode == 4) return; /* muted or bypassed: it did not run */
    if (*count >= WF_MAX_NODES || !*sc->work) return;
    ++*count;
    json_t *sg = subgraph_of(sc->defs, n);
    if (sg) {
        scope in;
        inner_scope(sc, n, sg, &in);
        if (in.depth <= WF_MAX_DEPTH) emit(&in, api, count);
        return;
    }
    json_t *inputs = json_object();
    json_t *names = json_array();
    size_t i;
    json_t *in;
    json_array_foreach(json_object_get(n, "inputs"), i, in)
    {
        if (!*sc->work) break;
        --*sc->work;
        const char *name = json_string_value(json_object_get(in, "name"));
        json_t *w = json_object_get(in, "widget");
        const char *wname = json_string_value(json_object_get(w, "name"));
        if (wname) json_array_append_new(names, json_string(wname));
        json_t *link = json_object_get(in, "link");
        char id[192];
        long long slot;
        if (name && json_is_integer(link) && !origin_of(sc, json_integer_value(link), id, sizeof id, &slot, 0))
            json_object_set_new(inputs, wname ? wname : name, json_pack("[s,I]", id, (json_int_t)slot));
    }
    json_t *wv = json_object_get(n, "widgets_values");
    if (json_is_object(wv)) {
        const char *k;
        json_t *v;
        json_object_foreach(wv, k, v) if (!json_object_get(inputs, k)) json_object_set(inputs, k, v);
    } else if (json_is_array(wv)) {
        const char *const *known = json_array_size(names) ? NULL : known_widgets(type);
        size_t vi = 0;
        for (size_t k = 0;; k++) {
            const char *name = known ? known[k] : json_string_value(json_array_get(names, k));
            if (!name || vi >= json_array_size(wv)) break;
            json_t *v = json_array_get(wv, vi++);
            if (is_control(json_array_get(wv, vi)) && (strstr(name, "seed") || !strcmp(name, "value"))) vi++;
            if (!json_object_get(inputs, name)) json_object_set(inputs, name, v);
        }
    }
    json_decref(names);
    char id[192];
    snprintf(id, sizeof id, "%s%lld", sc->prefix, num(json_object_get(n, "id")));
    json_object_set_new(api, id, json_pack("{s:s,s:o}", "class_type", type, "inputs", inputs));
}

static void emit(const scope *sc, json_t *api, size_t *count)
{
    size_t i;
    json_t *n;
    json_array_foreach(sc->nodes, i, n) emit_node(sc, n, api, count);
}

json_t *comfy_workflow_to_api(json_t *wf)
{
    if (!json_is_object(wf) || !json_is_array(json_object_get(wf, "nodes"))) return NULL;
    size_t work = WF_MAX_WORK;
    scope top = {.nodes = json_object_get(wf, "nodes"),
                 .links = json_object_get(wf, "links"),
                 .defs = json_object_get(wf, "definitions"),
                 .prefix = "",
                 .inst = NULL,
                 .parent = NULL,
                 .depth = 0,
                 .work = &work};
    json_t *api = json_object();
    size_t count = 0;
    emit(&top, api, &count);
    if (!json_object_size(api)) {
        json_decref(api);
        return NULL;
    }
    return api;
}
