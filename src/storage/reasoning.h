/* An answer's reasoning: the thoughts a thinking model streamed before its answer
 * (reasoning_content), kept with the stored answer so that the app can show them, folded,
 * after a reload or on another device. Only the answer is sent back to the model as
 * history; the thoughts are for the reader. Conventions as in storage.h: 0 or a negative
 * STORE_* code with e filled; another user's message behaves as a missing one; deleted
 * with the message (and so with the conversation and the account). */
#ifndef OMNI_STORAGE_REASONING_H
#define OMNI_STORAGE_REASONING_H
#include "storage/storage.h"

struct cJSON;

#define STORE_REASONING_MAX (1u << 20)   /* bytes of one answer's thoughts (longer ones are cut) */

/* Keeps text (cut to STORE_REASONING_MAX at a UTF-8 boundary) as the reasoning of the
 * user's message msg_id; an empty text stores nothing. */
int store_msg_reasoning_put(struct store *st, const char *user_id, const char *msg_id, const char *text, struct err *e);

struct store_reasoning {
    char msg_id[STORE_ID_MAX];
    char *text;   /* heap */
};
void store_reasonings_free(struct store_reasoning *items, size_t n);
/* The reasoning kept for the messages of the user's conversation conv_id, in no particular
 * order; *out malloc'd (store_reasonings_free), NULL with *n 0 when there is none. */
int store_conv_reasonings(struct store *st, const char *user_id, const char *conv_id, struct store_reasoning **out,
                          size_t *n, struct err *e);
/* Puts each kept reasoning of conversation conv_id as "reasoning" on its message in
 * messages (storage/msg_attach.h); a failed read attaches nothing. 0, or -1 out of memory. */
int store_reasoning_attach(struct store *st, const char *user_id, const char *conv_id, struct cJSON *messages);

#endif
