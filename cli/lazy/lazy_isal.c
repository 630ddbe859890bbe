/* lazy_isal.c -- ISA-L's inflate, loaded the first time the tool checks the
 * pixel data of a PNG too large to inflate whole (src/image_png_check.c).
 * Debian ships no static libisal, and loading it at start would cost every
 * `raiiaf --version` a shared library it almost never uses.  Each
 * pointer's type is taken from the <isa-l/igzip_lib.h> prototype, so a
 * mismatch does not compile. */
#include "lazy.h"

#include <isa-l/igzip_lib.h>
#include <pthread.h>

/* Debian 12's libisal2 has SONAME libisal.so.2. */
#define ISAL_SONAME "libisal.so.2"

/* The resolved functions: written once under pthread_once, read-only after. */
static struct {
    __typeof__(&isal_inflate_init) isal_inflate_init;
    __typeof__(&isal_inflate) isal_inflate;
} real;
static pthread_once_t isal_once = PTHREAD_ONCE_INIT;

static void isal_load(void)
{
    void *h = lazy_open(ISAL_SONAME);
    *(void **)&real.isal_inflate_init = lazy_sym(h, ISAL_SONAME, "isal_inflate_init");
    *(void **)&real.isal_inflate = lazy_sym(h, ISAL_SONAME, "isal_inflate");
}

static void load(void) { pthread_once(&isal_once, isal_load); }

void isal_inflate_init(struct inflate_state *state)
{
    load();
    real.isal_inflate_init(state);
}

int isal_inflate(struct inflate_state *state)
{
    load();
    return real.isal_inflate(state);
}
