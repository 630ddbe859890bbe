/*
 * import_invoke.c -- InvokeAI's records other than `invokeai_metadata`:
 *
 *   `sd-metadata` (2.x) JSON: {"model_weights"|"model_id", "model_hash",
 *       "app_version", "image": {"prompt": TEXT or [{"prompt", "weight"}],
 *       "seed", "steps", "cfg_scale", "sampler", "width", "height",
 *       "strength", ...}}
 *   `Dream` (1.x-2.x) command line: "PROMPT" -s STEPS -S SEED -W W -H H
 *       -C CFG -A SAMPLER [-f STRENGTH] [-I INIT] [...], the prompt in
 *       double quotes with \" and \\ escaped
 *   `invokeai_graph` (3.x-5.x): the graph whose "core_metadata" (or 3.0's
 *       "metadata_accumulator") node holds the invokeai_metadata fields.
 */
#include "interop.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *jstr(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static void num(import_result *r, json_t *v, const char *field, double min, double max, const char *src)
{
    if (json_is_number(v)) imp_set_gs_num(r, field, json_number_value(v), min, max, src);
}

int import_invoke_sdmeta(json_t *j, import_result *r)
{
    json_t *img = json_object_get(j, "image");
    if (!json_is_object(j) || !json_is_object(img)) return 0;
    json_t *p = json_object_get(img, "prompt");
    if (json_is_string(p)) imp_set_str(r, "prompt", json_string_value(p));
    else if (json_is_array(p) && json_array_size(p) == 1) imp_set_str(r, "prompt", jstr(json_array_get(p, 0), "prompt"));
    else if (json_is_array(p) && json_array_size(p) > 1) {
        imp_note(r, "sd-metadata holds a blend of %zu weighted prompts; kept in unmapped", json_array_size(p));
        imp_unmapped(r, "prompt", json_incref(p));
    }
    imp_gs_int(r, img, "seed", "seed", 0);
    imp_gs_int(r, img, "steps", "steps", 1);
    num(r, json_object_get(img, "cfg_scale"), "cfg_scale", 0, INFINITY, "cfg_scale");
    imp_set_gs_str(r, "sampler", jstr(img, "sampler"));
    imp_gs_int(r, img, "width", "width", 1);
    imp_gs_int(r, img, "height", "height", 1);
    num(r, json_object_get(img, "strength"), "denoising_strength", 0, 1, "strength");
    const char *model = jstr(j, "model_weights") ? jstr(j, "model_weights") : jstr(j, "model_id");
    imp_set_model(r, model);
    imp_set_model_hash(r, jstr(j, "model_hash"));
    if (jstr(j, "app_version")) json_object_set_new(r->ext, "tool_version", json_string(jstr(j, "app_version")));
    const char *skip[] = {"prompt", "seed", "steps", "cfg_scale", "sampler", "width", "height", "strength"};
    const char *k;
    json_t *v;
    json_object_foreach(img, k, v)
    {
        size_t i;
        for (i = 0; i < sizeof skip / sizeof skip[0] && strcmp(k, skip[i]); i++) {}
        if (i == sizeof skip / sizeof skip[0] && !json_is_null(v)) imp_unmapped(r, k, json_incref(v));
    }
    r->tool = "InvokeAI";
    imp_set_family(r, "InvokeAI");
    return 1;
}

/* The next shell-like word of a Dream line: a double-quoted string (with
 * \" and \\) or a run of non-blanks.  Returns a malloc'd word or NULL at
 * the end (or when the quote never closes). */
static char *word(const char **pp)
{
    const char *p = *pp;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    if (!*p) return NULL;
    char *w = malloc(strlen(p) + 1);
    if (!w) return NULL;
    size_t n = 0;
    if (*p == '"') {
        for (p++; *p && *p != '"'; p++) {
            if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) p++;
            w[n++] = *p;
        }
        if (*p != '"') {
            free(w);
            return NULL;
        }
        p++;
    } else {
        while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') w[n++] = *p++;
    }
    w[n] = '\0';
    *pp = p;
    return w;
}

