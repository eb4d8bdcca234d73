/* The phi3 family (Phi-3 / Phi-3.5 mini and medium, Phi-4 mini): q|k|v in one attn_qkv
 * matrix and gate|up in one ffn_up (2 n_ff rows, gate first), neox rope with LongRoPE:
 * rope_factors_short below the original context (rope.scaling.original_context_length),
 * rope_factors_long above it, cos/sin scaled by rope.scaling.attn_factor. q is scaled by
 * 1/sqrt(head_dim) after rope, before the product with K, as llama.cpp's graph does.
 * The files carry a sliding window, which llama.cpp ignores for phi3 (full attention). */
#include "models/arch.h"

static int phi3_hparams(struct llm_hparams *hp, const struct gguf *g, struct err *e) {
    (void)g; (void)e;
    hp->n_swa = 0;
    return 0;
}

const struct llm_arch llm_arch_phi3 = {
    .name = "phi3",
    .rope_neox = 1,
    .fused_gate_up = 1,
    .q_prescale = 1,
    .load_hparams = phi3_hparams,
};
