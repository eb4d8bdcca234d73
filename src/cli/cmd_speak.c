/* `omni speak`: text to speech with the preset voices, to a file or streamed to stdout
 * sentence by sentence (each sentence's bytes are flushed before the next is made). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "omni.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: omni speak [--lang xx] [--voice NAME] [--speed X] [--format FMT] [-o FILE]\n"
            "                  [--tts-model TALKER.gguf --tts-mmproj MMPROJ.gguf] [--instructions STYLE] [TEXT...]\n\n"
            "Reads TEXT aloud (or, without TEXT, everything on standard input) and writes the speech as\n"
            "24 kHz mono audio. Numbers, dates, money and units are read as words (English and Korean).\n"
            "Text in several scripts switches language per stretch: \"오늘 meeting은 3시\" is read in\n"
            "Korean and English. Long text is spoken sentence by sentence: without -o the audio streams\n"
            "to standard output as each sentence is ready, e.g.  omni speak \"Hello there.\" | aplay\n\n"
            "  --lang xx        language of the text: en, ko, ja, zh, ru, fr, de, ... (default: detected\n"
            "                   from the script of each stretch of text; Latin script reads as English)\n"
            "  --voice NAME     %s (default alloy),\n"
            "                   or an espeak-ng voice: a variant (f3, m3, klatt, Annie) or a language (fr)\n"
            "  --speed X        0.25 to 4.0 (default 1.0)\n"
            "  --format FMT     wav, pcm (raw s16le), flac, opus (Ogg), mp3; default: from -o's\n"
            "                   extension, else wav\n"
            "  -o, --output F   write to file F instead of standard output\n"
            "  --no-normalize   read the text exactly as written (no number/date expansion)\n"
            "  --tts-model F    a neural voice: a Qwen3-TTS talker GGUF (llama.cpp's conversion), with\n"
            "  --tts-mmproj F   its mmproj; the presets then speak with its built-in speakers, whose own\n"
            "                   names (e.g. sohee) are voices too; espeak-ng reads what it cannot\n"
            "  --tts-quant T    none (default: the file's weights), q8_0 or q4_0: the neural voice's code\n"
            "                   predictor requantized at load, for sooner first audio\n"
            "  --instructions S the speaking style (\"slow and warm\") for a neural voice whose model takes\n"
            "                   one (Qwen3-TTS CustomVoice or VoiceDesign, not Base or 0.6B); other voices\n"
            "                   ignore it, and a note on standard error says so\n"
            "  --list-voices    print the voices and languages as JSON and exit\n\n"
            "Examples:\n"
            "  omni speak --lang ko -o hello.wav \"안녕하세요\"\n"
            "  echo \"It costs $4.99.\" | omni speak --voice nova --format mp3 > price.mp3\n",
            OMNI_TTS_PRESETS);
}

struct sink {
    FILE *f;
    omni_audio_encoder *enc;
    uint64_t samples;
    int write_failed;
    char err[512];   /* why the encoder failed */
};

static int write_bytes(const void *p, size_t n, void *ud) {
    struct sink *s = ud;
    /* Flush every chunk: a player on the other end of a pipe starts on the first sentence. */
    if (fwrite(p, 1, n, s->f) != n || fflush(s->f)) { s->write_failed = errno ? errno : EIO; return 1; }
    return 0;
}

static int on_audio(const int16_t *pcm, size_t n, void *ud) {
    struct sink *s = ud;
    s->samples += n;
    return omni_audio_encode_write(s->enc, pcm, n, s->err, sizeof s->err) ? 1 : 0;
}

static char *read_stdin(void) {
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    for (size_t got; b && (got = fread(b + n, 1, cap - n - 1, stdin)) > 0;) {
        n += got;
        if (n + 1 == cap) {
            if (cap > (64u << 20)) break; /* far past the input limit already; validation says so */
            char *nb = realloc(b, cap * 2);
            if (!nb) { free(b); return NULL; }
            b = nb;
            cap *= 2;
        }
    }
    if (b) b[n] = 0;
    return b;
}

