/* Jinja evaluator: walks the syntax tree with a chain of variable frames,
 * writing into one output buffer. Guards against hostile templates (struct
 * jinja_limits): every expression and statement is a step, and so is the per-item
 * work of built-ins; loop iterations, macro call depth, run-time nesting, the
 * stack, output size and memory are all bounded, and integer arithmetic that would
 * overflow is an error, as is any fault (out of memory) recorded meanwhile. */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "text/jinja_internal.h"

const struct jinja_limits jinja_default_limits = {
    .max_steps = 10000000L,
    .max_iterations = 500000L,
    .max_calls = 64,
    .max_nesting = 200,
    .max_output = 16u << 20,
    .max_memory = 128u << 20,
};

/* Bytes of stack the evaluator may use below jinja_render's frame: a backstop for
 * builds whose frames are larger than the nesting limit assumes (sanitizers, -O0). */
#define MAX_STACK (64u << 10)

enum { FN_RAISE = 1, FN_STRFTIME, FN_NAMESPACE, FN_RANGE, FN_DICT, FN_CALLER };

struct frame {
    char **names;
    struct jv **vals;
    int n, cap;
    struct frame *parent;
};

struct caller {
    const struct node *body;
    struct frame *frame;
};

struct jinja_state {
    struct sb out;
    struct frame *root;
    const struct jinja_limits *lim;
    int calls;   /* macro calls nested now */
    int nest;    /* eval/exec calls nested now */
    long iters;
    struct err *e;
    int ctl; /* 1 = break, 2 = continue pending */
    struct caller *caller; /* the {% call %} body a running macro may render */
    unsigned long mark;    /* faults before the render began */
    uintptr_t stack_top;
    int max_calls_seen, max_nest_seen;
};

/* An error at n. When a fault (out of memory, a budget spent) happened during the
 * render, that is what the error says: whatever failed next is only its symptom. */
static int rt_err(struct jinja_state *st, const struct node *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int rt_err(struct jinja_state *st, const struct node *n, const char *fmt, ...) {
    char msg[400];
    if (jx_faulted(st->mark)) {
        jx_fault_message(msg, sizeof msg);
    } else {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
    }
    return err_set(st->e, "template line %d col %d: %s", n->line, n->col, msg);
}

/* Binds name in f (taking over v's reference); out of memory drops v (a fault is recorded). */
static void frame_set(struct frame *f, const char *name, struct jv *v) {
    jx_charge(1 + f->n / 16);
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->names[i], name)) { jv_unref(f->vals[i]); f->vals[i] = v; return; }
    if (f->n == f->cap) {
        int cap = f->cap ? f->cap * 2 : 8;
        char **nn = f->n < (1 << 28) ? jx_realloc(f->names, sizeof(char *) * (size_t)cap) : NULL;
        if (nn) f->names = nn;
        struct jv **nv = nn ? jx_realloc(f->vals, sizeof(struct jv *) * (size_t)cap) : NULL;
        if (!nv) { jv_unref(v); return; } /* both arrays still hold f->n entries */
        f->vals = nv;
        f->cap = cap;
    }
    char *k = jx_strndup(name, strlen(name));
    if (!k) { jv_unref(v); return; }
    f->names[f->n] = k;
    f->vals[f->n++] = v;
}

static void frame_clear(struct frame *f) {
    for (int i = 0; i < f->n; i++) { jx_free(f->names[i]); jv_unref(f->vals[i]); }
    jx_free(f->names);
    jx_free(f->vals);
}

static struct jv *func(int id) { return jv_func(id); }

static struct jv *lookup(struct frame *f, const char *name) {
    for (; f; f = f->parent)
        for (int i = f->n - 1; i >= 0; i--)
            if (!strcmp(f->names[i], name)) return jv_ref(f->vals[i]);
    static const struct { const char *name; int id; } builtins[] = {
        {"raise_exception", FN_RAISE}, {"strftime_now", FN_STRFTIME}, {"namespace", FN_NAMESPACE},
        {"range", FN_RANGE}, {"dict", FN_DICT}, {NULL, 0}};
    for (int i = 0; builtins[i].name; i++)
        if (!strcmp(builtins[i].name, name)) return func(builtins[i].id);
    return jv_undef();
}

static struct jv *eval(struct jinja_state *st, struct frame *f, const struct node *n);
static int exec_body(struct jinja_state *st, struct frame *f, const struct node *body);

/* Every eval and statement passes here: one step, a check for faults, and one level
 * of run-time nesting (undone by leave). Returns -1 after writing the error. */
static int enter(struct jinja_state *st, const struct node *n) {
    if (jx_charge(1) || jx_faulted(st->mark)) return rt_err(st, n, "out of memory");
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    if (st->nest >= st->lim->max_nesting)
        return rt_err(st, n, "nested deeper than %d levels at run time (expressions, blocks and macro calls together)",
                      st->lim->max_nesting);
    if (st->stack_top > here && st->stack_top - here > MAX_STACK)
        return rt_err(st, n, "nested deeper than the evaluator's stack allows (%u KiB)", MAX_STACK >> 10);
    if (++st->nest > st->max_nest_seen) st->max_nest_seen = st->nest;
    return 0;
}
static void leave(struct jinja_state *st) { st->nest--; }

