/* env_record.c -- environment components, canonical strings, the record's
 * JSON, the ENVR chunk on both sides, and drift reports.  See env.h and
 * docs/SPEC.md ("Environment record"). */
#include "codec.h"
#include "env.h"
#include "format.h"
#include "jsonutil.h"
#include "reader_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- components --------------------------------------------------------- */

static int key_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

int rf_env_id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > RF_ENV_MAX_ID) return 0;
    for (size_t i = 0; i < n; i++)
        if (!key_char((unsigned char)id[i])) return 0;
    return 1;
}

/* Length of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_len(const unsigned char *s)
{
    if (s[0] < 0x80) return 1;
    size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : 0;
    if (!n || (n == 3 && s[0] >= 0xf0)) return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if (n == 3 && s[0] == 0xe0 && s[1] < 0xa0) return 0; /* overlong */
    if (n == 3 && s[0] == 0xed && s[1] >= 0xa0) return 0; /* surrogate */
    if (n == 4 && s[0] == 0xf0 && s[1] < 0x90) return 0;
    if (n == 4 && s[0] == 0xf4 && s[1] >= 0x90) return 0;
    return n;
}

int rf_env_canonical_check(const char *s, char *msg, size_t msg_size)
{
    char dummy[1];
    if (!msg) {
        msg = dummy;
        msg_size = sizeof dummy;
    }
    if (!s) {
        snprintf(msg, msg_size, "canonical string is NULL");
        return RAIIAF_E_ARG;
    }
    size_t n = strlen(s);
    if (n == 0 || n > RF_ENV_MAX_CANONICAL) {
        snprintf(msg, msg_size, "canonical string must be 1 to %u bytes", RF_ENV_MAX_CANONICAL);
        return RAIIAF_E_ARG;
    }
    const unsigned char *p = (const unsigned char *)s;
    /* keys seen so far, for the "no key twice" rule */
    const unsigned char *keys[RF_ENV_MAX_CANONICAL / 2 + 1];
    size_t klen[RF_ENV_MAX_CANONICAL / 2 + 1], nkeys = 0;
    for (;;) {
        const unsigned char *k = p;
        while (key_char(*p)) p++;
        size_t kl = (size_t)(p - k);
        if (!kl || *p != '=') {
            snprintf(msg, msg_size, "canonical string \"%.200s\": expected KEY=VALUE at byte %zu (keys are [a-z0-9_.-]+)", s,
                     (size_t)(k - (const unsigned char *)s));
            return RAIIAF_E_ARG;
        }
        for (size_t i = 0; i < nkeys; i++)
            if (klen[i] == kl && !memcmp(keys[i], k, kl)) {
                snprintf(msg, msg_size, "canonical string \"%.200s\": key \"%.*s\" appears twice", s, (int)kl, (const char *)k);
                return RAIIAF_E_ARG;
            }
        keys[nkeys] = k;
        klen[nkeys++] = kl;
        p++; /* '=' */
        while (*p && *p != ';') {
            if (*p == '=' || *p < 0x20 || *p == 0x7f) {
                snprintf(msg, msg_size, "canonical string \"%.200s\": byte %zu: values must not contain '=', ';' or control characters (they are refused, not escaped)",
                         s, (size_t)(p - (const unsigned char *)s));
                return RAIIAF_E_ARG;
            }
            size_t u = utf8_len(p);
            if (!u) {
                snprintf(msg, msg_size, "canonical string: byte %zu is not valid UTF-8", (size_t)(p - (const unsigned char *)s));
                return RAIIAF_E_ARG;
            }
            p += u;
        }
        if (!*p) break;
        p++; /* ';' */
    }
    if (msg_size) msg[0] = '\0';
    return RAIIAF_OK;
}

