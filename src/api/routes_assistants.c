/* Custom assistants over HTTP (src/assistants): /api/assistants (create, list mine, read,
 * edit = a new version, delete, versions, avatar, bundled knowledge files, rating, reviews,
 * export and import of bundles, GET by link token), the store at /api/store (search,
 * category, featured / popular / rating / new), admin moderation, and what a chat
 * completion does with "assistant": ID (or model "asst:ID").
 *
 *   GET    /api/assistants                     mine
 *   POST   /api/assistants                     {config} -> 201 (version 1)
 *   POST   /api/assistants/import              body: a .omni-assistant zip -> 201 (private)
 *   GET    /api/assistants/link/{token}        by its link (visibility link or public)
 *   GET    /api/assistants/{id}                visible ones; the author and admins also see
 *                                              instructions, knowledge, files, link_token
 *   PATCH  /api/assistants/{id}                fields to change -> the next version (author)
 *   DELETE /api/assistants/{id}                author or admin
 *   GET    /api/assistants/{id}/versions[/{n}] author or admin
 *   GET|PUT|DELETE /api/assistants/{id}/avatar body: the image (PNG, JPEG, GIF)
 *   GET    /api/assistants/{id}/files          author or admin
 *   PUT|DELETE /api/assistants/{id}/files/{name}
 *   GET    /api/assistants/{id}/export         author or admin: application/zip
 *   POST   /api/assistants/{id}/rating         {stars 1..5, review} (users who chatted with it)
 *   GET    /api/assistants/{id}/reviews
 *   POST   /api/assistants/{id}/search         author or admin: {query} -> the passages a chat gets
 *   POST   /api/assistants/{id}/moderate       admin: {featured, hidden}
 *   GET    /api/store?q=&category=&sort=&offset=&limit=
 *
 * Another user's private assistant (or a link one asked for by id) answers 404 like a missing
 * one, so ids reveal nothing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/big_stack.h"
#include "api/reply.h"
#include "api/routes.h"
#include "api/files_index.h"
#include "api/routes_assistants.h"
#include "api/guardrails.h"
#include "api/ft_models.h"
#include "api/who.h"
#include "assistants/assistants.h"
#include "assistants/bundle.h"
#include "core/log.h"

static int reply_obj(struct mg_connection *c, int status, cJSON *o) {
    if (!o) return api_reply_error(c, 500, NULL, NULL, "out of memory");
    int st = api_reply_json(c, status, o);
    cJSON_Delete(o);
    return st;
}

static int not_found(struct mg_connection *c) { return api_reply_error(c, 404, NULL, "not_found", "no such assistant"); }

static int reply_asst_err(struct mg_connection *c, int rc, const struct err *e) {
    if (rc == ASST_NOT_USED) return api_reply_error(c, 403, NULL, "not_used", "%s", e->msg);
    return api_reply_store(c, rc, e, "assistant");
}

/* The assistant as JSON for someone who may see it; editor: its author or an admin. */
static cJSON *asst_json(const struct asst *a, int editor) {
    cJSON *cfg = cJSON_Parse(a->config);
    if (!cfg) return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", a->id);
    cJSON_AddStringToObject(o, "object", "assistant");
    cJSON_AddNumberToObject(o, "version", a->version);
    cJSON *au = cJSON_AddObjectToObject(o, "author");
    cJSON_AddStringToObject(au, "id", a->user_id);
    cJSON_AddStringToObject(au, "name", a->author);
    cJSON *x;
    /* knowledge in use: the capability on with files of the API or bundled ones (what a
     * user may know; which files stays the author's) */
    int kn_on = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cfg, "capabilities"), "knowledge"));
    /* the configuration's fields, less what only the author sees */
    while ((x = cfg->child)) {
        cJSON_DetachItemViaPointer(cfg, x);
        int secret = !strcmp(x->string, "instructions") || !strcmp(x->string, "knowledge");
        if (secret && !editor) {
            if (!strcmp(x->string, "knowledge")) {
                cJSON *k = cJSON_CreateObject();
                cJSON *fi = cJSON_GetObjectItemCaseSensitive(x, "file_ids"), *vs = cJSON_GetObjectItemCaseSensitive(x, "vector_store_ids");
                cJSON_AddBoolToObject(k, "enabled", cJSON_GetArraySize(fi) + cJSON_GetArraySize(vs) > 0 || kn_on);
                cJSON_AddItemToObject(o, "knowledge", k);
            }
            cJSON_Delete(x);
            continue;
        }
        cJSON_AddItemToObject(o, x->string, x);
    }
    cJSON_Delete(cfg);
    cJSON_AddBoolToObject(o, "featured", a->featured);
    if (editor) {
        cJSON_AddBoolToObject(o, "hidden", a->hidden);
        cJSON_AddStringToObject(o, "link_token", a->link_token);
    }
    if (a->avatar_type[0]) {
        char url[96];
        snprintf(url, sizeof url, "/api/assistants/%s/avatar", a->id);
        cJSON_AddStringToObject(o, "avatar_url", url);
    } else cJSON_AddNullToObject(o, "avatar_url");
    cJSON *s = cJSON_AddObjectToObject(o, "stats");
    cJSON_AddNumberToObject(s, "uses", (double)a->uses);
    cJSON_AddNumberToObject(s, "users", (double)a->users);
    cJSON_AddNumberToObject(s, "conversations", (double)a->conversations);
    cJSON_AddNumberToObject(s, "rating", round(a->rating * 100) / 100);
    cJSON_AddNumberToObject(s, "rating_count", (double)a->rating_n);
    cJSON_AddNumberToObject(o, "created", (double)a->created);
    cJSON_AddNumberToObject(o, "updated", (double)a->updated);
    return o;
}

