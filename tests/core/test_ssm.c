/* The recurrent-layer ops (core/ssm.h) against direct formulas in double: the causal
 * conv stepped token by token equals the convolution over the whole sequence, the
 * delta rule equals its matrix form, and its AVX-512 copy gives the portable bits. */
#include "test.h"
#include "core/cpu.h"
#include "core/ssm.h"
#include "core/ssm_kern.h"

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return ((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

TEST(causal_conv_steps_equal_the_convolution) {
    enum { C = 37, K = 4, T = 9 };
    float x[T][C], w[C * K], state[C * (K - 1)] = {0}, y[C];
    unsigned s = 3;
    for (int t = 0; t < T; t++)
        for (int c = 0; c < C; c++) x[t][c] = frand(&s);
    for (int i = 0; i < C * K; i++) w[i] = frand(&s);
    for (int t = 0; t < T; t++) {
        /* two channel ranges, as two threads would */
        ops_conv1d_causal_step(y, state, x[t], w, K, 0, 20);
        ops_conv1d_causal_step(y, state, x[t], w, K, 20, C);
        for (int c = 0; c < C; c++) {
            double ref = 0;  /* inputs before the sequence are zero */
            for (int k = 0; k < K; k++)
                if (t - (K - 1) + k >= 0) ref += (double)x[t - (K - 1) + k][c] * w[c * K + k];
            CHECK_NEAR(y[c], ref, 1e-5);
        }
    }
    /* in place (y = x) gives the same */
    float state2[C * (K - 1)] = {0}, xx[C];
    for (int t = 0; t < T; t++) {
        for (int c = 0; c < C; c++) xx[c] = x[t][c];
        ops_conv1d_causal_step(xx, state2, xx, w, K, 0, C);
    }
    for (int c = 0; c < C; c++) CHECK(xx[c] == y[c]);
    /* and the portable path gives the same bits */
    enum cpu_level saved = cpu_level();
    cpu_set_level(CPU_SCALAR);
    float state3[C * (K - 1)] = {0};
    for (int t = 0; t < T; t++) {
        for (int c = 0; c < C; c++) xx[c] = x[t][c];
        ops_conv1d_causal_step(xx, state3, xx, w, K, 0, C);
    }
    cpu_set_level(saved);
    for (int c = 0; c < C; c++) CHECK(xx[c] == y[c]);
}

TEST(l2norm_softplus_silu) {
    float x[3] = {3, 0, -4};
    ops_l2norm(x, 3, 1e-6f);
    CHECK_NEAR(x[0], 0.6, 1e-7);
    CHECK_NEAR(x[2], -0.8, 1e-7);
    float z[2] = {0, 0};
    ops_l2norm(z, 2, 1e-6f);  /* eps keeps zero at zero */
    CHECK(z[0] == 0 && z[1] == 0);
    CHECK_NEAR(ops_softplus(0), log(2.0), 1e-7);
    CHECK(ops_softplus(30) == 30);
    float v[17];
    for (int i = 0; i < 17; i++) v[i] = (float)i - 8;
    ops_silu(v, 17);
    for (int i = 0; i < 17; i++) CHECK_NEAR(v[i], (i - 8) / (1 + exp(8.0 - i)), 1e-5);
    /* the vector path gives the portable bits, from underflow to overflow of the exp */
    enum { NS = 16 * 13 + 5 };
    float a[NS], b[NS];
    unsigned s = 5;
    for (int i = 0; i < NS; i++) a[i] = b[i] = frand(&s) * (i % 3 == 0 ? 120.0f : 9.0f);
    a[3] = b[3] = -0.0f, a[7] = b[7] = 88.9f, a[11] = b[11] = -104.5f;
    ops_silu(a, NS);
    enum cpu_level saved = cpu_level();
    cpu_set_level(CPU_SCALAR);
    ops_silu(b, NS);
    cpu_set_level(saved);
    int same = 1;
    for (int i = 0; i < NS; i++) same &= memcmp(&a[i], &b[i], sizeof a[i]) == 0;
    CHECK(same);
}

/* The rule as three passes over the whole state (decay all; k dots and updates; q
 * dots), the form ggml's op spells out: the column-at-a-time kernels must give its bits. */
static void delta_rule_three_passes(float *S, const float *q, const float *k, const float *v, float decay, float beta,
                                    float scale, float *o, int n) {
    for (int i = 0; i < n * n; i++) S[i] *= decay;
    for (int j = 0; j < n; j++) {
        float d = (v[j] - dot_ggml(S + j * n, k, n)) * beta;
        for (int i = 0; i < n; i++) S[j * n + i] = fmaf(k[i], d, S[j * n + i]);
    }
    for (int j = 0; j < n; j++) o[j] = dot_ggml(S + j * n, q, n) * scale;
}

/* M (key x value) per step: M = decay M; M += k ((v - Mᵀk) beta)ᵀ; o = Mᵀq scale */
static void delta_rule_case(int N) {
    enum { NMAX = 128, T = 6 };
    static float S[NMAX * NMAX], S2[NMAX * NMAX], S3[NMAX * NMAX], S4[NMAX * NMAX];
    static double M[NMAX][NMAX];
    float q[T][NMAX], k[T][NMAX], v[T][NMAX], o[NMAX], o2[NMAX], o3[NMAX], o4[NMAX];
    memset(S, 0, sizeof S), memset(S2, 0, sizeof S2), memset(S3, 0, sizeof S3), memset(M, 0, sizeof M);
    memset(S4, 0, sizeof S4);
    unsigned s = 11;
    for (int t = 0; t < T; t++) {
        double nq = 0, nk = 0;
        for (int i = 0; i < N; i++) {
            q[t][i] = frand(&s), k[t][i] = frand(&s), v[t][i] = frand(&s);
            nq += q[t][i] * q[t][i], nk += k[t][i] * k[t][i];
        }
        for (int i = 0; i < N; i++) q[t][i] /= (float)sqrt(nq), k[t][i] /= (float)sqrt(nk);
    }
    enum cpu_level saved = cpu_level();
    for (int t = 0; t < T; t++) {
        float decay = 0.5f + 0.08f * t, beta = 0.9f - 0.1f * t, scale = 0.25f;
        cpu_set_level(saved);
        ops_delta_rule_step(S, q[t], k[t], v[t], decay, beta, scale, o, N);
        cpu_set_level(CPU_SCALAR);
        ops_delta_rule_step(S2, q[t], k[t], v[t], decay, beta, scale, o2, N);
        cpu_set_level(CPU_AVX2);  /* or less where the CPU lacks it */
        ops_delta_rule_step(S3, q[t], k[t], v[t], decay, beta, scale, o3, N);
        delta_rule_three_passes(S4, q[t], k[t], v[t], decay, beta, scale, o4, N);
        for (int j = 0; j < N; j++) CHECK(o[j] == o2[j] && o3[j] == o2[j] && o4[j] == o2[j]);
        double d[N];
        for (int j = 0; j < N; j++) {
            double mk = 0;
            for (int i = 0; i < N; i++) M[i][j] *= decay, mk += M[i][j] * k[t][i];
            d[j] = (v[t][j] - mk) * beta;
        }
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) M[i][j] += k[t][i] * d[j];
        for (int j = 0; j < N; j++) {
            double r = 0;
            for (int i = 0; i < N; i++) r += M[i][j] * q[t][i];
            CHECK_NEAR(o[j], r * scale, 1e-5);
        }
    }
    cpu_set_level(saved);
    for (int i = 0; i < N * N; i++) CHECK(S[i] == S2[i] && S3[i] == S2[i] && S4[i] == S2[i]);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) CHECK_NEAR(S[j * N + i], M[i][j], 1e-5);
    fprintf(stderr, "  delta rule (n = %d) checked at %s, avx2 and scalar\n", N, cpu_level_name(saved));
}

/* 80: one whole 64-element step and 16 leftovers; 64 and 128: the head sizes models
 * use, which the AVX-512 kernel keeps in registers */
TEST(delta_rule_matches_its_matrix_form_on_every_path) {
    delta_rule_case(80);
    delta_rule_case(64);
    delta_rule_case(128);
}

int main(void) {
    TEST_EXPECT(3);
    RUN(causal_conv_steps_equal_the_convolution);
    RUN(l2norm_softplus_silu);
    RUN(delta_rule_matches_its_matrix_form_on_every_path);
    return test_summary();
}
