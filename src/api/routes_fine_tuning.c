/* OpenAI's fine-tuning API: POST /v1/fine_tuning/jobs (model, training_file,
 * validation_file, hyperparameters or method {type supervised | dpo, …: hyperparameters},
 * suffix, seed), GET /v1/fine_tuning/jobs (after, limit), GET /v1/fine_tuning/jobs/{id},
 * POST …/{id}/cancel, GET …/{id}/events and …/{id}/checkpoints (after, limit). Jobs are
 * the user's (another user's id is a 404) and live in the database; the worker
 * (api/ft_worker.h) runs them, one at a time, in the background. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/files_index.h"
#include "api/ft_worker.h"
#include "api/model_names.h"
#include "api/reply.h"
#include "api/routes.h"
#include "api/who.h"
#include "storage/ftjobs.h"

static cJSON *num_or_null(int64_t v) { return v ? cJSON_CreateNumber((double)v) : cJSON_CreateNull(); }

static cJSON *job_json(const struct store_ftjob *j) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "fine_tuning.job");
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "model", j->model);
    cJSON_AddNumberToObject(o, "created_at", (double)(j->created / 1000));
    cJSON_AddItemToObject(o, "finished_at", num_or_null(j->finished / 1000));
    if (j->fine_tuned_model[0]) cJSON_AddStringToObject(o, "fine_tuned_model", j->fine_tuned_model);
    else cJSON_AddNullToObject(o, "fine_tuned_model");
    cJSON_AddStringToObject(o, "organization_id", j->user_id);
    cJSON_AddItemToObject(o, "result_files", cJSON_CreateArray());
    cJSON_AddStringToObject(o, "status", j->status);
    cJSON_AddStringToObject(o, "training_file", j->training_file);
    if (j->validation_file[0]) cJSON_AddStringToObject(o, "validation_file", j->validation_file);
    else cJSON_AddNullToObject(o, "validation_file");
    cJSON *hp = cJSON_CreateObject();
    cJSON_AddNumberToObject(hp, "n_epochs", (double)j->n_epochs);
    cJSON_AddNumberToObject(hp, "batch_size", (double)j->batch_size);
    cJSON_AddNumberToObject(hp, "learning_rate_multiplier", j->lr_multiplier);
    int dpo = !strcmp(j->method, "dpo");
    if (dpo) cJSON_AddNumberToObject(hp, "beta", j->beta);
    cJSON_AddItemToObject(o, "hyperparameters", cJSON_Duplicate(hp, 1));
    cJSON *m = cJSON_CreateObject(), *inner = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "type", j->method);
    cJSON_AddItemToObject(inner, "hyperparameters", hp);
    cJSON_AddItemToObject(m, dpo ? "dpo" : "supervised", inner);
    cJSON_AddItemToObject(o, "method", m);
    cJSON_AddItemToObject(o, "trained_tokens", num_or_null(j->trained_tokens));
    if (!strcmp(j->status, "failed")) {
        cJSON *e = cJSON_AddObjectToObject(o, "error");
        cJSON_AddStringToObject(e, "code", j->error_code);
        cJSON_AddStringToObject(e, "message", j->error_msg);
        if (j->error_param[0]) cJSON_AddStringToObject(e, "param", j->error_param);
        else cJSON_AddNullToObject(e, "param");
    } else cJSON_AddNullToObject(o, "error");
    cJSON_AddNumberToObject(o, "seed", (double)j->seed);
    if (j->suffix[0]) cJSON_AddStringToObject(o, "suffix", j->suffix);
    else cJSON_AddNullToObject(o, "suffix");
    cJSON_AddNullToObject(o, "estimated_finish");
    cJSON_AddNullToObject(o, "integrations");
    cJSON_AddNullToObject(o, "metadata");
    return o;
}

static cJSON *event_json(const struct store_ftevent *v) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "fine_tuning.job.event");
    cJSON_AddStringToObject(o, "id", v->id);
    cJSON_AddNumberToObject(o, "created_at", (double)(v->created / 1000));
    cJSON_AddStringToObject(o, "level", v->level);
    cJSON_AddStringToObject(o, "message", v->message);
    cJSON_AddStringToObject(o, "type", v->type);
    cJSON *d = v->data[0] ? cJSON_Parse(v->data) : NULL;
    cJSON_AddItemToObject(o, "data", d ? d : cJSON_CreateObject());
    return o;
}

static cJSON *ckpt_json(const struct store_ftckpt *k) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "fine_tuning.job.checkpoint");
    cJSON_AddStringToObject(o, "id", k->id);
    cJSON_AddNumberToObject(o, "created_at", (double)(k->created / 1000));
    cJSON_AddStringToObject(o, "fine_tuned_model_checkpoint", k->model);
    cJSON_AddStringToObject(o, "fine_tuning_job_id", k->job_id);
    cJSON *m = cJSON_AddObjectToObject(o, "metrics");
    cJSON_AddNumberToObject(m, "step", (double)k->step);
    cJSON_AddNumberToObject(m, "train_loss", k->train_loss);
    cJSON_AddNumberToObject(o, "step_number", (double)k->step);
    return o;
}

static int bad(struct mg_connection *c, const char *param, const char *fmt, const char *arg) {
    return api_reply_error(c, 400, param, "invalid_value", fmt, arg ? arg : "");
}

/* A hyperparameter: absent, null or "auto" keeps *v; else a number in [lo, hi]. 0, or the status written. */
static int hyper(struct mg_connection *c, const cJSON *hp, const char *name, double lo, double hi, int integer,
                 double *v) {
    const cJSON *x = hp ? cJSON_GetObjectItemCaseSensitive(hp, name) : NULL;
    if (!x || cJSON_IsNull(x) || (cJSON_IsString(x) && !strcmp(x->valuestring, "auto"))) return 0;
    if (!cJSON_IsNumber(x) || !(x->valuedouble >= lo && x->valuedouble <= hi) ||
        (integer && x->valuedouble != floor(x->valuedouble))) {
        char msg[200];
        snprintf(msg, sizeof msg, "'%s' must be \"auto\" or a%s number from %g to %g", name, integer ? "n integer" : "",
                 lo, hi);
        return api_reply_error(c, 400, name, "invalid_value", "%s", msg);
    }
    *v = x->valuedouble;
    return 0;
}

