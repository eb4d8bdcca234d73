/* The files and vector stores storage (src/storage/files.h), run on SQLite and on a
 * throw-away PostgreSQL (tests/pg_temp.sh; missing PostgreSQL is a failure, not a skip):
 * bytes come back exactly (NUL and high bytes included), lists page in order, another
 * user's ids behave as missing ones, attaching needs both the store and the file to be
 * the user's, chunks and their vectors round-trip, indexing results land only while the
 * attachment is in progress, and deletes cascade: a file out of its stores, a store with
 * its chunks, a user with everything. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/files.h"
#include "test.h"

#define TWO_BACKENDS_NAME "files"
#include "two_backends.h"


static void mk_user(struct store *st, const char *email, struct store_user *u) {
    memset(u, 0, sizeof *u);
    snprintf(u->email, sizeof u->email, "%s", email);
    struct err e = {{0}};
    if (store_user_create(st, u, 0, u, &e)) fprintf(stderr, "  user: %s\n", e.msg);
}

static int mk_file(struct store *st, const char *uid, const char *name, const char *purpose, const void *data, size_t n,
                   struct store_file *out) {
    static int64_t t = 1700000000000;   /* distinct creation times: lists order by them */
    struct store_file f = {0};
    f.created = t += 1000;
    snprintf(f.user_id, sizeof f.user_id, "%s", uid);
    snprintf(f.filename, sizeof f.filename, "%s", name);
    snprintf(f.purpose, sizeof f.purpose, "%s", purpose);
    struct err e = {{0}};
    int rc = store_file_create(st, &f, data, n, out, &e);
    if (rc) fprintf(stderr, "  file_create: %s\n", e.msg);
    return rc;
}

TEST(files_roundtrip) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct store_user a, b;
    mk_user(st, "a@x", &a);
    mk_user(st, "b@x", &b);
    unsigned char bin[300];
    for (int i = 0; i < 300; i++) bin[i] = (unsigned char)(i * 7);   /* NULs and high bytes */
    struct store_file f1, f2, f3, got;
    REQUIRE(mk_file(st, a.id, "설명서.pdf", "assistants", bin, sizeof bin, &f1) == 0, "f1");
    REQUIRE(mk_file(st, a.id, "b.txt", "batch", "x", 1, &f2) == 0, "f2");
    REQUIRE(mk_file(st, a.id, "c.txt", "assistants", "yy", 2, &f3) == 0, "f3");
    CHECK(!strncmp(f1.id, "file-", 5));
    CHECK_EQ_INT(f1.bytes, 300);
    struct err e = {{0}};
    CHECK(store_file_get(st, a.id, f1.id, &got, &e) == 0);
    CHECK_STR(got.filename, "설명서.pdf");
    void *data = NULL;
    size_t n = 0;
    CHECK(store_file_content(st, a.id, f1.id, &data, &n, &e) == 0);
    CHECK(n == sizeof bin && data && !memcmp(data, bin, n));
    free(data);
    /* another user's id is missing */
    CHECK_EQ_INT(store_file_get(st, b.id, f1.id, &got, &e), STORE_NOTFOUND);
    CHECK_EQ_INT(store_file_content(st, b.id, f1.id, &data, &n, &e), STORE_NOTFOUND);
    CHECK_EQ_INT(store_file_delete(st, b.id, f1.id, &e), STORE_NOTFOUND);
    /* lists: order, purpose, cursor, limit */
    struct store_file *l = NULL;
    int more = 0;
    struct store_file_query q = {NULL, NULL, 0, 10};
    REQUIRE(store_file_list(st, a.id, &q, &l, &n, &more, &e) == 0, "list: %s", e.msg);
    CHECK_EQ_INT(n, 3);
    if (n == 3) CHECK(!strcmp(l[0].id, f1.id) && !strcmp(l[2].id, f3.id));
    free(l);
    q = (struct store_file_query){"assistants", f1.id, 0, 10};
    REQUIRE(store_file_list(st, a.id, &q, &l, &n, &more, &e) == 0, "list: %s", e.msg);
    CHECK_EQ_INT(n, 1);
    if (n == 1) CHECK_STR(l[0].id, f3.id);
    free(l);
    q = (struct store_file_query){NULL, NULL, 1, 2};
    REQUIRE(store_file_list(st, a.id, &q, &l, &n, &more, &e) == 0, "list: %s", e.msg);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(more, 1);
    if (n == 2) CHECK_STR(l[0].id, f3.id);
    free(l);
    q = (struct store_file_query){NULL, NULL, 1, 10};
    REQUIRE(store_file_list(st, b.id, &q, &l, &n, &more, &e) == 0, "list: %s", e.msg);
    CHECK_EQ_INT(n, 0);
    free(l);
    CHECK(store_file_delete(st, a.id, f2.id, &e) == 0);
    CHECK_EQ_INT(store_file_get(st, a.id, f2.id, &got, &e), STORE_NOTFOUND);
    store_close(st);
}

