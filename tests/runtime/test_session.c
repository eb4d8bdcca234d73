/* The public API end to end on a real model: omni_session_generate with greedy
 * sampling reproduces llama.cpp's greedy continuation (golden/llm), a follow-up
 * prompt reuses the cached prefix without changing the result, stop strings cut
 * the output, and chat formatting uses the model's template. */
#include "test.h"
#include <cjson/cJSON.h>

#include "omni.h"
#include "runtime/model.h"

struct text {
    char buf[8192];
    size_t len;
    int calls;
};

static int collect(const char *s, size_t n, void *user) {
    struct text *t = user;
    if (t->len + n < sizeof t->buf) {
        memcpy(t->buf + t->len, s, n);
        t->len += n;
        t->buf[t->len] = 0;
    }
    t->calls++;
    return 0;
}

/* The golden greedy continuation of the first story prompt, as text. */
static char *golden_story(omni_model *m, const char **prompt_out, int *n_greedy) {
    char *jl = read_file(golden_path("llm/stories260K.jsonl"), NULL);
    if (!jl) return NULL;
    char *nl = strchr(jl, '\n');
    if (nl) *nl = 0;
    cJSON *j = cJSON_Parse(jl);
    free(jl);
    if (!j) return NULL;
    static char prompt[256];
    snprintf(prompt, sizeof prompt, "%s", cJSON_GetObjectItem(j, "prompt")->valuestring);
    *prompt_out = prompt;
    cJSON *g = cJSON_GetObjectItem(j, "greedy");
    int n = cJSON_GetArraySize(g);
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    for (int i = 0; i < n; i++) ids[i] = cJSON_GetArrayItem(g, i)->valueint;
    char *out = NULL;
    size_t len = 0;
    tokenizer_decode(m->tok, ids, (size_t)n, 0, &out, &len, NULL);
    free(ids);
    cJSON_Delete(j);
    *n_greedy = n;
    return out;
}

static omni_model *load(const char *rel) {
    char err[512];
    omni_model_params p = omni_model_default_params();
    p.n_threads = 2;
    omni_model *m = omni_model_load(model_path(rel), &p, err, sizeof err);
    if (!m) fprintf(stderr, "  load %s: %s\n", rel, err);
    return m;
}

TEST(greedy_matches_llama_cpp_and_cache_is_transparent) {
    omni_model *m = load("llm/stories260K.gguf");
    CHECK(m != NULL);
    if (!m) return;
    const char *prompt = NULL;
    int n_greedy = 0;
    char *expect = golden_story(m, &prompt, &n_greedy);
    CHECK(expect != NULL);
    char err[512];
    omni_session *s = omni_session_new(m, NULL, err, sizeof err);
    CHECK(s != NULL);
    if (!s || !expect) { free(expect); omni_session_free(s); omni_model_free(m); return; }

    omni_generate_params gp = omni_generate_default_params();
    gp.sampling.temperature = 0;
    gp.max_tokens = n_greedy;
    gp.parse_special = 0;
    struct text a = {.len = 0};
    gp.on_text = collect;
    gp.user = &a;
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

int main(void) {
    TEST_EXPECT(5);
    RUN(greedy_matches_llama_cpp_and_cache_is_transparent);
    RUN(first_generated_word_keeps_its_space);
    RUN(prompt_longer_than_context_is_an_error);
    RUN(chat_format_uses_the_models_template);
    RUN(missing_or_corrupt_model_gives_a_message);
    return test_summary();
}
