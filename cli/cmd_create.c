/* cmd_create.c -- `raiiaf create`: image + latents + generation record -> file. */
#include "cli.h"

#include <jansson.h>
#include "raiiaf_json.h"
#include <stddef.h>
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
    json_t *j = raiiaf_json_loadb(meta_src, strlen(meta_src), 0, NULL);
    json_t *s = json_object_get(json_object_get(json_object_get(json_object_get(j, "raiiaf_metadata"), "model_info"),
                                                "generation_settings"), "seed");
    int ok = raiiaf_json_uint64(s, seed);
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
        if (cli_parse_u64(value, &v)) { /* up to 2^64-1: SPEC 5.1 */
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

/* Everything the command line asked for. */
typedef struct create_opts {
    const char *out, *image, *meta, *values[NFIELDS];
    raiiaf_codec codec;
    double tolerance;
    int quiet, verbose, no_recipe, format, delta_chain;
    int ntags, nlatents, nseeds, ndeltas;
    const char **tags, **noise_seeds, **deltas;
    latent_arg *latents;
    cli_env_opts envo;
} create_opts;

/* Flags without a value; 1 when argv[i] was one. */
static int flag_opt(const char *a, create_opts *o)
{
    static const struct {
        const char *name, *alt;
        size_t off;
    } flags[] = {
        {"-q", "--quiet", offsetof(create_opts, quiet)},
        {"-v", "--verbose", offsetof(create_opts, verbose)},
        {"--no-recipe", NULL, offsetof(create_opts, no_recipe)},
        {"--delta-chain", NULL, offsetof(create_opts, delta_chain)},
    };
    for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++)
        if (!strcmp(a, flags[k].name) || (flags[k].alt && !strcmp(a, flags[k].alt))) {
            *(int *)((char *)o + flags[k].off) = 1;
            return 1;
        }
    return 0;
}

/* Options with a value; 1 when argv[*i] was one (consumed), -1 on a usage
 * error (reported), 0 when it is none of them. */
static int value_opt(int argc, char **argv, int *i, create_opts *o)
{
    const char *v;
    int r;
    if ((r = cli_opt(argc, argv, i, "--delta", &v)) > 0) o->deltas[o->ndeltas++] = v;
    else if (r == 0 && (r = cli_opt(argc, argv, i, "--noise-seed", &v)) > 0) o->noise_seeds[o->nseeds++] = v;
    else if (r == 0 && ((r = cli_opt(argc, argv, i, "-o", &v)) > 0 || (r == 0 && (r = cli_opt(argc, argv, i, "--output", &v)) > 0)))
        o->out = v;
    else if (r == 0 && (r = cli_env_create_opt(argc, argv, i, &o->envo)) > 0) { /* --env, --no-env, --env-include */
    } else if (r == 0 && (r = cli_opt(argc, argv, i, "--image", &v)) > 0) o->image = v;
    else if (r == 0 && (r = cli_opt(argc, argv, i, "--meta", &v)) > 0) o->meta = v;
    else if (r == 0 && (r = cli_opt(argc, argv, i, "--tag", &v)) > 0) o->tags[o->ntags++] = v;
    else if (r == 0 && (r = cli_opt(argc, argv, i, "--latent", &v)) > 0) {
        if (parse_latent(v, &o->latents[o->nlatents]) < 0) return -1;
        o->nlatents++;
    } else if (r == 0 && (r = cli_opt(argc, argv, i, "--codec", &v)) > 0) {
        if (raiiaf_codec_from_name(v, &o->codec)) {
            cli_err("--codec: unknown codec '%s' (auto, raw, zstd, zfp)", v);
            return -1;
        }
    } else if (r == 0 && (r = cli_opt(argc, argv, i, "--format", &v)) > 0) {
        if (strcmp(v, "1") && strcmp(v, "2")) {
            cli_err("--format: expected 1 or 2, got '%s'", v);
            return -1;
        }
        o->format = v[0] - '0';
    } else if (r == 0 && (r = cli_opt(argc, argv, i, "--tolerance", &v)) > 0) {
        if (cli_parse_double(v, &o->tolerance) || o->tolerance <= 0) {
            cli_err("--tolerance: expected a number > 0, got '%s'", v);
            return -1;
        }
    } else if (r == 0) {
        for (size_t k = 0; k < NFIELDS && r == 0; k++)
            if ((r = cli_opt(argc, argv, i, fields[k].option, &v)) > 0) o->values[k] = v;
    }
    return r;
}

