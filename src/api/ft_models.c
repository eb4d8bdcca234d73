/* See ft_models.h. */
#include "api/ft_models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/reply.h"
#include "api/who.h"
#include "storage/ftjobs.h"

static _Thread_local char owner_id[STORE_ID_MAX], owner_model[STORE_MODEL_MAX];

void api_ft_set_model_owner(const char *user_id, const char *name) {
    snprintf(owner_id, sizeof owner_id, "%s", user_id && name ? user_id : "");
    snprintf(owner_model, sizeof owner_model, "%s", user_id && name ? name : "");
}

int api_ft_resolve(struct api_server *s, struct mg_connection *c, const char *name, char *base, size_t base_cap,
                   char *adapter_out, size_t adapter_cap, char *path, size_t path_cap) {
    if (!name) return 0;
    const char *plus = strchr(name, '+');
    int ft = !strncmp(name, "ft:", 3);
    if (!ft && !plus) return 0;
    struct api_who *w = api_who();
    snprintf(adapter_out, adapter_cap, "%s", name);
    if (!ft && (size_t)(plus - name) >= base_cap) return 0;
    if (!s->p.auth || !s->p.auth->st || !w || !api_who_has_user(w)) {
        if (!ft) {  /* BASE+NAME: the base's own adapter */
            snprintf(base, base_cap, "%.*s", (int)(plus - name), name);
            snprintf(adapter_out, adapter_cap, "%s", plus + 1);
            path[0] = 0;
            return 1;
        }
        return api_reply_error(c, 404, "model", "model_not_found",
                               "the model '%s' does not exist (fine-tuned models belong to a user: use a user's key)",
                               name);
    }
    struct store *st = s->p.auth->st;
    /* the assistant's own model: its author's */
    const char *uid = owner_id[0] && !strcmp(owner_model, name) ? owner_id : w->user.id;
    struct store_ftjob j;
    struct store_ftckpt k;
    struct err e = {{0}};
    const char *adapter = ft ? name : plus + 1;
    /* the adapter goes by its job's (or checkpoint's) model id on the base: unique, so two
     * users' jobs with one suffix never share a loaded adapter */
    int rc = store_ftjob_find_model(st, uid, adapter, 0, &j, &e);
    if (!rc) snprintf(adapter_out, adapter_cap, "%s", j.fine_tuned_model);
    if (rc == STORE_NOTFOUND && !strncmp(adapter, "ft:", 3) &&
        (rc = store_ftckpt_find_model(st, uid, adapter, &k, &j, &e)) == 0) {
        snprintf(j.adapter_path, sizeof j.adapter_path, "%s", k.adapter_path);
        snprintf(adapter_out, adapter_cap, "%s", k.model);
    }
    if (rc == STORE_NOTFOUND && !ft && (rc = store_ftjob_find_model(st, uid, adapter, 1, &j, &e)) == 0)
        snprintf(adapter_out, adapter_cap, "%s", j.fine_tuned_model);
    if (rc == STORE_NOTFOUND && !ft) {  /* BASE+NAME: the base's own adapter */
        snprintf(base, base_cap, "%.*s", (int)(plus - name), name);
        snprintf(adapter_out, adapter_cap, "%s", plus + 1);
        path[0] = 0;
        return 1;
    }
    if (rc == STORE_NOTFOUND)
        return api_reply_error(c, 404, "model", "model_not_found", "the model '%s' does not exist", name);
    if (rc) return api_reply_error(c, 500, NULL, NULL, "storage: %s", e.msg);
    if (plus && (size_t)(plus - name) < base_cap) snprintf(base, base_cap, "%.*s", (int)(plus - name), name);
    else snprintf(base, base_cap, "%s", j.model);
    snprintf(path, path_cap, "%s", j.adapter_path);
    return 1;
}

int api_ft_attach(struct mg_connection *c, omni_model *model, const char *name, const char *path) {
    if (omni_model_has_adapter(model, name)) return 0;
    if (!path[0])
        return api_reply_error(c, 404, "model", "model_not_found", "the model has no adapter or fine-tuned model '%s'",
                               name);
    char err[512] = "";
    if (omni_model_add_adapter(model, name, path, 1.0f, err, sizeof err) == 0) return 0;
    return api_reply_error(c, 400, "model", "model_not_supported", "the fine-tuned model's adapter does not load on "
                           "this base model: %s", err);
}

static cJSON *ft_object(const struct store_ftjob *j) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", j->fine_tuned_model);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)(j->finished / 1000));
    cJSON_AddStringToObject(m, "owned_by", j->user_id);
    cJSON_AddStringToObject(m, "kind", "chat");
    cJSON *meta = cJSON_AddObjectToObject(m, "meta");
    cJSON_AddStringToObject(meta, "base_model", j->model);
    cJSON_AddStringToObject(meta, "fine_tuning_job", j->id);
    if (j->suffix[0]) cJSON_AddStringToObject(meta, "suffix", j->suffix);
    return m;
}

void api_ft_list_models(struct api_server *s, cJSON *data) {
    struct api_who *w = api_who();
    if (!s->p.auth || !s->p.auth->st || !w || !api_who_has_user(w)) return;
    struct store_ftjob *jobs = NULL;
    size_t n = 0;
    int more = 0;
    struct err e = {{0}};
    if (store_ftjob_list(s->p.auth->st, w->user.id, NULL, 100, &jobs, &n, &more, &e)) return;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(jobs[i].status, "succeeded") && jobs[i].fine_tuned_model[0])
            cJSON_AddItemToArray(data, ft_object(&jobs[i]));
    free(jobs);
}

cJSON *api_ft_model_object(struct api_server *s, const char *id) {
    struct api_who *w = api_who();
    if (!s->p.auth || !s->p.auth->st || !w || !api_who_has_user(w) || strncmp(id, "ft:", 3)) return NULL;
    struct store_ftjob j;
    struct err e = {{0}};
    if (store_ftjob_find_model(s->p.auth->st, w->user.id, id, 0, &j, &e)) return NULL;
    return ft_object(&j);
}
