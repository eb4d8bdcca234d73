/* Task sets, items and judgments over the accounts database; see tasks.h. */
#include "trainer/tasks.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/db.h"
#include "storage/prefs.h"
#include "storage/rows.h"
#include "storage/store_internal.h"

const char *const trainer_criteria[TRAINER_N_CRITERIA] = {"helpful", "correct", "harmless", "follows_instructions",
                                                          "korean_naturalness"};
const char *const trainer_choices[4] = {"a", "b", "tie", "both_bad"};

int trainer_kind_ok(const char *k) {
    return k && (!strcmp(k, "rating") || !strcmp(k, "compare") || !strcmp(k, "rewrite") || !strcmp(k, "tags"));
}

int trainer_consented(struct store *st, const char *user_id) {
    struct store_user u;
    struct err e = {{0}};
    if (!user_id || !*user_id || strlen(user_id) >= STORE_ID_MAX || store_user_get(st, user_id, &u, &e)) return 0;
    char *doc = NULL;
    if (store_settings_get(st, user_id, &doc, &e)) return 0;
    cJSON *o = doc ? cJSON_Parse(doc) : NULL;
    free(doc);
    const cJSON *im = cJSON_GetObjectItemCaseSensitive(o, "improve_model");
    int on;
    if (cJSON_IsBool(im)) on = cJSON_IsTrue(im);
    else {
        char *v = NULL;
        on = store_server_get(st, "improve_model_default", &v, &e) == 0 && v && !strcmp(v, "true");
        free(v);
    }
    cJSON_Delete(o);
    return on;
}

static void col(char *dst, size_t cap, struct dbq *q, int c) { snprintf(dst, cap, "%s", dbq_col_text(q, c)); }
static int too_long(const char *s, size_t cap) { return s && strlen(s) >= cap; }
static int bad_id(const char *s) { return !s || !*s || strlen(s) >= STORE_ID_MAX; }

/* ---- task sets ---- */

#define SET_COLS "s.id, s.owner_id, s.name, s.kind, s.model_a, s.model_b, s.guidelines, s.per_item, s.active, s.created," \
    " (SELECT COUNT(*) FROM task_items i WHERE i.set_id = s.id)," \
    " (SELECT COUNT(*) FROM task_judgments j WHERE j.set_id = s.id AND j.status = 'done')"

void tset_free(struct tset *s) {
    if (s) free(s->guidelines), s->guidelines = NULL;
}
void tsets_free(struct tset *s, size_t n) {
    for (size_t i = 0; s && i < n; i++) tset_free(&s[i]);
    free(s);
}

static int read_set(struct dbq *q, struct tset *s) {
    memset(s, 0, sizeof *s);
    col(s->id, sizeof s->id, q, 0);
    col(s->owner_id, sizeof s->owner_id, q, 1);
    col(s->name, sizeof s->name, q, 2);
    col(s->kind, sizeof s->kind, q, 3);
    col(s->model_a, sizeof s->model_a, q, 4);
    col(s->model_b, sizeof s->model_b, q, 5);
    s->guidelines = strdup(dbq_col_text(q, 6));
    s->per_item = (int)dbq_col_int(q, 7);
    s->active = (int)dbq_col_int(q, 8);
    s->created = dbq_col_int(q, 9);
    s->n_items = dbq_col_int(q, 10);
    s->n_done = dbq_col_int(q, 11);
    return s->guidelines ? 0 : -1;
}

int tset_create(struct store *st, const struct tset *in, struct tset *out, struct err *e) {
    if (bad_id(in->owner_id)) return err_set(e, "owner is missing"), STORE_INVALID;
    if (!trainer_kind_ok(in->kind)) return err_set(e, "kind must be rating, compare, rewrite or tags"), STORE_INVALID;
    if (!in->name[0] || !memchr(in->name, 0, sizeof in->name) || !memchr(in->model_a, 0, sizeof in->model_a) ||
        !memchr(in->model_b, 0, sizeof in->model_b) || too_long(in->guidelines, TRAINER_GUIDE_MAX))
        return err_set(e, "a task set field is empty or too long"), STORE_INVALID;
    if (in->per_item < 1 || in->per_item > 10) return err_set(e, "per_item must be 1 to 10"), STORE_INVALID;
    char id[STORE_ID_MAX];
    if (store_new_id("tset", id, sizeof id, e)) return STORE_ERR;
    struct db *d;
    if (store_db_acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d, "INSERT INTO task_sets (id, owner_id, name, kind, model_a, model_b, guidelines, per_item,"
                               " active, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9)", 1, e);
    int rc = STORE_ERR;
    if (q) {
        dbq_text(q, 1, id);
        dbq_text(q, 2, in->owner_id);
        dbq_text(q, 3, in->name);
        dbq_text(q, 4, in->kind);
        dbq_text(q, 5, in->model_a);
        dbq_text(q, 6, in->model_b);
        dbq_text(q, 7, in->guidelines ? in->guidelines : "");
        dbq_int(q, 8, in->per_item);
        dbq_int(q, 9, store_now_ms());
        rc = dbq_run(q, e);
    }
    dbq_done(q);
    store_db_release(st, d);
    if (rc) return rc;
    return out ? tset_get(st, id, out, e) : 0;
}

