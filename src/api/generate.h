/* Runs the generations of one request (one per prompt; /v1/completions takes a list)
 * and writes the answer: a single JSON body, or server-sent events exactly like
 * OpenAI's stream. The HTTP thread waits here while the model's engine produces
 * tokens; a client that goes away (noticed within ~50 ms) cancels them all. */
#ifndef OMNI_API_GENERATE_H
#define OMNI_API_GENERATE_H
#include <stdint.h>

#include "api/request_options.h"
#include "api/routes.h"

/* API_RESPONSES: a chat generation answered as the Responses API (POST /v1/responses):
 * a response object with output items, or its typed events. */
enum api_kind { API_CHAT, API_COMPLETION, API_RESPONSES };

/* The chat route's work on a parsed body (routes_chat.c): messages, tools and options
 * read, the prompt rendered, generated, answered as `kind` (API_CHAT or API_RESPONSES).
 * body is borrowed. Returns the HTTP status written. */
int api_chat_body(struct api_server *s, struct mg_connection *c, const cJSON *body, enum api_kind kind);

/* prompt: borrowed. Returns the HTTP status written. */
int api_generate(struct api_server *s, struct mg_connection *c, enum api_kind kind, const struct api_options *o,
                 const omni_prompt *prompt, const char *prompt_param);
/* n prompts, each its own sequence in the engine (they run side by side when slots
 * are free, the rest as slots free up); choice i answers prompts[i], usage is summed. */
int api_generate_many(struct api_server *s, struct mg_connection *c, enum api_kind kind, const struct api_options *o,
                      const omni_prompt *prompts, int n, const char *prompt_param);

#endif
