/* The tool loop the server runs for built-in tools (tools/builtin.h: data analysis, MCP
 * servers): generate; when the model calls a built-in tool, run it, put the call and its
 * result back into the conversation (the model's template renders them as tool turns)
 * and generate again; stop when the model answers without one, calls one of the
 * caller's own functions (the caller answers those), a call waits for approval, or
 * after max_tool_calls runs (default 8, at most 32; the last step may not call).
 *
 * Every step is visible as OpenAI shows server-side tools: in /v1/responses the output
 * items in order (reasoning, message, function_call, mcp_list_tools, mcp_call,
 * mcp_approval_request, data_analysis_call, calculator_call, current_time_call) and, streamed, their typed events
 * (response.output_item.added/done, response.mcp_call_arguments.delta/done,
 * response.mcp_call.in_progress/completed/failed, response.mcp_list_tools.*, and the same
 * for data_analysis_call) numbered by sequence_number across the steps. In chat
 * completions (omni's extension there) the reply is the final answer, with the runs in
 * the message's "tool_runs" (the same items) and a custom assistant's "citations";
 * streamed, the citations in the first chunk, the answer's text as content deltas and the
 * runs in the last chunk.
 *
 * With the Responses route's hook (api_resp_hook) the response is stored as any other:
 * on_start sees it queued (background), on_final the finished object (completed,
 * incomplete, cancelled, or failed in the background) before the client can read it, so
 * it can be retrieved, chained with previous_response_id and appended to a conversation.
 * background: answered "queued" at once (not streamed) or streamed while the client
 * stays; either way the loop runs to its end whether the client stays or not, and the
 * hook's cancel stops it between and within steps.
 *
 * Each step is prepared by the chat route itself (api_chat_body_step: template, tools,
 * forced-call prefix and schema), so a forced first call (tool_choice naming a built-in
 * function) has arguments that validate; later steps are tool_choice auto. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/chat_file_search.h"
#include "api/file_search.h"
#include "api/generate.h"
#include "api/reply.h"
#include "api/routes.h"
#include "api/sse.h"
#include "tools/builtin.h"
#include "tools/toolcall.h"

#define AGENT_DEFAULT_CALLS 8
#define AGENT_MAX_CALLS 32
#define AGENT_MAX_STREAM_CALLS 16

enum { OPEN_NONE, OPEN_MESSAGE, OPEN_CALL, OPEN_REASONING };

struct agent {
    struct api_server *s;
    struct mg_connection *c;
    enum api_kind kind;
    struct api_resp_hook *h;   /* the Responses route's (stored responses), or NULL */
    int bg;                    /* a background response: runs on without its client */
    int detached;              /* bg, not streamed: the queued reply went, nothing more is written */
    int cancelled;
    int stream, sending, ok, began, seq;
    struct builtin_set set;
    cJSON *msgs;               /* the conversation so far, growing by the runs */
    cJSON *items;              /* finished output items */
    cJSON *runs;               /* chat: the built-in runs (items) */
    char resp_id[64], model[128];
    time_t created;
    omni_usage usage;          /* summed over the steps */
    int incomplete;
    int filtered;              /* output moderation cut the answer, or a tool result was blocked:
                                * the loop ends, with finish_reason / incomplete reason content_filter */
    /* a failure that ends the loop (after the reply began, or before) */
    int fail_status;
    char fail_param[64], fail_code[64], fail_msg[700];
    /* this step */
    enum tool_format fmt;
    int has_tools;
    const char *step_prefix;   /* the step's forced call opening (borrowed), or NULL */
    char user_msg[64];         /* a stored chat: the question the first step stored */
    char *all;                 /* the forced prefix and the reply so far */
    size_t all_len, all_cap;
    char *thought;
    size_t th_len, th_cap;
    size_t content_sent;
    int n_calls;               /* calls seen in the reply */
    size_t args_sent[AGENT_MAX_STREAM_CALLS];
    int open;
    char open_id[64], call_id[40], call_name[80];
    int open_fn;               /* the open call's built-in function, or -1 */
    char *open_text;
    size_t open_len, open_cap;
    char *content;             /* the step's answer text */
    size_t content_len, content_cap;
    /* what the step did */
    cJSON *step_calls;         /* the assistant turn's tool_calls for the runs */
    cJSON *step_results;       /* the tool messages */
    int client_calls, pending, ran;
    int written;               /* the chat route wrote the reply itself (its status) */
    cJSON *client_tool_calls;  /* chat: the caller's function calls (OpenAI's tool_calls) */
};

static void add(char **p, size_t *n, size_t *cap, const char *s, size_t k) {
    if (*n + k + 1 > *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        while (nc < *n + k + 1) nc *= 2;
        char *q = realloc(*p, nc);
        if (!q) return;
        *p = q;
        *cap = nc;
    }
    memcpy(*p + *n, s, k);
    *n += k;
    (*p)[*n] = 0;
}

/* ---- events ---- */

static void ev(struct agent *a, const char *type, cJSON *e) {
    if (a->kind == API_RESPONSES && a->sending) {
        cJSON_AddStringToObject(e, "type", type);
        cJSON_AddNumberToObject(e, "sequence_number", a->seq++);
        if (a->ok) a->ok = sse_send_event(a->c, type, e) == 0;
    }
    cJSON_Delete(e);
}

static cJSON *item_ev(struct agent *a, cJSON *item) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "output_index", cJSON_GetArraySize(a->items));
    cJSON_AddItemToObject(e, "item", item);
    return e;
}

static cJSON *id_ev(struct agent *a, const char *id) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "item_id", id);
    cJSON_AddNumberToObject(e, "output_index", cJSON_GetArraySize(a->items));
    return e;
}