int rf_env_value(const char *canonical, const char *key, char *buf, size_t cap)
{
    size_t kl = strlen(key);
    const char *p = canonical;
    while (p && *p) {
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > kl && !strncmp(p, key, kl) && p[kl] == '=') {
            snprintf(buf, cap, "%.*s", (int)(len - kl - 1), p + kl + 1);
            return 0;
        }
        p = end ? end + 1 : NULL;
    }
    if (cap) buf[0] = '\0';
    return -1;
}

void rf_env_clean_value(char *s)
{
    for (char *p = s; *p; p++)
        if (*p == ';' || *p == '=' || (unsigned char)*p < 0x20 || *p == 0x7f) *p = '_';
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '_')) s[--n] = '\0';
    size_t lead = strspn(s, " ");
    if (lead) memmove(s, s + lead, n - lead + 1);
    /* collapse runs of blanks (CPU model names pad with them) */
    char *w = s;
    for (char *r = s; *r; r++)
        if (!(*r == ' ' && w > s && w[-1] == ' ')) *w++ = *r;
    *w = '\0';
}

static int cmp_comp(const void *a, const void *b) { return strcmp(((const rf_env_comp *)a)->id, ((const rf_env_comp *)b)->id); }

void rf_env_sort(raiiaf_env *env) { qsort(env->c, env->n, sizeof *env->c, cmp_comp); }

int rf_env_put(raiiaf_env *env, const char *id, const char *canonical)
{
    char sha[65];
    if (rf_sha256_hex(canonical, strlen(canonical), sha)) return rf_fail(&env->err, RAIIAF_E_NOMEM, "out of memory");
    char *cc = strdup(canonical);
    if (!cc) return rf_fail(&env->err, RAIIAF_E_NOMEM, "out of memory");
    free(env->json);
    env->json = NULL;
    for (size_t i = 0; i < env->n; i++)
        if (!strcmp(env->c[i].id, id)) {
            free(env->c[i].canonical);
            env->c[i].canonical = cc;
            memcpy(env->c[i].sha, sha, 65);
            return RAIIAF_OK;
        }
    if (env->n >= RF_ENV_MAX_COMPONENTS) {
        free(cc);
        return rf_fail(&env->err, RAIIAF_E_LIMIT, "an environment holds at most %u components", RF_ENV_MAX_COMPONENTS);
    }
    if (env->n == env->cap) {
        size_t nc = env->cap ? env->cap * 2 : 16;
        rf_env_comp *g = realloc(env->c, nc * sizeof *g);
        if (!g) {
            free(cc);
            return rf_fail(&env->err, RAIIAF_E_NOMEM, "out of memory");
        }
        env->c = g;
        env->cap = nc;
    }
    char *ci = strdup(id);
    if (!ci) {
        free(cc);
        return rf_fail(&env->err, RAIIAF_E_NOMEM, "out of memory");
    }
    env->c[env->n].id = ci;
    env->c[env->n].canonical = cc;
    memcpy(env->c[env->n].sha, sha, 65);
    env->n++;
    rf_env_sort(env);
    return RAIIAF_OK;
}

/* ---- public environment API ------------------------------------------- */

int raiiaf_env_new(raiiaf_env **out)
{
    if (!out) return RAIIAF_E_ARG;
    *out = calloc(1, sizeof **out);
    return *out ? RAIIAF_OK : RAIIAF_E_NOMEM;
}

void raiiaf_env_free(raiiaf_env *env)
{
    if (!env) return;
    for (size_t i = 0; i < env->n; i++) {
        free(env->c[i].id);
        free(env->c[i].canonical);
    }
    free(env->c);
    free(env->json);
    free(env);
}

const char *raiiaf_env_errmsg(const raiiaf_env *env) { return env ? env->err.msg : "no environment"; }

int raiiaf_env_check_canonical(const char *canonical, char *msg, size_t msg_size)
{
    return rf_env_canonical_check(canonical, msg, msg_size);
}

