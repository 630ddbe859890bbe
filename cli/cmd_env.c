/* cmd_env.c -- `raiiaf env`: the current environment, a file's record, and
 * the drift between them; plus the environment pieces of create, info and
 * extract (options, the one-line drift summary on stderr). */
#include "cli.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: raiiaf env [--json] [--env-include hostname]\n"
    "       raiiaf env show [--json] FILE\n"
    "       raiiaf env diff [--json] [--ignore ID]... FILE\n"
    "\n"
    "The environment record: components such as os, cpu, ram, gpu0, zstd, each an id\n"
    "and a canonical string KEY=VALUE;KEY=VALUE with its SHA-256.\n"
    "  raiiaf env         print this machine's environment (--json: as a record)\n"
    "  raiiaf env show    print the record stored in FILE (format 2 ENVR or format 1 ENVC)\n"
    "  raiiaf env diff    compare FILE's record with this machine, sorted by id: each\n"
    "                     component changed, added (only here) or removed (only in the\n"
    "                     file).  Exit status 0 when they agree, 1 when they differ.\n"
    "  --ignore ID        leave component ID out of the comparison (repeatable)\n"
    "  --env-include hostname\n"
    "                     also show the host name (never captured unless asked)\n";

/* ---- printing --------------------------------------------------------- */

static void print_env_text(const raiiaf_env *env)
{
    size_t w = 0, n = raiiaf_env_count(env);
    for (size_t i = 0; i < n; i++) {
        const char *id;
        raiiaf_env_component(env, i, &id, NULL, NULL);
        if (strlen(id) > w) w = strlen(id);
    }
    for (size_t i = 0; i < n; i++) {
        const char *id, *can;
        raiiaf_env_component(env, i, &id, &can, NULL);
        printf("%-*s  %s\n", (int)w, cli_safe(id), cli_safe(can)); /* a file's record: made safe for the terminal */
    }
}

static int ignored(const char *id, const char **ignore, int nignore)
{
    for (int i = 0; i < nignore; i++)
        if (!strcmp(ignore[i], id)) return 1;
    return 0;
}

static const char *kind_name(raiiaf_drift_kind k)
{
    return k == RAIIAF_DRIFT_ADDED ? "added" : k == RAIIAF_DRIFT_REMOVED ? "removed" : k == RAIIAF_DRIFT_CHANGED ? "changed" : "unchecked";
}

/* The current environment to compare `file` with: the host name only when
 * the file recorded one (it is this machine's own, shown to its user). */
static int capture_like(const raiiaf_env *file, raiiaf_env **now)
{
    unsigned flags = raiiaf_env_find(file, "hostname") ? RAIIAF_ENV_INCLUDE_HOSTNAME : RAIIAF_ENV_DEFAULT;
    int rc = raiiaf_env_capture(flags, now);
    if (rc) cli_err("capturing the environment: %s", *now ? raiiaf_env_errmsg(*now) : "out of memory");
    return rc;
}

/* Opens FILE and parses its record; prints why not. */
static int file_env(const char *path, raiiaf_env **out)
{
    raiiaf_reader *r = NULL;
    *out = NULL;
    cli_decode dl;
    if (cli_decode_init(&dl)) return RAIIAF_E_ARG; /* RAIIAF_MAX_DECODE is honoured here too */
    int rc = cli_reader_open(path, 0, 0, &dl, &r);
    if (!rc) rc = raiiaf_reader_env(r, out);
    if (rc) cli_err("%s: %s", path, r ? raiiaf_reader_errmsg(r) : "out of memory");
    raiiaf_reader_free(r);
    return rc;
}

