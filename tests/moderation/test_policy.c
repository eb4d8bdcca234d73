/* Moderation policies (src/moderation/policy.c): the defaults of every field, where checks
 * run, the action per OpenAI category with "*" for the rest, a policy without rules, the
 * built-in default policy, and errors that name the field. */
#include <string.h>

#include "test.h"
#include "moderation/policy.h"

static struct mod_policy *parse(const char *j, struct err *e) { return mod_policy_parse(j, strlen(j), e); }

static void defaults(void) {
    struct err e = {{0}};
    struct mod_policy *p = parse("{}", &e);
    CHECK_MSG(p != NULL, "%s", e.msg);
    if (!p) return;
    CHECK_EQ_INT(p->on_input, 1);
    CHECK_EQ_INT(p->on_output, 1);
    CHECK_EQ_INT(p->on_tools, 0);
    CHECK_EQ_INT(p->on_knowledge, 0);
    CHECK_EQ_INT(p->use_guard, 1);
    CHECK_EQ_INT(mod_rules_count(p->rules), 0);
    CHECK_EQ_INT(mod_policy_action(p, 1u << OAI_VIOLENCE), MOD_BLOCK);
    CHECK_EQ_INT(mod_policy_action(p, 0), MOD_BLOCK);   /* an unmapped Unsafe verdict */
    CHECK(p->message == NULL && p->message_ko == NULL);
    mod_policy_free(p);
}

static void fields(void) {
    struct err e = {{0}};
    struct mod_policy *p = parse("{\"rules\": [{\"name\": \"w\", \"type\": \"words\", \"words\": [\"바보\"], \"action\": \"block\"}],"
                                 " \"input\": false, \"output\": true, \"tool_results\": true, \"knowledge\": true,"
                                 " \"guard\": false, \"categories\": {\"self-harm\": \"warn\", \"sexual/minors\": \"block\","
                                 " \"*\": \"log\"}, \"message\": \"no\", \"message_ko\": \"안 됩니다\"}", &e);
    CHECK_MSG(p != NULL, "%s", e.msg);
    if (!p) return;
    CHECK_EQ_INT(p->on_input, 0);
    CHECK_EQ_INT(p->on_tools, 1);
    CHECK_EQ_INT(p->on_knowledge, 1);
    CHECK_EQ_INT(p->use_guard, 0);
    CHECK_EQ_INT(mod_rules_count(p->rules), 1);
    CHECK_EQ_INT(mod_policy_action(p, 1u << OAI_SELF_HARM), MOD_WARN);
    CHECK_EQ_INT(mod_policy_action(p, 1u << OAI_VIOLENCE), MOD_LOG);           /* "*" */
    CHECK_EQ_INT(mod_policy_action(p, (1u << OAI_SELF_HARM) | (1u << OAI_SEXUAL_MINORS)), MOD_BLOCK);  /* the most severe */
    CHECK_EQ_INT(mod_policy_action(p, 0), MOD_LOG);
    CHECK_STR(p->message, "no");
    CHECK_STR(p->message_ko, "안 됩니다");
    struct mod_verdict v;
    CHECK_EQ_INT(mod_rules_check(p->rules, "바보야", strlen("바보야"), &v, &e), 0);
    CHECK_EQ_INT(v.action, MOD_BLOCK);
    mod_verdict_free(&v);
    mod_policy_free(p);
}

static void default_policy(void) {
    struct err e = {{0}};
    struct mod_policy *p = parse(mod_policy_default_json, &e);
    CHECK_MSG(p != NULL, "%s", e.msg);
    if (!p) return;
    CHECK_EQ_INT(p->on_input, 1);
    CHECK_EQ_INT(p->on_output, 0);    /* answers are not held back unless an admin says so */
    struct mod_verdict v;
    const char *t = "주민번호 900101-1234567 입니다";
    CHECK_EQ_INT(mod_rules_check(p->rules, t, strlen(t), &v, &e), 0);
    CHECK_EQ_INT(v.action, MOD_REDACT);
    CHECK_STR(v.text, "주민번호 [RRN] 입니다");
    mod_verdict_free(&v);
    mod_policy_free(p);
}

static void errors(void) {
    static const struct { const char *json, *want; } bad[] = {
        {"[]", "not a JSON object"},
        {"{\"input\": 1}", "\"input\" must be true or false"},
        {"{\"categories\": {\"violence\": \"explode\"}}", "categories.violence"},
        {"{\"categories\": {\"violence\": \"redact\"}}", "categories.violence"},
        {"{\"categories\": {\"weather\": \"block\"}}", "categories.weather is not one of OpenAI's"},
        {"{\"categories\": []}", "\"categories\" must be an object"},
        {"{\"message\": 3}", "\"message\" must be a string"},
        {"{\"rules\": [{\"type\": \"regex\", \"pattern\": \"(\", \"action\": \"block\"}]}", "rule 0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct err e = {{0}};
        struct mod_policy *p = parse(bad[i].json, &e);
        CHECK_MSG(p == NULL, "%s should be refused", bad[i].json);
        CHECK_MSG(strstr(e.msg, bad[i].want) != NULL, "%s: error '%s' lacks '%s'", bad[i].json, e.msg, bad[i].want);
        mod_policy_free(p);
    }
}

int main(void) {
    TEST_EXPECT(4);
    RUN(defaults);
    RUN(fields);
    RUN(default_policy);
    RUN(errors);
    return test_summary();
}
