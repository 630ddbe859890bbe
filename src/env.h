/* env.h -- the environment record (issue #4): what a file was made with.
 *
 * env_capture.c  what this process can see (uname, /proc, linked libraries)
 * nvml.c         NVIDIA GPUs through NVML, loaded at run time with dlopen
 * env_record.c   components, canonical strings, the record's JSON, the
 *                ENVR chunk (writer and reader side) and drift reports
 *
 * A component is an id ("os", "gpu0", "torch") and a canonical string
 * "key=value;key=value" whose SHA-256 is recorded beside it: exactly the
 * scheme of format 1's ENVC chunk, so records of both formats compare. */
#ifndef RAIIAF_ENV_H
#define RAIIAF_ENV_H

#include "internal.h"

#include <jansson.h>

#define RF_TYPE_ENV "ENVR"

#define RF_ENV_MAX_COMPONENTS 256u
#define RF_ENV_MAX_ID 64u
#define RF_ENV_MAX_CANONICAL 4096u
#define RF_ENV_MAX_RECORD (1u << 20) /* decoded ENVR JSON */
#define RF_ENV_MAX_GPUS 64u

typedef struct rf_env_comp {
    char *id;
    char *canonical;
    char sha[65];
} rf_env_comp;

struct raiiaf_env {
    rf_err err;
    rf_env_comp *c;
    size_t n, cap;
    char *json; /* cache for raiiaf_env_json() */
};

/* Whether `id` is a valid component id: 1..64 of [a-z0-9_.-]. */
int rf_env_id_ok(const char *id);

/* Checks a canonical string: "key=value" pairs joined by ';', keys
 * [a-z0-9_.-]+ (no key twice), values free of ';', '=' and control
 * characters, valid UTF-8, at most 4096 bytes.  On failure writes why to
 * msg and returns RAIIAF_E_ARG. */
int rf_env_canonical_check(const char *s, char *msg, size_t msg_size);

/* Adds (or replaces, when the id exists) a component without checking the
 * canonical string's syntax (records read from files are taken as stored). */
int rf_env_put(raiiaf_env *env, const char *id, const char *canonical);

/* Sorts components by id (bytewise). */
void rf_env_sort(raiiaf_env *env);

/* Appends "name=VALUE" style text safely: replaces ';', '=' and control
 * characters by '_' and trims surrounding blanks (for captured values). */
void rf_env_clean_value(char *s);

/* Appends the library's own components (env_capture.c).  `flags` takes
 * RAIIAF_ENV_INCLUDE_HOSTNAME. */
int rf_env_capture_into(raiiaf_env *env, unsigned flags);

/* Parses either record form (format 2 ENVR or format 1 ENVC JSON) into env:
 * structure, limits and every stored digest; `what` names it in messages. */
int rf_env_parse(raiiaf_env *env, const char *json, size_t size, const char *what);

/* The format 2 record {"env_version": 2, "components": [...]} of env, in id
 * order as stored; NULL when memory ran out. */
json_t *rf_env_to_json(const raiiaf_env *env);

/* Checks a record's JSON against schema/raiiaf-env.schema.json. */
int rf_env_validate_record(const json_t *record, rf_err *e);

/* Appends "gpu" (format 1 form, GPU 0) and "gpu0", "gpu1", ... from NVML
 * (nvml.c).  No library, no driver or no GPU: adds nothing, returns OK. */
int rf_env_capture_nvml(raiiaf_env *env);

/* The value of `key` in a canonical string, copied to buf; 0 when found. */
int rf_env_value(const char *canonical, const char *key, char *buf, size_t cap);

/* ---- writer side ------------------------------------------------------ */

typedef struct rf_wenv {
    unsigned flags;
    raiiaf_env *extra; /* the caller's components */
    int written;       /* the ENVR chunk is in the file (a retried finish adds none) */
} rf_wenv;

/* Builds the record to store: captured (unless NO_CAPTURE) plus the
 * caller's components; validates it against schema/raiiaf-env.schema.json;
 * fills /raiiaf_metadata/model_info/hardware_info when the caller set none.
 * *text is NULL (and OK returned) when no record is to be written. */
int rf_env_build_record(rf_wenv *we, json_t *manifest, char **text, size_t *len, rf_err *e);

int rf_wenv_set(rf_wenv *we, unsigned flags, rf_err *e);
int rf_wenv_add(rf_wenv *we, const char *id, const char *canonical, rf_err *e);
void rf_wenv_free(rf_wenv *we);

/* ---- reader side (the reader's struct is in reader_impl.h) ------------ */

struct raiiaf_reader;
struct json_t;
/* Open-time check of /raiiaf_metadata/environment; sets r->env_chunk. */
int rf_env_open_check(struct raiiaf_reader *r, struct json_t *meta);
/* Verify: decodes the ENVR chunk ci, checks its digest, JSON, schema and
 * every component's SHA-256. */
int rf_env_verify_chunk(struct raiiaf_reader *r, size_t ci);

/* The embedded schema/raiiaf-env.schema.json. */
extern const char rf_env_schema_json[];

#endif
