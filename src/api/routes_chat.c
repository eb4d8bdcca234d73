/* POST /v1/chat/completions: validates the messages, renders them with the model's
 * chat template, tokenizes, and hands the prompt to api_generate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/asr.h"
#include "api/chat_images.h"
#include "api/chat_store.h"
#include "api/generate.h"
#include "api/model_ref.h"
#include "api/reply.h"
#include "api/routes.h"

struct text_buf { char *p; size_t n; };

static int buf_add(struct text_buf *b, const char *s) {
    size_t k = strlen(s);
    char *q = realloc(b->p, b->n + k + 1);
    if (!q) return -1;
    memcpy(q + b->n, s, k + 1);
    b->p = q;
    b->n += k;
    return 0;
}

/* A message's content as one string: a string, null, or an array of text parts
 * (concatenated). Parts this text-only model cannot take give a 400 saying so. */
static int message_text(struct api_server *s, omni_model *mdl, const char *mid, const cJSON *msg, int i,
                        struct text_buf *out,
                        struct api_chat_images *ci, struct api_bad_field *bad) {
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    snprintf(bad->param, sizeof bad->param, "messages[%d].content", i);
    if (!content || cJSON_IsNull(content)) return buf_add(out, "");
    if (cJSON_IsString(content)) return buf_add(out, content->valuestring);
    if (!cJSON_IsArray(content)) {
        snprintf(bad->msg, sizeof bad->msg, "'messages[%d].content' must be a string or an array of content parts", i);
        return -1;
    }
    int j = 0;
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        const cJSON *type = cJSON_IsObject(part) ? cJSON_GetObjectItemCaseSensitive(part, "type") : NULL;
        snprintf(bad->param, sizeof bad->param, "messages[%d].content[%d]", i, j);
        if (!cJSON_IsString(type)) {
            snprintf(bad->msg, sizeof bad->msg, "'messages[%d].content[%d]' must be an object with a string 'type'", i, j);
            return -1;
        }
        const char *t = type->valuestring;
        if (!strcmp(t, "text")) {
            const cJSON *txt = cJSON_GetObjectItemCaseSensitive(part, "text");
            if (!cJSON_IsString(txt)) {
                snprintf(bad->msg, sizeof bad->msg, "'messages[%d].content[%d].text' must be a string", i, j);
                return -1;
            }
            if (buf_add(out, txt->valuestring)) return -1;
        } else if (!strcmp(t, "image_url") || !strcmp(t, "input_image")) {
            char param[64];
            snprintf(param, sizeof param, "messages[%d].content[%d]", i, j);
            if (api_chat_image_part(mdl, mid, ci, part, param, bad)) return -1;
            if (buf_add(out, OMNI_IMAGE_MARKER)) return -1;
        } else if (!strcmp(t, "input_audio")) {
            /* A text model hears the audio as its transcript (api/asr.h). */
            char param[64], *heard = NULL;
            snprintf(param, sizeof param, "messages[%d].content[%d]", i, j);
            /* without --asr-model, the store's Whisper model (held for this part only) */
            struct api_model_ref ar = {{0}, OMNI_KEEP_ALIVE_DEFAULT};
            struct api_asr *wrap = NULL;
            char aerr[400] = "";
            if (!s->asr && s->serve_store &&
                omni_registry_acquire(s->reg, NULL, OMNI_KIND_ASR, s->load_timeout_ms, &ar.ref, aerr, sizeof aerr) == OMNI_OK)
                wrap = api_asr_wrap(ar.ref.asr, ar.ref.id);
            int arc = api_asr_input_audio(s->asr ? s->asr : wrap, part, param, &heard, bad);
            api_asr_close(wrap);
            api_model_put(s, &ar);
            if (arc) return -1;
            int rc = (out->n && out->p[out->n - 1] != ' ' && buf_add(out, " ")) || buf_add(out, heard);
            free(heard);
            if (rc) return -1;
        } else {
            snprintf(bad->msg, sizeof bad->msg, "'messages[%d].content[%d].type' is '%s'; expected 'text'", i, j, t);
            return -1;
        }
        j++;
    }
    return 0;
}

static const char *const roles[] = {"system", "developer", "user", "assistant", "tool", NULL};

