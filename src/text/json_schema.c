/* JSON Schema constraint (see json_schema.h). The schema becomes a table of nodes;
 * the matcher's state is a small set of "threads", each a stack of container
 * frames plus the scalar being read (json_lex does the byte-level syntax). anyOf
 * forks a thread per alternative; object keys and enum values are matched against
 * candidate bitsets, so they need no forking. A token is tried by stepping its
 * bytes; the vocabulary is walked in sorted order so tokens sharing a prefix share
 * the work, and masks are cached per state because generation revisits states. */
#include "text/json_schema.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/json_lex.h"

#define MAX_DEPTH 16    /* nested containers in the output */
#define MAX_THREADS 8   /* live anyOf alternatives; extra ones are dropped (only narrows the output) */
#define MAX_WS 4        /* consecutive whitespace bytes, so the model cannot pad forever */
#define MAX_SET 64      /* properties per object, values per enum (bitsets) */
#define MAX_NODES 4096
#define N_CACHE 16

enum kind { K_ANY, K_OBJECT, K_ARRAY, K_STRING, K_NUMBER, K_INTEGER, K_BOOLEAN, K_NULL, K_ENUM, K_ANYOF };
enum { NODE_ANY = 0, NODE_ANY_OBJECT = 1, NODE_ANY_ARRAY = 2 }; /* made first by every compile */
#define NO_NODE 0xFFFF
#define FREE_KEY 0xFFFF /* an additional property's value comes next */

struct node {
    uint8_t kind;
    uint16_t additional; /* object: node for other keys, NO_NODE = not allowed */
    uint16_t items;      /* array: node of every item */
    int n;               /* properties / enum values / alternatives */
    char **str;          /* property names (JSON-escaped, no quotes) / enum values (compact JSON) */
    uint16_t *str_len;
    uint16_t *child;     /* property nodes / alternatives */
    uint64_t required;
    int min, max;        /* items or string characters; max < 0: unbounded */
};

struct json_schema {
    struct node *node;
    int n_node, cap_node;
    uint16_t root;       /* the document's node */
};

/* ---------------------------------------------------------------- compiling */

struct compiler {
    struct json_schema *s;
    const cJSON *root;
    struct memo { const cJSON *sch; int node; } *memo;
    int n_memo, cap_memo;
    struct err *e;
};

static int new_node(struct compiler *c, enum kind k, const char *path) {
    struct json_schema *s = c->s;
    if (s->n_node >= MAX_NODES) return err_set(c->e, "json_schema: at %s: more than %d schema nodes", path, MAX_NODES);
    if (s->n_node == s->cap_node) {
        int cap = s->cap_node ? s->cap_node * 2 : 16;
        struct node *n = realloc(s->node, (size_t)cap * sizeof *n);
        if (!n) return err_set(c->e, "json_schema: out of memory");
        s->node = n;
        s->cap_node = cap;
    }
    struct node *n = &s->node[s->n_node];
    memset(n, 0, sizeof *n);
    n->kind = (uint8_t)k;
    n->additional = NODE_ANY;
    n->items = NODE_ANY;
    n->max = -1;
    return s->n_node++;
}

static int alloc_set(struct compiler *c, int idx, int n, int with_str) {
    struct node *nd = &c->s->node[idx];
    nd->n = n;
    nd->child = calloc((size_t)n + 1, sizeof *nd->child);
    if (with_str) {
        nd->str = calloc((size_t)n + 1, sizeof *nd->str);
        nd->str_len = calloc((size_t)n + 1, sizeof *nd->str_len);
    }
    if (!nd->child || (with_str && (!nd->str || !nd->str_len))) return err_set(c->e, "json_schema: out of memory");
    return 0;
}

/* The exact bytes a value must be spelled with: compact JSON, as cJSON prints it. */
static char *print_compact(const cJSON *v, int strip_quotes, uint16_t *len) {
    char *p = cJSON_PrintUnformatted(v);
    if (!p) return NULL;
    size_t n = strlen(p);
    if (strip_quotes && n >= 2) { memmove(p, p + 1, n - 2); n -= 2; p[n] = 0; }
    if (n > 60000) { free(p); return NULL; }
    *len = (uint16_t)n;
    return p;
}

/* "#", "#/$defs/Name", any JSON pointer into the root document. */
static const cJSON *resolve_ref(const cJSON *root, const char *ref) {
    if (ref[0] != '#') return NULL;
    const cJSON *cur = root;
    const char *p = ref + 1;
    while (*p == '/') {
        p++;
        char tok[256];
        size_t n = 0;
        while (*p && *p != '/' && n + 1 < sizeof tok) {
            if (p[0] == '~' && p[1] == '0') { tok[n++] = '~'; p += 2; }
            else if (p[0] == '~' && p[1] == '1') { tok[n++] = '/'; p += 2; }
            else tok[n++] = *p++;
        }
        tok[n] = 0;
        if (*p && *p != '/') return NULL;
        if (cJSON_IsArray(cur)) {
            char *end;
            long i = strtol(tok, &end, 10);
            if (*end || i < 0) return NULL;
            cur = cJSON_GetArrayItem(cur, (int)i);
        } else cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
        if (!cur) return NULL;
    }
    return *p ? NULL : cur;
}

