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
#include "core/pool.h"
#include "runtime/image.h"
#include "runtime/lookup.h"
#include "runtime/lazy_json.h"
#include "models/lora.h"
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
    struct lora_use lora;         /* the adapter the cache was computed with (.a NULL: none) */
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
    /* Speculative decoding: this step's guesses (fed after `next`), the draft model's
     * own cache (holding cache[0..n_dkv)), and this request's counts. */
    int32_t *draft;               /* [draft_max], allocated with the slot */
    int n_draft;
    int spec_lookup, spec_model;  /* what this request may draft with */
    int from_lookup;              /* this step's guesses came from lookup */
    int lk_max;                   /* lookup's next guess length: halved by misses, doubled by hits */
    struct llm_kv *dkv;           /* made on first use */
    int n_dkv;
    int n_drafted, n_accepted;
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
    struct lora_use *seq_lora;    /* act_cap: act[j]'s own adapter, for the forward */
    int n_act, act_cap;
    int fg;                       /* marked as the pool's foreground work (pool_foreground) */
    float *logits;                /* act_cap x n_vocab */
    int32_t *b_tok, *b_pos, *b_seq;
    int8_t *b_out;
    int b_cap;
    int logits_rows;              /* rows `logits` holds */
    /* speculative decoding: the draft model's forward scratch, logits and batch */
    int spec;                     /* speculative decoding on (lookup or a draft; not recurrent) */
    omni_model *draft;
    struct llm_state *dst;
    float *d_logits;
    int d_logits_rows;
    int32_t *d_tok, *d_pos, *d_seq;
    int8_t *d_out;
    int d_cap;
    struct llm_kv **d_kvs;
    struct slot **d_act;
    int d_act_cap;
    unsigned long long n_drafted, n_accepted;  /* under mu */
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
    const int type = cache_type ? cache_type : DT_F16, caches = n_slots > 0 ? n_slots + 1 : 1;
    int train = omni_model_n_ctx_train(model), floor = train > 0 && train < 4096 ? train : 4096;
    int n = train > 0 ? train : 4096;
    /* the longest that fits (a sliding-window model's local layers only keep a ring, so
     * their share does not grow with the context): bisect on the caches' real size */
    if ((double)llm_kv_bytes_for(model->llm, n, type) * caches > share) {
        int lo = 1, hi = n;
        while (lo < hi) {
            int mid = lo + (hi - lo + 1) / 2;
            if ((double)llm_kv_bytes_for(model->llm, mid, type) * caches <= share) lo = mid;
            else hi = mid - 1;
        }
        n = lo;
    }
    return n < floor ? floor : n;
}