int raiiaf_env_add_component(raiiaf_env *env, const char *id, const char *canonical)
{
    if (!env) return RAIIAF_E_ARG;
    rf_err_clear(&env->err);
    if (!rf_env_id_ok(id))
        return rf_fail(&env->err, RAIIAF_E_ARG, "component id \"%.100s\" is invalid: 1 to %u of a-z 0-9 _ . -", id ? id : "(null)",
                       RF_ENV_MAX_ID);
    char msg[RF_ERRMSG_SIZE - 80];
    if (rf_env_canonical_check(canonical, msg, sizeof msg)) return rf_fail(&env->err, RAIIAF_E_ARG, "component %s: %s", id, msg);
    return rf_env_put(env, id, canonical);
}

size_t raiiaf_env_count(const raiiaf_env *env) { return env ? env->n : 0; }

int raiiaf_env_component(const raiiaf_env *env, size_t index, const char **id, const char **canonical, const char **sha256)
{
    if (!env || index >= env->n) return env ? RAIIAF_E_NOT_FOUND : RAIIAF_E_ARG;
    if (id) *id = env->c[index].id;
    if (canonical) *canonical = env->c[index].canonical;
    if (sha256) *sha256 = env->c[index].sha;
    return RAIIAF_OK;
}

const char *raiiaf_env_find(const raiiaf_env *env, const char *id)
{
    if (!env || !id) return NULL;
    for (size_t i = 0; i < env->n; i++)
        if (!strcmp(env->c[i].id, id)) return env->c[i].canonical;
    return NULL;
}

static json_t *env_to_json(const raiiaf_env *env)
{
    json_t *arr = json_array();
    json_t *root = json_pack("{s:i,s:o}", "env_version", 2, "components", arr);
    if (!root) return NULL;
    for (size_t i = 0; i < env->n; i++) {
        json_t *c = json_pack("{s:s,s:s,s:s}", "id", env->c[i].id, "canonical", env->c[i].canonical, "sha256", env->c[i].sha);
        if (!c || json_array_append_new(arr, c)) {
            json_decref(root);
            return NULL;
        }
    }
    return root;
}

const char *raiiaf_env_json(raiiaf_env *env)
{
    if (!env) return NULL;
    if (!env->json) {
        json_t *j = env_to_json(env);
        env->json = j ? json_dumps(j, JSON_INDENT(1)) : NULL;
        json_decref(j);
    }
    return env->json;
}

int raiiaf_env_capture(unsigned flags, raiiaf_env **out)
{
    int rc = raiiaf_env_new(out);
    if (rc) return rc;
    return rf_env_capture_into(*out, flags);
}