static cJSON *usage_json(const struct agent *a) {
    cJSON *u = cJSON_CreateObject();
    if (a->kind == API_RESPONSES) {
        cJSON_AddNumberToObject(u, "input_tokens", a->usage.prompt_tokens);
        cJSON_AddNumberToObject(cJSON_AddObjectToObject(u, "input_tokens_details"), "cached_tokens", a->usage.cached_tokens);
        cJSON_AddNumberToObject(u, "output_tokens", a->usage.completion_tokens);
        cJSON_AddNumberToObject(cJSON_AddObjectToObject(u, "output_tokens_details"), "reasoning_tokens", 0);
    } else {
        cJSON_AddNumberToObject(u, "prompt_tokens", a->usage.prompt_tokens);
        cJSON_AddNumberToObject(u, "completion_tokens", a->usage.completion_tokens);
    }
    cJSON_AddNumberToObject(u, "total_tokens", a->usage.prompt_tokens + a->usage.completion_tokens);
    return u;
}

static cJSON *response_obj(struct agent *a, const char *status, cJSON *output) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "id", a->resp_id);
    cJSON_AddStringToObject(r, "object", "response");
    cJSON_AddNumberToObject(r, "created_at", (double)a->created);
    cJSON_AddStringToObject(r, "status", status);
    cJSON_AddStringToObject(r, "model", a->model);
    cJSON_AddItemToObject(r, "output", output ? output : cJSON_CreateArray());
    cJSON_AddBoolToObject(r, "parallel_tool_calls", 1);
    cJSON_AddNullToObject(r, "previous_response_id");
    if (!strcmp(status, "failed")) {
        cJSON *e = cJSON_AddObjectToObject(r, "error");
        cJSON_AddStringToObject(e, "code", a->fail_code[0] ? a->fail_code : "server_error");
        cJSON_AddStringToObject(e, "message", a->fail_msg);
    } else cJSON_AddNullToObject(r, "error");
    if (a->filtered || a->incomplete)
        cJSON_AddStringToObject(cJSON_AddObjectToObject(r, "incomplete_details"), "reason",
                                a->filtered ? "content_filter" : "max_output_tokens");
    else cJSON_AddNullToObject(r, "incomplete_details");
    if (strcmp(status, "in_progress") && strcmp(status, "queued")) cJSON_AddItemToObject(r, "usage", usage_json(a));
    else cJSON_AddNullToObject(r, "usage");
    /* the stored state's fields (previous_response_id, conversation, store, background …) */
    const cJSON *x;
    if (a->h && a->h->extra) cJSON_ArrayForEach(x, a->h->extra) {
        cJSON *v = cJSON_Duplicate(x, 1);
        if (!v) continue;
        if (cJSON_GetObjectItemCaseSensitive(r, x->string)) cJSON_ReplaceItemInObjectCaseSensitive(r, x->string, v);
        else cJSON_AddItemToObject(r, x->string, v);
    }
    return r;
}

static void begin(struct agent *a) {
    if (a->began || !a->stream || a->detached) return;
    a->began = 1;
    a->sending = 1;
    a->ok = sse_begin(a->c, NULL) == 0;
    if (a->kind != API_RESPONSES) {
        /* chat: the first chunk names the role, as OpenAI's does */
        cJSON *j = cJSON_CreateObject(), *ch = cJSON_CreateObject(), *d;
        cJSON_AddStringToObject(j, "id", a->resp_id);
        cJSON_AddStringToObject(j, "object", "chat.completion.chunk");
        cJSON_AddNumberToObject(j, "created", (double)a->created);
        cJSON_AddStringToObject(j, "model", a->model);
        cJSON_AddNumberToObject(ch, "index", 0);
        d = cJSON_AddObjectToObject(ch, "delta");
        cJSON_AddStringToObject(d, "role", "assistant");
        cJSON_AddStringToObject(d, "content", "");
        /* a custom assistant's knowledge passages, as a chat without built-in tools sends them */
        const cJSON *cit = api_request_citations();
        if (cit) cJSON_AddItemToObject(d, "citations", cJSON_Duplicate(cit, 1));
        cJSON_AddNullToObject(ch, "finish_reason");
        cJSON_AddItemToArray(cJSON_AddArrayToObject(j, "choices"), ch);
        if (a->ok) a->ok = sse_send_json(a->c, j) == 0;
        cJSON_Delete(j);
        return;
    }
    cJSON *e = cJSON_CreateObject();
    cJSON_AddItemToObject(e, "response", response_obj(a, "in_progress", NULL));
    ev(a, "response.created", e);
    e = cJSON_CreateObject();
    cJSON_AddItemToObject(e, "response", response_obj(a, "in_progress", NULL));
    ev(a, "response.in_progress", e);
    /* the items made before the first generation (tool lists, approved calls), in order */
    int k = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, a->items) {
        const char *type = cJSON_GetObjectItemCaseSensitive(it, "type")->valuestring;
        const char *id = cJSON_GetObjectItemCaseSensitive(it, "id")->valuestring;
        const cJSON *stj = cJSON_GetObjectItemCaseSensitive(it, "status");
        char evn[96];
        cJSON *added = cJSON_Duplicate(it, 1);
        if (!strcmp(type, "mcp_list_tools")) cJSON_ReplaceItemInObjectCaseSensitive(added, "tools", cJSON_CreateArray());
        if (!strcmp(type, "file_search_call")) cJSON_ReplaceItemInObjectCaseSensitive(added, "status", cJSON_CreateString("in_progress"));
        e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "output_index", k);
        cJSON_AddItemToObject(e, "item", added);
        ev(a, "response.output_item.added", e);
        for (int phase = 0; phase < 3; phase++) {
            static const char *const fs_phases[] = {"in_progress", "searching", "completed"};
            if (!strcmp(type, "file_search_call")) snprintf(evn, sizeof evn, "response.%s.%s", type, fs_phases[phase]);
            else if (phase == 2) break;
            else if (!strcmp(type, "mcp_list_tools")) snprintf(evn, sizeof evn, "response.%s.%s", type, phase ? "completed" : "in_progress");
            else if (!strcmp(type, "mcp_call"))
                snprintf(evn, sizeof evn, "response.%s.%s", type,
                         !phase ? "in_progress" : cJSON_IsString(stj) && !strcmp(stj->valuestring, "failed") ? "failed" : "completed");
            else break;
            e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "item_id", id);
            cJSON_AddNumberToObject(e, "output_index", k);
            ev(a, evn, e);
        }
        e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "output_index", k);
        cJSON_AddItemToObject(e, "item", cJSON_Duplicate(it, 1));
        ev(a, "response.output_item.done", e);
        k++;
    }
}

