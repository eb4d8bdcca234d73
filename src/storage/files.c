/* files.h over db.h: uploaded files, vector stores, their attached files and chunks,
 * written once in the SQL both back ends speak (see storage.c). Bytes and float vectors
 * are stored as base64 text (no blob type in db.h, and it keeps the SQL identical). */
#include "storage/files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/rows.h"

/* ---- base64 (standard alphabet, padded) ---- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const void *data, size_t n) {
    const unsigned char *p = data;
    if (n > ((size_t)-1) / 2) return NULL;
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out) return NULL;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        *o++ = B64[v >> 18 & 63], *o++ = B64[v >> 12 & 63], *o++ = B64[v >> 6 & 63], *o++ = B64[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0);
        *o++ = B64[v >> 18 & 63], *o++ = B64[v >> 12 & 63];
        *o++ = i + 1 < n ? B64[v >> 6 & 63] : '=';
        *o++ = '=';
    }
    *o = 0;
    return out;
}

static int b64_val(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decodes into a malloc'ed buffer (NUL after *n); -1 on a character outside the alphabet. */
static int b64_decode(const char *s, void **out, size_t *n) {
    size_t len = strlen(s);
    unsigned char *o = malloc(len / 4 * 3 + 4);
    if (!o) return -1;
    size_t k = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '=') break;
        int v = b64_val((unsigned char)s[i]);
        if (v < 0) { free(o); return -1; }
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    o[k] = 0;
    *out = o;
    *n = k;
    return 0;
}

/* ---- helpers ---- */

static void col(char *dst, size_t cap, struct dbq *q, int c) { snprintf(dst, cap, "%s", dbq_col_text(q, c)); }

static int bad_id(const char *s) { return !s || !*s || strlen(s) >= STORE_ID_MAX; }

static int fits(const char *s, size_t cap) { return s && strlen(s) < cap; }

/* ---- files ---- */

#define FILE_COLS "id, user_id, filename, purpose, bytes, created"

static void read_file(struct dbq *q, struct store_file *f) {
    col(f->id, sizeof f->id, q, 0);
    col(f->user_id, sizeof f->user_id, q, 1);
    col(f->filename, sizeof f->filename, q, 2);
    col(f->purpose, sizeof f->purpose, q, 3);
    f->bytes = dbq_col_int(q, 4);
    f->created = dbq_col_int(q, 5);
}

int store_file_create(struct store *st, const struct store_file *in, const void *data, size_t n, struct store_file *out,
                      struct err *e) {
    struct store_file f = *in;
    if (bad_id(f.user_id)) return err_set(e, "user id is missing"), STORE_INVALID;
    if (!fits(in->filename, sizeof in->filename) || !fits(in->purpose, sizeof in->purpose) || !f.filename[0])
        return err_set(e, "file name or purpose missing or too long"), STORE_INVALID;
    if (!f.id[0]) {
        char raw[STORE_ID_MAX];
        if (store_new_id("file", raw, sizeof raw, e)) return STORE_ERR;
        raw[4] = '-';   /* OpenAI's ids look like "file-…" */
        snprintf(f.id, sizeof f.id, "%s", raw);
    }
    if (!f.created) f.created = store_now_ms();
    f.bytes = (int64_t)n;
    char *b64 = b64_encode(data, n);
    if (!b64) return err_set(e, "out of memory"), STORE_ERR;
    struct db *d;
    if (store_db_acquire(st, &d, e)) { free(b64); return STORE_ERR; }
    int rc = db_begin(d, 1, e);
    if (!rc) {
        struct dbq *q = db_prep(d, "INSERT INTO files (" FILE_COLS ") VALUES ($1, $2, $3, $4, $5, $6)", 1, e);
        rc = STORE_ERR;
        if (q) {
            dbq_text(q, 1, f.id);
            dbq_text(q, 2, f.user_id);
            dbq_text(q, 3, f.filename);
            dbq_text(q, 4, f.purpose);
            dbq_int(q, 5, f.bytes);
            dbq_int(q, 6, f.created);
            rc = dbq_run(q, e);
            if (rc == STORE_NOTFOUND) err_set(e, "user not found");
            dbq_done(q);
        }
    }
    if (!rc) {
        struct dbq *q = db_prep(d, "INSERT INTO file_data (file_id, data) VALUES ($1, $2)", 1, e);
        rc = STORE_ERR;
        if (q) {
            dbq_text(q, 1, f.id);
            dbq_text(q, 2, b64);
            rc = dbq_run(q, e);
            dbq_done(q);
        }
    }
    if (!rc) rc = db_commit(d, e);
    store_db_release(st, d);
    free(b64);
    if (!rc && out) *out = f;
    return rc;
}