int jinja_nesting_enter(struct jinja_state *st) {
    uintptr_t here = (uintptr_t)__builtin_frame_address(0);
    if (jx_charge(1)) return err_set(st->e, "exceeded %ld evaluation steps", st->lim->max_steps);
    if (st->nest >= st->lim->max_nesting)
        return err_set(st->e, "nested deeper than %d levels at run time (expressions, blocks and macro calls together)",
                       st->lim->max_nesting);
    if (st->stack_top > here && st->stack_top - here > MAX_STACK)
        return err_set(st->e, "nested deeper than the evaluator's stack allows (%u KiB)", MAX_STACK >> 10);
    if (++st->nest > st->max_nest_seen) st->max_nest_seen = st->nest;
    return 0;
}
void jinja_nesting_leave(struct jinja_state *st) { st->nest--; }

/* A filter, test or method failed with its own message in st->e: add where. */
static int builtin_failed(struct jinja_state *st, const struct node *n) {
    if (jx_faulted(st->mark)) return rt_err(st, n, "out of memory");
    return err_prefix(st->e, "template line %d col %d: ", n->line, n->col);
}

/* A captured block's output (macro body, {% set %} block, {% filter %}, caller()). */
static void capture_begin(struct jinja_state *st, struct sb *saved) {
    *saved = st->out;
    memset(&st->out, 0, sizeof st->out);
    st->out.limit = st->lim->max_output;
}
/* Ends the capture: the captured text as a string, or NULL (error written) when it
 * ran over the output limit or memory ran out. */
static struct jv *capture_end(struct jinja_state *st, struct sb *saved, const struct node *at) {
    struct sb mine = st->out;
    st->out = *saved;
    if (mine.over) { jx_free(mine.s); rt_err(st, at, "output larger than %zu bytes", st->lim->max_output); return NULL; }
    struct jv *r = jv_strn(mine.s ? mine.s : "", mine.n);
    jx_free(mine.s);
    return r;
}

static void args_free(struct jv_args *a) {
    for (int i = 0; i < a->n_pos; i++) jv_unref(a->pos[i]);
    for (int i = 0; i < a->n_kw; i++) jv_unref(a->kw[i]);
    jx_free(a->pos);
    jx_free(a->kw);
}

/* Evaluates n's kids and keywords (from index `from`) into a. */
static int eval_args(struct jinja_state *st, struct frame *f, const struct node *n, int from, struct jv_args *a) {
    memset(a, 0, sizeof *a);
    int np = n->n_kids - from;
    a->pos = jx_calloc((size_t)(np > 0 ? np : 1), sizeof *a->pos);
    a->kw = jx_calloc((size_t)(n->n_kw ? n->n_kw : 1), sizeof *a->kw);
    if (!a->pos || !a->kw) { args_free(a); return rt_err(st, n, "out of memory"); }
    a->kw_names = n->kw_names;
    for (int i = from; i < n->n_kids; i++) {
        if (!(a->pos[a->n_pos] = eval(st, f, n->kids[i]))) { args_free(a); return -1; }
        a->n_pos++;
    }
    for (int i = 0; i < n->n_kw; i++) {
        if (!(a->kw[a->n_kw] = eval(st, f, n->kw_vals[i]))) { args_free(a); return -1; }
        a->n_kw++;
    }
    return 0;
}

struct jv *jv_arg(const struct jv_args *a, int i, const char *kw) {
    if (kw)
        for (int k = 0; k < a->n_kw; k++)
            if (!strcmp(a->kw_names[k], kw)) return a->kw[k];
    return i >= 0 && i < a->n_pos ? a->pos[i] : NULL;
}

static struct jv *call_macro(struct jinja_state *st, const struct node *m, const struct jv_args *a,
                             struct caller *caller, const struct node *at) {
    if (st->calls >= st->lim->max_calls) { rt_err(st, at, "macro calls nested deeper than %d", st->lim->max_calls); return NULL; }
    struct frame fr = {.parent = st->root};
    for (int i = 0; i < m->n_targets; i++) {
        struct jv *v = jv_arg(a, i, m->targets[i]);
        if (v) v = jv_ref(v);
        else if (m->defaults[i] && !(v = eval(st, &fr, m->defaults[i]))) { frame_clear(&fr); return NULL; }
        else if (!v) v = jv_undef();
        frame_set(&fr, m->targets[i], v);
    }
    if (caller) frame_set(&fr, "caller", func(FN_CALLER));
    struct sb saved;
    struct caller *saved_caller = st->caller;
    capture_begin(st, &saved);
    st->caller = caller;
    if (++st->calls > st->max_calls_seen) st->max_calls_seen = st->calls;
    int rc = exec_body(st, &fr, m->body);
    st->calls--;
    st->caller = saved_caller;
    frame_clear(&fr);
    if (rc) { jx_free(st->out.s); st->out = saved; return NULL; }
    return capture_end(st, &saved, at);
}

