/* A small Jinja2 interpreter for chat templates: the subset HF's
 * apply_chat_template uses (trim_blocks and lstrip_blocks on), with Python-like
 * values. Parse once, render many times; errors carry the template line/column. */
#ifndef OMNI_TEXT_JINJA_H
#define OMNI_TEXT_JINJA_H
#include <stddef.h>

#include "core/error.h"

enum jv_type { JV_UNDEF, JV_NONE, JV_BOOL, JV_INT, JV_FLOAT, JV_STR, JV_LIST, JV_DICT, JV_FUNC, JV_MACRO };

/* A reference-counted value. Lists and dicts are mutable (list.append,
 * namespace attributes); everything else is immutable. Dicts keep insertion order. */
struct jv {
    enum jv_type type;
    int refs; /* < 0: a static value that is never freed */
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

/* The container takes over the caller's reference to v (no jv_ref needed). */
void jv_list_push(struct jv *list, struct jv *v);
void jv_dict_set(struct jv *dict, const char *key, struct jv *v);
/* Borrowed; NULL if missing. */
struct jv *jv_dict_get(const struct jv *dict, const char *key);

/* Parses JSON text into a value (objects keep their key order). NULL + e on bad JSON. */
struct jv *jv_from_json(const char *json, struct err *e);

struct jinja_template;

struct jinja_template *jinja_parse(const char *src, struct err *e);
void jinja_free(struct jinja_template *t);

/* Renders with ctx (a dict of global variables; borrowed). *out is malloc'ed.
 * Fails on raise_exception(), unknown filters/tests, recursion deeper than 64,
 * more than 1e6 loop iterations or more than 16 MiB of output. */
int jinja_render(const struct jinja_template *t, struct jv *ctx, char **out, struct err *e);

#endif
