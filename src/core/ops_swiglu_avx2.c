/* AVX2 + FMA SwiGLU in ggml's arithmetic: silu(g) = g / (1 + e) with e = ggml's
 * vectorized exp of -g (ops_expf_ggml on 8 lanes, any argument), times up.
 * Bit-identical to the portable loop in ops.c; entered after a run-time CPU check. */
#include <immintrin.h>

#include "core/expf_avx2.h"

void ops_swiglu_avx2(float *out, const float *gate, const float *up, int n);

void ops_swiglu_avx2(float *out, const float *gate, const float *up, int n) {
    const __m256 one = _mm256_set1_ps(1.0f), neg = _mm256_set1_ps(-0.0f);
    for (int i = 0; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(gate + i);
        __m256 e = expf8_ggml(_mm256_xor_ps(g, neg));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
    }
}
