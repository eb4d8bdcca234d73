/* `omni eval-asr`: prints the raw numbers of a Whisper model on one audio file as one
 * JSON object (mel frame count, forced prompt, top-5 logits along the arg-max chain,
 * and optionally VAD probabilities/segments), to compare against whisper.cpp. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/pool.h"
#include "formats/audio_decode.h"
#include "models/silero_vad.h"
#include "models/whisper.h"
#include "devtools/devtools.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: omni eval-asr -m MODEL [--vad VADMODEL] [--steps N] [-t THREADS] FILE\n\n"
            "Runs a Whisper model (whisper.cpp ggml .bin) on the first 30 s of FILE and prints one JSON\n"
            "object for comparison with a reference implementation:\n"
            "  n_samples, mel_frames   the 16 kHz sample count and log-mel frames covering it\n"
            "  prompt                  the forced decoder prompt: start-of-transcript, English,\n"
            "                          transcribe, no-timestamps\n"
            "  steps                   N entries of {\"top5\": [[token, logit], ...]}: step 0 after the\n"
            "                          prompt, each later step after feeding back the previous arg-max\n"
            "                          (no suppression rules)\n"
            "  vad_probs, vad_segments with --vad: Silero speech probability per 512-sample window and\n"
            "                          speech segments [start, end] in centiseconds (whisper.cpp defaults)\n\n"
            "  -m, --model PATH   Whisper model (required)\n"
            "  --vad PATH         Silero VAD model (ggml), optional\n"
            "  --steps N          decoding steps to print (default 16)\n"
            "  -t, --threads N    compute threads (default: all cores)\n");
}

static void print_top5(const float *lg, int n) {
    int best[5];
    for (int r = 0; r < 5; r++) {
        int b = -1;
        for (int i = 0; i < n; i++) {
            int used = 0;
            for (int q = 0; q < r; q++) used |= best[q] == i;
            if (!used && (b < 0 || lg[i] > lg[b])) b = i;
        }
        best[r] = b;
        printf("%s[%d,%.5f]", r ? "," : "", b, lg[b]);
    }
}

int tool_eval_asr(int argc, char **argv) {
    const char *model = NULL, *vadm = NULL, *file = NULL;
    int steps = 16, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has) model = argv[++i];
        else if (!strcmp(a, "--vad") && has) vadm = argv[++i];
        else if (!strcmp(a, "--steps") && has) steps = atoi(argv[++i]);
        else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && has) threads = atoi(argv[++i]);
        else if (a[0] == '-' && a[1]) return cli_fail("eval-asr: unknown or incomplete option '%s' (see omni eval-asr --help)", a);
        else if (!file) file = a;
        else return cli_fail("eval-asr: only one audio file is accepted, got '%s' too", a);
    }
    if (!model) return cli_fail("eval-asr: no model given; use -m MODEL (see omni eval-asr --help)");
    if (!file) return cli_fail("eval-asr: no audio file given");
    if (steps < 1 || steps > 400) return cli_fail("eval-asr: --steps must be between 1 and 400");

    struct err e = {{0}};
    int rc = 1;
    struct whisper_model *m = NULL;
    struct whisper_state *st = NULL;
    struct vad *v = NULL;
    struct pool *pool = NULL;
    float *x = NULL, *lg = NULL, *probs = NULL;
    struct vad_segment *segs = NULL;
    struct mel mel = {0};
    size_t n = 0;
    if (!(m = whisper_load(model, &e)) || audio_decode_file(file, &x, &n, &e)) { cli_fail("%s", e.msg); goto out; }
    if (vadm && !(v = vad_load(vadm, &e))) { cli_fail("%s", e.msg); goto out; }
    pool = pool_create(threads);
    if (!(st = whisper_state_new(m, pool, &e)) || whisper_mel(m, x, n, &mel, &e) ||
        whisper_encode(st, &mel, 0, 0, &e)) {
        cli_fail("%s", e.msg);
        goto out;
    }
    const struct whisper_special *sp = whisper_special(m);
    int nv = whisper_n_vocab(m);
    int prompt[4] = {sp->sot, sp->lang0 + 0, sp->transcribe, sp->notimestamps};
    int np = whisper_is_multilingual(m) ? 4 : 3;
    if (np == 3) { prompt[1] = sp->transcribe; prompt[2] = sp->notimestamps; }
    lg = malloc((size_t)nv * sizeof(float));
    if (!lg) { cli_fail("out of memory"); goto out; }
    printf("{\"n_samples\":%zu,\"mel_frames\":%d,\"prompt\":[", n, mel.n_len_org);
    for (int i = 0; i < np; i++) printf("%s%d", i ? "," : "", prompt[i]);
    printf("],\"steps\":[");
    int pos = 0, tok = 0;
    for (int s = 0; s < steps && pos < whisper_hparams(m)->n_text_ctx - 1; s++) {
        int rcd = s == 0 ? whisper_decode(st, prompt, np, 0, lg, &e) : whisper_decode(st, &tok, 1, pos, lg, &e);
        if (rcd) { printf("]}\n"); cli_fail("%s", e.msg); goto out; }
        pos += s == 0 ? np : 1;
        tok = 0;
        for (int i = 1; i < nv; i++) if (lg[i] > lg[tok]) tok = i;
        printf("%s{\"top5\":[", s ? "," : "");
        print_top5(lg, nv);
        printf("]}");
    }
    printf("]");
    if (v) {
        int nprob = 0, nseg = 0;
        struct vad_params vp = vad_default_params();
        if (vad_probs(v, x, n, &probs, &nprob, &e) || vad_segments(probs, nprob, vad_window(v), &vp, &segs, &nseg, &e)) {
            printf("}\n");
            cli_fail("%s", e.msg);
            goto out;
        }
        printf(",\"vad_probs\":[");
        for (int i = 0; i < nprob; i++) printf("%s%.5f", i ? "," : "", probs[i]);
        printf("],\"vad_segments\":[");
        for (int i = 0; i < nseg; i++)
            printf("%s[%.3f,%.3f]", i ? "," : "", (double)vad_samples_to_cs(segs[i].start), (double)vad_samples_to_cs(segs[i].end));
        printf("],\"vad_params\":{\"threshold\":%.3f,\"min_speech_duration_ms\":%d,\"min_silence_duration_ms\":%d,"
               "\"speech_pad_ms\":%d}", vp.threshold, vp.min_speech_ms, vp.min_silence_ms, vp.speech_pad_ms);
    }
    printf("}\n");
    rc = 0;
out:
    free(segs); free(probs); free(lg); free(x);
    mel_free(&mel);
    whisper_state_free(st);
    whisper_free(m);
    vad_free(v);
    pool_free(pool);
    return rc;
}
