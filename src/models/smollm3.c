/* The smollm3 family (SmolLM3-3B): llama's block with adjacent-pair rope, except that
 * every 4th layer (3, 7, 11, ...) takes no rope at all (NoPE). llama.cpp fixes the
 * step at 4 and reads no key for it; so do we. */
#include "models/arch.h"

static int smollm3_hparams(struct llm_hparams *hp, const struct gguf *g, struct err *e) {
    (void)g; (void)e;
    hp->nope_period = 4;
    return 0;
}

const struct llm_arch llm_arch_smollm3 = {
    .name = "smollm3",
    .rope_neox = 0,
    .load_hparams = smollm3_hparams,
};
