/* api_panels.c -- the detail page's panels as JSON, each from the
 * library's own functions: the environment record with its drift against
 * the serving machine (raiiaf_drift_compare), the signature
 * (raiiaf_reader_signature), the version history (raiiaf_reader_history),
 * and the latent family the manifest names. */
#include "api_internal.h"
#include "raiiaf_json.h"

#include <stdlib.h>
#include <string.h>

static const char *drift_kind(raiiaf_drift_kind k)
{
    switch (k) {
    case RAIIAF_DRIFT_ADDED: return "added";
    case RAIIAF_DRIFT_REMOVED: return "removed";
    case RAIIAF_DRIFT_CHANGED: return "changed";
    default: return "unchecked";
    }
}

/* {"components": [{"id", "canonical", "drift": null|"changed"|"removed"|
 *  "unchecked", "current"}], "added": [{"id", "current"}], "differences": N,
 *  "machine_captured": bool}, null when the file holds no record, or
 * {"error": "..."} when the record is damaged. */
json_t *api_env_panel(raiiaf_api *api, raiiaf_reader *rd)
{
    raiiaf_env *env = NULL;
    int e = raiiaf_reader_env(rd, &env);
    if (e == RAIIAF_E_NOT_FOUND) {
        raiiaf_env_free(env);
        return json_null();
    }
    if (e) {
        json_t *o = json_pack("{ss}", "error", env && raiiaf_env_errmsg(env)[0] ? raiiaf_env_errmsg(env)
                                                                               : raiiaf_reader_errmsg(rd));
        raiiaf_env_free(env);
        return o;
    }
    raiiaf_env *cur = api_current_env(api);
    raiiaf_drift *d = NULL;
    if (cur && raiiaf_drift_compare(env, cur, &d)) d = NULL;
    json_t *comps = json_array(), *added = json_array();
    for (size_t i = 0; i < raiiaf_env_count(env); i++) {
        const char *id = NULL, *canon = NULL;
        if (raiiaf_env_component(env, i, &id, &canon, NULL)) continue;
        json_t *c = json_pack("{ss ss sn sn}", "id", id, "canonical", canon, "drift", "current");
        json_array_append_new(comps, c);
    }
    for (size_t i = 0; d && i < raiiaf_drift_count(d); i++) {
        raiiaf_drift_item it;
        if (raiiaf_drift_item_get(d, i, &it)) continue;
        if (it.kind == RAIIAF_DRIFT_ADDED) {
            json_array_append_new(added, json_pack("{ss ss?}", "id", it.id, "current", it.current_canonical));
            continue;
        }
        size_t k;
        json_t *c;
        json_array_foreach(comps, k, c) {
            if (strcmp(json_string_value(json_object_get(c, "id")), it.id)) continue;
            json_object_set_new(c, "drift", json_string(drift_kind(it.kind)));
            if (it.current_canonical) json_object_set_new(c, "current", json_string(it.current_canonical));
        }
    }
    json_t *o = json_pack("{so so sI sb}", "components", comps, "added", added, "differences",
                          (json_int_t)(d ? raiiaf_drift_differences(d) : 0), "machine_captured", cur != NULL);
    raiiaf_drift_free(d);
    raiiaf_env_free(env);
    return o;
}

/* {"state": "none"|"valid"|"edited"|"invalid", "key_id", "signed_version",
 *  "message"}: "edited" is a valid signature on an older version. */
json_t *api_signature_panel(raiiaf_reader *rd)
{
    static const char *const names[] = {"none", "valid", "edited", "invalid"};
    raiiaf_signature_info info;
    memset(&info, 0, sizeof info);
    int e = raiiaf_reader_signature(rd, NULL, &info);
    if (e) return json_pack("{ss ss}", "state", "error", "message", raiiaf_reader_errmsg(rd));
    unsigned s = (unsigned)info.state < 4 ? (unsigned)info.state : 3;
    json_t *o = json_pack("{ss ss}", "state", names[s], "message", info.message);
    if (info.state != RAIIAF_SIG_NONE) {
        json_object_set_new(o, "key_id", json_string(info.key_id));
        json_object_set_new(o, "signed_version", json_integer(info.signed_version));
    }
    return o;
}

/* The versions with their changed JSON Pointers, as `raiiaf history --json`. */
json_t *api_history_panel(raiiaf_reader *rd)
{
    char *text = NULL;
    size_t n = 0;
    int e = raiiaf_reader_history(rd, &text, &n);
    json_t *h = e ? NULL : raiiaf_json_loadb(text, n, 0, NULL);
    raiiaf_free(text);
    return h ? h : json_pack("{ss}", "error", e ? raiiaf_reader_errmsg(rd) : "out of memory");
}

/* The family of the latent preview from what the manifest says: the model
 * name, an "architecture" or "family" field of the generation record, and
 * the import extension's family and model fields (a name that says flux,
 * sd3, xl or sd1); NULL when none tells (the caller then guesses from the
 * channel count). */
const char *api_manifest_family(raiiaf_reader *rd, unsigned channels)
{
    (void)channels;
    size_t n = 0;
    const char *m = raiiaf_reader_manifest(rd, &n);
    json_t *root = m ? raiiaf_json_loadb(m, n, RAIIAF_JSON_PYTHON, NULL) : NULL; /* format 1 too */
    json_t *meta = json_object_get(root, "raiiaf_metadata");
    if (!meta) meta = root;
    json_t *mi = json_object_get(meta, "model_info"), *gs = json_object_get(mi, "generation_settings");
    json_t *imp = json_object_get(json_object_get(meta, "extensions"), "org.raiiaf.import");
    json_t *cands[] = {json_object_get(mi, "architecture"), json_object_get(gs, "architecture"),
                       json_object_get(mi, "family"),       json_object_get(mi, "model_name"),
                       json_object_get(gs, "model"),        json_object_get(imp, "architecture"),
                       json_object_get(imp, "model"),       json_object_get(imp, "family")};
    const char *fam = NULL;
    for (size_t i = 0; i < sizeof cands / sizeof cands[0] && !fam; i++)
        if (json_is_string(cands[i])) fam = raiiaf_latent_family_guess(json_string_value(cands[i]), 0);
    json_decref(root);
    return fam; /* a static string of the library */
}
