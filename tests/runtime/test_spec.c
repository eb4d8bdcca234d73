/* Speculative decoding in the engine, on the shared real TinyStories-656K model: greedy
 * (and seeded sampled) output with prompt lookup, with a draft model (the Q8_0 file of
 * the same model) and with the model as its own draft is token for token what the
 * model alone gives, for single requests, several at once in the pooled slots, and a
 * session whose context fills up; logprobs are the model's own and a JSON-schema reply
 * (SmolLM2's vocabulary, random weights) is unchanged; guesses are reported and, with
 * the model as its own draft, nearly all kept; a draft with another vocabulary is
 * refused. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>

#include "../test.h"
#include "omni.h"

#define MAXGEN 256

static omni_model *g_base, *g_look, *g_drf, *g_self, *g_q8, *g_f16b;

struct run {
    int32_t tok[MAXGEN];
    float lp[MAXGEN];
    atomic_int n;
    omni_usage u;
    int done;
    char error[256];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    omni_prompt prompt;
    int32_t eos;
    float ban;
    omni_request *req;
};

static void on_token(const omni_token_info *t, void *user) {
    struct run *r = user;
    int n = atomic_load(&r->n);
    if (t->token >= 0 && n < MAXGEN) r->tok[n] = t->token, r->lp[n] = t->logprob, atomic_store(&r->n, n + 1);
}

static void on_done(const omni_usage *u, const char *error, void *user) {
    struct run *r = user;
    pthread_mutex_lock(&r->mu);
    r->u = *u;
    if (error) snprintf(r->error, sizeof r->error, "%s", error);
    r->done = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Submits text to m's pooled slots (or session s) and returns at once. */
enum { BAN_EOS = 1, LOGPROBS = 2, JSON = 4 };
static omni_model *load_with(const char *rel, int lookup, omni_model *draft, int *ok);

static int start(struct run *r, omni_model *m, omni_session *s, const char *text, int max_tokens, float temp,
                 int flags) {
    const int ban_eos = flags & BAN_EOS;
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    char err[256];
    if (omni_prompt_build(m, text, NULL, 0, 1, 0, &r->prompt, err, sizeof err)) {
        fprintf(stderr, "prompt: %s\n", err);
        return -1;
    }
    omni_generate_params gp = omni_generate_default_params();
    gp.max_tokens = max_tokens;
    gp.sampling.temperature = temp;
    gp.sampling.seed = 1234;
    /* TinyStories ends a story with <|end_story|> (2): banned, every run is long */
    r->eos = 2;
    r->ban = -100;
    if (ban_eos) {
        gp.sampling.bias_token = &r->eos;
        gp.sampling.bias_value = &r->ban;
        gp.sampling.n_bias = 1;
    }
    gp.logprobs = (flags & LOGPROBS) != 0;
    gp.json_object = (flags & JSON) != 0;
    /* long enough to guess in: an object with a list of at least 24 numbers */
    if (flags & JSON)
        gp.json_schema = "{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"array\", \"items\": "
                         "{\"type\": \"integer\"}, \"minItems\": 24}}, \"required\": [\"a\"]}";
    gp.on_token = on_token;
    gp.on_done = on_done;
    gp.user = r;
    int status = 0;
    r->req = omni_submit(m, s, &r->prompt, &gp, &status, err, sizeof err);
    if (!r->req) { fprintf(stderr, "submit: %s\n", err); omni_prompt_free(&r->prompt); return -1; }
    return 0;
}

static void finish(struct run *r) {
    pthread_mutex_lock(&r->mu);
    while (!r->done) pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    omni_request_free(r->req);
    omni_prompt_free(&r->prompt);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
}

static int gen_flags(struct run *r, omni_model *m, const char *text, int max_tokens, float temp, int flags) {
    if (start(r, m, NULL, text, max_tokens, temp, flags)) return -1;
    finish(r);
    return r->error[0] ? -1 : 0;
}

