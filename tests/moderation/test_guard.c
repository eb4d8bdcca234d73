/* Guard model answers (src/moderation/guard.c) parsed as their model cards show them,
 * mapped to OpenAI's categories, and malformed answers left unparsed (never a crash). */
#include <string.h>

#include "test.h"
#include "moderation/guard.h"

#define B(c) (1u << (c))

TEST(qwen3guard_answers) {
    struct guard_verdict v;
    /* prompt moderation, as in the Qwen3Guard-Gen model card */
    guard_parse(GUARD_QWEN3GUARD, 0, "Safety: Unsafe\nCategories: Violent", &v);
    CHECK(v.safety == GUARD_UNSAFE);
    CHECK_EQ_INT(v.oai, B(OAI_VIOLENCE));
    CHECK_EQ_INT(v.n_raw, 1);
    CHECK_STR(v.raw[0], "Violent");
    CHECK_EQ_INT(v.refusal, -1);
    /* response moderation adds the refusal line */
    guard_parse(GUARD_QWEN3GUARD, 0, "Safety: Safe\nCategories: None\nRefusal: Yes", &v);
    CHECK(v.safety == GUARD_SAFE);
    CHECK_EQ_INT(v.oai, 0);
    CHECK_EQ_INT(v.n_raw, 0);
    CHECK_EQ_INT(v.refusal, 1);
    guard_parse(GUARD_QWEN3GUARD, 0, "Safety: Controversial\nCategories: Unethical Acts, Jailbreak\n", &v);
    CHECK(v.safety == GUARD_CONTROVERSIAL);
    CHECK_EQ_INT(v.oai, B(OAI_HARASSMENT) | B(OAI_HATE));
    CHECK_EQ_INT(v.n_raw, 2);
    CHECK_STR(v.raw[1], "Jailbreak");
    guard_parse(GUARD_QWEN3GUARD, 0, "Safety: Unsafe\nCategories: Suicide & Self-Harm, Non-violent Illegal Acts", &v);
    CHECK_EQ_INT(v.oai, B(OAI_SELF_HARM) | B(OAI_ILLICIT));
    guard_parse(GUARD_QWEN3GUARD, 0, "Safety: Unsafe\nCategories: Sexual Content or Sexual Acts, PII", &v);
    CHECK_EQ_INT(v.oai, B(OAI_SEXUAL));
    CHECK_STR(v.raw[1], "PII");
}

TEST(llama_guard3_answers) {
    struct guard_verdict v;
    guard_parse(GUARD_LLAMA_GUARD3, 0, "\n\nsafe", &v);
    CHECK(v.safety == GUARD_SAFE);
    guard_parse(GUARD_LLAMA_GUARD3, 0, "\n\nunsafe\nS1", &v);
    CHECK(v.safety == GUARD_UNSAFE);
    CHECK_EQ_INT(v.oai, B(OAI_VIOLENCE) | B(OAI_ILLICIT_VIOLENT));
    CHECK_STR(v.raw[0], "S1");
    guard_parse(GUARD_LLAMA_GUARD3, 0, "unsafe\nS4,S10,S11", &v);
    CHECK_EQ_INT(v.oai, B(OAI_SEXUAL_MINORS) | B(OAI_SEXUAL) | B(OAI_HATE) | B(OAI_SELF_HARM));
    CHECK_EQ_INT(v.n_raw, 3);
    guard_parse(GUARD_LLAMA_GUARD3, 0, "unsafe\nS7", &v);  /* privacy: none of OpenAI's */
    CHECK(v.safety == GUARD_UNSAFE);
    CHECK_EQ_INT(v.oai, 0);
    guard_parse(GUARD_LLAMA_GUARD3, 0, "unsafe\nS99", &v);
    CHECK_EQ_INT(v.oai, 0);
}

TEST(shieldgemma_answers) {
    struct guard_verdict v;
    guard_parse(GUARD_SHIELDGEMMA, SG_HATE, "Yes", &v);
    CHECK(v.safety == GUARD_UNSAFE);
    CHECK_EQ_INT(v.oai, B(OAI_HATE));
    guard_parse(GUARD_SHIELDGEMMA, SG_DANGEROUS, "**Yes**, it does.", &v);
    CHECK_EQ_INT(v.oai, B(OAI_ILLICIT) | B(OAI_VIOLENCE));
    guard_parse(GUARD_SHIELDGEMMA, SG_SEXUAL, " No", &v);
    CHECK(v.safety == GUARD_SAFE);
    CHECK_EQ_INT(v.oai, 0);
}

TEST(malformed_answers_stay_unparsed) {
    static const char *junk[] = {"", "I cannot help with that.", "Safety:", "Safety: Maybe", "unsafety", "Yesterday",
                                 "\xff\xfe\x00"};
    for (int f = 0; f < 3; f++)
        for (size_t i = 0; i < sizeof junk / sizeof *junk; i++) {
            struct guard_verdict v;
            guard_parse((enum guard_family)f, SG_HATE, junk[i], &v);
            CHECK_MSG(v.safety == GUARD_UNPARSED, "family %d parsed \"%s\" as %d", f, junk[i], v.safety);
            CHECK_EQ_INT(v.oai, 0);
        }
    struct guard_verdict v;
    guard_parse(GUARD_QWEN3GUARD, 0, NULL, &v);
    CHECK(v.safety == GUARD_UNPARSED);
    char many[4096] = "Safety: Unsafe\nCategories: ";
    for (int i = 0; i < 60; i++) strcat(many, "Violent, ");
    guard_parse(GUARD_QWEN3GUARD, 0, many, &v);
    CHECK_EQ_INT(v.n_raw, 8);  /* capped, not overflowed */
}

TEST(names_and_families) {
    CHECK_STR(oai_category_name(OAI_SELF_HARM_INSTRUCTIONS), "self-harm/instructions");
    CHECK_STR(oai_category_name(OAI_VIOLENCE_GRAPHIC), "violence/graphic");
    CHECK(oai_category_name(OAI_N_CATEGORIES) == NULL);
    CHECK_EQ_INT(guard_family_of("Qwen3Guard-Gen-0.6B", NULL), GUARD_QWEN3GUARD);
    CHECK_EQ_INT(guard_family_of("Llama-Guard-3-1B", NULL), GUARD_LLAMA_GUARD3);
    CHECK_EQ_INT(guard_family_of("shieldgemma-2b", NULL), GUARD_SHIELDGEMMA);
    CHECK_EQ_INT(guard_family_of("x", "... S14: Code Interpreter Abuse ..."), GUARD_LLAMA_GUARD3);
    CHECK_EQ_INT(guard_family_of("Qwen3-0.6B", "{{ '<|im_start|>' }}"), -1);
}

int main(void) {
    TEST_EXPECT(5);
    RUN(qwen3guard_answers);
    RUN(llama_guard3_answers);
    RUN(shieldgemma_answers);
    RUN(malformed_answers_stay_unparsed);
    RUN(names_and_families);
    return test_summary();
}
