/* Custom instructions, memories and the memory tool in stored chats; see chat_personal.h. */
#include "api/chat_personal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/reply.h"
#include "api/user_prefs.h"
#include "api/who.h"
#include "core/log.h"
#include "storage/prefs.h"

static _Thread_local struct api_personal *current;
struct api_personal *api_personal_current(void) { return current; }
void api_personal_set(struct api_personal *px) { current = px; }

static const char MEMORY_TOOL[] =
    "{\"type\":\"function\",\"function\":{\"name\":\"memory\",\"description\":"
    "\"Save a lasting fact about the user that will help in later conversations (their name, preferences, "
    "projects). Use it when the user tells you something worth remembering or asks you to remember it.\","
    "\"parameters\":{\"type\":\"object\",\"properties\":{"
    "\"content\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":200,\"description\":\"the fact, in one short sentence\"}},"
    "\"required\":[\"content\"],\"additionalProperties\":false}}}";

/* "remember that X" / "remember: X" / "please remember X" / "기억해 X" / "X 기억해(줘)": the
 * fact X, malloc'd, or NULL when the text is not such a request. */
static char *remember_fact(const char *t) {
    while (*t == ' ' || *t == '\n' || *t == '\t') t++;
    /* a question ("remember when we …?", "기억해?") asks, it does not tell */
    size_t q = strlen(t);
    while (q && strchr(" \n\t", t[q - 1])) q--;
    if (q && t[q - 1] == '?') return NULL;
    const char *f = NULL;
    if (!strncasecmp(t, "please ", 7)) t += 7;
    if (!strncasecmp(t, "remember", 8) && (t[8] == ' ' || t[8] == ':' || t[8] == ',')) {
        f = t + 8;
        while (*f == ' ' || *f == ':' || *f == ',') f++;
        if (!strncasecmp(f, "that ", 5)) f += 5;
    } else if (!strncmp(t, "기억해", strlen("기억해"))) {
        f = t + strlen("기억해");
        if (!strncmp(f, "줘", strlen("줘"))) f += strlen("줘");
        while (*f == ' ' || *f == ':' || *f == ',' || *f == '.') f++;
    }
    size_t n;
    if (f) n = strlen(f);
    else {
        /* the Korean order: the fact first, "기억해" / "기억해 줘" / "기억해줘" at the end */
        static const char *const ends[] = {"기억해 줘", "기억해줘", "기억해 주세요", "기억해주세요", "기억해"};
        size_t tl = strlen(t);
        while (tl && strchr(" .!\n", t[tl - 1])) tl--;
        for (size_t i = 0; i < sizeof ends / sizeof *ends && !f; i++) {
            size_t el = strlen(ends[i]);
            if (tl > el && !strncmp(t + tl - el, ends[i], el)) { f = t; n = tl - el; }
        }
        if (!f) return NULL;
    }
    while (n && strchr(" .,!\n", f[n - 1])) n--;
    if (!n || n > STORE_MEMORY_MAX) return NULL;
    char *out = malloc(n + 1);
    if (out) { memcpy(out, f, n); out[n] = 0; }
    return out;
}

/* Tokens of a memory's line in the model's vocabulary (no model: about 4 bytes a token). */
static long line_tokens(const omni_model *m, const char *t) {
    int k = m ? omni_tokenize(m, t, strlen(t), 0, 0, NULL, 0) : -1;
    return k >= 0 ? k + 2 : (long)(strlen(t) + 3) / 4 + 2; /* "- " and the newline */
}

/* The system text: custom instructions, then memories, newest first, within
 * API_MEMORY_TOKENS tokens. malloc'd. */
