/* Replays tests/fuzz/corpus/chat/ through fuzz_chat.c's entry function; see replay.h. */
#include "fuzz_chat.c"
#include "replay.h"

TEST(replays_corpus) { replay_corpus("chat", 5); }

int main(void) {
    TEST_EXPECT(1);
    RUN(replays_corpus);
    return test_summary();
}
