/* env_write.c -- the writer's side of the environment record: what to
 * record (rf_wenv), capturing it and building the ENVR chunk's JSON and
 * the hardware_info it implies.  See env.h. */
#include "env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    json_t *rec = rf_env_to_json(env);
    if (!rec) rc = rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
    if (!rc) rc = rf_env_validate_record(rec, e);
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
