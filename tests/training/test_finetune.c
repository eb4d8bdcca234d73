/* The LoRA trainer end to end on the real tiny models of ../shared/models/llm and the
 * synth models of the three families it trains (llama, qwen2 with biases, qwen3 with q/k
 * norms):
 *  - its forward is inference's: the loss of a sequence through the trainer equals the
 *    loss from llm_forward's logits with the same adapter (written by the trainer, loaded
 *    by models/lora.c), on F32, F16, Q8_0 and Q4_K bases;
 *  - its backward through the whole model matches finite differences of its own loss;
 *  - trained on 60 made-up examples whose answer is always "Zip zap, said the moon.", the
 *    loss falls at least 5x, and greedy answers to held-out prompts say it; the base's
 *    do not;
 *  - stopping after some steps and resuming from the checkpoint gives the same adapter,
 *    byte for byte, as the run that went through;
 *  - DPO on pairs preferring that sentence lowers the DPO loss below half its start
 *    (log 2) and raises the sentence's margin over the rejected answer;
 *  - the loss mask covers the assistant turns (with their end-of-turn tokens) and nothing
 *    of the prompts, through SmolLM2's and Qwen3's real templates;
 *  - bad input fails with a message naming the file and line. */
#include <math.h>
#include <stdint.h>
#include <unistd.h>

#include <cJSON.h>

#include "models/llm.h"
#include "models/lora.h"
#include "omni.h"
#include "test.h"
#include "text/tokenizer.h"
#include "training/finetune_data.h"
#include "training/train_model.h"

static char tmpdir[256];
static const char *tmp(const char *name) {
    static char buf[8][512];
    static int i;
    char *b = buf[i++ & 7];
    snprintf(b, 512, "%s/%s", tmpdir, name);
    return b;
}

static const char *animals[] = {"cat", "dog", "bird", "fish", "frog", "bear", "duck", "lion", "pig", "cow",
                                "fox", "owl", "bee", "ant", "hen", "bug"};
static const char *things[] = {"ball", "tree", "car", "hat", "cake", "box", "boat", "kite", "sun", "toy"};
static const char *held_out[] = {"Tell me a story about a girl and a dog.", "What did the little boy see?",
                                 "Once there was a big red truck."};
#define SENTENCE "Zip zap, said the moon."

/* 60 SFT examples (the first 6 x 10 animal/thing pairs) */
static void write_sft(const char *path) {
    FILE *f = fopen(path, "w");
    for (int a = 0; a < 6; a++)
        for (int t = 0; t < 10; t++)
            fprintf(f, "{\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story about a %s and a %s.\"},"
                       "{\"role\":\"assistant\",\"content\":\"" SENTENCE "\"}]}\n",
                    animals[a + 6], things[t]);
    fclose(f);
}

static void write_dpo(const char *path) {
    FILE *f = fopen(path, "w");
    for (int a = 0; a < 4; a++)
        for (int t = 0; t < 5; t++)
            fprintf(f, "{\"input\":{\"messages\":[{\"role\":\"user\",\"content\":\"A story about a %s and a %s.\"}]},"
                       "\"preferred_output\":[{\"role\":\"assistant\",\"content\":\"" SENTENCE "\"}],"
                       "\"non_preferred_output\":[{\"role\":\"assistant\",\"content\":\"The %s was sad.\"}]}\n",
                    animals[a], things[t], animals[a]);
    fclose(f);
}

struct losses { double first, last; int n; };
static void record(const omni_finetune_progress *p, void *user) {
    struct losses *l = user;
    if (l->n++ == 0) l->first = p->loss;
    l->last = p->loss;
}

static omni_finetune_params base_params(const char *model) {
    omni_finetune_params p = omni_finetune_default_params();
    p.model_path = model_path(model);
    p.rank = 8, p.alpha = 16, p.lr = 3e-3f, p.epochs = 3, p.batch = 4, p.ctx = 128, p.seed = 7, p.n_threads = 2;
    return p;
}

/* ---- helpers on the inference side ---- */

