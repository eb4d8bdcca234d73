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

/* The current families of issue 14, each a GGUF from a well-known hub repository with a
 * license, a size to show and a line on what it is good at; no checksum is made up (they
 * stay empty until taken from the hub). */
TEST(repo_catalog_has_current_families) {
    struct err e = {{0}};
    struct catalog *c = catalog_load("catalog/models.json", &e);
    REQUIRE(c, "%s", e.msg);
    const char *need[][3] = {
        {"qwen3-0.6b-q4_k_m", "chat", "Qwen3-0.6B-Q4_K_M.gguf"},  {"qwen3-1.7b-q4_k_m", "chat", "Qwen3-1.7B-Q4_K_M.gguf"},
        {"qwen3-4b-q4_k_m", "chat", "Qwen3-4B-Q4_K_M.gguf"},      {"qwen3.5-0.8b-q4_k_m", "chat", "Qwen3.5-0.8B-Q4_K_M.gguf"},
        {"qwen3.5-2b-q4_k_m", "chat", "Qwen3.5-2B-Q4_K_M.gguf"},  {"qwen3.5-4b-q4_k_m", "chat", "Qwen3.5-4B-Q4_K_M.gguf"},
        {"gemma-3-270m-it-q8_0", "chat", "gemma-3-270m-it-Q8_0.gguf"},
        {"gemma-3-1b-it-q4_k_m", "chat", "gemma-3-1b-it-Q4_K_M.gguf"},
        {"gemma-3-4b-it-q4_k_m", "chat", "gemma-3-4b-it-Q4_K_M.gguf"},
        {"exaone-4.0-1.2b-q4_k_m", "chat", "EXAONE-4.0-1.2B-Q4_K_M.gguf"},
        {"smollm3-3b-q4_k_m", "chat", "SmolLM3-3B-Q4_K_M.gguf"},
        {"phi-4-mini-instruct-q4_k_m", "chat", "Phi-4-mini-instruct-Q4_K_M.gguf"},
        {"gpt-oss-20b-mxfp4", "chat", "gpt-oss-20b-mxfp4.gguf"},
        {"qwen3-30b-a3b-q4_k_m", "chat", "Qwen3-30B-A3B-Q4_K_M.gguf"},
        {"qwen3-embedding-0.6b-q8_0", "embedding", "Qwen3-Embedding-0.6B-Q8_0.gguf"},
        {"bge-m3-q8_0", "embedding", "bge-m3-Q8_0.gguf"},
        {"bge-reranker-v2-m3-q8_0", "rerank", "bge-reranker-v2-m3-Q8_0.gguf"}};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        const struct catalog_entry *x = catalog_find(c, need[i][0]);
        if (!x) { CHECK_MSG(0, "missing %s", need[i][0]); continue; }
        CHECK_MSG(!strcmp(x->purpose, need[i][1]), "%s: purpose %s", x->name, x->purpose);
        CHECK_MSG(!strcmp(x->file, need[i][2]), "%s: file %s", x->name, x->file);
        CHECK_MSG(!strcmp(x->format, "gguf"), "%s: format %s", x->name, x->format);
        CHECK_MSG(strchr(x->repo, '/') && strstr(x->repo, "GGUF"), "%s: repo %s", x->name, x->repo);
        CHECK_MSG(x->license[0] && strlen(x->description) > 30 && x->languages[0], "%s: license/description", x->name);
        CHECK_MSG(x->size || x->approx_size > 100000000ull, "%s: no size to show", x->name);
        CHECK_MSG(!x->sha256[0] || strlen(x->sha256) == 64, "%s: sha256", x->name);
    }
    /* Korean is named for the models that speak it well, the default among them */
    const struct catalog_entry *d = catalog_find(c, "qwen3-1.7b-q4_k_m"), *x = catalog_find(c, "exaone-4.0-1.2b-q4_k_m");
    CHECK(d && strstr(d->languages, "ko") && strstr(d->description, "Korean"));
    CHECK(x && strstr(x->languages, "ko"));
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
    /* approx_size is optional and only for display; a wrong type reads as none */
    p = write_tmp("c5.json", "{\"models\": [{\"name\": \"a\", \"repo\": \"r\", \"file\": \"f\", \"approx_size\": 1.5e9},"
                             " {\"name\": \"b\", \"repo\": \"r\", \"file\": \"g\", \"approx_size\": \"big\", \"size\": 7}]}");
    struct catalog *c = catalog_load(p, &e);
    CHECK_MSG(c, "%s", e.msg);
    if (c) {
        CHECK(c->e[0].approx_size == 1500000000ull && c->e[0].size == 0);
        CHECK(c->e[1].approx_size == 0 && c->e[1].size == 7);
        catalog_free(c);
    }
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
    TEST_EXPECT(4);
    RUN(repo_catalog_is_complete);
    RUN(repo_catalog_has_current_families);
    RUN(bad_catalogs_are_reported);
    RUN(resolve_paths_store_and_catalog_names);
    return test_summary();
}
