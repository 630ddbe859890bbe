/* verify.c -- raiiaf_reader_verify(): every check the format allows.
 *
 * Beyond what reading does, verify proves that every byte of the file is
 * accounted for: the header, then chunks back to back (each with a valid
 * header CRC, payload CRC and zero padding), older manifests and footers
 * reachable from the newest footer, and the footer last.  A single flipped
 * bit anywhere therefore fails some check. */
#include "reader_impl.h"
#include "env.h"
#include "image_job.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    raiiaf_reader *r;
    raiiaf_problem_fn report;
    void *ctx;
    int first;
    unsigned count;
    unsigned char *bad; /* per chunk: already reported, so later checks skip it */
    char first_msg[RF_ERRMSG_SIZE];
    /* No more decoding: a caller without a report callback wants only the
     * verdict, so the first problem ends the work; and once the reader's
     * budget of decoded bytes is spent nothing more can be decoded. */
    int stop;
} problems;

/* Records the reader's current error as a problem. */
static void note(problems *p, int code)
{
    if (!code) return;
    if (!p->first) {
        p->first = code;
        memcpy(p->first_msg, p->r->err.msg, sizeof p->first_msg);
    }
    p->count++;
    if (p->report) p->report(p->ctx, code, p->r->err.msg);
    else p->stop = 1;
}

/* Notes a payload check's status; a budget refusal ends the decoding. */
static void note_decode(problems *p, int code)
{
    note(p, code);
    if (p->r->decode_spent) p->stop = 1;
}

enum region_kind { REGION_CHUNK, REGION_OLD_MANIFEST, REGION_OLD_FOOTER };
typedef struct {
    uint64_t offset;
    enum region_kind kind;
    size_t chunk;
} region;

static int cmp_region(const void *a, const void *b)
{
    uint64_t x = ((const region *)a)->offset, y = ((const region *)b)->offset;
    return x < y ? -1 : x > y;
}

static int padding_is_zero(const raiiaf_reader *r, uint64_t from, uint64_t to)
{
    for (uint64_t i = from; i < to; i++)
        if (r->data[i]) return 0;
    return 1;
}

/* file_info.previous_manifest of manifest `version` must name the real
 * previous manifest (offset and SHA-256 of its JSON text), or be absent /
 * null for the first. */
static void check_previous(problems *p, json_t *m, uint32_t version, uint64_t off, const char *text, size_t len)
{
    raiiaf_reader *r = p->r;
    if (!m) return;
    json_t *fi = json_object_get(json_object_get(m, "raiiaf_metadata"), "file_info");
    json_t *pm = json_object_get(fi, "previous_manifest");
    if (!text) {
        if (pm && !json_is_null(pm))
            note(p, rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest version %u: file_info/previous_manifest names a manifest, but there is none before it", version));
        return;
    }
    char sha[65];
    if (rf_sha256_hex(text, len, sha)) {
        note(p, rf_fail(&r->err, RAIIAF_E_NOMEM, "out of memory"));
        return;
    }
    json_t *po = json_object_get(pm, "offset"), *ps = json_object_get(pm, "sha256");
    if (!json_is_integer(po) || (uint64_t)json_integer_value(po) != off)
        note(p, rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest version %u: file_info/previous_manifest/offset is not %llu, where version %u's manifest is",
                        version, (unsigned long long)off, version - 1));
    else if (!json_is_string(ps) || strcmp(json_string_value(ps), sha))
        note(p, rf_fail(&r->err, RAIIAF_E_DIGEST, "manifest version %u: file_info/previous_manifest/sha256 does not match version %u's manifest",
                        version, version - 1));
}

/* Walks the chain of earlier footers (left by appended edits) and adds
 * each footer and its manifest chunk to the regions. */
