/* Replays the committed fuzz seed corpus (tests/fuzz/corpus/gguf/) through the GGUF
 * reader, so every test run exercises it without clang: the valid seeds must open
 * and the truncated ones ("trunc" in the name) must fail with a message. */
#include <dirent.h>

#include "test.h"
#include "formats/gguf.h"

TEST(replays_seed_corpus) {
    const char *dir = "tests/fuzz/corpus/gguf";
    DIR *d = opendir(dir);
    if (!d) { CHECK_MSG(0, "cannot open %s", dir); return; }
    struct dirent *de;
    int n = 0, valid = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        size_t len = 0;
        char *data = read_file(path, &len);
        if (!data) continue;
        n++;
        struct err e = {{0}};
        struct gguf *g = gguf_open_memory(data, len, &e);
        int want_ok = !strstr(de->d_name, "trunc");
        CHECK_MSG(!g == !want_ok, "%s: %s", de->d_name, g ? "opened" : e.msg);
        if (!g) CHECK_MSG(e.msg[0], "%s: failed without a message", de->d_name);
        if (g) {
            valid++;
            for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
                struct tensor t;
                CHECK(gguf_tensor(g, i, &t) == 0);
                CHECK((const char *)t.data + t.nbytes <= data + len);
            }
        }
        gguf_close(g);
        free(data);
    }
    closedir(d);
    CHECK_MSG(n >= 5 && valid >= 2, "%d files, %d valid", n, valid);
}

int main(void) {
    TEST_EXPECT(1);
    RUN(replays_seed_corpus);
    return test_summary();
}
