/* Guard-shaped random-weight files of the three guard families against llama.cpp
 * (tests/golden/guard/README.md): for a prompt check and a response check each, the prompt
 * guard_run builds (the family's chat template over the conversation, then the answer's
 * opening) must be token for token the one llama.cpp renders and tokenizes; the five most
 * likely tokens at the label position and each label's log-probability (the label
 * token probabilities the score comes from) within the F16 bar; the score and the verdict
 * as the reference's label probabilities give them.
 *   Qwen3Guard-Gen: qwen3 at Qwen3-0.6B's width and heads (2 layers), its template
 *   Llama Guard 3:  llama with Llama 3.2 1B's head size and grouping (width 256), its template
 *   ShieldGemma:    gemma2 (tiny-gemma2, Gemma 2's template), the model-card prompt per policy
 * The files are written here with synth_write (seed 1) and must be the very files the
 * goldens were made from (SHA-256). */
#include <cJSON.h>
#include <pthread.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "omni.h"
#include "models/synth.h"
#include "moderation/guard_run.h"
#include "runtime/store.h"

#define REPO_GOLDEN "tests/golden/guard"
#define TOL 0.05    /* ../shared/golden/README.md, the newer F16 goldens */

static const struct {
    const char *shape, *golden, *sha256;
    enum guard_family f;
} k_files[] = {
    {"tiny-qwen3guard", "qwen3guard", "e0e317d7bd35775b37969bf85b6f9b79e35f5412ef2160287968e568d9df3034", GUARD_QWEN3GUARD},
    {"tiny-llamaguard3", "llama_guard3", "9261757b34583ddaca69a449088ee9a676c0922ff83f93d1a4056af373d6c136",
     GUARD_LLAMA_GUARD3},
    {"tiny-gemma2", "shieldgemma", "23d040feb672173e31fd783997cbbfdddc037387878a500c6af11b08dd8a3eee", GUARD_SHIELDGEMMA},
};
static char g_dir[400];

