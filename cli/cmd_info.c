/* cmd_info.c -- `raiiaf info`: a human summary, or the manifest as JSON. */
#include "cli.h"

#include <jansson.h>
#include "raiiaf_json.h"
#include <string.h>

static const char usage[] =
    "usage: raiiaf info [--json] [-q] [--max-decode BYTES] FILE...\n"
    "\n"
    "Prints what a RAIIAF file holds: model, prompts, generation settings, the image\n"
    "(format, size, bytes) and each tensor (name, dtype, shape, codec, stored/raw bytes).\n"
    "  --json   print the whole manifest as JSON instead\n"
    "  --version N  show manifest version N (raiiaf history lists them)\n"
    "  -q, --quiet  do not warn on stderr when this machine's environment differs from\n"
    "           the one recorded in the file (raiiaf env diff FILE shows how)\n"
    CLI_MAX_DECODE_HELP;

static int quiet; /* -q: no environment drift summary */
static uint32_t want_version; /* --version N: an older manifest (0: newest) */
static const char version_mark[] = "--version";
static cli_decode decode_limit; /* --max-decode / RAIIAF_MAX_DECODE */

static const char *str_at(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void print_value(json_t *v)
{
    if (json_is_string(v) && !raiiaf_json_wide_text(v)) fputs(cli_safe(json_string_value(v)), stdout);
    else {
        char *t = raiiaf_json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        fputs(t ? t : "?", stdout);
        free(t);
    }
}

static void print_settings(json_t *gs)
{
    static const char *const keys[][2] = {{"seed", "seed"}, {"steps", "steps"}, {"sampler", "sampler"},
                                          {"cfg_scale", "cfg"}, {"scheduler", "scheduler"}};
    int first = 1;
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        json_t *v = json_object_get(gs, keys[k][0]);
        if (!v) continue;
        if (first) printf("%-12s", "Settings:");
        printf("%s%s ", first ? " " : ", ", keys[k][1]);
        print_value(v);
        first = 0;
    }
    if (!first) putchar('\n');
}

static void print_shape(const raiiaf_tensor_info *t)
{
    putchar('[');
    for (unsigned i = 0; i < t->rank; i++) printf("%s%llu", i ? ", " : "", (unsigned long long)t->shape[i]);
    putchar(']');
}

