/* POST /v1/completions: a raw prompt (a string, a one-element list of strings, or a
 * list of token ids) continued by the model with the shared sampling options. */
#include <stdlib.h>
#include <string.h>

#include "api/generate.h"
#include "api/reply.h"
#include "api/routes.h"
#include "api/tokenize.h"

/* Reads 'prompt' into token ids. Returns the count, or -1 with *msg set. */
static int read_prompt(struct api_server *s, const cJSON *p, int32_t **toks, const char **msg) {
    *toks = NULL;
    if (!p || cJSON_IsNull(p)) { *msg = "'prompt' is required"; return -1; }
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 && cJSON_IsString(cJSON_GetArrayItem(p, 0)))
        p = cJSON_GetArrayItem(p, 0);
    if (cJSON_IsString(p)) {
        int n = api_tokenize(s->model, p->valuestring, 1, toks);
        if (n <= 0) { *msg = "'prompt' could not be tokenized (an empty prompt?)"; return -1; }
        return n;
    }
    if (!cJSON_IsArray(p)) { *msg = "'prompt' must be a string, a list of one string, or a list of token ids"; return -1; }
    int n = cJSON_GetArraySize(p), nv = omni_model_n_vocab(s->model), i = 0;
    if (n == 0) { *msg = "'prompt' must not be empty"; return -1; }
    if (!cJSON_IsNumber(cJSON_GetArrayItem(p, 0))) {
        *msg = "'prompt' holds several prompts; this server takes one prompt per request";
        return -1;
    }
    *toks = malloc((size_t)n * sizeof **toks);
    if (!*toks) { *msg = "out of memory"; return -1; }
    const cJSON *t;
    cJSON_ArrayForEach(t, p) {
        if (!cJSON_IsNumber(t) || t->valuedouble < 0 || t->valuedouble >= nv || t->valuedouble != (int)t->valuedouble) {
            *msg = "'prompt' token ids must be integers within the model's vocabulary";
            return -1;
        }
        (*toks)[i++] = (int32_t)t->valuedouble;
    }
    return n;
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
    int32_t *toks = NULL;
    const char *msg = NULL;
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
    if (cJSON_IsString(model) && !api_model_matches(s, model->valuestring)) {
        status = api_reply_error(c, 404, "model", "model_not_found",
                                 "the model '%s' does not exist; this server has '%s'", model->valuestring, s->model_id);
        goto done;
    }
    if (api_options_parse(j, 0, omni_model_n_vocab(s->model), &o, &bad)) {
        status = api_reply_error(c, 400, bad.param, "invalid_value", "%s", bad.msg);
        goto done;
    }
    const cJSON *echo = cJSON_GetObjectItemCaseSensitive(j, "echo"), *suffix = cJSON_GetObjectItemCaseSensitive(j, "suffix");
    const cJSON *best_of = cJSON_GetObjectItemCaseSensitive(j, "best_of");
    if (cJSON_IsTrue(echo) || cJSON_IsString(suffix) || (cJSON_IsNumber(best_of) && best_of->valuedouble != 1)) {
        status = api_reply_error(c, 400, cJSON_IsTrue(echo) ? "echo" : cJSON_IsString(suffix) ? "suffix" : "best_of",
                                 "unsupported_parameter", "'echo', 'suffix' and 'best_of' > 1 are not supported");
        goto done;
    }
    int n = read_prompt(s, cJSON_GetObjectItemCaseSensitive(j, "prompt"), &toks, &msg);
    if (n < 0) {
        status = api_reply_error(c, 400, "prompt", "invalid_value", "%s", msg);
        goto done;
    }
    status = api_generate(s, c, API_COMPLETION, &o, toks, n, "prompt");
done:
    api_options_free(&o);
    free(toks);
    cJSON_Delete(j);
    return status;
}
