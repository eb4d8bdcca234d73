/* Text extraction for knowledge (src/knowledge/): every format a user uploads, made here
 * at test time (make_docs.h) with Korean content, must come out as the blocks a reader
 * sees -- headings with their level, paragraphs, table rows, PDF page numbers -- and
 * every hostile or broken file must be one clear error: a scan without text, a damaged
 * PDF, a zip bomb, too many entries, invalid UTF-8, a file that is not what its name says. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "make_docs.h"
#include "knowledge/doc.h"

static char g_dir[256];

/* "H1:text|P:text|R:text|" with "@page" after each block when it has one */
static char *blocks(const struct kb_doc *d) {
    size_t cap = 64;
    for (int i = 0; i < d->n; i++) cap += strlen(d->b[i].text) + 16;
    char *s = calloc(1, cap);
    for (int i = 0; s && i < d->n; i++) {
        const struct kb_block *b = &d->b[i];
        size_t l = strlen(s);
        if (b->kind == KB_HEADING) l += (size_t)snprintf(s + l, cap - l, "H%d:", b->level);
        else l += (size_t)snprintf(s + l, cap - l, "%s:", b->kind == KB_PARAGRAPH ? "P" : "R");
        l += (size_t)snprintf(s + l, cap - l, "%s", b->text);
        if (b->page) l += (size_t)snprintf(s + l, cap - l, "@%d", b->page);
        snprintf(s + l, cap - l, "|");
    }
    return s;
}

static char *extract(const void *data, size_t n, enum kb_format f, struct err *e) {
    struct kb_doc d;
    if (kb_extract(data, n, f, NULL, &d, e)) return NULL;
    char *s = blocks(&d);
    kb_doc_free(&d);
    return s;
}

#define EXPECT(data, n, fmt, want) do { struct err _e = {{0}}; char *_s = extract(data, n, fmt, &_e); \
    CHECK_MSG(_s != NULL, "extract failed: %s", _e.msg); if (_s) CHECK_STR(_s, want); free(_s); } while (0)
#define EXPECT_ERR(data, n, fmt, needle) do { struct err _e = {{0}}; char *_s = extract(data, n, fmt, &_e); \
    CHECK_MSG(_s == NULL, "accepted: %s", _s ? _s : ""); free(_s); \
    CHECK_MSG(strstr(_e.msg, needle) != NULL, "message \"%s\" lacks \"%s\"", _e.msg, needle); } while (0)

TEST(text_and_markdown) {
    const char *t = "\xEF\xBB\xBF첫 문단 첫 줄\r\n둘째 줄\r\n\r\n둘째 문단";
    EXPECT(t, strlen(t), KB_TXT, "P:첫 문단 첫 줄\n둘째 줄|P:둘째 문단|");
    const char *md = "# 제품 설명서\n\n소개 문단.\n\n## 1장 설치 ##\n전원을 켜세요.\n\n```\ncode line\n```\n\n| 모델 | 가격 |\n|---|---|\n| A1 | 10,000원 |\n\n보증\n---\n2년입니다.\n";
    EXPECT(md, strlen(md), KB_MD,
           "H1:제품 설명서|P:소개 문단.|H2:1장 설치|P:전원을 켜세요.|P:code line|R:| 모델 | 가격 ||R:| A1 | 10,000원 ||H2:보증|P:2년입니다.|");
}

TEST(encodings) {
    /* "안녕하세요" in CP949, as Korean Windows writes it: converted */
    const char cp949[] = "\xBE\xC8\xB3\xE7\xC7\xCF\xBC\xBC\xBF\xE4";
    EXPECT(cp949, sizeof cp949 - 1, KB_TXT, "P:안녕하세요|");
    /* neither UTF-8 nor CP949: the first bad byte is named */
    const char bad[] = "ok \xFF\xFE\xFD";
    EXPECT_ERR(bad, sizeof bad - 1, KB_TXT, "offset 3");
    EXPECT_ERR("   \n\n  ", 7, KB_TXT, "holds no text");
}

TEST(csv_rows) {
    const char *c = "제품,가격,설명\nA1,\"10,000원\",\"첫 줄\n둘째 줄\"\n,,\nB2,20000,\"따옴표 \"\"인용\"\"\"\n";
    EXPECT(c, strlen(c), KB_CSV, "R:제품: A1; 가격: 10,000원; 설명: 첫 줄\n둘째 줄|R:제품: B2; 가격: 20000; 설명: 따옴표 \"인용\"|");
    const char *semi = "이름;도시\n김철수;서울\n";
    EXPECT(semi, strlen(semi), KB_CSV, "R:이름: 김철수; 도시: 서울|");
    EXPECT_ERR("a,b\n\"open", 9, KB_CSV, "not closed");
}

