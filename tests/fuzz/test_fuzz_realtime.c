/* Replays tests/fuzz/corpus/realtime/ through fuzz_realtime.c's entry function; see replay.h. */
#include "fuzz_realtime.c"
#include "replay.h"

TEST(replays_corpus) { replay_corpus("realtime", 5); }

int main(void) {
    TEST_EXPECT(1);
    RUN(replays_corpus);
    return test_summary();
}
