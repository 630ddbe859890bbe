/* cmd_noise.c -- `raiiaf noise`: the initial noise of a diffusion run from
 * its seed, bit for bit as torch.randn on the CPU (PyTorch 1.13) makes it. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: raiiaf noise --seed S --shape D0,D1,... [--dtype float32|float16|bfloat16]\n"
    "                    [--kernel avx2-fma|avx2|scalar] -o OUT.npy\n"
    "\n"
    "Writes torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(S))\n"
    "as PyTorch 1.13 computes it on the CPU, bit for bit, as a .npy file.\n"
    "  --seed S       the generator seed (0 .. 2^64-1; mt19937 uses S mod 2^32)\n"
    "  --shape        comma-separated dimensions, e.g. 1,4,64,64\n"
    "  --dtype        float32 (default), float16 or bfloat16 (generated in that type,\n"
    "                 as torch does: not float32 rounded)\n"
    "  --kernel       ATen's float32 kernel: avx2-fma (default; x86-64 CPUs with\n"
    "                 AVX2, e.g. Debian 12's python3-torch), avx2, or scalar\n"
    "  -o, --output   the .npy file to write\n";

static int parse_shape(const char *s, unsigned *rank, uint64_t shape[8])
{
    *rank = 0;
    if (!*s) return 0; /* a scalar: shape () */
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char buf[32];
        unsigned long long v;
        if (!len || len >= sizeof buf || *rank >= 8) return -1;
        memcpy(buf, p, len);
        buf[len] = 0;
        if (cli_parse_u64(buf, &v)) return -1;
        shape[(*rank)++] = v;
        if (!comma) return 0;
        p = comma + 1;
    }
}

int cmd_noise(int argc, char **argv)
{
    const char *seed_s = NULL, *shape_s = NULL, *dtype_s = "float32", *kernel = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int k;
        if ((k = cli_opt(argc, argv, &i, "--seed", &v))) {
            if (k < 0) return EXIT_USAGE;
            seed_s = v;
        } else if ((k = cli_opt(argc, argv, &i, "--shape", &v))) {
            if (k < 0) return EXIT_USAGE;
            shape_s = v;
        } else if ((k = cli_opt(argc, argv, &i, "--dtype", &v))) {
            if (k < 0) return EXIT_USAGE;
            dtype_s = v;
        } else if ((k = cli_opt(argc, argv, &i, "--kernel", &v))) {
            if (k < 0) return EXIT_USAGE;
            kernel = v;
        } else if ((k = cli_opt(argc, argv, &i, "--output", &v)) || (k = cli_opt(argc, argv, &i, "-o", &v))) {
            if (k < 0) return EXIT_USAGE;
            out = v;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return EXIT_OK;
        } else {
            cli_err("noise: unexpected argument '%s' (see raiiaf noise --help)", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (!seed_s || !shape_s || !out) {
        cli_err("noise: --seed, --shape and -o are required (see raiiaf noise --help)");
        return EXIT_USAGE;
    }
    unsigned long long seed;
    if (cli_parse_u64(seed_s, &seed)) {
        cli_err("noise: --seed '%s' is not a whole number from 0 to 2^64-1", seed_s);
        return EXIT_USAGE;
    }
    unsigned rank;
    uint64_t shape[8];
    if (parse_shape(shape_s, &rank, shape)) {
        cli_err("noise: --shape '%s' is not up to 8 comma-separated whole numbers", shape_s);
        return EXIT_USAGE;
    }
    raiiaf_dtype dtype;
    if (!strcmp(dtype_s, "float32") || !strcmp(dtype_s, "f32"))
        dtype = RAIIAF_F32;
    else if (!strcmp(dtype_s, "float16") || !strcmp(dtype_s, "f16"))
        dtype = RAIIAF_F16;
    else if (!strcmp(dtype_s, "bfloat16") || !strcmp(dtype_s, "bf16"))
        dtype = RAIIAF_BF16;
    else {
        cli_err("noise: --dtype '%s': float32, float16 or bfloat16", dtype_s);
        return EXIT_USAGE;
    }
    if (kernel && strcmp(kernel, "avx2-fma") && strcmp(kernel, "avx2") && strcmp(kernel, "scalar")) {
        cli_err("noise: --kernel '%s': avx2-fma, avx2 or scalar", kernel);
        return EXIT_USAGE;
    }
    uint64_t count = 1;
    for (unsigned i = 0; i < rank; i++) {
        if (shape[i] && count > (UINT64_C(1) << 40) / shape[i]) {
            cli_err("noise: shape %s is too large", shape_s);
            return EXIT_USAGE;
        }
        count *= shape[i];
    }
    size_t size = (size_t)count * raiiaf_dtype_size(dtype);
    void *buf = malloc(size ? size : 1);
    if (!buf) {
        cli_err("noise: out of memory for %zu bytes", size);
        return EXIT_SYSTEM;
    }
    int rc = raiiaf_torch_randn(seed, dtype, rank, shape, kernel, buf, size);
    if (rc) {
        free(buf);
        cli_err("noise: %s", raiiaf_strerror(rc));
        return rc == RAIIAF_E_NOMEM ? EXIT_SYSTEM : EXIT_USAGE;
    }
    char err[512];
    rc = raiiaf_npy_write_file(out, dtype, rank, shape, buf, size, err, sizeof err);
    free(buf);
    if (rc) {
        cli_err("noise: %s", err);
        return EXIT_SYSTEM;
    }
    return EXIT_OK;
}
