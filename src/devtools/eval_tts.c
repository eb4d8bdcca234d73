/* `omni eval-tts`: synthesizes one text with a Qwen3-TTS pair greedily (llama-tts's
 * --temp 0 --top-k 1, no speaker file) and prints the codes of every frame and the
 * 24 kHz samples as one JSON line, to compare against llama.cpp's llama-tts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "devtools/devtools.h"
#include "tts/qwen3tts.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: omni eval-tts -m TALKER.gguf --mmproj MMPROJ.gguf [--lang en|ko|...] [-n MAX_FRAMES]\n"
            "                     [--voice NAME] [-t THREADS] -p TEXT --json\n\n"
            "Speaks TEXT with a Qwen3-TTS talker and its mmproj (code predictor + codec decoder) as\n"
            "llama-tts does with --temp 0 --top-k 1 and prints one JSON line:\n"
            "  {\"codes\": [[16 ints] per frame], \"samples\": [floats in -1..1], \"sample_rate\": 24000}\n\n"
            "  -m PATH          the talker GGUF (architecture qwen3tts)\n"
            "  --mmproj PATH    the mmproj GGUF written with it\n"
            "  --lang L         language code (en, ko, zh, ja, de, fr, es, it, pt, ru) or name (default en)\n"
            "  -n N             at most N frames (12.5 a second; default 512)\n"
            "  --voice NAME     a built-in speaker of the model (default: none, as llama-tts)\n"
            "  -p TEXT          the text to speak\n"
            "  --json           the output format (the only one)\n");
}

struct out { int n_frames; size_t n_samples; int32_t *codes; float *pcm; };

static int collect(void *ud, const int32_t *codes, int n_frames, const float *pcm, size_t n) {
    struct out *o = ud;
    int32_t *c = realloc(o->codes, sizeof *c * (size_t)(o->n_frames + n_frames) * Q3TTS_CODES);
    float *p = realloc(o->pcm, sizeof *p * (o->n_samples + n));
    if (c) o->codes = c;
    if (p) o->pcm = p;
    if (!c || !p) return 1;
    memcpy(o->codes + (size_t)o->n_frames * Q3TTS_CODES, codes, sizeof *c * (size_t)n_frames * Q3TTS_CODES);
    memcpy(o->pcm + o->n_samples, pcm, sizeof *p * n);
    o->n_frames += n_frames, o->n_samples += n;
    return 0;
}

int tool_eval_tts(int argc, char **argv) {
    const char *model = NULL, *mmproj = NULL, *text = NULL;
    struct q3tts_opts o = {"en", NULL, 512, 0, 0, NULL};
    int threads = 0, json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has) model = argv[++i];
        else if ((!strcmp(a, "--mmproj") || !strcmp(a, "-mm")) && has) mmproj = argv[++i];
        else if (!strcmp(a, "--lang") && has) o.lang = argv[++i];
        else if (!strcmp(a, "--voice") && has) o.voice = argv[++i];
        else if ((!strcmp(a, "-n") || !strcmp(a, "--n-predict")) && has) o.max_frames = atoi(argv[++i]);
        else if ((!strcmp(a, "-p") || !strcmp(a, "--prompt")) && has) text = argv[++i];
        else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && has) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--json")) json = 1;
        else return cli_fail("eval-tts: unknown or incomplete option '%s' (see omni eval-tts --help)", a);
    }
    if (!model || !mmproj || !text) { usage(stderr); return cli_fail("eval-tts: -m, --mmproj and -p are required"); }
    if (!json) return cli_fail("eval-tts: --json is required (the only output format)");
    if (o.max_frames < 1) return cli_fail("eval-tts: -n must be at least 1");
    struct err e = {{0}};
    struct q3tts *t = q3tts_load(model, mmproj, threads, &e);
    if (!t) return cli_fail("%s", e.msg);
    struct out out = {0, 0, NULL, NULL};
    int rc = q3tts_synthesize(t, text, strlen(text), &o, collect, &out, &e);
    q3tts_free(t);
    if (rc) { free(out.codes), free(out.pcm); return cli_fail("eval-tts: %s", e.msg); }
    fputs("{\"codes\": [", stdout);
    for (int f = 0; f < out.n_frames; f++) {
        fputs(f ? ", [" : "[", stdout);
        for (int g = 0; g < Q3TTS_CODES; g++) printf("%s%d", g ? ", " : "", out.codes[(size_t)f * Q3TTS_CODES + (size_t)g]);
        fputc(']', stdout);
    }
    fputs("], \"samples\": [", stdout);
    for (size_t i = 0; i < out.n_samples; i++) printf("%s%.7g", i ? "," : "", out.pcm[i]);
    printf("], \"sample_rate\": %d}\n", Q3TTS_SAMPLE_RATE);
    free(out.codes), free(out.pcm);
    return fflush(stdout) ? 1 : 0;
}
