/* Documents and the format dispatch; see doc.h. */
#include "knowledge/doc.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const k_names[KB_N_FORMATS] = {"txt", "md", "pdf", "docx", "hwpx", "html", "csv"};

const char *kb_format_name(enum kb_format f) { return (unsigned)f < KB_N_FORMATS ? k_names[f] : NULL; }

struct kb_limits kb_default_limits(void) {
    return (struct kb_limits){.max_file = 100u << 20, .max_unzipped = 200u << 20, .max_ratio = 200,
                              .max_entries = 10000, .max_pages = 5000};
}

static int ends_with(const char *s, const char *ext) {
    size_t n = s ? strlen(s) : 0, k = strlen(ext);
    return n >= k && !strcasecmp(s + n - k, ext);
}

/* Whether the zip's central directory names a part (a cheap scan for the name bytes). */
static int zip_names(const void *data, size_t n, const char *part) {
    size_t k = strlen(part);
    const char *p = data;
    for (size_t i = 0; i + k <= n; i++)
        if (p[i] == part[0] && !memcmp(p + i, part, k)) return 1;
    return 0;
}

int kb_format_detect(const char *name, const void *data, size_t n) {
    const unsigned char *b = data;
    if (n >= 5 && !memcmp(b, "%PDF-", 5)) return KB_PDF;
    if (n >= 4 && !memcmp(b, "PK\3\4", 4)) {
        if (ends_with(name, ".docx")) return KB_DOCX;
        if (ends_with(name, ".hwpx")) return KB_HWPX;
        if (zip_names(data, n, "word/document.xml")) return KB_DOCX;
        if (zip_names(data, n, "Contents/section0.xml")) return KB_HWPX;
        return -1;
    }
    if (ends_with(name, ".pdf")) return KB_PDF;  /* no magic: extraction says what is wrong */
    if (ends_with(name, ".docx")) return KB_DOCX;
    if (ends_with(name, ".hwpx")) return KB_HWPX;
    if (ends_with(name, ".md") || ends_with(name, ".markdown")) return KB_MD;
    if (ends_with(name, ".html") || ends_with(name, ".htm")) return KB_HTML;
    if (ends_with(name, ".csv")) return KB_CSV;
    if (ends_with(name, ".txt") || ends_with(name, ".text")) return KB_TXT;
    /* no name to go by: a leading '<' that looks like markup is HTML, else text */
    size_t i = 0;
    while (i < n && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t')) i++;
    if (i + 5 < n && b[i] == '<' && (!strncasecmp((const char *)b + i, "<!doc", 5) || !strncasecmp((const char *)b + i, "<html", 5)))
        return KB_HTML;
    return name && strchr(name, '.') ? -1 : KB_TXT;
}

void kb_buf_put(struct kb_buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *t = realloc(b->s, cap);
        if (!t) { b->oom = 1; return; }
        b->s = t, b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

int kb_doc_add(struct kb_doc *d, enum kb_block_kind kind, int level, int page, const char *text, size_t len) {
    while (len && (unsigned char)*text <= ' ') text++, len--;
    while (len && (unsigned char)text[len - 1] <= ' ') len--;
    if (!len) return 0;
    /* control characters (a NUL inside a text file, a form feed) are no text: blanks */
    char *t = malloc(len + 1);
    if (!t) return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        t[i] = c < ' ' && c != '\n' && c != '\t' ? ' ' : (char)c;
    }
    size_t a = 0;
    while (a < len && (unsigned char)t[a] <= ' ') a++;
    while (len > a && (unsigned char)t[len - 1] <= ' ') len--;
    memmove(t, t + a, len - a);
    len -= a;
    t[len] = 0;
    if (!len) { free(t); return 0; }
    if (d->n == d->cap) {
        int cap = d->cap ? 2 * d->cap : 32;
        struct kb_block *b = realloc(d->b, sizeof *b * (size_t)cap);
        if (!b) { free(t); return -1; }
        d->b = b, d->cap = cap;
    }
    d->b[d->n++] = (struct kb_block){kind, level, page, t};
    return 0;
}

void kb_doc_free(struct kb_doc *d) {
    for (int i = 0; i < d->n; i++) free(d->b[i].text);
    free(d->b);
    free(d->title);
    memset(d, 0, sizeof *d);
}

int kb_extract(const void *data, size_t n, enum kb_format f, const struct kb_limits *lim, struct kb_doc *out,
               struct err *e) {
    struct kb_limits def = kb_default_limits();
    if (!lim) lim = &def;
    memset(out, 0, sizeof *out);
    if (n > lim->max_file)
        return err_set(e, "the file is %zu MiB; at most %zu MiB can be read", n >> 20, lim->max_file >> 20);
    int rc;
    switch (f) {
    case KB_TXT: rc = kb_extract_text(data, n, 0, out, e); break;
    case KB_MD: rc = kb_extract_text(data, n, 1, out, e); break;
    case KB_CSV: rc = kb_extract_csv(data, n, out, e); break;
    case KB_HTML: rc = kb_extract_html(data, n, out, e); break;
    case KB_PDF: rc = kb_extract_pdf(data, n, lim, out, e); break;
    case KB_DOCX:
    case KB_HWPX: rc = kb_extract_office(data, n, f, lim, out, e); break;
    default: return err_set(e, "unknown document format %d", (int)f);
    }
    if (rc) { kb_doc_free(out); return -1; }
    if (!out->n) {
        kb_doc_free(out);
        return err_set(e, "the %s file holds no text", kb_format_name(f));
    }
    return 0;
}
