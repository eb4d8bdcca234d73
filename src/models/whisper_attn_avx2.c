/* AVX2/F16C version of Whisper's decoder attention inner loop (see attend_f16 in
 * whisper.c, which is the reference): same arithmetic and the same f16 rounding of
 * the query and of the running weighted sum, eight lanes at a time. */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "models/whisper_attn.h"

static inline __m256 load_h8(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
static inline __m256 round_h8(__m256 x) { return _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT)); }

void whisper_attend_avx2(float *out, const float *q, const uint16_t *k, const uint16_t *v, int n_kv, int d,
                         long stride, float scale, int n_null) {
    __m256 qh[WATTN_MAX_D / 8], acc[WATTN_MAX_D / 8];
    int nb = d / 8;
    for (int b = 0; b < nb; b++) {
        qh[b] = round_h8(_mm256_loadu_ps(q + 8 * b));
        acc[b] = _mm256_setzero_ps();
    }
    float M = -INFINITY, S = 0;
    for (int t = 0; t < n_kv + n_null; t++) {
        float sc = 0;
        if (t < n_kv) {
            const uint16_t *kr = k + t * stride;
            __m256 s8 = _mm256_setzero_ps();
            for (int b = 0; b < nb; b++) s8 = _mm256_fmadd_ps(qh[b], load_h8(kr + 8 * b), s8);
            __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
            s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
            s4 = _mm_add_ss(s4, _mm_movehdup_ps(s4));
            sc = scale * _mm_cvtss_f32(s4);
        }
        float ms = 1, vs;
        if (sc > M) {
            ms = expf(M - sc);
            M = sc;
            __m256 m8 = _mm256_set1_ps(ms);
            for (int b = 0; b < nb; b++) acc[b] = round_h8(_mm256_mul_ps(acc[b], m8));
            vs = 1;
        } else {
            vs = expf(sc - M);
        }
        if (t < n_kv) {
            const uint16_t *vr = v + t * stride;
            __m256 v8 = _mm256_set1_ps(vs);
            for (int b = 0; b < nb; b++) acc[b] = round_h8(_mm256_fmadd_ps(load_h8(vr + 8 * b), v8, acc[b]));
        }
        S = S * ms + vs;
    }
    __m256 inv = _mm256_set1_ps(1.0f / S);
    for (int b = 0; b < nb; b++) _mm256_storeu_ps(out + 8 * b, _mm256_mul_ps(acc[b], inv));
}
