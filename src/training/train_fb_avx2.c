/* train_fb.h with AVX2 (8 floats a register): the shared body in train_fb_x86.h. */
#include "training/train_fb.h"

#include <immintrin.h>

#define FB_V __m256
#define FB_W 8
#define FB_LD _mm256_loadu_ps
#define FB_ST _mm256_storeu_ps
#define FB_SET1 _mm256_set1_ps
#define FB_FMA _mm256_fmadd_ps
#define FB_NAME train_fb_block_avx2
#include "training/train_fb_x86.h"
