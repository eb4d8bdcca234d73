/* `omni vad`: voice activity detection with Silero VAD on any audio file; prints the
 * speech segments (or, with --json, the per-window probabilities and segments). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "omni.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: omni vad -m VADMODEL FILE [--json] [--threshold P] [--min-speech-ms N]\n"
            "                [--min-silence-ms N] [--pad-ms N]\n\n"
            "Finds the stretches of speech in an audio file (WAV, FLAC, OGG, Opus, MP3; any rate)\n"
            "with a Silero VAD model in whisper.cpp's ggml format (e.g. ggml-silero-v6.2.0.bin).\n"
            "The audio is resampled to 16 kHz and scored in 512-sample (32 ms) windows.\n\n"
            "  -m, --model PATH     the VAD model file (required)\n"
            "  --json               print {\"n_samples\", \"window\", \"vad_probs\", \"vad_segments\"}\n"
            "                       (segments as [start, end] in centiseconds)\n"
            "  --threshold P        speech probability threshold (default 0.5)\n"
            "  --min-speech-ms N    drop segments shorter than this (default 250)\n"
            "  --min-silence-ms N   silence that ends a segment (default 100)\n"
            "  --pad-ms N           padding around each segment (default 30)\n\n"
            "Without --json, prints one line per segment: start and end in seconds.\n");
}

int cmd_vad(int argc, char **argv) {
    const char *model = NULL, *file = NULL;
    int json = 0;
    omni_vad_params vp = omni_vad_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has) model = argv[++i];
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--threshold") && has) vp.threshold = strtof(argv[++i], NULL);
        else if (!strcmp(a, "--min-speech-ms") && has) vp.min_speech_ms = atoi(argv[++i]);
        else if (!strcmp(a, "--min-silence-ms") && has) vp.min_silence_ms = atoi(argv[++i]);
        else if (!strcmp(a, "--pad-ms") && has) vp.speech_pad_ms = atoi(argv[++i]);
        else if (a[0] == '-' && a[1]) return cli_fail("vad: unknown or incomplete option '%s' (see omni vad --help)", a);
        else if (!file) file = a;
        else return cli_fail("vad: only one audio file is accepted, got '%s' too", a);
    }
    if (!model) return cli_fail("vad: no model given; use -m VADMODEL (see omni vad --help)");
    if (!file) return cli_fail("vad: no audio file given (see omni vad --help)");
    if (!(vp.threshold > 0 && vp.threshold < 1)) return cli_fail("vad: --threshold must be between 0 and 1");
    if (vp.min_speech_ms < 0 || vp.min_silence_ms < 0 || vp.speech_pad_ms < 0)
        return cli_fail("vad: durations must not be negative");

    char err[512];
    omni_vad *v = omni_vad_load(model, err, sizeof err);
    if (!v) return cli_fail("%s", err);
    float *x = NULL, *p = NULL;
    size_t n = 0;
    int np = 0, ns = 0, rc = 1;
    omni_vad_segment *s = NULL;
    if (omni_audio_decode_file(file, &x, &n, err, sizeof err) || omni_vad_probs(v, x, n, &p, &np, err, sizeof err) ||
        omni_vad_segments(p, np, omni_vad_window(v), &vp, &s, &ns, err, sizeof err)) {
        cli_fail("%s", err);
        goto out;
    }
    if (json) {
        printf("{\"n_samples\":%zu,\"window\":%d,\"vad_probs\":[", n, omni_vad_window(v));
        for (int i = 0; i < np; i++) printf("%s%.5f", i ? "," : "", p[i]);
        printf("],\"vad_segments\":[");
        for (int i = 0; i < ns; i++)
            printf("%s[%.3f,%.3f]", i ? "," : "", (double)omni_vad_samples_to_cs(s[i].start),
                   (double)omni_vad_samples_to_cs(s[i].end));
        printf("],\"vad_params\":{\"threshold\":%.3f,\"min_speech_duration_ms\":%d,"
               "\"min_silence_duration_ms\":%d,\"speech_pad_ms\":%d}}\n",
               vp.threshold, vp.min_speech_ms, vp.min_silence_ms, vp.speech_pad_ms);
    } else {
        for (int i = 0; i < ns; i++)
            printf("%.2f\t%.2f\n", omni_vad_samples_to_cs(s[i].start) / 100.0, omni_vad_samples_to_cs(s[i].end) / 100.0);
        if (!ns) fprintf(stderr, "no speech found\n");
    }
    rc = 0;
out:
    free(s);
    free(p);
    free(x);
    omni_vad_free(v);
    return rc;
}
