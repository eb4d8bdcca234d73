/* The mistral3 family (Ministral 3 3B/8B/14B; GGUF architecture "mistral3"): llama's
 * block and adjacent-pair rope, with YaRN whose correction range and magnitude the file
 * gives (rope.scaling.yarn_beta_fast / _slow, yarn_log_multiplier = mscale_all_dim), and
 * Llama 4's attention temperature: after rope, q at position p is multiplied by
 * ln(floor(p / n_orig) + 1) * attention.temperature_scale + 1, n_orig being
 * rope.scaling.original_context_length. The MoE variant (Mistral Large 3 layout) is
 * refused: no such file is small enough to check. */
#include "models/arch.h"

static int mistral3_hparams(struct llm_hparams *hp, const struct gguf *g, struct err *e) {
    const char *a = hp->arch;
    int n_expert;
    if (llm_hp_float(g, a, "attention.temperature_scale", 0.0, &hp->attn_temp_scale, e) ||
        llm_hp_float(g, a, "rope.scaling.yarn_beta_fast", 32.0, &hp->yarn_beta_fast, e) ||
        llm_hp_float(g, a, "rope.scaling.yarn_beta_slow", 1.0, &hp->yarn_beta_slow, e) ||
        llm_hp_float(g, a, "rope.scaling.yarn_log_multiplier", 0.0, &hp->yarn_log_mul, e) ||
        llm_hp_int(g, a, "expert_count", 0, 0, 0, &n_expert, e))
        return -1;
    if (n_expert > 0)
        return err_set(e, "%s: mistral3 with experts (%d) is not supported yet; its dense models are", gguf_path(g),
                       n_expert);
    hp->attn_temp_floor = hp->n_ctx_orig;
    return 0;
}

const struct llm_arch llm_arch_mistral3 = {
    .name = "mistral3",
    .rope_neox = 0,
    .load_hparams = mistral3_hparams,
};
