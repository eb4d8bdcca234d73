/* The tool-call parsers, one per family syntax (see toolcall.h). Each scans the reply
 * for its call markers, reads the JSON (or Python-style) call after each, and keeps
 * everything else as content. A marker whose call does not parse is content too, so a
 * malformed reply comes back as text, never an error. While streaming (partial), a tail
 * that may still become a marker is held back and an unfinished call is reported with
 * the arguments written so far: they only grow, so the stream can send the difference. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/toolcall.h"

struct sbuf { char *p; size_t n, cap; int oom; };

static void sb_add(struct sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t c = (b->cap ? b->cap * 2 : 64) + n;
        char *q = realloc(b->p, c);
        if (!q) { b->oom = 1; return; }
        b->p = q;
        b->cap = c;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void sb_str(struct sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }
static char *sb_take(struct sbuf *b) {
    if (!b->p && !b->oom) sb_add(b, "", 0);
    if (b->oom) { free(b->p); b->p = NULL; }
    char *p = b->p;
    b->p = NULL;
    b->n = b->cap = 0;
    return p;
}

static int is_ws(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }
static size_t skip_ws(const char *s, size_t n, size_t i) {
    while (i < n && is_ws(s[i])) i++;
    return i;
}

/* The end of the JSON value starting at s[i] (after whitespace): *complete = 1 and the
 * index after it, or *complete = 0 and n when the text ends inside it. Returns (size_t)-1
 * when s[i] cannot start or continue a value. Only the structure is checked here; the
 * caller parses complete values with cJSON. */
static size_t json_value_end(const char *s, size_t n, size_t i, int *complete) {
    *complete = 0;
    i = skip_ws(s, n, i);
    if (i >= n) return n;
    char c = s[i];
    if (c == '"') {
        for (size_t k = i + 1; k < n; k++) {
            if (s[k] == '\\') { k++; continue; }
            if (s[k] == '"') { *complete = 1; return k + 1; }
        }
        return n;
    }
    if (c == '{' || c == '[') {
        int depth = 0;
        for (size_t k = i; k < n; k++) {
            char d = s[k];
            if (d == '"') {
                size_t q = k + 1;
                while (q < n && s[q] != '"') q += s[q] == '\\' ? 2 : 1;
                if (q >= n) return n;
                k = q;
            } else if (d == '{' || d == '[') depth++;
            else if (d == '}' || d == ']') {
                if (--depth == 0) { *complete = 1; return k + 1; }
            }
        }
        return n;
    }
    if (c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n') {
        size_t k = i;
        while (k < n && (isalnum((unsigned char)s[k]) || s[k] == '-' || s[k] == '+' || s[k] == '.')) k++;
        if (k < n) *complete = 1;
        return k;
    }
    return (size_t)-1;
}

static int add_call(struct tool_parse *out, const char *name, size_t name_len, const char *args, size_t args_len,
                    int complete) {
    struct tool_call *c = realloc(out->calls, (size_t)(out->n_calls + 1) * sizeof *c);
    if (!c) return -1;
    out->calls = c;
    c += out->n_calls;
    c->name = strndup(name, name_len);
    c->arguments = strndup(args, args_len);
    c->complete = complete;
    if (!c->name || !c->arguments) { free(c->name); free(c->arguments); return -1; }
    out->n_calls++;
    return 0;
}

/* Where a call object {"name": …, "arguments"/"parameters": …} is, read by scanning its
 * members (the order the model chose). Returns 1 with the spans when the name is known
 * (args_len 0 while the arguments have not begun), 0 when it is not a call object (or the
 * text ends before the name), -1 when it cannot be one. *end: after the object. */
struct call_span { const char *name, *args; size_t name_len, args_len; int args_done, obj_done; size_t end; };

