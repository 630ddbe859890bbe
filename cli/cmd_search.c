/* cmd_search.c -- `raiiaf search`: query the library `raiiaf index` built. */
#include "cli.h"

#include <jansson.h>
#include "raiiaf_json.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: raiiaf search --db LIBRARY.sqlite [WORD...] [--model M] [--seed N] [--tag T]...\n"
    "                     [--limit N] [--json]\n"
    "\n"
    "Lists the indexed files that match every condition, one per line: the path, then\n"
    "model, seed, steps, sampler, CFG, size and the start of the prompt.\n"
    "  WORD          full-text match on prompt and negative prompt (all words must occur;\n"
    "                a word ending in * matches as a prefix)\n"
    "  --model M     model name contains M (case-insensitive)\n"
    "  --seed N      exactly this seed\n"
    "  --tag T       has tag T (repeatable: all must be present)\n"
    "  --limit N     at most N results (default: all)\n"
    "  --json        one JSON object per line instead (path, model, model_hash, prompt,\n"
    "                negative_prompt, seed, steps, sampler, scheduler, cfg_scale, width,\n"
    "                height, format, tool, digest, signature, tags, tensors)\n"
    "Exit status 0 when something matched, 1 when nothing did.\n";

/* An FTS5 query: each word as a quoted string (so punctuation is literal),
 * a trailing * kept as a prefix match; words are ANDed. */
static char *fts_query(const char **words, int n)
{
    size_t len = 1;
    for (int i = 0; i < n; i++) len += 2 * strlen(words[i]) + 5;
    char *q = malloc(len);
    if (!q) return NULL;
    size_t p = 0;
    for (int i = 0; i < n; i++) {
        size_t wl = strlen(words[i]);
        int prefix = wl > 1 && words[i][wl - 1] == '*';
        if (prefix) wl--;
        if (p) q[p++] = ' ';
        q[p++] = '"';
        for (size_t k = 0; k < wl; k++) {
            if (words[i][k] == '"') q[p++] = '"';
            q[p++] = words[i][k];
        }
        q[p++] = '"';
        if (prefix) q[p++] = '*';
    }
    q[p] = '\0';
    return q;
}

static json_t *col_json(sqlite3_stmt *s, int i)
{
    switch (sqlite3_column_type(s, i)) {
    case SQLITE_INTEGER: return json_integer(sqlite3_column_int64(s, i));
    case SQLITE_FLOAT: return json_real(sqlite3_column_double(s, i));
    case SQLITE_TEXT: return json_string((const char *)sqlite3_column_text(s, i));
    default: return json_null();
    }
}

/* One match as a JSON line: its row, its tags (qt) and tensors (qx). */
static void print_json_row(sqlite3_stmt *s, sqlite3_stmt *qt, sqlite3_stmt *qx, long long id)
{
    static const char *const names[] = {NULL, "path", "model", "model_hash", "prompt", "negative_prompt", "seed",
                                        "steps", "sampler", "scheduler", "cfg_scale", "width", "height",
                                        "format", "tool", "digest", "signature"};
    json_t *o = json_object();
    for (int c = 1; c < 17; c++) json_object_set_new(o, names[c], col_json(s, c));
    static const int unsigned_cols[] = {6, 7, 11, 12}; /* seed, steps, width, height: their 64 bits (cmd_index.c) */
    for (size_t k = 0; k < sizeof unsigned_cols / sizeof unsigned_cols[0]; k++) {
        int c = unsigned_cols[k];
        if (sqlite3_column_type(s, c) == SQLITE_INTEGER)
            json_object_set_new(o, names[c], raiiaf_json_from_uint64((uint64_t)sqlite3_column_int64(s, c)));
    }
    json_t *ta = json_array(), *xa = json_array();
    sqlite3_bind_int64(qt, 1, id);
    while (sqlite3_step(qt) == SQLITE_ROW) json_array_append_new(ta, col_json(qt, 0));
    sqlite3_reset(qt);
    sqlite3_bind_int64(qx, 1, id);
    while (sqlite3_step(qx) == SQLITE_ROW) {
        json_t *x = json_object();
        json_object_set_new(x, "name", col_json(qx, 0));
        json_object_set_new(x, "dtype", col_json(qx, 1));
        json_t *shape = json_loads((const char *)sqlite3_column_text(qx, 2), JSON_DECODE_ANY, NULL);
        json_object_set_new(x, "shape", shape ? shape : json_null());
        json_array_append_new(xa, x);
    }
    sqlite3_reset(qx);
    json_object_set_new(o, "tags", ta);
    json_object_set_new(o, "tensors", xa);
    char *t = raiiaf_json_dumps(o, JSON_COMPACT);
    if (t) puts(t);
    free(t);
    json_decref(o);
}

