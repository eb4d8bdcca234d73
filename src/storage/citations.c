/* Answers' citations: see citations.h. One table, message_citations (msg_id -> JSON text),
 * apart from messages so that the message queries and the search index stay as they are. */
#include "storage/citations.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/store_internal.h"

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
    struct db *d;
    if (store_db_acquire(st, &d, e)) return STORE_ERR;
    /* the message must be the user's: the row is made from it */
    struct dbq *q = db_prep(d,
                            "INSERT INTO message_citations (msg_id, user_id, citations) SELECT id, user_id, CAST($3 AS TEXT)"
                            " FROM messages WHERE id = $2 AND user_id = $1"
                            " ON CONFLICT (msg_id) DO UPDATE SET citations = excluded.citations",
                            1, e);
    int rc = STORE_ERR;
    if (q) {
        dbq_text(q, 1, user_id);
        dbq_text(q, 2, msg_id);
        dbq_text(q, 3, json);
        rc = dbq_run(q, e);
        if (!rc && dbq_changes(q) == 0) rc = (err_set(e, "message not found"), STORE_NOTFOUND);
        dbq_done(q);
    }
    store_db_release(st, d);
    return rc;
}

void store_citations_free(struct store_citations *items, size_t n) {
    for (size_t i = 0; i < n; i++) free(items[i].json);
    free(items);
}

int store_conv_citations(struct store *st, const char *user_id, const char *conv_id, struct store_citations **out,
                         size_t *n, struct err *e) {
    *out = NULL;
    *n = 0;
    if (bad_id(user_id) || bad_id(conv_id)) return err_set(e, "conversation not found"), STORE_NOTFOUND;
    struct db *d;
    if (store_db_acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d,
                            "SELECT c.msg_id, c.citations FROM message_citations c JOIN messages m ON m.id = c.msg_id"
                            " WHERE m.conv_id = $2 AND m.user_id = $1 AND c.user_id = $1",
                            1, e);
    int rc = STORE_ERR;
    size_t cap = 0;
    if (q) {
        dbq_text(q, 1, user_id);
        dbq_text(q, 2, conv_id);
        while ((rc = dbq_step(q, e)) == 1) {
            if (*n == cap) {
                size_t nc = cap ? cap * 2 : 8;
                struct store_citations *p = realloc(*out, nc * sizeof *p);
                if (!p) { rc = err_set(e, "out of memory"); break; }
                *out = p;
                cap = nc;
            }
            struct store_citations *c = &(*out)[*n];
            snprintf(c->msg_id, sizeof c->msg_id, "%s", dbq_col_text(q, 0));
            c->json = strdup(dbq_col_text(q, 1));
            (*n)++;
            if (!c->json) { rc = err_set(e, "out of memory"); break; }
        }
        dbq_done(q);
    }
    store_db_release(st, d);
    if (rc) {
        store_citations_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}
