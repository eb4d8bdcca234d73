/* Runs the generations of one request (one per prompt; /v1/completions takes a list)
 * and writes the answer: a single JSON body, or server-sent events exactly like
 * OpenAI's stream. The HTTP thread waits here while the model's engine produces
 * tokens; a client that goes away (noticed within ~50 ms) cancels them all. */
#ifndef OMNI_API_GENERATE_H
#define OMNI_API_GENERATE_H
#include <stdint.h>

#include "api/request_options.h"
#include "api/routes.h"

enum api_kind { API_CHAT, API_COMPLETION };

/* prompt: borrowed. Returns the HTTP status written. */
int api_generate(struct api_server *s, struct mg_connection *c, enum api_kind kind, const struct api_options *o,
                 const omni_prompt *prompt, const char *prompt_param);
/* n prompts, each its own sequence in the engine (they run side by side when slots
 * are free, the rest as slots free up); choice i answers prompts[i], usage is summed. */
int api_generate_many(struct api_server *s, struct mg_connection *c, enum api_kind kind, const struct api_options *o,
                      const omni_prompt *prompts, int n, const char *prompt_param);

#endif
