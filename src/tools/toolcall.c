/* The request side of function calling (see toolcall.h): validation in OpenAI's terms,
 * the family of a chat template, the template variables or instructions that show the
 * tools to the model, and how each family's call is forced. */
#include "tools/toolcall.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "omni.h"

static const char *const NAMES[TOOL_FMT_COUNT] = {"hermes", "qwen3-coder", "llama3", "mistral",
                                                  "phi4", "gpt-oss", "generic"};

const char *tool_format_name(enum tool_format f) { return f >= 0 && f < TOOL_FMT_COUNT ? NAMES[f] : "generic"; }

int tool_template_native(const char *t) {
    /* a template that reads the tools variable shows them itself (Qwen, EXAONE, Llama
     * 3.x, Mistral, gpt-oss, Phi-4-mini); Gemma 3's, Phi-3's and plain ChatML do not */
    return t && strstr(t, "tools") != NULL;
}

enum tool_format tool_format_detect(const char *t, const char *arch) {
    if (t) {
        if (strstr(t, "<|channel|>") && strstr(t, "to=functions")) return TOOL_FMT_GPT_OSS;
        if (strstr(t, "[TOOL_CALLS]")) return TOOL_FMT_MISTRAL;
        if (strstr(t, "<|python_tag|>") || strstr(t, "\"parameters\": dictionary of argument name")) return TOOL_FMT_LLAMA3;
        if (strstr(t, "<|tool_call|>") || strstr(t, "<|tool|>")) return TOOL_FMT_PHI4;
        if (strstr(t, "<function=") && strstr(t, "<tool_call>")) return TOOL_FMT_QWEN3_CODER;
        if (strstr(t, "<tool_call>")) return TOOL_FMT_HERMES;
    }
    if (arch && !strcmp(arch, "gpt-oss")) return TOOL_FMT_GPT_OSS;
    return TOOL_FMT_GENERIC;
}

static int bad(char *param, size_t pc, char *msg, size_t mc, const char *p, const char *m) {
    snprintf(param, pc, "%s", p);
    snprintf(msg, mc, "%s", m);
    return -1;
}

static int valid_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '.'))
            return 0;
    }
    return 1;
}

static const cJSON *field(const cJSON *o, const char *k) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, k);
    return f && !cJSON_IsNull(f) ? f : NULL;
}

static const cJSON *tool_by_name(const cJSON *tools, const char *name) {
    const cJSON *t;
    cJSON_ArrayForEach(t, tools) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(t, "function"), "name");
        if (cJSON_IsString(n) && !strcmp(n->valuestring, name)) return t;
    }
    return NULL;
}

