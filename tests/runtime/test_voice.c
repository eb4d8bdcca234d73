/* The voice loop end to end on espeak-made speech: real Silero VAD, the synth Whisper
 * micro model (gibberish transcripts, real timing), the synth SmolLM2 LLM and espeak TTS.
 * Checks event order and positions, barge-in with history truncation, prompt-cache
 * reuse across turns, speculative replies held through a short pause, settings updates
 * and truncation after the reply ended; plus the splitter and segmenter on their own.
 * The models are in ../shared and espeak-ng comes with scripts/setup.sh: a load, speech
 * or decode that fails is a failure, not a skip. */
#include "test.h"
#include <pthread.h>
#include <time.h>

#include "omni.h"
#include "runtime/voice_segmenter.h"
#include "runtime/voice_splitter.h"

/* ---- splitter ---- */

struct pieces { char s[16][128]; int n; };
static int keep_piece(const char *s, size_t n, void *ud) {
    struct pieces *p = ud;
    if (p->n < 16) { snprintf(p->s[p->n], sizeof p->s[0], "%.*s", (int)n, s); }
    p->n++;
    return 0;
}

TEST(splitter_cuts_streamed_text) {
    const char *text = "Well, I think that is right, yes. And 3.14 is pi! Mr. Kim said so. 다음 문장입니다. 끝";
    struct vsplit sp;
    vsplit_init(&sp);
    struct pieces p = {0};
    /* stream it a few bytes at a time, as tokens come */
    for (size_t i = 0; i < strlen(text); i += 3) {
        size_t n = strlen(text) - i < 3 ? strlen(text) - i : 3;
        vsplit_push(&sp, text + i, n, keep_piece, &p);
    }
    CHECK_EQ_INT(p.n, 5);
    vsplit_flush(&sp, keep_piece, &p);
    CHECK_EQ_INT(p.n, 6);
    CHECK_STR(p.s[0], "Well, I think that is right,");   /* first piece: a clause, for latency */
    CHECK_STR(p.s[1], "yes.");
    CHECK_STR(p.s[2], "And 3.14 is pi!");               /* not cut inside 3.14 */
    CHECK_STR(p.s[3], "Mr. Kim said so.");              /* nor after Mr. */
    CHECK_STR(p.s[4], "다음 문장입니다.");
    CHECK_STR(p.s[5], "끝");
    vsplit_free(&sp);

    /* no punctuation at all: the first piece still ends at a word after a while */
    vsplit_init(&sp);
    struct pieces q = {0};
    const char *babble = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor";
    vsplit_push(&sp, babble, strlen(babble), keep_piece, &q);
    CHECK_EQ_INT(q.n, 1);
    CHECK(q.n && strlen(q.s[0]) >= VSPLIT_FIRST_WORDS - 8 && q.s[0][strlen(q.s[0]) - 1] != ' ');
    vsplit_free(&sp);
}

/* ---- segmenter ---- */

TEST(segmenter_finds_turns) {
    struct vseg s;
    vseg_init(&s, 0.5f, 100, 300, 512);
    /* 10 quiet windows, 20 voiced, 1 dip, 5 voiced, then quiet */
    int starts = 0, pauses = 0, resumes = 0, ends = 0, end_at = -1;
    int64_t start = -1, end = -1;
    for (int w = 0; w < 60; w++) {
        float p = (w >= 10 && w < 30) || (w >= 31 && w < 36) ? 0.9f : 0.05f;
        enum vseg_event ev = vseg_step(&s, p);
        if (ev == VSEG_START) { starts++; start = s.start; }
        if (ev == VSEG_PAUSE) pauses++;
        if (ev == VSEG_RESUME) resumes++;
        if (ev == VSEG_END) { ends++; end = s.end; end_at = w; }
    }
    CHECK_EQ_INT(starts, 1);
    CHECK_EQ_INT(start, 10 * 512);
    CHECK_EQ_INT(pauses, 2);
    CHECK_EQ_INT(resumes, 1);
    CHECK_EQ_INT(ends, 1);
    CHECK_EQ_INT(end, 36 * 512);
    CHECK_EQ_INT(end_at, 36 + 9);   /* ceil(300 ms / 32 ms) = 10 windows of quiet: 36..45 */
    /* a blip shorter than min_speech is ignored */
    vseg_init(&s, 0.5f, 100, 300, 512);
    int any = 0;
    for (int w = 0; w < 20; w++) any |= vseg_step(&s, w == 5 || w == 6 ? 0.9f : 0.0f) != VSEG_NONE;
    CHECK(!any);
}

/* ---- the loop ---- */

#define MAX_EV 4096
struct rec {
    pthread_mutex_t mu;
    int n;
    struct { omni_voice_event_type type; int64_t audio_ms; int rid; char status[16]; omni_usage usage;
             size_t n_pcm; char text[256]; } ev[MAX_EV];
    int64_t audio_samples;
};

static void on_event(const omni_voice_event *ev, void *ud) {
    struct rec *r = ud;
    pthread_mutex_lock(&r->mu);
    if (r->n < MAX_EV) {
        r->ev[r->n].type = ev->type;
        r->ev[r->n].audio_ms = ev->audio_ms;
        r->ev[r->n].rid = ev->response_id;
        r->ev[r->n].n_pcm = ev->n_pcm;
        r->ev[r->n].usage = ev->usage;
        snprintf(r->ev[r->n].status, 16, "%s", ev->status ? ev->status : "");
        snprintf(r->ev[r->n].text, 256, "%.*s", (int)(ev->text ? ev->len : 0), ev->text ? ev->text : "");
        if (ev->type == OMNI_VOICE_ERROR) fprintf(stderr, "  voice error: %s\n", r->ev[r->n].text);
        r->n++;
    }
    if (ev->type == OMNI_VOICE_AUDIO) r->audio_samples += (int64_t)ev->n_pcm;
    pthread_mutex_unlock(&r->mu);
}

