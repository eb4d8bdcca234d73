/* Speech in through the public API (omni_asr_*, omni_vad_*, omni_audio_*) on jfk.wav
 * with the synth Whisper micro model and the real Silero VAD: the public results equal
 * the model layer's own (segments, tokens, text, VAD numbers), words stay inside their
 * segment and spell the transcript, audio survives an encode/decode round trip, and bad
 * input gives messages, not crashes. */
#include "test.h"

#include <stdint.h>

#include "core/pool.h"
#include "models/silero_vad.h"
#include "models/whisper.h"
#include "omni.h"

#define WHISPER "synth/synth-whisper-micro-f16.bin"
#define VAD "vad/for-tests-silero-v6.2.0-ggml.bin"
#define JFK "audio/jfk.wav"

/* Quick decoding: greedy, no hotter retries, a few tokens per window. */
static omni_asr_params quick(void) {
    omni_asr_params p = omni_asr_default_params();
    p.beam_size = 1;
    p.temperature_inc = 0;
    p.max_tokens = 24;
    return p;
}

struct bytes { uint8_t *p; size_t n, cap; };
static int keep_bytes(const void *b, size_t n, void *ud) {
    struct bytes *o = ud;
    if (o->n + n > o->cap) {
        size_t cap = (o->n + n) * 2;
        uint8_t *q = realloc(o->p, cap);
        if (!q) return 1;
        o->p = q;
        o->cap = cap;
    }
    memcpy(o->p + o->n, b, n);
    o->n += n;
    return 0;
}

TEST(audio_encode_decode_round_trip) {
    char err[512];
    omni_audio_format f;
    CHECK(omni_audio_format_parse("flac", &f, err, sizeof err) == 0 && f == OMNI_AUDIO_FLAC);
    CHECK(omni_audio_format_parse("aiff", &f, err, sizeof err) == -1 && strstr(err, "mp3"));
    CHECK(omni_audio_format_from_path("out.ogg", &f) == 0 && f == OMNI_AUDIO_OPUS);
    CHECK(omni_audio_format_from_path("out.txt", &f) == -1);
    CHECK_STR(omni_audio_format_name(OMNI_AUDIO_MP3), "mp3");
    CHECK_STR(omni_audio_format_mime(OMNI_AUDIO_WAV), "audio/wav");

    /* one second of a 440 Hz tone at 24 kHz → WAV → 16 kHz floats */
    int16_t pcm[OMNI_TTS_SAMPLE_RATE];
    for (int i = 0; i < OMNI_TTS_SAMPLE_RATE; i++) pcm[i] = (int16_t)(8000 * sin(2 * M_PI * 440 * i / OMNI_TTS_SAMPLE_RATE));
    struct bytes b = {0};
    omni_audio_encoder *enc = omni_audio_encode_new(OMNI_AUDIO_WAV, OMNI_TTS_SAMPLE_RATE, keep_bytes, &b, err, sizeof err);
    REQUIRE(enc, "encoder: %s", err);
    CHECK(b.n == OMNI_WAV_HEADER_SIZE); /* the header leaves at once */
    CHECK(omni_audio_encode_write(enc, pcm, OMNI_TTS_SAMPLE_RATE, err, sizeof err) == 0);
    CHECK(omni_audio_encode_finish(enc, err, sizeof err) == 0);
    omni_audio_encode_free(enc);
    REQUIRE(b.n == OMNI_WAV_HEADER_SIZE + sizeof pcm, "%zu bytes", b.n);
    omni_audio_wav_header(b.p, OMNI_TTS_SAMPLE_RATE, OMNI_TTS_SAMPLE_RATE);
    float *x = NULL;
    size_t n = 0;
    CHECK(omni_audio_decode_memory(b.p, b.n, "the tone", &x, &n, err, sizeof err) == 0);
    CHECK_MSG(n + 16 >= OMNI_ASR_SAMPLE_RATE && n <= OMNI_ASR_SAMPLE_RATE + 16, "%zu samples at 16 kHz", n);
    double peak = 0;
    for (size_t i = 0; i < n; i++) peak = fabs(x[i]) > peak ? fabs(x[i]) : peak;
    CHECK_NEAR(peak, 8000 / 32768.0, 0.02);
    free(x);
    x = NULL;
    CHECK(omni_audio_decode_memory("not audio at all", 16, "upload.wav", &x, &n, err, sizeof err) == -1);
    CHECK(strstr(err, "upload.wav") != NULL && x == NULL);
    CHECK(omni_audio_decode_file("/nonexistent/a.wav", &x, &n, err, sizeof err) == -1 && strstr(err, "/nonexistent/a.wav"));
    free(b.p);
}

