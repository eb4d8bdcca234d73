/* Continuous batching over sequences; see scheduler.h. One thread owns the model's
 * forward: it admits queued requests into their sequences (a session's own, or a free
 * pooled slot), runs one forward over every active sequence's tokens, samples, and
 * reports. Other threads only call sched_submit, set req->cancel, and make or free
 * session sequences, so the shared state is the queue and the sequence list under mu. */
#include "runtime/scheduler.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/dtype.h"
#include "core/log.h"
#include "runtime/image.h"
#include "runtime/lazy_json.h"
#include "runtime/model.h"
#include "runtime/stop_match.h"
#include "text/json_grammar.h"
#include "text/json_schema.h"
#include "text/sampler.h"
#include "text/tokenizer.h"

#define MAX_TOP_LOGPROBS 20

struct slot {
    int pooled;                   /* one of the engine's n_slots (else a session's) */
    struct llm_kv *kv;            /* one sequence; a pooled slot's is made on first use */
    int n_ctx;
    struct sched_request *req;    /* NULL: free */
    int32_t *cache;               /* tokens whose K/V are in the cache, in order (0 under an image) */
    uint64_t *keys;               /* per cached position: 0 for text, the image's key under an image */
    int n_cache;
    int n_prompt_done;            /* prompt positions already in the cache (prefill progress) */
    int32_t next;                 /* sampled, not yet fed */
    int n_gen;
    int n_cached;                 /* prompt positions reused from the previous request */
    int logits_row;               /* row of this step's logits, or -1 */
    double t_admit, t_first;
    double t_used;                /* when its last request ended (0: never), for LRU eviction */
    struct sampler *smp;
    struct json_grammar *jg;      /* made on the first JSON-mode request, reset after */
    struct json_schema_matcher *jsm; /* this request's json_schema matcher, freed when it ends */
    struct lazy_json *lj;         /* this request's constrained calls (lazy_json), freed when it ends */
    float *embd;                  /* the request's encoded images, n_images x n_image_pos x n_embd */
    size_t embd_cap;              /* floats allocated in embd */
    struct detok dt;
    struct stop_match sm;
    /* A session's sequence, under sched.mu: its place in the list, a request queued or
     * running on it, and the free handshake (dead: its session wants it gone; released:
     * the engine let go of it). */
    struct slot *next_seq;
    int queued, dead, released;
};

struct sched_seq { struct slot sl; };

struct sched {
    omni_model *model;
    struct llm_state *st;         /* the forward's scratch */
    struct sched_params p;
    int n_vocab, n_img_pos;
    struct slot *slot;            /* [n_slots] pooled */
    struct slot **act;            /* this step's active sequences; act[j]->kv is the forward's kv[j] */
    struct llm_kv **kvs;
    int n_act, act_cap;
    float *logits;                /* act_cap x n_vocab */
    int32_t *b_tok, *b_pos, *b_seq;
    int8_t *b_out;
    int b_cap;
    const char **piece;           /* each token's bytes, for the JSON grammar (built on first use) */
    size_t *piece_len;

