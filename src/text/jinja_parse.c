/* Jinja parser: tokens → syntax tree, by recursive descent with Jinja's
 * operator precedence (ternary < or < and < not < compare < + - < ~ < * / // % <
 * ** < unary < filters/tests/calls). */
#include <stdlib.h>
#include <string.h>

#include "text/jinja_internal.h"

#define MAX_DEPTH 200 /* nesting of expressions and blocks, so hostile input cannot blow the stack */

struct parser {
    struct tok *t;
    int n, i;
    int depth;
    struct err *e;
    int failed;
};

struct node *node_new(enum node_type t, int line, int col) {
    struct node *n = calloc(1, sizeof *n);
    if (!n) abort();
    n->type = t;
    n->line = line;
    n->col = col;
    return n;
}

void node_add(struct node *p, struct node *k) {
    if (p->n_kids == p->cap_kids) {
        p->cap_kids = p->cap_kids ? p->cap_kids * 2 : 4;
        p->kids = realloc(p->kids, sizeof *p->kids * (size_t)p->cap_kids);
        if (!p->kids) abort();
    }
    p->kids[p->n_kids++] = k;
}

void node_free(struct node *n) {
    if (!n) return;
    free(n->name);
    jv_unref(n->value);
    node_free(n->a); node_free(n->b); node_free(n->c);
    for (int i = 0; i < n->n_kids; i++) node_free(n->kids[i]);
    free(n->kids);
    for (int i = 0; i < n->n_kw; i++) { free(n->kw_names[i]); node_free(n->kw_vals[i]); }
    free(n->kw_names); free(n->kw_vals);
    node_free(n->body); node_free(n->else_body);
    for (int i = 0; i < n->n_targets; i++) {
        free(n->targets[i]);
        if (n->defaults) node_free(n->defaults[i]);
    }
    free(n->targets); free(n->defaults);
    free(n);
}

static char *sdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *r = malloc(n);
    if (!r) abort();
    return memcpy(r, s, n);
}

static struct tok *cur(struct parser *P) { return &P->t[P->i]; }
static struct tok *next_tok(struct parser *P) { return &P->t[P->i < P->n - 1 ? P->i + 1 : P->i]; }

static const char *tok_desc(const struct tok *t) {
    switch (t->type) {
    case TK_TEXT: return "text";
    case TK_VAR_BEGIN: return "'{{'";
    case TK_VAR_END: return "'}}'";
    case TK_BLOCK_BEGIN: return "'{%'";
    case TK_BLOCK_END: return "'%}'";
    case TK_STRING: return "a string";
    case TK_INT: case TK_FLOAT: return "a number";
    case TK_EOF: return "the end of the template";
    default: return t->s;
    }
}

static void *fail(struct parser *P, const char *what) {
    if (!P->failed) {
        struct tok *t = cur(P);
        err_set(P->e, "template line %d col %d: expected %s, found %s", t->line, t->col, what, tok_desc(t));
        P->failed = 1;
    }
    return NULL;
}

static int is_op(struct parser *P, const char *op) { return cur(P)->type == TK_OP && !strcmp(cur(P)->s, op); }
static int is_name(struct parser *P, const char *nm) { return cur(P)->type == TK_NAME && !strcmp(cur(P)->s, nm); }
static int accept_op(struct parser *P, const char *op) { if (is_op(P, op)) { P->i++; return 1; } return 0; }
static int accept_name(struct parser *P, const char *nm) { if (is_name(P, nm)) { P->i++; return 1; } return 0; }
static int expect_op(struct parser *P, const char *op) {
    if (accept_op(P, op)) return 1;
    char what[16] = "'";
    strcat(strcat(what, op), "'");
    fail(P, what);
    return 0;
}

static struct node *parse_expr(struct parser *P);
static struct node *parse_or(struct parser *P);
static struct node *parse_unary(struct parser *P);
static struct node *parse_primary(struct parser *P);

static struct node *mk(struct parser *P, enum node_type t) { return node_new(t, cur(P)->line, cur(P)->col); }

