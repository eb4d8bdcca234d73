/* Silero VAD against whisper.cpp's golden output on jfk.wav: per-window speech
 * probabilities within 1e-3 and identical speech segments (centiseconds). */
#include "test.h"

#include <cjson/cJSON.h>

#include "formats/audio_decode.h"
#include "models/silero_vad.h"

static cJSON *g_gold;
static struct vad *g_vad;
static float *g_x;
static size_t g_n;

TEST(probs_match_golden) {
    float *p = NULL;
    int np = 0;
    struct err e = {{0}};
    CHECK(vad_probs(g_vad, g_x, g_n, &p, &np, &e) == 0);
    cJSON *ref = cJSON_GetObjectItem(g_gold, "vad_probs");
    CHECK_EQ_INT(np, cJSON_GetArraySize(ref));
    double worst = 0;
    for (int i = 0; i < np && i < cJSON_GetArraySize(ref); i++) {
        double d = fabs(p[i] - cJSON_GetArrayItem(ref, i)->valuedouble);
        if (d > worst) worst = d;
        CHECK_NEAR(p[i], cJSON_GetArrayItem(ref, i)->valuedouble, 1e-3);
    }
    fprintf(stderr, "  vad: %d windows, max |diff| %.2e\n", np, worst);
    free(p);
}

TEST(segments_match_golden) {
    float *p = NULL;
    int np = 0, ns = 0;
    struct err e = {{0}};
    struct vad_segment *s = NULL;
    CHECK(vad_probs(g_vad, g_x, g_n, &p, &np, &e) == 0);
    struct vad_params vp = vad_default_params();
    CHECK(vad_segments(p, np, vad_window(g_vad), &vp, &s, &ns, &e) == 0);
    cJSON *ref = cJSON_GetObjectItem(g_gold, "vad_segments");
    CHECK_EQ_INT(ns, cJSON_GetArraySize(ref));
    for (int i = 0; i < ns && i < cJSON_GetArraySize(ref); i++) {
        cJSON *r = cJSON_GetArrayItem(ref, i);
        CHECK_EQ_INT(vad_samples_to_cs(s[i].start), (long long)cJSON_GetArrayItem(r, 0)->valuedouble);
        CHECK_EQ_INT(vad_samples_to_cs(s[i].end), (long long)cJSON_GetArrayItem(r, 1)->valuedouble);
    }
    free(s);
    free(p);
}

/* Streaming window by window gives the same numbers as the batch call. */
TEST(streaming_equals_batch) {
    float *p = NULL;
    int np = 0;
    struct err e = {{0}};
    CHECK(vad_probs(g_vad, g_x, g_n, &p, &np, &e) == 0);
    vad_reset(g_vad);
    int W = vad_window(g_vad);
    for (int i = 0; i < 40 && i < np; i++) CHECK_NEAR(vad_step(g_vad, g_x + (size_t)i * W, W), p[i], 1e-7);
    free(p);
}

TEST(silence_has_no_segments) {
    float z[16000] = {0};
    float *p = NULL;
    int np = 0, ns = -1;
    struct vad_segment *s = NULL;
    struct err e = {{0}};
    CHECK(vad_probs(g_vad, z, 16000, &p, &np, &e) == 0);
    CHECK_EQ_INT(np, 32);
    for (int i = 0; i < np; i++) CHECK(p[i] < 0.5f);
    struct vad_params vp = vad_default_params();
    CHECK(vad_segments(p, np, 512, &vp, &s, &ns, &e) == 0);
    CHECK_EQ_INT(ns, 0);
    free(s);
    free(p);
}

TEST(bad_model_files) {
    struct err e = {{0}};
    CHECK(vad_load(model_path("asr/for-tests-ggml-tiny.bin"), &e) == NULL);
    CHECK(strstr(e.msg, "not a VAD") != NULL);
    CHECK(vad_load(model_path("audio/jfk.wav"), &e) == NULL);
    CHECK(vad_load("/nonexistent", &e) == NULL);
}

int main(void) {
    TEST_EXPECT(5);
    struct err e = {{0}};
    char *js = read_file(golden_path("asr/synth-whisper-micro-f16.jfk.json"), NULL);
    g_gold = js ? cJSON_Parse(js) : NULL;
    free(js);
    g_vad = vad_load(model_path("vad/for-tests-silero-v6.2.0-ggml.bin"), &e);
    if (!g_gold || !g_vad || audio_decode_file(model_path("audio/jfk.wav"), &g_x, &g_n, &e)) {
        fprintf(stderr, "setup failed: %s\n", e.msg);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    RUN(probs_match_golden);
    RUN(segments_match_golden);
    RUN(streaming_equals_batch);
    RUN(silence_has_no_segments);
    RUN(bad_model_files);
    vad_free(g_vad);
    free(g_x);
    cJSON_Delete(g_gold);
    return test_summary();
}
