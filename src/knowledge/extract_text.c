/* Plain text, Markdown and CSV into blocks. Text must be UTF-8; a file that is not but
 * reads as CP949 (what Korean Windows and Excel write, a superset of EUC-KR) is
 * converted, since that is how most Korean CSV exports arrive. Anything else names the
 * first bad byte. */
#include <iconv.h>
#include <stdlib.h>
#include <string.h>

#include "knowledge/doc.h"
#include "text/utf8.h"

/* Offset of the first invalid UTF-8 byte, or n. */
static size_t bad_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        int k = utf8_char_valid((const unsigned char *)s + i, n - i);
        if (k <= 0) return i;
        i += (size_t)k;
    }
    return n;
}

/* s as UTF-8: itself (*owned NULL), or a CP949 conversion in *owned. 0 or -1 with e. */
static int as_utf8(const char *s, size_t n, const char **out, size_t *out_n, char **owned, struct err *e) {
    *owned = NULL;
    size_t bad = bad_utf8(s, n);
    if (bad == n) {
        if (n >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3)) s += 3, n -= 3;  /* a BOM */
        *out = s, *out_n = n;
        return 0;
    }
    iconv_t cd = iconv_open("UTF-8", "CP949");
    if (cd != (iconv_t)-1) {
        size_t cap = n * 2 + 16, left_in = n, left_out = cap;
        char *buf = malloc(cap), *in = (char *)s, *o = buf;
        if (!buf) { iconv_close(cd); return err_set(e, "out of memory"); }
        size_t r = iconv(cd, &in, &left_in, &o, &left_out);
        iconv_close(cd);
        if (r != (size_t)-1 && left_in == 0) {
            *owned = buf, *out = buf, *out_n = cap - left_out;
            return 0;
        }
        free(buf);
    }
    return err_set(e, "the text is not valid UTF-8 (nor CP949/EUC-KR): invalid byte 0x%02X at offset %zu; save it as UTF-8",
                   (unsigned char)s[bad], bad);
}

/* The next line of s[*at..n) (without its \r\n); 0 at the end. */
static int next_line(const char *s, size_t n, size_t *at, const char **line, size_t *len) {
    if (*at >= n) return 0;
    const char *p = s + *at, *nl = memchr(p, '\n', n - *at);
    size_t l = nl ? (size_t)(nl - p) : n - *at;
    *at += l + (nl ? 1 : 0);
    if (l && p[l - 1] == '\r') l--;
    *line = p, *len = l;
    return 1;
}

static int blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] > ' ') return 0;
    return 1;
}

struct para {
    char *buf;
    size_t n, cap;
};

static int para_add(struct para *p, const char *s, size_t n) {
    if (p->n + n + 2 > p->cap) {
        size_t cap = (p->n + n + 2) * 2;
        char *b = realloc(p->buf, cap);
        if (!b) return -1;
        p->buf = b, p->cap = cap;
    }
    if (p->n) p->buf[p->n++] = '\n';
    memcpy(p->buf + p->n, s, n);
    p->n += n;
    return 0;
}

static int para_flush(struct para *p, struct kb_doc *d) {
    int rc = p->n ? kb_doc_add(d, KB_PARAGRAPH, 0, 0, p->buf, p->n) : 0;
    p->n = 0;
    return rc;
}

int kb_extract_text(const char *raw, size_t raw_n, int markdown, struct kb_doc *d, struct err *e) {
    const char *s;
    size_t n;
    char *owned;
    if (as_utf8(raw, raw_n, &s, &n, &owned, e)) return -1;
    struct para p = {0};
    const char *line, *prev = NULL;
    size_t len, prev_len = 0, at = 0;
    int fence = 0, rc = 0;
    while (!rc && next_line(s, n, &at, &line, &len)) {
        if (markdown && len >= 3 && (!memcmp(line, "```", 3) || !memcmp(line, "~~~", 3))) {
            fence = !fence;  /* a code block is one paragraph, fences left out */
            rc = para_flush(&p, d);
            continue;
        }
        if (fence) { rc = para_add(&p, line, len); continue; }
        if (blank(line, len)) { rc = para_flush(&p, d); prev = NULL; continue; }
        if (markdown) {
            size_t h = 0;
            while (h < len && h < 7 && line[h] == '#') h++;
            if (h >= 1 && h <= 6 && (h == len || line[h] == ' ')) {
                size_t end = len;
                while (end > h && (line[end - 1] == '#' || line[end - 1] == ' ')) end--;  /* closing #s */
                rc = para_flush(&p, d) || kb_doc_add(d, KB_HEADING, (int)h, 0, line + h, end > h ? end - h : 0);
                continue;
            }
            /* setext: a line of = or - under a one-line paragraph */
            if (prev && p.n == prev_len && len >= 2 && (strspn(line, "=") == len || strspn(line, "-") == len)) {
                rc = kb_doc_add(d, KB_HEADING, line[0] == '=' ? 1 : 2, 0, p.buf, p.n);
                p.n = 0, prev = NULL;
                continue;
            }
            if (line[0] == '|') {  /* a table row; the |---| separator is skipped */
                if (strspn(line, "|-: ") != len) rc = para_flush(&p, d) || kb_doc_add(d, KB_TABLE_ROW, 0, 0, line, len);
                continue;
            }
        }
        rc = para_add(&p, line, len);
        prev = line, prev_len = p.n;
    }
    if (!rc) rc = para_flush(&p, d);
    free(p.buf);
    free(owned);
    return rc ? err_set(e, "out of memory") : 0;
}

