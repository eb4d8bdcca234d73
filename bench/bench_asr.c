/* Speech in speed on full-size random-weight Whisper tiny and base files (made once with
 * the project's synth into $BENCH_MODELS): mel, encoder per 30 s window and per 3 s clip
 * (reduced audio context), decoder ms/token and real-time factor on jfk.wav. When
 * WHISPER_CLI names whisper.cpp's whisper-cli, it runs on the same files in the same run
 * and the ratio omni/whisper.cpp (time; below 1 is faster) is printed per stage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "bench_clock.h"
#include "core/pool.h"
#include "formats/audio_decode.h"
#include "models/synth_whisper.h"
#include "models/whisper.h"

#define REPS 3          /* median of this many for mel and the encoder */
#define DEC_TOKENS 128  /* decoder steps timed after the 4-token prompt */
#define CLIP_SAMPLES 48000
#define CLIP_CTX 150    /* encoder positions for 3 s: 300 mel frames / 2 */


static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct timing { double wall_ms, cpu_ms; };

static struct timing median(double *w, double *c, int n) {
    qsort(w, (size_t)n, sizeof *w, cmp_d);
    qsort(c, (size_t)n, sizeof *c, cmp_d);
    return (struct timing){w[n / 2], c[n / 2]};
}

/* whisper.cpp's numbers for one file, from whisper_print_timings; < 0 = not printed. */
struct ref {
    double mel, enc, dec, batchd, total, load;
    double cpu; /* the whole process, user + system, ms */
    int n_dec;
};

static double field_ms(const char *out, const char *key, int per_run, int *runs) {
    const char *p = strstr(out, key);
    if (!p) return -1;
    p = strchr(p, '=');
    if (!p) return -1;
    double total = strtod(p + 1, NULL);
    if (!per_run) return total;
    const char *q = strchr(p, '/'), *r = strchr(p, '(');
    if (runs && q) *runs = atoi(q + 1);
    return r ? strtod(r + 1, NULL) : -1;
}

static int run_cli(const char *cli, const char *model, const char *wav, int threads, int audio_ctx, struct ref *r) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "'%s' -m '%s' -f '%s' -t %d -l en -bs 1 -bo 1 -nf -mc 0 -ng -ac %d 2>&1 </dev/null", cli, model,
             wav, threads, audio_ctx);
    struct rusage u0, u1;
    getrusage(RUSAGE_CHILDREN, &u0);
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    size_t k;
    while (out && (k = fread(out + n, 1, cap - n - 1, f)) > 0) {
        n += k;
        if (n + 1 >= cap) { char *o = realloc(out, cap *= 2); if (!o) break; out = o; }
    }
    int rc = pclose(f);
    getrusage(RUSAGE_CHILDREN, &u1);
#define TV_MS(a, b) (((b).tv_sec - (a).tv_sec) * 1e3 + ((b).tv_usec - (a).tv_usec) * 1e-3)
    r->cpu = TV_MS(u0.ru_utime, u1.ru_utime) + TV_MS(u0.ru_stime, u1.ru_stime);
#undef TV_MS
    if (!out) return -1;
    out[n] = 0;
    r->mel = field_ms(out, "mel time", 0, NULL);
    r->enc = field_ms(out, "encode time", 1, NULL);
    r->dec = field_ms(out, "decode time", 1, &r->n_dec);
    r->batchd = field_ms(out, "batchd time", 1, NULL);
    r->total = field_ms(out, "total time", 0, NULL);
    r->load = field_ms(out, "load time", 0, NULL);
    free(out);
    return rc == 0 && r->enc >= 0 ? 0 : -1;
}

/* 16 kHz mono s16 WAV, so whisper-cli gets the same 3 s clip we encode. */
static int write_wav(const char *path, const float *x, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    unsigned char h[44] = "RIFF----WAVEfmt ";
    uint32_t v;
#define PUT32(o, x) (v = (uint32_t)(x), h[o] = v & 255, h[o + 1] = v >> 8 & 255, h[o + 2] = v >> 16 & 255, h[o + 3] = v >> 24)
    PUT32(4, 36 + 2 * n);
    PUT32(16, 16);
    h[20] = 1; h[22] = 1;
    PUT32(24, 16000);
    PUT32(28, 32000);
    h[32] = 2; h[34] = 16;
    memcpy(h + 36, "data", 4);
    PUT32(40, 2 * n);
#undef PUT32
    fwrite(h, 1, 44, f);
    for (size_t i = 0; i < n; i++) {
        float s = x[i] * 32768.0f;
        int16_t q = (int16_t)(s > 32767 ? 32767 : s < -32768 ? -32768 : s);
        unsigned char b[2] = {(unsigned char)(q & 255), (unsigned char)((uint16_t)q >> 8)};
        fwrite(b, 1, 2, f);
    }
    return fclose(f);
}

