/* Anthropic's Messages API: POST /v1/messages and /v1/messages/count_tokens, as its SDK
 * and tools built on it (Claude Code, …) speak it. The request is read into the same
 * role/content messages /v1/chat/completions renders (system first, text and image
 * blocks; past thinking blocks left out as templates leave out past thoughts; a last
 * assistant message is the start of the reply, as Anthropic's "prefill"), and goes
 * down the same path: api_chat_render, then api_generate with API_MESSAGES, which writes
 * Anthropic's message object or its SSE events. Errors come in Anthropic's shape (the
 * dispatcher sets the dialect). Tools are refused with a 400 until function calling lands. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/chat_images.h"
#include "api/generate.h"
#include "api/model_ref.h"
#include "api/reply.h"
#include "api/routes.h"

/* What both routes read from the body. */
struct msg_req {
    omni_model *mdl;           /* the model the request named (api_model_get), held by the route */
    const char *mid;           /* its id */
    const char *adapter;       /* a fine-tuned model's adapter on it (api/ft_models.h), or NULL */
    omni_chat_message *msgs;
    char **texts;              /* msgs[i].content, owned */
    int n;
    struct api_chat_images ci;
    struct api_options o;
};

static void msg_req_free(struct msg_req *r) {
    for (int i = 0; r->texts && i < r->n; i++) free(r->texts[i]);
    free(r->texts);
    free(r->msgs);
    api_chat_images_free(&r->ci);
    api_options_free(&r->o);
}

static int bad(struct api_bad_field *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(struct api_bad_field *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->msg, sizeof b->msg, fmt, ap);
    va_end(ap);
    return -1;
}

/* Appends s to *text (malloc'ed, NULL at first). */
static int append(char **text, const char *s) {
    size_t a = *text ? strlen(*text) : 0, b = strlen(s);
    char *t = realloc(*text, a + b + 1);
    if (!t) return -1;
    memcpy(t + a, s, b + 1);
    *text = t;
    return 0;
}

/* One message's (or the system prompt's) content: a string, or an array of blocks.
 * where: "messages[2]" or "system". Text blocks are joined as they come; an image block
 * leaves its marker where it stands. */
static int read_content(const struct msg_req *r, const cJSON *content, const char *where, int is_system, int assistant,
                        char **text, struct api_chat_images *ci, struct api_bad_field *b) {
    if (cJSON_IsString(content)) return append(text, content->valuestring) ? bad(b, "out of memory") : 0;
    if (!cJSON_IsArray(content))
        return bad(b, "%s: 'content' must be a string or an array of content blocks", where);
    int k = 0;
    const cJSON *blk;
    cJSON_ArrayForEach(blk, content) {
        char at[96];
        snprintf(at, sizeof at, is_system ? "%s[%d]" : "%s.content[%d]", where, k);
        const cJSON *type = cJSON_IsObject(blk) ? cJSON_GetObjectItemCaseSensitive(blk, "type") : NULL;
        if (!cJSON_IsString(type)) return bad(b, "%s: a content block must be an object with a string 'type'", at);
        const char *t = type->valuestring;
        if (!strcmp(t, "text")) {
            const cJSON *x = cJSON_GetObjectItemCaseSensitive(blk, "text");
            if (!cJSON_IsString(x)) return bad(b, "%s.text: must be a string", at);
            if (append(text, x->valuestring)) return bad(b, "out of memory");
        } else if (!strcmp(t, "image") && !is_system && !assistant) {
            const cJSON *src = cJSON_GetObjectItemCaseSensitive(blk, "source");
            const cJSON *st = cJSON_IsObject(src) ? cJSON_GetObjectItemCaseSensitive(src, "type") : NULL;
            if (!cJSON_IsString(st)) return bad(b, "%s.source: must be an object with a string 'type'", at);
            if (strcmp(st->valuestring, "base64"))
                return bad(b, "%s.source.type: '%s' is not supported; this server does not fetch URLs or files: send "
                              "the image as {\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":…}",
                           at, st->valuestring);
            const cJSON *mt = cJSON_GetObjectItemCaseSensitive(src, "media_type");
            const cJSON *data = cJSON_GetObjectItemCaseSensitive(src, "data");
            if (!cJSON_IsString(mt) || !cJSON_IsString(data))
                return bad(b, "%s.source: 'media_type' and 'data' must be strings", at);
            struct api_bad_field ib;
            if (api_chat_image_base64(r->mdl, r->mid, ci, mt->valuestring, data->valuestring, at, &ib))
                return bad(b, "%s", ib.msg);
            if (append(text, OMNI_IMAGE_MARKER)) return bad(b, "out of memory");
        } else if ((!strcmp(t, "thinking") || !strcmp(t, "redacted_thinking")) && assistant) {
            /* an earlier turn's thoughts: chat templates drop those from the prompt too */
        } else if (!strcmp(t, "tool_use") || !strcmp(t, "tool_result")) {
            return bad(b, "%s: '%s' blocks need tool use, which this server does not support yet", at, t);
        } else {
            return bad(b, "%s.type: '%s' is not supported here; expected 'text'%s", at, t,
                       is_system ? "" : assistant ? " or 'thinking'" : " or 'image'");
        }
        k++;
    }
    if (!*text && append(text, "")) return bad(b, "out of memory");
    return 0;
}

