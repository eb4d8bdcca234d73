/* What the runtime tests that generate on a real model share (test_session, test_adapters):
 * loading a model with two threads, collecting the generated text from on_text, greedy
 * generation parameters, and the golden greedy continuation of a golden file's first
 * prompt (the golden/llm files, made with llama.cpp) as text. Include after test.h. */
#ifndef OMNI_TESTS_MODEL_SETUP_H
#define OMNI_TESTS_MODEL_SETUP_H
#include <cjson/cJSON.h>
#include <stdint.h>

#include "omni.h"
#include "runtime/model.h"
#include "text/tokenizer.h"

struct text {
    char buf[8192];
    size_t len;
    int calls;
};

static inline int collect(const char *s, size_t n, void *user) {
    struct text *t = user;
    if (t->len + n < sizeof t->buf) {
        memcpy(t->buf + t->len, s, n);
        t->len += n;
        t->buf[t->len] = 0;
    }
    t->calls++;
    return 0;
}

/* The default model parameters with two threads (the tests share a busy machine). */
static inline omni_model_params model_params(void) {
    omni_model_params p = omni_model_default_params();
    p.n_threads = 2;
    return p;
}

/* rel under the models folder with model_params(); NULL (said on stderr) when it fails. */
static inline omni_model *load(const char *rel) {
    char err[512];
    omni_model_params p = model_params();
    omni_model *m = omni_model_load(model_path(rel), &p, err, sizeof err);
    if (!m) fprintf(stderr, "  load %s: %s\n", rel, err);
    return m;
}

/* Greedy, n tokens, special tokens as text, the text into *out. */
static inline omni_generate_params greedy_params(int n, struct text *out) {
    omni_generate_params gp = omni_generate_default_params();
    gp.sampling.temperature = 0;
    gp.max_tokens = n;
    gp.parse_special = 0;
    gp.on_text = collect;
    gp.user = out;
    return gp;
}

/* The golden greedy continuation of a golden file's first prompt, as text (malloc'd; the
 * prompt into prompt[cap], the golden's token count into *n_greedy); NULL when unreadable. */
static inline char *golden_first(omni_model *m, const char *file, char *prompt, size_t cap, int *n_greedy) {
    char *jl = read_file(golden_path(file), NULL);
    if (!jl) return NULL;
    char *nl = strchr(jl, '\n');
    if (nl) *nl = 0;
    cJSON *j = cJSON_Parse(jl);
    free(jl);
    if (!j) return NULL;
    snprintf(prompt, cap, "%s", cJSON_GetObjectItem(j, "prompt")->valuestring);
    cJSON *g = cJSON_GetObjectItem(j, "greedy");
    int n = cJSON_GetArraySize(g);
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    for (int i = 0; i < n; i++) ids[i] = cJSON_GetArrayItem(g, i)->valueint;
    char *out = NULL;
    size_t len = 0;
    tokenizer_decode(m->tok, ids, (size_t)n, 0, &out, &len, NULL);
    free(ids);
    cJSON_Delete(j);
    *n_greedy = n;
    return out;
}

#endif
