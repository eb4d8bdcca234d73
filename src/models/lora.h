/* LoRA adapters as llama.cpp applies them: for each adapted weight W (q, k, v, o, gate,
 * up, down of a layer) the product W x becomes W x + s · B(A x), s = scale · alpha / rank
 * (scale alone when the file has no adapter.lora.alpha). A and B are ordinary weights
 * (F16/F32/BF16) multiplied with matmul(), so their inputs are rounded like any product.
 *
 * An adapter is loaded from a GGUF with general.type "adapter", adapter.type "lora",
 * the base model's general.architecture, and per adapted weight NAME the pair
 * NAME.lora_a [n_in, rank] and NAME.lora_b [rank, n_out] (ggml order: ne[0] first).
 * The model's weights are never touched: the engine keeps a list of (adapter, scale)
 * and hands it to its forward state (llm_state_set_lora). */
#ifndef OMNI_MODELS_LORA_H
#define OMNI_MODELS_LORA_H
#include "core/error.h"
#include "core/pool.h"
#include "models/llm.h"

enum lora_target { LORA_Q, LORA_K, LORA_V, LORA_O, LORA_GATE, LORA_UP, LORA_DOWN, LORA_N_TARGET };

struct lora;  /* one adapter file, immutable once loaded (the gguf stays open, mmap'ed) */

/* Errors: not an adapter, another architecture than m's, a tensor the model lacks or
 * whose shape does not fit (wrong base model), a weight we do not adapt, a lone A or B. */
struct lora *lora_load(const char *path, const struct llm *m, struct err *e);
void lora_free(struct lora *a);
float lora_alpha(const struct lora *a);   /* 0 when the file has none */
int lora_n_pairs(const struct lora *a);   /* adapted weights */

/* The input width of the adapter's pair for target t of layer l (its rows x), or 0 when
 * it does not adapt that weight. */
int lora_n_in(const struct lora *a, int layer, enum lora_target t);

/* One adapter as the forward uses it. */
struct lora_use {
    const struct lora *a;
    float scale;
};

/* Floats of scratch lora_add needs for n tokens. */
size_t lora_scratch_floats(const struct lora_use *u, int n_u, int n);
/* y[i * ys + j] += Σ_uses s · (B(A x_i))_j for the n rows x_i (contiguous, n_in floats
 * each) of target t in layer l; scratch holds lora_scratch_floats(u, n_u, n) floats. */
void lora_add(struct pool *p, const struct lora_use *u, int n_u, int layer, enum lora_target t, const float *x,
              int n, float *y, int ys, float *scratch);

#endif
