/* Runs the generations of one request (one per prompt; /v1/completions takes a list)
 * and writes the answer: a single JSON body, or server-sent events exactly like
 * OpenAI's stream. The HTTP thread waits here while the scheduler thread produces
 * tokens; a client that goes away (noticed within ~50 ms) cancels them all. */
#ifndef OMNI_API_GENERATE_H
#define OMNI_API_GENERATE_H
#include <stdint.h>

#include "api/request_options.h"
#include "api/routes.h"

enum api_kind { API_CHAT, API_COMPLETION };

/* prompt: token ids (borrowed). Returns the HTTP status written. */
int api_generate(struct api_server *s, struct mg_connection *c, enum api_kind kind, const struct api_options *o,
                 const int32_t *prompt, int n_prompt, const char *prompt_param);
/* One prompt of a request: token ids and images at prompt positions (both borrowed). */
struct api_prompt {
    const int32_t *toks;
    int n;
    const struct sched_image *images;
    int n_images;
};
/* n prompts, each its own sequence in the scheduler (they run side by side when slots
 * are free, the rest as slots free up); choice i answers prompts[i], usage is summed. */
int api_generate_many(struct api_server *s, struct mg_connection *c, enum api_kind kind, const struct api_options *o,
                      const struct api_prompt *prompts, int n, const char *prompt_param);
/* The same with images at the given prompt positions (borrowed; see sched_image). */
int api_generate_images(struct api_server *s, struct mg_connection *c, enum api_kind kind, const struct api_options *o,
                        const int32_t *prompt, int n_prompt, const struct sched_image *images, int n_images,
                        const char *prompt_param);

#endif