static int compile(struct compiler *c, const cJSON *sch, const char *type_override, const char *path, int depth);

static int sub(struct compiler *c, const cJSON *sch, const char *path, const char *what, int depth) {
    char p[512];
    snprintf(p, sizeof p, "%s.%s", path, what);
    return compile(c, sch, NULL, p, depth + 1);
}

static int get_count(struct compiler *c, const cJSON *sch, const char *key, int *out, const char *path) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(sch, key);
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e6 || v->valuedouble != floor(v->valuedouble))
        return err_set(c->e, "json_schema: at %s: '%s' must be a non-negative integer", path, key);
    *out = (int)v->valuedouble;
    return 0;
}

static int compile_object(struct compiler *c, int idx, const cJSON *sch, const char *path, int depth) {
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(sch, "properties");
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(sch, "required");
    const cJSON *add = cJSON_GetObjectItemCaseSensitive(sch, "additionalProperties");
    if (props && !cJSON_IsObject(props))
        return err_set(c->e, "json_schema: at %s: 'properties' must be an object", path);
    int n = props ? cJSON_GetArraySize(props) : 0;
    if (n > MAX_SET) return err_set(c->e, "json_schema: at %s: more than %d properties", path, MAX_SET);
    if (alloc_set(c, idx, n, 1)) return -1;
    int i = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, props) {
        uint16_t len;
        cJSON *name = cJSON_CreateString(p->string);
        char *esc = name ? print_compact(name, 1, &len) : NULL;
        cJSON_Delete(name);
        if (!esc) return err_set(c->e, "json_schema: at %s: property name too long or out of memory", path);
        c->s->node[idx].str[i] = esc;
        c->s->node[idx].str_len[i] = len;
        char what[300];
        snprintf(what, sizeof what, "properties.%.200s", p->string);
        int ch = sub(c, p, path, what, depth);
        if (ch < 0) return -1;
        c->s->node[idx].child[i++] = (uint16_t)ch;
    }
    if (req) {
        if (!cJSON_IsArray(req)) return err_set(c->e, "json_schema: at %s: 'required' must be an array of names", path);
        const cJSON *r;
        cJSON_ArrayForEach(r, req) {
            if (!cJSON_IsString(r)) return err_set(c->e, "json_schema: at %s: 'required' must be an array of names", path);
            int k = 0;
            const cJSON *q;
            cJSON_ArrayForEach(q, props) {
                if (!strcmp(q->string, r->valuestring)) break;
                k++;
            }
            if (k >= n)
                return err_set(c->e, "json_schema: at %s: required property '%.200s' is not in 'properties'", path,
                               r->valuestring);
            c->s->node[idx].required |= 1ull << k;
        }
    }
    if (cJSON_IsFalse(add)) c->s->node[idx].additional = NO_NODE;
    else if (cJSON_IsObject(add)) {
        int ch = sub(c, add, path, "additionalProperties", depth);
        if (ch < 0) return -1;
        c->s->node[idx].additional = (uint16_t)ch;
    } else if (add && !cJSON_IsTrue(add))
        return err_set(c->e, "json_schema: at %s: 'additionalProperties' must be a boolean or a schema", path);
    return idx;
}

static int compile_array(struct compiler *c, int idx, const cJSON *sch, const char *path, int depth) {
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(sch, "items");
    int mn = 0, mx = -1;
    if (get_count(c, sch, "minItems", &mn, path) || get_count(c, sch, "maxItems", &mx, path)) return -1;
    if (cJSON_GetObjectItemCaseSensitive(sch, "prefixItems"))
        return err_set(c->e, "json_schema: at %s: 'prefixItems' is not supported", path);
    if (cJSON_IsFalse(items)) mx = 0;
    else if (cJSON_IsObject(items)) {
        int ch = sub(c, items, path, "items", depth);
        if (ch < 0) return -1;
        c->s->node[idx].items = (uint16_t)ch;
    } else if (items && !cJSON_IsTrue(items))
        return err_set(c->e, "json_schema: at %s: 'items' must be a schema", path);
    if (mx >= 0 && mn > mx) return err_set(c->e, "json_schema: at %s: minItems %d is above maxItems %d", path, mn, mx);
    c->s->node[idx].min = mn;
    c->s->node[idx].max = mx;
    return idx;
}

