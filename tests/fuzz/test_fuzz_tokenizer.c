/* Replays tests/fuzz/corpus/tokenizer/ through fuzz_tokenizer.c's entry function; see replay.h. */
#include "fuzz_tokenizer.c"
#include "replay.h"

TEST(replays_corpus) { replay_corpus("tokenizer", 5); }

int main(void) {
    TEST_EXPECT(1);
    RUN(replays_corpus);
    return test_summary();
}
