/* AVX2 + FMA + F16C matmul kernels (the shared x86 code in matmul_x86.h, compiled
 * for AVX2); entered only when cpu_level() >= CPU_AVX2. */
#include "core/matmul_x86.h"

mm_gemm_fn matmul_avx2_kernel(int type) { return x86_kernel(type); }
