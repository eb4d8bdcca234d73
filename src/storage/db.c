/* db.h over SQLite (sqlite3) and PostgreSQL (libpq), chosen per connection.
 *
 * SQLite: WAL (readers never wait for the writer), synchronous=NORMAL by default (a commit
 * is in the WAL file, in the kernel's page cache, before it returns: it survives kill -9 of
 * the process; "?synchronous=full" fsyncs each commit so it survives a power cut too),
 * foreign keys on, a 30 s busy timeout (writers from other connections and processes queue), and
 * prepared statements kept per connection keyed by the SQL literal's address.
 * Parameters are written $1..$N in both dialects; SQLite takes "$1" as a named parameter,
 * looked up by name so the order of first use does not matter.
 *
 * PostgreSQL: text-format parameters and results through PQexecParams, or PQexecPrepared
 * for cached statements (prepared once per connection). SQLSTATE classes map to the store's
 * codes: 23505 unique → CONFLICT, 23503 foreign key → NOTFOUND, 23514/22xxx → INVALID. */
#include "storage/db.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/storage.h"

#define DB_CACHE 64
#define DB_MAXP 24

struct cache_ent {
    const char *sql;
    sqlite3_stmt *st;   /* SQLite */
    int pg_prepared;    /* PostgreSQL: prepared as "s<index>" */
};

struct db {
    enum db_kind kind;
    sqlite3 *sq;
    PGconn *pg;
    struct cache_ent cache[DB_CACHE];
    int n_cache;
};

struct dbq {
    struct db *d;
    const char *sql;
    int cached;            /* index into d->cache, or -1 */
    int err;               /* a bind failed (out of memory): reported at step */
    /* SQLite */
    sqlite3_stmt *st;
    int64_t changes;
    /* PostgreSQL */
    char *pv[DB_MAXP];
    int np;
    PGresult *res;
    int row, nrows, ran;
};

enum db_kind db_kind(const struct db *d) { return d->kind; }

/* ---- SQLite ---- */

static int sq_code(sqlite3 *db, int rc) {
    int x = sqlite3_extended_errcode(db);
    if (rc == SQLITE_CONSTRAINT || (x & 0xff) == SQLITE_CONSTRAINT) {
        if (x == SQLITE_CONSTRAINT_UNIQUE || x == SQLITE_CONSTRAINT_PRIMARYKEY) return STORE_CONFLICT;
        if (x == SQLITE_CONSTRAINT_FOREIGNKEY) return STORE_NOTFOUND;
        return STORE_INVALID;
    }
    if (rc == SQLITE_TOOBIG || rc == SQLITE_MISMATCH || rc == SQLITE_RANGE) return STORE_INVALID;
    return STORE_ERR;
}

static int sq_err(struct db *d, int rc, struct err *e, const char *what) {
    err_set(e, "sqlite: %s: %s", what, sqlite3_errmsg(d->sq));
    return sq_code(d->sq, rc);
}

/* path may end in "?synchronous=full" (or "normal"): see storage.h */
static int sq_connect(const char *target, struct db *d, struct err *e) {
    char path[4096];
    const char *sync = "NORMAL";
    const char *qm = strrchr(target, '?');
    size_t n = qm ? (size_t)(qm - target) : strlen(target);
    if (n >= sizeof path) return err_set(e, "sqlite: path too long");
    memcpy(path, target, n);
    path[n] = 0;
    if (qm) {
        if (!strcmp(qm, "?synchronous=full")) sync = "FULL";
        else if (!strcmp(qm, "?synchronous=normal")) sync = "NORMAL";
        else return err_set(e, "sqlite: unknown option '%s' (want ?synchronous=full or ?synchronous=normal)", qm + 1),
                    STORE_INVALID;
    }
    int rc = sqlite3_open_v2(path, &d->sq, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        err_set(e, "sqlite: %s: %s", path, d->sq ? sqlite3_errmsg(d->sq) : "out of memory");
        return STORE_ERR;
    }
    sqlite3_busy_timeout(d->sq, 30000);
    sqlite3_extended_result_codes(d->sq, 1);
    char *msg = NULL;
    /* journal_mode is persistent in the file; the others are per connection */
    char pragmas[256];
    /* mmap: reads of a warm database are memory reads, not a read() per page (a search
     * that scans a user's messages spent as much time in the kernel as in SQLite) */
    snprintf(pragmas, sizeof pragmas, "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA foreign_keys=ON;"
             " PRAGMA mmap_size=268435456; PRAGMA cache_size=-16384;", sync);
    rc = sqlite3_exec(d->sq, pragmas, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        err_set(e, "sqlite: %s: %s", path, msg ? msg : sqlite3_errmsg(d->sq));
        sqlite3_free(msg);
        return STORE_ERR;
    }
    return 0;
}

