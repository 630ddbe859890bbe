/* cmd_create.c -- `raiiaf create`: image + latents + generation record -> file. */
#include "cli.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: raiiaf create -o OUT.raiiaf [--image IMAGE] [--latent NAME=FILE.npy[:CODEC]]...\n"
    "                     [--model NAME] [--model-version V] [--prompt TEXT] [--negative-prompt TEXT]\n"
    "                     [--tag TAG]... [--seed N] [--steps N] [--sampler S] [--cfg-scale X]\n"
    "                     [--scheduler S] [--meta EXTRA.json] [--codec auto|raw|zstd|zfp]\n"
    "                     [--tolerance X] [--format 1|2] [--noise-seed [NAME=]S]... [--no-recipe]\n"
    "                     [--delta NAME=REF]... [--delta-chain] [-v|-q]\n"
    "\n"
    "Writes a RAIIAF format 2 file atomically: OUT is replaced whole or not at all.\n"
    "  -o, --output OUT     the file to write\n"
    "  --image IMAGE        a PNG, JPEG or WebP; stored byte for byte after validation\n"
    "  --latent NAME=FILE   a tensor from a .npy file (little-endian, C order) or a\n"
    "                       .safetensors file (FILE.safetensors:TENSOR when it holds several); repeatable.\n"
    "                       A suffix :raw, :zstd, :zfp or :auto picks its codec\n"
    "  --model, --model-version, --prompt, --negative-prompt, --tag (repeatable)\n"
    "                       the generation record (model_info)\n"
    "  --seed, --steps, --sampler, --cfg-scale, --scheduler\n"
    "                       generation settings (model_info/generation_settings)\n"
    "  --meta EXTRA.json    further manifest fields, merged in; the result must satisfy\n"
    "                       the metadata schema\n"
    "  --codec C            default codec for latents (auto: smallest lossless, never\n"
    "                       larger than raw; zstd: byte-plane zstd; zfp: reversible zfp)\n"
    "  --tolerance X        lossy zfp with absolute error at most X (float32/float64 only)\n"
    "  --format 1|2         2 (default), or 1: the original Python package's layout, for\n"
    "                       tools that read only that.  Format 1 holds 4-D float32/float16\n"
    "                       latents (float32 zfp-compressed unless --codec raw) and needs\n"
    "                       --model, --model-version, --prompt and at least one --tag\n"
    "  --env ID=KEY=VALUE;KEY=VALUE\n"
    "                       add a component to the environment record (python, torch,\n"
    "                       diffusers, the model's hash, ...); repeatable.  --env FILE.json\n"
    "                       adds {\"components\": [{\"id\": ..., \"canonical\": ...}]}\n"
    "  --noise-seed [NAME=]S\n"
    "                       tensor NAME (default initial_noise) should be\n"
    "                       torch.randn(shape, generator=torch.Generator().manual_seed(S)) on the\n"
    "                       CPU: it is regenerated and compared bit for bit, and on an exact\n"
    "                       match stored as a 32-byte seed recipe (format 2.1) instead of its\n"
    "                       values; otherwise its values are stored.  Without this option the\n"
    "                       generation seed (--seed, or generation_settings/seed in --meta) is\n"
    "                       tried on initial_noise.  Repeatable\n"
    "  --no-recipe          always store values (files readable by format 2.0 readers)\n"
    "  --delta NAME=REF     store latent NAME as the XOR of its bits with the earlier latent\n"
    "                       REF (same dtype and shape), when that is smaller (format 2.1);\n"
    "                       repeatable\n"
    "  --delta-chain        the same for every latent with the one before it: for a\n"
    "                       denoising trajectory given step by step\n"
    "  -v, --verbose        say how each tensor was stored, and why not as a recipe\n"
    "  --no-env             store no environment record at all\n"
    "  --env-include hostname\n"
    "                       also record the host name (never recorded unless asked)\n"
    "  -q, --quiet          print nothing on success\n";