/* rows.h readers: out may be NULL (a get that only asks whether the row is there) */
static int read_file_row(struct dbq *q, void *row, struct err *e) {
    if (row) read_file(q, row);
    return 0;
}

int store_file_get(struct store *st, const char *user_id, const char *file_id, struct store_file *out, struct err *e) {
    if (bad_id(user_id) || bad_id(file_id)) return err_set(e, "file not found"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(file_id), ROW_T(user_id)};
    return rows_one(st, "SELECT " FILE_COLS " FROM files WHERE id = $1 AND user_id = $2", a, ROW_N(a), "file not found",
                    read_file_row, out, e);
}

struct blob {
    void **data;
    size_t *n;
};

static int read_blob(struct dbq *q, void *row, struct err *e) {
    struct blob *b = row;
    return b64_decode(dbq_col_text(q, 0), b->data, b->n) ? (err_set(e, "stored file data is damaged or out of memory"),
                                                            STORE_ERR) : 0;
}

int store_file_content(struct store *st, const char *user_id, const char *file_id, void **data, size_t *n,
                       struct err *e) {
    *data = NULL;
    *n = 0;
    if (bad_id(user_id) || bad_id(file_id)) return err_set(e, "file not found"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(file_id), ROW_T(user_id)};
    struct blob b = {data, n};
    return rows_one(st,
                    "SELECT d.data FROM files f JOIN file_data d ON d.file_id = f.id"
                    " WHERE f.id = $1 AND f.user_id = $2",
                    a, ROW_N(a), "file not found", read_blob, &b, e);
}

/* Every parameter appears in each statement (PostgreSQL infers the types of those it sees). */
static const char *const file_list_sql[2] = {
    "SELECT " FILE_COLS " FROM files WHERE user_id = $1 AND ($2 = '' OR purpose = $2)"
    " AND ($3 = '' OR (created, id) > (SELECT c.created, c.id FROM files c WHERE c.id = $3)) ORDER BY created, id LIMIT $4",
    "SELECT " FILE_COLS " FROM files WHERE user_id = $1 AND ($2 = '' OR purpose = $2)"
    " AND ($3 = '' OR (created, id) < (SELECT c.created, c.id FROM files c WHERE c.id = $3))"
    " ORDER BY created DESC, id DESC LIMIT $4",
};

int store_file_list(struct store *st, const char *user_id, const struct store_file_query *fq, struct store_file **out,
                    size_t *n, int *has_more, struct err *e) {
    *out = NULL;
    *n = 0;
    *has_more = 0;
    if (bad_id(user_id)) return err_set(e, "user id is missing"), STORE_INVALID;
    int64_t limit = fq->limit < 1 ? 10000 : fq->limit > 10000 ? 10000 : fq->limit;
    static const struct rows_shape shape = {sizeof **out, 16, read_file_row, NULL};
    const struct rowarg a[] = {ROW_T(user_id), ROW_T(fq->purpose ? fq->purpose : ""), ROW_T(fq->after ? fq->after : ""),
                               ROW_I(limit + 1)};
    return rows_many(st, file_list_sql[fq->desc ? 1 : 0], a, ROW_N(a), &shape, limit, (void **)out, n, has_more, e);
}

int store_file_delete(struct store *st, const char *user_id, const char *file_id, struct err *e) {
    if (bad_id(user_id) || bad_id(file_id)) return err_set(e, "file not found"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(file_id), ROW_T(user_id)};
    return rows_change(st, "DELETE FROM files WHERE id = $1 AND user_id = $2", a, ROW_N(a), "file not found", NULL, e);
}

