/* DOCX (Word) and HWPX (Hangul, the Korean office format): zip archives of XML, read
 * with libzip from memory and libxml2 (no network, no entity expansion), every entry
 * bounded in size and compression ratio before and while it is inflated.
 *
 * DOCX: word/document.xml paragraphs (w:p, text of w:t, w:tab, w:br), headings by style
 * (word/styles.xml: a style named "heading N" / "Title", or with an outline level) or a
 * paragraph's own outline level; tables row by row. HWPX: Contents/section0.xml,
 * section1.xml, … paragraphs (hp:p, text of hp:t), headings by style (Contents/header.xml:
 * "개요 N" / "Outline N"), tables row by row. */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zip.h>

#include "knowledge/doc.h"

struct zipped {
    zip_t *z;
    const struct kb_limits *lim;
    size_t total;   /* bytes inflated so far */
};

/* Reads entry `name` into a malloc'ed buffer (NUL-terminated); 1 when it is absent. */
static int read_entry(struct zipped *zz, const char *name, char **out, size_t *len, struct err *e) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat(zz->z, name, 0, &st) != 0) return 1;
    if ((st.valid & ZIP_STAT_SIZE) && (st.valid & ZIP_STAT_COMP_SIZE) && st.comp_size > 0 &&
        st.size / st.comp_size > (zip_uint64_t)zz->lim->max_ratio)
        return err_set(e, "'%s' in the archive expands %llu times (a zip bomb?); refused", name,
                       (unsigned long long)(st.size / st.comp_size));
    zip_file_t *f = zip_fopen(zz->z, name, 0);
    if (!f) return err_set(e, "'%s' in the archive cannot be opened: %s", name, zip_strerror(zz->z));
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    if (!buf) { zip_fclose(f); return err_set(e, "out of memory"); }
    for (;;) {
        if (n + 65536 + 1 > cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b) { free(buf); zip_fclose(f); return err_set(e, "out of memory"); }
            buf = b;
        }
        zip_int64_t k = zip_fread(f, buf + n, 65536);
        if (k < 0) {
            err_set(e, "'%s' in the archive is damaged: %s", name, zip_file_strerror(f));
            free(buf);
            zip_fclose(f);
            return -1;
        }
        if (k == 0) break;
        n += (size_t)k;
        zz->total += (size_t)k;
        /* the sizes in the headers are not trusted: the count of what came out is */
        if (zz->total > zz->lim->max_unzipped || ((st.valid & ZIP_STAT_COMP_SIZE) && st.comp_size > 0 &&
                                                  n / st.comp_size > (size_t)zz->lim->max_ratio && n > (1u << 20))) {
            free(buf);
            zip_fclose(f);
            return err_set(e, "the archive expands past %zu MiB (a zip bomb?); refused", zz->lim->max_unzipped >> 20);
        }
    }
    zip_fclose(f);
    buf[n] = 0;
    *out = buf, *len = n;
    return 0;
}

static xmlDocPtr parse_xml(const char *s, size_t n, const char *name, struct err *e) {
    if (n > (size_t)0x7fffffff) { err_set(e, "'%s' is too large", name); return NULL; }
    xmlDocPtr d = xmlReadMemory(s, (int)n, name, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!d) err_set(e, "'%s' in the archive is not well-formed XML", name);
    return d;
}

static int is(const xmlNode *n, const char *local) { return n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, local); }

/* An attribute by local name (any namespace). */
static const char *attr(const xmlNode *n, const char *local) {
    for (xmlAttr *a = n->properties; a; a = a->next)
        if (!strcmp((const char *)a->name, local) && a->children && a->children->content)
            return (const char *)a->children->content;
    return NULL;
}

/* Styles: id -> heading level (0: not a heading). */
struct style { char *id; int level; };
struct styles { struct style *v; int n; };

static void styles_free(struct styles *s) {
    for (int i = 0; i < s->n; i++) free(s->v[i].id);
    free(s->v);
}

static int style_level(const struct styles *s, const char *id) {
    for (int i = 0; id && i < s->n; i++)
        if (!strcmp(s->v[i].id, id)) return s->v[i].level;
    return 0;
}

