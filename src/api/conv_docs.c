/* A conversation's documents; see conv_docs.h. */
#include "api/conv_docs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/files_index.h"
#include "api/reply.h"
#include "storage/conv_docs.h"
#include "storage/files.h"

static int reply_obj(struct mg_connection *c, int status, cJSON *o) {
    int st = api_reply_json(c, status, o);
    cJSON_Delete(o);
    return st;
}

static cJSON *item_json(const struct store_vsfile *f, const struct store_file *file) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", f->file_id);
    cJSON_AddStringToObject(o, "object", "conversation.file");
    cJSON_AddStringToObject(o, "filename", file->filename);
    cJSON_AddNumberToObject(o, "bytes", (double)file->bytes);
    cJSON_AddStringToObject(o, "status", f->status);
    api_vsfile_last_error(o, f);
    cJSON_AddStringToObject(o, "vector_store_id", f->vs_id);
    cJSON_AddNumberToObject(o, "created_at", (double)(f->created / 1000));
    return o;
}

static int list(struct mg_connection *c, struct store *st, const char *uid, const char *conv_id) {
    char vs[STORE_ID_MAX];
    struct err e = {{0}};
    cJSON *o = cJSON_CreateObject(), *data;
    cJSON_AddStringToObject(o, "object", "list");
    int rc = store_conv_vs_get(st, uid, conv_id, vs, &e);
    if (rc && rc != STORE_NOTFOUND) { cJSON_Delete(o); return api_reply_store(c, rc, &e, "conversation"); }
    if (rc) cJSON_AddNullToObject(o, "vector_store_id");
    else cJSON_AddStringToObject(o, "vector_store_id", vs);
    data = cJSON_AddArrayToObject(o, "data");
    if (rc) return reply_obj(c, 200, o);
    struct store_vsfile *f = NULL;
    size_t n = 0;
    int more = 0;
    struct store_vsfile_query q = {NULL, NULL, {NULL, NULL, 0, 100}};
    if ((rc = store_vsfile_list(st, uid, vs, &q, &f, &n, &more, &e))) {
        cJSON_Delete(o);
        return api_reply_store(c, rc, &e, "vector store");
    }
    for (size_t i = 0; i < n; i++) {
        struct store_file file;
        if (store_file_get(st, uid, f[i].file_id, &file, &e)) continue;
        cJSON_AddItemToArray(data, item_json(&f[i], &file));
    }
    free(f);
    return reply_obj(c, 200, o);
}

/* The conversation's store, made now when it has none. */
static int store_of(struct store *st, const char *uid, const char *conv_id, char *vs, struct err *e) {
    int rc = store_conv_vs_get(st, uid, conv_id, vs, e);
    if (rc != STORE_NOTFOUND) return rc;
    struct store_vs *v = calloc(1, sizeof *v);
    if (!v) return (err_set(e, "out of memory"), STORE_ERR);
    snprintf(v->user_id, sizeof v->user_id, "%s", uid);
    snprintf(v->name, sizeof v->name, "conversation %s", conv_id);
    cJSON *md = cJSON_CreateObject();
    cJSON_AddStringToObject(md, "conversation_id", conv_id);
    char *mt = cJSON_PrintUnformatted(md);
    cJSON_Delete(md);
    snprintf(v->metadata, sizeof v->metadata, "%s", mt ? mt : "{}");
    free(mt);
    rc = store_vs_create(st, v, v, e);
    if (!rc) {
        snprintf(vs, STORE_ID_MAX, "%s", v->id);
        rc = store_conv_vs_set(st, uid, conv_id, vs, e);
        /* another first attachment won: its store is the conversation's, this one goes */
        if (!rc && strcmp(vs, v->id)) store_vs_delete(st, uid, v->id, e);
        if (rc) store_vs_delete(st, uid, v->id, e);
    }
    free(v);
    return rc;
}

