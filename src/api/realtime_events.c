/* Realtime client events → requests; see realtime_events.h. The checks and messages
 * are the ones the Realtime route always had, moved here from realtime.c. */
#include "api/realtime_events.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>


static int bad_event(struct rt_bad_event *b, const char *code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad_event(struct rt_bad_event *b, const char *code, const char *param, const char *fmt, ...) {
    b->code = code;
    snprintf(b->param, sizeof b->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->msg, sizeof b->msg, fmt, ap);
    va_end(ap);
    return -1;
}

static char *dup_or_fail(const char *s, struct rt_bad_event *bad, int *failed) {
    char *r = strdup(s);
    if (!r) *failed = bad_event(bad, "server_error", NULL, "out of memory");
    return r;
}

/* semantic_vad's eagerness → the end-of-turn silences (omni_voice_params.eot_*): how
 * long the quiet after a finished sentence, after words that say neither way, and after
 * words that trail off ("and", "um", "그리고") must be before the turn ends. */
static const struct { const char *name; int complete_ms, unsure_ms, continue_ms; } eagerness[] = {
    {"high", 100, 200, 500},
    {"medium", 120, 280, 800},
    {"auto", 120, 280, 800},
    {"low", 250, 600, 1500},
};

const char *rt_eagerness_name(const omni_voice_params *p) {
    for (size_t i = 0; i < sizeof eagerness / sizeof eagerness[0]; i++)
        if (p->eot_complete_ms == eagerness[i].complete_ms && p->eot_continue_ms == eagerness[i].continue_ms)
            return i == 1 ? "auto" : eagerness[i].name; /* medium and auto are one setting */
    return "auto";
}

/* Reads turn_detection (GA audio.input.turn_detection or beta top-level). */
static int parse_turn_detection(const cJSON *td, omni_voice_params *p, int *turn, const char *param,
                                struct rt_bad_event *bad) {
    if (cJSON_IsNull(td)) { *turn = 0; p->auto_response = 0; p->interrupt_response = 0; return 0; }
    if (!cJSON_IsObject(td)) return bad_event(bad, "invalid_value", param, "%s must be an object or null", param);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(td, "type");
    if (t && (!cJSON_IsString(t) || (strcmp(t->valuestring, "server_vad") && strcmp(t->valuestring, "semantic_vad"))))
        return bad_event(bad, "invalid_value", param, "%s.type must be \"server_vad\" (or \"semantic_vad\")", param);
    const cJSON *v;
    /* server_vad: a fixed silence ends the turn; semantic_vad: the silence follows what was said */
    if (t) p->end_of_turn = strcmp(t->valuestring, "semantic_vad") ? OMNI_VOICE_EOT_SILENCE : OMNI_VOICE_EOT_TRANSCRIPT;
    if ((v = cJSON_GetObjectItemCaseSensitive(td, "eagerness"))) {
        size_t i = 0, n = sizeof eagerness / sizeof eagerness[0];
        while (cJSON_IsString(v) && i < n && strcmp(v->valuestring, eagerness[i].name)) i++;
        if (!cJSON_IsString(v) || i == n)
            return bad_event(bad, "invalid_value", param, "%s.eagerness must be \"low\", \"medium\", \"high\" or \"auto\"",
                             param);
        p->eot_complete_ms = eagerness[i].complete_ms;
        p->silence_ms = eagerness[i].unsure_ms;
        p->eot_continue_ms = eagerness[i].continue_ms;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(td, "threshold"))) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1)
            return bad_event(bad, "invalid_value", param, "%s.threshold must be a number from 0 to 1", param);
        p->vad_threshold = (float)v->valuedouble;
    }
    static const char *ms_keys[2] = {"silence_duration_ms", "prefix_padding_ms"};
    int *ms_dst[2] = {&p->silence_ms, &p->prefix_padding_ms};
    for (int i = 0; i < 2; i++) {
        if (!(v = cJSON_GetObjectItemCaseSensitive(td, ms_keys[i]))) continue;
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 10000)
            return bad_event(bad, "invalid_value", param, "%s.%s must be a number of milliseconds from 0 to 10000", param,
                             ms_keys[i]);
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