/* (a, b=c, ...) after the '(' was consumed: positional into n->kids, keywords into kw. */
static int parse_args(struct parser *P, struct node *n) {
    while (!is_op(P, ")")) {
        if (cur(P)->type == TK_NAME && next_tok(P)->type == TK_OP && !strcmp(next_tok(P)->s, "=")) {
            char *k = sdup(cur(P)->s);
            P->i += 2;
            struct node *v = parse_expr(P);
            n->kw_names = realloc(n->kw_names, sizeof(char *) * (size_t)(n->n_kw + 1));
            n->kw_vals = realloc(n->kw_vals, sizeof(struct node *) * (size_t)(n->n_kw + 1));
            if (!n->kw_names || !n->kw_vals) abort();
            n->kw_names[n->n_kw] = k;
            n->kw_vals[n->n_kw++] = v;
            if (!v) return 0;
        } else {
            struct node *v = parse_expr(P);
            if (!v) return 0;
            node_add(n, v);
        }
        if (!accept_op(P, ",")) break;
    }
    return expect_op(P, ")");
}

static const char *const KEYWORDS[] = {"and", "or", "not", "in", "is", "if", "else", NULL};
static int is_keyword(const char *s) {
    for (int i = 0; KEYWORDS[i]; i++) if (!strcmp(s, KEYWORDS[i])) return 1;
    return 0;
}

static struct node *parse_postfix(struct parser *P, struct node *x) {
    for (;;) {
        if (P->failed) { node_free(x); return NULL; }
        if (is_op(P, ".")) {
            struct node *n = mk(P, N_ATTR);
            P->i++;
            if (cur(P)->type != TK_NAME && cur(P)->type != TK_INT) { node_free(n); node_free(x); return fail(P, "an attribute name"); }
            if (cur(P)->type == TK_NAME) n->name = sdup(cur(P)->s);
            else { n->type = N_INDEX; n->b = node_new(N_CONST, n->line, n->col); n->b->value = jv_int(cur(P)->i); }
            P->i++;
            n->a = x;
            x = n;
        } else if (is_op(P, "[")) {
            struct node *n = mk(P, N_INDEX);
            P->i++;
            n->a = x;
            x = n;
            struct node *parts[3] = {0};
            int k = 0, is_slice = 0;
            for (;;) {
                if (!is_op(P, ":") && !is_op(P, "]")) {
                    parts[k] = parse_expr(P);
                    if (!parts[k]) break;
                }
                if (k < 2 && accept_op(P, ":")) { is_slice = 1; k++; continue; }
                break;
            }
            if (is_slice) { n->type = N_SLICE; n->b = parts[0]; n->c = parts[1]; n->kids = NULL; if (parts[2]) node_add(n, parts[2]); else node_add(n, NULL); }
            else n->b = parts[0];
            if (!is_slice && !n->b) { node_free(x); return fail(P, "an index"); }
            if (!expect_op(P, "]")) { node_free(x); return NULL; }
        } else if (is_op(P, "(")) {
            struct node *n = node_new(N_CALL, x->line, x->col); /* errors point at the callee */
            P->i++;
            n->a = x;
            x = n;
            if (!parse_args(P, n)) { node_free(x); return NULL; }
        } else if (is_op(P, "|")) {
            P->i++;
            if (cur(P)->type != TK_NAME) { node_free(x); return fail(P, "a filter name"); }
            struct node *n = mk(P, N_FILTER);
            n->name = sdup(cur(P)->s);
            P->i++;
            n->a = x;
            x = n;
            if (accept_op(P, "(") && !parse_args(P, n)) { node_free(x); return NULL; }
        } else if (is_name(P, "is")) {
            struct node *n = mk(P, N_TEST);
            P->i++;
            if (accept_name(P, "not")) n->negate = 1;
            if (cur(P)->type != TK_NAME) { node_free(n); node_free(x); return fail(P, "a test name"); }
            n->name = sdup(cur(P)->s);
            P->i++;
            n->a = x;
            x = n;
            if (accept_op(P, "(")) {
                if (!parse_args(P, n)) { node_free(x); return NULL; }
            } else if ((cur(P)->type == TK_NAME && !is_keyword(cur(P)->s)) || cur(P)->type == TK_STRING ||
                       cur(P)->type == TK_INT || cur(P)->type == TK_FLOAT || is_op(P, "[") || is_op(P, "{")) {
                struct node *arg = parse_primary(P); /* `x is divisibleby 3`, `x is sameas none` */
                if (!arg) { node_free(x); return NULL; }
                node_add(n, arg);
            }
        } else {
            return x;
        }
    }
}

