/* Replays tests/fuzz/corpus/image/ through fuzz_image.c's entry function; see replay.h. */
#include "fuzz_image.c"
#include "replay.h"

TEST(replays_corpus) { replay_corpus("image", 4); }

int main(void) {
    TEST_EXPECT(1);
    RUN(replays_corpus);
    return test_summary();
}