/* A finished item: its done event, then it joins the output. */
static void item_done(struct agent *a, cJSON *item) {
    ev(a, "response.output_item.done", item_ev(a, cJSON_Duplicate(item, 1)));
    cJSON_AddItemToArray(a->items, item);
}

/* The item (and event) name for a built-in's kind: "mcp_call", "data_analysis_call",
 * "calculator_call", "current_time_call". */
static const char *fn_type(const struct agent *a, int fn) { return builtin_item_type(&a->set, fn); }

static cJSON *builtin_item(const struct agent *a, const char *id, int fn, const char *status) {
    cJSON *it = cJSON_CreateObject();
    cJSON_AddStringToObject(it, "type", fn_type(a, fn));
    cJSON_AddStringToObject(it, "id", id);
    cJSON_AddStringToObject(it, "status", status);
    return it;
}

/* ---- the open item of the reply being written ---- */

static void chat_delta(struct agent *a, const char *text) {
    if (a->kind == API_RESPONSES || !a->sending || !*text) return;
    cJSON *j = cJSON_CreateObject(), *ch = cJSON_CreateObject(), *d;
    cJSON_AddStringToObject(j, "id", a->resp_id);
    cJSON_AddStringToObject(j, "object", "chat.completion.chunk");
    cJSON_AddNumberToObject(j, "created", (double)a->created);
    cJSON_AddStringToObject(j, "model", a->model);
    cJSON_AddNumberToObject(ch, "index", 0);
    d = cJSON_AddObjectToObject(ch, "delta");
    cJSON_AddStringToObject(d, "content", text);
    cJSON_AddNullToObject(ch, "finish_reason");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(j, "choices"), ch);
    if (a->ok) a->ok = sse_send_json(a->c, j) == 0;
    cJSON_Delete(j);
}

/* Runs the closed call of built-in fn (or records it for approval) and finishes its item. */
static void run_builtin(struct agent *a, int fn, const char *args) {
    const struct builtin_fn *f = &a->set.fns[fn];
    char id[64];
    if (f->approval) {
        api_resp_item_id(id, sizeof id, "mcpr");
        cJSON *it = cJSON_CreateObject();
        cJSON_AddStringToObject(it, "type", "mcp_approval_request");
        cJSON_AddStringToObject(it, "id", id);
        cJSON_AddStringToObject(it, "server_label", a->set.servers[f->server].label);
        cJSON_AddStringToObject(it, "name", f->name);
        cJSON_AddStringToObject(it, "arguments", args);
        ev(a, "response.output_item.added", item_ev(a, cJSON_Duplicate(it, 1)));
        item_done(a, it);
        a->pending++;
        return;
    }
    const char *type = fn_type(a, fn);
    char evn[96];
    snprintf(evn, sizeof evn, "response.%s.in_progress", type);
    ev(a, evn, id_ev(a, a->open_id));
    cJSON *it = builtin_item(a, a->open_id, fn, "completed");
    char *for_model = NULL;
    int rc = builtin_run(&a->set, fn, args, it, &for_model);
    if (rc < 0) {
        cJSON_Delete(it);
        free(for_model);
        snprintf(a->fail_msg, sizeof a->fail_msg, "out of memory");
        a->fail_status = 503;
        return;
    }
    if (rc) {
        cJSON_DeleteItemFromObjectCaseSensitive(it, "status");
        cJSON_AddStringToObject(it, "status", "failed");
    }
    snprintf(evn, sizeof evn, rc ? "response.%s.failed" : "response.%s.completed", type);
    ev(a, evn, id_ev(a, a->open_id));
    if (a->runs) cJSON_AddItemToArray(a->runs, cJSON_Duplicate(it, 1));
    item_done(a, it);
    /* the call and its result go back into the conversation */
    cJSON *call = cJSON_CreateObject(), *fnj;
    cJSON_AddStringToObject(call, "id", a->open_id);
    cJSON_AddStringToObject(call, "type", "function");
    fnj = cJSON_AddObjectToObject(call, "function");
    cJSON_AddStringToObject(fnj, "name", f->name);
    cJSON_AddStringToObject(fnj, "arguments", args);
    cJSON_AddItemToArray(a->step_calls, call);
    cJSON *tm = cJSON_CreateObject();
    cJSON_AddStringToObject(tm, "role", "tool");
    cJSON_AddStringToObject(tm, "tool_call_id", a->open_id);
    cJSON_AddStringToObject(tm, "content", for_model);
    cJSON_AddItemToArray(a->step_results, tm);
    free(for_model);
    a->ran++;
}

