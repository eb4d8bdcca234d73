/* Random-weight GGUF files with the exact shapes of real models, for benchmarks:
 * a random matrix costs the same to multiply as a trained one, so a SmolLM2-135M
 * shaped file measures SmolLM2-135M speed without the real weights. The files
 * carry a small synthetic byte-level BPE vocabulary and a chat template, so both
 * omni and llama.cpp load them. */
#ifndef OMNI_MODELS_SYNTH_H
#define OMNI_MODELS_SYNTH_H
#include <stdint.h>

#include "core/error.h"

struct synth_shape {
    const char *name;       /* "smollm2-135m" */
    const char *arch;       /* "llama", "qwen2", "qwen3", "gemma2", "gemma3", "smollm3", "exaone4" */
    const char *pre;        /* tokenizer.ggml.pre */
    int n_vocab, n_ctx, n_embd, n_layer, n_head, n_head_kv, n_ff;
    float rope_theta, norm_eps;
    int tied_output;
    int llama3_rope;        /* write rope_freqs.weight (Llama 3.1+ long-context scaling) */
    int chat;               /* 0: ChatML tokens/template, 1: Llama 3 header tokens/template,
                             * 2: Gemma turn tokens and Gemma 2's template,
                             * 3: harmony (gpt-oss) tokens and template,
                             * 4: ChatML tokens and Qwen3Guard-Gen's template,
                             * 5: Llama 3 header tokens and Llama Guard 3's template */
    int head_dim;           /* attention.key_length when it is not n_embd / n_head (0: that) */
    int n_swa;              /* gemma: attention.sliding_window (0: none written) */
    float attn_softcap, final_softcap;  /* gemma2: the soft-capping keys (0: none written) */
    float w_scale;          /* matrices uniform in +-w_scale (0: 0.035, about a trained model's std
                             * 0.02); tests raise it so attention is peaked and soft-caps bite */
    /* mixture of experts (qwen3moe, gpt-oss; 0 = dense): experts, chosen per token, one
     * expert's FFN length */
    int n_expert, n_expert_used, n_ff_exp;
};

/* The known shapes; NULL-name terminated. Includes tiny shapes for tests. */
extern const struct synth_shape synth_shapes[];
const struct synth_shape *synth_find_shape(const char *name);

/* File type names accepted by synth_write: "f32", "f16", "bf16", "q8_0", "q4_0",
 * "q4_k_m", "mxfp4_moe" (expert tensors MXFP4, other matrices Q8_0). Returns -1 with a message listing them for an unknown name. */
struct synth_params {
    const struct synth_shape *shape;
    const char *ftype;
    uint64_t seed;
    int n_threads;
    void (*progress)(float frac, void *ud);
    void *progress_ud;
};

int synth_write(const struct synth_params *p, const char *path, struct err *e);

#endif
