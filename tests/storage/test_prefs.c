/* storage/prefs.h (settings, server settings, memories, answers' sampling) and
 * storage/reasoning.h (answers' thoughts), run on SQLite
 * and on a throw-away PostgreSQL (tests/pg_temp.sh, as test_storage does; PostgreSQL
 * failing to start is a failure, not a skip). Each case gets a fresh database. Checks:
 * values round-trip, another user's ids behave as missing ones, bad input is refused
 * without writing, and everything is in the export and goes with the user. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "storage/prefs.h"
#include "storage/reasoning.h"
#include "test.h"

#define TWO_BACKENDS_NAME "prefs"
#include "two_backends.h"

static int mk_user(struct store *st, const char *email, struct store_user *out) {
    struct store_user u;
    memset(&u, 0, sizeof u);
    snprintf(u.email, sizeof u.email, "%s", email);
    struct err e = {{0}};
    return store_user_create(st, &u, 0, out, &e);
}

TEST(settings_round_trip) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct err e = {{0}};
    struct store_user a, b;
    REQUIRE(mk_user(st, "a@x.org", &a) == 0 && mk_user(st, "b@x.org", &b) == 0, "users");
    char *j = (char *)"x";
    CHECK(store_settings_get(st, a.id, &j, &e) == 0);
    CHECK(j == NULL); /* never written */
    CHECK(store_settings_put(st, a.id, "{\"theme\":\"dark\",\"about_me\":\"서울에 삽니다\"}", &e) == 0);
    CHECK(store_settings_put(st, a.id, "{\"theme\":\"light\",\"about_me\":\"서울에 삽니다\"}", &e) == 0); /* replaces */
    CHECK(store_settings_get(st, a.id, &j, &e) == 0);
    CHECK(j && strstr(j, "\"light\"") && strstr(j, "서울"));
    free(j);
    CHECK(store_settings_get(st, b.id, &j, &e) == 0 && j == NULL); /* b's are b's */
    CHECK_EQ_INT(store_settings_put(st, "usr_nobody", "{}", &e), STORE_NOTFOUND);
    char *big = malloc(STORE_SETTINGS_MAX + 2);
    REQUIRE(big, "oom");
    memset(big, 'a', STORE_SETTINGS_MAX + 1);
    big[STORE_SETTINGS_MAX + 1] = 0;
    CHECK_EQ_INT(store_settings_put(st, a.id, big, &e), STORE_INVALID);
    free(big);
    /* server settings */
    char *v = NULL;
    CHECK_EQ_INT(store_server_get(st, "improve_model_default", &v, &e), STORE_NOTFOUND);
    CHECK(store_server_put(st, "improve_model_default", "true", &e) == 0);
    CHECK(store_server_put(st, "improve_model_default", "false", &e) == 0);
    CHECK(store_server_get(st, "improve_model_default", &v, &e) == 0);
    CHECK_STR(v ? v : "", "false");
    free(v);
    CHECK_EQ_INT(store_server_put(st, "", "x", &e), STORE_INVALID);
    store_close(st);
}

TEST(memories_scoped) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct err e = {{0}};
    struct store_user a, b;
    REQUIRE(mk_user(st, "a@x.org", &a) == 0 && mk_user(st, "b@x.org", &b) == 0, "users");
    struct store_memory m1, m2, mb;
    REQUIRE(store_memory_add(st, a.id, "likes green tea", &m1, &e) == 0, "add: %s", e.msg);
    REQUIRE(store_memory_add(st, a.id, "딸 이름은 지수", &m2, &e) == 0, "add 2: %s", e.msg);
    REQUIRE(store_memory_add(st, b.id, "b's secret", &mb, &e) == 0, "add b");
    CHECK(!strncmp(m1.id, "mem_", 4) && strcmp(m1.id, m2.id));
    CHECK_EQ_INT(store_memory_add(st, a.id, "", NULL, &e), STORE_INVALID);
    CHECK_EQ_INT(store_memory_add(st, "usr_nobody", "x", NULL, &e), STORE_NOTFOUND);
    struct store_memory *l = NULL;
    size_t n = 0;
    CHECK(store_memory_list(st, a.id, &l, &n, &e) == 0);
    CHECK_EQ_INT(n, 2);
    int saw_b = 0;
    for (size_t i = 0; i < n; i++) saw_b |= !strcmp(l[i].content, "b's secret");
    CHECK(!saw_b);
    store_memories_free(l, n);
    /* b cannot touch a's memory: it is missing for b */
    CHECK_EQ_INT(store_memory_update(st, b.id, m1.id, "hacked", &e), STORE_NOTFOUND);
    CHECK_EQ_INT(store_memory_delete(st, b.id, m1.id, &e), STORE_NOTFOUND);
    CHECK(store_memory_update(st, a.id, m1.id, "likes oolong tea", &e) == 0);
    CHECK(store_memory_list(st, a.id, &l, &n, &e) == 0);
    int found = 0;
    for (size_t i = 0; i < n; i++) found |= !strcmp(l[i].content, "likes oolong tea") && l[i].updated >= l[i].created;
    CHECK(found);
    store_memories_free(l, n);
    CHECK(store_memory_delete(st, a.id, m2.id, &e) == 0);
    CHECK_EQ_INT(store_memory_delete(st, a.id, m2.id, &e), STORE_NOTFOUND);
    int64_t gone = 0;
    CHECK(store_memory_delete_all(st, a.id, &gone, &e) == 0);
    CHECK_EQ_INT(gone, 1);
    CHECK(store_memory_list(st, b.id, &l, &n, &e) == 0);
    CHECK_EQ_INT(n, 1); /* b's untouched */
    store_memories_free(l, n);
    free(m1.content);
    free(m2.content);
    free(mb.content);
    store_close(st);
}

