/* The per-family part of a decoder-only LLM. A family (llama, qwen2, …) is a
 * constant descriptor: which GGUF architecture name it answers to, which optional
 * tensors it requires, and the small differences of its forward pass. Everything
 * else (hparams, tensor layout, KV cache, the forward loop) is shared in llm.c.
 *
 * Tensor and metadata names follow llama.cpp's GGUF conventions, which are the
 * same for every family: "{arch}.embedding_length", "blk.N.attn_q.weight", …
 * Adding a family = one file defining a `const struct llm_arch` + one line in
 * llm.c's table. */
#ifndef OMNI_MODELS_ARCH_H
#define OMNI_MODELS_ARCH_H
#include "core/error.h"
#include "formats/gguf.h"
#include "models/llm.h"

struct llm_arch {
    const char *name;        /* general.architecture */
    int rope_neox;           /* 1: rotate (i, i + n_rot/2) pairs; 0: adjacent pairs */
    int qkv_bias;            /* attn_q/k/v.bias tensors are required */
    int qk_norm;             /* per-head RMSNorm of q and k (attn_q_norm / attn_k_norm, qwen3) */
    int embd_scale_sqrt;     /* embeddings are multiplied by sqrt(n_embd) (gemma) */
    int moe;                 /* the FFN is a mixture of experts (models/moe.h), ffn_*_exps tensors */
    int moe_gating;          /* enum moe_gating */
    int moe_norm_w;          /* the chosen experts' weights are divided by their sum */
    /* Optional: reads or fixes family-specific hparams after the common ones are
     * loaded (keys are "{arch}.…"). Returns 0 or -1 with e set. */
    int (*load_hparams)(struct llm_hparams *hp, const struct gguf *g, struct err *e);
};

extern const struct llm_arch llm_arch_llama;
extern const struct llm_arch llm_arch_qwen2;
extern const struct llm_arch llm_arch_qwen3;
extern const struct llm_arch llm_arch_qwen3moe;

#endif
