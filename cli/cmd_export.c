/* cmd_export.c -- `raiiaf export`: the stored image, in its own format and
 * without re-encoding, carrying the generation record where other tools
 * look for it: an A1111-style `parameters` text (PNG tEXt/iTXt, or EXIF
 * UserComment in JPEG and WebP) and, in a PNG, the whole manifest in an
 * iTXt chunk `raiiaf` so that `raiiaf import` restores the full record. */
#include "cli.h"
#include "interop.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static const char usage[] =
    "usage: raiiaf export FILE (--png OUT.png | --jpeg OUT.jpg | --webp OUT.webp | -o OUT) [-q]\n"
    "\n"
    "Writes the stored image (never re-encoded: the pixels are the stored image's) with\n"
    "the generation record added, atomically:\n"
    "  PNG   before the first IDAT: an A1111-compatible `parameters` chunk (tEXt when ASCII,\n"
    "        else iTXt; the last line starts with `Steps:`), read by A1111, Forge, ComfyUI,\n"
    "        Civitai, exiftool, and the whole manifest in a compressed iTXt chunk `raiiaf`.\n"
    "        Earlier\n"
    "        `parameters` and `raiiaf` chunks are dropped; other chunks are kept.\n"
    "  JPEG  the `parameters` text as EXIF UserComment and the manifest as EXIF MakerNote\n"
    "        (\"raiiaf\\0\" + JSON), in an APP1 Exif segment replacing any earlier one; a\n"
    "        manifest that does not fit the segment's 64 KB is left out (with a note)\n"
    "  WebP  the same in an EXIF chunk (the VP8X header gains its EXIF flag)\n"
    "The output's format must be the stored image's; -o infers it from the extension.\n"
    "  -q, --quiet   print nothing on success\n";

typedef struct buf {
    unsigned char *p;
    size_t n, cap;
    int oom;
} buf;

