/* `omni list`: the models in the store with their size and type. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "core/dtype.h"
#include "formats/gguf.h"
#include "runtime/store.h"

/* A short type label: "gguf llama q8_0" for GGUF files, "ggml" for whisper.cpp files. */
static void describe(const char *path, char *buf, size_t cap) {
    struct err e;
    struct gguf *g = gguf_open(path, &e);
    if (!g) {
        FILE *f = fopen(path, "rb");
        unsigned char m[4] = {0};
        if (f) { if (fread(m, 1, 4, f) != 4) m[0] = 0; fclose(f); }
        snprintf(buf, cap, "%s", !memcmp(m, "lmgg", 4) ? "ggml (whisper.cpp)" : "unknown");
        return;
    }
    char *arch = gguf_get_str_dup(g, "general.architecture");
    int64_t counts[DT_COUNT] = {0}, best = 0;
    int best_t = -1;
    struct tensor t;
    for (int64_t i = 0; i < gguf_n_tensors(g); i++)
        if (!gguf_tensor(g, i, &t) && t.type >= 0 && t.type < DT_COUNT) counts[t.type] += (int64_t)t.nbytes;
    for (int i = 0; i < DT_COUNT; i++) if (counts[i] > best) best = counts[i], best_t = i;
    snprintf(buf, cap, "gguf %s %s", arch ? arch : "?", best_t >= 0 ? dtype_name(best_t) : "vocab-only");
    free(arch);
    gguf_close(g);
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
    if (!store_dir(dir, sizeof dir)) return cli_fail("list: store path too long");
    DIR *d = opendir(dir);
    if (!d) { printf("no models yet in %s (get one with `omni pull`)\n", dir); return 0; }
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort);
    closedir(d);
    printf("%-44s %10s  %-24s %s\n", "NAME", "SIZE", "TYPE", "PATH");
    int shown = 0;
    for (int i = 0; i < n; i++) {
        const char *nm = names[i]->d_name;
        char path[8192], type[96];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, nm);
        if (nm[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            size_t l = strlen(nm);
            int partial = l > 5 && !strcmp(nm + l - 5, ".part");
            if (partial) snprintf(type, sizeof type, "partial download");
            else describe(path, type, sizeof type);
            char name[256];
            snprintf(name, sizeof name, "%s", nm);
            char *dot = strrchr(name, '.');
            if (!partial && dot && (!strcmp(dot, ".gguf") || !strcmp(dot, ".bin"))) *dot = 0;
            printf("%-44s %8.1f MB  %-24s %s\n", name, (double)st.st_size / 1e6, type, path);
            shown++;
        }
        free(names[i]);
    }
    free(names);
    if (!shown) printf("(empty; get a model with `omni pull`)\n");
    return 0;
}