static void close_open(struct agent *a) {
    const char *t = a->open_text ? a->open_text : "";
    if (a->open == OPEN_MESSAGE) {
        cJSON *e = id_ev(a, a->open_id);
        cJSON_AddNumberToObject(e, "content_index", 0);
        cJSON_AddStringToObject(e, "text", t);
        ev(a, "response.output_text.done", e);
        cJSON *item = api_resp_message_item(a->open_id, t, "completed");
        /* the file_search tool's citations (api/file_search.h), cited at the text's end */
        const struct api_rs_extra *xr = a->kind == API_RESPONSES ? api_rs_extra() : NULL;
        cJSON *part = cJSON_GetArrayItem(cJSON_GetObjectItem(item, "content"), 0);
        if (xr && xr->annotations && part) {
            size_t chars = 0;
            for (const char *p = t; *p; p++) chars += ((unsigned char)*p & 0xC0) != 0x80;
            cJSON *ann = cJSON_Duplicate(xr->annotations, 1), *x;
            cJSON_ArrayForEach(x, ann) cJSON_AddNumberToObject(x, "index", (double)chars);
            cJSON_ReplaceItemInObjectCaseSensitive(part, "annotations", ann);
        }
        e = id_ev(a, a->open_id);
        cJSON_AddNumberToObject(e, "content_index", 0);
        cJSON_AddItemToObject(e, "part", cJSON_Duplicate(cJSON_GetArrayItem(cJSON_GetObjectItem(item, "content"), 0), 1));
        ev(a, "response.content_part.done", e);
        item_done(a, item);
    } else if (a->open == OPEN_REASONING) {
        item_done(a, api_resp_reasoning_item(a->open_id, t));
    } else if (a->open == OPEN_CALL && a->filtered) {
        /* the output check cut the reply inside a call: what was shown of it stays, nothing runs */
        if (a->open_fn >= 0 && a->set.fns[a->open_fn].approval) {
            /* an approval request streams nothing: it was never shown */
        } else if (a->open_fn >= 0) {
            cJSON *it = builtin_item(a, a->open_id, a->open_fn, "incomplete");
            cJSON_AddStringToObject(it, "name", a->call_name);
            cJSON_AddStringToObject(it, "arguments", t);
            item_done(a, it);
        } else {
            item_done(a, api_resp_call_item(a->open_id, a->call_id, a->call_name, t, "incomplete"));
        }
    } else if (a->open == OPEN_CALL) {
        if (a->open_fn >= 0 && a->set.fns[a->open_fn].approval) {
            run_builtin(a, a->open_fn, t);   /* an approval request: nothing was streamed for it */
        } else if (a->open_fn >= 0) {
            char evn[96];
            snprintf(evn, sizeof evn, "response.%s_arguments.done", fn_type(a, a->open_fn));
            cJSON *e = id_ev(a, a->open_id);
            cJSON_AddStringToObject(e, "arguments", t);
            ev(a, evn, e);
            run_builtin(a, a->open_fn, t);
        } else {
            cJSON *e = id_ev(a, a->open_id);
            cJSON_AddStringToObject(e, "arguments", t);
            ev(a, "response.function_call_arguments.done", e);
            item_done(a, api_resp_call_item(a->open_id, a->call_id, a->call_name, t, "completed"));
            a->client_calls++;
            if (a->client_tool_calls) {
                cJSON *call = cJSON_CreateObject(), *fnj;
                cJSON_AddStringToObject(call, "id", a->call_id);
                cJSON_AddStringToObject(call, "type", "function");
                fnj = cJSON_AddObjectToObject(call, "function");
                cJSON_AddStringToObject(fnj, "name", a->call_name);
                cJSON_AddStringToObject(fnj, "arguments", t);
                cJSON_AddItemToArray(a->client_tool_calls, call);
            }
        }
    }
    a->open = OPEN_NONE;
    a->open_len = 0;
    if (a->open_text) a->open_text[0] = 0;
}

static void open_item(struct agent *a, int kind, const char *name) {
    close_open(a);
    a->open = kind;
    a->open_fn = -1;
    if (kind == OPEN_MESSAGE) {
        api_resp_item_id(a->open_id, sizeof a->open_id, "msg");
        ev(a, "response.output_item.added", item_ev(a, api_resp_message_item(a->open_id, NULL, "in_progress")));
        cJSON *e = id_ev(a, a->open_id), *part = cJSON_AddObjectToObject(e, "part");
        cJSON_AddNumberToObject(e, "content_index", 0);
        cJSON_AddStringToObject(part, "type", "output_text");
        cJSON_AddStringToObject(part, "text", "");
        cJSON_AddArrayToObject(part, "annotations");
        ev(a, "response.content_part.added", e);
    } else if (kind == OPEN_CALL) {
        snprintf(a->call_name, sizeof a->call_name, "%s", name);
        a->open_fn = builtin_find(&a->set, name);
        if (a->open_fn >= 0) {
            const struct builtin_fn *f = &a->set.fns[a->open_fn];
            api_resp_item_id(a->open_id, sizeof a->open_id, f->kind == BUILTIN_MCP ? "mcp" : f->kind == BUILTIN_CALC ? "calc"
                                                            : f->kind == BUILTIN_TIME ? "time" : "da");
            if (!f->approval) {
                cJSON *it = builtin_item(a, a->open_id, a->open_fn, "in_progress");
                cJSON_AddStringToObject(it, "name", name);
                cJSON_AddStringToObject(it, "arguments", "");
                if (f->kind == BUILTIN_MCP) cJSON_AddStringToObject(it, "server_label", a->set.servers[f->server].label);
                ev(a, "response.output_item.added", item_ev(a, it));
            }
        } else {
            api_resp_item_id(a->open_id, sizeof a->open_id, "fc");
            tool_call_id(a->call_id, sizeof a->call_id);
            ev(a, "response.output_item.added", item_ev(a, api_resp_call_item(a->open_id, a->call_id, name, "", "in_progress")));
        }
    } else {
        api_resp_item_id(a->open_id, sizeof a->open_id, "rs");
        ev(a, "response.output_item.added", item_ev(a, api_resp_reasoning_item(a->open_id, NULL)));
    }
}

static void delta(struct agent *a, const char *d) {
    if (!*d) return;
    add(&a->open_text, &a->open_len, &a->open_cap, d, strlen(d));
    if (a->open == OPEN_CALL && a->open_fn >= 0 && a->set.fns[a->open_fn].approval) return;
    cJSON *e = id_ev(a, a->open_id);
    if (a->open != OPEN_CALL) cJSON_AddNumberToObject(e, "content_index", 0);
    cJSON_AddStringToObject(e, "delta", d);
    char evn[96];
    if (a->open == OPEN_MESSAGE) snprintf(evn, sizeof evn, "response.output_text.delta");
    else if (a->open == OPEN_REASONING) snprintf(evn, sizeof evn, "response.reasoning_text.delta");
    else if (a->open_fn >= 0) snprintf(evn, sizeof evn, "response.%s_arguments.delta", fn_type(a, a->open_fn));
    else snprintf(evn, sizeof evn, "response.function_call_arguments.delta");
    ev(a, evn, e);
}

