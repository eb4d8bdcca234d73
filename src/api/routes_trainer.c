/* The trainers' workbench and its admin side over HTTP (trainer/tasks.h, report.h,
 * export.h), called from route_api:
 *   trainer or admin:
 *     GET  /api/trainer/sets                    the active task sets (with guidelines)
 *     GET  /api/trainer/next[?set=ID]           the next task; answers still missing are
 *                                               generated now through the normal engine
 *     POST /api/trainer/items/{id}/judgment     {status: done|skipped, scores, choice,
 *                                               rewrite, tags, comment, time_ms}
 *     GET  /api/trainer/judgments[/{id}]        one's own judgments only
 *   admin:
 *     GET|POST /api/admin/task_sets, GET|PATCH|DELETE /api/admin/task_sets/{id},
 *     POST /api/admin/task_sets/{id}/prompts    {prompts: [{prompt|messages, topic, answer}]}
 *     POST /api/admin/task_sets/{id}/fill       {only_down}: items from consented feedback
 *                                               ({source: "conversations"}: from their conversations)
 *     GET  /api/admin/task_sets/{id}/agreement
 *     GET  /api/admin/leaderboard[?set=ID], GET /api/admin/throughput[?set=ID]
 *     GET  /api/admin/exports?format=sft|dpo[&from&to&model&assistant&tag&min_rating&set]
 * Trainers never see whose conversation an item came from. Errors in the /v1 shape;
 * unknown ids (and items outside the active sets) are 404. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/generate.h"
#include "api/reply.h"
#include "api/routes.h"
#include "api/routes_assistants.h"
#include "api/routes_trainer.h"
#include "api/who.h"
#include "trainer/export.h"
#include "trainer/report.h"
#include "trainer/tasks.h"

#define MAX_GEN_TOKENS 512

static int reply_free(struct mg_connection *c, int status, cJSON *o) {
    if (!o) return api_reply_error(c, 500, NULL, NULL, "out of memory");
    int st = api_reply_json(c, status, o);
    cJSON_Delete(o);
    return st;
}
static int not_allowed(struct mg_connection *c, const char *m, const char *allowed) {
    return api_reply_error(c, 405, NULL, "method_not_allowed", "%s is not allowed here; use %s", m, allowed);
}

/* ---- JSON shapes ---- */

static cJSON *set_json(const struct tset *t, int admin) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", t->id);
    cJSON_AddStringToObject(o, "object", "trainer.task_set");
    cJSON_AddStringToObject(o, "name", t->name);
    cJSON_AddStringToObject(o, "kind", t->kind);
    cJSON_AddStringToObject(o, "guidelines", t->guidelines ? t->guidelines : "");
    cJSON_AddNumberToObject(o, "per_item", t->per_item);
    cJSON_AddBoolToObject(o, "active", t->active);
    cJSON_AddNumberToObject(o, "items", (double)t->n_items);
    cJSON_AddNumberToObject(o, "judgments", (double)t->n_done);
    cJSON_AddNumberToObject(o, "created", (double)t->created);
    if (admin) {
        cJSON_AddStringToObject(o, "model_a", t->model_a);
        cJSON_AddStringToObject(o, "model_b", t->model_b);
    }
    return o;
}

static cJSON *tags_array(const char *list) {
    cJSON *a = cJSON_CreateArray();
    char buf[TRAINER_TAGS_MAX], *save = NULL;
    snprintf(buf, sizeof buf, "%s", list);
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) cJSON_AddItemToArray(a, cJSON_CreateString(t));
    return a;
}

static cJSON *judg_json(const struct tjudg *j) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "object", "trainer.judgment");
    cJSON_AddStringToObject(o, "item_id", j->item_id);
    cJSON_AddStringToObject(o, "set_id", j->set_id);
    cJSON_AddStringToObject(o, "status", j->status);
    cJSON *sc = j->scores && *j->scores ? cJSON_Parse(j->scores) : NULL;
    cJSON_AddItemToObject(o, "scores", sc ? sc : cJSON_CreateNull());
    if (j->choice[0]) cJSON_AddStringToObject(o, "choice", j->choice);
    else cJSON_AddNullToObject(o, "choice");
    cJSON_AddStringToObject(o, "rewrite", j->rewrite ? j->rewrite : "");
    cJSON_AddItemToObject(o, "tags", tags_array(j->tags));
    cJSON_AddStringToObject(o, "comment", j->comment ? j->comment : "");
    cJSON_AddNumberToObject(o, "time_ms", (double)j->time_ms);
    cJSON_AddNumberToObject(o, "created", (double)j->created);
    return o;
}

/* ---- generating a missing answer through the engine ---- */

