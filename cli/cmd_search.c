/* cmd_search.c -- `raiiaf search`: query the library `raiiaf index` built
 * (raiiaf_index_search(), src/index/); here: arguments and printing. */
#include "cli.h"

#include <jansson.h>
#include "raiiaf_json.h"

#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: raiiaf search --db LIBRARY.sqlite [WORD...] [--model M] [--seed N] [--tag T]...\n"
    "                     [--signature S] [--limit N] [--json]\n"
    "\n"
    "Lists the indexed files that match every condition, one per line: the path, then\n"
    "model, seed, steps, sampler, CFG, size and the start of the prompt.\n"
    "  WORD          full-text match on prompt and negative prompt (all words must occur;\n"
    "                a word ending in * matches as a prefix)\n"
    "  --model M     model name contains M (case-insensitive)\n"
    "  --seed N      exactly this seed\n"
    "  --tag T       has tag T (repeatable: all must be present)\n"
    "  --signature S the signature state when indexed: none, valid, edited, invalid,\n"
    "                or signed (any of the last three); unsigned = none\n"
    "  --limit N     at most N results (default: all)\n"
    "  --json        one JSON object per line instead (path, model, model_hash, prompt,\n"
    "                negative_prompt, seed, steps, sampler, scheduler, cfg_scale, width,\n"
    "                height, format, tool, digest, signature, signature_key, created,\n"
    "                tags, tensors)\n"
    "Exit status 0 when something matched, 1 when nothing did.\n";

/* The keys --json prints, in this order. */
static const char json_fields[] = "path,model,model_hash,prompt,negative_prompt,seed,steps,sampler,scheduler,cfg_scale,"
                                  "width,height,format,tool,digest,signature,signature_key,created,tags,tensors";
static const char text_fields[] = "path,model,seed,steps,sampler,cfg_scale,width,height,prompt";

static int print_json_row(void *user, const char *json, size_t len)
{
    fwrite(json, 1, len, stdout);
    putchar('\n');
    return 0;
}

static const char *text_of(const json_t *o, const char *key) { return json_string_value(json_object_get(o, key)); }

/* One match as a line of text: path, model, settings and the prompt's start. */
static int print_text_row(void *user, const char *json, size_t len)
{
    json_t *o = raiiaf_json_loadb(json, len, 0, NULL);
    if (!o) return 1;
    /* what the index holds comes from the files: made safe for the terminal */
    printf("%s:", cli_safe(text_of(o, "path")));
    const char *mdl = text_of(o, "model");
    printf(" %s", mdl ? cli_safe(mdl) : "(no model)");
    uint64_t u = 0, h = 0;
    if (raiiaf_json_uint64(json_object_get(o, "seed"), &u)) printf(", seed %llu", (unsigned long long)u);
    if (raiiaf_json_uint64(json_object_get(o, "steps"), &u)) printf(", %llu steps", (unsigned long long)u);
    if (text_of(o, "sampler")) printf(", %s", cli_safe(text_of(o, "sampler")));
    json_t *cfg = json_object_get(o, "cfg_scale");
    if (json_is_number(cfg)) printf(", cfg %g", json_number_value(cfg));
    if (raiiaf_json_uint64(json_object_get(o, "width"), &u)) {
        raiiaf_json_uint64(json_object_get(o, "height"), &h);
        printf(", %llux%llu", (unsigned long long)u, (unsigned long long)h);
    }
    const char *pr = text_of(o, "prompt");
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
    json_decref(o);
    return 0;
}

int cmd_search(int argc, char **argv)
{
    const char *db = NULL, *model = NULL, *seed = NULL, *sig = NULL;
    long long limit = -1;
    int json = 0, nw = 0, nt = 0, status = EXIT_USAGE;
    const char **words = calloc((size_t)argc + 1, sizeof *words);
    const char **tags = calloc((size_t)argc + 1, sizeof *tags);
    raiiaf_index *h = NULL;
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
        } else if ((k = cli_opt(argc, argv, &i, "--signature", &v))) {
            if (k < 0) goto done;
            sig = v;
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
    raiiaf_index_query q = {.words = words, .nwords = (size_t)nw, .model = model, .tags = tags, .ntags = (size_t)nt,
                            .limit = limit, .fields = json ? json_fields : text_fields, .signature = sig};
    if (seed) {
        unsigned long long sv = 0;
        cli_parse_u64(seed, &sv);
        q.has_seed = 1;
        q.seed = sv;
    }
    uint64_t matched = 0;
    int e = raiiaf_index_open(db, RAIIAF_INDEX_READONLY, &h);
    if (!e) e = raiiaf_index_search(h, &q, json ? print_json_row : print_text_row, NULL, &matched);
    if (e) {
        cli_err("%s", h ? raiiaf_index_errmsg(h) : "out of memory");
        status = e == RAIIAF_E_NOMEM ? EXIT_SYSTEM : EXIT_INPUT;
        goto done;
    }
    status = matched ? EXIT_OK : EXIT_PROBLEM;
done:
    raiiaf_index_free(h);
    free(words);
    free(tags);
    return status;
}
