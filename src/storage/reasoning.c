/* Answers' reasoning: see reasoning.h. One table, message_reasoning (msg_id -> text),
 * apart from messages so that the message queries and the search index stay as they are. */
#include "storage/reasoning.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/store_internal.h"

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
    struct db *d;
    if (store_db_acquire(st, &d, e)) { free(cut); return STORE_ERR; }
    /* the message must be the user's: the row is made from it */
    struct dbq *q = db_prep(d,
                            "INSERT INTO message_reasoning (msg_id, user_id, reasoning) SELECT id, user_id, CAST($3 AS TEXT)"
                            " FROM messages WHERE id = $2 AND user_id = $1"
                            " ON CONFLICT (msg_id) DO UPDATE SET reasoning = excluded.reasoning",
                            1, e);
    int rc = STORE_ERR;
    if (q) {
        dbq_text(q, 1, user_id);
        dbq_text(q, 2, msg_id);
        dbq_text(q, 3, cut ? cut : text);
        rc = dbq_run(q, e);
        if (!rc && dbq_changes(q) == 0) rc = (err_set(e, "message not found"), STORE_NOTFOUND);
        dbq_done(q);
    }
    store_db_release(st, d);
    free(cut);
    return rc;
}

void store_reasonings_free(struct store_reasoning *items, size_t n) {
    for (size_t i = 0; i < n; i++) free(items[i].text);
    free(items);
}

int store_conv_reasonings(struct store *st, const char *user_id, const char *conv_id, struct store_reasoning **out,
                          size_t *n, struct err *e) {
    *out = NULL;
    *n = 0;
    if (bad_id(user_id) || bad_id(conv_id)) return err_set(e, "conversation not found"), STORE_NOTFOUND;
    struct db *d;
    if (store_db_acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d,
                            "SELECT r.msg_id, r.reasoning FROM message_reasoning r JOIN messages m ON m.id = r.msg_id"
                            " WHERE m.conv_id = $2 AND m.user_id = $1 AND r.user_id = $1",
                            1, e);
    int rc = STORE_ERR;
    size_t cap = 0;
    if (q) {
        dbq_text(q, 1, user_id);
        dbq_text(q, 2, conv_id);
        while ((rc = dbq_step(q, e)) == 1) {
            if (*n == cap) {
                size_t nc = cap ? cap * 2 : 8;
                struct store_reasoning *p = realloc(*out, nc * sizeof *p);
                if (!p) { rc = err_set(e, "out of memory"); break; }
                *out = p;
                cap = nc;
            }
            struct store_reasoning *r = &(*out)[*n];
            snprintf(r->msg_id, sizeof r->msg_id, "%s", dbq_col_text(q, 0));
            r->text = strdup(dbq_col_text(q, 1));
            (*n)++;
            if (!r->text) { rc = err_set(e, "out of memory"); break; }
        }
        dbq_done(q);
    }
    store_db_release(st, d);
    if (rc) {
        store_reasonings_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}
