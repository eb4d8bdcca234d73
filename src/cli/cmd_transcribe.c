/* `omni transcribe`: speech to text for any audio file with a Whisper model, printed
 * as plain text, JSON (OpenAI's shapes), SRT or WebVTT subtitles. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/progress.h"
#include "core/pool.h"
#include "formats/audio_decode.h"
#include "models/whisper.h"
#include "models/whisper_vad.h"
#include "text/utf8.h"

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
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s);
    fputc('"', f);
    while (left) {
        int n = utf8_char_valid(p, left);
        if (n <= 0) { fputs("\xef\xbf\xbd", f); p++; left--; continue; }
        unsigned c = *p;
        if (n > 1) fwrite(p, 1, (size_t)n, f);
        else if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc((int)c, f);
        p += n;
        left -= (size_t)n;
    }
    fputc('"', f);
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

/* Words from the tokens with their estimated times: a token that starts with a space
 * starts a new word (the same rule as the server's verbose_json words). */
static void print_words(const struct whisper_model *m, const struct whisper_result *r) {
    char word[512];
    size_t wn = 0;
    int64_t w0 = 0, w1 = 0;
    int first = 1;
    printf(",\"words\":[");
    for (int i = 0; i <= r->n_segments; i++) {
        const struct whisper_segment *g = i < r->n_segments ? &r->segments[i] : NULL;
        for (int k = 0; g ? k < g->n_tokens : k < 1; k++) {
            int len = 0;
            const char *t = g ? whisper_token_text(m, g->tokens[k].id, &len) : "";
            if (g && !len) continue; /* special and timestamp tokens */
            if (wn && (!g || t[0] == ' ')) {
                word[wn] = 0;
                printf("%s{\"word\":", first ? "" : ",");
                json_str(stdout, word + strspn(word, " "));
                printf(",\"start\":%.2f,\"end\":%.2f}", w0 / 100.0, w1 / 100.0);
                first = 0;
                wn = 0;
            }
            if (!g) break;
            if (!wn) w0 = g->tokens[k].t0 >= 0 ? g->tokens[k].t0 : g->t0;
            w1 = g->tokens[k].t1 >= 0 ? g->tokens[k].t1 : g->t1;
            if (wn + (size_t)len < sizeof word - 1) { memcpy(word + wn, t, (size_t)len); wn += (size_t)len; }
        }
    }
    printf("]");
}

static void print_result(const struct whisper_model *m, const struct whisper_result *r, const char *fmt,
                         double duration, int translate, int words) {
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
        char *all = whisper_result_text(r);
        if (!all) return;
        printf("{");
        if (!strcmp(fmt, "verbose_json")) {
            printf("\"task\":\"%s\",\"language\":", translate ? "translate" : "transcribe");
            json_str(stdout, r->language);
            printf(",\"duration\":%.3f,", duration);
        }
        printf("\"text\":");
        json_str(stdout, all);
        if (words) print_words(m, r);
        if (!strcmp(fmt, "verbose_json")) {
            printf(",\"segments\":[");
            for (int i = 0; i < r->n_segments; i++) {
                const struct whisper_segment *g = &r->segments[i];
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
        free(all);
    }
    (void)m;
}

int cmd_transcribe(int argc, char **argv) {
    const char *model = NULL, *file = NULL, *fmt = "text", *vadm = NULL;
    int threads = 0;
    struct whisper_params wp = whisper_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has) model = argv[++i];
        else if ((!strcmp(a, "-l") || !strcmp(a, "--lang") || !strcmp(a, "--language")) && has) wp.language = argv[++i];
        else if (!strcmp(a, "--translate")) wp.translate = 1;
        else if ((!strcmp(a, "-f") || !strcmp(a, "--format")) && has) fmt = argv[++i];
        else if (!strcmp(a, "--vad") && has) vadm = argv[++i];
        else if (!strcmp(a, "--no-timestamps")) wp.no_timestamps = 1;
        else if (!strcmp(a, "--prompt") && has) wp.initial_prompt = argv[++i];
        else if (!strcmp(a, "--temperature") && has) wp.temperature = strtof(argv[++i], NULL);
        else if (!strcmp(a, "--no-fallback")) wp.temperature_inc = 0;
        else if (!strcmp(a, "--word-timestamps")) wp.token_timestamps = 1;
        else if (!strcmp(a, "--beam") && has) wp.beam_size = atoi(argv[++i]);
        else if (!strcmp(a, "--audio-ctx") && has) wp.audio_ctx = atoi(argv[++i]);
        else if (!strcmp(a, "--max-tokens") && has) wp.max_tokens_per_window = atoi(argv[++i]);
        else if ((!strcmp(a, "-t") || !strcmp(a, "--threads")) && has) threads = atoi(argv[++i]);
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
    if (wp.token_timestamps && strcmp(fmt, "json") && strcmp(fmt, "verbose_json"))
        return cli_fail("transcribe: --word-timestamps needs --format json or verbose_json (got '%s')", fmt);
    if (wp.max_tokens_per_window < 0) return cli_fail("transcribe: --max-tokens must not be negative");

    struct err e = {{0}};
    int rc = 1;
    struct whisper_model *m = NULL;
    struct whisper_state *st = NULL;
    struct vad *v = NULL;
    struct pool *pool = NULL;
    float *x = NULL;
    size_t n = 0;
    struct whisper_result r = {0};
    if (!(m = whisper_load(model, &e)) || audio_decode_file(file, &x, &n, &e) ||
        (vadm && !(v = vad_load(vadm, &e)))) {
        cli_fail("%s", e.msg);
        goto out;
    }
    if (!whisper_is_multilingual(m) && (wp.translate || (strcmp(wp.language, "en") && strcmp(wp.language, "auto")))) {
        cli_fail("transcribe: %s is an English-only model; it cannot use --lang %s%s", model, wp.language,
                 wp.translate ? " or --translate" : "");
        goto out;
    }
    pool = pool_create(threads);
    if (!(st = whisper_state_new(m, pool, &e))) { cli_fail("%s", e.msg); goto out; }
    struct progress pb;
    progress_begin(&pb, "transcribing");
    if (n > 30 * 16000) { wp.progress = progress_cb; wp.progress_ud = &pb; }
    struct vad_params vp = vad_default_params();
    int trc = v ? whisper_transcribe_vad(st, v, x, n, &wp, &vp, &r, &e) : whisper_transcribe(st, x, n, &wp, &r, &e);
    progress_end(&pb);
    if (trc) { cli_fail("%s", e.msg); goto out; }
    print_result(m, &r, fmt, (double)n / 16000.0, wp.translate, wp.token_timestamps);
    rc = 0;
out:
    whisper_result_free(&r);
    free(x);
    whisper_state_free(st);
    whisper_free(m);
    vad_free(v);
    pool_free(pool);
    return rc;
}
