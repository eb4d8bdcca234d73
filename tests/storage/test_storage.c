/* The storage suite (src/storage/storage.h), run twice: on SQLite and on a throw-away
 * PostgreSQL that tests/pg_temp.sh starts from Debian's postgresql package (initdb in a
 * temp folder, loopback only). PostgreSQL missing or failing to start is a failure, not a
 * skip: scripts/setup.sh installs it.
 *
 * Each case gets a fresh database (a new SQLite file; a new PostgreSQL database), so
 * "the first user is the admin" and counts hold in every case. Nothing here depends on
 * timing: concurrency cases check exact totals, the crash case kills a writer after it
 * acknowledged a number of writes, whenever that happens. */
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "storage/responses.h"
#include "storage/storage.h"
#include "test.h"

#define TWO_BACKENDS_NAME "storage"
#include "two_backends.h"

static int mk_user(struct store *st, const char *email, struct store_user *out) {
    struct store_user u;
    memset(&u, 0, sizeof u);
    snprintf(u.email, sizeof u.email, "%s", email);
    snprintf(u.name, sizeof u.name, "name of %s", email);
    snprintf(u.password_hash, sizeof u.password_hash, "$argon2id$fake");
    struct err e = {{0}};
    int rc = store_user_create(st, &u, STORE_FIRST_IS_ADMIN, out, &e);
    if (rc) fprintf(stderr, "  user_create %s: %s\n", email, e.msg);
    return rc;
}

static int mk_conv(struct store *st, const char *user_id, const char *title, struct store_conv *out) {
    struct store_conv c;
    memset(&c, 0, sizeof c);
    snprintf(c.user_id, sizeof c.user_id, "%s", user_id);
    snprintf(c.title, sizeof c.title, "%s", title);
    snprintf(c.model, sizeof c.model, "qwen3-0.6b");
    struct err e = {{0}};
    int rc = store_conv_create(st, &c, out, &e);
    if (rc) fprintf(stderr, "  conv_create: %s\n", e.msg);
    return rc;
}

static int add_msg(struct store *st, const char *user_id, const char *conv, const char *parent, const char *role,
                   const char *content, char *id_out) {
    struct store_msg m;
    memset(&m, 0, sizeof m);
    snprintf(m.conv_id, sizeof m.conv_id, "%s", conv);
    snprintf(m.parent_id, sizeof m.parent_id, "%s", parent ? parent : "");
    snprintf(m.role, sizeof m.role, "%s", role);
    m.content = (char *)content;
    struct err e = {{0}};
    int rc = store_msg_add(st, user_id, &m, 0, id_out, &e);
    if (rc && rc != STORE_NOTFOUND) fprintf(stderr, "  msg_add: %s\n", e.msg);
    return rc;
}

/* ---- cases ---- */

TEST(migrations_idempotent) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct err e = {{0}};
    int v = -1;
    CHECK(store_schema_version(st, &v, &e) == 0);
    CHECK_EQ_INT(v, store_schema_latest());
    CHECK(store_schema_latest() >= 1);
    CHECK_STR(store_backend(st), g_backend);
    struct store_user u;
    CHECK(mk_user(st, "keep@x.org", &u) == 0);
    store_close(st);
    /* reopen: nothing is applied twice, the data is there */
    for (int i = 0; i < 2; i++) {
        REQUIRE(store_open(g_url, &st, &e) == 0, "reopen: %s", e.msg);
        v = -1;
        CHECK(store_schema_version(st, &v, &e) == 0);
        CHECK_EQ_INT(v, store_schema_latest());
        struct store_user g;
        CHECK(store_user_get(st, u.id, &g, &e) == 0);
        int64_t n = 0;
        CHECK(store_user_count(st, &n, &e) == 0);
        CHECK_EQ_INT(n, 1);
        store_close(st);
    }
    if (strcmp(g_backend, "sqlite")) return;
    /* an upgrade: a database at version 1 with a message in it gets migration 2 (the
     * clustered search text), backfilled, and the later ones (3: responses) */
    REQUIRE(store_open(g_url, &st, &e) == 0, "reopen: %s", e.msg);
    struct store_conv c = {0};
    strcpy(c.user_id, u.id);
    REQUIRE(store_conv_create(st, &c, &c, &e) == 0, "conv");
    struct store_msg m = {0};
    strcpy(m.conv_id, c.id);
    strcpy(m.role, "user");
    m.content = "예전 메시지";
    REQUIRE(store_msg_add(st, u.id, &m, 0, NULL, &e) == 0, "msg");
    store_close(st);
    sqlite3 *db = NULL;
    REQUIRE(sqlite3_open(g_sqlite_path, &db) == SQLITE_OK, "sqlite3_open");
    CHECK(sqlite3_exec(db, "DROP TRIGGER message_text_ai; DROP TRIGGER message_text_ad; DROP TRIGGER message_text_au;"
                           " DROP TABLE message_text; DROP TABLE api_conv_items; DROP TABLE api_conversations; DROP TABLE responses;"
                           " DELETE FROM schema_version WHERE version >= 2", NULL, NULL, NULL) ==
          SQLITE_OK);
    sqlite3_close(db);
    REQUIRE(store_open(g_url, &st, &e) == 0, "upgrade: %s", e.msg);
    CHECK(store_schema_version(st, &v, &e) == 0);
    CHECK_EQ_INT(v, store_schema_latest());
    struct store_hits h;
    CHECK(store_search(st, u.id, "예전", -1, 0, &h, &e) == 0);
    CHECK_EQ_INT(h.n, 1);
    store_hits_free(&h);
    store_close(st);
    /* a database from a newer omni is refused */
    REQUIRE(sqlite3_open(g_sqlite_path, &db) == SQLITE_OK, "sqlite3_open");
    CHECK(sqlite3_exec(db, "INSERT INTO schema_version (version, applied) VALUES (999, 0)", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    st = NULL;
    CHECK(store_open(g_url, &st, &e) != 0 && !st);
    CHECK(strstr(e.msg, "newer") != NULL);
}

TEST(bad_urls) {
    struct err e = {{0}};
    struct store *st = NULL;
    CHECK(store_open("mysql://x", &st, &e) == STORE_INVALID && !st && strstr(e.msg, "unknown"));
    CHECK(store_open("sqlite:", &st, &e) == STORE_INVALID);
    CHECK(store_open("", &st, &e) == STORE_INVALID);
    CHECK(store_open("sqlite:/nonexistent-dir-omni/x/y.db", &st, &e) == STORE_ERR && !st);
    char url[600];
    snprintf(url, sizeof url, "sqlite:%s/opt.db?fast=1", g_tmp);
    CHECK(store_open(url, &st, &e) == STORE_INVALID && !st);
    snprintf(url, sizeof url, "sqlite:%s/opt.db?synchronous=full", g_tmp);
    CHECK(store_open(url, &st, &e) == 0 && st);
    store_close(st);
    if (!strcmp(g_backend, "postgres")) {
        CHECK(store_open("postgresql://omni@127.0.0.1:1/nope", &st, &e) == STORE_ERR && !st);
        CHECK(strstr(e.msg, "postgres") != NULL);
    }
}

TEST(users) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct err e = {{0}};
    struct store_user a, b, g;
    REQUIRE(mk_user(st, "Alice@Example.com", &a) == 0, "create");
    CHECK_STR(a.role, "admin");       /* the first account */
    CHECK_STR(a.tier, "free");
    CHECK_STR(a.status, "active");
    CHECK(!strncmp(a.id, "usr_", 4) && strlen(a.id) == 26);
    REQUIRE(mk_user(st, "bob@example.com", &b) == 0, "create");
    CHECK_STR(b.role, "user");
    /* email unique ignoring case */
    struct store_user dup;
    memset(&dup, 0, sizeof dup);
    strcpy(dup.email, "ALICE@example.COM");
    CHECK(store_user_create(st, &dup, 0, NULL, &e) == STORE_CONFLICT);
    CHECK(store_user_get_by_email(st, "alice@EXAMPLE.com", &g, &e) == 0);
    CHECK_STR(g.id, a.id);
    CHECK_STR(g.email, "Alice@Example.com");
    CHECK_STR(g.password_hash, "$argon2id$fake");
    CHECK(store_user_get_by_email(st, "carol@example.com", &g, &e) == STORE_NOTFOUND);
    CHECK(store_user_get(st, "usr_nope", &g, &e) == STORE_NOTFOUND);
    /* bad role/status */
    memset(&dup, 0, sizeof dup);
    strcpy(dup.email, "x@y");
    strcpy(dup.role, "root");
    CHECK(store_user_create(st, &dup, 0, NULL, &e) == STORE_INVALID);
    memset(&dup, 0, sizeof dup);
    CHECK(store_user_create(st, &dup, 0, NULL, &e) == STORE_INVALID); /* no email */
    /* update */
    g = b;
    strcpy(g.name, "Bob B");
    strcpy(g.tier, "plus");
    strcpy(g.role, "trainer");
    strcpy(g.status, "disabled");
    g.consent = 1;
    CHECK(store_user_update(st, &g, STORE_USER_NAME | STORE_USER_TIER | STORE_USER_ROLE | STORE_USER_STATUS |
                                        STORE_USER_CONSENT, &e) == 0);
    CHECK(store_user_get(st, b.id, &g, &e) == 0);
    CHECK_STR(g.name, "Bob B");
    CHECK_STR(g.tier, "plus");
    CHECK_STR(g.role, "trainer");
    CHECK_STR(g.status, "disabled");
    CHECK_EQ_INT(g.consent, 1);
    CHECK_STR(g.email, "bob@example.com"); /* not in the mask: unchanged */
    strcpy(g.email, "alice@example.com");
    CHECK(store_user_update(st, &g, STORE_USER_EMAIL, &e) == STORE_CONFLICT);
    strcpy(g.role, "god");
    CHECK(store_user_update(st, &g, STORE_USER_ROLE, &e) == STORE_INVALID);
    strcpy(g.id, "usr_nope");
    CHECK(store_user_update(st, &g, STORE_USER_NAME, &e) == STORE_NOTFOUND);
    /* list, count */
    struct store_user *all = NULL;
    size_t n = 0;
    CHECK(store_user_list(st, 0, 0, &all, &n, &e) == 0);
    CHECK_EQ_INT(n, 2);
    /* the list's order is (created, id): two accounts made in the same millisecond go by id */
    const struct store_user *first = a.created < b.created || (a.created == b.created && strcmp(a.id, b.id) < 0) ? &a : &b;
    if (n == 2) CHECK_STR(all[0].id, first->id);
    free(all);
    int64_t cnt = 0;
    CHECK(store_user_count(st, &cnt, &e) == 0);
    CHECK_EQ_INT(cnt, 2);
    CHECK(store_user_delete(st, b.id, &e) == 0);
    CHECK(store_user_delete(st, b.id, &e) == STORE_NOTFOUND);
    store_close(st);
}

