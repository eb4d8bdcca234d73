/* Speech out speed: time to the first encoded byte and real-time factor (synthesis time /
 * audio duration) for a one-sentence and a ten-sentence reply, English and Korean,
 * through the voice layer and an encoder, as POST /v1/audio/speech would run them; then
 * the same through the neural voice (Qwen3-TTS) on a random-weight pair of the
 * tiny-qwen3tts shape made here (its first chunk is 1 frame = 80 ms of audio, as the voice
 * loop streams it); then the real Qwen3-TTS-12Hz-0.6B and 1.7B shapes (random-weight F16
 * pairs made once into $BENCH_MODELS, default build/bench-models; BENCH_TTS_FULL=0 skips
 * them, =only runs them alone; BENCH_TTS_SHAPES picks one; BENCH_TTS_QUANT=q8_0 requantizes the code predictor;
 * BENCH_TTS_TYPE=q8_0 uses Q8_0 pairs) on 2 threads: time and process CPU to the first chunk, and the real-time factor
 * over BENCH_TTS_FRAMES frames (default 24, ~2 s of audio; random weights rarely stop). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_clock.h"
#include "formats/audio_encode.h"
#include "models/synth_tts.h"
#include "omni.h"
#include "tts/qwen3tts.h"

struct run {
    double t0, t_first_byte, c0, c_first_byte;
    size_t bytes, samples;
    struct audio_encoder *enc;
};

static int on_bytes(const void *p, size_t n, void *ud) {
    struct run *r = ud;
    (void)p;
    if (!r->bytes && n) { r->t_first_byte = bench_wall_s(); r->c_first_byte = bench_thread_cpu_s(); }
    r->bytes += n;
    return 0;
}

static int on_audio(const int16_t *pcm, size_t n, void *ud) {
    struct run *r = ud;
    r->samples += n;
    return audio_encoder_write(r->enc, pcm, n, NULL) ? 1 : 0;
}

/* One request; the encoder's header is not counted as "first byte": audio is. */
static int once(const char *text, const char *lang, enum audio_format fmt, double *ttfb, double *cfb, double *rtf) {
    struct run r = {0};
    omni_tts_params q = omni_tts_default_params();
    q.input = text;
    q.language = lang;
    r.enc = audio_encoder_new(fmt, OMNI_TTS_SAMPLE_RATE, on_bytes, &r, NULL);
    if (!r.enc) return -1;
    r.bytes = 0;
    r.t0 = bench_wall_s();
    r.c0 = bench_thread_cpu_s();
    struct err e = {{0}};
    int rc = omni_tts_speak(&q, on_audio, &r, e.msg, sizeof e.msg) || audio_encoder_finish(r.enc, &e);
    double t1 = bench_wall_s();
    audio_encoder_free(r.enc);
    if (rc || !r.samples) { fprintf(stderr, "bench_tts: %s\n", e.msg); return -1; }
    *ttfb = (r.t_first_byte - r.t0) * 1e3;
    *cfb = (r.c_first_byte - r.c0) * 1e3;
    *rtf = (t1 - r.t0) / ((double)r.samples / OMNI_TTS_SAMPLE_RATE);
    return 0;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- full shapes, through the engine itself (src/tts) with the voice loop's streaming ---- */

struct full_run { double t0, c0, t_first, c_first; int frames; };

static int full_sink(void *ud, const int32_t *codes, int n_frames, const float *pcm, size_t n) {
    struct full_run *r = ud;
    (void)codes, (void)pcm, (void)n;
    if (!r->frames) { r->t_first = bench_wall_s(); r->c_first = bench_cpu_s(); }
    r->frames += n_frames;
    return 0;
}

static void bench_full_shapes(void) {
    const char *full = getenv("BENCH_TTS_FULL");
    if (full && !strcmp(full, "0")) return;
    const char *dir = getenv("BENCH_MODELS") ? getenv("BENCH_MODELS") : "build/bench-models";
    const char *nf = getenv("BENCH_TTS_FRAMES");
    int frames = nf && atoi(nf) > 0 ? atoi(nf) : 24;
    const char *ty = getenv("BENCH_TTS_TYPE") ? getenv("BENCH_TTS_TYPE") : "f16";  /* the files' type: f16 or q8_0 */
    const char *only = getenv("BENCH_TTS_SHAPES");   /* e.g. "qwen3tts-0.6b"; default both */
    static const char *shapes[] = {"qwen3tts-0.6b", "qwen3tts-1.7b"};
    printf("\n## Speech out (Qwen3-TTS, random-weight %s pairs of the real shapes, 2 threads), median of 3\n\n", ty);
    printf("| shape | reply | first chunk ms (1 frame) | first chunk CPU ms (all threads) | frames | real-time factor |\n"
           "|---|---|---|---|---|---|\n");
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
        if (only && !strstr(only, shapes[k])) continue;
        char talker[512], mmproj[512];
        snprintf(talker, sizeof talker, "%s/%s-%s-talker.gguf", dir, shapes[k], ty);
        snprintf(mmproj, sizeof mmproj, "%s/%s-%s-mmproj.gguf", dir, shapes[k], ty);
        struct err e = {{0}};
        if ((access(talker, R_OK) || access(mmproj, R_OK)) &&
            synth_tts_write(synth_tts_find_shape(shapes[k]), ty, 1, talker, mmproj, &e)) {
            printf("| %s | synth failed: %s |\n", shapes[k], e.msg);
            continue;
        }
        const char *quant = getenv("BENCH_TTS_QUANT");   /* e.g. "q8_0": the code predictor requantized at load */
        struct q3tts *t = q3tts_load_quant(talker, mmproj, 2, quant, &e);
        if (!t) { printf("| %s | load failed: %s |\n", shapes[k], e.msg); continue; }
        struct { const char *name, *lang, *text; } cases[] = {
            {"en, 1 sentence", "en", "Sure, here is a quick answer to your question about the weather today."},
            {"ko, 1 sentence", "ko", "네, 오늘 날씨에 대한 질문에 간단히 답해 드릴게요."},
        };
        /* warm: pages in the weights, as the voice loop's session warm-up does */
        struct full_run w = {0};
        struct q3tts_opts wo = {"en", NULL, 2, 3, 1, NULL};
        q3tts_synthesize(t, "Hello.", 6, &wo, full_sink, &w, &e);
        for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
            double ft[3], fc[3], rt[3];
            int nfr = 0, ok = 1;
            for (int i = 0; i < 3 && ok; i++) {
                struct full_run r = {0};
                struct q3tts_opts o = {cases[c].lang, NULL, frames, 3, 1, NULL};
                r.t0 = bench_wall_s(), r.c0 = bench_cpu_s();
                ok = !q3tts_synthesize(t, cases[c].text, strlen(cases[c].text), &o, full_sink, &r, &e) && r.frames;
                double t1 = bench_wall_s();
                ft[i] = (r.t_first - r.t0) * 1e3, fc[i] = (r.c_first - r.c0) * 1e3;
                rt[i] = (t1 - r.t0) / (r.frames * 0.08);
                nfr = r.frames;
            }
            if (!ok) { printf("| %s | %s | failed: %s |\n", shapes[k], cases[c].name, e.msg); continue; }
            qsort(ft, 3, sizeof ft[0], cmp_d);
            qsort(fc, 3, sizeof fc[0], cmp_d);
            qsort(rt, 3, sizeof rt[0], cmp_d);
            printf("| %s%s%s | %s | %.1f | %.1f | %d | %.2f |\n", shapes[k], quant ? " " : "", quant ? quant : "", cases[c].name, ft[1], fc[1], nfr, rt[1]);
        }
        q3tts_free(t);
    }
}

