/* qwen35moe end to end against llama.cpp (tests/golden/llm/synth-tiny-qwen35moe-f16.jsonl,
 * see tests/golden/README.md): `omni synth` writes the tiny-qwen35moe file here, at test
 * time, from seed 7, and it must be the very file the golden was made from (SHA-256
 * below). Its 4 layers are 3 gated delta-net layers and 1 gated full-attention layer,
 * each with 8 experts (2 chosen) and a shared expert gated by sigmoid(ffn_gate_inp_shexp
 * · x); weights of ±0.5 so routing and the shared gate swing per token. Then: logits and
 * greedy tokens at every SIMD level, a batched prompt equal to the same tokens one at a
 * time, and a mixed batch of two sequences (each with its own recurrent state) equal to
 * each alone. */
#include <cJSON.h>
#include <stdint.h>

#include "test.h"
#include "core/cpu.h"
#include "models/llm.h"
#include "models/synth.h"
#include "runtime/store.h"
#include "models/golden_logits.h"

#define GOLDEN "tests/golden/llm/synth-tiny-qwen35moe-f16.jsonl"
#define SHA256 "30bdfed4aadf4c46f2d34313cc7246738335e69f176cf024f35bb246c1a43141"
/* below AVX-512 llama.cpp itself would round otherwise: the F16 bars of the README */
#define BAR 0.05
#define MARGIN 0.05

static char g_dir[256];

/* At AVX-512 our kernels sum in llama.cpp's orders: the golden prints 5 decimals. */
static int exact(void) { return cpu_level() >= CPU_AVX512; }
static double tol(void) { return exact() ? 2e-5 : BAR; }

struct stats {
    double max_err;
    int cases, greedy_matched, greedy_ref;
};

static void check_case(struct llm *m, cJSON *c, struct stats *st) {
    int V = llm_hparams(m)->n_vocab;
    double t = tol();
    cJSON *jt = cJSON_GetObjectItem(c, "tokens"), *jk = cJSON_GetObjectItem(c, "topk"), *jg = cJSON_GetObjectItem(c, "greedy");
    int n = cJSON_GetArraySize(jt), ng = cJSON_GetArraySize(jg);
    CHECK_MSG(n > 0 && cJSON_GetArraySize(jk) == n && ng > 0, "malformed golden case");
    if (n <= 0 || cJSON_GetArraySize(jk) != n) return;
    st->greedy_ref += ng;
    int32_t *tok = malloc(sizeof(int32_t) * n), *pos = malloc(sizeof(int32_t) * n);
    int8_t *want = malloc((size_t)n);
    float *lg = malloc(sizeof(float) * (size_t)n * V);
    for (int i = 0; i < n; i++) tok[i] = cJSON_GetArrayItem(jt, i)->valueint, pos[i] = i, want[i] = 1;
    st->cases++;
    struct err e = {{0}};
    struct llm_state *ls = llm_state_new(m);
    struct llm_kv *kv = llm_kv_new(m, n + ng + 4, &e);
    struct llm_batch b = {n, tok, pos, NULL, want};
    int rc = llm_forward(m, ls, &kv, 1, &b, lg, &e);
    CHECK_MSG(rc == 0, "%s", e.msg);
    for (int i = 0; i < n && rc == 0; i++) {
        cJSON *row = cJSON_GetArrayItem(jk, i);
        const float *l = lg + (size_t)i * V;
        for (int r = 0; r < cJSON_GetArraySize(row); r++) {
            cJSON *pair = cJSON_GetArrayItem(row, r);
            int id = cJSON_GetArrayItem(pair, 0)->valueint;
            double d = fabs(l[id] - cJSON_GetArrayItem(pair, 1)->valuedouble);
            if (d > st->max_err) st->max_err = d;
            CHECK_MSG(d <= t, "pos %d token %d: logit %.5f, off by %.5f (tol %g)", i, id, l[id], d, t);
        }
        double m0 = cJSON_GetArrayItem(cJSON_GetArrayItem(row, 0), 1)->valuedouble;
        double m1 = cJSON_GetArrayItem(cJSON_GetArrayItem(row, 1), 1)->valuedouble;
        int ref = cJSON_GetArrayItem(cJSON_GetArrayItem(row, 0), 0)->valueint;
        if (m0 - m1 > fmax(exact() ? 0 : MARGIN, 2 * t))
            CHECK_MSG(argmax(l, V, NULL) == ref, "pos %d: top-1 %d, reference %d", i, argmax(l, V, NULL), ref);
    }
    float margin;
    int next = argmax(lg + (size_t)(n - 1) * V, V, &margin);
    for (int s = 0; s < ng && rc == 0; s++) {
        int ref = cJSON_GetArrayItem(jg, s)->valueint;
        if (margin <= (exact() ? 2 * t : fmax(MARGIN, t))) break;  /* a lead within rounding */
        CHECK_MSG(next == ref, "greedy step %d: %d, reference %d (margin %.4f)", s, next, ref, margin);
        if (next != ref) break;
        st->greedy_matched++;
        int32_t tk = next, p = n + s;
        struct llm_batch b1 = {1, &tk, &p, NULL, NULL};
        rc = llm_forward(m, ls, &kv, 1, &b1, lg, &e);
        CHECK_MSG(rc == 0, "%s", e.msg);
        next = argmax(lg, V, &margin);
    }
    llm_kv_free(kv);
    llm_state_free(ls);
    free(tok); free(pos); free(want); free(lg);
}

