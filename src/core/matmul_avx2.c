/* AVX2 + FMA + F16C matmul kernels (the shared x86 code in matmul_x86.h, compiled
 * for AVX2); entered only when cpu_level() >= CPU_AVX2. */
#include "core/matmul_x86.h"

mm_gemm_fn matmul_avx2_kernel(int type) { return x86_kernel(type); }

/* vcvtps2ph with round-to-nearest-even gives fp32_to_fp16's bits for every finite
 * value and infinity; only NaN payloads differ, so a group holding a NaN goes through
 * the scalar conversion and the half bits never depend on the path. */
void matmul_avx2_to_f16(const float *x, uint16_t *out, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q))) {
            for (int j = 0; j < 8; j++) out[i + j] = fp32_to_fp16(x[i + j]);
            continue;
        }
        _mm_storeu_si128((__m128i *)(out + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    for (; i < n; i++) out[i] = fp32_to_fp16(x[i]);
}

/* vcvtph2ps is exact for every half (subnormals included); a NaN may come out with
 * its quiet bit set where fp16_to_fp32 keeps the payload as it is, so a group that
 * holds a NaN takes the scalar conversion. */
void matmul_avx2_from_f16(const uint16_t *h, float *out, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i)));
        if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q))) {
            for (int j = 0; j < 8; j++) out[i + j] = fp16_to_fp32(h[i + j]);
            continue;
        }
        _mm256_storeu_ps(out + i, v);
    }
    for (; i < n; i++) out[i] = fp16_to_fp32(h[i]);
}