/* system and messages into r->msgs. */
static int read_messages(struct api_server *s, const cJSON *body, struct msg_req *r, struct api_bad_field *b) {
    const cJSON *sys = cJSON_GetObjectItemCaseSensitive(body, "system");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(body, "messages");
    if (!m) return bad(b, "messages: Field required");
    if (!cJSON_IsArray(m) || cJSON_GetArraySize(m) == 0)
        return bad(b, "messages: must be a non-empty array of {role, content} objects");
    int n = cJSON_GetArraySize(m) + 1;
    if (!(r->msgs = calloc((size_t)n, sizeof *r->msgs)) || !(r->texts = calloc((size_t)n, sizeof *r->texts)))
        return bad(b, "out of memory");
    if (sys && !cJSON_IsNull(sys)) {
        if (!cJSON_IsString(sys) && !cJSON_IsArray(sys))
            return bad(b, "system: must be a string or an array of text blocks");
        char *t = NULL;
        int rc = read_content(r, sys, "system", 1, 0, &t, &r->ci, b);
        r->texts[r->n] = t;
        r->msgs[r->n].role = "system";
        r->msgs[r->n].content = t;
        r->n++;
        if (rc) return -1;
    }
    int i = 0;
    const cJSON *msg;
    cJSON_ArrayForEach(msg, m) {
        char where[32];
        snprintf(where, sizeof where, "messages[%d]", i);
        const cJSON *role = cJSON_IsObject(msg) ? cJSON_GetObjectItemCaseSensitive(msg, "role") : NULL;
        if (!cJSON_IsString(role) || (strcmp(role->valuestring, "user") && strcmp(role->valuestring, "assistant")))
            return bad(b, "%s.role: must be \"user\" or \"assistant\"", where);
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
        if (!content) return bad(b, "%s.content: Field required", where);
        char *t = NULL;
        int assistant = !strcmp(role->valuestring, "assistant");
        int rc = read_content(r, content, where, 0, assistant, &t, &r->ci, b);
        r->texts[r->n] = t;
        r->msgs[r->n].role = assistant ? "assistant" : "user";
        r->msgs[r->n].content = t;
        r->n++;
        if (rc) return -1;
        i++;
    }
    return 0;
}

/* thinking {type: "enabled", budget_tokens} | {type: "disabled"} as the template's
 * enable_thinking (Qwen3 and others); absent: the template's own default, as for
 * /v1/chat/completions. budget_tokens is checked as Anthropic checks it (below
 * max_tokens) but, with no engine budget for thoughts, max_tokens is what bounds them. */
static int read_thinking(const cJSON *body, int counting, struct api_options *o, struct api_bad_field *b) {
    const cJSON *th = cJSON_GetObjectItemCaseSensitive(body, "thinking");
    if (!th || cJSON_IsNull(th)) return 0;
    const cJSON *type = cJSON_IsObject(th) ? cJSON_GetObjectItemCaseSensitive(th, "type") : NULL;
    if (!cJSON_IsString(type) || (strcmp(type->valuestring, "enabled") && strcmp(type->valuestring, "disabled")))
        return bad(b, "thinking: must be {\"type\": \"enabled\", \"budget_tokens\": N} or {\"type\": \"disabled\"}");
    int on = !strcmp(type->valuestring, "enabled");
    if (on) {
        const cJSON *bt = cJSON_GetObjectItemCaseSensitive(th, "budget_tokens");
        if (!cJSON_IsNumber(bt) || bt->valuedouble != (double)(int)bt->valuedouble || bt->valuedouble < 1)
            return bad(b, "thinking.budget_tokens: Field required (a positive integer)");
        if (!counting && o->max_tokens > 0 && bt->valueint >= o->max_tokens)
            return bad(b, "thinking.budget_tokens: must be less than max_tokens (%d)", o->max_tokens);
    }
    cJSON *kw = o->template_kwargs ? cJSON_Parse(o->template_kwargs) : cJSON_CreateObject();
    if (!kw) return bad(b, "out of memory");
    /* an explicit chat_template_kwargs.enable_thinking (omni's extension) wins */
    if (!cJSON_GetObjectItemCaseSensitive(kw, "enable_thinking")) cJSON_AddBoolToObject(kw, "enable_thinking", on);
    char *t = cJSON_PrintUnformatted(kw);
    cJSON_Delete(kw);
    if (!t) return bad(b, "out of memory");
    cJSON_free(o->template_kwargs);
    o->template_kwargs = t;
    return 0;
}

