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
    int output_is_embd;      /* the output projection is token_embd even if output.weight exists (gemma2) */
    int moe;                 /* the FFN is a mixture of experts (models/moe.h), ffn_*_exps tensors */
    int moe_gating;          /* enum moe_gating */
    int moe_norm_w;          /* the chosen experts' weights are divided by their sum */
    int moe_act;             /* enum moe_act */
    int moe_shexp;           /* a shared expert gated by sigmoid(ffn_gate_inp_shexp · x) (qwen35moe) */
    int moe_biases;          /* router and expert biases (ffn_gate_inp.bias, ffn_*_exps.bias) */
    int attn_sinks;          /* attn_sinks.weight: a per-head logit in the softmax (gpt-oss) */
    int attn_out_bias;       /* attn_output.bias */
    int output_rows_own;     /* output.weight may have fewer rows than the vocabulary: its logits
                              * are the vocabulary's last rows, the rows before them -inf (the
                              * Qwen3-TTS talker's codec head after its text vocabulary) */
    /* Optional: reads or fixes family-specific hparams after the common ones are
     * loaded (keys are "{arch}.…"). Returns 0 or -1 with e set. */
    int (*load_hparams)(struct llm_hparams *hp, const struct gguf *g, struct err *e);
    /* Full attention with a sigmoid output gate (qwen35): attn_q gives per head
     * head_dim query values then head_dim gate values; the attention output is
     * multiplied by sigmoid(gate) before attn_output. */
    int attn_out_gate;
    const char *ffn_norm_name;  /* the FFN's input norm when not "ffn_norm" ("post_attention_norm") */
    const struct llm_mixer *mixer;  /* recurrent layers (qwen35's gated delta-net), or NULL */
};

/* A recurrent layer in place of attention (the block is otherwise the same:
 * norm, mixer, residual, FFN). Its state is per sequence and lives in the
 * sequence's struct llm_kv: state_floats per layer, zero for an empty sequence. */
struct llm_rs_seq {
    float *state;   /* this layer's state of the sequence */
    float *ck;      /* its checkpoint copy: taken after the token at position ck_pos - 1 */
    int ck_pos;     /* -1: none asked */
};
struct llm_mix_args {
    const struct llm_hparams *hp;
    struct pool *pool;
    const void *layer;            /* what load() returned */
    int n;                        /* tokens */
    const int32_t *pos, *seq;     /* [n]; seq NULL = all 0; a sequence's tokens in order */
    const struct llm_rs_seq *rs;  /* [n_seq] */
    int n_seq;
    const float *x;               /* [n][n_embd] normed input */
    float *out;                   /* [n][n_embd] the layer's output (before the residual) */
    float *scratch;               /* scratch_floats(layer, n) floats */
};
struct llm_mixer {
    /* Layer l: loads its tensors and returns them in *layer (free() releases it), or
     * leaves *layer NULL for a full-attention layer. 0, or -1 with e set. */
    int (*load)(struct llm *m, int l, void **layer, struct err *e);
    size_t (*state_floats)(const void *layer);
    size_t (*scratch_floats)(const void *layer, int n);
    void (*forward)(const struct llm_mix_args *a);
};

/* For a family's loader: a tensor by name with its expected shape (ne1 ignored for
 * n_dims 1), counted in the model's size; optional: missing gives t->data NULL. */
int llm_get_tensor(struct llm *m, const char *name, int n_dims, int64_t ne0, int64_t ne1, int optional,
                   struct tensor *t, struct err *e);

extern const struct llm_arch llm_arch_llama;
extern const struct llm_arch llm_arch_qwen2;
extern const struct llm_arch llm_arch_qwen3;
extern const struct llm_arch llm_arch_qwen35;
extern const struct llm_arch llm_arch_exaone4;
extern const struct llm_arch llm_arch_phi3;
extern const struct llm_arch llm_arch_gemma2;
extern const struct llm_arch llm_arch_gemma3;
extern const struct llm_arch llm_arch_smollm3;
extern const struct llm_arch llm_arch_qwen3moe;
extern const struct llm_arch llm_arch_gpt_oss;
extern const struct llm_arch llm_arch_qwen35moe;
extern const struct llm_arch llm_arch_mistral3;
extern const struct llm_arch llm_arch_qwen3tts;
/* qwen35's gated delta-net layers and hparams hook, which qwen35moe shares */
extern const struct llm_mixer llm_qwen35_dnet_mixer;
int llm_qwen35_hparams(struct llm_hparams *hp, const struct gguf *g, struct err *e);

/* "{arch}.key" readers for load_hparams hooks: a missing key leaves def (or is an
 * error when required); a key of the wrong type or out of range is an error. */
int llm_hp_int(const struct gguf *g, const char *arch, const char *key, int64_t def, int required, int min,
               int *out, struct err *e);
int llm_hp_float(const struct gguf *g, const char *arch, const char *key, double def, float *out, struct err *e);
/* A layer period key (attention.sliding_window_pattern) as llama.cpp reads it into one
 * number: an integer, or def when absent or when the file has a per-layer array there. */
int llm_hp_period(const struct gguf *g, const char *arch, const char *key, int def, int *out, struct err *e);

#endif
