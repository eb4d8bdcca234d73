/* Jinja values: construction, reference counting, containers, and the Python
 * semantics templates rely on (truthiness, ==, ordering, str(), json.dumps).
 * Also the interpreter's one allocator, with the per-thread fault record and the
 * budgets of the render in progress (see jinja_internal.h). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/jinja_internal.h"

static struct jv s_undef = {JV_UNDEF, -1, NULL, {0}};
static struct jv s_none = {JV_NONE, -1, NULL, {0}};
static struct jv s_true = {JV_BOOL, -1, NULL, {.b = 1}};
static struct jv s_false = {JV_BOOL, -1, NULL, {.b = 0}};
/* What a constructor returns when memory ran out: empty, static, refusing to grow. */
static struct jv s_oom_str = {JV_STR, -1, NULL, {.str = {(char *)"", 0}}};
static struct jv s_oom_list = {JV_LIST, -1, NULL, {0}};
static struct jv s_oom_dict = {JV_DICT, -1, NULL, {0}};

/* ---- allocation, faults, budgets ---- */
static _Thread_local struct {
    unsigned long faults;  /* ever, on this thread */
    unsigned long mark;    /* faults when the current watch began */
    enum jx_fault first;   /* the first fault since the mark */
    long fail_after;       /* tests: allocations left before one fails; < 0 never */
    struct jx_budget b;
} tl = {0, 0, JX_OK, -1, {0}};

void jx_fault(enum jx_fault f) {
    if (tl.faults == tl.mark) tl.first = f;
    tl.faults++;
}
unsigned long jx_fault_mark(void) {
    tl.mark = tl.faults;
    tl.first = JX_OK;
    return tl.faults;
}
int jx_faulted(unsigned long mark) { return tl.faults != mark; }
unsigned long jv_alloc_failures(void) { return tl.faults; }
void jx_fail_allocation_after(long n) { tl.fail_after = n; }

void jx_fault_message(char *buf, size_t cap) {
    switch (tl.first) {
    case JX_MEMORY:
        if (tl.b.max_bytes % (1 << 20)) snprintf(buf, cap, "used more than %zu KiB of memory", tl.b.max_bytes >> 10);
        else snprintf(buf, cap, "used more than %zu MiB of memory", tl.b.max_bytes >> 20);
        break;
    case JX_STRING: snprintf(buf, cap, "built a string longer than %zu bytes", tl.b.max_string); break;
    case JX_STEPS: snprintf(buf, cap, "exceeded %ld evaluation steps", tl.b.max_steps); break;
    case JX_NESTING: snprintf(buf, cap, "values nested deeper than %d levels (or containing themselves)", JV_MAX_NESTING); break;
    default: snprintf(buf, cap, "out of memory"); break;
    }
}

void jx_budget_begin(const struct jx_budget *b, struct jx_budget *saved) {
    *saved = tl.b;
    tl.b = *b;
    tl.b.active = 1;
    tl.b.steps = 0;
    tl.b.bytes = 0;
    tl.b.peak = 0;
}
void jx_budget_end(const struct jx_budget *saved, struct jx_budget *used) {
    if (used) *used = tl.b;
    tl.b = *saved;
}

int jx_charge(long n) {
    if (!tl.b.active) return 0;
    if (tl.b.steps > tl.b.max_steps) return 1;
    tl.b.steps += n;
    if (tl.b.steps <= tl.b.max_steps) return 0;
    jx_fault(JX_STEPS);
    return 1;
}

/* Each block carries its size in a header, so a render knows how much it holds:
 * `bytes` is what is live now (blocks from before the render that it frees make it
 * lag, never run ahead). Bytes allocated are also work: every 256 cost a step. */
#define HDR 16 /* keeps the malloc alignment */
static size_t block_size(const void *p) { size_t n; memcpy(&n, (const char *)p - HDR, sizeof n); return n; }

