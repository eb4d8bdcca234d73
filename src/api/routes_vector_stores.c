/* OpenAI's Vector Stores API on the user's stores (storage/files.h):
 *   /v1/vector_stores                       POST create, GET list
 *   /v1/vector_stores/{id}                  GET, POST (modify), DELETE
 *   /v1/vector_stores/{id}/files            POST attach (indexed in the background), GET list
 *   /v1/vector_stores/{id}/files/{file}     GET, POST (attributes), DELETE (detach); /content (GET)
 *   /v1/vector_stores/{id}/file_batches     POST (file_ids or files[])
 *   /v1/vector_stores/{id}/file_batches/{b} GET; /cancel (POST); /files (GET)
 *   /v1/vector_stores/{id}/search           POST: hybrid search (api/files_index.h)
 * Objects, list pages (first_id, last_id, has_more) and errors in OpenAI's shapes; another
 * user's ids answer 404 like missing ones. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/big_stack.h"
#include "api/files_index.h"
#include "api/reply.h"
#include "api/routes.h"
#include "api/who.h"
#include "storage/files.h"

#define BATCH_MAX 100   /* files per file batch */

static const cJSON *field(const cJSON *o, const char *k) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, k);
    return f && !cJSON_IsNull(f) ? f : NULL;
}

static int reply_obj(struct mg_connection *c, cJSON *j) {
    int st = j ? api_reply_json(c, 200, j) : api_reply_error(c, 500, NULL, NULL, "out of memory");
    cJSON_Delete(j);
    return st;
}

/* metadata (values strings) or attributes (strings, numbers, booleans): at most 16 keys of
 * at most 64 bytes, strings at most 512. Into out as JSON text. 0, or -1 with msg. */
static int check_pairs(const cJSON *v, const char *name, int attributes, char *out, size_t cap, char *msg, size_t mcap) {
    if (!cJSON_IsObject(v)) { snprintf(msg, mcap, "'%s' must be an object", name); return -1; }
    int n = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, v) {
        if (++n > 16) { snprintf(msg, mcap, "'%s' has more than 16 keys", name); return -1; }
        if (strlen(x->string) > 64) { snprintf(msg, mcap, "'%s' keys are at most 64 characters", name); return -1; }
        int ok = cJSON_IsString(x) || (attributes && (cJSON_IsNumber(x) || cJSON_IsBool(x)));
        if (!ok) {
            snprintf(msg, mcap, "'%s.%.64s' must be a string%s", name, x->string, attributes ? ", number or boolean" : "");
            return -1;
        }
        if (cJSON_IsString(x) && strlen(x->valuestring) > 512) {
            snprintf(msg, mcap, "'%s.%.64s' is longer than 512 characters", name, x->string);
            return -1;
        }
    }
    char *t = cJSON_PrintUnformatted(v);
    if (!t || strlen(t) >= cap) { free(t); snprintf(msg, mcap, "'%s' is too large", name); return -1; }
    snprintf(out, cap, "%s", t);
    free(t);
    return 0;
}

static void add_parsed(cJSON *o, const char *k, const char *text) {
    cJSON *v = text && *text ? cJSON_Parse(text) : NULL;
    cJSON_AddItemToObject(o, k, v ? v : cJSON_CreateObject());
}

static int64_t vs_expires_at(const struct store_vs *v) {
    return v->expires_days > 0 ? v->last_active / 1000 + v->expires_days * 86400 : 0;
}

static cJSON *vs_json(const struct store_vs *v) {
    cJSON *o = cJSON_CreateObject(), *fc;
    cJSON_AddStringToObject(o, "id", v->id);
    cJSON_AddStringToObject(o, "object", "vector_store");
    cJSON_AddNumberToObject(o, "created_at", (double)(v->created / 1000));
    cJSON_AddStringToObject(o, "name", v->name);
    cJSON_AddNumberToObject(o, "usage_bytes", (double)v->usage_bytes);
    fc = cJSON_AddObjectToObject(o, "file_counts");
    cJSON_AddNumberToObject(fc, "in_progress", (double)v->n_in_progress);
    cJSON_AddNumberToObject(fc, "completed", (double)v->n_completed);
    cJSON_AddNumberToObject(fc, "failed", (double)v->n_failed);
    cJSON_AddNumberToObject(fc, "cancelled", (double)v->n_cancelled);
    cJSON_AddNumberToObject(fc, "total", (double)(v->n_in_progress + v->n_completed + v->n_failed + v->n_cancelled));
    int64_t exp = vs_expires_at(v);
    cJSON_AddStringToObject(o, "status", exp && exp < store_now_ms() / 1000 ? "expired"
                                         : v->n_in_progress ? "in_progress" : "completed");
    if (v->expires_days > 0) {
        cJSON *ea = cJSON_AddObjectToObject(o, "expires_after");
        cJSON_AddStringToObject(ea, "anchor", "last_active_at");
        cJSON_AddNumberToObject(ea, "days", (double)v->expires_days);
        cJSON_AddNumberToObject(o, "expires_at", (double)exp);
    } else {
        cJSON_AddNullToObject(o, "expires_after");
        cJSON_AddNullToObject(o, "expires_at");
    }
    cJSON_AddNumberToObject(o, "last_active_at", (double)(v->last_active / 1000));
    add_parsed(o, "metadata", v->metadata);
    return o;
}

