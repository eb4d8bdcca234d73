/* GELU as ggml's CPU backend computes it (what llama.cpp's BERT-family encoders use):
 * the tanh form, looked up in a table over every F16 input, so the input is rounded
 * to F16 and the output is F16; |x| >= 10 bypasses the table (0 below, x above).
 * Measured on the embedding goldens (../shared/golden/README.md "embed"): the table's
 * rounding is part of what brings an independent pass from 6.4e-4 to 2.5e-4. */
#ifndef OMNI_CORE_GELU_F16_H
#define OMNI_CORE_GELU_F16_H

/* In place over n values. Thread-safe (the table is built once, on first use). */
void gelu_f16(float *x, long n);

#endif
