/* Accounts, sessions, keys and limits over storage; see accounts.h. */
#include "auth/accounts.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"

static int refuse(struct auth_refusal *r, int status, const char *code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int refuse(struct auth_refusal *r, int status, const char *code, const char *param, const char *fmt, ...) {
    if (!r) return status;
    memset(r, 0, sizeof *r);
    r->status = status;
    snprintf(r->code, sizeof r->code, "%s", code ? code : "");
    snprintf(r->param, sizeof r->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    return status;
}

static int storage_failed(struct auth_refusal *r, const struct err *e) {
    log_error("auth: storage: %s", e->msg);
    return refuse(r, 500, "storage_error", NULL, "the database could not be reached: %s", e->msg);
}

int auth_config_init(struct auth_config *c, struct store *st, struct err *e) {
    memset(c, 0, sizeof *c);
    c->st = st;
    c->signup = AUTH_SIGNUP_OPEN;
    c->session_ttl_ms = 30LL * 86400 * 1000;
    c->login_max_failures = 5;
    c->login_max_failures_addr = 50;
    c->login_window_ms = 15LL * 60 * 1000;
    if (auth_init(e)) return -1;
    return auth_tiers_default(&c->tiers, e);
}

void auth_config_free(struct auth_config *c) { auth_tiers_free(&c->tiers); }

int auth_signup_parse(const char *v) {
    if (!strcmp(v, "open")) return AUTH_SIGNUP_OPEN;
    if (!strcmp(v, "approval")) return AUTH_SIGNUP_APPROVAL;
    if (!strcmp(v, "closed")) return AUTH_SIGNUP_CLOSED;
    return -1;
}

/* name@domain with a dot-free-or-not domain, no spaces or control characters. */
static int email_ok(const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n < 3 || n >= STORE_EMAIL_MAX) return 0;
    const char *at = strchr(s, '@');
    if (!at || at == s || !at[1] || strchr(at + 1, '@')) return 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '"' || *p == '<' || *p == '>') return 0;
    return 1;
}

int auth_signup_user(struct auth_config *c, const char *email, const char *password, const char *name,
                     struct store_user *out, struct auth_refusal *r) {
    struct err e = {{0}};
    if (c->signup == AUTH_SIGNUP_CLOSED) {
        int64_t n = 0;
        if (store_user_count(c->st, &n, &e)) return storage_failed(r, &e);
        if (n > 0) return refuse(r, 403, "signup_closed", NULL, "sign-up is closed on this server; ask an admin for an account");
    }
    if (!email_ok(email)) return refuse(r, 400, "invalid_value", "email", "'email' must be an address like name@example.com");
    if (auth_password_acceptable(password, &e)) return refuse(r, 400, "invalid_value", "password", "%s", e.msg);
    if (name && strlen(name) >= STORE_NAME_MAX)
        return refuse(r, 400, "invalid_value", "name", "'name' is longer than %d bytes", STORE_NAME_MAX - 1);
    struct store_user u;
    memset(&u, 0, sizeof u);
    snprintf(u.email, sizeof u.email, "%s", email);
    snprintf(u.name, sizeof u.name, "%s", name ? name : "");
    snprintf(u.tier, sizeof u.tier, "%s", c->tiers.default_tier);
    snprintf(u.role, sizeof u.role, "user");
    snprintf(u.status, sizeof u.status, "%s", c->signup == AUTH_SIGNUP_APPROVAL ? "pending" : "active");
    if (auth_password_hash(password, u.password_hash, &e)) return refuse(r, 500, "server_error", NULL, "%s", e.msg);
    int rc = store_user_create(c->st, &u, STORE_FIRST_IS_ADMIN, out, &e);
    if (rc == STORE_CONFLICT) return refuse(r, 409, "email_taken", "email", "an account with this email exists already");
    if (rc == STORE_INVALID) return refuse(r, 400, "invalid_value", NULL, "%s", e.msg);
    if (rc) return storage_failed(r, &e);
    if (out && !strcmp(out->role, "admin") && strcmp(out->status, "active")) {
        /* the first account (the admin) never waits for an approval nobody could give */
        snprintf(out->status, sizeof out->status, "active");
        if (store_user_update(c->st, out, STORE_USER_STATUS, &e)) return storage_failed(r, &e);
    }
    return 0;
}

