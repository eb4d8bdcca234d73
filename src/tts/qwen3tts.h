/* Neural speech with Qwen3-TTS (12 Hz; 0.6B / 1.7B) from llama.cpp's pair of files: the
 * talker GGUF (arch qwen3tts) and its mmproj (code predictor, codec decoder, speaker
 * encoder). It runs llama-tts's pipeline: the prompt rows (role, think/language codec
 * tokens, an optional preset speaker, the text summed with codec_pad, then codec_bos),
 * greedy semantic codes from the talker, 15 acoustic codes per frame from the code
 * predictor, each frame's embedding sum plus the next text row as the talker's next
 * input, and the codec decoder to 24 kHz audio, delivered as frames are decoded.
 * Voices are the model's built-in speakers only (no path takes a voice from audio).
 * All compute runs on the talker's pool (the process pool). */
#ifndef OMNI_TTS_QWEN3TTS_H
#define OMNI_TTS_QWEN3TTS_H
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define Q3TTS_SAMPLE_RATE 24000
#define Q3TTS_CODES 16

struct q3tts;

struct q3tts *q3tts_load(const char *talker_path, const char *mmproj_path, int n_threads, struct err *e);
void q3tts_free(struct q3tts *t);

/* Built-in speakers (the vocabulary's <|spk_NAME|> tokens): count and names. */
int q3tts_n_voices(const struct q3tts *t);
const char *q3tts_voice_name(const struct q3tts *t, int i);
/* 1 when lang (a code such as "en", "ko" or a name such as "korean") has a language token. */
int q3tts_has_lang(const struct q3tts *t, const char *lang);

/* Receives each decoded piece: n_frames frames of 16 codes and their n_frames * 1920
 * samples in -1..1. Nonzero stops the synthesis (not an error). */
typedef int (*q3tts_sink)(void *ud, const int32_t *codes, int n_frames, const float *pcm, size_t n_samples);

struct q3tts_opts {
    const char *lang;     /* code or name; NULL or "": english */
    const char *voice;    /* built-in speaker name, or NULL for the model's default voice */
    int max_frames;       /* <= 0: 512 (llama-tts's default) */
    int chunk_frames;     /* frames buffered before decoding; <= 0: 72 (the codec's window) */
};

/* Greedy synthesis of text. Returns 0 or -1 with e set (unknown language or voice,
 * a text that cannot be tokenized, out of memory). */
int q3tts_synthesize(struct q3tts *t, const char *text, size_t len, const struct q3tts_opts *o, q3tts_sink sink,
                     void *ud, struct err *e);

#endif
