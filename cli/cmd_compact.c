/* cmd_compact.c -- `raiiaf compact`: keep only the newest manifest. */
#include "cli.h"

#include <string.h>

static const char usage[] =
    "usage: raiiaf compact FILE [-o OUT]\n"
    "\n"
    "Rewrites FILE (or writes OUT) with only its newest manifest, as version 1:\n"
    "older manifests, footers, signatures (they covered the old layout) and any torn\n"
    "tail of an interrupted edit are dropped; payloads are copied byte for byte.  The\n"
    "file is replaced atomically (temporary file, fsync, rename).\n"
    "  --no-wait   fail at once (exit status 5) when an edit, sign or compact is\n"
    "              writing to the file replaced, instead of waiting up to 30 s\n";

int cmd_compact(int argc, char **argv)
{
    const char *file = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int k;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return EXIT_OK;
        }
        if ((k = cli_opt(argc, argv, &i, "-o", &v)) || (k = cli_opt(argc, argv, &i, "--output", &v))) {
            if (k < 0) return EXIT_USAGE;
            out = v;
        } else if (!strcmp(argv[i], "--no-wait")) {
            raiiaf_set_lock_timeout(0);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_err("compact: unknown option '%s'", argv[i]);
            return EXIT_USAGE;
        } else if (!file) {
            file = argv[i];
        } else {
            cli_err("compact: one file at a time");
            return EXIT_USAGE;
        }
    }
    if (!file) {
        cli_err("compact: no file given");
        return EXIT_USAGE;
    }
    char err[600];
    int rc = raiiaf_compact(file, out, err, sizeof err);
    if (rc) {
        cli_err("%s", err);
        return cli_exit_for_update(rc, file, NULL);
    }
    printf("%s: compacted to %s\n", file, out ? out : file);
    return EXIT_OK;
}
