/* The Qwen3-TTS pipeline on a random-weight pair from synth_tts_write: it loads, speaks
 * English and Korean, knows the built-in speakers and languages, refuses unknown ones
 * with a message, stops when the listener asks, and the codec decoder streams: the same
 * text decoded one frame at a time, 5 at a time, in whole windows or in growing pieces
 * (1, 2, then 3 frames: how the voice loop streams) gives the same codes and the same
 * samples; an f16 pair speaks too; a style instruction changes the codes where the model
 * takes one. (Equality with llama-tts is tests/e2e/test_eval_tts.sh.) */
#include <unistd.h>

#include "test.h"
#include "models/synth_tts.h"
#include "tts/qwen3tts.h"

static char g_talker[256], g_mmproj[256];

struct got { int frames, calls, stop_after; size_t n; int32_t codes[64 * Q3TTS_CODES]; float *pcm; };

static int sink(void *ud, const int32_t *codes, int n_frames, const float *pcm, size_t n) {
    struct got *g = ud;
    for (int i = 0; i < n_frames * Q3TTS_CODES && g->frames * Q3TTS_CODES + i < 64 * Q3TTS_CODES; i++)
        g->codes[g->frames * Q3TTS_CODES + i] = codes[i];
    float *p = realloc(g->pcm, sizeof *p * (g->n + n));
    if (!p) return 1;
    g->pcm = p;
    memcpy(g->pcm + g->n, pcm, sizeof *p * n);
    g->n += n, g->frames += n_frames, g->calls++;
    return g->stop_after && g->calls >= g->stop_after;
}

static struct q3tts *load(void) {
    struct err e = {{0}};
    struct q3tts *t = q3tts_load(g_talker, g_mmproj, 2, &e);
    if (!t) fprintf(stderr, "  load: %s\n", e.msg);
    return t;
}

static int speak_first(struct q3tts *t, const char *text, const char *lang, const char *voice, int max, int chunk,
                       int first, struct got *g) {
    struct err e = {{0}};
    struct q3tts_opts o = {lang, voice, max, chunk, first, NULL};
    memset(g, 0, sizeof *g);
    int rc = q3tts_synthesize(t, text, strlen(text), &o, sink, g, &e);
    if (rc) fprintf(stderr, "  synthesize: %s\n", e.msg);
    return rc;
}

static int speak(struct q3tts *t, const char *text, const char *lang, const char *voice, int max, int chunk, struct got *g) {
    return speak_first(t, text, lang, voice, max, chunk, 0, g);
}

