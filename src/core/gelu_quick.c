/* Quick GELU; see gelu_quick.h. */
#include "core/gelu_quick.h"

#include <math.h>

void gelu_quick(float *x, long n) {
    for (long i = 0; i < n; i++) x[i] = x[i] / (1.0f + expf(-1.702f * x[i]));
}