/* the tiny-qwen35moe file, made as the golden's was; NULL (after a failed CHECK) if not */
static struct llm *make_model(char *path, size_t cap) {
    snprintf(path, cap, "%s/synth-tiny-qwen35moe-f16.gguf", g_dir);
    struct synth_params p = {synth_find_shape("tiny-qwen35moe"), "f16", 7, 2, NULL, NULL};
    struct err e = {{0}};
    char hex[65] = "";
    CHECK_MSG(p.shape != NULL, "no tiny-qwen35moe shape");
    if (!p.shape) return NULL;
    int rc = synth_write(&p, path, &e);
    CHECK_MSG(rc == 0, "synth: %s", e.msg);
    if (rc) return NULL;
    CHECK_MSG(store_file_digest(path, "sha256", hex, &e) == 0, "%s", e.msg);
    CHECK_MSG(!strcmp(hex, SHA256), "sha256 %s, the golden's file has %s", hex, SHA256);
    if (strcmp(hex, SHA256)) return NULL;
    struct llm_load_params lp = llm_default_load_params();
    lp.n_threads = 2;
    struct llm *m = llm_load(path, &lp, &e);
    CHECK_MSG(m != NULL, "%s: %s", path, e.msg);
    return m;
}

TEST(qwen35moe_f16_matches_llama_cpp) {
    char path[512];
    char *text = read_file(GOLDEN, NULL);
    REQUIRE(text != NULL, "missing golden %s (run the tests from the project root)", GOLDEN);
    struct llm *m = make_model(path, sizeof path);
    if (m) {
        const struct llm_hparams *hp = llm_hparams(m);
        CHECK_EQ_INT(hp->n_expert, 8);
        CHECK_EQ_INT(hp->n_ff_shexp, 128);
    }
    enum cpu_level top = cpu_level();
    for (int lvl = CPU_SCALAR; m && lvl <= (int)top; lvl++) {
        cpu_set_level((enum cpu_level)lvl);
        struct stats st = {0};
        char *copy = strdup(text);
        for (char *line = copy; line && *line;) {
            char *nl = strchr(line, '\n');
            if (nl) *nl = 0;
            cJSON *c = cJSON_Parse(line);
            if (c) check_case(m, c, &st);
            cJSON_Delete(c);
            line = nl ? nl + 1 : NULL;
        }
        free(copy);
        fprintf(stderr, "  synth-tiny-qwen35moe-f16 at %-7s %d cases, max |logit diff| %.6f (tol %g), greedy matched %d/%d\n",
                cpu_level_name(cpu_level()), st.cases, st.max_err, tol(), st.greedy_matched, st.greedy_ref);
        CHECK_EQ_INT(st.cases, 4);
        if (exact()) CHECK_EQ_INT(st.greedy_matched, st.greedy_ref);
        else CHECK(st.greedy_matched >= 1);  /* up to the first lead below the bar */
    }
    cpu_set_level(top);
    llm_free(m);
    free(text);
    unlink(path);
}

