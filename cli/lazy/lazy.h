/* lazy.h -- shared libraries the raiiaf tool loads on first use.
 *
 * Start-up (issue 15 item 3): every library the tool is linked against is
 * mapped and relocated before main() runs, and libmicrohttpd brings GnuTLS
 * and eight more libraries with it, although only `raiiaf serve` uses it.
 * When the tool is linked with RAIIAF_CLI_STATIC (the default), the files
 * in this folder define the few functions the library calls from such a
 * library; each forwards to the real one, which is loaded with dlopen() the
 * first time any of them is called.  Only the tool is linked this way: the
 * shared libraiiaf and pkg-config users link the libraries as usual. */
#ifndef RAIIAF_CLI_LAZY_H
#define RAIIAF_CLI_LAZY_H

/* dlopen()s `soname`; if it cannot be loaded, prints which library and why
 * and exits with 4, the tool's system-error status (missing, or the
 * loader out of memory).  Never returns NULL. */
void *lazy_open(const char *soname);

/* The address of `name` in the library `handle` (from lazy_open of
 * `soname`); exits with 4 and a message when the library lacks it. */
void *lazy_sym(void *handle, const char *soname, const char *name);

#endif
