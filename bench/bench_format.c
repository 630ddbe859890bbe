/*
 * bench_format.c -- the format benchmark: how long creating, opening,
 * reading and verifying a typical RAIIAF file takes, as a ratio to the time
 * SHA-256 alone takes over the same payload bytes in the same run, and how
 * small the tensor codecs store typical latents, as a ratio of raw.
 *
 *   bench_format [--runs N] [--image PATH] [--dir FOLDER]
 *
 * The file is a 1024x1024 PNG (default tests/data/comfyui.png) plus a
 * (1,4,128,128) float32 latent drawn from N(0,1) by a seeded PRNG, so every
 * run on every machine measures the same bytes.  Each timing is the median
 * of N runs (default 11), the operations interleaved run by run so that
 * drift in the machine's speed affects them alike.  Files are written to a
 * scratch folder on tmpfs (/dev/shm, else /tmp) unless --dir names another,
 * e.g. a disk folder to include the cost of the writer's fsync.  See
 * docs/PERFORMANCE.md.
 */
#include "raiiaf.h"
#include "bench_util.h"
#include "half.h"
#include "codec.h"    /* rf_planes_encode / rf_planes_decode (the zstd byte-plane codec) */
#include "internal.h" /* rf_sha256_hex, rf_crc32c, rf_image_validate */

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>
#include <libdeflate.h>
#include <spng.h>
#ifdef BENCH_HAVE_ISAL
#include <isa-l.h>
#endif

/* The writer's zstd level for tensors (TENSOR_ZSTD_LEVEL in src/writer.c). */
#define BENCH_TENSOR_ZSTD_LEVEL 1
#define TMPFS_MAGIC_NUMBER 0x01021994


static void die(const char *what, int rc, const char *msg)
{
    fprintf(stderr, "bench_format: %s: %s%s%s\n", what, raiiaf_strerror(rc), msg && *msg ? ": " : "", msg ? msg : "");
    exit(1);
}


/* ---- float conversions ------------------------------------------------- */

/* float32 -> float16 / bfloat16: the library's own (src/half.c). */
#define f32_to_f16 rf_f32_to_f16
#define f32_to_bf16 rf_f32_to_bf16

/* Self-check of the converters on values whose results are known. */
static void check_conversions(void)
{
    static const struct { float f; uint16_t h; } t[] = {
        {1.0f, 0x3c00}, {-2.0f, 0xc000}, {65504.0f, 0x7bff}, {65520.0f, 0x7c00}, {0x1p-24f, 0x0001},
        {0x1p-25f, 0x0000}, {0x1.8p-25f, 0x0001}, {0x1p-14f, 0x0400}, {1.0f + 0x1p-11f, 0x3c00},
        {1.0f + 0x3p-11f, 0x3c02}, {0.1f, 0x2e66}, {0x1.ffcp-15f, 0x0400},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (f32_to_f16(t[i].f) != t[i].h) {
            fprintf(stderr, "bench_format: f32_to_f16(%a) = 0x%04x, expected 0x%04x\n", (double)t[i].f, f32_to_f16(t[i].f), t[i].h);
            exit(1);
        }
    if (f32_to_bf16(1.0f) != 0x3f80 || f32_to_bf16(1.0f + 0x1p-8f) != 0x3f80 || f32_to_bf16(1.0f + 0x3p-8f) != 0x3f82) {
        fprintf(stderr, "bench_format: f32_to_bf16 self-check failed\n");
        exit(1);
    }
}

/* Order-0 entropy of each byte plane, summed, as a fraction of the raw size:
 * the best a coder that treats each plane as independent bytes can reach.
 * For noise that is about the true limit; for smooth data, coders that use
 * context (zfp's prediction, zstd's matches) can go below it. */
static double plane_entropy_ratio(const void *data, size_t size, unsigned E)
{
    const unsigned char *d = data;
    size_t n = size / E;
    double bits = 0;
    for (unsigned k = 0; k < E; k++) {
        size_t hist[256] = {0};
        for (size_t i = 0; i < n; i++) hist[d[i * E + k]]++;
        for (int b = 0; b < 256; b++)
            if (hist[b]) {
                double p = (double)hist[b] / (double)n;
                bits -= (double)hist[b] * log2(p);
            }
    }
    return bits / 8.0 / (double)size;
}

/* ---- the operations measured ------------------------------------------- */

typedef struct bench_ctx {
    const unsigned char *image;
    size_t image_size;
    const float *latent;
    float *latent_out;
    const char *path;
} bench_ctx;

static const uint64_t latent_shape[4] = {1, LAT_C, LAT_H, LAT_W};

static void create_file(const bench_ctx *b, int with_image)
{
    raiiaf_writer *w = NULL;
    int rc = raiiaf_writer_new(b->path, &w);
    if (!rc && with_image) rc = raiiaf_writer_add_image(w, b->image, b->image_size);
    if (!rc) rc = raiiaf_writer_add_tensor(w, "latent", RAIIAF_F32, 4, latent_shape, b->latent,
                                           LAT_N * sizeof(float), RAIIAF_CODEC_AUTO, 0);
    if (!rc) rc = raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/model_name", "sd_xl_base_1.0");
    if (!rc) rc = raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/prompt",
                                           "a lighthouse on a cliff at dusk, volumetric light, 35mm photo");
    if (!rc) rc = raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/negative_prompt", "blurry, lowres");
    if (!rc) rc = raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/generation_settings/steps", "30");
    if (!rc) rc = raiiaf_writer_finish(w);
    if (rc) die("create", rc, w ? raiiaf_writer_errmsg(w) : NULL);
    raiiaf_writer_free(w);
}

