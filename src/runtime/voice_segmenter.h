/* Streaming turn detection: turns one speech probability per VAD window into speech
 * start, a tentative end (the first quiet window, when speculative ASR can begin) and the
 * end of the turn (after the configured silence), with positions on the input timeline. */
#ifndef OMNI_RUNTIME_VOICE_SEGMENTER_H
#define OMNI_RUNTIME_VOICE_SEGMENTER_H
#include <stdint.h>

enum vseg_event {
    VSEG_NONE = 0,
    VSEG_START,       /* speech confirmed (min_speech_ms reached); start = its first window */
    VSEG_PAUSE,       /* first quiet window after speech; end = where speech stopped */
    VSEG_RESUME,      /* speech came back before the silence ran out */
    VSEG_END,         /* end of turn: silence_ms of quiet after `end` */
};

struct vseg {
    /* settings, in samples at 16 kHz */
    float threshold;       /* speech when p >= threshold, quiet when p < threshold - 0.15 */
    int64_t min_speech, silence, window;
    /* state */
    int in_speech, confirmed, quiet;
    int64_t pos;           /* samples seen */
    int64_t start, end;    /* current segment: first voiced sample, just past the last */
};

void vseg_init(struct vseg *s, float threshold, int min_speech_ms, int silence_ms, int window);
/* Feeds the probability of the next window; returns what it decided. */
enum vseg_event vseg_step(struct vseg *s, float p);

/* A speech probability from loudness, for when no Silero model is given: 0 below
 * -45 dBFS RMS, 1 above -30 dBFS, linear in between. */
float vseg_energy_prob(const float *x, int n);

#endif
