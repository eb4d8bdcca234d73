/* POST /v1/audio/transcriptions and /v1/audio/translations: a multipart upload (read with
 * civetweb's own form parser, bounded by --max-body) is decoded, run through the
 * server's Whisper model (api/asr.h) and answered in OpenAI's shapes: json, text,
 * srt, vtt or verbose_json (segments, and words when asked for). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/asr.h"
#include "api/meter.h"
#include "api/multipart.h"
#include "api/model_ref.h"
#include "api/reply.h"
#include "api/routes.h"

/* civetweb's form parser calls these; the fields are collected by api/multipart.c. */
static int field_found(const char *key, const char *filename, char *path, size_t pathlen, void *ud) {
    return api_form_field_begin(ud, key) ? MG_FORM_FIELD_STORAGE_GET : MG_FORM_FIELD_STORAGE_SKIP;
}

static int field_get(const char *key, const char *value, size_t len, void *ud) {
    return api_form_field_data(ud, value, len) ? MG_FORM_FIELD_HANDLE_ABORT : MG_FORM_FIELD_HANDLE_GET;
}

static int field_store(const char *path, long long size, void *ud) { return MG_FORM_FIELD_HANDLE_NEXT; }

/* Text with every invalid UTF-8 byte replaced by U+FFFD (tokens can split characters),
 * as `omni transcribe` prints JSON. */
static void add_text(cJSON *obj, const char *key, const char *raw) {
    char *v = omni_utf8_sanitize(raw, strlen(raw));
    cJSON_AddStringToObject(obj, key, v ? v : "");
    free(v);
}

struct out_buf {
    char *p;
    size_t n, cap;
    int oom;
};

static void out_printf(struct out_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct out_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k < 0 || b->oom) return;
    if (b->n + (size_t)k + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 1024) + (size_t)k;
        char *q = realloc(b->p, cap);
        if (!q) { b->oom = 1; return; }
        b->p = q;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

static void stamp(struct out_buf *b, int64_t cs, char sep) {
    int64_t ms = cs * 10;
    out_printf(b, "%02d:%02d:%02d%c%03d", (int)(ms / 3600000), (int)(ms / 60000 % 60), (int)(ms / 1000 % 60), sep,
               (int)(ms % 1000));
}

/* SubRip or WebVTT cues, one per segment (the same text `omni transcribe -f srt|vtt` prints). */
static int reply_subtitles(struct mg_connection *c, const omni_asr_result *r, int vtt) {
    struct out_buf b = {0};
    if (vtt) out_printf(&b, "WEBVTT\n\n");
    for (int i = 0; i < r->n_segments; i++) {
        if (!vtt) out_printf(&b, "%d\n", i + 1);
        stamp(&b, r->segments[i].t0, vtt ? '.' : ',');
        out_printf(&b, " --> ");
        stamp(&b, r->segments[i].t1, vtt ? '.' : ',');
        out_printf(&b, "\n%s\n\n", r->segments[i].text + strspn(r->segments[i].text, " "));
    }
    int st = b.oom ? api_reply_error(c, 500, NULL, NULL, "out of memory")
                   : api_reply(c, 200, vtt ? "text/vtt; charset=utf-8" : "application/x-subrip; charset=utf-8",
                               b.p ? b.p : "", b.n, NULL);
    free(b.p);
    return st;
}

static cJSON *words_json(const omni_asr_result *r) {
    cJSON *words = cJSON_CreateArray();
    for (int i = 0; i < r->n_words; i++) {
        cJSON *w = cJSON_CreateObject();
        add_text(w, "word", r->words[i].text);
        cJSON_AddNumberToObject(w, "start", r->words[i].t0 / 100.0);
        cJSON_AddNumberToObject(w, "end", r->words[i].t1 / 100.0);
        cJSON_AddItemToArray(words, w);
    }
    return words;
}

static cJSON *verbose_json(const omni_asr_result *r, double duration, int translate, float temperature,
                           int want_words, int want_segments) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "task", translate ? "translate" : "transcribe");
    add_text(o, "language", r->language);
    cJSON_AddNumberToObject(o, "duration", duration);
    add_text(o, "text", r->text);
    if (want_segments) {
        cJSON *segs = cJSON_AddArrayToObject(o, "segments");
        for (int i = 0; i < r->n_segments; i++) {
            const omni_asr_segment *g = &r->segments[i];
            cJSON *s = cJSON_CreateObject();
            cJSON_AddNumberToObject(s, "id", i);
            cJSON_AddNumberToObject(s, "seek", (double)g->t0); /* centiseconds = mel frames */
            cJSON_AddNumberToObject(s, "start", g->t0 / 100.0);
            cJSON_AddNumberToObject(s, "end", g->t1 / 100.0);
            add_text(s, "text", g->text);
            cJSON *toks = cJSON_AddArrayToObject(s, "tokens");
            double lp = 0;
            int n_text = 0;
            for (int k = 0; k < g->n_tokens; k++) {
                cJSON_AddItemToArray(toks, cJSON_CreateNumber(g->tokens[k].id));
                if (!g->tokens[k].special && g->tokens[k].p > 0) { lp += log(g->tokens[k].p); n_text++; }
            }
            cJSON_AddNumberToObject(s, "temperature", temperature);
            cJSON_AddNumberToObject(s, "avg_logprob", n_text ? lp / n_text : 0.0);
            cJSON_AddNumberToObject(s, "no_speech_prob", g->no_speech_prob);
            cJSON_AddItemToArray(segs, s);
        }
    }
    if (want_words) cJSON_AddItemToObject(o, "words", words_json(r));
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddStringToObject(u, "type", "duration");
    cJSON_AddNumberToObject(u, "seconds", ceil(duration));
    return o;
}

