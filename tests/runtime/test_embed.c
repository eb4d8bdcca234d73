/* The public embedding API (omni_embedder, runtime/embed.c) end to end: text → tokens →
 * vector for a decoder used as an embedding model (synth-qwen3-f16, last-token and mean
 * pooling of the final normed hidden state) against the reference build's llama-server
 * --embeddings (tests/golden/embed, made as its README says), token-id inputs on the
 * BERT goldens (../shared/golden/embed) with and without normalisation, batching across
 * n_batch, and the errors a caller gets. Tolerances: those of the shared embed goldens. */
#include <cJSON.h>
#include <pthread.h>

#include "test.h"
#include "core/dtype.h"
#include "formats/gguf.h"
#include "omni.h"

/* A Qwen3-Reranker-shaped file derived from synth-qwen3-f16.gguf the way llama.cpp's
 * converter turns Qwen3-Reranker into GGUF: cls.output.weight = the (tied) output rows
 * of "yes" (8505) and "no" (3919), pooling_type RANK, labels yes/no, and the converter's
 * rerank template as tokenizer.chat_template.rerank. tests/golden/embed's reranker golden
 * was made on exactly this file (`test_embed --write-qwen3-reranker PATH`). */
static const char k_rerank_template[] =
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct "
    "provided. Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n<|im_start|>user\n<Instruct>: Given a "
    "web search query, retrieve relevant passages that answer the query\n<Query>: {query}\n<Document>: "
    "{document}<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n";

static int write_qwen3_reranker(const char *src_path, const char *dst, struct err *e) {
    struct gguf *g = gguf_open(src_path, e);
    if (!g) return -1;
    struct gguf_writer *w = gguf_writer_new();
    gguf_w_copy_kv(w, g);
    gguf_w_str(w, "general.name", "synth-qwen3-reranker");
    gguf_w_u32(w, "qwen3.pooling_type", 4);
    const char *labels[] = {"yes", "no"};
    gguf_w_arr_str(w, "qwen3.classifier.output_labels", labels, 2);
    gguf_w_str(w, "tokenizer.chat_template.rerank", k_rerank_template);
    int rc = 0;
    uint16_t *head = NULL;
    for (int64_t i = 0; i < gguf_n_tensors(g) && rc == 0; i++) {
        struct tensor t;
        gguf_tensor(g, i, &t);
        rc = gguf_w_tensor_ref(w, t.name, t.type, t.n_dims, t.ne, t.data, e);
        if (rc == 0 && !strcmp(t.name, "token_embd.weight")) {
            size_t rb = dtype_row_bytes(t.type, t.ne[0]);
            head = malloc(2 * rb);
            if (!head) { rc = err_set(e, "out of memory"); break; }
            memcpy(head, (const char *)t.data + 8505 * rb, rb);
            memcpy((char *)head + rb, (const char *)t.data + 3919 * rb, rb);
            int64_t ne[2] = {t.ne[0], 2};
            rc = gguf_w_tensor(w, "cls.output.weight", t.type, 2, ne, head, e);
        }
    }
    if (rc == 0) rc = gguf_writer_save(w, dst, e);
    free(head);
    gguf_writer_free(w);
    gguf_close(g);
    return rc;
}

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

/* text → tokens → vector on the BERT goldens: our WordPiece / unigram ids are the
 * golden's, and the vectors llama-server's */
static void bert_text(const char *model, const char *golden) {
    char err[512];
    omni_embedder *e = omni_embedder_load(model_path(model), NULL, err, sizeof err);
    int n = 0;
    cJSON **g = read_lines(golden_path(golden), &n);
    REQUIRE(e && g && n >= 9, "%s: %s", model, e ? "golden missing" : err);
    int E = omni_embedder_n_embd(e), ntok[16];
    omni_embed_input in[16] = {{0}};
    for (int c = 0; c < n; c++) {
        const char *t = cJSON_GetObjectItem(g[c], "prompt")->valuestring;
        in[c].text = t, in[c].len = strlen(t);
        int32_t *ids = NULL;
        int nt = omni_embedder_tokenize(e, t, strlen(t), &ids, err, sizeof err);
        cJSON *jt = cJSON_GetObjectItem(g[c], "tokens");
        int same = nt == cJSON_GetArraySize(jt);
        for (int i = 0; same && i < nt; i++) same = ids[i] == cJSON_GetArrayItem(jt, i)->valueint;
        CHECK_MSG(same, "%s case %d: our tokens differ from the golden's (%d vs %d)", golden, c, nt, cJSON_GetArraySize(jt));
        free(ids);
    }
    float *v = malloc(sizeof(float) * (size_t)E * n);
    double maxd = 0;
    CHECK_MSG(omni_embed(e, in, n, 1, v, ntok, err, sizeof err) == 0, "%s", err);
    for (int c = 0; c < n; c++) maxd = fmax(maxd, vs_golden(v + (size_t)c * E, E, g[c], golden));
    fprintf(stderr, "  %s (text in): max |d component| %.2e\n", golden, maxd);
    free(v);
    free_lines(g, n);
    omni_embedder_free(e);
}