/* The served chat model `name` means: its id into out. 0, or the status written. */
static int base_model(struct api_server *s, struct mg_connection *c, const char *name, char *out, size_t cap) {
    omni_registry_model *ms = NULL;
    char err[256];
    int n = s->reg ? omni_registry_list(s->reg, 0, &ms, err, sizeof err) : 0, found = 0;
    for (int i = 0; i < n && !found; i++)
        if (ms[i].kind == OMNI_KIND_CHAT && api_name_means(name, ms[i].id, NULL))
            snprintf(out, cap, "%s", ms[i].id), found = 1;
    if (n > 0) omni_registry_list_free(ms, n);
    if (!found && s->model && s->model_id && api_name_means(name, s->model_id, omni_model_name(s->model)))
        snprintf(out, cap, "%s", s->model_id), found = 1;
    if (found) return 0;
    return api_reply_error(c, 400, "model", "model_not_available",
                           "the model '%s' is not a chat model this server has: fine-tune one that /v1/models lists",
                           name);
}

static int check_file(struct mg_connection *c, struct store *st, const char *user, const char *id,
                      const char *param) {
    struct store_file f;
    struct err e = {{0}};
    int rc = store_file_get(st, user, id, &f, &e);
    if (rc == STORE_NOTFOUND)
        return api_reply_error(c, 400, param, "invalid_file", "the file '%s' does not exist (upload it with "
                               "POST /v1/files, purpose \"fine-tune\")", id);
    if (rc) return api_reply_error(c, 500, NULL, NULL, "storage: %s", e.msg);
    if (strcmp(f.purpose, "fine-tune"))
        return api_reply_error(c, 400, param, "invalid_file", "the file '%s' was uploaded for '%s', not 'fine-tune'",
                               id, f.purpose);
    return 0;
}

