/* chunk_check.c -- the checks every payload passes before it is used: its
 * chunk header against the manifest's record, the payload's CRC-32C and the
 * SHA-256 of what it decodes to (on two threads for large raw payloads);
 * and the reader's budget of decoded bytes every decode is charged to.
 * Shared by the format 2 reader (reader.c) and the format 1 backend
 * (format1_read.c), which both call down into it. */
#include "reader_impl.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rf_chunk_where(const raiiaf_reader *r, size_t ci, char *buf, size_t cap)
{
    const rf_rchunk *c = &r->chunks[ci];
    const char *name = NULL;
    for (size_t i = 0; i < r->ntensors; i++)
        if (r->tensors[i].chunk == ci) name = r->tensors[i].name;
    if (name)
        snprintf(buf, cap, "chunk %zu (%s \"%s\") at offset %llu", ci, c->type, name, (unsigned long long)c->offset);
    else
        snprintf(buf, cap, "chunk %zu (%s) at offset %llu", ci, c->type, (unsigned long long)c->offset);
}

/* The chunk header against the record; *payload receives where the
 * payload starts.  `where` names the chunk for messages. */
static int check_header(raiiaf_reader *r, size_t ci, const unsigned char **payload, const char *where)
{
    rf_rchunk *c = &r->chunks[ci];
    /* The open step proved offset + 64 + stored lies inside the file. */
    const unsigned char *h = r->data + c->offset;
    rf_chunk_fields f;
    unsigned bad = 0;
    int rc = rf_chunk_header_read(h, &f, &bad);
    if (rc == RAIIAF_E_CHECKSUM) return rf_fail(&r->err, rc, "%s: chunk header CRC-32C mismatch", where);
    if (rc) return rf_fail(&r->err, rc, "%s: chunk header reserved byte %u is not zero", where, bad);
    if (memcmp(f.type, c->type, 4) || f.codec != c->codec || f.index != ci || f.stored != c->stored || f.raw != c->raw ||
        f.crc != c->crc)
        return rf_fail(&r->err, RAIIAF_E_CORRUPT, "%s: chunk header disagrees with the manifest's record", where);
    *payload = h + RF_CHUNK_HEADER_SIZE;
    return RAIIAF_OK;
}

/* The verdicts on a payload's two sums, shared by the one-thread and the
 * two-thread checks. */
static int accept_crc(raiiaf_reader *r, rf_rchunk *c, uint32_t crc, const char *where)
{
    if (!rf_sum_ok(c->crc, crc))
        return rf_fail(&r->err, RAIIAF_E_CHECKSUM, "%s: payload CRC-32C mismatch (stored %08x, computed %08x)", where, c->crc, crc);
    c->crc_ok = 1;
    return RAIIAF_OK;
}

static int accept_sha(raiiaf_reader *r, size_t ci, const char hex[65])
{
    rf_rchunk *c = &r->chunks[ci];
    if (!rf_sum_ok(strcmp(hex, c->sha), 0)) {
        char where[400];
        rf_chunk_where(r, ci, where, sizeof where);
        return rf_fail(&r->err, RAIIAF_E_DIGEST, "%s: SHA-256 of the decoded content does not match the manifest", where);
    }
    /* Only raw payloads are decoded in place, so only they can be trusted
     * on the next access without hashing again. */
    if (c->codec == RF_CODEC_RAW) c->sha_ok = 1;
    return RAIIAF_OK;
}

int rf_check_digest_hex(raiiaf_reader *r, size_t ci, const char hex[65]) { return accept_sha(r, ci, hex); }

int rf_check_chunk(raiiaf_reader *r, size_t ci, const unsigned char **payload)
{
    rf_rchunk *c = &r->chunks[ci];
    char where[400];
    rf_chunk_where(r, ci, where, sizeof where);
    int rc = check_header(r, ci, payload, where);
    if (rc) return rc;
    return c->crc_ok ? RAIIAF_OK : accept_crc(r, c, rf_crc32c(0, *payload, (size_t)c->stored), where);
}

int rf_check_digest(raiiaf_reader *r, size_t ci, const void *decoded, uint64_t size, int force)
{
    rf_rchunk *c = &r->chunks[ci];
    if ((r->flags & RAIIAF_READ_NO_DIGEST) && !force) return RAIIAF_OK;
    if (c->sha_ok) return RAIIAF_OK;
    char hex[65];
    if (rf_sha256_hex(decoded, (size_t)size, hex)) return rf_fail(&r->err, RAIIAF_E_NOMEM, "out of memory");
    return accept_sha(r, ci, hex);
}

