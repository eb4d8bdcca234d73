/* Conversations on the server, under /api/conversations: list, search (?q=, Korean
 * works), create, read (the whole message tree with sibling positions, for the app's
 * "‹ 2/3 ›" switch, and the branch shown now), change (title, archived, pinned, model,
 * the branch shown), delete, and adding messages (a question edited becomes a sibling
 * of the old one: POST .../messages with the old one's parent). Every id is looked up
 * as the caller's: another user's id answers 404 like a missing one. A conversation's
 * documents (.../files) are api/conv_docs.h's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/conv_docs.h"
#include "api/msg_citations.h"
#include "api/reply.h"
#include "api/routes.h"
#include "api/who.h"
#include "assistants/assistants.h"
#include "storage/prefs.h"
#include "storage/reasoning.h"

static cJSON *conv_json(const struct store_conv *v) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", v->id);
    cJSON_AddStringToObject(o, "object", "conversation");
    cJSON_AddStringToObject(o, "title", v->title);
    cJSON_AddStringToObject(o, "model", v->model);
    if (v->assistant_id[0]) cJSON_AddStringToObject(o, "assistant_id", v->assistant_id);
    else cJSON_AddNullToObject(o, "assistant_id");
    if (v->current_leaf[0]) cJSON_AddStringToObject(o, "current_leaf", v->current_leaf);
    else cJSON_AddNullToObject(o, "current_leaf");
    cJSON_AddBoolToObject(o, "archived", v->archived);
    cJSON_AddBoolToObject(o, "pinned", v->pinned);
    cJSON_AddNumberToObject(o, "created", (double)v->created);
    cJSON_AddNumberToObject(o, "updated", (double)v->updated);
    return o;
}

static cJSON *msg_json(const struct store_msg *m) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", m->id);
    if (m->parent_id[0]) cJSON_AddStringToObject(o, "parent_id", m->parent_id);
    else cJSON_AddNullToObject(o, "parent_id");
    cJSON_AddStringToObject(o, "role", m->role);
    cJSON_AddStringToObject(o, "content", m->content ? m->content : "");
    cJSON_AddStringToObject(o, "model", m->model);
    cJSON_AddStringToObject(o, "status", m->status);
    cJSON_AddNumberToObject(o, "created", (double)m->created);
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)m->prompt_tokens);
    cJSON_AddNumberToObject(u, "cached_tokens", (double)m->cached_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)m->completion_tokens);
    return o;
}

/* The tree: every message with its children and its place among its siblings, and the
 * path (root to the current leaf) the app shows. */
static cJSON *tree_json(const struct store_conv *v, const struct store_msgs *t) {
    cJSON *o = conv_json(v);
    cJSON *ms = cJSON_AddArrayToObject(o, "messages");
    for (size_t i = 0; i < t->n; i++) {
        const struct store_msg *m = &t->items[i];
        cJSON *x = msg_json(m);
        int idx = 0, count = 0;
        cJSON *kids = cJSON_AddArrayToObject(x, "children");
        for (size_t k = 0; k < t->n; k++) {
            if (!strcmp(t->items[k].parent_id, m->parent_id)) {
                count++;
                if (k == i) idx = count;
            }
            if (!strcmp(t->items[k].parent_id, m->id)) cJSON_AddItemToArray(kids, cJSON_CreateString(t->items[k].id));
        }
        cJSON_AddNumberToObject(x, "sibling_index", idx);
        cJSON_AddNumberToObject(x, "sibling_count", count);
        cJSON_AddItemToArray(ms, x);
    }
    /* the current path, walked up from the leaf (parents come before children in t) */
    cJSON *path = cJSON_AddArrayToObject(o, "path");
    const char *at = v->current_leaf;
    size_t guard = 0;
    while (at && *at && guard++ <= t->n) {
        size_t k = 0;
        while (k < t->n && strcmp(t->items[k].id, at)) k++;
        if (k == t->n) break;
        cJSON_InsertItemInArray(path, 0, cJSON_CreateString(t->items[k].id));
        at = t->items[k].parent_id;
    }
    return o;
}

