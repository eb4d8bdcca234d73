/* Replays a fuzz target's committed corpus, tests/fuzz/corpus/<name>/, through the
 * target's own entry function in a normal test program (no libFuzzer): `make test`
 * runs every input, and `make check-asan` runs them under ASan and UBSan. A target
 * signals a broken invariant by aborting, which fails the program.
 *
 *   #include "fuzz_jinja.c"     (defines fuzz_setup and LLVMFuzzerTestOneInput)
 *   #include "replay.h"
 *   TEST(replays_corpus) { replay_corpus("jinja", 10); }
 *
 * fuzz_setup() returns 0, or -1 when its test assets (../shared models, which ../shared
 * always ships) are missing or do not load: that fails the case. */
#ifndef OMNI_TESTS_FUZZ_REPLAY_H
#define OMNI_TESTS_FUZZ_REPLAY_H
#include <dirent.h>
#include <stdint.h>

#include "test.h"

static int replay_name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Runs every file of the corpus (in name order, so failures reproduce); needs at least min_files. */
static void replay_corpus(const char *name, int min_files) {
    if (fuzz_setup()) { CHECK_MSG(0, "fuzz target %s: its test assets (../shared) are missing or do not load", name); return; }
    char dir[256];
    snprintf(dir, sizeof dir, "tests/fuzz/corpus/%s", name);
    DIR *d = opendir(dir);
    if (!d) { CHECK_MSG(0, "cannot open %s", dir); return; }
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, sizeof *names * (size_t)cap);
            if (!nn) break;
            names = nn;
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, replay_name_cmp);
    int ran = 0;
    for (int i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        size_t len = 0;
        char *data = read_file(path, &len);
        CHECK_MSG(data != NULL, "cannot read %s", path);
        if (data) {
            /* an exact-size copy, so ASan sees a read past the input's end */
            uint8_t *copy = malloc(len ? len : 1);
            if (len) memcpy(copy, data, len);
            LLVMFuzzerTestOneInput(copy, len);
            free(copy);
            ran++;
        }
        free(data);
        free(names[i]);
    }
    free(names);
    CHECK_MSG(ran >= min_files, "%s: %d corpus files, expected at least %d", dir, ran, min_files);
}

#endif
