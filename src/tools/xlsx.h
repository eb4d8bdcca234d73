/* An Excel workbook (XLSX: a zip of XML parts) read as CSV text for the data-analysis
 * tool: one sheet (by name, or the first), cells by their A1 references (shared
 * strings, inline strings, numbers as written, booleans as TRUE/FALSE, formulas as their
 * cached values, errors as empty), rows in order, short rows padded.
 *
 * The file is the user's, so it is hostile input: read from memory (libzip), each part
 * bounded in inflated size and compression ratio as it is read (a zip bomb is refused),
 * XML parsed without network or entity expansion (libxml2), and at most
 * SQL_CSV_MAX_COLUMNS columns and SQL_CSV_MAX_ROWS rows. Dates stay the serial numbers
 * Excel stores (the cell styles that would say "date" are not read). */
#ifndef OMNI_TOOLS_XLSX_H
#define OMNI_TOOLS_XLSX_H
#include <stddef.h>

#define XLSX_MAX_UNZIPPED (256u << 20)

/* 0 with *csv (malloc'ed, *csv_len bytes), or -1 with err. sheet: NULL for the first. */
int xlsx_to_csv(const void *data, size_t len, const char *sheet, char **csv, size_t *csv_len, char *err, size_t cap);

#endif
