/* Test documents made at test time, so no binary fixture is committed: PDFs drawn with
 * Pango and Cairo (Korean text in Noto Sans CJK, headings in larger type, several
 * pages, or a page with no text at all, as a scan has), and zip archives (DOCX, HWPX,
 * hostile ones) written with libzip. */
#ifndef OMNI_TESTS_MAKE_DOCS_H
#define OMNI_TESTS_MAKE_DOCS_H
#include <cairo-pdf.h>
#include <pango/pangocairo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

/* One line of a page: its point size and text; a NULL text ends the page, two end the file. */
struct pdf_line { double size; const char *text; };

/* Writes the pages to path; 0 or -1. Each entry is a paragraph, set 6pt apart, wrapped to the page. */
static int make_pdf(const char *path, const struct pdf_line *lines) {
    cairo_surface_t *s = cairo_pdf_surface_create(path, 595, 842);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) return -1;
    cairo_t *cr = cairo_create(s);
    double y = 60;
    for (const struct pdf_line *l = lines;; l++) {
        if (!l->text) {
            cairo_show_page(cr);
            y = 60;
            if (!l[1].text && l[1].size == 0) break;
            continue;
        }
        if (l->size == 0) {  /* a filled box and nothing else: what a scanned page looks like to a text reader */
            cairo_rectangle(cr, 60, y, 400, 300);
            cairo_fill(cr);
            y += 320;
            continue;
        }
        PangoLayout *lay = pango_cairo_create_layout(cr);
        char font[64];
        snprintf(font, sizeof font, "Noto Sans CJK KR %g", l->size);
        PangoFontDescription *fd = pango_font_description_from_string(font);
        pango_layout_set_font_description(lay, fd);
        pango_layout_set_width(lay, 470 * PANGO_SCALE);
        pango_layout_set_text(lay, l->text, -1);
        cairo_move_to(cr, 60, y);
        pango_cairo_show_layout(cr, lay);
        int w, h;
        pango_layout_get_size(lay, &w, &h);
        y += (double)h / PANGO_SCALE + l->size * 1.2;  /* a paragraph gap */
        pango_font_description_free(fd);
        g_object_unref(lay);
    }
    cairo_destroy(cr);
    cairo_surface_finish(s);
    int bad = cairo_surface_status(s) != CAIRO_STATUS_SUCCESS;
    cairo_surface_destroy(s);
    return bad ? -1 : 0;
}

struct zip_part { const char *name; const char *data; size_t len; /* 0: strlen */ };

/* Writes a zip of the parts (deflated) to path; 0 or -1. */
static int make_zip(const char *path, const struct zip_part *parts, int n) {
    int err;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
    if (!z) return -1;
    for (int i = 0; i < n; i++) {
        size_t len = parts[i].len ? parts[i].len : strlen(parts[i].data);
        zip_source_t *src = zip_source_buffer(z, parts[i].data, len, 0);
        if (!src || zip_file_add(z, parts[i].name, src, ZIP_FL_OVERWRITE | ZIP_FL_ENC_UTF_8) < 0) {
            zip_source_free(src);
            zip_discard(z);
            return -1;
        }
    }
    return zip_close(z) == 0 ? 0 : -1;
}

/* The whole file into a malloc'ed buffer. */
static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    if (b && fread(b, 1, (size_t)len, f) != (size_t)len) { free(b); b = NULL; }
    fclose(f);
    if (b) b[len] = 0, *n = (size_t)len;
    return b;
}

#endif
