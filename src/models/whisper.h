/* Whisper speech recognition on whisper.cpp ggml model files: the network (log-mel ->
 * encoder -> decoder with self/cross-attention KV caches) and, on top of it, whole-file
 * transcription with Whisper's decoding rules (whisper_transcribe).
 *
 * A whisper_model holds read-only weights and vocabulary and may be shared; a
 * whisper_state holds one stream's encoder output and caches and is used by one thread
 * at a time. */
#ifndef OMNI_MODELS_WHISPER_H
#define OMNI_MODELS_WHISPER_H
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/pool.h"
#include "formats/ggml_whisper.h"
#include "models/mel.h"

struct whisper_model;
struct whisper_state;

/* Special token ids; they depend on the vocabulary size (.en vs multilingual vs v3). */
struct whisper_special {
    int eot, sot, translate, transcribe, solm, prev, nosp, notimestamps, beg;
    int lang0;      /* token of the first language ("en"); language i is lang0 + i */
    int n_langs;
};

struct whisper_model *whisper_load(const char *path, struct err *e);
void whisper_free(struct whisper_model *m);

const struct ggw_whisper_hparams *whisper_hparams(const struct whisper_model *m);
const struct whisper_special *whisper_special(const struct whisper_model *m);
int whisper_is_multilingual(const struct whisper_model *m);
int whisper_n_vocab(const struct whisper_model *m);
/* The token's bytes (may be a partial UTF-8 sequence); "" for special tokens. Borrowed. */
const char *whisper_token_text(const struct whisper_model *m, int id, int *len);
/* Language index for a code ("en", "ko", ...), or -1. */
int whisper_lang_index(const char *code);
const char *whisper_lang_code(int index);

/* Tokenizes text the way whisper.cpp does (words, then longest vocabulary match).
 * Writes up to max_out ids and returns how many the text needs, or -1 with e set. */
int whisper_tokenize(const struct whisper_model *m, const char *text, int *out, int max_out, struct err *e);

/* Log-mel of 16 kHz mono audio with this model's filterbank (free with mel_free). */
int whisper_mel(const struct whisper_model *m, const float *x, size_t n, struct mel *out, struct err *e);

/* pool is borrowed (may be NULL: single-threaded). */
struct whisper_state *whisper_state_new(const struct whisper_model *m, struct pool *pool, struct err *e);
void whisper_state_free(struct whisper_state *s);
const struct whisper_model *whisper_state_model(const struct whisper_state *s);

/* Encodes mel frames [offset, offset + 2 * n_ctx). n_ctx <= 0 means the model's full
 * window (1500 positions = 30 s); a smaller n_ctx (reduced audio context) encodes just
 * as much as a short clip needs: cost falls roughly in proportion. Frames past the end
 * of the mel read as the padding value. Resets the decoder. */
int whisper_encode(struct whisper_state *s, const struct mel *mel, int offset, int n_ctx, struct err *e);
/* whisper.cpp pads audio attention to a multiple of 256 positions with unmasked zero
 * keys; on (the default) reproduces its numbers, off gives the textbook attention. */
void whisper_set_null_keys(struct whisper_state *s, int on);
/* Positions the last whisper_encode produced. */
int whisper_n_audio_ctx(const struct whisper_state *s);

/* Feeds n tokens at decoder positions n_past.. (the cache keeps positions < n_past) and
 * writes the logits after the last one into logits[n_vocab]. */
int whisper_decode(struct whisper_state *s, const int *tokens, int n, int n_past, float *logits, struct err *e);

/* Beam search: up to n sequences, each with its own self-attention cache (sequence 0
 * is the one whisper_decode uses). */
int whisper_reserve_seqs(struct whisper_state *s, int n, struct err *e);
int whisper_decode_seq(struct whisper_state *s, int seq, const int *tokens, int n, int n_past, float *logits,
                       struct err *e);
/* Sequence i takes the first n_pos cached positions of sequence src[i], i < n. */
void whisper_seqs_reorder(struct whisper_state *s, const int *src, int n, int n_pos);

/* ---- whole-file transcription ---- */

struct whisper_token_data {
    int id;
    float p;        /* probability when it was sampled */
    int64_t t0, t1; /* centiseconds, -1 when unknown; with token_timestamps, every token's
                     * estimated start and end (timestamp tokens: the time they mark) */
    int tid;        /* the likeliest timestamp token at this step */
    float pt;       /* its probability among the timestamp tokens */
    float ptsum;    /* all timestamp tokens' probability together */
};

struct whisper_segment {
    int64_t t0, t1;   /* centiseconds from the start of the audio */
    char *text;
    int n_tokens;
    struct whisper_token_data *tokens;
    float no_speech_prob;
};

struct whisper_result {
    char language[8];
    float language_prob;
    int n_segments;
    struct whisper_segment *segments;
};

struct whisper_params {
    const char *language;   /* "en", "ko", ... or "auto" (detect); NULL = "en" */
    int translate;          /* translate to English instead of transcribing */
    int no_timestamps;      /* decode without timestamp tokens (one segment per window) */
    int beam_size;          /* > 1: beam search at temperature 0 (whisper-cli uses 5) */
    int beam_search;        /* 1: the beam-search decoder even for beam_size 1 (whisper.cpp's
                             * WHISPER_SAMPLING_BEAM_SEARCH; one beam must give greedy's result) */
    float temperature;      /* 0 = greedy (or beam search with beam_size > 1) */
    float temperature_inc;  /* fallback step (0.2); <= 0 disables the fallback */
    float logprob_thold;    /* -1.0: retry hotter below this average log-probability */
    float entropy_thold;    /* 2.4: retry hotter above this compression proxy */
    float no_speech_thold;  /* 0.6 */
    int max_tokens_per_window; /* 0 = n_text_ctx / 2 */
    const char *initial_prompt; /* borrowed; NULL for none */
    int audio_ctx;          /* 0 = full window; else encoder positions (reduced context) */
    int token_timestamps;   /* estimate t0/t1 of every token (for word timestamps) */
    void (*progress)(float frac, void *ud);
    void *progress_ud;
};

struct whisper_params whisper_default_params(void);

/* Transcribes 16 kHz mono samples. Fills *r (free with whisper_result_free). */
int whisper_transcribe(struct whisper_state *s, const float *x, size_t n, const struct whisper_params *p,
                       struct whisper_result *r, struct err *e);
void whisper_result_free(struct whisper_result *r);
/* The spoken language of the first window (as "auto" detects it): its index
 * (whisper_lang_code names it) and probability in *prob (may be NULL), or -1 with e set.
 * English-only models say "en" with probability 1. */
int whisper_detect_language(struct whisper_state *s, const float *x, size_t n, int audio_ctx, float *prob,
                            struct err *e);
/* The segments' text joined, leading spaces dropped (Whisper starts words with one):
 * the transcript as every caller shows it. Caller frees; NULL when out of memory. */
char *whisper_result_text(const struct whisper_result *r);

#endif
