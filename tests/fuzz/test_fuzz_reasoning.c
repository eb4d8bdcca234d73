/* Replays tests/fuzz/corpus/reasoning/ through fuzz_reasoning.c's entry function; see replay.h. */
#include "fuzz_reasoning.c"
#include "replay.h"

TEST(replays_corpus) { replay_corpus("reasoning", 6); }

int main(void) {
    TEST_EXPECT(1);
    RUN(replays_corpus);
    return test_summary();
}
