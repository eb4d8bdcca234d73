/* Replays tests/fuzz/corpus/gguf/ through fuzz_gguf.c's entry function; see replay.h. */
#include "fuzz_gguf.c"
#include "replay.h"

TEST(replays_corpus) { replay_corpus("gguf", 4); }

int main(void) {
    TEST_EXPECT(1);
    RUN(replays_corpus);
    return test_summary();
}
