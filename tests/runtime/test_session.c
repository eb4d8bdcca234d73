/* The public API end to end on a real model: omni_session_generate with greedy
 * sampling reproduces llama.cpp's greedy continuation (golden/llm), a follow-up
 * prompt reuses the cached prefix without changing the result, stop strings cut
 * the output, and chat formatting uses the model's template. */
#include "test.h"
#include <cjson/cJSON.h>

#include <pthread.h>
#include <unistd.h>

#include "omni.h"
#include "models/synth.h"
#include "runtime/model.h"
#include "model_setup.h"

static char *golden_story(omni_model *m, char *prompt, size_t cap, int *n_greedy) {
    return golden_first(m, "llm/stories260K.jsonl", prompt, cap, n_greedy);
}

TEST(greedy_matches_llama_cpp_and_cache_is_transparent) {
    omni_model *m = load("llm/stories260K.gguf");
    CHECK(m != NULL);
    if (!m) return;
    char prompt[256];
    int n_greedy = 0;
    char *expect = golden_story(m, prompt, sizeof prompt, &n_greedy);
    CHECK(expect != NULL);
    char err[512];
    omni_session *s = omni_session_new(m, NULL, err, sizeof err);
    CHECK(s != NULL);
    if (!s || !expect) { free(expect); omni_session_free(s); omni_model_free(m); return; }

    struct text a = {.len = 0};
    omni_generate_params gp = greedy_params(n_greedy, &a);
    omni_usage u;
    CHECK(omni_session_generate(s, prompt, &gp, &u, err, sizeof err) == 0);
    CHECK_STR(a.buf, expect);
    CHECK_EQ_INT(u.prompt_tokens, 5);
    CHECK_EQ_INT(u.cached_tokens, 0);
    CHECK_EQ_INT(u.completion_tokens, n_greedy);
    CHECK_STR(u.finish_reason, "length");

    /* Same prompt again: everything but the last prompt token comes from the cache,
     * and the continuation is identical. */
    struct text b = {.len = 0};
    gp.user = &b;
    CHECK(omni_session_generate(s, prompt, &gp, &u, err, sizeof err) == 0);
    CHECK_EQ_INT(u.cached_tokens, 4);
    CHECK_STR(b.buf, a.buf);

    /* A stop string ends the output right before it. */
    const char *stop[] = {"girl"};
    struct text c = {.len = 0};
    gp.user = &c;
    gp.stop = stop;
    gp.n_stop = 1;
    CHECK(omni_session_generate(s, prompt, &gp, &u, err, sizeof err) == 0);
    const char *at = strstr(a.buf, "girl");
    CHECK_MSG(at != NULL, "the golden story has 'girl' in it: '%s'", a.buf); /* "a little girl named Lily" */
    if (at) {
        CHECK_EQ_INT(c.len, (size_t)(at - a.buf));
        CHECK(strncmp(c.buf, a.buf, c.len) == 0);
        CHECK_STR(u.finish_reason, "stop");
    }
    free(expect);
    omni_session_free(s);
    omni_model_free(m);
}

/* A continuation keeps the space SentencePiece puts at the front of its first word. */
/* omni_model_params.lora: the engine applies the adapter (the synth-smollm2-f16+lora
 * golden's greedy text through a session) and refuses one made for another model. */
TEST(lora_adapter_through_the_engine) {
    char err[512];
    omni_lora ad = {model_path("synth/synth-smollm2-lora-f16.gguf"), 1.0f};
    omni_model_params p = model_params();
    p.lora = &ad, p.n_lora = 1;
    omni_model *m = omni_model_load(model_path("synth/synth-smollm2-f16.gguf"), &p, err, sizeof err);
    REQUIRE(m != NULL, "%s", err);
    char prompt[256];
    int n_greedy = 0;
    char *expect = golden_first(m, "llm/synth-smollm2-f16+lora.jsonl", prompt, sizeof prompt, &n_greedy);
    omni_session *s = omni_session_new(m, NULL, err, sizeof err);
    CHECK(expect != NULL && s != NULL);
    if (expect && s) {
        struct text a = {.len = 0};
        omni_generate_params gp = greedy_params(n_greedy, &a);
        omni_usage u;
        CHECK(omni_session_generate(s, prompt, &gp, &u, err, sizeof err) == 0);
        CHECK_STR(a.buf, expect);
        CHECK_EQ_INT(u.completion_tokens, n_greedy);
    }
    free(expect);
    omni_session_free(s);
    omni_model_free(m);
    /* the same adapter on qwen2: refused, with why */
    CHECK(omni_model_load(model_path("synth/synth-qwen2-f16.gguf"), &p, err, sizeof err) == NULL);
    CHECK_MSG(strstr(err, "wrong base model") != NULL, "%s", err);
    p.lora = NULL;
    CHECK(omni_model_load(model_path("synth/synth-smollm2-f16.gguf"), &p, err, sizeof err) == NULL);
    CHECK_MSG(strstr(err, "LoRA") != NULL, "%s", err);
}