void *jx_realloc(void *p, size_t n) {
    size_t old = p ? block_size(p) : 0;
    if (tl.fail_after >= 0 && tl.fail_after-- == 0) { jx_fault(JX_OOM); return NULL; }
    if (n > ((size_t)1 << 40)) { jx_fault(JX_OOM); return NULL; }
    if (tl.b.active) {
        size_t live = tl.b.bytes > old ? tl.b.bytes - old : 0;
        if (n > tl.b.max_bytes || live > tl.b.max_bytes - n) { jx_fault(JX_MEMORY); return NULL; }
        jx_charge((long)(n >> 8));
    }
    char *q = realloc(p ? (char *)p - HDR : NULL, n + HDR);
    if (!q) { jx_fault(JX_OOM); return NULL; }
    memcpy(q, &n, sizeof n);
    if (tl.b.active) {
        tl.b.bytes = (tl.b.bytes > old ? tl.b.bytes - old : 0) + n;
        if (tl.b.bytes > tl.b.peak) tl.b.peak = tl.b.bytes;
    }
    return q + HDR;
}

void jx_free(void *p) {
    if (!p) return;
    size_t n = block_size(p);
    if (tl.b.active) tl.b.bytes = tl.b.bytes > n ? tl.b.bytes - n : 0;
    free((char *)p - HDR);
}


void *jx_calloc(size_t n, size_t size) {
    if (size && n > (size_t)-1 / size) { jx_fault(JX_OOM); return NULL; }
    void *p = jx_realloc(NULL, n * size);
    if (p) memset(p, 0, n * size);
    return p;
}

char *jx_strndup(const char *s, size_t n) {
    char *r = jx_realloc(NULL, n + 1);
    if (!r) return NULL;
    if (n) memcpy(r, s, n);
    r[n] = 0;
    return r;
}

/* ---- values ---- */
static struct jv *jv_alloc(enum jv_type t) {
    struct jv *v = jx_realloc(NULL, sizeof *v);
    if (!v) return t == JV_STR ? &s_oom_str : t == JV_LIST ? &s_oom_list : t == JV_DICT ? &s_oom_dict : &s_none;
    memset(v, 0, sizeof *v);
    v->type = t;
    v->refs = 1;
    return v;
}

struct jv *jv_undef(void) { return &s_undef; }
struct jv *jv_none(void) { return &s_none; }
struct jv *jv_bool(int b) { return b ? &s_true : &s_false; }
struct jv *jv_int(long long i) { struct jv *v = jv_alloc(JV_INT); v->u.i = i; return v; }
struct jv *jv_float(double f) { struct jv *v = jv_alloc(JV_FLOAT); v->u.f = f; return v; }
struct jv *jv_strn(const char *s, size_t n) {
    if (tl.b.active && n > tl.b.max_string) { jx_fault(JX_STRING); return &s_oom_str; }
    char *p = jx_strndup(s, n);
    if (!p) return &s_oom_str;
    struct jv *v = jv_alloc(JV_STR);
    if (v->refs < 0) { jx_free(p); return v; }
    v->u.str.s = p;
    v->u.str.n = n;
    return v;
}
struct jv *jv_str(const char *s) { return s ? jv_strn(s, strlen(s)) : jv_none(); }
struct jv *jv_str_own(char *s, size_t n) {
    if (!s) return &s_oom_str;
    struct jv *v = jv_alloc(JV_STR);
    if (v->refs < 0) { jx_free(s); return v; }
    v->u.str.s = s;
    v->u.str.n = n;
    return v;
}
struct jv *jv_list(void) { return jv_alloc(JV_LIST); }
struct jv *jv_dict(void) { return jv_alloc(JV_DICT); }
struct jv *jv_func(int id) {
    struct jv *v = jv_alloc(JV_FUNC);
    if (v->refs >= 0) v->u.func.id = id;
    return v;
}
struct jv *jv_macro(const void *node) {
    struct jv *v = jv_alloc(JV_MACRO);
    if (v->refs >= 0) v->u.macro.node = node;
    return v;
}

struct jv *jv_ref(struct jv *v) {
    if (v && v->refs >= 0) v->refs++;
    return v;
}

/* Drops one reference of a child of a dying container: scalars go at once, dying
 * containers join the work list (no recursion, however deep the value). */
static void release_child(struct jv *c, struct jv **dead) {
    if (!c || c->refs < 0 || --c->refs > 0) return;
    if (c->type == JV_LIST || c->type == JV_DICT) { c->next_dead = *dead; *dead = c; return; }
    if (c->type == JV_STR) jx_free(c->u.str.s);
    jx_free(c);
}

