/* The compute thread pool. A job is published as one 64-bit word: its number in the
 * high half and the next unclaimed part in the low half. Every thread (the caller too)
 * claims parts with a compare-and-swap that also checks the job number, so a worker
 * that wakes late never touches a finished job, and the caller only waits for parts
 * that are really running. Workers spin a while after each job (a decode step makes
 * ~200 small jobs back to back and waking a sleeping thread costs tens of
 * microseconds), then sleep on a condition variable so an idle process burns no CPU. */
#include "core/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* About a millisecond of spinning before a worker sleeps. */
#define SPIN_ITERS 20000
/* Spin without yielding this long first (some tens of microseconds): the gaps between
 * the jobs of a decode step are shorter, and a yield is a system call (slow in a VM)
 * that the next job then waits for. */
#define SPIN_NO_YIELD 2048

struct pool {
    /* Cold: touched when a pool starts, stops, or a worker sleeps. */
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* One job at a time: held by the thread inside pool_run. On its own cache line:
     * sharing one with job/active (which the workers spin on) cost decode 5% on 2 cores. */
    _Alignas(64) pthread_mutex_t run_mu;
    /* Hot: the current job, read by every worker. */
    _Alignas(64) void (*fn)(void *, int, int);
    void *arg;
    _Atomic uint64_t job;     /* job number << 32 | next part to claim */
    _Atomic int active;       /* workers (not the caller) between checking in and out of a job */
    _Atomic int sleepers;     /* workers blocked (or about to block) on cv */
    _Atomic int stop;
};

/* The thread inside pool_run's job (caller or worker), so a nested call runs inline
 * instead of waiting for itself. */
static _Thread_local int in_job;

struct worker_arg { struct pool *p; int ith; };

static uint32_t job_id(uint64_t j) { return (uint32_t)(j >> 32); }

/* Claims the next part of job `id`, or returns -1 when it has none left (or is over). */
static int claim(struct pool *p, uint32_t id) {
    uint64_t j = atomic_load(&p->job);
    while (job_id(j) == id && (int)(uint32_t)j < p->n)
        if (atomic_compare_exchange_weak(&p->job, &j, j + 1)) return (int)(uint32_t)j;
    return -1;
}

static void *worker_main(void *v) {
    struct worker_arg wa = *(struct worker_arg *)v;
    free(v);
    struct pool *p = wa.p;
    uint32_t seen = 0;
    for (;;) {
        uint32_t id;
        int spins = 0;
        while ((id = job_id(atomic_load_explicit(&p->job, memory_order_acquire))) == seen && !atomic_load(&p->stop)) {
            if (++spins < SPIN_ITERS) {
                /* Yield now and then: with more threads than free cores, our spinning
                 * would otherwise starve the thread that has the work. */
                if (spins > SPIN_NO_YIELD && spins % 64 == 0) sched_yield();
                else cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            /* seq_cst on both sides: either we see the new job here, or pool_run sees us asleep. */
            while (job_id(atomic_load(&p->job)) == seen && !atomic_load(&p->stop)) pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
            spins = 0;
        }
        if (atomic_load(&p->stop)) break;
        seen = id;
        /* Check in before claiming: the caller, once every part is claimed, waits for
         * active == 0, so fn and arg stay valid while we run a part. */
        atomic_fetch_add(&p->active, 1);
        in_job = 1;
        for (int part; (part = claim(p, id)) >= 0;) p->fn(p->arg, part, p->n);
        in_job = 0;
        atomic_fetch_sub_explicit(&p->active, 1, memory_order_release);
    }
    return NULL;
}

struct pool *pool_create(int n_threads) {
    if (n_threads <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = c > 0 ? (int)c : 1;
    }
    struct pool *p = aligned_alloc(64, (sizeof *p + 63) & ~(size_t)63);  /* _Alignas above */
    if (p) memset(p, 0, sizeof *p);
    if (!p) return NULL;
    p->n = n_threads;
    /* part index n: nothing to claim until the first pool_run */
    atomic_store(&p->job, (uint64_t)(uint32_t)n_threads);
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->run_mu, NULL);
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
    pthread_mutex_destroy(&p->run_mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p);
}

int pool_size(const struct pool *p) { return p ? p->n : 1; }

static struct pool *process_pool;

struct pool *pool_process(int n_threads) {
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&mu);
    if (!process_pool) process_pool = pool_create(n_threads);
    struct pool *p = process_pool;
    pthread_mutex_unlock(&mu);
    return p;
}

/* Foreground work (an engine with requests) in progress, and whether this thread's jobs
 * are background work that waits for it. */
static _Atomic int fg_users;
static _Thread_local int background;

void pool_foreground(int on) { atomic_fetch_add(&fg_users, on ? 1 : -1); }
void pool_set_background(int on) { background = on; }
int pool_foreground_busy(void) { return atomic_load(&fg_users) > 0; }

void pool_run(struct pool *p, void (*fn)(void *arg, int ith, int nth), void *arg) {
    if (background && !in_job)
        while (atomic_load(&fg_users) > 0) usleep(2000);
    if (!p || p->n == 1 || in_job) {
        fn(arg, 0, 1);
        return;
    }
    pthread_mutex_lock(&p->run_mu);
    in_job = 1;
    /* No worker is inside a job here (the previous pool_run waited for active == 0),
     * and none can claim before the new job word below is published. */
    p->fn = fn;
    p->arg = arg;
    uint32_t id = job_id(atomic_load(&p->job)) + 1;
    atomic_store(&p->job, (uint64_t)id << 32); /* seq_cst: publishes fn/arg */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    for (int part; (part = claim(p, id)) >= 0;) fn(arg, part, p->n);
    long spins = 0;
    while (atomic_load_explicit(&p->active, memory_order_acquire) > 0)
        if (++spins < 4000) cpu_relax();
        else sched_yield();
    in_job = 0;
    pthread_mutex_unlock(&p->run_mu);
}

/* Per-thread scratch; the key's destructor frees it when its thread exits. */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
struct scratch { void *buf; size_t bytes; };

static void scratch_free(void *v) {
    struct scratch *sc = v;
    free(sc->buf);
    free(sc);
}

static void scratch_key_make(void) { pthread_key_create(&scratch_key, scratch_free); }

void *pool_scratch(struct pool *p, size_t bytes) {
    if (!p) return NULL;
    pthread_once(&scratch_once, scratch_key_make);
    struct scratch *sc = pthread_getspecific(scratch_key);
    if (!sc) {
        if (!(sc = calloc(1, sizeof *sc))) return NULL;
        if (pthread_setspecific(scratch_key, sc)) { free(sc); return NULL; }
    }
    if (bytes > sc->bytes) {
        /* round up generously so a slowly growing batch does not reallocate every call */
        size_t want = (bytes + bytes / 2 + 4095) & ~(size_t)4095;
        void *b = aligned_alloc(64, want);
        if (!b) return NULL;
        free(sc->buf);
        sc->buf = b;
        sc->bytes = want;
    }
    return sc->buf;
}
