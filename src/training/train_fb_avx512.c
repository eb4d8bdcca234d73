/* train_fb.h with AVX-512 (16 floats a register): the shared body in train_fb_x86.h. */
#include "training/train_fb.h"

#include <immintrin.h>

#define FB_V __m512
#define FB_W 16
#define FB_LD _mm512_loadu_ps
#define FB_ST _mm512_storeu_ps
#define FB_SET1 _mm512_set1_ps
#define FB_FMA _mm512_fmadd_ps
#define FB_NAME train_fb_block_avx512
#define FB_COLS4 /* 32 registers: the 4 x 4 block fits */
#include "training/train_fb_x86.h"
