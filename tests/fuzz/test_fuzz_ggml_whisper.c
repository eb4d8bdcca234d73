/* Replays tests/fuzz/corpus/ggml_whisper/ through fuzz_ggml_whisper.c's entry function; see replay.h. */
#include "fuzz_ggml_whisper.c"
#include "replay.h"

TEST(replays_corpus) { replay_corpus("ggml_whisper", 5); }

int main(void) {
    TEST_EXPECT(1);
    RUN(replays_corpus);
    return test_summary();
}
