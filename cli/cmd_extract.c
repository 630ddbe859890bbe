/* cmd_extract.c -- `raiiaf extract`: image, tensors (.npy) and manifest out. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char usage[] =
    "usage: raiiaf extract FILE [--image OUT] [--latent NAME=OUT.npy]... [--meta OUT.json]\n"
    "                      [--all DIR] [--no-digest] [--version N] [--max-decode BYTES] [-q]\n"
    "\n"
    "Writes what a RAIIAF file holds, each output atomically.  Every payload's CRC-32C\n"
    "and SHA-256 are checked first: nothing is written from damaged data.\n"
    "  --image OUT          the image, byte for byte as stored\n"
    "  --latent NAME=OUT    tensor NAME as a .npy file (bfloat16 is written as '<V2'), or as\n"
    "                       .safetensors when OUT ends so (the generation record in __metadata__)\n"
    "  --meta OUT           the manifest as JSON\n"
    "  --all DIR            everything: image.EXT, NAME.npy per tensor, manifest.json\n"
    "  --no-digest          skip the SHA-256 checks (CRC-32C checks still run)\n"
    "  -q, --quiet          do not warn on stderr when this machine's environment differs\n"
    "                       from the file's record (raiiaf env diff FILE shows how)\n"
    CLI_MAX_DECODE_HELP;

/* Decodes tensor `index` (every check included) and, when `out` is not
 * NULL, writes it as a .npy file; with out NULL it only checks. */
static int write_tensor(raiiaf_reader *r, const char *file, size_t index, const char *out)
{
    raiiaf_tensor_info t;
    char err[1024];
    int rc = raiiaf_reader_tensor_info(r, index, &t);
    if (rc) {
        cli_err("%s: %s", file, raiiaf_reader_errmsg(r));
        return cli_exit_for_input(rc);
    }
    if (t.raw_size > SIZE_MAX) {
        cli_err("%s: tensor \"%s\" is too large for this machine", file, t.name);
        return EXIT_SYSTEM;
    }
    void *buf = malloc(t.raw_size ? (size_t)t.raw_size : 1);
    if (!buf) {
        cli_err("%s: tensor \"%s\": out of memory for %llu bytes", file, t.name, (unsigned long long)t.raw_size);
        return EXIT_SYSTEM;
    }
    rc = raiiaf_reader_read_tensor(r, index, buf, (size_t)t.raw_size);
    if (rc) {
        cli_err("%s: %s", file, raiiaf_reader_errmsg(r));
        free(buf);
        return cli_exit_for_input(rc);
    }
    if (!out) {
        free(buf);
        return EXIT_OK;
    }
    rc = raiiaf_tensor_file_write(r, out, t.name, t.dtype, t.rank, t.shape, buf, (size_t)t.raw_size, err, sizeof err); /* .npy or .safetensors */
    free(buf);
    if (rc) {
        cli_err("%s", err);
        return cli_exit_for_output(rc);
    }
    return EXIT_OK;
}

/* Checks the image and, when `out` is not NULL, writes it. */
static int write_image(raiiaf_reader *r, const char *file, const char *out)
{
    const void *data;
    size_t size;
    char err[1024];
    int rc = raiiaf_reader_image(r, &data, &size, NULL, NULL, NULL);
    if (rc) {
        cli_err("%s: %s", file, raiiaf_reader_errmsg(r));
        return cli_exit_for_input(rc);
    }
    if (!out) return EXIT_OK;
    if ((rc = cli_write_file(out, data, size, err, sizeof err))) {
        cli_err("%s", err);
        return cli_exit_for_output(rc);
    }
    return EXIT_OK;
}

static int write_meta(raiiaf_reader *r, const char *out)
{
    size_t len;
    const char *text = raiiaf_reader_manifest(r, &len);
    char err[1024];
    int rc = cli_write_file(out, text, len, err, sizeof err);
    if (rc) {
        cli_err("%s", err);
        return cli_exit_for_output(rc);
    }
    return EXIT_OK;
}

/* A tensor name made safe as a file name inside DIR: names come from the
 * file, which may be hostile ("../../x"), so only [A-Za-z0-9._-] survive and
 * a leading dot is replaced. */
static char *safe_name(const char *name, size_t index)
{
    size_t n = strlen(name);
    char *s = malloc(n + 32);
    if (!s) return NULL;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                 (c == '.' && i > 0);
        s[i] = ok ? c : '_';
    }
    s[n] = '\0';
    if (strcmp(s, name)) snprintf(s + n, 32, "-%zu", index); /* keep altered names distinct */
    return s;
}

static char *join(const char *dir, const char *name, const char *ext)
{
    size_t n = strlen(dir) + strlen(name) + strlen(ext) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s%s", dir, name, ext);
    return p;
}

static int extract_all(raiiaf_reader *r, const char *file, const char *dir)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        cli_err("%s: cannot create folder: %s", dir, strerror(errno));
        return EXIT_SYSTEM;
    }
    int status = EXIT_OK;
    const char *format;
    if (raiiaf_reader_image(r, NULL, NULL, &format, NULL, NULL) == RAIIAF_OK) {
        char *p = join(dir, "image.", strcmp(format, "jpeg") ? format : "jpg");
        status = p ? write_image(r, file, p) : EXIT_SYSTEM;
        free(p);
    } else if (strstr(raiiaf_reader_errmsg(r), "holds no image") == NULL) {
        cli_err("%s: %s", file, raiiaf_reader_errmsg(r));
        return EXIT_INPUT;
    }
    for (size_t i = 0; i < raiiaf_reader_tensor_count(r) && status == EXIT_OK; i++) {
        raiiaf_tensor_info t;
        raiiaf_reader_tensor_info(r, i, &t);
        char *name = safe_name(t.name, i);
        char *p = name ? join(dir, name, ".npy") : NULL;
        status = p ? write_tensor(r, file, i, p) : EXIT_SYSTEM;
        free(name);
        free(p);
    }
    if (status == EXIT_OK) {
        char *p = join(dir, "manifest", ".json");
        status = p ? write_meta(r, p) : EXIT_SYSTEM;
        free(p);
    }
    return status;
}

