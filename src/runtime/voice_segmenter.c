/* Turn detection over VAD window probabilities (see voice_segmenter.h). Hysteresis as in
 * Silero's own segmenter: speech begins at `threshold` and ends below threshold - 0.15, so
 * a voice hovering near the threshold does not flicker. */
#include "runtime/voice_segmenter.h"

#include <math.h>
#include <string.h>

void vseg_init(struct vseg *s, float threshold, int min_speech_ms, int silence_ms, int window) {
    memset(s, 0, sizeof *s);
    s->threshold = threshold;
    s->min_speech = (int64_t)min_speech_ms * 16;
    s->silence = (int64_t)silence_ms * 16;
    s->window = window;
}

enum vseg_event vseg_step(struct vseg *s, float p) {
    int64_t w0 = s->pos, w1 = s->pos + s->window;
    s->pos = w1;
    float off = s->threshold - 0.15f;
    if (off < 0.01f) off = 0.01f;
    if (!s->in_speech) {
        if (p >= s->threshold) {
            s->in_speech = 1;
            s->confirmed = 0;
            s->quiet = 0;
            s->start = w0;
            s->end = w1;
            if (s->min_speech <= s->window) { s->confirmed = 1; return VSEG_START; }
        }
        return VSEG_NONE;
    }
    if (p >= off && !(s->quiet && p < s->threshold)) {
        /* voiced (or, after a pause, clearly voiced again) */
        int was_quiet = s->quiet;
        s->quiet = 0;
        s->end = w1;
        if (!s->confirmed && s->end - s->start >= s->min_speech) { s->confirmed = 1; return VSEG_START; }
        return was_quiet && s->confirmed ? VSEG_RESUME : VSEG_NONE;
    }
    if (!s->confirmed) {
        /* a blip shorter than min_speech: forget it */
        s->in_speech = 0;
        return VSEG_NONE;
    }
    if (!s->quiet) {
        s->quiet = 1;
        return VSEG_PAUSE;
    }
    if (w1 - s->end >= s->silence) {
        s->in_speech = 0;
        s->quiet = 0;
        return VSEG_END;
    }
    return VSEG_NONE;
}

float vseg_energy_prob(const float *x, int n) {
    double e = 0;
    for (int i = 0; i < n; i++) e += (double)x[i] * x[i];
    double db = 10 * log10(e / (n > 0 ? n : 1) + 1e-12);
    if (db <= -45) return 0;
    if (db >= -30) return 1;
    return (float)((db + 45) / 15);
}
