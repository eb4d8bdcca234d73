/* omni_vad_*: voice activity detection for the public API (include/omni.h) — Silero VAD
 * (models/silero_vad) or, without a model file, the loudness detector the voice loop
 * falls back on (runtime/voice_segmenter.h), behind one interface. */
#include <stdlib.h>
#include <string.h>

#include "models/silero_vad.h"
#include "omni.h"
#include "runtime/voice_segmenter.h"

#define LOUDNESS_WINDOW 512 /* Silero's window, so either detector cuts the same 32 ms */

struct omni_vad {
    struct vad *silero;   /* NULL: the loudness detector */
};

omni_vad_params omni_vad_default_params(void) {
    struct vad_params d = vad_default_params();
    omni_vad_params p = {d.threshold, d.min_speech_ms, d.min_silence_ms, d.max_speech_s, d.speech_pad_ms,
                         d.samples_overlap};
    return p;
}

omni_vad *omni_vad_load(const char *path, char *err, size_t err_size) {
    struct err e = {{0}};
    omni_vad *v = calloc(1, sizeof *v);
    if (!v) {
        err_set(&e, "out of memory");
        err_copy(&e, err, err_size);
        return NULL;
    }
    if (path && !(v->silero = vad_load(path, &e))) {
        free(v);
        err_copy(&e, err, err_size);
        return NULL;
    }
    return v;
}

void omni_vad_free(omni_vad *v) {
    if (!v) return;
    vad_free(v->silero);
    free(v);
}

int omni_vad_window(const omni_vad *v) { return v->silero ? vad_window(v->silero) : LOUDNESS_WINDOW; }

void omni_vad_reset(omni_vad *v) {
    if (v->silero) vad_reset(v->silero);
}

float omni_vad_step(omni_vad *v, const float *pcm, int n) {
    if (v->silero) return vad_step(v->silero, pcm, n);
    if (n >= LOUDNESS_WINDOW) return vseg_energy_prob(pcm, LOUDNESS_WINDOW);
    float w[LOUDNESS_WINDOW] = {0};
    if (n > 0) memcpy(w, pcm, (size_t)n * sizeof *w);
    return vseg_energy_prob(w, LOUDNESS_WINDOW);
}

int omni_vad_probs(omni_vad *v, const float *pcm, size_t n, float **probs, int *n_probs, char *err,
                   size_t err_size) {
    struct err e = {{0}};
    if (v->silero) {
        if (vad_probs(v->silero, pcm, n, probs, n_probs, &e)) return err_copy(&e, err, err_size);
        return 0;
    }
    size_t W = LOUDNESS_WINDOW, nc = (n + W - 1) / W;
    if (nc > (size_t)1 << 30) {
        err_set(&e, "audio too long for VAD (%zu samples)", n);
        return err_copy(&e, err, err_size);
    }
    if (!(*probs = malloc((nc ? nc : 1) * sizeof **probs))) {
        err_set(&e, "out of memory");
        return err_copy(&e, err, err_size);
    }
    for (size_t i = 0; i < nc; i++) {
        size_t len = n - i * W < W ? n - i * W : W;
        (*probs)[i] = omni_vad_step(v, pcm + i * W, (int)len);
    }
    *n_probs = (int)nc;
    return 0;
}

int omni_vad_segments(const float *probs, int n_probs, int window, const omni_vad_params *params,
                      omni_vad_segment **segments, int *n_segments, char *err, size_t err_size) {
    omni_vad_params dp = omni_vad_default_params();
    if (!params) params = &dp;
    struct vad_params p = {params->threshold,    params->min_speech_ms, params->min_silence_ms,
                           params->max_speech_s, params->speech_pad_ms, params->samples_overlap};
    struct vad_segment *s = NULL;
    struct err e = {{0}};
    *segments = NULL;
    if (vad_segments(probs, n_probs, window, &p, &s, n_segments, &e)) return err_copy(&e, err, err_size);
    if (*n_segments > 0) {
        if (!(*segments = malloc((size_t)*n_segments * sizeof **segments))) {
            free(s);
            err_set(&e, "out of memory");
            return err_copy(&e, err, err_size);
        }
        for (int i = 0; i < *n_segments; i++) (*segments)[i] = (omni_vad_segment){s[i].start, s[i].end};
    }
    free(s);
    return 0;
}

int64_t omni_vad_samples_to_cs(int64_t samples) { return vad_samples_to_cs(samples); }
