/* The voice loop (omni_voice_* in omni.h). Two threads per session: the listener turns queued PCM
 * into VAD decisions and the growing speech clip; the worker does everything heavy in
 * order: partial ASR while the user speaks, a speculative final ASR at the first quiet
 * window (so the transcript is usually ready when the turn is confirmed), then the reply
 * (LLM → clause splitter → TTS). Barge-in is a flag the LLM and TTS callbacks poll. */
#include "omni.h"

#include <math.h>
#include <pthread.h>
#include <samplerate.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/pool.h"
#include "models/silero_vad.h"
#include "models/whisper.h"
#include "runtime/asr.h"
#include "runtime/end_of_turn.h"
#include "runtime/voice_segmenter.h"
#include "runtime/voice_splitter.h"

/* A spoken conversation wants its answer now: thinking models are asked not to think
 * first (Qwen3-style templates read enable_thinking), and what thoughts come anyway are
 * kept out of the speech. */
#define VOICE_KW "{\"enable_thinking\": false}"

#define VOICE_RATE 16000
#define CLIP_MAX (30 * VOICE_RATE)      /* Whisper's window: a longer turn is ended here */
#define RING_SIZE (2 * VOICE_RATE)      /* recent input, for the prefix padding */
#define TAIL_PAD (VOICE_RATE / 10)      /* audio kept after the end of speech for ASR */

struct chunk { size_t text_end; int64_t samples_end; };

struct omni_voice {
    omni_voice_params p;             /* settings: under mu once the threads run (omni_voice_update) */
    char *instructions, *voice_name, *language;   /* likewise; the worker copies what it uses */
    omni_voice_callback on_event;    /* fixed at omni_voice_new, so emit reads them without mu */
    void *user;
    int (*moderate)(const char *text, size_t len, int reply, void *user);   /* likewise */
    omni_model *llm;
    const struct whisper_model *asr;
    struct vad *vad;
    struct pool *pool;
    struct whisper_state *ws;
    omni_session *sess;

    pthread_t listener, worker;
    int threads_started;
    pthread_mutex_t mu;              /* everything below up to `ev_mu` */
    pthread_cond_t wake_listener, wake_worker, idle;
    int stop;

    /* push → listener */
    int16_t *inq;
    size_t inq_n, inq_cap;
    int listener_busy;

    /* listener → worker: the current turn's clip (16 kHz floats) */
    float *clip;
    size_t clip_n;
    int64_t clip_t0;                 /* input position of clip[0] */
    int turn_active, turn_paused, turn_ended, turn_id;
    int64_t speech_end;              /* input position just past the last voiced window */
    size_t asr_done_n;               /* clip samples covered by the last partial */
    double asr_partial_ms;           /* how long the last partial decode took */
    int spec_turn;                   /* speculative final transcript: for which turn and end */
    int64_t spec_end;
    char *spec_text;
    int respond_req, commit_req, clear_req;
    int warm_req;                    /* 2: everything (a new session), 1: the instructions' KV */
    int stop_pending;                /* the worker ended the turn by its transcript: speech_stopped
                                      * (at stop_ms) goes out with the final transcript */
    int64_t stop_ms;
    char turn_lang[8];               /* language "auto" detected on the turn's first transcript */
    int turn_lang_id;                /* ... for this turn */
    double asr_cpu_ms;               /* the last transcript's process CPU time, and its language */
    char asr_lang[8];
    int worker_busy, responding;
    int response_id;

    /* barge-in / playback */
    atomic_int cancel;
    int64_t played;
    int played_reported;
    int truncate_req;                /* the client cut the reply in progress at `played` */
    double first_audio_ms;
    /* the last finished reply, whole, for conversation.item.truncate after it ended */
    char *last_text;
    struct chunk *last_chunks;
    int last_n_chunks;
    int64_t last_samples;
    int last_hist;                   /* its message in hist; -1: none */
    omni_voice_stats stats;

    /* conversation */
    omni_chat_message *hist;
    int n_hist, cap_hist;
    int hist_cut;              /* history messages left out of the prompt (oldest first) so the
                                * conversation fits the context; only grows, under mu */

    pthread_mutex_t ev_mu;           /* on_event is never re-entered */

    /* listener-only state */
    SRC_STATE *src;
    struct vseg seg;
    float *win;
    int win_n, win_size;
    float *ring;
    int64_t pos;                     /* input samples (16 kHz) seen */
};

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* Process CPU time (every thread: the worker and the compute pool). */
static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

omni_voice_params omni_voice_default_params(void) {
    omni_voice_params p;
    memset(&p, 0, sizeof p);
    p.input_rate = 24000;
    p.vad_threshold = 0.5f;
    /* ~300 ms of quiet ends a turn; Silero judges 32 ms windows, so 280 means 9 of
     * them (288 ms) where 300 would need 10 (320): the reply, prepared during the
     * pause, starts that much sooner, and 288 ms still spans a breath between clauses */
    p.silence_ms = 280;
    p.prefix_padding_ms = 300;
    p.min_speech_ms = 100;
    p.asr_interval_ms = 400;
    p.transcribe_input = 1;
    p.auto_response = 1;
    p.interrupt_response = 1;
    p.speculate = 1;
    p.max_tokens = 256;
    p.end_of_turn = OMNI_VOICE_EOT_TRANSCRIPT;
    p.eot_complete_ms = 120;
    p.eot_continue_ms = 800;
    p.temperature = 0.8f;
    return p;
}

static void emit(struct omni_voice *v, omni_voice_event *ev) {
    if (!v->on_event) return;
    if (ev->text && !ev->len) ev->len = strlen(ev->text);
    pthread_mutex_lock(&v->ev_mu);
    v->on_event(ev, v->user);
    pthread_mutex_unlock(&v->ev_mu);
}

static void emit_simple(struct omni_voice *v, omni_voice_event_type t, int rid, int64_t ms, const char *text) {
    omni_voice_event ev = {.type = t, .response_id = rid, .audio_ms = ms, .text = text};
    emit(v, &ev);
}

static void emit_error(struct omni_voice *v, const char *msg) { emit_simple(v, OMNI_VOICE_ERROR, 0, 0, msg); }

/* ---- conversation ---- */

static int hist_add(struct omni_voice *v, const char *role, const char *text, size_t len) {
    if (v->n_hist == v->cap_hist) {
        int cap = v->cap_hist ? v->cap_hist * 2 : 16;
        omni_chat_message *h = realloc(v->hist, (size_t)cap * sizeof *h);
        if (!h) return -1;
        v->hist = h;
        v->cap_hist = cap;
    }
    char *r = strdup(role), *c = malloc(len + 1);
    if (!r || !c) { free(r); free(c); return -1; }
    memcpy(c, text, len);
    c[len] = 0;
    v->hist[v->n_hist].role = r;
    v->hist[v->n_hist].content = c;
    v->n_hist++;
    return 0;
}

/* ---- listener ---- */

static void ring_put(struct omni_voice *v, const float *x, int n) {
    for (int i = 0; i < n; i++) v->ring[(v->pos - n + i) % RING_SIZE] = x[i];
}

static int clip_append(struct omni_voice *v, const float *x, size_t n) {
    if (v->clip_n + n > CLIP_MAX) n = CLIP_MAX - v->clip_n;
    memcpy(v->clip + v->clip_n, x, n * sizeof *x);
    v->clip_n += n;
    return v->clip_n >= CLIP_MAX;
}

/* Called under mu when a turn ends (silence, commit or the 30 s cap). */
static void end_turn_locked(struct omni_voice *v) {
    v->turn_active = 0;
    v->turn_paused = 0;
    v->turn_ended = 1;
    pthread_cond_signal(&v->wake_worker);
}