static void lower_copy(char *dst, size_t cap, const char *src) {
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++) dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = 0;
}

int auth_login(struct auth_config *c, const char *email, const char *password, const char *addr, char *token,
               struct store_user *out, struct auth_refusal *r) {
    struct err e = {{0}};
    if (!email || !*email) return refuse(r, 400, "invalid_value", "email", "'email' is required");
    if (!password) return refuse(r, 400, "invalid_value", "password", "'password' is required");
    char subj_acct[STORE_EMAIL_MAX + 8], subj_addr[80], lo[STORE_EMAIL_MAX];
    lower_copy(lo, sizeof lo, email);
    snprintf(subj_acct, sizeof subj_acct, "login:%s", lo);
    snprintf(subj_addr, sizeof subj_addr, "ip:%s", addr ? addr : "?");
    int64_t now = store_now_ms();
    struct store_limit la, lb;
    /* Every attempt on the account counts (one atomic hit: parallel guesses cannot slip
     * past the limit); a good login forgets them. The address counts failures only, so
     * that many people behind one address can still log in. */
    if (store_limit_hit(c->st, subj_addr, "login_fail", now, c->login_window_ms, -1, 0, &lb, &e))
        return storage_failed(r, &e);
    if (lb.used >= c->login_max_failures_addr) {
        int64_t s = (lb.reset - now + 999) / 1000;
        refuse(r, 429, "too_many_login_attempts", NULL,
               "too many failed logins from this address; try again in %lld seconds", (long long)s);
        r->retry_after_s = s > 0 ? s : 1;
        return 429;
    }
    if (store_limit_hit(c->st, subj_acct, "login", now, c->login_window_ms, c->login_max_failures, 1, &la, &e))
        return storage_failed(r, &e);
    if (!la.allowed) {
        int64_t s = (la.reset - now + 999) / 1000;
        refuse(r, 429, "too_many_login_attempts", NULL,
               "too many failed logins for this account; try again in %lld seconds", (long long)s);
        r->retry_after_s = s > 0 ? s : 1;
        return 429;
    }
    struct store_user u;
    int rc = store_user_get_by_email(c->st, email, &u, &e);
    if (rc && rc != STORE_NOTFOUND) return storage_failed(r, &e);
    int ok = rc == 0 && u.password_hash[0] ? auth_password_verify(u.password_hash, password) : 0;
    if (rc == STORE_NOTFOUND) auth_password_burn(password);
    if (!ok) {
        if (store_limit_hit(c->st, subj_addr, "login_fail", now, c->login_window_ms, -1, 1, &lb, &e))
            return storage_failed(r, &e);
        return refuse(r, 401, "invalid_credentials", NULL, "the email or password is wrong");
    }
    (void)store_limit_reset(c->st, subj_acct, "login", &e);
    if (!strcmp(u.status, "pending"))
        return refuse(r, 403, "account_pending", NULL, "this account waits for an admin's approval");
    if (strcmp(u.status, "active")) return refuse(r, 403, "account_disabled", NULL, "this account is disabled");
    if (auth_session_start(c, &u, token, r)) return r->status;
    if (out) *out = u;
    return 0;
}

int auth_session_start(struct auth_config *c, const struct store_user *u, char *token, struct auth_refusal *r) {
    struct err e = {{0}};
    int64_t now = store_now_ms();
    struct store_session s;
    memset(&s, 0, sizeof s);
    auth_token_new(token);
    auth_token_hash(token, s.token_hash);
    snprintf(s.user_id, sizeof s.user_id, "%s", u->id);
    s.created = s.last_seen = now;
    s.expires = now + c->session_ttl_ms;
    if (store_session_create(c->st, &s, &e)) return storage_failed(r, &e);
    return 0;
}

