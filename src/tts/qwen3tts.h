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
/* As q3tts_load, with quant naming the type the code predictor's F16/F32 matrices are
 * requantized to at load: NULL, "" or "none" keeps the file's (the default; the greedy
 * codes then match llama-tts), "q8_0" halves the bytes its 15 passes a frame read (its
 * greedy codes may differ from the file's), "q4_0" a quarter (coarser still). Quantized
 * files are used as they are. */
struct q3tts *q3tts_load_quant(const char *talker_path, const char *mmproj_path, int n_threads, const char *quant,
                               struct err *e);
void q3tts_free(struct q3tts *t);

/* Built-in speakers (the vocabulary's <|spk_NAME|> tokens): count and names. */
int q3tts_n_voices(const struct q3tts *t);
const char *q3tts_voice_name(const struct q3tts *t, int i);
/* Whether the model takes a style instruction (q3tts_opts.instructions), as Qwen3-TTS's
 * own pipeline does: the CustomVoice models (built-in speakers) and VoiceDesign (named so
 * in general.name) do, Base models do not, and neither do the 0.6B checkpoints (talker
 * width 1024), for which upstream drops the instruction. q3tts_instruct_rule is the rule
 * itself, for the tests. */
int q3tts_takes_instructions(const struct q3tts *t);
int q3tts_instruct_rule(int n_embd, int n_speakers, const char *general_name);
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
    int first_frames;     /* frames in the first piece, doubling for each later one up to
                           * chunk_frames (the first audio leaves sooner); <= 0: chunk_frames.
                           * The samples do not depend on how the frames are split. */
    const char *instructions; /* style ("speak slowly and warmly"): prompt rows ahead of the
                               * rest, "<|im_start|>user\n" + it + "<|im_end|>\n" in text
                               * embeddings alone, as Qwen3-TTS builds them; NULL or "": none.
                               * Used only where q3tts_takes_instructions. */
};

/* Greedy synthesis of text. Returns 0 or -1 with e set (unknown language or voice,
 * a text that cannot be tokenized, out of memory). */
int q3tts_synthesize(struct q3tts *t, const char *text, size_t len, const struct q3tts_opts *o, q3tts_sink sink,
                     void *ud, struct err *e);

#endif