static int count(struct rec *r, omni_voice_event_type t) {
    pthread_mutex_lock(&r->mu);
    int c = 0;
    for (int i = 0; i < r->n; i++) c += r->ev[i].type == t;
    pthread_mutex_unlock(&r->mu);
    return c;
}
static int find(struct rec *r, omni_voice_event_type t, int nth) {
    for (int i = 0; i < r->n; i++)
        if (r->ev[i].type == t && nth-- == 0) return i;
    return -1;
}

/* espeak-ng speech at 16 kHz with `pre`/`post` seconds of silence; s0 and s1 get the voiced
 * stretch (first/last sample above -40 dBFS), in samples from the start. */
static int16_t *make_speech(const char *lang, const char *text, double pre, double post, size_t *n, size_t *s0,
                            size_t *s1) {
    char path[128], cmd[512];
    snprintf(path, sizeof path, "/tmp/omni-test-voice-%d-%s.wav", (int)getpid(), lang);
    snprintf(cmd, sizeof cmd, "espeak-ng -v %s -w %s \"%s\" 2>/dev/null", lang, path, text);
    if (system(cmd) != 0) { fprintf(stderr, "  espeak-ng failed: %s\n", cmd); return NULL; }
    float *x = NULL;
    size_t nx = 0;
    char err[512];
    int rc = omni_audio_decode_file(path, &x, &nx, err, sizeof err);
    remove(path);
    if (rc) { fprintf(stderr, "  omni_audio_decode_file: %s\n", err); return NULL; }
    size_t a = (size_t)(pre * 16000), b = (size_t)(post * 16000);
    int16_t *out = calloc(a + nx + b, sizeof *out);
    size_t first = 0, last = 0;
    for (size_t i = 0; i < nx; i++) {
        out[a + i] = (int16_t)(x[i] * 32767);
        if (fabsf(x[i]) > 0.01f) { if (!first) first = a + i; last = a + i; }
    }
    free(x);
    *n = a + nx + b;
    *s0 = first;
    *s1 = last;
    return out;
}

/* Pushes 16 kHz audio in 20 ms frames, upsampled to 24 kHz (the Realtime API's rate)
 * by repeating every other sample: crude, but the VAD and ASR see speech either way. */
static void push_24k(omni_voice *v, const int16_t *x, size_t n) {
    int16_t fr[480];
    for (size_t i = 0; i < n; i += 320) {
        size_t m = n - i < 320 ? n - i : 320, k = 0;
        for (size_t j = 0; j < m; j++) {
            fr[k++] = x[i + j];
            if (j % 2 == 1) fr[k++] = (int16_t)((x[i + j] + (j + 1 < m ? x[i + j + 1] : x[i + j])) / 2);
        }
        omni_voice_push_pcm(v, fr, k);
    }
}

static omni_model *g_llm;
static omni_asr *g_asr;

static int load_models(void) {
    if (g_llm && g_asr) return 1;
    char err[512];
    if (!g_llm) g_llm = omni_model_load(model_path("synth/synth-smollm2-f16.gguf"), NULL, err, sizeof err);
    if (!g_llm) fprintf(stderr, "  synth-smollm2-f16.gguf: %s\n", err);
    if (!g_asr) g_asr = omni_asr_load(model_path("synth/synth-whisper-micro-f16.bin"), NULL, err, sizeof err);
    if (!g_asr) fprintf(stderr, "  synth-whisper-micro-f16.bin: %s\n", err);
    return g_llm && g_asr;
}

static omni_voice *new_voice(struct rec *r, int max_tokens, const char *lang) {
    omni_voice_params p = omni_voice_default_params();
    p.instructions = "You are a helpful voice assistant. Answer briefly.";
    p.language = lang;
    p.max_tokens = max_tokens;
    p.seed = 42;
    p.on_event = on_event;
    p.user = r;
    p.n_ctx = 1024;
    p.vad_model = model_path("vad/for-tests-silero-v6.2.0-ggml.bin");
    /* these tests are about events and the silence as set; the random-weight Whisper's
     * gibberish would make the end-of-turn rule's choice arbitrary (its own tests below
     * use models that say what they are told to) */
    p.end_of_turn = OMNI_VOICE_EOT_SILENCE;
    char err[512];
    omni_voice *v = omni_voice_new(g_llm, g_asr, &p, err, sizeof err);
    if (!v) fprintf(stderr, "  omni_voice_new: %s\n", err);
    return v;
}

static struct rec g_rec;

