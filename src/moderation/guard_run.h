/* Asks a guard model about a text, through the public engine API (include/omni.h): the
 * text as the conversation the guard's own chat template expects (Qwen3Guard-Gen and
 * Llama Guard 3 carry their instructions in the template; ShieldGemma gets its
 * model-card prompt for one policy), a short greedy answer, the answer parsed (guard.h),
 * and a score from the label token's probability rather than from the sampled text: the
 * probability mass of the unsafe labels ("Unsafe", "Controversial" at half weight,
 * "unsafe", "Yes") among the label alternatives at the position the label starts.
 *
 * Blocking: call from a thread that may wait (an HTTP thread), never from the engine's
 * callbacks. Any number of threads may check at once (the engine batches them). */
#ifndef OMNI_MODERATION_GUARD_RUN_H
#define OMNI_MODERATION_GUARD_RUN_H
#include <stddef.h>

#include "omni.h"
#include "moderation/guard.h"

struct guard_check {
    struct guard_verdict v;
    float p_unsafe;      /* 0..1 from the label probabilities; the verdict's 0/1 when the label
                          * position was not found in the answer */
    char answer[256];    /* what the guard wrote (cut at 255 bytes) */
    double ms;           /* time the check took */
};

/* reply NULL: checks user text as a prompt; else checks reply as the answer to it.
 * 0, or -1 with err set (the engine refused or failed). An answer the parser does not
 * understand is not an error: v.safety is GUARD_UNPARSED. */
int guard_run(omni_model *guard, enum guard_family f, int sg_policy, const char *text, const char *reply,
              struct guard_check *out, char *err, size_t err_size);

/* The score's parts (for tests): adds to mass[0..2] (unsafe, safe, half-weight label) the
 * probability of each alternative whose text, leading blanks dropped, begins its label
 * ("Un" counts for "Unsafe": a label split over tokens). */
void guard_label_mass(enum guard_family f, const char *const *alt, const size_t *len, const float *logprob, int n,
                      double mass[3]);

#endif