static int parse_format(const cJSON *f, int *rate, const char *param, struct rt_bad_event *bad) {
    if (cJSON_IsString(f)) { /* beta: "pcm16" */
        if (strcmp(f->valuestring, "pcm16"))
            return bad_event(bad, "invalid_value", param, "%s: only \"pcm16\" (24 kHz) is supported", param);
        *rate = 24000;
        return 0;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(f, "type"), *r = cJSON_GetObjectItemCaseSensitive(f, "rate");
    if (!cJSON_IsObject(f) || !cJSON_IsString(t) || strcmp(t->valuestring, "audio/pcm") ||
        (r && (!cJSON_IsNumber(r) || (r->valueint != 24000 && r->valueint != 16000))))
        return bad_event(bad, "invalid_value", param, "%s must be {\"type\":\"audio/pcm\",\"rate\":24000} (16000 also works)",
                         param);
    *rate = r ? r->valueint : 24000;
    return 0;
}

static int parse_session_update(const cJSON *root, const struct rt_settings *cur, struct rt_request *rq,
                                struct rt_bad_event *bad) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, "session");
    if (!cJSON_IsObject(s))
        return bad_event(bad, "missing_required_parameter", "session", "session.update needs a \"session\" object");
    omni_voice_params p = cur->p;
    int turn = cur->turn_detection, text_only = cur->text_only, rate = p.input_rate, failed = 0;
    const cJSON *v, *audio = cJSON_GetObjectItemCaseSensitive(s, "audio");
    const cJSON *ain = cJSON_IsObject(audio) ? cJSON_GetObjectItemCaseSensitive(audio, "input") : NULL;
    const cJSON *aout = cJSON_IsObject(audio) ? cJSON_GetObjectItemCaseSensitive(audio, "output") : NULL;

#define FAIL(param, ...) return bad_event(bad, "invalid_value", param, __VA_ARGS__)
    if ((v = cJSON_GetObjectItemCaseSensitive(s, "instructions"))) {
        if (!cJSON_IsString(v)) FAIL("session.instructions", "session.instructions must be a string");
        if (!(rq->instructions = dup_or_fail(v->valuestring, bad, &failed))) return failed;
    }
    const cJSON *vv = cJSON_GetObjectItemCaseSensitive(s, "voice");
    if (!vv && cJSON_IsObject(aout)) vv = cJSON_GetObjectItemCaseSensitive(aout, "voice");
    if (vv) {
        if (!cJSON_IsString(vv)) FAIL("session.voice", "session.voice must be a string such as \"alloy\"");
        if (!(rq->voice = dup_or_fail(vv->valuestring, bad, &failed))) return failed;
    }
    const cJSON *mods = cJSON_GetObjectItemCaseSensitive(s, "output_modalities");
    if (!mods) mods = cJSON_GetObjectItemCaseSensitive(s, "modalities");
    if (mods) {
        if (!cJSON_IsArray(mods)) FAIL("session.output_modalities", "session.output_modalities must be an array");
        int audio_on = 0;
        const cJSON *m;
        cJSON_ArrayForEach(m, mods) {
            if (!cJSON_IsString(m) || (strcmp(m->valuestring, "audio") && strcmp(m->valuestring, "text")))
                FAIL("session.output_modalities", "session.output_modalities may hold \"audio\" and \"text\"");
            if (!strcmp(m->valuestring, "audio")) audio_on = 1;
        }
        text_only = !audio_on;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(s, "input_audio_format")) &&
        parse_format(v, &rate, "session.input_audio_format", bad))
        return -1;
    if (cJSON_IsObject(ain) && (v = cJSON_GetObjectItemCaseSensitive(ain, "format")) &&
        parse_format(v, &rate, "session.audio.input.format", bad))
        return -1;
    int out_rate = 24000;
    if ((v = cJSON_GetObjectItemCaseSensitive(s, "output_audio_format")) &&
        parse_format(v, &out_rate, "session.output_audio_format", bad))
        return -1;
    if (cJSON_IsObject(aout) && (v = cJSON_GetObjectItemCaseSensitive(aout, "format")) &&
        parse_format(v, &out_rate, "session.audio.output.format", bad))
        return -1;
    if (out_rate != 24000) FAIL("session.audio.output.format", "output audio is 24 kHz pcm16 only");
    if ((v = cJSON_GetObjectItemCaseSensitive(s, "turn_detection")) &&
        parse_turn_detection(v, &p, &turn, "session.turn_detection", bad))
        return -1;
    if (cJSON_IsObject(ain) && (v = cJSON_GetObjectItemCaseSensitive(ain, "turn_detection")) &&
        parse_turn_detection(v, &p, &turn, "session.audio.input.turn_detection", bad))
        return -1;
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(s, "input_audio_transcription");
    if (!tr && cJSON_IsObject(ain)) tr = cJSON_GetObjectItemCaseSensitive(ain, "transcription");
    if (tr) {
        if (!cJSON_IsNull(tr) && !cJSON_IsObject(tr))
            FAIL("session.audio.input.transcription", "session.audio.input.transcription must be an object or null");
        p.transcribe_input = cJSON_IsObject(tr);
        const cJSON *l = cJSON_IsObject(tr) ? cJSON_GetObjectItemCaseSensitive(tr, "language") : NULL;
        if (l) {
            if (!cJSON_IsString(l)) FAIL("session.audio.input.transcription.language", "language must be a string like \"en\"");
            if (!(rq->language = dup_or_fail(l->valuestring, bad, &failed))) return failed;
        }
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(s, "temperature"))) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 2)
            FAIL("session.temperature", "session.temperature must be a number from 0 to 2");
        p.temperature = (float)v->valuedouble;
    }
    v = cJSON_GetObjectItemCaseSensitive(s, "max_output_tokens");
    if (!v) v = cJSON_GetObjectItemCaseSensitive(s, "max_response_output_tokens");
    if (v) {
        if (cJSON_IsString(v) && !strcmp(v->valuestring, "inf")) p.max_tokens = 0;
        else if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 4096) p.max_tokens = v->valueint;
        else FAIL("session.max_output_tokens", "session.max_output_tokens must be 1..4096 or \"inf\"");
    }
