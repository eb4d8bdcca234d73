/* The espeak-ng voice backend: libespeak-ng (formant synthesis, 100+ languages, offline)
 * driven in synchronous mode. espeak-ng keeps global state, so every call here takes one
 * process-wide lock; audio is 16-bit mono at tts_espeak_sample_rate() (22050 Hz). */
#ifndef OMNI_MODELS_TTS_ESPEAK_H
#define OMNI_MODELS_TTS_ESPEAK_H
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

struct tts_espeak_params {
    const char *voice; /* espeak voice or language, optionally "+variant": "en-us", "ko+f3" */
    int rate;          /* words per minute, 80..900 (above 450 espeak speeds up with sonic) */
    int pitch;         /* base pitch 0..100, 50 = the voice's own */
    int range;         /* pitch range 0..100, 50 = normal, 0 = monotone */
    int wordgap;       /* extra pause between words, in 10 ms units */
};

/* Loads espeak-ng's data once ($OMNI_ESPEAK_DATA names the folder that holds
 * espeak-ng-data, default: the system's). Safe to call from any thread, any number of times. */
int tts_espeak_init(struct err *e);
int tts_espeak_sample_rate(void);

/* Synthesizes UTF-8 text (plain text, no SSML) and passes the samples to on_pcm in
 * chunks as espeak produces them; on_pcm returning non-zero stops synthesis (rc -1).
 * on_pcm runs with the espeak lock held, so it must not call back into this module. */
int tts_espeak_synth(const struct tts_espeak_params *p, const char *text,
                     int (*on_pcm)(const int16_t *pcm, size_t n, void *ud), void *ud, struct err *e);

/* Whether `name` is an installed espeak language or voice ("ko", "en-us", "Korean"). */
int tts_espeak_has_voice(const char *name);
/* Whether `name` is an installed voice variant ("f3", "klatt", "Annie"). */
int tts_espeak_has_variant(const char *name);

/* Calls each() for every installed language voice: its language code ("ko", "en-us")
 * and its display name ("Korean"). Returns the count, or -1 when espeak cannot load. */
int tts_espeak_languages(void (*each)(const char *lang, const char *name, void *ud), void *ud);

#endif