static cJSON *vsfile_json(const struct store_vsfile *f) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", f->file_id);
    cJSON_AddStringToObject(o, "object", "vector_store.file");
    cJSON_AddNumberToObject(o, "usage_bytes", (double)f->usage_bytes);
    cJSON_AddNumberToObject(o, "created_at", (double)(f->created / 1000));
    cJSON_AddStringToObject(o, "vector_store_id", f->vs_id);
    cJSON_AddStringToObject(o, "status", f->status);
    api_vsfile_last_error(o, f);
    cJSON_AddItemToObject(o, "chunking_strategy", api_chunking_json(f->chunking));
    add_parsed(o, "attributes", f->attributes);
    return o;
}

/* expires_after {anchor: "last_active_at", days: 1..365} → days; 0, or -1 with msg */
static int read_expires(const cJSON *ea, int64_t *days, char *msg, size_t cap) {
    const cJSON *an = cJSON_GetObjectItemCaseSensitive(ea, "anchor"), *d = cJSON_GetObjectItemCaseSensitive(ea, "days");
    if (!cJSON_IsObject(ea) || !cJSON_IsString(an) || strcmp(an->valuestring, "last_active_at") || !cJSON_IsNumber(d) ||
        d->valuedouble != floor(d->valuedouble) || d->valuedouble < 1 || d->valuedouble > 365) {
        snprintf(msg, cap, "'expires_after' must be {\"anchor\": \"last_active_at\", \"days\": 1..365}");
        return -1;
    }
    *days = (int64_t)d->valuedouble;
    return 0;
}

/* Pagination parameters of a list (limit 1..100, order asc|desc, after, before). */
struct page_args {
    char after[STORE_ID_MAX], before[STORE_ID_MAX], filter[32];
    struct store_page p;
};
static int read_page(struct mg_connection *c, struct page_args *a) {
    memset(a, 0, sizeof *a);
    char lim[24] = "", order[16] = "";
    a->p.limit = 20;
    a->p.desc = 1;
    if (api_query(c, "limit", lim, sizeof lim)) {
        char *end;
        long long v = strtoll(lim, &end, 10);
        if (*end || v < 1 || v > 100)
            return api_reply_error(c, 400, "limit", "invalid_value", "'limit' must be an integer from 1 to 100");
        a->p.limit = v;
    }
    if (api_query(c, "order", order, sizeof order) && strcmp(order, "asc") && strcmp(order, "desc"))
        return api_reply_error(c, 400, "order", "invalid_value", "'order' must be asc or desc");
    a->p.desc = strcmp(order, "asc") != 0;
    if (api_query(c, "after", a->after, sizeof a->after) && a->after[0]) a->p.after = a->after;
    if (api_query(c, "before", a->before, sizeof a->before) && a->before[0]) a->p.before = a->before;
    if (api_query(c, "filter", a->filter, sizeof a->filter) && a->filter[0] && strcmp(a->filter, "in_progress") &&
        strcmp(a->filter, "completed") && strcmp(a->filter, "failed") && strcmp(a->filter, "cancelled"))
        return api_reply_error(c, 400, "filter", "invalid_value",
                               "'filter' must be in_progress, completed, failed or cancelled");
    return 0;
}

static cJSON *list_page(cJSON *data, const char *first, const char *last, int more) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "object", "list");
    cJSON_AddItemToObject(j, "data", data);
    if (first) cJSON_AddStringToObject(j, "first_id", first), cJSON_AddStringToObject(j, "last_id", last);
    else cJSON_AddNullToObject(j, "first_id"), cJSON_AddNullToObject(j, "last_id");
    cJSON_AddBoolToObject(j, "has_more", more);
    return j;
}

/* ---- attaching files ---- */

struct attach {
    const char *file_id;
    char attributes[STORE_META_MAX];
    char chunking[256];
};

