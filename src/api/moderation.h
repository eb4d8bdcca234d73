/* The server's moderation setup: the policy file (its rules, and where checks run:
 * moderation/policy.h) and the guard model, loaded at start (omni serve --moderation FILE,
 * --guard-model FILE), used by /v1/moderations and the chat APIs' checks (api/guardrails.h). */
#ifndef OMNI_API_MODERATION_H
#define OMNI_API_MODERATION_H
#include "core/error.h"
#include "moderation/moderate.h"
#include "moderation/policy.h"

struct api_moderation {
    struct mod_policy *policy;  /* NULL without a policy file */
    omni_model *guard;          /* NULL without a guard model */
    struct guard_cache *cache;  /* the guard's prompt beginnings, computed from the start (NULL: none) */
    char *guard_id;             /* the guard's name in replies ("omni-rules" without one) */
    struct moderation cfg;      /* what moderation_check reads */
};

/* NULL (and no error) when neither is given; NULL with e set when loading fails. The
 * guard's fixed prompt beginnings start computing in the background (guard_cache.h). */
struct api_moderation *api_moderation_open(const char *policy, const char *guard_model, int n_threads, struct err *e);
void api_moderation_close(struct api_moderation *m);

#endif