/* two sign-ups racing on a fresh install: exactly one admin */
struct admin_race { struct store *st; int i; char role[STORE_ROLE_MAX]; int rc; };
static void *admin_race_run(void *arg) {
    struct admin_race *a = arg;
    char email[64];
    snprintf(email, sizeof email, "racer%d@x.org", a->i);
    struct store_user u;
    a->rc = mk_user(a->st, email, &u);
    if (!a->rc) snprintf(a->role, sizeof a->role, "%s", u.role);
    return NULL;
}
TEST(first_user_admin_race) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct err e = {{0}};
    struct store *st2 = NULL;
    REQUIRE(store_open(g_url, &st2, &e) == 0, "second handle: %s", e.msg);
    struct admin_race r[8];
    pthread_t th[8];
    for (int i = 0; i < 8; i++) {
        r[i] = (struct admin_race){.st = i % 2 ? st2 : st, .i = i};
        pthread_create(&th[i], NULL, admin_race_run, &r[i]);
    }
    int admins = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(r[i].rc, 0);
        admins += !strcmp(r[i].role, "admin");
    }
    CHECK_EQ_INT(admins, 1);
    store_close(st2);
    store_close(st);
}

TEST(sessions) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct err e = {{0}};
    struct store_user u;
    REQUIRE(mk_user(st, "s@x.org", &u) == 0, "user");
    int64_t now = store_now_ms();
    struct store_session s = {0}, g;
    strcpy(s.token_hash, "aaaa1111");
    strcpy(s.user_id, u.id);
    s.expires = now + 3600 * 1000;
    CHECK(store_session_create(st, &s, &e) == 0);
    CHECK(store_session_create(st, &s, &e) == STORE_CONFLICT);
    CHECK(store_session_get(st, "aaaa1111", now, &g, &e) == 0);
    CHECK_STR(g.user_id, u.id);
    CHECK(g.created > 0 && g.last_seen > 0);
    CHECK(store_session_touch(st, "aaaa1111", now + 5, now + 7200 * 1000, &e) == 0);
    CHECK(store_session_get(st, "aaaa1111", now, &g, &e) == 0);
    CHECK_EQ_INT(g.expires, now + 7200 * 1000);
    CHECK_EQ_INT(g.last_seen, now + 5);
    /* expired at a later now: not found, and gone */
    CHECK(store_session_get(st, "aaaa1111", now + 7200 * 1000, &g, &e) == STORE_NOTFOUND);
    CHECK(strstr(e.msg, "expired") != NULL);
    CHECK(store_session_get(st, "aaaa1111", now, &g, &e) == STORE_NOTFOUND);
    /* a session for no user */
    struct store_session bad = s;
    strcpy(bad.token_hash, "bbbb");
    strcpy(bad.user_id, "usr_nope");
    CHECK(store_session_create(st, &bad, &e) == STORE_NOTFOUND);
    /* delete one, all of a user, purge */
    strcpy(s.token_hash, "t1");
    CHECK(store_session_create(st, &s, &e) == 0);
    strcpy(s.token_hash, "t2");
    CHECK(store_session_create(st, &s, &e) == 0);
    strcpy(s.token_hash, "t3");
    s.expires = now - 1;
    CHECK(store_session_create(st, &s, &e) == 0);
    int64_t purged = -1;
    CHECK(store_session_purge(st, now, &purged, &e) == 0);
    CHECK_EQ_INT(purged, 1);
    CHECK(store_session_delete(st, "t1", &e) == 0);
    CHECK(store_session_delete(st, "t1", &e) == STORE_NOTFOUND);
    CHECK(store_session_get(st, "t2", now, &g, &e) == 0);
    CHECK(store_session_delete_user(st, u.id, &e) == 0);
    CHECK(store_session_get(st, "t2", now, &g, &e) == STORE_NOTFOUND);
    store_close(st);
}

TEST(api_keys) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct err e = {{0}};
    struct store_user a, b;
    REQUIRE(mk_user(st, "a@x.org", &a) == 0 && mk_user(st, "b@x.org", &b) == 0, "users");
    struct store_key k = {0}, k2 = {0}, g;
    strcpy(k.user_id, a.id);
    strcpy(k.name, "laptop");
    strcpy(k.prefix, "sk-omni-ab12");
    strcpy(k.key_hash, "hash-one");
    strcpy(k.models, "qwen3-0.6b,smollm2");
    CHECK(store_key_create(st, &k, &k, &e) == 0);
    CHECK(!strncmp(k.id, "key_", 4));
    k2 = k;
    k2.id[0] = 0;
    CHECK(store_key_create(st, &k2, NULL, &e) == STORE_CONFLICT); /* same hash */
    strcpy(k2.key_hash, "hash-two");
    strcpy(k2.models, "");
    k2.created = k.created + 1;
    CHECK(store_key_create(st, &k2, &k2, &e) == 0);
    CHECK(store_key_get_by_hash(st, "hash-one", &g, &e) == 0);
    CHECK_STR(g.id, k.id);
    CHECK_STR(g.user_id, a.id);
    CHECK_STR(g.models, "qwen3-0.6b,smollm2");
    CHECK_EQ_INT(g.revoked, 0);
    struct store_key *l = NULL;
    size_t n = 0;
    CHECK(store_key_list(st, a.id, &l, &n, &e) == 0);
    CHECK_EQ_INT(n, 2);
    if (n == 2) CHECK_STR(l[0].id, k2.id); /* newest first */
    free(l);
    CHECK(store_key_list(st, b.id, &l, &n, &e) == 0);
    CHECK_EQ_INT(n, 0);
    free(l);
    /* another user's key id: not found, for get and revoke */
    CHECK(store_key_get(st, b.id, k.id, &g, &e) == STORE_NOTFOUND);
    CHECK(store_key_revoke(st, b.id, k.id, 0, &e) == STORE_NOTFOUND);
    CHECK(store_key_revoke(st, a.id, k.id, 0, &e) == 0);
    CHECK(store_key_revoke(st, a.id, k.id, 0, &e) == STORE_NOTFOUND);
    CHECK(store_key_get_by_hash(st, "hash-one", &g, &e) == 0);
    CHECK(g.revoked > 0);
    CHECK(store_key_touch(st, k2.id, 1234, &e) == 0);
    CHECK(store_key_get(st, a.id, k2.id, &g, &e) == 0);
    CHECK_EQ_INT(g.last_used, 1234);
    CHECK(store_key_get_by_hash(st, "nope", &g, &e) == STORE_NOTFOUND);
    store_close(st);
}

