/* matmul against a double-precision product of the dequantized weights, with a
 * tolerance computed from how much the activation conversion may move each input;
 * and every SIMD level against the scalar path. */
#include "test.h"
#include "core/cpu.h"
#include "core/dtype.h"
#include "core/fp16.h"
#include "core/matmul.h"
#include "core/matmul_kern.h"
#include "core/pool.h"
#include "core/quant.h"

#include <stdint.h>

static uint32_t rng = 777;
static float frand(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffffff) / 8388608.0f - 1.0f;
}

static const int g_types[] = {DT_F32, DT_F16, DT_BF16, DT_Q8_0, DT_Q4_0, DT_Q4_1, DT_Q5_0,
                              DT_Q5_1, DT_Q4_K, DT_Q5_K, DT_Q6_K, DT_Q2_K, DT_Q3_K, DT_IQ4_XS,
                              DT_IQ4_NL, DT_MXFP4, DT_IQ2_XXS, DT_IQ3_XXS, DT_IQ2_XS, DT_IQ2_S, DT_IQ3_S};
/* The types whose SIMD kernels must give the scalar result bit for bit (quant.h). */
static const int g_exact_types[] = {DT_Q2_K, DT_Q3_K, DT_IQ4_XS, DT_IQ4_NL, DT_MXFP4, DT_IQ2_XXS, DT_IQ3_XXS, DT_IQ2_XS, DT_IQ2_S, DT_IQ3_S};
#define NTYPES (int)(sizeof g_types / sizeof *g_types)

struct case_data {
    int type, k, n, m;
    void *wq;
    float *wf, *x;
    struct tensor t;
};

static void make_case(struct case_data *c, int type, int k, int n, int m) {
    c->type = type; c->k = k; c->n = n; c->m = m;
    size_t rb = dtype_row_bytes(type, k);
    c->wq = malloc(rb * (size_t)n);
    c->wf = malloc(sizeof(float) * (size_t)k * n);
    c->x = malloc(sizeof(float) * (size_t)k * m);
    float *tmp = malloc(sizeof(float) * (size_t)k);
    for (int j = 0; j < n; j++) {
        for (int e = 0; e < k; e++) tmp[e] = frand() * (1 + (e % 7)) * 0.1f + (j % 3 == 0 ? 0.05f : 0);
        quantize_row(type, tmp, (char *)c->wq + j * rb, k);
        dequantize_row(type, (char *)c->wq + j * rb, c->wf + (size_t)j * k, k);
    }
    for (int i = 0; i < k * m; i++) c->x[i] = frand() * (i % 13 == 0 ? 4 : 1);
    free(tmp);
    c->t = (struct tensor){.name = "w", .type = type, .n_dims = 2, .ne = {k, n, 1, 1}, .data = c->wq,
                           .nbytes = rb * (size_t)n};
}

static void free_case(struct case_data *c) { free(c->wq); free(c->wf); free(c->x); }

/* How far the activation element x[e] may move when converted for this weight type. */
static double act_err(int type, const float *xrow, int e) {
    double ax = fabs(xrow[e]);
    switch (type) {
    case DT_F32: return ax * 1e-7;
    case DT_F16: return ax * (1.0 / 2048);
    case DT_BF16: return ax * (1.0 / 256);
    default: break;
    }
    int blk = dtype_info(type)->block; /* q8_K for the 256-blocks, q8_0 for the 32-blocks */
    int b0 = e / blk * blk;
    double amax = 0;
    for (int i = b0; i < b0 + blk; i++) amax = fmax(amax, fabs(xrow[i]));
    /* half a step, plus the fp16 rounding of the block scale */
    return amax / 127 * 0.5 + ax * (1.0 / 1024);
}

static int check_against_reference(struct case_data *c, const float *y) {
    int bad = 0;
    for (int i = 0; i < c->m; i++)
        for (int j = 0; j < c->n; j++) {
            const float *xr = c->x + (size_t)i * c->k, *wr = c->wf + (size_t)j * c->k;
            double ref = 0, tol = 1e-5, mag = 0;
            for (int e = 0; e < c->k; e++) {
                ref += (double)wr[e] * xr[e];
                tol += fabs(wr[e]) * act_err(c->type, xr, e);
                mag += fabs((double)wr[e] * xr[e]);
            }
            tol += mag * 1e-5; /* f32 accumulation */
            double got = y[(size_t)i * c->n + j];
            if (!(fabs(got - ref) <= tol)) {
                if (bad++ < 3)
                    fprintf(stderr, "  %s m=%d k=%d n=%d y[%d,%d] = %g, reference %g (tol %g)\n", dtype_name(c->type),
                            c->m, c->k, c->n, i, j, got, ref, tol);
            }
        }
    return bad;
}

