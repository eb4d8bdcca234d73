/* ollama's REST API (/api/chat, /api/generate, /api/embed, /api/embeddings, /api/tags,
 * /api/show, /api/ps, /api/version, /api/pull, /api/delete, HEAD /) so tools that talk to
 * "an ollama server" (Open WebUI, Continue, the ollama client libraries) work unchanged.
 * Requests are turned into the same prompts and generation fields as the OpenAI routes
 * (api_chat_render, api_options_parse) and run through the same engine path
 * (api_generate_custom): one model, prompt cache and scheduler for every API. Replies
 * are ollama's JSON: NDJSON streams (stream defaults to true), durations in nanoseconds,
 * errors as {"error":"..."} with ollama's status codes. Model names follow
 * api_find_model (model_names.h): "name:latest" and "base:tag" find our ids. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "api/chat_images.h"
#include "api/ft_models.h"
#include "api/generate.h"
#include "api/meter.h"
#include "api/model_names.h"
#include "api/model_ref.h"
#include "api/reply.h"
#include "api/routes.h"
#include "api/who.h"
#include "api/sse.h"

/* The ollama API level this server speaks (clients compare it to gate features). */
#define OLLAMA_API_VERSION "0.12.6"

static int oerr(struct mg_connection *c, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int oerr(struct mg_connection *c, int status, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "error", msg);
    const char *extra = status == 503 ? "Retry-After: 2\r\n" : status == 429 ? "Retry-After: 1\r\n" : NULL;
    api_reply_json_headers(c, status, j, extra);
    cJSON_Delete(j);
    return status;
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* RFC 3339 with nanoseconds in UTC, as Go writes time.Time: 2024-05-01T10:00:00.123456789Z */
static void rfc3339(const struct timespec *ts, char *buf, size_t cap) {
    struct tm tm;
    gmtime_r(&ts->tv_sec, &tm);
    char d[32];
    strftime(d, sizeof d, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, cap, "%s.%09ldZ", d, ts->tv_nsec);
}

static void created_now(char *buf, size_t cap) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    rfc3339(&ts, buf, cap);
}

/* ---- NDJSON streams: one JSON object per line, each line one HTTP chunk ---- */

static int ndjson_begin(struct mg_connection *c) {
    int n = mg_printf(c,
                      "HTTP/1.1 200 OK\r\n"
                      "Content-Type: application/x-ndjson\r\n"
                      "Cache-Control: no-cache\r\n"
                      "Access-Control-Allow-Origin: *\r\n"
                      "X-Accel-Buffering: no\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n");
    return n > 0 ? 0 : -1;
}

static int ndjson_send(struct mg_connection *c, const cJSON *j) {
    char *s = cJSON_PrintUnformatted(j);
    if (!s) return -1;
    int r = http_chunk(c, s, strlen(s), "\n", 1);
    free(s);
    return r;
}

static int ndjson_end(struct mg_connection *c) {
    api_meter_flush(1); /* the usage is written before the stream's end */
    return mg_write(c, "0\r\n\r\n", 5) == 5 ? 0 : -1;
}

/* ---- request fields ---- */

static const cJSON *field(const cJSON *j, const char *name) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, name);
    return f && !cJSON_IsNull(f) ? f : NULL;
}

/* 'model' (or the older 'name'): its string, or NULL with a 400 written. */
static const char *model_name(struct mg_connection *c, const cJSON *j, int *status) {
    const cJSON *m = field(j, "model");
    if (!m) m = field(j, "name");
    if (m && !cJSON_IsString(m)) { *status = oerr(c, 400, "'model' must be a string"); return NULL; }
    if (!m || !*m->valuestring) { *status = oerr(c, 400, "model is required"); return NULL; }
    return m->valuestring;
}

/* ollama's 'options', 'format', 'think' and 'stream' as the OpenAI fields the shared
 * parser (api_options_parse) knows, so both APIs validate and sample alike. Then the
 * ones OpenAI lacks (repeat_penalty, repeat_last_n, min_p). Returns 0, or -1 with msg. */
static int read_options(omni_model *mdl, const cJSON *j, struct api_options *o, char *msg, size_t cap) {
    memset(o, 0, sizeof *o);
    cJSON *x = cJSON_CreateObject();
    if (!x) { snprintf(msg, cap, "out of memory"); return -1; }
    const cJSON *opts = field(j, "options"), *st = field(j, "stream");
    int rc = -1;
    if (opts && !cJSON_IsObject(opts)) { snprintf(msg, cap, "'options' must be an object"); goto out; }
    if (st && !cJSON_IsBool(st)) { snprintf(msg, cap, "'stream' must be true or false"); goto out; }
    cJSON_AddBoolToObject(x, "stream", !st || cJSON_IsTrue(st));   /* ollama streams unless told not to */
    static const char *const same[] = {"temperature", "top_p", "top_k", "seed", "presence_penalty",
                                       "frequency_penalty", "stop", NULL};
    for (int i = 0; opts && same[i]; i++) {
        const cJSON *f = field(opts, same[i]);
        if (f) cJSON_AddItemToObject(x, same[i], cJSON_Duplicate(f, 1));
    }
    const cJSON *np = opts ? field(opts, "num_predict") : NULL;
    if (np) {
        if (!cJSON_IsNumber(np) || np->valuedouble != floor(np->valuedouble) || np->valuedouble < -2) {
            snprintf(msg, cap, "'options.num_predict' must be an integer: the most tokens to generate, or -1 (no limit) "
                               "or -2 (fill the context)");
            goto out;
        }
        if (np->valuedouble > 0) cJSON_AddNumberToObject(x, "max_tokens", np->valuedouble);
    }
    const cJSON *fmt = field(j, "format");
    if (fmt && cJSON_IsString(fmt) && !strcmp(fmt->valuestring, "json")) {
        cJSON *rf = cJSON_AddObjectToObject(x, "response_format");
        cJSON_AddStringToObject(rf, "type", "json_object");
    } else if (fmt && cJSON_IsObject(fmt)) {
        cJSON *rf = cJSON_AddObjectToObject(x, "response_format");
        cJSON_AddStringToObject(rf, "type", "json_schema");
        cJSON *js = cJSON_AddObjectToObject(rf, "json_schema");
        cJSON_AddStringToObject(js, "name", "format");
        cJSON_AddItemToObject(js, "schema", cJSON_Duplicate(fmt, 1));
    } else if (fmt && !(cJSON_IsString(fmt) && !*fmt->valuestring)) {
        snprintf(msg, cap, "invalid format: expected \"json\" or a JSON schema");
        goto out;
    }
    /* think: true/false switches the template's thinking on/off; "low"/"medium"/"high" is
     * gpt-oss's effort. Absent: the model's default. Thoughts come back apart either way. */
    const cJSON *think = field(j, "think");
    if (think && cJSON_IsBool(think)) {
        cJSON *kw = cJSON_AddObjectToObject(x, "chat_template_kwargs");
        cJSON_AddBoolToObject(kw, "enable_thinking", cJSON_IsTrue(think));
    } else if (think && cJSON_IsString(think) &&
               (!strcmp(think->valuestring, "low") || !strcmp(think->valuestring, "medium") ||
                !strcmp(think->valuestring, "high"))) {
        cJSON_AddStringToObject(x, "reasoning_effort", think->valuestring);
    } else if (think) {
        snprintf(msg, cap, "'think' must be true, false, \"low\", \"medium\" or \"high\"");
        goto out;
    }
    const cJSON *lp = field(j, "logprobs");
    if (lp && cJSON_IsTrue(lp)) { snprintf(msg, cap, "logprobs are not supported by this server's ollama API yet"); goto out; }
    struct api_bad_field bad;
    if (api_options_parse(x, 1, omni_model_n_vocab(mdl), o, &bad)) {
        snprintf(msg, cap, "%s", bad.msg);
        goto out;
    }
    /* ollama's sampling defaults where the request says nothing */
    if (!opts || !field(opts, "temperature")) o->sampling.temperature = 0.8f;
    if (!opts || !field(opts, "top_k")) o->sampling.top_k = 40;
    if (!opts || !field(opts, "top_p")) o->sampling.top_p = 0.9f;
    o->sampling.penalize_prompt = 1;   /* ollama's penalties look back over the context */
    o->sampling.repeat_last_n = 64;
    static const struct { const char *name; double lo, hi; } more[] = {
        {"repeat_penalty", 0, 100}, {"repeat_last_n", -1, 1 << 30}, {"min_p", 0, 1}, {"num_ctx", 1, 1 << 30}};
    for (size_t i = 0; opts && i < sizeof more / sizeof more[0]; i++) {
        const cJSON *f = field(opts, more[i].name);
        if (!f) continue;
        if (!cJSON_IsNumber(f) || f->valuedouble < more[i].lo || f->valuedouble > more[i].hi) {
            snprintf(msg, cap, "'options.%s' must be a number from %g to %g", more[i].name, more[i].lo, more[i].hi);
            goto out;
        }
        if (i == 0) o->sampling.repeat_penalty = (float)f->valuedouble;
        else if (i == 1) o->sampling.repeat_last_n = f->valuedouble == 0 ? 0 : (int)f->valuedouble;
        else if (i == 2) o->sampling.min_p = (float)f->valuedouble;
        /* num_ctx: accepted; the context is the server's (--ctx) */
    }
    rc = 0;
out:
    cJSON_Delete(x);
    return rc;
}

