/* The Realtime WebSocket route: one voice session per connection. Client events are
 * handled on civetweb's connection thread; voice events arrive on the voice threads.
 * Both write frames, so every write goes through rt_send under the connection's lock. */
#include "api/realtime.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>

#include "api/asr.h"
#include "api/guardrails.h"
#include "api/meter.h"
#include "api/realtime_events.h"
#include "api/routes.h"
#include "api/who.h"
#include "core/log.h"

#define RT_PATH "/v1/realtime"
#define RT_RATE_OUT 24000

struct rt_conn {
    struct api_server *s;
    struct mg_connection *c;
    pthread_mutex_t wmu;        /* one writer per connection (civetweb's rule) */
    int closed;
    char refuse[320];           /* set by the connect handler: why the session is refused */
    const char *refuse_code;

    omni_voice *v;
    omni_voice_params vp;     /* current settings; strings below are ours */
    char *instructions, *voice_name, *language;
    atomic_int text_only;       /* output_modalities ["text"]: no audio events (set by session.update
                                 * on the connection's thread, read by the voice threads) */
    int turn_detection;         /* server VAD answers turns by itself */
    atomic_int seq;             /* event and item ids */
    char session_id[32];

    /* voice-thread state (on_event is never re-entered) */
    char user_item[32], prev_item[32], resp_item[32], resp_id[32];
    int resp_text_only;         /* text_only as the response started: it stays so to its end */
    char *partial;              /* last transcript sent as deltas */

    /* accounts: each turn is a message of the socket's user (the tier's rule for the model,
     * or the key's requests per minute), counted when it starts; its usage when it ends */
    struct api_who who;         /* KEY or SESSION (else no limits) */
    int turn_refused;           /* this turn went over the limit: cancelled, not counted */
    struct api_guard guard;     /* the socket's moderation (api/guardrails.h): its user's policy */
};

/* ---- writing ---- */

static void rt_send(struct rt_conn *k, cJSON *ev) {
    char id[32];
    snprintf(id, sizeof id, "event_%d", atomic_fetch_add(&k->seq, 1));
    cJSON_AddStringToObject(ev, "event_id", id);
    char *txt = cJSON_PrintUnformatted(ev);
    cJSON_Delete(ev);
    if (!txt) return;
    pthread_mutex_lock(&k->wmu);
    if (!k->closed && mg_websocket_write(k->c, MG_WEBSOCKET_OPCODE_TEXT, txt, strlen(txt)) <= 0) k->closed = 1;
    pthread_mutex_unlock(&k->wmu);
    free(txt);
}

static cJSON *rt_event(const char *type) {
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "type", type);
    return ev;
}