static char *system_text(const omni_model *model, const struct api_user_prefs *p, const struct store_memory *ms,
                         size_t n) {
    size_t cap = strlen(p->about_me) + strlen(p->response_style) + 512, len = 0;
    for (size_t i = 0; i < n; i++) cap += strlen(ms[i].content) + 3;
    char *b = malloc(cap);
    if (!b) return NULL;
    b[0] = 0;
    if (p->about_me[0]) len += (size_t)snprintf(b + len, cap - len, "What the user wants you to know about them:\n%s\n\n", p->about_me);
    if (p->response_style[0]) len += (size_t)snprintf(b + len, cap - len, "How the user wants you to respond:\n%s\n\n", p->response_style);
    if (p->memory_enabled && n) {
        len += (size_t)snprintf(b + len, cap - len, "What you remember about the user from earlier conversations:\n");
        long used = 0;
        for (size_t i = 0; i < n; i++) {
            long k = line_tokens(model, ms[i].content);
            if (used + k > API_MEMORY_TOKENS) break;
            len += (size_t)snprintf(b + len, cap - len, "- %s\n", ms[i].content);
            used += k;
        }
    }
    while (len && b[len - 1] == '\n') b[--len] = 0;
    return b;
}

int api_chat_personalize(struct api_server *s, struct mg_connection *c, cJSON *j, struct api_personal *px) {
    memset(px, 0, sizeof *px);
    struct api_who *w = api_who();
    if (!s->p.auth || !api_who_has_user(w) || !cJSON_IsObject(j)) return 0;
    const char *hdr = mg_get_header(c, "X-Omni-Conversation");
    const cJSON *field = cJSON_GetObjectItemCaseSensitive(j, "conversation");
    if (!(hdr && *hdr) && !cJSON_IsString(field)) return 0; /* not a stored chat */
    cJSON *msgs = cJSON_GetObjectItemCaseSensitive(j, "messages");
    if (!cJSON_IsArray(msgs) || !cJSON_GetArraySize(msgs)) return 0; /* the chat route refuses it */
    /* only the user's own conversation (another's id is the chat route's 404: nothing is saved) */
    const char *conv = hdr && *hdr ? hdr : field->valuestring;
    struct store_conv cv;
    struct err ce = {{0}};
    if (strlen(conv) >= STORE_ID_MAX || store_conv_get(s->p.auth->st, w->user.id, conv, &cv, &ce)) return 0;
    struct api_user_prefs p;
    struct err e = {{0}};
    if (api_user_prefs_load(s, w->user.id, &p, &e)) {
        log_error("settings of %s: %s", w->user.id, e.msg);
        return 0; /* the chat goes on without them */
    }
    px->active = 1;
    snprintf(px->user_id, sizeof px->user_id, "%s", w->user.id);
    /* a "remember …" question: saved before the answer, so the answer already knows it */
    cJSON *last = cJSON_GetArrayItem(msgs, cJSON_GetArraySize(msgs) - 1);
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(last, "role"), *content = cJSON_GetObjectItemCaseSensitive(last, "content");
    if (p.memory_enabled && cJSON_IsString(role) && !strcmp(role->valuestring, "user") && cJSON_IsString(content)) {
        char *fact = remember_fact(content->valuestring);
        if (fact) {
            if (store_memory_add(s->p.auth->st, w->user.id, fact, NULL, &e)) log_error("saving a memory: %s", e.msg);
            else px->memory_updated = 1;
            free(fact);
        }
    }
    struct store_memory *ms = NULL;
    size_t n = 0;
    if (p.memory_enabled && store_memory_list(s->p.auth->st, w->user.id, &ms, &n, &e)) n = 0;
    char *text = system_text(s->model, &p, ms, n);
    store_memories_free(ms, n);
    int st = 0;
    if (!text) st = api_reply_error(c, 503, NULL, NULL, "out of memory");
    else if (text[0]) {
        cJSON *first = cJSON_GetArrayItem(msgs, 0);
        const cJSON *fr = cJSON_GetObjectItemCaseSensitive(first, "role"), *fc = cJSON_GetObjectItemCaseSensitive(first, "content");
        if (cJSON_IsString(fr) && (!strcmp(fr->valuestring, "system") || !strcmp(fr->valuestring, "developer")) && cJSON_IsString(fc)) {
            /* the request's own system message first, then the user's account */
            size_t k = strlen(fc->valuestring) + strlen(text) + 3;
            char *joined = malloc(k);
            if (joined) {
                snprintf(joined, k, "%s\n\n%s", fc->valuestring, text);
                cJSON_ReplaceItemInObjectCaseSensitive(first, "content", cJSON_CreateString(joined));
                free(joined);
            }
        } else {
            cJSON *sys = cJSON_CreateObject();
            cJSON_AddStringToObject(sys, "role", "system");
            cJSON_AddStringToObject(sys, "content", text);
            cJSON_InsertItemInArray(msgs, 0, sys);
        }
    }
    free(text);
    /* the memory tool, unless the request turned tools off or has its own "memory" */
    const cJSON *choice = cJSON_GetObjectItemCaseSensitive(j, "tool_choice");
    cJSON *tools = cJSON_GetObjectItemCaseSensitive(j, "tools");
    int none = cJSON_IsString(choice) && !strcmp(choice->valuestring, "none");
    const cJSON *cfn = cJSON_GetObjectItemCaseSensitive(choice, "function"), *cname = cJSON_GetObjectItemCaseSensitive(cfn, "name");
    int named = cJSON_IsString(cname) && !strcmp(cname->valuestring, "memory");
    /* offered when the model's template shows tools itself (a few tokens in its own
     * syntax); with a template that does not, the generic instructions would cost a few
     * hundred tokens of every turn, so there it comes only when tool_choice names it */
    const char *tmpl = s->model ? omni_model_chat_template(s->model) : NULL;
    int offer = named || (tmpl && tool_template_native(tmpl));
    if (!st && p.memory_enabled && !none && offer && (!tools || cJSON_IsArray(tools) || cJSON_IsNull(tools))) {
        const cJSON *t;
        int theirs = 0;
        cJSON_ArrayForEach(t, tools) {
            const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function"), *nm = cJSON_GetObjectItemCaseSensitive(fn, "name");
            theirs |= cJSON_IsString(nm) && !strcmp(nm->valuestring, "memory");
        }
        if (!theirs) {
            if (!cJSON_IsArray(tools)) {
                cJSON_DeleteItemFromObjectCaseSensitive(j, "tools");
                tools = cJSON_AddArrayToObject(j, "tools");
            }
            cJSON *mt = cJSON_Parse(MEMORY_TOOL);
            if (tools && mt) { cJSON_AddItemToArray(tools, mt); px->memory_tool = 1; }
            else cJSON_Delete(mt);
        }
    }
    api_user_prefs_free(&p);
    return st;
}

