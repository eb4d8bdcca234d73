/* Shared between the Jinja lexer, parser, evaluator and built-ins: the syntax
 * tree, a growable string buffer and the Python-like value semantics. Not a
 * public header: the rest of omni uses text/jinja.h. */
#ifndef OMNI_TEXT_JINJA_INTERNAL_H
#define OMNI_TEXT_JINJA_INTERNAL_H
#include "text/jinja.h"

/* ---- string buffer ---- */
struct sb {
    char *s;
    size_t n, cap;
    size_t limit; /* 0 = unlimited; otherwise appends past it set `over` */
    int over;
};
void sb_addn(struct sb *b, const char *s, size_t n);
void sb_add(struct sb *b, const char *s);
void sb_addc(struct sb *b, char c);
void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- value semantics (jinja_value.c) ---- */
int jv_truthy(const struct jv *v);
int jv_equal(const struct jv *a, const struct jv *b);
/* Ordering for <, >, sort: sets *ok = 0 when the types cannot be ordered. */
int jv_compare(const struct jv *a, const struct jv *b, int *ok);
/* Python str(): how {{ v }} prints (None, True, 1.0, ['a', 1], {'k': 'v'}). */
void jv_to_str(const struct jv *v, struct sb *b);
/* json.dumps(v, ensure_ascii=False, indent=indent) as HF's tojson does; indent < 0 = none. */
void jv_to_json(const struct jv *v, int indent, struct sb *b);
const char *jv_type_name(enum jv_type t);
struct jv *jv_list_copy(const struct jv *l);

/* ---- lexer / parser (jinja_lex.c, jinja_parse.c) ---- */
enum tok_type { TK_TEXT, TK_VAR_BEGIN, TK_VAR_END, TK_BLOCK_BEGIN, TK_BLOCK_END,
                TK_NAME, TK_STRING, TK_INT, TK_FLOAT, TK_OP, TK_EOF };
struct tok {
    enum tok_type type;
    int line, col;
    char *s;        /* text, name, decoded string literal or operator */
    size_t n;
    long long i;
    double f;
};
int jinja_lex(const char *src, struct tok **toks, int *n_toks, struct err *e);
void jinja_toks_free(struct tok *t, int n);

enum node_type {
    /* statements */
    N_TEXT, N_OUTPUT, N_IF, N_FOR, N_SET, N_SET_BLOCK, N_MACRO, N_CALL_BLOCK, N_FILTER_BLOCK,
    N_BREAK, N_CONTINUE, N_BODY,
    /* expressions */
    N_CONST, N_NAME, N_ATTR, N_INDEX, N_SLICE, N_CALL, N_FILTER, N_TEST, N_UNARY, N_BINARY,
    N_AND, N_OR, N_NOT, N_COND, N_LIST, N_DICT, N_TUPLE
};

struct node {
    enum node_type type;
    int line, col;
    char *name;           /* variable, attribute, filter, test, macro or operator name */
    struct jv *value;     /* N_CONST */
    struct node *a, *b, *c; /* operands / condition / iterable / slice parts */
    struct node **kids;   /* body statements, call args, list items, dict k,v pairs */
    int n_kids, cap_kids;
    char **kw_names;      /* keyword args of a call/filter, parallel to kw_vals */
    struct node **kw_vals;
    int n_kw;
    struct node *body, *else_body; /* N_IF/N_FOR/N_MACRO/N_SET_BLOCK/N_CALL_BLOCK */
    char **targets;       /* N_FOR loop variables, N_SET names, N_MACRO params */
    int n_targets;
    struct node **defaults; /* N_MACRO parameter defaults (NULL entries = none) */
    int negate;           /* N_TEST "is not" */
};
struct node *node_new(enum node_type t, int line, int col);
void node_add(struct node *parent, struct node *kid);
void node_free(struct node *n);

struct jinja_template {
    struct node *root;
};

/* ---- built-ins (jinja_builtins.c) ---- */
struct jv_args {
    struct jv **pos;
    int n_pos;
    char **kw_names;
    struct jv **kw;
    int n_kw;
};
/* Looks up a keyword argument, or positional index i; NULL if absent (borrowed). */
struct jv *jv_arg(const struct jv_args *a, int i, const char *kw);

struct jinja_state;
/* Each returns a new reference, or NULL after writing e. */
struct jv *jinja_filter(struct jinja_state *st, const char *name, struct jv *v, const struct jv_args *a, struct err *e);
/* Returns 0/1, or -1 after writing e. */
int jinja_test(const char *name, struct jv *v, const struct jv_args *a, struct err *e);
/* Methods on str/list/dict ("strip", "items", "append", ...). *found = 0 when the
 * object has no such method. */
struct jv *jinja_method(struct jv *obj, const char *name, const struct jv_args *a, int *found, struct err *e);
/* Used by filters that apply a test or attribute to items (select, map). */
struct jv *jinja_getattr(struct jv *obj, const char *name);

#endif