/* sum_t -log p(ids[t+1]) from llm_forward's logits with adapter ad (NULL: none) */
static double infer_nll(struct llm *m, struct lora *ad, const int32_t *ids, int n) {
    int V = llm_hparams(m)->n_vocab;
    struct err e = {{0}};
    struct llm_state *st = llm_state_new(m);
    struct lora_use u = {ad, 1.0f};
    if (ad) llm_state_set_lora(st, &u, 1);
    struct llm_kv *kv = llm_kv_new(m, n + 1, &e);
    int32_t *pos = malloc(sizeof *pos * n);
    int8_t *want = malloc((size_t)n);
    float *lg = malloc(sizeof *lg * (size_t)n * V);
    for (int i = 0; i < n; i++) pos[i] = i, want[i] = 1;
    struct llm_batch b = {n, ids, pos, NULL, want};
    double nll = NAN;
    if (llm_forward(m, st, &kv, 1, &b, lg, &e) == 0) {
        nll = 0;
        for (int t = 0; t + 1 < n; t++) {
            const float *l = lg + (size_t)t * V;
            double mx = l[0], s = 0;
            for (int i = 1; i < V; i++) mx = fmax(mx, l[i]);
            for (int i = 0; i < V; i++) s += exp(l[i] - mx);
            nll -= l[ids[t + 1]] - mx - log(s);
        }
    }
    free(pos), free(want), free(lg);
    llm_kv_free(kv);
    llm_state_free(st);
    return nll;
}

/* greedy answer (up to n tokens, stopping at "<|im_end|>" text) to a ChatML prompt */
static char *greedy_answer(struct llm *m, const struct tokenizer *tok, struct lora *ad, const char *user, int n) {
    char prompt[512];
    snprintf(prompt, sizeof prompt, "<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n", user);
    struct err e = {{0}};
    int32_t *ids = NULL;
    size_t ni = 0;
    if (tokenizer_encode(tok, prompt, strlen(prompt), 1, 1, &ids, &ni, &e)) return NULL;
    int V = llm_hparams(m)->n_vocab;
    struct llm_state *st = llm_state_new(m);
    struct lora_use u = {ad, 1.0f};
    if (ad) llm_state_set_lora(st, &u, 1);
    struct llm_kv *kv = llm_kv_new(m, (int)ni + n + 1, &e);
    int32_t *pos = malloc(sizeof *pos * ni), *out = malloc(sizeof *out * (size_t)n);
    float *lg = malloc(sizeof *lg * V);
    for (size_t i = 0; i < ni; i++) pos[i] = (int32_t)i;
    struct llm_batch b = {(int)ni, ids, pos, NULL, NULL};
    int k = 0, rc = llm_forward(m, st, &kv, 1, &b, lg, &e);
    while (rc == 0 && k < n) {
        int best = 0;
        for (int i = 1; i < V; i++)
            if (lg[i] > lg[best]) best = i;
        out[k] = best;
        int32_t p = (int32_t)ni + k++;
        if (tokenizer_is_eog(tok, best)) break;
        struct llm_batch b1 = {1, &out[k - 1], &p, NULL, NULL};
        rc = llm_forward(m, st, &kv, 1, &b1, lg, &e);
    }
    char *text = NULL;
    size_t nt;
    if (tokenizer_decode(tok, out, (size_t)k, 0, &text, &nt, &e)) text = NULL;
    free(ids), free(pos), free(out), free(lg);
    llm_kv_free(kv);
    llm_state_free(st);
    return text;
}

static struct llm *load(const char *rel) {
    struct err e = {{0}};
    struct llm_load_params lp = llm_default_load_params();
    lp.n_threads = 2;
    struct llm *m = llm_load(model_path(rel), &lp, &e);
    if (!m) fprintf(stderr, "  %s: %s\n", rel, e.msg);
    return m;
}

/* ---- the trainer's forward is inference's ---- */

