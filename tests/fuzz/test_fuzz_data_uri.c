/* Replays tests/fuzz/corpus/data_uri/ through fuzz_data_uri.c's entry function; see replay.h. */
#include "fuzz_data_uri.c"
#include "replay.h"

TEST(replays_corpus) { replay_corpus("data_uri", 5); }

int main(void) {
    TEST_EXPECT(1);
    RUN(replays_corpus);
    return test_summary();
}