int main(void) {
    const char *full = getenv("BENCH_TTS_FULL");
    if (full && !strcmp(full, "only")) {  /* the full shapes alone */
        bench_full_shapes();
        return 0;
    }
    static const char *en1 = "Sure, here is a quick answer to your question about the weather today.";
    static const char *ko1 = "네, 오늘 날씨에 대한 질문에 간단히 답해 드릴게요.";
    char en10[2048] = "", ko10[4096] = "";
    for (int i = 0; i < 10; i++) {
        strcat(en10, en1);
        strcat(en10, " ");
        strcat(ko10, ko1);
        strcat(ko10, " ");
    }
    struct { const char *name, *lang, *text; } cases[] = {
        {"en, 1 sentence", "en", en1}, {"en, 10 sentences", "en", en10},
        {"ko, 1 sentence", "ko", ko1}, {"ko, 10 sentences", "ko", ko10},
    };
    double warm_a, warm_b, warm_c;
    if (once("Warm up.", "en", AUDIO_FMT_PCM, &warm_a, &warm_c, &warm_b)) return 1; /* loads espeak's data */
    printf("## Speech out (espeak-ng, 24 kHz, 1 thread), median of 5\n\n");
    printf("| reply | format | first audio byte ms | first byte CPU ms | real-time factor | x real time |\n"
           "|---|---|---|---|---|---|\n");
    enum audio_format fmts[] = {AUDIO_FMT_PCM, AUDIO_FMT_OPUS, AUDIO_FMT_MP3};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; f++) {
            double tt[5], ct[5], rt[5];
            for (int k = 0; k < 5; k++)
                if (once(cases[c].text, cases[c].lang, fmts[f], &tt[k], &ct[k], &rt[k])) return 1;
            qsort(tt, 5, sizeof tt[0], cmp_d);
            qsort(ct, 5, sizeof ct[0], cmp_d);
            qsort(rt, 5, sizeof rt[0], cmp_d);
            printf("| %s | %s | %.1f | %.1f | %.4f | %.0f |\n", cases[c].name, audio_format_name(fmts[f]), tt[2],
                   ct[2], rt[2], 1.0 / rt[2]);
        }

    /* the neural voice */
    char talker[128], mmproj[128], err[512];
    snprintf(talker, sizeof talker, "/tmp/omni-bench-tts-%d-talker.gguf", (int)getpid());
    snprintf(mmproj, sizeof mmproj, "/tmp/omni-bench-tts-%d-mmproj.gguf", (int)getpid());
    struct err se = {{0}};
    if (synth_tts_write(synth_tts_find_shape("tiny-qwen3tts"), "f32", 1, talker, mmproj, &se) ||
        omni_tts_load_neural(talker, mmproj, 1, err, sizeof err)) {
        fprintf(stderr, "bench_tts: neural voice: %s%s\n", se.msg, err);
        unlink(talker), unlink(mmproj);
        return 1;
    }
    unlink(talker), unlink(mmproj);  /* mapped: the files can go */
    printf("\n## Speech out (Qwen3-TTS, random-weight tiny-qwen3tts pair, 24 kHz, 1 thread), median of 5\n\n");
    printf("| reply | format | first audio chunk ms | first chunk CPU ms | real-time factor | x real time |\n"
           "|---|---|---|---|---|---|\n");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double tt[5], ct[5], rt[5];
        for (int k = 0; k < 5; k++)
            if (once(cases[c].text, cases[c].lang, AUDIO_FMT_PCM, &tt[k], &ct[k], &rt[k])) return 1;
        qsort(tt, 5, sizeof tt[0], cmp_d);
        qsort(ct, 5, sizeof ct[0], cmp_d);
        qsort(rt, 5, sizeof rt[0], cmp_d);
        printf("| %s | pcm | %.1f | %.1f | %.4f | %.0f |\n", cases[c].name, tt[2], ct[2], rt[2], 1.0 / rt[2]);
    }
    omni_tts_load_neural(NULL, NULL, 0, err, sizeof err);
    bench_full_shapes();
    return 0;
}
