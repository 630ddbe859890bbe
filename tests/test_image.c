/* test_image.c -- rf_image_validate(): real generator images, truncation,
 * bit flips, trailing data and hand-built hostile inputs. */
#include "testutil.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------- */

static int validate(const void *data, size_t size, rf_image_desc *d, rf_err *e)
{
    rf_err_clear(e);
    memset(d, 0, sizeof *d);
    return rf_image_validate(data, size, d, e);
}

/* Asserts failure with RAIIAF_E_IMAGE and a message containing `want`. */
static void expect_fail(const void *data, size_t size, const char *want)
{
    rf_image_desc d;
    rf_err e;
    int rc = validate(data, size, &d, &e);
    if (rc != RAIIAF_E_IMAGE) fail_msg("expected RAIIAF_E_IMAGE, got %d (%s)", rc, e.msg);
    if (want && !strstr(e.msg, want)) fail_msg("message \"%s\" lacks \"%s\"", e.msg, want);
}

static void expect_ok(const void *data, size_t size, const char *format, uint32_t w, uint32_t h)
{
    rf_image_desc d;
    rf_err e;
    int rc = validate(data, size, &d, &e);
    if (rc != RAIIAF_OK) fail_msg("expected success, got %d: %s", rc, e.msg);
    assert_string_equal(d.format, format);
    assert_int_equal(d.width, w);
    assert_int_equal(d.height, h);
}

/* For hand-built images that are structurally sound but whose data is no
 * real bitstream: the structure check (rf_image_probe) accepts them and
 * finds the size, the full check refuses them because they do not decode. */
static void expect_structure_only(const void *data, size_t size, const char *format, uint32_t w, uint32_t h,
                                  const char *want)
{
    rf_image_desc d;
    rf_err e;
    rf_err_clear(&e);
    memset(&d, 0, sizeof d);
    int rc = rf_image_probe(data, size, &d, &e);
    if (rc != RAIIAF_OK) fail_msg("expected the structure to pass, got %d: %s", rc, e.msg);
    assert_string_equal(d.format, format);
    assert_int_equal(d.width, w);
    assert_int_equal(d.height, h);
    expect_fail(data, size, want);
}

/* Plain bitwise CRC-32 (zlib polynomial), independent of the one in image.c,
 * for building hand-made PNG chunks. */
