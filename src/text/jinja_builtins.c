/* Jinja built-ins: filters (| trim, tojson, map, selectattr, ...), tests
 * (is defined, is string, ...) and the Python methods templates call on
 * strings, lists and dicts (strip, split, items, append, ...). */
#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "text/jinja_internal.h"

static struct jv *from_sb(struct sb *b) { return b->s ? jv_str_own(b->s, b->n) : jv_str(""); }

static struct jv *to_string(struct jv *v) {
    if (v->type == JV_STR) return jv_ref(v);
    struct sb b = {0};
    jv_to_str(v, &b);
    return from_sb(&b);
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* Python str.strip family: chars NULL = whitespace. which: 1 left, 2 right, 3 both. */
static struct jv *strip(const struct jv *s, const struct jv *chars, int which) {
    const char *p = s->u.str.s;
    size_t a = 0, b = s->u.str.n;
    const char *set = chars && chars->type == JV_STR ? chars->u.str.s : NULL;
#define STRIPPABLE(c) (set ? (c) != 0 && strchr(set, (c)) != NULL : is_space(c))
    if (which & 1) while (a < b && STRIPPABLE(p[a])) a++;
    if (which & 2) while (b > a && STRIPPABLE(p[b - 1])) b--;
#undef STRIPPABLE
    return jv_strn(p + a, b - a);
}

static struct jv *change_case(const struct jv *s, int mode) { /* 0 lower, 1 upper, 2 title, 3 capitalize */
    struct jv *r = jv_strn(s->u.str.s, s->u.str.n);
    int start = 1;
    for (size_t i = 0; i < r->u.str.n; i++) {
        unsigned char c = (unsigned char)r->u.str.s[i];
        if (c >= 0x80) { start = 0; continue; } /* ASCII case mapping only */
        if (mode == 0) c = (unsigned char)tolower(c);
        else if (mode == 1) c = (unsigned char)toupper(c);
        else if (mode == 2) { c = (unsigned char)(start ? toupper(c) : tolower(c)); start = !isalnum(c); }
        else { c = (unsigned char)(i == 0 ? toupper(c) : tolower(c)); }
        r->u.str.s[i] = (char)c;
    }
    return r;
}

/* Scans that allocate little are charged by size: a step per 16 items or 256 bytes. */
static struct jv *replace(const struct jv *s, const struct jv *from, const struct jv *to, long long count) {
    struct sb b = {0};
    jx_charge((long)(s->u.str.n >> 8));
    const char *p = s->u.str.s, *end = p + s->u.str.n;
    size_t fn = from->u.str.n;
    long long done = 0;
    if (fn == 0) return jv_ref((struct jv *)s);
    while (p < end) {
        const char *q = (count < 0 || done < count) ? memmem(p, (size_t)(end - p), from->u.str.s, fn) : NULL;
        if (!q) { sb_addn(&b, p, (size_t)(end - p)); break; }
        sb_addn(&b, p, (size_t)(q - p));
        sb_addn(&b, to->u.str.s, to->u.str.n);
        p = q + fn;
        done++;
    }
    return from_sb(&b);
}

static struct jv *split(const struct jv *s, const struct jv *sep, long long maxsplit) {
    struct jv *l = jv_list();
    jx_charge((long)(s->u.str.n >> 8));
    const char *p = s->u.str.s, *end = p + s->u.str.n;
    if (!sep || sep->type != JV_STR) { /* whitespace split, dropping empty parts */
        while (p < end) {
            while (p < end && is_space(*p)) p++;
            if (p >= end) break;
            const char *q = p;
            if (maxsplit >= 0 && l->u.list.n >= maxsplit) q = end;
            else while (q < end && !is_space(*q)) q++;
            jv_list_push(l, jv_strn(p, (size_t)(q - p)));
            p = q;
        }
        return l;
    }
    size_t n = sep->u.str.n;
    for (;;) {
        const char *q = (maxsplit < 0 || l->u.list.n < maxsplit) && n ? memmem(p, (size_t)(end - p), sep->u.str.s, n) : NULL;
        if (!q) { jv_list_push(l, jv_strn(p, (size_t)(end - p))); break; }
        jv_list_push(l, jv_strn(p, (size_t)(q - p)));
        p = q + n;
    }
    return l;
}

static int affix(const struct jv *s, const struct jv *x, int suffix) {
    if (x->type == JV_LIST) { /* str.startswith(("a", "b")) */
        for (int i = 0; i < x->u.list.n; i++) if (affix(s, x->u.list.v[i], suffix)) return 1;
        return 0;
    }
    if (x->type != JV_STR || x->u.str.n > s->u.str.n) return 0;
    return !memcmp(s->u.str.s + (suffix ? s->u.str.n - x->u.str.n : 0), x->u.str.s, x->u.str.n);
}

static struct jv *join(struct jv *list, const struct jv *sep, const char *attr) {
    struct sb b = {0};
    jx_charge(list->u.list.n >> 4);
    for (int i = 0; i < list->u.list.n; i++) {
        if (i && sep) jv_to_str(sep, &b);
        struct jv *x = list->u.list.v[i];
        if (attr) { struct jv *a = jinja_getattr(x, attr); jv_to_str(a, &b); jv_unref(a); }
        else jv_to_str(x, &b);
    }
    return from_sb(&b);
}

static size_t utf8_len(const char *s, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) if (((unsigned char)s[i] & 0xC0) != 0x80) k++;
    return k;
}