static struct jv *call_builtin(struct jinja_state *st, int id, const struct jv_args *a, const struct node *at) {
    switch (id) {
    case FN_RAISE: {
        struct jv *m = jv_arg(a, 0, NULL);
        struct sb b = {0};
        if (m) jv_to_str(m, &b);
        rt_err(st, at, "template raised an exception: %s", b.s ? b.s : "");
        jx_free(b.s);
        return NULL;
    }
    case FN_STRFTIME: {
        struct jv *fmt = jv_arg(a, 0, NULL);
        if (!fmt || fmt->type != JV_STR) { rt_err(st, at, "strftime_now() expects a format string"); return NULL; }
        char buf[256];
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        size_t n = strftime(buf, sizeof buf, fmt->u.str.s, &tm);
        return jv_strn(buf, n);
    }
    case FN_NAMESPACE: case FN_DICT: {
        struct jv *d = jv_dict();
        d->u.dict.is_ns = id == FN_NAMESPACE;
        struct jv *init = jv_arg(a, 0, NULL);
        if (init && init->type == JV_DICT)
            for (int i = 0; i < init->u.dict.n; i++) jv_dict_set(d, init->u.dict.k[i], jv_ref(init->u.dict.v[i]));
        for (int i = 0; i < a->n_kw; i++) jv_dict_set(d, a->kw_names[i], jv_ref(a->kw[i]));
        return d;
    }
    case FN_RANGE: {
        long long v[3] = {0, 0, 1};
        if (a->n_pos < 1 || a->n_pos > 3) { rt_err(st, at, "range() expects 1 to 3 integers"); return NULL; }
        for (int i = 0; i < a->n_pos; i++) {
            if (a->pos[i]->type != JV_INT) { rt_err(st, at, "range() expects integers"); return NULL; }
            v[a->n_pos == 1 ? 1 : i] = a->pos[i]->u.i;
        }
        if (v[2] == 0) { rt_err(st, at, "range() step must not be zero"); return NULL; }
        /* the length first, in unsigned arithmetic (no overflow), so a huge range fails at once */
        unsigned long long ustep = v[2] > 0 ? (unsigned long long)v[2] : 0ull - (unsigned long long)v[2], count = 0;
        if (v[2] > 0 && v[0] < v[1]) count = ((unsigned long long)v[1] - (unsigned long long)v[0] - 1) / ustep + 1;
        if (v[2] < 0 && v[0] > v[1]) count = ((unsigned long long)v[0] - (unsigned long long)v[1] - 1) / ustep + 1;
        if (count > (unsigned long long)st->lim->max_iterations) {
            rt_err(st, at, "range() of %llu items is longer than the loop limit of %ld", count, st->lim->max_iterations);
            return NULL;
        }
        struct jv *l = jv_list();
        unsigned long long x = (unsigned long long)v[0];
        for (unsigned long long k = 0; k < count; k++, x += (unsigned long long)v[2]) jv_list_push(l, jv_int((long long)x));
        return l;
    }
    case FN_CALLER: {
        struct caller *c = st->caller;
        if (!c) { rt_err(st, at, "caller() used outside a {%% call %%} block"); return NULL; }
        struct sb saved;
        capture_begin(st, &saved);
        struct frame fr = {.parent = c->frame};
        struct caller *saved_caller = st->caller;
        st->caller = NULL;
        int rc = exec_body(st, &fr, c->body);
        st->caller = saved_caller;
        frame_clear(&fr);
        if (rc) { jx_free(st->out.s); st->out = saved; return NULL; }
        return capture_end(st, &saved, at);
    }
    }
    rt_err(st, at, "unknown built-in");
    return NULL;
}

static struct jv *eval_call(struct jinja_state *st, struct frame *f, const struct node *n, struct caller *caller) {
    struct jv_args a;
    struct jv *r = NULL;
    if (n->a->type == N_ATTR) { /* obj.method(...) */
        struct jv *obj = eval(st, f, n->a->a);
        if (!obj) return NULL;
        if (eval_args(st, f, n, 0, &a)) { jv_unref(obj); return NULL; }
        int found = 0;
        r = jinja_method(obj, n->a->name, &a, &found, st->e);
        if (found) {
            if (!r) builtin_failed(st, n);
            jv_unref(obj);
            args_free(&a);
            return r;
        }
        struct jv *fn = jinja_getattr(obj, n->a->name);
        jv_unref(obj);
        if (fn->type == JV_MACRO) r = call_macro(st, fn->u.macro.node, &a, caller, n);
        else if (fn->type == JV_FUNC) r = call_builtin(st, fn->u.func.id, &a, n);
        else rt_err(st, n, "'%s' is not a method of this %s", n->a->name, jv_type_name(fn->type));
        jv_unref(fn);
        args_free(&a);
        return r;
    }
    struct jv *fn = eval(st, f, n->a);
    if (!fn) return NULL;
    if (eval_args(st, f, n, 0, &a)) { jv_unref(fn); return NULL; }
    if (fn->type == JV_MACRO) r = call_macro(st, fn->u.macro.node, &a, caller, n);
    else if (fn->type == JV_FUNC) r = call_builtin(st, fn->u.func.id, &a, n);
    else if (n->a->type == N_NAME) rt_err(st, n, "'%s' is %s, not a function", n->a->name, fn->type == JV_UNDEF ? "undefined" : jv_type_name(fn->type));
    else rt_err(st, n, "a %s is not callable", jv_type_name(fn->type));
    jv_unref(fn);
    args_free(&a);
    return r;
}