static int scan_call_object(const char *s, size_t n, size_t i, struct call_span *cs) {
    memset(cs, 0, sizeof *cs);
    i = skip_ws(s, n, i);
    if (i >= n) return 0;
    if (s[i] != '{') return -1;
    i++;
    int have_name = 0;
    for (;;) {
        i = skip_ws(s, n, i);
        if (i >= n) return have_name;
        if (s[i] == '}') { cs->obj_done = 1; cs->end = i + 1; return have_name ? 1 : -1; }
        if (s[i] == ',') { i++; continue; }
        if (s[i] != '"') return -1;
        int done;
        size_t ke = json_value_end(s, n, i, &done);
        if (!done) return have_name;
        const char *key = s + i + 1;
        size_t klen = ke - i - 2;
        i = skip_ws(s, n, ke);
        if (i >= n) return have_name;
        if (s[i] != ':') return -1;
        i = skip_ws(s, n, i + 1);
        if (i >= n) return have_name;
        size_t ve = json_value_end(s, n, i, &done);
        if (ve == (size_t)-1) return -1;
        if ((klen == 4 && !memcmp(key, "name", 4)) || (klen == 8 && !memcmp(key, "function", 8))) {
            if (s[i] != '"') {
                /* {"function": {"name", "arguments"}} (OpenAI's own shape) */
                if (s[i] == '{' && klen == 8) {
                    struct call_span inner;
                    int r = scan_call_object(s, n, i, &inner);
                    if (r != 1) return r;
                    cs->name = inner.name; cs->name_len = inner.name_len;
                    cs->args = inner.args; cs->args_len = inner.args_len; cs->args_done = inner.args_done;
                    have_name = 1;
                    if (!inner.obj_done) return 1;
                    i = inner.end;
                    continue;
                }
                return -1;
            }
            if (!done) return have_name;
            cs->name = s + i + 1;
            cs->name_len = ve - i - 2;
            have_name = 1;
        } else if ((klen == 9 && !memcmp(key, "arguments", 9)) || (klen == 10 && !memcmp(key, "parameters", 10))) {
            cs->args = s + i;
            cs->args_len = ve - i;
            cs->args_done = done;
            if (!done) return have_name;
        }
        if (!done) return have_name;
        i = ve;
    }
}

/* The arguments as JSON text: an object as written; a string that holds an object (some
 * models quote them) unquoted; nothing → "{}". Complete values only. */
static char *normalise_args(const char *a, size_t n) {
    while (n && is_ws(a[n - 1])) n--;
    if (!n) return strdup("{}");
    if (a[0] == '"') {
        cJSON *j = cJSON_ParseWithLength(a, n);
        if (cJSON_IsString(j)) {
            cJSON *o = cJSON_Parse(j->valuestring);
            if (cJSON_IsObject(o)) { cJSON_Delete(o); char *r = strdup(j->valuestring); cJSON_Delete(j); return r; }
            cJSON_Delete(o);
        }
        cJSON_Delete(j);
    }
    return strndup(a, n);
}

/* Reads one call object at s[i]; adds it and returns 1 (*end after it), 0 when the text
 * ends before it is known (partial), -1 when it is not a call. */
static int take_call_object(const char *s, size_t n, size_t i, int partial, struct tool_parse *out, size_t *end,
                            int *oom) {
    struct call_span cs;
    int r = scan_call_object(s, n, i, &cs);
    if (r < 0) return -1;
    if (r == 0 || !cs.obj_done) {
        if (!partial || r == 0) return r == 0 && partial ? 0 : -1;
        /* streaming: an unfinished call with its name known */
        const char *a = cs.args ? cs.args : "";
        size_t al = cs.args ? cs.args_len : 0;
        if (cs.args && cs.args_done) while (al && is_ws(a[al - 1])) al--;
        if (al && a[0] == '"') al = 0;   /* quoted arguments are unquoted once complete */
        if (add_call(out, cs.name, cs.name_len, a, al, 0)) *oom = 1;
        *end = n;
        return 1;
    }
    /* complete: the object must be valid JSON with a string name and object arguments */
    cJSON *j = cJSON_ParseWithLength(s + skip_ws(s, n, i), cs.end - skip_ws(s, n, i));
    int ok = cJSON_IsObject(j) && cs.name;
    if (ok && cs.args) {
        cJSON *a = cJSON_ParseWithLength(cs.args, cs.args_len);
        ok = cJSON_IsObject(a) || (cJSON_IsString(a) && a->valuestring[0] != 0);
        if (cJSON_IsString(a)) {
            cJSON *o = cJSON_Parse(a->valuestring);
            ok = cJSON_IsObject(o);
            cJSON_Delete(o);
        }
        cJSON_Delete(a);
    }
    cJSON_Delete(j);
    if (!ok) return -1;
    char *args = cs.args ? normalise_args(cs.args, cs.args_len) : strdup("{}");
    if (!args || add_call(out, cs.name, cs.name_len, args, strlen(args), 1)) *oom = 1;
    free(args);
    *end = cs.end;
    return 1;
}

static void mark_unfinished(struct tool_parse *out, int n0) {
    for (int k = n0; k < out->n_calls; k++) out->calls[k].complete = 0;
}

/* A JSON array of call objects at s[i]. Returns as take_call_object. While streaming,
 * the calls of an array not yet closed are unfinished: a later element may still make
 * the whole array fail (then all of it is content). */
