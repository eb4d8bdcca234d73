/* POST /v1/audio/speech and GET /v1/audio/voices. `instructions` (style) reach a voice
 * that takes them (omni_tts_instructions_apply: the neural voice's CustomVoice/VoiceDesign
 * models) and are ignored by the others, as OpenAI ignores them on tts-1; the response's
 * X-Omni-Instructions header says which ("applied" or "ignored"). Speech is synthesized on the HTTP
 * thread (omni_tts_speak takes turns inside the engine; the LLM engine never waits for it) and
 * streamed with chunked transfer as each piece is encoded, so the first bytes leave
 * while later sentences are still being made. A client that goes away stops it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/big_stack.h"
#include "api/meter.h"
#include "api/reply.h"
#include "api/routes.h"

/* Both handlers run on a full-size stack (api/big_stack.h): espeak-ng and libopus need it. */
struct call {
    struct api_server *s;
    struct mg_connection *c;
    const char *body;
    size_t len;
    int status;
};

static void voices(void *arg) {
    struct call *k = arg;
    char *j = omni_tts_voices_json();
    if (!j) { k->status = api_reply_error(k->c, 500, NULL, NULL, "cannot list voices (is espeak-ng-data installed?)"); return; }
    k->status = api_reply(k->c, 200, "application/json", j, strlen(j), NULL);
    free(j);
}

int route_voices(struct api_server *s, struct mg_connection *c) {
    struct call k = {s, c, NULL, 0, 0};
    if (api_run_big_stack(voices, &k)) return api_reply_error(c, 503, NULL, NULL, "cannot start a thread; retry shortly");
    return k.status;
}

/* Encoded bytes are gathered while one piece of speech is encoded and leave as one chunk. */
struct speech_out {
    struct mg_connection *c;
    omni_audio_encoder *enc;
    size_t samples; /* PCM samples synthesized (usage: audio seconds) */
    char *buf;
    size_t n, cap;
    int gone;     /* the client stopped reading: stop synthesizing */
    char err[512]; /* why the encoder failed */
};

static int flush_chunk(struct speech_out *o) {
    if (o->gone) return -1;
    if (o->n && mg_send_chunk(o->c, o->buf, (unsigned)o->n) < 0) o->gone = 1;
    o->n = 0;
    return o->gone ? -1 : 0;
}

static int on_bytes(const void *bytes, size_t n, void *ud) {
    struct speech_out *o = ud;
    if (o->n + n > o->cap) {
        size_t cap = (o->cap ? o->cap * 2 : 16384) + n;
        char *q = realloc(o->buf, cap);
        if (!q) return 1;
        o->buf = q;
        o->cap = cap;
    }
    memcpy(o->buf + o->n, bytes, n);
    o->n += n;
    return 0;
}

static int on_audio(const int16_t *pcm, size_t n, void *ud) {
    struct speech_out *o = ud;
    o->samples += n;
    if (omni_audio_encode_write(o->enc, pcm, n, o->err, sizeof o->err)) return 1;
    return flush_chunk(o) ? 1 : 0;
}

/* An optional string field: 0 when absent/null or a string (*out set), -1 otherwise. */
static int opt_string(const cJSON *j, const char *key, const char **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsString(v)) return -1;
    *out = v->valuestring;
    return 0;
}