struct sched_params sched_default_params(void) {
    struct sched_params p = {0};
    p.n_slots = 4;
    p.n_ctx = 0;
    p.max_queue = 64;
    p.n_batch = 512;
    p.n_chunk = 256;
    p.draft_max = 16;
    p.draft_p_min = 0.75f;
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

void sched_draft_stats(struct sched *s, unsigned long long *proposed, unsigned long long *accepted) {
    *proposed = *accepted = 0;
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    *proposed = s->n_drafted;
    *accepted = s->n_accepted;
    pthread_mutex_unlock(&s->mu);
}

int sched_speculative(const struct sched *s) { return s && s->spec; }

static int slot_alloc(struct slot *sl, int n_ctx, int draft_max) {
    sl->n_ctx = n_ctx;
    sl->cache = malloc((size_t)n_ctx * sizeof *sl->cache);
    sl->keys = calloc((size_t)n_ctx, sizeof *sl->keys);
    sl->draft = malloc((size_t)(draft_max > 0 ? draft_max : 1) * sizeof *sl->draft);
    return sl->cache && sl->keys && sl->draft ? 0 : -1;
}

static void slot_release(struct slot *sl) {
    llm_kv_free(sl->kv);
    llm_kv_free(sl->dkv);
    free(sl->draft);
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
    if (slot_alloc(&q->sl, n_ctx, s->p.draft_max) || !(q->sl.kv = kv_new(s, n_ctx, e))) {
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

/* sl: the slot that ran r (its counts and times), or NULL for a request that never ran;
 * stop_string: the 1-based stop string that ended it, or 0 */
static void finish_request(struct sched_request *r, int f, const struct slot *sl, int stop_string, const char *error) {
    omni_usage u;
    memset(&u, 0, sizeof u);
    const int n_gen = sl ? sl->n_gen : 0;
    const double t_admit = sl ? sl->t_admit : 0, t_first = sl ? sl->t_first : 0;
    u.prompt_tokens = r->n_prompt;
    u.cached_tokens = sl ? sl->n_cached : 0;
    u.completion_tokens = n_gen;
    u.draft_tokens = sl ? sl->n_drafted : 0;
    u.draft_accepted = sl ? sl->n_accepted : 0;
    const double t = now_s();
    u.ttft_ms = t_first > 0 ? (t_first - r->t_submit) * 1e3 : -1;
    u.total_ms = (t - r->t_submit) * 1e3;
    u.prompt_ms = t_first > 0 && t_admit > 0 ? (t_first - t_admit) * 1e3 : 0;
    u.generate_ms = t_first > 0 ? (t - t_first) * 1e3 : 0;
    snprintf(u.finish_reason, sizeof u.finish_reason, "%s", finish_name(f));
    u.stop_string = f == FIN_STOP ? stop_string : 0;
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
    float watch_lp[OMNI_MAX_WATCH];
    if (tok >= 0 && logits && r->n_watch > 0) {
        sampler_logprobs_of(logits, n_vocab, r->watch, r->n_watch, watch_lp);
        p.n_watch = r->n_watch;
        p.watch_logprob = watch_lp;
    }
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
    const int stop_string = sl->sm.hit;
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
    s->n_drafted += (unsigned long long)sl->n_drafted;
    s->n_accepted += (unsigned long long)sl->n_accepted;
    if (!sl->pooled) sl->queued = 0;
    pthread_mutex_unlock(&s->mu);
    finish_request(r, f, sl, stop_string, error);
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
    if (sl->lora.a != r->lora || (r->lora && sl->lora.scale != r->lora_scale)) return 0;
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
        llm_state_set_seq_lora(s->st, &sl->lora, 1);
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
    sl->n_draft = sl->n_drafted = sl->n_accepted = 0;
    sl->spec_lookup = s->p.lookup && s->spec;
    sl->spec_model = s->draft && s->spec && r->n_images == 0; /* the draft model sees no images */
    sl->lk_max = s->p.draft_max;
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
    sl->lora = (struct lora_use){r->lora, r->lora ? r->lora_scale : 0};
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
    /* the draft's cache holds the old tokens: only the shared part stays */
    if (sl->dkv) sl->n_dkv = llm_kv_truncate(sl->dkv, sl->n_dkv < keep ? sl->n_dkv : keep);
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

/* Grows a batch's arrays to hold n tokens (*cap of them now). */
static int grow_batch(int32_t **tok, int32_t **pos, int32_t **seq, int8_t **out, int *cap, int n) {
    if (n <= *cap) return 0;
    int32_t *t = realloc(*tok, (size_t)n * sizeof *t);
    if (t) *tok = t;
    int32_t *p = realloc(*pos, (size_t)n * sizeof *p);
    if (p) *pos = p;
    int32_t *q = realloc(*seq, (size_t)n * sizeof *q);
    if (q) *seq = q;
    int8_t *o = realloc(*out, (size_t)n);
    if (o) *out = o;
    if (!t || !p || !q || !o) return -1;
    *cap = n;
    return 0;
}

/* Grows a logits buffer to n rows of n_vocab (*rows of them now). */
static int grow_rows(float **logits, int *rows, int n, int n_vocab) {
    if (n <= *rows) return 0;
    float *l = realloc(*logits, (size_t)n * n_vocab * sizeof *l);
    if (!l) return -1;
    *logits = l;
    *rows = n;
    return 0;
}

/* Room for this step's batch: every decoding sequence's token and guesses (n_draft in
 * all) plus a prompt chunk, and a row of logits for each but the prompt's. */
static int ensure_batch(struct sched *s, int n_draft) {
    if (grow_rows(&s->logits, &s->logits_rows, s->n_act + n_draft, s->n_vocab)) return -1;
    return grow_batch(&s->b_tok, &s->b_pos, &s->b_seq, &s->b_out, &s->b_cap, s->n_act + n_draft + s->p.n_batch);
}

/* ---- speculative decoding ---- */

static int32_t argmax(const float *x, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++) if (x[i] > x[best]) best = i;
    return best;
}

/* Room in the draft batch for n tokens and in its logits for rows rows. */
static int ensure_draft_batch(struct sched *s, int n, int rows) {
    if (grow_batch(&s->d_tok, &s->d_pos, &s->d_seq, &s->d_out, &s->d_cap, n) ||
        grow_rows(&s->d_logits, &s->d_logits_rows, rows, omni_model_n_vocab(s->draft)))
        return -1;
    if (rows > s->d_act_cap) {
        struct slot **a = realloc(s->d_act, (size_t)rows * sizeof *a);
        if (a) s->d_act = a;
        struct llm_kv **k = realloc(s->d_kvs, (size_t)rows * sizeof *k);
        if (k) s->d_kvs = k;
        if (!a || !k) return -1;
        s->d_act_cap = rows;
    }
    return 0;
}

/* The draft model guesses up to want[j] tokens for each of the n slots d_act[0..n), in
 * rounds batched over them: the first feeds what its cache lacks of cache[0..n_cache]
 * (cache[n_cache] is `next`), each later round the previous guess. Guesses are its
 * greedy choices; they need not be good, only the target's check makes them count. */
static void draft_with_model(struct sched *s, int n, const int *want) {
    const struct llm *dm = s->draft->llm;
    const int dv = omni_model_n_vocab(s->draft), tv = s->n_vocab;
    struct err e = {{0}};
    int n_tok = 0;
    for (int j = 0; j < n; j++) {
        struct slot *sl = s->d_act[j];
        if (sl->n_dkv > sl->n_cache) sl->n_dkv = llm_kv_truncate(sl->dkv, sl->n_cache);
        /* a long catch-up (the first reply after a long prompt) goes in chunks of its own */
        while (sl->n_cache + 1 - sl->n_dkv > s->p.n_batch) {
            struct llm_batch b = {.n_tokens = s->p.n_batch, .token = sl->cache + sl->n_dkv, .pos = NULL};
            if (ensure_draft_batch(s, s->p.n_batch, n)) return;
            for (int i = 0; i < s->p.n_batch; i++) s->d_pos[i] = sl->n_dkv + i;
            b.pos = s->d_pos;
            if (llm_forward(dm, s->dst, &sl->dkv, 1, &b, NULL, &e)) {
                log_warn("engine: draft model forward failed: %s", e.msg);
                return;
            }
            sl->n_dkv += s->p.n_batch;
        }
        n_tok += sl->n_cache + 1 - sl->n_dkv;
    }
    if (ensure_draft_batch(s, n_tok > n ? n_tok : n, n)) return;
    int32_t last[SCHED_MAX_SLOTS + 64];
    int live = 0;
    for (int round = 0;; round++) {
        int k = 0;
        for (int j = 0; j < n; j++) {
            struct slot *sl = s->d_act[j];
            s->d_kvs[j] = sl->dkv;
            if (round == 0) {
                for (int p = sl->n_dkv; p <= sl->n_cache; p++) {
                    s->d_tok[k] = sl->cache[p];
                    s->d_pos[k] = p;
                    s->d_seq[k] = j;
                    s->d_out[k++] = p == sl->n_cache;
                }
            } else if (sl->n_draft == round && round < want[j]) {
                s->d_tok[k] = sl->draft[round - 1];
                s->d_pos[k] = sl->n_dkv;
                s->d_seq[k] = j;
                s->d_out[k++] = 1;
            } else continue;
            last[live++] = j;
        }
        if (k == 0) break;
        struct llm_batch b = {.n_tokens = k, .token = s->d_tok, .pos = s->d_pos, .seq = s->d_seq, .logits = s->d_out};
        if (llm_forward(dm, s->dst, s->d_kvs, n, &b, s->d_logits, &e)) {
            log_warn("engine: draft model forward failed: %s", e.msg);
            for (int j = 0; j < n; j++) s->d_act[j]->n_draft = 0;
            return;
        }
        for (int r = 0; r < live; r++) {
            struct slot *sl = s->d_act[last[r]];
            sl->n_dkv = round == 0 ? sl->n_cache + 1 : sl->n_dkv + 1;
            float *row = s->d_logits + (size_t)r * dv;
            /* the request's logit bias (banned tokens above all) steers the draft too */
            const omni_sampling_params *o = &sl->req->sampling;
            for (int b = 0; b < o->n_bias; b++)
                if (o->bias_token[b] >= 0 && o->bias_token[b] < dv)
                    row[o->bias_token[b]] = o->bias_value[b] <= -100 ? -INFINITY : row[o->bias_token[b]] + o->bias_value[b];
            int32_t t = argmax(row, dv);
            /* a guess the draft itself doubts is likely wrong: stop there (its softmax
             * probability, 1 / sum exp(x - max)) */
            if (s->p.draft_p_min > 0) {
                double sum = 0;
                for (int v = 0; v < dv; v++) sum += exp((double)row[v] - row[t]);
                if (1.0 / sum < s->p.draft_p_min) continue;
            }
            if (t < tv) sl->draft[sl->n_draft++] = t; /* beyond the target's vocabulary: stop */
        }
        live = 0;
    }
}

/* This step's guesses for every decoding slot that may speculate (sl->n_draft): prompt
 * lookup first, the draft model where lookup finds nothing. Returns how many in all. */
static int make_drafts(struct sched *s) {
    int n_model = 0, total = 0;
    int want[SCHED_MAX_SLOTS + 64];
    for (int j = 0; j < s->n_act; j++) {
        struct slot *sl = s->act[j];
        sl->n_draft = 0;
        if (!sl->req || sl->n_prompt_done < sl->req->n_prompt || (!sl->spec_lookup && !sl->spec_model)) continue;
        /* a guess only helps if its token could be generated: within the context (the
         * loop stops at n_cache + 1 >= n_ctx) and the request's max_tokens */
        int k = s->p.draft_max;
        if (k > sl->n_ctx - 2 - sl->n_cache) k = sl->n_ctx - 2 - sl->n_cache;
        if (sl->req->max_tokens > 0 && k > sl->req->max_tokens - sl->n_gen - 1) k = sl->req->max_tokens - sl->n_gen - 1;
        if (k < 1 || k < s->p.draft_min) continue;
        sl->cache[sl->n_cache] = sl->next; /* the history ends with the token about to be fed */
        /* n-grams of 2..4 tokens: a single repeated token is too weak a sign */
        if (sl->spec_lookup) {
            /* its adaptive length, never below --draft-min (which would silence it) */
            int lk = sl->lk_max > s->p.draft_min ? sl->lk_max : s->p.draft_min;
            sl->n_draft = lookup_draft(sl->cache, sl->n_cache + 1, 2, 4, sl->draft, k < lk ? k : lk);
        }
        sl->from_lookup = sl->n_draft > 0;
        if (sl->n_draft == 0 && sl->spec_model && n_model < SCHED_MAX_SLOTS + 64) {
            if (!sl->dkv) {
                struct err e = {{0}};
                if (!(sl->dkv = llm_kv_new(s->draft->llm, sl->n_ctx, &e))) {
                    log_warn("engine: no cache for the draft model, speculating without it: %s", e.msg);
                    sl->spec_model = 0;
                    continue;
                }
                sl->n_dkv = 0;
            }
            want[n_model] = k;
            if (ensure_draft_batch(s, 1, n_model + 1) == 0) s->d_act[n_model++] = sl;
        }
    }
    if (n_model) draft_with_model(s, n_model, want);
    for (int j = 0; j < s->n_act; j++) {
        struct slot *sl = s->act[j];
        if (sl->n_draft < s->p.draft_min) sl->n_draft = 0;
        total += sl->n_draft;
    }
    return total;
}

/* Feeds cache[from..to) again after a step back its cache could not take exactly
 * (the attention caches here always can; this keeps the engine right if one cannot). */
static int refeed(struct sched *s, struct slot *sl, int from, int to, struct err *e) {
    int n = to - from;
    int32_t *pos = malloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
    if (!pos) return err_set(e, "out of memory");
    for (int i = 0; i < n; i++) pos[i] = from + i;
    struct llm_batch b = {.n_tokens = n, .token = sl->cache + from, .pos = pos};
    llm_state_set_seq_lora(s->st, &sl->lora, 1);
    int rc = n > 0 ? llm_forward(s->model->llm, s->st, &sl->kv, 1, &b, NULL, e) : 0;
    free(pos);
    return rc;
}

/* After a speculative step: the rows of slot sl from its logits_row on are sampled in
 * order, each exactly as a one-token step would sample it (same sampler state, same
 * random stream); the guess after row i is kept while it is the token row i gave.
 * base: the position `next` was fed at. Returns nothing: take_token reports. */
static void verify_rows(struct sched *s, struct slot *sl, int base) {
    const int n_draft = sl->n_draft;
    int i = 0;
    sl->n_drafted += n_draft;
    for (;; i++) {
        sl->n_cache = base + 1 + i;  /* what a one-token step would hold here */
        const float *lg = s->logits + (size_t)(sl->logits_row + i) * s->n_vocab;
        int32_t tok = sampler_sample(sl->smp, lg);
        int hit = i < n_draft && tok == sl->draft[i];
        sl->n_accepted += hit;
        if (take_token(s, sl, tok, lg) || !hit) break;
    }
    sl->n_draft = 0;
    if (sl->from_lookup) {
        /* a text that repeats keeps repeating: guess further; a miss: probe cheaply */
        int acc = i < n_draft ? i : n_draft;
        sl->lk_max = acc == n_draft ? 2 * sl->lk_max : acc + 1;
        if (sl->lk_max > s->p.draft_max) sl->lk_max = s->p.draft_max;
    }
    /* the guesses after the last kept one leave the caches */
    const int keep = base + 1 + i;
    if (n_draft > 0) {
        int got = llm_kv_truncate(sl->kv, keep);
        if (got < keep) {
            struct err e = {{0}};
            if (refeed(s, sl, got, keep, &e)) {
                log_error("engine: stepping back after a guess failed: %s", e.msg);
                llm_kv_truncate(sl->kv, 0);
                sl->n_cache = 0;
                if (sl->req) slot_finish(s, sl, FIN_ERROR, e.msg);
            }
        }
    }
    if (sl->dkv && sl->n_dkv > sl->n_cache) sl->n_dkv = llm_kv_truncate(sl->dkv, sl->n_cache);
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
    const int n_guess = s->spec ? make_drafts(s) : 0;
    if (ensure_batch(s, n_guess)) {
        for (int j = 0; j < s->n_act; j++)
            if (s->act[j]->req) slot_finish(s, s->act[j], FIN_ERROR, "out of memory for the batch");
        return;
    }
    int n = 0, budget = s->p.n_batch, rows = 0;
    for (int j = 0; j < s->n_act; j++) {
        struct slot *sl = s->act[j];
        sl->logits_row = -1;
        if (!sl->req || sl->n_prompt_done < sl->req->n_prompt) continue;
        sl->logits_row = rows;
        /* the token, then this step's guesses (speculative decoding), each with logits */
        for (int i = 0; i <= sl->n_draft; i++) {
            s->b_tok[n] = i ? sl->draft[i - 1] : sl->next;
            s->b_pos[n] = sl->n_cache;
            s->b_seq[n] = j;
            s->b_out[n] = 1;
            sl->keys[sl->n_cache] = 0;
            sl->cache[sl->n_cache++] = s->b_tok[n];
            rows++;
            n++;
            budget--;
        }
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
    for (int j = 0; j < s->n_act; j++) s->kvs[j] = s->act[j]->kv, s->seq_lora[j] = s->act[j]->lora;
    llm_state_set_seq_lora(s->st, s->seq_lora, s->n_act);
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
        if (sl->n_draft > 0) {
            verify_rows(s, sl, sl->n_cache - 1 - sl->n_draft);
            continue;
        }
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
    struct lora_use *u = realloc(s->seq_lora, (size_t)cap * sizeof *u);
    if (u) s->seq_lora = u;
    if (!a || !k || !u || grow_rows(&s->logits, &s->logits_rows, cap, s->n_vocab)) return -1;
    s->act_cap = cap;
    return 0;
}

static void *run(void *arg) {
    struct sched *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->stopping && !s->cancel_all && !s->q_head && s->busy == 0 && !s->n_dead) {
            if (s->fg) pool_foreground(0), s->fg = 0;  /* idle: background training may run */
            pthread_cond_wait(&s->cv, &s->mu);
        }
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
            finish_request(cancelled, FIN_CANCELLED, NULL, 0, NULL);
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
            if (idle) {
                if (s->fg) pool_foreground(0), s->fg = 0;
                return NULL;
            }
            continue;
        }
        if (!!s->n_act != s->fg) pool_foreground(s->fg = !!s->n_act);
        if (s->n_act) step(s);
    }
}

/* A draft model must spell every token as the model does (a vocabulary padded a little
 * differently is fine: guesses beyond the model's are dropped). 0, or -1 with e set. */
static int draft_compatible(omni_model *t, omni_model *d, struct err *e) {
    const int nt = omni_model_n_vocab(t), nd = omni_model_n_vocab(d);
    const char *why = "speculative decoding needs the same tokenizer";
    if (nt - nd > 128 || nd - nt > 128)
        return err_set(e, "the draft model %s has %d tokens and the model %s %d: not the same vocabulary (%s)",
                       omni_model_name(d), nd, omni_model_name(t), nt, why);
    if (tokenizer_bos(t->tok) != tokenizer_bos(d->tok) || tokenizer_eos(t->tok) != tokenizer_eos(d->tok))
        return err_set(e, "the draft model %s has other begin/end tokens than the model %s (%s)", omni_model_name(d),
                       omni_model_name(t), why);
    for (int i = 0; i < (nt < nd ? nt : nd); i++) {
        size_t lt = 0, ld = 0;
        const char *pt = tokenizer_piece(t->tok, i, 1, &lt), *pd = tokenizer_piece(d->tok, i, 1, &ld);
        if (lt != ld || (lt && memcmp(pt, pd, lt)))
            return err_set(e, "the draft model %s does not share the vocabulary of the model %s: token %d is \"%.*s\" "
                              "in the draft and \"%.*s\" in the model (%s)", omni_model_name(d), omni_model_name(t), i,
                           (int)(ld < 40 ? ld : 40), pd ? pd : "", (int)(lt < 40 ? lt : 40), pt ? pt : "", why);
    }
    if (llm_is_recurrent(d->llm))
        return err_set(e, "the draft model %s is recurrent (%s): its state cannot step back after a wrong guess; "
                          "use an attention-only draft", omni_model_name(d), omni_model_arch(d));
    return 0;
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
    if (s->p.draft_max <= 0) s->p.draft_max = 16;
    if (s->p.draft_max > 256) s->p.draft_max = 256;
    if (s->p.draft_min < 0) s->p.draft_min = 0;
    if (s->p.draft && draft_compatible(model, s->p.draft, e)) {
        free(s);
        return NULL;
    }
    s->draft = s->p.draft;
    s->spec = s->p.lookup || s->draft;
    if (s->spec && llm_is_recurrent(model->llm)) {
        /* its state only steps back to a checkpoint: every wrong guess would mean
         * recomputing from there */
        log_warn("engine: speculative decoding is off for %s: a recurrent model cannot step back after a wrong guess",
                 omni_model_arch(model));
        s->spec = 0;
    }
    if (s->spec)
        log_info("engine: speculative decoding: %s%s%s, up to %d tokens a step", s->p.lookup ? "prompt lookup" : "",
                 s->p.lookup && s->draft ? " and draft model " : s->draft ? "draft model " : "",
                 s->draft ? omni_model_name(s->draft) : "", s->p.draft_max);
    s->n_vocab = omni_model_n_vocab(model);
    s->n_img_pos = omni_model_n_image_pos(model);
    s->st = llm_state_new(model->llm);
    if (s->st) llm_state_set_lora(s->st, model->lora, model->n_lora);
    if (s->draft && s->spec && !(s->dst = llm_state_new(s->draft->llm))) s->spec = 0;
    s->slot = calloc((size_t)(s->p.n_slots ? s->p.n_slots : 1), sizeof *s->slot);
    int ok = s->st && s->slot && ensure_act(s, s->p.n_slots + 4) == 0;
    for (int i = 0; ok && i < s->p.n_slots; i++) {
        s->slot[i].pooled = 1;
        ok = slot_alloc(&s->slot[i], s->p.n_ctx, s->p.draft_max) == 0;
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
    free(s->seq_lora);
    free(s->logits);
    free(s->b_tok);
    free(s->b_pos);
    free(s->b_seq);
    free(s->b_out);
    free(s->d_logits);
    free(s->d_tok);
    free(s->d_pos);
    free(s->d_seq);
    free(s->d_out);
    free(s->d_kvs);
    free(s->d_act);
    llm_state_free(s->dst);
    llm_state_free(s->st);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->released_cv);
    free(s);
}