static int take_call_array(const char *s, size_t n, size_t i, int partial, struct tool_parse *out, size_t *end,
                           int *oom) {
    i = skip_ws(s, n, i);
    if (i >= n) return partial ? 0 : -1;
    if (s[i] != '[') return -1;
    int n0 = out->n_calls;
    i++;
    for (;;) {
        i = skip_ws(s, n, i);
        if (i >= n) { *end = n; mark_unfinished(out, n0); return partial ? 1 : -1; }
        if (s[i] == ']') { *end = i + 1; return out->n_calls > n0 ? 1 : -1; }
        if (s[i] == ',') { i++; continue; }
        size_t e;
        int r = take_call_object(s, n, i, partial, out, &e, oom);
        if (r <= 0) {
            if (r == 0) { *end = n; mark_unfinished(out, n0); return 1; }
            return -1;
        }
        if (e >= n && partial) { *end = n; mark_unfinished(out, n0); return 1; }
        i = e;
    }
}

/* Length of the longest suffix of s[0..n) that is a proper prefix of tag. */
static size_t partial_tag(const char *s, size_t n, const char *tag) {
    size_t t = strlen(tag);
    for (size_t k = t - 1 < n ? t - 1 : n; k > 0; k--)
        if (!memcmp(s + n - k, tag, k)) return k;
    return 0;
}

static void drop_calls_from(struct tool_parse *out, int n0) {
    while (out->n_calls > n0) {
        out->n_calls--;
        free(out->calls[out->n_calls].name);
        free(out->calls[out->n_calls].arguments);
    }
}

/* ---- Python-style calls: name(k=v, …) (Llama's <|python_tag|>, Gemma's tool_code) ---- */

/* One Python literal at s[*i] → JSON appended to b. 0 or -1. */
static int py_value(const char *s, size_t n, size_t *i, struct sbuf *b, int depth) {
    size_t k = skip_ws(s, n, *i);
    if (k >= n || depth > 16) return -1;
    char c = s[k];
    if (c == '"' || c == '\'') {
        struct sbuf raw = {0};
        size_t q = k + 1;
        for (; q < n && s[q] != c; q++) {
            if (s[q] == '\\' && q + 1 < n) {
                q++;
                char e = s[q];
                char ch = e == 'n' ? '\n' : e == 't' ? '\t' : e;
                sb_add(&raw, &ch, 1);
            } else sb_add(&raw, s + q, 1);
        }
        if (q >= n) { free(raw.p); return -1; }
        char *t = sb_take(&raw);
        cJSON *js = t ? cJSON_CreateString(t) : NULL;
        char *p = js ? cJSON_PrintUnformatted(js) : NULL;
        free(t);
        cJSON_Delete(js);
        if (!p) return -1;
        sb_str(b, p);
        cJSON_free(p);
        *i = q + 1;
        return 0;
    }
    if (c == '[' || c == '{' || c == '(') {
        char close = c == '[' ? ']' : c == '{' ? '}' : ')';
        sb_add(b, c == '{' ? "{" : "[", 1);
        k++;
        int first = 1;
        for (;;) {
            k = skip_ws(s, n, k);
            if (k >= n) return -1;
            if (s[k] == close) { k++; break; }
            if (!first) {
                if (s[k] != ',') return -1;
                k = skip_ws(s, n, k + 1);
                if (k < n && s[k] == close) { k++; break; }
                sb_add(b, ",", 1);
            }
            first = 0;
            if (py_value(s, n, &k, b, depth + 1)) return -1;
            if (c == '{') {
                k = skip_ws(s, n, k);
                if (k >= n || s[k] != ':') return -1;
                sb_add(b, ":", 1);
                k++;
                if (py_value(s, n, &k, b, depth + 1)) return -1;
            }
        }
        sb_add(b, c == '{' ? "}" : "]", 1);
        *i = k;
        return 0;
    }
    size_t q = k;
    while (q < n && (isalnum((unsigned char)s[q]) || s[q] == '.' || s[q] == '-' || s[q] == '+' || s[q] == '_')) q++;
    if (q == k) return -1;
    if (q - k == 4 && !memcmp(s + k, "True", 4)) sb_str(b, "true");
    else if (q - k == 5 && !memcmp(s + k, "False", 5)) sb_str(b, "false");
    else if (q - k == 4 && !memcmp(s + k, "None", 4)) sb_str(b, "null");
    else {
        char *num = strndup(s + k, q - k);
        cJSON *j = num ? cJSON_ParseWithOpts(num, NULL, 1) : NULL;   /* all of it a number */
        int ok = cJSON_IsNumber(j) || cJSON_IsBool(j) || cJSON_IsNull(j);
        cJSON_Delete(j);
        if (ok) sb_str(b, num);
        free(num);
        if (!ok) return -1;
    }
    *i = q;
    return 0;
}

