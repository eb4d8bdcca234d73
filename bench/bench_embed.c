/* Embedding throughput: inputs/s for 64-token inputs (62 words between [CLS] and
 * [SEP]) through a random-weight F16 BERT with bge-small-en-v1.5's shape (12 layers,
 * 384 wide, 12 heads, FFN 1536, the WordPiece vocabulary of ../shared's synth-bert-bge),
 * made once into $BENCH_MODELS. 64 inputs per call (one batched forward), best of
 * BENCH_EMBED_RUNS. With LLAMA_EMBEDDING naming the reference build's llama-embedding, it
 * embeds the same 64 texts (one word per token, so the same 64 tokens each) on the same
 * file in the same run, and the ratio omni/llama.cpp (inputs/s, > 1: omni faster) is
 * printed (how its time is taken: llama_embedding below). */
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_clock.h"
#include "core/dtype.h"
#include "core/fp16.h"
#include "formats/gguf.h"
#include "omni.h"

#define N_IN 64
#define N_TOK 64

static const char *env(const char *k, const char *def) {
    const char *v = getenv(k);
    return v && *v ? v : def;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(float a) {  /* uniform in [-a, a) */
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return ((float)(rng >> 40) / (float)(1 << 24) * 2.0f - 1.0f) * a;
}

/* A bge-small-shaped BERT with the vocabulary of vocab_src; 0 or -1 with e. */
static int write_model(const char *path, const char *vocab_src, struct err *e) {
    const int E = 384, L = 12, H = 12, F = 1536, P = 512, TT = 2;
    struct gguf *src = gguf_open(vocab_src, e);
    if (!src) return -1;
    struct gguf_writer *w = gguf_writer_new();
    gguf_w_copy_kv(w, src);
    gguf_w_str(w, "general.name", "bench-bge-small-shape");
    gguf_w_u32(w, "bert.block_count", L);
    gguf_w_u32(w, "bert.embedding_length", E);
    gguf_w_u32(w, "bert.feed_forward_length", F);
    gguf_w_u32(w, "bert.attention.head_count", H);
    gguf_w_u32(w, "bert.context_length", P);
    uint64_t nv = 0;
    enum gguf_type et;
    gguf_get_arr(src, "tokenizer.ggml.tokens", &et, &nv);
    int rc = -1;
    size_t cap = (size_t)nv * E;
    uint16_t *h = malloc(sizeof(uint16_t) * cap);
    float *f = malloc(sizeof(float) * (size_t)P * E);
    if (!h || !f || !nv) { err_set(e, "out of memory or no vocabulary in %s", vocab_src); goto done; }
#define MAT(name, k, n) do { int64_t ne[2] = {k, n}; \
        for (size_t i = 0; i < (size_t)(k) * (n); i++) h[i] = fp32_to_fp16(frand(0.08f)); \
        if (gguf_w_tensor(w, name, DT_F16, 2, ne, h, e)) goto done; } while (0)
#define VEC(name, n, base, a) do { int64_t ne[1] = {n}; \
        for (int i = 0; i < (n); i++) f[i] = (base) + frand(a); \
        if (gguf_w_tensor(w, name, DT_F32, 1, ne, f, e)) goto done; } while (0)
    MAT("token_embd.weight", E, (int64_t)nv);
    { int64_t ne[2] = {E, TT}; for (int i = 0; i < E * TT; i++) f[i] = frand(0.05f);
      if (gguf_w_tensor(w, "token_types.weight", DT_F32, 2, ne, f, e)) goto done; }
    { int64_t ne[2] = {E, P}; for (int i = 0; i < E * P; i++) f[i] = frand(0.05f);
      if (gguf_w_tensor(w, "position_embd.weight", DT_F32, 2, ne, f, e)) goto done; }
    VEC("token_embd_norm.weight", E, 1.0f, 0.1f);
    VEC("token_embd_norm.bias", E, 0.0f, 0.05f);
    for (int l = 0; l < L; l++) {
        char n[64];
#define NM(s) (snprintf(n, sizeof n, "blk.%d." s, l), n)
        MAT(NM("attn_q.weight"), E, E); VEC(NM("attn_q.bias"), E, 0, 0.02f);
        MAT(NM("attn_k.weight"), E, E); VEC(NM("attn_k.bias"), E, 0, 0.02f);
        MAT(NM("attn_v.weight"), E, E); VEC(NM("attn_v.bias"), E, 0, 0.02f);
        MAT(NM("attn_output.weight"), E, E); VEC(NM("attn_output.bias"), E, 0, 0.02f);
        VEC(NM("attn_output_norm.weight"), E, 1, 0.1f); VEC(NM("attn_output_norm.bias"), E, 0, 0.05f);
        MAT(NM("ffn_up.weight"), E, F); VEC(NM("ffn_up.bias"), F, 0, 0.02f);
        MAT(NM("ffn_down.weight"), F, E); VEC(NM("ffn_down.bias"), E, 0, 0.02f);
        VEC(NM("layer_output_norm.weight"), E, 1, 0.1f); VEC(NM("layer_output_norm.bias"), E, 0, 0.05f);
#undef NM
    }
    rc = gguf_writer_save(w, path, e);
