/* The training ops in float and in double (train_ops.h): one source, two instances. */
#include "training/train_ops.h"

#include <math.h>
#include <stddef.h>

#define R float
#define S _f
#include "training/train_ops_impl.h"
#undef R
#undef S

#define R double
#define S _d
#include "training/train_ops_impl.h"
#undef R
#undef S
