/* JSON constraint tests on a small vocabulary: the mask allows exactly the
 * tokens that keep the output a valid JSON-object prefix, and constrained random
 * sampling always ends in text that cJSON parses as an object. */
#include <cjson/cJSON.h>
#include <math.h>

#include "test.h"
#include "text/json_grammar.h"
#include "text/sampler.h"

/* Like a real vocabulary, every byte a literal needs is reachable as a token
 * ("u" lets "n" continue to "null"); the mask only looks one token ahead. */
static const char *const P[] = {
    "{", "}", "\"", "a", "\"key\"", ":", " ", "1", "23", ".5", ",", "[", "]", "true", "nul", "l",
    "\\", "n", "x", "}}", "\xC3\xA9", "\xC3", "\xA9", "-", "e", "0", "\"}", "\n\n\n\n\n", "u", NULL /* control */, NULL /* eos */,
};
enum { T_LB, T_RB, T_Q, T_A, T_KEY, T_COLON, T_SP, T_1, T_23, T_DOT5, T_COMMA, T_LS, T_RS, T_TRUE, T_NUL, T_L,
       T_BS, T_N, T_X, T_RBRB, T_E_ACUTE, T_LEAD, T_CONT, T_MINUS, T_EXP, T_0, T_QRB, T_WS5, T_U, T_CTRL, T_EOS, NV };
static size_t L[NV];

static struct json_grammar *make(void) {
    for (int i = 0; i < NV; i++) L[i] = P[i] ? strlen(P[i]) : 0;
    struct err e;
    return json_grammar_new(P, L, NV, T_EOS, &e);
}

static int allowed(struct json_grammar *g, int t) {
    float l[NV];
    for (int i = 0; i < NV; i++) l[i] = 0;
    json_grammar_mask(g, l, NV);
    return l[t] == 0;
}

TEST(start_mask) {
    struct json_grammar *g = make();
    CHECK(g != NULL);
    CHECK(allowed(g, T_LB));
    CHECK(allowed(g, T_SP));
    CHECK(!allowed(g, T_RB));
    CHECK(!allowed(g, T_Q));
    CHECK(!allowed(g, T_LS)); /* json_object: the top level is an object */
    CHECK(!allowed(g, T_1));
    CHECK(!allowed(g, T_EOS));
    CHECK(!allowed(g, T_CTRL));
    CHECK(!allowed(g, T_WS5));
    json_grammar_free(g);
}

static int run(struct json_grammar *g, const int *toks, int n) {
    for (int i = 0; i < n; i++)
        if (json_grammar_accept(g, toks[i])) return i;
    return -1;
}

TEST(accepts_valid_object) {
    struct json_grammar *g = make();
    /* {"key": [1, 23.5e-0, true, null, "é\n"], "a": {}} */
    int toks[] = {T_LB, T_KEY, T_COLON, T_SP, T_LS, T_1, T_COMMA, T_SP, T_23, T_DOT5, T_EXP, T_MINUS, T_0, T_COMMA,
                  T_TRUE, T_COMMA, T_NUL, T_L, T_COMMA, T_Q, T_LEAD, T_CONT, T_BS, T_N, T_Q, T_RS, T_COMMA,
                  T_Q, T_A, T_Q, T_COLON, T_LB, T_RB, T_RB};
    CHECK_EQ_INT(run(g, toks, (int)(sizeof toks / sizeof *toks)), -1);
    CHECK(json_grammar_done(g));
    CHECK(allowed(g, T_EOS));
    CHECK(!allowed(g, T_SP));
    CHECK(!allowed(g, T_LB));
    CHECK_EQ_INT(json_grammar_accept(g, T_EOS), 0);
    json_grammar_free(g);
}