static void put(buf *b, const void *d, size_t n)
{
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t c = b->cap ? b->cap : 4096;
        while (c < b->n + n) c *= 2;
        unsigned char *q = realloc(b->p, c);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = c;
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void put32be(buf *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v};
    put(b, x, 4);
}
static void put32le(buf *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
    put(b, x, 4);
}
static uint32_t rd32be(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static uint32_t rd32le(const unsigned char *p)
{
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}

static void png_chunk(buf *b, const char *type, const unsigned char *data, size_t n)
{
    put32be(b, (uint32_t)n);
    put(b, type, 4);
    put(b, data, n);
    uLong crc = crc32(0L, (const Bytef *)type, 4);
    if (n) crc = crc32(crc, data, (uInt)n);
    put32be(b, (uint32_t)crc);
}

/* A tEXt (ASCII text) or uncompressed / compressed iTXt chunk body. */
static int text_chunk(buf *b, const char *keyword, const char *text, int compress)
{
    size_t tl = strlen(text);
    int ascii = !compress;
    for (size_t i = 0; ascii && i < tl; i++)
        if ((unsigned char)text[i] >= 0x80) ascii = 0;
    buf body = {0};
    put(&body, keyword, strlen(keyword) + 1);
    if (ascii) {
        put(&body, text, tl);
        png_chunk(b, "tEXt", body.p, body.n);
    } else {
        unsigned char hdr[4] = {(unsigned char)(compress ? 1 : 0), 0, 0, 0}; /* flag, method, "" lang, "" translated */
        put(&body, hdr, 4);
        if (compress) {
            uLongf zl = compressBound((uLong)tl);
            unsigned char *z = malloc(zl);
            if (!z || compress2(z, &zl, (const Bytef *)text, (uLong)tl, 9) != Z_OK) {
                free(z);
                free(body.p);
                return -1;
            }
            put(&body, z, zl);
            free(z);
        } else put(&body, text, tl);
        png_chunk(b, "iTXt", body.p, body.n);
    }
    int oom = body.oom;
    free(body.p);
    return oom ? -1 : 0;
}

static int drop_png_text(const unsigned char *type, const unsigned char *d, size_t n)
{
    if (memcmp(type, "tEXt", 4) && memcmp(type, "zTXt", 4) && memcmp(type, "iTXt", 4)) return 0;
    return (n >= 11 && !memcmp(d, "parameters\0", 11)) || (n >= 7 && !memcmp(d, "raiiaf\0", 7));
}

static int export_png(const unsigned char *d, size_t size, const char *params, const char *manifest, buf *o,
                      char *err, size_t errsize)
{
    put(o, d, 8);
    size_t pos = 8;
    int inserted = 0;
    while (pos < size) {
        if (size - pos < 12) break;
        uint32_t n = rd32be(d + pos);
        if (size - pos - 12 < n) break;
        const unsigned char *type = d + pos + 4;
        /* The text goes before the first IDAT, where readers that stop at
         * the pixels still see it (and where A1111 writes it). */
        if (!inserted && (!memcmp(type, "IDAT", 4) || !memcmp(type, "IEND", 4))) {
            if (text_chunk(o, "parameters", params, 0) || text_chunk(o, "raiiaf", manifest, 1)) {
                snprintf(err, errsize, "out of memory");
                return RAIIAF_E_NOMEM;
            }
            inserted = 1;
        }
        if (!memcmp(type, "IEND", 4)) {
            put(o, d + pos, 12 + (size_t)n);
            return o->oom ? RAIIAF_E_NOMEM : RAIIAF_OK;
        }
        if (!drop_png_text(type, d + pos + 8, n)) put(o, d + pos, 12 + (size_t)n);
        pos += 12 + (size_t)n;
    }
    snprintf(err, errsize, "the stored PNG has no IEND chunk");
    return RAIIAF_E_CORRUPT;
}

static int export_jpeg(const unsigned char *d, size_t size, const char *params, const char *manifest, buf *o,
                       char *err, size_t errsize)
{
    size_t tl;
    unsigned char *tiff = exif_build_usercomment(params, manifest, &tl);
    if (tiff && tl + 8 > 65535) {
        /* The manifest does not fit beside the text in one APP1 segment:
         * carry the parameters text alone. */
        free(tiff);
        tiff = exif_build_usercomment(params, NULL, &tl);
        fprintf(stderr, "raiiaf: note: the manifest (%zu bytes) does not fit in a JPEG EXIF segment; only the parameters text is exported\n", strlen(manifest));
    }
    if (!tiff) return RAIIAF_E_NOMEM;
    if (tl + 8 > 65535) {
        snprintf(err, errsize, "the parameters text needs %zu bytes of EXIF, more than a JPEG APP1 segment holds (65527)", tl);
        free(tiff);
        return RAIIAF_E_LIMIT;
    }
    put(o, d, 2); /* SOI */
    size_t pos = 2;
    int inserted = 0;
    while (pos + 4 <= size && d[pos] == 0xFF) {
        unsigned m = d[pos + 1];
        if (m == 0xDA || m == 0xD9 || m == 0x01 || (m >= 0xD0 && m <= 0xD8) || m == 0xFF) break;
        size_t len = (size_t)d[pos + 2] << 8 | d[pos + 3];
        if (len < 2 || size - pos - 2 < len) break;
        int is_exif = m == 0xE1 && len >= 8 && !memcmp(d + pos + 4, "Exif\0", 5);
        if (!inserted && m != 0xE0) {
            unsigned char hdr[10] = {0xFF, 0xE1, (unsigned char)((tl + 8) >> 8), (unsigned char)(tl + 8), 'E', 'x', 'i', 'f', 0, 0};
            put(o, hdr, 10);
            put(o, tiff, tl);
            inserted = 1;
        }
        if (!is_exif) put(o, d + pos, 2 + len);
        pos += 2 + len;
    }
    if (!inserted) {
        unsigned char hdr[10] = {0xFF, 0xE1, (unsigned char)((tl + 8) >> 8), (unsigned char)(tl + 8), 'E', 'x', 'i', 'f', 0, 0};
        put(o, hdr, 10);
        put(o, tiff, tl);
    }
    put(o, d + pos, size - pos);
    free(tiff);
    return o->oom ? RAIIAF_E_NOMEM : RAIIAF_OK;
}

static int export_webp(const unsigned char *d, size_t size, uint32_t width, uint32_t height, const char *params,
                       const char *manifest, buf *o, char *err, size_t errsize)
{
    size_t tl;
    unsigned char *tiff = exif_build_usercomment(params, manifest, &tl);
    if (!tiff) return RAIIAF_E_NOMEM;
    if (size < 12 || rd32le(d + 4) > size - 8) {
        free(tiff);
        snprintf(err, errsize, "the stored WebP is damaged");
        return RAIIAF_E_CORRUPT;
    }
    size_t end = (size_t)rd32le(d + 4) + 8;
    put(o, "RIFF\0\0\0\0WEBP", 12);
    size_t pos = 12;
    int has_vp8x = end - pos >= 8 && !memcmp(d + pos, "VP8X", 4);
    if (!has_vp8x) {
        /* A simple-format file: add the extended header the EXIF flag lives in. */
        unsigned char x[18] = {'V', 'P', '8', 'X', 10, 0, 0, 0, 0x08, 0, 0, 0};
        for (size_t p = pos; end - p >= 8;) {
            uint32_t n = rd32le(d + p + 4);
            if (end - p - 8 < n) break;
            if (!memcmp(d + p, "VP8L", 4) && n >= 5 && ((d[p + 8 + 4] >> 4) & 1)) x[8] |= 0x10; /* alpha_is_used */
            p += 8 + (size_t)n + (n & 1);
        }
        uint32_t w1 = width - 1, h1 = height - 1;
        x[12] = (unsigned char)w1, x[13] = (unsigned char)(w1 >> 8), x[14] = (unsigned char)(w1 >> 16);
        x[15] = (unsigned char)h1, x[16] = (unsigned char)(h1 >> 8), x[17] = (unsigned char)(h1 >> 16);
        put(o, x, 18);
    }
    while (end - pos >= 8) {
        uint32_t n = rd32le(d + pos + 4);
        if (end - pos - 8 < n) break;
        size_t whole = 8 + (size_t)n + (n & 1);
        if (whole > end - pos) whole = end - pos;
        if (!memcmp(d + pos, "VP8X", 4) && n >= 10) {
            size_t at = o->n;
            put(o, d + pos, whole);
            if (!o->oom) o->p[at + 8] |= 0x08;
        } else if (memcmp(d + pos, "EXIF", 4)) {
            put(o, d + pos, whole);
        }
        pos += whole;
    }
    put(o, "EXIF", 4);
    put32le(o, (uint32_t)tl);
    put(o, tiff, tl);
    if (tl & 1) put(o, "", 1);
    free(tiff);
    if (o->oom) return RAIIAF_E_NOMEM;
    uint32_t riff = (uint32_t)(o->n - 8);
    o->p[4] = (unsigned char)riff, o->p[5] = (unsigned char)(riff >> 8), o->p[6] = (unsigned char)(riff >> 16),
    o->p[7] = (unsigned char)(riff >> 24);
    return RAIIAF_OK;
}

static const char *fmt_of_ext(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (!dot) return NULL;
    if (!strcasecmp(dot, ".png")) return "png";
    if (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg")) return "jpeg";
    if (!strcasecmp(dot, ".webp")) return "webp";
    return NULL;
}

int cmd_export(int argc, char **argv)
{
    const char *file = NULL, *out = NULL, *want = NULL;
    int quiet = 0, status = EXIT_USAGE;
    raiiaf_reader *r = NULL;
    json_t *m = NULL;
    char *params = NULL;
    buf o = {0};
    char err[1024] = "";
    for (int i = 1; i < argc; i++) {
        const char *v;
        int k;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return EXIT_OK;
        }
        if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) quiet = 1;
        else if ((k = cli_opt(argc, argv, &i, "--png", &v))) {
            if (k < 0) return EXIT_USAGE;
            out = v, want = "png";
        } else if ((k = cli_opt(argc, argv, &i, "--jpeg", &v)) || (k = cli_opt(argc, argv, &i, "--jpg", &v))) {
            if (k < 0) return EXIT_USAGE;
            out = v, want = "jpeg";
        } else if ((k = cli_opt(argc, argv, &i, "--webp", &v))) {
            if (k < 0) return EXIT_USAGE;
            out = v, want = "webp";
        } else if ((k = cli_opt(argc, argv, &i, "-o", &v)) || (k = cli_opt(argc, argv, &i, "--output", &v))) {
            if (k < 0) return EXIT_USAGE;
            out = v, want = fmt_of_ext(v);
            if (!want) {
                cli_err("export: cannot tell the format of '%s' from its extension (.png, .jpg, .webp)", v);
                return EXIT_USAGE;
            }
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_err("export: unknown option '%s' (see raiiaf export --help)", argv[i]);
            return EXIT_USAGE;
        } else if (!file) file = argv[i];
        else {
            cli_err("export: one input file at a time");
            return EXIT_USAGE;
        }
    }
    if (!file || !out) {
        cli_err("export: %s", !file ? "no input file given" : "no output (--png, --jpeg, --webp or -o)");
        return EXIT_USAGE;
    }
    int rc = raiiaf_reader_open_file(file, 0, &r);
    if (rc) {
        cli_err("%s: %s", file, r ? raiiaf_reader_errmsg(r) : "out of memory");
        status = cli_exit_for_input(rc);
        goto done;
    }
    const void *img;
    size_t img_len;
    const char *format;
    uint32_t width, height;
    if ((rc = raiiaf_reader_image(r, &img, &img_len, &format, &width, &height))) {
        cli_err("%s: %s", file, raiiaf_reader_errmsg(r));
        status = cli_exit_for_input(rc);
        goto done;
    }
    if (strcmp(format, want)) {
        cli_err("%s: the stored image is %s; export writes it without re-encoding, so ask for %s", file, format,
                !strcmp(format, "png") ? "--png OUT.png" : !strcmp(format, "jpeg") ? "--jpeg OUT.jpg" : "--webp OUT.webp");
        status = EXIT_USAGE;
        goto done;
    }
    size_t mlen;
    const char *manifest = raiiaf_reader_manifest(r, &mlen);
    m = json_loadb(manifest, mlen, 0, NULL);
    params = m ? export_parameters_text(m) : NULL;
    if (!params) {
        cli_err("%s: cannot build the parameters text", file);
        status = EXIT_INPUT;
        goto done;
    }
    if (!strcmp(format, "png")) rc = export_png(img, img_len, params, manifest, &o, err, sizeof err);
    else if (!strcmp(format, "jpeg")) rc = export_jpeg(img, img_len, params, manifest, &o, err, sizeof err);
    else rc = export_webp(img, img_len, width, height, params, manifest, &o, err, sizeof err);
    if (!rc && o.oom) rc = RAIIAF_E_NOMEM;
    if (rc) {
        cli_err("%s: %s", file, *err ? err : raiiaf_strerror(rc));
        status = rc == RAIIAF_E_NOMEM ? EXIT_SYSTEM : EXIT_INPUT;
        goto done;
    }
    if ((rc = cli_write_file(out, o.p, o.n, err, sizeof err))) {
        cli_err("%s", err);
        status = cli_exit_for_output(rc);
        goto done;
    }
    if (!quiet) printf("%s: exported %s (%zu bytes) with its generation record\n", out, format, o.n);
    status = EXIT_OK;
done:
    free(o.p);
    free(params);
    json_decref(m);
    raiiaf_reader_free(r);
    return status;
}