static int reply_obj(struct mg_connection *c, int status, cJSON *o) {
    int st = api_reply_json(c, status, o);
    cJSON_Delete(o);
    return st;
}

static int list_or_search(struct api_server *s, struct mg_connection *c, struct api_who *w) {
    struct store *st = s->p.auth->st;
    char q[1024] = "", arch[8] = "", off[24] = "", lim[24] = "";
    int has_q = api_query(c, "q", q, sizeof q);
    api_query(c, "archived", arch, sizeof arch);
    api_query(c, "offset", off, sizeof off);
    api_query(c, "limit", lim, sizeof lim);
    int archived = !arch[0] ? 0 : !strcmp(arch, "all") ? -1 : (!strcmp(arch, "1") || !strcmp(arch, "true")) ? 1 : 0;
    long long limit = lim[0] ? atoll(lim) : 50, offset = off[0] ? atoll(off) : 0;
    if (limit <= 0 || limit > 1000 || offset < 0)
        return api_reply_error(c, 400, lim[0] ? "limit" : "offset", "invalid_value", "'limit' must be 1..1000 and 'offset' >= 0");
    struct err e = {{0}};
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "object", "list");
    cJSON *d = cJSON_AddArrayToObject(out, "data");
    if (has_q && q[0]) {
        struct store_hits h = {0};
        int rc = store_search(st, w->user.id, q, archived, limit, &h, &e);
        if (rc) { cJSON_Delete(out); return api_reply_store(c, rc, &e, "conversation"); }
        for (size_t i = 0; i < h.n; i++) {
            cJSON *x = conv_json(&h.items[i].conv);
            if (h.items[i].msg_id[0]) cJSON_AddStringToObject(x, "message_id", h.items[i].msg_id);
            else cJSON_AddNullToObject(x, "message_id");
            cJSON_AddStringToObject(x, "snippet", h.items[i].snippet ? h.items[i].snippet : "");
            cJSON_AddItemToArray(d, x);
        }
        store_hits_free(&h);
        cJSON_AddBoolToObject(out, "has_more", 0);
        return reply_obj(c, 200, out);
    }
    struct store_conv_query cq = {archived, -1, offset, limit};
    struct store_conv_list l = {0};
    int rc = store_conv_list(st, w->user.id, &cq, &l, &e);
    if (rc) { cJSON_Delete(out); return api_reply_store(c, rc, &e, "conversation"); }
    for (size_t i = 0; i < l.n; i++) cJSON_AddItemToArray(d, conv_json(&l.items[i]));
    cJSON_AddBoolToObject(out, "has_more", l.has_more);
    store_conv_list_free(&l);
    return reply_obj(c, 200, out);
}

static int copy_field(struct mg_connection *c, const cJSON *j, const char *name, char *dst, size_t cap, int *set,
                      int *bad) {
    const char *v = api_json_str(c, j, name, bad);
    if (*bad) return -1;
    if (!v) return 0;
    if (strlen(v) >= cap) {
        *bad = 1;
        api_reply_error(c, 400, name, "invalid_value", "'%s' is longer than %zu bytes", name, cap - 1);
        return -1;
    }
    snprintf(dst, cap, "%s", v);
    *set = 1;
    return 0;
}

static int create_conv(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *body, size_t len) {
    int status = 0, bad = 0, set = 0;
    cJSON *j = api_json_object(c, body, len, &status);
    if (!j) return status;
    struct store_conv in, out;
    memset(&in, 0, sizeof in);
    snprintf(in.user_id, sizeof in.user_id, "%s", w->user.id);
    if (copy_field(c, j, "title", in.title, sizeof in.title, &set, &bad) ||
        copy_field(c, j, "model", in.model, sizeof in.model, &set, &bad) ||
        copy_field(c, j, "assistant_id", in.assistant_id, sizeof in.assistant_id, &set, &bad)) {
        cJSON_Delete(j);
        return 400;
    }
    cJSON_Delete(j);
    struct err e = {{0}};
    int rc = store_conv_create(s->p.auth->st, &in, &out, &e);
    if (rc) return api_reply_store(c, rc, &e, "conversation");
    return reply_obj(c, 201, conv_json(&out));
}

