/* The trainers' store (trainer/tasks.h), the reports over it (report.h) and the exports
 * (export.h), on SQLite and on a throw-away PostgreSQL (tests/pg_temp.sh; failing to start
 * it is a failure). Each case gets a fresh database. Checks: the queue (per_item, skips,
 * pairs first), consent (a user who said no is never queued nor exported, the server's
 * default counts for those who said nothing, withdrawing consent takes effect at once),
 * the SFT/DPO lines, PII scrubbing, filters, and agreement/leaderboard from stored rows. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "storage/prefs.h"
#include "test.h"

#define TWO_BACKENDS_NAME "tasks"
#include "../storage/two_backends.h"
#include "trainer/export.h"
#include "trainer/report.h"
#include "trainer/tasks.h"


static int mk_user(struct store *st, const char *email, const char *role, struct store_user *out) {
    struct store_user u;
    memset(&u, 0, sizeof u);
    snprintf(u.email, sizeof u.email, "%s", email);
    snprintf(u.role, sizeof u.role, "%s", role);
    struct err e = {{0}};
    return store_user_create(st, &u, 0, out, &e);
}

static int mk_set(struct store *st, const char *owner, const char *kind, int per_item, struct tset *out) {
    struct tset in;
    memset(&in, 0, sizeof in);
    snprintf(in.owner_id, sizeof in.owner_id, "%s", owner);
    snprintf(in.name, sizeof in.name, "set %s", kind);
    snprintf(in.kind, sizeof in.kind, "%s", kind);
    in.guidelines = "Be fair.";
    in.per_item = per_item;
    struct err e = {{0}};
    return tset_create(st, &in, out, &e);
}

static int add_prompt(struct store *st, const char *set_id, const char *q, const char *a, const char *b,
                      const char *ma, const char *mb, const char *topic, char *id) {
    struct titem it;
    memset(&it, 0, sizeof it);
    snprintf(it.set_id, sizeof it.set_id, "%s", set_id);
    char prompt[512];
    snprintf(prompt, sizeof prompt, "[{\"role\":\"user\",\"content\":\"%s\"}]", q);
    it.prompt = prompt;
    it.answer_a = (char *)a;
    it.answer_b = (char *)b;
    snprintf(it.model_a, sizeof it.model_a, "%s", ma ? ma : "");
    snprintf(it.model_b, sizeof it.model_b, "%s", mb ? mb : "");
    snprintf(it.topic, sizeof it.topic, "%s", topic ? topic : "");
    struct err e = {{0}};
    return titem_add(st, &it, id, &e);
}

static int judge(struct store *st, const struct titem *it, const char *user, const char *status, const char *scores,
                 const char *choice, const char *rewrite, const char *tags, int64_t ms) {
    struct tjudg j;
    memset(&j, 0, sizeof j);
    snprintf(j.item_id, sizeof j.item_id, "%s", it->id);
    snprintf(j.set_id, sizeof j.set_id, "%s", it->set_id);
    snprintf(j.user_id, sizeof j.user_id, "%s", user);
    snprintf(j.status, sizeof j.status, "%s", status);
    snprintf(j.choice, sizeof j.choice, "%s", choice ? choice : "");
    snprintf(j.tags, sizeof j.tags, "%s", tags ? tags : "");
    j.scores = (char *)scores;
    j.rewrite = (char *)rewrite;
    j.time_ms = ms;
    struct err e = {{0}};
    return tjudg_put(st, &j, NULL, &e);
}

/* A user's chat: question, answer, and feedback on the answer with its snapshot. */
static int chat_with_feedback(struct store *st, const struct store_user *u, const char *q, const char *a, int rating) {
    struct store_conv cv, in;
    memset(&in, 0, sizeof in);
    snprintf(in.user_id, sizeof in.user_id, "%s", u->id);
    snprintf(in.model, sizeof in.model, "m1");
    struct err e = {{0}};
    if (store_conv_create(st, &in, &cv, &e)) return -1;
    struct store_msg m;
    memset(&m, 0, sizeof m);
    snprintf(m.conv_id, sizeof m.conv_id, "%s", cv.id);
    snprintf(m.role, sizeof m.role, "user");
    m.content = (char *)q;
    char qid[STORE_ID_MAX], aid[STORE_ID_MAX];
    if (store_msg_add(st, u->id, &m, 0, qid, &e)) return -1;
    snprintf(m.parent_id, sizeof m.parent_id, "%s", qid);
    snprintf(m.role, sizeof m.role, "assistant");
    snprintf(m.model, sizeof m.model, "m1");
    m.content = (char *)a;
    if (store_msg_add(st, u->id, &m, 0, aid, &e)) return -1;
    cJSON *s = cJSON_CreateObject(), *ms = cJSON_AddArrayToObject(s, "messages"), *x;
    cJSON_AddStringToObject(s, "conversation_id", cv.id);
    cJSON_AddStringToObject(s, "model", "m1");
    x = cJSON_CreateObject(), cJSON_AddStringToObject(x, "role", "user"), cJSON_AddStringToObject(x, "content", q);
    cJSON_AddItemToArray(ms, x);
    x = cJSON_CreateObject(), cJSON_AddStringToObject(x, "role", "assistant"), cJSON_AddStringToObject(x, "content", a);
    cJSON_AddItemToArray(ms, x);
    struct store_feedback f;
    memset(&f, 0, sizeof f);
    snprintf(f.msg_id, sizeof f.msg_id, "%s", aid);
    snprintf(f.user_id, sizeof f.user_id, "%s", u->id);
    f.rating = rating;
    f.snapshot = cJSON_PrintUnformatted(s);
    cJSON_Delete(s);
    int rc = store_feedback_put(st, &f, NULL, &e);
    free(f.snapshot);
    return rc;
}

