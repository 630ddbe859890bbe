/* cmd_verify.c -- `raiiaf verify`: every check, for each file given. */
#include "cli.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: raiiaf verify [-q] [--pubkey KEY.pub] [--max-decode BYTES] FILE...\n"
    "\n"
    "Checks every structure, every CRC-32C and SHA-256, the image, and the manifest\n"
    "against the metadata schema.  Prints 'FILE: OK' or 'FILE: FAILED' per file and\n"
    "each problem on stderr.  Exit status 0 when every file is sound, 1 when a\n"
    "problem was found, 3 when a file could not be read at all.\n"
    "  -q, --quiet   print only problems\n"
    "  --pubkey KEY.pub  also require a valid Ed25519 signature by that key over the\n"
    "                newest content (raiiaf sign); names the signing key\n"
    CLI_MAX_DECODE_HELP;

typedef struct {
    const char *path;
} report_ctx;

static const char pubkey_mark[] = "--pubkey";

static void report(void *ctx, int status, const char *message)
{
    const report_ctx *c = ctx;
    fprintf(stderr, "%s: %s\n", cli_safe(c->path), cli_safe(message)); /* messages quote names and keys from the file */
    (void)status;
}

int cmd_verify(int argc, char **argv)
{
    int quiet = 0, nfiles = 0, status = EXIT_OK;
    const char *pubkey = NULL;
    cli_decode dl;
    if (cli_decode_init(&dl)) return EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int at = i, k = cli_opt_max_decode(argc, argv, &i, &dl);
        if (k < 0) return EXIT_USAGE;
        if (k) {
            for (int j = at; j <= i; j++) argv[j] = (char *)pubkey_mark; /* consumed */
            continue;
        }
        k = cli_opt(argc, argv, &i, "--pubkey", &v);
        if (k < 0) return EXIT_USAGE;
        if (k) {
            pubkey = v;
            for (int j = at; j <= i; j++) argv[j] = (char *)pubkey_mark; /* consumed */
            continue;
        }
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
            quiet = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_err("verify: unknown option '%s' (see raiiaf verify --help)", argv[i]);
            return EXIT_USAGE;
        } else {
            nfiles++;
        }
    }
    if (!nfiles) {
        cli_err("verify: no file given");
        return EXIT_USAGE;
    }
    /* An unreadable key is an unreadable input (3), not a verdict on the
     * files (1). */
    if (pubkey && access(pubkey, R_OK) != 0) {
        cli_err("%s: cannot open: %s", pubkey, strerror(errno));
        return EXIT_INPUT;
    }
    for (int i = 1; i < argc; i++) {
        if (argv[i] == pubkey_mark || (argv[i][0] == '-' && argv[i][1])) continue;
        report_ctx ctx = {argv[i]};
        raiiaf_reader *r = NULL;
        int rc = cli_reader_open(argv[i], 0, 0, &dl, &r);
        if (!r) {
            cli_err("out of memory");
            return EXIT_SYSTEM;
        }
        if (rc == RAIIAF_E_IO) { /* could not be read at all: not a verdict on the file */
            cli_err("%s", raiiaf_reader_errmsg(r));
            raiiaf_reader_free(r);
            status = EXIT_INPUT;
            continue;
        }
        rc = raiiaf_reader_verify(r, report, &ctx);
        if (pubkey && rc != RAIIAF_E_NOMEM && cli_verify_signature(r, argv[i], pubkey) && !rc) rc = RAIIAF_E_DIGEST;
        raiiaf_reader_free(r);
        if (rc == RAIIAF_E_NOMEM) {
            status = EXIT_SYSTEM;
            continue;
        }
        if (rc && status == EXIT_OK) status = EXIT_PROBLEM;
        if (!quiet || rc) printf("%s: %s\n", cli_safe(argv[i]), rc ? "FAILED" : "OK");
    }
    return status;
}
