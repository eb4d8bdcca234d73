/* The bridge between an HTTP thread and the model's engine thread for one request; see
 * generate.h. The engine's callbacks only append to a buffer under a mutex and signal;
 * all JSON building and socket writing happens here on the HTTP thread. */
#include "api/generate.h"
#include "api/file_search.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/chat_file_search.h"
#include "api/client_gone.h"
#include "api/guardrails.h"
#include "api/meter.h"
#include "api/routes_assistants.h"
#include "api/reply.h"
#include "api/sse.h"
#include "moderation/stream_filter.h"
#include "tools/toolcall.h"

/* Streaming a reply with tools: the answer so far is parsed again at every chunk and
 * only what is new goes out, as content or as OpenAI's delta.tool_calls fragments. */
#define MAX_STREAM_CALLS 64
struct tool_stream {
    char *all;               /* the answer so far, the forced prefix first */
    size_t len, cap;
    size_t content_sent;     /* bytes of the parsed content sent */
    int n_calls;             /* calls announced (id + name sent) */
    size_t args_sent[MAX_STREAM_CALLS];
    char ids[MAX_STREAM_CALLS][32];
    int any_call;
};

/* One choice: a prompt's sequence. Its output fields are guarded by the group's mutex. */
struct gen {
    struct group *grp;
    char *text;              /* produced but not yet sent */
    size_t len, cap;
    char *rtext;             /* the same for the model's thoughts (reasoning_content) */
    size_t rlen, rcap;
    cJSON *lp;               /* chat-style logprob entries not yet sent, or NULL */
    int32_t *toks;           /* the generated token ids, when the group wants them */
    int ntok, ctok;
    int submitted;           /* handed to the engine (HTTP thread only) */
    int done;                /* on_done came, or it never ran (cancelled/refused before submitting) */
    int reported;            /* its end was written to the client (streaming) */
    size_t offset;           /* completions logprobs text_offset so far */
    omni_usage res;
    char error[256];         /* when res.finish_reason is "error" */
    omni_request *req;
    const omni_prompt *prompt;
    struct tool_stream ts;   /* streaming with tools */
    struct mod_stream *mf;   /* output moderation (api/guardrails.h), or NULL: HTTP thread only */
    char *passed;            /* what the filter released so far */
    size_t plen, pcap;
    int filtered;            /* a sentence was flagged: the answer ends with content_filter */
};

/* All choices of one request share one mutex and condition, so the HTTP thread
 * waits for whichever produces first. */
struct group {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    omni_model *model;
    const char *model_id;    /* what the reply's 'model' says */
    int want_lp;
    int want_toks;           /* collect each choice's token ids (ollama's 'context') */
    int n;
    struct gen *g;
    int n_next;              /* first prompt not yet submitted */
    int cancelled;           /* client gone: cancel running ones, never start the rest */
    int fd;                  /* the client's socket for hang-up checks, or -1 */
    atomic_int *cancel_flag; /* a stored background response's cancel (api_resp_hook), or NULL */
    omni_generate_params gp; /* shared by the choices; user is set per choice */
    struct api_capture *cap; /* the route keeps the whole answer (single choice only), or NULL */
    struct api_meter *meter; /* the request's limits and usage (api/meter.h), or NULL */
};

static void append_bytes(cJSON *entry, const char *s, size_t n) {
    cJSON *b = cJSON_AddArrayToObject(entry, "bytes");
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(b, cJSON_CreateNumber((unsigned char)s[i]));
}

/* One logprob entry in the chat format: {token, logprob, bytes, top_logprobs:[...]}. */
static cJSON *token_entry(omni_model *m, int32_t tok, float lp) {
    size_t n = 0;
    const char *s = omni_token_text(m, tok, 1, &n);
    char *z = strndup(s ? s : "", s ? n : 0);
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "token", z ? z : "");
    cJSON_AddNumberToObject(e, "logprob", lp);
    append_bytes(e, s ? s : "", s ? n : 0);
    free(z);
    return e;
}

static void add_text(char **text, size_t *len, size_t *cap, const char *s, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t c = (*cap ? *cap * 2 : 256) + n;
        char *t = realloc(*text, c);
        if (t) { *text = t; *cap = c; }
    }
    if (*len + n + 1 <= *cap) {
        memcpy(*text + *len, s, n);
        *len += n;
        (*text)[*len] = 0;
    }
}

static void on_piece(const omni_token_info *p, void *user) {
    struct gen *g = user;
    pthread_mutex_lock(&g->grp->mu);
    if (p->len && p->reasoning) add_text(&g->rtext, &g->rlen, &g->rcap, p->text, p->len);
    else if (p->len) add_text(&g->text, &g->len, &g->cap, p->text, p->len);
    if (g->grp->want_toks && p->token >= 0) {
        if (g->ntok == g->ctok) {
            int c = g->ctok ? g->ctok * 2 : 64;
            int32_t *t = realloc(g->toks, sizeof *t * (size_t)c);
            if (t) { g->toks = t; g->ctok = c; }
        }
        if (g->ntok < g->ctok) g->toks[g->ntok++] = p->token;
    }
    struct api_capture *cap = g->grp->cap;
    if (cap && p->len && !p->reasoning) add_text(&cap->text, &cap->len, &cap->cap, p->text, p->len);
    else if (cap && p->len) add_text(&cap->reasoning, &cap->rlen, &cap->rcap, p->text, p->len);
    if (g->grp->want_lp && p->token >= 0) {
        omni_model *m = g->grp->model;
        if (!g->lp) g->lp = cJSON_CreateArray();
        cJSON *e = token_entry(m, p->token, p->logprob);
        cJSON *top = cJSON_AddArrayToObject(e, "top_logprobs");
        for (int i = 0; i < p->n_top; i++) cJSON_AddItemToArray(top, token_entry(m, p->top_token[i], p->top_logprob[i]));
        cJSON_AddItemToArray(g->lp, e);
    }
    pthread_cond_signal(&g->grp->cv);
    pthread_mutex_unlock(&g->grp->mu);
}

static void on_done(const omni_usage *u, const char *error, void *user) {
    struct gen *g = user;
    pthread_mutex_lock(&g->grp->mu);
    g->res = *u;
    if (error) snprintf(g->error, sizeof g->error, "%s", error);
    /* counted here, under the group's lock, so the reply thread finds the tokens as soon as
     * it sees the choice done (the usage row is written before the reply's last bytes) */
    api_meter_tokens(g->grp->meter, u->prompt_tokens, u->cached_tokens, u->completion_tokens);
    g->done = 1;
    pthread_cond_signal(&g->grp->cv);
    pthread_mutex_unlock(&g->grp->mu);
}

static int failed(const struct gen *g) { return !g->filtered && !strcmp(g->res.finish_reason, "error"); }

static const char *finish_name(const struct gen *g) {
    if (g->filtered) return "content_filter";
    return !strcmp(g->res.finish_reason, "length") ? "length" : "stop";
}

/* ---- output moderation: the answer held sentence by sentence (moderation/stream_filter.h) ---- */

struct released { char *p; size_t n, cap; };

static int release_to(const char *s, size_t n, void *user) {
    struct released *r = user;
    add_text(&r->p, &r->n, &r->cap, s, n);
    return 0;
}

/* text (taken from the engine, malloc'd or NULL) through the choice's filter: returns what
 * may be shown now (malloc'd, NULL when nothing), text consumed. final: the choice ended,
 * so what is held is checked too. A flagged sentence stops the choice's generation. On the
 * HTTP thread, without the group's lock (a guard model's check takes a while). */
static char *gen_filter(struct gen *g, char *text, int final) {
    if (!g->mf) return text;
    struct released r = {0};
    int rc = 0;
    if (text && *text) rc = mod_stream_push(g->mf, text, strlen(text), release_to, &r);
    if (!rc && final) rc = mod_stream_flush(g->mf, release_to, &r);
    free(text);
    if (rc && !g->filtered) {
        g->filtered = 1;
        if (g->submitted && !g->done) omni_request_cancel(g->req);
    }
    if (r.n) add_text(&g->passed, &g->plen, &g->pcap, r.p, r.n);
    return r.p;
}

/* A whole answer (not streamed) through the filter: g->text becomes what passed. */
static void gen_filter_all(struct gen *g) {
    if (!g->mf) return;
    char *t = gen_filter(g, g->text ? strdup(g->text) : NULL, 1);
    free(g->text);
    g->text = t;
    g->len = t ? strlen(t) : 0;
    g->cap = t ? g->len + 1 : 0;
}

/* A choice that ends without running. */
static void end_unrun(struct gen *g, const char *finish, const char *error) {
    memset(&g->res, 0, sizeof g->res);
    g->res.ttft_ms = -1;
    snprintf(g->res.finish_reason, sizeof g->res.finish_reason, "%s", finish);
    if (error) snprintf(g->error, sizeof g->error, "%.200s", error);
    g->done = 1;
}

