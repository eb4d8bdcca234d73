/* Prompt lookup (runtime/lookup.h): the draft is what followed the most recent earlier
 * occurrence of the longest repeated tail n-gram, max_out tokens, read on into itself
 * where the history ends (cycles continue); nothing when no n-gram of the sizes asked
 * repeats. */
#include "../test.h"
#include "runtime/lookup.h"

TEST(longest_ngram_wins) {
    /* tail "7 8 9": the 3-gram occurred at 2..4 (followed by 10 11), the 1-gram "9" more
     * recently at 7 (followed by 5): the longer match decides */
    const int32_t h[] = {1, 2, 7, 8, 9, 10, 11, 9, 5, 7, 8, 9};
    int32_t out[8];
    int n = lookup_draft(h, 12, 1, 3, out, 8);
    REQUIRE(n >= 2, "n = %d", n);
    CHECK_EQ_INT(out[0], 10);
    CHECK_EQ_INT(out[1], 11);
    /* it continues past the match to the end of the history, 10 11 9 5 7 8 9, then on
     * into itself: the 7 8 9 just guessed are followed by 10 */
    CHECK_EQ_INT(n, 8);
    CHECK_EQ_INT(out[6], 9);
    CHECK_EQ_INT(out[7], 10);
}

TEST(most_recent_occurrence) {
    const int32_t h[] = {4, 5, 1, 4, 5, 2, 4, 5};
    int32_t out[4];
    int n = lookup_draft(h, 8, 2, 2, out, 1);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(out[0], 2); /* "4 5" at 3 is newer than at 0 */
}

TEST(max_out_and_cycles) {
    const int32_t h[] = {1, 2, 3, 4, 5, 6, 1, 2};
    int32_t out[16];
    CHECK_EQ_INT(lookup_draft(h, 8, 2, 2, out, 3), 3);
    CHECK_EQ_INT(out[0], 3);
    CHECK_EQ_INT(out[2], 5);
    /* 3 4 5 6 1 2 from the history, then the cycle of 6 again: 3 4 ... */
    CHECK_EQ_INT(lookup_draft(h, 8, 2, 2, out, 16), 16);
    CHECK_EQ_INT(out[5], 2);
    CHECK_EQ_INT(out[6], 3);
    CHECK_EQ_INT(out[15], 6);
    /* period 2: a b a b -> a b a b ... */
    const int32_t c[] = {9, 4, 8, 4, 8};
    CHECK_EQ_INT(lookup_draft(c, 5, 2, 2, out, 5), 5);
    CHECK_EQ_INT(out[0], 4);
    CHECK_EQ_INT(out[1], 8);
    CHECK_EQ_INT(out[4], 4);
}

TEST(no_match) {
    const int32_t h[] = {1, 2, 3, 4, 5};
    int32_t out[4] = {0};
    CHECK_EQ_INT(lookup_draft(h, 5, 1, 4, out, 4), 0);
    /* a 1-gram repeat is found only when 1-grams are allowed */
    const int32_t r[] = {9, 3, 1, 2, 3};
    CHECK_EQ_INT(lookup_draft(r, 5, 2, 4, out, 4), 0);
    CHECK_EQ_INT(lookup_draft(r, 5, 1, 4, out, 4), 4);
    CHECK_EQ_INT(out[0], 1); /* 1 2 3, then 1 again */
    CHECK_EQ_INT(out[3], 1);
    CHECK_EQ_INT(lookup_draft(r, 0, 1, 4, out, 4), 0);
    CHECK_EQ_INT(lookup_draft(NULL, 5, 1, 4, out, 4), 0);
    CHECK_EQ_INT(lookup_draft(r, 5, 1, 4, out, 0), 0);
}

TEST(runs_overlap) {
    /* a run of one token: the tail 2-gram "7 7" occurs one step earlier, overlapping */
    const int32_t h[] = {3, 7, 7, 7};
    int32_t out[4];
    CHECK_EQ_INT(lookup_draft(h, 4, 2, 2, out, 4), 4);
    CHECK_EQ_INT(out[0], 7);
    CHECK_EQ_INT(out[3], 7);
}

int main(void) {
    TEST_EXPECT(5);
    RUN(longest_ngram_wins);
    RUN(most_recent_occurrence);
    RUN(max_out_and_cycles);
    RUN(no_match);
    RUN(runs_overlap);
    return test_summary();
}