TEST(html_blocks) {
    const char *h = "<!doctype html><html><head><title>설명서</title><style>p{}</style></head><body>"
                    "<nav>메뉴</nav><h1>제품 안내</h1><p>첫 <b>문단</b>입니다.</p><script>alert(1)</script>"
                    "<div>느슨한 글</div><ul><li>항목 하나</li></ul><h3>표</h3>"
                    "<table><tr><th>모델</th><th>가격</th></tr><tr><td>A1</td><td>10,000원</td></tr></table></body></html>";
    struct kb_doc d;
    struct err e = {{0}};
    REQUIRE(kb_extract(h, strlen(h), KB_HTML, NULL, &d, &e) == 0, "%s", e.msg);
    char *s = blocks(&d);
    CHECK_STR(s, "H1:제품 안내|P:첫 문단입니다.|P:느슨한 글|P:항목 하나|H3:표|R:모델 | 가격|R:A1 | 10,000원|");
    CHECK_STR(d.title, "설명서");
    free(s);
    kb_doc_free(&d);
}

TEST(pdf_headings_pages_paragraphs) {
    char path[512];
    snprintf(path, sizeof path, "%s/manual.pdf", g_dir);
    const struct pdf_line lines[] = {
        {20, "제품 설명서"}, {11, "이 설명서는 설치와 보증을 다룹니다."}, {16, "1장 설치"},
        {11, "전원 버튼을 3초간 누르세요."},
        {11, "초록 불이 켜지면 준비가 끝난 것입니다. 이 문단은 한 줄에 다 들어가지 않을 만큼 길어서 여러 줄로 나뉘어 "
             "찍히지만, 읽는 사람에게는 하나의 문단이므로 추출한 글에서도 하나의 문단이어야 합니다."},
        {0, NULL},
        {16, "2장 보증"}, {11, "보증 기간은 구입일로부터 2년입니다."}, {0, NULL}, {0, NULL},
    };
    REQUIRE(make_pdf(path, lines) == 0, "cannot draw %s", path);
    size_t n;
    char *pdf = slurp(path, &n);
    REQUIRE(pdf, "cannot read %s", path);
    CHECK_EQ_INT(kb_format_detect("x.bin", pdf, n), KB_PDF);
    struct kb_doc d;
    struct err e = {{0}};
    REQUIRE(kb_extract(pdf, n, KB_PDF, NULL, &d, &e) == 0, "%s", e.msg);
    char *s = blocks(&d);
    /* a PDF keeps no spaces at line ends, and Pango wraps Korean between syllables, so a
     * wrapped line may be joined with a space inside a word: compare without spaces */
    for (char *r = s, *w = s;; r++) {
        if (*r != ' ') *w++ = *r;
        if (!*r) break;
    }
    const char *want = "H1:제품 설명서@1|P:이 설명서는 설치와 보증을 다룹니다.@1|H2:1장 설치@1|P:전원 버튼을 3초간 누르세요.@1|"
                 "P:초록 불이 켜지면 준비가 끝난 것입니다. 이 문단은 한 줄에 다 들어가지 않을 만큼 길어서 여러 줄로 나뉘어 "
                 "찍히지만, 읽는 사람에게는 하나의 문단이므로 추출한 글에서도 하나의 문단이어야 합니다.@1|H2:2장 보증@2|P:보증 기간은 구입일로부터 2년입니다.@2|";
    char nospace[2048];
    size_t k = 0;
    for (const char *r = want; *r && k + 1 < sizeof nospace; r++)
        if (*r != ' ') nospace[k++] = *r;
    nospace[k] = 0;
    CHECK_STR(s, nospace);
    CHECK_EQ_INT(d.n_pages, 2);
    free(s);
    kb_doc_free(&d);
    free(pdf);
    unlink(path);
}

TEST(pdf_scans_and_damage) {
    char path[512];
    snprintf(path, sizeof path, "%s/scan.pdf", g_dir);
    const struct pdf_line scan[] = {{0, ""}, {0, NULL}, {0, NULL}};
    REQUIRE(make_pdf(path, scan) == 0, "cannot draw %s", path);
    size_t n;
    char *pdf = slurp(path, &n);
    REQUIRE(pdf, "cannot read %s", path);
    EXPECT_ERR(pdf, n, KB_PDF, "no text layer");
    /* cut in half: poppler's error, said plainly */
    EXPECT_ERR(pdf, n / 2, KB_PDF, "could not be read");
    free(pdf);
    unlink(path);
    EXPECT_ERR("%PDF-1.7\ngarbage", 16, KB_PDF, "could not be read");
    EXPECT_ERR("PK\3\4 not a pdf", 14, KB_PDF, "not a PDF");
    struct kb_limits lim = kb_default_limits();
    lim.max_file = 10;
    struct kb_doc d;
    struct err e = {{0}};
    CHECK(kb_extract("%PDF-1.7 0123456789", 19, KB_PDF, &lim, &d, &e) == -1);
    CHECK(strstr(e.msg, "at most") != NULL);
}

