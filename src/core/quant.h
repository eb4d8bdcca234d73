/* ggml's quantized block layouts, their (de)quantizers, the activation quantizers
 * used inside matmul, and the scalar reference dot products every SIMD kernel is
 * checked against. Block layouts are byte-exact with ggml (they are read from GGUF). */
#ifndef OMNI_CORE_QUANT_H
#define OMNI_CORE_QUANT_H
#include <stddef.h>
#include <stdint.h>

#define QK 32    /* elements in a small block (q4_0 .. q8_1) */
#define QK_K 256 /* elements in a K-quant super-block */

struct block_q4_0 { uint16_t d; uint8_t qs[QK / 2]; };
struct block_q4_1 { uint16_t d, m; uint8_t qs[QK / 2]; };
struct block_q5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[QK / 2]; };
struct block_q5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[QK / 2]; };
struct block_q8_0 { uint16_t d; int8_t qs[QK]; };
/* 6-bit sub-block scales and mins of q4_K/q5_K are packed into 12 bytes (see quant_scale_min_k4). */
struct block_q4_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[QK_K / 2]; };
struct block_q5_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; };
struct block_q6_K { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; uint16_t d; };
/* Activations for K-quant dot products (never stored in files): bsums are sums of 16 quants. */
struct block_q8_K { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; };

/* Activations for the 32-element types, our own in-memory layout: d is the fp16-rounded
 * scale (what llama.cpp's q8_0/q8_1 would store), sum the integer sum of qs (it lets the
 * SIMD kernels use unsigned×signed instructions), s q8_1's "s" term for the types with a
 * min (q4_1, q5_1) as llama.cpp stores it: fp16(unrounded scale × sum), as a float. */
struct block_q8a { float d; int32_t sum; float s; int8_t qs[QK]; };

/* Unpacks the 6-bit scale and min of sub-block j (0..7) of a q4_K/q5_K block. */
static inline void quant_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* Activation quantizers; n is a multiple of the block size. */
void quant_q8a(const float *x, struct block_q8a *y, int64_t n);
void quant_q8K(const float *x, struct block_q8_K *y, int64_t n);

/* Scalar reference dot products of one weight row (n elements) with one activation row
 * in the matching activation format (see matmul.c for which goes with which). */
float quant_dot_f32(int n, const void *w, const void *a);    /* a: float */
float quant_dot_f16(int n, const void *w, const void *a);    /* a: fp16 */
float quant_dot_bf16(int n, const void *w, const void *a);   /* a: bf16 */
float quant_dot_q4_0(int n, const void *w, const void *a);   /* a: block_q8a */
float quant_dot_q4_1(int n, const void *w, const void *a);
float quant_dot_q5_0(int n, const void *w, const void *a);
float quant_dot_q5_1(int n, const void *w, const void *a);
float quant_dot_q8_0(int n, const void *w, const void *a);
float quant_dot_q4_K(int n, const void *w, const void *a);   /* a: block_q8_K */
float quant_dot_q5_K(int n, const void *w, const void *a);
float quant_dot_q6_K(int n, const void *w, const void *a);

#endif