int auth_session_user(struct auth_config *c, const char *token, struct store_user *out, struct auth_refusal *r) {
    struct err e = {{0}};
    char h[65];
    auth_token_hash(token, h);
    int64_t now = store_now_ms();
    struct store_session s;
    int rc = store_session_get(c->st, h, now, &s, &e);
    if (rc == STORE_NOTFOUND) return refuse(r, 401, "session_expired", NULL, "not logged in, or the session has expired");
    if (rc) return storage_failed(r, &e);
    rc = store_user_get(c->st, s.user_id, out, &e);
    if (rc == STORE_NOTFOUND) return refuse(r, 401, "session_expired", NULL, "not logged in, or the session has expired");
    if (rc) return storage_failed(r, &e);
    if (strcmp(out->status, "active")) return refuse(r, 401, "account_disabled", NULL, "this account is not active");
    /* sliding expiry, written at most once a minute per session; never shortened (a
     * server started with a shorter --session-ttl leaves older logins their time) */
    if (now - s.last_seen > 60000) {
        int64_t until = now + c->session_ttl_ms;
        (void)store_session_touch(c->st, h, now, until > s.expires ? until : 0, &e);
    }
    return 0;
}

int auth_logout(struct auth_config *c, const char *token) {
    char h[65];
    auth_token_hash(token, h);
    struct err e = {{0}};
    return store_session_delete(c->st, h, &e);
}

int auth_key_user(struct auth_config *c, const char *key, struct store_user *user, struct store_key *k,
                  struct auth_refusal *r) {
    struct err e = {{0}};
    char h[65];
    auth_token_hash(key, h);
    int rc = store_key_get_by_hash(c->st, h, k, &e);
    if (rc == STORE_NOTFOUND) return refuse(r, 401, "invalid_api_key", NULL, "the API key is not valid");
    if (rc) return storage_failed(r, &e);
    if (k->revoked) return refuse(r, 401, "invalid_api_key", NULL, "the API key has been revoked");
    rc = store_user_get(c->st, k->user_id, user, &e);
    if (rc == STORE_NOTFOUND) return refuse(r, 401, "invalid_api_key", NULL, "the API key is not valid");
    if (rc) return storage_failed(r, &e);
    if (strcmp(user->status, "active")) return refuse(r, 401, "account_disabled", NULL, "the key's account is not active");
    int64_t now = store_now_ms();
    if (now - k->last_used > 60000) (void)store_key_touch(c->st, k->id, now, &e);
    return 0;
}

int auth_key_create(struct auth_config *c, const char *user_id, const char *name, const char *models, char *secret,
                    struct store_key *out, struct auth_refusal *r) {
    struct err e = {{0}};
    if (name && strlen(name) >= STORE_NAME_MAX) return refuse(r, 400, "invalid_value", "name", "'name' is too long");
    if (models && strlen(models) >= STORE_MODELS_MAX) return refuse(r, 400, "invalid_value", "models", "'models' is too long");
    struct store_key k;
    memset(&k, 0, sizeof k);
    snprintf(k.user_id, sizeof k.user_id, "%s", user_id);
    snprintf(k.name, sizeof k.name, "%s", name ? name : "");
    snprintf(k.models, sizeof k.models, "%s", models ? models : "");
    auth_key_new(secret);
    snprintf(k.prefix, sizeof k.prefix, "%.*s", AUTH_KEY_PREFIX_CHARS, secret);
    auth_token_hash(secret, k.key_hash);
    int rc = store_key_create(c->st, &k, out, &e);
    if (rc == STORE_INVALID) return refuse(r, 400, "invalid_value", NULL, "%s", e.msg);
    if (rc) return storage_failed(r, &e);
    return 0;
}