/* Parses and cross-checks the arguments: 0, 1 after --help, -1 on a usage error. */
static int parse_args(int argc, char **argv, create_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 1;
        }
        if (flag_opt(a, o)) continue;
        int r = value_opt(argc, argv, &i, o);
        if (r < 0) return -1;
        if (r == 0) {
            cli_err("create: unknown argument '%s' (see raiiaf create --help)", a);
            return -1;
        }
    }
    const char *why = !o->out                       ? "no output file (-o OUT.raiiaf)"
                      : !o->image && !o->nlatents   ? "nothing to store: give --image and/or --latent"
                      : o->no_recipe && o->nseeds   ? "--noise-seed and --no-recipe contradict each other"
                      : (o->ndeltas || o->delta_chain) && o->tolerance > 0
                          ? "--delta stores bits exactly and cannot be combined with --tolerance"
                          : NULL;
    if (why) {
        cli_err("create: %s", why);
        return -1;
    }
    for (int k = 0; k < o->nseeds; k++)
        if (apply_noise_seed(o->noise_seeds[k], o->latents, o->nlatents) < 0) return -1;
    for (int k = 0; k < o->ndeltas; k++)
        if (apply_delta(o->deltas[k], o->latents, o->nlatents) < 0) return -1;
    return 0;
}

/* --meta, the field options and --tag; an exit status.  *meta_src keeps the
 * --meta text for the generation seed. */
static int write_metadata(raiiaf_writer *w, const create_opts *o, char **meta_src)
{
    char err[1024];
    int rc;
    if (o->meta) {
        unsigned char *text;
        size_t n;
        if ((rc = cli_read_file(o->meta, &text, &n, err, sizeof err))) {
            cli_err("%s", err);
            return cli_exit_for_input(rc);
        }
        *meta_src = (char *)text;
        if ((rc = raiiaf_writer_merge_json(w, (const char *)text))) {
            cli_err("%s: %s", o->meta, raiiaf_writer_errmsg(w));
            return EXIT_INPUT;
        }
    }
    for (size_t k = 0; k < NFIELDS; k++) {
        if (!o->values[k]) continue;
        int r = set_field(w, &fields[k], o->values[k]);
        if (r < 0) return EXIT_USAGE;
        if (r) {
            cli_err("%s: %s", fields[k].option, raiiaf_writer_errmsg(w));
            return EXIT_INPUT;
        }
    }
    for (int t = 0; t < o->ntags; t++)
        if ((rc = raiiaf_writer_add_tag(w, o->tags[t]))) {
            cli_err("--tag: %s", raiiaf_writer_errmsg(w));
            return rc == RAIIAF_E_NOMEM ? EXIT_SYSTEM : EXIT_INPUT;
        }
    return EXIT_OK;
}

static int add_image(raiiaf_writer *w, const char *image)
{
    unsigned char *data;
    size_t n;
    char err[1024];
    int rc = cli_read_file(image, &data, &n, err, sizeof err);
    if (rc) {
        cli_err("%s", err);
        return cli_exit_for_input(rc);
    }
    rc = raiiaf_writer_add_image(w, data, n);
    free(data);
    if (rc) {
        cli_err("%s: %s", image, raiiaf_writer_errmsg(w));
        return cli_exit_for_output(rc);
    }
    return EXIT_OK;
}

/* How the latents were stored, for the summary line. */
typedef struct stored_counts {
    int recipes, relative;
} stored_counts;