TEST(one_turn_events_in_order) {
    REQUIRE(load_models(), "the shared LLM or Whisper model does not load");
    struct rec *r = &g_rec;
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    size_t n, s0, s1;
    int16_t *x = make_speech("en", "What is the weather like today?", 0.6, 1.2, &n, &s0, &s1);
    REQUIRE(x != NULL, "no test speech (espeak-ng, installed by scripts/setup.sh, or audio decoding failed)");
    omni_voice *v = new_voice(r, 12, "en");
    CHECK(v != NULL);
    if (!v) { free(x); return; }
    push_24k(v, x, n);
    CHECK(omni_voice_wait_idle(v, 30000) == 0);
    int i_start = find(r, OMNI_VOICE_SPEECH_STARTED, 0), i_stop = find(r, OMNI_VOICE_SPEECH_STOPPED, 0);
    int i_final = find(r, OMNI_VOICE_TRANSCRIPT_FINAL, 0), i_resp = find(r, OMNI_VOICE_RESPONSE_STARTED, 0);
    int i_delta = find(r, OMNI_VOICE_TEXT_DELTA, 0), i_audio = find(r, OMNI_VOICE_AUDIO, 0);
    int i_done = find(r, OMNI_VOICE_RESPONSE_DONE, 0);
    CHECK_EQ_INT(count(r, OMNI_VOICE_SPEECH_STARTED), 1);
    CHECK_EQ_INT(count(r, OMNI_VOICE_SPEECH_STOPPED), 1);
    CHECK_EQ_INT(count(r, OMNI_VOICE_ERROR), 0);
    CHECK(i_start >= 0 && i_stop > i_start && i_final > i_stop && i_resp > i_final);
    CHECK(i_delta > i_resp && i_audio > i_resp && i_done > i_audio);
    if (i_start >= 0 && i_stop >= 0) {
        /* within two 32 ms VAD windows (plus espeak's soft onset) of the known boundaries */
        CHECK_NEAR((double)r->ev[i_start].audio_ms, s0 / 16.0, 100);
        CHECK_NEAR((double)r->ev[i_stop].audio_ms, s1 / 16.0, 150);
    }
    if (i_done >= 0) {
        CHECK_STR(r->ev[i_done].status, "completed");
        CHECK(r->ev[i_done].usage.completion_tokens > 0 && r->ev[i_done].usage.completion_tokens <= 12);
        CHECK(r->ev[i_done].usage.prompt_tokens > 10);
        /* the session warmed as it opened: the instructions' KV was there before the first turn */
        CHECK_MSG(r->ev[i_done].usage.cached_tokens > 5, "first turn: %d of %d prompt tokens cached",
                  r->ev[i_done].usage.cached_tokens, r->ev[i_done].usage.prompt_tokens);
    }
    CHECK(r->audio_samples > 2400);   /* more than 0.1 s of reply audio */
    const omni_chat_message *h;
    int nh = omni_voice_history(v, &h);
    CHECK_EQ_INT(nh, 2);
    if (nh == 2 && i_final >= 0) {
        CHECK_STR(h[0].role, "user");
        CHECK_STR(h[0].content, r->ev[i_final].text);
        CHECK_STR(h[1].role, "assistant");
        CHECK(strlen(h[1].content) > 0);
    }
    omni_voice_free(v);
    free(x);
}

TEST(second_turn_reuses_prompt_cache_korean) {
    REQUIRE(load_models(), "the shared LLM or Whisper model does not load");
    struct rec *r = &g_rec;
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    size_t n1, n2, a, b, c, d;
    int16_t *x1 = make_speech("en", "Hello there, how are you?", 0.4, 1.0, &n1, &a, &b);
    int16_t *x2 = make_speech("ko", "안녕하세요, 오늘 날씨가 어때요?", 0.4, 1.0, &n2, &c, &d);
    if (!x1 || !x2) { free(x1); free(x2); }
    REQUIRE(x1 && x2, "no test speech (espeak-ng, installed by scripts/setup.sh, or audio decoding failed)");
    omni_voice *v = new_voice(r, 8, "auto");
    CHECK(v != NULL);
    if (v) {
        push_24k(v, x1, n1);
        CHECK(omni_voice_wait_idle(v, 30000) == 0);
        push_24k(v, x2, n2);
        CHECK(omni_voice_wait_idle(v, 30000) == 0);
        CHECK_EQ_INT(count(r, OMNI_VOICE_RESPONSE_DONE), 2);
        int i1 = find(r, OMNI_VOICE_RESPONSE_DONE, 0), i2 = find(r, OMNI_VOICE_RESPONSE_DONE, 1);
        if (i1 >= 0 && i2 >= 0) {
            CHECK_EQ_INT(r->ev[i1].rid, 1);
            CHECK_EQ_INT(r->ev[i2].rid, 2);
            CHECK(r->ev[i2].usage.cached_tokens > 0);
            CHECK(r->ev[i2].usage.cached_tokens > r->ev[i1].usage.prompt_tokens / 2);
            CHECK(r->ev[i2].usage.prompt_tokens > r->ev[i1].usage.prompt_tokens);
        }
        const omni_chat_message *h;
        CHECK_EQ_INT(omni_voice_history(v, &h), 4);
        omni_voice_free(v);
    }
    free(x1);
    free(x2);
}

static double mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

