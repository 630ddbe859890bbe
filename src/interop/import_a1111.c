/*
 * import_a1111.c -- the AUTOMATIC1111 `parameters` text (also written by
 * Forge, SD.Next and many others), both ways: parsed into an
 * import_result on import, built from a manifest on export.
 *
 * The grammar, as stable-diffusion-webui parses it (modules/
 * infotext_utils.py):
 *
 *     PROMPT LINES...
 *     Negative prompt: NEGATIVE LINES...        (optional)
 *     Key: value, Key: value, Key: "quoted, value", ...
 *
 * The last line holds the settings: `Key: value` pairs separated by ", ";
 * a value holding a comma, colon or newline is JSON-quoted.  A last line
 * with fewer than 3 pairs is not settings but more prompt.  LoRAs appear in
 * the prompt as <lora:NAME:WEIGHT> and their hashes in `Lora hashes:
 * "NAME: HASH, NAME: HASH"`.  Prompt and negative prompt are taken with
 * surrounding whitespace trimmed (inner line breaks kept).
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
#include <strings.h>

/* ---------------------------------------------------------------------- */
/* Parsing                                                                 */
/* ---------------------------------------------------------------------- */

static int keych(unsigned char c)
{
    return isalnum(c) || c == '_' || c == ' ' || c == '-' || c == '/' || c == '.' || c >= 0x80; /* '.': LoRA names in Lora hashes/weights */
}

/* Setting keys compared as the generators' readers do: letters and digits
 * only, case folded, so "CFG Scale", "cfg_scale" and "CFG scale" agree. */
static int key_is(const char *k, const char *want)
{
    for (;;) {
        while (*k == ' ' || *k == '_' || *k == '-') k++;
        while (*want == ' ' || *want == '_' || *want == '-') want++;
        if (!*k || !*want) return !*k && !*want;
        if (tolower((unsigned char)*k) != tolower((unsigned char)*want)) return 0;
        k++, want++;
    }
}

static int has_key(json_t *pairs, const char *want)
{
    const char *k;
    json_t *v;
    json_object_foreach(pairs, k, v) if (key_is(k, want)) return 1;
    return 0;
}

/* The end of a JSON array or object that opens at p (the byte after its
 * balanced close, strings skipped), or NULL when it does not close. */
static const char *balanced_end(const char *p)
{
    char stack[64];
    size_t depth = 0;
    for (; *p; p++) {
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++)
                if (*p == '\\' && p[1]) p++;
            if (!*p) return NULL;
        } else if (*p == '[' || *p == '{') {
            if (depth == sizeof stack) return NULL;
            stack[depth++] = *p == '[' ? ']' : '}';
        } else if (*p == ']' || *p == '}') {
            if (!depth || stack[--depth] != *p) return NULL;
            if (!depth) return p + 1;
        }
    }
    return NULL;
}