static void rt_error(struct rt_conn *k, const char *code, const char *param, const char *client_event_id,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void rt_error(struct rt_conn *k, const char *code, const char *param, const char *client_event_id,
                     const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *ev = rt_event("error"), *er = cJSON_AddObjectToObject(ev, "error");
    cJSON_AddStringToObject(er, "type", code && !strcmp(code, "server_error") ? "server_error" : "invalid_request_error");
    if (code) cJSON_AddStringToObject(er, "code", code);
    else cJSON_AddNullToObject(er, "code");
    cJSON_AddStringToObject(er, "message", msg);
    if (param) cJSON_AddStringToObject(er, "param", param);
    else cJSON_AddNullToObject(er, "param");
    if (client_event_id) cJSON_AddStringToObject(er, "event_id", client_event_id);
    else cJSON_AddNullToObject(er, "event_id");
    rt_send(k, ev);
}

static void new_id(struct rt_conn *k, char *out, size_t cap, const char *prefix) {
    snprintf(out, cap, "%s_%d", prefix, atomic_fetch_add(&k->seq, 1));
}

/* The session object of session.created/updated, GA shape plus the beta duplicates. */
static cJSON *session_json(struct rt_conn *k) {
    const omni_voice_params *p = &k->vp;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", k->session_id);
    cJSON_AddStringToObject(o, "object", "realtime.session");
    cJSON_AddStringToObject(o, "type", "realtime");
    cJSON_AddStringToObject(o, "model", k->s->model_id);
    cJSON_AddStringToObject(o, "instructions", k->instructions ? k->instructions : "");
    const char *mods[2] = {"audio", "text"};
    const int text_only = atomic_load(&k->text_only);
    cJSON_AddItemToObject(o, "output_modalities", cJSON_CreateStringArray(mods + (text_only ? 1 : 0), 1));
    cJSON_AddItemToObject(o, "modalities", cJSON_CreateStringArray(mods, text_only ? 1 : 2));
    const char *voice = k->voice_name ? k->voice_name : "alloy";
    cJSON_AddStringToObject(o, "voice", voice);
    cJSON_AddStringToObject(o, "input_audio_format", "pcm16");
    cJSON_AddStringToObject(o, "output_audio_format", "pcm16");

    cJSON *td = NULL, *tr = NULL;
    if (k->turn_detection) {
        td = cJSON_CreateObject();
        cJSON_AddStringToObject(td, "type", p->end_of_turn ? "semantic_vad" : "server_vad");
        if (p->end_of_turn) cJSON_AddStringToObject(td, "eagerness", rt_eagerness_name(p));
        cJSON_AddNumberToObject(td, "threshold", p->vad_threshold);
        cJSON_AddNumberToObject(td, "prefix_padding_ms", p->prefix_padding_ms);
        cJSON_AddNumberToObject(td, "silence_duration_ms", p->silence_ms);
        cJSON_AddBoolToObject(td, "create_response", p->auto_response);
        cJSON_AddBoolToObject(td, "interrupt_response", p->interrupt_response);
    } else td = cJSON_CreateNull();
    if (p->transcribe_input) {
        tr = cJSON_CreateObject();
        cJSON_AddStringToObject(tr, "model", "whisper-1");
        if (k->language) cJSON_AddStringToObject(tr, "language", k->language);
    } else tr = cJSON_CreateNull();
    cJSON *audio = cJSON_AddObjectToObject(o, "audio"), *in = cJSON_AddObjectToObject(audio, "input");
    cJSON *fmt = cJSON_AddObjectToObject(in, "format");
    cJSON_AddStringToObject(fmt, "type", "audio/pcm");
    cJSON_AddNumberToObject(fmt, "rate", p->input_rate);
    cJSON_AddItemToObject(in, "transcription", cJSON_Duplicate(tr, 1));
    cJSON_AddItemToObject(in, "turn_detection", cJSON_Duplicate(td, 1));
    cJSON *out = cJSON_AddObjectToObject(audio, "output");
    fmt = cJSON_AddObjectToObject(out, "format");
    cJSON_AddStringToObject(fmt, "type", "audio/pcm");
    cJSON_AddNumberToObject(fmt, "rate", RT_RATE_OUT);
    cJSON_AddStringToObject(out, "voice", voice);
    cJSON_AddItemToObject(o, "turn_detection", td);
    cJSON_AddItemToObject(o, "input_audio_transcription", tr);
    cJSON_AddNumberToObject(o, "temperature", p->temperature);
    if (p->max_tokens > 0) cJSON_AddNumberToObject(o, "max_output_tokens", p->max_tokens);
    else cJSON_AddStringToObject(o, "max_output_tokens", "inf");
    return o;
}

static void send_session(struct rt_conn *k, const char *type) {
    cJSON *ev = rt_event(type);
    cJSON_AddItemToObject(ev, "session", session_json(k));
    rt_send(k, ev);
}

/* ---- voice events → server events ---- */

static char *b64_pcm(const int16_t *pcm, size_t n) {
    size_t bytes = n * 2;
    char *out = malloc(4 * ((bytes + 2) / 3) + 1);
    if (out) EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)pcm, (int)bytes);
    return out;
}

static cJSON *rt_resp_event(struct rt_conn *k, const char *type) {
    cJSON *ev = rt_event(type);
    cJSON_AddStringToObject(ev, "response_id", k->resp_id);
    cJSON_AddStringToObject(ev, "item_id", k->resp_item);
    cJSON_AddNumberToObject(ev, "output_index", 0);
    cJSON_AddNumberToObject(ev, "content_index", 0);
    return ev;
}