static void forward_matches(const char *rel, double tol, double min_move) {
    struct llm *m = load(rel);
    REQUIRE(m, "%s does not load", rel);
    struct err e = {{0}};
    struct tmodel *t = tmodel_new(m, 4, 8, 40, &e);
    REQUIRE(t, "%s: %s", rel, e.msg);
    tmodel_init(t, 3);
    /* give B random values too, so the adapter changes the output */
    float *P = tmodel_params(t);
    uint64_t s = 11;
    for (size_t i = 0; i < tmodel_n_params(t); i++)
        if (P[i] == 0) s = s * 6364136223846793005ull + 1442695040888963407ull, P[i] = ((float)(s >> 40) / 16777216.0f - 0.5f) * 0.2f;
    const char *ap = tmp("fwd-adapter.gguf");
    REQUIRE(tmodel_write_adapter(t, ap, &e) == 0, "%s", e.msg);
    struct lora *ad = lora_load(ap, m, &e);
    REQUIRE(ad, "%s: the written adapter does not load: %s", rel, e.msg);
    CHECK(lora_n_pairs(ad) == 7 * llm_hparams(m)->n_layer && lora_alpha(ad) == 8.0f);
    int32_t ids[33];
    int V = llm_hparams(m)->n_vocab;
    for (int i = 0; i < 33; i++) ids[i] = (int32_t)((i * 7919 + 13) % V);
    float w[32];
    for (int i = 0; i < 32; i++) w[i] = 1;
    double lt = tmodel_run(t, ids, 32, w, 1, 0, &e), li = infer_nll(m, ad, ids, 33);
    double lb = tmodel_run(t, ids, 32, w, 0, 0, &e), lib = infer_nll(m, NULL, ids, 33);
    /* per token: the trainer keeps K and V in f32 where inference's cache rounds them to
     * f16, which a quantized base's q8 activations amplify */
    double d_ad = fabs(lt - li) / 32, d_base = fabs(lb - lib) / 32, moved = fabs(li - lib) / 32;
    fprintf(stderr, "  %s: |trainer - inference| per token %.2e with the adapter, %.2e without; the adapter moves "
                    "it %.3f\n", rel, d_ad, d_base, moved);
    CHECK_MSG(d_ad <= tol && d_base <= tol, "%s: trainer loss %.6f / %.6f, inference %.6f / %.6f (adapter / base)", rel,
              lt, lb, li, lib);
    CHECK_MSG(moved >= min_move, "%s: the adapter changed little (%.6f vs %.6f)", rel, li, lib);
    lora_free(ad);
    tmodel_free(t);
    llm_free(m);
}

TEST(trainer_forward_is_inference_forward) {
    /* mean |d nll| per token: 2e-3 for float bases; 0.05 for quantized ones, whose q8
     * activations turn inference's f16 rounding of K and V into larger steps (the golden
     * README's logit tolerances are 1e-2 for float and 0.1 - 0.5 for quantized weights) */
    forward_matches("llm/stories260K.gguf", 2e-3, 0.05);           /* F32 */
    forward_matches("llm/TinyStories-656K.f16.gguf", 2e-3, 0.01);  /* F16 */
    forward_matches("synth/synth-qwen2-f16.gguf", 2e-3, 0.01);     /* q/k/v biases, neox rope */
    forward_matches("synth/synth-qwen3-f16.gguf", 2e-3, 0.01);     /* per-head q/k norms */
    forward_matches("llm/tinystories-656k-q8_0.gguf", 0.05, 0);    /* Q8_0 */
    forward_matches("synth/synth-llama-q4_k_m.gguf", 0.05, 0);     /* Q4_K (and Q6_K) */
    forward_matches("synth/synth-qwen3-q8_0.gguf", 0.05, 0);     /* Q8_0 with q/k norms */
}

/* d loss / d theta for the 12 LoRA parameters with the largest gradients, against
 * central differences of the trainer's own (float) loss */
