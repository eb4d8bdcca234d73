/* Jinja values: construction, reference counting, containers, and the Python
 * semantics templates rely on (truthiness, ==, ordering, str(), json.dumps). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/jinja_internal.h"

static struct jv s_undef = {JV_UNDEF, -1, {0}};
static struct jv s_none = {JV_NONE, -1, {0}};
static struct jv s_true = {JV_BOOL, -1, {.b = 1}};
static struct jv s_false = {JV_BOOL, -1, {.b = 0}};

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n);
    if (!q) abort(); /* out of memory: nothing sensible to render */
    return q;
}

static struct jv *jv_alloc(enum jv_type t) {
    struct jv *v = xrealloc(NULL, sizeof *v);
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
    struct jv *v = jv_alloc(JV_STR);
    v->u.str.s = xrealloc(NULL, n + 1);
    if (n) memcpy(v->u.str.s, s, n);
    v->u.str.s[n] = 0;
    v->u.str.n = n;
    return v;
}
struct jv *jv_str(const char *s) { return s ? jv_strn(s, strlen(s)) : jv_none(); }
struct jv *jv_list(void) { return jv_alloc(JV_LIST); }
struct jv *jv_dict(void) { return jv_alloc(JV_DICT); }

struct jv *jv_ref(struct jv *v) {
    if (v && v->refs >= 0) v->refs++;
    return v;
}

void jv_unref(struct jv *v) {
    if (!v || v->refs < 0 || --v->refs > 0) return;
    switch (v->type) {
    case JV_STR: free(v->u.str.s); break;
    case JV_LIST:
        for (int i = 0; i < v->u.list.n; i++) jv_unref(v->u.list.v[i]);
        free(v->u.list.v);
        break;
    case JV_DICT:
        for (int i = 0; i < v->u.dict.n; i++) { free(v->u.dict.k[i]); jv_unref(v->u.dict.v[i]); }
        free(v->u.dict.k);
        free(v->u.dict.v);
        break;
    default: break;
    }
    free(v);
}

void jv_list_push(struct jv *l, struct jv *v) {
    if (l->u.list.n == l->u.list.cap) {
        l->u.list.cap = l->u.list.cap ? l->u.list.cap * 2 : 4;
        l->u.list.v = xrealloc(l->u.list.v, sizeof(struct jv *) * (size_t)l->u.list.cap);
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
    for (int i = 0; i < d->u.dict.n; i++)
        if (!strcmp(d->u.dict.k[i], key)) return d->u.dict.v[i];
    return NULL;
}

void jv_dict_set(struct jv *d, const char *key, struct jv *v) {
    for (int i = 0; i < d->u.dict.n; i++)
        if (!strcmp(d->u.dict.k[i], key)) { jv_unref(d->u.dict.v[i]); d->u.dict.v[i] = v; return; }
    if (d->u.dict.n == d->u.dict.cap) {
        d->u.dict.cap = d->u.dict.cap ? d->u.dict.cap * 2 : 4;
        d->u.dict.k = xrealloc(d->u.dict.k, sizeof(char *) * (size_t)d->u.dict.cap);
        d->u.dict.v = xrealloc(d->u.dict.v, sizeof(struct jv *) * (size_t)d->u.dict.cap);
    }
    size_t n = strlen(key);
    d->u.dict.k[d->u.dict.n] = memcpy(xrealloc(NULL, n + 1), key, n + 1);
    d->u.dict.v[d->u.dict.n++] = v;
}

static struct jv *from_cjson(const cJSON *j) {
    if (cJSON_IsNull(j)) return jv_none();
    if (cJSON_IsBool(j)) return jv_bool(cJSON_IsTrue(j));
    if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        /* cJSON keeps no int/float distinction: integral values within range are ints */
        if (d == floor(d) && fabs(d) < 9e15) return jv_int((long long)d);
        return jv_float(d);
    }
    if (cJSON_IsString(j)) return jv_str(j->valuestring);
    if (cJSON_IsArray(j)) {
        struct jv *l = jv_list();
        for (const cJSON *c = j->child; c; c = c->next) jv_list_push(l, from_cjson(c));
        return l;
    }
    struct jv *d = jv_dict();
    for (const cJSON *c = j->child; c; c = c->next) jv_dict_set(d, c->string ? c->string : "", from_cjson(c));
    return d;
}