static cJSON *message_item(const char *id, const char *role, const char *status, const char *ctype,
                           const char *key, const char *text) {
    cJSON *it = cJSON_CreateObject();
    cJSON_AddStringToObject(it, "id", id);
    cJSON_AddStringToObject(it, "object", "realtime.item");
    cJSON_AddStringToObject(it, "type", "message");
    cJSON_AddStringToObject(it, "status", status);
    cJSON_AddStringToObject(it, "role", role);
    cJSON *content = cJSON_AddArrayToObject(it, "content");
    if (ctype) {
        cJSON *part = cJSON_CreateObject();
        cJSON_AddStringToObject(part, "type", ctype);
        if (text) cJSON_AddStringToObject(part, key, text);
        else cJSON_AddNullToObject(part, key);
        cJSON_AddItemToArray(content, part);
    }
    return it;
}

static cJSON *response_json(struct rt_conn *k, const char *status, const omni_voice_event *e) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "id", k->resp_id);
    cJSON_AddStringToObject(r, "object", "realtime.response");
    const int filtered = !strcmp(status, "content_filter");
    cJSON_AddStringToObject(r, "status", filtered ? "incomplete" : status);
    if (filtered) {   /* as OpenAI's Realtime API says it, with the plain-words reason */
        cJSON *d = cJSON_AddObjectToObject(r, "status_details");
        cJSON_AddStringToObject(d, "type", "incomplete");
        cJSON_AddStringToObject(d, "reason", "content_filter");
        if (k->guard.reason[0]) cJSON_AddStringToObject(d, "message", k->guard.reason);
    }
    cJSON *out = cJSON_AddArrayToObject(r, "output");
    if (e) {
        cJSON_AddItemToArray(out, message_item(k->resp_item, "assistant",
                                               strcmp(status, "completed") ? "incomplete" : "completed",
                                               k->resp_text_only ? "output_text" : "output_audio",
                                               k->resp_text_only ? "text" : "transcript", e->text ? e->text : ""));
        cJSON *u = cJSON_AddObjectToObject(r, "usage");
        int in = e->usage.prompt_tokens, outn = e->usage.completion_tokens;
        cJSON_AddNumberToObject(u, "total_tokens", in + outn);
        cJSON_AddNumberToObject(u, "input_tokens", in);
        cJSON_AddNumberToObject(u, "output_tokens", outn);
        cJSON *d = cJSON_AddObjectToObject(u, "input_token_details");
        cJSON_AddNumberToObject(d, "cached_tokens", e->usage.cached_tokens);
        cJSON_AddNumberToObject(d, "text_tokens", in);
        cJSON_AddNumberToObject(d, "audio_tokens", 0);
    }
    return r;
}

/* A turn's start with accounts: counts it (the tier's message rule for the model, or the
 * key's requests per minute) and says what is left (rate_limits.updated, as OpenAI's
 * Realtime API does). Over the limit: the turn is cancelled and an error event says why,
 * with resets_at and the tier's fallback_model. 1 when the turn may go on. */