/* Completions-style logprobs {tokens, token_logprobs, top_logprobs, text_offset} from chat-style entries. */
static cJSON *completion_logprobs(const cJSON *entries, size_t *offset) {
    cJSON *o = cJSON_CreateObject();
    cJSON *toks = cJSON_AddArrayToObject(o, "tokens"), *lps = cJSON_AddArrayToObject(o, "token_logprobs");
    cJSON *tops = cJSON_AddArrayToObject(o, "top_logprobs"), *offs = cJSON_AddArrayToObject(o, "text_offset");
    const cJSON *e;
    cJSON_ArrayForEach(e, entries) {
        const char *t = cJSON_GetObjectItem(e, "token")->valuestring;
        cJSON_AddItemToArray(toks, cJSON_CreateString(t));
        cJSON_AddItemToArray(lps, cJSON_CreateNumber(cJSON_GetObjectItem(e, "logprob")->valuedouble));
        cJSON *d = cJSON_CreateObject();
        const cJSON *a;
        cJSON_ArrayForEach(a, cJSON_GetObjectItem(e, "top_logprobs")) {
            const char *at = cJSON_GetObjectItem(a, "token")->valuestring;
            if (!cJSON_GetObjectItem(d, at))
                cJSON_AddNumberToObject(d, at, cJSON_GetObjectItem(a, "logprob")->valuedouble);
        }
        cJSON_AddItemToArray(tops, d);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)*offset));
        *offset += strlen(t);
    }
    return o;
}

/* Usage summed over the choices (truncated_messages: what the route left out to fit). */
static cJSON *usage_json(const struct group *grp, int truncated) {
    int prompt = 0, completion = 0, cached = 0, drafted = 0, accepted = 0;
    for (int i = 0; i < grp->n; i++) {
        prompt += grp->g[i].res.prompt_tokens;
        completion += grp->g[i].res.completion_tokens;
        cached += grp->g[i].res.cached_tokens;
        drafted += grp->g[i].res.draft_tokens;
        accepted += grp->g[i].res.draft_accepted;
    }
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", completion);
    cJSON_AddNumberToObject(u, "total_tokens", prompt + completion);
    cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(d, "cached_tokens", cached);
    if (truncated) cJSON_AddNumberToObject(u, "truncated_messages", truncated);
    if (drafted > 0) {
        /* speculative decoding's guesses, in the fields OpenAI reports Predicted Outputs in */
        cJSON *c = cJSON_AddObjectToObject(u, "completion_tokens_details");
        cJSON_AddNumberToObject(c, "accepted_prediction_tokens", accepted);
        cJSON_AddNumberToObject(c, "rejected_prediction_tokens", drafted - accepted);
    }
    return u;
}

/* X-Omni-Truncated: how many messages were left out to fit the context (none: no header). */
static void truncated_header(const struct api_options *o, char *out, size_t cap) {
    if (o->truncated_messages > 0) snprintf(out, cap, "X-Omni-Truncated: %d\r\n", o->truncated_messages);
    else out[0] = 0;
    if (o->capture && o->capture->headers) strncat(out, o->capture->headers, cap - strlen(out) - 1);
}

static void make_id(char *out, size_t cap, const char *prefix) {
    static atomic_ulong counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long long x = (unsigned long long)ts.tv_nsec ^ ((unsigned long long)ts.tv_sec << 30) ^
                           (atomic_fetch_add(&counter, 1) * 0x9E3779B97F4A7C15ull);
    x ^= x >> 31; x *= 0xBF58476D1CE4E5B9ull; x ^= x >> 27;
    snprintf(out, cap, "%s%016llx", prefix, x);
}

/* The envelope every response and chunk shares. */
static cJSON *envelope(const char *id, const char *object, time_t created, const char *model) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "id", id);
    cJSON_AddStringToObject(j, "object", object);
    cJSON_AddNumberToObject(j, "created", (double)created);
    cJSON_AddStringToObject(j, "model", model);
    cJSON_AddStringToObject(j, "system_fingerprint", "omni");
    return j;
}

/* A custom assistant's knowledge passages, as the message's citations (routes_assistants.h). */
static void add_citations(cJSON *msg) {
    const cJSON *cit = api_request_citations();
    if (cit && msg) cJSON_AddItemToObject(msg, "citations", cJSON_Duplicate(cit, 1));
}

/* One streamed chunk with text (may be NULL), logprob entries (taken), finish reason (or NULL). */
static cJSON *stream_chunk(enum api_kind kind, const char *id, time_t created, const char *model, int index,
                           const char *text, const char *reasoning, int role, cJSON *lp, const char *finish,
                           int include_usage, size_t *offset) {
    cJSON *j = envelope(id, kind == API_CHAT ? "chat.completion.chunk" : "text_completion", created, model);
    cJSON *choices = cJSON_AddArrayToObject(j, "choices"), *ch = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, ch);
    cJSON_AddNumberToObject(ch, "index", index);
    if (kind == API_CHAT) {
        cJSON *d = cJSON_AddObjectToObject(ch, "delta");
        if (role) cJSON_AddStringToObject(d, "role", "assistant");
        if (reasoning) cJSON_AddStringToObject(d, "reasoning_content", reasoning);
        if (text) cJSON_AddStringToObject(d, "content", text);
        if (lp) {
            cJSON *l = cJSON_AddObjectToObject(ch, "logprobs");
            cJSON_AddItemToObject(l, "content", lp);
        } else cJSON_AddNullToObject(ch, "logprobs");
    } else {
        cJSON_AddStringToObject(ch, "text", text ? text : "");
        if (lp) { cJSON_AddItemToObject(ch, "logprobs", completion_logprobs(lp, offset)); cJSON_Delete(lp); }
        else cJSON_AddNullToObject(ch, "logprobs");
    }
    if (finish) cJSON_AddStringToObject(ch, "finish_reason", finish);
    else cJSON_AddNullToObject(ch, "finish_reason");
    if (include_usage) cJSON_AddNullToObject(j, "usage");
    return j;
}


/* A chunk whose delta is content and/or tool-call fragments (tc taken, may be NULL). */
static cJSON *tool_chunk(const char *id, time_t created, const char *model, int index, const char *content,
                         cJSON *tc, int include_usage) {
    cJSON *j = envelope(id, "chat.completion.chunk", created, model);
    cJSON *choices = cJSON_AddArrayToObject(j, "choices"), *ch = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, ch);
    cJSON_AddNumberToObject(ch, "index", index);
    cJSON *d = cJSON_AddObjectToObject(ch, "delta");
    if (content) cJSON_AddStringToObject(d, "content", content);
    if (tc) cJSON_AddItemToObject(d, "tool_calls", tc);
    cJSON_AddNullToObject(ch, "logprobs");
    cJSON_AddNullToObject(ch, "finish_reason");
    if (include_usage) cJSON_AddNullToObject(j, "usage");
    return j;
}

/* Parses the answer so far (final: all of it) and sends what is new. Returns 0, or -1
 * when the client is gone. */
static int tool_stream_send(struct mg_connection *c, const struct api_options *o, struct gen *g, const char *id,
                            time_t created, const char *model, int index, int final) {
    struct tool_stream *ts = &g->ts;
    struct tool_parse tp;
    if (tool_parse(o->tools->fmt, ts->all ? ts->all : "", ts->len, !final, &tp)) return 0;
    int rc = 0;
    size_t cl = strlen(tp.content);
    /* content only grows while streaming; the final parse may trim what trails a call */
    if (cl > ts->content_sent) {
        cJSON *j = tool_chunk(id, created, model, index, tp.content + ts->content_sent, NULL, o->include_usage);
        rc = sse_send_json(c, j);
        cJSON_Delete(j);
        ts->content_sent = cl;
    }
    for (int k = 0; k < tp.n_calls && k < MAX_STREAM_CALLS && !rc; k++) {
        const struct tool_call *tc = &tp.calls[k];
        size_t al = strlen(tc->arguments);
        cJSON *arr = NULL, *e = NULL, *fn = NULL;
        if (k >= ts->n_calls) {
            tool_call_id(ts->ids[k], sizeof ts->ids[k]);
            arr = cJSON_CreateArray();
            e = cJSON_CreateObject();
            cJSON_AddItemToArray(arr, e);
            cJSON_AddNumberToObject(e, "index", k);
            cJSON_AddStringToObject(e, "id", ts->ids[k]);
            cJSON_AddStringToObject(e, "type", "function");
            fn = cJSON_AddObjectToObject(e, "function");
            cJSON_AddStringToObject(fn, "name", tc->name);
            cJSON_AddStringToObject(fn, "arguments", "");
            ts->n_calls = k + 1;
            ts->args_sent[k] = 0;
            ts->any_call = 1;
        }
        if (al > ts->args_sent[k]) {
            if (!arr) {
                arr = cJSON_CreateArray();
                e = cJSON_CreateObject();
                cJSON_AddItemToArray(arr, e);
                cJSON_AddNumberToObject(e, "index", k);
                fn = cJSON_AddObjectToObject(e, "function");
                cJSON_AddStringToObject(fn, "arguments", tc->arguments + ts->args_sent[k]);
            } else cJSON_SetValuestring(cJSON_GetObjectItem(fn, "arguments"), tc->arguments + ts->args_sent[k]);
            ts->args_sent[k] = al;
        }
        if (arr) {
            cJSON *j = tool_chunk(id, created, model, index, NULL, arr, o->include_usage);
            rc = sse_send_json(c, j);
            cJSON_Delete(j);
        }
    }
    tool_parse_free(&tp);
    return rc ? -1 : 0;
}

