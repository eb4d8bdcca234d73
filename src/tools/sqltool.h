/* The data-analysis tool's database: the user's tables (CSV) loaded into a private
 * in-memory SQLite database, and the model's SQL run over them read-only.
 *
 * Why its own database and these limits: the SQL is written by a model (or by whoever
 * steers it), so it is hostile input. The database lives in memory only; ATTACH, writes,
 * PRAGMAs, VACUUM and load_extension are refused by an authorizer that allows only
 * reading (SELECT, recursive CTEs, plain functions); one statement per query; each run
 * has a budget of SQLite VM steps (deterministic) and a wall-clock deadline, a row limit,
 * and SQLite's string/blob length limit, so an endless recursive CTE or a giant
 * randomblob stops with a clear error instead of hanging or eating memory.
 *
 * Results are JSON: {"columns": [..], "rows": [[..], ..], "row_count": n, "truncated": b}
 * with SQLite's integers, reals, text and NULL as JSON numbers, strings and null
 * (blobs as "<blob N bytes>"). */
#ifndef OMNI_TOOLS_SQLTOOL_H
#define OMNI_TOOLS_SQLTOOL_H
#include <stddef.h>

#include <cJSON.h>

typedef struct sql_db sql_db;

struct sql_limits {
    int max_rows;            /* rows returned (more: truncated = true) */
    long long max_steps;     /* SQLite VM steps per query (about 1000 per progress call) */
    int timeout_ms;          /* wall-clock deadline per query */
    int max_length;          /* SQLITE_LIMIT_LENGTH: the longest string or blob */
    size_t max_result_bytes; /* the text of the rows returned (more: truncated = true) */
};
struct sql_limits sql_default_limits(void);

/* CSV input limits (a table the user uploads). */
#define SQL_CSV_MAX_BYTES (32u << 20)
#define SQL_CSV_MAX_COLUMNS 512
#define SQL_CSV_MAX_ROWS 2000000

/* 0, or -1 with err set. */
int sql_db_open(sql_db **out, const struct sql_limits *lim, char *err, size_t cap);
void sql_db_close(sql_db *db);

/* Loads CSV text (RFC 4180: quotes, "" escapes, CRLF; a UTF-8 BOM is dropped; the
 * delimiter is ',' or, when the header has tabs and no commas, a tab; ';' likewise) as
 * table `name`. The first row names the columns (blank or repeated names get col_N /
 * NAME_2). A column whose non-empty cells are all integers is INTEGER, all numbers
 * REAL, else TEXT; empty cells are NULL. 0, or -1 with err (malformed CSV: which line). */
int sql_db_load_csv(sql_db *db, const char *name, const char *csv, size_t len, char *err, size_t cap);

/* The tables and their columns for the model, e.g.
 *   "sales"(지역 TEXT, 매출 INTEGER, 날짜 TEXT) -- 12 rows
 * one per line (malloc'ed; NULL when out of memory). */
char *sql_db_describe(sql_db *db);

/* Runs one read-only statement. 0 with *result (JSON above), or -1 with err saying why
 * (a SQLite error, a refused statement, a limit that stopped it). */
int sql_db_query(sql_db *db, const char *sql, cJSON **result, char *err, size_t cap);

/* A result as a text table for the model: a header line, then rows, cells separated by
 * " | ", cut at max_bytes (malloc'ed). */
char *sql_result_text(const cJSON *result, size_t max_bytes);

/* A Vega-Lite v5 spec drawing result (columns x and y; NULL names: the first two
 * columns) with mark bar, line, point, area or arc. NULL with err when the columns are
 * not in the result or the mark is unknown. */
cJSON *sql_chart_spec(const cJSON *result, const char *mark, const char *x, const char *y, const char *title,
                      char *err, size_t cap);

#endif