typedef struct {
    const char *name, *path;
    raiiaf_codec codec;
    int has_codec;
    int has_seed; /* 1: --noise-seed, 2: the generation seed, tried quietly */
    uint64_t seed;
    char *ref;    /* --delta NAME=REF: store relative to latent REF */
} latent_arg;

/* Index of the latent named by the len bytes at name, or n. */
static int find_latent(const latent_arg *latents, int n, const char *name, size_t len)
{
    int k = 0;
    while (k < n && (strlen(latents[k].name) != len || memcmp(latents[k].name, name, len))) k++;
    return k;
}

static int same_layout(const raiiaf_array *a, const raiiaf_array *b)
{
    return a->dtype == b->dtype && a->rank == b->rank && !memcmp(a->shape, b->shape, a->rank * sizeof a->shape[0]);
}

/* --delta NAME=REF: latent NAME is stored as its XOR with the earlier latent REF. */
static int apply_delta(const char *arg, latent_arg *latents, int n)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !eq[1]) {
        cli_err("--delta expects NAME=REF (two --latent names), got '%s'", arg);
        return -1;
    }
    int k = find_latent(latents, n, arg, (size_t)(eq - arg));
    if (k == n || find_latent(latents, k, eq + 1, strlen(eq + 1)) == k) {
        cli_err("--delta %s: NAME must be a --latent and REF a --latent given before it", arg);
        return -1;
    }
    free(latents[k].ref);
    latents[k].ref = strdup(eq + 1);
    return latents[k].ref ? 0 : -1;
}

/* --noise-seed [NAME=]S: gives latent NAME (default initial_noise) its seed. */
static int apply_noise_seed(const char *arg, latent_arg *latents, int n)
{
    const char *eq = strchr(arg, '='), *num = eq ? eq + 1 : arg;
    size_t nlen = eq ? (size_t)(eq - arg) : strlen("initial_noise");
    const char *name = eq ? arg : "initial_noise";
    unsigned long long v;
    if (cli_parse_u64(num, &v)) {
        cli_err("--noise-seed: expected [NAME=]SEED with SEED in 0..2^64-1, got '%s'", arg);
        return -1;
    }
    int k = find_latent(latents, n, name, nlen);
    if (k < n) {
        latents[k].has_seed = 1;
        latents[k].seed = v;
        return 0;
    }
    cli_err("--noise-seed %s: no --latent named '%.*s' (use --noise-seed NAME=SEED)", arg, (int)nlen, name);
    return -1;
}

/* The generation seed from --seed or the --meta file, if any. */
static int generation_seed(const char *seed_opt, const char *meta_src, uint64_t *seed)
{
    unsigned long long v;
    if (seed_opt) {
        if (cli_parse_u64(seed_opt, &v)) return 0;
        *seed = v;
        return 1;
    }
    if (!meta_src) return 0;
    json_t *j = json_loads(meta_src, 0, NULL);
    json_t *s = json_object_get(json_object_get(json_object_get(json_object_get(j, "raiiaf_metadata"), "model_info"),
                                                "generation_settings"), "seed");
    int ok = json_is_integer(s) && json_integer_value(s) >= 0;
    if (ok) *seed = (uint64_t)json_integer_value(s);
    json_decref(j);
    return ok;
}

/* NAME=FILE[:CODEC]; the codec suffix is only taken when it names a codec,
 * so paths containing ':' still work. */
static int parse_latent(const char *arg, latent_arg *out)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !eq[1]) {
        cli_err("--latent expects NAME=FILE.npy[:CODEC], got '%s'", arg);
        return -1;
    }
    char *name = strndup(arg, (size_t)(eq - arg));
    char *path = strdup(eq + 1);
    if (!name || !path) {
        free(name);
        free(path);
        return -1;
    }
    out->name = name;
    out->path = path;
    out->has_codec = 0;
    char *colon = strrchr(path, ':');
    if (colon && raiiaf_codec_from_name(colon + 1, &out->codec) == RAIIAF_OK) {
        *colon = '\0';
        out->has_codec = 1;
    }
    return 0;
}

