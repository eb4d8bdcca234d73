/* The engine of one model: the only caller of its forward pass. A single thread runs
 * continuous batching over every running sequence — the server's n_slots pooled
 * sequences and each omni_session's own — : each step ONE llm_forward over the prompt
 * chunks of newly admitted requests and the next token of decoding ones, then sampling
 * per sequence and the request's callback. Images are encoded on this thread too. New
 * requests join between steps; a sequence keeps what it cached, so a follow-up prompt
 * with the same prefix reuses that part of its KV cache.
 *
 *   struct sched *s = sched_new(model, &params, &e);  // omni_model_start_engine does this
 *   sched_submit(s, &req, &e);       // from any thread; callbacks come on the engine thread
 *   atomic_store(&req.cancel, 1);    // client went away: the sequence is freed at the next step
 *   sched_free(s);                   // cancels what is left and joins the thread
 *
 * State: the weights are immutable; the forward scratch (llm_state), the pooled slots,
 * the logits and batch arrays belong to the engine thread alone. The queue, the list of
 * session sequences and the counters are shared under `mu`. A session sequence is made
 * and freed by its session's thread (sched_seq_new/free), which hands it over through
 * that list; while a request runs on it only the engine thread touches it. */
#ifndef OMNI_RUNTIME_SCHEDULER_H
#define OMNI_RUNTIME_SCHEDULER_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "omni.h"

struct json_schema;
struct lazy_json_spec;
struct lora;

struct sched_params {
    int n_slots;      /* pooled sequences for session-less requests (--parallel); KV made on first use */
    int n_ctx;        /* context per pooled slot; <= 0: min(model's training context, 4096) */
    int max_queue;    /* requests waiting for a slot before sched_submit refuses (-> 429) */
    int n_batch;      /* most prompt + decode tokens in one forward (grown when more sequences decode) */
    int n_chunk;      /* most prompt tokens in one forward (bounds how long a long prompt
                       * stalls decoding sequences and newcomers); <= 0: n_batch / 2 */
    /* Speculative decoding (omni_engine_params): each decoding sequence's step feeds its
     * next token plus up to draft_max guesses, from the draft model (same vocabulary,
     * checked by sched_new) and/or prompt lookup (runtime/lookup.h); the rows are then
     * sampled in order as if one at a time, and the guesses after the first one the
     * sampler does not pick are dropped (the cache steps back with llm_kv_truncate). */
    omni_model *draft;
    int lookup;
    int draft_max;    /* <= 0: 16 */
    int draft_min;    /* fewer guesses than this: none */
    float draft_p_min; /* the draft stops at a guess it is less sure of than this */
    int cache_type;   /* the KV caches' type: a DT_ id (DT_F16 when 0) */
    int flash_attn;   /* enum llm_flash */
};
enum { SCHED_MAX_SLOTS = 256 };
struct sched_params sched_default_params(void);
/* The default context: the model's trained length as far as the KV caches of n_slots
 * slots and a session fit in a quarter of the machine's memory (at least 4096, or the
 * trained length if shorter). cache_type: a DT_ id (0: F16). */
int sched_default_ctx(omni_model *model, int cache_type, int n_slots);

/* An image in a prompt: it fills prompt positions [pos, pos + omni_model_n_image_pos)
 * (the token ids there are placeholders and ignored). The engine thread encodes it
 * with the model's image encoder when the request is admitted, unless the same image
 * (its key) is already cached at that place. */
struct sched_image {
    int pos;
    const omni_image *img;    /* borrowed like the prompt */
};

struct sched_seq;             /* a session's own sequence */

struct sched_request {
    /* Inputs, borrowed until on_done has been called. */
    const int32_t *prompt;
    int n_prompt;
    const struct sched_image *images;   /* in prompt order, not overlapping; optional */
    int n_images;
    struct sched_seq *seq;      /* the session's sequence, or NULL for a pooled slot */
    int max_tokens;             /* <= 0: until end of generation or the context is full */
    omni_sampling_params sampling;      /* its bias arrays borrowed like the prompt */
    const char *const *stop;    /* stop strings (not part of the output) */
    int n_stop;
    int logprobs;               /* compute each token's logprob (a softmax per token) */
    int top_logprobs;           /* alternatives to report per token (0..20); implies logprobs */
    const int32_t *watch;       /* tokens whose logprob every step reports (borrowed), or NULL */
    int n_watch;                /* 0..OMNI_MAX_WATCH */
    int json_mode;              /* constrain sampling to one valid JSON object */
    const struct json_schema *json_schema; /* the output must match it; NULL: none */
    const struct lazy_json_spec *lazy;     /* constrained calls inside free text (lazy_json.h) */
    int n_lazy;
    const struct lora *lora;    /* this request's own adapter on top of the model's (borrowed
                                 * until on_done), or NULL; a cached prefix is reused only
                                 * when it was computed with the same adapter and scale */
    float lora_scale;
    int special_text;           /* control tokens keep their text in the output (gpt-oss's
                                 * <|channel|>…, which the reasoning splitter reads) */
    /* Called on the engine thread: copy what you need and return quickly. */
    void (*on_token)(void *user, const omni_token_info *t);
    /* Called exactly once, last; after it the engine never touches the request (nor the
     * sequence, until the next request). error is NULL unless finish_reason is "error". */
    void (*on_done)(void *user, const omni_usage *u, const char *error);
    void *user;
    atomic_int cancel;          /* set from any thread to stop early */

    /* Engine-owned. */
    struct sched_request *next;
    double t_submit;
};

struct sched *sched_new(omni_model *model, const struct sched_params *p, struct err *e);
/* Cancels queued and running requests (each gets on_done), joins the thread, frees.
 * Session sequences must have been freed before. */
void sched_free(struct sched *s);

enum { SCHED_OK = OMNI_OK, SCHED_ERR_INVALID = OMNI_ERR_INVALID, SCHED_ERR_FULL = OMNI_ERR_BUSY,
       SCHED_ERR_STOPPING = OMNI_ERR_STOPPING };
/* Queues r. Returns SCHED_OK, SCHED_ERR_FULL (queue at max_queue), SCHED_ERR_STOPPING,
 * or SCHED_ERR_INVALID (e.g. prompt longer than the context, a sequence that is busy)
 * with e set. On error on_done is NOT called. */
int sched_submit(struct sched *s, struct sched_request *r, struct err *e);

/* Ends every queued and running request at the next step; later submits are refused. */
void sched_cancel_all(struct sched *s);

/* A sequence of its own with n_ctx positions (a session). Freed with sched_seq_free
 * once no request runs on it; the engine lets go of it at its next step boundary. */
struct sched_seq *sched_seq_new(struct sched *s, int n_ctx, struct err *e);
void sched_seq_free(struct sched *s, struct sched_seq *q);

int sched_n_ctx(const struct sched *s);      /* a pooled slot's */
int sched_n_slots(const struct sched *s);
int sched_queue_len(struct sched *s);
int sched_slots_busy(struct sched *s);       /* requests running, pooled and session */
/* Speculative decoding since the engine started: tokens proposed and kept. */
void sched_draft_stats(struct sched *s, unsigned long long *proposed, unsigned long long *accepted);
int sched_speculative(const struct sched *s);  /* 1: speculative decoding is on */

#endif
