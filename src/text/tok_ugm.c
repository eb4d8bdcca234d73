/* SentencePiece unigram encoding (T5, XLM-R) as llama.cpp does it (llm_tokenizer_ugm):
 *  1. normalise: at each position, text that starts like a user-defined token is kept
 *     as it is; otherwise the longest prefix found in the precompiled charsmap (the
 *     tokenizer's nmt_nfkc rules: a double-array trie of byte strings, each with a
 *     replacement string) is replaced; otherwise one UTF-8 character is kept (an
 *     invalid byte becomes U+FFFD). Spaces become U+2581; with remove_extra_whitespaces
 *     every run of spaces is dropped and each word gets one U+2581 in front, otherwise
 *     add_space_prefix puts one in front of the text;
 *  2. Viterbi over the normalised bytes: at each character boundary, every vocabulary
 *     piece that starts there (found by walking a byte trie) extends the best path so
 *     far by its score (user-defined pieces score 0); a character no piece covers on
 *     its own may be <unk> at the lowest normal score minus 10;
 *  3. backtrack the best path, emitting consecutive <unk>s as one.
 * Time is linear in the text length (times the longest piece); memory is linear too.
 *
 * The charsmap blob (tokenizer.ggml.precompiled_charsmap): u32 little-endian size S of
 * the trie, then S bytes of u32 trie units, then NUL-terminated replacement strings.
 * A unit packs BASE (bits 10-30, shifted left by 8 when bit 9 is set), LEAF (bit 8) and
 * the label check (bits 0-7, plus bit 31 which no byte matches); a leaf's BASE leads to
 * a unit whose low 31 bits are the offset of its replacement string. */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "text/tok_impl.h"
#include "text/utf8.h"

/* A byte trie: node 0 is the root; the edges (parent, byte) → child live in one
 * open-addressing table (child 0 marks an empty slot: the root is nobody's child). */
struct trie {
    int32_t *val;            /* per node: token id, or -1 */
    uint32_t n_nodes, cap_nodes;
    uint64_t *key;           /* parent * 256 + byte */
    uint32_t *child;
    size_t cap;              /* power of two */
};