TEST(scalar_matches_reference) {
    enum cpu_level saved = cpu_level();
    cpu_set_level(CPU_SCALAR);
    int ms[] = {1, 3, 17, 64};
    for (int t = 0; t < NTYPES; t++)
        for (int mi = 0; mi < 4; mi++) {
            struct case_data c;
            make_case(&c, g_types[t], 512, 37, ms[mi]);
            float *y = malloc(sizeof(float) * (size_t)c.m * c.n);
            matmul(NULL, &c.t, c.x, y, c.m);
            CHECK_EQ_INT(check_against_reference(&c, y), 0);
            free(y);
            free_case(&c);
        }
    cpu_set_level(saved);
}

/* Every level this CPU has, single- and multi-threaded, against the scalar result. */
static void simd_vs_scalar(enum cpu_level level) {
    struct pool *p = pool_create(2);
    int ms[] = {1, 2, 3, 4, 5, 8, 17, 64};
    int ns[] = {1, 3, 4, 37, 129};
    for (int t = 0; t < NTYPES; t++)
        for (int mi = 0; mi < 8; mi++)
            for (int ni = 0; ni < 5; ni++) {
                struct case_data c;
                int k = (t + mi) % 2 ? 512 : 768;
                /* an odd number of 32-blocks: the 512-bit kernels take blocks in pairs */
                if (dtype_info(g_types[t])->block == 32 && (t + mi + ni) % 3 == 0) k = 544;
                make_case(&c, g_types[t], k, ns[ni], ms[mi]);
                size_t ny = (size_t)c.m * c.n;
                float *y0 = malloc(sizeof(float) * ny), *y1 = malloc(sizeof(float) * ny);
                cpu_set_level(CPU_SCALAR);
                matmul(NULL, &c.t, c.x, y0, c.m);
                cpu_set_level(level);
                matmul((mi + ni) % 2 ? p : NULL, &c.t, c.x, y1, c.m);
                int bad = 0;
                for (size_t i = 0; i < ny; i++) {
                    const float *xr = c.x + (i / c.n) * c.k, *wr = c.wf + (i % c.n) * c.k;
                    double mag = 0;
                    for (int e = 0; e < c.k; e++) mag += fabs((double)wr[e] * xr[e]);
                    if (!(fabs(y0[i] - y1[i]) <= mag * 2e-5 + 1e-6)) {
                        if (bad++ < 3)
                            fprintf(stderr, "  %s %s m=%d n=%d k=%d out %zu: %g vs scalar %g\n", cpu_level_name(level),
                                    dtype_name(c.type), c.m, c.n, c.k, i, y1[i], y0[i]);
                    }
                }
                CHECK_EQ_INT(bad, 0);
                free(y0);
                free(y1);
                free_case(&c);
            }
    pool_free(p);
}

TEST(avx2_matches_scalar) {
    enum cpu_level saved = cpu_level();
    cpu_set_level(CPU_AVX2);
    if (cpu_level() < CPU_AVX2) { cpu_set_level(saved); SKIP("CPU lacks AVX2/FMA/F16C"); }
    simd_vs_scalar(CPU_AVX2);
    cpu_set_level(saved);
}

TEST(avx512_matches_scalar) {
    enum cpu_level saved = cpu_level();
    cpu_set_level(CPU_AVX512);
    if (cpu_level() < CPU_AVX512) { cpu_set_level(saved); SKIP("CPU lacks AVX-512 with VNNI"); }
    simd_vs_scalar(CPU_AVX512);
    cpu_set_level(saved);
}

/* Where our kernels follow llama.cpp's summation order (K-quants: ggml_vec_dot_*_K_q8_K;
 * q8_0: tinyBLAS_Q0_AVX / ggml_vec_dot_q8_0_q8_0) the 256-bit AVX2 and the AVX-512
 * kernels must agree to the last bit, for every tile shape and remainder. */
