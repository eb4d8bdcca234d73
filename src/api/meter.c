/* Limits and usage for the other generating APIs; see meter.h. */
#include "api/meter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/reply.h"
#include "core/log.h"

static _Thread_local struct api_meter *current;
static _Thread_local char resolved[256];

struct api_meter *api_meter_current(void) { return current && current->active ? current : NULL; }
void api_meter_use(struct api_meter *m) { current = m; }
const char *api_meter_resolved_model(void) { return resolved[0] ? resolved : NULL; }
void api_meter_set_resolved(const char *model_id) { snprintf(resolved, sizeof resolved, "%s", model_id ? model_id : ""); }

static _Thread_local struct api_meter *slot;
struct api_meter *api_meter_slot(void) { return slot; }
void api_meter_slot_set(struct api_meter *m) {
    slot = m;
    resolved[0] = 0; /* a new request names its own model */
}

static int kind_of(const char *path, enum api_meter_kind *k) {
    static const struct { const char *p; enum api_meter_kind k; } t[] = {
        {"/v1/completions", API_METER_TEXT},  {"/v1/messages", API_METER_TEXT},        {"/v1/embeddings", API_METER_EMBED},
        {"/v1/audio/transcriptions", API_METER_AUDIO}, {"/v1/audio/translations", API_METER_AUDIO},
        {"/v1/audio/speech", API_METER_AUDIO}, {"/api/chat", API_METER_TEXT},        {"/api/generate", API_METER_TEXT},
        {"/api/embed", API_METER_EMBED},      {"/api/embeddings", API_METER_EMBED}};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        if (!strcmp(path, t[i].p)) { *k = t[i].k; return 1; }
    return 0;
}

/* Does this server have model id (the pinned ones, or the registry's)? */
static int server_has(struct api_server *s, const char *id) {
    if (s->model_id && !strcmp(s->model_id, id)) return 1;
    if (s->embed_id && !strcmp(s->embed_id, id)) return 1;
    if (!s->reg) return 0;
    omni_registry_model *l = NULL;
    char err[256];
    int n = omni_registry_list(s->reg, 0, &l, err, sizeof err), has = 0;
    for (int i = 0; i < n && !has; i++) has = l[i].kind == OMNI_KIND_CHAT && !strcmp(l[i].id, id);
    if (n > 0) omni_registry_list_free(l, n);
    return has;
}

/* The rule's fallback when the server has it and the user's tier leaves room on it. */
const char *api_limit_fallback(struct api_server *s, const struct store_user *u, const char *model) {
    struct auth_config *a = s->p.auth;
    const struct auth_tier *t = auth_tier_get(&a->tiers, u->tier);
    int idx = auth_tier_rule_index(&a->tiers, t, model);
    if (idx < 0 || !t->rules[idx].fallback || !strcmp(t->rules[idx].fallback, model)) return NULL;
    const char *f = t->rules[idx].fallback;
    if (!server_has(s, f)) return NULL;
    int k = auth_tier_rule_index(&a->tiers, t, f);
    if (k < 0 || t->rules[k].limit < 0) return f;
    if (k == idx) return NULL; /* the same count: no room there either */
    char bucket[STORE_TIER_MAX + 32];
    snprintf(bucket, sizeof bucket, "msg:%s:%d", t->name, k);
    struct store_limit sl;
    struct err e = {{0}};
    if (store_limit_hit(a->st, u->id, bucket, store_now_ms(), t->rules[k].window_s * 1000, -1, 0, &sl, &e)) return NULL;
    return sl.used < t->rules[k].limit ? f : NULL;
}

int api_reply_limit(struct api_server *s, struct mg_connection *c, const struct api_who *w, const char *model,
                    const struct auth_limit *l, const struct auth_refusal *r, const char *headers, int ollama) {
    if (r->status != 429) {
        if (ollama) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "error", r->msg);
            int st = api_reply_json(c, r->status, o);
            cJSON_Delete(o);
            return st;
        }
        return api_reply_error(c, r->status, r->param[0] ? r->param : NULL, r->code[0] ? r->code : NULL, "%s", r->msg);
    }
    metrics_count_tier(&s->metrics, w->user.tier, 1, 0, 0);
    int64_t reset_ms = l->limited && !strcmp(l->what, "tokens") ? l->tok_reset_ms : l->req_reset_ms;
    if (reset_ms <= 0) reset_ms = r->retry_after_s * 1000;
    double resets_at = (double)(store_now_ms() + reset_ms);
    const char *fb = !strcmp(l->what, "messages") && model && *model ? api_limit_fallback(s, &w->user, model) : NULL;
    cJSON *body;
    cJSON *e;
    if (ollama) {
        body = e = cJSON_CreateObject();
        cJSON_AddStringToObject(body, "error", r->msg);
    } else {
        body = api_error_json(429, NULL, r->code, r->msg);
        e = cJSON_GetObjectItemCaseSensitive(body, "error");
    }
    if (!body || !e) {
        cJSON_Delete(body);
        return api_reply_error(c, 503, NULL, NULL, "out of memory");
    }
    cJSON_AddNumberToObject(e, "resets_at", resets_at);
    if (fb) cJSON_AddStringToObject(e, "fallback_model", fb);
    else cJSON_AddNullToObject(e, "fallback_model");
    char h[768];
    snprintf(h, sizeof h, "%s", headers ? headers : "");
    if (!strstr(h, "Retry-After")) {
        size_t n = strlen(h);
        snprintf(h + n, sizeof h - n, "Retry-After: %lld\r\n", (long long)(r->retry_after_s > 0 ? r->retry_after_s : 1));
    }
    int st = api_reply_json_headers(c, 429, body, h);
    cJSON_Delete(body);
    return st;
}