static int read_stop_sequences(const cJSON *body, struct api_options *o, struct api_bad_field *b) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(body, "stop_sequences");
    if (!f || cJSON_IsNull(f)) return 0;
    if (!cJSON_IsArray(f)) return bad(b, "stop_sequences: must be an array of strings");
    if (o->n_stop + cJSON_GetArraySize(f) > API_MAX_STOP)
        return bad(b, "stop_sequences: this server takes at most %d stop sequences", API_MAX_STOP);
    const cJSON *x;
    cJSON_ArrayForEach(x, f) {
        if (!cJSON_IsString(x)) return bad(b, "stop_sequences: every entry must be a string");
        if (!*x->valuestring) return bad(b, "stop_sequences: an entry must not be empty");
        if (!(o->stop[o->n_stop] = strdup(x->valuestring))) return bad(b, "out of memory");
        o->n_stop++;
    }
    return 0;
}

/* Reads and checks the whole request. counting: for count_tokens (no max_tokens, and
 * nothing about sampling). Returns 0, or an HTTP status with *b filled. */
static int read_request(struct api_server *s, const cJSON *j, int counting, struct msg_req *r,
                        struct api_bad_field *b) {
    b->param[0] = 0;
    if (!cJSON_IsObject(j)) return bad(b, "the request body must be a JSON object"), 400;
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    if (!cJSON_IsString(model)) return bad(b, "model: Field required (a string)"), 400;
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(j, "tools");
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(j, "tool_choice");
    if ((cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0) || (tc && !cJSON_IsNull(tc)))
        return bad(b, "tools: tool use is not supported by this server yet"), 400;
    if (!counting) {
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "max_tokens");
        if (!mt || cJSON_IsNull(mt)) return bad(b, "max_tokens: Field required"), 400;
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "temperature");
        if (t && !cJSON_IsNull(t) && (!cJSON_IsNumber(t) || t->valuedouble < 0 || t->valuedouble > 1))
            return bad(b, "temperature: must be a number between 0 and 1"), 400;
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(j, "metadata");
        const cJSON *uid = cJSON_IsObject(md) ? cJSON_GetObjectItemCaseSensitive(md, "user_id") : NULL;
        if ((md && !cJSON_IsNull(md) && !cJSON_IsObject(md)) || (uid && !cJSON_IsNull(uid) && !cJSON_IsString(uid)))
            return bad(b, "metadata: must be an object whose 'user_id' is a string"), 400;
        /* The fields it shares with OpenAI's (max_tokens, temperature, top_p, top_k, stream)
         * and omni's extensions (seed, chat_template_kwargs, logit_bias) read as there. */
        struct api_bad_field ob;
        if (api_options_parse(j, 1, omni_model_n_vocab(r->mdl), &r->o, &ob))
            return bad(b, "%s", ob.msg), 400;
        r->o.logprobs = r->o.top_logprobs = 0;   /* Anthropic has no logprobs */
        if (r->o.n_stop) return bad(b, "stop: use 'stop_sequences'"), 400;
        if (read_stop_sequences(j, &r->o, b)) return 400;
    } else {
        memset(&r->o, 0, sizeof r->o);
        r->o.truncation = 1;
        struct api_bad_field ob;
        /* the template variables only; everything else is about the reply */
        cJSON *kw = cJSON_CreateObject();
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, "chat_template_kwargs");
        if (!kw) return bad(b, "out of memory"), 400;
        if (x) cJSON_AddItemToObject(kw, "chat_template_kwargs", cJSON_Duplicate(x, 1));
        int rc = api_options_parse(kw, 1, omni_model_n_vocab(r->mdl), &r->o, &ob);
        cJSON_Delete(kw);
        if (rc) return bad(b, "%s", ob.msg), 400;
    }
    r->o.model = r->mdl;
    r->o.model_id = r->mid;
    r->o.adapter = r->adapter;
    if (read_thinking(j, counting, &r->o, b)) return 400;
    if (read_messages(s, j, r, b)) return 400;
    return 0;
}

/* Anthropic's prefill: a last assistant message is the start of the reply, which goes
 * on from it (the answer holds only what follows). The turns before it are rendered with
 * the generation prompt, and its text is appended to that prompt as tokens. Returns the
 * number of messages to render and sets *prefill (borrowed from r) or NULL. */
static int split_prefill(const struct msg_req *r, const char **prefill) {
    *prefill = NULL;
    if (r->n < 2 || strcmp(r->msgs[r->n - 1].role, "assistant")) return r->n;
    *prefill = r->msgs[r->n - 1].content;
    return r->n - 1;
}