static cJSON *list_json(const struct asst_list *l, const struct api_who *w) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *d = cJSON_AddArrayToObject(o, "data");
    for (size_t i = 0; i < l->n; i++) {
        cJSON *x = asst_json(&l->items[i], asst_is_editor(&l->items[i], w->user.id, w->user.role));
        if (x) cJSON_AddItemToArray(d, x);
    }
    return o;
}

/* A config from the request: a JSON object, or 400 written. */
static cJSON *body_object(struct mg_connection *c, const char *body, size_t len, int *status) {
    return api_json_object(c, body, len, status);
}

static int config_error(struct mg_connection *c, const cJSON *cfg) {
    char param[64], msg[256];
    cJSON *norm = NULL;
    if (asst_config_check(cfg, &norm, param, msg) == 0) {
        cJSON_Delete(norm);
        return 0;
    }
    return api_reply_error(c, 400, param[0] ? param : NULL, "invalid_value", "%s", msg);
}

static int create(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *body, size_t len) {
    int status = 0;
    cJSON *j = body_object(c, body, len, &status);
    if (!j) return status;
    if ((status = config_error(c, j))) { cJSON_Delete(j); return status; }
    struct asst a;
    struct err e = {{0}};
    int rc = asst_create(s->p.auth->st, w->user.id, j, &a, &e);
    cJSON_Delete(j);
    if (rc) return reply_asst_err(c, rc, &e);
    status = reply_obj(c, 201, asst_json(&a, 1));
    asst_free(&a);
    return status;
}

/* Loads id for w: 0 with *a filled when w may see it, else the 404 written. */
static int load_visible(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *id, struct asst *a) {
    struct err e = {{0}};
    int rc = asst_get(s->p.auth->st, id, a, &e);
    if (rc == STORE_NOTFOUND || (!rc && !asst_visible(a, w->user.id, w->user.role, 0))) {
        if (!rc) asst_free(a);
        return not_found(c);
    }
    if (rc) return reply_asst_err(c, rc, &e);
    return 0;
}

static int patch(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *id, const char *body,
                 size_t len) {
    int status = 0;
    struct asst a;
    struct err e = {{0}};
    int rc = asst_get(s->p.auth->st, id, &a, &e);
    if (rc == STORE_NOTFOUND || (!rc && strcmp(a.user_id, w->user.id))) {
        if (!rc) asst_free(&a);
        return not_found(c);   /* only its author edits it (an admin moderates instead) */
    }
    if (rc) return reply_asst_err(c, rc, &e);
    cJSON *j = body_object(c, body, len, &status);
    cJSON *cfg = cJSON_Parse(a.config);
    asst_free(&a);
    if (!j || !cfg) {
        cJSON_Delete(j);
        cJSON_Delete(cfg);
        return j ? api_reply_error(c, 500, NULL, NULL, "the stored configuration is damaged") : status;
    }
    /* top-level fields replace the current version's (objects as a whole) */
    cJSON *x;
    while ((x = j->child)) {
        cJSON_DetachItemViaPointer(j, x);
        /* (cJSON frees the item's own key before copying the one given: pass a copy) */
        char key[64];
        snprintf(key, sizeof key, "%.63s", x->string);
        if (cJSON_GetObjectItemCaseSensitive(cfg, key)) cJSON_ReplaceItemInObjectCaseSensitive(cfg, key, x);
        else cJSON_AddItemToObject(cfg, key, x);
    }
    cJSON_Delete(j);
    if ((status = config_error(c, cfg))) { cJSON_Delete(cfg); return status; }
    rc = asst_update(s->p.auth->st, w->user.id, id, cfg, &a, &e);
    cJSON_Delete(cfg);
    if (rc) return reply_asst_err(c, rc, &e);
    status = reply_obj(c, 200, asst_json(&a, 1));
    asst_free(&a);
    return status;
}

static int versions(struct api_server *s, struct mg_connection *c, struct api_who *w, const struct asst *a,
                    const char *which) {
    struct err e = {{0}};
    if (which) {
        char *end;
        long v = strtol(which, &end, 10);
        if (*end || v < 1 || v > 1000000000) return api_reply_error(c, 404, NULL, "not_found", "no such version");
        char *cfg = NULL;
        int rc = asst_version_config(s->p.auth->st, a->id, (int)v, &cfg, &e);
        if (rc) return api_reply_store(c, rc, &e, "version");
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "object", "assistant.version");
        cJSON_AddStringToObject(o, "assistant_id", a->id);
        cJSON_AddNumberToObject(o, "version", (double)v);
        cJSON_AddItemToObject(o, "config", cJSON_Parse(cfg));
        free(cfg);
        return reply_obj(c, 200, o);
    }
    struct asst_list l;
    int rc = asst_versions(s->p.auth->st, a->id, &l, &e);
    if (rc) return reply_asst_err(c, rc, &e);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *d = cJSON_AddArrayToObject(o, "data");
    for (size_t i = 0; i < l.n; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "object", "assistant.version");
        cJSON_AddNumberToObject(x, "version", l.items[i].version);
        cJSON_AddNumberToObject(x, "created", (double)l.items[i].updated);
        cJSON_AddItemToObject(x, "config", cJSON_Parse(l.items[i].config));
        cJSON_AddItemToArray(d, x);
    }
    asst_list_free(&l);
    return reply_obj(c, 200, o);
}

