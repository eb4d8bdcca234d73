/* The small read-only routes: /health, /metrics, /v1/models and /v1/models/{id}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/ft_models.h"
#include "api/model_ref.h"
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
        if (s->model || !s->serve_store) cJSON_AddStringToObject(j, "model", s->model_id);
        if (s->reg && s->serve_store) {   /* the store's: how many are loaded now */
            omni_registry_model *l = NULL;
            char err[128];
            int n = omni_registry_list(s->reg, 1, &l, err, sizeof err);
            cJSON_AddNumberToObject(j, "models_loaded", n > 0 ? n : 0);
            omni_registry_list_free(l, n);
        }
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

/* A registry model that is neither of the pinned ones above: what a client needs to pick it. */
static cJSON *store_object(struct api_server *s, const omni_registry_model *x) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", x->id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)s->created);
    cJSON_AddStringToObject(m, "owned_by", "omni");
    cJSON_AddStringToObject(m, "kind", omni_model_kind_name(x->kind));
    cJSON *meta = cJSON_AddObjectToObject(m, "meta");
    cJSON_AddStringToObject(meta, "kind", omni_model_kind_name(x->kind));
    cJSON_AddNumberToObject(meta, "size", (double)x->file_size);
    cJSON_AddBoolToObject(meta, "loaded", x->loaded == 1);
    return m;
}

static int is_pinned_id(struct api_server *s, const char *id) {
    return ((s->model || atomic_load(&s->state) == API_LOADING) && !strcmp(id, s->model_id)) ||
           (s->embedder && !strcmp(id, s->embed_id));
}

int route_models(struct api_server *s, struct mg_connection *c) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(j, "data");
    if (s->model || (atomic_load(&s->state) == API_LOADING && !s->serve_store)) {
        cJSON *m = model_object(s);
        cJSON_AddStringToObject(m, "kind", "chat");
        cJSON_AddItemToArray(data, m);
    }
    if (s->embedder) {
        cJSON *m = embed_object(s);
        cJSON_AddStringToObject(m, "kind", omni_embedder_can_rerank(s->embedder) ? "rerank" : "embedding");
        cJSON_AddItemToArray(data, m);
    }
    omni_registry_model *list = NULL;
    char err[256];
    int n = s->reg && s->serve_store ? omni_registry_list(s->reg, 0, &list, err, sizeof err) : 0;
    for (int i = 0; i < n; i++)
        if (!is_pinned_id(s, list[i].id)) cJSON_AddItemToArray(data, store_object(s, &list[i]));
    omni_registry_list_free(list, n);
    api_ft_list_models(s, data);  /* the user's fine-tuned models */
    int n_data = cJSON_GetArraySize(data);
    cJSON_AddBoolToObject(j, "has_more", 0);
    if (n_data) cJSON_AddStringToObject(j, "first_id", cJSON_GetObjectItem(cJSON_GetArrayItem(data, 0), "id")->valuestring);
    else cJSON_AddNullToObject(j, "first_id");
    if (n_data)
        cJSON_AddStringToObject(j, "last_id", cJSON_GetObjectItem(cJSON_GetArrayItem(data, n_data - 1), "id")->valuestring);
    else cJSON_AddNullToObject(j, "last_id");
    api_reply_json(c, 200, j);
    cJSON_Delete(j);
    return 200;
}

int route_model(struct api_server *s, struct mg_connection *c, const char *id) {
    cJSON *ft = api_ft_model_object(s, id);
    if (ft) {
        api_reply_json(c, 200, ft);
        cJSON_Delete(ft);
        return 200;
    }
    if (s->embedder && !strcmp(id, s->embed_id)) {
        cJSON *m = embed_object(s);
        api_reply_json(c, 200, m);
        cJSON_Delete(m);
        return 200;
    }
    if ((s->model || atomic_load(&s->state) == API_LOADING) && *id && api_model_matches(s, id)) {
        cJSON *m = model_object(s);
        api_reply_json(c, 200, m);
        cJSON_Delete(m);
        return 200;
    }
    omni_registry_model *list = NULL;
    char err[256];
    int n = s->reg && s->serve_store ? omni_registry_list(s->reg, 0, &list, err, sizeof err) : 0, status = 0;
    for (int i = 0; i < n && !status; i++)
        if (!strcmp(list[i].id, id)) {
            cJSON *m = store_object(s, &list[i]);
            status = api_reply_json(c, 200, m);
            cJSON_Delete(m);
        }
    omni_registry_list_free(list, n);
    if (status) return status;
    return api_reply_error(c, 404, "model", "model_not_found", "the model '%s' does not exist; this server has '%s'",
                           id, s->model_id);
}

