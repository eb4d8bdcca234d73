/* omni_file_info_read: what a model file is, for `omni show` and `omni list`, from a
 * GGUF's header and metadata (formats/gguf; tensors are listed, never read) or, for
 * whisper.cpp's ggml files, from the magic alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/dtype.h"
#include "formats/gguf.h"
#include "omni.h"

static int is_ggml(const char *path) {
    FILE *f = fopen(path, "rb");
    unsigned char m[4] = {0};
    if (f) {
        if (fread(m, 1, 4, f) != 4) m[0] = 0;
        fclose(f);
    }
    return !memcmp(m, "lmgg", 4);
}

int omni_file_info_read(const char *path, omni_file_info *info, char *err, size_t err_size) {
    memset(info, 0, sizeof *info);
    struct err e = {{0}};
    struct gguf *g = gguf_open(path, &e);
    if (!g) {
        if (!is_ggml(path)) return err_copy(&e, err, err_size);
        struct stat st;
        info->format = OMNI_FILE_GGML;
        info->file_size = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
        return 0;
    }
    info->format = OMNI_FILE_GGUF;
    info->version = gguf_version(g);
    info->file_size = gguf_file_size(g);
    info->name = gguf_get_str_dup(g, "general.name");
    info->arch = gguf_get_str_dup(g, "general.architecture");
    info->license = gguf_get_str_dup(g, "general.license");
    info->chat_template = gguf_get_str_dup(g, "tokenizer.chat_template");
    info->tokenizer = gguf_get_str_dup(g, "tokenizer.ggml.model");
    uint64_t n_tok = 0;
    if (info->tokenizer) gguf_get_arr(g, "tokenizer.ggml.tokens", NULL, &n_tok);
    info->n_tokens = n_tok;
    if (info->arch && strlen(info->arch) < 100) {
        char key[256];
        snprintf(key, sizeof key, "%s.context_length", info->arch);
        info->n_ctx_train = gguf_get_int(g, key, 0, NULL);
    }
    uint64_t bytes[DT_COUNT] = {0};
    struct tensor t;
    info->n_tensors = gguf_n_tensors(g);
    for (int64_t i = 0; i < info->n_tensors; i++)
        if (!gguf_tensor(g, i, &t)) {
            info->n_params += (uint64_t)tensor_nelements(&t);
            if (t.type >= 0 && t.type < DT_COUNT) bytes[t.type] += t.nbytes;
            info->weight_bytes += t.nbytes;
        }
    gguf_close(g);
    int n_types = 0;
    for (int i = 0; i < DT_COUNT; i++) n_types += bytes[i] > 0;
    if (n_types && !(info->types = malloc((size_t)n_types * sizeof *info->types))) {
        omni_file_info_free(info);
        err_set(&e, "out of memory");
        return err_copy(&e, err, err_size);
    }
    for (int i = 0; i < DT_COUNT; i++)
        if (bytes[i]) info->types[info->n_types++] = (omni_weight_type){dtype_name(i), bytes[i]};
    return 0;
}

void omni_file_info_free(omni_file_info *info) {
    if (!info) return;
    free(info->name);
    free(info->arch);
    free(info->license);
    free(info->chat_template);
    free(info->tokenizer);
    free(info->types);
    memset(info, 0, sizeof *info);
}
