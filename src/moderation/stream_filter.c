/* The sentence filter; see stream_filter.h. held[] keeps what is not yet checked; each
 * push appends, then complete sentences are cut from its front and checked in order. */
#include "moderation/stream_filter.h"

#include <stdlib.h>
#include <string.h>

void mod_stream_init(struct mod_stream *s, mod_sentence_check check, void *check_user) {
    memset(s, 0, sizeof *s);
    s->check = check;
    s->check_user = check_user;
    s->max_hold = 400;
}

void mod_stream_free(struct mod_stream *s) {
    free(s->held);
    s->held = NULL;
    s->n_held = s->cap = 0;
}

static int is_blank(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Length of a sentence end at h[i..): an ASCII .!? (runs like "..." or "?!" included),
 * or a full-width 。！？ / ellipsis …, or 0. */
static size_t end_mark(const char *h, size_t n, size_t i) {
    unsigned char c = (unsigned char)h[i];
    if (c == '.' || c == '!' || c == '?') {
        size_t k = i;
        while (k < n && (h[k] == '.' || h[k] == '!' || h[k] == '?')) k++;
        return k - i;
    }
    if (c == 0xE3 && i + 2 < n && (unsigned char)h[i + 1] == 0x80 && (unsigned char)h[i + 2] == 0x82) return 3; /* 。 */
    if (c == 0xEF && i + 2 < n && (unsigned char)h[i + 1] == 0xBC &&
        ((unsigned char)h[i + 2] == 0x81 || (unsigned char)h[i + 2] == 0x9F)) return 3;                       /* ！？ */
    if (c == 0xE2 && i + 2 < n && (unsigned char)h[i + 1] == 0x80 && (unsigned char)h[i + 2] == 0xA6) return 3; /* … */
    return 0;
}

/* The length of the first complete sentence in held (blanks after it included), or 0.
 * at_end: nothing more comes, so a mark at the very end closes a sentence. */
static size_t sentence_len(const struct mod_stream *s, int at_end) {
    const char *h = s->held;
    size_t n = s->n_held;
    for (size_t i = 0; i < n; i++) {
        if (h[i] == '\n') {
            size_t k = i + 1;
            while (k < n && is_blank((unsigned char)h[k])) k++;
            if (k < n || at_end) return k;
            return 0;  /* more blank lines may follow: keep them with this sentence */
        }
        size_t m = end_mark(h, n, i);
        if (!m) continue;
        size_t k = i + m;
        if (k == n) return at_end ? n : 0;   /* "3." may still become "3.14" */
        if (!is_blank((unsigned char)h[k]) && (unsigned char)h[i] < 0x80) { i = k - 1; continue; }
        while (k < n && is_blank((unsigned char)h[k])) k++;
        if (k == n && !at_end) return 0;
        return k;
    }
    if (n > s->max_hold) {  /* no end in sight: cut at the last blank, else at a character start */
        size_t cut = s->max_hold;
        for (size_t i = s->max_hold; i > 0; i--)
            if (is_blank((unsigned char)h[i - 1])) { cut = i; break; }
        while (cut > 0 && ((unsigned char)h[cut] & 0xC0) == 0x80) cut--;
        return cut ? cut : s->max_hold;
    }
    return at_end ? n : 0;
}

static int release_front(struct mod_stream *s, size_t len, mod_release_fn release, void *user) {
    char *rep = NULL;
    int c = s->check(s->held, len, &rep, s->check_user);
    s->n_checked++;
    if (c != 0) {
        free(rep);
        s->flagged = 1;
        return 1;
    }
    int rc = rep ? release(rep, strlen(rep), user) : release(s->held, len, user);
    free(rep);
    memmove(s->held, s->held + len, s->n_held - len);
    s->n_held -= len;
    return rc ? -1 : 0;
}

static int drain(struct mod_stream *s, int at_end, mod_release_fn release, void *user) {
    while (s->n_held) {
        size_t len = sentence_len(s, at_end);
        if (!len) return 0;
        int rc = release_front(s, len, release, user);
        if (rc) return rc;
    }
    return 0;
}

int mod_stream_push(struct mod_stream *s, const char *text, size_t n, mod_release_fn release, void *user) {
    if (s->flagged) return 1;
    if (s->n_held + n + 1 > s->cap) {
        size_t cap = (s->n_held + n + 1) * 2;
        char *h = realloc(s->held, cap);
        if (!h) return -1;
        s->held = h, s->cap = cap;
    }
    memcpy(s->held + s->n_held, text, n);
    s->n_held += n;
    return drain(s, 0, release, user);
}

int mod_stream_flush(struct mod_stream *s, mod_release_fn release, void *user) {
    if (s->flagged) return 1;
    return drain(s, 1, release, user);
}
