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

#define TWO_BACKENDS_NAME "audit"
#include "two_backends.h"

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

static void suite(void) {
    RUN(audit_rows);
    RUN(policies);
}

int main(void) {
    TEST_EXPECT(2 * 2 + 1);
    return two_backends_run(suite);
}