TEST(speaks_and_streams) {
    struct q3tts *t = load();
    REQUIRE(t, "the synthesized pair must load");
    struct got a, b, c, d;
    REQUIRE(!speak(t, "Hello world, this is a test.", "en", NULL, 12, 0, &a), "synthesis");
    CHECK(a.frames >= 1 && a.frames <= 12);
    CHECK_EQ_INT(a.n, (size_t)a.frames * 1920);
    float mx = 0;
    int bad = 0;
    for (size_t i = 0; i < a.n; i++) {
        if (!(a.pcm[i] >= -1 && a.pcm[i] <= 1)) bad++;
        if (fabsf(a.pcm[i]) > mx) mx = fabsf(a.pcm[i]);
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(mx > 1e-3);  /* not silence */
    for (int f = 0; f < a.frames; f++) CHECK(a.codes[f * Q3TTS_CODES] >= 0 && a.codes[f * Q3TTS_CODES] < 2048);
    REQUIRE(!speak(t, "Hello world, this is a test.", "en", NULL, 12, 1, &b), "synthesis, frame by frame");
    REQUIRE(!speak(t, "Hello world, this is a test.", "english", NULL, 12, 5, &c), "synthesis, 5 frames at a time");
    CHECK_EQ_INT(b.frames, a.frames);
    CHECK_EQ_INT(c.frames, a.frames);
    CHECK_EQ_INT(b.calls, a.frames);
    CHECK(!memcmp(a.codes, b.codes, sizeof(int32_t) * (size_t)a.frames * Q3TTS_CODES));
    CHECK(!memcmp(a.codes, c.codes, sizeof(int32_t) * (size_t)a.frames * Q3TTS_CODES));
    double d1 = 0, d2 = 0;
    for (size_t i = 0; i < a.n && i < b.n && i < c.n; i++) {
        if (fabs(a.pcm[i] - b.pcm[i]) > d1) d1 = fabs(a.pcm[i] - b.pcm[i]);
        if (fabs(a.pcm[i] - c.pcm[i]) > d2) d2 = fabs(a.pcm[i] - c.pcm[i]);
    }
    CHECK_NEAR(d1, 0, 1e-5);
    CHECK_NEAR(d2, 0, 1e-5);
    /* growing pieces: 1 frame first, then 2, then 3 */
    REQUIRE(!speak_first(t, "Hello world, this is a test.", "en", NULL, 12, 3, 1, &d), "synthesis, 1 frame first");
    CHECK_EQ_INT(d.frames, a.frames);
    CHECK(!memcmp(a.codes, d.codes, sizeof(int32_t) * (size_t)a.frames * Q3TTS_CODES));
    if (a.frames >= 6) CHECK_EQ_INT(d.calls, 2 + (a.frames - 3 + 2) / 3);
    double d3 = 0;
    for (size_t i = 0; i < a.n && i < d.n; i++)
        if (fabs(a.pcm[i] - d.pcm[i]) > d3) d3 = fabs(a.pcm[i] - d.pcm[i]);
    CHECK_NEAR(d3, 0, 1e-5);
    free(a.pcm), free(b.pcm), free(c.pcm), free(d.pcm);
    q3tts_free(t);
}

TEST(korean_voices_and_languages) {
    struct q3tts *t = load();
    REQUIRE(t, "the synthesized pair must load");
    CHECK_EQ_INT(q3tts_n_voices(t), 9);
    int sohee = 0;
    for (int i = 0; i < q3tts_n_voices(t); i++) sohee |= !strcmp(q3tts_voice_name(t, i), "sohee");
    CHECK(sohee);
    CHECK(q3tts_has_lang(t, "ko") && q3tts_has_lang(t, "Korean") && q3tts_has_lang(t, "ja"));
    CHECK(!q3tts_has_lang(t, "xx"));
    struct got a, b;
    REQUIRE(!speak(t, "안녕하세요. 만나서 반가워요.", "ko", NULL, 6, 0, &a), "Korean");
    CHECK(a.frames >= 1);
    REQUIRE(!speak(t, "안녕하세요. 만나서 반가워요.", "ko", "Sohee", 6, 0, &b), "Korean with a built-in speaker");
    CHECK(b.frames >= 1);
    int same = a.frames == b.frames && !memcmp(a.codes, b.codes, sizeof(int32_t) * (size_t)a.frames * Q3TTS_CODES);
    CHECK_MSG(!same, "a speaker row should change the codes");
    free(a.pcm), free(b.pcm);
    q3tts_free(t);
}

TEST(refuses_and_stops) {
    struct q3tts *t = load();
    REQUIRE(t, "the synthesized pair must load");
    struct err e = {{0}};
    struct q3tts_opts o = {"xx", NULL, 4, 0, 0, NULL};
    struct got g = {0};
    CHECK(q3tts_synthesize(t, "hi", 2, &o, sink, &g, &e) == -1 && strstr(e.msg, "language"));
    o.lang = "en", o.voice = "nobody";
    CHECK(q3tts_synthesize(t, "hi", 2, &o, sink, &g, &e) == -1 && strstr(e.msg, "voice"));
    free(g.pcm);
    struct got s = {0};
    s.stop_after = 2;
    struct q3tts_opts o2 = {"en", NULL, 12, 1, 0, NULL};
    CHECK(q3tts_synthesize(t, "Stop early, please.", 19, &o2, sink, &s, &e) == 0);
    CHECK(s.calls <= 2);
    free(s.pcm);
    q3tts_free(t);
    /* files that are not a Qwen3-TTS pair */
    CHECK(q3tts_load(g_mmproj, g_mmproj, 1, &e) == NULL);
    CHECK(q3tts_load(g_talker, g_talker, 1, &e) == NULL && strstr(e.msg, "mmproj"));
}

/* A style instruction: its rows go ahead of the prompt on a model that takes one (the tiny
 * pair has built-in speakers, like CustomVoice); "" is none; the rule for which models do. */
TEST(instructions) {
    struct q3tts *t = load();
    REQUIRE(t, "the synthesized pair must load");
    CHECK(q3tts_takes_instructions(t));
    struct err e = {{0}};
    struct got a = {0}, b = {0}, c = {0};
    struct q3tts_opts o = {"en", "ryan", 8, 0, 0, NULL};
    CHECK(q3tts_synthesize(t, "Good morning to you.", 20, &o, sink, &a, &e) == 0);
    o.instructions = "Speak slowly and warmly.";
    CHECK(q3tts_synthesize(t, "Good morning to you.", 20, &o, sink, &b, &e) == 0);
    o.instructions = "";
    CHECK(q3tts_synthesize(t, "Good morning to you.", 20, &o, sink, &c, &e) == 0);
    int same_ab = a.frames == b.frames && !memcmp(a.codes, b.codes, sizeof(int32_t) * (size_t)a.frames * Q3TTS_CODES);
    CHECK_MSG(!same_ab, "an instruction should change the codes");
    CHECK(c.frames == a.frames && !memcmp(a.codes, c.codes, sizeof(int32_t) * (size_t)a.frames * Q3TTS_CODES));
    free(a.pcm), free(b.pcm), free(c.pcm);
    q3tts_free(t);
    /* 1.7B CustomVoice and VoiceDesign take them; Base and every 0.6B do not */
    CHECK(q3tts_instruct_rule(2048, 9, "Qwen3 TTS 12Hz 1.7B CustomVoice"));
    CHECK(q3tts_instruct_rule(2048, 0, "Qwen3-TTS-12Hz-1.7B-VoiceDesign"));
    CHECK(!q3tts_instruct_rule(2048, 0, "Qwen3 TTS 12Hz 1.7B Base"));
    CHECK(!q3tts_instruct_rule(1024, 9, "Qwen3 TTS 12Hz 0.6B CustomVoice"));
    CHECK(!q3tts_instruct_rule(2048, 0, NULL));
}

/* the largest |sample| */
static float peak(const struct got *g) {
    float mx = 0;
    for (size_t i = 0; i < g->n; i++) mx = fabsf(g->pcm[i]) > mx ? fabsf(g->pcm[i]) : mx;
    return mx;
}

/* --type f16 (the converter's --outtype f16): the same pipeline on F16 matrices */
TEST(f16_pair_speaks) {
    char talker[256], mmproj[256];
    snprintf(talker, sizeof talker, "/tmp/omni-test-q3tts-%d-talker16.gguf", (int)getpid());
    snprintf(mmproj, sizeof mmproj, "/tmp/omni-test-q3tts-%d-mmproj16.gguf", (int)getpid());
    struct err e = {{0}};
    REQUIRE(!synth_tts_write(synth_tts_find_shape("tiny-qwen3tts"), "f16", 1, talker, mmproj, &e), "%s", e.msg);
    CHECK(synth_tts_write(synth_tts_find_shape("tiny-qwen3tts"), "q4_k", 1, talker, mmproj, &e) == -1 &&
          strstr(e.msg, "q8_0"));
    struct q3tts *t = q3tts_load(talker, mmproj, 2, &e);
    unlink(talker), unlink(mmproj);
    REQUIRE(t, "%s", e.msg);
    struct got a;
    REQUIRE(!speak(t, "Hello world.", "en", NULL, 6, 0, &a), "synthesis");
    CHECK(a.frames >= 1 && a.n == (size_t)a.frames * 1920);
    CHECK(peak(&a) > 1e-3 && peak(&a) <= 1);
    free(a.pcm);
    q3tts_free(t);
    CHECK(synth_tts_find_shape("qwen3tts-0.6b") && synth_tts_find_shape("qwen3tts-1.7b"));
}

/* Quantized weights: a Q8_0 pair as written (--type q8_0), and the code predictor requantized
 * at load to Q8_0 or Q4_0 (q3tts_load_quant), both still give a waveform; "none" is the file's own path,
 * bit for bit; an unknown type is refused. */
TEST(quantized_weights_speak) {
    char talker[256], mmproj[256];
    snprintf(talker, sizeof talker, "/tmp/omni-test-q3tts-%d-talker8.gguf", (int)getpid());
    snprintf(mmproj, sizeof mmproj, "/tmp/omni-test-q3tts-%d-mmproj8.gguf", (int)getpid());
    struct err e = {{0}};
    REQUIRE(!synth_tts_write(synth_tts_find_shape("tiny-qwen3tts"), "q8_0", 1, talker, mmproj, &e), "%s", e.msg);
    struct q3tts *t = q3tts_load(talker, mmproj, 2, &e);
    unlink(talker), unlink(mmproj);
    REQUIRE(t, "%s", e.msg);
    struct got a;
    REQUIRE(!speak(t, "Hello world.", "en", NULL, 6, 0, &a), "synthesis");
    CHECK(a.frames >= 1 && a.n == (size_t)a.frames * 1920);
    CHECK(peak(&a) > 1e-3 && peak(&a) <= 1);
    free(a.pcm);
    q3tts_free(t);

    struct q3tts *f = q3tts_load(g_talker, g_mmproj, 2, &e), *n = q3tts_load_quant(g_talker, g_mmproj, 2, "none", &e),
                 *q = q3tts_load_quant(g_talker, g_mmproj, 2, "q8_0", &e);
    REQUIRE(f && n && q, "%s", e.msg);
    struct got gf, gn, gq;
    REQUIRE(!speak(f, "Hello world.", "en", NULL, 6, 0, &gf) && !speak(n, "Hello world.", "en", NULL, 6, 0, &gn) &&
                !speak(q, "Hello world.", "en", NULL, 6, 0, &gq),
            "synthesis");
    CHECK(gf.frames == gn.frames && gf.n == gn.n && !memcmp(gf.codes, gn.codes, sizeof(int32_t) * (size_t)gf.frames * Q3TTS_CODES) &&
          !memcmp(gf.pcm, gn.pcm, sizeof(float) * gf.n));
    CHECK(gq.frames >= 1 && gq.n == (size_t)gq.frames * 1920 && peak(&gq) > 1e-3 && peak(&gq) <= 1);
    free(gf.pcm), free(gn.pcm), free(gq.pcm);
    q3tts_free(f), q3tts_free(n), q3tts_free(q);
    struct q3tts *q4 = q3tts_load_quant(g_talker, g_mmproj, 2, "q4_0", &e);
    REQUIRE(q4, "%s", e.msg);
    REQUIRE(!speak(q4, "Hello world.", "en", NULL, 6, 0, &gq), "synthesis");
    CHECK(gq.frames >= 1 && gq.n == (size_t)gq.frames * 1920 && peak(&gq) > 1e-3 && peak(&gq) <= 1);
    free(gq.pcm);
    q3tts_free(q4);
    CHECK(q3tts_load_quant(g_talker, g_mmproj, 1, "q3_k", &e) == NULL && strstr(e.msg, "q8_0"));
}

int main(void) {
    TEST_EXPECT(6);
    snprintf(g_talker, sizeof g_talker, "/tmp/omni-test-q3tts-%d-talker.gguf", (int)getpid());
    snprintf(g_mmproj, sizeof g_mmproj, "/tmp/omni-test-q3tts-%d-mmproj.gguf", (int)getpid());
    struct err e = {{0}};
    if (synth_tts_write(synth_tts_find_shape("tiny-qwen3tts"), "f32", 1, g_talker, g_mmproj, &e)) {
        fprintf(stderr, "synth: %s\n", e.msg);
        return 1;
    }
    RUN(speaks_and_streams);
    RUN(korean_voices_and_languages);
    RUN(refuses_and_stops);
    RUN(f16_pair_speaks);
    RUN(instructions);
    RUN(quantized_weights_speak);
    unlink(g_talker), unlink(g_mmproj);
    return test_summary();
}