static int info_one(const char *path, int json, int many)
{
    raiiaf_reader *r = NULL;
    int rc = cli_reader_open(path, RAIIAF_READ_NO_DIGEST, want_version, &decode_limit, &r);
    if (rc) {
        cli_err("%s: %s", path, r ? raiiaf_reader_errmsg(r) : "out of memory");
        raiiaf_reader_free(r);
        return cli_exit_for_input(rc);
    }
    if (!quiet) cli_env_drift_summary(r, path); /* cmd_env.c; stderr */
    if (raiiaf_reader_trailing_bytes(r))
        cli_err("warning: %s: %llu trailing bytes after the last complete version (interrupted edit?); showing version %u",
                path, (unsigned long long)raiiaf_reader_trailing_bytes(r), raiiaf_reader_latest_version(r));
    size_t len;
    const char *text = raiiaf_reader_manifest(r, &len);
    if (json) {
        fwrite(text, 1, len, stdout);
        putchar('\n');
        raiiaf_reader_free(r);
        return EXIT_OK;
    }
    unsigned fmajor, fminor;
    raiiaf_reader_format(r, &fmajor, &fminor);
    /* already parsed and checked once by the library; format 1's is Python's JSON */
    json_t *m = raiiaf_json_loadb(text, len, fmajor == 1 ? RAIIAF_JSON_PYTHON : 0, NULL);
    json_t *meta = json_object_get(m, "raiiaf_metadata");
    json_t *mi = json_object_get(meta, "model_info");
    unsigned major, minor;
    raiiaf_reader_format(r, &major, &minor);
    if (many) printf("== %s\n", cli_safe(path));
    printf("%-12s %s\n", "File:", cli_safe(path));
    printf("%-12s RAIIAF format %u.%u\n", "Format:", major, minor);
    printf("%-12s %llu bytes\n", "Size:", (unsigned long long)raiiaf_reader_file_size(r));
    cli_trust_info_lines(r); /* "Version:" and "Signature:" (cmd_history.c, cmd_sign.c) */
    const char *model = str_at(mi, "model_name"), *version = str_at(mi, "version");
    if (model || version)
        printf("%-12s %s%s%s\n", "Model:", model ? cli_safe(model) : "", model && version ? " " : "", version ? cli_safe(version) : "");
    static const char *const text_fields[][2] = {{"prompt", "Prompt:"}, {"negative_prompt", "Negative:"}, {"date", "Date:"}};
    for (size_t k = 0; k < 3; k++) {
        const char *s = str_at(mi, text_fields[k][0]);
        size_t n = json_string_length(json_object_get(mi, text_fields[k][0]));
        if (s) printf("%-12s %s\n", text_fields[k][1], cli_safe_lines_n(s, n, 13)); /* a multi-line prompt stays readable */
    }
    json_t *tags = json_object_get(mi, "tags");
    if (json_is_array(tags) && json_array_size(tags)) {
        printf("%-12s", "Tags:");
        size_t i;
        json_t *t;
        json_array_foreach(tags, i, t) {
            printf("%s", i ? ", " : " ");
            print_value(t);
        }
        putchar('\n');
    }
    print_settings(json_object_get(mi, "generation_settings"));
    const char *format = NULL;
    uint32_t w = 0, h = 0;
    size_t isize = 0;
    json_t *img = json_object_get(meta, "image");
    if (img) {
        format = str_at(img, "format");
        w = (uint32_t)json_integer_value(json_object_get(img, "width"));
        h = (uint32_t)json_integer_value(json_object_get(img, "height"));
        isize = (size_t)json_integer_value(json_object_get(img, "size"));
        printf("%-12s %s %ux%u, %zu bytes\n", "Image:", format ? cli_safe(format) : "?", w, h, isize);
    } else if (major == 1 && raiiaf_reader_image(r, NULL, &isize, &format, &w, &h) == RAIIAF_OK) {
        /* format 1 manifests do not describe the image: look at it */
        printf("%-12s %s %ux%u, %zu bytes\n", "Image:", format, w, h, isize);
    } else {
        printf("%-12s none\n", "Image:");
    }
    size_t n = raiiaf_reader_tensor_count(r);
    printf("%-12s %zu\n", "Tensors:", n);
    for (size_t i = 0; i < n; i++) {
        raiiaf_tensor_info t;
        if (raiiaf_reader_tensor_info(r, i, &t)) continue;
        printf("  %s  %s  ", cli_safe(t.name), raiiaf_dtype_name(t.dtype));
        print_shape(&t);
        printf("  %s", raiiaf_codec_name(t.codec));
        if (t.tolerance > 0) printf(" (tolerance %g, max error %g)", t.tolerance, t.max_error);
        if (t.reference) printf(" (relative to %s)", cli_safe(t.reference));
        raiiaf_recipe rp;
        if (t.codec == RAIIAF_CODEC_RECIPE) {
            if (raiiaf_reader_tensor_recipe(r, i, &rp) == RAIIAF_OK)
                printf(" (%s seed %llu, kernel %s)", cli_safe(rp.generator), (unsigned long long)rp.seed, cli_safe(rp.kernel));
            else
                printf(" (%s)", cli_safe(raiiaf_reader_errmsg(r)));
        }
        printf("  %llu/%llu bytes", (unsigned long long)t.stored_size, (unsigned long long)t.raw_size);
        if (t.raw_size) printf(" (%.3f)", (double)t.stored_size / (double)t.raw_size);
        putchar('\n');
    }
    cli_env_info_line(r); /* "Environment: N components, ..." (cmd_env.c) */
    size_t nc = raiiaf_reader_chunk_count(r);
    for (size_t i = 0; i < nc; i++) {
        raiiaf_chunk_info c;
        if (raiiaf_reader_chunk_info(r, i, &c) == RAIIAF_OK && strcmp(c.type, "TENS") && strcmp(c.type, "IMAG") &&
            strcmp(c.type, "ENVR") && major != 1)
            printf("%-12s chunk %u type %s, %llu bytes (kept, not interpreted)\n", "Other:", c.index, c.type,
                   (unsigned long long)c.stored_size);
    }
    json_decref(m);
    raiiaf_reader_free(r);
    return EXIT_OK;
}

int cmd_info(int argc, char **argv)
{
    int json = 0, nfiles = 0, status = EXIT_OK;
    if (cli_decode_init(&decode_limit)) return EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        int first = i, got = cli_opt_max_decode(argc, argv, &i, &decode_limit);
        if (got < 0) return EXIT_USAGE;
        if (got) {
            for (int j = first; j <= i; j++) argv[j] = (char *)version_mark; /* not file names */
            continue;
        }
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--version") || !strncmp(argv[i], "--version=", 10)) {
            const char *v;
            unsigned long long vv;
            int at = i;
            if (cli_opt(argc, argv, &i, "--version", &v) < 0) return EXIT_USAGE;
            if (cli_parse_u64(v, &vv) || vv < 1 || vv > UINT32_MAX) {
                cli_err("--version expects a manifest version (1, 2, ...), got '%s'", v);
                return EXIT_USAGE;
            }
            want_version = (uint32_t)vv;
            for (int k = at; k <= i; k++) argv[k] = (char *)version_mark; /* not file names */
        } else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
            quiet = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_err("info: unknown option '%s' (see raiiaf info --help)", argv[i]);
            return EXIT_USAGE;
        } else {
            nfiles++;
        }
    }
    if (!nfiles) {
        cli_err("info: no file given");
        return EXIT_USAGE;
    }
    int seen = 0;
    for (int i = 1; i < argc; i++) {
        if (argv[i] == version_mark || (argv[i][0] == '-' && argv[i][1])) continue;
        if (seen++ && !json) putchar('\n');
        int s = info_one(argv[i], json, nfiles > 1);
        if (s > status) status = s;
    }
    return status;
}
