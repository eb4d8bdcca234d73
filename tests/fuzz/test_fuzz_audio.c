/* Replays tests/fuzz/corpus/audio/ through fuzz_audio.c's entry function; see replay.h. */
#include "fuzz_audio.c"
#include "replay.h"

TEST(replays_corpus) { replay_corpus("audio", 5); }

int main(void) {
    TEST_EXPECT(1);
    RUN(replays_corpus);
    return test_summary();
}
