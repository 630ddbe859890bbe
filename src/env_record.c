/* env_record.c -- the environment record as a value: components, canonical
 * strings, its JSON both ways and its schema.  Capture (env_capture.c), the
 * ENVR chunk on the writer's and the reader's side (env_write.c,
 * env_read.c) and drift (env_drift.c) build on it; it calls none of them.
 * See env.h and docs/SPEC.md ("Environment record"). */
#include "env.h"
#include "jsonutil.h"

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

json_t *rf_env_to_json(const raiiaf_env *env)
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
        json_t *j = rf_env_to_json(env);
        env->json = j ? json_dumps(j, JSON_INDENT(1)) : NULL;
        json_decref(j);
    }
    return env->json;
}

/* Parses either record form into env (structure, limits, digests). */
int rf_env_parse(raiiaf_env *env, const char *json, size_t size, const char *what)
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
    return rf_env_parse(*out, json, size, "environment record");
}

/* ---- schema ------------------------------------------------------------- */

int rf_env_validate_record(const json_t *record, rf_err *e)
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
