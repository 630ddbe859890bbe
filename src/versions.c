/* versions.c -- the manifest versions of a file (SPEC.md §13): opening an
 * older one by walking the footer chain, and reading any one back. */
#include "reader_impl.h"

#include <stdlib.h>
#include <string.h>

int raiiaf_reader_open_version(const char *path, unsigned flags, uint32_t version, raiiaf_reader **out)
{
    int rc = raiiaf_reader_new(flags, out);
    if (rc) return rc;
    raiiaf_reader *r = *out;
    rc = raiiaf_reader_set_version(r, version);
    if (!rc) rc = raiiaf_reader_open(r, path);
    return rc;
}

int raiiaf_reader_set_version(raiiaf_reader *r, uint32_t version)
{
    if (!r) return RAIIAF_E_ARG;
    if (r->data || r->manifest) return rf_fail(&r->err, RAIIAF_E_STATE, "set the version before opening the file");
    r->want_version = version; /* the open walks the footer chain to it */
    return RAIIAF_OK;
}

uint32_t raiiaf_reader_manifest_version(const raiiaf_reader *r)
{
    if (!r) return 0;
    if (r->f1) return 1;
    return r->manifest_version;
}

uint32_t raiiaf_reader_latest_version(const raiiaf_reader *r)
{
    if (!r) return 0;
    if (r->f1) return 1;
    return r->latest_version ? r->latest_version : r->manifest_version;
}

uint64_t raiiaf_reader_trailing_bytes(const raiiaf_reader *r) { return r ? r->trailing : 0; }

int raiiaf_reader_manifest_at(raiiaf_reader *r, uint32_t version, char **json, size_t *size, uint64_t *offset)
{
    if (!r || !json) return RAIIAF_E_ARG;
    *json = NULL;
    if (!r->manifest) return rf_fail(&r->err, RAIIAF_E_STATE, "the file did not open");
    if (r->f1) {
        if (version != 1) return rf_fail(&r->err, RAIIAF_E_NOT_FOUND, "a format 1 file has one manifest version");
        char *t = malloc(r->manifest_len + 1);
        if (!t) return rf_fail(&r->err, RAIIAF_E_NOMEM, "out of memory");
        memcpy(t, r->manifest_text, r->manifest_len + 1);
        *json = t;
        if (size) *size = r->manifest_len;
        if (offset) *offset = 0;
        return RAIIAF_OK;
    }
    uint64_t f = r->latest_footer;
    for (unsigned steps = 0; f; steps++) {
        uint64_t moff, prev;
        uint32_t v;
        int rc = rf_parse_footer(r, f, &moff, &prev, &v);
        if (rc) return rc;
        if (v == version) {
            size_t len;
            rc = rf_load_manifest(r, moff, f, json, &len);
            if (rc) return rc;
            if (size) *size = len;
            if (offset) *offset = moff;
            return RAIIAF_OK;
        }
        if (v < version || (prev && prev >= f)) break;
        f = prev;
    }
    return rf_fail(&r->err, RAIIAF_E_NOT_FOUND, "manifest version %u not found", version);
}
