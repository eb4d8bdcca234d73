/* Chunking (src/knowledge/chunk.c): headings start chunks and name them, chunks stay
 * within the token budget, every sentence lands in some chunk, consecutive chunks of a
 * section overlap by whole sentences, pages are carried, and a huge sentence without
 * punctuation or blanks is cut at character boundaries. */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "knowledge/chunk.h"

static void add(struct kb_doc *d, enum kb_block_kind k, int level, int page, const char *t) {
    REQUIRE(kb_doc_add(d, k, level, page, t, strlen(t)) == 0, "out of memory");
}

TEST(structure_and_citations) {
    struct kb_doc d = {0};
    add(&d, KB_HEADING, 1, 1, "제품 설명서");
    add(&d, KB_PARAGRAPH, 0, 1, "이 설명서는 A1 청소기를 다룹니다.");
    add(&d, KB_HEADING, 2, 1, "1장 설치");
    add(&d, KB_PARAGRAPH, 0, 1, "전원 버튼을 3초간 누르세요. 초록 불이 켜집니다.");
    add(&d, KB_PARAGRAPH, 0, 2, "충전은 4시간 걸립니다.");
    add(&d, KB_HEADING, 2, 2, "2장 보증");
    add(&d, KB_TABLE_ROW, 0, 2, "모델: A1; 보증: 2년");
    struct kb_chunk *c;
    int n;
    struct err e = {{0}};
    REQUIRE(kb_chunk_doc(&d, NULL, &c, &n, &e) == 0, "%s", e.msg);
    REQUIRE(n == 3, "chunks %d", n);
    CHECK_STR(c[0].heading, "제품 설명서");
    CHECK_STR(c[0].text, "이 설명서는 A1 청소기를 다룹니다.");
    CHECK_STR(c[1].heading, "제품 설명서 > 1장 설치");
    CHECK_STR(c[1].text, "전원 버튼을 3초간 누르세요. 초록 불이 켜집니다.\n\n충전은 4시간 걸립니다.");
    CHECK_EQ_INT(c[1].page_first, 1);
    CHECK_EQ_INT(c[1].page_last, 2);
    CHECK_EQ_INT(c[1].block_first, 3);
    CHECK_EQ_INT(c[1].block_last, 4);
    CHECK_STR(c[2].heading, "제품 설명서 > 2장 보증");
    CHECK_STR(c[2].text, "모델: A1; 보증: 2년");
    kb_chunks_free(c, n);
    kb_doc_free(&d);
}

/* counts words as tokens, so budgets are easy to reason about */
static int words(const char *s, size_t n, void *u) {
    (void)u;
    int w = 0, in = 0;
    for (size_t i = 0; i < n; i++) {
        int sp = s[i] == ' ' || s[i] == '\n';
        if (!sp && !in) w++;
        in = !sp;
    }
    return w;
}

TEST(budget_overlap_and_coverage) {
    struct kb_doc d = {0};
    char para[4096] = "";
    for (int i = 0; i < 40; i++) {
        char s[64];
        snprintf(s, sizeof s, "문장 %d 은 다섯 단어입니다. ", i);  /* 5 words each */
        strcat(para, s);
    }
    add(&d, KB_HEADING, 1, 0, "긴 장");
    add(&d, KB_PARAGRAPH, 0, 0, para);
    struct kb_chunk_params p = kb_chunk_default_params();
    p.max_tokens = 32, p.overlap_tokens = 10, p.count = words;
    struct kb_chunk *c;
    int n;
    struct err e = {{0}};
    REQUIRE(kb_chunk_doc(&d, &p, &c, &n, &e) == 0, "%s", e.msg);
    CHECK(n > 5);
    for (int i = 0; i < n; i++) {
        CHECK_MSG(words(c[i].text, strlen(c[i].text), NULL) <= 32, "chunk %d has %d words", i, words(c[i].text, strlen(c[i].text), NULL));
        CHECK_STR(c[i].heading, "긴 장");
    }
    /* every sentence is in some chunk */
    for (int k = 0; k < 40; k++) {
        char s[64];
        snprintf(s, sizeof s, "문장 %d 은 다섯 단어입니다.", k);
        int found = 0;
        for (int i = 0; i < n && !found; i++) found = strstr(c[i].text, s) != NULL;
        CHECK_MSG(found, "sentence %d is in no chunk", k);
    }
    /* consecutive chunks share their boundary sentences (10 words = 2 sentences) */
    for (int i = 0; i + 1 < n; i++) {
        const char *last = c[i].text + strlen(c[i].text);
        while (last > c[i].text && strncmp(last, "문장", strlen("문장"))) last--;
        CHECK_MSG(strstr(c[i + 1].text, last) != NULL, "chunk %d's last sentence is not repeated in chunk %d", i, i + 1);
    }
    kb_chunks_free(c, n);
    kb_doc_free(&d);
}

TEST(oversized_sentence) {
    struct kb_doc d = {0};
    char big[9000];
    size_t k = 0;
    while (k + 3 < sizeof big - 1) memcpy(big + k, "가", 3), k += 3;  /* 2999 Hangul syllables, no blank */
    big[k] = 0;
    add(&d, KB_PARAGRAPH, 0, 0, big);
    struct kb_chunk *c;
    int n;
    struct err e = {{0}};
    REQUIRE(kb_chunk_doc(&d, NULL, &c, &n, &e) == 0, "%s", e.msg);
    CHECK(n >= 7);  /* ~2999 estimated tokens in chunks of at most 400 */
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        CHECK(kb_estimate_tokens(c[i].text, strlen(c[i].text)) <= 400);
        CHECK_EQ_INT(strlen(c[i].text) % 3, 0);  /* whole syllables only */
        CHECK(c[i].heading == NULL);
        total += strlen(c[i].text);
    }
    CHECK(total >= k);  /* nothing lost (overlap may repeat) */
    kb_chunks_free(c, n);
    kb_doc_free(&d);
    CHECK_EQ_INT(kb_estimate_tokens("hello world!", 12), 3);
    CHECK_EQ_INT(kb_estimate_tokens("안녕", 6), 2);
}

int main(void) {
    TEST_EXPECT(3);
    RUN(structure_and_citations);
    RUN(budget_overlap_and_coverage);
    RUN(oversized_sentence);
    return test_summary();
}
