/* Jinja lexer: splits a template into text and tag tokens, applying whitespace
 * control the way HF renders chat templates (trim_blocks and lstrip_blocks on, the
 * source's single trailing newline dropped, plus explicit {%- -%} / {{- -}} / {#- -#}). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "text/jinja_internal.h"

struct lexer {
    const char *src;
    size_t pos;
    int line, col;
    struct tok *t;
    int n, cap;
    struct sb text;        /* text waiting to be emitted */
    struct tok scratch;    /* where an emit goes when the token array cannot grow */
    int text_line, text_col;
};

static void adv(struct lexer *L, size_t k) {
    for (size_t i = 0; i < k && L->src[L->pos]; i++) {
        if (L->src[L->pos] == '\n') { L->line++; L->col = 1; }
        else L->col++;
        L->pos++;
    }
}

/* Out of memory: a fault is recorded and the token goes to a scratch slot that is
 * never read (jinja_lex fails at its end); a token's text is then NULL. */
static struct tok *emit(struct lexer *L, enum tok_type type, int line, int col) {
    if (L->n == L->cap) {
        int cap = L->cap ? L->cap * 2 : 64;
        struct tok *nt = L->n < (1 << 28) ? jx_realloc(L->t, sizeof *L->t * (size_t)cap) : NULL;
        if (!nt) {
            if (L->n >= (1 << 28)) jx_fault(JX_OOM);
            jx_free(L->scratch.s);
            memset(&L->scratch, 0, sizeof L->scratch);
            return &L->scratch;
        }
        L->t = nt;
        L->cap = cap;
    }
    struct tok *t = &L->t[L->n++];
    memset(t, 0, sizeof *t);
    t->type = type;
    t->line = line;
    t->col = col;
    return t;
}

static char *dupn(const char *s, size_t n) { return jx_strndup(s, n); }

static void flush_text(struct lexer *L) {
    if (L->text.n) {
        struct tok *t = emit(L, TK_TEXT, L->text_line, L->text_col);
        t->s = dupn(L->text.s, L->text.n);
        t->n = L->text.n;
    }
    L->text.n = 0;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static void put_utf8(struct sb *b, unsigned cp) {
    char u[4];
    if (cp < 0x80) { u[0] = (char)cp; sb_addn(b, u, 1); }
    else if (cp < 0x800) { u[0] = (char)(0xC0 | cp >> 6); u[1] = (char)(0x80 | (cp & 63)); sb_addn(b, u, 2); }
    else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | cp >> 12); u[1] = (char)(0x80 | (cp >> 6 & 63)); u[2] = (char)(0x80 | (cp & 63));
        sb_addn(b, u, 3);
    } else {
        u[0] = (char)(0xF0 | cp >> 18); u[1] = (char)(0x80 | (cp >> 12 & 63));
        u[2] = (char)(0x80 | (cp >> 6 & 63)); u[3] = (char)(0x80 | (cp & 63));
        sb_addn(b, u, 4);
    }
}

/* Lexes the inside of {{ }} or {% %}; stops after the closing delimiter. Returns
 * 1 if it was closed with a '-' (strip what follows), 0 if not, -1 on error. */
static int lex_tag(struct lexer *L, int is_block, struct err *e) {
    int depth = 0; /* (), [], {} nesting, so a dict literal's "}}" does not end the tag */
    const char *close = is_block ? "%}" : "}}";
    for (;;) {
        while (is_ws(L->src[L->pos])) adv(L, 1);
        const char *p = L->src + L->pos;
        int line = L->line, col = L->col;
        if (!*p) return err_set(e, "line %d col %d: unclosed '%s' tag", line, col, is_block ? "{%" : "{{");
        if (depth == 0 && p[0] == '-' && !strncmp(p + 1, close, 2)) {
            adv(L, 3);
            emit(L, is_block ? TK_BLOCK_END : TK_VAR_END, line, col);
            return 1;
        }
        if (depth == 0 && !strncmp(p, close, 2)) {
            adv(L, 2);
            emit(L, is_block ? TK_BLOCK_END : TK_VAR_END, line, col);
            return 0;
        }
        if (isalpha((unsigned char)*p) || *p == '_') {
            size_t n = 0;
            while (isalnum((unsigned char)p[n]) || p[n] == '_') n++;
            struct tok *t = emit(L, TK_NAME, line, col);
            t->s = dupn(p, n);
            t->n = n;
            adv(L, n);
        } else if (isdigit((unsigned char)*p)) {
            char *end;
            long long i = strtoll(p, &end, 10);
            if (*end == '.' && isdigit((unsigned char)end[1])) {
                double f = strtod(p, &end);
                struct tok *t = emit(L, TK_FLOAT, line, col);
                t->f = f;
            } else {
                struct tok *t = emit(L, TK_INT, line, col);
                t->i = i;
            }
            adv(L, (size_t)(end - p));
        } else if (*p == '\'' || *p == '"') {
            char q = *p;
            struct sb s = {0};
            size_t i = 1;
            for (;; i++) {
                char c = p[i];
                if (!c) { jx_free(s.s); return err_set(e, "line %d col %d: unterminated string literal", line, col); }
                if (c == q) break;
                if (c != '\\') { sb_addc(&s, c); continue; }
                c = p[++i];
                switch (c) {
                case 'n': sb_addc(&s, '\n'); break;
                case 't': sb_addc(&s, '\t'); break;
                case 'r': sb_addc(&s, '\r'); break;
                case '0': sb_addc(&s, '\0'); break;
                case '\\': case '\'': case '"': sb_addc(&s, c); break;
                case 'x': case 'u': case 'U': {
                    int nd = c == 'x' ? 2 : c == 'u' ? 4 : 8;
                    unsigned cp = 0;
                    int k;
                    for (k = 0; k < nd && isxdigit((unsigned char)p[i + 1 + k]); k++) {
                        char h = p[i + 1 + k];
                        cp = cp * 16 + (unsigned)(isdigit((unsigned char)h) ? h - '0' : (tolower((unsigned char)h) - 'a' + 10));
                    }
                    if (k != nd || cp > 0x10FFFF) { jx_free(s.s); return err_set(e, "line %d col %d: bad \\%c escape", line, col, c); }
                    put_utf8(&s, cp);
                    i += (size_t)nd;
                    break;
                }
                case 0: jx_free(s.s); return err_set(e, "line %d col %d: unterminated string literal", line, col);
                default: sb_addc(&s, '\\'); sb_addc(&s, c); break;
                }
            }
            struct tok *t = emit(L, TK_STRING, line, col);
            t->s = s.s ? s.s : dupn("", 0);
            t->n = s.n;
            adv(L, i + 1);
        } else {
            static const char *two[] = {"==", "!=", "<=", ">=", "//", "**", NULL};
            size_t n = 0;
            for (int k = 0; two[k]; k++)
                if (!strncmp(p, two[k], 2)) n = 2;
            if (!n) {
                if (!strchr("+-*/%~<>=()[]{}.,:|!", *p))
                    return err_set(e, "line %d col %d: unexpected character '%c' in tag", line, col, *p);
                n = 1;
                if (strchr("([{", *p)) depth++;
                if (strchr(")]}", *p) && depth > 0) depth--;
            }
            struct tok *t = emit(L, TK_OP, line, col);
            t->s = dupn(p, n);
            t->n = n;
            adv(L, n);
        }
    }
}

