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

TEST(label_pick) {
    /* Qwen3Guard: Unsafe 0.6, Safe 0.3, Controversial 0.1 of all the probability */
    float p;
    float lp[3] = {logf(0.6f), logf(0.3f), logf(0.1f)};
    CHECK(guard_label_pick(lp, &p) == 0);
    CHECK_NEAR(p, 0.65, 1e-5);
    /* Controversial most likely: the verdict, half weight in the score */
    float lc[3] = {logf(0.1f), logf(0.2f), logf(0.5f)};
    CHECK(guard_label_pick(lc, &p) == 2);
    CHECK_NEAR(p, (0.1 + 0.25) / 0.8, 1e-5);
    /* Llama Guard / ShieldGemma: no third label */
    float ll[3] = {logf(0.3f), logf(0.6f), -INFINITY};
    CHECK(guard_label_pick(ll, &p) == 1);
    CHECK_NEAR(p, 1.0 / 3, 1e-5);
    /* the labels hold under half the probability: no verdict, the score still their share */
    float lo[3] = {logf(0.01f), logf(0.03f), -INFINITY};
    CHECK(guard_label_pick(lo, &p) == -1);
    CHECK_NEAR(p, 0.25, 1e-5);
    float none[3] = {-INFINITY, -INFINITY, -INFINITY};
    CHECK(guard_label_pick(none, &p) == -1);
    CHECK(p == 0);
    CHECK_STR(guard_label_word(GUARD_QWEN3GUARD, 2), " Controversial");
    CHECK(guard_label_word(GUARD_LLAMA_GUARD3, 2) == NULL);
}

TEST(runs_on_a_small_model) {
    const char *path = model_path("llm/stories260K.gguf");
    char err[512] = "";
    omni_model *m = omni_model_load(path, NULL, err, sizeof err);
    REQUIRE(m, "%s: %s", path, err);
    for (int f = GUARD_QWEN3GUARD; f <= GUARD_SHIELDGEMMA; f++) {
        struct guard_check c;
        int rc = guard_run(m, NULL, (enum guard_family)f, SG_HATE, "이 문장을 검사해 주세요. Check this sentence.", NULL, &c, err,
                           sizeof err);
        CHECK_MSG(rc == 0, "family %d: %s", f, err);
        if (rc) continue;
        CHECK_MSG(c.p_unsafe >= 0 && c.p_unsafe <= 1, "family %d: score %f", f, c.p_unsafe);
        CHECK_MSG(c.v.safety == GUARD_UNPARSED || c.v.safety == GUARD_SAFE || c.v.safety == GUARD_UNSAFE,
                  "family %d: safety %d", f, c.v.safety);
        CHECK(c.ms >= 0);
        /* one prefill, a token per label step: never a long decode */
        CHECK_MSG(c.n_generated >= 1 && c.n_generated <= 3 + GUARD_MAX_DETAIL, "family %d: %d tokens", f, c.n_generated);
        CHECK(c.label_token[0] >= 0 && c.label_token[1] >= 0);
        CHECK(c.label_logprob[0] <= 0 && c.label_logprob[1] <= 0);
        /* a response check takes the reply too */
        rc = guard_run(m, NULL, (enum guard_family)f, SG_SEXUAL, "Tell me a story.", "Once upon a time.", &c, err, sizeof err);
        CHECK_MSG(rc == 0, "family %d (response): %s", f, err);
    }
    struct guard_check c;
    CHECK(guard_run(m, NULL, GUARD_SHIELDGEMMA, 99, "x", NULL, &c, err, sizeof err) == -1);
    omni_model_free(m);
}

int main(void) {
    TEST_EXPECT(2);
    RUN(label_pick);
    RUN(runs_on_a_small_model);
    return test_summary();
}
