/* Silero VAD v6 (whisper.cpp's ggml layout): speech probability for each 512-sample
 * window of 16 kHz audio, and speech segments from those probabilities with the same
 * rules and defaults as whisper.cpp. The LSTM state carries over between windows, so a
 * live stream feeds windows one by one with vad_step(). */
#ifndef OMNI_MODELS_SILERO_VAD_H
#define OMNI_MODELS_SILERO_VAD_H
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

struct vad;

struct vad_params {
    float threshold;          /* speech when p >= threshold; ends below threshold - 0.15 */
    int min_speech_ms;        /* shorter segments are dropped */
    int min_silence_ms;       /* silence needed to end a segment */
    float max_speech_s;       /* longer segments are split (FLT_MAX = never) */
    int speech_pad_ms;        /* padding added around each segment */
    float samples_overlap;    /* seconds of overlap when segments are joined for ASR */
};

struct vad_segment {
    int64_t start, end;       /* in samples at 16 kHz */
};

struct vad_params vad_default_params(void);

struct vad *vad_load(const char *path, struct err *e);
void vad_free(struct vad *v);
int vad_window(const struct vad *v);   /* samples per window (512) */

/* Clears the LSTM state (start of a new stream). */
void vad_reset(struct vad *v);
/* Speech probability of the next window (vad_window() samples; fewer are zero-padded). */
float vad_step(struct vad *v, const float *samples, int n);

/* Resets, then runs every window of x: *probs (malloc'ed, caller frees) gets
 * ceil(n / window) values. */
int vad_probs(struct vad *v, const float *x, size_t n, float **probs, int *n_probs, struct err *e);

/* Speech segments from window probabilities (whisper.cpp's rules). *segs is malloc'ed
 * (caller frees; may be NULL when *n_segs is 0). */
int vad_segments(const float *probs, int n_probs, int window, const struct vad_params *p,
                 struct vad_segment **segs, int *n_segs, struct err *e);

/* Samples at 16 kHz to whole centiseconds, rounded as whisper.cpp does. */
int64_t vad_samples_to_cs(int64_t samples);

#endif
