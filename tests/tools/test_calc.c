/* The calculator and current_time built-in tools, against values worked out by hand:
 * exact fractions and big integers, Korean numerals and 원 amounts, percentages, units
 * (km/mi, 평, °F/°C, bytes), calendar dates (month ends, leap days, 2026년 3월 1일 + 100일,
 * weekdays in English and Korean); time zones from the system's tz database (KST,
 * EDT/EST, India's half hour, and past the files' last transition the POSIX rule, north
 * and south); and the tools through builtin_run (items, what the model reads, errors). */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "tools/builtin.h"
#include "tools/calc.h"
#include "tools/clock.h"
#include "tools/tz.h"

static const int64_t TODAY = 20789;   /* 2026-12-02 */

static const char *field(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* expr → (value, unit or NULL) */
#define CALC_IS(expr, value, unit) do { \
        char e_[300] = ""; \
        cJSON *r_ = calc_eval(expr, TODAY, 5000, e_, sizeof e_); \
        CHECK_MSG(r_ != NULL, "%s: %s", expr, e_); \
        if (r_) { \
            CHECK_MSG(field(r_, "value") && !strcmp(field(r_, "value"), value), "%s: value %s, want %s", expr, \
                      field(r_, "value") ? field(r_, "value") : "(none)", value); \
            const char *u_ = field(r_, "unit"); \
            CHECK_MSG((unit) == NULL ? u_ == NULL : u_ && !strcmp(u_, (unit) ? (unit) : ""), "%s: unit %s, want %s", expr, \
                      u_ ? u_ : "(none)", (unit) ? (unit) : "(none)"); \
        } \
        cJSON_Delete(r_); \
    } while (0)

#define CALC_RESULT(expr, text) do { \
        char e_[300] = ""; \
        cJSON *r_ = calc_eval(expr, TODAY, 5000, e_, sizeof e_); \
        CHECK_MSG(r_ && field(r_, "result") && !strcmp(field(r_, "result"), text), "%s: result %s, want %s (%s)", expr, \
                  r_ && field(r_, "result") ? field(r_, "result") : "(none)", text, e_); \
        cJSON_Delete(r_); \
    } while (0)

#define CALC_FAILS(expr, needle) do { \
        char e_[300] = ""; \
        cJSON *r_ = calc_eval(expr, TODAY, 5000, e_, sizeof e_); \
        CHECK_MSG(r_ == NULL && strstr(e_, needle), "%s: want an error with '%s', got %s", expr, needle, \
                  r_ ? field(r_, "result") : e_); \
        cJSON_Delete(r_); \
    } while (0)

TEST(exact_arithmetic) {
    CALC_IS("1/3 + 1/6", "0.5", NULL);
    CALC_IS("0.1 + 0.2", "0.3", NULL);              /* decimals are exact, not doubles */
    CALC_IS("0.1 + 0.2 - 0.3", "0", NULL);
    CALC_IS("1/3", "1/3", NULL);
    CALC_RESULT("1/3", "1/3 (≈ 0.33333333333333333333)");
    CALC_IS("2/3 * 3/4", "0.5", NULL);
    CALC_IS("2^100", "1267650600228229401496703205376", NULL);
    CALC_IS("2^-3", "0.125", NULL);
    CALC_IS("30!", "265252859812191058636308480000000", NULL);
    CALC_IS("123456789012345678901234567890 * 987654321098765432109876543210",
            "121932631137021795226185032733622923332237463801111263526900", NULL);
    CALC_IS("(1 + 2) * 3 - 4 / 8", "8.5", NULL);
    CALC_IS("-2^2", "-4", NULL);                      /* the power first, as in mathematics */
    CALC_IS("17 mod 5", "2", NULL);
    CALC_IS("-7 mod 3", "2", NULL);                   /* floored, so the remainder has the divisor's sign */
    CALC_IS("15% of 20000", "3000", NULL);
    CALC_IS("20000 * 8%", "1600", NULL);
    CALC_IS("round(2.345, 2)", "2.35", NULL);
    CALC_IS("round(-2.5)", "-3", NULL);               /* half away from zero */
    CALC_IS("floor(7/2) + ceil(7/2)", "7", NULL);
    CALC_IS("round(1234567, -3)", "1235000", NULL);
    CALC_IS("abs(3 - 10)", "7", NULL);
    CALC_IS("1,234,567 + 1", "1234568", NULL);       /* thousands separators */
    CALC_IS("6 × 7 ÷ 2", "21", NULL);
}

