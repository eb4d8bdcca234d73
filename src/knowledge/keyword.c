/* Keyword scoring over passages; see keyword.h. One pass per query gram over the
 * lower-cased passages (strstr): linear in the text searched, fine for the thousands
 * of chunks of a user's stores (bench/bench_knowledge measures it). */
#include "knowledge/keyword.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static char *lower_dup(const char *s) {
    size_t n = strlen(s);
    char *o = malloc(n + 1);
    if (!o) return NULL;
    for (size_t i = 0; i <= n; i++) o[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + 32) : s[i];
    return o;
}

/* Bytes of the UTF-8 character at s (1 for a stray byte). */
static int u8len(const unsigned char *s) {
    if (*s < 0x80) return 1;
    int n = *s >= 0xF0 ? 4 : *s >= 0xE0 ? 3 : *s >= 0xC0 ? 2 : 1;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 1;
    return n;
}

/* A separator between terms: ASCII blanks and punctuation (letters and digits of any
 * script, and every non-ASCII character, belong to terms). */
static int is_sep(unsigned char c) {
    return c < 0x80 && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'));
}

struct gram {
    char *s;
    int whole;      /* a whole term (also scored), else one of its trigrams */
    double idf;
};

static int add_gram(struct gram **g, int *n, int *cap, const char *s, size_t len, int whole) {
    for (int i = 0; i < *n; i++)
        if (strlen((*g)[i].s) == len && !memcmp((*g)[i].s, s, len)) {
            (*g)[i].whole |= whole;
            return 0;
        }
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 32;
        struct gram *ng = realloc(*g, (size_t)nc * sizeof *ng);
        if (!ng) return -1;
        *g = ng;
        *cap = nc;
    }
    char *c = strndup(s, len);
    if (!c) return -1;
    (*g)[(*n)++] = (struct gram){c, whole, 0};
    return 0;
}

static int cmp_hit(const void *a, const void *b) {
    const struct kb_hit *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int kb_keyword_rank(const char *query, const char *const *texts, int n, struct kb_hit *out, int cap) {
    char *q = lower_dup(query ? query : "");
    if (!q) return -1;
    struct gram *g = NULL;
    int ng = 0, gcap = 0, rc = 0;
    /* the terms, and the trigrams of the long ones */
    for (const unsigned char *p = (const unsigned char *)q; *p && !rc;) {
        while (*p && is_sep(*p)) p++;
        const unsigned char *t = p;
        int chars = 0;
        while (*p && !is_sep(*p)) p += u8len(p), chars++;
        if (!chars) continue;
        size_t tl = (size_t)(p - t);
        if (add_gram(&g, &ng, &gcap, (const char *)t, tl, 1)) { rc = -1; break; }
        if (chars < 3) continue;
        for (const unsigned char *a = t; a < p;) {
            const unsigned char *b = a;
            int k = 0;
            while (b < p && k < 3) b += u8len(b), k++;
            if (k < 3) break;
            if (add_gram(&g, &ng, &gcap, (const char *)a, (size_t)(b - a), 0)) { rc = -1; break; }
            a += u8len(a);
        }
    }
    double *score = n > 0 ? calloc((size_t)n, sizeof *score) : NULL;
    unsigned char *has = n > 0 && ng > 0 ? malloc((size_t)n * (size_t)ng) : NULL;
    if (rc || (n > 0 && !score) || (n > 0 && ng > 0 && !has)) rc = -1;
    int m = 0;
    if (!rc && ng > 0 && n > 0) {
        for (int i = 0; i < n && !rc; i++) {
            char *t = lower_dup(texts[i] ? texts[i] : "");
            if (!t) { rc = -1; break; }
            for (int j = 0; j < ng; j++) has[(size_t)i * ng + j] = strstr(t, g[j].s) != NULL;
            free(t);
        }
        for (int j = 0; j < ng && !rc; j++) {
            int df = 0;
            for (int i = 0; i < n; i++) df += has[(size_t)i * ng + j];
            g[j].idf = log(1.0 + ((double)n - df + 0.5) / (df + 0.5));
        }
        for (int i = 0; i < n && !rc; i++)
            for (int j = 0; j < ng; j++)
                if (has[(size_t)i * ng + j]) score[i] += g[j].idf;
        struct kb_hit *all = rc ? NULL : malloc((size_t)n * sizeof *all);
        if (!all) rc = -1;
        else {
            int k = 0;
            for (int i = 0; i < n; i++)
                if (score[i] > 0) all[k++] = (struct kb_hit){i, (float)score[i]};
            qsort(all, (size_t)k, sizeof *all, cmp_hit);
            m = k < cap ? k : cap;
            if (m > 0) memcpy(out, all, (size_t)m * sizeof *all);
            free(all);
        }
    }
    for (int j = 0; j < ng; j++) free(g[j].s);
    free(g);
    free(has);
    free(score);
    free(q);
    return rc ? -1 : m;
}
