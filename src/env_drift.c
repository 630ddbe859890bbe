/* env_drift.c -- drift reports: a file's environment record against the
 * current one (raiiaf_drift_*).  See env.h. */
#include "env.h"
#include "reader_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
