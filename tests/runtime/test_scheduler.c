/* The scheduler's prompt admission on stories260K: short prompts are not stuck behind
 * a long one, a long prompt is fed in chunks so decoding slots keep getting tokens,
 * every one of 8 concurrent requests gets its first token before any finishes, and a
 * slot's cached conversation survives a new one that shares only its system prompt,
 * and freeing a session's sequence ends the requests on it before it goes. */
#include <stdatomic.h>
#include <time.h>

#include "../test.h"
#include "runtime/model.h"
#include "runtime/scheduler.h"
#include "text/tokenizer.h"

static omni_model *g_model;
static atomic_int g_events;        /* orders first pieces and ends across requests */

struct job {
    struct sched_request req;
    int32_t prompt[512];
    int32_t eos;
    float ban;
    atomic_int n_pieces;
    atomic_int first_at;           /* g_events value at the first token, 0: none yet */
    atomic_int done_at;
    atomic_int other_at_first;     /* the watched job's token count when this one got its first */
    struct job *watch;
    omni_usage res;
};

static void on_piece(void *user, const omni_token_info *p) {
    struct job *j = user;
    if (p->token < 0) return;
    if (atomic_fetch_add(&j->n_pieces, 1) == 0) {
        atomic_store(&j->first_at, atomic_fetch_add(&g_events, 1) + 1);
        if (j->watch) atomic_store(&j->other_at_first, atomic_load(&j->watch->n_pieces));
    }
}

static void on_done(void *user, const omni_usage *r, const char *error) {
    struct job *j = user;
    (void)error;
    j->res = *r;
    atomic_store(&j->done_at, atomic_fetch_add(&g_events, 1) + 1);
}