static int compile_typed(struct compiler *c, const cJSON *sch, const char *type, const char *path, int depth) {
    static const struct { const char *name; enum kind k; } T[] = {
        {"object", K_OBJECT}, {"array", K_ARRAY}, {"string", K_STRING}, {"number", K_NUMBER},
        {"integer", K_INTEGER}, {"boolean", K_BOOLEAN}, {"null", K_NULL},
    };
    for (size_t i = 0; i < sizeof T / sizeof *T; i++) {
        if (strcmp(type, T[i].name)) continue;
        int idx = new_node(c, T[i].k, path);
        if (idx < 0) return -1;
        if (T[i].k == K_OBJECT) return compile_object(c, idx, sch, path, depth);
        if (T[i].k == K_ARRAY) return compile_array(c, idx, sch, path, depth);
        if (T[i].k == K_STRING) {
            int mn = 0, mx = -1;
            if (get_count(c, sch, "minLength", &mn, path) || get_count(c, sch, "maxLength", &mx, path)) return -1;
            if (mx >= 0 && mn > mx)
                return err_set(c->e, "json_schema: at %s: minLength %d is above maxLength %d", path, mn, mx);
            if (mn > 60000 || mx > 60000) return err_set(c->e, "json_schema: at %s: string lengths above 60000", path);
            c->s->node[idx].min = mn;
            c->s->node[idx].max = mx;
        }
        return idx;
    }
    return err_set(c->e, "json_schema: at %s: unknown type '%.100s' (expected object, array, string, number, integer, "
                         "boolean or null)", path, type);
}

static int compile_anyof(struct compiler *c, const cJSON *list, const char *key, const char *path, int depth) {
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0)
        return err_set(c->e, "json_schema: at %s: '%s' must be a non-empty array of schemas", path, key);
    int n = cJSON_GetArraySize(list);
    if (n > MAX_SET) return err_set(c->e, "json_schema: at %s: '%s' has more than %d entries", path, key, MAX_SET);
    int idx = new_node(c, K_ANYOF, path);
    if (idx < 0 || alloc_set(c, idx, n, 0)) return -1;
    for (int i = 0; i < n; i++) {
        char what[64];
        snprintf(what, sizeof what, "%s[%d]", key, i);
        int ch = sub(c, cJSON_GetArrayItem(list, i), path, what, depth);
        if (ch < 0) return -1;
        c->s->node[idx].child[i] = (uint16_t)ch;
    }
    return idx;
}

static int compile_enum(struct compiler *c, const cJSON *vals, int is_const, const char *path) {
    int n = is_const ? 1 : cJSON_GetArraySize(vals);
    if (!is_const && (!cJSON_IsArray(vals) || n == 0))
        return err_set(c->e, "json_schema: at %s: 'enum' must be a non-empty array", path);
    if (n > MAX_SET) return err_set(c->e, "json_schema: at %s: 'enum' has more than %d values", path, MAX_SET);
    int idx = new_node(c, K_ENUM, path);
    if (idx < 0 || alloc_set(c, idx, n, 1)) return -1;
    for (int i = 0; i < n; i++) {
        const cJSON *v = is_const ? vals : cJSON_GetArrayItem(vals, i);
        uint16_t len = 0;
        char *p = print_compact(v, 0, &len);
        if (!p) return err_set(c->e, "json_schema: at %s: enum value too long or out of memory", path);
        c->s->node[idx].str[i] = p;
        c->s->node[idx].str_len[i] = len;
    }
    return idx;
}