/* ---- vector stores ---- */

#define VS_COLS                                                                                                       \
    "v.id, v.user_id, v.name, v.metadata, v.created, v.last_active, v.expires_days,"                                  \
    " (SELECT COUNT(*) FROM vs_files f WHERE f.vs_id = v.id AND f.status = 'in_progress'),"                           \
    " (SELECT COUNT(*) FROM vs_files f WHERE f.vs_id = v.id AND f.status = 'completed'),"                             \
    " (SELECT COUNT(*) FROM vs_files f WHERE f.vs_id = v.id AND f.status = 'failed'),"                                \
    " (SELECT COUNT(*) FROM vs_files f WHERE f.vs_id = v.id AND f.status = 'cancelled'),"                             \
    " (SELECT COALESCE(SUM(f.usage_bytes), 0) FROM vs_files f WHERE f.vs_id = v.id)"

static void read_vs(struct dbq *q, struct store_vs *v) {
    col(v->id, sizeof v->id, q, 0);
    col(v->user_id, sizeof v->user_id, q, 1);
    col(v->name, sizeof v->name, q, 2);
    col(v->metadata, sizeof v->metadata, q, 3);
    v->created = dbq_col_int(q, 4);
    v->last_active = dbq_col_int(q, 5);
    v->expires_days = dbq_col_int(q, 6);
    v->n_in_progress = dbq_col_int(q, 7);
    v->n_completed = dbq_col_int(q, 8);
    v->n_failed = dbq_col_int(q, 9);
    v->n_cancelled = dbq_col_int(q, 10);
    v->usage_bytes = dbq_col_int(q, 11);
}

int store_vs_create(struct store *st, const struct store_vs *in, struct store_vs *out, struct err *e) {
    struct store_vs v = *in;
    if (bad_id(v.user_id)) return err_set(e, "user id is missing"), STORE_INVALID;
    if (!fits(in->name, sizeof in->name) || !fits(in->metadata, sizeof in->metadata))
        return err_set(e, "name or metadata too long"), STORE_INVALID;
    if (!v.metadata[0]) strcpy(v.metadata, "{}");
    if (!v.id[0] && store_new_id("vs", v.id, sizeof v.id, e)) return STORE_ERR;
    if (!v.created) v.created = store_now_ms();
    v.last_active = v.created;
    v.n_in_progress = v.n_completed = v.n_failed = v.n_cancelled = v.usage_bytes = 0;
    struct db *d;
    if (store_db_acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d,
                            "INSERT INTO vector_stores (id, user_id, name, metadata, created, last_active, expires_days)"
                            " VALUES ($1, $2, $3, $4, $5, $6, $7)", 1, e);
    int rc = STORE_ERR;
    if (q) {
        dbq_text(q, 1, v.id);
        dbq_text(q, 2, v.user_id);
        dbq_text(q, 3, v.name);
        dbq_text(q, 4, v.metadata);
        dbq_int(q, 5, v.created);
        dbq_int(q, 6, v.last_active);
        dbq_int(q, 7, v.expires_days);
        rc = dbq_run(q, e);
        if (rc == STORE_NOTFOUND) err_set(e, "user not found");
        dbq_done(q);
    }
    store_db_release(st, d);
    if (!rc && out) *out = v;
    return rc;
}

static int read_vs_row(struct dbq *q, void *row, struct err *e) {
    if (row) read_vs(q, row);
    return 0;
}

int store_vs_get(struct store *st, const char *user_id, const char *vs_id, struct store_vs *out, struct err *e) {
    if (bad_id(user_id) || bad_id(vs_id)) return err_set(e, "vector store not found"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(vs_id), ROW_T(user_id)};
    return rows_one(st, "SELECT " VS_COLS " FROM vector_stores v WHERE v.id = $1 AND v.user_id = $2", a, ROW_N(a),
                    "vector store not found", read_vs_row, out, e);
}