static int read_set_row(struct dbq *q, void *row, struct err *e) {
    return read_set(q, row) ? err_set(e, "out of memory") : 0;
}

static void drop_set(void *row) { tset_free(row); }

int tset_get(struct store *st, const char *id, struct tset *out, struct err *e) {
    memset(out, 0, sizeof *out);
    if (bad_id(id)) return err_set(e, "no such task set"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(id)};
    return rows_one(st, "SELECT " SET_COLS " FROM task_sets s WHERE s.id = $1", a, ROW_N(a), "no such task set",
                    read_set_row, out, e);
}

int tset_list(struct store *st, struct tset **out, size_t *n, struct err *e) {
    static const struct rows_shape shape = {sizeof **out, 8, read_set_row, drop_set};
    return rows_many(st, "SELECT " SET_COLS " FROM task_sets s ORDER BY s.created DESC, s.id", NULL, 0, &shape, 0,
                     (void **)out, n, NULL, e);
}

int tset_update(struct store *st, const struct tset *s, struct err *e) {
    if (bad_id(s->id)) return err_set(e, "no such task set"), STORE_NOTFOUND;
    if (!s->name[0] || too_long(s->guidelines, TRAINER_GUIDE_MAX)) return err_set(e, "name empty or guidelines too long"), STORE_INVALID;
    const struct rowarg a[] = {ROW_T(s->id), ROW_T(s->name), ROW_T(s->guidelines), ROW_I(s->active ? 1 : 0)};
    return rows_change(st, "UPDATE task_sets SET name = $2, guidelines = COALESCE($3, guidelines), active = $4"
                           " WHERE id = $1", a, ROW_N(a), "no such task set", NULL, e);
}

int tset_delete(struct store *st, const char *id, struct err *e) {
    if (bad_id(id)) return err_set(e, "no such task set"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(id)};
    return rows_change(st, "DELETE FROM task_sets WHERE id = $1", a, ROW_N(a), "no such task set", NULL, e);
}

/* ---- items ---- */

#define ITEM_COLS "i.id, i.set_id, i.source_user, i.source_msg, i.assistant_id, i.topic, i.model_a, i.model_b, i.prompt," \
    " i.answer_a, i.answer_b, i.seq, i.created"

void titem_free(struct titem *t) {
    if (!t) return;
    free(t->prompt), free(t->answer_a), free(t->answer_b);
    t->prompt = t->answer_a = t->answer_b = NULL;
}
void titems_free(struct titem *t, size_t n) {
    for (size_t i = 0; t && i < n; i++) titem_free(&t[i]);
    free(t);
}

static int read_item(struct dbq *q, struct titem *t) {
    memset(t, 0, sizeof *t);
    col(t->id, sizeof t->id, q, 0);
    col(t->set_id, sizeof t->set_id, q, 1);
    col(t->source_user, sizeof t->source_user, q, 2);
    col(t->source_msg, sizeof t->source_msg, q, 3);
    col(t->assistant_id, sizeof t->assistant_id, q, 4);
    col(t->topic, sizeof t->topic, q, 5);
    col(t->model_a, sizeof t->model_a, q, 6);
    col(t->model_b, sizeof t->model_b, q, 7);
    t->prompt = strdup(dbq_col_text(q, 8));
    int bad = !t->prompt;
    if (!dbq_col_null(q, 9)) bad |= !(t->answer_a = strdup(dbq_col_text(q, 9)));
    if (!dbq_col_null(q, 10)) bad |= !(t->answer_b = strdup(dbq_col_text(q, 10)));
    t->seq = dbq_col_int(q, 11);
    t->created = dbq_col_int(q, 12);
    if (bad) titem_free(t);
    return bad ? -1 : 0;
}