/* Reads one file's attributes and chunking_strategy (falling back to the defaults given). */
static int read_attach(const cJSON *o, const char *dflt_attr, const char *dflt_chunk, struct attach *a, char *param,
                       size_t pcap, char *msg, size_t mcap) {
    const cJSON *at = field(o, "attributes"), *cs = field(o, "chunking_strategy");
    snprintf(a->attributes, sizeof a->attributes, "%s", dflt_attr ? dflt_attr : "{}");
    snprintf(a->chunking, sizeof a->chunking, "%s", dflt_chunk ? dflt_chunk : "{\"type\":\"auto\"}");
    if (at && check_pairs(at, "attributes", 1, a->attributes, sizeof a->attributes, msg, mcap)) {
        snprintf(param, pcap, "attributes");
        return -1;
    }
    if (cs && api_chunking_resolve(cs, a->chunking, sizeof a->chunking, msg, mcap)) {
        snprintf(param, pcap, "chunking_strategy");
        return -1;
    }
    return 0;
}

/* Attaches and queues each; the first failure is answered (status returned), 0 when all went. */
static int attach_all(struct api_server *s, struct mg_connection *c, struct store *st, const char *uid, const char *vs_id,
                      const struct attach *a, int n, const char *batch_id) {
    struct err e = {{0}};
    for (int i = 0; i < n; i++) { /* every file must be the user's before any is attached */
        int rc = store_file_get(st, uid, a[i].file_id, NULL, &e);
        if (rc == STORE_NOTFOUND)
            return api_reply_error(c, 404, "file_id", "not_found", "no such file '%.60s'", a[i].file_id);
        if (rc) return api_reply_store(c, rc, &e, "file");
    }
    for (int i = 0; i < n; i++) {
        struct store_vsfile f = {0};
        snprintf(f.vs_id, sizeof f.vs_id, "%s", vs_id);
        snprintf(f.file_id, sizeof f.file_id, "%s", a[i].file_id);
        snprintf(f.user_id, sizeof f.user_id, "%s", uid);
        snprintf(f.batch_id, sizeof f.batch_id, "%s", batch_id ? batch_id : "");
        snprintf(f.attributes, sizeof f.attributes, "%s", a[i].attributes);
        snprintf(f.chunking, sizeof f.chunking, "%s", a[i].chunking);
        int rc = store_vsfile_add(st, &f, &e);
        if (rc) return api_reply_store(c, rc, &e, "vector store or file");
        if (api_indexer_enqueue(s->indexer, uid, vs_id, a[i].file_id))
            store_vsfile_finish(st, vs_id, a[i].file_id, "failed", "server_error", "the indexer is not running", &e);
    }
    return 0;
}

/* ---- file batches ---- */

static cJSON *batch_json(struct store *st, const char *uid, const char *vs_id, const char *batch_id, int *found) {
    struct store_vsfile_query q = {NULL, batch_id, {NULL, NULL, 0, 100}};
    struct store_vsfile *fs = NULL;
    size_t n = 0;
    int more = 0;
    struct err e = {{0}};
    *found = 0;
    if (store_vsfile_list(st, uid, vs_id, &q, &fs, &n, &more, &e) || n == 0) { free(fs); return NULL; }
    *found = 1;
    int64_t cnt[4] = {0}, created = fs[0].created;
    static const char *const names[4] = {"in_progress", "completed", "failed", "cancelled"};
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 4; k++)
            if (!strcmp(fs[i].status, names[k])) cnt[k]++;
        if (fs[i].created < created) created = fs[i].created;
    }
    free(fs);
    cJSON *o = cJSON_CreateObject(), *fc;
    cJSON_AddStringToObject(o, "id", batch_id);
    cJSON_AddStringToObject(o, "object", "vector_store.files_batch");
    cJSON_AddNumberToObject(o, "created_at", (double)(created / 1000));
    cJSON_AddStringToObject(o, "vector_store_id", vs_id);
    const char *status = cnt[0] ? "in_progress" : cnt[3] ? "cancelled" : cnt[2] == (int64_t)n ? "failed" : "completed";
    cJSON_AddStringToObject(o, "status", status);
    fc = cJSON_AddObjectToObject(o, "file_counts");
    for (int k = 0; k < 4; k++) cJSON_AddNumberToObject(fc, names[k], (double)cnt[k]);
    cJSON_AddNumberToObject(fc, "total", (double)n);
    return o;
}