/* Parses either record form into env (structure, limits, digests). */
static int env_parse(raiiaf_env *env, const char *json, size_t size, const char *what)
{
    json_t *root;
    int rc = rf_json_parse(json, size, what, &root, &env->err);
    if (rc) return rc;
    json_t *comps = json_object_get(root, "components");
    if (!json_is_object(root) || !json_is_array(comps)) {
        json_decref(root);
        return rf_fail(&env->err, RAIIAF_E_CORRUPT, "%s: must be an object with a \"components\" array", what);
    }
    if (json_array_size(comps) > RF_ENV_MAX_COMPONENTS) {
        json_decref(root);
        return rf_fail(&env->err, RAIIAF_E_LIMIT, "%s: %zu components (limit %u)", what, json_array_size(comps), RF_ENV_MAX_COMPONENTS);
    }
    size_t i;
    json_t *c;
    json_array_foreach(comps, i, c) {
        int f1 = json_object_get(c, "component_id") != NULL;
        json_t *id = json_object_get(c, f1 ? "component_id" : "id");
        json_t *can = json_object_get(c, f1 ? "cononical_str" : "canonical");
        json_t *sha = json_object_get(c, f1 ? "component_sha256_digest" : "sha256");
        if (!json_is_string(id) || !json_is_string(can) || (sha && !json_is_string(sha)) || (!sha && !f1)) {
            rc = rf_fail(&env->err, RAIIAF_E_CORRUPT, "%s /components/%zu: needs string members %s", what, i,
                         f1 ? "component_id, cononical_str" : "id, canonical, sha256");
            break;
        }
        const char *ids = json_string_value(id), *cs = json_string_value(can);
        if (!*ids || strlen(ids) > RF_ENV_MAX_ID || strlen(cs) > RF_ENV_MAX_CANONICAL || strlen(ids) != json_string_length(id) ||
            strlen(cs) != json_string_length(can)) {
            rc = rf_fail(&env->err, RAIIAF_E_CORRUPT, "%s /components/%zu: id or canonical string empty, too long or holding NUL", what, i);
            break;
        }
        if (raiiaf_env_find(env, ids)) {
            rc = rf_fail(&env->err, RAIIAF_E_CORRUPT, "%s /components/%zu: component id \"%s\" appears twice", what, i, ids);
            break;
        }
        if ((rc = rf_env_put(env, ids, cs))) break;
        if (sha) {
            const char *stored = json_string_value(sha);
            for (size_t k = 0; k < env->n && !rc; k++)
                if (!strcmp(env->c[k].id, ids) && strcmp(env->c[k].sha, stored))
                    rc = rf_fail(&env->err, RAIIAF_E_DIGEST, "%s /components/%zu (%s): stored SHA-256 %.64s does not match the canonical string's %s",
                                 what, i, ids, stored, env->c[k].sha);
            if (rc) break;
        }
    }
    json_decref(root);
    return rc;
}

int raiiaf_env_from_json(const char *json, size_t size, raiiaf_env **out)
{
    if (!out) return RAIIAF_E_ARG;
    int rc = raiiaf_env_new(out);
    if (rc) return rc;
    if (!json) return rf_fail(&(*out)->err, RAIIAF_E_ARG, "JSON text is NULL");
    return env_parse(*out, json, size, "environment record");
}

/* ---- schema ------------------------------------------------------------- */

static int validate_record(const json_t *record, rf_err *e)
{
    json_t *schema;
    int rc = rf_json_parse(rf_env_schema_json, strlen(rf_env_schema_json), "embedded environment schema", &schema, e);
    if (rc) return rc;
    rc = rf_schema_validate(schema, record, e);
    json_decref(schema);
    if (rc) {
        char msg[RF_ERRMSG_SIZE];
        snprintf(msg, sizeof msg, "%s", e->msg);
        rf_fail(e, rc, "environment record %s", msg);
    }
    return rc;
}

/* ---- writer side -------------------------------------------------------- */

int rf_wenv_set(rf_wenv *we, unsigned flags, rf_err *e)
{
    if (flags & ~(RAIIAF_ENV_NONE | RAIIAF_ENV_INCLUDE_HOSTNAME | RAIIAF_ENV_NO_CAPTURE))
        return rf_fail(e, RAIIAF_E_ARG, "unknown environment flags %#x", flags);
    if ((flags & RAIIAF_ENV_NONE) && (flags & ~RAIIAF_ENV_NONE))
        return rf_fail(e, RAIIAF_E_ARG, "RAIIAF_ENV_NONE cannot be combined with other environment flags");
    if ((flags & RAIIAF_ENV_NONE) && we->extra && we->extra->n)
        return rf_fail(e, RAIIAF_E_STATE, "environment components were added; RAIIAF_ENV_NONE would drop them");
    we->flags = flags;
    return RAIIAF_OK;
}

int rf_wenv_add(rf_wenv *we, const char *id, const char *canonical, rf_err *e)
{
    if (we->flags & RAIIAF_ENV_NONE)
        return rf_fail(e, RAIIAF_E_STATE, "the writer was told to store no environment record (RAIIAF_ENV_NONE)");
    if (!we->extra && raiiaf_env_new(&we->extra)) return rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
    if (id && raiiaf_env_find(we->extra, id)) return rf_fail(e, RAIIAF_E_EXISTS, "environment component \"%s\" was already added", id);
    int rc = raiiaf_env_add_component(we->extra, id, canonical);
    if (rc) rf_fail(e, rc, "%s", we->extra->err.msg);
    return rc;
}