static void on_window(struct omni_voice *v) {
    float p = v->vad ? vad_step(v->vad, v->win, v->win_size) : vseg_energy_prob(v->win, v->win_size);
    v->pos += v->win_size;
    ring_put(v, v->win, v->win_size);
    pthread_mutex_lock(&v->mu);
    int full = v->turn_active ? clip_append(v, v->win, (size_t)v->win_size) : 0;
    enum vseg_event ev = vseg_step(&v->seg, p);
    int64_t ms = -1;
    if (ev == VSEG_START && !v->turn_active && !v->turn_ended) {
        int64_t from = v->seg.start - (int64_t)v->p.prefix_padding_ms * 16;
        if (from < 0) from = 0;
        if (from < v->pos - RING_SIZE) from = v->pos - RING_SIZE;
        v->clip_n = 0;
        v->clip_t0 = from;
        for (int64_t i = from; i < v->pos && v->clip_n < CLIP_MAX; i++) v->clip[v->clip_n++] = v->ring[i % RING_SIZE];
        v->turn_active = 1;
        v->turn_id++;
        v->asr_done_n = 0;
        v->speech_end = v->seg.end;
        /* speech_started goes out before the barge-in cancels the reply, so a client
         * always sees it ahead of that reply's (cancelled) response.done, however the
         * two threads are scheduled */
        pthread_mutex_unlock(&v->mu);
        emit_simple(v, OMNI_VOICE_SPEECH_STARTED, 0, v->seg.start / 16, NULL);
        pthread_mutex_lock(&v->mu);
        if (v->responding && v->p.interrupt_response) atomic_store(&v->cancel, 1); /* barge-in */
        pthread_cond_signal(&v->wake_worker);
    } else if (ev == VSEG_PAUSE && v->turn_active) {
        v->turn_paused = 1;
        v->speech_end = v->seg.end;
        /* until the transcript of this pause says otherwise, the sentence may go on */
        if (v->p.end_of_turn) v->seg.silence = (int64_t)v->p.eot_continue_ms * 16;
        pthread_cond_signal(&v->wake_worker);
    } else if (ev == VSEG_RESUME && v->turn_active) {
        v->turn_paused = 0;
        pthread_cond_signal(&v->wake_worker); /* a speculative reply held for this pause is void */
    } else if ((ev == VSEG_END || full) && v->turn_active) {
        v->speech_end = full ? v->pos : v->seg.end;
        if (full) vseg_init(&v->seg, v->p.vad_threshold, v->p.min_speech_ms, v->p.silence_ms, v->win_size);
        ms = v->speech_end / 16;
        /* speech_stopped goes out before the worker may see the end of the turn, so
         * clients always get it ahead of the final transcript */
        pthread_mutex_unlock(&v->mu);
        emit_simple(v, OMNI_VOICE_SPEECH_STOPPED, 0, ms, NULL);
        pthread_mutex_lock(&v->mu);
        end_turn_locked(v);
    } else if (v->turn_active && v->clip_n - v->asr_done_n >= (size_t)v->p.asr_interval_ms * 16) {
        pthread_cond_signal(&v->wake_worker);
    }
    pthread_mutex_unlock(&v->mu);
}

static void listen_samples(struct omni_voice *v, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        v->win[v->win_n++] = x[i];
        if (v->win_n == v->win_size) {
            on_window(v);
            v->win_n = 0;
        }
    }
}

static void *listener_main(void *arg) {
    struct omni_voice *v = arg;
    size_t cap = 0;
    float *f = NULL, *r = NULL;
    pthread_mutex_lock(&v->mu);
    for (;;) {
        while (!v->stop && v->inq_n == 0) {
            v->listener_busy = 0;
            pthread_cond_broadcast(&v->idle);
            pthread_cond_wait(&v->wake_listener, &v->mu);
        }
        if (v->stop) break;
        v->listener_busy = 1;
        size_t n = v->inq_n;
        if (n > cap) {
            float *nf = realloc(f, n * sizeof *f), *nr = realloc(r, n * sizeof *r);
            if (nf) f = nf;
            if (nr) r = nr;
            if (!nf || !nr) { v->inq_n = 0; continue; }
            cap = n;
        }
        for (size_t i = 0; i < n; i++) f[i] = v->inq[i] / 32768.0f;
        v->inq_n = 0;
        int rate = v->p.input_rate;
        pthread_mutex_unlock(&v->mu);
        if (rate == VOICE_RATE) listen_samples(v, f, n);
        else {
            SRC_DATA d = {0};
            d.data_in = f;
            d.input_frames = (long)n;
            d.data_out = r;
            d.output_frames = (long)n;
            d.src_ratio = (double)VOICE_RATE / rate;
            while (d.input_frames > 0) {
                if (src_process(v->src, &d)) break;
                listen_samples(v, r, (size_t)d.output_frames_gen);
                d.data_in += d.input_frames_used;
                d.input_frames -= d.input_frames_used;
                if (!d.input_frames_used && !d.output_frames_gen) break;
            }
        }
        pthread_mutex_lock(&v->mu);
    }
    pthread_mutex_unlock(&v->mu);
    free(f);
    free(r);
    return NULL;
}

/* ---- worker: ASR ---- */

/* Transcribes 16 kHz samples with just as much encoder context as they need. Returns a
 * malloc'ed trimmed string ("" for silence), NULL on error (emitted). */
static char *transcribe(struct omni_voice *v, const float *x, size_t n, int turn) {
    struct whisper_params wp = whisper_default_params();
    char lang[32]; /* a copy: session.update may replace v->language meanwhile */
    pthread_mutex_lock(&v->mu);
    snprintf(lang, sizeof lang, "%s", v->language && strcmp(v->language, "auto") ? v->language : "auto");
    /* "auto" detects once per turn, on its first partial, and the later partials and the
     * final transcript reuse that: detection adds nothing to the wait at the end */
    const int detect = !strcmp(lang, "auto");
    if (detect && turn && v->turn_lang_id == turn && v->turn_lang[0]) snprintf(lang, sizeof lang, "%s", v->turn_lang);
    pthread_mutex_unlock(&v->mu);
    wp.language = lang;
    wp.no_timestamps = 1;
    wp.temperature_inc = 0;   /* no hotter retries and no beam search: a live turn cannot wait */
    wp.beam_size = 1;
    double sec = (double)n / VOICE_RATE;
    int ctx = (int)ceil(sec * 50) + 32;   /* 50 encoder positions per second, plus margin */
    ctx = (ctx + 63) / 64 * 64;
    if (ctx > 1500) ctx = 0;
    wp.audio_ctx = ctx;
    /* people say ~3 words (~5 tokens) a second; a random-weight model would babble on */
    wp.max_tokens_per_window = 8 + (int)(sec * 6);
    struct whisper_result r;
    memset(&r, 0, sizeof r);
    struct err e = {{0}};
    const double c0 = cpu_ms();
    if (whisper_transcribe(v->ws, x, n, &wp, &r, &e)) {
        char msg[600];
        snprintf(msg, sizeof msg, "transcription failed: %s", e.msg);
        emit_error(v, msg);
        return NULL;
    }
    const double c1 = cpu_ms();
    pthread_mutex_lock(&v->mu);
    if (detect && turn && r.language[0] && strcmp(lang, "auto") == 0 && v->turn_lang_id != turn) {
        snprintf(v->turn_lang, sizeof v->turn_lang, "%s", r.language);
        v->turn_lang_id = turn;
    }
    v->asr_cpu_ms = c1 - c0;
    snprintf(v->asr_lang, sizeof v->asr_lang, "%.7s", strcmp(lang, "auto") ? lang : r.language);
    pthread_mutex_unlock(&v->mu);
    char *out = whisper_result_text(&r);
    if (out) {
        char *a = out;
        while (*a == ' ' || *a == '\n') a++;
        memmove(out, a, strlen(a) + 1);
        for (size_t k = strlen(out); k > 0 && (out[k - 1] == ' ' || out[k - 1] == '\n'); k--) out[k - 1] = 0;
    }
    whisper_result_free(&r);
    return out;
}

