/*
 * format.h -- the RAIIAF format 2 byte layout (docs/SPEC.md is the contract;
 * keep the two in step).  All integers are little-endian.
 *
 *   file    = header · chunk* · footer       (every part starts 64-aligned)
 *
 *   header (64 bytes, offset 0)
 *     0  12  signature 89 52 41 49 49 41 46 0D 0A 1A 0A 00  ("\x89RAIIAF\r\n\x1a\n\0")
 *    12   2  u16 version_major (2)
 *    14   2  u16 version_minor (0; 1 when a flag is set)
 *    16   4  u32 flags (bit 0: recipe tensors, bit 1: relative tensors; a reader
 *                refuses bits it does not know)
 *    20  40  reserved, zero
 *    60   4  u32 CRC-32C of bytes 0..59
 *
 *   chunk = chunk header (64 bytes) · payload (stored_size bytes) · zero padding to 64
 *     0   4  type, four printable ASCII characters ("IMAG", "TENS", "MANI", ...)
 *     4   1  u8 codec (0 raw, 1 zstd byte planes, 2 zfp, 3 recipe)
 *     5   3  reserved, zero
 *     8   4  u32 chunk index (0, 1, 2, ... in file order; the manifest refers to it)
 *    12   4  reserved, zero
 *    16   8  u64 stored_size (payload bytes in the file)
 *    24   8  u64 raw_size (payload bytes once decoded)
 *    32   4  u32 CRC-32C of the stored payload
 *    36  24  reserved, zero
 *    60   4  u32 CRC-32C of bytes 0..59
 *
 *   footer (64 bytes, the last bytes of the file)
 *     0   8  magic "RAIIAFft"
 *     8   8  u64 offset of the manifest chunk header
 *    16   8  u64 offset of the previous footer (0 when this is the first manifest)
 *    24   4  u32 manifest_version (1 for the first; +1 per appended edit)
 *    28  32  reserved, zero
 *    60   4  u32 CRC-32C of bytes 0..59
 */
#ifndef RAIIAF_FORMAT_H
#define RAIIAF_FORMAT_H

#include <stdint.h>

#define RF_ALIGN 64u
#define RF_HEADER_SIZE 64u
#define RF_CHUNK_HEADER_SIZE 64u
#define RF_FOOTER_SIZE 64u
#define RF_SIGNATURE_SIZE 12u

static const unsigned char RF_SIGNATURE[RF_SIGNATURE_SIZE] = {
    0x89, 'R', 'A', 'I', 'I', 'A', 'F', 0x0D, 0x0A, 0x1A, 0x0A, 0x00};
static const unsigned char RF_FOOTER_MAGIC[8] = {'R', 'A', 'I', 'I', 'A', 'F', 'f', 't'};
/* Format 1 files begin with these six bytes and nothing that follows is shared. */
static const unsigned char RF_FORMAT1_MAGIC[6] = {'r', 'a', 'i', 'i', 'a', 'f'};

/* On-disk codec ids (the public raiiaf_codec values are the same numbers). */
#define RF_CODEC_RAW 0u
#define RF_CODEC_ZSTD 1u
#define RF_CODEC_ZFP 2u
#define RF_CODEC_RECIPE 3u /* format 2.1, needs RF_FLAG_RECIPES */

/* Header flags and the minor version that goes with them (SPEC 4, 18). */
#define RF_FLAG_RECIPES 1u    /* some tensor has codec 3 (recipe) */
#define RF_FLAG_REFERENCES 2u /* some tensor is stored relative to an earlier one */
#define RF_FLAGS_KNOWN (RF_FLAG_RECIPES | RF_FLAG_REFERENCES)
#define RF_MINOR_PLAIN 0u
#define RF_MINOR_FLAGS 1u /* the minor version that defines both flags */
/* A tensor's reference chain (itself, its reference, that one's, ...) is
 * at most this long, so reading one tensor decodes at most this many. */
#define RF_MAX_REFERENCE_DEPTH 256u

#define RF_TYPE_IMAGE "IMAG"
#define RF_TYPE_TENSOR "TENS"
#define RF_TYPE_MANIFEST "MANI"

/* Limits against hostile files, enforced before any allocation (SPEC.md §14). */
#define RF_MAX_CHUNKS 65536u
#define RF_MAX_MANIFEST_STORED (16u << 20)    /* compressed manifest */
#define RF_MAX_MANIFEST_RAW (64u << 20)       /* decompressed manifest JSON */
#define RF_MAX_JSON_DEPTH 64u
/* A JSON text of at most 64 MiB can still parse into billions of bytes
 * ([{},{},...] costs ~250 bytes of jansson objects per 3 bytes of text),
 * so every JSON read from a file is pre-scanned and refused before parsing
 * when it holds more values, or would take more memory once parsed, than
 * these.  The largest manifest a writer can produce (65536 chunk records
 * and 65536 tensor entries) needs about 1.7 million values and 180 MiB. */