void jv_unref(struct jv *v) {
    if (!v || v->refs < 0 || --v->refs > 0) return;
    v->next_dead = NULL;
    for (struct jv *dead = v; dead;) {
        struct jv *d = dead;
        dead = d->next_dead;
        switch (d->type) {
        case JV_STR: jx_free(d->u.str.s); break;
        case JV_LIST:
            for (int i = 0; i < d->u.list.n; i++) release_child(d->u.list.v[i], &dead);
            jx_free(d->u.list.v);
            break;
        case JV_DICT:
            for (int i = 0; i < d->u.dict.n; i++) { jx_free(d->u.dict.k[i]); release_child(d->u.dict.v[i], &dead); }
            jx_free(d->u.dict.k);
            jx_free(d->u.dict.v);
            break;
        default: break;
        }
        jx_free(d);
    }
}

void jv_list_push(struct jv *l, struct jv *v) {
    jx_charge(1);
    if (l->refs < 0 || l->u.list.n == 1 << 30) { jv_unref(v); return; } /* the out-of-memory list */
    if (l->u.list.n == l->u.list.cap) {
        int cap = l->u.list.cap ? l->u.list.cap * 2 : 4;
        struct jv **nv = jx_realloc(l->u.list.v, sizeof(struct jv *) * (size_t)cap);
        if (!nv) { jv_unref(v); return; }
        l->u.list.v = nv;
        l->u.list.cap = cap;
    }
    l->u.list.v[l->u.list.n++] = v;
}

struct jv *jv_list_copy(const struct jv *l) {
    struct jv *r = jv_list();
    for (int i = 0; i < l->u.list.n; i++) jv_list_push(r, jv_ref(l->u.list.v[i]));
    return r;
}

struct jv *jv_dict_get(const struct jv *d, const char *key) {
    if (!d || d->type != JV_DICT) return NULL;
    jx_charge(1 + d->u.dict.n / 16);
    for (int i = 0; i < d->u.dict.n; i++)
        if (!strcmp(d->u.dict.k[i], key)) return d->u.dict.v[i];
    return NULL;
}

void jv_dict_set(struct jv *d, const char *key, struct jv *v) {
    jx_charge(1 + d->u.dict.n / 16);
    for (int i = 0; i < d->u.dict.n; i++)
        if (!strcmp(d->u.dict.k[i], key)) { jv_unref(d->u.dict.v[i]); d->u.dict.v[i] = v; return; }
    if (d->refs < 0 || d->u.dict.n == 1 << 30) { jv_unref(v); return; } /* the out-of-memory dict */
    if (d->u.dict.n == d->u.dict.cap) {
        int cap = d->u.dict.cap ? d->u.dict.cap * 2 : 4;
        char **nk = jx_realloc(d->u.dict.k, sizeof(char *) * (size_t)cap);
        if (nk) d->u.dict.k = nk;
        struct jv **nv = nk ? jx_realloc(d->u.dict.v, sizeof(struct jv *) * (size_t)cap) : NULL;
        if (!nv) { jv_unref(v); return; } /* a grown k alone is harmless: cap still says the old size */
        d->u.dict.v = nv;
        d->u.dict.cap = cap;
    }
    char *k = jx_strndup(key, strlen(key));
    if (!k) { jv_unref(v); return; }
    d->u.dict.k[d->u.dict.n] = k;
    d->u.dict.v[d->u.dict.n++] = v;
}

/* Depth-first search of v for c (a cycle) or for more than JV_MAX_NESTING levels. */
static int nests_badly(const struct jv *v, const struct jv *c, int depth) {
    if (v->type != JV_LIST && v->type != JV_DICT) return 0;
    if (v == c || depth >= JV_MAX_NESTING || jx_charge(1)) return 1;
    int n = v->type == JV_LIST ? v->u.list.n : v->u.dict.n;
    for (int i = 0; i < n; i++)
        if (nests_badly(v->type == JV_LIST ? v->u.list.v[i] : v->u.dict.v[i], c, depth + 1)) return 1;
    return 0;
}
int jv_would_nest_badly(const struct jv *c, const struct jv *v) { return nests_badly(v, c, 1); }

