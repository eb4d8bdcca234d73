/* Moderation rules; see rules.h. A words rule becomes one PCRE2 alternation (longest
 * word first, each escaped), a regex rule its own pattern, a PII rule a kind mask for
 * pii_find. A check collects every rule's matches, drops those inside an allow span,
 * resolves the action, and writes the redacted text when a redact hit remains. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "moderation/rules.h"

#include <cJSON.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moderation/pii.h"

/* a rule's backtracking budget: a hostile pattern or input stops, it does not hang */
#define MATCH_LIMIT 2000000
#define DEPTH_LIMIT 10000
#define MAX_RULES 1024
#define MAX_WORDS 100000

enum rule_type { R_WORDS, R_REGEX, R_PII };

struct rule {
    char *name, *category, *message, *replacement;
    enum rule_type type;
    enum mod_action action;
    pcre2_code *re;      /* words and regex */
    unsigned pii_mask;   /* pii */
};

struct mod_rules {
    struct rule *r;
    int n;
    pcre2_match_context *mctx;
};

static const char *const k_actions[] = {"allow", "log", "warn", "redact", "block"};

const char *mod_action_name(enum mod_action a) { return (unsigned)a <= MOD_BLOCK ? k_actions[a] : "?"; }

static int parse_action(const char *s) {
    for (int i = 0; s && i <= MOD_BLOCK; i++)
        if (!strcmp(s, k_actions[i])) return i;
    return -1;
}

static char *dup_str(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static int is_ascii_alnum(unsigned char c) { return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z'); }

/* Appends s (n bytes) to *buf, growing it. */
static int append(char **buf, size_t *len, size_t *cap, const char *s, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t c = (*len + n + 1) * 2;
        char *b = realloc(*buf, c);
        if (!b) return -1;
        *buf = b, *cap = c;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = 0;
    return 0;
}

/* A word as a literal: every ASCII punctuation escaped, ASCII-alnum edges fenced. */
static int append_word(char **buf, size_t *len, size_t *cap, const char *w) {
    size_t n = strlen(w);
    if (is_ascii_alnum((unsigned char)w[0]) && append(buf, len, cap, "(?<![A-Za-z0-9])", 16)) return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)w[i];
        if (c < 0x80 && !is_ascii_alnum(c) && c != ' ' && append(buf, len, cap, "\\", 1)) return -1;
        if (append(buf, len, cap, w + i, 1)) return -1;
    }
    if (is_ascii_alnum((unsigned char)w[n - 1]) && append(buf, len, cap, "(?![A-Za-z0-9])", 15)) return -1;
    return 0;
}

static int by_len_desc(const void *a, const void *b) {
    size_t x = strlen(*(const char *const *)a), y = strlen(*(const char *const *)b);
    return x < y ? 1 : x > y ? -1 : 0;
}

static pcre2_code *compile(const char *pat, uint32_t extra, const char *rule, int idx, struct err *e) {
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | extra, &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof msg);
        err_set(e, "moderation rule %d (%s): bad pattern at offset %zu: %s", idx, rule, (size_t)off, (char *)msg);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    return re;
}

static int words_rule(struct rule *r, const cJSON *jw, int idx, struct err *e) {
    int n = cJSON_GetArraySize(jw);
    if (!cJSON_IsArray(jw) || n < 1 || n > MAX_WORDS)
        return err_set(e, "moderation rule %d (%s): \"words\" must be a list of 1 to %d strings", idx, r->name, MAX_WORDS);
    const char **w = malloc(sizeof *w * (size_t)n);
    if (!w) return err_set(e, "out of memory");
    int k = 0;
    for (const cJSON *it = jw->child; it; it = it->next) {
        if (!cJSON_IsString(it) || !it->valuestring[0]) {
            free(w);
            return err_set(e, "moderation rule %d (%s): \"words\" entry %d is not a non-empty string", idx, r->name, k);
        }
        w[k++] = it->valuestring;
    }
    qsort(w, (size_t)n, sizeof *w, by_len_desc);  /* the longest alternative wins at a position */
    char *pat = NULL;
    size_t len = 0, cap = 0;
    int rc = append(&pat, &len, &cap, "(?:", 3);
    for (int i = 0; i < n && !rc; i++) rc = (i && append(&pat, &len, &cap, "|", 1)) || append_word(&pat, &len, &cap, w[i]);
    if (!rc) rc = append(&pat, &len, &cap, ")", 1);
    free(w);
    if (rc) { free(pat); return err_set(e, "out of memory"); }
    r->re = compile(pat, PCRE2_CASELESS, r->name, idx, e);
    free(pat);
    return r->re ? 0 : -1;
}