/* ---- the answer ---- */

struct stream_out {
    struct mg_connection *c;
    int chat;
    const char *model;     /* the name the request used (ollama echoes it) */
    int began;
};

static cJSON *reply_head(const char *model) {
    char t[64];
    created_now(t, sizeof t);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", model);
    cJSON_AddStringToObject(j, "created_at", t);
    return j;
}

/* The text part of a reply object: message{role,content,thinking} or response/thinking. */
static void add_text(cJSON *j, int chat, const char *text, const char *thinking) {
    if (chat) {
        cJSON *m = cJSON_AddObjectToObject(j, "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        cJSON_AddStringToObject(m, "content", text ? text : "");
        if (thinking && *thinking) cJSON_AddStringToObject(m, "thinking", thinking);
    } else {
        cJSON_AddStringToObject(j, "response", text ? text : "");
        if (thinking && *thinking) cJSON_AddStringToObject(j, "thinking", thinking);
    }
}

static int stream_piece(void *user, const char *text, const char *thinking) {
    struct stream_out *so = user;
    if (!so->began) {
        if (ndjson_begin(so->c)) return -1;
        so->began = 1;
    }
    cJSON *j = reply_head(so->model);
    add_text(j, so->chat, text, thinking);
    cJSON_AddFalseToObject(j, "done");
    int r = ndjson_send(so->c, j);
    cJSON_Delete(j);
    return r;
}

/* Go's omitempty: ollama leaves zero counts and durations out. */
static void add_count(cJSON *j, const char *name, double v) {
    if (v > 0) cJSON_AddNumberToObject(j, name, floor(v));
}

/* The last object: done, done_reason, the counts and durations (ns), and for generate
 * the context (prompt + reply tokens) a follow-up request may continue from. */
static void add_done(cJSON *j, const struct api_gen_result *r, double t0, const omni_prompt *pr, int with_context) {
    cJSON_AddTrueToObject(j, "done");
    cJSON_AddStringToObject(j, "done_reason", r->filtered ? "content_filter" : !strcmp(r->usage.finish_reason, "length") ? "length" : "stop");
    if (with_context) {
        cJSON *ctx = cJSON_AddArrayToObject(j, "context");
        for (int i = 0; i < pr->n; i++) cJSON_AddItemToArray(ctx, cJSON_CreateNumber(pr->tokens[i]));
        for (int i = 0; i < r->n_tokens; i++) cJSON_AddItemToArray(ctx, cJSON_CreateNumber(r->tokens[i]));
    }
    add_count(j, "total_duration", now_ns() - t0);
    add_count(j, "prompt_eval_count", r->usage.prompt_tokens);
    add_count(j, "prompt_eval_duration", r->usage.prompt_ms * 1e6);
    add_count(j, "eval_count", r->usage.completion_tokens);
    add_count(j, "eval_duration", r->usage.generate_ms * 1e6);
}

/* Runs the prompt and writes ollama's answer (a stream, or one object); thoughts: split
 * the model's thoughts off into 'thinking' (not for generate's raw prompts). */
static int answer(struct api_server *s, struct mg_connection *c, const char *model, int chat, int thoughts,
                  struct api_options *o, const omni_prompt *pr, double t0) {
    struct stream_out so = {c, chat, model, 0};
    struct api_gen_out out = {stream_piece, &so, !chat};
    struct api_gen_result r;
    struct api_gen_refusal ref;
    if (api_generate_custom(s, c, o, thoughts, pr, &out, &r, &ref)) return oerr(c, ref.status, "%s", ref.msg);
    int status = 200;
    if (!strcmp(r.usage.finish_reason, "cancelled")) {
        /* the client went away: nothing more to write */
    } else if (r.failed) {
        if (so.began) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "error", r.error);
            ndjson_send(c, e);
            ndjson_end(c);
            cJSON_Delete(e);
        } else status = oerr(c, 500, "%s", r.error);
    } else {
        cJSON *j = reply_head(model);
        add_text(j, chat, o->stream ? "" : r.text, o->stream ? NULL : r.thinking);
        add_done(j, &r, t0, pr, !chat);
        if (o->stream) {
            if (so.began || !ndjson_begin(c)) {
                ndjson_send(c, j);
                ndjson_end(c);
            }
        } else api_reply_json(c, 200, j);
        cJSON_Delete(j);
    }
    api_gen_result_free(&r);
    return status;
}

/* ---- the request's model, through the registry ---- */

/* The model a request named, held (loaded) until the reply is written, and the
 * keep_alive its release gives it (ollama's: 0 unloads right after, "5m", -1 never). */
struct omodel {
    omni_registry_ref ref;
    int64_t keep_alive_ms;
    /* a fine-tuned model (api/ft_models.h: "ft:BASE:SUFFIX:ID", "BASE+ADAPTER"): ref is its
     * base, adapter the name its adapter goes by there (NULL: none), ref.id points at name */
    const char *adapter;
    char adapter_name[256];
    char name[256];
};

/* The registry id an ollama-style name means when the registry does not know the name
 * itself: "x:latest" is x (an alias too), a pinned model by its general.name or
 * api_find_model's rules, a store model by api_name_means ("qwen3:1.7b" finds
 * "qwen3-1.7b-q4_k_m"). 1 with buf set, else 0. */
static int other_name(struct api_server *s, const char *name, int kinds, char *buf, size_t cap) {
    size_t n = strlen(name);
    if (n > 7 && !strcasecmp(name + n - 7, ":latest")) {
        snprintf(buf, cap, "%.*s", (int)(n - 7), name);
        return 1;
    }
    struct api_served m;
    if (!api_find_model(s, name, &m) && strcmp(m.id, name)) {
        snprintf(buf, cap, "%s", m.id);
        return 1;
    }
    omni_registry_model *l = NULL;
    char err[256];
    int k = omni_registry_list(s->reg, 0, &l, err, sizeof err), hit = 0;
    for (int i = 0; i < k && !hit; i++)
        if ((l[i].kind & kinds) && api_name_means(name, l[i].id, NULL) && strcmp(l[i].id, name)) {
            snprintf(buf, cap, "%s", l[i].id);
            hit = 1;
        }
    for (int i = 0; i < k && !hit; i++)   /* of another kind: the caller then says which verb it lacks */
        if (api_name_means(name, l[i].id, NULL) && strcmp(l[i].id, name)) {
            snprintf(buf, cap, "%s", l[i].id);
            hit = 1;
        }
    if (k > 0) omni_registry_list_free(l, k);
    return hit;
}

/* Acquires name's model of the kinds (loading it on first use). OMNI_OK, or a registry
 * status with err set. */
