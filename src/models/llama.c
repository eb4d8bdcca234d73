/* The llama family: Llama 2/3.x, SmolLM2, TinyLlama, Mistral, the TinyStories
 * models. llama.cpp's converter permutes Q/K rows so that "normal" (adjacent-pair)
 * rope is correct; llama-3 rope scaling arrives as the rope_freqs tensor, which
 * llm.c applies for any family. */
#include "models/arch.h"

const struct llm_arch llm_arch_llama = {
    .name = "llama",
    .rope_neox = 0,
    .qkv_bias = 0,
};