static struct jv *items_of(const struct jv *d) {
    struct jv *l = jv_list();
    for (int i = 0; i < d->u.dict.n; i++) {
        struct jv *pair = jv_list();
        jv_list_push(pair, jv_str(d->u.dict.k[i]));
        jv_list_push(pair, jv_ref(d->u.dict.v[i]));
        jv_list_push(l, pair);
    }
    return l;
}

static struct jv *need_list(struct jv *v, const char *filter, struct err *e) {
    if (v->type == JV_LIST) return jv_ref(v);
    if (v->type == JV_DICT) {
        struct jv *l = jv_list();
        for (int i = 0; i < v->u.dict.n; i++) jv_list_push(l, jv_str(v->u.dict.k[i]));
        return l;
    }
    if (v->type == JV_UNDEF || v->type == JV_NONE) return jv_list();
    if (v->type == JV_STR) {
        struct jv *l = jv_list();
        for (size_t i = 0; i < v->u.str.n;) {
            size_t k = 1;
            while (i + k < v->u.str.n && ((unsigned char)v->u.str.s[i + k] & 0xC0) == 0x80) k++;
            jv_list_push(l, jv_strn(v->u.str.s + i, k));
            i += k;
        }
        return l;
    }
    err_set(e, "filter '%s' expects a list, got %s", filter, jv_type_name(v->type));
    return NULL;
}

/* select/reject/selectattr/rejectattr: keep items whose test result == keep. */
static struct jv *select_items(struct jv *v, const struct jv_args *a, int by_attr, int keep, const char *fname, struct err *e) {
    struct jv *l = need_list(v, fname, e);
    if (!l) return NULL;
    int ai = 0;
    const char *attr = NULL;
    if (by_attr) {
        struct jv *at = jv_arg(a, 0, NULL);
        if (!at || at->type != JV_STR) { jv_unref(l); err_set(e, "%s() expects an attribute name", fname); return NULL; }
        attr = at->u.str.s;
        ai = 1;
    }
    struct jv *tn = jv_arg(a, ai, NULL);
    struct jv_args rest = {a->pos + ai + 1, a->n_pos - ai - 1 > 0 ? a->n_pos - ai - 1 : 0, NULL, NULL, 0};
    struct jv *r = jv_list();
    jx_charge(l->u.list.n >> 4);
    for (int i = 0; i < l->u.list.n; i++) {
        struct jv *x = l->u.list.v[i];
        struct jv *val = attr ? jinja_getattr(x, attr) : jv_ref(x);
        int t;
        if (tn && tn->type == JV_STR) t = jinja_test(tn->u.str.s, val, &rest, e);
        else t = jv_truthy(val);
        jv_unref(val);
        if (t < 0) { jv_unref(r); jv_unref(l); return NULL; }
        if (t == keep) jv_list_push(r, jv_ref(x));
    }
    jv_unref(l);
    return r;
}

