/* The account routes under /api: sign-up, login, logout, me (with tier, limits and
 * usage), export, delete account, API keys, usage, and the admin's user management.
 * Thin: parse, authorize, call auth/ and storage/, write. Errors in the /v1 shape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/guardrails.h"
#include "api/reply.h"
#include "api/routes_assistants.h"
#include "api/routes.h"
#include "api/routes_tools.h"
#include "api/routes_me.h"
#include "api/routes_trainer.h"
#include "api/who.h"

static int secure_cookie(const struct api_server *s) { return s->p.tls_cert != NULL || s->p.auth->secure_cookie; }

static int reply_with_cookie(struct api_server *s, struct mg_connection *c, int status, const cJSON *j,
                             const char *token) {
    char h[256];
    if (auth_cookie_header(h, sizeof h, token, (long)(s->p.auth->session_ttl_ms / 1000), secure_cookie(s)) < 0) h[0] = 0;
    return api_reply_json_headers(c, status, j, h);
}

/* Sign-up and login come without a session, but a foreign page must not drive them
 * (login CSRF): a present Origin must be ours. */
static int foreign_origin(struct mg_connection *c) {
    const char *o = mg_get_header(c, "Origin");
    return o && !auth_origin_matches(o, NULL, mg_get_header(c, "Host"));
}

static int route_signup(struct api_server *s, struct mg_connection *c, const char *body, size_t len) {
    struct auth_config *a = s->p.auth;
    if (a->no_auth) return api_reply_error(c, 400, NULL, "no_auth", "this server runs without accounts (--no-auth)");
    if (foreign_origin(c)) return api_reply_error(c, 403, NULL, "csrf_origin_mismatch", "sign-up from a foreign page");
    int status = 0, bad = 0;
    cJSON *j = api_json_object(c, body, len, &status);
    if (!j) return status;
    const char *email = api_json_str(c, j, "email", &bad), *pw = api_json_str(c, j, "password", &bad),
               *name = api_json_str(c, j, "name", &bad);
    if (bad) { cJSON_Delete(j); return 400; }
    struct store_user u;
    struct auth_refusal r;
    if (auth_signup_user(a, email, pw, name, &u, &r)) { cJSON_Delete(j); return api_reply_refusal(c, &r); }
    cJSON_Delete(j);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "user", api_user_json(&u));
    if (strcmp(u.status, "active")) {
        status = api_reply_json(c, 201, out); /* pending: no session until approved */
    } else {
        char tok[AUTH_TOKEN_CHARS + 1];
        if (auth_session_start(a, &u, tok, &r)) status = api_reply_refusal(c, &r);
        else status = reply_with_cookie(s, c, 201, out, tok);
    }
    cJSON_Delete(out);
    return status;
}

static int route_login(struct api_server *s, struct mg_connection *c, const char *body, size_t len) {
    struct auth_config *a = s->p.auth;
    if (a->no_auth) return api_reply_error(c, 400, NULL, "no_auth", "this server runs without accounts (--no-auth)");
    if (foreign_origin(c)) return api_reply_error(c, 403, NULL, "csrf_origin_mismatch", "login from a foreign page");
    int status = 0, bad = 0;
    cJSON *j = api_json_object(c, body, len, &status);
    if (!j) return status;
    const char *email = api_json_str(c, j, "email", &bad), *pw = api_json_str(c, j, "password", &bad);
    if (bad) { cJSON_Delete(j); return 400; }
    struct store_user u;
    struct auth_refusal r;
    char tok[AUTH_TOKEN_CHARS + 1];
    int rc = auth_login(a, email, pw, api_client_addr(c), tok, &u, &r);
    cJSON_Delete(j);
    if (rc) return api_reply_refusal(c, &r);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "user", api_user_json(&u));
    status = reply_with_cookie(s, c, 200, out, tok);
    cJSON_Delete(out);
    return status;
}

static int route_logout(struct api_server *s, struct mg_connection *c, struct api_who *w) {
    if (w->kind == API_WHO_SESSION) auth_logout(s->p.auth, w->token);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddBoolToObject(out, "ok", 1);
    int st = reply_with_cookie(s, c, 200, out, NULL);
    cJSON_Delete(out);
    return st;
}

