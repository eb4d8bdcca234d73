/* A guard check through the engine (src/moderation/guard_run.c): the label score from
 * the label alternatives' probabilities, and a real run on a small model of every family
 * shape -- a random-weight model writes no guard answer, so the run must come back
 * UNPARSED with a score in [0, 1], never hang, crash or invent a verdict. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "omni.h"
#include "moderation/guard_run.h"

TEST(label_mass) {
    /* Qwen3Guard: " Unsafe" 0.6, " Safe" 0.3, "Contro" 0.1 (a label split over tokens), "x" ignored */
    const char *alt[] = {" Unsafe", " Safe", "Contro", "x"};
    size_t len[] = {7, 5, 6, 1};
    float lp[] = {logf(0.6f), logf(0.3f), logf(0.1f), logf(0.05f)};
    double m[3] = {0};
    guard_label_mass(GUARD_QWEN3GUARD, alt, len, lp, 4, m);
    CHECK_NEAR(m[0], 0.6, 1e-6);
    CHECK_NEAR(m[1], 0.3, 1e-6);
    CHECK_NEAR(m[2], 0.1, 1e-6);
    /* Llama Guard: "unsafe" vs "safe", blanks before a label skipped, case kept */
    const char *lg[] = {"unsafe", "safe", "S", "\n\nsafe"};
    size_t lgl[] = {6, 4, 1, 6};
    float lgp[] = {logf(0.2f), logf(0.5f), logf(0.1f), logf(0.1f)};
    double m2[3] = {0};
    guard_label_mass(GUARD_LLAMA_GUARD3, lg, lgl, lgp, 4, m2);
    CHECK_NEAR(m2[0], 0.2, 1e-6);
    CHECK_NEAR(m2[1], 0.5 + 0.1, 1e-6);  /* "S" is not "safe" (case), "\n\nsafe" is */
    /* ShieldGemma: Yes / No */
    const char *sg[] = {"Yes", "No", "Y"};
    size_t sgl[] = {3, 2, 1};
    float sgp[] = {logf(0.7f), logf(0.2f), logf(0.1f)};
    double m3[3] = {0};
    guard_label_mass(GUARD_SHIELDGEMMA, sg, sgl, sgp, 3, m3);
    CHECK_NEAR(m3[0], 0.8, 1e-6);
    CHECK_NEAR(m3[1], 0.2, 1e-6);
}

TEST(runs_on_a_small_model) {
    const char *path = model_path("llm/stories260K.gguf");
    char err[512] = "";
    omni_model *m = omni_model_load(path, NULL, err, sizeof err);
    REQUIRE(m, "%s: %s", path, err);
    for (int f = GUARD_QWEN3GUARD; f <= GUARD_SHIELDGEMMA; f++) {
        struct guard_check c;
        int rc = guard_run(m, (enum guard_family)f, SG_HATE, "이 문장을 검사해 주세요. Check this sentence.", NULL, &c, err,
                           sizeof err);
        CHECK_MSG(rc == 0, "family %d: %s", f, err);
        if (rc) continue;
        CHECK_MSG(c.p_unsafe >= 0 && c.p_unsafe <= 1, "family %d: score %f", f, c.p_unsafe);
        CHECK_MSG(c.v.safety == GUARD_UNPARSED || c.v.safety == GUARD_SAFE || c.v.safety == GUARD_UNSAFE,
                  "family %d: safety %d", f, c.v.safety);
        CHECK(c.ms >= 0);
        /* a response check takes the reply too */
        rc = guard_run(m, (enum guard_family)f, SG_SEXUAL, "Tell me a story.", "Once upon a time.", &c, err, sizeof err);
        CHECK_MSG(rc == 0, "family %d (response): %s", f, err);
    }
    struct guard_check c;
    CHECK(guard_run(m, GUARD_SHIELDGEMMA, 99, "x", NULL, &c, err, sizeof err) == -1);
    omni_model_free(m);
}

int main(void) {
    TEST_EXPECT(2);
    RUN(label_mass);
    RUN(runs_on_a_small_model);
    return test_summary();
}
