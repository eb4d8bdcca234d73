/* The end-of-turn rule (see end_of_turn.h). Order matters: a trailing cue that the
 * sentence goes on beats the period Whisper tends to put at the end of every clip ("I went
 * to the store and." is still going), a question mark beats a trailing preposition ("What
 * are you looking at?"), and a Korean connective ending beats a final-looking syllable. */
#include "runtime/end_of_turn.h"

#include <stdint.h>
#include <string.h>

/* ---- UTF-8 from the end ---- */

/* The code point ending at s[n-1]; *start gets the offset of its first byte. Invalid
 * bytes come back one at a time as themselves. */
static uint32_t prev_cp(const char *s, size_t n, size_t *start) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = n - 1;
    int k = 0;
    while (i > 0 && k < 3 && (u[i] & 0xC0) == 0x80) { i--; k++; }
    uint32_t c = u[i];
    int len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (len != k + 1) { *start = n - 1; return u[n - 1]; }
    c &= len == 1 ? 0x7F : len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07;
    for (int j = 1; j < len; j++) c = (c << 6) | (u[i + j] & 0x3F);
    *start = i;
    return c;
}

static int is_space(uint32_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0xA0 || c == 0x3000; }

/* Quotes and brackets that may close a sentence after its punctuation. */
static int is_closer(uint32_t c) {
    return c == '"' || c == '\'' || c == ')' || c == ']' || c == '}' || c == 0x201D || c == 0x2019 || c == 0x300D ||
           c == 0x300F || c == 0xFF09;
}

static int is_final_punct(uint32_t c) {
    return c == '.' || c == '!' || c == '?' || c == 0x3002 || c == 0xFF01 || c == 0xFF1F || c == 0xFF0E;
}

static int is_question(uint32_t c) { return c == '?' || c == 0xFF1F; }

/* Marks that a clause goes on: a comma, a dash, a colon, an ellipsis (trailing off). */
static int is_open_punct(uint32_t c) {
    return c == ',' || c == ';' || c == ':' || c == '-' || c == 0x2013 || c == 0x2014 || c == 0x2026 || c == 0x3001 ||
           c == 0xFF0C;
}

static size_t trim_end(const char *s, size_t n, int closers) {
    while (n > 0) {
        size_t st;
        uint32_t c = prev_cp(s, n, &st);
        if (!(is_space(c) || (closers && is_closer(c)))) break;
        n = st;
    }
    return n;
}

/* ---- word lists ---- */

static int in_list(const char *w, const char *const *list) {
    for (; *list; list++)
        if (!strcmp(w, *list)) return 1;
    return 0;
}

/* English words after which a sentence cannot end, whatever the punctuation says:
 * conjunctions, fillers, articles and possessives, subject pronouns and their contractions. */
static const char *const en_continue[] = {
    "and", "but", "or", "nor", "because", "cause", "cuz", "if", "unless", "until", "whereas", "plus",
    "um", "umm", "uh", "uhh", "uhm", "er", "erm", "hmm", "mm",
    "the", "a", "an", "my", "your", "our", "their", "its", "every",
    "i", "we", "they", "he", "she", "i'm", "i'd", "i'll", "i've", "we're", "they're", "you're", "it's", "that's",
    "there's", "let's", "gonna", "wanna", "gotta", "very",
    NULL};
/* ... and those a question may end with ("Who are you talking to?"). */
static const char *const en_continue_unless_question[] = {
    "to", "of", "at", "for", "with", "from", "about", "into", "onto", "as", "like", "via", "toward", "towards",
    "between", "without", "among", "than",
    NULL};
/* Korean conjunctions and fillers as whole words. */
static const char *const ko_continue[] = {
    "그리고", "그래서", "그런데", "근데", "하지만", "그러나", "그러니까", "그니까", "그럼", "그러면", "왜냐하면",
    "또는", "아니면", "또", "및", "그래가지고", "그리구", "음", "어", "그", "저", "아", "뭐", "막", "이제", "약간",
    "그냥", "좀", "어쨌든", "그러고",
    NULL};

/* ---- Korean endings ---- */

static int hangul(uint32_t c) { return c >= 0xAC00 && c <= 0xD7A3; }
static int batchim(uint32_t c) { return (int)((c - 0xAC00) % 28); }   /* 0: none, 4: ㄴ, 17: ㅂ */

/* The last syllables of a Hangul word: a connective ending or a particle says the
 * sentence goes on, a final ending that it is over; 0 when neither. */