static void add_time(cJSON *o, const char *key, int64_t unix_ms) {
    if (unix_ms <= 0) { cJSON_AddNullToObject(o, key); return; }
    time_t t = (time_t)(unix_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[96];
    snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(unix_ms % 1000));
    cJSON_AddStringToObject(o, key, buf);
}

int route_ps(struct api_server *s, struct mg_connection *c) {
    omni_registry_model *list = NULL;
    char err[256] = "";
    int n = s->reg ? omni_registry_list(s->reg, 1, &list, err, sizeof err) : 0;
    if (n < 0) return api_reply_error(c, 500, NULL, NULL, "%s", err);
    uint64_t budget = 0, used = 0;
    if (s->reg) omni_registry_memory(s->reg, &budget, &used);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "object", "list");
    cJSON_AddNumberToObject(j, "memory_budget", (double)budget);
    cJSON_AddNumberToObject(j, "memory_used", (double)used);
    cJSON *data = cJSON_AddArrayToObject(j, "data");
    for (int i = 0; i < n; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "id", list[i].id);
        cJSON_AddStringToObject(m, "object", "model");
        cJSON_AddStringToObject(m, "kind", omni_model_kind_name(list[i].kind));
        cJSON_AddStringToObject(m, "state", list[i].loaded == 2 ? "loading" : "loaded");
        cJSON_AddNumberToObject(m, "memory", (double)list[i].memory);
        cJSON_AddNumberToObject(m, "active", list[i].active);
        cJSON_AddBoolToObject(m, "pinned", list[i].pinned);
        add_time(m, "loaded_at", list[i].loaded_at);
        add_time(m, "expires_at", list[i].expires_at);  /* null: not while in use, pinned or kept forever */
        cJSON_AddItemToArray(data, m);
    }
    omni_registry_list_free(list, n);
    api_reply_json(c, 200, j);
    cJSON_Delete(j);
    return 200;
}

int route_model_load(struct api_server *s, struct mg_connection *c, const char *id, const char *body, size_t len,
                     int unload) {
    cJSON *j = len ? cJSON_ParseWithLength(body, len) : NULL;
    if (len && (!j || !cJSON_IsObject(j))) {
        cJSON_Delete(j);
        return api_reply_error(c, 400, NULL, "invalid_json", "the request body must be empty or a JSON object");
    }
    char err[640] = "";
    int status, deferred = 0;
    if (unload) {
        int rc = omni_registry_unload(s->reg, id, err, sizeof err);
        status = rc == OMNI_ERR_NOT_FOUND ? api_reply_error(c, 404, "model", "model_not_found", "%s", err)
               : rc < 0 ? api_reply_error(c, 400, "model", "model_pinned", "%s", err) : 0;
        deferred = rc == 1;
    } else {
        struct api_model_ref m;
        status = api_model_get(s, c, id, OMNI_KIND_CHAT | OMNI_KIND_EMBEDDING | OMNI_KIND_RERANK | OMNI_KIND_ASR, j, &m);
        if (!status) api_model_put(s, &m);
    }
    if (!status) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", id);
        cJSON_AddStringToObject(o, "object", "model");
        /* "unloading": requests still use it; it goes when the last one ends */
        cJSON_AddStringToObject(o, "status", deferred ? "unloading" : unload ? "unloaded" : "loaded");
        status = api_reply_json(c, 200, o);
        cJSON_Delete(o);
    }
    cJSON_Delete(j);
    return status;
}
