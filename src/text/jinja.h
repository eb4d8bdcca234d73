/* A small Jinja2 interpreter for chat templates: the subset HF's
 * apply_chat_template uses (trim_blocks and lstrip_blocks on), with Python-like
 * values. Parse once, render many times; errors carry the template line/column. */
#ifndef OMNI_TEXT_JINJA_H
#define OMNI_TEXT_JINJA_H
#include <stddef.h>

#include "core/error.h"

enum jv_type { JV_UNDEF, JV_NONE, JV_BOOL, JV_INT, JV_FLOAT, JV_STR, JV_LIST, JV_DICT, JV_FUNC, JV_MACRO };

/* A reference-counted value. Lists and dicts are mutable (list.append,
 * namespace attributes); everything else is immutable. Dicts keep insertion order.
 *
 * Out of memory: the constructors never return NULL and never abort. When an
 * allocation fails they return a shared empty value (an empty string, list or dict
 * that refuses to grow) and count the failure for the calling thread; see
 * jv_alloc_failures. jinja_parse and jinja_render check that count themselves and
 * fail with "out of memory"; code that builds a context for them compares it before
 * and after. */
struct jv {
    enum jv_type type;
    int refs; /* < 0: a static value that is never freed */
    struct jv *next_dead; /* jv_unref's work list, so freeing deep values needs no recursion */
    union {
        int b;
        long long i;
        double f;
        struct { char *s; size_t n; } str;
        struct { struct jv **v; int n, cap; } list;
        struct { char **k; struct jv **v; int n, cap; int is_ns; } dict;
        struct { int id; } func;            /* a built-in global (jinja_eval.c) */
        struct { const void *node; } macro; /* a {% macro %} definition */
    } u;
};

struct jv *jv_undef(void);
struct jv *jv_none(void);
struct jv *jv_bool(int b);
struct jv *jv_int(long long i);
struct jv *jv_float(double f);
struct jv *jv_str(const char *s);              /* copies; NULL gives none */
struct jv *jv_strn(const char *s, size_t n);   /* copies n bytes */
struct jv *jv_list(void);
struct jv *jv_dict(void);
struct jv *jv_ref(struct jv *v);
void jv_unref(struct jv *v);

/* The container takes over the caller's reference to v (no jv_ref needed); when it
 * cannot grow (out of memory) it releases v at once, so fill v before handing it over. */
void jv_list_push(struct jv *list, struct jv *v);
void jv_dict_set(struct jv *dict, const char *key, struct jv *v);
/* Borrowed; NULL if missing. */
struct jv *jv_dict_get(const struct jv *dict, const char *key);

/* Parses JSON text into a value (objects keep their key order). NULL + e on bad JSON,
 * JSON nested deeper than JV_MAX_NESTING or out of memory. */
struct jv *jv_from_json(const char *json, struct err *e);

/* Lists and dicts nested deeper than this cannot be printed, compared or turned into
 * JSON (the render fails), so no value walk can overflow the stack. */
#define JV_MAX_NESTING 128

/* How many allocations of values and templates have failed on this thread so far. */
unsigned long jv_alloc_failures(void);

struct jinja_template;

/* Parses a template. Nesting deeper than JINJA_MAX_PARSE_DEPTH (blocks, brackets,
 * operator chains and elif chains together; real chat templates reach about 20) is
 * refused, so neither the parser nor the evaluator can overflow the stack on a
 * hostile template: both also stop before using 64 KiB of stack, which fits the
 * 100 KiB stacks of the HTTP worker threads templates are rendered on. */
#define JINJA_MAX_PARSE_DEPTH 64
struct jinja_template *jinja_parse(const char *src, struct err *e);
void jinja_free(struct jinja_template *t);

/* What one render may spend. A template comes with a model file, so it is outside
 * input: a hostile one must fail with a message naming the limit, never hang the
 * server or exhaust its memory or stack. */
struct jinja_limits {
    long max_steps;      /* expressions and statements evaluated, per-item work in built-ins,
                            and one per 256 bytes allocated */
    long max_iterations; /* loop iterations in total (and the length of a range()) */
    int max_calls;       /* macro calls nested */
    int max_nesting;     /* expressions, statements and calls nested at run time */
    size_t max_output;   /* bytes of output; also the longest string the template may build */
    size_t max_memory;   /* bytes the render holds at once */
};
/* 10M steps (a second or less), 500k iterations, 64 nested macro calls, nesting 200,
 * 16 MiB of output, 128 MiB of memory. Real chat templates with a short conversation
 * and tools use under 1000 steps, 10 iterations, 1 macro call, nesting 15 and 5 KB. */
extern const struct jinja_limits jinja_default_limits;

/* What a render used, for tests and tuning. */
struct jinja_usage {
    long steps, iterations;
    int max_calls, max_nesting;
    size_t memory; /* the most bytes held at once */
};

/* Renders with ctx (a dict of global variables; borrowed) under jinja_default_limits.
 * *out is malloc'ed. Fails on raise_exception(), unknown filters/tests, a limit
 * exceeded ("exceeded 10000000 evaluation steps") or out of memory. */
int jinja_render(const struct jinja_template *t, struct jv *ctx, char **out, struct err *e);
/* The same with explicit limits (NULL = defaults); usage may be NULL. */
int jinja_render_limited(const struct jinja_template *t, struct jv *ctx, const struct jinja_limits *limits,
                         char **out, struct jinja_usage *usage, struct err *e);

#endif
