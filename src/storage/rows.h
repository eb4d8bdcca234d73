/* The statement shapes the store's files share, over db.h: bind a list of parameters, run
 * a statement that must change a row, read the one row a query finds, and read every row
 * of a query into a growing array (optionally one page of them: limit rows and whether
 * more follow). rows_change, rows_one and rows_many take a pooled connection for the
 * call; the _on / q forms work on the caller's (inside its transaction). The SQL is the
 * caller's, unchanged, and must not move (a string literal or a buffer made once):
 * db_prep caches the statement by its address. A missing row, or another user's, is
 * STORE_NOTFOUND with the caller's message (notfound: "file not found"). */
#ifndef OMNI_STORAGE_ROWS_H
#define OMNI_STORAGE_ROWS_H
#include <stddef.h>
#include <stdint.h>

#include "storage/store_internal.h"

/* One statement parameter, $1 … in array order: text (NULL binds SQL NULL) or an integer. */
struct rowarg {
    int is_int;
    const char *s;
    int64_t i;
};
#define ROW_T(x) ((struct rowarg){0, (x), 0})
#define ROW_I(x) ((struct rowarg){1, NULL, (x)})
#define ROW_N(a) ((int)(sizeof(a) / sizeof *(a)))

void rows_bind(struct dbq *q, const struct rowarg *a, int n);

/* Runs bound q to its end; 0 changed rows is STORE_NOTFOUND with notfound. q stays the
 * caller's. */
int rows_run_changed(struct dbq *q, const char *notfound, struct err *e);

/* sql with args on a pooled connection; a statement that changed no row is STORE_NOTFOUND.
 * changes (may be NULL) gets the count. notfound NULL: changing no row is fine (0). */
int rows_change(struct store *st, const char *sql, const struct rowarg *a, int n, const char *notfound,
                int64_t *changes, struct err *e);

/* Copies the current row into *row (rows_many zeroes it first); 0 or a STORE_* code with e set. */
typedef int (*rows_read_fn)(struct dbq *q, void *row, struct err *e);

/* The first row of sql into *out through read (NULL: only whether there is one); no row
 * is STORE_NOTFOUND. rows_one_on runs on the caller's connection (inside its transaction). */
int rows_one_on(struct db *d, const char *sql, const struct rowarg *a, int n, const char *notfound, rows_read_fn read,
                void *out, struct err *e);
int rows_one(struct store *st, const char *sql, const struct rowarg *a, int n, const char *notfound, rows_read_fn read,
             void *out, struct err *e);

/* Room for one more element after n in *arr (capacity *cap, doubling from first);
 * STORE_ERR "out of memory" when it cannot grow (*arr and *cap as they were). */
int rows_grow(void **arr, size_t *cap, size_t n, size_t size, size_t first, struct err *e);

/* A row type for rows_many: element size, first capacity, the reader, and what frees one
 * element's own memory (NULL when it holds none). */
struct rows_shape {
    size_t size, first;
    rows_read_fn read;
    void (*drop)(void *row);
};

/* Steps bound q to its end, every row into a malloc'ed array (*out, *n) through shape.
 * page > 0: at most page rows are kept (the caller's SQL asks for page + 1) and *has_more
 * (may be NULL) says a row was left. On failure nothing is returned (*out NULL, *n 0).
 * q stays the caller's. */
int rows_collect(struct dbq *q, const struct rows_shape *shape, int64_t page, void **out, size_t *nout,
                 int *has_more, struct err *e);

/* rows_collect over sql with args on a pooled connection. */
int rows_many(struct store *st, const char *sql, const struct rowarg *a, int n, const struct rows_shape *shape,
              int64_t page, void **out, size_t *nout, int *has_more, struct err *e);

#endif
