/* error.c -- status codes, messages and the error state of handles. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rf_fail(rf_err *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->code = code;
    }
    return code;
}

void rf_err_clear(rf_err *e)
{
    e->code = RAIIAF_OK;
    e->msg[0] = '\0';
}

const char *raiiaf_strerror(int status)
{
    switch (status) {
    case RAIIAF_OK: return "success";
    case RAIIAF_E_ARG: return "invalid argument";
    case RAIIAF_E_NOMEM: return "out of memory";
    case RAIIAF_E_IO: return "I/O error";
    case RAIIAF_E_NOT_RAIIAF: return "not a RAIIAF file";
    case RAIIAF_E_VERSION: return "unsupported format version";
    case RAIIAF_E_TRUNCATED: return "truncated data";
    case RAIIAF_E_CORRUPT: return "corrupt data";
    case RAIIAF_E_CHECKSUM: return "checksum mismatch";
    case RAIIAF_E_DIGEST: return "digest mismatch";
    case RAIIAF_E_LIMIT: return "safety limit exceeded";
    case RAIIAF_E_JSON: return "malformed JSON";
    case RAIIAF_E_SCHEMA: return "schema violation";
    case RAIIAF_E_IMAGE: return "invalid image";
    case RAIIAF_E_CODEC: return "codec error";
    case RAIIAF_E_NOT_FOUND: return "not found";
    case RAIIAF_E_EXISTS: return "already exists";
    case RAIIAF_E_STATE: return "call out of sequence";
    case RAIIAF_E_BUFFER: return "wrong buffer size";
    case RAIIAF_E_BUSY: return "locked by another writer";
    default: return "unknown error";
    }
}

const char *raiiaf_version_string(void) { return RAIIAF_VERSION_STRING; }

unsigned raiiaf_version_number(void) { return RAIIAF_VERSION_NUMBER; }

/* One allocator on both sides: memory the library hands out is released
 * here, so a caller built against another C runtime never frees it. */
void raiiaf_free(void *p) { free(p); }

void rf_msg(char *err, size_t n, const char *fmt, ...)
{
    if (!err || !n) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
}
