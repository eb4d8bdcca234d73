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
 * stop_reason and usage, its SSE events) on the same engine path as API_CHAT.
 * API_RESPONSES: a chat generation answered as the Responses API (POST /v1/responses):
 * a response object with output items, or its typed events. */
enum api_kind { API_CHAT, API_COMPLETION, API_RESPONSES, API_MESSAGES };

/* The chat route's work on a parsed body (routes_chat.c): messages, tools and options
 * read, the prompt rendered, generated, answered as `kind` (API_CHAT or API_RESPONSES).
 * body is borrowed. Returns the HTTP status written. */
int api_chat_body(struct api_server *s, struct mg_connection *c, const cJSON *body, enum api_kind kind);
/* One step of a tool loop the server runs (api/agent.c): the body prepared as by
 * api_chat_body, then the generation handed to run instead of a reply written; errors
 * before it go to fail when set (the loop's reply may have begun). */
struct api_chat_step {
    int (*run)(void *user, struct api_server *s, struct mg_connection *c, const struct api_options *o,
               const omni_prompt *pr);
    int (*fail)(void *user, int status, const char *param, const char *code, const char *msg);
    void *user;
    struct api_resp_hook *resp;   /* the Responses route's hook (its cancel, background), or NULL */
    /* a stored chat: is this reply the loop's answer (no built-in call)? The runs so far
     * are stored with it (api/chat_store.h) */
    int (*answer_final)(void *user, const char *reply);
    const cJSON *tool_runs;
    char *user_msg;               /* STORE_ID_MAX bytes kept across the steps (api/chat_store.h) */
};
int api_chat_body_step(struct api_server *s, struct mg_connection *c, const cJSON *body, enum api_kind kind,
                       const struct api_chat_step *step);
/* A body whose tools include built-ins (tools/builtin.h): the loop of generations and
 * tool runs, answered as `kind` (api/agent.c). h: the Responses route's hook (below; the
 * response stored, background runs), or NULL. */
struct api_resp_hook;
int api_agent_body(struct api_server *s, struct mg_connection *c, const cJSON *body, enum api_kind kind,
                   struct api_resp_hook *h);

/* A stored response's side of one API_RESPONSES generation (routes_responses.c fills it):
 * the id to answer with, fields to set on every response object written (stream events
 * included), and callbacks with the object as it is finished. background: the run goes on
 * when the client has gone, on_start stores it "queued" first, on_final sees its end
 * (completed, incomplete, failed or cancelled); not streamed, the reply is the queued
 * object at once; streamed, the events as usual (a cancelled one ends with
 * response.cancelled). `cancel`, set from any thread, stops it within ~50 ms. */
struct api_resp_hook {
    char id[64];
    const cJSON *extra;          /* borrowed; NULL: none */
    int background;
    int count_only;              /* POST /v1/responses/input_tokens: answer the prompt's length, no run */
    atomic_int cancel;
    void (*on_start)(struct api_resp_hook *h, const cJSON *response);
    /* the final object, before the client can read it (not called when a stream's client
     * left before its end, nor for a failed non-background run: the client got a 500) */
    void (*on_final)(struct api_resp_hook *h, const cJSON *response);
    void *user;
};
/* api_chat_body with the Responses route's hook (borrowed; it lives until this returns). */
int api_chat_body_resp(struct api_server *s, struct mg_connection *c, const cJSON *body, struct api_resp_hook *h);

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
/* For APIs with their own wire format (ollama's NDJSON): the same engine path (model,
 * prompt cache, scheduler, cancel on hang-up), with the caller writing the bytes. */
struct api_gen_out {
    /* o->stream: called on the HTTP thread with new answer text and/or thoughts (NULL when
     * none). Returns 0, or -1 when the client is gone (the generation is then cancelled). */
    int (*piece)(void *user, const char *text, const char *thinking);
    void *user;
    int want_tokens;            /* collect the generated token ids (ollama's 'context') */
};
struct api_gen_result {
    omni_usage usage;
    char *text, *thinking;      /* not streaming: the whole reply (NULL: none) */
    int32_t *tokens;            /* with want_tokens: the generated token ids */
    int n_tokens;
    int failed;                 /* the engine failed: error says why */
    int filtered;               /* output moderation stopped it at a flagged sentence */
    char error[256];
};
/* Why a generation was refused before it ran: an HTTP status, a short code and a message. */
struct api_gen_refusal {
    int status;
    const char *code;
    char msg[400];
};
/* One prompt (borrowed) with o's fields; chat: thoughts are split off (o->reasoning).
 * Returns 0 when it ran (*r filled; free with api_gen_result_free), or -1 when it was
 * refused (*ref filled; nothing was written to c). */
int api_generate_custom(struct api_server *s, struct mg_connection *c, const struct api_options *o, int chat,
                        const omni_prompt *prompt, const struct api_gen_out *out, struct api_gen_result *r,
                        struct api_gen_refusal *ref);
void api_gen_result_free(struct api_gen_result *r);

/* The Responses API's output items as generate.c writes them (for api/agent.c). */
void api_resp_item_id(char *out, size_t cap, const char *prefix);
cJSON *api_resp_message_item(const char *id, const char *text, const char *status);
cJSON *api_resp_call_item(const char *id, const char *call_id, const char *name, const char *args, const char *status);
cJSON *api_resp_reasoning_item(const char *id, const char *text);

#endif
