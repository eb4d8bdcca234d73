/* The qwen3 family (Qwen3 dense, and the base of Qwen3-Embedding / Qwen3-Reranker):
 * qwen2's block without the q/k/v biases and with a per-head RMSNorm of q and k
 * before rope; the head size is its own key (128) rather than n_embd / n_head. */
#include "models/arch.h"

const struct llm_arch llm_arch_qwen3 = {
    .name = "qwen3",
    .rope_neox = 1,
    .qk_norm = 1,
};