TEST(rejects_invalid_steps) {
    struct json_grammar *g = make();
    CHECK_EQ_INT(json_grammar_accept(g, T_LB), 0);
    CHECK(!allowed(g, T_A));      /* a key must be a string */
    CHECK(!allowed(g, T_COLON));
    CHECK(allowed(g, T_RB));      /* {} is fine */
    CHECK(!allowed(g, T_RBRB));   /* but not {}} */
    CHECK(allowed(g, T_QRB));     /* {"} is a valid prefix: a key that starts with '}' */
    CHECK_EQ_INT(json_grammar_accept(g, T_KEY), 0);
    CHECK(allowed(g, T_COLON));
    CHECK(!allowed(g, T_COMMA));
    CHECK_EQ_INT(json_grammar_accept(g, T_COLON), 0);
    CHECK(!allowed(g, T_RB));     /* a value is missing */
    CHECK(!allowed(g, T_X));
    CHECK(!allowed(g, T_DOT5));   /* .5 is not JSON */
    CHECK(allowed(g, T_MINUS));
    CHECK_EQ_INT(json_grammar_accept(g, T_0), 0);
    CHECK(!allowed(g, T_1));      /* no leading zeros */
    CHECK(allowed(g, T_DOT5));
    CHECK(allowed(g, T_RB));
    CHECK_EQ_INT(json_grammar_accept(g, T_RB), 0);
    CHECK(json_grammar_done(g));
    json_grammar_reset(g);
    CHECK(!json_grammar_done(g));
    CHECK(allowed(g, T_LB));
    /* strings: no raw control bytes, only valid escapes, UTF-8 must be complete */
    CHECK_EQ_INT(json_grammar_feed(g, "{\"", 2), 0);
    CHECK(allowed(g, T_E_ACUTE));
    CHECK(allowed(g, T_LEAD));
    CHECK(!allowed(g, T_CONT));   /* a continuation byte cannot start a character */
    CHECK(!allowed(g, T_WS5));    /* raw newlines are not allowed in a string */
    CHECK_EQ_INT(json_grammar_feed(g, "\\", 1), 0);
    CHECK(allowed(g, T_N));
    CHECK(!allowed(g, T_X));
    CHECK_EQ_INT(json_grammar_feed(g, "u00e9\"", 6), 0);
    CHECK_EQ_INT(json_grammar_feed(g, ": [1 2]", 7), -1);
    CHECK_EQ_INT(json_grammar_feed(g, ": [1, 2]}", 9), 0);
    CHECK(json_grammar_done(g));
    json_grammar_free(g);
}

static int32_t eos_for_test = T_EOS;
static void mask_cb(void *g, float *l, int n) { json_grammar_mask(g, l, n); }

TEST(constrained_sampling_always_valid) {
    struct json_grammar *g = make();
    struct sampler_params p = sampler_default_params();
    p.temperature = 1.0f; p.top_k = 0; p.top_p = 1; p.min_p = 0; p.seed = 1234;
    struct sampler *s = sampler_new(&p, NV);
    sampler_set_constraint(s, mask_cb, g);
    uint32_t r = 99;
    int finished = 0;
    for (int run_i = 0; run_i < 200; run_i++) {
        json_grammar_reset(g);
        char out[4096];
        size_t n = 0;
        for (int step = 0; step < 300; step++) {
            float l[NV];
            for (int i = 0; i < NV; i++) { r = r * 1664525u + 1013904223u; l[i] = (float)(r >> 8) / (1 << 24) * 4.0f; }
            l[T_RB] += 2.0f; l[T_RS] += 2.0f; l[T_Q] += 1.0f; l[T_EOS] += 5.0f; /* help objects close */
            int32_t t = sampler_sample(s, l);
            CHECK(t >= 0);
            if (t < 0) { out[n] = 0; fprintf(stderr, "dead end after: %s\n", out); break; }
            CHECK_EQ_INT(json_grammar_accept(g, t), 0);
            if (t == eos_for_test) break;
            memcpy(out + n, P[t], L[t]);
            n += L[t];
            if (n > 3500) break;
        }
        out[n] = 0;
        if (!json_grammar_done(g)) continue;
        finished++;
        cJSON *j = cJSON_Parse(out);
        CHECK_MSG(j && cJSON_IsObject(j), "not a JSON object: %s", out);
        cJSON_Delete(j);
    }
    CHECK(finished > 100);
    sampler_free(s);
    json_grammar_free(g);
}

int main(void) {
    TEST_EXPECT(4);
    RUN(start_mask);
    RUN(accepts_valid_object);
    RUN(rejects_invalid_steps);
    RUN(constrained_sampling_always_valid);
    return test_summary();
}
