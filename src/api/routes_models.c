/* The small read-only routes: /health, /metrics, /v1/models and /v1/models/{id}. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/reply.h"
#include "api/routes.h"

int route_health(struct api_server *s, struct mg_connection *c) {
    cJSON *j = cJSON_CreateObject();
    int st = atomic_load(&s->state), status = 200;
    if (st == API_LOADING) {
        cJSON_AddStringToObject(j, "status", "loading");
        status = 503;
    } else {
        cJSON_AddStringToObject(j, "status", st == API_DRAINING ? "shutting_down" : "ok");
        cJSON_AddStringToObject(j, "model", s->model_id);
        omni_engine_stats es = {0};
        if (s->model) omni_model_engine_stats(s->model, &es);
        if (s->embedder) cJSON_AddStringToObject(j, "embedding_model", s->embed_id);
        cJSON_AddNumberToObject(j, "slots_total", es.n_slots);
        cJSON_AddNumberToObject(j, "slots_busy", es.busy);
        cJSON_AddNumberToObject(j, "queue_length", es.queued);
        if (st == API_DRAINING) status = 503;
    }
    api_reply_json(c, status, j);
    cJSON_Delete(j);
    return status;
}

int route_metrics(struct api_server *s, struct mg_connection *c) {
    int ready = atomic_load(&s->state) != API_LOADING;
    omni_engine_stats es = {0};
    if (ready && s->model) omni_model_engine_stats(s->model, &es);
    char *text = metrics_render(&s->metrics, es.queued, es.busy, es.n_slots, !ready);
    text = metrics_render_draft(text, es.draft_tokens, es.draft_accepted);
    if (!text) return api_reply_error(c, 500, NULL, NULL, "out of memory");
    api_reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text), NULL);
    free(text);
    return 200;
}

/* Anthropic's SDK reads the same list (models.list): each entry also carries its
 * type, display_name and created_at, the list has_more/first_id/last_id. */
static void anthropic_fields(cJSON *m, const char *id, time_t created) {
    char when[32];
    struct tm tm;
    gmtime_r(&created, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON_AddStringToObject(m, "type", "model");
    cJSON_AddStringToObject(m, "display_name", id);
    cJSON_AddStringToObject(m, "created_at", when);
}

static cJSON *model_object(struct api_server *s) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", s->model_id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)s->created);
    cJSON_AddStringToObject(m, "owned_by", "omni");
    anthropic_fields(m, s->model_id, s->created);
    if (atomic_load(&s->state) != API_LOADING && s->model) {
        cJSON *meta = cJSON_AddObjectToObject(m, "meta");
        cJSON_AddStringToObject(meta, "name", omni_model_name(s->model));
        cJSON_AddStringToObject(meta, "arch", omni_model_arch(s->model));
        cJSON_AddNumberToObject(meta, "n_params", (double)omni_model_n_params(s->model));
        cJSON_AddNumberToObject(meta, "n_vocab", omni_model_n_vocab(s->model));
        cJSON_AddNumberToObject(meta, "n_ctx_train", omni_model_n_ctx_train(s->model));
        cJSON_AddNumberToObject(meta, "n_ctx", omni_request_n_ctx(s->model, NULL));
        /* The chat page shows its attach button only when images will be accepted. */
        cJSON_AddBoolToObject(meta, "vision", omni_model_n_image_pos(s->model) > 0);
        cJSON_AddNumberToObject(meta, "n_image_pos", omni_model_n_image_pos(s->model));
    }
    return m;
}

/* the embedding model's entry: what a client needs to call /v1/embeddings or /v1/rerank */
static cJSON *embed_object(struct api_server *s) {
    cJSON *m = cJSON_CreateObject();
    omni_embedder *e = s->embedder;
    cJSON_AddStringToObject(m, "id", s->embed_id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)s->created);
    cJSON_AddStringToObject(m, "owned_by", "omni");
    anthropic_fields(m, s->embed_id, s->created);
    cJSON *meta = cJSON_AddObjectToObject(m, "meta");
    cJSON_AddStringToObject(meta, "name", omni_embedder_name(e));
    cJSON_AddStringToObject(meta, "arch", omni_embedder_arch(e));
    cJSON_AddStringToObject(meta, "kind", omni_embedder_can_rerank(e) ? "rerank" : "embedding");
    cJSON_AddNumberToObject(meta, "n_embd", omni_embedder_n_embd(e));
    cJSON_AddNumberToObject(meta, "n_ctx_train", omni_embedder_n_ctx(e));
    cJSON_AddNumberToObject(meta, "n_vocab", omni_embedder_n_vocab(e));
    return m;
}

int route_models(struct api_server *s, struct mg_connection *c) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(j, "data");
    if (s->model || atomic_load(&s->state) == API_LOADING) cJSON_AddItemToArray(data, model_object(s));
    if (s->embedder) cJSON_AddItemToArray(data, embed_object(s));
    int n = cJSON_GetArraySize(data);
    cJSON_AddBoolToObject(j, "has_more", 0);
    if (n) cJSON_AddStringToObject(j, "first_id", cJSON_GetObjectItem(cJSON_GetArrayItem(data, 0), "id")->valuestring);
    else cJSON_AddNullToObject(j, "first_id");
    if (n) cJSON_AddStringToObject(j, "last_id", cJSON_GetObjectItem(cJSON_GetArrayItem(data, n - 1), "id")->valuestring);
    else cJSON_AddNullToObject(j, "last_id");
    api_reply_json(c, 200, j);
    cJSON_Delete(j);
    return 200;
}

int route_model(struct api_server *s, struct mg_connection *c, const char *id) {
    if (s->embedder && !strcmp(id, s->embed_id)) {
        cJSON *m = embed_object(s);
        api_reply_json(c, 200, m);
        cJSON_Delete(m);
        return 200;
    }
    if (!api_model_matches(s, id) || !*id)
        return api_reply_error(c, 404, "model", "model_not_found", "the model '%s' does not exist; this server has '%s'",
                               id, s->model_id);
    cJSON *m = model_object(s);
    api_reply_json(c, 200, m);
    cJSON_Delete(m);
    return 200;
}
