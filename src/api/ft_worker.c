/* See ft_worker.h. */
#include "api/ft_worker.h"

#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "auth/accounts.h"
#include "core/log.h"
#include "storage/ftjobs.h"

struct api_ftw {
    struct api_server *s;
    struct store *st;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop, wake;
    volatile int cancel;         /* the running job's omni_finetune cancel flag */
    /* the running job */
    struct store_ftjob job;
    char dir[2048];
    double last_poll;
    int n_steps;
    long long tokens;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void event(struct api_ftw *w, const char *level, const char *type, const char *data, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void event(struct api_ftw *w, const char *level, const char *type, const char *data, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct err e = {{0}};
    if (store_ftevent_add(w->st, w->job.id, level, type, msg, data, &e)) log_warn("fine-tuning: event: %s", e.msg);
}

/* ---- validation ---- */

static int check_messages(const cJSON *msgs, int need_assistant, char *msg, size_t cap, int line) {
    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0)
        return snprintf(msg, cap, "line %d: 'messages' must be a non-empty array", line), -1;
    int asst = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsString(role))
            return snprintf(msg, cap, "line %d: every message needs a 'role' string", line), -1;
        const char *r = role->valuestring;
        if (strcmp(r, "system") && strcmp(r, "developer") && strcmp(r, "user") && strcmp(r, "assistant") &&
            strcmp(r, "tool"))
            return snprintf(msg, cap, "line %d: unknown role '%.40s'", line, r), -1;
        if (!cJSON_IsString(content) && !cJSON_IsArray(content) && !cJSON_GetObjectItemCaseSensitive(m, "tool_calls"))
            return snprintf(msg, cap, "line %d: a '%s' message has no content", line, r), -1;
        if (!strcmp(r, "assistant")) asst = 1;
    }
    if (need_assistant && !asst)
        return snprintf(msg, cap, "line %d: no assistant message to learn from", line), -1;
    return 0;
}

int api_ft_check_jsonl(const char *data, size_t n, int dpo, char *msg, size_t cap) {
    int line = 0, items = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && data[j] != '\n') j++;
        line++;
        size_t a = i, b = j;
        while (a < b && (data[a] == ' ' || data[a] == '\t' || data[a] == '\r')) a++;
        while (b > a && (data[b - 1] == ' ' || data[b - 1] == '\t' || data[b - 1] == '\r')) b--;
        i = j + 1;
        if (a == b) continue;
        cJSON *o = cJSON_ParseWithLength(data + a, b - a);
        int bad = 0;
        if (!cJSON_IsObject(o)) {
            snprintf(msg, cap, "line %d is not a JSON object", line);
            bad = 1;
        } else if (dpo) {
            const cJSON *in = cJSON_GetObjectItemCaseSensitive(o, "input");
            const cJSON *pw = cJSON_GetObjectItemCaseSensitive(o, "preferred_output");
            const cJSON *pl = cJSON_GetObjectItemCaseSensitive(o, "non_preferred_output");
            if (!cJSON_IsObject(in) || !pw || !pl) {
                snprintf(msg, cap, "line %d: a DPO pair needs 'input', 'preferred_output' and 'non_preferred_output'",
                         line);
                bad = 1;
            } else
                bad = check_messages(cJSON_GetObjectItemCaseSensitive(in, "messages"), 0, msg, cap, line) != 0 ||
                       check_messages(pw, 1, msg, cap, line) != 0 || check_messages(pl, 1, msg, cap, line) != 0;
        } else {
            const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(o, "messages");
            if (msgs) bad = check_messages(msgs, 1, msg, cap, line) != 0;
            else if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "prompt")) ||
                     !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "completion"))) {
                snprintf(msg, cap, "line %d: expected {\"messages\": [...]} or {\"prompt\", \"completion\"}", line);
                bad = 1;
            }
        }
        cJSON_Delete(o);
        if (bad) return -1;
        items++;
    }
    if (!items) return snprintf(msg, cap, "the file has no examples"), -1;
    return 0;
}

/* ---- one job ---- */

