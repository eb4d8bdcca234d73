/* Decoder-only language models: load from GGUF, keep a KV cache, run a forward pass.
 *
 * One forward call takes a batch of tokens that may belong to several sequences
 * (continuous batching in the server) or be a whole prompt of one sequence
 * (batched prefill): every token writes its K/V at (seq, pos) and attends to
 * positions 0..pos of its own sequence. Families (llama, qwen2, …) differ only in
 * how they load weights and small forward details; see models/arch.h. */
#ifndef OMNI_MODELS_LLM_H
#define OMNI_MODELS_LLM_H
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/pool.h"
#include "formats/gguf.h"

struct llm_hparams {
    char arch[32];          /* general.architecture */
    int n_vocab;
    int n_ctx_train;
    int n_embd;
    int n_layer;
    int n_head;
    int n_head_kv;
    int head_dim;           /* n_embd / n_head unless the file says otherwise */
    int n_ff;
    float norm_eps;
    float rope_theta;
    float rope_freq_scale;
    int rope_neox;          /* 1: rotate pairs (i, i + d/2) (qwen2, neox); 0: adjacent pairs (llama) */
    int tied_output;        /* output projection shares token_embd */
    /* sliding-window attention (gemma2/3, exaone4 32B): n_swa positions, the current one
     * included; 0: every layer is global. Layer il is local when il % swa_period <
     * swa_period - 1 (swa_period 0: all local), as llama.cpp's set_swa_pattern. */
    int n_swa, swa_period;
    float rope_theta_swa, rope_freq_scale_swa;  /* local layers' rope (families that set it) */
    int nope_period;        /* layer il takes no rope when (il + 1) % nope_period == 0 (smollm3); 0: none */
    float rope_attn_factor; /* cos and sin scaled by it (rope.scaling.attn_factor; 1) */
    int n_ctx_orig;         /* rope.scaling.original_context_length: LongRoPE's long factors beyond it */
    float attn_scale;       /* q.k scale (1/sqrt(head_dim) unless the family says otherwise) */
    float attn_softcap;     /* scores = cap * tanh(scores / cap) before the softmax; 0: none */
    float final_softcap;    /* the same for the output logits; 0: none */
    int n_expert;           /* mixture of experts (models/moe.h): experts per layer, 0 = dense FFN */
    int n_expert_used;      /* experts chosen per token */
    int n_ff_exp;           /* one expert's FFN length */
    int n_ff_shexp;         /* the shared expert's FFN length (arch->moe_shexp) */
    /* YaRN (rope.scaling.type yarn): angles ramp between interpolated (freq_scale) and
     * extrapolated across the dims in yarn_corr, cos/sin scaled by rope_attn_factor */
    float rope_ext_factor;  /* 0: no YaRN */
    float yarn_corr[2];
    float yarn_beta_fast, yarn_beta_slow;  /* the correction range (32, 1 unless the family reads them) */
    float yarn_log_mul;     /* mscale_all_dim: magnitude mscale(f, 1) / mscale(f, it) when not 0 */
    /* Llama 4 style attention temperature (mistral3): q at position p is multiplied by
     * ln(floor(p / attn_temp_floor) + 1) * attn_temp_scale + 1 after rope; 0: none */
    float attn_temp_scale;
    int attn_temp_floor;
};

struct llm;        /* weights + hparams, immutable once loaded; the gguf stays open (weights are mmap'ed) */
struct llm_kv;     /* one sequence's KV cache: n_ctx positions */
struct llm_state;  /* what a forward writes besides the caches (activation scratch) */

struct llm_load_params {
    int n_threads;                            /* threads of the process pool if this load creates
                                               * it (pool_process); <= 0: all cores */
    void (*progress)(float frac, void *ud);   /* optional, 0..1 while loading */
    void *progress_ud;
};
struct llm_load_params llm_default_load_params(void);

struct llm *llm_load(const char *path, const struct llm_load_params *p, struct err *e);
void llm_free(struct llm *m);
const struct llm_hparams *llm_hparams(const struct llm *m);
const struct gguf *llm_gguf(const struct llm *m);   /* borrowed: tokenizer and template come from here */
struct pool *llm_pool(struct llm *m);               /* the process pool the model computes on */
uint64_t llm_n_params(const struct llm *m);
uint64_t llm_weight_bytes(const struct llm *m);
/* Some layers keep a recurrent state instead of K/V (Qwen3.5's delta-net): such a cache
 * steps back only to its checkpoint (llm_kv_truncate). */
int llm_is_recurrent(const struct llm *m);

struct llm_kv *llm_kv_new(const struct llm *m, int n_ctx, struct err *e);
/* The same with the cache's element type (llama.cpp's -ctk/-ctv for both): DT_F16 (what
 * llm_kv_new makes), DT_Q8_0 or DT_Q4_0 (blocks of 32 per head, attended by the tiled
 * kernel, which dequantizes a tile at a time; the head size must be a multiple of 32). */
struct llm_kv *llm_kv_new_type(const struct llm *m, int n_ctx, int type, struct err *e);
/* K and V bytes one position takes in such a cache (all attention layers) */
size_t llm_kv_bytes_per_pos(const struct llm *m, int type);
void llm_kv_free(struct llm_kv *kv);
int llm_kv_n_ctx(const struct llm_kv *kv);
/* A sliding-window model's local layers keep only a ring of their last positions when
 * the context is longer than twice that (memory per slot drops, outputs stay the same
 * bit for bit): its size, or 0 when every layer holds the whole context. With a ring a
 * truncate (or a rewrite of a held position) that reaches behind it keeps nothing. */