TEST(vad_equals_the_model_and_loudness_works) {
    char err[512];
    float *x = NULL;
    size_t n = 0;
    REQUIRE(omni_audio_decode_file(model_path(JFK), &x, &n, err, sizeof err) == 0, "%s", err);
    omni_vad *v = omni_vad_load(model_path(VAD), err, sizeof err);
    struct err e = {{0}};
    struct vad *m = vad_load(model_path(VAD), &e);
    REQUIRE(v && m, "VAD: %s %s", err, e.msg);
    CHECK_EQ_INT(omni_vad_window(v), 512);
    float *p = NULL, *q = NULL;
    int np = 0, nq = 0, ns = 0, nt = 0;
    CHECK(omni_vad_probs(v, x, n, &p, &np, err, sizeof err) == 0);
    CHECK(vad_probs(m, x, n, &q, &nq, &e) == 0);
    CHECK(np == nq && np > 0 && !memcmp(p, q, (size_t)np * sizeof *p));
    omni_vad_segment *s = NULL;
    struct vad_segment *t = NULL;
    struct vad_params mp = vad_default_params();
    CHECK(omni_vad_segments(p, np, 512, NULL, &s, &ns, err, sizeof err) == 0);
    CHECK(vad_segments(q, nq, 512, &mp, &t, &nt, &e) == 0);
    CHECK_EQ_INT(ns, nt);
    for (int i = 0; i < ns && i < nt; i++) CHECK(s[i].start == t[i].start && s[i].end == t[i].end);
    CHECK_EQ_INT(ns, 4); /* as `omni vad` prints for jfk.wav */
    /* stepping window by window from a reset gives the same numbers */
    omni_vad_reset(v);
    CHECK(np > 3 && omni_vad_step(v, x, 512) == p[0] && omni_vad_step(v, x + 512, 512) == p[1]);
    CHECK_EQ_INT(omni_vad_samples_to_cs(16000), 100);
    free(p); free(q); free(s); free(t);
    omni_vad_free(v);
    vad_free(m);

    /* no model file: the loudness detector */
    omni_vad *l = omni_vad_load(NULL, err, sizeof err);
    REQUIRE(l, "loudness VAD: %s", err);
    float quiet[512] = {0}, loud[512];
    for (int i = 0; i < 512; i++) loud[i] = (i & 8) ? 0.5f : -0.5f;
    CHECK(omni_vad_step(l, quiet, 512) == 0.0f);
    CHECK(omni_vad_step(l, loud, 512) == 1.0f);
    CHECK(omni_vad_probs(l, x, n, &p, &np, err, sizeof err) == 0 && np == (int)((n + 511) / 512));
    int voiced = 0;
    for (int i = 0; i < np; i++) voiced += p[i] >= 0.5f;
    CHECK_MSG(voiced > np / 4 && voiced < np, "%d of %d windows loud", voiced, np);
    free(p);
    omni_vad_free(l);
    CHECK(omni_vad_load("/nonexistent/vad.bin", err, sizeof err) == NULL && strstr(err, "/nonexistent/vad.bin"));
    free(x);
}

static omni_asr *g_asr;