static const char *DOCX_DOC =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>"
    "<w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body>"
    "<w:p><w:pPr><w:pStyle w:val=\"1\"/></w:pPr><w:r><w:t>제품 설명서</w:t></w:r></w:p>"
    "<w:p><w:r><w:t xml:space=\"preserve\">전원 버튼을 </w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>3초간</w:t></w:r>"
    "<w:r><w:t xml:space=\"preserve\"> 누르세요.</w:t></w:r></w:p>"
    "<w:p><w:pPr><w:outlineLvl w:val=\"1\"/></w:pPr><w:r><w:t>보증</w:t></w:r></w:p>"
    "<w:tbl><w:tr><w:tc><w:p><w:r><w:t>모델</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>기간</w:t></w:r></w:p></w:tc></w:tr>"
    "<w:tr><w:tc><w:p><w:r><w:t>A1</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>2년</w:t></w:r></w:p></w:tc></w:tr></w:tbl>"
    "</w:body></w:document>";
static const char *DOCX_STYLES =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><w:styles xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">"
    "<w:style w:type=\"paragraph\" w:styleId=\"1\"><w:name w:val=\"heading 1\"/></w:style>"
    "<w:style w:type=\"paragraph\" w:styleId=\"a\"><w:name w:val=\"Normal\"/></w:style></w:styles>";

TEST(docx) {
    char path[512];
    snprintf(path, sizeof path, "%s/manual.docx", g_dir);
    const struct zip_part parts[] = {{"[Content_Types].xml", "<Types/>", 0}, {"word/document.xml", DOCX_DOC, 0},
                                     {"word/styles.xml", DOCX_STYLES, 0}};
    REQUIRE(make_zip(path, parts, 3) == 0, "cannot write %s", path);
    size_t n;
    char *z = slurp(path, &n);
    REQUIRE(z, "cannot read %s", path);
    CHECK_EQ_INT(kb_format_detect("설명서.docx", z, n), KB_DOCX);
    CHECK_EQ_INT(kb_format_detect(NULL, z, n), KB_DOCX);
    EXPECT(z, n, KB_DOCX, "H1:제품 설명서|P:전원 버튼을 3초간 누르세요.|H2:보증|R:모델 | 기간|R:A1 | 2년|");
    EXPECT_ERR(z, n, KB_HWPX, "section0.xml is missing");
    free(z);
    unlink(path);
}

TEST(hwpx) {
    char path[512];
    snprintf(path, sizeof path, "%s/manual.hwpx", g_dir);
    const char *header = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><hh:head xmlns:hh=\"http://www.hancom.co.kr/hwpml/2011/head\">"
                         "<hh:refList><hh:styles><hh:style id=\"0\" type=\"PARA\" name=\"바탕글\" engName=\"Normal\"/>"
                         "<hh:style id=\"2\" type=\"PARA\" name=\"개요 1\" engName=\"Outline 1\"/>"
                         "<hh:style id=\"3\" type=\"PARA\" name=\"개요 2\" engName=\"Outline 2\"/></hh:styles></hh:refList></hh:head>";
    const char *ns = "xmlns:hs=\"http://www.hancom.co.kr/hwpml/2011/section\" xmlns:hp=\"http://www.hancom.co.kr/hwpml/2011/paragraph\"";
    char s0[2048], s1[1024];
    snprintf(s0, sizeof s0,
             "<?xml version=\"1.0\" encoding=\"UTF-8\"?><hs:sec %s>"
             "<hp:p styleIDRef=\"2\"><hp:run><hp:t>1장. 설치</hp:t></hp:run></hp:p>"
             "<hp:p styleIDRef=\"0\"><hp:run><hp:t>전원 버튼을 </hp:t><hp:t>3초간 누르세요.</hp:t></hp:run></hp:p>"
             "<hp:p styleIDRef=\"0\"><hp:run><hp:tbl><hp:tr><hp:tc><hp:subList><hp:p><hp:run><hp:t>모델</hp:t></hp:run></hp:p>"
             "</hp:subList></hp:tc><hp:tc><hp:subList><hp:p><hp:run><hp:t>가격</hp:t></hp:run></hp:p></hp:subList></hp:tc>"
             "</hp:tr></hp:tbl></hp:run></hp:p></hs:sec>", ns);
    snprintf(s1, sizeof s1,
             "<?xml version=\"1.0\" encoding=\"UTF-8\"?><hs:sec %s><hp:p styleIDRef=\"3\"><hp:run><hp:t>보증</hp:t></hp:run></hp:p>"
             "<hp:p styleIDRef=\"0\"><hp:run><hp:t>보증 기간은 2년입니다.</hp:t></hp:run></hp:p></hs:sec>", ns);
    const struct zip_part parts[] = {{"mimetype", "application/hwp+zip", 0}, {"Contents/header.xml", header, 0},
                                     {"Contents/section0.xml", s0, 0}, {"Contents/section1.xml", s1, 0}};
    REQUIRE(make_zip(path, parts, 4) == 0, "cannot write %s", path);
    size_t n;
    char *z = slurp(path, &n);
    REQUIRE(z, "cannot read %s", path);
    CHECK_EQ_INT(kb_format_detect(NULL, z, n), KB_HWPX);
    EXPECT(z, n, KB_HWPX, "H1:1장. 설치|P:전원 버튼을 3초간 누르세요.|R:모델 | 가격|H2:보증|P:보증 기간은 2년입니다.|");
    free(z);
    unlink(path);
}

