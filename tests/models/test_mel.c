/* Whisper log-mel: frame count as whisper.cpp reports it, value range and clamping,
 * and that a pure tone lights up the mel bin that holds its frequency. */
#include "test.h"

#include "formats/audio_decode.h"
#include "formats/ggml_whisper.h"
#include "models/mel.h"

static struct ggw_file *g_f;

TEST(jfk_frames_and_range) {
    struct err e = {{0}};
    float *x = NULL;
    size_t n = 0;
    CHECK(audio_decode_file(model_path("audio/jfk.wav"), &x, &n, &e) == 0);
    struct mel m;
    CHECK_MSG(mel_compute(x, n, g_f->filters, g_f->n_mel, g_f->n_fft, &m, &e) == 0, "%s", e.msg);
    CHECK_EQ_INT(m.n_len_org, 1099); /* golden mel_frames */
    CHECK_EQ_INT(m.n_len, (176000 + 480000) / 160);
    CHECK_EQ_INT(m.n_mel, 80);
    float mx = -1e9f, mn = 1e9f;
    for (size_t i = 0; i < (size_t)m.n_mel * m.n_len; i++) { mx = fmaxf(mx, m.data[i]); mn = fminf(mn, m.data[i]); }
    /* (log10 + 4) / 4 with an 8-decade clamp: range exactly 2 wide */
    CHECK_NEAR(mx - mn, 2.0, 1e-5);
    /* the padding frames sit on the floor */
    CHECK_NEAR(m.data[m.n_len - 1], mn, 1e-6);
    /* speech frames are louder than the padding */
    double s = 0;
    for (int b = 0; b < 80; b++)
        for (int t = 0; t < m.n_len_org; t++) s += m.data[(size_t)b * m.n_len + t];
    s /= 80.0 * m.n_len_org;
    fprintf(stderr, "  mel: mean over audio %.3f, floor %.3f, max %.3f\n", s, mn, mx);
    CHECK(s > mn + 0.3);
    mel_free(&m);
    free(x);
}

TEST(tone_hits_its_bin) {
    struct err e = {{0}};
    static float x[16000];
    for (int i = 0; i < 16000; i++) x[i] = 0.5f * sinf(2 * 3.14159265f * 1000.0f * i / 16000.0f);
    struct mel m;
    CHECK(mel_compute(x, 16000, g_f->filters, g_f->n_mel, g_f->n_fft, &m, &e) == 0);
    CHECK_EQ_INT(m.n_len_org, 1 + (16000 + 200 - 400) / 160);
    /* the loudest bin at frame 50 must be the filter with most weight at 1000 Hz (FFT bin 25) */
    int best = 0, want = 0;
    for (int b = 1; b < 80; b++) {
        if (m.data[(size_t)b * m.n_len + 50] > m.data[(size_t)best * m.n_len + 50]) best = b;
        if (g_f->filters[b * 201 + 25] > g_f->filters[want * 201 + 25]) want = b;
    }
    CHECK_EQ_INT(best, want);
    mel_free(&m);
}

TEST(short_and_bad_input) {
    struct err e = {{0}};
    float x[3] = {0.1f, -0.1f, 0.2f};
    struct mel m;
    CHECK(mel_compute(x, 3, g_f->filters, g_f->n_mel, g_f->n_fft, &m, &e) == 0);
    CHECK(m.n_len > 0);
    mel_free(&m);
    CHECK(mel_compute(x, 0, g_f->filters, g_f->n_mel, g_f->n_fft, &m, &e) == 0);
    mel_free(&m);
    CHECK(mel_compute(x, 3, g_f->filters, g_f->n_mel, 100, &m, &e) != 0);
}

int main(void) {
    TEST_EXPECT(3);
    struct err e = {{0}};
    g_f = ggw_load(model_path("asr/for-tests-ggml-tiny.bin"), &e);
    if (!g_f) { fprintf(stderr, "%s\n", e.msg); printf("0 passed, 1 failed\n"); return 1; }
    RUN(jfk_frames_and_range);
    RUN(tone_hits_its_bin);
    RUN(short_and_bad_input);
    ggw_free(g_f);
    return test_summary();
}