static int compile(struct compiler *c, const cJSON *sch, const char *type_override, const char *path, int depth) {
    if (depth > 64) return err_set(c->e, "json_schema: at %s: nested too deeply", path);
    if (cJSON_IsTrue(sch)) return NODE_ANY;
    if (!cJSON_IsObject(sch)) return err_set(c->e, "json_schema: at %s: expected a schema object", path);
    if (!type_override)
        for (int i = 0; i < c->n_memo; i++)
            if (c->memo[i].sch == sch) return c->memo[i].node;
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(sch, "$ref");
    if (ref) {
        const cJSON *target = cJSON_IsString(ref) ? resolve_ref(c->root, ref->valuestring) : NULL;
        if (!target)
            return err_set(c->e, "json_schema: at %s: '$ref' must point into this schema (\"#/$defs/Name\")", path);
        /* A recursive schema meets itself again through the memo below. */
        return compile(c, target, NULL, path, depth + 1);
    }
    if (!type_override) {
        if (c->n_memo == c->cap_memo) {
            int cap = c->cap_memo ? c->cap_memo * 2 : 16;
            struct memo *m = realloc(c->memo, (size_t)cap * sizeof *m);
            if (!m) return err_set(c->e, "json_schema: out of memory");
            c->memo = m;
            c->cap_memo = cap;
        }
        /* Reserve this schema's node before its children so a $ref cycle finds it. */
        int idx = new_node(c, K_ANYOF, path);
        if (idx < 0) return -1;
        c->memo[c->n_memo].sch = sch;
        c->memo[c->n_memo++].node = idx;
        int body = compile(c, sch, "", path, depth);
        if (body < 0) return -1;
        /* The reserved node forwards to the body: a one-alternative anyOf. */
        if (alloc_set(c, idx, 1, 0)) return -1;
        c->s->node[idx].child[0] = (uint16_t)body;
        return idx;
    }
    static const char *const refused[] = {"not", "if", "then", "else", "patternProperties", "dependentSchemas",
                                          "dependentRequired", "unevaluatedProperties", "propertyNames", "contains"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        if (cJSON_GetObjectItemCaseSensitive(sch, refused[i]))
            return err_set(c->e, "json_schema: at %s: '%s' is not supported", path, refused[i]);
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(sch, "const"))) return compile_enum(c, v, 1, path);
    if ((v = cJSON_GetObjectItemCaseSensitive(sch, "enum"))) return compile_enum(c, v, 0, path);
    if ((v = cJSON_GetObjectItemCaseSensitive(sch, "anyOf"))) return compile_anyof(c, v, "anyOf", path, depth);
    if ((v = cJSON_GetObjectItemCaseSensitive(sch, "oneOf"))) return compile_anyof(c, v, "oneOf", path, depth);
    if ((v = cJSON_GetObjectItemCaseSensitive(sch, "allOf"))) {
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 1)
            return err_set(c->e, "json_schema: at %s: 'allOf' is only supported with one schema", path);
        return sub(c, cJSON_GetArrayItem(v, 0), path, "allOf[0]", depth);
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(sch, "type");
    if (*type_override) return compile_typed(c, sch, type_override, path, depth);
    if (cJSON_IsString(type)) return compile_typed(c, sch, type->valuestring, path, depth);
    if (cJSON_IsArray(type)) {
        int n = cJSON_GetArraySize(type);
        if (n == 0 || n > 7) return err_set(c->e, "json_schema: at %s: 'type' must list 1 to 7 types", path);
        int idx = new_node(c, K_ANYOF, path);
        if (idx < 0 || alloc_set(c, idx, n, 0)) return -1;
        for (int i = 0; i < n; i++) {
            const cJSON *t = cJSON_GetArrayItem(type, i);
            if (!cJSON_IsString(t)) return err_set(c->e, "json_schema: at %s: 'type' entries must be strings", path);
            int ch = compile(c, sch, t->valuestring, path, depth + 1);
            if (ch < 0) return -1;
            c->s->node[idx].child[i] = (uint16_t)ch;
        }
        return idx;
    }
    if (type) return err_set(c->e, "json_schema: at %s: 'type' must be a string or an array of strings", path);
    /* No type: the shape keywords say what it is; nothing at all means any value. */
    if (cJSON_GetObjectItemCaseSensitive(sch, "properties") || cJSON_GetObjectItemCaseSensitive(sch, "required") ||
        cJSON_GetObjectItemCaseSensitive(sch, "additionalProperties"))
        return compile_typed(c, sch, "object", path, depth);
    if (cJSON_GetObjectItemCaseSensitive(sch, "items") || cJSON_GetObjectItemCaseSensitive(sch, "minItems") ||
        cJSON_GetObjectItemCaseSensitive(sch, "maxItems"))
        return compile_typed(c, sch, "array", path, depth);
    if (cJSON_GetObjectItemCaseSensitive(sch, "minLength") || cJSON_GetObjectItemCaseSensitive(sch, "maxLength"))
        return compile_typed(c, sch, "string", path, depth);
    return NODE_ANY;
}

void json_schema_free(struct json_schema *s) {
    if (!s) return;
    for (int i = 0; i < s->n_node; i++) {
        struct node *n = &s->node[i];
        for (int k = 0; n->str && k < n->n; k++) free(n->str[k]);
        free(n->str);
        free(n->str_len);
        free(n->child);
    }
    free(s->node);
    free(s);
}

struct json_schema *json_schema_compile(const cJSON *schema, struct err *e) {
    struct json_schema *s = calloc(1, sizeof *s);
    if (!s) { err_set(e, "json_schema: out of memory"); return NULL; }
    struct compiler c = {.s = s, .root = schema, .e = e};
    int ok = new_node(&c, K_ANY, "schema") == NODE_ANY && new_node(&c, K_OBJECT, "schema") == NODE_ANY_OBJECT &&
             new_node(&c, K_ARRAY, "schema") == NODE_ANY_ARRAY;
    int root = ok ? compile(&c, schema, NULL, "schema", 0) : -1;
    free(c.memo);
    if (root < 0) { json_schema_free(s); return NULL; }
    s->root = (uint16_t)root;
    return s;
}