/* name(k=v, …) or name.call(k=v, …) at s[*i]: adds the call. 0 or -1. */
static int py_call(const char *s, size_t n, size_t *i, struct tool_parse *out, int *oom) {
    size_t k = skip_ws(s, n, *i), ns = k;
    while (k < n && (isalnum((unsigned char)s[k]) || s[k] == '_' || s[k] == '-' || s[k] == '.')) k++;
    size_t ne = k;
    if (ne == ns || k >= n || s[k] != '(') return -1;
    if (ne - ns > 5 && !memcmp(s + ne - 5, ".call", 5)) ne -= 5;
    k++;
    struct sbuf b = {0};
    sb_add(&b, "{", 1);
    int first = 1;
    for (;;) {
        k = skip_ws(s, n, k);
        if (k >= n) { free(b.p); return -1; }
        if (s[k] == ')') { k++; break; }
        if (!first) {
            if (s[k] != ',') { free(b.p); return -1; }
            k = skip_ws(s, n, k + 1);
            if (k < n && s[k] == ')') { k++; break; }
            sb_add(&b, ",", 1);
        }
        first = 0;
        size_t a = k;
        while (k < n && (isalnum((unsigned char)s[k]) || s[k] == '_')) k++;
        size_t ae = k;
        k = skip_ws(s, n, k);
        if (ae == a || k >= n || s[k] != '=') { free(b.p); return -1; }
        k++;
        sb_add(&b, "\"", 1);
        sb_add(&b, s + a, ae - a);
        sb_add(&b, "\":", 2);
        if (py_value(s, n, &k, &b, 0)) { free(b.p); return -1; }
    }
    sb_add(&b, "}", 1);
    char *args = sb_take(&b);
    if (!args) { *oom = 1; return -1; }
    if (add_call(out, s + ns, ne - ns, args, strlen(args), 1)) *oom = 1;
    free(args);
    *i = k;
    return 0;
}

/* [name(…), name(…)] or a run of calls separated by newlines / ';' over s[i..n): all or
 * nothing. 1 when at least one call was read and nothing else is there, else 0. */
static int py_calls(const char *s, size_t n, size_t i, struct tool_parse *out, int *oom) {
    int n0 = out->n_calls;
    i = skip_ws(s, n, i);
    int bracket = i < n && s[i] == '[';
    if (bracket) i++;
    for (;;) {
        i = skip_ws(s, n, i);
        if (i >= n) break;
        if (bracket && s[i] == ']') { i = skip_ws(s, n, i + 1); bracket = 2; break; }
        if (s[i] == ',' || s[i] == ';') { i++; continue; }
        if (n - i > 6 && !memcmp(s + i, "print(", 6)) {   /* tool_code's print(f(x)) */
            size_t k = i + 6;
            if (py_call(s, n, &k, out, oom)) break;
            k = skip_ws(s, n, k);
            if (k >= n || s[k] != ')') break;
            i = k + 1;
            continue;
        }
        if (py_call(s, n, &i, out, oom)) break;
    }
    if (i < n || bracket == 1 || out->n_calls == n0) { drop_calls_from(out, n0); return 0; }
    return 1;
}

/* ---- the families ---- */

struct block_syntax { const char *open, *close; int array; };

/* Calls in open…close blocks (Hermes, Phi-4); text elsewhere is content. */
static int parse_blocks(const struct block_syntax *bs, const char *s, size_t n, int partial, struct tool_parse *out,
                        struct sbuf *content, int *oom) {
    size_t i = 0, ol = strlen(bs->open), cl = strlen(bs->close);
    while (i < n) {
        const char *o = memmem(s + i, n - i, bs->open, ol);
        if (!o) {
            size_t keep = partial ? partial_tag(s + i, n - i, bs->open) : 0;
            sb_add(content, s + i, n - i - keep);
            break;
        }
        size_t at = (size_t)(o - s);
        sb_add(content, s + i, at - i);
        size_t j = at + ol, e = 0;
        int n0 = out->n_calls;
        int r = bs->array && skip_ws(s, n, j) < n && s[skip_ws(s, n, j)] == '['
                    ? take_call_array(s, n, j, partial, out, &e, oom)
                    : take_call_object(s, n, j, partial, out, &e, oom);
        if (r == 0) break;                       /* streaming: not known yet */
        if (r < 0) {                             /* not a call: the marker is content */
            drop_calls_from(out, n0);
            if (partial) break;                  /* it may still become one */
            sb_add(content, s + at, ol);
            i = j;
            continue;
        }
        if (e >= n) break;
        e = skip_ws(s, n, e);
        if (n - e >= cl && !memcmp(s + e, bs->close, cl)) e += cl;
        else if (partial && partial_tag(s + e, n - e, bs->close) == n - e) break;
        i = e;
        while (i < n && is_ws(s[i])) i++;
    }
    return 0;
}