static int env_diff(const char *path, int json, const char **ignore, int nignore)
{
    raiiaf_env *file = NULL, *now = NULL;
    raiiaf_drift *d = NULL;
    int rc = file_env(path, &file);
    if (rc) return cli_exit_for_input(rc);
    if ((rc = capture_like(file, &now)) || (rc = raiiaf_drift_compare(file, now, &d))) {
        raiiaf_env_free(file);
        raiiaf_env_free(now);
        return EXIT_SYSTEM;
    }
    size_t n = raiiaf_drift_count(d), counts[5] = {0, 0, 0, 0, 0};
    json_t *items = json ? json_array() : NULL;
    for (size_t i = 0; i < n; i++) {
        raiiaf_drift_item it;
        raiiaf_drift_item_get(d, i, &it);
        if (ignored(it.id, ignore, nignore)) continue;
        counts[it.kind]++;
        if (json) {
            json_t *o = json_pack("{s:s,s:s}", "id", it.id, "kind", kind_name(it.kind));
            json_object_set_new(o, "file", it.file_canonical ? json_string(it.file_canonical) : json_null());
            json_object_set_new(o, "current", it.current_canonical ? json_string(it.current_canonical) : json_null());
            json_array_append_new(items, o);
            continue;
        }
        printf("%-9s %s%s\n", kind_name(it.kind), cli_safe(it.id),
               it.kind == RAIIAF_DRIFT_UNCHECKED ? " (recorded by the program that wrote the file; not visible from here)" : "");
        if (it.file_canonical) printf("  file:    %s\n", cli_safe(it.file_canonical));
        if (it.current_canonical) printf("  current: %s\n", cli_safe(it.current_canonical));
    }
    size_t total = counts[1] + counts[2] + counts[3];
    if (json) {
        json_t *o = json_pack("{s:s,s:b,s:I,s:I,s:I,s:I,s:o}", "file", path, "equal", total == 0, "changed", (json_int_t)counts[3],
                              "added", (json_int_t)counts[1], "removed", (json_int_t)counts[2], "unchecked",
                              (json_int_t)counts[4], "differences", items);
        char *t = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
        if (t) puts(t);
        free(t);
        json_decref(o);
    } else if (total) {
        printf("%s: environment differs: %zu changed, %zu added, %zu removed", path, counts[3], counts[1], counts[2]);
        if (counts[4]) printf(" (%zu not checked)", counts[4]);
        putchar('\n');
    } else {
        printf("%s: environment matches", path);
        if (counts[4]) printf(" (%zu component%s not checked)", counts[4], counts[4] == 1 ? "" : "s");
        putchar('\n');
    }
    raiiaf_drift_free(d);
    raiiaf_env_free(file);
    raiiaf_env_free(now);
    return total ? EXIT_PROBLEM : EXIT_OK;
}

static int env_show(const char *path, int json)
{
    raiiaf_reader *r = NULL;
    const char *text;
    size_t len;
    cli_decode dl;
    if (cli_decode_init(&dl)) return RAIIAF_E_ARG; /* RAIIAF_MAX_DECODE is honoured here too */
    int rc = cli_reader_open(path, 0, 0, &dl, &r);
    if (!rc) rc = raiiaf_reader_env_record(r, &text, &len);
    if (rc) {
        cli_err("%s: %s", path, r ? raiiaf_reader_errmsg(r) : "out of memory");
        raiiaf_reader_free(r);
        return cli_exit_for_input(rc);
    }
    if (json) {
        fwrite(text, 1, len, stdout);
        putchar('\n');
    } else {
        raiiaf_env *env = NULL;
        rc = raiiaf_env_from_json(text, len, &env);
        if (rc) cli_err("%s: environment record: %s", path, env ? raiiaf_env_errmsg(env) : "out of memory");
        else print_env_text(env);
        raiiaf_env_free(env);
    }
    raiiaf_reader_free(r);
    return cli_exit_for_input(rc);
}

int cmd_env(int argc, char **argv)
{
    int json = 0, nignore = 0, status = EXIT_USAGE;
    unsigned flags = RAIIAF_ENV_DEFAULT;
    const char *sub = NULL, *file = NULL;
    const char **ignore = calloc((size_t)argc + 1, sizeof *ignore);
    if (!ignore) return EXIT_SYSTEM;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int k;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            status = EXIT_OK;
            goto done;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if ((k = cli_opt(argc, argv, &i, "--ignore", &v))) {
            if (k < 0) goto done;
            ignore[nignore++] = v;
        } else if ((k = cli_opt(argc, argv, &i, "--env-include", &v))) {
            if (k < 0) goto done;
            if (strcmp(v, "hostname")) {
                cli_err("--env-include: only 'hostname' can be included, not '%s'", v);
                goto done;
            }
            flags |= RAIIAF_ENV_INCLUDE_HOSTNAME;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_err("env: unknown option '%s' (see raiiaf env --help)", argv[i]);
            goto done;
        } else if (!sub && (!strcmp(argv[i], "diff") || !strcmp(argv[i], "show"))) {
            sub = argv[i];
        } else if (sub && !file) {
            file = argv[i];
        } else {
            cli_err("env: unexpected argument '%s' (see raiiaf env --help)", argv[i]);
            goto done;
        }
    }
    if (sub && !file) {
        cli_err("env %s: no file given", sub);
        goto done;
    }
    if (nignore && (!sub || strcmp(sub, "diff"))) {
        cli_err("env: --ignore goes with 'env diff'");
        goto done;
    }
    if (sub && !strcmp(sub, "diff")) {
        status = env_diff(file, json, ignore, nignore);
    } else if (sub) {
        status = env_show(file, json);
    } else {
        raiiaf_env *env = NULL;
        int rc = raiiaf_env_capture(flags, &env);
        if (rc) {
            cli_err("capturing the environment: %s", env ? raiiaf_env_errmsg(env) : "out of memory");
            status = EXIT_SYSTEM;
        } else if (json && !raiiaf_env_json(env)) {
            cli_err("out of memory");
            status = EXIT_SYSTEM;
        } else {
            if (json) puts(raiiaf_env_json(env));
            else print_env_text(env);
            status = EXIT_OK;
        }
        raiiaf_env_free(env);
    }
