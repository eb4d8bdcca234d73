/* GELU activation in its tanh form (what Whisper, GPT-2 and ggml use). */
#ifndef OMNI_CORE_GELU_H
#define OMNI_CORE_GELU_H

/* In place over n values. */
void gelu(float *x, long n);

#endif
