/* Moderation policies; see policy.h. */
#include "moderation/policy.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char mod_policy_default_json[] =
    "{\"rules\": [{\"name\": \"default-pii\", \"type\": \"pii\", \"kinds\": [\"kr_rrn\", \"card\"], \"action\": \"redact\"}],"
    " \"input\": true, \"output\": false, \"guard\": true, \"categories\": {\"*\": \"block\"}}";

static int action_of(const char *s) {
    for (int a = MOD_ALLOW; a <= MOD_BLOCK; a++)
        if (!strcmp(s, mod_action_name((enum mod_action)a))) return a;
    return -1;
}

static int flag(const cJSON *root, const char *name, int dflt, int *out, struct err *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!v || cJSON_IsNull(v)) { *out = dflt; return 0; }
    if (!cJSON_IsBool(v)) return err_set(e, "moderation policy: \"%s\" must be true or false", name);
    *out = cJSON_IsTrue(v);
    return 0;
}

static int text(const cJSON *root, const char *name, char **out, struct err *e) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsString(v) || strlen(v->valuestring) > 1000)
        return err_set(e, "moderation policy: \"%s\" must be a string of at most 1000 bytes", name);
    if (!(*out = strdup(v->valuestring))) return err_set(e, "out of memory");
    return 0;
}

static int categories(struct mod_policy *p, const cJSON *jc, struct err *e) {
    p->default_action = MOD_BLOCK;
    for (int c = 0; c < OAI_N_CATEGORIES; c++) p->cat_action[c] = (enum mod_action)-1;
    if (jc && !cJSON_IsNull(jc)) {
        if (!cJSON_IsObject(jc))
            return err_set(e, "moderation policy: \"categories\" must be an object of category name -> action");
        for (const cJSON *it = jc->child; it; it = it->next) {
            int a = cJSON_IsString(it) ? action_of(it->valuestring) : -1;
            if (a < 0 || a == MOD_REDACT)
                return err_set(e, "moderation policy: categories.%s must be one of block, warn, log, allow", it->string);
            if (!strcmp(it->string, "*")) { p->default_action = (enum mod_action)a; continue; }
            int found = 0;
            for (int c = 0; c < OAI_N_CATEGORIES; c++)
                if (!strcmp(it->string, oai_category_name((enum oai_category)c))) p->cat_action[c] = (enum mod_action)a, found = 1;
            if (!found)
                return err_set(e, "moderation policy: categories.%s is not one of OpenAI's moderation categories "
                                  "(harassment, hate, illicit, self-harm, sexual, sexual/minors, violence, … or \"*\")",
                               it->string);
        }
    }
    for (int c = 0; c < OAI_N_CATEGORIES; c++)
        if ((int)p->cat_action[c] < 0) p->cat_action[c] = p->default_action;
    return 0;
}

struct mod_policy *mod_policy_parse(const char *json, size_t len, struct err *e) {
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        err_set(e, "moderation policy: not a JSON object");
        return NULL;
    }
    struct mod_policy *p = calloc(1, sizeof *p);
    if (!p) { cJSON_Delete(root); err_set(e, "out of memory"); return NULL; }
    static const char no_rules[] = "{\"rules\": []}";
    int rc = 0;
    if (cJSON_GetObjectItemCaseSensitive(root, "rules")) p->rules = mod_rules_parse(json, len, e);
    else p->rules = mod_rules_parse(no_rules, sizeof no_rules - 1, e);
    if (!p->rules) rc = -1;
    if (!rc) rc = flag(root, "input", 1, &p->on_input, e);
    if (!rc) rc = flag(root, "output", 1, &p->on_output, e);
    if (!rc) rc = flag(root, "tool_results", 0, &p->on_tools, e);
    if (!rc) rc = flag(root, "knowledge", 0, &p->on_knowledge, e);
    if (!rc) rc = flag(root, "guard", 1, &p->use_guard, e);
    if (!rc) rc = categories(p, cJSON_GetObjectItemCaseSensitive(root, "categories"), e);
    if (!rc) rc = text(root, "message", &p->message, e);
    if (!rc) rc = text(root, "message_ko", &p->message_ko, e);
    cJSON_Delete(root);
    if (rc) { mod_policy_free(p); return NULL; }
    return p;
}

struct mod_policy *mod_policy_load(const char *path, struct err *e) {
    FILE *f = fopen(path, "rb");
    if (!f) { err_set(e, "cannot open moderation policy %s", path); return NULL; }
    char *buf = NULL;
    size_t len = 0;
    char chunk[65536];
    for (size_t k; (k = fread(chunk, 1, sizeof chunk, f)) > 0;) {
        char *b = len + k <= (64u << 20) ? realloc(buf, len + k + 1) : NULL;
        if (!b) { fclose(f); free(buf); err_set(e, "%s: a policy over 64 MiB, or out of memory", path); return NULL; }
        buf = b;
        memcpy(buf + len, chunk, k);
        len += k;
    }
    fclose(f);
    struct mod_policy *p = mod_policy_parse(buf ? buf : "", len, e);
    if (!p) err_prefix(e, "%s: ", path);
    free(buf);
    return p;
}

void mod_policy_free(struct mod_policy *p) {
    if (!p) return;
    mod_rules_free(p->rules);
    free(p->message);
    free(p->message_ko);
    free(p);
}

enum mod_action mod_policy_action(const struct mod_policy *p, unsigned categories) {
    if (!categories) return p->default_action;
    enum mod_action a = MOD_ALLOW;
    for (int c = 0; c < OAI_N_CATEGORIES; c++)
        if ((categories & (1u << c)) && p->cat_action[c] > a) a = p->cat_action[c];
    return a;
}
