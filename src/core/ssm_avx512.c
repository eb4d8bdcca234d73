/* ssm_kern.h's delta rule for AVX-512. For the head sizes models use (64, 128) a
 * column of the state, k and q all stay in zmm registers: each column is loaded and
 * stored once per token. Same operations in the same order as delta_rule_step
 * (decay, then dot_ggml's 4 x 16-lane FMA sums and pairwise fold, update, q dot), so
 * the same bits; other sizes take the compiled portable kernel. */
#include <immintrin.h>

#include "core/ssm_kern.h"

void ops_delta_rule_step_avx512(float *restrict S, const float *restrict q, const float *restrict k,
                                const float *restrict v, float decay, float beta, float scale, float *restrict o,
                                int n);

/* dot_ggml of NV 16-lane vectors (NV a multiple of 4) held in registers */
static inline __attribute__((always_inline)) float dot_regs(int NV, const __m512 *x, const __m512 *y) {
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int i = 0; i < NV; i += 4)
        for (int j = 0; j < 4; j++) acc[j] = _mm512_fmadd_ps(x[i + j], y[i + j], acc[j]);
    __m512 a = _mm512_add_ps(_mm512_add_ps(acc[0], acc[2]), _mm512_add_ps(acc[1], acc[3]));
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
    __m128 f = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    f = _mm_add_ps(f, _mm_movehl_ps(f, f));
    f = _mm_add_ss(f, _mm_movehdup_ps(f));
    return _mm_cvtss_f32(f);
}

static inline __attribute__((always_inline)) void delta_regs(int NV, float *restrict S, const float *restrict q,
                                                             const float *restrict k, const float *restrict v,
                                                             float decay, float beta, float scale, float *restrict o) {
    const int n = 16 * NV;
    __m512 kv[8], qv[8], s[8];
    for (int i = 0; i < NV; i++) kv[i] = _mm512_loadu_ps(k + 16 * i), qv[i] = _mm512_loadu_ps(q + 16 * i);
    const __m512 dec = _mm512_set1_ps(decay);
    for (int j = 0; j < n; j++) {
        float *sj = S + (size_t)j * n;
        for (int i = 0; i < NV; i++) s[i] = _mm512_mul_ps(_mm512_loadu_ps(sj + 16 * i), dec);
        const __m512 d = _mm512_set1_ps((v[j] - dot_regs(NV, s, kv)) * beta);
        for (int i = 0; i < NV; i++) {
            s[i] = _mm512_fmadd_ps(kv[i], d, s[i]);
            _mm512_storeu_ps(sj + 16 * i, s[i]);
        }
        o[j] = dot_regs(NV, s, qv) * scale;
    }
}

void ops_delta_rule_step_avx512(float *restrict S, const float *restrict q, const float *restrict k,
                                const float *restrict v, float decay, float beta, float scale, float *restrict o,
                                int n) {
    if (n == 128) delta_regs(8, S, q, k, v, decay, beta, scale, o);
    else if (n == 64) delta_regs(4, S, q, k, v, decay, beta, scale, o);
    else delta_rule_step(S, q, k, v, decay, beta, scale, o, n);
}
