/* cli.h -- shared pieces of the raiiaf command-line tool. */
#ifndef RAIIAF_CLI_H
#define RAIIAF_CLI_H

#include "raiiaf.h"

#include <stddef.h>
#include <stdio.h>

/* Exit status, as documented in README and `raiiaf --help`. */
enum {
    EXIT_OK = 0,
    EXIT_PROBLEM = 1, /* verify found a problem */
    EXIT_USAGE = 2,
    EXIT_INPUT = 3,   /* an input is unreadable, corrupt or invalid */
    EXIT_SYSTEM = 4,  /* I/O or system error (writing outputs, memory) */
    EXIT_BUSY = 5,    /* another writer kept the file locked (edit, sign, compact, recover, index) */
    EXIT_MISSING = 6  /* index --dask: python3, the raiiaf package or dask.distributed is missing */
};

/* "raiiaf: <message>\n" on stderr, the message made safe by cli_safe();
 * a file name said twice at its start ("x: x: cannot open") is said once. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Text from a file (prompts, tags, keys, names, library messages quoting
 * them) made safe for a terminal, for human-readable output: control
 * characters (newline and carriage return included), DEL, invalid UTF-8
 * bytes as \xHH, C1 controls and the bidirectional overrides (U+202A-E,
 * U+2066-9) as \uHHHH, so a file cannot move the cursor, recolour or
 * rewrite the reader's terminal.  Tabs and other UTF-8 pass unchanged.
 * The result lives until 8 more calls (use it in one printf); NULL gives
 * NULL.  JSON output needs none of this: it escapes control characters. */
const char *cli_safe(const char *s);
/* As cli_safe(), but a multi-line field keeps its lines: each newline is
 * printed followed by `indent` spaces, so continuation lines align under
 * the value in `Label:      value` output. */
const char *cli_safe_lines(const char *s, int indent);
/* cli_safe_lines() of n bytes that may hold NULs (shown as \x00). */
const char *cli_safe_lines_n(const char *s, size_t n, int indent);

/* Exit status for a library status met while reading inputs. */
int cli_exit_for_input(int status);
/* Exit status for a library status met while writing outputs. */
int cli_exit_for_output(int status);
/* Exit status for a command that reads its inputs and writes (edit, sign,
 * compact, recover): an I/O error is EXIT_INPUT when one of the inputs
 * (NULL: none) cannot be read -- a missing input is 3 for every command --
 * else EXIT_SYSTEM; a busy file is EXIT_BUSY. */
int cli_exit_for_update(int status, const char *input, const char *input2);

/* Reads a whole file into a malloc'd buffer (NUL-terminated for text use).
 * Returns 0, or a RAIIAF_E_* status with a message in err. */
int cli_read_file(const char *path, unsigned char **data, size_t *size, char *err, size_t errsize);

/* Writes a file atomically (temporary file beside it, fsync, rename); a
 * file replaced keeps its mode (and owner where permitted). */
int cli_write_file(const char *path, const void *data, size_t size, char *err, size_t errsize);

/* Option parsing: if argv[*i] is `--name VALUE` or `--name=VALUE`, stores
 * VALUE, advances *i past it and returns 1; returns -1 (after printing a
 * message) when the value is missing; 0 when argv[*i] is another option. */
int cli_opt(int argc, char **argv, int *i, const char *name, const char **value);

/* The budget of decoded bytes a reading command gives its readers
 * (raiiaf_reader_set_decode_limit): --max-decode BYTES, else the
 * environment variable RAIIAF_MAX_DECODE, else the library's default
 * (64 MiB + 64 x the file size).  BYTES: a number with an optional K, M, G
 * or T (powers of 1024, "KiB" etc. also taken); 0 means no limit. */
typedef struct cli_decode {
    int set;              /* 0: the library's default */
    unsigned long long bytes;
} cli_decode;
#define CLI_MAX_DECODE_HELP \
    "  --max-decode BYTES  budget of decoded bytes for reading the file (default 64 MiB\n" \
    "                + 64 x its size; K/M/G/T suffixes; 0: no limit; also RAIIAF_MAX_DECODE)\n"
/* Reads RAIIAF_MAX_DECODE; -1 (after a message) when it is not a size. */
int cli_decode_init(cli_decode *d);
/* As cli_opt() for --max-decode: 1 taken, 0 another option, -1 bad value. */
int cli_opt_max_decode(int argc, char **argv, int *i, cli_decode *d);
/* Parses BYTES as above; 0 on success. */
int cli_parse_size(const char *s, unsigned long long *out);
/* Opens `path` (manifest `version`, 0: the newest) with the budget;
 * *out is the reader (NULL only when out of memory), as
 * raiiaf_reader_open_file(). */
int cli_reader_open(const char *path, unsigned flags, uint32_t version, const cli_decode *d, raiiaf_reader **out);

/* Parses the whole string as a number; 0 on success. */
int cli_parse_u64(const char *s, unsigned long long *out);
int cli_parse_double(const char *s, double *out);

int cmd_create(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_extract(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_env(int argc, char **argv);
/* Trust (issue #6): cmd_edit.c, cmd_history.c, cmd_compact.c, cmd_keygen.c,
 * cmd_sign.c, cmd_recover.c */
int cmd_edit(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_compact(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_recover(int argc, char **argv);
/* Interop: cmd_import.c, cmd_export.c (src/interop/ does the work);
 * a library of files: cmd_index.c, cmd_search.c */
int cmd_import(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_search(int argc, char **argv);
/* `raiiaf serve` (issue #12): cmd_serve.c */
int cmd_serve(int argc, char **argv);

/* `raiiaf index` as serve uses it too: raiiaf_index_run() on `db` with
 * `threads` (raiiaf_index_set_threads(): 0 one per CPU), the progress bar
 * (progress: 1) and per-file messages on stderr (unless quiet).  Returns an
 * exit status. */
int cli_index_run(const char *const *dirs, int ndirs, const char *db, unsigned threads, int progress, int quiet,
                  raiiaf_index_stats *stats);

/* Seeded noise (issue #8): cmd_noise.c */
int cmd_noise(int argc, char **argv);
/* info's "Version:" and "Signature:" lines. */
void cli_trust_info_lines(raiiaf_reader *r);
/* verify --pubkey: checks the newest signature; prints on stderr;
 * returns 0 when it is valid for the newest content and by that key. */
int cli_verify_signature(raiiaf_reader *r, const char *path, const char *pubkey);

/* ---- Dask (cmd_index_dask.c) ---- */

/* `raiiaf index --dask ADDR` (cmd_index_dask.c): replaces this process with
 * the Python package's Dask indexer; returns only when that cannot start
 * (EXIT_MISSING, after a message). */
int index_dask(const char *scheduler, const char *db, const char *const *dirs, int ndirs, int quiet);

/* ---- environment record (cmd_env.c) ---- */

/* create's --env, --no-env and --env-include options. */
typedef struct cli_env_opts {
    const char **args; /* --env values */
    int nargs, none, hostname;
} cli_env_opts;
/* 1 when argv[*i] was one of them (consumed), 0 when not, -1 on a usage error. */
int cli_env_create_opt(int argc, char **argv, int *i, cli_env_opts *o);
/* Passes them to the writer; an exit status (EXIT_OK on success). */
int cli_env_apply(raiiaf_writer *w, const cli_env_opts *o);
void cli_env_opts_free(cli_env_opts *o);
/* On stderr, one line when the machine differs from the file's record. */
void cli_env_drift_summary(raiiaf_reader *r, const char *path);
/* info's "Environment:" line (nothing when the file holds no record). */
void cli_env_info_line(raiiaf_reader *r);

#endif
