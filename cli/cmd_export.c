/* cmd_export.c -- `raiiaf export`: the stored image, in its own format and
 * without re-encoding, carrying the generation record where other tools
 * look for it: an A1111-style `parameters` text (PNG tEXt/iTXt, or EXIF
 * UserComment in JPEG and WebP) and, in a PNG, the whole manifest in an
 * iTXt chunk `raiiaf` so that `raiiaf import` restores the full record. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
    "  -q, --quiet   print nothing on success\n"
    CLI_MAX_DECODE_HELP;

int cmd_export(int argc, char **argv)
{
    const char *file = NULL, *out = NULL, *want = NULL;
    int quiet = 0, status = EXIT_USAGE;
    raiiaf_reader *r = NULL;
    char err[1024] = "";
    cli_decode dl;
    if (cli_decode_init(&dl)) return EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int k;
        if ((k = cli_opt_max_decode(argc, argv, &i, &dl))) {
            if (k < 0) return EXIT_USAGE;
            continue;
        }
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
            out = v, want = NULL; /* from the extension (raiiaf_export_file) */
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
    int rc = cli_reader_open(file, 0, 0, &dl, &r);
    if (rc) {
        cli_err("%s: %s", file, r ? raiiaf_reader_errmsg(r) : "out of memory");
        status = cli_exit_for_input(rc);
        goto done;
    }
    unsigned flags = 0;
    if ((rc = raiiaf_export_file(r, out, want, &flags, err, sizeof err))) {
        const char *stored = NULL;
        raiiaf_reader_image(r, NULL, NULL, &stored, NULL, NULL);
        int wrong_format = rc == RAIIAF_E_ARG && stored && strstr(err, "the stored image is");
        cli_err("%s%s%s%s", rc == RAIIAF_E_IO ? "" : file, rc == RAIIAF_E_IO ? "" : ": ", err, /* I/O messages name the output */
                !wrong_format                 ? ""
                : !strcmp(stored, "png")      ? " (--png OUT.png)"
                : !strcmp(stored, "jpeg")     ? " (--jpeg OUT.jpg)"
                                              : " (--webp OUT.webp)");
        status = rc == RAIIAF_E_NOMEM || rc == RAIIAF_E_IO ? EXIT_SYSTEM : rc == RAIIAF_E_ARG ? EXIT_USAGE : EXIT_INPUT;
        goto done;
    }
    if (flags & RAIIAF_EXPORT_MANIFEST_OMITTED)
        cli_err("note: %s: the manifest does not fit in a JPEG EXIF segment; only the parameters text is exported", file);
    struct stat st;
    if (!quiet)
        printf("%s: exported with its generation record (%lld bytes)\n", out, stat(out, &st) ? -1LL : (long long)st.st_size);
    status = EXIT_OK;
done:
    raiiaf_reader_free(r);
    return status;
}
