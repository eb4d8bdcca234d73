/* The Qwen3-TTS talker as llama.cpp converts it (arch "qwen3tts"): a qwen3 block
 * (q/k norms, neox rope; its interleaved M-RoPE gives every section the same position
 * for a text/codec stream, which is plain rope) over a vocabulary of text tokens then
 * 3072 codec tokens, whose output.weight is the codec head alone. The pipeline that
 * drives it (prompt rows, code predictor, codec decoder) is in src/tts. */
#include "models/arch.h"

const struct llm_arch llm_arch_qwen3tts = {
    .name = "qwen3tts",
    .rope_neox = 1,
    .qk_norm = 1,
    .output_rows_own = 1,
};