static struct jv *indent(struct jv *s, const struct jv_args *a) {
    struct jv *w = jv_arg(a, 0, "width"), *first = jv_arg(a, 1, "first"), *blank = jv_arg(a, 2, "blank");
    struct sb pad = {0};
    if (w && w->type == JV_STR) sb_addn(&pad, w->u.str.s, w->u.str.n);
    else for (long long i = 0; i < (w && w->type == JV_INT ? w->u.i : 4) && !pad.over; i++) sb_addc(&pad, ' ');
    struct sb b = {0};
    const char *p = s->u.str.s, *end = p + s->u.str.n;
    int line = 0;
    while (p <= end && !b.over) {
        const char *q = memchr(p, '\n', (size_t)(end - p));
        if (!q) q = end;
        int empty = q == p;
        if ((line > 0 || (first && jv_truthy(first))) && (!empty || (blank && jv_truthy(blank)))) sb_addn(&b, pad.s, pad.n);
        sb_addn(&b, p, (size_t)(q - p));
        if (q == end) break;
        sb_addc(&b, '\n');
        p = q + 1;
        line++;
    }
    jx_free(pad.s);
    return from_sb(&b);
}

static struct jv *escape_html(const struct jv *s) {
    struct sb b = {0};
    for (size_t i = 0; i < s->u.str.n; i++) {
        char c = s->u.str.s[i];
        switch (c) {
        case '&': sb_add(&b, "&amp;"); break;
        case '<': sb_add(&b, "&lt;"); break;
        case '>': sb_add(&b, "&gt;"); break;
        case '"': sb_add(&b, "&#34;"); break;
        case '\'': sb_add(&b, "&#39;"); break;
        default: sb_addc(&b, c);
        }
    }
    return from_sb(&b);
}

/* Stable merge sort of v[0..n) by key(i) order; O(n log n) comparisons, each a step.
 * Returns -1 when two keys cannot be ordered (or the step budget ran out). */
struct sort_ctx { const char *attr; int desc, bad; };
static int sort_cmp(struct sort_ctx *c, struct jv *x, struct jv *y) {
    struct jv *kx = c->attr ? jinja_getattr(x, c->attr) : jv_ref(x), *ky = c->attr ? jinja_getattr(y, c->attr) : jv_ref(y);
    int ok, r = jv_compare(kx, ky, &ok);
    jv_unref(kx);
    jv_unref(ky);
    if (!ok || jx_charge(1)) c->bad = 1;
    return c->desc ? -r : r;
}
static int merge_sort(struct jv **v, int n, struct sort_ctx *c) {
    struct jv **tmp = jx_calloc((size_t)(n ? n : 1), sizeof *tmp);
    if (!tmp) return -1;
    for (int w = 1; w < n && !c->bad; w *= 2) {
        for (int lo = 0; lo < n - w && !c->bad; lo += 2 * w) {
            int mid = lo + w, hi = mid + w < n ? mid + w : n, i = lo, j = mid, k = 0;
            while (i < mid && j < hi && !c->bad) tmp[k++] = sort_cmp(c, v[j], v[i]) < 0 ? v[j++] : v[i++];
            while (i < mid) tmp[k++] = v[i++];
            while (j < hi) tmp[k++] = v[j++];
            memcpy(v + lo, tmp, sizeof *tmp * (size_t)k);
        }
    }
    jx_free(tmp);
    return c->bad ? -1 : 0;
}