/* Hands the next prompts to the engine while it has room. Called on the HTTP thread
 * without the group's mutex (the engine calls back under its own lock). Returns
 * OMNI_OK, or the refusal of the very first prompt when nothing is running yet. */
static int submit_pending(struct api_server *s, struct group *grp, char *err, size_t err_cap) {
    while (grp->n_next < grp->n) {
        struct gen *g = &grp->g[grp->n_next];
        if (grp->cancelled) {
            pthread_mutex_lock(&grp->mu);
            end_unrun(g, "cancelled", NULL);
            pthread_mutex_unlock(&grp->mu);
            grp->n_next++;
            continue;
        }
        int rc;
        grp->gp.user = g;
        g->req = omni_submit(grp->model, NULL, g->prompt, &grp->gp, &rc, err, err_cap);
        if (rc == OMNI_OK) { g->submitted = 1; grp->n_next++; continue; }
        if (grp->n_next == 0) return rc;
        if (rc == OMNI_ERR_BUSY) {
            /* Ours are running; the rest start as they finish. */
            int running = 0;
            for (int i = 0; i < grp->n_next; i++) running |= grp->g[i].submitted;
            if (running) return OMNI_OK;
        }
        /* Refused later on: this choice ends with the reason as its error. */
        pthread_mutex_lock(&grp->mu);
        end_unrun(g, "error", rc == OMNI_ERR_BUSY ? "the queue is full"
                              : rc == OMNI_ERR_STOPPING ? "the server is shutting down" : err);
        pthread_mutex_unlock(&grp->mu);
        grp->n_next++;
    }
    return OMNI_OK;
}

static int all_done(const struct group *grp) {
    for (int i = 0; i < grp->n; i++)
        if (!grp->g[i].done) return 0;
    return 1;
}

static int has_news(const struct group *grp, int streaming) {
    for (int i = 0; i < grp->n; i++) {
        const struct gen *g = &grp->g[i];
        if (g->done && !g->reported) return 1;
        if (streaming && (g->len || g->rlen || g->lp)) return 1;
    }
    return 0;
}

static void cancel_all(struct group *grp) {
    grp->cancelled = 1;
    for (int i = 0; i < grp->n; i++)
        if (grp->g[i].submitted) omni_request_cancel(grp->g[i].req);
}

/* Waits (mutex held) up to timeout_ms for output or an end; every 50 ms looks whether the
 * client hung up (then cancels everything). Returns 1 when there is news. */
static int wait_news(struct group *grp, int streaming, int timeout_ms) {
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (has_news(grp, streaming) || all_done(grp)) return 1;
        if (!grp->cancelled && ((grp->cancel_flag && atomic_load(grp->cancel_flag)) || api_client_gone(grp->fd)))
            cancel_all(grp);
        struct timespec now, ts;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long waited = (now.tv_sec - t0.tv_sec) * 1000L + (now.tv_nsec - t0.tv_nsec) / 1000000L;
        if (waited >= timeout_ms) return 0;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
        pthread_cond_timedwait(&grp->cv, &grp->mu, &ts);
    }
}

/* The route's capture (single choice): the outcome, then its on_done, before the reply ends. */
static void capture_finish(struct group *grp) {
    struct api_capture *cap = grp->cap;
    if (!cap || !grp->g[0].submitted) return;
    const omni_usage *r = &grp->g[0].res;
    cap->finished = !strcmp(r->finish_reason, "stop") || !strcmp(r->finish_reason, "length");
    if (grp->g[0].mf) {   /* what is kept is what was shown: a flagged sentence never is */
        struct gen *g = &grp->g[0];
        pthread_mutex_lock(&grp->mu);
        cap->len = 0;
        if (g->plen) add_text(&cap->text, &cap->len, &cap->cap, g->passed, g->plen);
        else if (cap->text) cap->text[0] = 0;
        pthread_mutex_unlock(&grp->mu);
        if (g->filtered) cap->finished = 1;
    }
    cap->prompt_tokens = r->prompt_tokens;
    cap->cached_tokens = r->cached_tokens;
    cap->completion_tokens = r->completion_tokens;
    if (cap->on_done) cap->on_done(cap);
}

static int stream_reply(struct api_server *s, struct mg_connection *c, enum api_kind kind,
                        const struct api_options *o, struct group *grp) {
    char id[64];
    make_id(id, sizeof id, kind == API_CHAT ? "chatcmpl-" : "cmpl-");
    time_t created = time(NULL);
    char hdr[1024];
    truncated_header(o, hdr, sizeof hdr);
    int ok = sse_begin(c, hdr) == 0;
    for (int i = 0; ok && kind == API_CHAT && i < grp->n; i++) {
        cJSON *j = stream_chunk(kind, id, created, grp->model_id, i, "", NULL, 1, NULL, NULL, o->include_usage, NULL);
        add_citations(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "choices"), 0), "delta"));
        ok = sse_send_json(c, j) == 0;
        cJSON_Delete(j);
    }
    int any_failed = 0;
    for (int i = 0; o->tools && o->tool_prefix && i < grp->n; i++) {
        struct tool_stream *ts = &grp->g[i].ts;
        add_text(&ts->all, &ts->len, &ts->cap, o->tool_prefix, strlen(o->tool_prefix));
    }
    pthread_mutex_lock(&grp->mu);
    for (;;) {
        int have = wait_news(grp, 1, 5000);
        int n = grp->n;
        /* Take everything new under the lock, write it without. */
        char **text = calloc((size_t)n, sizeof *text);
        char **rtext = calloc((size_t)n, sizeof *rtext);
        cJSON **lp = calloc((size_t)n, sizeof *lp);
        int *ended = calloc((size_t)n, sizeof *ended);
        int finished = 1;
        if (!text || !rtext || !lp || !ended) { cancel_all(grp); ok = 0; }
        for (int i = 0; text && rtext && lp && ended && i < n; i++) {
            struct gen *g = &grp->g[i];
            if (g->len) { text[i] = strndup(g->text, g->len); g->len = 0; }
            if (g->rlen) { rtext[i] = strndup(g->rtext, g->rlen); g->rlen = 0; }
            lp[i] = g->lp;
            g->lp = NULL;
            if (g->done && !g->reported) { ended[i] = 1; g->reported = 1; }
            finished &= g->reported;
        }
        pthread_mutex_unlock(&grp->mu);
        if (!have && ok) ok = sse_comment(c, "keep-alive") == 0;   /* also notices a vanished client */
        for (int i = 0; text && rtext && lp && ended && i < n; i++) {
            struct gen *g = &grp->g[i];
            if (g->mf) text[i] = gen_filter(g, text[i], ended[i]);
            if (rtext[i] && ok) {   /* thoughts first: they come before the answer */
                cJSON *j = stream_chunk(kind, id, created, grp->model_id, i, NULL, rtext[i], 0, NULL, NULL,
                                        o->include_usage, &g->offset);
                ok = sse_send_json(c, j) == 0;
                cJSON_Delete(j);
            }
            if (o->tools && text[i]) {
                struct tool_stream *ts = &g->ts;
                size_t k = strlen(text[i]);
                add_text(&ts->all, &ts->len, &ts->cap, text[i], k);
                if (ok) ok = tool_stream_send(c, o, g, id, created, s->model_id, i, 0) == 0;
                free(text[i]);
                text[i] = NULL;
            }
            if ((text[i] || lp[i]) && ok) {
                cJSON *j = stream_chunk(kind, id, created, grp->model_id, i, text[i] ? text[i] : "", NULL, 0, lp[i],
                                        NULL, o->include_usage, &g->offset);
                lp[i] = NULL;
                ok = sse_send_json(c, j) == 0;
                cJSON_Delete(j);
            }
            if (ended[i] && failed(g)) {
                if (ok && !any_failed) {
                    cJSON *e = api_error_json(500, NULL, "generation_failed", g->error);
                    ok = sse_send_json(c, e) == 0;
                    cJSON_Delete(e);
                }
                any_failed = 1;
            } else if (ended[i] && ok && !any_failed) {
                if (o->tools) ok = tool_stream_send(c, o, g, id, created, grp->model_id, i, 1) == 0;
                const char *fin = o->tools && g->ts.any_call && !g->filtered ? "tool_calls" : finish_name(g);
                cJSON *j = stream_chunk(kind, id, created, grp->model_id, i, kind == API_CHAT ? NULL : "", NULL, 0,
                                        NULL, fin, o->include_usage, &g->offset);
                ok = sse_send_json(c, j) == 0;
                cJSON_Delete(j);
            }
            cJSON_Delete(lp[i]);
            free(text[i]);
            free(rtext[i]);
        }
        free(text);
        free(rtext);
        free(lp);
        free(ended);
        if (!ok || any_failed) cancel_all(grp);
        if (grp->n_next < grp->n) {
            char err[256];
            submit_pending(s, grp, err, sizeof err);
        }
        pthread_mutex_lock(&grp->mu);
        if (finished && all_done(grp)) break;
    }
    pthread_mutex_unlock(&grp->mu);
    capture_finish(grp);
    if (ok && grp->cap && grp->cap->sse_extra) ok = sse_send_json(c, grp->cap->sse_extra) == 0;
    if (ok && !any_failed && o->include_usage) {
        cJSON *j = envelope(id, kind == API_CHAT ? "chat.completion.chunk" : "text_completion", created, grp->model_id);
        cJSON_AddArrayToObject(j, "choices");
        cJSON_AddItemToObject(j, "usage", usage_json(grp, o->truncated_messages));
        ok = sse_send_json(c, j) == 0;
        cJSON_Delete(j);
    }
    if (ok) sse_end(c);
    return 200;
}