TEST(avx2_and_avx512_round_alike) {
    enum cpu_level saved = cpu_level();
    cpu_set_level(CPU_AVX512);
    if (cpu_level() < CPU_AVX512) { cpu_set_level(saved); SKIP("CPU lacks AVX-512 with VNNI"); }
    const int types[] = {DT_Q8_0, DT_Q4_K, DT_Q5_K, DT_Q6_K};
    int ms[] = {1, 3, 4, 7, 9}, ns[] = {1, 5, 8, 37};
    for (int t = 0; t < 4; t++)
        for (int mi = 0; mi < 5; mi++)
            for (int ni = 0; ni < 4; ni++) {
                struct case_data c;
                make_case(&c, types[t], types[t] == DT_Q8_0 && ni % 2 ? 544 : 768, ns[ni], ms[mi]);
                size_t ny = (size_t)c.m * c.n;
                float *y0 = malloc(sizeof(float) * ny), *y1 = malloc(sizeof(float) * ny);
                cpu_set_level(CPU_AVX2);
                matmul(NULL, &c.t, c.x, y0, c.m);
                cpu_set_level(CPU_AVX512);
                matmul(NULL, &c.t, c.x, y1, c.m);
                int bad = 0;
                for (size_t i = 0; i < ny; i++) bad += memcmp(&y0[i], &y1[i], sizeof(float)) != 0;
                CHECK_MSG(bad == 0, "%s m=%d n=%d: %d outputs differ in the last bits (%g vs %g)", dtype_name(c.type),
                          c.m, c.n, bad, y0[0], y1[0]);
                free(y0);
                free(y1);
                free_case(&c);
            }
    cpu_set_level(saved);
}

/* q2_K, q3_K, iq4_xs, iq4_nl, mxfp4 and the grid types: every SIMD level gives the scalar path's
 * result to the last bit, for every tile shape, remainder and thread split. */
static void exact_vs_scalar(enum cpu_level level, int *nbad) {
    struct pool *p = pool_create(2);
    int ms[] = {1, 2, 3, 5, 8, 17}, ns[] = {1, 3, 4, 7, 37};
    for (unsigned t = 0; t < sizeof g_exact_types / sizeof *g_exact_types; t++)
        for (int mi = 0; mi < 6; mi++)
            for (int ni = 0; ni < 5; ni++) {
                struct case_data c;
                int type = g_exact_types[t];
                make_case(&c, type, dtype_info(type)->block == 32 ? 544 : (mi + ni) % 2 ? 512 : 768, ns[ni], ms[mi]);
                size_t ny = (size_t)c.m * c.n;
                float *y0 = malloc(sizeof(float) * ny), *y1 = malloc(sizeof(float) * ny);
                cpu_set_level(CPU_SCALAR);
                matmul(NULL, &c.t, c.x, y0, c.m);
                cpu_set_level(level);
                matmul((mi + ni) % 2 ? p : NULL, &c.t, c.x, y1, c.m);
                int bad = 0;
                for (size_t i = 0; i < ny; i++) bad += memcmp(&y0[i], &y1[i], sizeof(float)) != 0;
                CHECK_MSG(bad == 0, "%s %s m=%d n=%d: %d outputs differ from scalar in the last bits (%.9g vs %.9g)",
                          cpu_level_name(level), dtype_name(type), c.m, c.n, bad, y1[0], y0[0]);
                *nbad += bad;
                free(y0);
                free(y1);
                free_case(&c);
            }
    pool_free(p);
}

TEST(new_types_simd_bitwise_equal_scalar) {
    enum cpu_level saved = cpu_level();
    int levels = 0, bad = 0;
    for (int lv = CPU_AVX2; lv <= CPU_AVX512; lv++) {
        cpu_set_level((enum cpu_level)lv);
        if ((int)cpu_level() != lv) continue;
        exact_vs_scalar((enum cpu_level)lv, &bad);
        levels++;
    }
    cpu_set_level(saved);
    if (!levels) SKIP("CPU lacks AVX2/FMA/F16C");
    CHECK_EQ_INT(bad, 0);
}

/* A decode step (m = 1) has kernels of its own (wider weight-row tiles), but every
 * output must still be summed exactly as in a batch: each row of an m = 5 product
 * must equal, bit for bit, the same row computed alone; at every SIMD level, over
 * 8-row tiles plus a remainder and odd block counts. */