static uint32_t crc32_ref(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return ~c;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Appends a PNG chunk with a correct CRC at buf+*n. */
static void png_chunk(unsigned char *buf, size_t *n, const char *type, const void *data, uint32_t len)
{
    put_be32(buf + *n, len);
    memcpy(buf + *n + 4, type, 4);
    if (len) memcpy(buf + *n + 8, data, len);
    put_be32(buf + *n + 8 + len, crc32_ref(buf + *n + 4, (size_t)len + 4));
    *n += 12 + len;
}

static const unsigned char png_sig[8] = { 0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A };

/* Generated with Python's zlib: a 3x2 RGB image with a tEXt chunk AFTER
 * IDAT (where libspng does not look once it has the pixels). */
static const unsigned char png_text_after_idat[] =
    "\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00"
    "\x00\x03\x00\x00\x00\x02\x08\x02\x00\x00\x00\x12\x16\xf1\x4d\x00\x00\x00"
    "\x1c\x49\x44\x41\x54\x78\x9c\x63\x60\x60\x64\xd2\xd0\xd4\x0a\x08\x0c\x62"
    "\x60\xe7\xe0\xd4\x37\x30\x0c\x8f\x88\x04\x00\x18\x77\x03\x22\x72\xeb\x81"
    "\xab\x00\x00\x00\x10\x74\x45\x58\x74\x70\x61\x72\x61\x6d\x65\x74\x65\x72"
    "\x73\x00\x61\x20\x63\x61\x74\xbd\xde\xf9\x20\x00\x00\x00\x00\x49\x45\x4e"
    "\x44\xae\x42\x60\x82";
#define PNG_TEXT_OFFSET 73 /* of the tEXt chunk's length field */

/* A 5x3 RGB Adam7-interlaced image (Python: passes written by hand). */
static const unsigned char png_interlaced[] =
    "\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00"
    "\x00\x05\x00\x00\x00\x03\x08\x02\x00\x00\x01\xa3\x53\x62\x39\x00\x00\x00"
    "\x3c\x49\x44\x41\x54\x78\x9c\x63\x60\x60\xe5\x62\xa8\x69\x6c\x63\xb0\x73"
    "\xf6\x60\x50\x52\xd7\x49\x48\xcd\x9a\xb7\x78\x05\x83\xbc\x8a\x66\x6c\x52"
    "\x3a\x83\xa3\x9b\x77\x7d\x4b\x27\x83\xa0\x98\xb4\x81\xa9\x95\x7f\x48\x64"
    "\x5e\x71\x45\xef\xa4\xe9\x00\x53\x1c\x0e\xc5\xca\xba\x74\xc4\x00\x00\x00"
    "\x00\x49\x45\x4e\x44\xae\x42\x60\x82";

/* A 1x1 grey image whose only row has filter type 5 (there are 0..4); all
 * CRCs and the zlib stream are correct, so only a real decode catches it. */
static const unsigned char png_bad_filter[] =
    "\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00"
    "\x00\x01\x00\x00\x00\x01\x08\x00\x00\x00\x00\x3a\x7e\x9b\x55\x00\x00\x00"
    "\x0a\x49\x44\x41\x54\x78\x9c\x63\x6d\x00\x00\x00\x8c\x00\x86\xb1\x0f\xe5"
    "\xb8\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60\x82";

/* ---- the real files --------------------------------------------------- */

typedef struct real_image {
    const char *name;
    const char *format;
    uint32_t width, height;
} real_image;

/* Sizes taken independently of this library: PNG from the IHDR bytes
 * (python3 struct.unpack('>II', d[16:24]), agreeing with `file`); JPEG from
 * the SOF0 segment (walked with Python, agreeing with `file`); WebP from the
 * VP8X canvas bytes (le24 + 1 at payload offsets 4 and 7: ff 03 00 -> 1024). */
static const real_image real_images[] = {
    { "sd-webui.png", "png", 1024, 1024 },
    { "forge.png", "png", 1024, 1024 },
    { "comfyui.png", "png", 1024, 1024 },
    { "invokeai.png", "png", 1024, 1024 },
    { "novelai-full.png", "png", 832, 1216 },
    { "swarmui.png", "png", 1024, 1024 },
    { "ruined-fooocus.png", "png", 1024, 1024 },
    { "empty.png", "png", 832, 1216 },
    { "sd-webui.jpg", "jpeg", 1024, 1024 },
    { "comfyui-saveimage-plus.jpg", "jpeg", 1024, 1024 },
    { "sd-webui.webp", "webp", 1024, 1024 },
    { "comfyui-saveimage-plus.webp", "webp", 1024, 1024 },
};
#define N_REAL (sizeof real_images / sizeof real_images[0])

static void test_real_files(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_REAL; i++) {
        size_t size;
        unsigned char *buf = tu_read_data(real_images[i].name, &size);
        expect_ok(buf, size, real_images[i].format, real_images[i].width, real_images[i].height);
        free(buf);
    }
}

/* Cuts at the signature boundaries, near the end, and either every 4096
 * bytes (one file per format) or at ~64 spread points (the rest, to keep
 * the run short: each PNG cut re-CRCs everything before it). */
