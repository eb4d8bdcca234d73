/* Tier configuration: parsing, defaults and model matching; see tiers.h. */
#include "auth/tiers.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char default_json[] =
    "{\"default\": \"free\",\n"
    " \"groups\": {\"small\": []},\n"
    " \"tiers\": {\n"
    "  \"free\": {\"messages\": [{\"models\": [\"small\"], \"limit\": null},\n"
    "                          {\"models\": [\"*\"], \"limit\": 10, \"window\": \"3h\"}],\n"
    "           \"api\": {\"requests_per_minute\": 20, \"tokens_per_minute\": 40000}},\n"
    "  \"plus\": {\"messages\": [{\"models\": [\"small\"], \"limit\": null},\n"
    "                          {\"models\": [\"*\"], \"limit\": 50, \"window\": \"3h\"}],\n"
    "           \"api\": {\"requests_per_minute\": 100, \"tokens_per_minute\": 200000}}}}\n";

const char *auth_tiers_default_json(void) { return default_json; }

void auth_tiers_free(struct auth_tiers *t) {
    for (int i = 0; i < t->n; i++) {
        struct auth_tier *tr = &t->tier[i];
        for (int r = 0; r < tr->n_rules; r++) {
            for (int m = 0; m < tr->rules[r].n_models; m++) free(tr->rules[r].models[m]);
            free(tr->rules[r].models);
            free(tr->rules[r].fallback);
        }
        free(tr->rules);
        free(tr->name);
    }
    free(t->tier);
    for (int g = 0; g < t->n_groups; g++) {
        for (int k = 0; k < t->group[g].n; k++) free(t->group[g].patterns[k]);
        free(t->group[g].patterns);
        free(t->group[g].name);
    }
    free(t->group);
    free(t->default_tier);
    free(t->source);
    memset(t, 0, sizeof *t);
}

/* "3h", "90m", "30", "1d" -> seconds; -1 when malformed. */
static long parse_window(const cJSON *w) {
    if (cJSON_IsNumber(w)) return w->valuedouble >= 1 && w->valuedouble < 1e9 ? (long)w->valuedouble : -1;
    if (!cJSON_IsString(w)) return -1;
    char *end = NULL;
    double v = strtod(w->valuestring, &end);
    if (end == w->valuestring || v <= 0) return -1;
    long mul = 1;
    if (*end == 's') end++;
    else if (*end == 'm') { mul = 60; end++; }
    else if (*end == 'h') { mul = 3600; end++; }
    else if (*end == 'd') { mul = 86400; end++; }
    if (*end || v * mul >= 1e9 || v * mul < 1) return -1;
    return (long)(v * mul);
}

/* null/absent/0 -> -1 (unlimited), a non-negative integer -> itself, else -2 (bad). */
static long parse_limit(const cJSON *v, int zero_is_unlimited) {
    if (!v || cJSON_IsNull(v)) return -1;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e15 || v->valuedouble != (double)(long)v->valuedouble)
        return -2;
    if (zero_is_unlimited && v->valuedouble == 0) return -1;
    return (long)v->valuedouble;
}

static char **string_list(const cJSON *a, int *n, int allow_empty) {
    *n = 0;
    if (!cJSON_IsArray(a)) return NULL;
    int k = cJSON_GetArraySize(a);
    char **out = calloc((size_t)(k ? k : 1), sizeof *out);
    if (!out) return NULL;
    const cJSON *it;
    cJSON_ArrayForEach(it, a) {
        if (!cJSON_IsString(it) || !*it->valuestring || !(out[*n] = strdup(it->valuestring))) {
            for (int i = 0; i < *n; i++) free(out[i]);
            free(out);
            *n = -1;
            return NULL;
        }
        (*n)++;
    }
    if (!*n && !allow_empty) { free(out); *n = -1; return NULL; }
    return out;
}

