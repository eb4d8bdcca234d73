/* api/msg_citations.h on a throw-away SQLite store: a client's citations are checked
 * (shapes refused with a sentence), an answer's citations too long for storage lose the
 * passages' texts from the last one back and keep every source, and a share link's copy
 * keeps where each source is (index, file, page, heading) without its text or scores. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/msg_citations.h"
#include "storage/citations.h"
#include "test.h"

static int check(const char *json) {
    cJSON *v = cJSON_Parse(json);
    char msg[256] = "";
    int r = api_citations_check(v, msg, sizeof msg);
    cJSON_Delete(v);
    return r == 0 ? 0 : msg[0] ? -1 : -2;   /* -2: refused without saying why */
}

TEST(client_citations_checked) {
    CHECK_EQ_INT(api_citations_check(NULL, NULL, 0), 0);
    CHECK_EQ_INT(check("null"), 0);
    CHECK_EQ_INT(check("[]"), 0);
    CHECK_EQ_INT(check("[{\"index\":1,\"file\":\"a.pdf\",\"page\":2,\"heading\":\"h\",\"text\":\"t\",\"score\":0.5}]"), 0);
    CHECK_EQ_INT(check("[{\"index\":3,\"file\":\"a.pdf\",\"page\":null,\"heading\":null,\"text\":null}]"), 0);
    CHECK_EQ_INT(check("{\"index\":1,\"file\":\"a\"}"), -1);    /* not an array */
    CHECK_EQ_INT(check("\"[1]\""), -1);
    CHECK_EQ_INT(check("[1]"), -1);
    CHECK_EQ_INT(check("[{\"file\":\"a\"}]"), -1);              /* no index */
    CHECK_EQ_INT(check("[{\"index\":1}]"), -1);                 /* no file */
    CHECK_EQ_INT(check("[{\"index\":0,\"file\":\"a\"}]"), -1);
    CHECK_EQ_INT(check("[{\"index\":1.5,\"file\":\"a\"}]"), -1);
    CHECK_EQ_INT(check("[{\"index\":1e12,\"file\":\"a\"}]"), -1);
    CHECK_EQ_INT(check("[{\"index\":1,\"file\":\"a\",\"page\":\"2\"}]"), -1);
    CHECK_EQ_INT(check("[{\"index\":1,\"file\":\"a\",\"text\":3}]"), -1);
    CHECK_EQ_INT(check("[{\"index\":1,\"file\":\"a\",\"heading\":[]}]"), -1);
    char many[4096] = "[";
    for (int i = 1; i <= 51; i++) snprintf(many + strlen(many), sizeof many - strlen(many), "%s{\"index\":%d,\"file\":\"a\"}", i > 1 ? "," : "", i);
    strcat(many, "]");
    CHECK_EQ_INT(check(many), -1);                              /* 51 sources: more than max_chunks allows */
}

static char g_dir[64];