int tool_request_parse(const cJSON *body, const char *chat_template, const char *arch, struct tool_request *tr,
                       char *param, size_t pc, char *msg, size_t mc) {
    memset(tr, 0, sizeof *tr);
    tr->parallel = 1;
    char p[96], m[400];
    const cJSON *tools = field(body, "tools"), *choice = field(body, "tool_choice");
    const cJSON *par = field(body, "parallel_tool_calls");
    if (par && !cJSON_IsBool(par)) return bad(param, pc, msg, mc, "parallel_tool_calls", "'parallel_tool_calls' must be true or false");
    if (par) tr->parallel = cJSON_IsTrue(par);
    if (tools && !cJSON_IsArray(tools))
        return bad(param, pc, msg, mc, "tools", "'tools' must be an array of {\"type\": \"function\", \"function\": {...}} objects");
    int n = tools ? cJSON_GetArraySize(tools) : 0, i = 0;
    if (n > 128) return bad(param, pc, msg, mc, "tools", "'tools' may hold at most 128 functions");
    const cJSON *t;
    cJSON_ArrayForEach(t, tools) {
        const cJSON *type = cJSON_IsObject(t) ? cJSON_GetObjectItemCaseSensitive(t, "type") : NULL;
        snprintf(p, sizeof p, "tools[%d].type", i);
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "function")) {
            snprintf(m, sizeof m, "'tools[%d].type' must be \"function\"%s", i,
                     cJSON_IsString(type) ? " (the only tool type chat completions take)" : "");
            return bad(param, pc, msg, mc, p, m);
        }
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
        snprintf(p, sizeof p, "tools[%d].function", i);
        if (!cJSON_IsObject(fn)) {
            snprintf(m, sizeof m, "'tools[%d].function' must be an object with 'name' and 'parameters'", i);
            return bad(param, pc, msg, mc, p, m);
        }
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        snprintf(p, sizeof p, "tools[%d].function.name", i);
        if (!cJSON_IsString(name) || !valid_name(name->valuestring)) {
            snprintf(m, sizeof m, "'tools[%d].function.name' must be a string of 1 to 64 letters, digits, '_', '-' or '.'", i);
            return bad(param, pc, msg, mc, p, m);
        }
        if (tool_by_name(tools, name->valuestring) != t) {
            snprintf(m, sizeof m, "'tools[%d].function.name': the function '%s' is defined twice", i, name->valuestring);
            return bad(param, pc, msg, mc, p, m);
        }
        const cJSON *desc = field(fn, "description");
        if (desc && !cJSON_IsString(desc)) {
            snprintf(p, sizeof p, "tools[%d].function.description", i);
            snprintf(m, sizeof m, "'tools[%d].function.description' must be a string", i);
            return bad(param, pc, msg, mc, p, m);
        }
        const cJSON *params = field(fn, "parameters");
        snprintf(p, sizeof p, "tools[%d].function.parameters", i);
        if (params) {
            const cJSON *pt = cJSON_GetObjectItemCaseSensitive(params, "type");
            if (!cJSON_IsObject(params) || (pt && (!cJSON_IsString(pt) || strcmp(pt->valuestring, "object")))) {
                snprintf(m, sizeof m, "'tools[%d].function.parameters' must be a JSON Schema of type \"object\"", i);
                return bad(param, pc, msg, mc, p, m);
            }
            char *txt = cJSON_PrintUnformatted(params), err[300];
            if (!txt) return bad(param, pc, msg, mc, p, "out of memory");
            int rc = omni_json_schema_check(txt, strlen(txt), err, sizeof err);
            cJSON_free(txt);
            if (rc) {
                snprintf(m, sizeof m, "'tools[%d].function.parameters': %s", i, err);
                return bad(param, pc, msg, mc, p, m);
            }
        }
        i++;
    }
    tr->choice = n ? TOOL_CHOICE_AUTO : TOOL_CHOICE_NONE;
    if (choice) {
        if (cJSON_IsString(choice)) {
            const char *c = choice->valuestring;
            if (!strcmp(c, "none")) tr->choice = TOOL_CHOICE_NONE;
            else if (!strcmp(c, "auto")) tr->choice = n ? TOOL_CHOICE_AUTO : TOOL_CHOICE_NONE;
            else if (!strcmp(c, "required")) tr->choice = TOOL_CHOICE_REQUIRED;
            else return bad(param, pc, msg, mc, "tool_choice",
                            "'tool_choice' must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": …}}");
        } else if (cJSON_IsObject(choice)) {
            const cJSON *ty = cJSON_GetObjectItemCaseSensitive(choice, "type");
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(choice, "function"), "name");
            if (!cJSON_IsString(ty) || strcmp(ty->valuestring, "function") || !cJSON_IsString(nm))
                return bad(param, pc, msg, mc, "tool_choice",
                           "'tool_choice' as an object must be {\"type\": \"function\", \"function\": {\"name\": …}}");
            if (!tool_by_name(tools, nm->valuestring)) {
                snprintf(m, sizeof m, "'tool_choice' names the function '%.64s', which is not in 'tools'", nm->valuestring);
                return bad(param, pc, msg, mc, "tool_choice.function.name", m);
            }
            tr->choice = TOOL_CHOICE_NAMED;
            snprintf(tr->named, sizeof tr->named, "%s", nm->valuestring);
        } else return bad(param, pc, msg, mc, "tool_choice", "'tool_choice' must be a string or an object");
        if (!n && tr->choice == TOOL_CHOICE_REQUIRED)
            return bad(param, pc, msg, mc, "tool_choice", "'tool_choice' \"required\" needs 'tools'");
    }
    /* omni: how many calls a forced reply makes (tests force two parallel calls so) */
    const cJSON *mn = field(body, "min_tool_calls"), *mx = field(body, "max_tool_calls");
    tr->min_calls = tr->choice == TOOL_CHOICE_REQUIRED || tr->choice == TOOL_CHOICE_NAMED;
    tr->max_calls = tr->parallel ? 0 : 1;
    if (tr->choice == TOOL_CHOICE_NAMED && !mx) tr->max_calls = 1;
    if (mn) {
        if (!cJSON_IsNumber(mn) || mn->valuedouble != (int)mn->valuedouble || mn->valuedouble < 0 || mn->valuedouble > 64)
            return bad(param, pc, msg, mc, "min_tool_calls", "'min_tool_calls' must be an integer from 0 to 64");
        if ((int)mn->valuedouble > tr->min_calls) tr->min_calls = (int)mn->valuedouble;
    }
    if (mx) {
        if (!cJSON_IsNumber(mx) || mx->valuedouble != (int)mx->valuedouble || mx->valuedouble < 1 || mx->valuedouble > 64)
            return bad(param, pc, msg, mc, "max_tool_calls", "'max_tool_calls' must be an integer from 1 to 64");
        tr->max_calls = (int)mx->valuedouble;
        if (!tr->parallel && tr->max_calls > 1)
            return bad(param, pc, msg, mc, "max_tool_calls", "'max_tool_calls' above 1 needs 'parallel_tool_calls'");
    }
    if (tr->min_calls > 1 && !tr->parallel)
        return bad(param, pc, msg, mc, "min_tool_calls", "'min_tool_calls' above 1 needs 'parallel_tool_calls'");
    if (tr->max_calls && tr->min_calls > tr->max_calls)
        return bad(param, pc, msg, mc, "min_tool_calls", "'min_tool_calls' is above 'max_tool_calls'");
    if (!n) return 0;
    if (!(tr->tools = cJSON_Duplicate(tools, 1))) return bad(param, pc, msg, mc, "tools", "out of memory");
    tr->n_tools = n;
    tr->fmt = tool_format_detect(chat_template, arch);
    tr->native = tool_template_native(chat_template);
    tr->mistral_args = chat_template && strstr(chat_template, "[ARGS]") != NULL;
    if (!tr->native) tr->fmt = TOOL_FMT_GENERIC;
    /* a forced reply holds several calls only where the family writes them as one JSON
     * array (one generation under one schema); elsewhere a forced reply makes one call */
    int arrays = tr->fmt == TOOL_FMT_GENERIC || tr->fmt == TOOL_FMT_PHI4 || (tr->fmt == TOOL_FMT_MISTRAL && !tr->mistral_args);
    if (tr->min_calls > 1 && !arrays) {
        snprintf(m, sizeof m, "'min_tool_calls' above 1 is not available for this model's call syntax (%s): a forced "
                              "reply makes one call", tool_format_name(tr->fmt));
        tool_request_free(tr);
        return bad(param, pc, msg, mc, "min_tool_calls", m);
    }
    return 0;
}

