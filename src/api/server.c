/* Server start/stop, routing and request limits on civetweb. civetweb's worker
 * threads run these handlers; they only parse, queue and write (the model belongs
 * to the model's engine thread). */
#include "api/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "api/asr.h"
#include "api/meter.h"
#include "api/files_index.h"
#include "api/ft_worker.h"
#include "api/guardrails.h"
#include "api/realtime.h"
#include "api/reply.h"
#include "api/routes.h"
#include "api/tls_pem.h"
#include "api/who.h"
#include "core/log.h"

struct api_params api_default_params(void) {
    struct api_params p = {0};
    p.host = "127.0.0.1";
    p.port = 8080;
    p.n_threads = 64;
    p.max_body = 8u << 20;
    p.model_id = "model";
    return p;
}

int api_model_matches(const struct api_server *s, const char *name) {
    if (!name || !*name) return 1;
    if (!strcmp(name, s->model_id)) return 1;
    const char *general = s->model ? omni_model_name(s->model) : NULL;
    return general && !strcmp(name, general);
}

/* Reads the whole body, at most max bytes. Returns the malloc'ed body, or NULL with
 * *status set to 413 (too large) or 400 (connection broke off). */
char *api_read_body(struct api_server *s, struct mg_connection *c, size_t *len, int *status) {
    const struct mg_request_info *ri = mg_get_request_info(c);
    *len = 0;
    if (ri->content_length > (long long)s->p.max_body) { *status = 413; return NULL; }
    size_t cap = ri->content_length >= 0 ? (size_t)ri->content_length + 1 : 65536, n = 0;
    char *buf = malloc(cap);
    if (!buf) { *status = 413; return NULL; }
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > s->p.max_body) { free(buf); *status = 413; return NULL; }
            char *g = realloc(buf, cap * 2);
            if (!g) { free(buf); *status = 413; return NULL; }
            buf = g;
            cap *= 2;
        }
        int k = mg_read(c, buf + n, cap - 1 - n);
        if (k < 0) { free(buf); *status = 400; return NULL; }
        if (k == 0) break;
        n += (size_t)k;
        if (n > s->p.max_body) { free(buf); *status = 413; return NULL; }
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static int method_not_allowed(struct mg_connection *c, const char *allow, const char *method, const char *path) {
    char hdr[128];
    snprintf(hdr, sizeof hdr, "Allow: %s\r\n", allow);
    char msg[512];
    snprintf(msg, sizeof msg, "%s is not allowed on %s; use %s", method, path, allow);
    cJSON *j = api_error_json(405, NULL, "method_not_allowed", msg);
    char *b = cJSON_PrintUnformatted(j);
    api_reply(c, 405, "application/json", b ? b : "{}", b ? strlen(b) : 2, hdr);
    free(b);
    cJSON_Delete(j);
    return 405;
}

typedef int (*json_route_fn)(struct api_server *s, struct mg_connection *c, const char *body, size_t len);

static int handle_post(struct api_server *s, struct mg_connection *c, json_route_fn route) {
    size_t len;
    int status = 0;
    char *body = api_read_body(s, c, &len, &status);
    if (!body) {
        if (status == 413) {
            api_reply_then_close(c);
            api_reply_error(c, 413, NULL, "request_too_large",
                            "the request body is larger than this server's limit of %zu bytes", s->p.max_body);
            api_drain_body(c);
            return 413;
        }
        return api_reply_error(c, 400, NULL, NULL, "the request body could not be read");
    }
    int st = atomic_load(&s->state);
    if (st == API_LOADING) status = api_reply_error(c, 503, NULL, "model_loading", "the model is still loading; retry shortly");
    else if (st == API_DRAINING) status = api_reply_error(c, 503, NULL, "shutting_down", "the server is shutting down");
    else status = route(s, c, body, len);
    free(body);
    return status;
}

/* POST /v1/models/{id}/load and /unload: the id is path[0, n). */
static int handle_admin(struct api_server *s, struct mg_connection *c, const char *path, size_t n, int unload) {
    size_t len;
    int status = 0;
    char *body = api_read_body(s, c, &len, &status);
    if (!body) return api_reply_error(c, status, NULL, status == 413 ? "request_too_large" : NULL,
                                      "the request body could not be read");
    char *id = strndup(path, n);
    if (!id) status = api_reply_error(c, 500, NULL, NULL, "out of memory");
    else if (atomic_load(&s->state) == API_DRAINING)
        status = api_reply_error(c, 503, NULL, "shutting_down", "the server is shutting down");
    else status = route_model_load(s, c, id, body, len, unload);
    free(id);
    free(body);
    return status;
}

