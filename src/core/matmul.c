/* matmul: converts the activations once per call into the format the weight type's
 * integer/half dot product needs, then splits the output over the thread pool and
 * runs the best kernel the CPU allows (AVX-512, AVX2, or the scalar reference here). */
#include "core/matmul.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "core/dtype.h"
#include "core/fp16.h"
#include "core/log.h"
#include "core/matmul_kern.h"
#include "core/quant.h"

/* ---- scalar reference kernels: one dot product per output ---- */

#define SCALAR_GEMM(name, dot)                                                                      \
    static void name(int k, const void *w, size_t ws, int nr, const void *a, size_t as, int mr,  \
                     float *y, size_t ys) {                                                      \
        for (int j = 0; j < nr; j++)                                                             \
            for (int i = 0; i < mr; i++)                                                         \
                y[(size_t)i * ys + j] = dot(k, (const char *)w + (size_t)j * ws, (const char *)a + (size_t)i * as); \
    }
SCALAR_GEMM(gemm_f32, quant_dot_f32)
SCALAR_GEMM(gemm_f16, quant_dot_f16)
SCALAR_GEMM(gemm_bf16, quant_dot_bf16)
SCALAR_GEMM(gemm_q4_0, quant_dot_q4_0)
SCALAR_GEMM(gemm_q4_1, quant_dot_q4_1)
SCALAR_GEMM(gemm_q5_0, quant_dot_q5_0)
SCALAR_GEMM(gemm_q5_1, quant_dot_q5_1)
SCALAR_GEMM(gemm_q8_0, quant_dot_q8_0)
SCALAR_GEMM(gemm_q4_K, quant_dot_q4_K)
SCALAR_GEMM(gemm_q5_K, quant_dot_q5_K)
SCALAR_GEMM(gemm_q6_K, quant_dot_q6_K)
SCALAR_GEMM(gemm_q2_K, quant_dot_q2_K)
SCALAR_GEMM(gemm_q3_K, quant_dot_q3_K)
SCALAR_GEMM(gemm_iq4_xs, quant_dot_iq4_xs)
SCALAR_GEMM(gemm_iq4_nl, quant_dot_iq4_nl)
SCALAR_GEMM(gemm_mxfp4, quant_dot_mxfp4)
SCALAR_GEMM(gemm_iq2_xxs, quant_dot_iq2_xxs)
SCALAR_GEMM(gemm_iq3_xxs, quant_dot_iq3_xxs)
SCALAR_GEMM(gemm_iq2_xs, quant_dot_iq2_xs)
SCALAR_GEMM(gemm_iq2_s, quant_dot_iq2_s)
SCALAR_GEMM(gemm_iq3_s, quant_dot_iq3_s)

/* Which activation format goes with each weight type (as in llama.cpp: q8_0 for the
 * 32-blocks and iq4_nl/mxfp4, q8_1 for the ones with a min, q8_K for K-quants and iq4_xs; halves for halves). */
