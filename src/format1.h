/*
 * format1.h -- RAIIAF format 1, the layout the original Python package
 * (raiiaf 1.x) wrote: read (format1_read.c), verify, and write
 * (format1_write.c).  docs/SPEC.md Appendix A is the contract.
 *
 *   file   = header (33 bytes) · LATN* · DATA? · ENVC? · META
 *   header = "raiiaf" · u8 major (1) · u8 minor (0) · u8 flags (0) ·
 *            u32 manifest offset · u32 manifest length · u32 record count ·
 *            u64 file size · u32 reserved (0)          (little-endian)
 *   inner  = 4-byte type · 4-byte flags · u32 length of what follows
 *   LATN   = zstd(inner) · zfp stream (compressed float32), or
 *            inner · raw C-order bytes (uncompressed float32/float16)
 *   DATA, ENVC, META = zstd(inner · payload); META runs to the end.
 * Records (offset, sizes, SHA-256 of decoded content) are in the META
 * manifest's /raiiaf_metadata/chunks; META itself only in the header.
 */
#ifndef RAIIAF_FORMAT1_H
#define RAIIAF_FORMAT1_H

#include "reader_impl.h"

#define RF_F1_HEADER_SIZE 33u
#define RF_F1_INNER_SIZE 12u
#define RF_F1_ZSTD_LEVEL 3
#define RF_F1_MAX_LEN_HEADER 64u /* a zstd frame around a 12-byte inner header */

/* Whether the data starts with the format 1 signature "raiiaf". */
int rf_f1_detect(const unsigned char *data, size_t size);

/* ---- reading (format1_read.c) ----------------------------------------- */

/* Opens a format 1 file held in r->data/r->size: header, manifest, records;
 * fills r->chunks, r->tensors, r->manifest and r->f1. */
int rf_f1_open(raiiaf_reader *r);
void rf_f1_free(struct rf_f1 *f);

int rf_f1_decode_tensor(raiiaf_reader *r, size_t index, void *dst, size_t dst_size, int force_digest);
int rf_f1_tensor_data(raiiaf_reader *r, size_t index, const void **data);
int rf_f1_image(raiiaf_reader *r, const void **data, size_t *size, const char **format, uint32_t *width,
                uint32_t *height);
int rf_f1_env_json(raiiaf_reader *r, const char **json, size_t *size);
int rf_f1_verify(raiiaf_reader *r, raiiaf_problem_fn report, void *ctx);

/* The embedded format 1 manifest schema (schema/raiiaf-format1.schema.json). */
extern const char rf_schema_format1_json[];

/* ---- writing (format1_write.c) ---------------------------------------- */

typedef struct rf_f1w rf_f1w;

rf_f1w *rf_f1w_new(void);
void rf_f1w_free(rf_f1w *f);

/* The current time as Python's datetime.now(timezone.utc).isoformat():
 * "2026-11-25T17:37:27.372620+00:00". */
void rf_f1_date_now(char buf[40]);

/* Whether format 1 can hold this tensor (checked at begin_tensor). */
int rf_f1w_check_tensor(rf_f1w *f, const char *name, raiiaf_dtype dtype, unsigned rank, const uint64_t *shape,
                        raiiaf_codec codec, double tolerance, rf_err *e);
/* Takes the gathered tensor; *data is taken over (set to NULL) on success. */
int rf_f1w_add_tensor(rf_f1w *f, const char *name, raiiaf_dtype dtype, const uint64_t *shape,
                      unsigned char **data, size_t size, raiiaf_codec codec, rf_err *e);
int rf_f1w_add_image(rf_f1w *f, const void *data, size_t size, rf_err *e);
int rf_f1w_set_env(rf_f1w *f, const char *json, size_t size, rf_err *e);

/* Writes the whole file to fd (truncated first) from the buffered entries
 * and the model_info of `manifest` (the writer's format 2-shaped JSON). */
int rf_f1w_finish(rf_f1w *f, json_t *manifest, int fd, const char *tmp_path, rf_err *e);

/* Python's json.dumps(v, indent=2) (ensure_ascii, insertion order, floats
 * as repr()); malloc'd, NUL-terminated. */
char *rf_py_json_dumps(const json_t *v, size_t *len);

#endif