TEST(bge_text) { bert_text("synth/synth-bert-bge-f16.gguf", "embed/synth-bert-bge-f16.jsonl"); }
TEST(xlmr_text) { bert_text("synth/synth-bert-xlmr-f16.gguf", "embed/synth-bert-xlmr-f16.jsonl"); }

/* the cross-encoder through omni_rerank, text in: the pairs' tokens and scores */
TEST(xlmr_rerank_text) {
    char err[512];
    omni_embedder *e = omni_embedder_load(model_path("synth/synth-bert-xlmr-rerank-f16.gguf"), NULL, err, sizeof err);
    int n = 0;
    cJSON **g = read_lines(golden_path("embed/synth-bert-xlmr-rerank-f16.rerank.jsonl"), &n);
    REQUIRE(e && g && n >= 2, "reranker: %s", e ? "golden missing" : err);
    double maxd = 0;
    for (int q = 0; q < n; q++) {
        cJSON *res = cJSON_GetObjectItem(g[q], "results");
        int nd = cJSON_GetArraySize(res), ntok = 0, want = 0;
        const char *docs[16];
        float s[16];
        for (int d = 0; d < nd && d < 16; d++) {
            docs[d] = cJSON_GetObjectItem(cJSON_GetArrayItem(res, d), "document")->valuestring;
            want += cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetArrayItem(res, d), "tokens"));
        }
        CHECK_MSG(omni_rerank(e, cJSON_GetObjectItem(g[q], "query")->valuestring, docs, nd, s, &ntok, err, sizeof err) == 0,
                  "%s", err);
        CHECK_EQ_INT(ntok, want);
        for (int d = 0; d < nd; d++) {
            double ref = cJSON_GetObjectItem(cJSON_GetArrayItem(res, d), "score")->valuedouble;
            maxd = fmax(maxd, fabs(s[d] - ref));
            CHECK_MSG(fabs(s[d] - ref) <= 0.03, "query %d doc %d: %.4f vs %.4f", q, d, s[d], ref);
        }
    }
    fprintf(stderr, "  xlmr rerank (text in): max |d score| %.2e\n", maxd);
    free_lines(g, n);
    omni_embedder_free(e);
}

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

