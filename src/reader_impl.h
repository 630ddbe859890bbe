/* reader_impl.h -- the reader's state, shared by reader.c (access),
 * open.c (header, footer and manifest checks) and verify.c. */
#ifndef RAIIAF_READER_IMPL_H
#define RAIIAF_READER_IMPL_H

#include "codec.h"
#include "fileio.h"
#include "format.h"
#include "jsonutil.h"

#include <stdio.h>

typedef struct rf_rchunk {
    char type[5];
    unsigned codec;
    uint64_t offset, stored, raw;
    uint32_t crc;
    char sha[65];
    int crc_ok, sha_ok; /* checked once already (payloads are immutable while open) */
} rf_rchunk;

typedef struct rf_rtensor {
    const char *name; /* points into the manifest JSON */
    raiiaf_dtype dtype;
    unsigned rank;
    uint64_t shape[RAIIAF_MAX_RANK];
    size_t chunk;
    double tolerance, max_error;
    int has_ref;    /* stored relative to tensors[ref] (XOR of the bytes) */
    int referenced; /* some later tensor is stored relative to this one */
    size_t ref;
    unsigned depth; /* 0 alone; else 1 + the reference's depth */
} rf_rtensor;

struct raiiaf_reader {
    rf_err err;
    unsigned flags;
    const unsigned char *data;
    size_t size;
    int mapped;
    unsigned major, minor;
    uint32_t header_flags;
    uint64_t manifest_off, prev_footer;
    uint32_t manifest_version;
    char *manifest_text;
    size_t manifest_len;
    json_t *manifest;
    rf_rchunk *chunks;
    size_t nchunks;
    rf_rtensor *tensors;
    size_t ntensors;
    long image_chunk; /* -1: none */
    unsigned threads; /* raiiaf_reader_set_threads(); 0 is the default, 2 */
    const char *image_format;
    uint32_t image_width, image_height;
    struct rf_f1 *f1; /* format 1 state (format1_read.c); NULL for format 2 */
    const struct rf_backend *be; /* the format's reading calls; set by a successful open */
    size_t env_chunk; /* ENVR chunk index + 1 (0: none); env_record.c */
    char *env_text;   /* the decoded ENVR record, once read */
    size_t env_len;
    /* Append-only edits (edit.c): the mapped length (r->size may be cut
     * back to the end of the version opened), the bytes after the last
     * complete version (a torn append), and the version asked for (0:
     * the newest). */
    size_t map_size;
    uint64_t trailing;
    uint32_t want_version;
    /* The budget of the backward search for a complete version, charged
     * by rf_open_footer / rf_load_manifest while it runs (open.c). */
    int in_fallback, fallback_spent;
    unsigned fallback_footers;
    uint64_t fallback_bytes;
    /* Decoded bytes so far and the budget (0: none), reader.c. */
    uint64_t decoded, decode_limit;
    int decode_limit_set; /* by the caller: open leaves it alone */
    int decode_spent;     /* a decode was refused for the budget */
    uint32_t latest_version; /* the newest complete version */
    uint64_t latest_footer;  /* its footer's offset */
    /* The values of the last tensor decoded that another tensor refers
     * to, so that reading a trajectory in order decodes each link once
     * (reader.c). */
    int cache_valid, cache_checked; /* checked: its digests were verified */
    size_t cache_index;
    unsigned char *cache;
    size_t cache_cap;
};

/* Runs every open-time check on r->data/r->size and fills the reader. */
int rf_open_parsed(raiiaf_reader *r);

/* Checks the footer at `at`; returns where its manifest is, the previous
 * footer (0: none) and the manifest version. */
int rf_parse_footer(raiiaf_reader *r, uint64_t at, uint64_t *manifest_off, uint64_t *prev, uint32_t *version);

/* Checks the manifest chunk at `off` that must end (padded) at `end`;
 * returns its JSON text, malloc'd and NUL-terminated. */
int rf_load_manifest(raiiaf_reader *r, uint64_t off, uint64_t end, char **text, size_t *len);

/* Loads the manifest the footer at `footer` points to and fills the
 * reader's records (open.c). */
int rf_open_footer(raiiaf_reader *r, uint64_t footer);
/* Drops what rf_open_footer filled, so another footer can be tried. */
void rf_reader_reset(raiiaf_reader *r);
/* When the newest footer is unusable (torn append) or an older version is
 * wanted: walks the chain / scans back for a complete version (edit.c).
 * `first_rc` is the status of the normal open (RAIIAF_OK when it worked). */
int rf_open_fallback(raiiaf_reader *r, int first_rc);

/* "chunk 2 (TENS \"final\") at offset 640" */
void rf_chunk_where(const raiiaf_reader *r, size_t ci, char *buf, size_t cap);

