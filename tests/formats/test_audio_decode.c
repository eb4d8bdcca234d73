/* Audio decoding: the real jfk.wav, and 44.1 kHz stereo FLAC / OGG / MP3 / Opus copies
 * made with sox, lame and opusenc at test time, must all come out as 11 s of 16 kHz mono. */
#include "test.h"

#include "formats/audio_decode.h"

static char g_dir[64];

static const char *tmp(const char *name) {
    static char b[4][256];
    static int i;
    char *p = b[i++ & 3];
    snprintf(p, 256, "%s/%s", g_dir, name);
    return p;
}

static int sh(const char *fmt, ...) {
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

static double rms(const float *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return n ? sqrt(s / (double)n) : 0;
}

TEST(jfk_wav) {
    struct err e = {{0}};
    float *x = NULL;
    size_t n = 0;
    CHECK_MSG(audio_decode_file(model_path("audio/jfk.wav"), &x, &n, &e) == 0, "%s", e.msg);
    CHECK_EQ_INT(n, 176000);
    float mx = 0;
    for (size_t i = 0; i < n; i++) mx = fmaxf(mx, fabsf(x[i]));
    CHECK(mx > 0.1f && mx <= 1.0f);
    free(x);
}

/* Converts jfk.wav with `cmd` (in: %s wav, out: %s) and checks duration and level. */
static void check_converted(const char *name, const char *tool_check, const char *cmd_fmt, double tol_s) {
    if (sh("%s >/dev/null 2>&1", tool_check) != 0) SKIP("%s not available", tool_check);
    const char *out = tmp(name);
    CHECK(sh(cmd_fmt, model_path("audio/jfk.wav"), out) == 0);
    struct err e = {{0}};
    float *ref = NULL, *x = NULL;
    size_t nref = 0, n = 0;
    audio_decode_file(model_path("audio/jfk.wav"), &ref, &nref, &e);
    CHECK_MSG(audio_decode_file(out, &x, &n, &e) == 0, "%s: %s", name, e.msg);
    CHECK_NEAR((double)n / 16000.0, 11.0, tol_s);
    /* same loudness within 10 %: catches wrong channel mixing or sample format */
    CHECK_NEAR(rms(x, n) / rms(ref, nref), 1.0, 0.1);
    free(x);
    free(ref);
}

TEST(flac_44k_stereo) { check_converted("a.flac", "sox --version", "sox %s -r 44100 -c 2 %s", 0.01); }
TEST(ogg_44k_stereo) { check_converted("a.ogg", "sox --version", "sox %s -r 44100 -c 2 %s", 0.01); }
TEST(wav_8k_float) { check_converted("a.wav", "sox --version", "sox %s -r 8000 -e float %s", 0.01); }
TEST(mp3_44k_stereo) {
    /* MP3 adds encoder delay/padding of a few frames */
    check_converted("a.mp3", "lame --version", "sox %s -r 44100 -c 2 -t wav - | lame --quiet - %s", 0.1);
}
TEST(opus) { check_converted("a.opus", "opusenc --version", "opusenc --quiet %s %s", 0.1); }

TEST(not_audio) {
    struct err e = {{0}};
    float *x = NULL;
    size_t n = 0;
    FILE *f = fopen(tmp("notes.txt"), "w");
    fputs("this is a text file, not audio\n", f);
    fclose(f);
    CHECK(audio_decode_file(tmp("notes.txt"), &x, &n, &e) != 0);
    CHECK(x == NULL && strstr(e.msg, "notes.txt") != NULL);
    CHECK(audio_decode_mem("", 0, "empty", &x, &n, &e) != 0);
    CHECK(audio_decode_file("/nonexistent.wav", &x, &n, &e) != 0);
    /* a truncated WAV header must not crash */
    size_t len;
    char *wav = read_file(model_path("audio/jfk.wav"), &len);
    CHECK(wav != NULL);
    for (size_t cut = 0; wav && cut < 64; cut += 3) {
        if (audio_decode_mem(wav, cut, "cut", &x, &n, &e) == 0) free(x);
    }
    free(wav);
}

TEST(resample_helper) {
    struct err e = {{0}};
    float in[48000 * 2];
    for (int i = 0; i < 48000; i++) in[2 * i] = in[2 * i + 1] = sinf(2 * 3.14159265f * 440.0f * i / 48000.0f);
    size_t n = 0;
    float *y = audio_to_16k_mono(in, 48000, 2, 48000, &n, &e);
    CHECK(y != NULL);
    CHECK_NEAR((double)n, 16000, 2);
    if (y) CHECK_NEAR(rms(y + 1000, 14000), sqrt(0.5), 0.02);
    free(y);
    CHECK(audio_to_16k_mono(in, 10, 0, 48000, &n, &e) == NULL);
}

int main(void) {
    TEST_EXPECT(8);
    snprintf(g_dir, sizeof g_dir, "/tmp/omni-audio-test-%d", (int)getpid());
    sh("mkdir -p %s", g_dir);
    RUN(jfk_wav);
    RUN(flac_44k_stereo);
    RUN(ogg_44k_stereo);
    RUN(wav_8k_float);
    RUN(mp3_44k_stereo);
    RUN(opus);
    RUN(not_audio);
    RUN(resample_helper);
    sh("rm -rf %s", g_dir);
    return test_summary();
}
