/* The reasoning splitter; see reasoning.h. Everything pushed is appended to held, then
 * process() releases from the front of held what the current state knows, and keeps
 * the rest (a possible tag start, trailing whitespace before a possible end tag, an
 * unfinished harmony header). */
#include "runtime/reasoning.h"

#include <stdlib.h>
#include <string.h>

enum {
    T_START,        /* think: nothing decided yet (leading whitespace, a partial "<think>") */
    T_REASON_LEAD,  /* inside the thoughts, skipping the whitespace after "<think>" */
    T_REASON,       /* inside the thoughts */
    T_CONTENT_LEAD, /* after "</think>", skipping whitespace */
    T_CONTENT,      /* the answer: pass through */
    H_HEADER,       /* harmony: a header up to <|message|> */
    H_MSG,          /* harmony: a message body up to <|end|> */
    H_RAW,          /* harmony that is not: pass through */
};

static const char *open_tag(enum reasoning_syntax syn) { return syn == REASONING_THINK_BRACKET ? "[THINK]" : "<think>"; }
static const char *close_tag(enum reasoning_syntax syn) { return syn == REASONING_THINK_BRACKET ? "[/THINK]" : "</think>"; }

int reasoning_is_think(enum reasoning_syntax syn) { return syn == REASONING_THINK || syn == REASONING_THINK_BRACKET; }
static const char *const H_ENDS[] = {"<|end|>", "<|return|>", "<|call|>", "<|start|>"};
enum { N_H_ENDS = 4, HEADER_MAX = 512 };

void reasoning_split_init(struct reasoning_split *r, enum reasoning_syntax syn, int opened) {
    memset(r, 0, sizeof *r);
    r->syn = syn;
    r->open = open_tag(syn), r->close = close_tag(syn);
    if (reasoning_is_think(syn)) r->state = opened ? T_REASON_LEAD : T_START;
    else if (syn == REASONING_HARMONY) r->state = H_HEADER;
    else r->state = T_CONTENT;
}

void reasoning_split_free(struct reasoning_split *r) {
    free(r->held);
    memset(r, 0, sizeof *r);
}

