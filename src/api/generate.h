/* Runs the generations of one request (one per prompt; /v1/completions takes a list)
 * and writes the answer: a single JSON body, or server-sent events exactly like
 * OpenAI's stream. The HTTP thread waits here while the model's engine produces
 * tokens; a client that goes away (noticed within ~50 ms) cancels them all. */
#ifndef OMNI_API_GENERATE_H
#define OMNI_API_GENERATE_H
#include <stdint.h>

#include "api/request_options.h"
#include "api/routes.h"

/* API_MESSAGES: Anthropic's Messages API (one prompt; thoughts as thinking blocks, its
 * stop_reason and usage, its SSE events) on the same engine path as API_CHAT. */
enum api_kind { API_CHAT, API_COMPLETION, API_MESSAGES };

/* prompt: borrowed. Returns the HTTP status written. */
int api_generate(struct api_server *s, struct mg_connection *c, enum api_kind kind, const struct api_options *o,
                 const omni_prompt *prompt, const char *prompt_param);
/* n prompts, each its own sequence in the engine (they run side by side when slots
 * are free, the rest as slots free up); choice i answers prompts[i], usage is summed. */
int api_generate_many(struct api_server *s, struct mg_connection *c, enum api_kind kind, const struct api_options *o,
                      const omni_prompt *prompts, int n, const char *prompt_param);

/* The shared step of the chat-style routes: msgs (their images in ci) rendered with the
 * model's template into *pr, leaving room for the reply (o->max_tokens) and dropping the
 * oldest turns when o->truncation allows (o->truncated_messages says how many). Returns 0,
 * or the status of the 400 it wrote (too long; a template that refuses the messages).
 * In routes_chat.c. */
struct api_chat_images;
int api_chat_render(struct api_server *s, struct mg_connection *c, const omni_chat_message *msgs, int n_msgs,
                    const struct api_chat_images *ci, struct api_options *o, omni_prompt *pr);

#endif