static int dispatch(struct api_server *s, struct mg_connection *c) {
    const struct mg_request_info *ri = mg_get_request_info(c);
    const char *m = ri->request_method, *path = ri->local_uri ? ri->local_uri : "/";
    int get = !strcmp(m, "GET") || !strcmp(m, "HEAD"), post = !strcmp(m, "POST");
    /* Anthropic's routes answer errors in its shape; everything else in OpenAI's. */
    int anthropic = !strcmp(path, "/v1/messages") || !strncmp(path, "/v1/messages/", 13);
    api_reply_set_dialect(anthropic ? API_DIALECT_ANTHROPIC : API_DIALECT_OPENAI);

    if (!strcmp(m, "OPTIONS")) /* CORS preflight, so browser apps on other origins can call us */
        return api_reply(c, 204, "text/plain", "", 0,
                         "Access-Control-Allow-Methods: GET, POST, PATCH, DELETE, OPTIONS\r\n"
                         "Access-Control-Allow-Headers: Authorization, Content-Type, x-api-key, anthropic-version, "
                         "anthropic-beta, anthropic-dangerous-direct-browser-access\r\n"
                         "Access-Control-Max-Age: 86400\r\n");
    if (!strcmp(path, "/health")) return get ? route_health(s, c) : method_not_allowed(c, "GET", m, path);
    if (!strcmp(path, "/metrics")) return get ? route_metrics(s, c) : method_not_allowed(c, "GET", m, path);

    if (api_is_ollama_path(path) || (!strcmp(m, "HEAD") && !strcmp(path, "/"))) return route_ollama(s, c, m, path);
    if (!strncmp(path, "/api/", 5)) {
        size_t len = 0;
        int status = 0;
        char *body = NULL;
        if (!get) {
            body = api_read_body(s, c, &len, &status);
            if (!body && status == 413) {
                api_reply_then_close(c);
                api_reply_error(c, 413, NULL, "request_too_large",
                                "the request body is larger than this server's limit of %zu bytes", s->p.max_body);
                api_drain_body(c);
                return 413;
            }
            if (!body) return api_reply_error(c, 400, NULL, NULL, "the request body could not be read");
        }
        status = route_api(s, c, m, path, body ? body : "", len);
        free(body);
        return status;
    }
    if (!strncmp(path, "/v1/", 4) || !strcmp(path, "/v1")) {
        struct api_who *who = api_who();
        int wr = api_who_resolve(s, c, 0, !get, who);
        if (wr) return wr;
        /* chat completions and Responses count in api/chat_store.c; the generating routes
         * in api/meter.c; the rest (moderations, rerank, token counts) by the key's rate */
        if (post && strcmp(path, "/v1/chat/completions") && strcmp(path, "/v1/responses") &&
            (wr = api_meter_is_metered(path) ? api_meter_begin(s, c, who, path, 0, api_meter_slot()) : api_who_v1_gate(s, c, who)))
            return wr;
        if (!strncmp(path, "/v1/files", 9) && (!path[9] || path[9] == '/')) return route_files(s, c, m, path);
        if (!strncmp(path, "/v1/fine_tuning/jobs", 20) && (!path[20] || path[20] == '/')) {
            size_t flen = 0;
            int fst = 0;
            char *fbody = NULL;
            if (post) {
                if (!(fbody = api_read_body(s, c, &flen, &fst)))
                    return api_reply_error(c, fst ? fst : 400, NULL, NULL, "the request body could not be read");
            }
            fst = route_fine_tuning(s, c, m, path, fbody ? fbody : "", flen);
            free(fbody);
            return fst;
        }
        if (!strncmp(path, "/v1/vector_stores", 17) && (!path[17] || path[17] == '/')) {
            size_t len = 0;
            int status = 0;
            char *body = NULL;
            if (post && !(body = api_read_body(s, c, &len, &status)))
                return api_reply_error(c, status, NULL, status == 413 ? "request_too_large" : NULL,
                                       "the request body could not be read");
            status = route_vector_stores(s, c, m, path, body ? body : "", len);
            free(body);
            return status;
        }
        if (!strcmp(path, "/v1/embeddings"))
            return post ? handle_post(s, c, route_embeddings) : method_not_allowed(c, "POST", m, path);
        if (!strcmp(path, "/v1/moderations"))
            return post ? handle_post(s, c, route_moderations) : method_not_allowed(c, "POST", m, path);
        if (!strcmp(path, "/v1/rerank") || !strcmp(path, "/v1/reranking"))
            return post ? handle_post(s, c, route_rerank) : method_not_allowed(c, "POST", m, path);
        if (atomic_load(&s->state) != API_LOADING && !s->model && !s->serve_store &&
            (!strcmp(path, "/v1/chat/completions") || !strcmp(path, "/v1/completions") || !strcmp(path, "/v1/realtime") ||
             !strcmp(path, "/v1/responses") || anthropic))
            return api_reply_error(c, 400, "model", "model_not_supported",
                                   "this server only serves embeddings ('%s' is an embedding model): use POST "
                                   "/v1/embeddings%s, or start it with -m CHAT_MODEL --embedding-model FILE for both",
                                   s->embed_id ? s->embed_id : "", s->embedder && omni_embedder_can_rerank(s->embedder)
                                   ? " or /v1/rerank" : "");
        if (!strcmp(path, "/v1/realtime") && !s->model && atomic_load(&s->state) != API_LOADING)
            return api_reply_error(c, 400, "model", "model_not_supported",
                                   "the Realtime API runs on the models given at start: omni serve -m CHAT_MODEL "
                                   "--asr-model WHISPER.bin (with --store to serve the store's models too)");
        if (!strcmp(path, "/v1/chat/completions"))
            return post ? handle_post(s, c, route_chat) : method_not_allowed(c, "POST", m, path);
        if (!strcmp(path, "/v1/messages"))
            return post ? handle_post(s, c, route_messages) : method_not_allowed(c, "POST", m, path);
        if (!strcmp(path, "/v1/messages/count_tokens"))
            return post ? handle_post(s, c, route_messages_count_tokens) : method_not_allowed(c, "POST", m, path);
        if (!strcmp(path, "/v1/completions"))
            return post ? handle_post(s, c, route_completions) : method_not_allowed(c, "POST", m, path);
        if (!strcmp(path, "/v1/responses"))
            return post ? handle_post(s, c, route_responses) : method_not_allowed(c, "POST", m, path);
        if (!strcmp(path, "/v1/responses/input_tokens"))
            return post ? handle_post(s, c, route_responses_input_tokens) : method_not_allowed(c, "POST", m, path);
        if (!strncmp(path, "/v1/responses/", 14)) return route_responses_stored(s, c, m, path);
        if (!strcmp(path, "/v1/conversations") || !strncmp(path, "/v1/conversations/", 18)) {
            size_t blen = 0;
            int bst = 0;
            char *body = get || !strcmp(m, "DELETE") ? NULL : api_read_body(s, c, &blen, &bst);
            if (!get && strcmp(m, "DELETE") && !body)
                return bst == 413 ? api_reply_error(c, 413, NULL, "request_too_large", "the request body is too large")
                                  : api_reply_error(c, 400, NULL, NULL, "the request body could not be read");
            int rst = route_v1_conversations(s, c, m, path, body ? body : "", blen);
            free(body);
            return rst;
        }
        if (!strcmp(path, "/v1/audio/speech"))
            return post ? handle_post(s, c, route_speech) : method_not_allowed(c, "POST", m, path);
        if (!strcmp(path, "/v1/audio/voices")) return get ? route_voices(s, c) : method_not_allowed(c, "GET", m, path);
        if (!strcmp(path, "/v1/audio/transcriptions") || !strcmp(path, "/v1/audio/translations"))
            return post ? route_transcriptions(s, c, !strcmp(path, "/v1/audio/translations"))
                        : method_not_allowed(c, "POST", m, path);
        if (!strcmp(path, "/v1/models")) return get ? route_models(s, c) : method_not_allowed(c, "GET", m, path);
        if (!strcmp(path, "/v1/ps")) return get ? route_ps(s, c) : method_not_allowed(c, "GET", m, path);
        size_t pl = strlen(path);
        int is_load = pl > 16 && !strcmp(path + pl - 5, "/load"), is_unload = pl > 18 && !strcmp(path + pl - 7, "/unload");
        if (!strncmp(path, "/v1/models/", 11) && (is_load || is_unload) && s->reg) {
            if (!post) return method_not_allowed(c, "POST", m, path);
            return handle_admin(s, c, path + 11, pl - 11 - (is_load ? 5 : 7), is_unload);
        }
        if (!strncmp(path, "/v1/models/", 11))
            return get ? route_model(s, c, path + 11) : method_not_allowed(c, "GET", m, path);
        return api_reply_error(c, 404, NULL, "unknown_url", "unknown route %s %s", m, path);
    }
    /* ollama's API (routes_ollama.c); its clients probe HEAD / for "Ollama is running" */
    if (get) {
        int r = route_static(s, c, path);
        if (r) return r;
    }
    return api_reply_error(c, 404, NULL, "unknown_url", "unknown route %s %s", m, path);
}