static int turn_allowed(struct rt_conn *k) {
    struct api_server *s = k->s;
    struct api_who *w = &k->who;
    if (!s->p.auth || (w->kind != API_WHO_SESSION && w->kind != API_WHO_KEY)) return 1;
    struct auth_limit l;
    struct auth_refusal r;
    int lim = w->kind == API_WHO_SESSION ? auth_limit_message(s->p.auth, &w->user, s->model_id, &l, &r)
                                         : auth_limit_api(s->p.auth, &w->user, &l, &r);
    if (lim) {
        omni_voice_cancel(k->v);
        if (lim == 429) metrics_count_tier(&s->metrics, w->user.tier, 1, 0, 0);
        cJSON *ev = rt_event("error"), *er = cJSON_AddObjectToObject(ev, "error");
        cJSON_AddStringToObject(er, "type", lim == 429 ? "rate_limit_error" : "server_error");
        cJSON_AddStringToObject(er, "code", r.code);
        cJSON_AddStringToObject(er, "message", r.msg);
        int64_t ms = !strcmp(l.what, "tokens") ? l.tok_reset_ms : l.req_reset_ms;
        cJSON_AddNumberToObject(er, "resets_at", (double)(store_now_ms() + (ms > 0 ? ms : r.retry_after_s * 1000)));
        const char *fb = lim == 429 && !strcmp(l.what, "messages") ? api_limit_fallback(s, &w->user, s->model_id) : NULL;
        if (fb) cJSON_AddStringToObject(er, "fallback_model", fb);
        else cJSON_AddNullToObject(er, "fallback_model");
        cJSON_AddNullToObject(er, "param");
        cJSON_AddNullToObject(er, "event_id");
        rt_send(k, ev);
        return 0;
    }
    if (l.has_req || l.has_tok) {
        cJSON *ev = rt_event("rate_limits.updated"), *arr = cJSON_AddArrayToObject(ev, "rate_limits");
        for (int i = 0; i < 2; i++) {
            if (!(i ? l.has_tok : l.has_req)) continue;
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "name", i ? "tokens" : "requests");
            cJSON_AddNumberToObject(x, "limit", (double)(i ? l.tok_limit : l.req_limit));
            cJSON_AddNumberToObject(x, "remaining", (double)(i ? l.tok_remaining : l.req_remaining));
            cJSON_AddNumberToObject(x, "reset_seconds", (double)(i ? l.tok_reset_ms : l.req_reset_ms) / 1000.0);
            cJSON_AddItemToArray(arr, x);
        }
        rt_send(k, ev);
    }
    return 1;
}

/* A finished turn's usage row (user, key, model, day) and the key's tokens. */
static void turn_usage(struct rt_conn *k, const omni_voice_event *e) {
    struct api_server *s = k->s;
    struct api_who *w = &k->who;
    if (!s->p.auth || (w->kind != API_WHO_SESSION && w->kind != API_WHO_KEY)) return;
    struct store_usage u;
    memset(&u, 0, sizeof u);
    snprintf(u.user_id, sizeof u.user_id, "%s", w->user.id);
    if (w->kind == API_WHO_KEY) snprintf(u.key_id, sizeof u.key_id, "%s", w->key.id);
    snprintf(u.model, sizeof u.model, "%s", s->model_id ? s->model_id : "");
    u.prompt_tokens = e->usage.prompt_tokens;
    u.cached_tokens = e->usage.cached_tokens;
    u.completion_tokens = e->usage.completion_tokens;
    u.requests = 1;
    struct err er = {{0}};
    if (store_usage_add(s->p.auth->st, &u, &er)) log_error("realtime: counting usage: %s", er.msg);
    if (w->kind == API_WHO_KEY) auth_limit_api_tokens(s->p.auth, &w->user, u.prompt_tokens + u.completion_tokens);
    metrics_count_tier(&s->metrics, w->user.tier, 0, u.prompt_tokens, u.completion_tokens);
}