int titem_add(struct store *st, const struct titem *in, char *out_id, struct err *e) {
    if (bad_id(in->set_id)) return err_set(e, "no such task set"), STORE_NOTFOUND;
    if (!in->prompt || too_long(in->prompt, TRAINER_TEXT_MAX) || too_long(in->answer_a, TRAINER_TEXT_MAX) ||
        too_long(in->answer_b, TRAINER_TEXT_MAX) || !memchr(in->topic, 0, sizeof in->topic) ||
        !memchr(in->model_a, 0, sizeof in->model_a) || !memchr(in->model_b, 0, sizeof in->model_b))
        return err_set(e, "an item field is missing or too long"), STORE_INVALID;
    char id[STORE_ID_MAX];
    if (store_new_id("titem", id, sizeof id, e)) return STORE_ERR;
    struct db *d;
    if (store_db_acquire(st, &d, e)) return STORE_ERR;
    int64_t seq = 1;
    struct dbq *q = db_prep(d, "SELECT COALESCE(MAX(seq), 0) + 1 FROM task_items WHERE set_id = $1", 1, e);
    int rc = STORE_ERR;
    if (q) {
        dbq_text(q, 1, in->set_id);
        if ((rc = dbq_step(q, e)) == 1) seq = dbq_col_int(q, 0), rc = 0;
    }
    dbq_done(q);
    q = rc ? NULL : db_prep(d, "INSERT INTO task_items (id, set_id, seq, source_user, source_msg, assistant_id, topic,"
                               " prompt, answer_a, model_a, answer_b, model_b, created)"
                               " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)", 1, e);
    if (q) {
        dbq_text(q, 1, id);
        dbq_text(q, 2, in->set_id);
        dbq_int(q, 3, seq);
        dbq_text(q, 4, in->source_user[0] ? in->source_user : NULL);
        dbq_text(q, 5, in->source_msg[0] ? in->source_msg : NULL);
        dbq_text(q, 6, in->assistant_id);
        dbq_text(q, 7, in->topic);
        dbq_text(q, 8, in->prompt);
        dbq_text(q, 9, in->answer_a);
        dbq_text(q, 10, in->model_a);
        dbq_text(q, 11, in->answer_b);
        dbq_text(q, 12, in->model_b);
        dbq_int(q, 13, in->created ? in->created : store_now_ms());
        rc = dbq_run(q, e);
    }
    dbq_done(q);
    store_db_release(st, d);
    if (!rc && out_id) snprintf(out_id, STORE_ID_MAX, "%s", id);
    return rc;
}

static int read_item_row(struct dbq *q, void *row, struct err *e) {
    return read_item(q, row) ? err_set(e, "out of memory") : 0;
}

static void drop_item(void *row) { titem_free(row); }

static const struct rows_shape ITEM_ROW = {sizeof(struct titem), 16, read_item_row, drop_item};

int titem_get(struct store *st, const char *id, struct titem *out, struct err *e) {
    memset(out, 0, sizeof *out);
    if (bad_id(id)) return err_set(e, "no such item"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(id)};
    return rows_one(st, "SELECT " ITEM_COLS " FROM task_items i WHERE i.id = $1", a, ROW_N(a), "no such item",
                    read_item_row, out, e);
}

int titem_list(struct store *st, const char *set_id, struct titem **out, size_t *n, struct err *e) {
    const struct rowarg a[] = {ROW_T(set_id ? set_id : "")};
    return rows_many(st, "SELECT " ITEM_COLS " FROM task_items i WHERE ($1 = '' OR i.set_id = $1)"
                         " ORDER BY i.set_id, i.seq", a, ROW_N(a), &ITEM_ROW, 0, (void **)out, n, NULL, e);
}

int titem_set_answer(struct store *st, const char *id, char which, const char *text, const char *model, struct err *e) {
    if (bad_id(id)) return err_set(e, "no such item"), STORE_NOTFOUND;
    if (!text || too_long(text, TRAINER_TEXT_MAX) || too_long(model, STORE_MODEL_MAX)) return err_set(e, "answer too long"), STORE_INVALID;
    const struct rowarg a[] = {ROW_T(id), ROW_T(text), ROW_T(model ? model : "")};
    int rc = which == 'a'
                 ? rows_change(st, "UPDATE task_items SET answer_a = $2, model_a = $3 WHERE id = $1 AND answer_a IS NULL",
                               a, ROW_N(a), "no such item", NULL, e)
                 : rows_change(st, "UPDATE task_items SET answer_b = $2, model_b = $3 WHERE id = $1 AND answer_b IS NULL",
                               a, ROW_N(a), "no such item", NULL, e);
    return rc == STORE_NOTFOUND ? 0 : rc; /* already answered: the first answer stays */
}

