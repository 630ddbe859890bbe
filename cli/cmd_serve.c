/* cmd_serve.c -- `raiiaf serve`: index folders (cli_index_run: raiiaf_index_run, as
 * `raiiaf index` does), then run the library's server (raiiaf_server_start) until
 * SIGINT or SIGTERM.  Only argument parsing here. */
#include "cli.h"

#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

static const char usage[] =
    "usage: raiiaf serve [DIR...] [--db LIBRARY.sqlite] [--bind ADDR] [--port N] [--threads N] [--open]\n"
    "                    [--allow-edit]\n"
    "\n"
    "Indexes the folders (incrementally, like `raiiaf index`), then serves a local web\n"
    "app and a JSON API over the index (README: \"raiiaf serve\").  Read-only unless\n"
    "--allow-edit.\n"
    "  --db FILE     the index database (default: DIR/.raiiaf-library.sqlite of the first DIR;\n"
    "                without DIRs, an existing database is served as it is)\n"
    "  --bind ADDR   IPv4 or IPv6 address to listen on (default 127.0.0.1: this machine\n"
    "                only; ::1 is the IPv6 loopback, 0.0.0.0 / :: every interface)\n"
    "  --port N      port (default 8787; 0 picks a free one)\n"
    "  --threads N   worker threads (default 4)\n"
    "  --open        open the page in the desktop's browser (xdg-open)\n"
    "  --allow-edit  tags can be added and removed in the page (append-only edits of the\n"
    "                files; each request needs this run's random token, which the page holds)\n"
    "  -q, --quiet   no indexing progress or summary\n";

int cmd_serve(int argc, char **argv)
{
    const char *db = NULL, *bind_addr = "127.0.0.1";
    unsigned long long port = 8787, threads = 4;
    int open_browser = 0, quiet = 0, allow_edit = 0, nd = 0, status = EXIT_USAGE;
    const char **dirs = calloc((size_t)argc + 1, sizeof *dirs);
    char *dbbuf = NULL;
    if (!dirs) return EXIT_SYSTEM;
    for (int i = 1; i < argc; i++) {
        const char *v;
        int k;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            status = EXIT_OK;
            goto done;
        }
        if (!strcmp(argv[i], "--open")) open_browser = 1;
        else if (!strcmp(argv[i], "--allow-edit")) allow_edit = 1;
        else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) quiet = 1;
        else if ((k = cli_opt(argc, argv, &i, "--db", &v))) {
            if (k < 0) goto done;
            db = v;
        } else if ((k = cli_opt(argc, argv, &i, "--bind", &v))) {
            if (k < 0) goto done;
            bind_addr = v;
        } else if ((k = cli_opt(argc, argv, &i, "--port", &v))) {
            if (k < 0) goto done;
            if (cli_parse_u64(v, &port) || port > 65535) {
                cli_err("--port: expected 0..65535, got '%s'", v);
                goto done;
            }
        } else if ((k = cli_opt(argc, argv, &i, "--threads", &v))) {
            if (k < 0) goto done;
            if (cli_parse_u64(v, &threads) || threads < 1 || threads > 64) {
                cli_err("--threads: expected 1..64, got '%s'", v);
                goto done;
            }
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_err("serve: unknown option '%s' (see raiiaf serve --help)", argv[i]);
            goto done;
        } else dirs[nd++] = argv[i];
    }
    if (!db && !nd) {
        cli_err("serve: give folders to index, or --db LIBRARY.sqlite");
        goto done;
    }
    if (!db) {
        size_t n = strlen(dirs[0]) + 32;
        if (!(dbbuf = malloc(n))) {
            status = EXIT_SYSTEM;
            goto done;
        }
        snprintf(dbbuf, n, "%s/.raiiaf-library.sqlite", dirs[0]);
        db = dbbuf;
    }
    if (nd) {
        raiiaf_index_stats st;
        status = cli_index_run(dirs, nd, db, 0, 0, quiet, &st);
        if (status != EXIT_OK) goto done;
        if (!quiet)
            fprintf(stderr, "indexed %llu files (%llu new, %llu updated, %llu removed, %llu unreadable)\n",
                    (unsigned long long)st.seen, (unsigned long long)st.added, (unsigned long long)st.updated,
                    (unsigned long long)st.removed, (unsigned long long)st.failed);
    }
    /* Block the stop signals before the server's threads start, so they
     * inherit the mask and only sigwait() below receives them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    raiiaf_server *srv = NULL;
    char err[256];
    int e = raiiaf_server_start_flags(db, bind_addr, (unsigned)port, (unsigned)threads,
                                      allow_edit ? RAIIAF_API_ALLOW_EDIT : 0, &srv, err, sizeof err);
    if (e) {
        cli_err("serve: %s", err[0] ? err : raiiaf_strerror(e));
        status = e == RAIIAF_E_ARG ? EXIT_USAGE : EXIT_SYSTEM;
        goto done;
    }
    char url[96];
    snprintf(url, sizeof url, "%s", raiiaf_server_url(srv));
    int loopback = !strncmp(bind_addr, "127.", 4) || !strcmp(bind_addr, "::1");
    printf("serving %s on %s (bound to %s: %s; %s); Ctrl-C stops\n", db, url, bind_addr,
           loopback ? "this machine only" : "REACHABLE FROM THE NETWORK, no authentication",
           allow_edit ? "tags editable with this run's token" : "read-only");
    fflush(stdout);
    if (open_browser) {
        pid_t pid;
        char *args[] = {"xdg-open", url, NULL};
        if (posix_spawnp(&pid, "xdg-open", NULL, NULL, args, environ) == 0) waitpid(pid, NULL, 0);
        else cli_err("serve: --open: xdg-open is not available; open %s yourself", url);
    }
    int sig = 0;
    sigwait(&set, &sig);
    raiiaf_server_stop(srv);
    status = EXIT_OK;
done:
    free(dbbuf);
    free(dirs);
    return status;
}
