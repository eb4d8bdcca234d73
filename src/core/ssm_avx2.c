/* ssm_kern.h compiled for AVX2 + FMA: its fmaf calls become single instructions;
 * and SiLU on 8 lanes through ggml's vector exp (expf_avx2.h: the same floats as
 * ops_expf_ggml, then the same IEEE divide). */
#include <immintrin.h>

#include "core/expf_avx2.h"
#include "core/ssm_kern.h"

void ops_delta_rule_step_avx2(float *restrict S, const float *restrict q, const float *restrict k,
                              const float *restrict v, float decay, float beta, float scale, float *restrict o, int n);
void ops_conv1d_causal_step_avx2(float *y, float *state, const float *x, const float *w, int K, int c0, int c1);
void ops_silu_avx2(float *x, int n);

void ops_delta_rule_step_avx2(float *restrict S, const float *restrict q, const float *restrict k,
                              const float *restrict v, float decay, float beta, float scale, float *restrict o, int n) {
    delta_rule_step(S, q, k, v, decay, beta, scale, o, n);
}

void ops_conv1d_causal_step_avx2(float *y, float *state, const float *x, const float *w, int K, int c0, int c1) {
    conv1d_causal_step(y, state, x, w, K, c0, c1);
}

/* x[i] /= 1 + e^-x[i] over whole groups of 8 (n a multiple of 8) */
void ops_silu_avx2(float *x, int n) {
    const __m256 one = _mm256_set1_ps(1.0f), neg = _mm256_set1_ps(-0.0f);
    for (int i = 0; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        _mm256_storeu_ps(x + i, _mm256_div_ps(v, _mm256_add_ps(one, expf8_ggml(_mm256_xor_ps(v, neg)))));
    }
}
