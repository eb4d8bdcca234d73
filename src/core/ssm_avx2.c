/* ssm_kern.h compiled for AVX2 + FMA: its fmaf calls become single instructions. */
#include "core/ssm_kern.h"

void ops_delta_rule_step_avx2(float *restrict S, const float *restrict q, const float *restrict k,
                              const float *restrict v, float decay, float beta, float scale, float *restrict o, int n);
void ops_conv1d_causal_step_avx2(float *y, float *state, const float *x, const float *w, int K, int c0, int c1);

void ops_delta_rule_step_avx2(float *restrict S, const float *restrict q, const float *restrict k,
                              const float *restrict v, float decay, float beta, float scale, float *restrict o, int n) {
    delta_rule_step(S, q, k, v, decay, beta, scale, o, n);
}

void ops_conv1d_causal_step_avx2(float *y, float *state, const float *x, const float *w, int K, int c0, int c1) {
    conv1d_causal_step(y, state, x, w, K, c0, c1);
}