static int add_style(struct styles *s, const char *id, int level) {
    struct style *v = realloc(s->v, sizeof *v * (size_t)(s->n + 1));
    if (!v) return -1;
    s->v = v;
    if (!(v[s->n].id = strdup(id))) return -1;
    v[s->n++].level = level;
    return 0;
}

/* "heading 3", "Heading3", "개요 2", "Outline 2", "Title" -> level */
static int level_from_name(const char *name) {
    if (!name) return 0;
    if (!strcasecmp(name, "Title") || !strcmp(name, "제목")) return 1;
    static const char *const pre[] = {"heading", "개요", "outline"};
    for (size_t i = 0; i < 3; i++) {
        size_t k = strlen(pre[i]);
        if (!strncasecmp(name, pre[i], k)) {
            const char *p = name + k;
            while (*p == ' ') p++;
            if (*p >= '1' && *p <= '9' && !p[1]) return *p - '0' > 6 ? 6 : *p - '0';
        }
    }
    return 0;
}

/* ---- DOCX ---- */

static void docx_text(const xmlNode *n, struct kb_buf *b, int depth) {
    for (const xmlNode *c = n->children; c && depth < 64; c = c->next) {
        if (is(c, "t") || is(c, "delText")) {
            if (is(c, "t") && c->children && c->children->content)
                kb_buf_put(b, (const char *)c->children->content, strlen((const char *)c->children->content));
        } else if (is(c, "tab")) {
            kb_buf_put(b, "\t", 1);
        } else if (is(c, "br") || is(c, "cr")) {
            kb_buf_put(b, "\n", 1);
        } else if (c->type == XML_ELEMENT_NODE && !is(c, "pPr") && !is(c, "rPr") && !is(c, "instrText")) {
            docx_text(c, b, depth + 1);
        }
    }
}

static int docx_para_level(const xmlNode *p, const struct styles *st) {
    for (const xmlNode *c = p->children; c; c = c->next)
        if (is(c, "pPr"))
            for (const xmlNode *q = c->children; q; q = q->next) {
                if (is(q, "outlineLvl") && attr(q, "val")) {
                    int v = atoi(attr(q, "val"));
                    if (v >= 0 && v < 9) return v + 1 > 6 ? 6 : v + 1;
                }
                if (is(q, "pStyle")) return style_level(st, attr(q, "val"));
            }
    return 0;
}

static int docx_body(const xmlNode *n, const struct styles *st, struct kb_doc *d, int depth) {
    for (const xmlNode *c = n->children; c && depth < 64; c = c->next) {
        if (is(c, "p")) {
            struct kb_buf b = {0};
            docx_text(c, &b, 0);
            int lvl = docx_para_level(c, st);
            int rc = b.oom || (b.n && kb_doc_add(d, lvl ? KB_HEADING : KB_PARAGRAPH, lvl, 0, b.s, b.n));
            free(b.s);
            if (rc) return -1;
        } else if (is(c, "tbl")) {
            for (const xmlNode *r = c->children; r; r = r->next) {
                if (!is(r, "tr")) continue;
                struct kb_buf b = {0};
                for (const xmlNode *cell = r->children; cell; cell = cell->next) {
                    if (!is(cell, "tc")) continue;
                    if (b.n) kb_buf_put(&b, " | ", 3);
                    struct kb_buf cb = {0};
                    for (const xmlNode *p = cell->children; p; p = p->next)
                        if (is(p, "p")) {
                            if (cb.n) kb_buf_put(&cb, " ", 1);
                            docx_text(p, &cb, 0);
                        }
                    if (cb.oom) b.oom = 1;
                    else if (cb.n) kb_buf_put(&b, cb.s, cb.n);
                    free(cb.s);
                }
                int rc = b.oom || (b.n && kb_doc_add(d, KB_TABLE_ROW, 0, 0, b.s, b.n));
                free(b.s);
                if (rc) return -1;
            }
        } else if (c->type == XML_ELEMENT_NODE && (is(c, "body") || is(c, "sdt") || is(c, "sdtContent"))) {
            if (docx_body(c, st, d, depth + 1)) return -1;
        }
    }
    return 0;
}