static enum eot_class korean_ending(const uint32_t *syl, int n) {
    uint32_t l = syl[n - 1], p = n > 1 ? syl[n - 2] : 0;
    /* -고 -서 -면 -며: connectives (먹고, 해서, 하면, 하며); -는 -은 -을 -를 -에 -의 -와 -과 -랑 -로:
     * particles and adnominal endings (저는, 책을, 학교에, 좋은) wait for a predicate */
    static const uint32_t connective[] = {0xACE0, 0xC11C, 0xBA74, 0xBA70, 0xB294, 0xC740, 0xC744, 0xB97C,
                                          0xC5D0, 0xC758, 0xC640, 0xACFC, 0xB791, 0xB85C, 0};
    for (int i = 0; connective[i]; i++)
        if (l == connective[i]) return EOT_CONTINUE;
    if (l == 0xB370 /* 데 */ && p && hangul(p) && batchim(p) == 4) return EOT_CONTINUE;   /* -는데 -은데 -인데 */
    if (l == 0xB9CC /* 만 */ && p == 0xC9C0 /* 지 */) return EOT_CONTINUE;               /* -지만 */
    if (l == 0xB098 /* 나 */ && p == 0xAC70 /* 거 */) return EOT_CONTINUE;               /* -거나 */
    if (l == 0xAE4C /* 까 */ && p == 0xB2C8 /* 니 */) {
        /* -습니까 / -ㅂ니까 ask a question; plain -니까 (because) goes on */
        uint32_t q = n > 2 ? syl[n - 3] : 0;
        return q && hangul(q) && batchim(q) == 17 ? EOT_COMPLETE : EOT_CONTINUE;
    }
    /* -다 -요 -까 -죠 -지 -네 -냐 -니 -래 -대 -자 -야 -군 -나(구나) -걸 -세: sentence endings */
    static const uint32_t final[] = {0xB2E4, 0xC694, 0xAE4C, 0xC8E0, 0xC9C0, 0xB124, 0xB0D0, 0xB2C8,
                                     0xB798, 0xB300, 0xC790, 0xC57C, 0xAD70, 0xB098, 0xAC78, 0xC138, 0};
    for (int i = 0; final[i]; i++)
        if (l == final[i]) return EOT_COMPLETE;
    return EOT_UNSURE;
}

enum eot_class eot_classify(const char *text, size_t len) {
    if (!text) return EOT_UNSURE;
    size_t n = trim_end(text, len, 1);
    if (!n) return EOT_UNSURE;
    size_t st;
    uint32_t c = prev_cp(text, n, &st);
    if (is_open_punct(c)) return EOT_CONTINUE;
    if (c == '.' && n >= 3 && text[n - 2] == '.' && text[n - 3] == '.') return EOT_CONTINUE;   /* "..." */
    int punct = 0, question = 0;
    while (n > 0 && is_final_punct(c = prev_cp(text, n, &st))) {
        punct = 1;
        question |= is_question(c);
        n = trim_end(text, st, 1);
    }
    if (!n) return EOT_UNSURE;
    /* the last word: back to a space or an ASCII mark that is not part of a word */
    size_t w1 = n, w0 = n;
    while (w0 > 0) {
        uint32_t d = prev_cp(text, w0, &st);
        if (is_space(d) || is_open_punct(d) || is_final_punct(d) || (is_closer(d) && d != '\'') ||
            (d < 0x80 && d != '\'' && !(d >= '0' && d <= '9') && !((d | 0x20) >= 'a' && (d | 0x20) <= 'z')))
            break;
        w0 = st;
    }
    char w[64];
    size_t wl = w1 - w0 < sizeof w - 1 ? w1 - w0 : sizeof w - 1;
    for (size_t i = 0; i < wl; i++) {
        char ch = text[w0 + i];
        w[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
    }
    w[wl] = 0;
    if (in_list(w, en_continue) || in_list(w, ko_continue)) return EOT_CONTINUE;
    if (in_list(w, en_continue_unless_question)) return question ? EOT_COMPLETE : EOT_CONTINUE;
    if (question) return EOT_COMPLETE;
    /* Hangul syllables at the end of the word */
    uint32_t syl[3];
    int ns = 0;
    for (size_t e = w1; e > w0 && ns < 3;) {
        uint32_t d = prev_cp(text, e, &st);
        if (!hangul(d)) break;
        syl[2 - ns++] = d;
        e = st;
    }
    if (ns) {
        enum eot_class k = korean_ending(syl + 3 - ns, ns);
        if (k != EOT_UNSURE) return k;
    }
    return punct ? EOT_COMPLETE : EOT_UNSURE;
}

int eot_silence_ms(enum eot_class c, const struct eot_silences *s) {
    return c == EOT_COMPLETE ? s->complete_ms : c == EOT_CONTINUE ? s->continue_ms : s->unsure_ms;
}

const char *eot_class_name(enum eot_class c) {
    return c == EOT_COMPLETE ? "complete" : c == EOT_CONTINUE ? "continue" : "unsure";
}
