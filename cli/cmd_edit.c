/* cmd_edit.c -- `raiiaf edit`: an append-only edit of the manifest. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: raiiaf edit FILE [--set POINTER=TEXT]... [--set-json POINTER=JSON]...\n"
    "                        [--remove POINTER]... [--add-tag TAG]... [--remove-tag TAG]...\n"
    "\n"
    "Appends a new manifest version to FILE (payloads are not rewritten; the old\n"
    "version stays readable: raiiaf history, info --version N).  The new manifest is\n"
    "checked against the schema before anything is written, and a crash at any point\n"
    "leaves the previous version intact.  POINTER is a JSON Pointer such as\n"
    "/raiiaf_metadata/model_info/prompt; fields the library owns (file_info, chunks,\n"
    "tensors, image, environment) cannot be changed.\n"
    "  --set P=TEXT        set a string\n"
    "  --set-json P=JSON   set any JSON value\n"
    "  --remove P          delete a field\n"
    "  --add-tag T / --remove-tag T   edit model_info/tags\n"
    "  --no-wait           fail at once (exit status 5) when another edit, sign or\n"
    "                      compact is writing to FILE, instead of waiting up to 30 s\n"
    "                      for it to finish (concurrent writers take turns)\n";

int cmd_edit(int argc, char **argv)
{
    const char *file = NULL;
    int nops = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return EXIT_OK;
        }
        if (!strcmp(a, "--set") || !strcmp(a, "--set-json") || !strcmp(a, "--remove") || !strcmp(a, "--add-tag") ||
            !strcmp(a, "--remove-tag")) {
            if (i + 1 >= argc) {
                cli_err("%s needs a value", a);
                return EXIT_USAGE;
            }
            i++;
            nops++;
        } else if (!strcmp(a, "--no-wait")) {
            raiiaf_set_lock_timeout(0);
        } else if (a[0] == '-' && a[1]) {
            cli_err("edit: unknown option '%s' (see raiiaf edit --help)", a);
            return EXIT_USAGE;
        } else if (!file) {
            file = a;
        } else {
            cli_err("edit: one file at a time");
            return EXIT_USAGE;
        }
    }
    if (!file) {
        cli_err("edit: no file given");
        return EXIT_USAGE;
    }
    if (!nops) {
        cli_err("edit: nothing to change (see raiiaf edit --help)");
        return EXIT_USAGE;
    }
    raiiaf_edit *ed = NULL;
    int rc = raiiaf_edit_open(file, &ed);
    if (rc) {
        cli_err("%s: %s", file, ed ? raiiaf_edit_errmsg(ed) : "out of memory");
        raiiaf_edit_free(ed);
        return cli_exit_for_update(rc, file, NULL);
    }
    int status = EXIT_OK;
    for (int i = 1; i < argc && status == EXIT_OK; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || !a[1] || !strcmp(a, "--no-wait")) continue;
        const char *v = argv[++i];
        if (!strcmp(a, "--add-tag")) rc = raiiaf_edit_add_tag(ed, v);
        else if (!strcmp(a, "--remove-tag")) rc = raiiaf_edit_remove_tag(ed, v);
        else if (!strcmp(a, "--remove")) rc = raiiaf_edit_remove(ed, v);
        else {
            const char *eq = strchr(v, '=');
            if (!eq || eq == v) {
                cli_err("%s expects POINTER=VALUE, got '%s'", a, v);
                status = EXIT_USAGE;
                break;
            }
            char *ptr = strndup(v, (size_t)(eq - v));
            if (!ptr) {
                status = EXIT_SYSTEM;
                break;
            }
            if (!strcmp(a, "--set-json")) {
                rc = raiiaf_edit_set_json(ed, ptr, eq + 1);
            } else {
                /* a string: let the library escape it via a JSON string */
                size_t n = strlen(eq + 1);
                char *q = malloc(n * 6 + 3), *o = q;
                if (!q) {
                    free(ptr);
                    status = EXIT_SYSTEM;
                    break;
                }
                *o++ = '"';
                for (const unsigned char *s = (const unsigned char *)eq + 1; *s; s++) {
                    if (*s == '"' || *s == '\\') *o++ = '\\', *o++ = (char)*s;
                    else if (*s < 0x20) o += sprintf(o, "\\u%04x", *s);
                    else *o++ = (char)*s;
                }
                *o++ = '"';
                *o = '\0';
                rc = raiiaf_edit_set_json(ed, ptr, q);
                free(q);
            }
            free(ptr);
        }
        if (rc) {
            cli_err("%s: %s", file, raiiaf_edit_errmsg(ed));
            status = rc == RAIIAF_E_NOMEM ? EXIT_SYSTEM : rc == RAIIAF_E_ARG ? EXIT_USAGE : EXIT_INPUT;
        }
    }
    if (status == EXIT_OK) {
        uint32_t v = raiiaf_edit_new_version(ed);
        rc = raiiaf_edit_commit(ed);
        if (rc) {
            cli_err("%s: %s", file, raiiaf_edit_errmsg(ed));
            status = cli_exit_for_update(rc, file, NULL);
        } else {
            printf("%s: version %u written\n", file, v);
        }
    }
    raiiaf_edit_free(ed);
    return status;
}