static int parse_rule(struct rule *r, const cJSON *j, int idx, struct err *e) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name"), *type = cJSON_GetObjectItemCaseSensitive(j, "type"),
                *action = cJSON_GetObjectItemCaseSensitive(j, "action"),
                *cat = cJSON_GetObjectItemCaseSensitive(j, "category"),
                *msg = cJSON_GetObjectItemCaseSensitive(j, "message"),
                *rep = cJSON_GetObjectItemCaseSensitive(j, "replacement");
    char fallback[32];
    snprintf(fallback, sizeof fallback, "rule-%d", idx);
    if (!cJSON_IsObject(j)) return err_set(e, "moderation rule %d is not an object", idx);
    if (name && !cJSON_IsString(name)) return err_set(e, "moderation rule %d: \"name\" must be a string", idx);
    r->name = dup_str(name ? name->valuestring : fallback);
    if (!r->name) return err_set(e, "out of memory");
    if (!cJSON_IsString(type)) return err_set(e, "moderation rule %d (%s): \"type\" must be words, regex or pii", idx, r->name);
    int a = parse_action(cJSON_IsString(action) ? action->valuestring : NULL);
    if (a < 0) return err_set(e, "moderation rule %d (%s): \"action\" must be allow, log, warn, redact or block", idx, r->name);
    r->action = (enum mod_action)a;
    if ((cat && !cJSON_IsString(cat)) || (msg && !cJSON_IsString(msg)) || (rep && !cJSON_IsString(rep)))
        return err_set(e, "moderation rule %d (%s): category, message and replacement must be strings", idx, r->name);
    if ((cat && !(r->category = dup_str(cat->valuestring))) || (msg && !(r->message = dup_str(msg->valuestring))) ||
        (rep && !(r->replacement = dup_str(rep->valuestring))))
        return err_set(e, "out of memory");
    const char *t = type->valuestring;
    if (!strcmp(t, "words")) {
        r->type = R_WORDS;
        return words_rule(r, cJSON_GetObjectItemCaseSensitive(j, "words"), idx, e);
    }
    if (!strcmp(t, "regex")) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "pattern"), *ci = cJSON_GetObjectItemCaseSensitive(j, "ignore_case");
        if (!cJSON_IsString(p) || !p->valuestring[0])
            return err_set(e, "moderation rule %d (%s): \"pattern\" must be a non-empty string", idx, r->name);
        r->type = R_REGEX;
        r->re = compile(p->valuestring, cJSON_IsTrue(ci) ? PCRE2_CASELESS : 0, r->name, idx, e);
        return r->re ? 0 : -1;
    }
    if (!strcmp(t, "pii")) {
        const cJSON *kinds = cJSON_GetObjectItemCaseSensitive(j, "kinds");
        r->type = R_PII;
        if (!kinds) { r->pii_mask = PII_ALL; return 0; }
        if (!cJSON_IsArray(kinds) || !kinds->child)
            return err_set(e, "moderation rule %d (%s): \"kinds\" must be a list of email, phone, card, kr_rrn", idx, r->name);
        for (const cJSON *k = kinds->child; k; k = k->next) {
            int kind = pii_kind_parse(cJSON_IsString(k) ? k->valuestring : NULL);
            if (kind < 0)
                return err_set(e, "moderation rule %d (%s): unknown PII kind %s%s%s (email, phone, card, kr_rrn)", idx,
                               r->name, cJSON_IsString(k) ? "'" : "", cJSON_IsString(k) ? k->valuestring : "(not a string)",
                               cJSON_IsString(k) ? "'" : "");
            r->pii_mask |= 1u << kind;
        }
        return 0;
    }
    return err_set(e, "moderation rule %d (%s): unknown type '%s' (words, regex or pii)", idx, r->name, t);
}