static void op_create(const bench_ctx *b) { create_file(b, 1); }

static raiiaf_reader *open_or_die(const char *path, unsigned flags)
{
    raiiaf_reader *r = NULL;
    int rc = raiiaf_reader_open_file(path, flags, &r);
    if (rc) die("open", rc, r ? raiiaf_reader_errmsg(r) : NULL);
    return r;
}

static void op_open(const bench_ctx *b) { raiiaf_reader_free(open_or_die(b->path, 0)); }

static void read_with(const bench_ctx *b, unsigned flags)
{
    raiiaf_reader *r = open_or_die(b->path, flags);
    const void *img = NULL;
    size_t img_size = 0;
    int rc = raiiaf_reader_image(r, &img, &img_size, NULL, NULL, NULL);
    if (!rc && img_size != b->image_size) rc = RAIIAF_E_CORRUPT;
    if (!rc) rc = raiiaf_reader_read_tensor(r, 0, b->latent_out, LAT_N * sizeof(float));
    if (rc) die("read", rc, raiiaf_reader_errmsg(r));
    raiiaf_reader_free(r);
}

static void op_read(const bench_ctx *b) { read_with(b, 0); }
static void op_read_nodigest(const bench_ctx *b) { read_with(b, RAIIAF_READ_NO_DIGEST); }

static void op_verify(const bench_ctx *b)
{
    raiiaf_reader *r = open_or_die(b->path, 0);
    int rc = raiiaf_reader_verify(r, NULL, NULL);
    if (rc) die("verify", rc, raiiaf_reader_errmsg(r));
    raiiaf_reader_free(r);
}

static char sink_hex[65];
static volatile uint32_t sink_u32;

static void op_sha256(const bench_ctx *b)
{
    /* The same payload bytes the file holds, digested as the writer and
     * reader do: one digest per payload. */
    if (rf_sha256_hex(b->image, b->image_size, sink_hex) ||
        rf_sha256_hex(b->latent, LAT_N * sizeof(float), sink_hex)) {
        fprintf(stderr, "bench_format: sha256: out of memory\n");
        exit(1);
    }
}

static void op_crc32c(const bench_ctx *b)
{
    uint32_t c = rf_crc32c(0, b->image, b->image_size);
    c ^= rf_crc32c(0, b->latent, LAT_N * sizeof(float));
    sink_u32 = c;
}

static void op_png_validate(const bench_ctx *b)
{
    rf_image_desc d;
    rf_err e = {0};
    int rc = rf_image_validate(b->image, b->image_size, &d, &e);
    if (rc) die("image validate", rc, e.msg);
}

