/* See model_ref.h. */
#include "api/model_ref.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/ft_models.h"
#include "api/meter.h"
#include "api/reply.h"
#include "api/routes.h"

int api_parse_duration(const char *s, int64_t *ms) {
    if (!s || !*s) return -1;
    const char *p = s;
    int neg = *p == '-';
    if (neg || *p == '+') p++;
    if (!*p) return -1;
    double total = 0;
    int any = 0;
    while (*p) {
        char *end = NULL;
        double v = strtod(p, &end);
        if (end == p || v < 0) return -1;
        p = end;
        double unit = 1000;                       /* a bare number: seconds (ollama) */
        if (!strncmp(p, "ms", 2)) unit = 1, p += 2;
        else if (*p == 's') unit = 1000, p++;
        else if (*p == 'm') unit = 60000, p++;
        else if (*p == 'h') unit = 3600000, p++;
        else if (*p) return -1;
        total += v * unit;
        any = 1;
    }
    if (!any || total > 9.2e15) return -1;
    *ms = neg ? (total > 0 ? -1 : 0) : (int64_t)total;
    return 0;
}

int api_parse_keep_alive(const cJSON *v, int64_t *ms, char *msg, size_t cap) {
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d < 0) { *ms = -1; return 0; }
        if (d > 9.2e12) { snprintf(msg, cap, "'keep_alive' is too large"); return -1; }
        *ms = (int64_t)(d * 1000);
        return 0;
    }
    if (cJSON_IsString(v) && !api_parse_duration(v->valuestring, ms)) return 0;
    snprintf(msg, cap, "'keep_alive' must be a number of seconds or a duration such as \"5m\" (negative: keep loaded)");
    return -1;
}

int api_model_get(struct api_server *s, struct mg_connection *c, const char *name, int kinds, const cJSON *body,
                  struct api_model_ref *m) {
    memset(m, 0, sizeof *m);
    m->keep_alive_ms = OMNI_KEEP_ALIVE_DEFAULT;
    const cJSON *ka = body ? cJSON_GetObjectItemCaseSensitive(body, "keep_alive") : NULL;
    if (ka && !cJSON_IsNull(ka)) {
        char msg[200];
        if (api_parse_keep_alive(ka, &m->keep_alive_ms, msg, sizeof msg))
            return api_reply_error(c, 400, "keep_alive", "invalid_value", "%s", msg);
    }
    char err[640] = "", base[256] = "", path[1024] = "", adapter[256] = "";
    int ft = (kinds & OMNI_KIND_CHAT)
                 ? api_ft_resolve(s, c, name, base, sizeof base, adapter, sizeof adapter, path, sizeof path) : 0;
    if (ft > 1) return ft;
    int rc = omni_registry_acquire(s->reg, ft ? base : name, kinds, s->load_timeout_ms, &m->ref, err, sizeof err);
    if (rc != OMNI_OK) return api_model_reply_error(c, rc, err);
    /* accounts: the key's model list and the tier's rule for this model (api/meter.h) */
    int st = api_meter_model(s, c, m->ref.id);
    if (!st && ft && m->ref.model) {
        snprintf(m->adapter, sizeof m->adapter, "%s", adapter);
        snprintf(m->name, sizeof m->name, "%s", name);
        if (!(st = api_ft_attach(c, m->ref.model, m->adapter, path))) m->ref.id = m->name;
    }
    if (st) api_model_put(s, m);
    return st;
}

int api_model_reply_error(struct mg_connection *c, int rc, const char *err) {
    switch (rc) {
    case OMNI_ERR_NOT_FOUND: return api_reply_error(c, 404, "model", "model_not_found", "%s", err);
    case OMNI_ERR_WRONG_KIND: return api_reply_error(c, 400, "model", "model_not_supported", "%s", err);
    case OMNI_ERR_LOADING: return api_reply_error(c, 503, "model", "model_loading", "%s", err);
    case OMNI_ERR_STOPPING: return api_reply_error(c, 503, NULL, "shutting_down", "the server is shutting down");
    default: return api_reply_error(c, 500, "model", "model_load_failed", "the model could not be loaded: %s", err);
    }
}

void api_model_put(struct api_server *s, struct api_model_ref *m) {
    if (m->ref.entry_) omni_registry_release(s->reg, &m->ref, m->keep_alive_ms);
}
