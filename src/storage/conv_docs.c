/* A conversation's vector store: see conv_docs.h. */
#include "storage/conv_docs.h"

#include <stdio.h>
#include <string.h>

#include "storage/store_internal.h"

static int bad_id(const char *s) { return !s || !*s || strlen(s) >= STORE_ID_MAX; }

int store_conv_vs_get(struct store *st, const char *user_id, const char *conv_id, char *vs_id, struct err *e) {
    vs_id[0] = 0;
    if (bad_id(user_id) || bad_id(conv_id)) return err_set(e, "conversation not found"), STORE_NOTFOUND;
    struct db *d;
    if (store_db_acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d, "SELECT vs_id FROM conversation_stores WHERE conv_id = $2 AND user_id = $1", 1, e);
    int rc = STORE_ERR;
    if (q) {
        dbq_text(q, 1, user_id);
        dbq_text(q, 2, conv_id);
        rc = dbq_step(q, e);
        if (rc == 1) {
            snprintf(vs_id, STORE_ID_MAX, "%s", dbq_col_text(q, 0));
            rc = 0;
        } else if (rc == 0) rc = (err_set(e, "the conversation has no documents"), STORE_NOTFOUND);
        dbq_done(q);
    }
    store_db_release(st, d);
    return rc;
}

int store_conv_vs_set(struct store *st, const char *user_id, const char *conv_id, char *vs_id, struct err *e) {
    if (bad_id(user_id) || bad_id(conv_id) || bad_id(vs_id)) return err_set(e, "conversation not found"), STORE_NOTFOUND;
    struct db *d;
    if (store_db_acquire(st, &d, e)) return STORE_ERR;
    /* the conversation must be the user's: the row is made from it */
    struct dbq *q = db_prep(d,
                            "INSERT INTO conversation_stores (conv_id, user_id, vs_id, created)"
                            " SELECT id, user_id, CAST($3 AS TEXT), $4 FROM conversations WHERE id = $2 AND user_id = $1"
                            " ON CONFLICT (conv_id) DO NOTHING",
                            1, e);
    int rc = STORE_ERR;
    if (q) {
        dbq_text(q, 1, user_id);
        dbq_text(q, 2, conv_id);
        dbq_text(q, 3, vs_id);
        dbq_int(q, 4, store_now_ms());
        rc = dbq_run(q, e);
        dbq_done(q);
    }
    store_db_release(st, d);
    if (rc) return rc;
    return store_conv_vs_get(st, user_id, conv_id, vs_id, e);
}
