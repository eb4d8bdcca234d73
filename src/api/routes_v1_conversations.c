/* OpenAI's Conversations API under /v1/conversations (the app's own conversations are
 * /api/conversations, routes_conversations.c): a conversation is metadata and an ordered
 * list of items (messages, function calls and their outputs) that POST /v1/responses with
 * `conversation` reads as context and appends its input and output to.
 *
 *   POST   /v1/conversations                      {items?, metadata?}  → conversation
 *   GET    /v1/conversations/{id}                                      → conversation
 *   POST   /v1/conversations/{id}                 {metadata}           → conversation
 *   DELETE /v1/conversations/{id}                                      → conversation.deleted
 *   GET    /v1/conversations/{id}/items           ?limit&order&after   → list (newest first)
 *   POST   /v1/conversations/{id}/items           {items}              → list of those added
 *   GET    /v1/conversations/{id}/items/{item}                         → item
 *   DELETE /v1/conversations/{id}/items/{item}                         → conversation
 *
 * Everything is the caller's (another user's id is a 404, like a missing one), stored in
 * storage/responses.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/reply.h"
#include "api/responses.h"
#include "api/routes.h"
#include "api/who.h"
#include "storage/responses.h"

#define MAX_NEW_ITEMS 20      /* per request, as OpenAI */
#define MAX_META_KEYS 16
#define MAX_META_KEY 64
#define MAX_META_VALUE 512

static cJSON *conv_json(const struct store_aconv *v) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", v->id);
    cJSON_AddStringToObject(o, "object", "conversation");
    cJSON_AddNumberToObject(o, "created_at", (double)(v->created / 1000));
    cJSON *md = cJSON_Parse(v->metadata ? v->metadata : "{}");
    cJSON_AddItemToObject(o, "metadata", md ? md : cJSON_CreateObject());
    return o;
}

static int reply_taken(struct mg_connection *c, cJSON *o) {
    if (!o) return api_reply_error(c, 503, NULL, NULL, "out of memory");
    api_reply_json(c, 200, o);
    cJSON_Delete(o);
    return 200;
}

static int reply_conv(struct mg_connection *c, struct store *st, const char *user_id, const char *id) {
    struct store_aconv v;
    struct err e = {{0}};
    int rc = store_aconv_get(st, user_id, id, &v, &e);
    if (rc == STORE_NOTFOUND)
        return api_reply_error(c, 404, NULL, "conversation_not_found", "no such conversation '%s'", id);
    if (rc) return api_reply_store(c, rc, &e, "conversation");
    int status = reply_taken(c, conv_json(&v));
    store_aconv_free(&v);
    return status;
}

/* metadata: an object of at most 16 string values (keys <= 64, values <= 512 bytes). NULL
 * (a 400 written) when bad; *text gets the JSON (malloc'd). */
static int metadata_text(struct mg_connection *c, const cJSON *md, char **text) {
    *text = NULL;
    if (!cJSON_IsObject(md))
        return api_reply_error(c, 400, "metadata", "invalid_type", "'metadata' must be an object of strings");
    int n = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, md) {
        if (++n > MAX_META_KEYS)
            return api_reply_error(c, 400, "metadata", "invalid_value", "'metadata' has more than %d keys", MAX_META_KEYS);
        if (strlen(x->string) > MAX_META_KEY || !cJSON_IsString(x) || strlen(x->valuestring) > MAX_META_VALUE)
            return api_reply_error(c, 400, "metadata", "invalid_value",
                                   "'metadata' values must be strings of at most %d bytes, keys at most %d",
                                   MAX_META_VALUE, MAX_META_KEY);
    }
    if (!(*text = cJSON_PrintUnformatted(md))) return api_reply_error(c, 503, NULL, NULL, "out of memory");
    return 0;
}

