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
 *     (byte offset, chunk, JSON path) comes with every failure, in one of
 *     two places only: on the handle the function works on
 *     (raiiaf_reader_errmsg(), raiiaf_writer_errmsg(), raiiaf_edit_errmsg(),
 *     raiiaf_env_errmsg(), raiiaf_import_errmsg()), or, for the functions
 *     that work on no handle (raiiaf_compact(), raiiaf_sign(),
 *     raiiaf_convert(), raiiaf_npy_*, ...), in a buffer the caller passes
 *     as `char *err, size_t errsize` (NUL-terminated, truncated safely; may
 *     be NULL).  Callbacks (raiiaf_problem_fn, raiiaf_note_fn) report the
 *     many findings of one call (verify, recover, convert), not its error.
 *   - Memory the library hands to the caller is released with
 *     raiiaf_free(), never with the caller's own free().
 *   - Functions added after 0.1.0 say "Since X.Y.Z"; raiiaf_version_number()
 *     tells a program linked at run time which it may call.
 *   - Handles are opaque.  Every *_new / *_open has a matching *_free, and
 *     every *_free accepts NULL.  Open functions create the handle even when
 *     they fail (unless memory itself ran out, then *out is NULL), so that
 *     the message can be read; the caller frees it in both cases.
 *   - The library never prints, never aborts and keeps no global mutable
 *     state but one atomic setting, how long writers wait for a file's
 *     lock (raiiaf_set_lock_timeout(): the lock is between processes, so
 *     its wait is the process's): separate handles may be used from
 *     separate threads.
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
#define RAIIAF_VERSION_MINOR 3
#define RAIIAF_VERSION_PATCH 0
#define RAIIAF_VERSION_STRING "0.3.0"
/* MAJOR * 10000 + MINOR * 100 + PATCH, for comparisons: a function marked
 * "since 0.2.0" exists when raiiaf_version_number() >= 200.  Functions with
 * no mark are in 0.1.0. */
#define RAIIAF_VERSION_NUMBER (RAIIAF_VERSION_MAJOR * 10000 + RAIIAF_VERSION_MINOR * 100 + RAIIAF_VERSION_PATCH)

/* The newest container format version this library writes. */
#define RAIIAF_FORMAT_MAJOR 2
#define RAIIAF_FORMAT_MINOR 1 /* 2.1 only when a recipe tensor is present; else 2.0 */

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
    RAIIAF_E_BUFFER = 18,      /* the caller's buffer has the wrong size */
    RAIIAF_E_BUSY = 19         /* another writer holds the file's lock (raiiaf_set_lock_timeout) */
};

/* A short, fixed description of a status code ("checksum mismatch", ...).
 * Never NULL; unknown codes give "unknown error". */
RAIIAF_API const char *raiiaf_strerror(int status);

/* The library's version as "MAJOR.MINOR.PATCH". */
RAIIAF_API const char *raiiaf_version_string(void);

/* The version of the library actually loaded, as RAIIAF_VERSION_NUMBER
 * (which is the header's): bindings that load the shared library at run
 * time compare it with the version a function is marked with.  Since 0.2.0. */
RAIIAF_API unsigned raiiaf_version_number(void);

/* Writes `size` bytes to `path` the way every writer of this library does:
 * a temporary file beside it (unnamed where the system allows), synced,
 * named over `path` with the replaced file's mode, owner and group, the
 * folder synced; `path` is replaced whole or not at all.  For programs
 * (the CLI, the Python package) that write other files next to RAIIAF
 * ones.  Since 0.2.0. */
RAIIAF_API int raiiaf_write_file(const char *path, const void *data, size_t size, char *err, size_t errsize);

/* Frees memory that a function of this library handed to the caller (the
 * functions that say "release with raiiaf_free()").  Accepts NULL.  Since 0.2.0. */
RAIIAF_API void raiiaf_free(void *p);

/* ---------------------------------------------------------------------- */
/* The objects (opaque handles), each with its section below               */
/* ---------------------------------------------------------------------- */

typedef struct raiiaf_writer raiiaf_writer; /* writes one file (Writer) */
typedef struct raiiaf_reader raiiaf_reader; /* one open file, any version (Reader) */
typedef struct raiiaf_edit raiiaf_edit;     /* one append-only edit (Append-only edits) */
typedef struct raiiaf_env raiiaf_env;       /* an environment record (Environment) */
typedef struct raiiaf_drift raiiaf_drift;   /* two environments compared (Environment) */
typedef struct raiiaf_import raiiaf_import; /* an image's generation record (Interop) */

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
    RAIIAF_CODEC_RECIPE = 3, /* seeded noise stored as its generator and seed, regenerated on read
                                (format 2.1; written only by raiiaf_writer_add_noise_tensor) */
    RAIIAF_CODEC_AUTO = 255 /* writer only: byte-plane zstd, or raw when that is not smaller */
} raiiaf_codec;

/* The manifest name of a codec ("raw", "zstd", "zfp", "recipe", "auto"), or NULL. */
RAIIAF_API const char *raiiaf_codec_name(raiiaf_codec codec);

/* Parses a codec name; returns 0 and sets *codec, or RAIIAF_E_ARG. */
RAIIAF_API int raiiaf_codec_from_name(const char *name, raiiaf_codec *codec);

#define RAIIAF_MAX_RANK 8

/* ---------------------------------------------------------------------- */
/* Writer                                                                  */
/* ---------------------------------------------------------------------- */


/* Starts writing a format 2 file to `path`.  Data goes to a temporary file in
 * the same folder; raiiaf_writer_finish() syncs it and renames it over
 * `path`, so an existing file at `path` is replaced whole or not at all.
 * On failure *out still receives a handle carrying the message (or NULL if
 * memory ran out). */
RAIIAF_API int raiiaf_writer_new(const char *path, raiiaf_writer **out);

/* Starts writing a file into memory instead of to a path: everything
 * else is as for raiiaf_writer_new(); after raiiaf_writer_finish(),
 * raiiaf_writer_memory() gives the bytes.  Since 0.2.0. */
RAIIAF_API int raiiaf_writer_new_memory(raiiaf_writer **out);

/* The finished file of a memory writer: *data (owned by the writer, valid
 * until it is freed) and *size.  RAIIAF_E_STATE before a successful
 * raiiaf_writer_finish(), RAIIAF_E_ARG for a writer to a path.  Since 0.2.0. */
RAIIAF_API int raiiaf_writer_memory(const raiiaf_writer *w, const void **data, size_t *size);

/* Frees the writer.  If raiiaf_writer_finish() did not succeed, the
 * temporary file is removed and `path` is left as it was.  Accepts NULL. */
RAIIAF_API void raiiaf_writer_free(raiiaf_writer *w);

/* The message for the writer's last error ("" when none).  Never NULL for a
 * non-NULL handle. */
RAIIAF_API const char *raiiaf_writer_errmsg(const raiiaf_writer *w);

/* Adds an image.  The bytes are stored exactly as given (never recompressed).
 * They must be a PNG, JPEG or WebP that decodes: a PNG's every chunk CRC,
 * chunk rules and pixel data (inflated to exactly the size its header
 * implies, legal filter types, Adler-32) are checked, a JPEG is decoded by
 * libjpeg-turbo, a WebP by libwebp (every frame of an animation); format,
 * width and height go into the manifest.  At most one image per file.
 * Fails with RAIIAF_E_IMAGE if invalid -- with raiiaf_writer_set_threads(w,
 * 2), a fault found only by decoding the pixel data is reported by
 * raiiaf_writer_finish() instead (the structure is still checked here). */
RAIIAF_API int raiiaf_writer_add_image(raiiaf_writer *w, const void *data, size_t size);

/* How many threads the writer may use: 1 (the default) or 2.  With 2,
 * raiiaf_writer_add_image() checks the image's structure, copies the image
 * and returns while a second thread decodes its pixel data, so hashing and
 * coding the tensors added next runs beside it; raiiaf_writer_finish()
 * waits for that thread and fails with its RAIIAF_E_IMAGE (the file is then
 * not written) -- always there, whichever thread finishes first.  Applies
 * to images added afterwards.  RAIIAF_E_ARG for any other count.  Since
 * 0.3.0. */
RAIIAF_API int raiiaf_writer_set_threads(raiiaf_writer *w, unsigned threads);

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

/* Adds a tensor that is expected to be seeded noise,
 * torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))
 * on the CPU (SPEC 9.5).  The library regenerates it with each known kernel
 * and compares every byte.  On an exact match the file stores a recipe
 * (codec RAIIAF_CODEC_RECIPE: generator, kernel and seed, 32 bytes) and the
 * SHA-256 of the values instead of the values; readers regenerate them and
 * check the digest.  Otherwise the values are stored as by
 * raiiaf_writer_add_tensor() with `codec` (lossless only).  Never lossy:
 * the recipe is only used when it reproduces `data` bit for bit.
 * *as_recipe (may be NULL) receives 1 or 0; after RAIIAF_OK with 0,
 * raiiaf_writer_errmsg() says why the values were stored (dtype without a
 * generator, first differing element, format 1 output, ...).  A file holding
 * a recipe is format 2.1 (header flag 1): readers of 2.0 refuse it rather
 * than return wrong data. */
