/* The data-analysis tool's database (sqltool.h): CSV into an in-memory SQLite database,
 * then the model's SQL under an authorizer that allows only reading, a VM-step budget,
 * a deadline and row/length limits. */
#include "tools/sqltool.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

struct sql_db {
    sqlite3 *db;
    struct sql_limits lim;
    int loading;              /* the authorizer lets the loader create and insert */
    char denied[160];         /* what the authorizer refused last */
    long long steps;          /* progress calls in the running query */
    double deadline;          /* monotonic seconds */
    int stopped;              /* 1 step budget, 2 deadline */
};

#define STEPS_PER_CALL 1000

struct sql_limits sql_default_limits(void) {
    struct sql_limits l = {.max_rows = 1000, .max_steps = 200000000LL, .timeout_ms = 10000, .max_length = 1 << 20,
                           .max_result_bytes = 1u << 20};
    return l;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int progress(void *user) {
    struct sql_db *d = user;
    d->steps += STEPS_PER_CALL;
    if (d->lim.max_steps > 0 && d->steps > d->lim.max_steps) { d->stopped = 1; return 1; }
    if (d->deadline > 0 && now_s() > d->deadline) { d->stopped = 2; return 1; }
    return 0;
}

/* Only reading: SELECT, reading columns, functions (not load_extension), recursive CTEs. */
static int authorize(void *user, int action, const char *a1, const char *a2, const char *dbname, const char *trigger) {
    struct sql_db *d = user;
    (void)dbname;
    (void)trigger;
    if (d->loading) return SQLITE_OK;   /* the loader's own CREATE and INSERTs */
    switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
    case SQLITE_RECURSIVE:
        return SQLITE_OK;
    case SQLITE_FUNCTION:
        if (a2 && (!strcasecmp(a2, "load_extension") || !strcasecmp(a2, "fts3_tokenizer") ||
                   !strcasecmp(a2, "readfile") || !strcasecmp(a2, "writefile") || !strcasecmp(a2, "edit"))) {
            snprintf(d->denied, sizeof d->denied, "the function %s() is not allowed (no file or extension access)", a2);
            return SQLITE_DENY;
        }
        return SQLITE_OK;
    case SQLITE_ATTACH:
    case SQLITE_DETACH:
        snprintf(d->denied, sizeof d->denied, "ATTACH/DETACH is not allowed: the data is in memory, with no file access");
        return SQLITE_DENY;
    case SQLITE_PRAGMA:
        snprintf(d->denied, sizeof d->denied, "PRAGMA %s is not allowed", a1 ? a1 : "");
        return SQLITE_DENY;
    default:
        break;
    }
    snprintf(d->denied, sizeof d->denied, "only reading queries (SELECT, WITH) are allowed: the data is read-only");
    return SQLITE_DENY;
}