/* ---- PostgreSQL ---- */

static int pg_code(const PGresult *r) {
    const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (!s) return STORE_ERR;
    if (!strcmp(s, "23505")) return STORE_CONFLICT;
    if (!strcmp(s, "23503")) return STORE_NOTFOUND;
    if (!strcmp(s, "23514") || !strcmp(s, "23502") || !strncmp(s, "22", 2)) return STORE_INVALID;
    return STORE_ERR;
}

static int pg_err(struct db *d, const PGresult *r, struct err *e, const char *what) {
    const char *m = r ? PQresultErrorMessage(r) : NULL;
    if (!m || !*m) m = PQerrorMessage(d->pg);
    char buf[400];
    snprintf(buf, sizeof buf, "%s", m && *m ? m : "out of memory");
    buf[strcspn(buf, "\n")] = 0;
    err_set(e, "postgres: %s: %s", what, buf);
    return pg_code(r);
}

static void pg_quiet(void *arg, const char *msg) { (void)arg; (void)msg; } /* NOTICEs ("already exists") */

static int pg_connect(const char *conninfo, struct db *d, struct err *e) {
    d->pg = PQconnectdb(conninfo);
    if (!d->pg) return err_set(e, "postgres: out of memory");
    if (PQstatus(d->pg) != CONNECTION_OK) {
        char buf[400];
        snprintf(buf, sizeof buf, "%s", PQerrorMessage(d->pg));
        buf[strcspn(buf, "\n")] = 0;
        err_set(e, "postgres: cannot connect: %s", buf);
        return STORE_ERR;
    }
    PQsetNoticeProcessor(d->pg, pg_quiet, NULL);
    PGresult *r = PQexec(d->pg, "SET client_encoding = 'UTF8'; SET standard_conforming_strings = on; "
                                "SET synchronous_commit = on");
    int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) pg_err(d, r, e, "session settings");
    PQclear(r);
    return ok ? 0 : STORE_ERR;
}

/* ---- common ---- */

int db_connect(enum db_kind kind, const char *target, struct db **out, struct err *e) {
    *out = NULL;
    struct db *d = calloc(1, sizeof *d);
    if (!d) return err_set(e, "out of memory");
    d->kind = kind;
    int rc = kind == DB_SQLITE ? sq_connect(target, d, e) : pg_connect(target, d, e);
    if (rc) {
        db_disconnect(d);
        return rc;
    }
    *out = d;
    return 0;
}

void db_disconnect(struct db *d) {
    if (!d) return;
    for (int i = 0; i < d->n_cache; i++) sqlite3_finalize(d->cache[i].st);
    if (d->sq) sqlite3_close(d->sq);
    if (d->pg) PQfinish(d->pg);
    free(d);
}

int db_usable(struct db *d) {
    if (d->kind == DB_SQLITE) return 1;
    return PQstatus(d->pg) == CONNECTION_OK && PQtransactionStatus(d->pg) == PQTRANS_IDLE;
}

int db_exec(struct db *d, const char *sql, struct err *e) {
    if (d->kind == DB_SQLITE) {
        char *msg = NULL;
        int rc = sqlite3_exec(d->sq, sql, NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
            err_set(e, "sqlite: %s", msg ? msg : sqlite3_errmsg(d->sq));
            sqlite3_free(msg);
            return sq_code(d->sq, rc);
        }
        return 0;
    }
    PGresult *r = PQexec(d->pg, sql);
    ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    int rc = 0;
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) rc = pg_err(d, r, e, "exec");
    PQclear(r);
    return rc;
}

