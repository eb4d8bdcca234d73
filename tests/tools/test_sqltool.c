/* The data-analysis tool's database: a Korean sales CSV loaded and queried, each result
 * compared with SQLite's own on the same query over the same rows inserted directly
 * (not through our CSV reader); hostile SQL (ATTACH, load_extension, writes, PRAGMA,
 * VACUUM INTO, several statements, an endless recursive CTE, a giant blob) refused or
 * stopped with a clear error; malformed and oversized CSV refused; the chart spec. */
#include <sqlite3.h>

#include "test.h"
#include "tools/sqltool.h"

static const char *CSV =
    "\xEF\xBB\xBF" "지역,제품,매출,수량,날짜\r\n"
    "서울,사과,1200,3,2026-01-05\r\n"
    "부산,배,800,2,2026-01-06\r\n"
    "서울,\"배, 특품\",1500.5,1,2026-01-07\r\n"
    "대구,사과,,4,2026-02-01\r\n"
    "부산,\"말하기 \"\"좋은\"\" 귤\",300,10,2026-02-03\r\n"
    "서울,사과,2400,6,2026-02-10\r\n";

/* The same rows, inserted by hand into a plain SQLite table. */
static sqlite3 *reference_db(void) {
    sqlite3 *db = NULL;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) return NULL;
    const char *sql =
        "CREATE TABLE sales(\"지역\" TEXT, \"제품\" TEXT, \"매출\" REAL, \"수량\" INTEGER, \"날짜\" TEXT);"
        "INSERT INTO sales VALUES('서울','사과',1200,3,'2026-01-05'),('부산','배',800,2,'2026-01-06'),"
        "('서울','배, 특품',1500.5,1,'2026-01-07'),('대구','사과',NULL,4,'2026-02-01'),"
        "('부산','말하기 \"좋은\" 귤',300,10,'2026-02-03'),('서울','사과',2400,6,'2026-02-10');";
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) { sqlite3_close(db); return NULL; }
    return db;
}

/* SQLite's answer to sql as the same JSON shape (columns, rows). */
static cJSON *reference_result(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) return NULL;
    cJSON *r = cJSON_CreateObject(), *cols = cJSON_AddArrayToObject(r, "columns"), *rows = cJSON_AddArrayToObject(r, "rows");
    int nc = sqlite3_column_count(st);
    for (int k = 0; k < nc; k++) cJSON_AddItemToArray(cols, cJSON_CreateString(sqlite3_column_name(st, k)));
    while (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *row = cJSON_CreateArray();
        for (int k = 0; k < nc; k++) {
            int t = sqlite3_column_type(st, k);
            if (t == SQLITE_INTEGER) cJSON_AddItemToArray(row, cJSON_CreateNumber((double)sqlite3_column_int64(st, k)));
            else if (t == SQLITE_FLOAT) cJSON_AddItemToArray(row, cJSON_CreateNumber(sqlite3_column_double(st, k)));
            else if (t == SQLITE_TEXT) cJSON_AddItemToArray(row, cJSON_CreateString((const char *)sqlite3_column_text(st, k)));
            else cJSON_AddItemToArray(row, cJSON_CreateNull());
        }
        cJSON_AddItemToArray(rows, row);
    }
    sqlite3_finalize(st);
    return r;
}

static sql_db *sales_db(void) {
    sql_db *d = NULL;
    char err[300];
    if (sql_db_open(&d, NULL, err, sizeof err)) return NULL;
    if (sql_db_load_csv(d, "sales", CSV, strlen(CSV), err, sizeof err)) {
        fprintf(stderr, "load: %s\n", err);
        sql_db_close(d);
        return NULL;
    }
    return d;
}

