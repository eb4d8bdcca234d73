/* The guard prompt's cached beginning (src/moderation/guard_cache.c): a check on a cache
 * session prefills only what follows the template's fixed beginning, and gives the very
 * label log-probabilities, score, verdict and answer of a check computed from nothing (a
 * freshly loaded model, whose slots hold nothing), bit for bit; prompt and response
 * checks, two texts in turn, ShieldGemma's policies one after the other. The files are
 * the guard-shaped random-weight ones of the goldens (test_guard_golden.c), written here. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "omni.h"
#include "models/synth.h"
#include "moderation/guard_cache.h"
#include "moderation/guard_run.h"

static const struct {
    const char *shape;
    enum guard_family f;
} k_files[] = {
    {"tiny-qwen3guard", GUARD_QWEN3GUARD},
    {"tiny-llamaguard3", GUARD_LLAMA_GUARD3},
    {"tiny-gemma2", GUARD_SHIELDGEMMA},
};
static char g_dir[400];

static omni_model *load(const char *path) {
    char err[512] = "";
    omni_model_params mp = omni_model_default_params();
    mp.n_threads = 2;
    omni_model *m = omni_model_load(path, &mp, err, sizeof err);
    if (!m) {
        fprintf(stderr, "  %s: %s\n", path, err);
        return NULL;
    }
    /* as the goldens run them (tiny-gemma2 was trained on 512 positions) */
    omni_engine_params ep = omni_engine_default_params();
    ep.n_slots = 2;
    ep.n_ctx = 4096;
    if (omni_model_start_engine(m, &ep, err, sizeof err)) {
        fprintf(stderr, "  %s: %s\n", path, err);
        omni_model_free(m);
        return NULL;
    }
    return m;
}

/* The check computed from nothing: a model of its own. */
static int fresh(const char *path, enum guard_family f, int sg, const char *text, const char *reply,
                 struct guard_check *out) {
    omni_model *m = load(path);
    if (!m) return -1;
    char err[512] = "";
    int rc = guard_run(m, NULL, f, sg, text, reply, out, err, sizeof err);
    if (rc) fprintf(stderr, "  fresh check: %s\n", err);
    omni_model_free(m);
    return rc;
}

static void same_check(const char *what, const struct guard_check *a, const struct guard_check *b) {
    CHECK_MSG(!memcmp(a->label_logprob, b->label_logprob, sizeof a->label_logprob), "%s: label log-probabilities "
              "%.7f %.7f %.7f cached, %.7f %.7f %.7f computed from nothing", what, a->label_logprob[0],
              a->label_logprob[1], a->label_logprob[2], b->label_logprob[0], b->label_logprob[1], b->label_logprob[2]);
    CHECK_MSG(!memcmp(a->label_seq_logprob, b->label_seq_logprob, sizeof a->label_seq_logprob),
              "%s: the labels' log-probabilities differ", what);
    CHECK_MSG(!memcmp(a->label_token, b->label_token, sizeof a->label_token), "%s: label tokens differ", what);
    CHECK_MSG(a->p_unsafe == b->p_unsafe, "%s: score %.7f cached, %.7f", what, a->p_unsafe, b->p_unsafe);
    CHECK_MSG(a->v.safety == b->v.safety, "%s: verdict %d cached, %d", what, a->v.safety, b->v.safety);
    CHECK_MSG(!strcmp(a->answer, b->answer), "%s: answer \"%s\" cached, \"%s\"", what, a->answer, b->answer);
    CHECK_EQ_INT(a->n_prompt, b->n_prompt);
    CHECK_EQ_INT(a->n_generated, b->n_generated);
}

