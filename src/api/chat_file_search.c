/* The file_search tool of the Chat Completions API; see chat_file_search.h. */
#include "api/chat_file_search.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/big_stack.h"
#include "api/file_search.h"
#include "api/files_index.h"
#include "api/guardrails.h"
#include "api/reply.h"
#include "api/routes_assistants.h"
#include "api/who.h"
#include "storage/files.h"

#define MAX_STORES 2          /* as the Responses tool */
#define DEFAULT_RESULTS 8

static _Thread_local const struct api_chat_fs *current;

const cJSON *api_chat_fs_citations(void) { return current ? current->citations : NULL; }

const cJSON *api_request_citations(void) {
    const cJSON *a = api_assistant_citations();
    return a ? a : api_chat_fs_citations();
}

void api_chat_fs_end(struct api_chat_fs *x) {
    if (current == x) current = NULL;
    cJSON_Delete(x->citations);
    x->citations = NULL;
}

static const cJSON *field(const cJSON *o, const char *k) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, k);
    return f && !cJSON_IsNull(f) ? f : NULL;
}

/* The text of the last user message (a string, or its text parts joined). */
static void question(const cJSON *msgs, char *out, size_t cap) {
    const cJSON *m, *last = NULL;
    out[0] = 0;
    cJSON_ArrayForEach(m, msgs) {
        const cJSON *r = field(m, "role");
        if (cJSON_IsString(r) && !strcmp(r->valuestring, "user")) last = m;
    }
    const cJSON *content = last ? field(last, "content") : NULL, *p;
    if (cJSON_IsString(content)) { snprintf(out, cap, "%s", content->valuestring); return; }
    cJSON_ArrayForEach(p, content) {
        const cJSON *t = field(p, "text");
        if (!cJSON_IsString(t)) continue;
        size_t l = strlen(out);
        snprintf(out + l, cap - l, "%s%s", l ? "\n" : "", t->valuestring);
    }
}

/* The context of the model the chat names (the server's default when none): 0 when it
 * cannot be had now (the chat itself will say why). */
static int model_n_ctx(struct api_server *s, const cJSON *j) {
    const cJSON *m = field(j, "model");
    const char *name = cJSON_IsString(m) ? m->valuestring : NULL;
    int n = 0;
    if (s->reg) {
        omni_registry_ref r;
        char err[256];
        if (omni_registry_acquire(s->reg, name, OMNI_KIND_CHAT, s->load_timeout_ms, &r, err, sizeof err) == OMNI_OK) {
            if (r.model) n = omni_request_n_ctx(r.model, NULL);
            omni_registry_release(s->reg, &r, OMNI_KEEP_ALIVE_DEFAULT);
        }
    } else if (s->model) n = omni_request_n_ctx(s->model, NULL);
    return n;
}

/* Every chunk of the stores, in order, when together they fit in budget tokens: 1 with
 * *out, 0 when they do not (or there are none), -1 out of memory or storage. */
static int whole_documents(struct store *st, const char *uid, const char *const *vs, int n_vs, int budget,
                           struct api_fs_hit **out, int *n) {
    struct store_chunk *ch = NULL;
    size_t nc = 0;
    struct err e = {{0}};
    *out = NULL;
    *n = 0;
    if (store_chunks_load(st, uid, vs, n_vs, &ch, &nc, &e)) return -1;
    long total = 0;
    for (size_t i = 0; i < nc; i++) total += ch[i].n_tokens > 0 ? ch[i].n_tokens : (long)strlen(ch[i].text) / 2 + 1;
    int r = 0;
    if (nc && total <= budget) {
        struct api_fs_hit *h = calloc(nc, sizeof *h);
        r = h ? 1 : -1;
        for (size_t i = 0; h && i < nc; i++) {
            snprintf(h[i].file_id, sizeof h[i].file_id, "%s", ch[i].file_id);
            snprintf(h[i].filename, sizeof h[i].filename, "%s", ch[i].filename);
            h[i].score = 1;
            h[i].text = strdup(ch[i].text ? ch[i].text : "");
            h[i].heading = strdup(ch[i].heading ? ch[i].heading : "");
            h[i].page_first = ch[i].page_first;
            h[i].page_last = ch[i].page_last;
            h[i].attributes = cJSON_Parse(ch[i].attributes ? ch[i].attributes : "{}");
            if (!h[i].text || !h[i].heading) r = -1;
        }
        if (r == 1) *out = h, *n = (int)nc;
        else api_fs_hits_free(h, h ? (int)nc : 0);
    }
    store_chunks_free(ch, nc);
    return r;
}