#define RF_MAX_JSON_VALUES (1u << 21)      /* 2 097 152 values (objects, arrays, scalars) */
#define RF_MAX_JSON_MEMORY (256u << 20)    /* estimated parsed size, bytes */
#define RF_MAX_NAME_BYTES 255u
#define RF_MAX_TENSOR_BYTES (UINT64_C(1) << 40) /* 1 TiB decoded */
#define RF_MAX_PLANES 8u
/* When the newest footer is unusable, the search back for an earlier
 * complete version (SPEC 13.2) tries at most this many footers whose CRC
 * holds and reads (CRC-checks and decodes) at most this many manifest
 * bytes in all: decoy MANI+footer pairs, each inflating 2 KB to 64 MiB,
 * would otherwise cost seconds each, thousands of times.  The budget
 * covers one manifest of the largest size (16 MiB stored + 64 MiB raw). */
#define RF_FALLBACK_MAX_FOOTERS 16u
#define RF_FALLBACK_MAX_BYTES (96u << 20)
/* The default budget of decoded bytes per reader (raiiaf.h,
 * raiiaf_reader_set_decode_limit): 64 MiB plus 64 times the file's size,
 * room for any stored tensors at up to 64x compression on average and for
 * every recipe of a latent's size, while a file under 1 MB cannot ask for
 * more than about a second of work (bounds measured in docs/SECURITY.md).
 * Larger recipes (the format allows 1 GiB) and files compressed further
 * need the budget raised by the caller (--max-decode, max_decode=). */
#define RF_DECODE_BUDGET_BASE (UINT64_C(64) << 20)
#define RF_DECODE_BUDGET_PER_BYTE 64u
/* Manifest JSON text counts this many bytes of the budget per byte: it is
 * parsed (about 35 ns a byte with jansson, against 3-10 for decoding and
 * hashing a payload), and history/verify read every older version. */
#define RF_MANIFEST_BUDGET_WEIGHT 4u
/* A recipe payload is 32 bytes yet decodes to raw_size: the regenerated
 * tensor is bounded separately so a tiny file cannot demand terabytes. */
#define RF_RECIPE_PAYLOAD 32u
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define RF_MAX_RECIPE_BYTES (UINT64_C(1) << 24) /* keep fuzz iterations fast */
#else
#define RF_MAX_RECIPE_BYTES (UINT64_C(1) << 30) /* 1 GiB decoded */
#endif
/* No zstd frame decodes to more than 32768 times its size (a 4-byte RLE
 * block expands to at most 128 KiB), and zfp's densest case, an all-zero
 * 4-D block, is below that too; a chunk declaring more is a bomb. */
#define RF_MAX_EXPANSION 32768u

/* Fill the 64-byte file header (version 2.0, or 2.1 with any flag)
 * and a chunk header, CRCs included (layout.c). */
void rf_file_header(unsigned char h[RF_HEADER_SIZE], uint32_t flags);
void rf_chunk_header(unsigned char h[RF_CHUNK_HEADER_SIZE], const char type[4], unsigned codec, unsigned index,
                     uint64_t stored, uint64_t raw, uint32_t crc);
/* The footer (SPEC §7): the newest manifest chunk's offset, the offset of
 * the footer before it (0 for version 1) and the manifest version. */
void rf_footer(unsigned char f[RF_FOOTER_SIZE], uint64_t manifest_offset, uint64_t previous_footer, uint32_t version);

/* A chunk header's fields (SPEC §5.1). */
typedef struct rf_chunk_fields {
    char type[5];
    unsigned codec;
    uint32_t index;
    uint64_t stored, raw;
    uint32_t crc; /* of the payload */
} rf_chunk_fields;

/* Reads a chunk header into *f (always filled) and checks it: RAIIAF_OK,
 * RAIIAF_E_CHECKSUM when the header's own CRC-32C fails, RAIIAF_E_CORRUPT
 * when a reserved byte is not zero (its offset in *bad_byte, may be NULL).
 * Every reader of chunk headers goes through here (layout.c). */
int rf_chunk_header_read(const unsigned char h[RF_CHUNK_HEADER_SIZE], rf_chunk_fields *f, unsigned *bad_byte);

static inline uint64_t rf_align_up(uint64_t v) { return (v + (RF_ALIGN - 1)) & ~(uint64_t)(RF_ALIGN - 1); }

#endif
