/* Random-weight Whisper models in whisper.cpp's ggml file format, with the exact
 * hyper-parameters of the real tiny/base models, Whisper's own mel filterbank and a
 * synthetic byte-level vocabulary of the real size: they cost what the real models
 * cost, so ASR and voice-loop benchmarks can run without the real weights. */
#ifndef OMNI_MODELS_SYNTH_WHISPER_H
#define OMNI_MODELS_SYNTH_WHISPER_H
#include <stdint.h>

#include "core/error.h"

struct synth_whisper_shape {
    const char *name;       /* "whisper-tiny" */
    int n_vocab, n_audio_ctx, n_text_ctx, n_state, n_head, n_layer, n_mels;
};

/* Known shapes (whisper-tiny, whisper-base, and whisper-micro for tests); NULL-name terminated. */
extern const struct synth_whisper_shape synth_whisper_shapes[];
const struct synth_whisper_shape *synth_whisper_find_shape(const char *name);

/* Whisper's filterbank as librosa.filters.mel(sr, n_fft, n_mels) makes it (Slaney mel
 * scale and area normalisation, 0..sr/2): out gets n_mels rows of n_fft/2+1 floats. */
void synth_whisper_mel_filters(int sample_rate, int n_fft, int n_mels, float *out);

/* Writes the model; ftype is "f16" (as whisper.cpp's converter stores it) or "q8_0" (as
 * its quantize tool leaves it: 2-D weights q8_0, conv weights f16, the rest f32). */
int synth_whisper_write(const struct synth_whisper_shape *s, const char *ftype, uint64_t seed, const char *path,
                        struct err *e);

#endif
