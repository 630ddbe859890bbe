/* bigbuf.c -- see bigbuf.h. */
#include "bigbuf.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)
/* From half a huge page up, one huge page beats 256+ small faults. */
#define BIG ((size_t)1 << 20)

int rf_bigbuf_alloc(rf_bigbuf *b, size_t n)
{
    b->p = NULL;
    b->base = NULL;
    b->len = 0;
    if (n < BIG) {
        b->p = malloc(n ? n : 1);
        return b->p ? 0 : -1;
    }
    /* Whole huge pages, plus one to align the start. */
    if (n > SIZE_MAX - 2 * HUGE_PAGE) return -1;
    size_t want = (n + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE, len = want + HUGE_PAGE;
    void *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return -1;
    unsigned char *p = (unsigned char *)(((uintptr_t)base + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
#ifdef MADV_HUGEPAGE
    (void)madvise(p, want, MADV_HUGEPAGE); /* advice only: without it the buffer still works */
#endif
    b->p = p;
    b->base = base;
    b->len = len;
    return 0;
}

void rf_bigbuf_free(rf_bigbuf *b)
{
    if (b->base) munmap(b->base, b->len);
    else free(b->p);
    b->p = NULL;
    b->base = NULL;
    b->len = 0;
}
