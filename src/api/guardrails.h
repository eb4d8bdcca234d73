/* Moderation of one request (issue: guardrails): the policy that applies to it, its input
 * checks before generation, its output checks sentence by sentence, and the audit log.
 *
 * The policy, most specific first: the API key's, the assistant's (a chat naming one), the
 * user's tier's (all three stored by admins, storage/audit.h), the server's --moderation
 * file, and on a server with accounts (not --no-auth) the built-in default
 * (moderation/policy.h). A private laptop with neither runs no checks.
 *
 * The dispatcher gives every request a struct api_guard on its thread (api_guard_begin /
 * api_guard_end); the chat render step (every chat-style API: chat completions, Responses,
 * Anthropic messages, ollama chat) calls api_guard_input, the generation's reply writer
 * api_guard_sentence through the sentence filter (moderation/stream_filter.h). A block's
 * plain-words reason is in Korean when the text is, or the request's Accept-Language or the
 * user's app language (settings) is Korean. */
#ifndef OMNI_API_GUARDRAILS_H
#define OMNI_API_GUARDRAILS_H
#include <stddef.h>

#include "api/routes.h"
#include "moderation/policy.h"

struct api_guard {
    struct api_server *s;
    const struct api_who *who;       /* the principal when not the thread's (a Realtime socket's), or NULL */
    const char *api;                 /* "chat.completions", "responses", "messages", "ollama", "realtime" */
    int resolved;
    int off;                         /* a request that generates nothing (token counts): no checks */
    const struct mod_policy *policy; /* NULL: none applies */
    struct mod_policy *owned;        /* a stored policy parsed for this request */
    char assistant_id[64];           /* the assistant the request chats with ("": none) */
    int korean;                      /* plain words in Korean (Hangul in the input, Accept-Language ko, or the app) */
    char *last_user;                 /* the user's newest text, for the guard's answer checks */
    char **keep;                     /* redacted texts, freed at the end */
    int n_keep;
    char reason[400];                /* the last block's plain-words reason */
};

void api_guard_begin(struct api_guard *g, struct api_server *s, struct mg_connection *c);
void api_guard_end(struct api_guard *g);
/* The request this thread is handling, or NULL (outside a request). */
struct api_guard *api_guard_current(void);
/* Makes g the current one on this thread (another thread working for the request). */
void api_guard_use(struct api_guard *g);
/* The voice loop's check (omni_voice_params.moderate) for a Realtime socket's guard: reply
 * 0, the user's message (input); 1, a clause of the answer (output). 1 when flagged. */
int api_guard_voice(const char *text, size_t len, int reply, void *guard);
/* The chat names this assistant: its policy applies (called by the assistants' route). */
void api_guard_set_assistant(struct api_guard *g, const char *id);
/* The request's policy (resolved on first use), or NULL. */
const struct mod_policy *api_guard_policy(struct api_guard *g);

/* The messages new in this turn (after the last assistant turn): user text with "input",
 * tool results with "tool_results". Redactions replace *msgs with a copy (owned by the
 * guard). Returns 0, or 400 when something is blocked (msg gets the plain-words reason),
 * or 503 when the guard model failed (fail closed). */
int api_guard_input(struct api_guard *g, const omni_chat_message **msgs, int n, char *msg, size_t cap);
/* Retrieved text (file_search, assistants' knowledge) before it enters the prompt, with
 * "knowledge": 1 when it must be left out (flagged), 0 to use it. */
int api_guard_knowledge(struct api_guard *g, const char *text);

/* 1 when this request's answers go through the sentence filter. */
int api_guard_output_active(struct api_guard *g);
/* mod_sentence_check for the sentence filter; user is the struct api_guard. */
int api_guard_sentence(const char *s, size_t n, char **replacement, void *user);

/* Records a flagged item in the audit log (when the server has accounts). */
void api_guard_audit(struct api_guard *g, const char *stage, const char *rule, const char *category,
                     const char *action, const char *text, size_t len);

/* GET|PUT|DELETE /api/admin/moderation/... (routes_moderation_admin.c). */
struct api_who;
int route_admin_moderation(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *m,
                           const char *rest, const char *body, size_t len);

#endif