TEST(korean_amounts) {
    CALC_IS("1,250,000원 * 12", "15000000", "원");
    CALC_RESULT("1,250,000원 * 12", "15000000원");
    CALC_IS("3억 5천만원", "350000000", "원");
    CALC_IS("1만 2천 + 345", "12345", NULL);
    CALC_IS("2조 3억", "2000300000000", NULL);
    CALC_IS("5천만원 / 12", "12500000/3", "원");   /* a monthly share, exact */
    CALC_IS("4만5천원 * 3", "135000", "원");
    CALC_IS("50000원 * 10%", "5000", "원");          /* 부가세 */
    CALC_IS("$5 * 3", "15", "$");
    CALC_FAILS("1000원 + $5", "different kinds");    /* no exchange rate is assumed */
}

TEST(units) {
    CALC_IS("5 km to mi", "78125/25146", "mi");       /* 5000 m / 1609.344 m */
    CALC_IS("3 km + 500 m", "3.5", "km");
    CALC_IS("100 km / 2 h to m/s", "125/9", "m/s");  /* 50 km/h */
    CALC_IS("60 km/h * 90 min", "90000", "m");
    CALC_IS("30 평 to m^2", "12000/121", "m^2");       /* 1 평 = 400/121 m² */
    CALC_IS("84 m² to 평", "25.41", "평");
    CALC_IS("100 °F to °C", "340/9", "°C");
    CALC_IS("36.6 °C to °F", "97.88", "°F");
    CALC_IS("0 K to °C", "-273.15", "°C");
    CALC_IS("1 GiB to MB", "1073.741824", "MB");
    CALC_IS("2 lb to kg", "0.90718474", "kg");
    CALC_IS("1 ft^2 to m^2", "0.09290304", "m^2");
    CALC_IS("3 근 to kg", "1.8", "kg");
    CALC_IS("1 week to days", "7", "days");
    CALC_IS("10 km in mi", "78125/12573", "mi");
}

TEST(dates) {
    CALC_RESULT("2026-12-25 - 2026-12-02", "23 days");
    CALC_RESULT("2026-01-31 + 1 month", "2026-02-28 (Saturday, 토요일)");   /* the month's end */
    CALC_IS("2024-01-31 + 1 month", "2024-02-29", NULL);                   /* a leap year */
    CALC_IS("2024-02-29 + 1 year", "2025-02-28", NULL);
    CALC_RESULT("2026년 3월 1일 + 100일", "2026-06-09 (Tuesday, 화요일)");
    CALC_RESULT("today + 2 weeks", "2026-12-16 (Wednesday, 수요일)");
    CALC_RESULT("오늘 - 2026-01-01", "335 days");
    CALC_IS("2026-12-02 - 3 months", "2026-09-02", NULL);
    CALC_IS("(2027-01-01 - 2026-01-01) to weeks", "365/7", "weeks");
    CALC_FAILS("2026-02-30", "not a date");
    CALC_FAILS("2026-12-02 + 1.5 days", "whole days");
    CALC_FAILS("2026-12-02 * 2", "cannot be multiplied");
}