static int gen(struct run *r, omni_model *m, const char *text, int max_tokens, float temp) {
    if (start(r, m, NULL, text, max_tokens, temp, BAN_EOS)) return -1;
    finish(r);
    return r->error[0] ? -1 : 0;
}

static int same(const struct run *a, const struct run *b) {
    int na = atomic_load(&a->n), nb = atomic_load(&b->n);
    if (na != nb) { fprintf(stderr, "  lengths differ: %d vs %d\n", na, nb); return 0; }
    for (int i = 0; i < na; i++)
        if (a->tok[i] != b->tok[i]) { fprintf(stderr, "  token %d differs: %d vs %d\n", i, a->tok[i], b->tok[i]); return 0; }
    return 1;
}

/* Prompts with something to look up: a story, then its start again. */
static const char *const prompts[] = {
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her dog. "
    "One day, Lily saw a big red ball under a tree. She ran to the ball and picked it up. Her dog barked and wagged "
    "his tail. Lily threw the ball and the dog ran after it. They played all day until the sun went down.\n"
    "Once upon a time, there was a little girl named Lily. She loved to play",
    "Tom had a small boat. He liked to sail the boat on the lake. One day the wind was strong and the boat went far "
    "away. Tom was sad. His mom said, \"Do not worry, we will find your boat.\" They walked around the lake and found "
    "the boat near a big rock. Tom was happy.\nTom had a small boat. He liked to",
    "The cat sat on the mat. The cat was happy. The dog sat on the mat. The dog was happy.",
    "Ben and Sue went to the shop to buy some milk.",
};
enum { N_PROMPTS = 4 };

static int counts_lengths[] = {96, 5, 64, 33};

TEST(lookup_greedy_exact) {
    int drafted = 0, accepted = 0;
    for (int k = 0; k < N_PROMPTS; k++) {
        struct run a, b;
        REQUIRE(gen(&a, g_base, prompts[k], counts_lengths[k], 0) == 0, "base %d: %s", k, a.error);
        REQUIRE(gen(&b, g_look, prompts[k], counts_lengths[k], 0) == 0, "lookup %d: %s", k, b.error);
        CHECK_MSG(same(&a, &b), "prompt %d: prompt lookup changed the greedy output", k);
        CHECK_EQ_INT(a.u.draft_tokens, 0);
        CHECK(b.u.draft_accepted <= b.u.draft_tokens);
        CHECK_EQ_INT(b.u.completion_tokens, a.u.completion_tokens);
        drafted += b.u.draft_tokens;
        accepted += b.u.draft_accepted;
    }
    printf("  prompt lookup: %d of %d guesses accepted (%.0f%%)\n", accepted, drafted,
           drafted ? 100.0 * accepted / drafted : 0.0);
    CHECK(drafted > 0);
    CHECK(accepted > 0);
}

TEST(draft_model_greedy_exact) {
    int drafted = 0, accepted = 0;
    for (int k = 0; k < N_PROMPTS; k++) {
        struct run a, b;
        REQUIRE(gen(&a, g_base, prompts[k], counts_lengths[k], 0) == 0, "base %d: %s", k, a.error);
        REQUIRE(gen(&b, g_drf, prompts[k], counts_lengths[k], 0) == 0, "draft %d: %s", k, b.error);
        CHECK_MSG(same(&a, &b), "prompt %d: the Q8_0 draft changed the greedy output", k);
        drafted += b.u.draft_tokens;
        accepted += b.u.draft_accepted;
    }
    printf("  Q8_0 draft model: %d of %d guesses accepted (%.0f%%)\n", accepted, drafted,
           drafted ? 100.0 * accepted / drafted : 0.0);
    CHECK(drafted > 0);
    CHECK(accepted > 0);
}

