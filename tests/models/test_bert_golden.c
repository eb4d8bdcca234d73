/* The BERT encoder (models/bert.c) against llama.cpp's embeddings and rerank scores
 * (../shared/golden/embed, tolerances from its README): every component of the
 * L2-normalised vector within 2e-3, cosine >= 0.9999, the norm within 0.01; rerank
 * scores within 0.03 in the same ranking. Runs on the goldens' token ids, so it tests
 * the forward pass alone; plus batching (many inputs in one forward == one at a time)
 * and clear errors for bad input. */
#include <cJSON.h>

#include "test.h"
#include "core/dtype.h"
#include "core/fp16.h"
#include "formats/gguf.h"
#include "models/bert.h"

/* A small random nomic-bert (nomic-embed-text-v1.5's layout: fused q|k|v, no biases in
 * attention or FFN, RoPE base 1000, SwiGLU, mean pooling) with the WordPiece vocabulary of
 * synth-bert-bge-f16.gguf, made from a fixed seed: the same bytes every time. The golden
 * tests/golden/embed/synth-nomic-bert-f16.jsonl was made on exactly this file
 * (`test_bert_golden --write-synth-nomic PATH`). */
static uint64_t g_rng;
static float frand(float a) {
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return ((float)(g_rng >> 40) / (float)(1 << 24) * 2.0f - 1.0f) * a;
}

/* jina = 1: a jina-bert-v2 instead (jina-embeddings-v2's layout with every optional part
 * llama.cpp reads: separate q/k/v with biases, LayerNorms of q and k, the second norm
 * after attention, GEGLU with both halves in ffn_up, all biases; ALiBi, mean pooling) */
static int write_synth(int jina, const char *vocab_src, const char *dst, struct err *e) {
    const int E = 64, L = 2, H = 4, F = 192, TT = 2;
    const char *ar = jina ? "jina-bert-v2" : "nomic-bert";
    char k[96];
#define KEY(x) (snprintf(k, sizeof k, "%s." x, ar), k)
    struct gguf *src = gguf_open(vocab_src, e);
    if (!src) return -1;
    g_rng = jina ? 20260815 : 20260814;
    struct gguf_writer *w = gguf_writer_new();
    gguf_w_copy_kv(w, src);
    gguf_w_str(w, "general.architecture", ar);
    gguf_w_str(w, "general.name", jina ? "synth-jina-bert-v2" : "synth-nomic-bert");
    gguf_w_u32(w, KEY("block_count"), L);
    gguf_w_u32(w, KEY("context_length"), jina ? 8192 : 2048);
    gguf_w_u32(w, KEY("embedding_length"), E);
    gguf_w_u32(w, KEY("feed_forward_length"), F);
    gguf_w_u32(w, KEY("attention.head_count"), H);
    gguf_w_f32(w, KEY("attention.layer_norm_epsilon"), 1e-12f);
    gguf_w_bool(w, KEY("attention.causal"), 0);
    gguf_w_u32(w, KEY("pooling_type"), 1);
    if (!jina) gguf_w_f32(w, KEY("rope.freq_base"), 1000.0f);
#undef KEY
    int rc = -1;
    struct tensor te = {0};
    int64_t ti = gguf_find_tensor(src, "token_embd.weight"), nv = ti >= 0 && gguf_tensor(src, ti, &te) == 0 ? te.ne[1] : 0;
    uint16_t *h = malloc(sizeof(uint16_t) * (size_t)nv * E);
    float *f = malloc(sizeof(float) * (size_t)E * TT + sizeof(float) * 2 * F);
    if (!h || !f || !nv) { err_set(e, "out of memory or no vocabulary in %s", vocab_src); goto done; }
#define MAT(name, k, n, a) do { int64_t ne[2] = {k, n}; \
        for (size_t i = 0; i < (size_t)(k) * (n); i++) h[i] = fp32_to_fp16(frand(a)); \
        if (gguf_w_tensor(w, name, DT_F16, 2, ne, h, e)) goto done; } while (0)
