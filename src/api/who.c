/* The request's principal; see who.h. */
#include "api/who.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/reply.h"

static _Thread_local struct api_who *current;

struct api_who *api_who(void) { return current; }
void api_who_set(struct api_who *w) { current = w; }

int api_who_has_user(const struct api_who *w) {
    return w && (w->kind == API_WHO_SESSION || w->kind == API_WHO_KEY || w->kind == API_WHO_LOCAL);
}

const char *api_client_addr(struct mg_connection *c) {
    const struct mg_request_info *ri = mg_get_request_info(c);
    return ri && ri->remote_addr[0] ? ri->remote_addr : "?";
}

int api_reply_refusal(struct mg_connection *c, const struct auth_refusal *r) {
    char h[64] = "";
    if (r->status == 429) snprintf(h, sizeof h, "Retry-After: %lld\r\n", (long long)(r->retry_after_s > 0 ? r->retry_after_s : 1));
    return api_reply_error_headers(c, r->status, r->param[0] ? r->param : NULL, r->code[0] ? r->code : NULL,
                                   h[0] ? h : NULL, "%s", r->msg);
}

static int origin_refused(struct mg_connection *c) {
    return api_reply_error(c, 403, NULL, "csrf_origin_mismatch",
                           "a request that changes data with a login cookie must come from this server's own page "
                           "(its Origin or Referer header must name this host)");
}

int api_who_v1_gate(struct api_server *s, struct mg_connection *c, const struct api_who *w) {
    if (!s->p.auth || w->kind != API_WHO_KEY) return 0;
    if (!auth_key_allows(&w->key, s->model_id) && !(s->embed_id && auth_key_allows(&w->key, s->embed_id)))
        return api_reply_error(c, 403, "model", "model_not_found", "this API key does not have access to model '%s'",
                               s->model_id);
    struct auth_limit l;
    struct auth_refusal r;
    if (auth_limit_api(s->p.auth, &w->user, &l, &r)) {
        char h[512];
        auth_limit_headers(&l, h, sizeof h);
        if (r.status == 429) metrics_count_tier(&s->metrics, w->user.tier, 1, 0, 0);
        return api_reply_error_headers(c, r.status, NULL, r.code, r.status == 429 ? h : NULL, "%s", r.msg);
    }
    return 0;
}

int api_who_socket_ok(struct api_server *s, const struct mg_connection *c, const char *token) {
    struct api_who w;
    return api_who_socket(s, c, token, &w);
}

int api_who_socket(struct api_server *s, const struct mg_connection *c, const char *token, struct api_who *w) {
    struct auth_config *a = s->p.auth;
    struct auth_refusal r;
    memset(w, 0, sizeof *w);
    if (token) {
        char bearer[300];
        snprintf(bearer, sizeof bearer, "Bearer %s", token);
        if (s->keys.n && api_keys_check(&s->keys, bearer)) { w->kind = API_WHO_STATIC; return 1; }
        if (!auth_key_looks_like(token) || auth_key_user(a, token, &w->user, &w->key, &r)) return 0;
        w->kind = API_WHO_KEY;
        return 1;
    }
    char tok[64];
    if (!auth_cookie_get(mg_get_header(c, "Cookie"), AUTH_COOKIE, tok, sizeof tok)) return 0;
    if (auth_session_user(a, tok, &w->user, &r) != 0 ||
        !auth_origin_matches(mg_get_header(c, "Origin"), NULL, mg_get_header(c, "Host")))
        return 0;
    w->kind = API_WHO_SESSION;
    return 1;
}

