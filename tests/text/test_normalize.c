/* Text normalisation for speech: number words and the readings of money, percentages,
 * units, ordinals, dates and times, in English and Korean. */
#include "test.h"
#include "text/normalize.h"

static void check_norm(const char *lang, const char *in, const char *want, int line) {
    char *got = text_normalize(in, lang);
    if (!got || strcmp(got, want)) {
        t_case_failed = 1;
        t_fail(__FILE__, line, "[%s] \"%s\" -> \"%s\", want \"%s\"", lang ? lang : "null", in, got ? got : "(null)", want);
    }
    free(got);
}
#define N(lang, in, want) check_norm(lang, in, want, __LINE__)

TEST(english_number_words) {
    char b[256];
    text_number_en(b, sizeof b, 0); CHECK_STR(b, "zero");
    text_number_en(b, sizeof b, 13); CHECK_STR(b, "thirteen");
    text_number_en(b, sizeof b, 40); CHECK_STR(b, "forty");
    text_number_en(b, sizeof b, 1234); CHECK_STR(b, "one thousand two hundred thirty-four");
    text_number_en(b, sizeof b, 1000001); CHECK_STR(b, "one million one");
    text_number_en(b, sizeof b, 18446744073709551615ULL);
    CHECK(!strncmp(b, "eighteen quintillion four hundred forty-six quadrillion", 55));
    text_ordinal_en(b, sizeof b, 1); CHECK_STR(b, "first");
    text_ordinal_en(b, sizeof b, 12); CHECK_STR(b, "twelfth");
    text_ordinal_en(b, sizeof b, 20); CHECK_STR(b, "twentieth");
    text_ordinal_en(b, sizeof b, 23); CHECK_STR(b, "twenty-third");
    text_ordinal_en(b, sizeof b, 101); CHECK_STR(b, "one hundred first");
    CHECK_EQ_INT(text_number_en(b, 8, 1234), (int)strlen("one thousand two hundred thirty-four"));
    CHECK_STR(b, "one tho"); /* truncated, still terminated */
}

TEST(english_readings) {
    N("en", "I have 3 cats and 1 dog.", "I have three cats and one dog.");
    N("en", "Pi is 3.14.", "Pi is three point one four.");
    N("en", "1,234,567 people", "one million two hundred thirty-four thousand five hundred sixty-seven people");
    N("en", "It costs $1,234.50 today.", "It costs one thousand two hundred thirty-four dollars and fifty cents today.");
    N("en", "$1 or $0.99", "one dollar or ninety-nine cents");
    N("en", "€5 and ₩1000 and £2.50", "five euros and one thousand won and two pounds and fifty pence");
    N("en", "$1.5 million", "one point five million dollars");
    N("en", "50% off", "fifty percent off");
    N("en", "The 21st century, 2nd place, 3rd, 11th", "The twenty-first century, second place, third, eleventh");
    N("en", "On 2024-03-15.", "On March fifteenth, twenty twenty-four.");
    N("en", "March 15, 1999", "March fifteenth, nineteen ninety-nine");
    N("en", "May 3, 2005", "May third, two thousand five");
    N("en", "at 3:30 pm", "at three thirty p m");
    N("en", "at 9:05am", "at nine oh five a m");
    N("en", "It is 10:00.", "It is ten o'clock.");
    N("en", "5 kg, 1 m, 100 km/h, 20°C, 2 GB", "five kilograms, one meter, one hundred kilometers per hour, twenty degrees Celsius, two gigabytes");
    N("en", "-5 degrees", "minus five degrees");
    N("en", "COVID19", "COVID nineteen");
    N("en", "no digits here.", "no digits here.");
    N(NULL, "7 days", "seven days");
    N("en", "", "");
}

TEST(korean_number_words) {
    char b[256];
    text_number_ko(b, sizeof b, 0); CHECK_STR(b, "영");
    text_number_ko(b, sizeof b, 1); CHECK_STR(b, "일");
    text_number_ko(b, sizeof b, 11); CHECK_STR(b, "십일");
    text_number_ko(b, sizeof b, 1234); CHECK_STR(b, "천이백삼십사");
    text_number_ko(b, sizeof b, 10000); CHECK_STR(b, "만");
    text_number_ko(b, sizeof b, 12345); CHECK_STR(b, "만 이천삼백사십오");
    text_number_ko(b, sizeof b, 100000000); CHECK_STR(b, "일억");
    text_number_ko(b, sizeof b, 305000000); CHECK_STR(b, "삼억 오백만");
    text_native_ko(b, sizeof b, 3, 0); CHECK_STR(b, "셋");
    text_native_ko(b, sizeof b, 3, 1); CHECK_STR(b, "세");
    text_native_ko(b, sizeof b, 20, 1); CHECK_STR(b, "스무");
    text_native_ko(b, sizeof b, 21, 1); CHECK_STR(b, "스물한");
    text_native_ko(b, sizeof b, 99, 0); CHECK_STR(b, "아흔아홉");
}

TEST(korean_readings) {
    N("ko", "1,234원", "천이백삼십사 원");
    N("ko", "가격은 ₩5,000입니다.", "가격은 오천 원입니다.");
    N("ko", "$5", "오 달러");
    N("ko", "3개 2명 20살 1번째", "세 개 두 명 스무 살 첫 번째");
    N("ko", "3:30에 만나요", "세 시 삼십 분에 만나요");
    N("ko", "12시", "열두 시");
    N("ko", "2024-06-15", "이천이십사년 유월 십오일");
    N("ko", "6월 10월 3월", "유월 시월 삼월");
    N("ko", "50%", "오십 퍼센트");
    N("ko", "3.14", "삼 점 일사");
    N("ko", "5 km", "오 킬로미터");
    N("ko-KR", "100달러", "백 달러");
    N("ko", "안녕하세요", "안녕하세요");
}

TEST(other_languages_pass_through) {
    N("fr", "J'ai 3 chats", "J'ai 3 chats");
    N("ja", "3時", "3時");
}

int main(void) {
    TEST_EXPECT(5);
    RUN(english_number_words);
    RUN(english_readings);
    RUN(korean_number_words);
    RUN(korean_readings);
    RUN(other_languages_pass_through);
    return test_summary();
}