#define VEC(name, n, base, a) do { int64_t ne[1] = {n}; \
        for (int i = 0; i < (n); i++) f[i] = (base) + frand(a); \
        if (gguf_w_tensor(w, name, DT_F32, 1, ne, f, e)) goto done; } while (0)
    MAT("token_embd.weight", E, nv, 0.5f);
    { int64_t ne[2] = {E, TT}; for (int i = 0; i < E * TT; i++) f[i] = frand(0.1f);
      if (gguf_w_tensor(w, "token_types.weight", DT_F32, 2, ne, f, e)) goto done; }
    VEC("token_embd_norm.weight", E, 1.0f, 0.2f);
    VEC("token_embd_norm.bias", E, 0.0f, 0.1f);
    for (int l = 0; l < L; l++) {
        char n[64];
#define NM(x) (snprintf(n, sizeof n, "blk.%d." x, l), n)
        if (jina) {
            MAT(NM("attn_q.weight"), E, E, 0.3f); VEC(NM("attn_q.bias"), E, 0.0f, 0.1f);
            MAT(NM("attn_k.weight"), E, E, 0.3f); VEC(NM("attn_k.bias"), E, 0.0f, 0.1f);
            MAT(NM("attn_v.weight"), E, E, 0.3f); VEC(NM("attn_v.bias"), E, 0.0f, 0.1f);
            VEC(NM("attn_q_norm.weight"), E, 1.0f, 0.2f); VEC(NM("attn_q_norm.bias"), E, 0.0f, 0.1f);
            VEC(NM("attn_k_norm.weight"), E, 1.0f, 0.2f); VEC(NM("attn_k_norm.bias"), E, 0.0f, 0.1f);
        } else {
            MAT(NM("attn_qkv.weight"), E, 3 * E, 0.3f);
        }
        MAT(NM("attn_output.weight"), E, E, 0.2f);
        if (jina) VEC(NM("attn_output.bias"), E, 0.0f, 0.1f);
        VEC(NM("attn_output_norm.weight"), E, 1.0f, 0.2f);
        VEC(NM("attn_output_norm.bias"), E, 0.0f, 0.1f);
        if (jina) {
            VEC(NM("attn_norm_2.weight"), E, 1.0f, 0.2f);
            VEC(NM("attn_norm_2.bias"), E, 0.0f, 0.1f);
            MAT(NM("ffn_up.weight"), E, 2 * F, 0.3f);
            VEC(NM("ffn_up.bias"), 2 * F, 0.0f, 0.1f);
        } else {
            MAT(NM("ffn_up.weight"), E, F, 0.2f);
            MAT(NM("ffn_gate.weight"), E, F, 0.3f);
        }
        MAT(NM("ffn_down.weight"), F, E, 0.2f);
        if (jina) VEC(NM("ffn_down.bias"), E, 0.0f, 0.1f);
        VEC(NM("layer_output_norm.weight"), E, 1.0f, 0.2f);
        VEC(NM("layer_output_norm.bias"), E, 0.0f, 0.1f);
#undef NM
    }
#undef MAT
#undef VEC
    rc = gguf_writer_save(w, dst, e);
done:
    free(h);
    free(f);
    gguf_writer_free(w);
    gguf_close(src);
    return rc;
}

static struct bert *load(const char *rel) {
    struct err e = {{0}};
    struct bert *m = bert_load(model_path(rel), 2, &e);
    if (!m) fprintf(stderr, "  %s: %s\n", rel, e.msg);
    return m;
}

/* jsonl → array of parsed lines (NULL-terminated); NULL when missing */
static cJSON **read_jsonl(const char *rel, int *n) {
    char *txt = read_file(golden_path(rel), NULL);
    if (!txt) return NULL;
    cJSON **v = calloc(64, sizeof *v);
    *n = 0;
    for (char *line = strtok(txt, "\n"); line && *n < 63; line = strtok(NULL, "\n"))
        if (*line) v[(*n)++] = cJSON_Parse(line);
    free(txt);
    return v;
}

static void free_jsonl(cJSON **v, int n) {
    for (int i = 0; i < n; i++) cJSON_Delete(v[i]);
    free(v);
}