static void test_truncation(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_REAL; i++) {
        size_t size;
        unsigned char *buf = tu_read_data(real_images[i].name, &size);
        int dense = strcmp(real_images[i].name, "ruined-fooocus.png") == 0 ||
                    strcmp(real_images[i].name, "sd-webui.jpg") == 0 ||
                    strcmp(real_images[i].name, "sd-webui.webp") == 0;
        size_t step = dense ? 4096 : size / 64 + 1;
        static const size_t fixed[] = { 0, 1, 2, 3, 7, 8, 11, 12, 20, 33, 34, 45 };
        for (size_t k = 0; k < sizeof fixed / sizeof fixed[0]; k++) expect_fail(buf, fixed[k], NULL);
        for (size_t cut = step; cut < size; cut += step) expect_fail(buf, cut, NULL);
        for (size_t back = 1; back <= 16; back++) expect_fail(buf, size - back, NULL);
        free(buf);
    }
}

static void flip(unsigned char *buf, size_t pos, unsigned bit) { buf[pos] ^= (unsigned char)(1u << bit); }

/* Every byte of a PNG is under a CRC (or is the signature), so any single
 * bit flip must be caught. */
static void test_png_bit_flips(void **state)
{
    (void)state;
    size_t size;
    unsigned char *buf = tu_read_data("ruined-fooocus.png", &size);
    uint64_t rng = 12345;
    for (int i = 0; i < 200; i++) {
        size_t pos;
        /* A few fixed places first: signature, IHDR length and size, the
         * last CRC byte; then pseudo-random ones. */
        switch (i) {
        case 0: pos = 0; break;
        case 1: pos = 7; break;
        case 2: pos = 11; break;
        case 3: pos = 17; break;
        case 4: pos = size - 1; break;
        case 5: pos = size - 9; break; /* IEND's type */
        default: pos = (size_t)(tu_rand(&rng) % size);
        }
        unsigned bit = (unsigned)(tu_rand(&rng) % 8);
        flip(buf, pos, bit);
        rf_image_desc d;
        rf_err e;
        int rc = validate(buf, size, &d, &e);
        if (rc != RAIIAF_E_IMAGE) fail_msg("flip of bit %u at %zu not caught (rc %d)", bit, pos, rc);
        flip(buf, pos, bit);
    }
    expect_ok(buf, size, "png", 1024, 1024); /* restored intact */
    free(buf);
}

/* JPEG and WebP are checked structurally only: a flip in entropy-coded or
 * compressed data may well pass.  What matters is no crash or sanitizer
 * report, a clean status, and that the headers are guarded. */
static void flips_structural(const char *name, const char *format, const size_t *must_fail, size_t n_must)
{
    size_t size;
    unsigned char *buf = tu_read_data(name, &size);
    uint64_t rng = 777;
    for (int i = 0; i < 300; i++) {
        size_t pos = (size_t)(tu_rand(&rng) % size);
        unsigned bit = (unsigned)(tu_rand(&rng) % 8);
        flip(buf, pos, bit);
        rf_image_desc d;
        rf_err e;
        int rc = validate(buf, size, &d, &e);
        if (rc == RAIIAF_OK) {
            assert_string_equal(d.format, format);
            assert_true(d.width > 0 && d.height > 0);
        } else if (rc != RAIIAF_E_IMAGE) {
            fail_msg("%s: flip at %zu gave status %d", name, pos, rc);
        }
        flip(buf, pos, bit);
    }
    for (size_t k = 0; k < n_must; k++) {
        size_t pos = must_fail[k] < size ? must_fail[k] : size - (must_fail[k] - size) - 1;
        for (unsigned bit = 0; bit < 8; bit++) {
            flip(buf, pos, bit);
            rf_image_desc d;
            rf_err e;
            if (validate(buf, size, &d, &e) != RAIIAF_E_IMAGE)
                fail_msg("%s: flip of bit %u at %zu (a header byte) not caught", name, bit, pos);
            flip(buf, pos, bit);
        }
    }
    free(buf);
}

