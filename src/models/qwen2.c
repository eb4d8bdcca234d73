/* The qwen2 family (Qwen1.5, Qwen2, Qwen2.5): llama's block with biases on the
 * q/k/v projections and neox-style (half-split) rope. */
#include "models/arch.h"

const struct llm_arch llm_arch_qwen2 = {
    .name = "qwen2",
    .rope_neox = 1,
    .qkv_bias = 1,
};
