/*
 * raiiaf.h -- the public interface of libraiiaf, the reference implementation
 * of RAIIAF, a single-file container for AI-generated images, the latent
 * tensors behind them and their generation record.
 *
 * The byte layout is specified in docs/SPEC.md; this header is the API.
 *
 * Conventions used by every function here:
 *   - Functions that can fail return an int status: RAIIAF_OK (0) or one of
 *     the RAIIAF_E_* codes below.  Codes never change meaning between
 *     releases.  A human-readable message naming what went wrong and where
 *     (byte offset, chunk, JSON path) is available from the handle with
 *     raiiaf_reader_errmsg() / raiiaf_writer_errmsg().
 *   - Handles are opaque.  Every *_new / *_open has a matching *_free, and
 *     every *_free accepts NULL.  Open functions create the handle even when
 *     they fail (unless memory itself ran out, then *out is NULL), so that
 *     the message can be read; the caller frees it in both cases.
 *   - The library never prints, never aborts and keeps no global mutable
 *     state: separate handles may be used from separate threads.
 *   - Strings are UTF-8 and NUL-terminated.  Pointers returned by a handle
 *     stay valid until the handle is freed unless stated otherwise.
 */
#ifndef RAIIAF_H
#define RAIIAF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(RAIIAF_BUILDING_LIBRARY) && defined(__GNUC__)
#define RAIIAF_API __attribute__((visibility("default")))
#else
#define RAIIAF_API
#endif

#define RAIIAF_VERSION_MAJOR 0
#define RAIIAF_VERSION_MINOR 1
#define RAIIAF_VERSION_PATCH 0
#define RAIIAF_VERSION_STRING "0.1.0"

/* The newest container format version this library writes. */
#define RAIIAF_FORMAT_MAJOR 2
#define RAIIAF_FORMAT_MINOR 0

/* ---------------------------------------------------------------------- */
/* Status codes                                                            */
/* ---------------------------------------------------------------------- */

enum raiiaf_status {
    RAIIAF_OK = 0,
    RAIIAF_E_ARG = 1,          /* invalid argument or API misuse */
    RAIIAF_E_NOMEM = 2,        /* memory allocation failed */
    RAIIAF_E_IO = 3,           /* the operating system reported an I/O error */
    RAIIAF_E_NOT_RAIIAF = 4,   /* the data does not start with a RAIIAF signature */
    RAIIAF_E_VERSION = 5,      /* a format version or required flag this library cannot read */
    RAIIAF_E_TRUNCATED = 6,    /* the data ends before a structure it declares */
    RAIIAF_E_CORRUPT = 7,      /* structures disagree with each other or with the file */
    RAIIAF_E_CHECKSUM = 8,     /* a CRC-32C over a header or chunk does not match */
    RAIIAF_E_DIGEST = 9,       /* a SHA-256 of decoded content does not match the manifest */
    RAIIAF_E_LIMIT = 10,       /* a declared size or count exceeds a documented safety limit */
    RAIIAF_E_JSON = 11,        /* JSON text is malformed */
    RAIIAF_E_SCHEMA = 12,      /* the manifest violates schema/raiiaf-metadata.schema.json */
    RAIIAF_E_IMAGE = 13,       /* image bytes are not a valid PNG, JPEG or WebP */
    RAIIAF_E_CODEC = 14,       /* a codec cannot encode or decode this data */
    RAIIAF_E_NOT_FOUND = 15,   /* no tensor, image or field of that name */
    RAIIAF_E_EXISTS = 16,      /* a tensor of that name already exists */
    RAIIAF_E_STATE = 17,       /* the call is not valid in the handle's current state */
    RAIIAF_E_BUFFER = 18       /* the caller's buffer has the wrong size */
};

/* A short, fixed description of a status code ("checksum mismatch", ...).
 * Never NULL; unknown codes give "unknown error". */
RAIIAF_API const char *raiiaf_strerror(int status);

/* The library's version as "MAJOR.MINOR.PATCH". */
RAIIAF_API const char *raiiaf_version_string(void);

/* ---------------------------------------------------------------------- */
/* Tensor element types and codecs                                        */
/* ---------------------------------------------------------------------- */

