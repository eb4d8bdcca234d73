/* AVX-512 (F/BW/VL/DQ + VNNI, BF16 where present) kernels for matmul. */
#include <immintrin.h>

#include "core/dtype.h"
#include "core/matmul_kern.h"
#include "core/quant.h"

mm_gemm_fn matmul_avx512_kernel(int type) {
    (void)type;
    return NULL;
}