/* A finished reply's tool calls: the template's opening (tool_prefix) and text parsed as one;
 * 1 when it parsed (tp filled), 0 without tools or when it did not. */
static int parse_tool_reply(const struct api_options *o, const char *text, struct tool_parse *tp) {
    if (!o->tools) return 0;
    size_t pl = o->tool_prefix ? strlen(o->tool_prefix) : 0, tl = strlen(text);
    char *all = malloc(pl + tl + 1);
    if (!all) return 0;
    memcpy(all, o->tool_prefix ? o->tool_prefix : "", pl);
    memcpy(all + pl, text, tl + 1);
    int parsed = tool_parse(o->tools->fmt, all, pl + tl, 0, tp) == 0;
    free(all);
    return parsed;
}

static int json_reply(struct api_server *s, struct mg_connection *c, enum api_kind kind, const struct api_options *o,
                      struct group *grp) {
    pthread_mutex_lock(&grp->mu);
    while (!all_done(grp)) {
        wait_news(grp, 0, 1000);
        for (int i = 0; i < grp->n; i++) grp->g[i].reported |= grp->g[i].done;
        if (grp->n_next < grp->n) {
            pthread_mutex_unlock(&grp->mu);
            char err[256];
            submit_pending(s, grp, err, sizeof err);
            pthread_mutex_lock(&grp->mu);
        }
    }
    pthread_mutex_unlock(&grp->mu);
    for (int i = 0; i < grp->n; i++) gen_filter_all(&grp->g[i]);
    capture_finish(grp);
    for (int i = 0; i < grp->n; i++)
        if (failed(&grp->g[i]))
            return api_reply_error(c, 500, NULL, "generation_failed", "generation failed: %s", grp->g[i].error);
    char id[64];
    make_id(id, sizeof id, kind == API_CHAT ? "chatcmpl-" : "cmpl-");
    cJSON *j = envelope(id, kind == API_CHAT ? "chat.completion" : "text_completion", time(NULL), grp->model_id);
    cJSON *choices = cJSON_AddArrayToObject(j, "choices");
    for (int i = 0; i < grp->n; i++) {
        struct gen *g = &grp->g[i];
        cJSON *ch = cJSON_CreateObject();
        cJSON_AddItemToArray(choices, ch);
        cJSON_AddNumberToObject(ch, "index", i);
        const char *text = g->text ? g->text : "";
        int called = 0;
        if (kind == API_CHAT) {
            cJSON *msg = cJSON_AddObjectToObject(ch, "message");
            cJSON_AddStringToObject(msg, "role", "assistant");
            struct tool_parse tp = {0};
            int parsed = parse_tool_reply(o, text, &tp);
            if (parsed && tp.n_calls) {
                /* OpenAI: content null when the reply is only calls */
                if (tp.content[0]) cJSON_AddStringToObject(msg, "content", tp.content);
                else cJSON_AddNullToObject(msg, "content");
                cJSON *calls = cJSON_AddArrayToObject(msg, "tool_calls");
                for (int k = 0; k < tp.n_calls; k++) {
                    char cid[32];
                    tool_call_id(cid, sizeof cid);
                    cJSON *e = cJSON_CreateObject();
                    cJSON_AddStringToObject(e, "id", cid);
                    cJSON_AddStringToObject(e, "type", "function");
                    cJSON *fn = cJSON_AddObjectToObject(e, "function");
                    cJSON_AddStringToObject(fn, "name", tp.calls[k].name);
                    cJSON_AddStringToObject(fn, "arguments", tp.calls[k].arguments);
                    cJSON_AddItemToArray(calls, e);
                }
            } else cJSON_AddStringToObject(msg, "content", parsed ? tp.content : text);
            called = parsed && tp.n_calls;
            tool_parse_free(&tp);
            /* llama-server and DeepSeek: the thoughts, only when there are some */
            if (g->rlen) cJSON_AddStringToObject(msg, "reasoning_content", g->rtext);
            cJSON_AddNullToObject(msg, "refusal");
            add_citations(msg);
            if (g->lp) {
                cJSON *l = cJSON_AddObjectToObject(ch, "logprobs");
                cJSON_AddItemToObject(l, "content", g->lp);
                g->lp = NULL;
            } else cJSON_AddNullToObject(ch, "logprobs");
        } else {
            cJSON_AddStringToObject(ch, "text", text);
            size_t off = 0;
            if (g->lp) cJSON_AddItemToObject(ch, "logprobs", completion_logprobs(g->lp, &off));
            else cJSON_AddNullToObject(ch, "logprobs");
        }
        cJSON_AddStringToObject(ch, "finish_reason", kind == API_CHAT && called && !g->filtered ? "tool_calls" : finish_name(g));
    }
    cJSON_AddItemToObject(j, "usage", usage_json(grp, o->truncated_messages));
    char hdr[1024];
    truncated_header(o, hdr, sizeof hdr);
    api_reply_json_headers(c, 200, j, hdr);
    cJSON_Delete(j);
    return 200;
}

/* ---- Anthropic's Messages API (kind API_MESSAGES; one prompt) ---- */

/* stop_reason and stop_sequence of a finished choice. */
static const char *messages_stop_reason(const struct gen *g, const struct api_options *o, const char **stop_seq) {
    *stop_seq = NULL;
    if (g->filtered) return "refusal";   /* Anthropic's word for a reply its classifiers stopped */
    if (!strcmp(g->res.finish_reason, "length")) return "max_tokens";
    int k = g->res.stop_string;
    if (k > 0 && k <= o->n_stop) { *stop_seq = o->stop[k - 1]; return "stop_sequence"; }
    return "end_turn";
}

/* usage as Anthropic counts it: input_tokens are those not read from the (prompt) cache,
 * so input + cache_read is the whole prompt. */
static cJSON *messages_usage(int input_tokens, int cached, int output_tokens) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "input_tokens", input_tokens - cached);
    cJSON_AddNumberToObject(u, "cache_creation_input_tokens", 0);
    cJSON_AddNumberToObject(u, "cache_read_input_tokens", cached);
    cJSON_AddNumberToObject(u, "output_tokens", output_tokens);
    return u;
}

static cJSON *messages_block(int thinking, const char *text) {
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", thinking ? "thinking" : "text");
    cJSON_AddStringToObject(b, thinking ? "thinking" : "text", text);
    /* Anthropic signs thoughts so they can be sent back; a local model's need no check */
    if (thinking) cJSON_AddStringToObject(b, "signature", "");
    return b;
}

static cJSON *messages_envelope(const char *id, const char *model) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", id);
    cJSON_AddStringToObject(m, "type", "message");
    cJSON_AddStringToObject(m, "role", "assistant");
    cJSON_AddStringToObject(m, "model", model);
    return m;
}

static int messages_json_reply(struct api_server *s, struct mg_connection *c, const struct api_options *o,
                               struct group *grp) {
    pthread_mutex_lock(&grp->mu);
    while (!all_done(grp)) wait_news(grp, 0, 1000);
    pthread_mutex_unlock(&grp->mu);
    struct gen *g = &grp->g[0];
    g->reported = 1;
    gen_filter_all(g);
    if (failed(g)) return api_reply_error(c, 500, NULL, "generation_failed", "generation failed: %s", g->error);
    char id[64];
    make_id(id, sizeof id, "msg_");
    cJSON *j = messages_envelope(id, grp->model_id);
    cJSON *content = cJSON_AddArrayToObject(j, "content");
    if (g->rlen) cJSON_AddItemToArray(content, messages_block(1, g->rtext));
    if (g->len) cJSON_AddItemToArray(content, messages_block(0, g->text));
    const char *seq, *reason = messages_stop_reason(g, o, &seq);
    cJSON_AddStringToObject(j, "stop_reason", reason);
    if (seq) cJSON_AddStringToObject(j, "stop_sequence", seq);
    else cJSON_AddNullToObject(j, "stop_sequence");
    cJSON_AddItemToObject(j, "usage", messages_usage(g->res.prompt_tokens, g->res.cached_tokens,
                                                      g->res.completion_tokens));
    char hdr[64];
    truncated_header(o, hdr, sizeof hdr);
    api_reply_json_headers(c, 200, j, hdr);
    cJSON_Delete(j);
    return 200;
}