static int32_t *ids(cJSON *arr, int *n) {
    *n = cJSON_GetArraySize(arr);
    int32_t *t = malloc(sizeof(int32_t) * (size_t)(*n ? *n : 1));
    for (int i = 0; i < *n; i++) t[i] = cJSON_GetArrayItem(arr, i)->valueint;
    return t;
}

/* Compares one pooled vector with a golden line; returns the largest component error. */
static double check_vector(const char *name, int c, const float *v, int E, cJSON *g, double *max_norm_err,
                           double *min_cos) {
    cJSON *emb = cJSON_GetObjectItem(g, "embedding");
    CHECK_EQ_INT(cJSON_GetArraySize(emb), E);
    CHECK_EQ_INT(cJSON_GetObjectItem(g, "n_embd")->valueint, E);
    double s = 0;
    for (int i = 0; i < E; i++) s += (double)v[i] * v[i];
    double norm = sqrt(s), gnorm = cJSON_GetObjectItem(g, "norm")->valuedouble, maxd = 0, dot = 0, gg = 0;
    for (int i = 0; i < E && i < cJSON_GetArraySize(emb); i++) {
        double ref = cJSON_GetArrayItem(emb, i)->valuedouble, x = v[i] / norm;
        maxd = fmax(maxd, fabs(x - ref));
        dot += x * ref;
        gg += ref * ref;
    }
    double cosv = dot / sqrt(gg);
    CHECK_MSG(maxd <= 2e-3, "%s case %d: a component is %.2e from the golden (tol 2e-3)", name, c, maxd);
    CHECK_MSG(cosv >= 0.9999, "%s case %d: cosine %.6f < 0.9999", name, c, cosv);
    CHECK_MSG(fabs(norm - gnorm) <= 0.01, "%s case %d: norm %.5f, golden %.5f", name, c, norm, gnorm);
    *max_norm_err = fmax(*max_norm_err, fabs(norm - gnorm));
    *min_cos = fmin(*min_cos, cosv);
    return maxd;
}

static void run_embed_golden(const char *model, const char *golden, int pooling) {
    struct bert *m = load(model);
    int n = 0;
    cJSON **g = read_jsonl(golden, &n);
    REQUIRE(m && g && n >= 9, "%s or %s missing (%d cases)", model, golden, n);
    int E = bert_hparams(m)->n_embd;
    const char *want_pool = pooling == BERT_POOL_MEAN ? "mean" : "cls";
    if (pooling < 0) CHECK_EQ_INT(bert_hparams(m)->pooling, BERT_POOL_CLS);  /* the file's */
    int pool = pooling < 0 ? bert_hparams(m)->pooling : pooling;
    double maxd = 0, maxn = 0, minc = 1;
    float *v = malloc(sizeof(float) * E), *batch = malloc(sizeof(float) * E * (size_t)n);
    int32_t *all = malloc(sizeof(int32_t) * 512 * (size_t)n);
    int *lens = malloc(sizeof(int) * (size_t)n), total = 0;
    for (int c = 0; c < n; c++) {
        CHECK_STR(cJSON_GetObjectItem(g[c], "pooling")->valuestring, want_pool);
        int nt;
        int32_t *t = ids(cJSON_GetObjectItem(g[c], "tokens"), &nt);
        struct err e = {{0}};
        int rc = bert_encode(m, t, &nt, 1, pool, v, &e);
        CHECK_MSG(rc == 0, "%s case %d: %s", golden, c, e.msg);
        if (rc == 0) maxd = fmax(maxd, check_vector(golden, c, v, E, g[c], &maxn, &minc));
        memcpy(all + total, t, sizeof(int32_t) * nt);
        lens[c] = nt;
        total += nt;
        free(t);
    }
    fprintf(stderr, "  %s: max |d component| %.2e, min cosine %.7f, max |d norm| %.2e (%d cases)\n", golden, maxd,
            minc, maxn, n);
    /* every case in one forward: the same vectors as one at a time */
    struct err e = {{0}};
    CHECK(bert_encode(m, all, lens, n, pool, batch, &e) == 0);
    double bmax = 0;
    for (int c = 0; c < n; c++) {
        int nt;
        int32_t *t = ids(cJSON_GetObjectItem(g[c], "tokens"), &nt);
        CHECK(bert_encode(m, t, &nt, 1, pool, v, &e) == 0);
        for (int i = 0; i < E; i++) bmax = fmax(bmax, fabs(v[i] - batch[(size_t)c * E + i]));
        free(t);
    }
    fprintf(stderr, "  %s: batch of %d vs one at a time: max diff %.2e\n", golden, n, bmax);
    CHECK(bmax <= 1e-5);
    free(v); free(batch); free(all); free(lens);
    free_jsonl(g, n);
    bert_free(m);
}