TEST(refusals_and_limits) {
    CALC_FAILS("1/0", "division by zero");
    CALC_FAILS("5 km + 3 h", "different kinds");
    CALC_FAILS("2^(1/2)", "whole number");
    CALC_FAILS("(2^99999)^20", "too large");
    CALC_FAILS("10^1000000", "limited");
    CALC_FAILS("99999!", "limited");
    CALC_FAILS("(1 + 2", "')' expected");
    CALC_FAILS("banana * 2", "unknown word 'banana'");
    CALC_FAILS("", "empty");
    {   /* the time limit: forty factorials of 20000 take longer than 1 ms */
        char e[300] = "", sum[600] = "1";
        for (int k = 0; k < 40; k++) strcat(sum, " + 20000!");
        cJSON *r = calc_eval(sum, TODAY, 1, e, sizeof e);
        CHECK_MSG(!r && strstr(e, "took too long"), "stopped: %s", e);
        cJSON_Delete(r);
    }
    CALC_FAILS("5 km to kg", "measures something else");
    CALC_FAILS("1 + 2 3", "unexpected");
    char big[CALC_EXPR_MAX + 10];
    memset(big, '1', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CALC_FAILS(big, "longer than");
    /* deep nesting ends with an error, not a stack overflow */
    char deep[CALC_EXPR_MAX];
    memset(deep, '(', sizeof deep - 1);
    deep[sizeof deep - 1] = 0;
    CALC_FAILS(deep, "nested too deeply");
}

TEST(time_zones) {
    CHECK_EQ_INT(tz_days_from_civil(1970, 1, 1), 0);
    CHECK_EQ_INT(tz_days_from_civil(2026, 12, 2), TODAY);
    CHECK_EQ_INT(tz_weekday(TODAY), 3);   /* a Wednesday */
    int y, m, d;
    tz_civil_from_days(tz_days_from_civil(2000, 2, 29), &y, &m, &d);
    CHECK(y == 2000 && m == 2 && d == 29);
    struct {
        const char *zone;
        int64_t utc;
        const char *iso, *abbr, *weekday;
        int dst;
    } cases[] = {
        {"Asia/Seoul", 1796220000, "2026-12-02T23:00:00+09:00", "KST", "수요일", 0},   /* 14:00Z + 9 h */
        {"UTC", 1796220000, "2026-12-02T14:00:00+00:00", "UTC", "수요일", 0},
        {"America/New_York", 1782907200, "2026-07-01T08:00:00-04:00", "EDT", "수요일", 1},
        {"America/New_York", 1767268800, "2026-01-01T07:00:00-05:00", "EST", "목요일", 0},
        {"Asia/Kolkata", 1796220000, "2026-12-02T19:30:00+05:30", "IST", "수요일", 0},
        /* past the file's last transition (2037): the zone's POSIX rule */
        {"Europe/Paris", 2224843200, "2040-07-02T14:00:00+02:00", "CEST", "월요일", 1},
        {"America/New_York", 2224843200, "2040-07-02T08:00:00-04:00", "EDT", "월요일", 1},
        {"Australia/Sydney", 2368008000, "2045-01-14T23:00:00+11:00", "AEDT", "토요일", 1},   /* southern summer */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char err[200] = "";
        cJSON *o = clock_at(cases[k].zone, cases[k].utc, err, sizeof err);
        CHECK_MSG(o != NULL, "%s: %s", cases[k].zone, err);
        if (!o) continue;
        CHECK_MSG(!strcmp(field(o, "datetime"), cases[k].iso), "%s: %s, want %s", cases[k].zone, field(o, "datetime"), cases[k].iso);
        CHECK_MSG(!strcmp(field(o, "abbreviation"), cases[k].abbr), "%s: %s", cases[k].zone, field(o, "abbreviation"));
        CHECK_STR(field(o, "weekday_ko"), cases[k].weekday);
        CHECK_EQ_INT(cJSON_IsTrue(cJSON_GetObjectItem(o, "dst")), cases[k].dst);
        cJSON_Delete(o);
    }
    const char *bad[] = {"../etc/passwd", "/etc/localtime", "Mars/Olympus", "Asia/Seoul; rm", ""};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char err[200] = "";
        cJSON *o = clock_at(bad[k], 0, err, sizeof err);
        CHECK_MSG(!o && strstr(err, "time zone"), "'%s' refused: %s", bad[k], err);
        cJSON_Delete(o);
    }
}

/* The tools as the server's loop runs them: the functions offered, items and what the
 * model reads back, a failed run's error, a bad timezone in the tool a 400. */