static struct jv *from_cjson(const cJSON *j, int depth) {
    if (cJSON_IsNull(j)) return jv_none();
    if (cJSON_IsBool(j)) return jv_bool(cJSON_IsTrue(j));
    if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        /* cJSON keeps no int/float distinction: integral values within range are ints */
        if (d == floor(d) && fabs(d) < 9e15) return jv_int((long long)d);
        return jv_float(d);
    }
    if (cJSON_IsString(j)) return jv_str(j->valuestring);
    if (depth >= JV_MAX_NESTING) { jx_fault(JX_NESTING); return jv_none(); }
    if (cJSON_IsArray(j)) {
        struct jv *l = jv_list();
        for (const cJSON *c = j->child; c; c = c->next) jv_list_push(l, from_cjson(c, depth + 1));
        return l;
    }
    struct jv *d = jv_dict();
    for (const cJSON *c = j->child; c; c = c->next) jv_dict_set(d, c->string ? c->string : "", from_cjson(c, depth + 1));
    return d;
}

struct jv *jv_from_json(const char *json, struct err *e) {
    cJSON *j = cJSON_Parse(json);
    if (!j) {
        const char *at = cJSON_GetErrorPtr();
        err_set(e, "invalid JSON near '%.20s'", at ? at : "");
        return NULL;
    }
    unsigned long mark = jx_fault_mark();
    struct jv *v = from_cjson(j, 0);
    cJSON_Delete(j);
    if (jx_faulted(mark)) {
        if (tl.first == JX_NESTING) err_set(e, "JSON nested deeper than %d levels", JV_MAX_NESTING);
        else err_set(e, "out of memory");
        jv_unref(v);
        v = NULL;
    }
    return v;
}

/* ---- string buffer ---- */
void sb_addn(struct sb *b, const char *s, size_t n) {
    if (b->over) return;
    if (b->limit && b->n + n > b->limit) { b->over = 1; return; }
    if (tl.b.active && b->n + n > tl.b.max_string) { b->over = 1; jx_fault(JX_STRING); return; }
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 64;
        while (c < b->n + n + 1) c *= 2;
        char *ns = jx_realloc(b->s, c);
        if (!ns) { b->over = 1; return; }
        b->s = ns;
        b->cap = c;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}