static void usage_json_into(cJSON *o, const struct store_usage *u) {
    cJSON_AddNumberToObject(o, "requests", (double)u->requests);
    cJSON_AddNumberToObject(o, "prompt_tokens", (double)u->prompt_tokens);
    cJSON_AddNumberToObject(o, "cached_tokens", (double)u->cached_tokens);
    cJSON_AddNumberToObject(o, "completion_tokens", (double)u->completion_tokens);
    cJSON_AddNumberToObject(o, "images", (double)u->images);
    cJSON_AddNumberToObject(o, "audio_seconds", u->audio_seconds);
}

static int route_me(struct api_server *s, struct mg_connection *c, struct api_who *w) {
    struct auth_config *a = s->p.auth;
    const struct auth_tier *t = auth_tier_get(&a->tiers, w->user.tier);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddItemToObject(out, "user", api_user_json(&w->user));
    cJSON_AddStringToObject(out, "role", w->user.role);
    cJSON_AddStringToObject(out, "tier", t->name);
    cJSON_AddStringToObject(out, "auth", w->kind == API_WHO_LOCAL ? "none" : w->kind == API_WHO_KEY ? "api_key" : "session");
    /* each message rule with what is used of it now (a look: cost 0 records nothing) */
    cJSON *limits = cJSON_AddArrayToObject(out, "limits");
    int64_t now = store_now_ms();
    struct err e = {{0}};
    for (int i = 0; i < t->n_rules; i++) {
        const struct auth_msg_rule *mr = &t->rules[i];
        cJSON *x = cJSON_CreateObject();
        cJSON *ms = cJSON_AddArrayToObject(x, "models");
        for (int m = 0; m < mr->n_models; m++) cJSON_AddItemToArray(ms, cJSON_CreateString(mr->models[m]));
        if (mr->limit < 0) cJSON_AddNullToObject(x, "limit");
        else {
            char bucket[STORE_TIER_MAX + 32];
            snprintf(bucket, sizeof bucket, "msg:%s:%d", t->name, i);
            struct store_limit sl = {0};
            if (store_limit_hit(a->st, w->user.id, bucket, now, mr->window_s * 1000, -1, 0, &sl, &e)) memset(&sl, 0, sizeof sl);
            cJSON_AddNumberToObject(x, "limit", (double)mr->limit);
            cJSON_AddNumberToObject(x, "window_seconds", (double)mr->window_s);
            if (mr->fallback) cJSON_AddStringToObject(x, "fallback_model", mr->fallback); /* what a 429 offers */
            else cJSON_AddNullToObject(x, "fallback_model");
            cJSON_AddNumberToObject(x, "used", (double)sl.used);
            cJSON_AddNumberToObject(x, "remaining", (double)(mr->limit > sl.used ? mr->limit - sl.used : 0));
            if (sl.reset > 0) cJSON_AddNumberToObject(x, "resets_at", (double)sl.reset);
            else cJSON_AddNullToObject(x, "resets_at");
        }
        cJSON_AddItemToArray(limits, x);
    }
    cJSON *api = cJSON_AddObjectToObject(out, "api_limits");
    if (t->rpm < 0) cJSON_AddNullToObject(api, "requests_per_minute");
    else cJSON_AddNumberToObject(api, "requests_per_minute", (double)t->rpm);
    if (t->tpm < 0) cJSON_AddNullToObject(api, "tokens_per_minute");
    else cJSON_AddNumberToObject(api, "tokens_per_minute", (double)t->tpm);
    char today[STORE_DAY_MAX];
    store_day(now, today);
    struct store_usage ut, ua;
    memset(&ut, 0, sizeof ut);
    memset(&ua, 0, sizeof ua);
    if (store_usage_total(a->st, w->user.id, today, today, &ut, &e) ||
        store_usage_total(a->st, w->user.id, "", "", &ua, &e)) {
        cJSON_Delete(out);
        return api_reply_store(c, STORE_ERR, &e, "usage");
    }
    cJSON *usage = cJSON_AddObjectToObject(out, "usage");
    cJSON *td = cJSON_AddObjectToObject(usage, "today");
    usage_json_into(td, &ut);
    cJSON *all = cJSON_AddObjectToObject(usage, "total");
    usage_json_into(all, &ua);
    int st = api_reply_json(c, 200, out);
    cJSON_Delete(out);
    return st;
}