static void op_zstd_encode(const bench_ctx *b)
{
    unsigned char *out = NULL;
    size_t n = 0;
    rf_err e = {0};
    int rc = rf_planes_encode(b->latent, LAT_N * sizeof(float), 4, BENCH_TENSOR_ZSTD_LEVEL, &out, &n, &e);
    if (rc) die("zstd encode", rc, e.msg);
    sink_u32 = (uint32_t)n;
    free(out);
}


/* ---- image validation: create and verify per image format ------------- */

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void create_with(const bench_ctx *b, const char *path, const unsigned char *img, size_t n, unsigned threads)
{
    raiiaf_writer *w = NULL;
    int rc = raiiaf_writer_new(path, &w);
    if (!rc) rc = raiiaf_writer_set_threads(w, threads);
    if (!rc) rc = raiiaf_writer_add_image(w, img, n);
    if (!rc) rc = raiiaf_writer_add_tensor(w, "latent", RAIIAF_F32, 4, latent_shape, b->latent,
                                           LAT_N * sizeof(float), RAIIAF_CODEC_AUTO, 0);
    if (!rc) rc = raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/model_name", "sd_xl_base_1.0");
    if (!rc) rc = raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/prompt",
                                           "a lighthouse on a cliff at dusk, volumetric light, 35mm photo");
    if (!rc) rc = raiiaf_writer_set_string(w, "/raiiaf_metadata/model_info/negative_prompt", "blurry, lowres");
    if (!rc) rc = raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/generation_settings/steps", "30");
    if (!rc) rc = raiiaf_writer_finish(w);
    if (rc) die("create", rc, w ? raiiaf_writer_errmsg(w) : NULL);
    raiiaf_writer_free(w);
}

static void verify_with(const char *path, unsigned threads)
{
    raiiaf_reader *r = open_or_die(path, 0);
    int rc = raiiaf_reader_set_threads(r, threads);
    if (!rc) rc = raiiaf_reader_verify(r, NULL, NULL);
    if (rc) die("verify", rc, raiiaf_reader_errmsg(r));
    raiiaf_reader_free(r);
}

/* The concatenated IDAT data of a PNG (for the inflate-only rows). */
static unsigned char *png_idat(const unsigned char *d, size_t n, size_t *zn)
{
    unsigned char *z = xmalloc(n);
    size_t k = 0;
    for (size_t pos = 8; pos + 12 <= n;) {
        size_t len = ((size_t)d[pos] << 24) | ((size_t)d[pos + 1] << 16) | ((size_t)d[pos + 2] << 8) | d[pos + 3];
        if (!memcmp(d + pos + 4, "IDAT", 4)) memcpy(z + k, d + pos + 8, len), k += len;
        pos += 12 + len;
    }
    *zn = k;
    return z;
}

/* The check this library did before 0.3.0: a full libspng decode, row by row. */
static void spng_full_decode(const unsigned char *d, size_t n)
{
    spng_ctx *ctx = spng_ctx_new(0);
    size_t sz = 0;
    struct spng_ihdr ih;
    int r = spng_set_png_buffer(ctx, d, n);
    if (!r) r = spng_get_ihdr(ctx, &ih);
    if (!r) r = spng_decoded_image_size(ctx, SPNG_FMT_PNG, &sz);
    unsigned char *row = xmalloc(sz / ih.height);
    if (!r) r = spng_decode_image(ctx, NULL, 0, SPNG_FMT_PNG, SPNG_DECODE_PROGRESSIVE);
    while (!r) r = spng_decode_row(ctx, row, sz / ih.height);
    if (r != SPNG_EOI || spng_decode_chunks(ctx)) die("libspng decode", RAIIAF_E_IMAGE, spng_strerror(r));
    free(row);
    spng_ctx_free(ctx);
}

