/* Token sampling: penalties, logit bias, an optional constraint mask, then greedy
 * or temperature/top-k/top-p/min-p sampling with a seeded private RNG, so the same
 * seed and logits always give the same tokens. Also the OpenAI "logprobs" numbers. */
#ifndef OMNI_TEXT_SAMPLER_H
#define OMNI_TEXT_SAMPLER_H
#include <stdint.h>

struct sampler_logit_bias {
    int32_t token;
    float bias; /* added to the logit; -INFINITY bans the token */
};

/* Pass this as seed to draw one from the OS at sampler_new time. */
#define SAMPLER_SEED_RANDOM UINT64_MAX

struct sampler_params {
    float temperature;       /* <= 0: greedy (argmax after penalties/bias/constraint) */
    int top_k;               /* <= 0: no top-k cut */
    float top_p;             /* >= 1: no nucleus cut */
    float min_p;             /* <= 0: off; keeps p >= min_p * p_max */
    float repeat_penalty;    /* 1 = off; llama.cpp style: divide positive logits, multiply negative */
    int repeat_last_n;       /* how many recent tokens the penalties look at (0 = off) */
    float presence_penalty;  /* OpenAI: subtract once if the token appeared */
    float frequency_penalty; /* OpenAI: subtract count * this */
    const struct sampler_logit_bias *logit_bias; /* copied by sampler_new */
    int n_logit_bias;
    uint64_t seed;
};

/* temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, no penalties, random seed. */
struct sampler_params sampler_default_params(void);

/* A constraint masks tokens that may not come next by setting their logits to
 * -INFINITY (e.g. the JSON grammar). It sees the logits after penalties and bias. */
typedef void (*sampler_constraint_fn)(void *user, float *logits, int n_vocab);

struct sampler;

/* NULL on bad params (n_vocab <= 0) or out of memory. */
struct sampler *sampler_new(const struct sampler_params *p, int n_vocab);
void sampler_free(struct sampler *s);
void sampler_set_constraint(struct sampler *s, sampler_constraint_fn fn, void *user);

/* Picks the next token from raw logits (n_vocab floats, not modified). Returns -1
 * only if every token is masked. Does not record the token: call sampler_accept. */
int32_t sampler_sample(struct sampler *s, const float *logits);

/* Records a token of the context (prompt or generated) for the penalties. */
void sampler_accept(struct sampler *s, int32_t token);
/* Forgets the penalty history (new conversation); the RNG keeps its state. */
void sampler_reset(struct sampler *s);

/* Log-softmax of the raw logits, as OpenAI's logprobs reports: writes the n_top
 * most likely tokens (highest first) into ids/lps and returns how many were
 * written (<= n_top). */
int sampler_top_logprobs(const float *logits, int n_vocab, int n_top, int32_t *ids, float *lps);
/* The log-probability of one token under the raw logits. */
float sampler_logprob(const float *logits, int n_vocab, int32_t token);
/* The log-probabilities of n given tokens (one softmax): out[i] for ids[i], -INFINITY for
 * an id outside the vocabulary. */
void sampler_logprobs_of(const float *logits, int n_vocab, const int32_t *ids, int n, float *out);

#endif