int store_vs_update(struct store *st, const char *user_id, const char *vs_id, const struct store_vs *v, unsigned fields,
                    struct err *e) {
    if (bad_id(user_id) || bad_id(vs_id)) return err_set(e, "vector store not found"), STORE_NOTFOUND;
    if (!fits(v->name, sizeof v->name) || !fits(v->metadata, sizeof v->metadata))
        return err_set(e, "name or metadata too long"), STORE_INVALID;
    static const char *const sql[3] = {
        "UPDATE vector_stores SET name = $3 WHERE id = $1 AND user_id = $2",
        "UPDATE vector_stores SET metadata = $3 WHERE id = $1 AND user_id = $2",
        "UPDATE vector_stores SET expires_days = $3 WHERE id = $1 AND user_id = $2",
    };
    struct db *d;
    if (store_db_acquire(st, &d, e)) return STORE_ERR;
    int rc = db_begin(d, 1, e);
    for (int i = 0; !rc && i < 3; i++) {
        if (!(fields & (1u << i))) continue;
        struct dbq *q = db_prep(d, sql[i], 1, e);
        if (!q) { rc = STORE_ERR; break; }
        dbq_text(q, 1, vs_id);
        dbq_text(q, 2, user_id);
        if (i == 0) dbq_text(q, 3, v->name);
        else if (i == 1) dbq_text(q, 3, v->metadata[0] ? v->metadata : "{}");
        else dbq_int(q, 3, v->expires_days);
        rc = rows_run_changed(q, "vector store not found", e);
        dbq_done(q);
    }
    if (!rc) rc = db_commit(d, e);
    store_db_release(st, d);
    return rc;
}

int store_vs_touch(struct store *st, const char *vs_id, int64_t now, struct err *e) {
    if (bad_id(vs_id)) return err_set(e, "vector store not found"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(vs_id), ROW_I(now ? now : store_now_ms())};
    return rows_change(st, "UPDATE vector_stores SET last_active = $2 WHERE id = $1", a, ROW_N(a), NULL, NULL, e);
}

/* Pagination as OpenAI's lists: after / before a cursor id ($2, "" for none), ascending
 * or descending by creation (ties by id); "before" reads backwards from the cursor and
 * the caller reverses the rows. */
static void vs_page_sql(char *buf, size_t cap, const struct store_page *p) {
    int asc = !p->desc, backwards = p->before && !p->after;
    const char *cur = p->after ? (asc ? ">" : "<") : p->before ? (asc ? "<" : ">") : NULL;
    const char *ord = (asc ^ backwards) ? "ASC" : "DESC";
    char c[300];
    if (cur)
        snprintf(c, sizeof c, " AND (v.created, v.id) %s (SELECT x.created, x.id FROM vector_stores x WHERE x.id = $2)", cur);
    else snprintf(c, sizeof c, " AND ($2 = '' OR 1 = 1)");
    snprintf(buf, cap, "SELECT " VS_COLS " FROM vector_stores v WHERE v.user_id = $1%s ORDER BY v.created %s, v.id %s LIMIT $3",
             c, ord, ord);
}

int store_vs_list(struct store *st, const char *user_id, const struct store_page *p, struct store_vs **out, size_t *n,
                  int *has_more, struct err *e) {
    *out = NULL;
    *n = 0;
    *has_more = 0;
    if (bad_id(user_id)) return err_set(e, "user id is missing"), STORE_INVALID;
    int64_t limit = p->limit < 1 ? 20 : p->limit > 100 ? 100 : p->limit;
    char sql[2048];
    vs_page_sql(sql, sizeof sql, p);
    struct db *d;
    if (store_db_acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d, sql, 0, e);
    int rc = STORE_ERR;
    if (q) {
        const char *cursor = p->after ? p->after : p->before;
        const struct rowarg a[] = {ROW_T(user_id), ROW_T(cursor ? cursor : ""), ROW_I(limit + 1)};
        rows_bind(q, a, ROW_N(a));
        static const struct rows_shape shape = {sizeof **out, 8, read_vs_row, NULL};
        rc = rows_collect(q, &shape, limit, (void **)out, n, has_more, e);
        dbq_done(q);
    }
    store_db_release(st, d);
    if (rc) return rc;
    if (p->before && !p->after)
        for (size_t i = 0; i < *n / 2; i++) {
            struct store_vs t = (*out)[i];
            (*out)[i] = (*out)[*n - 1 - i];
            (*out)[*n - 1 - i] = t;
        }
    return 0;
}

