/* Replays tests/fuzz/corpus/bundle/ through fuzz_bundle.c's entry function; see replay.h. */
#include "fuzz_bundle.c"
#include "replay.h"

TEST(replays_corpus) { replay_corpus("bundle", 10); }

int main(void) {
    TEST_EXPECT(1);
    RUN(replays_corpus);
    return test_summary();
}