static int begin_request(struct mg_connection *c) {
    struct api_server *s = mg_get_user_data(mg_get_context(c));
    /* s->model may be read only once the state has left API_LOADING (api_server_set_engine
     * writes it before the state turns READY): the state first */
    if (api_realtime_is_upgrade(c) && (atomic_load(&s->state) == API_LOADING || s->model))
        return 0; /* civetweb hands it to realtime.c's WebSocket handler */
    struct api_who who; /* the request's principal, read by the routes with api_who() */
    memset(&who, 0, sizeof who);
    api_who_set(&who);
    struct api_meter meter; /* limits and usage of the metered routes (api/meter.h) */
    memset(&meter, 0, sizeof meter);
    api_meter_slot_set(&meter);
    struct api_guard guard; /* the request's moderation (api/guardrails.h) */
    api_guard_begin(&guard, s, c);
    int status = dispatch(s, c);
    api_guard_end(&guard);
    api_meter_end(&meter);
    api_meter_slot_set(NULL);
    api_reply_set_dialect(API_DIALECT_OPENAI);   /* the thread's next connection starts afresh */
    api_who_set(NULL);
    metrics_count_request(&s->metrics, status);
    return status;
}

static int log_message(const struct mg_connection *c, const char *msg) {
    log_debug("http: %s", msg);
    return 1;
}