/* Checks chunk ci's header against its record and its payload CRC;
 * *payload then points at the stored bytes. */
int rf_check_chunk(raiiaf_reader *r, size_t ci, const unsigned char **payload);

/* Compares the SHA-256 of decoded content with the record (skipped with
 * RAIIAF_READ_NO_DIGEST unless force). */
int rf_check_digest(raiiaf_reader *r, size_t ci, const void *decoded, uint64_t size, int force);
/* The same comparison for a digest computed elsewhere (in pieces). */
int rf_check_digest_hex(raiiaf_reader *r, size_t ci, const char hex[65]);
/* Checks recipe tensor `index` (no reference) by regenerating it in pieces
 * into its digest: charged to the decode budget like a decode, memory
 * bounded whatever its size (reader.c). */
int rf_check_recipe_tensor(raiiaf_reader *r, size_t index);

/* Charges `bytes` about to be decoded (`where`: for the message) against
 * the reader's budget; RAIIAF_E_LIMIT, and nothing charged, past it. */
int rf_charge_decode(raiiaf_reader *r, uint64_t bytes, const char *where);
/* The same check without charging (before allocating a buffer for it). */
int rf_decode_fits(raiiaf_reader *r, uint64_t bytes, const char *where);
/* Charges a manifest's `raw` bytes of JSON text, RF_MANIFEST_BUDGET_WEIGHT
 * times, before it is decoded and parsed. */
int rf_charge_manifest(raiiaf_reader *r, uint64_t raw, const char *where);

/* Decodes tensor `index` into dst with all checks. */
int rf_decode_tensor(raiiaf_reader *r, size_t index, void *dst, size_t dst_size, int force_digest);
/* rf_check_chunk and rf_check_digest of a raw payload, the two sums of a
 * large payload computed on two threads. */
int rf_check_raw(raiiaf_reader *r, size_t ci, const unsigned char **payload, int force_digest);

/* ---- edit.c / sign.c / recover.c ---- */
typedef struct edit_chunk {
    char type[5];
    unsigned char *data;
    size_t size;
} edit_chunk;

struct raiiaf_edit {
    rf_err err;
    char *path;
    raiiaf_reader *r;
    json_t *manifest;
    edit_chunk *extra;
    size_t nextra;
    int done;
    int lock_fd; /* the writers' lock (fileio.h), -1 once released */
};

/* Writes a fresh single-version file at out_path (temp + fsync + rename)
 * from `manifest` (a JSON object the function may modify) whose chunk
 * records are taken from data at src_off[i]; chunks with keep[i] == 0 are
 * dropped (references to them in tensors/image/environment must be gone). */
int rf_rewrite(const unsigned char *data, json_t *manifest, const uint64_t *src_off, const unsigned char *keep,
               const char *out_path, rf_err *e);
/* rewrite.c: validates a manifest against the schema and encodes it as a
 * manifest chunk payload (zstd planes), with the SHA-256 and size of its
 * text; edits and rewrites share it. */
int rf_manifest_encode(json_t *manifest, unsigned char **payload, size_t *stored, size_t *raw, char sha[65], rf_err *e);
/* 64 zero bytes, for padding. */
extern const unsigned char rf_zeros64[64];
/* The reading calls whose work differs between container formats: the
 * public reader functions check their arguments and the handle, then go
 * through here, so reader.c and verify.c hold no format 1 code and the
 * format 1 backend (format1_read.c) no format 2 code.  Format 2's table is
 * format2.c's, format 1's format1_read.c's. */
typedef struct rf_backend {
    int (*decode_tensor)(raiiaf_reader *r, size_t index, void *dst, size_t dst_size, int force_digest);
    int (*tensor_data)(raiiaf_reader *r, size_t index, const void **data);
    int (*image)(raiiaf_reader *r, const void **data, size_t *size, const char **format, uint32_t *width,
                 uint32_t *height);
    int (*env_json)(raiiaf_reader *r, const char **json, size_t *size);
    int (*verify)(raiiaf_reader *r, raiiaf_problem_fn report, void *ctx);
    void (*release)(raiiaf_reader *r);
} rf_backend;
extern const rf_backend rf_format1_backend, rf_format2_backend;

/* Format 2's own calls behind rf_format2_backend (reader.c, verify.c). */
int rf_f2_tensor_data(raiiaf_reader *r, size_t index, const void **data);
int rf_f2_image(raiiaf_reader *r, const void **data, size_t *size, const char **format, uint32_t *width, uint32_t *height);
int rf_f2_env_json(raiiaf_reader *r, const char **json, size_t *size);
int rf_f2_verify(raiiaf_reader *r, raiiaf_problem_fn report, void *ctx);

#endif
