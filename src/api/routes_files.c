/* OpenAI's Files API: POST /v1/files (multipart: file, purpose), GET /v1/files (purpose,
 * limit, order, after), GET/DELETE /v1/files/{id}, GET /v1/files/{id}/content, and omni's
 * GET /v1/files/{id}/text (a document's extracted text, for a chat message). Files are
 * the user's (another user's id is a 404, as a missing one), stored in the database
 * (storage/files.h) and deleted with the account. A file meant for search (purpose
 * assistants or user_data, of a type knowledge reads) is extracted once on upload, so a
 * corrupt, hostile or textless file is refused here with the extractor's message instead
 * of failing later in a vector store. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/big_stack.h"
#include "api/files_index.h"
#include "api/reply.h"
#include "api/routes.h"
#include "api/who.h"
#include "knowledge/doc.h"
#include "storage/files.h"

#define FILES_MAX_DEFAULT ((size_t)32 << 20)

size_t api_files_max(const struct api_server *s) { return s->p.max_file ? s->p.max_file : FILES_MAX_DEFAULT; }

int api_files_user(struct api_server *s, struct mg_connection *c, struct store **st, const char **user_id) {
    struct api_who *w = api_who();
    if (!s->p.auth || !s->p.auth->st)
        return api_reply_error(c, 404, NULL, "unknown_url",
                               "files and vector stores need the server's database (omni serve without --no-accounts)");
    if (!api_who_has_user(w))
        return api_reply_error(c, 401, NULL, "invalid_api_key",
                               "files belong to a user: use a user's key (sk-omni-…) or log in; a server-wide key has "
                               "no account");
    *st = s->p.auth->st;
    *user_id = w->user.id;
    return 0;
}

cJSON *api_file_json(const struct store_file *f) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", f->id);
    cJSON_AddStringToObject(o, "object", "file");
    cJSON_AddNumberToObject(o, "bytes", (double)f->bytes);
    cJSON_AddNumberToObject(o, "created_at", (double)(f->created / 1000));
    cJSON_AddNullToObject(o, "expires_at");
    cJSON_AddStringToObject(o, "filename", f->filename);
    cJSON_AddStringToObject(o, "purpose", f->purpose);
    cJSON_AddStringToObject(o, "status", "processed");
    cJSON_AddNullToObject(o, "status_details");
    return o;
}

static int valid_purpose(const char *p) {
    static const char *const ok[] = {"assistants", "batch", "fine-tune", "vision", "user_data", "evals", NULL};
    for (int i = 0; ok[i]; i++)
        if (!strcmp(p, ok[i])) return 1;
    return 0;
}

/* ---- the upload ---- */

struct upload {
    size_t max;
    int cur;                  /* 0 file, 1 purpose, -1 skipped */
    char *data;
    size_t n, cap;
    char filename[STORE_NAME_MAX];
    char purpose[STORE_PURPOSE_MAX];
    size_t purpose_n;
    int have_file, too_big, oom, name_too_long;
};

static int up_found(const char *key, const char *filename, char *path, size_t pathlen, void *ud) {
    struct upload *u = ud;
    u->cur = -1;
    if (!strcmp(key, "file")) {
        u->cur = 0;
        u->have_file = 1;
        u->n = 0;
        if (strlen(filename ? filename : "") >= sizeof u->filename) u->name_too_long = 1;
        snprintf(u->filename, sizeof u->filename, "%s", filename ? filename : "");
    } else if (!strcmp(key, "purpose")) {
        u->cur = 1;
        u->purpose_n = 0;
        u->purpose[0] = 0;
    }
    return u->cur < 0 ? MG_FORM_FIELD_STORAGE_SKIP : MG_FORM_FIELD_STORAGE_GET;
}

static int up_get(const char *key, const char *value, size_t len, void *ud) {
    struct upload *u = ud;
    if (u->cur == 1) {
        size_t k = len < sizeof u->purpose - 1 - u->purpose_n ? len : sizeof u->purpose - 1 - u->purpose_n;
        memcpy(u->purpose + u->purpose_n, value, k);
        u->purpose_n += k;
        u->purpose[u->purpose_n] = 0;
        return MG_FORM_FIELD_HANDLE_GET;
    }
    if (u->cur != 0) return MG_FORM_FIELD_HANDLE_GET;
    if (u->n + len > u->max) { u->too_big = 1; return MG_FORM_FIELD_HANDLE_ABORT; }
    if (u->n + len + 1 > u->cap) {
        size_t nc = u->cap ? u->cap : 65536;
        while (nc < u->n + len + 1) nc *= 2;
        char *g = realloc(u->data, nc);
        if (!g) { u->oom = 1; return MG_FORM_FIELD_HANDLE_ABORT; }
        u->data = g;
        u->cap = nc;
    }
    memcpy(u->data + u->n, value, len);
    u->n += len;
    u->data[u->n] = 0;
    return MG_FORM_FIELD_HANDLE_GET;
}