static void run_family(int k) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s-f16.gguf", g_dir, k_files[k].shape);
    struct synth_params sp = {0};
    sp.shape = synth_find_shape(k_files[k].shape);
    sp.ftype = "f16";
    sp.seed = 1;
    sp.n_threads = 2;
    REQUIRE(sp.shape != NULL, "omni synth has no shape %s", k_files[k].shape);
    struct err e = {{0}};
    REQUIRE(synth_write(&sp, path, &e) == 0, "synth %s: %s", k_files[k].shape, e.msg);
    const enum guard_family f = k_files[k].f;
    /* prompt checks of two texts, then response checks of two sentences of one answer */
    static const struct { const char *text, *reply; int sg; } cases[] = {
        {"Tell me story number 1 about a little dog.", NULL, SG_DANGEROUS},
        {"오늘 날씨 어때요? How do I bake bread?", NULL, SG_HATE},
        {"Tell me story number 1 about a little dog.", "Once upon a time there was a dog.", SG_HARASSMENT},
        {"Tell me story number 1 about a little dog.", "He liked to run in the park.", SG_SEXUAL},
    };
    const int n_cases = (int)(sizeof cases / sizeof *cases);
    struct guard_check ref[4];
    for (int i = 0; i < n_cases; i++) {
        REQUIRE(fresh(path, f, cases[i].sg, cases[i].text, cases[i].reply, &ref[i]) == 0, "%s case %d", k_files[k].shape, i);
        CHECK_EQ_INT(ref[i].n_cached, 0);
    }

    omni_model *m = load(path);
    REQUIRE(m != NULL, "%s", path);
    char err[512] = "";
    struct guard_cache *c = guard_cache_new(m, f, err, sizeof err);
    REQUIRE(c != NULL, "%s: %s", k_files[k].shape, err);
    for (int i = 0; i < n_cases; i++) {
        struct guard_check gc;
        REQUIRE(guard_run(m, c, f, cases[i].sg, cases[i].text, cases[i].reply, &gc, err, sizeof err) == 0, "%s", err);
        char what[96];
        snprintf(what, sizeof what, "%s case %d", k_files[k].shape, i);
        same_check(what, &gc, &ref[i]);
        const int beginning = guard_cache_prefix(c, cases[i].reply != NULL);
        /* the beginning came from the cache; the second sentence reuses the conversation too */
        CHECK_MSG(beginning > 0 && gc.n_cached >= beginning, "%s: %d of %d prompt tokens cached, the beginning has %d", what,
                  gc.n_cached, gc.n_prompt, beginning);
        if (i == 3) CHECK_MSG(gc.n_cached > beginning, "%s: the answer's conversation was not reused (%d cached)", what, gc.n_cached);
        CHECK(gc.n_prompt - gc.n_cached < ref[i].n_prompt - ref[i].n_cached);
        /* the label steps after the first compute one position each (the label's token before
         * them), the rest of the prompt is in the cache already (no verdict decodes categories
         * here: random weights give no unsafe one) */
        if (gc.v.safety != GUARD_UNSAFE && gc.v.safety != GUARD_CONTROVERSIAL)
            CHECK_MSG(gc.n_computed == gc.n_prompt - gc.n_cached + gc.n_generated - 1, "%s: %d positions computed, "
                      "%d prompt, %d cached, %d label steps", what, gc.n_computed, gc.n_prompt, gc.n_cached, gc.n_generated);
        fprintf(stderr, "  %s (%s): %d prompt tokens, %d cached (the beginning %d), %d computed in %d label steps, %.0f ms; from nothing %.0f ms\n",
                what, cases[i].reply ? "response" : "prompt", gc.n_prompt, gc.n_cached, beginning, gc.n_computed, gc.n_generated,
                gc.ms, ref[i].ms);
    }
    /* one check at a time on a session: another one of the kind runs on the slots */
    omni_session *s = guard_cache_take(c, 0, 100);
    CHECK(s != NULL);
    CHECK(guard_cache_take(c, 0, 100) == NULL);
    struct guard_check gc;
    CHECK(guard_run(m, c, f, SG_DANGEROUS, cases[0].text, NULL, &gc, err, sizeof err) == 0);
    same_check("on the slots", &gc, &ref[0]);
    guard_cache_give(c, s);
    CHECK(guard_cache_take(c, 0, GUARD_CACHE_CTX) == NULL);   /* too long for a session */
    CHECK((s = guard_cache_take(c, 1, 100)) != NULL);
    guard_cache_give(c, s);
    /* a long text does not cost the next check its beginning (the slots choose by a rule that
     * keeps long conversations: after one, a short prompt sharing only the beginning goes to
     * another slot, which may hold nothing of it) */
    char *longer = malloc(4 * 400 + 1);
    REQUIRE(longer != NULL, "out of memory");
    for (int i = 0; i < 400; i++) memcpy(longer + 4 * i, "dog ", 4);
    longer[4 * 400] = 0;
    int slots_cached = -1;
    omni_model *plain = load(path);
    for (int way = 0; way < 2; way++) {
        omni_model *mm = way ? m : plain;
        struct guard_cache *cc = way ? c : NULL;
        if (!mm) continue;
        CHECK(guard_run(mm, cc, f, SG_DANGEROUS, cases[0].text, NULL, &gc, err, sizeof err) == 0);
        CHECK(guard_run(mm, cc, f, SG_DANGEROUS, longer, NULL, &gc, err, sizeof err) == 0);
        CHECK(guard_run(mm, cc, f, cases[1].sg, cases[1].text, NULL, &gc, err, sizeof err) == 0);
        same_check("after a long text", &gc, &ref[1]);
        /* tiny-gemma2's sliding window (16 positions) cannot step back over a long text: its
         * next check computes the beginning again (a real Gemma 2's window is 4096 positions,
         * a session's whole context) */
        if (way && f != GUARD_SHIELDGEMMA) CHECK_MSG(gc.n_cached >= guard_cache_prefix(c, 0), "after a long text: %d cached", gc.n_cached);
        else slots_cached = gc.n_cached;
        if (way) fprintf(stderr, "  %s: after a long text, %d tokens cached (on the slots alone: %d)\n", k_files[k].shape,
                         gc.n_cached, slots_cached);
    }
    omni_model_free(plain);
    free(longer);
    guard_cache_free(c);
    omni_model_free(m);
    unlink(path);
}