void tool_request_free(struct tool_request *tr) {
    cJSON_Delete(tr->tools);
    memset(tr, 0, sizeof *tr);
}

int tool_request_active(const struct tool_request *tr) { return tr->tools && tr->choice != TOOL_CHOICE_NONE; }

char *tool_template_kwargs(const struct tool_request *tr, const char *kw) {
    cJSON *x = kw ? cJSON_Parse(kw) : cJSON_CreateObject();
    if (!x) return NULL;
    if (tr->tools && tr->native) {
        cJSON *d = cJSON_Duplicate(tr->tools, 1);
        if (!d) { cJSON_Delete(x); return NULL; }
        cJSON_DeleteItemFromObjectCaseSensitive(x, "tools");
        cJSON_AddItemToObject(x, "tools", d);
    }
    char *r = cJSON_PrintUnformatted(x);
    cJSON_Delete(x);
    return r;
}

char *tool_instructions(const struct tool_request *tr) {
    char *defs = cJSON_PrintUnformatted(tr->tools);
    if (!defs) return NULL;
    static const char A[] =
        "You can call these functions (each with a JSON Schema of its arguments):\n";
    static const char B[] =
        "\nTo call one or more of them, reply with only this JSON object and nothing else:\n"
        "{\"tool_calls\": [{\"name\": \"<function name>\", \"arguments\": {<the arguments>}}]}\n"
        "Otherwise answer normally.";
    size_t n = strlen(A) + strlen(defs) + strlen(B) + 1;
    char *r = malloc(n);
    if (r) snprintf(r, n, "%s%s%s", A, defs, B);
    cJSON_free(defs);
    return r;
}

