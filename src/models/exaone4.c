/* The exaone4 family (EXAONE 4.0 1.2B / 32B): no norms before attention and the FFN;
 * instead each block's output is RMS-normed (post_attention_norm, post_ffw_norm) before
 * it joins the residual. Per-head q/k RMS norms before neox rope, llama-3 style
 * rope_freqs factors, tied embeddings unless output.weight is present.
 * As llama.cpp's loader: only the 64-layer (32B) model has sliding-window layers
 * (window 4096 unless attention.sliding_window says otherwise, every 4th layer global
 * by default or attention.sliding_window_pattern), and then only the local layers rope;
 * the global ones attend without positions (NoPE). Both use the global rope base. */
#include "models/arch.h"

static int exaone4_hparams(struct llm_hparams *hp, const struct gguf *g, struct err *e) {
    int window = 0;
    if (hp->n_layer == 64) {
        window = 4096;
        if (llm_hp_int(g, hp->arch, "attention.sliding_window_pattern", 4, 0, 0, &hp->swa_period, e)) return -1;
    }
    if (llm_hp_int(g, hp->arch, "attention.sliding_window", window, 0, 0, &window, e)) return -1;
    hp->n_swa = hp->n_layer == 64 ? window : 0;
    return 0;
}

const struct llm_arch llm_arch_exaone4 = {
    .name = "exaone4",
    .rope_neox = 1,
    .qk_norm = 1,
    .no_pre_norm = 1,
    .post_norms = 1,
    .swa_nope_global = 1,
    .load_hparams = exaone4_hparams,
};
