/* Audio decoding: the real jfk.wav, and 44.1 kHz stereo FLAC / OGG / MP3 / Opus copies
 * made with sox, lame and opusenc at test time, must all come out as 11 s of 16 kHz mono.
 * scripts/setup.sh installs those tools: a missing one fails its case. A WAV cut short
 * gives a clear error or exactly its whole samples. */
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
    REQUIRE(sh("%s >/dev/null 2>&1", tool_check) == 0, "'%s' fails: scripts/setup.sh installs it", tool_check);
    const char *out = tmp(name);
    REQUIRE(sh(cmd_fmt, model_path("audio/jfk.wav"), out) == 0, "making %s failed", name);
    struct err e = {{0}};
    float *ref = NULL, *x = NULL;
    size_t nref = 0, n = 0;
    REQUIRE(audio_decode_file(model_path("audio/jfk.wav"), &ref, &nref, &e) == 0, "%s", e.msg);
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
}

/* jfk.wav cut short. Its header is 78 bytes (RIFF, fmt, a 26-byte LIST chunk, then the
 * data chunk's 8 bytes at 70), 16-bit mono 16 kHz samples follow. What libsndfile (and so
 * audio_decode_mem) does with a cut file, pinned: up to 74 bytes (the data chunk's marker
 * and less than one byte of its size) "not a recognised audio file"; 75 to 79 bytes (no
 * whole sample) "the audio file has no samples"; from 80 bytes exactly
 * floor((cut - 78) / 2) samples, equal to the full file's first ones. */
TEST(truncated_wav_gives_an_error_or_its_whole_samples) {
    struct err e = {{0}};
    size_t len = 0, nfull = 0;
    char *wav = read_file(model_path("audio/jfk.wav"), &len);
    REQUIRE(wav != NULL, "cannot read %s", model_path("audio/jfk.wav"));
    float *full = NULL;
    REQUIRE(audio_decode_mem(wav, len, "jfk.wav", &full, &nfull, &e) == 0, "%s", e.msg);
    CHECK_EQ_INT(nfull, (len - 78) / 2);
    const size_t data = 78;
    size_t cuts[200], nc = 0;
    for (size_t c = 0; c < 120; c++) cuts[nc++] = c;
    const size_t more[] = {1000, 1001, 4096 + 78, 100001, len / 2, len - 2, len - 1};
    for (size_t i = 0; i < sizeof more / sizeof more[0]; i++) cuts[nc++] = more[i];
    int bad = 0;
    for (size_t i = 0; i < nc; i++) {
        size_t cut = cuts[i], n = 12345;
        float *x = NULL;
        e.msg[0] = 0;
        int rc = audio_decode_mem(wav, cut, "cut.wav", &x, &n, &e);
        const char *want = cut == 0 ? "cut.wav: empty file" : cut < data - 3 ? "cut.wav: not a recognised audio file"
                           : cut < data + 2 ? "cut.wav: the audio file has no samples" : NULL;
        if (want) {
            if (rc == 0 || x != NULL || n != 0 || strncmp(e.msg, want, strlen(want))) {
                if (bad++ < 5) fprintf(stderr, "  cut %zu: rc %d, %zu samples, '%s' (want '%s')\n", cut, rc, n, e.msg, want);
            }
        } else if (rc != 0 || n != (cut - data) / 2 || memcmp(x, full, n * sizeof *x)) {
            if (bad++ < 5) fprintf(stderr, "  cut %zu: rc %d '%s', %zu samples (want %zu, the full file's first)\n", cut, rc,
                                   e.msg, n, (cut - data) / 2);
        }
        free(x);
    }
    CHECK_EQ_INT(bad, 0);
    free(full);
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
    TEST_EXPECT(9);
    snprintf(g_dir, sizeof g_dir, "/tmp/omni-audio-test-%d", (int)getpid());
    sh("mkdir -p %s", g_dir);
    RUN(jfk_wav);
    RUN(flac_44k_stereo);
    RUN(ogg_44k_stereo);
    RUN(wav_8k_float);
    RUN(mp3_44k_stereo);
    RUN(opus);
    RUN(not_audio);
    RUN(truncated_wav_gives_an_error_or_its_whole_samples);
    RUN(resample_helper);
    sh("rm -rf %s", g_dir);
    return test_summary();
}
