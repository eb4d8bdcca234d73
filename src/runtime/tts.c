/* The voice layer (omni_tts_* in omni.h; the internals in tts.h): validates a request, splits the text into sentences and
 * each sentence into runs of one language, normalises every run, has the voice's
 * engine speak it, resamples to 24 kHz and hands each sentence's audio to the caller. */
#include "runtime/tts.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "formats/audio_encode.h"
#include "models/tts_espeak.h"
#include "text/normalize.h"

struct tts_voice {
    const char *name, *about;
    const struct tts_backend *backend;
    /* espeak settings: variant file, base pitch, pitch range, words per minute at speed 1 */
    const char *variant;
    int pitch, range, rate;
    const char *force_lang; /* a voice named after an espeak language speaks that language */
    int neural_ok;          /* a preset or built-in speaker: the neural voice speaks it when loaded */
    const char *instructions; /* the request's style instruction (borrowed), for an engine that takes one */
};

const char *tts_voice_speaker(const struct tts_voice *v) { return tts_neural_speaker_for(v->name); }
const char *tts_voice_instructions(const struct tts_voice *v) { return v->instructions; }

/* --- the espeak-ng backend --- */

/* Which espeak voice speaks a language code: OpenAI voices sound American, and espeak
 * calls Mandarin "cmn". */
static const char *espeak_lang(const char *lang) {
    if (!strcasecmp(lang, "en")) return "en-us";
    if (!strcasecmp(lang, "zh") || !strcasecmp(lang, "zh-cn")) return "cmn";
    return lang;
}

static int espeak_backend_rate(void) { return tts_espeak_sample_rate(); }

static int espeak_backend_synth(const struct tts_voice *v, const char *lang, float speed, int last,
                                const char *text, tts_audio_fn on_pcm, void *ud, struct err *e) {
    char name[160];
    snprintf(name, sizeof name, "%s%s%s", espeak_lang(lang), v->variant ? "+" : "", v->variant ? v->variant : "");
    /* espeak's slowest rate is 80 wpm; slower speeds stretch the gaps between words instead. */
    double wpm = v->rate * speed;
    int rate = (int)(wpm + 0.5), gap = 0;
    if (rate < 80) {
        gap = (int)((60000.0 / wpm - 60000.0 / 80) / 10 + 0.5);
        rate = 80;
    }
    if (rate > 900) rate = 900;
    struct tts_espeak_params p = {name, rate, v->pitch, v->range, gap};
    (void)last;
    return tts_espeak_synth(&p, text, on_pcm, ud, e);
}

static const struct tts_backend g_espeak = {"espeak-ng", espeak_backend_rate, espeak_backend_synth};

/* Each preset differs in variant, pitch and rate, so no two sound or time alike. */
static const struct tts_voice g_presets[] = {
    {"alloy", "neutral, balanced, mid pitch", &g_espeak, "f5", 50, 50, 175, NULL, 1, NULL},
    {"ash", "low, calm male", &g_espeak, "m3", 35, 45, 170, NULL, 1, NULL},
    {"ballad", "warm male, wide melody, unhurried", &g_espeak, "m2", 45, 70, 160, NULL, 1, NULL},
    {"coral", "bright female, lively", &g_espeak, "f3", 60, 60, 180, NULL, 1, NULL},
    {"echo", "deep, even male", &g_espeak, "m1", 30, 40, 168, NULL, 1, NULL},
    {"fable", "storyteller, expressive", &g_espeak, "m6", 55, 75, 165, NULL, 1, NULL},
    {"nova", "young female, quick", &g_espeak, "f2", 65, 55, 185, NULL, 1, NULL},
    {"onyx", "very deep male, slow", &g_espeak, "m7", 20, 35, 158, NULL, 1, NULL},
    {"sage", "steady female, level", &g_espeak, "f4", 48, 30, 172, NULL, 1, NULL},
    {"shimmer", "high, bright female", &g_espeak, "f1", 70, 65, 178, NULL, 1, NULL},
    {"verse", "animated male, wide range", &g_espeak, "m4", 40, 80, 182, NULL, 1, NULL},
};
#define N_PRESETS (int)(sizeof g_presets / sizeof g_presets[0])

int omni_tts_preset_count(void) { return N_PRESETS; }
const char *omni_tts_preset_name(int i) { return i >= 0 && i < N_PRESETS ? g_presets[i].name : NULL; }
const char *omni_tts_preset_about(int i) { return i >= 0 && i < N_PRESETS ? g_presets[i].about : NULL; }

