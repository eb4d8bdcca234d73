/* omni_session: one conversation's sequence in the model's engine (its KV cache and
 * the tokens in it) and the blocking generate call behind omni.h. A new prompt that
 * starts like the previous one reuses the cached prefix, so chat turns only pay for
 * the new text; images (OMNI_IMAGE_MARKER) are reused when the same picture sits at the
 * same place. The engine thread generates; this file carries the text back to the
 * caller's thread, so a slow on_text (speech synthesis in the voice loop) never holds
 * up the engine's other sequences. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "omni.h"
#include "runtime/model.h"
#include "runtime/scheduler.h"
#include "text/sampler.h"

struct omni_session {
    omni_model *model;
    struct sched *engine;
    struct sched_seq *seq;
    int n_ctx;
};

omni_sampling_params omni_sampling_default_params(void) {
    struct sampler_params d = sampler_default_params();
    omni_sampling_params p = {.temperature = d.temperature, .top_k = d.top_k, .top_p = d.top_p, .min_p = d.min_p,
                              .repeat_penalty = 1.0f, .repeat_last_n = 64, .penalize_prompt = 1,
                              .seed = OMNI_SEED_RANDOM};
    return p;
}

omni_generate_params omni_generate_default_params(void) {
    omni_generate_params p;
    memset(&p, 0, sizeof p);
    p.sampling = omni_sampling_default_params();
    p.parse_special = 1;
    p.add_special = 1;
    return p;
}

omni_session_params omni_session_default_params(void) {
    omni_session_params p = {0};
    return p;
}

omni_session *omni_session_new(omni_model *m, const omni_session_params *params, char *err, size_t err_size) {
    omni_session_params dp = omni_session_default_params();
    if (!params) params = &dp;
    int n_ctx = params->n_ctx;
    if (n_ctx <= 0) n_ctx = sched_default_ctx(m, 0, 0);
    struct err e = {{0}};
    omni_session *s = calloc(1, sizeof *s);
    if (!s) { err_copy_str("out of memory", err, err_size); return NULL; }
    s->model = m;
    s->n_ctx = n_ctx;
    if (!(s->engine = model_engine(m, &e)) || !(s->seq = sched_seq_new(s->engine, n_ctx, &e))) {
        err_copy_str(e.msg, err, err_size);
        free(s);
        return NULL;
    }
    return s;
}

void omni_session_free(omni_session *s) {
    if (!s) return;
    sched_seq_free(s->engine, s->seq);
    free(s);
}

int omni_session_n_ctx(const omni_session *s) { return s->n_ctx; }

struct sched_seq *session_seq(omni_session *s) { return s->seq; }

/* Text travelling from the engine thread to the caller of omni_session_generate: runs
 * of one kind (answer or thoughts), each a 1-byte kind and a 4-byte length before its
 * bytes, so the caller hands them to on_text / on_reasoning in the order they came. */
struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *buf;                 /* runs not yet handed on */
    size_t len, cap;
    size_t last;               /* offset of the last run's header (when len > 0) */
    int oom, done;
    omni_usage u;
    char error[512];
};

enum { RUN_HDR = 5 };

static void collect(const omni_token_info *t, void *user) {
    struct waiter *w = user;
    if (!t->len) return;
    pthread_mutex_lock(&w->mu);
    char kind = t->reasoning ? 1 : 0;
    int merge = w->len && w->buf[w->last] == kind;
    size_t need = w->len + t->len + (merge ? 0 : RUN_HDR);
    if (need > w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 256;
        while (cap < need) cap *= 2;
        char *b = realloc(w->buf, cap);
        if (b) { w->buf = b; w->cap = cap; }
        else w->oom = 1;
    }
    if (!w->oom) {
        if (!merge) {
            w->last = w->len;
            w->buf[w->len] = kind;
            memset(w->buf + w->len + 1, 0, 4);
            w->len += RUN_HDR;
        }
        uint32_t n;
        memcpy(&n, w->buf + w->last + 1, 4);
        n += (uint32_t)t->len;
        memcpy(w->buf + w->last + 1, &n, 4);
        memcpy(w->buf + w->len, t->text, t->len);
        w->len += t->len;
    }
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void finished(const omni_usage *u, const char *error, void *user) {
    struct waiter *w = user;
    pthread_mutex_lock(&w->mu);
    w->u = *u;
    if (error) snprintf(w->error, sizeof w->error, "%s", error);
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int omni_session_generate(omni_session *s, const char *prompt, const omni_generate_params *gp, omni_usage *usage,
                          char *err, size_t err_size) {
    omni_generate_params dp = omni_generate_default_params();
    if (!gp) gp = &dp;
    omni_prompt pr;
    if (omni_prompt_build(s->model, prompt, gp->images, gp->n_images, gp->add_special, gp->parse_special, &pr, err,
                          err_size)) {
        if (usage) memset(usage, 0, sizeof *usage);
        return -1;
    }
    int rc = omni_session_generate_prompt(s, &pr, gp, usage, err, err_size);
    omni_prompt_free(&pr);
    return rc;
}

int omni_session_generate_prompt(omni_session *s, const omni_prompt *pr, const omni_generate_params *gp,
                                 omni_usage *usage, char *err, size_t err_size) {
    omni_generate_params dp = omni_generate_default_params();
    if (!gp) gp = &dp;
    struct waiter w;
    memset(&w, 0, sizeof w);
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    omni_generate_params p = *gp;
    p.on_text = NULL;
    p.on_token = collect;
    p.on_done = finished;
    p.user = &w;
    int status;
    omni_request *r = omni_submit(s->model, s, pr, &p, &status, err, err_size);
    int stopped = 0;
    char *mine = NULL;
    size_t mine_cap = 0;
    while (r) {
        pthread_mutex_lock(&w.mu);
        while (!w.len && !w.done) pthread_cond_wait(&w.cv, &w.mu);
        /* take the text out, so on_text runs without the lock the engine needs */
        char *t = w.buf;
        size_t n = w.len, cap = w.cap;
        w.buf = mine;
        w.cap = mine_cap;
        w.len = 0;
        int done = w.done;
        pthread_mutex_unlock(&w.mu);
        mine = t;
        mine_cap = cap;
        for (size_t at = 0; at + RUN_HDR <= n && !stopped;) {
            uint32_t k;
            memcpy(&k, mine + at + 1, 4);
            omni_text_callback cb = mine[at] ? gp->on_reasoning : gp->on_text;
            if (k && cb && cb(mine + at + RUN_HDR, k, gp->user)) {
                /* the caller has what it wants: stop, and deliver nothing more */
                stopped = 1;
                omni_request_cancel(r);
            }
            at += RUN_HDR + k;
        }
        if (done && !n) break;
    }
    free(mine);
    free(w.buf);
    int rc = 0;
    if (r) {
        if (w.oom) rc = err_copy_str("out of memory passing the reply on", err, err_size);
        else if (w.error[0]) rc = err_copy_str(w.error, err, err_size);
        else if (stopped || !strcmp(w.u.finish_reason, "cancelled"))
            snprintf(w.u.finish_reason, sizeof w.u.finish_reason, "stop");
        if (usage) *usage = w.u;
        omni_request_free(r);
    } else {
        rc = -1;
        if (usage) memset(usage, 0, sizeof *usage);
    }
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    return rc;
}