TEST(barge_in_cancels_and_truncates) {
    REQUIRE(load_models(), "the shared LLM or Whisper model does not load");
    struct rec *r = &g_rec;
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    size_t n1, n2, a, b, c, d;
    int16_t *x1 = make_speech("en", "Tell me a long story about the sea.", 0.4, 0.8, &n1, &a, &b);
    int16_t *x2 = make_speech("en", "Stop, stop please.", 0.0, 1.0, &n2, &c, &d);
    if (!x1 || !x2) { free(x1); free(x2); }
    REQUIRE(x1 && x2, "no test speech (espeak-ng, installed by scripts/setup.sh, or audio decoding failed)");
    omni_voice *v = new_voice(r, 400, "en");
    CHECK(v != NULL);
    if (v) {
        push_24k(v, x1, n1);
        double t0 = mono_ms();
        while (count(r, OMNI_VOICE_AUDIO) == 0 && count(r, OMNI_VOICE_RESPONSE_DONE) == 0 && mono_ms() - t0 < 20000)
            usleep(2000);
        CHECK_MSG(count(r, OMNI_VOICE_AUDIO) > 0, "no reply audio: %d events, %d transcripts, %d replies done",
                  r->n, count(r, OMNI_VOICE_TRANSCRIPT_FINAL), count(r, OMNI_VOICE_RESPONSE_DONE));
        /* the client says it has played 0.5 s of the reply when the user cuts in */
        omni_voice_set_played(v, 12000);
        push_24k(v, x2, n2);
        CHECK(omni_voice_wait_idle(v, 90000) == 0);   /* a 400-token reply: slow under ASan on a busy box */
        int i1 = find(r, OMNI_VOICE_RESPONSE_DONE, 0);
        CHECK(i1 >= 0);
        if (i1 >= 0) {
            CHECK_STR(r->ev[i1].status, "cancelled");
            CHECK_MSG(r->ev[i1].text[0], "empty assistant message after barge-in (audio %lld samples)",
                      (long long)r->audio_samples);
            CHECK(r->ev[i1].usage.completion_tokens < 400);
        }
        CHECK_EQ_INT(count(r, OMNI_VOICE_SPEECH_STARTED), 2);
        /* the second utterance became its own turn and got its own reply */
        CHECK_EQ_INT(count(r, OMNI_VOICE_TRANSCRIPT_FINAL), 2);
        const omni_chat_message *h;
        int nh = omni_voice_history(v, &h);
        CHECK(nh >= 3);
        if (nh >= 2 && i1 >= 0) {
            /* the assistant message holds what was heard: less than was generated */
            size_t generated = 0;
            for (int i = 0; i < r->n; i++)
                if (r->ev[i].type == OMNI_VOICE_TEXT_DELTA && r->ev[i].rid == 1) generated += strlen(r->ev[i].text);
            CHECK_STR(h[1].role, "assistant");
            CHECK(strlen(h[1].content) < generated);
            CHECK_STR(h[1].content, r->ev[i1].text);
        }
        omni_voice_free(v);
    }
    free(x1);
    free(x2);
}

static int16_t *silence(size_t n) { return calloc(n ? n : 1, sizeof(int16_t)); }

/* A pause shorter than silence_ms: the reply speculated at the pause stays silent, is
 * dropped when speech resumes, and the turn's real end gets one reply whose events come
 * out in the usual order, made ahead of time (spec_used). */
