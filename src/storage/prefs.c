/* Settings, server settings, memories and answers' sampling: see prefs.h. Each call is
 * one statement on one pooled connection (an upsert where a row may exist), so it is
 * atomic on both back ends without an explicit transaction. */
#include "storage/prefs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/prefs_db.h"
#include "storage/rows.h"

static int bad_id(const char *s) { return !s || !*s || strlen(s) >= STORE_ID_MAX; }

/* rows.h reader: the first column as a malloc'd string into *(char **)row */
static int read_text(struct dbq *q, void *row, struct err *e) {
    char **out = row;
    *out = strdup(dbq_col_text(q, 0));
    return *out ? 0 : err_set(e, "out of memory");
}

/* ---- settings ---- */

int store_settings_get(struct store *st, const char *user_id, char **json, struct err *e) {
    *json = NULL;
    if (bad_id(user_id)) return err_set(e, "user not found"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(user_id)};
    int rc = rows_one(st, "SELECT settings FROM user_settings WHERE user_id = $1",
                      a, ROW_N(a), "settings not found", read_text, json, e);
    return rc == STORE_NOTFOUND ? 0 : rc;
}

int store_settings_put(struct store *st, const char *user_id, const char *json, struct err *e) {
    if (bad_id(user_id)) return err_set(e, "user not found"), STORE_NOTFOUND;
    if (!json || strlen(json) > STORE_SETTINGS_MAX) return err_set(e, "settings are missing or too large"), STORE_INVALID;
    const struct rowarg a[] = {ROW_T(user_id), ROW_T(json), ROW_I(store_now_ms())};
    /* the SELECT finds no row for a missing user: nothing written, STORE_NOTFOUND */
    return rows_change(st,
                    "INSERT INTO user_settings (user_id, settings, updated) SELECT id, CAST($2 AS TEXT), CAST($3 AS BIGINT)"
                    " FROM users WHERE id = $1 ON CONFLICT (user_id) DO UPDATE SET settings = excluded.settings,"
                    " updated = excluded.updated",
                       a, ROW_N(a), "user not found", NULL, e);
}

/* ---- server settings ---- */

int store_server_get(struct store *st, const char *name, char **value, struct err *e) {
    *value = NULL;
    if (!name || !*name || strlen(name) > 128) return err_set(e, "bad setting name"), STORE_INVALID;
    const struct rowarg a[] = {ROW_T(name)};
    return rows_one(st, "SELECT value FROM server_settings WHERE name = $1",
                    a, ROW_N(a), "setting not found", read_text, value, e);
}

