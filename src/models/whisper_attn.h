/* Whisper decoder attention kernels with a run-time choice of implementation. */
#ifndef OMNI_MODELS_WHISPER_ATTN_H
#define OMNI_MODELS_WHISPER_ATTN_H
#include <stdint.h>

#define WATTN_MAX_D 256 /* head width the SIMD kernel handles (Whisper uses 64) */

/* One query head over n_kv f16 keys/values `stride` apart plus n_null zero keys;
 * needs AVX2+FMA+F16C and d a multiple of 8, at most WATTN_MAX_D. */
void whisper_attend_avx2(float *out, const float *q, const uint16_t *k, const uint16_t *v, int n_kv, int d,
                         long stride, float scale, int n_null);

/* In-place softmax of n scores plus n_null implicit zero scores (AVX2+FMA). */
void whisper_softmax_avx2(float *x, int n, int n_null);

#endif
