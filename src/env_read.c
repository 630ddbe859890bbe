/* env_read.c -- the reader's side of the environment record: the ENVR
 * chunk checked at open and verify, and read back as text or as a
 * raiiaf_env.  See env.h. */
#include "env.h"
#include "reader_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    rc = rf_env_validate_record(rec, &r->err);
    json_decref(rec);
    if (rc) return rc;
    raiiaf_env *env;
    if (raiiaf_env_new(&env)) return rf_fail(&r->err, RAIIAF_E_NOMEM, "out of memory");
    rc = rf_env_parse(env, text, len, where);
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