json_t *a1111_parse_pairs(const char *line)
{
    json_t *o = json_object();
    const char *p = line;
    while (*p) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        const char *k0 = p;
        if (!(isalnum((unsigned char)*p) || *p == '_' || (unsigned char)*p >= 0x80)) goto skip;
        while (*p && keych((unsigned char)*p)) p++;
        if (*p != ':') goto skip;
        {
            const char *k1 = p;
            while (k1 > k0 && k1[-1] == ' ') k1--;
            p++;
            while (*p == ' ') p++;
            json_t *val = NULL;
            if (*p == '"') {
                const char *q = p + 1;
                while (*q && *q != '"') q += (*q == '\\' && q[1]) ? 2 : 1;
                if (*q == '"') {
                    json_t *s = json_loadb(p, (size_t)(q - p + 1), JSON_DECODE_ANY, NULL);
                    if (json_is_string(s)) {
                        val = s;
                        p = q + 1;
                    } else json_decref(s);
                }
            }
            if (!val && (*p == '[' || *p == '{')) {
                /* An unquoted JSON value (`Civitai resources: [{...}, {...}]`)
                 * runs to its balanced close, commas and all. */
                const char *end = balanced_end(p);
                if (end) {
                    val = json_stringn(p, (size_t)(end - p));
                    p = end;
                }
            }
            if (!val) {
                const char *v0 = p;
                while (*p && *p != ',') p++;
                const char *v1 = p;
                while (v1 > v0 && (v1[-1] == ' ' || v1[-1] == '\t')) v1--;
                val = json_stringn(v0, (size_t)(v1 - v0));
            }
            char *key = strndup(k0, (size_t)(k1 - k0));
            if (key && val) json_object_set_new(o, key, val);
            else json_decref(val);
            free(key);
            while (*p == ' ') p++;
            if (*p == ',') p++;
            continue;
        }
    skip:
        while (*p && *p != ',') p++;
        if (*p == ',') p++;
    }
    if (json_object_size(o) == 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int parse_ll(const char *s, long long *v)
{
    char *end;
    if (!s || !*s) return -1;
    errno = 0;
    *v = strtoll(s, &end, 10);
    if (errno == ERANGE) return -1; /* not clamped to 2^63-1: imp_set_gs_int_text() takes it exactly */
    while (*end == ' ') end++;
    return *end ? -1 : 0;
}

static int parse_d(const char *s, double *v)
{
    char *end;
    if (!s || !*s) return -1;
    *v = strtod(s, &end);
    while (*end == ' ') end++;
    return *end || !isfinite(*v) ? -1 : 0;
}

/* <lora:NAME:WEIGHT[:...]> and <lyco:...> in a prompt. */
static void prompt_loras(const char *prompt, import_result *r)
{
    const char *p = prompt;
    while ((p = strchr(p, '<'))) {
        const char *q = p + 1;
        int lyco = !strncmp(q, "lyco:", 5);
        if (strncmp(q, "lora:", 5) && !lyco) {
            p++;
            continue;
        }
        q += 5;
        const char *end = strchr(q, '>');
        if (!end) break;
        const char *c = memchr(q, ':', (size_t)(end - q));
        char *name = strndup(q, (size_t)((c ? c : end) - q));
        double w = 1.0;
        if (c) {
            char num[64];
            const char *c2 = memchr(c + 1, ':', (size_t)(end - c - 1));
            size_t l = (size_t)((c2 ? c2 : end) - c - 1);
            if (l < sizeof num) {
                memcpy(num, c + 1, l);
                num[l] = '\0';
                if (parse_d(num, &w)) w = 1.0;
            }
        }
        if (name) imp_add_adapter(r, name, "lora", 1, w, NULL);
        free(name);
        p = end + 1;
    }
}

/* "name: hash, name: hash" -> hashes on the matching adapters (adding
 * adapters that the prompt did not name). */
static void lora_hashes(const char *s, import_result *r)
{
    json_t *pairs = a1111_parse_pairs(s);
    const char *k;
    json_t *v;
    json_object_foreach(pairs, k, v)
    {
        json_t *ads = json_object_get(r->model_info, "adapters");
        size_t i;
        json_t *a;
        int found = 0;
        json_array_foreach(ads, i, a)
        {
            if (!strcmp(json_string_value(json_object_get(a, "name")), k)) {
                json_object_set(a, "hash", v);
                found = 1;
            }
        }
        if (!found) imp_add_adapter(r, k, "lora", 0, 0, json_string_value(v));
    }
    json_decref(pairs);
}

/* "name: weight, ..." (Fooocus's `Lora weights`, and ours for LoRAs a
 * prompt does not name) -> weights on the matching adapters, adding
 * those not yet listed. */
static void lora_weights(const char *s, import_result *r)
{
    /* Our export writes a JSON object when a name holds ',' or ':' (AIR URNs). */
    json_t *obj = *s == '{' ? json_loads(s, 0, NULL) : NULL;
    json_t *pairs = json_is_object(obj) ? obj : a1111_parse_pairs(s);
    if (pairs != obj) json_decref(obj);
    const char *k;
    json_t *v;
    json_object_foreach(pairs, k, v)
    {
        double w;
        if (json_is_number(v)) w = json_number_value(v);
        else if (parse_d(json_string_value(v), &w)) continue;
        json_t *ads = json_object_get(r->model_info, "adapters");
        size_t i;
        json_t *a;
        int found = 0;
        json_array_foreach(ads, i, a)
        {
            if (!strcmp(json_string_value(json_object_get(a, "name")), k)) {
                json_object_set_new(a, "weight", json_real(w));
                found = 1;
            }
        }
        if (!found) imp_add_adapter(r, k, "lora", 1, w, NULL);
    }
    json_decref(pairs);
}

/* The A1111-family tool that wrote the text, told apart the way the
 * forks mark themselves: SD.Next writes `App: SD.Next`; the others keep
 * A1111's `Version:` field with their own tag in front: Forge "f2.0.1v1.10.1-...",
 * old Forge "f0.0.17v1.8.0rc-...", reForge "f1.x.x-v1.10.1RC-..." (a dash
 * before the A1111 version), Forge Classic "classic", Forge Neo "neo",
 * Fooocus in its A1111 scheme "Fooocus v2.5.5", ComfyUI savers "ComfyUI". */
static const char *a1111_tool_name(const char *app, const char *version)
{
    if (app && strstr(app, "SD.Next")) return "SD.Next";
    if (!version) return "AUTOMATIC1111";
    if (!strncasecmp(version, "neo", 3)) return "Forge Neo";
    if (!strncasecmp(version, "classic", 7)) return "Forge Classic";
    if (!strncmp(version, "Fooocus", 7)) return "Fooocus";
    if (!strncmp(version, "RuinedFooocus", 13)) return "RuinedFooocus";
    if (!strncmp(version, "ComfyUI", 7)) return "ComfyUI";
    if (!strncmp(version, "StabilityMatrix", 15) || !strncmp(version, "Stability Matrix", 16)) return "Stability Matrix";
    if (version[0] == 'f' && isdigit((unsigned char)version[1])) {
        const char *v = version + 1;
        while (isdigit((unsigned char)*v) || *v == '.') v++;
        return !strncmp(v, "-v", 2) ? "reForge" : "Forge";
    }
    return "AUTOMATIC1111";
}

int import_a1111(const char *text, import_result *r)
{
    size_t n = strlen(text);
    while (n && isspace((unsigned char)text[n - 1])) n--;
    /* the last line */
    const char *last = text + n;
    while (last > text && last[-1] != '\n') last--;
    char *lastline = strndup(last, (size_t)(text + n - last));
    if (!lastline) return 0;
    json_t *pairs = a1111_parse_pairs(lastline);
    free(lastline);
    if (!pairs || (json_object_size(pairs) < 3 && !has_key(pairs, "Steps"))) {
        json_decref(pairs);
        return 0;
    }
    /* Prompt / negative prompt: everything before the last line, taken
     * verbatim.  A1111 writes them as given (create_infotext: PROMPT
     * "\nNegative prompt: " NEGATIVE "\n" SETTINGS), so only those
     * separators are removed: whitespace at either end is the user's. */
    size_t head = (size_t)(last - text);
    if (head && text[head - 1] == '\n') head--; /* the newline before the settings line */
    if (head && text[head - 1] == '\r') head--;
    const char *neg = NULL;
    for (const char *l = text; l <= text + head;) {
        const char *s = l;
        while (s < text + head && (*s == ' ' || *s == '\t')) s++;
        if ((size_t)(text + head - s) >= 16 && !strncmp(s, "Negative prompt:", 16)) {
            neg = s;
            break;
        }
        const char *nl = memchr(l, '\n', (size_t)(text + head - l));
        if (!nl) break;
        l = nl + 1;
    }
    size_t plen = (size_t)((neg ? neg : text + head) - text);
    if (neg) {
        /* the line break that introduced "Negative prompt:" (and any
         * indentation before it) is not part of the prompt */
        while (plen && (text[plen - 1] == ' ' || text[plen - 1] == '\t')) plen--;
        if (plen && text[plen - 1] == '\n') plen--;
        if (plen && text[plen - 1] == '\r') plen--;
    }
    char *prompt = strndup(text, plen);
    char *negative = NULL;
    if (neg) {
        const char *n0 = neg + 16;
        if (*n0 == ' ') n0++; /* A1111 writes one space after the colon */
        negative = strndup(n0, (size_t)(text + head > n0 ? text + head - n0 : 0));
    }
    if (prompt && *prompt) {
        imp_set_str(r, "prompt", prompt);
        prompt_loras(prompt, r);
    }
    if (negative && *negative) imp_set_str(r, "negative_prompt", negative);
    free(prompt);
    free(negative);
    r->tool = "AUTOMATIC1111";
    json_t *hires = NULL;
    const char *app = NULL, *version = NULL, *raw_prompt = NULL, *raw_negative = NULL;
    const char *k;
    json_t *v;
    json_object_foreach(pairs, k, v)
    {
        const char *s = json_string_value(v);
        long long iv;
        double dv;
        if (key_is(k, "Steps") && !imp_set_gs_int_text(r, "steps", s, 1, "Steps")) { /* exact to 2^64-1 */
        }
        else if (key_is(k, "Sampler")) imp_set_gs_str(r, "sampler", s);
        else if (key_is(k, "Schedule type") || key_is(k, "Scheduler")) imp_set_gs_str(r, "scheduler", s);
        else if (key_is(k, "Raw prompt")) raw_prompt = s;
        else if (key_is(k, "Raw negative prompt")) raw_negative = s;
        else if (key_is(k, "CFG scale") && !parse_d(s, &dv)) imp_set_gs_num(r, "cfg_scale", dv, 0, INFINITY, "CFG scale");
        else if (key_is(k, "Seed") && !parse_ll(s, &iv) && iv < 0) {
            imp_note(r, "Seed %lld (random) is not a seed the schema can hold; kept in unmapped only", iv);
            imp_unmapped(r, "Seed", json_incref(v));
        } else if (key_is(k, "Seed") && !imp_set_gs_int_text(r, "seed", s, 0, "Seed")) { /* exact to 2^64-1 */
        } else if (key_is(k, "Size") && strchr(s, 'x')) {
            long long w, h;
            char *x;
            w = strtoll(s, &x, 10);
            if (*x == 'x' && !parse_ll(x + 1, &h) && w > 0 && h > 0) {
                imp_set_gs_int(r, "width", w, 1, "Size");
                imp_set_gs_int(r, "height", h, 1, "Size");
            } else imp_unmapped(r, k, json_incref(v));
        } else if (key_is(k, "Model hash")) imp_set_model_hash(r, s);
        else if (key_is(k, "Model")) imp_set_model(r, s);
        else if (key_is(k, "Clip skip") && !parse_ll(s, &iv)) imp_set_gs_int(r, "clip_skip", iv, 1, "Clip skip");
        else if (key_is(k, "Denoising strength") && !parse_d(s, &dv))
            imp_set_gs_num(r, "denoising_strength", dv, 0, 1, "Denoising strength");
        else if (key_is(k, "VAE")) json_object_set(r->ext, "vae", v);
        else if (key_is(k, "VAE hash")) json_object_set(r->ext, "vae_hash", v);
        else if (!strncmp(k, "Hires ", 6)) {
            if (!hires) hires = json_object();
            json_object_set(hires, k, v);
        } else if (key_is(k, "Lora hashes")) lora_hashes(s, r);
        else if (key_is(k, "Lora weights")) lora_weights(s, r);
        else if (key_is(k, "Version")) {
            json_object_set(r->ext, "tool_version", v);
            if (!app) version = s;
        } else if (key_is(k, "App")) {
            app = s;
            json_object_set(r->ext, "app", v);
        } else imp_unmapped(r, k, json_incref(v));
    }
    if (hires) json_object_set_new(r->ext, "hires", hires);
    r->tool = a1111_tool_name(app, version);
    /* Fooocus's A1111 scheme: the text's prompt is the style-expanded one;
     * what the user typed is `Raw prompt` (Fooocus's own reader takes it). */
    static const char *const which[2][2] = {{"prompt", "full_prompt"}, {"negative_prompt", "full_negative_prompt"}};
    const char *raw[2] = {raw_prompt, raw_negative};
    for (int i = 0; i < 2; i++) {
        if (!raw[i]) continue;
        json_t *full = json_object_get(r->model_info, which[i][0]);
        if (full) imp_unmapped(r, which[i][1], json_incref(full));
        json_object_del(r->model_info, which[i][0]);
        imp_set_str(r, which[i][0], raw[i]);
    }
    json_decref(pairs);
    return 1;
}

/* ---------------------------------------------------------------------- */
/* Writing the text back                                                   */
/* ---------------------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t c = (b->cap ? b->cap * 2 : 256);
        while (c < b->n + n + 1) c *= 2;
        char *q = realloc(b->p, c);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = c;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}
static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void num_text(json_t *v, char *buf, size_t n)
{
    if (json_is_integer(v)) snprintf(buf, n, "%lld", (long long)json_integer_value(v));
    else {
        double d = json_number_value(v);
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, n, "%.*g", prec, d);
            if (strtod(buf, NULL) == d) break;
        }
    }
}

/* One ", Key: value" pair; values holding ',', ':' or a newline are quoted. */
static void pair(sbuf *b, int *first, const char *key, json_t *v)
{
    char num[64];
    const char *s;
    char *quoted = NULL;
    if (rf_json_wide_text(v)) {
        s = rf_json_wide_text(v); /* a seed above 2^63-1, exactly (jsonnum.h) */
    } else if (json_is_string(v)) {
        s = json_string_value(v);
        /* A JSON array or object is written back bare, as A1111 writes it
         * (and as the parser above reads it); other text with a separator
         * in it is JSON-quoted. */
        int bare_json = (*s == '[' || *s == '{') && balanced_end(s) == s + strlen(s) && !strchr(s, '\n');
        if (!bare_json && strpbrk(s, ",:\n\"")) {
            quoted = json_dumps(v, JSON_ENCODE_ANY | JSON_ENSURE_ASCII * 0);
            s = quoted ? quoted : s;
        }
    } else if (json_is_number(v)) {
        num_text(v, num, sizeof num);
        s = num;
    } else if (json_is_boolean(v)) s = json_is_true(v) ? "True" : "False";
    else return;
    if (!*first) sb_str(b, ", ");
    *first = 0;
    sb_str(b, key);
    sb_str(b, ": ");
    sb_str(b, s);
    free(quoted);
}

char *export_parameters_text(json_t *manifest)
{
    json_t *meta = json_object_get(manifest, "raiiaf_metadata");
    json_t *mi = json_object_get(meta, "model_info");
    json_t *g = json_object_get(mi, "generation_settings");
    json_t *ext = json_object_get(json_object_get(meta, "extensions"), "org.raiiaf.import");
    sbuf b = {0};
    const char *prompt = json_string_value(json_object_get(mi, "prompt"));
    const char *neg = json_string_value(json_object_get(mi, "negative_prompt"));
    sb_str(&b, prompt ? prompt : "");
    if (neg && *neg) {
        sb_str(&b, "\nNegative prompt: ");
        sb_str(&b, neg);
    }
    sbuf l = {0};
    int first = 1;
    pair(&l, &first, "Steps", json_object_get(g, "steps"));
    pair(&l, &first, "Sampler", json_object_get(g, "sampler"));
    pair(&l, &first, "Schedule type", json_object_get(g, "scheduler"));
    pair(&l, &first, "CFG scale", json_object_get(g, "cfg_scale"));
    pair(&l, &first, "Seed", json_object_get(g, "seed"));
    json_t *w = json_object_get(g, "width"), *h = json_object_get(g, "height");
    if (json_is_integer(w) && json_is_integer(h)) {
        char size[64];
        snprintf(size, sizeof size, "%lldx%lld", (long long)json_integer_value(w), (long long)json_integer_value(h));
        json_t *sv = json_string(size);
        pair(&l, &first, "Size", sv);
        json_decref(sv);
    }
    const char *hash = json_string_value(json_object_get(mi, "model_hash"));
    if (hash) {
        const char *colon = strchr(hash, ':');
        if (colon && (!strncmp(hash, "autov2:", 7) || !strncmp(hash, "autov1:", 7))) hash = colon + 1;
        else if (colon && !strncmp(hash, "sha256:", 7)) hash = colon + 1; /* the full SHA-256: a reader
                                                                            keeps all 64 digits */
        json_t *hv = json_string(hash);
        pair(&l, &first, "Model hash", hv);
        json_decref(hv);
    }
    pair(&l, &first, "Model", json_object_get(mi, "model_name"));
    pair(&l, &first, "VAE", json_object_get(ext, "vae"));
    pair(&l, &first, "VAE hash", json_object_get(ext, "vae_hash"));
    pair(&l, &first, "Denoising strength", json_object_get(g, "denoising_strength"));
    pair(&l, &first, "Clip skip", json_object_get(g, "clip_skip"));
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(ext, "hires"), k, v) pair(&l, &first, k, v);
    /* Lora hashes from the adapters that have one. */
    sbuf lh = {0};
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(mi, "adapters"), i, a)
    {
        const char *an = json_string_value(json_object_get(a, "name"));
        const char *ah = json_string_value(json_object_get(a, "hash"));
        if (!an || !ah) continue;
        if (lh.n) sb_str(&lh, ", ");
        sb_str(&lh, an);
        sb_str(&lh, ": ");
        sb_str(&lh, ah);
    }
    if (lh.n) {
        json_t *lv = json_string(lh.p);
        pair(&l, &first, "Lora hashes", lv);
        json_decref(lv);
    }
    free(lh.p);
    /* Weights of LoRAs the prompt does not carry as <lora:NAME:W> (a
     * ComfyUI loader's, a JSON record's): `Lora weights`, as Fooocus
     * writes it, so that the text alone gives them back. */
    sbuf lw = {0};
    json_t *lwj = json_object(); /* the same as JSON, when a name holds ',' or ':' */
    int need_json = 0;
    json_array_foreach(json_object_get(mi, "adapters"), i, a)
    {
        const char *an = json_string_value(json_object_get(a, "name"));
        json_t *aw = json_object_get(a, "weight");
        if (!an || !json_is_number(aw)) continue;
        char tag[600];
        snprintf(tag, sizeof tag, "<lora:%s:", an);
        if (prompt && strstr(prompt, tag)) continue;
        need_json |= strpbrk(an, ",:") != NULL;
        json_object_set(lwj, an, aw);
        char num[64];
        num_text(aw, num, sizeof num);
        if (lw.n) sb_str(&lw, ", ");
        sb_str(&lw, an);
        sb_str(&lw, ": ");
        sb_str(&lw, num);
    }
    if (lw.n) {
        char *js = need_json ? json_dumps(lwj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_t *wv = json_string(js ? js : lw.p);
        pair(&l, &first, "Lora weights", wv);
        json_decref(wv);
        free(js);
    }
    json_decref(lwj);
    free(lw.p);
    json_object_foreach(json_object_get(ext, "unmapped"), k, v) pair(&l, &first, k, v);
    pair(&l, &first, "App", json_object_get(ext, "app"));
    pair(&l, &first, "Version", json_object_get(ext, "tool_version"));
    if (l.n) {
        sb_str(&b, "\n");
        sb_add(&b, l.p, l.n);
    }
    free(l.p);
    if (b.oom || l.oom) {
        free(b.p);
        return NULL;
    }
    if (!b.p) return strdup("");
    return b.p;
}