#undef FAIL
    p.input_rate = rate;
    rq->session.p = p;
    rq->session.turn_detection = turn;
    rq->session.text_only = text_only;
    return 0;
}

static int parse_append(const cJSON *root, struct rt_request *rq, struct rt_bad_event *bad) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "audio");
    if (!cJSON_IsString(a))
        return bad_event(bad, "missing_required_parameter", "audio", "input_audio_buffer.append needs \"audio\": base64 pcm16");
    uint8_t *bytes = NULL;
    size_t n = 0;
    char derr[200];
    if (omni_base64_decode(a->valuestring, strlen(a->valuestring), &bytes, &n, derr, sizeof derr))
        return bad_event(bad, "invalid_value", "audio", "audio is not valid base64: %s", derr);
    if (n % 2) {
        free(bytes);
        return bad_event(bad, "invalid_value", "audio", "audio must be whole 16-bit samples (got %zu bytes)", n);
    }
    /* pcm16 is little-endian, as is every machine omni builds for; malloc'ed memory is aligned for it */
    rq->pcm = (int16_t *)bytes;
    rq->n_pcm = n / 2;
    return 0;
}

static int parse_item_create(const cJSON *root, struct rt_request *rq, struct rt_bad_event *bad) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, "item");
    if (!cJSON_IsObject(it))
        return bad_event(bad, "missing_required_parameter", "item", "conversation.item.create needs an \"item\" object");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(it, "type"), *role = cJSON_GetObjectItemCaseSensitive(it, "role");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(it, "content");
    if (type && (!cJSON_IsString(type) || strcmp(type->valuestring, "message")))
        return bad_event(bad, "invalid_value", "item.type", "item.type: only \"message\" items are supported");
    static const char *const roles[] = {"user", "assistant", "system"};
    for (int i = 0; i < 3 && cJSON_IsString(role); i++)
        if (!strcmp(role->valuestring, roles[i])) rq->role = roles[i];
    if (!rq->role) return bad_event(bad, "invalid_value", "item.role", "item.role must be \"user\", \"assistant\" or \"system\"");
    if (!cJSON_IsArray(content) || !cJSON_GetArraySize(content))
        return bad_event(bad, "invalid_value", "item.content", "item.content must be a non-empty array of text parts");
    size_t cap = 1, len = 0;
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(t)) t = cJSON_GetObjectItemCaseSensitive(part, "transcript");
        if (!cJSON_IsString(t))
            return bad_event(bad, "invalid_value", "item.content",
                             "item.content parts must carry \"text\" (input_text/output_text); audio parts are not supported here");
        cap += strlen(t->valuestring) + 1;
    }
    char *text = malloc(cap);
    if (!text) return bad_event(bad, "server_error", NULL, "out of memory");
    cJSON_ArrayForEach(part, content) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(t)) t = cJSON_GetObjectItemCaseSensitive(part, "transcript");
        size_t n = strlen(t->valuestring);
        if (len) text[len++] = '\n';
        memcpy(text + len, t->valuestring, n);
        len += n;
    }
    text[len] = 0;
    rq->text = text;
    const cJSON *cid = cJSON_GetObjectItemCaseSensitive(it, "id");
    int failed = 0;
    if (cJSON_IsString(cid) && strlen(cid->valuestring) < 32 && !(rq->item_id = dup_or_fail(cid->valuestring, bad, &failed)))
        return failed;
    return 0;
}

