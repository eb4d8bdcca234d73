/* The file_search tool of POST /v1/responses: tools: [{type: "file_search",
 * vector_store_ids: [...], max_num_results, filters, ranking_options}]. The server runs
 * it before generating (random-weight or small models cannot be trusted to call it, and
 * the answer should always be grounded): the query is the text of the last user message,
 * the passages found (api/files_index.h) reach the model in the system message as data
 * -- each in a <result> element naming its file, page and heading, the text inside with
 * anything that could close the element or open a turn neutralised (control tokens are
 * also fenced by the chat formatter, see runtime/prompt_literal.h) -- and the response
 * gets a file_search_call output item (queries; results with include:
 * ["file_search_call.results"]) and file_citation annotations (file_id, filename, index)
 * on its output_text.
 *
 * generate.c reads what this adds to the response through api_rs_extra(): output items
 * that come before the model's, and annotations for its text. */
#ifndef OMNI_API_FILE_SEARCH_H
#define OMNI_API_FILE_SEARCH_H
#include <cJSON.h>

#include "api/routes.h"

struct api_rs_extra {
    cJSON *pre_items;       /* output items before the model's (file_search_call), or NULL */
    cJSON *annotations;     /* file_citation objects without "index" (set to the text's length), or NULL */
};
/* The extras of the response this thread is answering (NULL: none). */
const struct api_rs_extra *api_rs_extra(void);
void api_rs_extra_set(const struct api_rs_extra *x);

/* The Responses body j and the chat body made from it: 1 when j has no file_search tool
 * (nothing done), 0 when it ran (chat's messages carry the passages, x is filled: free
 * with api_rs_extra_free), or the HTTP status of the error written (400 bad tool
 * fields, 404 a store that is not the user's, ...). */
int api_file_search_prepare(struct api_server *s, struct mg_connection *c, const cJSON *j, cJSON *chat,
                            struct api_rs_extra *x);
void api_rs_extra_free(struct api_rs_extra *x);
/* The one file_search tool of tools (a Responses or a chat body's): *tool and its index
 * *at, or *tool = NULL when there is none; 0, or 400 written when there are two. */
int api_file_search_tool(struct mg_connection *c, const cJSON *tools, const cJSON **tool, int *at);

/* The text the model gets: the passages h[0..n) as <result> elements (malloc'ed, NULL
 * when out of memory). Document text cannot close an element or the list. */
struct api_fs_hit;
char *api_fs_context(const struct api_fs_hit *h, int n);

#endif
