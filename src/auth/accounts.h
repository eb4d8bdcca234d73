/* Accounts over storage: sign-up (the first account is the admin), login with lockout
 * after repeated failures (per account and per address, counted in the database so that
 * replicas share the count), sessions, per-user API keys, the implicit local user of
 * --no-auth, and the tier limits (app messages per rolling window; requests and tokens
 * per minute for keys) counted atomically through storage. The HTTP handlers call these
 * and write what they return; every refusal comes with the status, code and message to
 * answer with. */
#ifndef OMNI_AUTH_ACCOUNTS_H
#define OMNI_AUTH_ACCOUNTS_H
#include <stdint.h>

#include "auth/secret.h"
#include "auth/tiers.h"
#include "storage/storage.h"

enum auth_signup { AUTH_SIGNUP_OPEN, AUTH_SIGNUP_APPROVAL, AUTH_SIGNUP_CLOSED };

struct auth_config {
    struct store *st;              /* borrowed; outlives this */
    struct auth_tiers tiers;       /* owned (auth_config_free) */
    enum auth_signup signup;
    int no_auth;                   /* one implicit local user, no logins */
    int64_t session_ttl_ms;        /* default 30 days; sliding (renewed on use) */
    int secure_cookie;             /* mark the cookie Secure even without our own TLS (a TLS balancer) */
    int login_max_failures;        /* per account within login_window_ms (default 5) */
    int login_max_failures_addr;   /* per client address (default 50) */
    int64_t login_window_ms;       /* default 15 min */
};

/* Defaults as above; tiers built in. */
int auth_config_init(struct auth_config *c, struct store *st, struct err *e);
void auth_config_free(struct auth_config *c);
/* --signup VALUE -> enum, -1 when unknown. */
int auth_signup_parse(const char *v);

/* What a refused call answers: HTTP status, OpenAI-style code and param, a message, and
 * for 429 the seconds until it may be retried. */
struct auth_refusal {
    int status;
    char code[48];
    char param[32];
    char msg[256];
    int64_t retry_after_s;
};

/* Validates and creates an account ("user" on the default tier; "admin" when it is the
 * first; "pending" under approval). 0, or an HTTP status with r filled (400, 403, 409). */
int auth_signup_user(struct auth_config *c, const char *email, const char *password, const char *name,
                     struct store_user *out, struct auth_refusal *r);
/* Checks the password and starts a session: token (AUTH_TOKEN_CHARS + 1 bytes) goes into
 * the cookie, only its hash is stored. 0, or 400/401/403 (pending, disabled)/429 (locked). */
int auth_login(struct auth_config *c, const char *email, const char *password, const char *addr,
               char *token, struct store_user *out, struct auth_refusal *r);
/* Starts a session for an authenticated user (after sign-up): token as for auth_login. */
int auth_session_start(struct auth_config *c, const struct store_user *u, char *token, struct auth_refusal *r);
/* The active user of a session token; 0, or 401. */
int auth_session_user(struct auth_config *c, const char *token, struct store_user *out, struct auth_refusal *r);
int auth_logout(struct auth_config *c, const char *token);
/* The user and key of an "sk-omni-" key; 0, or 401 (unknown, revoked, user not active). */
int auth_key_user(struct auth_config *c, const char *key, struct store_user *user, struct store_key *k,
                  struct auth_refusal *r);
/* Makes a key for the user: the secret (AUTH_KEY_CHARS + 1 bytes) is returned only here.
 * models: comma-separated allowed models ("" all). 0, or 400/500. */
int auth_key_create(struct auth_config *c, const char *user_id, const char *name, const char *models,
                    char *secret, struct store_key *out, struct auth_refusal *r);
/* 1 when the key may use model (every model when the key's list is empty); names are
 * matched as fnmatch patterns, so "qwen3-*" works. */
int auth_key_allows(const struct store_key *k, const char *model);
/* --no-auth's user (created on first use, an admin; replicas racing to create it find the
 * winner's). 0 or -1. (The config is read-only once serving: any thread may call these.) */
int auth_local_user(struct auth_config *c, struct store_user *out, struct err *e);

/* A limit check's outcome, for the x-ratelimit-* headers. */
struct auth_limit {
    int limited;                  /* 1: refused (429) */
    int has_req, has_tok;         /* which of the two families apply */
    int64_t req_limit, req_remaining, req_reset_ms;  /* reset: ms from now until the window frees one */
    int64_t tok_limit, tok_remaining, tok_reset_ms;
    char what[64];                /* "messages" / "requests" / "tokens": what ran out */
    int64_t window_s;
};
/* App (session) request for model: counts one message against the tier's rule for the
 * model when it has one. 0 (allowed, counted; l filled when a rule applies) or 429. */
int auth_limit_message(struct auth_config *c, const struct store_user *u, const char *model, struct auth_limit *l,
                       struct auth_refusal *r);
/* API-key request: one request against requests_per_minute and a look at the tokens of
 * the last minute against tokens_per_minute. 0 (counted) or 429. */
int auth_limit_api(struct auth_config *c, const struct store_user *u, struct auth_limit *l, struct auth_refusal *r);
/* After an API-key request: adds its tokens to the minute's count. */
void auth_limit_api_tokens(struct auth_config *c, const struct store_user *u, int64_t tokens);
/* The x-ratelimit-* and (when limited) Retry-After header lines for l into out. */
void auth_limit_headers(const struct auth_limit *l, char *out, size_t cap);

#endif