void sb_add(struct sb *b, const char *s) { sb_addn(b, s, strlen(s)); }
void sb_addc(struct sb *b, char c) { sb_addn(b, &c, 1); }
void sb_printf(struct sb *b, const char *fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) sb_addn(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* ---- semantics ---- */
int jv_truthy(const struct jv *v) {
    switch (v->type) {
    case JV_UNDEF: case JV_NONE: return 0;
    case JV_BOOL: return v->u.b;
    case JV_INT: return v->u.i != 0;
    case JV_FLOAT: return v->u.f != 0.0;
    case JV_STR: return v->u.str.n > 0;
    case JV_LIST: return v->u.list.n > 0;
    case JV_DICT: return v->u.dict.n > 0 || v->u.dict.is_ns;
    default: return 1;
    }
}

static int is_num(const struct jv *v) { return v->type == JV_INT || v->type == JV_FLOAT || v->type == JV_BOOL; }
static double num(const struct jv *v) {
    return v->type == JV_FLOAT ? v->u.f : v->type == JV_INT ? (double)v->u.i : (double)v->u.b;
}

/* Value walks (==, ordering, str(), tojson) carry their depth: past JV_MAX_NESTING
 * they record a fault and stop, so a deep or self-containing value cannot
 * overflow the stack, and each level visited is charged as a step. */
static int too_deep(int depth) {
    if (depth < JV_MAX_NESTING) return jx_charge(1);
    jx_fault(JX_NESTING);
    return 1;
}

static int equal(const struct jv *a, const struct jv *b, int depth) {
    if (is_num(a) && is_num(b)) return num(a) == num(b);
    if (a->type != b->type) return 0;
    if ((a->type == JV_LIST || a->type == JV_DICT) && too_deep(depth)) return 0;
    switch (a->type) {
    case JV_UNDEF: case JV_NONE: return 1;
    case JV_STR: return a->u.str.n == b->u.str.n && !memcmp(a->u.str.s, b->u.str.s, a->u.str.n);
    case JV_LIST:
        if (a->u.list.n != b->u.list.n) return 0;
        for (int i = 0; i < a->u.list.n; i++)
            if (!equal(a->u.list.v[i], b->u.list.v[i], depth + 1)) return 0;
        return 1;
    case JV_DICT:
        if (a->u.dict.n != b->u.dict.n) return 0;
        for (int i = 0; i < a->u.dict.n; i++) {
            struct jv *o = jv_dict_get(b, a->u.dict.k[i]);
            if (!o || !equal(a->u.dict.v[i], o, depth + 1)) return 0;
        }
        return 1;
    case JV_FUNC: return a->u.func.id == b->u.func.id;
    case JV_MACRO: return a->u.macro.node == b->u.macro.node;
    default: return 0;
    }
}
int jv_equal(const struct jv *a, const struct jv *b) { return equal(a, b, 0); }

static int compare(const struct jv *a, const struct jv *b, int *ok, int depth) {
    *ok = 1;
    if (is_num(a) && is_num(b)) return num(a) < num(b) ? -1 : num(a) > num(b);
    if (a->type == JV_STR && b->type == JV_STR) {
        size_t n = a->u.str.n < b->u.str.n ? a->u.str.n : b->u.str.n;
        int c = memcmp(a->u.str.s, b->u.str.s, n);
        if (c) return c < 0 ? -1 : 1;
        return a->u.str.n < b->u.str.n ? -1 : a->u.str.n > b->u.str.n;
    }
    if (a->type == JV_LIST && b->type == JV_LIST) {
        if (too_deep(depth)) { *ok = 0; return 0; }
        for (int i = 0; i < a->u.list.n && i < b->u.list.n; i++) {
            int c = compare(a->u.list.v[i], b->u.list.v[i], ok, depth + 1);
            if (!*ok || c) return c;
        }
        return a->u.list.n < b->u.list.n ? -1 : a->u.list.n > b->u.list.n;
    }
    *ok = 0;
    return 0;
}
int jv_compare(const struct jv *a, const struct jv *b, int *ok) { return compare(a, b, ok, 0); }

/* Python's repr(float): shortest digits that round-trip, always with a '.' or exponent. */
static void float_str(double f, struct sb *b) {
    if (isnan(f)) { sb_add(b, "nan"); return; }
    if (isinf(f)) { sb_add(b, f < 0 ? "-inf" : "inf"); return; }
    char tmp[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*g", p, f);
        if (strtod(tmp, NULL) == f) break;
    }
    sb_add(b, tmp);
    if (!strpbrk(tmp, ".en")) sb_add(b, ".0");
}

static void repr_str(const char *s, size_t n, struct sb *b) {
    /* Python prefers single quotes unless the text holds ' and no " */
    char q = memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
    sb_addc(b, q);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\') sb_add(b, "\\\\");
        else if (c == (unsigned char)q) { sb_addc(b, '\\'); sb_addc(b, q); }
        else if (c == '\n') sb_add(b, "\\n");
        else if (c == '\r') sb_add(b, "\\r");
        else if (c == '\t') sb_add(b, "\\t");
        else if (c < 0x20 || c == 0x7f) sb_printf(b, "\\x%02x", c);
        else sb_addc(b, (char)c);
    }
    sb_addc(b, q);
}

static void to_str(const struct jv *v, struct sb *b, int depth);
static void repr(const struct jv *v, struct sb *b, int depth) {
    if (v->type == JV_STR) repr_str(v->u.str.s, v->u.str.n, b);
    else to_str(v, b, depth);
}