static size_t slot_of(uint64_t k, size_t cap) {
    return (size_t)((k * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1);
}

static int trie_init(struct trie *tr, size_t max_edges) {
    memset(tr, 0, sizeof *tr);
    size_t cap = 64;
    while (cap < max_edges * 2 + 2) cap *= 2;
    tr->cap = cap;
    tr->cap_nodes = (uint32_t)(max_edges + 1);
    tr->key = malloc(cap * sizeof *tr->key);
    tr->child = calloc(cap, sizeof *tr->child);
    tr->val = malloc(tr->cap_nodes * sizeof *tr->val);
    if (!tr->key || !tr->child || !tr->val) return -1;
    tr->val[0] = -1;
    tr->n_nodes = 1;
    return 0;
}

static void trie_free(struct trie *tr) {
    free(tr->val);
    free(tr->key);
    free(tr->child);
}

static uint32_t trie_step(const struct trie *tr, uint32_t node, unsigned char c) {
    uint64_t k = (uint64_t)node * 256 + c;
    for (size_t s = slot_of(k, tr->cap);; s = (s + 1) & (tr->cap - 1)) {
        if (tr->child[s] == 0) return 0;
        if (tr->key[s] == k) return tr->child[s];
    }
}

/* Inserts key → id (a later insert of the same key wins). The table was sized for
 * every byte of every key, so it never fills up. */
static void trie_insert(struct trie *tr, const char *key, size_t len, int32_t id) {
    uint32_t node = 0;
    for (size_t i = 0; i < len; i++) {
        uint32_t next = trie_step(tr, node, (unsigned char)key[i]);
        if (!next) {
            next = tr->n_nodes++;
            tr->val[next] = -1;
            uint64_t k = (uint64_t)node * 256 + (unsigned char)key[i];
            size_t s = slot_of(k, tr->cap);
            while (tr->child[s]) s = (s + 1) & (tr->cap - 1);
            tr->key[s] = k;
            tr->child[s] = next;
        }
        node = next;
    }
    tr->val[node] = id;
}

struct ugm {
    struct trie pieces;      /* normal, user-defined and unused tokens */
    struct trie user;        /* user-defined tokens: kept as they are by the normaliser */
    int n_user;
    uint32_t *xcda;          /* charsmap trie units */
    size_t n_xcda;
    char *repl;              /* replacement strings */
    size_t n_repl;
    double unk_score;
};

void ugm_free(struct ugm *u) {
    if (!u) return;
    trie_free(&u->pieces);
    trie_free(&u->user);
    free(u->xcda);
    free(u->repl);
    free(u);
}

int ugm_init(struct tokenizer *t, const struct gguf *g, struct err *e) {
    struct ugm *u = calloc(1, sizeof *u);
    if (!u) return err_set(e, "out of memory loading the tokenizer");
    t->ugm = u;
    size_t bytes = 0, user_bytes = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        bytes += t->tok[id].len;
        if (t->tok[id].attr & TOK_USER_DEFINED) user_bytes += t->tok[id].len;
    }
    if (trie_init(&u->pieces, bytes) || trie_init(&u->user, user_bytes))
        return err_set(e, "out of memory loading the tokenizer");
    float lo = FLT_MAX;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const struct tok_entry *k = &t->tok[id];
        if ((k->attr & TOK_NORMAL) && k->score < lo) lo = k->score;
        if (k->attr & (TOK_NORMAL | TOK_USER_DEFINED | TOK_UNUSED)) trie_insert(&u->pieces, t->text + k->off, k->len, id);
        if (k->attr & TOK_USER_DEFINED) { trie_insert(&u->user, t->text + k->off, k->len, id); u->n_user++; }
    }
    u->unk_score = (double)lo - 10.0;

    enum gguf_type et;
    uint64_t n = 0;
    if (gguf_get_arr(g, "tokenizer.ggml.precompiled_charsmap", &et, &n) != 0 || n == 0) return 0; /* no normaliser */
    const unsigned char *d = gguf_get_arr_data(g, "tokenizer.ggml.precompiled_charsmap");
    if ((et != GGUF_UINT8 && et != GGUF_INT8) || !d)
        return err_set(e, "tokenizer.ggml.precompiled_charsmap must be an array of bytes (it is %s)", gguf_type_name(et));
    if (n < 4) return err_set(e, "tokenizer.ggml.precompiled_charsmap is %llu bytes, too short for its header", (unsigned long long)n);
    uint64_t sz = (uint64_t)d[0] | (uint64_t)d[1] << 8 | (uint64_t)d[2] << 16 | (uint64_t)d[3] << 24;
    if (sz + 4 >= n)
        return err_set(e, "tokenizer.ggml.precompiled_charsmap: its trie (%llu bytes) does not fit in the %llu bytes given",
                       (unsigned long long)sz, (unsigned long long)n);
    u->n_xcda = (size_t)(sz / 4);
    u->n_repl = (size_t)(n - 4 - sz);
    u->xcda = malloc((u->n_xcda ? u->n_xcda : 1) * sizeof *u->xcda);
    u->repl = malloc(u->n_repl);
    if (!u->xcda || !u->repl) return err_set(e, "out of memory loading the tokenizer");
    for (size_t i = 0; i < u->n_xcda; i++) {
        const unsigned char *p = d + 4 + 4 * i;
        u->xcda[i] = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    }
    memcpy(u->repl, d + 4 + sz, u->n_repl);
    return 0;
}

/* ---- normalisation ---- */

struct buf { char *p; size_t n, cap; };

static int put(struct buf *b, const char *s, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    return 0;
}

/* Longest charsmap match at s[0..n): sets *repl / *rlen and returns the bytes matched
 * (0 if none), or -1 if the charsmap is corrupt. */
static long charsmap_match(const struct ugm *u, const unsigned char *s, size_t n, const char **repl, size_t *rlen) {
    if (!u->n_xcda) return 0;
#define UNIT(i) ((i) < u->n_xcda ? u->xcda[(i)] : (bad = 1, 0u))
#define BASE(x) (((x) >> 10) << (((x) & (1u << 9)) >> 6))
    int bad = 0;
    long best = 0;
    size_t best_off = 0;
    uint32_t x = UNIT(0);
    size_t node = BASE(x);
    for (size_t i = 0; i < n && !bad; i++) {
        unsigned char c = s[i];
        if (c == 0) break;
        node ^= c;
        x = UNIT(node);
        if (bad || (x & ((1u << 31) | 0xffu)) != c) break;
        int leaf = (x >> 8) & 1;
        node ^= BASE(x);
        if (leaf) {
            uint32_t v = UNIT(node);
            best = (long)(i + 1);
            best_off = v & ((1u << 31) - 1);
        }
    }
#undef UNIT
#undef BASE
    if (bad) return -1;
    if (best == 0) return 0;
    if (best_off >= u->n_repl) return -1;
    const char *r = u->repl + best_off;
    const char *z = memchr(r, 0, u->n_repl - best_off);
    if (!z) return -1;
    *repl = r;
    *rlen = (size_t)(z - r);
    return best;
}