struct gen {
    char *text;
    char model[STORE_MODEL_MAX];
    int fail_status;
    char msg[400];
};
static int gen_run(void *user, struct api_server *s, struct mg_connection *c, const struct api_options *o,
                   const omni_prompt *pr) {
    struct gen *g = user;
    struct api_options oo = *o;
    oo.stream = 0;
    struct api_gen_result r;
    struct api_gen_refusal ref;
    struct api_gen_out out = {0}; /* not streamed: no pieces */
    if (api_generate_custom(s, c, &oo, 1, pr, &out, &r, &ref)) {
        g->fail_status = ref.status;
        snprintf(g->msg, sizeof g->msg, "%s", ref.msg);
        return ref.status;
    }
    if (r.failed) {
        g->fail_status = 500;
        snprintf(g->msg, sizeof g->msg, "%s", r.error);
    } else {
        g->text = strdup(r.text ? r.text : "");
        snprintf(g->model, sizeof g->model, "%s", o->model_id ? o->model_id : s->model_id ? s->model_id : "");
    }
    api_gen_result_free(&r);
    return g->text ? 200 : 500;
}
static int gen_fail(void *user, int status, const char *param, const char *code, const char *msg) {
    struct gen *g = user;
    g->fail_status = status ? status : 500;
    snprintf(g->msg, sizeof g->msg, "%s", msg ? msg : "generation refused");
    return g->fail_status;
}

/* Generates the answer to prompt (a JSON array of messages) with model ("" = the
 * server's); sample: a second, independent sample (temperature 1, its own seed). 0 with
 * g->text set; else the status, and *written says whether a reply already went out. */
static int generate(struct api_server *s, struct mg_connection *c, struct api_who *who, const char *prompt,
                    const char *model, int sample, struct gen *g, int *written) {
    memset(g, 0, sizeof *g);
    *written = 0;
    cJSON *body = cJSON_CreateObject();
    if (model && *model) cJSON_AddStringToObject(body, "model", model);
    cJSON *ms = cJSON_Parse(prompt);
    cJSON_AddItemToObject(body, "messages", ms ? ms : cJSON_CreateArray());
    cJSON_AddNumberToObject(body, "max_tokens", MAX_GEN_TOKENS);
    if (sample) {
        unsigned seed = 0;
        store_random(&seed, sizeof seed, NULL);
        cJSON_AddNumberToObject(body, "temperature", 1.0);
        cJSON_AddNumberToObject(body, "seed", seed % 1000000007u);
    }
    /* "asst:ID": a custom assistant answers (its instructions, model and sampling), as a chat
     * naming it would; the caller must be able to see it (else its 404 is the reply) */
    struct api_who *w = api_who();
    api_who_set(who);
    struct api_asst_use au;
    int st = api_assistant_chat_begin(s, c, body, &au);
    if (st) {
        api_who_set(w);
        cJSON_Delete(body);
        *written = 1;
        return st;
    }
    /* the trainers' own generations count against no one's limits and store no conversation */
    api_who_set(NULL);
    struct api_chat_step step = {.run = gen_run, .fail = gen_fail, .user = g};
    st = api_chat_body_step(s, c, body, API_CHAT, &step);
    api_who_set(w);
    api_assistant_chat_end(s, &au, 0); /* not a use of the assistant by the trainer */
    cJSON_Delete(body);
    if (g->text && au.active) snprintf(g->model, sizeof g->model, "%s", model); /* the leaderboard's name */
    if (g->text) return 0;
    if (!g->fail_status) *written = 1; /* the route answered itself (e.g. an unknown model) */
    return st ? st : 500;
}

/* ---- trainer routes ---- */

static int can_train(const struct api_who *w) { return !strcmp(w->user.role, "trainer") || !strcmp(w->user.role, "admin"); }

/* Which side a trainer sees first in a side by side: fixed per (item, trainer) and unknown
 * to them, so that half the trainers see A on the left and a preference for one position
 * does not become a preference for one model. 1: shown as B, A. */