/* From this size on, a raw payload's SHA-256 runs on a second thread while
 * this one computes its CRC-32C: reading with full checks then costs about
 * one SHA-256 instead of SHA-256 plus CRC (docs/PERFORMANCE.md). */
#define RF_PARALLEL_DIGEST_MIN ((uint64_t)1 << 20)

typedef struct {
    const unsigned char *data;
    size_t size;
    char hex[65];
} sha_job;

static void *sha_worker(void *arg)
{
    sha_job *j = arg;
    rf_sha256_hex(j->data, j->size, j->hex);
    return NULL;
}

int rf_check_raw(raiiaf_reader *r, size_t ci, const unsigned char **payload, int force_digest)
{
    rf_rchunk *c = &r->chunks[ci];
    int want_sha = !c->sha_ok && (force_digest || !(r->flags & RAIIAF_READ_NO_DIGEST));
    if (!want_sha || c->crc_ok || c->stored < RF_PARALLEL_DIGEST_MIN || c->stored > SIZE_MAX) {
        int rc = rf_check_chunk(r, ci, payload);
        return rc ? rc : rf_check_digest(r, ci, *payload, c->stored, force_digest);
    }
    char where[400];
    rf_chunk_where(r, ci, where, sizeof where);
    int rc = check_header(r, ci, payload, where);
    if (rc) return rc;
    sha_job job = {*payload, (size_t)c->stored, ""};
    pthread_t th;
    int threaded = !pthread_create(&th, NULL, sha_worker, &job);
    uint32_t crc = rf_crc32c(0, *payload, (size_t)c->stored);
    if (threaded)
        pthread_join(th, NULL);
    else
        sha_worker(&job); /* no thread to be had: one after the other */
    rc = accept_crc(r, c, crc, where);
    return rc ? rc : accept_sha(r, ci, job.hex);
}

int rf_charge_decode(raiiaf_reader *r, uint64_t bytes, const char *where)
{
    int rc = rf_decode_fits(r, bytes, where);
    if (!rc) r->decoded += bytes;
    return rc;
}

uint64_t raiiaf_decode_limit_default(uint64_t file_size)
{
    uint64_t per_file, limit;
    if (rf_mul_u64(file_size, RF_DECODE_BUDGET_PER_BYTE, &per_file) || rf_add_u64(per_file, RF_DECODE_BUDGET_BASE, &limit))
        return UINT64_MAX;
    return limit;
}

/* What every budget refusal ends with: how to raise it. */
#define RAISE_HINT "the default is 64 MiB + 64 x the file size; raise it with --max-decode BYTES or RAIIAF_MAX_DECODE (raiiaf), max_decode= (Python) or raiiaf_reader_set_decode_limit()"

int rf_decode_fits(raiiaf_reader *r, uint64_t bytes, const char *where)
{
    if (r->decode_limit && (r->decoded > r->decode_limit || bytes > r->decode_limit - r->decoded)) {
        r->decode_spent = 1;
        return rf_fail(&r->err, RAIIAF_E_LIMIT,
                       "%s: decoding %llu more bytes would pass this reader's budget of %llu decoded bytes (%llu decoded so far; " RAISE_HINT ")",
                       where, (unsigned long long)bytes, (unsigned long long)r->decode_limit, (unsigned long long)r->decoded);
    }
    return RAIIAF_OK;
}

int rf_charge_manifest(raiiaf_reader *r, uint64_t raw, const char *where)
{
    uint64_t cost = raw > UINT64_MAX / RF_MANIFEST_BUDGET_WEIGHT ? UINT64_MAX : raw * RF_MANIFEST_BUDGET_WEIGHT;
    if (r->decode_limit && (r->decoded > r->decode_limit || cost > r->decode_limit - r->decoded)) {
        r->decode_spent = 1;
        return rf_fail(&r->err, RAIIAF_E_LIMIT,
                       "%s: its %llu bytes of JSON text (counted %u times: parsing costs more than decoding) would pass this reader's budget of %llu decoded bytes (%llu decoded so far; " RAISE_HINT ")",
                       where, (unsigned long long)raw, RF_MANIFEST_BUDGET_WEIGHT, (unsigned long long)r->decode_limit,
                       (unsigned long long)r->decoded);
    }
    r->decoded += cost;
    return RAIIAF_OK;
}
