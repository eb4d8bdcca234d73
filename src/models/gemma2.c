/* The gemma2 family (Gemma 2 2B/9B/27B): gemma3's block without the q/k norms, with
 * every other layer local (window attention.sliding_window, 4096 when absent; pattern
 * attention.sliding_window_pattern, 2 when absent; local rope base rope.freq_base_swa,
 * else the global one), attention scores soft-capped (attn_logit_softcapping, 50 when
 * absent) and final logits soft-capped (final_logit_softcapping, 30 when absent), as
 * llama.cpp reads them. q is scaled by 1/sqrt(head_dim) (1/sqrt(n_embd/n_head) for the
 * 46-layer 27B) after rope. */
#include <math.h>

#include "models/arch.h"

static int gemma2_hparams(struct llm_hparams *hp, const struct gguf *g, struct err *e) {
    const char *a = hp->arch;
    if (llm_hp_int(g, a, "attention.sliding_window_pattern", 2, 0, 0, &hp->swa_period, e) ||
        llm_hp_float(g, a, "rope.freq_base_swa", hp->rope_theta, &hp->rope_theta_swa, e) ||
        llm_hp_int(g, a, "attention.sliding_window", 4096, 0, 0, &hp->n_swa, e) ||
        llm_hp_float(g, a, "attn_logit_softcapping", 50.0, &hp->attn_softcap, e) ||
        llm_hp_float(g, a, "final_logit_softcapping", 30.0, &hp->final_softcap, e))
        return -1;
    hp->rope_freq_scale_swa = hp->rope_freq_scale;
    hp->attn_scale = hp->n_layer == 46 ? 1.0f / sqrtf((float)(hp->n_embd / hp->n_head))
                                       : 1.0f / sqrtf((float)hp->head_dim);
    return 0;
}

const struct llm_arch llm_arch_gemma2 = {
    .name = "gemma2",
    .rope_neox = 1,
    .embd_scale_sqrt = 1,
    .post_norms = 1,
    .ffn_gelu = 1,
    .q_prescale = 1,
    .swa_rope_own = 1,
    .load_hparams = gemma2_hparams,
};
