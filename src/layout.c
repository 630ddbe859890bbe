/* layout.c -- the fixed 64-byte structures: built in one place for every
 * writer of the library (writer, edits, compaction, recovery), and the
 * chunk header parsed in one place for every reader of it. */
#include "internal.h"
#include "format.h"

#include <string.h>

void rf_file_header(unsigned char h[RF_HEADER_SIZE], uint32_t flags)
{
    memset(h, 0, RF_HEADER_SIZE);
    memcpy(h, RF_SIGNATURE, RF_SIGNATURE_SIZE);
    rf_put16(h + 12, RAIIAF_FORMAT_MAJOR);
    rf_put16(h + 14, (uint16_t)(flags ? RF_MINOR_FLAGS : RF_MINOR_PLAIN));
    rf_put32(h + 16, flags);
    rf_put32(h + 60, rf_crc32c(0, h, 60));
}

void rf_chunk_header(unsigned char h[RF_CHUNK_HEADER_SIZE], const char type[4], unsigned codec, unsigned index,
                     uint64_t stored, uint64_t raw, uint32_t crc)
{
    memset(h, 0, RF_CHUNK_HEADER_SIZE);
    memcpy(h, type, 4);
    h[4] = (unsigned char)codec;
    rf_put32(h + 8, index);
    rf_put64(h + 16, stored);
    rf_put64(h + 24, raw);
    rf_put32(h + 32, crc);
    rf_put32(h + 60, rf_crc32c(0, h, 60));
}

void rf_footer(unsigned char f[RF_FOOTER_SIZE], uint64_t manifest_offset, uint64_t previous_footer, uint32_t version)
{
    memset(f, 0, RF_FOOTER_SIZE);
    memcpy(f, RF_FOOTER_MAGIC, 8);
    rf_put64(f + 8, manifest_offset);
    rf_put64(f + 16, previous_footer);
    rf_put32(f + 24, version);
    rf_put32(f + 60, rf_crc32c(0, f, 60));
}

int rf_chunk_header_read(const unsigned char h[RF_CHUNK_HEADER_SIZE], rf_chunk_fields *f, unsigned *bad_byte)
{
    memcpy(f->type, h, 4);
    f->type[4] = '\0';
    f->codec = h[4];
    f->index = rf_le32(h + 8);
    f->stored = rf_le64(h + 16);
    f->raw = rf_le64(h + 24);
    f->crc = rf_le32(h + 32);
    if (!rf_sum_ok(rf_le32(h + 60), rf_crc32c(0, h, 60))) return RAIIAF_E_CHECKSUM;
    /* Reserved: 5-7, 12-15 and 36-59 (SPEC §5.1). */
    for (unsigned i = 0; i < RF_CHUNK_HEADER_SIZE - 4; i++)
        if (((i >= 5 && i < 8) || (i >= 12 && i < 16) || i >= 36) && h[i]) {
            if (bad_byte) *bad_byte = i;
            return RAIIAF_E_CORRUPT;
        }
    return RAIIAF_OK;
}
