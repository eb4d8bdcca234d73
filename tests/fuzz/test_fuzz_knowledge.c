/* Replays tests/fuzz/corpus/knowledge/ through fuzz_knowledge.c's entry function; see replay.h. */
#include "fuzz_knowledge.c"
#include "replay.h"

TEST(replays_corpus) { replay_corpus("knowledge", 7); }

int main(void) {
    TEST_EXPECT(1);
    RUN(replays_corpus);
    return test_summary();
}
