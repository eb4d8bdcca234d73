/* The qwen35moe family (Qwen3.5 MoE, e.g. Qwen3.5-35B-A3B): qwen35's hybrid stack
 * (gated delta-net layers, every full_attention_interval-th layer gated full
 * attention; see qwen35.c) with a mixture-of-experts FFN in every layer, as
 * llama.cpp's qwen35moe graph computes it:
 *   h = post_attention_norm(x)
 *   ffn = moe(h) + sigmoid(ffn_gate_inp_shexp · h) * shexp(h)
 * moe: softmax over all experts in f32, top expert_used_count, their weights divided
 * by their sum (no expert_weights_scale), each a SwiGLU FFN of
 * expert_feed_forward_length; shexp: a SwiGLU FFN of expert_shared_feed_forward_length
 * (default feed_forward_length) over ffn_{gate,up,down}_shexp. The multi-token-
 * prediction block (nextn_predict_layers) is skipped as in qwen35. Files whose experts
 * come as one fused ffn_gate_up_exps tensor are not read (the loader asks for
 * ffn_gate_exps and ffn_up_exps). */
#include "models/arch.h"
#include "models/moe.h"

const struct llm_arch llm_arch_qwen35moe = {
    .name = "qwen35moe",
    .rope_neox = 1,
    .qk_norm = 1,
    .attn_out_gate = 1,
    .ffn_norm_name = "post_attention_norm",
    .mixer = &llm_qwen35_dnet_mixer,
    .load_hparams = llm_qwen35_hparams,
    .moe = 1,
    .moe_gating = MOE_GATING_SOFTMAX,
    .moe_norm_w = 1,
    .moe_shexp = 1,
};
