/* lazy.c -- dlopen()/dlsym() with the tool's error message (lazy.h). */
#include "lazy.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

void *lazy_open(const char *soname)
{
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        /* Nothing can go on without it: a missing library at start would
         * have stopped the tool the same way, only earlier.  A system error
         * (exit 4, as the README's rule says), whether the library is not
         * installed or the loader ran out of memory mapping it. */
        const char *why = dlerror();
        fprintf(stderr, "raiiaf: cannot load %s, which this command needs: %s\n", soname, why ? why : "unknown error");
        exit(4);
    }
    return h;
}

void *lazy_sym(void *handle, const char *soname, const char *name)
{
    dlerror();
    void *p = dlsym(handle, name);
    if (!p) {
        const char *why = dlerror();
        fprintf(stderr, "raiiaf: %s has no %s: %s\n", soname, name, why ? why : "symbol is NULL");
        exit(4);
    }
    return p;
}