static struct node *parse_primary(struct parser *P) {
    struct tok *t = cur(P);
    struct node *n;
    if (t->type == TK_NAME) {
        n = mk(P, N_CONST);
        const char *s = t->s;
        if (!strcmp(s, "true") || !strcmp(s, "True")) n->value = jv_bool(1);
        else if (!strcmp(s, "false") || !strcmp(s, "False")) n->value = jv_bool(0);
        else if (!strcmp(s, "none") || !strcmp(s, "None")) n->value = jv_none();
        else { n->type = N_NAME; n->name = sdup(s); }
        P->i++;
        return n;
    }
    if (t->type == TK_STRING) {
        n = mk(P, N_CONST);
        struct sb b = {0};
        while (cur(P)->type == TK_STRING) { sb_addn(&b, cur(P)->s, cur(P)->n); P->i++; } /* "a" "b" joins */
        n->value = jv_strn(b.s ? b.s : "", b.n);
        free(b.s);
        return n;
    }
    if (t->type == TK_INT) { n = mk(P, N_CONST); n->value = jv_int(t->i); P->i++; return n; }
    if (t->type == TK_FLOAT) { n = mk(P, N_CONST); n->value = jv_float(t->f); P->i++; return n; }
    if (is_op(P, "(")) {
        n = mk(P, N_TUPLE);
        P->i++;
        int trailing_comma = 0;
        while (!is_op(P, ")")) {
            struct node *x = parse_expr(P);
            if (!x) { node_free(n); return NULL; }
            node_add(n, x);
            trailing_comma = accept_op(P, ",");
            if (!trailing_comma) break;
        }
        if (!expect_op(P, ")")) { node_free(n); return NULL; }
        if (n->n_kids == 1 && !trailing_comma) { /* plain parentheses */
            struct node *x = n->kids[0];
            n->n_kids = 0;
            node_free(n);
            return x;
        }
        return n;
    }
    if (is_op(P, "[")) {
        n = mk(P, N_LIST);
        P->i++;
        while (!is_op(P, "]")) {
            struct node *x = parse_expr(P);
            if (!x) { node_free(n); return NULL; }
            node_add(n, x);
            if (!accept_op(P, ",")) break;
        }
        if (!expect_op(P, "]")) { node_free(n); return NULL; }
        return n;
    }
    if (is_op(P, "{")) {
        n = mk(P, N_DICT);
        P->i++;
        while (!is_op(P, "}")) {
            struct node *k = parse_expr(P);
            if (!k) { node_free(n); return NULL; }
            node_add(n, k);
            if (!expect_op(P, ":")) { node_free(n); return NULL; }
            struct node *v = parse_expr(P);
            if (!v) { node_free(n); return NULL; }
            node_add(n, v);
            if (!accept_op(P, ",")) break;
        }
        if (!expect_op(P, "}")) { node_free(n); return NULL; }
        return n;
    }
    return fail(P, "an expression");
}

static struct node *parse_unary(struct parser *P) {
    if (is_op(P, "-") || is_op(P, "+")) {
        struct node *n = mk(P, N_UNARY);
        n->name = sdup(cur(P)->s);
        P->i++;
        if (++P->depth > MAX_DEPTH) { node_free(n); return fail(P, "less deeply nested expressions"); }
        n->a = parse_unary(P);
        P->depth--;
        if (!n->a) { node_free(n); return NULL; }
        return n;
    }
    struct node *x = parse_primary(P);
    return x ? parse_postfix(P, x) : NULL;
}

/* One left-associative binary level: ops is a NULL-terminated list. */
static struct node *binary_level(struct parser *P, struct node *(*sub)(struct parser *), const char *const *ops) {
    struct node *x = sub(P);
    while (x) {
        int k;
        for (k = 0; ops[k] && !is_op(P, ops[k]); k++) {}
        if (!ops[k]) break;
        struct node *n = mk(P, N_BINARY);
        n->name = sdup(ops[k]);
        P->i++;
        n->a = x;
        n->b = sub(P);
        x = n;
        if (!n->b) { node_free(x); return NULL; }
    }
    return x;
}

static struct node *parse_pow(struct parser *P) { static const char *const o[] = {"**", NULL}; return binary_level(P, parse_unary, o); }
static struct node *parse_math2(struct parser *P) { static const char *const o[] = {"*", "/", "//", "%", NULL}; return binary_level(P, parse_pow, o); }
static struct node *parse_concat(struct parser *P) { static const char *const o[] = {"~", NULL}; return binary_level(P, parse_math2, o); }
static struct node *parse_math1(struct parser *P) { static const char *const o[] = {"+", "-", NULL}; return binary_level(P, parse_concat, o); }

