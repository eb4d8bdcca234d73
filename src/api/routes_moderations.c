/* POST /v1/moderations in OpenAI's shape: input as a string, a list of strings, or a
 * list of content parts ({"type":"text"} and {"type":"image_url"}, images refused until
 * a guard model that reads them is served); one result per input with flagged, the 13
 * categories, their scores and category_applied_input_types. omni adds an "omni" object
 * per result with what its stages found (rule hits, the guard's own answer), which
 * OpenAI's clients ignore. Needs --moderation and/or --guard-model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/reply.h"
#include "api/routes.h"

#define MAX_INPUTS 256

static cJSON *result_json(const struct mod_result *r, int is_image) {
    cJSON *o = cJSON_CreateObject(), *cats = cJSON_CreateObject(), *scores = cJSON_CreateObject(),
          *types = cJSON_CreateObject(), *extra = cJSON_CreateObject();
    if (!o || !cats || !scores || !types || !extra) {
        cJSON_Delete(o), cJSON_Delete(cats), cJSON_Delete(scores), cJSON_Delete(types), cJSON_Delete(extra);
        return NULL;
    }
    cJSON_AddBoolToObject(o, "flagged", r->flagged);
    for (int c = 0; c < OAI_N_CATEGORIES; c++) {
        const char *name = oai_category_name((enum oai_category)c);
        int on = (r->categories >> c) & 1;
        cJSON_AddBoolToObject(cats, name, on);
        cJSON_AddNumberToObject(scores, name, r->scores[c]);
        cJSON *t = cJSON_AddArrayToObject(types, name);
        if (on && t) cJSON_AddItemToArray(t, cJSON_CreateString(is_image ? "image" : "text"));
    }
    cJSON_AddItemToObject(o, "categories", cats);
    cJSON_AddItemToObject(o, "category_scores", scores);
    cJSON_AddItemToObject(o, "category_applied_input_types", types);
    cJSON *hits = cJSON_AddArrayToObject(extra, "rules");
    for (int i = 0; hits && i < r->rules.n_hits; i++) {
        const struct mod_hit *h = &r->rules.hits[i];
        cJSON *x = cJSON_CreateObject();
        if (!x) break;
        cJSON_AddStringToObject(x, "rule", h->rule);
        cJSON_AddStringToObject(x, "action", mod_action_name(h->action));
        if (h->category) cJSON_AddStringToObject(x, "category", h->category);
        if (h->kind) cJSON_AddStringToObject(x, "kind", h->kind);
        cJSON_AddNumberToObject(x, "start", (double)h->start);
        cJSON_AddNumberToObject(x, "length", (double)h->len);
        cJSON_AddItemToArray(hits, x);
    }
    cJSON_AddStringToObject(extra, "action", mod_action_name(r->rules.action));
    if (r->rules.message) cJSON_AddStringToObject(extra, "message", r->rules.message);
    if (r->rules.text) cJSON_AddStringToObject(extra, "redacted", r->rules.text);
    cJSON *g = cJSON_AddArrayToObject(extra, "guard");
    static const char *const safety[] = {"safe", "unsafe", "controversial", "unparsed"};
    for (int i = 0; g && i < r->n_guard; i++) {
        const struct guard_check *k = &r->guard[i];
        cJSON *x = cJSON_CreateObject();
        if (!x) break;
        cJSON_AddStringToObject(x, "safety", safety[k->v.safety]);
        cJSON_AddNumberToObject(x, "score", k->p_unsafe);
        cJSON *raw = cJSON_AddArrayToObject(x, "categories");
        for (int j = 0; raw && j < k->v.n_raw; j++) cJSON_AddItemToArray(raw, cJSON_CreateString(k->v.raw[j]));
        cJSON_AddStringToObject(x, "answer", k->answer);
        cJSON_AddNumberToObject(x, "ms", k->ms);
        cJSON_AddItemToArray(g, x);
    }
    cJSON_AddItemToObject(o, "omni", extra);
    return o;
}

/* The texts of input: a string, strings, or content parts. 0, or an error reply's status. */
static int read_inputs(struct mg_connection *c, const cJSON *in, const char **texts, int *n) {
    *n = 0;
    if (cJSON_IsString(in)) {
        texts[(*n)++] = in->valuestring;
        return 0;
    }
    if (!cJSON_IsArray(in) || !in->child)
        return api_reply_error(c, 400, "input", NULL, "'input' must be a string, a list of strings or a list of content parts");
    if (cJSON_GetArraySize(in) > MAX_INPUTS)
        return api_reply_error(c, 400, "input", NULL, "at most %d inputs per request", MAX_INPUTS);
    int i = 0;
    for (const cJSON *x = in->child; x; x = x->next, i++) {
        if (cJSON_IsString(x)) { texts[(*n)++] = x->valuestring; continue; }
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(x, "type");
        if (cJSON_IsObject(x) && cJSON_IsString(type) && !strcmp(type->valuestring, "text")) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(x, "text");
            if (!cJSON_IsString(t)) return api_reply_error(c, 400, "input", NULL, "'input' %d: a text part needs 'text'", i);
            texts[(*n)++] = t->valuestring;
            continue;
        }
        if (cJSON_IsObject(x) && cJSON_IsString(type) && !strcmp(type->valuestring, "image_url"))
            return api_reply_error(c, 400, "input", "image_not_supported",
                                   "'input' %d: image moderation needs a guard model that reads images; this server's "
                                   "guard reads text only", i);
        return api_reply_error(c, 400, "input", NULL, "'input' %d must be a string or a {\"type\":\"text\"} part", i);
    }
    return 0;
}

