/* POST /v1/completions: raw prompts (a string, a list of strings, a list of token ids,
 * or a list of token-id lists) continued by the model with the shared sampling options;
 * one choice per prompt. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/generate.h"
#include "api/model_ref.h"
#include "api/reply.h"
#include "api/routes.h"

#define MAX_PROMPTS 64

struct prompt_list {
    omni_prompt p[MAX_PROMPTS];
    int n;
};

static void prompts_free(struct prompt_list *l) {
    for (int i = 0; i < l->n; i++) omni_prompt_free(&l->p[i]);
    l->n = 0;
}

/* A list of token ids into one prompt. Returns 0, or -1 with msg written. */
static int read_ids(const cJSON *a, int nv, int32_t **toks, int *n, char *msg, size_t cap, const char *what) {
    *n = cJSON_GetArraySize(a);
    *toks = NULL;
    if (*n == 0) { snprintf(msg, cap, "%s must not be empty", what); return -1; }
    *toks = malloc((size_t)*n * sizeof **toks);
    if (!*toks) { snprintf(msg, cap, "out of memory"); return -1; }
    int i = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, a) {
        if (!cJSON_IsNumber(t) || t->valuedouble < 0 || t->valuedouble >= nv || t->valuedouble != (int)t->valuedouble) {
            snprintf(msg, cap, "%s: token ids must be integers within the model's vocabulary (0..%d)", what, nv - 1);
            return -1;
        }
        (*toks)[i++] = (int32_t)t->valuedouble;
    }
    return 0;
}

/* Reads 'prompt' as OpenAI accepts it: a string, a list of strings, a list of token
 * ids, or a list of token-id lists. Returns 0, or -1 with msg written. */
static int read_prompts(omni_model *mdl, const cJSON *p, struct prompt_list *l, char *msg, size_t cap) {
    l->n = 0;
    if (!p || cJSON_IsNull(p)) { snprintf(msg, cap, "'prompt' is required"); return -1; }
    int nv = omni_model_n_vocab(mdl);
    if (cJSON_IsString(p)) {
        char err[200];
        if (omni_prompt_build(mdl, p->valuestring, NULL, 0, 1, 1, &l->p[0], err, sizeof err)) {
            snprintf(msg, cap, "'prompt' could not be tokenized: %.120s", err);
            return -1;
        }
        l->n = 1;
        return 0;
    }
    if (!cJSON_IsArray(p)) {
        snprintf(msg, cap, "'prompt' must be a string, a list of strings, a list of token ids or a list of such lists");
        return -1;
    }
    if (cJSON_GetArraySize(p) == 0) { snprintf(msg, cap, "'prompt' must not be empty"); return -1; }
    if (cJSON_IsNumber(cJSON_GetArrayItem(p, 0))) {
        int32_t *t;
        int n;
        if (read_ids(p, nv, &t, &n, msg, cap, "'prompt'")) { free(t); return -1; }
        l->p[l->n++] = (omni_prompt){.tokens = t, .n = n};
        return 0;
    }
    if (cJSON_GetArraySize(p) > MAX_PROMPTS) {
        snprintf(msg, cap, "'prompt' holds %d prompts; at most %d per request", cJSON_GetArraySize(p), MAX_PROMPTS);
        return -1;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, p) {
        char what[48];
        snprintf(what, sizeof what, "'prompt[%d]'", l->n);
        int32_t *t = NULL;
        int n = 0;
        if (cJSON_IsString(it)) {
            char err[200];
            if (omni_prompt_build(mdl, it->valuestring, NULL, 0, 1, 1, &l->p[l->n], err, sizeof err)) {
                snprintf(msg, cap, "%s could not be tokenized: %.100s", what, err);
                prompts_free(l);
                return -1;
            }
            l->n++;
            continue;
        } else if (cJSON_IsArray(it)) {
            if (read_ids(it, nv, &t, &n, msg, cap, what)) n = -1;
        } else {
            snprintf(msg, cap, "%s must be a string or a list of token ids, like the list's other items", what);
            n = -1;
        }
        if (n <= 0) { free(t); prompts_free(l); return -1; }
        l->p[l->n++] = (omni_prompt){.tokens = t, .n = n};
    }
    return 0;
}

int route_completions(struct api_server *s, struct mg_connection *c, const char *body, size_t len) {
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!j) {
        size_t at = end && end >= body ? (size_t)(end - body) : 0;
        return api_reply_error(c, 400, NULL, "invalid_json", "the request body is not valid JSON (error near byte %zu)", at);
    }
    int status;
    struct api_options o;
    struct api_bad_field bad = {{0}, {0}};
    struct prompt_list pl = {.n = 0};
    char msg[200];
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
    if (api_options_parse(j, 0, omni_model_n_vocab(mdl), &o, &bad)) {
        status = api_reply_error(c, 400, bad.param, "invalid_value", "%s", bad.msg);
        goto done;
    }
    o.model = mdl;
    o.model_id = mref.ref.id;
    o.adapter = mref.adapter[0] ? mref.adapter : NULL;
    const cJSON *echo = cJSON_GetObjectItemCaseSensitive(j, "echo"), *suffix = cJSON_GetObjectItemCaseSensitive(j, "suffix");
    const cJSON *best_of = cJSON_GetObjectItemCaseSensitive(j, "best_of");
    if (cJSON_IsTrue(echo) || cJSON_IsString(suffix) || (cJSON_IsNumber(best_of) && best_of->valuedouble != 1)) {
        status = api_reply_error(c, 400, cJSON_IsTrue(echo) ? "echo" : cJSON_IsString(suffix) ? "suffix" : "best_of",
                                 "unsupported_parameter", "'echo', 'suffix' and 'best_of' > 1 are not supported");
        goto done;
    }
    if (read_prompts(mdl, cJSON_GetObjectItemCaseSensitive(j, "prompt"), &pl, msg, sizeof msg)) {
        status = api_reply_error(c, 400, "prompt", "invalid_value", "%s", msg);
        goto done;
    }
    status = api_generate_many(s, c, API_COMPLETION, &o, pl.p, pl.n, "prompt");
done:
    api_options_free(&o);
    prompts_free(&pl);
    api_model_put(s, &mref);
    cJSON_Delete(j);
    return status;
}
