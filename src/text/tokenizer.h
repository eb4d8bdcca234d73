/* Tokenizers built from GGUF metadata (tokenizer.ggml.*): SentencePiece ("llama")
 * with byte fallback, and byte-level BPE ("gpt2") with the pre-tokenizer regexes
 * chosen by tokenizer.ggml.pre. Results match llama.cpp id for id. */
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

/* Encodes UTF-8 text (invalid UTF-8 is accepted and handled like llama.cpp).
 * add_special: add BOS/EOS as the vocab asks. parse_special: text like
 * "<|im_start|>" becomes that special token instead of being spelled out.
 * *out is malloc'ed (caller frees). Returns 0 or -1. */
int tokenizer_encode(const struct tokenizer *t, const char *text, size_t len, int add_special,
                     int parse_special, int32_t **out, size_t *n_out, struct err *e);

/* The bytes of one token (SPM "▁" → space, byte tokens → that byte, BPE byte
 * mapping undone). Special/control tokens give their text only if `special`.
 * Returns a view valid while t lives; *len receives the length. */
const char *tokenizer_piece(const struct tokenizer *t, int32_t id, int special, size_t *len);

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
/* Appends the complete UTF-8 text produced by token id to out (cap bytes, NUL-
 * terminated). Returns the number of bytes written (may be 0). */
size_t detok_push(struct detok *d, int32_t id, char *out, size_t cap);
/* Flushes what is pending at the end of a stream (invalid bytes as U+FFFD). */
size_t detok_flush(struct detok *d, char *out, size_t cap);

#endif