static int avatar(struct api_server *s, struct mg_connection *c, struct api_who *w, const struct asst *a, const char *m,
                  const char *body, size_t len) {
    struct err e = {{0}};
    if (!strcmp(m, "GET")) {
        char mime[32];
        unsigned char *d = NULL;
        size_t n = 0;
        int rc = asst_get_avatar(s->p.auth->st, a->id, mime, &d, &n, &e);
        if (rc) return reply_asst_err(c, rc, &e);
        if (!n) { free(d); return api_reply_error(c, 404, NULL, "not_found", "this assistant has no avatar"); }
        /* nosniff: the bytes are served as the image type their signature says, nothing else */
        int st = api_reply(c, 200, mime, (const char *)d, n, "X-Content-Type-Options: nosniff\r\nCache-Control: private, max-age=60\r\n");
        free(d);
        return st;
    }
    if (strcmp(a->user_id, w->user.id)) return not_found(c);
    if (!strcmp(m, "PUT") || !strcmp(m, "DELETE")) {
        int rc = asst_set_avatar(s->p.auth->st, w->user.id, a->id, body, !strcmp(m, "PUT") ? len : 0, &e);
        if (rc) return reply_asst_err(c, rc, &e);
        struct asst b;
        if ((rc = asst_get(s->p.auth->st, a->id, &b, &e))) return reply_asst_err(c, rc, &e);
        int st = reply_obj(c, 200, asst_json(&b, 1));
        asst_free(&b);
        return st;
    }
    return api_reply_error(c, 405, NULL, "method_not_allowed", "use GET, PUT or DELETE on an avatar");
}

static int files(struct api_server *s, struct mg_connection *c, struct api_who *w, const struct asst *a, const char *m,
                 const char *name, const char *body, size_t len) {
    struct err e = {{0}};
    int rc;
    if (!name) {
        if (strcmp(m, "GET")) return api_reply_error(c, 405, NULL, "method_not_allowed", "use GET");
        struct asst_file *f;
        size_t n;
        if ((rc = asst_files(s->p.auth->st, a->id, 0, &f, &n, &e))) return reply_asst_err(c, rc, &e);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "object", "list");
        cJSON *d = cJSON_AddArrayToObject(o, "data");
        for (size_t i = 0; i < n; i++) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "name", f[i].name);
            cJSON_AddStringToObject(x, "mime", f[i].mime);
            cJSON_AddNumberToObject(x, "size", (double)f[i].size);
            cJSON_AddStringToObject(x, "sha256", f[i].sha256);
            cJSON_AddItemToArray(d, x);
        }
        asst_files_free(f, n);
        return reply_obj(c, 200, o);
    }
    char dec[ASST_FILENAME_MAX * 3];
    if (mg_url_decode(name, (int)strlen(name), dec, (int)sizeof dec, 0) < 0)
        return api_reply_error(c, 400, "name", "invalid_value", "the file name is too long");
    if (strcmp(a->user_id, w->user.id)) return not_found(c);
    if (!strcmp(m, "PUT")) {
        const char *ct = mg_get_header(c, "Content-Type");
        char mime[64];
        snprintf(mime, sizeof mime, "%.*s", ct ? (int)strcspn(ct, ";") : 0, ct ? ct : "");
        rc = asst_file_check(dec, body, len, &e);
        if (!rc) rc = asst_file_put(s->p.auth->st, w->user.id, a->id, dec, mime, body, len, &e);
    } else if (!strcmp(m, "DELETE")) rc = asst_file_delete(s->p.auth->st, w->user.id, a->id, dec, &e);
    else return api_reply_error(c, 405, NULL, "method_not_allowed", "use PUT or DELETE on a file");
    if (rc == STORE_NOTFOUND) return api_reply_error(c, 404, NULL, "not_found", "no such file");
    if (rc) return reply_asst_err(c, rc, &e);
    return files(s, c, w, a, "GET", NULL, NULL, 0);
}

static int export_bundle(struct api_server *s, struct mg_connection *c, const struct asst *a) {
    unsigned char *z = NULL;
    size_t n = 0;
    struct err e = {{0}};
    int rc = asst_export(s->p.auth->st, a->id, &z, &n, &e);
    if (rc) return reply_asst_err(c, rc, &e);
    /* a file name of ASCII letters and digits only for the header */
    char fname[64] = "", hdr[200];
    size_t k = 0;
    for (const char *p = a->name; *p && k < 40; p++)
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')) fname[k++] = *p;
    fname[k] = 0;
    snprintf(hdr, sizeof hdr, "Content-Disposition: attachment; filename=\"%s.omni-assistant\"\r\n", k ? fname : "assistant");
    int st = api_reply(c, 200, "application/zip", (const char *)z, n, hdr);
    free(z);
    return st;
}

static int import_bundle(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *body, size_t len) {
    struct bundle b;
    char msg[256];
    if (bundle_read(body, len, &b, msg)) return api_reply_error(c, 400, NULL, "invalid_bundle", "%s", msg);
    struct asst a;
    struct err e = {{0}};
    int rc = asst_import(s->p.auth->st, w->user.id, &b, &a, &e);
    bundle_free(&b);
    if (rc) return reply_asst_err(c, rc, &e);
    int st = reply_obj(c, 201, asst_json(&a, 1));
    asst_free(&a);
    return st;
}

