/* Named LoRA adapters on a loaded model (omni_model_add_adapter): loaded beside the base,
 * whose weights are untouched, and chosen per request (omni_generate_params.adapter), so
 * several fine-tuned variants share one loaded base and one engine. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/lora.h"
#include "runtime/model.h"

int omni_model_add_adapter(omni_model *m, const char *name, const char *path, float scale, char *err,
                           size_t err_size) {
    if (!m || !name || !*name || !path || !*path || !(scale == scale))
        return err_copy_str("omni_model_add_adapter: a name, a path and a scale are needed", err, err_size), -1;
    struct err e = {{0}};
    struct lora *a = lora_load(path, m->llm, &e);
    if (!a) return err_copy_str(e.msg, err, err_size), -1;
    struct model_adapter *ad = calloc(1, sizeof *ad);
    if (!ad || !(ad->name = strdup(name))) {
        free(ad);
        lora_free(a);
        return err_copy_str("out of memory", err, err_size), -1;
    }
    ad->a = a;
    ad->scale = scale;
    pthread_mutex_lock(&m->adapters_mu);
    ad->next = m->adapters;
    m->adapters = ad;
    pthread_mutex_unlock(&m->adapters_mu);
    return 0;
}

const struct model_adapter *model_find_adapter(omni_model *m, const char *name) {
    const struct model_adapter *found = NULL;
    pthread_mutex_lock(&m->adapters_mu);
    for (const struct model_adapter *a = m->adapters; a && !found; a = a->next)
        if (!strcmp(a->name, name)) found = a;
    pthread_mutex_unlock(&m->adapters_mu);
    return found;
}

int omni_model_has_adapter(omni_model *m, const char *name) { return m && name && model_find_adapter(m, name) != NULL; }

void model_free_adapters(omni_model *m) {
    for (struct model_adapter *a = m->adapters, *nx; a; a = nx) {
        nx = a->next;
        lora_free(a->a);
        free(a->name);
        free(a);
    }
    m->adapters = NULL;
}