int db_begin(struct db *d, int write, struct err *e) {
    if (d->kind == DB_SQLITE) return db_exec(d, write ? "BEGIN IMMEDIATE" : "BEGIN", e);
    return db_exec(d, "BEGIN", e);
}

int db_commit(struct db *d, struct err *e) {
    int rc = db_exec(d, "COMMIT", e);
    if (rc) db_rollback(d);
    return rc;
}

void db_rollback(struct db *d) {
    if (d->kind == DB_SQLITE) {
        if (!sqlite3_get_autocommit(d->sq)) sqlite3_exec(d->sq, "ROLLBACK", NULL, NULL, NULL);
        return;
    }
    if (PQtransactionStatus(d->pg) != PQTRANS_IDLE) PQclear(PQexec(d->pg, "ROLLBACK"));
}

struct dbq *db_prep(struct db *d, const char *sql, int cached, struct err *e) {
    struct dbq *q = calloc(1, sizeof *q);
    if (!q) {
        err_set(e, "out of memory");
        return NULL;
    }
    q->d = d;
    q->sql = sql;
    q->cached = -1;
    int slot = -1;
    if (cached) {
        for (int i = 0; i < d->n_cache; i++)
            if (d->cache[i].sql == sql) { slot = i; break; }
        if (slot < 0 && d->n_cache < DB_CACHE) {
            slot = d->n_cache++;
            d->cache[slot].sql = sql;
            d->cache[slot].st = NULL;
            d->cache[slot].pg_prepared = 0;
        }
        q->cached = slot;
    }
    if (d->kind == DB_SQLITE) {
        if (slot >= 0 && d->cache[slot].st) {
            q->st = d->cache[slot].st;
            return q;
        }
        int rc = sqlite3_prepare_v3(d->sq, sql, -1, slot >= 0 ? SQLITE_PREPARE_PERSISTENT : 0, &q->st, NULL);
        if (rc != SQLITE_OK) {
            sq_err(d, rc, e, "prepare");
            free(q);
            return NULL;
        }
        if (slot >= 0) d->cache[slot].st = q->st;
        return q;
    }
    if (slot >= 0 && !d->cache[slot].pg_prepared) {
        char name[16];
        snprintf(name, sizeof name, "s%d", slot);
        PGresult *r = PQprepare(d->pg, name, sql, 0, NULL);
        int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok) {
            pg_err(d, r, e, "prepare");
            PQclear(r);
            free(q);
            return NULL;
        }
        PQclear(r);
        d->cache[slot].pg_prepared = 1;
    }
    return q;
}

static int pg_set(struct dbq *q, int i, char *v) {
    if (i < 1 || i > DB_MAXP) { free(v); q->err = STORE_INVALID; return -1; }
    free(q->pv[i - 1]);
    q->pv[i - 1] = v;
    if (i > q->np) q->np = i;
    return 0;
}

static int sq_index(struct dbq *q, int i) {
    char name[16];
    snprintf(name, sizeof name, "$%d", i);
    return sqlite3_bind_parameter_index(q->st, name);
}

void dbq_text(struct dbq *q, int i, const char *s) {
    if (q->d->kind == DB_SQLITE) {
        int rc = s ? sqlite3_bind_text(q->st, sq_index(q, i), s, -1, SQLITE_TRANSIENT)
                   : sqlite3_bind_null(q->st, sq_index(q, i));
        if (rc != SQLITE_OK && !q->err) q->err = rc == SQLITE_NOMEM ? STORE_ERR : STORE_INVALID;
        return;
    }
    if (!s) { pg_set(q, i, NULL); return; }
    char *c = strdup(s);
    if (!c) { q->err = STORE_ERR; return; }
    pg_set(q, i, c);
}

void dbq_int(struct dbq *q, int i, int64_t v) {
    if (q->d->kind == DB_SQLITE) {
        if (sqlite3_bind_int64(q->st, sq_index(q, i), v) != SQLITE_OK && !q->err) q->err = STORE_INVALID;
        return;
    }
    char buf[24];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    dbq_text(q, i, buf);
}