/* Copies the clip (under mu) up to `upto` input samples plus the tail pad. */
static float *copy_clip(struct omni_voice *v, int64_t upto, size_t *n) {
    size_t len = v->clip_n;
    if (upto >= 0) {
        int64_t want = upto - v->clip_t0 + TAIL_PAD;
        if (want < 0) want = 0;
        if ((size_t)want < len) len = (size_t)want;
    }
    float *x = malloc((len ? len : 1) * sizeof *x);
    if (x) memcpy(x, v->clip, len * sizeof *x);
    *n = len;
    return x;
}

/* ---- worker: the reply ---- */

struct held {                /* an event of a speculative reply, kept until the turn is confirmed */
    omni_voice_event_type type;
    char *text;
    size_t len;
    int16_t *pcm;
    size_t n_pcm;
};

struct reply {
    struct omni_voice *v;
    char *voice, *language;  /* the settings it started with (copies; NULL: the defaults) */
    int rid;
    char *text;              /* everything the LLM wrote */
    size_t len, cap;
    struct chunk *chunks;    /* spoken pieces: end in `text` and in output samples */
    int n_chunks, cap_chunks;
    int64_t samples;
    struct vsplit split;
    const char *clause;
    int failed;
    int filtered;            /* moderation stopped it (status content_filter) */
    size_t shown;            /* bytes of `text` out as text deltas (with moderation: checked ones) */
    int audio_out;           /* some audio has reached the client */
    /* speculation: while `spec`, events go to `held` instead of out */
    int spec, dropped, spec_turn;
    int64_t spec_end;
    struct held *held;
    int n_held, cap_held;
    /* where the wait went (process CPU ms): at the reply's start, the first clause's
     * start of synthesis; the stage figures for omni_voice_stats */
    double cpu0, cpu_tts0, asr_cpu, llm_cpu, tts_cpu;
    char asr_lang[8];
};

static int is_cancelled(struct omni_voice *v) { return atomic_load(&v->cancel) != 0; }

static void held_free(struct reply *r) {
    for (int i = 0; i < r->n_held; i++) { free(r->held[i].text); free(r->held[i].pcm); }
    free(r->held);
    r->held = NULL;
    r->n_held = r->cap_held = 0;
}

/* Sends a reply event, or holds a copy of it while the reply is speculative. */
static int reply_emit(struct reply *r, omni_voice_event *ev) {
    struct omni_voice *v = r->v;
    if (!r->spec) {
        if (ev->type == OMNI_VOICE_AUDIO && !r->audio_out) {
            /* playback (as the server assumes it without reports) starts here */
            r->audio_out = 1;
            pthread_mutex_lock(&v->mu);
            v->first_audio_ms = now_ms();
            pthread_mutex_unlock(&v->mu);
        }
        ev->response_id = r->rid;
        emit(v, ev);
        return 0;
    }
    if (r->n_held == r->cap_held) {
        int cap = r->cap_held ? r->cap_held * 2 : 64;
        struct held *h = realloc(r->held, (size_t)cap * sizeof *h);
        if (!h) return -1;
        r->held = h;
        r->cap_held = cap;
    }
    struct held h = {ev->type, NULL, ev->len, NULL, ev->n_pcm};
    if (ev->text) {
        size_t n = ev->len ? ev->len : strlen(ev->text);
        if (!(h.text = malloc(n + 1))) return -1;
        memcpy(h.text, ev->text, n);
        h.text[n] = 0;
        h.len = n;
    }
    if (ev->n_pcm && !(h.pcm = malloc(ev->n_pcm * sizeof *h.pcm))) { free(h.text); return -1; }
    if (ev->n_pcm) memcpy(h.pcm, ev->pcm, ev->n_pcm * sizeof *h.pcm);
    r->held[r->n_held++] = h;
    return 0;
}

enum spec_state { SPEC_HOLD, SPEC_GO, SPEC_DROP };

/* Under mu: is the turn the speculation was made for still open, confirmed or gone? */
static enum spec_state spec_state_locked(struct omni_voice *v, const struct reply *r) {
    /* a response.create meanwhile answers the conversation as it stands, without this turn */
    if (v->stop || v->respond_req || v->turn_id != r->spec_turn || v->speech_end != r->spec_end) return SPEC_DROP;
    if (v->turn_ended) return SPEC_GO;
    if (v->turn_active && v->turn_paused) return SPEC_HOLD;
    return SPEC_DROP;
}

/* The turn is confirmed: the speculative transcript becomes the user's message and the
 * held events go out, in the order a non-speculative turn would have sent them. Called
 * with mu held; returns with it released. */
static void spec_promote_unlock(struct reply *r) {
    struct omni_voice *v = r->v;
    v->turn_ended = 0;   /* this reply answers the turn: no JOB_FINAL for it */
    char *text = v->spec_text;
    v->spec_text = NULL;
    v->spec_turn = 0;
    if (text) hist_add(v, "user", text, strlen(text));
    r->rid = ++v->response_id;
    v->responding = 1;
    v->played = 0;
    v->played_reported = 0;
    v->truncate_req = 0;
    v->first_audio_ms = 0;
    v->stats.spec_used++;
    atomic_store(&v->cancel, 0);
    int64_t end = r->spec_end;
    int show = v->p.transcribe_input;
    pthread_mutex_unlock(&v->mu);
    r->spec = 0;
    if (text && show) emit_simple(v, OMNI_VOICE_TRANSCRIPT_FINAL, 0, end / 16, text);
    free(text);
    emit_simple(v, OMNI_VOICE_RESPONSE_STARTED, r->rid, 0, NULL);
    for (int i = 0; i < r->n_held; i++) {
        struct held *h = &r->held[i];
        omni_voice_event ev = {.type = h->type, .text = h->text, .len = h->len, .pcm = h->pcm, .n_pcm = h->n_pcm};
        reply_emit(r, &ev);
    }
    held_free(r);
}

/* Polled between tokens and audio chunks: non-zero stops the reply (barge-in, or a
 * speculation whose turn went on). */
static int reply_poll(struct reply *r) {
    struct omni_voice *v = r->v;
    if (r->spec) {
        pthread_mutex_lock(&v->mu);
        enum spec_state st = spec_state_locked(v, r);
        if (st == SPEC_HOLD) { pthread_mutex_unlock(&v->mu); return 0; }
        if (st == SPEC_DROP) {
            r->dropped = 1;
            pthread_mutex_unlock(&v->mu);
            return 1;
        }
        spec_promote_unlock(r);
    }
    return is_cancelled(v);
}

static int on_audio(const int16_t *pcm, size_t n, void *ud) {
    struct reply *r = ud;
    if (reply_poll(r)) return 1;
    if (!n) return 0;
    if (!r->tts_cpu && r->cpu_tts0 > 0) r->tts_cpu = cpu_ms() - r->cpu_tts0;
    r->samples += (int64_t)n;
    omni_voice_event ev = {.type = OMNI_VOICE_AUDIO, .pcm = pcm, .n_pcm = n, .text = r->clause};
    if (reply_emit(r, &ev)) { r->failed = 1; return 1; }
    return reply_poll(r);
}