typedef enum raiiaf_dtype {
    RAIIAF_DTYPE_INVALID = 0,
    RAIIAF_F16 = 1,   /* IEEE 754 binary16 */
    RAIIAF_BF16 = 2,  /* bfloat16 */
    RAIIAF_F32 = 3,
    RAIIAF_F64 = 4,
    RAIIAF_I8 = 5,
    RAIIAF_U8 = 6,
    RAIIAF_I16 = 7,
    RAIIAF_U16 = 8,
    RAIIAF_I32 = 9,
    RAIIAF_U32 = 10,
    RAIIAF_I64 = 11,
    RAIIAF_U64 = 12,
    RAIIAF_BOOL = 13  /* one byte, 0 or 1 */
} raiiaf_dtype;

/* The manifest name of a dtype ("float32", "bfloat16", "bool", ...), or NULL
 * for an invalid value. */
RAIIAF_API const char *raiiaf_dtype_name(raiiaf_dtype dtype);

/* Parses a dtype name.  Accepts the manifest names ("float32") and the short
 * forms ("f32", "bf16", "u8", ...).  Returns RAIIAF_DTYPE_INVALID when the
 * name is unknown. */
RAIIAF_API raiiaf_dtype raiiaf_dtype_from_name(const char *name);

/* Bytes per element (1, 2, 4 or 8), or 0 for an invalid dtype. */
RAIIAF_API size_t raiiaf_dtype_size(raiiaf_dtype dtype);

typedef enum raiiaf_codec {
    RAIIAF_CODEC_RAW = 0,   /* stored as is, payload 64-byte aligned: mappable without a copy */
    RAIIAF_CODEC_ZSTD = 1,  /* lossless: byte planes split, each plane one zstd frame (or raw) */
    RAIIAF_CODEC_ZFP = 2,   /* zfp: reversible (lossless) or fixed-accuracy (lossy, with tolerance) */
    RAIIAF_CODEC_AUTO = 255 /* writer only: byte-plane zstd, or raw when that is not smaller */
} raiiaf_codec;

/* The manifest name of a codec ("raw", "zstd", "zfp", "auto"), or NULL. */
RAIIAF_API const char *raiiaf_codec_name(raiiaf_codec codec);

/* Parses a codec name; returns 0 and sets *codec, or RAIIAF_E_ARG. */
RAIIAF_API int raiiaf_codec_from_name(const char *name, raiiaf_codec *codec);

#define RAIIAF_MAX_RANK 8

/* ---------------------------------------------------------------------- */
/* Writer                                                                  */
/* ---------------------------------------------------------------------- */

typedef struct raiiaf_writer raiiaf_writer;

/* Starts writing a format 2 file to `path`.  Data goes to a temporary file in
 * the same folder; raiiaf_writer_finish() syncs it and renames it over
 * `path`, so an existing file at `path` is replaced whole or not at all.
 * On failure *out still receives a handle carrying the message (or NULL if
 * memory ran out). */
RAIIAF_API int raiiaf_writer_new(const char *path, raiiaf_writer **out);

/* Frees the writer.  If raiiaf_writer_finish() did not succeed, the
 * temporary file is removed and `path` is left as it was.  Accepts NULL. */
RAIIAF_API void raiiaf_writer_free(raiiaf_writer *w);

/* The message for the writer's last error ("" when none).  Never NULL for a
 * non-NULL handle. */
RAIIAF_API const char *raiiaf_writer_errmsg(const raiiaf_writer *w);

/* Adds an image.  The bytes are stored exactly as given (never recompressed).
 * They must be a PNG (fully decoded and CRC-checked), JPEG or WebP
 * (structurally checked); format, width and height go into the manifest.
 * At most one image per file.  Fails with RAIIAF_E_IMAGE if invalid. */
RAIIAF_API int raiiaf_writer_add_image(raiiaf_writer *w, const void *data, size_t size);

/* Adds a whole tensor from one buffer: `shape` has `rank` (0..8) entries,
 * the data is little-endian C order and `size` must equal the product of the
 * shape times the dtype size.  `name` must be unique in the file (1..255
 * bytes of UTF-8).  `codec` is one of RAIIAF_CODEC_*; `tolerance` is 0 for
 * lossless storage, or > 0 to ask zfp for fixed-accuracy lossy coding
 * (float32/float64 only; codec must be ZFP or AUTO).  The tolerance and the
 * largest error measured while writing are recorded in the manifest. */
RAIIAF_API int raiiaf_writer_add_tensor(raiiaf_writer *w, const char *name, raiiaf_dtype dtype,
                                        unsigned rank, const uint64_t *shape,
                                        const void *data, size_t size,
                                        raiiaf_codec codec, double tolerance);

