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

/* e^x for x <= 0 (softmax arguments), Cephes' polynomial: relative error ~2e-7. */
static inline __m256 exp8(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

void whisper_softmax_avx2(float *x, int n, int n_null) {
    __m256 m8 = _mm256_set1_ps(n_null ? 0.0f : -INFINITY);
    int i = 0;
    for (; i + 8 <= n; i += 8) m8 = _mm256_max_ps(m8, _mm256_loadu_ps(x + i));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m8), _mm256_extractf128_ps(m8, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float mx = _mm_cvtss_f32(m4);
    for (int j = i; j < n; j++) if (x[j] > mx) mx = x[j];
    __m256 mxv = _mm256_set1_ps(mx), s8 = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), mxv));
        _mm256_storeu_ps(x + i, e);
        s8 = _mm256_add_ps(s8, e);
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, s8);
    double sum = n_null * exp(-(double)mx);
    for (int j = 0; j < 8; j++) sum += lanes[j];
    for (; i < n; i++) { x[i] = expf(x[i] - mx); sum += x[i]; }
    __m256 inv = _mm256_set1_ps((float)(1.0 / sum));
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    for (; i < n; i++) x[i] *= (float)(1.0 / sum);
}

void whisper_enc_attend4_avx2(float *out, long os, const float *q, const float *kt, int T, int tp, const float *v,
                              long vs, int d, int n_null, float *s) {
    /* scores: 4 queries x 16 keys per register tile, keys read along Kᵀ's rows */
    for (int t = 0; t < tp; t += 16) {
        __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
        const float *kp = kt + t;
        for (int i = 0; i < d; i++, kp += tp) {
            __m256 k0 = _mm256_loadu_ps(kp), k1 = _mm256_loadu_ps(kp + 8), b;
            b = _mm256_broadcast_ss(q + i);         a00 = _mm256_fmadd_ps(b, k0, a00); a01 = _mm256_fmadd_ps(b, k1, a01);
            b = _mm256_broadcast_ss(q + d + i);     a10 = _mm256_fmadd_ps(b, k0, a10); a11 = _mm256_fmadd_ps(b, k1, a11);
            b = _mm256_broadcast_ss(q + 2 * d + i); a20 = _mm256_fmadd_ps(b, k0, a20); a21 = _mm256_fmadd_ps(b, k1, a21);
            b = _mm256_broadcast_ss(q + 3 * d + i); a30 = _mm256_fmadd_ps(b, k0, a30); a31 = _mm256_fmadd_ps(b, k1, a31);
        }
        _mm256_storeu_ps(s + t, a00);          _mm256_storeu_ps(s + t + 8, a01);
        _mm256_storeu_ps(s + tp + t, a10);     _mm256_storeu_ps(s + tp + t + 8, a11);
        _mm256_storeu_ps(s + 2 * tp + t, a20); _mm256_storeu_ps(s + 2 * tp + t + 8, a21);
        _mm256_storeu_ps(s + 3 * tp + t, a30); _mm256_storeu_ps(s + 3 * tp + t + 8, a31);
    }
    for (int r = 0; r < 4; r++) whisper_softmax_avx2(s + (long)r * tp, T, n_null);
    /* out = P·V, 16 output columns at a time so the 4 x 2 accumulators stay in registers */
    for (int c = 0; c < d; c += 16) {
        __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
        const float *vp = v + c;
        for (int t = 0; t < T; t++, vp += vs) {
            __m256 v0 = _mm256_loadu_ps(vp), v1 = _mm256_loadu_ps(vp + 8), b;
            b = _mm256_broadcast_ss(s + t);          a00 = _mm256_fmadd_ps(b, v0, a00); a01 = _mm256_fmadd_ps(b, v1, a01);
            b = _mm256_broadcast_ss(s + tp + t);     a10 = _mm256_fmadd_ps(b, v0, a10); a11 = _mm256_fmadd_ps(b, v1, a11);
            b = _mm256_broadcast_ss(s + 2 * tp + t); a20 = _mm256_fmadd_ps(b, v0, a20); a21 = _mm256_fmadd_ps(b, v1, a21);
            b = _mm256_broadcast_ss(s + 3 * tp + t); a30 = _mm256_fmadd_ps(b, v0, a30); a31 = _mm256_fmadd_ps(b, v1, a31);
        }
        _mm256_storeu_ps(out + c, a00);          _mm256_storeu_ps(out + c + 8, a01);
        _mm256_storeu_ps(out + os + c, a10);     _mm256_storeu_ps(out + os + c + 8, a11);
        _mm256_storeu_ps(out + 2 * os + c, a20); _mm256_storeu_ps(out + 2 * os + c + 8, a21);
        _mm256_storeu_ps(out + 3 * os + c, a30); _mm256_storeu_ps(out + 3 * os + c + 8, a31);
    }
}

void whisper_gelu_avx2(float *x, long n, const float *table) {
    const __m256 lo = _mm256_set1_ps(-10.0f), hi = _mm256_set1_ps(10.0f);
    for (long i = 0; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256i idx = _mm256_cvtepu16_epi32(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
        __m256 g = _mm256_i32gather_ps(table, idx, 4);
        /* above 10 (and NaN) the input passes through; at or below -10 it is 0 */
        g = _mm256_blendv_ps(v, g, _mm256_cmp_ps(v, hi, _CMP_LT_OQ));
        g = _mm256_andnot_ps(_mm256_cmp_ps(v, lo, _CMP_LE_OQ), g);
        _mm256_storeu_ps(x + i, g);
    }
}