static int swapped(const char *item_id, const char *user_id) {
    uint32_t h = 2166136261u;   /* FNV-1a over "item\0user" */
    for (const char *p = item_id; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
    h = (h ^ 0) * 16777619u;
    for (const char *p = user_id; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
    return (int)((h >> 16) & 1u);
}

/* The item when a trainer may work on it: in an active set, its source user consenting. */
static int reachable_item(struct store *st, const char *id, struct titem *it, struct tset *set, struct err *e) {
    int rc = strlen(id) < STORE_ID_MAX ? titem_get(st, id, it, e) : STORE_NOTFOUND;
    if (rc) return rc;
    if ((rc = tset_get(st, it->set_id, set, e))) { titem_free(it); return rc; }
    if (!set->active || (it->source_user[0] && !trainer_consented(st, it->source_user))) {
        titem_free(it);
        tset_free(set);
        return err_set(e, "no such item"), STORE_NOTFOUND;
    }
    return 0;
}

static int trainer_next_route(struct api_server *s, struct mg_connection *c, struct api_who *w) {
    struct store *st = s->p.auth->st;
    char set_id[STORE_ID_MAX + 2] = "";
    api_query(c, "set", set_id, sizeof set_id);
    struct titem it;
    struct err e = {{0}};
    int rc = trainer_next(st, set_id[0] ? set_id : NULL, w->user.id, &it, &e);
    if (rc == STORE_NOTFOUND) return api_reply_error(c, 404, NULL, "no_tasks", "no task is waiting for you");
    if (rc) return api_reply_store(c, rc, &e, "task");
    struct tset set;
    if ((rc = tset_get(st, it.set_id, &set, &e))) { titem_free(&it); return api_reply_store(c, rc, &e, "task set"); }
    int need_a = !it.answer_a, need_b = !strcmp(set.kind, "compare") && !it.answer_b;
    for (int k = 0; k < 2 && !rc; k++) {
        if (!(k ? need_b : need_a)) continue;
        const char *model = k ? (set.model_b[0] ? set.model_b : it.model_a[0] ? it.model_a : set.model_a) : set.model_a;
        struct gen g;
        int written = 0, gs = generate(s, c, w, it.prompt, model, k == 1 && !set.model_b[0], &g, &written);
        if (gs) {
            titem_free(&it);
            tset_free(&set);
            if (written) return gs;
            return api_reply_error(c, gs >= 400 && gs < 600 ? gs : 500, NULL, "generation_failed",
                                   "the answer could not be generated: %s", g.msg);
        }
        rc = titem_set_answer(st, it.id, k ? 'b' : 'a', g.text, g.model, &e);
        free(g.text);
    }
    if (!rc && (need_a || need_b)) { /* what was stored (a trainer racing us keeps theirs) */
        char iid[STORE_ID_MAX];
        snprintf(iid, sizeof iid, "%s", it.id);
        titem_free(&it);
        rc = titem_get(st, iid, &it, &e);
    }
    if (rc) { tset_free(&set); return api_reply_store(c, rc, &e, "task"); }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "trainer.task");
    cJSON_AddStringToObject(o, "item_id", it.id);
    cJSON_AddStringToObject(o, "set_id", set.id);
    cJSON_AddStringToObject(o, "set_name", set.name);
    cJSON_AddStringToObject(o, "kind", set.kind);
    cJSON_AddStringToObject(o, "guidelines", set.guidelines ? set.guidelines : "");
    cJSON_AddStringToObject(o, "topic", it.topic);
    cJSON *pm = cJSON_Parse(it.prompt);
    cJSON_AddItemToObject(o, "messages", pm ? pm : cJSON_CreateArray());
    int sw = !strcmp(set.kind, "compare") && swapped(it.id, w->user.id);
    const char *first = sw ? it.answer_b : it.answer_a, *second = sw ? it.answer_a : it.answer_b;
    cJSON_AddStringToObject(o, "answer_a", first ? first : "");
    if (!strcmp(set.kind, "compare")) {
        cJSON_AddStringToObject(o, "answer_b", second ? second : "");
        /* "a"/"b" in a judgment mean the answers as shown here: "ba" says they are the
         * stored B and A (the server maps the choice back) */
        cJSON_AddStringToObject(o, "order", sw ? "ba" : "ab");
    }
    cJSON *cr = cJSON_AddArrayToObject(o, "criteria");
    for (int i = 0; i < TRAINER_N_CRITERIA; i++) cJSON_AddItemToArray(cr, cJSON_CreateString(trainer_criteria[i]));
    cJSON *ch = cJSON_AddArrayToObject(o, "choices");
    for (int i = 0; i < 4; i++) cJSON_AddItemToArray(ch, cJSON_CreateString(trainer_choices[i]));
    cJSON_AddNumberToObject(o, "issued", (double)store_now_ms());
    titem_free(&it);
    tset_free(&set);
    return reply_free(c, 200, o);
}

/* Reads a judgment body into j (kind: the set's); 0, or the status of the 400 written. */
static int parse_judgment(struct mg_connection *c, const cJSON *b, const char *kind, int swap, struct tjudg *j, char **scores) {
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(b, "status");
    const char *st = cJSON_IsString(status) ? status->valuestring : status ? NULL : "done";
    if (!st || (strcmp(st, "done") && strcmp(st, "skipped")))
        return api_reply_error(c, 400, "status", "invalid_value", "'status' must be \"done\" or \"skipped\"");
    snprintf(j->status, sizeof j->status, "%s", st);
    const cJSON *it, *tm = cJSON_GetObjectItemCaseSensitive(b, "time_ms");
    if (tm && (!cJSON_IsNumber(tm) || tm->valuedouble < 0 || tm->valuedouble > 86400000.0))
        return api_reply_error(c, 400, "time_ms", "invalid_value", "'time_ms' must be a number of milliseconds (0 to a day)");
    j->time_ms = tm ? (int64_t)tm->valuedouble : 0;
    const cJSON *cm = cJSON_GetObjectItemCaseSensitive(b, "comment");
    if (cm && !cJSON_IsNull(cm) && (!cJSON_IsString(cm) || strlen(cm->valuestring) > 8000))
        return api_reply_error(c, 400, "comment", "invalid_value", "'comment' must be a string of at most 8000 bytes");
    j->comment = cJSON_IsString(cm) ? cm->valuestring : "";
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(b, "tags");
    if (tags && !cJSON_IsNull(tags)) {
        int ok = cJSON_IsArray(tags);
        cJSON_ArrayForEach(it, tags) {
            if (!ok || !cJSON_IsString(it) || !*it->valuestring || strchr(it->valuestring, ',') || strlen(it->valuestring) > 63 ||
                strlen(j->tags) + strlen(it->valuestring) + 2 >= sizeof j->tags) { ok = 0; break; }
            if (j->tags[0]) strcat(j->tags, ",");
            strcat(j->tags, it->valuestring);
        }
        if (!ok) return api_reply_error(c, 400, "tags", "invalid_value", "'tags' must be a list of short strings without commas");
    }
    if (!strcmp(st, "skipped")) return 0;
    if (!strcmp(kind, "rating")) {
        const cJSON *sc = cJSON_GetObjectItemCaseSensitive(b, "scores");
        if (!cJSON_IsObject(sc) || !sc->child)
            return api_reply_error(c, 400, "scores", "invalid_value", "'scores' must rate the answer 1-7 on the criteria");
        cJSON_ArrayForEach(it, sc) {
            int known = 0;
            for (int i = 0; i < TRAINER_N_CRITERIA; i++) known |= !strcmp(it->string, trainer_criteria[i]);
            if (!known) return api_reply_error(c, 400, "scores", "invalid_value", "unknown criterion '%s'", it->string);
            if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble) || it->valuedouble < 1 || it->valuedouble > 7)
                return api_reply_error(c, 400, "scores", "invalid_value", "'scores.%s' must be a whole number from 1 to 7", it->string);
        }
        *scores = cJSON_PrintUnformatted(sc);
        if (!*scores) return api_reply_error(c, 500, NULL, NULL, "out of memory");
        j->scores = *scores;
    } else if (!strcmp(kind, "compare")) {
        const cJSON *ch = cJSON_GetObjectItemCaseSensitive(b, "choice");
        int ok = 0;
        for (int i = 0; i < 4 && cJSON_IsString(ch); i++) ok |= !strcmp(ch->valuestring, trainer_choices[i]);
        if (!ok) return api_reply_error(c, 400, "choice", "invalid_value", "'choice' must be \"a\", \"b\", \"tie\" or \"both_bad\"");
        const char *v = ch->valuestring;
        if (swap) v = !strcmp(v, "a") ? "b" : !strcmp(v, "b") ? "a" : v; /* shown as B, A */
        snprintf(j->choice, sizeof j->choice, "%s", v);
    } else if (!strcmp(kind, "rewrite")) {
        const cJSON *rw = cJSON_GetObjectItemCaseSensitive(b, "rewrite");
        if (!cJSON_IsString(rw) || !*rw->valuestring || strlen(rw->valuestring) >= TRAINER_TEXT_MAX)
            return api_reply_error(c, 400, "rewrite", "invalid_value", "'rewrite' must be the ideal answer (a non-empty string)");
        j->rewrite = rw->valuestring;
    } else if (!tags) {
        return api_reply_error(c, 400, "tags", "invalid_value", "a tagging task needs 'tags' (an empty list: no problem)");
    }
    return 0;
}