static int create_batch(struct api_server *s, struct mg_connection *c, struct store *st, const char *uid,
                        const char *vs_id, const cJSON *j) {
    const cJSON *ids = field(j, "file_ids"), *files = field(j, "files");
    char param[64] = "", msg[400] = "";
    if ((ids && files) || (!ids && !files))
        return api_reply_error(c, 400, "file_ids", "invalid_value", "give either 'file_ids' or 'files' (not both)");
    const cJSON *arr = ids ? ids : files;
    int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
    if (n < 1 || n > BATCH_MAX)
        return api_reply_error(c, 400, ids ? "file_ids" : "files", "invalid_value",
                               "'%s' must be an array of 1 to %d files", ids ? "file_ids" : "files", BATCH_MAX);
    struct attach dflt;
    if (read_attach(j, NULL, NULL, &dflt, param, sizeof param, msg, sizeof msg))
        return api_reply_error(c, 400, param, "invalid_value", "%s", msg);
    struct attach *a = calloc((size_t)n, sizeof *a);
    if (!a) return api_reply_error(c, 500, NULL, NULL, "out of memory");
    int i = 0, status = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, arr) {
        const cJSON *fid = ids ? x : field(x, "file_id");
        if (!cJSON_IsString(fid) || !fid->valuestring[0]) {
            status = api_reply_error(c, 400, ids ? "file_ids" : "files", "invalid_value",
                                     ids ? "'file_ids' must hold file id strings" : "each of 'files' needs a 'file_id'");
            break;
        }
        for (int k = 0; k < i; k++)
            if (!strcmp(a[k].file_id, fid->valuestring)) {
                status = api_reply_error(c, 400, "file_ids", "invalid_value", "file '%.60s' is listed twice",
                                         fid->valuestring);
                break;
            }
        if (status) break;
        a[i].file_id = fid->valuestring;
        if (ids) {
            memcpy(a[i].attributes, dflt.attributes, sizeof dflt.attributes);
            memcpy(a[i].chunking, dflt.chunking, sizeof dflt.chunking);
        } else if (read_attach(x, dflt.attributes, dflt.chunking, &a[i], param, sizeof param, msg, sizeof msg)) {
            status = api_reply_error(c, 400, param, "invalid_value", "files[%d]: %s", i, msg);
            break;
        }
        i++;
    }
    char bid[STORE_ID_MAX];
    struct err e = {{0}};
    if (!status && store_new_id("vsfb", bid, sizeof bid, &e)) status = api_reply_store(c, STORE_ERR, &e, "batch");
    if (!status) status = attach_all(s, c, st, uid, vs_id, a, n, bid);
    free(a);
    if (status) return status;
    int found;
    return reply_obj(c, batch_json(st, uid, vs_id, bid, &found));
}

/* ---- search ---- */

