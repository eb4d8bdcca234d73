/* XLSX → CSV for the data-analysis tool (xlsx.h): workbook.xml and its relationships
 * name the sheet's part, sharedStrings.xml holds the strings, the sheet's sheetData the
 * cells. */
#include "tools/xlsx.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "tools/sqltool.h"

#define MAX_RATIO 200

struct book {
    zip_t *z;
    size_t inflated;
};

/* Entry `name` (NUL-terminated, malloc'ed); 1 when absent, -1 with err. */
static int entry(struct book *b, const char *name, char **out, size_t *len, char *err, size_t cap) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat(b->z, name, 0, &st)) return 1;
    zip_file_t *f = zip_fopen(b->z, name, 0);
    if (!f) { snprintf(err, cap, "the workbook's '%s' cannot be opened: %s", name, zip_strerror(b->z)); return -1; }
    size_t n = 0, c = 1 << 16;
    char *buf = malloc(c + 1);
    for (;;) {
        if (!buf) { zip_fclose(f); snprintf(err, cap, "out of memory"); return -1; }
        if (n + 65536 > c) {
            char *q = realloc(buf, (c *= 2) + 1);
            if (!q) { free(buf); buf = NULL; continue; }
            buf = q;
        }
        zip_int64_t k = zip_fread(f, buf + n, 65536);
        if (k < 0) {
            snprintf(err, cap, "the workbook's '%s' is damaged: %s", name, zip_file_strerror(f));
            free(buf);
            zip_fclose(f);
            return -1;
        }
        if (k == 0) break;
        n += (size_t)k;
        b->inflated += (size_t)k;
        /* what comes out is counted, not what the headers claim */
        int bomb = b->inflated > XLSX_MAX_UNZIPPED ||
                   ((st.valid & ZIP_STAT_COMP_SIZE) && st.comp_size > 0 && n > (1u << 20) && n / st.comp_size > MAX_RATIO);
        if (bomb) {
            snprintf(err, cap, "the workbook expands too much (a zip bomb?); refused");
            free(buf);
            zip_fclose(f);
            return -1;
        }
    }
    zip_fclose(f);
    buf[n] = 0;
    *out = buf;
    *len = n;
    return 0;
}

static xmlDocPtr xml(struct book *b, const char *name, int must, char *err, size_t cap) {
    char *s = NULL;
    size_t n = 0;
    int rc = entry(b, name, &s, &n, err, cap);
    if (rc > 0 && must) snprintf(err, cap, "the file is not an XLSX workbook (it has no %s)", name);
    if (rc) return NULL;
    xmlDocPtr d = n < 0x7fffffff ? xmlReadMemory(s, (int)n, name, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR |
                                                                         XML_PARSE_NOWARNING | XML_PARSE_HUGE)
                                 : NULL;
    free(s);
    if (!d) snprintf(err, cap, "the workbook's %s is not well-formed XML", name);
    return d;
}

static int is(const xmlNode *n, const char *local) {
    return n && n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, local);
}

static const char *attr(const xmlNode *n, const char *local) {
    for (const xmlAttr *a = n->properties; a; a = a->next)
        if (!strcmp((const char *)a->name, local) && a->children && a->children->content) return (const char *)a->children->content;
    return NULL;
}

struct sbuf { char *p; size_t n, cap; int oom; };

static void put(struct sbuf *b, const char *s, size_t k) {
    if (b->oom) return;
    if (b->n + k + 1 > b->cap) {
        size_t c = b->cap ? b->cap * 2 : 4096;
        while (c < b->n + k + 1) c *= 2;
        char *q = realloc(b->p, c);
        if (!q) { b->oom = 1; return; }
        b->p = q;
        b->cap = c;
    }
    memcpy(b->p + b->n, s, k);
    b->n += k;
    b->p[b->n] = 0;
}

/* The text of <t> elements under n (rich runs joined; phonetic runs left out). */
static void text_of(const xmlNode *n, struct sbuf *b, int depth) {
    for (const xmlNode *c = n->children; c && depth < 8; c = c->next) {
        if (is(c, "rPh")) continue;
        if (is(c, "t")) {
            for (const xmlNode *t = c->children; t; t = t->next)
                if ((t->type == XML_TEXT_NODE || t->type == XML_CDATA_SECTION_NODE) && t->content)
                    put(b, (const char *)t->content, strlen((const char *)t->content));
        } else if (c->type == XML_ELEMENT_NODE) text_of(c, b, depth + 1);
    }
}