/* ---------------------------------------------------------------- matching */

enum phase { P_ROOT, P_DONE, P_OBJ_FIRST, P_OBJ_KEY, P_OBJ_COLON, P_OBJ_VALUE, P_OBJ_NEXT,
             P_ARR_FIRST, P_ARR_VALUE, P_ARR_NEXT };
enum scalar { SC_NONE, SC_VALUE, SC_KEY, SC_ENUM };

/* Field order avoids padding: states are compared with memcmp. */
struct frame {
    uint64_t seen;   /* object: properties present so far */
    uint16_t node;   /* the container's node (root frame: the root value's node) */
    uint16_t prop;   /* object: whose value comes next (FREE_KEY: an additional property) */
    uint16_t count;  /* array: items so far */
    uint8_t phase;
    uint8_t pad;
};

struct thread {
    uint64_t cand;   /* key / enum: candidates still matching */
    struct json_lex lex;
    uint16_t snode;  /* the scalar's node */
    uint16_t pos;    /* key / enum: bytes matched */
    uint8_t scalar;
    uint8_t depth;   /* frames in use; frame 0 is the root */
    uint8_t ws;
    uint8_t pad;
    struct frame f[MAX_DEPTH];
};

struct mstate {
    int n;
    struct thread t[MAX_THREADS];
};

struct cache_entry {
    struct mstate st;
    uint8_t *allowed;
    int used;
};

struct json_schema_matcher {
    const struct json_schema *s;
    const char *const *pieces;
    const size_t *lens;
    int n_vocab;
    int32_t eos;
    struct mstate st;
    int32_t *order;      /* tokens with bytes, sorted by their bytes */
    uint16_t *lcp;       /* common prefix with the previous token in order */
    int n_order;
    size_t max_len;
    struct mstate *work; /* max_len + 1 states for the prefix walk */
    struct cache_entry cache[N_CACHE];
    int next_slot;
};

static size_t thread_size(const struct thread *t) {
    return offsetof(struct thread, f) + (size_t)t->depth * sizeof(struct frame);
}