static int route_delete_me(struct api_server *s, struct mg_connection *c, struct api_who *w) {
    if (w->kind == API_WHO_LOCAL) return api_reply_error(c, 400, NULL, "no_auth", "the local user of --no-auth cannot be deleted");
    if (w->kind == API_WHO_KEY)
        return api_reply_error(c, 403, NULL, "session_required", "deleting the account needs a login, not an API key");
    struct err e = {{0}};
    int rc = store_user_delete(s->p.auth->st, w->user.id, &e);
    if (rc) return api_reply_store(c, rc, &e, "user");
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "id", w->user.id);
    cJSON_AddBoolToObject(out, "deleted", 1);
    int st = reply_with_cookie(s, c, 200, out, NULL);
    cJSON_Delete(out);
    return st;
}

static int route_export(struct api_server *s, struct mg_connection *c, struct api_who *w) {
    char *json = NULL;
    struct err e = {{0}};
    int rc = store_export_user(s->p.auth->st, w->user.id, &json, &e);
    if (rc) return api_reply_store(c, rc, &e, "user");
    int st = api_reply(c, 200, "application/json", json, strlen(json),
                       "Content-Disposition: attachment; filename=\"omni-export.json\"\r\n");
    free(json);
    return st;
}

static cJSON *key_json(const struct store_key *k) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", k->id);
    cJSON_AddStringToObject(o, "object", "api_key");
    cJSON_AddStringToObject(o, "name", k->name);
    char masked[48];
    snprintf(masked, sizeof masked, "%s…", k->prefix);
    cJSON_AddStringToObject(o, "prefix", k->prefix);
    cJSON_AddStringToObject(o, "masked", masked);
    cJSON *ms = cJSON_AddArrayToObject(o, "models");
    char list[STORE_MODELS_MAX];
    snprintf(list, sizeof list, "%s", k->models);
    char *save = NULL;
    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) cJSON_AddItemToArray(ms, cJSON_CreateString(t));
    cJSON_AddNumberToObject(o, "created", (double)k->created);
    if (k->last_used) cJSON_AddNumberToObject(o, "last_used", (double)k->last_used);
    else cJSON_AddNullToObject(o, "last_used");
    if (k->revoked) cJSON_AddNumberToObject(o, "revoked", (double)k->revoked);
    else cJSON_AddNullToObject(o, "revoked");
    return o;
}

