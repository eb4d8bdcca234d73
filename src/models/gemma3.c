/* The gemma3 family (Gemma 3 270M..27B text): embeddings x sqrt(n_embd), RMS norms
 * before and after attention and the FFN (weights stored with the +1 already added),
 * per-head q/k norms, neox rope, GELU (tanh) gated FFN, q scaled by 1/sqrt(head_dim)
 * (1/sqrt(n_embd/n_head) for the 62-layer 27B) after rope. With a sliding window in the
 * file, 5 of every 6 layers are local (attention.sliding_window_pattern overrides the
 * 6) and rope with rope.freq_base_swa (10000 when absent) unscaled; global layers use
 * rope.freq_base with the file's linear scaling. Final logits soft-capped only when
 * final_logit_softcapping is present. Tied embeddings unless output.weight is present. */
#include <math.h>

#include "models/arch.h"

static int gemma3_hparams(struct llm_hparams *hp, const struct gguf *g, struct err *e) {
    const char *a = hp->arch;
    if (llm_hp_int(g, a, "attention.sliding_window", 0, 0, 0, &hp->n_swa, e)) return -1;
    if (hp->n_swa > 0) {
        if (llm_hp_int(g, a, "attention.sliding_window_pattern", 6, 0, 0, &hp->swa_period, e) ||
            llm_hp_float(g, a, "rope.freq_base_swa", 10000.0, &hp->rope_theta_swa, e))
            return -1;
        hp->rope_freq_scale_swa = 1.0f;
    }
    if (llm_hp_float(g, a, "final_logit_softcapping", 0.0, &hp->final_softcap, e)) return -1;
    hp->attn_scale = hp->n_layer == 62 ? 1.0f / sqrtf((float)(hp->n_embd / hp->n_head))
                                       : 1.0f / sqrtf((float)hp->head_dim);
    return 0;
}

const struct llm_arch llm_arch_gemma3 = {
    .name = "gemma3",
    .rope_neox = 1,
    .qk_norm = 1,
    .embd_scale_sqrt = 1,
    .post_norms = 1,
    .ffn_gelu = 1,
    .q_prescale = 1,
    .swa_rope_own = 1,
    .load_hparams = gemma3_hparams,
};
