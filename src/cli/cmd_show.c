/* `omni show NAME|PATH`: what a model file is, from its GGUF metadata: architecture,
 * parameter count, quantization, context length, chat template, license. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/dtype.h"
#include "formats/gguf.h"
#include "runtime/store.h"

static void show_str(const struct gguf *g, const char *label, const char *key) {
    struct gguf_str s = gguf_get_str(g, key);
    if (s.s) printf("%-16s %.*s\n", label, (int)(s.len > 4096 ? 4096 : s.len), s.s);
}

int cmd_show(int argc, char **argv) {
    if (argc != 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("usage: omni show NAME|PATH\n\nPrints what a model is: architecture, parameters, quantization,\n"
               "context length, license and chat template, read from the file's GGUF metadata.\n"
               "NAME may be a model in the store (`omni list`), a catalog name or a file path.\n");
        return argc == 2 ? 0 : 1;
    }
    char path[4096];
    struct err e = {{0}};
    if (!store_resolve(argv[1], path, sizeof path, &e)) return cli_fail("show: %s", e.msg);
    struct gguf *g = gguf_open(path, &e);
    if (!g) {
        FILE *f = fopen(path, "rb");
        unsigned char m[4] = {0};
        if (f) { if (fread(m, 1, 4, f) != 4) m[0] = 0; fclose(f); }
        if (!memcmp(m, "lmgg", 4)) {
            printf("%-16s %s\n%-16s whisper.cpp ggml (speech model or VAD)\n", "path", path, "format");
            return 0;
        }
        return cli_fail("show: %s", e.msg);
    }
    char key[256];
    struct gguf_str arch = gguf_get_str(g, "general.architecture");
    printf("%-16s %s\n", "path", path);
    printf("%-16s GGUF v%u, %.1f MB\n", "format", gguf_version(g), (double)gguf_file_size(g) / 1e6);
    show_str(g, "name", "general.name");
    if (arch.s) printf("%-16s %.*s\n", "architecture", (int)arch.len, arch.s);
    int64_t params = 0, bytes[DT_COUNT] = {0}, total = 0;
    struct tensor t;
    for (int64_t i = 0; i < gguf_n_tensors(g); i++)
        if (!gguf_tensor(g, i, &t)) {
            params += tensor_nelements(&t);
            if (t.type >= 0 && t.type < DT_COUNT) bytes[t.type] += (int64_t)t.nbytes;
            total += (int64_t)t.nbytes;
        }
    if (params >= 1000000000) printf("%-16s %.2fB\n", "parameters", (double)params / 1e9);
    else printf("%-16s %.1fM\n", "parameters", (double)params / 1e6);
    if (gguf_n_tensors(g)) {
        printf("%-16s", "quantization");
        for (int i = 0; i < DT_COUNT; i++)
            if (bytes[i]) printf(" %s %.1f%%", dtype_name(i), 100.0 * (double)bytes[i] / (double)total);
        printf("  (share of weight bytes)\n");
    } else {
        printf("%-16s none (vocabulary-only file)\n", "tensors");
    }
    if (arch.s && arch.len < 100) {
        snprintf(key, sizeof key, "%.*s.context_length", (int)arch.len, arch.s);
        int64_t ctx = gguf_get_int(g, key, 0, NULL);
        if (ctx) printf("%-16s %lld\n", "context length", (long long)ctx);
    }
    show_str(g, "license", "general.license");
    struct gguf_str tm = gguf_get_str(g, "tokenizer.ggml.model");
    if (tm.s) {
        uint64_t n = 0;
        gguf_get_arr(g, "tokenizer.ggml.tokens", NULL, &n);
        printf("%-16s %.*s, %llu tokens\n", "tokenizer", (int)tm.len, tm.s, (unsigned long long)n);
    }
    show_str(g, "chat template", "tokenizer.chat_template");
    gguf_close(g);
    return 0;
}