static int get_conv(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *id) {
    struct store_conv v;
    struct store_msgs t = {0};
    struct err e = {{0}};
    int rc = store_conv_get(s->p.auth->st, w->user.id, id, &v, &e);
    if (!rc) rc = store_msg_tree(s->p.auth->st, w->user.id, id, &t, &e);
    if (rc) return api_reply_store(c, rc, &e, "conversation");
    cJSON *o = tree_json(&v, &t);
    /* an answer after built-in tool runs carries them (the app's "ran query…") */
    cJSON *mj;
    size_t mi = 0;
    cJSON_ArrayForEach(mj, cJSON_GetObjectItemCaseSensitive(o, "messages")) {
        const struct store_msg *m = mi < t.n ? &t.items[mi] : NULL;
        mi++;
        char *runs = NULL;
        if (!m || strcmp(m->role, "assistant") || store_msg_runs_get(s->p.auth->st, w->user.id, m->id, &runs, &e) || !runs) continue;
        cJSON *rj = cJSON_Parse(runs);
        free(runs);
        if (rj) cJSON_AddItemToObject(mj, "tool_runs", rj);
    }
    store_msgs_free(&t);
    store_reasoning_attach(s->p.auth->st, w->user.id, id, cJSON_GetObjectItemCaseSensitive(o, "messages"));
    /* a custom assistant's answer carries the sources it used, passages too (api/msg_citations.h) */
    api_citations_attach(s->p.auth->st, w->user.id, id, cJSON_GetObjectItemCaseSensitive(o, "messages"), 1);
    /* a custom assistant's conversation names the version it used (src/assistants) */
    char aid[STORE_ID_MAX];
    int aver = 0;
    if (v.assistant_id[0] && !asst_conv_get(s->p.auth->st, id, aid, &aver, &e) && aver > 0)
        cJSON_AddNumberToObject(o, "assistant_version", aver);
    return reply_obj(c, 200, o);
}

static int patch_conv(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *id, const char *body,
                      size_t len) {
    int status = 0, bad = 0;
    cJSON *j = api_json_object(c, body, len, &status);
    if (!j) return status;
    struct store_conv v;
    memset(&v, 0, sizeof v);
    unsigned fields = 0;
    int set = 0;
    if (copy_field(c, j, "title", v.title, sizeof v.title, &set, &bad)) goto bad;
    if (set) fields |= STORE_CONV_TITLE;
    set = 0;
    if (copy_field(c, j, "model", v.model, sizeof v.model, &set, &bad)) goto bad;
    if (set) fields |= STORE_CONV_MODEL;
    set = 0;
    char leaf[STORE_ID_MAX] = "";
    int set_leaf = 0;
    if (copy_field(c, j, "current_leaf", leaf, sizeof leaf, &set_leaf, &bad)) goto bad;
    const cJSON *ar = cJSON_GetObjectItemCaseSensitive(j, "archived"), *pin = cJSON_GetObjectItemCaseSensitive(j, "pinned");
    if ((ar && !cJSON_IsBool(ar)) || (pin && !cJSON_IsBool(pin))) {
        api_reply_error(c, 400, ar && !cJSON_IsBool(ar) ? "archived" : "pinned", "invalid_type", "must be true or false");
        goto bad;
    }
    if (ar) { v.archived = cJSON_IsTrue(ar); fields |= STORE_CONV_ARCHIVED; }
    if (pin) { v.pinned = cJSON_IsTrue(pin); fields |= STORE_CONV_PINNED; }
    cJSON_Delete(j);
    struct err e = {{0}};
    struct store *st = s->p.auth->st;
    struct store_conv old;
    int rc = store_conv_get(st, w->user.id, id, &old, &e);
    if (rc) return api_reply_store(c, rc, &e, "conversation");
    if (fields && (rc = store_conv_update(st, w->user.id, id, &v, fields, &e))) return api_reply_store(c, rc, &e, "conversation");
    if (set_leaf && (rc = store_conv_set_leaf(st, w->user.id, id, leaf, &e))) return api_reply_store(c, rc, &e, "message");
    return get_conv(s, c, w, id);
bad:
    cJSON_Delete(j);
    return 400;
}