TEST(transcription_equals_the_model) {
    char err[512];
    g_asr = omni_asr_load(model_path(WHISPER), NULL, err, sizeof err);
    REQUIRE(g_asr, "%s", err);
    CHECK(omni_asr_is_multilingual(g_asr) && !omni_asr_has_vad(g_asr));
    float *x = NULL;
    size_t n = 0;
    REQUIRE(omni_audio_decode_file(model_path(JFK), &x, &n, err, sizeof err) == 0, "%s", err);
    omni_asr_params p = quick();
    omni_asr_result *r = omni_asr_transcribe(g_asr, x, n, &p, err, sizeof err);
    REQUIRE(r, "transcribe: %s", err);

    /* the same decode straight on the model layer */
    struct err e = {{0}};
    struct whisper_model *m = whisper_load(model_path(WHISPER), &e);
    struct whisper_state *st = m ? whisper_state_new(m, pool_process(0), &e) : NULL;
    REQUIRE(st, "%s", e.msg);
    struct whisper_params wp = whisper_default_params();
    wp.beam_size = 1;
    wp.temperature_inc = 0;
    wp.max_tokens_per_window = 24;
    struct whisper_result w;
    memset(&w, 0, sizeof w);
    REQUIRE(whisper_transcribe(st, x, n, &wp, &w, &e) == 0, "%s", e.msg);
    char *wt = whisper_result_text(&w);
    CHECK_STR(r->text, wt);
    CHECK_STR(r->language, w.language);
    CHECK_NEAR(r->duration, (double)n / 16000, 1e-9);
    CHECK_EQ_INT(r->n_segments, w.n_segments);
    CHECK(r->n_words == 0 && r->words == NULL);
    int eot = whisper_special(m)->eot;
    for (int i = 0; i < r->n_segments && i < w.n_segments; i++) {
        const omni_asr_segment *g = &r->segments[i];
        CHECK(g->t0 == w.segments[i].t0 && g->t1 == w.segments[i].t1);
        CHECK_STR(g->text, w.segments[i].text);
        CHECK_EQ_INT(g->n_tokens, w.segments[i].n_tokens);
        for (int k = 0; k < g->n_tokens && k < w.segments[i].n_tokens; k++) {
            CHECK(g->tokens[k].id == w.segments[i].tokens[k].id && g->tokens[k].p == w.segments[i].tokens[k].p);
            CHECK(g->tokens[k].special == (g->tokens[k].id >= eot));
            int len = -1;
            const char *tx = omni_asr_token_text(g_asr, g->tokens[k].id, &len);
            CHECK(tx && len >= 0 && (!g->tokens[k].special || len == 0));
        }
    }
    free(wt);
    whisper_result_free(&w);
    whisper_state_free(st);
    whisper_free(m);
    omni_asr_result_free(r);

    /* the file and memory forms give the same transcript */
    r = omni_asr_transcribe_file(g_asr, model_path(JFK), &p, err, sizeof err);
    size_t len = 0;
    char *file = read_file(model_path(JFK), &len);
    omni_asr_result *r2 = file ? omni_asr_transcribe_memory(g_asr, file, len, "jfk", &p, err, sizeof err) : NULL;
    omni_asr_result *r3 = omni_asr_transcribe(g_asr, x, n, &p, err, sizeof err);
    CHECK(r && r2 && r3);
    if (r && r2 && r3) { CHECK_STR(r->text, r3->text); CHECK_STR(r2->text, r3->text); }
    omni_asr_result_free(r);
    omni_asr_result_free(r2);
    omni_asr_result_free(r3);
    free(file);
    free(x);
}