/* The passages at the end of the system message (a new one first when there is none). */
static int add_to_system(cJSON *msgs, const char *text) {
    cJSON *first = cJSON_GetArrayItem(msgs, 0);
    const cJSON *role = first ? field(first, "role") : NULL, *content = first ? field(first, "content") : NULL;
    if (cJSON_IsString(role) && (!strcmp(role->valuestring, "system") || !strcmp(role->valuestring, "developer")) &&
        cJSON_IsString(content)) {
        size_t ol = strlen(content->valuestring), tl = strlen(text);
        char *joined = malloc(ol + tl + 3);
        if (!joined) return -1;
        memcpy(joined, content->valuestring, ol);
        memcpy(joined + ol, "\n\n", 2);
        memcpy(joined + ol + 2, text, tl + 1);
        cJSON_ReplaceItemInObjectCaseSensitive(first, "content", cJSON_CreateString(joined));
        free(joined);
        return 0;
    }
    cJSON *sm = cJSON_CreateObject();
    if (!sm) return -1;
    cJSON_AddStringToObject(sm, "role", "system");
    cJSON_AddStringToObject(sm, "content", text);
    cJSON_InsertItemInArray(msgs, 0, sm);
    return 0;
}

static cJSON *citations_json(const struct api_fs_hit *h, int n) {
    cJSON *d = cJSON_CreateArray();
    for (int i = 0; d && i < n; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "index", i + 1);
        cJSON_AddStringToObject(x, "file", h[i].filename);
        cJSON_AddStringToObject(x, "file_id", h[i].file_id);
        if (h[i].page_first) cJSON_AddNumberToObject(x, "page", h[i].page_first);
        else cJSON_AddNullToObject(x, "page");
        if (h[i].heading && h[i].heading[0]) cJSON_AddStringToObject(x, "heading", h[i].heading);
        else cJSON_AddNullToObject(x, "heading");
        cJSON_AddNumberToObject(x, "score", round(h[i].score * 10000) / 10000);
        cJSON_AddStringToObject(x, "text", h[i].text);
        cJSON_AddItemToArray(d, x);
    }
    return d;
}