static int is_numeric(const struct jv *v) { return v->type == JV_INT || v->type == JV_FLOAT || v->type == JV_BOOL; }
static double to_d(const struct jv *v) { return v->type == JV_FLOAT ? v->u.f : v->type == JV_INT ? (double)v->u.i : v->u.b; }
static long long to_i(const struct jv *v) { return v->type == JV_INT ? v->u.i : v->u.b; }

/* Work that scans without allocating is charged too: a step per 16 items or 256 bytes. */
static int contains(const struct jv *hay, const struct jv *needle, int *ok) {
    *ok = 1;
    if (hay->type == JV_STR && needle->type == JV_STR) {
        if (!needle->u.str.n) return 1;
        jx_charge((long)(hay->u.str.n >> 8));
        return memmem(hay->u.str.s, hay->u.str.n, needle->u.str.s, needle->u.str.n) != NULL;
    }
    if (hay->type == JV_LIST) {
        jx_charge(hay->u.list.n >> 4);
        for (int i = 0; i < hay->u.list.n; i++) if (jv_equal(hay->u.list.v[i], needle)) return 1;
        return 0;
    }
    if (hay->type == JV_DICT) return needle->type == JV_STR && jv_dict_get(hay, needle->u.str.s) != NULL;
    if (hay->type == JV_UNDEF) return 0;
    *ok = 0;
    return 0;
}

/* A string from a buffer built for it; NULL (error written) when it ran over. */
static struct jv *sb_value(struct jinja_state *st, const struct node *n, struct sb *s) {
    if (s->over) {
        jx_free(s->s);
        rt_err(st, n, "string longer than %zu bytes", st->lim->max_output);
        return NULL;
    }
    return s->s ? jv_str_own(s->s, s->n) : jv_str("");
}

/* Python ints are unbounded; ours are 64-bit, and overflowing one is an error. */
static struct jv *int_op(struct jinja_state *st, const struct node *n, char op, long long x, long long y) {
    long long r = 0;
    int over = 0;
    switch (op) {
    case '+': over = __builtin_add_overflow(x, y, &r); break;
    case '-': over = __builtin_sub_overflow(x, y, &r); break;
    case '*': over = __builtin_mul_overflow(x, y, &r); break;
    case 'p': { /* x ** y, y >= 0, by squaring */
        long long base = x;
        r = 1;
        for (unsigned long long k = (unsigned long long)y; k && !over; k >>= 1) {
            if (k & 1) over = __builtin_mul_overflow(r, base, &r);
            if (k > 1 && !over) over = __builtin_mul_overflow(base, base, &base);
        }
        break;
    }
    case '/': /* floor division */
        if (x == LLONG_MIN && y == -1) { over = 1; break; }
        r = x / y;
        if ((x % y != 0) && ((x < 0) != (y < 0))) r--;
        break;
    case '%':
        if (y == -1) { r = 0; break; } /* LLONG_MIN % -1 traps on x86 */
        r = x % y;
        if (r && ((r < 0) != (y < 0))) r += y;
        break;
    }
    if (over) { rt_err(st, n, "integer overflow in %s", n->name); return NULL; }
    return jv_int(r);
}