int api_chat_memory_calls(struct api_server *s, const char *user_id, const struct tool_request *tr, const char *prefix,
                          const char *text) {
    if (!tr || !text) return 0;
    size_t pl = prefix ? strlen(prefix) : 0, tl = strlen(text);
    char *all = malloc(pl + tl + 1);
    if (!all) return 0;
    memcpy(all, prefix ? prefix : "", pl);
    memcpy(all + pl, text, tl + 1);
    struct tool_parse tp = {0};
    int changed = 0;
    if (tool_parse(tr->fmt, all, pl + tl, 0, &tp) == 0) {
        for (int k = 0; k < tp.n_calls; k++) {
            if (strcmp(tp.calls[k].name, "memory")) continue;
            cJSON *a = cJSON_Parse(tp.calls[k].arguments);
            const cJSON *ct = cJSON_GetObjectItemCaseSensitive(a, "content");
            struct err e = {{0}};
            if (cJSON_IsString(ct) && ct->valuestring[0])
                changed += store_memory_add(s->p.auth->st, user_id, ct->valuestring, NULL, &e) == 0;
            if (e.msg[0]) log_error("memory tool: %s", e.msg);
            cJSON_Delete(a);
        }
        tool_parse_free(&tp);
    }
    free(all);
    return changed;
}

cJSON *api_memory_event(struct api_server *s, const char *user_id) {
    struct store_memory *ms = NULL;
    size_t n = 0;
    struct err e = {{0}};
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "object", "omni.memory.updated");
    cJSON *arr = cJSON_AddArrayToObject(o, "memories");
    if (!store_memory_list(s->p.auth->st, user_id, &ms, &n, &e)) {
        for (size_t i = 0; i < n; i++) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "id", ms[i].id);
            cJSON_AddStringToObject(x, "content", ms[i].content);
            cJSON_AddItemToArray(arr, x);
        }
        store_memories_free(ms, n);
    }
    return o;
}
