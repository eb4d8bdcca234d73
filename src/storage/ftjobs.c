/* ftjobs.h over db.h: the fine-tuning jobs, their events and checkpoints, in the SQL both
 * back ends speak. */
#include "storage/ftjobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/rows.h"

static void col(char *dst, size_t cap, struct dbq *q, int c) { snprintf(dst, cap, "%s", dbq_col_text(q, c)); }
static int fits(const char *s, size_t cap) { return s && strlen(s) < cap; }

#define JOB_COLS                                                                                                   \
    "id, user_id, model, training_file, validation_file, method, n_epochs, batch_size, seed, lr_multiplier, beta, " \
    "suffix, status, error_code, error_param, error_msg, fine_tuned_model, adapter_path, trained_tokens, created, " \
    "started, finished"

static void read_job(struct dbq *q, struct store_ftjob *j) {
    col(j->id, sizeof j->id, q, 0);
    col(j->user_id, sizeof j->user_id, q, 1);
    col(j->model, sizeof j->model, q, 2);
    col(j->training_file, sizeof j->training_file, q, 3);
    col(j->validation_file, sizeof j->validation_file, q, 4);
    col(j->method, sizeof j->method, q, 5);
    j->n_epochs = dbq_col_int(q, 6);
    j->batch_size = dbq_col_int(q, 7);
    j->seed = dbq_col_int(q, 8);
    j->lr_multiplier = dbq_col_real(q, 9);
    j->beta = dbq_col_real(q, 10);
    col(j->suffix, sizeof j->suffix, q, 11);
    col(j->status, sizeof j->status, q, 12);
    col(j->error_code, sizeof j->error_code, q, 13);
    col(j->error_param, sizeof j->error_param, q, 14);
    col(j->error_msg, sizeof j->error_msg, q, 15);
    col(j->fine_tuned_model, sizeof j->fine_tuned_model, q, 16);
    col(j->adapter_path, sizeof j->adapter_path, q, 17);
    j->trained_tokens = dbq_col_int(q, 18);
    j->created = dbq_col_int(q, 19);
    j->started = dbq_col_int(q, 20);
    j->finished = dbq_col_int(q, 21);
}

int store_ftjob_create(struct store *st, const struct store_ftjob *in, struct store_ftjob *out, struct err *e) {
    struct store_ftjob j = *in;
    if (!j.user_id[0] || !j.model[0] || !j.training_file[0]) return err_set(e, "user, model and training file needed"), STORE_INVALID;
    if (!j.id[0]) {
        char raw[STORE_ID_MAX];
        if (store_new_id("ftjob", raw, sizeof raw, e)) return STORE_ERR;
        raw[5] = '-';
        snprintf(j.id, sizeof j.id, "%s", raw);
    }
    if (!j.created) j.created = store_now_ms();
    struct db *d;
    if (store_db_acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d, "INSERT INTO ft_jobs (" JOB_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
                               "$11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)", 1, e);
    int rc = STORE_ERR;
    if (q) {
        dbq_text(q, 1, j.id), dbq_text(q, 2, j.user_id), dbq_text(q, 3, j.model), dbq_text(q, 4, j.training_file);
        dbq_text(q, 5, j.validation_file), dbq_text(q, 6, j.method), dbq_int(q, 7, j.n_epochs);
        dbq_int(q, 8, j.batch_size), dbq_int(q, 9, j.seed), dbq_real(q, 10, j.lr_multiplier), dbq_real(q, 11, j.beta);
        dbq_text(q, 12, j.suffix), dbq_text(q, 13, j.status), dbq_text(q, 14, j.error_code);
        dbq_text(q, 15, j.error_param), dbq_text(q, 16, j.error_msg), dbq_text(q, 17, j.fine_tuned_model);
        dbq_text(q, 18, j.adapter_path), dbq_int(q, 19, j.trained_tokens), dbq_int(q, 20, j.created);
        dbq_int(q, 21, j.started), dbq_int(q, 22, j.finished);
        rc = dbq_run(q, e);
        if (rc == STORE_NOTFOUND) err_set(e, "user not found");
        dbq_done(q);
    }
    store_db_release(st, d);
    if (!rc && out) *out = j;
    return rc;
}

static int read_job_row(struct dbq *q, void *row, struct err *e) {
    read_job(q, row);
    return 0;
}

static const struct rows_shape JOB_ROW = {sizeof(struct store_ftjob), 16, read_job_row, NULL};

int store_ftjob_get(struct store *st, const char *user_id, const char *id, struct store_ftjob *out, struct err *e) {
    if (!id || !*id) return err_set(e, "fine-tuning job not found"), STORE_NOTFOUND;
    const struct rowarg a[] = {ROW_T(id), ROW_T(user_id ? user_id : "")};
    return rows_one(st, "SELECT " JOB_COLS " FROM ft_jobs WHERE id = $1 AND ($2 = '' OR user_id = $2)", a, ROW_N(a),
                    "fine-tuning job not found", read_job_row, out, e);
}