int api_meter_is_metered(const char *path) {
    enum api_meter_kind k;
    return kind_of(path, &k);
}

int api_meter_begin(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *path, int ollama,
                    struct api_meter *m) {
    if (!m) return 0;
    memset(m, 0, sizeof *m);
    resolved[0] = 0;
    enum api_meter_kind k;
    if (!s->p.auth || !api_who_has_user(w) || !kind_of(path, &k)) return 0;
    m->active = 1;
    m->s = s;
    m->w = w;
    m->kind = k;
    m->ollama = ollama;
    const char *dflt = k == API_METER_EMBED ? (s->embed_id ? s->embed_id : s->model_id) : k == API_METER_TEXT ? s->model_id : NULL;
    snprintf(m->model, sizeof m->model, "%s", dflt ? dflt : !strncmp(path, "/v1/audio/speech", 16) ? "speech" : "audio");
    current = m;
    if (w->kind != API_WHO_KEY) return 0;
    /* the audio routes name no model of the key's list: the key must allow one this
     * server pins (what every /v1 POST checked before models were named per route) */
    if ((k == API_METER_AUDIO || (ollama && k == API_METER_EMBED)) && s->model_id && !auth_key_allows(&w->key, s->model_id) &&
        !(s->embed_id && auth_key_allows(&w->key, s->embed_id))) {
        struct auth_refusal r = {.status = 403};
        snprintf(r.code, sizeof r.code, "model_not_found");
        snprintf(r.param, sizeof r.param, "model");
        snprintf(r.msg, sizeof r.msg, "this API key does not have access to model '%.200s'", s->model_id);
        return api_reply_limit(s, c, w, NULL, NULL, &r, NULL, ollama);
    }
    struct auth_limit l;
    struct auth_refusal r;
    if (auth_limit_api(s->p.auth, &w->user, &l, &r)) {
        auth_limit_headers(&l, m->headers, sizeof m->headers);
        return api_reply_limit(s, c, w, NULL, &l, &r, m->headers, ollama);
    }
    auth_limit_headers(&l, m->headers, sizeof m->headers);
    return 0;
}

int api_meter_model(struct api_server *s, struct mg_connection *c, const char *model_id) {
    api_meter_set_resolved(model_id);
    struct api_meter *m = api_meter_current();
    if (!m || !model_id) return 0;
    snprintf(m->model, sizeof m->model, "%s", model_id);
    struct api_who *w = m->w;
    if (w->kind == API_WHO_KEY && !auth_key_allows(&w->key, model_id)) {
        struct auth_refusal r = {.status = 403};
        snprintf(r.code, sizeof r.code, "model_not_found");
        snprintf(r.param, sizeof r.param, "model");
        snprintf(r.msg, sizeof r.msg, "this API key does not have access to model '%s'", model_id);
        return api_reply_limit(s, c, w, model_id, NULL, &r, NULL, m->ollama);
    }
    if (w->kind == API_WHO_SESSION && m->kind == API_METER_TEXT) {
        /* the app counts messages per its tier's rule for the model, as chat completions do */
        struct auth_limit l;
        struct auth_refusal r;
        int lim = auth_limit_message(s->p.auth, &w->user, model_id, &l, &r);
        auth_limit_headers(&l, m->headers, sizeof m->headers);
        if (lim) return api_reply_limit(s, c, w, model_id, &l, &r, m->headers, m->ollama);
    }
    return 0;
}

void api_meter_tokens(struct api_meter *m, int64_t prompt, int64_t cached, int64_t completion) {
    if (!m || !m->active) return;
    m->prompt_tokens += prompt;
    m->cached_tokens += cached;
    m->completion_tokens += completion;
}

void api_meter_name(const char *model_id) {
    struct api_meter *m = api_meter_current();
    if (m && model_id) snprintf(m->model, sizeof m->model, "%s", model_id);
}

void api_meter_audio(double seconds) {
    struct api_meter *m = api_meter_current();
    if (m && seconds > 0) m->audio_seconds += seconds;
}

void api_meter_flush(int ok) {
    struct api_meter *m = api_meter_current();
    if (!m || m->flushed) return;
    m->flushed = 1;
    if (!ok) return;
    struct api_server *s = m->s;
    struct store_usage u;
    memset(&u, 0, sizeof u);
    snprintf(u.user_id, sizeof u.user_id, "%s", m->w->user.id);
    if (m->w->kind == API_WHO_KEY) snprintf(u.key_id, sizeof u.key_id, "%s", m->w->key.id);
    snprintf(u.model, sizeof u.model, "%s", m->model);
    u.prompt_tokens = m->prompt_tokens;
    u.cached_tokens = m->cached_tokens;
    u.completion_tokens = m->completion_tokens;
    u.audio_seconds = m->audio_seconds;
    u.requests = 1;
    struct err e = {{0}};
    if (store_usage_add(s->p.auth->st, &u, &e)) log_error("counting usage: %s", e.msg);
    if (m->w->kind == API_WHO_KEY) auth_limit_api_tokens(s->p.auth, &m->w->user, m->prompt_tokens + m->completion_tokens);
    metrics_count_tier(&s->metrics, m->w->user.tier, 0, m->prompt_tokens, m->completion_tokens);
}

const char *api_meter_headers(void) {
    struct api_meter *m = api_meter_current();
    return m ? m->headers : "";
}

void api_meter_end(struct api_meter *m) {
    if (m->active && current == m) api_meter_flush(1);
    if (current == m) current = NULL;
    m->active = 0;
}
