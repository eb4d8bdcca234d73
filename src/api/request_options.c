/* Parsing and validating the shared generation fields; see request_options.h. */
#include "api/request_options.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bad_field(struct api_bad_field *b, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad_field(struct api_bad_field *b, const char *param, const char *fmt, ...) {
    snprintf(b->param, sizeof b->param, "%s", param);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->msg, sizeof b->msg, fmt, ap);
    va_end(ap);
    return -1;
}

/* OpenAI treats an explicit null like an absent field. */
static const cJSON *field(const cJSON *body, const char *name) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(body, name);
    return f && !cJSON_IsNull(f) ? f : NULL;
}

static int get_number(const cJSON *body, const char *name, double lo, double hi, double *out,
                      struct api_bad_field *bad) {
    const cJSON *f = field(body, name);
    if (!f) return 0;
    if (!cJSON_IsNumber(f) || !isfinite(f->valuedouble))
        return bad_field(bad, name, "'%s' must be a number between %g and %g", name, lo, hi);
    if (f->valuedouble < lo || f->valuedouble > hi)
        return bad_field(bad, name, "'%s' is %g; it must be between %g and %g", name, f->valuedouble, lo, hi);
    *out = f->valuedouble;
    return 1;
}

static int get_int(const cJSON *body, const char *name, long long lo, long long hi, long long *out,
                   struct api_bad_field *bad) {
    const cJSON *f = field(body, name);
    if (!f) return 0;
    if (!cJSON_IsNumber(f) || !isfinite(f->valuedouble) || f->valuedouble != floor(f->valuedouble))
        return bad_field(bad, name, "'%s' must be an integer", name);
    if (f->valuedouble < (double)lo || f->valuedouble > (double)hi)
        return bad_field(bad, name, "'%s' is %.0f; it must be between %lld and %lld", name, f->valuedouble, lo, hi);
    *out = (long long)f->valuedouble;
    return 1;
}

static int get_bool(const cJSON *body, const char *name, int *out, struct api_bad_field *bad) {
    const cJSON *f = field(body, name);
    if (!f) return 0;
    if (!cJSON_IsBool(f)) return bad_field(bad, name, "'%s' must be true or false", name);
    *out = cJSON_IsTrue(f);
    return 1;
}

/* Thinking models, as llama-server reads them: 'reasoning_format' ("auto" default, or
 * "deepseek": thoughts in reasoning_content; "none": the raw text in content),
 * 'chat_template_kwargs' (an object of template variables, e.g. enable_thinking) and
 * 'reasoning_effort' ("none" turns thinking off; other values go to the template as
 * reasoning_effort, which gpt-oss's reads). */
static int parse_reasoning(const cJSON *body, struct api_options *o, struct api_bad_field *bad) {
    o->reasoning = OMNI_REASONING_AUTO;
    const cJSON *f = field(body, "reasoning_format");
    if (f) {
        if (!cJSON_IsString(f) || (strcmp(f->valuestring, "auto") && strcmp(f->valuestring, "deepseek") &&
                                   strcmp(f->valuestring, "none")))
            return bad_field(bad, "reasoning_format", "'reasoning_format' must be \"auto\", \"deepseek\" or \"none\"");
        if (!strcmp(f->valuestring, "none")) o->reasoning = OMNI_REASONING_NONE;
    }
    const cJSON *kw = field(body, "chat_template_kwargs"), *eff = field(body, "reasoning_effort");
    if (kw && !cJSON_IsObject(kw))
        return bad_field(bad, "chat_template_kwargs", "'chat_template_kwargs' must be an object");
    if (eff && (!cJSON_IsString(eff) || !eff->valuestring[0]))
        return bad_field(bad, "reasoning_effort", "'reasoning_effort' must be a string such as \"low\", \"medium\", "
                                                  "\"high\" or \"none\"");
    if (kw) {
        const cJSON *et = cJSON_GetObjectItemCaseSensitive(kw, "enable_thinking");
        if (et && !cJSON_IsBool(et))
            return bad_field(bad, "chat_template_kwargs.enable_thinking",
                             "'chat_template_kwargs.enable_thinking' must be true or false");
    }
    if (!kw && !eff) return 0;
    cJSON *x = kw ? cJSON_Duplicate(kw, 1) : cJSON_CreateObject();
    if (!x) return bad_field(bad, "chat_template_kwargs", "out of memory");
    if (eff && !strcmp(eff->valuestring, "none")) {
        if (!cJSON_GetObjectItemCaseSensitive(x, "enable_thinking")) cJSON_AddFalseToObject(x, "enable_thinking");
    } else if (eff && !cJSON_GetObjectItemCaseSensitive(x, "reasoning_effort"))
        cJSON_AddStringToObject(x, "reasoning_effort", eff->valuestring);
    o->template_kwargs = cJSON_PrintUnformatted(x);
    cJSON_Delete(x);
    if (!o->template_kwargs) return bad_field(bad, "chat_template_kwargs", "out of memory");
    return 0;
}