static int post_judgment(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *item_id,
                         const char *body, size_t len) {
    struct store *st = s->p.auth->st;
    struct titem it;
    struct tset set;
    struct err e = {{0}};
    int rc = reachable_item(st, item_id, &it, &set, &e);
    if (rc) return api_reply_store(c, rc, &e, "item");
    int status = 0;
    cJSON *b = api_json_object(c, body, len, &status);
    if (!b) { titem_free(&it); tset_free(&set); return status; }
    struct tjudg j;
    memset(&j, 0, sizeof j);
    char *scores = NULL;
    status = parse_judgment(c, b, set.kind, !strcmp(set.kind, "compare") && swapped(it.id, w->user.id), &j, &scores);
    if (!status) {
        snprintf(j.item_id, sizeof j.item_id, "%s", it.id);
        snprintf(j.set_id, sizeof j.set_id, "%s", set.id);
        snprintf(j.user_id, sizeof j.user_id, "%s", w->user.id);
        j.created = store_now_ms();
        rc = tjudg_put(st, &j, j.id, &e);
        status = rc ? api_reply_store(c, rc, &e, "item") : reply_free(c, 200, judg_json(&j));
    }
    free(scores);
    cJSON_Delete(b);
    titem_free(&it);
    tset_free(&set);
    return status;
}

static int my_judgments(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *id) {
    struct tjudg *js = NULL;
    size_t n = 0;
    struct err e = {{0}};
    int rc = tjudg_list(s->p.auth->st, NULL, w->user.id, NULL, &js, &n, &e);
    if (rc) return api_reply_store(c, rc, &e, "judgment");
    cJSON *o = NULL;
    if (id) {
        for (size_t i = 0; i < n && !o; i++) if (!strcmp(js[i].id, id)) o = judg_json(&js[i]);
        tjudgs_free(js, n);
        return o ? reply_free(c, 200, o) : api_reply_error(c, 404, NULL, "not_found", "no such judgment");
    }
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *d = cJSON_AddArrayToObject(o, "data");
    for (size_t i = n; i-- > 0;) cJSON_AddItemToArray(d, judg_json(&js[i])); /* newest first */
    tjudgs_free(js, n);
    return reply_free(c, 200, o);
}

