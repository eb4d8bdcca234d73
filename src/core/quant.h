/* ggml's quantized block layouts, their (de)quantizers, the activation quantizers
 * used inside matmul, and the scalar reference dot products every SIMD kernel is
 * checked against. Block layouts are byte-exact with ggml (they are read from GGUF). */
#ifndef OMNI_CORE_QUANT_H
#define OMNI_CORE_QUANT_H
#include <math.h>
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
/* q2_K: 16 groups of 16, 2-bit quants; scales[j] holds group j's 4-bit scale (low nibble)
 * and 4-bit min (high nibble); value = d * scale * q - dmin * min. Byte l of each 32-byte
 * half of qs holds, in bit pairs 2s..2s+1, element 32s + l of that half (128 elements). */
struct block_q2_K { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; uint16_t d, dmin; };
/* q3_K: 2-bit low quants laid out as q2_K's, a third bit per element in hmask (element
 * 32s + l of half h in bit 4h + s of hmask[l]; a clear bit subtracts 4), and 16 signed
 * 6-bit scales (offset 32) packed in 12 bytes (see quant_scales_q3_K). value = d * sc * q. */
struct block_q3_K { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[12]; uint16_t d; };
/* iq4_nl: 4-bit indices into the 16-value non-uniform table quant_kvalues_iq4nl;
 * element j < 16 in the low nibble of qs[j], element j + 16 in its high nibble. */
struct block_iq4_nl { uint16_t d; uint8_t qs[QK / 2]; };
/* iq4_xs: the iq4_nl table per 32-element sub-block with a 6-bit scale (offset 32): low
 * 4 bits in nibble ib % 2 of scales_l[ib / 2], high 2 bits in bits 2ib of scales_h. */
struct block_iq4_xs { uint16_t d; uint16_t scales_h; uint8_t scales_l[QK_K / 64]; uint8_t qs[QK_K / 2]; };
/* mxfp4 (OCP microscaling FP4): a shared power-of-two scale e (E8M0: 2^(e-127)) and 32
 * E2M1 values, nibbles placed as iq4_nl's. The table holds the E2M1 values doubled (so they
 * are integers) and the scale is taken halved: 2^(e-128). */
struct block_mxfp4 { uint8_t e; uint8_t qs[QK / 2]; };

/* iq2_xxs: 8 sub-blocks of 32, each 8 bytes of qs: 4 indices into the 256-point grid
 * quant_iq2xxs_grid (8 magnitudes per point), then a little-endian 32-bit word of 4 x 7
 * sign bits (bit j: element j of that group of 8 is negative; the eighth sign makes the
 * count even) and the 4-bit scale ls in bits 28..31. value = d * (2ls + 1) / 8 * grid * sign. */
struct block_iq2_xxs { uint16_t d; uint16_t qs[QK_K / 8]; };
extern const uint64_t quant_iq2xxs_grid[256];
extern const uint64_t quant_iq2_signs64[128]; /* bytes +1 / -1 per stored 7-bit sign index */
void quant_deq_iq2_xxs(const void *src, float *y, int64_t nb);
void quant_q_iq2_xxs(const float *x, void *dst, int64_t nb);

/* iq3_xxs: 64 indices into the 256-point grid quant_iq3xxs_grid (4 magnitudes per point,
 * 2 points per group of 8), then per sub-block of 32 a 32-bit word of signs and scale as
 * iq2_xxs's. value = d * (2ls + 1) / 4 * grid * sign. */
struct block_iq3_xxs { uint16_t d; uint8_t qs[3 * QK_K / 8]; };
extern const uint32_t quant_iq3xxs_grid[256];
void quant_deq_iq3_xxs(const void *src, float *y, int64_t nb);
void quant_q_iq3_xxs(const float *x, void *dst, int64_t nb);

/* iq2_xs: per group of 8 a uint16: index into the 512-point grid quant_iq2xs_grid in
 * bits 0..8, the 7 stored sign bits in 9..15; per sub-block of 32 a byte of two 4-bit
 * scales (low nibble: elements 0..15). value = d * (2ls + 1) / 8 * grid * sign. */
struct block_iq2_xs { uint16_t d; uint16_t qs[QK_K / 8]; uint8_t scales[QK_K / 32]; };
extern const uint64_t quant_iq2xs_grid[512];
void quant_deq_iq2_xs(const void *src, float *y, int64_t nb);
void quant_q_iq2_xs(const float *x, void *dst, int64_t nb);

/* iq2_s: per group of 8 a grid index of 10 bits into the 1024-point quant_iq2s_grid (low 8
 * in qs[g], high 2 in bits 2(g % 4) of qh[g / 4]) and a whole sign byte qs[32 + g]; scales
 * as iq2_xs's. value = d * (2ls + 1) / 8 * grid * sign (quant_iqs.c). */
struct block_iq2_s { uint16_t d; uint8_t qs[QK_K / 4]; uint8_t qh[QK_K / 32]; uint8_t scales[QK_K / 32]; };
extern const uint64_t quant_iq2s_grid[1024];
void quant_deq_iq2_s(const void *src, float *y, int64_t nb);
void quant_q_iq2_s(const float *x, void *dst, int64_t nb);

