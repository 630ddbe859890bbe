/* cmd_index_dask.c -- `raiiaf index --dask SCHEDULER_ADDRESS`: the same
 * index, with the files read on a Dask cluster.  Dask is Python, so the
 * CLI hands over to the raiiaf Python package (raiiaf.dask.main, in
 * python/raiiaf/_dask_index.py), which lists the files, sends the new and
 * changed ones to the workers (raiiaf_index_row_json() there) and writes
 * the rows back with raiiaf_index_put_row_json().  This file only builds
 * that command line and replaces this process with it. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Run with -c rather than -m so that a missing package (or numpy, or the
 * shared library it loads) is exit status 6 with a sentence, not Python's
 * "No module named" and status 1, which means something else here. */
static const char bootstrap[] =
    "import sys\n"
    "try:\n"
    "    from raiiaf.dask import main\n"
    "except ImportError as e:\n"
    "    sys.stderr.write('raiiaf: index --dask: the raiiaf Python package cannot be imported by %s (%s); '\n"
    "                     'install it (pip install ./python) or set PYTHONPATH, or name another interpreter '\n"
    "                     'with RAIIAF_PYTHON\\n' % (sys.executable, e))\n"
    "    sys.exit(6)\n"
    "sys.exit(main())\n";

int index_dask(const char *scheduler, const char *db, const char *const *dirs, int ndirs, int quiet)
{
    const char *py = getenv("RAIIAF_PYTHON");
    if (!py || !*py) py = "python3";
    /* python3 -c BOOTSTRAP index --scheduler ADDR --db DB [-q] DIR... */
    size_t n = 0, cap = (size_t)ndirs + 12;
    char **av = calloc(cap, sizeof *av);
    if (!av) return EXIT_SYSTEM;
    av[n++] = (char *)py;
    av[n++] = "-c";
    av[n++] = (char *)bootstrap;
    av[n++] = "index";
    av[n++] = "--scheduler";
    av[n++] = (char *)scheduler;
    av[n++] = "--db";
    av[n++] = (char *)db;
    if (quiet) av[n++] = "-q";
    for (int i = 0; i < ndirs; i++) av[n++] = (char *)dirs[i];
    av[n] = NULL;
    fflush(stdout);
    fflush(stderr);
    execvp(py, av);
    int e = errno;
    cli_err("index --dask: cannot run %s: %s; Dask indexing needs Python 3 with the raiiaf package and "
            "dask.distributed (set RAIIAF_PYTHON to the interpreter)",
            py, strerror(e));
    free(av);
    return EXIT_MISSING;
}
