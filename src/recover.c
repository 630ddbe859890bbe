/* recover.c -- raiiaf_recover(): salvaging a damaged format 2 file.
 *
 * Every 64-byte boundary is tried as a chunk header: one whose header CRC
 * and payload CRC hold is kept.  The newest manifest found that describes
 * only surviving chunks supplies the records; otherwise a manifest is
 * rebuilt: the image from an IMAG chunk (validated), tensors from TENS
 * chunks whose dtype and shape some surviving manifest text records
 * (matched by CRC and size), anything else stored as an unknown chunk. */
#include "reader_impl.h"
#include "env.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    uint64_t off, stored, raw;
    uint32_t crc;
    char type[5];
    unsigned codec;
} found_chunk;

/* A MANI chunk found by the scan: decoded and parsed only when used, one
 * at a time, so a file of many manifests cannot hold them all in memory. */
typedef struct {
    uint64_t off, stored, raw;
} found_mani;

/* The budget of decoded bytes of one recovery (raiiaf_recover_limited):
 * manifest text read (weighted as a reader weighs it), chunks decoded to
 * describe them, and each candidate file's verification.  limit 0: none. */
typedef struct {
    uint64_t limit, spent;
    int exhausted; /* a step was refused for it: recovery stops */
} budget;

static int fits(const budget *b, uint64_t bytes)
{
    return !b->limit || (b->spent <= b->limit && bytes <= b->limit - b->spent);
}

/* The refusal when the budget is spent: nothing is written. */
static int spent_fail(const budget *b, rf_err *e, const char *what, uint64_t bytes)
{
    return rf_fail(e, RAIIAF_E_LIMIT,
                   "%s: %llu more decoded bytes would pass recover's budget of %llu (%llu spent so far; the default is 64 MiB + 64 x "
                   "the file size; raise it with --max-decode BYTES or RAIIAF_MAX_DECODE): nothing written",
                   what, (unsigned long long)bytes, (unsigned long long)b->limit, (unsigned long long)b->spent);
}