static struct jv *binary(struct jinja_state *st, const struct node *n, struct jv *a, struct jv *b) {
    const char *op = n->name;
    if (!strcmp(op, "~")) {
        struct sb s = {0};
        jv_to_str(a, &s);
        jv_to_str(b, &s);
        return sb_value(st, n, &s);
    }
    if (!strcmp(op, "==")) return jv_bool(jv_equal(a, b));
    if (!strcmp(op, "!=")) return jv_bool(!jv_equal(a, b));
    if (!strcmp(op, "in") || !strcmp(op, "not in")) {
        int ok, r = contains(b, a, &ok);
        if (!ok) { rt_err(st, n, "'in' needs a string, list or dict on the right, not %s", jv_type_name(b->type)); return NULL; }
        return jv_bool(op[0] == 'i' ? r : !r);
    }
    if (op[0] == '<' || op[0] == '>') {
        int ok, c = jv_compare(a, b, &ok);
        if (!ok) { rt_err(st, n, "cannot compare %s with %s", jv_type_name(a->type), jv_type_name(b->type)); return NULL; }
        if (!strcmp(op, "<")) return jv_bool(c < 0);
        if (!strcmp(op, ">")) return jv_bool(c > 0);
        if (!strcmp(op, "<=")) return jv_bool(c <= 0);
        return jv_bool(c >= 0);
    }
    if (!strcmp(op, "+")) {
        if (a->type == JV_STR && b->type == JV_STR) {
            struct sb s = {0};
            sb_addn(&s, a->u.str.s, a->u.str.n);
            sb_addn(&s, b->u.str.s, b->u.str.n);
            return sb_value(st, n, &s);
        }
        if (a->type == JV_LIST && b->type == JV_LIST) {
            struct jv *r = jv_list_copy(a);
            for (int i = 0; i < b->u.list.n; i++) jv_list_push(r, jv_ref(b->u.list.v[i]));
            return r;
        }
    }
    if (!strcmp(op, "*") && a->type == JV_STR && b->type == JV_INT) {
        if (b->u.i <= 0 || !a->u.str.n) return jv_str("");
        if ((unsigned long long)b->u.i > st->lim->max_output / a->u.str.n) {
            rt_err(st, n, "string repetition longer than %zu bytes", st->lim->max_output);
            return NULL;
        }
        size_t k = a->u.str.n, total = k * (size_t)b->u.i, have = k;
        char *buf = jx_realloc(NULL, total + 1);
        if (!buf) { rt_err(st, n, "out of memory"); return NULL; }
        memcpy(buf, a->u.str.s, k);
        for (; have < total; have *= 2) memcpy(buf + have, buf, have < total - have ? have : total - have);
        buf[total] = 0;
        return jv_str_own(buf, total);
    }
    if (!is_numeric(a) || !is_numeric(b)) {
        rt_err(st, n, "unsupported operand types for %s: %s and %s", op, jv_type_name(a->type), jv_type_name(b->type));
        return NULL;
    }
    int ints = a->type != JV_FLOAT && b->type != JV_FLOAT;
    double x = to_d(a), y = to_d(b);
    if (!strcmp(op, "+")) return ints ? int_op(st, n, '+', to_i(a), to_i(b)) : jv_float(x + y);
    if (!strcmp(op, "-")) return ints ? int_op(st, n, '-', to_i(a), to_i(b)) : jv_float(x - y);
    if (!strcmp(op, "*")) return ints ? int_op(st, n, '*', to_i(a), to_i(b)) : jv_float(x * y);
    if (!strcmp(op, "**")) {
        if (ints && to_i(b) >= 0) return int_op(st, n, 'p', to_i(a), to_i(b));
        return jv_float(pow(x, y));
    }
    if (y == 0) { rt_err(st, n, "division by zero"); return NULL; }
    if (!strcmp(op, "/")) return jv_float(x / y);
    if (!strcmp(op, "//")) return ints ? int_op(st, n, '/', to_i(a), to_i(b)) : jv_float(floor(x / y));
    if (!strcmp(op, "%")) {
        if (ints) return int_op(st, n, '%', to_i(a), to_i(b));
        double m = fmod(x, y);
        if (m != 0 && ((m < 0) != (y < 0))) m += y;
        return jv_float(m);
    }
    rt_err(st, n, "unknown operator %s", op);
    return NULL;
}

static struct jv *slice(struct jinja_state *st, struct frame *f, const struct node *n, struct jv *obj) {
    long long len = obj->type == JV_LIST ? obj->u.list.n : obj->type == JV_STR ? (long long)obj->u.str.n : -1;
    if (len < 0) { rt_err(st, n, "cannot slice a %s", jv_type_name(obj->type)); return NULL; }
    const struct node *parts[3] = {n->b, n->c, n->n_kids ? n->kids[0] : NULL};
    long long v[3];
    int has[3];
    for (int i = 0; i < 3; i++) {
        has[i] = 0;
        if (!parts[i]) continue;
        struct jv *x = eval(st, f, parts[i]);
        if (!x) return NULL;
        if (x->type == JV_INT) { v[i] = x->u.i; has[i] = 1; }
        else if (x->type != JV_NONE && x->type != JV_UNDEF) { jv_unref(x); rt_err(st, n, "slice indices must be integers"); return NULL; }
        jv_unref(x);
    }
    long long step = has[2] ? v[2] : 1;
    if (step == 0) { rt_err(st, n, "slice step cannot be zero"); return NULL; }
    long long start, stop;
    /* Python's slice.indices() */
    if (step > 0) {
        start = has[0] ? (v[0] < 0 ? (v[0] + len < 0 ? 0 : v[0] + len) : (v[0] > len ? len : v[0])) : 0;
        stop = has[1] ? (v[1] < 0 ? (v[1] + len < 0 ? 0 : v[1] + len) : (v[1] > len ? len : v[1])) : len;
    } else {
        start = has[0] ? (v[0] < 0 ? (v[0] + len < 0 ? -1 : v[0] + len) : (v[0] >= len ? len - 1 : v[0])) : len - 1;
        stop = has[1] ? (v[1] < 0 ? (v[1] + len < 0 ? -1 : v[1] + len) : (v[1] >= len ? len - 1 : v[1])) : -1;
    }
    /* how many items, so the index never steps past the ends (a huge step cannot overflow) */
    unsigned long long ustep = step > 0 ? (unsigned long long)step : 0ull - (unsigned long long)step, count = 0;
    if (step > 0 && start < stop) count = (unsigned long long)(stop - start - 1) / ustep + 1;
    if (step < 0 && start > stop) count = (unsigned long long)(start - stop - 1) / ustep + 1;
    if (obj->type == JV_LIST) {
        struct jv *r = jv_list();
        for (unsigned long long k = 0; k < count; k++) jv_list_push(r, jv_ref(obj->u.list.v[start + (long long)k * step]));
        return r;
    }
    struct sb s = {0};
    for (unsigned long long k = 0; k < count; k++) sb_addc(&s, obj->u.str.s[start + (long long)k * step]);
    return sb_value(st, n, &s);
}