int store_ftjob_next(struct store *st, struct store_ftjob *out, struct err *e) {
    return rows_one(st, "SELECT " JOB_COLS " FROM ft_jobs WHERE status IN ('validating_files', 'queued')"
                        " ORDER BY created, id LIMIT 1", NULL, 0, "fine-tuning job not found", read_job_row, out, e);
}

int store_ftjob_find_model(struct store *st, const char *user_id, const char *name, int by_suffix,
                           struct store_ftjob *out, struct err *e) {
    const struct rowarg a[] = {ROW_T(name), ROW_T(user_id)};
    if (!by_suffix)
        return rows_one(st, "SELECT " JOB_COLS " FROM ft_jobs WHERE fine_tuned_model = $1 AND user_id = $2"
                            " AND status = 'succeeded'", a, ROW_N(a), "fine-tuning job not found", read_job_row, out, e);
    return rows_one(st, "SELECT " JOB_COLS " FROM ft_jobs WHERE suffix = $1 AND user_id = $2 AND status = 'succeeded'"
                        " ORDER BY finished DESC, id DESC LIMIT 1", a, ROW_N(a), "fine-tuning job not found", read_job_row, out, e);
}

/* one page, newest first, after the cursor job; limit > 0 asks limit + 1 rows (whether there
 * is more), else $3 is left unbound: every row */
int store_ftjob_list(struct store *st, const char *user_id, const char *after, int64_t limit, struct store_ftjob **out,
                     size_t *n, int *has_more, struct err *e) {
    const struct rowarg a[] = {ROW_T(user_id), ROW_T(after ? after : ""), ROW_I(limit + 1)};
    return rows_many(st, "SELECT " JOB_COLS " FROM ft_jobs WHERE user_id = $1 AND ($2 = '' OR (created, id) <"
                         " (SELECT c.created, c.id FROM ft_jobs c WHERE c.id = $2 AND c.user_id = $1))"
                         " ORDER BY created DESC, id DESC LIMIT $3",
                     a, limit > 0 ? 3 : 2, &JOB_ROW, limit, (void **)out, n, has_more, e);
}

int store_ftjob_running(struct store *st, struct store_ftjob **out, size_t *n, struct err *e) {
    return rows_many(st, "SELECT " JOB_COLS " FROM ft_jobs WHERE status = 'running' ORDER BY created, id", NULL, 0,
                     &JOB_ROW, 0, (void **)out, n, NULL, e);
}

int store_ftjob_update(struct store *st, const struct store_ftjob *j, struct err *e) {
    struct db *d;
    if (store_db_acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d, "UPDATE ft_jobs SET status = $2, error_code = $3, error_param = $4, error_msg = $5,"
                               " fine_tuned_model = $6, adapter_path = $7, trained_tokens = $8, started = $9,"
                               " finished = $10 WHERE id = $1 AND status NOT IN ('cancelled', 'failed', 'succeeded')",
                            1, e);
    int rc = STORE_ERR;
    if (q) {
        dbq_text(q, 1, j->id), dbq_text(q, 2, j->status), dbq_text(q, 3, j->error_code);
        dbq_text(q, 4, j->error_param), dbq_text(q, 5, j->error_msg), dbq_text(q, 6, j->fine_tuned_model);
        dbq_text(q, 7, j->adapter_path), dbq_int(q, 8, j->trained_tokens), dbq_int(q, 9, j->started);
        dbq_int(q, 10, j->finished);
        rc = dbq_run(q, e);
        if (!rc && dbq_changes(q) == 0) err_set(e, "the job has ended already"), rc = STORE_CONFLICT;
        dbq_done(q);
    }
    store_db_release(st, d);
    return rc;
}

int store_ftjob_cancel(struct store *st, const char *user_id, const char *id, int64_t now, struct err *e) {
    struct store_ftjob j;
    int rc = store_ftjob_get(st, user_id, id, &j, e);
    if (rc) return rc;
    struct db *d;
    if (store_db_acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d, "UPDATE ft_jobs SET status = 'cancelled', finished = $3 WHERE id = $1 AND user_id = $2"
                               " AND status NOT IN ('cancelled', 'failed', 'succeeded')", 1, e);
    rc = STORE_ERR;
    if (q) {
        dbq_text(q, 1, id), dbq_text(q, 2, user_id), dbq_int(q, 3, now);
        rc = dbq_run(q, e);
        if (!rc && dbq_changes(q) == 0) err_set(e, "the job has ended already"), rc = STORE_CONFLICT;
        dbq_done(q);
    }
    store_db_release(st, d);
    return rc;
}

/* ---- events ---- */

int store_ftevent_add(struct store *st, const char *job_id, const char *level, const char *type, const char *message,
                      const char *data, struct err *e) {
    char raw[STORE_ID_MAX];
    if (store_new_id("ftevent", raw, sizeof raw, e)) return STORE_ERR;
    raw[7] = '-';
    struct db *d;
    if (store_db_acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d, "INSERT INTO ft_events (id, job_id, seq, created, level, type, message, data)"
                               " SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3, $4, $5, $6, $7 FROM ft_events"
                               " WHERE job_id = $2", 1, e);
    int rc = STORE_ERR;
    if (q) {
        char msg[STORE_ERRMSG_MAX], dat[512];
        snprintf(msg, sizeof msg, "%s", message ? message : "");
        snprintf(dat, sizeof dat, "%s", data && fits(data, sizeof dat) ? data : "");
        dbq_text(q, 1, raw), dbq_text(q, 2, job_id), dbq_int(q, 3, store_now_ms()), dbq_text(q, 4, level);
        dbq_text(q, 5, type), dbq_text(q, 6, msg), dbq_text(q, 7, dat);
        rc = dbq_run(q, e);
        dbq_done(q);
    }
    store_db_release(st, d);
    return rc;
}