struct api_server *api_server_start(const struct api_params *p, struct api_keys *keys, struct err *e) {
    struct api_server *s = calloc(1, sizeof *s);
    if (!s) { err_set(e, "out of memory"); return NULL; }
    s->p = *p;
    s->model_id = strdup(p->model_id ? p->model_id : "model");
    s->p.model_id = s->model_id;
    s->p.host = NULL;
    s->p.model_path = s->p.embed_path = NULL;   /* copied once listening (freed in api_server_stop) */
    if (keys) { s->keys = *keys; keys->key = NULL; keys->n = 0; }
    metrics_init(&s->metrics);
    atomic_init(&s->state, API_LOADING);
    s->created = time(NULL);
    if ((p->asr_model && !(s->asr = api_asr_open(p->asr_model, p->vad_model, p->asr_threads, e))) ||
        ((p->moderation || p->guard_model) &&
         !(s->moderation = api_moderation_open(p->moderation, p->guard_model, p->asr_threads, e)))) {
        api_asr_close(s->asr);
        api_keys_free(&s->keys);
        metrics_destroy(&s->metrics);
        free(s->model_id);
        free(s);
        return NULL;
    }

    char ports[300], threads[16];
    const char *host = p->host && *p->host ? p->host : "127.0.0.1";
    /* IPv6 literals need brackets in civetweb's listening_ports syntax. */
    if (strchr(host, ':')) snprintf(ports, sizeof ports, "[%s]:%d", host, p->port);
    else snprintf(ports, sizeof ports, "%s:%d", host, p->port);
    snprintf(threads, sizeof threads, "%d", p->n_threads > 0 ? p->n_threads : 64);
    const char *opts[] = {"listening_ports", ports, "num_threads", threads, "enable_keep_alive", "yes",
                          "request_timeout_ms", "600000", "keep_alive_timeout_ms", "5000", "tcp_nodelay", "1",
                          NULL, NULL, NULL};
    char pem[512] = "";
    if (p->tls_cert) { /* HTTPS/WSS: civetweb marks a TLS port with a trailing 's' */
        if (api_tls_pem_join(p->tls_cert, p->tls_key, pem, sizeof pem, e)) {
            api_asr_close(s->asr);
            api_moderation_close(s->moderation);
            api_keys_free(&s->keys);
            metrics_destroy(&s->metrics);
            free(s->model_id);
            free(s);
            return NULL;
        }
        strncat(ports, "s", sizeof ports - strlen(ports) - 1);
        opts[12] = "ssl_certificate";
        opts[13] = pem;
    }
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.begin_request = begin_request;
    cb.log_message = log_message;
    struct mg_init_data init = {&cb, s, opts};
    char etext[256] = "";
    unsigned ecode = 0;
    struct mg_error_data ed = {&ecode, etext, sizeof etext};
    mg_init_library(p->tls_cert ? 2 : 0); /* 2: MG_FEATURES_TLS */
    s->ctx = mg_start2(&init, &ed);
    if (pem[0]) unlink(pem); /* civetweb has read it; the joined key must not linger */
    if (!s->ctx) {
        err_set(e, "cannot listen on %s: %s", ports, etext[0] ? etext : "the address is in use or not available");
        api_asr_close(s->asr);
        api_moderation_close(s->moderation);
        api_keys_free(&s->keys);
        metrics_destroy(&s->metrics);
        free(s->model_id);
        free(s);
        mg_exit_library();
        return NULL;
    }
    struct mg_server_port sp[4];
    int n = mg_get_server_ports(s->ctx, 4, sp);
    s->port = n > 0 ? sp[0].port : p->port;
    s->p.model_path = p->model_path ? strdup(p->model_path) : NULL;
    s->p.embed_path = p->embed_path ? strdup(p->embed_path) : NULL;
    s->p.ft_dir = p->ft_dir ? strdup(p->ft_dir) : NULL;
    api_realtime_register(s);
    s->indexer = api_indexer_start(s);
    return s;
}

