/* The generation engine behind the server: --parallel N slots share one model and
 * one KV cache (one sequence per slot). A single scheduler thread owns the model;
 * each step it runs ONE llm_forward over the tokens of every active slot (prompt
 * chunks of newly admitted requests and the next token of decoding ones), samples
 * per slot and hands text to each request's callback. New requests join between
 * steps; a slot keeps its previous tokens so a follow-up prompt with the same
 * prefix reuses that part of the KV cache (llm_kv_truncate to the common prefix).
 *
 *   struct sched *s = sched_new(model, &params, &e);
 *   sched_submit(s, &req, &e);       // from any thread; callbacks come on the scheduler thread
 *   atomic_store(&req.cancel, 1);    // client went away: the slot is freed at the next step
 *   sched_free(s);                   // cancels what is left and joins the thread */
#ifndef OMNI_RUNTIME_SCHEDULER_H
#define OMNI_RUNTIME_SCHEDULER_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "formats/image_decode.h"
#include "omni.h"

struct json_schema;

struct sched_params {
    int n_slots;      /* concurrent generations (--parallel) */
    int n_ctx;        /* context per slot; <= 0: min(model's training context, 4096) */
    int max_queue;    /* requests waiting for a slot before sched_submit refuses (-> 429) */
    int n_batch;      /* most tokens in one forward (prompt chunks are split to fit) */
    int n_chunk;      /* most prompt tokens in one forward (bounds how long a long prompt
                       * stalls decoding slots and newcomers); <= 0: n_batch / 2 */
};
enum { SCHED_MAX_SLOTS = 256 };
struct sched_params sched_default_params(void);

struct sched_sampling {
    float temperature;          /* 0: greedy */
    float top_p;                /* 1: off */
    int top_k;                  /* 0: off */
    float presence_penalty;     /* OpenAI semantics: subtract once per token seen in the output */
    float frequency_penalty;    /* subtract per occurrence in the output */
    uint64_t seed;
    int has_seed;               /* 0: a fresh seed per request */
    const int32_t *bias_token;  /* logit_bias, borrowed until on_done */
    const float *bias_value;
    int n_bias;
};

/* One generated token as it leaves the scheduler. text may be empty (a token that
 * ends inside a UTF-8 character, or text held back because it may start a stop string). */
struct sched_piece {
    const char *text;
    size_t len;
    int32_t token;              /* -1: text released at the end, not tied to a new token */
    float logprob;              /* log-probability of token under the model (before sampling tweaks) */
    int n_top;                  /* top alternatives, when the request asked for them */
    const int32_t *top_token;
    const float *top_logprob;
};

enum sched_finish { SCHED_FINISH_STOP = 0, SCHED_FINISH_LENGTH, SCHED_FINISH_CANCELLED, SCHED_FINISH_ERROR };

struct sched_result {
    enum sched_finish finish;
    int prompt_tokens, cached_tokens, completion_tokens;
    double ttft_s;              /* submit -> first token; < 0 when none */
    double total_s;             /* submit -> done */
    char error[256];            /* when finish == SCHED_FINISH_ERROR */
};

/* An image in a prompt: it fills prompt positions [pos, pos + omni_model_n_image_pos)
 * (the token ids there are placeholders and ignored). The scheduler thread encodes it
 * with the model's image encoder when the request is admitted. */
struct sched_image {
    int pos;
    const struct image *img;    /* decoded pixels, borrowed like the prompt */
};

struct sched_request {
    /* Inputs, borrowed until on_done has been called. */
    const int32_t *prompt;
    int n_prompt;
    const struct sched_image *images;   /* in prompt order, not overlapping; optional */
    int n_images;
    int max_tokens;             /* <= 0: until end of generation or the context is full */
    struct sched_sampling sampling;
    const char *const *stop;    /* stop strings (not part of the output) */
    int n_stop;
    int top_logprobs;           /* alternatives to report per token (0..20) */
    int json_mode;              /* constrain sampling to one valid JSON object (response_format) */
    const struct json_schema *json_schema; /* response_format json_schema: the output must match it
                                            * (borrowed until on_done); NULL: none */
    /* Called on the scheduler thread: copy what you need and return quickly. */
    void (*on_piece)(void *user, const struct sched_piece *p);
    /* Called exactly once, last; after it the scheduler never touches the request. */
    void (*on_done)(void *user, const struct sched_result *r);
    void *user;
    atomic_int cancel;          /* set from any thread to stop early */

    /* Scheduler-owned. */
    struct sched_request *next;
    double t_submit;
};

struct sched;

struct sched *sched_new(omni_model *model, const struct sched_params *p, struct err *e);
/* Cancels queued and running requests (each gets on_done), joins the thread, frees. */
void sched_free(struct sched *s);

enum { SCHED_OK = 0, SCHED_ERR_INVALID = -1, SCHED_ERR_FULL = -2, SCHED_ERR_STOPPING = -3 };
/* Queues r. Returns SCHED_OK, SCHED_ERR_FULL (queue at max_queue), SCHED_ERR_STOPPING,
 * or SCHED_ERR_INVALID (e.g. prompt longer than the context) with e set. On error
 * on_done is NOT called. */
int sched_submit(struct sched *s, struct sched_request *r, struct err *e);

/* Ends every queued and running request at the next step (shutdown after a grace period). */
void sched_cancel_all(struct sched *s);

int sched_n_ctx(const struct sched *s);
int sched_n_slots(const struct sched *s);
int sched_queue_len(struct sched *s);
int sched_slots_busy(struct sched *s);

#endif
