/* cmd_history.c -- `raiiaf history`: every manifest version of a file. */
#include "cli.h"

#include <jansson.h>
#include "raiiaf_json.h"
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: raiiaf history [--json] [--max-decode BYTES] FILE\n"
    "\n"
    "Lists every manifest version of FILE (raiiaf edit and raiiaf sign append one):\n"
    "its number, when it was written, and which fields (JSON Pointers) were added (+),\n"
    "removed (-) or changed (~) since the version before.  file_info, which every\n"
    "version rewrites, is left out.  info --version N / extract --version N read an\n"
    "older version.\n"
    CLI_MAX_DECODE_HELP;

int cmd_history(int argc, char **argv)
{
    const char *file = NULL;
    int as_json = 0;
    cli_decode dl;
    if (cli_decode_init(&dl)) return EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        int k = cli_opt_max_decode(argc, argv, &i, &dl);
        if (k < 0) return EXIT_USAGE;
        if (k) continue;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "--json")) {
            as_json = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_err("history: unknown option '%s'", argv[i]);
            return EXIT_USAGE;
        } else if (!file) {
            file = argv[i];
        } else {
            cli_err("history: one file at a time");
            return EXIT_USAGE;
        }
    }
    if (!file) {
        cli_err("history: no file given");
        return EXIT_USAGE;
    }
    raiiaf_reader *r = NULL;
    int rc = cli_reader_open(file, RAIIAF_READ_NO_DIGEST, 0, &dl, &r);
    if (rc) {
        cli_err("%s: %s", file, r ? raiiaf_reader_errmsg(r) : "out of memory");
        raiiaf_reader_free(r);
        return cli_exit_for_input(rc);
    }
    if (raiiaf_reader_trailing_bytes(r))
        cli_err("warning: %s: %llu trailing bytes after the last complete version (interrupted edit?)", file,
                (unsigned long long)raiiaf_reader_trailing_bytes(r));
    /* The versions and their changes come from the library (raiiaf_reader_history). */
    char *text = NULL;
    size_t len = 0;
    int status = EXIT_OK;
    rc = raiiaf_reader_history(r, &text, &len);
    json_t *list = rc ? NULL : raiiaf_json_loadb(text, len, 0, NULL);
    if (rc || !list) {
        cli_err("%s: %s", file, rc ? raiiaf_reader_errmsg(r) : "out of memory");
        status = EXIT_INPUT;
    } else if (as_json) {
        puts(text);
    } else {
        size_t i, k;
        json_t *v, *c;
        json_array_foreach(list, i, v) {
            const char *t = json_string_value(json_object_get(v, "time"));
            printf("version %lld  %s  (manifest at offset %lld)\n", (long long)json_integer_value(json_object_get(v, "version")),
                   t ? cli_safe(t) : "?", (long long)json_integer_value(json_object_get(v, "offset")));
            if (!i) printf("    created\n");
            json_array_foreach(json_object_get(v, "changes"), k, c) {
                const char *op = json_string_value(json_object_get(c, "op"));
                printf("    %c %s\n", op[0] == 'a' ? '+' : op[0] == 'r' ? '-' : '~',
                       cli_safe(json_string_value(json_object_get(c, "path")))); /* keys come from the file */
            }
        }
    }
    json_decref(list);
    raiiaf_free(text);
    raiiaf_reader_free(r);
    return status;
}