static int speak_piece(const char *s, size_t n, void *ud) {
    struct reply *r = ud;
    struct omni_voice *v = r->v;
    if (reply_poll(r)) return 1;
    char *t = malloc(n + 1);
    if (!t) return 1;
    memcpy(t, s, n);
    t[n] = 0;
    /* where this piece ends in the reply text: `s` points into the splitter's buffer,
     * which holds the last split.len bytes of the reply */
    size_t end = r->len - r->split.len + (size_t)(s + n - r->split.buf);
    if (v->moderate) {
        /* checked before it is shown or spoken: a flagged clause never is */
        if (v->moderate(t, n, 1, v->user)) {
            r->filtered = 1;
            free(t);
            return 1;
        }
        if (end > r->shown) {
            char saved = r->text[end];
            r->text[end] = 0;
            omni_voice_event ev = {.type = OMNI_VOICE_TEXT_DELTA, .text = r->text + r->shown, .len = end - r->shown};
            int bad = reply_emit(r, &ev);
            r->text[end] = saved;
            if (bad) { r->failed = 1; free(t); return 1; }
            r->shown = end;
        }
    }
    omni_tts_params q = omni_tts_default_params();
    q.input = t;
    q.voice = r->voice;
    q.language = r->language && strcmp(r->language, "auto") ? r->language : NULL;
    q.normalize = 1;
    char terr[512] = "";
    r->clause = t;
    if (!r->cpu_tts0) {   /* the first clause is complete: the LLM's part of the wait ends */
        r->cpu_tts0 = cpu_ms();
        r->llm_cpu = r->cpu_tts0 - r->cpu0;
    }
    int rc = 0;
    if (omni_tts_validate(&q, terr, sizeof terr) == 0) rc = omni_tts_speak(&q, on_audio, r, terr, sizeof terr);
    r->clause = NULL;
    free(t);
    if (rc && !is_cancelled(v) && !r->dropped && !r->failed) {
        char msg[600];
        snprintf(msg, sizeof msg, "speech synthesis failed: %s", terr);
        emit_error(v, msg);
    }
    if (r->n_chunks == r->cap_chunks) {
        int cap = r->cap_chunks ? r->cap_chunks * 2 : 16;
        struct chunk *c = realloc(r->chunks, (size_t)cap * sizeof *c);
        if (!c) return 1;
        r->chunks = c;
        r->cap_chunks = cap;
    }
    r->chunks[r->n_chunks++] = (struct chunk){end, r->samples};
    return reply_poll(r);
}

static int on_text(const char *s, size_t n, void *ud) {
    struct reply *r = ud;
    if (reply_poll(r)) return 1;
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 512;
        while (cap < r->len + n + 1) cap *= 2;
        char *t = realloc(r->text, cap);
        if (!t) { r->failed = 1; return 1; }
        r->text = t;
        r->cap = cap;
    }
    memcpy(r->text + r->len, s, n);
    r->len += n;
    r->text[r->len] = 0;
    if (!r->v->moderate) {   /* with moderation a clause is shown once checked (speak_piece) */
        omni_voice_event ev = {.type = OMNI_VOICE_TEXT_DELTA, .text = r->text + r->len - n, .len = n};
        if (reply_emit(r, &ev)) { r->failed = 1; return 1; }
        r->shown = r->len;
    }
    return vsplit_push(&r->split, s, n, speak_piece, r) || reply_poll(r);
}

/* How much of the reply text was heard when playback stopped at `played` samples: whole
 * pieces that finished, and of the piece in progress a share in proportion to its audio,
 * ending at a word boundary. */
static size_t heard_bytes(const struct reply *r, int64_t played) {
    size_t start = 0;
    int64_t s0 = 0;
    for (int i = 0; i < r->n_chunks; i++) {
        const struct chunk *c = &r->chunks[i];
        if (played >= c->samples_end) { start = c->text_end; s0 = c->samples_end; continue; }
        if (c->samples_end <= s0) break;
        size_t cut = start + (size_t)((double)(c->text_end - start) * (double)(played - s0) / (double)(c->samples_end - s0));
        while (cut > start && ((unsigned char)r->text[cut] & 0xC0) == 0x80) cut--; /* whole characters */
        size_t w = cut;
        while (w > start && r->text[w - 1] != ' ') w--;
        return w > start ? w : cut; /* a word boundary where the text has spaces */
    }
    return start;
}

static size_t trim_keep(const char *text, size_t keep) {
    while (keep > 0 && text[keep - 1] == ' ') keep--;
    return keep;
}

/* Under mu: the prompt's messages (the instructions, the history from message `cut` on,
 * then spec_text as the user's when given) copied into one malloc'ed block (free() it),
 * with their count in *n; NULL when out of memory. */
static omni_chat_message *conversation_locked(struct omni_voice *v, int cut, const char *spec_text, int *n) {
    const int has_sys = v->instructions && *v->instructions;
    const int count = has_sys + (v->n_hist - cut) + (spec_text != NULL);
    size_t bytes = (size_t)(count > 0 ? count : 1) * sizeof(omni_chat_message);
    if (has_sys) bytes += sizeof "system" + strlen(v->instructions) + 1;
    for (int i = cut; i < v->n_hist; i++) bytes += strlen(v->hist[i].role) + strlen(v->hist[i].content) + 2;
    if (spec_text) bytes += sizeof "user" + strlen(spec_text) + 1;
    omni_chat_message *m = malloc(bytes);
    if (!m) return NULL;
    char *p = (char *)(m + (count > 0 ? count : 1));
    int k = 0;
#define VOICE_COPY(dst, src) do { size_t l_ = strlen(src) + 1; memcpy(p, (src), l_); (dst) = p; p += l_; } while (0)
    if (has_sys) { VOICE_COPY(m[k].role, "system"); VOICE_COPY(m[k].content, v->instructions); k++; }
    for (int i = cut; i < v->n_hist; i++, k++) {
        VOICE_COPY(m[k].role, v->hist[i].role);
        VOICE_COPY(m[k].content, v->hist[i].content);
    }
    if (spec_text) { VOICE_COPY(m[k].role, "user"); VOICE_COPY(m[k].content, spec_text); k++; }
#undef VOICE_COPY
    *n = k;
    return m;
}

/* Answers the conversation. Speculative (spec_text != NULL): the prompt ends with that
 * user message, which is not in the history yet; everything is held (see reply_emit)
 * until the turn (spec_turn, ending at spec_end) is confirmed, or dropped silently. */
