/* The forward-pass vector ops (core/ops.h) against direct formulas, and the AVX2
 * attention kernel against the portable one. */
#include "test.h"
#include "core/cpu.h"
#include "core/fp16.h"
#include "core/ops.h"

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return ((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

TEST(rmsnorm_softmax_swiglu) {
    float x[7] = {1, -2, 3, -4, 5, -6, 7}, w[7] = {1, 1, 1, 1, 1, 1, 2}, y[7];
    ops_rmsnorm(y, x, w, 7, 0);
    double ms = (1 + 4 + 9 + 16 + 25 + 36 + 49) / 7.0;
    CHECK_NEAR(y[0], 1 / sqrt(ms), 1e-6);
    CHECK_NEAR(y[6], 14 / sqrt(ms), 1e-5);
    float s[3] = {1, 2, 3};
    ops_softmax(s, 3);
    double z = exp(1) + exp(2) + exp(3);
    CHECK_NEAR(s[2], exp(3) / z, 1e-6);
    CHECK_NEAR(s[0] + s[1] + s[2], 1, 1e-6);
    float g[2] = {0, 2}, u[2] = {5, 3}, o[2];
    ops_swiglu(o, g, u, 2, 0);
    CHECK_NEAR(o[0], 0, 1e-7);
    CHECK_NEAR(o[1], 2 / (1 + exp(-2)) * 3, 1e-5);
    ops_swiglu(g, g, u, 2, 0);  /* in place */
    CHECK(g[0] == o[0] && g[1] == o[1]);
}

/* SwiGLU takes ggml's exp for whole vectors and libm's for the tail, as llama.cpp
 * does (a different last bit there flipped 8-bit activations of the synth golden
 * files); the AVX2 path must give the portable loop's bits for any argument. */
TEST(swiglu_follows_ggml_exp_on_every_path) {
    enum { N = 4099 };
    static float g[N], u[N], a[N], b[N];
    uint32_t st = 7;
    for (int i = 0; i < N; i++) {
        st = st * 1664525u + 1013904223u;
        float r = (float)(st >> 8) / 16777216.0f * 2 - 1;
        g[i] = i < 64 ? (float)(i - 32) * 7.5f : r * (i % 5 == 0 ? 120.0f : 9.0f); /* exp past 2^127 and below 2^-126 */
        u[i] = 1.0f + r;
    }
    g[1] = 1e30f, g[2] = -1e30f, g[3] = 0.0f, g[4] = -0.0f;
    enum cpu_level saved = cpu_level();
    cpu_set_level(CPU_SCALAR);
    ops_swiglu(a, g, u, N, N - N % 16);
    cpu_set_level(saved);
    ops_swiglu(b, g, u, N, N - N % 16);
    int same = 1;
    for (int i = 0; i < N; i++) same &= memcmp(&a[i], &b[i], 4) == 0;
    CHECK(same);
    for (int i = 0; i < N - N % 16; i++) {
        float want = g[i] / (1.0f + ops_expf_ggml(-g[i])) * u[i];
        if (memcmp(&want, &b[i], 4)) { CHECK_MSG(0, "swiglu[%d] of %g: %a, want %a", i, g[i], b[i], want); break; }
    }
    for (int i = N - N % 16; i < N; i++) CHECK(b[i] == g[i] / (1.0f + expf(-g[i])) * u[i]);
    /* ggml's exp itself: within a few ulp of libm's, 0 / inf far out */
    for (float x = -80; x < 80; x += 0.37f) CHECK_NEAR(ops_expf_ggml(x) / expf(x), 1.0, 3e-7);
    CHECK(ops_expf_ggml(-200.0f) == 0.0f && isinf(ops_expf_ggml(200.0f)));
}

TEST(rope_rotates_the_right_pairs) {
    /* one head of 8 dims, rotating 4 of them: pair i turns by pos * 10000^(-2i/4) */
    float cs[4], a[8], b[8];
    for (int i = 0; i < 8; i++) a[i] = b[i] = (float)(i + 1);
    ops_rope_cache(cs, 4, 3, 10000.0f, 1.0f, NULL);
    double t0 = 3.0, t1 = 3.0 * pow(10000.0, -0.5);
    CHECK_NEAR(cs[0], cos(t0), 1e-6);
    CHECK_NEAR(cs[3], sin(t1), 1e-6);
    ops_rope(a, 1, 8, 4, cs, 0);  /* pairs (0,1), (2,3) */
    CHECK_NEAR(a[0], 1 * cos(t0) - 2 * sin(t0), 1e-5);
    CHECK_NEAR(a[3], 3 * sin(t1) + 4 * cos(t1), 1e-5);
    CHECK(a[4] == 5 && a[7] == 8);  /* beyond n_rot: untouched */
    ops_rope(b, 1, 8, 4, cs, 1);  /* neox pairs (0,2), (1,3) */
    CHECK_NEAR(b[0], 1 * cos(t0) - 3 * sin(t0), 1e-5);
    CHECK_NEAR(b[3], 2 * sin(t1) + 4 * cos(t1), 1e-5);
    /* per-pair factors divide the angle (llama-3 rope_freqs) */
    float ff[2] = {2, 1}, cs2[4];
    ops_rope_cache(cs2, 4, 3, 10000.0f, 1.0f, ff);
    CHECK_NEAR(cs2[0], cos(1.5), 1e-6);
}

/* Attention over an f16 cache equals a plain double-precision formula (both summation
 * orders), and the SIMD kernel gives the portable one's exact bits. */
static void attention_case_ext(int HD, int N, int gemm, int n0, float cap) {
    enum { STRIDE = 136 };
    unsigned seed = 1 + N;
    uint16_t *k = malloc(sizeof(uint16_t) * N * STRIDE), *v = malloc(sizeof(uint16_t) * N * STRIDE);
    float q[128], out[128], out2[128];
    float *att = malloc(sizeof(float) * ops_attention_scratch(N, HD));
    for (int i = 0; i < N * STRIDE; i++) { k[i] = fp32_to_fp16(frand(&seed)); v[i] = fp32_to_fp16(frand(&seed)); }
    for (int i = 0; i < HD; i++) q[i] = 2 * frand(&seed);
    float scale = 1.0f / sqrtf((float)HD);
    enum cpu_level lv = cpu_level();
    cpu_set_level(CPU_SCALAR);
    ops_attention_f16_ext(out, q, k, v, n0, N, HD, STRIDE, scale, cap, gemm, att);
    double *sc = malloc(sizeof(double) * N), mx = -1e30, z = 0;
    for (int t = 0; t < N; t++) {
        sc[t] = 0;
        for (int i = 0; i < HD; i++) sc[t] += (double)q[i] * fp16_to_fp32(k[t * STRIDE + i]);
        if (cap > 0) sc[t] = cap * tanh(sc[t] / cap);
        sc[t] *= scale;
        if (t >= n0) mx = fmax(mx, sc[t]);
    }
    for (int t = 0; t < N; t++) z += (sc[t] = t < n0 ? 0 : exp(sc[t] - mx));
    for (int i = 0; i < HD; i += 3) {
        double o = 0;
        for (int t = 0; t < N; t++) o += sc[t] / z * fp16_to_fp32(v[t * STRIDE + i]);
        CHECK_NEAR(out[i], o, 2e-3);  /* q and p are rounded to f16 on purpose */
    }
    cpu_set_level(lv);
    if (lv >= CPU_AVX2 && cpu_features()->f16c) {
        ops_attention_f16_ext(out2, q, k, v, n0, N, HD, STRIDE, scale, cap, gemm, att);
        int same = 1;
        for (int i = 0; i < HD; i++) same &= memcmp(&out[i], &out2[i], sizeof(float)) == 0;
        CHECK_MSG(same, "hd %d n %d gemm %d n0 %d cap %g: SIMD differs from portable", HD, N, gemm, n0, cap);
        if (lv >= CPU_AVX512) {  /* and the AVX2 kernel below it */
            cpu_set_level(CPU_AVX2);
            ops_attention_f16_ext(out2, q, k, v, n0, N, HD, STRIDE, scale, cap, gemm, att);
            cpu_set_level(lv);
            same = 1;
            for (int i = 0; i < HD; i++) same &= memcmp(&out[i], &out2[i], sizeof(float)) == 0;
            CHECK_MSG(same, "hd %d n %d gemm %d n0 %d cap %g: AVX2 differs from portable", HD, N, gemm, n0, cap);
        }
    }
    if (n0 == 0 && cap == 0) {  /* the plain entry point is the same computation */
        ops_attention_f16(out2, q, k, v, N, HD, STRIDE, scale, gemm, att);
        CHECK(memcmp(out, out2, sizeof(float) * HD) == 0);
    }
    free(k); free(v); free(att); free(sc);
}

static void attention_case(int HD, int N, int gemm) { attention_case_ext(HD, N, gemm, 0, 0); }

/* A sliding window (positions before n0 masked) and soft-capped scores (gemma2): the
 * same plain formula over the window, and SIMD equal to portable. */
TEST(attention_window_and_softcap) {
    int ns[] = {5, 37, 100, 300};
    for (int g = 0; g < 2; g++)
        for (int i = 0; i < 4; i++) {
            attention_case_ext(64, ns[i], g, ns[i] / 3, 0);
            attention_case_ext(64, ns[i], g, ns[i] - 1, 0);
            attention_case_ext(128, ns[i], g, 0, 1.5f);
            attention_case_ext(48, ns[i], g, ns[i] / 2, 0.7f);
        }
}

/* An attention sink (gpt-oss) joins the max and the sum: every SIMD level gives the
 * portable bits, with and without a window. */
TEST(attention_sink_simd_equals_portable) {
    enum { HD = 64, N = 150, STRIDE = 64 };
    unsigned seed = 9;
    static uint16_t k[N * STRIDE], v[N * STRIDE];
    float q[HD], ref[HD], out[HD];
    float *att = malloc(sizeof(float) * ops_attention_scratch(N, HD));
    for (int i = 0; i < N * STRIDE; i++) k[i] = fp32_to_fp16(frand(&seed)), v[i] = fp32_to_fp16(frand(&seed));
    for (int i = 0; i < HD; i++) q[i] = 2 * frand(&seed);
    enum cpu_level lv = cpu_level(), levels[2] = {CPU_AVX2, CPU_AVX512};
    const float sinks[3] = {-1.5f, 0.25f, 30.0f};
    for (int c = 0; c < 6; c++) {
        int n0 = c % 2 ? 40 : 0, gemm = c / 3;
        cpu_set_level(CPU_SCALAR);
        ops_attention_f16_sink(ref, q, k, v, n0, N, HD, STRIDE, 0.125f, 0, sinks[c % 3], gemm, att);
        for (int l = 0; l < 2; l++) {
            if (lv < levels[l]) continue;
            cpu_set_level(levels[l]);
            ops_attention_f16_sink(out, q, k, v, n0, N, HD, STRIDE, 0.125f, 0, sinks[c % 3], gemm, att);
            CHECK_MSG(memcmp(ref, out, sizeof ref) == 0, "sink %g n0 %d gemm %d at %s differs", sinks[c % 3], n0, gemm,
                      cpu_level_name(levels[l]));
        }
    }
    cpu_set_level(lv);
    free(att);
}

/* GEGLU through ggml's f16 GELU table, soft-capping, and rope's magnitude factor. */
TEST(geglu_softcap_rope_mscale) {
    float g[6] = {-12.0f, -10.0f, -1.3f, 0.0f, 0.77f, 11.0f}, u[6] = {2, 2, 2, 2, 2, 2}, o[6];
    ops_geglu(o, g, u, 6);
    CHECK(o[0] == 0.0f && o[1] == 0.0f && o[3] == 0.0f);
    CHECK(o[5] == 22.0f);  /* >= 10: gate * up */
    for (int i = 2; i <= 4; i += 2) {
        double x = g[i], gelu = 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
        CHECK_NEAR(o[i], 2 * gelu, 2 * 2e-3);  /* the input and the GELU are f16-rounded */
        float r = fp16_to_fp32(fp32_to_fp16((float)gelu));
        CHECK_NEAR(o[i], 2 * r, 2 * 1e-3);
    }
    float x[3] = {0.5f, -40.0f, 3.0f};
    ops_softcap(x, 3.0f, 3);
    CHECK_NEAR(x[0], 3 * tanh(0.5 / 3), 1e-6);
    CHECK_NEAR(x[1], -3.0, 1e-5);
    CHECK_NEAR(x[2], 3 * tanh(1.0), 1e-6);
    float a[8], b[8];
    ops_rope_cache(a, 8, 7, 10000.0f, 0.5f, NULL);
    ops_rope_cache_ms(b, 8, 7, 10000.0f, 0.5f, NULL, 1.0f);
    CHECK(memcmp(a, b, sizeof a) == 0);
    ops_rope_cache_ms(b, 8, 7, 10000.0f, 0.5f, NULL, 1.19f);
    for (int i = 0; i < 8; i++) CHECK(b[i] == a[i] * 1.19f);
}

TEST(attention_matches_reference_and_simd) {
    /* lengths around the 16-lane chunks and the 64-position blocks of the dot order */
    int ns[] = {1, 5, 16, 37, 64, 65, 100, 130, 300};
    for (int g = 0; g < 2; g++)
        for (int i = 0; i < (int)(sizeof ns / sizeof *ns); i++) {
            attention_case(64, ns[i], g);
            attention_case(48, ns[i], g);
            attention_case(128, ns[i], g);
        }
}

/* The cache conversion (F16C when the CPU has it) rounds exactly like fp32_to_fp16:
 * ties to even, subnormals, overflow to inf, signed zeros. */
TEST(f32_to_f16_rounds_like_reference) {
    enum { N = 4099 };
    static float x[N];
    static uint16_t h[N];
    unsigned seed = 5;
    for (int i = 0; i < N; i++) {
        uint32_t b;
        seed = seed * 1103515245u + 12345u;
        b = seed;
        seed = seed * 1103515245u + 12345u;
        b ^= seed >> 16;
        /* exponents spread over the half range and beyond; 1 in 8 an exact tie */
        b = (b & 0x80000000u) | ((uint32_t)(96 + (b >> 8) % 48) << 23) | (b & 0x7fffffu);
        if (i % 8 == 0) b = (b & ~0x1fffu) | 0x1000u;
        memcpy(&x[i], &b, 4);
    }
    x[0] = 0.0f, x[1] = -0.0f, x[2] = 65504.0f, x[3] = 65520.0f, x[4] = -1e9f, x[5] = 5.96e-8f, x[6] = 2.98e-8f;
    x[7] = INFINITY;
    ops_f32_to_f16(h, x, N);
    int bad = 0;
    for (int i = 0; i < N; i++) bad += h[i] != fp32_to_fp16(x[i]);
    CHECK_MSG(bad == 0, "%d of %d differ", bad, N);
}

/* ggml's expf: within 2 ulp of expf over the softmax range, 0 far below, exact at 0;
 * the softmax over it sums to 1. */
TEST(ggml_expf_and_softmax) {
    CHECK(ops_expf_ggml(0) == 1.0f);
    CHECK(ops_expf_ggml(-200) == 0.0f);
    CHECK(ops_expf_ggml(-INFINITY) == 0.0f);
    float worst = 0;
    for (float x = -87; x <= 0; x += 0.0137f) {
        float a = ops_expf_ggml(x), b = expf(x);
        worst = fmaxf(worst, fabsf(a - b) / b);
    }
    CHECK_MSG(worst < 3e-7f, "relative error %g", worst);
    float s[40];
    for (int i = 0; i < 40; i++) s[i] = 0.37f * (float)i - 5;
    ops_softmax_ggml(s, 40);
    double z = 0;
    for (int i = 0; i < 40; i++) z += s[i];
    CHECK_NEAR(z, 1, 1e-6);
    CHECK_NEAR(s[39] / s[38], exp(0.37), 1e-5);
}

int main(void) {
    TEST_EXPECT(9);
    RUN(rmsnorm_softmax_swiglu);
    RUN(swiglu_follows_ggml_exp_on_every_path);
    RUN(rope_rotates_the_right_pairs);
    RUN(attention_matches_reference_and_simd);
    RUN(attention_window_and_softcap);
    RUN(attention_sink_simd_equals_portable);
    RUN(geglu_softcap_rope_mscale);
    RUN(f32_to_f16_rounds_like_reference);
    RUN(ggml_expf_and_softmax);
    return test_summary();
}