/* A prompt of n arbitrary in-vocabulary tokens; EOS banned so lengths are exact. */
static void job_init(struct job *j, int n, int max_tokens, int salt) {
    memset(j, 0, sizeof *j);
    int nv = omni_model_n_vocab(g_model);
    for (int i = 0; i < n; i++) j->prompt[i] = 3 + (i * 31 + salt * 17) % (nv - 3);
    j->eos = tokenizer_eos(g_model->tok);
    j->ban = -100;
    j->req.prompt = j->prompt;
    j->req.n_prompt = n;
    j->req.max_tokens = max_tokens;
    j->req.sampling = omni_sampling_default_params();
    j->req.sampling.temperature = 0;
    j->req.sampling.top_p = 1;
    j->req.sampling.penalize_prompt = 0;
    if (j->eos >= 0) {
        j->req.sampling.bias_token = &j->eos;
        j->req.sampling.bias_value = &j->ban;
        j->req.sampling.n_bias = 1;
    }
    j->req.on_token = on_piece;
    j->req.on_done = on_done;
    j->req.user = j;
    atomic_init(&j->req.cancel, 0);
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits up to 30 s for the job to end; returns 1 when it did. */
static int wait_done(struct job *j) {
    for (int i = 0; i < 30000 && !atomic_load(&j->done_at); i++) sleep_ms(1);
    return atomic_load(&j->done_at) != 0;
}

static struct sched *make_sched(int n_slots, int n_batch, int n_chunk) {
    struct sched_params p = sched_default_params();
    p.n_slots = n_slots;
    p.n_ctx = 512;
    p.n_batch = n_batch;
    p.n_chunk = n_chunk;
    struct err e = {{0}};
    struct sched *s = sched_new(g_model, &p, &e);
    if (!s) fprintf(stderr, "  sched_new: %s\n", e.msg);
    return s;
}

TEST(short_prompt_not_stuck_behind_long_one) {
    /* 16 tokens a step: the long prompt needs ~30 steps, the short one fits in one. */
    struct sched *s = make_sched(2, 16, 16);
    CHECK(s != NULL);
    if (!s) return;
    static struct job a, b;
    job_init(&a, 480, 4, 1);
    job_init(&b, 6, 4, 2);
    struct err e = {{0}};
    CHECK_EQ_INT(sched_submit(s, &a.req, &e), SCHED_OK);
    CHECK_EQ_INT(sched_submit(s, &b.req, &e), SCHED_OK);
    CHECK(wait_done(&a) && wait_done(&b));
    CHECK_STR(a.res.finish_reason, "length");
    CHECK_STR(b.res.finish_reason, "length");
    /* Fed in slot order, the short prompt would wait for all 480 tokens of the long one. */
    CHECK_MSG(atomic_load(&b.first_at) < atomic_load(&a.first_at), "short prompt's first token (event %d) "
              "after the long one's (event %d)", atomic_load(&b.first_at), atomic_load(&a.first_at));
    CHECK_MSG(atomic_load(&b.done_at) < atomic_load(&a.first_at), "short request did not finish during the "
              "long prefill");
    sched_free(s);
}

TEST(long_prompt_fed_in_chunks_while_others_decode) {
    /* n_batch would take the whole prompt in one forward; n_chunk = 32 splits it. */
    struct sched *s = make_sched(2, 512, 32);
    CHECK(s != NULL);
    if (!s) return;
    static struct job c, d;
    job_init(&c, 8, 200, 3);
    job_init(&d, 480, 2, 4);
    d.watch = &c;
    struct err e = {{0}};
    CHECK_EQ_INT(sched_submit(s, &c.req, &e), SCHED_OK);
    for (int i = 0; i < 30000 && atomic_load(&c.n_pieces) < 2; i++) sleep_ms(1);
    int c0 = atomic_load(&c.n_pieces);
    CHECK_EQ_INT(sched_submit(s, &d.req, &e), SCHED_OK);
    CHECK(wait_done(&d) && wait_done(&c));
    int during = atomic_load(&d.other_at_first) - c0;
    /* 480 / 32 = 15 chunks, each with one token of the decoding request. */
    CHECK_MSG(during >= 13, "the decoding request got %d tokens during a 480-token prefill", during);
    CHECK_EQ_INT(c.res.completion_tokens, 200);
    CHECK_EQ_INT(d.res.completion_tokens, 2);
    sched_free(s);
}

TEST(eight_streams_all_start_before_any_ends) {
    struct sched *s = make_sched(8, 512, 256);
    CHECK(s != NULL);
    if (!s) return;
    static struct job j[8];
    struct err e = {{0}};
    for (int i = 0; i < 8; i++) {
        job_init(&j[i], 20 + 10 * i, 24, 10 + i);
        CHECK_EQ_INT(sched_submit(s, &j[i].req, &e), SCHED_OK);
    }
    int last_first = 0, first_done = 1 << 30;
    for (int i = 0; i < 8; i++) {
        CHECK(wait_done(&j[i]));
        CHECK_EQ_INT(j[i].res.completion_tokens, 24);
        CHECK(j[i].res.ttft_ms >= 0);
        if (atomic_load(&j[i].first_at) > last_first) last_first = atomic_load(&j[i].first_at);
        if (atomic_load(&j[i].done_at) < first_done) first_done = atomic_load(&j[i].done_at);
    }
    CHECK_MSG(last_first < first_done, "a request finished (event %d) before the last first token (event %d)",
              first_done, last_first);
    sched_free(s);
}

TEST(new_conversation_does_not_evict_one_sharing_only_a_system_prompt) {
    struct sched *s = make_sched(2, 512, 256);
    CHECK(s != NULL);
    if (!s) return;
    static struct job a, b, a2;
    struct err e = {{0}};
    /* a and b share a 20-token "system prompt", then differ. */
    job_init(&a, 200, 4, 5);
    job_init(&b, 60, 4, 6);
    memcpy(b.prompt, a.prompt, 20 * sizeof *a.prompt);
    CHECK_EQ_INT(sched_submit(s, &a.req, &e), SCHED_OK);
    CHECK(wait_done(&a));
    CHECK_EQ_INT(sched_submit(s, &b.req, &e), SCHED_OK);
    CHECK(wait_done(&b));
    /* a's follow-up turn: its whole first prompt is still cached in the slot b left alone. */
    job_init(&a2, 220, 4, 7);
    memcpy(a2.prompt, a.prompt, 200 * sizeof *a.prompt);
    CHECK_EQ_INT(sched_submit(s, &a2.req, &e), SCHED_OK);
    CHECK(wait_done(&a2));
    CHECK_MSG(a2.res.cached_tokens >= 200, "follow-up reused %d cached tokens, want >= 200", a2.res.cached_tokens);
    sched_free(s);
}

/* Freeing a session's sequence while a request is queued or running on it ends that
 * request first (on_done, "cancelled") and only then lets go of the sequence: the
 * request never runs on freed memory (which ASan and TSan would report). */
TEST(freeing_a_sequence_ends_its_requests_first) {
    struct sched *s = make_sched(1, 512, 256);
    CHECK(s != NULL);
    if (!s) return;
    struct err e = {{0}};
    struct sched_seq *q1 = sched_seq_new(s, 512, &e), *q2 = sched_seq_new(s, 512, &e);
    REQUIRE(q1 && q2, "sched_seq_new: %s", e.msg);
    static struct job run, queued, busy;
    /* max_tokens 0: until the context is full (EOS is banned), far more than it gets */
    job_init(&run, 8, 0, 20);
    run.req.seq = q1;
    CHECK_EQ_INT(sched_submit(s, &run.req, &e), SCHED_OK);
    for (int i = 0; i < 30000 && atomic_load(&run.n_pieces) < 2 && !atomic_load(&run.done_at); i++) sleep_ms(1);
    CHECK(atomic_load(&run.n_pieces) >= 2);
    /* a long prefill in the pooled slot keeps the engine inside a step, so the next
     * request usually is still in the queue when its sequence is freed */
    job_init(&busy, 480, 1, 21);
    CHECK_EQ_INT(sched_submit(s, &busy.req, &e), SCHED_OK);
    job_init(&queued, 8, 0, 22);
    queued.req.seq = q2;
    CHECK_EQ_INT(sched_submit(s, &queued.req, &e), SCHED_OK);
    sched_seq_free(s, q2);
    CHECK_MSG(atomic_load(&queued.done_at) != 0, "on_done of the queued request had not come when the free returned");
    sched_seq_free(s, q1);
    CHECK_MSG(atomic_load(&run.done_at) != 0, "on_done of the running request had not come when the free returned");
    /* cancelled, unless the whole context was generated before the free (a very slow free) */
    const int full = 400; /* of the ~500 that fit */
    CHECK_MSG(!strcmp(run.res.finish_reason, "cancelled") || run.res.completion_tokens >= full,
              "running request: %s after %d tokens", run.res.finish_reason, run.res.completion_tokens);
    CHECK_MSG(!strcmp(queued.res.finish_reason, "cancelled") || queued.res.completion_tokens >= full,
              "queued request: %s after %d tokens", queued.res.finish_reason, queued.res.completion_tokens);
    CHECK(wait_done(&busy));
    CHECK_STR(busy.res.finish_reason, "length");
    sched_free(s);
}

int main(void) {
    TEST_EXPECT(5);
    char err[512];
    omni_model_params mp = omni_model_default_params();
    mp.n_threads = 2;
    g_model = omni_model_load(model_path("llm/stories260K.gguf"), &mp, err, sizeof err);
    if (!g_model) {
        fprintf(stderr, "cannot load stories260K: %s\n", err);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    RUN(short_prompt_not_stuck_behind_long_one);
    RUN(long_prompt_fed_in_chunks_while_others_decode);
    RUN(eight_streams_all_start_before_any_ends);
    RUN(new_conversation_does_not_evict_one_sharing_only_a_system_prompt);
    RUN(freeing_a_sequence_ends_its_requests_first);
    omni_model_free(g_model);
    return test_summary();
}