static int collect_history(problems *p, region **regs, size_t *n, size_t *cap)
{
    raiiaf_reader *r = p->r;
    uint64_t prev = r->prev_footer, limit = r->manifest_off;
    uint32_t version = r->manifest_version;
    json_t *newer = json_incref(r->manifest); /* the manifest whose previous_manifest is checked next */
    if (!prev) check_previous(p, newer, version, 0, NULL, 0);
    while (prev) {
        uint64_t moff, pprev;
        uint32_t v;
        if (prev + RF_FOOTER_SIZE > limit) {
            note(p, rf_fail(&r->err, RAIIAF_E_CORRUPT, "previous footer offset %llu overlaps later data", (unsigned long long)prev));
            return 0;
        }
        int rc = rf_parse_footer(r, prev, &moff, &pprev, &v);
        if (!rc && v + 1 != version)
            rc = rf_fail(&r->err, RAIIAF_E_CORRUPT, "footer at offset %llu has manifest version %u, expected %u", (unsigned long long)prev, v, version - 1);
        char *text = NULL;
        size_t len = 0;
        if (!rc) rc = rf_load_manifest(r, moff, prev, &text, &len);
        if (rc) {
            json_decref(newer);
            note(p, rc);
            return 0;
        }
        check_previous(p, newer, version, moff, text, len);
        json_decref(newer);
        char what[96];
        snprintf(what, sizeof what, "manifest version %u at offset %llu", v, (unsigned long long)moff);
        newer = NULL;
        note(p, rf_json_parse(text, len, what, &newer, &r->err)); /* bounded like the newest manifest */
        if (newer && !pprev)
            check_previous(p, newer, v, 0, NULL, 0);
        free(text);
        if (*n + 2 > *cap) {
            size_t nc = *cap * 2 + 4;
            region *g = realloc(*regs, nc * sizeof *g);
            if (!g) {
                json_decref(newer);
                return rf_fail(&r->err, RAIIAF_E_NOMEM, "out of memory");
            }
            *regs = g;
            *cap = nc;
        }
        (*regs)[(*n)++] = (region){prev, REGION_OLD_FOOTER, 0};
        (*regs)[(*n)++] = (region){moff, REGION_OLD_MANIFEST, 0};
        version = v;
        limit = moff;
        prev = pprev;
    }
    json_decref(newer);
    return 0;
}

/* Every byte from the header to the footer belongs to exactly one region. */
static void check_layout(problems *p)
{
    raiiaf_reader *r = p->r;
    size_t cap = r->nchunks + 8, n = 0;
    region *regs = malloc(cap * sizeof *regs);
    if (!regs) {
        note(p, rf_fail(&r->err, RAIIAF_E_NOMEM, "out of memory"));
        return;
    }
    for (size_t i = 0; i < r->nchunks; i++) regs[n++] = (region){r->chunks[i].offset, REGION_CHUNK, i};
    if (collect_history(p, &regs, &n, &cap)) {
        note(p, RAIIAF_E_NOMEM);
        free(regs);
        return;
    }
    qsort(regs, n, sizeof *regs, cmp_region);
    uint64_t pos = RF_HEADER_SIZE;
    for (size_t i = 0; i < n; i++) {
        region g = regs[i];
        if (g.offset != pos) {
            note(p, rf_fail(&r->err, RAIIAF_E_CORRUPT, "bytes %llu to %llu belong to no chunk listed in the manifest",
                            (unsigned long long)pos, (unsigned long long)g.offset));
            if (g.offset < pos) break;
        }
        uint64_t end;
        if (g.kind == REGION_OLD_FOOTER) {
            end = g.offset + RF_FOOTER_SIZE;
        } else {
            /* Sizes from the manifest record (bounds proven at open) or from a
             * historical manifest header (proven by rf_load_manifest); never
             * from an unchecked chunk header. */
            rf_chunk_fields f;
            rf_chunk_header_read(r->data + g.offset, &f, NULL); /* its checks were rf_load_manifest's */
            end = g.offset + RF_CHUNK_HEADER_SIZE + (g.kind == REGION_CHUNK ? r->chunks[g.chunk].stored : f.stored);
            if (g.kind == REGION_CHUNK) {
                const unsigned char *payload;
                int rc = rf_check_chunk(r, g.chunk, &payload);
                if (rc) p->bad[g.chunk] = 1;
                note(p, rc);
            }
        }
        if (!padding_is_zero(r, end, rf_align_up(end)))
            note(p, rf_fail(&r->err, RAIIAF_E_CORRUPT, "padding after offset %llu is not zero", (unsigned long long)end));
        pos = rf_align_up(end);
    }
    if (pos != r->manifest_off)
        note(p, rf_fail(&r->err, RAIIAF_E_CORRUPT, "bytes %llu to %llu belong to no chunk listed in the manifest",
                        (unsigned long long)pos, (unsigned long long)r->manifest_off));
    rf_chunk_fields mf;
    rf_chunk_header_read(r->data + r->manifest_off, &mf, NULL); /* checked at open */
    uint64_t mend = r->manifest_off + RF_CHUNK_HEADER_SIZE + mf.stored;
    if (!padding_is_zero(r, mend, r->size - RF_FOOTER_SIZE) || mf.index != r->nchunks)
        note(p, rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest chunk at offset %llu: non-zero padding or wrong chunk index",
                        (unsigned long long)r->manifest_off));
    free(regs);
}