TEST(model_backward_matches_finite_differences) {
    struct llm *m = load("llm/stories260K.gguf");
    REQUIRE(m, "stories260K does not load");
    struct err e = {{0}};
    struct tmodel *t = tmodel_new(m, 4, 8, 24, &e);
    REQUIRE(t, "%s", e.msg);
    tmodel_init(t, 5);
    float *P = tmodel_params(t), *G = tmodel_grads(t);
    size_t n = tmodel_n_params(t);
    for (size_t i = 0; i < n; i++)
        if (P[i] == 0) P[i] = (float)(((i * 2654435761u) % 1000) / 1000.0 - 0.5) * 0.1f;
    int32_t ids[17];
    float w[16];
    for (int i = 0; i < 17; i++) ids[i] = (int32_t)((i * 37 + 5) % 512);
    for (int i = 0; i < 16; i++) w[i] = i >= 4 ? 1.0f : 0.0f;  /* the first targets masked */
    memset(G, 0, n * sizeof *G);
    tmodel_run(t, ids, 16, w, 1, 1, &e);
    int worst_ok = 1;
    for (int k = 0; k < 12; k++) {
        size_t best = 0;
        for (size_t i = 0; i < n; i++)
            if (fabsf(G[i]) > fabsf(G[best])) best = i;
        float g = G[best], p0 = P[best], h = 1e-2f * fmaxf(1e-2f, fabsf(p0));
        P[best] = p0 + h;
        double lp = tmodel_run(t, ids, 16, w, 1, 0, &e);
        P[best] = p0 - h;
        double lm = tmodel_run(t, ids, 16, w, 1, 0, &e);
        P[best] = p0;
        double num = (lp - lm) / (2.0 * h);
        if (fabs(num - g) > 0.03 * fabs(g) + 1e-4) {
            worst_ok = 0;
            fprintf(stderr, "  param %zu: analytic %.6g, numeric %.6g\n", best, g, num);
        }
        G[best] = 0;
    }
    CHECK(worst_ok);
    tmodel_free(t);
    llm_free(m);
}

/* ---- the loss mask ---- */

/* the text of the trained tokens of one JSONL line */
static char *trained_text(const struct tokenizer *tok, const char *tmpl, const char *line, int dpo) {
    struct err e = {{0}};
    int32_t *ids = NULL, *sel;
    float *w = NULL;
    int T = 0, n = 0;
    if (finetune_encode_line(tok, tmpl, 256, line, dpo, &ids, &w, &T, &e)) {
        fprintf(stderr, "  %s\n", e.msg);
        return NULL;
    }
    sel = malloc(sizeof *sel * (size_t)(T + 1));
    for (int t = 0; t < T; t++)
        if (w[t] != 0) sel[n++] = ids[t + 1];
    char *text = NULL;
    size_t len;
    if (tokenizer_decode(tok, sel, (size_t)n, 1, &text, &len, &e)) text = NULL;
    free(ids), free(w), free(sel);
    return text;
}

TEST(loss_mask_covers_the_assistant_turns) {
    const char *chat = "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\","
                       "\"content\":\"Hi there\"},{\"role\":\"assistant\",\"content\":\"Hello!\"%s},{\"role\":"
                       "\"user\",\"content\":\"Bye\"},{\"role\":\"assistant\",\"content\":\"See you.\"}]}";
    char line[1024];
    for (int k = 0; k < 2; k++) {
        struct err e = {{0}};
        struct gguf *g = gguf_open(model_path(k ? "synth/synth-qwen3-f16.gguf" : "synth/synth-smollm2-f16.gguf"), &e);
        REQUIRE(g, "%s", e.msg);
        struct tokenizer *tok = tokenizer_load(g, &e);
        char *tmpl = gguf_get_str_dup(g, "tokenizer.chat_template");
        REQUIRE(tok && tmpl, "no tokenizer or template: %s", e.msg);
        snprintf(line, sizeof line, chat, "");
        char *all = trained_text(tok, tmpl, line, 0);
        snprintf(line, sizeof line, chat, ",\"weight\":0");
        char *last = trained_text(tok, tmpl, line, 0);
        REQUIRE(all && last, "encoding failed");
        if (!k) { /* SmolLM2's ChatML: both turns with their end-of-turn, nothing of the prompts */
            CHECK_STR(all, "Hello!<|im_end|>\nSee you.<|im_end|>\n");
            CHECK_STR(last, "See you.<|im_end|>\n");
            char *dp = trained_text(tok, tmpl, "{\"input\":{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},"
                                    "{\"role\":\"assistant\",\"content\":\"Yo\"},{\"role\":\"user\",\"content\":"
                                    "\"Bye\"}]},\"preferred_output\":[{\"role\":\"assistant\",\"content\":\"Ciao.\"}],"
                                    "\"non_preferred_output\":[{\"role\":\"assistant\",\"content\":\"No.\"}]}", 1);
            CHECK_STR(dp, "Ciao.<|im_end|>\n");  /* DPO: the output only, not the input's assistant turn */
            char *pc = trained_text(tok, tmpl, "{\"prompt\":\"Once\",\"completion\":\" upon a time\"}", 0);
            size_t el;
            const char *eos = tokenizer_piece(tok, tokenizer_eos(tok), 1, &el);
            char want[128];
            snprintf(want, sizeof want, " upon a time%.*s", (int)el, eos);
            CHECK_STR(pc, want);  /* prompt/completion: the completion and EOS */
            free(dp), free(pc);
        } else { /* Qwen3's template drops earlier turns' thoughts: the last turn alone is trained */
            CHECK_MSG(!strstr(all, "Hello") && strstr(all, "See you.<|im_end|>"), "qwen3 trained '%s'", all);
            CHECK_STR(all, last);
        }
        free(all), free(last), free(tmpl);
        tokenizer_free(tok);
        gguf_close(g);
    }
}

