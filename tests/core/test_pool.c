/* The thread pool: every worker runs each job exactly once, jobs see each other's
 * results in order, sleeping workers wake up, a NULL pool runs inline, several
 * submitting threads queue their jobs on one pool, and scratch is per thread. */
#include "test.h"
#include "core/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

struct count_job { _Atomic int calls[16]; _Atomic int nth_seen; long sum[16]; const long *data; long n; };

static void count_fn(void *arg, int ith, int nth) {
    struct count_job *j = arg;
    atomic_fetch_add(&j->calls[ith], 1);
    j->nth_seen = nth;
    long lo, hi, s = 0;
    pool_split(j->n, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++) s += j->data[i];
    j->sum[ith] = s;
}

static long run_sum(struct pool *p, const long *data, long n, struct count_job *j) {
    memset(j, 0, sizeof *j);
    j->data = data;
    j->n = n;
    pool_run(p, count_fn, j);
    long s = 0;
    for (int i = 0; i < pool_size(p); i++) s += j->sum[i];
    return s;
}

TEST(each_worker_runs_once_per_job) {
    static long data[10007];
    long want = 0;
    for (long i = 0; i < 10007; i++) { data[i] = i * 3 + 1; want += data[i]; }
    struct pool *p = pool_create(3);
    CHECK(p != NULL);
    CHECK_EQ_INT(pool_size(p), 3);
    struct count_job j;
    int bad = 0;
    for (int it = 0; it < 5000; it++) {
        long n = 1000 + it % 9007; /* sum of 3i+1 for i < n */
        if (run_sum(p, data, n, &j) != 3 * n * (n - 1) / 2 + n) bad++;
        for (int t = 0; t < 3; t++) if (j.calls[t] != 1) bad++;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(run_sum(p, data, 10007, &j), want);
    pool_free(p);
}

TEST(sleeping_workers_wake_up) {
    static long data[100];
    for (int i = 0; i < 100; i++) data[i] = 1;
    struct pool *p = pool_create(2);
    struct count_job j;
    for (int it = 0; it < 3; it++) {
        struct timespec ts = {0, 30 * 1000 * 1000}; /* long enough for workers to stop spinning */
        nanosleep(&ts, NULL);
        CHECK_EQ_INT(run_sum(p, data, 100, &j), 100);
        CHECK_EQ_INT(j.calls[1], 1);
    }
    pool_free(p);
}

TEST(null_pool_and_defaults) {
    static long data[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    struct count_job j;
    CHECK_EQ_INT(run_sum(NULL, data, 10, &j), 55);
    CHECK_EQ_INT(j.nth_seen, 1);
    CHECK_EQ_INT(pool_size(NULL), 1);
    struct pool *p = pool_create(0);
    CHECK(p && pool_size(p) >= 1);
    CHECK_EQ_INT(run_sum(p, data, 10, &j), 55);
    pool_free(p);
    pool_free(NULL);
    p = pool_create(1);
    CHECK_EQ_INT(run_sum(p, data, 10, &j), 55);
    pool_free(p);
}

TEST(split_covers_range) {
    for (long n = 0; n < 50; n++)
        for (int nth = 1; nth < 7; nth++) {
            long prev = 0;
            for (int i = 0; i < nth; i++) {
                long lo, hi;
                pool_split(n, i, nth, &lo, &hi);
                CHECK(lo == prev && hi >= lo && hi - lo <= n / nth + 1);
                prev = hi;
            }
            CHECK(prev == n);
        }
}

/* Many tiny back-to-back jobs (the decode pattern) all complete; how fast they go is
 * for the benchmarks (bench/bench_matmul), not for a test on a shared machine. */
TEST(many_small_dispatches_complete) {
    static long data[64];
    for (int i = 0; i < 64; i++) data[i] = 1;
    struct pool *p = pool_create(2);
    struct count_job j;
    int bad = 0;
    for (int it = 0; it < 2000; it++) bad += run_sum(p, data, 64, &j) != 64;
    CHECK_EQ_INT(bad, 0);
    pool_free(p);
}

TEST(scratch_grows_and_is_reused) {
    CHECK(pool_scratch(NULL, 16) == NULL);
    struct pool *p = pool_create(2);
    char *a = pool_scratch(p, 100);
    CHECK(a != NULL && (uintptr_t)a % 64 == 0);
    memset(a, 7, 100);
    CHECK(pool_scratch(p, 50) == a); /* smaller requests reuse the buffer */
    char *b = pool_scratch(p, 1 << 20);
    CHECK(b != NULL && (uintptr_t)b % 64 == 0);
    memset(b, 1, 1 << 20); /* really that big (ASan would see an overflow) */
    CHECK(pool_scratch(p, 1 << 19) == b);
    pool_free(p);
}

/* Two threads hammer one pool (the engine and a voice session's Whisper do): every job
 * must still run each part exactly once with the right sums, and a job started from
 * inside a job runs inline instead of deadlocking. */
struct submitter { struct pool *p; const long *data; long n, want; int bad; };

static void *submit_loop(void *arg) {
    struct submitter *s = arg;
    struct count_job j;
    for (int k = 0; k < 2000; k++) {
        long got = run_sum(s->p, s->data, s->n, &j);
        for (int i = 0; i < pool_size(s->p); i++) if (atomic_load(&j.calls[i]) != 1) s->bad++;
        if (got != s->want) s->bad++;
    }
    return NULL;
}

struct nested { struct pool *p; const long *data; long sum[8]; };
static void nested_fn(void *arg, int ith, int nth) {
    struct nested *n = arg;
    struct count_job j;
    n->sum[ith] = run_sum(n->p, n->data, 100, &j);
}

TEST(concurrent_submitters_queue_jobs) {
    static long data[4099];
    long want = 0;
    for (long i = 0; i < 4099; i++) { data[i] = i ^ 5; want += data[i]; }
    struct pool *p = pool_create(2);
    CHECK(p != NULL);
    struct submitter a = {p, data, 4099, want, 0}, b = {p, data, 1000, 0, 0};
    for (long i = 0; i < 1000; i++) b.want += data[i];
    pthread_t ta, tb;
    CHECK(pthread_create(&ta, NULL, submit_loop, &a) == 0);
    CHECK(pthread_create(&tb, NULL, submit_loop, &b) == 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK_EQ_INT(a.bad, 0);
    CHECK_EQ_INT(b.bad, 0);
    struct nested n = {p, data, {0}};
    long want100 = 0;
    for (int i = 0; i < 100; i++) want100 += data[i];
    pool_run(p, nested_fn, &n);
    for (int i = 0; i < pool_size(p); i++) CHECK(n.sum[i] == want100);
    pool_free(p);
}

static void *scratch_thread(void *arg) {
    return pool_scratch(arg, 4096);
}

TEST(scratch_is_per_thread) {
    struct pool *p = pool_create(2);
    void *mine = pool_scratch(p, 4096), *theirs = NULL;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, scratch_thread, p) == 0);
    pthread_join(t, &theirs);
    CHECK(mine != NULL && theirs != NULL && mine != theirs);
    CHECK(pool_process(0) == pool_process(7)); /* one per process, made once */
    pool_free(p);
}

int main(void) {
    TEST_EXPECT(8);
    RUN(each_worker_runs_once_per_job);
    RUN(sleeping_workers_wake_up);
    RUN(null_pool_and_defaults);
    RUN(split_covers_range);
    RUN(many_small_dispatches_complete);
    RUN(scratch_grows_and_is_reused);
    RUN(concurrent_submitters_queue_jobs);
    RUN(scratch_is_per_thread);
    return test_summary();
}
