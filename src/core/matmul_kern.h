/* Private to matmul: the activation formats and the kernel signature shared by the
 * scalar, AVX2 and AVX-512 implementations (matmul.c, matmul_avx2.c, matmul_avx512.c). */
#ifndef OMNI_CORE_MATMUL_KERN_H
#define OMNI_CORE_MATMUL_KERN_H
#include <stddef.h>

/* What the f32 activations are converted to before the products, per weight type. */
enum mm_act { MM_ACT_F32, MM_ACT_F16, MM_ACT_BF16, MM_ACT_Q8A, MM_ACT_Q8K };

/* A block of products: y[i * ys + j] = dot(weight row j, activation row i) for
 * j < nr, i < mr, with k elements per row; rows are ws / as bytes apart. Kernels
 * with mr > 1 reuse each loaded weight block for several activation rows. */
typedef void (*mm_gemm_fn)(int k, const void *w, size_t ws, int nr, const void *a, size_t as, int mr,
                           float *y, size_t ys);

/* NULL when that level has no kernel for the type (matmul then uses a lower level). */
mm_gemm_fn matmul_avx2_kernel(int type);
mm_gemm_fn matmul_avx512_kernel(int type);

#endif