static int route_trainer_side(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *m,
                              const char *p, const char *body, size_t len) {
    if (!can_train(w)) return api_reply_error(c, 403, NULL, "trainer_only", "the workbench is for trainers and admins");
    if (!strcmp(p, "/sets")) {
        if (strcmp(m, "GET")) return not_allowed(c, m, "GET");
        struct tset *sets = NULL;
        size_t n = 0;
        struct err e = {{0}};
        int rc = tset_list(s->p.auth->st, &sets, &n, &e);
        if (rc) return api_reply_store(c, rc, &e, "task set");
        cJSON *o = cJSON_CreateObject(), *d;
        cJSON_AddStringToObject(o, "object", "list");
        d = cJSON_AddArrayToObject(o, "data");
        for (size_t i = 0; i < n; i++) if (sets[i].active) cJSON_AddItemToArray(d, set_json(&sets[i], 0));
        tsets_free(sets, n);
        return reply_free(c, 200, o);
    }
    if (!strcmp(p, "/next")) return strcmp(m, "GET") ? not_allowed(c, m, "GET") : trainer_next_route(s, c, w);
    if (!strncmp(p, "/items/", 7)) {
        const char *id = p + 7, *sl = strchr(id, '/');
        if (!sl || sl == id || strcmp(sl, "/judgment")) return api_reply_error(c, 404, NULL, "unknown_url", "unknown route %s /api/trainer%s", m, p);
        if (strcmp(m, "POST")) return not_allowed(c, m, "POST");
        char iid[STORE_ID_MAX + 1];
        size_t k = (size_t)(sl - id);
        if (k > STORE_ID_MAX) k = STORE_ID_MAX;
        memcpy(iid, id, k);
        iid[k] = 0;
        return post_judgment(s, c, w, iid, body, len);
    }
    if (!strcmp(p, "/judgments")) return strcmp(m, "GET") ? not_allowed(c, m, "GET") : my_judgments(s, c, w, NULL);
    if (!strncmp(p, "/judgments/", 11) && p[11] && !strchr(p + 11, '/'))
        return strcmp(m, "GET") ? not_allowed(c, m, "GET") : my_judgments(s, c, w, p + 11);
    return api_reply_error(c, 404, NULL, "unknown_url", "unknown route %s /api/trainer%s", m, p);
}

/* ---- admin routes ---- */

/* Adds the uploaded prompts: each {"prompt": text} or {"messages": [...]}, with optional
 * "topic" and "answer" (answer A as given; else generated when a trainer opens it). */
static int add_prompts(struct api_server *s, struct mg_connection *c, const struct tset *set, const cJSON *list,
                       int64_t *added) {
    *added = 0;
    if (!cJSON_IsArray(list) || !list->child)
        return api_reply_error(c, 400, "prompts", "invalid_value", "'prompts' must be a non-empty list");
    int i = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, list) {
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(p, "prompt"), *ms = cJSON_GetObjectItemCaseSensitive(p, "messages"),
                    *tp = cJSON_GetObjectItemCaseSensitive(p, "topic"), *an = cJSON_GetObjectItemCaseSensitive(p, "answer");
        cJSON *msgs = NULL;
        if (cJSON_IsString(pr) && *pr->valuestring) {
            msgs = cJSON_CreateArray();
            cJSON *u = cJSON_CreateObject();
            cJSON_AddStringToObject(u, "role", "user");
            cJSON_AddStringToObject(u, "content", pr->valuestring);
            cJSON_AddItemToArray(msgs, u);
        } else if (cJSON_IsArray(ms) && ms->child) {
            int ok = 1, users = 0;
            const cJSON *x;
            msgs = cJSON_CreateArray();
            cJSON_ArrayForEach(x, ms) {
                const cJSON *r = cJSON_GetObjectItemCaseSensitive(x, "role"), *ct = cJSON_GetObjectItemCaseSensitive(x, "content");
                if (!cJSON_IsString(r) || !cJSON_IsString(ct) ||
                    (strcmp(r->valuestring, "system") && strcmp(r->valuestring, "user") && strcmp(r->valuestring, "assistant"))) { ok = 0; break; }
                users += !strcmp(r->valuestring, "user");
                cJSON *y = cJSON_CreateObject();
                cJSON_AddStringToObject(y, "role", r->valuestring);
                cJSON_AddStringToObject(y, "content", ct->valuestring);
                cJSON_AddItemToArray(msgs, y);
            }
            if (!ok || !users) { cJSON_Delete(msgs); msgs = NULL; }
        }
        if (!msgs)
            return api_reply_error(c, 400, "prompts", "invalid_value",
                                   "prompts[%d] needs 'prompt' (text) or 'messages' ([{role, content}] with a user turn)", i);
        if ((tp && !cJSON_IsString(tp)) || (cJSON_IsString(tp) && strlen(tp->valuestring) >= STORE_NAME_MAX) || (an && !cJSON_IsString(an))) {
            cJSON_Delete(msgs);
            return api_reply_error(c, 400, "prompts", "invalid_value", "prompts[%d]: 'topic' and 'answer' must be strings", i);
        }
        struct titem it;
        memset(&it, 0, sizeof it);
        snprintf(it.set_id, sizeof it.set_id, "%s", set->id);
        if (cJSON_IsString(tp)) snprintf(it.topic, sizeof it.topic, "%s", tp->valuestring);
        if (cJSON_IsString(an)) snprintf(it.model_a, sizeof it.model_a, "%s", set->model_a);
        it.prompt = cJSON_PrintUnformatted(msgs);
        it.answer_a = cJSON_IsString(an) ? an->valuestring : NULL;
        cJSON_Delete(msgs);
        struct err e = {{0}};
        int rc = it.prompt ? titem_add(s->p.auth->st, &it, NULL, &e) : err_set(&e, "out of memory");
        free(it.prompt);
        if (rc) return api_reply_store(c, rc, &e, "task set");
        (*added)++;
        i++;
    }
    return 0;
}