static int speech(struct api_server *s, struct mg_connection *c, const char *body, size_t len) {
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!j) {
        size_t at = end && end >= body ? (size_t)(end - body) : 0;
        return api_reply_error(c, 400, NULL, "invalid_json", "the request body is not valid JSON (error near byte %zu)", at);
    }
    int status;
    struct err e = {{0}};
    omni_tts_params req = omni_tts_default_params();
    const char *model = NULL, *fmt_name = "mp3", *instructions = NULL, *stream_format = NULL;
    struct speech_out o = {.c = c};
    if (!cJSON_IsObject(j)) {
        status = api_reply_error(c, 400, NULL, "invalid_json", "the request body must be a JSON object");
        goto done;
    }
    /* Any model name is accepted (tts-1, gpt-4o-mini-tts, ...): the server has one voice engine. */
    static const char *const keys[] = {"model", "input", "voice", "response_format", "instructions",
                                       "stream_format", "language"};
    const char **dst[] = {&model, &req.input, &req.voice, &fmt_name, &instructions, &stream_format, &req.language};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (opt_string(j, keys[i], dst[i])) {
            status = api_reply_error(c, 400, keys[i], "invalid_type", "'%s' must be a string", keys[i]);
            goto done;
        }
    if (!req.input) {
        status = api_reply_error(c, 400, "input", "invalid_value", "'input' is required: the text to speak");
        goto done;
    }
    const cJSON *speed = cJSON_GetObjectItemCaseSensitive(j, "speed");
    if (speed && !cJSON_IsNull(speed)) {
        if (!cJSON_IsNumber(speed) ||
            !(speed->valuedouble >= OMNI_TTS_SPEED_MIN && speed->valuedouble <= OMNI_TTS_SPEED_MAX)) {
            status = api_reply_error(c, 400, "speed", "invalid_value", "'speed' must be a number from %.2f to %.1f",
                                     (double)OMNI_TTS_SPEED_MIN, (double)OMNI_TTS_SPEED_MAX);
            goto done;
        }
        req.speed = (float)speed->valuedouble;
    }
    omni_audio_format fmt;
    if (omni_audio_format_parse(fmt_name, &fmt, e.msg, sizeof e.msg)) {
        status = api_reply_error(c, 400, "response_format", "invalid_value", "'response_format': %s", e.msg);
        goto done;
    }
    if (stream_format && strcmp(stream_format, "audio")) {
        status = api_reply_error(c, 400, "stream_format", "invalid_value",
                                 "'stream_format' is '%.32s'; this server streams raw audio only (allowed: audio)",
                                 stream_format);
        goto done;
    }
    /* omni_tts_validate gives one message; check each field alone first so the 400 names it. */
    omni_tts_params probe = omni_tts_default_params();
    probe.input = req.input;
    if (omni_tts_validate(&probe, e.msg, sizeof e.msg)) {
        status = api_reply_error(c, 400, "input", "invalid_value", "'input': %s", e.msg);
        goto done;
    }
    probe.input = "a";
    probe.voice = req.voice;
    if (omni_tts_validate(&probe, e.msg, sizeof e.msg)) {
        status = api_reply_error(c, 400, "voice", "invalid_value", "'voice': %s", e.msg);
        goto done;
    }
    if (omni_tts_validate(&req, e.msg, sizeof e.msg)) {
        status = api_reply_error(c, 400, req.language ? "language" : NULL, "invalid_value", "%s", e.msg);
        goto done;
    }
    if (instructions && strlen(instructions) > 4 * OMNI_TTS_MAX_INPUT_CHARS) {
        status = api_reply_error(c, 400, "instructions", "invalid_value", "'instructions' is longer than %d bytes",
                                 4 * OMNI_TTS_MAX_INPUT_CHARS);
        goto done;
    }
    req.instructions = instructions && *instructions ? instructions : NULL;
    const char *ins_header = !req.instructions ? "" : omni_tts_instructions_apply(&req)
                                                          ? "X-Omni-Instructions: applied\r\n"
                                                          : "X-Omni-Instructions: ignored\r\n";

    if (!(o.enc = omni_audio_encode_new(fmt, OMNI_TTS_SAMPLE_RATE, on_bytes, &o, e.msg, sizeof e.msg))) {
        status = api_reply_error(c, 500, NULL, NULL, "%s", e.msg);
        goto done;
    }
    mg_printf(c,
              "HTTP/1.1 200 OK\r\n"
              "Content-Type: %s\r\n"
              "Transfer-Encoding: chunked\r\n"
              "Access-Control-Allow-Origin: *\r\n"
              "Cache-Control: no-store\r\n%s\r\n",
              omni_audio_format_mime(fmt), ins_header);
    status = 200;
    /* The header some formats emit at once goes out now: the client sees bytes early. */
    int ok = !flush_chunk(&o) && !omni_tts_speak(&req, on_audio, &o, e.msg, sizeof e.msg) &&
             !omni_audio_encode_finish(o.enc, e.msg, sizeof e.msg) && !flush_chunk(&o);
    api_meter_audio((double)o.samples / OMNI_TTS_SAMPLE_RATE);
    if (ok) api_meter_flush(1);      /* usage before the stream's end */
    if (ok) mg_send_chunk(c, "", 0); /* the last, empty chunk ends the stream */
    else mg_disable_keep_alive(c);   /* no end chunk: the client sees a cut-off stream, not a short one */
done:
    omni_audio_encode_free(o.enc);
    free(o.buf);
    cJSON_Delete(j);
    return status;
}

static void speech_call(void *arg) {
    struct call *k = arg;
    k->status = speech(k->s, k->c, k->body, k->len);
}

int route_speech(struct api_server *s, struct mg_connection *c, const char *body, size_t len) {
    struct call k = {s, c, body, len, 0};
    if (api_run_big_stack(speech_call, &k)) return api_reply_error(c, 503, NULL, NULL, "cannot start a thread; retry shortly");
    return k.status;
}
