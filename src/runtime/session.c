/* omni_session: one conversation's KV cache and the tokens in it, and the
 * generation loop (prefill → sample → stream text) behind omni.h. A new prompt that
 * starts like the previous one reuses the cached prefix, so chat turns only pay for
 * the new text. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "omni.h"
#include "runtime/model.h"
#include "runtime/stop_match.h"
#include "text/sampler.h"

enum { PREFILL_CHUNK = 512 };

struct omni_session {
    omni_model *model;
    struct llm_kv *kv;
    int n_ctx;
    int32_t *tokens;   /* what the KV cache holds, in order */
    int n_tokens;
    float *logits;     /* n_vocab */
};

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int fail(char *err, size_t cap, const char *msg) {
    if (err && cap) snprintf(err, cap, "%s", msg);
    return -1;
}

omni_sampling_params omni_sampling_default_params(void) {
    struct sampler_params d = sampler_default_params();
    omni_sampling_params p = {d.temperature, d.top_k, d.top_p, d.min_p, 1.0f, 64, 0.0f, 0.0f, SAMPLER_SEED_RANDOM};
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
    int train = llm_hparams(m->llm)->n_ctx_train;
    if (n_ctx <= 0) n_ctx = train > 0 && train < 4096 ? train : 4096;
    omni_session *s = calloc(1, sizeof *s);
    struct err e = {{0}};
    if (!s) { fail(err, err_size, "out of memory"); return NULL; }
    s->model = m;
    s->n_ctx = n_ctx;
    s->kv = llm_kv_new(m->llm, 1, n_ctx, &e);
    s->tokens = malloc((size_t)n_ctx * sizeof *s->tokens);
    s->logits = malloc((size_t)llm_hparams(m->llm)->n_vocab * sizeof *s->logits);
    if (!s->kv || !s->tokens || !s->logits) {
        fail(err, err_size, s->kv ? "out of memory" : e.msg);
        omni_session_free(s);
        return NULL;
    }
    return s;
}

void omni_session_free(omni_session *s) {
    if (!s) return;
    llm_kv_free(s->kv);
    free(s->tokens);
    free(s->logits);
    free(s);
}

int omni_session_n_ctx(const omni_session *s) { return s->n_ctx; }

/* Runs tokens [from, n) of ids through the model (appending to the cache); the
 * logits of the last one land in s->logits. */
static int feed(omni_session *s, const int32_t *ids, int from, int n, struct err *e) {
    int32_t pos[PREFILL_CHUNK];
    int8_t want[PREFILL_CHUNK];
    while (from < n) {
        int len = n - from < PREFILL_CHUNK ? n - from : PREFILL_CHUNK;
        for (int i = 0; i < len; i++) {
            pos[i] = from + i;
            want[i] = from + i == n - 1;
        }
        /* Only the prompt's last token asks for logits; earlier chunks flag none. */
        struct llm_batch b = {.n_tokens = len, .token = ids + from, .pos = pos, .logits = want};
        if (llm_forward(s->model->llm, s->kv, &b, s->logits, e)) return -1;
        memcpy(s->tokens + from, ids + from, (size_t)len * sizeof *ids);
        from += len;
        s->n_tokens = from;
    }
    return 0;
}

