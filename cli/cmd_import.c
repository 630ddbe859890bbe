/* cmd_import.c -- `raiiaf import`: an image with its generator's metadata
 * (PNG text chunks, EXIF UserComment) -> a RAIIAF file. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: raiiaf import IMAGE -o OUT.raiiaf [--latent NAME=FILE[:CODEC]]... [--tag TAG]...\n"
    "                     [--codec auto|raw|zstd|zfp] [--env] [-q]\n"
    "\n"
    "Reads the generation record an image already carries and writes it, with the image\n"
    "byte for byte, as a RAIIAF file.  Recognised: AUTOMATIC1111 / Forge / SD.Next\n"
    "`parameters`, ComfyUI `prompt` graphs, InvokeAI, NovelAI, SwarmUI, Fooocus and\n"
    "RuinedFooocus (PNG tEXt/zTXt/iTXt), and A1111 or ComfyUI text in the EXIF UserComment\n"
    "of JPEG and WebP.  Prompt, negative prompt, seed, steps, sampler, scheduler, CFG,\n"
    "size, model and hash, LoRAs, clip skip and denoising strength go into model_info;\n"
    "every text record is kept verbatim under extensions/org.raiiaf.import, with the tool,\n"
    "its version and whatever could not be mapped.  A PNG made by `raiiaf export`\n"
    "restores its whole record from the `raiiaf` chunk.\n"
    "Also: Civitai (its JSON in EXIF UserComment, `Civitai resources`), NovelAI in EXIF\n"
    "and its legacy PNG layout, InvokeAI `sd-metadata` / `Dream` / `invokeai_graph`,\n"
    "stealth PNG info hidden in pixels, and C2PA claim generators (recorded only).\n"
    "  -o, --output OUT     the file to write (atomically)\n"
    "  --latent NAME=FILE   a tensor from .npy or .safetensors[:TENSOR]; repeatable\n"
    "  --tag TAG            a tag (repeatable)\n"
    "  --codec C            codec for latents (default auto)\n"
    "  --env                record this machine's environment (off by default: the machine\n"
    "                       importing is usually not the one that generated the image)\n"
    "  -q, --quiet          print nothing on success, no notes\n";

int cmd_import(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    raiiaf_codec codec = RAIIAF_CODEC_AUTO;
    int quiet = 0, env = 0, nlat = 0, ntags = 0, status = EXIT_USAGE;
    const char **lat = calloc((size_t)argc + 1, sizeof *lat);
    const char **tags = calloc((size_t)argc + 1, sizeof *tags);
    raiiaf_import *imp = NULL;
    raiiaf_writer *w = NULL;
    char err[1024];
    if (!lat || !tags) {
        status = EXIT_SYSTEM;
        goto done;
    }
    for (int i = 1; i < argc; i++) {
        const char *v;
        int k;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            status = EXIT_OK;
            goto done;
        }
        if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) quiet = 1;
        else if (!strcmp(argv[i], "--env")) env = 1;
        else if ((k = cli_opt(argc, argv, &i, "-o", &v)) || (k = cli_opt(argc, argv, &i, "--output", &v))) {
            if (k < 0) goto done;
            out = v;
        } else if ((k = cli_opt(argc, argv, &i, "--latent", &v))) {
            if (k < 0) goto done;
            const char *eq = strchr(v, '=');
            if (!eq || eq == v || !eq[1]) {
                cli_err("--latent expects NAME=FILE, got '%s'", v);
                goto done;
            }
            lat[nlat++] = v;
        } else if ((k = cli_opt(argc, argv, &i, "--tag", &v))) {
            if (k < 0) goto done;
            tags[ntags++] = v;
        } else if ((k = cli_opt(argc, argv, &i, "--codec", &v))) {
            if (k < 0) goto done;
            if (raiiaf_codec_from_name(v, &codec)) {
                cli_err("--codec: unknown codec '%s' (auto, raw, zstd, zfp)", v);
                goto done;
            }
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_err("import: unknown option '%s' (see raiiaf import --help)", argv[i]);
            goto done;
        } else if (!in) in = argv[i];
        else {
            cli_err("import: one image at a time ('%s' and '%s' given)", in, argv[i]);
            goto done;
        }
    }
    if (!in || !out) {
        cli_err("import: %s", !in ? "no image given" : "no output file (-o OUT.raiiaf)");
        goto done;
    }
    int rc = raiiaf_import_image_file(in, &imp);
    if (rc) {
        cli_err("%s%s%s", rc == RAIIAF_E_IO ? "" : in, rc == RAIIAF_E_IO ? "" : ": ",
                imp ? raiiaf_import_errmsg(imp) : "out of memory");
        status = cli_exit_for_input(rc);
        goto done;
    }
    for (size_t k = 0; !quiet && k < raiiaf_import_note_count(imp); k++)
        cli_err("note: %s: %s", in, raiiaf_import_note(imp, k));
    for (int k = 0; k < ntags; k++)
        if ((rc = raiiaf_import_add_tag(imp, tags[k]))) {
            cli_err("--tag: %s", raiiaf_import_errmsg(imp));
            status = rc == RAIIAF_E_NOMEM ? EXIT_SYSTEM : EXIT_USAGE;
            goto done;
        }

    rc = raiiaf_writer_new(out, &w);
    if (!rc && !env) rc = raiiaf_writer_set_env(w, RAIIAF_ENV_NONE);
    if (rc) {
        cli_err("%s", w ? raiiaf_writer_errmsg(w) : "out of memory");
        status = cli_exit_for_output(rc);
        goto done;
    }
    if ((rc = raiiaf_import_to_writer(imp, w))) {
        cli_err("%s: %s", in, raiiaf_writer_errmsg(w));
        status = cli_exit_for_output(rc);
        goto done;
    }
    for (int k = 0; k < nlat; k++) {
        const char *eq = strchr(lat[k], '=');
        char *name = strndup(lat[k], (size_t)(eq - lat[k]));
        char *path = strdup(eq + 1);
        raiiaf_codec c = codec;
        char *colon = path ? strrchr(path, ':') : NULL;
        if (colon && raiiaf_codec_from_name(colon + 1, &c) == RAIIAF_OK) *colon = '\0';
        else c = codec;
        raiiaf_array a = {0};
        if (!name || !path) rc = RAIIAF_E_NOMEM;
        else if ((rc = raiiaf_tensor_file_read(path, &a, err, sizeof err))) cli_err("--latent %s: %s", name, err);
        else if ((rc = raiiaf_writer_add_tensor(w, name, a.dtype, a.rank, a.shape, a.data, a.size, c, 0.0)))
            cli_err("--latent %s: %s", name, raiiaf_writer_errmsg(w));
        raiiaf_array_free(&a);
        free(name);
        free(path);
        if (rc) {
            status = rc == RAIIAF_E_NOMEM ? EXIT_SYSTEM : rc == RAIIAF_E_EXISTS ? EXIT_USAGE : EXIT_INPUT;
            goto done;
        }
    }
    if ((rc = raiiaf_writer_finish(w))) {
        cli_err("%s: %s", out, raiiaf_writer_errmsg(w));
        status = cli_exit_for_output(rc);
        goto done;
    }
    if (!quiet) {
        const char *tool = raiiaf_import_tool(imp);
        size_t nf = raiiaf_import_field_count(imp), nr = raiiaf_import_record_count(imp);
        printf("%s: imported from %s (%s; %zu field%s, %zu text record%s kept)\n", out, in,
               tool ? (strcmp(tool, "raiiaf") ? tool : "raiiaf export: full record restored") : "no generator recognised",
               nf, nf == 1 ? "" : "s", nr, nr == 1 ? "" : "s");
    }
    status = EXIT_OK;
done:
    raiiaf_writer_free(w);
    raiiaf_import_free(imp);
    free(lat);
    free(tags);
    return status;
}
