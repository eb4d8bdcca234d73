/* omni synth: the files it writes have the promised shapes, metadata, vocabulary
 * and llama.cpp's weight-type mix, and they read back through our GGUF reader. */
#include <cJSON.h>

#include "test.h"
#include "core/cpu.h"
#include "core/dtype.h"
#include "formats/gguf.h"
#include "models/golden_logits.h"
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

/* The qwen35 shape (delta-net layers, gated attention) read by llama.cpp: its logits
 * for the file written with seed 7 (tests/golden/llm/synth-tiny-qwen35-f16.jsonl, see
 * tests/golden/README.md) are what omni computes from the same file, so the writer
 * lays the hybrid out as llama.cpp's converter does. */
TEST(tiny_qwen35_reads_as_llama_cpp_reads_it) {
    const char *path = "/tmp/omni-test-synth-qwen35.gguf";
    struct gguf *g = make("tiny-qwen35", "f16", path);
    REQUIRE(g != NULL, "synth tiny-qwen35");
    CHECK_EQ_INT(gguf_get_int(g, "qwen35.full_attention_interval", 0, NULL), 4);
    CHECK(tensor_type(g, "blk.0.ssm_conv1d.weight") == DT_F32 && tensor_type(g, "blk.3.attn_q_norm.weight") == DT_F32);
    CHECK(gguf_find_tensor(g, "blk.3.ssm_a") < 0 && gguf_find_tensor(g, "blk.2.attn_q.weight") < 0);
    gguf_close(g);
    char *text = read_file("tests/golden/llm/synth-tiny-qwen35-f16.jsonl", NULL);
    REQUIRE(text != NULL, "tests/golden/llm/synth-tiny-qwen35-f16.jsonl is missing");
    struct err e = {{0}};
    struct llm_load_params lp = llm_default_load_params();
    lp.n_threads = 2;
    struct llm *m = llm_load(path, &lp, &e);
    REQUIRE(m != NULL, "load: %s", e.msg);
    /* the file prints 5 decimals; below AVX-512 other kernels round differently */
    double tol = cpu_level() >= CPU_AVX512 ? 2e-5 : 1e-3, max_err = 0;
    int V = llm_hparams(m)->n_vocab, cases = 0, greedy = 0;
    struct llm_state *st = llm_state_new(m);
    for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        if ((nl = strchr(line, '\n'))) *nl = 0;
        cJSON *c = cJSON_Parse(line);
        if (!c) continue;
        cJSON *jt = cJSON_GetObjectItem(c, "tokens"), *jk = cJSON_GetObjectItem(c, "topk"), *jg = cJSON_GetObjectItem(c, "greedy");
        int n = cJSON_GetArraySize(jt), ng = cJSON_GetArraySize(jg);
        int32_t *tok = malloc(sizeof(int32_t) * n), *pos = malloc(sizeof(int32_t) * n);
        int8_t *want = malloc((size_t)n);
        float *lg = malloc(sizeof(float) * (size_t)n * V);
        for (int i = 0; i < n; i++) tok[i] = cJSON_GetArrayItem(jt, i)->valueint, pos[i] = i, want[i] = 1;
        struct llm_kv *kv = llm_kv_new(m, n + ng + 1, &e);
        struct llm_batch b = {n, tok, pos, NULL, want};
        CHECK(kv && llm_forward(m, st, &kv, 1, &b, lg, &e) == 0);
        for (int i = 0; i < n; i++) {
            cJSON *row = cJSON_GetArrayItem(jk, i);
            for (int r = 0; r < cJSON_GetArraySize(row); r++) {
                cJSON *pair = cJSON_GetArrayItem(row, r);
                double d = fabs(lg[(size_t)i * V + cJSON_GetArrayItem(pair, 0)->valueint] - cJSON_GetArrayItem(pair, 1)->valuedouble);
                if (d > max_err) max_err = d;
            }
        }
        float margin;
        int next = argmax(lg + (size_t)(n - 1) * V, V, &margin);
        for (int s = 0; s < ng && margin > tol; s++) {
            CHECK_EQ_INT(next, cJSON_GetArrayItem(jg, s)->valueint);
            if (next != cJSON_GetArrayItem(jg, s)->valueint) break;
            greedy++;
            int32_t t = next, p = n + s;
            struct llm_batch b1 = {1, &t, &p, NULL, NULL};
            if (llm_forward(m, st, &kv, 1, &b1, lg, &e)) break;
            next = argmax(lg, V, &margin);
        }
        llm_kv_free(kv);
        free(tok); free(pos); free(want); free(lg);
        cJSON_Delete(c);
        cases++;
    }
    fprintf(stderr, "  tiny-qwen35: %d cases, max |logit diff| %.6f (tol %g), %d greedy tokens equal\n", cases, max_err,
            tol, greedy);
    CHECK(cases == 4 && max_err <= tol && greedy >= 24);
    llm_state_free(st);
    llm_free(m);
    free(text);
    unlink(path);
}

int main(void) {
    TEST_EXPECT(5);
    RUN(llama_shape_metadata_and_tensors);
    RUN(q4_k_m_uses_llama_cpp_mix);
    RUN(iq4_xs_with_iq4_nl_fallback);
    RUN(qwen2_has_biases_and_same_seed_same_file);
    RUN(moe_shapes_write_expert_tensors);
    RUN(rejects_unknown_type);
    RUN(tiny_qwen35_reads_as_llama_cpp_reads_it);
    return test_summary();
}