static int is_ws(unsigned char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

static void emit(struct mstate *out, const struct thread *t) {
    size_t sz = thread_size(t);
    for (int i = 0; i < out->n; i++)
        if (out->t[i].depth == t->depth && !memcmp(&out->t[i], t, sz)) return;
    if (out->n < MAX_THREADS) memcpy(&out->t[out->n++], t, sz);
}

static int any_key_left(const struct node *n, const struct frame *f) {
    uint64_t all = n->n >= 64 ? ~0ull : (1ull << n->n) - 1;
    return n->additional != NO_NODE || (all & ~f->seen) != 0;
}

static int push(struct thread *t, uint16_t node, uint8_t phase) {
    if (t->depth >= MAX_DEPTH) return -1;
    struct frame *f = &t->f[t->depth++];
    memset(f, 0, sizeof *f);
    f->node = node;
    f->phase = phase;
    return 0;
}

static void end_scalar(struct thread *t) {
    memset(&t->lex, 0, sizeof t->lex);
    t->cand = 0;
    t->snode = 0;
    t->pos = 0;
    t->scalar = SC_NONE;
}

/* c starts a value of `node` in thread t (whose parent frame has already moved on). */
static void start_value(const struct json_schema *s, struct thread *t, uint16_t node, unsigned char c,
                        struct mstate *out, int hops) {
    const struct node *n = &s->node[node];
    switch (n->kind) {
    case K_ANYOF:
        if (hops > 16) return; /* an anyOf that only leads to itself */
        for (int i = 0; i < n->n; i++) {
            struct thread copy;
            memcpy(&copy, t, thread_size(t));
            start_value(s, &copy, n->child[i], c, out, hops + 1);
        }
        return;
    case K_ENUM: {
        uint64_t cand = 0;
        for (int i = 0; i < n->n; i++)
            if (n->str_len[i] && (unsigned char)n->str[i][0] == c) cand |= 1ull << i;
        if (!cand) return;
        t->scalar = SC_ENUM;
        t->snode = node;
        t->cand = cand;
        t->pos = 1;
        emit(out, t);
        return;
    }
    case K_ANY: case K_OBJECT: case K_ARRAY:
        if (c == '{' && n->kind != K_ARRAY) {
            if (push(t, n->kind == K_ANY ? NODE_ANY_OBJECT : node, P_OBJ_FIRST) == 0) emit(out, t);
            return;
        }
        if (c == '[' && n->kind != K_OBJECT) {
            if (push(t, n->kind == K_ANY ? NODE_ANY_ARRAY : node, P_ARR_FIRST) == 0) emit(out, t);
            return;
        }
        if (n->kind != K_ANY) return;
        break;
    case K_STRING: if (c != '"') return; break;
    case K_NUMBER: case K_INTEGER: if (c != '-' && !(c >= '0' && c <= '9')) return; break;
    case K_BOOLEAN: if (c != 't' && c != 'f') return; break;
    case K_NULL: if (c != 'n') return; break;
    default: return;
    }
    if (json_lex_begin(&t->lex, c, n->kind == K_INTEGER) != JSON_LEX_MORE) return;
    t->scalar = SC_VALUE;
    t->snode = node;
    emit(out, t);
}

/* Moves the top frame past the value that starts now and returns that value's node. */
static uint16_t value_node(const struct json_schema *s, struct frame *f) {
    const struct node *n = &s->node[f->node];
    switch (f->phase) {
    case P_ROOT: f->phase = P_DONE; return s->root;
    case P_OBJ_VALUE:
        f->phase = P_OBJ_NEXT;
        if (f->prop == FREE_KEY) return n->additional;
        f->seen |= 1ull << f->prop;
        return n->child[f->prop];
    default: /* P_ARR_FIRST, P_ARR_VALUE */
        f->phase = P_ARR_NEXT;
        f->count++;
        return n->items;
    }
}

static void structural(const struct json_schema *s, struct thread *t, unsigned char c, struct mstate *out) {
    struct frame *f = &t->f[t->depth - 1];
    const struct node *n = &s->node[f->node];
    if (is_ws(c)) {
        if (f->phase == P_DONE || ++t->ws > MAX_WS) return;
        emit(out, t);
        return;
    }
    t->ws = 0;
    switch (f->phase) {
    case P_DONE: return;
    case P_OBJ_FIRST: case P_OBJ_NEXT:
        if (c == '}') {
            if ((f->seen & n->required) != n->required) return;
            t->depth--;
            emit(out, t);
            return;
        }
        if (f->phase == P_OBJ_NEXT) {
            if (c != ',' || !any_key_left(n, f)) return;
            f->phase = P_OBJ_KEY;
            emit(out, t);
            return;
        }
        /* fall through */
    case P_OBJ_KEY:
        if (c != '"' || !any_key_left(n, f)) return;
        json_lex_begin(&t->lex, c, 0);
        t->scalar = SC_KEY;
        t->snode = f->node;
        t->cand = n->n >= 64 ? ~0ull : (1ull << n->n) - 1;
        t->pos = 0;
        emit(out, t);
        return;
    case P_OBJ_COLON:
        if (c != ':') return;
        f->phase = P_OBJ_VALUE;
        emit(out, t);
        return;
    case P_ARR_FIRST: case P_ARR_NEXT:
        if (c == ']') {
            if (f->count < n->min) return;
            t->depth--;
            emit(out, t);
            return;
        }
        if (f->phase == P_ARR_NEXT) {
            if (c != ',' || (n->max >= 0 && f->count >= n->max)) return;
            f->phase = P_ARR_VALUE;
            emit(out, t);
            return;
        }
        if (n->max == 0) return;
        break;
    default: break; /* P_ROOT, P_OBJ_VALUE, P_ARR_VALUE: a value starts */
    }
    uint16_t vn = value_node(s, f);
    if (vn == NO_NODE) return;
    start_value(s, t, vn, c, out, 0);
}

static void step_thread(const struct json_schema *s, struct thread *t, unsigned char c, struct mstate *out) {
    const struct node *sn = &s->node[t->snode];
    if (t->scalar == SC_VALUE) {
        int r = json_lex_step(&t->lex, c);
        if (r == JSON_LEX_ERR) return;
        if (sn->kind == K_STRING) {
            if (sn->max >= 0 && t->lex.chars > sn->max) return;
            if (r == JSON_LEX_END && t->lex.chars < sn->min) return;
            /* Only a limit makes the count matter; otherwise keep states equal for the cache. */
            if (sn->max < 0 && t->lex.chars > sn->min) t->lex.chars = (uint16_t)sn->min;
        } else t->lex.chars = 0;
        if (r == JSON_LEX_MORE) { emit(out, t); return; }
        end_scalar(t);
        if (r == JSON_LEX_END) { emit(out, t); return; }
        structural(s, t, c, out); /* a number ended just before c */
        return;
    }
    if (t->scalar == SC_KEY) {
        struct frame *f = &t->f[t->depth - 1];
        int r = json_lex_step(&t->lex, c);
        if (r == JSON_LEX_ERR) return;
        t->lex.chars = 0;
        if (r == JSON_LEX_END) {
            int exact = -1;
            for (int i = 0; i < sn->n; i++)
                if ((t->cand >> i & 1) && sn->str_len[i] == t->pos) exact = i;
            if (exact >= 0 && (f->seen >> exact & 1)) return; /* a duplicate key */
            if (exact < 0 && sn->additional == NO_NODE) return;
            f->prop = exact >= 0 ? (uint16_t)exact : FREE_KEY;
            f->phase = P_OBJ_COLON;
            end_scalar(t);
            emit(out, t);
            return;
        }
        uint64_t cand = 0;
        for (int i = 0; i < sn->n; i++)
            if ((t->cand >> i & 1) && t->pos < sn->str_len[i] && (unsigned char)sn->str[i][t->pos] == c)
                cand |= 1ull << i;
        if (sn->additional == NO_NODE && !(cand & ~f->seen)) return;
        t->cand = cand;
        t->pos = cand ? (uint16_t)(t->pos + 1) : 0;
        emit(out, t);
        return;
    }
    if (t->scalar == SC_ENUM) {
        uint64_t cand = 0;
        int complete = 0;
        for (int i = 0; i < sn->n; i++) {
            if (!(t->cand >> i & 1)) continue;
            if (t->pos == sn->str_len[i]) complete = 1;
            else if ((unsigned char)sn->str[i][t->pos] == c) cand |= 1ull << i;
        }
        if (cand) { t->cand = cand; t->pos++; emit(out, t); return; }
        if (!complete) return;
        end_scalar(t);
        structural(s, t, c, out);
        return;
    }
    structural(s, t, c, out);
}

static void step_state(const struct json_schema *s, const struct mstate *in, unsigned char c, struct mstate *out) {
    out->n = 0;
    for (int i = 0; i < in->n; i++) {
        struct thread t;
        memcpy(&t, &in->t[i], thread_size(&in->t[i]));
        step_thread(s, &t, c, out);
    }
}

static void copy_state(struct mstate *dst, const struct mstate *src) {
    dst->n = src->n;
    for (int i = 0; i < src->n; i++) memcpy(&dst->t[i], &src->t[i], thread_size(&src->t[i]));
}

static int state_equal(const struct mstate *a, const struct mstate *b) {
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++)
        if (a->t[i].depth != b->t[i].depth || memcmp(&a->t[i], &b->t[i], thread_size(&a->t[i]))) return 0;
    return 1;
}