static void row(const char *model, int threads, const char *stage, struct timing t, double ref, int have_ref,
                const char *unit) {
    printf("| %s | %d | %s | %.2f | %.2f |", model, threads, stage, t.wall_ms, t.cpu_ms);
    if (have_ref) {
        if (ref >= 0) printf(" %.2f | %.2fx |", ref, t.wall_ms / ref);
        else printf(" n/a | n/a |");
    }
    printf("%s\n", unit);
}

static int bench_shape(const char *shape, const char *file, const float *x, size_t n, const char *jfk,
                       const char *clip, int threads, const char *cli) {
    struct err e = {{0}};
    double l0 = bench_wall_s(), lc0 = bench_cpu_s();
    struct whisper_model *m = whisper_load(file, &e);
    double load_wall = (bench_wall_s() - l0) * 1e3, load_cpu = (bench_cpu_s() - lc0) * 1e3;
    if (!m) { fprintf(stderr, "bench_asr: %s\n", e.msg); return -1; }
    struct pool *pool = threads > 1 ? pool_create(threads) : NULL;
    struct whisper_state *s = whisper_state_new(m, pool, &e);
    int nv = whisper_n_vocab(m), rc = -1;
    float *lg = malloc((size_t)nv * sizeof *lg);
    struct mel mel = {0}, cmel = {0};
    double w[REPS], c[REPS];
    if (!s || !lg) goto done;

    for (int r = 0; r < REPS; r++) {
        mel_free(&mel);
        double t0 = bench_wall_s(), c0 = bench_cpu_s();
        if (whisper_mel(m, x, n, &mel, &e)) goto done;
        w[r] = (bench_wall_s() - t0) * 1e3; c[r] = (bench_cpu_s() - c0) * 1e3;
    }
    struct timing t_mel = median(w, c, REPS);
    if (whisper_encode(s, &mel, 0, 0, &e)) goto done; /* warm-up: page in the weights */
    for (int r = 0; r < REPS; r++) {
        double t0 = bench_wall_s(), c0 = bench_cpu_s();
        if (whisper_encode(s, &mel, 0, 0, &e)) goto done;
        w[r] = (bench_wall_s() - t0) * 1e3; c[r] = (bench_cpu_s() - c0) * 1e3;
    }
    struct timing t_enc = median(w, c, REPS);

    /* decoder: the arg-max chain from the usual prompt, one token per call */
    const struct whisper_special *sp = whisper_special(m);
    int prompt[4] = {sp->sot, sp->lang0, sp->transcribe, sp->notimestamps};
    if (whisper_decode(s, prompt, 4, 0, lg, &e)) goto done;
    double t0 = bench_wall_s(), c0 = bench_cpu_s();
    for (int i = 0; i < DEC_TOKENS; i++) {
        int best = 0;
        for (int k = 1; k < sp->eot; k++) if (lg[k] > lg[best]) best = k;
        if (whisper_decode(s, &best, 1, 4 + i, lg, &e)) goto done;
    }
    struct timing t_dec = {(bench_wall_s() - t0) * 1e3 / DEC_TOKENS, (bench_cpu_s() - c0) * 1e3 / DEC_TOKENS};

    if (whisper_mel(m, x, CLIP_SAMPLES, &cmel, &e)) goto done;
    for (int r = 0; r < REPS; r++) {
        t0 = bench_wall_s(); c0 = bench_cpu_s();
        if (whisper_encode(s, &cmel, 0, CLIP_CTX, &e)) goto done;
        w[r] = (bench_wall_s() - t0) * 1e3; c[r] = (bench_cpu_s() - c0) * 1e3;
    }
    struct timing t_clip = median(w, c, REPS);

    /* the whole file as whisper-cli -bs 1 -nf runs it: greedy, no fallback */
    struct whisper_params p = whisper_default_params();
    p.beam_size = 1;
    p.temperature_inc = 0;
    struct whisper_result res;
    t0 = bench_wall_s(); c0 = bench_cpu_s();
    if (whisper_transcribe(s, x, n, &p, &res, &e)) goto done;
    double audio_s = (double)n / 16000;
    struct timing t_rtf = {(bench_wall_s() - t0) / audio_s, (bench_cpu_s() - c0) / audio_s};
    /* whole run as a process would do it: load, mel, windows, decoding */
    struct timing t_all = {load_wall + t_rtf.wall_ms * audio_s * 1e3, load_cpu + t_rtf.cpu_ms * audio_s * 1e3};
    int n_tok = 0;
    for (int i = 0; i < res.n_segments; i++) n_tok += res.segments[i].n_tokens;
    whisper_result_free(&res);

    struct ref rf = {-1, -1, -1, -1, -1, -1, 0, 0}, rc3 = rf;
    int have = cli != NULL;
    if (have && run_cli(cli, file, jfk, threads, 0, &rf))
        fprintf(stderr, "bench_asr: whisper-cli failed on %s\n", file);
    if (have && run_cli(cli, file, clip, threads, CLIP_CTX, &rc3))
        fprintf(stderr, "bench_asr: whisper-cli -ac %d failed on %s\n", CLIP_CTX, file);
    double ref_rtf = rf.total >= 0 && rf.load >= 0 ? (rf.total - rf.load) / 1e3 / audio_s : -1;
    row(shape, threads, "mel, jfk.wav 11 s (ms)", t_mel, rf.mel, have, "");
    row(shape, threads, "encoder, 30 s window (ms)", t_enc, rf.enc, have, "");
    row(shape, threads, "encoder, 3 s clip, audio_ctx 150 (ms)", t_clip, rc3.enc, have, "");
    char lbl[96];
    snprintf(lbl, sizeof lbl, "decoder (ms/token; whisper.cpp: %d greedy runs)", rf.n_dec);
    row(shape, threads, lbl, t_dec, rf.dec, have, "");
    snprintf(lbl, sizeof lbl, "real-time factor, jfk.wav greedy (%d tokens out)", n_tok);
    row(shape, threads, lbl, t_rtf, ref_rtf, have, "");
    /* on a shared machine the per-stage wall ratios above carry the scheduler's noise;
     * CPU time of the whole run is the steadier comparison */
    struct timing t_all_cpu = {t_all.cpu_ms, t_all.cpu_ms};
    row(shape, threads, "whole run incl. load, jfk.wav: CPU ms (whisper.cpp: process user+sys)", t_all_cpu, rf.cpu > 0 ? rf.cpu : -1,
        have, "");
    rc = 0;
done:
    if (rc) fprintf(stderr, "bench_asr: %s: %s\n", shape, e.msg);
    mel_free(&mel);
    mel_free(&cmel);
    free(lg);
    whisper_state_free(s);
    pool_free(pool);
    whisper_free(m);
    return rc;
}