static int parse_truncate(const cJSON *root, struct rt_request *rq, struct rt_bad_event *bad) {
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(root, "audio_end_ms");
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, "item_id");
    /* (more than 31 years would overflow the sample count) */
    if (!cJSON_IsNumber(ms) || !(ms->valuedouble >= 0 && ms->valuedouble <= 1e12))
        return bad_event(bad, "invalid_value", "audio_end_ms", "audio_end_ms must be a non-negative number");
    if (item && !cJSON_IsString(item)) return bad_event(bad, "invalid_value", "item_id", "item_id must be a string");
    rq->audio_end_ms = ms->valuedouble;
    int failed = 0;
    if (cJSON_IsString(item) && !(rq->item_id = dup_or_fail(item->valuestring, bad, &failed))) return failed;
    return 0;
}

int rt_request_parse(const char *data, size_t len, const struct rt_settings *cur, struct rt_request *rq,
                     struct rt_bad_event *bad) {
    memset(rq, 0, sizeof *rq);
    memset(bad, 0, sizeof *bad);
    cJSON *root = cJSON_ParseWithLength(data, len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return bad_event(bad, "invalid_json", NULL, "the event is not a JSON object (%zu bytes)", len);
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "type"), *eidj = cJSON_GetObjectItemCaseSensitive(root, "event_id");
    int rc = 0;
    if (cJSON_IsString(eidj) && !(rq->event_id = strdup(eidj->valuestring))) rc = bad_event(bad, "server_error", NULL, "out of memory");
    else if (!cJSON_IsString(t)) rc = bad_event(bad, "missing_required_parameter", "type", "the event has no string \"type\"");
    else {
        static const struct { const char *name; enum rt_request_type type; } types[] = {
            {"session.update", RT_SESSION_UPDATE},         {"input_audio_buffer.append", RT_AUDIO_APPEND},
            {"input_audio_buffer.commit", RT_AUDIO_COMMIT}, {"input_audio_buffer.clear", RT_AUDIO_CLEAR},
            {"conversation.item.create", RT_ITEM_CREATE},   {"response.create", RT_RESPONSE_CREATE},
            {"response.cancel", RT_RESPONSE_CANCEL},        {"conversation.item.truncate", RT_ITEM_TRUNCATE},
            {"output_audio_buffer.clear", RT_OUTPUT_CLEAR},
        };
        int k = -1;
        for (int i = 0; i < (int)(sizeof types / sizeof *types); i++)
            if (!strcmp(t->valuestring, types[i].name)) k = i;
        if (k < 0) rc = bad_event(bad, "unknown_event", "type", "unknown event type \"%.100s\"", t->valuestring);
        else {
            rq->type = types[k].type;
            if (rq->type == RT_SESSION_UPDATE) rc = parse_session_update(root, cur, rq, bad);
            else if (rq->type == RT_AUDIO_APPEND) rc = parse_append(root, rq, bad);
            else if (rq->type == RT_ITEM_CREATE) rc = parse_item_create(root, rq, bad);
            else if (rq->type == RT_ITEM_TRUNCATE) rc = parse_truncate(root, rq, bad);
        }
    }
    cJSON_Delete(root);
    return rc;
}

void rt_request_free(struct rt_request *rq) {
    free(rq->event_id);
    free(rq->instructions);
    free(rq->voice);
    free(rq->language);
    free(rq->pcm);
    free(rq->text);
    free(rq->item_id);
    memset(rq, 0, sizeof *rq);
}
