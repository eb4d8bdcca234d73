/* Accounts around a chat completion; see chat_store.h. */
#include "api/chat_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/chat_file_search.h"
#include "api/chat_personal.h"
#include "api/meter.h"
#include "api/msg_citations.h"
#include "api/reply.h"
#include "api/routes_assistants.h"
#include "core/log.h"
#include "storage/prefs.h"
#include "storage/reasoning.h"

/* The last message of the request: its role and text (a string, or the parts as JSON). */
static const cJSON *last_message(const cJSON *body) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(body, "messages");
    int n = cJSON_GetArraySize(m);
    return n > 0 ? cJSON_GetArrayItem(m, n - 1) : NULL;
}

static char *content_text(const cJSON *msg) {
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(msg, "content");
    if (cJSON_IsString(c)) return strdup(c->valuestring);
    if (cJSON_IsArray(c)) return cJSON_PrintUnformatted(c);
    return strdup("");
}

static int store_failed(struct mg_connection *c, const struct err *e) {
    return api_reply_error(c, 500, NULL, "storage_error", "the database could not be reached: %s", e->msg);
}

static void on_done(struct api_capture *cap);

/* The request's sampling settings as JSON text (what feedback on the answer records). */
static void sampling_json(const cJSON *body, char *out, size_t cap) {
    static const char *const keys[] = {"temperature", "top_p", "top_k", "min_p", "max_tokens", "max_completion_tokens", "seed",
                                       "frequency_penalty", "presence_penalty", "repeat_penalty", "stop", "reasoning_effort"};
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i < sizeof keys / sizeof *keys; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, keys[i]);
        if (v && !cJSON_IsNull(v)) cJSON_AddItemToObject(o, keys[i], cJSON_Duplicate(v, 1));
    }
    char *t = o ? cJSON_PrintUnformatted(o) : NULL;
    snprintf(out, cap, "%s", t && strlen(t) < cap ? t : "{}");
    cJSON_free(t);
    cJSON_Delete(o);
}

/* Image parts in the messages (chat's image_url, Responses' input_image as the route hands
 * them over): usage counts them per user, key, model and day. */
static int count_images(const cJSON *body) {
    int n = 0;
    const cJSON *m, *part;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(body, "messages")) {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsArray(content)) continue;
        cJSON_ArrayForEach(part, content) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "type");
            if (cJSON_IsString(t) && (!strcmp(t->valuestring, "image_url") || !strcmp(t->valuestring, "input_image"))) n++;
        }
    }
    return n;
}