/* Positions >= size count back from the end: size + k means size - k - 1. */
static void test_jpeg_bit_flips(void **state)
{
    (void)state;
    size_t soi_eoi[] = { 0, 1, (size_t)-1, (size_t)-1 };
    size_t size;
    unsigned char *buf = tu_read_data("sd-webui.jpg", &size);
    free(buf);
    soi_eoi[2] = size + 0; /* last byte (D9) */
    soi_eoi[3] = size + 1; /* the FF before it */
    flips_structural("sd-webui.jpg", "jpeg", soi_eoi, 4);
    buf = tu_read_data("comfyui-saveimage-plus.jpg", &size);
    free(buf);
    soi_eoi[2] = size + 0;
    soi_eoi[3] = size + 1;
    flips_structural("comfyui-saveimage-plus.jpg", "jpeg", soi_eoi, 4);
}

static void test_webp_bit_flips(void **state)
{
    (void)state;
    static const size_t riff_header[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 };
    flips_structural("sd-webui.webp", "webp", riff_header, 12);
    flips_structural("comfyui-saveimage-plus.webp", "webp", riff_header, 12);
}

static void append_and_fail(const char *name, const char *want)
{
    size_t size;
    unsigned char *buf = tu_read_data(name, &size);
    unsigned char *big = malloc(size + 4);
    assert_non_null(big);
    memcpy(big, buf, size);
    memcpy(big + size, "junk", 4);
    expect_fail(big, size + 4, want);
    expect_fail(big, size + 1, want);
    free(big);
    free(buf);
}

static void test_trailing_data(void **state)
{
    (void)state;
    append_and_fail("empty.png", "after IEND");
    append_and_fail("sd-webui.jpg", "after EOI");
    append_and_fail("sd-webui.webp", "disagrees with data size");
}

static void test_not_an_image(void **state)
{
    (void)state;
    static const unsigned char gif[] = "GIF89a\x01\x00\x01\x00\x80\x00\x00";
    expect_fail(gif, sizeof gif - 1, "not a PNG, JPEG or WebP image (first bytes 47 49 46 38");
    static const char text[] = "hello, world\n";
    expect_fail(text, sizeof text - 1, "not a PNG, JPEG or WebP");
    expect_fail("h", 1, "first bytes 68)");
    /* A RIFF that is not WebP (a WAVE file header). */
    expect_fail("RIFF\x04\x00\x00\x00WAVE", 12, "not a PNG, JPEG or WebP");
}

static void test_empty(void **state)
{
    (void)state;
    expect_fail(NULL, 0, "empty image");
    expect_fail("", 0, "empty image");
    rf_err e;
    rf_err_clear(&e);
    assert_int_equal(rf_image_validate("x", 1, NULL, &e), RAIIAF_E_ARG);
    rf_image_desc d;
    assert_int_equal(rf_image_validate(NULL, 5, &d, &e), RAIIAF_E_ARG);
}

/* ---- hand-built PNGs -------------------------------------------------- */

static void test_png_small(void **state)
{
    (void)state;
    expect_ok(png_text_after_idat, sizeof png_text_after_idat - 1, "png", 3, 2);
    expect_ok(png_interlaced, sizeof png_interlaced - 1, "png", 5, 3);

    /* A flip in the ancillary chunk after IDAT must still be caught. */
    unsigned char buf[sizeof png_text_after_idat];
    memcpy(buf, png_text_after_idat, sizeof buf);
    assert_memory_equal(buf + PNG_TEXT_OFFSET + 4, "tEXt", 4);
    buf[PNG_TEXT_OFFSET + 8] ^= 0x20; /* 'p' of "parameters" */
    expect_fail(buf, sizeof buf - 1, "PNG: chunk tEXt at offset 73: CRC mismatch");

    /* Only a full decode finds a bad filter type behind good CRCs. */
    expect_fail(png_bad_filter, sizeof png_bad_filter - 1, "PNG: image data");

    /* IEND missing: the data stops after IDAT. */
    expect_fail(png_bad_filter, sizeof png_bad_filter - 1 - 12, "before IEND");
    expect_fail(png_sig, 8, "PNG: data ends at offset 8 before IEND");
}

