/* The voice layer: text in, 24 kHz mono s16 speech out, sentence by sentence.
 * Callers (omni speak, POST /v1/audio/speech, the voice loop) name a voice and a
 * language; which engine speaks it (espeak-ng today, neural voices later) is decided
 * here through struct tts_backend, so adding an engine never touches a caller. */
#ifndef OMNI_RUNTIME_TTS_H
#define OMNI_RUNTIME_TTS_H
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define TTS_SAMPLE_RATE 24000
#define TTS_MAX_INPUT_CHARS 4096 /* OpenAI's limit for /v1/audio/speech, in characters */
#define TTS_SPEED_MIN 0.25f
#define TTS_SPEED_MAX 4.0f
#define TTS_PRESETS_ALLOWED "alloy, ash, ballad, coral, echo, fable, nova, onyx, sage, shimmer, verse"

struct tts_request {
    const char *input; /* UTF-8 text, at most TTS_MAX_INPUT_CHARS characters */
    const char *voice; /* a preset (alloy, ...), an espeak variant (f3, klatt, Annie) or an
                        * espeak language voice (fr, de, ko); NULL = "alloy" */
    const char *lang;  /* "en", "ko", "ja", "zh", any espeak language; NULL = detect per run */
    float speed;       /* TTS_SPEED_MIN..TTS_SPEED_MAX; 1 = the voice's own pace */
    int normalize;     /* read numbers, dates, currencies, units as words (text/normalize.h) */
};
struct tts_request tts_default_request(void);

/* Receives speech as it is ready: 24 kHz mono s16 samples, owned by the caller of the
 * callback (copy what you keep). Return non-zero to stop (client gone, barge-in). */
typedef int (*tts_audio_fn)(const int16_t *pcm, size_t n, void *ud);

/* Checks a request without synthesizing (for a 400 before any byte is sent): empty or
 * over-long input, invalid UTF-8, unknown voice or language, speed out of range. */
int tts_validate(const struct tts_request *req, struct err *e);

/* Speaks req->input: splits it into sentences and calls on_audio as audio is ready: the
 * first sentence in ~100 ms pieces while the engine makes them (lowest time to first
 * byte; on_audio then runs with the engine lock held, so keep it quick), every later
 * sentence in one call once it is complete; a final call may carry the resampler's tail.
 * Returns 0, or -1 with e set (also when on_audio stopped it). Thread-safe; concurrent
 * calls take turns per sentence inside the espeak engine. */
int tts_speak(const struct tts_request *req, tts_audio_fn on_audio, void *ud, struct err *e);

/* The preset voices, in the order above: name and a one-line description. */
int tts_preset_count(void);
const char *tts_preset_name(int i);
const char *tts_preset_about(int i);

/* GET /v1/audio/voices: {"voices":[{"id","name","description","backend"}...],
 * "languages":[{"code","name"}...]} as a malloc'ed JSON string (caller frees), NULL on error. */
char *tts_voices_json(void);

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
    int (*sample_rate)(void); /* native rate; the layer resamples to TTS_SAMPLE_RATE */
    /* Speaks one run of one language, appending native-rate samples through on_pcm. */
    int (*synth)(const struct tts_voice *v, const char *lang, float speed, int last_in_sentence,
                 const char *text, tts_audio_fn on_pcm, void *ud, struct err *e);
};

#endif
