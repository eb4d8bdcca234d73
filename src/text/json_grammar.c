/* JSON object constraint (see json_grammar.h). The state is a small plain
 * struct (container stack + lexer mode), so checking a candidate token is: copy
 * the state, push the token's bytes, see if it survives. Masks are cached per
 * state because generation revisits the same few states (inside a string,
 * after a comma) again and again. */
#include "text/json_grammar.h"

#include "text/json_lex.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 32
#define MAX_WS 4   /* consecutive whitespace bytes, so the model cannot pad forever */
#define N_CACHE 32

enum mode {
    M_START,      /* before the top-level '{' */
    M_VALUE,      /* a value must start */
    M_KEY_OR_END, /* just after '{' */
    M_KEY,        /* after ',' in an object */
    M_COLON,
    M_OBJ_NEXT,   /* after a member value: ',' or '}' */
    M_VAL_OR_END, /* just after '[' */
    M_ARR_NEXT,   /* after an element: ',' or ']' */
    M_SCALAR,     /* inside a string, number or literal (json_lex) */
    M_DONE
};

struct jstate {
    uint8_t mode;
    uint8_t depth;
    uint8_t is_key;   /* the string being read is an object key */
    uint8_t ws;       /* whitespace run length */
    struct json_lex lex;
    uint8_t stack[MAX_DEPTH]; /* '{' or '[' */
};

struct cache_entry {
    struct jstate st;
    uint8_t *allowed; /* bitset over the vocab */
    int used;
};

struct json_grammar {
    const char *const *pieces;
    const size_t *lens;
    int n_vocab;
    int32_t eos;
    struct jstate st;
    struct cache_entry cache[N_CACHE];
    int next_slot;
};

