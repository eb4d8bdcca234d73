/* src/auth/accounts.c over a SQLite database in a temporary folder: the first sign-up is
 * the admin, duplicate and malformed sign-ups are refused, login starts a session only
 * its hash of is stored, the lockout after five attempts, keys and their model lists,
 * the tier's message window (the (n+1)-th is refused with the reset time) and OpenAI's
 * x-ratelimit header lines. (The same over PostgreSQL and through HTTP:
 * tests/e2e/test_accounts.mjs.) */
#include <stdlib.h>

#include "test.h"
#include "auth/accounts.h"

static char g_dir[256];
static struct store *g_st;
static struct auth_config g_c;

TEST(signup_first_is_admin) {
    struct store_user u;
    struct auth_refusal r;
    REQUIRE(auth_signup_user(&g_c, "a@x.org", "password-1", "A", &u, &r) == 0, "%s", r.msg);
    CHECK_STR(u.role, "admin");
    CHECK_STR(u.status, "active");
    CHECK(!strncmp(u.password_hash, "$argon2id$", 10));
    REQUIRE(auth_signup_user(&g_c, "b@x.org", "password-2", "B", &u, &r) == 0, "%s", r.msg);
    CHECK_STR(u.role, "user");
    CHECK_STR(u.tier, "free");
    CHECK_EQ_INT(auth_signup_user(&g_c, "B@X.org", "password-3", "", &u, &r), 409);
    CHECK_EQ_INT(auth_signup_user(&g_c, "no-at-sign", "password-3", "", &u, &r), 400);
    CHECK_STR(r.param, "email");
    CHECK_EQ_INT(auth_signup_user(&g_c, "c@x.org", "short", "", &u, &r), 400);
    CHECK_STR(r.param, "password");
    CHECK_EQ_INT(auth_signup_user(&g_c, NULL, NULL, NULL, &u, &r), 400);
    g_c.signup = AUTH_SIGNUP_APPROVAL;
    REQUIRE(auth_signup_user(&g_c, "p@x.org", "password-4", "", &u, &r) == 0, "%s", r.msg);
    CHECK_STR(u.status, "pending");
    char tok[AUTH_TOKEN_CHARS + 1];
    CHECK_EQ_INT(auth_login(&g_c, "p@x.org", "password-4", "1.2.3.4", tok, &u, &r), 403);
    g_c.signup = AUTH_SIGNUP_CLOSED;
    CHECK_EQ_INT(auth_signup_user(&g_c, "q@x.org", "password-5", "", &u, &r), 403);
    g_c.signup = AUTH_SIGNUP_OPEN;
}

TEST(login_session_and_lockout) {
    struct store_user u, v;
    struct auth_refusal r;
    char tok[AUTH_TOKEN_CHARS + 1];
    CHECK_EQ_INT(auth_login(&g_c, "b@x.org", "wrong-pass", "1.2.3.4", tok, &u, &r), 401);
    REQUIRE(auth_login(&g_c, "b@x.org", "password-2", "1.2.3.4", tok, &u, &r) == 0, "%s", r.msg);
    CHECK_EQ_INT(strlen(tok), AUTH_TOKEN_CHARS);
    REQUIRE(auth_session_user(&g_c, tok, &v, &r) == 0, "%s", r.msg);
    CHECK_STR(v.id, u.id);
    /* the database knows only the hash: the token itself is not a session id */
    struct store_session s;
    struct err e = {{0}};
    CHECK(store_session_get(g_st, tok, store_now_ms(), &s, &e) == STORE_NOTFOUND);
    CHECK_EQ_INT(auth_logout(&g_c, tok), 0);
    CHECK_EQ_INT(auth_session_user(&g_c, tok, &v, &r), 401);
    /* five attempts, then locked even with the right password; other accounts unaffected */
    for (int i = 0; i < 5; i++) CHECK_EQ_INT(auth_login(&g_c, "a@x.org", "bad-guess", "5.6.7.8", tok, &u, &r), 401);
    CHECK_EQ_INT(auth_login(&g_c, "a@x.org", "password-1", "5.6.7.8", tok, &u, &r), 429);
    CHECK(r.retry_after_s > 0 && r.retry_after_s <= 15 * 60);
    CHECK_EQ_INT(auth_login(&g_c, "b@x.org", "password-2", "5.6.7.8", tok, &u, &r), 0);
    /* the address: after its limit of failures, every account from it waits */
    g_c.login_max_failures_addr = 6; /* 5 failures from it so far */
    CHECK_EQ_INT(auth_login(&g_c, "nobody@x.org", "bad-guess", "5.6.7.8", tok, &u, &r), 401);
    CHECK_EQ_INT(auth_login(&g_c, "nobody@x.org", "bad-guess", "5.6.7.8", tok, &u, &r), 429);
    CHECK_EQ_INT(auth_login(&g_c, "b@x.org", "password-2", "5.6.7.8", tok, &u, &r), 429);
    CHECK_EQ_INT(auth_login(&g_c, "b@x.org", "password-2", "9.9.9.9", tok, &u, &r), 0);
    g_c.login_max_failures_addr = 50;
}