static int normalize(const struct tokenizer *t, const char *text, size_t len, struct buf *out, struct err *e) {
    const struct ugm *u = t->ugm;
    static const char sp[] = "\xe2\x96\x81";
    int merge = t->remove_extra_ws, prepend = t->add_space_prefix;
    int prepended = 0, in_word = 0;
    for (size_t i = 0; i < len;) {
        const char *r = text + i;
        size_t rl = 0, used = 0;
        if (u->n_user) { /* the depth a user-defined token's path reaches (a whole token or not) */
            uint32_t node = 0, next;
            while (i + used < len && (next = trie_step(&u->user, node, (unsigned char)text[i + used])) != 0) {
                node = next;
                used++;
            }
            rl = used;
        }
        if (!used) {
            long m = charsmap_match(u, (const unsigned char *)text + i, len - i, &r, &rl);
            if (m < 0) return err_set(e, "tokenizer.ggml.precompiled_charsmap is corrupt (an index points outside it)");
            used = (size_t)m;
        }
        if (!used) {
            size_t j = i;
            utf8_decode(text, len, &j);
            used = j - i;
            if (used == 1 && (unsigned char)text[i] >= 0x80) { r = "\xef\xbf\xbd"; rl = 3; } /* invalid byte */
            else { r = text + i; rl = used; }
        }
        for (size_t k = 0; k < rl; k++) {
            if (r[k] != ' ') {
                if (!in_word) {
                    in_word = 1;
                    if ((prepend && !prepended) || merge) {
                        if (put(out, sp, 3)) goto oom;
                        prepended = 1;
                    }
                }
                if (put(out, r + k, 1)) goto oom;
            } else {
                in_word = 0;
                if (!merge && put(out, sp, 3)) goto oom;
            }
        }
        i += used;
    }
    return 0;
oom:
    return err_set(e, "out of memory tokenizing %zu bytes", len);
}

/* ---- Viterbi ---- */

struct best { int32_t id; uint32_t from; double score; };

int ugm_encode(const struct tokenizer *t, const char *text, size_t len, struct tok_ids *out, struct err *e) {
    const struct ugm *u = t->ugm;
    struct buf nb = {0};
    if (len > 0x3fffffff) return err_set(e, "text too long to tokenize (%zu bytes)", len);
    if (normalize(t, text, len, &nb, e)) { free(nb.p); return -1; }
    size_t n = nb.n;
    if (n == 0) { free(nb.p); return 0; }
    if (n > 0xffffffffu) { free(nb.p); return err_set(e, "text too long to tokenize (%zu bytes)", len); }
    const unsigned char *s = (const unsigned char *)nb.p;
    struct best *b = malloc((n + 1) * sizeof *b);
    if (!b) { free(nb.p); return err_set(e, "out of memory tokenizing %zu bytes", len); }
    for (size_t i = 0; i <= n; i++) b[i] = (struct best){t->unk, 0, -DBL_MAX};
    b[0].score = 0;
    for (size_t i = 0; i < n;) {
        size_t cl = utf8_len(s[i]);
        if (cl > n - i) cl = n - i;
        double base = b[i].score;
        int whole = 0; /* a piece covers exactly this character */
        uint32_t node = 0;
        for (size_t j = i; j < n && (node = trie_step(&u->pieces, node, s[j])) != 0; j++) {
            int32_t id = u->pieces.val[node];
            if (id < 0) continue;
            if (j + 1 - i == cl) whole = 1;
            double sc = base + ((t->tok[id].attr & TOK_USER_DEFINED) ? 0.0 : (double)t->tok[id].score);
            if (sc > b[j + 1].score) b[j + 1] = (struct best){id, (uint32_t)i, sc};
        }
        if (!whole) {
            double sc = base + u->unk_score;
            if (sc > b[i + cl].score) b[i + cl] = (struct best){t->unk, (uint32_t)i, sc};
        }
        i += cl;
    }
    /* backtrack from the end, then reverse; runs of <unk> give one <unk> */
    size_t first = out->n;
    int rc = 0, prev_unk = 0;
    for (size_t at = n;;) {
        const struct best *x = &b[at];
        int is_unk = x->id == t->unk;
        if (!(prev_unk && is_unk)) {
            if (x->id < 0) { rc = 1; break; }
            if ((rc = tok_ids_push(out, x->id)) != 0) break;
        }
        if (x->from == 0) break;
        prev_unk = is_unk;
        at = x->from;
    }
    free(b);
    free(nb.p);
    if (rc == 1) { out->n = first; return err_set(e, "the unigram vocabulary has no unknown token (<unk>)"); }
    if (rc) return err_set(e, "out of memory tokenizing %zu bytes", len);
    for (size_t i = first, j = out->n - 1; i < j; i++, j--) {
        int32_t tmp = out->v[i];
        out->v[i] = out->v[j];
        out->v[j] = tmp;
    }
    return 0;
}