TEST(words_stay_in_their_segment_and_spell_it) {
    REQUIRE(g_asr, "no model (see the case before)");
    char err[512];
    omni_asr_params p = quick();
    p.max_tokens = 0;
    p.word_timestamps = 1;
    omni_asr_result *r = omni_asr_transcribe_file(g_asr, model_path(JFK), &p, err, sizeof err);
    REQUIRE(r, "%s", err);
    CHECK_MSG(r->n_words > 10, "%d words", r->n_words);
    /* the words, spaces aside, are the segments' text, in order, each inside one segment */
    size_t cap = strlen(r->text) + 1, a = 0, b = 0;
    char *from_words = calloc(cap, 1), *from_text = calloc(cap, 1);
    REQUIRE(from_words && from_text, "out of memory");
    for (const char *c = r->text; *c; c++) if (*c != ' ') from_text[b++] = *c;
    int seg = 0;
    for (int i = 0; i < r->n_words; i++) {
        const omni_asr_word *w = &r->words[i];
        CHECK(w->text[0] != ' ' && w->t0 <= w->t1);
        while (seg < r->n_segments && w->t0 >= r->segments[seg].t1 && seg + 1 < r->n_segments) seg++;
        CHECK_MSG(w->t0 >= r->segments[seg].t0 && w->t1 <= r->segments[seg].t1, "word %d '%s' %lld..%lld", i, w->text,
                  (long long)w->t0, (long long)w->t1);
        if (i) CHECK(w->t0 >= r->words[i - 1].t0);
        for (const char *c = w->text; *c && a + 1 < cap; c++) if (*c != ' ') from_words[a++] = *c;
    }
    CHECK_STR(from_words, from_text);
    free(from_words);
    free(from_text);
    omni_asr_result_free(r);
}

TEST(languages_vad_and_errors) {
    REQUIRE(g_asr, "no model (see the case before)");
    char err[512];
    CHECK_EQ_INT(omni_asr_language_id("en"), 0);
    CHECK(omni_asr_language_id("ko") > 0 && omni_asr_language_id("zz") == -1);
    CHECK_STR(omni_asr_language_code(omni_asr_language_id("ko")), "ko");
    CHECK(omni_asr_language_code(-1) == NULL && omni_asr_language_code(100000) == NULL);
    float *x = NULL;
    size_t n = 0;
    REQUIRE(omni_audio_decode_file(model_path(JFK), &x, &n, err, sizeof err) == 0, "%s", err);
    float prob = -1;
    int lang = omni_asr_detect_language(g_asr, x, n, &prob, err, sizeof err);
    CHECK_MSG(lang >= 0 && omni_asr_language_code(lang) && prob > 0 && prob <= 1, "lang %d p %g: %s", lang, prob, err);
    /* "auto" reports what detection found */
    omni_asr_params p = quick();
    p.language = "auto";
    p.max_tokens = 4;
    omni_asr_result *r = omni_asr_transcribe(g_asr, x, n, &p, err, sizeof err);
    CHECK(r && lang >= 0 && !strcmp(r->language, omni_asr_language_code(lang)) && fabs(r->language_prob - prob) < 1e-6);
    omni_asr_result_free(r);
    p.language = "zz";
    CHECK(omni_asr_transcribe(g_asr, x, n, &p, err, sizeof err) == NULL && strstr(err, "zz"));
    CHECK(omni_asr_transcribe_file(g_asr, "tests/test.h", &p, err, sizeof err) == NULL &&
          strstr(err, "not a recognised audio file"));

    /* with a VAD: the same 11 s timeline, speech only */
    omni_asr_load_params lp = omni_asr_load_default_params();
    lp.vad_model = model_path(VAD);
    omni_asr *av = omni_asr_load(model_path(WHISPER), &lp, err, sizeof err);
    REQUIRE(av && omni_asr_has_vad(av), "%s", err);
    p = quick();
    p.max_tokens = 8;
    r = omni_asr_transcribe(av, x, n, &p, err, sizeof err);
    CHECK(r && r->n_segments > 0 && r->segments[r->n_segments - 1].t1 <= 1100 && r->segments[0].t0 >= 0);
    omni_asr_result_free(r);
    omni_asr_free(av);
    CHECK(omni_asr_load(model_path(VAD), NULL, err, sizeof err) == NULL && strstr(err, "not a Whisper model"));
    lp.vad_model = model_path(WHISPER);
    CHECK(omni_asr_load(model_path(WHISPER), &lp, err, sizeof err) == NULL && strstr(err, "not a VAD model"));
    free(x);
}

int main(void) {
    TEST_EXPECT(5);
    RUN(audio_encode_decode_round_trip);
    RUN(vad_equals_the_model_and_loudness_works);
    RUN(transcription_equals_the_model);
    RUN(words_stay_in_their_segment_and_spell_it);
    RUN(languages_vad_and_errors);
    omni_asr_free(g_asr);
    return test_summary();
}