/* The reply so far parsed: what is new goes out (final: the whole reply is in). */
static void answer(struct agent *a, int final) {
    struct tool_parse tp;
    int have = a->has_tools && tool_parse(a->fmt, a->all ? a->all : "", a->all_len, !final, &tp) == 0;
    const char *content = have ? tp.content : a->all ? a->all : "";
    size_t cl = strlen(content);
    if (cl > a->content_sent && (!have || a->n_calls == 0)) {
        if (a->open != OPEN_MESSAGE) open_item(a, OPEN_MESSAGE, NULL);
        delta(a, content + a->content_sent);
        chat_delta(a, content + a->content_sent);
        add(&a->content, &a->content_len, &a->content_cap, content + a->content_sent, cl - a->content_sent);
        a->content_sent = cl;
    }
    for (int k = 0; have && k < tp.n_calls && k < AGENT_MAX_STREAM_CALLS; k++) {
        const struct tool_call *tc = &tp.calls[k];
        if (k >= a->n_calls) {
            open_item(a, OPEN_CALL, tc->name);
            a->n_calls = k + 1;
            a->args_sent[k] = 0;
        }
        size_t al = strlen(tc->arguments);
        if (k == a->n_calls - 1 && a->open == OPEN_CALL && al > a->args_sent[k]) {
            delta(a, tc->arguments + a->args_sent[k]);
            a->args_sent[k] = al;
        }
    }
    if (have) tool_parse_free(&tp);
}

static int on_piece(void *user, const char *text, const char *thinking) {
    struct agent *a = user;
    if (thinking && *thinking) {
        if (a->open != OPEN_REASONING) open_item(a, OPEN_REASONING, NULL);
        delta(a, thinking);
    }
    if (text && *text) {
        if (a->open == OPEN_REASONING) close_open(a);
        add(&a->all, &a->all_len, &a->all_cap, text, strlen(text));
        answer(a, 0);
    }
    return a->ok || a->bg ? 0 : -1;   /* a background run goes on without its client */
}

static int fail_step(void *user, int status, const char *param, const char *code, const char *msg) {
    struct agent *a = user;
    a->fail_status = status;
    snprintf(a->fail_param, sizeof a->fail_param, "%s", param ? param : "");
    snprintf(a->fail_code, sizeof a->fail_code, "%s", code ? code : "");
    snprintf(a->fail_msg, sizeof a->fail_msg, "%s", msg);
    return status;
}

/* One generation (the chat route prepared o and the prompt). */
static int run_step(void *user, struct api_server *s, struct mg_connection *c, const struct api_options *o,
                    const omni_prompt *pr) {
    struct agent *a = user;
    a->has_tools = o->tools != NULL;
    a->fmt = o->tools ? o->tools->fmt : TOOL_FMT_GENERIC;
    a->step_prefix = o->tools ? o->tool_prefix : NULL;
    a->all_len = a->content_sent = 0;
    a->n_calls = 0;
    if (a->all) a->all[0] = 0;
    if (o->tools && o->tool_prefix) add(&a->all, &a->all_len, &a->all_cap, o->tool_prefix, strlen(o->tool_prefix));
    begin(a);
    struct api_gen_out out = {.piece = on_piece, .user = a};
    struct api_gen_result r;
    struct api_gen_refusal ref;
    if (api_generate_custom(s, c, o, 1, pr, &out, &r, &ref))
        return fail_step(a, ref.status, ref.status == 400 ? "messages" : NULL, ref.code, ref.msg);
    if (r.failed && !(a->h && atomic_load(&a->h->cancel))) {   /* cancelled: what it wrote so far stays */
        fail_step(a, 500, NULL, "generation_failed", r.error);
        api_gen_result_free(&r);
        return 500;
    }
    if (r.filtered) a->filtered = 1;
    if (!o->stream) {
        if (r.thinking && *r.thinking) on_piece(a, NULL, r.thinking);
        if (r.text) on_piece(a, r.text, NULL);
    }
    if (a->open == OPEN_REASONING) close_open(a);
    answer(a, 1);
    if (!a->content_sent && !a->n_calls) open_item(a, OPEN_MESSAGE, NULL);   /* an empty answer */
    close_open(a);
    a->usage.prompt_tokens += r.usage.prompt_tokens;
    a->usage.cached_tokens += r.usage.cached_tokens;
    a->usage.completion_tokens += r.usage.completion_tokens;
    a->incomplete = !strcmp(r.usage.finish_reason, "length");
    api_gen_result_free(&r);
    return 200;
}

/* Approved calls (mcp_approvals, from mcp_approval_request/response items) run before
 * the first step; declined ones tell the model so. */
