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
} rf_rtensor;

struct raiiaf_reader {
    rf_err err;
    unsigned flags;
    const unsigned char *data;
    size_t size;
    int mapped;
    unsigned major, minor;
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
    const char *image_format;
    uint32_t image_width, image_height;
    struct rf_f1 *f1; /* format 1 state (format1_read.c); NULL for format 2 */
    size_t env_chunk; /* ENVR chunk index + 1 (0: none); env_record.c */
    char *env_text;   /* the decoded ENVR record, once read */
    size_t env_len;
};

/* Runs every open-time check on r->data/r->size and fills the reader. */
int rf_open_parsed(raiiaf_reader *r);

/* Checks the footer at `at`; returns where its manifest is, the previous
 * footer (0: none) and the manifest version. */
int rf_parse_footer(raiiaf_reader *r, uint64_t at, uint64_t *manifest_off, uint64_t *prev, uint32_t *version);

/* Checks the manifest chunk at `off` that must end (padded) at `end`;
 * returns its JSON text, malloc'd and NUL-terminated. */
int rf_load_manifest(raiiaf_reader *r, uint64_t off, uint64_t end, char **text, size_t *len);

/* "chunk 2 (TENS \"final\") at offset 640" */
void rf_chunk_where(const raiiaf_reader *r, size_t ci, char *buf, size_t cap);

/* Checks chunk ci's header against its record and its payload CRC;
 * *payload then points at the stored bytes. */
int rf_check_chunk(raiiaf_reader *r, size_t ci, const unsigned char **payload);

/* Compares the SHA-256 of decoded content with the record (skipped with
 * RAIIAF_READ_NO_DIGEST unless force). */
int rf_check_digest(raiiaf_reader *r, size_t ci, const void *decoded, uint64_t size, int force);

/* Decodes tensor `index` into dst with all checks. */
int rf_decode_tensor(raiiaf_reader *r, size_t index, void *dst, size_t dst_size, int force_digest);

#endif
