/* The moderation audit log and the stored moderation policies, over the same store as
 * storage.h:
 * - audit: one row per flagged item (who: user, key, assistant; what: an excerpt; which
 *   API and stage; the rule or category; the action taken), newest first for admins,
 *   pruned by age (the retention an admin sets);
 * - policies: a moderation policy document (src/moderation/policy.h) per tier, per
 *   assistant and per API key, kept as server settings named "moderation.SCOPE.NAME".
 * Conventions as in storage.h: 0 or a negative STORE_* code with e filled. */
#ifndef OMNI_STORAGE_AUDIT_H
#define OMNI_STORAGE_AUDIT_H
#include <stddef.h>
#include <stdint.h>

#include "storage/storage.h"

#define STORE_AUDIT_EXCERPT_MAX 400   /* bytes of the flagged text kept (cut at a character) */

struct store_audit {
    char id[STORE_ID_MAX];            /* "aud_…" */
    int64_t created;                  /* ms */
    char user_id[STORE_ID_MAX], key_id[STORE_ID_MAX], assistant_id[STORE_ID_MAX];
    char api[32];                     /* "chat.completions", "responses", "messages", "ollama", "realtime" */
    char stage[16];                   /* "input", "output", "tool_result", "knowledge" */
    char rule[128];                   /* the rule's name, or "guard:CATEGORY" */
    char category[64];
    char action[16];                  /* block, redact, warn, log */
    char excerpt[STORE_AUDIT_EXCERPT_MAX + 8];
};

/* Adds a row (in->id and in->created are filled when empty/0; the excerpt is cut). */
int store_audit_add(struct store *st, const struct store_audit *in, struct err *e);
/* Newest first, at most limit rows older than before_ms (0: now); *out malloc'd (free). */
int store_audit_list(struct store *st, int64_t before_ms, int limit, struct store_audit **out, size_t *n,
                     struct err *e);
/* Deletes the rows created before before_ms; *n (may be NULL) gets how many. */
int store_audit_prune(struct store *st, int64_t before_ms, int64_t *n, struct err *e);

/* Stored policies: scope "tier", "assistant" or "key"; get: STORE_NOTFOUND when unset. */
int store_policy_get(struct store *st, const char *scope, const char *name, char **json, struct err *e);
int store_policy_put(struct store *st, const char *scope, const char *name, const char *json, struct err *e);
int store_policy_delete(struct store *st, const char *scope, const char *name, struct err *e);
/* Every stored policy: names[i] "SCOPE/NAME" and docs[i] (malloc'd each; free both arrays). */
int store_policy_list(struct store *st, char ***names, char ***docs, size_t *n, struct err *e);

#endif