done:
    free(ignore);
    return status;
}

/* ---- info and extract -------------------------------------------------- */

/* Appends up to 6 ids of one kind: " (os, zstd, gpu)". */
static void list_ids(char *buf, size_t cap, const raiiaf_drift *d, raiiaf_drift_kind kind)
{
    size_t len = strlen(buf), shown = 0, total = raiiaf_drift_count_kind(d, kind);
    if (!total) return;
    for (size_t i = 0; i < raiiaf_drift_count(d) && len + 1 < cap; i++) {
        raiiaf_drift_item it;
        raiiaf_drift_item_get(d, i, &it);
        if (it.kind != kind) continue;
        if (shown == 6) {
            len += (size_t)snprintf(buf + len, cap - len, ", ...");
            break;
        }
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", shown ? ", " : " (", it.id);
        shown++;
    }
    if (len + 1 < cap) snprintf(buf + len, cap - len, ")");
}

void cli_env_drift_summary(raiiaf_reader *r, const char *path)
{
    raiiaf_env *file = NULL, *now = NULL;
    raiiaf_drift *d = NULL;
    int rc = raiiaf_reader_env(r, &file);
    /* No record, or one that does not read: nothing to compare (a damaged
     * record is verify's to report; extract never writes from it). */
    if (rc) return;
    if (!capture_like(file, &now) && !raiiaf_drift_compare(file, now, &d) && raiiaf_drift_differences(d)) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%zu changed", raiiaf_drift_count_kind(d, RAIIAF_DRIFT_CHANGED));
        list_ids(msg, sizeof msg, d, RAIIAF_DRIFT_CHANGED);
        snprintf(msg + strlen(msg), sizeof msg - strlen(msg), ", %zu added", raiiaf_drift_count_kind(d, RAIIAF_DRIFT_ADDED));
        list_ids(msg, sizeof msg, d, RAIIAF_DRIFT_ADDED);
        snprintf(msg + strlen(msg), sizeof msg - strlen(msg), ", %zu removed", raiiaf_drift_count_kind(d, RAIIAF_DRIFT_REMOVED));
        list_ids(msg, sizeof msg, d, RAIIAF_DRIFT_REMOVED);
        cli_err("%s: environment differs from the file's: %s; see raiiaf env diff %s", path, msg, path);
    }
    raiiaf_drift_free(d);
    raiiaf_env_free(file);
    raiiaf_env_free(now);
}

void cli_env_info_line(raiiaf_reader *r)
{
    raiiaf_env *env = NULL;
    if (raiiaf_reader_env(r, &env)) {
        raiiaf_env_free(env);
        return;
    }
    size_t n = raiiaf_env_count(env);
    printf("%-12s %zu component%s", "Environment:", n, n == 1 ? "" : "s");
    static const char *const show[][2] = {{"os", "version"}, {"gpu", "model"}};
    for (size_t k = 0; k < 2; k++) {
        const char *can = raiiaf_env_find(env, show[k][0]);
        if (!can) continue;
        /* the value of KEY in "name=...;KEY=VALUE;..." */
        char key[32];
        snprintf(key, sizeof key, "%s=", show[k][1]);
        const char *p = strstr(can, key);
        if (p && (p == can || p[-1] == ';')) {
            p += strlen(key);
            char *v = strndup(p, strcspn(p, ";"));
            if (v) printf(", %s %s", show[k][0], cli_safe(v));
            free(v);
        }
    }
    printf(" (raiiaf env show)\n");
    raiiaf_env_free(env);
}