TEST(vector_stores_and_chunks) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct store_user a, b;
    mk_user(st, "a@x", &a);
    mk_user(st, "b@x", &b);
    struct store_file fa, fb;
    REQUIRE(mk_file(st, a.id, "a.md", "assistants", "# A", 3, &fa) == 0, "fa");
    REQUIRE(mk_file(st, b.id, "b.md", "assistants", "# B", 3, &fb) == 0, "fb");
    struct err e = {{0}};
    struct store_vs v = {0}, v2 = {0}, got;
    snprintf(v.user_id, sizeof v.user_id, "%s", a.id);
    snprintf(v.name, sizeof v.name, "설명서");
    v.created = 1700000000000;   /* distinct creation times: lists order by them */
    v2.created = 1700000001000;
    REQUIRE(store_vs_create(st, &v, &v, &e) == 0, "vs: %s", e.msg);
    snprintf(v2.user_id, sizeof v2.user_id, "%s", a.id);
    REQUIRE(store_vs_create(st, &v2, &v2, &e) == 0, "vs2: %s", e.msg);
    CHECK_STR(v.metadata, "{}");
    CHECK_EQ_INT(store_vs_get(st, b.id, v.id, &got, &e), STORE_NOTFOUND);
    /* attach: both must be the user's */
    struct store_vsfile f = {0};
    snprintf(f.vs_id, sizeof f.vs_id, "%s", v.id);
    snprintf(f.user_id, sizeof f.user_id, "%s", a.id);
    snprintf(f.file_id, sizeof f.file_id, "%s", fb.id);
    CHECK_EQ_INT(store_vsfile_add(st, &f, &e), STORE_NOTFOUND);
    snprintf(f.user_id, sizeof f.user_id, "%s", b.id);
    CHECK_EQ_INT(store_vsfile_add(st, &f, &e), STORE_NOTFOUND);
    snprintf(f.user_id, sizeof f.user_id, "%s", a.id);
    snprintf(f.file_id, sizeof f.file_id, "%s", fa.id);
    snprintf(f.attributes, sizeof f.attributes, "{\"lang\":\"ko\"}");
    REQUIRE(store_vsfile_add(st, &f, &e) == 0, "attach: %s", e.msg);
    REQUIRE(store_vs_get(st, a.id, v.id, &got, &e) == 0, "get");
    CHECK_EQ_INT(got.n_in_progress, 1);
    struct store_vsfile *pend = NULL;
    size_t n = 0;
    REQUIRE(store_vsfile_pending(st, &pend, &n, &e) == 0, "pending");
    CHECK_EQ_INT(n, 1);
    free(pend);
    /* chunks and vectors round-trip */
    float v0[4] = {0.5f, -0.25f, 1e-7f, 3.0f}, v1[4] = {-1, 0, 0, 1};
    struct store_chunk ch[2] = {{.text = "첫째 조각", .heading = "A", .page_first = 1, .page_last = 2, .n_tokens = 5, .vec = v0, .dim = 4},
                                {.text = "second", .heading = "", .vec = v1, .dim = 4}};
    REQUIRE(store_chunks_put(st, v.id, fa.id, ch, 2, &e) == 0, "put: %s", e.msg);
    CHECK_EQ_INT(store_chunks_put(st, v.id, fa.id, ch, 2, &e), STORE_NOTFOUND);   /* no longer in progress */
    const char *ids[2] = {v.id, v2.id};
    struct store_chunk *out = NULL;
    REQUIRE(store_chunks_load(st, a.id, ids, 2, &out, &n, &e) == 0, "load: %s", e.msg);
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        CHECK_STR(out[0].text, "첫째 조각");
        CHECK_STR(out[0].heading, "A");
        CHECK_STR(out[0].filename, "a.md");
        CHECK_STR(out[0].attributes, "{\"lang\":\"ko\"}");
        CHECK_EQ_INT(out[0].page_last, 2);
        CHECK(out[0].dim == 4 && !memcmp(out[0].vec, v0, sizeof v0));
        CHECK(!memcmp(out[1].vec, v1, sizeof v1));
    }
    store_chunks_free(out, n);
    REQUIRE(store_chunks_load(st, b.id, ids, 2, &out, &n, &e) == 0, "load b");
    CHECK_EQ_INT(n, 0);   /* not b's */
    store_chunks_free(out, n);
    REQUIRE(store_vs_get(st, a.id, v.id, &got, &e) == 0, "get");
    CHECK_EQ_INT(got.n_completed, 1);
    CHECK(got.usage_bytes > 0);
    /* a batch: cancel what is in progress; a failure keeps its message */
    struct store_file fc;
    REQUIRE(mk_file(st, a.id, "c.md", "assistants", "c", 1, &fc) == 0, "fc");
    struct store_vsfile g = f;
    snprintf(g.vs_id, sizeof g.vs_id, "%s", v2.id);
    snprintf(g.file_id, sizeof g.file_id, "%s", fc.id);
    snprintf(g.batch_id, sizeof g.batch_id, "vsfb_1");
    REQUIRE(store_vsfile_add(st, &g, &e) == 0, "attach c");
    snprintf(g.file_id, sizeof g.file_id, "%s", fa.id);
    REQUIRE(store_vsfile_add(st, &g, &e) == 0, "attach a to v2");
    CHECK(store_vsfile_finish(st, v2.id, fa.id, "failed", "invalid_file", "bad", &e) == 0);
    CHECK(store_vsfile_cancel_batch(st, a.id, v2.id, "vsfb_1", &e) == 0);
    struct store_vsfile_query q = {NULL, "vsfb_1", {NULL, NULL, 0, 10}};
    struct store_vsfile *l = NULL;
    int more;
    REQUIRE(store_vsfile_list(st, a.id, v2.id, &q, &l, &n, &more, &e) == 0, "list: %s", e.msg);
    CHECK_EQ_INT(n, 2);
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(l[i].file_id, fa.id)) CHECK(!strcmp(l[i].status, "failed") && !strcmp(l[i].error_msg, "bad"));
        else CHECK_STR(l[i].status, "cancelled");
    }
    free(l);
    /* paging the attachments: one at a time, then after the first */
    q = (struct store_vsfile_query){NULL, NULL, {NULL, NULL, 0, 1}};
    REQUIRE(store_vsfile_list(st, a.id, v2.id, &q, &l, &n, &more, &e) == 0, "list: %s", e.msg);
    CHECK(n == 1 && more == 1);
    char first[STORE_ID_MAX] = "";
    if (n == 1) snprintf(first, sizeof first, "%s", l[0].file_id);
    free(l);
    q = (struct store_vsfile_query){NULL, NULL, {first, NULL, 0, 10}};
    REQUIRE(store_vsfile_list(st, a.id, v2.id, &q, &l, &n, &more, &e) == 0, "list after: %s", e.msg);
    CHECK(n == 1 && more == 0 && strcmp(l[0].file_id, first));
    free(l);
    q = (struct store_vsfile_query){NULL, NULL, {NULL, first, 1, 10}};
    REQUIRE(store_vsfile_list(st, a.id, v2.id, &q, &l, &n, &more, &e) == 0, "list before (desc): %s", e.msg);
    CHECK_EQ_INT(n, 1);
    free(l);
    q = (struct store_vsfile_query){"failed", NULL, {NULL, NULL, 0, 10}};
    REQUIRE(store_vsfile_list(st, a.id, v2.id, &q, &l, &n, &more, &e) == 0, "list: %s", e.msg);
    CHECK_EQ_INT(n, 1);
    free(l);
    /* paging the stores */
    struct store_vs *vl = NULL;
    struct store_page p = {NULL, NULL, 0, 1};
    REQUIRE(store_vs_list(st, a.id, &p, &vl, &n, &more, &e) == 0, "vs list: %s", e.msg);
    CHECK(n == 1 && more == 1 && !strcmp(vl[0].id, v.id));
    free(vl);
    p = (struct store_page){v.id, NULL, 0, 10};
    REQUIRE(store_vs_list(st, a.id, &p, &vl, &n, &more, &e) == 0, "vs list after");
    CHECK(n == 1 && !strcmp(vl[0].id, v2.id));
    free(vl);
    p = (struct store_page){NULL, v2.id, 0, 10};
    REQUIRE(store_vs_list(st, a.id, &p, &vl, &n, &more, &e) == 0, "vs list before");
    CHECK(n == 1 && !strcmp(vl[0].id, v.id));
    free(vl);
    /* cascades: the file out of both stores; the store with its chunks; the user */
    CHECK(store_file_delete(st, a.id, fa.id, &e) == 0);
    CHECK_EQ_INT(store_vsfile_get(st, a.id, v.id, fa.id, &f, &e), STORE_NOTFOUND);
    REQUIRE(store_chunks_load(st, a.id, ids, 2, &out, &n, &e) == 0, "load");
    CHECK_EQ_INT(n, 0);
    store_chunks_free(out, n);
    CHECK(store_vs_delete(st, a.id, v2.id, &e) == 0);
    CHECK_EQ_INT(store_vsfile_get(st, a.id, v2.id, fc.id, &f, &e), STORE_NOTFOUND);
    CHECK(store_user_delete(st, a.id, &e) == 0);
    CHECK_EQ_INT(store_vs_get(st, a.id, v.id, &got, &e), STORE_NOTFOUND);
    CHECK_EQ_INT(store_file_get(st, a.id, fc.id, NULL, &e), STORE_NOTFOUND);
    CHECK(store_file_get(st, b.id, fb.id, NULL, &e) == 0);   /* b's untouched */
    store_close(st);
}

static void suite(void) {
    RUN(files_roundtrip);
    RUN(vector_stores_and_chunks);
}

int main(void) {
    TEST_EXPECT(5);
    return two_backends_run(suite);
}