/* The sheet's part name ("xl/worksheets/sheet1.xml"), from workbook.xml and its rels. */
static int sheet_part(struct book *b, const char *want, char *part, size_t pcap, char *err, size_t cap) {
    xmlDocPtr wb = xml(b, "xl/workbook.xml", 1, err, cap);
    if (!wb) return -1;
    char rid[128] = "";
    int found = 0;
    const xmlNode *root = xmlDocGetRootElement(wb), *sheets = NULL;
    for (const xmlNode *c = root ? root->children : NULL; c; c = c->next) if (is(c, "sheets")) sheets = c;
    for (const xmlNode *s = sheets ? sheets->children : NULL; s && !found; s = s->next) {
        if (!is(s, "sheet")) continue;
        const char *nm = attr(s, "name"), *id = attr(s, "id");
        if (!want || (nm && !strcmp(nm, want))) {
            snprintf(rid, sizeof rid, "%s", id ? id : "");
            found = 1;
        }
    }
    xmlFreeDoc(wb);
    if (!found) {
        if (want) snprintf(err, cap, "the workbook has no sheet named '%.100s'", want);
        else snprintf(err, cap, "the workbook has no sheets");
        return -1;
    }
    xmlDocPtr rels = xml(b, "xl/_rels/workbook.xml.rels", 1, err, cap);
    if (!rels) return -1;
    found = 0;
    root = xmlDocGetRootElement(rels);
    for (const xmlNode *r = root ? root->children : NULL; r && !found; r = r->next) {
        const char *id = is(r, "Relationship") ? attr(r, "Id") : NULL, *t = id ? attr(r, "Target") : NULL;
        if (!t || strcmp(id, rid)) continue;
        if (t[0] == '/') snprintf(part, pcap, "%s", t + 1);
        else snprintf(part, pcap, "xl/%s", t);
        found = 1;
    }
    xmlFreeDoc(rels);
    if (!found) { snprintf(err, cap, "the workbook does not say where its sheet is"); return -1; }
    return 0;
}

/* "BC12" → column 54 (0-based), or -1. */
static int column_of(const char *ref) {
    int c = 0, k = 0;
    for (; ref[k] >= 'A' && ref[k] <= 'Z'; k++) {
        c = c * 26 + (ref[k] - 'A' + 1);
        if (c > 16384) return -1;
    }
    return k ? c - 1 : -1;
}

static void csv_cell(struct sbuf *b, const char *s) {
    put(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"') put(b, "\"", 1);   /* "" inside quotes */
        put(b, p, 1);
    }
    put(b, "\"", 1);
}