static void test_png_hostile(void **state)
{
    (void)state;
    unsigned char buf[256];
    size_t n;

    /* A first chunk claiming 2^31-1 bytes of an 8-byte remainder. */
    memcpy(buf, png_sig, 8);
    put_be32(buf + 8, 0x7FFFFFFFu);
    memcpy(buf + 12, "IHDR", 4);
    memset(buf + 16, 0, 17);
    expect_fail(buf, 33, "declares 2147483647 data bytes");

    /* Lengths with the top bit set are forbidden outright. */
    put_be32(buf + 8, 0x80000000u);
    expect_fail(buf, 33, "exceeds 2^31-1");

    /* A correct-looking header for 100000 x 100000 RGB: 30 GB decoded. */
    static const unsigned char ihdr[13] = { 0, 1, 0x86, 0xA0, 0, 1, 0x86, 0xA0, 8, 2, 0, 0, 0 };
    memcpy(buf, png_sig, 8);
    n = 8;
    png_chunk(buf, &n, "IHDR", ihdr, 13);
    png_chunk(buf, &n, "IDAT", "\x78\x9c\x03\x00\x00\x00\x00\x01", 8);
    png_chunk(buf, &n, "IEND", NULL, 0);
    expect_fail(buf, n, "over the 1 GiB limit");

    /* First chunk not IHDR; non-letter chunk type; non-empty IEND. */
    n = 8;
    png_chunk(buf, &n, "IEND", NULL, 0);
    expect_fail(buf, n, "not a 13-byte IHDR");
    n = 8;
    png_chunk(buf, &n, "IH1R", ihdr, 13);
    expect_fail(buf, n, "not ASCII letters");
    n = 8;
    png_chunk(buf, &n, "IHDR", ihdr, 13);
    png_chunk(buf, &n, "IEND", "x", 1);
    expect_fail(buf, n, "must be empty");

    /* A valid 1x1 grey image, then an unknown critical chunk after IDAT:
     * CRCs are right, so only libspng's chunk rules can refuse it. */
    static const unsigned char ihdr1[13] = { 0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0 };
    static const unsigned char idat1[] = "\x78\x9c\x63\x68\x00\x00\x00\x82\x00\x81"; /* zlib of 00 80 */
    n = 8;
    png_chunk(buf, &n, "IHDR", ihdr1, 13);
    png_chunk(buf, &n, "IDAT", idat1, 10);
    size_t before_iend = n;
    png_chunk(buf, &n, "IEND", NULL, 0);
    expect_ok(buf, n, "png", 1, 1);
    n = before_iend;
    png_chunk(buf, &n, "ABCD", "x", 1);
    png_chunk(buf, &n, "IEND", NULL, 0);
    expect_fail(buf, n, "PNG: chunks after the image data: unknown critical chunk");
}

/* ---- hand-built JPEGs ------------------------------------------------- */

/* SOI, SOF0 (3x2, one component), SOS, entropy data with a stuffed byte and
 * a restart marker, EOI.  Structurally valid, not decodable (no tables). */
static const unsigned char jpeg_min[] = {
    0xFF, 0xD8,
    0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x02, 0x00, 0x03, 0x01, 0x01, 0x11, 0x00,
    0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00,
    0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xFF,
    0xFF, 0xD9,
};
#define JPEG_SOS 15