/* the derived reranker against the reference build's llama-server --reranking */
TEST(qwen3_reranker) {
    char path[] = "/tmp/omni-test-qwen3-rerank-XXXXXX", err[512];
    int fd = mkstemp(path);
    REQUIRE(fd >= 0, "mkstemp");
    close(fd);
    struct err e = {{0}};
    int wrc = write_qwen3_reranker(model_path("synth/synth-qwen3-f16.gguf"), path, &e);
    omni_embedder *m = wrc ? NULL : omni_embedder_load(path, NULL, err, sizeof err);
    int n = 0;
    cJSON **g = read_lines("tests/golden/embed/synth-qwen3-reranker.rerank.jsonl", &n);
    if (!m || !g || n < 2) {
        unlink(path);
        REQUIRE(0, "reranker: %s", wrc ? e.msg : !m ? err : "golden missing");
    }
    CHECK(omni_embedder_can_rerank(m));
    CHECK(omni_file_is_embedding_model(path) == 1);
    double maxd = 0;
    for (int q = 0; q < n; q++) {
        cJSON *res = cJSON_GetObjectItem(g[q], "results");
        int nd = cJSON_GetArraySize(res), ntok = 0, want_tok = 0;
        const char *docs[16];
        float score[16];
        for (int d = 0; d < nd && d < 16; d++) {
            docs[d] = cJSON_GetObjectItem(cJSON_GetArrayItem(res, d), "document")->valuestring;
            want_tok += cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetArrayItem(res, d), "tokens"));
        }
        CHECK_MSG(omni_rerank(m, cJSON_GetObjectItem(g[q], "query")->valuestring, docs, nd, score, &ntok, err,
                              sizeof err) == 0, "%s", err);
        CHECK_EQ_INT(ntok, want_tok);
        for (int d = 0; d < nd; d++) {
            /* the scores are P(yes), near 0 for random weights: compared as log-odds, the
             * yes - no logit difference the head computes */
            double ref = cJSON_GetObjectItem(cJSON_GetArrayItem(res, d), "score")->valuedouble;
            double lo = log(score[d] / (1 - score[d])), lref = log(ref / (1 - ref));
            maxd = fmax(maxd, fabs(lo - lref));
            CHECK_MSG(fabs(lo - lref) <= 0.02, "query %d doc %d: %.6g, reference %.6g (log-odds %.4f vs %.4f)", q, d,
                      score[d], ref, lo, lref);
        }
        cJSON *rank = cJSON_GetObjectItem(g[q], "ranking");
        for (int r = 0; r + 1 < cJSON_GetArraySize(rank); r++)
            CHECK(score[cJSON_GetArrayItem(rank, r)->valueint] >= score[cJSON_GetArrayItem(rank, r + 1)->valueint]);
    }
    fprintf(stderr, "  qwen3 reranker: max |d log-odds| %.2e\n", maxd);
    free_lines(g, n);
    omni_embedder_free(m);
    unlink(path);
}

/* any number of threads may call one embedder (omni.h): the calls take turns and each
 * gets what it would get alone */
struct th_arg {
    omni_embedder *e;
    const omni_embed_input *in;
    int n;
    float *out;
    int rc;
};

static void *th_embed(void *p) {
    struct th_arg *a = p;
    char err[256];
    for (int r = 0; r < 3 && a->rc == 0; r++) a->rc = omni_embed(a->e, a->in, a->n, 1, a->out, NULL, err, sizeof err);
    return NULL;
}

TEST(threads_share_an_embedder) {
    char err[512];
    omni_embedder *e = omni_embedder_load(model_path("synth/synth-bert-bge-f16.gguf"), NULL, err, sizeof err);
    REQUIRE(e, "%s", err);
    const char *texts[] = {"How do I reset my password?", "환불 정책이 어떻게 되나요?", "Refunds within 14 days.", "x"};
    omni_embed_input in[4];
    for (int i = 0; i < 4; i++) in[i] = (omni_embed_input){.text = texts[i], .len = strlen(texts[i])};
    int E = omni_embedder_n_embd(e);
    float *ref = malloc(sizeof(float) * 4 * E), *out = malloc(sizeof(float) * 4 * 4 * E);
    CHECK(omni_embed(e, in, 4, 1, ref, NULL, err, sizeof err) == 0);
    pthread_t th[4];
    struct th_arg a[4];
    for (int t = 0; t < 4; t++) {
        a[t] = (struct th_arg){e, in + t, 4 - t, out + (size_t)t * 4 * E, 0};
        pthread_create(&th[t], NULL, th_embed, &a[t]);
    }
    for (int t = 0; t < 4; t++) pthread_join(th[t], NULL);
    for (int t = 0; t < 4; t++) {
        CHECK_EQ_INT(a[t].rc, 0);
        CHECK(memcmp(a[t].out, ref + (size_t)t * E, sizeof(float) * (size_t)(4 - t) * E) == 0);
    }
    free(ref);
    free(out);
    omni_embedder_free(e);
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--write-qwen3-reranker")) {
        struct err e = {{0}};
        if (write_qwen3_reranker(model_path("synth/synth-qwen3-f16.gguf"), argv[2], &e)) {
            fprintf(stderr, "%s\n", e.msg);
            return 1;
        }
        return 0;
    }
    TEST_EXPECT(9);
    RUN(threads_share_an_embedder);
    RUN(bge_text);
    RUN(xlmr_text);
    RUN(xlmr_rerank_text);
    RUN(qwen3_reranker);
    RUN(qwen3_last_token);
    RUN(qwen3_mean);
    RUN(bert_ids_batched);
    RUN(reranker_refuses_embeddings);
    return test_summary();
}
