/* Sampler tests: greedy is argmax, seeds reproduce, the draws follow the softmax
 * at the given temperature, top-k/top-p/min-p cut where they should, penalties and
 * bias move the choice, constraints mask, and logprobs are a true log-softmax. */
#include <math.h>
#include <stdint.h>

#include "test.h"
#include "text/sampler.h"

static float *random_logits(int n, uint32_t seed) {
    float *l = malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        l[i] = (float)(seed >> 8) / (float)(1u << 24) * 10.0f - 5.0f;
    }
    return l;
}

static int argmax(const float *l, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) if (l[i] > l[b]) b = i;
    return b;
}

TEST(greedy_is_argmax) {
    int n = 151936;
    float *l = random_logits(n, 7);
    struct sampler_params p = sampler_default_params();
    p.temperature = 0;
    struct sampler *s = sampler_new(&p, n);
    CHECK(s != NULL);
    CHECK_EQ_INT(sampler_sample(s, l), argmax(l, n));
    l[12345] = 100;
    CHECK_EQ_INT(sampler_sample(s, l), 12345);
    sampler_free(s);
    free(l);
}

TEST(top_k_1_is_greedy) {
    int n = 5000;
    float *l = random_logits(n, 3);
    struct sampler_params p = sampler_default_params();
    p.temperature = 1.5f; p.top_k = 1; p.top_p = 1; p.min_p = 0; p.seed = 1;
    struct sampler *s = sampler_new(&p, n);
    for (int i = 0; i < 50; i++) CHECK_EQ_INT(sampler_sample(s, l), argmax(l, n));
    sampler_free(s);
    free(l);
}

TEST(seed_reproducible) {
    int n = 32000;
    float *l = random_logits(n, 11);
    struct sampler_params p = sampler_default_params();
    p.temperature = 1.0f; p.top_k = 0; p.top_p = 0.99f; p.min_p = 0; p.seed = 42;
    struct sampler *a = sampler_new(&p, n), *b = sampler_new(&p, n);
    p.seed = 43;
    struct sampler *c = sampler_new(&p, n);
    int same = 1, diff = 0;
    for (int i = 0; i < 200; i++) {
        int32_t x = sampler_sample(a, l), y = sampler_sample(b, l), z = sampler_sample(c, l);
        if (x != y) same = 0;
        if (x != z) diff++;
    }
    CHECK(same);
    CHECK(diff > 0);
    sampler_free(a); sampler_free(b); sampler_free(c);
    free(l);
}

/* Draw many tokens from a small vocab and compare counts with the expected
 * probabilities with a chi-square bound (fixed seed, so this never flakes). */
static double chi_square(const float *logits, int n, float temp, int draws, uint64_t seed) {
    struct sampler_params p = sampler_default_params();
    p.temperature = temp; p.top_k = 0; p.top_p = 1; p.min_p = 0; p.seed = seed;
    struct sampler *s = sampler_new(&p, n);
    int counts[16] = {0};
    for (int i = 0; i < draws; i++) counts[sampler_sample(s, logits)]++;
    sampler_free(s);
    double mx = -1e30, sum = 0, chi = 0, pr[16];
    for (int i = 0; i < n; i++) if (logits[i] / temp > mx) mx = logits[i] / temp;
    for (int i = 0; i < n; i++) { pr[i] = exp(logits[i] / temp - mx); sum += pr[i]; }
    for (int i = 0; i < n; i++) {
        double e = pr[i] / sum * draws;
        chi += (counts[i] - e) * (counts[i] - e) / e;
    }
    return chi;
}

TEST(distribution_follows_temperature) {
    float l[8] = {1.0f, 0.5f, 0.0f, -0.5f, 2.0f, 1.5f, -1.0f, 0.25f};
    /* 7 degrees of freedom: the 99.9% quantile is 24.3 */
    CHECK(chi_square(l, 8, 1.0f, 40000, 5) < 24.3);
    CHECK(chi_square(l, 8, 0.5f, 40000, 6) < 24.3);
    CHECK(chi_square(l, 8, 2.0f, 40000, 7) < 24.3);
    /* and the test has power: T=1 draws judged as T=2 must fail the bound */
    struct sampler_params p = sampler_default_params();
    p.temperature = 1.0f; p.top_k = 0; p.top_p = 1; p.min_p = 0; p.seed = 9;
    struct sampler *s = sampler_new(&p, 8);
    int counts[8] = {0};
    for (int i = 0; i < 40000; i++) counts[sampler_sample(s, l)]++;
    sampler_free(s);
    double mx = 1.0, sum = 0, pr[8], chi = 0;
    for (int i = 0; i < 8; i++) { pr[i] = exp(l[i] / 2.0 - mx); sum += pr[i]; }
    for (int i = 0; i < 8; i++) { double e = pr[i] / sum * 40000; chi += (counts[i] - e) * (counts[i] - e) / e; }
    CHECK(chi > 100);
}