static void run_approvals(struct agent *a, const cJSON *approvals) {
    const cJSON *ap;
    cJSON_ArrayForEach(ap, approvals) {
        const cJSON *ok = cJSON_GetObjectItemCaseSensitive(ap, "approve");
        const cJSON *rid = cJSON_GetObjectItemCaseSensitive(ap, "approval_request_id");
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(ap, "name"), *ar = cJSON_GetObjectItemCaseSensitive(ap, "arguments");
        if (!cJSON_IsBool(ok) || !cJSON_IsString(rid) || !cJSON_IsString(nm) || !cJSON_IsString(ar)) continue;
        int fn = builtin_find(&a->set, nm->valuestring);
        const char *declined = NULL;
        if (fn < 0 || a->set.fns[fn].kind != BUILTIN_MCP) declined = "Error: this tool is not offered in this request.";
        else if (!cJSON_IsTrue(ok)) declined = "The user declined this call.";
        if (declined) {
            cJSON *call = cJSON_CreateObject(), *fnj, *tm = cJSON_CreateObject();
            cJSON_AddStringToObject(call, "id", rid->valuestring);
            cJSON_AddStringToObject(call, "type", "function");
            fnj = cJSON_AddObjectToObject(call, "function");
            cJSON_AddStringToObject(fnj, "name", nm->valuestring);
            cJSON_AddStringToObject(fnj, "arguments", ar->valuestring);
            cJSON_AddItemToArray(a->step_calls, call);
            cJSON_AddStringToObject(tm, "role", "tool");
            cJSON_AddStringToObject(tm, "tool_call_id", rid->valuestring);
            cJSON_AddStringToObject(tm, "content", declined);
            cJSON_AddItemToArray(a->step_results, tm);
            continue;
        }
        /* as a call the model made, without asking again */
        int was = a->set.fns[fn].approval;
        a->set.fns[fn].approval = 0;
        a->open = OPEN_CALL;
        a->open_fn = fn;
        api_resp_item_id(a->open_id, sizeof a->open_id, "mcp");
        cJSON *it = builtin_item(a, a->open_id, fn, "in_progress");
        cJSON_AddStringToObject(it, "name", nm->valuestring);
        cJSON_AddStringToObject(it, "arguments", ar->valuestring);
        cJSON_AddStringToObject(it, "server_label", a->set.servers[a->set.fns[fn].server].label);
        cJSON_AddStringToObject(it, "approval_request_id", rid->valuestring);
        ev(a, "response.output_item.added", item_ev(a, it));
        run_builtin(a, fn, ar->valuestring);
        cJSON *last = cJSON_GetArrayItem(a->items, cJSON_GetArraySize(a->items) - 1);
        if (last) cJSON_AddStringToObject(last, "approval_request_id", rid->valuestring);
        a->open = OPEN_NONE;
        a->set.fns[fn].approval = was;
    }
}

/* The step's calls and results appended to the conversation. */
static void commit_step(struct agent *a) {
    if (!cJSON_GetArraySize(a->step_calls)) return;
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "assistant");
    cJSON_AddStringToObject(m, "content", a->content ? a->content : "");
    cJSON_AddItemToObject(m, "tool_calls", a->step_calls);
    cJSON_AddItemToArray(a->msgs, m);
    const cJSON *t;
    cJSON_ArrayForEach(t, a->step_results) cJSON_AddItemToArray(a->msgs, cJSON_Duplicate(t, 1));
    cJSON_Delete(a->step_results);
    a->step_calls = cJSON_CreateArray();
    a->step_results = cJSON_CreateArray();
}

static void mcp_list_items(struct agent *a) {
    for (int k = 0; k < a->set.n_servers; k++) {
        char id[64];
        api_resp_item_id(id, sizeof id, "mcpl");
        cJSON *it = cJSON_CreateObject();
        cJSON_AddStringToObject(it, "type", "mcp_list_tools");
        cJSON_AddStringToObject(it, "id", id);
        cJSON_AddStringToObject(it, "server_label", a->set.servers[k].label);
        cJSON_AddItemToObject(it, "tools", cJSON_Duplicate(a->set.servers[k].tools, 1));
        cJSON *added = cJSON_Duplicate(it, 1);
        cJSON_ReplaceItemInObjectCaseSensitive(added, "tools", cJSON_CreateArray());
        ev(a, "response.output_item.added", item_ev(a, added));
        ev(a, "response.mcp_list_tools.in_progress", id_ev(a, id));
        ev(a, "response.mcp_list_tools.completed", id_ev(a, id));
        item_done(a, it);
    }
}

/* The stored response's final object (completed, incomplete, cancelled; failed only in
 * the background, where no client gets the error), before the client can read it. */
static void final_hook(struct agent *a, const char *status, const cJSON *items) {
    if (!a->h || !a->h->on_final) return;
    if (!strcmp(status, "failed") && !a->bg) return;
    if (!a->bg && !a->ok) return;   /* a plain stream's client left: its answer reached no one */
    cJSON *r = response_obj(a, status, cJSON_Duplicate(items, 1));
    if (r) a->h->on_final(a->h, r);
    cJSON_Delete(r);
}

