/* Retrieval over an assistant's bundled knowledge files (see assistants.h,
 * asst_knowledge_search): each file is extracted and chunked by src/knowledge (headings
 * and pages kept for the citation), and the chunks are ranked by how much of the
 * question's character bigrams they contain. Bigrams of Unicode code points, not words:
 * Korean questions and passages share stems inside words ("보증기간은" / "보증 기간"),
 * which whitespace tokens would miss. This is the keyword half of retrieval for the files
 * an assistant carries in its bundle; dense (embedding) search over vector stores is the
 * files API's. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assistants/assistants.h"
#include "knowledge/chunk.h"
#include "knowledge/doc.h"

/* Next code point of s (ASCII lowercased), 0 at the end; *s advances. Invalid bytes are
 * taken one by one. */
static uint32_t next_cp(const unsigned char **s) {
    const unsigned char *p = *s;
    if (!*p) return 0;
    uint32_t c = *p++;
    int n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 0;
    if (n) c &= 0x3F >> n;
    for (int i = 0; i < n && (*p & 0xC0) == 0x80; i++) c = c << 6 | (*p++ & 0x3F);
    *s = p;
    if (c >= 'A' && c <= 'Z') c += 32;
    return c;
}

/* A letter or digit for our purpose: ASCII alphanumerics and everything above U+00BF
 * except the CJK and general punctuation blocks. */
static int wordy(uint32_t c) {
    if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (c < 0xC0) return 0;
    if ((c >= 0x2000 && c <= 0x206F) || (c >= 0x3000 && c <= 0x303F) || (c >= 0xFF00 && c <= 0xFF0F)) return 0;
    return 1;
}

static int u64_cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The distinct bigrams of text (adjacent wordy code points inside a word), sorted. */
static int bigrams(const char *text, uint64_t **out, size_t *n) {
    size_t cap = 64, k = 0;
    uint64_t *v = malloc(cap * sizeof *v);
    if (!v) return -1;
    const unsigned char *p = (const unsigned char *)text;
    uint32_t prev = 0, c;
    while ((c = next_cp(&p))) {
        if (!wordy(c)) { prev = 0; continue; }
        if (prev) {
            if (k == cap) {
                uint64_t *g = realloc(v, 2 * cap * sizeof *v);
                if (!g) { free(v); return -1; }
                v = g;
                cap *= 2;
            }
            v[k++] = (uint64_t)prev << 32 | c;
        }
        prev = c;
    }
    qsort(v, k, sizeof *v, u64_cmp);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (!u || v[u - 1] != v[i]) v[u++] = v[i];
    *out = v;
    *n = u;
    return 0;
}

/* The share of q's bigrams that c has (both sorted, distinct). */
static double coverage(const uint64_t *q, size_t nq, const uint64_t *c, size_t nc) {
    if (!nq) return 0;
    size_t i = 0, j = 0, hit = 0;
    while (i < nq && j < nc) {
        if (q[i] == c[j]) hit++, i++, j++;
        else if (q[i] < c[j]) i++;
        else j++;
    }
    return (double)hit / (double)nq;
}

void asst_passages_free(struct asst_passage *p, int n) {
    for (int i = 0; p && i < n; i++) free(p[i].text), free(p[i].heading);
    free(p);
}

static char *dup(const char *s) { return s ? strdup(s) : NULL; }