/* Presets first, then an espeak variant ("f3", "klatt"), then an espeak language voice ("fr"). */
static int find_voice(const char *name, struct tts_voice *out, struct err *e) {
    if (!name || !*name) name = "alloy";
    for (int i = 0; i < N_PRESETS; i++)
        if (!strcasecmp(name, g_presets[i].name)) { *out = g_presets[i]; return 0; }
    if (strlen(name) < 64 && tts_neural_is_speaker(name)) {  /* espeak's default voice where the model cannot */
        *out = (struct tts_voice){name, "built-in speaker of the neural voice", &g_espeak, NULL, 50, 50, 175, NULL, 1, NULL};
        return 0;
    }
    if (tts_espeak_init(e)) return -1;
    if (strlen(name) < 64 && tts_espeak_has_variant(name)) {
        *out = (struct tts_voice){name, "espeak-ng variant", &g_espeak, name, 50, 50, 175, NULL, 0, NULL};
        return 0;
    }
    if (strlen(name) < 64 && tts_espeak_has_voice(name)) {
        *out = (struct tts_voice){name, "espeak-ng language voice", &g_espeak, NULL, 50, 50, 175, name, 0, NULL};
        return 0;
    }
    return err_set(e, "unknown voice '%.64s' (allowed: %s, or an espeak-ng voice such as f3, m3, klatt, "
                      "Annie, or a language voice such as fr; `omni speak --list-voices` lists them)",
                   name, OMNI_TTS_PRESETS);
}

static int check_lang(const char *lang, struct err *e) {
    if (!lang) return 0;
    if (strlen(lang) < 32 && tts_espeak_has_voice(espeak_lang(lang))) return 0;
    return err_set(e, "unknown language '%.32s' (allowed: en, ko, ja, zh, ru, fr, de, es, it, pt, ... any "
                      "espeak-ng language code; `omni speak --list-voices` lists them)", lang);
}

omni_tts_params omni_tts_default_params(void) {
    return (omni_tts_params){.input = NULL, .voice = NULL, .language = NULL, .speed = 1.0f, .normalize = 1,
                             .instructions = NULL};
}

/* --- UTF-8 and scripts --- */

/* Decodes one code point; returns its length in bytes, 0 on an invalid sequence. */
static int utf8_next(const unsigned char *s, size_t n, unsigned *cp) {
    if (!n) return 0;
    if (s[0] < 0x80) { *cp = s[0]; return 1; }
    int len = s[0] >= 0xF0 && s[0] < 0xF5 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 && s[0] < 0xE0 ? 2 : 0;
    if (!len || (size_t)len > n) return 0;
    unsigned c = s[0] & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        c = c << 6 | (s[i] & 0x3F);
    }
    if ((len == 3 && (c < 0x800 || (c >= 0xD800 && c < 0xE000))) || (len == 4 && (c < 0x10000 || c > 0x10FFFF)))
        return 0;
    *cp = c;
    return len;
}

enum script { SC_NEUTRAL, SC_LATIN, SC_HANGUL, SC_KANA, SC_HAN, SC_CYRILLIC, SC_GREEK, SC_ARABIC, SC_HEBREW,
              SC_DEVANAGARI, SC_THAI };

static enum script script_of(unsigned c) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= 0xC0 && c <= 0x24F && c != 0xD7 && c != 0xF7))
        return SC_LATIN;
    if ((c >= 0xAC00 && c <= 0xD7A3) || (c >= 0x1100 && c <= 0x11FF) || (c >= 0x3130 && c <= 0x318F) ||
        (c >= 0xA960 && c <= 0xA97F) || (c >= 0xD7B0 && c <= 0xD7FF))
        return SC_HANGUL;
    if ((c >= 0x3040 && c <= 0x30FF && c != 0x30FB) || (c >= 0x31F0 && c <= 0x31FF) || (c >= 0xFF66 && c <= 0xFF9F))
        return SC_KANA;
    if ((c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0xF900 && c <= 0xFAFF) ||
        (c >= 0x20000 && c <= 0x2FFFF))
        return SC_HAN;
    if (c >= 0x400 && c <= 0x52F) return SC_CYRILLIC;
    if (c >= 0x370 && c <= 0x3FF) return SC_GREEK;
    if ((c >= 0x600 && c <= 0x6FF) || (c >= 0x750 && c <= 0x77F)) return SC_ARABIC;
    if (c >= 0x590 && c <= 0x5FF) return SC_HEBREW;
    if (c >= 0x900 && c <= 0x97F) return SC_DEVANAGARI;
    if (c >= 0xE00 && c <= 0xE7F) return SC_THAI;
    return SC_NEUTRAL;
}