static int search(struct api_server *s, struct mg_connection *c, const char *uid, const char *vs_id, const cJSON *j,
                  const struct store_vs *v) {
    const cJSON *q = field(j, "query"), *mx = field(j, "max_num_results"), *flt = field(j, "filters"),
                *ro = field(j, "ranking_options");
    char msg[400];
    char qbuf[8192] = "";
    if (cJSON_IsString(q)) snprintf(qbuf, sizeof qbuf, "%s", q->valuestring);
    else if (cJSON_IsArray(q) && cJSON_GetArraySize(q) > 0) {  /* several queries: searched as one */
        const cJSON *x;
        cJSON_ArrayForEach(x, q) {
            if (!cJSON_IsString(x))
                return api_reply_error(c, 400, "query", "invalid_value", "'query' must be a string or strings");
            size_t l = strlen(qbuf);
            snprintf(qbuf + l, sizeof qbuf - l, "%s%s", l ? " " : "", x->valuestring);
        }
    } else return api_reply_error(c, 400, "query", "invalid_value", "'query' must be a non-empty string");
    if (!qbuf[0]) return api_reply_error(c, 400, "query", "invalid_value", "'query' must be a non-empty string");
    struct api_fs_query fq = {qbuf, 10, NULL, 0, 1, 1, 1};
    if (mx) {
        if (!cJSON_IsNumber(mx) || mx->valuedouble != floor(mx->valuedouble) || mx->valuedouble < 1 || mx->valuedouble > 50)
            return api_reply_error(c, 400, "max_num_results", "invalid_value",
                                   "'max_num_results' must be an integer from 1 to 50");
        fq.max_results = (int)mx->valuedouble;
    }
    if (flt) {
        if (api_filter_check(flt, msg, sizeof msg)) return api_reply_error(c, 400, "filters", "invalid_value", "%s", msg);
        fq.filters = flt;
    }
    if (ro) {
        const cJSON *rk = field(ro, "ranker"), *th = field(ro, "score_threshold"), *hy = field(ro, "hybrid_search");
        if (!cJSON_IsObject(ro))
            return api_reply_error(c, 400, "ranking_options", "invalid_value", "'ranking_options' must be an object");
        if (rk && (!cJSON_IsString(rk) || (strcmp(rk->valuestring, "auto") && strcmp(rk->valuestring, "none") &&
                                           strcmp(rk->valuestring, "default-2024-11-15"))))
            return api_reply_error(c, 400, "ranking_options.ranker", "invalid_value",
                                   "'ranker' must be auto, none or default-2024-11-15");
        if (th && (!cJSON_IsNumber(th) || th->valuedouble < 0 || th->valuedouble > 1))
            return api_reply_error(c, 400, "ranking_options.score_threshold", "invalid_value",
                                   "'score_threshold' must be a number from 0 to 1");
        if (th) fq.score_threshold = th->valuedouble;
        if (rk && !strcmp(rk->valuestring, "none")) fq.rerank = 0;
        if (hy) {
            const cJSON *ew = field(hy, "embedding_weight"), *tw = field(hy, "text_weight");
            if (!cJSON_IsObject(hy) || (ew && (!cJSON_IsNumber(ew) || ew->valuedouble < 0)) ||
                (tw && (!cJSON_IsNumber(tw) || tw->valuedouble < 0)))
                return api_reply_error(c, 400, "ranking_options.hybrid_search", "invalid_value",
                                       "'hybrid_search' takes non-negative 'embedding_weight' and 'text_weight'");
            if (ew) fq.embedding_weight = ew->valuedouble;
            if (tw) fq.text_weight = tw->valuedouble;
            if (fq.embedding_weight + fq.text_weight <= 0)
                return api_reply_error(c, 400, "ranking_options.hybrid_search", "invalid_value",
                                       "'embedding_weight' and 'text_weight' cannot both be 0");
        }
    }
    int64_t exp = vs_expires_at(v);
    if (exp && exp < store_now_ms() / 1000)
        return api_reply_error(c, 400, NULL, "vector_store_expired", "the vector store '%s' has expired", vs_id);
    struct api_fs_hit *h = NULL;
    int n = 0;
    char code[48] = "";
    const char *ids[1] = {vs_id};
    int st = api_fs_search(s, uid, ids, 1, &fq, &h, &n, code, sizeof code, msg, sizeof msg);
    if (st) return api_reply_error(c, st, NULL, code, "%s", msg);
    cJSON *o = cJSON_CreateObject(), *sq, *data;
    cJSON_AddStringToObject(o, "object", "vector_store.search_results.page");
    sq = cJSON_AddArrayToObject(o, "search_query");
    cJSON_AddItemToArray(sq, cJSON_CreateString(qbuf));
    data = cJSON_AddArrayToObject(o, "data");
    for (int i = 0; i < n; i++) {
        cJSON *r = cJSON_CreateObject(), *ct, *t;
        cJSON_AddStringToObject(r, "file_id", h[i].file_id);
        cJSON_AddStringToObject(r, "filename", h[i].filename);
        cJSON_AddNumberToObject(r, "score", h[i].score);
        cJSON_AddItemToObject(r, "attributes", h[i].attributes);
        h[i].attributes = NULL;
        ct = cJSON_AddArrayToObject(r, "content");
        t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "type", "text");
        cJSON_AddStringToObject(t, "text", h[i].text);
        cJSON_AddItemToArray(ct, t);
        /* omni's: where the passage is, for citations */
        if (h[i].heading && h[i].heading[0]) cJSON_AddStringToObject(r, "heading", h[i].heading);
        if (h[i].page_first) {
            cJSON_AddNumberToObject(r, "page", h[i].page_first);
            if (h[i].page_last != h[i].page_first) cJSON_AddNumberToObject(r, "page_last", h[i].page_last);
        }
        cJSON_AddItemToArray(data, r);
    }
    cJSON_AddBoolToObject(o, "has_more", 0);
    cJSON_AddNullToObject(o, "next_page");
    api_fs_hits_free(h, n);
    return reply_obj(c, o);
}

/* GET /v1/vector_stores/{id}/files/{file}/content: the parsed text, one item per chunk. */
static int file_content(struct mg_connection *c, struct store *st, const char *uid, const char *vs_id, const char *fid) {
    struct store_chunk *ch = NULL;
    size_t n = 0;
    struct err e = {{0}};
    const char *ids[1] = {vs_id};
    int rc = store_chunks_load(st, uid, ids, 1, &ch, &n, &e);
    if (rc) return api_reply_store(c, rc, &e, "vector store");
    cJSON *o = cJSON_CreateObject(), *data;
    cJSON_AddStringToObject(o, "object", "vector_store.file_content.page");
    data = cJSON_AddArrayToObject(o, "data");
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ch[i].file_id, fid)) continue;
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "type", "text");
        cJSON_AddStringToObject(t, "text", ch[i].text);
        cJSON_AddItemToArray(data, t);
    }
    cJSON_AddBoolToObject(o, "has_more", 0);
    cJSON_AddNullToObject(o, "next_page");
    store_chunks_free(ch, n);
    return reply_obj(c, o);
}

/* ---- routing ---- */

static int allow(struct mg_connection *c, const char *allowed, const char *m, const char *path) {
    char hdr[96];
    snprintf(hdr, sizeof hdr, "Allow: %s\r\n", allowed);
    return api_reply_error_headers(c, 405, NULL, "method_not_allowed", hdr, "%s is not allowed on %s; use %s", m, path,
                                   allowed);
}

