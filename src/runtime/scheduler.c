/* Continuous batching over slots; see scheduler.h. One thread owns the model: it
 * admits queued requests into free slots, runs one forward over every active slot's
 * tokens, samples, and reports text. HTTP threads only call sched_submit and set
 * req->cancel, so the only shared state is the queue under the mutex. */
#include "runtime/scheduler.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "runtime/model.h"
#include "runtime/stop_match.h"
#include "text/json_grammar.h"
#include "text/json_schema.h"
#include "text/sampler.h"
#include "text/tokenizer.h"

#define MAX_TOP_LOGPROBS 20

struct slot {
    int id;                       /* its sequence in the KV cache */
    struct sched_request *req;    /* NULL: free */
    int32_t *cache;               /* tokens whose K/V are in the cache, in order */
    int n_cache;
    int n_prompt_done;            /* prompt tokens already in the cache (prefill progress) */
    int32_t next;                 /* sampled, not yet fed */
    int n_gen;
    int n_cached;                 /* prompt tokens reused from the previous request */
    int logits_row;               /* row of this step's logits, or -1 */
    double t_first;
    double t_used;                /* when its last request ended (0: never), for LRU eviction */
    struct sampler *smp;
    struct json_grammar *jg;      /* made on the first JSON-mode request, reset after */
    struct json_schema_matcher *jsm; /* this request's json_schema matcher, freed when it ends */
    float *embd;                  /* the request's encoded images, n_images x n_image_pos x n_embd */
    size_t embd_cap;              /* floats allocated in embd */
    struct detok dt;
    struct stop_match sm;
};

