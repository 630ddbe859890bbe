/* cmd_recover.c -- `raiiaf recover`: salvage a damaged file. */
#include "cli.h"

#include <string.h>

static const char usage[] =
    "usage: raiiaf recover DAMAGED -o OUT [--max-decode BYTES]\n"
    "\n"
    "Scans DAMAGED for chunks whose checksums still hold and writes OUT, a new valid\n"
    "file with everything salvageable: with the records of the newest manifest that\n"
    "survives, else rebuilt (the image; tensors whose dtype and shape a surviving\n"
    "manifest text records; anything else as unknown chunks).  Says what was lost.\n"
    "Exit status 0 when OUT was written, 3 when nothing could be salvaged.\n"
    "  --max-decode BYTES  budget of decoded bytes for the whole recovery (manifests read,\n"
    "                chunks decoded, OUT verified; default 64 MiB + 64 x the size of\n"
    "                DAMAGED; K/M/G/T suffixes; 0: no limit; also RAIIAF_MAX_DECODE)\n";

static void report(void *ctx, int status, const char *message)
{
    (void)ctx;
    /* Messages quote the damaged file (chunk types, names): made safe for
     * the terminal like every other human-readable line. */
    if (status)
        cli_err("%s", message);
    else
        printf("%s\n", cli_safe(message));
}

int cmd_recover(int argc, char **argv)
{
    const char *file = NULL, *out = NULL;
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
        if ((k = cli_opt(argc, argv, &i, "-o", &v)) || (k = cli_opt(argc, argv, &i, "--output", &v))) {
            if (k < 0) return EXIT_USAGE;
            out = v;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_err("recover: unknown option '%s'", argv[i]);
            return EXIT_USAGE;
        } else if (!file) {
            file = argv[i];
        } else {
            cli_err("recover: one file at a time");
            return EXIT_USAGE;
        }
    }
    if (!file || !out) {
        cli_err("recover: DAMAGED and -o OUT are required");
        return EXIT_USAGE;
    }
    int rc = raiiaf_recover_limited(file, out, dl.set ? (uint64_t)dl.bytes : RAIIAF_DECODE_LIMIT_DEFAULT, report, NULL);
    if (rc) return cli_exit_for_update(rc, file, NULL);
    return EXIT_OK;
}
