/* One moderation decision over a text: the rules (rules.h) first, then the guard model
 * (guard_run.h) when one is configured, merged into OpenAI's moderation result (flagged,
 * the 13 categories with scores) plus what each stage found.
 *
 * Categories: a rule whose "category" is one of OpenAI's names (e.g. "harassment") sets
 * that category with score 1 when it hits with warn or block; the guard sets its mapped
 * categories (guard.h) with its label score. flagged: a block rule hit, or the guard's
 * verdict Unsafe (Qwen3Guard's Controversial counts only with strict). ShieldGemma asks
 * one question per policy: four guard runs per text.
 *
 * Thread-safe: the configuration is read-only; checks may run from many threads. */
#ifndef OMNI_MODERATION_MODERATE_H
#define OMNI_MODERATION_MODERATE_H
#include "omni.h"
#include "moderation/guard.h"
#include "moderation/guard_run.h"
#include "moderation/rules.h"

struct moderation {
    const struct mod_rules *rules;  /* borrowed; NULL: no rules */
    omni_model *guard;              /* borrowed; NULL: no guard model */
    struct guard_cache *cache;      /* borrowed; its cached prompt beginnings, or NULL */
    enum guard_family family;       /* of guard */
    int strict;                     /* Controversial is flagged too */
};

struct mod_result {
    int flagged;
    unsigned categories;            /* bit c: OpenAI category c applies */
    float scores[OAI_N_CATEGORIES];
    struct mod_verdict rules;       /* the rules' verdict (text rewritten when redacted) */
    int n_guard;                    /* guard checks run (0, 1, or 4 for ShieldGemma) */
    struct guard_check guard[SG_N_POLICIES];
};

/* reply NULL: text is a prompt; else reply is checked as the answer to text. 0, or -1
 * with err (a guard that failed to run; the rules' part is then still in r). */
int moderation_check(const struct moderation *m, const char *text, const char *reply, struct mod_result *r, char *err,
                     size_t err_size);
void mod_result_free(struct mod_result *r);

#endif