static int type_plan(int type, enum mm_act *act, mm_gemm_fn *scalar) {
    switch (type) {
    case DT_F32: *act = MM_ACT_F32; *scalar = gemm_f32; return 0;
    case DT_F16: *act = MM_ACT_F16; *scalar = gemm_f16; return 0;
    case DT_BF16: *act = MM_ACT_BF16; *scalar = gemm_bf16; return 0;
    case DT_Q4_0: *act = MM_ACT_Q8A; *scalar = gemm_q4_0; return 0;
    case DT_Q4_1: *act = MM_ACT_Q8A; *scalar = gemm_q4_1; return 0;
    case DT_Q5_0: *act = MM_ACT_Q8A; *scalar = gemm_q5_0; return 0;
    case DT_Q5_1: *act = MM_ACT_Q8A; *scalar = gemm_q5_1; return 0;
    case DT_Q8_0: *act = MM_ACT_Q8A; *scalar = gemm_q8_0; return 0;
    case DT_Q4_K: *act = MM_ACT_Q8K; *scalar = gemm_q4_K; return 0;
    case DT_Q5_K: *act = MM_ACT_Q8K; *scalar = gemm_q5_K; return 0;
    case DT_Q6_K: *act = MM_ACT_Q8K; *scalar = gemm_q6_K; return 0;
    case DT_Q2_K: *act = MM_ACT_Q8K; *scalar = gemm_q2_K; return 0;
    case DT_Q3_K: *act = MM_ACT_Q8K; *scalar = gemm_q3_K; return 0;
    case DT_IQ4_XS: *act = MM_ACT_Q8K; *scalar = gemm_iq4_xs; return 0;
    case DT_IQ4_NL: *act = MM_ACT_Q8A; *scalar = gemm_iq4_nl; return 0;
    case DT_MXFP4: *act = MM_ACT_Q8A; *scalar = gemm_mxfp4; return 0;
    case DT_IQ2_XXS: *act = MM_ACT_Q8K; *scalar = gemm_iq2_xxs; return 0;
    case DT_IQ3_XXS: *act = MM_ACT_Q8K; *scalar = gemm_iq3_xxs; return 0;
    case DT_IQ2_XS: *act = MM_ACT_Q8K; *scalar = gemm_iq2_xs; return 0;
    case DT_IQ2_S: *act = MM_ACT_Q8K; *scalar = gemm_iq2_s; return 0;
    case DT_IQ3_S: *act = MM_ACT_Q8K; *scalar = gemm_iq3_s; return 0;
    default: return -1;
    }
}

static size_t act_row_bytes(enum mm_act act, int64_t k) {
    switch (act) {
    case MM_ACT_F32: case MM_ACT_F16F: return (size_t)k * 4;
    case MM_ACT_F16: case MM_ACT_BF16: return (size_t)k * 2;
    case MM_ACT_Q8A: return (size_t)(k / QK) * sizeof(struct block_q8a);
    case MM_ACT_Q8K: return (size_t)(k / QK_K) * sizeof(struct block_q8_K);
    case MM_ACT_Q8Z: return (size_t)((k / QK + 1) / 2) * MM_Q8Z_PAIR_BYTES;
    }
    return 0;
}

void round_row_f16(float *out, const float *x, int64_t n) {
    if (cpu_level() < CPU_AVX2) {
        for (int64_t i = 0; i < n; i++) out[i] = fp16_to_fp32(fp32_to_fp16(x[i]));
        return;
    }
    for (int64_t i = 0; i < n; i += 256) {
        uint16_t h[256];
        int64_t m = n - i < 256 ? n - i : 256;
        matmul_avx2_to_f16(x + i, h, m);
        matmul_avx2_from_f16(h, out + i, m);
    }
}

static void convert_row(enum mm_act act, int type, const float *x, void *out, int64_t k) {
    switch (act) {
    case MM_ACT_Q8Z: matmul_avx512_quant_q8z(type, x, out, (int)k); break;
    case MM_ACT_F32: memcpy(out, x, (size_t)k * 4); break;
    case MM_ACT_F16:
        if (cpu_level() >= CPU_AVX2) matmul_avx2_to_f16(x, out, k);
        else for (int64_t i = 0; i < k; i++) ((uint16_t *)out)[i] = fp32_to_fp16(x[i]);
        break;
    case MM_ACT_F16F: round_row_f16(out, x, k); break; /* exactly MM_ACT_F16's values */
    case MM_ACT_BF16: for (int64_t i = 0; i < k; i++) ((uint16_t *)out)[i] = fp32_to_bf16(x[i]); break;
    case MM_ACT_Q8A: quant_q8a(x, out, k); break;
    case MM_ACT_Q8K:
        if (cpu_level() >= CPU_AVX512) matmul_avx512_quant_q8K(x, out, k);
        else quant_q8K(x, out, k);
        break;
    }
}

struct mm_job {
    mm_gemm_fn gemm;
    enum mm_act act;
    const float *x;
    char *a;          /* converted activations */
    size_t as, ws;
    const char *w;
    float *y;
    int k, n, m, type;
    int split_m;      /* threads split the activation rows instead of the weight rows */
};