/* Reads messages into msgs (texts malloc'ed into texts[]). Returns the count or -1. */
static int read_messages(struct api_server *s, omni_model *mdl, const char *mid, const cJSON *body, omni_chat_message **msgs, char ***texts,
                         struct api_chat_images *ci, struct api_bad_field *bad) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(body, "messages");
    snprintf(bad->param, sizeof bad->param, "messages");
    if (!m || cJSON_IsNull(m)) { snprintf(bad->msg, sizeof bad->msg, "'messages' is required"); return -1; }
    if (!cJSON_IsArray(m) || cJSON_GetArraySize(m) == 0) {
        snprintf(bad->msg, sizeof bad->msg, "'messages' must be a non-empty array of {role, content} objects");
        return -1;
    }
    int n = cJSON_GetArraySize(m), i = 0;
    *msgs = calloc((size_t)n, sizeof **msgs);
    *texts = calloc((size_t)n, sizeof **texts);
    if (!*msgs || !*texts) { snprintf(bad->msg, sizeof bad->msg, "out of memory"); return -1; }
    /* On failure the texts read so far are freed here; the arrays by the caller. */
    const cJSON *msg;
    cJSON_ArrayForEach(msg, m) {
        const cJSON *role = cJSON_IsObject(msg) ? cJSON_GetObjectItemCaseSensitive(msg, "role") : NULL;
        snprintf(bad->param, sizeof bad->param, "messages[%d].role", i);
        if (!cJSON_IsObject(msg) || !cJSON_IsString(role)) {
            for (int k = 0; k < i; k++) free((*texts)[k]);
            if (!cJSON_IsObject(msg)) {
                snprintf(bad->param, sizeof bad->param, "messages[%d]", i);
                snprintf(bad->msg, sizeof bad->msg, "'messages[%d]' must be an object with 'role' and 'content'", i);
            } else snprintf(bad->msg, sizeof bad->msg, "'messages[%d].role' must be a string", i);
            return -1;
        }
        int known = 0;
        for (const char *const *r = roles; *r; r++) known |= !strcmp(*r, role->valuestring);
        if (!known) {
            for (int k = 0; k < i; k++) free((*texts)[k]);
            snprintf(bad->msg, sizeof bad->msg,
                     "'messages[%d].role' is '%s'; expected system, developer, user, assistant or tool", i,
                     role->valuestring);
            return -1;
        }
        struct text_buf tb = {0};
        if (message_text(s, mdl, mid, msg, i, &tb, ci, bad)) {
            free(tb.p);
            for (int k = 0; k < i; k++) free((*texts)[k]);
            return -1;
        }
        (*texts)[i] = tb.p ? tb.p : strdup("");
        /* Templates know "system"; "developer" is OpenAI's newer name for it. */
        (*msgs)[i].role = !strcmp(role->valuestring, "developer") ? "system" : role->valuestring;
        (*msgs)[i].content = (*texts)[i];
        i++;
    }
    return n;
}

/* The render step itself, writing no reply: 0, or 400 with *bad and *code filled. */
static int render_core(struct api_server *s, const omni_chat_message *msgs, int n_msgs, const struct api_chat_images *ci,
                       struct api_options *o, omni_prompt *pr, struct api_bad_field *bad, const char **code) {
    char err[512] = "";
    /* Room for the reply: what max_tokens asks for, up to half the context; else a quarter. */
    omni_model *mdl = o->model ? o->model : s->model;  /* the model the request named, else the pinned one */
    const int n_ctx = omni_request_n_ctx(mdl, NULL);
    int reserve = o->max_tokens > 0 ? o->max_tokens : n_ctx / 4;
    if (reserve > n_ctx / 2) reserve = n_ctx / 2;
    if (reserve > 512 && o->max_tokens <= 0) reserve = 512;
    int rc = omni_chat_prompt_kw(mdl, msgs, (size_t)n_msgs, (const omni_image *const *)ci->img, ci->n,
                                 o->truncation ? n_ctx - reserve : n_ctx - 1, o->truncation, o->template_kwargs, pr,
                                 &o->truncated_messages, err, sizeof err);
    *code = "invalid_value";
    snprintf(bad->param, sizeof bad->param, "messages");
    if (rc == OMNI_ERR_TOO_LONG) {
        *code = "context_length_exceeded";
        snprintf(bad->msg, sizeof bad->msg, "%s", err);
        return 400;
    }
    if (rc) {
        snprintf(bad->msg, sizeof bad->msg, "the chat template cannot render these messages: %.300s", err);
        return 400;
    }
    return 0;
}