/* The next path segment after *p into out (cap), advancing *p past it; 0 when none or too long. */
static int segment(const char **p, char *out, size_t cap) {
    if (**p != '/') return 0;
    const char *s = *p + 1, *e = strchr(s, '/');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if (!n || n >= cap) return 0;
    memcpy(out, s, n);
    out[n] = 0;
    *p = s + n;
    return 1;
}

static int vs_files_list(struct mg_connection *c, struct store *st, const char *uid, const char *vs_id,
                         const char *batch_id) {
    struct page_args pa;
    int r = read_page(c, &pa);
    if (r) return r;
    struct store_vsfile_query q = {pa.filter[0] ? pa.filter : NULL, batch_id, pa.p};
    struct store_vsfile *fs = NULL;
    size_t n = 0;
    int more = 0;
    struct err e = {{0}};
    int rc = store_vsfile_list(st, uid, vs_id, &q, &fs, &n, &more, &e);
    if (rc) return api_reply_store(c, rc, &e, "vector store");
    cJSON *data = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(data, vsfile_json(&fs[i]));
    cJSON *j = list_page(data, n ? fs[0].file_id : NULL, n ? fs[n - 1].file_id : NULL, more);
    free(fs);
    return reply_obj(c, j);
}

static int vs_route(struct api_server *s, struct mg_connection *c, const char *m, const char *path, const char *body,
                    size_t len) {
    struct store *st;
    const char *uid;
    int r = api_files_user(s, c, &st, &uid);
    if (r) return r;
    int post = !strcmp(m, "POST"), get = !strcmp(m, "GET") || !strcmp(m, "HEAD"), del = !strcmp(m, "DELETE");
    cJSON *j = NULL;
    int status = 0;
    if (post && !(j = api_json_object(c, body, len, &status))) return status;
    char msg[400] = "", param[64] = "";
    struct err e = {{0}};
    const char *p = path + strlen("/v1/vector_stores");
    char vs_id[STORE_ID_MAX], sub[32], fid[STORE_ID_MAX], act[32];
    if (!*p) {
        if (get) {
            struct page_args pa;
            if ((status = read_page(c, &pa))) goto done;
            struct store_vs *vs = NULL;
            size_t n = 0;
            int more = 0;
            int rc = store_vs_list(st, uid, &pa.p, &vs, &n, &more, &e);
            if (rc) { status = api_reply_store(c, rc, &e, "vector store"); goto done; }
            cJSON *data = cJSON_CreateArray();
            for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(data, vs_json(&vs[i]));
            status = reply_obj(c, list_page(data, n ? vs[0].id : NULL, n ? vs[n - 1].id : NULL, more));
            free(vs);
            goto done;
        }
        if (!post) { status = allow(c, "GET, POST", m, path); goto done; }
        struct store_vs v = {0};
        snprintf(v.user_id, sizeof v.user_id, "%s", uid);
        const cJSON *name = field(j, "name"), *md = field(j, "metadata"), *ea = field(j, "expires_after"),
                    *ids = field(j, "file_ids");
        if (name && (!cJSON_IsString(name) || strlen(name->valuestring) >= sizeof v.name)) {
            status = api_reply_error(c, 400, "name", "invalid_value", "'name' must be a string under 256 bytes");
            goto done;
        }
        if (name) snprintf(v.name, sizeof v.name, "%s", name->valuestring);
        if (md && check_pairs(md, "metadata", 0, v.metadata, sizeof v.metadata, msg, sizeof msg)) {
            status = api_reply_error(c, 400, "metadata", "invalid_value", "%s", msg);
            goto done;
        }
        if (ea && read_expires(ea, &v.expires_days, msg, sizeof msg)) {
            status = api_reply_error(c, 400, "expires_after", "invalid_value", "%s", msg);
            goto done;
        }
        int n = ids ? cJSON_GetArraySize(ids) : 0;
        if (ids && (!cJSON_IsArray(ids) || n > BATCH_MAX)) {
            status = api_reply_error(c, 400, "file_ids", "invalid_value", "'file_ids' must be an array of at most %d ids",
                                     BATCH_MAX);
            goto done;
        }
        struct attach dflt, *a = n ? calloc((size_t)n, sizeof *a) : NULL;
        if (read_attach(j, NULL, NULL, &dflt, param, sizeof param, msg, sizeof msg)) {
            free(a);
            status = api_reply_error(c, 400, param, "invalid_value", "%s", msg);
            goto done;
        }
        int i = 0;
        const cJSON *x;
        if (ids) cJSON_ArrayForEach(x, ids) {
            if (!a || !cJSON_IsString(x)) break;
            a[i] = dflt;
            a[i++].file_id = x->valuestring;
        }
        if (i != n) {
            free(a);
            status = api_reply_error(c, 400, "file_ids", "invalid_value", "'file_ids' must hold file id strings");
            goto done;
        }
        for (int k = 0; k < n; k++) /* every file the user's before the store is made */
            if (store_file_get(st, uid, a[k].file_id, NULL, &e)) {
                status = api_reply_error(c, 404, "file_ids", "not_found", "no such file '%.60s'", a[k].file_id);
                free(a);
                goto done;
            }
        int rc = store_vs_create(st, &v, &v, &e);
        if (rc) { free(a); status = api_reply_store(c, rc, &e, "user"); goto done; }
        if (n && (status = attach_all(s, c, st, uid, v.id, a, n, NULL))) { free(a); goto done; }
        free(a);
        rc = store_vs_get(st, uid, v.id, &v, &e);
        status = rc ? api_reply_store(c, rc, &e, "vector store") : reply_obj(c, vs_json(&v));
        goto done;
    }
    if (!segment(&p, vs_id, sizeof vs_id)) {
        status = api_reply_error(c, 404, NULL, "not_found", "no such vector store");
        goto done;
    }
    struct store_vs v;
    int rc = store_vs_get(st, uid, vs_id, &v, &e);
    if (rc) { status = api_reply_store(c, rc, &e, "vector store"); goto done; }
    if (!*p) {
        if (get) status = reply_obj(c, vs_json(&v));
        else if (del) {
            rc = store_vs_delete(st, uid, vs_id, &e);
            if (rc) status = api_reply_store(c, rc, &e, "vector store");
            else {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "id", vs_id);
                cJSON_AddStringToObject(o, "object", "vector_store.deleted");
                cJSON_AddBoolToObject(o, "deleted", 1);
                status = reply_obj(c, o);
            }
        } else if (post) {
            struct store_vs u = v;
            unsigned fields = 0;
            const cJSON *name = field(j, "name"), *md = field(j, "metadata"), *ea = cJSON_GetObjectItem(j, "expires_after");
            if (name) {
                if (!cJSON_IsString(name) || strlen(name->valuestring) >= sizeof u.name) {
                    status = api_reply_error(c, 400, "name", "invalid_value", "'name' must be a string under 256 bytes");
                    goto done;
                }
                snprintf(u.name, sizeof u.name, "%s", name->valuestring);
                fields |= STORE_VS_NAME;
            }
            if (md) {
                if (check_pairs(md, "metadata", 0, u.metadata, sizeof u.metadata, msg, sizeof msg)) {
                    status = api_reply_error(c, 400, "metadata", "invalid_value", "%s", msg);
                    goto done;
                }
                fields |= STORE_VS_METADATA;
            }
            if (ea) {
                u.expires_days = 0;
                if (!cJSON_IsNull(ea) && read_expires(ea, &u.expires_days, msg, sizeof msg)) {
                    status = api_reply_error(c, 400, "expires_after", "invalid_value", "%s", msg);
                    goto done;
                }
                fields |= STORE_VS_EXPIRES;
            }
            rc = fields ? store_vs_update(st, uid, vs_id, &u, fields, &e) : 0;
            if (!rc) rc = store_vs_get(st, uid, vs_id, &v, &e);
            status = rc ? api_reply_store(c, rc, &e, "vector store") : reply_obj(c, vs_json(&v));
        } else status = allow(c, "GET, POST, DELETE", m, path);
        goto done;
    }
    if (!segment(&p, sub, sizeof sub)) {
        status = api_reply_error(c, 404, NULL, "unknown_url", "unknown route %s %s", m, path);
        goto done;
    }
    if (!strcmp(sub, "search") && !*p) {
        status = post ? search(s, c, uid, vs_id, j, &v) : allow(c, "POST", m, path);
        goto done;
    }
    if (!strcmp(sub, "files")) {
        if (!*p) {
            if (get) status = vs_files_list(c, st, uid, vs_id, NULL);
            else if (post) {
                const cJSON *f = field(j, "file_id");
                struct attach a;
                if (!cJSON_IsString(f) || !f->valuestring[0])
                    status = api_reply_error(c, 400, "file_id", "missing_required_parameter", "'file_id' is required");
                else if (read_attach(j, NULL, NULL, &a, param, sizeof param, msg, sizeof msg))
                    status = api_reply_error(c, 400, param, "invalid_value", "%s", msg);
                else {
                    a.file_id = f->valuestring;
                    if (!(status = attach_all(s, c, st, uid, vs_id, &a, 1, NULL))) {
                        struct store_vsfile vf;
                        rc = store_vsfile_get(st, uid, vs_id, a.file_id, &vf, &e);
                        status = rc ? api_reply_store(c, rc, &e, "vector store file") : reply_obj(c, vsfile_json(&vf));
                    }
                }
            } else status = allow(c, "GET, POST", m, path);
            goto done;
        }
        if (!segment(&p, fid, sizeof fid) || (*p && strcmp(p, "/content"))) {
            status = api_reply_error(c, 404, NULL, "not_found", "no such vector store file");
            goto done;
        }
        struct store_vsfile vf;
        rc = store_vsfile_get(st, uid, vs_id, fid, &vf, &e);
        if (rc) { status = api_reply_store(c, rc, &e, "vector store file"); goto done; }
        if (*p) { /* /content: the file's passages as indexed */
            if (!get) { status = allow(c, "GET", m, path); goto done; }
            status = file_content(c, st, uid, vs_id, fid);
            goto done;
        }
        if (get) status = reply_obj(c, vsfile_json(&vf));
        else if (del) {
            rc = store_vsfile_delete(st, uid, vs_id, fid, &e);
            if (rc) status = api_reply_store(c, rc, &e, "vector store file");
            else {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "id", fid);
                cJSON_AddStringToObject(o, "object", "vector_store.file.deleted");
                cJSON_AddBoolToObject(o, "deleted", 1);
                status = reply_obj(c, o);
            }
        } else if (post) {
            const cJSON *at = field(j, "attributes");
            char attrs[STORE_META_MAX];
            if (!at) status = api_reply_error(c, 400, "attributes", "missing_required_parameter", "'attributes' is required");
            else if (check_pairs(at, "attributes", 1, attrs, sizeof attrs, msg, sizeof msg))
                status = api_reply_error(c, 400, "attributes", "invalid_value", "%s", msg);
            else if ((rc = store_vsfile_set_attributes(st, uid, vs_id, fid, attrs, &e)) ||
                     (rc = store_vsfile_get(st, uid, vs_id, fid, &vf, &e)))
                status = api_reply_store(c, rc, &e, "vector store file");
            else status = reply_obj(c, vsfile_json(&vf));
        } else status = allow(c, "GET, POST, DELETE", m, path);
        goto done;
    }
    if (!strcmp(sub, "file_batches")) {
        if (!*p) {
            status = post ? create_batch(s, c, st, uid, vs_id, j) : allow(c, "POST", m, path);
            goto done;
        }
        char bid[STORE_ID_MAX];
        if (!segment(&p, bid, sizeof bid)) {
            status = api_reply_error(c, 404, NULL, "not_found", "no such file batch");
            goto done;
        }
        act[0] = 0;
        if (*p && (!segment(&p, act, sizeof act) || *p)) {
            status = api_reply_error(c, 404, NULL, "unknown_url", "unknown route %s %s", m, path);
            goto done;
        }
        int found;
        cJSON *b = batch_json(st, uid, vs_id, bid, &found);
        if (!found) { status = api_reply_error(c, 404, NULL, "not_found", "no such file batch"); goto done; }
        if (!act[0]) status = get ? reply_obj(c, b) : (cJSON_Delete(b), allow(c, "GET", m, path));
        else if (!strcmp(act, "cancel")) {
            cJSON_Delete(b);
            if (!post) { status = allow(c, "POST", m, path); goto done; }
            rc = store_vsfile_cancel_batch(st, uid, vs_id, bid, &e);
            status = rc ? api_reply_store(c, rc, &e, "file batch") : reply_obj(c, batch_json(st, uid, vs_id, bid, &found));
        } else if (!strcmp(act, "files")) {
            cJSON_Delete(b);
            status = get ? vs_files_list(c, st, uid, vs_id, bid) : allow(c, "GET", m, path);
        } else {
            cJSON_Delete(b);
            status = api_reply_error(c, 404, NULL, "unknown_url", "unknown route %s %s", m, path);
        }
        goto done;
    }
    status = api_reply_error(c, 404, NULL, "unknown_url", "unknown route %s %s", m, path);
done:
    cJSON_Delete(j);
    return status;
}

/* On a full-size stack (api/big_stack.h): the store's rows are tens of KiB each, and
 * civetweb's worker stack is 100 KiB. */
struct vs_call {
    struct api_who *who;   /* the request's principal, thread-local in the handler's thread */
    struct api_server *s;
    struct mg_connection *c;
    const char *m, *path, *body;
    size_t len;
    int status;
};
static void vs_call(void *arg) {
    struct vs_call *k = arg;
    api_who_set(k->who);
    k->status = vs_route(k->s, k->c, k->m, k->path, k->body, k->len);
}

int route_vector_stores(struct api_server *s, struct mg_connection *c, const char *m, const char *path,
                        const char *body, size_t len) {
    struct vs_call k = {api_who(), s, c, m, path, body, len, 0};
    if (api_run_big_stack(vs_call, &k)) return api_reply_error(c, 503, NULL, NULL, "cannot start a thread; retry shortly");
    return k.status;
}