static int up_store(const char *path, long long size, void *ud) { return MG_FORM_FIELD_HANDLE_NEXT; }

static int refuse_upload(struct mg_connection *c, int status, const char *param, const char *code, const char *msg) {
    api_reply_then_close(c);
    api_reply_error(c, status, param, code, "%s", msg);
    api_drain_body(c);
    return status;
}

static int upload(struct api_server *s, struct mg_connection *c, struct store *st, const char *user_id) {
    const struct mg_request_info *ri = mg_get_request_info(c);
    size_t max = api_files_max(s);
    char msg[512];
    if (ri->content_length > (long long)max + 65536) {
        snprintf(msg, sizeof msg, "the file is larger than this server's limit of %zu bytes (omni serve --max-file-size)",
                 max);
        return refuse_upload(c, 413, "file", "file_too_large", msg);
    }
    const char *ctype = mg_get_header(c, "Content-Type");
    if (!ctype || strncasecmp(ctype, "multipart/form-data", 19))
        return refuse_upload(c, 400, NULL, "invalid_content_type",
                             "POST /v1/files takes a multipart/form-data upload with fields 'file' and 'purpose'");
    struct upload u = {.max = max, .cur = -1};
    struct mg_form_data_handler h = {up_found, up_get, up_store, &u};
    int nf = mg_handle_form_request(c, &h);
    int status;
    if (u.too_big) {
        snprintf(msg, sizeof msg, "the file is larger than this server's limit of %zu bytes (omni serve --max-file-size)",
                 max);
        status = refuse_upload(c, 413, "file", "file_too_large", msg);
    } else if (u.oom) status = refuse_upload(c, 500, NULL, NULL, "out of memory");
    else if (nf < 0 && !u.have_file)
        status = api_reply_error(c, 400, NULL, "invalid_request", "the multipart body could not be read");
    else if (!u.have_file) status = api_reply_error(c, 400, "file", "missing_required_parameter", "'file' is required");
    else if (!u.purpose[0])
        status = api_reply_error(c, 400, "purpose", "missing_required_parameter", "'purpose' is required");
    else if (!valid_purpose(u.purpose))
        status = api_reply_error(c, 400, "purpose", "invalid_value",
                                 "'purpose' must be one of assistants, batch, fine-tune, vision, user_data, evals");
    else if (!u.filename[0] || u.name_too_long || strchr(u.filename, '/') || strchr(u.filename, '\\'))
        status = api_reply_error(c, 400, "file", "invalid_value",
                                 "the file needs a name (without folders, under 256 bytes) in its multipart header");
    else if (u.n == 0) status = api_reply_error(c, 400, "file", "invalid_file", "the file is empty");
    else {
        status = 0;
        if (!strcmp(u.purpose, "assistants") || !strcmp(u.purpose, "user_data")) {
            int fmt = api_file_format(u.filename, u.data, u.n);
            if (fmt >= 0) {
                struct kb_limits lim = kb_default_limits();
                struct kb_doc d = {0};
                struct err e = {{0}};
                if (kb_extract(u.data, u.n, (enum kb_format)fmt, &lim, &d, &e))
                    status = api_reply_error(c, 400, "file", "invalid_file", "%s: %s", u.filename, e.msg);
                kb_doc_free(&d);
            }
        }
        if (!status) {
            struct store_file f = {0}, out;
            snprintf(f.user_id, sizeof f.user_id, "%s", user_id);
            snprintf(f.filename, sizeof f.filename, "%s", u.filename);
            snprintf(f.purpose, sizeof f.purpose, "%s", u.purpose);
            struct err e = {{0}};
            int rc = store_file_create(st, &f, u.data, u.n, &out, &e);
            if (rc) status = api_reply_store(c, rc, &e, "user");
            else {
                cJSON *j = api_file_json(&out);
                status = api_reply_json(c, 200, j);
                cJSON_Delete(j);
            }
        }
    }
    free(u.data);
    return status;
}

/* ---- the text of a document ---- */

/* GET /v1/files/{id}/text (omni's): the text that knowledge extracts from the file (PDF,
 * DOCX, HWPX, HTML, Markdown, plain text, CSV), headings as Markdown, so that a chat can
 * put a document's text into a message. {"id", "object": "file.text", "filename",
 * "format", "pages" (PDF; else 0), "text"}; a file of another type is a 400. */