TEST(bge_cls) { run_embed_golden("synth/synth-bert-bge-f16.gguf", "embed/synth-bert-bge-f16.jsonl", -1); }
TEST(bge_mean_override) {
    run_embed_golden("synth/synth-bert-bge-f16.gguf", "embed/synth-bert-bge-f16.mean.jsonl", BERT_POOL_MEAN);
}
TEST(xlmr_cls) { run_embed_golden("synth/synth-bert-xlmr-f16.gguf", "embed/synth-bert-xlmr-f16.jsonl", -1); }

/* A pooling that changes the vector must miss the golden: the test can fail. */
TEST(wrong_pooling_misses) {
    struct bert *m = load("synth/synth-bert-bge-f16.gguf");
    int n = 0;
    cJSON **g = read_jsonl("embed/synth-bert-bge-f16.jsonl", &n);
    REQUIRE(m && g && n > 0, "bge model or golden missing");
    int E = bert_hparams(m)->n_embd, nt, missed = 0;
    float *v = malloc(sizeof(float) * E);
    for (int c = 0; c < n; c++) {
        int32_t *t = ids(cJSON_GetObjectItem(g[c], "tokens"), &nt);
        struct err e;
        CHECK(bert_encode(m, t, &nt, 1, BERT_POOL_LAST, v, &e) == 0);
        double s = 0, maxd = 0;
        for (int i = 0; i < E; i++) s += (double)v[i] * v[i];
        cJSON *emb = cJSON_GetObjectItem(g[c], "embedding");
        for (int i = 0; i < E; i++) maxd = fmax(maxd, fabs(v[i] / sqrt(s) - cJSON_GetArrayItem(emb, i)->valuedouble));
        missed += maxd > 2e-3;
        free(t);
    }
    CHECK_EQ_INT(missed, n);
    free(v);
    free_jsonl(g, n);
    bert_free(m);
}

TEST(xlmr_rerank) {
    struct bert *m = load("synth/synth-bert-xlmr-rerank-f16.gguf");
    int n = 0;
    cJSON **g = read_jsonl("embed/synth-bert-xlmr-rerank-f16.rerank.jsonl", &n);
    REQUIRE(m && g && n >= 2, "rerank model or golden missing");
    CHECK_EQ_INT(bert_hparams(m)->pooling, BERT_POOL_RANK);
    CHECK_EQ_INT(bert_hparams(m)->n_cls_out, 1);
    double maxd = 0;
    for (int q = 0; q < n; q++) {
        cJSON *res = cJSON_GetObjectItem(g[q], "results"), *rank = cJSON_GetObjectItem(g[q], "ranking");
        int nd = cJSON_GetArraySize(res);
        float score[16];
        for (int d = 0; d < nd && d < 16; d++) {
            cJSON *r = cJSON_GetArrayItem(res, d);
            int nt;
            int32_t *t = ids(cJSON_GetObjectItem(r, "tokens"), &nt);
            struct err e = {{0}};
            CHECK_MSG(bert_encode(m, t, &nt, 1, BERT_POOL_RANK, &score[d], &e) == 0, "%s", e.msg);
            double ref = cJSON_GetObjectItem(r, "score")->valuedouble;
            maxd = fmax(maxd, fabs(score[d] - ref));
            CHECK_MSG(fabs(score[d] - ref) <= 0.03, "query %d doc %d: score %.5f, golden %.5f", q, d, score[d], ref);
            free(t);
        }
        /* the ranking: indices by descending score */
        for (int r = 0; r < nd; r++) {
            int best = -1;
            for (int d = 0; d < nd; d++) {
                int used = 0;
                for (int k = 0; k < r; k++) used |= cJSON_GetArrayItem(rank, k)->valueint == d;
                if (!used && (best < 0 || score[d] > score[best])) best = d;
            }
            CHECK_MSG(best == cJSON_GetArrayItem(rank, r)->valueint, "query %d: rank %d is doc %d, golden %d", q, r, best,
                      cJSON_GetArrayItem(rank, r)->valueint);
            (void)best;
        }
    }
    fprintf(stderr, "  rerank: max |d score| %.2e\n", maxd);
    free_jsonl(g, n);
    bert_free(m);
}

