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
    int embd_scale_sqrt;     /* token embeddings are multiplied by sqrt(n_embd) (gemma) */
    int no_pre_norm;         /* no attn_norm / ffn_norm: the blocks read the residual as is (exaone4) */
    int post_norms;          /* post_attention_norm / post_ffw_norm on each block's output before
                              * it joins the residual (gemma2/3, exaone4) */
    int fused_gate_up;       /* ffn_up holds gate rows then up rows (2 n_ff), no ffn_gate (phi3) */
    int ffn_gelu;            /* GELU (tanh) gate instead of SiLU (gemma) */
    int q_prescale;          /* q is multiplied by attn_scale after rope and the softmax scale is 1,
                              * as llama.cpp's graph does it for this family (phi3, gemma) */
    int swa_rope_own;        /* local layers rope with rope_theta_swa / rope_freq_scale_swa (gemma);
                              * otherwise with the global base */
    int swa_nope_global;     /* with a sliding window, global layers take no rope (exaone4) */
    int moe;                 /* the FFN is a mixture of experts (models/moe.h), ffn_*_exps tensors */
    int moe_gating;          /* enum moe_gating */
    int moe_norm_w;          /* the chosen experts' weights are divided by their sum */
    int moe_act;             /* enum moe_act */
    int moe_biases;          /* router and expert biases (ffn_gate_inp.bias, ffn_*_exps.bias) */
    int attn_sinks;          /* attn_sinks.weight: a per-head logit in the softmax (gpt-oss) */
    int attn_out_bias;       /* attn_output.bias */
    int ffn_norm_post_attention; /* the FFN's input norm is stored as post_attention_norm (gpt-oss) */
    /* Optional: reads or fixes family-specific hparams after the common ones are
     * loaded (keys are "{arch}.…"). Returns 0 or -1 with e set. */
    int (*load_hparams)(struct llm_hparams *hp, const struct gguf *g, struct err *e);
};

extern const struct llm_arch llm_arch_llama;
extern const struct llm_arch llm_arch_qwen2;
extern const struct llm_arch llm_arch_qwen3;
extern const struct llm_arch llm_arch_exaone4;
extern const struct llm_arch llm_arch_phi3;
extern const struct llm_arch llm_arch_gemma2;
extern const struct llm_arch llm_arch_gemma3;
extern const struct llm_arch llm_arch_smollm3;
extern const struct llm_arch llm_arch_qwen3moe;
extern const struct llm_arch llm_arch_gpt_oss;

/* "{arch}.key" readers for load_hparams hooks: a missing key leaves def (or is an
 * error when required); a key of the wrong type or out of range is an error. */
int llm_hp_int(const struct gguf *g, const char *arch, const char *key, int64_t def, int required, int min,
               int *out, struct err *e);
int llm_hp_float(const struct gguf *g, const char *arch, const char *key, double def, float *out, struct err *e);
/* 1 when "{arch}.key" is present */
int llm_hp_has(const struct gguf *g, const char *arch, const char *key);

#endif
