/* The runtime's view of a loaded model (the struct behind omni.h's omni_model):
 * weights, tokenizer and chat template travel together. */
#ifndef OMNI_RUNTIME_MODEL_H
#define OMNI_RUNTIME_MODEL_H

#include <pthread.h>

#include "models/clip.h"
#include "models/llm.h"
#include "omni.h"
#include "text/tokenizer.h"

struct sched;

struct omni_model {
    struct llm *llm;
    struct tokenizer *tok;
    char *chat_template;   /* tokenizer.chat_template, or NULL */
    char *name;
    struct clip *clip;     /* image encoder (omni_model_load_mmproj), or NULL */
    /* LoRA adapters (omni_model_params.lora), in the order given: the engine's forward
     * state adds them (llm_state_set_lora); the weights stay as loaded */
    struct lora_use *lora;
    int n_lora;
    /* Named adapters a request may ask for (omni_model_add_adapter, runtime/adapters.c):
     * newest first; a name added again shadows the older one, which stays loaded (a
     * running request may use it) until the model is freed. Under adapters_mu. */
    pthread_mutex_t adapters_mu;
    struct model_adapter *adapters;
    /* The engine (runtime/scheduler.h), the only caller of llm's forward; started on
     * first use or by omni_model_start_engine, under engine_mu. */
    pthread_mutex_t engine_mu;
    struct sched *engine;
};

struct model_adapter {
    char *name;
    struct lora *a;
    float scale;
    struct model_adapter *next;
};
/* The adapter named `name` (its lora and scale), or NULL; any thread. */
const struct model_adapter *model_find_adapter(omni_model *m, const char *name);
void model_free_adapters(omni_model *m);

/* The model's engine, started with the defaults if it is not running yet; NULL with e
 * set when it cannot start. */
struct sched *model_engine(omni_model *m, struct err *e);

/* The name a model file goes by (omni_model_name, /v1/models): its general.name, else
 * the file name of path. Newly allocated; NULL when out of memory. */
char *model_file_name(const struct gguf *g, const char *path);

#endif