/* One CSV record from s[*at..n): fields into f (malloc'ed strings), RFC 4180 quoting. */
static int csv_record(const char *s, size_t n, size_t *at, char sep, char ***f, int *nf, int *cap, struct err *e) {
    *nf = 0;
    size_t i = *at;
    if (i >= n) return 0;
    for (;;) {
        size_t fcap = 64, fl = 0;
        char *fb = malloc(fcap);
        if (!fb) return err_set(e, "out of memory");
        int quoted = i < n && s[i] == '"';
        if (quoted) i++;
        for (; i < n; i++) {
            char c = s[i];
            if (quoted && c == '"') {
                if (i + 1 < n && s[i + 1] == '"') { i++; }
                else { quoted = 0; continue; }
            } else if (!quoted && (c == sep || c == '\n' || c == '\r')) {
                break;
            }
            if (fl + 2 > fcap) {
                char *nb = realloc(fb, fcap *= 2);
                if (!nb) { free(fb); return err_set(e, "out of memory"); }
                fb = nb;
            }
            fb[fl++] = c;
        }
        fb[fl] = 0;
        if (quoted) { free(fb); return err_set(e, "CSV: a quoted field is not closed before the end of the file"); }
        if (*nf == *cap) {
            int c2 = *cap ? *cap * 2 : 16;
            char **nf2 = realloc(*f, sizeof **f * (size_t)c2);
            if (!nf2) { free(fb); return err_set(e, "out of memory"); }
            *f = nf2, *cap = c2;
        }
        (*f)[(*nf)++] = fb;
        if (i < n && s[i] == sep) { i++; continue; }
        if (i < n && s[i] == '\r') i++;
        if (i < n && s[i] == '\n') i++;
        break;
    }
    *at = i;
    return 0;
}

int kb_extract_csv(const char *raw, size_t raw_n, struct kb_doc *d, struct err *e) {
    const char *s;
    size_t n;
    char *owned;
    if (as_utf8(raw, raw_n, &s, &n, &owned, e)) return -1;
    /* the separator: the most frequent of , ; tab in the first line */
    size_t first = 0;
    while (first < n && s[first] != '\n') first++;
    int cnt[3] = {0};
    for (size_t i = 0; i < first; i++) cnt[0] += s[i] == ',', cnt[1] += s[i] == ';', cnt[2] += s[i] == '\t';
    char sep = cnt[1] > cnt[0] && cnt[1] >= cnt[2] ? ';' : cnt[2] > cnt[0] ? '\t' : ',';
    char **head = NULL, **f = NULL;
    int nh = 0, hcap = 0, nf = 0, fcap = 0, rc = 0;
    size_t at = 0;
    rc = csv_record(s, n, &at, sep, &head, &nh, &hcap, e);
    while (!rc && at < n) {
        for (int i = 0; i < nf; i++) free(f[i]);
        if ((rc = csv_record(s, n, &at, sep, &f, &nf, &fcap, e))) break;
        int empty = 1;
        for (int i = 0; i < nf; i++) empty &= !f[i][0];
        if (empty) continue;
        /* "column: value; column: value", which a retriever and a reader both understand */
        size_t len = 0;
        for (int i = 0; i < nf; i++) len += strlen(f[i]) + (i < nh ? strlen(head[i]) : 8) + 4;
        char *t = malloc(len + 1), *o = t;
        if (!t) { rc = err_set(e, "out of memory"); break; }
        for (int i = 0; i < nf; i++) {
            if (!f[i][0]) continue;
            if (o != t) *o++ = ';', *o++ = ' ';
            const char *h = i < nh && head[i][0] ? head[i] : NULL;
            if (h) { size_t k = strlen(h); memcpy(o, h, k); o += k; *o++ = ':'; *o++ = ' '; }
            size_t k = strlen(f[i]);
            memcpy(o, f[i], k);
            o += k;
        }
        if (kb_doc_add(d, KB_TABLE_ROW, 0, 0, t, (size_t)(o - t))) rc = err_set(e, "out of memory");
        free(t);
    }
    for (int i = 0; i < nf; i++) free(f[i]);
    for (int i = 0; i < nh; i++) free(head[i]);
    free(f);
    free(head);
    free(owned);
    return rc;
}