static void respond(struct omni_voice *v, const char *spec_text, int spec_turn, int64_t spec_end) {
    struct reply r;
    memset(&r, 0, sizeof r);
    r.v = v;
    vsplit_init(&r.split);
    r.spec = spec_text != NULL;
    r.spec_turn = spec_turn;
    r.spec_end = spec_end;
    pthread_mutex_lock(&v->mu);
    if (r.spec) v->stats.spec_started++;
    else {
        r.rid = ++v->response_id;
        v->responding = 1;
        v->played = 0;
        v->played_reported = 0;
        v->truncate_req = 0;
        v->first_audio_ms = 0;
    }
    /* a barge-in that came before the reply began cancels nothing */
    atomic_store(&v->cancel, 0);
    r.asr_cpu = v->asr_cpu_ms;   /* the transcript this reply answers was the last one made */
    memcpy(r.asr_lang, v->asr_lang, sizeof r.asr_lang);
    pthread_mutex_unlock(&v->mu);
    r.cpu0 = cpu_ms();
    if (!r.spec) emit_simple(v, OMNI_VOICE_RESPONSE_STARTED, r.rid, 0, NULL);

    /* The conversation and the settings as they are now, copied: other threads may
     * change them while the reply is made (omni_voice_update replaces the instructions,
     * omni_voice_truncate cuts or drops the last message, omni_voice_add_message grows
     * the history), and a reply keeps the settings it started with. */
    pthread_mutex_lock(&v->mu);
    int cut = v->hist_cut < v->n_hist ? v->hist_cut : v->n_hist, k = 0;
    const int max_tokens = v->p.max_tokens;
    const float temperature = v->p.temperature;
    const uint64_t seed = v->p.seed;
    r.voice = dup_or_null(v->voice_name);
    r.language = dup_or_null(v->language);
    int failed_copy = (v->voice_name && !r.voice) || (v->language && !r.language);
    omni_chat_message *msgs = failed_copy ? NULL : conversation_locked(v, cut, spec_text, &k);
    pthread_mutex_unlock(&v->mu);
    char err[512] = "";
    omni_usage u;
    memset(&u, 0, sizeof u);
    int rc = -1;
    /* A conversation that outgrows the context keeps going: the oldest turns fall out,
     * the instructions stay. The cut goes a third of the context deeper than needed and
     * then stays put, so the next turns extend a cached prefix instead of re-reading the
     * whole conversation every turn. */
    const int n_ctx = omni_session_n_ctx(v->sess);
    int reserve = max_tokens > 0 && max_tokens < n_ctx / 2 ? max_tokens : n_ctx / 4;
    omni_prompt pr;
    int dropped = 0, fit = -1;
    if (msgs) {
        fit = omni_chat_prompt_kw(v->llm, msgs, (size_t)k, NULL, 0, n_ctx - reserve, 1, VOICE_KW, &pr, &dropped, err,
                                  sizeof err);
        if (fit == 0 && dropped > 0) {
            omni_prompt_free(&pr);
            fit = omni_chat_prompt_kw(v->llm, msgs, (size_t)k, NULL, 0, (n_ctx - reserve) * 2 / 3, 1, VOICE_KW, &pr,
                                      &dropped, err, sizeof err);
            if (fit == OMNI_ERR_TOO_LONG) /* the deeper cut is too much to ask: the plain fit then */
                fit = omni_chat_prompt_kw(v->llm, msgs, (size_t)k, NULL, 0, n_ctx - reserve, 1, VOICE_KW, &pr,
                                          &dropped, err, sizeof err);
        }
    }
    if (!msgs) snprintf(err, sizeof err, "out of memory copying the conversation");
    char *msgs_last = v->moderate && msgs && k > 0 && !strcmp(msgs[k - 1].role, "user") ? strdup(msgs[k - 1].content) : NULL;
    free(msgs);
    /* moderation of the user's newest message: flagged, there is no reply */
    if (fit == 0 && msgs_last && v->moderate(msgs_last, strlen(msgs_last), 0, v->user)) {
        r.filtered = 1;
        rc = 0;
        omni_prompt_free(&pr);
    } else if (fit == 0) {
        if (dropped > 0 && !r.spec) {
            pthread_mutex_lock(&v->mu);
            v->hist_cut = cut + dropped;
            pthread_mutex_unlock(&v->mu);
        }
        omni_generate_params gp = omni_generate_default_params();
        gp.max_tokens = max_tokens;
        gp.sampling.temperature = temperature;
        if (seed) gp.sampling.seed = seed;
        gp.on_text = on_text;
        gp.reasoning = OMNI_REASONING_AUTO;   /* thoughts are never spoken (no on_reasoning) */
        gp.user = &r;
        rc = omni_session_generate_prompt(v->sess, &pr, &gp, &u, err, sizeof err);
        u.truncated_messages = cut + dropped;
        omni_prompt_free(&pr);
    }
    free(msgs_last);
    if (!rc && !r.failed && !r.dropped && !r.filtered && !is_cancelled(v)) vsplit_flush(&r.split, speak_piece, &r);
    if (v->moderate && !rc && !r.failed && !r.dropped && !r.filtered && r.len > r.shown) {
        /* what follows the last clause (blanks): shown as the rest was */
        omni_voice_event ev = {.type = OMNI_VOICE_TEXT_DELTA, .text = r.text + r.shown, .len = r.len - r.shown};
        if (!reply_emit(&r, &ev)) r.shown = r.len;
    }

    if (r.spec && !r.dropped) {
        if (rc || r.failed) r.dropped = 1;   /* the turn's JOB_FINAL answers it the plain way and reports */
        else {
            /* made ahead of time: nothing to do until the turn ends or speech comes back */
            pthread_mutex_lock(&v->mu);
            while (spec_state_locked(v, &r) == SPEC_HOLD) {
                v->worker_busy = 0;
                pthread_cond_broadcast(&v->idle);
                pthread_cond_wait(&v->wake_worker, &v->mu);
            }
            v->worker_busy = 1;
            pthread_mutex_unlock(&v->mu);
            reply_poll(&r);
        }
    }
    if (r.dropped) {
        pthread_mutex_lock(&v->mu);
        v->stats.spec_dropped++;
        pthread_mutex_unlock(&v->mu);
        held_free(&r);
        vsplit_free(&r.split);
        free(r.text);
        free(r.chunks);
        free(r.voice);
        free(r.language);
        return;
    }

    int cancelled = is_cancelled(v);
    const char *status = rc || r.failed ? "failed" : r.filtered ? "content_filter" : cancelled ? "cancelled" : "completed";
    if (rc) {
        char msg[600];
        snprintf(msg, sizeof msg, "reply failed: %s", err);
        emit_error(v, msg);
    }
    size_t keep = r.len;
    pthread_mutex_lock(&v->mu);
    if (cancelled || v->truncate_req) {
        int64_t played = v->played;
        if (!v->played_reported)
            played = v->first_audio_ms > 0 ? (int64_t)((now_ms() - v->first_audio_ms) * OMNI_TTS_SAMPLE_RATE / 1000) : 0;
        if (played > r.samples) played = r.samples;
        keep = heard_bytes(&r, played);
    }
    if (r.filtered && keep > r.shown) keep = r.shown;   /* only what was shown stays */
    keep = trim_keep(r.text, keep);
    if (keep > 0) hist_add(v, "assistant", r.text, keep);
    /* kept whole, so a later conversation.item.truncate can cut the history entry */
    free(v->last_text);
    free(v->last_chunks);
    v->last_text = r.text;
    v->last_chunks = r.chunks;
    v->last_n_chunks = r.n_chunks;
    v->last_samples = r.samples;
    v->last_hist = keep > 0 ? v->n_hist - 1 : -1;
    v->stats.last_asr_cpu_ms = r.asr_cpu;
    v->stats.last_llm_cpu_ms = r.llm_cpu;
    v->stats.last_tts_cpu_ms = r.tts_cpu;
    memcpy(v->stats.last_language, r.asr_lang, sizeof v->stats.last_language);
    pthread_mutex_unlock(&v->mu);
    omni_voice_event ev = {.type = OMNI_VOICE_RESPONSE_DONE, .response_id = r.rid, .status = status, .usage = u,
                             .text = keep ? r.text : "", .len = keep};
    char saved = 0;
    if (keep) { saved = r.text[keep]; r.text[keep] = 0; }
    emit(v, &ev);
    if (keep) r.text[keep] = saved;
    pthread_mutex_lock(&v->mu);
    v->responding = 0;
    pthread_mutex_unlock(&v->mu);
    vsplit_free(&r.split);
    held_free(&r);
    free(r.voice);
    free(r.language);
}

/* ---- worker loop ---- */

static int warm_discard(const int16_t *pcm, size_t n, void *ud) { return 0; }

enum job { JOB_NONE, JOB_FINAL, JOB_SPECULATE, JOB_PARTIAL, JOB_RESPOND, JOB_WARM };

/* New audio (samples) before the next partial: asr_interval_ms, or three times the last
 * decode when the ASR is slower, so the worker is mostly free when the pause comes and
 * the speculative transcript (the one that matters for latency) starts at once. */
