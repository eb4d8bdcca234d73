/* Layer normalization; see layernorm.h. Statistics in double: rows can be long (1500
 * encoder positions x width) and large-mean activations lose precision in float. */
#include "core/layernorm.h"

#include <math.h>

void layernorm(float *out, const float *x, const float *w, const float *b, int n, int m, float eps) {
    for (int r = 0; r < m; r++) {
        const float *xr = x + (long)r * n;
        float *o = out + (long)r * n;
        double s = 0, s2 = 0;
        for (int i = 0; i < n; i++) s += xr[i];
        double mean = s / n;
        for (int i = 0; i < n; i++) { double d = xr[i] - mean; s2 += d * d; }
        float inv = (float)(1.0 / sqrt(s2 / n + eps)), mf = (float)mean;
        for (int i = 0; i < n; i++) {
            float v = (xr[i] - mf) * inv;
            if (w) v *= w[i];
            if (b) v += b[i];
            o[i] = v;
        }
    }
}