static struct node *parse_compare(struct parser *P) {
    static const char *const ops[] = {"==", "!=", "<", ">", "<=", ">=", NULL};
    struct node *x = parse_math1(P);
    while (x) {
        const char *op = NULL;
        int k;
        for (k = 0; ops[k] && !is_op(P, ops[k]); k++) {}
        if (ops[k]) op = ops[k];
        else if (is_name(P, "in")) op = "in";
        else if (is_name(P, "not") && next_tok(P)->type == TK_NAME && !strcmp(next_tok(P)->s, "in")) { op = "not in"; P->i++; }
        if (!op) break;
        struct node *n = mk(P, N_BINARY);
        n->name = sdup(op);
        P->i++;
        n->a = x;
        n->b = parse_math1(P);
        x = n;
        if (!n->b) { node_free(x); return NULL; }
    }
    return x;
}

static struct node *parse_not(struct parser *P) {
    if (is_name(P, "not")) {
        struct node *n = mk(P, N_NOT);
        P->i++;
        if (++P->depth > MAX_DEPTH) { node_free(n); return fail(P, "less deeply nested expressions"); }
        n->a = parse_not(P);
        P->depth--;
        if (!n->a) { node_free(n); return NULL; }
        return n;
    }
    return parse_compare(P);
}

static struct node *parse_and(struct parser *P) {
    struct node *x = parse_not(P);
    while (x && is_name(P, "and")) {
        struct node *n = mk(P, N_AND);
        P->i++;
        n->a = x;
        n->b = parse_not(P);
        x = n;
        if (!n->b) { node_free(x); return NULL; }
    }
    return x;
}

static struct node *parse_or(struct parser *P) {
    struct node *x = parse_and(P);
    while (x && is_name(P, "or")) {
        struct node *n = mk(P, N_OR);
        P->i++;
        n->a = x;
        n->b = parse_and(P);
        x = n;
        if (!n->b) { node_free(x); return NULL; }
    }
    return x;
}

static struct node *parse_expr(struct parser *P) {
    if (++P->depth > MAX_DEPTH) return fail(P, "less deeply nested expressions");
    struct node *x = parse_or(P);
    while (x && is_name(P, "if")) {
        struct node *n = mk(P, N_COND);
        P->i++;
        n->a = x;          /* value if true */
        n->b = parse_or(P); /* condition */
        x = n;
        if (!n->b) { node_free(x); x = NULL; break; }
        if (accept_name(P, "else")) {
            n->c = parse_expr(P);
            if (!n->c) { node_free(x); x = NULL; break; }
        }
    }
    P->depth--;
    return x;
}

/* ---- statements ---- */
static struct node *parse_body(struct parser *P, const char *const *stop);

static int expect_block_end(struct parser *P) {
    if (cur(P)->type == TK_BLOCK_END) { P->i++; return 1; }
    fail(P, "'%}'");
    return 0;
}

/* Consumes "{% name %}" where name must be one of the stop names just reached. */
static int end_tag(struct parser *P, const char *name) {
    P->i++; /* {% */
    if (!accept_name(P, name)) { char w[40] = "'"; strcat(strcat(w, name), "'"); fail(P, w); return 0; }
    return expect_block_end(P);
}

static void add_target(struct node *n, const char *name) {
    n->targets = realloc(n->targets, sizeof(char *) * (size_t)(n->n_targets + 1));
    n->defaults = realloc(n->defaults, sizeof(struct node *) * (size_t)(n->n_targets + 1));
    if (!n->targets || !n->defaults) abort();
    n->defaults[n->n_targets] = NULL;
    n->targets[n->n_targets++] = sdup(name);
}

static int at_tag(struct parser *P, const char *name) {
    return cur(P)->type == TK_BLOCK_BEGIN && next_tok(P)->type == TK_NAME && !strcmp(next_tok(P)->s, name);
}

static struct node *parse_if(struct parser *P, int line, int col) {
    static const char *const stop[] = {"elif", "else", "endif", NULL};
    struct node *n = node_new(N_IF, line, col);
    if (!(n->a = parse_expr(P)) || !expect_block_end(P) || !(n->body = parse_body(P, stop))) { node_free(n); return NULL; }
    if (at_tag(P, "elif")) {
        struct tok *t = next_tok(P);
        P->i += 2;
        n->else_body = parse_if(P, t->line, t->col); /* consumes the endif */
        if (!n->else_body) { node_free(n); return NULL; }
        return n;
    }
    if (at_tag(P, "else")) {
        P->i += 2;
        if (!expect_block_end(P) || !(n->else_body = parse_body(P, stop + 2))) { node_free(n); return NULL; }
    }
    if (!end_tag(P, "endif")) { node_free(n); return NULL; }
    return n;
}