static int str_field(struct mg_connection *c, const cJSON *b, const char *k, char *dst, size_t cap, int *st) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, k);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= cap) {
        *st = api_reply_error(c, 400, k, "invalid_value", "'%s' must be a string shorter than %zu bytes", k, cap);
        return -1;
    }
    snprintf(dst, cap, "%s", v->valuestring);
    return 1;
}

static int create_set(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *body, size_t len) {
    int status = 0;
    cJSON *b = api_json_object(c, body, len, &status);
    if (!b) return status;
    struct tset in;
    memset(&in, 0, sizeof in);
    snprintf(in.owner_id, sizeof in.owner_id, "%s", w->user.id);
    in.per_item = 2;
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(b, "guidelines"), *pi = cJSON_GetObjectItemCaseSensitive(b, "per_item"),
                *src = cJSON_GetObjectItemCaseSensitive(b, "source"), *it;
    static const char *const known[] = {"name", "kind", "guidelines", "per_item", "model_a", "model_b", "source", "only_down", "prompts"};
    cJSON_ArrayForEach(it, b) {
        int ok = 0;
        for (size_t i = 0; i < sizeof known / sizeof *known; i++) ok |= !strcmp(it->string, known[i]);
        if (!ok) {
            status = api_reply_error(c, 400, it->string, "unknown_parameter", "unknown field '%s'", it->string);
            cJSON_Delete(b);
            return status;
        }
    }
    if (str_field(c, b, "name", in.name, sizeof in.name, &status) < 0 || str_field(c, b, "kind", in.kind, sizeof in.kind, &status) < 0 ||
        str_field(c, b, "model_a", in.model_a, sizeof in.model_a, &status) < 0 ||
        str_field(c, b, "model_b", in.model_b, sizeof in.model_b, &status) < 0) { cJSON_Delete(b); return status; }
    if (!in.name[0]) status = api_reply_error(c, 400, "name", "invalid_value", "'name' is required");
    else if (!trainer_kind_ok(in.kind)) status = api_reply_error(c, 400, "kind", "invalid_value", "'kind' must be rating, compare, rewrite or tags");
    else if (g && !cJSON_IsNull(g) && (!cJSON_IsString(g) || strlen(g->valuestring) >= TRAINER_GUIDE_MAX))
        status = api_reply_error(c, 400, "guidelines", "invalid_value", "'guidelines' must be a string of at most %d bytes", TRAINER_GUIDE_MAX - 1);
    else if (pi && (!cJSON_IsNumber(pi) || pi->valuedouble < 1 || pi->valuedouble > 10 || pi->valuedouble != floor(pi->valuedouble)))
        status = api_reply_error(c, 400, "per_item", "invalid_value", "'per_item' must be a whole number from 1 to 10");
    else if (src && (!cJSON_IsString(src) || (strcmp(src->valuestring, "feedback") && strcmp(src->valuestring, "conversations") &&
                                               strcmp(src->valuestring, "prompts"))))
        status = api_reply_error(c, 400, "source", "invalid_value", "'source' must be \"feedback\", \"conversations\" or \"prompts\"");
    if (status) { cJSON_Delete(b); return status; }
    in.guidelines = cJSON_IsString(g) ? g->valuestring : "";
    if (pi) in.per_item = (int)pi->valuedouble;
    struct tset out;
    struct err e = {{0}};
    int rc = tset_create(s->p.auth->st, &in, &out, &e);
    if (rc) { cJSON_Delete(b); return api_reply_store(c, rc, &e, "task set"); }
    int64_t added = 0;
    if (cJSON_IsString(src) && !strcmp(src->valuestring, "feedback")) {
        rc = tset_fill_from_feedback(s->p.auth->st, out.id, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "only_down")), &added, &e);
        if (rc) status = api_reply_store(c, rc, &e, "task set");
    } else if (cJSON_IsString(src) && !strcmp(src->valuestring, "conversations")) {
        if ((rc = tset_fill_from_conversations(s->p.auth->st, out.id, 0, &added, &e))) status = api_reply_store(c, rc, &e, "task set");
    } else if (cJSON_HasObjectItem(b, "prompts")) {
        status = add_prompts(s, c, &out, cJSON_GetObjectItemCaseSensitive(b, "prompts"), &added);
    }
    cJSON_Delete(b);
    if (status) { tset_delete(s->p.auth->st, out.id, NULL); tset_free(&out); return status; }
    char id[STORE_ID_MAX];
    snprintf(id, sizeof id, "%s", out.id);
    tset_free(&out);
    if ((rc = tset_get(s->p.auth->st, id, &out, &e))) return api_reply_store(c, rc, &e, "task set");
    cJSON *o = set_json(&out, 1);
    cJSON_AddNumberToObject(o, "added", (double)added);
    tset_free(&out);
    return reply_free(c, 201, o);
}

