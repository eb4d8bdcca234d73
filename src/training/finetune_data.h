/* The fine-tune's data encoding (finetune.c), open for tests: one JSONL line (SFT
 * messages or prompt/completion, or a DPO pair whose preferred side is returned) as the
 * trainer sees it, rendered through tmpl (NULL: ChatML) and tokenized. */
#ifndef OMNI_TRAINING_FINETUNE_DATA_H
#define OMNI_TRAINING_FINETUNE_DATA_H
#include <stdint.h>

#include "core/error.h"
#include "text/tokenizer.h"

/* ids[0..T] (malloc'ed) and the target weights w[0..T) (malloc'ed): w[t] = 1 when ids[t + 1]
 * is a trained token. */
int finetune_encode_line(const struct tokenizer *tok, const char *tmpl, int ctx, const char *line, int dpo,
                         int32_t **ids, float **w, int *T, struct err *e);

#endif