TEST(short_pause_gives_no_response_events) {
    REQUIRE(load_models(), "the shared LLM or Whisper model does not load");
    struct rec *r = &g_rec;
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    size_t n1, n2, a, b, c, d;
    int16_t *x1 = make_speech("en", "I would like to know", 0.4, 0.3, &n1, &a, &b);
    int16_t *x2 = make_speech("en", "the time in London please.", 0.0, 0.0, &n2, &c, &d);
    int16_t *quiet = silence(16000 * 6 / 5);
    if (!x1 || !x2 || !quiet) { free(x1); free(x2); free(quiet); }
    REQUIRE(x1 && x2 && quiet, "no test speech (espeak-ng, installed by scripts/setup.sh, or audio decoding failed)");
    omni_voice_params p = omni_voice_default_params();
    p.instructions = "Answer briefly.";
    p.language = "en";
    p.max_tokens = 8;
    p.seed = 42;
    p.silence_ms = 900;
    p.end_of_turn = OMNI_VOICE_EOT_SILENCE;
    p.on_event = on_event;
    p.user = r;
    p.n_ctx = 1024;
    p.vad_model = model_path("vad/for-tests-silero-v6.2.0-ggml.bin");
    char err[512];
    omni_voice *v = omni_voice_new(g_llm, g_asr, &p, err, sizeof err);
    CHECK_MSG(v != NULL, "omni_voice_new: %s", err);
    if (v) {
        omni_voice_stats st;
        /* first words, then the pause (less than silence_ms): the worker speculates and holds */
        push_24k(v, x1, n1);
        CHECK(omni_voice_wait_idle(v, 30000) == 0);
        omni_voice_get_stats(v, &st);
        CHECK_MSG(st.spec_started >= 1, "no speculative reply at the pause (%d)", st.spec_started);
        CHECK_EQ_INT(count(r, OMNI_VOICE_SPEECH_STOPPED), 0);
        CHECK_EQ_INT(count(r, OMNI_VOICE_TRANSCRIPT_FINAL), 0);
        CHECK_EQ_INT(count(r, OMNI_VOICE_RESPONSE_STARTED), 0);
        CHECK_EQ_INT(count(r, OMNI_VOICE_TEXT_DELTA), 0);
        CHECK_EQ_INT(count(r, OMNI_VOICE_AUDIO), 0);
        CHECK_EQ_INT(count(r, OMNI_VOICE_RESPONSE_DONE), 0);
        /* speech resumes: the held reply is dropped without a trace */
        push_24k(v, x2, n2);
        CHECK(omni_voice_wait_idle(v, 30000) == 0);
        omni_voice_get_stats(v, &st);
        CHECK(st.spec_dropped >= 1);
        CHECK_EQ_INT(count(r, OMNI_VOICE_RESPONSE_STARTED), 0);
        CHECK_EQ_INT(count(r, OMNI_VOICE_AUDIO), 0);
        const omni_chat_message *h;
        CHECK_EQ_INT(omni_voice_history(v, &h), 0);
        /* now the real end of the turn */
        push_24k(v, quiet, 16000 * 6 / 5);
        CHECK(omni_voice_wait_idle(v, 30000) == 0);
        omni_voice_get_stats(v, &st);
        CHECK_MSG(st.spec_used == 1, "speculation used %d times (started %d, dropped %d)", st.spec_used,
                  st.spec_started, st.spec_dropped);
        CHECK_EQ_INT(count(r, OMNI_VOICE_SPEECH_STARTED), 1);
        CHECK_EQ_INT(count(r, OMNI_VOICE_SPEECH_STOPPED), 1);
        CHECK_EQ_INT(count(r, OMNI_VOICE_TRANSCRIPT_FINAL), 1);
        CHECK_EQ_INT(count(r, OMNI_VOICE_RESPONSE_STARTED), 1);
        CHECK_EQ_INT(count(r, OMNI_VOICE_RESPONSE_DONE), 1);
        CHECK_EQ_INT(count(r, OMNI_VOICE_ERROR), 0);
        int i_stop = find(r, OMNI_VOICE_SPEECH_STOPPED, 0), i_final = find(r, OMNI_VOICE_TRANSCRIPT_FINAL, 0);
        int i_resp = find(r, OMNI_VOICE_RESPONSE_STARTED, 0), i_delta = find(r, OMNI_VOICE_TEXT_DELTA, 0);
        int i_audio = find(r, OMNI_VOICE_AUDIO, 0), i_done = find(r, OMNI_VOICE_RESPONSE_DONE, 0);
        CHECK(i_stop >= 0 && i_final > i_stop && i_resp > i_final && i_delta > i_resp && i_audio > i_resp &&
              i_done > i_audio);
        if (i_resp >= 0) CHECK_EQ_INT(r->ev[i_resp].rid, 1);   /* the dropped one used no id */
        if (i_stop >= 0) CHECK_NEAR((double)r->ev[i_stop].audio_ms, (n1 + d) / 16.0, 150);
        int nh = omni_voice_history(v, &h);
        CHECK_EQ_INT(nh, 2);
        if (nh == 2 && i_final >= 0 && i_done >= 0) {
            CHECK_STR(h[0].content, r->ev[i_final].text);
            CHECK_STR(h[1].content, r->ev[i_done].text);
        }
        omni_voice_free(v);
    }
    free(x1);
    free(x2);
    free(quiet);
}

/* omni_voice_update's new silence applies to the turn in progress. */
TEST(update_rearms_turn_detection) {
    REQUIRE(load_models(), "the shared LLM or Whisper model does not load");
    struct rec *r = &g_rec;
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    size_t n, a, b;
    int16_t *x = make_speech("en", "Good morning.", 0.3, 1.0, &n, &a, &b);
    int16_t *quiet = silence(3200);
    if (!x || !quiet) { free(x); free(quiet); }
    REQUIRE(x && quiet, "no test speech (espeak-ng, installed by scripts/setup.sh, or audio decoding failed)");
    omni_voice_params p = omni_voice_default_params();
    p.language = "en";
    p.max_tokens = 4;
    p.seed = 7;
    p.silence_ms = 3000;
    p.end_of_turn = OMNI_VOICE_EOT_SILENCE;
    p.on_event = on_event;
    p.user = r;
    p.n_ctx = 512;
    p.vad_model = model_path("vad/for-tests-silero-v6.2.0-ggml.bin");
    char err[512];
    omni_voice *v = omni_voice_new(g_llm, g_asr, &p, err, sizeof err);
    CHECK_MSG(v != NULL, "omni_voice_new: %s", err);
    if (v) {
        push_24k(v, x, n);
        CHECK(omni_voice_wait_idle(v, 30000) == 0);
        CHECK_EQ_INT(count(r, OMNI_VOICE_SPEECH_STARTED), 1);
        CHECK_EQ_INT(count(r, OMNI_VOICE_SPEECH_STOPPED), 0);   /* 1 s of quiet < 3 s */
        p.silence_ms = 300;
        p.voice = "nova";
        CHECK(omni_voice_update(v, &p, err, sizeof err) == 0);
        push_24k(v, quiet, 3200);                            /* one more VAD window or so */
        CHECK(omni_voice_wait_idle(v, 30000) == 0);
        CHECK_EQ_INT(count(r, OMNI_VOICE_SPEECH_STOPPED), 1);
        CHECK_EQ_INT(count(r, OMNI_VOICE_RESPONSE_DONE), 1);
        /* and a minimum speech longer than the utterance stops new turns from starting */
        p.min_speech_ms = 10000;
        CHECK(omni_voice_update(v, &p, err, sizeof err) == 0);
        push_24k(v, x, n);
        CHECK(omni_voice_wait_idle(v, 30000) == 0);
        CHECK_EQ_INT(count(r, OMNI_VOICE_SPEECH_STARTED), 1);
        omni_voice_free(v);
    }
    free(x);
    free(quiet);
}

/* conversation.item.truncate after the reply finished generating (still playing on the
 * client): the stored assistant message is cut at the played position. */
