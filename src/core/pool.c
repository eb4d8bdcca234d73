/* The compute thread pool. Workers wait on a generation counter: a new job bumps it.
 * They spin on it for a while after each job (a decode step dispatches ~200 small
 * jobs back to back, and waking a sleeping thread costs tens of microseconds), then
 * fall asleep on a condition variable so an idle process burns no CPU. */
#include "core/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* About a millisecond of spinning before a worker sleeps. */
#define SPIN_ITERS 20000

struct pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    void (*fn)(void *, int, int);
    void *arg;
    _Atomic unsigned gen;     /* bumped once per pool_run */
    _Atomic int pending;      /* workers (not the caller) still running the current job */
    _Atomic int sleepers;     /* workers blocked (or about to block) on cv */
    _Atomic int stop;
    void *scratch;            /* see pool_scratch */
    size_t scratch_bytes;
};

struct worker_arg { struct pool *p; int ith; };

static void *worker_main(void *v) {
    struct worker_arg wa = *(struct worker_arg *)v;
    free(v);
    struct pool *p = wa.p;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen && !atomic_load(&p->stop)) {
            if (++spins < SPIN_ITERS) {
                /* Yield now and then: with more threads than free cores, our spinning
                 * would otherwise starve the thread that has the work. */
                if (spins % 64 == 0) sched_yield();
                else cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            /* seq_cst on both sides: either we see the new gen here, or pool_run sees us asleep. */
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop)) pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
            spins = 0;
        }
        if (atomic_load(&p->stop)) break;
        seen = g;
        p->fn(p->arg, wa.ith, p->n);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
    }
    return NULL;
}

struct pool *pool_create(int n_threads) {
    if (n_threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = c > 0 ? (int)c : 1;
    }
    struct pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    if (!p->threads) { free(p); return NULL; }
    for (int i = 1; i < n_threads; i++) {
        struct worker_arg *wa = malloc(sizeof *wa);
        if (wa) { wa->p = p; wa->ith = i; }
        if (!wa || pthread_create(&p->threads[i], NULL, worker_main, wa)) {
            free(wa);
            p->n = i; /* run with the workers we have */
            break;
        }
    }
    return p;
}

void pool_free(struct pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p->scratch);
    free(p);
}

void *pool_scratch(struct pool *p, size_t bytes) {
    if (!p) return NULL;
    if (bytes > p->scratch_bytes) {
        /* round up generously so a slowly growing batch does not reallocate every call */
        size_t want = (bytes + bytes / 2 + 4095) & ~(size_t)4095;
        void *b = aligned_alloc(64, want);
        if (!b) return NULL;
        free(p->scratch);
        p->scratch = b;
        p->scratch_bytes = want;
    }
    return p->scratch;
}

int pool_size(const struct pool *p) { return p ? p->n : 1; }

void pool_run(struct pool *p, void (*fn)(void *arg, int ith, int nth), void *arg) {
    if (!p || p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
    atomic_fetch_add(&p->gen, 1); /* seq_cst: publishes fn/arg/pending */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    fn(arg, 0, p->n);
    long spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0)
        if (++spins < 4000) cpu_relax();
        else sched_yield();
}
