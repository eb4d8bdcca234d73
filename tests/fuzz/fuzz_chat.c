/* libFuzzer target for a chat-completion request body, along the path
 * POST /v1/chat/completions takes before any generation: the JSON is parsed, the
 * sampling options validated (api_options_parse, response_format's JSON schema
 * compiled), the messages read as routes_chat.c reads them (string content or text
 * parts, known roles, "developer" as "system"), rendered with the model's chat
 * template (omni_chat_format, SmolLM2's ChatML) and tokenized (omni_prompt_build, as the route does). A
 * request whose "model" mentions qwen instead renders with Qwen3's template (tools,
 * thinking; chat_render as omni_chat_format calls it) and tokenizes with the Qwen2
 * model's BPE vocabulary (omni runs llama and qwen2 architectures).
 * Every failure must carry a message and every token id must be in the vocabulary.
 * Models come from $OMNI_MODELS (default ../shared/models), loaded once.
 * Built by tests/fuzz/build.sh; tests/fuzz/test_fuzz_chat.c replays the corpus. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "api/request_options.h"
#include "formats/gguf.h"
#include "omni.h"
#include "text/chat_template.h"

static omni_model *fuzz_models[2]; /* SmolLM2, Qwen2 */
static char *fuzz_qwen3_template;
static int fuzz_state;             /* 0 not tried, 1 ready, -1 assets missing */

static int fuzz_setup(void) {
    if (fuzz_state) return fuzz_state > 0 ? 0 : -1;
    const char *dir = getenv("OMNI_MODELS");
    if (!dir || !*dir) dir = "../shared/models";
    static const char *const files[2] = {"synth/synth-smollm2-f16.gguf", "synth/synth-qwen2-f16.gguf"};
    omni_model_params p = omni_model_default_params();
    p.n_threads = 1;
    fuzz_state = 1;
    for (int i = 0; i < 2; i++) {
        char path[1024], err[256] = "";
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (!(fuzz_models[i] = omni_model_load(path, &p, err, sizeof err))) {
            fprintf(stderr, "fuzz_chat: %s: %s\n", path, err);
            fuzz_state = -1;
        }
    }
    char path[1024];
    struct err e = {{0}};
    snprintf(path, sizeof path, "%s/synth/synth-qwen3-f16.gguf", dir);
    struct gguf *g = gguf_open(path, &e);
    if (g) fuzz_qwen3_template = gguf_get_str_dup(g, "tokenizer.chat_template");
    gguf_close(g);
    if (!fuzz_qwen3_template) { fprintf(stderr, "fuzz_chat: %s: no chat template %s\n", path, e.msg); fuzz_state = -1; }
    return fuzz_state > 0 ? 0 : -1;
}

/* routes_chat.c's message_text for text-only content: a string, null, or text parts. */
static char *message_text(const cJSON *msg) {
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
    if (!content || cJSON_IsNull(content)) return strdup("");
    if (cJSON_IsString(content)) return strdup(content->valuestring);
    if (!cJSON_IsArray(content)) return NULL;
    size_t n = 0;
    char *s = calloc(1, 1);
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        const cJSON *type = cJSON_IsObject(part) ? cJSON_GetObjectItemCaseSensitive(part, "type") : NULL;
        const cJSON *txt = cJSON_IsObject(part) ? cJSON_GetObjectItemCaseSensitive(part, "text") : NULL;
        if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") || !cJSON_IsString(txt)) { free(s); return NULL; }
        size_t k = strlen(txt->valuestring);
        char *g = s ? realloc(s, n + k + 1) : NULL;
        if (!g) { free(s); return NULL; }
        s = g;
        memcpy(s + n, txt->valuestring, k + 1);
        n += k;
    }
    return s;
}

static void chat_request(const cJSON *j) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    int qwen = cJSON_IsString(model) && strstr(model->valuestring, "qwen");
    omni_model *m = fuzz_models[qwen];
    struct api_options o;
    struct api_bad_field bad = {{0}, {0}};
    if (api_options_parse(j, 1, omni_model_n_vocab(m), &o, &bad)) {
        if (!bad.msg[0] || !bad.param[0]) abort();
        api_options_free(&o);
        return;
    }
    if (o.n_stop > API_MAX_STOP || o.sampling.n_bias > API_MAX_BIAS) abort();
    for (int i = 0; i < o.sampling.n_bias; i++)
        if (o.bias_token[i] < 0 || o.bias_token[i] >= omni_model_n_vocab(m)) abort();
    api_options_free(&o);

    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(j, "messages");
    int n = cJSON_IsArray(msgs) ? cJSON_GetArraySize(msgs) : 0;
    if (n <= 0 || n > 256) return;
    omni_chat_message *cm = calloc((size_t)n, sizeof *cm);
    char **texts = calloc((size_t)n, sizeof *texts);
    int k = 0, ok = cm && texts;
    const cJSON *msg;
    cJSON_ArrayForEach(msg, msgs) {
        if (!ok) break;
        const cJSON *role = cJSON_IsObject(msg) ? cJSON_GetObjectItemCaseSensitive(msg, "role") : NULL;
        static const char *const roles[] = {"system", "developer", "user", "assistant", "tool", NULL};
        int known = 0;
        for (const char *const *r = roles; cJSON_IsString(role) && *r; r++) known |= !strcmp(*r, role->valuestring);
        if (!known || !(texts[k] = message_text(msg))) { ok = 0; break; }
        cm[k].role = !strcmp(role->valuestring, "developer") ? "system" : role->valuestring;
        cm[k].content = texts[k];
        k++;
    }
    if (ok) {
        char err[512] = "";
        char *prompt = NULL;
        if (qwen) {
            struct chat_message *qm = calloc((size_t)k + 1, sizeof *qm);
            struct chat_render_opts ro = {.add_generation_prompt = 1, .bos_token = "", .eos_token = "<|im_end|>"};
            struct err e = {{0}};
            for (int i = 0; qm && i < k; i++) { qm[i].role = cm[i].role; qm[i].content = cm[i].content; }
            if (qm && chat_render(fuzz_qwen3_template, qm, k, &ro, &prompt, &e)) prompt = NULL;
            snprintf(err, sizeof err, "%s", qm ? e.msg : "out of memory");
            free(qm);
        } else {
            prompt = omni_chat_format(m, cm, (size_t)k, 1, err, sizeof err);
        }
        if (!prompt && !err[0]) abort();
        if (prompt) {
            omni_prompt pr;
            char perr[256];
            if (omni_prompt_build(m, prompt, NULL, 0, 1, 1, &pr, perr, sizeof perr) == 0) {
                for (int i = 0; i < pr.n; i++)
                    if (pr.tokens[i] < 0 || pr.tokens[i] >= omni_model_n_vocab(m)) abort();
                omni_prompt_free(&pr);
            }
            free(prompt);
        }
    }
    for (int i = 0; texts && i < k; i++) free(texts[i]);
    free(texts);
    free(cm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (fuzz_setup()) abort(); /* fuzzing without the models would test nothing */
    cJSON *j = cJSON_ParseWithLength((const char *)data, size);
    if (cJSON_IsObject(j)) chat_request(j);
    cJSON_Delete(j);
    return 0;
}