TEST(truncate_after_reply_finished) {
    REQUIRE(load_models(), "the shared LLM or Whisper model does not load");
    struct rec *r = &g_rec;
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    size_t n, a, b;
    int16_t *x = make_speech("en", "Tell me about the moon.", 0.3, 1.0, &n, &a, &b);
    REQUIRE(x != NULL, "no test speech (espeak-ng, installed by scripts/setup.sh, or audio decoding failed)");
    omni_voice *v = new_voice(r, 40, "en");
    CHECK(v != NULL);
    if (v) {
        CHECK(omni_voice_truncate(v, 100) == -1);   /* no reply yet */
        push_24k(v, x, n);
        CHECK(omni_voice_wait_idle(v, 30000) == 0);
        int i_done = find(r, OMNI_VOICE_RESPONSE_DONE, 0);
        CHECK(i_done >= 0);
        const omni_chat_message *h;
        int nh = omni_voice_history(v, &h);
        CHECK_EQ_INT(nh, 2);
        if (i_done >= 0 && nh == 2) {
            CHECK_STR(r->ev[i_done].status, "completed");
            char *full = strdup(h[1].content);
            size_t len = strlen(full);
            CHECK(len > 8);
            /* all of it played: nothing changes */
            CHECK_EQ_INT(omni_voice_truncate(v, r->audio_samples), (long)len);
            omni_voice_history(v, &h);
            CHECK_STR(h[1].content, full);
            /* a third played: a shorter prefix */
            long keep = omni_voice_truncate(v, r->audio_samples / 3);
            nh = omni_voice_history(v, &h);
            CHECK(keep > 0 && keep < (long)len);
            CHECK_EQ_INT(nh, 2);
            if (nh == 2) {
                CHECK_EQ_INT((long)strlen(h[1].content), keep);
                CHECK(strncmp(h[1].content, full, strlen(h[1].content)) == 0);
            }
            /* nothing played: the message goes */
            CHECK_EQ_INT(omni_voice_truncate(v, 0), 0);
            CHECK_EQ_INT(omni_voice_history(v, &h), 1);
            free(full);
        }
        omni_voice_free(v);
    }
    free(x);
}

TEST(bad_params_are_refused) {
    REQUIRE(load_models(), "the shared LLM or Whisper model does not load");
    omni_voice_params p = omni_voice_default_params();
    char err[512];
    p.input_rate = 44100;
    CHECK(omni_voice_new(g_llm, g_asr, &p, err, sizeof err) == NULL);
    CHECK(strstr(err, "44100") != NULL);
    p = omni_voice_default_params();
    p.voice = "no-such-voice";
    CHECK(omni_voice_new(g_llm, g_asr, &p, err, sizeof err) == NULL);
    p = omni_voice_default_params();
    p.vad_model = "/nonexistent/vad.bin";
    CHECK(omni_voice_new(g_llm, g_asr, &p, err, sizeof err) == NULL);
    CHECK(strstr(err, "/nonexistent/vad.bin") != NULL);
}

/* ---- the end of a turn by what was said ---- */

/* A Whisper model that hears nothing and always says `text` (tests/rig_whisper.py), so
 * the rule's choice is known while the VAD, the timing and the rest of the loop are real. */
static omni_asr *rigged_asr(const char *text) {
    char path[160], cmd[1024], err[512];
    snprintf(path, sizeof path, "/tmp/omni-test-rig-%d.bin", (int)getpid());
    snprintf(cmd, sizeof cmd, "python3 tests/rig_whisper.py '%s' '%s' '%s'",
             model_path("synth/synth-whisper-micro-f16.bin"), path, text);
    if (system(cmd) != 0) { fprintf(stderr, "  %s failed\n", cmd); return NULL; }
    omni_asr *a = omni_asr_load(path, NULL, err, sizeof err);
    if (!a) fprintf(stderr, "  rigged Whisper: %s\n", err);
    remove(path);
    return a;
}

static omni_voice *eot_voice(struct rec *r, omni_asr *asr, int end_of_turn) {
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    omni_voice_params p = omni_voice_default_params();
    p.instructions = "Answer briefly.";
    p.language = "en";
    p.input_rate = 16000;
    p.max_tokens = 4;
    p.seed = 3;
    p.end_of_turn = end_of_turn;
    p.on_event = on_event;
    p.user = r;
    p.n_ctx = 512;
    p.vad_model = model_path("vad/for-tests-silero-v6.2.0-ggml.bin");
    char err[512];
    omni_voice *v = omni_voice_new(g_llm, asr, &p, err, sizeof err);
    if (!v) fprintf(stderr, "  omni_voice_new: %s\n", err);
    return v;
}

static void push_16k(omni_voice *v, const int16_t *x, size_t n) {
    for (size_t i = 0; i < n; i += 320) omni_voice_push_pcm(v, x + i, n - i < 320 ? n - i : 320);
}

/* speech a (up to its last voiced sample), `gap_ms` of quiet, speech b (from its first),
 * then `tail_ms` of quiet; *b_start and *b_end get where b's voice begins and ends */
