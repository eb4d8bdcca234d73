/* omni synth: the files it writes have the promised shapes, metadata, vocabulary
 * and llama.cpp's weight-type mix, and they read back through our GGUF reader. */
#include "test.h"
#include "core/dtype.h"
#include "formats/gguf.h"
#include "models/llm.h"
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

/* expert shapes: 3-D [n_in, n_out, n_expert] experts, f32 routers, llama.cpp's MXFP4_MOE
 * mix (experts MXFP4, other matrices Q8_0), and the files load as their families */
TEST(moe_shapes_write_expert_tensors) {
    struct gguf *g = make("tiny-qwen3moe", "f16", "/tmp/omni-test-synth-qwen3moe.gguf");
    CHECK(g != NULL);
    if (!g) return;
    struct tensor t;
    CHECK(gguf_get_tensor(g, "blk.1.ffn_gate_exps.weight", 3, (int64_t[]){64, 96, 8}, &t, NULL) == 0);
    CHECK_EQ_INT(t.type, DT_F16);
    CHECK(gguf_get_tensor(g, "blk.1.ffn_down_exps.weight", 3, (int64_t[]){96, 64, 8}, &t, NULL) == 0);
    CHECK_EQ_INT(tensor_type(g, "blk.0.ffn_gate_inp.weight"), DT_F32);
    CHECK_EQ_INT(tensor_type(g, "blk.0.attn_q_norm.weight"), DT_F32);
    CHECK_EQ_INT(tensor_type(g, "blk.0.ffn_gate.weight"), -1);  /* no dense FFN */
    CHECK_EQ_INT(gguf_get_int(g, "qwen3moe.expert_used_count", 0, NULL), 2);
    gguf_close(g);
    struct err e = {{0}};
    struct llm *m = llm_load("/tmp/omni-test-synth-qwen3moe.gguf", NULL, &e);
    CHECK_MSG(m != NULL, "%s", e.msg);
    if (m) CHECK_EQ_INT(llm_hparams(m)->n_ff_exp, 96);
    llm_free(m);
    g = make("tiny-gpt-oss", "mxfp4_moe", "/tmp/omni-test-synth-gpt-oss.gguf");
    CHECK(g != NULL);
    if (!g) return;
    CHECK_EQ_INT(tensor_type(g, "blk.3.ffn_down_exps.weight"), DT_MXFP4);
    CHECK_EQ_INT(tensor_type(g, "blk.3.attn_q.weight"), DT_Q8_0);
    CHECK_EQ_INT(tensor_type(g, "output.weight"), DT_Q8_0);
    CHECK_EQ_INT(tensor_type(g, "blk.3.ffn_gate_inp.weight"), DT_F32);
    CHECK_EQ_INT(tensor_type(g, "blk.3.attn_sinks.weight"), DT_F32);
    CHECK_EQ_INT(tensor_type(g, "blk.3.post_attention_norm.weight"), DT_F32);
    CHECK_EQ_INT(gguf_get_int(g, "gpt-oss.attention.sliding_window", 0, NULL), 16);
    gguf_close(g);
    m = llm_load("/tmp/omni-test-synth-gpt-oss.gguf", NULL, &e);
    CHECK_MSG(m != NULL, "%s", e.msg);
    llm_free(m);
    unlink("/tmp/omni-test-synth-qwen3moe.gguf");
    unlink("/tmp/omni-test-synth-gpt-oss.gguf");
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
    RUN(qwen2_has_biases_and_same_seed_same_file);
    RUN(moe_shapes_write_expert_tensors);
    RUN(rejects_unknown_type);
    return test_summary();
}