int api_who_resolve(struct api_server *s, struct mg_connection *c, int need_user, int write, struct api_who *w) {
    memset(w, 0, sizeof *w);
    struct auth_config *a = s->p.auth;
    const char *authz = mg_get_header(c, "Authorization"), *xkey = mg_get_header(c, "x-api-key");
    char as_bearer[300];
    if (!authz && xkey && strlen(xkey) < sizeof as_bearer - 8) {  /* Anthropic's clients send "x-api-key: KEY" */
        snprintf(as_bearer, sizeof as_bearer, "Bearer %s", xkey);
        authz = as_bearer;
    }
    char bearer[256];
    int has_bearer = auth_bearer_get(authz, bearer, sizeof bearer);
    if (!a) { /* accounts off: the static list, as before */
        if (need_user) return api_reply_error(c, 404, NULL, "unknown_url", "accounts are off on this server");
        if (!api_keys_check(&s->keys, authz))
            return api_reply_error(c, 401, NULL, "invalid_api_key",
                                   authz ? "the API key is not valid"
                                         : "an API key is required: send the header 'Authorization: Bearer YOUR_KEY'");
        w->kind = s->keys.n ? API_WHO_STATIC : API_WHO_OPEN;
        return 0;
    }
    if (a->no_auth) {
        /* a private laptop: static keys, when given, guard everything; a foreign page must not write */
        if (!api_keys_check(&s->keys, authz))
            return api_reply_error(c, 401, NULL, "invalid_api_key",
                                   authz ? "the API key is not valid"
                                         : "an API key is required: send the header 'Authorization: Bearer YOUR_KEY'");
        const char *origin = mg_get_header(c, "Origin");
        if (write && origin && !auth_origin_matches(origin, NULL, mg_get_header(c, "Host"))) return origin_refused(c);
        struct err e = {{0}};
        if (auth_local_user(a, &w->user, &e))
            return api_reply_error(c, 500, NULL, "storage_error", "the database could not be reached: %s", e.msg);
        w->kind = API_WHO_LOCAL;
        return 0;
    }
    struct auth_refusal r;
    if (has_bearer) {
        if (s->keys.n && api_keys_check(&s->keys, authz) && !auth_key_looks_like(bearer)) {
            if (need_user)
                return api_reply_error(c, 401, NULL, "invalid_api_key",
                                       "a server-wide key has no account; use a user's key (sk-omni-…) or log in");
            w->kind = API_WHO_STATIC;
            return 0;
        }
        if (!auth_key_looks_like(bearer) || auth_key_user(a, bearer, &w->user, &w->key, &r)) {
            if (!auth_key_looks_like(bearer))
                return api_reply_error(c, 401, NULL, "invalid_api_key", "the API key is not valid");
            return api_reply_refusal(c, &r);
        }
        w->kind = API_WHO_KEY;
        return 0;
    }
    char tok[64];
    if (auth_cookie_get(mg_get_header(c, "Cookie"), AUTH_COOKIE, tok, sizeof tok)) {
        if (auth_session_user(a, tok, &w->user, &r)) return api_reply_refusal(c, &r);
        if (write && !auth_origin_matches(mg_get_header(c, "Origin"), mg_get_header(c, "Referer"),
                                          mg_get_header(c, "Host")))
            return origin_refused(c);
        w->kind = API_WHO_SESSION;
        snprintf(w->token, sizeof w->token, "%s", tok);
        return 0;
    }
    return api_reply_error(c, 401, NULL, need_user ? "not_logged_in" : "invalid_api_key",
                           need_user ? "log in first (POST /api/auth/login) or send 'Authorization: Bearer sk-omni-…'"
                                     : "an API key is required: send the header 'Authorization: Bearer YOUR_KEY' "
                                       "(or log in through the app)");
}

cJSON *api_json_object(struct mg_connection *c, const char *body, size_t len, int *status) {
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t')) i++;
    if (i == len) return cJSON_CreateObject();
    cJSON *j = cJSON_ParseWithLength(body, len);
    if (!j) { *status = api_reply_error(c, 400, NULL, "invalid_json", "the request body is not valid JSON"); return NULL; }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        *status = api_reply_error(c, 400, NULL, "invalid_json", "the request body must be a JSON object");
        return NULL;
    }
    return j;
}

const char *api_json_str(struct mg_connection *c, const cJSON *o, const char *name, int *bad) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v || cJSON_IsNull(v)) return NULL;
    if (cJSON_IsString(v)) return v->valuestring;
    if (!*bad) api_reply_error(c, 400, name, "invalid_type", "'%s' must be a string", name);
    *bad = 1;
    return NULL;
}

int api_query(struct mg_connection *c, const char *name, char *out, size_t cap) {
    const struct mg_request_info *ri = mg_get_request_info(c);
    if (!ri->query_string) return 0;
    int n = mg_get_var(ri->query_string, strlen(ri->query_string), name, out, cap);
    return n >= 0;
}

int api_reply_store(struct mg_connection *c, int rc, const struct err *e, const char *what) {
    if (rc == STORE_NOTFOUND) return api_reply_error(c, 404, NULL, "not_found", "no such %s", what);
    if (rc == STORE_INVALID) return api_reply_error(c, 400, NULL, "invalid_value", "%s", e->msg);
    if (rc == STORE_CONFLICT) return api_reply_error(c, 409, NULL, "conflict", "%s", e->msg);
    return api_reply_error(c, 500, NULL, "storage_error", "the database could not be reached: %s", e->msg);
}

cJSON *api_user_json(const struct store_user *u) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "id", u->id);
    cJSON_AddStringToObject(o, "email", u->email);
    cJSON_AddStringToObject(o, "name", u->name);
    cJSON_AddStringToObject(o, "role", u->role);
    cJSON_AddStringToObject(o, "tier", u->tier);
    cJSON_AddStringToObject(o, "status", u->status);
    cJSON_AddNumberToObject(o, "created", (double)u->created);
    return o;
}
