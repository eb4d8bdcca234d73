/* Chunking; see chunk.h. The blocks become units (sentences of paragraphs, whole table
 * rows, pieces of sentences too long for a chunk), each a slice of its block's text;
 * chunks are runs of units within one section. */
#include "knowledge/chunk.h"

#include <stdlib.h>
#include <string.h>

struct kb_chunk_params kb_chunk_default_params(void) {
    return (struct kb_chunk_params){.max_tokens = 400, .overlap_tokens = 60};
}

int kb_estimate_tokens(const char *s, size_t n) {
    size_t ascii = 0, wide = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) ascii++;
        else if ((c & 0xC0) != 0x80) wide++;  /* a lead byte: one character */
    }
    return (int)((ascii + 3) / 4 + wide);
}

struct unit {
    const char *s;
    size_t n;
    int tokens, block, page;
};

struct units {
    struct unit *v;
    int n, cap;
};

static int add_unit(struct units *u, const char *s, size_t n, int tokens, int block, int page) {
    if (u->n == u->cap) {
        int cap = u->cap ? 2 * u->cap : 64;
        struct unit *v = realloc(u->v, sizeof *v * (size_t)cap);
        if (!v) return -1;
        u->v = v, u->cap = cap;
    }
    u->v[u->n++] = (struct unit){s, n, tokens, block, page};
    return 0;
}

static int count(const struct kb_chunk_params *p, const char *s, size_t n) {
    int t = p->count ? p->count(s, n, p->count_user) : kb_estimate_tokens(s, n);
    return t > 0 ? t : 1;
}

/* End of the sentence starting at s[i] (after its mark and the blanks after it), or n. */
static size_t sentence_end(const char *s, size_t n, size_t i) {
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        size_t k = 0;
        if (c == '.' || c == '!' || c == '?') {
            k = i + 1;
            while (k < n && (s[k] == '.' || s[k] == '!' || s[k] == '?')) k++;
            if (k < n && s[k] != ' ' && s[k] != '\n') continue;  /* 3.14, e.g.x */
        } else if (c == '\n') {
            k = i + 1;
        } else if (i + 2 < n && ((c == 0xE3 && (unsigned char)s[i + 1] == 0x80 && (unsigned char)s[i + 2] == 0x82) ||
                                 (c == 0xEF && (unsigned char)s[i + 1] == 0xBC &&
                                  ((unsigned char)s[i + 2] == 0x81 || (unsigned char)s[i + 2] == 0x9F)))) {
            k = i + 3;  /* 。！？ */
        } else {
            continue;
        }
        while (k < n && (s[k] == ' ' || s[k] == '\n')) k++;
        return k;
    }
    return n;
}

/* A slice too long for a chunk: pieces that fit, cut at the last blank, else at a character. */
static int split_long(struct units *u, const struct kb_chunk_params *p, const char *s, size_t n, int block, int page) {
    size_t at = 0;
    while (at < n) {
        size_t lo = 1, hi = n - at, best = 0;
        while (lo <= hi) {  /* the longest prefix within budget (tokens grow with length) */
            size_t mid = lo + (hi - lo) / 2;
            if (count(p, s + at, mid) <= p->max_tokens) best = mid, lo = mid + 1;
            else hi = mid - 1;
        }
        if (!best) best = 1;
        size_t cut = best;
        if (at + cut < n) {
            size_t b = cut;
            while (b > 0 && s[at + b - 1] != ' ' && s[at + b - 1] != '\n') b--;
            if (b > cut / 2) cut = b;
            while (cut > 1 && ((unsigned char)s[at + cut] & 0xC0) == 0x80) cut--;  /* never inside a character */
        }
        if (add_unit(u, s + at, cut, count(p, s + at, cut), block, page)) return -1;
        at += cut;
    }
    return 0;
}

static int block_units(struct units *u, const struct kb_chunk_params *p, const struct kb_block *b, int bi) {
    const char *s = b->text;
    size_t n = strlen(s);
    if (b->kind == KB_TABLE_ROW) {
        int t = count(p, s, n);
        return t <= p->max_tokens ? add_unit(u, s, n, t, bi, b->page) : split_long(u, p, s, n, bi, b->page);
    }
    for (size_t at = 0; at < n;) {
        size_t e = sentence_end(s, n, at);
        int t = count(p, s + at, e - at);
        if (t <= p->max_tokens ? add_unit(u, s + at, e - at, t, bi, b->page) : split_long(u, p, s + at, e - at, bi, b->page))
            return -1;
        at = e;
    }
    return 0;
}