done:
    free(h);
    free(f);
    gguf_writer_free(w);
    gguf_close(src);
    return rc;
}

/* 62 whole-word tokens (▁ + lower-case letters) per input, different for each input */
static int make_inputs(const char *path, int32_t ids[N_IN][N_TOK], char **texts, struct err *e) {
    struct gguf *g = gguf_open(path, e);
    if (!g) return -1;
    uint64_t nv = 0;
    enum gguf_type et;
    gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &nv);
    int32_t *words = malloc(sizeof(int32_t) * (size_t)nv);
    int nw = 0;
    for (uint64_t i = 2000; words && i < nv; i++) {
        struct gguf_str s = gguf_get_arr_str(g, "tokenizer.ggml.tokens", i);
        if (s.len < 6 || s.len > 12 || memcmp(s.s, "\xe2\x96\x81", 3)) continue;
        int ok = 1;
        for (size_t k = 3; k < s.len; k++) ok &= s.s[k] >= 'a' && s.s[k] <= 'z';
        if (ok) words[nw++] = (int32_t)i;
    }
    if (nw < 500) { free(words); gguf_close(g); return err_set(e, "%s: too few whole-word tokens", path); }
    for (int i = 0; i < N_IN; i++) {
        texts[i] = malloc(N_TOK * 16);
        size_t o = 0;
        ids[i][0] = 101, ids[i][N_TOK - 1] = 102;
        for (int t = 1; t < N_TOK - 1; t++) {
            int32_t id = words[(i * 131 + t * 7919) % nw];
            ids[i][t] = id;
            struct gguf_str s = gguf_get_arr_str(g, "tokenizer.ggml.tokens", (uint64_t)id);
            o += (size_t)snprintf(texts[i] + o, N_TOK * 16 - o, "%s%.*s", t > 1 ? " " : "", (int)s.len - 3, s.s + 3);
        }
    }
    free(words);
    gguf_close(g);
    return 0;
}

/* llama-embedding on the texts, in batches of 512 tokens (8 inputs; its usual setting,
 * and the one it is fastest at: its attention spans the whole batch, masked). It prints
 * no timing of its own for embeddings, so its time is from its log's timestamp of the
 * first batch_decode line (model loaded, inputs tokenized) to its exit, which also
 * counts printing the vectors: a little in its disfavour. ms, or -1. */
static double llama_embedding(const char *bin, const char *model, char **texts, int threads) {
    char tf[] = "/tmp/omni-bench-embed-XXXXXX";
    int fd = mkstemp(tf);
    if (fd < 0) return -1;
    FILE *f = fdopen(fd, "w");
    for (int i = 0; i < N_IN; i++) fprintf(f, "%s\n", texts[i]);
    fclose(f);
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "'%s' -m '%s' -f '%s' --pooling cls -c 512 -b 512 -t %d -fa off --no-repack --embd-output-format json "
             "--log-timestamps 2>&1 >/dev/null", bin, model, tf, threads);
    double t0 = bench_wall_s(), first = -1;
    FILE *p = popen(cmd, "r");
    char line[2048];
    while (p && fgets(line, sizeof line, p)) {
        int mi, se, ms, us;
        if (first < 0 && strstr(line, "batch_decode:") && sscanf(line, "%d.%d.%d.%d", &mi, &se, &ms, &us) == 4)
            first = mi * 60.0 + se + ms / 1e3 + us / 1e6;
    }
    int rc = p ? pclose(p) : -1;
    double total = bench_wall_s() - t0;
    unlink(tf);
    return rc == 0 && first >= 0 ? (total - first) * 1000 : -1;
}