/* Streaming form of raiiaf_writer_add_tensor(): begin, then write the data in
 * any number of pieces, then end.  With RAIIAF_CODEC_RAW the pieces go
 * straight to the file (memory use does not grow with the tensor); other
 * codecs gather the tensor before coding it.  No other writer call may come
 * between begin and end. */
RAIIAF_API int raiiaf_writer_begin_tensor(raiiaf_writer *w, const char *name, raiiaf_dtype dtype,
                                          unsigned rank, const uint64_t *shape,
                                          raiiaf_codec codec, double tolerance);
RAIIAF_API int raiiaf_writer_write_tensor(raiiaf_writer *w, const void *data, size_t size);
RAIIAF_API int raiiaf_writer_end_tensor(raiiaf_writer *w);

/* Adds a chunk of a type this library does not interpret, stored raw.
 * `type` is four printable ASCII characters and must not be one the format
 * defines (IMAG, TENS, MANI).  Readers keep such chunks and list them. */
RAIIAF_API int raiiaf_writer_add_chunk(raiiaf_writer *w, const char type[4],
                                       const void *data, size_t size);

/* Sets one manifest field.  `pointer` is a JSON Pointer (RFC 6901) such as
 * "/raiiaf_metadata/model_info/generation_settings/steps"; missing parent
 * objects are created.  `json` is the value as JSON text ("30", "\"euler\"",
 * "[\"a\",\"b\"]").  Fields the library owns (file_info, chunks, tensors,
 * image) cannot be set.  The manifest is checked against the schema in
 * raiiaf_writer_finish(); malformed JSON fails here with RAIIAF_E_JSON. */
RAIIAF_API int raiiaf_writer_set_json(raiiaf_writer *w, const char *pointer, const char *json);

/* Like raiiaf_writer_set_json() with a string value, escaped for you. */
RAIIAF_API int raiiaf_writer_set_string(raiiaf_writer *w, const char *pointer, const char *value);

/* Merges a JSON object into the manifest: objects merge key by key,
 * anything else replaces.  Used for "any further manifest fields". */
RAIIAF_API int raiiaf_writer_merge_json(raiiaf_writer *w, const char *json_object);

/* Completes the file: fills file_info and the chunk list, validates the
 * manifest against the schema (RAIIAF_E_SCHEMA names the JSON path),
 * writes the manifest and footer, syncs and atomically renames the file
 * into place.  After success the only valid call is raiiaf_writer_free(). */
RAIIAF_API int raiiaf_writer_finish(raiiaf_writer *w);

/* ---------------------------------------------------------------------- */
/* Reader                                                                  */
/* ---------------------------------------------------------------------- */

typedef struct raiiaf_reader raiiaf_reader;

/* Flags for the open functions. */
#define RAIIAF_READ_NO_DIGEST 0x1u /* skip SHA-256 checks when reading payloads
                                      (CRC-32C checks always run) */

/* Opens a file by path (memory-mapped).  Checks the header, footer and
 * manifest (checksums, limits, JSON, the records the reader relies on).
 * Payloads are only touched when read. */
RAIIAF_API int raiiaf_reader_open_file(const char *path, unsigned flags, raiiaf_reader **out);

/* Opens a file held in memory.  The buffer is borrowed: it must stay valid
 * and unchanged until the reader is freed. */
RAIIAF_API int raiiaf_reader_open_memory(const void *data, size_t size, unsigned flags,
                                         raiiaf_reader **out);

/* Frees the reader and unmaps the file.  Accepts NULL. */
RAIIAF_API void raiiaf_reader_free(raiiaf_reader *r);

/* The message for the reader's last error ("" when none). */
RAIIAF_API const char *raiiaf_reader_errmsg(const raiiaf_reader *r);

/* The container format version of the opened file. */
RAIIAF_API void raiiaf_reader_format(const raiiaf_reader *r, unsigned *major, unsigned *minor);

/* The manifest as JSON text (NUL-terminated, exactly as stored).  *size
 * receives its length when size is not NULL. */
RAIIAF_API const char *raiiaf_reader_manifest(const raiiaf_reader *r, size_t *size);

/* The size of the whole file in bytes. */
RAIIAF_API uint64_t raiiaf_reader_file_size(const raiiaf_reader *r);

typedef struct raiiaf_tensor_info {
    const char *name;                 /* owned by the reader */
    raiiaf_dtype dtype;
    unsigned rank;
    uint64_t shape[RAIIAF_MAX_RANK];
    raiiaf_codec codec;
    uint64_t stored_size;             /* bytes in the file */
    uint64_t raw_size;                /* bytes when decoded */
    double tolerance;                 /* 0 for lossless codecs */
    double max_error;                 /* largest absolute error measured at write time */
} raiiaf_tensor_info;