int cmd_speak(int argc, char **argv) {
    omni_tts_params req = omni_tts_default_params();
    const char *out_path = NULL, *fmt_name = NULL, *tts_model = NULL, *tts_mmproj = NULL, *tts_quant = NULL;
    size_t text_len = 0;
    char *text = NULL;
    int list = 0, rc = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); free(text); return 0; }
        else if (!strcmp(a, "--lang") && has) req.language = argv[++i];
        else if (!strcmp(a, "--voice") && has) req.voice = argv[++i];
        else if (!strcmp(a, "--format") && has) fmt_name = argv[++i];
        else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && has) out_path = argv[++i];
        else if (!strcmp(a, "--no-normalize")) req.normalize = 0;
        else if (!strcmp(a, "--tts-model") && has) tts_model = argv[++i];
        else if (!strcmp(a, "--tts-mmproj") && has) tts_mmproj = argv[++i];
        else if (!strcmp(a, "--tts-quant") && has) tts_quant = argv[++i];
        else if (!strcmp(a, "--instructions") && has) req.instructions = argv[++i];
        else if (!strcmp(a, "--list-voices")) list = 1;
        else if (!strcmp(a, "--speed") && has) {
            char *end;
            req.speed = strtof(argv[++i], &end);
            if (end == argv[i] || *end) { free(text); return cli_fail("speak: --speed needs a number, got '%s'", argv[i]); }
        } else if (a[0] == '-' && a[1] && strcmp(a, "--")) {
            free(text);
            return cli_fail("speak: unknown or incomplete option '%s' (see omni speak --help)", a);
        } else {
            if (!strcmp(a, "--") && has) a = argv[++i];
            size_t k = strlen(a);
            char *t = realloc(text, text_len + k + 2);
            if (!t) { free(text); return cli_fail("speak: out of memory"); }
            text = t;
            if (text_len) text[text_len++] = ' ';
            memcpy(text + text_len, a, k + 1);
            text_len += k;
        }
    }
    if (!tts_model != !tts_mmproj) {
        free(text);
        return cli_fail("speak: --tts-model and --tts-mmproj go together (a Qwen3-TTS talker and its mmproj)");
    }
    if (tts_model) {
        char terr[512];
        if (omni_tts_load_neural_quant(tts_model, tts_mmproj, 0, tts_quant, terr, sizeof terr)) {
            free(text);
            return cli_fail("speak: %s", terr);
        }
    }
    if (list) {
        free(text);
        char *j = omni_tts_voices_json();
        if (!j) return cli_fail("speak: cannot list voices (is espeak-ng-data installed?)");
        puts(j);
        free(j);
        return 0;
    }

    char err[512];
    omni_audio_format fmt = OMNI_AUDIO_WAV;
    if (fmt_name) {
        if (omni_audio_format_parse(fmt_name, &fmt, err, sizeof err)) { free(text); return cli_fail("speak: %s", err); }
    } else if (out_path && omni_audio_format_from_path(out_path, &fmt)) {
        free(text);
        return cli_fail("speak: cannot tell the format from '%s'; use --format (allowed: %s)", out_path,
                        OMNI_AUDIO_FORMATS);
    }
    if (!text && !(text = read_stdin())) return cli_fail("speak: cannot read standard input");
    req.input = text;
    if (omni_tts_validate(&req, err, sizeof err)) { free(text); return cli_fail("speak: %s", err); }
    if (req.instructions && !*req.instructions) req.instructions = NULL;
    if (req.instructions && !omni_tts_instructions_apply(&req))
        fprintf(stderr, "speak: note: this voice does not take instructions; --instructions is ignored\n");
    if (!out_path && isatty(STDOUT_FILENO)) {
        free(text);
        return cli_fail("speak: refusing to write audio to a terminal; use -o FILE or a pipe (| aplay)");
    }

    struct sink s = {.f = stdout, .err = ""};
    if (out_path && !(s.f = fopen(out_path, "wb"))) {
        cli_fail("speak: cannot write %s: %s", out_path, strerror(errno));
        free(text);
        return 1;
    }
    const char *why = NULL;
    if (!(s.enc = omni_audio_encode_new(fmt, OMNI_TTS_SAMPLE_RATE, write_bytes, &s, err, sizeof err))) why = err;
    else if (omni_tts_speak(&req, on_audio, &s, err, sizeof err)) why = s.err[0] ? s.err : err;
    else if (omni_audio_encode_finish(s.enc, err, sizeof err)) why = err;
    else rc = 0;
    /* A failed write stops everything downstream with vaguer messages: report the cause. */
    if (s.write_failed) cli_fail("speak: writing %s failed: %s", out_path ? out_path : "stdout", strerror(s.write_failed));
    else if (why) cli_fail("speak: %s", why);
    /* A file can be fixed up afterwards: give the WAV header its real length. */
    if (!rc && out_path && fmt == OMNI_AUDIO_WAV && s.samples < UINT32_MAX / 2) {
        uint8_t h[OMNI_WAV_HEADER_SIZE];
        omni_audio_wav_header(h, OMNI_TTS_SAMPLE_RATE, (uint32_t)s.samples);
        if (fseek(s.f, 0, SEEK_SET) || fwrite(h, 1, sizeof h, s.f) != sizeof h)
            rc = cli_fail("speak: cannot finish %s: %s", out_path, strerror(errno));
    }
    omni_audio_encode_free(s.enc);
    if (out_path) {
        if (fclose(s.f) && !rc) rc = cli_fail("speak: writing %s failed: %s", out_path, strerror(errno));
        if (rc) unlink(out_path);
    }
    free(text);
    return rc;
}
