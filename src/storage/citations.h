/* An answer's citations: the knowledge passages a custom assistant's answer was given and
 * cites (a JSON array of {index, file, page, heading, chunk, score, text}, as the chat
 * completion sends them in message.citations), kept with the stored answer so that a
 * reload, another browser or device, or the API show the sources and their passages.
 * Conventions as in storage.h: 0 or a negative STORE_* code with e filled; another
 * user's message or conversation behaves as a missing one; deleted with the message
 * (and so with the conversation and the account). */
#ifndef OMNI_STORAGE_CITATIONS_H
#define OMNI_STORAGE_CITATIONS_H
#include "storage/storage.h"

struct cJSON;

#define STORE_CITATIONS_MAX (1u << 20)   /* bytes of one answer's citations (JSON text) */

/* Keeps json, a JSON array, as the citations of the user's message msg_id (replacing what
 * it had); an empty array stores nothing. STORE_INVALID when json is not an array or is
 * longer than STORE_CITATIONS_MAX. */
int store_msg_citations_put(struct store *st, const char *user_id, const char *msg_id, const char *json, struct err *e);

struct store_citations {
    char msg_id[STORE_ID_MAX];
    char *json;   /* heap: the array as it was put */
};
void store_citations_free(struct store_citations *items, size_t n);
/* The citations kept for the messages of the user's conversation conv_id, in no
 * particular order; *out malloc'd (store_citations_free), NULL with *n 0 when none. */
int store_conv_citations(struct store *st, const char *user_id, const char *conv_id, struct store_citations **out,
                         size_t *n, struct err *e);
/* Puts each kept citations array of conversation conv_id as "citations" on its message in
 * messages (storage/msg_attach.h); shape, when not NULL, turns the parsed array into what
 * is attached (it owns the array). A failed read attaches nothing. 0, or -1 out of memory. */
int store_citations_attach(struct store *st, const char *user_id, const char *conv_id, struct cJSON *messages,
                           struct cJSON *(*shape)(struct cJSON *arr));

#endif