struct mod_rules *mod_rules_parse(const char *json, size_t len, struct err *e) {
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) { err_set(e, "moderation policy: not valid JSON"); return NULL; }
    const cJSON *jr = cJSON_GetObjectItemCaseSensitive(root, "rules");
    int n = cJSON_GetArraySize(jr);
    if (!cJSON_IsObject(root) || !cJSON_IsArray(jr) || n > MAX_RULES) {
        cJSON_Delete(root);
        err_set(e, "moderation policy: expected {\"rules\": [...]} with at most %d rules", MAX_RULES);
        return NULL;
    }
    struct mod_rules *m = calloc(1, sizeof *m);
    if (m) m->r = calloc((size_t)(n ? n : 1), sizeof *m->r);
    if (m) m->mctx = pcre2_match_context_create(NULL);
    if (!m || !m->r || !m->mctx) {
        cJSON_Delete(root);
        mod_rules_free(m);
        err_set(e, "out of memory");
        return NULL;
    }
    pcre2_set_match_limit(m->mctx, MATCH_LIMIT);
    pcre2_set_depth_limit(m->mctx, DEPTH_LIMIT);
    int i = 0;
    for (const cJSON *j = jr->child; j; j = j->next, i++) {
        m->n = i + 1;
        if (parse_rule(&m->r[i], j, i, e)) {
            cJSON_Delete(root);
            mod_rules_free(m);
            return NULL;
        }
    }
    cJSON_Delete(root);
    return m;
}

struct mod_rules *mod_rules_load(const char *path, struct err *e) {
    FILE *f = fopen(path, "rb");
    if (!f) { err_set(e, "cannot open moderation policy %s", path); return NULL; }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    char chunk[65536];
    for (size_t k; (k = fread(chunk, 1, sizeof chunk, f)) > 0;) {
        if (len + k > (64u << 20)) { fclose(f); free(buf); err_set(e, "%s: a policy over 64 MiB", path); return NULL; }
        if (append(&buf, &len, &cap, chunk, k)) { fclose(f); free(buf); err_set(e, "out of memory"); return NULL; }
    }
    fclose(f);
    struct mod_rules *m = mod_rules_parse(buf ? buf : "", len, e);
    if (!m) err_prefix(e, "%s: ", path);
    free(buf);
    return m;
}

void mod_rules_free(struct mod_rules *m) {
    if (!m) return;
    for (int i = 0; i < m->n; i++) {
        struct rule *r = &m->r[i];
        free(r->name), free(r->category), free(r->message), free(r->replacement);
        pcre2_code_free(r->re);
    }
    free(m->r);
    pcre2_match_context_free(m->mctx);
    free(m);
}

int mod_rules_count(const struct mod_rules *m) { return m ? m->n : 0; }

struct hits {
    struct mod_hit *v;
    int n, cap;
};

static int add_hit(struct hits *h, const struct rule *r, const char *kind, size_t a, size_t len) {
    if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 8;
        struct mod_hit *v = realloc(h->v, sizeof *v * (size_t)cap);
        if (!v) return -1;
        h->v = v, h->cap = cap;
    }
    h->v[h->n++] = (struct mod_hit){r->name, r->category ? r->category : r->type == R_PII ? "pii" : NULL, kind,
                                    r->action, a, len};
    return 0;
}

static int regex_hits(const struct mod_rules *m, const struct rule *r, const char *text, size_t len, struct hits *h) {
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(r->re, NULL);
    if (!md) return -1;
    int rc = 0;
    for (PCRE2_SIZE at = 0; at <= len && !rc;) {
        int mr = pcre2_match(r->re, (PCRE2_SPTR)text, len, at, 0, md, m->mctx);
        if (mr < 0) break;  /* no more, or the backtracking budget ran out: what was found stands */
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (ov[1] <= ov[0]) {  /* an empty match: step one character */
            at = ov[0] + 1;
            while (at < len && ((unsigned char)text[at] & 0xC0) == 0x80) at++;
            continue;
        }
        rc = add_hit(h, r, NULL, ov[0], ov[1] - ov[0]);
        at = ov[1];
    }
    pcre2_match_data_free(md);
    return rc;
}

