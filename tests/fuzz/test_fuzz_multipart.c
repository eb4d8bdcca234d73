/* Replays tests/fuzz/corpus/multipart/ through fuzz_multipart.c's entry function; see replay.h. */
#include "fuzz_multipart.c"
#include "replay.h"

TEST(replays_corpus) { replay_corpus("multipart", 5); }

int main(void) {
    TEST_EXPECT(1);
    RUN(replays_corpus);
    return test_summary();
}