int asst_knowledge_search(struct store *st, const char *id, const char *query, int k, double threshold,
                          struct asst_passage **out, int *n_out, struct err *e) {
    *out = NULL;
    *n_out = 0;
    if (k < 1) k = 1;
    if (k > 50) k = 50;
    uint64_t *qb = NULL;
    size_t nq = 0;
    if (bigrams(query ? query : "", &qb, &nq)) return err_set(e, "out of memory");
    struct asst_file *f = NULL;
    size_t nf = 0;
    int rc = nq ? asst_files(st, id, 1, &f, &nf, e) : 0;
    struct asst_passage *best = calloc((size_t)k + 1, sizeof *best);
    int nb = 0;
    if (!best) rc = err_set(e, "out of memory");
    struct kb_limits lim = kb_default_limits();
    struct kb_chunk_params cp = kb_chunk_default_params();
    cp.max_tokens = 300;
    cp.overlap_tokens = 40;
    for (size_t i = 0; !rc && i < nf; i++) {
        int fmt = kb_format_detect(f[i].name, f[i].data, (size_t)f[i].size);
        if (fmt < 0) continue;  /* not a document we read: carried, not searched */
        struct kb_doc d;
        struct err xe = {{0}};
        if (kb_extract(f[i].data, (size_t)f[i].size, (enum kb_format)fmt, &lim, &d, &xe)) continue;
        struct kb_chunk *ch = NULL;
        int nc = 0;
        if (kb_chunk_doc(&d, &cp, &ch, &nc, &xe)) { kb_doc_free(&d); rc = err_set(e, "out of memory"); break; }
        for (int c = 0; c < nc && !rc; c++) {
            uint64_t *cb = NULL;
            size_t ncb = 0;
            /* the heading is part of what a passage is about */
            size_t tl = strlen(ch[c].text) + (ch[c].heading ? strlen(ch[c].heading) : 0) + 2;
            char *t = malloc(tl);
            if (!t) { rc = err_set(e, "out of memory"); break; }
            snprintf(t, tl, "%s\n%s", ch[c].heading ? ch[c].heading : "", ch[c].text);
            int br = bigrams(t, &cb, &ncb);
            free(t);
            if (br) { rc = err_set(e, "out of memory"); break; }
            double sc = coverage(qb, nq, cb, ncb);
            free(cb);
            if (sc <= 0 || sc < threshold) continue;
            /* insert into the best k, best first; ties keep file and chunk order */
            int at = nb;
            while (at > 0 && best[at - 1].score < sc) at--;
            if (at >= k) continue;
            if (nb == k) { free(best[k - 1].text); free(best[k - 1].heading); nb--; }
            memmove(best + at + 1, best + at, (size_t)(nb - at) * sizeof *best);
            struct asst_passage *p = &best[at];
            memset(p, 0, sizeof *p);
            snprintf(p->file, sizeof p->file, "%s", f[i].name);
            p->text = dup(ch[c].text);
            p->heading = dup(ch[c].heading);
            p->page = ch[c].page_first;
            p->chunk = c;
            p->score = sc;
            nb++;
            if (!p->text || (ch[c].heading && !p->heading)) rc = err_set(e, "out of memory");
        }
        kb_chunks_free(ch, nc);
        kb_doc_free(&d);
    }
    asst_files_free(f, nf);
    free(qb);
    if (rc) { asst_passages_free(best, nb); return rc; }
    *out = best;
    *n_out = nb;
    return 0;
}

char *asst_knowledge_context(const struct asst_passage *p, int n, int only_knowledge) {
    size_t cap = 512;
    for (int i = 0; i < n; i++) cap += strlen(p[i].text) + (p[i].heading ? strlen(p[i].heading) : 0) + sizeof p[i].file + 64;
    char *o = malloc(cap);
    if (!o) return NULL;
    size_t len = (size_t)snprintf(o, cap, "%s", n ? "Passages from your knowledge files, each with its source; cite them as [n] when you use them.\n"
                                                 : "No passage of your knowledge files matches this question.\n");
    for (int i = 0; i < n; i++) {
        len += (size_t)snprintf(o + len, cap - len, "\n[%d] %s", i + 1, p[i].file);
        if (p[i].page) len += (size_t)snprintf(o + len, cap - len, ", p. %d", p[i].page);
        if (p[i].heading) len += (size_t)snprintf(o + len, cap - len, ", %s", p[i].heading);
        len += (size_t)snprintf(o + len, cap - len, "\n%s\n", p[i].text);
    }
    if (only_knowledge)
        snprintf(o + len, cap - len, "\nAnswer only from these passages; if they do not hold the answer, say that you do not know.");
    return o;
}
