/* A frozen llama / qwen2 / qwen3 model with trainable LoRA pairs on its seven projections
 * per layer: the forward over one sequence that keeps what the backward needs, and the
 * backward into the LoRA parameters (the base weights get no gradient, so their products
 * run on the file's type: matmul() forward, rows dequantised on the fly backward).
 *
 * The parameters live in one flat float array (tmodel_params) so the optimizer and the
 * checkpoint see a single vector: for layer l, target t (models/lora.h order) A [r, n_in]
 * then B [n_out, r], row-major. */
#ifndef OMNI_TRAINING_TRAIN_MODEL_H
#define OMNI_TRAINING_TRAIN_MODEL_H
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "models/llm.h"

struct tmodel;

/* Refuses what the trainer does not implement (other families, MoE, sliding windows,
 * YaRN, softcaps). m must outlive the result. */
struct tmodel *tmodel_new(struct llm *m, int rank, float alpha, int ctx, struct err *e);
void tmodel_free(struct tmodel *t);
size_t tmodel_n_params(const struct tmodel *t);
float *tmodel_params(struct tmodel *t);
float *tmodel_grads(struct tmodel *t);       /* the backward adds into these */
/* A ~ U(-1/sqrt(n_in), 1/sqrt(n_in)) from seed, B = 0: the adapter starts as the base. */
void tmodel_init(struct tmodel *t, uint64_t seed);

/* One sequence: inputs ids[0..T), targets ids[1..T] (T + 1 ids, T <= ctx), target weights
 * w[T]. Returns sum_t w[t] * -log p(ids[t+1] | ids[0..t]); backward adds its gradient
 * into tmodel_grads. use_lora 0 runs the frozen base (DPO's reference). -1 on an error
 * (a token out of range). *n_tok, if given, receives the positions computed. */
double tmodel_run(struct tmodel *t, const int32_t *ids, int T, const float *w, int use_lora, int backward,
                  struct err *e);

/* The adapter as llama.cpp's LoRA GGUF (F32 tensors blk.N.TARGET.weight.lora_a [n_in, r]
 * and .lora_b [r, n_out], adapter.lora.alpha). */
int tmodel_write_adapter(const struct tmodel *t, const char *path, struct err *e);

#endif
