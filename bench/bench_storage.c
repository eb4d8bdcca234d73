/* Storage cost (src/storage): what storing a chat turn adds to a completion, and list/search
 * over a user with many conversations, on SQLite (the default, synchronous=NORMAL, and with
 * ?synchronous=full) and on a throw-away PostgreSQL (tests/pg_temp.sh, fsync on).
 *
 *   turn   = store_msg_add (the question, stored before generation) + store_msg_add_usage
 *            (the answer and its usage, one transaction), in a conversation that grows
 *            turn by turn (BENCH_STORAGE_TURNS, default 200): two commits, so with fsync
 *            on (synchronous=full, PostgreSQL) it costs two of the disk's fsyncs
 *   list   = store_conv_list, the 50 newest, and a page at offset 5000
 *   search = store_search over the user's BENCH_STORAGE_CONVS (default 10,000)
 *            conversations of one question and one answer each, in Korean and English:
 *            a 3-character Korean term (trigram index), a 2-character one (LIKE), an
 *            English word
 *
 * Times are wall-clock means (ms) on whatever machine runs it; p50 next to the turn's mean
 * because a busy machine makes means noisy. Run from the project root (it calls
 * tests/pg_temp.sh; BENCH_STORAGE_PG_URL=postgres://… measures an existing server instead);
 * without PostgreSQL its row says why. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_clock.h"
#include "storage/storage.h"

static const char *env(const char *k, const char *def) {
    const char *v = getenv(k);
    return v && *v ? v : def;
}

static const char *const words[] = {"오늘", "내일", "프로젝트", "일정", "정리", "보고서", "고객", "질문", "답변",
                                    "요약", "번역", "코드", "검토", "계획", "아이디어", "문서", "the", "plan",
                                    "meeting", "notes", "draft", "review", "budget", "summary"};
#define NW (sizeof words / sizeof *words)

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static unsigned rnd(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (unsigned)(rng >> 33);
}

static void sentence(char *buf, size_t cap, int n, const char *extra) {
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < n; i++) {
        int k = snprintf(buf + len, cap - len, "%s%s", i ? " " : "", words[rnd() % NW]);
        if (k < 0 || (size_t)k >= cap - len) break;
        len += (size_t)k;
    }
    if (extra) snprintf(buf + len, cap - len, " %s", extra);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct fill {
    struct store *st;
    const char *uid;
    int from, to;
    int rc;
};

/* conversations [from, to): title, a question, an answer; every 100th mentions 회의록,
 * every 50th 매출, every 20th "report" */
static void *fill_run(void *arg) {
    struct fill *f = arg;
    uint64_t seed = 0x1234567ull * (uint64_t)(f->from + 1);
    for (int i = f->from; i < f->to && !f->rc; i++) {
        struct err e = {{0}};
        struct store_conv c = {0};
        snprintf(c.user_id, sizeof c.user_id, "%s", f->uid);
        snprintf(c.title, sizeof c.title, "대화 %d", i);
        c.created = c.updated = 1700000000000 + i;
        if ((f->rc = store_conv_create(f->st, &c, &c, &e))) { fprintf(stderr, "fill: %s\n", e.msg); break; }
        char q[512], a[1024];
        seed = seed * 6364136223846793005ull + 1;
        const char *mark = i % 100 == 0 ? "회의록" : i % 50 == 0 ? "매출" : i % 20 == 0 ? "report" : NULL;
        sentence(q, sizeof q, 12, mark);
        sentence(a, sizeof a, 40, NULL);
        struct store_msg m = {0};
        snprintf(m.conv_id, sizeof m.conv_id, "%s", c.id);
        strcpy(m.role, "user");
        m.content = q;
        char qid[STORE_ID_MAX];
        if ((f->rc = store_msg_add(f->st, f->uid, &m, 0, qid, &e))) { fprintf(stderr, "fill: %s\n", e.msg); break; }
        snprintf(m.parent_id, sizeof m.parent_id, "%s", qid);
        strcpy(m.role, "assistant");
        m.content = a;
        if ((f->rc = store_msg_add(f->st, f->uid, &m, 0, NULL, &e))) { fprintf(stderr, "fill: %s\n", e.msg); break; }
    }
    return NULL;
}