int main(int argc, char **argv) {
    char defdir[1024];
    snprintf(defdir, sizeof defdir, "%s", argc > 0 ? argv[0] : "build/bench/bench_embed");
    snprintf(defdir, sizeof defdir, "%s/bench-models", dirname(dirname(defdir)));
    const char *dir = env("BENCH_MODELS", defdir), *models = env("OMNI_MODELS", "../shared/models");
    const char *ref = getenv("LLAMA_EMBEDDING");
    if (ref && !*ref) ref = NULL;
    int threads = atoi(env("BENCH_EMBED_THREADS", "2")), runs = atoi(env("BENCH_EMBED_RUNS", "3"));
    if (runs < 1) runs = 1;
    char path[1200], vocab[1200];
    snprintf(path, sizeof path, "%s/bge-small-shape-f16.gguf", dir);
    snprintf(vocab, sizeof vocab, "%s/synth/synth-bert-bge-f16.gguf", models);
    mkdir(dir, 0755);
    struct err e = {{0}};
    struct stat st;
    if (stat(path, &st) && write_model(path, vocab, &e)) { fprintf(stderr, "bench_embed: %s: %s\n", path, e.msg); return 1; }
    static int32_t ids[N_IN][N_TOK];
    char *texts[N_IN] = {0};
    if (make_inputs(path, ids, texts, &e)) { fprintf(stderr, "bench_embed: %s\n", e.msg); return 1; }

    char err[512];
    omni_embedder_params p = omni_embedder_default_params();
    p.n_threads = threads;
    p.n_batch = N_IN * N_TOK;
    omni_embedder *m = omni_embedder_load(path, &p, err, sizeof err);
    if (!m) { fprintf(stderr, "bench_embed: %s\n", err); return 1; }
    omni_embed_input in[N_IN];
    for (int i = 0; i < N_IN; i++) in[i] = (omni_embed_input){.tokens = ids[i], .n_tokens = N_TOK};
    float *out = malloc(sizeof(float) * N_IN * (size_t)omni_embedder_n_embd(m));
    double best = 1e30;
    for (int r = 0; r < runs; r++) {
        double t0 = bench_wall_s();
        if (omni_embed(m, in, N_IN, 1, out, NULL, err, sizeof err)) { fprintf(stderr, "bench_embed: %s\n", err); return 1; }
        double t = bench_wall_s() - t0;
        if (t < best) best = t;
    }
    stat(path, &st);
    printf("## Embeddings: %d inputs of %d tokens in one call, bge-small shape (F16), %d threads\n\n", N_IN, N_TOK, threads);
    printf("| model | size MiB | inputs/s (best of %d) | tokens/s |%s\n", runs,
           ref ? " llama-embedding inputs/s | ratio omni/llama.cpp (>1: omni faster) |" : "");
    printf("|---|---|---|---|%s\n", ref ? "---|---|" : "");
    printf("| bge-small-shape-f16 | %lld | %.1f | %.0f |", (long long)(st.st_size >> 20), N_IN / best,
           N_IN * N_TOK / best);
    if (ref) {
        double ms = 1e30;
        for (int r = 0; r < runs; r++) {
            double t = llama_embedding(ref, path, texts, threads);
            if (t > 0 && t < ms) ms = t;
        }
        if (ms < 1e30) printf(" %.1f | %.2fx |", N_IN / (ms / 1000), (N_IN / best) / (N_IN / (ms / 1000)));
        else printf(" n/a (llama-embedding failed) | n/a |");
    }
    printf("\n");
    for (int i = 0; i < N_IN; i++) free(texts[i]);
    free(out);
    omni_embedder_free(m);
    return 0;
}