static int add_message(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *id,
                       const char *body, size_t len) {
    int status = 0, bad = 0;
    cJSON *j = api_json_object(c, body, len, &status);
    if (!j) return status;
    struct store_msg m;
    memset(&m, 0, sizeof m);
    const char *role = api_json_str(c, j, "role", &bad);
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(j, "content");
    const cJSON *parent = cJSON_GetObjectItemCaseSensitive(j, "parent_id");
    const cJSON *reasoning = cJSON_GetObjectItemCaseSensitive(j, "reasoning");
    if (bad) { cJSON_Delete(j); return 400; }
    if (!role || (strcmp(role, "user") && strcmp(role, "assistant") && strcmp(role, "system") && strcmp(role, "tool"))) {
        cJSON_Delete(j);
        return api_reply_error(c, 400, "role", "invalid_value", "'role' must be user, assistant, system or tool");
    }
    if (reasoning && !cJSON_IsNull(reasoning) && !cJSON_IsString(reasoning)) {
        cJSON_Delete(j);
        return api_reply_error(c, 400, "reasoning", "invalid_type", "'reasoning' must be a string (the answer's thoughts)");
    }
    if (cJSON_IsString(reasoning) && reasoning->valuestring[0] && strcmp(role, "assistant")) {
        cJSON_Delete(j);
        return api_reply_error(c, 400, "reasoning", "invalid_value", "only an assistant message has 'reasoning'");
    }
    const cJSON *cites = cJSON_GetObjectItemCaseSensitive(j, "citations");
    char why[256];
    if (api_citations_check(cites, why, sizeof why)) {
        cJSON_Delete(j);
        return api_reply_error(c, 400, "citations", "invalid_value", "%s", why);
    }
    int with_cites = cJSON_GetArraySize(cites) > 0;
    if (with_cites && strcmp(role, "assistant")) {
        cJSON_Delete(j);
        return api_reply_error(c, 400, "citations", "invalid_value", "only an assistant message has 'citations'");
    }
    if (!cJSON_IsString(content) && !cJSON_IsArray(content)) {
        cJSON_Delete(j);
        return api_reply_error(c, 400, "content", "invalid_value", "'content' must be a string or an array of content parts");
    }
    if (parent && !cJSON_IsNull(parent) && !cJSON_IsString(parent)) {
        cJSON_Delete(j);
        return api_reply_error(c, 400, "parent_id", "invalid_type", "'parent_id' must be a message id or null");
    }
    struct err e = {{0}};
    struct store *st = s->p.auth->st;
    struct store_conv v;
    int rc = store_conv_get(st, w->user.id, id, &v, &e);
    if (rc) { cJSON_Delete(j); return api_reply_store(c, rc, &e, "conversation"); }
    snprintf(m.conv_id, sizeof m.conv_id, "%s", id);
    snprintf(m.role, sizeof m.role, "%s", role);
    /* absent parent_id: after the message shown last; null: a new root */
    const char *par = !parent ? v.current_leaf : cJSON_IsString(parent) ? parent->valuestring : "";
    if (strlen(par) >= sizeof m.parent_id) { cJSON_Delete(j); return api_reply_error(c, 404, "parent_id", "not_found", "no such message"); }
    snprintf(m.parent_id, sizeof m.parent_id, "%s", par);
    m.content = cJSON_IsString(content) ? content->valuestring : cJSON_PrintUnformatted(content);
    if (!m.content) { cJSON_Delete(j); return api_reply_error(c, 500, NULL, NULL, "out of memory"); }
    const char *model = api_json_str(c, j, "model", &bad);
    if (bad) { if (!cJSON_IsString(content)) free(m.content); cJSON_Delete(j); return 400; }
    snprintf(m.model, sizeof m.model, "%s", model ? model : "");
    char mid[STORE_ID_MAX];
    rc = store_msg_add(st, w->user.id, &m, 0, mid, &e);
    if (!cJSON_IsString(content)) free(m.content);
    if (rc) { cJSON_Delete(j); return api_reply_store(c, rc, &e, rc == STORE_NOTFOUND ? "parent message" : "message"); }
    const char *thoughts = cJSON_IsString(reasoning) ? reasoning->valuestring : "";
    int with_thoughts = thoughts[0] != 0;   /* thoughts is j's: gone after cJSON_Delete */
    rc = with_thoughts ? store_msg_reasoning_put(st, w->user.id, mid, thoughts, &e) : 0;
    if (!rc && with_cites) rc = api_citations_put(st, w->user.id, mid, cites, &e);
    cJSON_Delete(j);
    if (rc) return api_reply_store(c, rc, &e, "message");
    struct store_msg got;
    memset(&got, 0, sizeof got);
    rc = store_msg_get(st, w->user.id, mid, &got, &e);
    if (rc) return api_reply_store(c, rc, &e, "message");
    cJSON *o = msg_json(&got);
    store_msg_free(&got);
    if (with_thoughts) store_reasoning_attach(st, w->user.id, id, o);
    if (with_cites) api_citations_attach(st, w->user.id, id, o, 1);
    return reply_obj(c, 201, o);
}