static void on_voice_event(const omni_voice_event *e, void *ud) {
    struct rt_conn *k = ud;
    cJSON *ev;
    switch (e->type) {
    case OMNI_VOICE_SPEECH_STARTED:
        new_id(k, k->user_item, sizeof k->user_item, "item");
        free(k->partial);
        k->partial = NULL;
        ev = rt_event("input_audio_buffer.speech_started");
        cJSON_AddNumberToObject(ev, "audio_start_ms", (double)e->audio_ms);
        cJSON_AddStringToObject(ev, "item_id", k->user_item);
        rt_send(k, ev);
        break;
    case OMNI_VOICE_SPEECH_STOPPED:
        if (!k->user_item[0]) new_id(k, k->user_item, sizeof k->user_item, "item");
        ev = rt_event("input_audio_buffer.speech_stopped");
        cJSON_AddNumberToObject(ev, "audio_end_ms", (double)e->audio_ms);
        cJSON_AddStringToObject(ev, "item_id", k->user_item);
        rt_send(k, ev);
        ev = rt_event("input_audio_buffer.committed");
        if (k->prev_item[0]) cJSON_AddStringToObject(ev, "previous_item_id", k->prev_item);
        else cJSON_AddNullToObject(ev, "previous_item_id");
        cJSON_AddStringToObject(ev, "item_id", k->user_item);
        rt_send(k, ev);
        ev = rt_event("conversation.item.created");
        if (k->prev_item[0]) cJSON_AddStringToObject(ev, "previous_item_id", k->prev_item);
        else cJSON_AddNullToObject(ev, "previous_item_id");
        cJSON_AddItemToObject(ev, "item", message_item(k->user_item, "user", "completed", "input_audio", "transcript", NULL));
        rt_send(k, ev);
        snprintf(k->prev_item, sizeof k->prev_item, "%s", k->user_item);
        break;
    case OMNI_VOICE_TRANSCRIPT_PARTIAL: {
        /* Partials replace each other; deltas can only append, so send the new tail
         * when the text grew and nothing when the decoder changed its mind. */
        size_t old = k->partial ? strlen(k->partial) : 0;
        if (!e->text || strlen(e->text) <= old || (old && strncmp(e->text, k->partial, old))) break;
        ev = rt_event("conversation.item.input_audio_transcription.delta");
        cJSON_AddStringToObject(ev, "item_id", k->user_item);
        cJSON_AddNumberToObject(ev, "content_index", 0);
        cJSON_AddStringToObject(ev, "delta", e->text + old);
        rt_send(k, ev);
        free(k->partial);
        k->partial = strdup(e->text);
        break;
    }
    case OMNI_VOICE_TRANSCRIPT_FINAL:
        ev = rt_event("conversation.item.input_audio_transcription.completed");
        cJSON_AddStringToObject(ev, "item_id", k->user_item);
        cJSON_AddNumberToObject(ev, "content_index", 0);
        cJSON_AddStringToObject(ev, "transcript", e->text ? e->text : "");
        rt_send(k, ev);
        k->user_item[0] = 0;
        break;
    case OMNI_VOICE_RESPONSE_STARTED:
        snprintf(k->resp_id, sizeof k->resp_id, "resp_%d", e->response_id);
        k->turn_refused = !turn_allowed(k);
        k->resp_text_only = atomic_load(&k->text_only);
        new_id(k, k->resp_item, sizeof k->resp_item, "item");
        ev = rt_event("response.created");
        cJSON_AddItemToObject(ev, "response", response_json(k, "in_progress", NULL));
        rt_send(k, ev);
        ev = rt_event("response.output_item.added");
        cJSON_AddStringToObject(ev, "response_id", k->resp_id);
        cJSON_AddNumberToObject(ev, "output_index", 0);
        cJSON_AddItemToObject(ev, "item", message_item(k->resp_item, "assistant", "in_progress", NULL, NULL, NULL));
        rt_send(k, ev);
        break;
    case OMNI_VOICE_TEXT_DELTA:
        ev = rt_resp_event(k, k->resp_text_only ? "response.output_text.delta" : "response.output_audio_transcript.delta");
        cJSON_AddStringToObject(ev, "delta", e->text ? e->text : "");
        rt_send(k, ev);
        break;
    case OMNI_VOICE_AUDIO: {
        if (k->resp_text_only || !e->n_pcm) break;
        char *b = b64_pcm(e->pcm, e->n_pcm);
        if (!b) break;
        ev = rt_resp_event(k, "response.output_audio.delta");
        cJSON_AddStringToObject(ev, "delta", b);
        free(b);
        rt_send(k, ev);
        break;
    }
    case OMNI_VOICE_RESPONSE_DONE: {
        const char *text = e->text ? e->text : "";
        if (k->resp_text_only) {
            ev = rt_resp_event(k, "response.output_text.done");
            cJSON_AddStringToObject(ev, "text", text);
            rt_send(k, ev);
        } else {
            rt_send(k, rt_resp_event(k, "response.output_audio.done"));
            ev = rt_resp_event(k, "response.output_audio_transcript.done");
            cJSON_AddStringToObject(ev, "transcript", text);
            rt_send(k, ev);
        }
        const char *st = e->status ? e->status : "completed";
        ev = rt_event("response.output_item.done");
        cJSON_AddStringToObject(ev, "response_id", k->resp_id);
        cJSON_AddNumberToObject(ev, "output_index", 0);
        cJSON_AddItemToObject(ev, "item", message_item(k->resp_item, "assistant",
                                                       strcmp(st, "completed") ? "incomplete" : "completed",
                                                       k->resp_text_only ? "output_text" : "output_audio",
                                                       k->resp_text_only ? "text" : "transcript", text));
        rt_send(k, ev);
        ev = rt_event("response.done");
        cJSON_AddItemToObject(ev, "response", response_json(k, st, e));
        rt_send(k, ev);
        if (!k->turn_refused) turn_usage(k, e);
        k->turn_refused = 0;
        snprintf(k->prev_item, sizeof k->prev_item, "%s", k->resp_item);
        break;
    }
    case OMNI_VOICE_ERROR:
        rt_error(k, "server_error", NULL, NULL, "%s", e->text ? e->text : "voice session error");
        break;
    }
}

