/* AVX2 + F16C version of ops_attention_f16 (one query head over an f16 KV cache):
 * the f16 loads become one cvtph per 8 values instead of a table lookup per value.
 * Same rounding steps as the portable version (q and probabilities to f16), only the
 * summation order differs. Entered only after a run-time CPU check (core/cpu.h). */
#include <immintrin.h>
#include <stdint.h>

#include "core/ops.h"

void ops_attention_f16_avx2(float *out, const float *q, const uint16_t *k, const uint16_t *v, int n_kv,
                            int head_dim, long stride, float scale, float *att);

static inline float hsum(__m256 x) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

void ops_attention_f16_avx2(float *out, const float *q, const uint16_t *k, const uint16_t *v, int n_kv,
                            int head_dim, long stride, float scale, float *att) {
    float *qh = att + n_kv;
    for (int i = 0; i < head_dim; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(q + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_ps(qh + i, _mm256_cvtph_ps(h));
    }
    for (int t = 0; t < n_kv; t++) {
        const uint16_t *kr = k + t * stride;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        int i = 0;
        for (; i + 16 <= head_dim; i += 16) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(qh + i), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kr + i))), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(qh + i + 8),
                                 _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kr + i + 8))), a1);
        }
        for (; i < head_dim; i += 8)
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(qh + i), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kr + i))), a0);
        att[t] = scale * hsum(_mm256_add_ps(a0, a1));
    }
    ops_softmax(att, n_kv);
    for (int i = 0; i < head_dim; i++) out[i] = 0;
    for (int t = 0; t < n_kv; t++) {
        /* round the probability to f16, as ggml does before its f16 product with V */
        float p = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtps_ph(_mm_set_ss(att[t]), _MM_FROUND_TO_NEAREST_INT)));
        __m256 pv = _mm256_set1_ps(p);
        const uint16_t *vr = v + t * stride;
        for (int i = 0; i < head_dim; i += 8) {
            __m256 o = _mm256_loadu_ps(out + i);
            o = _mm256_fmadd_ps(pv, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(vr + i))), o);
            _mm256_storeu_ps(out + i, o);
        }
    }
}
