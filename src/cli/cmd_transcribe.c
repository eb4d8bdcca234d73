/* `omni transcribe`: speech to text for any audio file with a Whisper model, printed
 * as plain text, JSON (OpenAI's shapes), SRT or WebVTT subtitles. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/progress.h"
#include "omni.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: omni transcribe -m MODEL FILE [options]\n\n"
            "Transcribes (or translates to English) the speech in FILE (WAV, FLAC, OGG, Opus, MP3; any\n"
            "sample rate or channel count) with a Whisper model in whisper.cpp's ggml format\n"
            "(e.g. ggml-tiny.bin, ggml-base.en.bin). Long files are processed in 30 s windows; a\n"
            "progress bar is drawn on stderr when it is a terminal.\n\n"
            "  -m, --model PATH        Whisper model (required)\n"
            "  -l, --lang CODE         spoken language: en (default), ko, de, ... or auto to detect\n"
            "  --translate             translate into English instead of transcribing\n"
            "  -f, --format FMT        text (default), json, verbose_json, srt or vtt\n"
            "  --vad PATH              Silero VAD model: transcribe only the detected speech\n"
            "  --prompt TEXT           initial prompt: spelling, names or style to follow\n"
            "  --no-timestamps         decode without timestamp tokens\n"
            "  --beam N                beam search width (default 5; 1 = greedy)\n"
            "  --temperature T         sampling temperature (default 0)\n"
            "  --no-fallback           do not retry hotter when a window decodes badly\n"
            "  --max-tokens N          stop each 30 s window after N tokens (default: 220)\n"
            "  --word-timestamps       with json/verbose_json: add \"words\" [{word, start, end}], times\n"
            "                          estimated per token as whisper.cpp does (timestamp-token\n"
            "                          probabilities, then the signal's energy)\n"
            "  --audio-ctx N           encoder positions per window (default: full 1500); smaller is\n"
            "                          faster for short clips\n"
            "  -t, --threads N         compute threads (default: all cores)\n\n"
            "json prints {\"text\": ...}; verbose_json adds language, duration and segments with\n"
            "start/end seconds, tokens and no_speech_prob, as OpenAI's /v1/audio/transcriptions does.\n");
}

/* JSON string with invalid UTF-8 replaced by U+FFFD (tokens can split characters). */
static void json_str(FILE *f, const char *s) {
    char *v = omni_utf8_sanitize(s, strlen(s));
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(v ? v : ""); *p; p++) {
        unsigned c = *p;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc((int)c, f);
    }
    fputc('"', f);
    free(v);
}

static void stamp(FILE *f, int64_t cs, char sep) {
    int64_t ms = cs * 10;
    fprintf(f, "%02d:%02d:%02d%c%03d", (int)(ms / 3600000), (int)(ms / 60000 % 60), (int)(ms / 1000 % 60), sep,
            (int)(ms % 1000));
}

static const char *trim(const char *s) {
    while (*s == ' ') s++;
    return s;
}

/* Words with their estimated times (omni_asr_result.words; the server's rule). */
static void print_words(const omni_asr_result *r) {
    printf(",\"words\":[");
    for (int i = 0; i < r->n_words; i++) {
        printf("%s{\"word\":", i ? "," : "");
        json_str(stdout, r->words[i].text);
        printf(",\"start\":%.2f,\"end\":%.2f}", r->words[i].t0 / 100.0, r->words[i].t1 / 100.0);
    }
    printf("]");
}

static void print_result(const omni_asr_result *r, const char *fmt, double duration, int translate, int words) {
    if (!strcmp(fmt, "text")) {
        for (int i = 0; i < r->n_segments; i++) printf("%s", i ? r->segments[i].text : trim(r->segments[i].text));
        printf("\n");
    } else if (!strcmp(fmt, "srt") || !strcmp(fmt, "vtt")) {
        int vtt = fmt[0] == 'v';
        if (vtt) printf("WEBVTT\n\n");
        for (int i = 0; i < r->n_segments; i++) {
            if (!vtt) printf("%d\n", i + 1);
            stamp(stdout, r->segments[i].t0, vtt ? '.' : ',');
            printf(" --> ");
            stamp(stdout, r->segments[i].t1, vtt ? '.' : ',');
            printf("\n%s\n\n", trim(r->segments[i].text));
        }
    } else {
        printf("{");
        if (!strcmp(fmt, "verbose_json")) {
            printf("\"task\":\"%s\",\"language\":", translate ? "translate" : "transcribe");
            json_str(stdout, r->language);
            printf(",\"duration\":%.3f,", duration);
        }
        printf("\"text\":");
        json_str(stdout, r->text);
        if (words) print_words(r);
        if (!strcmp(fmt, "verbose_json")) {
            printf(",\"segments\":[");
            for (int i = 0; i < r->n_segments; i++) {
                const omni_asr_segment *g = &r->segments[i];
                printf("%s{\"id\":%d,\"start\":%.2f,\"end\":%.2f,\"text\":", i ? "," : "", i, g->t0 / 100.0, g->t1 / 100.0);
                json_str(stdout, g->text);
                printf(",\"tokens\":[");
                for (int k = 0; k < g->n_tokens; k++) printf("%s%d", k ? "," : "", g->tokens[k].id);
                printf("],\"token_probs\":[");
                for (int k = 0; k < g->n_tokens; k++) printf("%s%.6f", k ? "," : "", g->tokens[k].p);
                printf("],\"no_speech_prob\":%.6f}", g->no_speech_prob);
            }
            printf("]");
        }
        printf("}\n");
    }
}