RAIIAF_API int raiiaf_writer_add_noise_tensor(raiiaf_writer *w, const char *name, raiiaf_dtype dtype,
                                              unsigned rank, const uint64_t *shape,
                                              const void *data, size_t size, uint64_t seed,
                                              raiiaf_codec codec, int *as_recipe);

/* Adds a tensor stored relative to `reference`, an earlier tensor of this
 * file with the same dtype and shape: the payload is the XOR of the two
 * tensors' bytes, coded with byte-plane zstd (for denoising trajectories,
 * where neighbouring steps share sign, exponent and high mantissa bits).
 * `reference_data` must be the reference's values exactly as stored (its
 * SHA-256 is checked: RAIIAF_E_ARG otherwise); RAIIAF_E_NOT_FOUND when no
 * earlier tensor has that name.  The relative form is kept only when it is
 * smaller than the tensor coded alone with `codec` (RAW, ZSTD or AUTO), and
 * while the chain of references stays within 256 tensors; otherwise the
 * tensor is stored alone.  *as_relative (may be NULL) receives 1 or 0;
 * after RAIIAF_OK with 0, raiiaf_writer_errmsg() says why.  Reading such a
 * tensor decodes its whole chain.  A file holding one is format 2.1
 * (header flag 2): readers of 2.0 refuse it rather than return the XOR. */
RAIIAF_API int raiiaf_writer_add_tensor_relative(raiiaf_writer *w, const char *name, raiiaf_dtype dtype,
                                                 unsigned rank, const uint64_t *shape,
                                                 const void *data, size_t size, const char *reference,
                                                 const void *reference_data, raiiaf_codec codec,
                                                 int *as_relative);

/* Adds a chunk of a type this library does not interpret, stored raw.
 * `type` is four printable ASCII characters and must not be one the format
 * defines (IMAG, TENS, MANI).  Readers keep such chunks and list them. */
RAIIAF_API int raiiaf_writer_add_chunk(raiiaf_writer *w, const char type[4],
                                       const void *data, size_t size);

/* Sets one manifest field.  `pointer` is a JSON Pointer (RFC 6901) such as
 * "/raiiaf_metadata/model_info/generation_settings/steps"; missing parent
 * objects are created.  `json` is the value as JSON text ("30", "\"euler\"",
 * "[\"a\",\"b\"]").  The fields the library owns cannot be set
 * (RAIIAF_E_ARG): /raiiaf_metadata itself and its members file_info,
 * chunks, tensors, image and environment.  Everything else can, members
 * beside raiiaf_metadata included; raiiaf_edit_* follows the same rule.  The manifest is checked against the schema in
 * raiiaf_writer_finish(); malformed JSON fails here with RAIIAF_E_JSON. */
RAIIAF_API int raiiaf_writer_set_json(raiiaf_writer *w, const char *pointer, const char *json);

/* Like raiiaf_writer_set_json() with a string value, escaped for you. */
RAIIAF_API int raiiaf_writer_set_string(raiiaf_writer *w, const char *pointer, const char *value);

/* Appends `tag` to /raiiaf_metadata/model_info/tags (created when
 * missing), escaped for you.  Since 0.2.0. */
RAIIAF_API int raiiaf_writer_add_tag(raiiaf_writer *w, const char *tag);

/* Merges a JSON object into the manifest: objects merge key by key,
 * anything else replaces.  Used for "any further manifest fields"; the
 * fields the library owns are refused as by raiiaf_writer_set_json(). */
RAIIAF_API int raiiaf_writer_merge_json(raiiaf_writer *w, const char *json_object);

/* Completes the file: fills file_info and the chunk list, validates the
 * manifest against the schema (RAIIAF_E_SCHEMA names the JSON path),
 * writes the manifest and footer, syncs and atomically renames the file
 * into place.  After success the only valid call is raiiaf_writer_free(). */
RAIIAF_API int raiiaf_writer_finish(raiiaf_writer *w);

/* Chooses the container format the writer produces: 2 (the default) or 1,
 * the original Python package's layout, for tools that only read that.
 * Must be called before anything else is added.  A format 1 writer buffers
 * everything and writes the whole file in raiiaf_writer_finish()
 * (atomically, as for format 2), laid out exactly as the Python package
 * did: LATN per tensor in the order added, DATA (the image), ENVC, META.
 * Format 1 holds only 4-D (N, C, H, W) float32 or float16 tensors without
 * NaN or infinity: codec AUTO or ZFP stores float32 as a reversible zfp
 * stream (each dimension at most 4096; AUTO falls back to uncompressed
 * beyond that), RAW stores it uncompressed, float16 is always
 * uncompressed; ZSTD and tolerances are refused (RAIIAF_E_CODEC).  The
 * image may be any bytes format 1 allowed, but must still be a valid PNG,
 * JPEG or WebP here.  raiiaf_writer_finish() needs model_info/model_name,
 * version, prompt (strings) and tags (array of strings); date defaults to
 * now; generation_settings and hardware_info are taken when set; the
 * result is checked against schema/raiiaf-format1.schema.json.  Other
 * manifest fields (extensions, ...) have no place in format 1 and are not
 * written; raiiaf_writer_add_chunk() is refused. */
RAIIAF_API int raiiaf_writer_set_format(raiiaf_writer *w, unsigned major);

/* Format 1 writers only: the ENVC chunk's JSON text, stored verbatim (it
 * must be a JSON object).  Without it the writer stores
 * {"env_version": 1, "components": [os]}, the os component in the Python
 * package's canonical form "name=os;version=SYSTEM RELEASE" (uname). */
RAIIAF_API int raiiaf_writer_set_format1_env(raiiaf_writer *w, const char *json, size_t size);

/* ---- Writer: the environment record (see "Environment" below) ---- */

/* Writer: what to record (RAIIAF_ENV_* flags; default: capture).  Call
 * before raiiaf_writer_finish(), which writes the record as an ENVR chunk
 * and, when the caller set no /raiiaf_metadata/model_info/hardware_info,
 * fills it from the record (os, cpu, cpu_cores, ram_gb, gpu). */
RAIIAF_API int raiiaf_writer_set_env(raiiaf_writer *w, unsigned flags);

/* Writer: adds the caller's own component (python, torch, diffusers, the
 * model file's hash, ...); it replaces a captured one of the same id.
 * RAIIAF_E_EXISTS when the caller already added that id. */
RAIIAF_API int raiiaf_writer_add_env_component(raiiaf_writer *w, const char *id, const char *canonical);

/* ---------------------------------------------------------------------- */
/* Reader                                                                  */
/* ---------------------------------------------------------------------- */


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

/* The same in steps, to set limits before anything is read (as
 * spng_set_chunk_limits() before decoding): a reader that holds no file,
 * then raiiaf_reader_set_decode_limit() or other settings, then one of the
 * two opens, which behave as raiiaf_reader_open_file() and
 * raiiaf_reader_open_memory().  A reader is opened once (RAIIAF_E_STATE
 * after that).  Since 0.2.0. */
RAIIAF_API int raiiaf_reader_new(unsigned flags, raiiaf_reader **out);
RAIIAF_API int raiiaf_reader_open(raiiaf_reader *r, const char *path);
RAIIAF_API int raiiaf_reader_open_buffer(raiiaf_reader *r, const void *data, size_t size);

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
    const char *reference;            /* the tensor this one is stored relative to, or NULL */
} raiiaf_tensor_info;

/* Number of tensors in the file. */
RAIIAF_API size_t raiiaf_reader_tensor_count(const raiiaf_reader *r);

/* Describes tensor `index` (0 <= index < count, in file order). */
RAIIAF_API int raiiaf_reader_tensor_info(raiiaf_reader *r, size_t index, raiiaf_tensor_info *info);

/* Finds a tensor by name; RAIIAF_E_NOT_FOUND if there is none. */
RAIIAF_API int raiiaf_reader_find_tensor(raiiaf_reader *r, const char *name, size_t *index);

/* Decodes tensor `index` into `dst`, which must be exactly raw_size bytes.
 * The chunk's CRC-32C is always checked, and the SHA-256 of the decoded bytes
 * unless the reader was opened with RAIIAF_READ_NO_DIGEST (recipe tensors
 * are always checked: the digest is the proof that regeneration matched).  On any error
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

/* How a recipe tensor (codec RAIIAF_CODEC_RECIPE) is regenerated. */
typedef struct raiiaf_recipe {
    const char *generator;      /* "torch.randn/cpu" (static string) */
    unsigned generator_version; /* 1 */
    const char *kernel;         /* "avx2-fma", "avx2" or "scalar" (raiiaf_torch_randn's names) */
    uint64_t seed;
} raiiaf_recipe;

/* Describes the recipe of tensor `index`.  RAIIAF_E_NOT_FOUND when that
 * tensor stores its values; RAIIAF_E_CORRUPT (or CHECKSUM) when the recipe
 * chunk is damaged or names a generator this library does not know. */