TEST(bad_input_is_an_error) {
    struct bert *m = load("synth/synth-bert-bge-f16.gguf");
    REQUIRE(m, "bge model missing");
    const struct bert_hparams *hp = bert_hparams(m);
    float out[64];
    struct err e = {{0}};
    int32_t t[2] = {101, 102}, bad[2] = {101, hp->n_vocab};
    int n2 = 2, n0 = 0, nlong = hp->n_ctx_train + 1;
    CHECK(bert_encode(m, bad, &n2, 1, BERT_POOL_CLS, out, &e) == -1 && strstr(e.msg, "vocabulary"));
    CHECK(bert_encode(m, t, &n0, 1, BERT_POOL_CLS, out, &e) == -1 && strstr(e.msg, "empty"));
    int32_t *lt = calloc((size_t)nlong, sizeof *lt);
    CHECK(bert_encode(m, lt, &nlong, 1, BERT_POOL_CLS, out, &e) == -1 && strstr(e.msg, "positions"));
    free(lt);
    CHECK(bert_encode(m, t, &n2, 1, BERT_POOL_RANK, out, &e) == -1 && strstr(e.msg, "classification head"));
    CHECK(bert_encode(m, t, &n2, 1, BERT_POOL_NONE, out, &e) == -1);
    bert_free(m);
    /* a decoder is not a bert */
    CHECK(bert_load(model_path("synth/synth-qwen3-f16.gguf"), 2, &e) == NULL && strstr(e.msg, "not a BERT"));
}

/* nomic-bert (RoPE, fused q|k|v, SwiGLU) and jina-bert-v2 (ALiBi, q/k norms, second
 * norm, GEGLU), mean pooling (the files'), against the reference build's llama-server on
 * the same seeded files */
static void synth_golden(int jina) {
    const char *golden = jina ? "tests/golden/embed/synth-jina-bert-v2-f16.jsonl" : "tests/golden/embed/synth-nomic-bert-f16.jsonl";
    char path[] = "/tmp/omni-test-synth-bert-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0, "mkstemp");
    close(fd);
    struct err e = {{0}};
    if (write_synth(jina, model_path("synth/synth-bert-bge-f16.gguf"), path, &e)) {
        unlink(path);
        REQUIRE(0, "writing the synth file: %s", e.msg);
    }
    struct bert *m = bert_load(path, 2, &e);
    unlink(path);  /* mapped: stays readable */
    REQUIRE(m, "%s", e.msg);
    CHECK_STR(bert_hparams(m)->arch, jina ? "jina-bert-v2" : "nomic-bert");
    CHECK_EQ_INT(bert_hparams(m)->pooling, BERT_POOL_MEAN);
    int n = 0;
    char *txt = read_file(golden, NULL);
    cJSON *g[16];
    for (char *line = txt ? strtok(txt, "\n") : NULL; line && n < 16; line = strtok(NULL, "\n")) g[n++] = cJSON_Parse(line);
    free(txt);
    CHECK_MSG(n >= 9, "%s: %d cases", golden, n);
    int E = bert_hparams(m)->n_embd;
    float v[64], cls[64];
    double maxd = 0, maxn = 0, minc = 1, cls_miss = 0;
    for (int c = 0; c < n && E <= 64; c++) {
        int nt;
        int32_t *t = ids(cJSON_GetObjectItem(g[c], "tokens"), &nt);
        CHECK_MSG(bert_encode(m, t, &nt, 1, BERT_POOL_MEAN, v, &e) == 0, "%s", e.msg);
        maxd = fmax(maxd, check_vector(golden, c, v, E, g[c], &maxn, &minc));
        /* CLS instead of mean is far off: the comparison can fail */
        CHECK(bert_encode(m, t, &nt, 1, BERT_POOL_CLS, cls, &e) == 0);
        double s2 = 0, d = 0;
        for (int i = 0; i < E; i++) s2 += (double)cls[i] * cls[i];
        for (int i = 0; i < E; i++)
            d = fmax(d, fabs(cls[i] / sqrt(s2) - cJSON_GetArrayItem(cJSON_GetObjectItem(g[c], "embedding"), i)->valuedouble));
        cls_miss = c ? fmin(cls_miss, d) : d;
        free(t);
    }
    CHECK(cls_miss > 2e-3);
    fprintf(stderr, "  %s: max |d component| %.2e, min cosine %.7f, max |d norm| %.2e (CLS misses by >= %.2f)\n",
            golden, maxd, minc, maxn, cls_miss);
    for (int c = 0; c < n; c++) cJSON_Delete(g[c]);
    bert_free(m);
}

