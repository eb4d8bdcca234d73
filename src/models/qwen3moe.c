/* The qwen3moe family (Qwen3-30B-A3B, Qwen3-235B-A22B): qwen3's attention block (q/k
 * RMS norms, no biases) with a mixture-of-experts FFN: softmax over all experts in
 * f32, the top expert_used_count chosen and their weights renormalised to sum to 1,
 * each expert a SwiGLU FFN of expert_feed_forward_length; no shared expert. */
#include "models/arch.h"
#include "models/moe.h"

const struct llm_arch llm_arch_qwen3moe = {
    .name = "qwen3moe",
    .rope_neox = 1,
    .qk_norm = 1,
    .moe = 1,
    .moe_gating = MOE_GATING_SOFTMAX,
    .moe_norm_w = 1,
};