static void image_section(const bench_ctx *b, const char *dir, int runs)
{
    static const char *const files[] = {"comfyui.png", "comfyui-saveimage-plus.jpg", "comfyui-saveimage-plus.webp"};
    static const char *const dirs[] = {"tests/data/", "../tests/data/"};
    enum { SHA, C1, C2, V1, V2, CHECK, SPNG, DEFL, ISAL, NROWS };
    static const char *const names[NROWS] = {
        "sha256", "create 1 thread", "create 2 threads", "verify 1 thread", "verify 2 threads",
        "image check", "libspng decode", "libdeflate only", "ISA-L only"};
    printf("image validation: create (set_threads 1|2) and verify (reader set_threads 1|2) of the image + the latent\n");
    printf("above; x sha256 = ratio to SHA-256 of that image + latent in the same run; cpu = CPU time of the\n"
           "process (both threads), which a loaded machine inflates less than wall time\n");
    printf("%-28s %-18s %10s %10s %10s %10s\n", "image", "operation", "median ms", "x sha256", "cpu ms", "cpu x sha");
    for (size_t f = 0; f < 3; f++) {
        char src[256], path[400];
        unsigned char *img = NULL;
        size_t n = 0;
        for (size_t k = 0; k < 2 && !img; k++) {
            snprintf(src, sizeof src, "%s%s", dirs[k], files[f]);
            img = read_whole(src, &n);
        }
        if (!img) {
            printf("%-28s (not found: run from the source folder)\n", files[f]);
            continue;
        }
        rf_image_desc desc;
        rf_err e = {0};
        if (rf_image_validate(img, n, &desc, &e)) die(files[f], RAIIAF_E_IMAGE, e.msg);
        snprintf(path, sizeof path, "%s/image-%zu.raiiaf", dir, f);
        int png = !strcmp(desc.format, "png");
        size_t zn = 0, raw = 0;
        unsigned char *z = png ? png_idat(img, n, &zn) : NULL, *out = NULL;
        if (png) {
            size_t sz;
            spng_ctx *ctx = spng_ctx_new(0);
            spng_set_png_buffer(ctx, img, n);
            spng_decoded_image_size(ctx, SPNG_FMT_PNG, &sz);
            spng_ctx_free(ctx);
            raw = sz + desc.height * 8; /* filtered data: a filter byte per row, room to spare */
            out = xmalloc(raw);
        }
        struct libdeflate_decompressor *dc = libdeflate_alloc_decompressor();
        double *t[NROWS], *c[NROWS];
        for (int k = 0; k < NROWS; k++) t[k] = xmalloc((size_t)runs * sizeof(double)), c[k] = xmalloc((size_t)runs * sizeof(double));
        create_with(b, path, img, n, 1);
        for (int run = -1; run < runs; run++)
            for (int k = 0; k < NROWS; k++) {
                if (!png && k >= SPNG) continue;
                double t0 = now_s(), c0 = cpu_s();
                size_t got = 0;
                switch (k) {
                case SHA:
                    if (rf_sha256_hex(img, n, sink_hex) || rf_sha256_hex(b->latent, LAT_N * sizeof(float), sink_hex))
                        die("sha256", RAIIAF_E_NOMEM, NULL);
                    break;
                case C1: create_with(b, path, img, n, 1); break;
                case C2: create_with(b, path, img, n, 2); break;
                case V1: verify_with(path, 1); break;
                case V2: verify_with(path, 2); break;
                case CHECK:
                    if (rf_image_validate(img, n, &desc, &e)) die("check", RAIIAF_E_IMAGE, e.msg);
                    break;
                case SPNG: spng_full_decode(img, n); break;
                case DEFL:
                    if (libdeflate_zlib_decompress(dc, z, zn, out, raw, &got)) die("libdeflate", RAIIAF_E_IMAGE, NULL);
                    break;
                case ISAL:
#ifdef BENCH_HAVE_ISAL
                {
                    struct inflate_state st;
                    isal_inflate_init(&st);
                    st.crc_flag = ISAL_ZLIB;
                    st.next_in = z;
                    st.avail_in = (uint32_t)zn;
                    st.next_out = out;
                    st.avail_out = (uint32_t)raw;
                    if (isal_inflate(&st) != ISAL_DECOMP_OK || st.block_state != ISAL_BLOCK_FINISH)
                        die("isa-l", RAIIAF_E_IMAGE, NULL);
                }
#endif
                    break;
                }
                if (run >= 0) t[k][run] = now_s() - t0, c[k][run] = cpu_s() - c0;
            }
        double base = median(t[SHA], runs), cbase = median(c[SHA], runs);
        char label[64];
        snprintf(label, sizeof label, "%s %ux%u", desc.format, desc.width, desc.height);
        for (int k = 0; k < NROWS; k++) {
            if (!png && k >= SPNG) continue;
#ifndef BENCH_HAVE_ISAL
            if (k == ISAL) continue;
#endif
            double m = median(t[k], runs), mc = median(c[k], runs);
            printf("%-28s %-18s %10.3f %10.2f %10.3f %10.2f\n", k ? "" : label, names[k], m * 1e3, m / base, mc * 1e3,
                   mc / cbase);
        }
        for (int k = 0; k < NROWS; k++) free(t[k]), free(c[k]);
        libdeflate_free_decompressor(dc);
        free(z);
        free(out);
        free(img);
        unlink(path);
    }
    printf("\n");
}

