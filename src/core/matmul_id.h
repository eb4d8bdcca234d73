/* The weight product of an expert matrix (a 2-D view of a 3-D expert tensor), summed
 * the way llama.cpp's mul_mat_id sums it. llama.cpp multiplies dense weights with
 * tinyBLAS (what matmul() follows) but expert weights with the type's vec_dot, whose
 * f16 order differs: four 16-lane accumulators over 64-element steps, folded
 * (a0 + a2) + (a1 + a3) and reduced, the k % 64 tail added in double. With f16 inputs
 * every product is exact in f32, so the order is the only difference, and on random
 * synthetic weights it moves logits by up to 0.006. */
#ifndef OMNI_CORE_MATMUL_ID_H
#define OMNI_CORE_MATMUL_ID_H
#include "core/pool.h"
#include "core/tensor.h"

/* y[i * n + j] = dot(w_j, x_i) for m rows of x, as matmul(); f16 weights in vec_dot
 * order (scalar and AVX-512 bit-identical), every other type through matmul(). */
void matmul_id(struct pool *p, const struct tensor *w, const float *x, float *y, int m);

/* F32 weights times F32 rows as llama.cpp's mul_mat sums them at AVX-512 (tinyBLAS:
 * one 16-lane FMA accumulator per output over k in 16-steps, reduced by halves) where
 * matmul() uses 8 lanes; for the router of an expert block. k % 16 != 0 and other
 * types go through matmul(). */
void matmul_f32_tinyblas(struct pool *p, const struct tensor *w, const float *x, float *y, int m);

/* the kernels: rows [0, nr) of w (ws bytes apart) times mr rows of a (k apart) */
void matmul_f32_tinyblas_avx512(int k, const void *w, size_t ws, int nr, const float *a, int mr, float *y, size_t ys);
/* the f16 kernel: rows [0, nr) of w (ws bytes apart) times mr f16 rows of a (k apart) */
void matmul_id_f16_avx512(int k, const void *w, size_t ws, int nr, const uint16_t *a, int mr, float *y, size_t ys);
#endif