char *tool_calls_as_text(const cJSON *calls) {
    cJSON *o = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(o, "tool_calls");
    const cJSON *c;
    cJSON_ArrayForEach(c, calls) {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(c, "function");
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(fn, "name"), *ar = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", cJSON_IsString(nm) ? nm->valuestring : "");
        cJSON *args = cJSON_IsString(ar) ? cJSON_Parse(ar->valuestring) : NULL;
        cJSON_AddItemToObject(e, "arguments", args ? args : cJSON_CreateObject());
        cJSON_AddItemToArray(list, e);
    }
    char *r = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return r;
}

/* {"name": const, "<args_key>": parameters} for one tool. */
static cJSON *call_schema(const cJSON *tool, const char *args_key) {
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tool, "function");
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(fn, "name"), *pa = field(fn, "parameters");
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "type", "object");
    cJSON *props = cJSON_AddObjectToObject(s, "properties");
    cJSON *n = cJSON_AddObjectToObject(props, "name");
    cJSON_AddStringToObject(n, "const", nm->valuestring);
    if (pa) cJSON_AddItemToObject(props, args_key, cJSON_Duplicate(pa, 1));
    else cJSON_AddObjectToObject(props, args_key), cJSON_AddStringToObject(cJSON_GetObjectItem(props, args_key), "type", "object");
    cJSON *req = cJSON_AddArrayToObject(s, "required");
    cJSON_AddItemToArray(req, cJSON_CreateString("name"));
    cJSON_AddItemToArray(req, cJSON_CreateString(args_key));
    cJSON_AddFalseToObject(s, "additionalProperties");
    return s;
}

/* One call of the allowed tools (the named one, or any). */
static cJSON *union_schema(const struct tool_request *tr, const char *args_key) {
    if (tr->choice == TOOL_CHOICE_NAMED) return call_schema(tool_by_name(tr->tools, tr->named), args_key);
    if (tr->n_tools == 1) return call_schema(cJSON_GetArrayItem(tr->tools, 0), args_key);
    cJSON *s = cJSON_CreateObject(), *any = cJSON_AddArrayToObject(s, "anyOf");
    const cJSON *t;
    cJSON_ArrayForEach(t, tr->tools) cJSON_AddItemToArray(any, call_schema(t, args_key));
    return s;
}

static cJSON *array_schema(const struct tool_request *tr, const char *args_key) {
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "type", "array");
    cJSON_AddItemToObject(s, "items", union_schema(tr, args_key));
    cJSON_AddNumberToObject(s, "minItems", tr->min_calls > 0 ? tr->min_calls : 1);
    if (tr->max_calls > 0) cJSON_AddNumberToObject(s, "maxItems", tr->max_calls);
    return s;
}