static int is_ws(unsigned char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

/* After a value completes: where do we go? */
static void value_done(struct jstate *s) {
    if (s->depth == 0) s->mode = M_DONE;
    else s->mode = s->stack[s->depth - 1] == '{' ? M_OBJ_NEXT : M_ARR_NEXT;
}

static int start_value(struct jstate *s, unsigned char c) {
    if (c == '{' || c == '[') {
        if (s->depth >= MAX_DEPTH) return -1;
        s->stack[s->depth++] = c;
        s->mode = c == '{' ? M_KEY_OR_END : M_VAL_OR_END;
        return 0;
    }
    if (json_lex_begin(&s->lex, c, 0) != JSON_LEX_MORE) return -1;
    s->mode = M_SCALAR;
    s->is_key = 0;
    return 0;
}

static int close_container(struct jstate *s, unsigned char c) {
    if (!s->depth || s->stack[s->depth - 1] != (c == '}' ? '{' : '[')) return -1;
    s->depth--;
    value_done(s);
    return 0;
}

/* One byte; returns 0 if the text so far can still be (a prefix of) a JSON object. */
static int step(struct jstate *s, unsigned char c) {
    if (s->mode == M_SCALAR) {
        int r = json_lex_step(&s->lex, c);
        if (r == JSON_LEX_ERR) return -1;
        s->lex.chars = 0; /* lengths are not limited here; keep states equal for the mask cache */
        if (r == JSON_LEX_MORE) return 0;
        memset(&s->lex, 0, sizeof s->lex); /* equal states must compare equal for the mask cache */
        if (s->is_key) { s->mode = M_COLON; return 0; }
        value_done(s);
        if (r == JSON_LEX_END) return 0;
        /* a number ended just before c: c belongs to the enclosing container */
        if (s->mode == M_DONE) return -1; /* never: the top level is an object */
    }
    if (is_ws(c)) {
        if (s->mode == M_DONE) return -1; /* after the object only end-of-generation */
        return ++s->ws > MAX_WS ? -1 : 0;
    }
    s->ws = 0;
    switch (s->mode) {
    case M_START:
        if (c != '{') return -1;
        s->stack[s->depth++] = '{';
        s->mode = M_KEY_OR_END;
        return 0;
    case M_VALUE: return start_value(s, c);
    case M_KEY_OR_END:
        if (c == '}') return close_container(s, c);
        /* fall through */
    case M_KEY:
        if (c != '"') return -1;
        json_lex_begin(&s->lex, c, 0);
        s->mode = M_SCALAR;
        s->is_key = 1;
        return 0;
    case M_COLON:
        if (c != ':') return -1;
        s->mode = M_VALUE;
        return 0;
    case M_OBJ_NEXT:
        if (c == ',') { s->mode = M_KEY; return 0; }
        return c == '}' ? close_container(s, c) : -1;
    case M_VAL_OR_END:
        if (c == ']') return close_container(s, c);
        return start_value(s, c);
    case M_ARR_NEXT:
        if (c == ',') { s->mode = M_VALUE; return 0; }
        return c == ']' ? close_container(s, c) : -1;
    default: return -1;
    }
}

struct json_grammar *json_grammar_new(const char *const *pieces, const size_t *lens, int n_vocab,
                                      int32_t eos, struct err *e) {
    if (!pieces || !lens || n_vocab <= 0) { err_set(e, "json grammar: empty vocabulary"); return NULL; }
    struct json_grammar *g = calloc(1, sizeof *g);
    if (!g) { err_set(e, "json grammar: out of memory"); return NULL; }
    g->pieces = pieces;
    g->lens = lens;
    g->n_vocab = n_vocab;
    g->eos = eos;
    return g;
}

void json_grammar_free(struct json_grammar *g) {
    if (!g) return;
    for (int i = 0; i < N_CACHE; i++) free(g->cache[i].allowed);
    free(g);
}

void json_grammar_reset(struct json_grammar *g) { memset(&g->st, 0, sizeof g->st); }

int json_grammar_done(const struct json_grammar *g) { return g->st.mode == M_DONE; }

static int feed(struct jstate *s, const char *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (step(s, (unsigned char)b[i])) return -1;
    return 0;
}

int json_grammar_feed(struct json_grammar *g, const char *bytes, size_t n) {
    struct jstate s = g->st;
    if (feed(&s, bytes, n)) return -1;
    g->st = s;
    return 0;
}

int json_grammar_accept(struct json_grammar *g, int32_t token) {
    if (token < 0 || token >= g->n_vocab) return -1;
    if (token == g->eos) return g->st.mode == M_DONE ? 0 : -1;
    if (!g->pieces[token] || !g->lens[token]) return -1;
    return json_grammar_feed(g, g->pieces[token], g->lens[token]);
}

static const uint8_t *allowed_set(struct json_grammar *g) {
    for (int i = 0; i < N_CACHE; i++)
        if (g->cache[i].used && !memcmp(&g->cache[i].st, &g->st, sizeof g->st)) return g->cache[i].allowed;
    struct cache_entry *c = &g->cache[g->next_slot];
    g->next_slot = (g->next_slot + 1) % N_CACHE;
    size_t nbytes = ((size_t)g->n_vocab + 7) / 8;
    if (!c->allowed) c->allowed = malloc(nbytes);
    if (!c->allowed) return NULL;
    memset(c->allowed, 0, nbytes);
    for (int t = 0; t < g->n_vocab; t++) {
        int ok;
        if (t == g->eos) ok = g->st.mode == M_DONE;
        else if (!g->pieces[t] || !g->lens[t]) ok = 0;
        else { struct jstate s = g->st; ok = feed(&s, g->pieces[t], g->lens[t]) == 0; }
        if (ok) c->allowed[t >> 3] |= (uint8_t)(1u << (t & 7));
    }
    c->st = g->st;
    c->used = 1;
    return c->allowed;
}

void json_grammar_mask(void *user, float *logits, int n_vocab) {
    struct json_grammar *g = user;
    const uint8_t *ok = allowed_set(g);
    int n = n_vocab < g->n_vocab ? n_vocab : g->n_vocab;
    for (int t = 0; t < n; t++)
        if (!ok || !(ok[t >> 3] & (1u << (t & 7)))) logits[t] = -INFINITY;
    for (int t = n; t < n_vocab; t++) logits[t] = -INFINITY;
}