/* Decodes every payload and compares its SHA-256 with the manifest. */
static void check_payloads(problems *p)
{
    raiiaf_reader *r = p->r;
    unsigned char *claimed = calloc(r->nchunks ? r->nchunks : 1, 1);
    if (!claimed) {
        note(p, rf_fail(&r->err, RAIIAF_E_NOMEM, "out of memory"));
        return;
    }
    /* With two threads the image is checked on the second one while this
     * one hashes and decodes the tensors.  Its verdict is taken where a
     * single thread would check it, after the tensors and after its own
     * CRC-32C and digest: same problems, same order, either way. */
    rf_image_job job = {0};
    int early = 0;
    if (r->threads != 1 && r->image_chunk >= 0 && !p->bad[r->image_chunk]) {
        const rf_rchunk *c = &r->chunks[r->image_chunk];
        if (c->codec == RF_CODEC_RAW && c->stored <= r->size && c->offset + RF_CHUNK_HEADER_SIZE <= r->size - c->stored)
            early = !rf_image_job_start(&job, r->data + c->offset + RF_CHUNK_HEADER_SIZE, (size_t)c->stored, NULL, 0, 1);
    }
    size_t skipped = 0;
    for (size_t i = 0; i < r->ntensors; i++) {
        const rf_rchunk *c = &r->chunks[r->tensors[i].chunk];
        claimed[r->tensors[i].chunk] = 1;
        if (c->raw > SIZE_MAX || p->bad[r->tensors[i].chunk]) continue;
        if (p->stop) {
            skipped++;
            continue;
        }
        char where[400];
        rf_chunk_where(r, r->tensors[i].chunk, where, sizeof where);
        int rc = rf_decode_fits(r, c->raw, where); /* before allocating for it */
        if (rc) {
            note_decode(p, rc);
            continue;
        }
        if (c->codec == RF_CODEC_RECIPE && !r->tensors[i].has_ref) {
            /* regenerated into its digest in pieces: no buffer of its size */
            note_decode(p, rf_check_recipe_tensor(r, i));
            continue;
        }
        void *buf = malloc(c->raw ? (size_t)c->raw : 1);
        if (!buf) {
            note(p, rf_fail(&r->err, RAIIAF_E_NOMEM, "tensor \"%s\": out of memory for %llu bytes", r->tensors[i].name,
                            (unsigned long long)c->raw));
            continue;
        }
        note_decode(p, rf_decode_tensor(r, i, buf, (size_t)c->raw, 1));
        free(buf);
    }
    if (skipped && p->report && r->decode_spent) {
        char msg[160];
        snprintf(msg, sizeof msg, "warning: %zu more tensors not checked: this reader's budget of decoded bytes is spent", skipped);
        p->report(p->ctx, RAIIAF_OK, msg);
    }
    if (p->stop) {
        rf_image_job_free(&job);
        free(claimed);
        return;
    }
    if (r->image_chunk >= 0 && !p->bad[r->image_chunk]) {
        size_t ci = (size_t)r->image_chunk;
        const unsigned char *data;
        int rc = rf_check_raw(r, ci, &data, 1);
        rf_image_desc d;
        if (!rc && early) {
            if ((rc = rf_image_job_wait(&job))) rf_fail(&r->err, rc, "%s", job.err.msg);
            d = job.desc;
        } else if (!rc) {
            rc = rf_image_validate(data, (size_t)r->chunks[ci].stored, &d, &r->err);
        }
        if (!rc && (strcmp(d.format, r->image_format) || d.width != r->image_width || d.height != r->image_height))
            rc = rf_fail(&r->err, RAIIAF_E_CORRUPT, "image is %s %ux%u, the manifest says %s %ux%u", d.format, d.width,
                         d.height, r->image_format, r->image_width, r->image_height);
        note(p, rc);
    }
    rf_image_job_free(&job);
    for (size_t ci = 0; ci < r->nchunks; ci++) {
        const rf_rchunk *c = &r->chunks[ci];
        if (claimed[ci] || (size_t)r->image_chunk == ci || p->bad[ci]) continue;
        if (p->stop) break;
        if (r->env_chunk == ci + 1) { /* the environment record: env_record.c */
            note(p, rf_env_verify_chunk(r, ci));
            continue;
        }
        if (!strcmp(c->type, RF_TYPE_TENSOR) || !strcmp(c->type, RF_TYPE_IMAGE) || !strcmp(c->type, RF_TYPE_MANIFEST) ||
            !strcmp(c->type, RF_TYPE_ENV)) {
            note(p, rf_fail(&r->err, RAIIAF_E_CORRUPT, "chunk %zu (%s) is not described by the manifest", ci, c->type));
            continue;
        }
        /* A chunk type this library does not know: raw and zstd payloads
         * decode without knowing what they mean, so their digest is checked. */
        const unsigned char *data;
        int rc = c->codec == RF_CODEC_RAW ? rf_check_raw(r, ci, &data, 1) : rf_check_chunk(r, ci, &data);
        if (!rc && c->codec == RF_CODEC_ZSTD && c->raw <= SIZE_MAX) {
            void *buf = malloc(c->raw ? (size_t)c->raw : 1);
            char where[400];
            rf_chunk_where(r, ci, where, sizeof where);
            if (!buf) rc = rf_fail(&r->err, RAIIAF_E_NOMEM, "out of memory");
            if (!rc) rc = rf_charge_decode(r, c->raw, where);
            if (!rc) rc = rf_planes_decode(data, (size_t)c->stored, buf, (size_t)c->raw, 0, where, &r->err);
            if (!rc) rc = rf_check_digest(r, ci, buf, c->raw, 1);
            free(buf);
        }
        note_decode(p, rc);
    }
    free(claimed);
}

