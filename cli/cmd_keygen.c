/* cmd_keygen.c -- `raiiaf keygen`: an Ed25519 key pair for `raiiaf sign`. */
#include "cli.h"

#include <string.h>

static const char usage[] =
    "usage: raiiaf keygen -o KEY\n"
    "\n"
    "Writes a new Ed25519 private key to KEY (PEM, mode 0600) and its public key to\n"
    "KEY.pub (PEM).  An existing KEY is never overwritten.\n";

int cmd_keygen(int argc, char **argv)
{
    const char *out = NULL;
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
        } else {
            cli_err("keygen: unexpected argument '%s' (see raiiaf keygen --help)", argv[i]);
            return EXIT_USAGE;
        }
    }
    if (!out) {
        cli_err("keygen: -o KEY is required");
        return EXIT_USAGE;
    }
    char err[600];
    int rc = raiiaf_keygen(out, err, sizeof err);
    if (rc) {
        cli_err("%s", err);
        return EXIT_SYSTEM;
    }
    printf("wrote %s (private) and %s.pub (public)\n", out, out);
    return EXIT_OK;
}
