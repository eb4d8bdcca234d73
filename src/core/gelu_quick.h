/* "Quick" GELU, x * sigmoid(1.702 x): the activation of OpenAI's CLIP vision towers
 * (and of llama.cpp mmproj files with clip.use_gelu = false). */
#ifndef OMNI_CORE_GELU_QUICK_H
#define OMNI_CORE_GELU_QUICK_H

/* In place over n values. */
void gelu_quick(float *x, long n);

#endif
