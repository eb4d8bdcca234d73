/* The small SQL layer under storage.c: one connection, statements with $1..$N parameters,
 * text/int/real columns, transactions — with an SQLite and a libpq implementation, so the
 * store's functions are written once. SQL given here is the common subset of both
 * dialects (ON CONFLICT … DO UPDATE, RETURNING, WITH RECURSIVE); what differs (DDL,
 * search) is chosen by db_kind() in storage.c.
 *
 * A connection is used by one thread at a time (storage.c's pool hands them out). */
#ifndef OMNI_STORAGE_DB_H
#define OMNI_STORAGE_DB_H
#include <stdint.h>

#include "core/error.h"

enum db_kind { DB_SQLITE, DB_PG };

struct db;
struct dbq;

/* target: a file path (SQLite) or a libpq conninfo/URI (PostgreSQL). */
int db_connect(enum db_kind kind, const char *target, struct db **out, struct err *e);
void db_disconnect(struct db *d);
enum db_kind db_kind(const struct db *d);
/* 0 when the connection is broken (PostgreSQL server gone): the pool drops it. */
int db_usable(struct db *d);

/* Runs one or more statements without parameters or results (DDL, BEGIN). */
int db_exec(struct db *d, const char *sql, struct err *e);
/* write: the transaction takes the write lock now (SQLite BEGIN IMMEDIATE), so two writers
 * queue instead of failing on upgrade. */
int db_begin(struct db *d, int write, struct err *e);
int db_commit(struct db *d, struct err *e);
void db_rollback(struct db *d);

/* Prepares sql. cached: sql is a string literal (its address is the cache key) and the
 * prepared statement is kept for the next call on this connection. NULL with e on failure. */
struct dbq *db_prep(struct db *d, const char *sql, int cached, struct err *e);
/* Parameters are numbered from 1 ($1 …). A NULL text binds SQL NULL. */
void dbq_text(struct dbq *q, int i, const char *s);
void dbq_int(struct dbq *q, int i, int64_t v);
void dbq_real(struct dbq *q, int i, double v);
/* 1: a row is ready, 0: done, < 0: a STORE_* code with e set (constraint violations map
 * to STORE_CONFLICT / STORE_NOTFOUND / STORE_INVALID). */
int dbq_step(struct dbq *q, struct err *e);
/* Columns from 0 of the current row. Text is never NULL ("" for SQL NULL); valid until the
 * next step or dbq_done. */
const char *dbq_col_text(struct dbq *q, int col);
int dbq_col_null(struct dbq *q, int col);
int64_t dbq_col_int(struct dbq *q, int col);
double dbq_col_real(struct dbq *q, int col);
/* Rows changed by the statement (after it ran to its end). */
int64_t dbq_changes(struct dbq *q);
/* Ends (and frees, or resets a cached) statement. NULL is fine. */
void dbq_done(struct dbq *q);

/* Runs sql to its end with the parameters bound by the caller on q; returns dbq_step's
 * code for "done" (0) or an error; for statements that return no rows. */
int dbq_run(struct dbq *q, struct err *e);

#endif