/* An event object: {"type": type, ...}; messages_send writes it as "event: type". */
static cJSON *messages_ev(const char *type) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "type", type);
    return j;
}

/* Sends j (taken) under its own type's event name. */
static int messages_send(struct mg_connection *c, cJSON *j) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
    int r = cJSON_IsString(t) ? sse_send_event(c, t->valuestring, j) : -1;
    cJSON_Delete(j);
    return r;
}

static int messages_block_start(struct mg_connection *c, int index, int thinking) {
    cJSON *j = messages_ev("content_block_start");
    cJSON_AddNumberToObject(j, "index", index);
    cJSON_AddItemToObject(j, "content_block", messages_block(thinking, ""));
    return messages_send(c, j);
}

static int messages_block_stop(struct mg_connection *c, int index) {
    cJSON *j = messages_ev("content_block_stop");
    cJSON_AddNumberToObject(j, "index", index);
    return messages_send(c, j);
}

static int messages_delta(struct mg_connection *c, int index, int thinking, const char *text) {
    cJSON *j = messages_ev("content_block_delta");
    cJSON_AddNumberToObject(j, "index", index);
    cJSON *d = cJSON_AddObjectToObject(j, "delta");
    cJSON_AddStringToObject(d, "type", thinking ? "thinking_delta" : "text_delta");
    cJSON_AddStringToObject(d, thinking ? "thinking" : "text", text);
    return messages_send(c, j);
}

/* Anthropic's event order: message_start, ping, then per block content_block_start,
 * content_block_delta..., content_block_stop (thoughts in a thinking block before the
 * text block), then message_delta (stop_reason, usage) and message_stop. */
static int messages_stream_reply(struct api_server *s, struct mg_connection *c, const struct api_options *o,
                                 struct group *grp) {
    struct gen *g = &grp->g[0];
    char id[64];
    make_id(id, sizeof id, "msg_");
    char hdr[64];
    truncated_header(o, hdr, sizeof hdr);
    int ok = sse_begin(c, hdr) == 0;
    cJSON *start = messages_ev("message_start"), *m = messages_envelope(id, grp->model_id);
    cJSON_AddArrayToObject(m, "content");
    cJSON_AddNullToObject(m, "stop_reason");
    cJSON_AddNullToObject(m, "stop_sequence");
    cJSON_AddItemToObject(m, "usage", messages_usage(g->prompt->n, 0, 0));
    cJSON_AddItemToObject(start, "message", m);
    if (ok) ok = messages_send(c, start) == 0;
    else cJSON_Delete(start);
    ok = ok && messages_send(c, messages_ev("ping")) == 0;
    int block = -1, block_thinking = 0, ended = 0;
    pthread_mutex_lock(&grp->mu);
    while (!ended) {
        int have = wait_news(grp, 1, 5000);
        char *rtext = g->rlen ? strndup(g->rtext, g->rlen) : NULL, *text = g->len ? strndup(g->text, g->len) : NULL;
        g->rlen = g->len = 0;
        cJSON_Delete(g->lp);
        g->lp = NULL;
        ended = g->done;
        g->reported = ended;
        pthread_mutex_unlock(&grp->mu);
        if (g->mf) text = gen_filter(g, text, ended);
        if (!have && ok) ok = messages_send(c, messages_ev("ping")) == 0;
        for (int k = 0; k < 2 && ok; k++) {   /* thoughts first: they come before the answer */
            const char *t = k == 0 ? rtext : text;
            if (!t) continue;
            if (block < 0 || block_thinking != (k == 0)) {
                if (block >= 0) ok = messages_block_stop(c, block) == 0;
                block++;
                block_thinking = k == 0;
                ok = ok && messages_block_start(c, block, block_thinking) == 0;
            }
            ok = ok && messages_delta(c, block, k == 0, t) == 0;
        }
        free(rtext);
        free(text);
        if (ended && ok && failed(g)) {
            cJSON *e = api_error_json(500, NULL, "generation_failed", g->error);
            ok = sse_send_event(c, "error", e) == 0;
            cJSON_Delete(e);
            if (ok) sse_close(c);
            ok = 0;
        } else if (ended && ok) {
            if (block >= 0) ok = messages_block_stop(c, block) == 0;
            const char *seq, *reason = messages_stop_reason(g, o, &seq);
            cJSON *j = messages_ev("message_delta"), *d = cJSON_AddObjectToObject(j, "delta");
            cJSON_AddStringToObject(d, "stop_reason", reason);
            if (seq) cJSON_AddStringToObject(d, "stop_sequence", seq);
            else cJSON_AddNullToObject(d, "stop_sequence");
            cJSON_AddItemToObject(j, "usage", messages_usage(g->res.prompt_tokens, g->res.cached_tokens,
                                                              g->res.completion_tokens));
            if (ok) ok = messages_send(c, j) == 0;
            else cJSON_Delete(j);
            ok = ok && messages_send(c, messages_ev("message_stop")) == 0;
            if (ok) sse_close(c);
        }
        if (!ok) cancel_all(grp);
        pthread_mutex_lock(&grp->mu);
        if (!ok) {   /* the client is gone: wait only for the engine to let go */
            while (!all_done(grp)) wait_news(grp, 0, 1000);
            ended = 1;
        }
    }
    pthread_mutex_unlock(&grp->mu);
    return 200;
}

/* ---- the Responses API (POST /v1/responses): one choice, answered as a response
 * object with output items, or streamed as its typed events ---- */

static void item_id(char *out, size_t cap, const char *prefix) {
    char r[32];
    tool_call_id(r, sizeof r);   /* "call_" + 24 random characters */
    snprintf(out, cap, "%s_%s", prefix, r + 5);
}

static cJSON *response_usage(const struct gen *g) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "input_tokens", g->res.prompt_tokens);
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(u, "input_tokens_details"), "cached_tokens", g->res.cached_tokens);
    cJSON_AddNumberToObject(u, "output_tokens", g->res.completion_tokens);
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(u, "output_tokens_details"), "reasoning_tokens", 0);
    cJSON_AddNumberToObject(u, "total_tokens", g->res.prompt_tokens + g->res.completion_tokens);
    return u;
}

/* The response object; output (taken) may be NULL for "in progress". */
static cJSON *response_object(struct api_server *s, const struct api_options *o, const char *id, time_t created,
                              const char *status, cJSON *output, const struct gen *g) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "id", id);
    cJSON_AddStringToObject(r, "object", "response");
    cJSON_AddNumberToObject(r, "created_at", (double)created);
    cJSON_AddStringToObject(r, "status", status);
    cJSON_AddStringToObject(r, "model", o->model_id ? o->model_id : s->model_id);
    cJSON_AddItemToObject(r, "output", output ? output : cJSON_CreateArray());
    cJSON_AddBoolToObject(r, "parallel_tool_calls", o->tools ? o->tools->parallel : 1);
    cJSON_AddNumberToObject(r, "temperature", o->sampling.temperature);
    cJSON_AddNumberToObject(r, "top_p", o->sampling.top_p);
    if (o->max_tokens > 0) cJSON_AddNumberToObject(r, "max_output_tokens", o->max_tokens);
    else cJSON_AddNullToObject(r, "max_output_tokens");
    cJSON_AddNullToObject(r, "previous_response_id");
    cJSON_AddNullToObject(r, "error");
    if (g && (g->filtered || !strcmp(g->res.finish_reason, "length"))) {
        cJSON *d = cJSON_AddObjectToObject(r, "incomplete_details");
        cJSON_AddStringToObject(d, "reason", g->filtered ? "content_filter" : "max_output_tokens");
    } else cJSON_AddNullToObject(r, "incomplete_details");
    cJSON_AddStringToObject(r, "truncation", o->truncation ? "auto" : "disabled");
    if (g) cJSON_AddItemToObject(r, "usage", response_usage(g));
    else cJSON_AddNullToObject(r, "usage");
    /* the stored state's fields (previous_response_id, conversation, store, background …) */
    const cJSON *x;
    if (o->resp && o->resp->extra) cJSON_ArrayForEach(x, o->resp->extra) {
        cJSON *v = cJSON_Duplicate(x, 1);
        if (!v) continue;
        if (cJSON_GetObjectItemCaseSensitive(r, x->string)) cJSON_ReplaceItemInObjectCaseSensitive(r, x->string, v);
        else cJSON_AddItemToObject(r, x->string, v);
    }
    return r;
}

/* The response's id: the route's (stored responses name theirs first) or a new one. */
static void response_id(const struct api_options *o, char *id, size_t cap) {
    if (o->resp && o->resp->id[0]) snprintf(id, cap, "%s", o->resp->id);
    else item_id(id, cap, "resp");
}

static cJSON *message_item(const char *id, const char *text, const char *status) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "type", "message");
    cJSON_AddStringToObject(m, "id", id);
    cJSON_AddStringToObject(m, "status", status);
    cJSON_AddStringToObject(m, "role", "assistant");
    cJSON *content = cJSON_AddArrayToObject(m, "content");
    if (text) {
        cJSON *part = cJSON_CreateObject();
        cJSON_AddStringToObject(part, "type", "output_text");
        cJSON_AddStringToObject(part, "text", text);
        cJSON_AddArrayToObject(part, "annotations");
        cJSON_AddItemToArray(content, part);
    }
    return m;
}

