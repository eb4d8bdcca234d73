/* AVX-512 kernel of matmul_id (see matmul_id.h): ggml_vec_dot_f16's order exactly,
 * so its results equal the scalar reference bit for bit (f16 products are exact in
 * f32, so an FMA into an accumulator rounds as the scalar add does). */
#include <immintrin.h>

#include "core/matmul_id.h"

void matmul_id_f16_avx512(int k, const void *w, size_t ws, int nr, const uint16_t *a, int mr, float *y, size_t ys) {
    int np = k & ~63;
    for (int i = 0; i < mr; i++) {
        const uint16_t *x = a + (size_t)i * k;
        for (int r = 0; r < nr; r++) {
            const uint16_t *wr = (const uint16_t *)((const char *)w + (size_t)r * ws);
            __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
            for (int e = 0; e < np; e += 64) {
                s0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(wr + e))),
                                     _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + e))), s0);
                s1 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(wr + e + 16))),
                                     _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + e + 16))), s1);
                s2 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(wr + e + 32))),
                                     _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + e + 32))), s2);
                s3 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(wr + e + 48))),
                                     _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + e + 48))), s3);
            }
            s0 = _mm512_add_ps(_mm512_add_ps(s0, s2), _mm512_add_ps(s1, s3));
            double s = _mm512_reduce_add_ps(s0);
            for (int e = np; e < k; e++) {
                float wv = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(wr[e])));
                float xv = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(x[e])));
                s += (double)(wv * xv);
            }
            y[(size_t)i * ys + r] = (float)s;
        }
    }
}

void matmul_f32_tinyblas_avx512(int k, const void *w, size_t ws, int nr, const float *a, int mr, float *y, size_t ys) {
    for (int i = 0; i < mr; i++) {
        const float *x = a + (size_t)i * k;
        for (int r = 0; r < nr; r++) {
            const float *wr = (const float *)((const char *)w + (size_t)r * ws);
            __m512 s = _mm512_setzero_ps();
            for (int e = 0; e < k; e += 16) s = _mm512_fmadd_ps(_mm512_loadu_ps(wr + e), _mm512_loadu_ps(x + e), s);
            y[(size_t)i * ys + r] = _mm512_reduce_add_ps(s);
        }
    }
}
