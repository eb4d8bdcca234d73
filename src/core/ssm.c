/* Recurrent-layer ops (see ssm.h): plain loops over contiguous rows, left to the
 * compiler to vectorize; a layer's time goes into its projections (matmul), not here. */
#include "core/ssm.h"

#include <math.h>
#include <stddef.h>

#include "core/cpu.h"
#include "core/ops.h"
#include "core/ssm_kern.h"

void ops_delta_rule_step_avx2(float *restrict S, const float *restrict q, const float *restrict k,
                              const float *restrict v, float decay, float beta, float scale, float *restrict o, int n);
void ops_delta_rule_step_avx512(float *restrict S, const float *restrict q, const float *restrict k,
                                const float *restrict v, float decay, float beta, float scale, float *restrict o,
                                int n);
void ops_conv1d_causal_step_avx2(float *y, float *state, const float *x, const float *w, int K, int c0, int c1);
void ops_silu_avx2(float *x, int n);

void ops_l2norm(float *x, int n, float eps) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)(x[i] * x[i]);
    float s = 1.0f / fmaxf(sqrtf((float)ss), eps);
    for (int i = 0; i < n; i++) x[i] *= s;
}

float ops_softplus(float x) { return x > 20.0f ? x : logf(1.0f + expf(x)); }

void ops_silu(float *x, int n) {
    /* ggml: whole 16-lane vectors through its polynomial exp, the tail through expf */
    int nv = n - n % 16, i0 = 0;
    if (cpu_level() >= CPU_AVX2) ops_silu_avx2(x, nv), i0 = nv;
    for (int i = i0; i < nv; i++) x[i] = x[i] / (1.0f + ops_expf_ggml(-x[i]));
    for (int i = nv; i < n; i++) x[i] = x[i] / (1.0f + expf(-x[i]));
}

void ops_delta_rule_step(float *restrict S, const float *restrict q, const float *restrict k,
                         const float *restrict v, float decay, float beta, float scale, float *restrict o, int n) {
    enum cpu_level l = cpu_level();
    if (l >= CPU_AVX512) ops_delta_rule_step_avx512(S, q, k, v, decay, beta, scale, o, n);
    else if (l >= CPU_AVX2) ops_delta_rule_step_avx2(S, q, k, v, decay, beta, scale, o, n);
    else delta_rule_step(S, q, k, v, decay, beta, scale, o, n);
}

void ops_conv1d_causal_step(float *y, float *state, const float *x, const float *w, int K, int c0, int c1) {
    if (cpu_level() >= CPU_AVX2) ops_conv1d_causal_step_avx2(y, state, x, w, K, c0, c1);
    else conv1d_causal_step(y, state, x, w, K, c0, c1);
}