/* iq3_s: per 4 elements a 9-bit index into the 512-point quant_iq3s_grid (low 8 in
 * qs[8ib + k], the ninth in bit k of qh[ib]), a sign byte per group of 8, a 4-bit scale per
 * sub-block of 32. value = d * (2ls + 1) * grid * sign (quant_iqs.c). */
struct block_iq3_s { uint16_t d; uint8_t qs[QK_K / 4]; uint8_t qh[QK_K / 32]; uint8_t signs[QK_K / 8]; uint8_t scales[QK_K / 64]; };
extern const uint32_t quant_iq3s_grid[512];
void quant_deq_iq3_s(const void *src, float *y, int64_t nb);
void quant_q_iq3_s(const float *x, void *dst, int64_t nb);

extern const int8_t quant_kvalues_iq4nl[16];
extern const int8_t quant_kvalues_mxfp4[16];

/* 2^(e-128) as a float (e = 0 and 1 give the subnormals 2^-128, 2^-127). */
static inline float quant_e8m0_half(uint8_t e) {
    union { uint32_t u; float f; } v;
    v.u = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    return v.f;
}

/* The 16 scales of a q3_K block, with the offset removed (-32..31). Scale j's low 4 bits
 * are nibble j / 8 of byte j % 8; its high 2 bits are bits 2 * (j / 4) of byte 8 + j % 4.
 * Four scales at a time in 32-bit words (word q of the output: scales 4q..4q+3 take the
 * nibbles (q / 2) of word q % 2 and bit pair q of each byte of word 2): this runs per
 * weight row and block in the q3_K kernels, where a loop per scale cost as much as the dot. */
static inline void quant_scales_q3_K(const uint8_t *s, int8_t *out) {
    uint32_t a[3], o[4];
    for (int w = 0; w < 3; w++)
        a[w] = (uint32_t)s[4 * w] | (uint32_t)s[4 * w + 1] << 8 | (uint32_t)s[4 * w + 2] << 16 | (uint32_t)s[4 * w + 3] << 24;
    for (int q = 0; q < 4; q++) {
        uint32_t lo = (a[q % 2] >> (4 * (q / 2))) & 0x0F0F0F0Fu, hi = (a[2] >> (2 * q)) & 0x03030303u;
        o[q] = lo | hi << 4;
    }
    for (int j = 0; j < 16; j++) out[j] = (int8_t)((int)(o[j / 4] >> (8 * (j % 4)) & 0xFF) - 32);
}

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
float quant_dot_q2_K(int n, const void *w, const void *a);
float quant_dot_q3_K(int n, const void *w, const void *a);
float quant_dot_iq4_xs(int n, const void *w, const void *a);
float quant_dot_iq4_nl(int n, const void *w, const void *a); /* a: block_q8a */
float quant_dot_mxfp4(int n, const void *w, const void *a);  /* a: block_q8a */
float quant_dot_iq2_xxs(int n, const void *w, const void *a);
float quant_dot_iq3_xxs(int n, const void *w, const void *a);
float quant_dot_iq2_xs(int n, const void *w, const void *a);
float quant_dot_iq2_s(int n, const void *w, const void *a);
float quant_dot_iq3_s(int n, const void *w, const void *a);

/* How the dots of the types added with their own kernels (q2_K, q3_K, iq4_xs, iq4_nl,
 * mxfp4, iq2_xxs, iq2_xs, iq2_s, iq3_xxs, iq3_s) sum: in the order of llama.cpp's x86 kernels for them (ggml_vec_dot_*_q8_K /
 * *_q8_0 with AVX2, tinyBLAS for iq4_nl), so our results round as the reference's, and
 * so that our SIMD kernels give the scalar result bit for bit. Eight float lanes; lane l
 * of a block holds the exact integer sum over its 32-element chunks of scale x the dot
 * of elements 4l..4l+3 of the chunk; per block acc[l] = fma(d, lane, acc[l]) (q2_K first
 * adds its mins, lane l = min(2l) * bsum(2l) + min(2l+1) * bsum(2l+1), with -d_a * dmin);
 * mxfp4 keeps two such accumulators, for even and odd blocks, and adds them before the
 * horizontal sum (iq2_xxs, iq2_xs, iq2_s / iq3_xxs multiply the sum by 1/8 / 1/4 after it), which is quant_lanes8_sum's order (ggml's hsum_float_8). */
static inline void quant_lanes_fma(float *acc, float d, const int *lanes) {
    for (int l = 0; l < 8; l++) acc[l] = fmaf(d, (float)lanes[l], acc[l]);
}
static inline float quant_lanes8_sum(const float *acc) {
    float r0 = acc[0] + acc[4], r1 = acc[1] + acc[5], r2 = acc[2] + acc[6], r3 = acc[3] + acc[7];
    return (r0 + r2) + (r1 + r3);
}

#endif