typedef struct op {
    const char *name;
    const char *what;
    void (*fn)(const bench_ctx *);
} op;

/* ---- the size table ----------------------------------------------------- */

/* Writes a file holding one tensor with `codec` and returns its stored size
 * (and the codec the writer chose). */
static uint64_t stored_size(const char *path, raiiaf_dtype dtype, const void *data, size_t size,
                            raiiaf_codec codec, raiiaf_codec *chosen)
{
    raiiaf_writer *w = NULL;
    int rc = raiiaf_writer_new(path, &w);
    if (!rc) rc = raiiaf_writer_add_tensor(w, "t", dtype, 4, latent_shape, data, size, codec, 0);
    if (!rc) rc = raiiaf_writer_finish(w);
    if (rc) die("size table: write", rc, w ? raiiaf_writer_errmsg(w) : NULL);
    raiiaf_writer_free(w);
    raiiaf_reader *r = open_or_die(path, 0);
    raiiaf_tensor_info ti;
    rc = raiiaf_reader_tensor_info(r, 0, &ti);
    if (rc) die("size table: info", rc, raiiaf_reader_errmsg(r));
    if (ti.raw_size != size) die("size table: raw size", RAIIAF_E_CORRUPT, NULL);
    /* Round trip, so the table never reports a size for bytes it lost. */
    void *back = xmalloc(size);
    rc = raiiaf_reader_read_tensor(r, 0, back, size);
    if (rc) die("size table: read", rc, raiiaf_reader_errmsg(r));
    if (memcmp(back, data, size)) die("size table: round trip", RAIIAF_E_CORRUPT, "decoded bytes differ");
    free(back);
    *chosen = ti.codec;
    uint64_t s = ti.stored_size;
    raiiaf_reader_free(r);
    return s;
}

/* zstd at the writer's level on the bytes as they are (one plane), for
 * comparison with the byte-plane split; stored/raw. */
static double flat_zstd_ratio(const void *data, size_t size)
{
    unsigned char *out = NULL;
    size_t n = 0;
    rf_err e = {0};
    int rc = rf_planes_encode(data, size, 1, BENCH_TENSOR_ZSTD_LEVEL, &out, &n, &e);
    if (rc) die("flat zstd", rc, e.msg);
    free(out);
    return (double)n / (double)size;
}

/* ---- machine description ---------------------------------------------- */

static void cpu_model(char *buf, size_t n)
{
    snprintf(buf, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "model name", 10)) {
            char *p = strchr(line, ':');
            if (p) {
                p++;
                while (*p == ' ' || *p == '\t') p++;
                p[strcspn(p, "\n")] = 0;
                snprintf(buf, n, "%s", p);
            }
            break;
        }
    }
    fclose(f);
}

/* A scratch folder on tmpfs when there is one, so the numbers measure the
 * library and not the disk (the writer fsyncs the file and its folder). */