int route_moderations(struct api_server *s, struct mg_connection *c, const char *body, size_t len) {
    if (!s->moderation)
        return api_reply_error(c, 400, NULL, "moderation_not_configured",
                               "moderation is not set up on this server: start it with --moderation POLICY.json (block "
                               "lists, patterns, PII) and/or --guard-model FILE (Qwen3Guard-Gen, Llama Guard 3, "
                               "ShieldGemma)");
    cJSON *j = cJSON_ParseWithLength(body, len);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return api_reply_error(c, 400, NULL, "invalid_json", "the request body is not a JSON object");
    }
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    if (model && !cJSON_IsNull(model) && !cJSON_IsString(model)) {
        cJSON_Delete(j);
        return api_reply_error(c, 400, "model", NULL, "'model' must be a string");
    }
    const char *texts[MAX_INPUTS];
    int n = 0, st = read_inputs(c, cJSON_GetObjectItemCaseSensitive(j, "input"), texts, &n);
    if (st) { cJSON_Delete(j); return st; }
    cJSON *out = cJSON_CreateObject(), *results = out ? cJSON_AddArrayToObject(out, "results") : NULL;
    if (!results) { cJSON_Delete(j); cJSON_Delete(out); return api_reply_error(c, 500, NULL, NULL, "out of memory"); }
    char id[40];
    snprintf(id, sizeof id, "modr-%08x%08x", (unsigned)rand(), (unsigned)rand());
    cJSON_AddStringToObject(out, "id", id);
    cJSON_AddStringToObject(out, "model", s->moderation->guard_id);
    for (int i = 0; i < n; i++) {
        struct mod_result r;
        char err[512] = "";
        if (moderation_check(&s->moderation->cfg, texts[i], NULL, &r, err, sizeof err)) {
            mod_result_free(&r);
            cJSON_Delete(out);
            cJSON_Delete(j);
            return api_reply_error(c, 500, NULL, "moderation_failed", "moderation of input %d failed: %s", i, err);
        }
        cJSON *x = result_json(&r, 0);
        mod_result_free(&r);
        if (!x) { cJSON_Delete(out); cJSON_Delete(j); return api_reply_error(c, 500, NULL, NULL, "out of memory"); }
        cJSON_AddItemToArray(results, x);
    }
    cJSON_Delete(j);
    int rc = api_reply_json(c, 200, out);
    cJSON_Delete(out);
    return rc;
}