static int rate(struct api_server *s, struct mg_connection *c, struct api_who *w, const struct asst *a, const char *body,
                size_t len) {
    int status = 0, bad = 0;
    cJSON *j = api_json_object(c, body, len, &status);
    if (!j) return status;
    const cJSON *stars = cJSON_GetObjectItemCaseSensitive(j, "stars");
    const char *review = api_json_str(c, j, "review", &bad);
    if (bad) { cJSON_Delete(j); return 400; }
    if (!cJSON_IsNumber(stars) || stars->valuedouble != (int)stars->valuedouble || stars->valuedouble < 1 ||
        stars->valuedouble > 5) {
        cJSON_Delete(j);
        return api_reply_error(c, 400, "stars", "invalid_value", "'stars' must be an integer from 1 to 5");
    }
    struct err e = {{0}};
    int rc = asst_rate(s->p.auth->st, a->id, w->user.id, stars->valueint, review, &e);
    cJSON_Delete(j);
    if (rc) return reply_asst_err(c, rc, &e);
    struct asst b;
    if ((rc = asst_get(s->p.auth->st, a->id, &b, &e))) return reply_asst_err(c, rc, &e);
    int st = reply_obj(c, 200, asst_json(&b, asst_is_editor(&b, w->user.id, w->user.role)));
    asst_free(&b);
    return st;
}

static int reviews(struct api_server *s, struct mg_connection *c, const struct asst *a) {
    struct asst_review *r;
    size_t n;
    struct err e = {{0}};
    int rc = asst_reviews(s->p.auth->st, a->id, &r, &n, &e);
    if (rc) return reply_asst_err(c, rc, &e);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *d = cJSON_AddArrayToObject(o, "data");
    for (size_t i = 0; i < n; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "user_name", r[i].user_name);
        cJSON_AddNumberToObject(x, "stars", r[i].stars);
        cJSON_AddStringToObject(x, "review", r[i].review);
        cJSON_AddNumberToObject(x, "created", (double)r[i].rated);
        cJSON_AddItemToArray(d, x);
    }
    asst_reviews_free(r, n);
    return reply_obj(c, 200, o);
}

/* POST /api/assistants/{id}/search {query}: what a chat with this question retrieves from
 * the bundled knowledge files, and the context text the model gets (the builder's preview;
 * the author's and admins', as the files are). */
static cJSON *passages_json(const struct asst_passage *p, int n) {
    cJSON *d = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "index", i + 1);
        cJSON_AddStringToObject(x, "file", p[i].file);
        if (p[i].page) cJSON_AddNumberToObject(x, "page", p[i].page);
        else cJSON_AddNullToObject(x, "page");
        if (p[i].heading) cJSON_AddStringToObject(x, "heading", p[i].heading);
        else cJSON_AddNullToObject(x, "heading");
        cJSON_AddNumberToObject(x, "chunk", p[i].chunk);
        cJSON_AddNumberToObject(x, "score", round(p[i].score * 10000) / 10000);
        if (p[i].keyword_rank) cJSON_AddNumberToObject(x, "keyword_rank", p[i].keyword_rank);
        else cJSON_AddNullToObject(x, "keyword_rank");
        if (p[i].dense_rank) cJSON_AddNumberToObject(x, "dense_rank", p[i].dense_rank);
        else cJSON_AddNullToObject(x, "dense_rank");
        if (p[i].reranked) cJSON_AddNumberToObject(x, "rerank_score", p[i].rerank_score);
        else cJSON_AddNullToObject(x, "rerank_score");
        cJSON_AddStringToObject(x, "text", p[i].text);
        cJSON_AddItemToArray(d, x);
    }
    return d;
}

/* The knowledge settings of a configuration. */
static void knowledge_params(const cJSON *cfg, int *k, double *thr, int *only) {
    const cJSON *kn = cJSON_GetObjectItemCaseSensitive(cfg, "knowledge");
    const cJSON *mc = cJSON_GetObjectItemCaseSensitive(kn, "max_chunks"), *th = cJSON_GetObjectItemCaseSensitive(kn, "threshold");
    *k = cJSON_IsNumber(mc) ? mc->valueint : 5;
    *thr = cJSON_IsNumber(th) ? th->valuedouble : 0;
    *only = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(kn, "only_knowledge"));
}

/* Knowledge search with the server's models: its embedding model for the dense half and
 * its reranker (api/files_index.h finds both), each when there is one. The embedding and
 * the reranker run on an ordinary stack (api/big_stack.h): a civetweb worker's overflowed
 * in the f16 matrix kernel under AddressSanitizer. */
struct ks_call {
    struct api_server *s;
    const char *id, *q;
    int k, *n, rc;
    double thr;
    struct asst_passage **p;
    char *method;
    struct err *e;
};

static void ks_run(void *arg) {
    struct ks_call *x = arg;
    struct api_embed_hold eh, rh;
    char msg[300];
    int he = api_embed_get(x->s, 0, &eh, msg, sizeof msg) == 0, hr = api_embed_get(x->s, 1, &rh, msg, sizeof msg) == 0;
    struct asst_retrieval r = {x->k, x->thr, he ? eh.emb : NULL, hr ? rh.emb : NULL, ASST_RANK_HYBRID};
    x->rc = asst_knowledge_search(x->s->p.auth->st, x->id, x->q, &r, x->p, x->n, x->method, x->e);
    if (hr) api_embed_put(x->s, &rh);
    if (he) api_embed_put(x->s, &eh);
}

