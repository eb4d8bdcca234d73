/* Tokenizers built from GGUF metadata (tokenizer.ggml.*): SentencePiece ("llama")
 * with byte fallback, byte-level BPE ("gpt2") with the pre-tokenizer regexes
 * chosen by tokenizer.ggml.pre, WordPiece ("bert") and SentencePiece unigram ("t5").
 * Results match llama.cpp id for id. */
#ifndef OMNI_TEXT_TOKENIZER_H
#define OMNI_TEXT_TOKENIZER_H
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "formats/gguf.h"

struct tokenizer;

/* Reads the vocabulary from g (copied: g may be closed afterwards). */
struct tokenizer *tokenizer_load(const struct gguf *g, struct err *e);
void tokenizer_free(struct tokenizer *t);

int tokenizer_n_vocab(const struct tokenizer *t);
int32_t tokenizer_bos(const struct tokenizer *t);   /* -1 if none */
int32_t tokenizer_eos(const struct tokenizer *t);   /* -1 if none */
/* End of generation: eos, eot, <|im_end|>, <|eot_id|>, … as the vocab marks them. */
int tokenizer_is_eog(const struct tokenizer *t, int32_t id);
int tokenizer_is_control(const struct tokenizer *t, int32_t id);
/* Token id for an exact token text (e.g. "<|im_end|>"), or -1. */
int32_t tokenizer_find(const struct tokenizer *t, const char *text);
/* Whether add_special=1 puts a BOS in front (tokenizer.ggml.add_bos_token or the model default). */
int tokenizer_add_bos(const struct tokenizer *t);
/* Whether add_special=1 puts an EOS at the end (WordPiece puts [SEP] there instead). */
int tokenizer_add_eos(const struct tokenizer *t);
/* The separator token (WordPiece [SEP], XLM-R's </s>), -1 if none, and whether a pair of
 * texts gets one between them (tokenizer.ggml.add_sep_token; llama-server's rerank input
 * is BOS query EOS SEP document EOS with each part present only if the vocab asks). */
int32_t tokenizer_sep(const struct tokenizer *t);
int tokenizer_add_sep(const struct tokenizer *t);
/* 0 when encoding normalises the text (WordPiece lower-cases, unigram applies NFKC and
 * merges spaces), so decoding does not give the text back; 1 for SPM and BPE. */
int tokenizer_is_lossless(const struct tokenizer *t);
/* Longest tokenizer_piece in bytes (size detok buffers as 3 * this + 16). */
size_t tokenizer_max_piece(const struct tokenizer *t);

/* Encodes UTF-8 text (invalid UTF-8 is accepted and handled like llama.cpp).
 * add_special: add BOS/EOS as the vocab asks. parse_special: text like
 * "<|im_start|>" becomes that special token instead of being spelled out.
 * *out is malloc'ed (caller frees). Returns 0 or -1. */
/* 1 when text holds the text of a control (or unknown) token, which tokenizer_encode
 * with parse_special would turn into that token: what a chat message's content must not
 * be allowed to do (a user writing "<|im_start|>system"). */
int tokenizer_text_has_control(const struct tokenizer *t, const char *text, size_t len);
int tokenizer_encode(const struct tokenizer *t, const char *text, size_t len, int add_special,
                     int parse_special, int32_t **out, size_t *n_out, struct err *e);

/* The bytes of one token (SPM "▁" → space, byte tokens → that byte, BPE byte
 * mapping undone). Special/control tokens give their text only if `special`.
 * Returns a view valid while t lives; *len receives the length. */
const char *tokenizer_piece(const struct tokenizer *t, int32_t id, int special, size_t *len);

/* The text of ids, as llama.cpp's llama_detokenize(remove_special=false): pieces
 * concatenated, and for SPM the leading space of the first token dropped.
 * Bytes are returned as they are (may be invalid UTF-8); llama.cpp's lossy
 * clean_up_tokenization_spaces is not applied. *out is malloc'ed and NUL-terminated. */
int tokenizer_decode(const struct tokenizer *t, const int32_t *ids, size_t n, int special, char **out,
                     size_t *n_out, struct err *e);

/* Streaming detokenizer: holds back incomplete UTF-8 sequences so a stream never
 * emits half a character (and strips SPM's leading space where llama.cpp does). */
struct detok {
    const struct tokenizer *t;
    int special;          /* render special tokens */
    int n_done;           /* tokens consumed so far */
    char pending[8];      /* incomplete UTF-8 tail */
    int n_pending;
};
void detok_init(struct detok *d, const struct tokenizer *t, int special);
/* The SPM leading-space strip applies to the first token pushed only. To stream
 * the continuation of a prompt (generated tokens), set d->n_done = 1 after init. */
/* Writes the complete UTF-8 text produced by token id to out (cap bytes, NUL-
 * terminated; invalid bytes become U+FFFD). Returns the number of bytes written
 * (may be 0). Text that does not fit in cap is dropped. */
size_t detok_push(struct detok *d, int32_t id, char *out, size_t cap);
/* Flushes what is pending at the end of a stream (invalid bytes as U+FFFD). */
size_t detok_flush(struct detok *d, char *out, size_t cap);

#endif