static int route_keys(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *m, const char *id,
                      const char *body, size_t len) {
    struct auth_config *a = s->p.auth;
    struct err e = {{0}};
    if (!id && !strcmp(m, "GET")) {
        struct store_key *ks = NULL;
        size_t n = 0;
        int rc = store_key_list(a->st, w->user.id, &ks, &n, &e);
        if (rc) return api_reply_store(c, rc, &e, "key");
        cJSON *out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "object", "list");
        cJSON *d = cJSON_AddArrayToObject(out, "data");
        for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(d, key_json(&ks[i]));
        free(ks);
        int st = api_reply_json(c, 200, out);
        cJSON_Delete(out);
        return st;
    }
    if (!id && !strcmp(m, "POST")) {
        int status = 0, bad = 0;
        cJSON *j = api_json_object(c, body, len, &status);
        if (!j) return status;
        const char *name = api_json_str(c, j, "name", &bad);
        if (bad) { cJSON_Delete(j); return 400; }
        const cJSON *models = cJSON_GetObjectItemCaseSensitive(j, "models");
        char list[STORE_MODELS_MAX] = "";
        if (models && !cJSON_IsNull(models)) {
            const cJSON *it;
            int ok = cJSON_IsArray(models);
            cJSON_ArrayForEach(it, models) {
                if (!cJSON_IsString(it) || !*it->valuestring || strchr(it->valuestring, ',') ||
                    strlen(list) + strlen(it->valuestring) + 2 >= sizeof list) { ok = 0; break; }
                if (list[0]) strcat(list, ",");
                strcat(list, it->valuestring);
            }
            if (!ok) {
                cJSON_Delete(j);
                return api_reply_error(c, 400, "models", "invalid_value", "'models' must be a list of model names (or patterns)");
            }
        }
        char secret[AUTH_KEY_CHARS + 1];
        struct store_key k;
        struct auth_refusal r;
        int rc = auth_key_create(a, w->user.id, name, list, secret, &k, &r);
        cJSON_Delete(j);
        if (rc) return api_reply_refusal(c, &r);
        cJSON *out = key_json(&k);
        cJSON_AddStringToObject(out, "key", secret); /* the only time it is shown */
        int st = api_reply_json(c, 201, out);
        cJSON_Delete(out);
        return st;
    }
    if (id && !strcmp(m, "DELETE")) {
        int rc = store_key_revoke(a->st, w->user.id, id, 0, &e);
        if (rc) return api_reply_store(c, rc, &e, "key");
        cJSON *out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "id", id);
        cJSON_AddBoolToObject(out, "deleted", 1);
        int st = api_reply_json(c, 200, out);
        cJSON_Delete(out);
        return st;
    }
    if (id && !strcmp(m, "GET")) {
        struct store_key k;
        int rc = store_key_get(a->st, w->user.id, id, &k, &e);
        if (rc) return api_reply_store(c, rc, &e, "key");
        cJSON *out = key_json(&k);
        int st = api_reply_json(c, 200, out);
        cJSON_Delete(out);
        return st;
    }
    return api_reply_error(c, 405, NULL, "method_not_allowed", "%s is not allowed here", m);
}

static int is_admin(const struct api_who *w) { return !strcmp(w->user.role, "admin"); }

static int route_usage(struct api_server *s, struct mg_connection *c, struct api_who *w) {
    char all[8] = "", from[STORE_DAY_MAX] = "", to[STORE_DAY_MAX] = "";
    api_query(c, "all", all, sizeof all);
    api_query(c, "from", from, sizeof from);
    api_query(c, "to", to, sizeof to);
    int everyone = all[0] && strcmp(all, "0") && strcmp(all, "false");
    if (everyone && !is_admin(w)) return api_reply_error(c, 403, "all", "admin_only", "only admins see everyone's usage");
    struct store_usage *rows = NULL, tot;
    size_t n = 0;
    struct err e = {{0}};
    const char *uid = everyone ? NULL : w->user.id;
    int rc = store_usage_query(s->p.auth->st, uid, from, to, &rows, &n, &e);
    if (!rc) rc = store_usage_total(s->p.auth->st, uid, from, to, &tot, &e);
    if (rc) { free(rows); return api_reply_store(c, rc, &e, "usage"); }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "object", "list");
    cJSON *d = cJSON_AddArrayToObject(out, "data");
    for (size_t i = 0; i < n; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "day", rows[i].day);
        cJSON_AddStringToObject(x, "user_id", rows[i].user_id);
        if (rows[i].key_id[0]) cJSON_AddStringToObject(x, "key_id", rows[i].key_id);
        else cJSON_AddNullToObject(x, "key_id");
        cJSON_AddStringToObject(x, "model", rows[i].model);
        usage_json_into(x, &rows[i]);
        cJSON_AddItemToArray(d, x);
    }
    free(rows);
    cJSON *t = cJSON_AddObjectToObject(out, "total");
    usage_json_into(t, &tot);
    int st = api_reply_json(c, 200, out);
    cJSON_Delete(out);
    return st;
}

/* Admin: GET /api/admin/users, PATCH /api/admin/users/{id} {role, tier, status},
 * POST /api/admin/users/{id}/approve, DELETE /api/admin/users/{id}. */