TEST(decode_rows_match_batch_bitwise) {
    enum cpu_level saved = cpu_level();
    for (int lv = CPU_SCALAR; lv <= CPU_AVX512; lv++) {
        cpu_set_level((enum cpu_level)lv);
        if ((int)cpu_level() != lv) continue;
        for (int t = 0; t < NTYPES; t++)
            for (int kv = 0; kv < 2; kv++) {
                int type = g_types[t], blk = dtype_info(type)->block;
                int k = blk == 256 ? 768 : blk == 32 ? (kv ? 544 : 1056) : (kv ? 600 : 784);
                struct case_data c;
                make_case(&c, type, k, 37, 5);
                float *yb = malloc(sizeof(float) * 37 * 5), *y1 = malloc(sizeof(float) * 37);
                matmul(NULL, &c.t, c.x, yb, 5);
                int bad = 0;
                for (int i = 0; i < 5; i++) {
                    matmul(NULL, &c.t, c.x + (size_t)i * k, y1, 1);
                    for (int j = 0; j < 37; j++) bad += memcmp(&y1[j], &yb[i * 37 + j], sizeof(float)) != 0;
                }
                CHECK_MSG(bad == 0, "%s level %s k=%d: %d of 185 decode outputs differ from the batch's",
                          dtype_name(type), cpu_level_name(cpu_level()), k, bad);
                free(yb);
                free(y1);
                free_case(&c);
            }
    }
    cpu_set_level(saved);
}

/* Prefill is cache-blocked (MM_BLOCK_A bytes of activation rows per chunk, MM_BLOCK_W of
 * weight rows per block): shapes with several blocks and chunks, each with a remainder,
 * must give every output exactly as the row computed alone (decode is not blocked). */
TEST(cache_blocked_prefill_matches_decode_bitwise) {
    enum cpu_level saved = cpu_level();
    const int types[] = {DT_Q4_K, DT_Q5_K, DT_Q6_K, DT_Q8_0, DT_Q4_0, DT_F16};
    const int k = 2048, n = 517, m = 37;
    for (int lv = CPU_AVX2; lv <= CPU_AVX512; lv++) {
        cpu_set_level((enum cpu_level)lv);
        if ((int)cpu_level() != lv) continue;
        for (int t = 0; t < 6; t++) {
            struct case_data c;
            make_case(&c, types[t], k, n, m);
            REQUIRE(dtype_row_bytes(c.type, k) * n > 2 * MM_BLOCK_W, "the shape must span several weight blocks");
            REQUIRE((size_t)(k / 256) * 292 * m > 2 * MM_BLOCK_A, "the shape must span several activation chunks");
            float *yb = malloc(sizeof(float) * n * m), *y1 = malloc(sizeof(float) * n);
            matmul(NULL, &c.t, c.x, yb, m);
            int bad = 0;
            for (int i = 0; i < m; i++) {
                matmul(NULL, &c.t, c.x + (size_t)i * k, y1, 1);
                for (int j = 0; j < n; j++) bad += memcmp(&y1[j], &yb[(size_t)i * n + j], sizeof(float)) != 0;
            }
            CHECK_MSG(bad == 0, "%s level %s: %d of %d blocked prefill outputs differ from decode", dtype_name(c.type),
                      cpu_level_name(cpu_level()), bad, n * m);
            free(yb);
            free(y1);
            free_case(&c);
        }
    }
    cpu_set_level(saved);
}

TEST(threads_split_rows_and_batches) {
    /* Small n with many rows takes the split-over-m path; large n the split-over-n path. */
    struct pool *p = pool_create(2);
    int shapes[][3] = {{256, 3, 40}, {256, 200, 5}, {512, 9, 1}};
    for (int s = 0; s < 3; s++) {
        struct case_data c;
        make_case(&c, DT_Q8_0, shapes[s][0], shapes[s][1], shapes[s][2]);
        float *y = malloc(sizeof(float) * (size_t)c.m * c.n);
        matmul(p, &c.t, c.x, y, c.m);
        CHECK_EQ_INT(check_against_reference(&c, y), 0);
        free(y);
        free_case(&c);
    }
    pool_free(p);
}

