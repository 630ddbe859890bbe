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

/* Appends "pointer" for key under base (RFC 6901 escaping). */
static char *join(const char *base, const char *key)
{
    size_t n = strlen(base) + 2 * strlen(key) + 2;
    char *s = malloc(n), *o;
    if (!s) return NULL;
    o = s + sprintf(s, "%s/", base);
    for (; *key; key++) {
        if (*key == '~') *o++ = '~', *o++ = '0';
        else if (*key == '/') *o++ = '~', *o++ = '1';
        else *o++ = *key;
    }
    *o = '\0';
    return s;
}

static void emit(json_t *list, char op, const char *path)
{
    if (list) {
        json_t *o = json_pack("{s:s,s:s}", "op", op == '+' ? "added" : op == '-' ? "removed" : "changed", "path", path);
        json_array_append_new(list, o);
    } else {
        printf("    %c %s\n", op, cli_safe(path)); /* keys come from the file */
    }
}

static void diff(const json_t *a, const json_t *b, const char *path, json_t *list)
{
    if (!strcmp(path, "/raiiaf_metadata/file_info")) return;
    if (json_is_object(a) && json_is_object(b)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v) {
            char *p = join(path, k);
            if (!p) return;
            json_t *w = json_object_get(b, k);
            if (!w) {
                if (strcmp(p, "/raiiaf_metadata/file_info")) emit(list, '-', p);
            } else {
                diff(v, w, p, list);
            }
            free(p);
        }
        json_object_foreach((json_t *)b, k, v) {
            if (json_object_get(a, k)) continue;
            char *p = join(path, k);
            if (!p) return;
            if (strcmp(p, "/raiiaf_metadata/file_info")) emit(list, '+', p);
            free(p);
        }
        return;
    }
    if (!json_equal((json_t *)a, (json_t *)b)) emit(list, '~', path[0] ? path : "/");
}

static const char *when(json_t *m)
{
    json_t *fi = json_object_get(json_object_get(m, "raiiaf_metadata"), "file_info");
    const char *t = json_string_value(json_object_get(fi, "modified"));
    return t ? t : json_string_value(json_object_get(fi, "created"));
}

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
    uint32_t latest = raiiaf_reader_latest_version(r);
    json_t *prev = NULL, *out = as_json ? json_array() : NULL;
    int status = EXIT_OK;
    for (uint32_t v = 1; v <= latest; v++) {
        char *text = NULL;
        size_t len;
        uint64_t off;
        rc = raiiaf_reader_manifest_at(r, v, &text, &len, &off);
        json_t *m = rc ? NULL : raiiaf_json_loadb(text, len, 0, NULL);
        raiiaf_free(text);
        if (!m) {
            cli_err("%s: version %u: %s", file, v, rc ? raiiaf_reader_errmsg(r) : "invalid JSON");
            status = EXIT_INPUT;
            break;
        }
        const char *t = when(m);
        json_t *changes = as_json ? json_array() : NULL;
        if (!as_json) printf("version %u  %s  (manifest at offset %llu)\n", v, t ? cli_safe(t) : "?", (unsigned long long)off);
        if (prev) diff(prev, m, "", changes);
        else if (!as_json) printf("    created\n");
        if (as_json)
            json_array_append_new(out, json_pack("{s:i,s:s?,s:I,s:o}", "version", (int)v, "time", t, "offset", (json_int_t)off, "changes",
                                                 changes));
        json_decref(prev);
        prev = m;
    }
    json_decref(prev);
    if (as_json) {
        char *s = raiiaf_json_dumps(out, JSON_INDENT(2));
        if (s) puts(s);
        free(s);
        json_decref(out);
    }
    raiiaf_reader_free(r);
    return status;
}