TEST(keys_and_models) {
    struct store_user b, u;
    struct store_key k, k2;
    struct auth_refusal r;
    struct err e = {{0}};
    REQUIRE(store_user_get_by_email(g_st, "b@x.org", &b, &e) == 0, "%s", e.msg);
    char secret[AUTH_KEY_CHARS + 1];
    REQUIRE(auth_key_create(&g_c, b.id, "k", "qwen3-*, smol", secret, &k, &r) == 0, "%s", r.msg);
    CHECK(auth_key_looks_like(secret));
    CHECK(!strncmp(k.prefix, secret, AUTH_KEY_PREFIX_CHARS) && strlen(k.prefix) == AUTH_KEY_PREFIX_CHARS);
    REQUIRE(auth_key_user(&g_c, secret, &u, &k2, &r) == 0, "%s", r.msg);
    CHECK_STR(u.id, b.id);
    CHECK(auth_key_allows(&k2, "Qwen3-8B") && auth_key_allows(&k2, "smol") && !auth_key_allows(&k2, "smollm2"));
    struct store_key all = k2;
    all.models[0] = 0;
    CHECK(auth_key_allows(&all, "anything"));
    REQUIRE(store_key_revoke(g_st, b.id, k.id, 0, &e) == 0, "%s", e.msg);
    CHECK_EQ_INT(auth_key_user(&g_c, secret, &u, &k2, &r), 401);
    secret[10] ^= 1;
    CHECK_EQ_INT(auth_key_user(&g_c, secret, &u, &k2, &r), 401);
}

TEST(message_window_and_headers) {
    struct auth_tiers t;
    struct err e = {{0}};
    REQUIRE(auth_tiers_parse(&t, "{\"groups\":{\"small\":[\"tiny-*\"]},\"tiers\":{\"free\":{\"messages\":["
                                 "{\"models\":[\"small\"],\"limit\":null},{\"models\":[\"*\"],\"limit\":2,\"window\":\"1h\"}],"
                                 "\"api\":{\"requests_per_minute\":1}}}}",
                             "t", &e) == 0, "%s", e.msg);
    auth_tiers_free(&g_c.tiers);
    g_c.tiers = t;
    struct store_user b;
    REQUIRE(store_user_get_by_email(g_st, "b@x.org", &b, &e) == 0, "%s", e.msg);
    struct auth_limit l;
    struct auth_refusal r;
    char h[512];
    CHECK_EQ_INT(auth_limit_message(&g_c, &b, "big-model", &l, &r), 0);
    CHECK(l.has_req && l.req_limit == 2 && l.req_remaining == 1 && !l.limited);
    auth_limit_headers(&l, h, sizeof h);
    CHECK(strstr(h, "x-ratelimit-limit-requests: 2\r\n") && strstr(h, "x-ratelimit-remaining-requests: 1\r\n"));
    CHECK(strstr(h, "x-ratelimit-reset-requests: 1h0m0s\r\n") || strstr(h, "x-ratelimit-reset-requests: 59m"));
    CHECK(!strstr(h, "Retry-After"));
    CHECK_EQ_INT(auth_limit_message(&g_c, &b, "other-model", &l, &r), 0); /* the same rule: one count */
    CHECK_EQ_INT(l.req_remaining, 0);
    CHECK_EQ_INT(auth_limit_message(&g_c, &b, "big-model", &l, &r), 429);
    CHECK(l.limited && r.retry_after_s > 3500 && r.retry_after_s <= 3600);
    CHECK_STR(r.code, "message_limit_reached");
    auth_limit_headers(&l, h, sizeof h);
    CHECK(strstr(h, "x-ratelimit-remaining-requests: 0\r\n") && strstr(h, "Retry-After: "));
    CHECK_EQ_INT(auth_limit_message(&g_c, &b, "tiny-1", &l, &r), 0); /* the small group: unlimited */
    CHECK(!l.has_req);
    CHECK_EQ_INT(auth_limit_api(&g_c, &b, &l, &r), 0);
    CHECK_EQ_INT(auth_limit_api(&g_c, &b, &l, &r), 429);
    CHECK(!l.has_tok && l.req_limit == 1);
}

int main(void) {
    TEST_EXPECT(4);
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/omni-auth-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) { fprintf(stderr, "mkdtemp failed\n"); return 1; }
    setenv("OMNI_TEST_FAST_PWHASH", "1", 1);
    char url[300];
    snprintf(url, sizeof url, "sqlite:%s/a.db", g_dir);
    struct err e = {{0}};
    if (store_open(url, &g_st, &e) || auth_config_init(&g_c, g_st, &e)) {
        fprintf(stderr, "setup: %s\n", e.msg);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    RUN(signup_first_is_admin);
    RUN(login_session_and_lockout);
    RUN(keys_and_models);
    RUN(message_window_and_headers);
    auth_config_free(&g_c);
    store_close(g_st);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", g_dir);
    return test_summary();
}