TEST(self_draft_accepts_nearly_all) {
    int drafted = 0, accepted = 0;
    for (int k = 0; k < N_PROMPTS; k++) {
        struct run a, b;
        REQUIRE(gen(&a, g_base, prompts[k], counts_lengths[k], 0) == 0, "base %d: %s", k, a.error);
        REQUIRE(gen(&b, g_self, prompts[k], counts_lengths[k], 0) == 0, "self %d: %s", k, b.error);
        CHECK_MSG(same(&a, &b), "prompt %d: the model as its own draft changed the greedy output", k);
        drafted += b.u.draft_tokens;
        accepted += b.u.draft_accepted;
    }
    printf("  the model as its own draft: %d of %d accepted (%.1f%%)\n", accepted, drafted,
           drafted ? 100.0 * accepted / drafted : 0.0);
    /* the same weights guess what they will choose; only float rounding between a
     * one-token and a batched forward can tip a near tie */
    CHECK(drafted > 0);
    CHECK_MSG(accepted >= drafted * 0.95, "%d of %d", accepted, drafted);
}

/* All prompts at once into the 4 pooled slots: each reply is its solo reply. */
static void concurrent(omni_model *m, const char *what) {
    struct run solo[N_PROMPTS], *together = calloc(N_PROMPTS, sizeof *together);
    REQUIRE(together, "out of memory");
    for (int k = 0; k < N_PROMPTS; k++)
        if (gen(&solo[k], g_base, prompts[k], 80, 0)) { free(together); REQUIRE(0, "base %d", k); }
    int ok = 1;
    for (int k = 0; k < N_PROMPTS; k++) ok &= start(&together[k], m, NULL, prompts[k], 80, 0, 1) == 0;
    for (int k = 0; k < N_PROMPTS; k++) finish(&together[k]);
    CHECK(ok);
    for (int k = 0; ok && k < N_PROMPTS; k++) {
        CHECK_MSG(!together[k].error[0], "%s %d: %s", what, k, together[k].error);
        CHECK_MSG(same(&solo[k], &together[k]), "%s: prompt %d run alongside others differs", what, k);
    }
    free(together);
}

TEST(concurrent_slots_exact_lookup) { concurrent(g_look, "lookup"); }
TEST(concurrent_slots_exact_draft) { concurrent(g_drf, "draft"); }

/* Sampling: a guess is kept only when the model's own sample (same random stream) is
 * that token, so a seeded run gives the same text. */
TEST(sampled_seed_exact) {
    for (int k = 0; k < 2; k++) {
        struct run a, b, c;
        REQUIRE(gen(&a, g_base, prompts[k], 64, 0.8f) == 0, "base");
        REQUIRE(gen(&b, g_look, prompts[k], 64, 0.8f) == 0, "lookup");
        REQUIRE(gen(&c, g_self, prompts[k], 64, 0.8f) == 0, "draft");
        CHECK_MSG(same(&a, &b), "prompt %d: lookup changed the seeded sample", k);
        CHECK_MSG(same(&a, &c), "prompt %d: the draft changed the seeded sample", k);
        CHECK(c.u.draft_tokens > 0);
    }
}

/* A session with a small context: generation runs until it is full, guesses never
 * pass its end, and a follow-up turn reuses the cache as without speculation. */
TEST(session_context_end_exact) {
    omni_session_params sp = omni_session_default_params();
    sp.n_ctx = 72;
    char err[256];
    omni_session *sa = omni_session_new(g_base, &sp, err, sizeof err), *sb = omni_session_new(g_drf, &sp, err, sizeof err);
    REQUIRE(sa && sb, "session: %s", err);
    const char *turns[] = {prompts[2], "The cat sat on the mat. The cat was happy. The dog"};
    for (int t = 0; t < 2; t++) {
        struct run a, b;
        int ok = start(&a, g_base, sa, turns[t], 0, 0, 1) == 0;
        if (ok) finish(&a);
        ok &= start(&b, g_drf, sb, turns[t], 0, 0, 1) == 0;
        if (ok) finish(&b);
        CHECK(ok);
        if (!ok) break;
        CHECK_STR(a.u.finish_reason, "length");
        CHECK_MSG(same(&a, &b), "turn %d differs", t);
        CHECK_EQ_INT(a.u.cached_tokens, b.u.cached_tokens);
        CHECK(a.u.prompt_tokens + a.u.completion_tokens <= sp.n_ctx);
    }
    omni_session_free(sa);
    omni_session_free(sb);
}