static int parse_stop(const cJSON *body, struct api_options *o, struct api_bad_field *bad) {
    const cJSON *f = field(body, "stop");
    if (!f) return 0;
    if (cJSON_IsString(f)) {
        if (!*f->valuestring) return 0;
        if (!(o->stop[o->n_stop++] = strdup(f->valuestring))) return bad_field(bad, "stop", "out of memory");
        return 0;
    }
    if (!cJSON_IsArray(f)) return bad_field(bad, "stop", "'stop' must be a string or an array of strings");
    if (cJSON_GetArraySize(f) > API_MAX_STOP)
        return bad_field(bad, "stop", "'stop' may hold at most %d strings", API_MAX_STOP);
    const cJSON *s;
    cJSON_ArrayForEach(s, f) {
        if (!cJSON_IsString(s)) return bad_field(bad, "stop", "every entry of 'stop' must be a string");
        if (!*s->valuestring) continue;
        if (!(o->stop[o->n_stop++] = strdup(s->valuestring))) return bad_field(bad, "stop", "out of memory");
    }
    return 0;
}

static int parse_logit_bias(const cJSON *body, int n_vocab, struct api_options *o, struct api_bad_field *bad) {
    const cJSON *f = field(body, "logit_bias");
    if (!f) return 0;
    if (!cJSON_IsObject(f))
        return bad_field(bad, "logit_bias", "'logit_bias' must be an object mapping token ids to numbers");
    const cJSON *it;
    cJSON_ArrayForEach(it, f) {
        char *end = NULL;
        long id = strtol(it->string, &end, 10);
        if (!*it->string || *end || id < 0 || id >= n_vocab)
            return bad_field(bad, "logit_bias", "'logit_bias' key '%s' is not a token id (0..%d)", it->string,
                             n_vocab - 1);
        if (!cJSON_IsNumber(it) || it->valuedouble < -100 || it->valuedouble > 100)
            return bad_field(bad, "logit_bias", "'logit_bias' value for token %ld must be a number from -100 to 100",
                             id);
        if (o->sampling.n_bias >= API_MAX_BIAS)
            return bad_field(bad, "logit_bias", "'logit_bias' may hold at most %d entries", API_MAX_BIAS);
        o->bias_token[o->sampling.n_bias] = (int32_t)id;
        o->bias_value[o->sampling.n_bias] = (float)it->valuedouble;
        o->sampling.n_bias++;
    }
    return 0;
}

static int parse_response_format(const cJSON *body, struct api_options *o, struct api_bad_field *bad) {
    const cJSON *f = field(body, "response_format");
    if (!f) return 0;
    const cJSON *t = cJSON_IsObject(f) ? cJSON_GetObjectItemCaseSensitive(f, "type") : NULL;
    if (!cJSON_IsString(t))
        return bad_field(bad, "response_format", "'response_format' must be an object with a string 'type'");
    if (!strcmp(t->valuestring, "text")) return 0;
    if (!strcmp(t->valuestring, "json_object")) {
        o->json_mode = 1;
        return 0;
    }
    if (!strcmp(t->valuestring, "json_schema")) {
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(f, "json_schema");
        if (!cJSON_IsObject(js))
            return bad_field(bad, "response_format.json_schema",
                             "'response_format.json_schema' must be an object with 'name' and 'schema'");
        const cJSON *strict = cJSON_GetObjectItemCaseSensitive(js, "strict");
        if (strict && !cJSON_IsBool(strict) && !cJSON_IsNull(strict))
            return bad_field(bad, "response_format.json_schema.strict",
                             "'response_format.json_schema.strict' must be true or false");
        const cJSON *schema = field(js, "schema");
        if (!schema) { o->json_mode = 1; return 0; } /* no schema: any JSON object */
        /* strict or not, sampling is constrained to the schema: that is the only way a
         * model is sure to follow it, and a non-strict schema allows the same documents. */
        char err[300];
        if (!(o->schema = cJSON_PrintUnformatted(schema)))
            return bad_field(bad, "response_format.json_schema.schema", "out of memory");
        if (omni_json_schema_check(o->schema, strlen(o->schema), err, sizeof err))
            return bad_field(bad, "response_format.json_schema.schema", "'response_format.json_schema.schema': %s",
                             err);
        return 0;
    }
    return bad_field(bad, "response_format.type",
                     "'response_format.type' is '%s'; expected 'text', 'json_object' or 'json_schema'",
                     t->valuestring);
}

