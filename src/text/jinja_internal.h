/* Shared between the Jinja lexer, parser, evaluator and built-ins: the syntax
 * tree, a growable string buffer and the Python-like value semantics. Not a
 * public header: the rest of omni uses text/jinja.h. */
#ifndef OMNI_TEXT_JINJA_INTERNAL_H
#define OMNI_TEXT_JINJA_INTERNAL_H
#include "text/jinja.h"

/* ---- memory, faults and budgets (jinja_value.c) ----
 * Every allocation of the lexer, parser, evaluator and values goes through jx_realloc.
 * A failure (the system is out of memory, or the running render spent its memory
 * budget) returns NULL and records a fault for the calling thread; the code that
 * asked carries on with an empty result (an empty value, nothing appended), and the
 * lexer, parser and evaluator turn the fault into an error at their next step. So
 * out-of-memory paths need no unwinding of their own, and nothing aborts. */
enum jx_fault { JX_OK, JX_OOM, JX_MEMORY, JX_STRING, JX_STEPS, JX_NESTING };
void *jx_realloc(void *p, size_t n);
void *jx_calloc(size_t n, size_t size);
char *jx_strndup(const char *s, size_t n);
/* Frees what jx_realloc gave (never pass such memory to free()). */
void jx_free(void *p);

/* Records a fault (the first one since jx_fault_mark is what jx_fault_message says). */
void jx_fault(enum jx_fault f);
/* Starts watching for faults; returns the mark to pass to jx_faulted. */
unsigned long jx_fault_mark(void);
int jx_faulted(unsigned long mark);
/* "out of memory", "exceeded 10000000 evaluation steps", ... for the first fault since the mark. */
void jx_fault_message(char *buf, size_t cap);

/* Budgets of the render running on this thread (none outside a render). */
struct jx_budget {
    int active;
    long steps, max_steps;
    size_t bytes, max_bytes, max_string; /* bytes: held now */
    size_t peak;                         /* the most bytes held at once */
};
void jx_budget_begin(const struct jx_budget *b, struct jx_budget *saved);
void jx_budget_end(const struct jx_budget *saved, struct jx_budget *used);
/* Charges n steps of work; returns nonzero once the step budget is spent. */
int jx_charge(long n);
/* Tests: make the allocation after the next n fail (n < 0: never). */
void jx_fail_allocation_after(long n);

/* ---- string buffer ---- */
struct sb {
    char *s;
    size_t n, cap;
    size_t limit; /* 0 = unlimited; otherwise appends past it set `over` */
    int over;     /* also set when memory ran out or the render's string limit was hit */
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
/* A string value that takes over s (a jx block of n + 1 bytes, NUL-terminated). */
struct jv *jv_str_own(char *s, size_t n);
/* A built-in function or a macro (jinja_eval.c). */
struct jv *jv_func(int id);
struct jv *jv_macro(const void *node);
/* Nonzero when putting v into container c would create a cycle or nest deeper than
 * JV_MAX_NESTING (list.append, namespace attributes). */
int jv_would_nest_badly(const struct jv *c, const struct jv *v);

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
/* NULL when out of memory (a fault is recorded). */
struct node *node_new(enum node_type t, int line, int col);
/* Returns -1 (and frees kid) when out of memory. */
int node_add(struct node *parent, struct node *kid);
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
/* Built-ins that call back into built-ins (map('map', ...)) count as nesting:
 * -1 (message in the render's err) when that is too deep. */
int jinja_nesting_enter(struct jinja_state *st);
void jinja_nesting_leave(struct jinja_state *st);
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
