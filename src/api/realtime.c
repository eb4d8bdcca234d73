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
#include "api/routes.h"
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
    int text_only;              /* output_modalities ["text"]: no audio events */
    int turn_detection;         /* server VAD answers turns by itself */
    atomic_int seq;             /* event and item ids */
    char session_id[32];

    /* voice-thread state (on_event is never re-entered) */
    char user_item[32], prev_item[32], resp_item[32], resp_id[32];
    char *partial;              /* last transcript sent as deltas */
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
    cJSON_AddItemToObject(o, "output_modalities", cJSON_CreateStringArray(mods + (k->text_only ? 1 : 0), 1));
    cJSON_AddItemToObject(o, "modalities", cJSON_CreateStringArray(mods, k->text_only ? 1 : 2));
    const char *voice = k->voice_name ? k->voice_name : "alloy";
    cJSON_AddStringToObject(o, "voice", voice);
    cJSON_AddStringToObject(o, "input_audio_format", "pcm16");
    cJSON_AddStringToObject(o, "output_audio_format", "pcm16");

    cJSON *td = NULL, *tr = NULL;
    if (k->turn_detection) {
        td = cJSON_CreateObject();
        cJSON_AddStringToObject(td, "type", "server_vad");
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
    cJSON_AddStringToObject(r, "status", status);
    cJSON *out = cJSON_AddArrayToObject(r, "output");
    if (e) {
        cJSON_AddItemToArray(out, message_item(k->resp_item, "assistant",
                                               strcmp(status, "completed") ? "incomplete" : "completed",
                                               k->text_only ? "output_text" : "output_audio",
                                               k->text_only ? "text" : "transcript", e->text ? e->text : ""));
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
        ev = rt_resp_event(k, k->text_only ? "response.output_text.delta" : "response.output_audio_transcript.delta");
        cJSON_AddStringToObject(ev, "delta", e->text ? e->text : "");
        rt_send(k, ev);
        break;
    case OMNI_VOICE_AUDIO: {
        if (k->text_only || !e->n_pcm) break;
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
        if (k->text_only) {
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
                                                       k->text_only ? "output_text" : "output_audio",
                                                       k->text_only ? "text" : "transcript", text));
        rt_send(k, ev);
        ev = rt_event("response.done");
        cJSON_AddItemToObject(ev, "response", response_json(k, st, e));
        rt_send(k, ev);
        snprintf(k->prev_item, sizeof k->prev_item, "%s", k->resp_item);
        break;
    }
    case OMNI_VOICE_ERROR:
        rt_error(k, "server_error", NULL, NULL, "%s", e->text ? e->text : "voice session error");
        break;
    }
}

/* ---- client events ---- */

/* Reads turn_detection (GA audio.input.turn_detection or beta top-level). */
static int parse_turn_detection(struct rt_conn *k, const cJSON *td, omni_voice_params *p, int *turn,
                                const char *param, const char *eid) {
    if (cJSON_IsNull(td)) { *turn = 0; p->auto_response = 0; p->interrupt_response = 0; return 0; }
    if (!cJSON_IsObject(td)) { rt_error(k, "invalid_value", param, eid, "%s must be an object or null", param); return -1; }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(td, "type");
    if (t && (!cJSON_IsString(t) || (strcmp(t->valuestring, "server_vad") && strcmp(t->valuestring, "semantic_vad")))) {
        rt_error(k, "invalid_value", param, eid, "%s.type must be \"server_vad\" (or \"semantic_vad\")", param);
        return -1;
    }
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(td, "threshold"))) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1) {
            rt_error(k, "invalid_value", param, eid, "%s.threshold must be a number from 0 to 1", param);
            return -1;
        }
        p->vad_threshold = (float)v->valuedouble;
    }
    static const char *ms_keys[2] = {"silence_duration_ms", "prefix_padding_ms"};
    int *ms_dst[2] = {&p->silence_ms, &p->prefix_padding_ms};
    for (int i = 0; i < 2; i++) {
        if (!(v = cJSON_GetObjectItemCaseSensitive(td, ms_keys[i]))) continue;
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 10000) {
            rt_error(k, "invalid_value", param, eid, "%s.%s must be a number of milliseconds from 0 to 10000", param,
                     ms_keys[i]);
            return -1;
        }
        *ms_dst[i] = (int)v->valuedouble;
    }
    p->auto_response = 1;
    p->interrupt_response = 1;
    if ((v = cJSON_GetObjectItemCaseSensitive(td, "create_response")) && cJSON_IsBool(v)) p->auto_response = cJSON_IsTrue(v);
    if ((v = cJSON_GetObjectItemCaseSensitive(td, "interrupt_response")) && cJSON_IsBool(v))
        p->interrupt_response = cJSON_IsTrue(v);
    *turn = 1;
    return 0;
}