static int16_t *join_speech(const int16_t *a, size_t a_end, const int16_t *b, size_t b0, size_t b1, int gap_ms,
                            int tail_ms, size_t *n, size_t *b_start, size_t *b_end) {
    size_t gap = (size_t)gap_ms * 16, tail = (size_t)tail_ms * 16, nb = b ? b1 + 1 - b0 : 0;
    int16_t *x = calloc(a_end + 1 + gap + nb + tail, sizeof *x);
    if (!x) return NULL;
    memcpy(x, a, (a_end + 1) * sizeof *x);
    if (b) memcpy(x + a_end + 1 + gap, b + b0, nb * sizeof *x);
    *b_start = a_end + 1 + gap;
    *b_end = *b_start + nb;
    *n = a_end + 1 + gap + nb + tail;
    return x;
}

/* A 500 ms pause after a trailing "and" does not end the turn (the fixed 280 ms silence
 * cuts the user off there); the turn ends after the rest of the sentence. The first words
 * and the pause go in first and the loop is left to judge them (as it does while a user
 * pauses), then the rest. */
TEST(trailing_word_keeps_the_turn_open) {
    REQUIRE(load_models(), "the shared LLM or Whisper model does not load");
    omni_asr *asr = rigged_asr("I went to the store and");
    REQUIRE(asr, "tests/rig_whisper.py could not make its model (python3 and the shared micro Whisper)");
    size_t n1, n2, a0, a1, b0, b1, n, s2, e2;
    int16_t *x1 = make_speech("en", "I went to the store and", 0.4, 0.0, &n1, &a0, &a1);
    int16_t *x2 = make_speech("en", "bought some milk.", 0.0, 0.0, &n2, &b0, &b1);
    int16_t *x = x1 && x2 ? join_speech(x1, a1, x2, b0, b1, 500, 1500, &n, &s2, &e2) : NULL;
    free(x1);
    free(x2);
    if (!x) omni_asr_free(asr);
    REQUIRE(x, "no test speech (espeak-ng, installed by scripts/setup.sh, or audio decoding failed)");
    struct rec *r = &g_rec;
    for (int mode = OMNI_VOICE_EOT_TRANSCRIPT; mode >= OMNI_VOICE_EOT_SILENCE; mode--) {
        omni_voice *v = eot_voice(r, asr, mode);
        CHECK(v != NULL);
        if (!v) break;
        omni_voice_stats st;
        push_16k(v, x, s2);
        CHECK(omni_voice_wait_idle(v, 60000) == 0);
        omni_voice_get_stats(v, &st);
        if (mode == OMNI_VOICE_EOT_TRANSCRIPT) {
            CHECK_EQ_INT(count(r, OMNI_VOICE_SPEECH_STOPPED), 0);
            CHECK_MSG(st.eot_continue == 1 && st.spec_started == 1, "at the pause: %d continue, %d speculative",
                      st.eot_continue, st.spec_started);
        } else {
            CHECK_EQ_INT(count(r, OMNI_VOICE_SPEECH_STOPPED), 1);
        }
        push_16k(v, x + s2, n - s2);
        CHECK(omni_voice_wait_idle(v, 60000) == 0);
        omni_voice_get_stats(v, &st);
        if (mode == OMNI_VOICE_EOT_TRANSCRIPT) {
            CHECK_EQ_INT(count(r, OMNI_VOICE_SPEECH_STARTED), 1);
            CHECK_EQ_INT(count(r, OMNI_VOICE_SPEECH_STOPPED), 1);
            CHECK_EQ_INT(count(r, OMNI_VOICE_RESPONSE_DONE), 1);
            CHECK_MSG(st.eot_continue >= 1, "pauses: %d complete, %d unsure, %d continue", st.eot_complete,
                      st.eot_unsure, st.eot_continue);
            CHECK_EQ_INT(st.eot_complete, 0);
            int i_stop = find(r, OMNI_VOICE_SPEECH_STOPPED, 0), i_final = find(r, OMNI_VOICE_TRANSCRIPT_FINAL, 0);
            if (i_stop >= 0) CHECK_NEAR((double)r->ev[i_stop].audio_ms, e2 / 16.0, 150);   /* after "milk" */
            if (i_final >= 0) CHECK_STR(r->ev[i_final].text, "I went to the store and");
        } else {
            /* the same audio on the fixed silence: two turns, the first cut at the pause */
            CHECK_EQ_INT(count(r, OMNI_VOICE_SPEECH_STOPPED), 2);
            int i_stop = find(r, OMNI_VOICE_SPEECH_STOPPED, 0);
            if (i_stop >= 0) CHECK(r->ev[i_stop].audio_ms < (int64_t)(s2 / 16));
            CHECK_EQ_INT(st.eot_continue + st.eot_complete + st.eot_unsure, 0);
        }
        omni_voice_free(v);
    }
    free(x);
    omni_asr_free(asr);
}

/* A finished question ends the turn after less quiet than the fixed silence: 240 ms is
 * enough for it, and not for 280 ms (nine 32 ms windows). Everything is pushed at once,
 * so the transcript comes after the listener has heard all the quiet there is: the worker
 * ends the turn itself. */