static int by_pos(const void *a, const void *b) {
    const struct mod_hit *x = a, *y = b;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    return x->len > y->len ? -1 : x->len < y->len;
}

static const char *default_replacement(const struct mod_hit *h) {
    if (!h->kind) return "[REDACTED]";
    if (!strcmp(h->kind, "email")) return "[EMAIL]";
    if (!strcmp(h->kind, "phone")) return "[PHONE]";
    if (!strcmp(h->kind, "card")) return "[CARD]";
    return "[RRN]";
}

int mod_rules_check(const struct mod_rules *m, const char *text, size_t len, struct mod_verdict *v, struct err *e) {
    memset(v, 0, sizeof *v);
    struct hits h = {0};
    for (int i = 0; m && i < m->n; i++) {
        const struct rule *r = &m->r[i];
        if (r->type != R_PII) {
            if (regex_hits(m, r, text, len, &h)) goto oom;
            continue;
        }
        struct pii_match *pm;
        int np;
        if (pii_find(text, len, r->pii_mask, &pm, &np, e)) { free(h.v); return -1; }
        for (int k = 0; k < np; k++)
            if (add_hit(&h, r, pii_kind_name(pm[k].kind), pm[k].start, pm[k].len)) { free(pm); goto oom; }
        free(pm);
    }
    /* allow spans exempt what lies inside them; then they are not reported either */
    int n = 0;
    for (int i = 0; i < h.n; i++) {
        int inside = 0;
        if (h.v[i].action != MOD_ALLOW)
            for (int k = 0; k < h.n && !inside; k++)
                inside = h.v[k].action == MOD_ALLOW && h.v[k].start <= h.v[i].start &&
                         h.v[i].start + h.v[i].len <= h.v[k].start + h.v[k].len;
        if (h.v[i].action != MOD_ALLOW && !inside) h.v[n++] = h.v[i];
    }
    h.n = n;
    if (n) qsort(h.v, (size_t)n, sizeof *h.v, by_pos);
    v->hits = h.v, v->n_hits = n;
    const struct rule *decider = NULL;
    for (int i = 0; i < n; i++)
        if (h.v[i].action > v->action) {
            v->action = h.v[i].action;
            for (int k = 0; k < m->n; k++)
                if (m->r[k].name == h.v[i].rule) decider = &m->r[k];
        }
    if (decider && (v->action == MOD_BLOCK || v->action == MOD_WARN)) v->message = decider->message;
    if (decider) v->rule = decider->name;
    /* redact: replace each redact hit, skipping ones that overlap an earlier replacement */
    int any = 0;
    for (int i = 0; i < n; i++) any |= h.v[i].action == MOD_REDACT;
    if (any) {
        char *out = NULL;
        size_t ol = 0, oc = 0, at = 0;
        if (append(&out, &ol, &oc, "", 0)) goto oom_v;
        for (int i = 0; i < n; i++) {
            const struct mod_hit *x = &h.v[i];
            if (x->action != MOD_REDACT || x->start < at) continue;
            const struct rule *r = NULL;
            for (int k = 0; k < m->n && !r; k++)
                if (m->r[k].name == x->rule) r = &m->r[k];
            const char *rep = r && r->replacement ? r->replacement : default_replacement(x);
            if (append(&out, &ol, &oc, text + at, x->start - at) || append(&out, &ol, &oc, rep, strlen(rep))) {
                free(out);
                goto oom_v;
            }
            at = x->start + x->len;
        }
        if (append(&out, &ol, &oc, text + at, len - at)) { free(out); goto oom_v; }
        v->text = out;
    }
    return 0;
oom_v:
    mod_verdict_free(v);
    return err_set(e, "out of memory");
oom:
    free(h.v);
    return err_set(e, "out of memory");
}

void mod_verdict_free(struct mod_verdict *v) {
    free(v->hits);
    free(v->text);
    memset(v, 0, sizeof *v);
}