int tool_forced(const struct tool_request *tr, char **prefix, char **schema) {
    *prefix = *schema = NULL;
    if (!tr->tools || (tr->choice != TOOL_CHOICE_REQUIRED && tr->choice != TOOL_CHOICE_NAMED)) return 1;
    const char *only = tr->choice == TOOL_CHOICE_NAMED ? tr->named : NULL;
    if (!only && tr->n_tools == 1) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(tr->tools, 0), "function"), "name");
        only = nm->valuestring;
    }
    char pre[256] = "";
    cJSON *s = NULL;
    switch (tr->fmt) {
    case TOOL_FMT_HERMES:
        snprintf(pre, sizeof pre, "<tool_call>\n");
        s = union_schema(tr, "arguments");
        break;
    case TOOL_FMT_QWEN3_CODER:
        if (only) snprintf(pre, sizeof pre, "<tool_call>\n<function=%s>\n", only);
        else snprintf(pre, sizeof pre, "<tool_call>\n<function=");
        break;
    case TOOL_FMT_LLAMA3: s = union_schema(tr, "parameters"); break;
    case TOOL_FMT_MISTRAL:
        if (tr->mistral_args && only) {
            snprintf(pre, sizeof pre, "[TOOL_CALLS]%s[ARGS]", only);
            const cJSON *pa = field(cJSON_GetObjectItemCaseSensitive(tool_by_name(tr->tools, only), "function"), "parameters");
            s = pa ? cJSON_Duplicate(pa, 1) : cJSON_Parse("{\"type\":\"object\"}");
        } else if (tr->mistral_args) snprintf(pre, sizeof pre, "[TOOL_CALLS]");
        else {
            snprintf(pre, sizeof pre, "[TOOL_CALLS]");
            s = array_schema(tr, "arguments");
        }
        break;
    case TOOL_FMT_PHI4:
        snprintf(pre, sizeof pre, "<|tool_call|>");
        s = array_schema(tr, "arguments");
        break;
    case TOOL_FMT_GPT_OSS:
        if (only) {
            snprintf(pre, sizeof pre, "<|channel|>commentary to=functions.%s <|constrain|>json<|message|>", only);
            const cJSON *pa = field(cJSON_GetObjectItemCaseSensitive(tool_by_name(tr->tools, only), "function"), "parameters");
            s = pa ? cJSON_Duplicate(pa, 1) : cJSON_Parse("{\"type\":\"object\"}");
        } else snprintf(pre, sizeof pre, "<|channel|>commentary to=functions.");
        break;
    default: {
        s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "type", "object");
        cJSON *props = cJSON_AddObjectToObject(s, "properties");
        cJSON_AddItemToObject(props, "tool_calls", array_schema(tr, "arguments"));
        cJSON *req = cJSON_AddArrayToObject(s, "required");
        cJSON_AddItemToArray(req, cJSON_CreateString("tool_calls"));
        cJSON_AddFalseToObject(s, "additionalProperties");
        break;
    }
    }
    *prefix = strdup(pre);
    if (s) {
        *schema = cJSON_PrintUnformatted(s);
        cJSON_Delete(s);
        if (!*schema) { free(*prefix); *prefix = NULL; return -1; }
    }
    return *prefix ? 0 : -1;
}

void tool_call_id(char *out, size_t cap) {
    static atomic_ulong counter;
    static const char AL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char r[24];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, r, sizeof r) : -1;
    if (fd >= 0) close(fd);
    if (got != (ssize_t)sizeof r) {
        unsigned long long x = (unsigned long long)time(NULL) ^ (atomic_fetch_add(&counter, 1) * 0x9E3779B97F4A7C15ull);
        for (size_t i = 0; i < sizeof r; i++) { x ^= x >> 31; x *= 0xBF58476D1CE4E5B9ull; r[i] = (unsigned char)(x >> 24); }
    }
    char id[32] = "call_";
    for (size_t i = 0; i < sizeof r; i++) id[5 + i] = AL[r[i] % 62];
    id[29] = 0;
    snprintf(out, cap, "%s", id);
}

/* ---- the lazy constraint ---- */

