/* src/auth/secret.c and tiers.c: Argon2id hashes verify and reject, tokens are random
 * and hash stably, cookies and bearer headers parse, the Origin check refuses foreign
 * and missing origins, and tier files parse, match models by name or group, and reject
 * malformed input with a message. */
#include "test.h"
#include "auth/secret.h"
#include "auth/tiers.h"

TEST(password_hash_verifies_and_rejects) {
    struct err e = {{0}};
    REQUIRE(auth_init(&e) == 0, "auth_init: %s", e.msg);
    char h[AUTH_PWHASH_BYTES], h2[AUTH_PWHASH_BYTES];
    REQUIRE(auth_password_hash("correct horse", h, &e) == 0, "%s", e.msg);
    CHECK(!strncmp(h, "$argon2id$", 10));
    CHECK(auth_password_verify(h, "correct horse"));
    CHECK(!auth_password_verify(h, "correct horsf"));
    CHECK(!auth_password_verify(h, ""));
    CHECK(!auth_password_verify("not a hash", "correct horse"));
    CHECK(!auth_password_verify(NULL, "x"));
    REQUIRE(auth_password_hash("correct horse", h2, &e) == 0, "%s", e.msg);
    CHECK(strcmp(h, h2) != 0); /* salted */
    CHECK(auth_password_hash("short", h, &e) == -1 && strstr(e.msg, "at least"));
}