int auth_tiers_parse(struct auth_tiers *t, const char *json, const char *source, struct err *e) {
    memset(t, 0, sizeof *t);
    cJSON *j = cJSON_Parse(json);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return err_set(e, "%s: the tiers are not a JSON object", source);
    }
    t->source = strdup(source);
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(j, "groups");
    const cJSON *tiers = cJSON_GetObjectItemCaseSensitive(j, "tiers");
    const cJSON *dflt = cJSON_GetObjectItemCaseSensitive(j, "default");
    const cJSON *it;
    if (groups && !cJSON_IsObject(groups)) { err_set(e, "%s: 'groups' must be an object", source); goto fail; }
    if (!cJSON_IsObject(tiers) || !tiers->child) {
        err_set(e, "%s: 'tiers' must be an object with at least one tier", source);
        goto fail;
    }
    int ng = 0;
    cJSON_ArrayForEach(it, groups) ng++;
    if (ng && !(t->group = calloc((size_t)ng, sizeof *t->group))) goto oom;
    cJSON_ArrayForEach(it, groups) {
        struct auth_group *g = &t->group[t->n_groups];
        if (!(g->name = strdup(it->string))) goto oom;
        t->n_groups++;
        g->patterns = string_list(it, &g->n, 1);
        if (g->n < 0) { g->n = 0; err_set(e, "%s: group '%s' must be a list of model names", source, it->string); goto fail; }
    }
    int nt = 0;
    cJSON_ArrayForEach(it, tiers) nt++;
    if (!(t->tier = calloc((size_t)nt, sizeof *t->tier))) goto oom;
    cJSON_ArrayForEach(it, tiers) {
        struct auth_tier *tr = &t->tier[t->n];
        if (!(tr->name = strdup(it->string))) goto oom;
        t->n++;
        int name_ok = it->string[0] && strlen(it->string) < 64;
        for (const char *q = it->string; *q; q++)
            name_ok &= isalnum((unsigned char)*q) || *q == '_' || *q == '-' || *q == '.';
        if (!name_ok) {
            err_set(e, "%s: tier name '%s' must be 1-63 letters, digits, '_', '-' or '.'", source, it->string);
            goto fail;
        }
        if (!cJSON_IsObject(it)) { err_set(e, "%s: tier '%s' must be an object", source, it->string); goto fail; }
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(it, "messages");
        const cJSON *api = cJSON_GetObjectItemCaseSensitive(it, "api");
        if (msgs && !cJSON_IsArray(msgs)) { err_set(e, "%s: tier '%s': 'messages' must be a list", source, tr->name); goto fail; }
        int nr = cJSON_GetArraySize(msgs);
        if (nr && !(tr->rules = calloc((size_t)nr, sizeof *tr->rules))) goto oom;
        const cJSON *r;
        cJSON_ArrayForEach(r, msgs) {
            struct auth_msg_rule *mr = &tr->rules[tr->n_rules];
            tr->n_rules++;
            const cJSON *models = cJSON_IsObject(r) ? cJSON_GetObjectItemCaseSensitive(r, "models") : NULL;
            mr->models = string_list(models, &mr->n_models, 0);
            if (mr->n_models < 0 || !mr->models) {
                mr->n_models = 0;
                err_set(e, "%s: tier '%s': messages[%d].models must be a non-empty list of model names or groups",
                        source, tr->name, tr->n_rules - 1);
                goto fail;
            }
            mr->limit = parse_limit(cJSON_GetObjectItemCaseSensitive(r, "limit"), 0);
            if (mr->limit == -2) {
                err_set(e, "%s: tier '%s': messages[%d].limit must be a whole number or null", source, tr->name,
                        tr->n_rules - 1);
                goto fail;
            }
            const cJSON *fb = cJSON_GetObjectItemCaseSensitive(r, "fallback");
            if (fb && !cJSON_IsNull(fb)) {
                if (!cJSON_IsString(fb) || !*fb->valuestring) {
                    err_set(e, "%s: tier '%s': messages[%d].fallback must be a model name", source, tr->name, tr->n_rules - 1);
                    goto fail;
                }
                if (!(mr->fallback = strdup(fb->valuestring))) goto oom;
            }
            const cJSON *w = cJSON_GetObjectItemCaseSensitive(r, "window");
            mr->window_s = mr->limit >= 0 ? parse_window(w) : 0;
            if (mr->limit >= 0 && mr->window_s < 0) {
                err_set(e, "%s: tier '%s': messages[%d].window must be seconds or like \"3h\", \"30m\", \"1d\"", source,
                        tr->name, tr->n_rules - 1);
                goto fail;
            }
        }
        tr->rpm = tr->tpm = -1;
        if (api && !cJSON_IsObject(api)) { err_set(e, "%s: tier '%s': 'api' must be an object", source, tr->name); goto fail; }
        if (api) {
            tr->rpm = parse_limit(cJSON_GetObjectItemCaseSensitive(api, "requests_per_minute"), 1);
            tr->tpm = parse_limit(cJSON_GetObjectItemCaseSensitive(api, "tokens_per_minute"), 1);
            if (tr->rpm == -2 || tr->tpm == -2) {
                err_set(e, "%s: tier '%s': api limits must be whole numbers or null", source, tr->name);
                goto fail;
            }
        }
    }
    if (dflt && !cJSON_IsString(dflt)) { err_set(e, "%s: 'default' must be a tier name", source); goto fail; }
    if (!(t->default_tier = strdup(dflt ? dflt->valuestring : t->tier[0].name))) goto oom;
    if (!auth_tier_exists(t, t->default_tier)) {
        err_set(e, "%s: the default tier '%s' is not among the tiers", source, t->default_tier);
        goto fail;
    }
    cJSON_Delete(j);
    return 0;