TEST(top_p_cutoff_respected) {
    /* probabilities 0.5, 0.25, 0.125, ... : top_p 0.7 keeps exactly the first two */
    int n = 10;
    float l[10];
    for (int i = 0; i < n; i++) l[i] = -(float)i * logf(2.0f);
    struct sampler_params p = sampler_default_params();
    p.temperature = 1; p.top_k = 0; p.top_p = 0.7f; p.min_p = 0; p.seed = 3;
    struct sampler *s = sampler_new(&p, n);
    int c[10] = {0};
    for (int i = 0; i < 30000; i++) c[sampler_sample(s, l)]++;
    sampler_free(s);
    CHECK(c[0] > 0 && c[1] > 0);
    for (int i = 2; i < n; i++) CHECK_EQ_INT(c[i], 0);
    /* renormalised: 2/3 vs 1/3 */
    CHECK_NEAR(c[0] / 30000.0, 2.0 / 3.0, 0.02);
}

TEST(top_p_large_vocab) {
    /* a nearly flat 150k vocab, falling slowly with the id: the nucleus must grow
     * far past the first candidates and still end near the middle */
    int n = 150000;
    float *l = malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) l[i] = -(float)i * 1e-6f;
    struct sampler_params p = sampler_default_params();
    p.temperature = 1; p.top_k = 0; p.top_p = 0.5f; p.min_p = 0; p.seed = 3;
    struct sampler *s = sampler_new(&p, n);
    int hits_low = 0;
    int hits_quarter = 0;
    for (int i = 0; i < 100; i++) {
        int32_t t = sampler_sample(s, l);
        CHECK(t >= 0 && t < n);
        if (t < 76000) hits_low++;
        if (t < 37500) hits_quarter++;
    }
    CHECK_EQ_INT(hits_low, 100);
    CHECK(hits_quarter > 30 && hits_quarter < 70); /* half of the nucleus ~ half of the draws */
    sampler_free(s);
    free(l);
}

TEST(min_p_and_top_k) {
    float l[6] = {5.0f, 4.9f, 4.8f, 0.0f, -1.0f, 4.7f};
    struct sampler_params p = sampler_default_params();
    p.temperature = 1; p.top_k = 2; p.top_p = 1; p.min_p = 0; p.seed = 4;
    struct sampler *s = sampler_new(&p, 6);
    for (int i = 0; i < 2000; i++) { int32_t t = sampler_sample(s, l); CHECK(t == 0 || t == 1); }
    sampler_free(s);
    p.top_k = 0; p.min_p = 0.5f; /* exp(-1)/... : tokens 3,4 have p < 0.5 p_max */
    s = sampler_new(&p, 6);
    int c[6] = {0};
    for (int i = 0; i < 5000; i++) c[sampler_sample(s, l)]++;
    CHECK(c[0] && c[1] && c[2] && c[5]);
    CHECK_EQ_INT(c[3] + c[4], 0);
    sampler_free(s);
}

TEST(penalties_change_choice) {
    float l[4] = {3.0f, 2.9f, 1.0f, -2.0f};
    struct sampler_params p = sampler_default_params();
    p.temperature = 0;
    p.repeat_penalty = 1.1f; p.repeat_last_n = 4;
    struct sampler *s = sampler_new(&p, 4);
    CHECK_EQ_INT(sampler_sample(s, l), 0);
    sampler_accept(s, 0); /* 3.0/1.1 = 2.73 < 2.9 */
    CHECK_EQ_INT(sampler_sample(s, l), 1);
    for (int i = 0; i < 4; i++) sampler_accept(s, 3); /* token 0 falls out of the window */
    CHECK_EQ_INT(sampler_sample(s, l), 0);
    sampler_free(s);

    p.repeat_penalty = 1; p.frequency_penalty = 0.06f; p.presence_penalty = 0; p.repeat_last_n = 64;
    s = sampler_new(&p, 4);
    sampler_accept(s, 0);
    CHECK_EQ_INT(sampler_sample(s, l), 0); /* 3.0 - 0.06 > 2.9 */
    sampler_accept(s, 0);
    CHECK_EQ_INT(sampler_sample(s, l), 1); /* 3.0 - 0.12 < 2.9 */
    sampler_reset(s);
    CHECK_EQ_INT(sampler_sample(s, l), 0);
    sampler_free(s);

    p.frequency_penalty = 0; p.presence_penalty = 0.2f;
    s = sampler_new(&p, 4);
    sampler_accept(s, 0);
    CHECK_EQ_INT(sampler_sample(s, l), 1);
    sampler_free(s);
}

