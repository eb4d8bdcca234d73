/* What the route handlers share: the server's state and one function per route.
 * Each handler writes a complete response and returns its HTTP status. */
#ifndef OMNI_API_ROUTES_H
#define OMNI_API_ROUTES_H
#include <stdatomic.h>
#include <stddef.h>
#include <time.h>

#include <civetweb.h>

#include "api/auth.h"
#include "api/metrics.h"
#include "api/moderation.h"
#include "api/server.h"

enum api_state { API_LOADING = 0, API_READY = 1, API_DRAINING = 2 };

struct api_server {
    struct mg_context *ctx;
    struct api_params p;
    char *model_id;
    struct api_keys keys;
    struct api_metrics metrics;
    atomic_int state;
    omni_model *model;          /* valid once state != API_LOADING */
    time_t created;
    int port;
    struct api_asr *asr;        /* Whisper for the audio routes; NULL without --asr-model */
    omni_embedder *embedder;    /* for /v1/embeddings and /v1/rerank, or NULL (api_server_set_embedder) */
    char *embed_id;             /* its id in /v1/models */
    omni_embedder *reranker;    /* --rerank-model: knowledge search's reranker, or NULL (api_server_set_reranker) */
    struct api_moderation *moderation;  /* --moderation / --guard-model, or NULL */
    /* Every model by name (api_server_set_registry): the pinned ones above and, with
     * serve_store, the store's, loaded on demand (api/model_ref.h). */
    omni_registry *reg;
    int load_timeout_ms;        /* how long a request waits for its model to load before a 503 */
    int serve_store;
    struct api_indexer *indexer;  /* files: indexes vector store files (api/files_index.h), or NULL */
    struct api_ftw *ftw;        /* runs fine-tuning jobs (api/ft_worker.h), or NULL */
};

int route_health(struct api_server *s, struct mg_connection *c);
int route_metrics(struct api_server *s, struct mg_connection *c);
int route_models(struct api_server *s, struct mg_connection *c);
int route_model(struct api_server *s, struct mg_connection *c, const char *id);
/* The registry's admin view (routes_models.c): GET /v1/ps lists the loaded models with
 * their memory and expiry; POST /v1/models/{id}/load and /unload. */
int route_ps(struct api_server *s, struct mg_connection *c);
int route_model_load(struct api_server *s, struct mg_connection *c, const char *id, const char *body, size_t len,
                     int unload);
int route_chat(struct api_server *s, struct mg_connection *c, const char *body, size_t len);
int route_completions(struct api_server *s, struct mg_connection *c, const char *body, size_t len);
/* POST /v1/responses, stateless (routes_responses.c) */
int route_responses(struct api_server *s, struct mg_connection *c, const char *body, size_t len);
/* POST /v1/responses/input_tokens: the same body's prompt length, nothing generated or stored. */
int route_responses_input_tokens(struct api_server *s, struct mg_connection *c, const char *body, size_t len);
/* Stored responses: GET/DELETE /v1/responses/{id}, GET .../input_items, POST .../cancel
 * (routes_responses.c), and the Conversations API under /v1/conversations
 * (routes_v1_conversations.c); body: the request's (may be empty). */
int route_responses_stored(struct api_server *s, struct mg_connection *c, const char *method, const char *path);
int route_v1_conversations(struct api_server *s, struct mg_connection *c, const char *method, const char *path,
                           const char *body, size_t len);
/* Audio (routes_audio_speech.c, routes_audio_transcriptions.c). The transcription
 * routes read their own multipart body (bounded by max_body). */
int route_speech(struct api_server *s, struct mg_connection *c, const char *body, size_t len);
int route_voices(struct api_server *s, struct mg_connection *c);
int route_transcriptions(struct api_server *s, struct mg_connection *c, int translate);
/* Embeddings and reranking (routes_embeddings.c) on s->embedder. */
int route_embeddings(struct api_server *s, struct mg_connection *c, const char *body, size_t len);
int route_rerank(struct api_server *s, struct mg_connection *c, const char *body, size_t len);
/* Anthropic's Messages API (routes_messages.c). */
int route_messages(struct api_server *s, struct mg_connection *c, const char *body, size_t len);
int route_messages_count_tokens(struct api_server *s, struct mg_connection *c, const char *body, size_t len);
/* POST /v1/moderations (routes_moderations.c) on s->moderation. */
int route_moderations(struct api_server *s, struct mg_connection *c, const char *body, size_t len);
/* /api/...: accounts, conversations, keys, usage (routes_auth.c, routes_conversations.c). */
int route_api(struct api_server *s, struct mg_connection *c, const char *method, const char *path, const char *body,
              size_t len);
/* OpenAI's Files and Vector Stores APIs (routes_files.c, routes_vector_stores.c): the
 * files route reads its own multipart body; the vector stores route gets the body read. */
int route_files(struct api_server *s, struct mg_connection *c, const char *method, const char *path);
int route_vector_stores(struct api_server *s, struct mg_connection *c, const char *method, const char *path,
                        const char *body, size_t len);
/* OpenAI's fine-tuning API under /v1/fine_tuning/jobs (routes_fine_tuning.c). */
int route_fine_tuning(struct api_server *s, struct mg_connection *c, const char *method, const char *path,
                      const char *body, size_t len);
/* GET of anything else: a file of the embedded web app, or 0 when there is none. */
int route_static(struct api_server *s, struct mg_connection *c, const char *path);

/* ollama's API: its /api/... paths (api_is_ollama_path) and HEAD / (routes_ollama.c), errors in its shape. */
int route_ollama(struct api_server *s, struct mg_connection *c, const char *method, const char *path);
/* 1 for the paths ollama's API owns under /api/ (the rest of /api/ is the accounts API). */
int api_is_ollama_path(const char *path);
/* Reads the whole request body (at most max_body bytes): malloc'ed and NUL-terminated, or
 * NULL with *status 413 (too large) or 400 (the connection broke off). */
char *api_read_body(struct api_server *s, struct mg_connection *c, size_t *len, int *status);

/* 1 when the requested model name is ours (absent counts as ours). */
int api_model_matches(const struct api_server *s, const char *name);

#endif