TEST(export_and_cascade) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct err e = {{0}};
    struct store_user a, b;
    REQUIRE(mk_user(st, "a@x.org", &a) == 0 && mk_user(st, "b@x.org", &b) == 0, "users");
    struct store_conv c = {0}, cb = {0};
    snprintf(c.user_id, sizeof c.user_id, "%s", a.id);
    snprintf(cb.user_id, sizeof cb.user_id, "%s", b.id);
    REQUIRE(store_conv_create(st, &c, &c, &e) == 0 && store_conv_create(st, &cb, &cb, &e) == 0, "convs");
    struct store_msg m = {0};
    snprintf(m.conv_id, sizeof m.conv_id, "%s", c.id);
    snprintf(m.role, sizeof m.role, "assistant");
    m.content = "hello";
    char mid[STORE_ID_MAX];
    REQUIRE(store_msg_add(st, a.id, &m, 0, mid, &e) == 0, "msg");
    CHECK(store_msg_meta_put(st, a.id, mid, "{\"temperature\":0.7}", &e) == 0);
    CHECK(store_msg_meta_put(st, a.id, mid, "{\"temperature\":0.2}", &e) == 0);
    CHECK_EQ_INT(store_msg_meta_put(st, b.id, mid, "{}", &e), STORE_NOTFOUND); /* not b's message */
    char *sj = NULL;
    CHECK(store_msg_meta_get(st, a.id, mid, &sj, &e) == 0);
    CHECK_STR(sj ? sj : "", "{\"temperature\":0.2}");
    free(sj);
    CHECK(store_msg_meta_get(st, b.id, mid, &sj, &e) == 0 && !sj);
    /* an answer's built-in tool runs: the owner's only, replaced on a second put */
    CHECK(store_msg_runs_get(st, a.id, mid, &sj, &e) == 0 && !sj);
    CHECK(store_msg_runs_put(st, a.id, mid, "[{\"type\":\"data_analysis_call\",\"sql\":\"SELECT 1\"}]", &e) == 0);
    CHECK(store_msg_runs_put(st, a.id, mid, "[{\"type\":\"calculator_call\",\"expression\":\"1/3\"}]", &e) == 0);
    CHECK_EQ_INT(store_msg_runs_put(st, b.id, mid, "[]", &e), STORE_NOTFOUND);
    CHECK(store_msg_runs_get(st, a.id, mid, &sj, &e) == 0);
    CHECK_STR(sj ? sj : "", "[{\"type\":\"calculator_call\",\"expression\":\"1/3\"}]");
    free(sj);
    CHECK(store_msg_runs_get(st, b.id, mid, &sj, &e) == 0 && !sj);
    CHECK(store_settings_put(st, a.id, "{\"language\":\"ko\"}", &e) == 0);
    REQUIRE(store_memory_add(st, a.id, "A는 고양이를 키운다", NULL, &e) == 0, "mem");
    REQUIRE(store_memory_add(st, b.id, "B memory", NULL, &e) == 0, "mem b");
    char *js = NULL;
    REQUIRE(store_export_user(st, a.id, &js, &e) == 0, "export: %s", e.msg);
    cJSON *x = cJSON_Parse(js);
    free(js);
    REQUIRE(x, "export is JSON");
    const cJSON *set = cJSON_GetObjectItem(x, "settings"), *mems = cJSON_GetObjectItem(x, "memories");
    CHECK(cJSON_IsObject(set) && cJSON_IsString(cJSON_GetObjectItem(set, "language")));
    CHECK_EQ_INT(cJSON_GetArraySize(mems), 1);
    const cJSON *c0 = cJSON_GetObjectItem(cJSON_GetArrayItem(mems, 0), "content");
    CHECK(cJSON_IsString(c0) && !strcmp(c0->valuestring, "A는 고양이를 키운다"));
    cJSON_Delete(x);
    /* the account goes: its settings, memories and meta with it; b's stay */
    CHECK(store_user_delete(st, a.id, &e) == 0);
    struct store_memory *l = NULL;
    size_t n = 9;
    CHECK(store_memory_list(st, a.id, &l, &n, &e) == 0 && n == 0);
    store_memories_free(l, n);
    CHECK(store_settings_get(st, a.id, &sj, &e) == 0 && !sj);
    CHECK(store_msg_meta_get(st, a.id, mid, &sj, &e) == 0 && !sj);
    CHECK(store_memory_list(st, b.id, &l, &n, &e) == 0 && n == 1);
    store_memories_free(l, n);
    store_close(st);
}

