/* Jinja parser: tokens → syntax tree, by recursive descent with Jinja's
 * operator precedence (ternary < or < and < not < compare < + - < ~ < * / // % <
 * ** < unary < filters/tests/calls).
 *
 * The tree's depth is bounded (JINJA_MAX_PARSE_DEPTH): each nested block, bracket or
 * operand adds one, and so does each link of an operator, filter or elif chain,
 * since `1+1+...+1` is as deep a tree as `((((1))))`. With the stack check below,
 * neither parsing, evaluating nor freeing a tree can overflow the stack (a chat
 * template is parsed on HTTP worker threads with small stacks). Out of memory fails
 * the parse with a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/jinja_internal.h"

#define MAX_DEPTH JINJA_MAX_PARSE_DEPTH
/* Bytes of stack the parser may use below jinja_parse's frame: a backstop for builds
 * whose frames are larger than expected (sanitizers, -O0). */
#define MAX_STACK (64u << 10)

struct parser {
    struct tok *t;
    int n, i;
    int depth;
    struct err *e;
    int failed;
    uintptr_t stack_top;
};

struct node *node_new(enum node_type t, int line, int col) {
    struct node *n = jx_calloc(1, sizeof *n);
    if (!n) return NULL;
    n->type = t;
    n->line = line;
    n->col = col;
    return n;
}

int node_add(struct node *p, struct node *k) {
    if (p->n_kids == p->cap_kids) {
        int cap = p->cap_kids ? p->cap_kids * 2 : 4;
        struct node **nk = p->n_kids < (1 << 28) ? jx_realloc(p->kids, sizeof *p->kids * (size_t)cap) : NULL;
        if (!nk) { node_free(k); return -1; }
        p->kids = nk;
        p->cap_kids = cap;
    }
    p->kids[p->n_kids++] = k;
    return 0;
}

void node_free(struct node *n) {
    if (!n) return;
    jx_free(n->name);
    jv_unref(n->value);
    node_free(n->a); node_free(n->b); node_free(n->c);
    for (int i = 0; i < n->n_kids; i++) node_free(n->kids[i]);
    jx_free(n->kids);
    for (int i = 0; i < n->n_kw; i++) { jx_free(n->kw_names[i]); node_free(n->kw_vals[i]); }
    jx_free(n->kw_names); jx_free(n->kw_vals);
    node_free(n->body); node_free(n->else_body);
    for (int i = 0; i < n->n_targets; i++) {
        jx_free(n->targets[i]);
        if (n->defaults) node_free(n->defaults[i]);
    }
    jx_free(n->targets); jx_free(n->defaults);
    jx_free(n);
}

static char *sdup(const char *s) { return s ? jx_strndup(s, strlen(s)) : NULL; }

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

static void *fail_oom(struct parser *P) {
    if (!P->failed) {
        err_set(P->e, "template line %d col %d: out of memory", cur(P)->line, cur(P)->col);
        P->failed = 1;
    }
    return NULL;
}

