/* Streaming sentence/clause cutter for LLM → TTS (see voice_splitter.h). Sentence rules
 * are tts_split_sentences' own (abbreviations, decimals, CJK stops); a sentence counts as
 * complete only once text follows it, because "3." may still become "3.14". */
#include "runtime/voice_splitter.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/tts.h"

void vsplit_init(struct vsplit *s) { memset(s, 0, sizeof *s); }

void vsplit_free(struct vsplit *s) {
    free(s->buf);
    memset(s, 0, sizeof *s);
}

struct spans {
    const char *base;
    size_t end[2]; /* byte offsets just past the first two sentences */
    int n;
};

static void note_span(const char *p, size_t n, void *ud) {
    struct spans *sp = ud;
    if (sp->n < 2) sp->end[sp->n] = (size_t)(p - sp->base) + n;
    sp->n++;
}

/* Offset just past the first piece of the first reply chunk that is not a whole sentence:
 * a comma (ASCII or CJK) after VSPLIT_FIRST_CLAUSE bytes, else the last space once the text
 * is VSPLIT_FIRST_WORDS long. 0 when there is none yet. */
static size_t early_cut(const char *b, size_t len, size_t limit) {
    for (size_t i = VSPLIT_FIRST_CLAUSE; i < limit; i++) {
        const unsigned char *u = (const unsigned char *)b + i;
        if ((b[i] == ',' || b[i] == ';' || b[i] == ':') && i + 1 < len && isspace((unsigned char)b[i + 1])) return i + 1;
        if (i + 3 <= len && u[0] == 0xEF && u[1] == 0xBC && u[2] == 0x8C) return i + 3;  /* ， */
        if (i + 3 <= len && u[0] == 0xE3 && u[1] == 0x80 && u[2] == 0x81) return i + 3;  /* 、 */
    }
    if (limit >= VSPLIT_FIRST_WORDS)
        for (size_t i = limit; i > VSPLIT_FIRST_CLAUSE; i--)
            if (isspace((unsigned char)b[i - 1])) return i;
    return 0;
}

static int emit(struct vsplit *s, size_t cut, vsplit_fn each, void *ud) {
    size_t a = 0, b = cut;
    while (a < b && isspace((unsigned char)s->buf[a])) a++;
    while (b > a && isspace((unsigned char)s->buf[b - 1])) b--;
    int rc = 0;
    if (b > a) {
        s->n_out++;
        rc = each(s->buf + a, b - a, ud);
    }
    memmove(s->buf, s->buf + cut, s->len - cut + 1);
    s->len -= cut;
    return rc;
}

static int scan(struct vsplit *s, int final, vsplit_fn each, void *ud) {
    while (s->len > 0) {
        struct spans sp = {s->buf, {0, 0}, 0};
        tts_split_sentences(s->buf, note_span, &sp);
        size_t cut = 0;
        if (sp.n >= 2) cut = sp.end[0];                 /* a sentence with text after it */
        else if (final) cut = s->len;
        size_t limit = sp.n >= 2 ? sp.end[0] : s->len;
        if (s->n_out == 0 && !final) {
            size_t early = early_cut(s->buf, s->len, limit);
            if (early && (!cut || early < cut)) cut = early;
        }
        if (!cut) return 0;
        /* the sentence scan trims; also swallow the spaces that follow the cut */
        while (cut < s->len && isspace((unsigned char)s->buf[cut])) cut++;
        int rc = emit(s, cut, each, ud);
        if (rc) return rc;
    }
    return 0;
}

int vsplit_push(struct vsplit *s, const char *text, size_t n, vsplit_fn each, void *ud) {
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 256;
        while (cap < s->len + n + 1) cap *= 2;
        char *nb = realloc(s->buf, cap);
        if (!nb) { s->failed = 1; return 0; }
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, text, n);
    s->len += n;
    s->buf[s->len] = 0;
    return scan(s, 0, each, ud);
}

int vsplit_flush(struct vsplit *s, vsplit_fn each, void *ud) {
    if (!s->buf) return 0;
    return scan(s, 1, each, ud);
}
