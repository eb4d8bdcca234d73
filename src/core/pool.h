/* The compute thread pool: one per process (or per model), reused for every
 * kernel. Dispatch must be cheap: a decode step makes hundreds of calls, so the
 * workers spin briefly before sleeping. */
#ifndef OMNI_CORE_POOL_H
#define OMNI_CORE_POOL_H
#include <stddef.h>

struct pool;

/* n_threads <= 0 means "number of CPU cores". The calling thread is worker 0. */
struct pool *pool_create(int n_threads);
void pool_free(struct pool *p);
int pool_size(const struct pool *p);

/* Runs fn(arg, ith, nth) once for every part ith = 0..nth-1 (nth = pool_size) and
 * returns when all are done. Parts are claimed by whichever thread comes first, the
 * caller included, so a worker the OS has not scheduled yet does not hold the job up;
 * a part never runs on two threads at once, so per-ith scratch is safe, but ith is
 * not a thread identity. p may be NULL: then fn(arg, 0, 1) runs inline.
 * Not reentrant: fn must not call pool_run on the same pool. */
void pool_run(struct pool *p, void (*fn)(void *arg, int ith, int nth), void *arg);

/* A 64-byte-aligned buffer of at least `bytes` owned by the pool and reused by every
 * call (it grows, never shrinks), so per-call scratch such as matmul's converted
 * activations costs no malloc on the hot path. Belongs to the thread that calls
 * pool_run; valid until the next pool_scratch or pool_free. NULL when p is NULL or
 * memory runs out. */
void *pool_scratch(struct pool *p, size_t bytes);

/* Splits [0, n) into nth near-equal chunks; returns chunk ith in [*lo, *hi). */
static inline void pool_split(long n, int ith, int nth, long *lo, long *hi) {
    long per = n / nth, rem = n % nth;
    *lo = ith * per + (ith < rem ? ith : rem);
    *hi = *lo + per + (ith < rem ? 1 : 0);
}
#endif