static void test_jpeg_small(void **state)
{
    (void)state;
    unsigned char buf[sizeof jpeg_min];
    expect_structure_only(jpeg_min, sizeof jpeg_min, "jpeg", 3, 2, "JPEG: does not decode");

    memcpy(buf, jpeg_min, sizeof buf);
    buf[7] = buf[8] = 0; /* height 0: would need DNL */
    expect_fail(buf, sizeof buf, "declares size 3x0");

    /* The SOF segment cut short: 17 bytes declared with 11 present. */
    memcpy(buf, jpeg_min, sizeof buf);
    buf[5] = 17;
    expect_fail(buf, 15, "truncated segment at offset 2 (marker 0xFFC0 declares 17 bytes, 11 remain)");

    /* SOS with no SOF before it. */
    unsigned char nosof[sizeof jpeg_min];
    memcpy(nosof, jpeg_min, 2);
    memcpy(nosof + 2, jpeg_min + JPEG_SOS, sizeof jpeg_min - JPEG_SOS);
    expect_fail(nosof, 2 + sizeof jpeg_min - JPEG_SOS, "before any frame header");

    /* No scan at all. */
    memcpy(buf, jpeg_min, JPEG_SOS);
    buf[JPEG_SOS] = 0xFF;
    buf[JPEG_SOS + 1] = 0xD9;
    expect_fail(buf, JPEG_SOS + 2, "before any scan");

    /* A segment length below 2. */
    memcpy(buf, jpeg_min, sizeof buf);
    buf[5] = 1;
    buf[4] = 0;
    expect_fail(buf, sizeof buf, "declares length 1 < 2");

    /* A scan that never ends. */
    expect_fail(jpeg_min, sizeof jpeg_min - 2, "without EOI");
}

/* ---- hand-built WebPs ------------------------------------------------- */

static void test_webp_small(void **state)
{
    (void)state;
    /* Simple lossless: VP8L of 5 bytes (odd, so one pad byte), 3x2. */
    static const unsigned char vp8l[] = {
        'R', 'I', 'F', 'F', 18, 0, 0, 0, 'W', 'E', 'B', 'P',
        'V', 'P', '8', 'L', 5, 0, 0, 0, 0x2F, 0x02, 0x40, 0x00, 0x00, 0x00,
    };
    expect_structure_only(vp8l, sizeof vp8l, "webp", 3, 2, "WebP: ");

    /* The pad byte missing (RIFF size adjusted so only that is wrong). */
    unsigned char buf[128];
    memcpy(buf, vp8l, sizeof vp8l);
    buf[4] = 17;
    expect_fail(buf, sizeof vp8l - 1, "without its padding byte");

    /* RIFF size off by two. */
    memcpy(buf, vp8l, sizeof vp8l);
    buf[4] = 20;
    expect_fail(buf, sizeof vp8l, "RIFF size 20 (+8 header bytes) disagrees with data size 26");

    /* Bad VP8L signature byte. */
    memcpy(buf, vp8l, sizeof vp8l);
    buf[20] = 0x2E;
    expect_fail(buf, sizeof vp8l, "signature 0x2E");

    /* Simple lossy: VP8 frame header only (key frame, shown, start code). */
    static const unsigned char vp8[] = {
        'R', 'I', 'F', 'F', 22, 0, 0, 0, 'W', 'E', 'B', 'P',
        'V', 'P', '8', ' ', 10, 0, 0, 0, 0x10, 0x00, 0x00, 0x9D, 0x01, 0x2A, 7, 0, 5, 0,
    };
    expect_structure_only(vp8, sizeof vp8, "webp", 7, 5, "WebP: ");
    memcpy(buf, vp8, sizeof vp8);
    buf[24] = 0x02;
    expect_fail(buf, sizeof vp8, "start code 9D 02 2A");

    /* Animated: VP8X (animation flag, canvas 3x2), ANIM, one ANMF frame
     * holding the VP8L bitstream above. */
    static const unsigned char anim[] = {
        'R', 'I', 'F', 'F', 74, 0, 0, 0, 'W', 'E', 'B', 'P',
        'V', 'P', '8', 'X', 10, 0, 0, 0, 0x02, 0, 0, 0, 2, 0, 0, 1, 0, 0,
        'A', 'N', 'I', 'M', 6, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        'A', 'N', 'M', 'F', 30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 1, 0, 0, 100, 0, 0, 0,
        'V', 'P', '8', 'L', 5, 0, 0, 0, 0x2F, 0x02, 0x40, 0x00, 0x00, 0x00,
    };
    expect_structure_only(anim, sizeof anim, "webp", 3, 2, "WebP: ");

    /* The same file with the frame's image bigger than the frame. */
    memcpy(buf, anim, sizeof anim);
    buf[sizeof anim - 5] = 0x03; /* VP8L width 4 */
    expect_fail(buf, sizeof anim, "frame is 3x2 but its image is 4x2");

    /* Animation flag set but no frames: drop the ANMF chunk. */
    memcpy(buf, anim, 44);
    buf[4] = 36;
    expect_fail(buf, 44, "without ANIM and ANMF");

    /* A chunk size running past the end. */
    memcpy(buf, vp8l, sizeof vp8l);
    buf[16] = 200;
    expect_fail(buf, sizeof vp8l, "chunk VP8L at offset 12: declares 200 bytes, 6 remain");
}