int sql_db_open(sql_db **out, const struct sql_limits *lim, char *err, size_t cap) {
    *out = NULL;
    struct sql_db *d = calloc(1, sizeof *d);
    if (!d) { snprintf(err, cap, "out of memory"); return -1; }
    d->lim = lim ? *lim : sql_default_limits();
    int rc = sqlite3_open_v2(":memory:", &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_MEMORY |
                                                     SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, cap, "cannot open the in-memory database: %s", d->db ? sqlite3_errmsg(d->db) : "out of memory");
        sqlite3_close(d->db);
        free(d);
        return -1;
    }
    sqlite3_db_config(d->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(d->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    sqlite3_db_config(d->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
    sqlite3_limit(d->db, SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_limit(d->db, SQLITE_LIMIT_LENGTH, d->lim.max_length > 0 ? d->lim.max_length : 1 << 20);
    sqlite3_limit(d->db, SQLITE_LIMIT_SQL_LENGTH, 100000);
    sqlite3_limit(d->db, SQLITE_LIMIT_COLUMN, SQL_CSV_MAX_COLUMNS + 8);
    sqlite3_set_authorizer(d->db, authorize, d);
    sqlite3_progress_handler(d->db, STEPS_PER_CALL, progress, d);
    *out = d;
    return 0;
}

void sql_db_close(sql_db *d) {
    if (!d) return;
    sqlite3_close(d->db);
    free(d);
}

/* ---- CSV ---- */

struct csv {
    const char *p, *end;
    char delim;
    int line;
    char *cell;
    size_t n, cap;
};

static int cell_add(struct csv *c, char ch) {
    if (c->n + 2 > c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 64;
        char *q = realloc(c->cell, nc);
        if (!q) return -1;
        c->cell = q;
        c->cap = nc;
    }
    c->cell[c->n++] = ch;
    c->cell[c->n] = 0;
    return 0;
}

/* One cell into c->cell. Returns 0 more cells in the row, 1 end of row, 2 end of input,
 * -1 out of memory, -2 malformed (an unclosed quote, text after a closing quote). */
static int csv_cell(struct csv *c) {
    c->n = 0;
    if (cell_add(c, 0)) return -1;
    c->n = 0;
    if (c->p < c->end && *c->p == '"') {
        c->p++;
        for (;;) {
            if (c->p >= c->end) return -2;
            char ch = *c->p++;
            if (ch == '"') {
                if (c->p < c->end && *c->p == '"') { c->p++; if (cell_add(c, '"')) return -1; continue; }
                break;
            }
            if (ch == '\n') c->line++;
            if (cell_add(c, ch)) return -1;
        }
        if (c->p < c->end && *c->p == '\r') c->p++;
        if (c->p >= c->end) return 2;
        if (*c->p == c->delim) { c->p++; return 0; }
        if (*c->p == '\n') { c->p++; c->line++; return 1; }
        return -2;
    }
    while (c->p < c->end) {
        char ch = *c->p++;
        if (ch == c->delim) return 0;
        if (ch == '\n') {
            c->line++;
            if (c->n && c->cell[c->n - 1] == '\r') c->cell[--c->n] = 0;
            return 1;
        }
        if (ch == '"') return -2;
        if (cell_add(c, ch)) return -1;
    }
    if (c->n && c->cell[c->n - 1] == '\r') c->cell[--c->n] = 0;
    return 2;
}

enum { COL_INT = 1, COL_REAL = 2, COL_TEXT = 4 };

static int cell_kind(const char *s) {
    if (!*s) return 0;
    char *e;
    errno = 0;
    (void)strtoll(s, &e, 10);
    if (!*e && !errno && !isspace((unsigned char)s[0])) return COL_INT;
    errno = 0;
    (void)strtod(s, &e);
    if (!*e && !errno && !isspace((unsigned char)s[0]) && strcasecmp(s, "nan") && strcasecmp(s, "inf") &&
        strcasecmp(s, "infinity") && strcasecmp(s, "-inf"))
        return COL_REAL;
    return COL_TEXT;
}

static void qident(char *out, size_t cap, const char *name) {
    size_t o = 0;
    out[o++] = '"';
    for (const char *p = name; *p && o + 3 < cap; p++) {
        if (*p == '"') out[o++] = '"';
        out[o++] = *p;
    }
    out[o++] = '"';
    out[o] = 0;
}

/* Reads all rows: cells[r * ncol + k] (malloc'ed strings). */
struct table {
    char **cells;
    size_t n_cells, cap_cells;
    int ncol, nrow;
};

static void table_free(struct table *t) {
    for (size_t i = 0; i < t->n_cells; i++) free(t->cells[i]);
    free(t->cells);
}

static int push_cell(struct table *t, const char *s) {
    if (t->n_cells == t->cap_cells) {
        size_t nc = t->cap_cells ? t->cap_cells * 2 : 256;
        char **q = realloc(t->cells, nc * sizeof *q);
        if (!q) return -1;
        t->cells = q;
        t->cap_cells = nc;
    }
    char *d = strdup(s);
    if (!d) return -1;
    t->cells[t->n_cells++] = d;
    return 0;
}

static int read_csv(const char *csv, size_t len, struct table *t, char *err, size_t cap) {
    if (len >= 3 && !memcmp(csv, "\xEF\xBB\xBF", 3)) { csv += 3; len -= 3; }
    /* the delimiter, from the header line */
    size_t hl = 0;
    int commas = 0, tabs = 0, semis = 0;
    while (hl < len && csv[hl] != '\n') {
        commas += csv[hl] == ',';
        tabs += csv[hl] == '\t';
        semis += csv[hl] == ';';
        hl++;
    }
    struct csv c = {.p = csv, .end = csv + len, .delim = ',', .line = 1};
    if (!commas && tabs) c.delim = '\t';
    else if (!commas && semis) c.delim = ';';
    int k = 0, rc;
    for (;;) {
        int line = c.line;
        if (c.p >= c.end && k == 0) break;
        /* a blank line ends nothing but is skipped */
        if (k == 0 && (*c.p == '\n' || (*c.p == '\r' && c.p + 1 < c.end && c.p[1] == '\n'))) {
            c.p += *c.p == '\r' ? 2 : 1;
            c.line++;
            continue;
        }
        rc = csv_cell(&c);
        if (rc == -1) { snprintf(err, cap, "out of memory"); goto fail; }
        if (rc == -2) { snprintf(err, cap, "malformed CSV at line %d: a quote that is not closed, or text after a closing quote", line); goto fail; }
        if (push_cell(t, c.cell)) { snprintf(err, cap, "out of memory"); goto fail; }
        k++;
        if (t->nrow == 0 && k > SQL_CSV_MAX_COLUMNS) {
            snprintf(err, cap, "the CSV has more than %d columns", SQL_CSV_MAX_COLUMNS);
            goto fail;
        }
        if (rc >= 1) {
            if (t->nrow == 0) t->ncol = k;
            else if (k != t->ncol) {
                if (k == 1 && !t->cells[t->n_cells - 1][0]) { free(t->cells[--t->n_cells]); k = 0; if (rc == 2) break; continue; }
                snprintf(err, cap, "malformed CSV at line %d: %d fields, the header has %d", line, k, t->ncol);
                goto fail;
            }
            t->nrow++;
            if (t->nrow > SQL_CSV_MAX_ROWS + 1) {
                snprintf(err, cap, "the CSV has more than %d rows", SQL_CSV_MAX_ROWS);
                goto fail;
            }
            k = 0;
            if (rc == 2) break;
        }
    }
    free(c.cell);
    if (t->nrow == 0) { snprintf(err, cap, "the CSV is empty (no header line)"); return -1; }
    return 0;
fail:
    free(c.cell);
    return -1;
}

int sql_db_load_csv(sql_db *d, const char *name, const char *csv, size_t len, char *err, size_t cap) {
    if (len > SQL_CSV_MAX_BYTES) {
        snprintf(err, cap, "the table '%s' is %zu bytes; the limit is %u MB", name, len, SQL_CSV_MAX_BYTES >> 20);
        return -1;
    }
    if (!name[0] || strlen(name) > 128) { snprintf(err, cap, "a table name must be 1 to 128 bytes"); return -1; }
    struct table t = {0};
    if (read_csv(csv, len, &t, err, cap)) { table_free(&t); return -1; }
    int nc = t.ncol, rows = t.nrow - 1, rc = -1;
    int *kind = calloc((size_t)nc, sizeof *kind);
    char **names = calloc((size_t)nc, sizeof *names);
    size_t sqlcap = (size_t)nc * 300 + 400;
    char *sql = malloc(sqlcap), qn[300];
    sqlite3_stmt *st = NULL;
    if (!kind || !names || !sql) { snprintf(err, cap, "out of memory"); goto done; }
    for (int k = 0; k < nc; k++) {
        const char *h = t.cells[k];
        char buf[200];
        if (!h[0]) snprintf(buf, sizeof buf, "col_%d", k + 1);
        else snprintf(buf, sizeof buf, "%.190s", h);
        for (int dup = 2;; dup++) {
            int clash = 0;
            for (int q = 0; q < k; q++) clash |= !strcasecmp(names[q], buf);
            if (!clash) break;
            snprintf(buf, sizeof buf, "%.180s_%d", h[0] ? h : "col", dup);
        }
        if (!(names[k] = strdup(buf))) { snprintf(err, cap, "out of memory"); goto done; }
        for (int r = 1; r <= rows; r++) kind[k] |= cell_kind(t.cells[(size_t)r * nc + k]);
    }
    qident(qn, sizeof qn, name);
    size_t o = (size_t)snprintf(sql, sqlcap, "CREATE TABLE %s(", qn);
    for (int k = 0; k < nc; k++) {
        qident(qn, sizeof qn, names[k]);
        const char *ty = kind[k] & COL_TEXT ? "TEXT" : kind[k] & COL_REAL ? "REAL" : kind[k] ? "INTEGER" : "TEXT";
        o += (size_t)snprintf(sql + o, sqlcap - o, "%s%s %s", k ? ", " : "", qn, ty);
    }
    snprintf(sql + o, sqlcap - o, ")");
    d->loading = 1;
    d->deadline = 0;
    d->steps = 0;
    long long budget = d->lim.max_steps;
    d->lim.max_steps = 0;
    char *em = NULL;
    if (sqlite3_exec(d->db, sql, NULL, NULL, &em) != SQLITE_OK) {
        snprintf(err, cap, "cannot make the table '%s': %s", name, em ? em : "error");
        sqlite3_free(em);
        goto load_done;
    }
    qident(qn, sizeof qn, name);
    o = (size_t)snprintf(sql, sqlcap, "INSERT INTO %s VALUES(", qn);
    for (int k = 0; k < nc; k++) o += (size_t)snprintf(sql + o, sqlcap - o, "%s?", k ? "," : "");
    snprintf(sql + o, sqlcap - o, ")");
    if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, cap, "cannot load the table '%s': %s", name, sqlite3_errmsg(d->db));
        goto load_done;
    }
    sqlite3_exec(d->db, "BEGIN", NULL, NULL, NULL);
    for (int r = 1; r <= rows; r++) {
        sqlite3_reset(st);
        for (int k = 0; k < nc; k++) {
            const char *v = t.cells[(size_t)r * nc + k];
            int ck = cell_kind(v);
            if (!v[0]) sqlite3_bind_null(st, k + 1);
            else if (!(kind[k] & COL_TEXT) && ck == COL_INT) sqlite3_bind_int64(st, k + 1, strtoll(v, NULL, 10));
            else if (!(kind[k] & COL_TEXT) && ck) sqlite3_bind_double(st, k + 1, strtod(v, NULL));
            else sqlite3_bind_text(st, k + 1, v, -1, SQLITE_TRANSIENT);
        }
        if (sqlite3_step(st) != SQLITE_DONE) {
            snprintf(err, cap, "cannot load row %d of '%s': %s", r, name, sqlite3_errmsg(d->db));
            sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
            goto load_done;
        }
    }
    if (sqlite3_exec(d->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, cap, "cannot load '%s': %s", name, sqlite3_errmsg(d->db));
        goto load_done;
    }
    rc = 0;
load_done:
    sqlite3_finalize(st);
    d->loading = 0;
    d->lim.max_steps = budget;
done:
    for (int k = 0; names && k < nc; k++) free(names[k]);
    free(names);
    free(kind);
    free(sql);
    table_free(&t);
    return rc;
}

struct sbuf { char *p; size_t n, cap; int oom; };

static void sb_add(struct sbuf *b, const char *s, size_t k) {
    if (b->oom) return;
    if (b->n + k + 1 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 256;
        while (nc < b->n + k + 1) nc *= 2;
        char *q = realloc(b->p, nc);
        if (!q) { b->oom = 1; return; }
        b->p = q;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, k);
    b->n += k;
    b->p[b->n] = 0;
}
static void sb_str(struct sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

char *sql_db_describe(sql_db *d) {
    struct sbuf b = {0};
    sb_add(&b, "", 0);
    sqlite3_set_authorizer(d->db, NULL, NULL);
    long long budget = d->lim.max_steps;
    d->lim.max_steps = 0;
    d->deadline = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(d->db, "SELECT name FROM sqlite_schema WHERE type='table' ORDER BY rowid", -1, &st, NULL) ==
        SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *tn = (const char *)sqlite3_column_text(st, 0);
            char q[300], sql[400], num[64];
            if (!tn) continue;
            qident(q, sizeof q, tn);
            sb_str(&b, q);
            sb_str(&b, "(");
            snprintf(sql, sizeof sql, "SELECT name, type FROM pragma_table_info(%s)", "?1");
            sqlite3_stmt *ci = NULL;
            if (sqlite3_prepare_v2(d->db, sql, -1, &ci, NULL) == SQLITE_OK) {
                sqlite3_bind_text(ci, 1, tn, -1, SQLITE_TRANSIENT);
                int k = 0;
                while (sqlite3_step(ci) == SQLITE_ROW) {
                    if (k++) sb_str(&b, ", ");
                    qident(q, sizeof q, (const char *)sqlite3_column_text(ci, 0));
                    sb_str(&b, q);
                    sb_str(&b, " ");
                    sb_str(&b, (const char *)sqlite3_column_text(ci, 1));
                }
            }
            sqlite3_finalize(ci);
            qident(q, sizeof q, tn);
            snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", q);
            long long n = 0;
            if (sqlite3_prepare_v2(d->db, sql, -1, &ci, NULL) == SQLITE_OK && sqlite3_step(ci) == SQLITE_ROW)
                n = sqlite3_column_int64(ci, 0);
            sqlite3_finalize(ci);
            snprintf(num, sizeof num, ") -- %lld rows\n", n);
            sb_str(&b, num);
        }
    }
    sqlite3_finalize(st);
    sqlite3_set_authorizer(d->db, authorize, d);
    d->lim.max_steps = budget;
    if (b.oom) { free(b.p); return NULL; }
    return b.p;
}