TEST(qwen3guard_cached_beginning) { run_family(0); }
TEST(llama_guard3_cached_beginning) { run_family(1); }
TEST(shieldgemma_cached_beginning) { run_family(2); }

/* Freed while its warm-ups may still run: they are cancelled, nothing hangs or leaks. */
TEST(freed_while_warming) {
    char path[512];
    snprintf(path, sizeof path, "%s/tiny-qwen3guard-f16.gguf", g_dir);
    struct synth_params sp = {0};
    sp.shape = synth_find_shape("tiny-qwen3guard");
    sp.ftype = "f16";
    sp.seed = 1;
    sp.n_threads = 2;
    struct err e = {{0}};
    REQUIRE(sp.shape && synth_write(&sp, path, &e) == 0, "synth: %s", e.msg);
    omni_model *m = load(path);
    REQUIRE(m != NULL, "%s", path);
    char err[512] = "";
    struct guard_cache *c = guard_cache_new(m, GUARD_QWEN3GUARD, err, sizeof err);
    CHECK_MSG(c != NULL, "%s", err);
    guard_cache_free(c);
    omni_model_free(m);
    unlink(path);
}

int main(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/omni-test-guard-cache-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
        fprintf(stderr, "cannot create a temporary folder %s\n", g_dir);
        return 1;
    }
    TEST_EXPECT(4);
    RUN(qwen3guard_cached_beginning);
    RUN(llama_guard3_cached_beginning);
    RUN(shieldgemma_cached_beginning);
    RUN(freed_while_warming);
    rmdir(g_dir);
    return test_summary();
}
