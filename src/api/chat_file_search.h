/* The file_search tool of POST /v1/chat/completions, as the Responses API has it:
 * tools: [{type: "file_search", vector_store_ids: [...] (1 or 2), max_num_results (1..50,
 * default 8)}] next to function tools. The server runs it before generating, on the text
 * of the last user message (the web app gives it the conversation's documents, see
 * api/conv_docs.h): the hybrid search of api/files_index.h (dense + keyword, fused),
 * or -- when every chunk of the stores together fits in a quarter of the model's context
 * (n_ctx / 4 tokens, counted by the embedding model's tokenizer at indexing) -- the whole
 * documents, every chunk in order. The passages reach the model at the end of the system
 * message as data (api_fs_context: <result> elements naming file, page and heading, the
 * text unable to close them), each passage checked by the moderation policy's
 * "knowledge" rule first. The answer's message carries them as "citations" (the first
 * streamed chunk's delta), numbered as the model got them: [{index, file, file_id, page,
 * heading, chunk, score, text}], the shape of a custom assistant's citations. */
#ifndef OMNI_API_CHAT_FILE_SEARCH_H
#define OMNI_API_CHAT_FILE_SEARCH_H
#include <cJSON.h>

#include "api/routes.h"

struct api_chat_fs {
    cJSON *citations;   /* the passages given, or NULL */
    int whole;          /* 1: the documents went in whole */
};
/* Rewrites the chat body j (the file_search tool taken out of tools, the passages in the
 * system message) and makes it this thread's (api_chat_fs_citations). 0 (nothing to do,
 * or done), or the status of the error written: 400 bad tool fields or no question, 404 a
 * store that is not the caller's, 401/404 without accounts. Free with api_chat_fs_end. */
int api_chat_fs_begin(struct api_server *s, struct mg_connection *c, cJSON *j, struct api_chat_fs *x);
void api_chat_fs_end(struct api_chat_fs *x);
/* The citations of this thread's chat, or NULL. */
const cJSON *api_chat_fs_citations(void);
/* What this thread's answer cites: a custom assistant's knowledge passages, else the
 * file_search tool's (NULL: none). Every place that sends or stores an answer asks this. */
const cJSON *api_request_citations(void);

#endif