static void convert_rows(void *arg, int ith, int nth) {
    struct mm_job *j = arg;
    long lo, hi;
    pool_split(j->m, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++) convert_row(j->act, j->type, j->x + i * (long)j->k, j->a + i * j->as, j->k);
}

/* Row ranges are cut at multiples of 4 so SIMD kernels see whole register tiles. */
static void run_rows(void *arg, int ith, int nth) {
    struct mm_job *j = arg;
    long lo, hi;
    if (j->split_m) {
        pool_split(j->m, ith, nth, &lo, &hi);
        if (hi > lo) j->gemm(j->k, j->w, j->ws, j->n, j->a + lo * j->as, j->as, (int)(hi - lo), j->y + lo * (long)j->n, (size_t)j->n);
        return;
    }
    pool_split((j->n + 3) / 4, ith, nth, &lo, &hi);
    lo *= 4;
    hi = hi * 4 < j->n ? hi * 4 : j->n;
    if (hi > lo) j->gemm(j->k, j->w + lo * j->ws, j->ws, (int)(hi - lo), j->a, j->as, j->m, j->y + lo, (size_t)j->n);
}

static mm_gemm_fn pick_kernel(int type, int64_t k, mm_gemm_fn scalar, enum mm_act *act) {
    mm_gemm_fn f = NULL;
    enum cpu_level lv = cpu_level();
    if (lv >= CPU_AVX512) f = matmul_avx512_kernel(type, k, act);
    if (!f && lv >= CPU_AVX2) f = matmul_avx2_kernel(type);
    return f ? f : scalar;
}

/* Converts the m rows of x for act/type into pool scratch (or *buf); NULL when out of memory. */
static char *convert_input(struct pool *p, struct mm_job *j, void **buf) {
    size_t bytes = (j->as * (size_t)j->m + 63) & ~(size_t)63;
    char *a = pool_scratch(p, bytes);
    if (!a) a = *buf = aligned_alloc(64, bytes); /* no pool: a one-off buffer */
    if (!a) return NULL;
    j->a = a;
    if (j->m >= 4 && pool_size(p) > 1) pool_run(p, convert_rows, j);
    else convert_rows(j, 0, 1);
    return a;
}

void matmul(struct pool *p, const struct tensor *w, const float *x, float *y, int m) {
    enum mm_act act;
    mm_gemm_fn scalar;
    int64_t k = w->ne[0], n = w->ne[1];
    size_t ws = dtype_row_bytes(w->type, k);
    if (m <= 0 || n <= 0) return;
    if (type_plan(w->type, &act, &scalar) || !ws) {
        log_error("matmul: %s: weight type %s with row length %lld is not supported", w->name ? w->name : "?",
                  dtype_name(w->type), (long long)k);
        for (int64_t i = 0; i < (int64_t)m * n; i++) y[i] = NAN;
        return;
    }
    mm_gemm_fn gemm = pick_kernel(w->type, k, scalar, &act);
    struct mm_job j = {gemm, act, x, NULL, act_row_bytes(act, k), ws, w->data, y, (int)k, (int)n, m, w->type, 0};
    void *buf = NULL;
    if (act == MM_ACT_F32) {
        j.a = (char *)x;
    } else if (!convert_input(p, &j, &buf)) {
        log_error("matmul: out of memory for %d activation rows", m);
        for (int64_t i = 0; i < (int64_t)m * n; i++) y[i] = NAN;
        return;
    }
    int nth = pool_size(p);
    /* Few weight rows but many activation rows (e.g. a small projection in prefill). */
    j.split_m = n < 16L * nth && m >= 2 * nth;
    pool_run(p, run_rows, &j);
    free(buf);
}

/* ---- several weights, one input ----
 * The products share one converted input and one pool job. The job's unit is 4 rows
 * of one weight (whole register tiles, as run_rows cuts them), weighted by that
 * weight's row bytes, so a thread's share is about the same number of weight bytes
 * whatever mix of types it gets (Q4_K_M files have Q6_K v next to Q4_K q and k). */
