/* storage/responses.h over db.h, in the SQL both back ends speak (the tables are
 * migration 3 in storage.c). Every statement is scoped by user_id, so another user's id
 * reads as missing. */
#include "storage/responses.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/pool.h"
#include "storage/rows.h"

static int bad_id(const char *s) { return !s || !*s || strlen(s) >= STORE_ID_MAX; }

static int terminated(const char *f, size_t cap) { return memchr(f, 0, cap) != NULL; }

static char *dup_col(struct dbq *q, int c) { return strdup(dbq_col_text(q, c)); }

/* ---- responses ---- */

static int valid_status(const char *s) {
    static const char *const ok[] = {"queued", "in_progress", "completed", "incomplete", "failed", "cancelled", NULL};
    for (const char *const *k = ok; *k; k++)
        if (!strcmp(s, *k)) return 1;
    return 0;
}

int store_resp_put(struct store *st, const struct store_resp *r, unsigned flags, struct err *e) {
    if (!terminated(r->id, sizeof r->id) || !terminated(r->user_id, sizeof r->user_id) ||
        !terminated(r->previous_id, sizeof r->previous_id) || !terminated(r->conv_id, sizeof r->conv_id) ||
        !terminated(r->status, sizeof r->status))
        return err_set(e, "response field not terminated"), STORE_INVALID;
    if (bad_id(r->id) || bad_id(r->user_id)) return err_set(e, "response or user id missing"), STORE_INVALID;
    if (!valid_status(r->status)) return err_set(e, "unknown response status '%s'", r->status), STORE_INVALID;
    struct db *d;
    if (store_pool_get(st, &d, e)) return STORE_ERR;
    int rc = db_begin(d, 1, e);
    struct dbq *q = NULL;
    if (rc) goto out;
    /* the id is the user's already (rewrite), someone else's (conflict) or new (insert) */
    q = db_prep(d, "SELECT user_id FROM responses WHERE id = $1", 1, e);
    if (!q) { rc = STORE_ERR; goto out; }
    dbq_text(q, 1, r->id);
    rc = dbq_step(q, e);
    int exists = rc == 1, mine = exists && !strcmp(dbq_col_text(q, 0), r->user_id);
    dbq_done(q);
    q = NULL;
    if (rc < 0) goto out;
    if (exists && !mine) {
        rc = (err_set(e, "a response with that id exists"), STORE_CONFLICT);
        goto out;
    }
    if (!exists && (flags & STORE_RESP_EXISTING)) {
        rc = (err_set(e, "response not found"), STORE_NOTFOUND);
        goto out;
    }
    if (exists)
        q = db_prep(d, "UPDATE responses SET status = $3, previous_id = $4, conv_id = $5, body = $6, input = $7"
                       " WHERE id = $1 AND user_id = $2", 1, e);
    else
        q = db_prep(d, "INSERT INTO responses (id, user_id, status, previous_id, conv_id, body, input, created)"
                       " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", 1, e);
    if (!q) { rc = STORE_ERR; goto out; }
    dbq_text(q, 1, r->id);
    dbq_text(q, 2, r->user_id);
    dbq_text(q, 3, r->status);
    dbq_text(q, 4, r->previous_id);
    dbq_text(q, 5, r->conv_id);
    dbq_text(q, 6, r->body ? r->body : "{}");
    dbq_text(q, 7, r->input ? r->input : "[]");
    if (!exists) dbq_int(q, 8, r->created ? r->created : store_now_ms());
    rc = dbq_run(q, e);
    dbq_done(q);
    q = NULL;
    if (!rc) rc = db_commit(d, e);
out:
    dbq_done(q);
    store_pool_put(st, d);
    return rc;
}

static int read_resp(struct dbq *q, void *row, struct err *e) {
    struct store_resp *out = row;
    snprintf(out->id, sizeof out->id, "%s", dbq_col_text(q, 0));
    snprintf(out->user_id, sizeof out->user_id, "%s", dbq_col_text(q, 1));
    snprintf(out->status, sizeof out->status, "%s", dbq_col_text(q, 2));
    snprintf(out->previous_id, sizeof out->previous_id, "%s", dbq_col_text(q, 3));
    snprintf(out->conv_id, sizeof out->conv_id, "%s", dbq_col_text(q, 4));
    out->created = dbq_col_int(q, 5);
    out->body = dup_col(q, 6);
    out->input = dup_col(q, 7);
    int rc = out->body && out->input ? 0 : err_set(e, "out of memory");
    if (rc) store_resp_free(out);
    return rc;
}

int store_resp_get(struct store *st, const char *user_id, const char *id, struct store_resp *out, struct err *e) {
    memset(out, 0, sizeof *out);
    if (bad_id(user_id) || bad_id(id)) return err_set(e, "response not found"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(id), ROW_T(user_id)};
    return rows_one(st, "SELECT id, user_id, status, previous_id, conv_id, created, body, input FROM responses"
                        " WHERE id = $1 AND user_id = $2",
                    a, ROW_N(a), "response not found", read_resp, out, e);
}