struct jv *jinja_getattr(struct jv *obj, const char *name) {
    if (obj->type == JV_DICT) {
        struct jv *v = jv_dict_get(obj, name);
        return v ? jv_ref(v) : jv_undef();
    }
    return jv_undef();
}

static struct jv *index_value(struct jinja_state *st, const struct node *n, struct jv *obj, struct jv *idx) {
    if (obj->type == JV_DICT) {
        if (idx->type != JV_STR) return jv_undef();
        return jinja_getattr(obj, idx->u.str.s);
    }
    if (obj->type == JV_LIST || obj->type == JV_STR) {
        if (idx->type != JV_INT) { rt_err(st, n, "%s indices must be integers", jv_type_name(obj->type)); return NULL; }
        long long len = obj->type == JV_LIST ? obj->u.list.n : (long long)obj->u.str.n, i = idx->u.i;
        if (i < 0) i += len;
        if (i < 0 || i >= len) return jv_undef();
        return obj->type == JV_LIST ? jv_ref(obj->u.list.v[i]) : jv_strn(obj->u.str.s + i, 1);
    }
    return jv_undef();
}

static struct jv *eval_node(struct jinja_state *st, struct frame *f, const struct node *n) {
    struct jv *a, *b, *r;
    switch (n->type) {
    case N_CONST: return jv_ref(n->value);
    case N_NAME: return lookup(f, n->name);
    case N_ATTR:
        if (!(a = eval(st, f, n->a))) return NULL;
        r = jinja_getattr(a, n->name);
        jv_unref(a);
        return r;
    case N_INDEX:
        if (!(a = eval(st, f, n->a))) return NULL;
        if (!(b = eval(st, f, n->b))) { jv_unref(a); return NULL; }
        r = index_value(st, n, a, b);
        jv_unref(a); jv_unref(b);
        return r;
    case N_SLICE:
        if (!(a = eval(st, f, n->a))) return NULL;
        r = slice(st, f, n, a);
        jv_unref(a);
        return r;
    case N_CALL: return eval_call(st, f, n, NULL);
    case N_FILTER: {
        struct jv_args args;
        if (!(a = eval(st, f, n->a))) return NULL;
        if (eval_args(st, f, n, 0, &args)) { jv_unref(a); return NULL; }
        r = jinja_filter(st, n->name, a, &args, st->e);
        if (!r) builtin_failed(st, n);
        args_free(&args);
        jv_unref(a);
        return r;
    }
    case N_TEST: {
        struct jv_args args;
        if (!(a = eval(st, f, n->a))) return NULL;
        if (eval_args(st, f, n, 0, &args)) { jv_unref(a); return NULL; }
        int t = jinja_test(n->name, a, &args, st->e);
        if (t < 0) builtin_failed(st, n);
        args_free(&args);
        jv_unref(a);
        return t < 0 ? NULL : jv_bool(n->negate ? !t : t);
    }
    case N_UNARY:
        if (!(a = eval(st, f, n->a))) return NULL;
        if (!is_numeric(a)) { rt_err(st, n, "bad operand type for unary %s: %s", n->name, jv_type_name(a->type)); jv_unref(a); return NULL; }
        r = n->name[0] == '+' ? jv_ref(a) : a->type == JV_FLOAT ? jv_float(-a->u.f) : int_op(st, n, '-', 0, to_i(a));
        jv_unref(a);
        return r;
    case N_BINARY:
        if (!(a = eval(st, f, n->a))) return NULL;
        if (!(b = eval(st, f, n->b))) { jv_unref(a); return NULL; }
        r = binary(st, n, a, b);
        jv_unref(a); jv_unref(b);
        return r;
    case N_AND: case N_OR:
        if (!(a = eval(st, f, n->a))) return NULL;
        if (jv_truthy(a) == (n->type == N_OR)) return a; /* short-circuit returns the operand, as Python does */
        jv_unref(a);
        return eval(st, f, n->b);
    case N_NOT:
        if (!(a = eval(st, f, n->a))) return NULL;
        r = jv_bool(!jv_truthy(a));
        jv_unref(a);
        return r;
    case N_COND:
        if (!(b = eval(st, f, n->b))) return NULL;
        int c = jv_truthy(b);
        jv_unref(b);
        if (c) return eval(st, f, n->a);
        return n->c ? eval(st, f, n->c) : jv_undef();
    case N_LIST: case N_TUPLE:
        r = jv_list();
        for (int i = 0; i < n->n_kids; i++) {
            if (!(a = eval(st, f, n->kids[i]))) { jv_unref(r); return NULL; }
            jv_list_push(r, a);
        }
        return r;
    case N_DICT:
        r = jv_dict();
        for (int i = 0; i + 1 < n->n_kids; i += 2) {
            if (!(a = eval(st, f, n->kids[i]))) { jv_unref(r); return NULL; }
            if (!(b = eval(st, f, n->kids[i + 1]))) { jv_unref(a); jv_unref(r); return NULL; }
            struct sb k = {0};
            jv_to_str(a, &k);
            jv_dict_set(r, k.s ? k.s : "", b);
            jx_free(k.s);
            jv_unref(a);
        }
        return r;
    default:
        rt_err(st, n, "not an expression");
        return NULL;
    }
}