void rf_wenv_free(rf_wenv *we)
{
    raiiaf_env_free(we->extra);
    we->extra = NULL;
}

/* hardware_info from the components, or NULL when there is no os. */
static json_t *hardware_info(const raiiaf_env *env)
{
    char v[512], w[512];
    const char *os = raiiaf_env_find(env, "os");
    if (!os || rf_env_value(os, "version", v, sizeof v) || !*v) return NULL;
    json_t *hw = json_pack("{s:s}", "os", v);
    if (!hw) return NULL;
    const char *host = raiiaf_env_find(env, "hostname");
    if (host && !rf_env_value(host, "value", v, sizeof v) && *v) json_object_set_new(hw, "machine_name", json_string(v));
    const char *cpu = raiiaf_env_find(env, "cpu");
    if (cpu && !rf_env_value(cpu, "model", v, sizeof v) && *v) json_object_set_new(hw, "cpu", json_string(v));
    if (cpu && !rf_env_value(cpu, "cores", v, sizeof v)) {
        long long n = strtoll(v, NULL, 10);
        if (n >= 1) json_object_set_new(hw, "cpu_cores", json_integer(n));
    }
    const char *ram = raiiaf_env_find(env, "ram");
    if (ram && !rf_env_value(ram, "bytes", v, sizeof v)) {
        double b = strtod(v, NULL);
        if (b > 0) json_object_set_new(hw, "ram_gb", json_real((double)(long long)(b / 1073741824.0 * 100 + 0.5) / 100));
    }
    json_t *gpus = json_array();
    for (unsigned g = 0; gpus && g < RF_ENV_MAX_GPUS; g++) {
        char id[16];
        snprintf(id, sizeof id, "gpu%u", g);
        const char *s = raiiaf_env_find(env, id);
        if (!s) break;
        if (rf_env_value(s, "model", v, sizeof v) || !*v) continue;
        json_t *o = json_pack("{s:s}", "name", v);
        if (!o) break;
        if (!rf_env_value(s, "memory_bytes", w, sizeof w)) {
            double b = strtod(w, NULL);
            if (b > 0) json_object_set_new(o, "memory_gb", json_real((double)(long long)(b / 1073741824.0 * 100 + 0.5) / 100));
        }
        if (!rf_env_value(s, "driver", w, sizeof w) && *w) json_object_set_new(o, "driver", json_string(w));
        if (!rf_env_value(s, "cuda", w, sizeof w) && *w) json_object_set_new(o, "cuda_version", json_string(w));
        json_array_append_new(gpus, o);
    }
    if (gpus && json_array_size(gpus)) json_object_set_new(hw, "gpu", gpus);
    else json_decref(gpus);
    return hw;
}

int rf_env_build_record(rf_wenv *we, json_t *manifest, char **text, size_t *len, rf_err *e)
{
    *text = NULL;
    *len = 0;
    if ((we->flags & RAIIAF_ENV_NONE) || we->written) return RAIIAF_OK;
    raiiaf_env *env;
    if (raiiaf_env_new(&env)) return rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
    int rc = RAIIAF_OK;
    if (!(we->flags & RAIIAF_ENV_NO_CAPTURE)) rc = rf_env_capture_into(env, we->flags & RAIIAF_ENV_INCLUDE_HOSTNAME);
    for (size_t i = 0; !rc && we->extra && i < we->extra->n; i++) rc = rf_env_put(env, we->extra->c[i].id, we->extra->c[i].canonical);
    if (rc) {
        rf_fail(e, rc, "environment: %s", env->err.msg);
        raiiaf_env_free(env);
        return rc;
    }
    json_t *rec = env_to_json(env);
    if (!rec) rc = rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
    if (!rc) rc = validate_record(rec, e);
    json_t *mi = json_object_get(json_object_get(manifest, "raiiaf_metadata"), "model_info");
    if (!rc && json_is_object(mi) && !json_object_get(mi, "hardware_info")) {
        json_t *hw = hardware_info(env);
        if (hw) json_object_set_new(mi, "hardware_info", hw);
    }
    if (!rc) {
        *text = json_dumps(rec, JSON_INDENT(1));
        if (!*text) rc = rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
        else *len = strlen(*text);
    }
    json_decref(rec);
    raiiaf_env_free(env);
    return rc;
}