/* ---- client events (read by api/realtime_events.c, applied here) ---- */

static void apply_session_update(struct rt_conn *k, struct rt_request *rq) {
    omni_voice_params p = rq->session.p;
    if (rq->instructions) { free(k->instructions); k->instructions = rq->instructions; rq->instructions = NULL; }
    if (rq->voice) { free(k->voice_name); k->voice_name = rq->voice; rq->voice = NULL; }
    if (rq->language) { free(k->language); k->language = rq->language; rq->language = NULL; }
    p.instructions = k->instructions;
    p.voice = k->voice_name;
    p.language = k->language;
    struct err e = {{0}};
    if (omni_voice_update(k->v, &p, e.msg, sizeof e.msg)) {
        rt_error(k, "invalid_value", "session", rq->event_id, "session.update: %s", e.msg);
        return;
    }
    k->vp = p;
    k->turn_detection = rq->session.turn_detection;
    atomic_store(&k->text_only, rq->session.text_only);
    send_session(k, "session.updated");
}

static void apply_item_create(struct rt_conn *k, const struct rt_request *rq) {
    struct err e = {{0}};
    if (omni_voice_add_message(k->v, rq->role, rq->text, e.msg, sizeof e.msg)) {
        rt_error(k, "invalid_value", "item", rq->event_id, "conversation.item.create: %s", e.msg);
        return;
    }
    char id[32];
    if (rq->item_id) snprintf(id, sizeof id, "%s", rq->item_id);
    else new_id(k, id, sizeof id, "item");
    int user = !strcmp(rq->role, "user");
    cJSON *ev = rt_event("conversation.item.created");
    cJSON_AddNullToObject(ev, "previous_item_id");
    cJSON_AddItemToObject(ev, "item", message_item(id, rq->role, "completed", user ? "input_text" : "output_text",
                                                   "text", rq->text));
    rt_send(k, ev);
}

/* conversation.item.truncate: the client stopped playing the latest reply at
 * audio_end_ms. Works while the reply is still being made (it is cut when it ends) and
 * after (its history entry is cut now), which is the common case: generation outruns
 * playback, so a user who interrupts usually interrupts a reply that is already done. */
static void apply_truncate(struct rt_conn *k, const struct rt_request *rq) {
    if (omni_voice_truncate(k->v, (int64_t)(rq->audio_end_ms * (RT_RATE_OUT / 1000))) < 0) {
        rt_error(k, "invalid_value", "item_id", rq->event_id, "there is no assistant reply to truncate");
        return;
    }
    cJSON *ev = rt_event("conversation.item.truncated");
    cJSON_AddStringToObject(ev, "item_id", rq->item_id ? rq->item_id : "");
    cJSON_AddNumberToObject(ev, "content_index", 0);
    cJSON_AddNumberToObject(ev, "audio_end_ms", rq->audio_end_ms);
    rt_send(k, ev);
}

