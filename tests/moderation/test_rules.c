/* Moderation rules (src/moderation/rules.c): block lists that catch Korean words with
 * particles and fence ASCII words, regex rules, PII redaction with allow-listed spans,
 * the most severe action deciding, clear errors for bad policies, and a hostile pattern
 * that stops instead of hanging. */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "moderation/rules.h"

static const char *POLICY =
    "{\"rules\": ["
    " {\"name\": \"profanity\", \"type\": \"words\", \"words\": [\"바보\", \"idiot\", \"c++ sucks\"], \"action\": \"block\","
    "  \"category\": \"harassment\", \"message\": \"욕설은 사용할 수 없습니다.\"},"
    " {\"name\": \"codes\", \"type\": \"regex\", \"pattern\": \"PRJ-\\\\d{4}\", \"action\": \"redact\", \"replacement\": \"[코드]\"},"
    " {\"name\": \"competitor\", \"type\": \"regex\", \"pattern\": \"acme\\\\s*corp\", \"ignore_case\": true, \"action\": \"warn\","
    "  \"message\": \"mentions a competitor\"},"
    " {\"name\": \"pii\", \"type\": \"pii\", \"kinds\": [\"email\", \"phone\", \"kr_rrn\"], \"action\": \"redact\"},"
    " {\"name\": \"our-support\", \"type\": \"regex\", \"pattern\": \"help@example\\\\.com\", \"action\": \"allow\"}"
    "]}";

static struct mod_rules *load(const char *json) {
    struct err e = {{0}};
    struct mod_rules *r = mod_rules_parse(json, strlen(json), &e);
    CHECK_MSG(r != NULL, "policy: %s", e.msg);
    return r;
}

static void check(const struct mod_rules *r, const char *text, enum mod_action want, const char *want_text) {
    struct mod_verdict v;
    struct err e = {{0}};
    REQUIRE(mod_rules_check(r, text, strlen(text), &v, &e) == 0, "check: %s", e.msg);
    CHECK_MSG(v.action == want, "\"%s\": action %s, want %s", text, mod_action_name(v.action), mod_action_name(want));
    if (want_text) CHECK_STR(v.text, want_text);
    else CHECK_MSG(v.text == NULL, "\"%s\": unexpected rewrite \"%s\"", text, v.text);
    mod_verdict_free(&v);
}

TEST(block_lists) {
    struct mod_rules *r = load(POLICY);
    REQUIRE(r, "no policy");
    check(r, "너 바보야?", MOD_BLOCK, NULL);           /* a particle after the word */
    check(r, "You IDIOT.", MOD_BLOCK, NULL);           /* case-insensitive */
    check(r, "an idiotic plan", MOD_ALLOW, NULL);      /* ASCII edges are fenced */
    check(r, "I think C++ SUCKS", MOD_BLOCK, NULL);    /* punctuation in a word is literal */
    check(r, "C+ sucks", MOD_ALLOW, NULL);
    check(r, "안녕하세요, 반갑습니다.", MOD_ALLOW, NULL);
    struct mod_verdict v;
    struct err e = {{0}};
    const char *t = "바보 같은 질문";
    REQUIRE(mod_rules_check(r, t, strlen(t), &v, &e) == 0, "%s", e.msg);
    CHECK_STR(v.rule, "profanity");
    CHECK_STR(v.message, "욕설은 사용할 수 없습니다.");
    REQUIRE(v.n_hits == 1, "hits %d", v.n_hits);
    CHECK_STR(v.hits[0].category, "harassment");
    CHECK_EQ_INT(v.hits[0].start, 0);
    CHECK_EQ_INT(v.hits[0].len, strlen("바보"));
    mod_verdict_free(&v);
    mod_rules_free(r);
}

