/* Internal layout of struct tokenizer, shared by tokenizer.c (loading, special
 * tokens, decoding) and the encoders tok_spm.c, tok_bpe.c, tok_wpm.c and tok_ugm.c.
 * Not a public API. */
#ifndef OMNI_TEXT_TOK_IMPL_H
#define OMNI_TEXT_TOK_IMPL_H
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "formats/gguf.h"
#include "text/pretokenize.h"
#include "text/strmap.h"

/* Token attributes, the same bits as llama.cpp's llama_token_attr. */
enum {
    TOK_UNKNOWN = 1 << 0, TOK_UNUSED = 1 << 1, TOK_NORMAL = 1 << 2, TOK_CONTROL = 1 << 3,
    TOK_USER_DEFINED = 1 << 4, TOK_BYTE = 1 << 5, TOK_LSTRIP = 1 << 7, TOK_RSTRIP = 1 << 8,
    TOK_EOG = 1 << 16 /* ours: ends generation */
};

/* SentencePiece BPE ("llama"), byte-level BPE ("gpt2"), WordPiece ("bert"),
 * SentencePiece unigram ("t5"). */
enum tok_kind { TOK_SPM, TOK_BPE, TOK_WPM, TOK_UGM };

struct ugm; /* tok_ugm.c: tries and the precompiled normaliser */

struct tok_entry {
    uint32_t off, len;        /* text in t->text */
    uint32_t piece_off, piece_len; /* rendered bytes in t->pieces */
    float score;
    uint32_t attr;
};

struct tokenizer {
    enum tok_kind kind;
    int n_vocab;
    struct tok_entry *tok;
    char *text, *pieces;
    struct strmap vocab;      /* text → id (a later duplicate wins, as in llama.cpp) */
    struct strmap merges;     /* "left right" → rank (BPE) */
    int32_t bos, eos, eot, eom, unk, pad, sep;
    int add_bos, add_eos, add_sep, add_space_prefix, ignore_merges;
    int lowercase, strip_accents; /* WPM: BertNormalizer options */
    int remove_extra_ws;          /* UGM: runs of whitespace become one ▁ before each word */
    size_t max_token_len;         /* longest token text in bytes */
    struct ugm *ugm;              /* UGM only */
    int32_t *special;         /* control/user-defined/unknown ids, longest text first */
    int n_special;
    int32_t byte_tok[256];    /* SPM byte fallback: <0xXX> (or the byte itself), -1 if missing */
    struct pretok pre;        /* BPE only */
    size_t max_piece;
};

/* A growable id array. */
struct tok_ids { int32_t *v; size_t n, cap; };
int tok_ids_push(struct tok_ids *a, int32_t id);

/* Encoders for one fragment of plain text (no special tokens). The SPM text must
 * already have spaces escaped as U+2581. Return 0 or -1 with e set. */
int spm_encode(const struct tokenizer *t, const char *text, size_t len, struct tok_ids *out, struct err *e);
int bpe_encode(const struct tokenizer *t, const char *text, size_t len, struct tok_ids *out, struct err *e);
/* WordPiece and unigram take raw text: they normalise it themselves. */
int wpm_encode(const struct tokenizer *t, const char *text, size_t len, struct tok_ids *out, struct err *e);
int ugm_encode(const struct tokenizer *t, const char *text, size_t len, struct tok_ids *out, struct err *e);

/* Builds t->ugm from the loaded vocabulary and tokenizer.ggml.precompiled_charsmap. */
int ugm_init(struct tokenizer *t, const struct gguf *g, struct err *e);
void ugm_free(struct ugm *u);

/* GPT-2's byte ↔ printable code point table (bytes that are not printable map to 256+n). */
uint32_t bpe_byte_to_cp(unsigned char b);
/* The byte for a code point of that table, or -1. */
int bpe_cp_to_byte(uint32_t cp);

#endif