#define MM_MANY_MAX 8

struct mm_many {
    struct mm_job j;        /* the shared input: act, a, as, k, m */
    int nw;
    mm_gemm_fn gemm[MM_MANY_MAX];
    const char *w[MM_MANY_MAX];
    size_t ws[MM_MANY_MAX];
    int n[MM_MANY_MAX];
    float *y[MM_MANY_MAX];
    int64_t cost0[MM_MANY_MAX]; /* bytes of the weights before this one */
    int64_t cost;            /* all weights' bytes */
};

static int64_t ceil_units(int64_t c, int64_t unit) { return c <= 0 ? 0 : (c + unit - 1) / unit; }

static void run_many(void *arg, int ith, int nth) {
    struct mm_many *mm = arg;
    const int64_t c_lo = mm->cost * ith / nth, c_hi = mm->cost * (ith + 1) / nth;
    for (int t = 0; t < mm->nw; t++) {
        /* unit u of weight t starts at cost0 + u * uc; it is this thread's when that is in [c_lo, c_hi) */
        const int64_t uc = 4 * (int64_t)mm->ws[t], units = (mm->n[t] + 3) / 4;
        int64_t u0 = ceil_units(c_lo - mm->cost0[t], uc), u1 = ceil_units(c_hi - mm->cost0[t], uc);
        if (u1 > units) u1 = units;
        if (u0 >= u1) continue;
        const int r0 = (int)(4 * u0), r1 = (int)(4 * u1 < mm->n[t] ? 4 * u1 : mm->n[t]);
        mm->gemm[t](mm->j.k, mm->w[t] + (size_t)r0 * mm->ws[t], mm->ws[t], r1 - r0, mm->j.a, mm->j.as, mm->j.m,
                    mm->y[t] + r0, (size_t)mm->n[t]);
    }
}

void matmul_many(struct pool *p, int nw, const struct tensor *const *w, const float *x, float *const *y, int m) {
    struct mm_many mm = {.nw = nw};
    int same = nw >= 2 && nw <= MM_MANY_MAX && m > 0;
    for (int t = 0; same && t < nw; t++) {
        enum mm_act act;
        mm_gemm_fn scalar;
        size_t ws = dtype_row_bytes(w[t]->type, w[t]->ne[0]);
        if (type_plan(w[t]->type, &act, &scalar) || !ws || w[t]->ne[1] <= 0 || w[t]->ne[0] != w[0]->ne[0]) {
            same = 0;
            break;
        }
        mm.gemm[t] = pick_kernel(w[t]->type, w[t]->ne[0], scalar, &act);
        /* one converted input serves all: the same format (q8z also depends on the type) */
        if (t == 0) mm.j.act = act, mm.j.type = w[t]->type;
        else if (act != mm.j.act || (act == MM_ACT_Q8Z && w[t]->type != mm.j.type)) same = 0;
        mm.w[t] = w[t]->data, mm.ws[t] = ws, mm.n[t] = (int)w[t]->ne[1], mm.y[t] = y[t];
        mm.cost0[t] = mm.cost;
        mm.cost += (int64_t)ws * ((mm.n[t] + 3) / 4 * 4);
    }
    if (!same) {
        for (int t = 0; t < nw; t++) matmul(p, w[t], x, y[t], m);
        return;
    }
    mm.j.x = x, mm.j.k = (int)w[0]->ne[0], mm.j.m = m, mm.j.as = act_row_bytes(mm.j.act, w[0]->ne[0]);
    void *buf = NULL;
    if (mm.j.act == MM_ACT_F32) {
        mm.j.a = (char *)x;
    } else if (!convert_input(p, &mm.j, &buf)) {
        log_error("matmul: out of memory for %d activation rows", m);
        for (int t = 0; t < nw; t++)
            for (int64_t i = 0; i < (int64_t)m * mm.n[t]; i++) y[t][i] = NAN;
        return;
    }
    pool_run(p, run_many, &mm);
    free(buf);
}