TEST(redaction_and_allow) {
    struct mod_rules *r = load(POLICY);
    REQUIRE(r, "no policy");
    check(r, "제 번호는 010-1234-5678이고 메일은 kim@corp.co.kr 입니다. 코드 PRJ-2024.", MOD_REDACT,
          "제 번호는 [PHONE]이고 메일은 [EMAIL] 입니다. 코드 [코드].");
    /* the allow-listed support address stays, another address goes */
    check(r, "help@example.com 또는 me@mail.net", MOD_REDACT, "help@example.com 또는 [EMAIL]");
    check(r, "문의: help@example.com", MOD_ALLOW, NULL);
    check(r, "주민번호 900101-1234567", MOD_REDACT, "주민번호 [RRN]");
    /* warn outranks nothing but allow; block outranks redact, and the text is still redacted */
    check(r, "ACME  Corp is better", MOD_WARN, NULL);
    check(r, "idiot, call 010-1234-5678", MOD_BLOCK, "idiot, call [PHONE]");
    mod_rules_free(r);
}

TEST(bad_policies_say_what_is_wrong) {
    static const struct { const char *json, *needle; } bad[] = {
        {"not json", "not valid JSON"},
        {"{\"rules\": 3}", "expected {\"rules\""},
        {"{\"rules\": [{\"type\": \"words\", \"words\": [], \"action\": \"block\"}]}", "\"words\" must be a list"},
        {"{\"rules\": [{\"name\": \"x\", \"type\": \"regex\", \"pattern\": \"(\", \"action\": \"block\"}]}", "bad pattern"},
        {"{\"rules\": [{\"name\": \"x\", \"type\": \"regex\", \"pattern\": \"a\", \"action\": \"nuke\"}]}", "\"action\" must be"},
        {"{\"rules\": [{\"name\": \"x\", \"type\": \"pii\", \"kinds\": [\"ssn\"], \"action\": \"redact\"}]}", "unknown PII kind 'ssn'"},
        {"{\"rules\": [{\"name\": \"x\", \"type\": \"magic\", \"action\": \"log\"}]}", "unknown type 'magic'"},
        {"{\"rules\": [{\"name\": \"x\", \"type\": \"words\", \"words\": [\"a\", 7], \"action\": \"log\"}]}", "entry 1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct err e = {{0}};
        struct mod_rules *r = mod_rules_parse(bad[i].json, strlen(bad[i].json), &e);
        CHECK_MSG(r == NULL, "accepted: %s", bad[i].json);
        CHECK_MSG(strstr(e.msg, bad[i].needle) != NULL, "%s: message \"%s\" lacks \"%s\"", bad[i].json, e.msg, bad[i].needle);
        mod_rules_free(r);
    }
    struct err e = {{0}};
    CHECK(mod_rules_load("/nonexistent/policy.json", &e) == NULL);
    CHECK(strstr(e.msg, "/nonexistent/policy.json") != NULL);
}

TEST(hostile_pattern_stops) {
    /* catastrophic backtracking: the budget ends the match instead of the process */
    struct mod_rules *r = load("{\"rules\": [{\"name\": \"evil\", \"type\": \"regex\", \"pattern\": \"(a+)+$\", \"action\": \"block\"}]}");
    REQUIRE(r, "no policy");
    char text[4096];
    memset(text, 'a', sizeof text - 2);
    text[sizeof text - 2] = '!';
    text[sizeof text - 1] = 0;
    struct mod_verdict v;
    struct err e = {{0}};
    CHECK(mod_rules_check(r, text, strlen(text), &v, &e) == 0);
    mod_verdict_free(&v);
    /* invalid UTF-8 in the text is no error */
    const char *junk = "\xff\xfe idiot \xc3";
    struct mod_rules *p = load(POLICY);
    REQUIRE(p, "no policy");
    CHECK(mod_rules_check(p, junk, strlen(junk), &v, &e) == 0);
    CHECK(v.action == MOD_BLOCK);
    mod_verdict_free(&v);
    mod_rules_free(p);
    mod_rules_free(r);
}

int main(void) {
    TEST_EXPECT(4);
    RUN(block_lists);
    RUN(redaction_and_allow);
    RUN(bad_policies_say_what_is_wrong);
    RUN(hostile_pattern_stops);
    return test_summary();
}