/* ---- reader side -------------------------------------------------------- */

int rf_env_open_check(raiiaf_reader *r, json_t *meta)
{
    r->env_chunk = 0;
    json_t *env = json_object_get(meta, "environment");
    if (!env) return RAIIAF_OK;
    const char *path = "/raiiaf_metadata/environment";
    json_t *chunk = json_object_get(env, "chunk");
    if (!json_is_object(env) || !json_is_integer(chunk) || json_integer_value(chunk) < 0)
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s: must be an object with an integer \"chunk\"", path);
    uint64_t ci = (uint64_t)json_integer_value(chunk);
    if (ci >= r->nchunks || strcmp(r->chunks[ci].type, RF_TYPE_ENV) || r->chunks[ci].codec != RF_CODEC_ZSTD)
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest %s/chunk: %llu is not a zstd ENVR chunk", path, (unsigned long long)ci);
    if (r->chunks[ci].raw > RF_ENV_MAX_RECORD)
        return rf_fail(&r->err, RAIIAF_E_LIMIT, "manifest %s: the record declares %llu bytes (limit %u)", path,
                       (unsigned long long)r->chunks[ci].raw, RF_ENV_MAX_RECORD);
    r->env_chunk = (size_t)ci + 1;
    return RAIIAF_OK;
}

/* Decodes chunk ci into a NUL-terminated malloc'd text with every check. */
static int load_env_text(raiiaf_reader *r, size_t ci, int force_digest, char **out, size_t *len)
{
    const rf_rchunk *c = &r->chunks[ci];
    const unsigned char *p;
    int rc = rf_check_chunk(r, ci, &p);
    if (rc) return rc;
    char where[400];
    rf_chunk_where(r, ci, where, sizeof where);
    if (c->raw > RF_ENV_MAX_RECORD) return rf_fail(&r->err, RAIIAF_E_LIMIT, "%s: environment record over %u bytes", where, RF_ENV_MAX_RECORD);
    char *t = malloc((size_t)c->raw + 1);
    if (!t) return rf_fail(&r->err, RAIIAF_E_NOMEM, "out of memory");
    rc = rf_planes_decode(p, (size_t)c->stored, t, (size_t)c->raw, 1, where, &r->err);
    if (!rc) rc = rf_check_digest(r, ci, t, c->raw, force_digest);
    if (!rc) {
        t[c->raw] = '\0';
        if (strlen(t) != c->raw) rc = rf_fail(&r->err, RAIIAF_E_JSON, "%s: NUL byte inside the environment record", where);
    }
    if (rc) {
        free(t);
        return rc;
    }
    *out = t;
    *len = (size_t)c->raw;
    return RAIIAF_OK;
}

/* Schema and digests of a decoded record. */
static int check_record_text(raiiaf_reader *r, size_t ci, const char *text, size_t len)
{
    char where[400];
    rf_chunk_where(r, ci, where, sizeof where);
    json_t *rec;
    int rc = rf_json_parse(text, len, where, &rec, &r->err);
    if (rc) return rc;
    rc = validate_record(rec, &r->err);
    json_decref(rec);
    if (rc) return rc;
    raiiaf_env *env;
    if (raiiaf_env_new(&env)) return rf_fail(&r->err, RAIIAF_E_NOMEM, "out of memory");
    rc = env_parse(env, text, len, where);
    if (rc) rf_fail(&r->err, rc, "%s", env->err.msg);
    raiiaf_env_free(env);
    return rc;
}