TEST(first_generated_word_keeps_its_space) {
    omni_model *m = load("llm/stories260K.gguf");
    if (!m) { CHECK(0); return; }
    char err[512];
    omni_session *s = omni_session_new(m, NULL, err, sizeof err);
    omni_generate_params gp = omni_generate_default_params();
    gp.sampling.temperature = 0;
    gp.max_tokens = 1;
    struct text a = {.len = 0};
    gp.on_text = collect;
    gp.user = &a;
    CHECK(s && omni_session_generate(s, "Once upon a", &gp, NULL, err, sizeof err) == 0);
    CHECK_STR(a.buf, " time");
    omni_session_free(s);
    omni_model_free(m);
}

TEST(prompt_longer_than_context_is_an_error) {
    omni_model *m = load("llm/stories260K.gguf");
    if (!m) { CHECK(0); return; }
    char err[512] = "";
    omni_session_params sp = omni_session_default_params();
    sp.n_ctx = 8;
    omni_session *s = omni_session_new(m, &sp, err, sizeof err);
    CHECK(s != NULL);
    omni_generate_params gp = omni_generate_default_params();
    if (s) {
        CHECK(omni_session_generate(s, "Once upon a time there was a very long prompt", &gp, NULL, err, sizeof err) == -1);
        CHECK(strstr(err, "context") != NULL);
    }
    omni_session_free(s);
    omni_model_free(m);
}

TEST(chat_format_uses_the_models_template) {
    omni_model *m = load("synth/synth-smollm2-f16.gguf");
    if (!m) { CHECK(0); return; }
    char err[512];
    omni_chat_message msgs[] = {{"system", "Be brief."}, {"user", "안녕하세요"}};
    char *p = omni_chat_format(m, msgs, 2, 1, err, sizeof err);
    CHECK(p != NULL);
    if (p) CHECK_STR(p, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n안녕하세요<|im_end|>\n"
                        "<|im_start|>assistant\n");
    free(p);
    /* the template adds SmolLM's default system prompt when none is given */
    p = omni_chat_format(m, msgs + 1, 1, 0, err, sizeof err);
    CHECK(p && strstr(p, "You are a helpful AI assistant named SmolLM") != NULL);
    free(p);
    int32_t ids[64];
    int n = omni_tokenize(m, "<|im_start|>user", 16, 0, 1, ids, 64);
    CHECK(n >= 2);
    if (n >= 1) {
        size_t len = 0;
        const char *t = omni_token_text(m, ids[0], 1, &len);
        CHECK(len == 12 && !memcmp(t, "<|im_start|>", 12));
    }
    omni_model_free(m);
}

TEST(missing_or_corrupt_model_gives_a_message) {
    char err[512] = "";
    CHECK(omni_model_load("/nonexistent/model.gguf", NULL, err, sizeof err) == NULL);
    CHECK(err[0] != 0);
    err[0] = 0;
    CHECK(omni_model_load(model_path("vocab/ggml-vocab-gpt-2.gguf"), NULL, err, sizeof err) == NULL);
    CHECK(err[0] != 0);
}

/* ---- a recurrent model (qwen35's delta-net state cannot be truncated) ---- */

/* One generation through omni_submit, recording each token's top log-probabilities
 * (the logits' softmax) so turns can be compared number for number. */
struct turn {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, n;
    int32_t tok[32], top[32][4];
    float lp[32][4];
    omni_usage u;
};

static void turn_token(const omni_token_info *t, void *user) {
    struct turn *r = user;
    if (t->token < 0 || r->n >= 32) return;
    r->tok[r->n] = t->token;
    for (int k = 0; k < 4; k++) {
        r->top[r->n][k] = k < t->n_top ? t->top_token[k] : -1;
        r->lp[r->n][k] = k < t->n_top ? t->top_logprob[k] : 0;
    }
    r->n++;
}

static void turn_done(const omni_usage *u, const char *error, void *user) {
    struct turn *r = user;
    pthread_mutex_lock(&r->mu);
    r->u = *u;
    if (error) fprintf(stderr, "  turn: %s\n", error);
    r->done = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static int run_turn(omni_model *m, omni_session *s, const char *text, int max_tokens, struct turn *r) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    char err[256];
    omni_prompt pr;
    if (omni_prompt_build(m, text, NULL, 0, 1, 0, &pr, err, sizeof err)) return -1;
    omni_generate_params gp = omni_generate_default_params();
    gp.sampling.temperature = 0;
    gp.max_tokens = max_tokens;
    gp.top_logprobs = 4;
    gp.on_token = turn_token;
    gp.on_done = turn_done;
    gp.user = r;
    int status;
    omni_request *q = omni_submit(m, s, &pr, &gp, &status, err, sizeof err);
    if (q) {
        pthread_mutex_lock(&r->mu);
        while (!r->done) pthread_cond_wait(&r->cv, &r->mu);
        pthread_mutex_unlock(&r->mu);
    } else {
        fprintf(stderr, "  submit: %s\n", err);
    }
    omni_request_free(q);
    omni_prompt_free(&pr);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    return q && !strcmp(r->u.finish_reason, "length") ? 0 : -1;
}

