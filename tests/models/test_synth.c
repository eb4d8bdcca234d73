/* omni synth: the files it writes have the promised shapes, metadata, vocabulary
 * and llama.cpp's weight-type mix, and they read back through our GGUF reader. */
#include "test.h"
#include "core/dtype.h"
#include "formats/gguf.h"
#include "models/synth.h"

static struct gguf *make(const char *shape, const char *type, const char *path) {
    struct synth_params p = {synth_find_shape(shape), type, 7, 2, NULL, NULL};
    struct err e = {{0}};
    if (synth_write(&p, path, &e)) { fprintf(stderr, "  synth: %s\n", e.msg); return NULL; }
    struct gguf *g = gguf_open(path, &e);
    if (!g) fprintf(stderr, "  open: %s\n", e.msg);
    return g;
}

static int tensor_type(const struct gguf *g, const char *name) {
    struct tensor t;
    int64_t i = gguf_find_tensor(g, name);
    return i < 0 || gguf_tensor(g, i, &t) ? -1 : t.type;
}

TEST(llama_shape_metadata_and_tensors) {
    struct gguf *g = make("tiny-llama", "f16", "/tmp/omni-test-synth-llama.gguf");
    CHECK(g != NULL);
    if (!g) return;
    CHECK(gguf_get_str(g, "general.architecture").len == 5);
    CHECK_EQ_INT(gguf_get_int(g, "llama.embedding_length", 0, NULL), 64);
    CHECK_EQ_INT(gguf_get_int(g, "llama.block_count", 0, NULL), 2);
    CHECK_EQ_INT(gguf_get_int(g, "llama.attention.head_count_kv", 0, NULL), 2);
    enum gguf_type et; uint64_t n = 0;
    CHECK(gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n) == 0 && et == GGUF_STRING && n == 1280);
    CHECK(gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n) == 0 && n == 26 * 27);
    /* untied shape: separate output matrix; 2 layers x 9 tensors + embd + norm + output */
    CHECK_EQ_INT(gguf_n_tensors(g), 2 * 9 + 3);
    struct tensor t;
    CHECK(gguf_get_tensor(g, "blk.1.ffn_down.weight", 2, (int64_t[]){256, 64}, &t, NULL) == 0);
    CHECK_EQ_INT(t.type, DT_F16);
    CHECK_EQ_INT(tensor_type(g, "blk.0.attn_norm.weight"), DT_F32);
    gguf_close(g);
}

TEST(q4_k_m_uses_llama_cpp_mix) {
    /* tiny-llama3: n_embd 128 is not a multiple of 256, so K-quants fall back the way
     * llama.cpp does (q4_K -> q5_0, q6_K -> q8_0); ffn_down rows (256) keep K-quants. */
    struct gguf *g = make("tiny-llama3", "q4_k_m", "/tmp/omni-test-synth-llama3.gguf");
    CHECK(g != NULL);
    if (!g) return;
    CHECK_EQ_INT(tensor_type(g, "blk.0.attn_q.weight"), DT_Q5_0);
    CHECK_EQ_INT(tensor_type(g, "token_embd.weight"), DT_Q8_0);    /* tied: output-like, q6_K fallback */
    /* with 2 layers, llama.cpp's use_more_bits picks the last one for q6_K */
    CHECK_EQ_INT(tensor_type(g, "blk.0.ffn_down.weight"), DT_Q4_K);
    CHECK_EQ_INT(tensor_type(g, "blk.1.ffn_down.weight"), DT_Q6_K);
    CHECK_EQ_INT(tensor_type(g, "rope_freqs.weight"), DT_F32);
    CHECK(gguf_find_tensor(g, "output.weight") < 0);
    struct tensor t;
    CHECK(gguf_get_tensor(g, "rope_freqs.weight", 1, (int64_t[]){16}, &t, NULL) == 0);
    if (t.data) {
        const float *f = t.data;
        CHECK_NEAR(f[0], 1.0, 1e-6);    /* high frequencies are not scaled */
        CHECK_NEAR(f[15], 32.0, 1e-6);  /* the lowest ones by the full factor */
    }
    gguf_close(g);
}

TEST(iq4_xs_with_iq4_nl_fallback) {
    /* tiny-llama3 again: 128-element rows cannot hold IQ4_XS's 256-blocks and take IQ4_NL
     * (llama.cpp's fallback), ffn_down's 256 keep IQ4_XS, the tied output q6_K -> q8_0 */
    struct gguf *g = make("tiny-llama3", "iq4_xs", "/tmp/omni-test-synth-llama3-iq4.gguf");
    CHECK(g != NULL);
    if (!g) return;
    CHECK_EQ_INT(tensor_type(g, "blk.0.attn_q.weight"), DT_IQ4_NL);
    CHECK_EQ_INT(tensor_type(g, "blk.1.ffn_down.weight"), DT_IQ4_XS);
    CHECK_EQ_INT(tensor_type(g, "token_embd.weight"), DT_Q8_0);
    CHECK_EQ_INT(gguf_get_int(g, "general.file_type", 0, NULL), 30);
    gguf_close(g);
    unlink("/tmp/omni-test-synth-llama3-iq4.gguf");
}

TEST(qwen2_has_biases_and_same_seed_same_file) {
    struct gguf *g = make("tiny-qwen2", "q8_0", "/tmp/omni-test-synth-qwen-a.gguf");
    struct gguf *h = make("tiny-qwen2", "q8_0", "/tmp/omni-test-synth-qwen-b.gguf");
    CHECK(g && h);
    if (!g || !h) { gguf_close(g); gguf_close(h); return; }
    CHECK(gguf_find_tensor(g, "blk.1.attn_k.bias") >= 0);
    CHECK_EQ_INT(tensor_type(g, "blk.1.attn_k.weight"), DT_Q8_0);
    struct tensor a, b;
    CHECK(gguf_tensor(g, gguf_find_tensor(g, "blk.1.ffn_up.weight"), &a) == 0);
    CHECK(gguf_tensor(h, gguf_find_tensor(h, "blk.1.ffn_up.weight"), &b) == 0);
    CHECK(a.nbytes == b.nbytes && memcmp(a.data, b.data, a.nbytes) == 0);
    gguf_close(g);
    gguf_close(h);
}

TEST(rejects_unknown_type) {
    struct synth_params p = {synth_find_shape("tiny-llama"), "q3_k", 1, 1, NULL, NULL};
    struct err e = {{0}};
    CHECK(synth_write(&p, "/tmp/omni-test-synth-bad.gguf", &e) == -1);
    CHECK(strstr(e.msg, "q4_k_m") != NULL);
    CHECK(synth_find_shape("gpt-5") == NULL);
}

int main(void) {
    TEST_EXPECT(5);
    RUN(llama_shape_metadata_and_tensors);
    RUN(q4_k_m_uses_llama_cpp_mix);
    RUN(iq4_xs_with_iq4_nl_fallback);
    RUN(qwen2_has_biases_and_same_seed_same_file);
    RUN(rejects_unknown_type);
    return test_summary();
}