struct out {
    struct kb_chunk *v;
    int n, cap;
};

static int emit(struct out *o, const struct units *u, int from, int to, const char *heading) {
    if (o->n == o->cap) {
        int cap = o->cap ? 2 * o->cap : 32;
        struct kb_chunk *v = realloc(o->v, sizeof *v * (size_t)cap);
        if (!v) return -1;
        o->v = v, o->cap = cap;
    }
    size_t len = 0;
    for (int i = from; i < to; i++) len += u->v[i].n + 2;
    char *t = malloc(len + 1), *w = t;
    if (!t) return -1;
    struct kb_chunk c = {.text = t, .page_first = 0, .block_first = u->v[from].block, .block_last = u->v[to - 1].block};
    for (int i = from; i < to; i++) {
        const struct unit *x = &u->v[i];
        if (i > from && x->block != u->v[i - 1].block) {  /* blocks are blank-line apart */
            while (w > t && (w[-1] == ' ' || w[-1] == '\n')) w--;
            *w++ = '\n', *w++ = '\n';
        }
        memcpy(w, x->s, x->n);
        w += x->n;
        c.n_tokens += x->tokens;
        if (x->page && (!c.page_first || x->page < c.page_first)) c.page_first = x->page;
        if (x->page > c.page_last) c.page_last = x->page;
    }
    while (w > t && (w[-1] == ' ' || w[-1] == '\n')) w--;
    *w = 0;
    if (heading && !(c.heading = strdup(heading))) { free(t); return -1; }
    o->v[o->n++] = c;
    return 0;
}

/* Cuts units [from, to) of one section into chunks. */
static int section(struct out *o, const struct units *u, int from, int to, const struct kb_chunk_params *p,
                   const char *heading) {
    int start = from;
    while (start < to) {
        int end = start, tokens = 0;
        while (end < to && (end == start || tokens + u->v[end].tokens <= p->max_tokens)) tokens += u->v[end++].tokens;
        if (emit(o, u, start, end, heading)) return -1;
        if (end >= to) break;
        /* the next chunk starts with the last units of this one, up to the overlap budget,
         * but always moves forward */
        int back = end, ov = 0;
        while (back - 1 > start && ov + u->v[back - 1].tokens <= p->overlap_tokens) ov += u->v[--back].tokens;
        start = back;
    }
    return 0;
}

int kb_chunk_doc(const struct kb_doc *d, const struct kb_chunk_params *pp, struct kb_chunk **out, int *n, struct err *e) {
    struct kb_chunk_params p = pp ? *pp : kb_chunk_default_params();
    if (p.max_tokens < 16) p.max_tokens = 16;
    if (p.overlap_tokens < 0 || p.overlap_tokens >= p.max_tokens) p.overlap_tokens = p.max_tokens / 4;
    *out = NULL, *n = 0;
    struct units u = {0};
    struct out o = {0};
    const char *stack[7] = {0};  /* heading text per level 1..6 */
    char *path = NULL;
    int rc = 0, sec_from = 0;
    for (int i = 0; i <= d->n && !rc; i++) {
        if (i == d->n || d->b[i].kind == KB_HEADING) {
            rc = section(&o, &u, sec_from, u.n, &p, path);
            if (rc || i == d->n) break;
            int lv = d->b[i].level < 1 ? 1 : d->b[i].level > 6 ? 6 : d->b[i].level;
            stack[lv] = d->b[i].text;
            for (int k = lv + 1; k <= 6; k++) stack[k] = NULL;
            size_t len = 1;
            for (int k = 1; k <= 6; k++) len += stack[k] ? strlen(stack[k]) + 3 : 0;
            free(path);
            if (!(path = malloc(len))) { rc = -1; break; }
            path[0] = 0;
            for (int k = 1; k <= 6; k++)
                if (stack[k]) {
                    if (path[0]) strcat(path, " > ");
                    strcat(path, stack[k]);
                }
            sec_from = u.n;
            continue;
        }
        rc = block_units(&u, &p, &d->b[i], i);
    }
    free(path);
    free(u.v);
    if (rc) {
        kb_chunks_free(o.v, o.n);
        return err_set(e, "out of memory while chunking");
    }
    *out = o.v, *n = o.n;
    return 0;
}

void kb_chunks_free(struct kb_chunk *c, int n) {
    for (int i = 0; i < n; i++) free(c[i].text), free(c[i].heading);
    free(c);
}