/* The reply when the loop is over (or failed). */
static int finish(struct agent *a) {
    int status = a->fail_status ? a->fail_status : 200;
    if (a->kind == API_RESPONSES) {
        const char *fst = a->fail_status ? "failed" : a->cancelled ? "cancelled"
                          : a->incomplete || a->filtered ? "incomplete" : "completed";
        final_hook(a, fst, a->items);
        if (a->detached) return 200;   /* background: the queued reply went at the start */
        if (a->began) {
            if (a->fail_status) {
                cJSON *e = cJSON_CreateObject();
                cJSON_AddStringToObject(e, "code", a->fail_code[0] ? a->fail_code : "server_error");
                cJSON_AddStringToObject(e, "message", a->fail_msg);
                if (a->fail_param[0]) cJSON_AddStringToObject(e, "param", a->fail_param);
                else cJSON_AddNullToObject(e, "param");
                ev(a, "error", e);
                e = cJSON_CreateObject();
                cJSON_AddItemToObject(e, "response", response_obj(a, "failed", a->items));
                a->items = NULL;
                ev(a, "response.failed", e);
            } else {
                cJSON *e = cJSON_CreateObject();
                cJSON_AddItemToObject(e, "response", response_obj(a, fst, a->items));
                a->items = NULL;
                ev(a, a->cancelled ? "response.cancelled" : a->incomplete || a->filtered ? "response.incomplete" : "response.completed", e);
            }
            if (a->ok) sse_close(a->c);
            return 200;
        }
        if (a->fail_status)
            return api_reply_error(a->c, a->fail_status, a->fail_param[0] ? a->fail_param : NULL,
                                   a->fail_code[0] ? a->fail_code : NULL, "%s", a->fail_msg);
        cJSON *r = response_obj(a, fst, a->items);
        a->items = NULL;
        api_reply_json_headers(a->c, 200, r, NULL);
        cJSON_Delete(r);
        return 200;
    }
    /* chat completions */
    const char *fin = a->filtered ? "content_filter" : a->client_calls ? "tool_calls" : a->incomplete ? "length" : "stop";
    if (a->began) {
        if (a->fail_status) {
            cJSON *e = api_error_json(a->fail_status, a->fail_param[0] ? a->fail_param : NULL,
                                      a->fail_code[0] ? a->fail_code : NULL, a->fail_msg);
            if (a->ok) a->ok = sse_send_json(a->c, e) == 0;
            cJSON_Delete(e);
        } else {
            cJSON *j = cJSON_CreateObject(), *ch = cJSON_CreateObject(), *d;
            cJSON_AddStringToObject(j, "id", a->resp_id);
            cJSON_AddStringToObject(j, "object", "chat.completion.chunk");
            cJSON_AddNumberToObject(j, "created", (double)a->created);
            cJSON_AddStringToObject(j, "model", a->model);
            cJSON_AddNumberToObject(ch, "index", 0);
            d = cJSON_AddObjectToObject(ch, "delta");
            if (cJSON_GetArraySize(a->client_tool_calls)) {
                cJSON *tc = cJSON_Duplicate(a->client_tool_calls, 1), *x;
                int k = 0;
                cJSON_ArrayForEach(x, tc) cJSON_AddNumberToObject(x, "index", k++);
                cJSON_AddItemToObject(d, "tool_calls", tc);
            }
            cJSON_AddItemToObject(d, "tool_runs", cJSON_Duplicate(a->runs, 1));
            cJSON_AddStringToObject(ch, "finish_reason", fin);
            cJSON_AddItemToArray(cJSON_AddArrayToObject(j, "choices"), ch);
            cJSON_AddItemToObject(j, "usage", usage_json(a));
            if (a->ok) a->ok = sse_send_json(a->c, j) == 0;
            cJSON_Delete(j);
        }
        if (a->ok) sse_close(a->c);
        return 200;
    }
    if (a->fail_status)
        return api_reply_error(a->c, a->fail_status, a->fail_param[0] ? a->fail_param : NULL,
                               a->fail_code[0] ? a->fail_code : NULL, "%s", a->fail_msg);
    cJSON *j = cJSON_CreateObject(), *ch = cJSON_CreateObject(), *m;
    cJSON_AddStringToObject(j, "id", a->resp_id);
    cJSON_AddStringToObject(j, "object", "chat.completion");
    cJSON_AddNumberToObject(j, "created", (double)a->created);
    cJSON_AddStringToObject(j, "model", a->model);
    cJSON_AddNumberToObject(ch, "index", 0);
    m = cJSON_AddObjectToObject(ch, "message");
    cJSON_AddStringToObject(m, "role", "assistant");
    cJSON_AddStringToObject(m, "content", a->content ? a->content : "");
    if (cJSON_GetArraySize(a->client_tool_calls)) cJSON_AddItemToObject(m, "tool_calls", cJSON_Duplicate(a->client_tool_calls, 1));
    cJSON_AddItemToObject(m, "tool_runs", cJSON_Duplicate(a->runs, 1));
    const cJSON *cit = api_request_citations();
    if (cit) cJSON_AddItemToObject(m, "citations", cJSON_Duplicate(cit, 1));
    cJSON_AddStringToObject(ch, "finish_reason", fin);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(j, "choices"), ch);
    cJSON_AddItemToObject(j, "usage", usage_json(a));
    api_reply_json_headers(a->c, 200, j, NULL);
    cJSON_Delete(j);
    return status;
}

/* A stored chat's step (api/chat_store.h): the reply is the answer unless it calls a
 * built-in tool (the loop goes on; only the last step's answer is stored, with the runs). */
static int answer_final(void *user, const char *reply) {
    struct agent *a = user;
    if (!a->has_tools) return 1;
    size_t pl = a->step_prefix ? strlen(a->step_prefix) : 0, rl = strlen(reply);
    char *all = malloc(pl + rl + 1);
    if (!all) return 1;
    memcpy(all, a->step_prefix ? a->step_prefix : "", pl);
    memcpy(all + pl, reply, rl + 1);
    struct tool_parse tp;
    int final = 1;
    if (tool_parse(a->fmt, all, pl + rl, 0, &tp) == 0) {
        for (int k = 0; k < tp.n_calls; k++)
            if (builtin_find(&a->set, tp.calls[k].name) >= 0) final = 0;
        tool_parse_free(&tp);
    }
    free(all);
    return final;
}

static int cancel_asked(struct agent *a) {
    if (a->h && atomic_load(&a->h->cancel)) a->cancelled = 1;
    return a->cancelled;
}