static void say(raiiaf_problem_fn report, void *ctx, int code, const char *fmt, ...)
{
    char buf[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (report) report(ctx, code, buf);
}

/* Whether manifest m's chunk records all name surviving chunks, in order;
 * fills src[] with the offsets. */
static int manifest_fits(json_t *m, const found_chunk *fc, size_t nf, uint64_t **src_out, size_t *n_out)
{
    json_t *chunks = json_object_get(json_object_get(m, "raiiaf_metadata"), "chunks");
    if (!json_is_array(chunks)) return 0;
    size_t n = json_array_size(chunks);
    uint64_t *src = malloc((n ? n : 1) * sizeof *src);
    if (!src) return 0;
    for (size_t i = 0; i < n; i++) {
        json_t *rec = json_array_get(chunks, i);
        json_t *o = json_object_get(rec, "offset"), *c = json_object_get(rec, "crc32c"), *s = json_object_get(rec, "stored_size");
        const char *t = json_string_value(json_object_get(rec, "type"));
        size_t k;
        for (k = 0; k < nf; k++)
            if (json_is_integer(o) && (uint64_t)json_integer_value(o) == fc[k].off) break;
        if (k == nf || !json_is_integer(c) || (uint32_t)json_integer_value(c) != fc[k].crc || !json_is_integer(s) ||
            (uint64_t)json_integer_value(s) != fc[k].stored || !t || strcmp(t, fc[k].type)) {
            free(src);
            return 0;
        }
        src[i] = fc[k].off;
    }
    *src_out = src;
    *n_out = n;
    return 1;
}

/* A tensor record of manifest m whose chunk matches fc. */
static json_t *find_tensor_record(json_t *m, const found_chunk *fc)
{
    json_t *meta = json_object_get(m, "raiiaf_metadata");
    json_t *chunks = json_object_get(meta, "chunks"), *tensors = json_object_get(meta, "tensors");
    for (size_t t = 0; t < json_array_size(tensors); t++) {
        json_t *rec = json_array_get(tensors, t);
        json_t *ci = json_object_get(rec, "chunk");
        if (!json_is_integer(ci)) continue;
        json_t *c = json_array_get(chunks, (size_t)json_integer_value(ci));
        if (json_is_integer(json_object_get(c, "crc32c")) && (uint32_t)json_integer_value(json_object_get(c, "crc32c")) == fc->crc &&
            json_is_integer(json_object_get(c, "stored_size")) && (uint64_t)json_integer_value(json_object_get(c, "stored_size")) == fc->stored &&
            json_is_string(json_object_get(rec, "name")) && json_is_string(json_object_get(rec, "dtype")) &&
            json_is_array(json_object_get(rec, "shape")))
            return rec;
    }
    return NULL;
}

/* The SHA-256 manifest m records for the chunk at fc's offset and CRC. */
static json_t *chunk_sha_from(json_t *m, const found_chunk *fc)
{
    json_t *chunks = json_object_get(json_object_get(m, "raiiaf_metadata"), "chunks");
    for (size_t i = 0; i < json_array_size(chunks); i++) {
        json_t *c = json_array_get(chunks, i);
        if (json_is_integer(json_object_get(c, "offset")) && (uint64_t)json_integer_value(json_object_get(c, "offset")) == fc->off &&
            json_is_integer(json_object_get(c, "crc32c")) && (uint32_t)json_integer_value(json_object_get(c, "crc32c")) == fc->crc)
            return json_object_get(c, "sha256");
    }
    return NULL;
}

/* Writes the recovered file as OUT.recover-PID (atomically, by rf_rewrite),
 * opens and verifies it with every check, and only then renames it over
 * `out`: what recover reports as written always verifies.  On failure the
 * candidate is removed and e says why. */
static int write_checked(const unsigned char *d, json_t *m, const uint64_t *src, const unsigned char *keep, const char *out, budget *b,
                         rf_err *e)
{
    size_t n = strlen(out) + 32;
    char *cand = malloc(n);
    if (!cand) return rf_fail(e, RAIIAF_E_NOMEM, "out of memory");
    snprintf(cand, n, "%s.recover-%ld", out, (long)getpid());
    int rc = rf_rewrite(d, m, src, keep, cand, e);
    if (rc) {
        unlink(cand);
        free(cand);
        return rc;
    }
    raiiaf_reader *r = NULL;
    /* Its verification decodes what is left of the budget at most. */
    rc = raiiaf_reader_new(0, &r);
    if (!rc) rc = raiiaf_reader_set_decode_limit(r, !b->limit ? 0 : b->spent < b->limit ? b->limit - b->spent : 1);
    if (!rc) rc = raiiaf_reader_open(r, cand);
    if (!rc) rc = raiiaf_reader_verify(r, NULL, NULL); /* stops at the first problem */
    if (r) b->spent += r->decoded;
    if (rc == RAIIAF_E_LIMIT && r && r->decode_spent) {
        b->exhausted = 1;
        rf_fail(e, rc,
                "the file it makes cannot be verified within recover's budget of %llu decoded bytes (%llu spent; the default is 64 MiB + "
                "64 x the file size; raise it with --max-decode BYTES or RAIIAF_MAX_DECODE): nothing written (%s)",
                (unsigned long long)b->limit, (unsigned long long)b->spent, raiiaf_reader_errmsg(r));
        raiiaf_reader_free(r);
        unlink(cand);
        free(cand);
        return RAIIAF_E_LIMIT;
    }
    if (rc) {
        rf_fail(e, rc, "the file it makes does not verify: %s", r ? raiiaf_reader_errmsg(r) : "out of memory");
        raiiaf_reader_free(r);
        unlink(cand);
        free(cand);
        return rc;
    }
    raiiaf_reader_free(r);
    /* rf_rewrite synced the file; the rename and its folder are synced here. */
    rc = rf_replace(cand, out, e);
    if (rc) unlink(cand);
    free(cand);
    return rc;
}

/* Whether a tensor record can describe chunk fc in a file that verifies:
 * name, dtype, shape (non-negative, no overflow, matching the chunk's
 * decoded size) and a reference, when there is one, to a tensor already
 * kept with the same dtype and shape.  Else *why says what is wrong. */
static int tensor_record_ok(json_t *rec, const found_chunk *fc, json_t *tensors, const char **why)
{
    const char *name = json_string_value(json_object_get(rec, "name"));
    raiiaf_dtype dt = raiiaf_dtype_from_name(json_string_value(json_object_get(rec, "dtype")));
    json_t *shape = json_object_get(rec, "shape");
    size_t nlen = name ? strlen(name) : 0;
    if (!nlen || nlen > RF_MAX_NAME_BYTES) return *why = "its name is empty or too long", 0;
    if (!dt || strcmp(json_string_value(json_object_get(rec, "dtype")), raiiaf_dtype_name(dt))) return *why = "its dtype is unknown", 0;
    if (!json_is_array(shape) || json_array_size(shape) > RAIIAF_MAX_RANK) return *why = "its shape is not a list of at most 8 sizes", 0;
    uint64_t bytes = raiiaf_dtype_size(dt);
    for (size_t k = 0; k < json_array_size(shape); k++) {
        json_t *v = json_array_get(shape, k);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || rf_mul_u64(bytes, (uint64_t)json_integer_value(v), &bytes) ||
            bytes > RF_MAX_TENSOR_BYTES)
            return *why = "its shape has a negative or overflowing size", 0;
    }
    if (bytes != fc->raw) return *why = "its shape and dtype disagree with the chunk's size", 0;
    for (size_t k = 0; k < json_array_size(tensors); k++)
        if (json_equal(json_object_get(json_array_get(tensors, k), "name"), json_object_get(rec, "name")))
            return *why = "another recovered tensor has its name", 0;
    json_t *ref = json_object_get(rec, "reference");
    if (ref) {
        if (fc->codec != RF_CODEC_RAW && fc->codec != RF_CODEC_ZSTD) return *why = "it is relative but not raw or zstd", 0;
        json_t *base = NULL;
        for (size_t k = 0; k < json_array_size(tensors) && !base; k++)
            if (json_equal(json_object_get(json_array_get(tensors, k), "name"), ref)) base = json_array_get(tensors, k);
        /* Only an earlier kept tensor: a reference loop or a reference to
         * a lost tensor never reaches the output. */
        if (!base) return *why = NULL, 0; /* the caller names the lost reference */
        if (!json_equal(json_object_get(base, "dtype"), json_object_get(rec, "dtype")) || !json_equal(json_object_get(base, "shape"), shape))
            return *why = "the tensor it is stored relative to has another dtype or shape", 0;
    }
    return 1;
}

