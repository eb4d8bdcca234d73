/* Answers' citations: see citations.h. One table, message_citations (msg_id -> JSON text),
 * apart from messages so that the message queries and the search index stay as they are. */
#include "storage/citations.h"

#include <cJSON.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/msg_attach.h"
#include "storage/rows.h"

static int bad_id(const char *s) { return !s || !*s || strlen(s) >= STORE_ID_MAX; }

int store_msg_citations_put(struct store *st, const char *user_id, const char *msg_id, const char *json, struct err *e) {
    if (bad_id(user_id) || bad_id(msg_id)) return err_set(e, "message not found"), STORE_NOTFOUND;
    if (!json || strlen(json) > STORE_CITATIONS_MAX)
        return err_set(e, "citations missing or longer than %u bytes", STORE_CITATIONS_MAX), STORE_INVALID;
    cJSON *j = cJSON_Parse(json);
    int arr = cJSON_IsArray(j), empty = arr && cJSON_GetArraySize(j) == 0;
    cJSON_Delete(j);
    if (!arr) return err_set(e, "citations must be a JSON array"), STORE_INVALID;
    if (empty) return 0;
    /* the message must be the user's: the row is made from it */
    const struct rowarg a[] = {ROW_T(user_id), ROW_T(msg_id), ROW_T(json)};
    return rows_change(st,
                       "INSERT INTO message_citations (msg_id, user_id, citations) SELECT id, user_id, CAST($3 AS TEXT)"
                       " FROM messages WHERE id = $2 AND user_id = $1"
                       " ON CONFLICT (msg_id) DO UPDATE SET citations = excluded.citations",
                       a, ROW_N(a), "message not found", NULL, e);
}

void store_citations_free(struct store_citations *items, size_t n) {
    for (size_t i = 0; i < n; i++) free(items[i].json);
    free(items);
}

static int read_citations(struct dbq *q, void *row, struct err *e) {
    struct store_citations *c = row;
    snprintf(c->msg_id, sizeof c->msg_id, "%s", dbq_col_text(q, 0));
    c->json = strdup(dbq_col_text(q, 1));
    return c->json ? 0 : err_set(e, "out of memory");
}

static void drop_citations(void *row) { free(((struct store_citations *)row)->json); }

int store_conv_citations(struct store *st, const char *user_id, const char *conv_id, struct store_citations **out,
                         size_t *n, struct err *e) {
    *out = NULL;
    *n = 0;
    if (bad_id(user_id) || bad_id(conv_id)) return err_set(e, "conversation not found"), STORE_NOTFOUND;
    static const struct rows_shape shape = {sizeof **out, 8, read_citations, drop_citations};
    const struct rowarg a[] = {ROW_T(user_id), ROW_T(conv_id)};
    return rows_many(st,
                     "SELECT c.msg_id, c.citations FROM message_citations c JOIN messages m ON m.id = c.msg_id"
                     " WHERE m.conv_id = $2 AND m.user_id = $1 AND c.user_id = $1",
                     a, ROW_N(a), &shape, 0, (void **)out, n, NULL, e);
}

static cJSON *citations_value(const void *row, void *ctx) {
    cJSON *(*const *shape)(cJSON *) = ctx;
    cJSON *arr = cJSON_Parse(((const struct store_citations *)row)->json);
    return arr && *shape ? (*shape)(arr) : arr;
}

int store_citations_attach(struct store *st, const char *user_id, const char *conv_id, cJSON *messages,
                           cJSON *(*shape)(cJSON *arr)) {
    struct store_citations *c = NULL;
    size_t n = 0;
    struct err e = {{0}};
    if (store_conv_citations(st, user_id, conv_id, &c, &n, &e)) return 0;
    int rc = store_attach_per_msg(messages, "citations", c, n, sizeof *c, offsetof(struct store_citations, msg_id),
                                  citations_value, &shape);
    store_citations_free(c, n);
    return rc;
}