static size_t partial_gap(const struct omni_voice *v) {
    double ms = v->p.asr_interval_ms;
    if (3 * v->asr_partial_ms > ms) ms = 3 * v->asr_partial_ms;
    return (size_t)ms * 16;
}

static enum job next_job(struct omni_voice *v) {
    if (v->turn_ended) return JOB_FINAL;
    if (v->respond_req) return JOB_RESPOND;
    if (v->warm_req) return JOB_WARM;
    if (v->turn_active && v->turn_paused && !(v->spec_turn == v->turn_id && v->spec_end == v->speech_end))
        return JOB_SPECULATE;
    if (v->turn_active && !v->turn_paused && v->clip_n - v->asr_done_n >= partial_gap(v)) return JOB_PARTIAL;
    return JOB_NONE;
}

/* Under mu, with the transcript of the pause that began at `end`: the quiet that ends the
 * turn now follows what was said, and a sentence that ended already had its quiet. */
static void judge_pause_locked(struct omni_voice *v, int turn, int64_t end, const char *text) {
    if (!v->p.end_of_turn || !v->turn_active || !v->turn_paused || v->turn_ended || v->turn_id != turn ||
        v->speech_end != end)
        return;
    enum eot_class c = eot_classify(text, strlen(text));
    struct eot_silences sil = {v->p.eot_complete_ms, v->p.silence_ms, v->p.eot_continue_ms};
    v->seg.silence = (int64_t)eot_silence_ms(c, &sil) * 16;
    if (c == EOT_COMPLETE) v->stats.eot_complete++;
    else if (c == EOT_CONTINUE) v->stats.eot_continue++;
    else v->stats.eot_unsure++;
    if (v->seg.in_speech && v->seg.quiet && v->seg.end == end && v->seg.pos - v->seg.end >= v->seg.silence) {
        /* the segmenter would end it at its next window; no need to wait for more audio */
        v->seg.in_speech = 0;
        v->seg.quiet = 0;
        v->stop_pending = 1;
        v->stop_ms = end / 16;
        end_turn_locked(v);
    }
}

/* Session start: everything the first turn would otherwise pay for once, done now and
 * unheard. Whisper runs on a second of silence (its weights paged in, buffers made), the
 * LLM prefills the instructions with a first user message (the KV of everything up to
 * that message stays cached for the real turns, and the model's pages are read in), and
 * the TTS voice speaks a word. Failures here are not reported: the turn itself will. */
static void warm(struct omni_voice *v, int full) {
    if (full) {
        float *quiet = calloc(VOICE_RATE, sizeof *quiet);
        if (quiet) {
            struct whisper_params wp = whisper_default_params();
            pthread_mutex_lock(&v->mu);
            char lang[32];
            snprintf(lang, sizeof lang, "%s", v->language && strcmp(v->language, "auto") ? v->language : "en");
            pthread_mutex_unlock(&v->mu);
            wp.language = lang;
            wp.no_timestamps = 1;
            wp.temperature_inc = 0;
            wp.beam_size = 1;
            wp.audio_ctx = 128;
            wp.max_tokens_per_window = 4;
            struct whisper_result r;
            memset(&r, 0, sizeof r);
            struct err e = {{0}};
            if (!whisper_transcribe(v->ws, quiet, VOICE_RATE, &wp, &r, &e)) whisper_result_free(&r);
            free(quiet);
        }
    }
    pthread_mutex_lock(&v->mu);
    char *ins = dup_or_null(v->instructions), *voice = dup_or_null(v->voice_name), *lang = dup_or_null(v->language);
    pthread_mutex_unlock(&v->mu);
    omni_chat_message m[2];
    int k = 0;
    if (ins && *ins) m[k++] = (omni_chat_message){.role = "system", .content = ins};
    m[k++] = (omni_chat_message){.role = "user", .content = "Hello."};
    omni_prompt pr;
    char err[512];
    if (omni_chat_prompt_kw(v->llm, m, (size_t)k, NULL, 0, omni_session_n_ctx(v->sess) / 2, 1, VOICE_KW, &pr, NULL, err,
                            sizeof err) == 0) {
        omni_generate_params gp = omni_generate_default_params();
        gp.max_tokens = 1;
        gp.sampling.temperature = 0;
        omni_usage u;
        omni_session_generate_prompt(v->sess, &pr, &gp, &u, err, sizeof err);
        omni_prompt_free(&pr);
    }
    if (full) {
        omni_tts_params q = omni_tts_default_params();
        q.input = "Hello.";
        q.voice = voice;
        q.language = lang && strcmp(lang, "auto") ? lang : NULL;
        char terr[512];
        if (omni_tts_validate(&q, terr, sizeof terr) == 0) omni_tts_speak(&q, warm_discard, NULL, terr, sizeof terr);
    }
    free(ins);
    free(voice);
    free(lang);
}

static void *worker_main(void *arg) {
    struct omni_voice *v = arg;
    pthread_mutex_lock(&v->mu);
    for (;;) {
        enum job j;
        while (!v->stop && (j = next_job(v)) == JOB_NONE) {
            v->worker_busy = 0;
            pthread_cond_broadcast(&v->idle);
            pthread_cond_wait(&v->wake_worker, &v->mu);
        }
        if (v->stop) break;
        v->worker_busy = 1;
        if (j == JOB_WARM) {
            const int full = v->warm_req > 1;
            v->warm_req = 0;
            pthread_mutex_unlock(&v->mu);
            warm(v, full);
            pthread_mutex_lock(&v->mu);
            continue;
        }
        if (j == JOB_RESPOND) {
            v->respond_req = 0;
            pthread_mutex_unlock(&v->mu);
            respond(v, NULL, 0, 0);
            pthread_mutex_lock(&v->mu);
            continue;
        }
        int turn = v->turn_id;
        int64_t end = v->speech_end;
        size_t n;
        float *x;
        if (j == JOB_FINAL) {
            v->turn_ended = 0;
            const int stopped = v->stop_pending;
            const int64_t stop_ms = v->stop_ms;
            v->stop_pending = 0;
            const int show = v->p.transcribe_input;
            char *text = NULL;
            if (v->spec_turn == turn && v->spec_end == end && v->spec_text) {
                /* the speculative transcript made at the first quiet window still holds */
                text = v->spec_text;
                v->spec_text = NULL;
                v->spec_turn = 0;
                pthread_mutex_unlock(&v->mu);
            } else {
                x = copy_clip(v, end, &n);
                pthread_mutex_unlock(&v->mu);
                text = x ? transcribe(v, x, n, turn) : NULL;
                free(x);
            }
            if (stopped) emit_simple(v, OMNI_VOICE_SPEECH_STOPPED, 0, stop_ms, NULL);
            if (text && show) emit_simple(v, OMNI_VOICE_TRANSCRIPT_FINAL, 0, end / 16, text);
            pthread_mutex_lock(&v->mu);
            if (text && *text) {
                hist_add(v, "user", text, strlen(text));
                if (v->p.auto_response) v->respond_req = 1;
            }
            free(text);
            continue;
        }
        if (j == JOB_SPECULATE) {
            v->spec_turn = turn;
            v->spec_end = end;
            free(v->spec_text);
            v->spec_text = NULL;
            x = copy_clip(v, end, &n);
            pthread_mutex_unlock(&v->mu);
            char *text = x ? transcribe(v, x, n, turn) : NULL;
            free(x);
            pthread_mutex_lock(&v->mu);
            int keep = v->spec_turn == turn && v->spec_end == end && text;
            if (keep) judge_pause_locked(v, turn, end, text);
            int show = keep && v->turn_active && v->p.transcribe_input && *text;
            char *shown = show ? strdup(text) : NULL;
            /* the reply starts now, while the silence that confirms the turn is still running */
            int go = keep && *text && v->p.auto_response && v->p.speculate && v->turn_active && v->turn_paused &&
                     !v->turn_ended && !v->respond_req;
            char *ask = go ? strdup(text) : NULL;
            if (keep) v->spec_text = text;
            else free(text);
            pthread_mutex_unlock(&v->mu);
            if (shown) emit_simple(v, OMNI_VOICE_TRANSCRIPT_PARTIAL, 0, end / 16, shown);
            free(shown);
            if (ask) respond(v, ask, turn, end);
            free(ask);
            pthread_mutex_lock(&v->mu);
            continue;
        }
        /* JOB_PARTIAL */
        x = copy_clip(v, -1, &n);
        v->asr_done_n = n;
        const int show = v->p.transcribe_input;
        pthread_mutex_unlock(&v->mu);
        double t0 = now_ms();
        char *text = x ? transcribe(v, x, n, turn) : NULL;
        free(x);
        pthread_mutex_lock(&v->mu);
        v->asr_partial_ms = now_ms() - t0;
        pthread_mutex_unlock(&v->mu);
        if (text && show && *text) emit_simple(v, OMNI_VOICE_TRANSCRIPT_PARTIAL, 0, -1, text);
        free(text);
        pthread_mutex_lock(&v->mu);
    }
    pthread_mutex_unlock(&v->mu);
    return NULL;
}