TEST(conversations_isolated) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct err e = {{0}};
    struct store_user a, b;
    REQUIRE(mk_user(st, "a@x.org", &a) == 0 && mk_user(st, "b@x.org", &b) == 0, "users");
    struct store_conv c, g;
    REQUIRE(mk_conv(st, a.id, "A's secret", &c) == 0, "conv");
    CHECK(!strncmp(c.id, "conv_", 5));
    char m1[STORE_ID_MAX];
    REQUIRE(add_msg(st, a.id, c.id, NULL, "user", "hello", m1) == 0, "msg");
    /* B, with A's ids, sees nothing and changes nothing */
    CHECK(store_conv_get(st, b.id, c.id, &g, &e) == STORE_NOTFOUND);
    struct store_conv upd = c;
    strcpy(upd.title, "pwned");
    CHECK(store_conv_update(st, b.id, c.id, &upd, STORE_CONV_TITLE, &e) == STORE_NOTFOUND);
    CHECK(store_conv_update(st, b.id, c.id, &upd, 0, &e) == STORE_NOTFOUND);
    CHECK(store_conv_delete(st, b.id, c.id, &e) == STORE_NOTFOUND);
    CHECK(add_msg(st, b.id, c.id, NULL, "user", "x", NULL) == STORE_NOTFOUND);
    CHECK(add_msg(st, b.id, c.id, m1, "user", "x", NULL) == STORE_NOTFOUND);
    struct store_msgs ms;
    CHECK(store_msg_tree(st, b.id, c.id, &ms, &e) == STORE_NOTFOUND);
    CHECK(store_msg_path(st, b.id, c.id, NULL, &ms, &e) == STORE_NOTFOUND);
    struct store_msg mm;
    CHECK(store_msg_get(st, b.id, m1, &mm, &e) == STORE_NOTFOUND);
    CHECK(store_msg_update(st, b.id, m1, "pwned", "finished", 0, 0, 0, &e) == STORE_NOTFOUND);
    CHECK(store_conv_set_leaf(st, b.id, c.id, m1, &e) == STORE_NOTFOUND);
    struct store_feedback fb = {0};
    strcpy(fb.msg_id, m1);
    strcpy(fb.user_id, b.id);
    fb.rating = -1;
    CHECK(store_feedback_put(st, &fb, NULL, &e) == STORE_NOTFOUND);
    struct store_conv_list l;
    CHECK(store_conv_list(st, b.id, NULL, &l, &e) == 0);
    CHECK_EQ_INT(l.n, 0);
    store_conv_list_free(&l);
    struct store_hits h;
    CHECK(store_search(st, b.id, "secret", -1, 0, &h, &e) == 0);
    CHECK_EQ_INT(h.n, 0);
    store_hits_free(&h);
    CHECK(store_search(st, b.id, "hello", -1, 0, &h, &e) == 0);
    CHECK_EQ_INT(h.n, 0);
    store_hits_free(&h);
    /* and A's data is untouched */
    CHECK(store_conv_get(st, a.id, c.id, &g, &e) == 0);
    CHECK_STR(g.title, "A's secret");
    CHECK_STR(g.current_leaf, m1);
    CHECK(store_msg_get(st, a.id, m1, &mm, &e) == 0);
    CHECK_STR(mm.content, "hello");
    store_msg_free(&mm);
    /* a conversation for a user that does not exist */
    CHECK(mk_conv(st, "usr_nope", "x", &g) == STORE_NOTFOUND);
    store_close(st);
}

TEST(conversations_list_update) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct err e = {{0}};
    struct store_user a;
    REQUIRE(mk_user(st, "a@x.org", &a) == 0, "user");
    char ids[25][STORE_ID_MAX];
    for (int i = 0; i < 25; i++) {
        struct store_conv c = {0};
        strcpy(c.user_id, a.id);
        snprintf(c.title, sizeof c.title, "chat %d", i);
        c.created = c.updated = 1000000 + i; /* distinct, increasing */
        REQUIRE(store_conv_create(st, &c, &c, &e) == 0, "create: %s", e.msg);
        strcpy(ids[i], c.id);
    }
    struct store_conv_query q = {.archived = 0, .pinned = -1, .limit = 10};
    struct store_conv_list l;
    CHECK(store_conv_list(st, a.id, &q, &l, &e) == 0);
    CHECK_EQ_INT(l.n, 10);
    CHECK(l.has_more);
    if (l.n == 10) { CHECK_STR(l.items[0].id, ids[24]); CHECK_STR(l.items[9].id, ids[15]); }
    store_conv_list_free(&l);
    q.offset = 20;
    CHECK(store_conv_list(st, a.id, &q, &l, &e) == 0);
    CHECK_EQ_INT(l.n, 5);
    CHECK(!l.has_more);
    if (l.n == 5) CHECK_STR(l.items[4].id, ids[0]);
    store_conv_list_free(&l);
    /* archive 3, pin 2 */
    struct store_conv u = {0};
    u.archived = 1;
    for (int i = 0; i < 3; i++) CHECK(store_conv_update(st, a.id, ids[i], &u, STORE_CONV_ARCHIVED, &e) == 0);
    u.pinned = 1;
    CHECK(store_conv_update(st, a.id, ids[10], &u, STORE_CONV_PINNED, &e) == 0);
    CHECK(store_conv_update(st, a.id, ids[11], &u, STORE_CONV_PINNED, &e) == 0);
    q = (struct store_conv_query){.archived = 0, .pinned = -1, .limit = 100};
    CHECK(store_conv_list(st, a.id, &q, &l, &e) == 0);
    CHECK_EQ_INT(l.n, 22);
    store_conv_list_free(&l);
    q.archived = 1;
    CHECK(store_conv_list(st, a.id, &q, &l, &e) == 0);
    CHECK_EQ_INT(l.n, 3);
    store_conv_list_free(&l);
    q.archived = -1;
    q.pinned = 1;
    CHECK(store_conv_list(st, a.id, &q, &l, &e) == 0);
    CHECK_EQ_INT(l.n, 2);
    store_conv_list_free(&l);
    /* archiving keeps `updated`; a title change moves it to the top */
    struct store_conv g;
    CHECK(store_conv_get(st, a.id, ids[0], &g, &e) == 0);
    CHECK_EQ_INT(g.updated, 1000000);
    CHECK(g.archived == 1 && g.pinned == 0);
    strcpy(u.title, "renamed 회의");
    CHECK(store_conv_update(st, a.id, ids[5], &u, STORE_CONV_TITLE, &e) == 0);
    q = (struct store_conv_query){.archived = -1, .pinned = -1, .limit = 1};
    CHECK(store_conv_list(st, a.id, &q, &l, &e) == 0);
    if (l.n == 1) { CHECK_STR(l.items[0].id, ids[5]); CHECK_STR(l.items[0].title, "renamed 회의"); }
    store_conv_list_free(&l);
    /* share tokens */
    strcpy(u.share_token, "shr_abc");
    CHECK(store_conv_update(st, a.id, ids[6], &u, STORE_CONV_SHARE, &e) == 0);
    CHECK(store_conv_update(st, a.id, ids[7], &u, STORE_CONV_SHARE, &e) == STORE_CONFLICT);
    CHECK(store_conv_get_shared(st, "shr_abc", &g, &e) == 0);
    CHECK_STR(g.id, ids[6]);
    u.share_token[0] = 0;
    CHECK(store_conv_update(st, a.id, ids[6], &u, STORE_CONV_SHARE, &e) == 0);
    CHECK(store_conv_get_shared(st, "shr_abc", &g, &e) == STORE_NOTFOUND);
    /* delete */
    CHECK(store_conv_delete(st, a.id, ids[3], &e) == 0);
    CHECK(store_conv_get(st, a.id, ids[3], &g, &e) == STORE_NOTFOUND);
    CHECK(store_conv_delete(st, a.id, ids[3], &e) == STORE_NOTFOUND);
    store_close(st);
}