TEST(korean_queries_match_sqlite) {
    sql_db *d = sales_db();
    sqlite3 *ref = reference_db();
    REQUIRE(d && ref, "the sales table loads");
    static const char *const queries[] = {
        "SELECT 지역, sum(매출) AS 합계, count(*) AS n FROM sales GROUP BY 지역 ORDER BY 합계 DESC",
        "SELECT * FROM sales ORDER BY 날짜",
        "SELECT 제품, avg(수량) FROM sales WHERE 지역 = '서울' GROUP BY 제품 ORDER BY 제품",
        "SELECT substr(날짜, 1, 7) AS 월, sum(매출 * 1.0) FROM sales GROUP BY 월 ORDER BY 월",
        "SELECT count(*) FROM sales WHERE 매출 IS NULL",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) SELECT i, i * i FROM n",
        "SELECT 제품 FROM sales WHERE 제품 LIKE '%\"좋은\"%'",
    };
    for (size_t q = 0; q < sizeof queries / sizeof *queries; q++) {
        cJSON *ours = NULL, *theirs = reference_result(ref, queries[q]);
        char err[300] = "";
        int rc = sql_db_query(d, queries[q], &ours, err, sizeof err);
        CHECK_MSG(rc == 0, "query %zu: %s", q, err);
        CHECK_MSG(theirs != NULL, "reference query %zu", q);
        if (!rc && theirs) {
            CHECK_MSG(cJSON_Compare(cJSON_GetObjectItem(ours, "columns"), cJSON_GetObjectItem(theirs, "columns"), 1),
                      "query %zu columns", q);
            CHECK_MSG(cJSON_Compare(cJSON_GetObjectItem(ours, "rows"), cJSON_GetObjectItem(theirs, "rows"), 1),
                      "query %zu rows: %s", q, cJSON_PrintUnformatted(cJSON_GetObjectItem(ours, "rows")));
            CHECK(cJSON_IsFalse(cJSON_GetObjectItem(ours, "truncated")));
        }
        cJSON_Delete(ours);
        cJSON_Delete(theirs);
    }
    /* the column types inferred from the cells */
    char *desc = sql_db_describe(d);
    REQUIRE(desc, "describe");
    CHECK_MSG(strstr(desc, "\"sales\"(\"지역\" TEXT, \"제품\" TEXT, \"매출\" REAL, \"수량\" INTEGER, \"날짜\" TEXT) -- 6 rows"),
              "describe: %s", desc);
    free(desc);
    sqlite3_close(ref);
    sql_db_close(d);
}

TEST(result_text_and_row_limit) {
    struct sql_limits lim = sql_default_limits();
    lim.max_rows = 3;
    sql_db *d = NULL;
    char err[300];
    REQUIRE(sql_db_open(&d, &lim, err, sizeof err) == 0, "%s", err);
    REQUIRE(sql_db_load_csv(d, "sales", CSV, strlen(CSV), err, sizeof err) == 0, "%s", err);
    cJSON *r = NULL;
    REQUIRE(sql_db_query(d, "SELECT 지역, 매출 FROM sales ORDER BY rowid", &r, err, sizeof err) == 0, "%s", err);
    CHECK_EQ_INT(cJSON_GetObjectItem(r, "row_count")->valueint, 3);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(r, "truncated")));
    char *t = sql_result_text(r, 4096);
    REQUIRE(t, "text");
    CHECK_MSG(!strncmp(t, "지역 | 매출\n서울 | 1200\n부산 | 800\n서울 | 1500.5\n", strlen("지역 | 매출\n서울 | 1200\n부산 | 800\n서울 | 1500.5\n")),
              "text: %s", t);
    CHECK(strstr(t, "row limit") != NULL);
    free(t);
    t = sql_result_text(r, 20);   /* the byte cap */
    CHECK(t && strlen(t) < 120 && strstr(t, "3 more rows not shown"));
    free(t);
    cJSON_Delete(r);
    sql_db_close(d);
    /* the rows' bytes: 1000 rows of 100 kB would be 100 MB; the result stops at 1 MB */
    lim = sql_default_limits();
    lim.max_result_bytes = 1u << 20;
    REQUIRE(sql_db_open(&d, &lim, err, sizeof err) == 0, "%s", err);
    REQUIRE(sql_db_query(d, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) "
                            "SELECT i, printf('%.*c', 100000, 'x') FROM n", &r, err, sizeof err) == 0, "%s", err);
    CHECK_EQ_INT(cJSON_GetObjectItem(r, "row_count")->valueint, 10);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(r, "truncated")));
    cJSON_Delete(r);
    sql_db_close(d);
}

TEST(hostile_sql_is_refused_or_stopped) {
    struct sql_limits lim = sql_default_limits();
    lim.max_steps = 2000000;       /* deterministic: a count of SQLite VM steps */
    lim.timeout_ms = 60000;        /* the deadline stays far away: the step budget stops it */
    sql_db *d = NULL;
    char err[300];
    REQUIRE(sql_db_open(&d, &lim, err, sizeof err) == 0, "%s", err);
    REQUIRE(sql_db_load_csv(d, "sales", CSV, strlen(CSV), err, sizeof err) == 0, "%s", err);
    static const struct { const char *sql, *want; } cases[] = {
        {"ATTACH DATABASE '/tmp/x.db' AS x", "refused"},
        {"ATTACH ':memory:' AS m", "refused"},
        {"SELECT load_extension('/tmp/evil.so')", "load_extension"},
        {"INSERT INTO sales VALUES('x','y',1,1,'z')", "read-only"},
        {"DELETE FROM sales", "read-only"},
        {"UPDATE sales SET 매출 = 0", "read-only"},
        {"DROP TABLE sales", "read-only"},
        {"CREATE TABLE t(x)", "read-only"},
        {"PRAGMA writable_schema = 1", "refused"},
        {"VACUUM INTO '/tmp/copy.db'", "refused"},
        {"SELECT 1; DELETE FROM sales", "one statement"},
        {"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c", "stopped"},
        {"SELECT length(randomblob(100000000))", "too big"},
        {"SELECT * FROM no_such_table", "no such table"},
        {"", "empty"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cJSON *r = NULL;
        err[0] = 0;
        int rc = sql_db_query(d, cases[i].sql, &r, err, sizeof err);
        CHECK_MSG(rc == -1 && r == NULL, "'%s' must fail", cases[i].sql);
        CHECK_MSG(strstr(err, cases[i].want) != NULL, "'%s': the error '%s' should say '%s'", cases[i].sql, err,
                  cases[i].want);
        cJSON_Delete(r);
    }
    /* the table is untouched and still answers */
    cJSON *r = NULL;
    REQUIRE(sql_db_query(d, "SELECT count(*) FROM sales", &r, err, sizeof err) == 0, "%s", err);
    CHECK_EQ_INT(cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "rows"), 0), 0)->valueint, 6);
    cJSON_Delete(r);
    sql_db_close(d);
}

