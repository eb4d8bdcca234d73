/* Large zeroed buffers on huge pages where the kernel allows (bigbuf.h). A request from
 * 4 MiB up maps 2 MiB more than it needs and hands out the first 2 MiB boundary inside, so
 * the kernel can back it with whole huge pages; the slack before and after is unmapped
 * at once. Smaller requests go to aligned_alloc. */
#define _DEFAULT_SOURCE
#include "core/bigbuf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_SZ ((size_t)2 << 20)
#if defined(__SANITIZE_ADDRESS__)
#define HUGE_FROM SIZE_MAX /* the heap only, which the address sanitizer watches */
#else
#define HUGE_FROM ((size_t)4 << 20)
#endif

static size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

void *bigbuf_alloc(size_t n) {
    if (n == 0 || n > SIZE_MAX / 2) return NULL;
    if (n < HUGE_FROM) {
        size_t r = round_up(n, 64);
        void *p = aligned_alloc(64, r);
        if (p) memset(p, 0, r);
        return p;
    }
    size_t len = round_up(n, HUGE_SZ), map = len + HUGE_SZ;
    char *raw = mmap(NULL, map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    char *p = (char *)round_up((uintptr_t)raw, HUGE_SZ);
    if (p > raw) munmap(raw, (size_t)(p - raw));
    if (raw + map > p + len) munmap(p + len, (size_t)(raw + map - (p + len)));
#ifdef MADV_HUGEPAGE
    madvise(p, len, MADV_HUGEPAGE); /* advice only: without huge pages the buffer still works */
#endif
    return p;
}

void bigbuf_free(void *p, size_t n) {
    if (!p) return;
    if (n < HUGE_FROM)
        free(p);
    else
        munmap(p, round_up(n, HUGE_SZ));
}
