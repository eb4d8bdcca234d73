/* AVX-512 version of ops_attention_f16 (one query head over an f16 KV cache): the x86
 * kernel of ops_attn_x86.h with each 16-lane vector one zmm, the register of ggml's
 * AVX-512 order it stands for, so half the loads, FMAs and stores per position of the
 * AVX2 build and the same bits. Entered only after a run-time CPU check (core/cpu.h). */
#include <immintrin.h>
#include <stdint.h>

#include "core/expf_avx512.h"

void ops_attention_f16_avx512(float *out, const float *q, const uint16_t *k, const uint16_t *v, int n0, int n_kv,
                              int head_dim, long stride, float scale, float softcap, float sink, int gemm, float *att);

typedef __m512 V;

static inline V v_zero(void) { return _mm512_setzero_ps(); }
static inline V v_set1(float x) { return _mm512_set1_ps(x); }
static inline V v_ld(const float *p) { return _mm512_loadu_ps(p); }
static inline void v_st(float *p, V x) { _mm512_storeu_ps(p, x); }
static inline V v_ldh(const uint16_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }
static inline V v_fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
static inline V v_add(V a, V b) { return _mm512_add_ps(a, b); }
static inline V v_sub(V a, V b) { return _mm512_sub_ps(a, b); }
static inline V v_mul(V a, V b) { return _mm512_mul_ps(a, b); }
static inline V v_max(V a, V b) { return _mm512_max_ps(a, b); }
static inline V v_exp(V x) { return expf16_ggml(x); }
static inline V v_round_h(V x) { return _mm512_cvtph_ps(_mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT)); }
static inline __m256 v_fold(V x) { return _mm256_add_ps(_mm512_castps512_ps256(x), _mm512_extractf32x8_ps(x, 1)); }
static inline __m256 v_fold_max(V x) { return _mm256_max_ps(_mm512_castps512_ps256(x), _mm512_extractf32x8_ps(x, 1)); }

#include "core/ops_attn_x86.h"

void ops_attention_f16_avx512(float *out, const float *q, const uint16_t *k, const uint16_t *v, int n0, int n_kv,
                              int head_dim, long stride, float scale, float softcap, float sink, int gemm, float *att) {
    attn_f16(out, q, k, v, n0, n_kv, head_dim, stride, scale, softcap, sink, gemm, att);
}