int jinja_lex(const char *src, struct tok **toks, int *n_toks, struct err *e) {
    struct lexer L = {.src = src, .line = 1, .col = 1};
    unsigned long mark = jx_fault_mark();
    int strip_next = 0; /* previous tag ended with '-': drop leading whitespace */
    int trim_nl = 0;    /* previous tag was a block/comment: drop one newline (trim_blocks) */
    L.text_line = L.text_col = 1;
    for (;;) {
        const char *p = L.src + L.pos;
        if (strip_next) {
            while (is_ws(*p)) { adv(&L, 1); p++; }
            strip_next = 0;
        } else if (trim_nl) {
            if (*p == '\n') { adv(&L, 1); p++; }
            else if (p[0] == '\r' && p[1] == '\n') { adv(&L, 2); p += 2; }
        }
        trim_nl = 0;
        if (!*p) break;
        if (p[0] == '{' && (p[1] == '{' || p[1] == '%' || p[1] == '#')) {
            char kind = p[1];
            int line = L.line, col = L.col;
            if (p[2] == '-') {
                while (L.text.n && is_ws(L.text.s[L.text.n - 1])) L.text.n--;
            } else if (kind != '{' && p[2] != '+') {
                /* lstrip_blocks: spaces/tabs from the line start up to the tag go */
                size_t k = L.text.n;
                while (k && (L.text.s[k - 1] == ' ' || L.text.s[k - 1] == '\t')) k--;
                /* only when the blanks start a line: after a newline, or text that began at column 1 */
                int at_line_start = k > 0 ? L.text.s[k - 1] == '\n' : L.text.n > 0 && L.text_col == 1;
                if (at_line_start) L.text.n = k;
            }
            flush_text(&L);
            adv(&L, (p[2] == '-' || p[2] == '+') ? 3 : 2);
            if (kind == '#') {
                const char *end = strstr(L.src + L.pos, "#}");
                if (!end) {
                    jinja_toks_free(L.t, L.n);
                    jx_free(L.text.s);
                    jx_free(L.scratch.s);
                    return err_set(e, "line %d col %d: unclosed comment", line, col);
                }
                int dash = end > L.src + L.pos && end[-1] == '-';
                adv(&L, (size_t)(end - (L.src + L.pos)) + 2);
                if (dash) strip_next = 1; else trim_nl = 1;
            } else {
                emit(&L, kind == '%' ? TK_BLOCK_BEGIN : TK_VAR_BEGIN, line, col);
                int r = lex_tag(&L, kind == '%', e);
                if (r < 0) { jinja_toks_free(L.t, L.n); jx_free(L.text.s); jx_free(L.scratch.s); return -1; }
                if (r) strip_next = 1;
                else if (kind == '%') trim_nl = 1;
            }
            continue;
        }
        if (!L.text.n) { L.text_line = L.line; L.text_col = L.col; }
        /* copy plain text up to the next '{' */
        size_t n = 1;
        while (p[n] && p[n] != '{') n++;
        sb_addn(&L.text, p, n);
        adv(&L, n);
    }
    /* keep_trailing_newline off (Jinja's default, as HF renders): the template's own last
     * newline is not output */
    size_t sl = strlen(src);
    if (sl && src[sl - 1] == '\n' && L.text.n && L.text.s[L.text.n - 1] == '\n') {
        L.text.n--;
        if (L.text.n && L.text.s[L.text.n - 1] == '\r') L.text.n--;
    }
    flush_text(&L);
    jx_free(L.text.s);
    emit(&L, TK_EOF, L.line, L.col);
    if (jx_faulted(mark)) {
        jinja_toks_free(L.t, L.n);
        jx_free(L.scratch.s);
        return err_set(e, "out of memory lexing the template");
    }
    *toks = L.t;
    *n_toks = L.n;
    return 0;
}

void jinja_toks_free(struct tok *t, int n) {
    for (int i = 0; i < n; i++) jx_free(t[i].s);
    jx_free(t);
}
