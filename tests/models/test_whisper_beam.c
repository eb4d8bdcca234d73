/* Whisper beam search on the shared micro model and jfk.wav (tests/golden/asr, see its
 * README): the beam decoder with one beam must give greedy decoding's result exactly, and
 * five beams whisper.cpp's beam-search segment, tokens and text. */
#include <cJSON.h>

#include "test.h"
#include "core/cpu.h"
#include "core/pool.h"
#include "formats/audio_decode.h"
#include "models/whisper.h"

#define REPO_GOLDEN "tests/golden"

static struct whisper_model *g_m;
static struct pool *g_pool;
static float *g_x;
static size_t g_n;

/* whisper-cli's settings for these files: language en, no temperature fallback. */
static int transcribe(int beam_size, int beam_search, struct whisper_result *r) {
    struct err e = {{0}};
    struct whisper_state *s = whisper_state_new(g_m, g_pool, &e);
    CHECK_MSG(s != NULL, "%s", e.msg);
    if (!s) return -1;
    struct whisper_params p = whisper_default_params();
    p.language = "en";
    p.temperature_inc = 0;
    p.beam_size = beam_size;
    p.beam_search = beam_search;
    int rc = whisper_transcribe(s, g_x, g_n, &p, r, &e);
    CHECK_MSG(rc == 0, "beam %d: %s", beam_size, e.msg);
    whisper_state_free(s);
    return rc;
}

/* A beam search with one beam is greedy decoding: the beam decoder (beam_search = 1) must
 * give the greedy decoder's segments, times, tokens, token probabilities and text. */
TEST(beam_1_equals_greedy) {
    struct whisper_result g, b;
    if (transcribe(1, 0, &g)) return;
    if (transcribe(1, 1, &b)) { whisper_result_free(&g); return; }
    CHECK_EQ_INT(b.n_segments, g.n_segments);
    CHECK(g.n_segments >= 1);
    int same = 0, total = 0;
    for (int i = 0; i < g.n_segments && i < b.n_segments; i++) {
        struct whisper_segment *x = &g.segments[i], *y = &b.segments[i];
        CHECK_EQ_INT(y->t0, x->t0);
        CHECK_EQ_INT(y->t1, x->t1);
        CHECK_EQ_INT(y->n_tokens, x->n_tokens);
        CHECK_STR(y->text, x->text);
        total += x->n_tokens;
        for (int k = 0; k < x->n_tokens && k < y->n_tokens; k++) {
            int eq = x->tokens[k].id == y->tokens[k].id && x->tokens[k].p == y->tokens[k].p;
            same += eq;
            CHECK_MSG(eq, "segment %d token %d: greedy %d (p %g), one beam %d (p %g)", i, k, x->tokens[k].id,
                      x->tokens[k].p, y->tokens[k].id, y->tokens[k].p);
            if (!eq) break;
        }
    }
    fprintf(stderr, "  one beam vs greedy: %d of %d tokens identical (ids and probabilities)\n", same, total);
    CHECK(total >= 200);
    whisper_result_free(&g);
    whisper_result_free(&b);
}

static double sum_logp(const struct whisper_segment *sg) {
    double s = 0;
    for (int k = 0; k < sg->n_tokens; k++) s += log(sg->tokens[k].p);
    return s;
}

/* Five beams against whisper.cpp's beam search (whisper-cli -bs 5 -nf, with its candidates
 * taken as the 5 likeliest tokens of each beam; see the README for why not stock whisper-cli,
 * which samples them): one segment of 220 tokens (the micro model never emits end-of-text, so
 * the window ends at its token limit), the same tokens and text, token probabilities within
 * 2 % as for greedy (test_whisper.c). At AVX-512 our F16 decoder products sum in another
 * order than whisper.cpp's and on this random-weight model, where hundreds of sequences score
 * within a hair of each other, the beams' ranking flips after token 50 (measured: 50 equal
 * then 208 of 220, scalar and AVX2: all 220); there the tokens must agree to 40 and at 180
 * positions and the winner's mean log-probability be within 0.05 of whisper.cpp's (measured
 * 0.020; greedy's is 0.099 below it, stock whisper-cli's sampled beams' 2.0). */
