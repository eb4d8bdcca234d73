/* storage/citations.h (an answer's citations: the knowledge passages it cites), on SQLite
 * and on a throw-away PostgreSQL (tests/pg_temp.sh; PostgreSQL failing to start is a
 * failure, not a skip). Each case gets a fresh database. Checks: the array round-trips
 * per conversation, replacing keeps one row, another user's message or conversation
 * behaves as a missing one, bad input is refused, the export carries them on the answer,
 * and the rows themselves are gone with the conversation and with the account. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/citations.h"
#include "storage/store_internal.h"
#include "test.h"

#define TWO_BACKENDS_NAME "cites"
#include "two_backends.h"

static int mk_user(struct store *st, const char *email, struct store_user *out) {
    struct store_user u;
    memset(&u, 0, sizeof u);
    snprintf(u.email, sizeof u.email, "%s", email);
    struct err e = {{0}};
    return store_user_create(st, &u, 0, out, &e);
}

/* A conversation of user with a question and its answer. */
static int mk_turn(struct store *st, const char *user_id, struct store_conv *c, char *qid, char *aid) {
    struct err e = {{0}};
    memset(c, 0, sizeof *c);
    snprintf(c->user_id, sizeof c->user_id, "%s", user_id);
    if (store_conv_create(st, c, c, &e)) return -1;
    struct store_msg q = {0}, m = {0};
    snprintf(q.conv_id, sizeof q.conv_id, "%s", c->id);
    snprintf(q.role, sizeof q.role, "user");
    q.content = "배터리는 몇 시간 가나요?";
    if (store_msg_add(st, user_id, &q, 0, qid, &e)) return -1;
    snprintf(m.conv_id, sizeof m.conv_id, "%s", c->id);
    snprintf(m.parent_id, sizeof m.parent_id, "%s", qid);
    snprintf(m.role, sizeof m.role, "assistant");
    m.content = "완충 시 약 12시간 사용할 수 있습니다 [1].";
    return store_msg_add(st, user_id, &m, 0, aid, &e);
}

/* Rows in message_citations, read from the table itself (not through the joins of the API). */
static long rows(struct store *st) {
    struct db *d;
    struct err e = {{0}};
    if (store_db_acquire(st, &d, &e)) return -1;
    struct dbq *q = db_prep(d, "SELECT COUNT(*) FROM message_citations", 0, &e);
    long n = q && dbq_step(q, &e) == 1 ? (long)dbq_col_int(q, 0) : -1;
    dbq_done(q);
    store_db_release(st, d);
    return n;
}

static const char *CITES =
    "[{\"index\":1,\"file\":\"manual.pdf\",\"page\":2,\"heading\":\"배터리\",\"chunk\":3,\"score\":0.91,"
    "\"text\":\"완충 시 약 12시간 사용할 수 있습니다.\"},"
    "{\"index\":2,\"file\":\"manual.hwpx\",\"page\":null,\"heading\":\"환불\",\"chunk\":0,\"score\":0.4,"
    "\"text\":\"구매 후 14일 이내 환불\"}]";

TEST(round_trip_and_owner) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct err e = {{0}};
    struct store_user a, b;
    REQUIRE(mk_user(st, "a@x.org", &a) == 0 && mk_user(st, "b@x.org", &b) == 0, "users");
    struct store_conv c;
    char qid[STORE_ID_MAX], aid[STORE_ID_MAX];
    REQUIRE(mk_turn(st, a.id, &c, qid, aid) == 0, "turn");
    struct store_citations *r = NULL;
    size_t n = 5;
    CHECK(store_conv_citations(st, a.id, c.id, &r, &n, &e) == 0 && n == 0 && !r);   /* none yet */
    CHECK(store_msg_citations_put(st, a.id, aid, "[{\"index\":1,\"file\":\"old.txt\"}]", &e) == 0);
    CHECK(store_msg_citations_put(st, a.id, aid, CITES, &e) == 0);   /* replaces */
    CHECK_EQ_INT(rows(st), 1);
    CHECK(store_msg_citations_put(st, a.id, qid, "[]", &e) == 0);    /* nothing to keep */
    CHECK_EQ_INT(rows(st), 1);
    /* another user's message, a missing one, bad ids */
    CHECK_EQ_INT(store_msg_citations_put(st, b.id, aid, CITES, &e), STORE_NOTFOUND);
    CHECK_EQ_INT(store_msg_citations_put(st, a.id, "msg_nope", CITES, &e), STORE_NOTFOUND);
    CHECK_EQ_INT(store_msg_citations_put(st, a.id, "", CITES, &e), STORE_NOTFOUND);
    /* not an array, not JSON, none, too long */
    CHECK_EQ_INT(store_msg_citations_put(st, a.id, aid, "{\"index\":1}", &e), STORE_INVALID);
    CHECK_EQ_INT(store_msg_citations_put(st, a.id, aid, "[{\"index\":1", &e), STORE_INVALID);
    CHECK_EQ_INT(store_msg_citations_put(st, a.id, aid, NULL, &e), STORE_INVALID);
    size_t big = STORE_CITATIONS_MAX + 16;
    char *s = malloc(big + 1);
    REQUIRE(s, "alloc");
    memset(s, ' ', big);
    s[0] = '[';
    s[big - 1] = ']';
    s[big] = 0;
    CHECK_EQ_INT(store_msg_citations_put(st, a.id, aid, s, &e), STORE_INVALID);
    free(s);
    CHECK_EQ_INT(rows(st), 1);
    /* read back: the answer's, exactly the array put last */
    REQUIRE(store_conv_citations(st, a.id, c.id, &r, &n, &e) == 0, "list: %s", e.msg);
    REQUIRE(n == 1, "one answer has citations, not %zu", n);
    CHECK_STR(r[0].msg_id, aid);
    cJSON *got = cJSON_Parse(r[0].json), *want = cJSON_Parse(CITES);
    CHECK(got && want && cJSON_Compare(got, want, 1));
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(got, 0), "text")), "완충 시 약 12시간 사용할 수 있습니다.");
    cJSON_Delete(got);
    cJSON_Delete(want);
    store_citations_free(r, n);
    /* b sees nothing of a's conversation; a bad conversation id is a missing one */
    CHECK(store_conv_citations(st, b.id, c.id, &r, &n, &e) == 0 && n == 0 && !r);
    CHECK_EQ_INT(store_conv_citations(st, a.id, "", &r, &n, &e), STORE_NOTFOUND);
    /* a second conversation's answer stays apart */
    struct store_conv c2;
    char q2[STORE_ID_MAX], a2[STORE_ID_MAX];
    REQUIRE(mk_turn(st, a.id, &c2, q2, a2) == 0, "turn 2");
    CHECK(store_msg_citations_put(st, a.id, a2, "[{\"index\":1,\"file\":\"faq.md\",\"text\":\"둘째\"}]", &e) == 0);
    CHECK(store_conv_citations(st, a.id, c2.id, &r, &n, &e) == 0 && n == 1 && !strcmp(r[0].msg_id, a2));
    store_citations_free(r, n);
    CHECK_EQ_INT(rows(st), 2);
    store_close(st);
}