TEST(queue_per_item_and_skips) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct store_user ad, t1, t2, t3;
    REQUIRE(!mk_user(st, "ad@x.org", "admin", &ad) && !mk_user(st, "t1@x.org", "trainer", &t1) &&
            !mk_user(st, "t2@x.org", "trainer", &t2) && !mk_user(st, "t3@x.org", "trainer", &t3), "users");
    struct tset s;
    REQUIRE(!mk_set(st, ad.id, "rating", 2, &s), "set");
    CHECK_STR(s.kind, "rating");
    CHECK_EQ_INT(s.per_item, 2);
    char i1[STORE_ID_MAX], i2[STORE_ID_MAX];
    CHECK(!add_prompt(st, s.id, "q1", "a1", NULL, "m1", NULL, "math", i1));
    CHECK(!add_prompt(st, s.id, "q2", NULL, NULL, NULL, NULL, NULL, i2));
    struct titem it;
    struct err e = {{0}};
    CHECK(trainer_next(st, NULL, t1.id, &it, &e) == 0);
    CHECK_STR(it.id, i1);
    CHECK_STR(it.answer_a, "a1");
    CHECK(judge(st, &it, t1.id, "done", "{\"helpful\":5}", NULL, NULL, NULL, 1200) == 0);
    titem_free(&it);
    /* t2 gets item 1 first: it has one judgment already (pairs form) */
    CHECK(trainer_next(st, s.id, t2.id, &it, &e) == 0);
    CHECK_STR(it.id, i1);
    CHECK(judge(st, &it, t2.id, "done", "{\"helpful\":6}", NULL, NULL, NULL, 900) == 0);
    titem_free(&it);
    /* item 1 is full (per_item 2): t3 gets item 2, its answer not generated yet */
    CHECK(trainer_next(st, NULL, t3.id, &it, &e) == 0);
    CHECK_STR(it.id, i2);
    CHECK(it.answer_a == NULL);
    CHECK(titem_set_answer(st, i2, 'a', "generated", "m2", &e) == 0);
    CHECK(titem_set_answer(st, i2, 'a', "second", "m3", &e) == 0); /* the first one stays */
    titem_free(&it);
    CHECK(titem_get(st, i2, &it, &e) == 0);
    CHECK_STR(it.answer_a, "generated");
    CHECK_STR(it.model_a, "m2");
    /* a skip takes it out of t3's queue, not out of others' */
    CHECK(judge(st, &it, t3.id, "skipped", NULL, NULL, NULL, NULL, 300) == 0);
    titem_free(&it);
    CHECK(trainer_next(st, NULL, t3.id, &it, &e) == STORE_NOTFOUND);
    CHECK(trainer_next(st, NULL, t1.id, &it, &e) == 0);
    CHECK_STR(it.id, i2);
    titem_free(&it);
    /* a second judgment by the same trainer replaces the first */
    struct titem one;
    CHECK(titem_get(st, i1, &one, &e) == 0);
    CHECK(judge(st, &one, t1.id, "done", "{\"helpful\":7}", NULL, NULL, NULL, 100) == 0);
    struct tjudg *js = NULL;
    size_t n = 0;
    CHECK(tjudg_list(st, NULL, t1.id, NULL, &js, &n, &e) == 0);
    CHECK_EQ_INT(n, 1);
    if (n) CHECK_STR(js[0].scores, "{\"helpful\":7}");
    tjudgs_free(js, n);
    titem_free(&one);
    /* an inactive set hands nothing out */
    s.active = 0;
    char *g = s.guidelines;
    s.guidelines = NULL;
    CHECK(tset_update(st, &s, &e) == 0);
    s.guidelines = g;
    CHECK(trainer_next(st, NULL, t1.id, &it, &e) == STORE_NOTFOUND);
    /* bad input */
    struct tset bad;
    CHECK(mk_set(st, ad.id, "vibes", 2, &bad) == STORE_INVALID);
    CHECK(mk_set(st, ad.id, "rating", 0, &bad) == STORE_INVALID);
    CHECK(tset_get(st, "tset_nope", &bad, &e) == STORE_NOTFOUND);
    struct tset got;
    CHECK(tset_get(st, s.id, &got, &e) == 0);
    CHECK_EQ_INT(got.n_items, 2);
    CHECK_EQ_INT(got.n_done, 2);
    CHECK_STR(got.guidelines, "Be fair.");
    tset_free(&got);
    /* deleting the set takes its items and judgments */
    CHECK(tset_delete(st, s.id, &e) == 0);
    CHECK(titem_get(st, i1, &it, &e) == STORE_NOTFOUND);
    CHECK(tjudg_list(st, NULL, t1.id, NULL, &js, &n, &e) == 0 && n == 0);
    tset_free(&s);
    store_close(st);
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++) n++;
    return n;
}

