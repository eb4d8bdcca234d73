/* The fixture of the storage tests that run every case twice: on SQLite and on a
 * throw-away PostgreSQL (tests/pg_temp.sh; PostgreSQL failing to start is a failure, not
 * a skip). Each case opens a fresh database with open_fresh(), or makes one with
 * fresh_db() and opens g_url itself (twice, for cases of two replicas on one database).
 * A test file includes test.h, defines TWO_BACKENDS_NAME (a short word: the temporary
 * folder's and the databases' names) and includes this; its main states TEST_EXPECT, runs
 * what needs no database (two_backends_tmp() gives it g_tmp first if it needs a folder),
 * and returns two_backends_run(suite), which runs suite() on each back end, or
 * two_backends_run_pg(suite, pg_only) to run pg_only() after suite() on PostgreSQL. */
#ifndef OMNI_TESTS_TWO_BACKENDS_H
#define OMNI_TESTS_TWO_BACKENDS_H
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "storage/storage.h"

#ifndef TWO_BACKENDS_NAME
#error "define TWO_BACKENDS_NAME before including two_backends.h"
#endif

static const char *g_backend;  /* "sqlite" or "postgres": the one suite() runs on */
static char g_tmp[256];        /* the run's temporary folder */
static char g_pg_url[512];     /* the PostgreSQL server's admin URL (database postgres) */
static char g_url[1200];       /* the current case's database */
static char g_sqlite_path[1024]; /* on SQLite: the current case's file */
static int g_case_no;

/* A fresh, empty database for the case, not opened: its URL in g_url (on SQLite its file
 * in g_sqlite_path). 0, or -1 said on stderr. */
static int fresh_db(void) {
    g_case_no++;
    if (!strcmp(g_backend, "sqlite")) {
        snprintf(g_sqlite_path, sizeof g_sqlite_path, "%s/case%d.db", g_tmp, g_case_no);
        snprintf(g_url, sizeof g_url, "sqlite:%s", g_sqlite_path);
        return 0;
    }
    PGconn *c = PQconnectdb(g_pg_url);
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s%d", TWO_BACKENDS_NAME, g_case_no);
    PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) fprintf(stderr, "  %s: %s\n", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    if (!ok) return -1;
    /* g_pg_url ends in /postgres */
    snprintf(g_url, sizeof g_url, "%.*s/%s%d", (int)(strrchr(g_pg_url, '/') - g_pg_url), g_pg_url, TWO_BACKENDS_NAME,
             g_case_no);
    return 0;
}

/* fresh_db() opened; NULL (said on stderr) when it fails. */
static struct store *open_fresh(void) {
    if (fresh_db()) return NULL;
    struct err e = {{0}};
    struct store *st = NULL;
    if (store_open(g_url, &st, &e)) fprintf(stderr, "  store_open(%s): %s\n", g_url, e.msg);
    return st;
}

static int sh(const char *cmd, char *out, size_t cap) {
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = out ? fread(out, 1, cap - 1, p) : 0;
    if (out) out[n] = 0;
    return pclose(p);
}

TEST(postgres_started) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "sh tests/pg_temp.sh start %s/pg", g_tmp);
    int rc = sh(cmd, g_pg_url, sizeof g_pg_url);
    g_pg_url[strcspn(g_pg_url, "\n")] = 0;
    REQUIRE(rc == 0 && !strncmp(g_pg_url, "postgresql://", 13),
            "could not start a throw-away PostgreSQL with tests/pg_temp.sh (exit %d; scripts/setup.sh installs it)", rc);
}

/* Makes the run's temporary folder g_tmp once; 0 or -1. */
static int two_backends_tmp(void) {
    if (g_tmp[0]) return 0;
    snprintf(g_tmp, sizeof g_tmp, "/tmp/omni-%s-XXXXXX", TWO_BACKENDS_NAME);
    if (!mkdtemp(g_tmp)) { perror("mkdtemp"); g_tmp[0] = 0; return -1; }
    return 0;
}

/* suite() on SQLite, then on PostgreSQL once it started (one case more: postgres_started)
 * followed by pg_only() (may be NULL); removes the server and the folder; returns
 * test_summary(). */
static int two_backends_run_pg(void (*suite)(void), void (*pg_only)(void)) {
    if (two_backends_tmp()) return 1;
    g_backend = "sqlite";
    fprintf(stderr, "== sqlite\n");
    suite();
    g_backend = "postgres";
    fprintf(stderr, "== postgres\n");
    int before = t_failed;
    RUN(postgres_started);
    if (t_failed == before) {
        suite();
        if (pg_only) pg_only();
    }
    char cmd[700];
    snprintf(cmd, sizeof cmd, "sh tests/pg_temp.sh stop %s/pg; rm -rf %s", g_tmp, g_tmp);
    sh(cmd, NULL, 0);
    return test_summary();
}

static inline int two_backends_run(void (*suite)(void)) { return two_backends_run_pg(suite, NULL); }
#endif
