/* The catalog file and the model resolver: the repo's catalog parses and has the models
 * the issue asks for; omni_store_resolve maps paths, store names and catalog names to files. */
#include <stdlib.h>
#include <sys/stat.h>

#include "test.h"
#include "omni.h"
#include "runtime/catalog.h"
#include "runtime/store.h"

TEST(repo_catalog_is_complete) {
    struct err e = {{0}};
    struct catalog *c = catalog_load("catalog/models.json", &e);
    CHECK_MSG(c, "%s", e.msg);
    if (!c) return;
    const char *need[] = {"smollm2-135m-instruct-q4_k_m", "smollm2-360m-instruct-q8_0", "smollm2-1.7b-instruct-q8_0",
                          "qwen2.5-0.5b-instruct-q4_k_m", "qwen2.5-3b-instruct-q8_0", "llama-3.2-1b-instruct-q4_k_m",
                          "llama-3.2-3b-instruct-q8_0", "whisper-tiny", "whisper-base", "whisper-small",
                          "silero-vad-v6.2.0"};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) CHECK_MSG(catalog_find(c, need[i]), "missing %s", need[i]);
    const struct catalog_entry *w = catalog_find(c, "WHISPER-BASE");
    CHECK(w && !strcmp(w->purpose, "speech-in") && strlen(w->sha1) == 40);
    char url[512];
    unsetenv("OMNI_HUB_URL");
    CHECK(catalog_url(c, w, url, sizeof url) == 0);
    CHECK_STR(url, "https://huggingface.co/ggerganov/whisper.cpp/resolve/main/ggml-base.bin");
    setenv("OMNI_HUB_URL", "http://127.0.0.1:9/", 1);
    catalog_url(c, w, url, sizeof url);
    CHECK_STR(url, "http://127.0.0.1:9/ggerganov/whisper.cpp/resolve/main/ggml-base.bin");
    unsetenv("OMNI_HUB_URL");
    CHECK(catalog_url(c, w, url, 10) == -1);
    catalog_free(c);
}

static const char *write_tmp(const char *name, const char *text) {
    static char p[4][256]; static int i;
    char *b = p[i++ & 3];
    snprintf(b, 256, "/tmp/omni-test-store-%d-%s", (int)getpid(), name);
    FILE *f = fopen(b, "w");
    if (f) { fputs(text, f); fclose(f); }
    return b;
}

TEST(bad_catalogs_are_reported) {
    struct err e = {{0}};
    const char *p = write_tmp("c1.json", "{\"models\": [{\"name\": \"a\", \"repo\": \"r\", \"file\": \"f\", \"sha256\": \"XYZ\"}]}");
    CHECK(catalog_load(p, &e) == NULL && strstr(e.msg, "'a'") && strstr(e.msg, "hex"));
    p = write_tmp("c2.json", "{\"models\": [{\"name\": \"a\", \"repo\": \"r\", \"file\": \"f\"}, {\"name\": \"A\", \"repo\": \"r\", \"file\": \"g\"}]}");
    CHECK(catalog_load(p, &e) == NULL && strstr(e.msg, "twice"));
    p = write_tmp("c3.json", "[1, 2");
    CHECK(catalog_load(p, &e) == NULL && strstr(e.msg, "not a catalog"));
    p = write_tmp("c4.json", "{\"models\": [{\"name\": \"a\", \"repo\": \"r\", \"file\": \"../f\"}]}");
    CHECK(catalog_load(p, &e) == NULL && strstr(e.msg, "plain file name"));
    CHECK(catalog_load("/nonexistent/c.json", &e) == NULL && strstr(e.msg, "/nonexistent/c.json"));
}

TEST(resolve_paths_store_and_catalog_names) {
    char home[256], buf[1024], path[512];
    struct err e = {{0}};
    snprintf(home, sizeof home, "/tmp/omni-test-store-%d-home", (int)getpid());
    mkdir(home, 0755);
    setenv("OMNI_HOME", home, 1);
    const char *cat = write_tmp("cat.json", "{\"models\": [{\"name\": \"tiny-chat\", \"repo\": \"r/x\", \"file\": \"Tiny-Q8_0.gguf\"}]}");
    setenv("OMNI_CATALOG", cat, 1);
    CHECK_STR(omni_store_dir(buf, sizeof buf), home);
    /* a path resolves to itself */
    CHECK_STR(omni_store_resolve("catalog/models.json", buf, sizeof buf, e.msg, sizeof e.msg), "catalog/models.json");
    /* a catalog name not yet pulled says how to pull it */
    CHECK(omni_store_resolve("tiny-chat", buf, sizeof buf, e.msg, sizeof e.msg) == NULL && strstr(e.msg, "omni pull tiny-chat"));
    CHECK(omni_store_resolve("nothing-like-it", buf, sizeof buf, e.msg, sizeof e.msg) == NULL && strstr(e.msg, "not a file"));
    CHECK(omni_store_resolve("", buf, sizeof buf, e.msg, sizeof e.msg) == NULL);
    /* once in the store: by catalog name, by file name, by name without extension */
    snprintf(path, sizeof path, "%s/Tiny-Q8_0.gguf", home);
    FILE *f = fopen(path, "w");
    if (f) fclose(f);
    CHECK_STR(omni_store_resolve("tiny-chat", buf, sizeof buf, e.msg, sizeof e.msg), path);
    CHECK_STR(omni_store_resolve("Tiny-Q8_0", buf, sizeof buf, e.msg, sizeof e.msg), path);
    CHECK_STR(omni_store_resolve("Tiny-Q8_0.gguf", buf, sizeof buf, e.msg, sizeof e.msg), path);
    /* the listing: names as -m takes them, a partial download by its whole name, no hidden files */
    char part[600], hidden[600];
    snprintf(part, sizeof part, "%s/Other.gguf.part", home);
    snprintf(hidden, sizeof hidden, "%s/.lock", home);
    if ((f = fopen(part, "w"))) { fputs("x", f); fclose(f); }
    if ((f = fopen(hidden, "w"))) fclose(f);
    omni_store_entry *ls = NULL;
    int n = omni_store_list(&ls, e.msg, sizeof e.msg);
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        CHECK_STR(ls[0].name, "Other.gguf.part");
        CHECK(ls[0].partial && ls[0].size == 1);
        CHECK_STR(ls[1].name, "Tiny-Q8_0");
        CHECK_STR(ls[1].path, path);
        CHECK(!ls[1].partial && ls[1].size == 0);
    }
    omni_store_list_free(ls, n);
    unlink(part);
    unlink(hidden);
    char hex[65];
    CHECK(store_file_digest(path, "sha256", hex, &e) == 0);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"); /* sha256 of "" */
    CHECK(omni_store_rm("tiny-chat", buf, sizeof buf, e.msg, sizeof e.msg) == 0 && access(path, F_OK) != 0);
    CHECK(omni_store_rm("tiny-chat", buf, sizeof buf, e.msg, sizeof e.msg) == -1);
    CHECK(omni_store_rm("../x", buf, sizeof buf, e.msg, sizeof e.msg) == -1);
    rmdir(home);
    omni_store_entry *none = NULL;
    CHECK(omni_store_list(&none, e.msg, sizeof e.msg) == -1 && none == NULL && strstr(e.msg, home));
    unsetenv("OMNI_HOME");
    unsetenv("OMNI_CATALOG");
}

int main(void) {
    TEST_EXPECT(3);
    RUN(repo_catalog_is_complete);
    RUN(bad_catalogs_are_reported);
    RUN(resolve_paths_store_and_catalog_names);
    return test_summary();
}
