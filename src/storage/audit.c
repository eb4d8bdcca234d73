/* The moderation audit log and stored policies; see audit.h. Each call is one statement on
 * one pooled connection. */
#include "storage/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/prefs.h"
#include "storage/rows.h"

static void copy_cut(char *dst, size_t cap, const char *src) {
    size_t n = strlen(src ? src : "");
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80) n--;   /* not inside a character */
    }
    memcpy(dst, src ? src : "", n);
    dst[n] = 0;
}

int store_audit_add(struct store *st, const struct store_audit *in, struct err *e) {
    char id[STORE_ID_MAX], excerpt[STORE_AUDIT_EXCERPT_MAX + 1];
    if (in->id[0]) snprintf(id, sizeof id, "%s", in->id);
    else if (store_new_id("aud", id, sizeof id, e)) return STORE_ERR;
    copy_cut(excerpt, sizeof excerpt, in->excerpt);
    struct db *d;
    if (store_db_acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d,
                            "INSERT INTO moderation_audit (id, created, user_id, key_id, assistant_id, api, stage, rule,"
                            " category, action, excerpt) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                            1, e);
    int rc = STORE_ERR;
    if (q) {
        dbq_text(q, 1, id);
        dbq_int(q, 2, in->created ? in->created : store_now_ms());
        dbq_text(q, 3, in->user_id);
        dbq_text(q, 4, in->key_id);
        dbq_text(q, 5, in->assistant_id);
        dbq_text(q, 6, in->api);
        dbq_text(q, 7, in->stage);
        dbq_text(q, 8, in->rule);
        dbq_text(q, 9, in->category);
        dbq_text(q, 10, in->action);
        dbq_text(q, 11, excerpt);
        rc = dbq_run(q, e);
        dbq_done(q);
    }
    store_db_release(st, d);
    return rc;
}

static int read_audit(struct dbq *q, void *row, struct err *e) {
    struct store_audit *a = row;
    snprintf(a->id, sizeof a->id, "%s", dbq_col_text(q, 0));
    a->created = dbq_col_int(q, 1);
    snprintf(a->user_id, sizeof a->user_id, "%s", dbq_col_text(q, 2));
    snprintf(a->key_id, sizeof a->key_id, "%s", dbq_col_text(q, 3));
    snprintf(a->assistant_id, sizeof a->assistant_id, "%s", dbq_col_text(q, 4));
    snprintf(a->api, sizeof a->api, "%s", dbq_col_text(q, 5));
    snprintf(a->stage, sizeof a->stage, "%s", dbq_col_text(q, 6));
    copy_cut(a->rule, sizeof a->rule, dbq_col_text(q, 7));
    copy_cut(a->category, sizeof a->category, dbq_col_text(q, 8));
    snprintf(a->action, sizeof a->action, "%s", dbq_col_text(q, 9));
    copy_cut(a->excerpt, sizeof a->excerpt, dbq_col_text(q, 10));
    return 0;
}

int store_audit_list(struct store *st, int64_t before_ms, int limit, struct store_audit **out, size_t *n,
                     struct err *e) {
    if (limit <= 0 || limit > 10000) limit = 10000;
    static const struct rows_shape shape = {sizeof **out, 16, read_audit, NULL};
    /* no cursor: every row, even one stamped ahead of this clock */
    const struct rowarg a[] = {ROW_I(before_ms > 0 ? before_ms : INT64_MAX), ROW_I(limit)};
    return rows_many(st,
                     "SELECT id, created, user_id, key_id, assistant_id, api, stage, rule, category, action, excerpt"
                     " FROM moderation_audit WHERE created < $1 ORDER BY created DESC, id DESC LIMIT $2",
                     a, ROW_N(a), &shape, 0, (void **)out, n, NULL, e);
}

int store_audit_prune(struct store *st, int64_t before_ms, int64_t *n, struct err *e) {
    const struct rowarg a[] = {ROW_I(before_ms)};
    return rows_change(st, "DELETE FROM moderation_audit WHERE created < $1", a, ROW_N(a), NULL, n, e);
}

/* ---- policies ---- */

static int policy_key(const char *scope, const char *name, char *out, size_t cap, struct err *e) {
    if (!scope || (strcmp(scope, "tier") && strcmp(scope, "assistant") && strcmp(scope, "key")))
        return err_set(e, "a policy's scope is tier, assistant or key"), STORE_INVALID;
    if (!name || !*name || strlen(name) > 64 || strchr(name, '/'))
        return err_set(e, "a policy's name is 1 to 64 bytes without '/'"), STORE_INVALID;
    snprintf(out, cap, "moderation.%s.%s", scope, name);
    return 0;
}

int store_policy_get(struct store *st, const char *scope, const char *name, char **json, struct err *e) {
    char k[128];
    *json = NULL;
    int rc = policy_key(scope, name, k, sizeof k, e);
    return rc ? rc : store_server_get(st, k, json, e);
}

int store_policy_put(struct store *st, const char *scope, const char *name, const char *json, struct err *e) {
    char k[128];
    int rc = policy_key(scope, name, k, sizeof k, e);
    return rc ? rc : store_server_put(st, k, json, e);
}

int store_policy_delete(struct store *st, const char *scope, const char *name, struct err *e) {
    char k[128];
    int rc = policy_key(scope, name, k, sizeof k, e);
    if (rc) return rc;
    const struct rowarg a[] = {ROW_T(k)};
    return rows_change(st, "DELETE FROM server_settings WHERE name = $1", a, ROW_N(a), "policy not found", NULL, e);
}

int store_policy_list(struct store *st, char ***names, char ***docs, size_t *n, struct err *e) {
    *names = *docs = NULL;
    *n = 0;
    struct db *d;
    if (store_db_acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d, "SELECT name, value FROM server_settings WHERE name LIKE 'moderation.%' ORDER BY name", 1, e);
    int rc = STORE_ERR;
    size_t cap = 0;
    if (q) {
        while ((rc = dbq_step(q, e)) == 1) {
            const char *k = dbq_col_text(q, 0) + 11, *dot = strchr(k, '.');
            if (!dot) continue;
            if (*n == cap) {
                size_t nc = cap ? cap * 2 : 8;
                char **a = realloc(*names, nc * sizeof *a), **b = a ? realloc(*docs, nc * sizeof *b) : NULL;
                if (a) *names = a;
                if (!b) { rc = err_set(e, "out of memory"); break; }
                *docs = b;
                cap = nc;
            }
            char *nm = malloc(strlen(k) + 1), *doc = strdup(dbq_col_text(q, 1));
            if (!nm || !doc) { free(nm); free(doc); rc = err_set(e, "out of memory"); break; }
            memcpy(nm, k, (size_t)(dot - k));
            nm[dot - k] = '/';
            strcpy(nm + (dot - k) + 1, dot + 1);
            (*names)[*n] = nm;
            (*docs)[(*n)++] = doc;
        }
        dbq_done(q);
    }
    store_db_release(st, d);
    if (rc < 0) {
        for (size_t i = 0; i < *n; i++) free((*names)[i]), free((*docs)[i]);
        free(*names), free(*docs);
        *names = *docs = NULL;
        *n = 0;
        return rc;
    }
    return 0;
}
