/* The catalog file and the model resolver: the repo's catalog parses and has the models
 * the issue asks for; store_resolve maps paths, store names and catalog names to files. */
#include <stdlib.h>
#include <sys/stat.h>

#include "test.h"
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
    CHECK_STR(store_dir(buf, sizeof buf), home);
    /* a path resolves to itself */
    CHECK_STR(store_resolve("catalog/models.json", buf, sizeof buf, &e), "catalog/models.json");
    /* a catalog name not yet pulled says how to pull it */
    CHECK(store_resolve("tiny-chat", buf, sizeof buf, &e) == NULL && strstr(e.msg, "omni pull tiny-chat"));
    CHECK(store_resolve("nothing-like-it", buf, sizeof buf, &e) == NULL && strstr(e.msg, "not a file"));
    CHECK(store_resolve("", buf, sizeof buf, &e) == NULL);
    /* once in the store: by catalog name, by file name, by name without extension */
    snprintf(path, sizeof path, "%s/Tiny-Q8_0.gguf", home);
    FILE *f = fopen(path, "w");
    if (f) fclose(f);
    CHECK_STR(store_resolve("tiny-chat", buf, sizeof buf, &e), path);
    CHECK_STR(store_resolve("Tiny-Q8_0", buf, sizeof buf, &e), path);
    CHECK_STR(store_resolve("Tiny-Q8_0.gguf", buf, sizeof buf, &e), path);
    char hex[65];
    CHECK(store_file_digest(path, "sha256", hex, &e) == 0);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"); /* sha256 of "" */
    CHECK(store_rm("tiny-chat", buf, sizeof buf, &e) == 0 && access(path, F_OK) != 0);
    CHECK(store_rm("tiny-chat", buf, sizeof buf, &e) == -1);
    CHECK(store_rm("../x", buf, sizeof buf, &e) == -1);
    rmdir(home);
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
