/* Zeroed buffers of many megabytes (a trainer's activations, scratch of a whole context):
 * allocated with mmap and, from 4 MiB, marked for transparent huge pages. calloc hands such
 * sizes to mmap too, but then every 4 KiB page faults on first touch: a SmolLM2-135M
 * fine-tune touched 200 000 pages in its first step, 1.5 s of kernel time on a virtual
 * machine, where a fault is dear. With 2 MiB pages the same memory takes a few hundred
 * faults, and the TLB covers it while it is used. Where the kernel has no huge pages the
 * buffer is an ordinary zeroed mapping; below 4 MiB it comes from the heap. Thread-safe. */
#ifndef OMNI_CORE_BIGBUF_H
#define OMNI_CORE_BIGBUF_H
#include <stddef.h>

/* n zero bytes (n > 0), 64-byte aligned; NULL when out of memory */
void *bigbuf_alloc(size_t n);
/* frees a bigbuf_alloc(n) result, given the same n; NULL does nothing */
void bigbuf_free(void *p, size_t n);

#endif
