/* Pre-tokenizers for byte-level BPE: tokenizer.ggml.pre names → the split regexes
 * llama.cpp uses (PCRE2, Unicode classes), applied one after another the way
 * llama.cpp's unicode_regex_split does. */
#ifndef OMNI_TEXT_PRETOKENIZE_H
#define OMNI_TEXT_PRETOKENIZE_H
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define PRETOK_MAX_RE 8

/* What a pre-tokenizer name implies besides its regexes (llama.cpp's vocab load). */
struct pretok_info {
    const char *name;        /* canonical name, for messages */
    int ignore_merges;       /* a word that is a whole token skips the merges */
    int add_bos;             /* default for add_bos_token (-1: leave the model type's default) */
    int clean_spaces;        /* llama.cpp's clean_up_tokenization_spaces default */
    int no_bos;              /* the vocab has no BOS token (chatglm) */
};

struct pretok {
    struct pretok_info info;
    int n_re;
    void *re[PRETOK_MAX_RE]; /* pcre2_code_8 * */
};

/* Compiles the patterns for pre-tokenizer `name` (NULL or "" = "default", as llama.cpp
 * does with a warning). An unknown name is an error that names it. */
int pretok_init(struct pretok *p, const char *name, struct err *e);
void pretok_free(struct pretok *p);

/* Scratch and result of one split; reuse across calls, free with pretok_words_free. */
struct pretok_words {
    char *norm;              /* the text re-encoded as llama.cpp sees it (invalid bytes → U+FFFD) */
    size_t norm_len;
    uint32_t *ends;          /* word i is norm[ends[i-1] .. ends[i]) (ends[-1] = 0), in bytes */
    size_t n;
    /* scratch */
    char *rx; uint32_t *rx_off, *norm_off, *rx_cp, *chunks, *chunks2;
    size_t cap_bytes, cap_cps;
};
void pretok_words_free(struct pretok_words *w);

/* Splits text into words. Returns 0 or -1 (out of memory / regex failure). */
int pretok_split(const struct pretok *p, const char *text, size_t len, struct pretok_words *w,
                 struct err *e);

#endif