static int lazy_add(struct tool_lazy *l, const char *trigger, const char *start, cJSON *schema) {
    char *t = strdup(trigger), *st = strdup(start), *sc = schema ? cJSON_PrintUnformatted(schema) : NULL;
    cJSON_Delete(schema);
    omni_lazy_json *it = realloc(l->items, (size_t)(l->n + 1) * sizeof *it);
    if (it) l->items = it;
    char **ow = realloc(l->owned, (size_t)(l->n_owned + 3) * sizeof *ow);
    if (ow) l->owned = ow;
    if (!t || !st || !sc || !it || !ow) { free(t); free(st); cJSON_free(sc); return -1; }
    l->owned[l->n_owned++] = t;
    l->owned[l->n_owned++] = st;
    l->owned[l->n_owned++] = sc;
    l->items[l->n].trigger = t;
    l->items[l->n].start = st;
    l->items[l->n].json_schema = sc;
    l->n++;
    return 0;
}

static cJSON *params_of(const cJSON *tool) {
    const cJSON *pa = field(cJSON_GetObjectItemCaseSensitive(tool, "function"), "parameters");
    return pa ? cJSON_Duplicate(pa, 1) : cJSON_Parse("{\"type\":\"object\"}");
}

/* One spec per allowed function: trigger = before + NAME, then start. */
static int lazy_per_function(const struct tool_request *tr, struct tool_lazy *l, const char *before, const char *start) {
    const cJSON *t;
    cJSON_ArrayForEach(t, tr->tools) {
        const char *name = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(t, "function"), "name")->valuestring;
        if (tr->choice == TOOL_CHOICE_NAMED && strcmp(name, tr->named)) continue;
        char trig[160];
        snprintf(trig, sizeof trig, "%s%s", before, name);
        if (lazy_add(l, trig, start, params_of(t))) return -1;
    }
    return 0;
}

int tool_lazy_build(const struct tool_request *tr, const char *prefix, struct tool_lazy *l) {
    memset(l, 0, sizeof *l);
    if (!tool_request_active(tr)) return 0;
    size_t pl = prefix ? strlen(prefix) : 0;
    int rc = 0;
    switch (tr->fmt) {
    case TOOL_FMT_HERMES: rc = lazy_add(l, "<tool_call>", "", union_schema(tr, "arguments")); break;
    case TOOL_FMT_LLAMA3: rc = lazy_add(l, "<|python_tag|>", "", union_schema(tr, "parameters")); break;
    case TOOL_FMT_MISTRAL:
        if (tr->mistral_args)   /* a forced "[TOOL_CALLS]" leaves the name to the model */
            rc = lazy_per_function(tr, l, pl ? "" : "[TOOL_CALLS]", "[ARGS]");
        else rc = lazy_add(l, "[TOOL_CALLS]", "", array_schema(tr, "arguments"));
        break;
    case TOOL_FMT_PHI4: {
        cJSON *s = cJSON_CreateObject(), *any = cJSON_AddArrayToObject(s, "anyOf");
        cJSON_AddItemToArray(any, array_schema(tr, "arguments"));
        cJSON_AddItemToArray(any, union_schema(tr, "arguments"));
        rc = lazy_add(l, "<|tool_call|>", "", s);
        break;
    }
    case TOOL_FMT_GPT_OSS:
        /* a forced prefix that ends at "to=functions." leaves the name to the model */
        rc = lazy_per_function(tr, l, pl >= 13 && !strcmp(prefix + pl - 13, "to=functions.") ? "" : "to=functions.",
                               "<|message|>");
        break;
    default: break;   /* Qwen3-Coder's XML and the generic JSON reply are not constrained lazily */
    }
    if (rc) { tool_lazy_free(l); return -1; }
    return 0;
}

void tool_lazy_free(struct tool_lazy *l) {
    for (int i = 0; i < l->n_owned; i++) free(l->owned[i]);
    free(l->owned);
    free(l->items);
    memset(l, 0, sizeof *l);
}