/* One more level of tree depth; 0 (and the parse failed) when that is too deep. */
static int deeper(struct parser *P) {
    if (P->failed) return 0;
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    if (++P->depth > MAX_DEPTH) {
        struct tok *t = cur(P);
        err_set(P->e, "template line %d col %d: nested deeper than %d levels (blocks, brackets and operator chains together)",
                t->line, t->col, MAX_DEPTH);
        P->failed = 1;
        return 0;
    }
    if (P->stack_top > here && P->stack_top - here > MAX_STACK) {
        struct tok *t = cur(P);
        err_set(P->e, "template line %d col %d: nested deeper than the parser's stack allows (%u KiB)", t->line, t->col,
                MAX_STACK >> 10);
        P->failed = 1;
        return 0;
    }
    return 1;
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

static struct node *mk(struct parser *P, enum node_type t) {
    struct node *n = node_new(t, cur(P)->line, cur(P)->col);
    return n ? n : fail_oom(P);
}
static struct node *mk_at(struct parser *P, enum node_type t, int line, int col) {
    struct node *n = node_new(t, line, col);
    return n ? n : fail_oom(P);
}
/* Adds kid to n; 0 (kid freed, the parse failed) when out of memory. */
static int add_kid(struct parser *P, struct node *n, struct node *kid) {
    if (!node_add(n, kid)) return 1;
    fail_oom(P);
    return 0;
}
/* n->name = copy of s; 0 when out of memory. */
static int set_name(struct parser *P, struct node *n, const char *s) {
    if ((n->name = sdup(s))) return 1;
    fail_oom(P);
    return 0;
}

/* (a, b=c, ...) after the '(' was consumed: positional into n->kids, keywords into kw. */
static int parse_args(struct parser *P, struct node *n) {
    while (!is_op(P, ")")) {
        if (cur(P)->type == TK_NAME && next_tok(P)->type == TK_OP && !strcmp(next_tok(P)->s, "=")) {
            char *k = sdup(cur(P)->s);
            if (!k) { fail_oom(P); return 0; }
            P->i += 2;
            struct node *v = parse_expr(P);
            if (!v) { jx_free(k); return 0; }
            /* both arrays hold n_kw entries until both have grown */
            char **kn = jx_realloc(n->kw_names, sizeof(char *) * (size_t)(n->n_kw + 1));
            if (kn) n->kw_names = kn;
            struct node **kv = kn ? jx_realloc(n->kw_vals, sizeof(struct node *) * (size_t)(n->n_kw + 1)) : NULL;
            if (kv) n->kw_vals = kv;
            if (!kv) { jx_free(k); node_free(v); fail_oom(P); return 0; }
            n->kw_names[n->n_kw] = k;
            n->kw_vals[n->n_kw++] = v;
        } else {
            struct node *v = parse_expr(P);
            if (!v || !add_kid(P, n, v)) return 0;
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
    int links = 0; /* each .attr, [i], (args), |filter or test is one level deeper */
    struct node *r = NULL;
    for (;;) {
        if (P->failed) goto out;
        if (!is_op(P, ".") && !is_op(P, "[") && !is_op(P, "(") && !is_op(P, "|") && !is_name(P, "is")) { r = x; goto out; }
        if (!deeper(P)) goto out;
        links++;
        if (is_op(P, ".")) {
            struct node *n = mk(P, N_ATTR);
            if (!n) goto out;
            P->i++;
            n->a = x;
            x = n;
            if (cur(P)->type != TK_NAME && cur(P)->type != TK_INT) { fail(P, "an attribute name"); goto out; }
            if (cur(P)->type == TK_NAME) { if (!set_name(P, n, cur(P)->s)) goto out; }
            else {
                n->type = N_INDEX;
                if (!(n->b = mk_at(P, N_CONST, n->line, n->col))) goto out;
                n->b->value = jv_int(cur(P)->i);
            }
            P->i++;
        } else if (is_op(P, "[")) {
            struct node *n = mk(P, N_INDEX);
            if (!n) goto out;
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
            if (is_slice) {
                n->type = N_SLICE;
                n->b = parts[0];
                n->c = parts[1];
                if (!add_kid(P, n, parts[2])) goto out; /* the step, or NULL */
            } else n->b = parts[0];
            if (P->failed) goto out;
            if (!is_slice && !n->b) { fail(P, "an index"); goto out; }
            if (!expect_op(P, "]")) goto out;
        } else if (is_op(P, "(")) {
            struct node *n = mk_at(P, N_CALL, x->line, x->col); /* errors point at the callee */
            if (!n) goto out;
            P->i++;
            n->a = x;
            x = n;
            if (!parse_args(P, n)) goto out;
        } else if (is_op(P, "|")) {
            P->i++;
            if (cur(P)->type != TK_NAME) { fail(P, "a filter name"); goto out; }
            struct node *n = mk(P, N_FILTER);
            if (!n) goto out;
            n->a = x;
            x = n;
            if (!set_name(P, n, cur(P)->s)) goto out;
            P->i++;
            if (accept_op(P, "(") && !parse_args(P, n)) goto out;
        } else {
            struct node *n = mk(P, N_TEST);
            if (!n) goto out;
            P->i++;
            n->a = x;
            x = n;
            if (accept_name(P, "not")) n->negate = 1;
            if (cur(P)->type != TK_NAME) { fail(P, "a test name"); goto out; }
            if (!set_name(P, n, cur(P)->s)) goto out;
            P->i++;
            if (accept_op(P, "(")) {
                if (!parse_args(P, n)) goto out;
            } else if ((cur(P)->type == TK_NAME && !is_keyword(cur(P)->s)) || cur(P)->type == TK_STRING ||
                       cur(P)->type == TK_INT || cur(P)->type == TK_FLOAT || is_op(P, "[") || is_op(P, "{")) {
                struct node *arg = parse_primary(P); /* `x is divisibleby 3`, `x is sameas none` */
                if (!arg || !add_kid(P, n, arg)) goto out;
            }
        }
    }
out:
    P->depth -= links;
    if (!r) node_free(x);
    return r;
}

static struct node *parse_primary(struct parser *P) {
    struct tok *t = cur(P);
    struct node *n;
    if (P->failed) return NULL;
    if (t->type == TK_NAME) {
        if (!(n = mk(P, N_CONST))) return NULL;
        const char *s = t->s;
        if (!strcmp(s, "true") || !strcmp(s, "True")) n->value = jv_bool(1);
        else if (!strcmp(s, "false") || !strcmp(s, "False")) n->value = jv_bool(0);
        else if (!strcmp(s, "none") || !strcmp(s, "None")) n->value = jv_none();
        else { n->type = N_NAME; if (!set_name(P, n, s)) { node_free(n); return NULL; } }
        P->i++;
        return n;
    }
    if (t->type == TK_STRING) {
        if (!(n = mk(P, N_CONST))) return NULL;
        struct sb b = {0};
        while (cur(P)->type == TK_STRING) { sb_addn(&b, cur(P)->s, cur(P)->n); P->i++; } /* "a" "b" joins */
        n->value = jv_strn(b.s ? b.s : "", b.n);
        jx_free(b.s);
        return n;
    }
    if (t->type == TK_INT) { if (!(n = mk(P, N_CONST))) return NULL; n->value = jv_int(t->i); P->i++; return n; }
    if (t->type == TK_FLOAT) { if (!(n = mk(P, N_CONST))) return NULL; n->value = jv_float(t->f); P->i++; return n; }
    if (is_op(P, "(")) {
        if (!(n = mk(P, N_TUPLE))) return NULL;
        P->i++;
        int trailing_comma = 0;
        while (!is_op(P, ")")) {
            struct node *x = parse_expr(P);
            if (!x || !add_kid(P, n, x)) { node_free(n); return NULL; }
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
        if (!(n = mk(P, N_LIST))) return NULL;
        P->i++;
        while (!is_op(P, "]")) {
            struct node *x = parse_expr(P);
            if (!x || !add_kid(P, n, x)) { node_free(n); return NULL; }
            if (!accept_op(P, ",")) break;
        }
        if (!expect_op(P, "]")) { node_free(n); return NULL; }
        return n;
    }
    if (is_op(P, "{")) {
        if (!(n = mk(P, N_DICT))) return NULL;
        P->i++;
        while (!is_op(P, "}")) {
            struct node *k = parse_expr(P);
            if (!k || !add_kid(P, n, k)) { node_free(n); return NULL; }
            if (!expect_op(P, ":")) { node_free(n); return NULL; }
            struct node *v = parse_expr(P);
            if (!v || !add_kid(P, n, v)) { node_free(n); return NULL; }
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
        if (!n) return NULL;
        if (!set_name(P, n, cur(P)->s)) { node_free(n); return NULL; }
        P->i++;
        if (!deeper(P)) { node_free(n); return NULL; }
        n->a = parse_unary(P);
        P->depth--;
        if (!n->a) { node_free(n); return NULL; }
        return n;
    }
    struct node *x = parse_primary(P);
    return x ? parse_postfix(P, x) : NULL;
}

/* One left-associative binary level: ops is a NULL-terminated list. Each link of
 * a chain is one level deeper (the tree leans left). */
static struct node *binary_level(struct parser *P, struct node *(*sub)(struct parser *), const char *const *ops) {
    struct node *x = sub(P);
    int links = 0;
    while (x) {
        int k;
        for (k = 0; ops[k] && !is_op(P, ops[k]); k++) {}
        if (!ops[k]) break;
        if (!deeper(P)) { node_free(x); x = NULL; break; }
        links++;
        struct node *n = mk(P, N_BINARY);
        if (!n || !set_name(P, n, ops[k])) { node_free(n); node_free(x); x = NULL; break; }
        P->i++;
        n->a = x;
        n->b = sub(P);
        x = n;
        if (!n->b) { node_free(x); x = NULL; break; }
    }
    P->depth -= links;
    return x;
}

static struct node *parse_pow(struct parser *P) { static const char *const o[] = {"**", NULL}; return binary_level(P, parse_unary, o); }
static struct node *parse_math2(struct parser *P) { static const char *const o[] = {"*", "/", "//", "%", NULL}; return binary_level(P, parse_pow, o); }
static struct node *parse_concat(struct parser *P) { static const char *const o[] = {"~", NULL}; return binary_level(P, parse_math2, o); }
static struct node *parse_math1(struct parser *P) { static const char *const o[] = {"+", "-", NULL}; return binary_level(P, parse_concat, o); }

static struct node *parse_compare(struct parser *P) {
    static const char *const ops[] = {"==", "!=", "<", ">", "<=", ">=", NULL};
    struct node *x = parse_math1(P);
    int links = 0;
    while (x) {
        const char *op = NULL;
        int k;
        for (k = 0; ops[k] && !is_op(P, ops[k]); k++) {}
        if (ops[k]) op = ops[k];
        else if (is_name(P, "in")) op = "in";
        else if (is_name(P, "not") && next_tok(P)->type == TK_NAME && !strcmp(next_tok(P)->s, "in")) op = "not in";
        if (!op) break;
        if (!deeper(P)) { node_free(x); x = NULL; break; }
        links++;
        struct node *n = mk(P, N_BINARY);
        if (!n || !set_name(P, n, op)) { node_free(n); node_free(x); x = NULL; break; }
        P->i += op[0] == 'n' && op[1] == 'o' ? 2 : 1;
        n->a = x;
        n->b = parse_math1(P);
        x = n;
        if (!n->b) { node_free(x); x = NULL; break; }
    }
    P->depth -= links;
    return x;
}

static struct node *parse_not(struct parser *P) {
    if (is_name(P, "not")) {
        struct node *n = mk(P, N_NOT);
        if (!n) return NULL;
        P->i++;
        if (!deeper(P)) { node_free(n); return NULL; }
        n->a = parse_not(P);
        P->depth--;
        if (!n->a) { node_free(n); return NULL; }
        return n;
    }
    return parse_compare(P);
}

/* `and` / `or` chains (type N_AND or N_OR). */
static struct node *bool_chain(struct parser *P, struct node *(*sub)(struct parser *), const char *word, enum node_type type) {
    struct node *x = sub(P);
    int links = 0;
    while (x && is_name(P, word)) {
        if (!deeper(P)) { node_free(x); x = NULL; break; }
        links++;
        struct node *n = mk(P, type);
        if (!n) { node_free(x); x = NULL; break; }
        P->i++;
        n->a = x;
        n->b = sub(P);
        x = n;
        if (!n->b) { node_free(x); x = NULL; break; }
    }
    P->depth -= links;
    return x;
}
static struct node *parse_and(struct parser *P) { return bool_chain(P, parse_not, "and", N_AND); }
static struct node *parse_or(struct parser *P) { return bool_chain(P, parse_and, "or", N_OR); }

static struct node *parse_expr(struct parser *P) {
    if (!deeper(P)) return NULL;
    struct node *x = parse_or(P);
    int links = 0;
    while (x && is_name(P, "if")) {
        if (!deeper(P)) { node_free(x); x = NULL; break; }
        links++;
        struct node *n = mk(P, N_COND);
        if (!n) { node_free(x); x = NULL; break; }
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
    P->depth -= links + 1;
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

/* Appends a loop variable / set target / macro parameter; 0 when out of memory. */
static int add_target(struct parser *P, struct node *n, const char *name) {
    char *s = sdup(name);
    char **t = s ? jx_realloc(n->targets, sizeof(char *) * (size_t)(n->n_targets + 1)) : NULL;
    if (t) n->targets = t;
    struct node **d = t ? jx_realloc(n->defaults, sizeof(struct node *) * (size_t)(n->n_targets + 1)) : NULL;
    if (d) n->defaults = d;
    if (!d) { jx_free(s); fail_oom(P); return 0; } /* both arrays still hold n_targets entries */
    n->defaults[n->n_targets] = NULL;
    n->targets[n->n_targets++] = s;
    return 1;
}

static int at_tag(struct parser *P, const char *name) {
    return cur(P)->type == TK_BLOCK_BEGIN && next_tok(P)->type == TK_NAME && !strcmp(next_tok(P)->s, name);
}

/* {% if %} ... ; an {% elif %} is an if nested in the else branch, one level deeper. */
static struct node *parse_if(struct parser *P, int line, int col) {
    static const char *const stop[] = {"elif", "else", "endif", NULL};
    struct node *n = mk_at(P, N_IF, line, col);
    if (!n) return NULL;
    if (!(n->a = parse_expr(P)) || !expect_block_end(P) || !(n->body = parse_body(P, stop))) { node_free(n); return NULL; }
    if (at_tag(P, "elif")) {
        struct tok *t = next_tok(P);
        P->i += 2;
        if (!deeper(P)) { node_free(n); return NULL; }
        n->else_body = parse_if(P, t->line, t->col); /* consumes the endif */
        P->depth--;
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
    if (P->failed) return NULL;
    if (t->type == TK_TEXT) {
        struct node *n = mk(P, N_TEXT);
        if (!n) return NULL;
        n->value = jv_strn(t->s, t->n);
        P->i++;
        return n;
    }
    if (t->type == TK_VAR_BEGIN) {
        struct node *n = mk(P, N_OUTPUT);
        if (!n) return NULL;
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
        struct node *n = mk_at(P, N_FOR, line, col);
        if (!n) return NULL;
        do {
            if (cur(P)->type != TK_NAME) { node_free(n); return fail(P, "a loop variable"); }
            if (!add_target(P, n, cur(P)->s)) { node_free(n); return NULL; }
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
        struct node *n = mk_at(P, N_SET, line, col);
        if (!n) return NULL;
        if (cur(P)->type != TK_NAME) { node_free(n); return fail(P, "a variable name"); }
        if (!add_target(P, n, cur(P)->s)) { node_free(n); return NULL; }
        P->i++;
        if (accept_op(P, ".")) {
            if (cur(P)->type != TK_NAME) { node_free(n); return fail(P, "an attribute name"); }
            if (!set_name(P, n, cur(P)->s)) { node_free(n); return NULL; }
            P->i++;
        }
        while (accept_op(P, ",")) {
            if (cur(P)->type != TK_NAME) { node_free(n); return fail(P, "a variable name"); }
            if (!add_target(P, n, cur(P)->s)) { node_free(n); return NULL; }
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
            struct node *tup = mk_at(P, N_TUPLE, n->a->line, n->a->col);
            if (!tup) { node_free(n); return NULL; }
            struct node *first = n->a;
            n->a = tup;
            if (!add_kid(P, tup, first)) { node_free(n); return NULL; }
            while (accept_op(P, ",")) {
                struct node *x = parse_expr(P);
                if (!x || !add_kid(P, tup, x)) { node_free(n); return NULL; }
            }
        }
        if (!expect_block_end(P)) { node_free(n); return NULL; }
        return n;
    }
    if (!strcmp(k, "macro")) {
        static const char *const stop[] = {"endmacro", NULL};
        struct node *n = mk_at(P, N_MACRO, line, col);
        if (!n) return NULL;
        if (cur(P)->type != TK_NAME) { node_free(n); return fail(P, "a macro name"); }
        if (!set_name(P, n, cur(P)->s)) { node_free(n); return NULL; }
        P->i++;
        if (!expect_op(P, "(")) { node_free(n); return NULL; }
        while (cur(P)->type == TK_NAME) {
            if (!add_target(P, n, cur(P)->s)) { node_free(n); return NULL; }
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
        struct node *n = mk_at(P, N_CALL_BLOCK, line, col);
        if (!n) return NULL;
        if (accept_op(P, "(")) { /* caller's own parameters */
            while (cur(P)->type == TK_NAME) {
                if (!add_target(P, n, cur(P)->s)) { node_free(n); return NULL; }
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
        struct node *n = mk_at(P, N_FILTER_BLOCK, line, col);
        if (!n) return NULL;
        if (cur(P)->type != TK_NAME) { node_free(n); return fail(P, "a filter name"); }
        if (!set_name(P, n, cur(P)->s)) { node_free(n); return NULL; }
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
        struct node *n = mk_at(P, k[0] == 'b' ? N_BREAK : N_CONTINUE, line, col);
        if (!n) return NULL;
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
    if (!deeper(P)) return NULL;
    struct node *body = mk(P, N_BODY);
    if (!body) { P->depth--; return NULL; }
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
                P->depth--;
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
        if (!s || !add_kid(P, body, s)) { node_free(body); P->depth--; return NULL; }
    }
    P->depth--;
    return body;
}

struct jinja_template *jinja_parse(const char *src, struct err *e) {
    struct tok *toks;
    int n;
    if (!src) { err_set(e, "no template"); return NULL; }
    if (jinja_lex(src, &toks, &n, e)) return NULL;
    unsigned long mark = jx_fault_mark();
    struct parser P = {.t = toks, .n = n, .e = e, .stack_top = (uintptr_t)__builtin_frame_address(0)};
    struct node *root = parse_body(&P, NULL);
    jinja_toks_free(toks, n);
    struct jinja_template *t = root ? jx_calloc(1, sizeof *t) : NULL;
    if (root && (!t || jx_faulted(mark))) { /* a constant or text node came out empty */
        node_free(root);
        jx_free(t);
        err_set(e, "out of memory parsing the template");
        return NULL;
    }
    if (!t) return NULL;
    t->root = root;
    return t;
}

void jinja_free(struct jinja_template *t) {
    if (!t) return;
    node_free(t->root);
    jx_free(t);
}
