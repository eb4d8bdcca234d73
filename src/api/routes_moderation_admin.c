/* The admins' moderation API (accounts on):
 *   GET    /api/admin/moderation/policies                   every stored policy, the server's file, the default
 *   GET|PUT|DELETE /api/admin/moderation/policies/{tier|assistant|key}/{NAME}
 *                                                           one policy (moderation/policy.h); PUT checks it
 *   GET    /api/admin/moderation/audit?limit=N&before=MS    flagged items, newest first
 *   GET|PUT /api/admin/moderation/retention {"days": N}     how long the audit log keeps them (PUT prunes now) */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/guardrails.h"
#include "api/reply.h"
#include "api/who.h"
#include "storage/audit.h"
#include "storage/prefs.h"

#define RETENTION_KEY "moderation_audit_retention_days"

static int reply_free(struct mg_connection *c, int status, cJSON *j) {
    int st = api_reply_json(c, status, j);
    cJSON_Delete(j);
    return st;
}

static cJSON *policy_json(const char *doc) {
    cJSON *p = cJSON_Parse(doc);
    return p ? p : cJSON_CreateNull();
}

static int list_policies(struct api_server *s, struct mg_connection *c) {
    char **names = NULL, **docs = NULL;
    size_t n = 0;
    struct err e = {{0}};
    int rc = store_policy_list(s->p.auth->st, &names, &docs, &n, &e);
    if (rc) return api_reply_store(c, rc, &e, "policy");
    cJSON *o = cJSON_CreateObject(), *d = cJSON_AddArrayToObject(o, "data");
    cJSON_AddStringToObject(o, "object", "list");
    for (size_t i = 0; i < n; i++) {
        cJSON *it = cJSON_CreateObject();
        char *slash = strchr(names[i], '/');
        *slash = 0;
        cJSON_AddStringToObject(it, "scope", names[i]);
        cJSON_AddStringToObject(it, "name", slash + 1);
        cJSON_AddItemToObject(it, "policy", policy_json(docs[i]));
        cJSON_AddItemToArray(d, it);
        free(names[i]);
        free(docs[i]);
    }
    free(names);
    free(docs);
    cJSON_AddBoolToObject(o, "server_policy", s->moderation && s->moderation->policy);
    cJSON_AddBoolToObject(o, "guard_model", s->moderation && s->moderation->guard);
    cJSON_AddItemToObject(o, "default", s->p.auth->no_auth ? cJSON_CreateNull() : policy_json(mod_policy_default_json));
    return reply_free(c, 200, o);
}

static int one_policy(struct api_server *s, struct mg_connection *c, const char *m, const char *rest, const char *body,
                      size_t len) {
    char scope[16] = "", name[80] = "";
    const char *slash = strchr(rest, '/');
    if (!slash || (size_t)(slash - rest) >= sizeof scope || strlen(slash + 1) >= sizeof name || strchr(slash + 1, '/'))
        return api_reply_error(c, 404, NULL, "unknown_url", "use /api/admin/moderation/policies/{tier|assistant|key}/{name}");
    memcpy(scope, rest, (size_t)(slash - rest));
    snprintf(name, sizeof name, "%s", slash + 1);
    if (strcmp(scope, "tier") && strcmp(scope, "assistant") && strcmp(scope, "key"))
        return api_reply_error(c, 404, NULL, "unknown_url", "a policy's scope is tier, assistant or key, not '%s'", scope);
    struct store *st = s->p.auth->st;
    struct err e = {{0}};
    int rc;
    if (!strcmp(m, "PUT")) {
        struct mod_policy *p = mod_policy_parse(body, len, &e);
        if (!p) return api_reply_error(c, 400, NULL, "invalid_policy", "%s", e.msg);
        mod_policy_free(p);
        char *doc = strndup(body, len);
        rc = doc ? store_policy_put(st, scope, name, doc, &e) : STORE_ERR;
        free(doc);
        if (rc) return api_reply_store(c, rc, &e, "policy");
    } else if (!strcmp(m, "DELETE")) {
        if ((rc = store_policy_delete(st, scope, name, &e))) return api_reply_store(c, rc, &e, "policy");
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "scope", scope);
        cJSON_AddStringToObject(o, "name", name);
        cJSON_AddBoolToObject(o, "deleted", 1);
        return reply_free(c, 200, o);
    } else if (strcmp(m, "GET"))
        return api_reply_error(c, 405, NULL, "method_not_allowed", "use GET, PUT or DELETE");
    char *doc = NULL;
    if ((rc = store_policy_get(st, scope, name, &doc, &e))) return api_reply_store(c, rc, &e, "policy");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "moderation.policy");
    cJSON_AddStringToObject(o, "scope", scope);
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddItemToObject(o, "policy", policy_json(doc));
    free(doc);
    return reply_free(c, 200, o);
}