static int on_data(struct mg_connection *c, int bits, char *data, size_t len, void *ud) {
    (void)ud;
    struct rt_conn *k = mg_get_user_connection_data(c);
    int op = bits & 0x0f;
    if (op == MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE) return 0;
    if (!k || !k->v || (op != MG_WEBSOCKET_OPCODE_TEXT && op != MG_WEBSOCKET_OPCODE_BINARY)) return 1;
    struct rt_settings cur = {k->vp, k->turn_detection, atomic_load(&k->text_only)};
    struct rt_request rq;
    struct rt_bad_event bad;
    if (rt_request_parse(data, len, &cur, &rq, &bad)) {
        rt_error(k, bad.code, bad.param[0] ? bad.param : NULL, rq.event_id, "%s", bad.msg);
        rt_request_free(&rq);
        return 1;
    }
    switch (rq.type) {
    case RT_SESSION_UPDATE: apply_session_update(k, &rq); break;
    case RT_AUDIO_APPEND: if (rq.n_pcm) omni_voice_push_pcm(k->v, rq.pcm, rq.n_pcm); break;
    case RT_AUDIO_COMMIT: omni_voice_commit(k->v); break;
    case RT_AUDIO_CLEAR:
        omni_voice_clear(k->v);
        rt_send(k, rt_event("input_audio_buffer.cleared"));
        break;
    case RT_ITEM_CREATE: apply_item_create(k, &rq); break;
    case RT_RESPONSE_CREATE: omni_voice_respond(k->v); break;
    case RT_RESPONSE_CANCEL: omni_voice_cancel(k->v); break;
    case RT_ITEM_TRUNCATE: apply_truncate(k, &rq); break;
    case RT_OUTPUT_CLEAR: omni_voice_cancel(k->v); break;
    }
    rt_request_free(&rq);
    return 1;
}

/* ---- connection lifetime ---- */

/* The API key may come as a header, or (browsers cannot set headers) as the
 * "openai-insecure-api-key.KEY" subprotocol the OpenAI clients also send. */
static int key_ok(struct api_server *s, const struct mg_connection *c, struct api_who *w) {
    /* with accounts on (not --no-auth): a user's key, a static key or the login cookie */
    int accounts = s->p.auth && !s->p.auth->no_auth;
    if (!s->keys.n && !accounts) return 1;
    const char *h = mg_get_header(c, "Authorization");
    char tok[512];
    if (h && !accounts && api_keys_check(&s->keys, h)) return 1;
    if (h && accounts) return auth_bearer_get(h, tok, sizeof tok) && api_who_socket(s, c, tok, w);
    const char *proto = mg_get_header(c, "Sec-WebSocket-Protocol");
    const char *pre = "openai-insecure-api-key.";
    for (const char *p = proto; p && (p = strstr(p, pre));) {
        p += strlen(pre);
        size_t n = strcspn(p, ", ");
        char bearer[512];
        if (n < sizeof bearer - 8) {
            snprintf(bearer, sizeof bearer, "Bearer %.*s", (int)n, p);
            snprintf(tok, sizeof tok, "%.*s", (int)n, p);
            if (!accounts && api_keys_check(&s->keys, bearer)) return 1;
            if (accounts && api_who_socket(s, c, tok, w)) return 1;
        }
    }
    return accounts && api_who_socket(s, c, NULL, w);
}

/* The voice loop's moderation: this socket's guard. */
static int rt_moderate(const char *text, size_t len, int reply, void *user) {
    struct rt_conn *k = user;
    return api_guard_voice(text, len, reply, &k->guard);
}