int api_agent_body(struct api_server *s, struct mg_connection *c, const cJSON *j, enum api_kind kind,
                   struct api_resp_hook *h) {
    struct agent a;
    memset(&a, 0, sizeof a);
    a.s = s;
    a.c = c;
    a.kind = kind;
    a.ok = 1;
    a.created = time(NULL);
    a.h = kind == API_RESPONSES ? h : NULL;
    a.bg = a.h && a.h->background;
    if (a.h && a.h->id[0]) snprintf(a.resp_id, sizeof a.resp_id, "%s", a.h->id);
    else api_resp_item_id(a.resp_id, sizeof a.resp_id, kind == API_RESPONSES ? "resp" : "chatcmpl");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    snprintf(a.model, sizeof a.model, "%s", cJSON_IsString(model) && model->valuestring[0] ? model->valuestring
                                                                                            : s->model_id ? s->model_id : "");
    a.stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "stream"));
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(j, "messages");
    const cJSON *mx = cJSON_GetObjectItemCaseSensitive(j, "max_tool_calls");
    int max_calls = AGENT_DEFAULT_CALLS;
    if (mx && !cJSON_IsNull(mx)) {
        if (!cJSON_IsNumber(mx) || mx->valuedouble < 1 || mx->valuedouble > AGENT_MAX_CALLS || mx->valuedouble != (int)mx->valuedouble)
            return api_reply_error(c, 400, "max_tool_calls", "invalid_value",
                                   "'max_tool_calls' must be an integer from 1 to %d with built-in tools", AGENT_MAX_CALLS);
        max_calls = mx->valueint;
    }
    if (!cJSON_IsArray(msgs) || !cJSON_GetArraySize(msgs))
        return api_reply_error(c, 400, "messages", "invalid_value", "'messages' must be a non-empty array of {role, content} objects");
    char param[64] = "tools", msg[700] = "";
    int st = builtin_parse(cJSON_GetObjectItemCaseSensitive(j, "tools"), s->p.mcp, &a.set, param, sizeof param, msg, sizeof msg);
    if (st) {
        builtin_free(&a.set);
        return api_reply_error(c, st, param, st == 424 ? "mcp_list_tools_failed" : "invalid_value", "%s", msg);
    }
    a.msgs = cJSON_Duplicate(msgs, 1);
    a.items = cJSON_CreateArray();
    a.step_calls = cJSON_CreateArray();
    a.step_results = cJSON_CreateArray();
    if (kind != API_RESPONSES) {
        a.runs = cJSON_CreateArray();
        a.client_tool_calls = cJSON_CreateArray();
    }
    cJSON *body = cJSON_Duplicate(j, 1);
    if (!a.msgs || !a.items || !a.step_calls || !a.step_results || !body) {
        fail_step(&a, 503, NULL, NULL, "out of memory");
        goto out;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(body, "mcp_approvals");
    cJSON_DeleteItemFromObjectCaseSensitive(body, "max_tool_calls");
    cJSON_ReplaceItemInObjectCaseSensitive(body, "tools", cJSON_Duplicate(a.set.functions, 1));
    if (!cJSON_GetArraySize(a.set.functions)) {
        cJSON_DeleteItemFromObjectCaseSensitive(body, "tools");
        cJSON_DeleteItemFromObjectCaseSensitive(body, "tool_choice");
    }
    if (a.h && a.h->count_only) {
        /* POST /v1/responses/input_tokens: the first step's prompt, with the built-ins as
         * the functions the model sees; nothing runs */
        st = api_chat_body_resp(s, c, body, a.h);
        a.written = st;
        goto out;
    }
    if (a.h && a.h->on_start && a.bg) {
        /* stored as queued first; not streamed, that is the reply, at once */
        cJSON *q = response_obj(&a, "queued", NULL);
        if (q) a.h->on_start(a.h, q);
        if (q && !a.stream) {
            api_reply_then_close(c);   /* a keep-alive client must not queue its polls behind this run */
            api_reply_json(c, 200, q);
            a.detached = 1;
        }
        cJSON_Delete(q);
    }
    /* what ran before the loop (the file_search tool's search): its items first */
    const struct api_rs_extra *xr = kind == API_RESPONSES ? api_rs_extra() : NULL;
    const cJSON *pre;
    if (xr && xr->pre_items) cJSON_ArrayForEach(pre, xr->pre_items) cJSON_AddItemToArray(a.items, cJSON_Duplicate(pre, 1));
    mcp_list_items(&a);
    run_approvals(&a, cJSON_GetObjectItemCaseSensitive(j, "mcp_approvals"));
    commit_step(&a);
    int calls = 0;
    for (int step = 0; !a.fail_status; step++) {
        cJSON_ReplaceItemInObjectCaseSensitive(body, "messages", cJSON_Duplicate(a.msgs, 1));
        if (step > 0 && cJSON_GetObjectItemCaseSensitive(body, "tools")) {
            cJSON_DeleteItemFromObjectCaseSensitive(body, "tool_choice");
            cJSON_AddStringToObject(body, "tool_choice", calls >= max_calls ? "none" : "auto");
        }
        a.content_len = 0;
        if (a.content) a.content[0] = 0;
        a.ran = 0;
        if (cancel_asked(&a)) break;
        struct api_chat_step hook = {.run = run_step, .fail = fail_step, .user = &a, .resp = a.h,
                                     .answer_final = answer_final, .tool_runs = a.runs, .user_msg = a.user_msg};
        int status = api_chat_body_step(s, c, body, kind, &hook);
        if (step > 0 && a.fail_status == 400 && !strcmp(a.fail_code, "content_filter")) {
            /* the tool-result check blocked what a run returned: the model never reads it,
             * the runs so far stay and the answer ends there, as a cut output does */
            a.fail_status = 0;
            a.fail_param[0] = a.fail_code[0] = a.fail_msg[0] = 0;
            a.filtered = 1;
            break;
        }
        if (status >= 400 && !a.fail_status) {
            if (a.detached) {   /* the route could not write its reply: the stored response says it */
                fail_step(&a, status, NULL, NULL, "the model could not be used for this response");
                break;
            }
            a.written = status;   /* the route wrote its own reply (a model that cannot be had) */
            break;
        }
        if (a.fail_status) break;
        calls += a.ran;
        if (cancel_asked(&a)) break;
        if (!a.ran || a.client_calls || a.pending || a.incomplete || a.filtered || (!a.ok && !a.bg)) break;
        commit_step(&a);
        if (step >= AGENT_MAX_CALLS) break;
    }
out:
    st = a.written ? a.written : finish(&a);
    cJSON_Delete(body);
    cJSON_Delete(a.items);
    builtin_free(&a.set);
    cJSON_Delete(a.msgs);
    cJSON_Delete(a.step_calls);
    cJSON_Delete(a.step_results);
    cJSON_Delete(a.runs);
    cJSON_Delete(a.client_tool_calls);
    free(a.all);
    free(a.thought);
    free(a.open_text);
    free(a.content);
    return st;
}