static int route_admin_users(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *m,
                             const char *rest, const char *body, size_t len) {
    struct auth_config *a = s->p.auth;
    if (!is_admin(w)) return api_reply_error(c, 403, NULL, "admin_only", "only admins manage users");
    struct err e = {{0}};
    if (!*rest && !strcmp(m, "GET")) {
        struct store_user *us = NULL;
        size_t n = 0;
        int rc = store_user_list(a->st, 0, 100000, &us, &n, &e);
        if (rc) return api_reply_store(c, rc, &e, "user");
        cJSON *out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "object", "list");
        cJSON *d = cJSON_AddArrayToObject(out, "data");
        for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(d, api_user_json(&us[i]));
        free(us);
        int st = api_reply_json(c, 200, out);
        cJSON_Delete(out);
        return st;
    }
    if (*rest != '/') return api_reply_error(c, 404, NULL, "unknown_url", "unknown route %s /api/admin/users%s", m, rest);
    char id[STORE_ID_MAX];
    const char *slash = strchr(rest + 1, '/');
    size_t idn = slash ? (size_t)(slash - rest - 1) : strlen(rest + 1);
    if (!idn || idn >= sizeof id) return api_reply_error(c, 404, NULL, "not_found", "no such user");
    memcpy(id, rest + 1, idn);
    id[idn] = 0;
    struct store_user u;
    int rc = store_user_get(a->st, id, &u, &e);
    if (rc) return api_reply_store(c, rc, &e, "user");
    unsigned fields = 0;
    if (slash && !strcmp(slash, "/approve") && !strcmp(m, "POST")) {
        snprintf(u.status, sizeof u.status, "active");
        fields = STORE_USER_STATUS;
    } else if (!slash && !strcmp(m, "DELETE")) {
        if (!strcmp(u.id, w->user.id)) return api_reply_error(c, 400, NULL, "invalid_value", "use DELETE /api/me to delete yourself");
        rc = store_user_delete(a->st, id, &e);
        if (rc) return api_reply_store(c, rc, &e, "user");
        cJSON *out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "id", id);
        cJSON_AddBoolToObject(out, "deleted", 1);
        int st = api_reply_json(c, 200, out);
        cJSON_Delete(out);
        return st;
    } else if (!slash && !strcmp(m, "PATCH")) {
        int status = 0, bad = 0;
        cJSON *j = api_json_object(c, body, len, &status);
        if (!j) return status;
        const char *role = api_json_str(c, j, "role", &bad), *tier = api_json_str(c, j, "tier", &bad),
                   *ust = api_json_str(c, j, "status", &bad), *name = api_json_str(c, j, "name", &bad);
        if (bad) { cJSON_Delete(j); return 400; }
        if (role && strcmp(role, "admin") && strcmp(role, "trainer") && strcmp(role, "user")) bad = 1;
        if (ust && strcmp(ust, "active") && strcmp(ust, "pending") && strcmp(ust, "disabled")) bad = 2;
        if (tier && !auth_tier_exists(&a->tiers, tier)) bad = 3;
        if (bad) {
            cJSON_Delete(j);
            return api_reply_error(c, 400, bad == 1 ? "role" : bad == 2 ? "status" : "tier", "invalid_value",
                                   bad == 1 ? "'role' must be admin, trainer or user"
                                   : bad == 2 ? "'status' must be active, pending or disabled"
                                              : "'tier' is not one of the configured tiers");
        }
        if (role) { snprintf(u.role, sizeof u.role, "%s", role); fields |= STORE_USER_ROLE; }
        if (tier) { snprintf(u.tier, sizeof u.tier, "%s", tier); fields |= STORE_USER_TIER; }
        if (ust) { snprintf(u.status, sizeof u.status, "%s", ust); fields |= STORE_USER_STATUS; }
        if (name) { snprintf(u.name, sizeof u.name, "%s", name); fields |= STORE_USER_NAME; }
        cJSON_Delete(j);
    } else return api_reply_error(c, 404, NULL, "unknown_url", "unknown route %s /api/admin/users%s", m, rest);
    if (fields && (rc = store_user_update(a->st, &u, fields, &e))) return api_reply_store(c, rc, &e, "user");
    if (fields & STORE_USER_STATUS && strcmp(u.status, "active")) store_session_delete_user(a->st, u.id, &e);
    cJSON *out = api_user_json(&u);
    int st = api_reply_json(c, 200, out);
    cJSON_Delete(out);
    return st;
}

int route_conversations(struct api_server *s, struct mg_connection *c, struct api_who *w, const char *m,
                        const char *rest, const char *body, size_t len);