static const char *const formats[] = {"json", "text", "srt", "verbose_json", "vtt", NULL};

int route_transcriptions(struct api_server *s, struct mg_connection *c, int translate) {
    const struct mg_request_info *ri = mg_get_request_info(c);
    const char *route = translate ? "translations" : "transcriptions";
    if (!s->asr && !s->serve_store) {
        api_reply_then_close(c);
        api_reply_error(c, 400, "model", "no_speech_model",
                        "this server has no speech recognition model; start it with `omni serve --asr-model "
                        "WHISPER.bin` to use /v1/audio/%s", route);
        api_drain_body(c);
        return 400;
    }
    if (ri->content_length > (long long)s->p.max_body) {
        api_reply_then_close(c);
        api_reply_error(c, 413, NULL, "request_too_large",
                        "the upload is larger than this server's limit of %zu bytes (see `omni serve --max-body`)",
                        s->p.max_body);
        api_drain_body(c);
        return 413;
    }
    const char *ctype = mg_get_header(c, "Content-Type");
    if (!ctype || strncasecmp(ctype, "multipart/form-data", 19)) {
        api_reply_then_close(c);
        api_reply_error(c, 400, NULL, "invalid_content_type",
                        "/v1/audio/%s takes a multipart/form-data upload with the audio in a field named 'file' "
                        "(got Content-Type %s)", route, ctype ? ctype : "none");
        api_drain_body(c);
        return 400;
    }

    struct api_form fm;
    api_form_init(&fm, s->p.max_body);
    struct mg_form_data_handler h = {field_found, field_get, field_store, &fm};
    int nf = mg_handle_form_request(c, &h);
    api_form_end(&fm);

    int status;
    omni_asr_result *r = NULL;
    struct err e = {{0}};
    struct api_asr *a = NULL, *borrowed = NULL;
    struct api_model_ref mref = {.keep_alive_ms = OMNI_KEEP_ALIVE_DEFAULT};
    if (fm.too_big) {
        api_reply_then_close(c);
        status = api_reply_error(c, 413, NULL, "request_too_large",
                                 "the upload is larger than this server's limit of %zu bytes (see `omni serve --max-body`)",
                                 s->p.max_body);
        api_drain_body(c);
        goto done;
    }
    if (fm.oom) { api_reply_then_close(c); status = api_reply_error(c, 500, NULL, NULL, "out of memory reading the upload"); api_drain_body(c); goto done; }
    if (fm.text_too_long) {
        const char *name = api_form_field_names[fm.text_too_long - 1];
        api_reply_then_close(c);
        status = api_reply_error(c, 400, name, "invalid_value", "'%s' is longer than %u bytes", name, API_FORM_MAX_TEXT);
        api_drain_body(c);
        goto done;
    }
    /* civetweb 1.15 reports an error after some well-formed bodies too (the openai client's):
     * trust what arrived when the file did. */
    if (nf < 0 && !fm.f[API_FORM_FILE].seen) {
        api_reply_then_close(c);
        status = api_reply_error(c, 400, NULL, "invalid_multipart", "the multipart/form-data body could not be read");
        api_drain_body(c);
        goto done;
    }
    if (!fm.f[API_FORM_FILE].seen || !fm.f[API_FORM_FILE].n) {
        status = api_reply_error(c, 400, "file", "invalid_value",
                                 "'file' is required: upload the audio (wav, mp3, flac, ogg, opus, ...) in a multipart "
                                 "field named 'file'");
        goto done;
    }

    const char *fmt = api_form_text(&fm, API_FORM_FORMAT) ? api_form_text(&fm, API_FORM_FORMAT) : "json";
    int fi = 0;
    while (formats[fi] && strcmp(formats[fi], fmt)) fi++;
    if (!formats[fi]) {
        status = api_reply_error(c, 400, "response_format", "invalid_value",
                                 "'response_format' is '%.40s'; allowed: json, text, srt, verbose_json, vtt", fmt);
        goto done;
    }
    /* The model: a store (or aliased) Whisper model by name; any other name goes to the
     * --asr-model one when there is one (clients send "whisper-1"). */
    {
        char err[640] = "";
        const char *mname = api_form_text(&fm, API_FORM_MODEL);
        int rc = omni_registry_acquire(s->reg, mname, OMNI_KIND_ASR, s->load_timeout_ms, &mref.ref, err, sizeof err);
        if (rc == OMNI_ERR_NOT_FOUND && s->asr) rc = OMNI_OK, a = s->asr;
        else if (rc == OMNI_OK && !(a = borrowed = api_asr_wrap(mref.ref.asr, mref.ref.id))) {
            status = api_reply_error(c, 500, NULL, NULL, "out of memory");
            goto done;
        }
        if (rc != OMNI_OK) { status = api_model_reply_error(c, rc, err); goto done; }
        api_meter_name(api_asr_name(a)); /* the usage row's model */
    }
    omni_asr_params wp = omni_asr_default_params();
    int multi = omni_asr_is_multilingual(api_asr_ctx(a));
    wp.translate = translate;
    wp.language = multi ? "auto" : "en"; /* OpenAI detects the language when none is given */
    const char *lang = api_form_text(&fm, API_FORM_LANGUAGE);
    if (lang) {
        if (strcmp(lang, "auto") && omni_asr_language_id(lang) < 0) {
            status = api_reply_error(c, 400, "language", "invalid_value",
                                     "'language' is '%.40s'; expected an ISO-639-1 code such as en, ko, de, ja (or auto)",
                                     lang);
            goto done;
        }
        if (!multi && strcmp(lang, "en") && strcmp(lang, "auto")) {
            status = api_reply_error(c, 400, "language", "invalid_value",
                                     "this server's speech model %s is English-only; it cannot take language '%s'",
                                     api_asr_name(a), lang);
            goto done;
        }
        wp.language = lang;
    }
    if (translate && !multi) {
        status = api_reply_error(c, 400, "model", "invalid_value",
                                 "this server's speech model %s is English-only and cannot translate",
                                 api_asr_name(a));
        goto done;
    }
    const char *temp = api_form_text(&fm, API_FORM_TEMPERATURE);
    if (temp) {
        char *end = NULL;
        double t = strtod(temp, &end);
        if (end == temp || *end || !(t >= 0 && t <= 1)) {
            status = api_reply_error(c, 400, "temperature", "invalid_value",
                                     "'temperature' must be a number from 0 to 1 (got '%.40s')", temp);
            goto done;
        }
        wp.temperature = (float)t;
    }
    if (fm.gran_bad[0]) {
        status = api_reply_error(c, 400, "timestamp_granularities[]", "invalid_value",
                                 "'timestamp_granularities[]' has '%s'; allowed: word, segment", fm.gran_bad);
        goto done;
    }
    int verbose = !strcmp(fmt, "verbose_json");
    if ((fm.gran_word || fm.gran_segment) && !verbose) {
        status = api_reply_error(c, 400, "timestamp_granularities[]", "invalid_value",
                                 "'timestamp_granularities[]' needs response_format verbose_json (got %s)", fmt);
        goto done;
    }
    wp.prompt = api_form_text(&fm, API_FORM_PROMPT);
    wp.word_timestamps = fm.gran_word; /* words need each token's start and end */

    char what[300];
    snprintf(what, sizeof what, "the uploaded file");
    double duration;
    int bad_audio;
    if (api_asr_transcribe_file(a, fm.f[API_FORM_FILE].p, fm.f[API_FORM_FILE].n, what, &wp, &r, &duration, &bad_audio, &e)) {
        status = bad_audio ? api_reply_error(c, 400, "file", "invalid_file", "%s", e.msg)
                           : api_reply_error(c, 500, NULL, NULL, "transcription failed: %s", e.msg);
        goto done;
    }
    api_meter_audio(duration);
    if (!strcmp(fmt, "text")) {
        size_t k = strlen(r->text);
        char *all = malloc(k + 1);
        if (!all) { status = api_reply_error(c, 500, NULL, NULL, "out of memory"); goto done; }
        memcpy(all, r->text, k);
        all[k] = '\n'; /* the body goes out by length */
        status = api_reply(c, 200, "text/plain; charset=utf-8", all, k + 1, NULL);
        free(all);
    } else if (!strcmp(fmt, "srt") || !strcmp(fmt, "vtt")) {
        status = reply_subtitles(c, r, fmt[0] == 'v');
    } else {
        cJSON *o;
        if (verbose) {
            o = verbose_json(r, duration, translate, wp.temperature, fm.gran_word, fm.gran_segment || !fm.gran_word);
        } else {
            o = cJSON_CreateObject();
            add_text(o, "text", r->text);
            cJSON *u = cJSON_AddObjectToObject(o, "usage");
            cJSON_AddStringToObject(u, "type", "duration");
            cJSON_AddNumberToObject(u, "seconds", ceil(duration));
        }
        status = api_reply_json(c, 200, o);
        cJSON_Delete(o);
    }
done:
    api_asr_close(borrowed);
    api_model_put(s, &mref);
    omni_asr_result_free(r);
    api_form_free(&fm);
    return status;
}