static int parse_qwen3_coder(const char *s, size_t n, int partial, struct tool_parse *out, struct sbuf *content,
                             int *oom) {
    static const char OPEN[] = "<tool_call>";
    size_t i = 0;
    while (i < n) {
        const char *o = memmem(s + i, n - i, OPEN, 11);
        if (!o) {
            sb_add(content, s + i, n - i - (partial ? partial_tag(s + i, n - i, OPEN) : 0));
            break;
        }
        size_t at = (size_t)(o - s), j = skip_ws(s, n, at + 11);
        sb_add(content, s + i, at - i);
        if (n - j < 10 || memcmp(s + j, "<function=", 10)) {
            if (partial) break;
            sb_add(content, s + at, 11);
            i = at + 11;
            continue;
        }
        const char *gt = memchr(s + j + 10, '>', n - j - 10);
        if (!gt) break;
        size_t name_s = j + 10, name_e = (size_t)(gt - s);
        struct sbuf args = {0};
        sb_add(&args, "{", 1);
        size_t k = name_e + 1;
        int nparam = 0, done = 0, bad = 0;
        for (;;) {
            k = skip_ws(s, n, k);
            if (n - k >= 11 && !memcmp(s + k, "</function>", 11)) { k += 11; done = 1; break; }
            if (n - k < 11 || memcmp(s + k, "<parameter=", 11)) { bad = k < n && !(partial && partial_tag(s + k, n - k, "<parameter=") == n - k) && !(partial && partial_tag(s + k, n - k, "</function>") == n - k); break; }
            const char *pg = memchr(s + k + 11, '>', n - k - 11);
            if (!pg) break;
            size_t vs = (size_t)(pg - s) + 1;
            const char *pe = memmem(s + vs, n - vs, "</parameter>", 12);
            if (!pe) break;
            size_t ve = (size_t)(pe - s);
            if (vs < ve && s[vs] == '\n') vs++;
            if (ve > vs && s[ve - 1] == '\n') ve--;
            cJSON *key = cJSON_CreateString("");
            char *kname = strndup(s + k + 11, (size_t)(pg - s) - k - 11);
            char *val = strndup(s + vs, ve - vs);
            cJSON *jv = val ? cJSON_Parse(val) : NULL;
            if (!jv && val) jv = cJSON_CreateString(val);
            char *kt = NULL, *vt = jv ? cJSON_PrintUnformatted(jv) : NULL;
            if (key && kname) { cJSON_SetValuestring(key, kname); kt = cJSON_PrintUnformatted(key); }
            if (!kt || !vt) *oom = 1;
            else {
                if (nparam++) sb_add(&args, ", ", 2);
                sb_str(&args, kt);
                sb_add(&args, ": ", 2);
                sb_str(&args, vt);
            }
            cJSON_free(kt);
            cJSON_free(vt);
            cJSON_Delete(jv);
            cJSON_Delete(key);
            free(kname);
            free(val);
            k = ve + 12 + (ve < n && s[ve] == '\n');
            k = (size_t)(pe - s) + 12;
        }
        if (!done && !partial) bad = 1;   /* the reply ended inside the call */
        if (bad) {
            free(args.p);
            if (partial) break;
            sb_add(content, s + at, 11);
            i = at + 11;
            continue;
        }
        if (done) sb_add(&args, "}", 1);
        char *a = sb_take(&args);
        if (!a || add_call(out, s + name_s, name_e - name_s, a, strlen(a), done)) *oom = 1;
        free(a);
        if (!done) break;
        k = skip_ws(s, n, k);
        if (n - k >= 12 && !memcmp(s + k, "</tool_call>", 12)) k += 12;
        else if (partial && k < n && partial_tag(s + k, n - k, "</tool_call>") == n - k) break;
        i = skip_ws(s, n, k);
    }
    return 0;
}

/* Llama 3.x: the whole reply is a call object (or calls separated by ';'), or text then
 * <|python_tag|> and calls (JSON or NAME.call(…)). */