/* body.items → stored items (ids given or made), malloc'd into out and n; 0 or the status written. */
static int read_items(struct mg_connection *c, const cJSON *items, int required, cJSON **norm, struct store_item **out,
                      size_t *n) {
    *norm = NULL;
    *out = NULL;
    *n = 0;
    if (!items && !required) return 0;
    if (!cJSON_IsArray(items) || (required && cJSON_GetArraySize(items) == 0))
        return api_reply_error(c, 400, "items", "invalid_value", "'items' must be %sarray of items",
                               required ? "a non-empty " : "an ");
    if (cJSON_GetArraySize(items) > MAX_NEW_ITEMS)
        return api_reply_error(c, 400, "items", "invalid_value", "at most %d items can be added at once", MAX_NEW_ITEMS);
    char bp[64], bm[300];
    if (api_resp_items_check(items, "items", bp, sizeof bp, bm, sizeof bm))
        return api_reply_error(c, 400, bp, "invalid_value", "%s", bm);
    int k = cJSON_GetArraySize(items);
    if (!k) return 0;
    cJSON *nm = api_resp_items_normalize(items);
    struct store_item *si = calloc((size_t)k, sizeof *si);
    if (!nm || !si) {
        cJSON_Delete(nm);
        free(si);
        return api_reply_error(c, 503, NULL, NULL, "out of memory");
    }
    for (int i = 0; i < k; i++) {
        const cJSON *it = cJSON_GetArrayItem(nm, i);
        snprintf(si[i].id, sizeof si[i].id, "%s", cJSON_GetObjectItemCaseSensitive(it, "id")->valuestring);
        if (!(si[i].item = cJSON_PrintUnformatted(it))) {
            for (int j = 0; j < i; j++) free(si[j].item);
            free(si);
            cJSON_Delete(nm);
            return api_reply_error(c, 503, NULL, NULL, "out of memory");
        }
    }
    *norm = nm;
    *out = si;
    *n = (size_t)k;
    return 0;
}

static void free_items(struct store_item *si, size_t n) {
    for (size_t i = 0; i < n; i++) free(si[i].item);
    free(si);
}

static int create(struct mg_connection *c, struct store *st, const char *user_id, const char *body, size_t len) {
    int status = 0;
    cJSON *j = api_json_object(c, body, len, &status);
    if (!j) return status;
    char *md = NULL;
    const cJSON *mdf = cJSON_GetObjectItemCaseSensitive(j, "metadata");
    cJSON *norm = NULL;
    struct store_item *si = NULL;
    size_t n = 0;
    if (mdf && !cJSON_IsNull(mdf) && (status = metadata_text(c, mdf, &md))) goto out;
    if ((status = read_items(c, cJSON_GetObjectItemCaseSensitive(j, "items"), 0, &norm, &si, &n))) goto out;
    struct store_aconv in, v;
    memset(&in, 0, sizeof in);
    snprintf(in.user_id, sizeof in.user_id, "%s", user_id);
    in.metadata = md;
    struct err e = {{0}};
    int rc = store_aconv_create(st, &in, si, n, &v, &e);
    if (rc) status = api_reply_store(c, rc, &e, "conversation");
    else {
        status = reply_taken(c, conv_json(&v));
        store_aconv_free(&v);
    }
out:
    free(md);
    free_items(si, n);
    cJSON_Delete(norm);
    cJSON_Delete(j);
    return status;
}

static int update(struct mg_connection *c, struct store *st, const char *user_id, const char *id, const char *body,
                  size_t len) {
    int status = 0;
    cJSON *j = api_json_object(c, body, len, &status);
    if (!j) return status;
    char *md = NULL;
    const cJSON *mdf = cJSON_GetObjectItemCaseSensitive(j, "metadata");
    if (!mdf) status = api_reply_error(c, 400, "metadata", "invalid_value", "'metadata' is required");
    else if (!(status = metadata_text(c, mdf, &md))) {
        struct err e = {{0}};
        int rc = store_aconv_set_metadata(st, user_id, id, md, &e);
        status = rc == STORE_NOTFOUND ? api_reply_error(c, 404, NULL, "conversation_not_found", "no such conversation '%s'", id)
                 : rc                 ? api_reply_store(c, rc, &e, "conversation")
                                      : reply_conv(c, st, user_id, id);
    }
    free(md);
    cJSON_Delete(j);
    return status;
}

static int list_items(struct mg_connection *c, struct store *st, const char *user_id, const char *id) {
    int limit, desc, status;
    char after[STORE_ID_MAX + 8];
    if ((status = api_resp_page_args(c, &limit, &desc, after, sizeof after))) return status;
    struct store_item_query q = {after, limit, desc};
    struct store_items l;
    struct err e = {{0}};
    int rc = store_item_list(st, user_id, id, &q, &l, &e);
    if (rc == STORE_NOTFOUND)
        return api_reply_error(c, 404, NULL, "conversation_not_found", "no such conversation '%s'", id);
    if (rc) return api_reply_store(c, rc, &e, "conversation");
    cJSON *data = cJSON_CreateArray();
    for (size_t i = 0; i < l.n; i++) {
        cJSON *it = cJSON_Parse(l.items[i].item);
        if (it) cJSON_AddItemToArray(data, it);
    }
    status = reply_taken(c, api_resp_list(data, l.has_more));
    store_items_free(&l);
    return status;
}

