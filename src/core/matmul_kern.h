/* Private to matmul: the activation formats and the kernel signature shared by the
 * scalar, AVX2 and AVX-512 implementations (matmul.c, matmul_avx2.c, matmul_avx512.c;
 * quant.c takes the F16C row conversion for dequantize_row). */
#ifndef OMNI_CORE_MATMUL_KERN_H
#define OMNI_CORE_MATMUL_KERN_H
#include <stddef.h>
#include <stdint.h>

/* What the f32 activations are converted to before the products, per weight type. */
enum mm_act { MM_ACT_F32, MM_ACT_F16, MM_ACT_BF16, MM_ACT_Q8A, MM_ACT_Q8K, MM_ACT_Q8Z, MM_ACT_F16F };

/* MM_ACT_F16F, for the AVX-512 F16 kernel: f32 rows holding each value rounded to f16 (the
 * values MM_ACT_F16 holds, widened once per call instead of once per tile that reads them). */

/* MM_ACT_Q8Z, for the AVX-512 kernels of the 32-block types: per pair of blocks 192
 * bytes, laid out as the kernel loads them: the 64 int8 quants, the two scales spread
 * over 16 floats (8 lanes each), and per int32 lane the dot start value (-weight
 * offset * the sum of that lane's 4 quants), so every lane of a VNNI dot comes out
 * as the signed dot ggml's lane holds. An odd last block is paired with zeros.
 * Quants and scales equal quant_q8a's bit for bit. */
#define MM_Q8Z_PAIR_BYTES 192
void matmul_avx512_quant_q8z(int type, const float *x, void *out, int k);

/* quant_q8K (core/quant.h) with AVX-512: the same bytes. */
struct block_q8_K;
void matmul_avx512_quant_q8K(const float *x, struct block_q8_K *y, int64_t n);

/* A block of products: y[i * ys + j] = dot(weight row j, activation row i) for
 * j < nr, i < mr, with k elements per row; rows are ws / as bytes apart. Kernels
 * with mr > 1 reuse each loaded weight block for several activation rows. */
typedef void (*mm_gemm_fn)(int k, const void *w, size_t ws, int nr, const void *a, size_t as, int mr,
                           float *y, size_t ys);

/* f32 -> f16 activations with F16C (CPU_AVX2 and up): the same bits as fp32_to_fp16. */
void matmul_avx2_to_f16(const float *x, uint16_t *out, int64_t n);
/* fp16_to_fp32 over a row with F16C: the same floats, NaN payloads included. */
void matmul_avx2_from_f16(const uint16_t *h, float *out, int64_t n);

/* NULL when that level has no kernel for the type (matmul then uses a lower level). */
mm_gemm_fn matmul_avx2_kernel(int type);
/* The AVX-512 one may switch *act to a format of its own (MM_ACT_Q8Z, MM_ACT_F16F), which
 * can depend on the row length k. */
mm_gemm_fn matmul_avx512_kernel(int type, int64_t k, enum mm_act *act);

/* Cache blocking of the prefill kernels (bytes of activation rows per chunk, of weight
 * rows per block): see MM_GEMM in matmul_x86.h. */
#ifndef MM_BLOCK_A
#define MM_BLOCK_A (24 * 1024)
#endif
#ifndef MM_BLOCK_W
#define MM_BLOCK_W (256 * 1024)
#endif

#endif