/* One match as a line of text: path, model, settings and the prompt's start. */
static void print_text_row(sqlite3_stmt *s)
{
    /* what the index holds comes from the files: made safe for the terminal */
    printf("%s:", cli_safe((const char *)sqlite3_column_text(s, 1)));
    const char *mdl = (const char *)sqlite3_column_text(s, 2);
    printf(" %s", mdl ? cli_safe(mdl) : "(no model)");
    if (sqlite3_column_type(s, 6) != SQLITE_NULL) printf(", seed %llu", (unsigned long long)sqlite3_column_int64(s, 6));
    if (sqlite3_column_type(s, 7) != SQLITE_NULL) printf(", %llu steps", (unsigned long long)sqlite3_column_int64(s, 7));
    if (sqlite3_column_type(s, 8) != SQLITE_NULL) printf(", %s", cli_safe((const char *)sqlite3_column_text(s, 8)));
    if (sqlite3_column_type(s, 10) != SQLITE_NULL) printf(", cfg %g", sqlite3_column_double(s, 10));
    if (sqlite3_column_type(s, 11) != SQLITE_NULL)
        printf(", %llux%llu", (unsigned long long)sqlite3_column_int64(s, 11), (unsigned long long)sqlite3_column_int64(s, 12));
    const char *pr = (const char *)sqlite3_column_text(s, 4);
    if (pr) {
        /* first 60 bytes of the prompt on one line, cut at a character boundary */
        char one[64];
        size_t n = 0;
        for (const char *c = pr; *c && n < 60; c++) one[n++] = (*c == '\n' || *c == '\r' || *c == '\t') ? ' ' : *c;
        while (n && pr[n] && ((unsigned char)pr[n] & 0xC0) == 0x80) n--;
        one[n] = '\0';
        printf(" -- %s%s", cli_safe(one), strlen(pr) > n ? "..." : "");
    }
    putchar('\n');
}

