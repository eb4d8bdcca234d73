/* Tiers: what each account may use. A tier has message limits for the app (per model or
 * model group, N messages in a rolling window, e.g. free: 10 messages per 3 hours on the
 * large models) and request/token rates for API keys (per minute). The tiers come from
 * a JSON file (`omni serve --tiers FILE`) or the built-in default below; the format:
 *
 *   {"default": "free",                                  tier of new accounts
 *    "groups": {"small": ["SmolLM2-*", "qwen3-0.6b"]},   model name patterns (fnmatch)
 *    "tiers": {
 *      "free": {"messages": [{"models": ["small"], "limit": null},
 *                            {"models": ["*"], "limit": 10, "window": "3h"}],
 *               "api": {"requests_per_minute": 20, "tokens_per_minute": 40000}},
 *      "plus": {...}}}
 *
 * A rule's "models" are group names or name patterns; the first rule that matches the
 * requested model applies; "limit": null (or no matching rule) means unlimited. A
 * "window" is seconds or a number with s, m, h or d. An "api" value of null or 0 is
 * unlimited. A limited rule may name a "fallback" model: a 429 from it offers that model
 * (error.fallback_model) when this server has it and the tier leaves room on it, as
 * ChatGPT falls back to its small model. */
#ifndef OMNI_AUTH_TIERS_H
#define OMNI_AUTH_TIERS_H
#include <cJSON.h>

#include "core/error.h"

struct auth_msg_rule {
    char **models;   /* group names or fnmatch patterns */
    int n_models;
    long limit;      /* messages per window; -1 unlimited */
    long window_s;
    char *fallback;  /* the model a limited user is offered instead ("fallback": NAME), or NULL */
};

struct auth_tier {
    char *name;
    struct auth_msg_rule *rules;
    int n_rules;
    long rpm, tpm;   /* API keys: requests and tokens per minute; -1 unlimited */
};

struct auth_group {
    char *name;
    char **patterns;
    int n;
};

struct auth_tiers {
    char *default_tier;
    struct auth_tier *tier;
    int n;
    struct auth_group *group;
    int n_groups;
    char *source; /* "built-in" or the file name */
};

/* The built-in tiers: free (10 messages / 3 h on every model outside the group "small",
 * which is empty until a tiers file fills it; 20 requests and 40,000 tokens per minute
 * for keys) and plus (five times that). Its JSON is auth_tiers_default_json(). */
const char *auth_tiers_default_json(void);
int auth_tiers_parse(struct auth_tiers *t, const char *json, const char *source, struct err *e);
int auth_tiers_load(struct auth_tiers *t, const char *path, struct err *e);
int auth_tiers_default(struct auth_tiers *t, struct err *e);
void auth_tiers_free(struct auth_tiers *t);

/* The tier by name; NULL or unknown names give the default tier. Never NULL. */
const struct auth_tier *auth_tier_get(const struct auth_tiers *t, const char *name);
int auth_tier_exists(const struct auth_tiers *t, const char *name);
/* The message rule for model in tier (by rule order), or NULL when unlimited. */
const struct auth_msg_rule *auth_tier_rule(const struct auth_tiers *t, const struct auth_tier *tier,
                                           const char *model);
/* Which rule index (0-based) applies, or -1: counters are kept per tier rule, so a
 * group of models shares one count. */
int auth_tier_rule_index(const struct auth_tiers *t, const struct auth_tier *tier, const char *model);
/* A JSON description of a tier (for GET /api/me); caller frees. */
cJSON *auth_tier_json(const struct auth_tier *tier);

#endif