TEST(consent_and_exports) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct store_user ad, t1, t2, alice, bob, carol;
    REQUIRE(!mk_user(st, "ad@x.org", "admin", &ad) && !mk_user(st, "t1@x.org", "trainer", &t1) &&
            !mk_user(st, "t2@x.org", "trainer", &t2) && !mk_user(st, "alice@x.org", "user", &alice) &&
            !mk_user(st, "bob@x.org", "user", &bob) && !mk_user(st, "carol@x.org", "user", &carol), "users");
    struct err e = {{0}};
    CHECK(store_settings_put(st, alice.id, "{\"improve_model\":true}", &e) == 0);
    CHECK(store_settings_put(st, bob.id, "{\"improve_model\":false}", &e) == 0);
    /* carol said nothing: the server's default (off) */
    CHECK(trainer_consented(st, alice.id) == 1);
    CHECK(trainer_consented(st, bob.id) == 0);
    CHECK(trainer_consented(st, carol.id) == 0);
    CHECK(trainer_consented(st, "usr_gone") == 0);
    REQUIRE(!chat_with_feedback(st, &alice, "My mail is alice@example.com, call 010-1234-5678", "Noted.", -1), "alice chat");
    REQUIRE(!chat_with_feedback(st, &bob, "BOB-SECRET plans", "Sure.", -1), "bob chat");
    REQUIRE(!chat_with_feedback(st, &carol, "CAROL question", "Fine.", 1), "carol chat");
    struct tset rw;
    REQUIRE(!mk_set(st, ad.id, "rewrite", 1, &rw), "set");
    int64_t added = 0;
    CHECK(tset_fill_from_feedback(st, rw.id, 0, &added, &e) == 0);
    CHECK_EQ_INT(added, 1); /* alice only */
    /* the admin turns the default on: carol (no choice of her own) is drawn now, bob never */
    CHECK(store_server_put(st, "improve_model_default", "true", &e) == 0);
    CHECK(tset_fill_from_feedback(st, rw.id, 1, &added, &e) == 0);
    CHECK_EQ_INT(added, 0); /* only thumbs-down: carol's was up, alice's already there */
    CHECK(tset_fill_from_feedback(st, rw.id, 0, &added, &e) == 0);
    CHECK_EQ_INT(added, 1);
    /* from conversations (with or without feedback): alice's and carol's, never bob's; twice adds nothing */
    struct tset cs;
    REQUIRE(!mk_set(st, ad.id, "rating", 1, &cs), "set");
    CHECK(tset_fill_from_conversations(st, cs.id, 0, &added, &e) == 0);
    CHECK_EQ_INT(added, 2);
    CHECK(tset_fill_from_conversations(st, cs.id, 0, &added, &e) == 0);
    CHECK_EQ_INT(added, 0);
    struct titem *ci = NULL;
    size_t nci = 0;
    CHECK(titem_list(st, cs.id, &ci, &nci, &e) == 0 && nci == 2);
    for (size_t k = 0; k < nci; k++) {
        CHECK(!strstr(ci[k].prompt, "BOB"));
        CHECK(ci[k].answer_a && (!strcmp(ci[k].answer_a, "Noted.") || !strcmp(ci[k].answer_a, "Fine.")));
        CHECK_STR(ci[k].model_a, "m1");
    }
    titems_free(ci, nci);
    CHECK(tset_delete(st, cs.id, &e) == 0);
    tset_free(&cs);
    struct titem it;
    int seen_alice = 0, seen_carol = 0, seen_bob = 0;
    for (int k = 0; k < 3; k++) {
        if (trainer_next(st, rw.id, t1.id, &it, &e)) break;
        seen_alice |= strstr(it.prompt, "alice@example.com") != NULL;
        seen_carol |= strstr(it.prompt, "CAROL") != NULL;
        seen_bob |= strstr(it.prompt, "BOB") != NULL;
        CHECK(it.source_user[0] != 0);
        const char *text = strstr(it.prompt, "alice@") ? "Write to alice@example.com or 010-1234-5678; card 4111 1111 1111 1111, RRN 900101-1234567."
                                                        : "Carol's ideal answer.";
        CHECK(judge(st, &it, t1.id, "done", NULL, NULL, text, "pii", 5000) == 0);
        titem_free(&it);
    }
    CHECK(seen_alice && seen_carol && !seen_bob);
    struct texport_filter f = {0};
    char *out = NULL;
    int64_t lines = 0;
    CHECK(trainer_export(st, "sft", &f, &out, &lines, &e) == 0);
    CHECK_EQ_INT(lines, 2);
    CHECK(out && !strstr(out, "BOB"));
    CHECK(out && !strstr(out, "alice@example.com") && !strstr(out, "010-1234-5678") && !strstr(out, "4111"));
    CHECK(out && count(out, "[EMAIL]") == 2 && count(out, "[PHONE]") == 2 && count(out, "[CARD]") == 1 && count(out, "[RRN]") == 1);
    CHECK(out && strstr(out, "Carol's ideal answer.") && !strstr(out, "\"Fine.\""));
    /* each line is chat fine-tuning JSON: messages, the last the assistant's rewrite */
    for (char *p = out, *nl; p && (nl = strchr(p, '\n')); p = nl + 1) {
        *nl = 0;
        cJSON *j = cJSON_Parse(p);
        cJSON *ms = cJSON_GetObjectItemCaseSensitive(j, "messages");
        CHECK(cJSON_GetArraySize(ms) == 2);
        CHECK_STR(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(ms, 1), "role")->valuestring, "assistant");
        cJSON_Delete(j);
    }
    free(out);
    /* DPO: a rewrite is preferred over the original */
    CHECK(trainer_export(st, "dpo", &f, &out, &lines, &e) == 0);
    CHECK_EQ_INT(lines, 2);
    cJSON *j = out ? cJSON_Parse(out) : NULL; /* the first line (cJSON stops at its end) */
    CHECK(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "input"), "messages")));
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "preferred_output")) == 1);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "non_preferred_output")) == 1);
    cJSON_Delete(j);
    free(out);
    /* alice withdraws: at once none of hers is queued or exported */
    CHECK(store_settings_put(st, alice.id, "{\"improve_model\":false}", &e) == 0);
    CHECK(trainer_export(st, "sft", &f, &out, &lines, &e) == 0);
    CHECK_EQ_INT(lines, 1);
    CHECK(out && !strstr(out, "[EMAIL]") && strstr(out, "Carol"));
    free(out);
    /* filters: tag (a trainer's problem tag), model, dates */
    f.tag = "pii";
    CHECK(trainer_export(st, "sft", &f, &out, &lines, &e) == 0 && lines == 1);
    free(out);
    f.tag = "nothing";
    CHECK(trainer_export(st, "sft", &f, &out, &lines, &e) == 0 && lines == 0);
    free(out);
    f.tag = NULL;
    f.model = "m2";
    CHECK(trainer_export(st, "sft", &f, &out, &lines, &e) == 0 && lines == 0);
    free(out);
    f.model = "m1";
    f.from = store_now_ms() + 86400000;
    CHECK(trainer_export(st, "sft", &f, &out, &lines, &e) == 0 && lines == 0);
    free(out);
    f.from = 0;
    f.to = store_now_ms() + 1000;
    CHECK(trainer_export(st, "sft", &f, &out, &lines, &e) == 0 && lines == 1);
    free(out);
    CHECK(trainer_export(st, "csv", &f, &out, &lines, &e) == STORE_INVALID);
    /* bob is deleted: nothing of his is left in any set */
    CHECK(store_user_delete(st, bob.id, &e) == 0);
    tset_free(&rw);
    store_close(st);
}

