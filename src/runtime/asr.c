/* omni_asr_*: speech in for the public API (include/omni.h) — a Whisper model, the
 * decoder state its transcriptions share (behind a lock: one at a time, caches sized
 * once) and an optional Silero VAD, over models/whisper. Results are turned into the
 * public shape here, words included, so the CLI and the server show the same thing. */
#include "runtime/asr.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pool.h"
#include "models/whisper.h"
#include "models/whisper_vad.h"
#include "omni.h"

struct omni_asr {
    pthread_mutex_t mu;              /* one transcription at a time on `state` */
    struct whisper_model *model;
    struct whisper_state *state;
    struct vad *vad;                 /* NULL: none */
};

omni_asr_load_params omni_asr_load_default_params(void) {
    omni_asr_load_params p;
    memset(&p, 0, sizeof p);
    return p;
}

omni_asr *omni_asr_load(const char *path, const omni_asr_load_params *params, char *err, size_t err_size) {
    omni_asr_load_params dp = omni_asr_load_default_params();
    if (!params) params = &dp;
    struct err e = {{0}};
    omni_asr *a = calloc(1, sizeof *a);
    if (!a) {
        err_set(&e, "out of memory");
        err_copy(&e, err, err_size);
        return NULL;
    }
    pthread_mutex_init(&a->mu, NULL);
    if (!(a->model = whisper_load(path, &e))) goto fail;
    if (params->vad_model && !(a->vad = vad_load(params->vad_model, &e))) goto fail;
    if (!(a->state = whisper_state_new(a->model, pool_process(params->n_threads), &e))) goto fail;
    return a;
fail:
    err_copy(&e, err, err_size);
    omni_asr_free(a);
    return NULL;
}

