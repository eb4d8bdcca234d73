/* Prompt text -> token ids for the routes, with special-token text parsed (chat
 * templates write "<|im_start|>" as text) and a doubled BOS removed. */
#ifndef OMNI_API_TOKENIZE_H
#define OMNI_API_TOKENIZE_H
#include <stdint.h>

#include "omni.h"

/* *out is malloc'ed (caller frees, also on failure). Returns the count or -1. */
int api_tokenize(const omni_model *m, const char *text, int add_special, int32_t **out);

#endif