oom:
    err_set(e, "out of memory");
fail:
    cJSON_Delete(j);
    auth_tiers_free(t);
    return -1;
}

int auth_tiers_load(struct auth_tiers *t, const char *path, struct err *e) {
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(e, "%s: cannot open the tiers file", path);
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (16u << 20)) { free(buf); fclose(f); return err_set(e, "%s: the tiers file is too large", path); }
            char *g = realloc(buf, cap);
            if (!g) { free(buf); fclose(f); return err_set(e, "out of memory"); }
            buf = g;
        }
        size_t k = fread(buf + n, 1, 4096, f);
        n += k;
        if (k < 4096) break;
    }
    fclose(f);
    buf[n] = 0;
    int rc = auth_tiers_parse(t, buf, path, e);
    free(buf);
    return rc;
}

int auth_tiers_default(struct auth_tiers *t, struct err *e) { return auth_tiers_parse(t, default_json, "built-in", e); }

int auth_tier_exists(const struct auth_tiers *t, const char *name) {
    for (int i = 0; name && i < t->n; i++)
        if (!strcmp(t->tier[i].name, name)) return 1;
    return 0;
}

const struct auth_tier *auth_tier_get(const struct auth_tiers *t, const char *name) {
    for (int i = 0; name && i < t->n; i++)
        if (!strcmp(t->tier[i].name, name)) return &t->tier[i];
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->tier[i].name, t->default_tier)) return &t->tier[i];
    return &t->tier[0];
}

static int model_matches(const struct auth_tiers *t, const char *entry, const char *model) {
    for (int g = 0; g < t->n_groups; g++)
        if (!strcmp(t->group[g].name, entry)) {
            for (int k = 0; k < t->group[g].n; k++)
                if (!fnmatch(t->group[g].patterns[k], model, FNM_CASEFOLD)) return 1;
            return 0;
        }
    return !fnmatch(entry, model, FNM_CASEFOLD);
}

int auth_tier_rule_index(const struct auth_tiers *t, const struct auth_tier *tier, const char *model) {
    if (!model) model = "";
    for (int r = 0; r < tier->n_rules; r++)
        for (int m = 0; m < tier->rules[r].n_models; m++)
            if (model_matches(t, tier->rules[r].models[m], model)) return r;
    return -1;
}

const struct auth_msg_rule *auth_tier_rule(const struct auth_tiers *t, const struct auth_tier *tier, const char *model) {
    int r = auth_tier_rule_index(t, tier, model);
    return r < 0 || tier->rules[r].limit < 0 ? NULL : &tier->rules[r];
}

cJSON *auth_tier_json(const struct auth_tier *tier) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "name", tier->name);
    cJSON *msgs = cJSON_AddArrayToObject(o, "messages");
    for (int r = 0; msgs && r < tier->n_rules; r++) {
        const struct auth_msg_rule *mr = &tier->rules[r];
        cJSON *x = cJSON_CreateObject();
        if (!x) break;
        cJSON *ms = cJSON_AddArrayToObject(x, "models");
        for (int m = 0; ms && m < mr->n_models; m++) cJSON_AddItemToArray(ms, cJSON_CreateString(mr->models[m]));
        if (mr->limit < 0) cJSON_AddNullToObject(x, "limit");
        else {
            cJSON_AddNumberToObject(x, "limit", (double)mr->limit);
            cJSON_AddNumberToObject(x, "window_seconds", (double)mr->window_s);
        }
        cJSON_AddItemToArray(msgs, x);
    }
    cJSON *api = cJSON_AddObjectToObject(o, "api");
    if (api) {
        if (tier->rpm < 0) cJSON_AddNullToObject(api, "requests_per_minute");
        else cJSON_AddNumberToObject(api, "requests_per_minute", (double)tier->rpm);
        if (tier->tpm < 0) cJSON_AddNullToObject(api, "tokens_per_minute");
        else cJSON_AddNumberToObject(api, "tokens_per_minute", (double)tier->tpm);
    }
    return o;
}