TEST(export_and_cascade) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct err e = {{0}};
    struct store_user a, b;
    REQUIRE(mk_user(st, "a@x.org", &a) == 0 && mk_user(st, "b@x.org", &b) == 0, "users");
    struct store_conv c, c2, cb;
    char qid[STORE_ID_MAX], aid[STORE_ID_MAX], q2[STORE_ID_MAX], a2[STORE_ID_MAX], qb[STORE_ID_MAX], ab[STORE_ID_MAX];
    REQUIRE(mk_turn(st, a.id, &c, qid, aid) == 0 && mk_turn(st, a.id, &c2, q2, a2) == 0 && mk_turn(st, b.id, &cb, qb, ab) == 0,
            "turns");
    CHECK(store_msg_citations_put(st, a.id, aid, CITES, &e) == 0);
    CHECK(store_msg_citations_put(st, a.id, a2, CITES, &e) == 0);
    CHECK(store_msg_citations_put(st, b.id, ab, CITES, &e) == 0);
    CHECK_EQ_INT(rows(st), 3);
    /* the export: on the answer, as an array with its passages; not on the question */
    char *js = NULL;
    REQUIRE(store_export_user(st, a.id, &js, &e) == 0, "export: %s", e.msg);
    cJSON *x = js ? cJSON_Parse(js) : NULL;
    free(js);
    REQUIRE(x, "export parses");
    int answers = 0, questions_with = 0;
    cJSON *conv, *m;
    cJSON_ArrayForEach(conv, cJSON_GetObjectItem(x, "conversations")) {
        cJSON_ArrayForEach(m, cJSON_GetObjectItem(conv, "messages")) {
            const cJSON *ci = cJSON_GetObjectItem(m, "citations");
            if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(m, "role")), "user")) { questions_with += ci != NULL; continue; }
            cJSON *want = cJSON_Parse(CITES);
            answers += ci && cJSON_Compare(ci, want, 1);
            cJSON_Delete(want);
        }
    }
    cJSON_Delete(x);
    CHECK_EQ_INT(answers, 2);
    CHECK_EQ_INT(questions_with, 0);
    /* gone with the conversation (the row itself), then with the account */
    CHECK(store_conv_delete(st, a.id, c.id, &e) == 0);
    CHECK_EQ_INT(rows(st), 2);
    struct store_citations *r = NULL;
    size_t n = 0;
    CHECK(store_conv_citations(st, a.id, c2.id, &r, &n, &e) == 0 && n == 1);
    store_citations_free(r, n);
    CHECK(store_user_delete(st, a.id, &e) == 0);
    CHECK_EQ_INT(rows(st), 1);   /* b's stays */
    CHECK(store_conv_citations(st, b.id, cb.id, &r, &n, &e) == 0 && n == 1 && !strcmp(r[0].msg_id, ab));
    store_citations_free(r, n);
    store_close(st);
}

static void suite(void) {
    RUN(round_trip_and_owner);
    RUN(export_and_cascade);
}

int main(void) {
    TEST_EXPECT(2 * 2 + 1);
    return two_backends_run(suite);
}
