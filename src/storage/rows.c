/* rows.h: the store's shared statement shapes over db.h. */
#include "storage/rows.h"

#include <stdlib.h>
#include <string.h>

void rows_bind(struct dbq *q, const struct rowarg *a, int n) {
    for (int i = 0; i < n; i++) {
        if (a[i].is_int) dbq_int(q, i + 1, a[i].i);
        else dbq_text(q, i + 1, a[i].s);
    }
}

int rows_run_changed(struct dbq *q, const char *notfound, struct err *e) {
    int rc = dbq_run(q, e);
    if (rc == 0 && dbq_changes(q) == 0) {
        err_set(e, "%s", notfound);
        rc = STORE_NOTFOUND;
    }
    return rc;
}

int rows_change(struct store *st, const char *sql, const struct rowarg *a, int n, const char *notfound,
                int64_t *changes, struct err *e) {
    struct db *d;
    if (store_db_acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d, sql, 1, e);
    int rc = STORE_ERR;
    if (q) {
        rows_bind(q, a, n);
        rc = dbq_run(q, e);
        if (!rc && changes) *changes = dbq_changes(q);
        if (!rc && notfound && dbq_changes(q) == 0) {
            err_set(e, "%s", notfound);
            rc = STORE_NOTFOUND;
        }
        dbq_done(q);
    }
    store_db_release(st, d);
    return rc;
}

int rows_one_on(struct db *d, const char *sql, const struct rowarg *a, int n, const char *notfound, rows_read_fn read,
                void *out, struct err *e) {
    struct dbq *q = db_prep(d, sql, 1, e);
    if (!q) return STORE_ERR;
    rows_bind(q, a, n);
    int rc = dbq_step(q, e);
    if (rc == 1) rc = read ? read(q, out, e) : 0;
    else if (rc == 0) {
        err_set(e, "%s", notfound);
        rc = STORE_NOTFOUND;
    }
    dbq_done(q);
    return rc;
}

int rows_one(struct store *st, const char *sql, const struct rowarg *a, int n, const char *notfound, rows_read_fn read,
             void *out, struct err *e) {
    struct db *d;
    if (store_db_acquire(st, &d, e)) return STORE_ERR;
    int rc = rows_one_on(d, sql, a, n, notfound, read, out, e);
    store_db_release(st, d);
    return rc;
}

int rows_grow(void **arr, size_t *cap, size_t n, size_t size, size_t first, struct err *e) {
    if (n < *cap) return 0;
    size_t nc = *cap ? *cap * 2 : first;
    if (nc < n + 1 || nc > (size_t)-1 / size) return err_set(e, "out of memory"), STORE_ERR;
    void *p = realloc(*arr, nc * size);
    if (!p) return err_set(e, "out of memory"), STORE_ERR;
    *arr = p;
    *cap = nc;
    return 0;
}

int rows_collect(struct dbq *q, const struct rows_shape *shape, int64_t page, void **out, size_t *nout,
                 int *has_more, struct err *e) {
    *out = NULL;
    *nout = 0;
    if (has_more) *has_more = 0;
    void *arr = NULL;
    size_t cap = 0, k = 0;
    int rc;
    while ((rc = dbq_step(q, e)) == 1) {
        if (page > 0 && (int64_t)k == page) {
            if (has_more) *has_more = 1;
            continue;
        }
        if ((rc = rows_grow(&arr, &cap, k, shape->size, shape->first, e))) break;
        char *row = (char *)arr + k * shape->size;
        memset(row, 0, shape->size);
        k++;
        if ((rc = shape->read(q, row, e))) break;
    }
    if (rc < 0) {
        if (shape->drop)
            for (size_t i = 0; i < k; i++) shape->drop((char *)arr + i * shape->size);
        free(arr);
        if (has_more) *has_more = 0;
        return rc;
    }
    *out = arr;
    *nout = k;
    return 0;
}

int rows_many(struct store *st, const char *sql, const struct rowarg *a, int n, const struct rows_shape *shape,
              int64_t page, void **out, size_t *nout, int *has_more, struct err *e) {
    *out = NULL;
    *nout = 0;
    if (has_more) *has_more = 0;
    struct db *d;
    if (store_db_acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d, sql, 1, e);
    int rc = STORE_ERR;
    if (q) {
        rows_bind(q, a, n);
        rc = rows_collect(q, shape, page, out, nout, has_more, e);
        dbq_done(q);
    }
    store_db_release(st, d);
    return rc;
}