TEST(beam_5_matches_whisper_cpp) {
    char *js = read_file(REPO_GOLDEN "/asr/synth-whisper-micro-f16.jfk.beam5.cli.json", NULL);
    CHECK_MSG(js != NULL, "missing golden " REPO_GOLDEN "/asr/synth-whisper-micro-f16.jfk.beam5.cli.json (run the tests from the project root)");
    cJSON *gold = js ? cJSON_Parse(js) : NULL;
    free(js);
    CHECK(js == NULL || gold != NULL);
    if (!gold) return;
    cJSON *segs = cJSON_GetObjectItem(gold, "transcription"), *gs = cJSON_GetArrayItem(segs, 0);
    cJSON *gt = cJSON_GetObjectItem(gs, "tokens");
    const char *gtext = cJSON_GetObjectItem(gs, "text")->valuestring;
    int ng = cJSON_GetArraySize(gt);
    CHECK_EQ_INT(cJSON_GetArraySize(segs), 1);
    CHECK_EQ_INT(ng, 220);
    double ref_logp = 0;
    for (int k = 0; k < ng; k++) ref_logp += log(cJSON_GetObjectItem(cJSON_GetArrayItem(gt, k), "p")->valuedouble);
    struct whisper_result g;
    double greedy_logp = transcribe(1, 0, &g) == 0 && g.n_segments == 1 ? sum_logp(&g.segments[0]) : 0;
    if (g.n_segments) whisper_result_free(&g);
    enum cpu_level top = cpu_level();
    for (int lvl = CPU_SCALAR; lvl <= (int)top; lvl++) {
        cpu_set_level((enum cpu_level)lvl);
        int strict = cpu_level() < CPU_AVX512;
        struct whisper_result r;
        if (transcribe(5, 0, &r)) continue;
        CHECK_EQ_INT(r.n_segments, 1);
        if (r.n_segments != 1) { whisper_result_free(&r); continue; }
        struct whisper_segment *sg = &r.segments[0];
        CHECK_EQ_INT(sg->t0, cJSON_GetObjectItem(cJSON_GetObjectItem(gs, "offsets"), "from")->valueint / 10);
        CHECK_EQ_INT(sg->n_tokens, ng);
        int prefix = 0, equal = 0;
        double worst_p = 0;
        for (int k = 0; k < sg->n_tokens && k < ng; k++) {
            cJSON *t = cJSON_GetArrayItem(gt, k);
            int same = sg->tokens[k].id == cJSON_GetObjectItem(t, "id")->valueint;
            if (same && prefix == k) {
                prefix++;
                worst_p = fmax(worst_p, fabs(sg->tokens[k].p / cJSON_GetObjectItem(t, "p")->valuedouble - 1));
            }
            equal += same;
        }
        double logp = sum_logp(sg), dmean = fabs(logp - ref_logp) / ng;
        fprintf(stderr, "  five beams at %-7s vs whisper.cpp: first %d tokens equal, %d of %d positions, probabilities within %.2f %%, "
                "mean log p %.4f (whisper.cpp %.4f, greedy %.4f)\n", cpu_level_name(cpu_level()), prefix, equal, ng, 100 * worst_p,
                logp / ng, ref_logp / ng, greedy_logp / ng);
        CHECK_MSG(worst_p <= 0.02, "token probabilities %.2f %% from whisper.cpp's (tol 2 %%)", 100 * worst_p);
        /* a beam search finds a more likely transcript than greedy decoding */
        CHECK_MSG(logp > greedy_logp, "beam search scored %.3f, greedy %.3f", logp, greedy_logp);
        if (strict) {
            CHECK_EQ_INT(prefix, ng);
            CHECK_MSG(!strcmp(sg->text, gtext), "text differs from whisper.cpp's");
        } else {
            CHECK_MSG(prefix >= 40 && equal >= 180, "only %d leading and %d tokens agree", prefix, equal);
            CHECK_MSG(dmean <= 0.05, "mean log-probability %.4f from whisper.cpp's", dmean);
        }
        whisper_result_free(&r);
    }
    cpu_set_level(top);
    cJSON_Delete(gold);
}

int main(void) {
    struct err e = {{0}};
    g_m = whisper_load(model_path("synth/synth-whisper-micro-f16.bin"), &e);
    if (!g_m || audio_decode_file(model_path("audio/jfk.wav"), &g_x, &g_n, &e)) {
        fprintf(stderr, "setup failed: %s\n", e.msg);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    g_pool = pool_create(2);
    TEST_EXPECT(2);
    RUN(beam_1_equals_greedy);
    RUN(beam_5_matches_whisper_cpp);
    pool_free(g_pool);
    whisper_free(g_m);
    free(g_x);
    return test_summary();
}