TEST(message_tree) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct err e = {{0}};
    struct store_user a;
    struct store_conv c, g;
    REQUIRE(mk_user(st, "a@x.org", &a) == 0 && mk_conv(st, a.id, "tree", &c) == 0, "setup");
    char q1[STORE_ID_MAX], a1[STORE_ID_MAX], q1e[STORE_ID_MAX], a1r[STORE_ID_MAX], a1e[STORE_ID_MAX],
        q2[STORE_ID_MAX], a2[STORE_ID_MAX];
    REQUIRE(add_msg(st, a.id, c.id, NULL, "user", "What is 2+2?", q1) == 0, "q1");
    REQUIRE(add_msg(st, a.id, c.id, q1, "assistant", "4", a1) == 0, "a1");
    REQUIRE(add_msg(st, a.id, c.id, a1, "user", "And 3+3?", q2) == 0, "q2");
    REQUIRE(add_msg(st, a.id, c.id, q2, "assistant", "6", a2) == 0, "a2");
    /* regenerate a1: a sibling under q1 */
    REQUIRE(add_msg(st, a.id, c.id, q1, "assistant", "Four.", a1r) == 0, "a1r");
    /* edit q1: a sibling of q1 at the root, with its own answer */
    REQUIRE(add_msg(st, a.id, c.id, NULL, "user", "What is 2+3?", q1e) == 0, "q1e");
    REQUIRE(add_msg(st, a.id, c.id, q1e, "assistant", "5", a1e) == 0, "a1e");
    struct store_msgs t;
    CHECK(store_msg_tree(st, a.id, c.id, &t, &e) == 0);
    CHECK_EQ_INT(t.n, 7); /* nothing lost */
    if (t.n == 7) {
        CHECK_STR(t.items[0].id, q1);
        CHECK_STR(t.items[0].parent_id, "");
        CHECK_STR(t.items[1].parent_id, q1);
        CHECK_STR(t.items[4].parent_id, q1);   /* a1r: sibling of a1 */
        CHECK_STR(t.items[5].parent_id, "");   /* q1e: sibling of q1 */
        CHECK_STR(t.items[4].content, "Four.");
    }
    store_msgs_free(&t);
    /* the current leaf follows the last message added: the edited branch */
    CHECK(store_conv_get(st, a.id, c.id, &g, &e) == 0);
    CHECK_STR(g.current_leaf, a1e);
    CHECK(store_msg_path(st, a.id, c.id, NULL, &t, &e) == 0);
    CHECK_EQ_INT(t.n, 2);
    if (t.n == 2) { CHECK_STR(t.items[0].id, q1e); CHECK_STR(t.items[1].id, a1e); }
    store_msgs_free(&t);
    /* the first branch, by leaf */
    CHECK(store_msg_path(st, a.id, c.id, a2, &t, &e) == 0);
    CHECK_EQ_INT(t.n, 4);
    if (t.n == 4) {
        CHECK_STR(t.items[0].id, q1);
        CHECK_STR(t.items[1].id, a1);
        CHECK_STR(t.items[2].id, q2);
        CHECK_STR(t.items[3].id, a2);
        CHECK_STR(t.items[3].role, "assistant");
    }
    store_msgs_free(&t);
    /* switch the shown branch */
    CHECK(store_conv_set_leaf(st, a.id, c.id, a1r, &e) == 0);
    CHECK(store_msg_path(st, a.id, c.id, "", &t, &e) == 0);
    CHECK_EQ_INT(t.n, 2);
    if (t.n == 2) CHECK_STR(t.items[1].content, "Four.");
    store_msgs_free(&t);
    /* a parent from another conversation, or none that exists: not found */
    struct store_conv c2;
    REQUIRE(mk_conv(st, a.id, "other", &c2) == 0, "c2");
    CHECK(add_msg(st, a.id, c2.id, q1, "user", "x", NULL) == STORE_NOTFOUND);
    CHECK(add_msg(st, a.id, c.id, "msg_nope", "user", "x", NULL) == STORE_NOTFOUND);
    CHECK(store_conv_set_leaf(st, a.id, c2.id, q1, &e) == STORE_NOTFOUND);
    CHECK(store_msg_path(st, a.id, c2.id, q1, &t, &e) == STORE_NOTFOUND);
    CHECK(store_msg_path(st, a.id, c2.id, NULL, &t, &e) == 0); /* empty conversation: empty path */
    CHECK_EQ_INT(t.n, 0);
    store_msgs_free(&t);
    /* a streamed answer: partial, grown, finished */
    struct store_msg m = {0};
    strcpy(m.conv_id, c.id);
    strcpy(m.parent_id, q2);
    strcpy(m.role, "assistant");
    strcpy(m.status, "partial");
    m.content = "Si";
    char s1[STORE_ID_MAX];
    CHECK(store_msg_add(st, a.id, &m, STORE_MSG_KEEP_LEAF, s1, &e) == 0);
    CHECK(store_conv_get(st, a.id, c.id, &g, &e) == 0);
    CHECK_STR(g.current_leaf, a1r); /* kept */
    CHECK(store_msg_update(st, a.id, s1, "Six, of course.", "finished", 10, 2, 4, &e) == 0);
    CHECK(store_msg_get(st, a.id, s1, &m, &e) == 0);
    CHECK_STR(m.content, "Six, of course.");
    CHECK_STR(m.status, "finished");
    CHECK_EQ_INT(m.prompt_tokens, 10);
    CHECK_EQ_INT(m.cached_tokens, 2);
    CHECK_EQ_INT(m.completion_tokens, 4);
    store_msg_free(&m);
    CHECK(store_msg_update(st, a.id, s1, "x", "bogus", 0, 0, 0, &e) == STORE_INVALID);
    /* an answer with its usage in one transaction; a bad usage row stores neither */
    struct store_usage us = {0};
    strcpy(us.user_id, a.id);
    strcpy(us.model, "qwen3");
    us.completion_tokens = 9;
    us.requests = 1;
    memset(&m, 0, sizeof m);
    strcpy(m.conv_id, c.id);
    strcpy(m.parent_id, q2);
    strcpy(m.role, "assistant");
    m.content = "Six!";
    char s2[STORE_ID_MAX];
    CHECK(store_msg_add_usage(st, a.id, &m, 0, &us, s2, &e) == 0);
    CHECK(store_msg_get(st, a.id, s2, &m, &e) == 0);
    CHECK_STR(m.content, "Six!");
    store_msg_free(&m);
    struct store_usage tot;
    CHECK(store_usage_total(st, a.id, NULL, NULL, &tot, &e) == 0);
    CHECK(tot.requests == 1 && tot.completion_tokens == 9);
    strcpy(us.user_id, "usr_nope");
    memset(&m, 0, sizeof m);
    strcpy(m.conv_id, c.id);
    strcpy(m.role, "user");
    m.content = "lost";
    char s3[STORE_ID_MAX];
    CHECK(store_msg_add_usage(st, a.id, &m, 0, &us, s3, &e) == STORE_NOTFOUND);
    CHECK(store_msg_tree(st, a.id, c.id, &t, &e) == 0);
    for (size_t i = 0; i < t.n; i++) CHECK(strcmp(t.items[i].content, "lost") != 0);
    store_msgs_free(&t);
    memset(&m, 0, sizeof m);
    strcpy(m.conv_id, c.id);
    strcpy(m.role, "user");
    strcpy(m.status, "done");
    CHECK(store_msg_add(st, a.id, &m, 0, NULL, &e) == STORE_INVALID);
    m.status[0] = 0;
    m.role[0] = 0;
    CHECK(store_msg_add(st, a.id, &m, 0, NULL, &e) == STORE_INVALID);
    /* deleting the conversation takes its messages */
    CHECK(store_conv_delete(st, a.id, c.id, &e) == 0);
    CHECK(store_msg_get(st, a.id, q1, &m, &e) == STORE_NOTFOUND);
    store_close(st);
}

static int hit_has(const struct store_hits *h, const char *conv_id) {
    for (size_t i = 0; i < h->n; i++)
        if (!strcmp(h->items[i].conv.id, conv_id)) return 1;
    return 0;
}