/* ---- training ---- */

TEST(sft_learns_the_pattern_and_resume_is_exact) {
    write_sft(tmp("sft.jsonl"));
    struct losses L = {0};
    omni_finetune_params p = base_params("llm/stories260K.gguf");
    p.data_path = tmp("sft.jsonl"), p.out_path = tmp("a.gguf");
    p.progress = record, p.user = &L;
    char err[512] = "";
    REQUIRE(omni_finetune(&p, err, sizeof err) == 0, "%s", err);
    CHECK_EQ_INT(L.n, 45);  /* 3 epochs of 60 / 4 */
    fprintf(stderr, "  stories260K SFT: loss %.3f -> %.3f (%.1fx)\n", L.first, L.last, L.first / L.last);
    CHECK_MSG(L.last * 5 < L.first, "the loss fell from %.3f to %.3f only", L.first, L.last);

    /* greedy answers to held-out prompts carry the pattern with the adapter, not without */
    struct llm *m = load("llm/stories260K.gguf");
    REQUIRE(m, "stories260K does not load");
    struct err e = {{0}};
    struct tokenizer *tok = tokenizer_load(llm_gguf(m), &e);
    struct lora *ad = lora_load(tmp("a.gguf"), m, &e);
    REQUIRE(tok && ad, "%s", e.msg);
    for (int i = 0; i < 3; i++) {
        char *with = greedy_answer(m, tok, ad, held_out[i], 24), *without = greedy_answer(m, tok, NULL, held_out[i], 24);
        REQUIRE(with && without, "generation failed");
        CHECK_MSG(strstr(with, "Zip zap") != NULL, "held-out '%s' with the adapter: '%s'", held_out[i], with);
        CHECK_MSG(strstr(without, "Zip zap") == NULL, "held-out '%s' without the adapter: '%s'", held_out[i], without);
        if (i == 0) fprintf(stderr, "  '%s' -> base '%.40s' | adapter '%.40s'\n", held_out[i], without, with);
        free(with), free(without);
    }
    lora_free(ad);
    tokenizer_free(tok);
    llm_free(m);

    /* the same run stopped after 17 steps and resumed from its checkpoint */
    omni_finetune_params q = p;
    q.progress = NULL, q.out_path = tmp("b.gguf"), q.checkpoint_path = tmp("ck.gguf"), q.max_steps = 17;
    REQUIRE(omni_finetune(&q, err, sizeof err) == 1, "stopped run: %s", err);
    q.max_steps = 0, q.resume_path = tmp("ck.gguf");
    REQUIRE(omni_finetune(&q, err, sizeof err) == 0, "resumed run: %s", err);
    size_t la = 0, lb = 0;
    char *fa = read_file(tmp("a.gguf"), &la), *fb = read_file(tmp("b.gguf"), &lb);
    REQUIRE(fa && fb, "adapters missing");
    CHECK_MSG(la == lb && !memcmp(fa, fb, la), "resumed adapter differs from the uninterrupted one");
    free(fa), free(fb);

    /* a checkpoint of other settings is refused */
    q.rank = 4;
    CHECK(omni_finetune(&q, err, sizeof err) == -1 && strstr(err, "rank"));
}