static int only_space_or_semis(const char *s) {
    for (; *s; s++) {
        if (*s == '-' && s[1] == '-') { while (*s && *s != '\n') s++; if (!*s) break; continue; }
        if (!isspace((unsigned char)*s) && *s != ';') return 0;
    }
    return 1;
}

int sql_db_query(sql_db *d, const char *sql, cJSON **result, char *err, size_t cap) {
    *result = NULL;
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    d->denied[0] = 0;
    d->stopped = 0;
    d->steps = 0;
    d->deadline = d->lim.timeout_ms > 0 ? now_s() + d->lim.timeout_ms / 1e3 : 0;
    if (!sql || only_space_or_semis(sql)) { snprintf(err, cap, "the query is empty"); return -1; }
    int rc = sqlite3_prepare_v2(d->db, sql, -1, &st, &tail);
    if (rc != SQLITE_OK || !st) {
        if (d->denied[0]) snprintf(err, cap, "refused: %s", d->denied);
        else snprintf(err, cap, "SQL error: %s", sqlite3_errmsg(d->db));
        sqlite3_finalize(st);
        return -1;
    }
    if (tail && !only_space_or_semis(tail)) {
        sqlite3_finalize(st);
        snprintf(err, cap, "refused: one statement per query");
        return -1;
    }
    if (!sqlite3_stmt_readonly(st)) {
        sqlite3_finalize(st);
        snprintf(err, cap, "refused: only reading queries (SELECT, WITH) are allowed: the data is read-only");
        return -1;
    }
    int nc = sqlite3_column_count(st);
    cJSON *r = cJSON_CreateObject(), *cols = cJSON_AddArrayToObject(r, "columns"), *rows = cJSON_AddArrayToObject(r, "rows");
    for (int k = 0; k < nc; k++) cJSON_AddItemToArray(cols, cJSON_CreateString(sqlite3_column_name(st, k)));
    int n = 0, truncated = 0;
    size_t bytes = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n >= d->lim.max_rows) { truncated = 1; break; }
        /* a row that would take the result past its byte limit is left out */
        size_t rb = 0;
        for (int k = 0; k < nc; k++) {
            int ty = sqlite3_column_type(st, k);   /* first: column_bytes would convert a number to text */
            rb += (ty == SQLITE_TEXT || ty == SQLITE_BLOB ? (size_t)sqlite3_column_bytes(st, k) : 16) + 8;
        }
        if (d->lim.max_result_bytes && bytes + rb > d->lim.max_result_bytes) { truncated = 1; break; }
        bytes += rb;
        cJSON *row = cJSON_CreateArray();
        for (int k = 0; k < nc; k++) {
            switch (sqlite3_column_type(st, k)) {
            case SQLITE_INTEGER: {
                long long v = sqlite3_column_int64(st, k);
                /* JSON numbers are doubles: larger integers go as text so they stay exact */
                if (v > 9007199254740992LL || v < -9007199254740992LL) {
                    char b[32];
                    snprintf(b, sizeof b, "%lld", v);
                    cJSON_AddItemToArray(row, cJSON_CreateString(b));
                } else cJSON_AddItemToArray(row, cJSON_CreateNumber((double)v));
                break;
            }
            case SQLITE_FLOAT: cJSON_AddItemToArray(row, cJSON_CreateNumber(sqlite3_column_double(st, k))); break;
            case SQLITE_TEXT: cJSON_AddItemToArray(row, cJSON_CreateString((const char *)sqlite3_column_text(st, k))); break;
            case SQLITE_BLOB: {
                char b[64];
                snprintf(b, sizeof b, "<blob %d bytes>", sqlite3_column_bytes(st, k));
                cJSON_AddItemToArray(row, cJSON_CreateString(b));
                break;
            }
            default: cJSON_AddItemToArray(row, cJSON_CreateNull()); break;
            }
        }
        cJSON_AddItemToArray(rows, row);
        n++;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        if (d->stopped == 1)
            snprintf(err, cap, "stopped: the query ran past its step budget (%lld SQLite steps)", d->lim.max_steps);
        else if (d->stopped == 2)
            snprintf(err, cap, "stopped: the query ran past its time limit (%d ms)", d->lim.timeout_ms);
        else if (d->denied[0]) snprintf(err, cap, "refused: %s", d->denied);
        else snprintf(err, cap, "SQL error: %s", sqlite3_errmsg(d->db));
        sqlite3_finalize(st);
        cJSON_Delete(r);
        return -1;
    }
    sqlite3_finalize(st);
    cJSON_AddNumberToObject(r, "row_count", n);
    cJSON_AddBoolToObject(r, "truncated", truncated);
    if (!cJSON_IsArray(cJSON_GetObjectItem(r, "rows"))) { cJSON_Delete(r); snprintf(err, cap, "out of memory"); return -1; }
    *result = r;
    return 0;
}