int trainer_next(struct store *st, const char *set_id, const char *trainer_id, struct titem *out, struct err *e) {
    memset(out, 0, sizeof *out);
    if (bad_id(trainer_id)) return err_set(e, "no trainer"), STORE_INVALID;
    if (set_id && strlen(set_id) >= STORE_ID_MAX) return err_set(e, "no such task set"), STORE_NOTFOUND;
    struct titem *l = NULL;
    size_t n = 0;
    const struct rowarg a[] = {ROW_T(set_id ? set_id : ""), ROW_T(trainer_id)};
    int rc = rows_many(st,
                       "SELECT " ITEM_COLS " FROM task_items i JOIN task_sets s ON s.id = i.set_id"
                       " WHERE s.active = 1 AND ($1 = '' OR i.set_id = $1)"
                       " AND NOT EXISTS (SELECT 1 FROM task_judgments j WHERE j.item_id = i.id AND j.user_id = $2)"
                       " AND (SELECT COUNT(*) FROM task_judgments j WHERE j.item_id = i.id AND j.status = 'done') < s.per_item"
                       " ORDER BY (SELECT COUNT(*) FROM task_judgments j WHERE j.item_id = i.id AND j.status = 'done') DESC,"
                       " s.created, i.seq LIMIT 500",
                       a, ROW_N(a), &ITEM_ROW, 0, (void **)&l, &n, NULL, e);
    if (rc) return rc;
    /* the consent of each source user, asked once per user */
    char (*seen)[STORE_ID_MAX] = n ? calloc(n, sizeof *seen) : NULL;
    int *ok = n ? calloc(n, sizeof *ok) : NULL;
    size_t ns = 0, pick = n;
    for (size_t i = 0; i < n && pick == n && seen && ok; i++) {
        if (!l[i].source_user[0]) { pick = i; break; }
        size_t k = 0;
        while (k < ns && strcmp(seen[k], l[i].source_user)) k++;
        if (k == ns) snprintf(seen[ns], STORE_ID_MAX, "%s", l[i].source_user), ok[ns++] = trainer_consented(st, l[i].source_user);
        if (ok[k]) pick = i;
    }
    free(seen);
    free(ok);
    if (pick < n) *out = l[pick], memset(&l[pick], 0, sizeof l[pick]);
    titems_free(l, n);
    if (pick >= n) return err_set(e, "no task left"), STORE_NOTFOUND;
    return 0;
}

int tset_fill_from_feedback(struct store *st, const char *set_id, int only_down, int64_t *added, struct err *e) {
    *added = 0;
    struct store_feedback *fb = NULL;
    size_t n = 0;
    int rc = store_feedback_list(st, NULL, 0, 0, &fb, &n, e);
    if (rc) return rc;
    for (size_t i = 0; i < n && !rc; i++) {
        if (only_down && fb[i].rating > 0) continue;
        if (!trainer_consented(st, fb[i].user_id)) continue;
        cJSON *snap = fb[i].snapshot ? cJSON_Parse(fb[i].snapshot) : NULL;
        const cJSON *ms = cJSON_GetObjectItemCaseSensitive(snap, "messages");
        int nm = cJSON_GetArraySize(ms);
        const cJSON *last = nm ? cJSON_GetArrayItem(ms, nm - 1) : NULL;
        const cJSON *lr = cJSON_GetObjectItemCaseSensitive(last, "role"), *lc = cJSON_GetObjectItemCaseSensitive(last, "content");
        if (!cJSON_IsString(lr) || strcmp(lr->valuestring, "assistant") || !cJSON_IsString(lc)) { cJSON_Delete(snap); continue; }
        cJSON *pr = cJSON_CreateArray();
        for (int k = 0; k < nm - 1; k++) {
            const cJSON *m = cJSON_GetArrayItem(ms, k), *r = cJSON_GetObjectItemCaseSensitive(m, "role"),
                        *c = cJSON_GetObjectItemCaseSensitive(m, "content");
            if (!cJSON_IsString(r) || !cJSON_IsString(c)) continue;
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "role", r->valuestring);
            cJSON_AddStringToObject(x, "content", c->valuestring);
            cJSON_AddItemToArray(pr, x);
        }
        struct titem it;
        memset(&it, 0, sizeof it);
        snprintf(it.set_id, sizeof it.set_id, "%s", set_id);
        snprintf(it.source_user, sizeof it.source_user, "%s", fb[i].user_id);
        snprintf(it.source_msg, sizeof it.source_msg, "%s", fb[i].msg_id);
        const cJSON *mo = cJSON_GetObjectItemCaseSensitive(snap, "model"), *cv = cJSON_GetObjectItemCaseSensitive(snap, "conversation_id");
        if (cJSON_IsString(mo)) snprintf(it.model_a, sizeof it.model_a, "%s", mo->valuestring);
        struct store_conv conv;
        if (cJSON_IsString(cv) && strlen(cv->valuestring) < STORE_ID_MAX &&
            !store_conv_get(st, fb[i].user_id, cv->valuestring, &conv, NULL))
            snprintf(it.assistant_id, sizeof it.assistant_id, "%s", conv.assistant_id);
        it.prompt = cJSON_PrintUnformatted(pr);
        it.answer_a = lc->valuestring;
        it.created = fb[i].created;
        cJSON_Delete(pr);
        if (!it.prompt) rc = err_set(e, "out of memory");
        else {
            int r = titem_add(st, &it, NULL, e);
            if (!r) (*added)++;
            else if (r != STORE_CONFLICT) rc = r;
        }
        free(it.prompt);
        cJSON_Delete(snap);
    }
    store_feedback_free(fb, n);
    return rc;
}