static int prepare(struct api_server *s, struct mg_connection *c, cJSON *j, const cJSON *tool, struct api_chat_fs *x) {
    const char *param = "tools[].vector_store_ids";
    const cJSON *ids = field(tool, "vector_store_ids"), *mx = field(tool, "max_num_results"), *t;
    int n_vs = cJSON_IsArray(ids) ? cJSON_GetArraySize(ids) : 0;
    if (n_vs < 1 || n_vs > MAX_STORES)
        return api_reply_error(c, 400, param, "invalid_value", "'%s' must be an array of 1 to %d vector store ids", param,
                               MAX_STORES);
    const char *vs[MAX_STORES];
    int k = 0;
    cJSON_ArrayForEach(t, ids) {
        if (!cJSON_IsString(t) || !t->valuestring[0])
            return api_reply_error(c, 400, param, "invalid_value", "'%s' must hold vector store ids", param);
        vs[k++] = t->valuestring;
    }
    struct api_fs_query q = {NULL, DEFAULT_RESULTS, NULL, 0, 1, 1, 1};
    if (mx) {
        if (!cJSON_IsNumber(mx) || mx->valuedouble != floor(mx->valuedouble) || mx->valuedouble < 1 || mx->valuedouble > 50)
            return api_reply_error(c, 400, "tools[].max_num_results", "invalid_value",
                                   "'max_num_results' must be an integer from 1 to 50");
        q.max_results = (int)mx->valuedouble;
    }
    char qtext[8192];
    cJSON *msgs = cJSON_GetObjectItemCaseSensitive(j, "messages");
    question(msgs, qtext, sizeof qtext);
    if (!qtext[0])
        return api_reply_error(c, 400, "messages", "invalid_value", "file_search needs a user message with text to search for");
    q.query = qtext;
    struct store *st;
    const char *uid;
    int r = api_files_user(s, c, &st, &uid);
    if (r) return r;
    struct err e = {{0}};
    for (int i = 0; i < n_vs; i++) {
        int rc = store_vs_get(st, uid, vs[i], NULL, &e);
        if (rc == STORE_NOTFOUND) return api_reply_error(c, 404, param, "not_found", "no vector store '%.60s'", vs[i]);
        if (rc) return api_reply_store(c, rc, &e, "vector store");
    }
    struct api_fs_hit *h = NULL;
    int n = 0;
    int n_ctx = model_n_ctx(s, j);
    int whole = n_ctx > 0 ? whole_documents(st, uid, vs, n_vs, n_ctx / 4, &h, &n) : 0;
    if (whole < 0) return api_reply_error(c, 500, NULL, NULL, "reading the documents failed");
    if (!whole) {
        char code[48] = "", msg[400] = "";
        int status = api_fs_search(s, uid, vs, n_vs, &q, &h, &n, code, sizeof code, msg, sizeof msg);
        if (status) return api_reply_error(c, status, status == 404 ? param : NULL, code, "%s", msg);
    }
    /* the policy's check of retrieved text ("knowledge"): a flagged passage is left out,
     * so the numbers the model sees and the citations agree */
    int kept = 0;
    for (int i = 0; i < n; i++) {
        if (api_guard_knowledge(api_guard_current(), h[i].text)) {
            free(h[i].text);
            free(h[i].heading);
            cJSON_Delete(h[i].attributes);
            continue;
        }
        h[kept++] = h[i];
    }
    int status = 0;
    if (kept) {
        char *text = api_fs_context(h, kept);
        if (!text || add_to_system(msgs, text)) status = api_reply_error(c, 500, NULL, NULL, "out of memory");
        free(text);
        if (!status) x->citations = citations_json(h, kept);
    }
    x->whole = whole;
    api_fs_hits_free(h, kept);
    return status;
}

struct prep_call {
    struct api_who *who;
    struct api_guard *guard;
    struct api_server *s;
    struct mg_connection *c;
    cJSON *j;
    const cJSON *tool;
    struct api_chat_fs *x;
    int status;
};
static void prep_call(void *arg) {
    struct prep_call *k = arg;
    api_who_set(k->who);
    api_guard_use(k->guard);
    k->status = prepare(k->s, k->c, k->j, k->tool, k->x);
}

int api_chat_fs_begin(struct api_server *s, struct mg_connection *c, cJSON *j, struct api_chat_fs *x) {
    memset(x, 0, sizeof *x);
    cJSON *tools = cJSON_GetObjectItemCaseSensitive(j, "tools"), *tool;
    if (!cJSON_IsArray(tools)) return 0;
    const cJSON *found;
    int where, st = api_file_search_tool(c, tools, &found, &where);
    if (st || !found) return st;
    tool = cJSON_DetachItemFromArray(tools, where);
    /* the chat keeps its function tools; a tool_choice naming file_search is done */
    cJSON *tc = cJSON_GetObjectItemCaseSensitive(j, "tool_choice");
    const cJSON *tct = cJSON_IsObject(tc) ? field(tc, "type") : NULL;
    if (cJSON_IsString(tct) && !strcmp(tct->valuestring, "file_search")) cJSON_DeleteItemFromObjectCaseSensitive(j, "tool_choice");
    if (!cJSON_GetArraySize(tools)) {
        cJSON_DeleteItemFromObjectCaseSensitive(j, "tools");
        tc = cJSON_GetObjectItemCaseSensitive(j, "tool_choice");
        if (cJSON_IsString(tc) && !strcmp(tc->valuestring, "required")) cJSON_DeleteItemFromObjectCaseSensitive(j, "tool_choice");
    }
    struct prep_call k = {api_who(), api_guard_current(), s, c, j, tool, x, 0};
    if (api_run_big_stack(prep_call, &k)) k.status = api_reply_error(c, 503, NULL, NULL, "cannot start a thread; retry shortly");
    cJSON_Delete((cJSON *)tool);
    if (k.status) api_chat_fs_end(x);
    else current = x;
    return k.status;
}