static double g_cpu_ms; /* the last search's CPU time per call in this process */
static double search_ms(struct store *st, const char *uid, const char *q, size_t *hits) {
    const int runs = 10;
    double t0 = bench_wall_s(), c0 = bench_thread_cpu_s();
    for (int r = 0; r < runs; r++) {
        struct store_hits h;
        struct err e = {{0}};
        if (store_search(st, uid, q, -1, 50, &h, &e)) { fprintf(stderr, "search: %s\n", e.msg); return -1; }
        *hits = h.n;
        store_hits_free(&h);
    }
    g_cpu_ms = (bench_thread_cpu_s() - c0) * 1000 / runs;
    return (bench_wall_s() - t0) * 1000 / runs;
}

static double list_ms(struct store *st, const char *uid, int64_t offset) {
    const int runs = 20;
    double t0 = bench_wall_s();
    for (int r = 0; r < runs; r++) {
        struct store_conv_query q = {.archived = 0, .pinned = -1, .offset = offset, .limit = 50};
        struct store_conv_list l;
        struct err e = {{0}};
        if (store_conv_list(st, uid, &q, &l, &e)) { fprintf(stderr, "list: %s\n", e.msg); return -1; }
        store_conv_list_free(&l);
    }
    return (bench_wall_s() - t0) * 1000 / runs;
}

/* nconv 0: the turn only (list and search do not depend on the commit mode) */
static void bench_one(const char *label, const char *url, int turns, int nconv) {
    struct err e = {{0}};
    struct store *st = NULL;
    if (store_open(url, &st, &e)) {
        printf("| %s | (cannot open: %s) |\n", label, e.msg);
        return;
    }
    struct store_user u = {0};
    snprintf(u.email, sizeof u.email, "bench-%u@x.org", rnd());
    struct store_conv c = {0};
    if (store_user_create(st, &u, 0, &u, &e) || (snprintf(c.user_id, sizeof c.user_id, "%s", u.id),
                                                 store_conv_create(st, &c, &c, &e))) {
        printf("| %s | (setup failed: %s) |\n", label, e.msg);
        store_close(st);
        return;
    }
    double *t = malloc(sizeof *t * (size_t)turns), sum = 0;
    char parent[STORE_ID_MAX] = "";
    for (int i = 0; t && i < turns; i++) {
        char q[512], a[2048];
        sentence(q, sizeof q, 15, NULL);
        sentence(a, sizeof a, 120, NULL);
        double t0 = bench_wall_s();
        struct store_msg m = {0};
        snprintf(m.conv_id, sizeof m.conv_id, "%s", c.id);
        snprintf(m.parent_id, sizeof m.parent_id, "%s", parent);
        strcpy(m.role, "user");
        m.content = q;
        char qid[STORE_ID_MAX];
        int rc = store_msg_add(st, u.id, &m, 0, qid, &e);
        snprintf(m.parent_id, sizeof m.parent_id, "%s", qid);
        strcpy(m.role, "assistant");
        m.content = a;
        m.prompt_tokens = 200 + i;
        m.completion_tokens = 180;
        struct store_usage us = {0};
        snprintf(us.user_id, sizeof us.user_id, "%s", u.id);
        strcpy(us.model, "qwen3-0.6b");
        us.prompt_tokens = 200 + i;
        us.completion_tokens = 180;
        us.requests = 1;
        if (!rc) rc = store_msg_add_usage(st, u.id, &m, 0, &us, parent, &e);
        t[i] = (bench_wall_s() - t0) * 1000;
        sum += t[i];
        if (rc) {
            printf("| %s | (turn failed: %s) |\n", label, e.msg);
            free(t);
            store_close(st);
            return;
        }
    }
    qsort(t, (size_t)turns, sizeof *t, cmp_d);
    double mean = sum / turns, p50 = t[turns / 2];
    free(t);

    if (!nconv) {
        printf("| %s | %.2f | %.2f | (as above) | | | | | |\n", label, mean, p50);
        store_close(st);
        return;
    }
    /* a second user with nconv conversations, filled from 4 threads */
    struct store_user big = {0};
    snprintf(big.email, sizeof big.email, "big-%u@x.org", rnd());
    if (store_user_create(st, &big, 0, &big, &e)) {
        printf("| %s | %.2f | %.2f | (setup failed: %s) |\n", label, mean, p50, e.msg);
        store_close(st);
        return;
    }
    double tf = bench_wall_s();
    pthread_t th[4];
    struct fill f[4];
    for (int i = 0; i < 4; i++) {
        f[i] = (struct fill){.st = st, .uid = big.id, .from = nconv * i / 4, .to = nconv * (i + 1) / 4};
        pthread_create(&th[i], NULL, fill_run, &f[i]);
    }
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        bad |= f[i].rc;
    }
    tf = bench_wall_s() - tf;
    if (bad) {
        printf("| %s | %.2f | %.2f | (filling failed) |\n", label, mean, p50);
        store_close(st);
        return;
    }
    double l0 = list_ms(st, big.id, 0), l1 = list_ms(st, big.id, nconv / 2);
    size_t h1 = 0, h2 = 0, h3 = 0;
    double s1 = search_ms(st, big.id, "회의록", &h1), c1 = g_cpu_ms;
    double s2 = search_ms(st, big.id, "매출", &h2), c2 = g_cpu_ms;
    double s3 = search_ms(st, big.id, "report", &h3), c3 = g_cpu_ms;
    printf("| %s | %.2f | %.2f | %.2f | %.2f | %.1f / %.1f (%zu) | %.1f / %.1f (%zu) | %.1f / %.1f (%zu) | %.0f |\n", label,
           mean, p50, l0, l1, s1, c1, h1, s2, c2, h2, s3, c3, h3, nconv * 3 / tf);
    store_close(st);
}