int cmd_search(int argc, char **argv)
{
    const char *db = NULL, *model = NULL, *seed = NULL;
    long long limit = -1;
    int json = 0, nw = 0, nt = 0, status = EXIT_USAGE;
    const char **words = calloc((size_t)argc + 1, sizeof *words);
    const char **tags = calloc((size_t)argc + 1, sizeof *tags);
    sqlite3 *h = NULL;
    sqlite3_stmt *s = NULL, *qt = NULL, *qx = NULL;
    char *fts = NULL, *sql = NULL;
    if (!words || !tags) {
        status = EXIT_SYSTEM;
        goto done;
    }
    for (int i = 1; i < argc; i++) {
        const char *v;
        int k;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            status = EXIT_OK;
            goto done;
        }
        if (!strcmp(argv[i], "--json")) json = 1;
        else if ((k = cli_opt(argc, argv, &i, "--db", &v))) {
            if (k < 0) goto done;
            db = v;
        } else if ((k = cli_opt(argc, argv, &i, "--model", &v))) {
            if (k < 0) goto done;
            model = v;
        } else if ((k = cli_opt(argc, argv, &i, "--seed", &v))) {
            unsigned long long x;
            if (k < 0) goto done;
            if (cli_parse_u64(v, &x)) {
                cli_err("--seed: expected an integer from 0 to 2^64-1, got '%s'", v);
                goto done;
            }
            seed = v;
        } else if ((k = cli_opt(argc, argv, &i, "--tag", &v))) {
            if (k < 0) goto done;
            tags[nt++] = v;
        } else if ((k = cli_opt(argc, argv, &i, "--limit", &v))) {
            unsigned long long x;
            if (k < 0) goto done;
            if (cli_parse_u64(v, &x) || x > INT64_MAX) {
                cli_err("--limit: expected a non-negative integer, got '%s'", v);
                goto done;
            }
            limit = (long long)x;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_err("search: unknown option '%s' (see raiiaf search --help)", argv[i]);
            goto done;
        } else words[nw++] = argv[i];
    }
    if (!db) {
        cli_err("search: no database given (--db LIBRARY.sqlite)");
        goto done;
    }
    if (access(db, R_OK) != 0) {
        cli_err("%s: cannot open the database: %s", db, strerror(errno));
        status = EXIT_INPUT;
        goto done;
    }
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        cli_err("%s: cannot open the database%s%s", db, h ? ": " : "", h ? sqlite3_errmsg(h) : "");
        status = EXIT_INPUT;
        goto done;
    }
    sqlite3_busy_timeout(h, 5000);
    size_t sl = 1024 + (size_t)nt * 96;
    sql = malloc(sl);
    if (!sql) {
        status = EXIT_SYSTEM;
        goto done;
    }
    int p = snprintf(sql, sl,
                     "SELECT id, path, model, model_hash, prompt, negative_prompt, seed, steps, sampler, scheduler,"
                     " cfg_scale, width, height, format, tool, digest, signature FROM files f WHERE 1");
    if (nw) p += snprintf(sql + p, sl - (size_t)p, " AND id IN (SELECT rowid FROM prompts WHERE prompts MATCH :fts)");
    if (model) p += snprintf(sql + p, sl - (size_t)p, " AND instr(lower(model), lower(:model)) > 0");
    if (seed) p += snprintf(sql + p, sl - (size_t)p, " AND seed = :seed");
    for (int k = 0; k < nt; k++)
        p += snprintf(sql + p, sl - (size_t)p, " AND EXISTS(SELECT 1 FROM tags t WHERE t.file_id = f.id AND t.tag = ?%d)", 100 + k);
    p += snprintf(sql + p, sl - (size_t)p, " ORDER BY path LIMIT :limit");
    if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h, "SELECT tag FROM tags WHERE file_id = ? ORDER BY tag", -1, &qt, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h, "SELECT name, dtype, shape FROM tensors WHERE file_id = ? ORDER BY name", -1, &qx, NULL) !=
            SQLITE_OK) {
        cli_err("%s: %s (was it made by raiiaf index?)", db, sqlite3_errmsg(h));
        status = EXIT_INPUT;
        goto done;
    }
    if (nw) {
        fts = fts_query(words, nw);
        sqlite3_bind_text(s, sqlite3_bind_parameter_index(s, ":fts"), fts, -1, SQLITE_STATIC);
    }
    if (model) sqlite3_bind_text(s, sqlite3_bind_parameter_index(s, ":model"), model, -1, SQLITE_STATIC);
    if (seed) { /* stored as its 64 bits (cmd_index.c) */
        unsigned long long sv = 0;
        cli_parse_u64(seed, &sv);
        sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":seed"), (sqlite3_int64)(uint64_t)sv);
    }
    for (int k = 0; k < nt; k++) sqlite3_bind_text(s, 100 + k, tags[k], -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":limit"), limit);
    int rc, matched = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        matched++;
        long long id = sqlite3_column_int64(s, 0);
        if (json) print_json_row(s, qt, qx, id);
        else print_text_row(s);
    }
    if (rc != SQLITE_DONE) {
        cli_err("%s: %s", db, sqlite3_errmsg(h));
        status = EXIT_INPUT;
        goto done;
    }
    status = matched ? EXIT_OK : EXIT_PROBLEM;
done:
    sqlite3_finalize(s);
    sqlite3_finalize(qt);
    sqlite3_finalize(qx);
    sqlite3_close(h);
    free(fts);
    free(sql);
    free(words);
    free(tags);
    return status;
}
