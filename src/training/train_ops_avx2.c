/* The float training ops built with AVX2 (train_ops.h: _fa), entered only when cpu_level()
 * allows it. The same source as the SSE2 build; -std=c11 keeps multiplies and adds apart. */
#include <math.h>
#include <stddef.h>

#include "training/train_ops.h"

#define TOPS_EXPF
#define R float
#define S _fa
#include "training/train_ops_impl.h"
#undef TOPS_EXPF
#undef R
#undef S
