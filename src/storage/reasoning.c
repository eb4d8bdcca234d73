/* Answers' reasoning: see reasoning.h. One table, message_reasoning (msg_id -> text),
 * apart from messages so that the message queries and the search index stay as they are. */
#include "storage/reasoning.h"

#include <cJSON.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/msg_attach.h"
#include "storage/rows.h"

static int bad_id(const char *s) { return !s || !*s || strlen(s) >= STORE_ID_MAX; }

int store_msg_reasoning_put(struct store *st, const char *user_id, const char *msg_id, const char *text, struct err *e) {
    if (bad_id(user_id) || bad_id(msg_id)) return err_set(e, "message not found"), STORE_NOTFOUND;
    if (!text || !*text) return 0;
    size_t n = strlen(text);
    char *cut = NULL;
    if (n > STORE_REASONING_MAX) {
        n = STORE_REASONING_MAX;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80) n--;   /* not inside a character */
        if (!(cut = malloc(n + 1))) return err_set(e, "out of memory");
        memcpy(cut, text, n);
        cut[n] = 0;
    }
    /* the message must be the user's: the row is made from it */
    const struct rowarg a[] = {ROW_T(user_id), ROW_T(msg_id), ROW_T(cut ? cut : text)};
    int rc = rows_change(st,
                         "INSERT INTO message_reasoning (msg_id, user_id, reasoning) SELECT id, user_id, CAST($3 AS TEXT)"
                         " FROM messages WHERE id = $2 AND user_id = $1"
                         " ON CONFLICT (msg_id) DO UPDATE SET reasoning = excluded.reasoning",
                         a, ROW_N(a), "message not found", NULL, e);
    free(cut);
    return rc;
}

void store_reasonings_free(struct store_reasoning *items, size_t n) {
    for (size_t i = 0; i < n; i++) free(items[i].text);
    free(items);
}

static int read_reasoning(struct dbq *q, void *row, struct err *e) {
    struct store_reasoning *r = row;
    snprintf(r->msg_id, sizeof r->msg_id, "%s", dbq_col_text(q, 0));
    r->text = strdup(dbq_col_text(q, 1));
    return r->text ? 0 : err_set(e, "out of memory");
}

static void drop_reasoning(void *row) { free(((struct store_reasoning *)row)->text); }

int store_conv_reasonings(struct store *st, const char *user_id, const char *conv_id, struct store_reasoning **out,
                          size_t *n, struct err *e) {
    *out = NULL;
    *n = 0;
    if (bad_id(user_id) || bad_id(conv_id)) return err_set(e, "conversation not found"), STORE_NOTFOUND;
    static const struct rows_shape shape = {sizeof **out, 8, read_reasoning, drop_reasoning};
    const struct rowarg a[] = {ROW_T(user_id), ROW_T(conv_id)};
    return rows_many(st,
                     "SELECT r.msg_id, r.reasoning FROM message_reasoning r JOIN messages m ON m.id = r.msg_id"
                     " WHERE m.conv_id = $2 AND m.user_id = $1 AND r.user_id = $1",
                     a, ROW_N(a), &shape, 0, (void **)out, n, NULL, e);
}

static cJSON *reasoning_value(const void *row, void *ctx) {
    (void)ctx;
    return cJSON_CreateString(((const struct store_reasoning *)row)->text);
}

int store_reasoning_attach(struct store *st, const char *user_id, const char *conv_id, cJSON *messages) {
    struct store_reasoning *r = NULL;
    size_t n = 0;
    struct err e = {{0}};
    if (store_conv_reasonings(st, user_id, conv_id, &r, &n, &e)) return 0;
    int rc = store_attach_per_msg(messages, "reasoning", r, n, sizeof *r, offsetof(struct store_reasoning, msg_id),
                                  reasoning_value, NULL);
    store_reasonings_free(r, n);
    return rc;
}
