/* storage/conv_docs.h (a conversation's vector store, the web app's documents), run on
 * SQLite and on a throw-away PostgreSQL (tests/pg_temp.sh). Checks: a conversation has no
 * store until one is set; the first store set stays (a second first attachment gets it
 * back); another user's conversation behaves as missing; the row goes with the
 * conversation. */
#include <stdio.h>
#include <string.h>

#include "storage/conv_docs.h"
#include "test.h"

#define TWO_BACKENDS_NAME "convdocs"
#include "two_backends.h"

static int mk_user(struct store *st, const char *email, struct store_user *out) {
    struct store_user u;
    memset(&u, 0, sizeof u);
    snprintf(u.email, sizeof u.email, "%s", email);
    struct err e = {{0}};
    return store_user_create(st, &u, 0, out, &e);
}

TEST(conversation_store) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct err e = {{0}};
    struct store_user a, b;
    REQUIRE(mk_user(st, "a@x.org", &a) == 0 && mk_user(st, "b@x.org", &b) == 0, "users");
    struct store_conv c = {0};
    snprintf(c.user_id, sizeof c.user_id, "%s", a.id);
    REQUIRE(store_conv_create(st, &c, &c, &e) == 0, "conv");
    char vs[STORE_ID_MAX];
    CHECK_EQ_INT(store_conv_vs_get(st, a.id, c.id, vs, &e), STORE_NOTFOUND);   /* none yet */
    snprintf(vs, sizeof vs, "vs_first");
    CHECK(store_conv_vs_set(st, a.id, c.id, vs, &e) == 0);
    CHECK_STR(vs, "vs_first");
    snprintf(vs, sizeof vs, "vs_second");                                     /* a second first attachment */
    CHECK(store_conv_vs_set(st, a.id, c.id, vs, &e) == 0);
    CHECK_STR(vs, "vs_first");
    CHECK(store_conv_vs_get(st, a.id, c.id, vs, &e) == 0);
    CHECK_STR(vs, "vs_first");
    /* another user's conversation is missing for b */
    CHECK_EQ_INT(store_conv_vs_get(st, b.id, c.id, vs, &e), STORE_NOTFOUND);
    snprintf(vs, sizeof vs, "vs_b");
    CHECK_EQ_INT(store_conv_vs_set(st, b.id, c.id, vs, &e), STORE_NOTFOUND);
    CHECK(store_conv_vs_get(st, a.id, c.id, vs, &e) == 0);
    CHECK_STR(vs, "vs_first");
    CHECK_EQ_INT(store_conv_vs_get(st, a.id, "conv_nope", vs, &e), STORE_NOTFOUND);
    /* gone with the conversation */
    CHECK(store_conv_delete(st, a.id, c.id, &e) == 0);
    CHECK_EQ_INT(store_conv_vs_get(st, a.id, c.id, vs, &e), STORE_NOTFOUND);
    store_close(st);
}

static void suite(void) { RUN(conversation_store); }

int main(void) {
    TEST_EXPECT(2 * 1 + 1);
    return two_backends_run(suite);
}
