/* XLSX for the data-analysis tool: a workbook written here with libzip (two sheets,
 * shared strings with a rich run, an inline string, numbers, a boolean, a cached formula
 * string, an error, a gap in a row) read as the expected CSV and queried in SQLite; a
 * sheet by name; not-a-zip, a zip without a workbook, a missing sheet and a zip bomb
 * refused with clear errors. */
#include <zip.h>

#include "test.h"
#include "tools/sqltool.h"
#include "tools/xlsx.h"

static const char *WORKBOOK =
    "<?xml version=\"1.0\"?><workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" "
    "xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\"><sheets>"
    "<sheet name=\"메모\" sheetId=\"1\" r:id=\"rId2\"/><sheet name=\"매출\" sheetId=\"2\" r:id=\"rId1\"/></sheets></workbook>";
static const char *RELS =
    "<?xml version=\"1.0\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
    "<Relationship Id=\"rId1\" Type=\"ws\" Target=\"worksheets/sheet1.xml\"/>"
    "<Relationship Id=\"rId2\" Type=\"ws\" Target=\"/xl/worksheets/sheet2.xml\"/></Relationships>";
static const char *STRINGS =
    "<?xml version=\"1.0\"?><sst xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">"
    "<si><t>지역</t></si><si><t>매출</t></si><si><r><t>서</t></r><r><t>울</t></r><rPh><t>ソウル</t></rPh></si>"
    "<si><t xml:space=\"preserve\">부산 \"항구\"</t></si></sst>";
static const char *SHEET1 =
    "<?xml version=\"1.0\"?><worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>"
    "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"B1\" t=\"s\"><v>1</v></c><c r=\"C1\" t=\"inlineStr\"><is><t>확인</t></is></c>"
    "<c r=\"D1\" t=\"inlineStr\"><is><t>비고</t></is></c></row>"
    "<row r=\"2\"><c r=\"A2\" t=\"s\"><v>2</v></c><c r=\"B2\"><v>1200.5</v></c><c r=\"C2\" t=\"b\"><v>1</v></c>"
    "<c r=\"D2\" t=\"str\"><f>A2&amp;\"!\"</f><v>서울!</v></c></row>"
    "<row r=\"3\"><c r=\"A3\" t=\"s\"><v>3</v></c><c r=\"C3\" t=\"b\"><v>0</v></c><c r=\"D3\" t=\"e\"><v>#DIV/0!</v></c></row>"
    "<row r=\"4\"><c r=\"A4\" t=\"s\"><v>2</v></c><c r=\"B4\"><v>300</v></c></row>"
    "</sheetData></worksheet>";
static const char *SHEET2 =
    "<?xml version=\"1.0\"?><worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>"
    "<row r=\"1\"><c r=\"B1\" t=\"inlineStr\"><is><t>note</t></is></c></row></sheetData></worksheet>";

/* Writes the named parts into a zip; returns its bytes (malloc'ed). */
static unsigned char *make_zip(const char *const *names, const char *const *data, const size_t *lens, int n, size_t *len) {
    char path[] = "/tmp/omni_test_xlsx_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return NULL;
    close(fd);
    int ze = 0;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &ze);
    if (!z) { unlink(path); return NULL; }
    for (int i = 0; i < n; i++) {
        zip_source_t *s = zip_source_buffer(z, data[i], lens ? lens[i] : strlen(data[i]), 0);
        if (!s || zip_file_add(z, names[i], s, ZIP_FL_ENC_UTF_8) < 0) { zip_discard(z); unlink(path); return NULL; }
    }
    if (zip_close(z)) { unlink(path); return NULL; }
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    if (f) {
        fseek(f, 0, SEEK_END);
        long sz = ftell(f);
        fseek(f, 0, SEEK_SET);
        buf = malloc((size_t)sz);
        if (buf && fread(buf, 1, (size_t)sz, f) != (size_t)sz) { free(buf); buf = NULL; }
        *len = (size_t)sz;
        fclose(f);
    }
    unlink(path);
    return buf;
}

static unsigned char *workbook(size_t *len) {
    const char *names[] = {"[Content_Types].xml", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/sharedStrings.xml",
                           "xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml"};
    const char *data[] = {"<Types/>", WORKBOOK, RELS, STRINGS, SHEET1, SHEET2};
    return make_zip(names, data, NULL, 6, len);
}

