/* PDF into blocks with poppler (poppler-glib): each page's text in reading order, cut
 * into lines; a line set in a clearly larger font than the body text is a heading (the
 * larger, the higher its level); a vertical gap wider than a line starts a new
 * paragraph. Every block keeps its page number for citations. A PDF whose pages carry no
 * text at all is a scan and is reported as such (no OCR here). */
#include <math.h>
#include <poppler.h>
#include <stdlib.h>
#include <string.h>

#include "knowledge/doc.h"

struct line {
    long start, end;    /* character indices into the page text */
    double top, height;
    double size;        /* font size of its first character */
};

/* Byte offset of character index ci in UTF-8 text (g_utf8_offset_to_pointer, bounded). */
static const char *char_at(const char *text, long ci) { return g_utf8_offset_to_pointer(text, ci); }

static double size_at(GList *attrs, long ci) {
    for (GList *a = attrs; a; a = a->next) {
        PopplerTextAttributes *t = a->data;
        if (ci >= t->start_index && ci <= t->end_index) return t->font_size;
    }
    return 0;
}

/* The body font size: the size covering the most characters over all pages. */
struct size_count { double size; long chars; };

static void count_sizes(GList *attrs, struct size_count *sc, int *n_sc, int cap) {
    for (GList *a = attrs; a; a = a->next) {
        PopplerTextAttributes *t = a->data;
        double s = round(t->font_size * 2) / 2;
        int i = 0;
        while (i < *n_sc && sc[i].size != s) i++;
        if (i == *n_sc) {
            if (*n_sc == cap) continue;
            sc[(*n_sc)++] = (struct size_count){s, 0};
        }
        sc[i].chars += t->end_index - t->start_index + 1;
    }
}

static int page_blocks(PopplerPage *page, int pno, double body, const double *heading_sizes, int n_hs,
                       struct kb_doc *d) {
    char *text = poppler_page_get_text(page);
    if (!text) return 0;
    PopplerRectangle *rects = NULL;
    guint n_rects = 0;
    poppler_page_get_text_layout(page, &rects, &n_rects);
    GList *attrs = poppler_page_get_text_attributes(page);
    long n_chars = g_utf8_strlen(text, -1);
    int rc = 0;
    char *para = NULL;
    size_t pn = 0, pcap = 0;
    double prev_bottom = -1, prev_h = 0;
    long ci = 0;
    while (ci < n_chars && !rc) {
        const char *ls = char_at(text, ci), *nl = strchr(ls, '\n');
        long len_chars = nl ? g_utf8_pointer_to_offset(ls, nl) : n_chars - ci;
        struct line L = {ci, ci + len_chars, 0, 0, size_at(attrs, ci)};
        if ((guint)ci < n_rects) {
            L.top = rects[ci].y1;
            L.height = rects[ci].y2 - rects[ci].y1;
        }
        size_t lb = nl ? (size_t)(nl - ls) : strlen(ls);
        int level = 0;
        for (int h = 0; h < n_hs && L.size > 0; h++)
            if (fabs(L.size - heading_sizes[h]) < 0.26) level = h + 1;
        /* lines of a paragraph touch (their boxes are the line height); a gap of a third of a
         * line or more is a paragraph break */
        int gap = prev_bottom >= 0 && L.top - prev_bottom > 0.35 * (prev_h > 0 ? prev_h : L.height);
        if (level || gap || (L.size > 0 && body > 0 && prev_bottom < 0)) {
            if (pn && kb_doc_add(d, KB_PARAGRAPH, 0, pno, para, pn)) rc = -1;
            pn = 0;
        }
        if (level) {
            if (!rc && kb_doc_add(d, KB_HEADING, level, pno, ls, lb)) rc = -1;
        } else if (!rc && lb) {
            if (pn + lb + 2 > pcap) {
                pcap = (pn + lb + 2) * 2;
                char *np = realloc(para, pcap);
                if (!np) { rc = -1; break; }
                para = np;
            }
            /* lines of one paragraph are one text: a space between them (Korean and English wrap at spaces) */
            if (pn) para[pn++] = ' ';
            memcpy(para + pn, ls, lb);
            pn += lb;
        }
        if (L.height > 0) prev_bottom = L.top + L.height, prev_h = L.height;
        ci += len_chars + 1;
    }
    if (!rc && pn && kb_doc_add(d, KB_PARAGRAPH, 0, pno, para, pn)) rc = -1;
    free(para);
    poppler_page_free_text_attributes(attrs);
    g_free(rects);
    g_free(text);
    return rc;
}

static int by_size_desc(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

int kb_extract_pdf(const void *data, size_t n, const struct kb_limits *lim, struct kb_doc *d, struct err *e) {
    if (n < 5 || memcmp(data, "%PDF-", 5)) return err_set(e, "this is not a PDF file (it does not start with %%PDF-)");
    GBytes *bytes = g_bytes_new_static(data, n);
    GError *ge = NULL;
    PopplerDocument *doc = poppler_document_new_from_bytes(bytes, NULL, &ge);
    if (!doc) {
        err_set(e, "the PDF could not be read (%s): it may be damaged or protected by a password",
                ge && ge->message ? ge->message : "unknown error");
        if (ge) g_error_free(ge);
        g_bytes_unref(bytes);
        return -1;
    }
    int pages = poppler_document_get_n_pages(doc), rc = 0;
    if (pages > lim->max_pages) {
        g_object_unref(doc);
        g_bytes_unref(bytes);
        return err_set(e, "the PDF has %d pages; at most %d can be read", pages, lim->max_pages);
    }
    d->n_pages = pages;
    char *title = poppler_document_get_title(doc);
    if (title && *title) d->title = strdup(title);
    g_free(title);
    /* the body size and the heading sizes (clearly larger ones, at most 3 levels) */
    struct size_count sc[64];
    int n_sc = 0;
    long text_chars = 0;
    for (int i = 0; i < pages; i++) {
        PopplerPage *p = poppler_document_get_page(doc, i);
        if (!p) continue;
        GList *a = poppler_page_get_text_attributes(p);
        count_sizes(a, sc, &n_sc, 64);
        poppler_page_free_text_attributes(a);
        char *t = poppler_page_get_text(p);
        for (const char *c = t; c && *c; c++) text_chars += (unsigned char)*c > ' ';
        g_free(t);
        g_object_unref(p);
    }
    if (!text_chars) {
        g_object_unref(doc);
        g_bytes_unref(bytes);
        return err_set(e, "the PDF has no text layer (%d page%s, a scanned document?): text recognition (OCR) is not "
                          "supported; upload a PDF with selectable text, or the text itself", pages, pages == 1 ? "" : "s");
    }
    double body = 0;
    long best = -1;
    for (int i = 0; i < n_sc; i++)
        if (sc[i].chars > best) best = sc[i].chars, body = sc[i].size;
    double hs[64];
    int n_hs = 0;
    for (int i = 0; i < n_sc; i++)
        if (body > 0 && sc[i].size >= body * 1.2) hs[n_hs++] = sc[i].size;
    qsort(hs, (size_t)n_hs, sizeof *hs, by_size_desc);
    if (n_hs > 3) n_hs = 3;
    for (int i = 0; i < pages && !rc; i++) {
        PopplerPage *p = poppler_document_get_page(doc, i);
        if (!p) continue;
        rc = page_blocks(p, i + 1, body, hs, n_hs, d);
        g_object_unref(p);
    }
    g_object_unref(doc);
    g_bytes_unref(bytes);
    return rc ? err_set(e, "out of memory") : 0;
}