static int acquire(struct api_server *s, const char *name, int kinds, omni_registry_ref *ref, char *err, size_t cap) {
    int rc = omni_registry_acquire(s->reg, name, kinds, s->load_timeout_ms, ref, err, cap);
    char alt[512];
    /* "x:latest" of an alias: the alias, then its target's rules */
    for (int tries = 0; rc == OMNI_ERR_NOT_FOUND && tries < 2 && other_name(s, name, kinds, alt, sizeof alt); tries++) {
        rc = omni_registry_acquire(s->reg, alt, kinds, s->load_timeout_ms, ref, err, cap);
        name = alt;
    }
    return rc;
}

/* The request's keep_alive (absent: the server's --keep-alive): 0, or the 400 written. */
static int read_keep_alive(struct mg_connection *c, const cJSON *j, int64_t *ms) {
    *ms = OMNI_KEEP_ALIVE_DEFAULT;
    const cJSON *ka = field(j, "keep_alive");
    char msg[200];
    if (ka && api_parse_keep_alive(ka, ms, msg, sizeof msg)) return oerr(c, 400, "%s", msg);
    return 0;
}

static void model_put(struct api_server *s, struct omodel *m);

/* The model for a chat, generate or embed request: 0 with *m held (model_put), or the
 * status of the error written in ollama's shape. verb: what the request does, for
 * "\"x\" does not support chat". */
static int model_get(struct api_server *s, struct mg_connection *c, const char *name, int kinds, const char *verb,
                     const cJSON *j, struct omodel *m) {
    memset(m, 0, sizeof *m);
    int status = read_keep_alive(c, j, &m->keep_alive_ms);
    if (status) return status;
    if (!s->serve_store && atomic_load(&s->state) == API_LOADING)
        return oerr(c, 503, "the model is still loading; retry shortly");
    char err[640] = "", base[256] = "", path[1024] = "";
    /* a fine-tuned model's name: the user's own (another's is a 404, as a missing one) */
    api_reply_set_dialect(API_DIALECT_OLLAMA);
    int ft = (kinds & OMNI_KIND_CHAT) ? api_ft_resolve(s, c, name, base, sizeof base, m->adapter_name,
                                                         sizeof m->adapter_name, path, sizeof path) : 0;
    api_reply_set_dialect(API_DIALECT_OPENAI);
    if (ft > 1) return ft;
    int rc = acquire(s, ft ? base : name, kinds, &m->ref, err, sizeof err);
    if (rc == OMNI_OK && ft) {
        api_reply_set_dialect(API_DIALECT_OLLAMA);
        int st = api_ft_attach(c, m->ref.model, m->adapter_name, path);
        api_reply_set_dialect(API_DIALECT_OPENAI);
        if (st) {
            model_put(s, m);
            return st;
        }
        m->adapter = m->adapter_name;
        snprintf(m->name, sizeof m->name, "%s", name);
        m->ref.id = m->name;
    }
    switch (rc) {
    case OMNI_OK: return 0;
    case OMNI_ERR_NOT_FOUND: return oerr(c, 404, "model '%s' not found", name);
    case OMNI_ERR_WRONG_KIND: return oerr(c, 400, "\"%s\" does not support %s", name, verb);
    case OMNI_ERR_LOADING: return oerr(c, 503, "model '%s' is still loading; retry shortly", name);
    case OMNI_ERR_STOPPING: return oerr(c, 503, "the server is shutting down");
    default: return oerr(c, 500, "model '%s' could not be loaded: %s", name, err);
    }
}

static void model_put(struct api_server *s, struct omodel *m) {
    if (m->ref.entry_) omni_registry_release(s->reg, &m->ref, m->keep_alive_ms);
    m->ref.entry_ = NULL;
}

/* An empty request (no messages, no prompt): ollama loads the model and says so with
 * done_reason "load"; with keep_alive 0 it unloads it instead ("unload"). A model
 * pinned with -m stays loaded (it is the server's): that answer says "load". */
static int answer_load(struct api_server *s, struct mg_connection *c, const char *name, int kinds, const cJSON *j,
                       int chat) {
    int64_t ka;
    int status = read_keep_alive(c, j, &ka);
    if (status) return status;
    const char *reason = "load";
    if (ka == 0) {
        char err[512] = "", alt[512];
        int rc = omni_registry_unload(s->reg, name, err, sizeof err);
        if (rc == OMNI_ERR_NOT_FOUND && other_name(s, name, kinds, alt, sizeof alt))
            rc = omni_registry_unload(s->reg, alt, err, sizeof err);
        if (rc == OMNI_ERR_NOT_FOUND) return oerr(c, 404, "model '%s' not found", name);
        if (rc >= 0) reason = "unload";
    } else {
        struct omodel m;
        if ((status = model_get(s, c, name, kinds, chat ? "chat" : "generate", j, &m))) return status;
        model_put(s, &m);
    }
    cJSON *r = reply_head(name);
    if (chat) add_text(r, 1, "", NULL);
    else cJSON_AddStringToObject(r, "response", "");
    cJSON_AddTrueToObject(r, "done");
    cJSON_AddStringToObject(r, "done_reason", reason);
    api_reply_json(c, 200, r);
    cJSON_Delete(r);
    return 200;
}

/* An image part in OpenAI's shape for one base64 image of ollama's 'images'. */
static cJSON *image_part(const char *b64) {
    size_t n = strlen(b64);
    char *url = malloc(n + 32);
    if (!url) return NULL;
    /* the decoder looks at the bytes, not at the type the URI names */
    snprintf(url, n + 32, "data:image/png;base64,%s", b64);
    cJSON *p = cJSON_CreateObject(), *iu = cJSON_AddObjectToObject(p, "image_url");
    cJSON_AddStringToObject(p, "type", "image_url");
    cJSON_AddStringToObject(iu, "url", url);
    free(url);
    return p;
}

/* ollama's message {role, content, images, thinking, tool_calls} as OpenAI's, images as
 * image_url parts before the text. Returns NULL with msg on bad input. */
static cJSON *openai_message(const cJSON *m, int i, char *msg, size_t cap) {
    const cJSON *role = cJSON_IsObject(m) ? field(m, "role") : NULL, *content = cJSON_IsObject(m) ? field(m, "content") : NULL;
    const cJSON *images = cJSON_IsObject(m) ? field(m, "images") : NULL;
    if (!cJSON_IsString(role)) { snprintf(msg, cap, "messages[%d] needs a string 'role'", i); return NULL; }
    if (content && !cJSON_IsString(content)) { snprintf(msg, cap, "messages[%d].content must be a string", i); return NULL; }
    if (images && !cJSON_IsArray(images)) { snprintf(msg, cap, "messages[%d].images must be an array of base64 strings", i); return NULL; }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "role", role->valuestring);
    if (!images || !cJSON_GetArraySize(images)) {
        cJSON_AddStringToObject(o, "content", content ? content->valuestring : "");
        return o;
    }
    cJSON *parts = cJSON_AddArrayToObject(o, "content");
    const cJSON *im;
    cJSON_ArrayForEach(im, images) {
        cJSON *p = cJSON_IsString(im) ? image_part(im->valuestring) : NULL;
        if (!p) {
            snprintf(msg, cap, "messages[%d].images must be an array of base64 strings", i);
            cJSON_Delete(o);
            return NULL;
        }
        cJSON_AddItemToArray(parts, p);
    }
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "type", "text");
    cJSON_AddStringToObject(t, "text", content ? content->valuestring : "");
    cJSON_AddItemToArray(parts, t);
    return o;
}

static int chat_on(struct api_server *s, struct mg_connection *c, const cJSON *j, const cJSON *msgs, const char *name,
                   const struct omodel *om, double t0);

static int route_chat_ollama(struct api_server *s, struct mg_connection *c, const cJSON *j, double t0) {
    int status = 0;
    const char *name = model_name(c, j, &status);
    if (!name) return status;
    const cJSON *msgs = field(j, "messages");
    if (msgs && !cJSON_IsArray(msgs)) return oerr(c, 400, "'messages' must be an array of {role, content} objects");
    if (!msgs || !cJSON_GetArraySize(msgs)) return answer_load(s, c, name, OMNI_KIND_CHAT, j, 1);
    const cJSON *tools = field(j, "tools");
    if (cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0)
        return oerr(c, 400, "\"%s\" does not support tools on this server yet", name);
    struct omodel om;
    if ((status = model_get(s, c, name, OMNI_KIND_CHAT, "chat", j, &om))) return status;
    status = chat_on(s, c, j, msgs, name, &om, t0);
    model_put(s, &om);   /* after the reply: the model stays loaded while the request runs */
    return status;
}

