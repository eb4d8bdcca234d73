/* HTML into blocks with libxml2's forgiving HTML parser (no network, no external
 * entities): h1-h6 are headings, p/li/pre/blockquote/dd/dt/figcaption paragraphs, table
 * rows "cell | cell"; script, style, noscript, template, svg, nav and head are skipped;
 * <title> is the document's title. Text in other elements (a div with bare text) becomes
 * a paragraph of its own. */
#include <libxml/HTMLparser.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "knowledge/doc.h"

/* Text with runs of whitespace made one space, as a browser shows it. */
static void put_text(struct kb_buf *b, const char *s) {
    for (; *s; s++) {
        int ws = *s == ' ' || *s == '\n' || *s == '\t' || *s == '\r';
        if (ws) {
            if (b->n && b->s[b->n - 1] != ' ' && b->s[b->n - 1] != '\n') kb_buf_put(b, " ", 1);
        } else {
            kb_buf_put(b, s, 1);
        }
    }
}

static int is(const xmlNode *n, const char *name) { return n->name && !strcasecmp((const char *)n->name, name); }

static int skipped(const xmlNode *n) {
    static const char *const k[] = {"script", "style", "noscript", "template", "svg", "nav", "head", "iframe", "object"};
    for (size_t i = 0; i < sizeof k / sizeof *k; i++)
        if (is(n, k[i])) return 1;
    return 0;
}

static int block_kind(const xmlNode *n, int *level) {
    static const char *const para[] = {"p", "li", "pre", "blockquote", "dd", "dt", "figcaption", "caption", "summary"};
    if (n->name && (n->name[0] == 'h' || n->name[0] == 'H') && n->name[1] >= '1' && n->name[1] <= '6' && !n->name[2]) {
        *level = n->name[1] - '0';
        return KB_HEADING;
    }
    if (is(n, "tr")) return KB_TABLE_ROW;
    for (size_t i = 0; i < sizeof para / sizeof *para; i++)
        if (is(n, para[i])) return KB_PARAGRAPH;
    return -1;
}

struct walk {
    struct kb_doc *d;
    struct kb_buf loose;  /* text outside any block element, flushed at block boundaries */
    int rc, depth;
};

static void flush_loose(struct walk *w) {
    if (w->loose.oom) w->rc = -1;
    if (!w->rc && w->loose.n && kb_doc_add(w->d, KB_PARAGRAPH, 0, 0, w->loose.s, w->loose.n)) w->rc = -1;
    w->loose.n = 0;
}

/* All text under n into b (cells of a row joined with " | "). */
static void gather(const xmlNode *n, struct kb_buf *b, int row, int depth) {
    for (const xmlNode *c = n->children; c && depth < 256; c = c->next) {
        if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
            if (c->content) put_text(b, (const char *)c->content);
        } else if (c->type == XML_ELEMENT_NODE && !skipped(c)) {
            if (row && (is(c, "td") || is(c, "th")) && b->n) kb_buf_put(b, " | ", 3);
            if (is(c, "br")) kb_buf_put(b, "\n", 1);
            gather(c, b, row, depth + 1);
        }
    }
}

static void walk(struct walk *w, const xmlNode *n) {
    if (++w->depth > 256) { w->depth--; return; }  /* deeper nesting is not a document */
    for (const xmlNode *c = n->children; c && !w->rc; c = c->next) {
        if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
            if (c->content) put_text(&w->loose, (const char *)c->content);
            continue;
        }
        if (c->type != XML_ELEMENT_NODE || skipped(c)) continue;
        int level = 0, kind = block_kind(c, &level);
        if (kind < 0) {
            if (is(c, "div") || is(c, "section") || is(c, "article") || is(c, "table") || is(c, "ul") || is(c, "ol") ||
                is(c, "br") || is(c, "main") || is(c, "header") || is(c, "footer"))
                flush_loose(w);
            walk(w, c);
            continue;
        }
        flush_loose(w);
        struct kb_buf b = {0};
        gather(c, &b, kind == KB_TABLE_ROW, 0);
        if (b.oom || (b.n && kb_doc_add(w->d, (enum kb_block_kind)kind, level, 0, b.s, b.n))) w->rc = -1;
        free(b.s);
    }
    w->depth--;
}

int kb_extract_html(const char *s, size_t n, struct kb_doc *d, struct err *e) {
    if (n > (size_t)0x7fffffff) return err_set(e, "the HTML file is too large");
    htmlDocPtr doc = htmlReadMemory(s, (int)n, NULL, NULL,
                                    HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_RECOVER |
                                        HTML_PARSE_NOBLANKS | HTML_PARSE_COMPACT);
    if (!doc) return err_set(e, "the HTML could not be read");
    xmlNode *root = xmlDocGetRootElement(doc);
    struct walk w = {.d = d};
    if (root) {
        for (xmlNode *h = root->children; h; h = h->next)   /* <title> lives in <head>, which walk skips */
            if (h->type == XML_ELEMENT_NODE && is(h, "head"))
                for (xmlNode *t = h->children; t; t = t->next)
                    if (t->type == XML_ELEMENT_NODE && is(t, "title") && !d->title) {
                        struct kb_buf b = {0};
                        gather(t, &b, 0, 0);
                        if (!b.oom && b.n) d->title = b.s;  /* (kb_buf keeps it NUL-terminated) */
                        else free(b.s);
                    }
        walk(&w, root);
        flush_loose(&w);
    }
    free(w.loose.s);
    xmlFreeDoc(doc);
    return w.rc ? err_set(e, "out of memory") : 0;
}