static int audit(struct api_server *s, struct mg_connection *c) {
    char v[32];
    int limit = api_query(c, "limit", v, sizeof v) ? atoi(v) : 100;
    long long before = api_query(c, "before", v, sizeof v) ? atoll(v) : 0;
    if (limit < 1 || limit > 1000) return api_reply_error(c, 400, "limit", "invalid_value", "'limit' is 1 to 1000");
    struct store_audit *rows = NULL;
    size_t n = 0;
    struct err e = {{0}};
    int rc = store_audit_list(s->p.auth->st, before, limit, &rows, &n, &e);
    if (rc) return api_reply_store(c, rc, &e, "audit");
    cJSON *o = cJSON_CreateObject(), *d = cJSON_AddArrayToObject(o, "data");
    cJSON_AddStringToObject(o, "object", "list");
    for (size_t i = 0; i < n; i++) {
        const struct store_audit *a = &rows[i];
        cJSON *it = cJSON_CreateObject();
        cJSON_AddStringToObject(it, "id", a->id);
        cJSON_AddNumberToObject(it, "created", (double)a->created);
        cJSON_AddStringToObject(it, "user_id", a->user_id);
        cJSON_AddStringToObject(it, "key_id", a->key_id);
        cJSON_AddStringToObject(it, "assistant_id", a->assistant_id);
        cJSON_AddStringToObject(it, "api", a->api);
        cJSON_AddStringToObject(it, "stage", a->stage);
        cJSON_AddStringToObject(it, "rule", a->rule);
        cJSON_AddStringToObject(it, "category", a->category);
        cJSON_AddStringToObject(it, "action", a->action);
        cJSON_AddStringToObject(it, "excerpt", a->excerpt);
        cJSON_AddItemToArray(d, it);
    }
    cJSON_AddBoolToObject(o, "has_more", (int)n == limit);
    free(rows);
    return reply_free(c, 200, o);
}

static int retention(struct api_server *s, struct mg_connection *c, const char *m, const char *body, size_t len) {
    struct store *st = s->p.auth->st;
    struct err e = {{0}};
    if (!strcmp(m, "PUT") || !strcmp(m, "PATCH")) {
        int status = 0;
        cJSON *j = api_json_object(c, body, len, &status);
        if (!j) return status;
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "days");
        if (!cJSON_IsNumber(d) || d->valuedouble != (double)(int)d->valuedouble || d->valueint < 1 || d->valueint > 3650) {
            cJSON_Delete(j);
            return api_reply_error(c, 400, "days", "invalid_value", "'days' must be a whole number from 1 to 3650");
        }
        char v[16];
        snprintf(v, sizeof v, "%d", d->valueint);
        cJSON_Delete(j);
        int rc = store_server_put(st, RETENTION_KEY, v, &e);
        if (!rc) rc = store_audit_prune(st, store_now_ms() - (int64_t)atoi(v) * 86400000, NULL, &e);
        if (rc) return api_reply_store(c, rc, &e, "setting");
    } else if (strcmp(m, "GET")) return api_reply_error(c, 405, NULL, "method_not_allowed", "use GET or PUT");
    char *v = NULL;
    int days = 90;
    if (!store_server_get(st, RETENTION_KEY, &v, &e) && v) days = atoi(v);
    free(v);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "moderation.retention");
    cJSON_AddNumberToObject(o, "days", days);
    return reply_free(c, 200, o);
}

int route_admin_moderation(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *m,
                           const char *rest, const char *body, size_t len) {
    if (strcmp(w->user.role, "admin")) return api_reply_error(c, 403, NULL, "admin_only", "only admins manage moderation");
    if (!strcmp(rest, "/policies")) {
        if (strcmp(m, "GET")) return api_reply_error(c, 405, NULL, "method_not_allowed", "use GET");
        return list_policies(s, c);
    }
    if (!strncmp(rest, "/policies/", 10)) return one_policy(s, c, m, rest + 10, body, len);
    if (!strcmp(rest, "/audit")) {
        if (strcmp(m, "GET")) return api_reply_error(c, 405, NULL, "method_not_allowed", "use GET");
        return audit(s, c);
    }
    if (!strcmp(rest, "/retention")) return retention(s, c, m, body, len);
    return api_reply_error(c, 404, NULL, "unknown_url", "unknown route %s /api/admin/moderation%s", m, rest);
}