struct jv *jinja_filter(struct jinja_state *st, const char *name, struct jv *v, const struct jv_args *a, struct err *e) {
    struct jv *a0 = jv_arg(a, 0, NULL);
    if (!strcmp(name, "safe")) return jv_ref(v);
    if (!strcmp(name, "string")) return to_string(v);
    if (!strcmp(name, "tojson")) {
        struct jv *ind = jv_arg(a, 0, "indent");
        struct sb b = {0};
        jv_to_json(v, ind && ind->type == JV_INT ? (int)ind->u.i : -1, &b);
        return from_sb(&b);
    }
    if (!strcmp(name, "length") || !strcmp(name, "count")) {
        if (v->type == JV_STR) return jv_int((long long)utf8_len(v->u.str.s, v->u.str.n));
        if (v->type == JV_LIST) return jv_int(v->u.list.n);
        if (v->type == JV_DICT) return jv_int(v->u.dict.n);
        if (v->type == JV_UNDEF) return jv_int(0);
        err_set(e, "filter 'length' expects a string, list or dict, got %s", jv_type_name(v->type));
        return NULL;
    }
    if (!strcmp(name, "default") || !strcmp(name, "d")) {
        struct jv *boolean = jv_arg(a, 1, "boolean");
        int use_default = v->type == JV_UNDEF || (boolean && jv_truthy(boolean) && !jv_truthy(v));
        if (use_default) return a0 ? jv_ref(a0) : jv_str("");
        return jv_ref(v);
    }
    if (!strcmp(name, "int")) {
        if (v->type == JV_INT) return jv_ref(v);
        if (v->type == JV_FLOAT) {
            if (!(v->u.f > -9.2e18 && v->u.f < 9.2e18)) { err_set(e, "filter 'int': %g does not fit an integer", v->u.f); return NULL; }
            return jv_int((long long)v->u.f);
        }
        if (v->type == JV_BOOL) return jv_int(v->u.b);
        if (v->type == JV_STR) { char *end; long long i = strtoll(v->u.str.s, &end, 10); return jv_int(end == v->u.str.s ? (a0 && a0->type == JV_INT ? a0->u.i : 0) : i); }
        return jv_int(0);
    }
    if (!strcmp(name, "float")) {
        if (v->type == JV_FLOAT) return jv_ref(v);
        if (v->type == JV_INT) return jv_float((double)v->u.i);
        if (v->type == JV_STR) return jv_float(strtod(v->u.str.s, NULL));
        return jv_float(0);
    }
    if (!strcmp(name, "abs")) {
        if (v->type == JV_INT && v->u.i == LLONG_MIN) { err_set(e, "filter 'abs': integer overflow"); return NULL; }
        if (v->type == JV_INT) return jv_int(v->u.i < 0 ? -v->u.i : v->u.i);
        if (v->type == JV_FLOAT) return jv_float(v->u.f < 0 ? -v->u.f : v->u.f);
    }
    if (!strcmp(name, "list")) return need_list(v, name, e);
    if (!strcmp(name, "items")) {
        if (v->type == JV_DICT) return items_of(v);
        if (v->type == JV_UNDEF) return jv_list();
        err_set(e, "filter 'items' expects a dict, got %s", jv_type_name(v->type));
        return NULL;
    }
    if (!strcmp(name, "first") || !strcmp(name, "last")) {
        struct jv *l = need_list(v, name, e);
        if (!l) return NULL;
        struct jv *r = l->u.list.n ? jv_ref(l->u.list.v[name[0] == 'f' ? 0 : l->u.list.n - 1]) : jv_undef();
        jv_unref(l);
        return r;
    }
    if (!strcmp(name, "reverse")) {
        if (v->type == JV_STR) {
            struct jv *r = jv_strn(v->u.str.s, v->u.str.n);
            for (size_t i = 0; i < r->u.str.n / 2; i++) { char t = r->u.str.s[i]; r->u.str.s[i] = r->u.str.s[r->u.str.n - 1 - i]; r->u.str.s[r->u.str.n - 1 - i] = t; }
            return r;
        }
        struct jv *l = need_list(v, name, e), *r;
        if (!l) return NULL;
        r = jv_list();
        for (int i = l->u.list.n - 1; i >= 0; i--) jv_list_push(r, jv_ref(l->u.list.v[i]));
        jv_unref(l);
        return r;
    }
    if (!strcmp(name, "join")) {
        struct jv *l = need_list(v, name, e);
        if (!l) return NULL;
        struct jv *attr = jv_arg(a, 1, "attribute");
        struct jv *r = join(l, a0 && a0 != attr ? a0 : NULL, attr && attr->type == JV_STR ? attr->u.str.s : NULL);
        jv_unref(l);
        return r;
    }
    if (!strcmp(name, "map")) {
        struct jv *l = need_list(v, name, e);
        if (!l) return NULL;
        struct jv *attr = jv_arg(a, -1, "attribute"), *dflt = jv_arg(a, -1, "default");
        struct jv *r = jv_list();
        struct jv_args rest = {a->pos + 1, a->n_pos > 1 ? a->n_pos - 1 : 0, NULL, NULL, 0};
        for (int i = 0; i < l->u.list.n; i++) {
            struct jv *x;
            if (attr && attr->type == JV_STR) {
                x = jinja_getattr(l->u.list.v[i], attr->u.str.s);
                if (x->type == JV_UNDEF && dflt) x = jv_ref(dflt);
            } else if (a0 && a0->type == JV_STR) {
                if (jinja_nesting_enter(st)) { jv_unref(r); jv_unref(l); return NULL; }
                x = jinja_filter(st, a0->u.str.s, l->u.list.v[i], &rest, e);
                jinja_nesting_leave(st);
                if (!x) { jv_unref(r); jv_unref(l); return NULL; }
            } else {
                x = jv_ref(l->u.list.v[i]);
            }
            jv_list_push(r, x);
        }
        jv_unref(l);
        return r;
    }
    if (!strcmp(name, "select")) return select_items(v, a, 0, 1, name, e);
    if (!strcmp(name, "reject")) return select_items(v, a, 0, 0, name, e);
    if (!strcmp(name, "selectattr")) return select_items(v, a, 1, 1, name, e);
    if (!strcmp(name, "rejectattr")) return select_items(v, a, 1, 0, name, e);
    if (!strcmp(name, "unique")) {
        struct jv *l = need_list(v, name, e);
        if (!l) return NULL;
        struct jv *r = jv_list();
        for (int i = 0; i < l->u.list.n; i++) {
            int dup = 0;
            if (jx_charge(1 + (r->u.list.n >> 4))) break; /* quadratic: charge the comparisons */
            for (int k = 0; k < r->u.list.n && !dup; k++) dup = jv_equal(r->u.list.v[k], l->u.list.v[i]);
            if (!dup) jv_list_push(r, jv_ref(l->u.list.v[i]));
        }
        jv_unref(l);
        return r;
    }
    if (!strcmp(name, "sort")) {
        struct jv *l = need_list(v, name, e);
        if (!l) return NULL;
        struct jv *r = jv_list_copy(l), *rev = jv_arg(a, 0, "reverse"), *attr = jv_arg(a, 2, "attribute");
        jv_unref(l);
        struct sort_ctx c = {attr && attr->type == JV_STR ? attr->u.str.s : NULL, rev && jv_truthy(rev), 0};
        if (merge_sort(r->u.list.v, r->u.list.n, &c)) { jv_unref(r); err_set(e, "filter 'sort' cannot order these values"); return NULL; }
        return r;
    }
    if (!strcmp(name, "dictsort")) {
        if (v->type != JV_DICT) { err_set(e, "filter 'dictsort' expects a dict"); return NULL; }
        struct jv *r = items_of(v);
        for (int i = 0; i < r->u.list.n; i++) /* only when out of memory is a pair incomplete */
            if (r->u.list.v[i]->u.list.n != 2) { jv_unref(r); err_set(e, "out of memory"); return NULL; }
        struct sort_ctx c = {NULL, 0, 0}; /* (key, value) pairs order by key: keys are unique strings */
        if (merge_sort(r->u.list.v, r->u.list.n, &c)) { jv_unref(r); err_set(e, "filter 'dictsort' ran out of steps or memory"); return NULL; }
        return r;
    }
    /* string filters */
    if (v->type != JV_STR && (!strcmp(name, "trim") || !strcmp(name, "upper") || !strcmp(name, "lower") ||
                              !strcmp(name, "title") || !strcmp(name, "capitalize") || !strcmp(name, "replace") ||
                              !strcmp(name, "indent") || !strcmp(name, "e") || !strcmp(name, "escape"))) {
        struct jv *s = to_string(v), *r = jinja_filter(st, name, s, a, e);
        jv_unref(s);
        return r;
    }
    if (!strcmp(name, "trim")) return strip(v, a0, 3);
    if (!strcmp(name, "upper")) return change_case(v, 1);
    if (!strcmp(name, "lower")) return change_case(v, 0);
    if (!strcmp(name, "title")) return change_case(v, 2);
    if (!strcmp(name, "capitalize")) return change_case(v, 3);
    if (!strcmp(name, "indent")) return indent(v, a);
    if (!strcmp(name, "e") || !strcmp(name, "escape")) return escape_html(v);
    if (!strcmp(name, "replace")) {
        struct jv *from = jv_arg(a, 0, "old"), *to = jv_arg(a, 1, "new"), *cnt = jv_arg(a, 2, "count");
        if (!from || !to || from->type != JV_STR || to->type != JV_STR) { err_set(e, "replace() expects two strings"); return NULL; }
        return replace(v, from, to, cnt && cnt->type == JV_INT ? cnt->u.i : -1);
    }
    err_set(e, "unknown filter '%s'", name);
    return NULL;
}