TEST(builtin_tools) {
    struct builtin_set set;
    char param[64], msg[300];
    cJSON *tools = cJSON_Parse("[{\"type\":\"calculator\",\"timezone\":\"Asia/Seoul\"},{\"type\":\"current_time\",\"timezone\":\"Asia/Seoul\"}]");
    REQUIRE(builtin_parse(tools, NULL, &set, param, sizeof param, msg, sizeof msg) == 0, "parse: %s", msg);
    CHECK_EQ_INT(cJSON_GetArraySize(set.functions), 2);
    int calc = builtin_find(&set, "calculator"), now = builtin_find(&set, "current_time");
    REQUIRE(calc >= 0 && now >= 0, "both functions");
    CHECK_STR(builtin_item_type(&set, calc), "calculator_call");
    CHECK_STR(builtin_item_type(&set, now), "current_time_call");
    set.now = 1796220000;   /* 2026-12-02T14:00:00Z: 23:00 in Seoul */
    cJSON *it = cJSON_CreateObject();
    char *out = NULL;
    CHECK_EQ_INT(builtin_run(&set, calc, "{\"expression\":\"오늘 + 30일\"}", it, &out), 0);
    CHECK_STR(out, "오늘 + 30일 = 2027-01-01 (Friday, 금요일)");
    CHECK_STR(field(cJSON_GetObjectItem(it, "result"), "value"), "2027-01-01");
    CHECK_STR(field(it, "output"), out);
    free(out);
    cJSON_Delete(it);
    it = cJSON_CreateObject();
    CHECK_EQ_INT(builtin_run(&set, now, "{}", it, &out), 0);   /* the tool's zone */
    CHECK_STR(field(cJSON_GetObjectItem(it, "result"), "datetime"), "2026-12-02T23:00:00+09:00");
    CHECK(out && strstr(out, "2026-12-02T23:00:00+09:00 (Wednesday, 수요일) Asia/Seoul, KST"));
    free(out);
    cJSON_Delete(it);
    it = cJSON_CreateObject();
    CHECK_EQ_INT(builtin_run(&set, now, "{\"timezone\":\"Europe/Paris\"}", it, &out), 0);
    CHECK_STR(field(cJSON_GetObjectItem(it, "result"), "datetime"), "2026-12-02T15:00:00+01:00");
    free(out);
    cJSON_Delete(it);
    it = cJSON_CreateObject();
    CHECK_EQ_INT(builtin_run(&set, calc, "{\"expression\":\"1/0\"}", it, &out), 1);
    CHECK_STR(field(it, "error"), "division by zero");
    CHECK_STR(out, "Error: division by zero");
    free(out);
    cJSON_Delete(it);
    builtin_free(&set);
    cJSON_Delete(tools);
    tools = cJSON_Parse("[{\"type\":\"current_time\",\"timezone\":\"Nowhere/City\"}]");
    CHECK_EQ_INT(builtin_parse(tools, NULL, &set, param, sizeof param, msg, sizeof msg), 400);
    CHECK_STR(param, "tools[0].timezone");
    builtin_free(&set);
    cJSON_Delete(tools);
    tools = cJSON_Parse("[{\"type\":\"function\",\"function\":{\"name\":\"calculator\"}},{\"type\":\"calculator\"}]");
    CHECK_EQ_INT(builtin_parse(tools, NULL, &set, param, sizeof param, msg, sizeof msg), 400);
    CHECK(strstr(msg, "clashes"));
    builtin_free(&set);
    cJSON_Delete(tools);
}

/* Random expressions from the calculator's own pieces: each ends with a result or an
 * error that says something (under ASan/UBSan in make check-asan: no crash, no leak). */
TEST(random_expressions) {
    static const char *const pieces[] = {"1", "0", "2.5", "1,234", "3억", "5천", "만", "원", "$", "km", "m", "h", "min",
                                         "°F", "°C", "평", "m^2", "²", "days", "months", "2026-12-02", "오늘", "today",
                                         "+", "-", "*", "/", "^", "%", "!", "mod", "of", "to", "in", "(", ")", "round(",
                                         "abs(", ",", " ", "년", "월", "일", "99", "-7", "1/3", "e", "é", "\xff"};
    const int np = (int)(sizeof pieces / sizeof pieces[0]);
    uint32_t r = 12345;
    int ok = 0, bad = 0;
    for (int k = 0; k < 20000; k++) {
        char expr[400] = "";
        int n = 1 + (int)((r = r * 1103515245u + 12345u) >> 16) % 14;
        for (int i = 0; i < n; i++) {
            r = r * 1103515245u + 12345u;
            strncat(expr, pieces[(r >> 16) % (uint32_t)np], sizeof expr - strlen(expr) - 1);
        }
        char err[300] = "";
        cJSON *o = calc_eval(expr, TODAY, 5000, err, sizeof err);
        if (o) { ok++; CHECK_MSG(field(o, "result") != NULL, "%s: a result", expr); }
        else { bad++; CHECK_MSG(err[0] != 0, "%s: an error message", expr); }
        cJSON_Delete(o);
    }
    CHECK_MSG(ok > 500 && bad > 500, "both kinds seen: %d results, %d errors", ok, bad);
}

int main(void) {
    TEST_EXPECT(8);
    RUN(random_expressions);
    RUN(exact_arithmetic);
    RUN(korean_amounts);
    RUN(units);
    RUN(dates);
    RUN(refusals_and_limits);
    RUN(time_zones);
    RUN(builtin_tools);
    return test_summary();
}