static int docx_styles(struct zipped *zz, struct styles *st, struct err *e) {
    char *s;
    size_t n;
    int r = read_entry(zz, "word/styles.xml", &s, &n, e);
    if (r) return r < 0 ? -1 : 0;
    xmlDocPtr x = parse_xml(s, n, "word/styles.xml", e);
    free(s);
    if (!x) return -1;
    int rc = 0;
    for (xmlNode *c = xmlDocGetRootElement(x)->children; c && !rc; c = c->next) {
        if (!is(c, "style") || !attr(c, "styleId")) continue;
        int lvl = 0;
        for (xmlNode *q = c->children; q; q = q->next) {
            if (is(q, "name") && !lvl) lvl = level_from_name(attr(q, "val"));
            if (is(q, "pPr"))
                for (xmlNode *o = q->children; o; o = o->next)
                    if (is(o, "outlineLvl") && attr(o, "val")) {
                        int v = atoi(attr(o, "val"));
                        if (v >= 0 && v < 9) lvl = v + 1 > 6 ? 6 : v + 1;
                    }
        }
        if (lvl && add_style(st, attr(c, "styleId"), lvl)) rc = err_set(e, "out of memory");
    }
    xmlFreeDoc(x);
    return rc;
}

static int extract_docx(struct zipped *zz, struct kb_doc *d, struct err *e) {
    struct styles st = {0};
    if (docx_styles(zz, &st, e)) { styles_free(&st); return -1; }
    char *s;
    size_t n;
    int r = read_entry(zz, "word/document.xml", &s, &n, e);
    if (r) { styles_free(&st); return r < 0 ? -1 : err_set(e, "not a Word document: word/document.xml is missing"); }
    xmlDocPtr x = parse_xml(s, n, "word/document.xml", e);
    free(s);
    if (!x) { styles_free(&st); return -1; }
    int rc = docx_body(xmlDocGetRootElement(x), &st, d, 0) ? err_set(e, "out of memory") : 0;
    xmlFreeDoc(x);
    styles_free(&st);
    return rc;
}

/* ---- HWPX ---- */

static void hwpx_text(const xmlNode *n, struct kb_buf *b, int depth) {
    for (const xmlNode *c = n->children; c && depth < 64; c = c->next) {
        if (is(c, "t")) {
            for (const xmlNode *t = c->children; t; t = t->next)
                if (t->type == XML_TEXT_NODE && t->content) kb_buf_put(b, (const char *)t->content, strlen((const char *)t->content));
                else if (is(t, "tab")) kb_buf_put(b, "\t", 1);
                else if (is(t, "lineBreak")) kb_buf_put(b, "\n", 1);
        } else if (is(c, "tbl") || is(c, "ctrl")) {
            continue;  /* tables are rows of their own (hwpx_section); controls carry no body text */
        } else if (c->type == XML_ELEMENT_NODE) {
            hwpx_text(c, b, depth + 1);
        }
    }
}

static int hwpx_section(const xmlNode *n, const struct styles *st, struct kb_doc *d, int depth);

static int hwpx_table(const xmlNode *tbl, const struct styles *st, struct kb_doc *d, int depth) {
    for (const xmlNode *r = tbl->children; r; r = r->next) {
        if (!is(r, "tr")) continue;
        struct kb_buf b = {0};
        for (const xmlNode *cell = r->children; cell; cell = cell->next) {
            if (!is(cell, "tc")) continue;
            if (b.n) kb_buf_put(&b, " | ", 3);
            struct kb_buf cb = {0};
            hwpx_text(cell, &cb, 0);
            for (char *p = cb.s; p && *p; p++) if (*p == '\n') *p = ' ';
            if (cb.oom) b.oom = 1;
            else if (cb.n) kb_buf_put(&b, cb.s, cb.n);
            free(cb.s);
        }
        int rc = b.oom || (b.n && kb_doc_add(d, KB_TABLE_ROW, 0, 0, b.s, b.n));
        free(b.s);
        if (rc) return -1;
    }
    (void)st, (void)depth;
    return 0;
}

/* Finds tables anywhere under n (they sit inside runs of a paragraph). */
static int hwpx_tables_under(const xmlNode *n, const struct styles *st, struct kb_doc *d, int depth) {
    for (const xmlNode *c = n->children; c && depth < 64; c = c->next) {
        if (is(c, "tbl")) { if (hwpx_table(c, st, d, depth)) return -1; }
        else if (c->type == XML_ELEMENT_NODE && hwpx_tables_under(c, st, d, depth + 1)) return -1;
    }
    return 0;
}

