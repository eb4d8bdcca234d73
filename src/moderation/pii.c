/* PII detectors; see pii.h. Each kind is a PCRE2 pattern (UTF, Unicode properties,
 * invalid UTF-8 tolerated) for the candidates, then a check in C where a pattern cannot
 * say it: the Luhn sum of a card, the birth date of a resident registration number, the
 * digit count of a phone number. The patterns compile once per process. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "moderation/pii.h"

#include <pcre2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const char *const k_names[PII_N_KINDS] = {"email", "phone", "card", "kr_rrn"};

/* Digit runs are fenced by (?<!\d) / (?!\d) so a number is never cut out of a longer one. */
static const char *const k_patterns[PII_N_KINDS] = {
    /* local@domain.tld, letters of any script (메일@회사.한국 too) */
    "(?<![\\p{L}\\p{N}._%+\\-])[\\p{L}\\p{N}._%+\\-]+@[\\p{L}\\p{N}\\-]+(?:\\.[\\p{L}\\p{N}\\-]+)*\\.\\p{L}{2,}",
    /* Korean numbers (010-1234-5678, 02-123-4567, +82 10 1234 5678), international +CC …,
     * and North American (555) 123-4567 / 555-123-4567 */
    "(?<![\\d+])(?:"
    "(?:\\+82[\\- ]?0?|0)(?:1[016789]|2|[3-6][1-5]|70)[\\- .]?\\d{3,4}[\\- .]?\\d{4}"
    "|\\+[1-9]\\d{0,2}[\\- .]?(?:\\(\\d{1,4}\\)[\\- .]?)?\\d{1,4}(?:[\\- .]?\\d{2,4}){1,4}"
    "|\\(?\\d{3}\\)?[\\- .]\\d{3}[\\- .]\\d{4}"
    ")(?!\\d)",
    /* 13-19 digits, single spaces or hyphens between them allowed */
    "(?<!\\d)\\d(?:[ \\-]?\\d){12,18}(?!\\d)",
    /* YYMMDD-SNNNNNN (the hyphen or a space optional) */
    "(?<!\\d)\\d{6}[\\- ]?[1-8]\\d{6}(?!\\d)",
};

static pcre2_code *g_re[PII_N_KINDS];
static int g_compile_failed;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void compile_all(void) {
    for (int k = 0; k < PII_N_KINDS; k++) {
        int code;
        PCRE2_SIZE off;
        g_re[k] = pcre2_compile((PCRE2_SPTR)k_patterns[k], PCRE2_ZERO_TERMINATED,
                                PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &code, &off, NULL);
        if (!g_re[k]) g_compile_failed = 1;
        else pcre2_jit_compile(g_re[k], PCRE2_JIT_COMPLETE);  /* optional: falls back to the interpreter */
    }
}

const char *pii_kind_name(enum pii_kind k) { return (unsigned)k < PII_N_KINDS ? k_names[k] : NULL; }

int pii_kind_parse(const char *name) {
    for (int k = 0; name && k < PII_N_KINDS; k++)
        if (!strcmp(name, k_names[k])) return k;
    return -1;
}

int pii_luhn_ok(const char *d, size_t n) {
    if (n < 13 || n > 19) return 0;
    int sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i] < '0' || d[i] > '9') return 0;
        int v = d[n - 1 - i] - '0';
        if (i % 2) v = v * 2 > 9 ? v * 2 - 9 : v * 2;
        sum += v;
    }
    return sum % 10 == 0;
}

/* Numbers issued since October 2020 carry no check digit, so none is required: a real
 * date for the century the 7th digit gives (1/2: 1900s, 3/4: 2000s, 5-8: foreigners'). */
int pii_kr_rrn_ok(const char *d) {
    for (int i = 0; i < 13; i++)
        if (d[i] < '0' || d[i] > '9') return 0;
    int yy = (d[0] - '0') * 10 + d[1] - '0', mm = (d[2] - '0') * 10 + d[3] - '0', dd = (d[4] - '0') * 10 + d[5] - '0';
    int s = d[6] - '0';
    if (s < 1 || s > 8) return 0;
    int year = (s == 1 || s == 2 || s == 5 || s == 6 ? 1900 : 2000) + yy;
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mm < 1 || mm > 12 || dd < 1 || dd > mdays[mm - 1]) return 0;
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return !(mm == 2 && dd == 29 && !leap);
}

/* The digits of s[0..n) into buf (at most cap - 1 of them); their count. */
static size_t digits_of(const char *s, size_t n, char *buf, size_t cap) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++)
        if (s[i] >= '0' && s[i] <= '9') buf[k++] = s[i];
    buf[k] = 0;
    return k;
}

static int candidate_ok(enum pii_kind kind, const char *s, size_t n) {
    char d[64];
    size_t nd = digits_of(s, n, d, sizeof d);
    switch (kind) {
    case PII_CARD: return pii_luhn_ok(d, nd);
    case PII_KR_RRN: return nd == 13 && pii_kr_rrn_ok(d);
    case PII_PHONE: return nd >= 9 && nd <= 15;
    default: return 1;
    }
}

struct list {
    struct pii_match *v;
    int n, cap;
};

static int overlaps(const struct list *l, size_t a, size_t b) {
    for (int i = 0; i < l->n; i++)
        if (a < l->v[i].start + l->v[i].len && l->v[i].start < b) return 1;
    return 0;
}

static int push(struct list *l, enum pii_kind kind, size_t start, size_t len) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 8;
        struct pii_match *v = realloc(l->v, sizeof *v * (size_t)cap);
        if (!v) return -1;
        l->v = v, l->cap = cap;
    }
    l->v[l->n++] = (struct pii_match){kind, start, len};
    return 0;
}

static int by_start(const void *a, const void *b) {
    const struct pii_match *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

int pii_find(const char *text, size_t len, unsigned mask, struct pii_match **out, int *n, struct err *e) {
    *out = NULL, *n = 0;
    pthread_once(&g_once, compile_all);
    if (g_compile_failed) return err_set(e, "pii: a built-in pattern failed to compile (PCRE2 without Unicode?)");
    /* the stricter kinds first, so their digits are not taken by a looser one */
    static const enum pii_kind order[] = {PII_CARD, PII_KR_RRN, PII_EMAIL, PII_PHONE};
    struct list l = {0};
    for (size_t o = 0; o < sizeof order / sizeof *order; o++) {
        enum pii_kind k = order[o];
        if (!(mask & (1u << k))) continue;
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(g_re[k], NULL);
        if (!md) { free(l.v); return err_set(e, "pii: out of memory"); }
        for (PCRE2_SIZE at = 0; at <= len;) {
            int rc = pcre2_match(g_re[k], (PCRE2_SPTR)text, len, at, 0, md, NULL);
            if (rc < 0) break;  /* no more (or a match-limit error: nothing more to report) */
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            size_t a = ov[0], b = ov[1];
            if (b <= a) { at = a + 1; continue; }
            if (candidate_ok(k, text + a, b - a) && !overlaps(&l, a, b) && push(&l, k, a, b - a)) {
                pcre2_match_data_free(md);
                free(l.v);
                return err_set(e, "pii: out of memory");
            }
            at = b;
        }
        pcre2_match_data_free(md);
    }
    if (l.n) qsort(l.v, (size_t)l.n, sizeof *l.v, by_start);
    *out = l.v, *n = l.n;
    return 0;
}