int tset_fill_from_conversations(struct store *st, const char *set_id, int per_user, int64_t *added, struct err *e) {
    *added = 0;
    if (per_user <= 0) per_user = 50;
    struct store_user *us = NULL;
    size_t nu = 0;
    int rc = store_user_list(st, 0, 1000000, &us, &nu, e);
    for (size_t u = 0; u < nu && !rc; u++) {
        if (!trainer_consented(st, us[u].id)) continue;
        struct store_conv_query cq = {.archived = -1, .pinned = -1, .limit = per_user};
        struct store_conv_list cl = {0};
        if ((rc = store_conv_list(st, us[u].id, &cq, &cl, e))) break;
        for (size_t k = 0; k < cl.n && !rc; k++) {
            struct store_msgs path = {0};
            if (store_msg_path(st, us[u].id, cl.items[k].id, NULL, &path, NULL)) continue;
            size_t last = path.n;
            while (last > 0 && strcmp(path.items[last - 1].role, "assistant")) last--;
            if (last >= 2) {
                const struct store_msg *a = &path.items[last - 1];
                cJSON *pr = cJSON_CreateArray();
                for (size_t i = 0; i + 1 < last; i++) {
                    const struct store_msg *m = &path.items[i];
                    if (strcmp(m->role, "system") && strcmp(m->role, "user") && strcmp(m->role, "assistant")) continue;
                    cJSON *x = cJSON_CreateObject();
                    cJSON_AddStringToObject(x, "role", m->role);
                    cJSON_AddStringToObject(x, "content", m->content ? m->content : "");
                    cJSON_AddItemToArray(pr, x);
                }
                struct titem it;
                memset(&it, 0, sizeof it);
                snprintf(it.set_id, sizeof it.set_id, "%s", set_id);
                snprintf(it.source_user, sizeof it.source_user, "%s", us[u].id);
                snprintf(it.source_msg, sizeof it.source_msg, "%s", a->id);
                snprintf(it.assistant_id, sizeof it.assistant_id, "%s", cl.items[k].assistant_id);
                snprintf(it.model_a, sizeof it.model_a, "%s", a->model[0] ? a->model : cl.items[k].model);
                it.prompt = cJSON_PrintUnformatted(pr);
                it.answer_a = a->content ? a->content : "";
                it.created = a->created;
                cJSON_Delete(pr);
                if (!it.prompt) rc = err_set(e, "out of memory");
                else {
                    int r = titem_add(st, &it, NULL, e);
                    if (!r) (*added)++;
                    else if (r != STORE_CONFLICT && r != STORE_INVALID) rc = r;
                }
                free(it.prompt);
            }
            store_msgs_free(&path);
        }
        store_conv_list_free(&cl);
    }
    free(us);
    return rc;
}

/* ---- judgments ---- */

#define JUDG_COLS "id, item_id, set_id, user_id, status, scores, choice, rewrite, tags, comment, time_ms, created"

void tjudg_free(struct tjudg *j) {
    if (!j) return;
    free(j->scores), free(j->rewrite), free(j->comment);
    j->scores = j->rewrite = j->comment = NULL;
}
void tjudgs_free(struct tjudg *j, size_t n) {
    for (size_t i = 0; j && i < n; i++) tjudg_free(&j[i]);
    free(j);
}

