/* Mixture-of-experts feed-forward block (qwen3moe, gpt-oss), in llama.cpp's arithmetic
 * (its build_moe_ffn): a router matmul gives n_expert logits per token, a gating
 * function turns them into probabilities, the top n_used experts are chosen, their
 * weights optionally renormalised, and the output is the weighted sum of the chosen
 * experts' gated FFNs, added in the order of the choice (best first).
 *
 * Expert weights are 3-D tensors [n_in, n_out, n_expert]: expert e's matrix is the
 * 2-D view at e * n_out rows, so each expert is one matmul() over the tokens routed to
 * it (prefill groups the batch by expert; a decode step reads only the chosen ones).
 *
 * A shared expert (qwen35moe, as llama.cpp's qwen3next/qwen35moe graphs) is a plain
 * SwiGLU FFN on every token, times sigmoid of a one-row gate, added after the routed sum. */
#ifndef OMNI_MODELS_MOE_H
#define OMNI_MODELS_MOE_H
#include "core/pool.h"
#include "core/tensor.h"

enum moe_gating {
    MOE_GATING_SOFTMAX,         /* softmax over all experts, then top-k (qwen3moe) */
    MOE_GATING_SOFTMAX_WEIGHT,  /* top-k of the raw logits, softmax over the k chosen (gpt-oss) */
};
enum moe_act {
    MOE_ACT_SWIGLU,             /* silu(gate) * up */
    MOE_ACT_SWIGLU_OAI,         /* gpt-oss: clamped, x * sigmoid(1.702 x) * (up + 1) */
};

struct moe_cfg {
    int n_embd, n_ff, n_expert, n_used;
    int gating;                 /* enum moe_gating */
    int act;                    /* enum moe_act */
    int norm_w;                 /* divide the chosen weights by their sum */
    float w_scale;              /* 0 or 1: none */
    int n_ff_shexp;             /* the shared expert's FFN length, 0: none (qwen35moe) */
};

struct moe_layer {
    struct tensor gate_inp;     /* [n_embd, n_expert] router */
    struct tensor gate_exps, up_exps;   /* [n_embd, n_ff, n_expert] */
    struct tensor down_exps;    /* [n_ff, n_embd, n_expert] */
    /* optional f32 biases (.data NULL when absent): router [n_expert], gate/up
     * [n_ff, n_expert], down [n_embd, n_expert] */
    struct tensor gate_inp_b, gate_b, up_b, down_b;
    /* the shared expert (with n_ff_shexp): a SwiGLU FFN every token runs, gate/up
     * [n_embd, n_ff_shexp], down [n_ff_shexp, n_embd], its output scaled by
     * sigmoid(gate_inp_shexp · x), gate_inp_shexp [n_embd, 1], and added to the experts' */
    struct tensor gate_shexp, up_shexp, down_shexp, gate_inp_shexp;
};

struct moe_scratch;
void moe_scratch_free(struct moe_scratch *s);

/* Makes *s (created on first use) hold a batch of n tokens. Returns -1 when out of memory. */
int moe_reserve(struct moe_scratch **s, const struct moe_cfg *c, int n);
/* out[n][n_embd] = the block applied to x[n][n_embd]; out may alias x. s must have been
 * reserved for at least n tokens with the same c (returns -1, doing nothing, if not). */
int moe_ffn(struct pool *p, const struct moe_cfg *c, const struct moe_layer *L, const float *x, float *out, int n,
            struct moe_scratch *s);

/* gpt-oss's activation on n values (exposed for tests). */
void moe_swiglu_oai(float *out, const float *gate, const float *up, int n);
#endif
