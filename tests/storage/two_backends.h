/* The fixture of the storage tests that run every case twice: on SQLite and on a
 * throw-away PostgreSQL (tests/pg_temp.sh; PostgreSQL failing to start is a failure, not
 * a skip). Each case opens a fresh database with open_fresh(). A test file includes
 * test.h, defines TWO_BACKENDS_NAME (a short word: the temporary folder's and the
 * databases' names) and includes this; its main states TEST_EXPECT, runs what needs no
 * database, and returns two_backends_run(suite), which runs suite() on each back end. */
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
static char g_tmp[256], g_pg_url[512], g_url[1200];
static int g_case_no;

static struct store *open_fresh(void) {
    g_case_no++;
    if (!strcmp(g_backend, "sqlite")) snprintf(g_url, sizeof g_url, "sqlite:%s/case%d.db", g_tmp, g_case_no);
    else {
        PGconn *c = PQconnectdb(g_pg_url);
        char sql[128];
        snprintf(sql, sizeof sql, "CREATE DATABASE %s%d", TWO_BACKENDS_NAME, g_case_no);
        PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
        int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok) fprintf(stderr, "  %s: %s\n", sql, PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
        if (!ok) return NULL;
        snprintf(g_url, sizeof g_url, "%.*s/%s%d", (int)(strrchr(g_pg_url, '/') - g_pg_url), g_pg_url,
                 TWO_BACKENDS_NAME, g_case_no);
    }
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

/* suite() on SQLite, then on PostgreSQL once it started (one case more: postgres_started);
 * removes the server and the folder; returns test_summary(). */
static int two_backends_run(void (*suite)(void)) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/omni-%s-XXXXXX", TWO_BACKENDS_NAME);
    if (!mkdtemp(g_tmp)) { perror("mkdtemp"); return 1; }
    g_backend = "sqlite";
    fprintf(stderr, "== sqlite\n");
    suite();
    g_backend = "postgres";
    fprintf(stderr, "== postgres\n");
    int before = t_failed;
    RUN(postgres_started);
    if (t_failed == before) suite();
    char cmd[700];
    snprintf(cmd, sizeof cmd, "sh tests/pg_temp.sh stop %s/pg; rm -rf %s", g_tmp, g_tmp);
    sh(cmd, NULL, 0);
    return test_summary();
}
#endif
