/* Layer normalization (mean and variance over a row, then gain and bias), as used by
 * Whisper and CLIP. The llama family uses ops_rmsnorm instead. */
#ifndef OMNI_CORE_LAYERNORM_H
#define OMNI_CORE_LAYERNORM_H

/* out = (x - mean) / sqrt(var + eps) * w + b for each of m rows of n values.
 * w and b may be NULL; out may alias x. */
void layernorm(float *out, const float *x, const float *w, const float *b, int n, int m, float eps);

#endif
