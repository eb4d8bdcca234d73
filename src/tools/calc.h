/* The calculator the built-in `calculator` tool runs: exact arithmetic on rationals of any
 * size (GMP), quantities with units, and calendar dates.
 *
 *   1/3 + 1/6                 = 1/2 (0.5)
 *   2^100, 30!                exact integers
 *   1,234,500원 * 12 + 3억 5천만원   Korean numerals (십 백 천 만 억 조) and 원 amounts
 *   15% of 20000, 3 mod 2     percent, remainders
 *   5 km to mi, 100 km / 2 h to m/s, 30 평 to m^2, 100 °F to °C
 *   2026-12-25 - 2026-12-02   = 23 days; 2026-01-31 + 1 month = 2026-02-28
 *   2026년 3월 1일 + 100일, today + 2 weeks   (with the weekday, English and Korean)
 *
 * Decimals in the input are exact (0.1 + 0.2 is 3/10); a result that is not a terminating
 * decimal comes as a fraction with its decimal approximation. Sizes are bounded (the
 * numbers' bits, exponents, factorials, the expression's length), so every evaluation
 * ends quickly. */
#ifndef OMNI_TOOLS_CALC_H
#define OMNI_TOOLS_CALC_H
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#define CALC_EXPR_MAX 1000

/* expr evaluated; today: the current date as days since 1970-01-01 (for "today"/"오늘");
 * timeout_ms: the evaluation stops with an error past it (looked at before every operand).
 * Returns a JSON object {"expression", "result" (the text shown), "value" (exact: an
 * integer, a terminating decimal, a fraction p/q, or a date), "decimal" (when value is a
 * fraction: about 20 significant digits), "unit" (or null), "kind": "number" | "quantity"
 * | "date" | "duration"}, or NULL with err (a syntax error, mismatched units, a division
 * by zero, a number too large). */
cJSON *calc_eval(const char *expr, int64_t today, int timeout_ms, char *err, size_t cap);

#endif
