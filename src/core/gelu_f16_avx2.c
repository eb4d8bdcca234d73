/* gelu_f16's loop with F16C conversions, 8 values at a time: the same table lookups and
 * the same result bit for bit (F16C rounds to nearest even, as fp32_to_fp16 does; values
 * outside (-10, 10) and NaN are handled as in the portable loop). Entered after a
 * run-time CPU check. */
#include <immintrin.h>
#include <stdint.h>

long gelu_f16_avx2(float *x, long n, const uint16_t *table);

long gelu_f16_avx2(float *x, long n, const uint16_t *table) {
    const __m256 lo = _mm256_set1_ps(-10.0f), hi = _mm256_set1_ps(10.0f), zero = _mm256_setzero_ps();
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        uint16_t h[8], g[8];
        _mm_storeu_si128((__m128i *)h, _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        for (int k = 0; k < 8; k++) g[k] = table[h[k]];
        __m256 r = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)g));
        r = _mm256_blendv_ps(r, zero, _mm256_cmp_ps(v, lo, _CMP_LE_OQ));
        r = _mm256_blendv_ps(r, v, _mm256_cmp_ps(v, hi, _CMP_NLT_UQ));  /* >= 10 or NaN: unchanged */
        _mm256_storeu_ps(x + i, r);
    }
    return i;
}