static int knowledge_search(struct api_server *s, const char *id, const char *q, int k, double thr,
                            struct asst_passage **p, int *n, char method[24], struct err *e) {
    struct ks_call x = {s, id, q, k, n, STORE_ERR, thr, p, method, e};
    *p = NULL;
    *n = 0;
    if (api_run_big_stack(ks_run, &x)) return err_set(e, "cannot start a thread; retry shortly"), STORE_ERR;
    return x.rc;
}

static int search(struct api_server *s, struct mg_connection *c, const struct asst *a, const char *body, size_t len) {
    int status = 0, bad = 0;
    cJSON *j = api_json_object(c, body, len, &status);
    if (!j) return status;
    const char *q = api_json_str(c, j, "query", &bad);
    if (bad) { cJSON_Delete(j); return 400; }
    if (!q || !*q) { cJSON_Delete(j); return api_reply_error(c, 400, "query", "invalid_value", "'query' is required"); }
    cJSON *cfg = cJSON_Parse(a->config);
    int k, only;
    double thr;
    knowledge_params(cfg, &k, &thr, &only);
    cJSON_Delete(cfg);
    struct asst_passage *p;
    int n;
    struct err e = {{0}};
    char method[24];
    int rc = knowledge_search(s, a->id, q, k, thr, &p, &n, method, &e);
    cJSON_Delete(j);
    if (rc) return reply_asst_err(c, rc, &e);
    char *ctx = asst_knowledge_context(p, n, only);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON_AddStringToObject(o, "method", method);
    cJSON_AddItemToObject(o, "data", passages_json(p, n));
    cJSON_AddStringToObject(o, "context", ctx ? ctx : "");
    free(ctx);
    asst_passages_free(p, n);
    return reply_obj(c, 200, o);
}

static int moderate(struct api_server *s, struct mg_connection *c, struct api_who *w, const struct asst *a,
                    const char *body, size_t len) {
    if (strcmp(w->user.role, "admin"))
        return api_reply_error(c, 403, NULL, "forbidden", "only an admin features or hides assistants");
    int status = 0;
    cJSON *j = api_json_object(c, body, len, &status);
    if (!j) return status;
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, "featured"), *h = cJSON_GetObjectItemCaseSensitive(j, "hidden");
    if ((f && !cJSON_IsBool(f)) || (h && !cJSON_IsBool(h))) {
        cJSON_Delete(j);
        return api_reply_error(c, 400, f && !cJSON_IsBool(f) ? "featured" : "hidden", "invalid_type", "must be true or false");
    }
    struct err e = {{0}};
    int rc = asst_admin_set(s->p.auth->st, a->id, f ? cJSON_IsTrue(f) : -1, h ? cJSON_IsTrue(h) : -1, &e);
    cJSON_Delete(j);
    if (rc) return reply_asst_err(c, rc, &e);
    struct asst b;
    if ((rc = asst_get(s->p.auth->st, a->id, &b, &e))) return reply_asst_err(c, rc, &e);
    int st = reply_obj(c, 200, asst_json(&b, 1));
    asst_free(&b);
    return st;
}

static int store_list(struct api_server *s, struct mg_connection *c, struct api_who *w) {
    char q[512] = "", cat[32] = "", sort[16] = "", off[24] = "", lim[24] = "", hid[8] = "";
    api_query(c, "q", q, sizeof q);
    api_query(c, "category", cat, sizeof cat);
    api_query(c, "sort", sort, sizeof sort);
    api_query(c, "offset", off, sizeof off);
    api_query(c, "limit", lim, sizeof lim);
    api_query(c, "hidden", hid, sizeof hid);
    long long limit = lim[0] ? atoll(lim) : 50, offset = off[0] ? atoll(off) : 0;
    if (limit <= 0 || limit > 200 || offset < 0)
        return api_reply_error(c, 400, lim[0] ? "limit" : "offset", "invalid_value", "'limit' must be 1..200 and 'offset' >= 0");
    if (cat[0]) {
        int ok = 0;
        for (int i = 0; asst_categories[i]; i++) ok |= !strcmp(cat, asst_categories[i]);
        if (!ok) return api_reply_error(c, 400, "category", "invalid_value", "no such category '%s'", cat);
    }
    struct asst_query aq = {q, cat, sort, !strcmp(w->user.role, "admin") && (!strcmp(hid, "1") || !strcmp(hid, "true")),
                            offset, limit + 1};
    struct asst_list l;
    struct err e = {{0}};
    int rc = asst_store_list(s->p.auth->st, &aq, &l, &e);
    if (rc == STORE_INVALID) return api_reply_error(c, 400, "sort", "invalid_value", "%s", e.msg);
    if (rc) return reply_asst_err(c, rc, &e);
    int more = l.n > (size_t)limit;
    if (more) asst_free(&l.items[--l.n]);
    cJSON *o = list_json(&l, w);
    cJSON_AddBoolToObject(o, "has_more", more);
    cJSON *cs = cJSON_AddArrayToObject(o, "categories");
    for (int i = 0; asst_categories[i]; i++) cJSON_AddItemToArray(cs, cJSON_CreateString(asst_categories[i]));
    asst_list_free(&l);
    return reply_obj(c, 200, o);
}