/* Latent k tried as a seed recipe. */
static int add_as_noise(raiiaf_writer *w, const create_opts *o, int k, const raiiaf_array *a, raiiaf_codec lc,
                        stored_counts *c)
{
    const latent_arg *l = &o->latents[k];
    int as_recipe = 0;
    int rc = raiiaf_writer_add_noise_tensor(w, l->name, a->dtype, a->rank, a->shape, a->data, a->size, l->seed, lc, &as_recipe);
    if (!rc && as_recipe) {
        c->recipes++;
        if (o->verbose)
            printf("%s: stored as a seed recipe (torch.randn, seed %llu): %zu bytes -> 32\n", l->name,
                   (unsigned long long)l->seed, a->size);
    } else if (!rc && (o->verbose || l->has_seed == 1)) {
        /* Asked for explicitly, a miss is worth a word even without -v. */
        fprintf(o->verbose ? stdout : stderr, "%s%s\n", o->verbose ? "" : "raiiaf: note: ", raiiaf_writer_errmsg(w));
    }
    return rc;
}

/* Latent k stored relative to `ref`; `prev` holds the latent before it. */
static int add_relative(raiiaf_writer *w, const create_opts *o, int k, const char *ref, const raiiaf_array *a,
                        const raiiaf_array *prev, raiiaf_codec lc, stored_counts *c, int *status)
{
    const latent_arg *l = &o->latents[k];
    raiiaf_array other = {0};
    const raiiaf_array *rd = prev;
    char err[1024];
    int rc;
    if (strcmp(ref, o->latents[k - 1].name)) { /* not the one just stored: read it again */
        int j = find_latent(o->latents, k, ref, strlen(ref)); /* apply_delta proved it is earlier */
        if ((rc = raiiaf_tensor_file_read(o->latents[j].path, &other, err, sizeof err))) {
            cli_err("--latent %s: %s", ref, err);
            *status = cli_exit_for_input(rc);
            return rc;
        }
        rd = &other;
    }
    if (!same_layout(rd, a)) {
        cli_err("--delta %s=%s: the two latents differ in dtype or shape", l->name, ref);
        raiiaf_array_free(&other);
        *status = EXIT_USAGE;
        return RAIIAF_E_ARG;
    }
    int as_rel = 0;
    rc = raiiaf_writer_add_tensor_relative(w, l->name, a->dtype, a->rank, a->shape, a->data, a->size, ref, rd->data, lc, &as_rel);
    raiiaf_array_free(&other);
    if (!rc && as_rel) {
        c->relative++;
        if (o->verbose) printf("%s: stored relative to %s\n", l->name, ref);
    } else if (!rc && o->verbose) {
        printf("%s\n", raiiaf_writer_errmsg(w));
    }
    return rc;
}

/* Reads latent k and stores it the way its options ask; *prev becomes it.
 * An exit status. */
static int add_latent(raiiaf_writer *w, const create_opts *o, int k, raiiaf_array *prev, stored_counts *c)
{
    const latent_arg *l = &o->latents[k];
    raiiaf_array a = {0};
    char err[1024];
    int rc = raiiaf_tensor_file_read(l->path, &a, err, sizeof err); /* .npy or .safetensors[:TENSOR] */
    if (rc) {
        cli_err("--latent %s: %s", l->name, err);
        return cli_exit_for_input(rc);
    }
    raiiaf_codec lc = l->has_codec ? l->codec : o->codec;
    int status = 0;
    /* A recipe is lossless by construction: not tried when a lossy
     * tolerance was asked for, nor in format 1. */
    if (l->has_seed && o->tolerance == 0 && o->format == 2) {
        rc = add_as_noise(w, o, k, &a, lc, c);
    } else if (l->ref || (o->delta_chain && k > 0 && same_layout(prev, &a))) {
        rc = add_relative(w, o, k, l->ref ? l->ref : o->latents[k - 1].name, &a, prev, lc, c, &status);
    } else {
        rc = raiiaf_writer_add_tensor(w, l->name, a.dtype, a.rank, a.shape, a.data, a.size, lc, o->tolerance);
        if (!rc && o->verbose) printf("%s: stored as values (codec %s)\n", l->name, raiiaf_codec_name(lc));
    }
    raiiaf_array_free(prev);
    *prev = a;
    if (status) return status; /* reported already */
    if (rc) {
        cli_err("--latent %s=%s: %s", l->name, l->path, raiiaf_writer_errmsg(w));
        return rc == RAIIAF_E_EXISTS || rc == RAIIAF_E_CODEC || rc == RAIIAF_E_ARG ? EXIT_USAGE : cli_exit_for_output(rc);
    }
    return EXIT_OK;
}

