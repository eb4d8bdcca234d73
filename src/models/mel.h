/* Whisper's log-mel spectrogram: 400-point FFT (25 ms) every 160 samples (10 ms) of
 * 16 kHz audio with a periodic Hann window, power spectrum, the model file's mel
 * filterbank, log10, clamp to (max - 8), then (x + 4) / 4 — as whisper.cpp computes it,
 * including its 30 s of trailing zero padding. */
#ifndef OMNI_MODELS_MEL_H
#define OMNI_MODELS_MEL_H
#include <stddef.h>

#include "core/error.h"

#define MEL_N_FFT 400
#define MEL_HOP 160

struct mel {
    int n_mel;
    int n_len;      /* frames stored, including the 30 s of padding */
    int n_len_org;  /* frames that cover real audio (what whisper.cpp reports) */
    float *data;    /* [n_mel][n_len], row-major by mel bin */
};

/* filters: n_mel rows of n_fft (= 201) weights, from the model file. Fills *out
 * (free with mel_free). */
int mel_compute(const float *x, size_t n, const float *filters, int n_mel, int n_fft, struct mel *out,
                struct err *e);
void mel_free(struct mel *m);

#endif