int route_assistants(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *m, const char *rest,
                     const char *body, size_t len) {
    int get = !strcmp(m, "GET");
    if (!*rest || !strcmp(rest, "/")) {
        if (get) {
            struct asst_list l;
            struct err e = {{0}};
            int rc = asst_list_mine(s->p.auth->st, w->user.id, &l, &e);
            if (rc) return reply_asst_err(c, rc, &e);
            cJSON *o = list_json(&l, w);
            asst_list_free(&l);
            return reply_obj(c, 200, o);
        }
        if (!strcmp(m, "POST")) return create(s, c, w, body, len);
        return api_reply_error(c, 405, NULL, "method_not_allowed", "use GET or POST on /api/assistants");
    }
    if (!strcmp(rest, "/import")) {
        if (strcmp(m, "POST")) return api_reply_error(c, 405, NULL, "method_not_allowed", "use POST");
        return import_bundle(s, c, w, body, len);
    }
    if (!strncmp(rest, "/link/", 6)) {
        if (!get) return api_reply_error(c, 405, NULL, "method_not_allowed", "use GET");
        struct asst a;
        struct err e = {{0}};
        int rc = strchr(rest + 6, '/') ? STORE_NOTFOUND : asst_get_by_link(s->p.auth->st, rest + 6, &a, &e);
        if (rc == STORE_NOTFOUND || (!rc && !asst_visible(&a, w->user.id, w->user.role, 1))) {
            if (!rc) asst_free(&a);
            return not_found(c);
        }
        if (rc) return reply_asst_err(c, rc, &e);
        int st = reply_obj(c, 200, asst_json(&a, asst_is_editor(&a, w->user.id, w->user.role)));
        asst_free(&a);
        return st;
    }
    char id[STORE_ID_MAX];
    const char *p = rest + 1, *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (!n || n >= sizeof id) return not_found(c);
    memcpy(id, p, n);
    id[n] = 0;
    if (!slash && !strcmp(m, "PATCH")) return patch(s, c, w, id, body, len);
    struct asst a;
    int st = load_visible(s, c, w, id, &a);
    if (st) return st;
    int editor = asst_is_editor(&a, w->user.id, w->user.role);
    const char *sub = slash ? slash : "";
    if (!*sub) {
        if (get) st = reply_obj(c, 200, asst_json(&a, editor));
        else if (!strcmp(m, "DELETE")) {
            struct err e = {{0}};
            int rc = editor ? asst_delete(s->p.auth->st, NULL, id, &e) : STORE_NOTFOUND;
            if (rc == STORE_NOTFOUND) st = not_found(c);
            else if (rc) st = reply_asst_err(c, rc, &e);
            else {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "id", id);
                cJSON_AddBoolToObject(o, "deleted", 1);
                st = reply_obj(c, 200, o);
            }
        } else st = api_reply_error(c, 405, NULL, "method_not_allowed", "use GET, PATCH or DELETE");
    } else if (!strcmp(sub, "/versions") || !strncmp(sub, "/versions/", 10)) {
        st = !editor ? not_found(c) : !get ? api_reply_error(c, 405, NULL, "method_not_allowed", "use GET")
                                          : versions(s, c, w, &a, sub[9] ? sub + 10 : NULL);
    } else if (!strcmp(sub, "/avatar")) st = avatar(s, c, w, &a, m, body, len);
    else if (!strcmp(sub, "/files") || !strncmp(sub, "/files/", 7)) {
        st = !editor ? not_found(c) : files(s, c, w, &a, m, sub[6] ? sub + 7 : NULL, body, len);
    } else if (!strcmp(sub, "/export")) {
        st = !editor ? not_found(c) : !get ? api_reply_error(c, 405, NULL, "method_not_allowed", "use GET")
                                          : export_bundle(s, c, &a);
    } else if (!strcmp(sub, "/rating")) {
        st = strcmp(m, "POST") ? api_reply_error(c, 405, NULL, "method_not_allowed", "use POST") : rate(s, c, w, &a, body, len);
    } else if (!strcmp(sub, "/reviews")) {
        st = get ? reviews(s, c, &a) : api_reply_error(c, 405, NULL, "method_not_allowed", "use GET");
    } else if (!strcmp(sub, "/search")) {
        st = !editor ? not_found(c) : strcmp(m, "POST") ? api_reply_error(c, 405, NULL, "method_not_allowed", "use POST")
                                                         : search(s, c, &a, body, len);
    } else if (!strcmp(sub, "/moderate")) {
        st = strcmp(m, "POST") ? api_reply_error(c, 405, NULL, "method_not_allowed", "use POST") : moderate(s, c, w, &a, body, len);
    } else st = api_reply_error(c, 404, NULL, "unknown_url", "unknown route %s /api/assistants%s", m, rest);
    asst_free(&a);
    return st;
}

int route_store(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *m, const char *rest) {
    if (*rest && strcmp(rest, "/")) return api_reply_error(c, 404, NULL, "unknown_url", "unknown route %s /api/store%s", m, rest);
    if (strcmp(m, "GET")) return api_reply_error(c, 405, NULL, "method_not_allowed", "use GET on /api/store");
    return store_list(s, c, w);
}

/* ---- a chat with an assistant ---- */

/* The use of the request this worker thread is answering (see api_assistant_chat_done). */
static _Thread_local struct api_asst_use *tl_use;
static _Thread_local struct api_server *tl_server;

static int sampling_default(cJSON *j, const cJSON *samp, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(samp, name);
    if (!v || cJSON_GetObjectItemCaseSensitive(j, name)) return 0;
    return cJSON_AddItemToObject(j, name, cJSON_Duplicate(v, 1)) ? 0 : -1;
}