TEST(tokens_are_random_and_hash_stably) {
    char a[AUTH_TOKEN_CHARS + 1], b[AUTH_TOKEN_CHARS + 1], ha[65], hb[65], ha2[65];
    auth_token_new(a);
    auth_token_new(b);
    CHECK_EQ_INT(strlen(a), AUTH_TOKEN_CHARS);
    CHECK(strcmp(a, b) != 0);
    auth_token_hash(a, ha);
    auth_token_hash(a, ha2);
    auth_token_hash(b, hb);
    CHECK_STR(ha, ha2);
    CHECK(strcmp(ha, hb) != 0);
    CHECK_EQ_INT(strlen(ha), 64);
    char abc[65];
    auth_token_hash("abc", abc); /* FIPS 180-2's example */
    CHECK_STR(abc, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    char k[AUTH_KEY_CHARS + 1];
    auth_key_new(k);
    CHECK(!strncmp(k, "sk-omni-", 8));
    CHECK(auth_key_looks_like(k));
    CHECK(!auth_key_looks_like("sk-omni-short"));
    CHECK(!auth_key_looks_like("secret"));
}

TEST(cookies_and_bearer) {
    char h[256], v[64];
    CHECK(auth_cookie_header(h, sizeof h, "TOK", 3600, 0) > 0);
    CHECK_STR(h, "Set-Cookie: omni_session=TOK; HttpOnly; SameSite=Lax; Path=/; Max-Age=3600\r\n");
    CHECK(auth_cookie_header(h, sizeof h, "TOK", 60, 1) > 0 && strstr(h, "; Secure\r\n"));
    CHECK(auth_cookie_header(h, sizeof h, NULL, 60, 0) > 0 && strstr(h, "omni_session=; ") && strstr(h, "Max-Age=0"));
    CHECK(auth_cookie_header(h, 10, "TOK", 60, 0) == -1);
    CHECK(auth_cookie_get("a=1; omni_session=xyz; b=2", "omni_session", v, sizeof v) && !strcmp(v, "xyz"));
    CHECK(auth_cookie_get("omni_session=\"q\"", "omni_session", v, sizeof v) && !strcmp(v, "q"));
    CHECK(!auth_cookie_get("xomni_session=1", "omni_session", v, sizeof v));
    CHECK(!auth_cookie_get("omni_session=", "omni_session", v, sizeof v));
    CHECK(!auth_cookie_get("junk;;=;", "omni_session", v, sizeof v));
    CHECK(!auth_cookie_get(NULL, "omni_session", v, sizeof v));
    CHECK(!auth_cookie_get("omni_session=0123456789", "omni_session", v, 5)); /* too long: refused */
    CHECK(auth_bearer_get("Bearer  abc ", v, sizeof v) && !strcmp(v, "abc"));
    CHECK(auth_bearer_get("bearer abc", v, sizeof v));
    CHECK(!auth_bearer_get("Basic abc", v, sizeof v));
    CHECK(!auth_bearer_get("Bearer ", v, sizeof v));
}

TEST(origin_must_match_host) {
    CHECK(auth_origin_matches("http://127.0.0.1:8080", NULL, "127.0.0.1:8080"));
    CHECK(auth_origin_matches("HTTP://Example.COM", NULL, "example.com"));
    CHECK(auth_origin_matches("https://example.com:443", NULL, "example.com"));
    CHECK(auth_origin_matches("http://example.com", NULL, "example.com:80"));
    CHECK(auth_origin_matches(NULL, "http://127.0.0.1:8080/chat?x=1", "127.0.0.1:8080"));
    CHECK(!auth_origin_matches("http://evil.example", NULL, "127.0.0.1:8080"));
    CHECK(!auth_origin_matches("http://127.0.0.1:8081", NULL, "127.0.0.1:8080"));
    CHECK(!auth_origin_matches("http://127.0.0.1:8080.evil", NULL, "127.0.0.1:8080"));
    CHECK(!auth_origin_matches("http://127.0.0.1:8080@evil", NULL, "127.0.0.1:8080"));
    CHECK(!auth_origin_matches("null", "http://127.0.0.1:8080/", "127.0.0.1:8080")); /* Origin wins */
    CHECK(!auth_origin_matches(NULL, NULL, "127.0.0.1:8080"));
    CHECK(!auth_origin_matches("http://a", NULL, NULL));
    CHECK(!auth_origin_matches("garbage", NULL, "garbage"));
}

TEST(default_tiers) {
    struct auth_tiers t;
    struct err e = {{0}};
    REQUIRE(auth_tiers_default(&t, &e) == 0, "%s", e.msg);
    CHECK_STR(t.default_tier, "free");
    const struct auth_tier *free_ = auth_tier_get(&t, NULL), *plus = auth_tier_get(&t, "plus");
    CHECK_STR(free_->name, "free");
    CHECK_STR(auth_tier_get(&t, "nonexistent")->name, "free");
    const struct auth_msg_rule *r = auth_tier_rule(&t, free_, "Qwen3-8B");
    REQUIRE(r != NULL, "free has a limit on large models");
    CHECK_EQ_INT(r->limit, 10);
    CHECK_EQ_INT(r->window_s, 3 * 3600);
    const struct auth_msg_rule *rp = auth_tier_rule(&t, plus, "Qwen3-8B");
    REQUIRE(rp != NULL, "plus has a limit");
    CHECK_EQ_INT(rp->limit, 5 * r->limit);
    CHECK_EQ_INT(plus->rpm, 5 * free_->rpm);
    CHECK_EQ_INT(plus->tpm, 5 * free_->tpm);
    cJSON *j = auth_tier_json(free_);
    char *s = cJSON_PrintUnformatted(j);
    CHECK(s && strstr(s, "\"limit\":10") && strstr(s, "\"requests_per_minute\":20"));
    free(s);
    cJSON_Delete(j);
    auth_tiers_free(&t);
}

TEST(tiers_file_groups_and_names) {
    struct auth_tiers t;
    struct err e = {{0}};
    const char *js = "{\"default\":\"basic\",\"groups\":{\"small\":[\"SmolLM2-*\",\"tiny\"]},"
                     "\"tiers\":{\"basic\":{\"messages\":[{\"models\":[\"small\"],\"limit\":null},"
                     "{\"models\":[\"big-one\"],\"limit\":3,\"window\":\"90m\"},"
                     "{\"models\":[\"*\"],\"limit\":2,\"window\":60,\"fallback\":\"tiny\"}],"
                     "\"api\":{\"requests_per_minute\":5,\"tokens_per_minute\":0}},"
                     "\"vip\":{}}}";
    REQUIRE(auth_tiers_parse(&t, js, "t.json", &e) == 0, "%s", e.msg);
    const struct auth_tier *b = auth_tier_get(&t, "basic"), *v = auth_tier_get(&t, "vip");
    CHECK(auth_tier_rule(&t, b, "smollm2-135m") == NULL);            /* group, any case: unlimited */
    CHECK(auth_tier_rule(&t, b, "tiny") == NULL);
    CHECK_EQ_INT(auth_tier_rule_index(&t, b, "big-one"), 1);
    CHECK_EQ_INT(auth_tier_rule(&t, b, "big-one")->window_s, 5400);
    CHECK_EQ_INT(auth_tier_rule(&t, b, "other")->limit, 2);
    CHECK_EQ_INT(auth_tier_rule(&t, b, "other")->window_s, 60);
    CHECK_STR(auth_tier_rule(&t, b, "other")->fallback, "tiny");     /* the model a limited user is offered */
    CHECK(auth_tier_rule(&t, b, "big-one")->fallback == NULL);
    CHECK_EQ_INT(b->rpm, 5);
    CHECK_EQ_INT(b->tpm, -1);
    CHECK(auth_tier_rule(&t, v, "other") == NULL && v->rpm == -1);
    CHECK(auth_tier_exists(&t, "vip") && !auth_tier_exists(&t, "free"));
    auth_tiers_free(&t);
}

TEST(tiers_file_errors) {
    struct auth_tiers t;
    struct err e = {{0}};
    static const char *const bad[] = {
        "", "[]", "{\"tiers\":{}}", "{\"tiers\":{\"a\":1}}",
        "{\"tiers\":{\"a\":{\"messages\":[{\"models\":[],\"limit\":1,\"window\":1}]}}}",
        "{\"tiers\":{\"a\":{\"messages\":[{\"models\":[\"*\"],\"limit\":1}]}}}",
        "{\"tiers\":{\"a\":{\"messages\":[{\"models\":[\"*\"],\"limit\":1.5,\"window\":1}]}}}",
        "{\"tiers\":{\"a\":{\"messages\":[{\"models\":[\"*\"],\"limit\":1,\"window\":\"3x\"}]}}}",
        "{\"tiers\":{\"a\":{\"api\":{\"requests_per_minute\":-1}}}}",
        "{\"default\":\"b\",\"tiers\":{\"a\":{}}}",
        "{\"groups\":{\"g\":[1]},\"tiers\":{\"a\":{}}}",
        "{\"tiers\":{\"a\":{\"messages\":[{\"models\":[\"*\"],\"limit\":1,\"window\":1,\"fallback\":3}]}}}",
        "{\"tiers\":{\"a\":{\"messages\":[{\"models\":[\"*\"],\"limit\":1,\"window\":1,\"fallback\":\"\"}]}}}",
        NULL};
    for (int i = 0; bad[i]; i++) {
        e.msg[0] = 0;
        int rc = auth_tiers_parse(&t, bad[i], "bad.json", &e);
        CHECK_MSG(rc == -1 && strstr(e.msg, "bad.json"), "case %d accepted or no message: %s", i, e.msg);
    }
    CHECK(auth_tiers_load(&t, "/nonexistent/tiers.json", &e) == -1 && strstr(e.msg, "cannot open"));
}

int main(void) {
    TEST_EXPECT(7);
    RUN(password_hash_verifies_and_rejects);
    RUN(tokens_are_random_and_hash_stably);
    RUN(cookies_and_bearer);
    RUN(origin_must_match_host);
    RUN(default_tiers);
    RUN(tiers_file_groups_and_names);
    RUN(tiers_file_errors);
    return test_summary();
}