    pthread_t thread;
    int running;                  /* the thread has not returned */
    pthread_mutex_t mu;
    pthread_cond_t cv;            /* wakes the engine */
    pthread_cond_t released_cv;   /* a dead sequence was let go */
    struct sched_request *q_head, *q_tail;
    int q_len;                    /* pooled requests waiting (session requests never wait long) */
    struct slot *seqs;            /* session sequences */
    int n_dead;
    int stopping;                 /* sched_free: cancel everything and exit */
    int cancel_all;
    int busy;                     /* requests admitted and not finished (read by metrics) */
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int sched_default_ctx(omni_model *model, int cache_type, int n_slots) {
    /* the model's trained length, as far as the KV caches of every slot (and a session)
     * fit in a quarter of the machine's memory; never below 4096 (or the trained length) */
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    double share = pages > 0 && psz > 0 ? (double)pages * psz / 4 : 4e9;
    size_t per_pos = llm_kv_bytes_per_pos(model->llm, cache_type ? cache_type : DT_F16);
    int train = omni_model_n_ctx_train(model), floor = train > 0 && train < 4096 ? train : 4096;
    double fit = per_pos ? share / ((double)per_pos * (n_slots > 0 ? n_slots + 1 : 1)) : 1e9;
    int n = train > 0 ? train : 4096;
    if (fit < n) n = (int)fit;
    return n < floor ? floor : n;
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

static int slot_alloc(struct slot *sl, int n_ctx) {
    sl->n_ctx = n_ctx;
    sl->cache = malloc((size_t)n_ctx * sizeof *sl->cache);
    sl->keys = calloc((size_t)n_ctx, sizeof *sl->keys);
    return sl->cache && sl->keys ? 0 : -1;
}

static void slot_release(struct slot *sl) {
    llm_kv_free(sl->kv);
    free(sl->cache);
    free(sl->keys);
    json_grammar_free(sl->jg);
    json_schema_matcher_free(sl->jsm);
    lazy_json_free(sl->lj);
    free(sl->embd);
}

/* a cache of the engine's type and kernel */
static struct llm_kv *kv_new(struct sched *s, int n_ctx, struct err *e) {
    struct llm_kv *kv = llm_kv_new_type(s->model->llm, n_ctx, s->p.cache_type, e);
    if (kv) llm_kv_set_flash(kv, (enum llm_flash)s->p.flash_attn);
    return kv;
}

struct sched_seq *sched_seq_new(struct sched *s, int n_ctx, struct err *e) {
    struct sched_seq *q = calloc(1, sizeof *q);
    if (!q) { err_set(e, "out of memory"); return NULL; }
    if (slot_alloc(&q->sl, n_ctx) || !(q->sl.kv = kv_new(s, n_ctx, e))) {
        if (!q->sl.kv && q->sl.cache) err_prefix(e, "session: ");
        else err_set(e, "out of memory for a context of %d", n_ctx);
        slot_release(&q->sl);
        free(q);
        return NULL;
    }
    pthread_mutex_lock(&s->mu);
    q->sl.next_seq = s->seqs;
    s->seqs = &q->sl;
    pthread_mutex_unlock(&s->mu);
    return q;
}

static void unlink_seq_locked(struct sched *s, struct slot *sl) {
    for (struct slot **pp = &s->seqs; *pp; pp = &(*pp)->next_seq)
        if (*pp == sl) { *pp = sl->next_seq; break; }
}

void sched_seq_free(struct sched *s, struct sched_seq *q) {
    if (!q) return;
    pthread_mutex_lock(&s->mu);
    /* The engine may still be inside the step that finished this sequence's last
     * request: it lets go at the top of its loop, where no step is running. */
    q->sl.dead = 1;
    s->n_dead++;
    pthread_cond_signal(&s->cv);
    while (!q->sl.released && s->running) pthread_cond_wait(&s->released_cv, &s->mu);
    if (!q->sl.released) { unlink_seq_locked(s, &q->sl); s->n_dead--; }
    pthread_mutex_unlock(&s->mu);
    slot_release(&q->sl);
    free(q);
}

int sched_submit(struct sched *s, struct sched_request *r, struct err *e) {
    const int n_ctx = r->seq ? r->seq->sl.n_ctx : s->p.n_ctx;
    if (r->n_prompt <= 0) { err_set(e, "the prompt is empty"); return SCHED_ERR_INVALID; }
    if (!r->seq && s->p.n_slots == 0) {
        err_set(e, "this engine has no slots for requests without a session (start it with n_slots > 0)");
        return SCHED_ERR_INVALID;
    }
    if (r->n_prompt >= n_ctx) {
        err_set(e, "the prompt has %d positions (tokens and image embeddings) but the context holds %d; "
                   "shorten it or raise the context size", r->n_prompt, n_ctx);
        return SCHED_ERR_INVALID;
    }
    if (r->n_images > 0 && s->n_img_pos <= 0) {
        err_set(e, "this model has no image encoder (load an mmproj file first, e.g. --mmproj), "
                   "so the prompt cannot contain images");
        return SCHED_ERR_INVALID;
    }
    for (int k = 0, end = 0; k < r->n_images; k++) {
        /* An image never ends the prompt: the reply's first logits come from a token. */
        if (!r->images[k].img || r->images[k].pos < end || r->images[k].pos + s->n_img_pos >= r->n_prompt) {
            err_set(e, "image %d is at prompt position %d, outside the prompt, overlapping another or ending it "
                       "(put some text after an image)", k, r->images[k].pos);
            return SCHED_ERR_INVALID;
        }
        end = r->images[k].pos + s->n_img_pos;
    }
    for (int i = 0, k = 0; i < r->n_prompt; i++) {
        if (k < r->n_images && i >= r->images[k].pos) {
            /* Positions under an image hold placeholders, not tokens. */
            if (i + 1 == r->images[k].pos + s->n_img_pos) k++;
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
    else if (r->seq && (r->seq->sl.queued || r->seq->sl.dead)) {
        err_set(e, "this session is already generating (a session runs one request at a time)");
        rc = SCHED_ERR_INVALID;
    }
    /* Waiting requests that free slots will take at once do not count against the bound. */
    else if (!r->seq && s->q_len >= s->p.max_queue + s->p.n_slots) rc = SCHED_ERR_FULL;
    if (rc == SCHED_OK) {
        if (r->seq) r->seq->sl.queued = 1;
        else s->q_len++;
        if (s->q_tail) s->q_tail->next = r; else s->q_head = r;
        s->q_tail = r;
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    if (rc == SCHED_ERR_FULL) err_set(e, "the server is busy: %d requests are waiting", s->p.max_queue);
    if (rc == SCHED_ERR_STOPPING) err_set(e, "the engine is shutting down");
    return rc;
}

void sched_cancel_all(struct sched *s) {
    pthread_mutex_lock(&s->mu);
    s->cancel_all = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static const char *finish_name(int f) {
    static const char *const names[] = {"stop", "length", "cancelled", "error"};
    return names[f];
}
enum { FIN_STOP, FIN_LENGTH, FIN_CANCELLED, FIN_ERROR };

static void finish_request(struct sched_request *r, int f, int n_cached, int n_gen, double t_admit, double t_first,
                           const char *error) {
    omni_usage u;
    memset(&u, 0, sizeof u);
    u.prompt_tokens = r->n_prompt;
    u.cached_tokens = n_cached;
    u.completion_tokens = n_gen;
    const double t = now_s();
    u.ttft_ms = t_first > 0 ? (t_first - r->t_submit) * 1e3 : -1;
    u.total_ms = (t - r->t_submit) * 1e3;
    u.prompt_ms = t_first > 0 && t_admit > 0 ? (t_first - t_admit) * 1e3 : 0;
    u.generate_ms = t_first > 0 ? (t - t_first) * 1e3 : 0;
    snprintf(u.finish_reason, sizeof u.finish_reason, "%s", finish_name(f));
    r->on_done(r->user, &u, f == FIN_ERROR ? (error ? error : "generation failed") : NULL);
}

static void emit(struct slot *sl, const char *text, size_t len, int32_t tok, const float *logits, int n_vocab) {
    struct sched_request *r = sl->req;
    if (!r->on_token) return;
    omni_token_info p;
    memset(&p, 0, sizeof p);
    p.text = text;
    p.len = len;
    p.token = tok;
    int32_t top_id[MAX_TOP_LOGPROBS];
    float top_lp[MAX_TOP_LOGPROBS];
    if (tok >= 0 && logits && (r->logprobs || r->top_logprobs > 0)) {
        p.logprob = sampler_logprob(logits, n_vocab, tok);
        if (r->top_logprobs > 0) {
            p.n_top = sampler_top_logprobs(logits, n_vocab, r->top_logprobs < MAX_TOP_LOGPROBS ? r->top_logprobs
                                                                                               : MAX_TOP_LOGPROBS,
                                           top_id, top_lp);
            p.top_token = top_id;
            p.top_logprob = top_lp;
        }
    }
    r->on_token(r->user, &p);
}

/* Ends the slot's request; its tokens stay in the cache for the next prompt. The
 * slot is fully reset before on_done, which may free the request (and, for a
 * session, ask for its sequence back). */
static void slot_finish(struct sched *s, struct slot *sl, int f, const char *error) {
    if (f != FIN_ERROR && f != FIN_CANCELLED) {
        char buf[64];
        const char *out;
        size_t n = detok_flush(&sl->dt, buf, sizeof buf), on;
        if (n && stop_match_push(&sl->sm, buf, n, &out, &on) == 1) f = FIN_STOP;
        if (n && on) emit(sl, out, on, -1, NULL, 0);
        stop_match_flush(&sl->sm, &out, &on);
        if (on) emit(sl, out, on, -1, NULL, 0);
    }
    struct sched_request *r = sl->req;
    stop_match_free(&sl->sm);
    sampler_free(sl->smp);
    sl->smp = NULL;
    json_schema_matcher_free(sl->jsm);
    sl->jsm = NULL;
    lazy_json_free(sl->lj);
    sl->lj = NULL;
    sl->req = NULL;
    sl->t_used = now_s();
    pthread_mutex_lock(&s->mu);
    s->busy--;
    if (!sl->pooled) sl->queued = 0;
    pthread_mutex_unlock(&s->mu);
    finish_request(r, f, sl->n_cached, sl->n_gen, sl->t_admit, sl->t_first, error);
}

/* The key of prompt position i: 0 for text, the image's key under an image. *k walks
 * the images in order (start it at 0 and ask for ascending positions). */
static uint64_t prompt_key(const struct sched_request *r, int n_img_pos, int i, int *k) {
    while (*k < r->n_images && i >= r->images[*k].pos + n_img_pos) (*k)++;
    return *k < r->n_images && i >= r->images[*k].pos ? r->images[*k].img->key : 0;
}

/* Positions of the slot's cache that the prompt starts with: same token and, under an
 * image, the same picture. */
static int common_prefix(const struct slot *sl, const struct sched_request *r, int n_img_pos) {
    int n = 0, k = 0;
    while (n < sl->n_cache && n < r->n_prompt) {
        uint64_t key = prompt_key(r, n_img_pos, n, &k);
        if (sl->keys[n] != key || (!key && sl->cache[n] != r->prompt[n])) break;
        n++;
    }
    return n;
}

/* The one place sampling parameters become a sampler. */
static struct sampler *make_sampler(const omni_sampling_params *o, int n_ctx, int n_vocab) {
    struct sampler_params sp = sampler_default_params();
    sp.temperature = o->temperature;
    sp.top_k = o->top_k;
    sp.top_p = o->top_p;
    sp.min_p = o->min_p;
    sp.repeat_penalty = o->repeat_penalty;
    sp.repeat_last_n = o->repeat_last_n < 0 ? n_ctx : o->repeat_last_n;
    sp.presence_penalty = o->presence_penalty;
    sp.frequency_penalty = o->frequency_penalty;
    sp.seed = o->seed == OMNI_SEED_RANDOM ? SAMPLER_SEED_RANDOM : o->seed;
    struct sampler_logit_bias *lb = NULL;
    if (o->n_bias > 0) {
        if (!(lb = malloc((size_t)o->n_bias * sizeof *lb))) return NULL;
        for (int i = 0; i < o->n_bias; i++) {
            lb[i].token = o->bias_token[i];
            /* OpenAI: -100 effectively bans a token, +100 forces it. */
            lb[i].bias = o->bias_value[i] <= -100 ? -INFINITY : o->bias_value[i];
        }
        sp.logit_bias = lb;
        sp.n_logit_bias = o->n_bias;
    }
    struct sampler *smp = sampler_new(&sp, n_vocab);
    free(lb);
    return smp;
}

/* Runs the image encoder over the request's images from position `from` on (those
 * before are cached already). */
static int encode_images(struct sched *s, struct slot *sl, int from, char *err, size_t err_cap) {
    const struct sched_request *r = sl->req;
    const size_t per = (size_t)s->n_img_pos * clip_hparams(s->model->clip)->n_out;
    const size_t need = per * (size_t)r->n_images;
    if (need > sl->embd_cap) {
        float *p = realloc(sl->embd, need * sizeof *p);
        if (!p) { snprintf(err, err_cap, "out of memory for the embeddings of %d images", r->n_images); return -1; }
        sl->embd = p;
        sl->embd_cap = need;
    }
    for (int k = 0; k < r->n_images; k++) {
        if (r->images[k].pos < from) continue;
        struct err e = {{0}};
        if (clip_encode_image(s->model->clip, llm_pool(s->model->llm), &r->images[k].img->img,
                              sl->embd + per * (size_t)k, &e)) {
            snprintf(err, err_cap, "image %d: %.500s", k, e.msg);
            return -1;
        }
    }
    return 0;
}

/* Feeds the image that starts at the slot's prefill position through the LLM in a
 * forward of its own (rows are embeddings, not tokens). Returns 0 or -1 with e set. */
static int feed_image(struct sched *s, struct slot *sl, int k, struct err *e) {
    const int n = s->n_img_pos, E = clip_hparams(s->model->clip)->n_out;
    int32_t *pos = malloc(sizeof(int32_t) * (size_t)n);
    int rc = -1;
    if (!pos) err_set(e, "out of memory feeding an image");
    else {
        for (int i = 0; i < n; i++) pos[i] = sl->n_prompt_done + i;
        struct llm_batch b = {.n_tokens = n, .token = NULL, .pos = pos, .seq = NULL, .logits = NULL};
        rc = llm_forward_embd(s->model->llm, s->st, &sl->kv, 1, &b, sl->embd + (size_t)k * n * E, NULL, e);
    }
    free(pos);
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

/* The pooled slot for r: the free one whose cache shares the longest prefix with r's
 * prompt when that keeps at least half of what the slot holds (a follow-up turn lands
 * where its conversation is), else the least recently used one. Sharing only a system
 * prompt with another conversation must not evict that conversation while an idle
 * slot holds something older. */
static struct slot *pick_slot(struct sched *s, const struct sched_request *r) {
    struct slot *best = NULL, *lru = NULL;
    int best_lcp = -1;
    for (int i = 0; i < s->p.n_slots; i++) {
        struct slot *sl = &s->slot[i];
        if (sl->req) continue;
        int lcp = common_prefix(sl, r, s->n_img_pos);
        if (lcp > best_lcp) { best = sl; best_lcp = lcp; }
        if (!lru || sl->t_used < lru->t_used) lru = sl;
    }
    if (best && (best_lcp == 0 || 2 * best_lcp < best->n_cache)) best = lru;
    return best;
}

/* Puts r into its sequence. Returns 0, or -1 with err (the request is then in the
 * slot and the caller finishes it with the error). */
static int admit(struct sched *s, struct slot *sl, struct sched_request *r, char *err, size_t err_cap) {
    sl->req = r;
    sl->t_admit = now_s();
    sl->n_gen = 0;
    sl->t_first = 0;
    sl->next = -1;
    detok_init(&sl->dt, s->model->tok, r->special_text);
    sl->dt.n_done = 1; /* a continuation of the prompt: keep the first piece's leading space */
    stop_match_init(&sl->sm, r->stop, r->n_stop);
    if (!sl->kv) {
        struct err e = {{0}};
        if (!(sl->kv = kv_new(s, sl->n_ctx, &e))) {
            snprintf(err, err_cap, "%s", e.msg);
            sl->n_cache = sl->n_prompt_done = sl->n_cached = 0;
            return -1;
        }
    }
    int lcp = common_prefix(sl, r, s->n_img_pos);
    /* At least the last prompt token is recomputed: its logits start the reply. A
     * prefix never ends inside an image. */
    int keep = lcp < r->n_prompt ? lcp : r->n_prompt - 1;
    /* The cache says what it kept: a recurrent model's state only returns to its
     * checkpoint (or to nothing), which may be less than the shared prefix. */
    for (int want = -1; want != keep;) {
        want = keep;
        for (int k = 0; k < r->n_images; k++)
            if (r->images[k].pos < keep && keep < r->images[k].pos + s->n_img_pos) keep = r->images[k].pos;
        keep = llm_kv_truncate(sl->kv, keep);
    }
    /* where the next turn (or a retry of this one) will most likely diverge */
    llm_kv_checkpoint(sl->kv, r->n_prompt - 1);
    sl->n_cache = keep;
    memcpy(sl->cache, r->prompt, (size_t)r->n_prompt * sizeof *r->prompt);
    for (int i = 0, k = 0; i < r->n_prompt; i++) {
        sl->keys[i] = prompt_key(r, s->n_img_pos, i, &k);
        if (sl->keys[i]) sl->cache[i] = 0;
    }
    sl->n_prompt_done = keep;
    sl->n_cached = keep;
    sl->smp = make_sampler(&r->sampling, sl->n_ctx, s->n_vocab);
    if (!sl->smp) {
        snprintf(err, err_cap, "out of memory creating the sampler");
        return -1;
    }
    if (r->sampling.penalize_prompt)
        for (int i = 0; i < r->n_prompt; i++)
            if (!sl->keys[i]) sampler_accept(sl->smp, r->prompt[i]);
    if (r->json_mode || r->json_schema || r->n_lazy) {
        struct err e = {{0}};
        if (!s->piece) {
            s->piece = calloc((size_t)s->n_vocab, sizeof *s->piece);
            s->piece_len = calloc((size_t)s->n_vocab, sizeof *s->piece_len);
            for (int i = 0; s->piece && s->piece_len && i < s->n_vocab; i++)
                s->piece[i] = tokenizer_piece(s->model->tok, i, 0, &s->piece_len[i]);
        }
        if (r->n_lazy && !r->json_mode && !r->json_schema) {
            sl->lj = s->piece && s->piece_len ? lazy_json_new(r->lazy, r->n_lazy, s->piece, s->piece_len, s->n_vocab, &e)
                                              : NULL;
            if (!sl->lj) {
                snprintf(err, err_cap, "tool calls: %.400s", e.msg[0] ? e.msg : "out of memory");
                return -1;
            }
            sampler_set_constraint(sl->smp, lazy_json_mask, sl->lj);
        } else if (r->json_schema) {
            sl->jsm = s->piece && s->piece_len ? json_schema_matcher_new(r->json_schema, s->piece, s->piece_len,
                                                                         s->n_vocab, tokenizer_eos(s->model->tok), &e)
                                               : NULL;
            if (!sl->jsm) {
                snprintf(err, err_cap, "JSON schema: %.400s", e.msg[0] ? e.msg : "out of memory");
                return -1;
            }
            sampler_set_constraint(sl->smp, json_schema_matcher_mask, sl->jsm);
        } else if (!sl->jg && s->piece && s->piece_len)
            sl->jg = json_grammar_new(s->piece, s->piece_len, s->n_vocab, tokenizer_eos(s->model->tok), &e);
        else if (sl->jg) json_grammar_reset(sl->jg);
        if (!sl->lj && !sl->jsm && !sl->jg) {
            snprintf(err, err_cap, "JSON mode: %.400s", e.msg[0] ? e.msg : "out of memory");
            return -1;
        }
        if (!sl->lj && !sl->jsm) sampler_set_constraint(sl->smp, json_grammar_mask, sl->jg);
    }
    if (r->n_images > 0 && encode_images(s, sl, keep, err, err_cap)) return -1;
    return 0;
}

/* Handles a freshly sampled token for a slot; returns 1 when the slot finished. */
static int take_token(struct sched *s, struct slot *sl, int32_t tok, const float *logits) {
    struct sched_request *r = sl->req;
    if (sl->n_gen == 0) sl->t_first = now_s();
    if (tok < 0) { slot_finish(s, sl, FIN_ERROR, "no token can be sampled (all are masked)"); return 1; }
    sl->n_gen++;
    if (tokenizer_is_eog(s->model->tok, tok)) {
        slot_finish(s, sl, FIN_STOP, NULL);
        return 1;
    }
    sampler_accept(sl->smp, tok);
    if (sl->jsm ? json_schema_matcher_accept(sl->jsm, tok) != 0 : r->json_mode && json_grammar_accept(sl->jg, tok)) {
        slot_finish(s, sl, FIN_ERROR, "JSON mode: the sampler produced a token the grammar forbids");
        return 1;
    }
    char buf[256];
    const char *out;
    size_t n = detok_push(&sl->dt, tok, buf, sizeof buf), on;
    if (sl->lj && lazy_json_accept(sl->lj, tok, buf, n)) {
        slot_finish(s, sl, FIN_ERROR, "tool call: the sampler produced a token the schema forbids");
        return 1;
    }
    int hit = stop_match_push(&sl->sm, buf, n, &out, &on);
    if (hit < 0) { slot_finish(s, sl, FIN_ERROR, "out of memory matching stop strings"); return 1; }
    emit(sl, out, on, tok, logits, s->n_vocab);
    if (hit) { slot_finish(s, sl, FIN_STOP, NULL); return 1; }
    if (r->max_tokens > 0 && sl->n_gen >= r->max_tokens) { slot_finish(s, sl, FIN_LENGTH, NULL); return 1; }
    if (sl->n_cache + 1 >= sl->n_ctx) { slot_finish(s, sl, FIN_LENGTH, NULL); return 1; }
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

/* Room for this step's batch: every decoding sequence's token plus a prompt chunk. */
static int ensure_batch(struct sched *s) {
    int need = s->n_act + s->p.n_batch;
    if (need > s->b_cap) {
        int32_t *t = realloc(s->b_tok, (size_t)need * sizeof *t);
        if (t) s->b_tok = t;
        int32_t *p = realloc(s->b_pos, (size_t)need * sizeof *p);
        if (p) s->b_pos = p;
        int32_t *q = realloc(s->b_seq, (size_t)need * sizeof *q);
        if (q) s->b_seq = q;
        int8_t *o = realloc(s->b_out, (size_t)need);
        if (o) s->b_out = o;
        if (!t || !p || !q || !o) return -1;
        s->b_cap = need;
    }
    return 0;
}

/* One step: gather tokens of every active sequence, one forward, sample. */
static void step(struct sched *s) {
    /* Images whose turn has come in a prefill go first, each in its own forward. */
    for (int j = 0; j < s->n_act; j++) {
        struct slot *sl = s->act[j];
        int next_start, k;
        if (!sl->req || sl->req->n_images == 0) continue;
        while (sl->n_prompt_done < sl->req->n_prompt &&
               (k = image_starting_at(sl->req, sl->n_prompt_done, &next_start)) >= 0) {
            struct err e = {{0}};
            if (feed_image(s, sl, k, &e)) {
                log_error("engine: image forward failed: %s", e.msg);
                llm_kv_truncate(sl->kv, 0);
                sl->n_cache = 0;
                slot_finish(s, sl, FIN_ERROR, e.msg);
                break;
            }
        }
    }
    if (ensure_batch(s)) {
        for (int j = 0; j < s->n_act; j++)
            if (s->act[j]->req) slot_finish(s, s->act[j], FIN_ERROR, "out of memory for the batch");
        return;
    }
    int n = 0, budget = s->p.n_batch, rows = 0;
    for (int j = 0; j < s->n_act; j++) {
        struct slot *sl = s->act[j];
        sl->logits_row = -1;
        if (!sl->req || sl->n_prompt_done < sl->req->n_prompt) continue;
        s->b_tok[n] = sl->next;
        s->b_pos[n] = sl->n_cache;
        s->b_seq[n] = j;
        s->b_out[n] = 1;
        sl->keys[sl->n_cache] = 0;
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
    if (budget < 1) budget = 1; /* many decoders: prompts still advance */
    /* Shortest remaining prompt first: short prompts finish their prefill (and get their
     * first token) in this very forward instead of waiting behind a long one, which
     * takes what budget is left. Ties go to the request that came first. */
    int order_stack[64], *order = s->n_act <= 64 ? order_stack : malloc((size_t)s->n_act * sizeof *order);
    int n_order = 0;
    if (!order) return; /* next step retries */
    for (int j = 0; j < s->n_act; j++) {
        struct slot *sl = s->act[j];
        if (!sl->req || sl->n_prompt_done >= sl->req->n_prompt) continue;
        int i = n_order++;
        while (i > 0 && prefill_before(sl, s->act[order[i - 1]])) { order[i] = order[i - 1]; i--; }
        order[i] = j;
    }
    for (int o = 0; o < n_order && budget > 0; o++) {
        struct slot *sl = s->act[order[o]];
        int next_image;
        image_starting_at(sl->req, sl->n_prompt_done, &next_image);
        int take = next_image - sl->n_prompt_done; /* text up to the next image (fed next step) */
        if (take > budget) take = budget;
        for (int k = 0; k < take; k++) {
            s->b_tok[n] = sl->req->prompt[sl->n_prompt_done + k];
            s->b_pos[n] = sl->n_prompt_done + k;
            s->b_seq[n] = order[o];
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
    if (order != order_stack) free(order);
    if (n == 0) return;
    for (int j = 0; j < s->n_act; j++) s->kvs[j] = s->act[j]->kv;
    /* Rows come back in batch order; decode rows were added first, prefill rows after. */
    struct llm_batch b = {.n_tokens = n, .token = s->b_tok, .pos = s->b_pos, .seq = s->b_seq, .logits = s->b_out};
    struct err e = {{0}};
    const double t0 = now_s();
    const int rc = llm_forward(s->model->llm, s->st, s->kvs, s->n_act, &b, s->logits, &e);
    /* OMNI_LOG=debug: where a slow first token or a slow step spends its time. */
    if (log_get_level() <= LOG_DEBUG)
        log_debug("engine: step %d tokens (%d decode, %d prefill) over %d sequences, forward %.1f ms", n, n_decode,
                  n - n_decode, s->n_act, (now_s() - t0) * 1e3);
    if (rc) {
        log_error("engine: forward failed: %s", e.msg);
        for (int j = 0; j < s->n_act; j++) {
            struct slot *sl = s->act[j];
            if (!sl->req) continue;
            llm_kv_truncate(sl->kv, 0);
            sl->n_cache = 0;
            slot_finish(s, sl, FIN_ERROR, e.msg);
        }
        return;
    }
    for (int j = 0; j < s->n_act; j++) {
        struct slot *sl = s->act[j];
        if (!sl->req || sl->logits_row < 0) continue;
        const float *lg = s->logits + (size_t)sl->logits_row * s->n_vocab;
        take_token(s, sl, sampler_sample(sl->smp, lg), lg);
    }
}

/* Grows the per-step arrays to hold n active sequences (under no lock: engine only). */
static int ensure_act(struct sched *s, int n) {
    if (n <= s->act_cap) return 0;
    int cap = n * 2;
    struct slot **a = realloc(s->act, (size_t)cap * sizeof *a);
    if (a) s->act = a;
    struct llm_kv **k = realloc(s->kvs, (size_t)cap * sizeof *k);
    if (k) s->kvs = k;
    float *l = realloc(s->logits, (size_t)cap * s->n_vocab * sizeof *l);
    if (l) s->logits = l;
    if (!a || !k || !l) return -1;
    s->act_cap = cap;
    return 0;
}

static void *run(void *arg) {
    struct sched *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->stopping && !s->cancel_all && !s->q_head && s->busy == 0 && !s->n_dead)
            pthread_cond_wait(&s->cv, &s->mu);
        /* Let go of sequences whose sessions are being freed: no step runs now. One
         * with a request queued or running is let go once that request has ended (it
         * is cancelled below), so the request never outlives its sequence. */
        if (s->n_dead) {
            for (struct slot **pp = &s->seqs; *pp;) {
                struct slot *sl = *pp;
                if (sl->dead && !sl->req && !sl->queued) {
                    *pp = sl->next_seq;
                    sl->released = 1;
                    s->n_dead--;
                } else pp = &sl->next_seq;
            }
            pthread_cond_broadcast(&s->released_cv);
        }
        int cancel = s->stopping || s->cancel_all, stop = s->stopping;
        struct sched_request *cancelled = NULL;
        if (cancel) {
            cancelled = s->q_head;
            s->q_head = s->q_tail = NULL;
            s->q_len = 0;
            for (struct sched_request *r = cancelled; r; r = r->next) if (r->seq) r->seq->sl.queued = 0;
        }
        /* Admit waiting requests: a session's into its sequence, others into free slots
         * while there are any; the rest keep their place in the queue. */
        struct sched_request *admit_head = NULL, **admit_tail = &admit_head;
        int free_slots = 0;
        for (int i = 0; i < s->p.n_slots; i++) free_slots += !s->slot[i].req;
        struct sched_request **cancelled_tail = &cancelled;
        while (*cancelled_tail) cancelled_tail = &(*cancelled_tail)->next;
        for (struct sched_request **pp = &s->q_head, *prev = NULL; *pp;) {
            struct sched_request *r = *pp;
            if (r->seq && r->seq->sl.dead) {
                /* its session is being freed: it ends without running */
                *pp = r->next;
                if (s->q_tail == r) s->q_tail = prev;
                r->seq->sl.queued = 0;
                r->next = NULL;
                *cancelled_tail = r;
                cancelled_tail = &r->next;
            } else if (r->seq || free_slots > 0) {
                *pp = r->next;
                if (s->q_tail == r) s->q_tail = prev;
                if (!r->seq) { free_slots--; s->q_len--; }
                s->busy++;
                r->next = NULL;
                *admit_tail = r;
                admit_tail = &r->next;
            } else {
                prev = r;
                pp = &r->next;
            }
        }
        pthread_mutex_unlock(&s->mu);
        while (cancelled) {
            struct sched_request *nx = cancelled->next;
            finish_request(cancelled, FIN_CANCELLED, 0, 0, 0, 0, NULL);
            cancelled = nx;
        }
        for (struct sched_request *r = admit_head, *nx; r; r = nx) {
            nx = r->next;
            struct slot *sl = r->seq ? &r->seq->sl : pick_slot(s, r);
            char err[600] = "";
            if (admit(s, sl, r, err, sizeof err)) slot_finish(s, sl, FIN_ERROR, err);
        }
        /* This step's sequences: pooled slots and sessions with a request. */
        pthread_mutex_lock(&s->mu);
        int n = s->p.n_slots;
        for (struct slot *sl = s->seqs; sl; sl = sl->next_seq) n++;
        int ok = ensure_act(s, n) == 0;
        s->n_act = 0;
        for (int i = 0; ok && i < s->p.n_slots; i++)
            if (s->slot[i].req) s->act[s->n_act++] = &s->slot[i];
        for (struct slot *sl = s->seqs; ok && sl; sl = sl->next_seq)
            if (sl->req) {
                if (sl->dead) atomic_store(&sl->req->cancel, 1); /* its session is being freed */
                s->act[s->n_act++] = sl;
            }
        pthread_mutex_unlock(&s->mu);
        if (!ok) {
            log_error("engine: out of memory for %d sequences", n);
            continue;
        }
        for (int j = 0; j < s->n_act; j++) {
            struct slot *sl = s->act[j];
            if (sl->req && (cancel || atomic_load(&sl->req->cancel))) {
                /* Keep only what is consistent: a cut-off prefill leaves n_cache tokens. */
                slot_finish(s, sl, FIN_CANCELLED, NULL);
            }
        }
        if (stop) {
            pthread_mutex_lock(&s->mu);
            int idle = s->busy == 0 && !s->q_head;
            if (idle) {
                s->running = 0;
                pthread_cond_broadcast(&s->released_cv);
            }
            pthread_mutex_unlock(&s->mu);
            if (idle) return NULL;
            continue;
        }
        if (s->n_act) step(s);
    }
}

struct sched *sched_new(omni_model *model, const struct sched_params *p, struct err *e) {
    struct sched *s = calloc(1, sizeof *s);
    if (!s) { err_set(e, "out of memory"); return NULL; }
    s->model = model;
    s->p = p ? *p : sched_default_params();
    if (s->p.n_slots < 0) s->p.n_slots = 0;
    if (s->p.n_slots > SCHED_MAX_SLOTS) {
        err_set(e, "--parallel %d: at most %d slots", s->p.n_slots, SCHED_MAX_SLOTS);
        free(s);
        return NULL;
    }
    if (s->p.n_batch < 1) s->p.n_batch = 512;
    if (s->p.max_queue < 0) s->p.max_queue = 0;
    if (s->p.n_chunk <= 0 || s->p.n_chunk > s->p.n_batch) s->p.n_chunk = s->p.n_batch / 2;
    if (s->p.n_chunk < 1) s->p.n_chunk = 1;
    if (!s->p.cache_type) s->p.cache_type = DT_F16;
    if (s->p.cache_type != DT_F16 && s->p.cache_type != DT_Q8_0 && s->p.cache_type != DT_Q4_0) {
        err_set(e, "cache type: f16, q8_0 or q4_0");
        free(s);
        return NULL;
    }
    if (s->p.flash_attn < LLM_FLASH_AUTO || s->p.flash_attn > LLM_FLASH_OFF) {
        err_set(e, "flash attention: auto, on or off");
        free(s);
        return NULL;
    }
    if (s->p.n_ctx <= 0) s->p.n_ctx = sched_default_ctx(model, s->p.cache_type, s->p.n_slots);
    s->n_vocab = omni_model_n_vocab(model);
    s->n_img_pos = omni_model_n_image_pos(model);
    s->st = llm_state_new(model->llm);
    if (s->st) llm_state_set_lora(s->st, model->lora, model->n_lora);
    s->slot = calloc((size_t)(s->p.n_slots ? s->p.n_slots : 1), sizeof *s->slot);
    int ok = s->st && s->slot && ensure_act(s, s->p.n_slots + 4) == 0;
    for (int i = 0; ok && i < s->p.n_slots; i++) {
        s->slot[i].pooled = 1;
        ok = slot_alloc(&s->slot[i], s->p.n_ctx) == 0;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_cond_init(&s->released_cv, NULL);
    s->running = 1;
    if (!ok || pthread_create(&s->thread, NULL, run, s)) {
        err_set(e, ok ? "cannot start the engine thread" : "out of memory for %d slots", s->p.n_slots);
        s->running = 0;
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
    for (int i = 0; s->slot && i < s->p.n_slots; i++) slot_release(&s->slot[i]);
    if (s->seqs) log_warn("engine: freed while %s still has a sequence", "a session");
    free(s->piece);
    free(s->piece_len);
    free(s->slot);
    free(s->act);
    free(s->kvs);
    free(s->logits);
    free(s->b_tok);
    free(s->b_pos);
    free(s->b_seq);
    free(s->b_out);
    llm_state_free(s->st);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->released_cv);
    free(s);
}