/* /api/chat's work once its model is held. */
static int chat_on(struct api_server *s, struct mg_connection *c, const cJSON *j, const cJSON *msgs, const char *name,
                   const struct omodel *om, double t0) {
    omni_model *mdl = om->ref.model;
    int status;
    char msg[512];
    struct api_options o;
    if (read_options(mdl, j, &o, msg, sizeof msg)) {
        api_options_free(&o);
        return oerr(c, 400, "%s", msg);
    }
    o.model = mdl;
    o.model_id = om->ref.id;
    o.adapter = om->adapter;
    cJSON *body = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(body, "messages");
    const cJSON *x;
    int i = 0;
    cJSON_ArrayForEach(x, msgs) {
        cJSON *om = openai_message(x, i++, msg, sizeof msg);
        if (!om) {
            cJSON_Delete(body);
            api_options_free(&o);
            return oerr(c, 400, "%s", msg);
        }
        cJSON_AddItemToArray(arr, om);
    }
    omni_prompt pr = {0};
    struct api_chat_images ci = {0};
    struct api_bad_field bad;
    const char *code;
    if ((status = api_chat_render_json(s, body, &o, &pr, &ci, &bad, &code))) status = oerr(c, status, "%s", bad.msg);
    else status = answer(s, c, name, 1, 1, &o, &pr, t0);
    omni_prompt_free(&pr);
    api_chat_images_free(&ci);
    cJSON_Delete(body);
    api_options_free(&o);
    return status;
}

/* ---- /api/generate's own 'template': the part of Go's text/template that prompt
 * templates use: {{ .System }}, {{ .Prompt }}, {{ .Response }} (empty: the reply follows),
 * {{ if .X }} … {{ else }} … {{ end }} (nested), and {{- / -}} trimming. ---- */

struct tbuf { char *p; size_t n, cap; int oom; };