/* ---- decoding JPEG and WebP ------------------------------------------- */

/* A JPEG cut inside its entropy-coded data with EOI put back: every segment
 * still fits, so only decoding can tell that the scan stops short. */
static void test_jpeg_decode(void **state)
{
    (void)state;
    size_t n;
    unsigned char *d = tu_read_data("sd-webui.jpg", &n);
    expect_ok(d, n, "jpeg", 1024, 1024);
    size_t cut = n / 2;
    while (d[cut] == 0xFF || d[cut - 1] == 0xFF) cut++;
    d[cut] = 0xFF;
    d[cut + 1] = 0xD9;
    expect_structure_only(d, cut + 2, "jpeg", 1024, 1024, "JPEG: does not decode");
    free(d);
}

/* WebP: a lossless image whose bitstream is cut short (sizes fixed up so
 * the RIFF structure holds), a lossy one whose data is damaged, and an
 * animation (two frames, made with PIL) decoded frame by frame. */
static void test_webp_decode(void **state)
{
    (void)state;
    size_t n;
    unsigned char *d = tu_read_data("comfyui-saveimage-plus.webp", &n);
    expect_ok(d, n, "webp", 1024, 1024);
    /* Its VP8L chunk (after VP8X and whatever else), half of it rewrapped
     * as a simple-format WebP: RIFF, WEBP, VP8L of an even size. */
    size_t pos = 12;
    while (memcmp(d + pos, "VP8L", 4)) {
        size_t len = (size_t)d[pos + 4] | ((size_t)d[pos + 5] << 8) | ((size_t)d[pos + 6] << 16);
        pos += 8 + len + (len & 1);
        assert_true(pos + 8 < n);
    }
    size_t len = (size_t)d[pos + 4] | ((size_t)d[pos + 5] << 8) | ((size_t)d[pos + 6] << 16);
    size_t keep = len / 4 * 2;
    unsigned char *w = malloc(20 + keep);
    assert_non_null(w);
    memcpy(w, "RIFF\0\0\0\0WEBPVP8L", 16);
    uint32_t riff = (uint32_t)(keep + 12);
    w[4] = (unsigned char)riff, w[5] = (unsigned char)(riff >> 8), w[6] = (unsigned char)(riff >> 16), w[7] = 0;
    w[16] = (unsigned char)keep, w[17] = (unsigned char)(keep >> 8), w[18] = (unsigned char)(keep >> 16), w[19] = 0;
    memcpy(w + 20, d + pos + 8, keep);
    expect_structure_only(w, keep + 20, "webp", 1024, 1024, "WebP: image data does not decode");
    free(w);
    free(d);

    d = tu_read_data("animated.webp", &n);
    expect_ok(d, n, "webp", 12, 10);
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_files),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_png_bit_flips),
        cmocka_unit_test(test_jpeg_bit_flips),
        cmocka_unit_test(test_webp_bit_flips),
        cmocka_unit_test(test_trailing_data),
        cmocka_unit_test(test_not_an_image),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_png_small),
        cmocka_unit_test(test_png_hostile),
        cmocka_unit_test(test_jpeg_small),
        cmocka_unit_test(test_webp_small),
        cmocka_unit_test(test_jpeg_decode),
        cmocka_unit_test(test_webp_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