struct top {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, n;
    int32_t id[5];
    float lp[5];
};
static void top_token(const omni_token_info *t, void *user) {
    struct top *w = user;
    if (t->token < 0 || w->n) return;
    w->n = t->n_top < 5 ? t->n_top : 5;
    for (int i = 0; i < w->n; i++) w->id[i] = t->top_token[i], w->lp[i] = t->top_logprob[i];
}
static void top_done(const omni_usage *u, const char *error, void *user) {
    struct top *w = user;
    (void)u;
    (void)error;
    pthread_mutex_lock(&w->mu);
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* The five most likely tokens after the prompt, through the public API. */
static int top5(omni_model *m, const omni_prompt *p, struct top *w) {
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    omni_generate_params gp = omni_generate_default_params();
    gp.max_tokens = 1;
    gp.sampling.temperature = 0;
    gp.top_logprobs = 5;
    gp.on_token = top_token;
    gp.on_done = top_done;
    gp.user = w;
    char err[256];
    int status;
    omni_request *r = omni_submit(m, NULL, p, &gp, &status, err, sizeof err);
    if (r) {
        pthread_mutex_lock(&w->mu);
        while (!w->done) pthread_cond_wait(&w->cv, &w->mu);
        pthread_mutex_unlock(&w->mu);
        omni_request_free(r);
    }
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    return r ? 0 : -1;
}

static void check_case(omni_model *m, enum guard_family f, const char *name, cJSON *c, double *max_err) {
    const cJSON *text = cJSON_GetObjectItem(c, "text"), *reply = cJSON_GetObjectItem(c, "reply");
    const cJSON *pol = cJSON_GetObjectItem(c, "sg_policy"), *jt = cJSON_GetObjectItem(c, "tokens");
    const cJSON *jk = cJSON_GetObjectItem(c, "topk"), *jl = cJSON_GetObjectItem(c, "labels");
    REQUIRE(cJSON_IsString(text) && cJSON_IsArray(jt) && cJSON_IsArray(jk) && cJSON_IsArray(jl), "%s: malformed case", name);
    const char *rp = cJSON_IsString(reply) ? reply->valuestring : NULL;
    int sg = cJSON_IsNumber(pol) ? pol->valueint : 0;
    char err[512] = "";
    /* the prompt, token for token */
    omni_prompt p;
    REQUIRE(guard_prompt(m, f, sg, text->valuestring, rp, &p, err, sizeof err) == 0, "%s: %s", name, err);
    int n = cJSON_GetArraySize(jt), same = p.n == n;
    for (int i = 0; same && i < n; i++) same = p.tokens[i] == cJSON_GetArrayItem(jt, i)->valueint;
    if (!same) {
        int i = 0;
        while (i < n && i < p.n && p.tokens[i] == cJSON_GetArrayItem(jt, i)->valueint) i++;
        CHECK_MSG(0, "%s (%s): %d tokens, llama.cpp %d; first difference at %d (%d vs %d)", name, rp ? "response" : "prompt", p.n,
                  n, i, i < p.n ? p.tokens[i] : -1, i < n ? cJSON_GetArrayItem(jt, i)->valueint : -1);
    }
    /* the head of the distribution at the label position */
    struct top w;
    CHECK(top5(m, &p, &w) == 0);
    CHECK_EQ_INT(w.n, 5);
    double m0 = cJSON_GetArrayItem(cJSON_GetArrayItem(jk, 0), 1)->valuedouble;
    double m1 = cJSON_GetArrayItem(cJSON_GetArrayItem(jk, 1), 1)->valuedouble;
    if (m0 - m1 > 0.05) CHECK_EQ_INT(w.id[0], cJSON_GetArrayItem(cJSON_GetArrayItem(jk, 0), 0)->valueint);
    for (int r = 0; r < 5 && r < w.n; r++) {
        int id = cJSON_GetArrayItem(cJSON_GetArrayItem(jk, r), 0)->valueint;
        double ref = cJSON_GetArrayItem(cJSON_GetArrayItem(jk, r), 1)->valuedouble;
        for (int q = 0; q < w.n; q++)
            if (w.id[q] == id) {
                double d = fabs(w.lp[q] - ref);
                if (d > *max_err) *max_err = d;
                CHECK_MSG(d <= TOL, "%s: token %d log-probability %.5f, llama.cpp %.5f", name, id, w.lp[q], ref);
            }
    }
    omni_prompt_free(&p);
    /* the guard's check: label tokens, their log-probabilities, the score and the verdict */
    struct guard_check gc;
    REQUIRE(guard_run(m, NULL, f, sg, text->valuestring, rp, &gc, err, sizeof err) == 0, "%s: %s", name, err);
    CHECK_EQ_INT(gc.n_prompt, n);
    float ref_lp[3] = {-INFINITY, -INFINITY, -INFINITY};
    for (int k = 0; k < 3; k++) {
        const cJSON *l = cJSON_GetArrayItem(jl, k);
        if (!cJSON_IsObject(l)) {
            CHECK(gc.label_token[k] == -1);
            continue;
        }
        CHECK_STR(cJSON_GetObjectItem(l, "word")->valuestring, guard_label_word(f, k));
        CHECK_EQ_INT(gc.label_token[k], cJSON_GetArrayItem(cJSON_GetObjectItem(l, "tokens"), 0)->valueint);
        double first = cJSON_GetObjectItem(l, "first_logprob")->valuedouble;
        double d = fabs(gc.label_logprob[k] - first);
        if (d > *max_err) *max_err = d;
        CHECK_MSG(d <= TOL, "%s: label %d first token %.5f, llama.cpp %.5f", name, k, gc.label_logprob[k], first);
        ref_lp[k] = (float)cJSON_GetObjectItem(l, "logprob")->valuedouble;
        d = fabs(gc.label_seq_logprob[k] - ref_lp[k]);
        if (d > *max_err) *max_err = d;
        CHECK_MSG(d <= TOL, "%s: label %d %.5f, llama.cpp %.5f", name, k, gc.label_seq_logprob[k], ref_lp[k]);
    }
    float ref_p;
    int ref_pick = guard_label_pick(ref_lp, &ref_p);
    CHECK_MSG(fabsf(gc.p_unsafe - ref_p) <= 0.03f, "%s: score %.4f, llama.cpp's labels give %.4f", name, gc.p_unsafe, ref_p);
    if (ref_pick < 0) CHECK_EQ_INT(gc.v.safety, GUARD_UNPARSED);
    else CHECK(gc.v.safety != GUARD_UNPARSED);
    fprintf(stderr, "  %s (%s): %d tokens (llama.cpp %d), score %.4f (llama.cpp %.4f), %d sampled\n", name, rp ? "response" : "prompt",
            gc.n_prompt, n, gc.p_unsafe, ref_p, gc.n_generated);
}

static void run_family(int k) {
    char golden[512], path[512], hex[65] = "";
    snprintf(golden, sizeof golden, "%s/%s.jsonl", REPO_GOLDEN, k_files[k].golden);
    snprintf(path, sizeof path, "%s/%s-f16.gguf", g_dir, k_files[k].shape);
    char *text = read_file(golden, NULL);
    REQUIRE(text != NULL, "missing golden %s (run the tests from the project root)", golden);
    struct synth_params sp = {0};
    sp.shape = synth_find_shape(k_files[k].shape);
    sp.ftype = "f16";
    sp.seed = 1;
    sp.n_threads = 2;
    REQUIRE(sp.shape != NULL, "omni synth has no shape %s", k_files[k].shape);
    struct err e = {{0}};
    REQUIRE(synth_write(&sp, path, &e) == 0, "synth %s: %s", k_files[k].shape, e.msg);
    CHECK_MSG(store_file_digest(path, "sha256", hex, &e) == 0, "%s", e.msg);
    CHECK_MSG(!strcmp(hex, k_files[k].sha256), "%s: sha256 %s, the golden's file has %s", k_files[k].shape, hex,
              k_files[k].sha256);
    char err[512] = "";
    omni_model_params mp = omni_model_default_params();
    mp.n_threads = 2;
    omni_model *m = omni_model_load(path, &mp, err, sizeof err);
    REQUIRE(m != NULL, "%s: %s", path, err);
    omni_engine_params ep = omni_engine_default_params();
    ep.n_slots = 1;
    ep.n_ctx = 4096;
    ep.flash_attn = OMNI_FLASH_OFF;   /* as the reference ran */
    REQUIRE(omni_model_start_engine(m, &ep, err, sizeof err) == 0, "%s", err);
    double max_err = 0;
    int cases = 0;
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        cJSON *c = cJSON_Parse(line);
        if (c) check_case(m, k_files[k].f, k_files[k].golden, c, &max_err), cases++;
        cJSON_Delete(c);
        line = nl ? nl + 1 : NULL;
    }
    CHECK_EQ_INT(cases, 2);
    fprintf(stderr, "  %s: max |log-probability diff| %.5f (tol %g)\n", k_files[k].golden, max_err, TOL);
    omni_model_free(m);
    unlink(path);
    free(text);
}

TEST(qwen3guard_matches_llama_cpp) { run_family(0); }
TEST(llama_guard3_matches_llama_cpp) { run_family(1); }
TEST(shieldgemma_matches_llama_cpp) { run_family(2); }

int main(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/omni-test-guard-golden-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
        fprintf(stderr, "cannot create a temporary folder %s\n", g_dir);
        return 1;
    }
    TEST_EXPECT(3);
    RUN(qwen3guard_matches_llama_cpp);
    RUN(llama_guard3_matches_llama_cpp);
    RUN(shieldgemma_matches_llama_cpp);
    rmdir(g_dir);
    return test_summary();
}
