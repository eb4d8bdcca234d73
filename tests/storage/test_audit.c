/* storage/audit.h (the moderation audit log and the stored moderation policies), on SQLite
 * and on a throw-away PostgreSQL (tests/pg_temp.sh; PostgreSQL failing to start is a
 * failure, not a skip). Each case gets a fresh database. Checks: rows round-trip newest
 * first with paging, excerpts are cut at a character, pruning by age; policies round-trip
 * per scope, list, delete, and bad scopes or names are refused. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/audit.h"
#include "storage/prefs.h"
#include "test.h"

static const char *g_backend;
static char g_tmp[256], g_pg_url[512], g_url[1200];
static int g_case_no;

static struct store *open_fresh(void) {
    g_case_no++;
    if (!strcmp(g_backend, "sqlite")) snprintf(g_url, sizeof g_url, "sqlite:%s/a%d.db", g_tmp, g_case_no);
    else {
        PGconn *c = PQconnectdb(g_pg_url);
        char sql[64];
        snprintf(sql, sizeof sql, "CREATE DATABASE audit%d", g_case_no);
        PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
        int ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok) fprintf(stderr, "  %s: %s\n", sql, PQerrorMessage(c));
        PQclear(r);
        PQfinish(c);
        if (!ok) return NULL;
        snprintf(g_url, sizeof g_url, "%.*s/audit%d", (int)(strrchr(g_pg_url, '/') - g_pg_url), g_pg_url, g_case_no);
    }
    struct err e = {{0}};
    struct store *st = NULL;
    if (store_open(g_url, &st, &e)) fprintf(stderr, "  store_open(%s): %s\n", g_url, e.msg);
    return st;
}

static int add(struct store *st, int64_t created, const char *rule, const char *excerpt) {
    struct store_audit a;
    memset(&a, 0, sizeof a);
    a.created = created;
    snprintf(a.user_id, sizeof a.user_id, "usr_1");
    snprintf(a.api, sizeof a.api, "chat.completions");
    snprintf(a.stage, sizeof a.stage, "input");
    snprintf(a.rule, sizeof a.rule, "%s", rule);
    snprintf(a.action, sizeof a.action, "block");
    snprintf(a.excerpt, sizeof a.excerpt, "%s", excerpt);
    struct err e = {{0}};
    return store_audit_add(st, &a, &e);
}

TEST(audit_rows) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct err e = {{0}};
    int64_t now = store_now_ms();
    CHECK(add(st, now - 3 * 86400000LL, "old", "바보") == 0);
    CHECK(add(st, now - 1000, "mid", "idiot") == 0);
    CHECK(add(st, now, "new", "용가리") == 0);
    struct store_audit *r = NULL;
    size_t n = 0;
    REQUIRE(store_audit_list(st, 0, 10, &r, &n, &e) == 0, "list: %s", e.msg);
    REQUIRE(n == 3, "3 rows, got %zu", n);
    CHECK_STR(r[0].rule, "new");
    CHECK_STR(r[1].rule, "mid");
    CHECK_STR(r[2].rule, "old");
    CHECK_STR(r[0].excerpt, "용가리");
    CHECK_STR(r[0].api, "chat.completions");
    CHECK_STR(r[0].user_id, "usr_1");
    CHECK(!strncmp(r[0].id, "aud_", 4));
    int64_t before = r[1].created;
    free(r);
    REQUIRE(store_audit_list(st, before, 10, &r, &n, &e) == 0, "page");
    CHECK_EQ_INT(n, 1);
    if (n) CHECK_STR(r[0].rule, "old");
    free(r);
    REQUIRE(store_audit_list(st, 0, 1, &r, &n, &e) == 0, "limit");
    CHECK_EQ_INT(n, 1);
    free(r);
    /* a long excerpt is cut, never inside a character */
    char longx[2000] = "";
    for (int i = 0; i < 300; i++) strcat(longx, "가");
    CHECK(add(st, now + 1, "long", longx) == 0);
    REQUIRE(store_audit_list(st, 0, 1, &r, &n, &e) == 0 && n == 1, "long");
    CHECK(strlen(r[0].excerpt) <= STORE_AUDIT_EXCERPT_MAX && strlen(r[0].excerpt) % 3 == 0);
    free(r);
    int64_t gone = 0;
    CHECK(store_audit_prune(st, now - 86400000LL, &gone, &e) == 0);
    CHECK_EQ_INT(gone, 1);
    REQUIRE(store_audit_list(st, 0, 10, &r, &n, &e) == 0, "after prune");
    CHECK_EQ_INT(n, 3);
    free(r);
    store_close(st);
}

TEST(policies) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct err e = {{0}};
    char *doc = NULL;
    CHECK(store_policy_get(st, "tier", "free", &doc, &e) == STORE_NOTFOUND);
    CHECK(store_policy_put(st, "tier", "free", "{\"rules\": []}", &e) == 0);
    CHECK(store_policy_put(st, "assistant", "asst_x", "{\"input\": false}", &e) == 0);
    CHECK(store_policy_put(st, "key", "key_y", "{}", &e) == 0);
    CHECK(store_policy_put(st, "tier", "free", "{\"rules\": [], \"output\": true}", &e) == 0);   /* replaces */
    REQUIRE(store_policy_get(st, "tier", "free", &doc, &e) == 0 && doc, "get");
    CHECK_STR(doc, "{\"rules\": [], \"output\": true}");
    free(doc);
    CHECK(store_policy_put(st, "galaxy", "free", "{}", &e) == STORE_INVALID);
    CHECK(store_policy_put(st, "tier", "", "{}", &e) == STORE_INVALID);
    CHECK(store_policy_put(st, "tier", "a/b", "{}", &e) == STORE_INVALID);
    /* other server settings are no policies */
    CHECK(store_server_put(st, "moderation_audit_retention_days", "7", &e) == 0);
    char **names = NULL, **docs = NULL;
    size_t n = 0;
    REQUIRE(store_policy_list(st, &names, &docs, &n, &e) == 0, "list: %s", e.msg);
    CHECK_EQ_INT(n, 3);
    if (n == 3) {
        CHECK_STR(names[0], "assistant/asst_x");
        CHECK_STR(names[1], "key/key_y");
        CHECK_STR(names[2], "tier/free");
        CHECK_STR(docs[0], "{\"input\": false}");
    }
    for (size_t i = 0; i < n; i++) free(names[i]), free(docs[i]);
    free(names);
    free(docs);
    CHECK(store_policy_delete(st, "key", "key_y", &e) == 0);
    CHECK(store_policy_delete(st, "key", "key_y", &e) == STORE_NOTFOUND);
    CHECK(store_policy_get(st, "key", "key_y", &doc, &e) == STORE_NOTFOUND);
    store_close(st);
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

static void suite(void) {
    RUN(audit_rows);
    RUN(policies);
}

int main(void) {
    TEST_EXPECT(2 * 2 + 1);
    snprintf(g_tmp, sizeof g_tmp, "/tmp/omni-audit-XXXXXX");
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
