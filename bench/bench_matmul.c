/* Matmul throughput on SmolLM2-135M's matrix shapes plus a 1024 x 1024 one (whose rows
 * every block type can hold: 576 is no multiple of 256, so the K/IQ types run only
 * there): GFLOP/s and weight GB/s for decode (m = 1) and prefill (m = 128), 1 and 2
 * threads, per weight type and level.
 *   build/bench/bench_matmul [type ...]     (default: q8_0 q4_K; OMNI_CPU caps the level)
 *   e.g. build/bench/bench_matmul q4_K q2_K q3_K iq4_xs iq4_nl mxfp4 iq3_s iq2_s
 * BENCH_SHAPES="1024x3072,3072x1024" (k x n) and BENCH_M=512 (the prefill rows) replace
 * the default shapes and m = 128, e.g. for a bigger model's projections. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/cpu.h"
#include "core/dtype.h"
#include "core/matmul.h"
#include "core/pool.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void bench(int type, int k, int n, int m, struct pool *p, const char *label) {
    size_t rb = dtype_row_bytes(type, k);
    if (!rb) return;
    /* Several copies of the weights (>= 256 MB in all for small ones) so decode reads
     * from DRAM as it does in a real model, not from cache. */
    size_t wbytes = rb * (size_t)n;
    int copies = (int)((256u << 20) / wbytes) + 1;
    if (m > 1 || getenv("BENCH_HOT")) copies = 1; /* BENCH_HOT: weights stay in cache */
    char *wq = malloc(wbytes * (size_t)copies);
    float *row = malloc(sizeof(float) * (size_t)k), *x = malloc(sizeof(float) * (size_t)k * m);
    float *y = malloc(sizeof(float) * (size_t)n * m);
    srand(1);
    for (int j = 0; j < n; j++) {
        for (int e = 0; e < k; e++) row[e] = (float)rand() / RAND_MAX - 0.5f;
        quantize_row(type, row, wq + (size_t)j * rb, k);
    }
    for (int c = 1; c < copies; c++) memcpy(wq + c * wbytes, wq, wbytes);
    for (long i = 0; i < (long)k * m; i++) x[i] = (float)rand() / RAND_MAX - 0.5f;
    struct tensor t = {.name = "w", .type = type, .n_dims = 2, .ne = {k, n, 1, 1}, .data = wq, .nbytes = wbytes};
    matmul(p, &t, x, y, m); /* warm up */
    int iters = 0;
    double t0 = now(), c0 = cpu_now(), el;
    do {
        t.data = wq + (size_t)(iters % copies) * wbytes;
        matmul(p, &t, x, y, m);
        iters++;
        el = now() - t0;
    } while (el < 0.3 || iters < 3);
    double per = el / iters, cpu_per = (cpu_now() - c0) / iters;
    double gflops = 2.0 * k * n * m / per / 1e9, gbs = (double)wbytes / per / 1e9;
    /* CPU time per call counts only when we were running: on a shared, loaded machine
     * flops / cpu-seconds shows what a core does, wall-clock what the user got. */
    printf("| %-5s | %-7s | %5dx%-6d | %3d | %d | %9.1f | %8.1f | %10.1f | %9.1f |\n", dtype_name(type), label, k, n,
           m, pool_size(p), gflops, gbs, per * 1e6, 2.0 * k * n * m / cpu_per / 1e9);
    free(wq); free(row); free(x); free(y);
}

int main(int argc, char **argv) {
    int types[16], nt = 0;
    for (int i = 1; i < argc && nt < 16; i++) {
        int t = dtype_from_name(argv[i]);
        if (t < 0) { fprintf(stderr, "bench_matmul: unknown type '%s'\n", argv[i]); return 1; }
        types[nt++] = t;
    }
    if (!nt) { types[nt++] = DT_Q8_0; types[nt++] = DT_Q4_K; }
    int shapes[16][2] = {{576, 576}, {576, 1536}, {1536, 576}, {576, 49152}, {1024, 1024}}, ns = 5;
    const char *env = getenv("BENCH_SHAPES");
    if (env && *env) {
        ns = 0;
        for (const char *q = env; *q && ns < 16;) {
            int k, n, used = 0;
            if (sscanf(q, "%dx%d%n", &k, &n, &used) != 2 || k <= 0 || n <= 0) {
                fprintf(stderr, "bench_matmul: BENCH_SHAPES wants KxN[,KxN...], e.g. 1024x3072,3072x1024\n");
                return 1;
            }
            shapes[ns][0] = k, shapes[ns][1] = n, ns++;
            q += used;
            if (*q == ',') q++;
        }
    }
    int pm = getenv("BENCH_M") ? atoi(getenv("BENCH_M")) : 128;
    if (pm < 2) pm = 128;
    printf("\n## matmul, %s (k x n), level %s\n\n", env && *env ? env : "SmolLM2-135M shapes and 1024x1024",
           cpu_level_name(cpu_level()));
    printf("| type  | level   | k x n        |   m | t |  GFLOP/s | weight GB/s | us/call | GFLOP/cpu-s |\n");
    printf("|---|---|---|---|---|---|---|---|---|\n");
    for (int th = 1; th <= 2; th++) {
        struct pool *p = pool_create(th);
        for (int ti = 0; ti < nt; ti++)
            for (int s = 0; s < ns; s++)
                for (int mi = 0; mi < 2; mi++)
                    bench(types[ti], shapes[s][0], shapes[s][1], mi ? pm : 1, p, cpu_level_name(cpu_level()));
        pool_free(p);
    }
    return 0;
}
