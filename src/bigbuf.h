/* bigbuf.h -- scratch buffers of megabytes that are cheap to fault in
 * (bigbuf.c).
 *
 * A multi-megabyte malloc is fresh memory, and the kernel hands it out one
 * 4 KiB page fault at a time: on the virtual machines this was measured on,
 * faulting in 4 MiB took 13 ms, more than inflating a 1024x1024 PNG into it
 * (5 ms).  Buffers of 1 MiB and more are therefore mapped 2 MiB-aligned, in
 * whole 2 MiB pages, and marked for transparent huge pages, which the same 4 MiB fault in in
 * 0.3 ms; smaller ones come from malloc.  No state is kept between calls. */
#ifndef RAIIAF_BIGBUF_H
#define RAIIAF_BIGBUF_H

#include <stddef.h>

typedef struct rf_bigbuf {
    unsigned char *p; /* the usable bytes */
    void *base;       /* the mapping (NULL: p is from malloc) */
    size_t len;
} rf_bigbuf;

/* Makes b->p point to at least n usable bytes (n may be 0).  Returns 0, or
 * -1 if memory ran out (b->p is then NULL). */
int rf_bigbuf_alloc(rf_bigbuf *b, size_t n);
/* Frees what rf_bigbuf_alloc gave; accepts a zeroed or freed buffer. */
void rf_bigbuf_free(rf_bigbuf *b);

#endif