static int is_ws(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

/* Drops held[0..n). */
static void consume(struct reasoning_split *r, size_t n) {
    memmove(r->held, r->held + n, r->n_held - n);
    r->n_held -= n;
}

static int give(reasoning_emit_fn emit, void *user, int reasoning, const char *s, size_t n) {
    return n ? emit(reasoning, s, n, user) : 0;
}

/* Length of the longest suffix of s[0..n) that is a proper prefix of tag. */
static size_t partial_tag(const char *s, size_t n, const char *tag) {
    size_t t = strlen(tag);
    for (size_t k = t - 1 < n ? t - 1 : n; k > 0; k--)
        if (!memcmp(s + n - k, tag, k)) return k;
    return 0;
}

/* Whether s[0..n) is a prefix of tag (or equals it). */
static int prefix_of(const char *s, size_t n, const char *tag) {
    size_t t = strlen(tag);
    return n <= t && !memcmp(s, tag, n);
}

/* The channel named in a harmony header: analysis is reasoning; final, commentary, or
 * none named, the answer. */
static int header_is_reasoning(const char *h, size_t n) {
    const char *c = memmem(h, n, "<|channel|>", 11);
    if (!c) return 0;
    c += 11;
    size_t left = n - (size_t)(c - h), k = 0;
    while (k < left && !is_ws(c[k]) && c[k] != '<') k++;
    return k == 8 && !memcmp(c, "analysis", 8);
}

/* Releases what the state allows; returns 0, or -1 when emit failed. */
static int process(struct reasoning_split *r, reasoning_emit_fn emit, void *user) {
    for (;;) {
        char *h = r->held;
        size_t n = r->n_held;
        if (!n) return 0;
        switch (r->state) {
        case T_START: {
            size_t w = 0;
            while (w < n && is_ws(h[w])) w++;
            if (n - w >= strlen(r->open) && !memcmp(h + w, r->open, strlen(r->open))) {
                consume(r, w + strlen(r->open));
                r->state = T_REASON_LEAD;
                continue;
            }
            if (prefix_of(h + w, n - w, r->open)) return 0;   /* may still become the opening tag */
            r->state = T_CONTENT;
            continue;
        }
        case T_REASON_LEAD:
        case T_CONTENT_LEAD: {
            size_t w = 0;
            while (w < n && is_ws(h[w])) w++;
            consume(r, w);
            if (w == n) return 0;
            r->state = r->state == T_REASON_LEAD ? T_REASON : T_CONTENT;
            continue;
        }
        case T_REASON: {
            const char *end = memmem(h, n, r->close, strlen(r->close));
            if (end) {
                size_t k = (size_t)(end - h), t = k;
                while (t > 0 && is_ws(h[t - 1])) t--;
                if (give(emit, user, 1, h, t)) return -1;
                consume(r, k + strlen(r->close));
                r->state = T_CONTENT_LEAD;
                continue;
            }
            /* keep a possible start of "</think>" and the whitespace before it */
            size_t keep = partial_tag(h, n, r->close);
            while (keep < n && is_ws(h[n - keep - 1])) keep++;
            if (give(emit, user, 1, h, n - keep)) return -1;
            consume(r, n - keep);
            return 0;
        }
        case T_CONTENT:
        case H_RAW:
            if (give(emit, user, 0, h, n)) return -1;
            r->n_held = 0;
            return 0;
        case H_HEADER: {
            /* Not harmony after all: a header starts with a marker, or with the role after
             * <|start|>; and it ends within HEADER_MAX bytes. Both are decided from the
             * header's first bytes only, so the pieces' sizes never change the outcome. */
            size_t w = 0;
            while (w < n && is_ws(h[w])) w++;
            int looks = w == n || h[w] == '<' || prefix_of(h + w, n - w, "assistant") ||
                        (n - w >= 9 && !memcmp(h + w, "assistant", 9));
            const char *m = looks ? memmem(h, n < HEADER_MAX ? n : HEADER_MAX, "<|message|>", 11) : NULL;
            if (m) {
                r->reason_chan = header_is_reasoning(h, (size_t)(m - h));
                /* a message to a recipient (a tool call: "commentary to=functions.NAME")
                 * keeps its header in the answer, where the tool-call parser reads it */
                if (!r->reason_chan && memmem(h, (size_t)(m - h), "to=", 3) &&
                    give(emit, user, 0, h, (size_t)(m - h) + 11))
                    return -1;
                r->any_message = 1;
                consume(r, (size_t)(m - h) + 11);
                r->state = H_MSG;
                continue;
            }
            if (!looks || n >= HEADER_MAX) {   /* the rest is the answer, as written */
                r->state = H_RAW;
                continue;
            }
            return 0;
        }
        case H_MSG: {
            size_t first = n, tag = 0;
            for (int i = 0; i < N_H_ENDS; i++) {
                const char *e = memmem(h, n, H_ENDS[i], strlen(H_ENDS[i]));
                if (e && (size_t)(e - h) < first) { first = (size_t)(e - h); tag = strlen(H_ENDS[i]); }
            }
            if (first < n) {
                if (give(emit, user, r->reason_chan, h, first)) return -1;
                /* <|start|> begins the next header; the others end this message */
                consume(r, first + (memcmp(h + first, "<|start|>", 9) ? tag : 0));
                r->state = H_HEADER;
                continue;
            }
            size_t keep = 0;
            for (int i = 0; i < N_H_ENDS; i++) {
                size_t k = partial_tag(h, n, H_ENDS[i]);
                if (k > keep) keep = k;
            }
            if (give(emit, user, r->reason_chan, h, n - keep)) return -1;
            consume(r, n - keep);
            return 0;
        }
        default:
            return 0;
        }
    }
}

int reasoning_split_push(struct reasoning_split *r, const char *text, size_t len, reasoning_emit_fn emit, void *user) {
    if (r->syn == REASONING_NONE) return give(emit, user, 0, text, len) ? -1 : 0;
    if (r->n_held + len + 1 > r->cap_held) {
        size_t c = r->cap_held ? r->cap_held : 64;
        while (c < r->n_held + len + 1) c *= 2;
        char *q = realloc(r->held, c);
        if (!q) return -1;
        r->held = q;
        r->cap_held = c;
    }
    if (len) memcpy(r->held + r->n_held, text, len);
    r->n_held += len;
    return process(r, emit, user);
}

int reasoning_split_flush(struct reasoning_split *r, reasoning_emit_fn emit, void *user) {
    int rc = 0;
    size_t n = r->n_held;
    switch (r->state) {
    case T_START: case T_CONTENT: case H_RAW: rc = give(emit, user, 0, r->held, n); break;
    case T_REASON: {
        while (n > 0 && is_ws(r->held[n - 1])) n--;
        rc = give(emit, user, 1, r->held, n);
        break;
    }
    case H_HEADER: if (!r->any_message) rc = give(emit, user, 0, r->held, n); break;
    case H_MSG: rc = give(emit, user, r->reason_chan, r->held, n); break;
    default: break;
    }
    r->n_held = 0;
    return rc ? -1 : 0;
}

enum reasoning_syntax reasoning_syntax_of(const char *t) {
    if (!t) return REASONING_NONE;
    if (strstr(t, "<|channel|>")) return REASONING_HARMONY;
    if (strstr(t, "<think>") || strstr(t, "</think>")) return REASONING_THINK;
    if (strstr(t, "[THINK]") || strstr(t, "[/THINK]")) return REASONING_THINK_BRACKET;
    return REASONING_NONE;
}

int reasoning_prompt_opens(enum reasoning_syntax syn, const char *s, size_t n) {
    const char *open = open_tag(syn);
    size_t k = strlen(open);
    if (!reasoning_is_think(syn)) return 0;
    while (n > 0 && is_ws(s[n - 1])) n--;
    return n >= k && !memcmp(s + n - k, open, k);
}