typedef struct {
    const char *pointer, *option;
    int kind; /* 0 string, 1 non-negative integer, 2 integer >= 1 (checked by schema), 3 number */
} field_opt;

static const field_opt fields[] = {
    {"/raiiaf_metadata/model_info/model_name", "--model", 0},
    {"/raiiaf_metadata/model_info/version", "--model-version", 0},
    {"/raiiaf_metadata/model_info/prompt", "--prompt", 0},
    {"/raiiaf_metadata/model_info/negative_prompt", "--negative-prompt", 0},
    {"/raiiaf_metadata/model_info/generation_settings/seed", "--seed", 1},
    {"/raiiaf_metadata/model_info/generation_settings/steps", "--steps", 1},
    {"/raiiaf_metadata/model_info/generation_settings/sampler", "--sampler", 0},
    {"/raiiaf_metadata/model_info/generation_settings/cfg_scale", "--cfg-scale", 3},
    {"/raiiaf_metadata/model_info/generation_settings/scheduler", "--scheduler", 0},
};
#define NFIELDS (sizeof fields / sizeof fields[0])
#define SEED_FIELD 4 /* fields[4] is --seed: the generation seed tried on initial_noise */

static int set_field(raiiaf_writer *w, const field_opt *f, const char *value)
{
    char num[64];
    if (f->kind == 0) return raiiaf_writer_set_string(w, f->pointer, value);
    if (f->kind == 1) {
        unsigned long long v;
        if (cli_parse_u64(value, &v) || v > INT64_MAX) {
            cli_err("%s: expected a non-negative integer, got '%s'", f->option, value);
            return -1;
        }
        snprintf(num, sizeof num, "%llu", v);
    } else {
        double d;
        if (cli_parse_double(value, &d)) {
            cli_err("%s: expected a number, got '%s'", f->option, value);
            return -1;
        }
        snprintf(num, sizeof num, "%.17g", d);
    }
    return raiiaf_writer_set_json(w, f->pointer, num);
}