int omni_session_generate(omni_session *s, const char *prompt, const omni_generate_params *gp, omni_usage *usage,
                          char *err, size_t err_size) {
    omni_generate_params dp = omni_generate_default_params();
    if (!gp) gp = &dp;
    omni_usage u;
    memset(&u, 0, sizeof u);
    struct err e = {{0}};
    const struct tokenizer *tok = s->model->tok;
    const int n_vocab = llm_hparams(s->model->llm)->n_vocab;

    int32_t *ids = NULL;
    size_t n_ids = 0;
    if (tokenizer_encode(tok, prompt, strlen(prompt), gp->add_special, gp->parse_special, &ids, &n_ids, &e))
        return fail(err, err_size, e.msg);
    /* Templates such as Llama 3's write BOS themselves; adding another would double it. */
    int32_t bos = tokenizer_bos(tok);
    if (gp->add_special && n_ids >= 2 && bos >= 0 && ids[0] == bos && ids[1] == bos) {
        memmove(ids, ids + 1, (n_ids - 1) * sizeof *ids);
        n_ids--;
    }
    if (n_ids == 0) { free(ids); return fail(err, err_size, "the prompt is empty"); }
    if ((int)n_ids >= s->n_ctx) {
        char msg[160];
        snprintf(msg, sizeof msg, "the prompt has %zu tokens but the context holds %d; shorten it or raise the context size",
                 n_ids, s->n_ctx);
        free(ids);
        return fail(err, err_size, msg);
    }

    /* Reuse the longest common prefix; at least the last prompt token is recomputed
     * because its logits are what we sample from. */
    int keep = 0;
    while (keep < s->n_tokens && keep < (int)n_ids - 1 && s->tokens[keep] == ids[keep]) keep++;
    llm_kv_truncate(s->kv, 0, keep);
    s->n_tokens = keep;
    u.prompt_tokens = (int)n_ids;
    u.cached_tokens = keep;

    struct sampler_params sp = sampler_default_params();
    sp.temperature = gp->sampling.temperature;
    sp.top_k = gp->sampling.top_k;
    sp.top_p = gp->sampling.top_p;
    sp.min_p = gp->sampling.min_p;
    sp.repeat_penalty = gp->sampling.repeat_penalty;
    sp.repeat_last_n = gp->sampling.repeat_last_n;
    sp.presence_penalty = gp->sampling.presence_penalty;
    sp.frequency_penalty = gp->sampling.frequency_penalty;
    sp.seed = gp->sampling.seed;
    struct sampler *smp = sampler_new(&sp, n_vocab);
    if (!smp) { free(ids); return fail(err, err_size, "out of memory"); }
    for (size_t i = 0; i < n_ids; i++) sampler_accept(smp, ids[i]);

    double t0 = now_ms();
    int rc = feed(s, ids, keep, (int)n_ids, &e);
    free(ids);
    double t1 = now_ms();
    u.prompt_ms = t1 - t0;

    struct detok dt;
    detok_init(&dt, tok, 0);
    dt.n_done = 1; /* a continuation of the prompt: keep the first piece's leading space */
    struct stop_match sm;
    stop_match_init(&sm, gp->stop, gp->n_stop);
    size_t piece_cap = 3 * tokenizer_max_piece(tok) + 16;
    char *piece = malloc(piece_cap);
    const char *out;
    size_t out_len;
    int hit_stop = 0;
    snprintf(u.finish_reason, sizeof u.finish_reason, "length");
    if (!piece) rc = err_set(&e, "out of memory");

    while (!rc) {
        if (gp->max_tokens > 0 && u.completion_tokens >= gp->max_tokens) break;
        if (s->n_tokens >= s->n_ctx) break;
        int32_t t = sampler_sample(smp, s->logits);
        if (t < 0) { rc = err_set(&e, "no token can be sampled (all are masked)"); break; }
        sampler_accept(smp, t);
        u.completion_tokens++;
        int eog = tokenizer_is_eog(tok, t);
        size_t n = eog ? 0 : detok_push(&dt, t, piece, piece_cap);
        int hit = stop_match_push(&sm, piece, n, &out, &out_len);
        if (hit < 0) { rc = err_set(&e, "out of memory"); break; }
        if (out_len && gp->on_text && gp->on_text(out, out_len, gp->user)) hit = 1;
        if (hit || eog) {
            hit_stop = hit;
            snprintf(u.finish_reason, sizeof u.finish_reason, "stop");
            break;
        }
        int32_t pos = s->n_tokens;
        struct llm_batch b = {.n_tokens = 1, .token = &t, .pos = &pos};
        if (llm_forward(s->model->llm, s->kv, &b, s->logits, &e)) { rc = -1; break; }
        s->tokens[s->n_tokens++] = t;
    }
    if (!rc && !hit_stop) {
        /* End of generation or length: release text held back because it might have
         * begun a stop string, and an unfinished UTF-8 tail. After a stop string
         * nothing more is said: the held text is the stop string itself. */
        size_t n = detok_flush(&dt, piece, piece_cap);
        if (n) stop_match_push(&sm, piece, n, &out, &out_len);
        if (n && out_len && gp->on_text) gp->on_text(out, out_len, gp->user);
        stop_match_flush(&sm, &out, &out_len);
        if (out_len && gp->on_text) gp->on_text(out, out_len, gp->user);
    }
    stop_match_free(&sm);
    free(piece);
    u.generate_ms = now_ms() - t1;
    sampler_free(smp);
    if (usage) *usage = u;
    if (rc) return fail(err, err_size, e.msg);
    return 0;
}
