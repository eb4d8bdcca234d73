/* The voice layer's insides: text in, 24 kHz mono s16 speech out, sentence by sentence.
 * Callers (omni speak, POST /v1/audio/speech, the voice loop) use omni_tts_* (omni.h)
 * and name a voice and a language; which engine speaks it (espeak-ng today, neural
 * voices later) is decided here through struct tts_backend, so adding an engine never
 * touches a caller. */
#ifndef OMNI_RUNTIME_TTS_H
#define OMNI_RUNTIME_TTS_H
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "omni.h"

/* The request, validation, speaking and the voice list are public: omni_tts_* in
 * omni.h. What follows is for the engines, the voice loop and the tests. */

/* An engine's samples at its native rate, owned by the caller of the callback (copy
 * what you keep). Return non-zero to stop. The same shape as omni_pcm_callback. */
typedef int (*tts_audio_fn)(const int16_t *pcm, size_t n, void *ud);

/* --- pieces exposed for tests and for the voice loop --- */

/* The language of each stretch of text: Hangul → ko, kana (with any Han) → ja, Han → zh,
 * Cyrillic → ru, Greek → el, Arabic → ar, Hebrew → he, Devanagari → hi, Thai → th, Latin
 * → `latin_lang` (en when NULL). Digits, spaces and punctuation join the run before them
 * (or, at the start, the one after). Calls each(lang, start, len, ud) in order; returns the count. */
int tts_split_runs(const char *text, size_t len, const char *latin_lang,
                   void (*each)(const char *lang, const char *s, size_t n, void *ud), void *ud);
/* The language of a whole text (its first non-Latin run's language, else "en"). */
const char *tts_detect_lang(const char *text);
/* Sentence boundaries: each(start, len, ud) for every sentence (trimmed, non-empty),
 * splitting after . ! ? … 。！？ followed by a space or the end (not after Mr., e.g.,
 * initials or inside 3.14), at line breaks, and at a comma when a sentence runs long. */
int tts_split_sentences(const char *text, void (*each)(const char *s, size_t n, void *ud), void *ud);

/* A voice engine. espeak-ng is the first; a neural engine adds one of these and a row
 * in the voice table in tts.c, and callers keep naming voices exactly as before. */
struct tts_voice;
struct tts_backend {
    const char *name;
    int (*sample_rate)(void); /* native rate; the layer resamples to OMNI_TTS_SAMPLE_RATE */
    /* Speaks one run of one language, appending native-rate samples through on_pcm. */
    int (*synth)(const struct tts_voice *v, const char *lang, float speed, int last_in_sentence,
                 const char *text, tts_audio_fn on_pcm, void *ud, struct err *e);
};

/* The neural engine (tts_neural.c: Qwen3-TTS, loaded by omni_tts_load_neural). */
extern const struct tts_backend tts_neural_backend;
int tts_neural_loaded(void);
int tts_neural_has_lang(const char *lang);
int tts_neural_takes_instructions(void);
int tts_neural_n_speakers(void);
const char *tts_neural_speaker(int i);
int tts_neural_is_speaker(const char *name);
/* The built-in speaker that speaks an OpenAI preset (or a speaker's own name), or NULL
 * for the model's default voice. */
const char *tts_neural_speaker_for(const char *voice);
/* The speaker a voice resolved to (NULL: the model's default). */
const char *tts_voice_speaker(const struct tts_voice *v);
/* The request's style instruction (NULL: none). */
const char *tts_voice_instructions(const struct tts_voice *v);

#endif