int route_api(struct api_server *s, struct mg_connection *c, const char *m, const char *path, const char *body,
              size_t len) {
    if (!s->p.auth) return api_reply_error(c, 404, NULL, "unknown_url", "accounts are off on this server");
    const char *p = path + 4; /* after "/api" */
    int post = !strcmp(m, "POST"), get = !strcmp(m, "GET") || !strcmp(m, "HEAD");
    if (!strcmp(p, "/auth/signup")) return post ? route_signup(s, c, body, len) : api_reply_error(c, 405, NULL, "method_not_allowed", "use POST");
    if (!strcmp(p, "/auth/login")) return post ? route_login(s, c, body, len) : api_reply_error(c, 405, NULL, "method_not_allowed", "use POST");
    if (!strncmp(p, "/shared/", 8)) return route_shared(s, c, get ? "GET" : m, p + 8); /* share links: no login */
    struct api_who w;
    int st = api_who_resolve(s, c, 1, !get, &w);
    if (st) return st;
    if (!strcmp(p, "/auth/logout")) return post ? route_logout(s, c, &w) : api_reply_error(c, 405, NULL, "method_not_allowed", "use POST");
    if (!strcmp(p, "/tools")) return route_tools(s, c, get ? "GET" : m);
    if (!strcmp(p, "/me")) {
        if (get) return route_me(s, c, &w);
        if (!strcmp(m, "DELETE")) return route_delete_me(s, c, &w);
        if (!strcmp(m, "PATCH")) return route_me_patch(s, c, &w, body, len);
        return api_reply_error(c, 405, NULL, "method_not_allowed", "use GET, PATCH or DELETE");
    }
    if (!strcmp(p, "/export")) return get ? route_export(s, c, &w) : api_reply_error(c, 405, NULL, "method_not_allowed", "use GET");
    if (!strcmp(p, "/usage")) return get ? route_usage(s, c, &w) : api_reply_error(c, 405, NULL, "method_not_allowed", "use GET");
    if (!strcmp(p, "/keys")) return route_keys(s, c, &w, get ? "GET" : m, NULL, body, len);
    if (!strncmp(p, "/keys/", 6) && p[6] && !strchr(p + 6, '/')) return route_keys(s, c, &w, get ? "GET" : m, p + 6, body, len);
    if (!strncmp(p, "/admin/users", 12)) return route_admin_users(s, c, &w, get ? "GET" : m, p + 12, body, len);
    if (!strcmp(p, "/settings")) return route_settings(s, c, &w, get ? "GET" : m, body, len);
    if (!strcmp(p, "/admin/settings")) return route_admin_settings(s, c, &w, get ? "GET" : m, body, len);
    if (!strncmp(p, "/admin/moderation/", 18)) return route_admin_moderation(s, c, &w, get ? "GET" : m, p + 17, body, len);
    if (!strcmp(p, "/feedback")) return route_feedback_list(s, c, &w, get ? "GET" : m);
    if (!strcmp(p, "/memories")) return route_memories(s, c, &w, get ? "GET" : m, NULL, body, len);
    if (!strncmp(p, "/memories/", 10) && p[10] && !strchr(p + 10, '/'))
        return route_memories(s, c, &w, get ? "GET" : m, p + 10, body, len);
    if (!strncmp(p, "/conversations/", 15) && (st = route_conversation_extra(s, c, &w, get ? "GET" : m, p + 14, body, len)))
        return st;
    if (!strncmp(p, "/conversations", 14) && (!p[14] || p[14] == '/'))
        return route_conversations(s, c, &w, get ? "GET" : m, p + 14, body, len);
    if (!strncmp(p, "/assistants", 11) && (!p[11] || p[11] == '/'))
        return route_assistants(s, c, &w, get ? "GET" : m, p + 11, body, len);
    if (!strncmp(p, "/store", 6) && (!p[6] || p[6] == '/')) return route_store(s, c, &w, get ? "GET" : m, p + 6);
    if ((st = route_trainer(s, c, &w, get ? "GET" : m, p, body, len))) return st;
    return api_reply_error(c, 404, NULL, "unknown_url", "unknown route %s %s", m, path);
}
