/* Whisper's SIMD kernels (attention, softmax, GELU), entered after a run-time CPU check. */
#ifndef OMNI_MODELS_WHISPER_ATTN_H
#define OMNI_MODELS_WHISPER_ATTN_H
#include <stdint.h>

#define WATTN_MAX_D 256 /* head width the SIMD kernel handles (Whisper uses 64) */

/* One query head over n_kv f16 keys/values `stride` apart plus n_null zero keys;
 * needs AVX2+FMA+F16C and d a multiple of 8, at most WATTN_MAX_D. */
void whisper_attend_avx2(float *out, const float *q, const uint16_t *k, const uint16_t *v, int n_kv, int d,
                         long stride, float scale, int n_null);

/* Encoder self-attention for 4 query rows of one head against all T keys: q holds the
 * 4 queries (d floats each, already scaled), kt the keys transposed (d rows of tp >= T
 * floats, tp a multiple of 16), v the values (row t at v + t * vs). Scores go through an
 * exact softmax with n_null implicit zero keys (whisper_softmax_avx2); the 4 outputs
 * land at out + r * os. s is scratch of 4 * tp floats; d must be a multiple of 16. */
void whisper_enc_attend4_avx2(float *out, long os, const float *q, const float *kt, int T, int tp, const float *v,
                              long vs, int d, int n_null, float *s);

/* GELU in place over the first n - n % 8 values: table[f16 bits of x] (65536 floats),
 * x itself from 10 up, 0 at -10 and below (whisper.c's gelu_f16, eight at a time). */
void whisper_gelu_avx2(float *x, long n, const float *table);

/* In-place softmax of n scores plus n_null implicit zero scores (AVX2+FMA). */
void whisper_softmax_avx2(float *x, int n, int n_null);

#endif