int store_vs_delete(struct store *st, const char *user_id, const char *vs_id, struct err *e) {
    if (bad_id(user_id) || bad_id(vs_id)) return err_set(e, "vector store not found"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(vs_id), ROW_T(user_id)};
    return rows_change(st, "DELETE FROM vector_stores WHERE id = $1 AND user_id = $2",
                       a, ROW_N(a), "vector store not found", NULL, e);
}

/* ---- files in a vector store ---- */

#define VSF_COLS                                                                                                      \
    "f.vs_id, f.file_id, f.user_id, f.batch_id, f.status, f.error_code, f.error_msg, f.attributes, f.chunking,"      \
    " f.created, f.usage_bytes"

static void read_vsfile(struct dbq *q, struct store_vsfile *f) {
    col(f->vs_id, sizeof f->vs_id, q, 0);
    col(f->file_id, sizeof f->file_id, q, 1);
    col(f->user_id, sizeof f->user_id, q, 2);
    col(f->batch_id, sizeof f->batch_id, q, 3);
    col(f->status, sizeof f->status, q, 4);
    col(f->error_code, sizeof f->error_code, q, 5);
    col(f->error_msg, sizeof f->error_msg, q, 6);
    col(f->attributes, sizeof f->attributes, q, 7);
    col(f->chunking, sizeof f->chunking, q, 8);
    f->created = dbq_col_int(q, 9);
    f->usage_bytes = dbq_col_int(q, 10);
}

int store_vsfile_add(struct store *st, const struct store_vsfile *in, struct err *e) {
    if (bad_id(in->user_id) || bad_id(in->vs_id) || bad_id(in->file_id))
        return err_set(e, "vector store or file not found"), STORE_NOTFOUND;
    if (!fits(in->attributes, sizeof in->attributes) || !fits(in->chunking, sizeof in->chunking) ||
        !fits(in->batch_id, sizeof in->batch_id))
        return err_set(e, "attributes too long"), STORE_INVALID;
    struct db *d;
    if (store_db_acquire(st, &d, e)) return STORE_ERR;
    int rc = db_begin(d, 1, e);
    /* both must be the user's: the INSERT selects them, so another user's ids add nothing */
    if (!rc) {
        struct dbq *q = db_prep(d, "DELETE FROM vs_files WHERE vs_id = $1 AND file_id = $2 AND user_id = $3", 1, e);
        rc = STORE_ERR;
        if (q) {
            dbq_text(q, 1, in->vs_id);
            dbq_text(q, 2, in->file_id);
            dbq_text(q, 3, in->user_id);
            rc = dbq_run(q, e);
            dbq_done(q);
        }
    }
    if (!rc) {
        struct dbq *q = db_prep(d,
                                "INSERT INTO vs_files (vs_id, file_id, user_id, batch_id, status, attributes, chunking,"
                                " created) SELECT v.id, fl.id, $3, $4, 'in_progress', $5, $6, $7 FROM vector_stores v,"
                                " files fl WHERE v.id = $1 AND v.user_id = $3 AND fl.id = $2 AND fl.user_id = $3",
                                1, e);
        rc = STORE_ERR;
        if (q) {
            dbq_text(q, 1, in->vs_id);
            dbq_text(q, 2, in->file_id);
            dbq_text(q, 3, in->user_id);
            dbq_text(q, 4, in->batch_id);
            dbq_text(q, 5, in->attributes[0] ? in->attributes : "{}");
            dbq_text(q, 6, in->chunking);
            dbq_int(q, 7, in->created ? in->created : store_now_ms());
            rc = rows_run_changed(q, "vector store or file not found", e);
            dbq_done(q);
        }
    }
    if (!rc) rc = db_commit(d, e);
    store_db_release(st, d);
    return rc;
}