RAIIAF_API int raiiaf_reader_tensor_recipe(raiiaf_reader *r, size_t index, raiiaf_recipe *recipe);

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

/* The payload of chunk `index` as stored, zero-copy (valid until the
 * reader is freed), after the checks of raiiaf_reader_read_tensor(): for
 * reading back chunks of types this library does not interpret (written
 * by raiiaf_writer_add_chunk(), or by a newer writer).  Chunks stored with
 * a codec other than raw give RAIIAF_E_CODEC (read them as tensors), and so
 * do format 1 files.  Since 0.2.0. */
RAIIAF_API int raiiaf_reader_chunk_data(raiiaf_reader *r, size_t index, const void **data, size_t *size);

/* Called by raiiaf_reader_verify() once per problem found, with the status
 * code and a message naming where (offset, chunk, JSON path).  A call with
 * status RAIIAF_OK is a warning, not a problem: its message starts with
 * "warning: " and it does not make verify fail (for example the stale
 * file_info/file_size every format 1 writer recorded). */
typedef void (*raiiaf_problem_fn)(void *ctx, int status, const char *message);

/* Checks everything: every byte of the file belongs to the header, a chunk
 * (header CRC, payload CRC, zero padding), or the footer; the chunk sequence
 * agrees with the manifest; every payload decodes and its SHA-256 matches;
 * the image validates; the manifest satisfies the schema.  Each problem is
 * reported through `report` (may be NULL).  Returns RAIIAF_OK when nothing
 * is wrong, else the status of the first problem (also left as the
 * reader's message). */
RAIIAF_API int raiiaf_reader_verify(raiiaf_reader *r, raiiaf_problem_fn report, void *ctx);

/* How many threads raiiaf_reader_verify() may use: 2 (the default) checks
 * the image on a second thread while the tensors are hashed and decoded; 1
 * does everything on the calling thread.  The problems found and the order
 * they are reported in are the same either way.  RAIIAF_E_ARG for any other
 * count.  Since 0.3.0. */
RAIIAF_API int raiiaf_reader_set_threads(raiiaf_reader *r, unsigned threads);

/* Every reader has a budget of decoded bytes: all the payload bytes it
 * decodes (reads, verify, each link of a reference chain, each regenerated
 * recipe) and every manifest's JSON text it reads (counted 4 times: it is
 * parsed) count against it, over the reader's life.  A file of 32-byte
 * recipes, of zstd chunks within the allowed expansion or of manifests
 * padded by run-length coding declares far more than it holds; past the
 * budget, opening, reading and verify fail with RAIIAF_E_LIMIT ("... would
 * pass this reader's budget of N decoded bytes ...", naming how to raise
 * it) before the work.  The default is 64 MiB + 64 x the file size (since
 * 0.3.0; 1 GiB + 64 x before): a file under 1 MB costs at most about a
 * second.  Files that legitimately decode to more -- a recipe of more than
 * 64 MiB in a small file (the format allows 1 GiB), payloads compressed
 * more than 64x -- open after the budget is raised: call this between
 * raiiaf_reader_new() and the open (the CLI: --max-decode BYTES or
 * RAIIAF_MAX_DECODE; Python: max_decode=).  `bytes` sets the budget from
 * now on (0: no limit); bytes already decoded still count.  verify without
 * a `report` callback stops at the first problem; with one it reports
 * every problem but decodes nothing more once the budget is spent.  Since
 * 0.2.0. */
RAIIAF_API int raiiaf_reader_set_decode_limit(raiiaf_reader *r, uint64_t bytes);

/* The default budget of raiiaf_reader_set_decode_limit() for a file of
 * `file_size` bytes: 64 MiB + 64 x file_size (saturating).  Since 0.3.0. */
RAIIAF_API uint64_t raiiaf_decode_limit_default(uint64_t file_size);

/* ---- Reader: the environment record ---- */

/* The file's stored environment record as JSON text, exactly as stored
 * (format 2: the ENVR chunk, checked like any payload; format 1: the ENVC
 * JSON).  RAIIAF_E_NOT_FOUND when the file holds none.  The text is owned
 * by the reader. */
RAIIAF_API int raiiaf_reader_env_record(raiiaf_reader *r, const char **json, size_t *size);

/* The file's stored environment, parsed (either format); release it with
 * raiiaf_env_free(). */
RAIIAF_API int raiiaf_reader_env(raiiaf_reader *r, raiiaf_env **out);

/* The environment record of a format 1 file (the ENVC chunk's JSON text,
 * exactly as stored, NUL-terminated, owned by the reader; its SHA-256 is
 * checked unless the reader was opened with RAIIAF_READ_NO_DIGEST).
 * RAIIAF_E_NOT_FOUND when the file holds none, and for format 2 files
 * (their record: raiiaf_reader_env_record()). */
RAIIAF_API int raiiaf_reader_env_json(raiiaf_reader *r, const char **json, size_t *size);


/* ---- Reader: versions (SPEC §13) ---- */

/* Opens manifest version `version` (1 = the first; 0 = the newest) of a
 * format 2 file by walking the chain of footers back from the newest
 * complete one.  RAIIAF_E_NOT_FOUND when the file has no such version. */
RAIIAF_API int raiiaf_reader_open_version(const char *path, unsigned flags, uint32_t version, raiiaf_reader **out);

/* The same in steps (raiiaf_reader_new(), then this and any other setting
 * such as raiiaf_reader_set_decode_limit(), then raiiaf_reader_open()):
 * the open walks to manifest `version` (0: the newest).  RAIIAF_E_STATE
 * once the reader is open.  Since 0.3.0. */
RAIIAF_API int raiiaf_reader_set_version(raiiaf_reader *r, uint32_t version);

/* The version of the manifest the reader opened (1 for an unedited file),
 * and the newest version the file holds. */
RAIIAF_API uint32_t raiiaf_reader_manifest_version(const raiiaf_reader *r);
RAIIAF_API uint32_t raiiaf_reader_latest_version(const raiiaf_reader *r);

/* Bytes after the newest complete version: an append (edit, sign) that was
 * interrupted.  The reader ignores them; verify reports them. */
RAIIAF_API uint64_t raiiaf_reader_trailing_bytes(const raiiaf_reader *r);

/* Manifest `version` (1..latest) of an open reader as JSON text, with its
 * offset; release the text with raiiaf_free(). */
RAIIAF_API int raiiaf_reader_manifest_at(raiiaf_reader *r, uint32_t version, char **json, size_t *size, uint64_t *offset);

/* Since 0.3.0.  Every manifest version of the file (1..latest) as a JSON
 * array (what `raiiaf history --json` prints): [{"version": N, "time":
 * file_info's modified or created time or null, "offset": the manifest's
 * offset, "changes": [{"op": "added"|"removed"|"changed", "path": a JSON
 * Pointer}]}], each version's changes against the one before (the first
 * has none); /raiiaf_metadata/file_info, rewritten by every version, is
 * left out.  Release *json with raiiaf_free(). */
RAIIAF_API int raiiaf_reader_history(raiiaf_reader *r, char **json, size_t *size);

/* ---------------------------------------------------------------------- */
/* Format 1 (the original Python package's files; docs/SPEC.md Appendix A) */
/* ---------------------------------------------------------------------- */

/* Format 1 files are opened by the same open functions (recognised by the
 * signature "raiiaf" at offset 0); raiiaf_reader_format() then gives 1.0.
 * Every reader call works on them: tensors are its LATN latents (float32
 * through zfp: codec "zfp"; uncompressed float32/float16: codec "raw"),
 * the image is the DATA chunk (decoded once and kept by the reader; its
 * format is "bin" with width and height 0 when the bytes are not a PNG,
 * JPEG or WebP, which format 1 allowed), the manifest is the META JSON text
 * exactly as stored, and the chunk list holds the LATN, DATA and ENVC
 * records.  raiiaf_reader_tensor_data() gives RAIIAF_E_CODEC (nothing in
 * format 1 is aligned for use in place).  raiiaf_reader_verify() checks the
 * header against the file, every record's place, every stored SHA-256
 * (payloads and environment components) and the manifest against
 * schema/raiiaf-format1.schema.json; a stale file_info/file_size is a
 * warning. */

/* ---------------------------------------------------------------------- */
/* Append-only edits and compaction (SPEC §13)                            */
/* ---------------------------------------------------------------------- */

/* Writers that append to or replace an existing file -- raiiaf_edit_open()
 * to raiiaf_edit_commit() (and raiiaf_sign()), raiiaf_compact(), and
 * raiiaf_recover() over an existing OUT -- hold an advisory lock on it
 * (SPEC.md §13.1) from reading its newest version until the new bytes are
 * durable, so concurrent writers, in this process or others, take turns.
 * A writer waits up to `milliseconds` for the lock, then fails with
 * RAIIAF_E_BUSY; 0 does not wait, a negative value waits for ever.  The
 * setting is process-wide (thread-safe); the default is
 * RAIIAF_LOCK_TIMEOUT_DEFAULT_MS.  Since 0.2.0. */
