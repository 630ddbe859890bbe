/*
 * import_result.c -- the record an importer builds: the helpers every tool
 * mapper (A1111, ComfyUI, InvokeAI, ...) uses to put values into the
 * schema's fields, with the schema's ranges enforced, so that a value out
 * of range is kept as unmapped with a note instead of failing the import.
 */
#include "interop.h"
#include "../jsonnum.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------- */
/* Mapping helpers                                                         */
/* ---------------------------------------------------------------------- */

void import_result_init(import_result *r)
{
    r->model_info = json_object();
    r->ext = json_object();
    r->tool = NULL;
}

void import_result_free(import_result *r)
{
    json_decref(r->model_info);
    json_decref(r->ext);
    r->model_info = r->ext = NULL;
}

static json_t *gs(import_result *r)
{
    json_t *g = json_object_get(r->model_info, "generation_settings");
    if (!g) {
        g = json_object();
        json_object_set_new(r->model_info, "generation_settings", g);
    }
    return g;
}

void imp_note(import_result *r, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    json_t *n = json_object_get(r->ext, "notes");
    if (!n) {
        n = json_array();
        json_object_set_new(r->ext, "notes", n);
    }
    json_array_append_new(n, json_string(buf));
}

void imp_unmapped(import_result *r, const char *key, json_t *value)
{
    if (!value) return;
    json_t *u = json_object_get(r->ext, "unmapped");
    if (!u) {
        u = json_object();
        json_object_set_new(r->ext, "unmapped", u);
    }
    json_object_set_new(u, key, value);
}

void imp_set_str(import_result *r, const char *key, const char *value)
{
    if (value && *value) json_object_set_new(r->model_info, key, json_string(value));
}

void imp_set_gs_str(import_result *r, const char *key, const char *value)
{
    if (value && *value) json_object_set_new(gs(r), key, json_string(value));
}

void imp_set_gs_int(import_result *r, const char *key, long long v, long long min, const char *src)
{
    if (v < min) {
        imp_note(r, "%s %lld is outside the schema's range for generation_settings/%s (>= %lld); kept in unmapped only",
                 src, v, key, min);
        imp_unmapped(r, src, json_integer(v));
        return;
    }
    json_object_set_new(gs(r), key, json_integer(v));
}

int imp_set_gs_int_text(import_result *r, const char *key, const char *text, long long min, const char *src)
{
    if (!text) return -1;
    size_t n = strlen(text);
    while (n && text[n - 1] == ' ') n--;
    const char *d = text + (text[0] == '-');
    size_t nd = n - (size_t)(d - text);
    if (!nd || nd > 64) return -1;
    for (size_t i = 0; i < nd; i++)
        if (d[i] < '0' || d[i] > '9') return -1;
    char lit[72];
    memcpy(lit, text, n);
    lit[n] = '\0';
    /* Beyond long long: the exact digits as a wide integer, when it fits 64 bits unsigned. */
    errno = 0;
    long long v = strtoll(lit, NULL, 10);
    if (errno != ERANGE) {
        imp_set_gs_int(r, key, v, min, src);
        return 0;
    }
    errno = 0;
    unsigned long long u = text[0] == '-' ? 0 : strtoull(lit, NULL, 10);
    if (text[0] == '-' || errno == ERANGE) {
        imp_note(r, "%s %s is outside the schema's range for generation_settings/%s (%lld to 2^64-1); kept in unmapped only",
                 src, lit, key, min);
        imp_unmapped(r, src, json_string(lit));
        return 0;
    }
    json_t *w = raiiaf_json_from_uint64(u);
    if (w) json_object_set_new(gs(r), key, w);
    return 0;
}

int imp_set_gs_int_json(import_result *r, const char *key, json_t *v, long long min, const char *src)
{
    if (json_is_integer(v)) {
        imp_set_gs_int(r, key, json_integer_value(v), min, src);
        return 0;
    }
    const char *w = rf_json_wide_text(v);
    if (w) return imp_set_gs_int_text(r, key, w, min, src);
    if (!rf_json_is_text(v)) return -1;
    const char *s = json_string_value(v);
    while (*s == ' ') s++;
    return imp_set_gs_int_text(r, key, s, min, src);
}

void imp_set_gs_num(import_result *r, const char *key, double v, double min, double max, const char *src)
{
    if (!isfinite(v) || v < min || v > max) {
        imp_note(r, "%s %g is outside the schema's range for generation_settings/%s; kept in unmapped only", src, v, key);
        imp_unmapped(r, src, json_real(v));
        return;
    }
    json_object_set_new(gs(r), key, json_real(v));
}

void imp_add_adapter(import_result *r, const char *name, const char *type, int has_weight, double weight,
                     const char *hash)
{
    if (!name || !*name) return;
    json_t *a = json_object_get(r->model_info, "adapters");
    if (!a) {
        a = json_array();
        json_object_set_new(r->model_info, "adapters", a);
    }
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(name));
    if (type) json_object_set_new(o, "type", json_string(type));
    if (has_weight && isfinite(weight)) json_object_set_new(o, "weight", json_real(weight));
    if (hash && *hash) json_object_set_new(o, "hash", json_string(hash));
    json_array_append_new(a, o);
}