/* Each kept row's logits are the model's for that position: the same logprobs; and a
 * JSON-constrained reply (the grammar advances token by token) is the same too. */
TEST(logprobs_and_json_exact) {
    struct run a, b, c;
    REQUIRE(gen_flags(&a, g_base, prompts[0], 40, 0, BAN_EOS | LOGPROBS) == 0, "base: %s", a.error);
    REQUIRE(gen_flags(&b, g_drf, prompts[0], 40, 0, BAN_EOS | LOGPROBS) == 0, "draft: %s", b.error);
    REQUIRE(gen_flags(&c, g_look, prompts[0], 40, 0, BAN_EOS | LOGPROBS) == 0, "lookup: %s", c.error);
    CHECK(same(&a, &b));
    CHECK(same(&a, &c));
    int n = atomic_load(&a.n);
    double worst = 0;
    for (int i = 0; i < n && i < atomic_load(&b.n) && i < atomic_load(&c.n); i++) {
        double d1 = fabs(a.lp[i] - b.lp[i]), d2 = fabs(a.lp[i] - c.lp[i]);
        if (d1 > worst) worst = d1;
        if (d2 > worst) worst = d2;
    }
    /* a batched forward may round differently from a one-token one, by little */
    CHECK_MSG(worst < 1e-3, "logprobs differ by %g", worst);
    CHECK(b.u.draft_accepted > 0);
    /* JSON needs braces and quotes in the vocabulary: SmolLM2's (random weights) */
    char err[512];
    omni_model *sm[3] = {0}, *sd = omni_model_load(model_path("synth/synth-smollm2-f16.gguf"), NULL, err, sizeof err);
    REQUIRE(sd, "load: %s", err);
    struct run j[3];
    for (int k = 0; k < 3; k++) {
        int ok = 1;
        sm[k] = load_with("synth/synth-smollm2-f16.gguf", k == 1, k == 2 ? sd : NULL, &ok);
        if (!ok || gen_flags(&j[k], sm[k], "Reply in JSON: {\"a\": [1, 2, 1, 2, 1, 2", 96, 0, JSON)) {
            for (int i = 0; i <= k; i++) omni_model_free(sm[i]);
            omni_model_free(sd);
            REQUIRE(0, "JSON run %d: %s", k, j[k].error);
        }
    }
    CHECK_MSG(same(&j[0], &j[1]), "JSON mode with lookup");
    CHECK_MSG(same(&j[0], &j[2]), "JSON mode with the model as its own draft");
    CHECK(atomic_load(&j[0].n) > 0);
    CHECK(j[2].u.draft_tokens > 0);
    printf("  JSON mode: %d tokens; lookup kept %d of %d guesses, the draft %d of %d\n", atomic_load(&j[0].n),
           j[1].u.draft_accepted, j[1].u.draft_tokens, j[2].u.draft_accepted, j[2].u.draft_tokens);
    for (int k = 0; k < 3; k++) omni_model_free(sm[k]);
    omni_model_free(sd);
}

/* A recurrent model (Qwen3.5's delta-net) cannot step back: speculation stays off and
 * the output is the plain one. */
