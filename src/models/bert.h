/* BERT-family sentence encoders (bge, MiniLM, XLM-RoBERTa / bge-m3, the bge-reranker
 * cross-encoders) from GGUF files as llama.cpp's converter writes them (architecture
 * "bert"; "nomic-bert": RoPE instead of the position table, SwiGLU; "jina-bert-v2":
 * ALiBi, GEGLU; see bert.c): token +
 * token-type-0 + learned absolute position embeddings, an embedding
 * LayerNorm, post-LN blocks with biases, GELU, bidirectional attention within each
 * input, then pooling of the final hidden states.
 *
 * One forward embeds a batch of independent inputs: their tokens go through every
 * weight product together (m = all tokens), and attention stays within each input. */
#ifndef OMNI_MODELS_BERT_H
#define OMNI_MODELS_BERT_H
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "formats/gguf.h"

/* llama.cpp's numbering, which is also the file's {arch}.pooling_type value. */
enum bert_pooling {
    BERT_POOL_NONE = 0,    /* not supported for sentence vectors: refused */
    BERT_POOL_MEAN = 1,    /* average of all final hidden states ([CLS]/[SEP] included) */
    BERT_POOL_CLS = 2,     /* the first token's */
    BERT_POOL_LAST = 3,    /* the last token's */
    BERT_POOL_RANK = 4,    /* the first token's through the classification head: a score */
};

struct bert_hparams {
    char arch[32];
    int n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_ff, n_token_types;
    float norm_eps;
    int pooling;           /* the file's pooling_type; CLS when it has none and no head, RANK
                            * when it has a classification head and no pooling type */
    int n_cls_out;         /* outputs of cls.output (0: no rerank head) */
};

struct bert;

/* 1 when general.architecture (s, len bytes) is one this file loads: bert, nomic-bert,
 * jina-bert-v2. */
int bert_is_arch(const char *s, size_t len);

/* n_threads as llm_load_params (the process pool). */
struct bert *bert_load(const char *path, int n_threads, struct err *e);
void bert_free(struct bert *m);
const struct bert_hparams *bert_hparams(const struct bert *m);
const struct gguf *bert_gguf(const struct bert *m);
uint64_t bert_n_params(const struct bert *m);
uint64_t bert_weight_bytes(const struct bert *m);

/* The output length per input for a pooling: n_embd, or n_cls_out for RANK. */
int bert_n_out(const struct bert *m, int pooling);

/* Encodes n_seq inputs: input s is n_tok[s] tokens, all inputs' tokens back to back in
 * tok. out gets bert_n_out floats per input, in order: the pooled vector, not normalised
 * (RANK: the head's raw logits). Errors: no inputs, an empty or too long input (more
 * than n_ctx_train tokens), an id outside the vocabulary, a pooling the model cannot do
 * (RANK without a head, NONE), out of memory. Any thread; calls may run concurrently
 * (each allocates its own scratch). */
int bert_encode(const struct bert *m, const int32_t *tok, const int *n_tok, int n_seq, int pooling, float *out,
                struct err *e);

#endif