static int same_turn(const struct turn *a, const struct turn *b) {
    if (a->n != b->n || a->n == 0) return 0;
    for (int i = 0; i < a->n; i++)
        for (int k = 0; k < 4; k++)
            if (a->tok[i] != b->tok[i] || a->top[i][k] != b->top[i][k] || a->lp[i][k] != b->lp[i][k]) return 0;
    return 1;
}

/* Two turns of one conversation on a session, and the same on the engine's pooled
 * slots (a server's session-less requests): the second turn shares the first's
 * prompt, whose state the cache can only return to at its checkpoint (the first
 * prompt but its last token), so exactly that much is reused, and the reply's
 * log-probabilities equal a fresh run's of the whole second prompt. */
TEST(recurrent_model_reuses_its_checkpoint) {
    const char *path = "/tmp/omni-test-session-qwen35.gguf";
    struct err e = {{0}};
    struct synth_params sp = {synth_find_shape("tiny-qwen35"), "f16", 7, 2, NULL, NULL};
    REQUIRE(sp.shape && synth_write(&sp, path, &e) == 0, "synth tiny-qwen35: %s", e.msg);
    char err[512];
    omni_model_params mp = omni_model_default_params();
    mp.n_threads = 2;
    omni_model *m = omni_model_load(path, &mp, err, sizeof err);
    REQUIRE(m != NULL, "load %s: %s", path, err);
    const char *p1 = "the quick brown fox", *p2 = "the quick brown fox\njumps over the lazy dog";
    struct turn fresh1, fresh2, t1, t2, again;
    omni_session *f = omni_session_new(m, NULL, err, sizeof err);
    CHECK(f && run_turn(m, f, p1, 12, &fresh1) == 0);
    omni_session_free(f);
    f = omni_session_new(m, NULL, err, sizeof err);
    CHECK(f && run_turn(m, f, p2, 12, &fresh2) == 0);
    CHECK_EQ_INT(fresh2.u.cached_tokens, 0);
    omni_session_free(f);

    for (int pooled = 0; pooled < 2; pooled++) {
        omni_session *s = pooled ? NULL : omni_session_new(m, NULL, err, sizeof err);
        CHECK(pooled || s);
        CHECK(run_turn(m, s, p1, 12, &t1) == 0);
        CHECK(same_turn(&t1, &fresh1));
        CHECK(run_turn(m, s, p2, 12, &t2) == 0);
        fprintf(stderr, "  qwen35 %s: turn 2 reused %d of %d prompt tokens (turn 1 had %d)\n",
                pooled ? "pooled slots" : "session", t2.u.cached_tokens, t2.u.prompt_tokens, t1.u.prompt_tokens);
        CHECK_EQ_INT(t2.u.cached_tokens, t1.u.prompt_tokens - 1);
        CHECK_MSG(same_turn(&t2, &fresh2), "turn 2 on a %s differs from a fresh run", pooled ? "slot" : "session");
        /* back to the first prompt: the checkpoint is now the second's, past what the
         * first shares, so nothing is reused, and the reply is the first's again; then
         * the same prompt twice: all but its last token come from the checkpoint (the
         * pool puts these in fresh slots: their cached prefixes are under half) */
        CHECK(run_turn(m, s, p1, 12, &again) == 0);
        CHECK_EQ_INT(again.u.cached_tokens, 0);
        CHECK(same_turn(&again, &fresh1));
        CHECK(run_turn(m, s, p1, 12, &again) == 0);
        if (!pooled) CHECK_EQ_INT(again.u.cached_tokens, t1.u.prompt_tokens - 1);
        CHECK(same_turn(&again, &fresh1));
        omni_session_free(s);
    }
    omni_model_free(m);
    unlink(path);
}

int main(void) {
    TEST_EXPECT(7);
    RUN(greedy_matches_llama_cpp_and_cache_is_transparent);
    RUN(lora_adapter_through_the_engine);
    RUN(first_generated_word_keeps_its_space);
    RUN(prompt_longer_than_context_is_an_error);
    RUN(chat_format_uses_the_models_template);
    RUN(missing_or_corrupt_model_gives_a_message);
    RUN(recurrent_model_reuses_its_checkpoint);
    return test_summary();
}