static const char *script_lang(enum script s, int has_kana, const char *latin) {
    switch (s) {
    case SC_HANGUL: return "ko";
    case SC_KANA: return "ja";
    case SC_HAN: return has_kana ? "ja" : "zh";
    case SC_CYRILLIC: return "ru";
    case SC_GREEK: return "el";
    case SC_ARABIC: return "ar";
    case SC_HEBREW: return "he";
    case SC_DEVANAGARI: return "hi";
    case SC_THAI: return "th";
    default: return latin ? latin : "en";
    }
}

/* The script a requested language is written in, so --lang only overrides runs it can read. */
static enum script lang_script(const char *lang) {
    static const struct { const char *lang; enum script s; } t[] = {
        {"ko", SC_HANGUL}, {"ja", SC_KANA}, {"zh", SC_HAN}, {"cmn", SC_HAN}, {"yue", SC_HAN}, {"hak", SC_HAN},
        {"ru", SC_CYRILLIC}, {"uk", SC_CYRILLIC}, {"be", SC_CYRILLIC}, {"bg", SC_CYRILLIC}, {"sr", SC_CYRILLIC},
        {"mk", SC_CYRILLIC}, {"kk", SC_CYRILLIC}, {"ky", SC_CYRILLIC}, {"tt", SC_CYRILLIC}, {"ba", SC_CYRILLIC},
        {"el", SC_GREEK}, {"grc", SC_GREEK}, {"ar", SC_ARABIC}, {"fa", SC_ARABIC}, {"ur", SC_ARABIC},
        {"he", SC_HEBREW}, {"hi", SC_DEVANAGARI}, {"mr", SC_DEVANAGARI}, {"ne", SC_DEVANAGARI}, {"th", SC_THAI},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        size_t k = strlen(t[i].lang);
        if (!strncasecmp(lang, t[i].lang, k) && (!lang[k] || lang[k] == '-' || lang[k] == '_')) return t[i].s;
    }
    return SC_LATIN;
}

int tts_split_runs(const char *text, size_t len, const char *latin_lang,
                   void (*each)(const char *lang, const char *s, size_t n, void *ud), void *ud) {
    const unsigned char *p = (const unsigned char *)text;
    int has_kana = 0;
    for (size_t i = 0; i < len;) {
        unsigned c;
        int k = utf8_next(p + i, len - i, &c);
        if (!k) { i++; continue; }
        if (script_of(c) == SC_KANA) { has_kana = 1; break; }
        i += (size_t)k;
    }
    const char *cur = NULL;
    size_t start = 0;
    int count = 0;
    for (size_t i = 0; i < len;) {
        unsigned c = 0;
        int k = utf8_next(p + i, len - i, &c);
        if (!k) k = 1; /* invalid bytes are neutral here; validation rejects them earlier */
        enum script s = k == 1 && c >= 0x80 ? SC_NEUTRAL : script_of(c);
        if (s != SC_NEUTRAL) {
            const char *l = script_lang(s, has_kana, latin_lang);
            if (cur && strcmp(cur, l)) {
                each(cur, text + start, i - start, ud);
                count++;
                start = i;
            }
            cur = l;
        }
        i += (size_t)k;
    }
    if (len > start) {
        each(cur ? cur : (latin_lang ? latin_lang : "en"), text + start, len - start, ud);
        count++;
    }
    return count;
}

struct first_lang { const char *lang; };
static void first_non_latin(const char *lang, const char *s, size_t n, void *ud) {
    struct first_lang *f = ud;
    (void)s; (void)n;
    if (!f->lang && strcmp(lang, "en")) f->lang = lang;
}
const char *tts_detect_lang(const char *text) {
    struct first_lang f = {NULL};
    tts_split_runs(text, strlen(text), "en", first_non_latin, &f);
    return f.lang ? f.lang : "en";
}

/* --- sentences --- */