TEST(too_long_loses_texts_then_labels_only) {
    char url[128];
    snprintf(url, sizeof url, "sqlite:%s/c.db", g_dir);
    struct store *st = NULL;
    struct err e = {{0}};
    REQUIRE(store_open(url, &st, &e) == 0, "open: %s", e.msg);
    struct store_user u, in;
    memset(&in, 0, sizeof in);
    snprintf(in.email, sizeof in.email, "a@x.org");
    REQUIRE(store_user_create(st, &in, 0, &u, &e) == 0, "user: %s", e.msg);
    struct store_conv c = {0};
    snprintf(c.user_id, sizeof c.user_id, "%s", u.id);
    REQUIRE(store_conv_create(st, &c, &c, &e) == 0, "conv");
    struct store_msg m = {0};
    char mid[STORE_ID_MAX];
    snprintf(m.conv_id, sizeof m.conv_id, "%s", c.id);
    snprintf(m.role, sizeof m.role, "assistant");
    m.content = "answer";
    REQUIRE(store_msg_add(st, u.id, &m, 0, mid, &e) == 0, "answer");
    /* 40 passages of 40 KB: 1.6 MB of JSON, over the storage limit */
    enum { N = 40, T = 40000 };
    char *text = malloc(T + 1);
    REQUIRE(text, "alloc");
    memset(text, 'x', T);
    text[T] = 0;
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < N; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "index", i + 1);
        cJSON_AddStringToObject(o, "file", "manual.pdf");
        cJSON_AddNumberToObject(o, "page", i + 1);
        cJSON_AddStringToObject(o, "heading", "배터리");
        cJSON_AddNumberToObject(o, "score", 0.5);
        cJSON_AddStringToObject(o, "text", text);
        cJSON_AddItemToArray(arr, o);
    }
    free(text);
    CHECK(api_citations_put(st, u.id, mid, arr, &e) == 0);
    cJSON_Delete(arr);
    CHECK(api_citations_put(st, u.id, mid, NULL, &e) == 0);   /* none: nothing changes */
    struct store_citations *r = NULL;
    size_t n = 0;
    REQUIRE(store_conv_citations(st, u.id, c.id, &r, &n, &e) == 0 && n == 1, "stored");
    CHECK(strlen(r[0].json) <= STORE_CITATIONS_MAX);
    cJSON *got = cJSON_Parse(r[0].json);
    store_citations_free(r, n);
    CHECK_EQ_INT(cJSON_GetArraySize(got), N);   /* every source stays */
    int with_text = 0, first_without = -1;
    for (int i = 0; i < cJSON_GetArraySize(got); i++) {
        cJSON *it = cJSON_GetArrayItem(got, i);
        if (cJSON_GetObjectItem(it, "text")) with_text++;
        else if (first_without < 0) first_without = i;
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(it, "file")), "manual.pdf");
    }
    cJSON_Delete(got);
    CHECK(with_text > 0 && with_text < N);          /* the first ones keep their passages */
    CHECK_EQ_INT(first_without, with_text);         /* the texts went from the last back */
    /* read back onto messages: with passages, or only where each source is */
    for (int passages = 1; passages >= 0; passages--) {
        cJSON *msgs = cJSON_CreateArray(), *x = cJSON_CreateObject(), *other = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "id", mid);
        cJSON_AddStringToObject(other, "id", "msg_other");
        cJSON_AddItemToArray(msgs, other);
        cJSON_AddItemToArray(msgs, x);
        api_citations_attach(st, u.id, c.id, msgs, passages);
        CHECK(!cJSON_GetObjectItem(other, "citations"));
        cJSON *cs = cJSON_GetObjectItem(x, "citations");
        CHECK_EQ_INT(cJSON_GetArraySize(cs), N);
        cJSON *first = cJSON_GetArrayItem(cs, 0);
        CHECK_EQ_INT(cJSON_GetObjectItem(first, "text") != NULL, passages);
        CHECK_EQ_INT(cJSON_GetObjectItem(first, "score") != NULL, passages);
        CHECK_EQ_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(first, "page")), 1);
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(first, "heading")), "배터리");
        if (!passages) CHECK_EQ_INT(cJSON_GetArraySize(first), 4);   /* index, file, page, heading */
        cJSON_Delete(msgs);
    }
    /* another user's conversation attaches nothing */
    cJSON *msgs = cJSON_CreateArray(), *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "id", mid);
    cJSON_AddItemToArray(msgs, x);
    api_citations_attach(st, "usr_nobody", c.id, msgs, 1);
    CHECK(!cJSON_GetObjectItem(x, "citations"));
    cJSON_Delete(msgs);
    store_close(st);
}

int main(void) {
    TEST_EXPECT(2);
    RUN(client_citations_checked);
    snprintf(g_dir, sizeof g_dir, "/tmp/omni-msgcites-XXXXXX");
    if (!mkdtemp(g_dir)) { perror("mkdtemp"); return 1; }
    RUN(too_long_loses_texts_then_labels_only);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd)) {}
    return test_summary();
}
