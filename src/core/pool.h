/* The compute thread pool: one per process (pool_process), reused for every kernel
 * of every model. Dispatch must be cheap: a decode step makes hundreds of calls, so
 * the workers spin briefly before sleeping. Several threads may submit jobs (the LLM
 * engine, a voice session's Whisper, an HTTP thread's transcription): jobs are
 * queued one at a time on the same workers, never run side by side. */
#ifndef OMNI_CORE_POOL_H
#define OMNI_CORE_POOL_H
#include <stddef.h>

struct pool;

/* n_threads <= 0 means "number of CPU cores". The calling thread is worker 0. */
struct pool *pool_create(int n_threads);
/* The process's pool, created by the first call (n_threads as for pool_create; later
 * calls' n_threads are ignored) and kept until exit. NULL only when out of memory. */
struct pool *pool_process(int n_threads);
void pool_free(struct pool *p);
int pool_size(const struct pool *p);

/* Runs fn(arg, ith, nth) once for every part ith = 0..nth-1 (nth = pool_size) and
 * returns when all are done. Parts are claimed by whichever thread comes first, the
 * caller included, so a worker the OS has not scheduled yet does not hold the job up;
 * a part never runs on two threads at once, so per-ith scratch is safe, but ith is
 * not a thread identity. p may be NULL: then fn(arg, 0, 1) runs inline.
 * Any thread may call it: a second caller waits until the running job is done. A
 * call from inside fn (a job that starts a job) runs inline on that thread. */
void pool_run(struct pool *p, void (*fn)(void *arg, int ith, int nth), void *arg);

/* Priorities between the process's users of the pool: foreground work (a model's engine
 * while it has requests) marks itself with pool_foreground(1) ... pool_foreground(0)
 * (counted, any thread); a thread that called pool_set_background(1) (a training run in
 * a server) waits before each of its jobs while any foreground work is marked, so it
 * only takes the cores when nothing else wants them. */
void pool_foreground(int on);
void pool_set_background(int on);
int pool_foreground_busy(void);

/* A 64-byte-aligned buffer of at least `bytes` owned by the calling thread and reused
 * by its every call (it grows, never shrinks; freed when the thread exits), so per-call
 * scratch such as matmul's converted activations costs no malloc on the hot path and
 * two threads submitting jobs never share it. Valid until that thread's next
 * pool_scratch. NULL when p is NULL or memory runs out. */
void *pool_scratch(struct pool *p, size_t bytes);

/* Splits [0, n) into nth near-equal chunks; returns chunk ith in [*lo, *hi). */
static inline void pool_split(long n, int ith, int nth, long *lo, long *hi) {
    long per = n / nth, rem = n % nth;
    *lo = ith * per + (ith < rem ? ith : rem);
    *hi = *lo + per + (ith < rem ? 1 : 0);
}
#endif
