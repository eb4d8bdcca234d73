/* The runtime's view of a loaded model (the struct behind omni.h's omni_model):
 * weights, tokenizer and chat template travel together. */
#ifndef OMNI_RUNTIME_MODEL_H
#define OMNI_RUNTIME_MODEL_H

#include "models/clip.h"
#include "models/llm.h"
#include "text/tokenizer.h"

struct omni_model {
    struct llm *llm;
    struct tokenizer *tok;
    char *chat_template;   /* tokenizer.chat_template, or NULL */
    char *name;
    struct clip *clip;     /* image encoder (omni_model_load_mmproj), or NULL */
};

#endif