/* The file_search tool's citations (api/file_search.h) on a finished message item: each
 * file_citation gets the text's length in characters as its index (cited at the end). */
static cJSON *cite(cJSON *msg, const char *text) {
    const struct api_rs_extra *x = api_rs_extra();
    cJSON *part = cJSON_GetArrayItem(cJSON_GetObjectItem(msg, "content"), 0);
    if (!x || !x->annotations || !part || !text) return msg;
    size_t chars = 0;
    for (const char *p = text; *p; p++) chars += ((unsigned char)*p & 0xC0) != 0x80;
    cJSON *a = cJSON_Duplicate(x->annotations, 1), *it;
    cJSON_ArrayForEach(it, a) cJSON_AddNumberToObject(it, "index", (double)chars);
    cJSON_ReplaceItemInObjectCaseSensitive(part, "annotations", a);
    return msg;
}

static cJSON *call_item(const char *id, const char *call_id, const char *name, const char *args, const char *status) {
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "type", "function_call");
    cJSON_AddStringToObject(f, "id", id);
    cJSON_AddStringToObject(f, "call_id", call_id);
    cJSON_AddStringToObject(f, "name", name);
    cJSON_AddStringToObject(f, "arguments", args);
    cJSON_AddStringToObject(f, "status", status);
    return f;
}

static cJSON *reasoning_item(const char *id, const char *text) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "type", "reasoning");
    cJSON_AddStringToObject(r, "id", id);
    cJSON_AddArrayToObject(r, "summary");
    cJSON *content = cJSON_AddArrayToObject(r, "content");
    if (text) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "type", "reasoning_text");
        cJSON_AddStringToObject(p, "text", text);
        cJSON_AddItemToArray(content, p);
    }
    return r;
}

static int responses_json(struct api_server *s, struct mg_connection *c, const struct api_options *o,
                          struct group *grp) {
    struct api_resp_hook *h = o->resp;
    char rid[64];
    response_id(o, rid, sizeof rid);
    time_t created = time(NULL);
    if (h && h->background) {
        /* answered now, queued; the run goes on after the client has gone, until done or
         * cancelled, and its result is stored (on_final) */
        cJSON *q = response_object(s, o, rid, created, "queued", NULL, NULL);
        pthread_mutex_lock(&grp->mu);
        grp->fd = -1;
        pthread_mutex_unlock(&grp->mu);
        if (h->on_start) h->on_start(h, q);
        api_reply_then_close(c);   /* a keep-alive client must not queue its polls behind this run */
        api_reply_json(c, 200, q);
        cJSON_Delete(q);
    }
    pthread_mutex_lock(&grp->mu);
    while (!all_done(grp)) wait_news(grp, 0, 1000);
    int cancelled = grp->cancelled;
    pthread_mutex_unlock(&grp->mu);
    struct gen *g = &grp->g[0];
    gen_filter_all(g);
    if (failed(g) || (h && h->background && cancelled)) {
        if (!(h && h->background))
            return api_reply_error(c, 500, NULL, "generation_failed", "generation failed: %s", g->error);
        cJSON *r = response_object(s, o, rid, created, cancelled ? "cancelled" : "failed", NULL, NULL);
        if (!cancelled) {
            cJSON *er = cJSON_CreateObject();
            cJSON_AddStringToObject(er, "code", "server_error");
            cJSON_AddStringToObject(er, "message", g->error);
            cJSON_ReplaceItemInObjectCaseSensitive(r, "error", er);
        }
        if (h->on_final) h->on_final(h, r);
        cJSON_Delete(r);
        return 200;
    }
    const char *text = g->text ? g->text : "";
    struct tool_parse tp = {0};
    int parsed = parse_tool_reply(o, text, &tp);
    cJSON *out = cJSON_CreateArray();
    char id[64];
    const struct api_rs_extra *xr = api_rs_extra();
    const cJSON *pre;
    if (xr && xr->pre_items) cJSON_ArrayForEach(pre, xr->pre_items) cJSON_AddItemToArray(out, cJSON_Duplicate(pre, 1));
    if (g->rlen) {
        item_id(id, sizeof id, "rs");
        cJSON_AddItemToArray(out, reasoning_item(id, g->rtext));
    }
    const char *content = parsed ? tp.content : text;
    if (content[0] || !parsed || !tp.n_calls) {
        item_id(id, sizeof id, "msg");
        cJSON_AddItemToArray(out, cite(message_item(id, content, "completed"), content));
    }
    for (int k = 0; parsed && k < tp.n_calls; k++) {
        char cid[32];
        tool_call_id(cid, sizeof cid);
        item_id(id, sizeof id, "fc");
        cJSON_AddItemToArray(out, call_item(id, cid, tp.calls[k].name, tp.calls[k].arguments, "completed"));
    }
    tool_parse_free(&tp);
    cJSON *r = response_object(s, o, rid, created,
                               g->filtered || !strcmp(g->res.finish_reason, "length") ? "incomplete" : "completed", out, g);
    if (h && h->on_final) h->on_final(h, r);   /* stored before the client can read it */
    if (!(h && h->background)) api_reply_json_headers(c, 200, r, NULL);
    cJSON_Delete(r);
    return 200;
}

/* The stream's state: items in output order, the open one's kind. */
struct rstream {
    struct mg_connection *c;
    int seq, ok;
    cJSON *done_items;        /* finished items, in order (for response.completed) */
    int n_items;
    int open;                 /* 0 none, 1 message, 2 function call, 3 reasoning */
    char open_id[64];
    char *open_text;          /* the open item's text or arguments so far */
    size_t open_len, open_cap;
    char call_id[32], call_name[80];
};

static void rs_send(struct rstream *st, const char *type, cJSON *ev) {
    cJSON_AddStringToObject(ev, "type", type);
    cJSON_AddNumberToObject(ev, "sequence_number", st->seq++);
    if (st->ok) st->ok = sse_send_event(st->c, type, ev) == 0;
    cJSON_Delete(ev);
}

static cJSON *rs_item_event(const struct rstream *st, cJSON *item) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "output_index", st->n_items);
    cJSON_AddItemToObject(e, "item", item);
    return e;
}

/* Closes the open item: its done events, and it joins done_items. */
static void rs_close(struct rstream *st) {
    const char *t = st->open_text ? st->open_text : "";
    cJSON *item = NULL, *e;
    if (st->open == 1) {
        e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "item_id", st->open_id);
        cJSON_AddNumberToObject(e, "output_index", st->n_items);
        cJSON_AddNumberToObject(e, "content_index", 0);
        cJSON_AddStringToObject(e, "text", t);
        rs_send(st, "response.output_text.done", e);
        cJSON *tmp = cite(message_item(st->open_id, t, "completed"), t);
        e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "item_id", st->open_id);
        cJSON_AddNumberToObject(e, "output_index", st->n_items);
        cJSON_AddNumberToObject(e, "content_index", 0);
        cJSON_AddItemToObject(e, "part", cJSON_Duplicate(cJSON_GetArrayItem(cJSON_GetObjectItem(tmp, "content"), 0), 1));
        cJSON_Delete(tmp);
        rs_send(st, "response.content_part.done", e);
        item = cite(message_item(st->open_id, t, "completed"), t);
    } else if (st->open == 2) {
        e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "item_id", st->open_id);
        cJSON_AddNumberToObject(e, "output_index", st->n_items);
        cJSON_AddStringToObject(e, "arguments", t);
        rs_send(st, "response.function_call_arguments.done", e);
        item = call_item(st->open_id, st->call_id, st->call_name, t, "completed");
    } else if (st->open == 3) {
        item = reasoning_item(st->open_id, t);
    }
    if (item) {
        rs_send(st, "response.output_item.done", rs_item_event(st, cJSON_Duplicate(item, 1)));
        cJSON_AddItemToArray(st->done_items, item);
        st->n_items++;
    }
    st->open = 0;
    st->open_len = 0;
    if (st->open_text) st->open_text[0] = 0;
}

static void rs_open(struct rstream *st, int kind, const char *name) {
    rs_close(st);
    st->open = kind;
    if (kind == 1) {
        item_id(st->open_id, sizeof st->open_id, "msg");
        rs_send(st, "response.output_item.added", rs_item_event(st, message_item(st->open_id, NULL, "in_progress")));
        cJSON *e = cJSON_CreateObject(), *part = cJSON_AddObjectToObject(e, "part");
        cJSON_AddStringToObject(e, "item_id", st->open_id);
        cJSON_AddNumberToObject(e, "output_index", st->n_items);
        cJSON_AddNumberToObject(e, "content_index", 0);
        cJSON_AddStringToObject(part, "type", "output_text");
        cJSON_AddStringToObject(part, "text", "");
        cJSON_AddArrayToObject(part, "annotations");
        rs_send(st, "response.content_part.added", e);
    } else if (kind == 2) {
        item_id(st->open_id, sizeof st->open_id, "fc");
        tool_call_id(st->call_id, sizeof st->call_id);
        snprintf(st->call_name, sizeof st->call_name, "%s", name);
        rs_send(st, "response.output_item.added",
                rs_item_event(st, call_item(st->open_id, st->call_id, name, "", "in_progress")));
    } else {
        item_id(st->open_id, sizeof st->open_id, "rs");
        rs_send(st, "response.output_item.added", rs_item_event(st, reasoning_item(st->open_id, NULL)));
    }
}

