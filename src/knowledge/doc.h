/* A document as knowledge sees it: the text of an uploaded file (TXT, Markdown, PDF,
 * DOCX, HWPX, HTML, CSV) as a list of blocks -- headings with their level, paragraphs,
 * table rows -- each with the page it is on (PDF; 0 elsewhere), so chunks (chunk.h) keep
 * the heading path and page for citations.
 *
 * Extraction reads the file from memory with limits (size, zip entries and their
 * uncompressed size, ratio) so a hostile file is one clear error, never a crash, a hang
 * or a full disk: nothing is written anywhere. Thread-safe: no shared state (poppler and
 * libxml2 are initialised once). */
#ifndef OMNI_KNOWLEDGE_DOC_H
#define OMNI_KNOWLEDGE_DOC_H
#include <stddef.h>

#include "core/error.h"

enum kb_format { KB_TXT, KB_MD, KB_PDF, KB_DOCX, KB_HWPX, KB_HTML, KB_CSV, KB_N_FORMATS };
enum kb_block_kind { KB_HEADING, KB_PARAGRAPH, KB_TABLE_ROW };

struct kb_block {
    enum kb_block_kind kind;
    int level;      /* headings: 1 (top) .. 6 */
    int page;       /* 1-based page (PDF), 0 when the format has none */
    char *text;     /* UTF-8, trimmed, never empty */
};

struct kb_doc {
    struct kb_block *b;
    int n, cap;
    char *title;    /* the document's own title when it has one (HTML <title>, DOCX core), or NULL */
    int n_pages;    /* PDF: pages; else 0 */
};

struct kb_limits {
    size_t max_file;        /* bytes of the file itself (default 100 MiB) */
    size_t max_unzipped;    /* total bytes read out of a zip (default 200 MiB) */
    int max_ratio;          /* unzipped / zipped bytes of an entry beyond this is a bomb (default 200) */
    int max_entries;        /* zip entries (default 10000) */
    int max_pages;          /* PDF pages (default 5000) */
};
struct kb_limits kb_default_limits(void);

/* "txt", "md", "pdf", "docx", "hwpx", "html", "csv" */
const char *kb_format_name(enum kb_format f);
/* From the file's first bytes and its name (extension): PDF and zip magic win over the
 * name; a zip is DOCX or HWPX by its name or by its parts. -1 when unknown. */
int kb_format_detect(const char *filename, const void *data, size_t n);

/* Extracts data[0..n) as format f into *out (free with kb_doc_free). 0, or -1 with e set:
 * which limit, which part of the file, what is wrong ("the PDF has no text layer (a
 * scanned document?)", "invalid UTF-8 at byte N", "a zip entry expands past …"). */
int kb_extract(const void *data, size_t n, enum kb_format f, const struct kb_limits *lim, struct kb_doc *out,
               struct err *e);
void kb_doc_free(struct kb_doc *d);

/* For the extractors: a growing text, always NUL-terminated; a failed allocation sets oom
 * and later appends do nothing (the caller checks oom once at the end). */
struct kb_buf {
    char *s;
    size_t n, cap;
    int oom;
};
void kb_buf_put(struct kb_buf *b, const char *s, size_t n);

/* For the extractors: appends a block (text copied, trimmed; empty text is skipped). 0 or -1 (out of memory). */
int kb_doc_add(struct kb_doc *d, enum kb_block_kind kind, int level, int page, const char *text, size_t len);

/* The extractors, one per family of formats (extract_*.c). */
int kb_extract_text(const char *s, size_t n, int markdown, struct kb_doc *out, struct err *e);
int kb_extract_csv(const char *s, size_t n, struct kb_doc *out, struct err *e);
int kb_extract_html(const char *s, size_t n, struct kb_doc *out, struct err *e);
int kb_extract_pdf(const void *data, size_t n, const struct kb_limits *lim, struct kb_doc *out, struct err *e);
int kb_extract_office(const void *data, size_t n, enum kb_format f, const struct kb_limits *lim, struct kb_doc *out,
                      struct err *e);

#endif