int tjudg_put(struct store *st, const struct tjudg *in, char *out_id, struct err *e) {
    if (bad_id(in->item_id) || bad_id(in->set_id) || bad_id(in->user_id)) return err_set(e, "no such item"), STORE_NOTFOUND;
    if (strcmp(in->status, "done") && strcmp(in->status, "skipped")) return err_set(e, "status must be done or skipped"), STORE_INVALID;
    if (too_long(in->scores, 4096) || too_long(in->rewrite, TRAINER_TEXT_MAX) || too_long(in->comment, 8001) ||
        !memchr(in->tags, 0, sizeof in->tags) || !memchr(in->choice, 0, sizeof in->choice) || in->time_ms < 0)
        return err_set(e, "a judgment field is too long"), STORE_INVALID;
    char id[STORE_ID_MAX];
    if (store_new_id("tj", id, sizeof id, e)) return STORE_ERR;
    struct db *d;
    if (store_db_acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d, "INSERT INTO task_judgments (" JUDG_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                               " ON CONFLICT (item_id, user_id) DO UPDATE SET status = excluded.status, scores = excluded.scores,"
                               " choice = excluded.choice, rewrite = excluded.rewrite, tags = excluded.tags,"
                               " comment = excluded.comment, time_ms = excluded.time_ms, created = excluded.created RETURNING id", 1, e);
    int rc = STORE_ERR;
    if (q) {
        dbq_text(q, 1, id);
        dbq_text(q, 2, in->item_id);
        dbq_text(q, 3, in->set_id);
        dbq_text(q, 4, in->user_id);
        dbq_text(q, 5, in->status);
        dbq_text(q, 6, in->scores ? in->scores : "");
        dbq_text(q, 7, in->choice);
        dbq_text(q, 8, in->rewrite ? in->rewrite : "");
        dbq_text(q, 9, in->tags);
        dbq_text(q, 10, in->comment ? in->comment : "");
        dbq_int(q, 11, in->time_ms);
        dbq_int(q, 12, in->created ? in->created : store_now_ms());
        rc = dbq_step(q, e);
        if (rc == 1) {
            if (out_id) col(out_id, STORE_ID_MAX, q, 0);
            rc = 0;
            while (dbq_step(q, NULL) == 1) {}
        } else if (rc == 0) rc = STORE_ERR, err_set(e, "judgment not stored");
    }
    dbq_done(q);
    store_db_release(st, d);
    return rc;
}

static int read_judg(struct dbq *q, void *row, struct err *e) {
    struct tjudg *j = row;
    col(j->id, sizeof j->id, q, 0);
    col(j->item_id, sizeof j->item_id, q, 1);
    col(j->set_id, sizeof j->set_id, q, 2);
    col(j->user_id, sizeof j->user_id, q, 3);
    col(j->status, sizeof j->status, q, 4);
    j->scores = strdup(dbq_col_text(q, 5));
    col(j->choice, sizeof j->choice, q, 6);
    j->rewrite = strdup(dbq_col_text(q, 7));
    col(j->tags, sizeof j->tags, q, 8);
    j->comment = strdup(dbq_col_text(q, 9));
    j->time_ms = dbq_col_int(q, 10);
    j->created = dbq_col_int(q, 11);
    return j->scores && j->rewrite && j->comment ? 0 : err_set(e, "out of memory");
}

static void drop_judg(void *row) { tjudg_free(row); }

int tjudg_list(struct store *st, const char *set_id, const char *user_id, const char *item_id, struct tjudg **out,
               size_t *n, struct err *e) {
    *out = NULL;
    *n = 0;
    if (too_long(set_id, STORE_ID_MAX) || too_long(user_id, STORE_ID_MAX) || too_long(item_id, STORE_ID_MAX)) return 0;
    static const struct rows_shape shape = {sizeof **out, 16, read_judg, drop_judg};
    const struct rowarg a[] = {ROW_T(set_id ? set_id : ""), ROW_T(user_id ? user_id : ""), ROW_T(item_id ? item_id : "")};
    return rows_many(st, "SELECT " JUDG_COLS " FROM task_judgments WHERE ($1 = '' OR set_id = $1)"
                         " AND ($2 = '' OR user_id = $2) AND ($3 = '' OR item_id = $3) ORDER BY created, id",
                     a, ROW_N(a), &shape, 0, (void **)out, n, NULL, e);
}