int auth_key_allows(const struct store_key *k, const char *model) {
    if (!k->models[0]) return 1;
    char list[STORE_MODELS_MAX];
    snprintf(list, sizeof list, "%s", k->models);
    char *save = NULL;
    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ') t++;
        size_t n = strlen(t);
        while (n && t[n - 1] == ' ') t[--n] = 0;
        if (*t && model && !fnmatch(t, model, FNM_CASEFOLD)) return 1;
    }
    return 0;
}

int auth_local_user(struct auth_config *c, struct store_user *out, struct err *e) {
    const char *email = "local@localhost";
    int rc = store_user_get_by_email(c->st, email, out, e);
    if (rc == STORE_NOTFOUND) {
        struct store_user u;
        memset(&u, 0, sizeof u);
        snprintf(u.email, sizeof u.email, "%s", email);
        snprintf(u.name, sizeof u.name, "local");
        snprintf(u.role, sizeof u.role, "admin");
        snprintf(u.tier, sizeof u.tier, "%s", c->tiers.default_tier);
        snprintf(u.status, sizeof u.status, "active");
        rc = store_user_create(c->st, &u, 0, out, e);
        if (rc == STORE_CONFLICT) rc = store_user_get_by_email(c->st, email, out, e); /* another replica won */
    }
    if (rc) return -1;
    return 0;
}

static int limited(struct auth_refusal *r, struct auth_limit *l, int64_t reset_ms, const char *what, const char *msg) {
    l->limited = 1;
    snprintf(l->what, sizeof l->what, "%s", what);
    int64_t s = (reset_ms + 999) / 1000;
    if (s < 1) s = 1;
    refuse(r, 429, !strcmp(what, "tokens") ? "rate_limit_exceeded" : !strcmp(what, "messages") ? "message_limit_reached"
                                                                                              : "rate_limit_exceeded",
           NULL, "%s; it resets in %lld seconds", msg, (long long)s);
    r->retry_after_s = s;
    return 429;
}

int auth_limit_message(struct auth_config *c, const struct store_user *u, const char *model, struct auth_limit *l,
                       struct auth_refusal *r) {
    memset(l, 0, sizeof *l);
    const struct auth_tier *t = auth_tier_get(&c->tiers, u->tier);
    int idx = auth_tier_rule_index(&c->tiers, t, model);
    if (idx < 0 || t->rules[idx].limit < 0) return 0;
    const struct auth_msg_rule *rule = &t->rules[idx];
    char bucket[STORE_TIER_MAX + 32];
    snprintf(bucket, sizeof bucket, "msg:%s:%d", t->name, idx);
    struct store_limit sl;
    struct err e = {{0}};
    int64_t now = store_now_ms();
    if (store_limit_hit(c->st, u->id, bucket, now, rule->window_s * 1000, rule->limit, 1, &sl, &e))
        return storage_failed(r, &e);
    l->has_req = 1;
    l->req_limit = rule->limit;
    l->req_remaining = rule->limit - sl.used > 0 ? rule->limit - sl.used : 0;
    l->req_reset_ms = sl.reset > now ? sl.reset - now : 0;
    l->window_s = rule->window_s;
    if (!sl.allowed) {
        l->req_remaining = 0;
        char msg[200];
        snprintf(msg, sizeof msg, "you have reached your tier's limit of %lld messages per %lld seconds for this model",
                 (long long)rule->limit, (long long)rule->window_s);
        return limited(r, l, l->req_reset_ms, "messages", msg);
    }
    return 0;
}

