/* The guard prompt's fixed beginning, computed once and kept (issue: guardrails, the
 * latency of a check). Every check of one kind renders the same text before the user's:
 * Qwen3Guard-Gen's task, safety policy and categories, Llama Guard 3's hazard taxonomy,
 * ShieldGemma's preamble. On a 2-core machine that beginning is most of a check's work
 * (Qwen3Guard-Gen-0.6B: about 2/3 of the prompt), and a check is a prefill.
 *
 * A cache holds one session of the guard model per kind of check (a prompt check, a
 * response check: their templates part early), whose KV starts with that beginning,
 * computed in the background when the cache is made (the server's start). A check on it
 * prefills only what follows: the user's text, the template's tail and the answer's
 * opening; a response check's follow-ups (the next sentence of the same answer) reuse the
 * conversation up to the sentence too, as any session reuses its common prefix.
 *
 * The engine's slots keep their prompts as well, but they are shared with every other
 * check and choose by the longest common prefix under a rule that protects whole
 * conversations: a long text, or prompt and response checks in turn, can leave no slot
 * holding the beginning. A session per kind always holds it.
 *
 * A sliding-window model's cache cannot step back past its window: a text longer than the
 * window costs the next check its beginning, computed again then (ShieldGemma: Gemma 2's
 * window is 4096 positions, a session's whole context, so it never does).
 *
 * Reuse is by token equality and the cached positions are the very values a full prefill
 * computes, so a check's label log-probabilities and verdict are the same whichever way it
 * runs (tests/moderation/test_guard_cache.c). Thread-safe. */
#ifndef OMNI_MODERATION_GUARD_CACHE_H
#define OMNI_MODERATION_GUARD_CACHE_H
#include <stddef.h>

#include "omni.h"
#include "moderation/guard.h"

/* Positions a cache session holds (at most the engine's slots' context): the guard's
 * prompt (its template is some hundreds of tokens) and a message of a few thousand; a
 * longer check runs on the slots. */
#define GUARD_CACHE_CTX 4096

struct guard_cache;

/* Makes the sessions (starting the guard's engine with its defaults when nothing has) and
 * starts computing their beginnings (returns at once). NULL with err set when the
 * sessions cannot be made (a guard then runs without the cache). */
struct guard_cache *guard_cache_new(omni_model *guard, enum guard_family f, char *err, size_t err_size);
/* Cancels a warm-up still running; no check may be using a session. NULL is fine. */
void guard_cache_free(struct guard_cache *c);

/* The session for a check of this kind (response: a response check) whose prompt needs
 * n_positions, once its beginning is computed (waits while it is being computed: that is
 * the check's own first part), or NULL when it is in use by another check or the prompt
 * does not fit (run on the engine's slots then). Give it back with guard_cache_give. */
omni_session *guard_cache_take(struct guard_cache *c, int response, int n_positions);
void guard_cache_give(struct guard_cache *c, omni_session *s);

/* Tokens of the beginning kept for a kind (0 before it is computed or when it failed). */
int guard_cache_prefix(struct guard_cache *c, int response);

#endif