static int write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static int copy_file(const char *from, const char *to) {
    FILE *f = fopen(from, "rb");
    if (!f) return -1;
    char tmp[2100];
    snprintf(tmp, sizeof tmp, "%s.tmp", to);
    FILE *g = fopen(tmp, "wb");
    int ok = g != NULL;
    char buf[65536];
    size_t k;
    while (ok && (k = fread(buf, 1, sizeof buf, f)) > 0) ok = fwrite(buf, 1, k, g) == k;
    fclose(f);
    if (g && fclose(g)) ok = 0;
    return ok && rename(tmp, to) == 0 ? 0 : -1;
}

static void fail(struct api_ftw *w, const char *code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(struct api_ftw *w, const char *code, const char *param, const char *fmt, ...) {
    struct store_ftjob *j = &w->job;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->error_msg, sizeof j->error_msg, fmt, ap);
    va_end(ap);
    snprintf(j->status, sizeof j->status, "failed");
    snprintf(j->error_code, sizeof j->error_code, "%s", code);
    snprintf(j->error_param, sizeof j->error_param, "%s", param ? param : "");
    j->finished = store_now_ms();
    struct err e = {{0}};
    if (store_ftjob_update(w->st, j, &e) == 0) event(w, "error", "message", NULL, "%s", j->error_msg);
}

static int set_status(struct api_ftw *w, const char *status) {
    snprintf(w->job.status, sizeof w->job.status, "%s", status);
    struct err e = {{0}};
    int rc = store_ftjob_update(w->st, &w->job, &e);
    if (rc && rc != STORE_CONFLICT) log_warn("fine-tuning: %s: %s", w->job.id, e.msg);
    return rc;
}