/* ---- public API ---- */

static int take_params(struct omni_voice *v, const omni_voice_params *p, struct err *e) {
    if (p->input_rate != 16000 && p->input_rate != 24000)
        return err_set(e, "voice: input rate %d Hz is not supported (expected 16000 or 24000)", p->input_rate);
    if (!(p->vad_threshold > 0 && p->vad_threshold < 1))
        return err_set(e, "voice: VAD threshold %g is out of range (expected between 0 and 1)", (double)p->vad_threshold);
    if (p->silence_ms < 0 || p->silence_ms > 10000 || p->prefix_padding_ms < 0 || p->prefix_padding_ms > 1500 ||
        p->min_speech_ms < 0 || p->min_speech_ms > 10000)
        return err_set(e, "voice: silence (0..10000 ms), prefix padding (0..1500 ms) or minimum speech (0..10000 ms) out of range");
    if (p->end_of_turn != OMNI_VOICE_EOT_SILENCE && p->end_of_turn != OMNI_VOICE_EOT_TRANSCRIPT)
        return err_set(e, "voice: end_of_turn %d is not OMNI_VOICE_EOT_SILENCE or OMNI_VOICE_EOT_TRANSCRIPT", p->end_of_turn);
    if (p->end_of_turn && (p->eot_complete_ms < 0 || p->eot_complete_ms > 10000 || p->eot_continue_ms < 0 ||
                           p->eot_continue_ms > 10000))
        return err_set(e, "voice: end-of-turn silences out of range (0..10000 ms)");
    if (p->voice) {
        omni_tts_params q = omni_tts_default_params();
        q.input = "a";
        q.voice = p->voice;
        char terr[512];
        if (omni_tts_validate(&q, terr, sizeof terr)) return err_set(e, "%s", terr);
    }
    if (p->language && strcmp(p->language, "auto") && whisper_lang_index(p->language) < 0)
        return err_set(e, "voice: unknown language '%s' (expected a code such as en or ko, or auto)", p->language);
    char *ins = dup_or_null(p->instructions), *vn = dup_or_null(p->voice), *lang = dup_or_null(p->language);
    if ((p->instructions && !ins) || (p->voice && !vn) || (p->language && !lang)) {
        free(ins); free(vn); free(lang);
        return err_set(e, "voice: out of memory");
    }
    /* new instructions: their KV is made ahead of the next turn */
    if (v->threads_started && (ins ? !v->instructions || strcmp(ins, v->instructions) : v->instructions != NULL) &&
        v->warm_req < 1)
        v->warm_req = 1;
    free(v->instructions); free(v->voice_name); free(v->language);
    v->instructions = ins;
    v->voice_name = vn;
    v->language = lang;
    omni_voice_callback cb = v->p.on_event;
    void *ud = v->p.user;
    int first = !v->threads_started;
    int old_rate = v->p.input_rate;
    v->p = *p;
    if (!first) { v->p.on_event = cb; v->p.user = ud; v->p.input_rate = old_rate; }
    if (v->p.asr_interval_ms < 100) v->p.asr_interval_ms = 100;
    v->p.instructions = v->p.voice = v->p.language = v->p.vad_model = NULL;
    return 0;
}

struct omni_voice *omni_voice_new(omni_model *llm, omni_asr *asr, const omni_voice_params *p, char *err,
                                  size_t err_size) {
    omni_voice_params dp = omni_voice_default_params();
    if (!p) p = &dp;
    struct err ebuf = {{0}}, *e = &ebuf;
    if (!llm || !asr) { err_set(e, "voice: an LLM and an ASR model are both needed"); err_copy(e, err, err_size); return NULL; }
    struct omni_voice *v = calloc(1, sizeof *v);
    if (!v) { err_set(e, "voice: out of memory"); err_copy(e, err, err_size); return NULL; }
    pthread_mutex_init(&v->mu, NULL);
    pthread_mutex_init(&v->ev_mu, NULL);
    pthread_cond_init(&v->wake_listener, NULL);
    pthread_cond_init(&v->wake_worker, NULL);
    pthread_cond_init(&v->idle, NULL);
    v->llm = llm;
    v->asr = asr_whisper_model(asr);
    v->last_hist = -1;
    v->warm_req = 2;
    const char *vad_path = p->vad_model;
    if (take_params(v, p, e)) goto fail;
    v->on_event = v->p.on_event;
    v->user = v->p.user;
    v->moderate = v->p.moderate;
    if (vad_path && !(v->vad = vad_load(vad_path, e))) goto fail;
    v->win_size = v->vad ? vad_window(v->vad) : 512;
    vseg_init(&v->seg, v->p.vad_threshold, v->p.min_speech_ms, v->p.silence_ms, v->win_size);
    v->pool = pool_process(0);
    if (!(v->ws = whisper_state_new(v->asr, v->pool, e))) goto fail;
    omni_session_params sp = omni_session_default_params();
    sp.n_ctx = v->p.n_ctx;
    char serr[512];
    if (!(v->sess = omni_session_new(llm, &sp, serr, sizeof serr))) { err_set(e, "voice: %s", serr); goto fail; }
    int srcerr = 0;
    v->src = src_new(SRC_SINC_FASTEST, 1, &srcerr);
    v->win = malloc((size_t)v->win_size * sizeof *v->win);
    v->ring = calloc(RING_SIZE, sizeof *v->ring);
    v->clip = malloc(CLIP_MAX * sizeof *v->clip);
    if (!v->src || !v->win || !v->ring || !v->clip) { err_set(e, "voice: out of memory"); goto fail; }
    if (pthread_create(&v->listener, NULL, listener_main, v)) { err_set(e, "voice: cannot start a thread"); goto fail; }
    if (pthread_create(&v->worker, NULL, worker_main, v)) {
        pthread_mutex_lock(&v->mu);
        v->stop = 1;
        pthread_cond_broadcast(&v->wake_listener);
        pthread_mutex_unlock(&v->mu);
        pthread_join(v->listener, NULL);
        err_set(e, "voice: cannot start a thread");
        goto fail;
    }
    v->threads_started = 1;
    return v;
fail:
    err_copy(e, err, err_size);
    omni_voice_free(v);
    return NULL;
}