static void tb_add(struct tbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t c = (b->cap ? b->cap * 2 : 256) + n;
        char *q = realloc(b->p, c);
        if (!q) { b->oom = 1; return; }
        b->p = q;
        b->cap = c;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static const char *tvar(const char *name, size_t n, const char *sys, const char *prompt) {
    if (n == 7 && !strncmp(name, ".System", 7)) return sys;
    if (n == 7 && !strncmp(name, ".Prompt", 7)) return prompt;
    if (n == 9 && !strncmp(name, ".Response", 9)) return "";
    return NULL;
}

/* Returns the rendered text (malloc'ed) or NULL with msg. */
static char *render_template(const char *t, const char *sys, const char *prompt, char *msg, size_t cap) {
    struct tbuf b = {0};
    int active[32], depth = 0, on = 1;   /* per open if: whether its branch is being written */
    int taken[32];
    tb_add(&b, "", 0);
    const char *p = t;
    while (*p) {
        const char *open = strstr(p, "{{");
        const char *text_end = open ? open : p + strlen(p);
        int ltrim = open && open[2] == '-';
        const char *te = text_end;
        if (ltrim) while (te > p && strchr(" \t\r\n", te[-1])) te--;
        if (on) tb_add(&b, p, (size_t)(te - p));
        if (!open) break;
        const char *close = strstr(open + 2, "}}");
        if (!close) { snprintf(msg, cap, "template: '{{' without '}}'"); free(b.p); return NULL; }
        int rtrim = close > open + 2 && close[-1] == '-';
        const char *a = open + 2 + ltrim, *z = close - rtrim;
        if (z < a) z = a;   /* "{{-}}" */
        while (a < z && *a == ' ') a++;
        while (z > a && z[-1] == ' ') z--;
        size_t n = (size_t)(z - a);
        const char *v;
        if ((v = tvar(a, n, sys, prompt))) {
            if (on) tb_add(&b, v, strlen(v));
        } else if (n > 3 && !strncmp(a, "if ", 3)) {
            const char *q = a + 3;
            while (*q == ' ') q++;
            const char *val = tvar(q, (size_t)(z - q), sys, prompt);
            if (!val || depth == 32) { snprintf(msg, cap, "template: unsupported condition '%.*s'", (int)n, a); free(b.p); return NULL; }
            active[depth] = on;
            taken[depth] = *val != 0;
            depth++;
            on = on && *val;
        } else if (n == 4 && !strncmp(a, "else", 4) && depth) {
            on = active[depth - 1] && !taken[depth - 1];
        } else if (n == 3 && !strncmp(a, "end", 3) && depth) {
            on = active[--depth];
        } else {
            snprintf(msg, cap, "template: unsupported action '{{ %.*s }}' (this server renders .System, .Prompt, "
                               ".Response and if/else/end)", (int)n, a);
            free(b.p);
            return NULL;
        }
        p = close + 2;
        if (rtrim) while (*p && strchr(" \t\r\n", *p)) p++;
    }
    if (depth) { snprintf(msg, cap, "template: an {{ if }} has no {{ end }}"); free(b.p); return NULL; }
    if (b.oom) { snprintf(msg, cap, "out of memory"); free(b.p); return NULL; }
    return b.p;
}

static int route_generate_ollama(struct api_server *s, struct mg_connection *c, const cJSON *j, double t0) {
    int status = 0;
    const char *name = model_name(c, j, &status);
    if (!name) return status;
    const cJSON *prompt = field(j, "prompt"), *sys = field(j, "system"), *tmpl = field(j, "template");
    const cJSON *raw = field(j, "raw"), *ctx = field(j, "context"), *images = field(j, "images"), *suffix = field(j, "suffix");
    if (prompt && !cJSON_IsString(prompt)) return oerr(c, 400, "'prompt' must be a string");
    if (sys && !cJSON_IsString(sys)) return oerr(c, 400, "'system' must be a string");
    if (tmpl && !cJSON_IsString(tmpl)) return oerr(c, 400, "'template' must be a string");
    if (raw && !cJSON_IsBool(raw)) return oerr(c, 400, "'raw' must be true or false");
    if (ctx && !cJSON_IsArray(ctx)) return oerr(c, 400, "'context' must be an array of token ids");
    if (images && !cJSON_IsArray(images)) return oerr(c, 400, "'images' must be an array of base64 strings");
    if (suffix && (!cJSON_IsString(suffix) || *suffix->valuestring))
        return oerr(c, 400, "\"%s\" does not support insert", name);
    int is_raw = raw && cJSON_IsTrue(raw), n_images = images ? cJSON_GetArraySize(images) : 0;
    const char *ptext = prompt ? prompt->valuestring : "";
    if (!*ptext && !n_images) return answer_load(s, c, name, OMNI_KIND_CHAT, j, 0);
    if (is_raw && (tmpl || sys)) return oerr(c, 400, "raw mode does not support template, system, or context");
    struct omodel om;
    if ((status = model_get(s, c, name, OMNI_KIND_CHAT, "generate", j, &om))) return status;
    omni_model *const mdl = om.ref.model;
    char msg[512];
    struct api_options o;
    if (read_options(mdl, j, &o, msg, sizeof msg)) {
        api_options_free(&o);
        model_put(s, &om);
        return oerr(c, 400, "%s", msg);
    }
    o.model = mdl;
    o.model_id = om.ref.id;
    o.adapter = om.adapter;
    const int nv = omni_model_n_vocab(mdl);
    int32_t *cx = NULL;
    int ncx = ctx ? cJSON_GetArraySize(ctx) : 0;
    omni_prompt pr = {0};
    struct api_chat_images ci = {0};
    char *text = NULL;
    struct tbuf marked = {0};   /* the prompt after one image marker per image */
    status = 0;
    if (ncx && !(cx = malloc(sizeof *cx * (size_t)ncx))) { status = oerr(c, 500, "out of memory"); goto done; }
    for (int i = 0; i < ncx; i++) {
        const cJSON *t = cJSON_GetArrayItem(ctx, i);
        if (!cJSON_IsNumber(t) || t->valuedouble < 0 || t->valuedouble >= nv || t->valuedouble != floor(t->valuedouble)) {
            status = oerr(c, 400, "'context' must hold token ids of this model (0..%d)", nv - 1);
            goto done;
        }
        cx[i] = (int32_t)t->valuedouble;
    }
    for (int i = 0; i < n_images; i++) {
        const cJSON *im = cJSON_GetArrayItem(images, i);
        cJSON *part = cJSON_IsString(im) ? image_part(im->valuestring) : NULL;
        struct api_bad_field bad;
        char param[32];
        snprintf(param, sizeof param, "images[%d]", i);
        if (!part) { status = oerr(c, 400, "'images' must be an array of base64 strings"); goto done; }
        int bad_img = api_chat_image_part(mdl, om.ref.id, &ci, part, param, &bad);
        cJSON_Delete(part);
        if (bad_img) { status = oerr(c, 400, "%s", bad.msg); goto done; }
        tb_add(&marked, OMNI_IMAGE_MARKER, strlen(OMNI_IMAGE_MARKER));
    }
    tb_add(&marked, ptext, strlen(ptext));
    if (marked.oom) { status = oerr(c, 500, "out of memory"); goto done; }
    char err[512] = "";
    if (is_raw) text = strdup(marked.p);
    else if (tmpl && *tmpl->valuestring) {
        if (!(text = render_template(tmpl->valuestring, sys ? sys->valuestring : "", marked.p, msg, sizeof msg))) {
            status = oerr(c, 400, "%s", msg);
            goto done;
        }
    } else {
        omni_chat_message cm[2];
        size_t n = 0;
        if (sys && *sys->valuestring) cm[n++] = (omni_chat_message){.role = "system", .content = sys->valuestring};
        cm[n++] = (omni_chat_message){.role = "user", .content = marked.p};
        if (!(text = omni_chat_format_kw(mdl, cm, n, 1, o.template_kwargs, err, sizeof err))) {
            status = oerr(c, 400, "the chat template cannot render this prompt: %s", err);
            goto done;
        }
    }
    if (!text) { status = oerr(c, 500, "out of memory"); goto done; }
    /* a continued context already has its BOS */
    if (omni_prompt_build(mdl, text, (const omni_image *const *)ci.img, ci.n, ncx == 0, 1, &pr, err, sizeof err)) {
        status = oerr(c, 400, "the prompt could not be tokenized: %s", err);
        goto done;
    }
    if (ncx) {
        int32_t *t = realloc(pr.tokens, sizeof *t * (size_t)(pr.n + ncx));
        if (!t) { status = oerr(c, 500, "out of memory"); goto done; }
        memmove(t + ncx, t, sizeof *t * (size_t)pr.n);
        memcpy(t, cx, sizeof *t * (size_t)ncx);
        pr.tokens = t;
        pr.n += ncx;
        for (int i = 0; i < pr.n_images; i++) pr.image_pos[i] += ncx;
    }
    status = answer(s, c, name, 0, !is_raw, &o, &pr, t0);
done:
    free(cx);
    free(text);
    free(marked.p);
    omni_prompt_free(&pr);
    api_chat_images_free(&ci);
    api_options_free(&o);
    model_put(s, &om);   /* after the reply */
    return status;
}

/* ---- embeddings ---- */

static int embed_on(struct api_server *s, struct mg_connection *c, const cJSON *j, int legacy, double t0,
                    const char *name, omni_embedder *e);

static int route_embed_ollama(struct api_server *s, struct mg_connection *c, const cJSON *j, int legacy, double t0) {
    int status = 0;
    const char *name = model_name(c, j, &status);
    if (!name) return status;
    struct omodel om;
    if ((status = model_get(s, c, name, OMNI_KIND_EMBEDDING, "embeddings", j, &om))) return status;
    if (omni_embedder_pooling(om.ref.embedder) == OMNI_POOLING_RANK)
        status = oerr(c, 400, "\"%s\" does not support embeddings", name);
    else status = embed_on(s, c, j, legacy, t0, name, om.ref.embedder);
    model_put(s, &om);
    return status;
}

/* /api/embed's (and /api/embeddings') work once its model is held. */
static int embed_on(struct api_server *s, struct mg_connection *c, const cJSON *j, int legacy, double t0,
                    const char *name, omni_embedder *e) {
    int status = 0;
    const cJSON *in = field(j, legacy ? "prompt" : "input"), *tr = field(j, "truncate"), *dj = field(j, "dimensions");
    const int E = omni_embedder_n_embd(e), n_ctx = omni_embedder_n_ctx(e);
    int dims = E, n = 0;
    if (tr && !cJSON_IsBool(tr)) return oerr(c, 400, "'truncate' must be true or false");
    if (dj && (!cJSON_IsNumber(dj) || dj->valuedouble != floor(dj->valuedouble) || dj->valuedouble < 1 ||
               dj->valuedouble > E))
        return oerr(c, 400, "'dimensions' must be an integer from 1 to %d", E);
    if (dj) dims = (int)dj->valuedouble;
    if (legacy ? in && !cJSON_IsString(in) : in && !cJSON_IsString(in) && !cJSON_IsArray(in))
        return oerr(c, 400, legacy ? "'prompt' must be a string" : "'input' must be a string or an array of strings");
    int count = !in ? 0 : cJSON_IsString(in) ? (*in->valuestring ? 1 : 0) : cJSON_GetArraySize(in);
    omni_embed_input *inp = calloc((size_t)(count ? count : 1), sizeof *inp);
    float *vec = malloc(sizeof(float) * (size_t)(count ? count : 1) * (size_t)E);
    long total = 0;
    if (!inp || !vec) { status = oerr(c, 500, "out of memory"); goto done; }
    for (int i = 0; i < count; i++, n++) {
        const cJSON *it = cJSON_IsString(in) ? in : cJSON_GetArrayItem(in, i);
        if (!cJSON_IsString(it)) { status = oerr(c, 400, "'input' must be a string or an array of strings"); goto done; }
        int32_t *t = NULL;
        char err[400];
        int nt = omni_embedder_tokenize(e, it->valuestring, strlen(it->valuestring), &t, err, sizeof err);
        if (nt < 0) { status = oerr(c, 400, "input %d could not be tokenized: %s", i, err); goto done; }
        inp[i].tokens = t;
        inp[i].n_tokens = nt;
        if (nt > n_ctx) {
            if (tr && cJSON_IsFalse(tr)) { n++; status = oerr(c, 400, "input length exceeds the context length"); goto done; }
            inp[i].n_tokens = n_ctx;   /* truncate (ollama's default): keep the start */
        }
        if (inp[i].n_tokens < 1) { n++; status = oerr(c, 400, "input %d has no tokens", i); goto done; }
        total += inp[i].n_tokens;
    }
    char err[512];
    if (count && omni_embed(e, inp, count, !legacy, vec, NULL, err, sizeof err)) {
        status = oerr(c, strstr(err, "out of memory") ? 500 : 400, "%s", err);
        goto done;
    }
    cJSON *r = cJSON_CreateObject();
    cJSON *arr = NULL;
    if (legacy) arr = cJSON_AddArrayToObject(r, "embedding");
    else {
        cJSON_AddStringToObject(r, "model", name);
        arr = cJSON_AddArrayToObject(r, "embeddings");
    }
    for (int i = 0; i < count; i++) {
        float *v = vec + (size_t)i * E;
        if (dims < E) {   /* the first dims components, renormalised (Matryoshka) */
            double ss = 0;
            for (int k = 0; k < dims; k++) ss += (double)v[k] * v[k];
            double inv = ss > 0 ? 1.0 / sqrt(ss) : 0;
            for (int k = 0; k < dims; k++) v[k] = (float)(v[k] * inv);
        }
        cJSON *a = legacy ? arr : cJSON_CreateArray();
        for (int k = 0; k < dims; k++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[k]));
        if (!legacy) cJSON_AddItemToArray(arr, a);
    }
    if (!legacy) {
        add_count(r, "total_duration", now_ns() - t0);
        add_count(r, "prompt_eval_count", (double)total);
        api_meter_tokens(api_meter_current(), total, 0, 0);
    }
    status = api_reply_json(c, 200, r);
    cJSON_Delete(r);
done:
    for (int i = 0; i < n; i++) free((void *)inp[i].tokens);
    free(inp);
    free(vec);
    return status;
}