int cmd_transcribe(int argc, char **argv) {
    const char *model = NULL, *file = NULL, *fmt = "text";
    omni_asr_params wp = omni_asr_default_params();
    omni_asr_load_params lp = omni_asr_load_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has) model = argv[++i];
        else if ((!strcmp(a, "-l") || !strcmp(a, "--lang") || !strcmp(a, "--language")) && has) wp.language = argv[++i];
        else if (!strcmp(a, "--translate")) wp.translate = 1;
        else if ((!strcmp(a, "-f") || !strcmp(a, "--format")) && has) fmt = argv[++i];
        else if (!strcmp(a, "--vad") && has) lp.vad_model = argv[++i];
        else if (!strcmp(a, "--no-timestamps")) wp.no_timestamps = 1;
        else if (!strcmp(a, "--prompt") && has) wp.prompt = argv[++i];
        else if (!strcmp(a, "--temperature") && has) wp.temperature = strtof(argv[++i], NULL);
        else if (!strcmp(a, "--no-fallback")) wp.temperature_inc = 0;
        else if (!strcmp(a, "--word-timestamps")) wp.word_timestamps = 1;
        else if (!strcmp(a, "--beam") && has) wp.beam_size = atoi(argv[++i]);
        else if (!strcmp(a, "--audio-ctx") && has) wp.audio_ctx = atoi(argv[++i]);
        else if (!strcmp(a, "--max-tokens") && has) wp.max_tokens = atoi(argv[++i]);
        else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && has) lp.n_threads = atoi(argv[++i]);
        else if (a[0] == '-' && a[1]) return cli_fail("transcribe: unknown or incomplete option '%s' (see omni transcribe --help)", a);
        else if (!file) file = a;
        else return cli_fail("transcribe: only one audio file is accepted, got '%s' too", a);
    }
    if (!model) return cli_fail("transcribe: no model given; use -m MODEL (see omni transcribe --help)");
    if (!file) return cli_fail("transcribe: no audio file given");
    if (strcmp(fmt, "text") && strcmp(fmt, "json") && strcmp(fmt, "verbose_json") && strcmp(fmt, "srt") && strcmp(fmt, "vtt"))
        return cli_fail("transcribe: --format must be text, json, verbose_json, srt or vtt (got '%s')", fmt);
    if (wp.temperature < 0 || wp.temperature > 1) return cli_fail("transcribe: --temperature must be between 0 and 1");
    if (wp.beam_size < 1 || wp.beam_size > 16) return cli_fail("transcribe: --beam must be between 1 and 16");
    if (wp.audio_ctx < 0) return cli_fail("transcribe: --audio-ctx must not be negative");
    if (wp.word_timestamps && strcmp(fmt, "json") && strcmp(fmt, "verbose_json"))
        return cli_fail("transcribe: --word-timestamps needs --format json or verbose_json (got '%s')", fmt);
    if (wp.max_tokens < 0) return cli_fail("transcribe: --max-tokens must not be negative");

    char err[512];
    int rc = 1;
    float *x = NULL;
    size_t n = 0;
    omni_asr_result *r = NULL;
    /* the VAD (with --vad) loads with the model: the model's file is checked first */
    omni_asr *m = omni_asr_load(model, &lp, err, sizeof err);
    if (!m || omni_audio_decode_file(file, &x, &n, err, sizeof err)) {
        cli_fail("%s", err);
        goto out;
    }
    if (!omni_asr_is_multilingual(m) && (wp.translate || (strcmp(wp.language, "en") && strcmp(wp.language, "auto")))) {
        cli_fail("transcribe: %s is an English-only model; it cannot use --lang %s%s", model, wp.language,
                 wp.translate ? " or --translate" : "");
        goto out;
    }
    struct progress pb;
    progress_begin(&pb, "transcribing");
    if (n > 30 * 16000) { wp.progress = progress_cb; wp.progress_user = &pb; }
    r = omni_asr_transcribe(m, x, n, &wp, err, sizeof err);
    progress_end(&pb);
    if (!r) { cli_fail("%s", err); goto out; }
    print_result(r, fmt, (double)n / 16000.0, wp.translate, wp.word_timestamps);
    rc = 0;
out:
    omni_asr_result_free(r);
    free(x);
    omni_asr_free(m);
    return rc;
}