#define RAIIAF_LOCK_TIMEOUT_DEFAULT_MS 30000
RAIIAF_API void raiiaf_set_lock_timeout(int milliseconds);
/* The current setting of raiiaf_set_lock_timeout().  Since 0.2.0. */
RAIIAF_API int raiiaf_get_lock_timeout(void);

/* An append-only edit: a new manifest (and footer) appended to the file,
 * payloads untouched.  raiiaf_edit_open() takes the writers' lock (above)
 * before it reads the newest version, so RAIIAF_E_BUSY can come from it;
 * the lock is held until raiiaf_edit_commit() returns or the handle is
 * freed: keep the handle briefly.  raiiaf_edit_commit() validates the new
 * manifest against the schema before anything is written, then appends
 * and fsyncs; a crash at any point leaves the previous version readable.
 * A torn tail left by an earlier interrupted append is cut off first
 * (under the lock, so it is never another writer's append in progress). */
RAIIAF_API int raiiaf_edit_open(const char *path, raiiaf_edit **out);
/* Releases the handle, and the lock when it is still held. */
RAIIAF_API void raiiaf_edit_free(raiiaf_edit *ed);
RAIIAF_API const char *raiiaf_edit_errmsg(const raiiaf_edit *ed);
/* As raiiaf_writer_set_json(): library-owned fields are refused. */
RAIIAF_API int raiiaf_edit_set_json(raiiaf_edit *ed, const char *pointer, const char *json);
/* Removes the field at `pointer`; RAIIAF_E_NOT_FOUND when absent. */
RAIIAF_API int raiiaf_edit_remove(raiiaf_edit *ed, const char *pointer);
/* Adds / removes a string in /raiiaf_metadata/model_info/tags. */
RAIIAF_API int raiiaf_edit_add_tag(raiiaf_edit *ed, const char *tag);
RAIIAF_API int raiiaf_edit_remove_tag(raiiaf_edit *ed, const char *tag);
/* Appends a raw chunk of a type the format does not define (SIGN, ...). */
RAIIAF_API int raiiaf_edit_add_chunk(raiiaf_edit *ed, const char type[4], const void *data, size_t size);
/* The version the commit will write (old + 1). */
RAIIAF_API uint32_t raiiaf_edit_new_version(const raiiaf_edit *ed);
RAIIAF_API int raiiaf_edit_commit(raiiaf_edit *ed);

/* Rewrites `path` (to `out`, or over `path` when out is NULL; atomically:
 * temporary file, fsync, rename) with only the newest manifest, as
 * version 1.  Payload chunks are copied verbatim; SIGN chunks are dropped
 * (their signatures covered the old manifest).  err receives a message. */
RAIIAF_API int raiiaf_compact(const char *path, const char *out, char *err, size_t err_size);

/* ---------------------------------------------------------------------- */
/* Signatures (SPEC §13.5, docs/SECURITY.md)                              */
/* ---------------------------------------------------------------------- */

/* Ed25519 signatures (SIGN chunks).  Keys are PEM files. */
RAIIAF_API int raiiaf_keygen(const char *key_path, char *err, size_t err_size);
RAIIAF_API int raiiaf_sign(const char *path, const char *key_path, char *key_id_out /* [17] or NULL */,
                           char *err, size_t err_size);

typedef enum raiiaf_sig_state {
    RAIIAF_SIG_NONE = 0,    /* unsigned */
    RAIIAF_SIG_VALID = 1,   /* the newest manifest is the signed content */
    RAIIAF_SIG_EDITED = 2,  /* a valid signature on an older version; edited since */
    RAIIAF_SIG_INVALID = 3  /* a signature that does not verify (message says why) */
} raiiaf_sig_state;

typedef struct raiiaf_signature_info {
    raiiaf_sig_state state;
    char key_id[17];          /* first 16 hex digits of SHA-256 of the raw public key */
    uint32_t signed_version;  /* the manifest version the signature covers */
    char message[256];
} raiiaf_signature_info;

/* Checks the newest signature in the file the reader opened (at its newest
 * version).  With `pubkey_path`, a signature by another key is INVALID. */
RAIIAF_API int raiiaf_reader_signature(raiiaf_reader *r, const char *pubkey_path, raiiaf_signature_info *info);

/* ---------------------------------------------------------------------- */
/* Recovery                                                               */
/* ---------------------------------------------------------------------- */

/* Salvages a damaged file: scans for chunks whose CRCs hold and writes a
 * new file with what survived.  `report` receives one line per finding
 * (what was kept, what was lost).  RAIIAF_OK when a file was written. */
RAIIAF_API int raiiaf_recover(const char *damaged, const char *out, raiiaf_problem_fn report, void *ctx);

/* raiiaf_recover() with a budget of decoded bytes, as a reader's
 * (raiiaf_reader_set_decode_limit()): the manifest text it reads (counted
 * 4 times), the chunks it decodes to describe them and the verification
 * of each file it makes all count against it.  A manifest whose text
 * does not fit what is left is skipped (a warning says so); a chunk to
 * decode or a file to verify that does not fit stops the recovery with
 * RAIIAF_E_LIMIT, and nothing is written.  `max_decode`:
 * RAIIAF_DECODE_LIMIT_DEFAULT for the default of a reader of DAMAGED
 * (raiiaf_decode_limit_default(); raiiaf_recover() uses it), 0 for none.
 * Since 0.3.0. */
#define RAIIAF_DECODE_LIMIT_DEFAULT UINT64_MAX
RAIIAF_API int raiiaf_recover_limited(const char *damaged, const char *out, uint64_t max_decode, raiiaf_problem_fn report,
                                      void *ctx);

/* ---------------------------------------------------------------------- */
/* Environment record and drift (docs/SPEC.md, "Environment record")       */
/* ---------------------------------------------------------------------- */

/* An environment: a set of components, each an id ("os", "gpu0", "torch")
 * and a canonical string "key=value;key=value" whose SHA-256 is recorded
 * beside it (the scheme of format 1's ENVC chunk).  Ids are 1..64 of
 * [a-z0-9_.-]; in canonical strings keys are [a-z0-9_.-]+, each at most
 * once, and values hold no ';', '=' or control character (strings that do
 * are refused, not escaped); at most 4096 bytes, 256 components. */

/* Flags for raiiaf_writer_set_env() and raiiaf_env_capture(). */
#define RAIIAF_ENV_DEFAULT 0x0u          /* capture, no host name */
#define RAIIAF_ENV_NONE 0x1u             /* writer: store no environment record at all */
#define RAIIAF_ENV_INCLUDE_HOSTNAME 0x2u /* also record the host name ("hostname") */
#define RAIIAF_ENV_NO_CAPTURE 0x4u       /* writer: store only the caller's components */

/* Captures the environment of this process: os, arch, cpu, ram, libc,
 * libraiiaf and each linked library (zstd, zfp, openssl, spng, jansson),
 * and every NVIDIA GPU through NVML when libnvidia-ml.so.1 loads (the
 * environment variable RAIIAF_NVML_LIBRARY names another path); no GPU or
 * no NVML gives no gpu component, not an error.  No host name, user name or
 * path is captured unless `flags` has RAIIAF_ENV_INCLUDE_HOSTNAME. */
RAIIAF_API int raiiaf_env_capture(unsigned flags, raiiaf_env **out);

/* An empty environment, to fill with raiiaf_env_add_component(). */
RAIIAF_API int raiiaf_env_new(raiiaf_env **out);

/* Parses an environment record: format 2's ENVR JSON
 * {"env_version": 2, "components": [{"id", "canonical", "sha256"}]} or
 * format 1's ENVC JSON {"env_version": 1, "components": [{"component_id",
 * "cononical_str", "component_sha256_digest"}]}.  Every stored digest must
 * match its canonical string (RAIIAF_E_DIGEST otherwise).  On failure *out
 * is still set when memory allows, so raiiaf_env_errmsg() can say why. */
RAIIAF_API int raiiaf_env_from_json(const char *json, size_t size, raiiaf_env **out);

/* Frees an environment.  Accepts NULL. */
RAIIAF_API void raiiaf_env_free(raiiaf_env *env);

/* The message for the last error on this environment ("" when none). */
RAIIAF_API const char *raiiaf_env_errmsg(const raiiaf_env *env);

/* Adds a component, or replaces the one with the same id.  RAIIAF_E_ARG
 * with a message when the id or the canonical string is invalid. */
RAIIAF_API int raiiaf_env_add_component(raiiaf_env *env, const char *id, const char *canonical);

/* Number of components, and component `index` in id order; any output
 * pointer may be NULL.  `sha256` is 64 lowercase hex digits. */
RAIIAF_API size_t raiiaf_env_count(const raiiaf_env *env);
RAIIAF_API int raiiaf_env_component(const raiiaf_env *env, size_t index, const char **id,
                                    const char **canonical, const char **sha256);

/* The canonical string of component `id`, or NULL when there is none. */
RAIIAF_API const char *raiiaf_env_find(const raiiaf_env *env, const char *id);