static struct node *parse_stmt(struct parser *P) {
    struct tok *t = cur(P);
    if (t->type == TK_TEXT) {
        struct node *n = mk(P, N_TEXT);
        n->value = jv_strn(t->s, t->n);
        P->i++;
        return n;
    }
    if (t->type == TK_VAR_BEGIN) {
        struct node *n = mk(P, N_OUTPUT);
        P->i++;
        if (!(n->a = parse_expr(P))) { node_free(n); return NULL; }
        if (cur(P)->type != TK_VAR_END) { node_free(n); return fail(P, "'}}'"); }
        P->i++;
        return n;
    }
    if (t->type != TK_BLOCK_BEGIN) return fail(P, "text, '{{' or '{%'");
    P->i++;
    struct tok *kw = cur(P);
    if (kw->type != TK_NAME) return fail(P, "a tag name");
    int line = kw->line, col = kw->col;
    const char *k = kw->s;
    P->i++;
    if (!strcmp(k, "if")) return parse_if(P, line, col);
    if (!strcmp(k, "for")) {
        static const char *const stop[] = {"else", "endfor", NULL};
        struct node *n = node_new(N_FOR, line, col);
        do {
            if (cur(P)->type != TK_NAME) { node_free(n); return fail(P, "a loop variable"); }
            add_target(n, cur(P)->s);
            P->i++;
        } while (accept_op(P, ","));
        if (!accept_name(P, "in")) { node_free(n); return fail(P, "'in'"); }
        if (!(n->a = parse_or(P))) { node_free(n); return NULL; }
        if (accept_name(P, "if") && !(n->b = parse_or(P))) { node_free(n); return NULL; }
        accept_name(P, "recursive");
        if (!expect_block_end(P) || !(n->body = parse_body(P, stop))) { node_free(n); return NULL; }
        if (at_tag(P, "else")) {
            P->i += 2;
            if (!expect_block_end(P) || !(n->else_body = parse_body(P, stop + 1))) { node_free(n); return NULL; }
        }
        if (!end_tag(P, "endfor")) { node_free(n); return NULL; }
        return n;
    }
    if (!strcmp(k, "set")) {
        static const char *const stop[] = {"endset", NULL};
        struct node *n = node_new(N_SET, line, col);
        if (cur(P)->type != TK_NAME) { node_free(n); return fail(P, "a variable name"); }
        add_target(n, cur(P)->s);
        P->i++;
        if (accept_op(P, ".")) {
            if (cur(P)->type != TK_NAME) { node_free(n); return fail(P, "an attribute name"); }
            n->name = sdup(cur(P)->s);
            P->i++;
        }
        while (accept_op(P, ",")) {
            if (cur(P)->type != TK_NAME) { node_free(n); return fail(P, "a variable name"); }
            add_target(n, cur(P)->s);
            P->i++;
        }
        if (cur(P)->type == TK_BLOCK_END && !n->name && n->n_targets == 1) { /* {% set x %}...{% endset %} */
            n->type = N_SET_BLOCK;
            P->i++;
            if (!(n->body = parse_body(P, stop)) || !end_tag(P, "endset")) { node_free(n); return NULL; }
            return n;
        }
        if (!expect_op(P, "=") || !(n->a = parse_expr(P))) { node_free(n); return NULL; }
        if (is_op(P, ",")) { /* set a = 1, 2 makes a tuple */
            struct node *tup = node_new(N_TUPLE, n->a->line, n->a->col);
            node_add(tup, n->a);
            n->a = tup;
            while (accept_op(P, ",")) {
                struct node *x = parse_expr(P);
                if (!x) { node_free(n); return NULL; }
                node_add(tup, x);
            }
        }
        if (!expect_block_end(P)) { node_free(n); return NULL; }
        return n;
    }
    if (!strcmp(k, "macro")) {
        static const char *const stop[] = {"endmacro", NULL};
        struct node *n = node_new(N_MACRO, line, col);
        if (cur(P)->type != TK_NAME) { node_free(n); return fail(P, "a macro name"); }
        n->name = sdup(cur(P)->s);
        P->i++;
        if (!expect_op(P, "(")) { node_free(n); return NULL; }
        while (cur(P)->type == TK_NAME) {
            add_target(n, cur(P)->s);
            P->i++;
            if (accept_op(P, "=") && !(n->defaults[n->n_targets - 1] = parse_expr(P))) { node_free(n); return NULL; }
            if (!accept_op(P, ",")) break;
        }
        if (!expect_op(P, ")") || !expect_block_end(P) || !(n->body = parse_body(P, stop)) || !end_tag(P, "endmacro")) {
            node_free(n);
            return NULL;
        }
        return n;
    }
    if (!strcmp(k, "call")) {
        static const char *const stop[] = {"endcall", NULL};
        struct node *n = node_new(N_CALL_BLOCK, line, col);
        if (accept_op(P, "(")) { /* caller's own parameters */
            while (cur(P)->type == TK_NAME) {
                add_target(n, cur(P)->s);
                P->i++;
                if (!accept_op(P, ",")) break;
            }
            if (!expect_op(P, ")")) { node_free(n); return NULL; }
        }
        if (!(n->a = parse_expr(P)) || n->a->type != N_CALL) { node_free(n); return P->failed ? NULL : fail(P, "a macro call"); }
        if (!expect_block_end(P) || !(n->body = parse_body(P, stop)) || !end_tag(P, "endcall")) { node_free(n); return NULL; }
        return n;
    }
    if (!strcmp(k, "filter")) {
        static const char *const stop[] = {"endfilter", NULL};
        struct node *n = node_new(N_FILTER_BLOCK, line, col);
        if (cur(P)->type != TK_NAME) { node_free(n); return fail(P, "a filter name"); }
        n->name = sdup(cur(P)->s);
        P->i++;
        if (accept_op(P, "(") && !parse_args(P, n)) { node_free(n); return NULL; }
        if (!expect_block_end(P) || !(n->body = parse_body(P, stop)) || !end_tag(P, "endfilter")) { node_free(n); return NULL; }
        return n;
    }
    if (!strcmp(k, "generation")) { /* HF's assistant-mask marker: renders its body unchanged */
        static const char *const stop[] = {"endgeneration", NULL};
        struct node *n;
        if (!expect_block_end(P) || !(n = parse_body(P, stop))) return NULL;
        if (!end_tag(P, "endgeneration")) { node_free(n); return NULL; }
        return n;
    }
    if (!strcmp(k, "break") || !strcmp(k, "continue")) {
        struct node *n = node_new(k[0] == 'b' ? N_BREAK : N_CONTINUE, line, col);
        if (!expect_block_end(P)) { node_free(n); return NULL; }
        return n;
    }
    P->i--;
    if (!P->failed) {
        err_set(P->e, "template line %d col %d: unexpected tag '%s'", line, col, k);
        P->failed = 1;
    }
    return NULL;
}

