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
    struct api_moderation *moderation;  /* --moderation / --guard-model, or NULL */
};

int route_health(struct api_server *s, struct mg_connection *c);
int route_metrics(struct api_server *s, struct mg_connection *c);
int route_models(struct api_server *s, struct mg_connection *c);
int route_model(struct api_server *s, struct mg_connection *c, const char *id);
int route_chat(struct api_server *s, struct mg_connection *c, const char *body, size_t len);
int route_completions(struct api_server *s, struct mg_connection *c, const char *body, size_t len);
/* POST /v1/responses, stateless (routes_responses.c) */
int route_responses(struct api_server *s, struct mg_connection *c, const char *body, size_t len);
/* Audio (routes_audio_speech.c, routes_audio_transcriptions.c). The transcription
 * routes read their own multipart body (bounded by max_body). */
int route_speech(struct api_server *s, struct mg_connection *c, const char *body, size_t len);
int route_voices(struct api_server *s, struct mg_connection *c);
int route_transcriptions(struct api_server *s, struct mg_connection *c, int translate);
/* Embeddings and reranking (routes_embeddings.c) on s->embedder. */
int route_embeddings(struct api_server *s, struct mg_connection *c, const char *body, size_t len);
int route_rerank(struct api_server *s, struct mg_connection *c, const char *body, size_t len);
/* POST /v1/moderations (routes_moderations.c) on s->moderation. */
int route_moderations(struct api_server *s, struct mg_connection *c, const char *body, size_t len);
/* GET of anything else: a file of the embedded web app, or 0 when there is none. */
int route_static(struct api_server *s, struct mg_connection *c, const char *path);

/* 1 when the requested model name is ours (absent counts as ours). */
int api_model_matches(const struct api_server *s, const char *name);

#endif