static int is_abbrev(const char *s, size_t word_start, size_t dot) {
    static const char *const ab[] = {"mr", "mrs", "ms", "dr", "st", "prof", "jr", "sr", "vs", "etc", "e.g",
                                     "i.e", "no", "fig", "approx", "inc", "ltd", "co", "mt", "ave"};
    size_t n = dot - word_start;
    if (n == 1 && isupper((unsigned char)s[word_start])) return 1; /* an initial: "J. R. R. Tolkien" */
    for (size_t i = 0; i < sizeof ab / sizeof ab[0]; i++)
        if (strlen(ab[i]) == n && !strncasecmp(s + word_start, ab[i], n)) return 1;
    return 0;
}

#define TTS_LONG_SENTENCE 240 /* bytes; past this a comma or semicolon also ends a chunk */

int tts_split_sentences(const char *text, void (*each)(const char *s, size_t n, void *ud), void *ud) {
    size_t len = strlen(text), start = 0, word = 0;
    int count = 0;
    for (size_t i = 0; i <= len;) {
        int cut = 0;
        size_t next = i + 1;
        const unsigned char *u = (const unsigned char *)text + i;
        if (i == len) cut = 1;
        else if (text[i] == '\n') cut = 1;
        else if (text[i] == '.' || text[i] == '!' || text[i] == '?') {
            while (next < len && (text[next] == '.' || text[next] == '!' || text[next] == '?' || text[next] == '"' ||
                                  text[next] == '\'' || text[next] == ')'))
                next++;
            int at_space = next >= len || isspace((unsigned char)text[next]);
            cut = at_space && !(text[i] == '.' && next == i + 1 && is_abbrev(text, word, i));
        } else if (u[0] == 0xE3 && u[1] == 0x80 && u[2] == 0x82) { cut = 1; next = i + 3; } /* 。 */
        else if (u[0] == 0xEF && u[1] == 0xBC && (u[2] == 0x81 || u[2] == 0x9F)) { cut = 1; next = i + 3; } /* ！？ */
        else if (u[0] == 0xE2 && u[1] == 0x80 && u[2] == 0xA6) { /* … */
            next = i + 3;
            cut = next >= len || isspace((unsigned char)text[next]);
        } else if ((text[i] == ',' || text[i] == ';') && i - start > TTS_LONG_SENTENCE &&
                   (i + 1 >= len || isspace((unsigned char)text[i + 1])))
            cut = 1;
        else if (isspace((unsigned char)text[i]) && i - start > 2 * TTS_LONG_SENTENCE)
            cut = 1; /* no punctuation at all: still keep chunks short for a quick first byte */
        if (cut) {
            size_t a = start, b = next > len ? len : next;
            while (a < b && isspace((unsigned char)text[a])) a++;
            while (b > a && isspace((unsigned char)text[b - 1])) b--;
            if (b > a) { each(text + a, b - a, ud); count++; }
            start = next;
            i = next;
            word = next;
            continue;
        }
        if (isspace((unsigned char)text[i]) || text[i] == '(' || text[i] == '"') word = i + 1;
        i++;
    }
    return count;
}

/* --- validation --- */

static int validate(const omni_tts_params *req, struct err *e) {
    if (!req->input) return err_set(e, "no input text");
    const unsigned char *p = (const unsigned char *)req->input;
    size_t len = strlen(req->input), chars = 0;
    int visible = 0;
    for (size_t i = 0; i < len;) {
        unsigned c;
        int k = utf8_next(p + i, len - i, &c);
        if (!k) return err_set(e, "input is not valid UTF-8 (at byte %zu)", i);
        if (!(c < 0x80 && isspace((int)c))) visible = 1;
        chars++;
        i += (size_t)k;
    }
    if (!visible) return err_set(e, "input text is empty");
    if (chars > OMNI_TTS_MAX_INPUT_CHARS)
        return err_set(e, "input is too long: %zu characters (at most %d)", chars, OMNI_TTS_MAX_INPUT_CHARS);
    if (!(req->speed >= OMNI_TTS_SPEED_MIN && req->speed <= OMNI_TTS_SPEED_MAX))
        return err_set(e, "speed %g is out of range (allowed: %.2f to %.1f)", (double)req->speed,
                       (double)OMNI_TTS_SPEED_MIN, (double)OMNI_TTS_SPEED_MAX);
    struct tts_voice v;
    if (find_voice(req->voice, &v, e)) return -1;
    return check_lang(req->language, e);
}