/* Number of tensors in the file. */
RAIIAF_API size_t raiiaf_reader_tensor_count(const raiiaf_reader *r);

/* Describes tensor `index` (0 <= index < count, in file order). */
RAIIAF_API int raiiaf_reader_tensor_info(raiiaf_reader *r, size_t index, raiiaf_tensor_info *info);

/* Finds a tensor by name; RAIIAF_E_NOT_FOUND if there is none. */
RAIIAF_API int raiiaf_reader_find_tensor(raiiaf_reader *r, const char *name, size_t *index);

/* Decodes tensor `index` into `dst`, which must be exactly raw_size bytes.
 * The chunk's CRC-32C is always checked, and the SHA-256 of the decoded bytes
 * unless the reader was opened with RAIIAF_READ_NO_DIGEST.  On any error
 * the content of dst is unspecified and must not be used. */
RAIIAF_API int raiiaf_reader_read_tensor(raiiaf_reader *r, size_t index, void *dst, size_t dst_size);

/* Zero-copy access to a tensor stored with RAIIAF_CODEC_RAW: *data points
 * into the mapping (64-byte aligned when the file is mapped), valid until the
 * reader is freed.  Checks are as for raiiaf_reader_read_tensor().  Other
 * codecs give RAIIAF_E_CODEC. */
RAIIAF_API int raiiaf_reader_tensor_data(raiiaf_reader *r, size_t index, const void **data);

/* The image, zero-copy: bytes exactly as written, with checks as for
 * tensors.  `format` receives "png", "jpeg" or "webp".  Any output pointer
 * may be NULL.  RAIIAF_E_NOT_FOUND when the file holds no image. */
RAIIAF_API int raiiaf_reader_image(raiiaf_reader *r, const void **data, size_t *size,
                                   const char **format, uint32_t *width, uint32_t *height);

typedef struct raiiaf_chunk_info {
    char type[5];           /* four ASCII characters and a NUL */
    unsigned index;         /* the chunk's index in the manifest's chunk list */
    raiiaf_codec codec;
    uint64_t offset;        /* offset of the chunk header in the file */
    uint64_t stored_size;
    uint64_t raw_size;
} raiiaf_chunk_info;

/* Number of chunks the manifest lists (payload chunks; the manifest chunk
 * itself is not counted).  Chunks of unknown types are included. */
RAIIAF_API size_t raiiaf_reader_chunk_count(const raiiaf_reader *r);

/* Describes chunk `index` of the manifest's chunk list. */
RAIIAF_API int raiiaf_reader_chunk_info(raiiaf_reader *r, size_t index, raiiaf_chunk_info *info);

/* Called by raiiaf_reader_verify() once per problem found, with the status
 * code and a message naming where (offset, chunk, JSON path). */
typedef void (*raiiaf_problem_fn)(void *ctx, int status, const char *message);

/* Checks everything: every byte of the file belongs to the header, a chunk
 * (header CRC, payload CRC, zero padding), or the footer; the chunk sequence
 * agrees with the manifest; every payload decodes and its SHA-256 matches;
 * the image validates; the manifest satisfies the schema.  Each problem is
 * reported through `report` (may be NULL).  Returns RAIIAF_OK when nothing
 * is wrong, else the status of the first problem (also left as the
 * reader's message). */
RAIIAF_API int raiiaf_reader_verify(raiiaf_reader *r, raiiaf_problem_fn report, void *ctx);

/* ---------------------------------------------------------------------- */
/* Schema                                                                  */
/* ---------------------------------------------------------------------- */

/* The metadata JSON schema this library validates against (the content of
 * schema/raiiaf-metadata.schema.json, embedded at build time). */
RAIIAF_API const char *raiiaf_schema_text(void);

/* Validates a manifest given as JSON text against the schema.  Returns
 * RAIIAF_OK, RAIIAF_E_JSON, RAIIAF_E_SCHEMA, or RAIIAF_E_LIMIT (nesting
 * deeper than 64, text over 64 MiB); when `msg` is not NULL, a
 * message ("/raiiaf_metadata/model_info/generation_settings/steps: must be
 * >= 1") is written to it, truncated to msg_size bytes. */
RAIIAF_API int raiiaf_validate_manifest(const char *json, size_t size, char *msg, size_t msg_size);

#ifdef __cplusplus
}
#endif

#endif /* RAIIAF_H */
