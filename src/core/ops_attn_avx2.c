/* AVX2 + F16C version of ops_attention_f16 (one query head over an f16 KV cache), and
 * of ops_f32_to_f16, which fills that cache.
 * Bit-identical to the portable version in ops.c, which follows ggml's AVX-512 order:
 * each 16-lane ggml register is a pair of 8-lane registers here (lo = lanes 0-7,
 * hi = lanes 8-15), so lo + hi is the first step of its 16-lane reduction tree.
 * Entered only after a run-time CPU check (core/cpu.h); head_dim % 16 == 0. */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "core/expf_avx2.h"
#include "core/ops.h"

void ops_attention_f16_avx2(float *out, const float *q, const uint16_t *k, const uint16_t *v, int n0, int n_kv,
                            int head_dim, long stride, float scale, float softcap, float sink, int gemm, float *att);

void ops_f32_to_f16_avx2(uint16_t *out, const float *x, int n);

/* KV cache writes: F16C rounds to nearest even like fp32_to_fp16 (NaN payloads aside) */
void ops_f32_to_f16_avx2(uint16_t *out, const float *x, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(out + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) out[i] = (uint16_t)_mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(x[i]), _MM_FROUND_TO_NEAREST_INT), 0);
}

static inline __m256 ld16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

/* the rest of _mm512_reduce_add_ps once lanes i and i+8 are added */
static inline float hsum8(__m256 x) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float round_f16(float x) {
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtps_ph(_mm_set_ss(x), _MM_FROUND_TO_NEAREST_INT)));
}

/* q·k, see dot_f16_ggml in ops.c */
static inline float dot16(const float *qh, const uint16_t *kr, int n, int gemm) {
    if (gemm) {
        __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
        for (int i = 0; i < n; i += 16) {
            lo = _mm256_fmadd_ps(ld16(kr + i), _mm256_loadu_ps(qh + i), lo);
            hi = _mm256_fmadd_ps(ld16(kr + i + 8), _mm256_loadu_ps(qh + i + 8), hi);
        }
        return hsum8(_mm256_add_ps(lo, hi));
    }
    __m256 a[8];
    for (int s = 0; s < 8; s++) a[s] = _mm256_setzero_ps();
    int np = n & ~63;
    for (int i = 0; i < np; i += 64)
        for (int s = 0; s < 8; s++) a[s] = _mm256_fmadd_ps(ld16(kr + i + 8 * s), _mm256_loadu_ps(qh + i + 8 * s), a[s]);
    /* 16-lane registers x_j = (a[2j], a[2j+1]); ggml folds (x0 + x2) + (x1 + x3) */
    __m256 lo = _mm256_add_ps(_mm256_add_ps(a[0], a[4]), _mm256_add_ps(a[2], a[6]));
    __m256 hi = _mm256_add_ps(_mm256_add_ps(a[1], a[5]), _mm256_add_ps(a[3], a[7]));
    double s = hsum8(_mm256_add_ps(lo, hi));
    for (int i = np; i < n; i += 8) {
        float p[8];
        _mm256_storeu_ps(p, _mm256_mul_ps(ld16(kr + i), _mm256_loadu_ps(qh + i)));  /* exact: f16 x f16 */
        for (int l = 0; l < 8; l++) s += p[l];
    }
    return (float)s;
}