int cmd_create(int argc, char **argv)
{
    const char *out = NULL, *image = NULL, *meta = NULL, *values[NFIELDS] = {0};
    raiiaf_codec codec = RAIIAF_CODEC_AUTO;
    double tolerance = 0;
    int quiet = 0, verbose = 0, no_recipe = 0, status = EXIT_USAGE, ntags = 0, nlatents = 0, format = 2, nseeds = 0,
        nrecipes = 0, ndeltas = 0, delta_chain = 0, nrelative = 0;
    const char **tags = calloc((size_t)argc, sizeof *tags), **noise_seeds = calloc((size_t)argc, sizeof *noise_seeds),
               **deltas = calloc((size_t)argc, sizeof *deltas);
    raiiaf_array prev = {0};
    char *meta_src = NULL;
    latent_arg *latents = calloc((size_t)argc, sizeof *latents);
    raiiaf_writer *w = NULL;
    cli_env_opts envo = {0};
    char err[1024];
    if (!tags || !latents || !noise_seeds || !deltas) {
        cli_err("out of memory");
        status = EXIT_SYSTEM;
        goto done;
    }
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r;
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            status = EXIT_OK;
            goto done;
        }
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
            continue;
        }
        if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = 1;
            continue;
        }
        if (!strcmp(a, "--no-recipe")) {
            no_recipe = 1;
            continue;
        }
        if (!strcmp(a, "--delta-chain")) {
            delta_chain = 1;
            continue;
        }
        if ((r = cli_opt(argc, argv, &i, "--delta", &v))) {
            if (r < 0) goto done;
            deltas[ndeltas++] = v;
            continue;
        }
        if ((r = cli_opt(argc, argv, &i, "--noise-seed", &v))) {
            if (r < 0) goto done;
            noise_seeds[nseeds++] = v;
            continue;
        }
        if ((r = cli_opt(argc, argv, &i, "-o", &v)) || (r = cli_opt(argc, argv, &i, "--output", &v))) {
            if (r < 0) goto done;
            out = v;
            continue;
        }
        if ((r = cli_env_create_opt(argc, argv, &i, &envo))) { /* --env, --no-env, --env-include */
            if (r < 0) goto done;
            continue;
        }
        if ((r = cli_opt(argc, argv, &i, "--image", &v))) {
            if (r < 0) goto done;
            image = v;
            continue;
        }
        if ((r = cli_opt(argc, argv, &i, "--meta", &v))) {
            if (r < 0) goto done;
            meta = v;
            continue;
        }
        if ((r = cli_opt(argc, argv, &i, "--tag", &v))) {
            if (r < 0) goto done;
            tags[ntags++] = v;
            continue;
        }
        if ((r = cli_opt(argc, argv, &i, "--latent", &v))) {
            if (r < 0 || parse_latent(v, &latents[nlatents]) < 0) goto done;
            nlatents++;
            continue;
        }
        if ((r = cli_opt(argc, argv, &i, "--codec", &v))) {
            if (r < 0) goto done;
            if (raiiaf_codec_from_name(v, &codec)) {
                cli_err("--codec: unknown codec '%s' (auto, raw, zstd, zfp)", v);
                goto done;
            }
            continue;
        }
        if ((r = cli_opt(argc, argv, &i, "--format", &v))) {
            if (r < 0) goto done;
            if (strcmp(v, "1") && strcmp(v, "2")) {
                cli_err("--format: expected 1 or 2, got '%s'", v);
                goto done;
            }
            format = v[0] - '0';
            continue;
        }
        if ((r = cli_opt(argc, argv, &i, "--tolerance", &v))) {
            if (r < 0) goto done;
            if (cli_parse_double(v, &tolerance) || tolerance <= 0) {
                cli_err("--tolerance: expected a number > 0, got '%s'", v);
                goto done;
            }
            continue;
        }
        size_t k;
        for (k = 0; k < NFIELDS; k++)
            if ((r = cli_opt(argc, argv, &i, fields[k].option, &v))) break;
        if (k < NFIELDS) {
            if (r < 0) goto done;
            values[k] = v;
            continue;
        }
        cli_err("create: unknown argument '%s' (see raiiaf create --help)", a);
        goto done;
    }
    if (!out) {
        cli_err("create: no output file (-o OUT.raiiaf)");
        goto done;
    }
    if (!image && !nlatents) {
        cli_err("create: nothing to store: give --image and/or --latent");
        goto done;
    }
    if (no_recipe && nseeds) {
        cli_err("create: --noise-seed and --no-recipe contradict each other");
        goto done;
    }
    for (int k = 0; k < nseeds; k++)
        if (apply_noise_seed(noise_seeds[k], latents, nlatents) < 0) goto done;
    for (int k = 0; k < ndeltas; k++)
        if (apply_delta(deltas[k], latents, nlatents) < 0) goto done;
    if ((ndeltas || delta_chain) && tolerance > 0) {
        cli_err("create: --delta stores bits exactly and cannot be combined with --tolerance");
        goto done;
    }

    int rc = raiiaf_writer_new(out, &w);
    if (rc) {
        cli_err("%s", w ? raiiaf_writer_errmsg(w) : "out of memory");
        status = cli_exit_for_output(rc);
        goto done;
    }
    if (format == 1 && (rc = raiiaf_writer_set_format(w, 1))) {
        cli_err("%s", raiiaf_writer_errmsg(w));
        status = cli_exit_for_output(rc);
        goto done;
    }
    if ((status = cli_env_apply(w, &envo)) != EXIT_OK) goto done;
    /* Metadata first: a bad value fails before any large payload is read. */
    status = EXIT_INPUT;
    if (meta) {
        unsigned char *text;
        size_t n;
        if ((rc = cli_read_file(meta, &text, &n, err, sizeof err))) {
            cli_err("%s", err);
            status = cli_exit_for_input(rc);
            goto done;
        }
        rc = raiiaf_writer_merge_json(w, (const char *)text);
        meta_src = (char *)text;
        if (rc) {
            cli_err("%s: %s", meta, raiiaf_writer_errmsg(w));
            goto done;
        }
    }
    for (size_t k = 0; k < NFIELDS; k++) {
        if (!values[k]) continue;
        int r = set_field(w, &fields[k], values[k]);
        if (r < 0) {
            status = EXIT_USAGE;
            goto done;
        }
        if (r) {
            cli_err("%s: %s", fields[k].option, raiiaf_writer_errmsg(w));
            goto done;
        }
    }
    if (ntags) {
        /* Tags are escaped here by hand: the API sets whole JSON values. */
        size_t len = 3;
        for (int t = 0; t < ntags; t++) len += strlen(tags[t]) * 6 + 4;
        char *arr = malloc(len);
        if (!arr) {
            cli_err("out of memory");
            status = EXIT_SYSTEM;
            goto done;
        }
        size_t p = 0;
        arr[p++] = '[';
        for (int t = 0; t < ntags; t++) {
            if (t) arr[p++] = ',';
            arr[p++] = '"';
            for (const unsigned char *s = (const unsigned char *)tags[t]; *s; s++) {
                if (*s == '"' || *s == '\\') {
                    arr[p++] = '\\';
                    arr[p++] = (char)*s;
                } else if (*s < 0x20) {
                    p += (size_t)snprintf(arr + p, 7, "\\u%04x", *s);
                } else {
                    arr[p++] = (char)*s;
                }
            }
            arr[p++] = '"';
        }
        arr[p++] = ']';
        arr[p] = '\0';
        rc = raiiaf_writer_set_json(w, "/raiiaf_metadata/model_info/tags", arr);
        free(arr);
        if (rc) {
            cli_err("--tag: %s", raiiaf_writer_errmsg(w));
            goto done;
        }
    }
    if (image) {
        unsigned char *data;
        size_t n;
        if ((rc = cli_read_file(image, &data, &n, err, sizeof err))) {
            cli_err("%s", err);
            status = cli_exit_for_input(rc);
            goto done;
        }
        rc = raiiaf_writer_add_image(w, data, n);
        free(data);
        if (rc) {
            cli_err("%s: %s", image, raiiaf_writer_errmsg(w));
            status = cli_exit_for_output(rc);
            goto done;
        }
    }
    uint64_t gen_seed;
    if (!no_recipe && !nseeds && generation_seed(values[SEED_FIELD], meta_src, &gen_seed))
        for (int k = 0; k < nlatents; k++)
            if (!strcmp(latents[k].name, "initial_noise")) {
                latents[k].has_seed = 2;
                latents[k].seed = gen_seed;
            }
    for (int k = 0; k < nlatents; k++) {
        raiiaf_array a = {0};
        if ((rc = raiiaf_tensor_file_read(latents[k].path, &a, err, sizeof err))) { /* .npy or .safetensors[:TENSOR] */
            cli_err("--latent %s: %s", latents[k].name, err);
            status = cli_exit_for_input(rc);
            goto done;
        }
        raiiaf_codec lc = latents[k].has_codec ? latents[k].codec : codec;
        int as_recipe = 0;
        /* A recipe is lossless by construction: not tried when a lossy
         * tolerance was asked for, nor in format 1. */
        if (latents[k].has_seed && tolerance == 0 && format == 2) {
            rc = raiiaf_writer_add_noise_tensor(w, latents[k].name, a.dtype, a.rank, a.shape, a.data, a.size, latents[k].seed, lc,
                                                &as_recipe);
            if (!rc && as_recipe) {
                nrecipes++;
                if (verbose)
                    printf("%s: stored as a seed recipe (torch.randn, seed %llu): %zu bytes -> 32\n", latents[k].name,
                           (unsigned long long)latents[k].seed, a.size);
            } else if (!rc && (verbose || latents[k].has_seed == 1)) {
                /* Asked for explicitly, a miss is worth a word even without -v. */
                fprintf(verbose ? stdout : stderr, "%s%s\n", verbose ? "" : "raiiaf: note: ", raiiaf_writer_errmsg(w));
            }
        } else if (latents[k].ref || (delta_chain && k > 0 && same_layout(&prev, &a))) {
            const char *ref = latents[k].ref ? latents[k].ref : latents[k - 1].name;
            raiiaf_array other = {0};
            const raiiaf_array *rd = &prev;
            if (strcmp(ref, latents[k - 1].name)) { /* not the one just stored: read it again */
                int j = find_latent(latents, k, ref, strlen(ref)); /* apply_delta proved it is earlier */
                if ((rc = raiiaf_tensor_file_read(latents[j].path, &other, err, sizeof err))) {
                    cli_err("--latent %s: %s", ref, err);
                    raiiaf_array_free(&a);
                    status = cli_exit_for_input(rc);
                    goto done;
                }
                rd = &other;
            }
            int as_rel = 0;
            if (!same_layout(rd, &a)) {
                cli_err("--delta %s=%s: the two latents differ in dtype or shape", latents[k].name, ref);
                raiiaf_array_free(&other);
                raiiaf_array_free(&a);
                goto done;
            }
            rc = raiiaf_writer_add_tensor_relative(w, latents[k].name, a.dtype, a.rank, a.shape, a.data, a.size, ref, rd->data, lc,
                                                   &as_rel);
            raiiaf_array_free(&other);
            if (!rc && as_rel) {
                nrelative++;
                if (verbose) printf("%s: stored relative to %s\n", latents[k].name, ref);
            } else if (!rc && verbose) {
                printf("%s\n", raiiaf_writer_errmsg(w));
            }
        } else {
            rc = raiiaf_writer_add_tensor(w, latents[k].name, a.dtype, a.rank, a.shape, a.data, a.size, lc, tolerance);
            if (!rc && verbose) printf("%s: stored as values (codec %s)\n", latents[k].name, raiiaf_codec_name(lc));
        }
        raiiaf_array_free(&prev);
        prev = a;
        if (rc) {
            cli_err("--latent %s=%s: %s", latents[k].name, latents[k].path, raiiaf_writer_errmsg(w));
            status = rc == RAIIAF_E_EXISTS || rc == RAIIAF_E_CODEC || rc == RAIIAF_E_ARG ? EXIT_USAGE : cli_exit_for_output(rc);
            goto done;
        }
    }
    if ((rc = raiiaf_writer_finish(w))) {
        cli_err("%s: %s", out, raiiaf_writer_errmsg(w));
        status = cli_exit_for_output(rc);
        goto done;
    }
    if (!quiet)
        printf("%s: written (%d tensor%s%s%s%s)\n", out, nlatents, nlatents == 1 ? "" : "s",
               nrecipes ? (nrecipes == 1 ? ", 1 as a seed recipe" : ", seed recipes") : "",
               nrelative ? ", relative ones" : "", image ? ", image" : "");
    status = EXIT_OK;
done:
    raiiaf_writer_free(w);
    for (int k = 0; k < nlatents; k++) {
        free(latents[k].ref);
        free((char *)latents[k].name);
        free((char *)latents[k].path);
    }
    free(latents);
    free(tags);
    free(noise_seeds);
    free(deltas);
    raiiaf_array_free(&prev);
    free(meta_src);
    cli_env_opts_free(&envo);
    return status;
}
