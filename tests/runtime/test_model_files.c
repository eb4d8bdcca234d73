/* Model files through the public API: omni_file_info_read (what `omni show` and `omni
 * list` print), omni_vocab (tokenizing without weights, as `omni tokenize` does), the
 * catalog's read-only view, and the byte helpers at the API's edge (UTF-8 repair,
 * base64, data: URIs). */
#include "test.h"

#include <stdint.h>

#include "omni.h"
#include "runtime/catalog.h"

TEST(file_info_reads_gguf_and_knows_ggml) {
    char err[512];
    omni_file_info fi;
    REQUIRE(omni_file_info_read(model_path("llm/stories260K.gguf"), &fi, err, sizeof err) == 0, "%s", err);
    CHECK(fi.format == OMNI_FILE_GGUF && fi.version == 3 && fi.file_size > 1000000);
    CHECK_STR(fi.arch, "llama");
    CHECK_STR(fi.tokenizer, "llama");
    CHECK_EQ_INT(fi.n_tokens, 512);
    CHECK_EQ_INT(fi.n_ctx_train, 2048);
    CHECK(fi.n_tensors > 0 && fi.n_params > 200000 && fi.n_params < 400000);
    CHECK(fi.n_types == 1 && !strcmp(fi.types[0].name, "f32") && fi.types[0].bytes == fi.weight_bytes);
    CHECK(fi.weight_bytes == fi.n_params * 4);
    omni_file_info_free(&fi);
    CHECK(fi.arch == NULL && fi.types == NULL);

    REQUIRE(omni_file_info_read(model_path("synth/synth-llama-q4_k_m.gguf"), &fi, err, sizeof err) == 0, "%s", err);
    uint64_t sum = 0;
    for (int i = 0; i < fi.n_types; i++) {
        sum += fi.types[i].bytes;
        CHECK(fi.types[i].bytes > 0);
    }
    CHECK(fi.n_types >= 2 && sum == fi.weight_bytes);
    omni_file_info_free(&fi);

    REQUIRE(omni_file_info_read(model_path("vocab/ggml-vocab-llama-spm.gguf"), &fi, err, sizeof err) == 0, "%s", err);
    CHECK(fi.n_tensors == 0 && fi.n_types == 0 && fi.n_tokens == 32000);
    omni_file_info_free(&fi);

    REQUIRE(omni_file_info_read(model_path("synth/synth-whisper-micro-f16.bin"), &fi, err, sizeof err) == 0, "%s", err);
    CHECK(fi.format == OMNI_FILE_GGML && fi.file_size > 1000000 && fi.arch == NULL);
    omni_file_info_free(&fi);

    CHECK(omni_file_info_read(model_path("audio/jfk.wav"), &fi, err, sizeof err) == -1 && strstr(err, "GGUF"));
    CHECK(omni_file_info_read("/nonexistent/m.gguf", &fi, err, sizeof err) == -1 && strstr(err, "/nonexistent/m.gguf"));
}

TEST(vocab_tokenizes_like_the_model) {
    char err[512];
    omni_vocab *v = omni_vocab_load(model_path("llm/stories260K.gguf"), err, sizeof err);
    omni_model *m = omni_model_load(model_path("llm/stories260K.gguf"), NULL, err, sizeof err);
    REQUIRE(v && m, "%s", err);
    const char *text = "Once upon a time, there was a little girl named Lily.";
    int32_t *a = NULL, b[64];
    int na = omni_vocab_tokenize(v, text, strlen(text), 1, 1, &a, err, sizeof err);
    int nb = omni_tokenize(m, text, strlen(text), 1, 1, b, 64);
    CHECK(na > 5 && na == nb && a && !memcmp(a, b, (size_t)na * sizeof *a));
    free(a);
    omni_model_free(m);
    omni_vocab_free(v);

    /* a vocabulary-only file: the empty text is just BOS */
    v = omni_vocab_load(model_path("vocab/ggml-vocab-llama-spm.gguf"), err, sizeof err);
    REQUIRE(v, "%s", err);
    CHECK(omni_vocab_tokenize(v, "", 0, 1, 1, &a, err, sizeof err) == 1 && a && a[0] == 1);
    free(a);
    CHECK(omni_vocab_tokenize(v, "", 0, 0, 0, &a, err, sizeof err) == 0 && a == NULL);
    omni_vocab_free(v);
    CHECK(omni_vocab_load(model_path("audio/jfk.wav"), err, sizeof err) == NULL && strstr(err, "GGUF"));
}

TEST(catalog_view_matches_the_file) {
    char err[512];
    omni_catalog *c = omni_catalog_load("catalog/models.json", err, sizeof err);
    struct err e = {{0}};
    struct catalog *k = catalog_load("catalog/models.json", &e);
    REQUIRE(c && k, "%s %s", err, e.msg);
    CHECK_EQ_INT(omni_catalog_count(c), k->n);
    for (int i = 0; i < k->n; i++) {
        const omni_catalog_entry *x = omni_catalog_get(c, i);
        REQUIRE(x, "entry %d", i);
        CHECK_STR(x->name, k->e[i].name);
        CHECK_STR(x->file, k->e[i].file);
        CHECK_STR(x->purpose, k->e[i].purpose);
        CHECK(x->size == k->e[i].size);
    }
    CHECK(omni_catalog_get(c, -1) == NULL && omni_catalog_get(c, k->n) == NULL);
    catalog_free(k);
    omni_catalog_free(c);
    CHECK(omni_catalog_load("/nonexistent/c.json", err, sizeof err) == NULL && strstr(err, "/nonexistent/c.json"));
}

TEST(bytes_at_the_edges) {
    char *s = omni_utf8_sanitize("a\xff\xe3\x81", 4);
    CHECK_STR(s, "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    free(s);
    s = omni_utf8_sanitize("한국어 ok", strlen("한국어 ok"));
    CHECK_STR(s, "한국어 ok");
    free(s);
    char err[512];
    uint8_t *out = NULL;
    size_t n = 0;
    CHECK(omni_base64_decode("aGVs\nbG8=", 9, &out, &n, err, sizeof err) == 0 && n == 5 && !memcmp(out, "hello", 5));
    free(out);
    CHECK(omni_base64_decode("aGV*bG8=", 8, &out, &n, err, sizeof err) == -1 && strstr(err, "offset 3"));
    char mime[32];
    CHECK(omni_data_uri_decode("data:Image/PNG;base64,aGk=", mime, sizeof mime, &out, &n, err, sizeof err) == 0);
    CHECK(n == 2 && !memcmp(out, "hi", 2));
    CHECK_STR(mime, "image/png");
    free(out);
    CHECK(omni_data_uri_decode("data:text/plain,hi", mime, sizeof mime, &out, &n, err, sizeof err) == -1 &&
          strstr(err, "base64"));
}

int main(void) {
    TEST_EXPECT(4);
    RUN(file_info_reads_gguf_and_knows_ggml);
    RUN(vocab_tokenizes_like_the_model);
    RUN(catalog_view_matches_the_file);
    RUN(bytes_at_the_edges);
    return test_summary();
}