static void cell_text(struct sbuf *b, const cJSON *v) {
    char num[64];
    if (cJSON_IsString(v)) {
        for (const char *p = v->valuestring; *p; p++) sb_add(b, *p == '\n' || *p == '|' ? " " : p, 1);
    } else if (cJSON_IsNumber(v)) {
        double x = v->valuedouble;
        if (x == (double)(long long)x && x < 9.1e15 && x > -9.1e15) snprintf(num, sizeof num, "%lld", (long long)x);
        else snprintf(num, sizeof num, "%.17g", x);
        sb_str(b, num);
    } else sb_str(b, "NULL");
}

char *sql_result_text(const cJSON *r, size_t max_bytes) {
    struct sbuf b = {0};
    const cJSON *cols = cJSON_GetObjectItem(r, "columns"), *rows = cJSON_GetObjectItem(r, "rows"), *c, *row;
    int k = 0, n = 0;
    cJSON_ArrayForEach(c, cols) { if (k++) sb_str(&b, " | "); cell_text(&b, c); }
    sb_str(&b, "\n");
    cJSON_ArrayForEach(row, rows) {
        size_t before = b.n;
        k = 0;
        cJSON_ArrayForEach(c, row) { if (k++) sb_str(&b, " | "); cell_text(&b, c); }
        sb_str(&b, "\n");
        if (max_bytes && b.n > max_bytes) {
            b.n = before;
            if (b.p) b.p[b.n] = 0;
            char more[96];
            snprintf(more, sizeof more, "... (%d more rows not shown)\n", cJSON_GetArraySize(rows) - n);
            sb_str(&b, more);
            break;
        }
        n++;
    }
    if (cJSON_IsTrue(cJSON_GetObjectItem(r, "truncated"))) sb_str(&b, "... (more rows: the result was cut at the row limit)\n");
    if (b.oom) { free(b.p); return NULL; }
    return b.p;
}

