/* Byte-level BPE as llama.cpp does it (llm_tokenizer_bpe): split the text with the
 * pre-tokenizer, map every byte of each word to GPT-2's printable code points, then
 * merge adjacent symbols by merge rank (lowest first, leftmost on ties). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "text/tok_impl.h"
#include "text/utf8.h"

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the
 * other 68 bytes take code points 256, 257, ... in byte order. */
static uint16_t g_byte_cp[256];
static int16_t g_cp_byte[324];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void build_tables(void) {
    uint32_t n = 0;
    for (int i = 0; i < 324; i++) g_cp_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
        g_byte_cp[b] = (uint16_t)(printable ? (uint32_t)b : 256 + n++);
        g_cp_byte[g_byte_cp[b]] = (int16_t)b;
    }
}

uint32_t bpe_byte_to_cp(unsigned char b) {
    pthread_once(&g_once, build_tables);
    return g_byte_cp[b];
}

int bpe_cp_to_byte(uint32_t cp) {
    pthread_once(&g_once, build_tables);
    return cp < 324 ? g_cp_byte[cp] : -1;
}

struct sym { int prev, next; uint32_t off, n; };
struct bigram { int left, right, rank; uint32_t size; };

static int before(const struct bigram *a, const struct bigram *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

struct work {
    struct sym *s; size_t s_cap;
    struct bigram *h; size_t h_n, h_cap;
    char *word; size_t word_cap;  /* byte-encoded word */
    char *key; size_t key_cap;    /* "left right" lookup key */
};

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

static int heap_push(struct work *w, struct bigram b) {
    if (grow((void **)&w->h, &w->h_cap, w->h_n + 1, sizeof *w->h)) return -1;
    size_t i = w->h_n++;
    while (i > 0 && before(&b, &w->h[(i - 1) / 2])) { w->h[i] = w->h[(i - 1) / 2]; i = (i - 1) / 2; }
    w->h[i] = b;
    return 0;
}

static struct bigram heap_pop(struct work *w) {
    struct bigram top = w->h[0], last = w->h[--w->h_n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= w->h_n) break;
        if (c + 1 < w->h_n && before(&w->h[c + 1], &w->h[c])) c++;
        if (!before(&w->h[c], &last)) break;
        w->h[i] = w->h[c];
        i = c;
    }
    if (w->h_n) w->h[i] = last;
    return top;
}

static int add_bigram(const struct tokenizer *t, struct work *w, int l, int r) {
    if (l < 0 || r < 0) return 0;
    const struct sym *a = &w->s[l], *b = &w->s[r];
    size_t kl = a->n + 1 + b->n;
    if (grow((void **)&w->key, &w->key_cap, kl, 1)) return -1;
    memcpy(w->key, w->word + a->off, a->n);
    w->key[a->n] = ' ';
    memcpy(w->key + a->n + 1, w->word + b->off, b->n);
    int32_t rank = strmap_get(&t->merges, w->key, kl);
    if (rank < 0) return 0;
    struct bigram bg = {l, r, rank, a->n + b->n};
    return heap_push(w, bg);
}

/* Merges one byte-encoded word and appends its tokens. */
static int encode_word(const struct tokenizer *t, struct work *w, size_t wl, struct tok_ids *out) {
    const char *word = w->word;
    if (t->ignore_merges) {
        int32_t id = strmap_get(&t->vocab, word, wl);
        if (id >= 0) return tok_ids_push(out, id);
    }
    if (grow((void **)&w->s, &w->s_cap, wl, sizeof *w->s)) return -1;
    int n = 0;
    for (size_t off = 0; off < wl;) {
        size_t cl = utf8_len((unsigned char)word[off]);
        if (cl > wl - off) cl = wl - off;
        w->s[n] = (struct sym){n - 1, off + cl == wl ? -1 : n + 1, (uint32_t)off, (uint32_t)cl};
        off += cl;
        n++;
    }
    w->h_n = 0;
    for (int i = 1; i < n; i++)
        if (add_bigram(t, w, i - 1, i)) return -1;
    while (w->h_n) {
        struct bigram b = heap_pop(w);
        struct sym *l = &w->s[b.left], *r = &w->s[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue; /* outdated */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) w->s[r->next].prev = b.left;
        if (add_bigram(t, w, l->prev, b.left) || add_bigram(t, w, b.left, l->next)) return -1;
    }
    for (int i = 0; i != -1; i = w->s[i].next) {
        const struct sym *s = &w->s[i];
        int32_t id = strmap_get(&t->vocab, word + s->off, s->n);
        if (id >= 0) {
            if (tok_ids_push(out, id)) return -1;
            continue;
        }
        /* llama.cpp then tries each byte of the symbol as a one-byte token text */
        for (uint32_t k = 0; k < s->n; k++) {
            int32_t bid = strmap_get(&t->vocab, word + s->off + k, 1);
            if (bid >= 0 && tok_ids_push(out, bid)) return -1;
        }
    }
    return 0;
}

int bpe_encode(const struct tokenizer *t, const char *text, size_t len, struct tok_ids *out, struct err *e) {
    struct pretok_words pw = {0};
    struct work w = {0};
    if (pretok_split(&t->pre, text, len, &pw, e) != 0) {
        pretok_words_free(&pw);
        return -1;
    }
    int rc = 0;
    size_t start = 0;
    for (size_t k = 0; k < pw.n && rc == 0; k++) {
        size_t end = pw.ends[k], wl = 0;
        if (grow((void **)&w.word, &w.word_cap, (end - start) * 2 + 1, 1)) { rc = -1; break; }
        for (size_t i = start; i < end; i++) wl += utf8_encode(bpe_byte_to_cp((unsigned char)pw.norm[i]), w.word + wl);
        if (wl && encode_word(t, &w, wl, out)) rc = -1;
        start = end;
    }
    if (rc != 0) err_set(e, "out of memory tokenizing %zu bytes", len);
    pretok_words_free(&pw);
    free(w.s); free(w.h); free(w.word); free(w.key);
    return rc;
}