int store_server_put(struct store *st, const char *name, const char *value, struct err *e) {
    if (!name || !*name || strlen(name) > 128) return err_set(e, "bad setting name"), STORE_INVALID;
    if (!value || strlen(value) > STORE_SETTINGS_MAX) return err_set(e, "setting value missing or too large"), STORE_INVALID;
    const struct rowarg a[] = {ROW_T(name), ROW_T(value)};
    return rows_change(st,
                    "INSERT INTO server_settings (name, value) VALUES ($1, $2)"
                    " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                       a, ROW_N(a), NULL, NULL, e);
}

/* ---- memories ---- */

void store_memories_free(struct store_memory *items, size_t n) {
    for (size_t i = 0; items && i < n; i++) free(items[i].content);
    free(items);
}

static int memory_text_ok(const char *content, struct err *e) {
    if (!content || !*content) return err_set(e, "a memory needs some text"), STORE_INVALID;
    if (strlen(content) > STORE_MEMORY_MAX) return err_set(e, "a memory is at most %d bytes", STORE_MEMORY_MAX), STORE_INVALID;
    return 0;
}

int store_memory_add(struct store *st, const char *user_id, const char *content, struct store_memory *out,
                     struct err *e) {
    if (out) memset(out, 0, sizeof *out);
    if (bad_id(user_id)) return err_set(e, "user not found"), STORE_NOTFOUND;
    int rc = memory_text_ok(content, e);
    if (rc) return rc;
    char id[STORE_ID_MAX];
    if (store_new_id("mem", id, sizeof id, e)) return STORE_ERR;
    int64_t now = store_now_ms();
    const struct rowarg a[] = {ROW_T(id), ROW_T(user_id), ROW_T(content), ROW_I(now)};
    rc = rows_change(st,
                  "INSERT INTO memories (id, user_id, content, created, updated)"
                  " SELECT CAST($1 AS TEXT), id, CAST($3 AS TEXT), CAST($4 AS BIGINT), CAST($4 AS BIGINT)"
                  " FROM users WHERE id = $2",
                     a, ROW_N(a), "user not found", NULL, e);
    if (rc || !out) return rc;
    snprintf(out->id, sizeof out->id, "%s", id);
    snprintf(out->user_id, sizeof out->user_id, "%s", user_id);
    out->created = out->updated = now;
    if (!(out->content = strdup(content))) return err_set(e, "out of memory");
    return 0;
}

static int read_memory(struct dbq *q, void *row, struct err *e) {
    struct store_memory *m = row;
    snprintf(m->id, sizeof m->id, "%s", dbq_col_text(q, 0));
    snprintf(m->user_id, sizeof m->user_id, "%s", dbq_col_text(q, 1));
    m->content = strdup(dbq_col_text(q, 2));
    m->created = dbq_col_int(q, 3);
    m->updated = dbq_col_int(q, 4);
    return m->content ? 0 : err_set(e, "out of memory");
}

static void drop_memory(void *row) { free(((struct store_memory *)row)->content); }

int store_memory_list(struct store *st, const char *user_id, struct store_memory **out, size_t *n, struct err *e) {
    *out = NULL;
    *n = 0;
    if (bad_id(user_id)) return err_set(e, "user not found"), STORE_NOTFOUND;
    static const struct rows_shape shape = {sizeof **out, 8, read_memory, drop_memory};
    const struct rowarg a[] = {ROW_T(user_id)};
    return rows_many(st, "SELECT id, user_id, content, created, updated FROM memories WHERE user_id = $1"
                         " ORDER BY created DESC, id DESC", a, ROW_N(a), &shape, 0, (void **)out, n, NULL, e);
}

int store_memory_update(struct store *st, const char *user_id, const char *id, const char *content, struct err *e) {
    if (bad_id(user_id) || bad_id(id)) return err_set(e, "memory not found"), STORE_NOTFOUND;
    int rc = memory_text_ok(content, e);
    if (rc) return rc;
    const struct rowarg a[] = {ROW_T(user_id), ROW_T(id), ROW_T(content), ROW_I(store_now_ms())};
    return rows_change(st, "UPDATE memories SET content = $3, updated = $4 WHERE user_id = $1 AND id = $2", a, ROW_N(a),
                       "memory not found", NULL, e);
}

int store_memory_delete(struct store *st, const char *user_id, const char *id, struct err *e) {
    if (bad_id(user_id) || bad_id(id)) return err_set(e, "memory not found"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(user_id), ROW_T(id)};
    return rows_change(st, "DELETE FROM memories WHERE user_id = $1 AND id = $2",
                       a, ROW_N(a), "memory not found", NULL, e);
}

int store_memory_delete_all(struct store *st, const char *user_id, int64_t *n, struct err *e) {
    if (n) *n = 0;
    if (bad_id(user_id)) return err_set(e, "user not found"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(user_id)};
    return rows_change(st, "DELETE FROM memories WHERE user_id = $1", a, ROW_N(a), NULL, n, e);
}

/* ---- answers' sampling ---- */

int store_msg_meta_put(struct store *st, const char *user_id, const char *msg_id, const char *json, struct err *e) {
    if (bad_id(user_id) || bad_id(msg_id)) return err_set(e, "message not found"), STORE_NOTFOUND;
    if (!json || strlen(json) > STORE_SETTINGS_MAX) return err_set(e, "sampling settings missing or too large"), STORE_INVALID;
    const struct rowarg a[] = {ROW_T(user_id), ROW_T(msg_id), ROW_T(json)};
    return rows_change(st,
                    "INSERT INTO message_meta (msg_id, user_id, sampling) SELECT id, user_id, CAST($3 AS TEXT)"
                    " FROM messages WHERE id = $2 AND user_id = $1"
                    " ON CONFLICT (msg_id) DO UPDATE SET sampling = excluded.sampling",
                       a, ROW_N(a), "message not found", NULL, e);
}

int store_msg_meta_get(struct store *st, const char *user_id, const char *msg_id, char **json, struct err *e) {
    *json = NULL;
    if (bad_id(user_id) || bad_id(msg_id)) return err_set(e, "message not found"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(user_id), ROW_T(msg_id)};
    int rc = rows_one(st, "SELECT sampling FROM message_meta WHERE msg_id = $2 AND user_id = $1",
                      a, ROW_N(a), "message not found", read_text, json, e);
    return rc == STORE_NOTFOUND ? 0 : rc;
}

/* ---- answers' tool runs ---- */

int store_msg_runs_put(struct store *st, const char *user_id, const char *msg_id, const char *json, struct err *e) {
    if (bad_id(user_id) || bad_id(msg_id)) return err_set(e, "message not found"), STORE_NOTFOUND;
    if (!json || strlen(json) > STORE_RUNS_MAX) return err_set(e, "tool runs missing or too large"), STORE_INVALID;
    const struct rowarg a[] = {ROW_T(user_id), ROW_T(msg_id), ROW_T(json)};
    return rows_change(st,
                    "INSERT INTO message_runs (msg_id, user_id, runs) SELECT id, user_id, CAST($3 AS TEXT)"
                    " FROM messages WHERE id = $2 AND user_id = $1"
                    " ON CONFLICT (msg_id) DO UPDATE SET runs = excluded.runs",
                       a, ROW_N(a), "message not found", NULL, e);
}

int store_msg_runs_get(struct store *st, const char *user_id, const char *msg_id, char **json, struct err *e) {
    *json = NULL;
    if (bad_id(user_id) || bad_id(msg_id)) return err_set(e, "message not found"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(user_id), ROW_T(msg_id)};
    int rc = rows_one(st, "SELECT runs FROM message_runs WHERE msg_id = $2 AND user_id = $1",
                      a, ROW_N(a), "message not found", read_text, json, e);
    return rc == STORE_NOTFOUND ? 0 : rc;
}

/* ---- export ---- */

int store_prefs_export(struct store *st, const char *user_id, cJSON *root, struct err *e) {
    char *set = NULL;
    int rc = store_settings_get(st, user_id, &set, e);
    if (rc) return rc;
    cJSON *js = set ? cJSON_Parse(set) : cJSON_CreateNull();
    free(set);
    if (!js) js = cJSON_CreateNull();
    if (!js || !cJSON_AddItemToObject(root, "settings", js)) {
        cJSON_Delete(js);
        return err_set(e, "out of memory");
    }
    struct store_memory *ms = NULL;
    size_t n = 0;
    if ((rc = store_memory_list(st, user_id, &ms, &n, e))) return rc;
    cJSON *arr = cJSON_AddArrayToObject(root, "memories");
    int bad = !arr;
    for (size_t i = 0; i < n && !bad; i++) {
        cJSON *o = cJSON_CreateObject();
        bad = !o || !cJSON_AddStringToObject(o, "id", ms[i].id) || !cJSON_AddStringToObject(o, "content", ms[i].content) ||
              !cJSON_AddNumberToObject(o, "created", (double)ms[i].created) ||
              !cJSON_AddNumberToObject(o, "updated", (double)ms[i].updated);
        if (o && !cJSON_AddItemToArray(arr, o)) { cJSON_Delete(o); bad = 1; }
    }
    store_memories_free(ms, n);
    return bad ? err_set(e, "out of memory") : 0;
}