int jinja_test(const char *name, struct jv *v, const struct jv_args *a, struct err *e) {
    struct jv *a0 = jv_arg(a, 0, NULL);
    enum jv_type t = v->type;
    if (!strcmp(name, "defined")) return t != JV_UNDEF;
    if (!strcmp(name, "undefined")) return t == JV_UNDEF;
    if (!strcmp(name, "none")) return t == JV_NONE;
    if (!strcmp(name, "boolean")) return t == JV_BOOL;
    if (!strcmp(name, "true")) return t == JV_BOOL && v->u.b;
    if (!strcmp(name, "false")) return t == JV_BOOL && !v->u.b;
    if (!strcmp(name, "string")) return t == JV_STR;
    if (!strcmp(name, "number")) return t == JV_INT || t == JV_FLOAT;
    if (!strcmp(name, "integer")) return t == JV_INT;
    if (!strcmp(name, "float")) return t == JV_FLOAT;
    if (!strcmp(name, "mapping")) return t == JV_DICT;
    if (!strcmp(name, "sequence")) return t == JV_LIST || t == JV_STR || t == JV_DICT;
    if (!strcmp(name, "iterable")) return t == JV_LIST || t == JV_STR || t == JV_DICT;
    if (!strcmp(name, "callable")) return t == JV_FUNC || t == JV_MACRO;
    if (!strcmp(name, "lower") || !strcmp(name, "upper")) {
        if (t != JV_STR) return 0;
        for (size_t i = 0; i < v->u.str.n; i++)
            if (name[0] == 'l' ? isupper((unsigned char)v->u.str.s[i]) : islower((unsigned char)v->u.str.s[i])) return 0;
        return 1;
    }
    if (!strcmp(name, "odd") || !strcmp(name, "even") || !strcmp(name, "divisibleby")) {
        if (t != JV_INT) { err_set(e, "test '%s' expects an integer", name); return -1; }
        if (name[0] == 'o') return (v->u.i & 1) != 0;
        if (name[0] == 'e') return (v->u.i & 1) == 0;
        if (!a0 || a0->type != JV_INT || a0->u.i == 0) { err_set(e, "test 'divisibleby' expects a non-zero integer"); return -1; }
        return v->u.i % a0->u.i == 0;
    }
    if (!a0 && (!strcmp(name, "eq") || !strcmp(name, "equalto") || !strcmp(name, "==") || !strcmp(name, "sameas") ||
                !strcmp(name, "ne") || !strcmp(name, "in") || !strcmp(name, "lt") || !strcmp(name, "gt") ||
                !strcmp(name, "le") || !strcmp(name, "ge"))) {
        err_set(e, "test '%s' needs an argument", name);
        return -1;
    }
    if (!strcmp(name, "eq") || !strcmp(name, "equalto") || !strcmp(name, "==")) return jv_equal(v, a0);
    if (!strcmp(name, "sameas")) return jv_equal(v, a0) && v->type == a0->type;
    if (!strcmp(name, "ne") || !strcmp(name, "!=")) return !jv_equal(v, a0);
    if (!strcmp(name, "in")) {
        jx_charge(a0->type == JV_LIST ? a0->u.list.n >> 4 : a0->type == JV_STR ? (long)(a0->u.str.n >> 8) : 0);
        if (a0->type == JV_LIST) { for (int i = 0; i < a0->u.list.n; i++) if (jv_equal(a0->u.list.v[i], v)) return 1; return 0; }
        if (a0->type == JV_DICT) return v->type == JV_STR && jv_dict_get(a0, v->u.str.s) != NULL;
        if (a0->type == JV_STR && v->type == JV_STR) return memmem(a0->u.str.s, a0->u.str.n, v->u.str.s, v->u.str.n) != NULL;
        return 0;
    }
    if (!strcmp(name, "lt") || !strcmp(name, "gt") || !strcmp(name, "le") || !strcmp(name, "ge")) {
        int ok, c = jv_compare(v, a0, &ok);
        if (!ok) { err_set(e, "test '%s' cannot compare %s with %s", name, jv_type_name(t), jv_type_name(a0->type)); return -1; }
        return name[0] == 'l' ? (name[1] == 't' ? c < 0 : c <= 0) : (name[1] == 't' ? c > 0 : c >= 0);
    }
    err_set(e, "unknown test '%s'", name);
    return -1;
}