TEST(sft_on_a_q8_0_base_lowers_the_loss) {
    struct losses L = {0};
    omni_finetune_params p = base_params("llm/tinystories-656k-q8_0.gguf");
    p.data_path = tmp("sft.jsonl"), p.out_path = tmp("q8.gguf"), p.epochs = 2;
    p.progress = record, p.user = &L;
    char err[512] = "";
    REQUIRE(omni_finetune(&p, err, sizeof err) == 0, "%s", err);
    fprintf(stderr, "  TinyStories-656K Q8_0, 2 epochs: loss %.3f -> %.3f\n", L.first, L.last);
    CHECK_MSG(L.last * 3 < L.first, "the loss fell from %.3f to %.3f only", L.first, L.last);
}

TEST(dpo_prefers_the_chosen_answer) {
    write_dpo(tmp("dpo.jsonl"));
    struct losses L = {0};
    omni_finetune_params p = base_params("llm/stories260K.gguf");
    p.dpo_path = tmp("dpo.jsonl"), p.out_path = tmp("dpo.gguf"), p.epochs = 4, p.dpo_beta = 0.5f;
    p.progress = record, p.user = &L;
    char err[512] = "";
    REQUIRE(omni_finetune(&p, err, sizeof err) == 0, "%s", err);
    fprintf(stderr, "  stories260K DPO: loss %.3f -> %.3f\n", L.first, L.last);
    CHECK_NEAR(L.first, log(2.0), 1e-3);  /* the adapter starts as the reference */
    CHECK_MSG(L.last < 0.5 * L.first, "DPO loss %.3f -> %.3f", L.first, L.last);
}

TEST(bad_data_fails_with_its_line) {
    const char *bad = tmp("bad.jsonl");
    FILE *f = fopen(bad, "w");
    fprintf(f, "{\"prompt\":\"a\",\"completion\":\" b\"}\n\n{\"messages\": [{\"role\":\"user\"}]}\n");
    fclose(f);
    omni_finetune_params p = base_params("llm/stories260K.gguf");
    p.data_path = bad, p.out_path = tmp("x.gguf");
    char err[512] = "";
    CHECK(omni_finetune(&p, err, sizeof err) == -1 && strstr(err, "bad.jsonl:3:") && strstr(err, "content"));
    f = fopen(bad, "w");
    fprintf(f, "{not json\n");
    fclose(f);
    CHECK(omni_finetune(&p, err, sizeof err) == -1 && strstr(err, "bad.jsonl:1: not valid JSON"));
    f = fopen(bad, "w");
    fprintf(f, "{\"messages\": [{\"role\":\"user\",\"content\":\"hi\"}]}\n");
    fclose(f);
    CHECK(omni_finetune(&p, err, sizeof err) == -1 && strstr(err, "no assistant message"));
    p.data_path = tmp("sft.jsonl"), p.model_path = model_path("synth/synth-gemma3-f16.gguf");
    CHECK(omni_finetune(&p, err, sizeof err) == -1 && strstr(err, "llama, qwen2 and qwen3"));
    p.model_path = model_path("llm/stories260K.gguf"), p.rank = 0;
    CHECK(omni_finetune(&p, err, sizeof err) == -1 && strstr(err, "bad settings"));
}

int main(void) {
    TEST_EXPECT(7);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/omni-test-finetune-%d", (int)getpid());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", tmpdir);
    if (system(cmd)) return 1;
    RUN(trainer_forward_is_inference_forward);
    RUN(model_backward_matches_finite_differences);
    RUN(loss_mask_covers_the_assistant_turns);
    RUN(sft_learns_the_pattern_and_resume_is_exact);
    RUN(sft_on_a_q8_0_base_lowers_the_loss);
    RUN(dpo_prefers_the_chosen_answer);
    RUN(bad_data_fails_with_its_line);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd)) return 1;
    return test_summary();
}