static int admin_set(struct api_server *s, struct mg_connection *c, const char *m, const char *rest, const char *body,
                     size_t len) {
    struct store *st = s->p.auth->st;
    char id[STORE_ID_MAX + 1];
    const char *sl = strchr(rest, '/');
    size_t k = sl ? (size_t)(sl - rest) : strlen(rest);
    if (k > STORE_ID_MAX) k = STORE_ID_MAX;
    memcpy(id, rest, k);
    id[k] = 0;
    struct tset set;
    struct err e = {{0}};
    int rc = tset_get(st, id, &set, &e), status = 0;
    if (rc) return api_reply_store(c, rc, &e, "task set");
    if (!sl) {
        if (!strcmp(m, "GET")) status = reply_free(c, 200, set_json(&set, 1));
        else if (!strcmp(m, "DELETE")) {
            rc = tset_delete(st, id, &e);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "id", id);
            cJSON_AddBoolToObject(o, "deleted", 1);
            status = rc ? (cJSON_Delete(o), api_reply_store(c, rc, &e, "task set")) : reply_free(c, 200, o);
        } else if (!strcmp(m, "PATCH")) {
            cJSON *b = api_json_object(c, body, len, &status);
            if (b) {
                const cJSON *it, *g = cJSON_GetObjectItemCaseSensitive(b, "guidelines"), *a = cJSON_GetObjectItemCaseSensitive(b, "active");
                cJSON_ArrayForEach(it, b)
                    if (!status && strcmp(it->string, "name") && strcmp(it->string, "guidelines") && strcmp(it->string, "active"))
                        status = api_reply_error(c, 400, it->string, "unknown_parameter", "unknown field '%s'", it->string);
                if (!status && str_field(c, b, "name", set.name, sizeof set.name, &status) >= 0) {
                    if (a && !cJSON_IsBool(a)) status = api_reply_error(c, 400, "active", "invalid_type", "'active' must be true or false");
                    else if (g && (!cJSON_IsString(g) || strlen(g->valuestring) >= TRAINER_GUIDE_MAX))
                        status = api_reply_error(c, 400, "guidelines", "invalid_value", "'guidelines' must be a string");
                    else if (!set.name[0]) status = api_reply_error(c, 400, "name", "invalid_value", "'name' must not be empty");
                }
                if (!status) {
                    if (a) set.active = cJSON_IsTrue(a);
                    char *old = set.guidelines;
                    set.guidelines = g ? g->valuestring : NULL;
                    rc = tset_update(st, &set, &e);
                    set.guidelines = old;
                    if (rc) status = api_reply_store(c, rc, &e, "task set");
                    else {
                        tset_free(&set);
                        rc = tset_get(st, id, &set, &e);
                        status = rc ? api_reply_store(c, rc, &e, "task set") : reply_free(c, 200, set_json(&set, 1));
                    }
                }
                cJSON_Delete(b);
            }
        } else status = not_allowed(c, m, "GET, PATCH or DELETE");
    } else if (!strcmp(sl, "/prompts") || !strcmp(sl, "/fill")) {
        if (strcmp(m, "POST")) status = not_allowed(c, m, "POST");
        else {
            cJSON *b = api_json_object(c, body, len, &status);
            int64_t added = 0;
            if (b && !strcmp(sl, "/prompts")) status = add_prompts(s, c, &set, cJSON_GetObjectItemCaseSensitive(b, "prompts"), &added);
            else if (b) {
                const cJSON *fs = cJSON_GetObjectItemCaseSensitive(b, "source");
                if (fs && (!cJSON_IsString(fs) || (strcmp(fs->valuestring, "feedback") && strcmp(fs->valuestring, "conversations"))))
                    status = api_reply_error(c, 400, "source", "invalid_value", "'source' must be \"feedback\" or \"conversations\"");
                else if (fs && !strcmp(fs->valuestring, "conversations")) rc = tset_fill_from_conversations(st, id, 0, &added, &e);
                else rc = tset_fill_from_feedback(st, id, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "only_down")), &added, &e);
                if (!status && rc) status = api_reply_store(c, rc, &e, "task set");
            }
            if (b && !status) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "set_id", id);
                cJSON_AddNumberToObject(o, "added", (double)added);
                status = reply_free(c, 200, o);
            }
            cJSON_Delete(b);
        }
    } else if (!strcmp(sl, "/agreement")) {
        if (strcmp(m, "GET")) status = not_allowed(c, m, "GET");
        else {
            cJSON *o = trainer_agreement(st, id, &e);
            status = o ? reply_free(c, 200, o) : api_reply_store(c, STORE_ERR, &e, "task set");
        }
    } else status = api_reply_error(c, 404, NULL, "unknown_url", "unknown route %s /api/admin/task_sets/%s", m, rest);
    tset_free(&set);
    return status;
}