static int thread_done(const struct json_schema *s, const struct thread *t) {
    if (t->depth != 1 || t->f[0].phase != P_DONE) return 0;
    if (t->scalar == SC_NONE) return 1;
    if (t->scalar == SC_VALUE) return json_lex_complete(&t->lex);
    if (t->scalar == SC_ENUM) {
        const struct node *n = &s->node[t->snode];
        for (int i = 0; i < n->n; i++)
            if ((t->cand >> i & 1) && n->str_len[i] == t->pos) return 1;
    }
    return 0;
}

int json_schema_matcher_done(const struct json_schema_matcher *m) {
    for (int i = 0; i < m->st.n; i++)
        if (thread_done(m->s, &m->st.t[i])) return 1;
    return 0;
}

void json_schema_matcher_reset(struct json_schema_matcher *m) {
    memset(&m->st, 0, sizeof m->st);
    m->st.n = 1;
    m->st.t[0].depth = 1;
    m->st.t[0].f[0].phase = P_ROOT;
}

static int cmp_tokens(const void *a, const void *b, void *ctx) {
    const struct json_schema_matcher *m = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    size_t lx = m->lens[x], ly = m->lens[y];
    int r = memcmp(m->pieces[x], m->pieces[y], lx < ly ? lx : ly);
    if (r) return r;
    return lx < ly ? -1 : lx > ly ? 1 : (x > y) - (x < y);
}

struct json_schema_matcher *json_schema_matcher_new(const struct json_schema *s, const char *const *pieces,
                                                    const size_t *lens, int n_vocab, int32_t eos, struct err *e) {
    if (!s || !pieces || !lens || n_vocab <= 0) { err_set(e, "json_schema: empty vocabulary"); return NULL; }
    struct json_schema_matcher *m = calloc(1, sizeof *m);
    if (!m) { err_set(e, "json_schema: out of memory"); return NULL; }
    m->s = s;
    m->pieces = pieces;
    m->lens = lens;
    m->n_vocab = n_vocab;
    m->eos = eos;
    m->order = malloc((size_t)n_vocab * sizeof *m->order);
    m->lcp = malloc((size_t)n_vocab * sizeof *m->lcp);
    if (!m->order || !m->lcp) goto oom;
    for (int t = 0; t < n_vocab; t++) {
        if (t == eos || !pieces[t] || !lens[t] || lens[t] > 4096) continue;
        m->order[m->n_order++] = t;
        if (lens[t] > m->max_len) m->max_len = lens[t];
    }
    qsort_r(m->order, (size_t)m->n_order, sizeof *m->order, cmp_tokens, m);
    for (int i = 0; i < m->n_order; i++) {
        size_t l = 0;
        if (i > 0) {
            int32_t a = m->order[i - 1], b = m->order[i];
            size_t n = lens[a] < lens[b] ? lens[a] : lens[b];
            while (l < n && pieces[a][l] == pieces[b][l]) l++;
        }
        m->lcp[i] = (uint16_t)l;
    }
    m->work = malloc((m->max_len + 1) * sizeof *m->work);
    if (!m->work) goto oom;
    json_schema_matcher_reset(m);
    return m;
oom:
    json_schema_matcher_free(m);
    err_set(e, "json_schema: out of memory");
    return NULL;
}