void imp_set_model(import_result *r, const char *name)
{
    if (!name || !*name) return;
    static const char *const exts[] = {".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft"};
    size_t n = strlen(name);
    for (size_t k = 0; k < sizeof exts / sizeof exts[0]; k++) {
        size_t e = strlen(exts[k]);
        if (n > e && !strcasecmp(name + n - e, exts[k])) {
            n -= e;
            break;
        }
    }
    json_object_set_new(r->model_info, "model_name", json_stringn(name, n));
}

static int all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i])) return 0;
    return 1;
}

void imp_set_model_hash(import_result *r, const char *hash)
{
    if (!hash || !*hash) return;
    const char *h = hash;
    if (h[0] == '0' && (h[1] == 'x' || h[1] == 'X')) h += 2;
    size_t n = strlen(h);
    char buf[96];
    if ((n == 64 || n == 10 || n == 8) && all_hex(h, n)) {
        snprintf(buf, sizeof buf, "%s:", n == 64 ? "sha256" : n == 10 ? "autov2" : "autov1");
        size_t p = strlen(buf);
        for (size_t i = 0; i < n; i++) buf[p++] = (char)tolower((unsigned char)h[i]);
        buf[p] = '\0';
        json_object_set_new(r->model_info, "model_hash", json_string(buf));
    } else {
        json_object_set_new(r->model_info, "model_hash", json_string(hash));
    }
}


/* ---------------------------------------------------------------------- */
/* Reading JSON-speaking generators' values                                */
/* ---------------------------------------------------------------------- */

const char *imp_jstr(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

int imp_jnum(json_t *x, double *v)
{
    if (json_is_number(x)) {
        *v = json_number_value(x);
        return 0;
    }
    if (json_is_string(x)) {
        const char *s = json_string_value(x);
        char *end;
        *v = strtod(s, &end);
        while (*end == ' ') end++;
        return *s && !*end && isfinite(*v) ? 0 : -1;
    }
    return -1;
}

/* An integer exactly: a JSON integer, or a string of digits (Fooocus and
 * TensorArt write seeds as strings, often above 2^53, so never through a
 * double). */
int imp_jint(json_t *x, long long *v)
{
    if (json_is_integer(x)) {
        *v = (long long)json_integer_value(x);
        return 0;
    }
    if (json_is_real(x)) {
        double d = json_real_value(x);
        if (d != floor(d) || fabs(d) > 9.0e15) return -1;
        *v = (long long)d;
        return 0;
    }
    if (json_is_string(x)) {
        const char *s = json_string_value(x);
        while (*s == ' ') s++;
        char *end;
        errno = 0;
        *v = strtoll(s, &end, 10);
        while (*end == ' ') end++;
        return end != s && !*end && errno == 0 ? 0 : -1;
    }
    return -1;
}

void imp_gs_int(import_result *r, json_t *o, const char *k, const char *field, long long min)
{
    json_t *x = json_object_get(o, k);
    long long v;
    /* Exact first (integers and digit strings up to 2^64-1), then a whole real such as 20.0. */
    if (x && imp_set_gs_int_json(r, field, x, min, k) && !imp_jint(x, &v)) imp_set_gs_int(r, field, v, min, k);
}

void imp_gs_num(import_result *r, json_t *o, const char *k, const char *field, double min, double max)
{
    double v;
    if (!imp_jnum(json_object_get(o, k), &v)) imp_set_gs_num(r, field, v, min, max, k);
}

void imp_set_size(import_result *r, const char *s, const char *src)
{
    /* "1024x1024", "832 x 1216", "(1024, 1024)", "1024*1024" */
    if (!s) return;
    while (*s == '(' || *s == ' ') s++;
    char *end;
    long long w = strtoll(s, &end, 10);
    if (end == s) return;
    while (*end == ' ') end++;
    if (*end != 'x' && *end != 'X' && *end != ',' && *end != '*' && strncmp(end, "\xc3\x97", 2)) return;
    end += strncmp(end, "\xc3\x97", 2) ? 1 : 2;
    const char *p = end;
    long long h = strtoll(p, &end, 10);
    if (end == p || w < 1 || h < 1) return;
    imp_set_gs_int(r, "width", w, 1, src);
    imp_set_gs_int(r, "height", h, 1, src);
}

const char *import_family(const char *tool)
{
    static const char *const map[][2] = {
        {"AUTOMATIC1111", "AUTOMATIC1111"}, {"Forge", "AUTOMATIC1111"},     {"Forge Neo", "AUTOMATIC1111"},
        {"Forge Classic", "AUTOMATIC1111"}, {"reForge", "AUTOMATIC1111"},   {"SD.Next", "AUTOMATIC1111"},
        {"ComfyUI", "ComfyUI"},             {"TensorArt", "ComfyUI"},       {"Stability Matrix", "ComfyUI"},
        {"SwarmUI", "SwarmUI"},             {"InvokeAI", "InvokeAI"},       {"NovelAI", "NovelAI"},
        {"Fooocus", "Fooocus"},             {"RuinedFooocus", "Fooocus"},   {"Easy Diffusion", "Easy Diffusion"},
        {"Draw Things", "Draw Things"},     {"Hugging Face Space", "Diffusers"},
    };
    if (!tool) return NULL;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(map[i][0], tool)) return map[i][1];
    return tool; /* a tool not listed is its own family */
}

void imp_set_family(import_result *r, const char *family)
{
    if (family) json_object_set_new(r->ext, "family", json_string(family));
}

json_t *imp_json_object(const meta_text *t)
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