/* softmax in place over att[0..n), see ops_softmax_ggml; att has room up to a multiple of 16 */
static void softmax16(float *att, int n, float sink) {
    int n16 = (n + 15) & ~15;
    __m256 mx = _mm256_set1_ps(-INFINITY);
    for (int i = n; i < n16; i++) att[i] = -INFINITY;
    for (int i = 0; i < n16; i += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(att + i));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float rmax = _mm_cvtss_f32(m4);
    if (sink > rmax) rmax = sink;  /* a sink joins the max, and the sum below */
    __m256 vmax = _mm256_set1_ps(rmax);
    double sum = 0;
    for (int i = 0; i < n16; i += 16) {
        __m256 lo = expf8_ggml(_mm256_sub_ps(_mm256_loadu_ps(att + i), vmax));
        __m256 hi = expf8_ggml(_mm256_sub_ps(_mm256_loadu_ps(att + i + 8), vmax));
        _mm256_storeu_ps(att + i, lo);
        _mm256_storeu_ps(att + i + 8, hi);
        sum += hsum8(_mm256_add_ps(lo, hi));
    }
    if (sink > -INFINITY) sum += (double)expf(sink - rmax);
    __m256 inv = _mm256_set1_ps((float)(1.0 / sum));
    for (int i = 0; i < n16; i += 8) _mm256_storeu_ps(att + i, _mm256_mul_ps(_mm256_loadu_ps(att + i), inv));
}

void ops_attention_f16_avx2(float *out, const float *q, const uint16_t *k, const uint16_t *v, int n0, int n_kv,
                            int head_dim, long stride, float scale, float softcap, float sink, int gemm, float *att) {
    float *qh = att + OPS_PAD32(n_kv), *acc = qh + head_dim;
    for (int i = 0; i < head_dim; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(q + i), _MM_FROUND_TO_NEAREST_INT);
        _mm256_storeu_ps(qh + i, _mm256_cvtph_ps(h));
    }
    float inv_cap = softcap > 0 ? 1.0f / softcap : 0;
    for (int t = 0; t < n0 && t < n_kv; t++) att[t] = -INFINITY;  /* outside the window: masked */
    /* separate loops: a tanhf call in the common loop's body costs its registers */
    if (softcap > 0)
        for (int t = n0; t < n_kv; t++) att[t] = tanhf(dot16(qh, k + t * stride, head_dim, gemm) * inv_cap) * softcap * scale;
    else if (gemm)
        for (int t = n0; t < n_kv; t++) att[t] = dot16(qh, k + t * stride, head_dim, 1) * scale;
    else
        for (int t = n0; t < n_kv; t++) att[t] = dot16(qh, k + t * stride, head_dim, 0) * scale;
    softmax16(att, n_kv, sink);

    /* lanes are positions (ggml's V is transposed): position t adds into row t % lanes */
    int lanes = gemm ? 16 : 64, np = gemm ? n_kv : OPS_PAD32(n_kv) & ~63;
    for (long i = 0; i < (long)lanes * head_dim; i += 8) _mm256_storeu_ps(acc + i, _mm256_setzero_ps());
    for (int t = 0; t < n_kv; t++) {
        float p = att[t] = round_f16(att[t]);
        if (p == 0 || t >= np) continue;
        __m256 pv = _mm256_set1_ps(p);
        const uint16_t *vr = v + t * stride;
        float *a = acc + (long)(t % lanes) * head_dim;
        for (int i = 0; i < head_dim; i += 8)
            _mm256_storeu_ps(a + i, _mm256_fmadd_ps(ld16(vr + i), pv, _mm256_loadu_ps(a + i)));
    }
#define ROW(l) _mm256_loadu_ps(acc + (long)(l) * head_dim + i)
    for (int i = 0; i < head_dim; i += 8) {
        __m256 y[16];
        if (gemm)
            for (int l = 0; l < 16; l++) y[l] = ROW(l);
        else
            for (int l = 0; l < 16; l++) y[l] = _mm256_add_ps(_mm256_add_ps(ROW(l), ROW(l + 32)), _mm256_add_ps(ROW(l + 16), ROW(l + 48)));
        /* the 16-lane tree, vertically: one output column per 8-lane element */
        for (int l = 0; l < 8; l++) y[l] = _mm256_add_ps(y[l], y[l + 8]);
        for (int l = 0; l < 4; l++) y[l] = _mm256_add_ps(y[l], y[l + 4]);
        __m256 r = _mm256_add_ps(_mm256_add_ps(y[0], y[2]), _mm256_add_ps(y[1], y[3]));
        _mm256_storeu_ps(out + i, r);
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
