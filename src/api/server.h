/* The HTTP server: OpenAI-compatible routes, /health, /metrics and the embedded
 * web page, on civetweb. It listens before the model is loaded (requests get 503
 * until api_server_set_engine) so a client can watch /health during start-up. */
#ifndef OMNI_API_SERVER_H
#define OMNI_API_SERVER_H
#include <stddef.h>

#include "api/auth.h"
#include "core/error.h"
#include "omni.h"

struct auth_config;
struct builtin_config;

struct api_params {
    const char *host;           /* "127.0.0.1" */
    int port;                   /* 0: any free port (see api_server_port) */
    int n_threads;              /* HTTP worker threads (each holds one connection) */
    size_t max_body;            /* larger request bodies get 413 */
    size_t max_file;            /* POST /v1/files: larger uploads get 413; 0: 32 MiB */
    const char *model_id;       /* the id /v1/models reports and requests may name */
    const char *model_path;     /* its file (ollama's /api/show reads its metadata), or NULL */
    const char *embed_path;     /* the embedding model's file, or NULL */
    const char *asr_model;      /* Whisper model (whisper.cpp ggml) for the audio routes, or NULL */
    const char *vad_model;      /* Silero VAD used with it, or NULL */
    int asr_threads;            /* Whisper compute threads; 0: all cores */
    const char *tls_cert;       /* PEM certificate (chain): serve HTTPS/WSS instead of HTTP, or NULL */
    const char *tls_key;        /* PEM private key for tls_cert (may be the same file) */
    const char *moderation;     /* moderation policy JSON (src/moderation/rules.h), or NULL */
    const char *guard_model;    /* a guard model GGUF for /v1/moderations, or NULL */
    struct builtin_config *mcp; /* `--mcp NAME=COMMAND` servers for the mcp tool (tools/builtin.h), or NULL; borrowed */
    const char *ft_dir;         /* the fine-tuning API's folder (jobs' data, checkpoints, adapters), or
                                 * NULL: no /v1/fine_tuning (needs auth's database too) */
    struct auth_config *auth;   /* accounts, conversations, keys and limits (auth/accounts.h), or NULL:
                                 * no /api routes and /v1 as before (static keys only); borrowed */
};
struct api_params api_default_params(void);

struct api_server;

/* Starts listening. keys is moved into the server (emptied in the caller). */
struct api_server *api_server_start(const struct api_params *p, struct api_keys *keys, struct err *e);
int api_server_port(const struct api_server *s);
/* Makes the routes live. The model (whose engine is started) stays owned by the caller
 * and must outlive the server. */
void api_server_set_engine(struct api_server *s, omni_model *model);
/* Serves /v1/embeddings and /v1/rerank with emb (owned by the caller, outliving the
 * server) under the id `id`, listed by /v1/models. Call before api_server_set_engine.
 * A server with an embedder and no chat model (api_server_set_engine(s, NULL)) answers
 * the chat routes with a 400 that says so. */
void api_server_set_embedder(struct api_server *s, omni_embedder *emb, const char *id);
/* The reranker of knowledge search (a cross-encoder, owned by the caller, outliving the
 * server), also served by /v1/rerank under id through the registry. Before set_engine. */
void api_server_set_reranker(struct api_server *s, omni_embedder *emb, const char *id);
/* Routes every request's `model` through reg (owned by the caller, outliving the
 * server; the models given to api_server_set_engine / _set_embedder / --asr-model pinned
 * in it): requests wait up to load_timeout_ms for a model to load, then get 503.
 * serve_store: the chat routes work without a pinned chat model. Call before
 * api_server_set_engine. */
void api_server_set_registry(struct api_server *s, omni_registry *reg, int load_timeout_ms, int serve_store);
/* Stops taking new generations (they get 503); in-flight ones continue. */
void api_server_drain(struct api_server *s);
/* Closes the listener, waits for the handlers to return, frees. The model's engine must
 * still be running (omni_model_cancel_all ends its requests) so handlers can finish. */
void api_server_stop(struct api_server *s);

#endif