static int read_vsfile_row(struct dbq *q, void *row, struct err *e) {
    if (row) read_vsfile(q, row);
    return 0;
}

int store_vsfile_get(struct store *st, const char *user_id, const char *vs_id, const char *file_id,
                     struct store_vsfile *out, struct err *e) {
    if (bad_id(user_id) || bad_id(vs_id) || bad_id(file_id))
        return err_set(e, "vector store file not found"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(vs_id), ROW_T(file_id), ROW_T(user_id)};
    return rows_one(st, "SELECT " VSF_COLS " FROM vs_files f WHERE f.vs_id = $1 AND f.file_id = $2 AND f.user_id = $3",
                    a, ROW_N(a), "vector store file not found", read_vsfile_row, out, e);
}

static const struct rows_shape VSFILE_ROW = {sizeof(struct store_vsfile), 8, read_vsfile_row, NULL};

int store_vsfile_list(struct store *st, const char *user_id, const char *vs_id, const struct store_vsfile_query *fq,
                      struct store_vsfile **out, size_t *n, int *has_more, struct err *e) {
    *out = NULL;
    *n = 0;
    *has_more = 0;
    if (bad_id(user_id) || bad_id(vs_id)) return err_set(e, "vector store not found"), STORE_NOTFOUND;
    int64_t limit = fq->page.limit < 1 ? 20 : fq->page.limit > 100 ? 100 : fq->page.limit;
    /* the cursor is a file id within this store: its own row gives (created, file_id) */
    int asc = !fq->page.desc, backwards = fq->page.before && !fq->page.after;
    const char *cur = fq->page.after ? (asc ? ">" : "<") : fq->page.before ? (asc ? "<" : ">") : NULL;
    const char *ord = (asc ^ backwards) ? "ASC" : "DESC";
    char sql[2048];
    snprintf(sql, sizeof sql,
             "SELECT " VSF_COLS " FROM vs_files f WHERE f.vs_id = $1 AND f.user_id = $2"
             " AND ($3 = '' OR f.status = $3) AND ($4 = '' OR f.batch_id = $4)%s%s%s"
             " ORDER BY f.created %s, f.file_id %s LIMIT $6",
             cur ? " AND (f.created, f.file_id) " : " AND ($5 = '' OR 1 = 1)", cur ? cur : "",
             cur ? " (SELECT c.created, c.file_id FROM vs_files c WHERE c.vs_id = $1 AND c.file_id = $5)" : "", ord, ord);
    struct db *d;
    if (store_db_acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d, sql, 0, e);
    int rc = STORE_ERR;
    if (q) {
        const char *c = fq->page.after ? fq->page.after : fq->page.before;
        const struct rowarg a[] = {ROW_T(vs_id), ROW_T(user_id), ROW_T(fq->status ? fq->status : ""),
                                   ROW_T(fq->batch_id ? fq->batch_id : ""), ROW_T(c ? c : ""), ROW_I(limit + 1)};
        rows_bind(q, a, ROW_N(a));
        rc = rows_collect(q, &VSFILE_ROW, limit, (void **)out, n, has_more, e);
        dbq_done(q);
    }
    store_db_release(st, d);
    if (rc) return rc;
    if (backwards)
        for (size_t i = 0; i < *n / 2; i++) {
            struct store_vsfile t = (*out)[i];
            (*out)[i] = (*out)[*n - 1 - i];
            (*out)[*n - 1 - i] = t;
        }
    return 0;
}

int store_vsfile_delete(struct store *st, const char *user_id, const char *vs_id, const char *file_id, struct err *e) {
    if (bad_id(user_id) || bad_id(vs_id) || bad_id(file_id))
        return err_set(e, "vector store file not found"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(vs_id), ROW_T(file_id), ROW_T(user_id)};
    return rows_change(st, "DELETE FROM vs_files WHERE vs_id = $1 AND file_id = $2 AND user_id = $3", a, ROW_N(a),
                       "vector store file not found", NULL, e);
}

