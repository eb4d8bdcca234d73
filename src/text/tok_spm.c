/* SentencePiece-style encoding as llama.cpp does it (llm_tokenizer_spm): start
 * from UTF-8 characters, repeatedly merge the adjacent pair whose concatenation is
 * the highest-scoring vocabulary token (leftmost first on ties), then emit any
 * symbol that is not a token as byte tokens <0xXX>. */
#include <stdlib.h>
#include <string.h>

#include "text/tok_impl.h"
#include "text/utf8.h"

struct sym { int prev, next; uint32_t off, n; };
struct bigram { int left, right; float score; uint32_t size; };

/* max-heap on score, then smaller left index first (llama.cpp's comparator) */
static int before(const struct bigram *a, const struct bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

struct heap { struct bigram *v; size_t n, cap; };

static int heap_push(struct heap *h, struct bigram b) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct bigram *v = realloc(h->v, cap * sizeof *v);
        if (!v) return -1;
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0 && before(&b, &h->v[(i - 1) / 2])) { h->v[i] = h->v[(i - 1) / 2]; i = (i - 1) / 2; }
    h->v[i] = b;
    return 0;
}

static struct bigram heap_pop(struct heap *h) {
    struct bigram top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && before(&h->v[c + 1], &h->v[c])) c++;
        if (!before(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}

static int try_add(const struct tokenizer *t, const char *text, const struct sym *s, int l, int r,
                   struct heap *h) {
    if (l < 0 || r < 0) return 0;
    int32_t id = strmap_get(&t->vocab, text + s[l].off, s[l].n + s[r].n);
    if (id < 0 || id >= t->n_vocab) return 0;
    struct bigram b = {l, r, t->tok[id].score, s[l].n + s[r].n};
    return heap_push(h, b);
}

int spm_encode(const struct tokenizer *t, const char *text, size_t len, struct tok_ids *out, struct err *e) {
    if (len == 0) return 0;
    struct sym *s = malloc(len * sizeof *s);
    struct heap h = {0};
    if (!s) return err_set(e, "out of memory tokenizing %zu bytes", len);
    int n = 0;
    for (size_t off = 0; off < len;) {
        size_t cl = utf8_len((unsigned char)text[off]);
        if (cl > len - off) cl = len - off;
        s[n].off = (uint32_t)off;
        s[n].n = (uint32_t)cl;
        s[n].prev = n - 1;
        off += cl;
        s[n].next = off == len ? -1 : n + 1;
        n++;
    }
    int rc = 0;
    for (int i = 1; i < n && rc == 0; i++) rc = try_add(t, text, s, i - 1, i, &h);
    while (h.n && rc == 0) {
        struct bigram b = heap_pop(&h);
        struct sym *l = &s[b.left], *r = &s[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue; /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) s[r->next].prev = b.left;
        rc = try_add(t, text, s, l->prev, b.left, &h);
        if (rc == 0) rc = try_add(t, text, s, b.left, l->next, &h);
    }
    for (int i = 0; i != -1 && rc == 0; i = s[i].next) {
        int32_t id = strmap_get(&t->vocab, text + s[i].off, s[i].n);
        if (id >= 0) { rc = tok_ids_push(out, id); continue; }
        /* not a token: one byte token per byte (llama.cpp's resegment fallback) */
        for (uint32_t k = 0; k < s[i].n && rc == 0; k++) {
            int32_t b = t->byte_tok[(unsigned char)text[s[i].off + k]];
            if (b < 0) b = t->unk; /* llama.cpp would throw here; unk is the sane answer */
            if (b >= 0) rc = tok_ids_push(out, b);
        }
    }
    free(s);
    free(h.v);
    return rc == 0 ? 0 : err_set(e, "out of memory tokenizing %zu bytes", len);
}
