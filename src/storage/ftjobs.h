/* Storage for OpenAI's fine-tuning API (/v1/fine_tuning/jobs): the jobs, their events and
 * their checkpoints, in the same database as the files their data comes from (both back
 * ends, the same SQL). Conventions as storage.h: 0 or a negative STORE_* code with e set;
 * a user's job looked up with another user's id is STORE_NOTFOUND; times in ms.
 *
 * Tables (a migration in storage.c): ft_jobs, ft_events, ft_checkpoints (deleted with
 * the job, the job with its user). */
#ifndef OMNI_STORAGE_FTJOBS_H
#define OMNI_STORAGE_FTJOBS_H
#include <stddef.h>
#include <stdint.h>

#include "storage/files.h"
#include "storage/storage.h"

#define STORE_FT_PATH_MAX 1024
#define STORE_FT_SUFFIX_MAX 65

struct store_ftjob {
    char id[STORE_ID_MAX];                  /* "ftjob-…" */
    char user_id[STORE_ID_MAX];
    char model[STORE_MODEL_MAX];            /* the base model's id */
    char training_file[STORE_ID_MAX];
    char validation_file[STORE_ID_MAX];     /* "" when none */
    char method[16];                        /* "supervised" | "dpo" */
    int64_t n_epochs, batch_size, seed;
    double lr_multiplier, beta;
    char suffix[STORE_FT_SUFFIX_MAX];
    char status[24];                        /* validating_files, queued, running, succeeded, failed, cancelled */
    char error_code[64], error_param[64];
    char error_msg[STORE_ERRMSG_MAX];
    char fine_tuned_model[STORE_MODEL_MAX]; /* "" until it succeeded */
    char adapter_path[STORE_FT_PATH_MAX];   /* the trained adapter on this server's disk */
    int64_t trained_tokens, created, started, finished;
};

/* Stores j (id generated; created 0: now) as given (status included). */
int store_ftjob_create(struct store *st, const struct store_ftjob *j, struct store_ftjob *out, struct err *e);
/* user_id NULL: any user's (the worker). */
int store_ftjob_get(struct store *st, const char *user_id, const char *id, struct store_ftjob *out, struct err *e);
/* Newest first; after: a job id (the page after it), NULL from the start; limit 1..100. */
int store_ftjob_list(struct store *st, const char *user_id, const char *after, int64_t limit, struct store_ftjob **out,
                     size_t *n, int *has_more, struct err *e);
/* Writes status, error, fine_tuned_model, adapter_path, trained_tokens, started and
 * finished of j (by id) unless the job has ended meanwhile (cancelled): then
 * STORE_CONFLICT and nothing is written. */
int store_ftjob_update(struct store *st, const struct store_ftjob *j, struct err *e);
/* Marks the user's job cancelled when it has not ended (0); STORE_NOTFOUND when it is not
 * the user's; STORE_CONFLICT when it had ended already. */
int store_ftjob_cancel(struct store *st, const char *user_id, const char *id, int64_t now, struct err *e);
/* The oldest job waiting (validating_files or queued), any user: 0 with *out, or STORE_NOTFOUND. */
int store_ftjob_next(struct store *st, struct store_ftjob *out, struct err *e);
/* Jobs left running by a server that stopped: *out malloc'ed. */
int store_ftjob_running(struct store *st, struct store_ftjob **out, size_t *n, struct err *e);
/* The user's job whose fine_tuned_model is name, or its latest succeeded job with suffix
 * `name` (by_suffix = 1). */
int store_ftjob_find_model(struct store *st, const char *user_id, const char *name, int by_suffix,
                           struct store_ftjob *out, struct err *e);

struct store_ftevent {
    char id[STORE_ID_MAX];                  /* "ftevent-…" */
    int64_t seq, created;
    char level[8];                          /* "info" | "warn" | "error" */
    char type[16];                          /* "message" | "metrics" */
    char message[STORE_ERRMSG_MAX];
    char data[512];                         /* a JSON object's text, "" when none */
};
int store_ftevent_add(struct store *st, const char *job_id, const char *level, const char *type, const char *message,
                      const char *data, struct err *e);
/* Newest first; after: an event id. */
int store_ftevent_list(struct store *st, const char *job_id, const char *after, int64_t limit,
                       struct store_ftevent **out, size_t *n, int *has_more, struct err *e);

struct store_ftckpt {
    char id[STORE_ID_MAX];                  /* "ftckpt-…" */
    char job_id[STORE_ID_MAX];
    int64_t step, created;
    double train_loss;
    char model[STORE_MODEL_MAX];            /* the checkpoint's model id (usable in requests) */
    char adapter_path[STORE_FT_PATH_MAX];
};
int store_ftckpt_add(struct store *st, const struct store_ftckpt *c, struct err *e);
int store_ftckpt_list(struct store *st, const char *job_id, const char *after, int64_t limit,
                      struct store_ftckpt **out, size_t *n, int *has_more, struct err *e);
/* The user's checkpoint whose model id is name. */
int store_ftckpt_find_model(struct store *st, const char *user_id, const char *name, struct store_ftckpt *out,
                            struct store_ftjob *job, struct err *e);

#endif