static struct node *parse_body(struct parser *P, const char *const *stop) {
    struct node *body = mk(P, N_BODY);
    if (++P->depth > MAX_DEPTH) { node_free(body); return fail(P, "less deeply nested blocks"); }
    for (;;) {
        struct tok *t = cur(P);
        if (t->type == TK_EOF) {
            if (stop) {
                const char *need = stop[0]; /* name the end tag the open block needs */
                for (int i = 0; stop[i]; i++) if (!strncmp(stop[i], "end", 3)) need = stop[i];
                err_set(P->e, "template line %d col %d: missing '{%% %s %%}' before the end of the template",
                        t->line, t->col, need);
                P->failed = 1;
                node_free(body);
                return NULL;
            }
            break;
        }
        if (t->type == TK_BLOCK_BEGIN && next_tok(P)->type == TK_NAME) {
            int hit = 0;
            for (int i = 0; stop && stop[i]; i++) if (!strcmp(next_tok(P)->s, stop[i])) hit = 1;
            if (hit) break;
        }
        struct node *s = parse_stmt(P);
        if (!s) { node_free(body); return NULL; }
        node_add(body, s);
    }
    P->depth--;
    return body;
}

struct jinja_template *jinja_parse(const char *src, struct err *e) {
    struct tok *toks;
    int n;
    if (!src) { err_set(e, "no template"); return NULL; }
    if (jinja_lex(src, &toks, &n, e)) return NULL;
    struct parser P = {.t = toks, .n = n, .e = e};
    struct node *root = parse_body(&P, NULL);
    jinja_toks_free(toks, n);
    if (!root) return NULL;
    struct jinja_template *t = malloc(sizeof *t);
    if (!t) abort();
    t->root = root;
    return t;
}

void jinja_free(struct jinja_template *t) {
    if (!t) return;
    node_free(t->root);
    free(t);
}
