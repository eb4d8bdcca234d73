/* GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
#include "core/gelu.h"

#include <math.h>

void gelu(float *x, long n) {
    const float c = 0.7978845608028654f, a = 0.044715f;
    for (long i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(c * (v + a * v * v * v)));
    }
}