static int parse_format(struct rt_conn *k, const cJSON *f, int *rate, const char *param, const char *eid) {
    if (cJSON_IsString(f)) { /* beta: "pcm16" */
        if (strcmp(f->valuestring, "pcm16")) {
            rt_error(k, "invalid_value", param, eid, "%s: only \"pcm16\" (24 kHz) is supported", param);
            return -1;
        }
        *rate = 24000;
        return 0;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(f, "type"), *r = cJSON_GetObjectItemCaseSensitive(f, "rate");
    if (!cJSON_IsObject(f) || !cJSON_IsString(t) || strcmp(t->valuestring, "audio/pcm") ||
        (r && (!cJSON_IsNumber(r) || (r->valueint != 24000 && r->valueint != 16000)))) {
        rt_error(k, "invalid_value", param, eid, "%s must be {\"type\":\"audio/pcm\",\"rate\":24000} (16000 also works)",
                 param);
        return -1;
    }
    *rate = r ? r->valueint : 24000;
    return 0;
}

static void handle_session_update(struct rt_conn *k, const cJSON *root, const char *eid) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, "session");
    if (!cJSON_IsObject(s)) { rt_error(k, "missing_required_parameter", "session", eid, "session.update needs a \"session\" object"); return; }
    omni_voice_params p = k->vp;
    int turn = k->turn_detection, text_only = k->text_only, rate = p.input_rate;
    char *instr = NULL, *voice = NULL, *lang = NULL;
    const cJSON *v, *audio = cJSON_GetObjectItemCaseSensitive(s, "audio");
    const cJSON *ain = cJSON_IsObject(audio) ? cJSON_GetObjectItemCaseSensitive(audio, "input") : NULL;
    const cJSON *aout = cJSON_IsObject(audio) ? cJSON_GetObjectItemCaseSensitive(audio, "output") : NULL;