struct jv *jv_from_json(const char *json, struct err *e) {
    cJSON *j = cJSON_Parse(json);
    if (!j) {
        const char *at = cJSON_GetErrorPtr();
        err_set(e, "invalid JSON near '%.20s'", at ? at : "");
        return NULL;
    }
    struct jv *v = from_cjson(j);
    cJSON_Delete(j);
    return v;
}

/* ---- string buffer ---- */
void sb_addn(struct sb *b, const char *s, size_t n) {
    if (b->over) return;
    if (b->limit && b->n + n > b->limit) { b->over = 1; return; }
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 64;
        while (c < b->n + n + 1) c *= 2;
        b->s = xrealloc(b->s, c);
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

int jv_equal(const struct jv *a, const struct jv *b) {
    if (is_num(a) && is_num(b)) return num(a) == num(b);
    if (a->type != b->type) return 0;
    switch (a->type) {
    case JV_UNDEF: case JV_NONE: return 1;
    case JV_STR: return a->u.str.n == b->u.str.n && !memcmp(a->u.str.s, b->u.str.s, a->u.str.n);
    case JV_LIST:
        if (a->u.list.n != b->u.list.n) return 0;
        for (int i = 0; i < a->u.list.n; i++)
            if (!jv_equal(a->u.list.v[i], b->u.list.v[i])) return 0;
        return 1;
    case JV_DICT:
        if (a->u.dict.n != b->u.dict.n) return 0;
        for (int i = 0; i < a->u.dict.n; i++) {
            struct jv *o = jv_dict_get(b, a->u.dict.k[i]);
            if (!o || !jv_equal(a->u.dict.v[i], o)) return 0;
        }
        return 1;
    case JV_FUNC: return a->u.func.id == b->u.func.id;
    case JV_MACRO: return a->u.macro.node == b->u.macro.node;
    default: return 0;
    }
}

int jv_compare(const struct jv *a, const struct jv *b, int *ok) {
    *ok = 1;
    if (is_num(a) && is_num(b)) return num(a) < num(b) ? -1 : num(a) > num(b);
    if (a->type == JV_STR && b->type == JV_STR) {
        size_t n = a->u.str.n < b->u.str.n ? a->u.str.n : b->u.str.n;
        int c = memcmp(a->u.str.s, b->u.str.s, n);
        if (c) return c < 0 ? -1 : 1;
        return a->u.str.n < b->u.str.n ? -1 : a->u.str.n > b->u.str.n;
    }
    if (a->type == JV_LIST && b->type == JV_LIST) {
        for (int i = 0; i < a->u.list.n && i < b->u.list.n; i++) {
            int c = jv_compare(a->u.list.v[i], b->u.list.v[i], ok);
            if (!*ok || c) return c;
        }
        return a->u.list.n < b->u.list.n ? -1 : a->u.list.n > b->u.list.n;
    }
    *ok = 0;
    return 0;
}

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

static void repr(const struct jv *v, struct sb *b) {
    if (v->type == JV_STR) repr_str(v->u.str.s, v->u.str.n, b);
    else jv_to_str(v, b);
}

void jv_to_str(const struct jv *v, struct sb *b) {
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
            repr(v->u.list.v[i], b);
        }
        sb_addc(b, ']');
        break;
    case JV_DICT:
        sb_addc(b, '{');
        for (int i = 0; i < v->u.dict.n; i++) {
            if (i) sb_add(b, ", ");
            repr_str(v->u.dict.k[i], strlen(v->u.dict.k[i]), b);
            sb_add(b, ": ");
            repr(v->u.dict.v[i], b);
        }
        sb_addc(b, '}');
        break;
    case JV_FUNC: sb_add(b, "<built-in function>"); break;
    case JV_MACRO: sb_add(b, "<macro>"); break;
    }
}

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
    for (int i = 0; i < indent * depth; i++) sb_addc(b, ' ');
}

static void to_json(const struct jv *v, int indent, int depth, struct sb *b) {
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
