/* A request's model: its `model` field resolved through the server's registry (aliases,
 * the store, loading on first use) and held until the reply is written, so it cannot be
 * unloaded under the request. Errors go out in OpenAI's shape: 404 model_not_found, 400
 * for a model of another kind, 503 + Retry-After while it is still loading. */
#ifndef OMNI_API_MODEL_REF_H
#define OMNI_API_MODEL_REF_H
#include <stdint.h>

#include <cJSON.h>
#include <civetweb.h>

#include "omni.h"

struct api_server;

struct api_model_ref {
    omni_registry_ref ref;
    int64_t keep_alive_ms;         /* from the request's keep_alive, else OMNI_KEEP_ALIVE_DEFAULT */
    /* A fine-tuned model (api/ft_models.h): "ft:…" ids of the user's fine-tuning jobs and
     * checkpoints, and "BASE+ADAPTER" names: ref is the base, adapter the name of the
     * adapter loaded beside it (omni_model_add_adapter) for omni_generate_params.adapter,
     * and ref.id points at name, the id the request used. "" when none. */
    char adapter[256];
    char name[256];
};

/* name: the request's model (NULL: the server's default). kinds: OMNI_KIND_* mask. body
 * (optional): its keep_alive is read (seconds, or a duration like "5m"; ollama's). Returns
 * 0 with *m held (api_model_put), or the HTTP status of the error reply it wrote. */
int api_model_get(struct api_server *s, struct mg_connection *c, const char *name, int kinds, const cJSON *body,
                  struct api_model_ref *m);
void api_model_put(struct api_server *s, struct api_model_ref *m);
/* The reply for a failed omni_registry_acquire (rc, its err); returns the HTTP status. */
int api_model_reply_error(struct mg_connection *c, int rc, const char *err);

/* keep_alive as ollama takes it: a number of seconds, or a string "300", "5m", "1h30m",
 * "10s", "0" (unload at once), negative (never). 0, or -1 with msg set. */
int api_parse_keep_alive(const cJSON *v, int64_t *ms, char *msg, size_t cap);
/* The same for a command-line value ("5m", "-1", "0", "90"). */
int api_parse_duration(const char *s, int64_t *ms);

#endif