static int attach(struct api_server *s, struct mg_connection *c, struct store *st, const char *uid, const char *conv_id,
                  const char *body, size_t len) {
    int status = 0;
    cJSON *j = api_json_object(c, body, len, &status);
    if (!j) return status;
    const cJSON *fid = cJSON_GetObjectItemCaseSensitive(j, "file_id");
    if (!cJSON_IsString(fid) || !fid->valuestring[0] || strlen(fid->valuestring) >= STORE_ID_MAX) {
        cJSON_Delete(j);
        return api_reply_error(c, 400, "file_id", "invalid_value", "'file_id' must be the id of a file from POST /v1/files");
    }
    struct store_file file;
    struct err e = {{0}};
    int rc = store_file_get(st, uid, fid->valuestring, &file, &e);
    if (rc == STORE_NOTFOUND) {
        status = api_reply_error(c, 404, "file_id", "not_found", "no such file '%.60s'", fid->valuestring);
        cJSON_Delete(j);
        return status;
    }
    struct store_vsfile *f = calloc(1, sizeof *f);
    char vs[STORE_ID_MAX];
    if (!rc && !f) rc = (err_set(&e, "out of memory"), STORE_ERR);
    if (!rc) rc = store_of(st, uid, conv_id, vs, &e);
    if (!rc) {
        snprintf(f->vs_id, sizeof f->vs_id, "%s", vs);
        snprintf(f->file_id, sizeof f->file_id, "%s", file.id);
        snprintf(f->user_id, sizeof f->user_id, "%s", uid);
        snprintf(f->attributes, sizeof f->attributes, "{}");
        snprintf(f->chunking, sizeof f->chunking, "{\"type\":\"auto\"}");
        rc = store_vsfile_add(st, f, &e);
    }
    if (!rc) {
        if (api_indexer_enqueue(s->indexer, uid, vs, file.id))
            store_vsfile_finish(st, vs, file.id, "failed", "server_error", "the indexer is not running", &e);
        rc = store_vsfile_get(st, uid, vs, file.id, f, &e);
    }
    status = rc ? api_reply_store(c, rc, &e, "conversation or file") : reply_obj(c, 201, item_json(f, &file));
    free(f);
    cJSON_Delete(j);
    return status;
}

static int detach(struct mg_connection *c, struct store *st, const char *uid, const char *conv_id, const char *file_id) {
    char vs[STORE_ID_MAX];
    struct err e = {{0}};
    struct store_vsfile *f = calloc(1, sizeof *f);
    if (!f) return api_reply_error(c, 500, NULL, NULL, "out of memory");
    int rc = store_conv_vs_get(st, uid, conv_id, vs, &e);
    if (!rc) rc = store_vsfile_get(st, uid, vs, file_id, f, &e);
    free(f);
    if (rc == STORE_NOTFOUND)
        return api_reply_error(c, 404, NULL, "not_found", "no file '%.60s' in this conversation", file_id);
    if (!rc) rc = store_file_delete(st, uid, file_id, &e);
    if (rc) return api_reply_store(c, rc, &e, "file");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", file_id);
    cJSON_AddStringToObject(o, "object", "conversation.file");
    cJSON_AddBoolToObject(o, "deleted", 1);
    return reply_obj(c, 200, o);
}

int route_conv_files(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *m, const char *conv_id,
                     const char *rest, const char *body, size_t len) {
    struct store *st = s->p.auth->st;
    struct err e = {{0}};
    struct store_conv v;
    int rc = store_conv_get(st, w->user.id, conv_id, &v, &e);
    if (rc) return api_reply_store(c, rc, &e, "conversation");
    if (!*rest || !strcmp(rest, "/")) {
        if (!strcmp(m, "GET")) return list(c, st, w->user.id, conv_id);
        if (!strcmp(m, "POST")) return attach(s, c, st, w->user.id, conv_id, body, len);
        return api_reply_error(c, 405, NULL, "method_not_allowed", "use GET or POST on a conversation's files");
    }
    const char *fid = rest + 1;
    if (!*fid || strchr(fid, '/') || strlen(fid) >= STORE_ID_MAX)
        return api_reply_error(c, 404, NULL, "not_found", "no such file in this conversation");
    if (!strcmp(m, "DELETE")) return detach(c, st, w->user.id, conv_id, fid);
    return api_reply_error(c, 405, NULL, "method_not_allowed", "use DELETE on a conversation's file");
}

int api_conv_docs_delete(struct api_server *s, const char *user_id, const char *conv_id, struct err *e) {
    struct store *st = s->p.auth->st;
    char vs[STORE_ID_MAX];
    int rc = store_conv_vs_get(st, user_id, conv_id, vs, e);
    if (rc == STORE_NOTFOUND) return 0;
    if (rc) return -1;
    for (;;) {   /* every file in it, a page at a time */
        struct store_vsfile *f = NULL;
        size_t n = 0;
        int more = 0;
        struct store_vsfile_query q = {NULL, NULL, {NULL, NULL, 0, 100}};
        if (store_vsfile_list(st, user_id, vs, &q, &f, &n, &more, e)) return -1;
        for (size_t i = 0; i < n; i++)
            if (store_file_delete(st, user_id, f[i].file_id, e) && store_vsfile_delete(st, user_id, vs, f[i].file_id, e)) {
                free(f);
                return -1;
            }
        free(f);
        if (!n) break;
    }
    rc = store_vs_delete(st, user_id, vs, e);
    return rc && rc != STORE_NOTFOUND ? -1 : 0;
}