#define FAIL(...) do { rt_error(k, "invalid_value", __VA_ARGS__); goto out; } while (0)
    if ((v = cJSON_GetObjectItemCaseSensitive(s, "instructions"))) {
        if (!cJSON_IsString(v)) FAIL("session.instructions", eid, "session.instructions must be a string");
        instr = strdup(v->valuestring);
    }
    const cJSON *vv = cJSON_GetObjectItemCaseSensitive(s, "voice");
    if (!vv && cJSON_IsObject(aout)) vv = cJSON_GetObjectItemCaseSensitive(aout, "voice");
    if (vv) {
        if (!cJSON_IsString(vv)) FAIL("session.voice", eid, "session.voice must be a string such as \"alloy\"");
        voice = strdup(vv->valuestring);
    }
    const cJSON *mods = cJSON_GetObjectItemCaseSensitive(s, "output_modalities");
    if (!mods) mods = cJSON_GetObjectItemCaseSensitive(s, "modalities");
    if (mods) {
        if (!cJSON_IsArray(mods)) FAIL("session.output_modalities", eid, "session.output_modalities must be an array");
        int audio_on = 0;
        const cJSON *m;
        cJSON_ArrayForEach(m, mods) {
            if (!cJSON_IsString(m) || (strcmp(m->valuestring, "audio") && strcmp(m->valuestring, "text")))
                FAIL("session.output_modalities", eid, "session.output_modalities may hold \"audio\" and \"text\"");
            if (!strcmp(m->valuestring, "audio")) audio_on = 1;
        }
        text_only = !audio_on;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(s, "input_audio_format")) &&
        parse_format(k, v, &rate, "session.input_audio_format", eid))
        goto out;
    if (cJSON_IsObject(ain) && (v = cJSON_GetObjectItemCaseSensitive(ain, "format")) &&
        parse_format(k, v, &rate, "session.audio.input.format", eid))
        goto out;
    int out_rate = 24000;
    if ((v = cJSON_GetObjectItemCaseSensitive(s, "output_audio_format")) &&
        parse_format(k, v, &out_rate, "session.output_audio_format", eid))
        goto out;
    if (cJSON_IsObject(aout) && (v = cJSON_GetObjectItemCaseSensitive(aout, "format")) &&
        parse_format(k, v, &out_rate, "session.audio.output.format", eid))
        goto out;
    if (out_rate != RT_RATE_OUT) FAIL("session.audio.output.format", eid, "output audio is 24 kHz pcm16 only");
    if ((v = cJSON_GetObjectItemCaseSensitive(s, "turn_detection")) &&
        parse_turn_detection(k, v, &p, &turn, "session.turn_detection", eid))
        goto out;
    if (cJSON_IsObject(ain) && (v = cJSON_GetObjectItemCaseSensitive(ain, "turn_detection")) &&
        parse_turn_detection(k, v, &p, &turn, "session.audio.input.turn_detection", eid))
        goto out;
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(s, "input_audio_transcription");
    if (!tr && cJSON_IsObject(ain)) tr = cJSON_GetObjectItemCaseSensitive(ain, "transcription");
    if (tr) {
        if (!cJSON_IsNull(tr) && !cJSON_IsObject(tr))
            FAIL("session.audio.input.transcription", eid, "session.audio.input.transcription must be an object or null");
        p.transcribe_input = cJSON_IsObject(tr);
        const cJSON *l = cJSON_IsObject(tr) ? cJSON_GetObjectItemCaseSensitive(tr, "language") : NULL;
        if (l) {
            if (!cJSON_IsString(l)) FAIL("session.audio.input.transcription.language", eid, "language must be a string like \"en\"");
            lang = strdup(l->valuestring);
        }
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(s, "temperature"))) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 2)
            FAIL("session.temperature", eid, "session.temperature must be a number from 0 to 2");
        p.temperature = (float)v->valuedouble;
    }
    v = cJSON_GetObjectItemCaseSensitive(s, "max_output_tokens");
    if (!v) v = cJSON_GetObjectItemCaseSensitive(s, "max_response_output_tokens");
    if (v) {
        if (cJSON_IsString(v) && !strcmp(v->valuestring, "inf")) p.max_tokens = 0;
        else if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 4096) p.max_tokens = v->valueint;
        else FAIL("session.max_output_tokens", eid, "session.max_output_tokens must be 1..4096 or \"inf\"");
    }
#undef FAIL
    p.input_rate = rate;
    if (instr) { free(k->instructions); k->instructions = instr; instr = NULL; }
    if (voice) { free(k->voice_name); k->voice_name = voice; voice = NULL; }
    if (lang) { free(k->language); k->language = lang; lang = NULL; }
    p.instructions = k->instructions;
    p.voice = k->voice_name;
    p.language = k->language;
    struct err e = {{0}};
    if (omni_voice_update(k->v, &p, e.msg, sizeof e.msg)) {
        rt_error(k, "invalid_value", "session", eid, "session.update: %s", e.msg);
        goto out;
    }
    k->vp = p;
    k->turn_detection = turn;
    k->text_only = text_only;
    send_session(k, "session.updated");
out:
    free(instr);
    free(voice);
    free(lang);
}

static void handle_append(struct rt_conn *k, const cJSON *root, const char *eid) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "audio");
    if (!cJSON_IsString(a)) { rt_error(k, "missing_required_parameter", "audio", eid, "input_audio_buffer.append needs \"audio\": base64 pcm16"); return; }
    uint8_t *bytes = NULL;
    size_t n = 0;
    struct err e = {{0}};
    if (omni_base64_decode(a->valuestring, strlen(a->valuestring), &bytes, &n, e.msg, sizeof e.msg)) {
        rt_error(k, "invalid_value", "audio", eid, "audio is not valid base64: %s", e.msg);
        return;
    }
    if (n % 2) rt_error(k, "invalid_value", "audio", eid, "audio must be whole 16-bit samples (got %zu bytes)", n);
    else if (n) {
        /* pcm16 is little-endian, as is every machine omni builds for */
        int16_t *pcm = malloc(n);
        if (pcm) {
            memcpy(pcm, bytes, n);
            omni_voice_push_pcm(k->v, pcm, n / 2);
            free(pcm);
        }
    }
    free(bytes);
}