TEST(recurrent_model_speculation_off) {
    int ok = 1;
    omni_model *a = load_with("synth/synth-qwen35-f16.gguf", 0, NULL, &ok);
    omni_model *b = load_with("synth/synth-qwen35-f16.gguf", 1, NULL, &ok);
    if (!ok) { omni_model_free(a); omni_model_free(b); REQUIRE(0, "qwen35 does not load"); }
    omni_engine_stats st;
    omni_model_engine_stats(b, &st);
    CHECK_EQ_INT(st.speculative, 0);
    struct run x, y;
    const char *p = "one two one two one two one two";
    CHECK(gen(&x, a, p, 24, 0) == 0);
    CHECK(gen(&y, b, p, 24, 0) == 0);
    CHECK(same(&x, &y));
    CHECK_EQ_INT(y.u.draft_tokens, 0);
    omni_model_free(a);
    omni_model_free(b);
    /* a speculating engine says so */
    omni_model_engine_stats(g_look, &st);
    CHECK_EQ_INT(st.speculative, 1);
    CHECK(st.draft_tokens > 0 && st.draft_accepted <= st.draft_tokens);
}

TEST(other_vocabulary_refused) {
    char err[512];
    omni_model *t = omni_model_load(model_path("llm/TinyStories-656K.f16.gguf"), NULL, err, sizeof err);
    omni_model *d = omni_model_load(model_path("llm/stories260K.gguf"), NULL, err, sizeof err);
    REQUIRE(t && d, "load: %s", err);
    omni_engine_params ep = omni_engine_default_params();
    ep.draft = d;
    err[0] = 0;
    CHECK(omni_model_start_engine(t, &ep, err, sizeof err) != 0);
    CHECK_MSG(strstr(err, "vocabulary") != NULL, "message: %s", err);
    printf("  refused: %s\n", err);
    /* the engine did not start: a plain one starts afterwards */
    CHECK(omni_model_start_engine(t, NULL, err, sizeof err) == 0);
    omni_model_free(t);
    omni_model_free(d);
}

static omni_model *load_with(const char *rel, int lookup, omni_model *draft, int *ok) {
    char err[512];
    omni_model *m = omni_model_load(model_path(rel), NULL, err, sizeof err);
    if (!m) { fprintf(stderr, "load %s: %s\n", rel, err); *ok = 0; return NULL; }
    omni_engine_params ep = omni_engine_default_params();
    ep.lookup = lookup;
    ep.draft = draft;
    ep.draft_max = 8;
    if (omni_model_start_engine(m, &ep, err, sizeof err)) { fprintf(stderr, "engine: %s\n", err); *ok = 0; }
    return m;
}

int main(void) {
    TEST_EXPECT(10);
    int ok = 1;
    char err[512];
    g_q8 = omni_model_load(model_path("llm/tinystories-656k-q8_0.gguf"), NULL, err, sizeof err);
    g_f16b = omni_model_load(model_path("llm/TinyStories-656K.f16.gguf"), NULL, err, sizeof err);
    if (!g_q8 || !g_f16b) {
        printf("FAIL: the shared TinyStories-656K files do not load: %s\n", err);
        return 1;
    }
    g_base = load_with("llm/TinyStories-656K.f16.gguf", 0, NULL, &ok);
    g_look = load_with("llm/TinyStories-656K.f16.gguf", 1, NULL, &ok);
    g_drf = load_with("llm/TinyStories-656K.f16.gguf", 0, g_q8, &ok);
    g_self = load_with("llm/TinyStories-656K.f16.gguf", 0, g_f16b, &ok);
    if (!ok) { printf("0 passed, 1 failed\n"); return 1; }
    RUN(lookup_greedy_exact);
    RUN(draft_model_greedy_exact);
    RUN(self_draft_accepts_nearly_all);
    RUN(concurrent_slots_exact_lookup);
    RUN(concurrent_slots_exact_draft);
    RUN(sampled_seed_exact);
    RUN(session_context_end_exact);
    RUN(logprobs_and_json_exact);
    RUN(recurrent_model_speculation_off);
    RUN(other_vocabulary_refused);
    omni_model_free(g_base);
    omni_model_free(g_look);
    omni_model_free(g_drf);
    omni_model_free(g_self);
    omni_model_free(g_q8);
    omni_model_free(g_f16b);
    return test_summary();
}