static int file_text(struct mg_connection *c, struct store *st, const char *uid, const char *fid) {
    struct store_file f;
    struct err e = {{0}};
    void *data = NULL;
    size_t n = 0;
    int rc = store_file_get(st, uid, fid, &f, &e);
    if (!rc) rc = store_file_content(st, uid, fid, &data, &n, &e);
    if (rc) return api_reply_store(c, rc, &e, "file");
    int fmt = api_file_format(f.filename, data, n);
    if (fmt < 0) {
        free(data);
        return api_reply_error(c, 400, "file_id", "unsupported_file",
                               "%s: no text can be read from this type of file (PDF, DOCX, HWPX, HTML, Markdown, text, CSV)",
                               f.filename);
    }
    struct kb_limits lim = kb_default_limits();
    struct kb_doc d = {0};
    if (kb_extract(data, n, (enum kb_format)fmt, &lim, &d, &e)) {
        free(data);
        kb_doc_free(&d);
        return api_reply_error(c, 400, "file_id", "invalid_file", "%s: %s", f.filename, e.msg);
    }
    free(data);
    size_t len = 0, cap = 0;
    char *text = NULL;
    int oom = 0;
    for (int i = 0; i < d.n && !oom; i++) {
        const struct kb_block *b = &d.b[i];
        size_t tl = strlen(b->text), need = len + tl + 16;
        if (need > cap) {
            size_t nc = cap ? cap : 4096;
            while (nc < need) nc *= 2;
            char *p = realloc(text, nc);
            if (!p) { oom = 1; break; }
            text = p;
            cap = nc;
        }
        if (len) text[len++] = '\n';
        if (len && b->kind != KB_TABLE_ROW) text[len++] = '\n';   /* table rows stay together */
        if (b->kind == KB_HEADING) {
            int lv = b->level < 1 ? 1 : b->level > 6 ? 6 : b->level;
            for (int k = 0; k < lv; k++) text[len++] = '#';
            text[len++] = ' ';
        }
        memcpy(text + len, b->text, tl);
        len += tl;
        text[len] = 0;
    }
    if (oom) {
        free(text);
        kb_doc_free(&d);
        return api_reply_error(c, 500, NULL, NULL, "out of memory");
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "id", fid);
    cJSON_AddStringToObject(j, "object", "file.text");
    cJSON_AddStringToObject(j, "filename", f.filename);
    cJSON_AddStringToObject(j, "format", kb_format_name((enum kb_format)fmt));
    cJSON_AddNumberToObject(j, "pages", d.n_pages);
    cJSON_AddStringToObject(j, "text", text ? text : "");
    free(text);
    kb_doc_free(&d);
    int status = api_reply_json(c, 200, j);
    cJSON_Delete(j);
    return status;
}

/* ---- list, retrieve, content, delete ---- */

static int list_files(struct mg_connection *c, struct store *st, const char *user_id) {
    char purpose[64] = "", after[STORE_ID_MAX] = "", order[16] = "", lim[24] = "";
    int has_purpose = api_query(c, "purpose", purpose, sizeof purpose), has_after = api_query(c, "after", after, sizeof after);
    api_query(c, "order", order, sizeof order);
    int64_t limit = 10000;
    if (api_query(c, "limit", lim, sizeof lim)) {
        char *end;
        long long v = strtoll(lim, &end, 10);
        if (*end || v < 1 || v > 10000)
            return api_reply_error(c, 400, "limit", "invalid_value", "'limit' must be an integer from 1 to 10000");
        limit = v;
    }
    if (order[0] && strcmp(order, "asc") && strcmp(order, "desc"))
        return api_reply_error(c, 400, "order", "invalid_value", "'order' must be asc or desc");
    struct store_file_query q = {has_purpose && purpose[0] ? purpose : NULL, has_after && after[0] ? after : NULL,
                                 strcmp(order, "asc") != 0, limit};
    struct store_file *fs = NULL;
    size_t n = 0;
    int more = 0;
    struct err e = {{0}};
    int rc = store_file_list(st, user_id, &q, &fs, &n, &more, &e);
    if (rc) return api_reply_store(c, rc, &e, "file");
    cJSON *j = cJSON_CreateObject(), *data;
    cJSON_AddStringToObject(j, "object", "list");
    data = cJSON_AddArrayToObject(j, "data");
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(data, api_file_json(&fs[i]));
    if (n) {
        cJSON_AddStringToObject(j, "first_id", fs[0].id);
        cJSON_AddStringToObject(j, "last_id", fs[n - 1].id);
    } else {
        cJSON_AddNullToObject(j, "first_id");
        cJSON_AddNullToObject(j, "last_id");
    }
    cJSON_AddBoolToObject(j, "has_more", more);
    free(fs);
    int status = api_reply_json(c, 200, j);
    cJSON_Delete(j);
    return status;
}