TEST(search_korean) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct err e = {{0}};
    struct store_user a, b;
    REQUIRE(mk_user(st, "a@x.org", &a) == 0 && mk_user(st, "b@x.org", &b) == 0, "users");
    struct store_conv c1, c2, c3, c4, cb;
    REQUIRE(mk_conv(st, a.id, "주간 정리", &c1) == 0 && mk_conv(st, a.id, "Sales", &c2) == 0 &&
                mk_conv(st, a.id, "팀 회의", &c3) == 0 && mk_conv(st, a.id, "misc", &c4) == 0 &&
                mk_conv(st, b.id, "B의 회의록", &cb) == 0, "convs");
    char m[STORE_ID_MAX], m2[STORE_ID_MAX];
    REQUIRE(add_msg(st, a.id, c1.id, NULL, "user", "오늘 회의록을 정리해 주세요. 참석자는 다섯 명입니다.", m) == 0, "m");
    REQUIRE(add_msg(st, a.id, c2.id, NULL, "user",
                    "[{\"type\":\"text\",\"text\":\"3분기 매출 보고서를 요약해 줘\"},"
                    "{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:x\"}}]", m2) == 0, "m2");
    REQUIRE(add_msg(st, a.id, c4.id, NULL, "user", "The Quarterly REPORT is due", NULL) == 0, "m3");
    REQUIRE(add_msg(st, b.id, cb.id, NULL, "user", "B도 회의록과 매출 이야기를 합니다", NULL) == 0, "mb");
    struct store_hits h;
    /* 3 characters: the trigram index */
    CHECK(store_search(st, a.id, "회의록", -1, 0, &h, &e) == 0);
    CHECK_EQ_INT(h.n, 1);
    if (h.n >= 1) {
        CHECK_STR(h.items[0].conv.id, c1.id);
        CHECK_STR(h.items[0].msg_id, m);
        CHECK(strstr(h.items[0].snippet, "회의록") != NULL);
    }
    store_hits_free(&h);
    /* 2 characters: the LIKE fallback; in JSON content parts */
    CHECK(store_search(st, a.id, "매출", -1, 0, &h, &e) == 0);
    CHECK_EQ_INT(h.n, 1);
    if (h.n >= 1) { CHECK_STR(h.items[0].conv.id, c2.id); CHECK_STR(h.items[0].msg_id, m2); }
    store_hits_free(&h);
    /* "회의": a message (c1) and a title (c3); not B's */
    CHECK(store_search(st, a.id, "회의", -1, 0, &h, &e) == 0);
    CHECK_EQ_INT(h.n, 2);
    CHECK(hit_has(&h, c1.id) && hit_has(&h, c3.id) && !hit_has(&h, cb.id));
    for (size_t i = 0; i < h.n; i++)
        if (!strcmp(h.items[i].conv.id, c3.id)) CHECK_STR(h.items[i].msg_id, "");
    store_hits_free(&h);
    /* several terms: all must match (one short, one long) */
    CHECK(store_search(st, a.id, "회의록을 참석자", -1, 0, &h, &e) == 0);
    CHECK_EQ_INT(h.n, 1);
    store_hits_free(&h);
    CHECK(store_search(st, a.id, "회의록 매출", -1, 0, &h, &e) == 0);
    CHECK_EQ_INT(h.n, 0);
    store_hits_free(&h);
    CHECK(store_search(st, a.id, "정리 오늘", -1, 0, &h, &e) == 0);
    CHECK_EQ_INT(h.n, 1);
    store_hits_free(&h);
    /* ASCII case-insensitive, titles too */
    CHECK(store_search(st, a.id, "quarterly report", -1, 0, &h, &e) == 0);
    CHECK_EQ_INT(h.n, 1);
    store_hits_free(&h);
    CHECK(store_search(st, a.id, "qU", -1, 0, &h, &e) == 0); /* short ASCII: LIKE, case folded */
    CHECK_EQ_INT(h.n, 1);
    if (h.n == 1) CHECK_STR(h.items[0].conv.id, c4.id);
    store_hits_free(&h);
    CHECK(store_search(st, a.id, "SALES", -1, 0, &h, &e) == 0);
    CHECK_EQ_INT(h.n, 1);
    store_hits_free(&h);
    /* LIKE wildcards are literal */
    CHECK(store_search(st, a.id, "%", -1, 0, &h, &e) == 0);
    CHECK_EQ_INT(h.n, 0);
    store_hits_free(&h);
    CHECK(store_search(st, a.id, "\"quoted\" it's", -1, 0, &h, &e) == 0);
    CHECK_EQ_INT(h.n, 0);
    store_hits_free(&h);
    CHECK(store_search(st, a.id, "   ", -1, 0, &h, &e) == STORE_INVALID);
    /* archived filter; an updated message is found by its new text */
    struct store_conv u = {0};
    u.archived = 1;
    CHECK(store_conv_update(st, a.id, c1.id, &u, STORE_CONV_ARCHIVED, &e) == 0);
    CHECK(store_search(st, a.id, "회의록", 0, 0, &h, &e) == 0);
    CHECK_EQ_INT(h.n, 0);
    store_hits_free(&h);
    CHECK(store_msg_update(st, a.id, m, "예산 회의록 초안", "finished", 0, 0, 0, &e) == 0);
    CHECK(store_search(st, a.id, "참석자", -1, 0, &h, &e) == 0);
    CHECK_EQ_INT(h.n, 0);
    store_hits_free(&h);
    CHECK(store_search(st, a.id, "회의록 초안", 1, 0, &h, &e) == 0);
    CHECK_EQ_INT(h.n, 1);
    store_hits_free(&h);
    store_close(st);
}

/* usage: 16 threads, each 20 increments on the same row */
struct usage_arg { struct store *st; const char *uid; int rc; };
static void *usage_run_thread(void *arg) {
    struct usage_arg *a = arg;
    for (int i = 0; i < 20 && !a->rc; i++) {
        struct store_usage d = {0};
        strcpy(d.user_id, a->uid);
        strcpy(d.model, "qwen3");
        strcpy(d.day, "2026-12-01");
        d.prompt_tokens = 3;
        d.cached_tokens = 1;
        d.completion_tokens = 7;
        d.requests = 1;
        d.images = i % 2;
        d.audio_seconds = 0.5;
        struct err e = {{0}};
        a->rc = store_usage_add(a->st, &d, &e);
        if (a->rc) fprintf(stderr, "  usage_add: %s\n", e.msg);
    }
    return NULL;
}
TEST(usage_concurrent) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct err e = {{0}};
    struct store *st2 = NULL;
    REQUIRE(store_open(g_url, &st2, &e) == 0, "second handle: %s", e.msg);
    struct store_user a;
    REQUIRE(mk_user(st, "a@x.org", &a) == 0, "user");
    pthread_t th[16];
    struct usage_arg args[16];
    for (int i = 0; i < 16; i++) {
        args[i] = (struct usage_arg){.st = i % 2 ? st2 : st, .uid = a.id};
        pthread_create(&th[i], NULL, usage_run_thread, &args[i]);
    }
    for (int i = 0; i < 16; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(args[i].rc, 0);
    }
    struct store_usage *rows = NULL;
    size_t n = 0;
    CHECK(store_usage_query(st, a.id, "2026-12-01", "2026-12-01", &rows, &n, &e) == 0);
    CHECK_EQ_INT(n, 1);
    if (n == 1) {
        CHECK_EQ_INT(rows[0].requests, 320);
        CHECK_EQ_INT(rows[0].prompt_tokens, 960);
        CHECK_EQ_INT(rows[0].cached_tokens, 320);
        CHECK_EQ_INT(rows[0].completion_tokens, 2240);
        CHECK_EQ_INT(rows[0].images, 160);
        CHECK_NEAR(rows[0].audio_seconds, 160.0, 1e-9);
        CHECK_STR(rows[0].key_id, "");
        CHECK_STR(rows[0].model, "qwen3");
    }
    free(rows);
    /* other days, keys, models are other rows; totals add up */
    struct store_usage d = {0};
    strcpy(d.user_id, a.id);
    strcpy(d.key_id, "key_x");
    strcpy(d.model, "qwen3");
    strcpy(d.day, "2020-01-02");
    d.requests = 5;
    d.completion_tokens = 100;
    CHECK(store_usage_add(st, &d, &e) == 0);
    d.day[0] = 0; /* today */
    CHECK(store_usage_add(st, &d, &e) == 0);
    CHECK(store_usage_query(st, a.id, "2020-01-02", "2020-01-02", &rows, &n, &e) == 0);
    CHECK_EQ_INT(n, 1);
    free(rows);
    CHECK(store_usage_query(st, NULL, NULL, NULL, &rows, &n, &e) == 0);
    CHECK_EQ_INT(n, 3);
    free(rows);
    struct store_usage tot;
    CHECK(store_usage_total(st, a.id, "2020-01-01", "2026-12-01", &tot, &e) == 0);
    CHECK_EQ_INT(tot.requests, 325);
    CHECK_EQ_INT(tot.completion_tokens, 2340);
    strcpy(d.day, "12/02/2026");
    CHECK(store_usage_add(st, &d, &e) == STORE_INVALID);
    strcpy(d.day, "2020-01-02");
    strcpy(d.user_id, "usr_nope");
    CHECK(store_usage_add(st, &d, &e) == STORE_NOTFOUND);
    store_close(st2);
    store_close(st);
}

/* limits: two handles (as two replicas), 8 threads on each, 10 attempts per thread on one
 * window of 60: exactly 60 admitted */