int api_assistant_chat_begin(struct api_server *s, struct mg_connection *c, cJSON *j, struct api_asst_use *u) {
    memset(u, 0, sizeof *u);
    api_ft_set_model_owner(NULL, NULL);
    if (!cJSON_IsObject(j)) return 0;
    const cJSON *af = cJSON_GetObjectItemCaseSensitive(j, "assistant");
    cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    const char *ref = NULL;
    int via_model = 0;
    if (af && !cJSON_IsNull(af)) {
        if (!cJSON_IsString(af) || !af->valuestring[0])
            return api_reply_error(c, 400, "assistant", "invalid_type", "'assistant' must be an assistant id");
        ref = af->valuestring;
    } else if (cJSON_IsString(model) && !strncmp(model->valuestring, "asst:", 5)) {
        ref = model->valuestring + 5;
        via_model = 1;
    }
    if (!ref) return 0;
    struct api_who *w = api_who();
    if (!s->p.auth || !api_who_has_user(w))
        return api_reply_error(c, 401, "assistant", "unauthorized", "chatting with an assistant needs an account's key or login");
    struct asst a;
    struct err e = {{0}};
    int by_link = !strncmp(ref, "lnk_", 4);
    int rc = strlen(ref) >= STORE_ID_MAX ? STORE_NOTFOUND
             : by_link ? asst_get_by_link(s->p.auth->st, ref, &a, &e) : asst_get(s->p.auth->st, ref, &a, &e);
    if (rc == STORE_NOTFOUND || (!rc && !asst_visible(&a, w->user.id, w->user.role, by_link))) {
        if (!rc) asst_free(&a);
        return api_reply_error(c, 404, "assistant", "assistant_not_found", "no such assistant '%.64s'", ref);
    }
    if (rc) return api_reply_store(c, rc, &e, "assistant");
    cJSON *cfg = cJSON_Parse(a.config);
    snprintf(u->id, sizeof u->id, "%s", a.id);
    u->version = a.version;
    snprintf(u->user_id, sizeof u->user_id, "%s", w->user.id);
    api_guard_set_assistant(api_guard_current(), a.id);   /* its moderation policy applies */
    char author[STORE_ID_MAX];
    snprintf(author, sizeof author, "%s", a.user_id);
    asst_free(&a);
    if (!cfg) return api_reply_error(c, 500, NULL, NULL, "the assistant's configuration is damaged");
    int status = 0;
    char *ins_buf = NULL;
    /* the model: the request's (one of the allowed ones), else the assistant's default */
    const char *dm = cJSON_GetObjectItemCaseSensitive(cfg, "model")->valuestring;
    const cJSON *allowed = cJSON_GetObjectItemCaseSensitive(cfg, "models"), *x;
    if (via_model || !cJSON_IsString(model)) {
        cJSON_DeleteItemFromObjectCaseSensitive(j, "model");
        if (dm[0]) cJSON_AddStringToObject(j, "model", dm);
        if (dm[0]) api_ft_set_model_owner(author, dm);  /* its fine-tuned model is its author's */
    } else if (cJSON_GetArraySize(allowed) > 0) {
        int ok = 0;
        cJSON_ArrayForEach(x, allowed) ok |= !strcmp(x->valuestring, model->valuestring);
        if (!ok) {
            status = api_reply_error(c, 400, "model", "model_not_allowed", "this assistant runs on %s%s; not on '%.100s'",
                                     cJSON_GetArrayItem(allowed, 0)->valuestring,
                                     cJSON_GetArraySize(allowed) > 1 ? " and others it lists" : "", model->valuestring);
            goto out;
        }
        api_ft_set_model_owner(author, model->valuestring);
    }
    /* sampling defaults, under what the request sets itself */
    const cJSON *samp = cJSON_GetObjectItemCaseSensitive(cfg, "sampling");
    static const char *const sk[] = {"temperature", "top_p", "top_k", "max_tokens", "presence_penalty", "frequency_penalty", "seed"};
    for (size_t i = 0; i < sizeof sk / sizeof *sk; i++)
        if (sampling_default(j, samp, sk[i])) { status = api_reply_error(c, 500, NULL, NULL, "out of memory"); goto out; }
    /* a conversation starter: "starter": N adds the assistant's N-th starter as the user's turn */
    cJSON *msgs = cJSON_GetObjectItemCaseSensitive(j, "messages");
    const cJSON *sf = cJSON_GetObjectItemCaseSensitive(j, "starter");
    if (sf && !cJSON_IsNull(sf)) {
        const cJSON *starters = cJSON_GetObjectItemCaseSensitive(cfg, "starters");
        if (!cJSON_IsNumber(sf) || sf->valuedouble != (int)sf->valuedouble || sf->valueint < 0 ||
            sf->valueint >= cJSON_GetArraySize(starters)) {
            status = api_reply_error(c, 400, "starter", "invalid_value", "'starter' must be the index of one of the assistant's "
                                     "%d conversation starters", cJSON_GetArraySize(starters));
            goto out;
        }
        if (!msgs || cJSON_IsNull(msgs)) {
            cJSON_DeleteItemFromObjectCaseSensitive(j, "messages");
            msgs = cJSON_AddArrayToObject(j, "messages");
        }
        if (cJSON_IsArray(msgs)) {
            cJSON *um = cJSON_CreateObject();
            cJSON_AddStringToObject(um, "role", "user");
            cJSON_AddStringToObject(um, "content", cJSON_GetArrayItem(starters, sf->valueint)->valuestring);
            cJSON_AddItemToArray(msgs, um);
        }
    }
    /* knowledge: the passages of the bundled files that match the last question join the
     * instructions, numbered for citations */
    const char *ins = cJSON_GetObjectItemCaseSensitive(cfg, "instructions")->valuestring;
    const cJSON *caps = cJSON_GetObjectItemCaseSensitive(cfg, "capabilities");
    struct asst_file *kf = NULL;
    size_t nkf = 0;
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(caps, "knowledge")) && cJSON_IsArray(msgs) &&
        !asst_files(s->p.auth->st, u->id, 0, &kf, &nkf, &e) && nkf > 0) {
        const cJSON *last = cJSON_GetArrayItem(msgs, cJSON_GetArraySize(msgs) - 1);
        const cJSON *lr = cJSON_GetObjectItemCaseSensitive(last, "role"), *lc = cJSON_GetObjectItemCaseSensitive(last, "content");
        if (cJSON_IsString(lr) && !strcmp(lr->valuestring, "user") && cJSON_IsString(lc)) {
            int k, only;
            double thr;
            knowledge_params(cfg, &k, &thr, &only);
            struct asst_passage *p = NULL;
            int np = 0;
            if (knowledge_search(s, u->id, lc->valuestring, k, thr, &p, &np, NULL, &e)) {
                asst_files_free(kf, nkf);
                status = api_reply_store(c, STORE_ERR, &e, "assistant");
                goto out;
            }
            /* the policy's check of retrieved text ("knowledge"): a flagged passage is left out */
            int kept = 0;
            for (int i = 0; i < np; i++) {
                if (api_guard_knowledge(api_guard_current(), p[i].text)) {
                    free(p[i].text);
                    free(p[i].heading);
                    continue;
                }
                p[kept++] = p[i];
            }
            char *ctx = asst_knowledge_context(p, kept, only);
            if (kept) u->citations = passages_json(p, kept);
            asst_passages_free(p, kept);
            size_t n = strlen(ins) + (ctx ? strlen(ctx) : 0) + 3;
            if (!ctx || !(ins_buf = malloc(n))) {
                free(ctx);
                asst_files_free(kf, nkf);
                status = api_reply_error(c, 500, NULL, NULL, "out of memory");
                goto out;
            }
            snprintf(ins_buf, n, "%s%s%s", ins, ins[0] ? "\n\n" : "", ctx);
            free(ctx);
            ins = ins_buf;
        }
    }
    asst_files_free(kf, nkf);
    /* the instructions: the system message, ahead of one the request brings */
    if (ins[0] && cJSON_IsArray(msgs) && cJSON_GetArraySize(msgs) > 0) {
        cJSON *first = cJSON_GetArrayItem(msgs, 0);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(first, "role");
        cJSON *content = cJSON_GetObjectItemCaseSensitive(first, "content");
        if (cJSON_IsString(role) && (!strcmp(role->valuestring, "system") || !strcmp(role->valuestring, "developer")) &&
            cJSON_IsString(content)) {
            size_t n = strlen(ins) + strlen(content->valuestring) + 3;
            char *joined = malloc(n);
            if (!joined) { status = api_reply_error(c, 500, NULL, NULL, "out of memory"); goto out; }
            snprintf(joined, n, "%s\n\n%s", ins, content->valuestring);
            cJSON_ReplaceItemInObjectCaseSensitive(first, "content", cJSON_CreateString(joined));
            free(joined);
        } else {
            cJSON *sm = cJSON_CreateObject();
            cJSON_AddStringToObject(sm, "role", "system");
            cJSON_AddStringToObject(sm, "content", ins);
            cJSON_InsertItemInArray(msgs, 0, sm);
        }
    }
    cJSON_DeleteItemFromObjectCaseSensitive(j, "assistant");
    cJSON_DeleteItemFromObjectCaseSensitive(j, "starter");
    /* the conversation this chat is stored in (checked by the chat's own storage step) */
    const char *hdr = mg_get_header(c, "X-Omni-Conversation");
    const cJSON *conv = cJSON_GetObjectItemCaseSensitive(j, "conversation");
    const char *cv = hdr && *hdr ? hdr : cJSON_IsString(conv) ? conv->valuestring : "";
    snprintf(u->conv_id, sizeof u->conv_id, "%.*s", (int)(strlen(cv) < STORE_ID_MAX ? strlen(cv) : 0), cv);
    u->active = 1;
    tl_use = u;
    tl_server = s;
