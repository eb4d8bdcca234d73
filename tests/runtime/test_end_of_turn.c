/* The end-of-turn rule on English and Korean transcripts as Whisper writes them: what
 * ends a sentence, what trails off, and what says neither. */
#include "test.h"

#include "runtime/end_of_turn.h"

#define CLS(s) eot_classify((s), strlen(s))
#define EXPECT(s, want) CHECK_MSG(CLS(s) == (want), "\"%s\": %s, expected %s", (s), eot_class_name(CLS(s)), \
                                  eot_class_name(want))

TEST(english_sentence_ends) {
    EXPECT("What time is it in Seoul?", EOT_COMPLETE);
    EXPECT("I would like a coffee, please.", EOT_COMPLETE);
    EXPECT("That's great!", EOT_COMPLETE);
    EXPECT("  He said \"no.\"  ", EOT_COMPLETE);
    EXPECT("Who are you talking to?", EOT_COMPLETE);      /* a question may end with a preposition */
    EXPECT("I think so.", EOT_COMPLETE);
    EXPECT("Can you help me?!", EOT_COMPLETE);
}

TEST(english_trails_off) {
    EXPECT("I went to the store and", EOT_CONTINUE);
    EXPECT("I went to the store and.", EOT_CONTINUE);       /* Whisper's period does not end it */
    EXPECT("So I was thinking, um", EOT_CONTINUE);
    EXPECT("Um.", EOT_CONTINUE);
    EXPECT("Could you tell me the", EOT_CONTINUE);
    EXPECT("I want to go to", EOT_CONTINUE);
    EXPECT("I'd like.", EOT_CONTINUE);
    EXPECT("Well, I was going to say...", EOT_CONTINUE);
    EXPECT("My favorite color is, ", EOT_CONTINUE);
    EXPECT("The weather today is nice but", EOT_CONTINUE);
    EXPECT("Because I'm", EOT_CONTINUE);
    EXPECT("and then I\u2026", EOT_CONTINUE);
    EXPECT("AND", EOT_CONTINUE);
}

TEST(english_unsure) {
    EXPECT("", EOT_UNSURE);
    EXPECT("   ", EOT_UNSURE);
    EXPECT("I went to the store", EOT_UNSURE);
    EXPECT("hello there", EOT_UNSURE);
    EXPECT("...", EOT_CONTINUE);
}

TEST(korean_sentence_ends) {
    EXPECT("서울은 지금 몇 시예요?", EOT_COMPLETE);
    EXPECT("오늘 날씨가 좋네요", EOT_COMPLETE);            /* -요 without punctuation */
    EXPECT("저는 학생입니다", EOT_COMPLETE);                /* -다 */
    EXPECT("이거 맞죠", EOT_COMPLETE);                      /* -죠 */
    EXPECT("내일 뭐 할까", EOT_COMPLETE);                   /* -까 */
    EXPECT("어디로 갑니까", EOT_COMPLETE);                  /* -ㅂ니까: a question, not -니까 */
    EXPECT("밥 먹었니", EOT_COMPLETE);
    EXPECT("같이 가자.", EOT_COMPLETE);
    EXPECT("그렇구나", EOT_COMPLETE);
    EXPECT("어디 가고?", EOT_COMPLETE);                     /* a question mark wins over -고 */
    EXPECT("「좋아요.」", EOT_COMPLETE);
}

TEST(korean_trails_off) {
    EXPECT("어제 친구를 만나서", EOT_CONTINUE);             /* -서 */
    EXPECT("밥을 먹고", EOT_CONTINUE);                      /* -고 */
    EXPECT("밥을 먹고.", EOT_CONTINUE);
    EXPECT("비가 오니까", EOT_CONTINUE);                    /* -니까 (because) */
    EXPECT("제가 어제 갔는데", EOT_CONTINUE);               /* -는데 */
    EXPECT("좋은데", EOT_CONTINUE);                         /* -은데 */
    EXPECT("비싸지만", EOT_CONTINUE);                       /* -지만 */
    EXPECT("시간이 있으면", EOT_CONTINUE);                  /* -면 */
    EXPECT("저는", EOT_CONTINUE);                           /* a topic waiting for its predicate */
    EXPECT("그 책을", EOT_CONTINUE);
    EXPECT("학교에", EOT_CONTINUE);
    EXPECT("날씨가 좋아요 그리고", EOT_CONTINUE);
    EXPECT("그리고.", EOT_CONTINUE);
    EXPECT("음", EOT_CONTINUE);
    EXPECT("그게 음", EOT_CONTINUE);
    EXPECT("커피나 차거나", EOT_CONTINUE);                  /* -거나 */
    EXPECT("내일은,", EOT_CONTINUE);
}

TEST(korean_unsure) {
    EXPECT("좋아", EOT_UNSURE);                             /* casual -아 may end or go on */
    EXPECT("서울", EOT_UNSURE);
}

TEST(odd_bytes_do_not_crash) {
    const char bad[] = {(char)0xEA, (char)0xB0, 0};         /* a cut UTF-8 sequence */
    CHECK(CLS(bad) == EOT_UNSURE);
    const char lone[] = {(char)0x80, (char)0x80, (char)0x80, (char)0x80, '.', 0};
    CHECK(CLS(lone) == EOT_COMPLETE);
    CHECK(eot_classify(NULL, 0) == EOT_UNSURE);
    CHECK(eot_classify("and then", 3) == EOT_CONTINUE);    /* only len bytes count */
    char longw[200];
    memset(longw, 'x', sizeof longw - 2);
    longw[sizeof longw - 2] = '.';
    longw[sizeof longw - 1] = 0;
    CHECK(CLS(longw) == EOT_COMPLETE);
}

TEST(silences_by_class) {
    struct eot_silences s = {120, 280, 800};
    CHECK_EQ_INT(eot_silence_ms(EOT_COMPLETE, &s), 120);
    CHECK_EQ_INT(eot_silence_ms(EOT_UNSURE, &s), 280);
    CHECK_EQ_INT(eot_silence_ms(EOT_CONTINUE, &s), 800);
}

int main(void) {
    TEST_EXPECT(8);
    RUN(english_sentence_ends);
    RUN(english_trails_off);
    RUN(english_unsure);
    RUN(korean_sentence_ends);
    RUN(korean_trails_off);
    RUN(korean_unsure);
    RUN(odd_bytes_do_not_crash);
    RUN(silences_by_class);
    return test_summary();
}
