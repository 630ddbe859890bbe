/* cmd_convert.c -- `raiiaf convert`: rewrite a file in format 2 or format 1
 * (the rules are raiiaf_convert's, src/interop/convert.c).
 *
 * Format 1 -> 2 carries every latent (bit for bit, dtype kept), the image
 * (byte for byte), the generation record and the environment record, and
 * keeps the original manifest and ENVC JSON verbatim in
 * /raiiaf_metadata/extensions/org.raiiaf.format1/{manifest,env}, so the
 * conversion loses no information and can be undone: converting that
 * format 2 file back with --format 1 takes model_info, the date, each
 * latent's compression and the ENVC text from the verbatim copies. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#define F1_EXT "org.raiiaf.format1"

static const char usage[] =
    "usage: raiiaf convert IN.raiiaf -o OUT.raiiaf [--format 2|1] [--codec C] [-q]\n"
    "\n"
    "Rewrites a RAIIAF file (format 1 or 2) in format 2 (default) or format 1, atomically.\n"
    "Every latent (bit for bit, dtype kept), the image (byte for byte), the generation\n"
    "record and the environment record are carried over.  From format 1, the original\n"
    "manifest and environment JSON are also kept verbatim under\n"
    "/raiiaf_metadata/extensions/" F1_EXT "/{manifest,env}; values that format 2's schema\n"
    "refuses are kept only there (a note says which).  Converting such a file back with\n"
    "--format 1 restores the original's model_info, date, compression and environment.\n"
    "  -o, --output OUT   the file to write\n"
    "  --format 2|1       the format to write (default 2)\n"
    "  --codec C          codec for the latents: auto (default), raw, zstd, zfp; in format 1\n"
    "                     raw means uncompressed and zfp/auto compressed (float32 only)\n"
    "  -q, --quiet        print nothing on success (notes still go to stderr)\n";

static void print_note(void *ctx, const char *note)
{
    (void)ctx;
    cli_err("note: %s", note);
}

int cmd_convert(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    int quiet = 0, format = 2, have_codec = 0, status = EXIT_USAGE;
    raiiaf_codec codec = RAIIAF_CODEC_AUTO;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL, *a = argv[i];
        int r;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return EXIT_OK;
        }
        if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
            continue;
        }
        if ((r = cli_opt(argc, argv, &i, "-o", &v)) || (r = cli_opt(argc, argv, &i, "--output", &v))) {
            if (r < 0) return EXIT_USAGE;
            out = v;
            continue;
        }
        if ((r = cli_opt(argc, argv, &i, "--format", &v))) {
            if (r < 0) return EXIT_USAGE;
            if (strcmp(v, "1") && strcmp(v, "2")) {
                cli_err("--format: expected 1 or 2, got '%s'", v);
                return EXIT_USAGE;
            }
            format = v[0] - '0';
            continue;
        }
        if ((r = cli_opt(argc, argv, &i, "--codec", &v))) {
            if (r < 0) return EXIT_USAGE;
            if (raiiaf_codec_from_name(v, &codec)) {
                cli_err("--codec: unknown codec '%s' (auto, raw, zstd, zfp)", v);
                return EXIT_USAGE;
            }
            have_codec = 1;
            continue;
        }
        if (a[0] == '-' && a[1]) {
            cli_err("convert: unknown option '%s' (see raiiaf convert --help)", a);
            return EXIT_USAGE;
        }
        if (in) {
            cli_err("convert: one input file only (got '%s' and '%s')", in, a);
            return EXIT_USAGE;
        }
        in = a;
    }
    if (!in || !out) {
        cli_err("convert: give an input file and -o OUT.raiiaf");
        return EXIT_USAGE;
    }

    size_t tensors = 0;
    int has_image = 0;
    char err[1024];
    int rc = raiiaf_convert(in, out, (unsigned)format, have_codec ? (int)codec : -1, print_note, NULL, &tensors,
                            &has_image, err, sizeof err);
    if (rc) {
        cli_err("%s", err);
        /* Errors name the file they are about: the input's are input errors
         * (exit 3) whatever their kind, the output's I/O and memory errors
         * are system errors (exit 4). */
        size_t n = strlen(in);
        int about_input = !strncmp(err, in, n) && err[n] == ':';
        if (rc == RAIIAF_E_NOMEM) status = EXIT_SYSTEM;
        else if (rc == RAIIAF_E_IO && !about_input) status = EXIT_SYSTEM;
        else status = EXIT_INPUT;
        return status;
    }
    if (!quiet)
        printf("%s: written (format %d, %zu tensor%s%s)\n", out, format, tensors, tensors == 1 ? "" : "s",
               has_image ? ", image" : "");
    return EXIT_OK;
}