void omni_asr_free(omni_asr *a) {
    if (!a) return;
    whisper_state_free(a->state);
    whisper_free(a->model);
    vad_free(a->vad);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

const struct whisper_model *asr_whisper_model(const omni_asr *a) { return a->model; }

int omni_asr_is_multilingual(const omni_asr *a) { return whisper_is_multilingual(a->model); }
int omni_asr_has_vad(const omni_asr *a) { return a->vad != NULL; }
int omni_asr_language_id(const char *code) { return whisper_lang_index(code); }
const char *omni_asr_language_code(int id) { return whisper_lang_code(id); }

const char *omni_asr_token_text(const omni_asr *a, int32_t id, int *len) {
    int n = 0;
    const char *t = whisper_token_text(a->model, id, &n);
    if (len) *len = t ? n : 0;
    return t ? t : "";
}

omni_asr_params omni_asr_default_params(void) {
    struct whisper_params w = whisper_default_params();
    omni_asr_params p;
    memset(&p, 0, sizeof p);
    p.language = w.language;
    p.beam_size = w.beam_size;
    p.temperature = w.temperature;
    p.temperature_inc = w.temperature_inc;
    p.logprob_thold = w.logprob_thold;
    p.entropy_thold = w.entropy_thold;
    p.no_speech_thold = w.no_speech_thold;
    p.max_tokens = w.max_tokens_per_window;
    p.audio_ctx = w.audio_ctx;
    p.use_vad = 1;
    p.vad = omni_vad_default_params();
    return p;
}

static struct whisper_params to_whisper(const omni_asr_params *p) {
    struct whisper_params w = whisper_default_params();
    w.language = p->language;
    w.translate = p->translate;
    w.no_timestamps = p->no_timestamps;
    w.beam_size = p->beam_size;
    w.temperature = p->temperature;
    w.temperature_inc = p->temperature_inc;
    w.logprob_thold = p->logprob_thold;
    w.entropy_thold = p->entropy_thold;
    w.no_speech_thold = p->no_speech_thold;
    w.max_tokens_per_window = p->max_tokens;
    w.initial_prompt = p->prompt;
    w.audio_ctx = p->audio_ctx;
    w.token_timestamps = p->word_timestamps;
    w.progress = p->progress;
    w.progress_ud = p->progress_user;
    return w;
}

void omni_asr_result_free(omni_asr_result *r) {
    if (!r) return;
    for (int i = 0; i < r->n_segments; i++) {
        free(r->segments[i].text);
        free(r->segments[i].tokens);
    }
    for (int i = 0; i < r->n_words; i++) free(r->words[i].text);
    free(r->segments);
    free(r->words);
    free(r->text);
    free(r);
}

static int add_word(omni_asr_result *r, int *cap, const char *w, int64_t t0, int64_t t1) {
    if (r->n_words == *cap) {
        int nc = *cap ? *cap * 2 : 64;
        omni_asr_word *q = realloc(r->words, (size_t)nc * sizeof *q);
        if (!q) return -1;
        r->words = q;
        *cap = nc;
    }
    char *t = strdup(w + strspn(w, " "));
    if (!t) return -1;
    r->words[r->n_words++] = (omni_asr_word){t, t0, t1};
    return 0;
}

/* Words from the tokens: a text token that starts with a space starts a new word, and a
 * segment's end ends one. A word's time runs from its first token's start to its last
 * token's end (the segment's when a token has none). */
static int make_words(const struct whisper_model *m, omni_asr_result *r) {
    int eot = whisper_special(m)->eot, cap = 0;
    char word[512];
    size_t wn = 0;
    int64_t w0 = 0, w1 = 0;
    for (int i = 0; i < r->n_segments; i++) {
        const omni_asr_segment *g = &r->segments[i];
        for (int k = 0; k <= g->n_tokens; k++) {
            int len = 0;
            const char *t = k < g->n_tokens && g->tokens[k].id < eot ? whisper_token_text(m, g->tokens[k].id, &len) : NULL;
            int boundary = k == g->n_tokens || (t && len > 0 && t[0] == ' ');
            if (boundary && wn) {
                word[wn] = 0;
                if (add_word(r, &cap, word, w0, w1)) return -1;
                wn = 0;
            }
            if (!t || len <= 0) continue;
            const omni_asr_token *td = &g->tokens[k];
            if (!wn) w0 = td->t0 >= 0 ? td->t0 : g->t0;
            w1 = td->t1 >= 0 ? td->t1 : g->t1;
            if (wn + (size_t)len < sizeof word - 1) { memcpy(word + wn, t, (size_t)len); wn += (size_t)len; }
        }
    }
    return 0;
}

/* Moves a whisper_result into the public shape (w is emptied either way). */
static omni_asr_result *convert(const struct whisper_model *m, struct whisper_result *w, double duration, int words,
                                struct err *e) {
    omni_asr_result *r = calloc(1, sizeof *r);
    if (!r) goto oom;
    snprintf(r->language, sizeof r->language, "%s", w->language);
    r->language_prob = w->language_prob;
    r->duration = duration;
    if (!(r->text = whisper_result_text(w))) goto oom;
    if (w->n_segments && !(r->segments = calloc((size_t)w->n_segments, sizeof *r->segments))) goto oom;
    int eot = whisper_special(m)->eot;
    for (int i = 0; i < w->n_segments; i++, r->n_segments++) {
        struct whisper_segment *g = &w->segments[i];
        omni_asr_segment *o = &r->segments[i];
        o->t0 = g->t0;
        o->t1 = g->t1;
        o->no_speech_prob = g->no_speech_prob;
        o->text = g->text; /* taken over */
        g->text = NULL;
        if (g->n_tokens && !(o->tokens = malloc((size_t)g->n_tokens * sizeof *o->tokens))) goto oom;
        for (int k = 0; k < g->n_tokens; k++) {
            const struct whisper_token_data *t = &g->tokens[k];
            o->tokens[k] = (omni_asr_token){t->id, t->p, t->t0, t->t1, t->id >= eot};
        }
        o->n_tokens = g->n_tokens;
    }
    if (words && make_words(m, r)) goto oom;
    whisper_result_free(w);
    return r;
oom:
    err_set(e, "out of memory");
    whisper_result_free(w);
    omni_asr_result_free(r);
    return NULL;
}

omni_asr_result *omni_asr_transcribe(omni_asr *a, const float *pcm, size_t n, const omni_asr_params *params,
                                     char *err, size_t err_size) {
    omni_asr_params dp = omni_asr_default_params();
    if (!params) params = &dp;
    struct whisper_params wp = to_whisper(params);
    struct err e = {{0}};
    struct whisper_result w;
    memset(&w, 0, sizeof w);
    pthread_mutex_lock(&a->mu);
    int rc;
    if (a->vad && params->use_vad) {
        const omni_vad_params *v = &params->vad;
        struct vad_params vp = {v->threshold,    v->min_speech_ms, v->min_silence_ms,
                                v->max_speech_s, v->speech_pad_ms, v->samples_overlap};
        rc = whisper_transcribe_vad(a->state, a->vad, pcm, n, &wp, &vp, &w, &e);
    } else {
        rc = whisper_transcribe(a->state, pcm, n, &wp, &w, &e);
    }
    pthread_mutex_unlock(&a->mu);
    omni_asr_result *r = rc ? NULL : convert(a->model, &w, (double)n / OMNI_ASR_SAMPLE_RATE, params->word_timestamps, &e);
    if (rc) whisper_result_free(&w);
    if (!r) err_copy(&e, err, err_size);
    return r;
}

omni_asr_result *omni_asr_transcribe_file(omni_asr *a, const char *path, const omni_asr_params *params, char *err,
                                          size_t err_size) {
    float *pcm = NULL;
    size_t n = 0;
    if (omni_audio_decode_file(path, &pcm, &n, err, err_size)) return NULL;
    omni_asr_result *r = omni_asr_transcribe(a, pcm, n, params, err, err_size);
    free(pcm);
    return r;
}

omni_asr_result *omni_asr_transcribe_memory(omni_asr *a, const void *data, size_t size, const char *what,
                                            const omni_asr_params *params, char *err, size_t err_size) {
    float *pcm = NULL;
    size_t n = 0;
    if (omni_audio_decode_memory(data, size, what, &pcm, &n, err, err_size)) return NULL;
    omni_asr_result *r = omni_asr_transcribe(a, pcm, n, params, err, err_size);
    free(pcm);
    return r;
}

int omni_asr_detect_language(omni_asr *a, const float *pcm, size_t n, float *prob, char *err, size_t err_size) {
    struct err e = {{0}};
    pthread_mutex_lock(&a->mu);
    int lang = whisper_detect_language(a->state, pcm, n, 0, prob, &e);
    pthread_mutex_unlock(&a->mu);
    if (lang < 0) err_copy(&e, err, err_size);
    return lang;
}