int api_server_port(const struct api_server *s) { return s->port; }

void api_server_set_registry(struct api_server *s, omni_registry *reg, int load_timeout_ms, int serve_store) {
    s->reg = reg;
    s->load_timeout_ms = load_timeout_ms;
    s->serve_store = serve_store;
    char err[256];
    if (s->asr && omni_registry_pin(reg, api_asr_name(s->asr), NULL, NULL, api_asr_ctx(s->asr), err, sizeof err))
        log_warn("serve: %s", err);
}

void api_server_set_engine(struct api_server *s, omni_model *model) {
    char err[256];
    if (s->reg && model && omni_registry_pin(s->reg, s->model_id, model, NULL, NULL, err, sizeof err))
        log_warn("serve: %s", err);
    s->model = model;
    atomic_store(&s->state, API_READY);
    if (!s->ftw) s->ftw = api_ftw_start(s);
}

void api_server_set_embedder(struct api_server *s, omni_embedder *emb, const char *id) {
    s->embedder = emb;
    free(s->embed_id);
    s->embed_id = strdup(id ? id : "embedding");
    char err[256];
    if (s->reg && emb && s->embed_id && omni_registry_pin(s->reg, s->embed_id, NULL, emb, NULL, err, sizeof err))
        log_warn("serve: %s", err);
}

void api_server_set_reranker(struct api_server *s, omni_embedder *emb, const char *id) {
    s->reranker = emb;
    char err[256];
    if (s->reg && emb && omni_registry_pin(s->reg, id ? id : "rerank", NULL, emb, NULL, err, sizeof err))
        log_warn("serve: %s", err);
}

void api_server_drain(struct api_server *s) { atomic_store(&s->state, API_DRAINING); }

void api_server_stop(struct api_server *s) {
    if (!s) return;
    atomic_store(&s->state, API_DRAINING);
    mg_stop(s->ctx);
    api_indexer_stop(s->indexer);
    api_ftw_stop(s->ftw);
    mg_exit_library();
    api_asr_close(s->asr);
    api_moderation_close(s->moderation);
    api_keys_free(&s->keys);
    metrics_destroy(&s->metrics);
    free(s->model_id);
    free(s->embed_id);
    free((char *)s->p.model_path);
    free((char *)s->p.embed_path);
    free((char *)s->p.ft_dir);
    free(s);
}