static int parse_llama3(const char *s, size_t n, int partial, struct tool_parse *out, struct sbuf *content, int *oom) {
    static const char TAG[] = "<|python_tag|>";
    const char *t = memmem(s, n, TAG, 14);
    size_t start = 0;
    if (t) {
        sb_add(content, s, (size_t)(t - s));
        start = (size_t)(t - s) + 14;
    } else {
        size_t w = skip_ws(s, n, 0);
        if (w >= n) {
            if (!partial) sb_add(content, s, n);
            return 0;
        }
        if (s[w] != '{') {
            sb_add(content, s, n - (partial ? partial_tag(s, n, TAG) : 0));
            return 0;
        }
    }
    size_t i = start;
    int n0 = out->n_calls;
    for (;;) {
        i = skip_ws(s, n, i);
        if (i >= n) break;
        if (s[i] == ';') { i++; continue; }
        if (s[i] == '{') {
            size_t e;
            int r = take_call_object(s, n, i, partial, out, &e, oom);
            if (r == 0) return 0;
            if (r < 0) goto not_calls;
            i = e;
            continue;
        }
        if (t) {
            if (py_calls(s, n, i, out, oom)) {
                if (partial) mark_unfinished(out, n0);   /* what follows may still spoil them */
                return 0;
            }
            if (partial) return 0;
        }
        goto not_calls;
    }
    if (out->n_calls > n0 || partial) return 0;
not_calls:
    drop_calls_from(out, n0);
    if (partial) return 0;
    sb_add(content, s + start - (t ? 14 : 0), n - start + (t ? 14 : 0));
    return 0;
}

static int parse_mistral(const char *s, size_t n, int partial, struct tool_parse *out, struct sbuf *content, int *oom) {
    static const char TAG[] = "[TOOL_CALLS]";
    size_t i = 0;
    while (i < n) {
        const char *t = memmem(s + i, n - i, TAG, 12);
        if (!t) {
            sb_add(content, s + i, n - i - (partial ? partial_tag(s + i, n - i, TAG) : 0));
            break;
        }
        size_t at = (size_t)(t - s), j = skip_ws(s, n, at + 12);
        sb_add(content, s + i, at - i);
        if (j >= n) break;
        size_t e = 0;
        int n0 = out->n_calls, r;
        if (s[j] == '[') r = take_call_array(s, n, j, partial, out, &e, oom);
        else {
            /* NAME[ARGS]{…} (optionally NAME[CALL_ID]id[ARGS]{…}) */
            const char *a = memmem(s + j, n - j, "[ARGS]", 6);
            if (!a) { r = partial ? 0 : -1; }
            else {
                size_t ne = (size_t)(a - s);
                const char *ci = memmem(s + j, ne - j, "[CALL_ID]", 9);
                size_t name_e = ci ? (size_t)(ci - s) : ne;
                size_t vs = ne + 6;
                int done;
                size_t ve = json_value_end(s, n, vs, &done);
                r = -1;
                if (ve != (size_t)-1 && name_e > j && (done || partial)) {
                    size_t v0 = skip_ws(s, n, vs);
                    cJSON *js = done ? cJSON_ParseWithLength(s + v0, ve - v0) : NULL;
                    if (!done || cJSON_IsObject(js)) {
                        if (add_call(out, s + j, name_e - j, s + v0, ve - v0, done)) *oom = 1;
                        r = 1;
                        e = ve;
                    }
                    cJSON_Delete(js);
                }
            }
        }
        if (r == 0) break;
        if (r < 0) {
            drop_calls_from(out, n0);
            if (partial) break;
            sb_add(content, s + at, 12);
            i = at + 12;
            continue;
        }
        i = skip_ws(s, n, e);
    }
    return 0;
}

/* gpt-oss: the answer text carries each call's header (the reasoning splitter keeps a
 * header that addresses a recipient): …to=functions.NAME … <|message|>{…}. */
