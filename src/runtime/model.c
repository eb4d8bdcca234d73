/* omni_model: a loaded language model with its tokenizer and chat template — the
 * public face (include/omni.h) of models/llm and text/tokenizer. */
#include "runtime/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/lora.h"
#include "omni.h"
#include "runtime/scheduler.h"

omni_model_params omni_model_default_params(void) {
    omni_model_params p;
    memset(&p, 0, sizeof p);
    return p;
}

omni_model *omni_model_load(const char *path, const omni_model_params *params, char *err, size_t err_size) {
    omni_model_params dp = omni_model_default_params();
    if (!params) params = &dp;
    struct err e = {{0}};
    omni_model *m = calloc(1, sizeof *m);
    if (!m) { err_copy_str("out of memory", err, err_size); return NULL; }
    pthread_mutex_init(&m->engine_mu, NULL);
    pthread_mutex_init(&m->adapters_mu, NULL);
    struct llm_load_params lp = llm_default_load_params();
    lp.n_threads = params->n_threads;
    lp.progress = params->progress;
    lp.progress_ud = params->progress_user;
    m->llm = llm_load(path, &lp, &e);
    if (!m->llm) {
        /* an encoder (bge, nomic-embed) is for the embedding API, not for generating */
        if (omni_file_is_embedding_model(path) && strstr(e.msg, "not supported"))
            err_set(&e, "%s is an embedding model (use omni embed, or omni serve --embedding-model)", path);
        goto fail;
    }
    if (params->n_lora < 0 || (params->n_lora > 0 && !params->lora)) {
        err_set(&e, "omni_model_load: bad LoRA list (%d adapters)", params->n_lora);
        goto fail;
    }
    if (params->n_lora > 0 && !(m->lora = calloc((size_t)params->n_lora, sizeof *m->lora))) {
        err_set(&e, "out of memory");
        goto fail;
    }
    for (int i = 0; i < params->n_lora; i++) {
        const omni_lora *l = &params->lora[i];
        if (!l->path || !(l->scale == l->scale)) {
            err_set(&e, "LoRA adapter %d: no path or a bad scale", i + 1);
            goto fail;
        }
        struct lora *a = lora_load(l->path, m->llm, &e);
        if (!a) { err_prefix(&e, "LoRA adapter for %s: ", path); goto fail; }
        m->lora[m->n_lora++] = (struct lora_use){a, l->scale};
    }
    const struct gguf *g = llm_gguf(m->llm);
    m->tok = tokenizer_load(g, &e);
    if (!m->tok) { err_prefix(&e, "%s: ", path); goto fail; }
    m->chat_template = gguf_get_str_dup(g, "tokenizer.chat_template");
    m->name = model_file_name(g, path);
    if (!m->name) { err_set(&e, "out of memory"); goto fail; }
    return m;
fail:
    err_copy_str(e.msg, err, err_size);
    omni_model_free(m);
    return NULL;
}

char *model_file_name(const struct gguf *g, const char *path) {
    char *name = gguf_get_str_dup(g, "general.name");
    if (name) return name;
    const char *base = strrchr(path, '/');
    return strdup(base ? base + 1 : path);
}

void omni_model_free(omni_model *m) {
    if (!m) return;
    sched_free(m->engine); /* first: it is the one thread that runs the forward */
    pthread_mutex_destroy(&m->engine_mu);
    clip_free(m->clip);
    tokenizer_free(m->tok);
    for (int i = 0; i < m->n_lora; i++) lora_free((struct lora *)m->lora[i].a);
    model_free_adapters(m);
    pthread_mutex_destroy(&m->adapters_mu);
    free(m->lora);
    llm_free(m->llm);
    free(m->chat_template);
    free(m->name);
    free(m);
}

int omni_model_load_mmproj(omni_model *m, const char *path, char *err, size_t err_size) {
    struct err e = {{0}};
    pthread_mutex_lock(&m->engine_mu);
    int started = m->engine != NULL;
    pthread_mutex_unlock(&m->engine_mu);
    /* the engine encodes images with it and sized its work for it */
    if (started) return err_copy_str("load the image encoder before the first session or request", err, err_size);
    struct clip *c = clip_load(path, &e);
    if (!c) return err_copy_str(e.msg, err, err_size);
    /* A projector made for another LLM would feed it vectors of the wrong width. */
    if (clip_hparams(c)->n_out != llm_hparams(m->llm)->n_embd) {
        snprintf(err, err_size, "%s produces embeddings of width %d but the model expects %d: they do not belong together",
                 path, clip_hparams(c)->n_out, llm_hparams(m->llm)->n_embd);
        clip_free(c);
        return -1;
    }
    /* checked again where it counts: an engine started meanwhile sized itself without it */
    pthread_mutex_lock(&m->engine_mu);
    started = m->engine != NULL;
    struct clip *old = started ? c : m->clip;
    if (!started) m->clip = c;
    pthread_mutex_unlock(&m->engine_mu);
    clip_free(old);
    if (started) return err_copy_str("load the image encoder before the first session or request", err, err_size);
    return 0;
}

int omni_model_n_image_pos(const omni_model *m) { return m->clip ? clip_hparams(m->clip)->n_image_pos : 0; }

const char *omni_model_arch(const omni_model *m) { return llm_hparams(m->llm)->arch; }
const char *omni_model_name(const omni_model *m) { return m->name; }
const char *omni_model_chat_template(const omni_model *m) { return m->chat_template; }
int omni_model_n_vocab(const omni_model *m) { return llm_hparams(m->llm)->n_vocab; }
int omni_model_n_ctx_train(const omni_model *m) { return llm_hparams(m->llm)->n_ctx_train; }
uint64_t omni_model_n_params(const omni_model *m) { return llm_n_params(m->llm); }
uint64_t omni_model_size(const omni_model *m) { return llm_weight_bytes(m->llm); }

int omni_tokenize(const omni_model *m, const char *text, size_t len, int add_special, int parse_special,
                  int32_t *tokens, int max_tokens) {
    int32_t *ids = NULL;
    size_t n = 0;
    if (tokenizer_encode(m->tok, text, len, add_special, parse_special, &ids, &n, NULL)) return -1;
    size_t k = n < (size_t)(max_tokens > 0 ? max_tokens : 0) ? n : (size_t)(max_tokens > 0 ? max_tokens : 0);
    if (k) memcpy(tokens, ids, k * sizeof *ids);
    free(ids);
    return (int)n;
}

const char *omni_token_text(const omni_model *m, int32_t token, int special, size_t *len) {
    return tokenizer_piece(m->tok, token, special, len);
}