static void to_str(const struct jv *v, struct sb *b, int depth) {
    if ((v->type == JV_LIST || v->type == JV_DICT) && (b->over || too_deep(depth))) { b->over = 1; return; }
    switch (v->type) {
    case JV_UNDEF: break;
    case JV_NONE: sb_add(b, "None"); break;
    case JV_BOOL: sb_add(b, v->u.b ? "True" : "False"); break;
    case JV_INT: sb_printf(b, "%lld", v->u.i); break;
    case JV_FLOAT: float_str(v->u.f, b); break;
    case JV_STR: sb_addn(b, v->u.str.s, v->u.str.n); break;
    case JV_LIST:
        sb_addc(b, '[');
        for (int i = 0; i < v->u.list.n; i++) {
            if (i) sb_add(b, ", ");
            repr(v->u.list.v[i], b, depth + 1);
        }
        sb_addc(b, ']');
        break;
    case JV_DICT:
        sb_addc(b, '{');
        for (int i = 0; i < v->u.dict.n; i++) {
            if (i) sb_add(b, ", ");
            repr_str(v->u.dict.k[i], strlen(v->u.dict.k[i]), b);
            sb_add(b, ": ");
            repr(v->u.dict.v[i], b, depth + 1);
        }
        sb_addc(b, '}');
        break;
    case JV_FUNC: sb_add(b, "<built-in function>"); break;
    case JV_MACRO: sb_add(b, "<macro>"); break;
    }
}
void jv_to_str(const struct jv *v, struct sb *b) { to_str(v, b, 0); }

static void json_str(const char *s, size_t n, struct sb *b) {
    sb_addc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': sb_add(b, "\\\""); break;
        case '\\': sb_add(b, "\\\\"); break;
        case '\n': sb_add(b, "\\n"); break;
        case '\r': sb_add(b, "\\r"); break;
        case '\t': sb_add(b, "\\t"); break;
        case '\b': sb_add(b, "\\b"); break;
        case '\f': sb_add(b, "\\f"); break;
        default:
            if (c < 0x20 || c == 0x7f) sb_printf(b, "\\u%04x", c);
            else sb_addc(b, (char)c);
        }
    }
    sb_addc(b, '"');
}

static void json_nl(int indent, int depth, struct sb *b) {
    sb_addc(b, '\n');
    for (long i = 0; i < (long)indent * depth && !b->over; i++) sb_addc(b, ' ');
}

static void to_json(const struct jv *v, int indent, int depth, struct sb *b) {
    if ((v->type == JV_LIST || v->type == JV_DICT) && (b->over || too_deep(depth))) { b->over = 1; return; }
    switch (v->type) {
    case JV_UNDEF: case JV_NONE: sb_add(b, "null"); break;
    case JV_BOOL: sb_add(b, v->u.b ? "true" : "false"); break;
    case JV_INT: sb_printf(b, "%lld", v->u.i); break;
    case JV_FLOAT:
        if (isnan(v->u.f)) sb_add(b, "NaN");
        else if (isinf(v->u.f)) sb_add(b, v->u.f < 0 ? "-Infinity" : "Infinity");
        else float_str(v->u.f, b);
        break;
    case JV_STR: json_str(v->u.str.s, v->u.str.n, b); break;
    case JV_LIST:
        if (!v->u.list.n) { sb_add(b, "[]"); break; }
        sb_addc(b, '[');
        for (int i = 0; i < v->u.list.n; i++) {
            if (i) sb_add(b, indent >= 0 ? "," : ", ");
            if (indent >= 0) json_nl(indent, depth + 1, b);
            to_json(v->u.list.v[i], indent, depth + 1, b);
        }
        if (indent >= 0) json_nl(indent, depth, b);
        sb_addc(b, ']');
        break;
    case JV_DICT:
        if (!v->u.dict.n) { sb_add(b, "{}"); break; }
        sb_addc(b, '{');
        for (int i = 0; i < v->u.dict.n; i++) {
            if (i) sb_add(b, indent >= 0 ? "," : ", ");
            if (indent >= 0) json_nl(indent, depth + 1, b);
            json_str(v->u.dict.k[i], strlen(v->u.dict.k[i]), b);
            sb_add(b, ": ");
            to_json(v->u.dict.v[i], indent, depth + 1, b);
        }
        if (indent >= 0) json_nl(indent, depth, b);
        sb_addc(b, '}');
        break;
    default: sb_add(b, "null"); break;
    }
}

void jv_to_json(const struct jv *v, int indent, struct sb *b) { to_json(v, indent, 0, b); }

const char *jv_type_name(enum jv_type t) {
    static const char *names[] = {"undefined", "none", "bool", "int", "float", "string", "list", "dict", "function", "macro"};
    return names[t];
}