static void handle_item_create(struct rt_conn *k, const cJSON *root, const char *eid) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, "item");
    if (!cJSON_IsObject(it)) { rt_error(k, "missing_required_parameter", "item", eid, "conversation.item.create needs an \"item\" object"); return; }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(it, "type"), *role = cJSON_GetObjectItemCaseSensitive(it, "role");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(it, "content");
    if (type && (!cJSON_IsString(type) || strcmp(type->valuestring, "message"))) {
        rt_error(k, "invalid_value", "item.type", eid, "item.type: only \"message\" items are supported");
        return;
    }
    if (!cJSON_IsString(role) ||
        (strcmp(role->valuestring, "user") && strcmp(role->valuestring, "assistant") && strcmp(role->valuestring, "system"))) {
        rt_error(k, "invalid_value", "item.role", eid, "item.role must be \"user\", \"assistant\" or \"system\"");
        return;
    }
    if (!cJSON_IsArray(content) || !cJSON_GetArraySize(content)) {
        rt_error(k, "invalid_value", "item.content", eid, "item.content must be a non-empty array of text parts");
        return;
    }
    size_t cap = 1, len = 0;
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(t)) t = cJSON_GetObjectItemCaseSensitive(part, "transcript");
        if (!cJSON_IsString(t)) {
            rt_error(k, "invalid_value", "item.content", eid,
                     "item.content parts must carry \"text\" (input_text/output_text); audio parts are not supported here");
            return;
        }
        cap += strlen(t->valuestring) + 1;
    }
    char *text = malloc(cap);
    if (!text) return;
    cJSON_ArrayForEach(part, content) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(t)) t = cJSON_GetObjectItemCaseSensitive(part, "transcript");
        size_t n = strlen(t->valuestring);
        if (len) text[len++] = '\n';
        memcpy(text + len, t->valuestring, n);
        len += n;
    }
    text[len] = 0;
    struct err e = {{0}};
    if (omni_voice_add_message(k->v, role->valuestring, text, e.msg, sizeof e.msg)) {
        rt_error(k, "invalid_value", "item", eid, "conversation.item.create: %s", e.msg);
        free(text);
        return;
    }
    char id[32];
    const cJSON *cid = cJSON_GetObjectItemCaseSensitive(it, "id");
    if (cJSON_IsString(cid) && strlen(cid->valuestring) < sizeof id) snprintf(id, sizeof id, "%s", cid->valuestring);
    else new_id(k, id, sizeof id, "item");
    int user = !strcmp(role->valuestring, "user");
    cJSON *ev = rt_event("conversation.item.created");
    cJSON_AddNullToObject(ev, "previous_item_id");
    cJSON_AddItemToObject(ev, "item", message_item(id, role->valuestring, "completed", user ? "input_text" : "output_text",
                                                   "text", text));
    rt_send(k, ev);
    free(text);
}

/* conversation.item.truncate: the client stopped playing the latest reply at
 * audio_end_ms. Works while the reply is still being made (it is cut when it ends) and
 * after (its history entry is cut now), which is the common case: generation outruns
 * playback, so a user who interrupts usually interrupts a reply that is already done. */
static void handle_truncate(struct rt_conn *k, const cJSON *root, const char *eid) {
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(root, "audio_end_ms");
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, "item_id");
    if (!cJSON_IsNumber(ms) || ms->valuedouble < 0) {
        rt_error(k, "invalid_value", "audio_end_ms", eid, "audio_end_ms must be a non-negative number");
        return;
    }
    if (item && !cJSON_IsString(item)) {
        rt_error(k, "invalid_value", "item_id", eid, "item_id must be a string");
        return;
    }
    if (omni_voice_truncate(k->v, (int64_t)(ms->valuedouble * (RT_RATE_OUT / 1000))) < 0) {
        rt_error(k, "invalid_value", "item_id", eid, "there is no assistant reply to truncate");
        return;
    }
    cJSON *ev = rt_event("conversation.item.truncated");
    cJSON_AddStringToObject(ev, "item_id", cJSON_IsString(item) ? item->valuestring : "");
    cJSON_AddNumberToObject(ev, "content_index", 0);
    cJSON_AddNumberToObject(ev, "audio_end_ms", ms->valuedouble);
    rt_send(k, ev);
}

