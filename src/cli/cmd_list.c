/* `omni list`: the models in the store with their size and type. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "omni.h"

/* A short type label: "gguf llama q8_0" for GGUF files (the type holding the most
 * weight bytes), "ggml (whisper.cpp)" for whisper.cpp files. */
static void describe(const char *path, char *buf, size_t cap) {
    omni_file_info fi;
    if (omni_file_info_read(path, &fi, NULL, 0)) { snprintf(buf, cap, "unknown"); return; }
    if (fi.format == OMNI_FILE_GGML) {
        snprintf(buf, cap, "ggml (whisper.cpp)");
    } else {
        const omni_weight_type *best = NULL;
        for (int i = 0; i < fi.n_types; i++)
            if (!best || fi.types[i].bytes > best->bytes) best = &fi.types[i];
        snprintf(buf, cap, "gguf %s %s", fi.arch ? fi.arch : "?", best ? best->name : "vocab-only");
    }
    omni_file_info_free(&fi);
}

int cmd_list(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: omni list\n\nShows the models in the model store ($OMNI_HOME, default\n"
                   "~/.local/share/omni/models): name, size, type and path. Unfinished downloads\n"
                   "(.part files) are shown as 'partial'. Get models with `omni pull`.\n");
            return 0;
        }
        return cli_fail("list: unexpected argument '%s'", argv[i]);
    }
    char dir[4096];
    if (!omni_store_dir(dir, sizeof dir)) return cli_fail("list: store path too long");
    omni_store_entry *m = NULL;
    int n = omni_store_list(&m, NULL, 0);
    if (n < 0) { printf("no models yet in %s (get one with `omni pull`)\n", dir); return 0; }
    printf("%-44s %10s  %-24s %s\n", "NAME", "SIZE", "TYPE", "PATH");
    for (int i = 0; i < n; i++) {
        char type[96];
        if (m[i].partial) snprintf(type, sizeof type, "partial download");
        else describe(m[i].path, type, sizeof type);
        printf("%-44s %8.1f MB  %-24s %s\n", m[i].name, (double)m[i].size / 1e6, type, m[i].path);
    }
    omni_store_list_free(m, n);
    if (!n) printf("(empty; get a model with `omni pull`)\n");
    return 0;
}
