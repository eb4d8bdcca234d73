/* storage/ftjobs.h (fine-tuning jobs, their events and checkpoints), run on SQLite and on a
 * throw-away PostgreSQL (tests/pg_temp.sh, as test_storage does; PostgreSQL failing to
 * start is a failure, not a skip). Each case gets a fresh database. Checks: jobs
 * round-trip, pages newest first with after/limit, another user's job behaves as a missing
 * one, the worker's queue order, cancel only before the end, an ended job is never
 * rewritten, events and checkpoints in order, models found by id and suffix, and
 * everything goes with its user. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "storage/ftjobs.h"
#include "test.h"

#define TWO_BACKENDS_NAME "ftj"
#include "two_backends.h"

static int mk_user(struct store *st, const char *email, struct store_user *out) {
    struct store_user u;
    memset(&u, 0, sizeof u);
    snprintf(u.email, sizeof u.email, "%s", email);
    struct err e = {{0}};
    return store_user_create(st, &u, 0, out, &e);
}

static int mk_file(struct store *st, const char *user, struct store_file *out) {
    struct store_file f;
    memset(&f, 0, sizeof f);
    snprintf(f.user_id, sizeof f.user_id, "%s", user);
    snprintf(f.filename, sizeof f.filename, "t.jsonl");
    snprintf(f.purpose, sizeof f.purpose, "fine-tune");
    struct err e = {{0}};
    return store_file_create(st, &f, "{}\n", 3, out, &e);
}

static int mk_job(struct store *st, const char *user, const char *file, const char *suffix, struct store_ftjob *out) {
    static int64_t t = 1000;  /* distinct creation times: the queue and the pages are in that order */
    struct store_ftjob j;
    memset(&j, 0, sizeof j);
    snprintf(j.user_id, sizeof j.user_id, "%s", user);
    snprintf(j.model, sizeof j.model, "stories260K");
    snprintf(j.training_file, sizeof j.training_file, "%s", file);
    snprintf(j.method, sizeof j.method, "supervised");
    snprintf(j.status, sizeof j.status, "validating_files");
    snprintf(j.suffix, sizeof j.suffix, "%s", suffix);
    j.n_epochs = 3, j.batch_size = 4, j.seed = 7, j.lr_multiplier = 2.5, j.beta = 0.1;
    j.created = t += 1000;
    struct err e = {{0}};
    return store_ftjob_create(st, &j, out, &e);
}

TEST(jobs_round_trip) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct err e = {{0}};
    struct store_user a, b;
    struct store_file fa;
    REQUIRE(mk_user(st, "a@x.org", &a) == 0 && mk_user(st, "b@x.org", &b) == 0, "users");
    REQUIRE(mk_file(st, a.id, &fa) == 0, "file");
    struct store_ftjob j1, j2, j3, got;
    REQUIRE(mk_job(st, a.id, fa.id, "one", &j1) == 0, "job 1");
    REQUIRE(mk_job(st, a.id, fa.id, "two", &j2) == 0, "job 2");
    REQUIRE(mk_job(st, a.id, fa.id, "two", &j3) == 0, "job 3");
    CHECK(!strncmp(j1.id, "ftjob-", 6));
    CHECK(store_ftjob_get(st, a.id, j1.id, &got, &e) == 0);
    CHECK(!strcmp(got.suffix, "one") && got.n_epochs == 3 && got.batch_size == 4 && got.seed == 7);
    CHECK(got.lr_multiplier == 2.5 && !strcmp(got.status, "validating_files") && got.created == j1.created);
    CHECK(store_ftjob_get(st, b.id, j1.id, &got, &e) == STORE_NOTFOUND);   /* another user's */
    CHECK(store_ftjob_get(st, NULL, j1.id, &got, &e) == 0);                /* the worker sees all */
    /* pages, newest first */
    struct store_ftjob *l = NULL;
    size_t n = 0;
    int more = 0;
    CHECK(store_ftjob_list(st, a.id, NULL, 2, &l, &n, &more, &e) == 0);
    CHECK(n == 2 && more == 1);
    char last[STORE_ID_MAX] = "";
    if (n == 2) snprintf(last, sizeof last, "%s", l[1].id);
    free(l);
    CHECK(store_ftjob_list(st, a.id, last, 2, &l, &n, &more, &e) == 0);
    CHECK(n == 1 && more == 0);
    free(l);
    CHECK(store_ftjob_list(st, b.id, NULL, 10, &l, &n, &more, &e) == 0 && n == 0);
    free(l);
    /* the worker's queue: oldest waiting first */
    CHECK(store_ftjob_next(st, &got, &e) == 0 && !strcmp(got.id, j1.id));
    snprintf(got.status, sizeof got.status, "running");
    CHECK(store_ftjob_update(st, &got, &e) == 0);
    struct store_ftjob *run = NULL;
    CHECK(store_ftjob_running(st, &run, &n, &e) == 0 && n == 1 && !strcmp(run[0].id, j1.id));
    free(run);
    CHECK(store_ftjob_next(st, &got, &e) == 0 && (!strcmp(got.id, j2.id) || !strcmp(got.id, j3.id)));
    /* success, then found by model id and by suffix (latest) */
    CHECK(store_ftjob_get(st, NULL, j1.id, &got, &e) == 0);
    snprintf(got.status, sizeof got.status, "succeeded");
    snprintf(got.fine_tuned_model, sizeof got.fine_tuned_model, "ft:stories260K:one:abc");
    got.finished = 5;
    CHECK(store_ftjob_update(st, &got, &e) == 0);
    snprintf(got.status, sizeof got.status, "failed");
    CHECK(store_ftjob_update(st, &got, &e) == STORE_CONFLICT);             /* ended: never rewritten */
    CHECK(store_ftjob_get(st, a.id, j1.id, &got, &e) == 0 && !strcmp(got.status, "succeeded"));
    CHECK(store_ftjob_find_model(st, a.id, "ft:stories260K:one:abc", 0, &got, &e) == 0 && !strcmp(got.id, j1.id));
    CHECK(store_ftjob_find_model(st, b.id, "ft:stories260K:one:abc", 0, &got, &e) == STORE_NOTFOUND);
    CHECK(store_ftjob_find_model(st, a.id, "one", 1, &got, &e) == 0 && !strcmp(got.id, j1.id));
    CHECK(store_ftjob_find_model(st, a.id, "two", 1, &got, &e) == STORE_NOTFOUND);  /* none succeeded */
    /* cancel: only the owner's, only before the end */
    CHECK(store_ftjob_cancel(st, b.id, j2.id, 9, &e) == STORE_NOTFOUND);
    CHECK(store_ftjob_cancel(st, a.id, j2.id, 9, &e) == 0);
    CHECK(store_ftjob_cancel(st, a.id, j2.id, 9, &e) == STORE_CONFLICT);
    CHECK(store_ftjob_cancel(st, a.id, j1.id, 9, &e) == STORE_CONFLICT);
    CHECK(store_ftjob_get(st, a.id, j2.id, &got, &e) == 0 && !strcmp(got.status, "cancelled") && got.finished == 9);
    CHECK(store_ftjob_next(st, &got, &e) == 0 && !strcmp(got.id, j3.id));
    /* a job needs its user */
    struct store_ftjob bad;
    CHECK(mk_job(st, "user_missing", fa.id, "", &bad) == STORE_NOTFOUND);
    /* deleting the user takes the jobs */
    CHECK(store_user_delete(st, a.id, &e) == 0);
    CHECK(store_ftjob_get(st, NULL, j1.id, &got, &e) == STORE_NOTFOUND);
    store_close(st);
}