int store_vsfile_set_attributes(struct store *st, const char *user_id, const char *vs_id, const char *file_id,
                                const char *attributes, struct err *e) {
    if (bad_id(user_id) || bad_id(vs_id) || bad_id(file_id))
        return err_set(e, "vector store file not found"), STORE_NOTFOUND;
    if (!fits(attributes, STORE_META_MAX)) return err_set(e, "attributes too long"), STORE_INVALID;
    const struct rowarg a[] = {ROW_T(vs_id), ROW_T(file_id), ROW_T(user_id), ROW_T(attributes)};
    return rows_change(st, "UPDATE vs_files SET attributes = $4 WHERE vs_id = $1 AND file_id = $2 AND user_id = $3", a,
                       ROW_N(a), "vector store file not found", NULL, e);
}

int store_vsfile_finish(struct store *st, const char *vs_id, const char *file_id, const char *status,
                        const char *error_code, const char *error_msg, struct err *e) {
    if (bad_id(vs_id) || bad_id(file_id)) return err_set(e, "vector store file not found"), STORE_NOTFOUND;
    char msg[STORE_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "%s", error_msg ? error_msg : "");
    const struct rowarg a[] = {ROW_T(vs_id), ROW_T(file_id), ROW_T(status), ROW_T(error_code ? error_code : ""),
                               ROW_T(msg)};
    return rows_change(st,
                       "UPDATE vs_files SET status = $3, error_code = $4, error_msg = $5"
                       " WHERE vs_id = $1 AND file_id = $2 AND status = 'in_progress'",
                       a, ROW_N(a), "vector store file in progress not found", NULL, e);
}

int store_vsfile_cancel_batch(struct store *st, const char *user_id, const char *vs_id, const char *batch_id,
                              struct err *e) {
    if (bad_id(user_id) || bad_id(vs_id) || bad_id(batch_id)) return err_set(e, "file batch not found"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(vs_id), ROW_T(user_id), ROW_T(batch_id)};
    return rows_change(st,
                       "UPDATE vs_files SET status = 'cancelled' WHERE vs_id = $1 AND user_id = $2 AND batch_id = $3"
                       " AND status = 'in_progress'",
                       a, ROW_N(a), NULL, NULL, e);
}

int store_vsfile_pending(struct store *st, struct store_vsfile **out, size_t *n, struct err *e) {
    return rows_many(st, "SELECT " VSF_COLS " FROM vs_files f WHERE f.status = 'in_progress' ORDER BY f.created", NULL, 0,
                     &VSFILE_ROW, 0, (void **)out, n, NULL, e);
}

/* ---- chunks ---- */

int store_chunks_put(struct store *st, const char *vs_id, const char *file_id, const struct store_chunk *c, int n,
                     struct err *e) {
    if (bad_id(vs_id) || bad_id(file_id)) return err_set(e, "vector store file not found"), STORE_NOTFOUND;
    struct db *d;
    if (store_db_acquire(st, &d, e)) return STORE_ERR;
    int64_t bytes = 0;
    int rc = db_begin(d, 1, e);
    if (!rc) {
        struct dbq *q = db_prep(d, "DELETE FROM vs_chunks WHERE vs_id = $1 AND file_id = $2", 1, e);
        rc = STORE_ERR;
        if (q) {
            dbq_text(q, 1, vs_id);
            dbq_text(q, 2, file_id);
            rc = dbq_run(q, e);
            dbq_done(q);
        }
    }
    for (int i = 0; !rc && i < n; i++) {
        char *v = b64_encode(c[i].vec, (size_t)c[i].dim * sizeof(float));
        struct dbq *q = v ? db_prep(d,
                                    "INSERT INTO vs_chunks (vs_id, file_id, seq, text, heading, page_first, page_last,"
                                    " n_tokens, dim, vec) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)", 1, e)
                          : NULL;
        if (!v) err_set(e, "out of memory");
        rc = STORE_ERR;
        if (q) {
            dbq_text(q, 1, vs_id);
            dbq_text(q, 2, file_id);
            dbq_int(q, 3, i);
            dbq_text(q, 4, c[i].text);
            dbq_text(q, 5, c[i].heading ? c[i].heading : "");
            dbq_int(q, 6, c[i].page_first);
            dbq_int(q, 7, c[i].page_last);
            dbq_int(q, 8, c[i].n_tokens);
            dbq_int(q, 9, c[i].dim);
            dbq_text(q, 10, v);
            rc = dbq_run(q, e);
            dbq_done(q);
        }
        free(v);
        bytes += (int64_t)strlen(c[i].text) + (int64_t)c[i].dim * 4;
    }
    if (!rc) {
        struct dbq *q = db_prep(d,
                                "UPDATE vs_files SET status = 'completed', usage_bytes = $3, error_code = '', error_msg = ''"
                                " WHERE vs_id = $1 AND file_id = $2 AND status = 'in_progress'", 1, e);
        rc = STORE_ERR;
        if (q) {
            dbq_text(q, 1, vs_id);
            dbq_text(q, 2, file_id);
            dbq_int(q, 3, bytes);
            rc = rows_run_changed(q, "vector store file in progress not found", e);
            dbq_done(q);
        }
    }
    if (!rc) rc = db_commit(d, e);
    store_db_release(st, d);
    return rc;
}