int rf_env_verify_chunk(raiiaf_reader *r, size_t ci)
{
    char *t;
    size_t len;
    int rc = load_env_text(r, ci, 1, &t, &len);
    if (rc) return rc;
    rc = check_record_text(r, ci, t, len);
    free(t);
    return rc;
}

int raiiaf_reader_env_record(raiiaf_reader *r, const char **json, size_t *size)
{
    if (!r) return RAIIAF_E_ARG;
    if (!r->manifest) return rf_fail(&r->err, RAIIAF_E_STATE, "the file did not open: %s", r->err.msg[0] ? r->err.msg : "no manifest");
    if (r->f1) return raiiaf_reader_env_json(r, json, size); /* format 1: the ENVC JSON (format1_read.c) */
    rf_err_clear(&r->err);
    if (!r->env_text) {
        if (!r->env_chunk) return rf_fail(&r->err, RAIIAF_E_NOT_FOUND, "the file holds no environment record");
        size_t ci = r->env_chunk - 1;
        char *t;
        size_t len;
        int rc = load_env_text(r, ci, 0, &t, &len);
        if (rc) return rc;
        if ((rc = check_record_text(r, ci, t, len))) {
            free(t);
            return rc;
        }
        r->env_text = t;
        r->env_len = len;
    }
    if (json) *json = r->env_text;
    if (size) *size = r->env_len;
    return RAIIAF_OK;
}

int raiiaf_reader_env(raiiaf_reader *r, raiiaf_env **out)
{
    if (!r || !out) return RAIIAF_E_ARG;
    *out = NULL;
    const char *text;
    size_t len;
    int rc = raiiaf_reader_env_record(r, &text, &len);
    if (rc) return rc;
    rc = raiiaf_env_from_json(text, len, out);
    if (rc) {
        rf_fail(&r->err, rc, "environment record: %s", *out ? (*out)->err.msg : "out of memory");
        raiiaf_env_free(*out);
        *out = NULL;
    }
    return rc;
}

/* ---- drift ---------------------------------------------------------------- */

struct raiiaf_drift {
    raiiaf_drift_item *items;
    size_t n;
    char **strings; /* everything the items point to */
    size_t nstrings;
};

static const char *keep(raiiaf_drift *d, const char *s)
{
    if (!s) return NULL;
    char *c = strdup(s);
    if (!c) return NULL;
    d->strings[d->nstrings++] = c;
    return c;
}