int store_resp_delete(struct store *st, const char *user_id, const char *id, struct err *e) {
    if (bad_id(user_id) || bad_id(id)) return err_set(e, "response not found"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(id), ROW_T(user_id)};
    return rows_change(st, "DELETE FROM responses WHERE id = $1 AND user_id = $2",
                       a, ROW_N(a), "response not found", NULL, e);
}

void store_resp_free(struct store_resp *r) {
    free(r->body);
    free(r->input);
    r->body = r->input = NULL;
}

/* ---- conversations ---- */

static int insert_items(struct db *d, const char *user_id, const char *conv_id, const struct store_item *items,
                        size_t n, struct err *e) {
    int64_t now = store_now_ms();
    for (size_t i = 0; i < n; i++) {
        if (bad_id(items[i].id) || !items[i].item) return err_set(e, "item %zu has no id or body", i), STORE_INVALID;
        struct dbq *q = db_prep(d, "INSERT INTO api_conv_items (id, conv_id, user_id, item, created)"
                                   " VALUES ($1, $2, $3, $4, $5)", 1, e);
        if (!q) return STORE_ERR;
        dbq_text(q, 1, items[i].id);
        dbq_text(q, 2, conv_id);
        dbq_text(q, 3, user_id);
        dbq_text(q, 4, items[i].item);
        dbq_int(q, 5, items[i].created ? items[i].created : now);
        int rc = dbq_run(q, e);
        dbq_done(q);
        if (rc == STORE_CONFLICT) err_set(e, "an item with the id '%s' exists", items[i].id);
        if (rc) return rc;
    }
    return 0;
}

int store_aconv_create(struct store *st, const struct store_aconv *in, const struct store_item *items, size_t n,
                       struct store_aconv *out, struct err *e) {
    if (bad_id(in->user_id)) return err_set(e, "user id missing"), STORE_INVALID;
    if (!terminated(in->id, sizeof in->id)) return err_set(e, "conversation id not terminated"), STORE_INVALID;
    struct store_aconv c;
    memset(&c, 0, sizeof c);
    if (in->id[0]) snprintf(c.id, sizeof c.id, "%s", in->id);
    else if (store_new_id("conv", c.id, sizeof c.id, e)) return STORE_ERR;
    snprintf(c.user_id, sizeof c.user_id, "%s", in->user_id);
    c.created = in->created ? in->created : store_now_ms();
    struct db *d;
    if (store_pool_get(st, &d, e)) return STORE_ERR;
    int rc = db_begin(d, 1, e);
    if (!rc) {
        struct dbq *q = db_prep(d, "INSERT INTO api_conversations (id, user_id, created, metadata) VALUES ($1, $2, $3, $4)",
                                1, e);
        if (!q) rc = STORE_ERR;
        else {
            dbq_text(q, 1, c.id);
            dbq_text(q, 2, c.user_id);
            dbq_int(q, 3, c.created);
            dbq_text(q, 4, in->metadata ? in->metadata : "{}");
            rc = dbq_run(q, e);
            dbq_done(q);
            if (rc == STORE_CONFLICT) err_set(e, "a conversation with that id exists");
            if (rc == STORE_NOTFOUND) err_set(e, "user not found");
        }
    }
    if (!rc) rc = insert_items(d, c.user_id, c.id, items, n, e);
    if (!rc) rc = db_commit(d, e);
    store_pool_put(st, d);
    if (!rc && out) {
        *out = c;
        out->metadata = strdup(in->metadata ? in->metadata : "{}");
        if (!out->metadata) rc = err_set(e, "out of memory");
    }
    return rc;
}

static int read_aconv(struct dbq *q, void *row, struct err *e) {
    struct store_aconv *out = row;
    snprintf(out->id, sizeof out->id, "%s", dbq_col_text(q, 0));
    snprintf(out->user_id, sizeof out->user_id, "%s", dbq_col_text(q, 1));
    out->created = dbq_col_int(q, 2);
    out->metadata = dup_col(q, 3);
    return out->metadata ? 0 : err_set(e, "out of memory");
}

int store_aconv_get(struct store *st, const char *user_id, const char *id, struct store_aconv *out, struct err *e) {
    memset(out, 0, sizeof *out);
    if (bad_id(user_id) || bad_id(id)) return err_set(e, "conversation not found"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(id), ROW_T(user_id)};
    return rows_one(st, "SELECT id, user_id, created, metadata FROM api_conversations WHERE id = $1 AND user_id = $2",
                    a, ROW_N(a), "conversation not found", read_aconv, out, e);
}

int store_aconv_set_metadata(struct store *st, const char *user_id, const char *id, const char *metadata,
                             struct err *e) {
    if (bad_id(user_id) || bad_id(id)) return err_set(e, "conversation not found"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(id), ROW_T(user_id), ROW_T(metadata ? metadata : "{}")};
    return rows_change(st, "UPDATE api_conversations SET metadata = $3 WHERE id = $1 AND user_id = $2", a, ROW_N(a),
                       "conversation not found", NULL, e);
}

