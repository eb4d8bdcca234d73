/* The public embedding API (omni_embedder, runtime/embed.c) end to end: text → tokens →
 * vector for a decoder used as an embedding model (synth-qwen3-f16, last-token and mean
 * pooling of the final normed hidden state) against the reference build's llama-server
 * --embeddings (tests/golden/embed, made as its README says), token-id inputs on the
 * BERT goldens (../shared/golden/embed) with and without normalisation, batching across
 * n_batch, and the errors a caller gets. Tolerances: those of the shared embed goldens. */
#include <cJSON.h>

#include "test.h"
#include "omni.h"

static cJSON **read_lines(const char *path, int *n) {
    char *txt = read_file(path, NULL);
    if (!txt) return NULL;
    cJSON **v = calloc(64, sizeof *v);
    *n = 0;
    for (char *line = strtok(txt, "\n"); line && *n < 63; line = strtok(NULL, "\n"))
        if (*line) v[(*n)++] = cJSON_Parse(line);
    free(txt);
    return v;
}

static void free_lines(cJSON **v, int n) {
    for (int i = 0; i < n; i++) cJSON_Delete(v[i]);
    free(v);
}

/* max component error of a (unit) vector against the golden; checks the cosine too */
static double vs_golden(const float *v, int E, cJSON *g, const char *what) {
    cJSON *emb = cJSON_GetObjectItem(g, "embedding");
    CHECK_EQ_INT(cJSON_GetArraySize(emb), E);
    double maxd = 0, dot = 0, gg = 0, vv = 0;
    for (int i = 0; i < E && i < cJSON_GetArraySize(emb); i++) {
        double r = cJSON_GetArrayItem(emb, i)->valuedouble;
        maxd = fmax(maxd, fabs(v[i] - r));
        dot += v[i] * r, gg += r * r, vv += (double)v[i] * v[i];
    }
    double cosv = dot / sqrt(gg * vv);
    CHECK_MSG(maxd <= 2e-3, "%s: a component is %.2e from the golden", what, maxd);
    CHECK_MSG(cosv >= 0.9999, "%s: cosine %.6f", what, cosv);
    return maxd;
}

static void decoder_golden(const char *golden, int pooling) {
    char err[512];
    omni_embedder_params p = omni_embedder_default_params();
    p.pooling = pooling;
    omni_embedder *e = omni_embedder_load(model_path("synth/synth-qwen3-f16.gguf"), &p, err, sizeof err);
    int n = 0;
    cJSON **g = read_lines(golden, &n);
    REQUIRE(e && g && n >= 9, "%s / %s: %s", "synth-qwen3-f16.gguf", golden, e ? "golden missing" : err);
    CHECK_STR(omni_embedder_arch(e), "qwen3");
    CHECK_EQ_INT(omni_embedder_pooling(e), pooling == OMNI_POOLING_DEFAULT ? OMNI_POOLING_LAST : pooling);
    int E = omni_embedder_n_embd(e);
    omni_embed_input in[16] = {{0}};
    int32_t *ids[16] = {0};
    for (int c = 0; c < n; c++) {
        cJSON *pr = cJSON_GetObjectItem(g[c], "prompt");
        in[c].text = pr->valuestring;
        in[c].len = strlen(pr->valuestring);
        /* our tokenizer gives the reference's ids */
        int32_t *t = NULL;
        int nt = omni_embedder_tokenize(e, in[c].text, in[c].len, &t, err, sizeof err);
        cJSON *jt = cJSON_GetObjectItem(g[c], "tokens");
        int same = nt == cJSON_GetArraySize(jt);
        for (int i = 0; same && i < nt; i++) same = t[i] == cJSON_GetArrayItem(jt, i)->valueint;
        CHECK_MSG(same, "%s case %d: tokens differ from the reference's", golden, c);
        ids[c] = t;
    }
    float *v = malloc(sizeof(float) * (size_t)E * n), *raw = malloc(sizeof(float) * (size_t)E * n);
    int ntok[16];
    CHECK_MSG(omni_embed(e, in, n, 1, v, ntok, err, sizeof err) == 0, "%s", err);
    double maxd = 0, maxn = 0;
    for (int c = 0; c < n; c++) {
        char what[96];
        snprintf(what, sizeof what, "%s case %d", golden, c);
        maxd = fmax(maxd, vs_golden(v + (size_t)c * E, E, g[c], what));
        CHECK_EQ_INT(ntok[c], cJSON_GetArraySize(cJSON_GetObjectItem(g[c], "tokens")));
    }
    /* unnormalised: the norm llama.cpp's vector has */
    CHECK(omni_embed(e, in, n, 0, raw, NULL, err, sizeof err) == 0);
    for (int c = 0; c < n; c++) {
        double s = 0;
        for (int i = 0; i < E; i++) s += (double)raw[(size_t)c * E + i] * raw[(size_t)c * E + i];
        double d = fabs(sqrt(s) - cJSON_GetObjectItem(g[c], "norm")->valuedouble);
        maxn = fmax(maxn, d);
        CHECK_MSG(d <= 0.01, "%s case %d: norm off by %.3g", golden, c, d);
    }
    fprintf(stderr, "  %s (text in): max |d component| %.2e, max |d norm| %.2e over %d cases\n", golden, maxd, maxn, n);
    for (int c = 0; c < n; c++) free(ids[c]);
    free(v);
    free(raw);
    free_lines(g, n);
    omni_embedder_free(e);
}

