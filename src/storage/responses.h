/* Storage of the OpenAI-style state: stored Responses (POST /v1/responses with store:true,
 * read back by GET /v1/responses/{id} and chained by previous_response_id) and the
 * Conversations API's conversations and items (/v1/conversations). Same conventions as
 * storage.h: 0 or a negative STORE_* code with e set; everything is scoped by the user id
 * the caller authenticated (another user's row is STORE_NOTFOUND); times in ms; the JSON
 * columns are opaque text here (the API layer writes and reads them).
 *
 * Tables (migration 3 in storage.c): responses (one row per response: its status, the
 * whole response object and its own input items), api_conversations (metadata) and
 * api_conv_items (items in insertion order, seq). Deleting a user deletes all of it. */
#ifndef OMNI_STORAGE_RESPONSES_H
#define OMNI_STORAGE_RESPONSES_H
#include <stddef.h>
#include <stdint.h>

#include "storage/storage.h"

/* ---- stored responses ---- */

struct store_resp {
    char id[STORE_ID_MAX];              /* "resp_…" (made by the caller) */
    char user_id[STORE_ID_MAX];
    char previous_id[STORE_ID_MAX];     /* previous_response_id, "" = none */
    char conv_id[STORE_ID_MAX];         /* the conversation it was added to, "" = none */
    char status[STORE_ROLE_MAX];        /* queued | in_progress | completed | incomplete | failed | cancelled */
    int64_t created;                    /* 0 on put: now */
    char *body;                         /* heap: the response object (JSON) */
    char *input;                        /* heap: this request's input items (a JSON array) */
};
/* Inserts r, or rewrites the row with r's id when it is already r->user_id's (a background
 * response: queued, then its result). An id of another user's row: STORE_CONFLICT. With
 * STORE_RESP_EXISTING only a row still there is rewritten (a background response deleted
 * while it ran stays deleted): STORE_NOTFOUND otherwise. */
#define STORE_RESP_EXISTING 1u
int store_resp_put(struct store *st, const struct store_resp *r, unsigned flags, struct err *e);
int store_resp_get(struct store *st, const char *user_id, const char *id, struct store_resp *out, struct err *e);
int store_resp_delete(struct store *st, const char *user_id, const char *id, struct err *e);
void store_resp_free(struct store_resp *r);

/* ---- conversations (the Conversations API) ---- */

struct store_aconv {
    char id[STORE_ID_MAX];              /* "conv_…" (generated when empty) */
    char user_id[STORE_ID_MAX];
    int64_t created;                    /* 0 on create: now */
    char *metadata;                     /* heap JSON object text; NULL on create: "{}" */
};
/* An item: its id (also inside the JSON) and the item object as JSON text. */
struct store_item {
    char id[STORE_ID_MAX];
    char *item;
    int64_t created;
};
struct store_items {
    struct store_item *items;
    size_t n;
    int has_more;
};
/* Creates the conversation with its first n items, in one transaction. out may be NULL. */
int store_aconv_create(struct store *st, const struct store_aconv *in, const struct store_item *items, size_t n,
                       struct store_aconv *out, struct err *e);
int store_aconv_get(struct store *st, const char *user_id, const char *id, struct store_aconv *out, struct err *e);
int store_aconv_set_metadata(struct store *st, const char *user_id, const char *id, const char *metadata,
                             struct err *e);
/* Deletes it and its items. */
int store_aconv_delete(struct store *st, const char *user_id, const char *id, struct err *e);
void store_aconv_free(struct store_aconv *c);

/* Appends n items (ids set and unique) to the user's conversation, in one transaction. */
int store_item_add(struct store *st, const char *user_id, const char *conv_id, const struct store_item *items,
                   size_t n, struct err *e);
struct store_item_query {
    const char *after;   /* an item id: only items after it in the order asked; NULL/"": from the start */
    int64_t limit;       /* <= 0: every item */
    int desc;            /* 1: newest first */
};
/* The conversation's items (STORE_NOTFOUND when the conversation is not the user's; an
 * `after` id not in it gives an empty list). */
int store_item_list(struct store *st, const char *user_id, const char *conv_id, const struct store_item_query *q,
                    struct store_items *out, struct err *e);
int store_item_get(struct store *st, const char *user_id, const char *conv_id, const char *item_id,
                   struct store_item *out, struct err *e);
int store_item_delete(struct store *st, const char *user_id, const char *conv_id, const char *item_id,
                      struct err *e);
void store_item_free(struct store_item *it);
void store_items_free(struct store_items *l);

#endif