/* The environment as format 2 record JSON (what the ENVR chunk stores),
 * components in id order.  Owned by env, valid until it changes or is
 * freed; NULL only when memory ran out. */
RAIIAF_API const char *raiiaf_env_json(raiiaf_env *env);

/* Checks a canonical string as raiiaf_env_add_component() does; writes why
 * it is invalid to msg (truncated to msg_size) and returns RAIIAF_E_ARG. */
RAIIAF_API int raiiaf_env_check_canonical(const char *canonical, char *msg, size_t msg_size);


typedef enum raiiaf_drift_kind {
    RAIIAF_DRIFT_ADDED = 1,   /* in the current environment, not in the file */
    RAIIAF_DRIFT_REMOVED = 2, /* in the file, not in the current environment */
    RAIIAF_DRIFT_CHANGED = 3, /* in both, with different canonical strings */
    RAIIAF_DRIFT_UNCHECKED = 4 /* in the file only, and not a component raiiaf_env_capture()
                                  produces (python, torch, a model hash, hostname...): the
                                  current environment cannot say whether it changed */
} raiiaf_drift_kind;

typedef struct raiiaf_drift_item {
    const char *id;
    raiiaf_drift_kind kind;
    const char *file_canonical;    /* NULL when added */
    const char *current_canonical; /* NULL when removed */
} raiiaf_drift_item;

/* Compares two environments: one item per component that differs, sorted
 * by id (bytewise).  Components are compared by id and canonical string.
 * A component only in `file` is REMOVED when capture produces that id
 * (os, arch, cpu, ram, libc, libraiiaf, zstd, zfp, openssl, spng, jansson,
 * gpu, gpuN), else UNCHECKED. */
RAIIAF_API int raiiaf_drift_compare(const raiiaf_env *file, const raiiaf_env *current, raiiaf_drift **out);

/* Compares the file's stored record with `current` (NULL: capture now with
 * default flags).  RAIIAF_E_NOT_FOUND when the file holds no record. */
RAIIAF_API int raiiaf_reader_drift(raiiaf_reader *r, const raiiaf_env *current, raiiaf_drift **out);

/* Number of items, the number of one kind, the number of differences
 * (changed + added + removed: 0 when the environments agree on everything
 * both can see), and item `index`. */
RAIIAF_API size_t raiiaf_drift_count(const raiiaf_drift *d);
RAIIAF_API size_t raiiaf_drift_differences(const raiiaf_drift *d);
RAIIAF_API size_t raiiaf_drift_count_kind(const raiiaf_drift *d, raiiaf_drift_kind kind);
RAIIAF_API int raiiaf_drift_item_get(const raiiaf_drift *d, size_t index, raiiaf_drift_item *item);

/* Frees a drift report.  Accepts NULL. */
RAIIAF_API void raiiaf_drift_free(raiiaf_drift *d);

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

/* ---------------------------------------------------------------------- */
/* Seeded noise (SPEC §9.5)                                               */
/* ---------------------------------------------------------------------- */

/* torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))
 * as PyTorch 1.13 computes it on the CPU, bit for bit (SPEC 9.5).  dtype:
 * RAIIAF_F32, RAIIAF_F16 or RAIIAF_BF16.  `kernel` names ATen's float32
 * kernel: NULL or "avx2-fma" (the default: x86-64 builds on CPUs with AVX2,
 * e.g. Debian 12's python3-torch), "avx2" (no FMA), "scalar" (builds
 * without vectorisation: C library logf/cosf/sinf).  out_size must be the
 * tensor's size in bytes.  RAIIAF_OK, RAIIAF_E_ARG or RAIIAF_E_NOMEM. */
RAIIAF_API int raiiaf_torch_randn(uint64_t seed, raiiaf_dtype dtype, unsigned rank, const uint64_t *shape,
                                  const char *kernel, void *out, size_t out_size);

/* ---------------------------------------------------------------------- */
/* Interop: .npy and .safetensors tensors (since 0.2.0)                    */
/* ---------------------------------------------------------------------- */

/* Functions in this section and the next report errors in a caller's
 * buffer `err` of `errsize` bytes (NUL-terminated, truncated safely; may be
 * NULL), as raiiaf_compact() does, or on their handle. */

/* A tensor read from a .npy or .safetensors file. */
typedef struct raiiaf_array {
    raiiaf_dtype dtype;
    unsigned rank;                   /* 0..RAIIAF_MAX_RANK */
    uint64_t shape[RAIIAF_MAX_RANK];
    const void *data;                /* little-endian C-order element bytes; not
                                        necessarily aligned for the element type */
    size_t size;                     /* bytes of data == product(shape) * dtype size */
    void *owned_;                    /* private: what raiiaf_array_free() releases */
} raiiaf_array;

/* Frees what `a` owns and zeroes it.  Accepts NULL and a zeroed struct. */
RAIIAF_API void raiiaf_array_free(raiiaf_array *a);

/* Parses numpy .npy bytes (format versions 1.0, 2.0, 3.0) held in memory.
 * On success out->data points into `buf` (no copy) and nothing is owned.
 * Only plain little-endian C-order arrays of the dtypes RAIIAF stores are
 * taken.  bfloat16 has no numpy dtype: arrays of ml_dtypes.bfloat16 are
 * saved by numpy as '<V2' (or '|V2'), so both read as RAIIAF_BF16.
 * Errors: RAIIAF_E_CORRUPT (malformed preamble, header or data),
 * RAIIAF_E_TRUNCATED, RAIIAF_E_VERSION (.npy version), RAIIAF_E_ARG (valid
 * numpy content not taken: Fortran order, big-endian, object, structured,
 * complex, string or datetime), RAIIAF_E_LIMIT (rank > 8, header over
 * 1 MiB, absurd sizes). */
RAIIAF_API int raiiaf_npy_parse(const void *buf, size_t len, raiiaf_array *out, char *err, size_t errsize);

/* Reads and parses a .npy file; the message starts with the path.  The
 * data is owned by `out` (raiiaf_array_free()).  Missing or unreadable:
 * RAIIAF_E_IO; over 64 GiB: RAIIAF_E_LIMIT. */
RAIIAF_API int raiiaf_npy_read_file(const char *path, raiiaf_array *out, char *err, size_t errsize);

/* Builds .npy bytes exactly as numpy's np.save() writes them (version 1.0,
 * 2.0 when the header would not fit; data at a multiple of 64; bfloat16 as
 * '<V2').  *out is released with raiiaf_free().  RAIIAF_E_ARG when `size`
 * is not product(shape) times the dtype size, RAIIAF_E_NOMEM. */
RAIIAF_API int raiiaf_npy_build(raiiaf_dtype dtype, unsigned rank, const uint64_t *shape, const void *data,
                                size_t size, unsigned char **out, size_t *out_size);

/* Writes a .npy file atomically (temporary file beside it, fsync, rename:
 * `path` is replaced whole or not at all). */
RAIIAF_API int raiiaf_npy_write_file(const char *path, raiiaf_dtype dtype, unsigned rank, const uint64_t *shape,
                                     const void *data, size_t size, char *err, size_t errsize);

/* Parses .safetensors bytes held in memory and picks one tensor: `want`
 * names it (NULL: the file must hold exactly one).  out->data points into
 * `buf`.  The header is bounded (100 MiB), parsed strictly (duplicate keys
 * refused), every tensor's offsets must lie in the data and span exactly
 * its size.  Errors: RAIIAF_E_CORRUPT, RAIIAF_E_TRUNCATED, RAIIAF_E_LIMIT,
 * RAIIAF_E_NOT_FOUND (no such tensor: the message lists the names),
 * RAIIAF_E_ARG (several tensors and `want` NULL). */
RAIIAF_API int raiiaf_safetensors_parse(const void *buf, size_t len, const char *want, raiiaf_array *out,
                                        char *err, size_t errsize);

/* The names of the tensors in .safetensors bytes, as a JSON array of
 * strings in the file's order (*names_json released with raiiaf_free()). */
RAIIAF_API int raiiaf_safetensors_names(const void *buf, size_t len, char **names_json, char *err, size_t errsize);

/* Builds a .safetensors file holding one tensor `name`; `metadata_json` is
 * NULL or a JSON object whose values are strings (its __metadata__).  *out
 * is released with raiiaf_free(). */
RAIIAF_API int raiiaf_safetensors_build(const char *name, raiiaf_dtype dtype, unsigned rank, const uint64_t *shape,
                                        const void *data, size_t size, const char *metadata_json,
                                        unsigned char **out, size_t *out_size, char *err, size_t errsize);

/* Reads a tensor from a file named the way the CLI takes them: FILE.npy,
 * FILE.safetensors (holding one tensor) or FILE.safetensors:TENSOR.  The
 * data is owned by `out`. */
RAIIAF_API int raiiaf_tensor_file_read(const char *path, raiiaf_array *out, char *err, size_t errsize);

/* Writes a tensor to `path` atomically: .safetensors (by extension), with
 * the generation record of reader `r` (may be NULL) as __metadata__:
 * "raiiaf.manifest" the whole manifest, and flat "raiiaf.prompt",
 * "raiiaf.seed", ... keys for tools that look only there; else .npy. */
