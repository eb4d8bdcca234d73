/* The voice layer end to end on espeak-ng: plausible durations and an energy-based
 * speech check (until the Silero VAD check replaces it), distinct and stable presets,
 * speed, language detection and mixed-script runs, sentence splitting, streaming order,
 * request validation. */
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>

#include "runtime/tts.h"
#include "test.h"
#include "formats/audio_decode.h"
#include "models/silero_vad.h"

struct audio {
    int16_t *s;
    size_t n;
    int chunks;
    double t_first, t_last_chunk;
    int stop_after; /* >0: ask to stop after this many chunks */
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int collect(const int16_t *pcm, size_t n, void *ud) {
    struct audio *a = ud;
    if (!a->chunks) a->t_first = now_s();
    a->t_last_chunk = now_s();
    a->chunks++;
    int16_t *s = realloc(a->s, (a->n + n) * sizeof *s);
    if (!s) return 1;
    memcpy(s + a->n, pcm, n * sizeof *pcm);
    a->s = s;
    a->n += n;
    return a->stop_after && a->chunks >= a->stop_after;
}

static int speak(const char *text, const char *voice, const char *lang, float speed, struct audio *a) {
    omni_tts_params r = omni_tts_default_params();
    r.input = text;
    r.voice = voice;
    r.language = lang;
    r.speed = speed;
    struct err e = {{0}};
    memset(a, 0, sizeof *a);
    int rc = omni_tts_speak(&r, collect, a, e.msg, sizeof e.msg);
    if (rc) fprintf(stderr, "  omni_tts_speak: %s\n", e.msg);
    return rc;
}

/* espeak-ng keeps a few oscillator phases (pitch flutter) from one call to the next, so
 * "same text, same samples" holds from the same engine state: each call here runs in a
 * child forked from this process, which is the state a fresh `omni speak` starts from. */
static int speak_fresh(const char *text, const char *voice, const char *lang, float speed, struct audio *a) {
    int fd[2];
    memset(a, 0, sizeof *a);
    if (pipe(fd)) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(fd[0]);
        struct audio c;
        int rc = speak(text, voice, lang, speed, &c);
        if (!rc && write(fd[1], &c.n, sizeof c.n) == (ssize_t)sizeof c.n) {
            size_t off = 0, bytes = c.n * sizeof *c.s;
            for (ssize_t w; off < bytes && (w = write(fd[1], (char *)c.s + off, bytes - off)) > 0;) off += (size_t)w;
        }
        _exit(rc ? 1 : 0);
    }
    close(fd[1]);
    size_t n = 0, off = 0;
    int ok = read(fd[0], &n, sizeof n) == (ssize_t)sizeof n && n < (1u << 26);
    if (ok) {
        a->s = malloc(n * sizeof *a->s + 1);
        for (ssize_t r; a->s && off < n * sizeof *a->s && (r = read(fd[0], (char *)a->s + off, n * sizeof *a->s - off)) > 0;)
            off += (size_t)r;
        a->n = n;
        ok = a->s && off == n * sizeof *a->s;
    }
    close(fd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    return ok && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static double seconds(const struct audio *a) { return (double)a->n / OMNI_TTS_SAMPLE_RATE; }

/* Energy check on 20 ms frames: the share of frames louder than -36 dBFS, and the
 * silence before the first / after the last loud frame. */
struct energy { double voiced_share, lead_s, tail_s; };
static struct energy energy_of(const struct audio *a) {
    const size_t fr = OMNI_TTS_SAMPLE_RATE / 50;
    size_t nf = a->n / fr, loud = 0, first = nf, last = 0;
    for (size_t f = 0; f < nf; f++) {
        double sum = 0;
        for (size_t i = 0; i < fr; i++) { double v = a->s[f * fr + i] / 32768.0; sum += v * v; }
        if (sqrt(sum / fr) > 0.016) {
            loud++;
            if (first == nf) first = f;
            last = f;
        }
    }
    struct energy e = {nf ? (double)loud / nf : 0, first * 0.02, nf ? (nf - 1 - last) * 0.02 : 0};
    return e;
}

/* Mean F0 by autocorrelation over loud 40 ms frames (60..400 Hz), enough to tell voices apart. */
static double mean_f0(const struct audio *a) {
    const int fr = OMNI_TTS_SAMPLE_RATE / 25, lo = OMNI_TTS_SAMPLE_RATE / 400, hi = OMNI_TTS_SAMPLE_RATE / 60;
    double sum = 0;
    int cnt = 0;
    for (size_t off = 0; off + (size_t)(fr + hi) < a->n; off += (size_t)fr) {
        const int16_t *x = a->s + off;
        double e0 = 0;
        for (int i = 0; i < fr; i++) e0 += (double)x[i] * x[i];
        if (sqrt(e0 / fr) < 0.05 * 32768) continue;
        double best = 0;
        int lag = 0;
        for (int L = lo; L <= hi; L++) {
            double c = 0, e1 = 0;
            for (int i = 0; i < fr; i++) { c += (double)x[i] * x[i + L]; e1 += (double)x[i + L] * x[i + L]; }
            c /= sqrt(e0 * e1) + 1e-9;
            if (c > best) { best = c; lag = L; }
        }
        if (best > 0.6) { sum += (double)OMNI_TTS_SAMPLE_RATE / lag; cnt++; }
    }
    return cnt ? sum / cnt : 0;
}

TEST(english_sentence_sounds_like_speech) {
    struct audio a;
    const char *text = "The quick brown fox jumps over the lazy dog near the river bank.";
    CHECK(speak(text, NULL, "en", 1.0f, &a) == 0);
    double d = seconds(&a);
    CHECK_MSG(d > 12 * 0.3 && d < 12 * 1.2, "12 words took %.2f s", d);
    struct energy en = energy_of(&a);
    CHECK_MSG(en.voiced_share > 0.5, "only %.0f%% of frames carry speech energy", en.voiced_share * 100);
    CHECK_MSG(en.lead_s < 0.3 && en.tail_s < 0.8, "silence %.2f s before, %.2f s after", en.lead_s, en.tail_s);
    free(a.s);
}

TEST(korean_sentence_sounds_like_speech) {
    struct audio a;
    const char *text = "안녕하세요. 오늘 날씨가 정말 좋네요. 같이 산책하러 갈까요?";
    CHECK(speak(text, NULL, "ko", 1.0f, &a) == 0);
    double d = seconds(&a); /* 7 words, 22 syllables */
    CHECK_MSG(d > 7 * 0.3 && d < 7 * 1.2, "7 Korean words took %.2f s", d);
    struct energy en = energy_of(&a);
    CHECK_MSG(en.voiced_share > 0.5, "only %.0f%% of frames carry speech energy", en.voiced_share * 100);
    CHECK_MSG(en.lead_s < 0.3 && en.tail_s < 0.8, "silence %.2f s before, %.2f s after", en.lead_s, en.tail_s);
    /* detected, not requested: the same audio */
    struct audio a0, b;
    CHECK(speak_fresh(text, NULL, "ko", 1.0f, &a0) == 0);
    CHECK(speak_fresh(text, NULL, NULL, 1.0f, &b) == 0);
    CHECK(a0.n == b.n && a0.n && !memcmp(a0.s, b.s, a0.n * sizeof *a0.s));
    free(a0.s);
    /* and not what English rules would make of it */
    struct audio c;
    CHECK(speak("Hello, nice weather today. Shall we go for a walk?", NULL, "en", 1.0f, &c) == 0);
    CHECK(c.n != a.n);
    free(a.s);
    free(b.s);
    free(c.s);
}

/* The project's own Silero VAD (the same one the voice loop uses) must hear the
 * synthesized audio as speech: most of it inside speech segments. Silence of the same
 * length is the control, so the check can fail. */
static double silero_speech_share(const struct audio *a, int *n_segments) {
    struct err e = {{0}};
    struct vad *v = vad_load(model_path("vad/for-tests-silero-v6.2.0-ggml.bin"), &e);
    if (!v) { fprintf(stderr, "  vad: %s\n", e.msg); return -1; }
    float *f = malloc(a->n * sizeof *f);
    for (size_t i = 0; i < a->n; i++) f[i] = a->s[i] / 32768.0f;
    size_t n16 = 0;
    float *x = audio_to_16k_mono(f, a->n, 1, OMNI_TTS_SAMPLE_RATE, &n16, &e);
    float *probs = NULL;
    int n_probs = 0, n_segs = 0;
    struct vad_segment *segs = NULL;
    double share = -1;
    struct vad_params vp = vad_default_params();
    if (x && !vad_probs(v, x, n16, &probs, &n_probs, &e) &&
        !vad_segments(probs, n_probs, vad_window(v), &vp, &segs, &n_segs, &e)) {
        int64_t voiced = 0;
        for (int i = 0; i < n_segs; i++) voiced += segs[i].end - segs[i].start;
        share = n16 ? (double)voiced / (double)n16 : 0;
    }
    *n_segments = n_segs;
    free(segs); free(probs); free(x); free(f);
    vad_free(v);
    return share;
}

TEST(silero_vad_hears_english_and_korean_as_speech) {
    const char *texts[][2] = {{"en", "The quick brown fox jumps over the lazy dog near the river bank."},
                              {"ko", "안녕하세요. 오늘 날씨가 정말 좋네요. 같이 산책하러 갈까요?"}};
    for (int k = 0; k < 2; k++) {
        struct audio a;
        CHECK(speak(texts[k][1], NULL, texts[k][0], 1.0f, &a) == 0);
        int n_segs = 0;
        double share = silero_speech_share(&a, &n_segs);
        CHECK_MSG(n_segs >= 1 && share > 0.6, "%s: Silero hears speech in %.0f%% of %.2f s (%d segments)",
                  texts[k][0], share * 100, seconds(&a), n_segs);
        /* the control: the same length of silence holds no speech */
        memset(a.s, 0, a.n * sizeof *a.s);
        share = silero_speech_share(&a, &n_segs);
        CHECK_MSG(n_segs == 0 && share == 0, "%s: silence gave %d segments", texts[k][0], n_segs);
        free(a.s);
    }
}

TEST(presets_are_distinct_and_stable) {
    const char *text = "Hello, how are you doing today?";
    int np = omni_tts_preset_count();
    CHECK_EQ_INT(np, 11);
    size_t n[16];
    double f0[16];
    for (int i = 0; i < np && i < 16; i++) {
        struct audio a, b;
        CHECK(speak_fresh(text, omni_tts_preset_name(i), NULL, 1.0f, &a) == 0);
        CHECK(speak_fresh(text, omni_tts_preset_name(i), NULL, 1.0f, &b) == 0);
        CHECK_MSG(a.n == b.n && a.n && !memcmp(a.s, b.s, a.n * sizeof *a.s), "%s is not stable", omni_tts_preset_name(i));
        /* and later calls in one process stay within a few pitch periods of it */
        struct audio c;
        CHECK(speak(text, omni_tts_preset_name(i), NULL, 1.0f, &c) == 0);
        CHECK_MSG(fabs((double)c.n - (double)a.n) < 0.01 * a.n, "%s: %zu then %zu samples", omni_tts_preset_name(i), a.n, c.n);
        free(c.s);
        n[i] = a.n;
        f0[i] = mean_f0(&a);
        CHECK_MSG(f0[i] > 60 && f0[i] < 400, "%s: mean F0 %.0f Hz", omni_tts_preset_name(i), f0[i]);
        free(a.s);
        free(b.s);
    }
    for (int i = 0; i < np; i++)
        for (int j = i + 1; j < np; j++) {
            double dn = fabs((double)n[i] - (double)n[j]) / (double)n[i], df = fabs(f0[i] - f0[j]) / f0[i];
            CHECK_MSG(dn > 0.01 || df > 0.03, "%s and %s sound alike (%zu vs %zu samples, %.0f vs %.0f Hz)",
                      omni_tts_preset_name(i), omni_tts_preset_name(j), n[i], n[j], f0[i], f0[j]);
        }
}

TEST(speed_scales_duration) {
    const char *text = "Speaking faster should make this sentence take about half as long.";
    struct audio a1, a2, a05;
    CHECK(speak(text, "alloy", "en", 1.0f, &a1) == 0);
    CHECK(speak(text, "alloy", "en", 2.0f, &a2) == 0);
    CHECK(speak(text, "alloy", "en", 0.5f, &a05) == 0);
    double r2 = (double)a2.n / a1.n, r05 = (double)a05.n / a1.n;
    CHECK_MSG(r2 > 0.4 && r2 < 0.65, "speed 2 gives %.2f of the duration", r2);
    CHECK_MSG(r05 > 1.5 && r05 < 2.5, "speed 0.5 gives %.2f of the duration", r05);
    struct audio q, f;
    CHECK(speak("Slow.", "alloy", "en", 0.25f, &q) == 0);
    CHECK(speak("Slow.", "alloy", "en", 4.0f, &f) == 0);
    CHECK(q.n > f.n);
    free(a1.s); free(a2.s); free(a05.s); free(q.s); free(f.s);
}

struct runs_seen { char lang[8][8]; char text[8][64]; int n; };
static void see_run(const char *lang, const char *s, size_t n, void *ud) {
    struct runs_seen *r = ud;
    if (r->n == 8) return;
    snprintf(r->lang[r->n], 8, "%s", lang);
    snprintf(r->text[r->n], 64, "%.*s", (int)n, s);
    r->n++;
}

TEST(detects_language_per_run) {
    CHECK_STR(tts_detect_lang("안녕하세요"), "ko");
    CHECK_STR(tts_detect_lang("こんにちは、世界"), "ja");
    CHECK_STR(tts_detect_lang("日本語のテキスト"), "ja");
    CHECK_STR(tts_detect_lang("你好世界"), "zh");
    CHECK_STR(tts_detect_lang("Привет, мир"), "ru");
    CHECK_STR(tts_detect_lang("Hello, world 123"), "en");
    CHECK_STR(tts_detect_lang("The word 사랑 means love"), "ko");

    struct runs_seen r = {.n = 0};
    const char *t = "오늘 meeting은 3시에 있어요";
    CHECK_EQ_INT(tts_split_runs(t, strlen(t), NULL, see_run, &r), 3);
    CHECK_STR(r.lang[0], "ko"); CHECK_STR(r.text[0], "오늘 ");
    CHECK_STR(r.lang[1], "en"); CHECK_STR(r.text[1], "meeting");
    CHECK_STR(r.lang[2], "ko"); CHECK_STR(r.text[2], "은 3시에 있어요");

    struct runs_seen r2 = {.n = 0};
    const char *t2 = "42 is the answer, 정답";
    CHECK_EQ_INT(tts_split_runs(t2, strlen(t2), "fr", see_run, &r2), 2);
    CHECK_STR(r2.lang[0], "fr"); CHECK_STR(r2.text[0], "42 is the answer, ");
    CHECK_STR(r2.lang[1], "ko");

    /* mixed text is spoken: longer than either part alone */
    struct audio mix, ko;
    CHECK(speak("오늘 meeting은 세시에 있어요", NULL, NULL, 1.0f, &mix) == 0);
    CHECK(speak("오늘 은 세시에 있어요", NULL, NULL, 1.0f, &ko) == 0);
    CHECK(mix.n > ko.n);
    free(mix.s);
    free(ko.s);
}

struct sent_seen { char s[16][96]; int n; };
static void see_sentence(const char *s, size_t n, void *ud) {
    struct sent_seen *r = ud;
    if (r->n < 16) snprintf(r->s[r->n++], 96, "%.*s", (int)n, s);
}

TEST(splits_sentences) {
    struct sent_seen r = {.n = 0};
    tts_split_sentences("Hello Mr. Smith. It costs 3.14 dollars!  Really?\nJ. R. R. Tolkien wrote it... "
                        "네. 좋아요。次です！ e.g. this one", see_sentence, &r);
    CHECK_EQ_INT(r.n, 8);
    CHECK_STR(r.s[0], "Hello Mr. Smith.");
    CHECK_STR(r.s[1], "It costs 3.14 dollars!");
    CHECK_STR(r.s[2], "Really?");
    CHECK_STR(r.s[3], "J. R. R. Tolkien wrote it...");
    CHECK_STR(r.s[4], "네.");
    CHECK_STR(r.s[5], "좋아요。");
    CHECK_STR(r.s[6], "次です！");
    CHECK_STR(r.s[7], "e.g. this one");
    struct sent_seen none = {.n = 0};
    CHECK_EQ_INT(tts_split_sentences("   \n\n  ", see_sentence, &none), 0);
    /* a long run-on sentence still comes out in pieces */
    char longtext[2000] = "";
    for (int i = 0; i < 40; i++) strcat(longtext, "and then another thing happened, ");
    struct sent_seen l = {.n = 0};
    CHECK(tts_split_sentences(longtext, see_sentence, &l) > 2);
}

TEST(streams_sentence_by_sentence) {
    char text[2048] = "";
    for (int i = 0; i < 10; i++) {
        char s[128];
        snprintf(s, sizeof s, "This is sentence number %d of the streaming test. ", i + 1);
        strcat(text, s);
    }
    struct audio a;
    double t0 = now_s();
    CHECK(speak(text, "nova", NULL, 1.0f, &a) == 0);
    double t_end = now_s();
    CHECK_MSG(a.chunks >= 10, "%d chunks for 10 sentences", a.chunks);
    CHECK(a.t_first >= t0 && a.t_first < a.t_last_chunk && a.t_last_chunk <= t_end);
    fprintf(stderr, "  first audio after %.1f ms, all %d chunks after %.1f ms (%.1f s of audio)\n",
            (a.t_first - t0) * 1e3, a.chunks, (t_end - t0) * 1e3, seconds(&a));
    free(a.s);
    /* the consumer can stop it (client gone, barge-in) */
    omni_tts_params r = omni_tts_default_params();
    r.input = text;
    struct audio b = {.stop_after = 2};
    struct err e = {{0}};
    CHECK(omni_tts_speak(&r, collect, &b, e.msg, sizeof e.msg) != 0);
    CHECK_EQ_INT(b.chunks, 2);
    free(b.s);
}

TEST(rejects_bad_requests) {
    omni_tts_params r = omni_tts_default_params();
    struct err e = {{0}};
    r.input = "";
    CHECK(omni_tts_validate(&r, e.msg, sizeof e.msg) != 0 && strstr(e.msg, "empty"));
    r.input = "  \n\t ";
    CHECK(omni_tts_validate(&r, e.msg, sizeof e.msg) != 0 && strstr(e.msg, "empty"));
    char *big = malloc(OMNI_TTS_MAX_INPUT_CHARS + 2);
    memset(big, 'a', OMNI_TTS_MAX_INPUT_CHARS + 1);
    big[OMNI_TTS_MAX_INPUT_CHARS + 1] = 0;
    r.input = big;
    CHECK(omni_tts_validate(&r, e.msg, sizeof e.msg) != 0 && strstr(e.msg, "too long"));
    big[OMNI_TTS_MAX_INPUT_CHARS] = 0;
    CHECK(omni_tts_validate(&r, e.msg, sizeof e.msg) == 0);
    free(big);
    r.input = "bad \xff utf8";
    CHECK(omni_tts_validate(&r, e.msg, sizeof e.msg) != 0 && strstr(e.msg, "UTF-8"));
    r.input = "hello";
    r.voice = "robot9000";
    CHECK(omni_tts_validate(&r, e.msg, sizeof e.msg) != 0 && strstr(e.msg, "alloy") && strstr(e.msg, "verse"));
    r.voice = "SHIMMER";
    CHECK(omni_tts_validate(&r, e.msg, sizeof e.msg) == 0);
    r.voice = "klatt"; /* an espeak variant */
    CHECK(omni_tts_validate(&r, e.msg, sizeof e.msg) == 0);
    r.voice = NULL;
    r.language = "xx-nope";
    CHECK(omni_tts_validate(&r, e.msg, sizeof e.msg) != 0 && strstr(e.msg, "ko"));
    r.language = "ko";
    r.speed = 4.5f;
    CHECK(omni_tts_validate(&r, e.msg, sizeof e.msg) != 0 && strstr(e.msg, "0.25"));
    r.speed = 0.1f;
    CHECK(omni_tts_validate(&r, e.msg, sizeof e.msg) != 0);
}

TEST(lists_voices_and_languages) {
    char *j = omni_tts_voices_json();
    CHECK(j != NULL);
    if (!j) return;
    CHECK(strstr(j, "\"id\":\"alloy\"") && strstr(j, "\"id\":\"verse\""));
    CHECK(strstr(j, "\"code\":\"ko\"") && strstr(j, "\"code\":\"en-us\""));
    free(j);
}

int main(void) {
    TEST_EXPECT(10);
    RUN(english_sentence_sounds_like_speech);
    RUN(korean_sentence_sounds_like_speech);
    RUN(silero_vad_hears_english_and_korean_as_speech);
    RUN(presets_are_distinct_and_stable);
    RUN(speed_scales_duration);
    RUN(detects_language_per_run);
    RUN(splits_sentences);
    RUN(streams_sentence_by_sentence);
    RUN(rejects_bad_requests);
    RUN(lists_voices_and_languages);
    return test_summary();
}