int main(void) {
    const char *models = getenv("OMNI_MODELS") ? getenv("OMNI_MODELS") : "../shared/models";
    const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
    char dir[1024], jfk[1100], clip[1100];
    if (getenv("BENCH_MODELS")) snprintf(dir, sizeof dir, "%s", getenv("BENCH_MODELS"));
    else snprintf(dir, sizeof dir, "%s/bench-models", build);
    mkdir(dir, 0755);
    snprintf(jfk, sizeof jfk, "%s/audio/jfk.wav", models);
    snprintf(clip, sizeof clip, "%s/jfk-3s.wav", dir);
    const char *cli = getenv("WHISPER_CLI") && *getenv("WHISPER_CLI") ? getenv("WHISPER_CLI") : NULL;
    const char *threads = getenv("BENCH_THREADS") ? getenv("BENCH_THREADS") : "1 2";
    const char *shapes = getenv("BENCH_ASR_SHAPES") ? getenv("BENCH_ASR_SHAPES") : "whisper-tiny whisper-base";

    struct err e = {{0}};
    float *x = NULL;
    size_t n = 0;
    if (audio_decode_file(jfk, &x, &n, &e)) { fprintf(stderr, "bench_asr: %s\n", e.msg); return 1; }
    if (n < CLIP_SAMPLES || write_wav(clip, x, CLIP_SAMPLES)) { fprintf(stderr, "bench_asr: cannot write %s\n", clip); return 1; }

    printf("## Speech in (Whisper F16, random weights of the real shape)%s\n\n",
           cli ? ", omni vs whisper.cpp (ratio = omni time / whisper.cpp time)" : "");
    printf("| model | threads | stage | omni wall | omni CPU |%s\n|---|---|---|---|---|%s\n",
           cli ? " whisper.cpp | ratio |" : "", cli ? "---|---|" : "");
    int fail = 0;
    char sh[256];
    snprintf(sh, sizeof sh, "%s", shapes);
    for (char *sv = NULL, *name = strtok_r(sh, " ", &sv); name; name = strtok_r(NULL, " ", &sv)) {
        const struct synth_whisper_shape *ws = synth_whisper_find_shape(name);
        if (!ws) { fprintf(stderr, "bench_asr: unknown shape %s\n", name); fail = 1; continue; }
        char file[1200];
        snprintf(file, sizeof file, "%s/%s-f16.bin", dir, name);
        struct stat st;
        if (stat(file, &st) && synth_whisper_write(ws, "f16", 1, file, &e)) {
            fprintf(stderr, "bench_asr: %s\n", e.msg);
            fail = 1;
            continue;
        }
        char th[64];
        snprintf(th, sizeof th, "%s", threads);
        for (char *tv = NULL, *t = strtok_r(th, " ", &tv); t; t = strtok_r(NULL, " ", &tv))
            if (bench_shape(name + 8, file, x, n, jfk, clip, atoi(t), cli)) fail = 1;
    }
    free(x);
    return fail;
}