int api_chat_render(struct api_server *s, struct mg_connection *c, const omni_chat_message *msgs, int n_msgs,
                    const struct api_chat_images *ci, struct api_options *o, omni_prompt *pr) {
    struct api_bad_field bad = {{0}, {0}};
    const char *code;
    int status = render_core(s, msgs, n_msgs, ci, o, pr, &bad, &code);
    return status ? api_reply_error(c, status, bad.param, code, "%s", bad.msg) : 0;
}

int api_chat_render_json(struct api_server *s, const cJSON *j, struct api_options *o, omni_prompt *pr,
                         struct api_chat_images *ci, struct api_bad_field *bad, const char **code) {
    omni_chat_message *msgs = NULL;
    char **texts = NULL;
    int n_msgs;
    *code = "invalid_value";
    if ((n_msgs = read_messages(s, o->model ? o->model : s->model, o->model_id ? o->model_id : s->model_id, j, &msgs,
                                &texts, ci, bad)) < 0) {
        free(texts);
        free(msgs);
        return 400;
    }
    int status = render_core(s, msgs, n_msgs, ci, o, pr, bad, code);
    for (int i = 0; i < n_msgs; i++) free(texts[i]);
    free(texts);
    free(msgs);
    return status;
}

int route_chat(struct api_server *s, struct mg_connection *c, const char *body, size_t len) {
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!j) {
        size_t at = end && end >= body ? (size_t)(end - body) : 0;
        return api_reply_error(c, 400, NULL, "invalid_json", "the request body is not valid JSON (error near byte %zu)", at);
    }
    int status;
    struct api_options o;
    struct api_bad_field bad = {{0}, {0}};
    omni_chat_message *msgs = NULL;
    char **texts = NULL;
    int n_msgs = 0;
    omni_prompt pr = {0};
    struct api_chat_images ci = {0};
    struct api_chat_store cs;
    memset(&cs, 0, sizeof cs);
    struct api_model_ref mref = {0};
    memset(&o, 0, sizeof o);
    if (!cJSON_IsObject(j)) {
        status = api_reply_error(c, 400, NULL, "invalid_json", "the request body must be a JSON object");
        goto done;
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    if (model && !cJSON_IsNull(model) && !cJSON_IsString(model)) {
        status = api_reply_error(c, 400, "model", "invalid_type", "'model' must be a string");
        goto done;
    }
    if ((status = api_model_get(s, c, cJSON_IsString(model) ? model->valuestring : NULL, OMNI_KIND_CHAT, j, &mref)))
        goto done;
    omni_model *mdl = mref.ref.model;
    if ((n_msgs = read_messages(s, mdl, mref.ref.id, j, &msgs, &texts, &ci, &bad)) < 0) {
        status = api_reply_error(c, 400, bad.param, "invalid_value", "%s", bad.msg);
        goto done;
    }
    if (api_options_parse(j, 1, omni_model_n_vocab(mdl), &o, &bad)) {
        status = api_reply_error(c, 400, bad.param, "invalid_value", "%s", bad.msg);
        goto done;
    }
    o.model = mdl;
    o.model_id = mref.ref.id;
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(j, "tools");
    if (cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0) {
        status = api_reply_error(c, 400, "tools", "unsupported_parameter", "tool calling is not supported by this server yet");
        goto done;
    }
    if ((status = api_chat_render(s, c, msgs, n_msgs, &ci, &o, &pr))) goto done;
    /* accounts: key's models, tier limits, the conversation (before generating) */
    if ((status = api_chat_store_begin(s, c, j, &cs))) goto done;
    if (cs.w) o.capture = &cs.cap;
    status = api_generate(s, c, API_CHAT, &o, &pr, "messages");
done:
    api_chat_store_end(&cs);
    api_options_free(&o);
    for (int i = 0; texts && i < n_msgs; i++) free(texts[i]);
    free(texts);
    free(msgs);
    omni_prompt_free(&pr);
    api_chat_images_free(&ci);
    api_model_put(s, &mref);   /* after the reply: the model stays loaded while the request runs */
    cJSON_Delete(j);
    return status;
}
