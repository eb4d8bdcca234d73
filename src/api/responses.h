/* Items of the Responses and Conversations APIs, shared by routes_responses.c and
 * routes_v1_conversations.c: checking input items, giving them their stored form (ids,
 * content as parts, status), and the user a stored route works for. */
#ifndef OMNI_API_RESPONSES_H
#define OMNI_API_RESPONSES_H
#include <cJSON.h>

#include "api/routes.h"
#include "storage/storage.h"

/* 0 when items (an array; param names it in errors, e.g. "items") are valid input items;
 * else -1 with "param" and a message (for a 400). */
int api_resp_items_check(const cJSON *items, const char *param, char *bad_param, size_t pcap, char *msg, size_t mcap);
/* input (a string or checked items) → a new array of items in their stored form: each
 * with an id (msg_/fc_/fco_/rs_ …), a message's content as parts (input_text, or
 * output_text for the assistant) and a status. NULL when out of memory. */
cJSON *api_resp_items_normalize(const cJSON *input);
/* The store and the user the stored routes work for, or NULL after a 400/404 was written
 * (*status): accounts off, or a principal without a user (a server-wide key). */
struct store *api_resp_user(struct api_server *s, struct mg_connection *c, const char **user_id, int *status);
/* A list page {object:"list", data, first_id, last_id, has_more} (data taken). */
cJSON *api_resp_list(cJSON *data, int has_more);
/* ?limit= (1..100, default 20), ?order= (asc|desc, default desc) and ?after=; 0, or the
 * status of the 400 written. */
int api_resp_page_args(struct mg_connection *c, int *limit, int *desc, char *after, size_t cap);

#endif