TEST(events_and_checkpoints) {
    struct store *st = open_fresh();
    REQUIRE(st, "open");
    struct err e = {{0}};
    struct store_user a, b;
    struct store_file fa;
    REQUIRE(mk_user(st, "a@x.org", &a) == 0 && mk_user(st, "b@x.org", &b) == 0 && mk_file(st, a.id, &fa) == 0, "setup");
    struct store_ftjob j;
    REQUIRE(mk_job(st, a.id, fa.id, "", &j) == 0, "job");
    for (int i = 0; i < 5; i++) {
        char msg[32], data[64];
        snprintf(msg, sizeof msg, "step %d", i + 1);
        snprintf(data, sizeof data, "{\"step\":%d}", i + 1);
        CHECK(store_ftevent_add(st, j.id, "info", "metrics", msg, data, &e) == 0);
    }
    struct store_ftevent *ev = NULL;
    size_t n = 0;
    int more = 0;
    CHECK(store_ftevent_list(st, j.id, NULL, 3, &ev, &n, &more, &e) == 0);
    CHECK(n == 3 && more == 1);
    char after[STORE_ID_MAX] = "";
    if (n == 3) {
        CHECK(!strcmp(ev[0].message, "step 5") && !strcmp(ev[2].message, "step 3"));
        CHECK(!strcmp(ev[0].data, "{\"step\":5}") && !strcmp(ev[0].type, "metrics") && ev[0].seq == 5);
        snprintf(after, sizeof after, "%s", ev[2].id);
    }
    free(ev);
    CHECK(store_ftevent_list(st, j.id, after, 10, &ev, &n, &more, &e) == 0);
    CHECK(n == 2 && more == 0 && n == 2 && !strcmp(ev[1].message, "step 1"));
    free(ev);
    struct store_ftckpt k = {0};
    snprintf(k.job_id, sizeof k.job_id, "%s", j.id);
    for (int s = 10; s <= 30; s += 10) {
        k.step = s;
        k.train_loss = 1.0 / s;
        snprintf(k.model, sizeof k.model, "ft:m:x:1:ckpt-step-%d", s);
        snprintf(k.adapter_path, sizeof k.adapter_path, "/tmp/c%d.gguf", s);
        CHECK(store_ftckpt_add(st, &k, &e) == 0);
    }
    struct store_ftckpt *ck = NULL;
    CHECK(store_ftckpt_list(st, j.id, NULL, 2, &ck, &n, &more, &e) == 0 && n == 2 && more == 1);
    if (n == 2) CHECK(ck[0].step == 30 && ck[1].step == 20 && !strcmp(ck[1].adapter_path, "/tmp/c20.gguf"));
    free(ck);
    struct store_ftckpt got;
    struct store_ftjob gj;
    CHECK(store_ftckpt_find_model(st, a.id, "ft:m:x:1:ckpt-step-20", &got, &gj, &e) == 0 && got.step == 20 &&
          !strcmp(gj.id, j.id));
    CHECK(store_ftckpt_find_model(st, b.id, "ft:m:x:1:ckpt-step-20", &got, &gj, &e) == STORE_NOTFOUND);
    CHECK(store_user_delete(st, a.id, &e) == 0);
    CHECK(store_ftevent_list(st, j.id, NULL, 10, &ev, &n, &more, &e) == 0 && n == 0);
    free(ev);
    store_close(st);
}

static void suite(void) {
    RUN(jobs_round_trip);
    RUN(events_and_checkpoints);
}

int main(void) {
    TEST_EXPECT(2 * 2 + 1);
    return two_backends_run(suite);
}