RAIIAF_API int raiiaf_tensor_file_write(raiiaf_reader *r, const char *path, const char *name, raiiaf_dtype dtype,
                                        unsigned rank, const uint64_t *shape, const void *data, size_t size,
                                        char *err, size_t errsize);

/* ---------------------------------------------------------------------- */
/* Interop: import, export and conversion (since 0.2.0)                    */
/* ---------------------------------------------------------------------- */

/* Import: the generation record an image already carries, read from its
 * PNG text chunks (tEXt, zTXt, iTXt) or EXIF (JPEG APP1, WebP EXIF) and
 * mapped to the schema.  Recognised: AUTOMATIC1111 / Forge / SD.Next
 * `parameters`, ComfyUI `prompt` graphs, InvokeAI, NovelAI, SwarmUI,
 * Fooocus / RuinedFooocus, and a PNG written by raiiaf_export() (its whole
 * record is restored); since 0.3.0 also Forge Neo / Forge Classic /
 * reForge, Stability Matrix, TensorArt, Easy Diffusion, Hugging Face Spaces
 * and Draw Things.  Since 0.3.0 every record a file carries is imported
 * and the most exact wins (a generator's own JSON, then a ComfyUI graph,
 * then A1111-style text); the extension names the exact "tool" and its
 * "family".  Every text record is also kept verbatim under
 * /raiiaf_metadata/extensions/org.raiiaf.import with the tool, its version
 * and whatever could not be mapped.  The input is hostile: every length is
 * checked and decompressed text is bounded. */

/* Reads an image held in memory (the bytes are copied).  Structural damage
 * of the container gives RAIIAF_E_IMAGE or RAIIAF_E_CORRUPT; an image whose
 * records cannot be read or recognised still imports (notes say why).  On
 * failure *out still receives a handle carrying the message (NULL only
 * when memory ran out). */
RAIIAF_API int raiiaf_import_image(const void *data, size_t size, raiiaf_import **out);

/* As raiiaf_import_image(), reading the file at `path`. */
RAIIAF_API int raiiaf_import_image_file(const char *path, raiiaf_import **out);

/* Frees the import.  Accepts NULL. */
RAIIAF_API void raiiaf_import_free(raiiaf_import *imp);

/* The message for the import's last error ("" when none). */
RAIIAF_API const char *raiiaf_import_errmsg(const raiiaf_import *imp);

/* The recognised tool as it names itself ("AUTOMATIC1111", "Forge",
 * "Forge Neo", "reForge", "SD.Next", "ComfyUI", "InvokeAI", "NovelAI",
 * "SwarmUI", "Fooocus", "Stability Matrix", "TensorArt", ...,
 * or "raiiaf" for our own export), or NULL when none was recognised. */
RAIIAF_API const char *raiiaf_import_tool(const raiiaf_import *imp);

/* The container the image came in: "png", "jpeg" or "webp". */
RAIIAF_API const char *raiiaf_import_format(const raiiaf_import *imp);

/* The imported metadata as a JSON object {"raiiaf_metadata": {"model_info":
 * ..., "extensions": ...}}, ready for raiiaf_writer_merge_json(); owned by
 * the import, valid until it changes or is freed. */
RAIIAF_API const char *raiiaf_import_metadata(raiiaf_import *imp, size_t *size);

/* Number of generation fields mapped (model_info members, counting each
 * generation_settings member), of text records read, and of notes (things
 * a user should know: values out of range, records that could not be
 * read); note `index` (NULL when out of range). */
RAIIAF_API size_t raiiaf_import_field_count(const raiiaf_import *imp);
RAIIAF_API size_t raiiaf_import_record_count(const raiiaf_import *imp);
RAIIAF_API size_t raiiaf_import_note_count(const raiiaf_import *imp);
RAIIAF_API const char *raiiaf_import_note(const raiiaf_import *imp, size_t index);

/* Appends a tag to model_info/tags. */
RAIIAF_API int raiiaf_import_add_tag(raiiaf_import *imp, const char *tag);

/* Puts the import into a writer: merges the metadata and adds the image
 * byte for byte.  Errors are left on the writer (raiiaf_writer_errmsg()). */
RAIIAF_API int raiiaf_import_to_writer(raiiaf_import *imp, raiiaf_writer *w);

/* Export: the stored image, never re-encoded, carrying the generation
 * record where other tools look for it: an A1111-style `parameters` text
 * (PNG tEXt, or iTXt when not ASCII, before the first IDAT; JPEG and WebP:
 * EXIF UserComment) and the whole manifest (PNG: compressed iTXt
 * `raiiaf`; JPEG and WebP: EXIF MakerNote "raiiaf\0" + JSON).  Earlier
 * `parameters`/`raiiaf` records are replaced; everything else is kept. */

/* Flags reported by the export functions. */
#define RAIIAF_EXPORT_MANIFEST_OMITTED 0x1u /* JPEG: the manifest did not fit the 64 KB
                                               EXIF segment; only the parameters text went in */

/* Builds the exported image in memory (*out released with raiiaf_free()).
 * `format` is "png", "jpeg", "webp" or NULL (the stored image's); it must
 * be the stored image's format (RAIIAF_E_ARG otherwise: export never
 * re-encodes).  RAIIAF_E_NOT_FOUND when the file holds no image.
 * *flags (may be NULL) receives RAIIAF_EXPORT_* bits. */
RAIIAF_API int raiiaf_export(raiiaf_reader *r, const char *format, unsigned char **out, size_t *out_size,
                             unsigned *flags, char *err, size_t errsize);

/* As raiiaf_export(), written atomically to `path`; with `format` NULL the
 * format is taken from the extension (.png, .jpg/.jpeg, .webp). */
RAIIAF_API int raiiaf_export_file(raiiaf_reader *r, const char *path, const char *format, unsigned *flags,
                                  char *err, size_t errsize);

/* The A1111-style `parameters` text of the reader's manifest (prompt,
 * "Negative prompt: ...", then "Steps: N, Sampler: ..., ..."), released
 * with raiiaf_free(). */
RAIIAF_API int raiiaf_export_parameters(raiiaf_reader *r, char **text, char *err, size_t errsize);

/* Called once per note (something the user should know that is not an
 * error: a value format 2 refuses, kept only verbatim; a chunk not carried
 * over). */
typedef void (*raiiaf_note_fn)(void *ctx, const char *note);

/* Rewrites a RAIIAF file (format 1 or 2) as format `format` (2 or 1) at
 * `out`, atomically.  Every tensor (bit for bit, dtype kept), the image
 * (byte for byte), the generation record and the environment record are
 * carried over.  From format 1, the original manifest and ENVC JSON are
 * also kept verbatim under /raiiaf_metadata/extensions/org.raiiaf.format1/
 * {manifest,env}; values format 2's schema refuses are kept only there (a
 * note says which), and converting back with format 1 restores the
 * original's model_info, date, compression and environment from them.
 * `codec` is a raiiaf_codec for every tensor, or -1: AUTO, and in format 1
 * output the compression the original format 1 file used.  *tensors and
 * *has_image (may be NULL) say what was written. */
RAIIAF_API int raiiaf_convert(const char *in, const char *out, unsigned format, int codec, raiiaf_note_fn notes,
                              void *ctx, size_t *tensors, int *has_image, char *err, size_t errsize);

/* ---------------------------------------------------------------------- */
/* A library of files: the index database (src/index/)                    */
/* ---------------------------------------------------------------------- */

/* An index: a SQLite database of .raiiaf files' metadata (tables in
 * docs/INDEX.md) made from each file's header, footer and manifest only.
 * One handle is used by one thread at a time; raiiaf_index_run() starts
 * its own worker threads.  Errors: RAIIAF_E_* codes, and a message on the
 * handle (raiiaf_index_errmsg()).  Since 0.3.0. */
typedef struct raiiaf_index raiiaf_index;

/* raiiaf_index_open() flag: open an existing database read-only (search);
 * without it the database is created when missing, switched to WAL and
 * given the schema; an index of schema 1 (no signature_key or created
 * column) is upgraded in place and its rows marked to be read again by
 * the next raiiaf_index_run() (docs/INDEX.md).  Since 0.3.0. */
#define RAIIAF_INDEX_READONLY 1u

/* Since 0.3.0.  Opens the index database `db_path`.  RAIIAF_E_IO when it
 * cannot be opened or is not an index (read-only: RAIIAF_E_NOT_FOUND when
 * it does not exist), RAIIAF_E_BUSY when another process kept it locked
 * through the whole wait (30 s) while the schema was set up.  *out is set
 * even on failure (NULL only when memory ran out): read the message, then
 * raiiaf_index_free(). */
RAIIAF_API int raiiaf_index_open(const char *db_path, unsigned flags, raiiaf_index **out);
/* Since 0.3.0.  Closes the database (a transaction left open by
 * raiiaf_index_begin() is rolled back) and frees the handle.  NULL is fine. */
