/* matmul_id (see matmul_id.h): f16 activations once per call, then the output
 * columns split over the pool, each output one vec_dot-ordered dot product. */
#include "core/matmul_id.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"
#include "core/dtype.h"
#include "core/fp16.h"
#include "core/matmul.h"

/* ggml_vec_dot_f16 at AVX-512: lane l of accumulator j sums elements 64s + 16j + l */
static float dot_f16_vecdot(int k, const uint16_t *w, const uint16_t *a) {
    float acc[4][16] = {{0}};
    int np = k & ~63;
    for (int i = 0; i < np; i += 64)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 16; l++)
                acc[j][l] += fp16_to_fp32(w[i + 16 * j + l]) * fp16_to_fp32(a[i + 16 * j + l]);
    float b[16], c[8], d[4];
    for (int l = 0; l < 16; l++) b[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
    /* _mm512_reduce_add_ps: halves folded, 8 then 4 then 2 then 1 */
    for (int l = 0; l < 8; l++) c[l] = b[l] + b[l + 8];
    for (int l = 0; l < 4; l++) d[l] = c[l] + c[l + 4];
    double s = (d[0] + d[2]) + (d[1] + d[3]);
    for (int i = np; i < k; i++) s += (double)(fp16_to_fp32(w[i]) * fp16_to_fp32(a[i]));
    return (float)s;
}

struct id_job {
    const struct tensor *w;
    const uint16_t *a;
    float *y;
    int k, n, m;
    size_t ws;
};

static void id_part(void *arg, int ith, int nth) {
    struct id_job *j = arg;
    long lo, hi;
    pool_split((j->n + 7) / 8, ith, nth, &lo, &hi);
    lo *= 8;
    hi = hi * 8 < j->n ? hi * 8 : j->n;
    if (hi <= lo) return;
    const char *w = (const char *)j->w->data + (size_t)lo * j->ws;
    if (cpu_level() >= CPU_AVX512) {
        matmul_id_f16_avx512(j->k, w, j->ws, (int)(hi - lo), j->a, j->m, j->y + lo, (size_t)j->n);
        return;
    }
    for (int i = 0; i < j->m; i++)
        for (long c = lo; c < hi; c++)
            j->y[(size_t)i * j->n + c] =
                dot_f16_vecdot(j->k, (const uint16_t *)(w + (size_t)(c - lo) * j->ws), j->a + (size_t)i * j->k);
}

void matmul_id(struct pool *p, const struct tensor *w, const float *x, float *y, int m) {
    if (w->type != DT_F16 || m <= 0) {
        matmul(p, w, x, y, m);
        return;
    }
    int k = (int)w->ne[0], n = (int)w->ne[1];
    size_t bytes = ((size_t)m * k * 2 + 63) & ~(size_t)63;
    void *buf = NULL;
    uint16_t *a = pool_scratch(p, bytes);
    if (!a) a = buf = malloc(bytes);
    if (!a) {  /* no memory for the f16 copy: the dense order, still correct to the tolerances */
        matmul(p, w, x, y, m);
        return;
    }
    for (size_t i = 0; i < (size_t)m * k; i++) a[i] = fp32_to_fp16(x[i]);
    struct id_job j = {w, a, y, k, n, m, dtype_row_bytes(w->type, k)};
    if ((long)n * m * k >= 1L << 15) pool_run(p, id_part, &j);
    else id_part(&j, 0, 1);
    free(buf);
}

/* tinyBLAS's F32 dot at AVX-512: lane l sums elements 16s + l by FMA, then the lanes
 * are folded in halves (_mm512_reduce_add_ps) */
static float dot_f32_tinyblas(int k, const float *w, const float *a) {
    float acc[16] = {0}, c[8], d[4];
    for (int i = 0; i < k; i += 16)
        for (int l = 0; l < 16; l++) acc[l] = fmaf(w[i + l], a[i + l], acc[l]);
    for (int l = 0; l < 8; l++) c[l] = acc[l] + acc[l + 8];
    for (int l = 0; l < 4; l++) d[l] = c[l] + c[l + 4];
    return (d[0] + d[2]) + (d[1] + d[3]);
}

struct tb_job {
    const struct tensor *w;
    const float *x;
    float *y;
    int k, n, m;
};

static void tb_part(void *arg, int ith, int nth) {
    struct tb_job *j = arg;
    long lo, hi;
    pool_split(j->n, ith, nth, &lo, &hi);
    if (hi <= lo) return;
    const float *w = (const float *)j->w->data + (size_t)lo * j->k;
    if (cpu_level() >= CPU_AVX512) {
        matmul_f32_tinyblas_avx512(j->k, w, (size_t)j->k * 4, (int)(hi - lo), j->x, j->m, j->y + lo, (size_t)j->n);
        return;
    }
    for (int i = 0; i < j->m; i++)
        for (long c = lo; c < hi; c++)
            j->y[(size_t)i * j->n + c] = dot_f32_tinyblas(j->k, w + (size_t)(c - lo) * j->k, j->x + (size_t)i * j->k);
}

void matmul_f32_tinyblas(struct pool *p, const struct tensor *w, const float *x, float *y, int m) {
    if (w->type != DT_F32 || w->ne[0] % 16 || m <= 0) {
        matmul(p, w, x, y, m);
        return;
    }
    struct tb_job j = {w, x, y, (int)w->ne[0], (int)w->ne[1], m};
    if ((long)j.n * m * j.k >= 1L << 15) pool_run(p, tb_part, &j);
    else tb_part(&j, 0, 1);
}
