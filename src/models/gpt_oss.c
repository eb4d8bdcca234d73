/* The gpt-oss family (OpenAI gpt-oss-20b / -120b; GGUF architecture "gpt-oss"):
 * attention with q/k/v and output biases and a learned per-head sink logit in the
 * softmax, layers alternating a sliding window (even layers, attention.sliding_window
 * positions) and full attention, neox rope with YaRN scaling (rope.scaling.*), and a
 * mixture-of-experts FFN behind the norm the file calls post_attention_norm: a router
 * with a bias, the top expert_used_count raw logits chosen and softmaxed among
 * themselves, experts with biases and OpenAI's clamped SwiGLU
 * (min(gate, 7) * sigmoid(1.702 min(gate, 7)) * (clamp(up, -7, 7) + 1)). */
#include "models/arch.h"
#include "models/moe.h"

static int gpt_oss_hparams(struct llm_hparams *hp, const struct gguf *g, struct err *e) {
    /* llama.cpp requires the window; the pattern key is optional (2: local, global, ...) */
    if (llm_hp_int(g, hp->arch, "attention.sliding_window", 0, 1, 1, &hp->n_swa, e) ||
        llm_hp_int(g, hp->arch, "attention.sliding_window_pattern", 2, 0, 0, &hp->swa_period, e))
        return -1;
    return 0;
}

const struct llm_arch llm_arch_gpt_oss = {
    .name = "gpt-oss",
    .rope_neox = 1,
    .qkv_bias = 1,
    .moe = 1,
    .moe_gating = MOE_GATING_SOFTMAX_WEIGHT,
    .moe_act = MOE_ACT_SWIGLU_OAI,
    .moe_biases = 1,
    .attn_sinks = 1,
    .attn_out_bias = 1,
    .ffn_norm_name = "post_attention_norm",
    .load_hparams = gpt_oss_hparams,
};