/* Text for the open item: its delta event. */
static void rs_delta(struct rstream *st, const char *d) {
    if (!*d) return;
    add_text(&st->open_text, &st->open_len, &st->open_cap, d, strlen(d));
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "item_id", st->open_id);
    cJSON_AddNumberToObject(e, "output_index", st->n_items);
    if (st->open != 2) cJSON_AddNumberToObject(e, "content_index", 0);
    cJSON_AddStringToObject(e, "delta", d);
    rs_send(st, st->open == 1 ? "response.output_text.delta" : st->open == 2 ? "response.function_call_arguments.delta"
                                                                             : "response.reasoning_text.delta", e);
}

/* Parses the answer so far and sends what is new as events. */
static void rs_answer(struct rstream *st, const struct api_options *o, struct gen *g, int final) {
    struct tool_stream *ts = &g->ts;
    struct tool_parse tp;
    int have = 0;
    if (o->tools) have = tool_parse(o->tools->fmt, ts->all ? ts->all : "", ts->len, !final, &tp) == 0;
    const char *content = have ? tp.content : ts->all ? ts->all : "";
    size_t cl = strlen(content);
    if (cl > ts->content_sent && (!have || ts->n_calls == 0)) {
        if (st->open != 1) rs_open(st, 1, NULL);
        rs_delta(st, content + ts->content_sent);
        ts->content_sent = cl;
    }
    for (int k = 0; have && k < tp.n_calls && k < MAX_STREAM_CALLS; k++) {
        const struct tool_call *tc = &tp.calls[k];
        if (k >= ts->n_calls) {
            rs_open(st, 2, tc->name);
            ts->n_calls = k + 1;
            ts->args_sent[k] = 0;
            ts->any_call = 1;
        }
        size_t al = strlen(tc->arguments);
        if (k == ts->n_calls - 1 && st->open == 2 && al > ts->args_sent[k]) {
            rs_delta(st, tc->arguments + ts->args_sent[k]);
            ts->args_sent[k] = al;
        }
    }
    if (have) tool_parse_free(&tp);
}

static int responses_stream(struct api_server *s, struct mg_connection *c, const struct api_options *o,
                            struct group *grp) {
    struct rstream st = {.c = c, .ok = 1};
    st.done_items = cJSON_CreateArray();
    char id[64];
    response_id(o, id, sizeof id);
    time_t created = time(NULL);
    struct gen *g = &grp->g[0];
    struct api_resp_hook *h = o->resp;
    const int bg = h && h->background;   /* streamed, and run to its end (or cancel) if the client goes */
    if (bg) {
        pthread_mutex_lock(&grp->mu);
        grp->fd = -1;
        pthread_mutex_unlock(&grp->mu);
        cJSON *q = response_object(s, o, id, created, "queued", NULL, NULL);
        if (h->on_start) h->on_start(h, q);
        cJSON_Delete(q);
    }
    if (o->tools && o->tool_prefix) add_text(&g->ts.all, &g->ts.len, &g->ts.cap, o->tool_prefix, strlen(o->tool_prefix));
    st.ok = sse_begin(c, NULL) == 0;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddItemToObject(e, "response", response_object(s, o, id, created, "in_progress", NULL, NULL));
    rs_send(&st, "response.created", e);
    e = cJSON_CreateObject();
    cJSON_AddItemToObject(e, "response", response_object(s, o, id, created, "in_progress", NULL, NULL));
    rs_send(&st, "response.in_progress", e);
    /* what ran before the model (the file_search tool): its item's events, as OpenAI sends them */
    const struct api_rs_extra *xr = api_rs_extra();
    const cJSON *pre;
    if (xr && xr->pre_items) cJSON_ArrayForEach(pre, xr->pre_items) {
        const cJSON *pid = cJSON_GetObjectItem(pre, "id"), *pty = cJSON_GetObjectItem(pre, "type");
        cJSON *added = cJSON_Duplicate(pre, 1);
        cJSON_ReplaceItemInObjectCaseSensitive(added, "status", cJSON_CreateString("in_progress"));
        rs_send(&st, "response.output_item.added", rs_item_event(&st, added));
        static const char *const phases[] = {"in_progress", "searching", "completed"};
        for (int k = 0; k < 3 && cJSON_IsString(pid) && cJSON_IsString(pty); k++) {
            char type[96];
            snprintf(type, sizeof type, "response.%s.%s", pty->valuestring, phases[k]);
            cJSON *ev = cJSON_CreateObject();
            cJSON_AddStringToObject(ev, "item_id", pid->valuestring);
            cJSON_AddNumberToObject(ev, "output_index", st.n_items);
            rs_send(&st, type, ev);
        }
        rs_send(&st, "response.output_item.done", rs_item_event(&st, cJSON_Duplicate(pre, 1)));
        cJSON_AddItemToArray(st.done_items, cJSON_Duplicate(pre, 1));
        st.n_items++;
    }
    pthread_mutex_lock(&grp->mu);
    for (;;) {
        int have = wait_news(grp, 1, 5000);
        char *text = g->len ? strndup(g->text, g->len) : NULL, *rtext = g->rlen ? strndup(g->rtext, g->rlen) : NULL;
        g->len = g->rlen = 0;
        cJSON_Delete(g->lp);
        g->lp = NULL;
        int ended = g->done;
        pthread_mutex_unlock(&grp->mu);
        if (g->mf) text = gen_filter(g, text, ended);
        if (!have && st.ok) st.ok = sse_comment(c, "keep-alive") == 0;
        if (rtext) {
            if (st.open != 3) rs_open(&st, 3, NULL);
            rs_delta(&st, rtext);
        }
        if (text) {
            add_text(&g->ts.all, &g->ts.len, &g->ts.cap, text, strlen(text));
            if (st.open == 3) rs_close(&st);
            rs_answer(&st, o, g, 0);
        }
        free(text);
        free(rtext);
        if (!st.ok && !bg) cancel_all(grp);
        if (ended) break;
        pthread_mutex_lock(&grp->mu);
    }
    pthread_mutex_lock(&grp->mu);
    const int cancelled = bg && grp->cancelled;
    pthread_mutex_unlock(&grp->mu);
    if (failed(g) && !cancelled) {
        e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "code", "generation_failed");
        cJSON_AddStringToObject(e, "message", g->error);
        cJSON_AddNullToObject(e, "param");
        rs_send(&st, "error", e);
        if (bg && h->on_final) {
            cJSON *r = response_object(s, o, id, created, "failed", NULL, NULL), *er = cJSON_CreateObject();
            cJSON_AddStringToObject(er, "code", "server_error");
            cJSON_AddStringToObject(er, "message", g->error);
            cJSON_ReplaceItemInObjectCaseSensitive(r, "error", er);
            h->on_final(h, r);
            cJSON_Delete(r);
        }
    } else {
        if (st.open == 3) rs_close(&st);
        rs_answer(&st, o, g, 1);
        if (!st.n_items && !st.open) rs_open(&st, 1, NULL);   /* an empty answer is an empty message */
        rs_close(&st);
        int incomplete = g->filtered || !strcmp(g->res.finish_reason, "length");
        const char *status = cancelled ? "cancelled" : incomplete ? "incomplete" : "completed";
        e = cJSON_CreateObject();
        cJSON_AddItemToObject(e, "response", response_object(s, o, id, created, status, st.done_items, g));
        st.done_items = NULL;
        /* stored before the client reads the end; a plain stream's client that left gets
         * nothing stored (its answer never reached anyone), a background one's does */
        if (h && h->on_final && (st.ok || bg)) h->on_final(h, cJSON_GetObjectItem(e, "response"));
        rs_send(&st, cancelled ? "response.cancelled" : incomplete ? "response.incomplete" : "response.completed", e);
    }
    cJSON_Delete(st.done_items);
    free(st.open_text);
    if (st.ok) sse_close(c);
    return 200;
}

