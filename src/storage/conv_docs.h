/* A conversation's documents: the vector store (storage/files.h) that holds the files a
 * user attached to one conversation in the web app, made on the first attachment and
 * deleted with the conversation (api/conv_docs.h does the deleting of the store and its
 * files; the row itself goes with the conversation, ON DELETE CASCADE). Conventions as in
 * storage.h: 0 or a negative STORE_* code with e filled; another user's conversation
 * behaves as a missing one. Table: conversation_stores (migration 12). */
#ifndef OMNI_STORAGE_CONV_DOCS_H
#define OMNI_STORAGE_CONV_DOCS_H
#include "storage/storage.h"

/* The store of the user's conversation into vs_id (STORE_ID_MAX bytes); STORE_NOTFOUND
 * when the conversation has none (or is not the user's). */
int store_conv_vs_get(struct store *st, const char *user_id, const char *conv_id, char *vs_id, struct err *e);
/* Records vs_id as the store of the user's conversation, unless it has one already;
 * vs_id then gets the one recorded (so two first attachments at once agree on one).
 * STORE_NOTFOUND: not the user's conversation. */
int store_conv_vs_set(struct store *st, const char *user_id, const char *conv_id, char *vs_id, struct err *e);

#endif