RAIIAF_API void raiiaf_index_free(raiiaf_index *idx);
/* Since 0.3.0.  What the last failing call on the handle went wrong with
 * ("" when nothing did); valid until the next call on the handle. */
RAIIAF_API const char *raiiaf_index_errmsg(const raiiaf_index *idx);

/* Since 0.3.0.  How many threads raiiaf_index_run() uses to open and parse
 * new and changed files (the writer is always the calling thread): 0, the
 * default, means the CPUs this process may run on; at most 64 (more:
 * RAIIAF_E_ARG).  1 parses on the calling thread. */
RAIIAF_API int raiiaf_index_set_threads(raiiaf_index *idx, unsigned threads);

/* Called by raiiaf_index_run() on the calling thread, at most about ten
 * times a second and once at the end: `done` of `total` files walked have
 * been handled.  Since 0.3.0. */
typedef void (*raiiaf_index_progress_fn)(void *user, uint64_t done, uint64_t total);
/* Since 0.3.0.  Sets the progress callback (NULL: none). */
RAIIAF_API void raiiaf_index_set_progress(raiiaf_index *idx, raiiaf_index_progress_fn fn, void *user);

/* Called by raiiaf_index_run() on the calling thread for each file or folder
 * that could not be indexed: its path, the RAIIAF_E_* code and why.  The
 * library prints nothing.  Since 0.3.0. */
typedef void (*raiiaf_index_problem_fn)(void *user, const char *path, int status, const char *message);
/* Since 0.3.0.  Sets the problem callback (NULL: problems are only counted). */
RAIIAF_API void raiiaf_index_set_problems(raiiaf_index *idx, raiiaf_index_problem_fn fn, void *user);

/* What one raiiaf_index_run() did.  Since 0.3.0. */
typedef struct raiiaf_index_stats {
    uint64_t seen;      /* .raiiaf files found by the walk */
    uint64_t added;     /* new rows */
    uint64_t updated;   /* rows of changed files (size or mtime) read again */
    uint64_t unchanged; /* skipped: same size and mtime as indexed */
    uint64_t removed;   /* rows of files gone from the folders, or no longer readable */
    uint64_t failed;    /* files that could not be read (reported through the problem callback) */
    double seconds;     /* wall-clock time of the run */
} raiiaf_index_stats;

/* Since 0.3.0.  Indexes every .raiiaf file under the folders `dirs`
 * (recursively, symlinks not followed, 64 levels deep at most).
 * Incremental: a file whose size and mtime match its row is skipped, a
 * changed one read again, a row whose file is gone from these folders
 * removed.  New and changed files are opened and parsed on worker threads
 * (raiiaf_index_set_threads()) at most a bounded ring of slots ahead of the
 * one writer, which stores them in path order; rows are committed every
 * 256 files, so a second run on the same database waits its turn (busy
 * timeout 30 s, then RAIIAF_E_BUSY naming the database).  A file that
 * cannot be read is counted in st->failed and reported through the problem
 * callback; it does not fail the run.  RAIIAF_E_NOT_FOUND when a folder
 * cannot be resolved (nothing is written), RAIIAF_E_IO when the database
 * fails, RAIIAF_E_STATE on a read-only handle or inside raiiaf_index_begin().
 * `st` may be NULL. */
RAIIAF_API int raiiaf_index_run(raiiaf_index *idx, const char *const *dirs, size_t ndirs, raiiaf_index_stats *st);

/* Since 0.3.0.  The row the index stores for the file at `path`, as
 * self-contained JSON text (release with raiiaf_free()): an object with
 * exactly the keys "path" (as given), "size", "mtime_ns" (from stat),
 * "format" ("2.0"), "model", "model_hash", "prompt", "negative_prompt",
 * "seed", "steps", "sampler", "scheduler", "cfg_scale", "width", "height",
 * "image_format", "tool" (each a string or number, null when the manifest
 * has none; seeds up to 2^64-1 written exactly), "digest" (the manifest's
 * SHA-256, hex), "signature" (the newest signature's state, as
 * raiiaf_reader_signature() finds it: "none", "valid", "edited" or
 * "invalid"), "signature_key" (its key id, 16 hex digits, or null),
 * "created" (file_info.created, else the generation record's date, as
 * the manifest writes it; null when absent or over 64 bytes), "tags" (array of strings) and "tensors"
 * (array of {"name", "dtype", "shape": [..], "codec", "raw_size",
 * "stored_size"}).  The full-text row is made from "prompt" and
 * "negative_prompt".  raiiaf_index_run() builds its rows with this same
 * code.  On failure *json_out is NULL and, when err is not NULL, err
 * (errsize bytes) holds why: the reader's message for a file that cannot
 * be read (its RAIIAF_E_* code returned), RAIIAF_E_IO with errno's text
 * when it cannot be stat'ed.  `len_out` may be NULL. */
RAIIAF_API int raiiaf_index_row_json(const char *path, char **json_out, size_t *len_out, char *err, size_t errsize);

/* Since 0.3.0.  Inserts the row raiiaf_index_row_json() made (`len` bytes
 * of JSON), replacing any row of the same path, exactly as
 * raiiaf_index_run() would store it (indexed_at is now).  Strict: malformed
 * JSON is RAIIAF_E_JSON; a missing or unknown key, a wrong type, a negative
 * or fractional count, a string over its bound (path 4096 bytes, tensor
 * names 4096, tags and other text 64 MiB) or a bad digest is RAIIAF_E_ARG; the message
 * names the JSON path ("/tensors/2/shape/0: expected an integer from 0 to
 * 2^64-1").  Outside raiiaf_index_begin() each call is its own
 * transaction; inside, rows are written when raiiaf_index_commit() is
 * called (much faster for many rows).  RAIIAF_E_BUSY when another writer
 * kept the database locked for 30 s. */
RAIIAF_API int raiiaf_index_put_row_json(raiiaf_index *idx, const char *json, size_t len);

/* Since 0.3.0.  Opens a write transaction (it takes the database's write
 * lock at once: RAIIAF_E_BUSY after 30 s); raiiaf_index_commit() ends it,
 * raiiaf_index_rollback() drops it.  RAIIAF_E_STATE when one is already
 * open or the handle is read-only. */
RAIIAF_API int raiiaf_index_begin(raiiaf_index *idx);
/* Since 0.3.0.  Commits the transaction raiiaf_index_begin() opened. */
RAIIAF_API int raiiaf_index_commit(raiiaf_index *idx);
/* Since 0.3.0.  Drops the transaction raiiaf_index_begin() opened. */
RAIIAF_API int raiiaf_index_rollback(raiiaf_index *idx);

/* Since 0.3.0.  Deletes the rows (files, tags, tensors, full text) of the
 * file recorded under `path` exactly as given, as raiiaf_index_run() does
 * for a file gone from its folders; for writers that list the files
 * themselves and store rows with raiiaf_index_put_row_json() (raiiaf.dask).
 * *removed (may be NULL) is 1 when a row was there, 0 when none was (not
 * an error).  Outside raiiaf_index_begin() the call is its own transaction.
 * RAIIAF_E_STATE on a read-only handle, RAIIAF_E_IO when the database
 * fails, RAIIAF_E_BUSY when another writer kept it locked for 30 s. */
RAIIAF_API int raiiaf_index_remove_path(raiiaf_index *idx, const char *path, int *removed);

/* raiiaf_index_query flags.  Since 0.3.0. */
#define RAIIAF_INDEX_HAS_TENSORS 1u  /* only files holding at least one tensor */
#define RAIIAF_INDEX_NEWEST_FIRST 2u /* order by mtime, newest first (default: by path) */

/* What raiiaf_index_search() looks for: every condition given must hold.
 * Zero-initialise it, then set what you need.  Since 0.3.0. */
typedef struct raiiaf_index_query {
    const char *const *words; /* full-text words in prompt or negative prompt, all must occur; */
    size_t nwords;            /* a word ending in '*' matches as a prefix, other punctuation is literal */
    const char *model;        /* the model name contains this (ASCII case-insensitive); NULL: any */
    int has_seed;             /* 1: the seed must equal `seed` */
    uint64_t seed;
    const char *const *tags; /* each of these tags must be present */
    size_t ntags;
    unsigned flags;    /* RAIIAF_INDEX_HAS_TENSORS, RAIIAF_INDEX_NEWEST_FIRST */
    int64_t limit;     /* at most this many rows; negative: all */
    uint64_t offset;   /* skip this many first */
    const char *fields; /* comma-separated keys of each row, in this order; NULL: all (see below) */
    const char *sampler;  /* the sampler equals this (ASCII case-insensitive); NULL: any */
    int64_t mtime_min_ns; /* the file was modified at or after this (ns since the epoch); 0: no bound */
    int64_t mtime_max_ns; /* ... at or before this; 0: no bound */
    const char *signature; /* the row's signature state equals this ("none", "valid", "edited", "invalid"),
                            * or "signed" for any of the last three; NULL: any; other text: RAIIAF_E_ARG */
} raiiaf_index_query;