/* Sets up the group of n choices for o's generation fields. Returns -1 when out of memory. */
static int group_init(struct api_server *s, struct mg_connection *c, int chat, const struct api_options *o,
                      const omni_prompt *prompts, int n, struct group **out) {
    struct group *grp = calloc(1, sizeof *grp);
    struct gen *gs = calloc((size_t)(n > 0 ? n : 1), sizeof *gs);
    if (!grp || !gs) {
        free(grp);
        free(gs);
        return -1;
    }
    pthread_mutex_init(&grp->mu, NULL);
    pthread_cond_init(&grp->cv, NULL);
    grp->model = o->model ? o->model : s->model;
    grp->model_id = o->model_id ? o->model_id : s->model_id;
    grp->want_lp = o->logprobs;
    grp->n = n;
    grp->g = gs;
    /* a background response runs on when its client has gone (only cancel stops it) */
    grp->fd = o->resp && o->resp->background ? -1 : api_client_socket(c);
    omni_generate_params *gp = &grp->gp;
    *gp = omni_generate_default_params();
    gp->max_tokens = o->max_tokens;
    gp->sampling = o->sampling;
    gp->stop = (const char *const *)o->stop;
    gp->n_stop = o->n_stop;
    gp->logprobs = o->logprobs;
    gp->top_logprobs = o->logprobs ? o->top_logprobs : 0;
    gp->json_object = o->json_mode;
    gp->json_schema = o->schema;
    gp->lazy_json = o->lazy_json;
    gp->n_lazy_json = o->n_lazy_json;
    gp->reasoning = chat ? o->reasoning : OMNI_REASONING_NONE;
    gp->adapter = o->adapter;
    gp->on_token = on_piece;
    gp->on_done = on_done;
    grp->cap = n == 1 ? o->capture : NULL;
    grp->cancel_flag = o->resp ? &o->resp->cancel : NULL;
    grp->meter = api_meter_current();
    struct api_guard *guard = api_guard_current();
    int filter = api_guard_output_active(guard);
    for (int i = 0; i < n; i++) {
        gs[i].grp = grp;
        gs[i].prompt = &prompts[i];
        if (filter && (gs[i].mf = malloc(sizeof *gs[i].mf))) mod_stream_init(gs[i].mf, api_guard_sentence, guard);
    }
    *out = grp;
    return 0;
}

/* Submits the group's prompts unless one is too long. Returns 0 when they run, else
 * fills *ref with why nothing runs (every prompt must fit: a list is answered whole). */
static int group_start(struct api_server *s, struct group *grp, struct api_gen_refusal *ref) {
    const int n_ctx = omni_request_n_ctx(grp->model, NULL), n = grp->n;
    int too_long = -1;
    for (int i = 0; i < n && too_long < 0; i++)
        if (grp->g[i].prompt->n >= n_ctx) too_long = i;
    char err[256] = "";
    int rc = too_long >= 0 ? OMNI_OK : submit_pending(s, grp, err, sizeof err);
    omni_engine_stats es;
    omni_model_engine_stats(grp->model, &es);
    ref->status = 400;
    ref->code = "context_length_exceeded";
    if (too_long >= 0 && n == 1)
        snprintf(ref->msg, sizeof ref->msg, "the prompt is %d tokens; this server's context is %d tokens per request",
                 grp->g[0].prompt->n, n_ctx);
    else if (too_long >= 0)
        snprintf(ref->msg, sizeof ref->msg,
                 "prompt %d of the list is %d tokens; this server's context is %d tokens per request", too_long,
                 grp->g[too_long].prompt->n, n_ctx);
    else if (rc == OMNI_ERR_BUSY) {
        ref->status = 429;
        ref->code = "queue_full";
        snprintf(ref->msg, sizeof ref->msg, "all %d slots are busy and the queue is full; retry shortly", es.n_slots);
    } else if (rc == OMNI_ERR_STOPPING) {
        ref->status = 503;
        ref->code = "shutting_down";
        snprintf(ref->msg, sizeof ref->msg, "the server is shutting down");
    } else if (rc != OMNI_OK)
        snprintf(ref->msg, sizeof ref->msg, "%s", err);
    else
        return 0;
    return -1;
}

static void group_count(struct api_server *s, const struct group *grp) {
    for (int i = 0; i < grp->n; i++) {
        const omni_usage *r = &grp->g[i].res;
        if (!grp->g[i].submitted) continue;
        metrics_count_generation(&s->metrics, r->prompt_tokens, r->cached_tokens, r->completion_tokens,
                                 r->ttft_ms >= 0 ? r->ttft_ms / 1e3 : -1,
                                 r->ttft_ms >= 0 ? (r->total_ms - r->ttft_ms) / 1e3 : 0);
    }
}

static void group_free(struct group *grp) {
    for (int i = 0; i < grp->n; i++) {
        /* every submitted choice has had its on_done: the replies wait for all */
        struct gen *g = &grp->g[i];
        omni_request_free(g->req);
        cJSON_Delete(g->lp);
        free(g->text);
        free(g->rtext);
        free(g->ts.all);
        free(g->toks);
        if (g->mf) mod_stream_free(g->mf);
        free(g->mf);
        free(g->passed);
    }
    pthread_mutex_destroy(&grp->mu);
    pthread_cond_destroy(&grp->cv);
    free(grp->g);
    free(grp);
}

int api_generate_many(struct api_server *s, struct mg_connection *c, enum api_kind kind, const struct api_options *o,
                      const omni_prompt *prompts, int n, const char *prompt_param) {
    struct group *grp;
    if (group_init(s, c, kind != API_COMPLETION, o, prompts, n, &grp))
        return api_reply_error(c, 503, NULL, NULL, "out of memory");
    struct api_gen_refusal ref;
    int status;
    if (group_start(s, grp, &ref))
        status = api_reply_error(c, ref.status, ref.status == 400 ? prompt_param : NULL, ref.code, "%s", ref.msg);
    else {
        if (kind == API_MESSAGES)
            status = o->stream ? messages_stream_reply(s, c, o, grp) : messages_json_reply(s, c, o, grp);
        else if (kind == API_RESPONSES)
            status = o->stream ? responses_stream(s, c, o, grp) : responses_json(s, c, o, grp);
        else status = o->stream ? stream_reply(s, c, kind, o, grp) : json_reply(s, c, kind, o, grp);
        group_count(s, grp);
    }
    group_free(grp);
    return status;
}

int api_generate(struct api_server *s, struct mg_connection *c, enum api_kind kind, const struct api_options *o,
                 const omni_prompt *prompt, const char *prompt_param) {
    return api_generate_many(s, c, kind, o, prompt, 1, prompt_param);
}

/* One choice for another API's writer: streams pieces to out->piece as they come (when
 * o->stream), then hands back the whole result. */
int api_generate_custom(struct api_server *s, struct mg_connection *c, const struct api_options *o, int chat,
                        const omni_prompt *prompt, const struct api_gen_out *out, struct api_gen_result *r,
                        struct api_gen_refusal *ref) {
    memset(r, 0, sizeof *r);
    struct group *grp;
    if (group_init(s, c, chat, o, prompt, 1, &grp)) {
        ref->status = 503;
        ref->code = NULL;
        snprintf(ref->msg, sizeof ref->msg, "out of memory");
        return -1;
    }
    grp->want_toks = out->want_tokens;
    if (group_start(s, grp, ref)) {
        group_free(grp);
        return -1;
    }
    struct gen *g = &grp->g[0];
    int ok = 1;
    pthread_mutex_lock(&grp->mu);
    for (;;) {
        wait_news(grp, o->stream, 1000);
        if (o->stream && (g->len || g->rlen)) {
            char *text = g->len ? strndup(g->text, g->len) : NULL, *thought = g->rlen ? strndup(g->rtext, g->rlen) : NULL;
            g->len = g->rlen = 0;
            pthread_mutex_unlock(&grp->mu);
            if (g->mf) text = gen_filter(g, text, 0);
            if (ok && (text || thought) && out->piece(out->user, text, thought)) {
                ok = 0;
                cancel_all(grp);
            }
            free(text);
            free(thought);
            pthread_mutex_lock(&grp->mu);
        }
        if (g->done && !g->len && !g->rlen) break;
        if (!o->stream && g->done) break;
    }
    pthread_mutex_unlock(&grp->mu);
    if (g->mf && o->stream) {   /* the last sentence held back */
        char *rest = gen_filter(g, NULL, 1);
        if (ok && rest && out->piece(out->user, rest, NULL)) ok = 0;
        free(rest);
    } else gen_filter_all(g);
    r->usage = g->res;
    r->failed = failed(g);
    r->filtered = g->filtered;
    snprintf(r->error, sizeof r->error, "%s", g->error);
    if (!o->stream) {
        r->text = g->text;
        r->thinking = g->rtext;
        g->text = g->rtext = NULL;
    }
    r->tokens = g->toks;
    r->n_tokens = g->ntok;
    g->toks = NULL;
    capture_finish(grp);   /* the account's usage (and stored answer) when the route asked for it */
    group_count(s, grp);
    group_free(grp);
    return 0;
}

void api_gen_result_free(struct api_gen_result *r) {
    free(r->text);
    free(r->thinking);
    free(r->tokens);
    memset(r, 0, sizeof *r);
}

/* The Responses output items, for the tool loop's writer (api/agent.c). */
void api_resp_item_id(char *out, size_t cap, const char *prefix) { item_id(out, cap, prefix); }
cJSON *api_resp_message_item(const char *id, const char *text, const char *status) { return message_item(id, text, status); }
cJSON *api_resp_call_item(const char *id, const char *call_id, const char *name, const char *args, const char *status) {
    return call_item(id, call_id, name, args, status);
}
cJSON *api_resp_reasoning_item(const char *id, const char *text) { return reasoning_item(id, text); }