void json_schema_matcher_free(struct json_schema_matcher *m) {
    if (!m) return;
    for (int i = 0; i < N_CACHE; i++) free(m->cache[i].allowed);
    free(m->order);
    free(m->lcp);
    free(m->work);
    free(m);
}

static int feed_state(const struct json_schema *s, struct mstate *st, const char *b, size_t n) {
    struct mstate tmp;
    for (size_t i = 0; i < n; i++) {
        step_state(s, st, (unsigned char)b[i], &tmp);
        if (!tmp.n) return -1;
        copy_state(st, &tmp);
    }
    return 0;
}

int json_schema_matcher_feed(struct json_schema_matcher *m, const char *bytes, size_t n) {
    struct mstate s;
    copy_state(&s, &m->st);
    if (feed_state(m->s, &s, bytes, n)) return -1;
    memset(&m->st, 0, sizeof m->st);
    copy_state(&m->st, &s);
    return 0;
}

int json_schema_matcher_accept(struct json_schema_matcher *m, int32_t token) {
    if (token < 0 || token >= m->n_vocab) return -1;
    if (token == m->eos) return json_schema_matcher_done(m) ? 0 : -1;
    if (!m->pieces[token] || !m->lens[token]) return -1;
    return json_schema_matcher_feed(m, m->pieces[token], m->lens[token]);
}

/* Every token whose bytes survive from the current state, walking the sorted
 * vocabulary: work[d] is the state after the first d bytes of the current token,
 * still valid for the next token up to their common prefix. */
static void compute_allowed(struct json_schema_matcher *m, uint8_t *allowed) {
    size_t good = 0;          /* work[0..good] are valid for the current prefix */
    size_t dead = SIZE_MAX;   /* the previous token's first `dead` bytes already fail */
    copy_state(&m->work[0], &m->st);
    for (int i = 0; i < m->n_order; i++) {
        int32_t t = m->order[i];
        const unsigned char *b = (const unsigned char *)m->pieces[t];
        size_t len = m->lens[t], common = m->lcp[i];
        if (dead <= common) continue;
        dead = SIZE_MAX;
        if (good > common) good = common;
        while (good < len) {
            step_state(m->s, &m->work[good], b[good], &m->work[good + 1]);
            if (!m->work[good + 1].n) { dead = good + 1; break; }
            good++;
        }
        if (dead == SIZE_MAX) allowed[t >> 3] |= (uint8_t)(1u << (t & 7));
    }
    if (m->eos >= 0 && m->eos < m->n_vocab && json_schema_matcher_done(m))
        allowed[m->eos >> 3] |= (uint8_t)(1u << (m->eos & 7));
}

static const uint8_t *allowed_set(struct json_schema_matcher *m) {
    for (int i = 0; i < N_CACHE; i++)
        if (m->cache[i].used && state_equal(&m->cache[i].st, &m->st)) return m->cache[i].allowed;
    struct cache_entry *c = &m->cache[m->next_slot];
    m->next_slot = (m->next_slot + 1) % N_CACHE;
    size_t nbytes = ((size_t)m->n_vocab + 7) / 8;
    if (!c->allowed) c->allowed = malloc(nbytes);
    if (!c->allowed) return NULL;
    memset(c->allowed, 0, nbytes);
    compute_allowed(m, c->allowed);
    copy_state(&c->st, &m->st);
    c->used = 1;
    return c->allowed;
}

void json_schema_matcher_mask(void *user, float *logits, int n_vocab) {
    struct json_schema_matcher *m = user;
    const uint8_t *ok = allowed_set(m);
    int n = n_vocab < m->n_vocab ? n_vocab : m->n_vocab;
    for (int t = 0; t < n; t++)
        if (!ok || !(ok[t >> 3] & (1u << (t & 7)))) logits[t] = -INFINITY;
    for (int t = n; t < n_vocab; t++) logits[t] = -INFINITY;
}
