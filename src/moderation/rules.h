/* The first stage of moderation, needing no model: block lists, regular expressions and
 * the PII detectors (pii.h), each a rule with an action. A policy file lists the rules:
 *
 *   {"rules": [
 *     {"name": "profanity", "type": "words", "words": ["바보", "idiot"], "action": "block",
 *      "category": "harassment", "message": "욕설은 사용할 수 없습니다."},
 *     {"name": "project-codes", "type": "regex", "pattern": "PRJ-\\d{4}", "action": "redact"},
 *     {"name": "pii", "type": "pii", "kinds": ["email", "phone", "card", "kr_rrn"], "action": "redact"},
 *     {"name": "our-support", "type": "regex", "pattern": "help@example\\.com", "action": "allow"}]}
 *
 * Words match case-insensitively anywhere (Korean words take particles: "바보야" holds
 * "바보"), except that an edge of a word made of ASCII letters or digits must not touch
 * another ASCII letter or digit ("idiot" is not in "idiotic"). Patterns are PCRE2 with
 * UTF-8 and Unicode properties, bounded in backtracking. "allow" spans exempt the other
 * rules' matches inside them. Actions by severity: allow < log < warn < redact < block;
 * the verdict's action is the most severe hit's.
 *
 * A loaded rule set is immutable: checks from many threads at once are safe. */
#ifndef OMNI_MODERATION_RULES_H
#define OMNI_MODERATION_RULES_H
#include <stddef.h>

#include "core/error.h"

enum mod_action { MOD_ALLOW = 0, MOD_LOG, MOD_WARN, MOD_REDACT, MOD_BLOCK };

const char *mod_action_name(enum mod_action a);

struct mod_rules;

/* From policy JSON text; errors name the rule (index and name) and the field. */
struct mod_rules *mod_rules_parse(const char *json, size_t len, struct err *e);
struct mod_rules *mod_rules_load(const char *path, struct err *e);
void mod_rules_free(struct mod_rules *r);
int mod_rules_count(const struct mod_rules *r);

struct mod_hit {
    const char *rule;       /* borrowed from the rule set */
    const char *category;   /* the rule's category ("pii" for PII rules unless set), or NULL */
    const char *kind;       /* the PII kind name for PII rules, else NULL */
    enum mod_action action;
    size_t start, len;      /* bytes of the checked text */
};

struct mod_verdict {
    enum mod_action action; /* the most severe hit's (MOD_ALLOW with no hits) */
    struct mod_hit *hits;   /* in text order, allowed spans removed */
    int n_hits;
    char *text;             /* the text with every redact hit replaced, when there is one; else NULL */
    const char *message;    /* the deciding block or warn rule's message for the user, or NULL */
    const char *rule;       /* the deciding rule's name, or NULL */
};

/* Checks text[0..len). v is filled (free with mod_verdict_free). 0, or -1 with e set
 * (out of memory). */
int mod_rules_check(const struct mod_rules *r, const char *text, size_t len, struct mod_verdict *v, struct err *e);
void mod_verdict_free(struct mod_verdict *v);

#endif