static void check_manifest(problems *p)
{
    raiiaf_reader *r = p->r;
    json_t *schema;
    int rc = rf_json_parse(rf_schema_json, strlen(rf_schema_json), "embedded schema", &schema, &r->err);
    if (rc) {
        note(p, rc);
        return;
    }
    rc = rf_schema_validate(schema, r->manifest, &r->err);
    json_decref(schema);
    if (rc) {
        char msg[RF_ERRMSG_SIZE];
        snprintf(msg, sizeof msg, "%s", r->err.msg);
        rf_fail(&r->err, rc, "manifest %s", msg);
    }
    note(p, rc);
    json_t *fi = json_object_get(json_object_get(r->manifest, "raiiaf_metadata"), "file_info");
    json_t *count = json_object_get(fi, "chunk_count");
    if (json_is_integer(count) && (uint64_t)json_integer_value(count) != r->nchunks)
        note(p, rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest /raiiaf_metadata/file_info/chunk_count: is %lld, the manifest lists %zu chunks",
                        (long long)json_integer_value(count), r->nchunks));
    json_t *mv = json_object_get(fi, "manifest_version");
    if (json_is_integer(mv) && json_integer_value(mv) != (json_int_t)r->manifest_version)
        note(p, rf_fail(&r->err, RAIIAF_E_CORRUPT, "manifest /raiiaf_metadata/file_info/manifest_version: is %lld, the footer says %u",
                        (long long)json_integer_value(mv), r->manifest_version));
}

int raiiaf_reader_set_threads(raiiaf_reader *r, unsigned threads)
{
    if (!r) return RAIIAF_E_ARG;
    if (threads != 1 && threads != 2) return rf_fail(&r->err, RAIIAF_E_ARG, "threads must be 1 or 2, not %u", threads);
    r->threads = threads;
    return RAIIAF_OK;
}

/* A SIGN chunk whose signature does not hold is a damaged structure even
 * when its CRC and digest agree (anyone can recompute those): plain verify
 * fails on it as info reports it.  "Edited since" is not damage (editing a
 * signed file is allowed); only --pubkey requires the signature to cover the
 * newest version.  Checked on the newest version only (older versions'
 * signatures were checked against their own successors). */
static void check_signature(problems *p)
{
    raiiaf_reader *r = p->r;
    if (r->manifest_version != r->latest_version) return;
    raiiaf_signature_info s;
    int rc = raiiaf_reader_signature(r, NULL, &s);
    if (rc) {
        note(p, rc);
        return;
    }
    if (s.state == RAIIAF_SIG_INVALID)
        note(p, rf_fail(&r->err, RAIIAF_E_DIGEST, "signature invalid: %s", s.message));
}

int raiiaf_reader_verify(raiiaf_reader *r, raiiaf_problem_fn report, void *ctx)
{
    if (!r) return RAIIAF_E_ARG;
    if (!r->manifest) {
        /* Opening failed: that failure is the (only) problem to report. */
        int code = r->err.code ? r->err.code : RAIIAF_E_STATE;
        if (report) report(ctx, code, r->err.msg);
        return code;
    }
    return r->be->verify(r, report, ctx);
}

int rf_f2_verify(raiiaf_reader *r, raiiaf_problem_fn report, void *ctx)
{
    problems p = {r, report, ctx, 0, 0, calloc(r->nchunks + 1, 1), "", 0};
    if (!p.bad) return rf_fail(&r->err, RAIIAF_E_NOMEM, "out of memory");
    rf_err_clear(&r->err);
    r->decode_spent = 0; /* a refusal before this call (a read) is not this verify's */
    if (r->trailing)
        note(&p, rf_fail(&r->err, RAIIAF_E_TRUNCATED, "%llu trailing bytes after the last complete version (interrupted edit?)",
                         (unsigned long long)r->trailing));
    check_layout(&p);
    if (!p.stop) check_payloads(&p);
    if (!p.stop) check_manifest(&p);
    if (!p.stop) check_signature(&p);
    free(p.bad);
    if (p.first) rf_fail(&r->err, p.first, "%s", p.first_msg);
    else rf_err_clear(&r->err);
    return p.first;
}