/* Whether raiiaf_env_capture() (default flags) can produce this id. */
static int captured_id(const char *id)
{
    static const char *const ids[] = {"os", "arch", "cpu", "ram", "libc", "libraiiaf", "zstd", "zfp", "openssl", "spng", "jansson", "gpu"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (!strcmp(id, ids[i])) return 1;
    if (!strncmp(id, "gpu", 3) && id[3]) {
        for (const char *p = id + 3; *p; p++)
            if (*p < '0' || *p > '9') return 0;
        return 1;
    }
    return 0;
}

int raiiaf_drift_compare(const raiiaf_env *file, const raiiaf_env *current, raiiaf_drift **out)
{
    if (!out) return RAIIAF_E_ARG;
    *out = NULL;
    if (!file || !current) return RAIIAF_E_ARG;
    raiiaf_drift *d = calloc(1, sizeof *d);
    size_t most = file->n + current->n;
    if (d) {
        d->items = calloc(most ? most : 1, sizeof *d->items);
        d->strings = calloc(most * 3 + 1, sizeof *d->strings);
    }
    if (!d || !d->items || !d->strings) {
        raiiaf_drift_free(d);
        return RAIIAF_E_NOMEM;
    }
    /* Both are sorted by id: merge. */
    size_t i = 0, j = 0;
    int oom = 0;
    while (i < file->n || j < current->n) {
        int cmp = i >= file->n ? 1 : j >= current->n ? -1 : strcmp(file->c[i].id, current->c[j].id);
        raiiaf_drift_item it = {0};
        if (cmp < 0) {
            it.id = keep(d, file->c[i].id);
            it.kind = captured_id(file->c[i].id) ? RAIIAF_DRIFT_REMOVED : RAIIAF_DRIFT_UNCHECKED;
            it.file_canonical = keep(d, file->c[i].canonical);
            oom |= !it.id || !it.file_canonical;
            i++;
        } else if (cmp > 0) {
            it.id = keep(d, current->c[j].id);
            it.kind = RAIIAF_DRIFT_ADDED;
            it.current_canonical = keep(d, current->c[j].canonical);
            oom |= !it.id || !it.current_canonical;
            j++;
        } else {
            if (strcmp(file->c[i].canonical, current->c[j].canonical)) {
                it.id = keep(d, file->c[i].id);
                it.kind = RAIIAF_DRIFT_CHANGED;
                it.file_canonical = keep(d, file->c[i].canonical);
                it.current_canonical = keep(d, current->c[j].canonical);
                oom |= !it.id || !it.file_canonical || !it.current_canonical;
            }
            i++;
            j++;
        }
        if (it.kind) d->items[d->n++] = it;
        if (oom) {
            raiiaf_drift_free(d);
            return RAIIAF_E_NOMEM;
        }
    }
    *out = d;
    return RAIIAF_OK;
}

int raiiaf_reader_drift(raiiaf_reader *r, const raiiaf_env *current, raiiaf_drift **out)
{
    if (!r || !out) return RAIIAF_E_ARG;
    *out = NULL;
    raiiaf_env *file = NULL, *now = NULL;
    int rc = raiiaf_reader_env(r, &file);
    if (rc) return rc;
    if (!current) {
        /* the host name only when the file recorded one: compare like with like */
        rc = raiiaf_env_capture(raiiaf_env_find(file, "hostname") ? RAIIAF_ENV_INCLUDE_HOSTNAME : RAIIAF_ENV_DEFAULT, &now);
        if (rc) {
            rf_fail(&r->err, rc, "capturing the current environment: %s", now ? now->err.msg : "out of memory");
            raiiaf_env_free(file);
            raiiaf_env_free(now);
            return rc;
        }
        current = now;
    }
    rc = raiiaf_drift_compare(file, current, out);
    if (rc) rf_fail(&r->err, rc, "out of memory");
    raiiaf_env_free(file);
    raiiaf_env_free(now);
    return rc;
}

size_t raiiaf_drift_count(const raiiaf_drift *d) { return d ? d->n : 0; }

size_t raiiaf_drift_differences(const raiiaf_drift *d)
{
    return raiiaf_drift_count(d) - raiiaf_drift_count_kind(d, RAIIAF_DRIFT_UNCHECKED);
}

size_t raiiaf_drift_count_kind(const raiiaf_drift *d, raiiaf_drift_kind kind)
{
    size_t n = 0;
    for (size_t i = 0; d && i < d->n; i++) n += d->items[i].kind == kind;
    return n;
}

int raiiaf_drift_item_get(const raiiaf_drift *d, size_t index, raiiaf_drift_item *item)
{
    if (!d || !item) return RAIIAF_E_ARG;
    if (index >= d->n) return RAIIAF_E_NOT_FOUND;
    *item = d->items[index];
    return RAIIAF_OK;
}

void raiiaf_drift_free(raiiaf_drift *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->nstrings; i++) free(d->strings[i]);
    free(d->strings);
    free(d->items);
    free(d);
}