int xlsx_to_csv(const void *data, size_t len, const char *sheet, char **csv, size_t *csv_len, char *err, size_t cap) {
    *csv = NULL;
    *csv_len = 0;
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(data, len, 0, &ze);
    struct book b = {0};
    b.z = src ? zip_open_from_source(src, ZIP_RDONLY, &ze) : NULL;
    if (!b.z) {
        snprintf(err, cap, "the file is not an XLSX workbook (not a readable zip archive: %s)", zip_error_strerror(&ze));
        if (src) zip_source_free(src);
        zip_error_fini(&ze);
        return -1;
    }
    zip_error_fini(&ze);
    int rc = -1;
    char part[300];
    char **strings = NULL;
    int n_strings = 0;
    xmlDocPtr ss = NULL, sh = NULL;
    struct sbuf out = {0};
    char **row = NULL;
    int ncol = 0, nrow = 0;
    const xmlNode *root = NULL, *sd = NULL;
    char tmp[300] = "";
    if (sheet_part(&b, sheet, part, sizeof part, err, cap)) goto done;
    /* shared strings (a workbook without strings has none) */
    ss = xml(&b, "xl/sharedStrings.xml", 0, tmp, sizeof tmp);
    if (!ss && strstr(tmp, "XML")) { snprintf(err, cap, "%s", tmp); goto done; }
    root = ss ? xmlDocGetRootElement(ss) : NULL;
    for (const xmlNode *si = root ? root->children : NULL; si; si = si->next) {
        if (!is(si, "si")) continue;
        struct sbuf t = {0};
        put(&t, "", 0);
        text_of(si, &t, 0);
        char **q = t.oom ? NULL : realloc(strings, (size_t)(n_strings + 1) * sizeof *q);
        if (!q) { free(t.p); snprintf(err, cap, "out of memory"); goto done; }
        strings = q;
        strings[n_strings++] = t.p;
    }
    if (!(sh = xml(&b, part, 1, err, cap))) goto done;
    root = xmlDocGetRootElement(sh);
    for (const xmlNode *c = root ? root->children : NULL; c; c = c->next) if (is(c, "sheetData")) sd = c;
    /* first pass: the widest row */
    for (const xmlNode *r = sd ? sd->children : NULL; r; r = r->next) {
        if (!is(r, "row")) continue;
        int k = 0;
        for (const xmlNode *c = r->children; c; c = c->next) {
            if (!is(c, "c")) continue;
            const char *ref = attr(c, "r");
            int col = ref ? column_of(ref) : k;
            if (col < 0 || col >= SQL_CSV_MAX_COLUMNS) {
                snprintf(err, cap, "the sheet has more than %d columns", SQL_CSV_MAX_COLUMNS);
                goto done;
            }
            k = col + 1;
            if (k > ncol) ncol = k;
        }
        if (++nrow > SQL_CSV_MAX_ROWS) { snprintf(err, cap, "the sheet has more than %d rows", SQL_CSV_MAX_ROWS); goto done; }
    }
    if (!ncol) { snprintf(err, cap, "the sheet is empty"); goto done; }
    row = calloc((size_t)ncol, sizeof *row);
    if (!row) { snprintf(err, cap, "out of memory"); goto done; }
    for (const xmlNode *r = sd->children; r; r = r->next) {
        if (!is(r, "row")) continue;
        int k = 0;
        for (const xmlNode *c = r->children; c; c = c->next) {
            if (!is(c, "c")) continue;
            const char *ref = attr(c, "r"), *t = attr(c, "t");
            int col = ref ? column_of(ref) : k;
            k = col + 1;
            struct sbuf v = {0};
            put(&v, "", 0);
            if (t && !strcmp(t, "inlineStr")) {
                for (const xmlNode *is_ = c->children; is_; is_ = is_->next) if (is(is_, "is")) text_of(is_, &v, 0);
            } else {
                const xmlNode *vn = NULL;
                for (const xmlNode *x = c->children; x; x = x->next) if (is(x, "v")) vn = x;
                xmlChar *raw = vn ? xmlNodeGetContent(vn) : NULL;
                const char *s = raw ? (const char *)raw : "";
                if (t && !strcmp(t, "s")) {
                    char *e;
                    long ix = strtol(s, &e, 10);
                    if (*s && !*e && ix >= 0 && ix < n_strings) put(&v, strings[ix], strlen(strings[ix]));
                } else if (t && !strcmp(t, "b")) put(&v, !strcmp(s, "1") ? "TRUE" : "FALSE", !strcmp(s, "1") ? 4 : 5);
                else if (!t || strcmp(t, "e")) put(&v, s, strlen(s));
                xmlFree(raw);
            }
            if (v.oom) { free(v.p); snprintf(err, cap, "out of memory"); goto done; }
            free(row[col]);
            row[col] = v.p;
        }
        for (int q = 0; q < ncol; q++) {
            if (q) put(&out, ",", 1);
            csv_cell(&out, row[q] ? row[q] : "");
            free(row[q]);
            row[q] = NULL;
        }
        put(&out, "\n", 1);
        if (out.n > SQL_CSV_MAX_BYTES) { snprintf(err, cap, "the sheet is more than %u MB as text", SQL_CSV_MAX_BYTES >> 20); goto done; }
    }
    if (out.oom) { snprintf(err, cap, "out of memory"); goto done; }
    *csv = out.p;
    *csv_len = out.n;
    out.p = NULL;
    rc = 0;
done:
    for (int q = 0; row && q < ncol; q++) free(row[q]);
    free(row);
    free(out.p);
    for (int q = 0; q < n_strings; q++) free(strings[q]);
    free(strings);
    if (ss) xmlFreeDoc(ss);
    if (sh) xmlFreeDoc(sh);
    zip_discard(b.z);
    return rc;
}