/* ---- what the server has: /api/tags, /api/ps, /api/show ---- */

/* "494.03M", "1.7B" as ollama writes parameter counts */
static void param_size(uint64_t n, char *buf, size_t cap) {
    if (n >= 1000000000ull) snprintf(buf, cap, "%.1fB", (double)n / 1e9);
    else if (n >= 1000000ull) snprintf(buf, cap, "%.2fM", (double)n / 1e6);
    else snprintf(buf, cap, "%.2fK", (double)n / 1e3);
}

/* The listed name: ollama's always carry a tag. */
static void listed_name(const char *id, char *buf, size_t cap) {
    snprintf(buf, cap, strchr(id, ':') ? "%s" : "%s:latest", id);
}

struct model_facts {
    omni_file_info info;
    int have_info;
    struct stat st;
    int have_st;
};

static void facts_read(const struct api_served *m, struct model_facts *f) {
    memset(f, 0, sizeof *f);
    char err[256];
    if (m->path && !omni_file_info_read(m->path, &f->info, err, sizeof err)) f->have_info = 1;
    if (m->path && !stat(m->path, &f->st)) f->have_st = 1;
}

static void facts_free(struct model_facts *f) {
    if (f->have_info) omni_file_info_free(&f->info);
}

static uint64_t served_size(const struct api_served *m, const struct model_facts *f) {
    if (f->have_st) return (uint64_t)f->st.st_size;
    return m->model ? omni_model_size(m->model) : 0;
}

/* The architecture: the loaded model's, else the file's general.architecture. */
static const char *arch_of(const struct api_served *m, const struct model_facts *f) {
    if (m->model) return omni_model_arch(m->model);
    if (m->embedder) return omni_embedder_arch(m->embedder);
    return f->have_info && f->info.arch ? f->info.arch : "";
}

static cJSON *details_json(const struct api_served *m, const struct model_facts *f) {
    cJSON *d = cJSON_CreateObject();
    const char *arch = arch_of(m, f);
    cJSON_AddStringToObject(d, "parent_model", "");
    cJSON_AddStringToObject(d, "format", "gguf");
    cJSON_AddStringToObject(d, "family", arch);
    cJSON *fam = cJSON_AddArrayToObject(d, "families");
    cJSON_AddItemToArray(fam, cJSON_CreateString(arch));
    char ps[32] = "";
    uint64_t np = m->model ? omni_model_n_params(m->model) : f->have_info ? f->info.n_params : 0;
    if (np) param_size(np, ps, sizeof ps);
    cJSON_AddStringToObject(d, "parameter_size", ps);
    /* the weight type holding the most bytes, in capitals: "Q8_0", "F16", "Q4_K" */
    char q[32] = "";
    if (f->have_info) {
        uint64_t best = 0;
        for (int i = 0; i < f->info.n_types; i++)
            if (f->info.types[i].bytes > best) {
                best = f->info.types[i].bytes;
                snprintf(q, sizeof q, "%s", f->info.types[i].name);
            }
        for (char *p = q; *p; p++) *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    }
    cJSON_AddStringToObject(d, "quantization_level", q);
    return d;
}

/* A stand-in digest (64 hex digits) that changes with the file: hashing gigabytes per
 * listing would be too slow, and clients only compare digests. */
static void digest_of(const struct api_served *m, const struct model_facts *f, char *hex) {
    uint64_t h[4] = {0x243F6A8885A308D3ull, 0x13198A2E03707344ull, 0xA4093822299F31D0ull, 0x082EFA98EC4E6C89ull};
    const char *id = m->path ? m->path : m->id;
    for (const char *p = id; *p; p++)
        for (int k = 0; k < 4; k++) h[k] = (h[k] ^ (unsigned char)*p) * 0x100000001B3ull + (uint64_t)k;
    uint64_t extra[2] = {f->have_st ? (uint64_t)f->st.st_size : 0, f->have_st ? (uint64_t)f->st.st_mtime : 0};
    for (int e = 0; e < 2; e++)
        for (int k = 0; k < 4; k++) { h[k] ^= extra[e] + 0x9E3779B97F4A7C15ull * (uint64_t)(k + 1); h[k] *= 0xBF58476D1CE4E5B9ull; h[k] ^= h[k] >> 31; }
    for (int k = 0; k < 4; k++) sprintf(hex + 16 * k, "%016llx", (unsigned long long)h[k]);
}

static void modified_at(const struct model_facts *f, time_t fallback, char *buf, size_t cap) {
    struct timespec ts = {fallback, 0};
    if (f->have_st) ts = f->st.st_mtim;
    rfc3339(&ts, buf, cap);
}

/* x: the registry's view of the model (memory, expiry, context), or NULL for none. */
static cJSON *model_entry(struct api_server *s, const struct api_served *m, int running, const omni_registry_model *x) {
    struct model_facts f;
    facts_read(m, &f);
    char name[300], hex[65], t[64];
    listed_name(m->id, name, sizeof name);
    digest_of(m, &f, hex);
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", name);
    cJSON_AddStringToObject(e, "model", name);
    if (!running) {
        modified_at(&f, s->created, t, sizeof t);
        cJSON_AddStringToObject(e, "modified_at", t);
    }
    /* /api/ps: what it takes loaded (weights + KV cache); /api/tags: the file */
    cJSON_AddNumberToObject(e, "size", (double)(running && x && x->memory ? x->memory : served_size(m, &f)));
    cJSON_AddStringToObject(e, "digest", hex);
    cJSON_AddItemToObject(e, "details", details_json(m, &f));
    if (running) {
        /* the idle unload (keep-alive); pinned by -m, kept forever or in use: none */
        if (x && x->expires_at > 0) {
            struct timespec ts = {(time_t)(x->expires_at / 1000), (long)(x->expires_at % 1000) * 1000000L};
            rfc3339(&ts, t, sizeof t);
            cJSON_AddStringToObject(e, "expires_at", t);
        } else cJSON_AddStringToObject(e, "expires_at", "9999-12-31T23:59:59Z");
        cJSON_AddNumberToObject(e, "size_vram", 0);
        cJSON_AddNumberToObject(e, "context_length", x && x->n_ctx ? x->n_ctx
                                : m->model ? omni_request_n_ctx(m->model, NULL)
                                : m->embedder ? omni_embedder_n_ctx(m->embedder) : 0);
    }
    facts_free(&f);
    return e;
}

/* x as an api_served: a pinned model's objects (api_served_models), else the store
 * file's path. 0, or -1 for one ollama's API does not list (ASR, image encoders, rerankers). */
static int served_of(struct api_server *s, const omni_registry_model *x, struct api_served *m) {
    if (x->kind != OMNI_KIND_CHAT && x->kind != OMNI_KIND_EMBEDDING) return -1;
    if (x->pinned) {
        struct api_served all[2];
        int n = api_served_models(s, all, 2);
        for (int i = 0; i < n; i++)
            if (!strcmp(all[i].id, x->id)) { *m = all[i]; return 0; }
        if (!x->path) return -1;
    }
    *m = (struct api_served){x->id, x->kind == OMNI_KIND_CHAT ? API_MODEL_CHAT : API_MODEL_EMBED, NULL, NULL, x->path};
    return 0;
}

/* /api/tags (every chat and embedding model, the store rescanned so a model pulled since
 * is there) and /api/ps (the loaded ones, with memory and expiry), from the registry. */