TEST(logit_bias_and_ban) {
    float l[4] = {3.0f, 2.9f, 1.0f, -2.0f};
    struct sampler_logit_bias b[2] = {{0, -INFINITY}, {3, 10.0f}};
    struct sampler_params p = sampler_default_params();
    p.temperature = 0; p.logit_bias = b; p.n_logit_bias = 1;
    struct sampler *s = sampler_new(&p, 4);
    CHECK_EQ_INT(sampler_sample(s, l), 1);
    sampler_free(s);
    p.n_logit_bias = 2; p.temperature = 1; p.seed = 2;
    s = sampler_new(&p, 4);
    for (int i = 0; i < 100; i++) CHECK(sampler_sample(s, l) != 0);
    sampler_free(s);
}

static void only_even(void *user, float *l, int n) {
    (*(int *)user)++;
    for (int i = 1; i < n; i += 2) l[i] = -INFINITY;
}
static void ban_all(void *user, float *l, int n) {
    for (int i = 0; i < n; i++) l[i] = -INFINITY;
}

TEST(constraint_masks) {
    int n = 1000, calls = 0;
    float *l = random_logits(n, 5);
    struct sampler_params p = sampler_default_params();
    p.temperature = 1.0f; p.top_k = 0; p.top_p = 1; p.min_p = 0; p.seed = 8;
    struct sampler *s = sampler_new(&p, n);
    sampler_set_constraint(s, only_even, &calls);
    for (int i = 0; i < 500; i++) CHECK(sampler_sample(s, l) % 2 == 0);
    CHECK_EQ_INT(calls, 500);
    sampler_set_constraint(s, ban_all, NULL);
    CHECK_EQ_INT(sampler_sample(s, l), -1);
    sampler_free(s);
    free(l);
}

TEST(logprobs) {
    float l[5] = {1.0f, 3.0f, 2.0f, -1.0f, 3.0f};
    int32_t ids[3];
    float lps[3];
    CHECK_EQ_INT(sampler_top_logprobs(l, 5, 3, ids, lps), 3);
    double sum = 0;
    for (int i = 0; i < 5; i++) sum += exp(l[i]);
    CHECK(ids[0] == 1 || ids[0] == 4);
    CHECK(ids[1] == 1 || ids[1] == 4);
    CHECK_EQ_INT(ids[2], 2);
    CHECK_NEAR(lps[0], 3.0 - log(sum), 1e-5);
    CHECK_NEAR(lps[2], 2.0 - log(sum), 1e-5);
    CHECK_NEAR(sampler_logprob(l, 5, 3), -1.0 - log(sum), 1e-5);
    int32_t ids10[10];
    float lps10[10];
    CHECK_EQ_INT(sampler_top_logprobs(l, 5, 10, ids10, lps10), 5); /* capped at the vocab */
    CHECK_EQ_INT(ids10[4], 3);
    /* given tokens (a guard's labels): one softmax, any rank, an id outside the vocabulary -inf */
    int32_t want[4] = {3, 0, 7, 4};
    float got[4];
    sampler_logprobs_of(l, 5, want, 4, got);
    CHECK_NEAR(got[0], -1.0 - log(sum), 1e-5);
    CHECK_NEAR(got[1], 1.0 - log(sum), 1e-5);
    CHECK(isinf(got[2]) && got[2] < 0);
    CHECK_NEAR(got[3], 3.0 - log(sum), 1e-5);
}

TEST(bad_params) {
    struct sampler_params p = sampler_default_params();
    CHECK(sampler_new(&p, 0) == NULL);
    CHECK(sampler_new(NULL, 10) == NULL);
    sampler_free(NULL);
}

int main(void) {
    TEST_EXPECT(12);
    RUN(greedy_is_argmax);
    RUN(top_k_1_is_greedy);
    RUN(seed_reproducible);
    RUN(distribution_follows_temperature);
    RUN(top_p_cutoff_respected);
    RUN(top_p_large_vocab);
    RUN(min_p_and_top_k);
    RUN(penalties_change_choice);
    RUN(logit_bias_and_ban);
    RUN(constraint_masks);
    RUN(logprobs);
    RUN(bad_params);
    return test_summary();
}
