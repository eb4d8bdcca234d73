/* The bridge between an HTTP thread and the scheduler thread for one request; see
 * generate.h. The scheduler's callbacks only append to a buffer under a mutex and
 * signal; all JSON building and socket writing happens here on the HTTP thread. */
#include "api/generate.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/reply.h"
#include "api/sse.h"

struct gen {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *text;              /* produced but not yet sent */
    size_t len, cap;
    cJSON *lp;               /* chat-style logprob entries not yet sent, or NULL */
    int want_lp, n_top;
    int done;
    struct sched_result res;
    omni_model *model;
    struct sched_request req;
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

static void on_piece(void *user, const struct sched_piece *p) {
    struct gen *g = user;
    pthread_mutex_lock(&g->mu);
    if (p->len) {
        if (g->len + p->len + 1 > g->cap) {
            size_t cap = (g->cap ? g->cap * 2 : 256) + p->len;
            char *t = realloc(g->text, cap);
            if (t) { g->text = t; g->cap = cap; }
        }
        if (g->len + p->len + 1 <= g->cap) {
            memcpy(g->text + g->len, p->text, p->len);
            g->len += p->len;
            g->text[g->len] = 0;
        }
    }
    if (g->want_lp && p->token >= 0) {
        if (!g->lp) g->lp = cJSON_CreateArray();
        cJSON *e = token_entry(g->model, p->token, p->logprob);
        cJSON *top = cJSON_AddArrayToObject(e, "top_logprobs");
        for (int i = 0; i < p->n_top; i++) cJSON_AddItemToArray(top, token_entry(g->model, p->top_token[i], p->top_logprob[i]));
        cJSON_AddItemToArray(g->lp, e);
    }
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void on_done(void *user, const struct sched_result *r) {
    struct gen *g = user;
    pthread_mutex_lock(&g->mu);
    g->res = *r;
    g->done = 1;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static const char *finish_name(enum sched_finish f) {
    return f == SCHED_FINISH_LENGTH ? "length" : "stop";
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

static cJSON *usage_json(const struct sched_result *r) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", r->prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", r->completion_tokens);
    cJSON_AddNumberToObject(u, "total_tokens", r->prompt_tokens + r->completion_tokens);
    cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(d, "cached_tokens", r->cached_tokens);
    return u;
}

static void make_id(char *out, size_t cap, const char *prefix) {
    static atomic_ulong counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long long x = (unsigned long long)ts.tv_nsec ^ ((unsigned long long)ts.tv_sec << 30) ^
                           (atomic_fetch_add(&counter, 1) * 0x9E3779B97F4A7C15ull);
    x ^= x >> 31; x *= 0xBF58476D1CE4E5B9ull; x ^= x >> 27;
    snprintf(out, cap, "%s-%016llx", prefix, x);
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

/* One streamed chunk with text (may be NULL), logprob entries (taken), finish reason (or NULL). */
static cJSON *stream_chunk(enum api_kind kind, const char *id, time_t created, const char *model, const char *text,
                           int role, cJSON *lp, const char *finish, int include_usage, size_t *offset) {
    cJSON *j = envelope(id, kind == API_CHAT ? "chat.completion.chunk" : "text_completion", created, model);
    cJSON *choices = cJSON_AddArrayToObject(j, "choices"), *ch = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, ch);
    cJSON_AddNumberToObject(ch, "index", 0);
    if (kind == API_CHAT) {
        cJSON *d = cJSON_AddObjectToObject(ch, "delta");
        if (role) cJSON_AddStringToObject(d, "role", "assistant");
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

/* Waits for new output; returns 1 when there is something (or done), 0 on timeout. */
static int wait_output(struct gen *g, int timeout_ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    int r = 0;
    while (!g->done && g->len == 0 && !g->lp && r == 0) r = pthread_cond_timedwait(&g->cv, &g->mu, &ts);
    return g->done || g->len || g->lp;
}

static int stream_reply(struct api_server *s, struct mg_connection *c, enum api_kind kind,
                        const struct api_options *o, struct gen *g) {
    char id[64];
    make_id(id, sizeof id, kind == API_CHAT ? "chatcmpl" : "cmpl");
    time_t created = time(NULL);
    int ok = sse_begin(c) == 0;
    size_t offset = 0;
    if (ok && kind == API_CHAT) {
        cJSON *j = stream_chunk(kind, id, created, s->model_id, "", 1, NULL, NULL, o->include_usage, &offset);
        ok = sse_send_json(c, j) == 0;
        cJSON_Delete(j);
    }
    pthread_mutex_lock(&g->mu);
    for (;;) {
        int have = wait_output(g, 5000);
        char *text = NULL;
        cJSON *lp = NULL;
        int done = g->done;
        if (g->len) { text = strndup(g->text, g->len); g->len = 0; }
        lp = g->lp;
        g->lp = NULL;
        pthread_mutex_unlock(&g->mu);
        if (!have && ok) ok = sse_comment(c, "keep-alive") == 0;   /* also notices a vanished client */
        if ((text || lp) && ok) {
            cJSON *j = stream_chunk(kind, id, created, s->model_id, text ? text : "", 0, lp, NULL, o->include_usage,
                                    &offset);
            lp = NULL;
            ok = sse_send_json(c, j) == 0;
            cJSON_Delete(j);
        }
        cJSON_Delete(lp);
        free(text);
        if (!ok) atomic_store(&g->req.cancel, 1);
        if (done) break;
        pthread_mutex_lock(&g->mu);
    }
    if (ok && g->res.finish == SCHED_FINISH_ERROR) {
        cJSON *e = api_error_json(500, NULL, "generation_failed", g->res.error);
        ok = sse_send_json(c, e) == 0;
        cJSON_Delete(e);
    } else if (ok) {
        cJSON *j = stream_chunk(kind, id, created, s->model_id, kind == API_CHAT ? NULL : "", 0, NULL,
                                finish_name(g->res.finish), o->include_usage, &offset);
        ok = sse_send_json(c, j) == 0;
        cJSON_Delete(j);
    }
    if (ok && o->include_usage) {
        cJSON *j = envelope(id, kind == API_CHAT ? "chat.completion.chunk" : "text_completion", created, s->model_id);
        cJSON_AddArrayToObject(j, "choices");
        cJSON_AddItemToObject(j, "usage", usage_json(&g->res));
        ok = sse_send_json(c, j) == 0;
        cJSON_Delete(j);
    }
    if (ok) sse_end(c);
    return 200;
}

static int json_reply(struct api_server *s, struct mg_connection *c, enum api_kind kind, struct gen *g) {
    pthread_mutex_lock(&g->mu);
    while (!g->done) pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    if (g->res.finish == SCHED_FINISH_ERROR)
        return api_reply_error(c, 500, NULL, "generation_failed", "generation failed: %s", g->res.error);
    char id[64];
    make_id(id, sizeof id, kind == API_CHAT ? "chatcmpl" : "cmpl");
    cJSON *j = envelope(id, kind == API_CHAT ? "chat.completion" : "text_completion", time(NULL), s->model_id);
    cJSON *choices = cJSON_AddArrayToObject(j, "choices"), *ch = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, ch);
    cJSON_AddNumberToObject(ch, "index", 0);
    const char *text = g->text ? g->text : "";
    if (kind == API_CHAT) {
        cJSON *msg = cJSON_AddObjectToObject(ch, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        cJSON_AddStringToObject(msg, "content", text);
        cJSON_AddNullToObject(msg, "refusal");
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
    cJSON_AddStringToObject(ch, "finish_reason", finish_name(g->res.finish));
    cJSON_AddItemToObject(j, "usage", usage_json(&g->res));
    api_reply_json(c, 200, j);
    cJSON_Delete(j);
    return 200;
}

int api_generate(struct api_server *s, struct mg_connection *c, enum api_kind kind, const struct api_options *o,
                 const int32_t *prompt, int n_prompt, const char *prompt_param) {
    return api_generate_images(s, c, kind, o, prompt, n_prompt, NULL, 0, prompt_param);
}

int api_generate_images(struct api_server *s, struct mg_connection *c, enum api_kind kind, const struct api_options *o,
                        const int32_t *prompt, int n_prompt, const struct sched_image *images, int n_images,
                        const char *prompt_param) {
    struct gen *g = calloc(1, sizeof *g);
    if (!g) return api_reply_error(c, 503, NULL, NULL, "out of memory");
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->model = s->model;
    g->want_lp = o->logprobs;
    struct sched_request *r = &g->req;
    r->prompt = prompt;
    r->n_prompt = n_prompt;
    r->images = images;
    r->n_images = n_images;
    r->max_tokens = o->max_tokens;
    r->sampling = o->sampling;
    r->stop = (const char *const *)o->stop;
    r->n_stop = o->n_stop;
    r->top_logprobs = o->logprobs ? o->top_logprobs : 0;
    r->json_mode = o->json_mode;
    r->json_schema = o->schema;
    r->on_piece = on_piece;
    r->on_done = on_done;
    r->user = g;
    atomic_init(&r->cancel, 0);

    struct err e = {{0}};
    int status, rc = sched_submit(s->sched, r, &e);
    if (rc == SCHED_ERR_FULL)
        status = api_reply_error(c, 429, NULL, "queue_full", "all %d slots are busy and the queue is full; retry shortly",
                                 sched_n_slots(s->sched));
    else if (rc == SCHED_ERR_STOPPING)
        status = api_reply_error(c, 503, NULL, "shutting_down", "the server is shutting down");
    else if (rc != SCHED_OK)
        status = api_reply_error(c, 400, prompt_param, "context_length_exceeded", "%s", e.msg);
    else {
        status = o->stream ? stream_reply(s, c, kind, o, g) : json_reply(s, c, kind, g);
        metrics_count_generation(&s->metrics, g->res.prompt_tokens, g->res.cached_tokens, g->res.completion_tokens,
                                 g->res.ttft_s, g->res.ttft_s >= 0 ? g->res.total_s - g->res.ttft_s : 0);
    }
    cJSON_Delete(g->lp);
    free(g->text);
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
    free(g);
    return status;
}