int omni_tts_validate(const omni_tts_params *params, char *err, size_t err_size) {
    struct err e = {{0}};
    return validate(params, &e) ? err_copy(&e, err, err_size) : 0;
}

/* --- speaking --- */

struct pcm_buf {
    int16_t *s;
    size_t n, cap;
};
static int pcm_append(const int16_t *pcm, size_t n, void *ud) {
    struct pcm_buf *b = ud;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 32768;
        while (cap < b->n + n) cap *= 2;
        int16_t *s = realloc(b->s, cap * sizeof *s);
        if (!s) return 1;
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->n, pcm, n * sizeof *pcm);
    b->n += n;
    return 0;
}

struct run { const char *lang; const char *s; size_t n; };
struct runs { struct run r[64]; int n; };
static void collect_run(const char *lang, const char *s, size_t n, void *ud) {
    struct runs *rs = ud;
    /* More runs than slots (an absurd mix): the last slot absorbs the rest of the sentence. */
    if (rs->n == (int)(sizeof rs->r / sizeof rs->r[0])) {
        struct run *last = &rs->r[rs->n - 1];
        last->n = (size_t)(s + n - last->s);
        return;
    }
    rs->r[rs->n++] = (struct run){lang, s, n};
}

struct sentence_list { const char **s; size_t *n; int count, cap; };
static void collect_sentence(const char *s, size_t n, void *ud) {
    struct sentence_list *l = ud;
    if (l->count == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        const char **a = realloc(l->s, (size_t)cap * sizeof *a);
        if (a) l->s = a;
        size_t *b = realloc(l->n, (size_t)cap * sizeof *b);
        if (b) l->n = b;
        if (!a || !b) return;
        l->cap = cap;
    }
    l->s[l->count] = s;
    l->n[l->count++] = n;
}

/* Where the engine's samples go: the first sentence streams straight through (the
 * listener hears it sooner); later sentences are gathered and handed over between
 * engine calls, so a slow consumer does not hold the engine while others wait. */
struct speak_ctx {
    struct pcm_buf buf;
    int direct;
    struct audio_resampler *rs;
    tts_audio_fn on_audio;
    void *ud;
    int stopped;
    struct err rerr;
};

static int deliver(struct speak_ctx *c, const int16_t *pcm, size_t n, int last) {
    const int16_t *out = pcm;
    size_t n_out = n;
    if (c->rs && audio_resampler_process(c->rs, pcm, n, last, &out, &n_out, &c->rerr)) return -1;
    if (n_out && c->on_audio(out, n_out, c->ud)) c->stopped = 1;
    return c->stopped ? -1 : 0;
}

static int sink(const int16_t *pcm, size_t n, void *ud) {
    struct speak_ctx *c = ud;
    if (c->direct) return deliver(c, pcm, n, 0) ? 1 : 0;
    return pcm_append(pcm, n, &c->buf);
}

/* The language a run is read in: the requested one for a run in its script. */
static const char *run_lang(const char *lang, enum script lscript, const char *rl) {
    if (lang && lscript != SC_LATIN && (lang_script(rl) == lscript || (lscript == SC_KANA && lang_script(rl) == SC_HAN)))
        return lang;
    return rl;
}

/* The neural voice speaks the whole text when it knows every run's language. */
static void choose_backend(struct tts_voice *v, const struct sentence_list *sl, const char *lang, enum script lscript) {
    if (v->neural_ok && tts_neural_loaded()) {
        int all = 1;
        for (int si = 0; si < sl->count && all; si++) {
            struct runs runs = {.n = 0};
            tts_split_runs(sl->s[si], sl->n[si], lang && lscript == SC_LATIN ? lang : NULL, collect_run, &runs);
            for (int ri = 0; ri < runs.n && all; ri++) all = tts_neural_has_lang(run_lang(lang, lscript, runs.r[ri].lang));
        }
        if (all) v->backend = &tts_neural_backend;
    }
}

int omni_tts_instructions_apply(const omni_tts_params *req) {
    struct err e = {{0}};
    struct tts_voice v;
    if (!req || !req->instructions || !*req->instructions || validate(req, &e) || find_voice(req->voice, &v, &e))
        return 0;
    const char *lang = req->language ? req->language : v.force_lang;
    struct sentence_list sl = {0};
    tts_split_sentences(req->input, collect_sentence, &sl);
    choose_backend(&v, &sl, lang, lang ? lang_script(lang) : SC_LATIN);
    free(sl.s);
    free(sl.n);
    return v.backend == &tts_neural_backend && tts_neural_takes_instructions();
}