TEST(malformed_and_large_csv) {
    sql_db *d = NULL;
    char err[300];
    REQUIRE(sql_db_open(&d, NULL, err, sizeof err) == 0, "%s", err);
    static const struct { const char *csv, *want; } cases[] = {
        {"a,b\n1,2\n3\n", "line 3"},
        {"a,b\n1,\"unclosed\n", "not closed"},
        {"a,b\n1,\"x\"y\n", "closing quote"},
        {"", "empty"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        err[0] = 0;
        CHECK_MSG(sql_db_load_csv(d, "t", cases[i].csv, strlen(cases[i].csv), err, sizeof err) == -1, "case %zu", i);
        CHECK_MSG(strstr(err, cases[i].want) != NULL, "case %zu: '%s'", i, err);
    }
    /* over the byte limit: refused before it is read */
    size_t big = SQL_CSV_MAX_BYTES + 1;
    char *huge = malloc(big);
    REQUIRE(huge, "memory");
    memset(huge, 'a', big);
    CHECK(sql_db_load_csv(d, "t", huge, big, err, sizeof err) == -1 && strstr(err, "limit"));
    free(huge);
    /* tabs, blank and repeated header names, a last line without a newline */
    const char *tsv = "x\tx\t\n1\t2.5\thello\n\n3\t4\t";
    REQUIRE(sql_db_load_csv(d, "t2", tsv, strlen(tsv), err, sizeof err) == 0, "%s", err);
    cJSON *r = NULL;
    REQUIRE(sql_db_query(d, "SELECT x, x_2, col_3 FROM t2", &r, err, sizeof err) == 0, "%s", err);
    char *s = cJSON_PrintUnformatted(cJSON_GetObjectItem(r, "rows"));
    CHECK_STR(s, "[[1,2.5,\"hello\"],[3,4,null]]");
    free(s);
    cJSON_Delete(r);
    sql_db_close(d);
}

TEST(chart_spec) {
    sql_db *d = sales_db();
    REQUIRE(d, "load");
    cJSON *r = NULL;
    char err[300];
    REQUIRE(sql_db_query(d, "SELECT 지역, sum(수량) AS 수량 FROM sales GROUP BY 지역 ORDER BY 지역", &r, err, sizeof err) == 0,
            "%s", err);
    cJSON *spec = sql_chart_spec(r, "bar", "지역", "수량", "지역별 수량", err, sizeof err);
    REQUIRE(spec, "%s", err);
    char *s = cJSON_PrintUnformatted(spec);
    CHECK_STR(s, "{\"$schema\":\"https://vega.github.io/schema/vega-lite/v5.json\",\"title\":\"지역별 수량\",\"mark\":\"bar\","
                 "\"data\":{\"values\":[{\"지역\":\"대구\",\"수량\":4},{\"지역\":\"부산\",\"수량\":12},{\"지역\":\"서울\",\"수량\":10}]},"
                 "\"encoding\":{\"x\":{\"field\":\"지역\",\"type\":\"nominal\"},\"y\":{\"field\":\"수량\",\"type\":\"quantitative\"}}}");
    free(s);
    cJSON_Delete(spec);
    CHECK(sql_chart_spec(r, "bar", "nope", NULL, NULL, err, sizeof err) == NULL && strstr(err, "'nope'"));
    CHECK(sql_chart_spec(r, "pie3d", NULL, NULL, NULL, err, sizeof err) == NULL && strstr(err, "mark"));
    cJSON_Delete(r);
    sql_db_close(d);
}

int main(void) {
    TEST_EXPECT(5);
    RUN(korean_queries_match_sqlite);
    RUN(result_text_and_row_limit);
    RUN(hostile_sql_is_refused_or_stopped);
    RUN(malformed_and_large_csv);
    RUN(chart_spec);
    return test_summary();
}