out:
    free(ins_buf);
    cJSON_Delete(cfg);
    return status;
}

/* The use of the request this worker thread is answering, recorded once its generation has
 * ended and before the reply's last bytes go out (api_assistant_chat_done, from the chat's
 * storage step), so a client that has read the answer finds the conversation's assistant
 * recorded; api_assistant_chat_end records it otherwise (several choices: no capture). */

static void record(struct api_server *s, struct api_asst_use *u) {
    if (u->recorded) return;
    u->recorded = 1;
    struct err e = {{0}};
    if (asst_record_use(s->p.auth->st, u->id, u->version, u->user_id, u->conv_id, &e))
        log_warn("assistant %s: counting a use: %s", u->id, e.msg);
}

const cJSON *api_assistant_citations(void) {
    return tl_use && tl_use->active ? tl_use->citations : NULL;
}

void api_assistant_chat_done(void) {
    if (tl_use && tl_use->active && tl_server) record(tl_server, tl_use);
}

void api_assistant_chat_end(struct api_server *s, struct api_asst_use *u, int status) {
    api_ft_set_model_owner(NULL, NULL);
    tl_use = NULL;
    tl_server = NULL;
    if (u->active && status == 200) record(s, u);
    cJSON_Delete(u->citations);
    u->citations = NULL;
}