static int speak(const omni_tts_params *req, omni_pcm_callback on_audio, void *ud, struct err *e) {
    if (validate(req, e)) return -1;
    struct tts_voice v;
    if (find_voice(req->voice, &v, e)) return -1;
    v.instructions = req->instructions;
    const char *lang = req->language ? req->language : v.force_lang;
    enum script lscript = lang ? lang_script(lang) : SC_LATIN;
    struct sentence_list sl = {0};
    tts_split_sentences(req->input, collect_sentence, &sl);
    choose_backend(&v, &sl, lang, lscript);
    int native = v.backend->sample_rate();
    if (native <= 0) { free(sl.s), free(sl.n); return tts_espeak_init(e); }
    struct speak_ctx c = {.direct = 1, .on_audio = on_audio, .ud = ud};
    if (native != OMNI_TTS_SAMPLE_RATE && !(c.rs = audio_resampler_new(native, OMNI_TTS_SAMPLE_RATE, e))) {
        free(sl.s), free(sl.n);
        return -1;
    }
    int rc = 0;
    for (int si = 0; si < sl.count && !rc; si++) {
        struct runs runs = {.n = 0};
        /* Latin runs read in the requested language only when it is written in Latin script. */
        tts_split_runs(sl.s[si], sl.n[si], lang && lscript == SC_LATIN ? lang : NULL, collect_run, &runs);
        c.direct = si == 0;
        c.buf.n = 0;
        for (int ri = 0; ri < runs.n && !rc; ri++) {
            const char *rl = run_lang(lang, lscript, runs.r[ri].lang);
            char *raw = strndup(runs.r[ri].s, runs.r[ri].n);
            char *txt = raw && req->normalize ? text_normalize(raw, rl) : NULL;
            if (!raw || (req->normalize && !txt)) rc = err_set(e, "out of memory");
            else rc = v.backend->synth(&v, rl, req->speed, ri == runs.n - 1, txt ? txt : raw, sink, &c, e);
            free(txt);
            free(raw);
        }
        if (!rc && c.buf.n) rc = deliver(&c, c.buf.s, c.buf.n, 0);
    }
    if (!rc && c.rs) rc = deliver(&c, NULL, 0, 1); /* the resampler's tail */
    if (c.stopped) rc = err_set(e, "speech output stopped by the consumer");
    else if (c.rerr.msg[0]) rc = err_set(e, "%s", c.rerr.msg);
    else if (!rc && sl.count == 0) rc = err_set(e, "input text is empty");
    free(c.buf.s);
    free(sl.s);
    free(sl.n);
    audio_resampler_free(c.rs);
    return rc;
}

int omni_tts_speak(const omni_tts_params *params, omni_pcm_callback on_audio, void *user, char *err,
                   size_t err_size) {
    struct err e = {{0}};
    return speak(params, on_audio, user, &e) ? err_copy(&e, err, err_size) : 0;
}

/* --- listing --- */

static void add_lang(const char *code, const char *name, void *ud) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "code", code);
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddItemToArray(ud, o);
}

char *omni_tts_voices_json(void) {
    cJSON *root = cJSON_CreateObject(), *voices = cJSON_AddArrayToObject(root, "voices"),
          *langs = cJSON_AddArrayToObject(root, "languages");
    for (int i = 0; i < N_PRESETS; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", g_presets[i].name);
        cJSON_AddStringToObject(o, "name", g_presets[i].name);
        cJSON_AddStringToObject(o, "description", g_presets[i].about);
        cJSON_AddStringToObject(o, "backend", tts_neural_loaded() ? tts_neural_backend.name : g_presets[i].backend->name);
        cJSON_AddItemToArray(voices, o);
    }
    for (int i = 0; i < tts_neural_n_speakers(); i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", tts_neural_speaker(i));
        cJSON_AddStringToObject(o, "name", tts_neural_speaker(i));
        cJSON_AddStringToObject(o, "description", "built-in speaker of the neural voice");
        cJSON_AddStringToObject(o, "backend", tts_neural_backend.name);
        cJSON_AddItemToArray(voices, o);
    }
    if (tts_espeak_languages(add_lang, langs) < 0) {
        cJSON_Delete(root);
        return NULL;
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}
