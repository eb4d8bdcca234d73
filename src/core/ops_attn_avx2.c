/* AVX2 + F16C version of ops_attention_f16 (one query head over an f16 KV cache:
 * ops_attn_x86.h), and of ops_f32_to_f16, which fills that cache.
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

typedef struct { __m256 lo, hi; } V;

static inline V v_pair(__m256 lo, __m256 hi) { return (V){lo, hi}; }
static inline V v_zero(void) { return v_pair(_mm256_setzero_ps(), _mm256_setzero_ps()); }
static inline V v_set1(float x) { return v_pair(_mm256_set1_ps(x), _mm256_set1_ps(x)); }
static inline V v_ld(const float *p) { return v_pair(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)); }
static inline void v_st(float *p, V x) { _mm256_storeu_ps(p, x.lo), _mm256_storeu_ps(p + 8, x.hi); }
static inline __m256 ld8h(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
static inline V v_ldh(const uint16_t *p) { return v_pair(ld8h(p), ld8h(p + 8)); }
static inline V v_fma(V a, V b, V c) { return v_pair(_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)); }
static inline V v_add(V a, V b) { return v_pair(_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)); }
static inline V v_sub(V a, V b) { return v_pair(_mm256_sub_ps(a.lo, b.lo), _mm256_sub_ps(a.hi, b.hi)); }
static inline V v_mul(V a, V b) { return v_pair(_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)); }
static inline V v_max(V a, V b) { return v_pair(_mm256_max_ps(a.lo, b.lo), _mm256_max_ps(a.hi, b.hi)); }
static inline V v_exp(V x) { return v_pair(expf8_ggml(x.lo), expf8_ggml(x.hi)); }
static inline __m256 round8h(__m256 x) { return _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT)); }
static inline V v_round_h(V x) { return v_pair(round8h(x.lo), round8h(x.hi)); }

static inline __m256 v_fold(V x) { return _mm256_add_ps(x.lo, x.hi); }
static inline __m256 v_fold_max(V x) { return _mm256_max_ps(x.lo, x.hi); }

#include "core/ops_attn_x86.h"

void ops_attention_f16_avx2(float *out, const float *q, const uint16_t *k, const uint16_t *v, int n0, int n_kv,
                            int head_dim, long stride, float scale, float softcap, float sink, int gemm, float *att) {
    attn_f16(out, q, k, v, n0, n_kv, head_dim, stride, scale, softcap, sink, gemm, att);
}