static int add_items(struct mg_connection *c, struct store *st, const char *user_id, const char *id, const char *body,
                     size_t len) {
    int status = 0;
    cJSON *j = api_json_object(c, body, len, &status);
    if (!j) return status;
    cJSON *norm = NULL;
    struct store_item *si = NULL;
    size_t n = 0;
    if (!(status = read_items(c, cJSON_GetObjectItemCaseSensitive(j, "items"), 1, &norm, &si, &n))) {
        struct err e = {{0}};
        int rc = store_item_add(st, user_id, id, si, n, &e);
        if (rc == STORE_NOTFOUND)
            status = api_reply_error(c, 404, NULL, "conversation_not_found", "no such conversation '%s'", id);
        else if (rc) status = api_reply_store(c, rc, &e, "item");
        else {
            status = reply_taken(c, api_resp_list(norm, 0));
            norm = NULL;
        }
    }
    free_items(si, n);
    cJSON_Delete(norm);
    cJSON_Delete(j);
    return status;
}

int route_v1_conversations(struct api_server *s, struct mg_connection *c, const char *method, const char *path,
                           const char *body, size_t len) {
    int status = 0;
    const char *user_id;
    int get = !strcmp(method, "GET"), post = !strcmp(method, "POST"), del = !strcmp(method, "DELETE");
    /* the path: "", "/{id}", "/{id}/items" or "/{id}/items/{item}" */
    const char *rest = path + strlen("/v1/conversations");
    char id[STORE_ID_MAX], item[STORE_ID_MAX];
    id[0] = item[0] = 0;
    int kind = 0;   /* 0 collection, 1 one, 2 items, 3 one item */
    if (*rest) {
        rest++;
        size_t n = strcspn(rest, "/");
        if (!n || n >= sizeof id) return api_reply_error(c, 404, NULL, "conversation_not_found", "no such conversation");
        memcpy(id, rest, n);
        id[n] = 0;
        rest += n;
        kind = 1;
        if (!strcmp(rest, "/items")) kind = 2;
        else if (!strncmp(rest, "/items/", 7) && rest[7] && !strchr(rest + 7, '/') && strlen(rest + 7) < sizeof item) {
            snprintf(item, sizeof item, "%s", rest + 7);
            kind = 3;
        } else if (*rest) return api_reply_error(c, 404, NULL, "unknown_url", "unknown path %s", path);
    }
    static const char *const allowed[] = {"POST", "GET, POST or DELETE", "GET or POST", "GET or DELETE"};
    if ((kind == 0 && !post) || (kind == 1 && !get && !post && !del) || (kind == 2 && !get && !post) ||
        (kind == 3 && !get && !del))
        return api_reply_error(c, 405, NULL, "method_not_allowed", "%s %s: use %s", method, path, allowed[kind]);
    struct store *st = api_resp_user(s, c, &user_id, &status);
    if (!st) return status;
    struct err e = {{0}};
    if (kind == 0) return create(c, st, user_id, body, len);
    if (kind == 1 && get) return reply_conv(c, st, user_id, id);
    if (kind == 1 && post) return update(c, st, user_id, id, body, len);
    if (kind == 1) {
        int rc = store_aconv_delete(st, user_id, id, &e);
        if (rc == STORE_NOTFOUND)
            return api_reply_error(c, 404, NULL, "conversation_not_found", "no such conversation '%s'", id);
        if (rc) return api_reply_store(c, rc, &e, "conversation");
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", id);
        cJSON_AddStringToObject(o, "object", "conversation.deleted");
        cJSON_AddBoolToObject(o, "deleted", 1);
        return reply_taken(c, o);
    }
    if (kind == 2) return get ? list_items(c, st, user_id, id) : add_items(c, st, user_id, id, body, len);
    if (get) {
        struct store_item it;
        int rc = store_item_get(st, user_id, id, item, &it, &e);
        if (rc == STORE_NOTFOUND) return api_reply_error(c, 404, NULL, "item_not_found", "no such item '%s'", item);
        if (rc) return api_reply_store(c, rc, &e, "item");
        cJSON *o = cJSON_Parse(it.item);
        store_item_free(&it);
        return o ? reply_taken(c, o) : api_reply_error(c, 500, NULL, "storage_error", "the stored item could not be read");
    }
    int rc = store_item_delete(st, user_id, id, item, &e);
    if (rc == STORE_NOTFOUND) return api_reply_error(c, 404, NULL, "item_not_found", "no such item '%s'", item);
    if (rc) return api_reply_store(c, rc, &e, "item");
    return reply_conv(c, st, user_id, id);
}
