/* Named adapters chosen per request (omni_model_add_adapter, omni_generate_params.adapter):
 * one loaded synth-smollm2 base, the golden LoRA adapter added beside it without a reload.
 * Three sessions generate at once (the engine batches their rows in one forward), one with
 * the adapter: it gives llama.cpp's greedy text with the adapter (golden/llm/synth-smollm2-
 * f16+lora.jsonl) while the other two give the base's (synth-smollm2-f16.jsonl); a prefix
 * cached under one adapter is not reused under another (the same session alternating gives
 * each golden again); an unknown name is refused, as is an adapter for another model. */
#include "test.h"

#include <pthread.h>

#include "omni.h"
#include "model_setup.h"

struct job {
    omni_session *s;
    const char *prompt, *adapter;
    int n;
    struct text out;
    int rc;
    char err[256];
};

static void *gen(void *arg) {
    struct job *j = arg;
    omni_generate_params gp = greedy_params(j->n, &j->out);
    gp.adapter = j->adapter;
    j->out.len = 0;
    j->out.buf[0] = 0;
    omni_usage u;
    j->rc = omni_session_generate(j->s, j->prompt, &gp, &u, j->err, sizeof j->err);
    return NULL;
}

TEST(adapters_per_request_in_one_batch) {
    char err[512];
    omni_model *m = load("synth/synth-smollm2-f16.gguf");
    REQUIRE(m != NULL, "the base model");
    char prompt[256], prompt2[256];
    int n_base = 0, n_lora = 0;
    char *base = golden_first(m, "llm/synth-smollm2-f16.jsonl", prompt, sizeof prompt, &n_base);
    char *lora = golden_first(m, "llm/synth-smollm2-f16+lora.jsonl", prompt2, sizeof prompt2, &n_lora);
    REQUIRE(base && lora, "goldens");
    CHECK_STR(prompt, prompt2);
    CHECK(strcmp(base, lora) != 0); /* the adapter changes the greedy text */
    CHECK(omni_model_add_adapter(m, "golden", model_path("synth/synth-smollm2-lora-f16.gguf"), 1.0f, err,
                                 sizeof err) == 0);
    CHECK(omni_model_has_adapter(m, "golden") && !omni_model_has_adapter(m, "other"));
    struct job jobs[3] = {{.prompt = prompt, .n = n_base}, {.prompt = prompt, .adapter = "golden", .n = n_lora},
                          {.prompt = prompt, .adapter = "", .n = n_base}};
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        jobs[i].s = omni_session_new(m, NULL, err, sizeof err);
        REQUIRE(jobs[i].s, "%s", err);
    }
    for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, gen, &jobs[i]);
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 3; i++) CHECK_MSG(jobs[i].rc == 0, "%s", jobs[i].err);
    CHECK_STR(jobs[0].out.buf, base);
    CHECK_STR(jobs[1].out.buf, lora);
    CHECK_STR(jobs[2].out.buf, base);
    /* one session alternating: the cached prompt is not reused across adapters */
    for (int k = 0; k < 3; k++) {
        struct job *j = &jobs[0];
        j->adapter = k % 2 ? NULL : "golden";
        j->n = k % 2 ? n_base : n_lora;
        gen(j);
        CHECK(j->rc == 0);
        CHECK_STR(j->out.buf, k % 2 ? base : lora);
    }
    /* an unknown adapter: refused with its name */
    jobs[0].adapter = "missing";
    gen(&jobs[0]);
    CHECK(jobs[0].rc != 0);
    CHECK_MSG(strstr(jobs[0].err, "missing") != NULL, "%s", jobs[0].err);
    for (int i = 0; i < 3; i++) omni_session_free(jobs[i].s);
    free(base);
    free(lora);
    /* an adapter for another model, and a file that is no adapter */
    omni_model *q = load("synth/synth-qwen2-f16.gguf");
    REQUIRE(q != NULL, "the other model");
    CHECK(omni_model_add_adapter(q, "golden", model_path("synth/synth-smollm2-lora-f16.gguf"), 1.0f, err,
                                 sizeof err) != 0);
    CHECK_MSG(strstr(err, "wrong base model") != NULL, "%s", err);
    CHECK(omni_model_add_adapter(q, "x", model_path("synth/synth-qwen2-f16.gguf"), 1.0f, err, sizeof err) != 0);
    CHECK(!omni_model_has_adapter(q, "golden") && !omni_model_has_adapter(q, "x"));
    omni_model_free(q);
    omni_model_free(m);
}

int main(void) {
    TEST_EXPECT(1);
    RUN(adapters_per_request_in_one_batch);
    return test_summary();
}
