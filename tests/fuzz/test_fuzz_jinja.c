/* Replays tests/fuzz/corpus/jinja/ (real chat templates, hostile ones and what
 * fuzzing found) through fuzz_jinja.c's entry function; see replay.h. */
#include "fuzz_jinja.c"
#include "replay.h"

TEST(replays_corpus) { replay_corpus("jinja", 20); }

int main(void) {
    TEST_EXPECT(1);
    RUN(replays_corpus);
    return test_summary();
}