static int hwpx_section(const xmlNode *n, const struct styles *st, struct kb_doc *d, int depth) {
    for (const xmlNode *c = n->children; c && depth < 64; c = c->next) {
        if (!is(c, "p")) {
            if (c->type == XML_ELEMENT_NODE && hwpx_section(c, st, d, depth + 1)) return -1;
            continue;
        }
        struct kb_buf b = {0};
        hwpx_text(c, &b, 0);
        int lvl = style_level(st, attr(c, "styleIDRef"));
        int rc = b.oom || (b.n && kb_doc_add(d, lvl ? KB_HEADING : KB_PARAGRAPH, lvl, 0, b.s, b.n));
        free(b.s);
        if (rc || hwpx_tables_under(c, st, d, depth + 1)) return -1;
    }
    return 0;
}

static int hwpx_styles(struct zipped *zz, struct styles *st, struct err *e) {
    char *s;
    size_t n;
    int r = read_entry(zz, "Contents/header.xml", &s, &n, e);
    if (r) return r < 0 ? -1 : 0;
    xmlDocPtr x = parse_xml(s, n, "Contents/header.xml", e);
    free(s);
    if (!x) return -1;
    int rc = 0;
    /* hh:style elements anywhere (under hh:refList/hh:styles) */
    const xmlNode *stack[64];
    int sp = 0;
    stack[sp++] = xmlDocGetRootElement(x);
    while (sp && !rc) {
        const xmlNode *c = stack[--sp];
        for (const xmlNode *k = c->children; k; k = k->next) {
            if (is(k, "style") && attr(k, "id")) {
                int lvl = level_from_name(attr(k, "name"));
                if (!lvl) lvl = level_from_name(attr(k, "engName"));
                if (lvl && add_style(st, attr(k, "id"), lvl)) rc = err_set(e, "out of memory");
            } else if (k->type == XML_ELEMENT_NODE && k->children && sp < 64) {
                stack[sp++] = k;
            }
        }
    }
    xmlFreeDoc(x);
    return rc;
}

static int extract_hwpx(struct zipped *zz, struct kb_doc *d, struct err *e) {
    struct styles st = {0};
    if (hwpx_styles(zz, &st, e)) { styles_free(&st); return -1; }
    int rc = 0, found = 0;
    for (int i = 0; i < 1000 && !rc; i++) {
        char name[64];
        snprintf(name, sizeof name, "Contents/section%d.xml", i);
        char *s;
        size_t n;
        int r = read_entry(zz, name, &s, &n, e);
        if (r > 0) break;
        if (r < 0) { rc = -1; break; }
        found++;
        xmlDocPtr x = parse_xml(s, n, name, e);
        free(s);
        if (!x) { rc = -1; break; }
        if (hwpx_section(xmlDocGetRootElement(x), &st, d, 0)) rc = err_set(e, "out of memory");
        xmlFreeDoc(x);
    }
    styles_free(&st);
    if (!rc && !found) return err_set(e, "not a Hangul (HWPX) document: Contents/section0.xml is missing");
    return rc;
}

int kb_extract_office(const void *data, size_t n, enum kb_format f, const struct kb_limits *lim, struct kb_doc *d,
                      struct err *e) {
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(data, n, 0, &ze);
    zip_t *z = src ? zip_open_from_source(src, ZIP_RDONLY, &ze) : NULL;
    if (!z) {
        err_set(e, "the %s file is not a readable zip archive (%s)", kb_format_name(f), zip_error_strerror(&ze));
        if (src) zip_source_free(src);
        zip_error_fini(&ze);
        return -1;
    }
    zip_error_fini(&ze);
    int rc;
    if (zip_get_num_entries(z, 0) > lim->max_entries) {
        rc = err_set(e, "the archive has %lld entries; at most %d are read", (long long)zip_get_num_entries(z, 0),
                     lim->max_entries);
    } else {
        struct zipped zz = {z, lim, 0};
        rc = f == KB_DOCX ? extract_docx(&zz, d, e) : extract_hwpx(&zz, d, e);
    }
    zip_discard(z);  /* frees the source too */
    return rc;
}