int store_aconv_delete(struct store *st, const char *user_id, const char *id, struct err *e) {
    if (bad_id(user_id) || bad_id(id)) return err_set(e, "conversation not found"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(id), ROW_T(user_id)};
    return rows_change(st, "DELETE FROM api_conversations WHERE id = $1 AND user_id = $2",
                       a, ROW_N(a), "conversation not found", NULL, e);
}

void store_aconv_free(struct store_aconv *c) {
    free(c->metadata);
    c->metadata = NULL;
}

/* 0 when conv_id is the user's conversation (on connection d). */
static int conv_mine(struct db *d, const char *user_id, const char *conv_id, struct err *e) {
    if (bad_id(user_id) || bad_id(conv_id)) return err_set(e, "conversation not found"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(conv_id), ROW_T(user_id)};
    return rows_one_on(d, "SELECT 1 FROM api_conversations WHERE id = $1 AND user_id = $2", a, ROW_N(a),
                       "conversation not found", NULL, NULL, e);
}

int store_item_add(struct store *st, const char *user_id, const char *conv_id, const struct store_item *items,
                   size_t n, struct err *e) {
    struct db *d;
    if (store_pool_get(st, &d, e)) return STORE_ERR;
    int rc = db_begin(d, 1, e);
    if (!rc) rc = conv_mine(d, user_id, conv_id, e);
    if (!rc) rc = insert_items(d, user_id, conv_id, items, n, e);
    if (!rc) rc = db_commit(d, e);
    store_pool_put(st, d);
    return rc;
}

static int read_item(struct dbq *q, void *row, struct err *e) {
    struct store_item *it = row;
    snprintf(it->id, sizeof it->id, "%s", dbq_col_text(q, 0));
    it->created = dbq_col_int(q, 2);
    it->item = dup_col(q, 1);
    return it->item ? 0 : err_set(e, "out of memory");
}

static void drop_item(void *row) { store_item_free(row); }

int store_item_list(struct store *st, const char *user_id, const char *conv_id, const struct store_item_query *qq,
                    struct store_items *out, struct err *e) {
    memset(out, 0, sizeof *out);
    struct db *d;
    if (store_pool_get(st, &d, e)) return STORE_ERR;
    int rc = conv_mine(d, user_id, conv_id, e);
    const char *after = qq && qq->after ? qq->after : "";
    int64_t limit = qq && qq->limit > 0 ? qq->limit : -1;
    struct dbq *q = NULL;
    if (!rc) {
        /* one more than asked: whether there is more */
        q = db_prep(d, qq && qq->desc
                           ? "SELECT id, item, created FROM api_conv_items WHERE conv_id = $1 AND user_id = $2 AND"
                             " (CAST($3 AS TEXT) = '' OR seq < (SELECT seq FROM api_conv_items WHERE id = $3 AND conv_id = $1))"
                             " ORDER BY seq DESC LIMIT $4"
                           : "SELECT id, item, created FROM api_conv_items WHERE conv_id = $1 AND user_id = $2 AND"
                             " (CAST($3 AS TEXT) = '' OR seq > (SELECT seq FROM api_conv_items WHERE id = $3 AND conv_id = $1))"
                             " ORDER BY seq ASC LIMIT $4",
                    1, e);
        if (!q) rc = STORE_ERR;
    }
    if (!rc) {
        const struct rowarg a[] = {ROW_T(conv_id), ROW_T(user_id), ROW_T(after), ROW_I(limit > 0 ? limit + 1 : INT64_MAX)};
        rows_bind(q, a, ROW_N(a));
        static const struct rows_shape shape = {sizeof *out->items, 16, read_item, drop_item};
        void *items;
        rc = rows_collect(q, &shape, limit > 0 ? limit : 0, &items, &out->n, &out->has_more, e);
        out->items = items;
        dbq_done(q);
    }
    store_pool_put(st, d);
    return rc;
}

int store_item_get(struct store *st, const char *user_id, const char *conv_id, const char *item_id,
                   struct store_item *out, struct err *e) {
    memset(out, 0, sizeof *out);
    if (bad_id(user_id) || bad_id(conv_id) || bad_id(item_id)) return err_set(e, "item not found"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(item_id), ROW_T(conv_id), ROW_T(user_id)};
    return rows_one(st, "SELECT id, item, created FROM api_conv_items WHERE id = $1 AND conv_id = $2 AND user_id = $3",
                    a, ROW_N(a), "item not found", read_item, out, e);
}

int store_item_delete(struct store *st, const char *user_id, const char *conv_id, const char *item_id,
                      struct err *e) {
    if (bad_id(user_id) || bad_id(conv_id) || bad_id(item_id)) return err_set(e, "item not found"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(item_id), ROW_T(conv_id), ROW_T(user_id)};
    return rows_change(st, "DELETE FROM api_conv_items WHERE id = $1 AND conv_id = $2 AND user_id = $3", a, ROW_N(a),
                       "item not found", NULL, e);
}

void store_item_free(struct store_item *it) {
    free(it->item);
    it->item = NULL;
}

void store_items_free(struct store_items *l) {
    for (size_t i = 0; i < l->n; i++) free(l->items[i].item);
    free(l->items);
    memset(l, 0, sizeof *l);
}