static int append_prefill(omni_model *mdl, const char *text, omni_prompt *pr, char *err, size_t cap) {
    size_t len = text ? strlen(text) : 0;
    if (!len) return 0;
    int32_t *t = realloc(pr->tokens, ((size_t)pr->n + len + 1) * sizeof *t);   /* a token is at least a byte */
    if (!t) return snprintf(err, cap, "out of memory"), -1;
    pr->tokens = t;
    int n = omni_tokenize(mdl, text, len, 0, 0, t + pr->n, (int)len + 1);
    if (n < 0 || n > (int)len + 1) return snprintf(err, cap, "the final assistant message cannot be tokenized"), -1;
    pr->n += n;
    return 0;
}

static int reply_bad(struct mg_connection *c, int status, const struct api_bad_field *b) {
    return api_reply_error(c, status, NULL, NULL, "%s", b->msg);
}

static cJSON *parse_body(struct mg_connection *c, const char *body, size_t len, int *status) {
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!j) {
        size_t at = end && end >= body ? (size_t)(end - body) : 0;
        *status = api_reply_error(c, 400, NULL, NULL, "the request body is not valid JSON (error near byte %zu)", at);
    }
    return j;
}

/* The request's model through the registry (aliases, the store, loading on first use),
 * held until the reply is written. A missing or non-string model is left to
 * read_request's message; the pinned model stands in then. 0, or the status written. */
static int resolve_model(struct api_server *s, struct mg_connection *c, const cJSON *j, struct api_model_ref *m,
                         struct msg_req *r) {
    const cJSON *model = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "model") : NULL;
    int status = api_model_get(s, c, cJSON_IsString(model) ? model->valuestring : NULL, OMNI_KIND_CHAT, j, m);
    if (status) return status;
    r->mdl = m->ref.model;
    r->mid = m->ref.id;
    r->adapter = m->adapter[0] ? m->adapter : NULL;
    return 0;
}

int route_messages(struct api_server *s, struct mg_connection *c, const char *body, size_t len) {
    int status;
    cJSON *j = parse_body(c, body, len, &status);
    if (!j) return status;
    struct msg_req r;
    struct api_bad_field b;
    omni_prompt pr = {0};
    memset(&r, 0, sizeof r);
    const char *prefill;
    char err[128];
    struct api_model_ref mref = {0};
    if ((status = resolve_model(s, c, j, &mref, &r))) {
        cJSON_Delete(j);
        return status;
    }
    if ((status = read_request(s, j, 0, &r, &b))) status = reply_bad(c, status, &b);
    else if (!(status = api_chat_render(s, c, r.msgs, split_prefill(&r, &prefill), &r.ci, &r.o, &pr))) {
        if (append_prefill(r.mdl, prefill, &pr, err, sizeof err))
            status = api_reply_error(c, 400, NULL, NULL, "messages: %s", err);
        else status = api_generate(s, c, API_MESSAGES, &r.o, &pr, "messages");
    }
    omni_prompt_free(&pr);
    msg_req_free(&r);
    api_model_put(s, &mref);   /* after the reply: the model stays loaded while the request runs */
    cJSON_Delete(j);
    return status;
}

/* {"input_tokens": N}: the prompt this request would be, counted exactly as /v1/messages
 * builds it (template, images' positions), however long. */
int route_messages_count_tokens(struct api_server *s, struct mg_connection *c, const char *body, size_t len) {
    int status;
    cJSON *j = parse_body(c, body, len, &status);
    if (!j) return status;
    struct msg_req r;
    struct api_bad_field b;
    omni_prompt pr = {0};
    memset(&r, 0, sizeof r);
    char err[512] = "";
    const char *prefill = NULL;
    struct api_model_ref mref = {0};
    if ((status = resolve_model(s, c, j, &mref, &r))) {
        cJSON_Delete(j);
        return status;
    }
    if ((status = read_request(s, j, 1, &r, &b))) status = reply_bad(c, status, &b);
    else if (omni_chat_prompt_kw(r.mdl, r.msgs, (size_t)split_prefill(&r, &prefill),
                                 (const omni_image *const *)r.ci.img, r.ci.n, INT_MAX / 2, 0, r.o.template_kwargs, &pr,
                                 NULL, err, sizeof err))
        status = api_reply_error(c, 400, NULL, NULL, "the chat template cannot render these messages: %s", err);
    else if (append_prefill(r.mdl, prefill, &pr, err, sizeof err))
        status = api_reply_error(c, 400, NULL, NULL, "messages: %s", err);
    else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "input_tokens", pr.n);
        status = api_reply_json(c, 200, o);
        cJSON_Delete(o);
    }
    omni_prompt_free(&pr);
    msg_req_free(&r);
    api_model_put(s, &mref);   /* after the reply: the model stays loaded while the request runs */
    cJSON_Delete(j);
    return status;
}