static struct jv *eval(struct jinja_state *st, struct frame *f, const struct node *n) {
    if (enter(st, n)) return NULL;
    struct jv *r = eval_node(st, f, n);
    leave(st);
    return r;
}

static void emit_value(struct jinja_state *st, const struct jv *v) { jv_to_str(v, &st->out); }

/* Turns anything iterable into a list (dicts give their keys, strings their characters). */
static struct jv *as_list(struct jinja_state *st, const struct node *at, struct jv *v) {
    if (v->type == JV_LIST) return jv_ref(v);
    struct jv *l = jv_list();
    if (v->type == JV_DICT) {
        for (int i = 0; i < v->u.dict.n; i++) jv_list_push(l, jv_str(v->u.dict.k[i]));
    } else if (v->type == JV_STR) {
        for (size_t i = 0; i < v->u.str.n;) {
            size_t k = 1;
            while (i + k < v->u.str.n && ((unsigned char)v->u.str.s[i + k] & 0xC0) == 0x80) k++;
            jv_list_push(l, jv_strn(v->u.str.s + i, k));
            i += k;
        }
    } else if (v->type != JV_UNDEF) {
        jv_unref(l);
        rt_err(st, at, "cannot loop over a %s", jv_type_name(v->type));
        return NULL;
    }
    return l;
}

static int bind_targets(struct jinja_state *st, const struct node *n, struct frame *fr, struct jv *item) {
    if (n->n_targets == 1) { frame_set(fr, n->targets[0], jv_ref(item)); return 0; }
    if (item->type != JV_LIST || item->u.list.n != n->n_targets)
        return rt_err(st, n, "cannot unpack a %s into %d variables", jv_type_name(item->type), n->n_targets);
    for (int i = 0; i < n->n_targets; i++) frame_set(fr, n->targets[i], jv_ref(item->u.list.v[i]));
    return 0;
}

static int exec_for(struct jinja_state *st, struct frame *f, const struct node *n) {
    struct jv *it = eval(st, f, n->a);
    if (!it) return -1;
    struct jv *all = as_list(st, n, it);
    jv_unref(it);
    if (!all) return -1;
    /* The loop runs over a snapshot: the body may append to or pop from the list. */
    struct jv *items = jv_list();
    for (int i = 0; i < all->u.list.n; i++) {
        if (n->b) { /* for x in xs if cond: filter first, so loop.index counts kept items */
            struct frame fr = {.parent = f};
            struct jv *c = NULL;
            if (!bind_targets(st, n, &fr, all->u.list.v[i])) c = eval(st, &fr, n->b);
            frame_clear(&fr);
            if (!c) { jv_unref(items); jv_unref(all); return -1; }
            int keep = jv_truthy(c);
            jv_unref(c);
            if (!keep) continue;
        }
        jv_list_push(items, jv_ref(all->u.list.v[i]));
    }
    jv_unref(all);
    int len = items->u.list.n, rc = 0;
    for (int i = 0; i < len && !rc; i++) {
        if (++st->iters > st->lim->max_iterations) { rc = rt_err(st, n, "more than %ld loop iterations", st->lim->max_iterations); break; }
        struct frame fr = {.parent = f};
        rc = bind_targets(st, n, &fr, items->u.list.v[i]);
        struct jv *loop = jv_dict();
        jv_dict_set(loop, "index", jv_int(i + 1));
        jv_dict_set(loop, "index0", jv_int(i));
        jv_dict_set(loop, "revindex", jv_int(len - i));
        jv_dict_set(loop, "revindex0", jv_int(len - i - 1));
        jv_dict_set(loop, "first", jv_bool(i == 0));
        jv_dict_set(loop, "last", jv_bool(i == len - 1));
        jv_dict_set(loop, "length", jv_int(len));
        jv_dict_set(loop, "previtem", i > 0 ? jv_ref(items->u.list.v[i - 1]) : jv_undef());
        jv_dict_set(loop, "nextitem", i + 1 < len ? jv_ref(items->u.list.v[i + 1]) : jv_undef());
        frame_set(&fr, "loop", loop);
        if (!rc) rc = exec_body(st, &fr, n->body);
        frame_clear(&fr);
        if (st->ctl == 1) { st->ctl = 0; break; }
        st->ctl = 0;
    }
    if (!rc && len == 0 && n->else_body) rc = exec_body(st, f, n->else_body);
    jv_unref(items);
    return rc;
}