void store_chunks_free(struct store_chunk *c, size_t n) {
    for (size_t i = 0; c && i < n; i++) {
        free(c[i].text);
        free(c[i].heading);
        free(c[i].vec);
        free(c[i].attributes);
    }
    free(c);
}

int store_chunks_load(struct store *st, const char *user_id, const char *const *vs_ids, int n_vs,
                      struct store_chunk **out, size_t *n, struct err *e) {
    *out = NULL;
    *n = 0;
    if (bad_id(user_id)) return err_set(e, "user id is missing"), STORE_INVALID;
    struct db *d;
    if (store_db_acquire(st, &d, e)) return STORE_ERR;
    size_t cap = 0;
    int rc = 0;
    for (int s = 0; !rc && s < n_vs; s++) {
        if (bad_id(vs_ids[s])) continue;
        struct dbq *q = db_prep(d,
                                "SELECT c.file_id, fl.filename, f.attributes, c.seq, c.text, c.heading, c.page_first,"
                                " c.page_last, c.n_tokens, c.dim, c.vec FROM vs_chunks c"
                                " JOIN vs_files f ON f.vs_id = c.vs_id AND f.file_id = c.file_id"
                                " JOIN files fl ON fl.id = c.file_id"
                                " WHERE c.vs_id = $1 AND f.user_id = $2 AND f.status = 'completed'"
                                " ORDER BY f.created, c.file_id, c.seq", 1, e);
        if (!q) { rc = STORE_ERR; break; }
        dbq_text(q, 1, vs_ids[s]);
        dbq_text(q, 2, user_id);
        while ((rc = dbq_step(q, e)) == 1) {
            void *arr = *out;
            if ((rc = rows_grow(&arr, &cap, *n, sizeof **out, 64, e))) break;
            *out = arr;
            struct store_chunk *k = &(*out)[*n];
            memset(k, 0, sizeof *k);
            col(k->file_id, sizeof k->file_id, q, 0);
            col(k->filename, sizeof k->filename, q, 1);
            k->attributes = strdup(dbq_col_text(q, 2));
            k->seq = (int)dbq_col_int(q, 3);
            k->text = strdup(dbq_col_text(q, 4));
            k->heading = strdup(dbq_col_text(q, 5));
            k->page_first = (int)dbq_col_int(q, 6);
            k->page_last = (int)dbq_col_int(q, 7);
            k->n_tokens = (int)dbq_col_int(q, 8);
            k->dim = (int)dbq_col_int(q, 9);
            void *v = NULL;
            size_t vn = 0;
            (*n)++;
            if (!k->attributes || !k->text || !k->heading || b64_decode(dbq_col_text(q, 10), &v, &vn) ||
                vn != (size_t)k->dim * sizeof(float)) {
                free(v);
                err_set(e, "a stored chunk is damaged, or out of memory");
                rc = STORE_ERR;
                break;
            }
            k->vec = v;
        }
        dbq_done(q);
    }
    store_db_release(st, d);
    if (rc) { store_chunks_free(*out, *n); *out = NULL; *n = 0; }
    return rc;
}