TEST(qwen3_last_token) { decoder_golden("tests/golden/embed/synth-qwen3-f16.last.jsonl", OMNI_POOLING_DEFAULT); }
TEST(qwen3_mean) { decoder_golden("tests/golden/embed/synth-qwen3-f16.mean.jsonl", OMNI_POOLING_MEAN); }

/* token-id inputs on a BERT file; n_batch small enough that the inputs take several
 * forwards, which must not change them */
TEST(bert_ids_batched) {
    char err[512];
    omni_embedder_params p = omni_embedder_default_params();
    p.n_batch = 40;
    omni_embedder *e = omni_embedder_load(model_path("synth/synth-bert-xlmr-f16.gguf"), &p, err, sizeof err);
    int n = 0;
    cJSON **g = read_lines(golden_path("embed/synth-bert-xlmr-f16.jsonl"), &n);
    REQUIRE(e && g && n >= 9, "xlmr: %s", e ? "golden missing" : err);
    CHECK_EQ_INT(omni_embedder_pooling(e), OMNI_POOLING_CLS);
    CHECK(!omni_embedder_can_rerank(e));
    int E = omni_embedder_n_embd(e);
    omni_embed_input in[16] = {{0}};
    for (int c = 0; c < n; c++) {
        cJSON *jt = cJSON_GetObjectItem(g[c], "tokens");
        int32_t *t = malloc(sizeof(int32_t) * (size_t)cJSON_GetArraySize(jt));
        for (int i = 0; i < cJSON_GetArraySize(jt); i++) t[i] = cJSON_GetArrayItem(jt, i)->valueint;
        in[c].tokens = t, in[c].n_tokens = cJSON_GetArraySize(jt);
    }
    float *v = malloc(sizeof(float) * (size_t)E * n);
    CHECK_MSG(omni_embed(e, in, n, 1, v, NULL, err, sizeof err) == 0, "%s", err);
    for (int c = 0; c < n; c++) vs_golden(v + (size_t)c * E, E, g[c], "xlmr ids");
    /* errors: empty, too long, outside the vocabulary, rerank on an embedder */
    int32_t big = omni_embedder_n_vocab(e), *lng = calloc(600, sizeof *lng);
    omni_embed_input bad[3] = {{.tokens = &big, .n_tokens = 1}, {.tokens = lng, .n_tokens = 600}, {.text = "", .len = 0}};
    CHECK(omni_embed(e, &bad[0], 1, 1, v, NULL, err, sizeof err) == -1 && strstr(err, "vocabulary"));
    CHECK(omni_embed(e, &bad[1], 1, 1, v, NULL, err, sizeof err) == -1 && strstr(err, "context"));
    CHECK(omni_embed(e, &bad[2], 1, 1, v, NULL, err, sizeof err) == -1);
    const char *docs[] = {"a"};
    CHECK(omni_rerank(e, "q", docs, 1, v, NULL, err, sizeof err) == -1 && strstr(err, "rerank head"));
    free(lng);
    for (int c = 0; c < n; c++) free((void *)in[c].tokens);
    free(v);
    free_lines(g, n);
    omni_embedder_free(e);
}

TEST(reranker_refuses_embeddings) {
    char err[512];
    omni_embedder *e = omni_embedder_load(model_path("synth/synth-bert-xlmr-rerank-f16.gguf"), NULL, err, sizeof err);
    REQUIRE(e, "%s", err);
    CHECK(omni_embedder_can_rerank(e));
    CHECK_EQ_INT(omni_embedder_pooling(e), OMNI_POOLING_RANK);
    int32_t t[3] = {0, 5, 2};
    omni_embed_input in = {.tokens = t, .n_tokens = 3};
    float v[64];
    CHECK(omni_embed(e, &in, 1, 1, v, NULL, err, sizeof err) == -1 && strstr(err, "reranking model"));
    omni_embedder_free(e);
    /* rank on a model without a head is refused at load */
    omni_embedder_params p = omni_embedder_default_params();
    p.pooling = OMNI_POOLING_RANK;
    CHECK(omni_embedder_load(model_path("synth/synth-bert-bge-f16.gguf"), &p, err, sizeof err) == NULL &&
          strstr(err, "classification head"));
    CHECK(omni_file_is_embedding_model(model_path("synth/synth-bert-bge-f16.gguf")) == 1);
    CHECK(omni_file_is_embedding_model(model_path("synth/synth-qwen3-f16.gguf")) == 0);
}

int main(void) {
    TEST_EXPECT(4);
    RUN(qwen3_last_token);
    RUN(qwen3_mean);
    RUN(bert_ids_batched);
    RUN(reranker_refuses_embeddings);
    return test_summary();
}