/* Reads and checks one of the job's files into dir/name. 0, or -1 with the job failed. */
static int fetch_file(struct api_ftw *w, const char *file_id, const char *param, const char *name) {
    void *data = NULL;
    size_t n = 0;
    struct err e = {{0}};
    int rc = store_file_content(w->st, w->job.user_id, file_id, &data, &n, &e);
    if (rc) {
        fail(w, "invalid_file", param, "the %s %s %s", param, file_id, rc == STORE_NOTFOUND ? "no longer exists" : e.msg);
        return -1;
    }
    char msg[512], path[2200];
    if (api_ft_check_jsonl(data, n, !strcmp(w->job.method, "dpo"), msg, sizeof msg)) {
        free(data);
        fail(w, "invalid_training_file", param, "the %s %s is not valid %s JSONL: %s", param, file_id,
             !strcmp(w->job.method, "dpo") ? "DPO" : "chat fine-tuning", msg);
        return -1;
    }
    snprintf(path, sizeof path, "%s/%s", w->dir, name);
    rc = write_file(path, data, n);
    free(data);
    if (rc) {
        fail(w, "server_error", NULL, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int job_cancelled(struct api_ftw *w) {
    struct store_ftjob cur;
    struct err e = {{0}};
    return store_ftjob_get(w->st, NULL, w->job.id, &cur, &e) == 0 && !strcmp(cur.status, "cancelled");
}

static void on_progress(const omni_finetune_progress *p, void *user) {
    struct api_ftw *w = user;
    char data[256];
    snprintf(data, sizeof data, "{\"step\":%d,\"total_steps\":%d,\"epoch\":%d,\"train_loss\":%.6g,"
             "\"learning_rate\":%.6g,\"tokens_per_s\":%.1f}", p->step, p->n_steps, p->epoch, p->loss, p->lr,
             p->tokens_per_s);
    event(w, "info", "metrics", data, "Step %d/%d: training loss=%.4f", p->step, p->n_steps, p->loss);
    w->n_steps = p->n_steps;
    w->tokens = p->tokens;
    double t = now_s();
    if (t - w->last_poll > 0.5) {
        w->last_poll = t;
        if (job_cancelled(w)) w->cancel = 1;  /* cancelled through the API (any replica) */
    }
}

static void model_name(const struct store_ftjob *j, char *out, size_t cap) {
    /* ft:BASE:SUFFIX:ID, as OpenAI's ft:gpt-4o-mini:org:suffix:id */
    const char *tail = strrchr(j->id, '-');
    tail = tail ? tail + 1 : j->id;
    snprintf(out, cap, "ft:%.170s:%.64s:%.8s", j->model, j->suffix[0] ? j->suffix : "omni", tail);
}

static void on_checkpoint(int step, double loss, void *user) {
    struct api_ftw *w = user;
    char src[2200], dst[2200], name[STORE_MODEL_MAX];
    snprintf(src, sizeof src, "%s/adapter.gguf", w->dir);
    snprintf(dst, sizeof dst, "%s/ckpt-step-%d.gguf", w->dir, step);
    if (copy_file(src, dst)) { log_warn("fine-tuning: cannot keep checkpoint %s", dst); return; }
    model_name(&w->job, name, sizeof name);
    struct store_ftckpt k = {0};
    snprintf(k.job_id, sizeof k.job_id, "%s", w->job.id);
    k.step = step;
    k.train_loss = loss;
    snprintf(k.model, sizeof k.model, "%.200s:ckpt-step-%d", name, step);
    snprintf(k.adapter_path, sizeof k.adapter_path, "%.1000s", dst);
    struct err e = {{0}};
    if (store_ftckpt_add(w->st, &k, &e)) log_warn("fine-tuning: checkpoint: %s", e.msg);
}

/* The base model's file: the pinned model's, else the registry's entry of that id. */
static int base_path(struct api_ftw *w, char *out, size_t cap) {
    struct api_server *s = w->s;
    if (s->model_id && s->p.model_path && !strcmp(s->model_id, w->job.model))
        return snprintf(out, cap, "%s", s->p.model_path), 0;
    omni_registry_model *ms = NULL;
    char err[256];
    int n = s->reg ? omni_registry_list(s->reg, 0, &ms, err, sizeof err) : -1;
    int found = -1;
    for (int i = 0; i < n; i++)
        if (ms[i].path && ms[i].kind == OMNI_KIND_CHAT && !strcmp(ms[i].id, w->job.model)) {
            snprintf(out, cap, "%s", ms[i].path);
            found = 0;
        }
    if (n > 0) omni_registry_list_free(ms, n);
    return found;
}

static long count_lines(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    long n = 0;
    int c, blank = 1;
    while ((c = fgetc(f)) != EOF) {
        if (c == '\n') { n += !blank; blank = 1; }
        else if (c != ' ' && c != '\t' && c != '\r') blank = 0;
    }
    n += !blank;
    fclose(f);
    return n;
}

static void run_job(struct api_ftw *w) {
    struct store_ftjob *j = &w->job;
    struct api_server *s = w->s;
    snprintf(w->dir, sizeof w->dir, "%s/%s", s->p.ft_dir, j->id);
    mkdir(s->p.ft_dir, 0700);
    if (mkdir(w->dir, 0700) && errno != EEXIST) {
        fail(w, "server_error", NULL, "cannot make the job's folder %s: %s", w->dir, strerror(errno));
        return;
    }
    char data[2200], valid[2200], out[2200], ckpt[2200], model[2048];
    snprintf(data, sizeof data, "%s/training.jsonl", w->dir);
    snprintf(valid, sizeof valid, "%s/validation.jsonl", w->dir);
    snprintf(out, sizeof out, "%s/adapter.gguf", w->dir);
    snprintf(ckpt, sizeof ckpt, "%s/state.ckpt", w->dir);
    if (!strcmp(j->status, "validating_files")) {
        if (fetch_file(w, j->training_file, "training_file", "training.jsonl")) return;
        if (j->validation_file[0] && fetch_file(w, j->validation_file, "validation_file", "validation.jsonl")) return;
        if (set_status(w, "queued")) return;
        event(w, "info", "message", NULL, "Files validated, moving job to queued state");
    }
    if (base_path(w, model, sizeof model)) {
        fail(w, "model_not_available", "model", "the base model '%s' is no longer served here", j->model);
        return;
    }
    if (access(data, R_OK) && fetch_file(w, j->training_file, "training_file", "training.jsonl")) return;
    int resume = access(ckpt, R_OK) == 0;
    if (!j->started) j->started = store_now_ms();
    if (set_status(w, "running")) return;
    event(w, "info", "message", NULL, resume ? "Fine-tuning job resumed from its last checkpoint" :
                                               "Fine-tuning job started");
    omni_finetune_params p = omni_finetune_default_params();
    p.model_path = model;
    if (!strcmp(j->method, "dpo")) p.dpo_path = data;
    else p.data_path = data;
    p.out_path = out;
    p.checkpoint_path = ckpt;
    p.resume_path = resume ? ckpt : NULL;
    p.epochs = (int)j->n_epochs;
    p.batch = (int)j->batch_size;
    p.lr = (float)(p.lr * j->lr_multiplier);
    p.dpo_beta = (float)j->beta;
    p.seed = (uint64_t)j->seed;
    long items = count_lines(data);
    p.checkpoint_every = items > 0 ? (int)((items + p.batch - 1) / p.batch) : 0;  /* every epoch */
    p.progress = on_progress;
    p.on_checkpoint = on_checkpoint;
    p.user = w;
    p.cancel = &w->cancel;
    p.background = 1;
    w->cancel = 0;
    w->tokens = 0;
    pthread_mutex_lock(&w->mu);
    if (w->stop) w->cancel = 1;
    pthread_mutex_unlock(&w->mu);
    w->last_poll = now_s();
    char err[1024] = "";
    int rc = omni_finetune(&p, err, sizeof err);
    if (rc < 0) {
        if (strstr(err, "line ")) fail(w, "invalid_training_file", "training_file", "%s", err);
        else fail(w, "training_failed", NULL, "%s", err);
        return;
    }
    if (rc == 1) {
        if (job_cancelled(w)) {
            snprintf(j->status, sizeof j->status, "cancelled");
            event(w, "info", "message", NULL, "Fine-tuning job cancelled");
        } else {
            event(w, "info", "message", NULL, "Training paused (the server is stopping); it resumes at the next start");
        }
        return;
    }
    struct stat sb;
    j->trained_tokens += w->tokens;  /* this run's (a resumed job adds to what it had) */
    if (stat(out, &sb) == 0) {
        model_name(j, j->fine_tuned_model, sizeof j->fine_tuned_model);
        snprintf(j->adapter_path, sizeof j->adapter_path, "%.1000s", out);
        snprintf(j->status, sizeof j->status, "succeeded");
        j->finished = store_now_ms();
        struct err e = {{0}};
        if (store_ftjob_update(w->st, j, &e) == 0) {
            struct store_ftckpt k = {0};
            snprintf(k.job_id, sizeof k.job_id, "%s", j->id);
            k.step = w->n_steps;
            snprintf(k.model, sizeof k.model, "%.200s:ckpt-step-%d", j->fine_tuned_model, w->n_steps);
            snprintf(k.adapter_path, sizeof k.adapter_path, "%.1000s", out);
            store_ftckpt_add(w->st, &k, &e);
            event(w, "info", "message", NULL, "New fine-tuned model created: %s", j->fine_tuned_model);
            event(w, "info", "message", NULL, "The job has successfully completed");
        }
    } else fail(w, "training_failed", NULL, "the adapter was not written");
}

static void *worker(void *arg) {
    struct api_ftw *w = arg;
    /* jobs a stopped server left running: resumed from their checkpoints */
    struct store_ftjob *left = NULL;
    size_t n_left = 0;
    struct err e = {{0}};
    if (store_ftjob_running(w->st, &left, &n_left, &e) == 0)
        for (size_t i = 0; i < n_left; i++) {
            w->job = left[i];
            if (set_status(w, "queued") == 0)
                event(w, "warn", "message", NULL, "The server restarted while the job ran: it resumes from its last "
                                                  "checkpoint");
        }
    free(left);
    for (;;) {
        pthread_mutex_lock(&w->mu);
        int stop = w->stop;
        pthread_mutex_unlock(&w->mu);
        if (stop) break;
        int rc = store_ftjob_next(w->st, &w->job, &e);
        if (rc == 0) {
            run_job(w);
            continue;
        }
        if (rc != STORE_NOTFOUND) log_warn("fine-tuning: %s", e.msg);
        pthread_mutex_lock(&w->mu);
        if (!w->stop && !w->wake) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 2;  /* also picks up jobs another replica created */
            pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        }
        w->wake = 0;
        pthread_mutex_unlock(&w->mu);
    }
    return NULL;
}

struct api_ftw *api_ftw_start(struct api_server *s) {
    if (!s->p.auth || !s->p.auth->st || !s->p.ft_dir) return NULL;
    struct api_ftw *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->s = s;
    w->st = s->p.auth->st;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (pthread_create(&w->th, NULL, worker, w)) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
        return NULL;
    }
    return w;
}

void api_ftw_wake(struct api_ftw *w) {
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->wake = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void api_ftw_stop(struct api_ftw *w) {
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    w->cancel = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}