struct jv *jinja_method(struct jv *obj, const char *name, const struct jv_args *a, int *found, struct err *e) {
    struct jv *a0 = jv_arg(a, 0, NULL), *a1 = jv_arg(a, 1, NULL);
    *found = 1;
    if (obj->type == JV_STR) {
        if (!strcmp(name, "strip")) return strip(obj, a0, 3);
        if (!strcmp(name, "lstrip")) return strip(obj, a0, 1);
        if (!strcmp(name, "rstrip")) return strip(obj, a0, 2);
        if (!strcmp(name, "upper")) return change_case(obj, 1);
        if (!strcmp(name, "lower")) return change_case(obj, 0);
        if (!strcmp(name, "title")) return change_case(obj, 2);
        if (!strcmp(name, "capitalize")) return change_case(obj, 3);
        if (!strcmp(name, "split")) {
            struct jv *sep = jv_arg(a, 0, "sep"), *mx = jv_arg(a, 1, "maxsplit");
            if (sep && sep->type == JV_STR && sep->u.str.n == 0) { err_set(e, "split(): empty separator"); return NULL; }
            return split(obj, sep, mx && mx->type == JV_INT ? mx->u.i : -1);
        }
        if (!strcmp(name, "startswith") || !strcmp(name, "endswith")) {
            if (!a0) { err_set(e, "%s() needs an argument", name); return NULL; }
            return jv_bool(affix(obj, a0, name[0] == 'e'));
        }
        if (!strcmp(name, "replace")) {
            if (!a0 || !a1 || a0->type != JV_STR || a1->type != JV_STR) { err_set(e, "replace() expects two strings"); return NULL; }
            struct jv *cnt = jv_arg(a, 2, NULL);
            return replace(obj, a0, a1, cnt && cnt->type == JV_INT ? cnt->u.i : -1);
        }
        if (!strcmp(name, "join")) {
            if (!a0 || a0->type != JV_LIST) { err_set(e, "join() expects a list"); return NULL; }
            return join(a0, obj, NULL);
        }
        if (!strcmp(name, "find") || !strcmp(name, "count")) {
            if (!a0 || a0->type != JV_STR) { err_set(e, "%s() expects a string", name); return NULL; }
            jx_charge((long)(obj->u.str.n >> 8));
            if (name[0] == 'f') {
                const char *p = memmem(obj->u.str.s, obj->u.str.n, a0->u.str.s, a0->u.str.n);
                return jv_int(p ? (long long)(p - obj->u.str.s) : -1);
            }
            long long c = 0;
            const char *p = obj->u.str.s, *end = p + obj->u.str.n;
            while (a0->u.str.n && (p = memmem(p, (size_t)(end - p), a0->u.str.s, a0->u.str.n))) { c++; p += a0->u.str.n; }
            return jv_int(c);
        }
        if (!strcmp(name, "isdigit") || !strcmp(name, "isspace") || !strcmp(name, "isalpha")) {
            if (!obj->u.str.n) return jv_bool(0);
            for (size_t i = 0; i < obj->u.str.n; i++) {
                int c = (unsigned char)obj->u.str.s[i];
                if (!(name[2] == 'd' ? isdigit(c) : name[2] == 's' ? isspace(c) : isalpha(c))) return jv_bool(0);
            }
            return jv_bool(1);
        }
    } else if (obj->type == JV_DICT) {
        if (!strcmp(name, "items")) return items_of(obj);
        if (!strcmp(name, "keys") || !strcmp(name, "values")) {
            struct jv *l = jv_list();
            for (int i = 0; i < obj->u.dict.n; i++)
                jv_list_push(l, name[0] == 'k' ? jv_str(obj->u.dict.k[i]) : jv_ref(obj->u.dict.v[i]));
            return l;
        }
        if (!strcmp(name, "get")) {
            if (!a0 || a0->type != JV_STR) { err_set(e, "get() expects a key string"); return NULL; }
            struct jv *v = jv_dict_get(obj, a0->u.str.s);
            return v ? jv_ref(v) : a1 ? jv_ref(a1) : jv_none();
        }
        if (jv_dict_get(obj, name)) { *found = 0; return NULL; } /* a stored macro/function */
    } else if (obj->type == JV_LIST) {
        if (!strcmp(name, "append")) {
            if (!a0) { err_set(e, "append() needs an argument"); return NULL; }
            if (jv_would_nest_badly(obj, a0)) {
                err_set(e, "append(): the list would contain itself or nest deeper than %d levels", JV_MAX_NESTING);
                return NULL;
            }
            jv_list_push(obj, jv_ref(a0));
            return jv_none();
        }
        if (!strcmp(name, "pop")) {
            if (!obj->u.list.n) { err_set(e, "pop() from an empty list"); return NULL; }
            long long i = a0 && a0->type == JV_INT ? a0->u.i : obj->u.list.n - 1;
            if (i < 0) i += obj->u.list.n;
            if (i < 0 || i >= obj->u.list.n) { err_set(e, "pop() index out of range"); return NULL; }
            struct jv *v = obj->u.list.v[i];
            memmove(obj->u.list.v + i, obj->u.list.v + i + 1, sizeof(struct jv *) * (size_t)(obj->u.list.n - i - 1));
            obj->u.list.n--;
            return v;
        }
        if (!strcmp(name, "index")) {
            jx_charge(obj->u.list.n >> 4);
            for (int i = 0; a0 && i < obj->u.list.n; i++) if (jv_equal(obj->u.list.v[i], a0)) return jv_int(i);
            err_set(e, "index(): value not in list");
            return NULL;
        }
    }
    *found = 0;
    return NULL;
}