static int export_route(struct api_server *s, struct mg_connection *c) {
    char format[16] = "", from[32] = "", to[32] = "", model[STORE_MODEL_MAX] = "", asst[STORE_ID_MAX + 2] = "",
         tag[STORE_NAME_MAX] = "", rating[32] = "", set[STORE_ID_MAX + 2] = "";
    api_query(c, "format", format, sizeof format);
    api_query(c, "from", from, sizeof from);
    api_query(c, "to", to, sizeof to);
    api_query(c, "model", model, sizeof model);
    api_query(c, "assistant", asst, sizeof asst);
    api_query(c, "tag", tag, sizeof tag);
    api_query(c, "min_rating", rating, sizeof rating);
    api_query(c, "set", set, sizeof set);
    if (!trainer_export_format_ok(format)) return api_reply_error(c, 400, "format", "invalid_value", "'format' must be sft or dpo");
    struct texport_filter f = {0};
    if (from[0] && (f.from = trainer_parse_day(from, 0)) < 0) return api_reply_error(c, 400, "from", "invalid_value", "'from' must be a date YYYY-MM-DD");
    if (to[0] && (f.to = trainer_parse_day(to, 1)) < 0) return api_reply_error(c, 400, "to", "invalid_value", "'to' must be a date YYYY-MM-DD");
    if (rating[0]) {
        char *end = NULL;
        f.min_rating = strtod(rating, &end);
        if (*end || !(f.min_rating >= 1 && f.min_rating <= 7)) return api_reply_error(c, 400, "min_rating", "invalid_value", "'min_rating' must be a number from 1 to 7");
    }
    f.model = model;
    f.assistant = asst;
    f.tag = tag;
    f.set_id = set[0] ? set : NULL;
    char *out = NULL;
    int64_t lines = 0;
    struct err e = {{0}};
    int rc = trainer_export(s->p.auth->st, format, &f, &out, &lines, &e);
    if (rc) return api_reply_store(c, rc, &e, "export");
    char h[256];
    snprintf(h, sizeof h, "Content-Disposition: attachment; filename=\"omni-%s.jsonl\"\r\nX-Omni-Lines: %lld\r\n", format, (long long)lines);
    int st = api_reply(c, 200, "application/jsonl", out, strlen(out), h);
    free(out);
    return st;
}

static int route_admin_side(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *m,
                            const char *p, const char *body, size_t len) {
    if (strcmp(w->user.role, "admin")) return api_reply_error(c, 403, NULL, "admin_only", "only admins manage the trainers' work");
    struct err e = {{0}};
    char set[STORE_ID_MAX + 2] = "";
    api_query(c, "set", set, sizeof set);
    if (!strcmp(p, "/task_sets")) {
        if (!strcmp(m, "POST")) return create_set(s, c, w, body, len);
        if (strcmp(m, "GET")) return not_allowed(c, m, "GET or POST");
        struct tset *sets = NULL;
        size_t n = 0;
        int rc = tset_list(s->p.auth->st, &sets, &n, &e);
        if (rc) return api_reply_store(c, rc, &e, "task set");
        cJSON *o = cJSON_CreateObject(), *d;
        cJSON_AddStringToObject(o, "object", "list");
        d = cJSON_AddArrayToObject(o, "data");
        for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(d, set_json(&sets[i], 1));
        tsets_free(sets, n);
        return reply_free(c, 200, o);
    }
    if (!strncmp(p, "/task_sets/", 11) && p[11]) return admin_set(s, c, m, p + 11, body, len);
    if (strcmp(m, "GET")) return not_allowed(c, m, "GET");
    if (!strcmp(p, "/leaderboard") || !strcmp(p, "/throughput")) {
        cJSON *o = p[1] == 'l' ? trainer_leaderboard(s->p.auth->st, set[0] ? set : NULL, &e)
                               : trainer_throughput(s->p.auth->st, set[0] ? set : NULL, &e);
        return o ? reply_free(c, 200, o) : api_reply_store(c, STORE_ERR, &e, "report");
    }
    return export_route(s, c);
}

int route_trainer(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *m, const char *p,
                  const char *body, size_t len) {
    if (!strncmp(p, "/trainer/", 9)) return route_trainer_side(s, c, w, m, p + 8, body, len);
    if (!strncmp(p, "/admin/", 7)) {
        const char *q = p + 6;
        if (!strncmp(q, "/task_sets", 10) && (!q[10] || q[10] == '/')) return route_admin_side(s, c, w, m, q, body, len);
        if (!strcmp(q, "/leaderboard") || !strcmp(q, "/throughput") || !strcmp(q, "/exports"))
            return route_admin_side(s, c, w, m, q, body, len);
    }
    return 0;
}