/* matmul_many gives the bits of one matmul per weight: one shared input for types of
 * one activation format (q4_K with q6_K, as Q4_K_M files mix them; three q8_0), the
 * separate-calls fallback for mixed formats (q8_0 with q4_K, f16 with q4_0); decode
 * and prefill; odd row counts (a 4-row unit cut short), one and two threads. */
TEST(matmul_many_equals_separate_products) {
    const int mixes[][3] = {{DT_Q4_K, DT_Q4_K, DT_Q6_K}, {DT_Q8_0, DT_Q8_0, DT_Q8_0}, {DT_Q8_0, DT_Q4_K, DT_Q6_K},
                            {DT_F16, DT_Q4_0, DT_F16}, {DT_Q4_0, DT_Q4_0, DT_Q5_0}};
    const int rows[3] = {37, 16, 70}, ms[3] = {1, 5, 33};
    for (int th = 1; th <= 2; th++) {
        struct pool *p = th > 1 ? pool_create(th) : NULL;
        for (int x = 0; x < (int)(sizeof mixes / sizeof *mixes); x++)
            for (int mi = 0; mi < 3; mi++) {
                const int k = 512, m = ms[mi];
                struct case_data c[3];
                const struct tensor *w[3];
                float *y[3], *ref[3];
                for (int t = 0; t < 3; t++) {
                    make_case(&c[t], mixes[x][t], k, rows[t], m);
                    if (t) memcpy(c[t].x, c[0].x, sizeof(float) * (size_t)k * m);
                    w[t] = &c[t].t;
                    y[t] = malloc(sizeof(float) * (size_t)m * rows[t]);
                    ref[t] = malloc(sizeof(float) * (size_t)m * rows[t]);
                    matmul(p, w[t], c[0].x, ref[t], m);
                }
                matmul_many(p, 3, w, c[0].x, y, m);
                for (int t = 0; t < 3; t++) {
                    CHECK_MSG(memcmp(y[t], ref[t], sizeof(float) * (size_t)m * rows[t]) == 0,
                              "mix %d weight %d (%s) m=%d threads=%d differs", x, t, dtype_name(mixes[x][t]), m, th);
                    free(y[t]), free(ref[t]), free_case(&c[t]);
                }
            }
        pool_free(p);
    }
}

/* The AVX-512 q8_K activation quantizer writes quant_q8K's bytes: random rows of
 * several magnitudes, exact ties for the rounding, the largest |x| twice with both
 * signs (the first wins), an all-zero block, and NaN, inf and -0 inputs. */
/* The AVX-512 F16 product follows llama.cpp's tinyBLAS for k % 16 == 0 (the golden logits
 * depend on it): each output sums its inputs (activations rounded to f16) in 16 lanes, one
 * fused multiply-add per element, lane e % 16, then adds the lanes as _mm512_reduce_add_ps
 * does (halves, quarters, pairs). Written out here in scalar code, every tile shape, the
 * decode path and both thread counts must give those bits. */
static float tinyblas_f16_dot(const float *w, const float *x, int k) {
    float a[16] = {0};
    for (int e = 0; e < k; e++) a[e % 16] = fmaf(w[e], fp16_to_fp32(fp32_to_fp16(x[e])), a[e % 16]);
    float t8[8], t4[4];
    for (int i = 0; i < 8; i++) t8[i] = a[i + 8] + a[i];
    for (int i = 0; i < 4; i++) t4[i] = t8[i + 4] + t8[i];
    return (t4[0] + t4[2]) + (t4[1] + t4[3]);
}

