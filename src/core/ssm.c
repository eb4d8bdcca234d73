/* Recurrent-layer ops (see ssm.h): plain loops over contiguous rows, left to the
 * compiler to vectorize; a layer's time goes into its projections (matmul), not here. */
#include "core/ssm.h"

#include <math.h>
#include <stddef.h>

#include "core/cpu.h"
#include "core/ops.h"
#include "core/ssm_kern.h"

void ops_conv1d_causal_step(float *y, float *state, const float *x, const float *w, int K, int c0, int c1) {
    for (int c = c0; c < c1; c++) {
        float *s = state + (size_t)c * (K - 1);
        const float *wc = w + (size_t)c * K;
        float xc = x[c], acc = 0.0f;
        for (int t = 0; t < K - 1; t++) acc += s[t] * wc[t];
        acc += xc * wc[K - 1];
        for (int t = 0; t + 1 < K - 1; t++) s[t] = s[t + 1];
        if (K > 1) s[K - 2] = xc;
        y[c] = acc;
    }
}

void ops_l2norm(float *x, int n, float eps) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)(x[i] * x[i]);
    float s = 1.0f / fmaxf(sqrtf((float)ss), eps);
    for (int i = 0; i < n; i++) x[i] *= s;
}

float ops_softplus(float x) { return x > 20.0f ? x : logf(1.0f + expf(x)); }

void ops_silu(float *x, int n) {
    /* ggml: whole 16-lane vectors through its polynomial exp, the tail through expf */
    int nv = n - n % 16;
    for (int i = 0; i < nv; i++) x[i] = x[i] / (1.0f + ops_expf_ggml(-x[i]));
    for (int i = nv; i < n; i++) x[i] = x[i] / (1.0f + expf(-x[i]));
}

void ops_delta_rule_step_avx512(float *restrict S, const float *restrict q, const float *restrict k,
                                const float *restrict v, float decay, float beta, float scale, float *restrict o,
                                int n);

void ops_delta_rule_step(float *restrict S, const float *restrict q, const float *restrict k,
                         const float *restrict v, float decay, float beta, float scale, float *restrict o, int n) {
    if (cpu_level() >= CPU_AVX512) ops_delta_rule_step_avx512(S, q, k, v, decay, beta, scale, o, n);
    else delta_rule_step(S, q, k, v, decay, beta, scale, o, n);
}
