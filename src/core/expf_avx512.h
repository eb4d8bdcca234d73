/* ggml's vectorized exp (ops_expf_ggml) on 16 AVX-512 lanes, for the kernels that must
 * round exactly as llama.cpp does (the tiled and the exact attention's softmax). Include
 * only from files compiled with AVX-512 (*_avx512.c). */
#ifndef OMNI_CORE_EXPF_AVX512_H
#define OMNI_CORE_EXPF_AVX512_H
#include <immintrin.h>

/* ops_expf_ggml on 16 lanes: expf8_ggml's steps (core/expf_avx2.h) in 512-bit registers */
static inline __m512 expf16_ggml(__m512 x) {
    const __m512 r = _mm512_set1_ps(0x1.8p23f);
    __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), r), n = _mm512_sub_ps(z, r);
    __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f), _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
    __m512 u = _mm512_mul_ps(b, b);
    __m512 j = _mm512_fmadd_ps(
        _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f)), u,
                        _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f))),
        u, _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0f)));
    __m512 nc = _mm512_min_ps(_mm512_max_ps(n, _mm512_set1_ps(-192.0f)), _mm512_set1_ps(192.0f));
    __m512i ni = _mm512_cvtps_epi32(nc), n1 = _mm512_srai_epi32(ni, 1), n2 = _mm512_sub_epi32(ni, n1);
    __m512 s1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n1, _mm512_set1_epi32(127)), 23));
    __m512 s2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n2, _mm512_set1_epi32(127)), 23));
    __m512 res = _mm512_mul_ps(_mm512_mul_ps(j, s1), s2);
    __mmask16 far = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192.0f), _CMP_GT_OQ);
    __mmask16 pos = _mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_GT_OQ);
    __m512 alt = _mm512_maskz_mov_ps(pos, _mm512_set1_ps(__builtin_inff()));
    return _mm512_mask_blend_ps(far, res, alt);
}

#endif