static double max_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

/* 40 tokens: one batch equals token by token (experts grouped per batch against only
 * the chosen ones read per token; the delta-net's state walked the same), and two
 * sequences interleaved in one batch equal each alone */
TEST(qwen35moe_batching_invariants) {
    char path[512];
    struct llm *m = make_model(path, sizeof path);
    if (!m) return;
    struct llm_state *st = llm_state_new(m);
    int V = llm_hparams(m)->n_vocab, n = 40;
    int32_t tok[40], pos[40], seq[40];
    int8_t all[40];
    for (int i = 0; i < n; i++) tok[i] = (i * 37 + 11) % V, pos[i] = i, all[i] = 1;
    float *a = malloc(sizeof(float) * n * V), *b = malloc(sizeof(float) * n * V);
    struct err e = {{0}};
    struct llm_kv *kv = llm_kv_new(m, 64, &e);
    struct llm_batch bb = {n, tok, pos, NULL, all};
    CHECK(llm_forward(m, st, &kv, 1, &bb, a, &e) == 0);
    llm_kv_truncate(kv, 0);
    for (int i = 0; i < n; i++) {
        struct llm_batch b1 = {1, tok + i, pos + i, NULL, NULL};
        CHECK(llm_forward(m, st, &kv, 1, &b1, b + (size_t)i * V, &e) == 0);
    }
    double d = max_diff(a, b, (size_t)n * V);
    fprintf(stderr, "  qwen35moe prefill vs token-by-token (40 tokens): max diff %.2e\n", d);
    CHECK(d <= 1e-3);
    /* sequence 0: tok[0..19], sequence 1: tok[20..39] from position 0, interleaved */
    struct llm_kv *k2[2] = {llm_kv_new(m, 64, &e), llm_kv_new(m, 64, &e)};
    int32_t mt[40], mp[40];
    for (int i = 0; i < 20; i++) {
        mt[2 * i] = tok[i], mp[2 * i] = i, seq[2 * i] = 0;
        mt[2 * i + 1] = tok[20 + i], mp[2 * i + 1] = i, seq[2 * i + 1] = 1;
    }
    struct llm_batch bm = {40, mt, mp, seq, all};
    CHECK(k2[0] && k2[1] && llm_forward(m, st, k2, 2, &bm, b, &e) == 0);
    llm_kv_truncate(kv, 0);
    struct llm_batch bs = {20, tok + 20, pos, NULL, all};
    float *alone = malloc(sizeof(float) * 20 * V);
    CHECK(llm_forward(m, st, &kv, 1, &bs, alone, &e) == 0);
    double da = 0, db = 0;
    for (int i = 0; i < 20; i++) {
        da = fmax(da, max_diff(b + (size_t)(2 * i) * V, a + (size_t)i * V, V));
        db = fmax(db, max_diff(b + (size_t)(2 * i + 1) * V, alone + (size_t)i * V, V));
    }
    fprintf(stderr, "  qwen35moe mixed batch: seq A diff %.2e, seq B diff %.2e\n", da, db);
    CHECK(da <= 1e-3 && db <= 1e-3);
    llm_kv_free(kv);
    llm_kv_free(k2[0]);
    llm_kv_free(k2[1]);
    free(a); free(b); free(alone);
    llm_state_free(st);
    llm_free(m);
    unlink(path);
}

int main(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/omni-test-qwen35moe-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
        fprintf(stderr, "cannot create a temporary folder %s\n", g_dir);
        return 1;
    }
    TEST_EXPECT(2);
    RUN(qwen35moe_f16_matches_llama_cpp);
    RUN(qwen35moe_batching_invariants);
    rmdir(g_dir);
    return test_summary();
}
