/* Matrix products between model weights (any supported dtype) and f32 activations.
 * This is where nearly all inference time goes.
 *
 * For quantized weights the activations are quantized too (to q8_0 or q8_K, as
 * llama.cpp does), and integer dot products are used; the golden tolerances in
 * ../shared/golden/README.md assume exactly that. */
#ifndef OMNI_CORE_MATMUL_H
#define OMNI_CORE_MATMUL_H
#include <stddef.h>
#include <stdint.h>

#include "core/pool.h"
#include "core/tensor.h"

/* Y = X · Wᵀ:  for each of the m input rows x_i (k = w->ne[0] floats, rows
 * contiguous in x) and each of the n = w->ne[1] weight rows w_j:
 *     y[i * n + j] = dot(w_j, x_i)
 * m = 1 is matrix-vector (decode); m > 1 is batched prefill and must be much
 * faster per row than m calls with m = 1. Threads split the work over p. */
void matmul(struct pool *p, const struct tensor *w, const float *x, float *y, int m);

/* nw products of the same input: y[t] = X · w[t]ᵀ for t < nw (all w[t] with the
 * same row length k), with exactly the outputs of nw matmul calls. Where the weight
 * types take the same activation format (q8_K for all K-quants, ...) the input is
 * converted once and the threads share one job over all the weights' rows; else it
 * is nw matmul calls. For q/k/v and gate/up, which read the same normed input. */
void matmul_many(struct pool *p, int nw, const struct tensor *const *w, const float *x, float *const *y, int m);

/* Converts n elements of one row of a weight (starting at element 0 of `row`) to f32.
 * Used for embedding lookups (get_rows) and tests. Returns -1 for an unsupported type. */
int dequantize_row(int type, const void *row, float *out, int64_t n);

/* Quantizes n f32 values (n a multiple of the block size) into `out`, in the
 * reference (llama.cpp-compatible) way; used by `omni synth` and tests. Returns
 * bytes written, or 0 for a type we cannot quantize to. */
size_t quantize_row(int type, const float *x, void *out, int64_t n);

/* out[i] = x[i] rounded to f16 (nearest even) and widened back, as fp32_to_fp16 and
 * fp16_to_fp32 give it; by F16C, 256 values at a time, where the CPU has it. */
void round_row_f16(float *out, const float *x, int64_t n);

#endif