static int to_ll(const char *s, long long *v)
{
    char *end;
    errno = 0;
    *v = strtoll(s, &end, 10);
    return *s && !*end && !errno ? 0 : -1;
}

static int to_d(const char *s, double *v)
{
    char *end;
    *v = strtod(s, &end);
    return *s && !*end && isfinite(*v) ? 0 : -1;
}

int import_invoke_dream(const char *text, import_result *r)
{
    const char *p = text;
    while (*p == ' ' || *p == '\n') p++;
    if (*p != '"') return 0;
    char *prompt = word(&p);
    if (!prompt) return 0;
    json_t *flags = json_object();
    int known = 0;
    char *w;
    while ((w = word(&p))) {
        if (w[0] != '-' || !w[1]) {
            free(w);
            continue;
        }
        /* a flag with a value, unless the next word is another flag */
        const char *save = p;
        char *val = word(&p);
        if (val && val[0] == '-' && val[1] && !(val[1] >= '0' && val[1] <= '9') && val[1] != '.') {
            free(val);
            val = NULL;
            p = save;
        }
        long long iv;
        double dv;
        const char *f = w;
        if (val && (!strcmp(f, "-s") || !strcmp(f, "--steps")) && !to_ll(val, &iv)) imp_set_gs_int(r, "steps", iv, 1, f), known++;
        else if (val && (!strcmp(f, "-S") || !strcmp(f, "--seed")) && !to_ll(val, &iv)) imp_set_gs_int(r, "seed", iv, 0, f), known++;
        else if (val && (!strcmp(f, "-W") || !strcmp(f, "--width")) && !to_ll(val, &iv)) imp_set_gs_int(r, "width", iv, 1, f), known++;
        else if (val && (!strcmp(f, "-H") || !strcmp(f, "--height")) && !to_ll(val, &iv)) imp_set_gs_int(r, "height", iv, 1, f), known++;
        else if (val && (!strcmp(f, "-C") || !strcmp(f, "--cfg_scale")) && !to_d(val, &dv))
            imp_set_gs_num(r, "cfg_scale", dv, 0, INFINITY, f), known++;
        else if (val && (!strcmp(f, "-A") || !strcmp(f, "--sampler"))) imp_set_gs_str(r, "sampler", val), known++;
        else if (val && (!strcmp(f, "-f") || !strcmp(f, "--strength")) && !to_d(val, &dv))
            imp_set_gs_num(r, "denoising_strength", dv, 0, 1, f);
        else json_object_set_new(flags, f, val ? json_string(val) : json_true());
        free(w);
        free(val);
    }
    if (!known) {
        json_decref(flags);
        free(prompt);
        return 0;
    }
    imp_set_str(r, "prompt", prompt);
    free(prompt);
    if (json_object_size(flags)) imp_unmapped(r, "dream_flags", flags);
    else json_decref(flags);
    r->tool = "InvokeAI";
    imp_set_family(r, "InvokeAI");
    return 1;
}

int import_invoke_graph(json_t *g, import_result *r)
{
    json_t *nodes = json_object_get(g, "nodes");
    const char *k;
    json_t *n;
    size_t i;
    json_t *meta = NULL;
    if (json_is_object(nodes)) {
        json_object_foreach(nodes, k, n)
        {
            const char *t = jstr(n, "type");
            if (t && (!strcmp(t, "core_metadata") || !strcmp(t, "metadata_accumulator"))) meta = n;
        }
    } else if (json_is_array(nodes)) {
        json_array_foreach(nodes, i, n)
        {
            const char *t = jstr(n, "type");
            if (t && (!strcmp(t, "core_metadata") || !strcmp(t, "metadata_accumulator"))) meta = n;
        }
    }
    if (!meta || !import_invokeai(meta, r)) return 0;
    imp_gs_int(r, meta, "seed", "seed", 0);
    imp_note(r, "settings read from the invokeai_graph's %s node", jstr(meta, "type"));
    imp_set_family(r, "InvokeAI");
    return 1;
}
