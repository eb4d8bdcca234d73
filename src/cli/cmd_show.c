/* `omni show NAME|PATH`: what a model file is, from its GGUF metadata: architecture,
 * parameter count, quantization, context length, chat template, license. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "omni.h"

static void show_str(const char *label, const char *s) {
    if (s) printf("%-16s %.4096s\n", label, s);
}

int cmd_show(int argc, char **argv) {
    if (argc != 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("usage: omni show NAME|PATH\n\nPrints what a model is: architecture, parameters, quantization,\n"
               "context length, license and chat template, read from the file's GGUF metadata.\n"
               "NAME may be a model in the store (`omni list`), a catalog name or a file path.\n");
        return argc == 2 ? 0 : 1;
    }
    char path[4096], err[512];
    if (!omni_store_resolve(argv[1], path, sizeof path, err, sizeof err)) return cli_fail("show: %s", err);
    omni_file_info fi;
    if (omni_file_info_read(path, &fi, err, sizeof err)) return cli_fail("show: %s", err);
    if (fi.format == OMNI_FILE_GGML) {
        printf("%-16s %s\n%-16s whisper.cpp ggml (speech model or VAD)\n", "path", path, "format");
        omni_file_info_free(&fi);
        return 0;
    }
    printf("%-16s %s\n", "path", path);
    printf("%-16s GGUF v%u, %.1f MB\n", "format", fi.version, (double)fi.file_size / 1e6);
    show_str("name", fi.name);
    if (fi.arch) printf("%-16s %s\n", "architecture", fi.arch);
    if (fi.n_params >= 1000000000) printf("%-16s %.2fB\n", "parameters", (double)fi.n_params / 1e9);
    else printf("%-16s %.1fM\n", "parameters", (double)fi.n_params / 1e6);
    if (fi.n_tensors) {
        printf("%-16s", "quantization");
        for (int i = 0; i < fi.n_types; i++)
            printf(" %s %.1f%%", fi.types[i].name, 100.0 * (double)fi.types[i].bytes / (double)fi.weight_bytes);
        printf("  (share of weight bytes)\n");
    } else {
        printf("%-16s none (vocabulary-only file)\n", "tensors");
    }
    if (fi.n_ctx_train) printf("%-16s %lld\n", "context length", (long long)fi.n_ctx_train);
    show_str("license", fi.license);
    if (fi.tokenizer) printf("%-16s %s, %llu tokens\n", "tokenizer", fi.tokenizer, (unsigned long long)fi.n_tokens);
    show_str("chat template", fi.chat_template);
    omni_file_info_free(&fi);
    return 0;
}