struct sched {
    omni_model *model;
    struct llm_kv *kv;
    struct sched_params p;
    int n_vocab;
    struct slot *slot;
    float *logits;                /* n_slots x n_vocab */
    int32_t *b_tok, *b_pos, *b_seq;
    int8_t *b_out;
    const char **piece;           /* each token's bytes, for the JSON grammar (built on first use) */
    size_t *piece_len;

    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct sched_request *q_head, *q_tail;
    int q_len;
    int stopping;                 /* sched_free: cancel everything and exit */
    int cancel_all;
    int busy;                     /* slots with a request (read by metrics) */
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct sched_params sched_default_params(void) {
    struct sched_params p = {0};
    p.n_slots = 4;
    p.n_ctx = 0;
    p.max_queue = 64;
    p.n_batch = 512;
    p.n_chunk = 256;
    return p;
}

int sched_n_ctx(const struct sched *s) { return s ? s->p.n_ctx : 0; }
int sched_n_slots(const struct sched *s) { return s ? s->p.n_slots : 0; }

int sched_queue_len(struct sched *s) {
    if (!s) return 0;
    pthread_mutex_lock(&s->mu);
    int n = s->q_len;
    pthread_mutex_unlock(&s->mu);
    return n;
}

int sched_slots_busy(struct sched *s) {
    if (!s) return 0;
    pthread_mutex_lock(&s->mu);
    int n = s->busy;
    pthread_mutex_unlock(&s->mu);
    return n;
}

int sched_submit(struct sched *s, struct sched_request *r, struct err *e) {
    if (r->n_prompt <= 0) { err_set(e, "the prompt is empty"); return SCHED_ERR_INVALID; }
    if (r->n_prompt >= s->p.n_ctx) {
        err_set(e, "the prompt is %d tokens; this server's context is %d tokens per request", r->n_prompt, s->p.n_ctx);
        return SCHED_ERR_INVALID;
    }
    const int n_img_pos = omni_model_n_image_pos(s->model);
    if (r->n_images > 0 && n_img_pos <= 0) {
        err_set(e, "this model has no image encoder, so the prompt cannot contain images");
        return SCHED_ERR_INVALID;
    }
    for (int k = 0, end = 0; k < r->n_images; k++) {
        /* An image never ends the prompt: the reply's first logits come from a token. */
        if (!r->images[k].img || r->images[k].pos < end || r->images[k].pos + n_img_pos >= r->n_prompt) {
            err_set(e, "image %d is at prompt position %d, outside the prompt or overlapping another", k,
                    r->images[k].pos);
            return SCHED_ERR_INVALID;
        }
        end = r->images[k].pos + n_img_pos;
    }
    for (int i = 0, k = 0; i < r->n_prompt; i++) {
        if (k < r->n_images && i >= r->images[k].pos) {
            /* Positions under an image hold placeholders, not tokens. */
            if (i + 1 == r->images[k].pos + n_img_pos) k++;
            continue;
        }
        if (r->prompt[i] < 0 || r->prompt[i] >= s->n_vocab) {
            err_set(e, "prompt token %d is %d, outside the vocabulary (0..%d)", i, r->prompt[i], s->n_vocab - 1);
            return SCHED_ERR_INVALID;
        }
    }
    r->next = NULL;
    r->t_submit = now_s();
    pthread_mutex_lock(&s->mu);
    int rc = SCHED_OK;
    if (s->stopping || s->cancel_all) rc = SCHED_ERR_STOPPING;
    /* Waiting requests that free slots will take at once do not count against the bound. */
    else if (s->q_len >= s->p.max_queue + (s->p.n_slots - s->busy)) rc = SCHED_ERR_FULL;
    else {
        if (s->q_tail) s->q_tail->next = r; else s->q_head = r;
        s->q_tail = r;
        s->q_len++;
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void sched_cancel_all(struct sched *s) {
    pthread_mutex_lock(&s->mu);
    s->cancel_all = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void finish_request(struct sched_request *r, enum sched_finish f, int n_cached, int n_gen, double t_first,
                           const char *error) {
    struct sched_result res;
    memset(&res, 0, sizeof res);
    res.finish = f;
    res.prompt_tokens = r->n_prompt;
    res.cached_tokens = n_cached;
    res.completion_tokens = n_gen;
    double t = now_s();
    res.ttft_s = t_first > 0 ? t_first - r->t_submit : -1;
    res.total_s = t - r->t_submit;
    if (error) snprintf(res.error, sizeof res.error, "%s", error);
    r->on_done(r->user, &res);
}

static void emit(struct slot *sl, const char *text, size_t len, int32_t tok, const float *logits, int n_vocab) {
    struct sched_request *r = sl->req;
    struct sched_piece p;
    memset(&p, 0, sizeof p);
    p.text = text;
    p.len = len;
    p.token = tok;
    int32_t top_id[MAX_TOP_LOGPROBS];
    float top_lp[MAX_TOP_LOGPROBS];
    if (tok >= 0 && logits) {
        p.logprob = sampler_logprob(logits, n_vocab, tok);
        if (r->top_logprobs > 0) {
            p.n_top = sampler_top_logprobs(logits, n_vocab, r->top_logprobs < MAX_TOP_LOGPROBS ? r->top_logprobs
                                                                                               : MAX_TOP_LOGPROBS,
                                           top_id, top_lp);
            p.top_token = top_id;
            p.top_logprob = top_lp;
        }
    }
    r->on_piece(r->user, &p);
}

/* Ends the slot's request; its tokens stay in the cache for the next prompt. */
static void slot_finish(struct sched *s, struct slot *sl, enum sched_finish f, const char *error) {
    if (f != SCHED_FINISH_ERROR && f != SCHED_FINISH_CANCELLED) {
        char buf[64];
        const char *out;
        size_t n = detok_flush(&sl->dt, buf, sizeof buf), on;
        if (n && stop_match_push(&sl->sm, buf, n, &out, &on) == 1) f = SCHED_FINISH_STOP;
        if (n && on) emit(sl, out, on, -1, NULL, 0);
        stop_match_flush(&sl->sm, &out, &on);
        if (on) emit(sl, out, on, -1, NULL, 0);
    }
    finish_request(sl->req, f, sl->n_cached, sl->n_gen, sl->t_first, error);
    stop_match_free(&sl->sm);
    sampler_free(sl->smp);
    sl->smp = NULL;
    json_schema_matcher_free(sl->jsm);
    sl->jsm = NULL;
    sl->req = NULL;
    sl->t_used = now_s();
    pthread_mutex_lock(&s->mu);
    s->busy--;
    pthread_mutex_unlock(&s->mu);
}

static int common_prefix(const int32_t *a, int na, const int32_t *b, int nb) {
    int n = 0;
    while (n < na && n < nb && a[n] == b[n]) n++;
    return n;
}

/* Runs the image encoder over the request's images (on this, the model's thread). */
static int encode_images(struct sched *s, struct slot *sl, char *err, size_t err_cap) {
    const struct sched_request *r = sl->req;
    const size_t per = (size_t)omni_model_n_image_pos(s->model) * clip_hparams(s->model->clip)->n_out;
    const size_t need = per * (size_t)r->n_images;
    if (need > sl->embd_cap) {
        float *p = realloc(sl->embd, need * sizeof *p);
        if (!p) { snprintf(err, err_cap, "out of memory for the embeddings of %d images", r->n_images); return -1; }
        sl->embd = p;
        sl->embd_cap = need;
    }
    for (int k = 0; k < r->n_images; k++) {
        struct err e = {{0}};
        if (clip_encode_image(s->model->clip, llm_pool(s->model->llm), r->images[k].img, sl->embd + per * (size_t)k,
                              &e)) {
            snprintf(err, err_cap, "image %d: %.500s", k, e.msg);
            return -1;
        }
    }
    return 0;
}

/* Feeds the image that starts at the slot's prefill position through the LLM in a
 * forward of its own (rows are embeddings, not tokens). Returns 0 or -1 with e set. */
static int feed_image(struct sched *s, struct slot *sl, int k, struct err *e) {
    const int n = omni_model_n_image_pos(s->model), E = clip_hparams(s->model->clip)->n_out;
    int32_t *pos = malloc(sizeof(int32_t) * (size_t)n), *seq = malloc(sizeof(int32_t) * (size_t)n);
    int rc = -1;
    if (!pos || !seq) err_set(e, "out of memory feeding an image");
    else {
        for (int i = 0; i < n; i++) pos[i] = sl->n_prompt_done + i, seq[i] = sl->id;
        struct llm_batch b = {.n_tokens = n, .token = NULL, .pos = pos, .seq = seq, .logits = NULL};
        rc = llm_forward_embd(s->model->llm, s->kv, &b, sl->embd + (size_t)k * n * E, NULL, e);
    }
    free(pos);
    free(seq);
    if (rc == 0) sl->n_cache = sl->n_prompt_done += n;
    return rc;
}

/* The image starting exactly at prompt position p, or -1; *next_start: where the next
 * image at or after p starts (n_prompt when none). */
static int image_starting_at(const struct sched_request *r, int p, int *next_start) {
    *next_start = r->n_prompt;
    for (int k = 0; k < r->n_images; k++)
        if (r->images[k].pos >= p) {
            *next_start = r->images[k].pos;
            return r->images[k].pos == p ? k : -1;
        }
    return -1;
}

/* Puts r into a free slot: the one whose cached tokens share the longest prefix with
 * r's prompt when that keeps at least half of what the slot holds (a follow-up turn
 * lands where its conversation is), else the least recently used one. Sharing only a
 * system prompt with another conversation must not evict that conversation while an
 * idle slot holds something older. */
static int admit(struct sched *s, struct sched_request *r, char *err, size_t err_cap) {
    struct slot *best = NULL, *lru = NULL;
    int best_lcp = -1;
    for (int i = 0; i < s->p.n_slots; i++) {
        struct slot *sl = &s->slot[i];
        if (sl->req) continue;
        int lcp = common_prefix(sl->cache, sl->n_cache, r->prompt, r->n_prompt);
        if (lcp > best_lcp) { best = sl; best_lcp = lcp; }
        if (!lru || sl->t_used < lru->t_used) lru = sl;
    }
    if (!best) return 0;
    if (best_lcp == 0 || 2 * best_lcp < best->n_cache) {
        best = lru;
        best_lcp = common_prefix(lru->cache, lru->n_cache, r->prompt, r->n_prompt);
    }
    /* At least the last prompt token is recomputed: its logits start the reply. */
    int keep = best_lcp < r->n_prompt ? best_lcp : r->n_prompt - 1;
    /* Image placeholders say nothing about the pixels, so reuse stops at the first image. */
    if (r->n_images > 0 && keep > r->images[0].pos) keep = r->images[0].pos;
    llm_kv_truncate(s->kv, best->id, keep);
    best->n_cache = keep;
    memcpy(best->cache, r->prompt, (size_t)r->n_prompt * sizeof *r->prompt);
    const int n_img_pos = omni_model_n_image_pos(s->model);
    /* -1 never equals a token, so a later prompt cannot match an image's positions. */
    for (int k = 0; k < r->n_images; k++)
        for (int i = 0; i < n_img_pos; i++) best->cache[r->images[k].pos + i] = -1;
    best->n_prompt_done = keep;
    best->n_cached = keep;
    best->n_gen = 0;
    best->t_first = 0;
    best->next = -1;
    struct sampler_params sp = sampler_default_params();
    sp.temperature = r->sampling.temperature;
    sp.top_k = r->sampling.top_k;
    sp.top_p = r->sampling.top_p;
    sp.min_p = 0;
    sp.repeat_penalty = 1.0f;
    sp.repeat_last_n = s->p.n_ctx;
    sp.presence_penalty = r->sampling.presence_penalty;
    sp.frequency_penalty = r->sampling.frequency_penalty;
    struct sampler_logit_bias lb[512];
    int nb = r->sampling.n_bias < 512 ? r->sampling.n_bias : 512;
    for (int i = 0; i < nb; i++) {
        lb[i].token = r->sampling.bias_token[i];
        /* OpenAI: -100 effectively bans a token, +100 forces it. */
        lb[i].bias = r->sampling.bias_value[i] <= -100 ? -INFINITY : r->sampling.bias_value[i];
    }
    sp.logit_bias = lb;
    sp.n_logit_bias = nb;
    sp.seed = r->sampling.has_seed ? r->sampling.seed : SAMPLER_SEED_RANDOM;
    best->smp = sampler_new(&sp, s->n_vocab);
    best->req = r;
    if (!best->smp) {
        snprintf(err, err_cap, "out of memory creating the sampler");
        return -1;
    }
    if (r->json_mode || r->json_schema) {
        struct err e = {{0}};
        if (!s->piece) {
            s->piece = calloc((size_t)s->n_vocab, sizeof *s->piece);
            s->piece_len = calloc((size_t)s->n_vocab, sizeof *s->piece_len);
            for (int i = 0; s->piece && s->piece_len && i < s->n_vocab; i++)
                s->piece[i] = tokenizer_piece(s->model->tok, i, 0, &s->piece_len[i]);
        }
        if (r->json_schema) {
            best->jsm = s->piece && s->piece_len ? json_schema_matcher_new(r->json_schema, s->piece, s->piece_len,
                                                                           s->n_vocab, tokenizer_eos(s->model->tok), &e)
                                                 : NULL;
            if (!best->jsm) {
                snprintf(err, err_cap, "JSON schema: %.400s", e.msg[0] ? e.msg : "out of memory");
                return -1;
            }
            sampler_set_constraint(best->smp, json_schema_matcher_mask, best->jsm);
        } else if (!best->jg && s->piece && s->piece_len)
            best->jg = json_grammar_new(s->piece, s->piece_len, s->n_vocab, tokenizer_eos(s->model->tok), &e);
        else if (best->jg) json_grammar_reset(best->jg);
        if (!best->jsm && !best->jg) {
            snprintf(err, err_cap, "JSON mode: %.400s", e.msg[0] ? e.msg : "out of memory");
            return -1;
        }
        if (!best->jsm) sampler_set_constraint(best->smp, json_grammar_mask, best->jg);
    }
    detok_init(&best->dt, s->model->tok, 0);
    best->dt.n_done = 1; /* a continuation of the prompt: keep the first piece's leading space */
    stop_match_init(&best->sm, r->stop, r->n_stop);
    if (r->n_images > 0 && encode_images(s, best, err, err_cap)) return -1;
    return 1;
}

/* Handles a freshly sampled token for a slot; returns 1 when the slot finished. */
static int take_token(struct sched *s, struct slot *sl, int32_t tok, const float *logits) {
    struct sched_request *r = sl->req;
    if (sl->n_gen == 0) sl->t_first = now_s();
    if (tok < 0) { slot_finish(s, sl, SCHED_FINISH_STOP, NULL); return 1; }
    sl->n_gen++;
    if (tokenizer_is_eog(s->model->tok, tok)) {
        slot_finish(s, sl, SCHED_FINISH_STOP, NULL);
        return 1;
    }
    sampler_accept(sl->smp, tok);
    if (sl->jsm ? json_schema_matcher_accept(sl->jsm, tok) != 0 : r->json_mode && json_grammar_accept(sl->jg, tok)) {
        slot_finish(s, sl, SCHED_FINISH_ERROR, "JSON mode: the sampler produced a token the grammar forbids");
        return 1;
    }
    char buf[256];
    const char *out;
    size_t n = detok_push(&sl->dt, tok, buf, sizeof buf), on;
    int hit = stop_match_push(&sl->sm, buf, n, &out, &on);
    emit(sl, out, on, tok, logits, s->n_vocab);
    if (hit) { slot_finish(s, sl, SCHED_FINISH_STOP, NULL); return 1; }
    if (r->max_tokens > 0 && sl->n_gen >= r->max_tokens) { slot_finish(s, sl, SCHED_FINISH_LENGTH, NULL); return 1; }
    if (sl->n_cache + 1 >= s->p.n_ctx) { slot_finish(s, sl, SCHED_FINISH_LENGTH, NULL); return 1; }
    sl->next = tok;
    return 0;
}

/* Prompt tokens a prefilling slot has left before its next image or its end. */
static int prefill_left(const struct slot *sl) {
    int next_image;
    image_starting_at(sl->req, sl->n_prompt_done, &next_image);
    return next_image - sl->n_prompt_done;
}

static int prefill_before(const struct slot *a, const struct slot *b) {
    int la = prefill_left(a), lb = prefill_left(b);
    return la != lb ? la < lb : a->req->t_submit < b->req->t_submit;
}

/* One step: gather tokens of every active slot, one forward, sample. */
static void step(struct sched *s) {
    int n = 0, budget = s->p.n_batch, rows = 0;
    /* Images whose turn has come in a prefill go first, each in its own forward. */
    for (int i = 0; i < s->p.n_slots; i++) {
        struct slot *sl = &s->slot[i];
        int next_start, k;
        if (!sl->req || sl->req->n_images == 0) continue;
        while (sl->n_prompt_done < sl->req->n_prompt &&
               (k = image_starting_at(sl->req, sl->n_prompt_done, &next_start)) >= 0) {
            struct err e = {{0}};
            if (feed_image(s, sl, k, &e)) {
                log_error("scheduler: image forward failed: %s", e.msg);
                llm_kv_truncate(s->kv, sl->id, 0);
                sl->n_cache = 0;
                slot_finish(s, sl, SCHED_FINISH_ERROR, e.msg);
                break;
            }
        }
    }
    for (int i = 0; i < s->p.n_slots; i++) {
        struct slot *sl = &s->slot[i];
        sl->logits_row = -1;
        if (!sl->req || sl->n_prompt_done < sl->req->n_prompt) continue;
        s->b_tok[n] = sl->next;
        s->b_pos[n] = sl->n_cache;
        s->b_seq[n] = sl->id;
        s->b_out[n] = 1;
        sl->cache[sl->n_cache++] = sl->next;
        sl->logits_row = rows++;
        n++;
        budget--;
    }
    const int n_decode = n;
    /* One step's prompt work is bounded: every decoding user waits for the whole forward,
     * and so does a request that arrives during it, so a long prompt is fed in chunks
     * with their tokens (and newcomers' prompts) in between. */
    if (budget > s->p.n_chunk) budget = s->p.n_chunk;
    /* Shortest remaining prompt first: short prompts finish their prefill (and get their
     * first token) in this very forward instead of waiting behind a long one, which
     * takes what budget is left. Ties go to the request that came first. */
    int order[SCHED_MAX_SLOTS], n_order = 0;
    for (int i = 0; i < s->p.n_slots; i++) {
        struct slot *sl = &s->slot[i];
        if (!sl->req || sl->n_prompt_done >= sl->req->n_prompt) continue;
        int j = n_order++;
        while (j > 0 && prefill_before(&s->slot[i], &s->slot[order[j - 1]])) { order[j] = order[j - 1]; j--; }
        order[j] = i;
    }
    for (int o = 0; o < n_order && budget > 0; o++) {
        struct slot *sl = &s->slot[order[o]];
        int next_image;
        image_starting_at(sl->req, sl->n_prompt_done, &next_image);
        int take = next_image - sl->n_prompt_done; /* text up to the next image (fed next step) */
        if (take > budget) take = budget;
        for (int k = 0; k < take; k++) {
            s->b_tok[n] = sl->req->prompt[sl->n_prompt_done + k];
            s->b_pos[n] = sl->n_prompt_done + k;
            s->b_seq[n] = sl->id;
            s->b_out[n] = 0;
            n++;
        }
        sl->n_prompt_done += take;
        sl->n_cache = sl->n_prompt_done;
        budget -= take;
        if (sl->n_prompt_done == sl->req->n_prompt) {
            s->b_out[n - 1] = 1;
            sl->logits_row = rows++;
        }
    }
    if (n == 0) return;
    /* Rows come back in batch order; decode rows were added first, prefill rows after. */
    struct llm_batch b = {.n_tokens = n, .token = s->b_tok, .pos = s->b_pos, .seq = s->b_seq, .logits = s->b_out};
    struct err e = {{0}};
    const double t0 = now_s();
    const int rc = llm_forward(s->model->llm, s->kv, &b, s->logits, &e);
    /* OMNI_LOG=debug: where a slow first token or a slow step spends its time. */
    if (log_get_level() <= LOG_DEBUG)
        log_debug("scheduler: step %d tokens (%d decode, %d prefill) forward %.1f ms", n, n_decode, n - n_decode,
                  (now_s() - t0) * 1e3);
    if (rc) {
        log_error("scheduler: forward failed: %s", e.msg);
        for (int i = 0; i < s->p.n_slots; i++) {
            struct slot *sl = &s->slot[i];
            if (!sl->req) continue;
            llm_kv_truncate(s->kv, sl->id, 0);
            sl->n_cache = 0;
            slot_finish(s, sl, SCHED_FINISH_ERROR, e.msg);
        }
        return;
    }
    for (int i = 0; i < s->p.n_slots; i++) {
        struct slot *sl = &s->slot[i];
        if (!sl->req || sl->logits_row < 0) continue;
        const float *lg = s->logits + (size_t)sl->logits_row * s->n_vocab;
        take_token(s, sl, sampler_sample(sl->smp, lg), lg);
    }
}

static void *run(void *arg) {
    struct sched *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->stopping && !s->cancel_all && !s->q_head && s->busy == 0) pthread_cond_wait(&s->cv, &s->mu);
        int cancel = s->stopping || s->cancel_all, stop = s->stopping;
        struct sched_request *cancelled = NULL;
        if (cancel) { cancelled = s->q_head; s->q_head = s->q_tail = NULL; s->q_len = 0; }
        /* Admit waiting requests into free slots (they join this very step). */
        while (s->q_head && s->busy < s->p.n_slots) {
            struct sched_request *r = s->q_head;
            s->q_head = r->next;
            if (!s->q_head) s->q_tail = NULL;
            s->q_len--;
            s->busy++;
            pthread_mutex_unlock(&s->mu);
            char err[600] = "";
            if (admit(s, r, err, sizeof err) < 0) {
                struct slot *sl = NULL;
                for (int i = 0; i < s->p.n_slots; i++) if (s->slot[i].req == r) sl = &s->slot[i];
                if (sl) slot_finish(s, sl, SCHED_FINISH_ERROR, err);
            }
            pthread_mutex_lock(&s->mu);
        }
        int busy = s->busy;
        pthread_mutex_unlock(&s->mu);
        while (cancelled) {
            struct sched_request *nx = cancelled->next;
            finish_request(cancelled, SCHED_FINISH_CANCELLED, 0, 0, 0, NULL);
            cancelled = nx;
        }
        for (int i = 0; i < s->p.n_slots; i++) {
            struct slot *sl = &s->slot[i];
            if (sl->req && (cancel || atomic_load(&sl->req->cancel))) {
                /* Keep only what is consistent: a cut-off prefill leaves n_cache tokens. */
                slot_finish(s, sl, SCHED_FINISH_CANCELLED, NULL);
            }
        }
        if (stop) {
            pthread_mutex_lock(&s->mu);
            int idle = s->busy == 0 && !s->q_head;
            pthread_mutex_unlock(&s->mu);
            if (idle) return NULL;
            continue;
        }
        if (busy) step(s);
    }
}

struct sched *sched_new(omni_model *model, const struct sched_params *p, struct err *e) {
    struct sched *s = calloc(1, sizeof *s);
    if (!s) { err_set(e, "out of memory"); return NULL; }
    s->model = model;
    s->p = p ? *p : sched_default_params();
    if (s->p.n_slots < 1) s->p.n_slots = 1;
    if (s->p.n_slots > SCHED_MAX_SLOTS) {
        err_set(e, "--parallel %d: at most %d slots", s->p.n_slots, SCHED_MAX_SLOTS);
        free(s);
        return NULL;
    }
    if (s->p.n_batch < s->p.n_slots) s->p.n_batch = s->p.n_slots + 64;
    if (s->p.max_queue < 0) s->p.max_queue = 0;
    if (s->p.n_chunk <= 0 || s->p.n_chunk > s->p.n_batch) s->p.n_chunk = s->p.n_batch / 2;
    if (s->p.n_chunk < 1) s->p.n_chunk = 1;
    int train = omni_model_n_ctx_train(model);
    if (s->p.n_ctx <= 0) s->p.n_ctx = train > 0 && train < 4096 ? train : 4096;
    s->n_vocab = omni_model_n_vocab(model);
    s->kv = llm_kv_new(model->llm, s->p.n_slots, s->p.n_ctx, e);
    if (!s->kv) { free(s); return NULL; }
    s->slot = calloc((size_t)s->p.n_slots, sizeof *s->slot);
    s->logits = malloc((size_t)s->p.n_slots * s->n_vocab * sizeof *s->logits);
    s->b_tok = malloc((size_t)s->p.n_batch * sizeof *s->b_tok);
    s->b_pos = malloc((size_t)s->p.n_batch * sizeof *s->b_pos);
    s->b_seq = malloc((size_t)s->p.n_batch * sizeof *s->b_seq);
    s->b_out = malloc((size_t)s->p.n_batch);
    int ok = s->slot && s->logits && s->b_tok && s->b_pos && s->b_seq && s->b_out;
    for (int i = 0; ok && i < s->p.n_slots; i++) {
        s->slot[i].id = i;
        ok = (s->slot[i].cache = malloc((size_t)s->p.n_ctx * sizeof(int32_t))) != NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (!ok || pthread_create(&s->thread, NULL, run, s)) {
        err_set(e, ok ? "cannot start the scheduler thread" : "out of memory for %d slots", s->p.n_slots);
        s->thread = 0;
        sched_free(s);
        return NULL;
    }
    return s;
}

void sched_free(struct sched *s) {
    if (!s) return;
    if (s->thread) {
        pthread_mutex_lock(&s->mu);
        s->stopping = 1;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    }
    for (int i = 0; s->slot && i < s->p.n_slots; i++) {
        free(s->slot[i].cache);
        json_grammar_free(s->slot[i].jg);
        json_schema_matcher_free(s->slot[i].jsm);
        free(s->slot[i].embd);
    }
    free(s->piece);
    free(s->piece_len);
    free(s->slot);
    free(s->logits);
    free(s->b_tok);
    free(s->b_pos);
    free(s->b_seq);
    free(s->b_out);
    llm_kv_free(s->kv);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}