TEST(scrub_and_days) {
    char *s = trainer_scrub("mail me: kim@example.co.kr, +82 10-9876-5432, 주민번호 900101-1234567, 5500 0000 0000 0004 ok");
    REQUIRE(s, "scrub");
    CHECK_STR(s, "mail me: [EMAIL], [PHONE], 주민번호 [RRN], [CARD] ok");
    free(s);
    s = trainer_scrub("nothing personal, 12345");
    CHECK_STR(s, "nothing personal, 12345");
    free(s);
    CHECK(trainer_parse_day("2026-01-02", 0) == 1767312000000LL);
    CHECK(trainer_parse_day("2026-01-02", 1) == 1767312000000LL + 86399999);
    CHECK(trainer_parse_day("2026-02-31", 0) < 0);
    CHECK(trainer_parse_day("yesterday", 0) < 0);
}

/* Two trainers rate one item (scores worked out in test_stats' way: pooled over the five
 * criteria a = 4 3 6 4 2, b = 4 2 6 4 1 (0-based), p_o = 3/5, p_e = (2*2 + 1 + 1)/25 = 6/25,
 * kappa = (0.6 - 0.24) / 0.76 = 0.473684); two compare items: A wins 3 of 4 votes. */
TEST(reports_from_rows) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct store_user ad, t1, t2;
    REQUIRE(!mk_user(st, "ad@x.org", "admin", &ad) && !mk_user(st, "t1@x.org", "trainer", &t1) &&
            !mk_user(st, "t2@x.org", "trainer", &t2), "users");
    struct tset r, c;
    REQUIRE(!mk_set(st, ad.id, "rating", 2, &r) && !mk_set(st, ad.id, "compare", 2, &c), "sets");
    char id[STORE_ID_MAX];
    struct err e = {{0}};
    struct titem it;
    CHECK(!add_prompt(st, r.id, "q", "a", NULL, "m1", NULL, NULL, id));
    CHECK(titem_get(st, id, &it, &e) == 0);
    CHECK(!judge(st, &it, t1.id, "done", "{\"helpful\":5,\"correct\":4,\"harmless\":7,\"follows_instructions\":5,\"korean_naturalness\":3}", NULL, NULL, NULL, 60000));
    CHECK(!judge(st, &it, t2.id, "done", "{\"helpful\":5,\"correct\":3,\"harmless\":7,\"follows_instructions\":5,\"korean_naturalness\":2}", NULL, NULL, NULL, 30000));
    titem_free(&it);
    cJSON *ag = trainer_agreement(st, r.id, &e);
    REQUIRE(ag, "agreement: %s", e.msg);
    cJSON *p0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(ag, "pairs"), 0);
    CHECK_NEAR(cJSON_GetObjectItemCaseSensitive(p0, "percent_agreement")->valuedouble, 60.0, 1e-9);
    CHECK_NEAR(cJSON_GetObjectItemCaseSensitive(p0, "kappa")->valuedouble, 0.473684, 1e-6);
    CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(p0, "items")->valuedouble, 5);
    cJSON *hc = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p0, "criteria"), "helpful");
    CHECK_NEAR(cJSON_GetObjectItemCaseSensitive(hc, "percent_agreement")->valuedouble, 100.0, 1e-9);
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(hc, "kappa"))); /* one item, one label: undefined */
    cJSON_Delete(ag);
    char c1[STORE_ID_MAX], c2[STORE_ID_MAX];
    CHECK(!add_prompt(st, c.id, "x", "A1", "B1", "big", "small", "code", c1));
    CHECK(!add_prompt(st, c.id, "y", "A2", "B2", "big", "small", "", c2));
    const char *votes[2][2] = {{"a", "a"}, {"a", "b"}}; /* [item][trainer] */
    for (int i = 0; i < 2; i++) {
        CHECK(titem_get(st, i ? c2 : c1, &it, &e) == 0);
        CHECK(!judge(st, &it, t1.id, "done", NULL, votes[i][0], NULL, NULL, 1000));
        CHECK(!judge(st, &it, t2.id, "done", NULL, votes[i][1], NULL, NULL, 1000));
        titem_free(&it);
    }
    ag = trainer_agreement(st, c.id, &e);
    REQUIRE(ag, "agreement");
    CHECK_NEAR(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ag, "overall"), "percent_agreement")->valuedouble, 50.0, 1e-9);
    cJSON_Delete(ag);
    /* 3 : 1 -> theta = ln(3)/2, score 1000 + 200 log10(3) = 1095.4 */
    cJSON *lb = trainer_leaderboard(st, NULL, &e);
    REQUIRE(lb, "leaderboard");
    cJSON *m0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(lb, "models"), 0);
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(m0, "model")->valuestring, "big");
    CHECK_NEAR(cJSON_GetObjectItemCaseSensitive(m0, "score")->valuedouble, 1095.4, 0.05);
    CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(m0, "games")->valuedouble, 4);
    cJSON *topics = cJSON_GetObjectItemCaseSensitive(lb, "topics");
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(topics, "code")) == 2);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(topics, "general")) == 2);
    cJSON_Delete(lb);
    /* DPO from the votes: item 1 (2:0) gives A over B; item 2 (1:1) gives nothing */
    struct texport_filter f = {0};
    char *out = NULL;
    int64_t lines = 0;
    CHECK(trainer_export(st, "dpo", &f, &out, &lines, &e) == 0);
    CHECK_EQ_INT(lines, 1);
    CHECK(out && strstr(out, "\"preferred_output\":[{\"role\":\"assistant\",\"content\":\"A1\"}]"));
    free(out);
    /* SFT with min_rating: the rated answer (mean 4.6) is in at 4.5, out at 5 */
    f.min_rating = 4.5;
    CHECK(trainer_export(st, "sft", &f, &out, &lines, &e) == 0 && lines == 1);
    free(out);
    f.min_rating = 5;
    CHECK(trainer_export(st, "sft", &f, &out, &lines, &e) == 0 && lines == 0);
    free(out);
    cJSON *tp = trainer_throughput(st, NULL, &e);
    REQUIRE(tp, "throughput");
    cJSON *row, *t1row = NULL;
    cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(tp, "data"))
        if (!strcmp(cJSON_GetObjectItemCaseSensitive(row, "trainer_id")->valuestring, t1.id)) t1row = row;
    REQUIRE(t1row, "t1's row");
    CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(t1row, "done")->valuedouble, 3);
    CHECK_EQ_INT(cJSON_GetObjectItemCaseSensitive(t1row, "time_ms")->valuedouble, 62000);
    /* 3 tasks in 62 s: 174.2 an hour */
    CHECK_NEAR(cJSON_GetObjectItemCaseSensitive(t1row, "per_hour")->valuedouble, 174.2, 0.05);
    cJSON_Delete(tp);
    tset_free(&r);
    tset_free(&c);
    store_close(st);
}

static void suite(void) {
    RUN(queue_per_item_and_skips);
    RUN(consent_and_exports);
    RUN(reports_from_rows);
}

int main(void) {
    TEST_EXPECT(2 * 3 + 2);
    RUN(scrub_and_days);
    return two_backends_run(suite);
}