int api_options_parse(const cJSON *body, int chat, int n_vocab, struct api_options *o, struct api_bad_field *bad) {
    memset(o, 0, sizeof *o);
    /* OpenAI's defaults: no top-k/min-p cut, penalties over the reply only, a fresh seed. */
    o->sampling.temperature = 1.0f;
    o->sampling.top_p = 1.0f;
    o->sampling.repeat_penalty = 1.0f;
    o->sampling.repeat_last_n = -1;
    o->sampling.penalize_prompt = 0;
    o->sampling.seed = OMNI_SEED_RANDOM;
    o->truncation = 1;
    o->sampling.bias_token = o->bias_token;
    o->sampling.bias_value = o->bias_value;
    double d;
    long long i;
    int r;

    /* max_completion_tokens is the newer name; either is accepted, the newer wins. */
    if ((r = get_int(body, "max_tokens", 1, 1 << 30, &i, bad)) < 0) return -1;
    if (r) o->max_tokens = (int)i;
    if ((r = get_int(body, "max_completion_tokens", 1, 1 << 30, &i, bad)) < 0) return -1;
    if (r) o->max_tokens = (int)i;
    if ((r = get_number(body, "temperature", 0, 2, &d, bad)) < 0) return -1;
    if (r) o->sampling.temperature = (float)d;
    if ((r = get_number(body, "top_p", 0, 1, &d, bad)) < 0) return -1;
    if (r) o->sampling.top_p = (float)d;
    if ((r = get_int(body, "top_k", 0, 1 << 30, &i, bad)) < 0) return -1;   /* llama.cpp extension */
    if (r) o->sampling.top_k = (int)i;
    if ((r = get_number(body, "presence_penalty", -2, 2, &d, bad)) < 0) return -1;
    if (r) o->sampling.presence_penalty = (float)d;
    if ((r = get_number(body, "frequency_penalty", -2, 2, &d, bad)) < 0) return -1;
    if (r) o->sampling.frequency_penalty = (float)d;
    if ((r = get_int(body, "seed", INT64_MIN / 2, INT64_MAX / 2, &i, bad)) < 0) return -1;
    if (r) o->sampling.seed = (uint64_t)i;
    if ((r = get_int(body, "n", 1, 128, &i, bad)) < 0) return -1;
    if (r && i != 1)
        return bad_field(bad, "n", "'n' is %lld; this server generates one choice per request (n must be 1)", i);
    if (get_bool(body, "stream", &o->stream, bad) < 0) return -1;
    const cJSON *so = field(body, "stream_options");
    if (so) {
        if (!cJSON_IsObject(so)) return bad_field(bad, "stream_options", "'stream_options' must be an object");
        if (!o->stream)
            return bad_field(bad, "stream_options", "'stream_options' is only allowed when 'stream' is true");
        if (get_bool(so, "include_usage", &o->include_usage, bad) < 0)
            return bad_field(bad, "stream_options.include_usage", "'stream_options.include_usage' must be a boolean");
    }
    if (chat) {
        if (get_bool(body, "logprobs", &o->logprobs, bad) < 0) return -1;
        if ((r = get_int(body, "top_logprobs", 0, 20, &i, bad)) < 0) return -1;
        if (r) {
            if (!o->logprobs)
                return bad_field(bad, "top_logprobs", "'top_logprobs' needs 'logprobs' set to true");
            o->top_logprobs = (int)i;
        }
    } else {
        if ((r = get_int(body, "logprobs", 0, 5, &i, bad)) < 0) return -1;
        if (r) { o->logprobs = 1; o->top_logprobs = (int)i; }
    }
    const cJSON *u = field(body, "user");
    if (u && !cJSON_IsString(u)) return bad_field(bad, "user", "'user' must be a string");
    const cJSON *tr = field(body, "truncation");
    if (tr) {
        if (!cJSON_IsString(tr) || (strcmp(tr->valuestring, "auto") && strcmp(tr->valuestring, "disabled")))
            return bad_field(bad, "truncation", "'truncation' must be \"auto\" or \"disabled\"");
        o->truncation = !strcmp(tr->valuestring, "auto");
    }
    if (parse_stop(body, o, bad)) return -1;
    if (chat && parse_reasoning(body, o, bad)) return -1;
    if (parse_logit_bias(body, n_vocab, o, bad)) return -1;
    if (parse_response_format(body, o, bad)) return -1;
    return 0;
}

void api_options_free(struct api_options *o) {
    cJSON_free(o->schema);
    o->schema = NULL;
    cJSON_free(o->template_kwargs);
    o->template_kwargs = NULL;
    for (int i = 0; i < o->n_stop; i++) free(o->stop[i]);
    o->n_stop = 0;
}
