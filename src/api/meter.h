/* Limits and usage for the generating APIs other than chat completions and Responses
 * (those go through api/chat_store.c): /v1/completions, /v1/messages, /v1/embeddings,
 * /v1/audio/transcriptions|translations|speech and ollama's /api/chat|generate|embed.
 *
 * One meter per request, on the worker thread (like api_who): the dispatcher begins it
 * (an API key's requests and tokens per minute), the route's model lookup names the model
 * (api_meter_model: the key's model list and, for an app session on a text-generating
 * route, the tier's message rule for that model), the generation adds its tokens (from
 * the engine's callback, under the generation's lock), and the usage row (user, key,
 * model, day) is written once, before the reply's last bytes (api_reply, sse_end,
 * ollama's stream end) or, failing that, when the route returns. The x-ratelimit-*
 * headers ride on every reply of the request. A 429 is written in the route's own error
 * shape (OpenAI, Anthropic, ollama) with Retry-After, "resets_at" (Unix ms) and, when the
 * tier's rule names one this server has with room left, "fallback_model". */
#ifndef OMNI_API_METER_H
#define OMNI_API_METER_H
#include <stdint.h>

#include "api/routes.h"
#include "api/who.h"

enum api_meter_kind { API_METER_TEXT, API_METER_EMBED, API_METER_AUDIO };

struct api_meter {
    int active;
    struct api_server *s;
    struct api_who *w;
    enum api_meter_kind kind;
    int ollama;                   /* errors in ollama's shape */
    char model[256];
    char headers[512];
    int64_t prompt_tokens, cached_tokens, completion_tokens;
    double audio_seconds;
    int flushed;
};

/* The dispatcher: begins m for path (0 when the path is not metered, or nothing applies)
 * and makes it the thread's current meter; then the key's per-minute limits. 0, or the
 * status of the refusal written. */
int api_meter_begin(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *path, int ollama,
                    struct api_meter *m);
/* 1 when path is one of the metered routes. */
int api_meter_is_metered(const char *path);
/* The request's meter storage (begin_request owns it; NULL outside a request). */
struct api_meter *api_meter_slot(void);
void api_meter_slot_set(struct api_meter *m);
/* After the route: writes the usage if nothing did, and clears the thread's meter. */
void api_meter_end(struct api_meter *m);
struct api_meter *api_meter_current(void);
/* Makes m the current meter of this thread (a helper thread working for the request, which
 * waits for it: api/big_stack.c); NULL clears. */
void api_meter_use(struct api_meter *m);

/* The route's model is known (model_ref.c and the routes that resolve their own): checks
 * it. 0, or the status of the refusal written (403 model not allowed for the key, 429). */
int api_meter_model(struct api_server *s, struct mg_connection *c, const char *model_id);
/* The model the current request resolved (chat_store reads it), or NULL. */
const char *api_meter_resolved_model(void);
void api_meter_set_resolved(const char *model_id);

void api_meter_tokens(struct api_meter *m, int64_t prompt, int64_t cached, int64_t completion);
void api_meter_audio(double seconds);
/* Names the usage row's model without checking it (the audio routes). */
void api_meter_name(const char *model_id);
/* Writes the usage row now (once); ok = 0: the request failed, only the limits count. */
void api_meter_flush(int ok);
/* The x-ratelimit-* lines for the current request's replies ("" when none). */
const char *api_meter_headers(void);

/* The model a message rule offers instead of model (its "fallback") when this server has
 * it and the user's tier leaves room on it, or NULL. */
const char *api_limit_fallback(struct api_server *s, const struct store_user *u, const char *model);
/* A tier refusal as a 429 in the current route's shape (OpenAI's or Anthropic's, or
 * ollama's when ollama), with headers (x-ratelimit-*, Retry-After), resets_at and, for a
 * message rule with a fallback this server has room on, fallback_model. */
int api_reply_limit(struct api_server *s, struct mg_connection *c, const struct api_who *w, const char *model,
                    const struct auth_limit *l, const struct auth_refusal *r, const char *headers, int ollama);

#endif
