/* Per-user preferences and memory, over the same store as storage.h (the accounts
 * area's second header, kept apart so the core interface stays readable):
 * - settings: one JSON object per user (custom instructions, theme, language, …; the HTTP
 *   layer validates the fields, storage keeps the document as given);
 * - server settings: name -> text values an admin sets (e.g. the training-consent default);
 * - memories: short facts a user (or the model, through the `memory` tool) asked omni to
 *   keep across conversations, newest first;
 * - message meta: the sampling settings of the request that produced an answer, so that
 *   feedback on it can say how it was made.
 * Conventions as in storage.h: 0 or a negative STORE_* code with e filled; another user's
 * row behaves as a missing one (STORE_NOTFOUND); everything is deleted with its user
 * (ON DELETE CASCADE) and memories and settings are in store_export_user. */
#ifndef OMNI_STORAGE_PREFS_H
#define OMNI_STORAGE_PREFS_H
#include "storage/storage.h"

#define STORE_MEMORY_MAX 4096   /* bytes of one memory's text (NUL excluded) */
#define STORE_SETTINGS_MAX 65536 /* bytes of one user's settings document */

/* *json (malloc'd, free()) gets the user's settings document, or NULL when none was ever
 * written (returns 0 then). */
int store_settings_get(struct store *st, const char *user_id, char **json, struct err *e);
/* Replaces the user's settings document (the user must exist: else STORE_NOTFOUND). */
int store_settings_put(struct store *st, const char *user_id, const char *json, struct err *e);

/* *value (malloc'd) gets the server setting, STORE_NOTFOUND when unset. */
int store_server_get(struct store *st, const char *name, char **value, struct err *e);
int store_server_put(struct store *st, const char *name, const char *value, struct err *e);

struct store_memory {
    char id[STORE_ID_MAX];       /* "mem_…" */
    char user_id[STORE_ID_MAX];
    char *content;               /* heap */
    int64_t created, updated;
};
void store_memories_free(struct store_memory *items, size_t n);
/* Adds a memory (content 1..STORE_MEMORY_MAX bytes, else STORE_INVALID); out (may be
 * NULL) gets the row, its content heap-owned (free out->content). */
int store_memory_add(struct store *st, const char *user_id, const char *content, struct store_memory *out,
                     struct err *e);
/* The user's memories, newest first (ties by id); *out malloc'd (store_memories_free). */
int store_memory_list(struct store *st, const char *user_id, struct store_memory **out, size_t *n, struct err *e);
int store_memory_update(struct store *st, const char *user_id, const char *id, const char *content, struct err *e);
int store_memory_delete(struct store *st, const char *user_id, const char *id, struct err *e);
/* Forgets every memory of the user; *n (may be NULL) gets how many. */
int store_memory_delete_all(struct store *st, const char *user_id, int64_t *n, struct err *e);

/* The sampling settings (JSON text) of the request that produced message msg_id (a
 * message of the user's); get: *json NULL when none were recorded. */
int store_msg_meta_put(struct store *st, const char *user_id, const char *msg_id, const char *json, struct err *e);
int store_msg_meta_get(struct store *st, const char *user_id, const char *msg_id, char **json, struct err *e);

/* The built-in tools' runs (a JSON array of their items) that led to answer msg_id, the
 * user's message; get: *json NULL when it had none. At most STORE_RUNS_MAX bytes. */
#define STORE_RUNS_MAX (1 << 20)
int store_msg_runs_put(struct store *st, const char *user_id, const char *msg_id, const char *json, struct err *e);
int store_msg_runs_get(struct store *st, const char *user_id, const char *msg_id, char **json, struct err *e);

#endif
