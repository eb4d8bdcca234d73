/* The request fields shared by /v1/chat/completions and /v1/completions (sampling,
 * limits, stop, logprobs, stream), read from the JSON body and validated the way
 * OpenAI does: a wrong type or range gives a 400 naming the field (param). */
#ifndef OMNI_API_REQUEST_OPTIONS_H
#define OMNI_API_REQUEST_OPTIONS_H
#include <stdint.h>

#include <cJSON.h>

#include "omni.h"

#define API_MAX_STOP 4
#define API_MAX_BIAS 300

struct api_options {
    int max_tokens;                 /* 0: no limit but the context */
    omni_sampling_params sampling;  /* its bias arrays point into bias_token/bias_value */
    char *stop[API_MAX_STOP];       /* malloc'ed copies */
    int n_stop;
    int32_t bias_token[API_MAX_BIAS];
    float bias_value[API_MAX_BIAS];
    int logprobs;                   /* chat: bool; completions: number of alternatives */
    int top_logprobs;
    int stream;
    int include_usage;              /* stream_options.include_usage */
    int json_mode;                  /* response_format json_object (or json_schema without a schema) */
    int truncation;                 /* 'truncation': 1 "auto" (default): leave out the oldest turns
                                     * when the conversation outgrows the context; 0 "disabled": 400 */
    int truncated_messages;         /* set by the route: messages left out (usage, X-Omni-Truncated) */
    char *schema;                   /* response_format json_schema's schema as JSON text (checked);
                                     * owned, freed by api_options_free */
    int reasoning;                  /* chat: OMNI_REASONING_AUTO unless 'reasoning_format' is "none" */
    char *template_kwargs;          /* chat: 'chat_template_kwargs' (+ reasoning_effort) as JSON
                                     * text for the template, or NULL; owned */
    omni_model *model;              /* set by the route: the model the request named (api/model_ref.h),
                                     * NULL: the server's pinned one; borrowed */
    const char *model_id;           /* its id, for the reply's 'model'; borrowed */
    const char *adapter;            /* set by the route: the model's named adapter for this request
                                     * (a fine-tuned model, api/model_ref.h), or NULL; borrowed */
    struct api_capture *capture;    /* set by the route (never parsed): keep the whole answer, see below */
    struct api_resp_hook *resp;     /* set by the Responses route (never parsed): its stored state
                                     * (api/generate.h), or NULL */
    /* chat with tools (set by the route, borrowed): the reply is parsed for calls in the
     * model's syntax; tool_prefix is text forced at the reply's start (part of the prompt,
     * so the parser reads it first), or NULL */
    const struct tool_request *tools;
    const char *tool_prefix;
    const omni_lazy_json *lazy_json;  /* calls the model makes itself, constrained (borrowed) */
    int n_lazy_json;
};

/* What a route that stores the conversation (api/conversation_store.h) wants back from a
 * single-choice generation: the whole answer text, its usage, and header lines to add to
 * the reply (e.g. X-Omni-Conversation, x-ratelimit-*). */
struct api_capture {
    const char *headers;            /* "Name: value\r\n" lines, or NULL */
    char *text;                     /* the answer (malloc'ed; the caller frees) */
    size_t len, cap;
    char *reasoning;                /* the thoughts streamed before it (reasoning_content), or NULL;
                                     * malloc'ed, the caller frees */
    size_t rlen, rcap;
    int finished;                   /* 1: it ended by stop or length (not cancelled, not failed) */
    int prompt_tokens, cached_tokens, completion_tokens;
    /* Called once the generation has ended, before the reply's last bytes go out (so a
     * client that has read the whole answer finds it stored), when it ran at all. */
    void (*on_done)(struct api_capture *cap);
    void *user;
    cJSON *sse_extra;               /* set by on_done (owned by the route): one more event a stream
                                     * sends before its end, e.g. omni's "memory updated" */
};

/* The result of a failed validation: what to put into the 400 body. */
struct api_bad_field {
    char param[64];
    char msg[400];
};

/* chat = 1 for /v1/chat/completions (logprobs is a bool + top_logprobs), 0 for
 * /v1/completions (logprobs is an integer 0..5). n_vocab bounds logit_bias ids.
 * Returns 0, or -1 with *bad filled. Call api_options_free afterwards either way. */
int api_options_parse(const cJSON *body, int chat, int n_vocab, struct api_options *o, struct api_bad_field *bad);
void api_options_free(struct api_options *o);

#endif
