/* Replays tests/fuzz/corpus/toolcall/ through fuzz_toolcall.c's entry function; see replay.h. */
#include "fuzz_toolcall.c"
#include "replay.h"

TEST(replays_corpus) { replay_corpus("toolcall", 10); }

int main(void) {
    TEST_EXPECT(1);
    RUN(replays_corpus);
    return test_summary();
}