int route_conversations(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *m,
                        const char *rest, const char *body, size_t len);
int route_conversations(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *m,
                        const char *rest, const char *body, size_t len) {
    if (!*rest || !strcmp(rest, "/")) {
        if (!strcmp(m, "GET")) return list_or_search(s, c, w);
        if (!strcmp(m, "POST")) return create_conv(s, c, w, body, len);
        return api_reply_error(c, 405, NULL, "method_not_allowed", "use GET or POST on /api/conversations");
    }
    char id[STORE_ID_MAX];
    const char *p = rest + 1, *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    if (!n || n >= sizeof id) return api_reply_error(c, 404, NULL, "not_found", "no such conversation");
    memcpy(id, p, n);
    id[n] = 0;
    if (!slash) {
        if (!strcmp(m, "GET")) return get_conv(s, c, w, id);
        if (!strcmp(m, "PATCH")) return patch_conv(s, c, w, id, body, len);
        if (!strcmp(m, "DELETE")) {
            struct err e = {{0}};
            /* its documents first: their vector store and files (api/conv_docs.h) */
            int rc = api_conv_docs_delete(s, w->user.id, id, &e) ? STORE_ERR : 0;
            if (!rc) rc = store_conv_delete(s->p.auth->st, w->user.id, id, &e);
            if (rc) return api_reply_store(c, rc, &e, "conversation");
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "id", id);
            cJSON_AddBoolToObject(o, "deleted", 1);
            return reply_obj(c, 200, o);
        }
        return api_reply_error(c, 405, NULL, "method_not_allowed", "use GET, PATCH or DELETE");
    }
    if (!strncmp(slash, "/files", 6) && (!slash[6] || slash[6] == '/'))
        return route_conv_files(s, c, w, m, id, slash + 6, body, len);
    if (!strcmp(slash, "/messages")) {
        if (!strcmp(m, "POST")) return add_message(s, c, w, id, body, len);
        if (!strcmp(m, "GET")) return get_conv(s, c, w, id);
        return api_reply_error(c, 405, NULL, "method_not_allowed", "use GET or POST");
    }
    return api_reply_error(c, 404, NULL, "unknown_url", "unknown route %s /api/conversations%s", m, rest);
}