TEST(sentence_end_ends_the_turn_sooner) {
    REQUIRE(load_models(), "the shared LLM or Whisper model does not load");
    omni_asr *asr = rigged_asr("What time is it?");
    REQUIRE(asr, "tests/rig_whisper.py could not make its model (python3 and the shared micro Whisper)");
    size_t n1, a0, a1, n, s2, e2;
    int16_t *x1 = make_speech("en", "What time is it?", 0.4, 0.0, &n1, &a0, &a1);
    int16_t *x = x1 ? join_speech(x1, a1, NULL, 0, 0, 0, 240, &n, &s2, &e2) : NULL;
    free(x1);
    if (!x) omni_asr_free(asr);
    REQUIRE(x, "no test speech (espeak-ng, installed by scripts/setup.sh, or audio decoding failed)");
    int16_t quiet[16 * 300] = {0};
    struct rec *r = &g_rec;
    for (int mode = OMNI_VOICE_EOT_TRANSCRIPT; mode >= OMNI_VOICE_EOT_SILENCE; mode--) {
        omni_voice *v = eot_voice(r, asr, mode);
        CHECK(v != NULL);
        if (!v) break;
        push_16k(v, x, n);
        CHECK(omni_voice_wait_idle(v, 60000) == 0);
        omni_voice_stats st;
        omni_voice_get_stats(v, &st);
        if (mode == OMNI_VOICE_EOT_TRANSCRIPT) {
            CHECK_EQ_INT(count(r, OMNI_VOICE_SPEECH_STOPPED), 1);
            CHECK_EQ_INT(count(r, OMNI_VOICE_RESPONSE_DONE), 1);
            CHECK_EQ_INT(st.eot_complete, 1);
            int i_stop = find(r, OMNI_VOICE_SPEECH_STOPPED, 0), i_final = find(r, OMNI_VOICE_TRANSCRIPT_FINAL, 0);
            int i_resp = find(r, OMNI_VOICE_RESPONSE_STARTED, 0);
            CHECK(i_stop >= 0 && i_final > i_stop && i_resp > i_final);
            if (i_final >= 0) CHECK_STR(r->ev[i_final].text, "What time is it?");
            if (i_stop >= 0) CHECK_NEAR((double)r->ev[i_stop].audio_ms, a1 / 16.0, 150);
        } else {
            CHECK_EQ_INT(count(r, OMNI_VOICE_SPEECH_STOPPED), 0);   /* still waiting for its 280 ms */
            push_16k(v, quiet, sizeof quiet / sizeof quiet[0]);
            CHECK(omni_voice_wait_idle(v, 60000) == 0);
            CHECK_EQ_INT(count(r, OMNI_VOICE_SPEECH_STOPPED), 1);
            CHECK_EQ_INT(count(r, OMNI_VOICE_RESPONSE_DONE), 1);
        }
        omni_voice_free(v);
    }
    free(x);
    omni_asr_free(asr);
}

/* Korean: a connective ending (-서) holds the turn through the pause. */
TEST(korean_connective_keeps_the_turn_open) {
    REQUIRE(load_models(), "the shared LLM or Whisper model does not load");
    omni_asr *asr = rigged_asr("어제 친구를 만나서");
    REQUIRE(asr, "tests/rig_whisper.py could not make its model (python3 and the shared micro Whisper)");
    size_t n1, n2, a0, a1, b0, b1, n, s2, e2;
    int16_t *x1 = make_speech("ko", "어제 친구를 만나서", 0.4, 0.0, &n1, &a0, &a1);
    int16_t *x2 = make_speech("ko", "영화를 봤어요.", 0.0, 0.0, &n2, &b0, &b1);
    int16_t *x = x1 && x2 ? join_speech(x1, a1, x2, b0, b1, 500, 1500, &n, &s2, &e2) : NULL;
    free(x1);
    free(x2);
    if (!x) omni_asr_free(asr);
    REQUIRE(x, "no test speech (espeak-ng, installed by scripts/setup.sh, or audio decoding failed)");
    struct rec *r = &g_rec;
    omni_voice *v = eot_voice(r, asr, OMNI_VOICE_EOT_TRANSCRIPT);
    CHECK(v != NULL);
    if (v) {
        omni_voice_stats st;
        push_16k(v, x, s2);
        CHECK(omni_voice_wait_idle(v, 60000) == 0);
        CHECK_EQ_INT(count(r, OMNI_VOICE_SPEECH_STOPPED), 0);
        push_16k(v, x + s2, n - s2);
        CHECK(omni_voice_wait_idle(v, 60000) == 0);
        omni_voice_get_stats(v, &st);
        CHECK_EQ_INT(count(r, OMNI_VOICE_SPEECH_STOPPED), 1);
        CHECK_MSG(st.eot_continue >= 1 && st.eot_complete == 0, "pauses: %d complete, %d unsure, %d continue; spec %d", st.eot_complete, st.eot_unsure, st.eot_continue, st.spec_started);
        int i_stop = find(r, OMNI_VOICE_SPEECH_STOPPED, 0);
        if (i_stop >= 0) CHECK_NEAR((double)r->ev[i_stop].audio_ms, e2 / 16.0, 150);
        omni_voice_free(v);
    }
    free(x);
    omni_asr_free(asr);
}

int main(void) {
    TEST_EXPECT(12);
    RUN(splitter_cuts_streamed_text);
    RUN(segmenter_finds_turns);
    RUN(one_turn_events_in_order);
    RUN(second_turn_reuses_prompt_cache_korean);
    RUN(barge_in_cancels_and_truncates);
    RUN(short_pause_gives_no_response_events);
    RUN(update_rearms_turn_detection);
    RUN(truncate_after_reply_finished);
    RUN(bad_params_are_refused);
    RUN(trailing_word_keeps_the_turn_open);
    RUN(sentence_end_ends_the_turn_sooner);
    RUN(korean_connective_keeps_the_turn_open);
    omni_model_free(g_llm);
    omni_asr_free(g_asr);
    return test_summary();
}
