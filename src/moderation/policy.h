/* A moderation policy: the rules (rules.h) plus where checks run and what each category
 * does. One JSON document, a superset of the rules file:
 *
 *   {"rules": [...],                      the first stage (rules.h); may be empty
 *    "input": true,                       check what the user sends, before generation
 *    "output": true,                      check the answer sentence by sentence
 *    "tool_results": true,                check tool output read back into the prompt
 *    "knowledge": true,                   check retrieved text (file_search, knowledge)
 *    "guard": true,                       ask the server's guard model too (when one is loaded)
 *    "categories": {"violence": "block", "self-harm": "warn", "*": "block"},
 *    "message": "the plain-words reason shown when something is blocked",
 *    "message_ko": "…the same in Korean"}
 *
 * "categories" gives the action for a guard finding (or a rule hit naming a category) by
 * OpenAI category name; "*" is the default for the rest (block when unset). A guard
 * verdict Unsafe with no mapped category takes the default. Every field ("rules" too) is
 * optional; "input" and "output" default to true, the others to false.
 *
 * Immutable once parsed: checks from many threads at once are safe. */
#ifndef OMNI_MODERATION_POLICY_H
#define OMNI_MODERATION_POLICY_H
#include <stddef.h>

#include "core/error.h"
#include "moderation/guard.h"
#include "moderation/rules.h"

struct mod_policy {
    struct mod_rules *rules;        /* owned; never NULL (possibly no rules) */
    int on_input, on_output, on_tools, on_knowledge, use_guard;
    enum mod_action cat_action[OAI_N_CATEGORIES];
    enum mod_action default_action; /* "*" */
    char *message, *message_ko;     /* NULL: the built-in wording */
};

/* The policy a multi-user server applies when its admin set none: resident registration
 * and card numbers redacted from input, the guard (when loaded) on input with every
 * category blocked; answers are not held back (an admin turns output checks on). */
extern const char mod_policy_default_json[];

/* From JSON text; errors name the field. NULL with e on failure. */
struct mod_policy *mod_policy_parse(const char *json, size_t len, struct err *e);
struct mod_policy *mod_policy_load(const char *path, struct err *e);
void mod_policy_free(struct mod_policy *p);

/* The action for a set of OpenAI category bits (the most severe of theirs; the default
 * when none are set). */
enum mod_action mod_policy_action(const struct mod_policy *p, unsigned categories);

#endif