static int allow(struct mg_connection *c, const char *allowed, const char *m, const char *path) {
    char hdr[96];
    snprintf(hdr, sizeof hdr, "Allow: %s\r\n", allowed);
    return api_reply_error_headers(c, 405, NULL, "method_not_allowed", hdr, "%s is not allowed on %s; use %s", m, path,
                                   allowed);
}

static int files_route(struct api_server *s, struct mg_connection *c, const char *m, const char *path) {
    struct store *st;
    const char *uid;
    int post = !strcmp(m, "POST"), get = !strcmp(m, "GET") || !strcmp(m, "HEAD"), del = !strcmp(m, "DELETE");
    int r = api_files_user(s, c, &st, &uid);
    if (r) {
        if (post) api_drain_body(c);
        return r;
    }
    if (!strcmp(path, "/v1/files")) {
        if (post) return upload(s, c, st, uid);
        if (get) return list_files(c, st, uid);
        return allow(c, "GET, POST", m, path);
    }
    const char *id = path + 10;   /* after "/v1/files/" */
    const char *slash = strchr(id, '/');
    char fid[STORE_ID_MAX];
    size_t il = slash ? (size_t)(slash - id) : strlen(id);
    if (!il || il >= sizeof fid) return api_reply_error(c, 404, NULL, "not_found", "no such file");
    memcpy(fid, id, il);
    fid[il] = 0;
    struct err e = {{0}};
    if (slash && !strcmp(slash, "/content")) {
        if (!get) return allow(c, "GET", m, path);
        struct store_file f;
        void *data = NULL;
        size_t n = 0;
        int rc = store_file_get(st, uid, fid, &f, &e);
        if (!rc) rc = store_file_content(st, uid, fid, &data, &n, &e);
        if (rc) return api_reply_store(c, rc, &e, "file");
        char hdr[STORE_NAME_MAX + 64], safe[STORE_NAME_MAX];
        size_t k = 0;
        for (const char *p = f.filename; *p && k + 1 < sizeof safe; p++)
            safe[k++] = (*p == '"' || *p == '\r' || *p == '\n' || *p == '\\') ? '_' : *p;
        safe[k] = 0;
        snprintf(hdr, sizeof hdr, "Content-Disposition: attachment; filename=\"%s\"\r\n", safe);
        int status = api_reply(c, 200, "application/octet-stream", data, n, hdr);
        free(data);
        return status;
    }
    if (slash && !strcmp(slash, "/text")) {
        if (!get) return allow(c, "GET", m, path);
        return file_text(c, st, uid, fid);
    }
    if (slash) return api_reply_error(c, 404, NULL, "unknown_url", "unknown route %s %s", m, path);
    if (get) {
        struct store_file f;
        int rc = store_file_get(st, uid, fid, &f, &e);
        if (rc) return api_reply_store(c, rc, &e, "file");
        cJSON *j = api_file_json(&f);
        int status = api_reply_json(c, 200, j);
        cJSON_Delete(j);
        return status;
    }
    if (del) {
        int rc = store_file_delete(st, uid, fid, &e);
        if (rc) return api_reply_store(c, rc, &e, "file");
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "id", fid);
        cJSON_AddStringToObject(j, "object", "file");
        cJSON_AddBoolToObject(j, "deleted", 1);
        int status = api_reply_json(c, 200, j);
        cJSON_Delete(j);
        return status;
    }
    return allow(c, "GET, DELETE", m, path);
}

/* The handlers run on a full-size stack (api/big_stack.h): civetweb's 100 KiB is too small
 * for poppler and libxml2 under the extraction of an upload, and for the body drain. */
struct files_call {
    struct api_who *who;   /* the request's principal, thread-local in the handler's thread */
    struct api_server *s;
    struct mg_connection *c;
    const char *m, *path;
    int status;
};
static void files_call(void *arg) {
    struct files_call *k = arg;
    api_who_set(k->who);
    k->status = files_route(k->s, k->c, k->m, k->path);
}

int route_files(struct api_server *s, struct mg_connection *c, const char *m, const char *path) {
    struct files_call k = {api_who(), s, c, m, path, 0};
    if (api_run_big_stack(files_call, &k)) return api_reply_error(c, 503, NULL, NULL, "cannot start a thread; retry shortly");
    return k.status;
}