static int exec_node(struct jinja_state *st, struct frame *f, const struct node *n) {
    struct jv *v;
    switch (n->type) {
    case N_TEXT: sb_addn(&st->out, n->value->u.str.s, n->value->u.str.n); break;
    case N_OUTPUT:
        if (!(v = eval(st, f, n->a))) return -1;
        emit_value(st, v);
        jv_unref(v);
        break;
    case N_BODY: return exec_body(st, f, n);
    case N_IF:
        if (!(v = eval(st, f, n->a))) return -1;
        int c = jv_truthy(v);
        jv_unref(v);
        if (c) return exec_body(st, f, n->body);
        if (n->else_body) return n->else_body->type == N_IF ? exec_node(st, f, n->else_body) : exec_body(st, f, n->else_body);
        break;
    case N_FOR: return exec_for(st, f, n);
    case N_SET:
        if (!(v = eval(st, f, n->a))) return -1;
        if (n->name) { /* ns.attr = value */
            struct jv *obj = lookup(f, n->targets[0]);
            int ok = obj->type == JV_DICT, bad = ok && jv_would_nest_badly(obj, v);
            if (ok && !bad) jv_dict_set(obj, n->name, v);
            else jv_unref(v);
            jv_unref(obj);
            if (!ok) return rt_err(st, n, "cannot set attribute '%s' of '%s': not a namespace", n->name, n->targets[0]);
            if (bad) return rt_err(st, n, "cannot set '%s.%s': the value would contain itself or nest deeper than %d levels",
                                   n->targets[0], n->name, JV_MAX_NESTING);
        } else if (n->n_targets > 1) {
            int rc = bind_targets(st, n, f, v);
            jv_unref(v);
            return rc;
        } else {
            frame_set(f, n->targets[0], v);
        }
        break;
    case N_SET_BLOCK: {
        struct sb saved;
        capture_begin(st, &saved);
        if (exec_body(st, f, n->body)) { jx_free(st->out.s); st->out = saved; return -1; }
        if (!(v = capture_end(st, &saved, n))) return -1;
        frame_set(f, n->targets[0], v);
        break;
    }
    case N_MACRO: frame_set(f, n->name, jv_macro(n)); break;
    case N_CALL_BLOCK: {
        struct caller c = {n->body, f};
        if (!(v = eval_call(st, f, n->a, &c))) return -1;
        emit_value(st, v);
        jv_unref(v);
        break;
    }
    case N_FILTER_BLOCK: {
        struct sb saved;
        capture_begin(st, &saved);
        if (exec_body(st, f, n->body)) { jx_free(st->out.s); st->out = saved; return -1; }
        struct jv *body = capture_end(st, &saved, n);
        if (!body) return -1;
        struct jv_args args;
        if (eval_args(st, f, n, 0, &args)) { jv_unref(body); return -1; }
        v = jinja_filter(st, n->name, body, &args, st->e);
        args_free(&args);
        jv_unref(body);
        if (!v) return builtin_failed(st, n);
        emit_value(st, v);
        jv_unref(v);
        break;
    }
    case N_BREAK: st->ctl = 1; break;
    case N_CONTINUE: st->ctl = 2; break;
    default: return rt_err(st, n, "not a statement");
    }
    if (st->out.over) return rt_err(st, n, "output larger than %zu bytes", st->lim->max_output);
    if (jx_faulted(st->mark)) return rt_err(st, n, "out of memory");
    return 0;
}

static int exec_stmt(struct jinja_state *st, struct frame *f, const struct node *n) {
    if (enter(st, n)) return -1;
    int rc = exec_node(st, f, n);
    leave(st);
    return rc;
}

static int exec_body(struct jinja_state *st, struct frame *f, const struct node *body) {
    for (int i = 0; i < body->n_kids; i++) {
        if (exec_stmt(st, f, body->kids[i])) return -1;
        if (st->ctl) break; /* break/continue unwinds to the loop */
    }
    return 0;
}

int jinja_render_limited(const struct jinja_template *t, struct jv *ctx, const struct jinja_limits *limits,
                         char **out, struct jinja_usage *usage, struct err *e) {
    const struct jinja_limits *lim = limits ? limits : &jinja_default_limits;
    struct jx_budget b = {.max_steps = lim->max_steps, .max_bytes = lim->max_memory, .max_string = lim->max_output}, saved, used;
    *out = NULL;
    jx_budget_begin(&b, &saved);
    struct jinja_state st = {.lim = lim, .e = e, .mark = jx_fault_mark(), .stack_top = (uintptr_t)__builtin_frame_address(0)};
    struct frame globals = {0}, top = {.parent = &globals};
    if (ctx && ctx->type == JV_DICT)
        for (int i = 0; i < ctx->u.dict.n; i++) frame_set(&globals, ctx->u.dict.k[i], jv_ref(ctx->u.dict.v[i]));
    st.root = &top;
    st.out.limit = lim->max_output;
    int rc = exec_body(&st, &top, t->root);
    frame_clear(&top);
    frame_clear(&globals);
    char *result = NULL;
    if (!rc) { /* the caller frees the output with free() */
        result = malloc(st.out.n + 1);
        if (result) {
            if (st.out.n) memcpy(result, st.out.s, st.out.n);
            result[st.out.n] = 0;
        } else jx_fault(JX_OOM);
    }
    jx_free(st.out.s);
    if (!rc && jx_faulted(st.mark)) { /* a fault after the last check: the output cannot be trusted */
        char msg[200];
        jx_fault_message(msg, sizeof msg);
        rc = err_set(e, "%s", msg);
    }
    jx_budget_end(&saved, &used);
    if (usage) {
        usage->steps = used.steps;
        usage->iterations = st.iters;
        usage->max_calls = st.max_calls_seen;
        usage->max_nesting = st.max_nest_seen;
        usage->memory = used.peak;
    }
    if (rc) { free(result); return -1; }
    *out = result;
    return 0;
}

int jinja_render(const struct jinja_template *t, struct jv *ctx, char **out, struct err *e) {
    return jinja_render_limited(t, ctx, NULL, out, NULL, e);
}
