/* JSON object constraint (see json_grammar.h). The state is a small plain
 * struct (container stack + lexer mode), so checking a candidate token is: copy
 * the state, push the token's bytes, see if it survives. Masks are cached per
 * state because generation revisits the same few states (inside a string,
 * after a comma) again and again. */
#include "text/json_grammar.h"

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
    M_STR, M_STR_ESC, M_STR_HEX,
    M_NUM_SIGN, M_NUM_ZERO, M_NUM_INT, M_NUM_DOT, M_NUM_FRAC, M_NUM_E, M_NUM_ESIGN, M_NUM_EXP,
    M_LIT,        /* inside true/false/null */
    M_DONE
};

struct jstate {
    uint8_t mode;
    uint8_t depth;
    uint8_t is_key;   /* the string being read is an object key */
    uint8_t aux;      /* hex digits left, or literal index */
    uint8_t lit;      /* which literal: 0 true, 1 false, 2 null */
    uint8_t ws;       /* whitespace run length */
    uint8_t utf8;     /* continuation bytes still expected inside a string */
    uint8_t pad;
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

static const char *const LITS[3] = {"true", "false", "null"};

static int is_ws(unsigned char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

/* After a value completes: where do we go? */
static void value_done(struct jstate *s) {
    if (s->depth == 0) s->mode = M_DONE;
    else s->mode = s->stack[s->depth - 1] == '{' ? M_OBJ_NEXT : M_ARR_NEXT;
}

static int start_value(struct jstate *s, unsigned char c) {
    switch (c) {
    case '{': case '[':
        if (s->depth >= MAX_DEPTH) return -1;
        s->stack[s->depth++] = c;
        s->mode = c == '{' ? M_KEY_OR_END : M_VAL_OR_END;
        return 0;
    case '"': s->mode = M_STR; s->is_key = 0; return 0;
    case '-': s->mode = M_NUM_SIGN; return 0;
    case '0': s->mode = M_NUM_ZERO; return 0;
    case 't': case 'f': case 'n':
        s->mode = M_LIT;
        s->lit = c == 't' ? 0 : c == 'f' ? 1 : 2;
        s->aux = 1;
        return 0;
    default:
        if (c >= '1' && c <= '9') { s->mode = M_NUM_INT; return 0; }
        return -1;
    }
}

static int close_container(struct jstate *s, unsigned char c) {
    if (!s->depth || s->stack[s->depth - 1] != (c == '}' ? '{' : '[')) return -1;
    s->depth--;
    value_done(s);
    return 0;
}

/* One byte; returns 0 if the text so far can still be (a prefix of) a JSON object. */
static int step(struct jstate *s, unsigned char c) {
    int ws_modes = s->mode != M_STR && s->mode != M_STR_ESC && s->mode != M_STR_HEX && s->mode != M_LIT &&
                   !(s->mode >= M_NUM_SIGN && s->mode <= M_NUM_EXP);
    if (ws_modes && is_ws(c)) {
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
        s->mode = M_STR;
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
    case M_STR:
        if (s->utf8) {
            if ((c & 0xC0) != 0x80) return -1;
            s->utf8--;
            return 0;
        }
        if (c == '"') {
            if (s->is_key) s->mode = M_COLON;
            else value_done(s);
            return 0;
        }
        if (c == '\\') { s->mode = M_STR_ESC; return 0; }
        if (c < 0x20 || c == 0x7f) return -1;
        if (c >= 0x80) { /* UTF-8 lead byte: how many continuation bytes follow */
            if (c >= 0xC2 && c <= 0xDF) s->utf8 = 1;
            else if (c >= 0xE0 && c <= 0xEF) s->utf8 = 2;
            else if (c >= 0xF0 && c <= 0xF4) s->utf8 = 3;
            else return -1;
        }
        return 0;
    case M_STR_ESC:
        if (c == 'u') { s->mode = M_STR_HEX; s->aux = 4; return 0; }
        if (!strchr("\"\\/bfnrt", c) || !c) return -1;
        s->mode = M_STR;
        return 0;
    case M_STR_HEX:
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return -1;
        if (--s->aux == 0) s->mode = M_STR;
        return 0;
    case M_LIT:
        if (c != (unsigned char)LITS[s->lit][s->aux]) return -1;
        if (!LITS[s->lit][++s->aux]) value_done(s);
        return 0;
    case M_DONE: return -1;
    default: break;
    }
    /* numbers: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
    int digit = c >= '0' && c <= '9';
    switch (s->mode) {
    case M_NUM_SIGN:
        if (c == '0') { s->mode = M_NUM_ZERO; return 0; }
        if (digit) { s->mode = M_NUM_INT; return 0; }
        return -1;
    case M_NUM_INT:
        if (digit) return 0;
        /* fall through */
    case M_NUM_ZERO:
        if (c == '.') { s->mode = M_NUM_DOT; return 0; }
        if (c == 'e' || c == 'E') { s->mode = M_NUM_E; return 0; }
        break; /* the number ends here */
    case M_NUM_DOT:
        if (digit) { s->mode = M_NUM_FRAC; return 0; }
        return -1;
    case M_NUM_FRAC:
        if (digit) return 0;
        if (c == 'e' || c == 'E') { s->mode = M_NUM_E; return 0; }
        break;
    case M_NUM_E:
        if (c == '+' || c == '-') { s->mode = M_NUM_ESIGN; return 0; }
        /* fall through */
    case M_NUM_ESIGN:
        if (digit) { s->mode = M_NUM_EXP; return 0; }
        return -1;
    case M_NUM_EXP:
        if (digit) return 0;
        break;
    default: return -1;
    }
    /* a complete number followed by c: c belongs to the enclosing container */
    value_done(s);
    if (s->mode == M_DONE) return -1; /* never: the top level is an object */
    if (is_ws(c)) { s->ws = 1; return 0; }
    return step(s, c);
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
