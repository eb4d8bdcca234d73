/* AVX-512 matmul kernels: the shared x86 code in matmul_x86.h with VNNI int8/int16
 * dot instructions and twice the registers (bigger tiles); entered only when
 * cpu_level() == CPU_AVX512, which requires VNNI. */
#define MM_VNNI 1
#include "core/matmul_x86.h"

mm_gemm_fn matmul_avx512_kernel(int type) { return x86_kernel(type); }
