/* Keyword ranking (src/knowledge/keyword.c): Korean terms match through their trigrams
 * (an inflected form still finds the passage), short terms as substrings, ASCII case is
 * ignored, a rare word outweighs a common one, passages without any query gram are left
 * out, ties keep the passage order, and the cap holds. */
#include <string.h>

#include "knowledge/keyword.h"
#include "test.h"

static const char *const P[] = {
    "가습기를 평평한 바닥에 두고 전원 어댑터를 연결하세요.",
    "항균 필터는 여섯 달마다 새것으로 교체해야 합니다.",
    "물통은 일주일에 한 번 구연산 용액으로 세척하세요.",
    "If the display blinks RED, refill the water tank.",
    "The warranty lasts two years. Keep the receipt.",
};
enum { N = sizeof P / sizeof *P };

TEST(korean_trigrams) {
    struct kb_hit h[N];
    int m = kb_keyword_rank("필터 교체하기", P, N, h, N);
    REQUIRE(m >= 1, "a hit");
    CHECK_EQ_INT(h[0].id, 1);
    m = kb_keyword_rank("구연산으로 세척", P, N, h, N);
    REQUIRE(m >= 1, "a hit");
    CHECK_EQ_INT(h[0].id, 2);
    /* 1-2 character terms: substrings */
    m = kb_keyword_rank("물통", P, N, h, N);
    CHECK_EQ_INT(m, 1);
    CHECK_EQ_INT(h[0].id, 2);
}

TEST(english_case_and_idf) {
    struct kb_hit h[N];
    int m = kb_keyword_rank("display red", P, N, h, N);
    REQUIRE(m >= 1, "a hit");
    CHECK_EQ_INT(h[0].id, 3);
    /* "the" is in three passages, "receipt" in one: the rare word decides */
    m = kb_keyword_rank("the receipt", P, N, h, N);
    REQUIRE(m >= 2, "hits");
    CHECK_EQ_INT(h[0].id, 4);
    for (int i = 1; i < m; i++) CHECK(h[i].score <= h[i - 1].score);
}

TEST(nothing_and_cap) {
    struct kb_hit h[N];
    CHECK_EQ_INT(kb_keyword_rank("zzzz qqq", P, N, h, N), 0);
    CHECK_EQ_INT(kb_keyword_rank("", P, N, h, N), 0);
    CHECK_EQ_INT(kb_keyword_rank("   ,,, ", P, N, h, N), 0);
    CHECK_EQ_INT(kb_keyword_rank("the", P, 0, h, N), 0);
    int m = kb_keyword_rank("the", P, N, h, 1);
    CHECK_EQ_INT(m, 1);
    CHECK_EQ_INT(h[0].id, 3);   /* equal scores: the earlier passage first */
}

int main(void) {
    TEST_EXPECT(3);
    RUN(korean_trigrams);
    RUN(english_case_and_idf);
    RUN(nothing_and_cap);
    return test_summary();
}