static int read_event(struct dbq *q, void *p, struct err *e) {
    struct store_ftevent *v = p;
    col(v->id, sizeof v->id, q, 0);
    v->seq = dbq_col_int(q, 1);
    v->created = dbq_col_int(q, 2);
    col(v->level, sizeof v->level, q, 3);
    col(v->type, sizeof v->type, q, 4);
    col(v->message, sizeof v->message, q, 5);
    col(v->data, sizeof v->data, q, 6);
    return 0;
}

int store_ftevent_list(struct store *st, const char *job_id, const char *after, int64_t limit,
                       struct store_ftevent **out, size_t *n, int *has_more, struct err *e) {
    static const struct rows_shape shape = {sizeof **out, 16, read_event, NULL};
    const struct rowarg a[] = {ROW_T(job_id), ROW_T(after ? after : ""), ROW_I(limit + 1)};
    return rows_many(st, "SELECT id, seq, created, level, type, message, data FROM ft_events WHERE job_id = $1 AND"
                         " ($2 = '' OR seq < (SELECT c.seq FROM ft_events c WHERE c.id = $2 AND c.job_id = $1))"
                         " ORDER BY seq DESC LIMIT $3",
                     a, limit > 0 ? 3 : 2, &shape, limit, (void **)out, n, has_more, e);
}

/* ---- checkpoints ---- */

int store_ftckpt_add(struct store *st, const struct store_ftckpt *c, struct err *e) {
    char raw[STORE_ID_MAX];
    if (store_new_id("ftckpt", raw, sizeof raw, e)) return STORE_ERR;
    raw[6] = '-';
    struct db *d;
    if (store_db_acquire(st, &d, e)) return STORE_ERR;
    struct dbq *q = db_prep(d, "INSERT INTO ft_checkpoints (id, job_id, step, created, train_loss, model, adapter_path)"
                               " VALUES ($1, $2, $3, $4, $5, $6, $7)", 1, e);
    int rc = STORE_ERR;
    if (q) {
        dbq_text(q, 1, raw), dbq_text(q, 2, c->job_id), dbq_int(q, 3, c->step);
        dbq_int(q, 4, c->created ? c->created : store_now_ms()), dbq_real(q, 5, c->train_loss);
        dbq_text(q, 6, c->model), dbq_text(q, 7, c->adapter_path);
        rc = dbq_run(q, e);
        dbq_done(q);
    }
    store_db_release(st, d);
    return rc;
}

#define CKPT_COLS "k.id, k.job_id, k.step, k.created, k.train_loss, k.model, k.adapter_path"

static int read_ckpt(struct dbq *q, void *p, struct err *e) {
    struct store_ftckpt *c = p;
    col(c->id, sizeof c->id, q, 0);
    col(c->job_id, sizeof c->job_id, q, 1);
    c->step = dbq_col_int(q, 2);
    c->created = dbq_col_int(q, 3);
    c->train_loss = dbq_col_real(q, 4);
    col(c->model, sizeof c->model, q, 5);
    col(c->adapter_path, sizeof c->adapter_path, q, 6);
    return 0;
}

int store_ftckpt_list(struct store *st, const char *job_id, const char *after, int64_t limit,
                      struct store_ftckpt **out, size_t *n, int *has_more, struct err *e) {
    static const struct rows_shape shape = {sizeof **out, 16, read_ckpt, NULL};
    const struct rowarg a[] = {ROW_T(job_id), ROW_T(after ? after : ""), ROW_I(limit + 1)};
    return rows_many(st, "SELECT " CKPT_COLS " FROM ft_checkpoints k WHERE k.job_id = $1 AND ($2 = '' OR k.step <"
                         " (SELECT c.step FROM ft_checkpoints c WHERE c.id = $2 AND c.job_id = $1)) ORDER BY k.step DESC LIMIT $3",
                     a, limit > 0 ? 3 : 2, &shape, limit, (void **)out, n, has_more, e);
}

int store_ftckpt_find_model(struct store *st, const char *user_id, const char *name, struct store_ftckpt *out,
                            struct store_ftjob *job, struct err *e) {
    const struct rowarg a[] = {ROW_T(name), ROW_T(user_id)};
    int rc = rows_one(st, "SELECT " CKPT_COLS " FROM ft_checkpoints k JOIN ft_jobs j ON j.id = k.job_id"
                          " WHERE k.model = $1 AND j.user_id = $2", a, ROW_N(a), "checkpoint not found", read_ckpt, out, e);
    if (!rc && job) rc = store_ftjob_get(st, user_id, out->job_id, job, e);
    return rc;
}