TEST(avx512_f16_sums_in_tinyblas_order) {
    enum cpu_level saved = cpu_level();
    cpu_set_level(CPU_AVX512);
    if (cpu_level() < CPU_AVX512) { cpu_set_level(saved); SKIP("CPU lacks AVX-512 with VNNI"); }
    struct pool *p = pool_create(2);
    int ks[] = {16, 576, 1536}, ms[] = {1, 2, 3, 5, 9, 17}, ns[] = {1, 5, 8, 37};
    int bad = 0;
    for (int ki = 0; ki < 3; ki++)
        for (int mi = 0; mi < 6; mi++)
            for (int ni = 0; ni < 4; ni++) {
                struct case_data c;
                make_case(&c, DT_F16, ks[ki], ns[ni], ms[mi]);
                size_t ny = (size_t)c.m * c.n;
                float *y = malloc(sizeof(float) * ny);
                matmul((mi + ni) % 2 ? p : NULL, &c.t, c.x, y, c.m);
                for (size_t i = 0; i < ny; i++) {
                    float want = tinyblas_f16_dot(c.wf + (i % c.n) * c.k, c.x + (i / c.n) * c.k, c.k);
                    if (memcmp(&want, &y[i], sizeof want) && bad++ < 3)
                        fprintf(stderr, "  f16 m=%d n=%d k=%d out %zu: %.9g, tinyBLAS order %.9g\n", c.m, c.n, c.k, i,
                                y[i], want);
                }
                free(y);
                free_case(&c);
            }
    CHECK_EQ_INT(bad, 0);
    pool_free(p);
    cpu_set_level(saved);
}

TEST(avx512_q8K_activations_equal_the_scalar_bytes) {
    if (cpu_level() < CPU_AVX512) {
        fprintf(stderr, "  (no AVX-512 VNNI: skipped)\n");
        return;
    }
    enum { NB = 12 };
    static float x[NB * QK_K];
    static struct block_q8_K a[NB], b[NB];
    for (int i = 0; i < NB * QK_K; i++) x[i] = frand() * (i / QK_K == 1 ? 1e-30f : i / QK_K == 2 ? 3e4f : 1.0f);
    for (int j = 0; j < QK_K; j++) x[3 * QK_K + j] = (float)(j - 128) * 0.5f; /* ties after scaling by 127/64 */
    x[4 * QK_K + 9] = 7.0f, x[4 * QK_K + 200] = -7.0f;
    x[5 * QK_K + 17] = -7.0f, x[5 * QK_K + 40] = 7.0f;
    memset(x + 6 * QK_K, 0, sizeof(float) * QK_K);
    x[7 * QK_K + 5] = NAN;
    x[8 * QK_K + 77] = INFINITY;
    x[9 * QK_K + 3] = -0.0f, x[9 * QK_K + 100] = NAN, x[9 * QK_K + 101] = -INFINITY;
    const uint32_t payload = 0x7fffffffu; /* nearest_int gives 2^22 - 1 for it: capped at 127 */
    memcpy(&x[11 * QK_K + 60], &payload, 4);
    for (int j = 0; j < QK_K; j++) x[10 * QK_K + j] = j % 2 ? -0.0f : 0.0f;
    memset(a, 0x55, sizeof a), memset(b, 0xAA, sizeof b);
    quant_q8K(x, a, NB * QK_K);
    matmul_avx512_quant_q8K(x, b, NB * QK_K);
    for (int i = 0; i < NB; i++)
        CHECK_MSG(memcmp(&a[i], &b[i], sizeof a[i]) == 0, "block %d differs (d %g vs %g)", i, a[i].d, b[i].d);
}

TEST(unsupported_type_gives_nan_not_crash) {
    uint8_t w[50 * 2] = {0};
    float x[256] = {0}, y[2];
    struct tensor t = {.name = "iq1s", .type = DT_IQ1_S, .n_dims = 2, .ne = {256, 2, 1, 1}, .data = w};
    matmul(NULL, &t, x, y, 1);
    CHECK(isnan(y[0]) && isnan(y[1]));
}

int main(void) {
    /* the SIMD cases skip on a CPU without AVX2 / AVX-512 VNNI (or below an OMNI_CPU cap) */
    TEST_EXPECT(8 + 2 * (cpu_level() >= CPU_AVX2) + 2 * (cpu_level() >= CPU_AVX512));
    RUN(scalar_matches_reference);
    RUN(avx2_matches_scalar);
    RUN(avx512_matches_scalar);
    RUN(avx2_and_avx512_round_alike);
    RUN(new_types_simd_bitwise_equal_scalar);
    RUN(decode_rows_match_batch_bitwise);
    RUN(cache_blocked_prefill_matches_decode_bitwise);
    RUN(threads_split_rows_and_batches);
    RUN(matmul_many_equals_separate_products);
    RUN(avx512_q8K_activations_equal_the_scalar_bytes);
    RUN(avx512_f16_sums_in_tinyblas_order);
    RUN(unsupported_type_gives_nan_not_crash);
    return test_summary();
}
