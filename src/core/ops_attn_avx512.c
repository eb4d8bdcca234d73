/* AVX-512 version of ops_attention_f16 (one query head over an f16 KV cache): the
 * AVX2 kernel (ops_attn_avx2.c) with each pair of 8-lane registers as the one 16-lane
 * register of ggml's AVX-512 order it stands for, so half the loads, FMAs and stores
 * per position and the same bits (the reductions fold lanes l and l+8 first, as there).
 * Entered only after a run-time CPU check (core/cpu.h); head_dim % 16 == 0. */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "core/expf_avx512.h"
#include "core/ops.h"

void ops_attention_f16_avx512(float *out, const float *q, const uint16_t *k, const uint16_t *v, int n0, int n_kv,
                              int head_dim, long stride, float scale, float softcap, float sink, int gemm, float *att);

static inline __m512 ld16(const uint16_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }
static inline __m256 ld8(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

/* _mm512_reduce_add_ps in ggml's order: lanes l + l+8, then + l+4, + l+2, + l+1 */
static inline float hsum16(__m512 x) {
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(x), _mm512_extractf32x8_ps(x, 1));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* q·k, see dot_f16_ggml in ops.c */
static inline float dot16(const float *qh, const uint16_t *kr, int n, int gemm) {
    if (gemm) {
        __m512 a = _mm512_setzero_ps();
        for (int i = 0; i < n; i += 16) a = _mm512_fmadd_ps(ld16(kr + i), _mm512_loadu_ps(qh + i), a);
        return hsum16(a);
    }
    __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    int np = n & ~63;
    for (int i = 0; i < np; i += 64)
        for (int s = 0; s < 4; s++) a[s] = _mm512_fmadd_ps(ld16(kr + i + 16 * s), _mm512_loadu_ps(qh + i + 16 * s), a[s]);
    double s = hsum16(_mm512_add_ps(_mm512_add_ps(a[0], a[2]), _mm512_add_ps(a[1], a[3])));
    for (int i = np; i < n; i += 8) {
        float p[8];
        _mm256_storeu_ps(p, _mm256_mul_ps(ld8(kr + i), _mm256_loadu_ps(qh + i)));  /* exact: f16 x f16 */
        for (int l = 0; l < 8; l++) s += p[l];
    }
    return (float)s;
}

/* softmax in place over att[0..n), see ops_softmax_ggml; att has room up to a multiple of 16 */
static void softmax16(float *att, int n, float sink) {
    int n16 = (n + 15) & ~15;
    for (int i = n; i < n16; i++) att[i] = -INFINITY;
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int i = 0; i < n16; i += 16) mx = _mm512_max_ps(mx, _mm512_loadu_ps(att + i));
    float rmax = _mm512_reduce_max_ps(mx);  /* a max: any order gives the same */
    if (sink > rmax) rmax = sink;           /* a sink joins the max, and the sum below */
    const __m512 vmax = _mm512_set1_ps(rmax);
    double sum = 0;
    for (int i = 0; i < n16; i += 16) {
        __m512 e = expf16_ggml(_mm512_sub_ps(_mm512_loadu_ps(att + i), vmax));
        _mm512_storeu_ps(att + i, e);
        sum += hsum16(e);
    }
    if (sink > -INFINITY) sum += (double)expf(sink - rmax);
    const __m512 inv = _mm512_set1_ps((float)(1.0 / sum));
    /* the weights as ggml hands them to the f16 product with V: rounded to f16 */
    for (int i = 0; i < n16; i += 16)
        _mm512_storeu_ps(att + i, _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_mul_ps(_mm512_loadu_ps(att + i), inv),
                                                                  _MM_FROUND_TO_NEAREST_INT)));
}

void ops_attention_f16_avx512(float *out, const float *q, const uint16_t *k, const uint16_t *v, int n0, int n_kv,
                              int head_dim, long stride, float scale, float softcap, float sink, int gemm, float *att) {
    float *qh = att + OPS_PAD32(n_kv), *acc = qh + head_dim;
    for (int i = 0; i < head_dim; i += 16)
        _mm512_storeu_ps(qh + i, _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_loadu_ps(q + i), _MM_FROUND_TO_NEAREST_INT)));
    float inv_cap = softcap > 0 ? 1.0f / softcap : 0;
    for (int t = 0; t < n0 && t < n_kv; t++) att[t] = -INFINITY;  /* outside the window: masked */
    if (softcap > 0)
        for (int t = n0; t < n_kv; t++) att[t] = tanhf(dot16(qh, k + t * stride, head_dim, gemm) * inv_cap) * softcap * scale;
    else if (gemm)
        for (int t = n0; t < n_kv; t++) att[t] = dot16(qh, k + t * stride, head_dim, 1) * scale;
    else
        for (int t = n0; t < n_kv; t++) att[t] = dot16(qh, k + t * stride, head_dim, 0) * scale;
    softmax16(att, n_kv, sink);

    /* lanes are positions (ggml's V is transposed): position t adds into row t % lanes */
    int lanes = gemm ? 16 : 64, np = gemm ? n_kv : OPS_PAD32(n_kv) & ~63;
    for (long i = 0; i < (long)lanes * head_dim; i += 16) _mm512_storeu_ps(acc + i, _mm512_setzero_ps());
    for (int t = 0; t < n_kv && t < np; t++) {
        float p = att[t];
        if (p == 0) continue;
        const __m512 pv = _mm512_set1_ps(p);
        const uint16_t *vr = v + t * stride;
        float *a = acc + (long)(t % lanes) * head_dim;
        for (int i = 0; i < head_dim; i += 16)
            _mm512_storeu_ps(a + i, _mm512_fmadd_ps(ld16(vr + i), pv, _mm512_loadu_ps(a + i)));
    }
#define ROW(l) _mm512_loadu_ps(acc + (long)(l) * head_dim + i)
    for (int i = 0; i < head_dim; i += 16) {
        __m512 y[16];
        if (gemm)
            for (int l = 0; l < 16; l++) y[l] = ROW(l);
        else
            for (int l = 0; l < 16; l++) y[l] = _mm512_add_ps(_mm512_add_ps(ROW(l), ROW(l + 32)), _mm512_add_ps(ROW(l + 16), ROW(l + 48)));
        /* the 16-lane tree, vertically: one output column per element */
        for (int l = 0; l < 8; l++) y[l] = _mm512_add_ps(y[l], y[l + 8]);
        for (int l = 0; l < 4; l++) y[l] = _mm512_add_ps(y[l], y[l + 4]);
        _mm512_storeu_ps(out + i, _mm512_add_ps(_mm512_add_ps(y[0], y[2]), _mm512_add_ps(y[1], y[3])));
    }
#undef ROW
    if (gemm || np >= n_kv) return;
    /* ggml_vec_dot_f16's tail: positions past the last 64-block added in double */
    for (int i = 0; i < head_dim; i++) {
        double s = out[i];
        for (int t = np; t < n_kv; t++) s += (double)(att[t] * _cvtsh_ss(v[t * stride + i]));
        out[i] = (float)s;
    }
}