static int create_job(struct api_server *s, struct mg_connection *c, struct store *st, const char *user,
                      const char *body, size_t len) {
    int status = 0, b = 0;
    cJSON *j = api_json_object(c, body, len, &status);
    if (!j) return status;
    struct store_ftjob job = {0};
    const char *model = api_json_str(c, j, "model", &b);
    const char *tf = b ? NULL : api_json_str(c, j, "training_file", &b);
    const char *vf = b ? NULL : api_json_str(c, j, "validation_file", &b);
    const char *suffix = b ? NULL : api_json_str(c, j, "suffix", &b);
    if (b) { status = 400; goto out; }
    if (!model || !*model) { status = bad(c, "model", "'model' is required%s", NULL); goto out; }
    if (!tf || !*tf) { status = bad(c, "training_file", "'training_file' is required%s", NULL); goto out; }
    if (strlen(tf) >= sizeof job.training_file || (vf && strlen(vf) >= sizeof job.validation_file)) {
        status = bad(c, "training_file", "no such file%s", NULL);
        goto out;
    }
    if (suffix) {
        size_t n = strlen(suffix);
        int ok = n <= 64;
        for (size_t i = 0; ok && i < n; i++)
            ok = (suffix[i] >= 'a' && suffix[i] <= 'z') || (suffix[i] >= 'A' && suffix[i] <= 'Z') ||
                 (suffix[i] >= '0' && suffix[i] <= '9') || suffix[i] == '-' || suffix[i] == '_' || suffix[i] == '.';
        if (!ok) {
            status = bad(c, "suffix", "'suffix' must be at most 64 letters, digits, '-', '_' or '.'%s", NULL);
            goto out;
        }
        snprintf(job.suffix, sizeof job.suffix, "%s", suffix);
    }
    if ((status = base_model(s, c, model, job.model, sizeof job.model))) goto out;
    if ((status = check_file(c, st, user, tf, "training_file"))) goto out;
    if (vf && *vf && (status = check_file(c, st, user, vf, "validation_file"))) goto out;
    /* method {type, supervised|dpo: {hyperparameters}} or the older top-level hyperparameters */
    const char *type = "supervised";
    const cJSON *hp = cJSON_GetObjectItemCaseSensitive(j, "hyperparameters");
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(j, "method");
    if (method && !cJSON_IsNull(method)) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(method, "type");
        if (!cJSON_IsObject(method) || !cJSON_IsString(t) ||
            (strcmp(t->valuestring, "supervised") && strcmp(t->valuestring, "dpo"))) {
            status = bad(c, "method", "'method.type' must be \"supervised\" or \"dpo\"%s", NULL);
            goto out;
        }
        type = t->valuestring;
        const cJSON *inner = cJSON_GetObjectItemCaseSensitive(method, type);
        const cJSON *ihp = inner ? cJSON_GetObjectItemCaseSensitive(inner, "hyperparameters") : NULL;
        if (ihp) hp = ihp;
    }
    if (hp && !cJSON_IsNull(hp) && !cJSON_IsObject(hp)) {
        status = bad(c, "hyperparameters", "'hyperparameters' must be an object%s", NULL);
        goto out;
    }
    double ep = 3, bs = 1, lrm = 1, beta = 0.1, seed = (double)(time(NULL) % 2147483647);
    if ((status = hyper(c, hp, "n_epochs", 1, 50, 1, &ep)) || (status = hyper(c, hp, "batch_size", 1, 256, 1, &bs)) ||
        (status = hyper(c, hp, "learning_rate_multiplier", 1e-6, 1000, 0, &lrm)) ||
        (status = hyper(c, hp, "beta", 1e-6, 100, 0, &beta)))
        goto out;
    const cJSON *sd = cJSON_GetObjectItemCaseSensitive(j, "seed");
    if (sd && !cJSON_IsNull(sd)) {
        if (!cJSON_IsNumber(sd) || sd->valuedouble < 0 || sd->valuedouble > 2147483647 ||
            sd->valuedouble != floor(sd->valuedouble)) {
            status = bad(c, "seed", "'seed' must be an integer from 0 to 2147483647%s", NULL);
            goto out;
        }
        seed = sd->valuedouble;
    }
    snprintf(job.user_id, sizeof job.user_id, "%s", user);
    snprintf(job.training_file, sizeof job.training_file, "%s", tf);
    snprintf(job.validation_file, sizeof job.validation_file, "%s", vf ? vf : "");
    snprintf(job.method, sizeof job.method, "%s", type);
    snprintf(job.status, sizeof job.status, "validating_files");
    job.n_epochs = (int64_t)ep, job.batch_size = (int64_t)bs, job.lr_multiplier = lrm, job.beta = beta;
    job.seed = (int64_t)seed;
    struct err e = {{0}};
    int rc = store_ftjob_create(st, &job, &job, &e);
    if (rc) { status = api_reply_store(c, rc, &e, "user"); goto out; }
    store_ftevent_add(st, job.id, "info", "message", "Validating training file", NULL, &e);
    api_ftw_wake(s->ftw);
    cJSON *o = job_json(&job);
    status = api_reply_json(c, 200, o);
    cJSON_Delete(o);
out:
    cJSON_Delete(j);
    return status;
}

/* ?after= and ?limit= (default 20, 1..100). 0, or the status written. */
static int page(struct mg_connection *c, char *after, size_t cap, int64_t *limit) {
    char lim[32];
    after[0] = 0;
    api_query(c, "after", after, cap);
    *limit = 20;
    if (api_query(c, "limit", lim, sizeof lim)) {
        char *end;
        long v = strtol(lim, &end, 10);
        if (end == lim || *end || v < 1 || v > 100)
            return api_reply_error(c, 400, "limit", "invalid_value", "'limit' must be an integer from 1 to 100");
        *limit = v;
    }
    return 0;
}

static int reply_list(struct mg_connection *c, cJSON *data, int has_more) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON_AddItemToObject(o, "data", data);
    cJSON_AddBoolToObject(o, "has_more", has_more);
    int st = api_reply_json(c, 200, o);
    cJSON_Delete(o);
    return st;
}