static int col_index(const cJSON *cols, const char *name) {
    int i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cols) {
        if (cJSON_IsString(c) && !strcmp(c->valuestring, name)) return i;
        i++;
    }
    return -1;
}

/* quantitative when every non-null value of the column is a number */
static const char *field_type(const cJSON *rows, int k) {
    const cJSON *row;
    int any = 0;
    cJSON_ArrayForEach(row, rows) {
        const cJSON *v = cJSON_GetArrayItem(row, k);
        if (cJSON_IsNull(v)) continue;
        if (!cJSON_IsNumber(v)) return "nominal";
        any = 1;
    }
    return any ? "quantitative" : "nominal";
}

cJSON *sql_chart_spec(const cJSON *r, const char *mark, const char *x, const char *y, const char *title, char *err,
                      size_t cap) {
    static const char *const marks[] = {"bar", "line", "point", "area", "arc", NULL};
    int ok = 0;
    for (const char *const *m = marks; *m; m++) ok |= mark && !strcmp(mark, *m);
    if (!ok) { snprintf(err, cap, "unknown chart mark '%s' (bar, line, point, area or arc)", mark ? mark : ""); return NULL; }
    const cJSON *cols = cJSON_GetObjectItem(r, "columns"), *rows = cJSON_GetObjectItem(r, "rows");
    int nc = cJSON_GetArraySize(cols);
    int xi = x && x[0] ? col_index(cols, x) : 0, yi = y && y[0] ? col_index(cols, y) : 1;
    if (nc < 2 && !(x && y)) { snprintf(err, cap, "a chart needs a result with two columns (x and y); it has %d", nc); return NULL; }
    if (xi < 0 || xi >= nc) { snprintf(err, cap, "the column '%s' is not in the query's result", x); return NULL; }
    if (yi < 0 || yi >= nc) { snprintf(err, cap, "the column '%s' is not in the query's result", y); return NULL; }
    const char *xn = cJSON_GetArrayItem(cols, xi)->valuestring, *yn = cJSON_GetArrayItem(cols, yi)->valuestring;
    cJSON *spec = cJSON_CreateObject();
    cJSON_AddStringToObject(spec, "$schema", "https://vega.github.io/schema/vega-lite/v5.json");
    if (title && title[0]) cJSON_AddStringToObject(spec, "title", title);
    cJSON_AddStringToObject(spec, "mark", mark);
    cJSON *values = cJSON_AddArrayToObject(cJSON_AddObjectToObject(spec, "data"), "values");
    const cJSON *row;
    cJSON_ArrayForEach(row, rows) {
        cJSON *o = cJSON_CreateObject();
        int k = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, row) {
            const cJSON *cn = cJSON_GetArrayItem(cols, k++);
            if (cJSON_IsString(cn) && !cJSON_GetObjectItemCaseSensitive(o, cn->valuestring))
                cJSON_AddItemToObject(o, cn->valuestring, cJSON_Duplicate(v, 1));
        }
        cJSON_AddItemToArray(values, o);
    }
    cJSON *enc = cJSON_AddObjectToObject(spec, "encoding");
    if (!strcmp(mark, "arc")) {
        cJSON *t = cJSON_AddObjectToObject(enc, "theta"), *c = cJSON_AddObjectToObject(enc, "color");
        cJSON_AddStringToObject(t, "field", yn);
        cJSON_AddStringToObject(t, "type", "quantitative");
        cJSON_AddStringToObject(c, "field", xn);
        cJSON_AddStringToObject(c, "type", "nominal");
    } else {
        cJSON *ex = cJSON_AddObjectToObject(enc, "x"), *ey = cJSON_AddObjectToObject(enc, "y");
        cJSON_AddStringToObject(ex, "field", xn);
        cJSON_AddStringToObject(ex, "type", field_type(rows, xi));
        cJSON_AddStringToObject(ey, "field", yn);
        cJSON_AddStringToObject(ey, "type", field_type(rows, yi));
    }
    return spec;
}