struct limit_arg { struct store *st; int64_t now; int allowed, rc; };
static void *limit_run_thread(void *arg) {
    struct limit_arg *a = arg;
    for (int i = 0; i < 10 && !a->rc; i++) {
        struct store_limit l;
        struct err e = {{0}};
        a->rc = store_limit_hit(a->st, "usr_x", "msg:large", a->now + i, 3 * 3600 * 1000, 60, 1, &l, &e);
        if (a->rc) fprintf(stderr, "  limit_hit: %s\n", e.msg);
        a->allowed += l.allowed;
    }
    return NULL;
}
TEST(limits_two_replicas) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct err e = {{0}};
    struct store *st2 = NULL;
    REQUIRE(store_open(g_url, &st2, &e) == 0, "second handle: %s", e.msg);
    int64_t t0 = 1700000000000;
    pthread_t th[16];
    struct limit_arg args[16];
    for (int i = 0; i < 16; i++) {
        args[i] = (struct limit_arg){.st = i % 2 ? st2 : st, .now = t0};
        pthread_create(&th[i], NULL, limit_run_thread, &args[i]);
    }
    int allowed = 0;
    for (int i = 0; i < 16; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ_INT(args[i].rc, 0);
        allowed += args[i].allowed;
    }
    CHECK_EQ_INT(allowed, 60);
    struct store_limit l;
    /* look (cost 0): full, resets when the oldest (t0) falls out */
    CHECK(store_limit_hit(st, "usr_x", "msg:large", t0 + 100, 3 * 3600 * 1000, 60, 0, &l, &e) == 0);
    CHECK_EQ_INT(l.used, 60);
    CHECK_EQ_INT(l.oldest, t0);
    CHECK_EQ_INT(l.reset, t0 + 3 * 3600 * 1000);
    CHECK(l.allowed); /* cost 0 always fits */
    CHECK(store_limit_hit(st, "usr_x", "msg:large", t0 + 100, 3 * 3600 * 1000, 60, 1, &l, &e) == 0);
    CHECK(!l.allowed);
    /* once the window has moved past the oldest ones, they fall out */
    CHECK(store_limit_hit(st2, "usr_x", "msg:large", t0 + 3 * 3600 * 1000 + 5, 3 * 3600 * 1000, 60, 1, &l, &e) == 0);
    CHECK(l.allowed);
    CHECK(l.used < 60 && l.used > 0);
    CHECK(l.oldest > t0);
    /* other buckets and subjects are separate; cost > 1 (tokens) */
    CHECK(store_limit_hit(st, "usr_x", "tok", t0, 60000, 1000, 600, &l, &e) == 0);
    CHECK(l.allowed && l.used == 600);
    CHECK(store_limit_hit(st, "usr_x", "tok", t0 + 1, 60000, 1000, 600, &l, &e) == 0);
    CHECK(!l.allowed && l.used == 600);
    CHECK(store_limit_hit(st, "usr_y", "tok", t0 + 1, 60000, 1000, 600, &l, &e) == 0);
    CHECK(l.allowed);
    CHECK(store_limit_hit(st, "ip:1.2.3.4", "login", t0, 60000, -1, 1, &l, &e) == 0); /* no limit: counts */
    CHECK(store_limit_hit(st, "ip:1.2.3.4", "login", t0, 60000, -1, 1, &l, &e) == 0);
    CHECK(l.allowed && l.used == 2);
    CHECK(store_limit_reset(st, "ip:1.2.3.4", "login", &e) == 0);
    CHECK(store_limit_hit(st, "ip:1.2.3.4", "login", t0, 60000, 5, 0, &l, &e) == 0);
    CHECK_EQ_INT(l.used, 0);
    CHECK_EQ_INT(l.reset, 0);
    CHECK(store_limit_purge(st, t0 + 10 * 3600 * 1000, &e) == 0);
    CHECK(store_limit_hit(st, "usr_x", "msg:large", t0 + 10 * 3600 * 1000, 3600 * 1000 * 100, 100, 0, &l, &e) == 0);
    CHECK_EQ_INT(l.used, 0);
    CHECK(store_limit_hit(st, "", "b", t0, 1, 1, 1, &l, &e) == STORE_INVALID);
    CHECK(store_limit_hit(st, "s", "b", t0, 0, 1, 1, &l, &e) == STORE_INVALID);
    store_close(st2);
    store_close(st);
}

static int sqlite_check(const char *path, const char *sql, const char *want) {
    sqlite3 *db = NULL;
    int ok = 0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK) {
        sqlite3_stmt *s = NULL;
        if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
            int rc = sqlite3_step(s);
            if (want) ok = rc == SQLITE_ROW && !strcmp((const char *)sqlite3_column_text(s, 0), want);
            else ok = rc == SQLITE_DONE;
            if (!ok) fprintf(stderr, "  %s: %s\n", sql, rc == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : sqlite3_errmsg(db));
        } else {
            fprintf(stderr, "  %s: %s\n", sql, sqlite3_errmsg(db));
        }
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return ok;
}

/* rows left in the user-owned tables (PostgreSQL and SQLite alike, over a plain connection) */
static long long count_rows(const char *table) {
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", table);
    long long n = -1;
    if (!strcmp(g_backend, "sqlite")) {
        sqlite3 *db = NULL;
        sqlite3_stmt *s = NULL;
        if (sqlite3_open_v2(g_sqlite_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
            sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
            n = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
        sqlite3_close(db);
    } else {
        PGconn *c = PQconnectdb(g_url);
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) == PGRES_TUPLES_OK) n = atoll(PQgetvalue(r, 0, 0));
        PQclear(r);
        PQfinish(c);
    }
    return n;
}

TEST(export_and_delete_cascade) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct err e = {{0}};
    struct store_user a, b;
    REQUIRE(mk_user(st, "a@x.org", &a) == 0 && mk_user(st, "b@x.org", &b) == 0, "users");
    struct store_conv c, cb;
    REQUIRE(mk_conv(st, a.id, "내 대화", &c) == 0 && mk_conv(st, b.id, "B's", &cb) == 0, "convs");
    char q[STORE_ID_MAX], r[STORE_ID_MAX];
    REQUIRE(add_msg(st, a.id, c.id, NULL, "user", "안녕하세요 \"quoted\"", q) == 0 &&
                add_msg(st, a.id, c.id, q, "assistant", "반갑습니다", r) == 0 &&
                add_msg(st, b.id, cb.id, NULL, "user", "B 메시지", NULL) == 0, "msgs");
    struct store_session s = {0};
    strcpy(s.token_hash, "tok-a");
    strcpy(s.user_id, a.id);
    s.expires = store_now_ms() + 100000;
    CHECK(store_session_create(st, &s, &e) == 0);
    struct store_key k = {0};
    strcpy(k.user_id, a.id);
    strcpy(k.key_hash, "secret-hash-a");
    strcpy(k.prefix, "sk-omni-a");
    CHECK(store_key_create(st, &k, &k, &e) == 0);
    struct store_usage u = {0};
    strcpy(u.user_id, a.id);
    strcpy(u.model, "m");
    u.requests = 2;
    CHECK(store_usage_add(st, &u, &e) == 0);
    struct store_feedback fb = {0};
    strcpy(fb.msg_id, r);
    strcpy(fb.user_id, a.id);
    fb.rating = 1;
    strcpy(fb.reasons, "accurate");
    fb.comment = "좋아요";
    fb.snapshot = "{\"path\":[]}";
    char fid[STORE_ID_MAX], fid2[STORE_ID_MAX];
    CHECK(store_feedback_put(st, &fb, fid, &e) == 0);
    fb.rating = -1; /* replaces, same id */
    CHECK(store_feedback_put(st, &fb, fid2, &e) == 0);
    CHECK_STR(fid, fid2);
    struct store_feedback *fl = NULL;
    size_t nf = 0;
    CHECK(store_feedback_list(st, NULL, 0, 0, &fl, &nf, &e) == 0);
    CHECK_EQ_INT(nf, 1);
    if (nf == 1) { CHECK_EQ_INT(fl[0].rating, -1); CHECK_STR(fl[0].comment, "좋아요"); }
    store_feedback_free(fl, nf);
    struct store_limit l;
    CHECK(store_limit_hit(st, a.id, "msg", 0, 60000, 10, 1, &l, &e) == 0);

    char *json = NULL;
    REQUIRE(store_export_user(st, a.id, &json, &e) == 0, "export: %s", e.msg);
    cJSON *j = cJSON_Parse(json);
    CHECK(j != NULL);
    CHECK(strstr(json, "secret-hash-a") == NULL && strstr(json, "$argon2id") == NULL); /* no secrets */
    CHECK(strstr(json, "B 메시지") == NULL);
    cJSON *convs = cJSON_GetObjectItem(j, "conversations");
    CHECK_EQ_INT(cJSON_GetArraySize(convs), 1);
    cJSON *msgs = cJSON_GetObjectItem(cJSON_GetArrayItem(convs, 0), "messages");
    CHECK_EQ_INT(cJSON_GetArraySize(msgs), 2);
    cJSON *m0 = cJSON_GetArrayItem(msgs, 0);
    CHECK(m0 && cJSON_IsString(cJSON_GetObjectItem(m0, "content")) &&
          !strcmp(cJSON_GetObjectItem(m0, "content")->valuestring, "안녕하세요 \"quoted\""));
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "user"), "email")->valuestring, "a@x.org");
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "keys")), 1);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "usage")), 1);
    CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "feedback")), 1);
    cJSON_Delete(j);
    free(json);
    CHECK(store_export_user(st, "usr_nope", &json, &e) == STORE_NOTFOUND);

    CHECK(store_user_delete(st, a.id, &e) == 0);
    struct store_session gs;
    struct store_key gk;
    struct store_conv gc;
    CHECK(store_session_get(st, "tok-a", store_now_ms(), &gs, &e) == STORE_NOTFOUND);
    CHECK(store_key_get_by_hash(st, "secret-hash-a", &gk, &e) == STORE_NOTFOUND);
    CHECK(store_conv_get(st, a.id, c.id, &gc, &e) == STORE_NOTFOUND);
    CHECK(store_limit_hit(st, a.id, "msg", 0, 60000, 10, 0, &l, &e) == 0 && l.used == 0);
    /* nothing of A's is left in any table; B's rows stay */
    CHECK_EQ_INT(count_rows("users"), 1);
    CHECK_EQ_INT(count_rows("sessions"), 0);
    CHECK_EQ_INT(count_rows("api_keys"), 0);
    CHECK_EQ_INT(count_rows("conversations"), 1);
    CHECK_EQ_INT(count_rows("messages"), 1);
    CHECK_EQ_INT(count_rows("usage_daily"), 0);
    CHECK_EQ_INT(count_rows("feedback"), 0);
    CHECK_EQ_INT(count_rows("limit_events"), 0);
    if (!strcmp(g_backend, "sqlite")) CHECK_EQ_INT(count_rows("message_text"), 1);
    store_close(st);
    if (!strcmp(g_backend, "sqlite")) {
        /* the search index lost A's rows with them */
        CHECK(sqlite_check(g_sqlite_path, "INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)", NULL));
        CHECK(sqlite_check(g_sqlite_path, "SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH '\"안녕하\"'", "0"));
        CHECK(sqlite_check(g_sqlite_path, "PRAGMA integrity_check", "ok"));
    }
}