/* ---- create ------------------------------------------------------------- */

int cli_env_create_opt(int argc, char **argv, int *i, cli_env_opts *o)
{
    const char *v;
    int k;
    if (!strcmp(argv[*i], "--no-env")) {
        o->none = 1;
        return 1;
    }
    if ((k = cli_opt(argc, argv, i, "--env-include", &v))) {
        if (k < 0) return -1;
        if (strcmp(v, "hostname")) {
            cli_err("--env-include: only 'hostname' can be included, not '%s'", v);
            return -1;
        }
        o->hostname = 1;
        return 1;
    }
    if ((k = cli_opt(argc, argv, i, "--env", &v))) {
        if (k < 0) return -1;
        if (!o->args) o->args = calloc((size_t)argc + 1, sizeof *o->args);
        if (!o->args) {
            cli_err("out of memory");
            return -1;
        }
        o->args[o->nargs++] = v;
        return 1;
    }
    return 0;
}

/* ID=CANONICAL when the text before the first '=' is a valid id and the
 * rest holds a '='; anything else is a JSON file. */
static int is_component(const char *a)
{
    const char *eq = strchr(a, '=');
    if (!eq || eq == a || !strchr(eq + 1, '=')) return 0;
    for (const char *p = a; p < eq; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-'))
            return 0; /* an invalid id is refused by name below */
    return 1;
}

static int add_one(raiiaf_writer *w, const char *id, const char *canonical, const char *from)
{
    int rc = raiiaf_writer_add_env_component(w, id, canonical);
    if (rc) cli_err("--env %s: %s", from, raiiaf_writer_errmsg(w));
    return rc;
}

int cli_env_apply(raiiaf_writer *w, const cli_env_opts *o)
{
    if (o->none && (o->nargs || o->hostname)) {
        cli_err("--no-env cannot be combined with --env or --env-include");
        return EXIT_USAGE;
    }
    int rc = raiiaf_writer_set_env(w, o->none ? RAIIAF_ENV_NONE : o->hostname ? RAIIAF_ENV_INCLUDE_HOSTNAME : RAIIAF_ENV_DEFAULT);
    if (rc) {
        cli_err("%s", raiiaf_writer_errmsg(w));
        return EXIT_USAGE;
    }
    for (int k = 0; k < o->nargs; k++) {
        const char *a = o->args[k];
        if (is_component(a)) {
            const char *eq = strchr(a, '=');
            char id[80];
            snprintf(id, sizeof id, "%.*s", (int)(eq - a), a);
            if (add_one(w, id, eq + 1, a)) return EXIT_USAGE;
            continue;
        }
        unsigned char *text;
        size_t n;
        char err[1024];
        if ((rc = cli_read_file(a, &text, &n, err, sizeof err))) {
            cli_err("--env: %s (expected ID=KEY=VALUE;... or a .json file)", err);
            return cli_exit_for_input(rc);
        }
        json_error_t je;
        json_t *root = json_loadb((const char *)text, n, JSON_REJECT_DUPLICATES, &je);
        free(text);
        json_t *comps = json_object_get(root, "components");
        if (!json_is_array(comps)) {
            cli_err("--env %s: %s", a, root ? "expected {\"components\": [{\"id\": ..., \"canonical\": ...}, ...]}" : je.text);
            json_decref(root);
            return EXIT_INPUT;
        }
        size_t i;
        json_t *c;
        json_array_foreach(comps, i, c) {
            const char *id = json_string_value(json_object_get(c, "id"));
            const char *can = json_string_value(json_object_get(c, "canonical"));
            if (!id || !can) {
                cli_err("--env %s: /components/%zu: needs string members \"id\" and \"canonical\"", a, i);
                json_decref(root);
                return EXIT_INPUT;
            }
            if (add_one(w, id, can, a)) {
                json_decref(root);
                return EXIT_INPUT;
            }
        }
        json_decref(root);
    }
    return EXIT_OK;
}

void cli_env_opts_free(cli_env_opts *o)
{
    free(o->args);
    o->args = NULL;
}