static int parse_gpt_oss(const char *s, size_t n, int partial, struct tool_parse *out, struct sbuf *content,
                         int *oom) {
    static const char TO[] = "to=functions.";
    size_t i = 0;
    while (i < n) {
        const char *t = memmem(s + i, n - i, TO, 13);
        if (!t) {
            size_t cut = n;
            if (partial) {
                /* a header may be coming: hold back from its start */
                static const char *const MARKS[] = {"<|channel|>", "<|start|>", TO};
                for (int m = 0; m < 3; m++) {
                    size_t ml = strlen(MARKS[m]);
                    for (size_t k = i; k + ml <= n; k++)
                        if (!memcmp(s + k, MARKS[m], ml) && k < cut) { cut = k; break; }
                    size_t pt = partial_tag(s + i, n - i, MARKS[m]);
                    if (pt && n - pt < cut) cut = n - pt;
                }
            }
            sb_add(content, s + i, cut - i);
            break;
        }
        /* the header starts at a preceding <|channel|> or <|start|> when there is one */
        size_t at = (size_t)(t - s), hs = at;
        for (size_t k = at; k > i; k--) {
            if (k - i >= 11 && !memcmp(s + k - 11, "<|channel|>", 11)) { hs = k - 11; break; }
            if (k - i >= 9 && !memcmp(s + k - 9, "<|start|>", 9)) { hs = k - 9; break; }
            if (s[k - 1] == '>' || s[k - 1] == '\n') break;
        }
        if (hs - i >= 18 && !memcmp(s + hs - 18, "<|start|>assistant", 18)) hs -= 18;
        sb_add(content, s + i, hs - i);
        size_t ns = at + 13, ne = ns;
        while (ne < n && !is_ws(s[ne]) && s[ne] != '<') ne++;
        const char *m = memmem(s + ne, n - ne, "<|message|>", 11);
        if (!m || ne == ns) {
            if (partial) break;
            sb_add(content, s + hs, n - hs);
            break;
        }
        size_t vs = (size_t)(m - s) + 11;
        int done;
        size_t ve = json_value_end(s, n, vs, &done);
        size_t v0 = skip_ws(s, n, vs);
        cJSON *js = done ? cJSON_ParseWithLength(s + v0, ve - v0) : NULL;
        if (ve == (size_t)-1 || (!done && !partial) || (done && !cJSON_IsObject(js))) {
            cJSON_Delete(js);
            if (partial) break;
            sb_add(content, s + hs, vs - hs);
            i = vs;
            continue;
        }
        cJSON_Delete(js);
        if (add_call(out, s + ns, ne - ns, s + v0, ve - v0, done)) *oom = 1;
        i = ve;
        if (n - i >= 8 && !memcmp(s + i, "<|call|>", 8)) i += 8;
        else if (partial && i < n && partial_tag(s + i, n - i, "<|call|>") == n - i) break;
        i = skip_ws(s, n, i);
    }
    return 0;
}

/* Templates without tools: {"tool_calls": [...]} (our instruction), one call object,
 * fenced or not; or Python-style calls. The whole reply or nothing. */
static int parse_generic(const char *s, size_t n, int partial, struct tool_parse *out, struct sbuf *content,
                         int *oom) {
    size_t i = skip_ws(s, n, 0), e = n;
    while (e > i && is_ws(s[e - 1])) e--;
    int fenced = 0, code = 0;
    if (e - i >= 3 && !memcmp(s + i, "```", 3)) {
        size_t k = i + 3, ls = k;
        while (k < e && s[k] != '\n') k++;
        code = (k - ls == 9 && !memcmp(s + ls, "tool_code", 9)) || (k - ls == 6 && !memcmp(s + ls, "python", 6));
        if (k < e) {
            fenced = 1;
            i = k + 1;
            if (e - i >= 3 && !memcmp(s + e - 3, "```", 3)) e -= 3;
            else if (!partial) fenced = 0;
        } else if (partial) return 0;
    }
    if (partial) {
        /* decided at the end, except that plain text can be released at once */
        if (i < n && s[i] != '{' && s[i] != '[' && !fenced) {
            /* text that may still be a Python-style call (name, then '(') waits for the end */
            size_t w = skip_ws(s, n, 0), k = w;
            while (k < n && (isalnum((unsigned char)s[k]) || s[k] == '_' || s[k] == '.' || s[k] == '-')) k++;
            int maybe_call = k == n || s[k] == '(';
            if (!maybe_call && (n - w >= 3 || memcmp(s + w, "```", n - w))) sb_add(content, s, n);
        }
        if (i < n && s[i] == '{') {
            /* stream the calls of {"tool_calls": [ … while they come */
            size_t k = skip_ws(s, n, i + 1);
            static const char KEY[] = "\"tool_calls\"";
            if (n - k > 12 && !memcmp(s + k, KEY, 12)) {
                k = skip_ws(s, n, k + 12);
                if (k < n && s[k] == ':') {
                    size_t end;
                    take_call_array(s, n, k + 1, 1, out, &end, oom);
                }
            } else take_call_object(s, n, i, 1, out, &(size_t){0}, oom);
            /* the whole reply decides at the end */
            mark_unfinished(out, 0);
        }
        return 0;
    }
    int n0 = out->n_calls;
    if (i < e && (s[i] == '{' || s[i] == '[')) {
        cJSON *j = cJSON_ParseWithLength(s + i, e - i);
        const cJSON *list = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "tool_calls") : NULL;
        size_t k = skip_ws(s, e, i + 1), end;
        int raw = 0;
        /* {"tool_calls": [...]} as written: read in place, so the arguments keep the
         * model's spacing (the same bytes the stream sent) */
        if (cJSON_IsArray(list) && e - k > 12 && !memcmp(s + k, "\"tool_calls\"", 12)) {
            k = skip_ws(s, e, k + 12);
            if (k < e && s[k] == ':' && take_call_array(s, e, k + 1, 0, out, &end, oom) == 1 &&
                out->n_calls - n0 == cJSON_GetArraySize(list))
                raw = 1;
            else drop_calls_from(out, n0);
        }
        if (!raw && (cJSON_IsArray(list) || cJSON_IsArray(j))) {
            const cJSON *c, *arr = cJSON_IsArray(j) ? j : list;
            cJSON_ArrayForEach(c, arr) {
                char *t = cJSON_PrintUnformatted(c);
                size_t end;
                if (!t || take_call_object(t, strlen(t), 0, 0, out, &end, oom) != 1) {
                    cJSON_free(t);
                    drop_calls_from(out, n0);
                    break;
                }
                cJSON_free(t);
            }
        } else if (!raw && cJSON_IsObject(j)) {
            if (take_call_object(s, e, i, 0, out, &end, oom) != 1) drop_calls_from(out, n0);
        }
        cJSON_Delete(j);
    }
    if (out->n_calls == n0 && (code || !fenced) && i < e) py_calls(s, e, i, out, oom);
    if (out->n_calls == n0) sb_add(content, s, n);
    return 0;
}

