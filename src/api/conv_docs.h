/* A conversation's documents, under /api/conversations/{id}/files: the files a user
 * attached to one conversation in the web app, indexed into a vector store of the
 * conversation's own (made on the first attachment, storage/conv_docs.h) so that each turn
 * can search them (the chat's file_search tool, api/chat_file_search.h).
 *   GET    .../files            {object: "list", vector_store_id (null: none yet), data:
 *                               [{id (the file's), object: "conversation.file", filename,
 *                               bytes, status (in_progress|completed|failed|cancelled),
 *                               last_error, vector_store_id, created_at}]}
 *   POST   .../files {file_id}  attaches a file of the caller's (from POST /v1/files) and
 *                               queues its indexing: 201 with the item
 *   DELETE .../files/{file_id}  takes it out of the conversation and deletes the file
 * Deleting the conversation deletes its store and every file in it (api_conv_docs_delete).
 * Another user's conversation or file is a 404, as a missing one. */
#ifndef OMNI_API_CONV_DOCS_H
#define OMNI_API_CONV_DOCS_H
#include <stddef.h>

#include "api/routes.h"
#include "api/who.h"

/* rest: what follows "/files" ("" or "/{file_id}"). */
int route_conv_files(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *m, const char *conv_id,
                     const char *rest, const char *body, size_t len);
/* Before the conversation is deleted: its store and the files in it. 0, or -1 with e set. */
int api_conv_docs_delete(struct api_server *s, const char *user_id, const char *conv_id, struct err *e);

#endif