int cmd_extract(int argc, char **argv)
{
    const char *file = NULL, *image = NULL, *meta = NULL, *all = NULL;
    unsigned flags = 0;
    uint32_t want_version = 0;
    int nlat = 0, status = EXIT_USAGE, quiet = 0;
    const char **lat = calloc((size_t)argc, sizeof *lat);
    raiiaf_reader *r = NULL;
    cli_decode dl;
    if (!lat) return EXIT_SYSTEM;
    if (cli_decode_init(&dl)) goto done;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int k;
        if ((k = cli_opt_max_decode(argc, argv, &i, &dl))) {
            if (k < 0) goto done;
            continue;
        }
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            status = EXIT_OK;
            goto done;
        }
        if (!strcmp(argv[i], "--no-digest")) {
            flags |= RAIIAF_READ_NO_DIGEST;
            continue;
        }
        if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
            quiet = 1;
            continue;
        }
        if ((k = cli_opt(argc, argv, &i, "--image", &v))) {
            if (k < 0) goto done;
            image = v;
        } else if ((k = cli_opt(argc, argv, &i, "--meta", &v))) {
            if (k < 0) goto done;
            meta = v;
        } else if ((k = cli_opt(argc, argv, &i, "--all", &v))) {
            if (k < 0) goto done;
            all = v;
        } else if ((k = cli_opt(argc, argv, &i, "--version", &v))) { /* an older manifest version */
            unsigned long long vv;
            if (k < 0) goto done;
            if (cli_parse_u64(v, &vv) || vv < 1 || vv > UINT32_MAX) {
                cli_err("--version expects a manifest version (1, 2, ...), got '%s'", v);
                goto done;
            }
            want_version = (uint32_t)vv;
        } else if ((k = cli_opt(argc, argv, &i, "--latent", &v))) {
            if (k < 0) goto done;
            const char *eq = strchr(v, '=');
            if (!eq || eq == v || !eq[1]) {
                cli_err("--latent expects NAME=OUT.npy, got '%s'", v);
                goto done;
            }
            lat[nlat++] = v;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_err("extract: unknown option '%s' (see raiiaf extract --help)", argv[i]);
            goto done;
        } else if (!file) {
            file = argv[i];
        } else {
            cli_err("extract: one input file at a time ('%s' and '%s' given)", file, argv[i]);
            goto done;
        }
    }
    if (!file) {
        cli_err("extract: no input file given");
        goto done;
    }
    if (!image && !meta && !all && !nlat) {
        cli_err("extract: nothing to extract: give --image, --latent, --meta or --all");
        goto done;
    }
    int rc = cli_reader_open(file, flags, want_version, &dl, &r);
    if (rc) {
        cli_err("%s: %s", file, r ? raiiaf_reader_errmsg(r) : "out of memory");
        status = cli_exit_for_input(rc);
        goto done;
    }
    if (!quiet) cli_env_drift_summary(r, file); /* cmd_env.c; stderr */
    /* Resolve every requested name before writing anything. */
    size_t *idx = calloc((size_t)nlat + 1, sizeof *idx);
    if (!idx) {
        status = EXIT_SYSTEM;
        goto done;
    }
    for (int k = 0; k < nlat; k++) {
        char name[512];
        const char *eq = strchr(lat[k], '=');
        snprintf(name, sizeof name, "%.*s", (int)(eq - lat[k]), lat[k]);
        if (raiiaf_reader_find_tensor(r, name, &idx[k])) {
            cli_err("%s: no tensor named \"%s\" (see raiiaf info)", file, name);
            free(idx);
            status = EXIT_INPUT;
            goto done;
        }
    }
    /* Check every payload to be written before writing anything, so that a
     * damaged file leaves no output at all (not just no damaged output). */
    status = EXIT_OK;
    if (image) status = write_image(r, file, NULL);
    if (all && status == EXIT_OK && raiiaf_reader_image(r, NULL, NULL, NULL, NULL, NULL) != RAIIAF_OK &&
        strstr(raiiaf_reader_errmsg(r), "holds no image") == NULL) {
        cli_err("%s: %s", file, raiiaf_reader_errmsg(r));
        status = EXIT_INPUT;
    }
    for (int k = 0; k < nlat && status == EXIT_OK; k++) status = write_tensor(r, file, idx[k], NULL);
    for (size_t i = 0; all && i < raiiaf_reader_tensor_count(r) && status == EXIT_OK; i++)
        status = write_tensor(r, file, i, NULL);
    if (image && status == EXIT_OK) status = write_image(r, file, image);
    for (int k = 0; k < nlat && status == EXIT_OK; k++) status = write_tensor(r, file, idx[k], strchr(lat[k], '=') + 1);
    if (meta && status == EXIT_OK) status = write_meta(r, meta);
    if (all && status == EXIT_OK) status = extract_all(r, file, all);
    free(idx);
done:
    raiiaf_reader_free(r);
    free(lat);
    return status;
}