/* broken metadata is a clear error, not a crash: bge with a context length its position
 * table does not have, and a head count that does not divide the width */
static const char *load_altered(const char *key, uint32_t v, struct err *e) {
    static char path[] = "/tmp/omni-test-bert-bad-XXXXXX";
    strcpy(path, "/tmp/omni-test-bert-bad-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) return "mkstemp";
    close(fd);
    struct gguf *g = gguf_open(model_path("synth/synth-bert-bge-f16.gguf"), e);
    if (!g) return e->msg;
    struct gguf_writer *w = gguf_writer_new();
    gguf_w_copy_kv(w, g);
    gguf_w_u32(w, key, v);
    for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
        struct tensor t;
        gguf_tensor(g, i, &t);
        gguf_w_tensor_ref(w, t.name, t.type, t.n_dims, t.ne, t.data, e);
    }
    int rc = gguf_writer_save(w, path, e);
    gguf_writer_free(w);
    gguf_close(g);
    if (rc) return e->msg;
    struct bert *m = bert_load(path, 2, e);
    unlink(path);
    if (m) { bert_free(m); return NULL; }
    return e->msg;
}

TEST(bad_files_are_errors) {
    struct err e = {{0}};
    const char *msg = load_altered("bert.context_length", 1024, &e);
    CHECK_MSG(msg && strstr(msg, "position_embd.weight") && strstr(msg, "1024"), "context length: %s", msg ? msg : "loaded");
    msg = load_altered("bert.attention.head_count", 5, &e);
    CHECK_MSG(msg && strstr(msg, "multiple of head_count"), "head count: %s", msg ? msg : "loaded");
    msg = load_altered("bert.pooling_type", 9, &e);
    CHECK_MSG(msg && strstr(msg, "pooling_type"), "pooling: %s", msg ? msg : "loaded");
    CHECK(bert_load("/nonexistent/x.gguf", 2, &e) == NULL);
}

TEST(nomic_mean) { synth_golden(0); }
TEST(jina_v2_mean) { synth_golden(1); }

int main(int argc, char **argv) {
    if (argc == 3 && (!strcmp(argv[1], "--write-synth-nomic") || !strcmp(argv[1], "--write-synth-jina"))) {
        struct err e = {{0}};
        if (write_synth(!strcmp(argv[1], "--write-synth-jina"), model_path("synth/synth-bert-bge-f16.gguf"), argv[2], &e)) {
            fprintf(stderr, "%s\n", e.msg);
            return 1;
        }
        return 0;
    }
    TEST_EXPECT(9);
    RUN(bad_files_are_errors);
    RUN(bge_cls);
    RUN(bge_mean_override);
    RUN(xlmr_cls);
    RUN(wrong_pooling_misses);
    RUN(xlmr_rerank);
    RUN(bad_input_is_an_error);
    RUN(nomic_mean);
    RUN(jina_v2_mean);
    return test_summary();
}