TEST(hostile_archives) {
    char path[512];
    snprintf(path, sizeof path, "%s/bomb.docx", g_dir);

    size_t big = 16u << 20;  /* zeros: they deflate about 1000 times */
    char *zeros = calloc(1, big);
    REQUIRE(zeros, "out of memory");
    const struct zip_part bomb[] = {{"word/document.xml", zeros, big}};
    REQUIRE(make_zip(path, bomb, 1) == 0, "cannot write %s", path);
    free(zeros);
    size_t n;
    char *z = slurp(path, &n);
    REQUIRE(z, "cannot read %s", path);
    EXPECT_ERR(z, n, KB_DOCX, "zip bomb");
    free(z);
    /* broken XML, a missing part, not a zip at all, too many entries */
    const struct zip_part broken[] = {{"word/document.xml", "<w:document><w:body><w:p>", 0}};
    REQUIRE(make_zip(path, broken, 1) == 0, "cannot write %s", path);
    z = slurp(path, &n);
    REQUIRE(z, "cannot read %s", path);
    EXPECT_ERR(z, n, KB_DOCX, "not well-formed XML");
    free(z);
    const struct zip_part other[] = {{"readme.txt", "hello", 0}};
    REQUIRE(make_zip(path, other, 1) == 0, "cannot write %s", path);
    z = slurp(path, &n);
    REQUIRE(z, "cannot read %s", path);
    EXPECT_ERR(z, n, KB_DOCX, "word/document.xml is missing");
    CHECK_EQ_INT(kb_format_detect(NULL, z, n), -1);
    struct kb_limits lim = kb_default_limits();
    lim.max_entries = 0;
    struct kb_doc d;
    struct err e = {{0}};
    CHECK(kb_extract(z, n, KB_DOCX, &lim, &d, &e) == -1 && strstr(e.msg, "entries"));
    free(z);
    EXPECT_ERR("not a zip", 9, KB_DOCX, "not a readable zip");
    unlink(path);
}

TEST(format_detection) {
    CHECK_EQ_INT(kb_format_detect("a.md", "# x", 3), KB_MD);
    CHECK_EQ_INT(kb_format_detect("a.CSV", "a,b", 3), KB_CSV);
    CHECK_EQ_INT(kb_format_detect("page.htm", "<p>", 3), KB_HTML);
    CHECK_EQ_INT(kb_format_detect(NULL, "  <!DOCTYPE html><p>", 20), KB_HTML);
    CHECK_EQ_INT(kb_format_detect(NULL, "just words", 10), KB_TXT);
    CHECK_EQ_INT(kb_format_detect("photo.jpg", "\xFF\xD8\xFF", 3), -1);
    CHECK_STR(kb_format_name(KB_HWPX), "hwpx");
}

int main(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/omni-test-kb-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
        fprintf(stderr, "cannot create a temporary folder %s\n", g_dir);
        return 1;
    }
    TEST_EXPECT(10);
    RUN(text_and_markdown);
    RUN(encodings);
    RUN(csv_rows);
    RUN(html_blocks);
    RUN(pdf_headings_pages_paragraphs);
    RUN(pdf_scans_and_damage);
    RUN(docx);
    RUN(hwpx);
    RUN(hostile_archives);
    RUN(format_detection);
    rmdir(g_dir);
    return test_summary();
}