static int route_list(struct api_server *s, struct mg_connection *c, int running) {
    omni_registry_model *l = NULL;
    char err[256];
    int n = omni_registry_list(s->reg, running, &l, err, sizeof err);
    if (n < 0) return oerr(c, 500, "%s", err);
    cJSON *j = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(j, "models");
    for (int i = 0; i < n; i++) {
        struct api_served m;
        if (running && l[i].loaded != 1) continue;   /* still loading: not running yet */
        if (!served_of(s, &l[i], &m)) cJSON_AddItemToArray(arr, model_entry(s, &m, running, &l[i]));
    }
    omni_registry_list_free(l, n);
    api_reply_json(c, 200, j);
    cJSON_Delete(j);
    return 200;
}

/* The model /api/show describes: a pinned one, else the registry's entry (not loaded for
 * this). 0 with *m (and *x, to free with omni_registry_list_free(*l, *nl)) set, or -1. */
static int show_find(struct api_server *s, const char *name, struct api_served *m, omni_registry_model **l, int *nl,
                     const omni_registry_model **x) {
    *l = NULL, *nl = 0, *x = NULL;
    if (!api_find_model(s, name, m)) return 0;
    char err[256], alt[512];
    int n = omni_registry_list(s->reg, 0, l, err, sizeof err);
    if (n <= 0) return -1;
    *nl = n;
    for (int pass = 0; pass < 2 && !*x; pass++) {
        const char *want = name;
        if (pass == 1) {
            if (!other_name(s, name, OMNI_KIND_CHAT | OMNI_KIND_EMBEDDING, alt, sizeof alt)) break;
            want = alt;
        }
        for (int i = 0; i < n && !*x; i++)
            if (!strcmp((*l)[i].id, want) && !served_of(s, &(*l)[i], m)) *x = &(*l)[i];
    }
    return *x ? 0 : -1;
}

static int route_show_ollama(struct api_server *s, struct mg_connection *c, const cJSON *j) {
    int status = 0;
    const char *name = model_name(c, j, &status);
    if (!name) return status;
    struct api_served m;
    omni_registry_model *l;
    const omni_registry_model *x;
    int nl;
    if (show_find(s, name, &m, &l, &nl, &x)) {
        if (nl > 0) omni_registry_list_free(l, nl);
        return oerr(c, 404, "model '%s' not found", name);
    }
    struct model_facts f;
    facts_read(&m, &f);
    cJSON *r = cJSON_CreateObject();
    const char *tmpl = f.have_info && f.info.chat_template ? f.info.chat_template : "";
    const char *arch = arch_of(&m, &f);
    /* a store model need not be loaded: its file says what the loaded one would */
    const int n_ctx = m.model ? omni_request_n_ctx(m.model, NULL) : m.embedder ? omni_embedder_n_ctx(m.embedder)
                    : x && x->n_ctx ? x->n_ctx : f.have_info ? (int)f.info.n_ctx_train : 0;
    const int is_chat = m.kind == API_MODEL_CHAT;
    cJSON_AddStringToObject(r, "license", f.have_info && f.info.license ? f.info.license : "");
    char mf[4400];
    snprintf(mf, sizeof mf, "# Modelfile of %s, served by omni\nFROM %s\n", m.id, m.path ? m.path : m.id);
    cJSON_AddStringToObject(r, "modelfile", mf);
    char params[64];
    snprintf(params, sizeof params, "num_ctx %d", n_ctx);
    cJSON_AddStringToObject(r, "parameters", params);
    cJSON_AddStringToObject(r, "template", tmpl);
    cJSON_AddItemToObject(r, "details", details_json(&m, &f));
    cJSON *mi = cJSON_AddObjectToObject(r, "model_info");
    char key[96];
    cJSON_AddStringToObject(mi, "general.architecture", arch);
    if (f.have_info && f.info.name) cJSON_AddStringToObject(mi, "general.name", f.info.name);
    uint64_t np = m.model ? omni_model_n_params(m.model) : f.have_info ? f.info.n_params : 0;
    if (np) cJSON_AddNumberToObject(mi, "general.parameter_count", (double)np);
    snprintf(key, sizeof key, "%s.context_length", arch);
    cJSON_AddNumberToObject(mi, key, m.model ? omni_model_n_ctx_train(m.model) : m.embedder ? omni_embedder_n_ctx(m.embedder)
                                     : f.have_info ? (double)f.info.n_ctx_train : 0);
    if (m.embedder) {
        snprintf(key, sizeof key, "%s.embedding_length", arch);
        cJSON_AddNumberToObject(mi, key, omni_embedder_n_embd(m.embedder));
    }
    if (f.have_info && f.info.tokenizer) cJSON_AddStringToObject(mi, "tokenizer.ggml.model", f.info.tokenizer);
    cJSON *caps = cJSON_AddArrayToObject(r, "capabilities");
    if (is_chat) {
        cJSON_AddItemToArray(caps, cJSON_CreateString("completion"));
        if (m.model && omni_model_n_image_pos(m.model) > 0) cJSON_AddItemToArray(caps, cJSON_CreateString("vision"));
        /* thinking: the template knows a thinking switch or writes thoughts */
        if (strstr(tmpl, "<think>") || strstr(tmpl, "enable_thinking") || strstr(tmpl, "reasoning_content"))
            cJSON_AddItemToArray(caps, cJSON_CreateString("thinking"));
    } else cJSON_AddItemToArray(caps, cJSON_CreateString("embedding"));
    char t[64];
    modified_at(&f, s->created, t, sizeof t);
    cJSON_AddStringToObject(r, "modified_at", t);
    facts_free(&f);
    if (nl > 0) omni_registry_list_free(l, nl);
    status = api_reply_json(c, 200, r);
    cJSON_Delete(r);
    return status;
}

/* ---- the model store: /api/pull, /api/delete ---- */

/* The catalog entry an ollama-style name means (same rules as api_find_model's), or NULL. */
static const char *catalog_name(const omni_catalog *cat, const char *name) {
    for (int i = 0; i < omni_catalog_count(cat); i++) {
        const omni_catalog_entry *x = omni_catalog_get(cat, i);
        if (api_name_means(name, x->name, NULL)) return x->name;
    }
    return NULL;
}

struct pull_progress {
    struct mg_connection *c;
    int stream, ok, began;
    const char *file;
    double last;
    uint64_t last_done;
};

static void pull_status(struct pull_progress *p, const char *status) {
    if (!p->stream || !p->ok) return;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "status", status);
    p->ok = ndjson_send(p->c, j) == 0;
    cJSON_Delete(j);
}

static void on_pull_progress(uint64_t done, uint64_t total, void *user) {
    struct pull_progress *p = user;
    double t = now_ns();
    /* at most ~10 lines a second, and always the last one */
    if (!p->stream || !p->ok || (t - p->last < 1e8 && done != total)) return;
    if (done == p->last_done && p->last > 0) return;
    p->last = t;
    p->last_done = done;
    char st[300];
    snprintf(st, sizeof st, "pulling %s", p->file);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "status", st);
    cJSON_AddStringToObject(j, "digest", p->file);
    if (total) cJSON_AddNumberToObject(j, "total", (double)total);
    cJSON_AddNumberToObject(j, "completed", (double)done);
    p->ok = ndjson_send(p->c, j) == 0;
    cJSON_Delete(j);
}