int main(void) {
    int turns = atoi(env("BENCH_STORAGE_TURNS", "200")), nconv = atoi(env("BENCH_STORAGE_CONVS", "10000"));
    if (turns < 1) turns = 1;
    if (nconv < 100) nconv = 100;
    /* BENCH_STORAGE_ONLY=sqlite|postgres runs one back end; BENCH_STORAGE_KEEP=1 keeps the folder */
    const char *only = env("BENCH_STORAGE_ONLY", "");
    char tmp[] = "/tmp/omni-bench-storage-XXXXXX";
    if (!mkdtemp(tmp)) { perror("mkdtemp"); return 1; }
    printf("## Storage: ms per chat turn stored (question + answer + usage), list and search over %d conversations\n\n",
           nconv);
    printf("| backend | turn ms (mean) | turn ms (p50) | list newest 50 ms | list at %d ms | search \"회의록\" ms wall / CPU (hits) |"
           " search \"매출\" | search \"report\" | fill writes/s |\n", nconv / 2);
    printf("|---|---|---|---|---|---|---|---|---|\n");
    fflush(stdout);
    char url[512], cmd[600];
    if (!*only || !strcmp(only, "sqlite")) {
        snprintf(url, sizeof url, "sqlite:%s/normal.db", tmp);
        bench_one("sqlite", url, turns, nconv);
        snprintf(url, sizeof url, "sqlite:%s/full.db?synchronous=full", tmp);
        bench_one("sqlite, synchronous=full", url, turns, 0);
        fflush(stdout);
    }
    if ((!*only || !strcmp(only, "postgres")) && *env("BENCH_STORAGE_PG_URL", "")) {
        /* a server of the caller's (a real deployment's disk and settings) */
        bench_one("postgres (BENCH_STORAGE_PG_URL)", env("BENCH_STORAGE_PG_URL", ""), turns, nconv);
    } else if (!*only || !strcmp(only, "postgres")) {
        char pg[512] = "";
        snprintf(cmd, sizeof cmd, "PG_TEMP_FSYNC=on sh tests/pg_temp.sh start %s/pg", tmp);
        FILE *p = popen(cmd, "r");
        size_t n = p ? fread(pg, 1, sizeof pg - 1, p) : 0;
        pg[n] = 0;
        pg[strcspn(pg, "\n")] = 0;
        int rc = p ? pclose(p) : -1;
        if (rc == 0 && !strncmp(pg, "postgresql://", 13)) bench_one("postgres (loopback TCP, fsync on)", pg, turns, nconv);
        else printf("| postgres | (tests/pg_temp.sh could not start a server: install postgresql) |\n");
        snprintf(cmd, sizeof cmd, "sh tests/pg_temp.sh stop %s/pg", tmp);
        if (system(cmd)) {}
    }
    printf("\nsearch CPU: this thread's CPU time per search (all of SQLite's work; for PostgreSQL only the client's, the\n"
           "server's is in its own process). fill writes/s: a conversation + 2 messages each, 4 threads, one handle.\n");
    if (!*env("BENCH_STORAGE_KEEP", "")) {
        snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
        if (system(cmd)) {}
    } else {
        printf("(kept %s)\n", tmp);
    }
    return 0;
}
