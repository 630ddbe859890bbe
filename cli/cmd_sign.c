/* cmd_sign.c -- `raiiaf sign`, and the signature checks of info/verify. */
#include "cli.h"

#include <string.h>

static const char usage[] =
    "usage: raiiaf sign FILE --key KEY\n"
    "\n"
    "Signs FILE's newest manifest with the Ed25519 private key KEY (raiiaf keygen):\n"
    "appends a SIGN chunk and a new manifest version listing it.  The signature\n"
    "covers the SHA-256 of the manifest text, which holds the SHA-256 of every\n"
    "payload.  raiiaf verify --pubkey KEY.pub FILE checks it; an edit after signing\n"
    "shows as 'edited since' until the file is signed again.\n"
    "  --no-wait   fail at once (exit status 5) when another edit, sign or compact\n"
    "              is writing to FILE, instead of waiting up to 30 s for it\n";

int cmd_sign(int argc, char **argv)
{
    const char *file = NULL, *key = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int k;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return EXIT_OK;
        }
        if ((k = cli_opt(argc, argv, &i, "--key", &v))) {
            if (k < 0) return EXIT_USAGE;
            key = v;
        } else if (!strcmp(argv[i], "--no-wait")) {
            raiiaf_set_lock_timeout(0);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_err("sign: unknown option '%s'", argv[i]);
            return EXIT_USAGE;
        } else if (!file) {
            file = argv[i];
        } else {
            cli_err("sign: one file at a time");
            return EXIT_USAGE;
        }
    }
    if (!file || !key) {
        cli_err("sign: FILE and --key KEY are required");
        return EXIT_USAGE;
    }
    char err[600], id[17];
    int rc = raiiaf_sign(file, key, id, err, sizeof err);
    if (rc) {
        cli_err("%s", err);
        return cli_exit_for_update(rc, file, key);
    }
    printf("%s: signed by %s\n", file, id);
    return EXIT_OK;
}

void cli_trust_info_lines(raiiaf_reader *r)
{
    unsigned major;
    raiiaf_reader_format(r, &major, NULL);
    if (major != 2) return;
    uint32_t v = raiiaf_reader_manifest_version(r), latest = raiiaf_reader_latest_version(r);
    if (v != latest) printf("%-12s %u of %u (an older version)\n", "Version:", v, latest);
    else printf("%-12s %u\n", "Version:", v);
    if (v != latest) return;
    raiiaf_signature_info s;
    if (raiiaf_reader_signature(r, NULL, &s)) return;
    if (s.state == RAIIAF_SIG_NONE) printf("%-12s unsigned\n", "Signature:");
    else if (s.state == RAIIAF_SIG_VALID) printf("%-12s signed by %s (version %u)\n", "Signature:", s.key_id, s.signed_version);
    else if (s.state == RAIIAF_SIG_EDITED) printf("%-12s signed version %u by %s, edited since\n", "Signature:", s.signed_version, s.key_id);
    else printf("%-12s signature invalid (%s)\n", "Signature:", cli_safe(s.message));
}

int cli_verify_signature(raiiaf_reader *r, const char *path, const char *pubkey)
{
    raiiaf_signature_info s;
    int rc = raiiaf_reader_signature(r, pubkey, &s);
    if (rc) {
        fprintf(stderr, "%s: signature: %s\n", cli_safe(path), cli_safe(raiiaf_reader_errmsg(r)));
        return -1;
    }
    switch (s.state) {
    case RAIIAF_SIG_VALID:
        fprintf(stderr, "%s: signed by %s (version %u): signature valid\n", cli_safe(path), s.key_id, s.signed_version);
        return 0;
    case RAIIAF_SIG_NONE:
        fprintf(stderr, "%s: signature: the file is not signed\n", cli_safe(path));
        return -1;
    case RAIIAF_SIG_EDITED:
        fprintf(stderr, "%s: signature: %s\n", cli_safe(path), cli_safe(s.message));
        return -1;
    default:
        fprintf(stderr, "%s: signature invalid: %s\n", cli_safe(path), cli_safe(s.message));
        return -1;
    }
}