int auth_limit_api(struct auth_config *c, const struct store_user *u, struct auth_limit *l, struct auth_refusal *r) {
    memset(l, 0, sizeof *l);
    const struct auth_tier *t = auth_tier_get(&c->tiers, u->tier);
    struct err e = {{0}};
    int64_t now = store_now_ms();
    struct store_limit sl;
    if (t->tpm >= 0) {
        if (store_limit_hit(c->st, u->id, "api:tok", now, 60000, -1, 0, &sl, &e)) return storage_failed(r, &e);
        l->has_tok = 1;
        l->tok_limit = t->tpm;
        l->tok_remaining = t->tpm - sl.used > 0 ? t->tpm - sl.used : 0;
        l->tok_reset_ms = sl.reset > now ? sl.reset - now : 0;
        if (sl.used >= t->tpm) {
            char msg[200];
            snprintf(msg, sizeof msg, "your tier's limit of %lld tokens per minute is used up", (long long)t->tpm);
            return limited(r, l, l->tok_reset_ms, "tokens", msg);
        }
    }
    if (t->rpm >= 0) {
        if (store_limit_hit(c->st, u->id, "api:req", now, 60000, t->rpm, 1, &sl, &e)) return storage_failed(r, &e);
        l->has_req = 1;
        l->req_limit = t->rpm;
        l->req_remaining = t->rpm - sl.used > 0 ? t->rpm - sl.used : 0;
        l->req_reset_ms = sl.reset > now ? sl.reset - now : 0;
        l->window_s = 60;
        if (!sl.allowed) {
            l->req_remaining = 0;
            char msg[200];
            snprintf(msg, sizeof msg, "your tier's limit of %lld requests per minute is reached", (long long)t->rpm);
            return limited(r, l, l->req_reset_ms, "requests", msg);
        }
    }
    return 0;
}

void auth_limit_api_tokens(struct auth_config *c, const struct store_user *u, int64_t tokens) {
    const struct auth_tier *t = auth_tier_get(&c->tiers, u->tier);
    if (t->tpm < 0 || tokens <= 0) return;
    struct store_limit sl;
    struct err e = {{0}};
    if (store_limit_hit(c->st, u->id, "api:tok", store_now_ms(), 60000, -1, tokens, &sl, &e))
        log_error("auth: counting tokens: %s", e.msg);
}

/* OpenAI's reset format: "1s", "6m0s", "1h2m3s" (fractions of a second as "ms"). */
static void reset_text(int64_t ms, char *out, size_t cap) {
    if (ms < 1000) { snprintf(out, cap, "%lldms", (long long)ms); return; }
    int64_t s = (ms + 999) / 1000, h = s / 3600, m = s % 3600 / 60;
    s %= 60;
    if (h) snprintf(out, cap, "%lldh%lldm%llds", (long long)h, (long long)m, (long long)s);
    else if (m) snprintf(out, cap, "%lldm%llds", (long long)m, (long long)s);
    else snprintf(out, cap, "%llds", (long long)s);
}

void auth_limit_headers(const struct auth_limit *l, char *out, size_t cap) {
    size_t n = 0;
    out[0] = 0;
    char rs[32];
    if (l->has_req) {
        reset_text(l->req_reset_ms, rs, sizeof rs);
        n += (size_t)snprintf(out + n, n < cap ? cap - n : 0,
                              "x-ratelimit-limit-requests: %lld\r\nx-ratelimit-remaining-requests: %lld\r\n"
                              "x-ratelimit-reset-requests: %s\r\n",
                              (long long)l->req_limit, (long long)l->req_remaining, rs);
    }
    if (l->has_tok && n < cap) {
        reset_text(l->tok_reset_ms, rs, sizeof rs);
        n += (size_t)snprintf(out + n, n < cap ? cap - n : 0,
                              "x-ratelimit-limit-tokens: %lld\r\nx-ratelimit-remaining-tokens: %lld\r\n"
                              "x-ratelimit-reset-tokens: %s\r\n",
                              (long long)l->tok_limit, (long long)l->tok_remaining, rs);
    }
    if (l->limited && n < cap) {
        int64_t ms = !strcmp(l->what, "tokens") ? l->tok_reset_ms : l->req_reset_ms;
        snprintf(out + n, cap - n, "Retry-After: %lld\r\n", (long long)((ms + 999) / 1000 > 0 ? (ms + 999) / 1000 : 1));
    }
}