/* Receives one matching row as a JSON object (`len` bytes, NUL-terminated,
 * valid during the call).  Returning non-zero stops the search.  Since 0.3.0. */
typedef int (*raiiaf_index_row_fn)(void *user, const char *json, size_t len);

/* Since 0.3.0.  Runs `q` and calls fn for each matching row.  A row's keys,
 * all of them when q->fields is NULL, in this order: "id", "path", "size",
 * "mtime_ns", "format", "model", "model_hash", "prompt", "negative_prompt",
 * "seed", "steps", "sampler", "scheduler", "cfg_scale", "width", "height",
 * "image_format", "tool", "digest", "signature", "signature_key",
 * "created", "indexed_at", "tags" (sorted) and "tensors" ([{"name", "dtype", "shape": [..]}], by name);
 * absent values are null; seeds up to 2^64-1 exact.  An unknown field
 * name is RAIIAF_E_ARG; a query the full-text engine refuses is
 * RAIIAF_E_ARG, a failing database RAIIAF_E_IO (message on the handle).
 * *matched (may be NULL) gets the number of rows passed to fn. */
RAIIAF_API int raiiaf_index_search(raiiaf_index *idx, const raiiaf_index_query *q, raiiaf_index_row_fn fn, void *user,
                                   uint64_t *matched);

/* ---------------------------------------------------------------------- */
/* Previews for viewers (src/serve/; `raiiaf serve` uses them)            */
/* ---------------------------------------------------------------------- */

/* Since 0.3.0.  A thumbnail of a stored image (PNG, JPEG or WebP bytes, as
 * raiiaf_reader_image() gives them): RGB8, rows top to bottom, the longer
 * side at most `max_side` (1..4096; never enlarged, aspect kept).  JPEG and
 * WebP are decoded already scaled down; PNG up to 16384 x 16384 pixels.
 * *rgb (width*height*3 bytes) is released with raiiaf_free().
 * RAIIAF_E_IMAGE names what is wrong with the image in `err`. */
RAIIAF_API int raiiaf_thumbnail(const void *image, size_t size, uint32_t max_side, uint8_t **rgb,
                                uint32_t *width, uint32_t *height, char *err, size_t errsize);

/* Since 0.3.0.  A latent (float32, channels x height x width, channel
 * planes one after another) -> RGB8 by the published linear latent-to-RGB
 * factors of a model family: "sd1" (SD 1.x/2.x, 4 channels), "sdxl"
 * (4), "sd3" (16), "flux" (16); source: ComfyUI's comfy/latent_formats.py.
 * rgb_size must be height*width*3.  RAIIAF_E_NOT_FOUND for an unknown
 * family, RAIIAF_E_ARG when `channels` is not the family's. */
RAIIAF_API int raiiaf_latent_preview(const float *latent, unsigned channels, uint32_t height, uint32_t width,
                                     const char *family, uint8_t *rgb, size_t rgb_size);

/* Since 0.3.0.  One channel of such a latent as 8-bit grayscale, min-max
 * stretched over its finite values (NaN and infinities show as 0; a flat
 * channel as 128).  gray_size must be height*width. */
RAIIAF_API int raiiaf_latent_channel_gray(const float *latent, unsigned channels, uint32_t height, uint32_t width,
                                          unsigned channel, uint8_t *gray, size_t gray_size);

/* Since 0.3.0.  The latent family for a model name (case-insensitive
 * substrings "flux", "sd3", "xl", "sd1"/"v1-5"), else by channel count (4 ->
 * "sd1", 16 -> "sd3"); NULL when neither tells.  `model` may be NULL. */
RAIIAF_API const char *raiiaf_latent_family_guess(const char *model, unsigned channels);

/* Since 0.3.0.  The JSON API of `raiiaf serve` without HTTP: answers
 * request `path` ("/api/search", "/api/file/ID", "/api/file/ID/image",
 * "/api/file/ID/thumb", "/api/file/ID/manifest", "/api/file/ID/parameters",
 * "/api/file/ID/verify" (reads every payload),
 * "/api/file/ID/tensor/NAME.npy", ".../NAME.safetensors",
 * ".../NAME/preview.png?family=F|channel=K"; README "raiiaf serve") with
 * the raw, still %-encoded `query` (may be NULL) from the index database
 * `db_path` (made by `raiiaf index`; opened read-only).  Files are named
 * only by index id; no part of the URL reaches the file system.  Fills
 * *status (HTTP), *content_type (static string) and *body (released with
 * raiiaf_free(); errors are {"error": "..."} with a 4xx/5xx status).
 * Returns RAIIAF_OK whenever a response was made, RAIIAF_E_NOMEM or
 * RAIIAF_E_ARG otherwise.  Also "/api/file/ID/env", ".../signature",
 * ".../history" (also parts of "/api/file/ID") and "/api/stats".  GET
 * only, nothing kept between calls (raiiaf_api_request keeps caches). */
RAIIAF_API int raiiaf_api_handle(const char *db_path, const char *path, const char *query, int *status,
                                 const char **content_type, unsigned char **body, size_t *body_size);

/* Since 0.3.0.  The ETag (a quoted string, 42 characters) of a file
 * resource "/api/file/ID..." with `query`, from the index alone (the file's
 * manifest digest, size and mtime), so a revalidation costs no decoding.
 * RAIIAF_E_NOT_FOUND for other paths and unknown ids. */
RAIIAF_API int raiiaf_api_etag(const char *db_path, const char *path, const char *query, char etag[48]);

/* Since 0.3.0.  The API as a long-lived object (what the server holds): it
 * keeps what requests share -- the environment captured once for drift,
 * verification and signature states cached per file id, size and mtime,
 * thumbnails cached on disk in DB_PATH.thumbs/ID/ beside the index
 * (never beside the originals), and counters ("/api/stats").  Thread-safe:
 * one object serves concurrent requests.  `flags`: RAIIAF_API_ALLOW_EDIT
 * enables the write endpoints (POST/DELETE /api/file/ID/tags?tag=T: an
 * append-only edit of the file, then its index row refreshed); without it
 * they answer 403. */
#define RAIIAF_API_ALLOW_EDIT 0x1u
typedef struct raiiaf_api raiiaf_api;
RAIIAF_API int raiiaf_api_open(const char *db_path, unsigned flags, raiiaf_api **out);
/* Since 0.3.0.  Frees the object.  Accepts NULL. */
RAIIAF_API void raiiaf_api_free(raiiaf_api *api);
/* Since 0.3.0.  As raiiaf_api_handle() for `method` "GET", "HEAD", "POST"
 * or "DELETE" (others: 405), with the object's caches and flags. */
RAIIAF_API int raiiaf_api_request(raiiaf_api *api, const char *method, const char *path, const char *query,
                                  int *status, const char **content_type, unsigned char **body, size_t *body_size);

/* An HTTP server for the API and the embedded web app (libmicrohttpd). */
typedef struct raiiaf_server raiiaf_server;

/* Since 0.3.0.  Starts serving `db_path` on bind_addr (IPv4 text, NULL:
 * 127.0.0.1) and `port` (0: a free one) with a pool of `threads` (0: 4;
 * at most 64) in background threads.  Read-only: GET and HEAD only.  At
 * most 256 connections, 30 s idle timeout, 64 KiB per request. */
RAIIAF_API int raiiaf_server_start(const char *db_path, const char *bind_addr, unsigned port, unsigned threads,
                                   raiiaf_server **out, char *err, size_t errsize);
/* Since 0.3.0.  raiiaf_server_start() with `flags`: RAIIAF_API_ALLOW_EDIT
 * serves the write endpoints, each request needing the header
 * X-Raiiaf-Token with the per-session token (32 random bytes as hex, made
 * at start; the page gets it in <meta name="raiiaf-token">).  bind_addr may
 * be IPv4 or IPv6 text ("::1").  Every request whose Host is not the
 * served address (on a loopback bind: the address or "localhost", with the
 * port) or whose Origin is not "http://" + Host is refused (403): no other
 * web site, nor DNS rebinding, can use the API from a browser. */
RAIIAF_API int raiiaf_server_start_flags(const char *db_path, const char *bind_addr, unsigned port, unsigned threads,
                                         unsigned flags, raiiaf_server **out, char *err, size_t errsize);
/* Since 0.3.0.  The URL the server answers on ("http://127.0.0.1:8787/",
 * "http://[::1]:8787/"); owned by the server. */
RAIIAF_API const char *raiiaf_server_url(const raiiaf_server *server);
/* Since 0.3.0.  The per-session edit token (64 hex digits), or "" without
 * RAIIAF_API_ALLOW_EDIT; owned by the server. */
RAIIAF_API const char *raiiaf_server_token(const raiiaf_server *server);
/* Since 0.3.0.  The port the server listens on. */
RAIIAF_API unsigned raiiaf_server_port(const raiiaf_server *server);
/* Since 0.3.0.  Stops the server (waits for requests in progress) and frees it. */
RAIIAF_API void raiiaf_server_stop(raiiaf_server *server);

#ifdef __cplusplus
}
#endif

#endif /* RAIIAF_H */