int cmd_create(int argc, char **argv)
{
    create_opts o = {.codec = RAIIAF_CODEC_AUTO, .format = 2};
    int status = EXIT_USAGE;
    raiiaf_array prev = {0};
    char *meta_src = NULL;
    raiiaf_writer *w = NULL;
    stored_counts counts = {0};
    o.tags = calloc((size_t)argc, sizeof *o.tags);
    o.noise_seeds = calloc((size_t)argc, sizeof *o.noise_seeds);
    o.deltas = calloc((size_t)argc, sizeof *o.deltas);
    o.latents = calloc((size_t)argc, sizeof *o.latents);
    if (!o.tags || !o.latents || !o.noise_seeds || !o.deltas) {
        cli_err("out of memory");
        status = EXIT_SYSTEM;
        goto done;
    }
    int r = parse_args(argc, argv, &o);
    if (r) {
        status = r > 0 ? EXIT_OK : EXIT_USAGE;
        goto done;
    }
    int rc = raiiaf_writer_new(o.out, &w);
    if (!rc && o.format == 1) rc = raiiaf_writer_set_format(w, 1);
    /* The image's pixels are checked on a second thread while the latents
     * are hashed and coded. */
    if (!rc) rc = raiiaf_writer_set_threads(w, 2);
    if (rc) {
        cli_err("%s", w ? raiiaf_writer_errmsg(w) : "out of memory");
        status = cli_exit_for_output(rc);
        goto done;
    }
    if ((status = cli_env_apply(w, &o.envo)) != EXIT_OK) goto done;
    /* Metadata first: a bad value fails before any large payload is read. */
    if ((status = write_metadata(w, &o, &meta_src)) != EXIT_OK) goto done;
    if (o.image && (status = add_image(w, o.image)) != EXIT_OK) goto done;
    uint64_t gen_seed;
    if (!o.no_recipe && !o.nseeds && generation_seed(o.values[SEED_FIELD], meta_src, &gen_seed))
        for (int k = 0; k < o.nlatents; k++)
            if (!strcmp(o.latents[k].name, "initial_noise")) {
                o.latents[k].has_seed = 2;
                o.latents[k].seed = gen_seed;
            }
    for (int k = 0; k < o.nlatents; k++)
        if ((status = add_latent(w, &o, k, &prev, &counts)) != EXIT_OK) goto done;
    if ((rc = raiiaf_writer_finish(w))) {
        /* An image whose pixels do not decode is reported here (the check
         * ran beside the latents): name the image, as add_image() does. */
        cli_err("%s: %s", rc == RAIIAF_E_IMAGE && o.image ? o.image : o.out, raiiaf_writer_errmsg(w));
        status = cli_exit_for_output(rc);
        goto done;
    }
    if (!o.quiet)
        printf("%s: written (%d tensor%s%s%s%s)\n", o.out, o.nlatents, o.nlatents == 1 ? "" : "s",
               counts.recipes ? (counts.recipes == 1 ? ", 1 as a seed recipe" : ", seed recipes") : "",
               counts.relative ? ", relative ones" : "", o.image ? ", image" : "");
    status = EXIT_OK;
done:
    raiiaf_writer_free(w);
    for (int k = 0; k < o.nlatents; k++) {
        free(o.latents[k].ref);
        free((char *)o.latents[k].name);
        free((char *)o.latents[k].path);
    }
    free(o.latents);
    free(o.tags);
    free(o.noise_seeds);
    free(o.deltas);
    raiiaf_array_free(&prev);
    free(meta_src);
    cli_env_opts_free(&o.envo);
    return status;
}