int api_chat_store_begin(struct api_server *s, struct mg_connection *c, const cJSON *body, struct api_chat_store *x) {
    char *user_msg = x->user_msg;   /* the one field the route sets before */
    memset(x, 0, sizeof *x);
    x->user_msg = user_msg;
    struct api_who *w = api_who();
    if (!s->p.auth || !api_who_has_user(w)) return 0;
    struct auth_config *a = s->p.auth;
    x->w = w;
    x->images = count_images(body);
    /* the route has checked that a requested name is ours (its id or its general.name):
     * limits, key lists and usage go by the one id, so a second name cannot dodge a rule */
    const char *resolved = api_meter_resolved_model(); /* the registry's id of the model the route took */
    snprintf(x->model, sizeof x->model, "%s", resolved ? resolved : s->model_id ? s->model_id : "");
    if (w->kind == API_WHO_KEY && !auth_key_allows(&w->key, x->model))
        return api_reply_error(c, 403, "model", "model_not_found",
                               "this API key does not have access to model '%s'", x->model);
    /* the conversation, before anything is counted: a wrong id costs nothing */
    const char *hdr = mg_get_header(c, "X-Omni-Conversation");
    const cJSON *field = cJSON_GetObjectItemCaseSensitive(body, "conversation");
    if (field && !cJSON_IsNull(field) && !cJSON_IsString(field))
        return api_reply_error(c, 400, "conversation", "invalid_type", "'conversation' must be a conversation id");
    const char *conv = hdr && *hdr ? hdr : cJSON_IsString(field) ? field->valuestring : NULL;
    struct store_conv v;
    struct err e = {{0}};
    if (conv) {
        int rc = strlen(conv) < STORE_ID_MAX ? store_conv_get(a->st, w->user.id, conv, &v, &e) : STORE_NOTFOUND;
        if (rc == STORE_NOTFOUND)
            return api_reply_error(c, 404, "conversation", "conversation_not_found", "no such conversation '%s'", conv);
        if (rc) return store_failed(c, &e);
    }
    /* limits: an app session counts messages per its tier's rule, a key requests and tokens */
    struct auth_limit l;
    struct auth_refusal r;
    int lim = 0;
    memset(&l, 0, sizeof l);
    if (w->kind == API_WHO_SESSION) lim = auth_limit_message(a, &w->user, x->model, &l, &r);
    else if (w->kind == API_WHO_KEY) lim = auth_limit_api(a, &w->user, &l, &r);
    auth_limit_headers(&l, x->headers, sizeof x->headers);
    if (lim) return api_reply_limit(s, c, w, x->model, &l, &r, x->headers, 0); /* resets_at, fallback_model */
    if (conv) {
        snprintf(x->conv_id, sizeof x->conv_id, "%s", conv);
        const cJSON *last = last_message(body);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(last, "role");
        const char *parent_h = mg_get_header(c, "X-Omni-Parent");
        const cJSON *parent_f = cJSON_GetObjectItemCaseSensitive(body, "parent_id");
        const char *parent = x->user_msg && x->user_msg[0] ? x->user_msg   /* a later step of a tool loop */
                           : parent_h && *parent_h ? parent_h : cJSON_IsString(parent_f) ? parent_f->valuestring : v.current_leaf;
        if (strlen(parent) >= STORE_ID_MAX) return api_reply_error(c, 404, "parent_id", "not_found", "no such message");
        if (cJSON_IsString(role) && !strcmp(role->valuestring, "user")) {
            char *text = content_text(last);
            if (!text) return api_reply_error(c, 500, NULL, NULL, "out of memory");
            /* asking again what the parent asked (regenerate): the new answer is a sibling of the old */
            struct store_msg pm;
            memset(&pm, 0, sizeof pm);
            int same = parent[0] && !store_msg_get(a->st, w->user.id, parent, &pm, &e) && !strcmp(pm.role, "user") &&
                       pm.content && !strcmp(pm.content, text) && !strcmp(pm.conv_id, conv);
            store_msg_free(&pm);
            if (same) snprintf(x->user_msg_id, sizeof x->user_msg_id, "%s", parent);
            else {
                struct store_msg m;
                memset(&m, 0, sizeof m);
                snprintf(m.conv_id, sizeof m.conv_id, "%s", conv);
                snprintf(m.parent_id, sizeof m.parent_id, "%s", parent);
                snprintf(m.role, sizeof m.role, "user");
                snprintf(m.model, sizeof m.model, "%s", x->model);
                m.content = text;
                int rc = store_msg_add(a->st, w->user.id, &m, 0, x->user_msg_id, &e);
                if (rc) {
                    free(text);
                    return rc == STORE_NOTFOUND ? api_reply_error(c, 404, "parent_id", "not_found", "no such message '%s'", parent)
                                                : store_failed(c, &e);
                }
                if (!v.title[0]) { /* a new conversation is named by its first question */
                    struct store_conv t;
                    memset(&t, 0, sizeof t);
                    size_t n = strlen(text), k = n > 80 ? 80 : n;
                    while (k < n && k > 0 && ((unsigned char)text[k] & 0xC0) == 0x80) k--; /* whole UTF-8 characters */
                    snprintf(t.title, sizeof t.title, "%.*s", (int)k, text);
                    snprintf(t.model, sizeof t.model, "%s", x->model);
                    (void)store_conv_update(a->st, w->user.id, conv, &t, STORE_CONV_TITLE | (v.model[0] ? 0 : STORE_CONV_MODEL), &e);
                }
            }
            free(text);
        } else snprintf(x->user_msg_id, sizeof x->user_msg_id, "%s", parent);
        if (x->user_msg && !x->user_msg[0]) snprintf(x->user_msg, STORE_ID_MAX, "%s", x->user_msg_id);
        size_t hn = strlen(x->headers);
        snprintf(x->headers + hn, sizeof x->headers - hn, "X-Omni-Conversation: %s\r\nX-Omni-User-Message: %s\r\n", conv,
                 x->user_msg_id);
        sampling_json(body, x->sampling, sizeof x->sampling);
        struct api_personal *px = api_personal_current();
        if (px && px->active) {
            x->memory_tool = px->memory_tool;
            if (px->memory_updated) {
                hn = strlen(x->headers);
                snprintf(x->headers + hn, sizeof x->headers - hn, "X-Omni-Memory-Updated: 1\r\n");
            }
        }
    }
    x->cap.headers = x->headers;
    x->cap.on_done = on_done;
    x->s = s;
    return 0;
}