void dbq_real(struct dbq *q, int i, double v) {
    if (q->d->kind == DB_SQLITE) {
        if (sqlite3_bind_double(q->st, sq_index(q, i), v) != SQLITE_OK && !q->err) q->err = STORE_INVALID;
        return;
    }
    char buf[40];
    snprintf(buf, sizeof buf, "%.17g", v);
    dbq_text(q, i, buf);
}

int dbq_step(struct dbq *q, struct err *e) {
    struct db *d = q->d;
    if (q->err) return err_set(e, q->err == STORE_ERR ? "out of memory" : "bad query parameter"), q->err;
    if (d->kind == DB_SQLITE) {
        int rc = sqlite3_step(q->st);
        if (rc == SQLITE_ROW) return 1;
        if (rc == SQLITE_DONE) {
            q->changes = sqlite3_changes(d->sq);
            return 0;
        }
        return sq_err(d, rc, e, "query");
    }
    if (!q->ran) {
        q->ran = 1;
        const char *const *pv = (const char *const *)q->pv;
        if (q->cached >= 0) {
            char name[16];
            snprintf(name, sizeof name, "s%d", q->cached);
            q->res = PQexecPrepared(d->pg, name, q->np, pv, NULL, NULL, 0);
        } else {
            q->res = PQexecParams(d->pg, q->sql, q->np, NULL, pv, NULL, NULL, 0);
        }
        ExecStatusType s = q->res ? PQresultStatus(q->res) : PGRES_FATAL_ERROR;
        if (s == PGRES_TUPLES_OK) {
            q->nrows = PQntuples(q->res);
            const char *ct = PQcmdTuples(q->res);
            q->changes = ct && *ct ? atoll(ct) : q->nrows;
        } else if (s == PGRES_COMMAND_OK) {
            const char *ct = PQcmdTuples(q->res);
            q->changes = ct && *ct ? atoll(ct) : 0;
            q->nrows = 0;
        } else {
            return pg_err(d, q->res, e, "query");
        }
        q->row = -1;
    }
    if (q->row + 1 < q->nrows) {
        q->row++;
        return 1;
    }
    return 0;
}

const char *dbq_col_text(struct dbq *q, int col) {
    if (q->d->kind == DB_SQLITE) {
        const unsigned char *s = sqlite3_column_text(q->st, col);
        return s ? (const char *)s : "";
    }
    if (!q->res || q->row < 0 || q->row >= q->nrows || col >= PQnfields(q->res)) return "";
    return PQgetvalue(q->res, q->row, col);
}

int dbq_col_null(struct dbq *q, int col) {
    if (q->d->kind == DB_SQLITE) return sqlite3_column_type(q->st, col) == SQLITE_NULL;
    if (!q->res || q->row < 0 || q->row >= q->nrows || col >= PQnfields(q->res)) return 1;
    return PQgetisnull(q->res, q->row, col);
}

int64_t dbq_col_int(struct dbq *q, int col) {
    if (q->d->kind == DB_SQLITE) return sqlite3_column_int64(q->st, col);
    return strtoll(dbq_col_text(q, col), NULL, 10);
}

double dbq_col_real(struct dbq *q, int col) {
    if (q->d->kind == DB_SQLITE) return sqlite3_column_double(q->st, col);
    return strtod(dbq_col_text(q, col), NULL);
}

int64_t dbq_changes(struct dbq *q) { return q->changes; }

void dbq_done(struct dbq *q) {
    if (!q) return;
    if (q->d->kind == DB_SQLITE) {
        if (q->cached >= 0 && q->d->cache[q->cached].st == q->st) {
            sqlite3_reset(q->st);
            sqlite3_clear_bindings(q->st);
        } else {
            sqlite3_finalize(q->st);
        }
    } else {
        PQclear(q->res);
        for (int i = 0; i < q->np; i++) free(q->pv[i]);
    }
    free(q);
}

int dbq_run(struct dbq *q, struct err *e) {
    int rc;
    while ((rc = dbq_step(q, e)) == 1) {}
    return rc;
}