static int on_data(struct mg_connection *c, int bits, char *data, size_t len, void *ud) {
    (void)ud;
    struct rt_conn *k = mg_get_user_connection_data(c);
    int op = bits & 0x0f;
    if (op == MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE) return 0;
    if (!k || !k->v || (op != MG_WEBSOCKET_OPCODE_TEXT && op != MG_WEBSOCKET_OPCODE_BINARY)) return 1;
    cJSON *root = cJSON_ParseWithLength(data, len);
    if (!root || !cJSON_IsObject(root)) {
        rt_error(k, "invalid_json", NULL, NULL, "the event is not a JSON object (%zu bytes)", len);
        cJSON_Delete(root);
        return 1;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "type"), *eidj = cJSON_GetObjectItemCaseSensitive(root, "event_id");
    const char *eid = cJSON_IsString(eidj) ? eidj->valuestring : NULL;
    if (!cJSON_IsString(t)) rt_error(k, "missing_required_parameter", "type", eid, "the event has no string \"type\"");
    else if (!strcmp(t->valuestring, "session.update")) handle_session_update(k, root, eid);
    else if (!strcmp(t->valuestring, "input_audio_buffer.append")) handle_append(k, root, eid);
    else if (!strcmp(t->valuestring, "input_audio_buffer.commit")) omni_voice_commit(k->v);
    else if (!strcmp(t->valuestring, "input_audio_buffer.clear")) {
        omni_voice_clear(k->v);
        rt_send(k, rt_event("input_audio_buffer.cleared"));
    } else if (!strcmp(t->valuestring, "conversation.item.create")) handle_item_create(k, root, eid);
    else if (!strcmp(t->valuestring, "response.create")) omni_voice_respond(k->v);
    else if (!strcmp(t->valuestring, "response.cancel")) omni_voice_cancel(k->v);
    else if (!strcmp(t->valuestring, "conversation.item.truncate")) handle_truncate(k, root, eid); else if (!strcmp(t->valuestring, "output_audio_buffer.clear")) omni_voice_cancel(k->v);
    else rt_error(k, "unknown_event", "type", eid, "unknown event type \"%.100s\"", t->valuestring);
    cJSON_Delete(root);
    return 1;
}

/* ---- connection lifetime ---- */

/* The API key may come as a header, or (browsers cannot set headers) as the
 * "openai-insecure-api-key.KEY" subprotocol the OpenAI clients also send. */
static int key_ok(struct api_server *s, const struct mg_connection *c) {
    if (!s->keys.n) return 1;
    const char *h = mg_get_header(c, "Authorization");
    if (h && api_keys_check(&s->keys, h)) return 1;
    const char *proto = mg_get_header(c, "Sec-WebSocket-Protocol");
    const char *pre = "openai-insecure-api-key.";
    for (const char *p = proto; p && (p = strstr(p, pre));) {
        p += strlen(pre);
        size_t n = strcspn(p, ", ");
        char bearer[512];
        if (n < sizeof bearer - 8) {
            snprintf(bearer, sizeof bearer, "Bearer %.*s", (int)n, p);
            if (api_keys_check(&s->keys, bearer)) return 1;
        }
    }
    return 0;
}

static int on_connect(const struct mg_connection *c, void *ud) {
    struct api_server *s = ud;
    struct rt_conn *k = calloc(1, sizeof *k);
    if (!k) return 1;
    k->s = s;
    pthread_mutex_init(&k->wmu, NULL);
    atomic_init(&k->seq, 1);
    /* Refusals are reported as an error event after the handshake: a refused handshake
     * gives the client only a reset connection and no reason. */
    const struct mg_request_info *ri = mg_get_request_info(c);
    char model[256] = "";
    if (ri->query_string) mg_get_var(ri->query_string, strlen(ri->query_string), "model", model, sizeof model);
    int st = atomic_load(&s->state);
    if (!key_ok(s, c)) {
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
    k->vp.input_rate = 24000;
    k->vp.n_ctx = omni_request_n_ctx(k->s->model, NULL); /* the server's --ctx, as for any request */
    k->vp.on_event = on_voice_event;
    k->vp.user = k;
    k->turn_detection = 1;
    k->vp.vad_model = k->s->p.vad_model;
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