int route_fine_tuning(struct api_server *s, struct mg_connection *c, const char *method, const char *path,
                      const char *body, size_t len) {
    struct store *st;
    const char *user;
    int status;
    if ((status = api_files_user(s, c, &st, &user))) return status;
    if (!s->p.ft_dir)
        return api_reply_error(c, 404, NULL, "unknown_url", "this server does not fine-tune (no --fine-tuning-dir)");
    const char *rest = path + strlen("/v1/fine_tuning/jobs");
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    char after[STORE_ID_MAX + 8];
    int64_t limit;
    struct err e = {{0}};
    if (!*rest || !strcmp(rest, "/")) {
        if (post) return create_job(s, c, st, user, body, len);
        if (!get) return api_reply_error(c, 405, NULL, "method_not_allowed", "use GET or POST on %s", path);
        if ((status = page(c, after, sizeof after, &limit))) return status;
        struct store_ftjob *jobs = NULL;
        size_t n = 0;
        int more = 0, rc = store_ftjob_list(st, user, after, limit, &jobs, &n, &more, &e);
        if (rc) return api_reply_store(c, rc, &e, "fine-tuning job");
        cJSON *data = cJSON_CreateArray();
        for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(data, job_json(&jobs[i]));
        free(jobs);
        return reply_list(c, data, more);
    }
    if (*rest != '/') return api_reply_error(c, 404, NULL, "unknown_url", "no route %s", path);
    rest++;
    char id[STORE_ID_MAX];
    const char *slash = strchr(rest, '/');
    size_t idn = slash ? (size_t)(slash - rest) : strlen(rest);
    const char *sub = slash ? slash + 1 : "";
    if (idn == 0 || idn >= sizeof id)
        return api_reply_error(c, 404, NULL, "not_found", "no fine-tuning job '%.*s'", (int)(idn > 64 ? 64 : idn), rest);
    snprintf(id, sizeof id, "%.*s", (int)idn, rest);
    struct store_ftjob job;
    int rc = store_ftjob_get(st, user, id, &job, &e);
    if (rc == STORE_NOTFOUND) return api_reply_error(c, 404, "fine_tuning_job_id", "not_found", "no fine-tuning job '%s'", id);
    if (rc) return api_reply_store(c, rc, &e, "fine-tuning job");
    if (!*sub) {
        if (!get) return api_reply_error(c, 405, NULL, "method_not_allowed", "use GET on %s", path);
        cJSON *o = job_json(&job);
        status = api_reply_json(c, 200, o);
        cJSON_Delete(o);
        return status;
    }
    if (!strcmp(sub, "cancel")) {
        if (!post) return api_reply_error(c, 405, NULL, "method_not_allowed", "use POST on %s", path);
        rc = store_ftjob_cancel(st, user, id, store_now_ms(), &e);
        if (rc == STORE_CONFLICT)
            return api_reply_error(c, 400, NULL, "invalid_request", "the job has %s already: only a job that has not "
                                   "ended can be cancelled", job.status);
        if (rc) return api_reply_store(c, rc, &e, "fine-tuning job");
        store_ftevent_add(st, id, "info", "message", "Cancellation requested", NULL, &e);
        api_ftw_wake(s->ftw);
        store_ftjob_get(st, user, id, &job, &e);
        cJSON *o = job_json(&job);
        status = api_reply_json(c, 200, o);
        cJSON_Delete(o);
        return status;
    }
    int events = !strcmp(sub, "events"), ckpts = !strcmp(sub, "checkpoints");
    if (!events && !ckpts) return api_reply_error(c, 404, NULL, "unknown_url", "no route %s", path);
    if (!get) return api_reply_error(c, 405, NULL, "method_not_allowed", "use GET on %s", path);
    if ((status = page(c, after, sizeof after, &limit))) return status;
    cJSON *data = cJSON_CreateArray();
    int more = 0;
    size_t n = 0;
    if (events) {
        struct store_ftevent *ev = NULL;
        rc = store_ftevent_list(st, id, after, limit, &ev, &n, &more, &e);
        for (size_t i = 0; !rc && i < n; i++) cJSON_AddItemToArray(data, event_json(&ev[i]));
        free(ev);
    } else {
        struct store_ftckpt *k = NULL;
        rc = store_ftckpt_list(st, id, after, limit, &k, &n, &more, &e);
        for (size_t i = 0; !rc && i < n; i++) cJSON_AddItemToArray(data, ckpt_json(&k[i]));
        free(k);
    }
    if (rc) {
        cJSON_Delete(data);
        return api_reply_store(c, rc, &e, "fine-tuning job");
    }
    return reply_list(c, data, more);
}