/* Durability: a child writes a burst of messages, reporting each id over a pipe only after
 * store_msg_add returned; the parent SIGKILLs it once 60 are acknowledged (while it keeps
 * writing), reopens, and finds every acknowledged one. */
TEST(kill9_durability) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct err e = {{0}};
    struct store_user a;
    struct store_conv c;
    REQUIRE(mk_user(st, "a@x.org", &a) == 0 && mk_conv(st, a.id, "burst", &c) == 0, "setup");
    store_close(st);
    int fd[2];
    REQUIRE(pipe(fd) == 0, "pipe");
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0, "fork");
    if (pid == 0) {
        close(fd[0]);
        struct store *cs = NULL;
        struct err ce = {{0}};
        if (store_open(g_url, &cs, &ce)) _exit(2);
        char parent[STORE_ID_MAX] = "";
        for (long i = 0;; i++) {
            char id[STORE_ID_MAX], text[64];
            snprintf(text, sizeof text, "메시지 %ld", i);
            if (add_msg(cs, a.id, c.id, parent, i % 2 ? "assistant" : "user", text, id)) _exit(3);
            struct store_usage u = {0};
            strcpy(u.user_id, a.id);
            strcpy(u.day, "2026-01-01");
            u.requests = 1;
            if (store_usage_add(cs, &u, &ce)) _exit(4);
            strcpy(parent, id);
            char line[STORE_ID_MAX + 1];
            int n = snprintf(line, sizeof line, "%s\n", id);
            if (write(fd[1], line, (size_t)n) != n) _exit(5);
        }
    }
    close(fd[1]);
    FILE *f = fdopen(fd[0], "r");
    static char acked[64][STORE_ID_MAX];
    int n = 0;
    char line[128];
    while (n < 60 && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (strlen(line) >= STORE_ID_MAX) break;
        memcpy(acked[n++], line, strlen(line) + 1);
    }
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    fclose(f);
    CHECK_MSG(n == 60, "the writer acknowledged only %d writes (exit status %d)", n, status);
    CHECK(WIFSIGNALED(status));
    REQUIRE(store_open(g_url, &st, &e) == 0, "reopen after kill: %s", e.msg);
    int missing = 0;
    for (int i = 0; i < n; i++) {
        struct store_msg m;
        if (store_msg_get(st, a.id, acked[i], &m, &e)) missing++;
        else store_msg_free(&m);
    }
    CHECK_EQ_INT(missing, 0);
    /* the tree is whole: the path from the last acknowledged message reaches the root */
    struct store_msgs p;
    CHECK(store_msg_path(st, a.id, c.id, n ? acked[n - 1] : NULL, &p, &e) == 0);
    CHECK_EQ_INT(p.n, n);
    store_msgs_free(&p);
    struct store_usage tot;
    CHECK(store_usage_total(st, a.id, NULL, NULL, &tot, &e) == 0);
    CHECK(tot.requests >= n); /* usage of each acknowledged turn (the last may have more) */
    /* and it still takes writes */
    CHECK(add_msg(st, a.id, c.id, NULL, "user", "after the crash", NULL) == 0);
    store_close(st);
    if (!strcmp(g_backend, "sqlite")) {
        CHECK(sqlite_check(g_sqlite_path, "PRAGMA integrity_check", "ok"));
        CHECK(sqlite_check(g_sqlite_path, "INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)", NULL));
    }
}