static int route_pull_ollama(struct api_server *s, struct mg_connection *c, const cJSON *j) {
    int status = 0;
    const char *name = model_name(c, j, &status);
    if (!name) return status;
    const cJSON *st = field(j, "stream"), *ins = field(j, "insecure");
    if (st && !cJSON_IsBool(st)) return oerr(c, 400, "'stream' must be true or false");
    if (ins && !cJSON_IsBool(ins)) return oerr(c, 400, "'insecure' must be true or false");
    char err[512];
    omni_catalog *cat = omni_catalog_load(NULL, err, sizeof err);
    if (!cat) return oerr(c, 500, "%s", err);
    const char *cname = catalog_name(cat, name);
    if (!cname) {
        omni_catalog_free(cat);
        return oerr(c, 404, "pull model manifest: model '%s' is not in this server's catalog (see `omni pull --list`)",
                    name);
    }
    const char *file = cname;
    for (int i = 0; i < omni_catalog_count(cat); i++)
        if (!strcmp(omni_catalog_get(cat, i)->name, cname)) file = omni_catalog_get(cat, i)->file;
    struct pull_progress pp = {c, !st || cJSON_IsTrue(st), 1, 0, file, 0, 0};
    if (pp.stream) {
        pp.ok = ndjson_begin(c) == 0;
        pull_status(&pp, "pulling manifest");
    }
    omni_pull_params p = omni_pull_default_params();
    p.progress = on_pull_progress;
    p.progress_user = &pp;
    p.insecure = ins && cJSON_IsTrue(ins);
    char path[4096];
    int verified = 0;
    int rc = omni_store_pull(cname, &p, path, sizeof path, &verified, err, sizeof err);
    omni_catalog_free(cat);
    if (pp.stream) {
        if (rc) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "error", err);
            if (pp.ok) ndjson_send(c, e);
            cJSON_Delete(e);
        } else {
            pull_status(&pp, "verifying sha256 digest");
            pull_status(&pp, "writing manifest");
            pull_status(&pp, "success");
        }
        if (pp.ok) ndjson_end(c);
        return 200;
    }
    if (rc) return oerr(c, 500, "%s", err);
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "status", "success");
    api_reply_json(c, 200, r);
    cJSON_Delete(r);
    return 200;
}

static int route_delete_ollama(struct api_server *s, struct mg_connection *c, const cJSON *j) {
    int status = 0;
    const char *name = model_name(c, j, &status);
    if (!name) return status;
    omni_store_entry *es = NULL;
    char err[512], removed[4096];
    int n = omni_store_list(&es, err, sizeof err);
    const char *hit = NULL;
    for (int i = 0; i < n && !hit; i++)
        if (!es[i].partial && api_name_means(name, es[i].name, NULL)) hit = es[i].name;
    if (!hit) status = oerr(c, 404, "model '%s' not found", name);
    else if (omni_store_rm(hit, removed, sizeof removed, err, sizeof err)) status = oerr(c, 500, "%s", err);
    else status = api_reply(c, 200, "application/json", "", 0, NULL);
    if (n > 0) omni_store_list_free(es, n);
    return status;
}

/* ---- routing ---- */

static int not_allowed(struct mg_connection *c, const char *allow) {
    char hdr[64];
    snprintf(hdr, sizeof hdr, "Allow: %s\r\n", allow);
    const char *b = "{\"error\":\"method not allowed\"}";
    return api_reply(c, 405, "application/json", b, strlen(b), hdr);
}

typedef int (*body_route)(struct api_server *s, struct mg_connection *c, const cJSON *j, double t0);

static int r_chat(struct api_server *s, struct mg_connection *c, const cJSON *j, double t0) {
    return route_chat_ollama(s, c, j, t0);
}
static int r_generate(struct api_server *s, struct mg_connection *c, const cJSON *j, double t0) {
    return route_generate_ollama(s, c, j, t0);
}
static int r_embed(struct api_server *s, struct mg_connection *c, const cJSON *j, double t0) {
    return route_embed_ollama(s, c, j, 0, t0);
}
static int r_embeddings(struct api_server *s, struct mg_connection *c, const cJSON *j, double t0) {
    return route_embed_ollama(s, c, j, 1, t0);
}
static int r_show(struct api_server *s, struct mg_connection *c, const cJSON *j, double t0) {
    (void)t0;
    return route_show_ollama(s, c, j);
}
static int r_pull(struct api_server *s, struct mg_connection *c, const cJSON *j, double t0) {
    (void)t0;
    return route_pull_ollama(s, c, j);
}
static int r_delete(struct api_server *s, struct mg_connection *c, const cJSON *j, double t0) {
    (void)t0;
    return route_delete_ollama(s, c, j);
}

static int with_body(struct api_server *s, struct mg_connection *c, body_route fn) {
    double t0 = now_ns();
    size_t len;
    int status = 0;
    char *body = api_read_body(s, c, &len, &status);
    if (!body) {
        if (status == 413) {
            api_reply_then_close(c);
            status = oerr(c, 413, "the request body is larger than this server's limit of %zu bytes", s->p.max_body);
            api_drain_body(c);
            return status;
        }
        return oerr(c, 400, "the request body could not be read");
    }
    if (atomic_load(&s->state) == API_DRAINING) {
        free(body);
        return oerr(c, 503, "the server is shutting down");
    }
    const char *end = NULL;
    cJSON *j = len ? cJSON_ParseWithLengthOpts(body, len, &end, 0) : NULL;
    if (!len) status = oerr(c, 400, "missing request body");
    else if (!j) status = oerr(c, 400, "invalid JSON in the request body (near byte %zu)", end && end >= body ? (size_t)(end - body) : 0);
    else if (!cJSON_IsObject(j)) status = oerr(c, 400, "the request body must be a JSON object");
    else status = fn(s, c, j, t0);
    cJSON_Delete(j);
    free(body);
    return status;
}

int api_is_ollama_path(const char *path) {
    static const char *const k[] = {"/api/chat", "/api/generate", "/api/embed", "/api/embeddings", "/api/tags",
                                    "/api/show", "/api/pull", "/api/ps", "/api/version", "/api/delete",
                                    "/api/copy", "/api/create", "/api/push"};
    for (size_t i = 0; i < sizeof k / sizeof *k; i++)
        if (!strcmp(path, k[i])) return 1;
    return !strncmp(path, "/api/blobs/", 11);
}

int route_ollama(struct api_server *s, struct mg_connection *c, const char *m, const char *path) {
    int get = !strcmp(m, "GET") || !strcmp(m, "HEAD"), post = !strcmp(m, "POST");
    if (!strcmp(path, "/")) {   /* HEAD / : ollama's liveness probe (GET / stays the web app) */
        mg_printf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 17\r\n"
                     "Access-Control-Allow-Origin: *\r\n\r\n");
        return 200;
    }
    /* the same credentials as /v1 (static keys, a user's key, a login); pulling and deleting
     * models changes the server, so with accounts that is an admin's (or a static key's) */
    struct api_who *who = api_who();
    int wr = api_who_resolve(s, c, 0, !get, who);
    if (wr) return wr;
    if ((!strcmp(path, "/api/pull") || !strcmp(path, "/api/delete")) && api_who_has_user(who) &&
        who->kind != API_WHO_LOCAL && strcmp(who->user.role, "admin"))
        return oerr(c, 403, "forbidden: only an admin may pull or delete models on this server");
    if (post && strcmp(path, "/api/show") &&
        (wr = api_meter_is_metered(path) ? api_meter_begin(s, c, who, path, 1, api_meter_slot()) : api_who_v1_gate(s, c, who)))
        return wr;
    /* ollama's generating routes serve the pinned model: its limits are known now */
    if (post && api_meter_current() && (!strcmp(path, "/api/chat") || !strcmp(path, "/api/generate")) && s->model_id &&
        (wr = api_meter_model(s, c, s->model_id)))
        return wr;
    if (!strcmp(path, "/api/version")) {
        if (!get) return not_allowed(c, "GET");
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "version", OLLAMA_API_VERSION);
        cJSON_AddStringToObject(j, "omni_version", omni_version());
        api_reply_json(c, 200, j);
        cJSON_Delete(j);
        return 200;
    }
    if (!strcmp(path, "/api/tags")) return get ? route_list(s, c, 0) : not_allowed(c, "GET");
    if (!strcmp(path, "/api/ps")) return get ? route_list(s, c, 1) : not_allowed(c, "GET");
    static const struct { const char *path; body_route fn; } posts[] = {
        {"/api/chat", r_chat},   {"/api/generate", r_generate}, {"/api/embed", r_embed},
        {"/api/embeddings", r_embeddings}, {"/api/show", r_show}, {"/api/pull", r_pull}};
    for (size_t i = 0; i < sizeof posts / sizeof posts[0]; i++)
        if (!strcmp(path, posts[i].path)) return post ? with_body(s, c, posts[i].fn) : not_allowed(c, "POST");
    if (!strcmp(path, "/api/delete"))
        return !strcmp(m, "DELETE") ? with_body(s, c, r_delete) : not_allowed(c, "DELETE");
    return oerr(c, 404, "404 page not found: %s %s is not part of this server's ollama API", m, path);
}
