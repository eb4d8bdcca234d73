/* The PII detectors (src/moderation/pii.c) on Korean and English text: what they must
 * find, what they must leave alone (order numbers, dates, a card number failing Luhn, an
 * impossible birth date), and spans that never overlap. */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "moderation/pii.h"

/* The spans of kinds in mask found in text, as "kind:text;" joined. */
static char *found(const char *text, unsigned mask) {
    struct pii_match *m;
    int n;
    struct err e = {{0}};
    if (pii_find(text, strlen(text), mask, &m, &n, &e)) return NULL;
    size_t cap = 64 + strlen(text) * 2 + (size_t)n * 16;
    char *s = calloc(1, cap);
    for (int i = 0; s && i < n; i++) {
        size_t l = strlen(s);
        snprintf(s + l, cap - l, "%s:%.*s;", pii_kind_name(m[i].kind), (int)m[i].len, text + m[i].start);
    }
    free(m);
    return s;
}

#define EXPECT(text, mask, want) do { char *_f = found(text, mask); CHECK_STR(_f, want); free(_f); } while (0)

TEST(emails) {
    EXPECT("문의는 help.desk+kr@example.co.kr 로 보내주세요.", PII_ALL, "email:help.desk+kr@example.co.kr;");
    EXPECT("메일: 김철수@회사.한국", PII_ALL, "email:김철수@회사.한국;");
    EXPECT("not an address: a@b, @handle, x@y.z", PII_ALL, "");
}

TEST(phones) {
    EXPECT("연락처 010-1234-5678, 사무실 02-123-4567", PII_ALL, "phone:010-1234-5678;phone:02-123-4567;");
    EXPECT("call +82 10 9876 5432 or (555) 123-4567", PII_ALL, "phone:+82 10 9876 5432;phone:(555) 123-4567;");
    EXPECT("01098765432", PII_ALL, "phone:01098765432;");
    /* order numbers and dates are not phones */
    EXPECT("주문번호 2024-1201, 날짜 2026-12-02", PII_ALL, "");
}

TEST(cards_need_luhn) {
    CHECK(pii_luhn_ok("4111111111111111", 16));
    CHECK(!pii_luhn_ok("4111111111111112", 16));
    CHECK(!pii_luhn_ok("411111111111", 12));
    EXPECT("카드 4111 1111 1111 1111 결제", PII_ALL, "card:4111 1111 1111 1111;");
    EXPECT("card 5500-0000-0000-0004.", PII_ALL, "card:5500-0000-0000-0004;");
    EXPECT("tracking 4111 1111 1111 1112", PII_BIT(PII_CARD), "");
}

TEST(korean_resident_numbers) {
    CHECK(pii_kr_rrn_ok("9001011234567"));
    CHECK(pii_kr_rrn_ok("0402294123456"));   /* 2004-02-29 exists */
    CHECK(pii_kr_rrn_ok("0002294123456"));   /* 2000-02-29 exists too (the 400-year rule) */
    CHECK(!pii_kr_rrn_ok("9002291234567"));  /* 1990-02-29 does not */
    CHECK(!pii_kr_rrn_ok("9013011234567"));  /* month 13 */
    CHECK(!pii_kr_rrn_ok("9001019234567"));  /* 7th digit 9 */
    EXPECT("주민등록번호 900101-1234567 입니다", PII_ALL, "kr_rrn:900101-1234567;");
    EXPECT("주민번호: 0402294123456", PII_BIT(PII_KR_RRN), "kr_rrn:0402294123456;");
    EXPECT("900231-1234567", PII_BIT(PII_KR_RRN), "");
}

TEST(mask_and_order) {
    const char *t = "a@b.com 010-1111-2222 4111111111111111 900101-1234567";
    EXPECT(t, PII_ALL, "email:a@b.com;phone:010-1111-2222;card:4111111111111111;kr_rrn:900101-1234567;");
    EXPECT(t, PII_BIT(PII_EMAIL), "email:a@b.com;");
    EXPECT(t, 0, "");
    /* the RRN's digits are not also reported as a phone */
    EXPECT("9001011234567", PII_ALL, "kr_rrn:9001011234567;");
}

TEST(hostile_input_is_safe) {
    /* invalid UTF-8, NUL-free binary noise and a long digit run: no crash, sane answers */
    char bad[] = "\xff\xfe 010-1234-5678 \xc3\x28 a@b.co \xe2\x82";
    EXPECT(bad, PII_ALL, "phone:010-1234-5678;email:a@b.co;");
    size_t n = 200000;
    char *big = malloc(n + 1);
    REQUIRE(big, "out of memory");
    for (size_t i = 0; i < n; i++) big[i] = (char)('0' + i % 10);
    big[n] = 0;
    struct pii_match *m;
    int k;
    struct err e = {{0}};
    CHECK(pii_find(big, n, PII_ALL, &m, &k, &e) == 0);
    CHECK_EQ_INT(k, 0);  /* one digit run of 200000 is no card, phone or RRN */
    free(m);
    free(big);
    CHECK_EQ_INT(pii_kind_parse("card"), PII_CARD);
    CHECK_EQ_INT(pii_kind_parse("ssn"), -1);
}

int main(void) {
    TEST_EXPECT(6);
    RUN(emails);
    RUN(phones);
    RUN(cards_need_luhn);
    RUN(korean_resident_numbers);
    RUN(mask_and_order);
    RUN(hostile_input_is_safe);
    return test_summary();
}
