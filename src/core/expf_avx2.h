/* ggml's vectorized exp (ops_expf_ggml) on 8 AVX2 lanes, shared by the kernels that
 * must round exactly as llama.cpp does (softmax in attention, SiLU). Include only from
 * files compiled with AVX2 + FMA (*_avx2.c). */
#ifndef OMNI_CORE_EXPF_AVX2_H
#define OMNI_CORE_EXPF_AVX2_H
#include <immintrin.h>

/* ops_expf_ggml on 8 lanes. ggml's AVX-512 version applies 2^n with scalef (one
 * rounding, like ldexpf); here j * 2^n1 is exact (|n1| <= 96 keeps it normal) and
 * the multiply by 2^n2 (n = n1 + n2) rounds once, so the result is the same float,
 * overflow to inf and gradual underflow included. |n| > 192: 0 or inf, as ggml. */
static inline __m256 expf8_ggml(__m256 x) {
    const __m256 r = _mm256_set1_ps(0x1.8p23f);
    __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), r), n = _mm256_sub_ps(z, r);
    __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f), _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
    __m256 u = _mm256_mul_ps(b, b);
    __m256 j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
                        _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
        u, _mm256_fmadd_ps(_mm256_set1_ps(0x1.ffffecp-1f), b, _mm256_set1_ps(1.0f)));
    /* n is an integer in [-2^22, 2^22] here (NaN aside); clamp so the exponent fields stay valid */
    __m256 nc = _mm256_min_ps(_mm256_max_ps(n, _mm256_set1_ps(-192.0f)), _mm256_set1_ps(192.0f));
    __m256i ni = _mm256_cvtps_epi32(nc), n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
    __m256 res = _mm256_mul_ps(_mm256_mul_ps(j, s1), s2);
    __m256 far = _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), n), _mm256_set1_ps(192.0f), _CMP_GT_OQ);
    __m256 alt = _mm256_and_ps(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_GT_OQ), _mm256_set1_ps(__builtin_inff()));
    return _mm256_blendv_ps(res, alt, far);
}

#endif