/* storage/reasoning.h: an answer's thoughts kept with it, the user's only, cut at a
 * character boundary when too long, in the export, gone with the conversation. */
TEST(answer_reasoning) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct err e = {{0}};
    struct store_user a, b;
    REQUIRE(mk_user(st, "a@x.org", &a) == 0 && mk_user(st, "b@x.org", &b) == 0, "users");
    struct store_conv c = {0};
    snprintf(c.user_id, sizeof c.user_id, "%s", a.id);
    REQUIRE(store_conv_create(st, &c, &c, &e) == 0, "conv");
    struct store_msg q = {0}, m = {0};
    char qid[STORE_ID_MAX], mid[STORE_ID_MAX];
    snprintf(q.conv_id, sizeof q.conv_id, "%s", c.id);
    snprintf(q.role, sizeof q.role, "user");
    q.content = "왜 하늘은 파란가요?";
    REQUIRE(store_msg_add(st, a.id, &q, 0, qid, &e) == 0, "question");
    snprintf(m.conv_id, sizeof m.conv_id, "%s", c.id);
    snprintf(m.parent_id, sizeof m.parent_id, "%s", qid);
    snprintf(m.role, sizeof m.role, "assistant");
    m.content = "레일리 산란 때문입니다.";
    REQUIRE(store_msg_add(st, a.id, &m, 0, mid, &e) == 0, "answer");
    CHECK(store_msg_reasoning_put(st, a.id, mid, "first thought", &e) == 0);
    CHECK(store_msg_reasoning_put(st, a.id, mid, "빛이 짧은 파장에서 더 흩어진다", &e) == 0); /* replaces */
    CHECK_EQ_INT(store_msg_reasoning_put(st, b.id, mid, "b's", &e), STORE_NOTFOUND);   /* not b's message */
    CHECK_EQ_INT(store_msg_reasoning_put(st, a.id, "msg_nope", "x", &e), STORE_NOTFOUND);
    CHECK(store_msg_reasoning_put(st, a.id, qid, "", &e) == 0);                          /* nothing to keep */
    struct store_reasoning *r = NULL;
    size_t n = 0;
    CHECK(store_conv_reasonings(st, a.id, c.id, &r, &n, &e) == 0);
    REQUIRE(n == 1, "one answer has thoughts, not %zu", n);
    CHECK_STR(r[0].msg_id, mid);
    CHECK_STR(r[0].text, "빛이 짧은 파장에서 더 흩어진다");
    store_reasonings_free(r, n);
    CHECK(store_conv_reasonings(st, b.id, c.id, &r, &n, &e) == 0 && n == 0 && !r); /* another user's conversation */
    /* too long: cut to the limit, never inside a character ("가" is 3 bytes) */
    size_t big = STORE_REASONING_MAX + 10;
    char *s = malloc(big + 1);
    REQUIRE(s, "alloc");
    for (size_t i = 0; i + 3 <= big; i += 3) memcpy(s + i, "가", 3);
    s[big - big % 3] = 0;
    CHECK(store_msg_reasoning_put(st, a.id, mid, s, &e) == 0);
    free(s);
    CHECK(store_conv_reasonings(st, a.id, c.id, &r, &n, &e) == 0 && n == 1);
    if (n == 1) {
        size_t len = strlen(r[0].text);
        CHECK(len <= STORE_REASONING_MAX && len > STORE_REASONING_MAX - 3 && len % 3 == 0);
    }
    store_reasonings_free(r, n);
    CHECK(store_msg_reasoning_put(st, a.id, mid, "빛이 짧은 파장에서 더 흩어진다", &e) == 0);
    /* in the export, on the answer */
    char *js = NULL;
    REQUIRE(store_export_user(st, a.id, &js, &e) == 0, "export: %s", e.msg);
    CHECK(js && strstr(js, "\"reasoning\":\"빛이 짧은 파장에서 더 흩어진다\""));
    free(js);
    /* gone with the conversation */
    CHECK(store_conv_delete(st, a.id, c.id, &e) == 0);
    CHECK(store_conv_reasonings(st, a.id, c.id, &r, &n, &e) == 0 && n == 0);
    store_close(st);
}

static void suite(void) {
    RUN(settings_round_trip);
    RUN(memories_scoped);
    RUN(export_and_cascade);
    RUN(answer_reasoning);
}

int main(void) {
    TEST_EXPECT(2 * 4 + 1);
    return two_backends_run(suite);
}