static int on_connect(const struct mg_connection *c, void *ud) {
    struct api_server *s = ud;
    struct rt_conn *k = calloc(1, sizeof *k);
    if (!k) return 1;
    k->s = s;
    pthread_mutex_init(&k->wmu, NULL);
    atomic_init(&k->seq, 1);
    atomic_init(&k->text_only, 0);
    /* Refusals are reported as an error event after the handshake: a refused handshake
     * gives the client only a reset connection and no reason. */
    const struct mg_request_info *ri = mg_get_request_info(c);
    char model[256] = "";
    if (ri->query_string) mg_get_var(ri->query_string, strlen(ri->query_string), "model", model, sizeof model);
    int st = atomic_load(&s->state);
    if (!key_ok(s, c, &k->who)) {
        k->refuse_code = "invalid_api_key";
        snprintf(k->refuse, sizeof k->refuse, "%s",
                 "the API key is not valid or missing: send 'Authorization: Bearer KEY' or the "
                 "'openai-insecure-api-key.KEY' subprotocol");
    } else if (st != API_READY) {
        k->refuse_code = st == API_LOADING ? "model_loading" : "shutting_down";
        snprintf(k->refuse, sizeof k->refuse, "%s",
                 st == API_LOADING ? "the model is still loading; retry shortly" : "the server is shutting down");
    } else if (!s->asr) {
        k->refuse_code = "asr_unavailable";
        snprintf(k->refuse, sizeof k->refuse, "%s",
                 "the Realtime API needs speech recognition: start omni serve with --asr-model FILE (and --vad-model)");
    } else if (model[0] && !api_model_matches(s, model)) {
        k->refuse_code = "model_not_found";
        snprintf(k->refuse, sizeof k->refuse, "the model '%.100s' is not served here; this server has '%.100s'", model,
                 s->model_id);
    }
    mg_set_user_connection_data(c, k);
    return 0;
}

static void on_ready(struct mg_connection *c, void *ud) {
    (void)ud;
    struct rt_conn *k = mg_get_user_connection_data(c);
    if (!k) return;
    k->c = c;
    new_id(k, k->session_id, sizeof k->session_id, "sess");
    if (k->refuse[0]) {
        rt_error(k, k->refuse_code, NULL, NULL, "%s", k->refuse);
        pthread_mutex_lock(&k->wmu);
        mg_websocket_write(c, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, "\x03\xf0", 2); /* 1008: policy */
        k->closed = 1;
        pthread_mutex_unlock(&k->wmu);
        return;
    }
    k->vp = omni_voice_default_params();
    k->vp.n_ctx = omni_request_n_ctx(k->s->model, NULL); /* the server's --ctx, as for any request */
    k->vp.vad_model = k->s->p.vad_model;
    k->vp.input_rate = 24000;
    k->vp.on_event = on_voice_event;
    k->vp.user = k;
    api_guard_begin(&k->guard, k->s, k->c);
    api_guard_use(NULL);            /* the socket's, not this thread's next request's */
    k->guard.who = &k->who;
    k->guard.api = "realtime";
    if (api_guard_policy(&k->guard)) k->vp.moderate = rt_moderate;
    k->turn_detection = 1;
    struct err e = {{0}};
    k->v = omni_voice_new(k->s->model, api_asr_ctx(k->s->asr), &k->vp, e.msg, sizeof e.msg);
    if (!k->v) {
        rt_error(k, "server_error", NULL, NULL, "cannot start the voice session: %s", e.msg);
        return;
    }
    send_session(k, "session.created");
}

static void on_close(const struct mg_connection *c, void *ud) {
    (void)ud;
    struct rt_conn *k = mg_get_user_connection_data(c);
    if (!k) return;
    pthread_mutex_lock(&k->wmu);
    k->closed = 1;
    pthread_mutex_unlock(&k->wmu);
    omni_voice_free(k->v); /* joins the voice threads: no event can arrive after this */
    api_guard_end(&k->guard);
    mg_set_user_connection_data(c, NULL);
    pthread_mutex_destroy(&k->wmu);
    free(k->instructions);
    free(k->voice_name);
    free(k->language);
    free(k->partial);
    free(k);
}

static const char *rt_protocols[] = {"realtime"};
static struct mg_websocket_subprotocols rt_subprotocols = {1, rt_protocols};

void api_realtime_register(struct api_server *s) {
    mg_set_websocket_handler_with_subprotocols(s->ctx, RT_PATH, &rt_subprotocols, on_connect, on_ready, on_data,
                                               on_close, s);
}

int api_realtime_is_upgrade(const struct mg_connection *c) {
    const struct mg_request_info *ri = mg_get_request_info(c);
    const char *up = mg_get_header(c, "Upgrade");
    return ri->local_uri && !strcmp(ri->local_uri, RT_PATH) && up && !strcasecmp(up, "websocket");
}
