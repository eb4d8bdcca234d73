/* The exact attention kernel over an f16 KV cache (ops_attention_f16, one query head),
 * written once for x86 and compiled twice: ops_attn_avx2.c and ops_attn_avx512.c define
 * V, a 16-lane float vector (two 8-lane halves on AVX2, one zmm on AVX-512), and its
 * operations, then include this file. 16 lanes are the width of ggml's AVX-512 order,
 * which the portable kernel in ops.c follows: each V is one of its registers, so both
 * builds give the portable bits.
 *   V v_zero(void); V v_set1(float); V v_ld(const float *); void v_st(float *, V);
 *   V v_ldh(const uint16_t *)        16 halves as floats
 *   V v_fma(V a, V b, V c)           a * b + c, fused
 *   V v_add(V, V); V v_sub(V, V); V v_mul(V, V); V v_max(V, V)
 *   V v_exp(V)                       ops_expf_ggml in every lane
 *   V v_round_h(V)                   each lane rounded to f16 (nearest even)
 *   __m256 v_fold(V), v_fold_max(V)  lanes l and l+8 added / maxed (8 lanes left)
 * Include only from files compiled with AVX2 + FMA + F16C; head_dim % 16 == 0. */
#ifndef OMNI_CORE_OPS_ATTN_X86_H
#define OMNI_CORE_OPS_ATTN_X86_H
#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "core/ops.h"

/* _mm512_reduce_add_ps's order: lanes l + l+8 (v_fold), then + l+4, + l+2, + l+1 */
static inline float v_hsum(V x) {
    __m256 h = v_fold(x);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float v_hmax(V x) {
    __m256 h = v_fold_max(x);
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

static inline __m256 attn_ld8h(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

/* q·k, see dot_f16_ggml in ops.c */
static inline float attn_dot(const float *qh, const uint16_t *kr, int n, int gemm) {
    if (gemm) {
        V a = v_zero();
        for (int i = 0; i < n; i += 16) a = v_fma(v_ldh(kr + i), v_ld(qh + i), a);
        return v_hsum(a);
    }
    V a[4] = {v_zero(), v_zero(), v_zero(), v_zero()};
    int np = n & ~63;
    for (int i = 0; i < np; i += 64)
        for (int s = 0; s < 4; s++) a[s] = v_fma(v_ldh(kr + i + 16 * s), v_ld(qh + i + 16 * s), a[s]);
    /* ggml folds its four registers (x0 + x2) + (x1 + x3) */
    double s = v_hsum(v_add(v_add(a[0], a[2]), v_add(a[1], a[3])));
    for (int i = np; i < n; i += 8) {
        float p[8];
        _mm256_storeu_ps(p, _mm256_mul_ps(attn_ld8h(kr + i), _mm256_loadu_ps(qh + i)));  /* exact: f16 x f16 */
        for (int l = 0; l < 8; l++) s += p[l];
    }
    return (float)s;
}

/* softmax in place over att[0..n), see ops_softmax_ggml, then each weight rounded to f16
 * as ggml hands it to the product with V; att has room up to a multiple of 16 */
static inline void attn_softmax(float *att, int n, float sink) {
    int n16 = (n + 15) & ~15;
    for (int i = n; i < n16; i++) att[i] = -INFINITY;
    V mx = v_set1(-INFINITY);
    for (int i = 0; i < n16; i += 16) mx = v_max(mx, v_ld(att + i));
    float rmax = v_hmax(mx);       /* a max: any order gives the same */
    if (sink > rmax) rmax = sink;  /* a sink joins the max, and the sum below */
    const V vmax = v_set1(rmax);
    double sum = 0;
    for (int i = 0; i < n16; i += 16) {
        V e = v_exp(v_sub(v_ld(att + i), vmax));
        v_st(att + i, e);
        sum += v_hsum(e);
    }
    if (sink > -INFINITY) sum += (double)expf(sink - rmax);
    const V inv = v_set1((float)(1.0 / sum));
    for (int i = 0; i < n16; i += 16) v_st(att + i, v_round_h(v_mul(v_ld(att + i), inv)));
}

static inline void attn_f16(float *out, const float *q, const uint16_t *k, const uint16_t *v, int n0, int n_kv,
                            int head_dim, long stride, float scale, float softcap, float sink, int gemm, float *att) {
    float *qh = att + OPS_PAD32(n_kv), *acc = qh + head_dim;
    for (int i = 0; i < head_dim; i += 16) v_st(qh + i, v_round_h(v_ld(q + i)));
    float inv_cap = softcap > 0 ? 1.0f / softcap : 0;
    for (int t = 0; t < n0 && t < n_kv; t++) att[t] = -INFINITY;  /* outside the window: masked */
    /* separate loops: a tanhf call in the common loop's body costs its registers */
    if (softcap > 0)
        for (int t = n0; t < n_kv; t++) att[t] = tanhf(attn_dot(qh, k + t * stride, head_dim, gemm) * inv_cap) * softcap * scale;
    else if (gemm)
        for (int t = n0; t < n_kv; t++) att[t] = attn_dot(qh, k + t * stride, head_dim, 1) * scale;
    else
        for (int t = n0; t < n_kv; t++) att[t] = attn_dot(qh, k + t * stride, head_dim, 0) * scale;
    attn_softmax(att, n_kv, sink);

    /* lanes are positions (ggml's V is transposed): position t adds into row t % lanes */
    int lanes = gemm ? 16 : 64, np = gemm ? n_kv : OPS_PAD32(n_kv) & ~63;
    for (long i = 0; i < (long)lanes * head_dim; i += 16) v_st(acc + i, v_zero());
    for (int t = 0; t < n_kv && t < np; t++) {
        float p = att[t];
        if (p == 0) continue;
        const V pv = v_set1(p);
        const uint16_t *vr = v + t * stride;
        float *a = acc + (long)(t % lanes) * head_dim;
        for (int i = 0; i < head_dim; i += 16) v_st(a + i, v_fma(v_ldh(vr + i), pv, v_ld(a + i)));
    }
#define ROW(l) v_ld(acc + (long)(l) * head_dim + i)
    for (int i = 0; i < head_dim; i += 16) {
        V y[16];
        if (gemm)
            for (int l = 0; l < 16; l++) y[l] = ROW(l);
        else
            for (int l = 0; l < 16; l++) y[l] = v_add(v_add(ROW(l), ROW(l + 32)), v_add(ROW(l + 16), ROW(l + 48)));
        /* the 16-lane tree, vertically: one output column per element */
        for (int l = 0; l < 8; l++) y[l] = v_add(y[l], y[l + 8]);
        for (int l = 0; l < 4; l++) y[l] = v_add(y[l], y[l + 4]);
        v_st(out + i, v_add(v_add(y[0], y[2]), v_add(y[1], y[3])));
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

#endif
