/* AVX2 + FMA + F16C kernels for matmul (entered only when cpu_level() allows). */
#include <immintrin.h>

#include "core/dtype.h"
#include "core/matmul_kern.h"
#include "core/quant.h"

mm_gemm_fn matmul_avx2_kernel(int type) {
    (void)type;
    return NULL;
}
