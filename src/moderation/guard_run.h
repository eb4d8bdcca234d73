/* Asks a guard model about a text, through the public engine API (include/omni.h): the
 * text as the conversation the guard's own chat template expects (Qwen3Guard-Gen and
 * Llama Guard 3 carry their instructions in the template; ShieldGemma gets its
 * model-card prompt for one policy), then the verdict read where the label is written:
 *
 *   the prompt ends with the answer's fixed opening (Qwen3Guard "Safety:", Llama Guard 3
 *   the blank line after its assistant header when the template leaves it out,
 *   ShieldGemma nothing), so one prefill gives the label's distribution: the
 *   probability of each label (Qwen3Guard " Safe" / " Unsafe" / " Controversial", Llama
 *   Guard "safe" / "unsafe", ShieldGemma "Yes" / "No") over the whole vocabulary, from
 *   its first token (in a vocabulary where labels begin with the same token, the
 *   product of its tokens up to where it parts from the others: one more token each). The most likely label is the verdict when the labels hold at least
 *   half of the probability (otherwise the model is not answering in its format:
 *   UNPARSED); the score is the unsafe labels' share ("Controversial" at half weight).
 *   Only an unsafe verdict decodes more, the categories after the label (at most
 *   GUARD_MAX_DETAIL tokens, one line; a response check also its "Refusal:" line).
 *
 * So a check costs one prefill and at most a few tokens, whatever the weights say; with a
 * guard_cache (guard_cache.h) the prefill starts after the template's fixed beginning.
 *
 * Blocking: call from a thread that may wait (an HTTP thread), never from the engine's
 * callbacks. Any number of threads may check at once (the engine batches them). */
#ifndef OMNI_MODERATION_GUARD_RUN_H
#define OMNI_MODERATION_GUARD_RUN_H
#include <stddef.h>
#include <stdint.h>

#include "omni.h"
#include "moderation/guard.h"
#include "moderation/guard_cache.h"

#define GUARD_MAX_DETAIL 24

struct guard_check {
    struct guard_verdict v;
    float p_unsafe;           /* 0..1: the unsafe labels' share of the labels' probability */
    int32_t label_token[3];   /* first token of each label: unsafe, safe, half-weight (-1: none) */
    float label_logprob[3];   /* their log-probabilities at the label position (-inf: none) */
    float label_seq_logprob[3]; /* each label's log-probability (its tokens to where it parts
                                 * from the others; = label_logprob where they part at once) */
    char answer[256];         /* the answer as read: opening, label, categories (cut at 255 bytes);
                               * "" when UNPARSED */
    int n_prompt;             /* tokens of the label prompt */
    int n_cached;             /* of them, those the engine had cached from an earlier check
                               * (the template's fixed beginning): not computed again */
    int n_generated;          /* tokens sampled in all (1 for a safe verdict) */
    int n_computed;           /* prompt positions computed in all: the first step's less what was
                               * cached, then one per later step (the label token before it) */
    double ms;                /* time the check took */
};

/* reply NULL: checks user text as a prompt; else checks reply as the answer to it.
 * cache: the guard's cached beginnings (its session for this kind when free), or NULL:
 * the engine's slots. 0, or -1 with err set (the engine refused or failed). An answer
 * the model does not give in its format is not an error: v.safety is GUARD_UNPARSED. */
int guard_run(omni_model *guard, struct guard_cache *cache, enum guard_family f, int sg_policy, const char *text,
              const char *reply, struct guard_check *out, char *err, size_t err_size);

/* The prompt guard_run reads the label after: the guard's template over the conversation,
 * then the answer's opening. 0 (free *out with omni_prompt_free), or -1 with err set. */
int guard_prompt(omni_model *guard, enum guard_family f, int sg_policy, const char *text, const char *reply,
                 omni_prompt *out, char *err, size_t err_size);

/* The label words of a family: k 0 unsafe, 1 safe, 2 half weight (NULL where there is none),
 * as the model writes them after the opening. */
const char *guard_label_word(enum guard_family f, int k);

/* From the labels' log-probabilities (unsafe, safe, half weight; -INFINITY for none): the
 * verdict's label 0..2, or -1 when they hold under half the probability; *p_unsafe the
 * unsafe share. */
int guard_label_pick(const float lp[3], float *p_unsafe);

#endif
