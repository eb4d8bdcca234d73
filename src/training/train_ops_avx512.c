/* The float training ops built with AVX-512 (train_ops.h: _fz), entered only when cpu_level()
 * allows it. The same source as the SSE2 and AVX2 builds, with the lane-independent attention
 * and LoRA kernels 16 lanes wide (TOPS_W16): the same bits, twice the floats an instruction. */
#include <math.h>
#include <stddef.h>

#include "training/train_ops.h"

#define TOPS_EXPF
#define TOPS_W16
#define R float
#define S _fz
#include "training/train_ops_impl.h"
#undef TOPS_EXPF
#undef TOPS_W16
#undef R
#undef S