/* Decodes and parses one manifest chunk, with the reader's limits (size,
 * values, memory, depth); NULL when it does not decode or parse. */
static json_t *load_mani(const unsigned char *d, const found_mani *fm)
{
    char *t = malloc((size_t)fm->raw + 1);
    rf_err de = {0, ""};
    json_t *j = NULL;
    if (t && !rf_planes_decode(d + fm->off + RF_CHUNK_HEADER_SIZE, (size_t)fm->stored, t, (size_t)fm->raw, 1, "manifest", &de))
        rf_json_parse(t, (size_t)fm->raw, "manifest", &j, &de);
    free(t);
    return j;
}

int raiiaf_recover(const char *damaged, const char *out, raiiaf_problem_fn report, void *ctx)
{
    return raiiaf_recover_limited(damaged, out, RAIIAF_DECODE_LIMIT_DEFAULT, report, ctx);
}

int raiiaf_recover_limited(const char *damaged, const char *out, uint64_t max_decode, raiiaf_problem_fn report, void *ctx)
{
    if (!damaged || !out) return RAIIAF_E_ARG;
    rf_err e = {0, ""};
    const unsigned char *d = NULL;
    size_t size = 0;
    /* An existing OUT (DAMAGED itself, say) is locked before anything is
     * read, as raiiaf_compact() does: no edit is lost in the replacement. */
    int lock_fd = -1;
    int rc = rf_lock_file(out, RF_LOCK_IF_EXISTS, &lock_fd, &e);
    if (!rc) rc = rf_map(damaged, &d, &size, &e);
    if (rc) {
        rf_unlock_file(lock_fd);
        say(report, ctx, rc, "%s", e.msg);
        return rc;
    }
    budget bud = {max_decode == RAIIAF_DECODE_LIMIT_DEFAULT ? raiiaf_decode_limit_default(size) : max_decode, 0, 0};
    found_chunk *fc = NULL;
    size_t nf = 0, cap = 0;
    found_mani *fm = NULL;
    size_t nm = 0, mcap = 0, readable = 0;
    uint64_t *src = NULL;
    unsigned char *keep = NULL;
    json_t *m = NULL, *mi = NULL, *ext = NULL;
    json_t **rec_of = NULL, **sha_of = NULL; /* per found chunk, from the newest manifest recording it */
    if (size < RF_HEADER_SIZE || memcmp(d, RF_SIGNATURE, RF_SIGNATURE_SIZE))
        say(report, ctx, RAIIAF_E_NOT_RAIIAF, "warning: no RAIIAF signature at offset 0; scanning anyway");
    /* 1. Scan. */
    for (uint64_t off = RF_HEADER_SIZE; off + RF_CHUNK_HEADER_SIZE <= size;) {
        const unsigned char *h = d + off;
        int printable = 1;
        for (int k = 0; k < 4; k++) printable &= h[k] >= 0x21 && h[k] <= 0x7e;
        rf_chunk_fields f;
        /* Reserved bytes are not held against a chunk here: what its CRCs
         * vouch for is salvaged. */
        int hc = rf_chunk_header_read(h, &f, NULL);
        uint64_t stored = f.stored, raw = f.raw;
        if (!printable || hc == RAIIAF_E_CHECKSUM || f.codec > RF_CODEC_RECIPE || stored > size - off - RF_CHUNK_HEADER_SIZE ||
            !rf_sum_ok(f.crc, rf_crc32c(0, h + RF_CHUNK_HEADER_SIZE, (size_t)stored))) {
            off += RF_ALIGN;
            continue;
        }
        if (!memcmp(h, RF_TYPE_MANIFEST, 4)) {
            /* A manifest: remembered, decoded later (bounded) for its records. */
            if (f.codec == RF_CODEC_ZSTD && raw <= RF_MAX_MANIFEST_RAW && stored <= RF_MAX_MANIFEST_STORED) {
                if (nm == mcap) {
                    mcap = mcap * 2 + 16;
                    found_mani *g = realloc(fm, mcap * sizeof *g);
                    if (!g) {
                        rc = RAIIAF_E_NOMEM;
                        goto out;
                    }
                    fm = g;
                }
                fm[nm++] = (found_mani){off, stored, raw};
            }
        } else {
            if (nf == cap) {
                cap = cap * 2 + 16;
                found_chunk *g = realloc(fc, cap * sizeof *g);
                if (!g) {
                    rc = RAIIAF_E_NOMEM;
                    goto out;
                }
                fc = g;
            }
            found_chunk *c = &fc[nf++];
            c->off = off;
            c->stored = stored;
            c->raw = raw;
            c->crc = f.crc;
            c->codec = f.codec;
            memcpy(c->type, f.type, 5);
        }
        off = rf_align_up(off + RF_CHUNK_HEADER_SIZE + stored);
    }
    say(report, ctx, RAIIAF_OK, "found %zu intact payload chunks and %zu manifest chunks", nf, nm);
    if (!nf && !nm) {
        rc = rf_fail(&e, RAIIAF_E_CORRUPT, "nothing salvageable: no chunk with valid checksums");
        say(report, ctx, rc, "%s", e.msg);
        goto out;
    }
    rec_of = calloc(nf + 1, sizeof *rec_of);
    sha_of = calloc(nf + 1, sizeof *sha_of);
    src = malloc((nf + 1) * sizeof *src);
    keep = malloc(nf + 1);
    if (!rec_of || !sha_of || !src || !keep) {
        rc = RAIIAF_E_NOMEM;
        goto out;
    }
    /* 2. The manifests, newest first, one parsed at a time: the first that
     * fits the surviving chunks supplies the records; every one leaves what
     * a rebuild needs (tensor records, digests, model_info), copied. */
    size_t unread = 0;
    for (size_t j = nm; j-- > 0;) {
        /* Each manifest is decoded and parsed once, weighted as a reader
         * weighs it; one that does not fit what is left is skipped (older,
         * smaller ones may still fit). */
        uint64_t cost = fm[j].raw * RF_MANIFEST_BUDGET_WEIGHT;
        if (!fits(&bud, cost)) {
            unread++;
            continue;
        }
        bud.spent += cost;
        json_t *mj = load_mani(d, &fm[j]);
        if (!mj) continue;
        readable++;
        /* What a rebuild would need, copied before mj may be written. */
        json_t *om = json_object_get(mj, "raiiaf_metadata");
        if (!mi && json_is_object(json_object_get(om, "model_info"))) {
            mi = rf_json_copy(json_object_get(om, "model_info"));
            if (json_is_object(json_object_get(om, "extensions"))) ext = rf_json_copy(json_object_get(om, "extensions"));
        }
        for (size_t i = 0; i < nf; i++) {
            if (strcmp(fc[i].type, RF_TYPE_TENSOR)) continue;
            json_t *rec = rec_of[i] ? NULL : find_tensor_record(mj, &fc[i]);
            json_t *sh = sha_of[i] ? NULL : chunk_sha_from(mj, &fc[i]);
            if (rec) rec_of[i] = rf_json_copy(rec);
            if (json_is_string(sh)) sha_of[i] = json_string(json_string_value(sh));
        }
        uint64_t *fsrc = NULL;
        size_t n = 0;
        if (manifest_fits(mj, fc, nf, &fsrc, &n)) {
            /* mj itself is written (rf_rewrite may change it): no copy of
             * what may be a manifest of hundreds of MiB parsed. */
            m = mj;
            mj = NULL;
            unsigned char *fkeep = malloc(n + 1);
            if (!fkeep) {
                free(fsrc);
                rc = RAIIAF_E_NOMEM;
                goto out;
            }
            for (size_t i = 0; i < n; i++) {
                json_t *t = json_object_get(json_array_get(json_object_get(json_object_get(m, "raiiaf_metadata"), "chunks"), i), "type");
                fkeep[i] = !json_is_string(t) || strcmp(json_string_value(t), "SIGN");
            }
            json_t *mv = json_object_get(json_object_get(json_object_get(m, "raiiaf_metadata"), "file_info"), "manifest_version");
            say(report, ctx, RAIIAF_OK, "using manifest version %lld, whose %zu chunks all survive",
                json_is_integer(mv) ? (long long)json_integer_value(mv) : 1LL, n);
            if (nf > n) say(report, ctx, RAIIAF_OK, "warning: %zu intact chunks not listed by that manifest are dropped", nf - n);
            rc = write_checked(d, m, fsrc, fkeep, out, &bud, &e);
            free(fsrc);
            free(fkeep);
            json_decref(m);
            m = NULL;
            if (!rc) goto done;
            if (rc == RAIIAF_E_IO || rc == RAIIAF_E_NOMEM || bud.exhausted) {
                say(report, ctx, rc, "%s", e.msg);
                goto out;
            }
            /* A manifest that fits can still lie (an overflowing shape, a
             * reference loop, a chunk listed twice): its file is not kept. */
            say(report, ctx, RAIIAF_OK, "warning: rewriting with that manifest failed: %s; rebuilding instead", e.msg);
            continue;
        }
        json_decref(mj);
    }
    if (unread)
        say(report, ctx, RAIIAF_OK,
            "warning: %zu manifest chunks not read: their text would pass recover's budget of %llu decoded bytes (manifest text counts %u "
            "times; raise the budget with --max-decode BYTES or RAIIAF_MAX_DECODE)",
            unread, (unsigned long long)bud.limit, RF_MANIFEST_BUDGET_WEIGHT);
    if (nm) say(report, ctx, RAIIAF_OK, "%zu of %zu manifest chunks readable", readable, nm);
    /* 3. Rebuild a manifest from the chunks.  Level 0 keeps every tensor
     * record that can describe its chunk; should the file still not verify,
     * level 1 drops model_info and extensions (the schema's part, the
     * likelier culprit) and level 2 also keeps every TENS chunk as an
     * unknown chunk (whatever else can be wrong). */
    for (int level = 0; level < 3; level++) {
        json_decref(m);
        m = json_pack("{s:{s:{s:s,s:i,s:i,s:s,s:s,s:i},s:o,s:[],s:[]}}", "raiiaf_metadata", "file_info", "magic", "raiiaf", "version_major", 2,
                      "version_minor", 0, "created", "1970-01-01T00:00:00Z", "writer", "libraiiaf " RAIIAF_VERSION_STRING " (recovered)",
                      "chunk_count", 0, "model_info", json_object(), "tensors", "chunks");
        if (!m) {
            rc = RAIIAF_E_NOMEM;
            goto out;
        }
        {
            char now[32];
            rf_utc_now(now);
            json_t *meta = json_object_get(m, "raiiaf_metadata");
            json_object_set_new(json_object_get(meta, "file_info"), "created", json_string(now));
            /* model_info and extensions from the newest surviving manifest text */
            if (mi && level < 1) {
                json_object_set(meta, "model_info", mi);
                if (ext) json_object_set(meta, "extensions", ext);
                say(report, ctx, RAIIAF_OK, "model_info taken from a surviving manifest");
            }
            if (!readable && !level) say(report, ctx, RAIIAF_OK, "warning: no manifest survives: the generation record (model_info) is lost");
            json_t *chunks = json_object_get(meta, "chunks"), *tensors = json_object_get(meta, "tensors");
            size_t kept = 0;
            int have_image = 0;
            for (size_t i = 0; i < nf; i++) {
                found_chunk *c = &fc[i];
                const unsigned char *payload = d + c->off + RF_CHUNK_HEADER_SIZE;
                char type[5];
                memcpy(type, c->type, 5);
                json_t *tensor = NULL;
                char sha[65] = "";
                if (!strcmp(type, "SIGN") || !strcmp(type, RF_TYPE_ENV)) {
                    say(level ? NULL : report, ctx, RAIIAF_OK, "warning: %s chunk at offset %llu dropped (%s)", type, (unsigned long long)c->off,
                        !strcmp(type, "SIGN") ? "a signature covers the old layout" : "the environment record needs its manifest entry");
                    continue;
                }
                if (!strcmp(type, RF_TYPE_IMAGE)) {
                    rf_image_desc desc;
                    rf_err ie = {0, ""};
                    if (c->codec != RF_CODEC_RAW || have_image || rf_image_validate(payload, (size_t)c->stored, &desc, &ie)) {
                        say(level ? NULL : report, ctx, RAIIAF_OK, "warning: IMAG chunk at offset %llu is not a valid image (%s): kept as an unknown chunk RIMG",
                            (unsigned long long)c->off, ie.msg);
                        memcpy(type, "RIMG", 5);
                    } else {
                        have_image = 1;
                        json_object_set_new(meta, "image", json_pack("{s:I,s:s,s:i,s:i,s:I}", "chunk", (json_int_t)kept, "format", desc.format,
                                                                     "width", (int)desc.width, "height", (int)desc.height, "size",
                                                                     (json_int_t)c->stored));
                        say(level ? NULL : report, ctx, RAIIAF_OK, "image recovered: %s %ux%u", desc.format, desc.width, desc.height);
                    }
                }
                if (!strcmp(type, RF_TYPE_TENSOR)) {
                    json_t *rec = level < 2 ? rec_of[i] : NULL;
                    json_t *s = sha_of[i];
                    const char *why = NULL;
                    if (rec && json_is_string(s) && !tensor_record_ok(rec, c, tensors, &why)) {
                        /* A record that cannot describe the chunk (or whose
                         * reference was lost: the residual alone is not the
                         * tensor) would make a file that does not verify. */
                        if (!why)
                            say(level ? NULL : report, ctx, RAIIAF_OK,
                                "warning: tensor \"%s\" is stored relative to \"%s\", which was lost (or comes after it): kept as an unknown chunk RTNS",
                                json_string_value(json_object_get(rec, "name")), json_string_value(json_object_get(rec, "reference")));
                        else
                            say(level ? NULL : report, ctx, RAIIAF_OK, "warning: tensor \"%s\" at offset %llu: %s: kept as an unknown chunk RTNS",
                                json_string_value(json_object_get(rec, "name")), (unsigned long long)c->off, why);
                        memcpy(type, "RTNS", 5);
                    } else if (rec && json_is_string(s)) {
                        tensor = rf_json_copy(rec);
                        snprintf(sha, sizeof sha, "%s", json_string_value(s));
                        say(level ? NULL : report, ctx, RAIIAF_OK, "tensor \"%s\" recovered", json_string_value(json_object_get(rec, "name")));
                    } else {
                        if (!level)
                            say(report, ctx, RAIIAF_OK, "warning: TENS chunk at offset %llu: no surviving record of its name, dtype and shape: kept as an unknown chunk RTNS",
                                (unsigned long long)c->off);
                        memcpy(type, "RTNS", 5);
                    }
                }
                if (!sha[0]) {
                    /* unknown chunk: the digest of its decoded bytes (raw / zstd) */
                    if (c->codec == RF_CODEC_RAW) {
                        if (rf_sha256_hex(payload, (size_t)c->stored, sha)) {
                            rc = RAIIAF_E_NOMEM;
                            goto out;
                        }
                    } else if (c->codec == RF_CODEC_ZSTD && c->raw <= (1ull << 31) && c->raw / RF_MAX_EXPANSION <= c->stored) {
                        if (!fits(&bud, c->raw)) {
                            char what[96];
                            snprintf(what, sizeof what, "chunk at offset %llu", (unsigned long long)c->off);
                            rc = spent_fail(&bud, &e, what, c->raw);
                            say(report, ctx, rc, "%s", e.msg);
                            goto out;
                        }
                        bud.spent += c->raw;
                        void *buf = malloc(c->raw ? (size_t)c->raw : 1);
                        rf_err de = {0, ""};
                        if (!buf || rf_planes_decode(payload, (size_t)c->stored, buf, (size_t)c->raw, 0, "chunk", &de) ||
                            rf_sha256_hex(buf, (size_t)c->raw, sha)) {
                            free(buf);
                            say(level ? NULL : report, ctx, RAIIAF_OK, "warning: chunk at offset %llu does not decode: dropped", (unsigned long long)c->off);
                            continue;
                        }
                        free(buf);
                    } else {
                        say(level ? NULL : report, ctx, RAIIAF_OK, "warning: %s chunk at offset %llu (codec %u) cannot be described without its record: dropped",
                            c->type, (unsigned long long)c->off, c->codec);
                        continue;
                    }
                }
                src[kept] = c->off;
                json_array_append_new(chunks, json_pack("{s:I,s:s,s:I,s:s,s:I,s:I,s:I,s:s}", "index", (json_int_t)kept, "type", type, "offset",
                                                        (json_int_t)c->off, "codec", raiiaf_codec_name((raiiaf_codec)c->codec), "stored_size", (json_int_t)c->stored,
                                                        "raw_size", (json_int_t)c->raw, "crc32c", (json_int_t)c->crc, "sha256", sha));
                if (tensor) {
                    json_object_set_new(tensor, "chunk", json_integer((json_int_t)kept));
                    json_array_append_new(tensors, tensor);
                }
                keep[i] = 1;
                kept++;
            }
            if (!json_array_size(chunks) && !readable) {
                rc = rf_fail(&e, RAIIAF_E_CORRUPT, "nothing salvageable");
                say(report, ctx, rc, "%s", e.msg);
                goto out;
            }
            memset(keep, 1, kept + 1);
            json_object_set_new(json_object_get(meta, "file_info"), "chunk_count", json_integer((json_int_t)kept));
            rc = write_checked(d, m, src, keep, out, &bud, &e);
            if (!rc) break;
            if (rc == RAIIAF_E_IO || rc == RAIIAF_E_NOMEM || bud.exhausted || level == 2) {
                say(report, ctx, rc, "%s", e.msg);
                goto out;
            }
            say(report, ctx, RAIIAF_OK, "warning: the rebuilt file does not verify (%s): rebuilding %s", e.msg,
                level == 0 ? "without model_info and extensions" : "with every TENS chunk kept as an unknown chunk RTNS");
        }
    }
done:
    if (!rc) say(report, ctx, RAIIAF_OK, "wrote %s", out);
out:
    if (rc == RAIIAF_E_NOMEM) say(report, ctx, rc, "out of memory");
    json_decref(m);
    json_decref(mi);
    json_decref(ext);
    for (size_t i = 0; rec_of && i < nf; i++) json_decref(rec_of[i]);
    for (size_t i = 0; sha_of && i < nf; i++) json_decref(sha_of[i]);
    free(rec_of);
    free(sha_of);
    free(fm);
    free(fc);
    free(src);
    free(keep);
    rf_unmap(d, size);
    rf_unlock_file(lock_fd);
    return rc;
}