int llm_kv_ring(const struct llm_kv *kv);
/* The K and V bytes llm_kv_new_type(m, n_ctx, type) allocates (sliding-window rings counted
 * as such): what a memory budget should reserve for one slot. */
size_t llm_kv_bytes_for(const struct llm *m, int n_ctx, int type);
/* Which attention kernel the cache's forwards use (llama.cpp's --flash-attn):
 * LLM_FLASH_AUTO (the default) the exact kernel, llama.cpp's non-flash summation order
 * bit for bit, for positions that see at most LLM_FLASH_AUTO_MIN cached positions and
 * the tiled one (core/flash.h) beyond, in models whose KV heads serve at least
 * LLM_FLASH_AUTO_GROUP query heads each (with fewer, a decode step's few rows per tile
 * do not pay for converting the tile: the exact kernel stays); ON the tiled one
 * everywhere; OFF the exact one everywhere. A quantized cache always takes the tiled
 * one. The choice is per position, so a prompt's logits never depend on how it was
 * batched. */
enum llm_flash { LLM_FLASH_AUTO = 0, LLM_FLASH_ON = 1, LLM_FLASH_OFF = 2 };
#define LLM_FLASH_AUTO_MIN 1024
#define LLM_FLASH_AUTO_GROUP 2  /* one decode step's attention over 8192 positions, thread CPU time:
                                  * exact / tiled 2.5x (group 7), 2.0x (3), 1.5x (2), 1.0x (1, where
                                  * the exact kernel stays); a prompt's rows gain more (3.5x at 7) */
void llm_kv_set_flash(struct llm_kv *kv, enum llm_flash mode);
/* Memory the cache holds: K/V of the attention layers, recurrent states and their checkpoint. */
size_t llm_kv_bytes(const struct llm_kv *kv);
/* Forgets positions >= n_keep (0 forgets all); a follow-up turn that shares a prefix
 * keeps it and only computes the rest. Returns the positions the cache still holds,
 * which the caller must continue from: n_keep (or fewer if it held fewer) for an
 * attention cache; a recurrent model's state cannot be rolled back, so it keeps the
 * checkpoint (llm_kv_checkpoint) if that lies within n_keep, else nothing (0). */
int llm_kv_truncate(struct llm_kv *kv, int n_keep);
/* Recurrent models: keep a copy of the state as of n_pos positions (taken now if the
 * cache holds exactly that many, else by the forward that passes n_pos), replacing
 * the previous copy, so a later truncate to >= n_pos returns there. The engine asks
 * for the end of each prompt but its last token. No-op for attention-only models. */
void llm_kv_checkpoint(struct llm_kv *kv, int n_pos);

/* Forward scratch. The model's engine owns one and runs every forward with it; a tool
 * that calls llm_forward directly (eval, bench) makes its own. One thread at a time. */
struct llm_state *llm_state_new(const struct llm *m);
void llm_state_free(struct llm_state *st);
/* LoRA adapters (models/lora.h) the state's forwards add after the weight products they
 * adapt: u[0..n) is borrowed and must outlive the state's use of it; n = 0 removes them. */
struct lora_use;
void llm_state_set_lora(struct llm_state *st, const struct lora_use *u, int n);
/* One more adapter per sequence (a request's own: u[s] for the rows of kv[s]; u[s].a NULL
 * for none), on top of those above; u[0..n) is borrowed until the next call; n = 0: none. */
void llm_state_set_seq_lora(struct llm_state *st, const struct lora_use *u, int n);

struct llm_batch {
    int n_tokens;
    const int32_t *token;   /* [n_tokens] */
    const int32_t *pos;     /* [n_tokens] position of each token in its sequence */
    const int32_t *seq;     /* [n_tokens] which of the forward's caches (kv[seq]) the token belongs to; NULL = all 0 */
    const int8_t *logits;   /* [n_tokens] nonzero: return logits for this token; NULL = last only */
};

/* Runs the batch over several sequences at once (continuous batching): token i writes
 * its K/V at pos[i] of kv[seq[i]] and attends to positions 0..pos[i] of that cache.
 * `logits` receives n_vocab floats per token whose flag is set, in batch order.
 * Errors (nothing changed): token id out of range, pos beyond a cache's n_ctx or
 * leaving a gap, a bad seq, a cache made for another model. */
int llm_forward(const struct llm *m, struct llm_state *st, struct llm_kv *const *kv, int n_kv,
                const struct llm_batch *b, float *logits, struct err *e);
/* The same with input vectors instead of token lookups (image embeddings from a vision
 * encoder): embd holds n_tokens rows of n_embd floats; b->token is ignored (may be NULL). */
int llm_forward_embd(const struct llm *m, struct llm_state *st, struct llm_kv *const *kv, int n_kv,
                     const struct llm_batch *b, const float *embd, float *logits, struct err *e);
/* The same as llm_forward, returning instead of logits the final hidden state after the
 * output norm (n_embd floats per flagged token, in batch order): what an embedding model
 * built on a decoder (Qwen3-Embedding) pools. */
int llm_forward_hidden(const struct llm *m, struct llm_state *st, struct llm_kv *const *kv, int n_kv,
                       const struct llm_batch *b, float *hidden, struct err *e);
/* Both at once, from input vectors (embd) or tokens (embd NULL): logits and/or the
 * final normed hidden state of each flagged row (either may be NULL). A talker whose
 * next input is built from its own last hidden state (Qwen3-TTS) needs the two. */
int llm_forward_embd_out(const struct llm *m, struct llm_state *st, struct llm_kv *const *kv, int n_kv,
                         const struct llm_batch *b, const float *embd, float *logits, float *hidden, struct err *e);

#endif