void omni_voice_free(struct omni_voice *v) {
    if (!v) return;
    if (v->threads_started) {
        pthread_mutex_lock(&v->mu);
        v->stop = 1;
        atomic_store(&v->cancel, 1);
        pthread_cond_broadcast(&v->wake_listener);
        pthread_cond_broadcast(&v->wake_worker);
        pthread_mutex_unlock(&v->mu);
        pthread_join(v->listener, NULL);
        pthread_join(v->worker, NULL);
    }
    for (int i = 0; i < v->n_hist; i++) {
        free((char *)v->hist[i].role);
        free((char *)v->hist[i].content);
    }
    free(v->hist);
    free(v->spec_text);
    free(v->last_text);
    free(v->last_chunks);
    free(v->inq);
    free(v->clip);
    free(v->ring);
    free(v->win);
    if (v->src) src_delete(v->src);
    omni_session_free(v->sess);
    whisper_state_free(v->ws);
    vad_free(v->vad);
    free(v->instructions);
    free(v->voice_name);
    free(v->language);
    pthread_mutex_destroy(&v->mu);
    pthread_mutex_destroy(&v->ev_mu);
    pthread_cond_destroy(&v->wake_listener);
    pthread_cond_destroy(&v->wake_worker);
    pthread_cond_destroy(&v->idle);
    free(v);
}

int omni_voice_update(struct omni_voice *v, const omni_voice_params *p, char *err, size_t err_size) {
    struct err e = {{0}};
    pthread_mutex_lock(&v->mu);
    int rc = take_params(v, p, &e);
    if (!rc) {
        /* the settings change in place (vseg_step runs under mu), so a turn in progress
         * keeps its state and ends by the new silence */
        struct vseg fresh;
        vseg_init(&fresh, v->p.vad_threshold, v->p.min_speech_ms, v->p.silence_ms, v->win_size);
        v->seg.threshold = fresh.threshold;
        v->seg.min_speech = fresh.min_speech;
        v->seg.silence = fresh.silence;
    }
    pthread_mutex_unlock(&v->mu);
    if (rc) err_copy(&e, err, err_size);
    return rc;
}

int omni_voice_push_pcm(struct omni_voice *v, const int16_t *pcm, size_t n) {
    pthread_mutex_lock(&v->mu);
    if (v->inq_n + n > v->inq_cap) {
        size_t cap = v->inq_cap ? v->inq_cap : 4096;
        while (cap < v->inq_n + n) cap *= 2;
        int16_t *q = realloc(v->inq, cap * sizeof *q);
        if (!q) { pthread_mutex_unlock(&v->mu); return -1; }
        v->inq = q;
        v->inq_cap = cap;
    }
    memcpy(v->inq + v->inq_n, pcm, n * sizeof *pcm);
    v->inq_n += n;
    v->listener_busy = 1;
    pthread_cond_signal(&v->wake_listener);
    pthread_mutex_unlock(&v->mu);
    return 0;
}

void omni_voice_commit(struct omni_voice *v) {
    pthread_mutex_lock(&v->mu);
    if (v->turn_active) {
        /* in a pause the speech already ended (and a speculative reply may be made for
         * exactly that end); else it ends with the audio heard so far */
        if (!v->turn_paused) v->speech_end = v->clip_t0 + (int64_t)v->clip_n;
        end_turn_locked(v);
    }
    pthread_mutex_unlock(&v->mu);
}

void omni_voice_clear(struct omni_voice *v) {
    pthread_mutex_lock(&v->mu);
    v->turn_active = 0;
    v->turn_paused = 0;
    v->clip_n = 0;
    v->turn_id++; /* invalidates a speculative transcript and reply */
    pthread_cond_signal(&v->wake_worker);
    pthread_mutex_unlock(&v->mu);
}

int omni_voice_add_message(struct omni_voice *v, const char *role, const char *text, char *err, size_t err_size) {
    struct err e = {{0}};
    if (!role || (strcmp(role, "user") && strcmp(role, "assistant") && strcmp(role, "system"))) {
        err_set(&e, "voice: role '%s' is not user, assistant or system", role ? role : "(null)");
        return err_copy(&e, err, err_size);
    }
    pthread_mutex_lock(&v->mu);
    int rc = hist_add(v, role, text ? text : "", text ? strlen(text) : 0);
    pthread_mutex_unlock(&v->mu);
    if (rc) {
        err_set(&e, "voice: out of memory");
        return err_copy(&e, err, err_size);
    }
    return 0;
}

void omni_voice_respond(struct omni_voice *v) {
    pthread_mutex_lock(&v->mu);
    v->respond_req = 1;
    v->worker_busy = 1;
    pthread_cond_signal(&v->wake_worker);
    pthread_mutex_unlock(&v->mu);
}

void omni_voice_cancel(struct omni_voice *v) {
    pthread_mutex_lock(&v->mu);
    if (v->responding) atomic_store(&v->cancel, 1);
    v->respond_req = 0;
    pthread_mutex_unlock(&v->mu);
}

void omni_voice_set_played(struct omni_voice *v, int64_t samples) {
    pthread_mutex_lock(&v->mu);
    v->played = samples;
    v->played_reported = 1;
    pthread_mutex_unlock(&v->mu);
}

long omni_voice_truncate(struct omni_voice *v, int64_t samples) {
    if (samples < 0) samples = 0;
    pthread_mutex_lock(&v->mu);
    long rc = -1;
    if (v->responding) {
        /* cut when the reply ends (respond reads these) */
        v->played = samples;
        v->played_reported = 1;
        v->truncate_req = 1;
        rc = 0;
    } else if (v->last_hist >= 0 && v->last_hist < v->n_hist && !strcmp(v->hist[v->last_hist].role, "assistant")) {
        struct reply r;
        memset(&r, 0, sizeof r);
        r.text = v->last_text;
        r.chunks = v->last_chunks;
        r.n_chunks = v->last_n_chunks;
        size_t keep = trim_keep(v->last_text, heard_bytes(&r, samples < v->last_samples ? samples : v->last_samples));
        char *msg = (char *)v->hist[v->last_hist].content;
        if (keep < strlen(msg)) {
            if (keep == 0 && v->last_hist == v->n_hist - 1) {
                /* nothing was heard: the reply leaves no trace */
                free((char *)v->hist[v->last_hist].role);
                free(msg);
                v->n_hist--;
                v->last_hist = -1;
            } else {
                msg[keep] = 0; /* a prefix of the same text: shrink in place */
            }
        }
        rc = (long)keep;
    }
    pthread_mutex_unlock(&v->mu);
    return rc;
}

void omni_voice_get_stats(struct omni_voice *v, omni_voice_stats *st) {
    pthread_mutex_lock(&v->mu);
    *st = v->stats;
    pthread_mutex_unlock(&v->mu);
}

int omni_voice_wait_idle(struct omni_voice *v, int timeout_ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    pthread_mutex_lock(&v->mu);
    int rc = 0;
    while (v->listener_busy || v->worker_busy || next_job(v) != JOB_NONE || v->inq_n)
        if (pthread_cond_timedwait(&v->idle, &v->mu, &ts)) { rc = -1; break; }
    pthread_mutex_unlock(&v->mu);
    return rc;
}

void omni_voice_clear_history(struct omni_voice *v) {
    pthread_mutex_lock(&v->mu);
    for (int i = 0; i < v->n_hist; i++) {
        free((char *)v->hist[i].role);
        free((char *)v->hist[i].content);
    }
    v->n_hist = 0;
    v->hist_cut = 0;
    v->last_hist = -1;
    pthread_mutex_unlock(&v->mu);
}

int omni_voice_history(struct omni_voice *v, const omni_chat_message **msgs) {
    *msgs = v->hist;
    return v->n_hist;
}