TEST(sheet_as_csv_and_sql) {
    size_t len = 0;
    unsigned char *x = workbook(&len);
    REQUIRE(x, "the test workbook is written");
    char *csv = NULL, err[300] = "";
    size_t n = 0;
    REQUIRE(xlsx_to_csv(x, len, "매출", &csv, &n, err, sizeof err) == 0, "%s", err);
    CHECK_STR(csv, "\"지역\",\"매출\",\"확인\",\"비고\"\n"
                   "\"서울\",\"1200.5\",\"TRUE\",\"서울!\"\n"
                   "\"부산 \"\"항구\"\"\",\"\",\"FALSE\",\"\"\n"
                   "\"서울\",\"300\",\"\",\"\"\n");
    CHECK_EQ_INT(n, strlen(csv));
    sql_db *d = NULL;
    REQUIRE(sql_db_open(&d, NULL, err, sizeof err) == 0, "%s", err);
    REQUIRE(sql_db_load_csv(d, "sales", csv, n, err, sizeof err) == 0, "%s", err);
    cJSON *r = NULL;
    REQUIRE(sql_db_query(d, "SELECT 지역, sum(매출) FROM sales GROUP BY 지역 ORDER BY 1", &r, err, sizeof err) == 0, "%s", err);
    char *rows = cJSON_PrintUnformatted(cJSON_GetObjectItem(r, "rows"));
    CHECK_STR(rows, "[[\"부산 \\\"항구\\\"\",null],[\"서울\",1500.5]]");
    free(rows);
    cJSON_Delete(r);
    sql_db_close(d);
    free(csv);
    /* the first sheet by default: 메모 (the workbook's order, not the part's name) */
    REQUIRE(xlsx_to_csv(x, len, NULL, &csv, &n, err, sizeof err) == 0, "%s", err);
    CHECK_STR(csv, "\"\",\"note\"\n");
    free(csv);
    CHECK(xlsx_to_csv(x, len, "없음", &csv, &n, err, sizeof err) == -1 && strstr(err, "no sheet named '없음'"));
    free(x);
}

TEST(hostile_files) {
    char *csv = NULL, err[300] = "";
    size_t n = 0;
    CHECK(xlsx_to_csv("not a zip", 9, NULL, &csv, &n, err, sizeof err) == -1 && strstr(err, "not a readable zip"));
    const char *names[] = {"hello.txt"};
    const char *data[] = {"hi"};
    size_t len = 0;
    unsigned char *z = make_zip(names, data, NULL, 1, &len);
    REQUIRE(z, "zip");
    CHECK(xlsx_to_csv(z, len, NULL, &csv, &n, err, sizeof err) == -1 && strstr(err, "no xl/workbook.xml"));
    free(z);
    /* a bomb: 8 MB of zeros compresses about 1000 times */
    size_t big = 8u << 20;
    char *zeros = calloc(1, big);
    REQUIRE(zeros, "memory");
    const char *bn[] = {"xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/worksheets/sheet1.xml"};
    const char *bd[] = {WORKBOOK, RELS, zeros};
    size_t bl[] = {strlen(WORKBOOK), strlen(RELS), big};
    z = make_zip(bn, bd, bl, 3, &len);
    free(zeros);
    REQUIRE(z, "zip");
    CHECK(len < big / 50);
    err[0] = 0;
    CHECK_MSG(xlsx_to_csv(z, len, "매출", &csv, &n, err, sizeof err) == -1 && strstr(err, "zip bomb"), "%s", err);
    free(z);
    /* broken XML in the sheet */
    const char *xd[] = {WORKBOOK, RELS, "<worksheet><sheetData><row>"};
    z = make_zip(bn, xd, NULL, 3, &len);
    REQUIRE(z, "zip");
    CHECK_MSG(xlsx_to_csv(z, len, "매출", &csv, &n, err, sizeof err) == -1 && strstr(err, "not well-formed"), "%s", err);
    free(z);
}

int main(void) {
    TEST_EXPECT(2);
    RUN(sheet_as_csv_and_sql);
    RUN(hostile_files);
    return test_summary();
}