static void on_done(struct api_capture *cap) {
    struct api_chat_store *x = (struct api_chat_store *)cap;
    struct api_server *s = x->s;
    struct auth_config *a = s->p.auth;
    struct err e = {{0}};
    struct store_usage u;
    memset(&u, 0, sizeof u);
    snprintf(u.user_id, sizeof u.user_id, "%s", x->w->user.id);
    if (x->w->kind == API_WHO_KEY) snprintf(u.key_id, sizeof u.key_id, "%s", x->w->key.id);
    snprintf(u.model, sizeof u.model, "%s", x->model);
    u.prompt_tokens = x->cap.prompt_tokens;
    u.cached_tokens = x->cap.cached_tokens;
    u.completion_tokens = x->cap.completion_tokens;
    u.images = x->images;
    u.requests = 1;
    int keep = !x->answer_final || x->answer_final(x->step_user, x->cap.text ? x->cap.text : "");
    if (x->conv_id[0] && x->cap.finished && keep) {
        /* the answer and its usage in one transaction (one commit per turn) */
        struct store_msg m;
        memset(&m, 0, sizeof m);
        snprintf(m.conv_id, sizeof m.conv_id, "%s", x->conv_id);
        snprintf(m.parent_id, sizeof m.parent_id, "%s", x->user_msg_id);
        snprintf(m.role, sizeof m.role, "assistant");
        snprintf(m.model, sizeof m.model, "%s", x->model);
        m.content = x->cap.text ? x->cap.text : "";
        m.prompt_tokens = x->cap.prompt_tokens;
        m.cached_tokens = x->cap.cached_tokens;
        m.completion_tokens = x->cap.completion_tokens;
        char answer_id[STORE_ID_MAX];
        if (store_msg_add_usage(a->st, x->w->user.id, &m, 0, &u, answer_id, &e)) {
            log_error("storing the answer: %s", e.msg); /* e.g. the conversation was deleted meanwhile */
            if (store_usage_add(a->st, &u, &e)) log_error("counting usage: %s", e.msg);
        } else {
            if (x->sampling[0] && store_msg_meta_put(a->st, x->w->user.id, answer_id, x->sampling, &e))
                log_error("storing the answer's sampling settings: %s", e.msg);
            char *runs = cJSON_GetArraySize(x->tool_runs) ? cJSON_PrintUnformatted(x->tool_runs) : NULL;
            if (runs && strlen(runs) > STORE_RUNS_MAX) {   /* the largest results go first: the calls stay */
                cJSON *slim = cJSON_Duplicate(x->tool_runs, 1), *it;
                cJSON_ArrayForEach(it, slim) {
                    cJSON_DeleteItemFromObjectCaseSensitive(it, "result");
                    cJSON_DeleteItemFromObjectCaseSensitive(it, "chart");
                }
                free(runs);
                runs = slim ? cJSON_PrintUnformatted(slim) : NULL;
                cJSON_Delete(slim);
            }
            if (runs && store_msg_runs_put(a->st, x->w->user.id, answer_id, runs, &e)) log_error("storing the answer's tool runs: %s", e.msg);
            free(runs);
            /* the thoughts before the answer, kept with it for the reader (not sent back as history) */
            if (x->cap.reasoning && store_msg_reasoning_put(a->st, x->w->user.id, answer_id, x->cap.reasoning, &e))
                log_error("storing the answer's reasoning: %s", e.msg);
            /* a custom assistant's knowledge passages the answer cites (message.citations) */
            if (api_citations_put(a->st, x->w->user.id, answer_id, api_request_citations(), &e))
                log_error("storing the answer's citations: %s", e.msg);
        }
        /* the built-in memory tool: the server runs the model's calls of it */
        int changed = x->memory_tool ? api_chat_memory_calls(s, x->w->user.id, x->tools, x->tool_prefix, x->cap.text) : 0;
        int said = strstr(x->headers, "X-Omni-Memory-Updated") != NULL;
        if (changed && !said) {
            size_t hn = strlen(x->headers); /* a JSON reply's headers are written after this */
            snprintf(x->headers + hn, sizeof x->headers - hn, "X-Omni-Memory-Updated: 1\r\n");
        }
        if (changed || said) x->cap.sse_extra = api_memory_event(s, x->w->user.id); /* a stream's last event */
    } else if (store_usage_add(a->st, &u, &e)) log_error("counting usage: %s", e.msg);
    if (x->w->kind == API_WHO_KEY)
        auth_limit_api_tokens(a, &x->w->user, (int64_t)x->cap.prompt_tokens + x->cap.completion_tokens);
    metrics_count_tier(&s->metrics, x->w->user.tier, 0, x->cap.prompt_tokens, x->cap.completion_tokens);
    api_assistant_chat_done(); /* a custom assistant's use and conversation, before the reply ends */
}

void api_chat_store_end(struct api_chat_store *x) {
    free(x->cap.text);
    x->cap.text = NULL;
    free(x->cap.reasoning);
    x->cap.reasoning = NULL;
    cJSON_Delete(x->cap.sse_extra);
    x->cap.sse_extra = NULL;
}