static const char *make_tmpdir(const char *want, char *buf, size_t n, const char **fs)
{
    const char *bases[] = {"/dev/shm", "/tmp"};
    size_t nb = 2;
    if (want) {
        bases[0] = want;
        nb = 1;
    }
    for (size_t i = 0; i < nb; i++) {
        struct stat st;
        if (stat(bases[i], &st) || !S_ISDIR(st.st_mode) || access(bases[i], W_OK)) continue;
        snprintf(buf, n, "%s/bench_format.XXXXXX", bases[i]);
        if (!mkdtemp(buf)) continue;
        struct statfs sf;
        *fs = (!statfs(buf, &sf) && (unsigned long)sf.f_type == TMPFS_MAGIC_NUMBER) ? "tmpfs" : "not tmpfs: includes disk fsync";
        return buf;
    }
    fprintf(stderr, "bench_format: cannot make a scratch folder in %s\n", want ? want : "/dev/shm or /tmp");
    exit(1);
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_format [--runs N] [--image PATH] [--dir FOLDER]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int runs = 11;
    const char *image_path = NULL, *dir_arg = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 100000) usage();
            runs = (int)v;
        } else if (!strcmp(argv[i], "--image") && i + 1 < argc) {
            image_path = argv[++i];
        } else if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
            dir_arg = argv[++i];
        } else {
            usage();
        }
    }
    if (!image_path) {
        static const char *cands[] = {"tests/data/comfyui.png", "../tests/data/comfyui.png"};
        for (size_t i = 0; i < 2 && !image_path; i++)
            if (!access(cands[i], R_OK)) image_path = cands[i];
        if (!image_path) {
            fprintf(stderr, "bench_format: tests/data/comfyui.png not found; run from the source folder or pass --image PATH\n");
            return 2;
        }
    }
    check_conversions();

    size_t image_size = 0;
    unsigned char *image = read_whole(image_path, &image_size);
    if (!image) {
        fprintf(stderr, "bench_format: %s: %s\n", image_path, strerror(errno));
        return 1;
    }
    rf_image_desc desc;
    rf_err e = {0};
    if (rf_image_validate(image, image_size, &desc, &e)) {
        fprintf(stderr, "bench_format: %s: %s\n", image_path, e.msg);
        return 1;
    }

    float *latent = xmalloc(LAT_N * sizeof(float));
    float *latent_out = xmalloc(LAT_N * sizeof(float));
    gaussian_f32(latent, LAT_N, 20240501);

    char dirbuf[256], path[320];
    const char *fs = "";
    const char *dir = make_tmpdir(dir_arg, dirbuf, sizeof dirbuf, &fs);
    snprintf(path, sizeof path, "%s/bench.raiiaf", dir);

    char cpu[256];
    cpu_model(cpu, sizeof cpu);
    printf("bench_format: libraiiaf %s, format %d.%d\n", raiiaf_version_string(), RAIIAF_FORMAT_MAJOR, RAIIAF_FORMAT_MINOR);
    printf("machine: %s, %ld logical cores online\n", cpu, sysconf(_SC_NPROCESSORS_ONLN));
    printf("compiler: %s%s\n", __VERSION__,
#ifdef __OPTIMIZE__
           ", optimised"
#else
           ", NOT OPTIMISED (configure with -DCMAKE_BUILD_TYPE=Release)"
#endif
    );
    printf("zstd %s, tensors coded at level %d (writer default); SHA-256 via OpenSSL libcrypto\n",
           ZSTD_versionString(), BENCH_TENSOR_ZSTD_LEVEL);
    printf("scratch folder: %s (%s)\n", dir, fs);
    printf("runs: %d, median reported; one warm-up run not counted\n\n", runs);

    bench_ctx b = {image, image_size, latent, latent_out, path};
    op_create(&b); /* the file the read operations open */

    size_t payload = image_size + LAT_N * sizeof(float);
    {
        raiiaf_reader *r = open_or_die(path, 0);
        raiiaf_tensor_info ti;
        int rc = raiiaf_reader_tensor_info(r, 0, &ti);
        if (rc) die("info", rc, raiiaf_reader_errmsg(r));
        printf("file: %s %ux%u, %zu bytes + latent float32 (1,%d,%d,%d) N(0,1), %zu bytes raw -> %s %llu bytes\n",
               desc.format, desc.width, desc.height, image_size, LAT_C, LAT_H, LAT_W, LAT_N * sizeof(float),
               raiiaf_codec_name(ti.codec), (unsigned long long)ti.stored_size);
        printf("      file size %llu bytes; SHA-256 baseline covers the %zu payload bytes (image + raw latent)\n\n",
               (unsigned long long)raiiaf_reader_file_size(r), payload);
        raiiaf_reader_free(r);
    }

    static const op ops[] = {
        {"sha256", "SHA-256 of image + latent bytes (baseline)", op_sha256},
        {"create", "new + add_image + add_tensor(auto) + 4 fields + finish", op_create},
        {"open", "open_file + free (header, footer, manifest)", op_open},
        {"read", "open + image + read_tensor (CRC-32C + SHA-256)", op_read},
        {"read --no-digest", "the same with RAIIAF_READ_NO_DIGEST (CRC-32C only)", op_read_nodigest},
        {"verify", "open + raiiaf_reader_verify (everything)", op_verify},
        {"crc32c", "CRC-32C of image + latent bytes", op_crc32c},
        {"png validate", "rf_image_validate: PNG check (CRCs, libspng chunk rules, libdeflate inflate)", op_png_validate},
        {"zstd encode", "byte planes + zstd of the latent (level 1)", op_zstd_encode},
        {"create no image", "create without add_image (latent + fields + finish)", NULL},
    };
    enum { NOPS = sizeof ops / sizeof ops[0], NMAIN = 6 };
    double *t[NOPS];
    for (int k = 0; k < NOPS; k++) t[k] = xmalloc((size_t)runs * sizeof(double));
    for (int run = -1; run < runs; run++)
        for (int k = 0; k < NOPS; k++) {
            double t0 = now_s(), dt;
            if (ops[k].fn) {
                ops[k].fn(&b);
                dt = now_s() - t0;
            } else { /* create no image: time only the first half */
                create_file(&b, 0);
                dt = now_s() - t0;
                create_file(&b, 1);
            }
            if (run >= 0) t[k][run] = dt;
        }
    double med[NOPS];
    for (int k = 0; k < NOPS; k++) med[k] = median(t[k], runs);
    double base = med[0];

    printf("%-18s %10s %10s  %s\n", "operation", "median ms", "x sha256", "what");
    for (int k = 0; k < NOPS; k++) {
        if (k == NMAIN) printf("components and variants (same run):\n");
        printf("%-18s %10.3f %10.2f  %s\n", ops[k].name, med[k] * 1e3, med[k] / base, ops[k].what);
    }
    printf("sha256 throughput: %.2f GB/s\n\n", (double)payload / base * 1e-9);

    image_section(&b, dir, runs);

    /* ---- stored size / raw ---------------------------------------------- */
    float *smooth = xmalloc(LAT_N * sizeof(float));
    float *vsmooth = xmalloc(LAT_N * sizeof(float));
    uint16_t *f16 = xmalloc(LAT_N * 2), *bf16 = xmalloc(LAT_N * 2);
    uint16_t *sf16 = xmalloc(LAT_N * 2), *sbf16 = xmalloc(LAT_N * 2);
    smooth_blur(smooth, 7);
    smooth_cumsum(vsmooth, 11);
    for (size_t i = 0; i < LAT_N; i++) {
        f16[i] = f32_to_f16(latent[i]);
        bf16[i] = f32_to_bf16(latent[i]);
        sf16[i] = f32_to_f16(smooth[i]);
        sbf16[i] = f32_to_bf16(smooth[i]);
    }
    struct {
        const char *name;
        raiiaf_dtype dtype;
        const void *data;
        size_t size;
    } rows[] = {
        {"f32 noise", RAIIAF_F32, latent, LAT_N * 4},
        {"f16 noise", RAIIAF_F16, f16, LAT_N * 2},
        {"bf16 noise", RAIIAF_BF16, bf16, LAT_N * 2},
        {"f32 smooth", RAIIAF_F32, smooth, LAT_N * 4},
        {"f16 smooth", RAIIAF_F16, sf16, LAT_N * 2},
        {"bf16 smooth", RAIIAF_BF16, sbf16, LAT_N * 2},
        {"f32 very smooth", RAIIAF_F32, vsmooth, LAT_N * 4},
    };
    printf("stored size / raw size, tensor (1,%d,%d,%d), lossless (every row round-trips bit for bit)\n", LAT_C, LAT_H, LAT_W);
    printf("%-16s %9s %8s %8s %8s %10s %10s  %s\n", "tensor", "raw bytes", "auto", "zstd", "zfp", "flat zstd", "plane H0", "auto chose");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        raiiaf_codec ca, cz, cf;
        double ra = (double)stored_size(path, rows[i].dtype, rows[i].data, rows[i].size, RAIIAF_CODEC_AUTO, &ca) / (double)rows[i].size;
        double rz = (double)stored_size(path, rows[i].dtype, rows[i].data, rows[i].size, RAIIAF_CODEC_ZSTD, &cz) / (double)rows[i].size;
        char zfp[16] = "-";
        if (rows[i].dtype == RAIIAF_F32)
            snprintf(zfp, sizeof zfp, "%.4f",
                     (double)stored_size(path, rows[i].dtype, rows[i].data, rows[i].size, RAIIAF_CODEC_ZFP, &cf) / (double)rows[i].size);
        double h = plane_entropy_ratio(rows[i].data, rows[i].size, (unsigned)raiiaf_dtype_size(rows[i].dtype));
        printf("%-16s %9zu %8.4f %8.4f %8s %10.4f %10.4f  %s\n", rows[i].name, rows[i].size, ra, rz, zfp,
               flat_zstd_ratio(rows[i].data, rows[i].size), h, raiiaf_codec_name(ca));
    }
    printf("auto = the writer's choice (zstd byte planes, or raw if that is not smaller); zstd = byte planes, level %d;\n"
           "zfp = reversible mode; flat zstd = zstd level %d on the interleaved bytes, no plane split (not a codec\n"
           "the format offers; payload only, no file overhead); plane H0 = order-0 entropy of the byte planes / raw\n"
           "(the limit for coding each plane as independent bytes; ~ the true limit for noise, not for smooth data)\n\n",
           BENCH_TENSOR_ZSTD_LEVEL, BENCH_TENSOR_ZSTD_LEVEL);

    /* ---- zstd byte-plane throughput ---------------------------------------- */
    size_t big_n = (16u << 20) / 4;
    float *big = xmalloc(big_n * 4), *big_out = xmalloc(big_n * 4);
    gaussian_f32(big, big_n, 99);
    double *te = xmalloc((size_t)runs * sizeof(double)), *td = xmalloc((size_t)runs * sizeof(double));
    size_t enc_size = 0;
    for (int run = -1; run < runs; run++) {
        unsigned char *enc = NULL;
        rf_err ee = {0};
        double t0 = now_s();
        int rc = rf_planes_encode(big, big_n * 4, 4, BENCH_TENSOR_ZSTD_LEVEL, &enc, &enc_size, &ee);
        double t1 = now_s();
        if (rc) die("zstd encode 16 MiB", rc, ee.msg);
        rc = rf_planes_decode(enc, enc_size, big_out, big_n * 4, 4, "bench", &ee);
        double t2 = now_s();
        if (rc) die("zstd decode 16 MiB", rc, ee.msg);
        if (run == -1 && memcmp(big, big_out, big_n * 4)) die("zstd 16 MiB round trip", RAIIAF_E_CORRUPT, "differs");
        free(enc);
        if (run >= 0) {
            te[run] = t1 - t0;
            td[run] = t2 - t1;
        }
    }
    double me = median(te, runs), md = median(td, runs);
    printf("zstd byte planes, f32 N(0,1) noise, 16 MiB, level %d: encode %.3f GB/s (%.2f ms), decode %.3f GB/s (%.2f ms) of raw bytes; stored/raw %.4f\n",
           BENCH_TENSOR_ZSTD_LEVEL, (double)(big_n * 4) / me * 1e-9, me * 1e3, (double)(big_n * 4) / md * 1e-9, md * 1e3,
           (double)enc_size / (double)(big_n * 4));

    unlink(path);
    rmdir(dir);
    for (int k = 0; k < NOPS; k++) free(t[k]);
    free(te);
    free(td);
    free(big);
    free(big_out);
    free(smooth);
    free(vsmooth);
    free(f16);
    free(bf16);
    free(sf16);
    free(sbf16);
    free(latent);
    free(latent_out);
    free(image);
    return 0;
}