int tool_parse(enum tool_format f, const char *s, size_t n, int partial, struct tool_parse *out) {
    memset(out, 0, sizeof *out);
    /* the reply goes out as C strings (JSON text): it ends at a NUL byte */
    n = strnlen(s, n);
    struct sbuf content = {0};
    int oom = 0;
    static const struct block_syntax HERMES = {"<tool_call>", "</tool_call>", 0};
    static const struct block_syntax PHI4 = {"<|tool_call|>", "<|/tool_call|>", 1};
    static const struct block_syntax FUNCTOOLS = {"functools", "", 1};
    switch (f) {
    case TOOL_FMT_HERMES: parse_blocks(&HERMES, s, n, partial, out, &content, &oom); break;
    case TOOL_FMT_QWEN3_CODER: parse_qwen3_coder(s, n, partial, out, &content, &oom); break;
    case TOOL_FMT_LLAMA3:
        parse_llama3(s, n, partial, out, &content, &oom);
        if (partial) mark_unfinished(out, 0);   /* the whole reply is the calls or not: decided at the end */
        break;
    case TOOL_FMT_MISTRAL: parse_mistral(s, n, partial, out, &content, &oom); break;
    case TOOL_FMT_PHI4:
        if (partial && skip_ws(s, n, 0) < n && n - skip_ws(s, n, 0) < 9 &&
            !memcmp(s + skip_ws(s, n, 0), "functools", n - skip_ws(s, n, 0)))
            break;   /* it may become functools[…] */
        /* functools[…] is the whole reply (the card's older syntax), never text inside one */
        if (n - skip_ws(s, n, 0) >= 9 && !memcmp(s + skip_ws(s, n, 0), "functools", 9))
            parse_blocks(&FUNCTOOLS, s, n, partial, out, &content, &oom);
        else parse_blocks(&PHI4, s, n, partial, out, &content, &oom);
        break;
    case TOOL_FMT_GPT_OSS: parse_gpt_oss(s, n, partial, out, &content, &oom); break;
    default: parse_generic(s, n, partial, out, &content, &oom); break;
    }
    /* whitespace before a call is the call's layout, not text; while streaming it is held
     * back, as a call may follow (so what was sent is always a prefix of the final text) */
    char *c = sb_take(&content);
    if (c && (out->n_calls || partial)) {
        size_t b = strlen(c);
        while (b && is_ws(c[b - 1])) b--;
        c[b] = 0;
    }
    out->content = c;
    if (oom || !c) { tool_parse_free(out); return -1; }
    return 0;
}

void tool_parse_free(struct tool_parse *p) {
    for (int i = 0; i < p->n_calls; i++) { free(p->calls[i].name); free(p->calls[i].arguments); }
    free(p->calls);
    free(p->content);
    memset(p, 0, sizeof *p);
}