TEST(ids_random) {
    char a[64], b[64];
    struct err e = {{0}};
    CHECK(store_new_id("conv", a, sizeof a, &e) == 0);
    CHECK(store_new_id("conv", b, sizeof b, &e) == 0);
    CHECK(strcmp(a, b) != 0);
    CHECK_EQ_INT(strlen(a), 27);
    for (const char *p = a + 5; *p; p++)
        CHECK((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_');
    char small[8];
    CHECK(store_new_id("conv", small, sizeof small, &e) != 0);
    char day[STORE_DAY_MAX];
    store_day(1764633600000, day); /* 2025-12-02T00:00:00Z */
    CHECK_STR(day, "2025-12-02");
}

TEST(open_default) {
    char home[600];
    snprintf(home, sizeof home, "%s/home/a/b", g_tmp);
    struct store *st = NULL;
    struct err e = {{0}};
    CHECK(store_open_default(home, &st, &e) == 0);
    CHECK(st && !strcmp(store_backend(st), "sqlite"));
    store_close(st);
    char db[700];
    snprintf(db, sizeof db, "%s/omni.db", home);
    CHECK(access(db, F_OK) == 0);
}

#define RUN_T(x) do { double t0_ = now_s(); RUN(x); fprintf(stderr, "  [%s] %s %.2fs\n", g_backend, #x, now_s() - t0_); } while (0)
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* PostgreSQL only: the server restarts under a store with pooled connections (as when a
 * database is restarted under running replicas): at most one call fails, then it works. */
TEST(postgres_restart) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct err e = {{0}};
    struct store_user u, g;
    REQUIRE(mk_user(st, "r@x.org", &u) == 0, "user");
    /* a few pooled connections */
    struct store *keep = st;
    pthread_t th[4];
    struct admin_race r[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (struct admin_race){.st = keep, .i = 100 + i};
        pthread_create(&th[i], NULL, admin_race_run, &r[i]);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "sh tests/pg_temp.sh restart %s/pg", g_tmp);
    REQUIRE(sh(cmd, NULL, 0) == 0, "pg_temp.sh restart failed");
    int fails = 0;
    for (int i = 0; i < 6; i++) fails += store_user_get(st, u.id, &g, &e) != 0;
    CHECK_MSG(fails <= 1, "%d of 6 calls failed after the restart", fails);
    fprintf(stderr, "  (%d call(s) failed after the restart: %s)\n", fails, fails ? e.msg : "");
    CHECK(store_user_get(st, u.id, &g, &e) == 0);
    CHECK_STR(g.email, "r@x.org");
    int64_t n = 0;
    CHECK(store_user_count(st, &n, &e) == 0);
    CHECK_EQ_INT(n, 5);
    store_close(st);
}

/* Stored responses and the Conversations API's conversations and items (storage/responses.h):
 * a background response rewritten in place, every row scoped to its user, item pages in
 * both orders with has_more and `after`, and all of it gone with the user. */
TEST(responses_and_items) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct err e = {{0}};
    struct store_user a, b;
    REQUIRE(mk_user(st, "a@x.org", &a) == 0 && mk_user(st, "b@x.org", &b) == 0, "users");
    struct store_resp r = {0}, g;
    strcpy(r.id, "resp_one");
    strcpy(r.user_id, a.id);
    strcpy(r.status, "queued");
    r.body = "{\"status\":\"queued\"}";
    r.input = "[{\"type\":\"message\",\"content\":\"안녕\"}]";
    CHECK(store_resp_put(st, &r, 0, &e) == 0);
    strcpy(r.status, "completed");
    strcpy(r.previous_id, "resp_zero");
    r.body = "{\"status\":\"completed\"}";
    CHECK(store_resp_put(st, &r, 0, &e) == 0);   /* the same row, rewritten */
    REQUIRE(store_resp_get(st, a.id, "resp_one", &g, &e) == 0, "get: %s", e.msg);
    CHECK_STR(g.status, "completed");
    CHECK_STR(g.previous_id, "resp_zero");
    CHECK_STR(g.body, "{\"status\":\"completed\"}");
    CHECK_STR(g.input, "[{\"type\":\"message\",\"content\":\"안녕\"}]");
    CHECK(g.created > 0);
    store_resp_free(&g);
    CHECK(store_resp_get(st, b.id, "resp_one", &g, &e) == STORE_NOTFOUND);   /* another user's */
    CHECK(store_resp_delete(st, b.id, "resp_one", &e) == STORE_NOTFOUND);
    struct store_resp rb = r;
    strcpy(rb.user_id, b.id);
    CHECK(store_resp_put(st, &rb, 0, &e) == STORE_CONFLICT);   /* b cannot overwrite a's */
    strcpy(r.status, "done?");
    CHECK(store_resp_put(st, &r, 0, &e) == STORE_INVALID);
    CHECK(store_resp_delete(st, a.id, "resp_one", &e) == 0);
    CHECK(store_resp_get(st, a.id, "resp_one", &g, &e) == STORE_NOTFOUND);
    strcpy(r.status, "completed");
    CHECK(store_resp_put(st, &r, STORE_RESP_EXISTING, &e) == STORE_NOTFOUND);   /* deleted while it ran */
    CHECK(store_resp_get(st, a.id, "resp_one", &g, &e) == STORE_NOTFOUND);

    /* a conversation with 3 items, 2 more added */
    struct store_item it[5];
    char bodies[5][64];
    memset(it, 0, sizeof it);
    for (int i = 0; i < 5; i++) {
        snprintf(it[i].id, sizeof it[i].id, "msg_%d", i);
        snprintf(bodies[i], sizeof bodies[i], "{\"id\":\"msg_%d\",\"text\":\"항목 %d\"}", i, i);
        it[i].item = bodies[i];
    }
    struct store_aconv in = {0}, c, cg;
    strcpy(in.user_id, a.id);
    in.metadata = "{\"topic\":\"날씨\"}";
    REQUIRE(store_aconv_create(st, &in, it, 3, &c, &e) == 0, "create: %s", e.msg);
    CHECK(!strncmp(c.id, "conv_", 5));
    CHECK_STR(c.metadata, "{\"topic\":\"날씨\"}");
    CHECK(store_item_add(st, a.id, c.id, it + 3, 2, &e) == 0);
    CHECK(store_item_add(st, b.id, c.id, it + 3, 1, &e) == STORE_NOTFOUND);
    CHECK(store_item_add(st, a.id, c.id, it, 1, &e) == STORE_CONFLICT);     /* an id twice */
    struct store_items l;
    struct store_item_query q = {NULL, 2, 0};
    REQUIRE(store_item_list(st, a.id, c.id, &q, &l, &e) == 0, "list: %s", e.msg);
    CHECK_EQ_INT(l.n, 2);
    CHECK(l.has_more);
    if (l.n == 2) { CHECK_STR(l.items[0].id, "msg_0"); CHECK_STR(l.items[1].item, bodies[1]); }
    store_items_free(&l);
    q = (struct store_item_query){"msg_1", 10, 0};
    CHECK(store_item_list(st, a.id, c.id, &q, &l, &e) == 0);
    CHECK_EQ_INT(l.n, 3);
    CHECK(!l.has_more);
    if (l.n == 3) CHECK_STR(l.items[0].id, "msg_2");
    store_items_free(&l);
    q = (struct store_item_query){"msg_3", 0, 1};   /* newest first, after msg_3: 2, 1, 0 */
    CHECK(store_item_list(st, a.id, c.id, &q, &l, &e) == 0);
    CHECK_EQ_INT(l.n, 3);
    if (l.n == 3) { CHECK_STR(l.items[0].id, "msg_2"); CHECK_STR(l.items[2].id, "msg_0"); }
    store_items_free(&l);
    CHECK(store_item_list(st, b.id, c.id, NULL, &l, &e) == STORE_NOTFOUND);
    struct store_item gi;
    CHECK(store_item_get(st, a.id, c.id, "msg_4", &gi, &e) == 0);
    CHECK_STR(gi.item, bodies[4]);
    store_item_free(&gi);
    CHECK(store_item_get(st, b.id, c.id, "msg_4", &gi, &e) == STORE_NOTFOUND);
    CHECK(store_item_delete(st, b.id, c.id, "msg_4", &e) == STORE_NOTFOUND);
    CHECK(store_item_delete(st, a.id, c.id, "msg_4", &e) == 0);
    CHECK(store_item_get(st, a.id, c.id, "msg_4", &gi, &e) == STORE_NOTFOUND);
    CHECK(store_aconv_set_metadata(st, b.id, c.id, "{}", &e) == STORE_NOTFOUND);
    CHECK(store_aconv_set_metadata(st, a.id, c.id, "{\"topic\":\"비\"}", &e) == 0);
    REQUIRE(store_aconv_get(st, a.id, c.id, &cg, &e) == 0, "get conv");
    CHECK_STR(cg.metadata, "{\"topic\":\"비\"}");
    CHECK_EQ_INT(cg.created, c.created);
    store_aconv_free(&cg);
    CHECK(store_aconv_get(st, b.id, c.id, &cg, &e) == STORE_NOTFOUND);
    CHECK(store_aconv_delete(st, b.id, c.id, &e) == STORE_NOTFOUND);

    /* a second conversation and a response, deleted with their user */
    struct store_aconv c2;
    CHECK(store_aconv_create(st, &in, NULL, 0, &c2, &e) == 0);
    store_aconv_free(&c2);
    strcpy(r.status, "completed");
    CHECK(store_resp_put(st, &r, 0, &e) == 0);
    CHECK(store_aconv_delete(st, a.id, c.id, &e) == 0);
    CHECK(store_item_get(st, a.id, c.id, "msg_0", &gi, &e) == STORE_NOTFOUND);
    CHECK(store_user_delete(st, a.id, &e) == 0);
    CHECK(store_resp_get(st, a.id, "resp_one", &g, &e) == STORE_NOTFOUND);
    CHECK(store_aconv_get(st, a.id, c2.id, &cg, &e) == STORE_NOTFOUND);
    store_aconv_free(&c);
    store_close(st);
}

static void run_suite(void) {
    RUN_T(migrations_idempotent);
    RUN_T(bad_urls);
    RUN_T(users);
    RUN_T(first_user_admin_race);
    RUN_T(sessions);
    RUN_T(api_keys);
    RUN_T(conversations_isolated);
    RUN_T(conversations_list_update);
    RUN_T(message_tree);
    RUN_T(search_korean);
    RUN_T(usage_concurrent);
    RUN_T(limits_two_replicas);
    RUN_T(export_and_delete_cascade);
    RUN_T(kill9_durability);
    RUN_T(responses_and_items);
}

static void run_pg_only(void) { RUN_T(postgres_restart); }

int main(void) {
    TEST_EXPECT(2 * 15 + 4);
    if (two_backends_tmp()) return 1;
    RUN(ids_random);
    RUN(open_default);
    return two_backends_run_pg(run_suite, run_pg_only);
}
