/* Replays tests/fuzz/corpus/moderation/ through fuzz_moderation.c's entry function; see replay.h. */
#include "fuzz_moderation.c"
#include "replay.h"

TEST(replays_corpus) { replay_corpus("moderation", 6); }

int main(void) {
    TEST_EXPECT(1);
    RUN(replays_corpus);
    mod_rules_free(g_fixed);
    return test_summary();
}
